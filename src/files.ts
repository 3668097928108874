/**
 * What a file response needs to know, decided once per file version: validators, type, and for
 * small files the bytes, kept while a fresh lstat shows the same version (`RevalidatedCache`).
 */
import { closeSync, readSync, type Stats } from "node:fs";
import { createRequire } from "node:module";
import { openFound, SEPARATOR, type Found } from "./locate.js";
import type { Policy } from "./policy.js";
import { headerList, type FileSource } from "./reply.js";
import { DOT } from "./target.js";

// CommonJS packages are required, not imported: importing makes Node lex their source for named
// exports first, which costs start-up time for nothing.
const mime = createRequire(import.meta.url)("mime-types") as typeof import("mime-types");

/** Everything about a file version that its headers say, decided once per version. */
export interface FileMeta {
  size: number;
  /** Strong: it changes with the inode, the size, or the mtime or ctime to the microsecond. */
  etag: string;
  lastModified: string;
  /** mtime in whole seconds, the granularity of HTTP dates. */
  mtimeSeconds: number;
  contentType: string;
  /** ETag, Last-Modified, Cache-Control, Accept-Ranges (and Vary while compression is on): shared by 200, 206, 304, 412 and 416. */
  common: Readonly<Record<string, string>>;
  /** The 304's headers as sent (`headerList` of `common`), made once per version: revalidation is the commonest answer of all. */
  commonWire: readonly string[];
  /** The 200 reply's headers, and the same as sent (`headerList`), made once per version. */
  ok: Readonly<Record<string, string>>;
  okWire: readonly string[];
}

/** The one place validators are made. Cheap: no hashing, nothing read from the file. */
export function fileMeta(stats: Stats, fsPath: Buffer, policy: Policy): FileMeta {
  const etag = etagOf(stats);
  const lastModified = new Date(stats.mtimeMs).toUTCString();
  const contentType = contentTypeFor(fsPath.subarray(fsPath.lastIndexOf(SEPARATOR) + 1));
  const common: Record<string, string> = { ETag: etag, "Last-Modified": lastModified, "Cache-Control": policy.cacheControl, "Accept-Ranges": "bytes" };
  const vary = varyFor(contentType, policy);
  if (vary !== undefined) common.Vary = vary;
  const ok = { ...common, "Content-Type": contentType, "Content-Length": String(stats.size) };
  return {
    size: stats.size,
    etag,
    lastModified,
    mtimeSeconds: Math.floor(stats.mtimeMs / 1000),
    contentType,
    common,
    commonWire: headerList(common, policy),
    ok,
    okWire: headerList(ok, policy),
  };
}

/** A file's strong ETag, as GET, PROPFIND's `getetag` and the If headers know it. */
export function etagOf(stats: Stats): string {
  // ctime too: an edit whose mtime is put back (`cp -p`, rsync, tar, utimes) still moves the ctime,
  // and without it the old ETag would earn a stale 304, or an If-Range splice of old and new bytes.
  const micros = (ms: number) => Math.floor(ms * 1000).toString(36);
  return `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${micros(stats.mtimeMs)}-${micros(stats.ctimeMs)}"`;
}

/**
 * What a file's answer depends on besides its URL, for caches (304, 412 and 416 too): with
 * compression, any file's on Accept-Encoding (a sidecar can stand beside any file); with live
 * reload, an HTML page's on whether it is a navigation (Sec-Fetch-Dest, else Accept).
 */
export function varyFor(contentType: string, policy: Policy): string | undefined {
  const on: string[] = [];
  if (policy.compress) on.push("Accept-Encoding");
  if (policy.live && isHtml(contentType)) on.push("Sec-Fetch-Dest", "Accept");
  return on.length === 0 ? undefined : on.join(", ");
}

export function isHtml(contentType: string): boolean {
  return contentType.startsWith("text/html");
}

const contentTypeByExtension = new Map<string, string>();

/** `Content-Type` for a file name, decided once per extension. `.gz` is a type, never an encoding. */
export function contentTypeFor(name: Buffer): string {
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
export const SMALL_FILE = 256 * 1024;

/** A small file's bytes and headers, valid while its identity (`sameFile`) is unchanged. */
export interface CachedFile {
  stats: Stats;
  /** What `readyFile` hands out for this version, made once (nothing changes a ReadyFile). */
  ready: ReadyFile & { source: { kind: "memory" } };
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
export class RevalidatedCache<T extends { stats: Stats }> {
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
    const key = cacheKey(fsPath);
    const entry = this.entries.get(key);
    if (entry === undefined || sameFile(entry.stats, stats)) return entry;
    this.delete(key, entry);
    return undefined;
  }

  /** Keeps a version whose stats were taken at `statedAt` (ms since the epoch), if it had settled. */
  put(fsPath: Buffer, entry: T, statedAt: number): void {
    const size = this.sizeOf(entry);
    if (statedAt - entry.stats.ctimeMs < RevalidatedCache.SETTLE_MS || size > this.maxBytes) return;
    const key = cacheKey(fsPath);
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

/**
 * The string a path is kept under. Paths come joined once per request target (`locate`), so the
 * same Buffer is looked up again and again: its key is made once, not on every request.
 */
const keys = new WeakMap<Buffer, string>();
function cacheKey(fsPath: Buffer): string {
  let key = keys.get(fsPath);
  if (key === undefined) keys.set(fsPath, (key = fsPath.toString("latin1")));
  return key;
}

/** The file's identity: while all of it is unchanged, so are its bytes (see `RevalidatedCache`). */
function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** A file ready to answer from: its metadata, and its bytes or an open descriptor. */
export interface ReadyFile {
  meta: FileMeta;
  source: FileSource;
  /**
   * The bytes are not the file's own but made from them (live reload's script put into a page):
   * `meta` describes them, ranges do not apply, and a precompressed sidecar of the file would be wrong.
   */
  transformed?: true;
  /** Why the file is sent the way it is, for the log only (e.g. too big to rewrite). */
  note?: string;
}

/** Small files' bytes, kept per version: at most 32 MiB in 4096 files. */
export type FileCache = RevalidatedCache<CachedFile>;

export function newFileCache(): FileCache {
  return new RevalidatedCache<CachedFile>(4096, 32 * 1024 * 1024, (entry) => entry.ready.source.data.length);
}

/**
 * Makes a found file ready to send: from the cache when the version is unchanged; else opened,
 * and read whole if small. "changed" when the file changed under us between the stat and the read.
 */
export function readyFile(found: Found, policy: Policy, cache: FileCache): ReadyFile | "changed" {
  const cached = cache.get(found.fsPath, found.stats);
  if (cached) return cached.ready;
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
  const ready = { meta, source: { kind: "memory", data } } as const;
  cache.put(found.fsPath, { stats: opened.stats, ready }, statedAt);
  return ready;
}

/** Reads up to `size` bytes from the start; fewer only if the file is shorter now. */
export function readWhole(fd: number, size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const n = readSync(fd, data, length, size - length, length);
    if (n === 0) break;
    length += n;
  }
  return length === size ? data : data.subarray(0, length);
}

/** FNV-1a, 32 bits: enough to tell one build's script from another's, without loading node:crypto. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(36);
}

/**
 * One of serve-here's own scripts (live reload's, the upload page's) as a file: its own ETag
 * (`"<tag>-<length>-<hash>"`), `no-cache` so a new version is picked up at once.
 */
export function scriptFile(text: string, tag: string, policy: Policy): ReadyFile {
  const data = Buffer.from(text);
  const started = Date.now();
  const etag = `"${tag}-${data.length.toString(36)}-${fnv1a(text)}"`;
  const lastModified = new Date(started).toUTCString();
  const common = { ETag: etag, "Last-Modified": lastModified, "Cache-Control": "no-cache", "Accept-Ranges": "bytes" };
  const contentType = "text/javascript; charset=utf-8";
  const ok = { ...common, "Content-Type": contentType, "Content-Length": String(data.length) };
  const meta: FileMeta = { size: data.length, etag, lastModified, mtimeSeconds: Math.floor(started / 1000), contentType, common, commonWire: headerList(common, policy), ok, okWire: headerList(ok, policy) };
  return { meta, source: { kind: "memory", data } };
}
