/**
 * The HTML folder listing: pure presentation, no file-system access. Every name is escaped with
 * `he` and every link is percent-encoded from the name's bytes, so any name (spaces, `%`, `#`,
 * `?`, `&<>"'`, unicode, bytes that are not UTF-8) both displays and round-trips.
 * The page needs no script and no external resource; it fits a phone and follows dark mode.
 */
import { escape } from "he";

export interface ListingEntry {
  /** The name as the file system gave it: bytes, not necessarily UTF-8. */
  name: Buffer;
  isFolder: boolean;
  symlink: boolean;
  /** Size in bytes for files; null for folders and entries that could not be stat'ed. */
  size: number | null;
  /** Null when the entry could not be stat'ed (a dangling link, no permission). */
  modified: Date | null;
}

/** Percent-encodes bytes for a URL path segment: everything but RFC 3986's unreserved set. */
export function encodePathSegment(segment: Buffer): string {
  let out = "";
  for (const byte of segment) {
    const unreserved =
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Case-insensitive natural order: `file2` before `file10`, `a` beside `A`. */
const naturalOrder = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Folders first, then files; natural order within each; ties broken by bytes for a stable page. */
export function sortEntries(entries: ListingEntry[]): ListingEntry[] {
  return [...entries].sort(
    (a, b) =>
      Number(b.isFolder) - Number(a.isFolder) ||
      naturalOrder.compare(a.name.toString("utf8"), b.name.toString("utf8")) ||
      Buffer.compare(a.name, b.name),
  );
}

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/** 512 B, 1.5 KiB, 12 MiB: one decimal below ten units, none above. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

function formatDate(date: Date): string {
  return date.toISOString().slice(0, 16).replace("T", " ");
}

function renderRow(entry: ListingEntry): string {
  const display = entry.name.toString("utf8") + (entry.isFolder ? "/" : "");
  const href = encodePathSegment(entry.name) + (entry.isFolder ? "/" : "");
  const classes = [entry.isFolder ? "folder" : "file", entry.symlink ? "symlink" : ""].filter(Boolean).join(" ");
  const link = `<a href="./${escape(href)}">${escape(display)}</a>${entry.symlink ? ' <span class="mark" title="symbolic link">↪</span>' : ""}`;
  const size = entry.size === null ? "" : `<data value="${entry.size}">${humanSize(entry.size)}</data>`;
  const modified = entry.modified === null ? "" : `<time datetime="${entry.modified.toISOString()}">${formatDate(entry.modified)}</time>`;
  return `<tr class="${classes}"><td class="name">${link}</td><td class="size">${size}</td><td class="modified">${modified}</td></tr>`;
}

const STYLE = `
:root { color-scheme: light dark; --muted: #666; --line: #ddd; --link: #0645ad; --hover: #f3f3f3; }
@media (prefers-color-scheme: dark) { :root { --muted: #aaa; --line: #333; --link: #8ab4f8; --hover: #222; } }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem; max-width: 60rem; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 1rem; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { padding: .45rem .5rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 500; }
td.name { overflow-wrap: anywhere; }
th.size, td.size { width: 6.5rem; text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.modified, td.modified { width: 10.5rem; white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
tr:hover td { background: var(--hover); }
a { color: var(--link); text-decoration: none; display: inline-block; min-height: 1.5rem; }
a:hover { text-decoration: underline; }
tr.folder a { font-weight: 600; }
.mark { color: var(--muted); }
@media (max-width: 36rem) { th.modified, td.modified { display: none; } th.size, td.size { width: 5.5rem; } body { padding: .75rem; } }
`;

/** Renders the listing page for `displayPath` (decoded, e.g. `/photos/2024/`). */
export function renderListing(displayPath: string, entries: ListingEntry[], isRoot: boolean): string {
  const title = `Directory listing for ${escape(displayPath)}`;
  const parent = isRoot ? "" : `<tr class="folder parent"><td class="name"><a href="../">../</a></td><td class="size"></td><td class="modified"></td></tr>\n`;
  const rows = sortEntries(entries).map(renderRow).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${title}</h1>
<table>
<thead><tr><th class="name">Name</th><th class="size">Size</th><th class="modified">Modified (UTC)</th></tr></thead>
<tbody>
${parent}${rows}
</tbody>
</table>
</body>
</html>
`;
}
