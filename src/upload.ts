/**
 * Uploads (`--upload`): `PUT /dir/name` stores the request body as `dir/name`; `POST /dir/` with
 * `multipart/form-data` stores each file of the form in `dir/` (the listing's upload form, `curl -F`).
 *
 *   origin (origin.ts) → target, refused rather than normalised (target.ts) → declared length →
 *   folder, confined as reads are (locate.ts) → 100 Continue → body → hidden temporary file →
 *   fsync → the final name claimed atomically → Reply
 *
 * The temporary file, its flush and the atomic claim are the write path's (writes.ts).
 */
import { lstatSync } from "node:fs";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BusboyConstructor } from "@fastify/busboy";
import { scriptFile, type ReadyFile } from "./files.js";
import { encodePathSegment } from "./escape.js";
import { pathInFolder, type UploadFolder } from "./locate.js";
import { isCrossSite } from "./origin.js";
import type { Policy, UploadRules } from "./policy.js";
import { closingIfUnread, type Reply, type ServedRequest } from "./reply.js";
import { folderLocation, lastSegment, nameProblem, resolveWriteTarget } from "./target.js";
import { UPLOAD_CLIENT } from "./upload-client.js";
import { guardedBody, replyForWriteFailure, TempFile, writableFolder, WriteRefusal, type Placeholders } from "./writes.js";

export { numberedName } from "./writes.js";

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
 * With --upload, whether a request's body is an upload: PUT, POST (a form, or a tus creation) and
 * tus's PATCH. Such a body may take as long as it needs, and ends only after 30 s without a byte
 * (writes.ts); every other request keeps the server's 30 s limit on a whole request (server.ts).
 */
export function hasUploadBody(method: string | undefined): boolean {
  return method === "PUT" || method === "POST" || method === "PATCH";
}

/**
 * Receives a `PUT` or `POST` upload and decides its reply. `sendContinue` is called once the
 * request has passed every check that needs no body, just before the body is read, so a client
 * that sent `Expect: 100-continue` learns of a refusal without sending a byte.
 */
export async function receiveUpload(req: ServedRequest, policy: Policy, upload: UploadRules, placeholders: Placeholders, sendContinue: () => void): Promise<Reply> {
  try {
    if (isCrossSite(req)) throw new WriteRefusal(403, "cross-site upload (Origin or Sec-Fetch-Site)");
    const target = resolveWriteTarget(req.url ?? "/", policy.dotfiles);
    if (target.kind === "refuse") throw new WriteRefusal(400, target.reason);
    const declared = declaredLength(req);
    if (upload.maxBytes !== null && declared !== null && declared > upload.maxBytes) throw new WriteRefusal(413, `Content-Length ${declared} is over --max-upload ${upload.maxBytes}`);
    const reply =
      req.method === "PUT"
        ? await receivePut(req, target.folder, target.name, declared, policy, upload, placeholders, sendContinue)
        : await receiveForm(req, target.name === null ? target.folder : [...target.folder, target.name], policy, upload, sendContinue);
    return closingIfUnread(req, reply);
  } catch (error) {
    return closingIfUnread(req, replyForWriteFailure(error));
  }
}

/** The body's promised length, or null when it comes chunked. Node's parser has already checked its syntax. */
function declaredLength(req: ServedRequest): number | null {
  const value = req.headers["content-length"];
  return value === undefined || req.headers["transfer-encoding"] !== undefined ? null : Number(value);
}

/** `PUT /dir/name`: the body becomes `dir/name`, missing folders made; 201, or 204 for a replaced file. */
async function receivePut(req: ServedRequest, folderSegments: readonly Buffer[], name: Buffer | null, declared: number | null, policy: Policy, upload: UploadRules, placeholders: Placeholders, sendContinue: () => void): Promise<Reply> {
  if (name === null) throw new WriteRefusal(400, "PUT names a folder: add the file's name");
  if (req.headers["content-range"] !== undefined) throw new WriteRefusal(400, "PUT with Content-Range: partial writes are not supported"); // RFC 9110 §14.5
  const folder = writableFolder(folderSegments, policy, true);
  const finalPath = pathInFolder(folder, name);
  const existing = lstatSync(finalPath, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new WriteRefusal(409, "a folder has that name");
  // In a drop box, the empty file a client's own LOCK or empty PUT made is the one it may fill.
  const filling = existing !== undefined && !upload.overwrite && placeholders.mayFill(finalPath, existing);
  if (existing && !upload.overwrite && !filling) throw new WriteRefusal(409, "file exists; --overwrite replaces it");
  const temp = await TempFile.create(folder);
  try {
    sendContinue();
    await temp.fill(guardedBody(req, upload.maxBytes), declared);
    // Filling: the placeholder must still be the empty file made, or someone else filled it first.
    const stillEmpty = filling && placeholders.mayFill(finalPath, lstatSync(finalPath, { throwIfNoEntry: false }) ?? existing);
    if (filling && !stillEmpty) throw new WriteRefusal(409, "file exists; --overwrite replaces it");
    const outcome = upload.overwrite || filling ? await temp.replace(finalPath) : await temp.claim(finalPath);
    if (outcome === "taken") throw new WriteRefusal(409, "file exists; --overwrite replaces it");
    if (filling) placeholders.forget(finalPath);
    else if (!upload.overwrite && temp.bytesWritten === 0) placeholders.remember(finalPath);
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
  if (!/^multipart\/form-data\s*;/i.test(req.headers["content-type"] ?? "")) throw new WriteRefusal(415, "POST takes multipart/form-data");
  const folder = writableFolder(folderSegments, policy, false);
  sendContinue();
  const names = await storeFormFiles(req, folder, policy, upload);
  if (names.length === 0) throw new WriteRefusal(400, "the form holds no file");
  const urls = names.map((name) => "/" + [...folderSegments, name].map(encodePathSegment).join("/"));
  const note = `stored ${urls.join(", ")}`;
  if (/\btext\/html\b/i.test(req.headers.accept ?? "")) {
    return { status: 303, note, headers: { Location: folderLocation(folderSegments, ""), "Content-Length": "0" }, body: { kind: "empty" } };
  }
  const data = Buffer.from(JSON.stringify(urls) + "\n");
  return { status: 201, note, headers: { "Content-Type": "application/json", "Content-Length": String(data.length), "Cache-Control": "no-store" }, body: { kind: "bytes", data } };
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
  const body = guardedBody(req, upload.maxBytes);
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
      return stopEverything(new WriteRefusal(400, `${problem} (form file name)`));
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
    if (error instanceof WriteRefusal || (error as NodeJS.ErrnoException).code !== undefined) throw error;
    throw new WriteRefusal(400, `malformed multipart body: ${(error as Error).message}`);
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
    return await temp.claimFree(folder, name);
  } finally {
    await temp.discard();
  }
}
