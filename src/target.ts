/**
 * From a request target to path segments below the root: the one function that decides what a
 * target names (`resolveTargetPath`), and the canonical URL of a folder.
 */
import { isUtf8 } from "node:buffer";
import { encodePathSegment } from "./listing.js";

/** A request target reduced to what the file system needs, or the status that refuses it. */
export type TargetPath =
  | {
      kind: "path";
      /** Decoded, normalised segments below the root: no empty, `.` or `..` segment. */
      segments: readonly Buffer[];
      /** The target ended in `/` (a folder was asked for). */
      slash: boolean;
      /** Raw query string, including its `?`, or "". */
      query: string;
      /** False when the decoded path is not UTF-8: it can only name a file with exactly those bytes. */
      utf8: boolean;
    }
  | { kind: "refuse"; status: 400 | 404; reason: string };

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
export const DOT = 0x2e;
const WELL_KNOWN = Buffer.from(".well-known");

/**
 * Turns a raw request target into segments below the root, following `send`'s prologue: decode
 * once, reject NUL, reject every `..`, then apply the dotfile policy to what remains.
 */
export function resolveTargetPath(rawTarget: string, dotfiles: boolean): TargetPath {
  // Absolute-form (`GET http://host/x HTTP/1.1`, RFC 9112 §3.2.2): keep only the path and query.
  let target = rawTarget;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (scheme) {
    target = target.slice(scheme[0].length);
    if (!target.startsWith("/")) target = "/" + target; // an empty path is "/" (RFC 3986 §6.2.3)
  }
  if (!target.startsWith("/")) return { kind: "refuse", status: 400, reason: "target is not a path" };

  const queryAt = target.search(/[?#]/);
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 || target[queryAt] === "#" ? "" : target.slice(queryAt).split("#")[0]!;

  const bytes = percentDecode(rawPath);
  if (bytes === null) return { kind: "refuse", status: 400, reason: "malformed percent-encoding" };
  if (bytes.includes(0)) return { kind: "refuse", status: 400, reason: "NUL byte in path" };

  const segments: Buffer[] = [];
  for (const segment of splitBytes(bytes, SLASH)) {
    if (segment.length === 0 || (segment.length === 1 && segment[0] === DOT)) continue;
    // `..` is refused in every spelling: plain, decoded from `%2e%2e`, or beside a backslash,
    // which Windows (and some proxies) treat as a separator.
    if (splitBytes(segment, BACKSLASH).some(isDotDot)) return { kind: "refuse", status: 400, reason: "dot-dot segment" };
    if (process.platform === "win32" && segment.includes(BACKSLASH)) return { kind: "refuse", status: 400, reason: "backslash in path" };
    if (segment[0] === DOT && !dotfiles && !(segments.length === 0 && segment.equals(WELL_KNOWN))) {
      return { kind: "refuse", status: 404, reason: "dotfile hidden; --dotfiles serves it" };
    }
    segments.push(segment);
  }
  // `/dir/`, `/dir/.` and `/dir/%2e` all name the folder itself (RFC 3986 §5.2.4).
  const last = bytes.subarray(bytes.lastIndexOf(SLASH) + 1);
  const slash = last.length === 0 || (last.length === 1 && last[0] === DOT);
  return { kind: "path", segments, slash, query, utf8: isUtf8(bytes) };
}

/** Percent-decodes a raw path into bytes; null when an escape is malformed. */
function percentDecode(raw: string): Buffer | null {
  if (!raw.includes("%")) return Buffer.from(raw, "latin1");
  const out = Buffer.allocUnsafe(raw.length);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25) {
      const high = hexValue(raw.charCodeAt(i + 1));
      const low = hexValue(raw.charCodeAt(i + 2));
      if (high < 0 || low < 0) return null;
      out[length++] = high * 16 + low;
      i += 2;
    } else {
      // Node hands us the target as latin1: each char is one byte as it came off the wire.
      out[length++] = code & 0xff;
    }
  }
  return out.subarray(0, length);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

function splitBytes(bytes: Buffer, separator: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let at = bytes.indexOf(separator); at !== -1; at = bytes.indexOf(separator, start)) {
    parts.push(bytes.subarray(start, at));
    start = at + 1;
  }
  parts.push(bytes.subarray(start));
  return parts;
}

function isDotDot(segment: Buffer): boolean {
  return segment.length === 2 && segment[0] === DOT && segment[1] === DOT;
}

/** The canonical, path-absolute form of a folder's URL: never `//…` or `/\…` (CVE-2021-28861). */
export function folderLocation(segments: readonly Buffer[], query: string): string {
  const safeQuery = query.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return "/" + segments.map((s) => encodePathSegment(s) + "/").join("") + safeQuery;
}
