/**
 * HTTP/2 downloads cancelled by the client, as a browser cancels them on every `<video>` seek and
 * every page left while its images load, on one connection it keeps using: no stream is ever
 * refused (RST_STREAM ENHANCE_YOUR_CALM), files are served whole afterwards, descriptors are given
 * back, the server's memory comes back down and its process stays up. On Node 22.10 and later the one
 * connection serves throughout (no GOAWAY). On Node 20, whose nghttp2 limit on resets (1,000, then
 * 33 a second) cannot be raised, the server ends a session gracefully with GOAWAY before that limit
 * would end it abruptly (tls.ts), and the client goes on on a new one, as browsers do.
 *
 * The client here is a browser's in that one respect: after a GOAWAY it opens a new session, and it
 * sends again a request the server refused as unprocessed (REFUSED_STREAM, RFC 9113 §8.7).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import http2, { type ClientHttp2Session } from "node:http2";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { selfSignedCertificate } from "../src/cert.js";
import { descriptorsOn, eventually, residentBytes, startCli, tempDir } from "./helpers.js";

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** What became of one request. */
type Outcome = { kind: "ok"; status: number; body: Buffer } | { kind: "cancelled" } | { kind: "refused" } | { kind: "failed"; why: string };

/**
 * One origin's connection as a browser keeps it: every request on the current session; after a
 * GOAWAY (or a session closed by the server) the next request opens a new one, and a request the
 * server refused unprocessed is sent once more on it.
 */
class Origin {
  private session: ClientHttp2Session | null = null;
  sessionsOpened = 0;
  goaways = 0;
  /** Streams refused with ENHANCE_YOUR_CALM: what this suite exists to keep at 0. */
  calmRefusals = 0;

  constructor(
    private readonly url: string,
    private readonly ca: string,
    /** Flow-control windows to open, as a browser does (Chromium: 6 MiB per stream, 15 MiB per connection); default node:http2's 64 KiB. */
    private readonly windows?: { stream: number; session: number },
  ) {}

  private current(): ClientHttp2Session {
    if (this.session === null || this.session.closed || this.session.destroyed) {
      const windows = this.windows;
      const session = http2.connect(this.url, { ca: this.ca, settings: windows && { initialWindowSize: windows.stream } });
      if (windows) session.once("connect", () => session.setLocalWindowSize(windows.session));
      this.sessionsOpened++;
      session.on("error", () => {});
      session.on("goaway", () => {
        this.goaways++;
        if (this.session === session) this.session = null;
      });
      session.on("close", () => {
        if (this.session === session) this.session = null;
      });
      this.session = session;
    }
    return this.session;
  }

  /** GET `urlPath`; with `cancelAtFirstByte`, the client resets the stream (CANCEL) on its first body bytes. */
  async get(urlPath: string, cancelAtFirstByte = false, retries = 3): Promise<Outcome> {
    const outcome = await this.once(urlPath, cancelAtFirstByte);
    if (outcome.kind === "refused") this.calmRefusals++;
    if (outcome.kind === "failed" && outcome.why === "unprocessed" && retries > 0) return this.get(urlPath, cancelAtFirstByte, retries - 1);
    return outcome;
  }

  private once(urlPath: string, cancelAtFirstByte: boolean): Promise<Outcome> {
    return new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.current().request({ ":path": urlPath });
      } catch {
        // The session had a GOAWAY in flight: nothing was sent, so the request goes again on a new one.
        this.session = null;
        return resolve({ kind: "failed", why: "unprocessed" });
      }
      let status = 0;
      let cancelled = false;
      const chunks: Buffer[] = [];
      stream.on("response", (headers) => (status = Number(headers[":status"])));
      stream.on("data", (chunk: Buffer) => {
        if (cancelAtFirstByte) {
          if (!cancelled) stream.close(NGHTTP2_CANCEL);
          cancelled = true;
          return;
        }
        chunks.push(chunk);
      });
      stream.on("error", () => {});
      stream.on("close", () => {
        if (cancelled) return resolve({ kind: "cancelled" });
        if (stream.rstCode === NGHTTP2_ENHANCE_YOUR_CALM) return resolve({ kind: "refused" });
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM || (status === 0 && this.session === null)) return resolve({ kind: "failed", why: "unprocessed" });
        if (stream.rstCode) return resolve({ kind: "failed", why: `reset ${stream.rstCode}` });
        resolve({ kind: "ok", status, body: Buffer.concat(chunks) });
      });
      stream.end();
    });
  }

  close(): void {
    this.session?.close();
  }
}

/** Resident memory of process `pid`, in MiB. */
function residentMiB(pid: number): number {
  return residentBytes(pid) / 2 ** 20;
}

const BIG = 50 * 1000 * 1000;
const SMALL = randomBytes(1024);

/** serve-here as a user starts it, over HTTPS, in its own process (so its memory and descriptors are its own), serving a 50 MB file and a small one. */
async function startServing(t: TestContext, windows?: { stream: number; session: number }): Promise<{ origin: Origin; another: () => Origin; pid: number; big: string }> {
  const root = tempDir(t, { "small.bin": SMALL, "movie.webm": randomBytes(BIG) });
  const dir = tempDir(t);
  const certificate = await selfSignedCertificate({ configDir: dir, hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  writeFileSync(path.join(dir, "cert.pem"), certificate.cert);
  writeFileSync(path.join(dir, "key.pem"), certificate.key);
  const cli = await startCli(t, [root, "-q", "-p", "0", "-b", "127.0.0.1", "--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")]);
  const origin = new Origin(`https://127.0.0.1:${cli.port}`, certificate.cert, windows);
  t.after(() => origin.close());
  /** Another client of the same server, with the same windows. */
  const another = () => {
    const other = new Origin(`https://127.0.0.1:${cli.port}`, certificate.cert, windows);
    t.after(() => other.close());
    return other;
  };
  return { origin, another, pid: cli.child.pid!, big: path.join(root, "movie.webm") };
}

/** `count` downloads of the big file cancelled at their first bytes, `atOnce` at a time, each batch followed by a small file that must come whole. */
async function cancelDownloads(origin: Origin, count: number, atOnce: number): Promise<void> {
  for (let done = 0; done < count; done += atOnce) {
    const outcomes = await Promise.all(Array.from({ length: atOnce }, () => origin.get("/movie.webm", true)));
    for (const outcome of outcomes) assert.equal(outcome.kind, "cancelled", `download ${done}: ${JSON.stringify(outcome)}`);
    const probe = await origin.get("/small.bin");
    assert.ok(probe.kind === "ok" && probe.status === 200 && probe.body.equals(SMALL), `after ${done + atOnce} cancels the small file came back as ${JSON.stringify(probe.kind === "ok" ? { status: probe.status, length: probe.body.length } : probe)}`);
  }
}

/** Node 22.10 and later take tls.ts's raised reset limit (`streamResetBurst`). */
const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
const RESET_LIMIT_SETTABLE = major > 22 || (major === 22 && minor >= 10);

/**
 * No stream refused; on Node 22.10 and later one session throughout, on older ones a new one only after
 * a GOAWAY, which comes after about 800 quick cancels (nghttp2's 1,000 less the 200 tls.ts keeps).
 */
function assertSessions(origin: Origin, cancels: number): void {
  assert.equal(origin.calmRefusals, 0, "no stream was refused with ENHANCE_YOUR_CALM");
  if (RESET_LIMIT_SETTABLE) {
    assert.equal(origin.goaways, 0, `no GOAWAY over ${cancels} cancels`);
    assert.equal(origin.sessionsOpened, 1, `one session for ${cancels} cancels`);
  } else {
    assert.ok(origin.sessionsOpened <= Math.ceil(cancels / 500) + 1, `${origin.sessionsOpened} sessions for ${cancels} cancels: a new one only after a GOAWAY`);
  }
}

describe("HTTP/2 downloads cancelled by the client", { concurrency: true }, () => {
  it("1,000 downloads cancelled at their first bytes, five at a time: no stream refused, every file after them whole, descriptors back, memory back down", async (t) => {
    const { origin, pid, big } = await startServing(t);
    // The first half makes what every later cancel reuses (compiled code, buffers, the heap's
    // size): the second half must add nothing that grows with the cancels.
    await cancelDownloads(origin, 500, 5);
    const half = residentMiB(pid);
    await cancelDownloads(origin, 500, 5);
    const all = residentMiB(pid);
    await eventually(() => descriptorsOn(big, pid) === 0, "no descriptor of the file is left open");
    const whole = await origin.get("/movie.webm");
    assert.ok(whole.kind === "ok" && whole.status === 200 && whole.body.length === BIG, "the big file comes whole after 1,000 cancels");
    assertSessions(origin, 1000);
    console.log(`# node ${process.version}: 1,000 cancels, ${origin.sessionsOpened} session(s), ${origin.goaways} GOAWAY(s); server RSS ${half.toFixed(1)} MiB after 500, ${all.toFixed(1)} MiB after 1,000`);
    // Memory that stayed with each cancelled 50 MB download (one read-ahead of 64 KiB, or the
    // 512 KiB a stream used to queue) would add 31–250 MiB over 500 of them.
    assert.ok(all - half < 16, `server RSS grew by ${(all - half).toFixed(1)} MiB over the second 500 cancels`);
  });

  it("with a browser's flow-control windows (6 MiB a stream, 15 MiB the connection), 500 downloads cancelled five at a time: none refused", async (t) => {
    const { origin, pid, big } = await startServing(t, { stream: 6 * 2 ** 20, session: 15 * 2 ** 20 });
    await cancelDownloads(origin, 500, 5);
    assertSessions(origin, 500);
    await eventually(() => descriptorsOn(big, pid) === 0, "no descriptor of the file is left open");
  });

  it("two clients with a browser's windows, 500 downloads cancelled each, five at a time: the server stays up and refuses none", async (t) => {
    // What killed the server process (SIGSEGV) on Node 20 and 24 while files went out by respondWithFD.
    const windows = { stream: 6 * 2 ** 20, session: 15 * 2 ** 20 };
    const { origin, another, pid } = await startServing(t, windows);
    const other = another();
    await Promise.all([cancelDownloads(origin, 500, 5), cancelDownloads(other, 500, 5)]);
    assertSessions(origin, 500);
    assertSessions(other, 500);
    assert.ok(existsSync(`/proc/${pid}`), "the server process is alive");
  });

  it("3,000 downloads cancelled five at a time: none refused; where what the resets left counted nears Node's limit, a GOAWAY and a new session", async (t) => {
    // Past the 1,000 above, what each cancelled stream may leave counted against its session's
    // memory adds up to what tls.ts ends a session for (96 MB, at most 64 KiB a reset) on Node 22
    // and later; had it been counted short, Node would refuse streams before that.
    const { origin, pid, big } = await startServing(t);
    await cancelDownloads(origin, 3000, 5);
    assert.equal(origin.calmRefusals, 0, "no stream was refused with ENHANCE_YOUR_CALM");
    const most = RESET_LIMIT_SETTABLE ? 3 : Math.ceil(3000 / 500) + 1;
    assert.ok(origin.sessionsOpened <= most, `${origin.sessionsOpened} sessions for 3,000 cancels (at most ${most})`);
    console.log(`# node ${process.version}: 3,000 cancels, ${origin.sessionsOpened} session(s), ${origin.goaways} GOAWAY(s)`);
    await eventually(() => descriptorsOn(big, pid) === 0, "no descriptor of the file is left open");
  });

  it("100 downloads cancelled at once, then files on the same origin: none refused, all whole", async (t) => {
    const { origin, pid, big } = await startServing(t);
    await cancelDownloads(origin, 100, 100);
    const range = await origin.get("/small.bin");
    assert.ok(range.kind === "ok" && range.body.equals(SMALL));
    assertSessions(origin, 100);
    await eventually(() => descriptorsOn(big, pid) === 0, "no descriptor of the file is left open");
  });
});
