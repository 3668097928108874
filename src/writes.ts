/**
 * The one write path every write method shares (PUT and multipart POST in upload.ts, the WebDAV
 * methods in webdav.ts): the request body through a guard (size limit, idle cut), a hidden
 * temporary file in the target folder, flushed, then given its final name atomically, and the
 * refusals that become statuses at the edge.
 *
 * A reader never sees a partial file: the body streams into `.serve-here-upload-<random>` beside
 * its final name (created with O_EXCL and mode 0600; never read, listed or written as a name), and
 * only a complete, flushed file gets its name: `link()` where nothing may be replaced (it fails
 * with EEXIST, where `rename` would silently overwrite), `rename()` where replacing is allowed (which
 * swaps the name in one step, and replaces a symlink itself, never writing through it). Whatever
 * goes wrong (the client leaves, the body is too large, the disk is full), the temporary file goes.
 */
import { randomBytes } from "node:crypto";
import { close, fchmod, fdatasync, fsync, lstatSync, open, writev, type Stats } from "node:fs";
import { link, rename, unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { Transform, Writable, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { locateUploadFolder, pathInFolder, statusForError, type UploadFolder } from "./locate.js";
import type { Policy } from "./policy.js";
import { errorPage, type Reply, type ServedRequest } from "./reply.js";
import { UPLOAD_TEMP_PREFIX } from "./target.js";

/**
 * A body that sends nothing for this long is cut and its temporary file removed. This replaces
 * the server's whole-request timeout (30 s), which would cut a large upload on a slow LAN: a
 * slow client is fine, a silent one is not. (Time spent waiting on a slow disk counts too: while
 * the disk holds us back we do not read, and a disk silent for 30 s is a disk worth giving up on.)
 */
const BODY_IDLE_MS = 30_000;

/** A refusal of a write with its status and, for the log, why. Thrown inside the write path, made a Reply at its edge (`replyForWriteFailure`). */
export class WriteRefusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Codes a request's stream errors with when the client leaves mid-body. */
const CLIENT_LEFT = new Set(["ECONNRESET", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"]);

/** The reply for a write that failed: a refusal's status, a client that left, or a file-system error's; anything else is rethrown (a 500). */
export function replyForWriteFailure(error: unknown): Reply {
  if (error instanceof WriteRefusal) return { ...errorPage(error.status), note: error.reason };
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== undefined && CLIENT_LEFT.has(code)) return { ...errorPage(400), note: "client left mid-upload; nothing stored" };
  const status = statusForError(error);
  if (status !== 500) return { ...errorPage(status), note: `upload: ${code}` };
  throw error; // unexpected: the handler logs it and answers 500
}

/** The folder a write goes into, confined as reads are (locate.ts); refused when there is none. */
export function writableFolder(segments: readonly Buffer[], policy: Policy, create: boolean): Extract<UploadFolder, { kind: "folder" }> {
  const folder = locateUploadFolder(segments, policy, create);
  if (folder.kind === "refuse") throw new WriteRefusal(folder.status, folder.reason);
  return folder;
}

/**
 * The request body through a guard: more than `maxBytes` (a chunked body has no promise to
 * check in advance) is a 413, and a body that goes silent for BODY_IDLE_MS is cut. Both destroy
 * the request with the stream, and the temporary file is removed.
 */
export function guardedBody(req: ServedRequest, maxBytes: number | null, limitName = "--max-upload"): Transform {
  let received = 0;
  // One timer for the whole body, not one per chunk (a 1 GiB body comes in some 16,000 chunks):
  // each chunk only notes the time, and the timer, when it fires, looks whether the body has been
  // silent long enough or sleeps again for what is left.
  let lastChunkAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const guard: Transform = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      received += chunk.length;
      if (maxBytes !== null && received > maxBytes) return callback(new WriteRefusal(413, `body passed ${limitName} ${maxBytes}`));
      lastChunkAt = Date.now();
      callback(null, chunk);
    },
    flush(callback) {
      clearTimeout(timer);
      callback();
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  const watch = (delay: number) => {
    timer = setTimeout(() => {
      const silent = Date.now() - lastChunkAt;
      if (silent < BODY_IDLE_MS) return watch(BODY_IDLE_MS - silent);
      guard.destroy(new WriteRefusal(408, `no body bytes for ${BODY_IDLE_MS / 1000} s`));
      req.destroy(); // cut the silent client off: no 408 is owed to a client that is not there
    }, delay);
  };
  watch(BODY_IDLE_MS);
  // Not pipeline(): on a 413 the request must stay whole, or its socket would go before the 413 does;
  // the reply closes the connection instead (see `closingIfUnread`). A client that leaves mid-body
  // makes the request error ("aborted"), and that ends the guard too.
  req.on("error", (error) => guard.destroy(error));
  req.on("close", () => {
    if (!req.complete) guard.destroy(Object.assign(new Error("client left mid-body"), { code: "ECONNRESET" }));
  });
  guard.on("error", () => req.unpipe(guard));
  req.pipe(guard);
  return guard;
}

/** What claiming a final name did: made it, replaced a file there, or found it taken. */
export type Outcome = "created" | "replaced" | "taken";

// A numeric descriptor, not a FileHandle: a FileHandle's close() waits for every stream made from
// it to let go, and a stream that must not close it (we fsync first) never does.
const openFd = promisify(open);
const fsyncFd = promisify(fsync);
const fdatasyncFd = promisify(fdatasync);
const writevFd = promisify(writev);
const fchmodFd = promisify(fchmod);
const closeFd = promisify(close);

/** The mode an uploaded file ends with: what a new file gets under this process's umask. */
let finalMode: number | undefined;

/**
 * A hidden temporary file in the target folder, exclusive (O_EXCL) and private (0600) while it
 * fills, so no one, not even the server with --dotfiles, reads it partial. `discard` removes it
 * unless a final name took it over; call it whatever happens.
 */
export class TempFile {
  private fd: number | null;
  private present = true;
  private writer: DiskWriter | null = null;

  private constructor(
    readonly fsPath: Buffer,
    fd: number,
  ) {
    this.fd = fd;
  }

  static async create(folder: Extract<UploadFolder, { kind: "folder" }>): Promise<TempFile> {
    const name = Buffer.concat([UPLOAD_TEMP_PREFIX, Buffer.from(randomBytes(9).toString("base64url"))]);
    const fsPath = pathInFolder(folder, name);
    return new TempFile(fsPath, await openFd(fsPath, "wx", 0o600));
  }

  /** The bytes written so far. */
  get bytesWritten(): number {
    return this.writer?.bytesWritten ?? 0;
  }

  /** Writes the body, with backpressure (memory stays flat), checks its length, flushes it to disk, then closes it. */
  async fill(body: Readable, declared: number | null): Promise<void> {
    const fd = this.fd!;
    const out = (this.writer = new DiskWriter(fd));
    await pipeline(body, out);
    if (declared !== null && out.bytesWritten !== declared) throw new WriteRefusal(400, `body of ${out.bytesWritten} bytes, Content-Length ${declared}`);
    await out.flushed();
    await fsyncFd(fd);
    // 0600 kept it private while partial; whole, it gets the mode any new file would get here.
    // (process.umask() reads by setting and restoring: done once, at the first upload.)
    finalMode ??= 0o666 & ~process.umask();
    await fchmodFd(fd, finalMode);
    await this.close();
  }

  /** Gives the file `finalPath` unless that name exists: link() never replaces, unlike rename(). */
  async claim(finalPath: Buffer): Promise<Outcome> {
    try {
      await link(this.fsPath, finalPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return "taken";
      if (code === "ENAMETOOLONG") throw new WriteRefusal(400, "name too long");
      throw error;
    }
    return "created";
  }

  /** Puts the file at `finalPath` in one step, replacing a file or symlink there (never writing through it). */
  async replace(finalPath: Buffer): Promise<Outcome> {
    const existed = lstatSync(finalPath, { throwIfNoEntry: false }) !== undefined;
    try {
      await rename(this.fsPath, finalPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") throw new WriteRefusal(409, "a folder has that name");
      throw error;
    }
    this.present = false;
    return existed ? "replaced" : "created";
  }

  private async close(): Promise<void> {
    await this.writer?.flushed().catch(() => {}); // never close the descriptor under a flush in progress
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) await closeFd(fd);
  }

  /** Closes and removes the temporary file if it is still ours: after `claim`, the final name holds the bytes. */
  async discard(): Promise<void> {
    await this.close().catch(() => {});
    if (this.present) await unlink(this.fsPath).catch(() => {});
    this.present = false;
  }
}

/**
 * Bytes gathered into one write. The body comes from the socket in chunks of 64 KiB at most, and
 * each write is a round trip through the thread pool; on a busy core those round trips, not the
 * copying, were most of an upload's cost.
 */
const WRITE_BATCH = 1024 * 1024;

/**
 * Bytes written after which a flush to disk starts in the background, while the body still comes:
 * the `fsync` owed at the end then has only the tail left to write out, instead of the whole file
 * (about half a second per GiB here, after the last byte, with the client waiting).
 */
const EARLY_FLUSH = 64 * 1024 * 1024;

/**
 * The body's way into its temporary file, at the next position each time: chunks gathered into
 * writes of up to WRITE_BATCH bytes, or of whatever came within one turn of the event loop (so a
 * slow body still reaches the disk as it comes, and never waits in memory), one write at a time,
 * with backpressure (a full batch holds the next chunks back until it is written), and a flush
 * started every EARLY_FLUSH bytes. The descriptor stays open: the caller fsyncs and closes it.
 */
class DiskWriter extends Writable {
  bytesWritten = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The writes in order: each waits for the one before it. */
  private writes: Promise<void> = Promise.resolve();
  private idleWrite: NodeJS.Immediate | null = null;
  private unflushed = 0;
  private flushing: Promise<void> | null = null;

  constructor(private readonly fd: number) {
    super({ highWaterMark: WRITE_BATCH });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= WRITE_BATCH) return void this.writePending().then(() => callback(), callback);
    callback();
    this.idleWrite ??= setImmediate(() => {
      this.idleWrite = null;
      this.writePending().catch((error: Error) => this.destroy(error));
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.writePending().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.idleWrite) clearImmediate(this.idleWrite);
    callback(error);
  }

  /** Resolves when no write or flush started here is in progress; rejects with a flush's error. */
  async flushed(): Promise<void> {
    await this.writes.catch(() => {});
    while (this.flushing) await this.flushing;
  }

  /** Writes what is pending now, after the writes before it. */
  private writePending(): Promise<void> {
    if (this.idleWrite) clearImmediate(this.idleWrite);
    this.idleWrite = null;
    const buffers = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    const written = this.writes.then(() => this.writeAll(buffers));
    this.writes = written.catch(() => {}); // the error goes to this write's caller; the stream ends with it
    return written;
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    while (buffers.length > 0) {
      const { bytesWritten: written } = await writevFd(this.fd, buffers, this.bytesWritten);
      this.bytesWritten += written;
      this.unflushed += written;
      buffers = remainder(buffers, written); // a short write (rare, for a file) leaves the rest for another
    }
    if (this.unflushed >= EARLY_FLUSH && this.flushing === null) {
      this.unflushed = 0;
      const flush = fdatasyncFd(this.fd).finally(() => void (this.flushing = null));
      flush.catch(() => {}); // reported by flushed(), which the caller awaits before the final fsync
      this.flushing = flush;
    }
  }
}

/** What is left of `buffers` after the first `written` bytes. */
function remainder(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  let index = 0;
  while (index < buffers.length && skip >= buffers[index]!.length) skip -= buffers[index++]!.length;
  const rest = buffers.slice(index);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

/**
 * Empty files this server made for a client that fills them next: a LOCK on a new name makes one
 * (RFC 4918 §7.3), and Finder and Windows' WebClient PUT zero bytes before the real ones. In a drop
 * box (--upload without --overwrite) filling such a file is the one overwrite allowed: it loses
 * nothing, and without it those clients store only empty files there. A file counts only while it
 * is the very file made (same inode) and still empty; filled once, it is like any other.
 */
export class Placeholders {
  private readonly made = new Map<string, { dev: number; ino: number }>();

  /** Notes the empty file at `fsPath` (a real path: its folder resolved) as one a client will fill. */
  remember(fsPath: Buffer): void {
    const stats = lstatSync(fsPath, { throwIfNoEntry: false });
    if (!stats?.isFile() || stats.size !== 0) return;
    // Bounded: a client making empty files by the thousand forgets the oldest, which then stay empty.
    if (this.made.size >= MAX_PLACEHOLDERS) this.made.delete(this.made.keys().next().value!);
    this.made.set(fsPath.toString("latin1"), { dev: stats.dev, ino: stats.ino });
  }

  /** Whether `stats` (lstat of `fsPath`) is a placeholder this server made, still empty. */
  mayFill(fsPath: Buffer, stats: Stats): boolean {
    const made = this.made.get(fsPath.toString("latin1"));
    return made !== undefined && stats.isFile() && stats.size === 0 && stats.ino === made.ino && stats.dev === made.dev;
  }

  forget(fsPath: Buffer): void {
    this.made.delete(fsPath.toString("latin1"));
  }
}

const MAX_PLACEHOLDERS = 10_000;
