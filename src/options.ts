/**
 * What `createHandler` takes and gives: its options and the handler's type, the handler's public
 * face (server.ts re-exports both). Types only: the policy's plain options are decided in
 * `policy.ts`, the rest wires the handler to a server (passwords, live changes, the log).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Credentials, FailureLimiter } from "./auth.js";
import type { LiveChanges } from "./live.js";
import type { AccessLogEntry } from "./log.js";
import type { PolicyOptions } from "./policy.js";
import type { ServedRequest } from "./reply.js";

/** What `createHandler` needs to know: the policy's plain options, and what wires it to the rest of a server. Every field has a safe default. */
export interface HandlerOptions extends PolicyOptions {
  /**
   * Host names answered besides the built-in ones (IP literals, `localhost` and `*.localhost`, this
   * machine's hostname and `hostname.local`); a request for any other name gets 403, which stops
   * DNS rebinding. `"any"` (or a list holding `"any"`, as `--allowed-host any` gives) turns the
   * check off: for a server behind a proxy that checks names itself. Default: [].
   */
  allowedHosts?: "any" | readonly string[];
  /**
   * Origins (`http://192.168.1.5:8000`) other devices can use, best first. A listing opened through
   * a loopback name (127.0.0.1, [::1], localhost) shows a QR code of the first one instead of its
   * own URL, which a phone cannot use. `startServer` sets it to its network URLs once it listens.
   * Default: none.
   */
  networkOrigins?: () => readonly string[];
  /**
   * Passwords: every request must carry one of these users' credentials (HTTP Basic, RFC 7617),
   * or gets 401. Ten wrong ones from one address within a minute, and that address gets 429 for a
   * minute. CORS preflights (with `cors`) pass without, as browsers send them without credentials.
   * Under Connect/Express, requests this handler would pass to `next()` must authenticate too.
   * Default: none, anyone who can connect may read.
   */
  auth?: Credentials[];
  /**
   * With `live`: changes told from elsewhere, with the boot id every page should see, instead of a
   * watcher in this process. `--workers` sets it, so one watcher in the primary reaches every
   * worker's pages. Default: this process watches the root itself.
   */
  liveChanges?: LiveChanges;
  /**
   * With `auth`: the wrong-password limiter to use instead of one of this handler's own.
   * `--workers` gives each worker one that also tells the primary, so the limit holds across all.
   */
  authLimiter?: FailureLimiter;
  /** Called once per finished (or aborted) response. Default: no access log. */
  onResponse?: (entry: AccessLogEntry) => void;
  /** Called for an unexpected error; the client gets a 500. Default: one line on stderr. */
  onError?: (error: unknown, req: ServedRequest) => void;
}

/**
 * The request handler: for `node:http` (and Connect/Express, with `next`), and for `node:http2`,
 * on its compatibility API (`request` events) or, faster, its stream API (`serveStream`, for
 * `stream` events, which HTTPS with HTTP/2 uses). Each request goes with its own kind of response.
 */
export type Handler = {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  (req: Http2ServerRequest, res: Http2ServerResponse): void;
  /** An HTTP/2 stream, with the arguments of node:http2's `stream` event: `server.on("stream", handler.serveStream)`. */
  serveStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void;
  /**
   * Ends live reload's open event streams and stops its watcher (a no-op without `live`), so a
   * server closing gracefully need not wait for them. `StartedServer.close` calls it.
   */
  close(): void;
  /**
   * Answers a plain-HTTP request that reached an HTTPS port with a redirect to the same URL over
   * `https://`, after the Host check (so it never names another server). `startServer` uses it.
   */
  redirectToHttps(req: IncomingMessage, res: ServerResponse): void;
};
