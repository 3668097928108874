/**
 * The server: bind, timeouts, HTTP/1 connection handling (lingering close, pipelining, malformed
 * requests), URLs and graceful close. The request path itself is `handler.ts`.
 *
 * This module is also the package's entry point, so it re-exports the public API.
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type net from "node:net";
import type { Socket } from "node:net";
import { networkInterfaces } from "node:os";
import type { Duplex } from "node:stream";
import { ALLOW, createHandler } from "./handler.js";
import type { HandlerOptions } from "./options.js";
import { clientAddress, type AccessLogEntry } from "./log.js";
import { rankNetworkAddresses } from "./network.js";
import { testTimeoutMs, WHOLE_REQUEST_MS } from "./policy.js";
import { hasUploadBody } from "./upload.js";
import type { ServeHttp1, TlsCertificate } from "./tls.js";

export { createHandler } from "./handler.js";
export { type Handler, type HandlerOptions } from "./options.js";
export { escapeControl, formatLogLine, type AccessLogEntry } from "./log.js";
export { validateExtraHeaders } from "./policy.js";
export { parseHttpDate } from "./conditional.js";
export { type Credentials } from "./auth.js";
export { parseRangeHeader, type RangeRequest } from "./ranges.js";
export { type ByteRange } from "./reply.js";
export { rankNetworkAddresses, type NetworkAddress } from "./network.js";
export { type TlsCertificate } from "./tls.js";

/** Options for `startServer`: the handler's, plus where to listen. */
export interface ServerOptions extends HandlerOptions {
  /** Port to listen on; 0 picks any free port. Default: 8000. */
  port?: number;
  /** How many ports above `port` to try when it is taken. Default: 0 (fail with EADDRINUSE). */
  portFallback?: number;
  /** Address to bind. Default: all interfaces, IPv6 dual-stack where available. */
  host?: string;
  /**
   * Serve HTTPS with this certificate and key (PEM): HTTP/2 for clients that offer it (ALPN),
   * HTTP/1.1 for the others, and a redirect to `https://` for plain HTTP sent to the port.
   * Default: none, plain HTTP.
   */
  tls?: TlsCertificate;
}

export interface StartedServer {
  /** The listening server: node:http's on plain HTTP; with `tls`, the one that sorts TLS from plain HTTP. */
  server: net.Server;
  port: number;
  /** The address bound, or undefined for all interfaces. */
  host: string | undefined;
  /** A URL that works from this machine, with the real port. */
  url: string;
  /**
   * URLs other machines on the network can use (empty when bound to one address), the one a phone
   * can most likely reach first: physical interfaces, then others, then virtual ones (see `network`).
   */
  networkUrls: string[];
  /** `networkUrls`, in the same order, with each one's interface and, for a virtual one, a label (its interface's name). */
  network: NetworkUrl[];
  /**
   * Stops accepting, lets in-flight responses finish (at most `graceMs`), closes idle sockets.
   * Live reload's event streams end at once, and its watcher stops.
   */
  close(graceMs?: number): Promise<void>;
}

export interface NetworkUrl {
  url: string;
  interfaceName: string;
  /** Set for a bridge, VM network or VPN (`docker0`, `tailscale0`): the banner shows it beside the URL. */
  label: string | undefined;
}

/** Time limits that keep slow or idle clients from holding sockets forever. */
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often node:http looks for connections past those limits. */
const CONNECTIONS_CHECK_MS = 1_000;
/** How long a connection we refused may go on sending before it is cut (see `lastWordOn`). */
const LINGER_MS = 2_000;

export async function startServer(options: ServerOptions = {}): Promise<StartedServer> {
  // The handler learns the network URLs once we listen: a listing seen through 127.0.0.1 shows a
  // QR code of the network URL instead, which a phone can use. A caller's own getter wins.
  let network: NetworkUrl[] = [];
  const handler = await createHandler({ networkOrigins: () => network.map((n) => n.url.slice(0, -1)), ...options });
  const serveHttp1 = http1Handling(options);
  let server: net.Server;
  let closeServer: (graceMs: number) => Promise<void>;
  if (options.tls) {
    // Loaded for HTTPS only: node:http2 and node:tls cost a plain server about 2 MiB it never uses.
    const { createTlsListener } = await import("./tls.js");
    const listener = createTlsListener(handler, options.tls, { headersMs: HEADERS_TIMEOUT_MS, keepAliveMs: KEEP_ALIVE_TIMEOUT_MS, lingerMs: LINGER_MS, checkEveryMs: CONNECTIONS_CHECK_MS }, serveHttp1);
    server = listener.server;
    closeServer = listener.close;
  } else {
    const plain = http.createServer({ connectionsCheckingInterval: CONNECTIONS_CHECK_MS }, (req, res) => handler(req, res));
    serveHttp1(plain, (req, res) => handler(req, res), "connection");
    server = plain;
    closeServer = (graceMs) => closeGracefully(plain, graceMs);
  }
  const scheme = options.tls ? "https" : "http";

  const firstPort = options.port ?? 8000;
  const lastPort = firstPort === 0 ? 0 : Math.min(65535, firstPort + (options.portFallback ?? 0));
  let port = firstPort;
  for (;;) {
    try {
      await listen(server, port, options.host);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || port >= lastPort) throw error;
      port++;
    }
  }
  const address = server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  const allInterfaces = options.host === undefined || options.host === "::" || options.host === "0.0.0.0";
  const localHost = allInterfaces ? "127.0.0.1" : options.host!;
  const addresses = allInterfaces ? rankNetworkAddresses(networkInterfaces(), options.host === "0.0.0.0") : [];
  network = addresses.map((a) => ({ url: `${scheme}://${hostForUrl(a.address)}:${boundPort}/`, interfaceName: a.interfaceName, label: a.virtual ? a.interfaceName : undefined }));
  return {
    server,
    port: boundPort,
    host: options.host,
    url: `${scheme}://${hostForUrl(localHost)}:${boundPort}/`,
    networkUrls: network.map((n) => n.url),
    network,
    close: (graceMs = 3000) => {
      handler.close(); // live reload's event streams end now, or they would hold the close for graceMs
      return closeServer(graceMs);
    },
  };
}

/**
 * What every HTTP/1 server of ours needs, plain or over TLS (HTTP/2 has none of it): time limits,
 * lingering close, `Expect: 100-continue` left to the handler, plain answers to malformed requests
 * and to CONNECT. `connectionEvent` is where the server sees a connection it will speak HTTP/1 on.
 */
function http1Handling(options: ServerOptions): ServeHttp1 {
  return (server, respond, connectionEvent) => {
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    // requestTimeout is meant to bound the whole request, body included, and a 2 GiB upload over a
    // slow LAN would be cut at 30 s: with uploads it is off. But Node (20, measured) stops watching
    // a request once its head is parsed and handed over: a body that keeps trickling in is never
    // cut by it. So each request with a body that is not an upload gets the limit of its own
    // (`limitWholeRequest`), with or without --upload. An upload's body has an idle timeout instead
    // (writes.ts: 30 s without a byte cuts it with a 408), so a client may be slow but not silent.
    // The 10 s limit on the headers stays for all. Nothing else in Node caps a body's size:
    // --max-upload does that (maxRequestsPerSocket, unset, limits requests per connection only).
    const wholeRequestMs = testTimeoutMs() ?? WHOLE_REQUEST_MS;
    server.requestTimeout = options.upload ? 0 : wholeRequestMs;
    const limit = (req: IncomingMessage) => limitWholeRequest(server, req, wholeRequestMs, options.upload === true);
    server.on("request", limit);
    server.on("checkContinue", limit);
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;

    // Node closes a connection after a `Connection: close` request's answer with destroySoon();
    // make that a lingering close too, or requests pipelined after it would turn the close into a reset.
    server.on(connectionEvent, (socket: Socket) => {
      if (speaksHttp1(socket)) socket.destroySoon = () => lingeringClose(socket);
    });

    // `Expect: 100-continue` goes to the handler, which sends the 100 itself (reply.ts's
    // sendContinue) only for an upload that passed every check that needs no body; every other
    // request gets its final answer at once (RFC 9110 §10.1.1). Node's automatic interim 100, for a
    // pipelined request, can land after the final response's head, inside its body.
    server.on("checkContinue", respond);

    // A malformed request never reaches the handler; answer it plainly instead of Node's silent close.
    // Node reports the same broken parse again when more bytes arrive: the first report decides.
    const refused = new WeakSet<Duplex>();
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
      if (refused.has(socket)) return void (error.code === "ERR_HTTP_REQUEST_TIMEOUT" && socket.destroy());
      if (!socket.writable || error.code === "ECONNRESET") return void socket.destroy();
      // The client stopped sending in the middle of a body being read (an upload): that request
      // can never be answered, and no answer after it is owed. Destroying the socket ends the
      // request with an error, which removes the upload's temporary file.
      if (error.code === "HPE_INVALID_EOF_STATE" && bodyBeingRead(socket)) return void socket.destroy();
      refused.add(socket);
      const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      const log = { client: clientAddress(socket as Socket), method: "-", url: "-", note: error.code ?? "malformed request" };
      // Out of time while its body still comes and before its answer began: that request's answer
      // is the 408, now (as Node's own default does), not after an answer that waits on the body.
      if (status === 408 && bodyBeingRead(socket) && !answerStarted(socket)) return sayLastWord(socket, status, {}, log);
      lastWordOn(socket, status, {}, log);
    });

    // CONNECT asks us to be a proxy, which we are not; unheard, Node would drop the connection silently.
    server.on("connect", (req: IncomingMessage, socket: Socket) => {
      lastWordOn(socket, 405, { Allow: ALLOW }, { client: clientAddress(socket), method: "CONNECT", url: req.url ?? "", note: "not a proxy" });
    });
  };

  /**
   * Ends a connection with a bare status of our own, after every response still owed on it: the
   * requests pipelined before the bad one get their answers, in order, first (a status line now
   * would answer the wrong request, or land inside a body on the wire). Then `lingeringClose`.
   */
  function lastWordOn(socket: Duplex, status: number, headers: Record<string, string>, log: Pick<AccessLogEntry, "client" | "method" | "url" | "note">): void {
    afterOwedResponses(socket, () => sayLastWord(socket, status, headers, log));
  }

  /** A bare status of our own on the connection now, then `lingeringClose`. */
  function sayLastWord(socket: Duplex, status: number, headers: Record<string, string>, log: Pick<AccessLogEntry, "client" | "method" | "url" | "note">): void {
    if (!socket.writable) return void socket.destroy();
    const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
    socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`);
    lingeringClose(socket);
    options.onResponse?.({ time: new Date(), status, bytes: 0, ms: 0, completed: true, ...log });
  }
}

/**
 * The 30 s limit on a whole request, for one request with a body: past it with the body still
 * coming, the connection hears `ERR_HTTP_REQUEST_TIMEOUT`, as Node's own limit would say it (a 408,
 * see `clientError`). With --upload (`uploads`), an upload's body is exempt: it has its idle limit.
 * A request without a body is whole once its head is, and the header timeout covers that.
 */
function limitWholeRequest(server: net.Server, req: IncomingMessage, limitMs: number, uploads: boolean): void {
  if ((uploads && hasUploadBody(req.method)) || req.httpVersionMajor !== 1 || req.complete) return;
  if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) return;
  if (req.headers["content-length"] === "0") return;
  const timer = setTimeout(() => {
    if (req.complete || req.socket.destroyed) return;
    server.emit("clientError", Object.assign(new Error("request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }), req.socket);
  }, limitMs);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once("end", clear);
  req.once("close", clear);
}

/** Listens on `host`, or on `::` dual-stack, falling back to 0.0.0.0 where IPv6 is missing. */
function listen(server: net.Server, port: number, host: string | undefined): Promise<void> {
  const attempt = (h: string) =>
    new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.once("error", onError);
      server.listen({ port, host: h, ipv6Only: false }, () => {
        server.off("error", onError);
        resolve();
      });
    });
  if (host !== undefined) return attempt(host);
  return attempt("::").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "EAFNOSUPPORT" || error.code === "EADDRNOTAVAIL") return attempt("0.0.0.0");
    throw error;
  });
}

/**
 * Closes a connection as nginx's lingering close does: a FIN after what was written, then what the
 * client still sends is read and dropped until it closes too, or LINGER_MS. Closing a socket with
 * unread input makes the kernel send a reset, and a reset makes the client's side throw away the
 * end of the last answer before the client has read it. The timer bounds a client that never stops.
 */
function lingeringClose(socket: Duplex): void {
  socket.end();
  socket.removeAllListeners("data"); // Node's parser: nothing more is parsed, so nothing is answered
  socket.resume();
  socket.once("end", () => socket.destroy());
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** True while the connection's current request still has body bytes to come (an upload being read). */
function bodyBeingRead(socket: Duplex): boolean {
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  return current?.req !== undefined && !current.req.complete;
}

/** True once the answer to the connection's current request has begun (its head written). */
function answerStarted(socket: Duplex): boolean {
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  return current?.headersSent === true;
}

/** Runs `then` once every response owed on this connection has been written (at once if none). */
function afterOwedResponses(socket: Duplex, then: () => void): void {
  // `_httpMessage` is the response that owns the socket now, as Node's own default handler reads it.
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!current) return then();
  const next = () => {
    current.off("finish", next).off("close", next);
    // On "finish" Node has already handed the socket to the next queued response, if any.
    if (!socket.destroyed) afterOwedResponses(socket, then);
  };
  current.once("finish", next).once("close", next);
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    // A keep-alive socket goes idle when its response ends; close each as soon as it does.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** True for an HTTP/1 connection: HTTP/2 sessions are closed by their own rules, never lingering. */
function speaksHttp1(socket: Socket): boolean {
  return (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol !== "h2";
}
