/**
 * Escaping for what serve-here writes into its pages and URLs, whoever writes it: text in HTML
 * (listings, error pages, the Host refusal) and a name's bytes in a URL path (links, `Location`,
 * live reload's change events, upload answers). Imports no module of ours.
 */
import { isUtf8 } from "node:buffer";
import { createRequire } from "node:module";

// `he` is required on first use, not imported: its entity tables take longer to load than the
// rest of start-up's own work, and a server whose first request is a file never needs them.
let he: typeof import("he") | undefined;
/** Text for HTML: every character with a meaning there escaped, so it can stand in an element or a quoted attribute. */
export function escapeHtml(text: string): string {
  he ??= createRequire(import.meta.url)("he") as typeof import("he");
  return he.escape(text);
}

/** Percent-encodes bytes for a URL path segment: everything but RFC 3986's unreserved set. */
export function encodePathSegment(segment: Buffer): string {
  // encodeURIComponent leaves only unreserved characters and !'()* alone; it needs valid UTF-8.
  if (isUtf8(segment)) return encodeURIComponent(segment.toString("utf8")).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  let out = "";
  for (const byte of segment) {
    const unreserved =
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
