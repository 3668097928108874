/**
 * HTTP/2 requests on node:http2's stream API, without its compatibility layer: a stream and its
 * headers, as the server's `stream` event gives them, seen through the few things the request path
 * reads of a request (method, url, headers, rawHeaders, the socket's addresses, the body).
 *
 * Why: the compatibility objects (`Http2ServerRequest`, `Http2ServerResponse`) cost about as much
 * as the rest of a small answer together (issue 17 measured a bare server at 9.2k req/s on them
 * against 13.7–18.5k on the stream API). This costs one small object of fields, and the stream itself
 * is the response (reply.ts writes it with `respond`, `write` and `end`).
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";

export class Http2Request {
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly httpVersion = "2.0";
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** The session's TLS socket, shared by every stream of the connection (its addresses, `encrypted`). */
  readonly socket: Socket;

  constructor(
    readonly stream: ServerHttp2Stream,
    /** As node:http2 gives them: lower-case names, the pseudo-headers (`:method`, `:path`, `:authority`) among them. */
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
  ) {
    this.method = headers[":method"];
    this.url = headers[":path"];
    this.socket = stream.session!.socket as Socket;
  }

  /** The whole body has arrived (the client ended its side of the stream). */
  get complete(): boolean {
    return this.stream.readableEnded;
  }

  // The body, for uploads: the stream's readable side is the request body.
  on(event: string, listener: (...args: any[]) => void): this {
    this.stream.on(event, listener);
    return this;
  }

  pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    return this.stream.pipe(destination, options);
  }

  unpipe(destination?: NodeJS.WritableStream): this {
    this.stream.unpipe(destination);
    return this;
  }

  destroy(error?: Error): this {
    this.stream.destroy(error);
    return this;
  }
}
