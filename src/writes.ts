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
import { close, constants as fsConstants, fchmod, fdatasync, fstat, fsync, ftruncate, lstatSync, open, writev, type Stats } from "node:fs";
import { link, rename, unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { Transform, Writable, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { locateUploadFolder, pathInFolder, statusForError, type UploadFolder } from "./locate.js";
import { testTimeoutMs, WHOLE_REQUEST_MS, type Policy } from "./policy.js";
import { errorPage, type Reply, type ServedRequest } from "./reply.js";
import { UPLOAD_TEMP_PREFIX } from "./target.js";

/**
 * A body that sends nothing for this long is cut and its temporary file removed. This replaces
 * the server's whole-request timeout (30 s), which would cut a large upload on a slow LAN: a
 * slow client is fine, a silent one is not. (Time spent waiting on a slow disk counts too: while
 * the disk holds us back we do not read, and a disk silent for 30 s is a disk worth giving up on.)
 * Tests shorten it, with the whole-request limit, through SERVE_HERE_TEST_TIMEOUT_MS (policy.ts).
 */
function bodyIdleMs(): number {
  return testTimeoutMs() ?? WHOLE_REQUEST_MS;
}

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

/** How a body guard ends: see `guardedBody`. */
export interface GuardOptions {
  /** The name of the limit in the log; default `--max-upload`. */
  limitName?: string;
  /** The status for a body over the limit; default 413. */
  overStatus?: number;
  /**
   * When the client leaves or goes silent, end the body where it stopped (the bytes before it go
   * through) and note why in `cut`, instead of failing: a resumable upload keeps what arrived.
   */
  keepPartial?: boolean;
  /** Told of each chunk as it passes (a resumable upload notes when its last byte came). */
  onChunk?: () => void;
}

/** A guarded body: `cut` says why it ended early when `keepPartial` let it end (client left, or 408). */
export type GuardedBody = Transform & { cut: Error | null };

/**
 * The request body through a guard: more than `maxBytes` (a chunked body has no promise to
 * check in advance) is a 413, and a body that goes silent for 30 s is cut with a 408, answered
 * where an answer can still be sent (the reply closes the connection: see `closingIfUnread`). Both
 * end the request's flow into the guard, and the temporary file is removed.
 */
export function guardedBody(req: ServedRequest, maxBytes: number | null, limitName = "--max-upload", options: GuardOptions = {}): GuardedBody {
  const idleMs = bodyIdleMs();
  const overStatus = options.overStatus ?? 413;
  let received = 0;
  // One timer for the whole body, not one per chunk (a 1 GiB body comes in some 16,000 chunks):
  // each chunk only notes the time, and the timer, when it fires, looks whether the body has been
  // silent long enough or sleeps again for what is left.
  let lastChunkAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      received += chunk.length;
      if (maxBytes !== null && received > maxBytes) return callback(new WriteRefusal(overStatus, `body passed ${limitName} ${maxBytes}`));
      lastChunkAt = Date.now();
      options.onChunk?.();
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
  }) as GuardedBody;
  guard.cut = null;
  /** The body stops here: with keepPartial it ends cleanly (what came is kept), else it fails. */
  const stop = (error: Error) => {
    if (guard.destroyed || guard.writableEnded) return;
    if (!options.keepPartial) return void guard.destroy(error);
    clearTimeout(timer);
    guard.cut = error;
    req.unpipe(guard);
    guard.end();
  };
  const watch = (delay: number) => {
    timer = setTimeout(() => {
      const silent = Date.now() - lastChunkAt;
      if (silent < idleMs) return watch(idleMs - silent);
      // The request is left as it is: the 408 goes out (with Connection: close), and the socket
      // closes after it; a client that is not there any more never reads it, which costs nothing.
      stop(new WriteRefusal(408, `no body bytes for ${idleMs / 1000} s`));
    }, delay);
  };
  watch(idleMs);
  // Not pipeline(): on a 413 the request must stay whole, or its socket would go before the 413 does;
  // the reply closes the connection instead (see `closingIfUnread`). A client that leaves mid-body
  // makes the request error ("aborted"), and that ends the guard too.
  req.on("error", (error) => stop(error));
  req.on("close", () => {
    if (!req.complete) stop(Object.assign(new Error("client left mid-body"), { code: "ECONNRESET" }));
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
const fstatFd = promisify(fstat);
const ftruncateFd = promisify(ftruncate);

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
    await this.seal();
  }

  /**
   * A file already whole on disk (a resumable upload's part, `appendToPart`), taken up to be given
   * its name: opened without following a link, then `seal`, then `claim` or `replace`.
   */
  static async adopt(fsPath: Buffer): Promise<TempFile> {
    return new TempFile(fsPath, await openFd(fsPath, fsConstants.O_WRONLY | fsConstants.O_NOFOLLOW));
  }

  /** Flushes the whole file to disk, gives it the mode a new file gets here, and closes it. */
  async seal(): Promise<void> {
    const fd = this.fd!;
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
      // The name may already be this very file: a resumed finish after a crash between link and unlink.
      if (code === "EEXIST") return sameFile(this.fsPath, finalPath) ? "created" : "taken";
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

  /**
   * Gives the file `name` in `folder`, or, when that is taken, the first free of `name (1).ext`,
   * `name (2).ext`…: the name it got. Never replaces a file.
   */
  async claimFree(folder: Extract<UploadFolder, { kind: "folder" }>, name: Buffer): Promise<Buffer> {
    for (let n = 0; n <= MAX_NUMBERED_NAMES; n++) {
      const candidate = n === 0 ? name : numberedName(name, n);
      if ((await this.claim(pathInFolder(folder, candidate))) === "created") return candidate;
    }
    throw new WriteRefusal(409, `no free name for ${name.toString()} up to (${MAX_NUMBERED_NAMES})`);
  }

  private async close(): Promise<void> {
    await this.writer?.flushed().catch(() => {}); // never close the descriptor under a flush in progress
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) await closeFd(fd);
  }

  /** Closes the file and leaves it where it is: a resumable upload's part that could not be named yet keeps its bytes. */
  async keep(): Promise<void> {
    await this.close().catch(() => {});
    this.present = false;
  }

  /** Closes and removes the temporary file if it is still ours: after `claim`, the final name holds the bytes. */
  async discard(): Promise<void> {
    await this.close().catch(() => {});
    if (this.present) await unlink(this.fsPath).catch(() => {});
    this.present = false;
  }
}

/** Whether two paths name one file (same inode), neither followed if a link. */
function sameFile(a: Buffer, b: Buffer): boolean {
  const one = lstatSync(a, { throwIfNoEntry: false });
  const two = lstatSync(b, { throwIfNoEntry: false });
  return one !== undefined && two !== undefined && one.isFile() && one.ino === two.ino && one.dev === two.dev;
}

/** How many numbered names (`name (1).ext`…) a file may try before giving up with 409. */
const MAX_NUMBERED_NAMES = 1000;

/** `photo.jpg` → `photo (1).jpg`; the number goes before the last extension (`a.tar (1).gz`), or at the end (`notes (1)`, `.env (1)`). */
export function numberedName(name: Buffer, n: number): Buffer {
  const text = name.toString("utf8");
  const dot = text.lastIndexOf(".");
  const stemEnd = dot > 0 ? dot : text.length;
  return Buffer.from(`${text.slice(0, stemEnd)} (${n})${text.slice(stemEnd)}`);
}

/** Makes a resumable upload's part: empty, exclusive (O_EXCL) and private (0600), like a temporary file. */
export async function createPart(fsPath: Buffer): Promise<void> {
  await closeFd(await openFd(fsPath, "wx", 0o600));
}

/**
 * Appends `body` to a resumable upload's part at `offset` (its size, which the caller checked
 * while holding the upload), through the same batched writer as every upload. Whatever arrived is
 * kept, even when the body fails: the writes in flight finish, then `fdatasync`, so the size
 * reported afterwards (and to the next HEAD) survives a crash or a power cut. Gives the part's
 * size after, and the body's error if it failed (never thrown: the caller decides what it costs).
 */
export async function appendToPart(fsPath: Buffer, body: Readable, offset: number): Promise<{ size: number; error: unknown }> {
  const fd = await openFd(fsPath, fsConstants.O_WRONLY | fsConstants.O_NOFOLLOW);
  try {
    const out = new DiskWriter(fd, offset);
    let failure: unknown = null;
    await pipeline(body, out).catch((error: unknown) => void (failure = error));
    await out.flushed().catch((error: unknown) => void (failure ??= error));
    await fdatasyncFd(fd);
    const { size } = await fstatFd(fd);
    return { size, error: failure };
  } finally {
    await closeFd(fd);
  }
}

/** Cuts a part back to `size` bytes, durably: what a refused request sent is not kept. */
export async function truncatePart(fsPath: Buffer, size: number): Promise<void> {
  const fd = await openFd(fsPath, fsConstants.O_WRONLY | fsConstants.O_NOFOLLOW);
  try {
    await ftruncateFd(fd, size);
    await fdatasyncFd(fd);
  } finally {
    await closeFd(fd);
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

  /** Writes at `start` and on: 0 for a new file, the part's size for a resumed upload. */
  constructor(
    private readonly fd: number,
    private readonly start = 0,
  ) {
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
      const { bytesWritten: written } = await writevFd(this.fd, buffers, this.start + this.bytesWritten);
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
