/**
 * Replies and the wire. A `Reply` is a status, headers and a body, decided whole before a byte
 * is written; `sendReply` is the one place that writes it to a response. Nothing here knows what
 * a file or a folder is: a body is bytes, or pieces of an open descriptor.
 */
import { close, read } from "node:fs";
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { Http2ServerResponse, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { pipeline, Readable, Transform } from "node:stream";
import type { Http2Request } from "./http2-request.js";
import { HTTP2_MAX_WRITE, PAGE_CSP, type Policy } from "./policy.js";

/** What the reply writer needs of the policy: the headers every reply carries. */
export type EdgePolicy = Pick<Policy, "edgeHeaders" | "userHeaderNames">;

/**
 * A request as `node:http` gives it (HTTP/1.x, plain or over TLS), or an HTTP/2 stream's
 * (http2-request.ts). The request path reads only what both have: method, url, headers,
 * rawHeaders, httpVersionMajor, complete, the body stream, and the socket's addresses (under
 * HTTP/2 `socket` is the session's TLS socket, shared by every stream).
 */
export type ServedRequest = IncomingMessage | Http2Request;
/** The response that goes with a `ServedRequest`: node:http's, or the HTTP/2 stream itself. Only this module writes to it. */
export type ServedResponse = ServerResponse | ServerHttp2Stream;

/**
 * Which protocol a request or response speaks, told by what each kind has (a version of 2; a
 * stream's `respond`): checked without loading node:http2, which a server without HTTPS never needs.
 */
export function isHttp2Request(req: ServedRequest): req is Http2Request {
  return req.httpVersionMajor === 2;
}

export function isHttp2Stream(res: ServedResponse): res is ServerHttp2Stream {
  return "respond" in res;
}

/** node:http2's compatibility response (the handler mounted on an http2 server's `request` event), whose stream is what gets served. */
export function isCompatibilityResponse(res: ServedResponse | Http2ServerResponse): res is Http2ServerResponse {
  return "stream" in res;
}

/** The status the log shows: node:http's (which Connect/Express routes after us may have set), or the one sent on a stream. */
export function loggedStatus(res: ServedResponse, progress: Progress): number {
  return isHttp2Stream(res) ? progress.status : res.statusCode;
}

/** The response went out whole: HTTP/1's last byte was handed to the socket, or the HTTP/2 stream closed without a reset. */
export function responseCompleted(res: ServedResponse): boolean {
  return isHttp2Stream(res) ? res.rstCode === NO_ERROR : res.writableFinished;
}

/** RST_STREAM's "no error" (RFC 9113 §7), the code of a stream that closed normally. */
const NO_ERROR = 0;

/** Where the bytes of a file response come from: read whole into memory, or an open descriptor. */
export type FileSource = { kind: "memory"; data: Buffer } | { kind: "descriptor"; fd: number };

/** An inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A stretch of a file (a ByteRange), or bytes of our own between stretches (multipart heads). */
export type Piece = ByteRange | Buffer;

export type Body =
  | { kind: "empty" }
  | { kind: "bytes"; data: Buffer }
  /** Streamed from a descriptor the body owns: closed when sent, or when the reply is dropped. */
  | { kind: "file"; fd: number; pieces: readonly Piece[] }
  /**
   * Any other stream (a compressor, an event stream), of no length known in advance. `open` is
   * called once the connection is ours; a reply dropped before then calls `release` instead, which
   * frees whatever `open` would have used (a descriptor, a subscription). A stream that learns
   * what it sent only as it goes (a zip's file count) tells the log with `annotate`.
   */
  | { kind: "stream"; open: (annotate: (note: string) => void) => Readable; release: () => void };

/** Replies are never changed once made, so constant ones (error pages) are shared. */
export interface Reply {
  readonly status: number;
  /** For the log only: a refusal's reason, an error's code, or which file answered. Never sent. */
  readonly note?: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The headers as sent, when made in advance: then exactly `headerList(headers, policy)`. */
  readonly wire?: readonly string[];
  readonly body: Body;
  /**
   * Bytes serve-here made, not a file's (a listing, HTML or JSON; an error page): the handler's
   * last step gives them their coding and a validator made from the bytes (compress.ts `encodePage`).
   */
  readonly generated?: true;
}

export const EMPTY: Body = { kind: "empty" };

/**
 * A page `htmlPage` made (a listing, an error page), as opposed to a file: known by its CSP (before
 * `pageCsp` replaces it), which starts with PAGE_CSP (a listing's grid adds what its images need).
 */
export function isGeneratedPage(reply: Reply): boolean {
  return reply.headers["Content-Security-Policy"]?.startsWith(PAGE_CSP) ?? false;
}

export function htmlPage(status: number, html: string | Buffer, headers: Record<string, string> = {}): Reply {
  const data = typeof html === "string" ? Buffer.from(html) : html;
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
    generated: true,
  };
}

const errorPages = new Map<number, Reply>();

/** A generic error page: the status and its reason phrase, never a path or an OS message. */
export function errorPage(status: number): Reply {
  let page = errorPages.get(status);
  if (page === undefined) {
    const title = `${status} ${http.STATUS_CODES[status] ?? "Error"}`;
    const headers: Record<string, string> = status === 503 ? { "Retry-After": "1" } : {};
    page = htmlPage(status, `<!DOCTYPE html>\n<html lang="en"><meta charset="utf-8"><title>${title}</title><h1>${title}</h1></html>\n`, headers);
    errorPages.set(status, page);
  }
  return page;
}

/** The reply with headers added or replaced; its prepared `wire` list no longer applies. */
export function withHeaders(reply: Reply, headers: Readonly<Record<string, string>>): Reply {
  return { ...reply, headers: { ...reply.headers, ...headers }, wire: undefined };
}

/**
 * A reply sent before the body was read whole ends the connection (with a lingering close, see
 * server.ts): the rest of the body must not be taken for the next request, and reading a huge
 * one just to throw it away is what the limit is there to avoid.
 */
export function closingIfUnread(req: ServedRequest, reply: Reply): Reply {
  // HTTP/2 has no Connection header (node:http2 refuses one): there, an unread stream is reset instead.
  return req.complete || req.httpVersionMajor >= 2 || !announcesBody(req) ? reply : withHeaders(reply, { Connection: "close" });
}

/**
 * A refusal decided before the body mattered (the Host check, a password): a declared body of up to
 * SMALL_UNREAD_BODY bytes is read and dropped by Node as usual, and the connection kept; a larger
 * one, or chunks of unknown length, end the connection as `closingIfUnread` does. Ending every such
 * connection made each linger (server.ts) for what is a few bytes: under the fuzz suite's load that
 * held some 50 MB more of sockets and buffers at its peak.
 */
export function closingIfLargeUnread(req: ServedRequest, reply: Reply): Reply {
  const length = req.headers["content-length"];
  if (req.headers["transfer-encoding"] === undefined && length !== undefined && Number(length) <= SMALL_UNREAD_BODY) return reply;
  return closingIfUnread(req, reply);
}
const SMALL_UNREAD_BODY = 64 * 1024;

/** Whether a body follows the head (RFC 9112 §6.3): a length above zero, or chunks. */
export function announcesBody(req: ServedRequest): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

export function emptyReply(status: number, headers: Readonly<Record<string, string>>): Reply {
  return { status, headers: { ...headers, "Content-Length": "0" }, body: EMPTY };
}

/** The body that sends `pieces` of a file from wherever its bytes are. */
export function bodyFrom(source: FileSource, pieces: readonly Piece[]): Body {
  if (source.kind === "descriptor") return { kind: "file", fd: source.fd, pieces };
  const slice = (piece: Piece) => (Buffer.isBuffer(piece) ? piece : source.data.subarray(piece.start, piece.end + 1));
  return { kind: "bytes", data: pieces.length === 1 ? slice(pieces[0]!) : Buffer.concat(pieces.map(slice)) };
}

/** Closes what a body holds, for a body that will not be sent. */
export function release(body: Body): void {
  if (body.kind === "file") close(body.fd, () => {});
  else if (body.kind === "stream") body.release();
}

export function releaseSource(source: FileSource): void {
  if (source.kind === "descriptor") close(source.fd, () => {});
}

/**
 * `100 Continue` (RFC 9110 §10.1.1), for a request whose body is about to be read, when it asked
 * for one and nothing final has been sent. `writeContinue` exists on HTTP/1's responses and on
 * node:http2's compatibility ones alike; on a pipelined response Node queues it in order.
 */
export function sendContinue(req: ServedRequest, res: ServedResponse): void {
  if (res.headersSent || res.destroyed) return;
  if (req.headers.expect?.toLowerCase() !== "100-continue") return;
  if (isHttp2Stream(res)) res.additionalHeaders({ ":status": 100 });
  else res.writeContinue();
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
 * On HTTP/2 a file is read 256 KiB at a time and handed to the stream in HTTP2_MAX_WRITE pieces.
 * Each read is a round trip through the thread pool, which on a busy core costs about 30 µs: with
 * 64 KiB reads, 100 downloads of 1 MiB at once on one connection took 250-260 ms of server CPU,
 * with 256 KiB 225 (Node 20) and 190 (Node 24), for about 50 MB more at the peak (a read waiting per
 * stream). 512 KiB saved little more and doubled the peak.
 */
const HTTP2_READ_CHUNK = 256 * 1024;

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
    private readonly chunk = READ_CHUNK,
    /** The most pushed at once (an HTTP/2 stream's write): each read is pushed in pieces of at most this. */
    private readonly most = chunk,
  ) {
    super({ highWaterMark: chunk });
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
      return this.pushInPieces(piece);
    }
    const want = Math.min(this.chunk, piece.end - this.position + 1);
    read(this.fd, Buffer.allocUnsafe(want), 0, want, this.position, (error, bytesRead, buffer) => {
      if (error) return this.destroy(error);
      if (bytesRead === 0) return this.destroy(new FileShrankError());
      this.position += bytesRead;
      if (this.position > piece.end) this.advance();
      this.progress.bytes += bytesRead;
      this.pushInPieces(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
    });
  }

  private pushInPieces(data: Buffer): void {
    eachPiece(data, this.most, (piece) => this.push(piece));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    close(this.fd, () => callback(error));
  }
}

/**
 * A file's pieces as a stream, for a body that transforms them (a compressor): the same reads,
 * backpressure and shrink check as a file body. Its bytes are not counted: the body that carries
 * the transformed bytes counts those.
 */
export function fileStream(fd: number, pieces: readonly Piece[]): Readable {
  return new FileBodyStream(fd, pieces, newProgress());
}

/** What the access log learns as a reply goes out. */
export interface Progress {
  /** The status sent (0 until a reply is sent). */
  status: number;
  /** Body bytes handed to the socket so far. */
  bytes: number;
  note: string | undefined;
}

/** A reply's progress before anything is sent. */
export function newProgress(): Progress {
  return { status: 0, bytes: 0, note: undefined };
}

/**
 * Writes a reply: headers, then the body unless HEAD. Bytes go in one write; file bodies stream
 * with backpressure, and when the client leaves or the file shrinks the socket is destroyed, so a
 * client sees a short body at once. Returns a promise only while a file or stream body streams.
 */
export function sendReply(req: ServedRequest, res: ServedResponse, reply: Reply, policy: EdgePolicy, progress: Progress): Promise<void> | undefined {
  const body = reply.body;
  progress.note = reply.note;
  progress.status = reply.status;
  if (res.destroyed) return void release(body);
  const list = reply.wire ?? headerList(reply.headers, policy);
  if (isHttp2Stream(res)) return sendOnStream(req, res, reply.wire ? preparedHttp2Headers(reply.status, reply.wire) : http2Headers(reply.status, list), body, progress);
  res.writeHead(reply.status, list as string[]); // Node only reads the list (its types ask for a mutable array)
  if (req.method === "HEAD" || body.kind === "empty") {
    release(body);
    return void res.end();
  }
  if (body.kind === "bytes") {
    progress.bytes = body.data.length;
    return void res.end(body.data);
  }
  return new Promise((resolve, reject) => {
    whenConnectionIsOurs(res, res.req.socket, (ours) => {
      if (!ours || res.destroyed) return resolve(release(body));
      streamBody(body, res, progress, resolve, reject);
    });
  });
}

/** A file's pieces or another stream's bytes into the response, with backpressure; a client that leaves or a file that shrinks ends it quietly. */
function streamBody(body: Extract<Body, { kind: "file" | "stream" }>, res: ServedResponse, progress: Progress, resolve: () => void, reject: (error: unknown) => void): void {
  const http2 = isHttp2Stream(res);
  const source =
    body.kind === "file"
      ? http2
        ? new FileBodyStream(body.fd, body.pieces, progress, HTTP2_READ_CHUNK, HTTP2_MAX_WRITE)
        : new FileBodyStream(body.fd, body.pieces, progress)
      : counted(body.open((note) => (progress.note = note)), progress);
  const done = (error: Error | null | undefined) => {
    const clientLeft = (error as NodeJS.ErrnoException | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE";
    if (!error || clientLeft || error instanceof FileShrankError) resolve();
    else reject(error);
  };
  if (http2 && body.kind === "stream") pipeline(source, inPieces(HTTP2_MAX_WRITE), res, done);
  else pipeline(source, res, done);
}

/** Passes bytes on in pieces of at most `most` (an archive's output, or a large page, for an HTTP/2 stream). */
function inPieces(most: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      eachPiece(chunk, most, (piece) => this.push(piece));
      callback();
    },
  });
}

/** Hands `data` to `take` in pieces of at most `most` bytes (views, not copies). */
function eachPiece(data: Buffer, most: number, take: (piece: Buffer) => void): void {
  if (data.length <= most) return take(data);
  for (let at = 0; at < data.length; at += most) take(data.subarray(at, at + most));
}

/**
 * A reply on an HTTP/2 stream, by node:http2's stream API: headers and small bodies of bytes with
 * `respond` and `end`, the rest streamed with backpressure, one write at a time of at most
 * HTTP2_MAX_WRITE (policy.ts says why).
 *
 * Files do not go out by `respondWithFD`, though it would keep their bytes out of JavaScript: on
 * Node 20 and on Node 24 (22 not seen) the server process dies of SIGSEGV when clients with a
 * browser's flow-control windows (6 MiB a stream) cancel such streams, two clients at once, after
 * a few hundred cancels; a bare node:http2 server does the same (issue 17). Bounded writes bound
 * what a cancelled stream leaves counted against the session's memory, and tls.ts ends a session
 * gracefully before what is left counted could make Node refuse its streams.
 */
function sendOnStream(req: ServedRequest, stream: ServerHttp2Stream, headers: OutgoingHttpHeaders, body: Body, progress: Progress): Promise<void> | undefined {
  if (req.method === "HEAD" || body.kind === "empty") {
    release(body);
    return void stream.respond(headers, { endStream: true });
  }
  if (body.kind === "bytes" && body.data.length <= HTTP2_MAX_WRITE) {
    progress.bytes = body.data.length;
    stream.respond(headers);
    return void stream.end(body.data);
  }
  return new Promise((resolve, reject) => {
    // A client can reset a stream in the same read that opened it: CVE-2023-44487's pattern opens
    // and resets thousands at once, and a file read begun for each would hold a buffer apiece. The
    // body starts on the next turn of the event loop, once node:http2 has handled every frame of that read.
    setImmediate(() => {
      if (stream.destroyed) return resolve(release(body));
      stream.respond(headers);
      // Larger bytes (a big listing) are streamed, so they too are written a piece at a time.
      const streamed = body.kind === "bytes" ? bytesAsStream(body.data) : body;
      streamBody(streamed, stream, progress, resolve, reject);
    });
  });
}

function bytesAsStream(data: Buffer): Extract<Body, { kind: "stream" }> {
  return { kind: "stream", open: () => Readable.from([data], { objectMode: false }), release: () => {} };
}

/** A stream whose bytes are added to `progress` as they pass (a file body counts its own). */
function counted(stream: Readable, progress: Progress): Readable {
  stream.on("data", (chunk: Buffer) => (progress.bytes += chunk.length));
  return stream;
}

/** HTTP/2 header objects of prepared header lists (a file version's `okWire`, `commonWire`), made once, like the lists; node:http2 only reads them. */
const preparedHeaders = new WeakMap<readonly string[], OutgoingHttpHeaders>();

function preparedHttp2Headers(status: number, wire: readonly string[]): OutgoingHttpHeaders {
  let headers = preparedHeaders.get(wire);
  if (headers?.[":status"] !== status) preparedHeaders.set(wire, (headers = Object.freeze(http2Headers(status, wire))));
  return headers;
}

/**
 * Node's flat header list as an HTTP/2 header object with its `:status`. HTTP/2 forbids the
 * connection-specific fields (RFC 9113 §8.2.2; node:http2 throws on some of them): a stream has no
 * connection of its own to keep alive or close, so they are left out there, whoever set them.
 */
function http2Headers(status: number, list: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ":status": status };
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    if (CONNECTION_SPECIFIC.has(name)) continue;
    const value = list[i + 1]!;
    const before = headers[name];
    headers[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [String(before)]), value];
  }
  return headers;
}

/** Fields that describe a connection, never a message: not sent on HTTP/2 streams. */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

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
export function headerList(headers: Readonly<Record<string, string>>, policy: EdgePolicy): string[] {
  const list: string[] = [];
  const replaced = policy.userHeaderNames;
  for (const name in headers) {
    if (replaced.size === 0 || !replaced.has(name.toLowerCase())) list.push(name, headers[name]!);
  }
  for (const item of policy.edgeHeaders) list.push(item);
  return list;
}

