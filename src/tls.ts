/**
 * HTTPS on one port, for three kinds of client. The first byte of a connection says which: a TLS
 * handshake (0x16) goes to `node:http2`'s secure server, which speaks HTTP/2 to clients that offer
 * it (ALPN "h2") and HTTP/1.1 to the rest; anything else is plain HTTP sent to the HTTPS port (a
 * user typed `http://`), which a small HTTP/1 server answers with a redirect to `https://`.
 *
 * HTTP/1 connections, over TLS or not, get server.ts's HTTP/1 handling (`serveHttp1`). HTTP/2
 * sessions get their own limits here: streams per session, and the header and idle timeouts,
 * which Node's HTTP/1 connection checks do not cover.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import http2, { type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import net, { type Socket } from "node:net";
import type { Handler } from "./options.js";

/** A PEM certificate (its chain may follow it) and its private key. */
export interface TlsCertificate {
  cert: string | Buffer;
  key: string | Buffer;
}

/** The HTTP/1 servers' time limits, which HTTP/2 sessions follow too; server.ts decides them. */
export interface Timeouts {
  /** From the connection (or the previous answer) to a whole request head. */
  headersMs: number;
  /** Between answers on a connection kept open. */
  keepAliveMs: number;
  /** A connection we chose to close may go on sending this long before it is cut. */
  lingerMs: number;
  /** How often node:http looks for HTTP/1 connections past their time. */
  checkEveryMs: number;
}

/**
 * `node:http2`'s secure server with `allowHTTP1`: for HTTP/1 clients it runs `node:http`'s own
 * connection handling, with that server's time limits and idle-connection closing (which Node's
 * types leave out; `withHttp1Handling` checks they are there).
 */
export type Http1CapableSecureServer = Http2SecureServer & Pick<http.Server, "headersTimeout" | "requestTimeout" | "keepAliveTimeout" | "closeIdleConnections"> & { connectionsCheckingInterval: number };

/** What an HTTP/1 server needs of server.ts: its timeouts, lingering close, malformed requests, CONNECT. */
export type ServeHttp1 = (server: http.Server | Http1CapableSecureServer, respond: (req: IncomingMessage, res: ServerResponse) => void, connectionEvent: "connection" | "secureConnection") => void;

export interface TlsListener {
  /** The listening server: it accepts every connection and hands each on by its first byte. */
  server: net.Server;
  /** Stops accepting; lets open requests and streams finish for at most `graceMs`, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

/** A TLS record starts with its content type; a connection's first record is a handshake (RFC 8446 §5.1). */
const TLS_HANDSHAKE = 0x16;

/**
 * Streams one HTTP/2 connection may have open at once: what nginx allows (128), rounded down. A
 * browser opens far fewer; a client that wants more waits for its own streams to end.
 */
const MAX_CONCURRENT_STREAMS = 100;

export function createTlsListener(handler: Handler, certificate: TlsCertificate, timeouts: Timeouts, serveHttp1: ServeHttp1): TlsListener {
  const secure = withHttp1Handling(
    http2.createSecureServer({
      ...certificate,
      allowHTTP1: true,
      // A handshake that never finishes is a request head that never arrives.
      handshakeTimeout: timeouts.headersMs,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
    }),
  );
  // Read when the server starts listening: node:http2 takes no such option.
  secure.connectionsCheckingInterval = timeouts.checkEveryMs;
  secure.on("request", handler);
  serveHttp1(secure, handler, "secureConnection");
  const sessions = new Set<ServerHttp2Session>();
  secure.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    limitIdleTime(session, timeouts);
  });

  const plain = http.createServer({ connectionsCheckingInterval: timeouts.checkEveryMs }, (req, res) => handler.redirectToHttps(req, res));
  serveHttp1(plain, (req, res) => handler.redirectToHttps(req, res), "connection");

  const accepted = new Set<Socket>();
  const waiting = new Set<Socket>();
  // noDelay: small answers leave at once, as from node:http's own listener.
  const front = net.createServer({ noDelay: true }, (socket) => {
    accepted.add(socket);
    socket.once("close", () => accepted.delete(socket));
    waiting.add(socket);
    // Until its first byte, a connection is ours alone: a silent one is cut like a silent HTTP/1 one.
    const onError = () => socket.destroy();
    socket.on("error", onError);
    socket.setTimeout(timeouts.headersMs, () => socket.destroy());
    socket.once("readable", () => {
      waiting.delete(socket);
      const first = socket.read(1) as Buffer | null;
      if (first === null) return void socket.destroy(); // closed before a byte
      socket.unshift(first); // TLS and HTTP/1 both read what the socket holds buffered before reading on
      socket.setTimeout(0);
      socket.off("error", onError);
      (first[0] === TLS_HANDSHAKE ? secure : plain).emit("connection", socket);
    });
  });
  // Node's HTTP/1 connection checks (the header timeout) start when a server listens; these two
  // never listen themselves, the front server does it for them.
  front.once("listening", () => {
    secure.emit("listening");
    plain.emit("listening");
  });

  return {
    server: front,
    close: (graceMs) =>
      new Promise((resolve) => {
        const sweep = setInterval(() => {
          secure.closeIdleConnections();
          plain.closeIdleConnections();
        }, 50);
        const timer = setTimeout(() => accepted.forEach((socket) => socket.destroy()), graceMs);
        timer.unref();
        // Resolves once every connection it accepted has closed, whichever server it went to.
        front.close(() => {
          clearTimeout(timer);
          clearInterval(sweep);
          resolve();
        });
        // Each closes its idle HTTP/1 connections now and stops checking the rest (never listening, they report so).
        secure.close(() => {});
        plain.close(() => {});
        // GOAWAY: streams in flight finish, no new ones start, and the session closes after them.
        sessions.forEach((session) => session.close());
        waiting.forEach((socket) => socket.destroy());
      }),
  };
}

function withHttp1Handling(server: Http2SecureServer): Http1CapableSecureServer {
  const capable = (s: Http2SecureServer): s is Http1CapableSecureServer => "headersTimeout" in s && "connectionsCheckingInterval" in s && "closeIdleConnections" in s;
  if (!capable(server)) throw new Error("this Node's HTTP/2 server does not run HTTP/1 connections as node:http does");
  return server;
}

/**
 * HTTP/2's own header and idle timeouts. A session must start its first stream within the header
 * timeout (a client that connects and says nothing, or never finishes a header block, is cut as
 * HTTP/1's header timeout cuts it), and when its last stream ends it may stay idle for the
 * keep-alive time. The session is then closed with GOAWAY, and destroyed if the client lingers.
 * Open streams (a download, live reload's event stream) keep it open however quiet they are.
 */
function limitIdleTime(session: ServerHttp2Session, timeouts: Timeouts): void {
  let open = 0;
  const expire = () => {
    session.close();
    setTimeout(() => session.destroy(), timeouts.lingerMs).unref();
  };
  let timer = setTimeout(expire, timeouts.headersMs);
  session.on("stream", (stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0 && !session.closed) timer = setTimeout(expire, timeouts.keepAliveMs);
    });
  });
  session.once("close", () => clearTimeout(timer));
}
