/**
 * Resumable uploads (`--upload`): tus 1.0.0 (tus.io), its core protocol and the `creation`,
 * `creation-with-upload`, `termination` and `expiration` extensions. A thin adapter over the write
 * path (writes.ts): the same name rules, confinement, same-site rule, locks and final claim as a
 * PUT or a form's file, with the body kept across requests instead of within one.
 *
 *   POST /folder/ (Tus-Resumable, Upload-Length, Upload-Metadata: filename, relativePath) →
 *   record + empty part → 201 Location: /__serve-here/tus/<id>
 *   HEAD <id> → Upload-Offset | PATCH <id> (Upload-Offset) → bytes appended, fdatasync → 204 |
 *   at Upload-Length: fsync, the final name claimed as uploads claim it | DELETE <id> → gone
 *
 * Where an upload lives, so that a client's disconnect and a restart of the server (SIGKILL
 * included) lose nothing acknowledged:
 * - its bytes in a part file in the destination folder, `.serve-here-upload-tus-<id>` (on the
 *   destination's file system, so the finish is one link or rename; hidden everywhere by the
 *   upload prefix, target.ts). The offset is the part's size: what arrived is written, then
 *   `fdatasync`, before a PATCH is answered.
 * - its state in `<root>/.serve-here-upload-tus/<id>.json` (written once, temp then rename): the
 *   destination's folder segments, the file's name, the length, the metadata, the creation time
 *   and whether --overwrite was on. One folder for all records, rather than a record beside each
 *   part: an id finds its record in one step, with no folder in the URL, and the sweep of expired
 *   uploads reads one folder, not the whole tree.
 * An upload expires 24 hours after its last byte arrived (the part's mtime; its creation for an
 * empty one): a slow upload that keeps going never expires, a forgotten one goes.
 *
 * One PATCH at a time per upload: a lock held in memory (so a second PATCH gets 423, or takes
 * over from a holder that has been silent for a while: a client whose Wi-Fi dropped comes back
 * on a new connection before the old one is known dead) and on disk (`<id>.lock`, holding the
 * process id, for `--workers`, whose processes share no memory).
 */
import { randomBytes } from "node:crypto";
import { constants as fsConstants, lstatSync, mkdirSync } from "node:fs";
import { open, opendir, readFile, rename, stat, unlink } from "node:fs/promises";
import { headerText } from "./conditional.js";
import { encodePathSegment } from "./escape.js";
import { joinBytes, locateUploadFolder, pathInFolder, type UploadFolder } from "./locate.js";
import { isCrossSite } from "./origin.js";
import type { Policy, UploadRules } from "./policy.js";
import { closingIfUnread, EMPTY, emptyReply, errorPage, withHeaders, type Reply, type ServedRequest } from "./reply.js";
import { nameProblem, resolveWriteTarget, UPLOAD_TEMP_PREFIX } from "./target.js";
import { appendToPart, createPart, guardedBody, replyForWriteFailure, TempFile, truncatePart, writableFolder, WriteRefusal, type GuardedBody } from "./writes.js";

export const TUS_VERSION = "1.0.0";
const TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration";
/** Upload URLs: `/__serve-here/tus/<id>`. */
export const TUS_PATH = "/__serve-here/tus/";
/** The media type of a PATCH's body (and of a creation's, with creation-with-upload). */
const OFFSET_TYPE = "application/offset+octet-stream";
/** 128 random bits, base64url: an id is a capability, never guessed. */
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** The records' folder under the root, and each part's name: both carry the upload prefix, so neither is ever served, listed, zipped or PROPFINDed. */
const RECORDS_FOLDER = Buffer.concat([UPLOAD_TEMP_PREFIX, Buffer.from("tus")]);
const PART_PREFIX = Buffer.concat([UPLOAD_TEMP_PREFIX, Buffer.from("tus-")]);

const DAY_MS = 24 * 60 * 60 * 1000;
/** How often expired uploads are looked for, besides at start-up. */
const SWEEP_EVERY_MS = 60 * 60 * 1000;
/** The most records one sweep reads: bounded work, the rest waits for the next sweep. */
const SWEEP_MAX_RECORDS = 10_000;
/** A record whose part never appeared (a crash between the two) is left alone this long. */
const ORPHAN_GRACE_MS = 10 * 60 * 1000;
/** A PATCH that has received nothing for this long gives way to a newer request for the same upload. */
const TAKEOVER_AFTER_MS = 1000;
/** How long a HEAD waits for a PATCH of its upload that is still receiving to end or fall silent. */
const HEAD_WAIT_MS = 2000;
/** Upload-Metadata over this is refused: it is kept in the record and sent back with every HEAD. */
const MAX_METADATA_BYTES = 4096;

/**
 * A test knob, not an option: `SERVE_HERE_TEST_TUS_EXPIRY_MS=N` makes uploads expire N ms after
 * their last byte instead of 24 hours, so a suite can watch an expiry and a sweep.
 */
function expiryMs(): number {
  const value = process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS;
  return value !== undefined && /^\d{1,10}$/.test(value) && Number(value) > 0 ? Number(value) : DAY_MS;
}

/** The headers an OPTIONS answer carries with --upload, on any URL (every folder is a creation endpoint). */
export function tusOptionsHeaders(policy: Policy): Readonly<Record<string, string>> {
  const headers: Record<string, string> = { "Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS };
  if (policy.upload?.maxBytes != null) headers["Tus-Max-Size"] = String(policy.upload.maxBytes);
  return headers;
}

/** Whether tus.ts answers this request (with --upload): anything under `/__serve-here/tus/`, or a creation (a POST with Tus-Resumable). */
export function isTusRequest(req: ServedRequest): boolean {
  const url = req.url ?? "";
  if (url.startsWith(TUS_PATH) || pathOf(url) === TUS_PATH.slice(0, -1)) return true;
  return req.method === "POST" && req.headers["tus-resumable"] !== undefined;
}

function pathOf(url: string): string {
  const query = url.search(/[?#]/);
  return query === -1 ? url : url.slice(0, query);
}

/** What the record of an upload holds (`<root>/.serve-here-upload-tus/<id>.json`). */
interface UploadRecord {
  /** The destination folder's segments below the root, as latin1 strings (bytes kept exact). */
  folder: string[];
  /** The file's name, latin1. */
  name: string;
  length: number;
  /** Upload-Metadata as the client sent it, for HEAD. */
  metadata: string;
  created: number;
  /** --overwrite at creation: the finish replaces a file only if it was on then and is on now. */
  overwrite: boolean;
}

/** An upload found from its id: its record, the part's path and what the part holds now. */
interface Found {
  id: string;
  record: UploadRecord;
  folder: Extract<UploadFolder, { kind: "folder" }>;
  partPath: Buffer;
  size: number;
  expires: number;
}

/** A PATCH (or a creation with a body) that holds an upload in this process. */
interface Holder {
  lastByteAt: number;
  /** Its body is over (whole, or the client left): only disk work is left, soon done. */
  bodyOver: boolean;
  /** Ends its request: what arrived is kept, then it lets go. */
  stop(): void;
  released: Promise<void>;
}

/** What became of a request's body: its reply, and whether the upload took it. */
interface Received {
  kind: "received" | "done" | "cut" | "refused";
  reply: Reply;
}

/** Says whether a request may add `name` to `folder` (WebDAV's locks and If header); null when it may. */
export type AdditionCheck = (req: ServedRequest, folder: readonly Buffer[], name: Buffer) => Reply | null;

export class Tus {
  private readonly holders = new Map<string, Holder>();
  private readonly recordsPath: Buffer;
  private readonly ttl = expiryMs();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly policy: Policy,
    private readonly upload: UploadRules,
    private readonly mayAdd: AdditionCheck,
    private readonly notice: (message: string) => void = (message) => void process.stderr.write(`serve-here: ${message}\n`),
  ) {
    this.recordsPath = joinBytes(policy.rootReal, [RECORDS_FOLDER]);
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), Math.min(SWEEP_EVERY_MS, Math.max(1000, this.ttl))).unref();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Answers a tus request. `sendContinue` is called just before a body is read. */
  async answer(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    let reply: Reply;
    try {
      reply = await this.route(req, sendContinue);
    } catch (error) {
      reply = replyForWriteFailure(error);
    }
    return closingIfUnread(req, withHeaders(reply, { "Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store" }));
  }

  private async route(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    if (isCrossSite(req)) throw new WriteRefusal(403, "cross-site tus request (Origin or Sec-Fetch-Site)");
    const method = req.method ?? "";
    if (method === "OPTIONS") return { status: 204, headers: { ...tusOptionsHeaders(this.policy) }, body: EMPTY };
    const resumable = headerText(req, "tus-resumable");
    if (resumable !== TUS_VERSION) return { ...emptyReply(412, { "Tus-Version": TUS_VERSION }), note: resumable === undefined ? "tus request without Tus-Resumable" : `Tus-Resumable ${resumable} is not ${TUS_VERSION}` };
    const url = req.url ?? "";
    if (!url.startsWith(TUS_PATH)) {
      if (method !== "POST") throw new WriteRefusal(405, "tus: only POST creates");
      return this.create(req, sendContinue);
    }
    const id = pathOf(url).slice(TUS_PATH.length);
    if (!ID_PATTERN.test(id)) throw new WriteRefusal(404, "tus: no such upload");
    switch (method) {
      case "HEAD":
        return this.head(id);
      case "PATCH":
        return this.patch(req, id, sendContinue);
      case "DELETE":
        return this.terminate(id);
      default:
        return { ...emptyReply(405, { Allow: "OPTIONS, HEAD, PATCH, DELETE" }), note: `tus: ${method} on an upload` };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Creation (and creation-with-upload)
  // -------------------------------------------------------------------------------------------

  private async create(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    const target = resolveWriteTarget(req.url ?? "/", this.policy.dotfiles);
    if (target.kind === "refuse") throw new WriteRefusal(400, target.reason);
    const base = target.name === null ? target.folder : [...target.folder, target.name];
    if (req.headers["upload-defer-length"] !== undefined) throw new WriteRefusal(400, "tus: Upload-Defer-Length is not supported; send Upload-Length");
    const length = wholeNumber(headerText(req, "upload-length"));
    if (length === null) throw new WriteRefusal(400, "tus: creation without a valid Upload-Length");
    if (this.upload.maxBytes !== null && length > this.upload.maxBytes) throw new WriteRefusal(413, `tus: Upload-Length ${length} is over --max-upload ${this.upload.maxBytes}`);
    const metadata = headerText(req, "upload-metadata") ?? "";
    const { name, folders } = this.destination(metadata);
    const declared = declaredLength(req);
    const withBody = declared === null || declared > 0;
    if (withBody && !isOffsetStream(req)) throw new WriteRefusal(415, `tus: a creation's body must be ${OFFSET_TYPE}`);
    if (declared !== null && declared > length) throw new WriteRefusal(400, `tus: body of ${declared} bytes is over Upload-Length ${length}`);
    const segments = [...base, ...folders];
    const locked = this.mayAdd(req, segments, name);
    if (locked) return locked;
    writableFolder(base, this.policy, false); // the folder posted to must exist, as for a form
    const folder = writableFolder(segments, this.policy, true); // relativePath's folders are made
    const id = randomBytes(16).toString("base64url");
    const record: UploadRecord = { folder: segments.map((s) => s.toString("latin1")), name: name.toString("latin1"), length, metadata, created: Date.now(), overwrite: this.upload.overwrite };
    await this.writeRecord(id, record);
    const partPath = pathInFolder(folder, partName(id));
    try {
      await createPart(partPath);
    } catch (error) {
      await unlink(this.recordPath(id)).catch(() => {});
      throw error;
    }
    const location = TUS_PATH + id;
    const created = { Location: location, "Upload-Expires": httpDate(record.created + this.ttl) };
    const note = `tus: created ${location} for ${describe(segments, name)} (${length} bytes)`;
    if (!withBody && length > 0) return { ...emptyReply(201, created), note };
    const found: Found = { id, record, folder, partPath, size: 0, expires: record.created + this.ttl };
    const holder = this.hold(id, req);
    let received: Received;
    try {
      received = await this.receive(req, found, 0, declared, sendContinue);
    } catch (error) {
      await this.remove(found); // the client never learns of this upload: it must not linger
      throw error;
    } finally {
      await this.release(id, holder);
    }
    // Refused whole (a body past Upload-Length): the upload never was.
    if (received.kind === "refused") {
      await this.remove(found);
      return received.reply;
    }
    // Made, whatever became of its body: a client still there resumes from the offset reached.
    const answer: Record<string, string> = { ...created, "Upload-Offset": received.reply.headers["Upload-Offset"]!, "Upload-Expires": received.reply.headers["Upload-Expires"]! };
    if (received.kind === "done") answer["Content-Location"] = received.reply.headers["Content-Location"]!;
    return { ...emptyReply(201, answer), note: `${note}; ${received.reply.note}` };
  }

  /** The file's name and the folders before it, from Upload-Metadata: `filename`, and `relativePath` for a folder's files. */
  private destination(metadata: string): { name: Buffer; folders: Buffer[] } {
    if (Buffer.byteLength(metadata) > MAX_METADATA_BYTES) throw new WriteRefusal(400, `tus: Upload-Metadata over ${MAX_METADATA_BYTES} bytes`);
    const pairs = parseMetadata(metadata);
    if (pairs === null) throw new WriteRefusal(400, "tus: malformed Upload-Metadata");
    const name = pairs.get("filename");
    if (name === undefined) throw new WriteRefusal(400, "tus: Upload-Metadata without filename");
    const problem = nameProblem(name, this.policy.dotfiles);
    if (problem !== null) throw new WriteRefusal(400, `tus: ${problem} (filename)`);
    const relative = pairs.get("relativePath");
    if (relative === undefined || relative.length === 0) return { name, folders: [] };
    // `a/b/c.txt` (a picked folder's webkitRelativePath), or `/a/b/c.txt` (a dropped one's fullPath):
    // its folders are made under the one posted to; its last segment is the file, named by filename.
    const text = relative.toString("latin1");
    const parts = (text.startsWith("/") ? text.slice(1) : text).split("/").map((part) => Buffer.from(part, "latin1"));
    const folders = parts.slice(0, -1);
    for (const folder of folders) {
      const folderProblem = nameProblem(folder, this.policy.dotfiles);
      if (folderProblem !== null) throw new WriteRefusal(400, `tus: ${folderProblem} (relativePath)`);
    }
    const last = nameProblem(parts.at(-1)!, this.policy.dotfiles);
    if (last !== null) throw new WriteRefusal(400, `tus: ${last} (relativePath)`);
    return { name, folders };
  }

  // -------------------------------------------------------------------------------------------
  // HEAD, PATCH, DELETE
  // -------------------------------------------------------------------------------------------

  private async head(id: string): Promise<Reply> {
    // A PATCH still running: its client may be asking because that connection died (a client
    // never asks while its own PATCH goes on), so wait a little for it to end or fall silent.
    await this.settle(id, HEAD_WAIT_MS);
    await this.elsewhereDone(id, HEAD_WAIT_MS); // and, with --workers, one in another process
    let found = await this.find(id);
    // Whole but never named: the server stopped between the last byte and the finish. Finish now,
    // unless a request (here or in another process) holds it: that one finishes it.
    if (found.size === found.record.length && !this.holders.has(id)) {
      const holder = await this.acquire(id, null, false).catch(() => null);
      if (holder) {
        try {
          found = await this.find(id);
          if (found.size === found.record.length) await this.finish(found);
        } finally {
          await this.release(id, holder);
        }
      }
    }
    const headers: Record<string, string> = { "Upload-Offset": String(found.size), "Upload-Length": String(found.record.length), "Upload-Expires": httpDate(found.expires) };
    if (found.record.metadata !== "") headers["Upload-Metadata"] = found.record.metadata;
    return { status: 200, headers, body: EMPTY };
  }

  private async patch(req: ServedRequest, id: string, sendContinue: () => void): Promise<Reply> {
    if (!isOffsetStream(req)) throw new WriteRefusal(415, `tus: PATCH takes ${OFFSET_TYPE}`);
    const offset = wholeNumber(headerText(req, "upload-offset"));
    if (offset === null) throw new WriteRefusal(400, "tus: PATCH without a valid Upload-Offset");
    await this.find(id); // 404 before waiting for a lock on nothing
    const holder = await this.acquire(id, req, false);
    try {
      const found = await this.find(id);
      if (offset !== found.size) return conflict(found, `tus: Upload-Offset ${offset}, but the upload is at ${found.size}`);
      return (await this.receive(req, found, offset, declaredLength(req), sendContinue)).reply;
    } finally {
      await this.release(id, holder);
    }
  }

  private async terminate(id: string): Promise<Reply> {
    if ((await this.readRecord(id)) === null) throw new WriteRefusal(404, "tus: no such upload");
    const holder = await this.acquire(id, null, true); // a PATCH still running is stopped: the client gave up on it
    try {
      const record = await this.readRecord(id);
      if (record === null) throw new WriteRefusal(404, "tus: no such upload");
      await this.removeById(id, record);
      return { status: 204, headers: {}, body: EMPTY, note: `tus: terminated ${TUS_PATH}${id}` };
    } finally {
      await this.release(id, holder);
    }
  }

  /**
   * Appends the request's body to the part at `offset` (held by this request), then answers with
   * the offset reached; at Upload-Length the file gets its name. What arrived before a client left
   * or went silent is kept ("cut"); bytes past Upload-Length refuse the whole request (400, cut
   * back to `offset`: "refused").
   */
  private async receive(req: ServedRequest, found: Found, offset: number, declared: number | null, sendContinue: () => void): Promise<Received> {
    const { record } = found;
    if (declared !== null && offset + declared > record.length) {
      const page = errorPage(400);
      return { kind: "refused", reply: { ...page, headers: { ...page.headers, "Upload-Offset": String(offset), "Upload-Expires": httpDate(found.expires) }, note: `tus: ${declared} bytes at ${offset} pass Upload-Length ${record.length}` } };
    }
    sendContinue();
    const holder = this.holders.get(found.id);
    const onChunk = holder ? () => void (holder.lastByteAt = Date.now()) : undefined;
    const body: GuardedBody = guardedBody(req, record.length - offset, "Upload-Length", { overStatus: 400, keepPartial: true, onChunk });
    const { size, error } = await appendToPart(found.partPath, body, offset);
    const expires = httpDate(Date.now() + this.ttl);
    if (error instanceof WriteRefusal && error.status === 400) {
      await truncatePart(found.partPath, offset);
      const page = errorPage(400);
      return { kind: "refused", reply: { ...page, headers: { ...page.headers, "Upload-Offset": String(offset), "Upload-Expires": expires }, note: error.reason } };
    }
    const headers = { "Upload-Offset": String(size), "Upload-Expires": expires };
    if (size === record.length) {
      // Content-Location says where the file went: under another name when its own was taken.
      const stored = await this.finish({ ...found, size });
      return { kind: "done", reply: { status: 204, headers: { ...headers, "Content-Location": stored }, body: EMPTY, note: `tus: stored ${stored}` } };
    }
    const failure = body.cut ?? error;
    if (failure !== null) {
      const reply = replyForWriteFailure(failure);
      return { kind: "cut", reply: { ...reply, headers: { ...reply.headers, ...headers }, note: `${reply.note ?? "failed"}; kept ${size} of ${record.length} bytes` } };
    }
    return { kind: "received", reply: { status: 204, headers, body: EMPTY, note: `tus: ${size} of ${record.length} bytes` } };
  }

  /**
   * The whole part gets its name, as an upload's file does: flushed (fsync), then linked under
   * the name or the first free `name (n).ext` (never replacing), or with --overwrite (at creation
   * and now) renamed over a file of that name (a folder of that name: numbered instead). Then
   * the record goes. Gives the stored file's URL path.
   */
  private async finish(found: Found): Promise<string> {
    const name = Buffer.from(found.record.name, "latin1");
    const temp = await TempFile.adopt(found.partPath);
    let stored: Buffer;
    try {
      await temp.seal();
      stored = await this.claim(temp, found, name);
    } catch (error) {
      await temp.keep();
      throw error;
    }
    await temp.discard(); // after a link, the part's own name goes; the file stays under its new one
    await unlink(this.recordPath(found.id)).catch(() => {});
    return "/" + [...found.record.folder.map((s) => Buffer.from(s, "latin1")), stored].map(encodePathSegment).join("/");
  }

  private async claim(temp: TempFile, found: Found, name: Buffer): Promise<Buffer> {
    if (found.record.overwrite && this.upload.overwrite) {
      try {
        await temp.replace(pathInFolder(found.folder, name));
        return name;
      } catch (error) {
        if (!(error instanceof WriteRefusal && error.status === 409)) throw error;
      }
    }
    return temp.claimFree(found.folder, name);
  }

  // -------------------------------------------------------------------------------------------
  // Records, parts and expiry
  // -------------------------------------------------------------------------------------------

  /** The upload of `id` as it is now; 404 when there is none, or it expired (then it is removed). */
  private async find(id: string): Promise<Found> {
    const record = await this.readRecord(id);
    if (record === null) throw new WriteRefusal(404, "tus: no such upload");
    const segments = record.folder.map((s) => Buffer.from(s, "latin1"));
    const folder = locateUploadFolder(segments, this.policy, false);
    const partPath = folder.kind === "folder" ? pathInFolder(folder, partName(id)) : null;
    const stats = partPath && lstatSync(partPath, { throwIfNoEntry: false });
    if (folder.kind !== "folder" || !stats?.isFile()) {
      // The part is gone (its folder deleted or moved): so is the upload. A creation in progress
      // (record written, part not yet) is left to itself.
      if (Date.now() - record.created > ORPHAN_GRACE_MS) await unlink(this.recordPath(id)).catch(() => {});
      throw new WriteRefusal(404, "tus: the upload's part is gone");
    }
    const expires = Math.max(stats.mtimeMs, record.created) + this.ttl;
    const found: Found = { id, record, folder, partPath: partPath!, size: stats.size, expires };
    if (expires <= Date.now() && !this.holders.has(id)) {
      await this.remove(found);
      throw new WriteRefusal(404, "tus: the upload expired");
    }
    return found;
  }

  private recordPath(id: string): Buffer {
    return joinBytes(this.recordsPath, [Buffer.from(`${id}.json`)]);
  }

  private lockPath(id: string): Buffer {
    return joinBytes(this.recordsPath, [Buffer.from(`${id}.lock`)]);
  }

  private hasRecord(id: string): boolean {
    return lstatSync(this.recordPath(id), { throwIfNoEntry: false }) !== undefined;
  }

  private async readRecord(id: string): Promise<UploadRecord | null> {
    let text: string;
    try {
      text = await readFile(this.recordPath(id), { encoding: "utf8", flag: fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      throw error;
    }
    try {
      const record = JSON.parse(text) as UploadRecord;
      if (!Array.isArray(record.folder) || typeof record.name !== "string" || !Number.isSafeInteger(record.length)) return null;
      return record;
    } catch {
      return null; // half-written by hand, or not ours: no upload
    }
  }

  /** Writes a record whole or not at all: a temporary file, flushed, renamed into place, the folder flushed. */
  private async writeRecord(id: string, record: UploadRecord): Promise<void> {
    this.recordsFolder();
    const temp = joinBytes(this.recordsPath, [Buffer.from(`${id}.json.${randomBytes(6).toString("base64url")}.tmp`)]);
    const file = await open(temp, "wx", 0o600);
    try {
      await file.writeFile(JSON.stringify(record));
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, this.recordPath(id));
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    const folder = await open(this.recordsPath, fsConstants.O_RDONLY);
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  /** `<root>/.serve-here-upload-tus/`, made when missing; never a link. */
  private recordsFolder(): void {
    try {
      mkdirSync(this.recordsPath, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (!lstatSync(this.recordsPath).isDirectory()) throw new WriteRefusal(500, `tus: ${RECORDS_FOLDER.toString()} is not a folder`);
  }

  private async remove(found: Pick<Found, "id" | "partPath">): Promise<void> {
    await unlink(found.partPath).catch(() => {});
    await unlink(this.recordPath(found.id)).catch(() => {});
  }

  private async removeById(id: string, record: UploadRecord): Promise<void> {
    const folder = locateUploadFolder(record.folder.map((s) => Buffer.from(s, "latin1")), this.policy, false);
    if (folder.kind === "folder") await unlink(pathInFolder(folder, partName(id))).catch(() => {});
    await unlink(this.recordPath(id)).catch(() => {});
  }

  /**
   * Removes expired uploads (and records whose part is gone): at start-up, then every hour. At
   * most SWEEP_MAX_RECORDS records a sweep; says what it removed. Never throws.
   */
  async sweep(): Promise<string[]> {
    const removed: string[] = [];
    let folder;
    try {
      folder = await opendir(this.recordsPath);
    } catch {
      return removed; // no upload was ever made here
    }
    try {
      let seen = 0;
      for await (const entry of folder) {
        if (++seen > SWEEP_MAX_RECORDS) break;
        const match = /^([A-Za-z0-9_-]{22})\.(json|lock)$|\.tmp$/.exec(entry.name);
        if (match === null) continue;
        if (match[1] === undefined || match[2] === "lock") {
          await this.sweepLeftover(entry.name, match[1]);
          continue;
        }
        const id = match[1];
        if (this.holders.has(id)) continue;
        try {
          await this.find(id);
        } catch (error) {
          if (error instanceof WriteRefusal && error.status === 404) removed.push(`${TUS_PATH}${id}`);
        }
      }
    } catch {
      // a folder that went away mid-sweep: try again next time
    } finally {
      await folder.close().catch(() => {});
    }
    const left = removed.filter((url) => !this.hasRecord(url.slice(TUS_PATH.length)));
    if (left.length > 0) this.notice(`removed ${left.length} expired or abandoned resumable upload${left.length === 1 ? "" : "s"}: ${left.join(", ")}`);
    return left;
  }

  /** A record's temporary file left by a crash (an hour old), or a lock left by a process that is gone. */
  private async sweepLeftover(name: string, id: string | undefined): Promise<void> {
    const fsPath = joinBytes(this.recordsPath, [Buffer.from(name)]);
    const stats = await stat(fsPath).catch(() => null);
    if (stats === null) return;
    if (id !== undefined) {
      if (!this.holders.has(id) && Date.now() - stats.mtimeMs > ORPHAN_GRACE_MS && !(await this.lockHeldElsewhere(fsPath))) await unlink(fsPath).catch(() => {});
      return;
    }
    if (Date.now() - stats.mtimeMs > SWEEP_EVERY_MS) await unlink(fsPath).catch(() => {});
  }

  // -------------------------------------------------------------------------------------------
  // One request at a time per upload
  // -------------------------------------------------------------------------------------------

  /**
   * Holds `id` for `req`: at once when free; a holder silent for TAKEOVER_AFTER_MS (or any holder,
   * when `force`: a termination) is stopped first and waited for; else 423. Across processes
   * (`--workers`) a lock file says who holds it; one left by a process that is gone is taken.
   */
  private async acquire(id: string, req: ServedRequest | null, force: boolean): Promise<Holder> {
    if (force) {
      const current = this.holders.get(id);
      current?.stop();
      await current?.released;
    }
    await this.settle(id, 0);
    if (this.holders.has(id)) throw new WriteRefusal(423, "tus: another request is writing this upload");
    this.recordsFolder();
    const lock = this.lockPath(id);
    for (let attempt = 0; ; attempt++) {
      try {
        const file = await open(lock, "wx", 0o600);
        await file.writeFile(String(process.pid));
        await file.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw error;
        if (await this.lockHeldElsewhere(lock)) throw new WriteRefusal(423, "tus: another process is writing this upload");
        await unlink(lock).catch(() => {});
      }
    }
    if (this.holders.has(id)) {
      // Another request of this process got it while we waited on the disk.
      await unlink(lock).catch(() => {});
      throw new WriteRefusal(423, "tus: another request is writing this upload");
    }
    return this.hold(id, req, lock);
  }

  /**
   * Waits (at most `waitMs`) while a request of this process holds `id` and its body still comes.
   * One whose body is over is only writing out what came: waited for, whatever `waitMs`. One
   * silent for TAKEOVER_AFTER_MS is stopped (what it received is kept) and waited for: its client
   * is most likely the one asking now, back on a new connection.
   */
  private async settle(id: string, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const holder = this.holders.get(id);
      if (holder === undefined) return;
      if (!holder.bodyOver && Date.now() - holder.lastByteAt >= TAKEOVER_AFTER_MS) holder.stop();
      else if (!holder.bodyOver && Date.now() >= deadline) return;
      if (holder.bodyOver || Date.now() - holder.lastByteAt >= TAKEOVER_AFTER_MS) await holder.released;
      else await Promise.race([holder.released, new Promise((resolve) => setTimeout(resolve, 20))]);
    }
  }

  /** Waits (at most `waitMs`) while another live process holds `id`'s lock file. */
  private async elsewhereDone(id: string, waitMs: number): Promise<void> {
    const deadline = Date.now() + waitMs;
    const lock = this.lockPath(id);
    while (Date.now() < deadline && !this.holders.has(id) && (await this.lockHeldElsewhere(lock))) await new Promise((resolve) => setTimeout(resolve, 25));
  }

  /** Notes `req` as the holder of `id` (the lock file, if any, already made). */
  private hold(id: string, req: ServedRequest | null, lock: Buffer | null = null): Holder {
    let done!: () => void;
    const holder: Holder & { lock: Buffer | null; done: () => void } = {
      lastByteAt: Date.now(),
      bodyOver: req === null,
      stop: () => req?.destroy(),
      released: new Promise<void>((resolve) => (done = resolve)),
      lock,
      done: () => done(),
    };
    req?.on("close", () => void (holder.bodyOver = true));
    req?.on("end", () => void (holder.bodyOver = true));
    this.holders.set(id, holder);
    return holder;
  }

  /** Lets go of `id`: the lock file goes before the answer does, so a client that has its answer finds nothing left behind. */
  private async release(id: string, holder: Holder): Promise<void> {
    const held = holder as Holder & { lock: Buffer | null; done: () => void };
    if (held.lock) await unlink(held.lock).catch(() => {});
    if (this.holders.get(id) === holder) this.holders.delete(id);
    held.done();
  }

  /** Whether a lock file names a live process other than this one. */
  private async lockHeldElsewhere(lock: Buffer): Promise<boolean> {
    const text = await readFile(lock, "utf8").catch(() => null);
    if (text === null) return false; // gone: free
    // Empty: another process between making it and writing its id. Held, unless it stayed so.
    if (text === "") return Date.now() - ((await stat(lock).catch(() => null))?.mtimeMs ?? 0) < 10_000;
    const pid = Number(text);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  }
}

/** A creation made in `folder` under a hold: the part is new, empty and ours. */
function partName(id: string): Buffer {
  return Buffer.concat([PART_PREFIX, Buffer.from(id)]);
}

/** 409 with the offset the upload is at, so the client can resume from there. */
function conflict(found: Found, note: string): Reply {
  return { ...emptyReply(409, { "Upload-Offset": String(found.size), "Upload-Expires": httpDate(found.expires) }), note };
}

/**
 * Upload-Metadata (tus 1.0.0): comma-separated pairs of a key and, after one space, its value in
 * base64 (or a key alone). Keys are non-empty, without spaces or commas, and unique. Null when
 * malformed; values decoded to bytes.
 */
export function parseMetadata(header: string): Map<string, Buffer> | null {
  const pairs = new Map<string, Buffer>();
  if (header.trim() === "") return pairs;
  for (const raw of header.split(",")) {
    const pair = raw.trim();
    const match = /^([\x21-\x2b\x2d-\x7e]+)(?: ([A-Za-z0-9+/]*={0,2}))?$/.exec(pair);
    if (match === null || pairs.has(match[1]!)) return null;
    const value = match[2] ?? "";
    if (value.length % 4 !== 0) return null;
    const bytes = Buffer.from(value, "base64");
    if (bytes.toString("base64") !== value) return null; // stray padding or bits: not what the spec calls base64
    pairs.set(match[1]!, bytes);
  }
  return pairs;
}

/** A header holding a whole number of bytes (digits only, a safe integer), or null. */
function wholeNumber(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return null;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : null;
}

function isOffsetStream(req: ServedRequest): boolean {
  const type = headerText(req, "content-type");
  return type !== undefined && type.split(";")[0]!.trim().toLowerCase() === OFFSET_TYPE;
}

/** The body's promised length (0 when there is none), or null when it comes chunked. */
function declaredLength(req: ServedRequest): number | null {
  if (req.headers["transfer-encoding"] !== undefined) return null;
  const value = req.headers["content-length"];
  return value === undefined ? 0 : Number(value);
}

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

function describe(folder: readonly Buffer[], name: Buffer): string {
  return "/" + [...folder, name].map(encodePathSegment).join("/");
}
