/**
 * From segments to a file or folder, confined to the root: the one place that joins paths, walks
 * symlinks and opens what a request may read. Every feature asks here what a path may name.
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, mkdirSync, opendirSync, openSync, realpathSync, statSync, type Stats } from "node:fs";
import http from "node:http";
import path from "node:path";
import type { Policy } from "./policy.js";
import { DOT, isUploadTemp, UPLOAD_TEMP_PREFIX } from "./target.js";

//
// Metadata calls (lstat, open, fstat, readdir) are made synchronously, as nginx and darkhttpd make
// them inline in their event loops. On a local disk each one is a microsecond or two from the
// kernel's caches; through libuv's thread pool each costs a round trip of tens of microseconds and a
// promise, and on a busy core the pool's threads compete with the loop itself (profiled: 1.3k vs
// 25k req/s for nginx). The price: on a slow file system (NFS, a sleeping USB disk) one call
// stalls every client for its duration. Reading the contents of large files stays asynchronous.

/** An error that already knows its HTTP status (the policy said no, not the file system). */
export class HttpRefusal extends Error {
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
  // Only writes (uploads) meet these.
  EROFS: 403,
  ENOSPC: 507,
  EDQUOT: 507,
};

export function statusForError(error: unknown): number {
  if (error instanceof HttpRefusal) return error.status;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (code && STATUS_FOR_FS_ERROR[code]) || 500;
}

/** What a path inside the root names, with the stats that decided it. Nothing is open yet. */
export interface Found {
  kind: "file" | "folder";
  /** The path to open: the joined path when no link was crossed, else the real path. */
  fsPath: Buffer;
  stats: Stats;
}

export function joinBytes(base: Buffer, segments: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [base];
  for (const segment of segments) parts.push(SEPARATOR, segment);
  return Buffer.concat(parts);
}
export const SEPARATOR = Buffer.from(path.sep);

export function isInsideRoot(real: Buffer, policy: Policy): boolean {
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
export function locate(segments: readonly Buffer[], policy: Policy): Found | typeof LEADS_OUT | null {
  const fsPath = joinedPath(segments, policy);
  if (policy.followSymlinks) return classify(fsPath, statSync(fsPath, MISSING_IS_UNDEFINED));
  let stats: Stats | undefined;
  let end = policy.rootReal.length;
  for (const segment of segments) {
    end += SEPARATOR.length + segment.length;
    stats = lstatSync(end === fsPath.length ? fsPath : fsPath.subarray(0, end), MISSING_IS_UNDEFINED);
    if (stats === undefined) return null;
    if (stats.isSymbolicLink()) return locateThroughLinks(fsPath, policy);
    if (end < fsPath.length && !stats.isDirectory()) return null; // `/file.txt/x`
  }
  return classify(fsPath, stats ?? statSync(fsPath));
}

/** Made once: `locate` runs on every request. */
const MISSING_IS_UNDEFINED = { throwIfNoEntry: false } as const;

/**
 * Segments arrays are made once per request target (the handler remembers what each URL resolved
 * to), so each is joined to the root once too, not on every request for it. The root is part of the
 * key: constant segments (`404.html`) are shared by every handler in the process.
 */
const joinedPaths = new WeakMap<readonly Buffer[], { root: Buffer; fsPath: Buffer }>();

function joinedPath(segments: readonly Buffer[], policy: Policy): Buffer {
  const joined = joinedPaths.get(segments);
  if (joined !== undefined && joined.root === policy.rootReal) return joined.fsPath;
  const fsPath = joinBytes(policy.rootReal, segments);
  joinedPaths.set(segments, { root: policy.rootReal, fsPath });
  return fsPath;
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

/** A name in a folder as readdir gave it (bytes: it need not be UTF-8), and whether it is a symlink. */
export interface FolderName {
  name: Buffer;
  symlink: boolean;
}

/**
 * The names in a folder that a request could name: without `dotfiles`, none that starts with `.`.
 * Listings and zips show exactly these; symlinks that lead out are judged per entry (`locateEntry`).
 */
export function readFolderNames(folder: Found, policy: Policy): FolderName[] {
  const names: FolderName[] = [];
  eachFolderName(folder, policy, (name, type) => names.push({ name: Buffer.from(name, "latin1"), symlink: type === "symlink" }));
  return names;
}

const UPLOAD_TEMP_PREFIX_LATIN1 = UPLOAD_TEMP_PREFIX.toString("latin1");

/**
 * Calls `visit` with each name `readFolderNames` gives, as a latin1 string (one char per byte, so
 * the bytes are exact, whatever they are), and the type readdir saw. The folder is read a batch
 * at a time and no name becomes a Buffer of its own: a folder of 100,000 names never holds
 * 100,000 directory entries, nor leaves 100,000 buffers for the collector.
 */
export function eachFolderName(folder: Found, policy: Policy, visit: (name: string, type: "folder" | "file" | "symlink" | "other") => void): void {
  const dir = opendirSync(folder.fsPath, { encoding: "latin1", bufferSize: 1024 });
  try {
    for (let dirent = dir.readSync(); dirent !== null; dirent = dir.readSync()) {
      const name = dirent.name;
      // An upload in progress is never shown, whatever --dotfiles says (upload.ts).
      if ((!policy.dotfiles && name.charCodeAt(0) === DOT) || name.startsWith(UPLOAD_TEMP_PREFIX_LATIN1)) continue;
      visit(name, dirent.isSymbolicLink() ? "symlink" : dirent.isDirectory() ? "folder" : dirent.isFile() ? "file" : "other");
    }
  } finally {
    dir.closeSync();
  }
}

/** A name in a folder given by its path in that folder (`entryPath`), which a caller may keep between calls. */
export interface EntryPath {
  fsPath: Buffer;
  symlink: boolean;
}

/** The path of the entry `name` in a folder `locate` or `locateEntry` found: the join `locateEntry` would make. */
export function entryPath(folder: Found, name: Buffer): Buffer {
  return joinBytes(folder.fsPath, [name]);
}

/** Stat options for an entry that may be gone: made once, as a listing makes a thousand stats a request. */
const NO_THROW = { throwIfNoEntry: false } as const;

/** An entry that exists but could not be stat'ed: a dangling link, a link loop, no permission. */
const UNREADABLE = { kind: "unreadable" } as const;

/**
 * What a folder's entry names, judged as `locate` judges a request for it: a file or folder
 * (through a link, by its real path, so `openFound` needs no link), another kind of file (FIFO,
 * socket, device: listed, never opened), UNREADABLE, LEADS_OUT for a link out of the root, or
 * null when the entry is gone since the folder was read. `folder` must come from `locate` or from
 * this function, so its path holds no link unless links may be followed.
 */
export function locateEntry(folder: Found, entry: FolderName | EntryPath, policy: Policy): Found | { kind: "other"; stats: Stats } | typeof UNREADABLE | typeof LEADS_OUT | null {
  let fsPath = "fsPath" in entry ? entry.fsPath : joinBytes(folder.fsPath, [entry.name]);
  if (entry.symlink && !policy.followSymlinks) {
    const real = tryFs(() => realpathSync.native(fsPath, { encoding: "buffer" }));
    if (real === undefined) return UNREADABLE;
    if (!isInsideRoot(real, policy)) return LEADS_OUT;
    fsPath = real;
  }
  const stats = entryStats(fsPath, entry.symlink, policy);
  if (stats === null) return null;
  if (stats === "unreadable") return UNREADABLE;
  return classify(fsPath, stats) ?? { kind: "other", stats };
}

/**
 * The stats behind a folder entry's path, as `locateEntry` judges them once a link is resolved
 * (`fsPath` is then its real path, inside the root): null when the entry is gone since the folder
 * was read, "unreadable" when it cannot be stat'ed or has become a link since. A listing calls it
 * for every row that is no link, so it makes nothing but the stat.
 */
export function entryStats(fsPath: Buffer, symlink: boolean, policy: Policy): Stats | "unreadable" | null {
  let stats: Stats | undefined;
  try {
    // Without links, lstat: an entry swapped for a link since readdir must not be followed.
    stats = symlink || policy.followSymlinks ? statSync(fsPath, NO_THROW) : lstatSync(fsPath, NO_THROW);
  } catch {
    return "unreadable";
  }
  if (stats === undefined) return symlink ? "unreadable" : null;
  if (stats.isSymbolicLink()) return "unreadable"; // became a link after readdir: judged on the next read
  return stats;
}

/** The file's identity: while all of it is unchanged, so are its bytes (see `RevalidatedCache`). */

/**
 * Opens the file `locate` found and checks, with fstat, that the descriptor is that very file:
 * if a component was swapped for a link (or the file replaced) in between, the inode differs and
 * the caller looks again. O_NONBLOCK in case it was swapped for a FIFO.
 */
export function openFound(found: Found, policy: Policy): { fd: number; stats: Stats } | "changed" {
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

/** A folder an upload may put files in, found by the same confinement as reads; or why not. */
export type UploadFolder = { kind: "folder"; fsPath: Buffer } | { kind: "refuse"; status: 403 | 404 | 409; reason: string };

/**
 * The folder a write goes into, judged component by component from the root down as `locate`
 * judges reads: a symlink may be crossed only if it lands inside the root (or with
 * `followSymlinks`), and every component must be a folder. With `create`, missing folders are
 * made (default mode), each checked the same way as it appears. Throws fs errors (EACCES…).
 * The path returned is real (links resolved), so what is checked here is where files land.
 */
export function locateUploadFolder(segments: readonly Buffer[], policy: Policy, create: boolean): UploadFolder {
  let current = policy.rootReal;
  for (const segment of segments) {
    const next = joinBytes(current, [segment]);
    let stats = lstatSync(next, { throwIfNoEntry: false });
    if (stats === undefined) {
      if (!create) return { kind: "refuse", status: 404, reason: "no such folder to upload into" };
      makeFolder(next);
      stats = lstatSync(next);
    }
    if (stats.isSymbolicLink()) {
      const real = tryFs(() => realpathSync.native(next, { encoding: "buffer" }));
      if (real === undefined) return { kind: "refuse", status: 409, reason: "a dangling symlink is in the upload path" };
      if (!policy.followSymlinks && !isInsideRoot(real, policy)) return { kind: "refuse", status: 403, reason: "upload folder is a symlink that leads out of the root" };
      current = real;
      stats = statSync(real);
    } else {
      current = next;
    }
    if (!stats.isDirectory()) return { kind: "refuse", status: 409, reason: "a file is in the upload path" };
  }
  return { kind: "folder", fsPath: current };
}

/** mkdir that lets another request make the same folder first. */
function makeFolder(fsPath: Buffer): void {
  try {
    mkdirSync(fsPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/** The path of `name` in a folder `locateUploadFolder` gave: the one join uploads make. */
export function pathInFolder(folder: Extract<UploadFolder, { kind: "folder" }>, name: Buffer): Buffer {
  return joinBytes(folder.fsPath, [name]);
}

/** The result of a file-system call, or undefined when it failed (for best-effort details). */
export function tryFs<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}
