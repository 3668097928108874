/**
 * Faults, at the scale and against the real binary (descriptors are counted in
 * /proc/<pid>/fd of the server process): 100 clients that abort mid-download, files truncated,
 * grown, deleted or replaced under a response (whole, single range, multipart), folders deleted
 * while they are listed, descriptor exhaustion under a small `ulimit -n`, and permission faults
 * with the server running as an unprivileged user.
 *
 * What streaming.test.ts and errors.test.ts already cover (in-process) is not repeated here: one
 * and ten aborted downloads, shrink to 1 MiB / grow / delete of a whole-file GET, an unreadable
 * file (000) and an unreadable folder's listing (000, 0311).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, chmodSync, chownSync, closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { NOBODY, descriptorTargets, eventually, needsPrivilegeDrop, openDescriptorCount, parseRawResponse, request, startCli, suiteSeed, tempDir, unprivilegedServer, type RunningCli, type Tree } from "./helpers.js";

const MiB = 1024 * 1024;
const LOCAL = ["-p", "0", "-b", "127.0.0.1"];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A sparse file of `size` bytes (zeros, no disk blocks). */
function sparseFile(file: string, size: number): void {
  closeSync(openSync(file, "w"));
  truncateSync(file, size);
}

/** Small, seeded, reproducible randomness (mulberry32): the seed is printed with each test. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A new seed each run, or FAULTS_SEED's; the seeded test prints it with the command that replays it. */
const SEED = suiteSeed("FAULTS_SEED", "faults.test.js");

/** Descriptors of `pid` open on a file under `dir` (including deleted ones). */
function descriptorsUnder(pid: number, dir: string): string[] {
  return descriptorTargets(pid).filter((target) => target.startsWith(dir + path.sep));
}

/** Access-log lines of the binary (stdout), one per response. */
function logLines(cli: RunningCli): string[] {
  return cli.stdout().split("\n").filter((line) => /^\d{4}-\d\d-\d\dT/.test(line));
}

/** `time client METHOD url status[ (aborted)] bytes ms`, as formatLogLine writes it. */
interface LogLine {
  client: string;
  method: string;
  url: string;
  status: number;
  aborted: boolean;
  bytes: number;
  /** Why, when the server said (a refusal's reason, an errno code). */
  note: string | undefined;
}

function parseLogLine(line: string): LogLine | null {
  const m = /^\S+ (\S+) (\S+) (\S+) (\d{3})( \(aborted\))? (\d+) [\d.]+ms(?: \((.*)\))?$/.exec(line);
  if (!m) return null;
  return { client: m[1]!, method: m[2]!, url: m[3]!, status: Number(m[4]), aborted: m[5] !== undefined, bytes: Number(m[6]), note: m[7] };
}

interface Download {
  status: number;
  headers: Map<string, string>;
  /** Body bytes received before the connection closed. */
  bodyBytes: number;
  /** The last `tailBytes` body bytes. */
  tail: Buffer;
  ms: number;
}

/**
 * GET (or another request) over a raw socket with `Connection: close`, counting body bytes until
 * the server closes. `onFirstBody` runs with the socket paused as soon as the first body byte
 * arrives, so a change it makes happens mid-stream. Rejects when the server has not closed within
 * `timeoutMs`: that is a hang.
 */
function download(
  port: number,
  target: string,
  options: { headers?: string; onFirstBody?: () => void | Promise<void>; tailBytes?: number; timeoutMs?: number } = {},
): Promise<Download> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const tailBytes = options.tailBytes ?? 256;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = Buffer.alloc(0);
    let parsed: ReturnType<typeof parseRawResponse> | null = null;
    let bodyBytes = 0;
    let tail = Buffer.alloc(0);
    let firstBodySeen = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${target}: no close within ${timeoutMs} ms after ${bodyBytes} body bytes (a hang)`));
    }, timeoutMs);
    const onBody = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      bodyBytes += chunk.length;
      tail = Buffer.concat([tail, chunk.subarray(Math.max(0, chunk.length - tailBytes))]);
      if (tail.length > tailBytes) tail = tail.subarray(tail.length - tailBytes);
      if (!firstBodySeen && options.onFirstBody) {
        firstBodySeen = true;
        socket.pause();
        void Promise.resolve()
          .then(options.onFirstBody)
          .then(
            () => socket.resume(),
            (error: unknown) => {
              clearTimeout(timer);
              socket.destroy();
              reject(error as Error);
            },
          );
      }
    };
    socket.on("data", (chunk: Buffer) => {
      if (parsed) return onBody(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      parsed = parseRawResponse(head.subarray(0, end + 4));
      onBody(head.subarray(end + 4));
    });
    socket.on("error", () => {}); // a reset is how a short body ends; "close" follows
    socket.on("close", () => {
      clearTimeout(timer);
      if (!parsed) return reject(new Error(`${target}: closed before the headers: ${head.toString("latin1").slice(0, 200)}`));
      resolve({ status: parsed.status, headers: parsed.headers, bodyBytes, tail, ms: performance.now() - started });
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${options.headers ?? ""}Connection: close\r\n\r\n`);
  });
}

/**
 * One persistent (keep-alive) connection, accepted by the server before anything else happens,
 * on which requests are sent one after another. Bodies are read by Content-Length.
 */
class KeepAlive {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private closed = false;
  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  static open(port: number): Promise<KeepAlive> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(new KeepAlive(socket)));
      socket.once("error", reject);
    });
  }

  /** Sends one request and resolves with its response; rejects on close or after `timeoutMs`. */
  async send(method: string, target: string, timeoutMs = 10_000): Promise<{ status: number; headers: Map<string, string>; body: Buffer }> {
    this.socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end !== -1) {
        const { status, headers } = parseRawResponse(this.buffer.subarray(0, end + 4));
        const length = method === "HEAD" ? 0 : Number(headers.get("content-length") ?? 0);
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length);
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status, headers, body };
        }
      }
      if (this.closed) throw new Error(`${method} ${target}: the connection closed before a whole response`);
      if (Date.now() > deadline) throw new Error(`${method} ${target}: no whole response within ${timeoutMs} ms (a hang)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = null;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves with `promise`, or rejects after `ms` naming `what`: a hang detector, not a timing assertion. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// 100 clients that abort mid-download
// ---------------------------------------------------------------------------------------------

type AbortKind = "partial-request" | "before-headers" | "after-headers" | "mid-body";

interface AbortOutcome {
  id: number;
  kind: AbortKind;
  /** The full request reached the server (all kinds but a partial request). */
  requestSent: boolean;
  gotHeaders: boolean;
  status: number;
  bodyBytes: number;
}

/** Where one aborting client leaves: the case the seed chose for it. */
interface AbortPlan {
  id: number;
  kind: AbortKind;
  /** mid-body: leave after this many body bytes (64 KiB to 16 MiB of the 32 MiB file). */
  stopAfter: number;
  /** partial-request and before-headers: wait this long (ms) after writing, then leave. */
  delay: number;
  /** partial-request: how many bytes of the request are sent, never all. */
  cut: number;
}

const ABORT_KINDS: readonly AbortKind[] = ["partial-request", "before-headers", "after-headers", "mid-body"];

function abortRequest(id: number): string {
  return `GET /big.bin?client=${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: faults\r\n\r\n`;
}

/** The cases of a seed, drawn all at once before any client starts, so timing cannot reorder the draws. */
function planAborts(seed: number, count: number): AbortPlan[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, id) => {
    const kind = ABORT_KINDS[id % ABORT_KINDS.length]!;
    const stopAfter = 64 * 1024 + Math.floor(random() * 16 * MiB);
    const delay = Math.floor(random() * 30);
    // Cut somewhere inside the request, never at its very end.
    const cut = 1 + Math.floor(random() * (abortRequest(id).length - 3));
    return { id, kind, stopAfter, delay, cut };
  });
}

/** A short digest of the cases, printed so that a replay can be seen to run the same ones. */
function planDigest(plans: readonly AbortPlan[]): string {
  return createHash("sha256").update(JSON.stringify(plans)).digest("hex").slice(0, 16);
}

/**
 * One client that leaves at a point of `kind`: with half a request line and headers; with the
 * request sent but before the response headers are read; as soon as the headers are in; or after
 * a number of body bytes.
 */
function abortingClient(port: number, { id, kind, stopAfter, delay, cut }: AbortPlan): Promise<AbortOutcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const outcome: AbortOutcome = { id, kind, requestSent: kind !== "partial-request", gotHeaders: false, status: 0, bodyBytes: 0 };
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`client ${id} (${kind}): still open after 15 s`));
    }, 15_000);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(outcome);
    });
    socket.on("data", (chunk: Buffer) => {
      if (!outcome.gotHeaders) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        outcome.gotHeaders = true;
        outcome.status = parseRawResponse(head.subarray(0, end + 4)).status;
        outcome.bodyBytes = head.length - end - 4;
        if (kind === "after-headers") socket.destroy();
      } else {
        outcome.bodyBytes += chunk.length;
      }
      if (kind === "mid-body" && outcome.bodyBytes >= stopAfter) socket.destroy();
    });
    const requestText = abortRequest(id);
    if (kind === "partial-request") {
      socket.write(requestText.slice(0, cut), () => setTimeout(() => socket.destroy(), delay));
    } else if (kind === "before-headers") {
      socket.write(requestText, () => setTimeout(() => socket.destroy(), delay % 3));
    } else {
      socket.write(requestText);
    }
  });
}

test("a seed plans the same aborting clients every time, and another seed other ones", () => {
  const plans = planAborts(SEED.seed, 100);
  assert.deepEqual(planAborts(SEED.seed, 100), plans, `${SEED.line}: planning again gave other cases`);
  assert.notDeepEqual(planAborts((SEED.seed + 1) >>> 0, 100), plans, "the seed is what chooses the cases");
  for (const plan of plans) assert.ok(plan.cut >= 1 && plan.cut < abortRequest(plan.id).length - 1, `client ${plan.id}: a partial request is cut inside it`);
});

test("100 clients aborting a 32 MiB download at random points: descriptors return to baseline, each is logged as aborted, the server still serves", { timeout: 60_000 }, async (t) => {
  const plans = planAborts(SEED.seed, 100);
  t.diagnostic(`${SEED.line}; cases digest ${planDigest(plans)} (a replay prints the same)`);
  const root = tempDir(t, { "small.txt": "warm up\n" });
  const size = 32 * MiB;
  sparseFile(path.join(root, "big.bin"), size);
  const cli = await startCli(t, [root, ...LOCAL]);
  const pid = cli.child.pid!;
  // Warm up what the first requests create lazily (thread pool, parser state) before the baseline.
  assert.equal((await request(cli.port, "/small.txt")).status, 200);
  assert.equal((await request(cli.port, "/big.bin", { method: "HEAD" })).status, 200);
  await eventually(() => descriptorsUnder(pid, root).length === 0, "warm-up files still open");
  const baseline = openDescriptorCount(pid);

  const started = performance.now();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, openDescriptorCount(pid))), 10);
  t.after(() => clearInterval(sampler));
  const outcomes = await Promise.all(plans.map((plan) => abortingClient(cli.port, plan)));
  clearInterval(sampler);
  const elapsed = performance.now() - started;

  await eventually(() => descriptorsUnder(pid, root).length === 0, `big.bin still open: ${descriptorsUnder(pid, root).join(", ")}`, 10_000);
  await eventually(() => openDescriptorCount(pid) <= baseline, `server descriptors did not return to ${baseline}: ${openDescriptorCount(pid)}`, 10_000);
  const after = openDescriptorCount(pid);

  // Every client that sent a whole request has exactly one log line, and it says aborted.
  const sent = outcomes.filter((o) => o.requestSent);
  let lines: LogLine[] = [];
  await eventually(
    () => {
      lines = logLines(cli).map(parseLogLine).filter((l): l is LogLine => l !== null && l.url.startsWith("/big.bin?client="));
      return lines.length >= sent.length;
    },
    `expected ${sent.length} log lines for the aborted downloads`,
    10_000,
  );
  const byClient = new Map<number, LogLine[]>();
  for (const line of lines) {
    const id = Number(/client=(\d+)/.exec(line.url)![1]);
    byClient.set(id, [...(byClient.get(id) ?? []), line]);
  }
  for (const o of outcomes) {
    const mine = byClient.get(o.id) ?? [];
    if (!o.requestSent) {
      assert.deepEqual(mine, [], `client ${o.id} never finished its request, yet a response to it was logged`);
      continue;
    }
    assert.equal(mine.length, 1, `client ${o.id} (${o.kind}): ${mine.length} log lines`);
    assert.equal(mine[0]!.status, 200, `client ${o.id} (${o.kind})`);
    assert.equal(mine[0]!.aborted, true, `client ${o.id} (${o.kind}) is logged as completed`);
    assert.ok(mine[0]!.bytes < size, `client ${o.id}: ${mine[0]!.bytes} bytes logged`);
    if (o.gotHeaders) assert.equal(o.status, 200, `client ${o.id} (${o.kind}) got ${o.status}`);
  }
  assert.ok(outcomes.filter((o) => o.kind === "mid-body").every((o) => o.bodyBytes > 0 && o.bodyBytes < size), "mid-body clients left mid-body");
  assert.equal(
    logLines(cli).filter((l) => / 5\d\d /.test(l)).length,
    0,
    `5xx in the log: ${logLines(cli)
      .filter((l) => / 5\d\d /.test(l))
      .join("\n")}`,
  );

  // Still serving, a whole big file included.
  const whole = await download(cli.port, "/big.bin");
  assert.equal(whole.status, 200);
  assert.equal(whole.bodyBytes, size);
  assert.equal(cli.child.exitCode, null, "the server is still running");
  assert.equal(cli.stderr(), "", "nothing was reported as an unexpected error");

  const count = (kind: AbortKind, f: (o: AbortOutcome) => boolean) => outcomes.filter((o) => o.kind === kind && f(o)).length;
  t.diagnostic(`descriptors: baseline ${baseline}, peak ${peak}, after ${after}; 100 clients in ${elapsed.toFixed(0)} ms`);
  t.diagnostic(
    `aborted: ${count("partial-request", () => true)} mid-request, ${count("before-headers", (o) => !o.gotHeaders)} before headers (+${count("before-headers", (o) => o.gotHeaders)} that saw them first), ` +
      `${count("after-headers", () => true)} after headers, ${count("mid-body", () => true)} mid-body ` +
      `(${(Math.min(...outcomes.filter((o) => o.kind === "mid-body").map((o) => o.bodyBytes)) / MiB).toFixed(1)}-${(Math.max(...outcomes.filter((o) => o.kind === "mid-body").map((o) => o.bodyBytes)) / MiB).toFixed(1)} MiB); ` +
      `${lines.length} "(aborted)" log lines; ${logLines(cli).filter((l) => / 400 /.test(l)).length} lines of 400 for half-sent requests`,
  );
});

test("an aborted download's log line names its client, as a completed one does", async (t) => {
  const root = tempDir(t, { "small.txt": "small\n" });
  sparseFile(path.join(root, "big.bin"), 32 * MiB);
  const cli = await startCli(t, [root, ...LOCAL]);
  assert.equal((await request(cli.port, "/small.txt")).status, 200);
  await abortingClient(cli.port, { id: 0, kind: "after-headers", stopAfter: 0, delay: 0, cut: 0 });
  let lines: LogLine[] = [];
  await eventually(() => (lines = logLines(cli).map(parseLogLine).filter((l): l is LogLine => l !== null)).length === 2, "expected two log lines");
  const [completed, aborted] = lines as [LogLine, LogLine];
  assert.equal(completed.url, "/small.txt");
  assert.equal(completed.client, "127.0.0.1");
  assert.equal(aborted.aborted, true);
  t.diagnostic(`aborted line: ${logLines(cli)[1]}`);
  assert.equal(aborted.client, "127.0.0.1", "the aborted response is logged without its client's address");
});

// ---------------------------------------------------------------------------------------------
// Files that change under a response: whole, one range, several ranges
// ---------------------------------------------------------------------------------------------

const LIVE_SIZE = 64 * MiB;
const SEGMENT = 8 * MiB;

/** `MARK-k` ending at byte k×8 MiB (k = 1..8): whichever slice ends there shows where it came from. */
function mark(k: number): Buffer {
  return Buffer.from(`MARK-${k}`.padEnd(16, "#"));
}

function liveFile(file: string): void {
  sparseFile(file, LIVE_SIZE);
  const fd = openSync(file, "r+");
  for (let k = 1; k <= LIVE_SIZE / SEGMENT; k++) writeSync(fd, mark(k), 0, 16, k * SEGMENT - 16);
  closeSync(fd);
}

interface Shape {
  name: string;
  range: string;
  status: number;
  /** The marker the last byte of content must carry when the original is sent in full. */
  lastMark: number;
  multipart: boolean;
}

const SHAPES: Shape[] = [
  { name: "whole", range: "", status: 200, lastMark: 8, multipart: false },
  { name: "range", range: `bytes=${SEGMENT}-${7 * SEGMENT - 1}`, status: 206, lastMark: 7, multipart: false },
  { name: "multipart", range: `bytes=0-${SEGMENT - 1},${3 * SEGMENT}-${4 * SEGMENT - 1},${7 * SEGMENT}-${8 * SEGMENT - 1}`, status: 206, lastMark: 8, multipart: true },
];

interface Mutation {
  name: string;
  apply(file: string): void;
  /** Bytes the server can still read: every shape needs bytes past 32 MiB, so truncation shortens all. */
  short: boolean;
  /** What the next request must see. */
  next(port: number, target: string): Promise<void>;
}

async function expectHead(port: number, target: string, status: number, length?: number): Promise<void> {
  const res = await request(port, target, { method: "HEAD" });
  assert.equal(res.status, status, `HEAD ${target}`);
  if (length !== undefined) assert.equal(res.headers["content-length"], String(length), `HEAD ${target}`);
}

const MUTATIONS: Mutation[] = [
  { name: "truncate-to-0", apply: (f) => truncateSync(f, 0), short: true, next: (p, x) => expectHead(p, x, 200, 0) },
  { name: "truncate-to-half", apply: (f) => truncateSync(f, LIVE_SIZE / 2), short: true, next: (p, x) => expectHead(p, x, 200, LIVE_SIZE / 2) },
  { name: "grow", apply: (f) => appendFileSync(f, Buffer.alloc(4 * MiB, 0xaa)), short: false, next: (p, x) => expectHead(p, x, 200, LIVE_SIZE + 4 * MiB) },
  { name: "delete", apply: (f) => unlinkSync(f), short: false, next: (p, x) => expectHead(p, x, 404) },
  {
    name: "replace-by-rename",
    apply: (f) => {
      writeFileSync(`${f}.new`, "the replacement\n");
      renameSync(`${f}.new`, f);
    },
    short: false,
    next: async (p, x) => {
      const res = await request(p, x);
      assert.equal(res.status, 200, `GET ${x}`);
      assert.equal(res.body.toString(), "the replacement\n", `GET ${x} after the rename`);
    },
  },
];

test("a file truncated, grown, deleted or replaced mid-send (whole, range, multipart): the response ends, never hangs, and the next request sees the change", { timeout: 60_000 }, async (t) => {
  const root = tempDir(t, { "small.txt": "warm up\n" });
  const cli = await startCli(t, [root, ...LOCAL]);
  const pid = cli.child.pid!;
  assert.equal((await request(cli.port, "/small.txt")).status, 200);
  await eventually(() => descriptorsUnder(pid, root).length === 0, "warm-up file still open");
  const baseline = openDescriptorCount(pid);
  const rows: string[] = [];

  for (const mutation of MUTATIONS) {
    for (const shape of SHAPES) {
      const name = `${mutation.name}-${shape.name}.bin`;
      const file = path.join(root, name);
      liveFile(file);
      const res = await download(cli.port, `/${name}`, {
        headers: shape.range ? `Range: ${shape.range}\r\n` : "",
        onFirstBody: () => mutation.apply(file),
      });
      const what = `${mutation.name} / ${shape.name}`;
      const promised = Number(res.headers.get("content-length"));
      rows.push(`${what}: ${res.status}, ${(res.bodyBytes / MiB).toFixed(2)} of ${(promised / MiB).toFixed(2)} MiB in ${res.ms.toFixed(0)} ms`);

      assert.equal(res.status, shape.status, what);
      assert.ok(res.bodyBytes > 0, `${what}: no body at all`);
      if (mutation.short) {
        assert.ok(res.bodyBytes < promised, `${what}: ${res.bodyBytes} of ${promised} bytes, expected a short body`);
      } else {
        assert.equal(res.bodyBytes, promised, `${what}: the original length in full`);
        // The original content, not the appended bytes or the replacement.
        if (shape.multipart) {
          const boundary = /boundary=(\S+)/.exec(res.headers.get("content-type") ?? "")?.[1];
          assert.ok(boundary, `${what}: no boundary`);
          const closing = Buffer.from(`\r\n--${boundary}--\r\n`);
          assert.ok(res.tail.subarray(-closing.length).equals(closing), `${what}: no closing boundary`);
          assert.ok(res.tail.subarray(-closing.length - 16, -closing.length).equals(mark(shape.lastMark)), `${what}: the last part does not end with MARK-${shape.lastMark}`);
        } else {
          assert.ok(res.tail.subarray(-16).equals(mark(shape.lastMark)), `${what}: the body does not end with MARK-${shape.lastMark}: ${res.tail.subarray(-16).toString("latin1")}`);
        }
      }
      await mutation.next(cli.port, `/${name}`);

      // The log tells a short body from a whole one.
      let line: LogLine | undefined;
      await eventually(() => (line = logLines(cli).map(parseLogLine).find((l) => l?.method === "GET" && l.url === `/${name}`) ?? undefined) !== undefined, `${what}: no log line`);
      assert.equal(line!.status, shape.status, what);
      assert.equal(line!.aborted, mutation.short, `${what}: logged as ${line!.aborted ? "aborted" : "completed"}`);
    }
  }

  // No handle outlives its response, not even on a deleted or replaced inode.
  await eventually(() => descriptorsUnder(pid, root).length === 0, `still open: ${descriptorsUnder(pid, root).join(", ")}`);
  await eventually(() => openDescriptorCount(pid) <= baseline, `server descriptors did not return to ${baseline}: ${openDescriptorCount(pid)}`);
  assert.equal(cli.child.exitCode, null);
  assert.equal(cli.stderr(), "", "nothing was reported as an unexpected error");
  for (const row of rows) t.diagnostic(row);
  t.diagnostic(`descriptors: baseline ${baseline}, after ${openDescriptorCount(pid)}`);
});

// ---------------------------------------------------------------------------------------------
// Folders that change under a listing
// ---------------------------------------------------------------------------------------------

const ENTRIES = 3000;

function fillFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < ENTRIES; i++) writeFileSync(path.join(dir, `file-${String(i).padStart(4, "0")}.txt`), "x");
}

/** File rows in a listing page, and those listed without size (their stat failed). */
function listingRows(html: string): { files: number; withoutDetails: number } {
  return {
    files: (html.match(/<tr class="file/g) ?? []).length,
    withoutDetails: (html.match(/<tr class="file[^"]*"><td class="name">.*?<\/td><td class="size"><\/td>/g) ?? []).length,
  };
}

test("a folder of 3000 entries deleted while it is listed: every answer is 200 or 404, none is a 500 or a hang", { timeout: 60_000 }, async (t) => {
  const root = tempDir(t, { "small.txt": "still here\n" });
  const dir = path.join(root, "doomed");
  const cli = await startCli(t, [root, ...LOCAL, "-q"]);
  const pid = cli.child.pid!;
  assert.equal((await request(cli.port, "/")).status, 200); // warm up before the baseline
  const baseline = openDescriptorCount(pid);
  const statuses = new Map<number, number>();
  const shapes = { full: 0, partial: 0, empty: 0 };
  const started = performance.now();

  // Deleted first once a whole listing is out (the folder is listed at least once), then at once,
  // with the first listings already on their way.
  for (const when of ["after the first listing", "at once"] as const) {
    fillFolder(dir);
    let deleted = false;
    let deletion: Promise<void> | null = null;
    const remove = () => (deletion ??= rm(dir, { recursive: true }).then(() => void (deleted = true)));
    const loop = async () => {
      // Keep listing until the folder has been gone for two answers.
      for (let gone = 0; gone < 2; ) {
        const res = await within(30_000, "a listing", request(cli.port, "/doomed/"));
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok([200, 403, 404].includes(res.status), `a listing during deletion answered ${res.status}`);
        if (res.status === 200) {
          const { files } = listingRows(res.body.toString());
          assert.ok(files <= ENTRIES, `${files} rows`);
          shapes[files === ENTRIES ? "full" : files === 0 ? "empty" : "partial"]++;
        }
        void remove();
        if (deleted) gone++;
      }
    };
    const loops = [loop(), loop(), loop()];
    if (when === "at once") void remove();
    await Promise.all(loops);
    await deletion;
  }
  assert.ok((statuses.get(200) ?? 0) > 0, "the folder was never listed");
  assert.ok((statuses.get(404) ?? 0) > 0, "the deleted folder was never a 404");
  const after = await request(cli.port, "/small.txt");
  assert.equal(after.status, 200);
  await eventually(() => openDescriptorCount(pid) <= baseline, `server descriptors did not return to ${baseline}: ${openDescriptorCount(pid)}`);
  assert.equal(cli.child.exitCode, null);
  assert.equal(cli.stderr(), "", "nothing was reported as an unexpected error");
  t.diagnostic(`descriptors: baseline ${baseline}, after ${openDescriptorCount(pid)}`);
  t.diagnostic(`2 deletions in ${(performance.now() - started).toFixed(0)} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}; 200 listings: ${JSON.stringify(shapes)}`);
});

test("a folder whose 3000 entries are deleted while it is listed: every answer is a 200 listing", { timeout: 60_000 }, async (t) => {
  const root = tempDir(t);
  const dir = path.join(root, "thinning");
  const cli = await startCli(t, [root, ...LOCAL, "-q"]);
  const pid = cli.child.pid!;
  assert.equal((await request(cli.port, "/")).status, 200); // warm up before the baseline
  const baseline = openDescriptorCount(pid);
  const shapes = { full: 0, partial: 0, empty: 0 };
  let withoutDetails = 0;
  let answers = 0;
  const started = performance.now();

  fillFolder(dir);
  let done = false;
  const remover = (async () => {
    // Unlink every entry, a few at a time, while the listings run.
    const names = readdirSync(dir);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => rm(path.join(dir, n))));
    }
    done = true;
  })();
  const loop = async () => {
    // Until one listing has started after the last entry was gone: that one must be empty.
    for (let last = false; !last; ) {
      last = done;
      const res = await within(30_000, "a listing", request(cli.port, "/thinning/"));
      answers++;
      assert.equal(res.status, 200, "a listing while entries are deleted");
      const rows = listingRows(res.body.toString());
      assert.ok(rows.files <= ENTRIES);
      withoutDetails += rows.withoutDetails;
      shapes[rows.files === ENTRIES ? "full" : rows.files === 0 ? "empty" : "partial"]++;
      if (last) assert.equal(rows.files, 0, "entries listed after all were deleted");
    }
  };
  await Promise.all([loop(), loop(), loop(), remover]);
  await eventually(() => openDescriptorCount(pid) <= baseline, `server descriptors did not return to ${baseline}: ${openDescriptorCount(pid)}`);
  assert.equal(cli.child.exitCode, null);
  assert.equal(cli.stderr(), "", "nothing was reported as an unexpected error");
  t.diagnostic(`descriptors: baseline ${baseline}, after ${openDescriptorCount(pid)}`);
  t.diagnostic(`${(performance.now() - started).toFixed(0)} ms; ${answers} listings, all 200: ${JSON.stringify(shapes)}; ${withoutDetails} rows listed without details (deleted between readdir and stat)`);
});

// ---------------------------------------------------------------------------------------------
// Descriptor exhaustion
// ---------------------------------------------------------------------------------------------

const FD_LIMIT = 36;

/** A download paused after its headers: it holds a socket and, for a 200, a file descriptor. */
interface SlowDownload {
  /** 0 when the connection closed (or was reset) before any header: accept() shed it. */
  status: number;
  retryAfter: string | undefined;
  socket: net.Socket;
  /** Body bytes received so far (the socket is paused; resume it to read on). */
  bodyBytes(): number;
  /** Resolves when the connection has closed. */
  closed: Promise<void>;
}

function slowDownload(port: number, target: string): Promise<SlowDownload> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = Buffer.alloc(0);
    let body = 0;
    let settled = false;
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    const settle = (status: number, retryAfter: string | undefined) => {
      if (settled) return;
      settled = true;
      resolve({ status, retryAfter, socket, bodyBytes: () => body, closed });
    };
    socket.on("data", (chunk: Buffer) => {
      if (settled) return void (body += chunk.length);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      socket.pause();
      body = head.length - end - 4;
      const { status, headers } = parseRawResponse(head.subarray(0, end + 4));
      settle(status, headers.get("retry-after"));
    });
    socket.on("error", () => {});
    socket.on("close", () => settle(0, undefined));
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

test(`descriptor exhaustion under ulimit -n ${FD_LIMIT}: 503 with Retry-After, never a 500 or a crash, and recovery once released`, { timeout: 60_000 }, async (t) => {
  const root = tempDir(t, { "small.txt": "small\n", "404.html": "custom missing page\n", folder: { "a.txt": "a" } });
  const size = 64 * MiB;
  sparseFile(path.join(root, "big.bin"), size);
  // POSIX sh's ulimit, then exec: the limit is the server's own, and its pid is the child's.
  const cli = await startCli(t, [root, ...LOCAL], { command: ["sh", "-c", `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath] });
  const pid = cli.child.pid!;
  const limit = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))?.[1];
  assert.equal(limit, String(FD_LIMIT), "the server does not run under the limit");
  assert.equal((await request(cli.port, "/small.txt")).status, 200);
  await eventually(() => descriptorsUnder(pid, root).length === 0, "warm-up file still open");
  const baseline = openDescriptorCount(pid);
  assert.ok(baseline < FD_LIMIT - 8, `the server already uses ${baseline} of ${FD_LIMIT} descriptors: raise FD_LIMIT`);

  // A connection accepted before the flood: its requests reach the handler whatever happens to accept().
  const probe = await KeepAlive.open(cli.port);
  assert.equal((await probe.send("GET", "/small.txt")).status, 200);
  // Downloads under way before the flood, one at a time: each holds a socket and the file.
  const early: SlowDownload[] = [];
  for (let i = 0; i < 3; i++) early.push(await slowDownload(cli.port, `/big.bin?early=${i}`));
  assert.deepEqual(early.map((d) => d.status), [200, 200, 200], "downloads before the flood");

  // The flood: many slow downloads at once, each paused after its headers.
  const FLOOD = 60;
  const started = performance.now();
  let answered = 0;
  const flood = Array.from({ length: FLOOD }, (_, i) => slowDownload(cli.port, `/big.bin?flood=${i}`).finally(() => answered++));
  // A connection left in the backlog while every descriptor is taken is answered after the release.
  await Promise.race([Promise.all(flood), new Promise((r) => setTimeout(r, 2000))]);
  const queued = FLOOD - answered;
  const peak = openDescriptorCount(pid);

  // Exhausted: the probe's requests need a descriptor (a file, a folder) and get 503 + Retry-After.
  const fileUnderExhaustion = await probe.send("GET", "/big.bin?probe");
  const listingUnderExhaustion = await probe.send("GET", "/folder/");
  const missingUnderExhaustion = await probe.send("GET", "/missing");
  const headUnderExhaustion = await probe.send("HEAD", "/small.txt");

  // Release the flood (as its connections are answered) and the probe; one early download reads on.
  for (const d of flood) void d.then((r) => r.socket.destroy());
  const floodResults = await within(15_000, "queued connections after the release", Promise.all(flood));
  probe.destroy();
  for (const d of early.slice(1)) d.socket.destroy();
  early[0]!.socket.resume();
  await within(20_000, "the early download after the release", early[0]!.closed);
  await eventually(() => descriptorsUnder(pid, root).length === 0, `files still open after the release: ${descriptorsUnder(pid, root).join(", ")}`, 10_000);
  await eventually(() => openDescriptorCount(pid) <= baseline, `server descriptors did not return to ${baseline}: ${openDescriptorCount(pid)}`, 10_000);

  const count = (status: number) => floodResults.filter((r) => r.status === status).length;
  const other = floodResults.filter((r) => ![0, 200, 503].includes(r.status)).map((r) => r.status);
  t.diagnostic(
    `limit ${FD_LIMIT}, baseline ${baseline}, peak ${peak}, after ${openDescriptorCount(pid)}; flood of ${FLOOD} beside 3 downloads: ${count(200)} × 200, ${count(503)} × 503, ` +
      `${count(0)} closed or reset by accept() (libuv sheds them), ${queued} queued until the release; other: ${JSON.stringify(other)}; ${(performance.now() - started).toFixed(0)} ms`,
  );
  t.diagnostic(`under exhaustion: file ${fileUnderExhaustion.status}, listing ${listingUnderExhaustion.status}, missing ${missingUnderExhaustion.status}, HEAD ${headUnderExhaustion.status}`);

  assert.deepEqual(other, [], "flood answers other than 200, 503 or a shed connection");
  for (const r of floodResults.filter((r) => r.status === 503)) assert.equal(r.retryAfter, "1", "a 503 without Retry-After");
  assert.equal(fileUnderExhaustion.status, 503, "a file under exhaustion");
  assert.equal(fileUnderExhaustion.headers.get("retry-after"), "1");
  assert.match(fileUnderExhaustion.body.toString(), /503 Service Unavailable/);
  assert.equal(listingUnderExhaustion.status, 503, "a listing under exhaustion");
  assert.equal(listingUnderExhaustion.headers.get("retry-after"), "1");
  // A 404 needs no descriptor, except for reading 404.html: it falls back to the generic page.
  assert.equal(missingUnderExhaustion.status, 404, "a missing file under exhaustion");
  assert.match(missingUnderExhaustion.body.toString(), /404 Not Found/);
  assert.equal(headUnderExhaustion.status, 503, "HEAD opens the file too");
  assert.equal(early[0]!.bodyBytes(), size, "a download under way during the exhaustion completes");

  // Recovered: the same requests succeed, a whole big file included.
  assert.equal((await request(cli.port, "/folder/")).status, 200);
  const custom = await request(cli.port, "/missing");
  assert.equal(custom.status, 404);
  assert.equal(custom.body.toString(), "custom missing page\n");
  const whole = await download(cli.port, "/big.bin");
  assert.equal(whole.status, 200);
  assert.equal(whole.bodyBytes, size);
  assert.equal(cli.child.exitCode, null, "the server is still running");
  assert.equal(cli.stderr(), "", "nothing was reported as an unexpected error");
  const logged = logLines(cli).map(parseLogLine);
  assert.deepEqual(logged.filter((l) => l && l.status >= 500 && l.status !== 503), [], "a 5xx other than 503 was logged");
  const logged503 = logged.filter((l) => l?.status === 503);
  assert.ok(logged503.length >= 3, "the file, listing and HEAD refused under exhaustion are logged");
  for (const line of logged503) assert.match(line!.note ?? "", /^E[MN]FILE$/, "a 503 in the log says why");
  t.diagnostic(`log: ${logged.filter((l) => l?.status === 503).length} × 503, ${logged.filter((l) => l?.status === 200 && l.aborted).length} × 200 (aborted), ${logged.filter((l) => l?.status === 200 && !l.aborted).length} × 200`);
});

// ---------------------------------------------------------------------------------------------
// Permission faults, with the server as an unprivileged user
// ---------------------------------------------------------------------------------------------

/**
 * A root the server's user owns, so that the modes below mean what they say for it: as root the
 * tree is chowned to uid 65534 and the binary runs as that uid; otherwise both are ours.
 * `lock(file, mode)` chmods, and puts the mode back before the tree is removed.
 */
async function unprivilegedSite(t: TestContext, tree: Tree): Promise<{ root: string; port: number; cli: RunningCli; lock: (file: string, mode: number) => void } | null> {
  const server = unprivilegedServer(t); // null: skipped, uid 65534 cannot reach even the temporary folder
  if (server === null) return null;
  const restores: Array<() => void> = [];
  t.after(() => {
    for (const restore of restores.reverse()) restore();
  }); // registered before tempDir's hook, so it runs first
  const top = tempDir(t, { root: tree });
  const root = path.join(top, "root");
  const drop = needsPrivilegeDrop();
  if (drop) {
    chmodSync(top, 0o755);
    const chownTree = (p: string) => {
      chownSync(p, NOBODY, NOBODY);
      if (statSync(p).isDirectory()) for (const name of readdirSync(p)) chownTree(path.join(p, name));
    };
    chownTree(root);
  }
  const cli = await startCli(t, [root, ...LOCAL], server);
  const lock = (file: string, mode: number) => {
    const original = statSync(file).mode & 0o7777;
    chmodSync(file, mode);
    restores.push(() => chmodSync(file, original));
  };
  return { root, port: cli.port, cli, lock };
}

test("a folder with mode 000: its listing and everything below it answer 403, existing or not", async (t) => {
  const site = await unprivilegedSite(t, { "a.txt": "alpha", locked: { "inside.txt": "SECRET-INSIDE", sub: { "deep.txt": "deep" } } });
  if (site === null) return;
  const { root, port, cli, lock } = site;
  lock(path.join(root, "locked"), 0o000);
  assert.equal((await request(port, "/a.txt")).status, 200, "the server can reach the root");
  // realpath() below the folder fails with EACCES whether or not the name exists, so 403 for both:
  // the server cannot know, and answering 404 for some names only would reveal which exist.
  const answers: Record<string, number> = {};
  for (const target of ["/locked/", "/locked/inside.txt", "/locked/missing.txt", "/locked/sub/", "/locked/sub/deep.txt"]) {
    const res = await request(port, target);
    answers[target] = res.status;
    assert.doesNotMatch(res.body.toString(), /SECRET-INSIDE|inside\.txt|deep/, target);
  }
  t.diagnostic(JSON.stringify(answers));
  assert.deepEqual(Object.values(answers), [403, 403, 403, 403, 403]);
  // The folder itself can still be stat'ed (its parent is searchable): without a slash it redirects.
  const bare = await request(port, "/locked");
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.location, "/locked/");
  assert.equal(cli.stderr(), "");
});

test("a folder readable but not searchable (0600) answers 403, listing and files; searchable but not readable (0100) serves its files and refuses its listing", async (t) => {
  const site = await unprivilegedSite(t, {
    "a.txt": "alpha",
    readonly: { "r.txt": "in readonly" },
    traverse: { "x.txt": "in traverse-only", open: { "o.txt": "in open" } },
  });
  if (site === null) return;
  const { root, port, cli, lock } = site;
  lock(path.join(root, "readonly"), 0o600);
  lock(path.join(root, "traverse"), 0o100);
  const answers: Record<string, number> = {};
  const get = async (target: string) => {
    const res = await request(port, target);
    answers[target] = res.status;
    return res;
  };
  // 0600: readdir would work, but looking for index.html inside needs search permission (EACCES):
  // the whole listing is 403 rather than a list of names the server cannot even stat.
  assert.equal((await get("/readonly/")).status, 403);
  assert.doesNotMatch((await get("/readonly/")).body.toString(), /r\.txt/);
  assert.equal((await get("/readonly/r.txt")).status, 403);
  // 0100: files and readable subfolders below it are served by name; its own listing is refused.
  const x = await get("/traverse/x.txt");
  assert.equal(x.status, 200);
  assert.equal(x.body.toString(), "in traverse-only");
  assert.equal((await get("/traverse/missing.txt")).status, 404, "a searchable folder can tell a missing name");
  const listing = await get("/traverse/");
  assert.equal(listing.status, 403);
  assert.doesNotMatch(listing.body.toString(), /x\.txt|open/);
  assert.equal((await get("/traverse/open/")).status, 200, "a readable folder below a search-only one is listed");
  assert.equal((await get("/traverse/open/o.txt")).body.toString(), "in open");
  t.diagnostic(JSON.stringify(answers));
  assert.equal(cli.stderr(), "");
});

test("an unreadable index.html answers 403 and leaks no listing; an unreadable 404.html gives the generic 404", async (t) => {
  const site = await unprivilegedSite(t, {
    "404.html": "CUSTOM-404-PAGE",
    site: { "index.html": "INDEX-CONTENT", "private-notes.txt": "notes", "public.txt": "public" },
  });
  if (site === null) return;
  const { root, port, cli, lock } = site;
  lock(path.join(root, "site", "index.html"), 0o000);
  lock(path.join(root, "404.html"), 0o000);
  const index = await request(port, "/site/");
  assert.equal(index.status, 403, "the folder with an unreadable index.html");
  assert.doesNotMatch(index.body.toString(), /private-notes|public\.txt|INDEX-CONTENT/, "the 403 page lists the folder");
  assert.equal((await request(port, "/site/index.html")).status, 403);
  assert.equal((await request(port, "/site/public.txt")).status, 200, "the other files are still served");
  const missing = await request(port, "/missing");
  assert.equal(missing.status, 404);
  assert.match(missing.body.toString(), /404 Not Found/);
  assert.doesNotMatch(missing.body.toString(), /CUSTOM-404-PAGE/);
  t.diagnostic(`/site/ ${index.status}, /missing ${missing.status} (generic page)`);
  assert.equal(cli.stderr(), "");
});

test("a file that becomes unreadable: 200, then 403, then 200 again; made unreadable mid-send, the open response completes", async (t) => {
  const site = await unprivilegedSite(t, { "doc.txt": "document" });
  if (site === null) return;
  const { root, port, cli, lock } = site;
  const file = path.join(root, "doc.txt");
  assert.equal((await request(port, "/doc.txt")).status, 200);
  lock(file, 0o000);
  const refused = await request(port, "/doc.txt");
  assert.equal(refused.status, 403);
  assert.doesNotMatch(refused.body.toString(), /document/);
  chmodSync(file, 0o644);
  const again = await request(port, "/doc.txt");
  assert.equal(again.status, 200, "nothing remembered the 403");
  assert.equal(again.body.toString(), "document");

  // Permissions are checked at open(): a descriptor already open keeps reading.
  const big = path.join(root, "big.bin");
  sparseFile(big, 32 * MiB);
  if (needsPrivilegeDrop()) chownSync(big, NOBODY, NOBODY);
  const res = await download(port, "/big.bin", { onFirstBody: () => lock(big, 0o000) });
  assert.equal(res.status, 200);
  assert.equal(res.bodyBytes, 32 * MiB, "the response under way completes");
  assert.equal((await request(port, "/big.bin")).status, 403, "the next request is refused");
  t.diagnostic(`mid-send chmod 000: ${(res.bodyBytes / MiB).toFixed(0)} MiB in ${res.ms.toFixed(0)} ms, then 403`);
  assert.equal(cli.stderr(), "");
});
