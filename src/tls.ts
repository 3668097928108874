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
import { HTTP2_MAX_WRITE } from "./policy.js";

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

/**
 * A browser resets (cancels) streams as a matter of course: a `<video>` seek, a page left while its
 * images load. Two limits can end a session for it, and the session is ended gracefully before
 * either does: GOAWAY lets its open streams finish, and a browser sends what comes next on a new
 * connection. Short of them, one connection serves however many streams its client cancels.
 *
 * - Node's memory accounting (`maxSessionMemory`). A reset stream can leave up to HTTP2_MAX_WRITE
 *   counted against its session that is no longer held (policy.ts says why), and once the count
 *   passes the limit Node refuses every new stream with ENHANCE_YOUR_CALM, for good. So the limit
 *   is raised from Node's 10 MB to 128 MB, what a session's resets may have left counted is added
 *   up (HTTP2_MAX_WRITE for each stream reset before its writes were done), and
 *   the session ends when that reaches 96 MB: at least 1,400 cancels, and 32 MB stay for what the
 *   session really holds (more than Node's default for all of it; what a session can really hold
 *   is bounded before that by its 100 streams, one write each, flow-control windows and header
 *   limits).
 * - nghttp2's limit against CVE-2023-44487 (rapid reset): a bucket of resets that refills at a rate,
 *   past which nghttp2 ends the session at once (INTERNAL_ERROR, every stream on it failed). Its
 *   default, 1,000 refilled at 33 a second, is passed by 1,000 downloads cancelled five at a time
 *   (a second or two). Node 22.10 and later let a server set it (`streamResetBurst`, `streamResetRate`),
 *   so there it is made ten times larger, and the default applies, here, to what rapid reset sends:
 *   streams reset before their answer began. One reset after its answer began has cost the server a
 *   small answer. Node 20 (and 22 before 22.10) takes no such setting; there its default applies to
 *   every reset.
 *   A session is ended while more resets are left than the streams it may have open (once GOAWAY
 *   is out, no new stream can add one).
 */
const MAX_SESSION_MEMORY_MB = 128;
/** Node counts `maxSessionMemory` in units of 1,000,000 bytes. */
const LEFT_COUNTED_AT_GOAWAY = (MAX_SESSION_MEMORY_MB - 32) * 1_000_000;
/** Node 22.10 and 23 added `streamResetBurst`/`streamResetRate`; an older Node ignores them. */
const RESET_LIMIT_SETTABLE = nodeAtLeast(22, 10);
const NGHTTP2_RESET_LIMIT = { burst: 1000, perSecond: 33 };
const RAISED_RESET_LIMIT = { burst: 10_000, perSecond: 330 };
const RESETS_LEFT_AT_GOAWAY = 2 * MAX_CONCURRENT_STREAMS;

export function createTlsListener(handler: Handler, certificate: TlsCertificate, timeouts: Timeouts, serveHttp1: ServeHttp1): TlsListener {
  const secure = withHttp1Handling(
    http2.createSecureServer({
      ...certificate,
      allowHTTP1: true,
      // A handshake that never finishes is a request head that never arrives.
      handshakeTimeout: timeouts.headersMs,
      settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      // Node 22.10+ only (older ones ignore them); not in every @types/node.
      ...(RESET_LIMIT_SETTABLE ? { streamResetBurst: RAISED_RESET_LIMIT.burst, streamResetRate: RAISED_RESET_LIMIT.perSecond } : {}),
    }),
  );
  // Read when the server starts listening: node:http2 takes no such option.
  secure.connectionsCheckingInterval = timeouts.checkEveryMs;
  // HTTP/2 streams reach the handler through node:http2's stream API (`serveStream`); `request`
  // then comes from HTTP/1.1 connections only. node:http2 builds its compatibility objects for
  // every stream once a `request` listener exists, through a `newListener` hook it installs itself
  // (the same on Node 20, 22 and 24): the hook goes first, and the check after makes sure no stream
  // is answered twice should a later Node do it otherwise.
  secure.removeAllListeners("newListener");
  secure.on("stream", handler.serveStream);
  secure.on("request", handler);
  if (secure.listenerCount("stream") !== 1) throw new Error("this Node's HTTP/2 server answers streams through its compatibility layer on its own");
  serveHttp1(secure, handler, "secureConnection");
  const sessions = new Set<ServerHttp2Session>();
  secure.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    watchStreams(session, timeouts);
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
 * What a session's streams decide for it.
 *
 * - HTTP/2's own header and idle timeouts. A session must start its first stream within the header
 *   timeout (a client that connects and says nothing, or never finishes a header block, is cut as
 *   HTTP/1's header timeout cuts it), and when its last stream ends it may stay idle for the
 *   keep-alive time. The session is then closed with GOAWAY, and destroyed if the client lingers.
 *   Open streams (a download, live reload's event stream) keep it open however quiet they are, but
 *   not a header block begun beside them that takes longer than the header timeout: node:http2
 *   shows a stream only once its header block is whole, and `lastProcStreamID` names the stream
 *   whose HEADERS came last, so a stream named there and not yet shown is a block still arriving
 *   (and nothing else may come on the connection between its frames: RFC 9113 §4.3). It is checked
 *   as node:http checks HTTP/1 heads, every `checkEveryMs` while streams are open.
 * - Resets: a session is closed with GOAWAY before its resets would make Node refuse its streams
 *   or nghttp2 end it (see MAX_SESSION_MEMORY_MB above).
 */
function watchStreams(session: ServerHttp2Session, timeouts: Timeouts): void {
  let open = 0;
  let shown = 0;
  let blockSince: number | null = null;
  let checking: NodeJS.Timeout | undefined;
  const resetLimit = new ResetBucket(RESET_LIMIT_SETTABLE ? RAISED_RESET_LIMIT : NGHTTP2_RESET_LIMIT);
  const unansweredResetLimit = new ResetBucket(NGHTTP2_RESET_LIMIT);
  let leftCounted = 0;
  const expire = () => {
    session.close();
    setTimeout(() => session.destroy(), timeouts.lingerMs).unref();
  };
  /** One more reset stream, which may have left `counted` bytes counted; true when the session should end now. */
  const resetTooMany = (answered: boolean, counted: number): boolean => {
    leftCounted += counted;
    const lastOfBurst = resetLimit.take() || (!answered && RESET_LIMIT_SETTABLE && unansweredResetLimit.take());
    return lastOfBurst || leftCounted >= LEFT_COUNTED_AT_GOAWAY;
  };
  const checkHeaderBlock = () => {
    if (session.closed || session.destroyed) return;
    if (session.state.lastProcStreamID! <= shown) return void (blockSince = null);
    const now = performance.now();
    blockSince ??= now;
    if (now - blockSince >= timeouts.headersMs) expire();
  };
  let timer = setTimeout(expire, timeouts.headersMs);
  session.on("stream", (stream) => {
    shown = Math.max(shown, stream.id!);
    if (open++ === 0) checking = setInterval(checkHeaderBlock, timeouts.checkEveryMs).unref();
    clearTimeout(timer);
    stream.once("close", () => {
      // A stream reset before its writes were all done may have left its write in flight counted:
      // reply.ts writes one at a time, at most HTTP2_MAX_WRITE. (Reading what was in flight would
      // take an 'aborted' listener on every stream, which cost small answers about 5% of their rate.)
      const counted = stream.writableFinished ? 0 : HTTP2_MAX_WRITE;
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !session.closed && resetTooMany(stream.headersSent, counted)) session.close();
      if (--open > 0) return;
      clearInterval(checking);
      if (!session.closed) timer = setTimeout(expire, timeouts.keepAliveMs);
    });
  });
  session.once("close", () => {
    clearTimeout(timer);
    clearInterval(checking);
  });
}

/** A bucket of resets that refills at a steady rate, as nghttp2 keeps its own. */
class ResetBucket {
  private left: number;
  private countedAt = performance.now();

  constructor(private readonly limit: { burst: number; perSecond: number }) {
    this.left = limit.burst;
  }

  /** Takes one reset; true once what is left is down to RESETS_LEFT_AT_GOAWAY. */
  take(): boolean {
    const now = performance.now();
    this.left = Math.min(this.limit.burst, this.left + ((now - this.countedAt) / 1000) * this.limit.perSecond) - 1;
    this.countedAt = now;
    return this.left <= RESETS_LEFT_AT_GOAWAY;
  }
}

function nodeAtLeast(major: number, minor: number): boolean {
  const [have, haveMinor] = process.versions.node.split(".").map(Number) as [number, number];
  return have > major || (have === major && haveMinor >= minor);
}
