/**
 * Load (issue section "Load"): the real binary, quiet (`-q`, so its stdout is silent and its RSS
 * and descriptors are its own), under 1000 concurrent keep-alive connections while 300 slowloris
 * clients drip one header byte a second and never finish their headers.
 *
 * The keep-alive clients are raw sockets running a request/response loop (one request in flight
 * per connection), so every byte of every response is checked. The slow clients behave like an
 * attacker: they ignore the server's 408 and keep dripping, so the connection only ends if the
 * server itself lets go of it. Time bounds are generous hang detectors, never performance
 * assertions; the figures (latency, throughput, peak RSS, descriptors) are printed as diagnostics.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import { test } from "node:test";
import { eventually, openDescriptorCount, parseRawResponse, request, startCli, tempDir } from "./helpers.js";

const KEEP_ALIVE_CLIENTS = 1000;
const SLOW_CLIENTS = 300;
/** `headersTimeout` and `connectionsCheckingInterval` in src/server.ts. */
const HEADERS_TIMEOUT_MS = 10_000;
/** A 408 later than the timeout plus this is a hang (the check itself runs every second). */
const CUT_SLACK_MS = 5_000;
/**
 * How late a client that ignores the 408 and keeps dripping can learn that the server let go: its
 * reading side has ended, so it is the second byte after the server's close that fails (the first
 * draws the reset). One byte a second makes that at most two seconds.
 */
const DRIP_DETECTION_MS = 2_000;
/** The keep-alive load runs until this long after the slow clients connected: the cut happens under load. */
const LOAD_UNTIL_MS = 12_500;
/**
 * Connections are opened this many at a time, the next batch only once the server has accepted the
 * last (its descriptors say so): a connection the kernel completed but that overflowed the listen
 * backlog (511) has its first bytes dropped and retransmitted with backoff, seconds later.
 */
const CONNECT_BATCH = 100;
const RSS_LIMIT_BYTES = 400 * 1024 * 1024;
/** Descriptors the server may hold after everything closed, beyond its idle baseline. */
const FD_TOLERANCE = 5;

const SMALL = Buffer.from("small file, served a great many times\n");
const BIG = randomBytes(100 * 1024);
/** Every BIG_EVERY-th request of a connection (staggered across connections) is for the 100 KiB file. */
const BIG_EVERY = 10;

/**
 * Node 20's connection check reports an expired header clock to `clientError` as
 * ERR_HTTP_REQUEST_TIMEOUT; our handler answers exactly this, then ends the connection.
 */
const EXPECTED_408 = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

interface LoadStats {
  /** Milliseconds from writing a request to having its whole response, one per request. */
  latencies: number[];
  /** `performance.now()` at which each request completed (same order as `latencies`). */
  completedAt: number[];
  perConnection: number[];
  failures: number;
  /** The first few failures, in words. */
  failureSamples: string[];
}

function fail(stats: LoadStats, message: string): void {
  stats.failures++;
  if (stats.failureSamples.length < 10) stats.failureSamples.push(message);
}

function connect(port: number, allowHalfOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen });
    socket.setNoDelay(true);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/**
 * One keep-alive connection: GET after GET until `stopAt`, each response read to its last byte
 * (by Content-Length) and compared with the file. Resolves once the socket is closed.
 */
function keepAliveLoop(socket: net.Socket, index: number, stopAt: number, stats: LoadStats): Promise<void> {
  return new Promise((resolve) => {
    let pending: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    let count = 0;
    let expected = SMALL;
    let done = false;

    const finish = (problem?: string) => {
      if (done) return;
      done = true;
      if (problem) fail(stats, `connection ${index}, request ${count + 1}: ${problem}`);
      stats.perConnection[index] = count;
      if (problem) socket.destroy();
      else socket.end(); // the server answers our FIN with its own, and the socket closes
    };
    const sendNext = () => {
      if (performance.now() >= stopAt) return finish();
      const big = (index + count) % BIG_EVERY === 0;
      expected = big ? BIG : SMALL;
      sentAt = performance.now();
      socket.write(`GET /${big ? "big.bin" : "small.txt"} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    };

    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const headEnd = pending.indexOf("\r\n\r\n");
      if (headEnd === -1) return;
      const response = parseRawResponse(pending);
      const length = Number(response.headers.get("content-length"));
      if (!Number.isSafeInteger(length)) return finish(`no Content-Length in ${JSON.stringify(pending.subarray(0, headEnd).toString("latin1"))}`);
      const total = headEnd + 4 + length;
      if (pending.length < total) return;
      const latency = performance.now() - sentAt;
      if (pending.length > total) return finish(`${pending.length - total} bytes beyond the response`);
      if (response.status !== 200) return finish(`status ${response.status}`);
      if (!response.body.equals(expected)) return finish(`body of ${response.body.length} bytes differs from the file's ${expected.length}`);
      if (response.headers.get("connection")?.toLowerCase() === "close") return finish("server asked to close a keep-alive connection");
      stats.latencies.push(latency);
      stats.completedAt.push(performance.now());
      count++;
      pending = Buffer.alloc(0);
      sendNext();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => finish(`socket error ${error.code ?? error.message}`));
    socket.on("end", () => finish("server closed the connection"));
    socket.on("close", () => {
      finish("connection closed");
      resolve();
    });
    sendNext();
  });
}

interface SlowClient {
  socket: net.Socket;
  /** `performance.now()` just before connecting: the server's header clock cannot start earlier. */
  startedAt: number;
  received: Buffer[];
  /** When the server's answer arrived (its FIN after the 408). */
  endAt?: number;
  /** When the connection was gone: the server closed it and our next dripped byte was refused. */
  closeAt?: number;
  /** Still open past the hang bound, so the test closed it itself. */
  givenUp?: boolean;
  errorCode?: string;
}

/** Opens a slowloris connection that has sent `GET`, a Host and the start of one more header. */
async function openSlowClient(port: number): Promise<SlowClient> {
  const startedAt = performance.now();
  // allowHalfOpen: the client does not close its side when the server's 408 arrives; it keeps
  // dripping, as an attacker would. Only the server can end this connection.
  const socket = await connect(port, true);
  const slow: SlowClient = { socket, startedAt, received: [] };
  socket.on("data", (c: Buffer) => slow.received.push(c));
  socket.on("end", () => (slow.endAt = performance.now()));
  socket.on("error", (error: NodeJS.ErrnoException) => (slow.errorCode = error.code ?? error.message));
  socket.on("close", () => (slow.closeAt = performance.now()));
  socket.write("GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
  return slow;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

/** VmRSS and VmHWM of `pid`, in bytes. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

test("1000 keep-alive connections are all served while 300 slow clients are cut at the header timeout; memory and descriptors stay bounded", { timeout: 55_000 }, async (t) => {
  const root = tempDir(t, { "small.txt": SMALL, "big.bin": BIG });
  const cli = await startCli(t, ["-q", "-p", "0", "-b", "127.0.0.1", root]);
  const pid = cli.child.pid!;

  // Warm up (thread pool, file paths), then let the warm-up connections close before the baseline.
  for (const [target, body] of [["/small.txt", SMALL], ["/big.bin", BIG]] as const) {
    const response = await request(cli.port, target);
    assert.equal(response.status, 200);
    assert.ok(response.body.equals(body));
  }
  await new Promise((r) => setTimeout(r, 300));
  const baselineFds = openDescriptorCount(pid);

  // Sample the server while the run lasts.
  let peakRss = 0;
  let peakFds = 0;
  let samples = 0;
  const sample = () => {
    try {
      peakRss = Math.max(peakRss, memoryOf(pid).rss);
      peakFds = Math.max(peakFds, readdirSync(`/proc/${pid}/fd`).length);
      samples++;
    } catch {
      // the process is gone; the liveness checks below will say so
    }
  };
  const sampler = setInterval(sample, 100);
  t.after(() => clearInterval(sampler));

  // 300 slow clients first, so that their header clock runs while the load is on.
  const accepted = (connections: number) => eventually(() => openDescriptorCount(pid) >= baselineFds + connections, `the server did not accept ${connections} connections`, 10_000);
  const slow: SlowClient[] = [];
  for (let i = 0; i < SLOW_CLIENTS; i += CONNECT_BATCH) {
    const batch = Math.min(CONNECT_BATCH, SLOW_CLIENTS - i);
    slow.push(...(await Promise.all(Array.from({ length: batch }, () => openSlowClient(cli.port)))));
    await accepted(slow.length);
  }
  t.after(() => slow.forEach((s) => s.socket.destroy()));
  const slowStart = slow[0]!.startedAt;
  const drip = setInterval(() => {
    for (const s of slow) if (!s.socket.destroyed && s.socket.writable) s.socket.write("a");
  }, 1000);
  t.after(() => clearInterval(drip));

  // Every slow client is either cut by the server or, past the hang bound, given up on. This runs
  // alongside the load: the cut happens while the keep-alive clients are busy.
  const cutDeadline = slowStart + HEADERS_TIMEOUT_MS + CUT_SLACK_MS + DRIP_DETECTION_MS + 500;
  const slowVerdict = (async () => {
    while (slow.some((s) => s.closeAt === undefined) && performance.now() < cutDeadline) await new Promise((r) => setTimeout(r, 50));
    clearInterval(drip);
    sample();
    const fds = openDescriptorCount(pid);
    for (const s of slow) {
      if (s.closeAt !== undefined) continue;
      s.givenUp = true;
      s.socket.destroy();
    }
    return fds;
  })();

  // 1000 keep-alive connections, all opened first (in batches, so the listen backlog never
  // overflows) and then looping GETs together until the load window ends.
  const stats: LoadStats = { latencies: [], completedAt: [], perConnection: new Array<number>(KEEP_ALIVE_CLIENTS).fill(0), failures: 0, failureSamples: [] };
  const keepAliveSockets: net.Socket[] = [];
  t.after(() => keepAliveSockets.forEach((s) => s.destroy()));
  const connectStart = performance.now();
  for (let i = 0; i < KEEP_ALIVE_CLIENTS; i += CONNECT_BATCH) {
    const batch = Math.min(CONNECT_BATCH, KEEP_ALIVE_CLIENTS - i);
    keepAliveSockets.push(...(await Promise.all(Array.from({ length: batch }, () => connect(cli.port)))));
    await accepted(SLOW_CLIENTS + keepAliveSockets.length);
  }
  const connectedIn = performance.now() - connectStart;
  const loadStart = performance.now();
  const stopAt = slowStart + LOAD_UNTIL_MS;
  await Promise.all(keepAliveSockets.map((socket, i) => keepAliveLoop(socket, i, stopAt, stats)));
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const fdsWhileSlowHeld = await slowVerdict;
  const stillOpen = slow.filter((s) => s.givenUp).length;

  // Everything is closed on the client side now: the server must let go of every descriptor.
  let fdsAfter = openDescriptorCount(pid);
  const fdsSettled = await eventually(() => (fdsAfter = openDescriptorCount(pid)) <= baselineFds + FD_TOLERANCE, "descriptors did not settle", 10_000).then(
    () => true,
    () => false,
  );
  clearInterval(sampler);
  const { hwm } = memoryOf(pid);

  // The figures.
  const sorted = [...stats.latencies].sort((a, b) => a - b);
  const total = sorted.length;
  const slowHeldUntil = Math.min(...slow.map((s) => s.endAt ?? Infinity), slowStart + HEADERS_TIMEOUT_MS);
  const servedWhileSlowHeld = stats.completedAt.filter((at) => at < slowHeldUntil).length;
  const cuts = slow.filter((s) => !s.givenUp && s.closeAt !== undefined).map((s) => s.closeAt! - s.startedAt);
  const answers = slow.filter((s) => s.endAt !== undefined).map((s) => s.endAt! - s.startedAt);
  const errorCodes: Record<string, number> = {};
  for (const s of slow) if (!s.givenUp) errorCodes[s.errorCode ?? "close"] = (errorCodes[s.errorCode ?? "close"] ?? 0) + 1;
  const minPerConnection = Math.min(...stats.perConnection);
  t.diagnostic(`keep-alive: ${KEEP_ALIVE_CLIENTS} connections opened in ${ms(connectedIn)}, then ${total} requests in ${loadSeconds.toFixed(1)} s = ${(total / loadSeconds).toFixed(0)} req/s; ${stats.failures} failures; fewest per connection ${minPerConnection}`);
  t.diagnostic(`latency: p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) ?? NaN)}; ${servedWhileSlowHeld} requests served while all ${SLOW_CLIENTS} slow clients were held`);
  t.diagnostic(`slow clients: ${answers.length} answered (first ${ms(Math.min(...answers))}, last ${ms(Math.max(...answers))}); ${cuts.length} cut (first ${ms(Math.min(...cuts))}, last ${ms(Math.max(...cuts))}), seeing ${JSON.stringify(errorCodes)}; ${stillOpen} still open when given up`);
  t.diagnostic(`server: peak VmRSS ${MB(peakRss)} (VmHWM ${MB(hwm)}) over ${samples} samples; descriptors baseline ${baselineFds}, peak ${peakFds}, when the slow phase ended ${fdsWhileSlowHeld}, after all closed ${fdsAfter}`);

  await t.test("every keep-alive request got a complete, correct 200, and every connection was served", () => {
    assert.deepEqual(stats.failureSamples, [], `${stats.failures} failures`);
    assert.ok(total >= KEEP_ALIVE_CLIENTS, `${total} requests`);
    assert.ok(minPerConnection >= 1, `a connection completed ${minPerConnection} requests`);
    assert.ok(servedWhileSlowHeld > 0, "nothing was served while the slow clients were held");
    // The load really was concurrent: the server held every connection at once.
    assert.ok(peakFds >= baselineFds + KEEP_ALIVE_CLIENTS + SLOW_CLIENTS, `peak ${peakFds} descriptors`);
  });

  await t.test("each slow client gets a 408 no earlier than the header timeout, and the server drops it within the hang bound", () => {
    const problems: string[] = [];
    slow.forEach((s, i) => {
      const answer = parseRawResponse(Buffer.concat(s.received));
      const answeredAfter = s.endAt === undefined ? undefined : s.endAt - s.startedAt;
      const closedAfter = s.closeAt === undefined ? undefined : s.closeAt - s.startedAt;
      if (answer.raw.toString("latin1") !== EXPECTED_408) problems.push(`#${i}: got ${JSON.stringify(answer.raw.toString("latin1"))}`);
      else if (answeredAfter === undefined) problems.push(`#${i}: the 408 came without the server's FIN`);
      else if (answeredAfter < HEADERS_TIMEOUT_MS - 100) problems.push(`#${i}: answered after only ${ms(answeredAfter)}`);
      else if (answeredAfter > HEADERS_TIMEOUT_MS + CUT_SLACK_MS) problems.push(`#${i}: answered after ${ms(answeredAfter)}`);
      else if (s.givenUp || closedAfter === undefined) problems.push(`#${i}: answered after ${ms(answeredAfter)}, but the server still held the connection at ${ms(cutDeadline - s.startedAt)} while the client dripped on`);
      else if (closedAfter > HEADERS_TIMEOUT_MS + CUT_SLACK_MS + DRIP_DETECTION_MS) problems.push(`#${i}: cut after ${ms(closedAfter)}`);
    });
    assert.deepEqual(problems.slice(0, 5), [], `${problems.length} of ${SLOW_CLIENTS} slow clients`);
  });

  await t.test("peak memory stays under 400 MB", () => {
    assert.ok(samples > 0);
    // VmHWM is the kernel's own high-water mark; the sampled VmRSS can run a little ahead of it.
    const peak = Math.max(hwm, peakRss);
    assert.ok(peak < RSS_LIMIT_BYTES, `peak RSS ${MB(peak)}`);
  });

  await t.test("descriptors return to the baseline once every client has closed, and the server still answers", async () => {
    assert.ok(fdsSettled, `${fdsAfter} descriptors 10 s after all clients closed; baseline ${baselineFds}`);
    assert.equal(cli.child.exitCode, null, "the server exited");
    for (const [target, body] of [["/small.txt", SMALL], ["/big.bin", BIG]] as const) {
      const response = await request(cli.port, target);
      assert.equal(response.status, 200);
      assert.ok(response.body.equals(body));
    }
    assert.equal(cli.stderr(), "", "the server reported errors");
    assert.ok(cli.stdout().endsWith("Press Ctrl+C to stop.\n"), `-q still logged: ${cli.stdout().slice(-300)}`);
  });
});
