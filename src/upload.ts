/**
 * Uploads (`--upload`): `PUT /dir/name` stores the request body as `dir/name`; `POST /dir/` with
 * `multipart/form-data` stores each file of the form in `dir/` (the listing's upload form, `curl -F`).
 *
 *   origin (origin.ts) → target, refused rather than normalised (target.ts) → declared length →
 *   folder, confined as reads are (locate.ts) → 100 Continue → body → hidden temporary file →
 *   fsync → the final name claimed atomically → Reply
 *
 * A reader never sees a partial file: the body streams into `.serve-here-upload-<random>` beside
 * its final name (created with O_EXCL and mode 0600; never read, listed or written as a name), and
 * only a complete, flushed file gets its name: `link()` where nothing may be replaced (it fails
 * with EEXIST, where `rename` would silently overwrite), `rename()` with --overwrite (which swaps
 * the name in one step, and replaces a symlink itself, never writing through it). Whatever goes
 * wrong (the client leaves, the body is too large, the disk is full), the temporary file goes.
 */
import { randomBytes } from "node:crypto";
import { close, fchmod, fdatasync, fsync, lstatSync, open, writev } from "node:fs";
import { link, rename, unlink } from "node:fs/promises";
import { promisify } from "node:util";
import { createRequire } from "node:module";
import { Transform, Writable, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BusboyConstructor } from "@fastify/busboy";
import { scriptFile, type ReadyFile } from "./files.js";
import { encodePathSegment } from "./escape.js";
import { locateUploadFolder, pathInFolder, statusForError, type UploadFolder } from "./locate.js";
import { isCrossSite } from "./origin.js";
import type { Policy, UploadRules } from "./policy.js";
import { errorPage, withHeaders, type Reply, type ServedRequest } from "./reply.js";
import { folderLocation, lastSegment, nameProblem, resolveWriteTarget, UPLOAD_TEMP_PREFIX } from "./target.js";
import { UPLOAD_CLIENT } from "./upload-client.js";

/** The upload script's name under `/__serve-here/` (the listing's form loads it from there). */
export const UPLOAD_SCRIPT_NAME = "upload.js";

/** `/__serve-here/upload.js`, ready to answer from. */
export function uploadScript(policy: Policy): ReadyFile {
  return scriptFile(UPLOAD_CLIENT, "upload", policy);
}

export function isUploadMethod(method: string | undefined): boolean {
  return method === "PUT" || method === "POST";
}

/**
 * A body that sends nothing for this long is cut and its temporary file removed. This replaces
 * the server's whole-request timeout (30 s), which would cut a large upload on a slow LAN: a
 * slow client is fine, a silent one is not. (Time spent waiting on a slow disk counts too: while
 * the disk holds us back we do not read, and a disk silent for 30 s is a disk worth giving up on.)
 */
const BODY_IDLE_MS = 30_000;

/** How many numbered names (`name (1).ext`…) a form's file may try before giving up with 409. */
const MAX_NUMBERED_NAMES = 1000;

/** A refusal with its status and, for the log, why. Thrown inside this module, made a Reply at its edge. */
class UploadRefusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * Receives a `PUT` or `POST` upload and decides its reply. `sendContinue` is called once the
 * request has passed every check that needs no body, just before the body is read, so a client
 * that sent `Expect: 100-continue` learns of a refusal without sending a byte.
 */
export async function receiveUpload(req: ServedRequest, policy: Policy, upload: UploadRules, sendContinue: () => void): Promise<Reply> {
  try {
    if (isCrossSite(req)) throw new UploadRefusal(403, "cross-site upload (Origin or Sec-Fetch-Site)");
    const target = resolveWriteTarget(req.url ?? "/", policy.dotfiles);
    if (target.kind === "refuse") throw new UploadRefusal(400, target.reason);
    const declared = declaredLength(req);
    if (upload.maxBytes !== null && declared !== null && declared > upload.maxBytes) throw new UploadRefusal(413, `Content-Length ${declared} is over --max-upload ${upload.maxBytes}`);
    const reply =
      req.method === "PUT"
        ? await receivePut(req, target.folder, target.name, declared, policy, upload, sendContinue)
        : await receiveForm(req, target.name === null ? target.folder : [...target.folder, target.name], policy, upload, sendContinue);
    return closingIfUnread(req, reply);
  } catch (error) {
    return closingIfUnread(req, replyForFailure(error));
  }
}

/** The body's promised length, or null when it comes chunked. Node's parser has already checked its syntax. */
function declaredLength(req: ServedRequest): number | null {
  const value = req.headers["content-length"];
  return value === undefined || req.headers["transfer-encoding"] !== undefined ? null : Number(value);
}

/**
 * A reply sent before the body was read whole ends the connection (with a lingering close, see
 * server.ts): the rest of the body must not be taken for the next request, and reading a huge
 * one just to throw it away is what the limit is there to avoid.
 */
function closingIfUnread(req: ServedRequest, reply: Reply): Reply {
  // HTTP/2 has no Connection header (node:http2 refuses one): there, an unread stream is reset instead.
  return req.complete || req.httpVersionMajor >= 2 ? reply : withHeaders(reply, { Connection: "close" });
}

/** Codes a request's stream errors with when the client leaves mid-body. */
const CLIENT_LEFT = new Set(["ECONNRESET", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"]);

function replyForFailure(error: unknown): Reply {
  if (error instanceof UploadRefusal) return { ...errorPage(error.status), note: error.reason };
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== undefined && CLIENT_LEFT.has(code)) return { ...errorPage(400), note: "client left mid-upload; nothing stored" };
  const status = statusForError(error);
  if (status !== 500) return { ...errorPage(status), note: `upload: ${code}` };
  throw error; // unexpected: the handler logs it and answers 500
}

/** `PUT /dir/name`: the body becomes `dir/name`, missing folders made; 201, or 204 for a replaced file. */
async function receivePut(req: ServedRequest, folderSegments: readonly Buffer[], name: Buffer | null, declared: number | null, policy: Policy, upload: UploadRules, sendContinue: () => void): Promise<Reply> {
  if (name === null) throw new UploadRefusal(400, "PUT names a folder: add the file's name");
  if (req.headers["content-range"] !== undefined) throw new UploadRefusal(400, "PUT with Content-Range: partial writes are not supported"); // RFC 9110 §14.5
  const folder = writableFolder(folderSegments, policy, true);
  const finalPath = pathInFolder(folder, name);
  const existing = lstatSync(finalPath, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new UploadRefusal(409, "a folder has that name");
  if (existing && !upload.overwrite) throw new UploadRefusal(409, "file exists; --overwrite replaces it");
  const temp = await TempFile.create(folder);
  try {
    sendContinue();
    await temp.fill(guarded(req, upload.maxBytes), declared);
    const outcome = upload.overwrite ? await temp.replace(finalPath) : await temp.claim(finalPath);
    if (outcome === "taken") throw new UploadRefusal(409, "file exists; --overwrite replaces it");
    const location = "/" + [...folderSegments, name].map(encodePathSegment).join("/");
    const note = `stored ${location}`;
    if (outcome === "replaced") return { status: 204, note, headers: {}, body: { kind: "empty" } };
    return { status: 201, note, headers: { Location: location, "Content-Length": "0" }, body: { kind: "empty" } };
  } finally {
    await temp.discard();
  }
}

/**
 * `POST /dir/` with `multipart/form-data`: each file part is stored in `dir/` under the last
 * segment of its name, numbered when taken. A form post (it accepts HTML) is sent back to the
 * folder with 303; any other client gets 201 and a JSON array of the stored files' URLs.
 */
async function receiveForm(req: ServedRequest, folderSegments: readonly Buffer[], policy: Policy, upload: UploadRules, sendContinue: () => void): Promise<Reply> {
  if (!/^multipart\/form-data\s*;/i.test(req.headers["content-type"] ?? "")) throw new UploadRefusal(415, "POST takes multipart/form-data");
  const folder = writableFolder(folderSegments, policy, false);
  sendContinue();
  const names = await storeFormFiles(req, folder, policy, upload);
  if (names.length === 0) throw new UploadRefusal(400, "the form holds no file");
  const urls = names.map((name) => "/" + [...folderSegments, name].map(encodePathSegment).join("/"));
  const note = `stored ${urls.join(", ")}`;
  if (/\btext\/html\b/i.test(req.headers.accept ?? "")) {
    return { status: 303, note, headers: { Location: folderLocation(folderSegments, ""), "Content-Length": "0" }, body: { kind: "empty" } };
  }
  const data = Buffer.from(JSON.stringify(urls) + "\n");
  return { status: 201, note, headers: { "Content-Type": "application/json", "Content-Length": String(data.length), "Cache-Control": "no-store" }, body: { kind: "bytes", data } };
}

function writableFolder(segments: readonly Buffer[], policy: Policy, create: boolean): Extract<UploadFolder, { kind: "folder" }> {
  const folder = locateUploadFolder(segments, policy, create);
  if (folder.kind === "refuse") throw new UploadRefusal(folder.status, folder.reason);
  return folder;
}

// CommonJS packages are required on first use: a server without --upload never loads the parser.
let Busboy: BusboyConstructor | undefined;

/**
 * Streams each file of a multipart body into the folder, one temporary file per part, as the
 * parser meets them. The first failure (a bad name, the limit, a full disk) stops the whole
 * body: the parts being written are dropped, the ones already stored stay (they are whole).
 */
async function storeFormFiles(req: ServedRequest, folder: Extract<UploadFolder, { kind: "folder" }>, policy: Policy, upload: UploadRules): Promise<Buffer[]> {
  Busboy ??= (createRequire(import.meta.url)("@fastify/busboy") as { Busboy: BusboyConstructor }).Busboy;
  const parser = Busboy({
    headers: req.headers as Parameters<BusboyConstructor>[0]["headers"],
    preservePath: true, // the names are cut to their last segment here, by the same rule for `/` and `\`
    isPartAFile: (_field, _type, fileName) => fileName !== undefined,
    // Fields other than files are read and ignored: keep them small and few.
    limits: { fields: 100, fieldSize: 64 * 1024, parts: 10_000, headerPairs: 100 },
  });
  const body = guarded(req, upload.maxBytes);
  const storing: Array<Promise<Buffer>> = [];
  const writing = new Set<Readable>();
  // Both ends: the body may have arrived whole already, and then only the parser is still waiting.
  const stopEverything = (error: unknown) => {
    body.destroy(error as Error);
    parser.destroy(error as Error);
  };
  parser.on("file", (_field, stream, fileName) => {
    // The parser also emits its own errors on the current part, even one already read whole: they
    // reach us through the body's pipeline, so here they are only kept from being unhandled.
    stream.on("error", () => {});
    // A file input left empty sends a part with no name and no bytes: nothing to store.
    if (fileName === "") return void stream.resume();
    const name = Buffer.from(lastSegment(fileName));
    const problem = nameProblem(name, policy.dotfiles);
    if (problem !== null) {
      stream.resume();
      return stopEverything(new UploadRefusal(400, `${problem} (form file name)`));
    }
    writing.add(stream);
    // One after another, so that two files of one name in a form are numbered in the form's order.
    const previous = storing.at(-1)?.catch(() => {}) ?? Promise.resolve();
    const stored = previous.then(() => storeFormFile(stream, folder, name, upload.overwrite)).then(
      (storedName) => (writing.delete(stream), storedName),
      (error: unknown) => {
        writing.delete(stream);
        stopEverything(error);
        throw error;
      },
    );
    stored.catch(() => {}); // awaited below, once the body ends; never an unhandled rejection meanwhile
    storing.push(stored);
  });
  try {
    await pipeline(body, parser);
  } catch (error) {
    // A part cut off mid-way would never end by itself: end it, and wait for its temporary file to go.
    for (const stream of writing) stream.destroy(error as Error);
    await Promise.allSettled(storing);
    if (error instanceof UploadRefusal || (error as NodeJS.ErrnoException).code !== undefined) throw error;
    throw new UploadRefusal(400, `malformed multipart body: ${(error as Error).message}`);
  }
  return Promise.all(storing);
}

/** One file of a form: into a temporary file, then under its name or the first free numbered one. */
async function storeFormFile(stream: Readable, folder: Extract<UploadFolder, { kind: "folder" }>, name: Buffer, overwrite: boolean): Promise<Buffer> {
  const temp = await TempFile.create(folder);
  try {
    await temp.fill(stream, null);
    if (overwrite) {
      await temp.replace(pathInFolder(folder, name));
      return name;
    }
    for (let n = 0; n <= MAX_NUMBERED_NAMES; n++) {
      const candidate = n === 0 ? name : numberedName(name, n);
      if ((await temp.claim(pathInFolder(folder, candidate))) === "created") return candidate;
    }
    throw new UploadRefusal(409, `no free name for ${name.toString()} up to (${MAX_NUMBERED_NAMES})`);
  } finally {
    await temp.discard();
  }
}

/** `photo.jpg` → `photo (1).jpg`; the number goes before the last extension (`a.tar (1).gz`), or at the end (`notes (1)`, `.env (1)`). */
export function numberedName(name: Buffer, n: number): Buffer {
  const text = name.toString("utf8");
  const dot = text.lastIndexOf(".");
  const stemEnd = dot > 0 ? dot : text.length;
  return Buffer.from(`${text.slice(0, stemEnd)} (${n})${text.slice(stemEnd)}`);
}

/**
 * The request body through a guard: more than `maxBytes` (a chunked body has no promise to
 * check in advance) is a 413, and a body that goes silent for BODY_IDLE_MS is cut. Both destroy
 * the request with the stream, and the temporary file is removed.
 */
function guarded(req: ServedRequest, maxBytes: number | null): Transform {
  let received = 0;
  // One timer for the whole body, not one per chunk (a 1 GiB body comes in some 16,000 chunks):
  // each chunk only notes the time, and the timer, when it fires, looks whether the body has been
  // silent long enough or sleeps again for what is left.
  let lastChunkAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const guard: Transform = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      received += chunk.length;
      if (maxBytes !== null && received > maxBytes) return callback(new UploadRefusal(413, `body passed --max-upload ${maxBytes}`));
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
      guard.destroy(new UploadRefusal(408, `no body bytes for ${BODY_IDLE_MS / 1000} s`));
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
type Outcome = "created" | "replaced" | "taken";

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
class TempFile {
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

  /** Writes the body, with backpressure (memory stays flat), checks its length, flushes it to disk, then closes it. */
  async fill(body: Readable, declared: number | null): Promise<void> {
    const fd = this.fd!;
    const out = (this.writer = new DiskWriter(fd));
    await pipeline(body, out);
    if (declared !== null && out.bytesWritten !== declared) throw new UploadRefusal(400, `body of ${out.bytesWritten} bytes, Content-Length ${declared}`);
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
      if (code === "ENAMETOOLONG") throw new UploadRefusal(400, "name too long");
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
      if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") throw new UploadRefusal(409, "a folder has that name");
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
