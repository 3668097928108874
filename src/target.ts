/**
 * From a request target to path segments below the root: the one function that decides what a
 * target names (`resolveTargetPath`), and the canonical URL of a path (a folder's, or a target's
 * once its dot segments are removed).
 */
import { isUtf8 } from "node:buffer";
import { encodePathSegment } from "./escape.js";

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
  | {
      /** The target holds `.` or `..` segments that stay inside the root: 301 to `location` (GET, HEAD). */
      kind: "redirect";
      /** The normalised target, path-absolute and percent-encoded, query kept: never `//…` or `/\…`. */
      location: string;
      reason: string;
    }
  | { kind: "refuse"; status: 400 | 404; reason: string };

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
export const DOT = 0x2e;
const WELL_KNOWN = Buffer.from(".well-known");

/**
 * Uploads stream into a hidden file with this prefix beside their final name (see `upload.ts`).
 * Such a file is never read, listed or written as a name, even with --dotfiles: it may be partial.
 */
export const UPLOAD_TEMP_PREFIX = Buffer.from(".serve-here-upload-");

export function isUploadTemp(name: Buffer): boolean {
  return name.length >= UPLOAD_TEMP_PREFIX.length && name.compare(UPLOAD_TEMP_PREFIX, 0, UPLOAD_TEMP_PREFIX.length, 0, UPLOAD_TEMP_PREFIX.length) === 0;
}

/**
 * Turns a raw request target into segments below the root, following `send`'s prologue: decode
 * once, reject NUL, remove dot segments (RFC 3986 §5.2.4) relative to the root, refuse a `..`
 * that would climb above it, then apply the dotfile policy to what remains.
 *
 * A target with dot segments that stays inside the root is not served under that name but
 * redirected to its normal form, so each file has one URL (for caches, logs and relative links),
 * as Go's ServeMux does. Percent-encoded dots count as dots (`%2e%2e`, `.%2E`): RFC 3986 §2.3 and
 * §6.2.2.2 make an encoded unreserved character the character itself, nginx and the WHATWG URL
 * parser treat them so, and a server that did not would let `%2e%2e` mean one thing here and
 * another to every proxy in front. An encoded slash (`%2f`) separates segments, as it always has
 * here and in nginx: the file system knows no other meaning for it. Empty segments (`//`) are
 * merged silently, as nginx's `merge_slashes` does.
 */
export function resolveTargetPath(rawTarget: string, dotfiles: boolean): TargetPath {
  const split = splitTarget(rawTarget);
  if (split === null) return { kind: "refuse", status: 400, reason: "target is not a path" };
  const { rawPath, query } = split;

  const bytes = percentDecode(rawPath);
  if (bytes === null) return { kind: "refuse", status: 400, reason: "malformed percent-encoding" };
  if (bytes.includes(0)) return { kind: "refuse", status: 400, reason: "NUL byte in path" };

  const segments: Buffer[] = [];
  let dotSegments = false;
  for (const segment of splitBytes(bytes, SLASH)) {
    if (segment.length === 0) continue;
    if (isDot(segment)) {
      dotSegments = true;
      continue;
    }
    if (isDotDot(segment)) {
      // Above the root there is nothing we may name: refused, never clamped to the root as §5.2.4 would.
      if (segments.pop() === undefined) return { kind: "refuse", status: 400, reason: "dot-dot segment climbs above the root" };
      dotSegments = true;
      continue;
    }
    // A `..` beside a backslash is refused, never resolved: on Linux `sub\..\x` is one name, to
    // Windows (and some proxies) three segments, and a redirect cannot say which one was meant.
    if (splitBytes(segment, BACKSLASH).some(isDotDot)) return { kind: "refuse", status: 400, reason: "dot-dot segment beside a backslash" };
    if (process.platform === "win32" && segment.includes(BACKSLASH)) return { kind: "refuse", status: 400, reason: "backslash in path" };
    segments.push(segment);
  }
  // The dotfile rule judges what the target names once normalised: `/.git/../a` names `/a`, while
  // `/sub/../.git/config` is refused here rather than redirected to a 404.
  for (const [i, segment] of segments.entries()) {
    if (segment[0] === DOT && !dotfiles && !(i === 0 && segment.equals(WELL_KNOWN))) {
      return { kind: "refuse", status: 404, reason: "dotfile hidden; --dotfiles serves it" };
    }
    if (isUploadTemp(segment)) return { kind: "refuse", status: 404, reason: "an upload in progress is never served" };
  }
  // `/dir/`, `/dir/.` and `/dir/a/..` all name the folder (RFC 3986 §5.2.4 leaves the last `/`).
  const last = bytes.subarray(bytes.lastIndexOf(SLASH) + 1);
  const slash = last.length === 0 || isDot(last) || isDotDot(last);
  if (dotSegments) return { kind: "redirect", location: pathLocation(segments, slash, query), reason: "dot segments removed" };
  return { kind: "path", segments, slash, query, utf8: isUtf8(bytes) };
}

/** The raw path and query of a target in origin-form or absolute-form; null for anything else. */
function splitTarget(rawTarget: string): { rawPath: string; query: string } | null {
  // Absolute-form (`GET http://host/x HTTP/1.1`, RFC 9112 §3.2.2): keep only the path and query.
  let target = rawTarget;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (scheme) {
    target = target.slice(scheme[0].length);
    if (!target.startsWith("/")) target = "/" + target; // an empty path is "/" (RFC 3986 §6.2.3)
  }
  if (!target.startsWith("/")) return null;
  const queryAt = target.search(/[?#]/);
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 || target[queryAt] === "#" ? "" : target.slice(queryAt).split("#")[0]!;
  return { rawPath, query };
}

/** Where a write goes: the folder's segments and, for `PUT`, the file's name; or why not. */
export type WriteTarget =
  | { kind: "write"; folder: readonly Buffer[]; name: Buffer | null }
  | { kind: "refuse"; status: 400; reason: string };

/** The most bytes a name may have: what ext4, XFS, APFS and NTFS (in UTF-16 units) allow. */
export const MAX_NAME_BYTES = 255;

/**
 * Turns a `PUT` or `POST` target into a folder and a name, refusing instead of normalising: a
 * write lands exactly where its target says, or nowhere. Every segment, raw or percent-decoded,
 * must be a name `nameProblem` accepts (so no `.`, `..`, empty segment, `/` from `%2F`, `\`, NUL
 * or control character). A trailing `/` names a folder (`name` null), as `POST /dir/` does.
 */
export function resolveWriteTarget(rawTarget: string, dotfiles: boolean): WriteTarget {
  const split = splitTarget(rawTarget);
  if (split === null) return { kind: "refuse", status: 400, reason: "target is not a path" };
  const rawSegments = split.rawPath.slice(1).split("/");
  const slash = rawSegments.at(-1) === "";
  if (slash) rawSegments.pop();
  const segments: Buffer[] = [];
  for (const raw of rawSegments) {
    const segment = percentDecode(raw);
    if (segment === null) return { kind: "refuse", status: 400, reason: "malformed percent-encoding" };
    const problem = nameProblem(segment, dotfiles);
    if (problem !== null) return { kind: "refuse", status: 400, reason: `${problem} in upload path` };
    segments.push(segment);
  }
  if (segments[0]?.toString("latin1") === RESERVED_PREFIX) return { kind: "refuse", status: 400, reason: "/__serve-here/ is serve-here's own" };
  if (slash) return { kind: "write", folder: segments, name: null };
  const name = segments.pop();
  if (name === undefined) return { kind: "write", folder: [], name: null }; // `/` itself
  return { kind: "write", folder: segments, name };
}

/** Live reload's and the upload script's routes live here; nothing may be written under it. */
export const RESERVED_PREFIX = "__serve-here";

/**
 * The name a target asks for directly under `/__serve-here/` (`live.js`, `events`, `upload.js`),
 * whatever its spelling, or null for any other target. The one place serve-here's own routes are
 * recognised; which names answer is up to the feature that owns them.
 */
export function reservedName(target: TargetPath): string | null {
  if (target.kind !== "path" || target.slash || target.segments.length !== 2 || target.segments[0]!.toString("latin1") !== RESERVED_PREFIX) return null;
  return target.segments[1]!.toString("latin1");
}

/**
 * Why `name` may not be written as one file or folder name, or null when it may: empty, `.`,
 * `..`, over 255 bytes, not UTF-8, holding `/`, `\`, NUL or a control character (C0, DEL, C1),
 * a dotfile without --dotfiles, or an upload's temporary name. On every system we run on, each of
 * these is a name that is refused, means something else, or fools a person reading a listing.
 */
export function nameProblem(name: Buffer, dotfiles: boolean): string | null {
  if (name.length === 0) return "empty name";
  if (name.length > MAX_NAME_BYTES) return `name over ${MAX_NAME_BYTES} bytes`;
  if (name[0] === DOT && (name.length === 1 || isDotDot(name))) return "dot segment";
  if (!isUtf8(name)) return "name is not UTF-8";
  if (name.includes(SLASH) || name.includes(BACKSLASH)) return "slash or backslash in name";
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name.toString("utf8"))) return "control character in name";
  if (isUploadTemp(name)) return "name reserved for uploads in progress";
  if (name[0] === DOT && !dotfiles) return "dotfile; --dotfiles allows it";
  return null;
}

/** A file name from a multipart part, which may carry a path (`../../x`, `C:\\x\\y`): its last segment. */
export function lastSegment(name: string): string {
  return name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
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

function isDot(segment: Buffer): boolean {
  return segment.length === 1 && segment[0] === DOT;
}

function isDotDot(segment: Buffer): boolean {
  return segment.length === 2 && segment[0] === DOT && segment[1] === DOT;
}

/** The canonical, path-absolute form of a folder's URL: never `//…` or `/\…` (CVE-2021-28861). */
export function folderLocation(segments: readonly Buffer[], query: string): string {
  return pathLocation(segments, true, query);
}

/**
 * The canonical, path-absolute URL of `segments`, with a trailing `/` when `slash`, and the query
 * as it came. Every segment is non-empty and percent-encoded (`/` and `\` included), so the result
 * never begins with `//` or `/\`, which a browser would read as another host (CVE-2021-28861).
 */
function pathLocation(segments: readonly Buffer[], slash: boolean, query: string): string {
  // The query is kept byte for byte: Node hands the target over as latin1, one char per byte.
  const safeQuery = query.replace(/[^\x21-\x7e]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
  const path = segments.map(encodePathSegment).join("/");
  return "/" + path + (slash && path !== "" ? "/" : "") + safeQuery;
}
