/**
 * Folders as zip archives: `GET /dir/?download=zip` streams `dir.zip`, the folder with everything
 * below it that serve-here would serve (the listing's judgement, from `locate.ts`: no dotfiles
 * unless --dotfiles, no symlinks leading out unless --follow-symlinks). The archive is written by
 * `yazl` as the client reads it: one file open at a time, memory flat whatever the sizes, no
 * temporary file, ZIP64 when a file or the whole passes 4 GiB. Types that are compressed already,
 * and files too small to gain (compress.ts's judgement for HTTP), are stored, the rest deflated.
 */
import { closeSync, constants as fsConstants, createReadStream, type Stats } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pipeline, Readable, Transform, type TransformCallback } from "node:stream";
import { isUtf8 } from "node:buffer";
import zlib from "node:zlib";
import type { ZipFile } from "yazl";
import { worthCompressing } from "./compress.js";
import { contentTypeFor, readWhole, SMALL_FILE } from "./files.js";
import { locateEntry, openFound, readFolderNames, statusForError, type Found } from "./locate.js";
import type { Policy } from "./policy.js";
import type { Reply } from "./reply.js";
import type { TargetPath } from "./target.js";

/** `?download=zip` on a folder's URL; any other value, or none, is an ordinary request. */
export function archiveRequested(target: Extract<TargetPath, { kind: "path" }>, policy: Policy): boolean {
  // --no-listing keeps a folder's names private; a zip would hand them all out.
  if (!policy.listing || !target.query.includes("download=")) return false;
  return new URLSearchParams(target.query).get("download") === "zip";
}

/**
 * The reply for a folder's zip. Only headers are decided here: the folder is walked, and each file
 * opened, once the connection is ours (`open`), so HEAD and a reply dropped unsent cost nothing.
 * A zip is made anew for each request, so there is nothing to validate or cache, and no ranges.
 */
export function archiveReply(target: Extract<TargetPath, { kind: "path" }>, folder: Found, policy: Policy): Reply {
  return {
    status: 200,
    note: "zip",
    headers: {
      "Content-Type": "application/zip",
      "Content-Disposition": attachment(`${archiveBaseName(target.segments, policy)}.zip`),
      "Cache-Control": "no-store",
      "Accept-Ranges": "none",
    },
    body: { kind: "stream", open: (annotate) => new FolderZip(folder, policy, annotate).output, release: () => {} },
  };
}

/** The folder's own name; for the root, the root folder's name ("download" for `/` itself). */
function archiveBaseName(segments: readonly Buffer[], policy: Policy): string {
  const last = segments.at(-1);
  if (last !== undefined) return last.toString("utf8");
  return path.basename(policy.rootReal.toString("utf8")) || "download";
}

/**
 * `Content-Disposition: attachment` (RFC 6266) with the name twice: `filename*` in UTF-8, percent-
 * encoded (RFC 8187), which every current browser reads, and an ASCII `filename` for the rest, with
 * `"`, `\`, `%` and non-ASCII replaced (RFC 6266 §4.3 advises against `%` and `\` there).
 */
export function attachment(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  // encodeURIComponent leaves ' ( ) * alone, which RFC 8187's attr-char does not allow.
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

// -------------------------------------------------------------------------------------------------
// The zip writer
// -------------------------------------------------------------------------------------------------

let yazl: typeof import("yazl") | undefined;

/**
 * yazl, required on first use (start-up need not load it). yazl's CRC-32 comes from
 * `buffer-crc32`, a table lookup per byte in JavaScript: about 200 MiB/s here, which would make
 * the CRC the bottleneck of every stored file. Node 20.15+ has `zlib.crc32` (zlib's own, in C,
 * about 1.7 GiB/s here), which gives the very same values; where it exists, buffer-crc32's
 * `unsigned` (the one function yazl calls) is pointed at it. Resolved from yazl's own folder, so
 * it is the copy yazl uses.
 */
function loadYazl(): typeof import("yazl") {
  if (yazl) return yazl;
  const require = createRequire(import.meta.url);
  const yazlPath = require.resolve("yazl");
  const crc = createRequire(yazlPath)("buffer-crc32") as { unsigned: (data: unknown, previous?: unknown) => number };
  const nativeCrc32 = (zlib as unknown as { crc32?: (data: Buffer, value?: number) => number }).crc32;
  if (typeof nativeCrc32 === "function") {
    const javascript = crc.unsigned;
    crc.unsigned = (data, previous) => (Buffer.isBuffer(data) && (previous === undefined || typeof previous === "number") ? nativeCrc32(data, previous ?? 0) : javascript(data, previous));
  }
  return (yazl = require(yazlPath) as typeof import("yazl"));
}

/**
 * Reads of a large file: 2 MiB, four times what a plain download reads, because here every chunk
 * travels through six streams (yazl's CRC, two counters and compressor, its output, our Gather)
 * and what each hop costs is per chunk, not per byte. Measured on a busy machine, the zip of a
 * 1 GiB stored file took about 1.5 times the CPU of its plain download with 512 KiB chunks, about
 * 1.3 times with 2 MiB; what remains is mostly the CRC-32 (zlib's, about 0.3 s per GiB here), which
 * no chunk size saves. 4 MiB saved little more and doubled the peak RSS.
 */
const LARGE_READ_CHUNK = 2 * 1024 * 1024;

/**
 * Bytes of small files that may wait inside yazl, read but not yet written out, before the walk waits
 * for it to catch up. yazl takes a small file as a buffer at once, CRC and size known (so no data
 * descriptor, and no stream per file), and writes it without regard to the client's pace: this cap
 * is what keeps memory flat for a folder of many small files and a slow client.
 */
const QUEUED_LIMIT = 1024 * 1024;

/**
 * One zip download: walks the folder depth first, in byte order of names, and adds each entry as
 * the writer gets to it. A small file is read whole (as for requests, files.ts: one read and close
 * instead of a round trip through the thread pool for each) and handed to yazl as a buffer; a large
 * one is opened and streamed only when the entries before it have been written, so at most one file
 * is open at a time. A large file is read up to the size it had when opened: yazl is not told that
 * size, it counts what it is given and writes the CRC and sizes after the data (a data descriptor),
 * so a file that grows or shrinks meanwhile is stored as what was read, and the archive stays valid.
 * If the client leaves, the open file is closed and the walk stops.
 */
class FolderZip {
  readonly output: Readable;
  private readonly zip: ZipFile;
  private current: Readable | null = null;
  private stopped = false;
  private files = 0;
  private bytes = 0;
  private skipped = 0;
  /** Bytes of small files handed to yazl since the last entry that waited for its turn (see QUEUED_LIMIT). */
  private queued = 0;

  constructor(
    private readonly root: Found,
    private readonly policy: Policy,
    private readonly annotate: (note: string) => void,
  ) {
    this.zip = new (loadYazl().ZipFile)();
    this.output = new Gather();
    pipeline(this.zip.outputStream as Readable, this.output as Transform, () => {}); // errors end the reply through `output`
    this.output.once("close", () => this.stop());
    this.zip.on("error", (error: Error) => this.fail(error));
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      await this.addFolderContents(this.root, "", [this.root.stats]);
      if (this.stopped) return;
      this.tell();
      this.zip.end();
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** The log's note: what the archive holds so far. */
  private tell(): void {
    const skipped = this.skipped === 0 ? "" : `, ${this.skipped} skipped`;
    this.annotate(`zip: ${this.files} files, ${this.bytes} bytes${skipped}`);
  }

  /**
   * Adds what `folder` holds under `prefix`. `ancestors` are the folders on the way down, by
   * (dev, ino): a link to one of them (allowed while it stays inside the root) would recurse for
   * ever, so it is left out.
   */
  private async addFolderContents(folder: Found, prefix: string, ancestors: readonly Stats[]): Promise<void> {
    const names = this.skipUnreadable(() => readFolderNames(folder, this.policy));
    if (names === undefined) return;
    names.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const entry of names) {
      if (this.stopped) return;
      const name = entryName(entry.name);
      const found = name === null ? undefined : this.skipUnreadable(() => locateEntry(folder, entry, this.policy));
      if (found?.kind === "folder") {
        if (ancestors.some((stats) => stats.ino === found.stats.ino && stats.dev === found.stats.dev)) {
          this.skipped++;
          continue;
        }
        this.zip.addEmptyDirectory(prefix + name, { mtime: found.stats.mtime, mode: fsConstants.S_IFDIR | (found.stats.mode & 0o777) });
        await this.addFolderContents(found, `${prefix}${name}/`, [...ancestors, found.stats]);
      } else if (found?.kind === "file") {
        await this.addFile(found, entry.name, prefix + name);
      } else if (found?.kind !== "outside") {
        this.skipped++; // a name zip cannot hold, an unreadable entry, a FIFO or device, one gone
      }
    }
  }

  /**
   * Adds one file, from a descriptor opened now; resolves once yazl may be given the next entry.
   * Deflated or stored as compress.ts judges the file for HTTP (by type, and never when too small to gain).
   */
  private async addFile(found: Found, ownName: Buffer, name: string): Promise<void> {
    const opened = this.skipUnreadable(() => openFound(found, this.policy));
    if (opened === undefined || opened === "changed") return void this.skipped++;
    const { fd, stats } = opened;
    const options = { mtime: stats.mtime, mode: fsConstants.S_IFREG | (stats.mode & 0o777), compress: worthCompressing(stats.size, contentTypeFor(ownName)) };
    if (stats.size > SMALL_FILE) {
      // Up to the size seen at open: a file that keeps growing (a log) must not keep the zip open.
      const stream = createReadStream("", { fd, start: 0, end: stats.size - 1, highWaterMark: LARGE_READ_CHUNK, autoClose: true });
      await this.addInTurn(name, options, stream);
      this.bytes += stream.bytesRead;
    } else {
      const data = readWholeAndClose(fd, stats.size);
      if (this.queued + data.length <= QUEUED_LIMIT) {
        this.queued += data.length;
        this.zip.addBuffer(data, name, options);
      } else {
        await this.addInTurn(name, options, Readable.from([data], { objectMode: false }));
      }
      this.bytes += data.length;
    }
    this.files++;
    this.tell();
  }

  /**
   * Adds an entry whose bytes come from `stream`, given to yazl when every entry before it has been
   * written (which empties the queue of small files); resolves once the stream has been read, or
   * closed because the client left.
   */
  private addInTurn(name: string, options: { mtime: Date; mode: number; compress: boolean }, stream: Readable): Promise<void> {
    this.current = stream; // so that stop() closes it, given to yazl or not yet
    stream.once("error", (error: Error) => this.fail(error)); // yazl pipes it and would wait for ever
    const done = new Promise<void>((resolve) => stream.once("close", resolve));
    this.zip.addReadStreamLazy(name, options, (give) => {
      if (this.stopped) return;
      this.queued = 0;
      give(null, stream);
    });
    return done.then(() => void (this.current = null));
  }

  /** The call's result, or undefined when it failed the way a request would get 403 or 404 for. */
  private skipUnreadable<T>(call: () => T): T | undefined {
    try {
      return call();
    } catch (error) {
      const status = statusForError(error);
      if (status !== 403 && status !== 404) throw error; // out of descriptors, I/O errors: the zip fails
      return undefined;
    }
  }

  private stop(): void {
    this.stopped = true;
    this.current?.destroy();
  }

  /** Ends the response early: the client sees a truncated download, never a zip with a hole. */
  private fail(error: Error): void {
    this.stop();
    this.output.destroy(error);
  }
}

/** Enough bytes that a write to the socket (a syscall, a chunk header) carries many entries of small files. */
const GATHER = 64 * 1024;

/**
 * Gathers yazl's small writes (a local header, a small file, a data descriptor: three per file)
 * into chunks of GATHER bytes, or whatever came within one turn of the event loop: a folder of
 * small files otherwise costs three socket writes per file. Large chunks pass as they are.
 */
class Gather extends Transform {
  private pending: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Immediate | null = null;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.size += chunk.length;
    if (this.size >= GATHER) this.release();
    else this.timer ??= setImmediate(() => this.release());
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.release();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearImmediate(this.timer);
    callback(error);
  }

  private release(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = null;
    if (this.size === 0) return;
    this.push(this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.size));
    this.pending = [];
    this.size = 0;
  }
}

/** A small file's bytes, read now (fewer if it shrank); the descriptor is closed at once. */
function readWholeAndClose(fd: number, size: number): Buffer {
  try {
    return readWhole(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** The name as the zip holds it (UTF-8, general purpose bit 11); null when it cannot. */
function entryName(name: Buffer): string | null {
  // Bytes that are not UTF-8 cannot be named faithfully; a backslash is a separator to yazl and to Windows.
  if (!isUtf8(name) || name.includes(0x5c)) return null;
  return name.toString("utf8");
}
