/**
 * serve-here's request handling, top to bottom:
 *
 *   options → request target → path inside the root → file or folder →
 *   validators and preconditions → ranges → reply → the wire.
 *
 * `createHandler(options)` gives a `(req, res, next?)` function for `node:http` or Connect/Express;
 * `startServer(options)` binds it to a port. The command line lives in `cli.ts`.
 *
 * Paths are handled as Buffers from the request to the file system so that a file whose name is
 * not valid UTF-8 (Linux allows it) can be listed and fetched like any other.
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants, type Stats } from "node:fs";
import { open, readdir, realpath, stat, type FileHandle } from "node:fs/promises";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isUtf8 } from "node:buffer";
import mime from "mime-types";
import { encodePathSegment, renderListing, type ListingEntry } from "./listing.js";

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** What `createHandler` needs to know. Every field has a safe default. */
export interface HandlerOptions {
  /** Folder to serve. Default: the current working folder. */
  root?: string;
  /** Serve and list names starting with `.`. Default: false (`/.well-known/` is always served). */
  dotfiles?: boolean;
  /** Serve symlinks whose target lies outside the root. Default: false (such links answer 404). */
  followSymlinks?: boolean;
  /** Render an HTML listing for folders without `index.html`. Default: true. */
  listing?: boolean;
  /** Add `Access-Control-Allow-Origin: *` and answer CORS preflights. Default: false. */
  cors?: boolean;
  /** Extra headers on every response, e.g. `{ "X-Frame-Options": "DENY" }`. Default: none. */
  headers?: Record<string, string>;
  /** `Cache-Control: max-age=N` for files. Default: undefined, which sends `no-cache`. */
  cacheSeconds?: number;
  /** Called once per finished (or aborted) response. Default: no access log. */
  onResponse?: (entry: AccessLogEntry) => void;
  /** Called for an unexpected error; the client gets a 500. Default: one line on stderr. */
  onError?: (error: unknown, req: IncomingMessage) => void;
}

/** One access-log record, handed to `onResponse`. */
export interface AccessLogEntry {
  time: Date;
  client: string;
  method: string;
  /** The request target exactly as received (escape it before printing: see `formatLogLine`). */
  url: string;
  status: number;
  /** Body bytes handed to the socket. */
  bytes: number;
  ms: number;
  /** False when the client went away (or the file shrank) before the body was complete. */
  completed: boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** Options decided once, when the handler is created, so no request repeats the work. */
interface Policy {
  rootReal: Buffer;
  /** `rootReal` plus a trailing separator: `root-secret` must not pass for `root`. */
  rootPrefix: Buffer;
  dotfiles: boolean;
  followSymlinks: boolean;
  listing: boolean;
  cors: boolean;
  extraHeaders: ReadonlyArray<readonly [string, string]>;
  cacheControl: string;
}

/** Headers a user may not set with `headers`: they would break framing or the connection. */
const FORBIDDEN_EXTRA_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "content-range", "trailer"]);

/** Checks `headers` from options; throws a TypeError that names the bad one. */
export function validateExtraHeaders(headers: Record<string, string>): Array<[string, string]> {
  return Object.entries(headers).map(([name, value]) => {
    http.validateHeaderName(name);
    http.validateHeaderValue(name, value);
    if (FORBIDDEN_EXTRA_HEADERS.has(name.toLowerCase())) throw new TypeError(`header ${name} cannot be set`);
    return [name, value];
  });
}

// ---------------------------------------------------------------------------------------------
// From request target to path segments: the one function that decides what a target names
// ---------------------------------------------------------------------------------------------

/** A request target reduced to what the file system needs, or the status that refuses it. */
type TargetPath =
  | {
      kind: "path";
      /** Decoded, normalised segments below the root: no empty, `.` or `..` segment. */
      segments: Buffer[];
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
const DOT = 0x2e;
const WELL_KNOWN = Buffer.from(".well-known");

/**
 * Turns a raw request target into segments below the root, following `send`'s prologue: decode
 * once, reject NUL, reject every `..`, then apply the dotfile policy to what remains.
 */
function resolveTargetPath(rawTarget: string, dotfiles: boolean): TargetPath {
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
      return { kind: "refuse", status: 404, reason: "dotfile" };
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
function folderLocation(segments: Buffer[], query: string): string {
  const safeQuery = query.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return "/" + segments.map((s) => encodePathSegment(s) + "/").join("") + safeQuery;
}

// ---------------------------------------------------------------------------------------------
// From segments to an open file, confined to the root
// ---------------------------------------------------------------------------------------------

/** An error that already knows its HTTP status (the policy said no, not the file system). */
class HttpRefusal extends Error {
  constructor(readonly status: 404 | 403) {
    super(http.STATUS_CODES[status]);
  }
}

/** The one table from file-system errors to statuses. Anything unlisted is a 500. */
const STATUS_FOR_FS_ERROR: Readonly<Record<string, number>> = {
  ENOENT: 404,
  ENOTDIR: 404,
  ENAMETOOLONG: 404,
  ELOOP: 404,
  EACCES: 403,
  EPERM: 403,
  EMFILE: 503,
  ENFILE: 503,
};

function statusForError(error: unknown): number {
  if (error instanceof HttpRefusal) return error.status;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (code && STATUS_FOR_FS_ERROR[code]) || 500;
}

/** What a path inside the root turned out to be. A file comes open; a folder needs no descriptor. */
type Found = OpenFile | { kind: "folder"; fsPath: Buffer };

interface OpenFile {
  kind: "file";
  handle: FileHandle;
  /** From fstat: size and mtime belong to the very file we read. */
  stats: Stats;
  /** The path that was opened: the real path, unless symlinks may leave the root. */
  fsPath: Buffer;
}

function joinBytes(base: Buffer, segments: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [base];
  for (const segment of segments) parts.push(SEPARATOR, segment);
  return Buffer.concat(parts);
}
const SEPARATOR = Buffer.from(path.sep);

function isInsideRoot(real: Buffer, policy: Policy): boolean {
  if (real.equals(policy.rootReal)) return true;
  const prefix = policy.rootPrefix;
  return real.length > prefix.length && real.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/**
 * Finds what the segments name. Symlinks are judged by where they lead: the real path must lie
 * inside the real root (plus a separator), unless `followSymlinks`. Only a regular file is opened
 * (FIFOs, sockets and devices never are: opening one can block or have side effects), by its real
 * path and with O_NONBLOCK in case it was swapped for a FIFO since the stat; then it is fstat'ed.
 */
async function findInsideRoot(segments: readonly Buffer[], policy: Policy): Promise<Found> {
  let fsPath = joinBytes(policy.rootReal, segments);
  if (!policy.followSymlinks) {
    fsPath = await realpath(fsPath, { encoding: "buffer" });
    if (!isInsideRoot(fsPath, policy)) throw new HttpRefusal(404);
  }
  const before = await stat(fsPath);
  if (before.isDirectory()) return { kind: "folder", fsPath };
  if (!before.isFile()) throw new HttpRefusal(404);
  const handle = await open(fsPath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new HttpRefusal(404);
    return { kind: "file", handle, stats, fsPath };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The regular file the segments name, or null when there is none (missing, a folder, a FIFO…). */
async function openFileIfPresent(segments: readonly Buffer[], policy: Policy): Promise<OpenFile | null> {
  try {
    const found = await findInsideRoot(segments, policy);
    return found.kind === "file" ? found : null;
  } catch (error) {
    if (statusForError(error) === 404) return null;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Validators and content types
// ---------------------------------------------------------------------------------------------

interface Validators {
  /** Strong: it changes with the inode, the size or the mtime to the microsecond. */
  etag: string;
  lastModified: string;
  /** mtime in whole seconds, the granularity of HTTP dates. */
  mtimeSeconds: number;
}

/** The one place validators are made. Cheap: no hashing, nothing read from the file. */
function validatorsFor(stats: Stats): Validators {
  const mtimeMicros = Math.floor(stats.mtimeMs * 1000);
  return {
    etag: `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${mtimeMicros.toString(36)}"`,
    lastModified: stats.mtime.toUTCString(),
    mtimeSeconds: Math.floor(stats.mtimeMs / 1000),
  };
}

const contentTypeByExtension = new Map<string, string>();

/** `Content-Type` for a file name, decided once per extension. `.gz` is a type, never an encoding. */
function contentTypeFor(name: Buffer): string {
  const extension = path.extname(name.toString("utf8")).toLowerCase();
  let type = contentTypeByExtension.get(extension);
  if (type === undefined) {
    type = (extension && mime.contentType(extension)) || "application/octet-stream";
    if (contentTypeByExtension.size < 1000) contentTypeByExtension.set(extension, type);
  }
  return type;
}

// ---------------------------------------------------------------------------------------------
// Conditional requests: RFC 9110 §13.2.2, in the RFC's order
// ---------------------------------------------------------------------------------------------

type Condition = "absent" | "true" | "false";

/**
 * Evaluates the preconditions of a GET or HEAD against the current file.
 * Returns the status to answer with instead of the file, or null to go on.
 */
function checkPreconditions(req: IncomingMessage, v: Validators): 304 | 412 | null {
  const h = req.headers;
  // Step 1-2: If-Match, else If-Unmodified-Since. Either failing is 412.
  let condition = checkIfMatch(h["if-match"], v);
  if (condition === "absent") condition = checkIfUnmodifiedSince(h["if-unmodified-since"], v);
  if (condition === "false") return 412;
  // Step 3-4: If-None-Match, else If-Modified-Since. A match means "not modified" for GET/HEAD.
  const noneMatch = checkIfNoneMatch(h["if-none-match"], v);
  if (noneMatch === "false") return 304;
  if (noneMatch === "absent" && checkIfModifiedSince(h["if-modified-since"], v) === "false") return 304;
  return null;
}

function checkIfMatch(value: string | undefined, v: Validators): Condition {
  if (value === undefined) return "absent";
  const tags = parseEntityTags(value);
  if (tags === "*") return "true";
  return tags.some((tag) => strongMatch(tag, v.etag)) ? "true" : "false";
}

function checkIfUnmodifiedSince(value: string | undefined, v: Validators): Condition {
  const date = value === undefined ? null : parseHttpDate(value);
  if (date === null) return "absent"; // an invalid date is ignored (§13.1.4)
  return v.mtimeSeconds <= date ? "true" : "false";
}

/** "false" means a tag matched, i.e. the condition "none match" is false. */
function checkIfNoneMatch(value: string | undefined, v: Validators): Condition {
  if (value === undefined) return "absent";
  const tags = parseEntityTags(value);
  if (tags === "*") return "false";
  return tags.some((tag) => weakMatch(tag, v.etag)) ? "false" : "true";
}

function checkIfModifiedSince(value: string | undefined, v: Validators): Condition {
  const date = value === undefined ? null : parseHttpDate(value);
  if (date === null) return "absent";
  return v.mtimeSeconds <= date ? "false" : "true";
}

/** Parses `*` or a list of entity-tags; stops at the first malformed element. */
function parseEntityTags(value: string): string[] | "*" {
  if (value.trim() === "*") return "*";
  const tags: string[] = [];
  const tagPattern = /\s*(W\/)?"([^"]*)"\s*(?:,|$)/y;
  for (let match = tagPattern.exec(value); match; match = tagPattern.exec(value)) {
    tags.push(`${match[1] ?? ""}"${match[2]}"`);
    if (tagPattern.lastIndex >= value.length) break;
  }
  return tags;
}

function strongMatch(a: string, b: string): boolean {
  return !a.startsWith("W/") && !b.startsWith("W/") && a === b;
}

function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, "") === b.replace(/^W\//, "");
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** The three HTTP date formats of RFC 9110 §5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime. */
const HTTP_DATE_FORMATS = [
  /^[A-Za-z]{3}, (?<day>\d{2}) (?<month>[A-Za-z]{3}) (?<year>\d{4}) (?<h>\d{2}):(?<m>\d{2}):(?<s>\d{2}) GMT$/,
  /^[A-Za-z]{6,9}, (?<day>\d{2})-(?<month>[A-Za-z]{3})-(?<year>\d{2}) (?<h>\d{2}):(?<m>\d{2}):(?<s>\d{2}) GMT$/,
  /^[A-Za-z]{3} (?<month>[A-Za-z]{3}) (?<day>[ \d]\d) (?<h>\d{2}):(?<m>\d{2}):(?<s>\d{2}) (?<year>\d{4})$/,
];

/**
 * Parses an HTTP date into whole seconds since the epoch; null for anything else, because
 * `Date.parse` alone would read "1" as the year 2001.
 */
export function parseHttpDate(value: string): number | null {
  for (const format of HTTP_DATE_FORMATS) {
    const g = format.exec(value)?.groups;
    if (!g) continue;
    const month = MONTHS.indexOf(g.month!.toLowerCase());
    const [day, h, m, s] = [g.day, g.h, g.m, g.s].map(Number) as [number, number, number, number];
    if (month < 0 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return null;
    let year = Number(g.year);
    if (g.year!.length === 2) {
      // RFC 9110: a two-digit year that looks more than 50 years ahead is in the past century.
      year += 2000 + year > new Date().getUTCFullYear() + 50 ? 1900 : 2000;
    }
    const date = new Date(Date.UTC(2000, month, day, h, m, s));
    date.setUTCFullYear(year); // Date.UTC would read years 0-99 as 1900-1999
    return Math.floor(date.getTime() / 1000);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Ranges: RFC 9110 §14
// ---------------------------------------------------------------------------------------------

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeRequest =
  | { kind: "none" } // no Range, one we ignore, or the whole file is the better answer
  | { kind: "ranges"; ranges: ByteRange[] } // sorted, coalesced, each inside the file
  | { kind: "unsatisfiable" };

/** More range specs than this is an abuse pattern, not a download manager: send the whole file. */
const MAX_RANGES = 100;

/**
 * Parses a Range header against a file size. A header that does not parse is ignored (the whole
 * file is a correct answer), as is one asking for more bytes than the file has in total, which
 * only a client trying to make us do work would send.
 */
export function parseRangeHeader(value: string | undefined, size: number): RangeRequest {
  if (value === undefined) return { kind: "none" };
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(value);
  if (!match) return { kind: "none" };
  const specs = match[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (specs.length === 0 || specs.length > MAX_RANGES) return { kind: "none" };
  if (size === 0) return { kind: "none" }; // nothing to slice: the (empty) whole is the answer

  const ranges: ByteRange[] = [];
  let requested = 0;
  for (const spec of specs) {
    const parts = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (!parts || (parts[1] === "" && parts[2] === "")) return { kind: "none" };
    const [, first, last] = parts as unknown as [string, string, string];
    let range: ByteRange | null;
    if (first === "") {
      const suffix = Number(last); // `-n`: the last n bytes
      range = suffix === 0 ? null : { start: Math.max(0, size - suffix), end: size - 1 };
    } else {
      const start = Number(first);
      if (last !== "" && Number(last) < start) return { kind: "none" }; // invalid spec: ignore the header
      const end = last === "" ? size - 1 : Number(last);
      range = start >= size ? null : { start, end: Math.min(end, size - 1) };
    }
    if (range === null) continue; // unsatisfiable on its own; others may still be fine
    requested += range.end - range.start + 1;
    ranges.push(range);
  }
  if (ranges.length === 0) return { kind: "unsatisfiable" };
  if (requested > size) return { kind: "none" };
  return { kind: "ranges", ranges: coalesce(ranges) };
}

/** Sorts ranges and merges the ones that overlap or touch. */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [{ ...sorted[0]! }];
  for (const range of sorted.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (range.start <= last.end + 1) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** A request header as one string (Node joins repeated ones with ", "). */
function headerText(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** If-Range (§13.1.5): a strong ETag that matches, or exactly the Last-Modified date. */
function ifRangeAllowsPartial(value: string | undefined, v: Validators): boolean {
  if (value === undefined) return true;
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith("W/")) return strongMatch(trimmed, v.etag);
  return parseHttpDate(trimmed) === v.mtimeSeconds;
}

// ---------------------------------------------------------------------------------------------
// Replies: a status, headers and a body the edge knows how to send
// ---------------------------------------------------------------------------------------------

type Body =
  | { kind: "empty" }
  | { kind: "bytes"; data: Buffer }
  | { kind: "file"; handle: FileHandle; range: ByteRange }
  | { kind: "multipart"; handle: FileHandle; parts: Array<{ head: Buffer; range: ByteRange }>; tail: Buffer };

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Body;
}

/** Generated pages carry no script and load nothing; inline CSS is all they need. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'";

function htmlPage(status: number, html: string, headers: Record<string, string> = {}): Reply {
  const data = Buffer.from(html);
  return {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Length": String(data.length),
      "Content-Security-Policy": PAGE_CSP,
      "Cache-Control": "no-cache",
      ...headers,
    },
    body: { kind: "bytes", data },
  };
}

/** A generic error page: the status and its reason phrase, never a path or an OS message. */
function errorPage(status: number): Reply {
  const title = `${status} ${http.STATUS_CODES[status] ?? "Error"}`;
  const headers: Record<string, string> = status === 503 ? { "Retry-After": "1" } : {};
  return htmlPage(status, `<!DOCTYPE html>\n<html lang="en"><meta charset="utf-8"><title>${title}</title><h1>${title}</h1></html>\n`, headers);
}

function emptyReply(status: number, headers: Record<string, string>): Reply {
  return { status, headers: { ...headers, "Content-Length": "0" }, body: { kind: "empty" } };
}

/** The headers every file response shares, with or without a body. */
function fileHeaders(v: Validators, policy: Policy): Record<string, string> {
  return { ETag: v.etag, "Last-Modified": v.lastModified, "Cache-Control": policy.cacheControl, "Accept-Ranges": "bytes" };
}

/** The reply for an open regular file: conditionals first, then ranges. Takes over the handle. */
function fileReply(req: IncomingMessage, entry: OpenFile, policy: Policy): Reply {
  const { handle, stats } = entry;
  const v = validatorsFor(stats);
  const common = fileHeaders(v, policy);
  const type = contentTypeFor(entry.fsPath.subarray(entry.fsPath.lastIndexOf(SEPARATOR) + 1));

  const precondition = checkPreconditions(req, v);
  if (precondition !== null) {
    void handle.close();
    return precondition === 304 ? { status: 304, headers: common, body: { kind: "empty" } } : emptyReply(412, common);
  }

  const size = stats.size;
  const whole: Reply = {
    status: 200,
    headers: { ...common, "Content-Type": type, "Content-Length": String(size) },
    body: { kind: "file", handle, range: { start: 0, end: size - 1 } },
  };
  // Range is defined for GET only (§14.2); If-Range may turn it back into a plain GET.
  if (req.method !== "GET" || !ifRangeAllowsPartial(headerText(req, "if-range"), v)) return whole;
  const request = parseRangeHeader(req.headers.range, size);
  switch (request.kind) {
    case "none":
      return whole;
    case "unsatisfiable":
      void handle.close();
      return emptyReply(416, { ...common, "Content-Range": `bytes */${size}` });
    case "ranges": {
      const [only] = request.ranges;
      if (request.ranges.length === 1 && only) {
        return {
          status: 206,
          headers: { ...common, "Content-Type": type, "Content-Length": String(only.end - only.start + 1), "Content-Range": `bytes ${only.start}-${only.end}/${size}` },
          body: { kind: "file", handle, range: only },
        };
      }
      return multipartReply(handle, request.ranges, size, type, common);
    }
  }
}

/** `multipart/byteranges` (§14.6), its Content-Length counted exactly before a byte is read. */
function multipartReply(handle: FileHandle, ranges: ByteRange[], size: number, type: string, common: Record<string, string>): Reply {
  const boundary = randomBytes(12).toString("hex");
  const parts = ranges.map((range, i) => ({
    head: Buffer.from(`${i === 0 ? "" : "\r\n"}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`),
    range,
  }));
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = parts.reduce((sum, p) => sum + p.head.length + p.range.end - p.range.start + 1, tail.length);
  return {
    status: 206,
    headers: { ...common, "Content-Type": `multipart/byteranges; boundary=${boundary}`, "Content-Length": String(length) },
    body: { kind: "multipart", handle, parts, tail },
  };
}

/** Thrown mid-body when the file holds fewer bytes than we promised in Content-Length. */
class FileShrankError extends Error {
  constructor() {
    super("file shrank while it was being sent");
  }
}

const READ_CHUNK = 64 * 1024;

/**
 * Reads exactly `range` from the file, a chunk at a time, so memory stays constant whatever the
 * size. Bytes appended since the stat are not sent (we promised a length); a file that shrank
 * throws, which destroys the socket so the client sees the short body at once instead of waiting.
 */
async function* readRange(handle: FileHandle, range: ByteRange): AsyncGenerator<Buffer> {
  for (let position = range.start; position <= range.end; ) {
    const want = Math.min(READ_CHUNK, range.end - position + 1);
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buffer, 0, want, position);
    if (bytesRead === 0) throw new FileShrankError();
    position += bytesRead;
    yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
  }
}

async function* bodyChunks(body: Body): AsyncGenerator<Buffer> {
  switch (body.kind) {
    case "empty":
      return;
    case "bytes":
      yield body.data;
      return;
    case "file":
      yield* readRange(body.handle, body.range);
      return;
    case "multipart":
      for (const part of body.parts) {
        yield part.head;
        yield* readRange(body.handle, part.range);
      }
      yield body.tail;
  }
}

function handleOf(body: Body): FileHandle | null {
  return body.kind === "file" || body.kind === "multipart" ? body.handle : null;
}

// ---------------------------------------------------------------------------------------------
// Folders: index files and the listing
// ---------------------------------------------------------------------------------------------

const INDEX_NAMES = [Buffer.from("index.html"), Buffer.from("index.htm")];

/** `index.html`, then `index.htm` (a folder of that name does not count); null when neither. */
async function openIndex(segments: readonly Buffer[], policy: Policy): Promise<OpenFile | null> {
  for (const name of INDEX_NAMES) {
    const file = await openFileIfPresent([...segments, name], policy);
    if (file) return file;
  }
  return null;
}

/**
 * Reads a folder as Buffers (names need not be UTF-8) and stats each entry. Hidden from the
 * listing is exactly what would not be served: dotfiles, and symlinks leading out of the root.
 * An entry that cannot be stat'ed (a dangling link, no permission) is listed without details.
 */
async function readListingEntries(dirPath: Buffer, policy: Policy): Promise<ListingEntry[]> {
  const dirents = await readdir(dirPath, { withFileTypes: true, encoding: "buffer" });
  const entries = await Promise.all(
    dirents.map(async (dirent): Promise<ListingEntry | null> => {
      const name = dirent.name as unknown as Buffer;
      if (name[0] === DOT && !policy.dotfiles) return null;
      const entryPath = joinBytes(dirPath, [name]);
      const symlink = dirent.isSymbolicLink();
      if (symlink && !policy.followSymlinks) {
        const real = await realpath(entryPath, { encoding: "buffer" }).catch(() => null);
        if (real !== null && !isInsideRoot(real, policy)) return null;
      }
      const stats = await stat(entryPath).catch(() => null);
      return {
        name,
        isFolder: stats ? stats.isDirectory() : dirent.isDirectory(),
        symlink,
        size: stats?.isFile() ? stats.size : null,
        modified: stats ? stats.mtime : null,
      };
    }),
  );
  return entries.filter((e): e is ListingEntry => e !== null);
}

async function listingReply(target: Extract<TargetPath, { kind: "path" }>, dirPath: Buffer, policy: Policy): Promise<Reply> {
  const entries = await readListingEntries(dirPath, policy);
  const displayPath = "/" + target.segments.map((s) => s.toString("utf8") + "/").join("");
  return htmlPage(200, renderListing(displayPath, entries, target.segments.length === 0));
}

// ---------------------------------------------------------------------------------------------
// The pure middle: a parsed GET/HEAD to a reply
// ---------------------------------------------------------------------------------------------

/** Answers a GET or HEAD for a path. Throws fs errors and refusals; the edge maps them. */
async function replyForPath(req: IncomingMessage, target: Extract<TargetPath, { kind: "path" }>, policy: Policy): Promise<Reply> {
  const found = await findInsideRoot(target.segments, policy);
  if (found.kind === "file") {
    if (target.slash) {
      await found.handle.close();
      throw new HttpRefusal(404); // `/file.txt/` names a folder that does not exist
    }
    return fileReply(req, found, policy);
  }
  if (!target.slash) return emptyReply(301, { Location: folderLocation(target.segments, target.query) });
  const index = await openIndex(target.segments, policy);
  if (index) return fileReply(req, index, policy);
  if (!policy.listing) throw new HttpRefusal(404);
  return listingReply(target, found.fsPath, policy);
}

/** The 404 page: the root's own `404.html` when there is one, else a generic page. */
async function notFoundReply(policy: Policy, hasNext: boolean): Promise<Reply | "next"> {
  if (hasNext) return "next";
  const page = await openFileIfPresent([Buffer.from("404.html")], policy).catch(() => null);
  if (!page) return errorPage(404);
  const size = page.stats.size;
  return {
    status: 404,
    headers: { "Content-Type": "text/html; charset=utf-8", "Content-Length": String(size), "Cache-Control": "no-cache" },
    body: { kind: "file", handle: page.handle, range: { start: 0, end: size - 1 } },
  };
}

// ---------------------------------------------------------------------------------------------
// The edge: methods, CORS, extra headers, logging, errors, and writing to the socket
// ---------------------------------------------------------------------------------------------

const ALLOW = "GET, HEAD, OPTIONS";

/** Builds the request handler. Decides everything it can once, here, rather than per request. */
export async function createHandler(options: HandlerOptions = {}): Promise<Handler> {
  const rootReal = await realpath(path.resolve(options.root ?? "."), { encoding: "buffer" });
  if (!(await stat(rootReal)).isDirectory()) throw Object.assign(new Error("root is not a folder"), { code: "ENOTDIR" });
  const policy: Policy = {
    rootReal,
    rootPrefix: rootReal.at(-1) === SEPARATOR[0] ? rootReal : Buffer.concat([rootReal, SEPARATOR]),
    dotfiles: options.dotfiles ?? false,
    followSymlinks: options.followSymlinks ?? false,
    listing: options.listing ?? true,
    cors: options.cors ?? false,
    extraHeaders: validateExtraHeaders(options.headers ?? {}),
    cacheControl: options.cacheSeconds === undefined ? "no-cache" : `max-age=${Math.max(0, Math.floor(options.cacheSeconds))}`,
  };
  const onError = options.onError ?? defaultOnError;
  const onResponse = options.onResponse;

  return function serveHere(req, res, next) {
    const started = performance.now();
    const progress = { bytes: 0 };
    if (onResponse) {
      res.once("close", () => {
        onResponse({
          time: new Date(),
          client: clientAddress(req.socket),
          method: req.method ?? "-",
          url: req.url ?? "",
          status: res.statusCode,
          bytes: progress.bytes,
          ms: performance.now() - started,
          completed: res.writableFinished,
        });
      });
    }
    replyFor(req, policy, onError, next !== undefined)
      .then((reply) => (reply === "next" ? next!() : sendReply(req, res, reply, policy, progress)))
      .catch((error: unknown) => {
        onError(error, req);
        if (res.headersSent) return res.destroy();
        return sendReply(req, res, errorPage(500), policy, progress).catch(() => res.destroy());
      });
  };
}

/**
 * Decides the whole answer to a request before a byte is written: "next" when a Connect/Express
 * `next` should have the 404 instead. Refusals and file-system errors become statuses here.
 */
async function replyFor(req: IncomingMessage, policy: Policy, onError: NonNullable<HandlerOptions["onError"]>, hasNext = false): Promise<Reply | "next"> {
  const method = req.method ?? "";
  if (method !== "GET" && method !== "HEAD") {
    if (hasNext) return "next"; // under Connect/Express, other methods belong to the routes after us
    if (method === "OPTIONS") return emptyReply(204, optionsHeaders(req, policy));
    return emptyReply(405, { Allow: ALLOW });
  }
  const target = resolveTargetPath(req.url ?? "/", policy.dotfiles);
  if (target.kind === "refuse") return target.status === 400 ? errorPage(400) : notFoundReply(policy, hasNext);
  try {
    return await replyForPath(req, target, policy);
  } catch (error) {
    const status = statusForError(error);
    if (status === 404 && !target.utf8) return errorPage(400); // names nothing, and is not even UTF-8
    if (status === 404) return notFoundReply(policy, hasNext);
    if (status === 500) onError(error, req);
    return errorPage(status);
  }
}

/**
 * Writes a reply: headers, then the body unless HEAD. File bodies stream with backpressure; when
 * the client leaves or the file shrinks the socket is destroyed, so a client sees a short body at
 * once. The file handle is closed whatever happens. `progress.bytes` counts body bytes as they go.
 */
async function sendReply(req: IncomingMessage, res: ServerResponse, reply: Reply, policy: Policy, progress: { bytes: number }): Promise<void> {
  const handle = handleOf(reply.body);
  try {
    if (res.destroyed) return;
    res.writeHead(reply.status, edgeHeaders(reply.headers, policy));
    if (req.method === "HEAD" || reply.body.kind === "empty") return void res.end();
    if (reply.body.kind === "bytes") {
      progress.bytes = reply.body.data.length;
      return void res.end(reply.body.data);
    }
    const counted = async function* (chunks: AsyncGenerator<Buffer>) {
      for await (const chunk of chunks) {
        progress.bytes += chunk.length;
        yield chunk;
      }
    };
    await pipeline(Readable.from(counted(bodyChunks(reply.body)), { objectMode: false }), res).catch((error: unknown) => {
      const clientLeft = (error as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE";
      if (!clientLeft && !(error instanceof FileShrankError)) throw error;
    });
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Headers the edge adds to every reply: nosniff, CORS, and the user's own (which win). */
function edgeHeaders(headers: Record<string, string>, policy: Policy): Record<string, string> {
  const out: Record<string, string> = { ...headers, "X-Content-Type-Options": "nosniff" };
  if (policy.cors) {
    out["Access-Control-Allow-Origin"] = "*";
    out["Access-Control-Expose-Headers"] = "Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges";
  }
  for (const [name, value] of policy.extraHeaders) out[name] = value;
  return out;
}

function optionsHeaders(req: IncomingMessage, policy: Policy): Record<string, string> {
  const headers: Record<string, string> = { Allow: ALLOW };
  if (policy.cors && req.headers["access-control-request-method"] !== undefined) {
    headers["Access-Control-Allow-Methods"] = ALLOW;
    const requested = req.headers["access-control-request-headers"];
    // Echo only a well-formed token list; anything else gets the headers a reader might send.
    headers["Access-Control-Allow-Headers"] = requested && /^[\w-]+(\s*,\s*[\w-]+)*$/.test(requested) ? requested : "Range, If-None-Match, If-Modified-Since, If-Match, If-Range";
    headers["Access-Control-Max-Age"] = "86400";
  }
  return headers;
}

/** The peer's address, without the `::ffff:` an IPv4 client gets on a dual-stack socket. */
function clientAddress(socket: { remoteAddress?: string | undefined }): string {
  return (socket.remoteAddress ?? "-").replace(/^::ffff:/, "");
}

function defaultOnError(error: unknown, req: IncomingMessage): void {
  process.stderr.write(`serve-here: error answering ${escapeControl(`${req.method} ${req.url}`)}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
}

/** Escapes control characters so a request cannot write terminal escapes into a log. */
export function escapeControl(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** One access-log line: time, client, method, target, status, bytes, milliseconds. */
export function formatLogLine(e: AccessLogEntry): string {
  const time = e.time.toISOString().replace(/\.\d+Z$/, "Z");
  const status = e.completed ? String(e.status) : `${e.status} (aborted)`;
  return `${time} ${e.client} ${escapeControl(e.method)} ${escapeControl(e.url)} ${status} ${e.bytes} ${e.ms.toFixed(1)}ms`;
}

// ---------------------------------------------------------------------------------------------
// The server: bind, timeouts, URLs, graceful close
// ---------------------------------------------------------------------------------------------

/** Options for `startServer`: the handler's, plus where to listen. */
export interface ServerOptions extends HandlerOptions {
  /** Port to listen on; 0 picks any free port. Default: 8000. */
  port?: number;
  /** How many ports above `port` to try when it is taken. Default: 0 (fail with EADDRINUSE). */
  portFallback?: number;
  /** Address to bind. Default: all interfaces, IPv6 dual-stack where available. */
  host?: string;
}

export interface StartedServer {
  server: Server;
  port: number;
  /** The address bound, or undefined for all interfaces. */
  host: string | undefined;
  /** A URL that works from this machine, with the real port. */
  url: string;
  /** URLs other machines on the network can use (empty when bound to one address). */
  networkUrls: string[];
  /** Stops accepting, lets in-flight responses finish (at most `graceMs`), closes idle sockets. */
  close(graceMs?: number): Promise<void>;
}

/** Time limits that keep slow or idle clients from holding sockets forever. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export async function startServer(options: ServerOptions = {}): Promise<StartedServer> {
  const handler = await createHandler(options);
  const server = http.createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, connectionsCheckingInterval: 1_000 },
    (req, res) => handler(req, res),
  );
  // A malformed request never reaches the handler; answer it plainly instead of Node's silent close.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || error.code === "ECONNRESET") return socket.destroy();
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    options.onResponse?.({ time: new Date(), client: clientAddress(socket as Socket), method: "-", url: `(${error.code ?? "bad request"})`, status, bytes: 0, ms: 0, completed: true });
  });

  const firstPort = options.port ?? 8000;
  const lastPort = firstPort === 0 ? 0 : Math.min(65535, firstPort + (options.portFallback ?? 0));
  let port = firstPort;
  for (;;) {
    try {
      await listen(server, port, options.host);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || port >= lastPort) throw error;
      port++;
    }
  }
  const address = server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const allInterfaces = options.host === undefined || options.host === "::" || options.host === "0.0.0.0";
  const localHost = allInterfaces ? "127.0.0.1" : options.host!;
  return {
    server,
    port: boundPort,
    host: options.host,
    url: `http://${hostForUrl(localHost)}:${boundPort}/`,
    networkUrls: allInterfaces ? networkAddresses(options.host === "0.0.0.0").map((a) => `http://${hostForUrl(a)}:${boundPort}/`) : [],
    close: (graceMs = 3000) => closeGracefully(server, graceMs),
  };
}

/** Listens on `host`, or on `::` dual-stack, falling back to 0.0.0.0 where IPv6 is missing. */
function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  const attempt = (h: string) =>
    new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.once("error", onError);
      server.listen({ port, host: h, ipv6Only: false }, () => {
        server.off("error", onError);
        resolve();
      });
    });
  if (host !== undefined) return attempt(host);
  return attempt("::").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "EAFNOSUPPORT" || error.code === "EADDRNOTAVAIL") return attempt("0.0.0.0");
    throw error;
  });
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Non-internal addresses a phone or a colleague could reach; link-local ones need a zone, so no. */
function networkAddresses(ipv4Only: boolean): string[] {
  const addresses: string[] = [];
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      if (info.family === "IPv4" && !info.address.startsWith("169.254.")) addresses.push(info.address);
      if (info.family === "IPv6" && !ipv4Only && !/^fe[89ab]/i.test(info.address)) addresses.push(info.address);
    }
  }
  return addresses.sort((a, b) => Number(a.includes(":")) - Number(b.includes(":")));
}

function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    // A keep-alive socket goes idle when its response ends; close each as soon as it does.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
