/**
 * `--workers N`: the real CLI with node:cluster workers on one port. Which worker holds a
 * connection is read from the kernel (`ss -tnp`), so "several workers" is seen, not assumed.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { BIN, eventually, listenOn, PROJECT_ROOT, request, runCli, startCli, tempDir } from "./helpers.js";

const linux = process.platform === "linux";

/** The pids of a process's children: its workers (none yet: `ps` exits 1). */
function childPids(pid: number): number[] {
  let out: string;
  try {
    out = execFileSync("ps", ["--ppid", String(pid), "-o", "pid="], { encoding: "utf8" });
  } catch (error) {
    if ((error as { status?: number }).status === 1) return [];
    throw error;
  }
  return out.split("\n").map((line) => Number(line.trim())).filter((n) => n > 0);
}

/** The pids of the processes holding the server side of established connections on `port`. */
function connectionOwners(port: number): Set<number> {
  const out = execFileSync("ss", ["-Htnp", "state", "established", `( sport = :${port} )`], { encoding: "utf8" });
  return new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

/** The pids of the processes holding the listening socket on `port` (the primary and every worker that listens). */
function listeningPids(port: number): Set<number> {
  const out = execFileSync("ss", ["-Hltnp", `( sport = :${port} )`], { encoding: "utf8" });
  return new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

/** One access-log line, whole: time, client, method, target, status, bytes, ms, and a note. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 GET (\/\S*) (\d{3})( \(aborted\))? \d+ \d+\.\dms( \(.*\))?$/;

/** The log lines the CLI printed after its banner (the banner ends with "Press Ctrl+C to stop."). */
function logLines(stdout: string): string[] {
  const after = stdout.slice(stdout.indexOf("Press Ctrl+C to stop.\n") + "Press Ctrl+C to stop.\n".length);
  return after.split("\n").filter((line) => line !== "" && !/^SIG(INT|TERM): /.test(line));
}

test("--workers 2 prints the banner once, with the one port every worker answers on (--port 0)", { skip: !linux && "reads ps and ss" }, async (t) => {
  const root = tempDir(t, { "index.html": "<h1>hi</h1>" });
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1"]);
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  // Connections one after another go to the workers in turn: each must answer on the banner's port.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  const answers = await Promise.all(Array.from({ length: 8 }, () => new Promise<number>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: cli.port, path: "/", agent }, (res) => res.resume().on("end", () => resolve(res.statusCode ?? 0))).on("error", reject);
  })));
  assert.deepEqual(answers, Array(8).fill(200));
  assert.equal(cli.stdout().match(/Serving /g)?.length, 1, "one banner");
  assert.match(cli.stdout(), /Workers: 2/);
  assert.equal(cli.stdout().match(/http:\/\/127\.0\.0\.1:(\d+)\//)?.[1], String(cli.port));
});

test("without --port, a busy 8000 moves every worker, and a replaced one, to the one port the banner names", { skip: !linux && "reads ps and ss" }, async (t) => {
  const root = tempDir(t, { "a.txt": "on the fallback port" });
  const blocker = net.createServer();
  const error = await listenOn(blocker, 8000, "127.0.0.1");
  // Held by us, or already in use by something else: either way 8000 is busy on 127.0.0.1.
  if (error === null) t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  else assert.equal(error.code, "EADDRINUSE");
  const cli = await startCli(t, [root, "--workers", "2", "-b", "127.0.0.1", "-q"]);
  assert.ok(cli.port >= 8001 && cli.port <= 8020, `port ${cli.port} is in 8001..8020`);
  assert.match(cli.stdout(), /8000[^\n]*in use|in use[^\n]*8000/, "the banner says 8000 was taken");
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  const [killed] = childPids(cli.child.pid!);
  process.kill(killed!, "SIGKILL");
  await eventually(() => { const now = childPids(cli.child.pid!); return now.length === 2 && !now.includes(killed!); }, "a replacement worker");
  const after = childPids(cli.child.pid!);
  await eventually(() => after.every((pid) => listeningPids(cli.port).has(pid)), "the new worker listens on the banner's port");
  assert.equal((await request(cli.port, "/a.txt")).body.toString(), "on the fallback port");
  const owners = await holdConnections(t, cli.port, 16, after);
  assert.deepEqual([...owners].sort(), [...after].sort(), "both workers, the replacement too, hold connections on that port");
});

test("a worker killed with SIGKILL is replaced, and the port keeps answering meanwhile", { skip: !linux && "reads ps" }, async (t) => {
  const root = tempDir(t, { "index.html": "a" });
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1", "--quiet"]);
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  const before = childPids(cli.child.pid!);
  process.kill(before[0]!, "SIGKILL");
  // The other worker answers at once; none of these may fail.
  for (let i = 0; i < 10; i++) assert.equal((await request(cli.port, "/")).status, 200);
  await eventually(() => {
    const now = childPids(cli.child.pid!);
    return now.length === 2 && !now.includes(before[0]!);
  }, "a new worker in the place of the killed one");
  assert.match(cli.stderr(), new RegExp(`worker \\d \\(pid ${before[0]}\\) was killed by SIGKILL; starting another`));
  const after = childPids(cli.child.pid!);
  await eventually(() => after.every((pid) => listeningPids(cli.port).has(pid)), "the new worker listens");
  // Both, the new one included, answer: each takes connections from the shared socket.
  const owners = await holdConnections(t, cli.port, 16, after);
  assert.deepEqual([...owners].sort(), [...after].sort(), "the connections are held by both workers, the new one too");
});

/**
 * Opens keep-alive connections, each with a GET answered, and keeps them open until the test ends;
 * resolves with the pids of the processes holding their server side once each of `expected` holds
 * one (or after `count` × MAX_ROUNDS connections). The workers share one listening socket and the
 * kernel gives each connection to whichever accepts first, and a worker that wakes drains the whole
 * queue: a batch opened at once can all go to one worker on a busy machine (CI on Node 22 saw 128 of
 * 128 so). Opened one after another, each finds both workers waiting; a worker that never accepts
 * still fails the test.
 */
async function holdConnections(t: { after(fn: () => void): void }, port: number, count: number, expected: readonly number[]): Promise<Set<number>> {
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  let owners = new Set<number>();
  for (let opened = 0; opened < count * MAX_ROUNDS && (opened < count || !expected.every((pid) => owners.has(pid))); opened++) {
    // A connection of its own each time, kept open once its answer has begun.
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
      sockets.push(socket);
      socket.once("data", () => resolve());
      socket.once("error", reject);
    });
    if (opened % 8 === 7) owners = connectionOwners(port);
  }
  return connectionOwners(port);
}
const MAX_ROUNDS = 8;

test("a worker that cannot start is restarted after a back-off that doubles, not in a spin", { skip: !linux && "reads ps" }, async (t) => {
  const parent = tempDir(t);
  const root = path.join(parent, "site");
  mkdirSync(root);
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1", "--quiet"]);
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  // Without its folder a new worker fails at start, every time.
  rmSync(root, { recursive: true });
  process.kill(childPids(cli.child.pid!)[0]!, "SIGKILL");
  await eventually(() => /starting another in 1 s/.test(cli.stderr()), "three restarts", 10_000);
  const delays = [...cli.stderr().matchAll(/starting another(?: in ([\d.]+) s)?/g)].map((m) => Number(m[1] ?? 0));
  assert.deepEqual(delays.slice(0, 3), [0.25, 0.5, 1], cli.stderr());
  assert.match(cli.stderr(), /worker \d could not start: .*ENOENT/);
  assert.match(cli.stderr(), /worker \d \(pid \d+\) exited with code 1; starting another in 0\.5 s/);
  // The other worker still answers (404: its folder is gone, but it is there).
  assert.equal((await request(cli.port, "/")).status, 404);
});

test("SIGTERM lets a worker finish an in-flight slow download, then the server exits 0", { skip: !linux && "reads ps" }, async (t) => {
  const size = 32 * 1024 * 1024;
  const root = tempDir(t);
  writeFileSync(path.join(root, "big.bin"), Buffer.alloc(size, 7));
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1"]);
  let received = 0;
  let sigtermSent = false;
  const done = new Promise<number>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: cli.port, path: "/big.bin", agent: false }, (res) => {
      res.once("data", (chunk: Buffer) => {
        received += chunk.length;
        // A slow reader: nothing more is read until the server has been told to stop.
        res.pause();
        process.kill(cli.child.pid!, "SIGTERM");
        sigtermSent = true;
        setTimeout(() => {
          res.on("data", (c: Buffer) => (received += c.length));
          res.resume();
        }, 500);
      });
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    }).on("error", reject);
  });
  assert.equal(await done, 200);
  assert.ok(sigtermSent);
  assert.equal(received, size, "every byte arrived");
  const { code, signal } = await cli.exited;
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.match(cli.stdout(), /SIGTERM: finishing open responses, then stopping\./);
  assert.match(cli.stdout(), /GET \/big\.bin 200 33554432 /, "the drained download is logged whole");
});

test("a second SIGINT ends the server and every worker at once, in-flight responses or not", { skip: !linux && "reads ps" }, async (t) => {
  const root = tempDir(t);
  writeFileSync(path.join(root, "big.bin"), Buffer.alloc(32 * 1024 * 1024, 7));
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1"]);
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  const workers = childPids(cli.child.pid!);
  // A download that never reads on: the first SIGINT would wait for it.
  const stalled = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: cli.port, path: "/big.bin", agent: false }, (res) => resolve(res.pause())).on("error", reject);
  });
  t.after(() => stalled.destroy());
  process.kill(cli.child.pid!, "SIGINT");
  await eventually(() => /SIGINT: finishing open responses/.test(cli.stdout()), "the first SIGINT is heard");
  process.kill(cli.child.pid!, "SIGINT");
  const { code } = await cli.exited;
  assert.equal(code, 1);
  await eventually(() => workers.every((pid) => !isAlive(pid)), "every worker is gone");
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("under load from several workers the request log stays whole lines, one per request, long ones too", { skip: !linux && "reads ss" }, async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "--workers", "3", "--port", "0", "--bind", "127.0.0.1"]);
  await eventually(() => childPids(cli.child.pid!).length === 3, "three workers");
  // Targets up to 12 KB: a log line longer than a pipe's atomic write (4 KiB) must still come whole.
  const targets = Array.from({ length: 1200 }, (_, i) => `/a.txt?n=${i}&pad=${"x".repeat((i * 997) % 12_000)}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 24 });
  t.after(() => agent.destroy());
  const owners = new Set<number>();
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const target = targets[next++]!;
      await new Promise<void>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port: cli.port, path: target, agent }, (res) => {
          assert.equal(res.statusCode, 200);
          res.resume().on("end", resolve);
        }).on("error", reject);
      });
      if (next % 200 === 0) for (const pid of connectionOwners(cli.port)) owners.add(pid);
    }
  };
  await Promise.all(Array.from({ length: 24 }, worker));
  assert.ok(owners.size >= 2, `requests were answered by several workers (${owners.size})`);
  process.kill(cli.child.pid!, "SIGTERM");
  assert.equal((await cli.exited).code, 0);
  const lines = logLines(cli.stdout());
  const bad = lines.filter((line) => !LOG_LINE.test(line));
  assert.deepEqual(bad.map((line) => line.slice(0, 120)), [], "every line is one whole log line");
  const logged = lines.map((line) => LOG_LINE.exec(line)![1]).sort();
  assert.deepEqual(logged, [...targets].sort(), "each request logged exactly once");
});

/** Opens live reload's event stream and collects its `data:` messages. */
function openEvents(port: number): Promise<{ req: http.ClientRequest; messages: unknown[] }> {
  return new Promise((resolve, reject) => {
    const messages: unknown[] = [];
    const req = http.get({ host: "127.0.0.1", port, path: "/__serve-here/events", agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
        for (let end = text.indexOf("\n\n"); end !== -1; end = text.indexOf("\n\n")) {
          const data = /^data: (.*)$/m.exec(text.slice(0, end));
          if (data) messages.push(JSON.parse(data[1]!));
          text = text.slice(end + 2);
        }
        if (messages.length === 1) resolve({ req, messages });
      });
    });
    req.on("error", reject);
  });
}

test("with --live, one watcher in the primary reaches pages on every worker, and every worker tells the same boot id", { skip: !linux && "reads ss" }, async (t) => {
  const root = tempDir(t, { "index.html": "<h1>v1</h1>", "style.css": "h1 {}" });
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1", "--live", "--quiet"]);
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  // The workers take connections from the shared socket as the kernel wakes them: open streams
  // until both hold some (16 at most).
  const streams: Array<{ req: http.ClientRequest; messages: unknown[] }> = [];
  t.after(() => streams.forEach((s) => s.req.destroy()));
  for (let i = 0; i < 16 && (i < 4 || connectionOwners(cli.port).size < 2); i++) streams.push(await openEvents(cli.port));
  assert.equal(connectionOwners(cli.port).size, 2, "the event streams are held by both workers");
  const boots = new Set(streams.map((s) => JSON.stringify(s.messages[0])));
  assert.equal(boots.size, 1, `one boot id for every worker: ${[...boots].join(" ")}`);
  // Both workers asked the primary to watch; give the watcher a moment to exist before the edit.
  await new Promise((r) => setTimeout(r, 300));
  writeFileSync(path.join(root, "style.css"), "h1 { color: red }");
  await eventually(() => streams.every((s) => s.messages.some((m) => JSON.stringify(m).includes("/style.css"))), "every stream told of /style.css", 5000);
  for (const s of streams) assert.deepEqual(s.messages.at(-1), { changed: ["/style.css"] });
});

/** A connection to `port` on 127.0.0.1, once it is established. */
function connectTo(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

/** The pid of the worker holding the server side of the connection whose client port is `clientPort`. */
function ownerOf(port: number, clientPort: number): number {
  const out = execFileSync("ss", ["-Htnp", "state", "established", `( sport = :${port} and dport = :${clientPort} )`], { encoding: "utf8" });
  const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
  assert.ok(pid > 0, `ss names the worker of client port ${clientPort}: ${out}`);
  return pid;
}

/** Sends one request with `Connection: close` on `socket` and gives the status of its answer. */
function statusOn(socket: net.Socket, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString("latin1"))?.[1] ?? 0)));
    socket.write(`GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`);
  });
}

test("with --auth, ten wrong passwords spread over the workers get the address refused by every worker", { skip: !linux && "reads ps and ss" }, async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "--workers", "2", "--port", "0", "--bind", "127.0.0.1", "--quiet", "--auth", "ann:right"]);
  await eventually(() => childPids(cli.child.pid!).length === 2, "two workers");
  const workers = childPids(cli.child.pid!);
  await eventually(() => workers.every((pid) => listeningPids(cli.port).has(pid)), "both workers listen");
  const basic = (password: string) => "Basic " + Buffer.from(`ann:${password}`).toString("base64");
  // Five wrong guesses on each worker's connections: counted apart, neither worker would refuse.
  const guesses = new Map<number, number>(workers.map((pid) => [pid, 0]));
  for (let connections = 0; [...guesses.values()].some((n) => n < 5); connections++) {
    assert.ok(connections < 500, `the kernel kept giving connections to one worker: ${JSON.stringify([...guesses])}`);
    const socket = await connectTo(cli.port);
    const owner = ownerOf(cli.port, socket.localPort!);
    if (guesses.get(owner)! >= 5) {
      socket.destroy();
      continue;
    }
    assert.equal(await statusOn(socket, basic("wrong")), 401, `guess ${connections} on worker ${owner}`);
    guesses.set(owner, guesses.get(owner)! + 1);
  }
  // Now every worker refuses the address, even with the right password (the block reaches each over IPC).
  const refusedBy = new Set<number>();
  for (let connections = 0; refusedBy.size < 2; connections++) {
    assert.ok(connections < 500, `refused by ${[...refusedBy]} only`);
    const socket = await connectTo(cli.port);
    const owner = ownerOf(cli.port, socket.localPort!);
    const status = await statusOn(socket, basic("right"));
    if (status === 429) refusedBy.add(owner);
    else {
      assert.equal(status, 200, "before the block arrives, the right password is let in, never counted");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
});

test("--workers takes a whole number or auto", async () => {
  for (const bad of ["0", "-1", "two", "1.5", "257"]) {
    const run = await runCli([`--workers=${bad}`]);
    assert.equal(run.code, 2, bad);
    assert.match(run.stderr, /--workers must be a whole number from 1 to 256, or auto/);
  }
});

// Shutdown at any moment (issue 17 §4): a signal that comes as soon as the port answers, while the
// other workers are still starting, must drain like one that comes later, never kill the process.

const BIG_SIZE = 40 * 1024 * 1024;

/** Writes a 40 MiB file whose bytes are not all alike (a cut or a shifted copy shows), and gives its SHA-256. */
function writeBigFile(root: string): string {
  const data = Buffer.alloc(BIG_SIZE);
  for (let i = 0; i < BIG_SIZE; i += 4) data.writeUInt32LE(i, i);
  writeFileSync(path.join(root, "big.bin"), data);
  return createHash("sha256").update(data).digest("hex");
}

/** Rejects with `what` when `promise` has not settled within `ms`: no wait in these tests is unbounded. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

interface Launched {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Set once the process has exited. */
  ended(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` to the CLI, or with `group` to its whole process group, as a terminal's Ctrl+C does. */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts the real binary without waiting for its banner (it comes only once every worker listens);
 * with `group`, in a process group of its own, so that a signal can reach it and every worker at
 * once. Killed, group and all, after the test.
 */
function launch(t: TestContext, args: string[], group = false): Launched {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: PROJECT_ROOT, detached: group });
  let out = "";
  let err = "";
  let ended = false;
  child.stdout.on("data", (c: Buffer) => (out += c));
  child.stderr.on("data", (c: Buffer) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      ended = true;
      resolve({ code, signal });
    }),
  );
  const pid = child.pid!;
  const signal = (name: NodeJS.Signals) => process.kill(group ? -pid : pid, name);
  t.after(() => {
    try {
      if (group) process.kill(-pid, "SIGKILL");
      else if (!ended) child.kill("SIGKILL");
    } catch {
      // already gone, group and all
    }
  });
  return { pid, stdout: () => out, stderr: () => err, ended: () => ended, exited, signal };
}

/** The port `pid` listens on, read from the kernel as soon as there is one (no banner needed). */
async function portOf(cli: Launched): Promise<number> {
  let port = 0;
  await eventually(() => {
    if (cli.ended()) throw new Error(`exited before it listened; stderr: ${cli.stderr()}`);
    const out = execFileSync("ss", ["-Hltnp"], { encoding: "utf8" });
    const line = out.split("\n").find((l) => l.includes(`pid=${cli.pid},`));
    port = Number(/:(\d+)\s/.exec(line ?? "")?.[1] ?? 0);
    return port > 0;
  }, "the server listens", 10_000);
  return port;
}

/** `GET /big.bin` as soon as the port answers (refused connections are tried again): the first answer. */
async function firstAnswer(cli: Launched): Promise<http.IncomingMessage> {
  const port = await portOf(cli);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path: "/big.bin", agent: false }, resolve).on("error", reject);
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ECONNREFUSED" || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/**
 * Starts serve-here (with `workers` > 1, `--workers`), begins a 40 MiB download at its first answer,
 * and `delayMs` later sends `signal` (with `group`, to the whole process group). The download reads
 * nothing until the server says it heard the signal (5 s at most), so it is in flight when it lands.
 * Then: every byte arrives, the server exits 0 and not by the signal, and its log is the banner, the
 * signal's line and the download's one whole line.
 */
async function signalDuringDownload(t: TestContext, options: { workers: number; signal: NodeJS.Signals; delayMs: number; group?: boolean }): Promise<void> {
  const { workers, signal, delayMs, group = false } = options;
  const root = tempDir(t);
  const digest = writeBigFile(root);
  const cli = launch(t, [root, "--port", "0", "--bind", "127.0.0.1", ...(workers > 1 ? ["--workers", String(workers)] : [])], group);
  const res = await within(firstAnswer(cli), 15_000, "the first answer");
  res.pause();
  assert.equal(res.statusCode, 200);
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  cli.signal(signal);
  const heard = new RegExp(`^${signal}: finishing open responses, then stopping\\.$`, "m");
  await eventually(() => heard.test(cli.stdout()) || cli.ended(), "the signal is heard", 5000).catch(() => {});

  const hash = createHash("sha256");
  let received = 0;
  res.on("data", (chunk: Buffer) => {
    received += chunk.length;
    hash.update(chunk);
  });
  const closed = new Promise<void>((resolve) => res.on("close", resolve));
  res.on("error", () => {}); // a cut download: the byte count below says so
  res.resume();
  await within(closed, 10_000, "the download ends");
  const { code, signal: killedBy } = await within(cli.exited, 10_000, "the server exits");

  const why = `stdout: ${cli.stdout()}\nstderr: ${cli.stderr()}`;
  assert.deepEqual({ code, signal: killedBy }, { code: 0, signal: null }, `exits 0, not by ${signal}; ${why}`);
  assert.equal(received, BIG_SIZE, `every byte arrived; ${why}`);
  assert.ok(res.complete, "the response ended as HTTP says");
  assert.equal(hash.digest("hex"), digest, "the bytes are the file's");
  const stdout = cli.stdout();
  assert.ok(stdout.startsWith("Serving "), `nothing is printed before the banner: ${stdout}`);
  assert.equal(stdout.match(/finishing open responses/g)?.length, 1, `one stop line: ${stdout}`);
  assert.deepEqual(logLines(stdout), [logLines(stdout).find((line) => /^\S+ 127\.0\.0\.1 GET \/big\.bin 200 41943040 \d+\.\dms$/.test(line)) ?? "(no whole log line of /big.bin)"], "the log: the download's one whole line");
  assert.ok(stdout.indexOf("finishing open responses") < stdout.indexOf("GET /big.bin"), "the signal came while the download was in flight");
  assert.equal(cli.stderr(), "", "nothing on stderr");
}

for (const workers of [2, 1]) {
  const how = workers > 1 ? `--workers ${workers}` : "one process (no --workers)";
  for (const delayMs of [0, 50, 200, 1000]) {
    test(`${how}: SIGTERM ${delayMs} ms after the first answer drains a 40 MiB download, then exits 0`, { skip: !linux && "reads ss", timeout: 60_000 }, async (t) => {
      await signalDuringDownload(t, { workers, signal: "SIGTERM", delayMs });
    });
  }
  test(`${how}: SIGINT at the first answer drains a 40 MiB download, then exits 0`, { skip: !linux && "reads ss", timeout: 60_000 }, async (t) => {
    await signalDuringDownload(t, { workers, signal: "SIGINT", delayMs: 0 });
  });
}

test("--workers 2: Ctrl+C at the first answer reaches every process of the group, the workers still starting too, and still drains and exits 0", { skip: !linux && "reads ss", timeout: 60_000 }, async (t) => {
  await signalDuringDownload(t, { workers: 2, signal: "SIGINT", delayMs: 0, group: true });
});

test("--workers 2: a second signal while the workers are still starting ends everything at once, with 1", { skip: !linux && "reads ss and ps", timeout: 60_000 }, async (t) => {
  const root = tempDir(t);
  writeBigFile(root);
  const cli = launch(t, [root, "--port", "0", "--bind", "127.0.0.1", "--workers", "2"]);
  const res = await within(firstAnswer(cli), 15_000, "the first answer");
  t.after(() => res.destroy());
  res.pause(); // never read on: only the second signal can end this
  const workers = childPids(cli.pid);
  // Two different signals, so the kernel cannot merge them into one.
  cli.signal("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 20));
  cli.signal("SIGINT");
  const { code, signal } = await within(cli.exited, 10_000, "the server exits");
  assert.deepEqual({ code, signal }, { code: 1, signal: null }, cli.stderr());
  await eventually(() => workers.every((pid) => !isAlive(pid)), "every worker is gone");
});

test("--workers 2: a worker that a signal reaches while it is still starting is replaced, not taken for a failed start", { skip: !linux && "reads ps", timeout: 60_000 }, async (t) => {
  const root = tempDir(t, { "a.txt": "still here" });
  const cli = launch(t, [root, "--port", "0", "--bind", "127.0.0.1", "--workers", "2", "--quiet"]);
  // The second worker, as soon as it exists: it is still loading, before any handler of ours.
  let second = 0;
  await eventually(() => {
    if (cli.ended()) throw new Error(`exited: ${cli.stderr()}`);
    second = childPids(cli.pid)[1] ?? 0;
    return second > 0;
  }, "a second worker", 10_000);
  process.kill(second, "SIGTERM");
  await eventually(() => /Press Ctrl\+C to stop\./.test(cli.stdout()) || cli.ended(), "the banner", 10_000);
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(cli.stdout())?.[1]);
  assert.ok(port > 0, `the banner: ${cli.stdout()} ${cli.stderr()}`);
  // It died while loading (and was replaced), or it had just begun to ignore the signal: two workers answer either way.
  if (!isAlive(second)) assert.match(cli.stderr(), new RegExp(`worker 2 \\(pid ${second}\\) was killed by SIGTERM; starting another`));
  await eventually(() => childPids(cli.pid).length === 2, "two workers");
  assert.equal((await request(port, "/a.txt")).body.toString(), "still here");
  cli.signal("SIGTERM");
  assert.deepEqual(await within(cli.exited, 10_000, "the server exits"), { code: 0, signal: null });
});
