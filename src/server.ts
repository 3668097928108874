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
import { close, closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, read, readdirSync, readSync, realpathSync, statSync, type Stats } from "node:fs";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { pipeline, Readable, type Duplex } from "node:stream";
import { isUtf8 } from "node:buffer";
import { createRequire } from "node:module";
import { encodePathSegment, prepareNames, renderListing, renderRow, type ListedName } from "./listing.js";

// CommonJS packages are required, not imported: importing makes Node lex their source for named
// exports first, which costs start-up time for nothing.
const mime = createRequire(import.meta.url)("mime-types") as typeof import("mime-types");

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
  /** Why a request was refused or failed (`dot-dot segment`, `EACCES`…); never sent to the client. */
  note?: string;
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
  cacheControl: string;
  /** Headers added to every reply, as name, value, name, value…: nosniff, CORS, then the user's. */
  edgeHeaders: readonly string[];
  /** Lower-cased names of the user's headers, which replace ours of the same name. */
  userHeaderNames: ReadonlySet<string>;
  /** Small files' bytes, at most 32 MiB in 4096 files. */
  cache: RevalidatedCache<CachedFile>;
  /** Folders' names, prepared for listing (their sizes and dates are never kept). */
  folders: RevalidatedCache<FolderVersion>;
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
function folderLocation(segments: readonly Buffer[], query: string): string {
  const safeQuery = query.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return "/" + segments.map((s) => encodePathSegment(s) + "/").join("") + safeQuery;
}

// ---------------------------------------------------------------------------------------------
// From segments to a file or folder, confined to the root
// ---------------------------------------------------------------------------------------------
//
// Metadata calls (lstat, open, fstat, readdir) are made synchronously, as nginx and darkhttpd make
// them inline in their event loops. On a local disk each one is a microsecond or two from the
// kernel's caches; through libuv's thread pool each costs a round trip of tens of microseconds and a
// promise, and on a busy core the pool's threads compete with the loop itself (profiled: 1.3k vs
// 25k req/s for nginx). The price: on a slow file system (NFS, a sleeping USB disk) one call
// stalls every client for its duration. Reading the contents of large files stays asynchronous.

/** An error that already knows its HTTP status (the policy said no, not the file system). */
class HttpRefusal extends Error {
  constructor(readonly status: 404 | 403 | 503) {
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

/** What a path inside the root names, with the stats that decided it. Nothing is open yet. */
interface Found {
  kind: "file" | "folder";
  /** The path to open: the joined path when no link was crossed, else the real path. */
  fsPath: Buffer;
  stats: Stats;
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

/** What `locate` says of a symlink whose target is outside the root (without `followSymlinks`). */
const LEADS_OUT = { kind: "outside", note: "symlink leads out of the root; --follow-symlinks serves it" } as const;

/**
 * Finds what the segments name: null when nothing servable is there, LEADS_OUT for a link out.
 * Symlinks are judged by where they lead: unless `followSymlinks`, each component is lstat'ed from
 * the root down, and while no component is a link the joined path is already the real path (one
 * syscall for a file at the top). A link sends the path through realpath, which must land inside
 * the real root plus a separator. Only folders and regular files count: FIFOs, sockets and
 * devices are never opened.
 */
function locate(segments: readonly Buffer[], policy: Policy): Found | typeof LEADS_OUT | null {
  const fsPath = joinBytes(policy.rootReal, segments);
  if (policy.followSymlinks) return classify(fsPath, statSync(fsPath, { throwIfNoEntry: false }));
  let stats: Stats | undefined;
  let end = policy.rootReal.length;
  for (const segment of segments) {
    end += SEPARATOR.length + segment.length;
    stats = lstatSync(end === fsPath.length ? fsPath : fsPath.subarray(0, end), { throwIfNoEntry: false });
    if (stats === undefined) return null;
    if (stats.isSymbolicLink()) return locateThroughLinks(fsPath, policy);
    if (end < fsPath.length && !stats.isDirectory()) return null; // `/file.txt/x`
  }
  return classify(fsPath, stats ?? statSync(fsPath));
}

function locateThroughLinks(fsPath: Buffer, policy: Policy): Found | typeof LEADS_OUT | null {
  let real: Buffer;
  try {
    real = realpathSync.native(fsPath, { encoding: "buffer" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null; // a dangling link
    throw error;
  }
  if (!isInsideRoot(real, policy)) return LEADS_OUT; // as good as absent, but the log says why
  return classify(real, statSync(real, { throwIfNoEntry: false }));
}

function classify(fsPath: Buffer, stats: Stats | undefined): Found | null {
  if (stats?.isFile()) return { kind: "file", fsPath, stats };
  if (stats?.isDirectory()) return { kind: "folder", fsPath, stats };
  return null;
}

/** The file's identity: while all of it is unchanged, so are its bytes (see `RevalidatedCache`). */
function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/**
 * Opens the file `locate` found and checks, with fstat, that the descriptor is that very file:
 * if a component was swapped for a link (or the file replaced) in between, the inode differs and
 * the caller looks again. O_NONBLOCK in case it was swapped for a FIFO.
 */
function openFound(found: Found, policy: Policy): { fd: number; stats: Stats } | "changed" {
  // The path holds no link unless links may be followed; one there now was swapped in (ELOOP: 404).
  const flags = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (policy.followSymlinks ? 0 : fsConstants.O_NOFOLLOW);
  let fd: number;
  try {
    fd = openSync(found.fsPath, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "changed";
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    if (stats.ino !== found.stats.ino || stats.dev !== found.stats.dev || !stats.isFile()) {
      closeSync(fd);
      return "changed";
    }
    return { fd, stats };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// What a file response needs to know: validators, type, and for small files the bytes
// ---------------------------------------------------------------------------------------------

/** Everything about a file version that its headers say, decided once per version. */
interface FileMeta {
  size: number;
  /** Strong: it changes with the inode, the size, or the mtime or ctime to the microsecond. */
  etag: string;
  lastModified: string;
  /** mtime in whole seconds, the granularity of HTTP dates. */
  mtimeSeconds: number;
  contentType: string;
  /** ETag, Last-Modified, Cache-Control, Accept-Ranges: shared by 200, 206, 304, 412 and 416. */
  common: Readonly<Record<string, string>>;
  /** The 200 reply's headers, and the same as sent (`headerList`), made once per version. */
  ok: Readonly<Record<string, string>>;
  okWire: readonly string[];
}

/** The one place validators are made. Cheap: no hashing, nothing read from the file. */
function fileMeta(stats: Stats, fsPath: Buffer, policy: Policy): FileMeta {
  // ctime too: an edit whose mtime is put back (`cp -p`, rsync, tar, utimes) still moves the ctime,
  // and without it the old ETag would earn a stale 304, or an If-Range splice of old and new bytes.
  const micros = (ms: number) => Math.floor(ms * 1000).toString(36);
  const etag = `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${micros(stats.mtimeMs)}-${micros(stats.ctimeMs)}"`;
  const lastModified = new Date(stats.mtimeMs).toUTCString();
  const contentType = contentTypeFor(fsPath.subarray(fsPath.lastIndexOf(SEPARATOR) + 1));
  const common = { ETag: etag, "Last-Modified": lastModified, "Cache-Control": policy.cacheControl, "Accept-Ranges": "bytes" };
  const ok = { ...common, "Content-Type": contentType, "Content-Length": String(stats.size) };
  return {
    size: stats.size,
    etag,
    lastModified,
    mtimeSeconds: Math.floor(stats.mtimeMs / 1000),
    contentType,
    common,
    ok,
    okWire: headerList(ok, policy),
  };
}

const contentTypeByExtension = new Map<string, string>();

/** `Content-Type` for a file name, decided once per extension. `.gz` is a type, never an encoding. */
function contentTypeFor(name: Buffer): string {
  const dot = name.lastIndexOf(DOT);
  const extension = dot > 0 ? name.toString("utf8", dot).toLowerCase() : "";
  let type = contentTypeByExtension.get(extension);
  if (type === undefined) {
    type = (extension && mime.contentType(extension)) || "application/octet-stream";
    if (contentTypeByExtension.size < 1000) contentTypeByExtension.set(extension, type);
  }
  return type;
}

/** Files up to this size are read whole with one call and sent with one write. */
const SMALL_FILE = 256 * 1024;

/** A small file's bytes and headers, valid while its identity (`sameFile`) is unchanged. */
interface CachedFile {
  stats: Stats;
  meta: FileMeta;
  data: Buffer;
}

/**
 * Things read from the file system (a small file's bytes, a folder's names), each kept with the
 * stats taken just before it was read and checked against a fresh lstat on every request, so an
 * edit is seen by the very next request. The catch is timestamp granularity: two writes within one
 * tick of the kernel's clock can leave size, mtime and ctime all equal. So, as git does for its
 * index ("racily clean" entries), a version is only kept when its ctime is well before the moment
 * it was read: a later change must then carry a later ctime. ctime, unlike mtime, cannot be set
 * back by a user (`touch -d` and utimes move it forward too). Oldest entries go first when full.
 */
class RevalidatedCache<T extends { stats: Stats }> {
  /** How long a file or folder must have been left alone before what was read from it may be kept. */
  static readonly SETTLE_MS = 1000;
  private readonly entries = new Map<string, T>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes = Infinity,
    private readonly sizeOf: (entry: T) => number = () => 0,
  ) {}

  /** The entry for this path, if what is there is still exactly the version that was read. */
  get(fsPath: Buffer, stats: Stats): T | undefined {
    const key = fsPath.toString("latin1");
    const entry = this.entries.get(key);
    if (entry === undefined || sameFile(entry.stats, stats)) return entry;
    this.delete(key, entry);
    return undefined;
  }

  /** Keeps a version whose stats were taken at `statedAt` (ms since the epoch), if it had settled. */
  put(fsPath: Buffer, entry: T, statedAt: number): void {
    const size = this.sizeOf(entry);
    if (statedAt - entry.stats.ctimeMs < RevalidatedCache.SETTLE_MS || size > this.maxBytes) return;
    const key = fsPath.toString("latin1");
    const old = this.entries.get(key);
    if (old) this.delete(key, old);
    // Oldest first: Map iteration follows insertion order.
    for (const [oldKey, oldest] of this.entries) {
      if (this.bytes + size <= this.maxBytes && this.entries.size < this.maxEntries) break;
      this.delete(oldKey, oldest);
    }
    this.entries.set(key, entry);
    this.bytes += size;
  }

  private delete(key: string, entry: T): void {
    this.entries.delete(key);
    this.bytes -= this.sizeOf(entry);
  }
}

/** Where the bytes of a file response come from. */
type FileSource = { kind: "memory"; data: Buffer } | { kind: "descriptor"; fd: number };

/** A file ready to answer from: its metadata, and its bytes or an open descriptor. */
interface ReadyFile {
  meta: FileMeta;
  source: FileSource;
}

/**
 * Makes a found file ready to send: from the cache when the version is unchanged; else opened,
 * and read whole if small. "changed" when the file changed under us between the stat and the read.
 */
function readyFile(found: Found, policy: Policy): ReadyFile | "changed" {
  const cached = policy.cache.get(found.fsPath, found.stats);
  if (cached) return { meta: cached.meta, source: { kind: "memory", data: cached.data } };
  const statedAt = Date.now();
  const opened = openFound(found, policy);
  if (opened === "changed") return opened;
  const meta = fileMeta(opened.stats, found.fsPath, policy);
  if (opened.stats.size > SMALL_FILE) return { meta, source: { kind: "descriptor", fd: opened.fd } };
  let data: Buffer;
  try {
    data = readWhole(opened.fd, opened.stats.size);
  } finally {
    closeSync(opened.fd);
  }
  if (data.length !== opened.stats.size) return "changed"; // it shrank as we read
  policy.cache.put(found.fsPath, { stats: opened.stats, meta, data }, statedAt);
  return { meta, source: { kind: "memory", data } };
}

/** Reads up to `size` bytes from the start; fewer only if the file is shorter now. */
function readWhole(fd: number, size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const n = readSync(fd, data, length, size - length, length);
    if (n === 0) break;
    length += n;
  }
  return length === size ? data : data.subarray(0, length);
}
// ---------------------------------------------------------------------------------------------
// Conditional requests: RFC 9110 §13.2.2, in the RFC's order
// ---------------------------------------------------------------------------------------------

type Condition = "absent" | "true" | "false";

/**
 * Evaluates the preconditions of a GET or HEAD against the current file.
 * Returns the status to answer with instead of the file, or null to go on.
 */
function checkPreconditions(req: IncomingMessage, v: FileMeta): 304 | 412 | null {
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

function checkIfMatch(value: string | undefined, v: FileMeta): Condition {
  if (value === undefined) return "absent";
  const tags = parseEntityTags(value);
  if (tags === "*") return "true";
  return tags.some((tag) => strongMatch(tag, v.etag)) ? "true" : "false";
}

function checkIfUnmodifiedSince(value: string | undefined, v: FileMeta): Condition {
  const date = value === undefined ? null : parseHttpDate(value);
  if (date === null) return "absent"; // an invalid date is ignored (§13.1.4)
  return v.mtimeSeconds <= date ? "true" : "false";
}

/** "false" means a tag matched, i.e. the condition "none match" is false. */
function checkIfNoneMatch(value: string | undefined, v: FileMeta): Condition {
  if (value === undefined) return "absent";
  const tags = parseEntityTags(value);
  if (tags === "*") return "false";
  return tags.some((tag) => weakMatch(tag, v.etag)) ? "false" : "true";
}

function checkIfModifiedSince(value: string | undefined, v: FileMeta): Condition {
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
function ifRangeAllowsPartial(value: string | undefined, v: FileMeta): boolean {
  if (value === undefined) return true;
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith("W/")) return strongMatch(trimmed, v.etag);
  return parseHttpDate(trimmed) === v.mtimeSeconds;
}

// ---------------------------------------------------------------------------------------------
// Replies: a status, headers and a body the edge knows how to send
// ---------------------------------------------------------------------------------------------

/** A stretch of a file (a ByteRange), or bytes of our own between stretches (multipart heads). */
type Piece = ByteRange | Buffer;

type Body =
  | { kind: "empty" }
  | { kind: "bytes"; data: Buffer }
  /** Streamed from a descriptor the body owns: closed when sent, or when the reply is dropped. */
  | { kind: "file"; fd: number; pieces: readonly Piece[] };

/** Replies are never changed once made, so constant ones (error pages) are shared. */
interface Reply {
  readonly status: number;
  /** Why, for the log only: a refusal's reason or an error's code. Never sent. */
  readonly note?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The headers as sent, when made in advance: then exactly `headerList(headers, policy)`. */
  readonly wire?: readonly string[];
  readonly body: Body;
}

const EMPTY: Body = { kind: "empty" };

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

const errorPages = new Map<number, Reply>();

/** A generic error page: the status and its reason phrase, never a path or an OS message. */
function errorPage(status: number): Reply {
  let page = errorPages.get(status);
  if (page === undefined) {
    const title = `${status} ${http.STATUS_CODES[status] ?? "Error"}`;
    const headers: Record<string, string> = status === 503 ? { "Retry-After": "1" } : {};
    page = htmlPage(status, `<!DOCTYPE html>\n<html lang="en"><meta charset="utf-8"><title>${title}</title><h1>${title}</h1></html>\n`, headers);
    errorPages.set(status, page);
  }
  return page;
}

function emptyReply(status: number, headers: Readonly<Record<string, string>>): Reply {
  return { status, headers: { ...headers, "Content-Length": "0" }, body: EMPTY };
}

/** The body that sends `pieces` of a file from wherever its bytes are. */
function bodyFrom(source: FileSource, pieces: readonly Piece[]): Body {
  if (source.kind === "descriptor") return { kind: "file", fd: source.fd, pieces };
  const slice = (piece: Piece) => (Buffer.isBuffer(piece) ? piece : source.data.subarray(piece.start, piece.end + 1));
  return { kind: "bytes", data: pieces.length === 1 ? slice(pieces[0]!) : Buffer.concat(pieces.map(slice)) };
}

/** Closes what a body holds, for a body that will not be sent. */
function release(body: Body): void {
  if (body.kind === "file") close(body.fd, () => {});
}

function releaseSource(source: FileSource): void {
  if (source.kind === "descriptor") close(source.fd, () => {});
}

/** The reply for a file: conditionals first, then ranges. Takes over a descriptor source. */
function fileReply(req: IncomingMessage, { meta, source }: ReadyFile): Reply {
  const precondition = checkPreconditions(req, meta);
  if (precondition !== null) {
    releaseSource(source);
    return precondition === 304 ? { status: 304, headers: meta.common, body: EMPTY } : emptyReply(412, meta.common);
  }
  const size = meta.size;
  const whole = (): Reply => ({
    status: 200,
    headers: meta.ok,
    wire: meta.okWire,
    body: source.kind === "memory" ? { kind: "bytes", data: source.data } : bodyFrom(source, [{ start: 0, end: size - 1 }]),
  });
  // Range is defined for GET only (§14.2); If-Range may turn it back into a plain GET.
  if (req.headers.range === undefined || req.method !== "GET" || !ifRangeAllowsPartial(headerText(req, "if-range"), meta)) return whole();
  const request = parseRangeHeader(req.headers.range, size);
  switch (request.kind) {
    case "none":
      return whole();
    case "unsatisfiable":
      releaseSource(source);
      return emptyReply(416, { ...meta.common, "Content-Range": `bytes */${size}` });
    case "ranges": {
      const [only] = request.ranges;
      if (request.ranges.length === 1 && only) {
        return {
          status: 206,
          headers: { ...meta.common, "Content-Type": meta.contentType, "Content-Length": String(only.end - only.start + 1), "Content-Range": `bytes ${only.start}-${only.end}/${size}` },
          body: bodyFrom(source, [only]),
        };
      }
      return multipartReply(source, request.ranges, meta);
    }
  }
}

/** `multipart/byteranges` (§14.6), its Content-Length counted exactly before a byte is read. */
function multipartReply(source: FileSource, ranges: readonly ByteRange[], meta: FileMeta): Reply {
  // The boundary need only be absent from the parts; 24 random hex digits see to that.
  const boundary = randomHex(12) + randomHex(12);
  const pieces: Piece[] = [];
  let length = 0;
  ranges.forEach((range, i) => {
    const head = Buffer.from(`${i === 0 ? "" : "\r\n"}--${boundary}\r\nContent-Type: ${meta.contentType}\r\nContent-Range: bytes ${range.start}-${range.end}/${meta.size}\r\n\r\n`);
    pieces.push(head, range);
    length += head.length + range.end - range.start + 1;
  });
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  pieces.push(tail);
  return {
    status: 206,
    headers: { ...meta.common, "Content-Type": `multipart/byteranges; boundary=${boundary}`, "Content-Length": String(length + tail.length) },
    body: bodyFrom(source, pieces),
  };
}

function randomHex(digits: number): string {
  return Math.floor(Math.random() * 16 ** digits).toString(16).padStart(digits, "0");
}

/** Thrown mid-body when the file holds fewer bytes than we promised in Content-Length. */
class FileShrankError extends Error {
  constructor() {
    super("file shrank while it was being sent");
  }
}

/** Large enough that a big file moves in few reads and writes; small enough for many at once. */
const READ_CHUNK = 512 * 1024;

/**
 * Streams a file body from its descriptor, one chunk per read, so memory stays flat whatever the
 * size, with backpressure from the socket. Bytes appended since the stat are not sent (we promised
 * a length); a file that shrank destroys the stream, and so the socket, so the client sees the short
 * body at once instead of waiting. The descriptor is closed however the stream ends.
 */
class FileBodyStream extends Readable {
  private index = 0;
  private position: number;

  constructor(
    private readonly fd: number,
    private readonly pieces: readonly Piece[],
    private readonly progress: Progress,
  ) {
    super({ highWaterMark: READ_CHUNK });
    this.position = this.rangeStart();
  }

  private rangeStart(): number {
    const piece = this.pieces[this.index];
    return piece === undefined || Buffer.isBuffer(piece) ? 0 : piece.start;
  }

  private advance(): void {
    this.index++;
    this.position = this.rangeStart();
  }

  override _read(): void {
    const piece = this.pieces[this.index];
    if (piece === undefined) return void this.push(null);
    if (Buffer.isBuffer(piece)) {
      this.advance();
      this.progress.bytes += piece.length;
      return void this.push(piece);
    }
    const want = Math.min(READ_CHUNK, piece.end - this.position + 1);
    read(this.fd, Buffer.allocUnsafe(want), 0, want, this.position, (error, bytesRead, buffer) => {
      if (error) return this.destroy(error);
      if (bytesRead === 0) return this.destroy(new FileShrankError());
      this.position += bytesRead;
      if (this.position > piece.end) this.advance();
      this.progress.bytes += bytesRead;
      this.push(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    close(this.fd, () => callback(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Folders: index files and the listing
// ---------------------------------------------------------------------------------------------

const INDEX_NAMES = [Buffer.from("index.html"), Buffer.from("index.htm")];

/** The segments of the folder's `index.html`, else `index.htm` (a folder of that name does not count). */
function findIndex(segments: readonly Buffer[], policy: Policy): { segments: Buffer[]; found: Found } | null {
  for (const name of INDEX_NAMES) {
    const indexSegments = [...segments, name];
    const found = locate(indexSegments, policy);
    if (found?.kind === "file") return { segments: indexSegments, found };
  }
  return null;
}

/** A folder's names as read and prepared for listing, with whether each is a symlink. */
interface FolderVersion {
  stats: Stats;
  names: ReadonlyArray<{ listed: ListedName; symlink: boolean }>;
}

/**
 * A folder's names (as Buffers: they need not be UTF-8), from the cache or from readdir. Left out
 * is exactly what would not be served: dotfiles (symlinks leading out are judged per request).
 */
function folderNames(found: Found, policy: Policy): FolderVersion["names"] {
  const cached = policy.folders.get(found.fsPath, found.stats);
  if (cached) return cached.names;
  const statedAt = Date.now();
  const stats = statSync(found.fsPath); // the stat must come before the read, as for files
  const dirents = readdirSync(found.fsPath, { withFileTypes: true, encoding: "buffer" });
  const shown = dirents.filter((dirent) => policy.dotfiles || (dirent.name as unknown as Buffer)[0] !== DOT);
  const symlinks = new Set(shown.filter((dirent) => dirent.isSymbolicLink()).map((dirent) => dirent.name as unknown as Buffer));
  const names = prepareNames(shown.map((dirent) => dirent.name as unknown as Buffer)).map((listed) => ({ listed, symlink: symlinks.has(listed.name) }));
  policy.folders.put(found.fsPath, { stats, names }, statedAt);
  return names;
}

/**
 * The listing's rows: every entry stat'ed now, so sizes and dates are current. Symlinks that lead
 * out of the root are hidden; an entry that cannot be stat'ed (a dangling link, no permission) is
 * listed without details.
 */
function listingRows(found: Found, policy: Policy): Array<{ isFolder: boolean; html: string }> {
  const rows: Array<{ isFolder: boolean; html: string }> = [];
  for (const { listed, symlink } of folderNames(found, policy)) {
    const entryPath = joinBytes(found.fsPath, [listed.name]);
    if (symlink && !policy.followSymlinks) {
      const real = tryFs(() => realpathSync.native(entryPath, { encoding: "buffer" }));
      if (real !== undefined && !isInsideRoot(real, policy)) continue;
    }
    let stats: Stats | undefined;
    try {
      stats = statSync(entryPath, { throwIfNoEntry: false });
      if (stats === undefined && !symlink) continue; // gone since the folder was read
    } catch {
      stats = undefined; // no permission, a loop: listed, without details
    }
    const isFolder = stats?.isDirectory() ?? false;
    const details = { isFolder, symlink, size: stats?.isFile() ? stats.size : null, mtimeMs: stats ? stats.mtimeMs : null };
    rows.push({ isFolder, html: renderRow(listed, details) });
  }
  return rows;
}

/** The result of a file-system call, or undefined when it failed (for best-effort details). */
function tryFs<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}

function listingReply(target: Extract<TargetPath, { kind: "path" }>, found: Found, policy: Policy): Reply {
  const displayPath = "/" + target.segments.map((s) => s.toString("utf8") + "/").join("");
  return htmlPage(200, renderListing(displayPath, listingRows(found, policy), target.segments.length === 0));
}

// ---------------------------------------------------------------------------------------------
// The pure middle: a parsed GET/HEAD to a reply
// ---------------------------------------------------------------------------------------------

/** Answers a GET or HEAD for a path. Throws fs errors and refusals; the edge maps them. */
function replyForPath(req: IncomingMessage, target: Extract<TargetPath, { kind: "path" }>, policy: Policy): Reply | NotFound {
  const found = locate(target.segments, policy);
  if (found === null) return NOT_FOUND;
  if (found.kind === "outside") return new NotFound(found.note);
  if (found.kind === "file") return target.slash ? NOT_FOUND : replyForFile(req, target.segments, found, policy);
  if (!target.slash) return emptyReply(301, { Location: folderLocation(target.segments, target.query) });
  const index = findIndex(target.segments, policy);
  if (index) return replyForFile(req, index.segments, index.found, policy);
  if (!policy.listing) return new NotFound("folder has no index.html and --no-listing is on");
  return listingReply(target, found, policy);
}

/** No reply of our own: the 404 page (or next()) answers, and the log says why when we know. */
class NotFound {
  constructor(readonly note?: string) {}
}
const NOT_FOUND = new NotFound();

/** How often to look again at a file that keeps changing between its stat and its read. */
const MAX_ATTEMPTS = 3;

/** The reply for the file `found` at `segments`. A file rewritten faster than we can read it is a 503. */
function replyForFile(req: IncomingMessage, segments: readonly Buffer[], found: Found, policy: Policy): Reply | NotFound {
  for (let attempt = 1; ; attempt++) {
    const file = readyFile(found, policy);
    if (file !== "changed") return fileReply(req, file);
    if (attempt === MAX_ATTEMPTS) return { ...errorPage(503), note: "file kept changing while being read" };
    const again = locate(segments, policy);
    if (again?.kind !== "file") return NOT_FOUND;
    found = again;
  }
}

const NOT_FOUND_PAGE = [Buffer.from("404.html")];

/** The 404 page: the root's own `404.html` when there is one, else a generic page. */
function notFoundReply(policy: Policy, hasNext: boolean, note?: string): Reply | "next" {
  if (hasNext) return "next";
  const found = tryFs(() => locate(NOT_FOUND_PAGE, policy));
  const page = found?.kind === "file" ? tryFs(() => readyFile(found, policy)) : undefined;
  if (page === undefined || page === "changed") return note === undefined ? errorPage(404) : { ...errorPage(404), note };
  const size = page.meta.size;
  return {
    status: 404,
    note,
    headers: { "Content-Type": "text/html; charset=utf-8", "Content-Length": String(size), "Cache-Control": "no-cache" },
    body: bodyFrom(page.source, [{ start: 0, end: size - 1 }]),
  };
}

// ---------------------------------------------------------------------------------------------
// The edge: methods, CORS, extra headers, logging, errors, and writing to the socket
// ---------------------------------------------------------------------------------------------

const ALLOW = "GET, HEAD, OPTIONS";

/** Request targets seen recently, resolved: the same URL always resolves the same way. */
const MAX_REMEMBERED_TARGETS = 1000;

/** Builds the request handler. Decides everything it can once, here, rather than per request. */
export async function createHandler(options: HandlerOptions = {}): Promise<Handler> {
  const rootReal = realpathSync.native(path.resolve(options.root ?? "."), { encoding: "buffer" });
  if (!statSync(rootReal).isDirectory()) throw Object.assign(new Error("root is not a folder"), { code: "ENOTDIR" });
  const cors = options.cors ?? false;
  const userHeaders = validateExtraHeaders(options.headers ?? {});
  const policy: Policy = {
    rootReal,
    rootPrefix: rootReal.at(-1) === SEPARATOR[0] ? rootReal : Buffer.concat([rootReal, SEPARATOR]),
    dotfiles: options.dotfiles ?? false,
    followSymlinks: options.followSymlinks ?? false,
    listing: options.listing ?? true,
    cors,
    cacheControl: options.cacheSeconds === undefined ? "no-cache" : `max-age=${Math.max(0, Math.floor(options.cacheSeconds))}`,
    edgeHeaders: edgeHeaders(cors, userHeaders),
    userHeaderNames: new Set(userHeaders.map(([name]) => name.toLowerCase())),
    cache: new RevalidatedCache<CachedFile>(4096, 32 * 1024 * 1024, (entry) => entry.data.length),
    folders: new RevalidatedCache<FolderVersion>(64),
  };
  const onError = options.onError ?? defaultOnError;
  const onResponse = options.onResponse;
  const targets = new Map<string, TargetPath>();
  const resolveTarget = (url: string): TargetPath => {
    let target = targets.get(url);
    if (target === undefined) {
      target = resolveTargetPath(url, policy.dotfiles);
      if (targets.size >= MAX_REMEMBERED_TARGETS) targets.clear();
      targets.set(url, target);
    }
    return target;
  };

  return function serveHere(req, res, next) {
    const started = performance.now();
    const progress: Progress = { bytes: 0, note: undefined };
    if (onResponse) {
      const client = clientAddress(req.socket); // now: a destroyed socket no longer knows its peer
      res.once("close", () => {
        onResponse({
          time: new Date(),
          client,
          method: req.method ?? "-",
          url: req.url ?? "",
          status: res.statusCode,
          bytes: progress.bytes,
          note: progress.note,
          ms: performance.now() - started,
          completed: res.writableFinished,
        });
      });
    }
    const failed = (error: unknown) => {
      onError(error, req);
      if (res.headersSent) return void res.destroy();
      sendReply(req, res, errorPage(500), policy, progress);
    };
    try {
      const reply = replyFor(req, resolveTarget, policy, onError, next !== undefined);
      if (reply === "next") return next!();
      sendReply(req, res, reply, policy, progress)?.catch(failed);
    } catch (error) {
      failed(error);
    }
  };
}

/**
 * Decides the whole answer to a request before a byte is written: "next" when a Connect/Express
 * `next` should have the 404 instead. Refusals and file-system errors become statuses here.
 */
function replyFor(req: IncomingMessage, resolveTarget: (url: string) => TargetPath, policy: Policy, onError: NonNullable<HandlerOptions["onError"]>, hasNext: boolean): Reply | "next" {
  const method = req.method ?? "";
  if (method !== "GET" && method !== "HEAD") {
    if (hasNext) return "next"; // under Connect/Express, other methods belong to the routes after us
    if (method === "OPTIONS") return emptyReply(204, optionsHeaders(req, policy));
    return emptyReply(405, { Allow: ALLOW });
  }
  const target = resolveTarget(req.url ?? "/");
  if (target.kind === "refuse") return target.status === 400 ? { ...errorPage(400), note: target.reason } : notFoundReply(policy, hasNext, target.reason);
  let status: number;
  let note: string | undefined;
  try {
    const reply = replyForPath(req, target, policy);
    if (!(reply instanceof NotFound)) return reply;
    status = 404;
    note = reply.note;
  } catch (error) {
    status = statusForError(error);
    note = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : undefined);
    if (status === 500) onError(error, req);
  }
  if (status !== 404) return { ...errorPage(status), note };
  if (!target.utf8) return { ...errorPage(400), note: "path is not UTF-8 and names nothing" };
  return notFoundReply(policy, hasNext, note);
}

/** What the access log learns as a reply goes out. */
interface Progress {
  /** Body bytes handed to the socket so far. */
  bytes: number;
  note: string | undefined;
}

/**
 * Writes a reply: headers, then the body unless HEAD. Bytes go in one write; file bodies stream
 * with backpressure, and when the client leaves or the file shrinks the socket is destroyed, so a
 * client sees a short body at once. Returns a promise only while a file body streams.
 */
function sendReply(req: IncomingMessage, res: ServerResponse, reply: Reply, policy: Policy, progress: Progress): Promise<void> | undefined {
  const body = reply.body;
  progress.note = reply.note;
  if (res.destroyed) return void release(body);
  // Node only reads the list (its types ask for a mutable array).
  res.writeHead(reply.status, (reply.wire ?? headerList(reply.headers, policy)) as string[]);
  if (req.method === "HEAD" || body.kind === "empty") {
    release(body);
    return void res.end();
  }
  if (body.kind === "bytes") {
    progress.bytes = body.data.length;
    return void res.end(body.data);
  }
  return new Promise((resolve, reject) => {
    whenConnectionIsOurs(res, req.socket, (ours) => {
      if (!ours || res.destroyed) return resolve(release(body));
      pipeline(new FileBodyStream(body.fd, body.pieces, progress), res, (error) => {
        const clientLeft = (error as NodeJS.ErrnoException | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE";
        if (!error || clientLeft || error instanceof FileShrankError) resolve();
        else reject(error);
      });
    });
  });
}

/** Callbacks of responses waiting for their connection, run if it closes first; one listener per socket. */
const waitingOn = new WeakMap<Socket, Set<() => void>>();

/**
 * Calls `start(true)` once `res` owns its connection, or `start(false)` if the connection closes
 * first. A pipelined response waits in Node's queue behind the ones before it, and if the
 * connection dies meanwhile Node never hands it the socket nor ends it: a file streamed into it
 * would wait for ever, holding its descriptor.
 */
function whenConnectionIsOurs(res: ServerResponse, socket: Socket, start: (ours: boolean) => void): void {
  if (res.socket) return start(true);
  if (socket.destroyed) return start(false);
  let waiting = waitingOn.get(socket);
  if (waiting === undefined) {
    const callbacks = new Set<() => void>();
    socket.once("close", () => callbacks.forEach((callback) => callback()));
    waitingOn.set(socket, (waiting = callbacks));
  }
  const onClose = () => {
    res.off("socket", onSocket);
    start(false);
  };
  const onSocket = () => {
    waiting.delete(onClose);
    start(true);
  };
  waiting.add(onClose);
  res.once("socket", onSocket);
}

/** A reply's headers as Node's flat list, with the edge's added and the user's replacing ours. */
function headerList(headers: Readonly<Record<string, string>>, policy: Policy): string[] {
  const list: string[] = [];
  const replaced = policy.userHeaderNames;
  for (const name in headers) {
    if (replaced.size === 0 || !replaced.has(name.toLowerCase())) list.push(name, headers[name]!);
  }
  for (const item of policy.edgeHeaders) list.push(item);
  return list;
}

/** Headers every reply carries: nosniff, CORS when asked for, and the user's own. */
function edgeHeaders(cors: boolean, userHeaders: ReadonlyArray<readonly [string, string]>): string[] {
  const ours: Array<[string, string]> = [["X-Content-Type-Options", "nosniff"]];
  if (cors) {
    ours.push(["Access-Control-Allow-Origin", "*"]);
    ours.push(["Access-Control-Expose-Headers", "Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges"]);
  }
  const replaced = new Set(userHeaders.map(([name]) => name.toLowerCase()));
  return [...ours.filter(([name]) => !replaced.has(name.toLowerCase())), ...userHeaders].flat();
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
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  // An fs error's message holds the decoded path, which the client chose (`/%1b[2J`): escape it too.
  process.stderr.write(`serve-here: error answering ${escapeControl(`${req.method} ${req.url}`)}: ${detail.split("\n").map(escapeControl).join("\n")}\n`);
}

/** Escapes control characters so a request cannot write terminal escapes into a log. */
export function escapeControl(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** One access-log line: time, client, method, target, status, bytes, milliseconds, and why when refused. */
export function formatLogLine(e: AccessLogEntry): string {
  const time = e.time.toISOString().replace(/\.\d+Z$/, "Z");
  const status = e.completed ? String(e.status) : `${e.status} (aborted)`;
  const note = e.note === undefined ? "" : ` (${escapeControl(e.note)})`;
  return `${time} ${e.client} ${escapeControl(e.method)} ${escapeControl(e.url)} ${status} ${e.bytes} ${e.ms.toFixed(1)}ms${note}`;
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
/** How long a connection we refused may go on sending before it is cut (see `lastWordOn`). */
const LINGER_MS = 2_000;

export async function startServer(options: ServerOptions = {}): Promise<StartedServer> {
  const handler = await createHandler(options);
  const server = http.createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, connectionsCheckingInterval: 1_000 },
    (req, res) => handler(req, res),
  );
  // Node closes a connection after a `Connection: close` request's answer with destroySoon();
  // make that a lingering close too, or requests pipelined after it would turn the close into a reset.
  server.on("connection", (socket: Socket) => {
    socket.destroySoon = () => lingeringClose(socket);
  });

  // The handler never reads a request body, so `Expect: 100-continue` gets the final answer at once
  // (RFC 9110 §10.1.1). Node's automatic interim 100, for a pipelined request, can land after the
  // final response's head, inside its body.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => handler(req, res));

  // A malformed request never reaches the handler; answer it plainly instead of Node's silent close.
  // Node reports the same broken parse again when more bytes arrive: the first report decides.
  const refused = new WeakSet<Duplex>();
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (refused.has(socket)) return void (error.code === "ERR_HTTP_REQUEST_TIMEOUT" && socket.destroy());
    if (!socket.writable || error.code === "ECONNRESET") return void socket.destroy();
    refused.add(socket);
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    lastWordOn(socket, status, {}, { client: clientAddress(socket as Socket), method: "-", url: "-", note: error.code ?? "malformed request" });
  });

  // CONNECT asks us to be a proxy, which we are not; unheard, Node would drop the connection silently.
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    lastWordOn(socket, 405, { Allow: ALLOW }, { client: clientAddress(socket), method: "CONNECT", url: req.url ?? "", note: "not a proxy" });
  });

  /**
   * Ends a connection with a bare status of our own, after every response still owed on it: the
   * requests pipelined before the bad one get their answers, in order, first (a status line now
   * would answer the wrong request, or land inside a body on the wire). Then `lingeringClose`.
   */
  function lastWordOn(socket: Duplex, status: number, headers: Record<string, string>, log: Pick<AccessLogEntry, "client" | "method" | "url" | "note">): void {
    afterOwedResponses(socket, () => {
      if (!socket.writable) return void socket.destroy();
      const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`);
      lingeringClose(socket);
      options.onResponse?.({ time: new Date(), status, bytes: 0, ms: 0, completed: true, ...log });
    });
  }

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

/**
 * Closes a connection as nginx's lingering close does: a FIN after what was written, then what the
 * client still sends is read and dropped until it closes too, or LINGER_MS. Closing a socket with
 * unread input makes the kernel send a reset, and a reset makes the client's side throw away the
 * end of the last answer before the client has read it. The timer bounds a client that never stops.
 */
function lingeringClose(socket: Duplex): void {
  socket.end();
  socket.removeAllListeners("data"); // Node's parser: nothing more is parsed, so nothing is answered
  socket.resume();
  socket.once("end", () => socket.destroy());
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** Runs `then` once every response owed on this connection has been written (at once if none). */
function afterOwedResponses(socket: Duplex, then: () => void): void {
  // `_httpMessage` is the response that owns the socket now, as Node's own default handler reads it.
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!current) return then();
  const next = () => {
    current.off("finish", next).off("close", next);
    // On "finish" Node has already handed the socket to the next queued response, if any.
    if (!socket.destroyed) afterOwedResponses(socket, then);
  };
  current.once("finish", next).once("close", next);
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
