/**
 * Bodies on the wire: a 4 GiB file through the real binary in constant memory, and files that
 * change under a response (shrink, grow, vanish) or clients that leave in the middle of one.
 * Large files are made at test time, sparse where their content does not matter.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFileSync, closeSync, openSync, readFileSync, readdirSync, readlinkSync, truncateSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import type { AccessLogEntry } from "../src/server.js";
import { eventually, openDescriptorCount, parseRawResponse, request, serve, startCli, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A sparse file of `size` bytes (all zeros, no disk blocks). */
function sparseFile(file: string, size: number): void {
  closeSync(openSync(file, "w"));
  truncateSync(file, size);
}

interface Streamed {
  status: number;
  headers: Map<string, string>;
  /** Body bytes received before the server closed the connection. */
  bodyBytes: number;
  /** The body itself, when `keepBody` was asked for. */
  body: Buffer;
}

/**
 * GET over a raw socket with `Connection: close`, counting body bytes until the server closes.
 * `onFirstBody` runs once, with the socket paused, as soon as the first body byte arrives.
 * Rejects if the server has not closed within `timeoutMs` (a hang).
 */
function streamGet(
  port: number,
  target: string,
  options: { onFirstBody?: (socket: net.Socket) => void | Promise<void>; keepBody?: boolean; timeoutMs?: number } = {},
): Promise<Streamed> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = Buffer.alloc(0);
    let parsed: ReturnType<typeof parseRawResponse> | null = null;
    let bodyBytes = 0;
    const kept: Buffer[] = [];
    let firstBodySeen = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms after ${bodyBytes} body bytes`));
    }, timeoutMs);
    const onBody = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      bodyBytes += chunk.length;
      if (options.keepBody) kept.push(chunk);
      if (!firstBodySeen && options.onFirstBody) {
        firstBodySeen = true;
        socket.pause();
        void Promise.resolve(options.onFirstBody(socket)).then(
          () => socket.resume(),
          (error: unknown) => {
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
      if (!parsed) return reject(new Error(`closed before the headers: ${head.toString("latin1").slice(0, 200)}`));
      resolve({ status: parsed.status, headers: parsed.headers, bodyBytes, body: Buffer.concat(kept) });
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

/** Descriptors of this process that point at `file` (Linux: /proc/self/fd links). */
function descriptorsOpenOn(file: string): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target === file || target === `${file} (deleted)`) count++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return count;
}

/** One field of /proc/<pid>/status in bytes (VmRSS, VmHWM, ...). */
function procStatusBytes(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1];
  assert.ok(kb !== undefined, `${field} missing from /proc/${pid}/status`);
  return Number(kb) * 1024;
}

// ---------------------------------------------------------------------------------------------
// A 4 GiB file through the real binary
// ---------------------------------------------------------------------------------------------

test("a 4 GiB file is streamed to completion by the real binary with peak memory under 200 MB", { timeout: 180_000 }, async (t) => {
  const root = tempDir(t);
  const size = 4 * GiB;
  sparseFile(path.join(root, "huge.bin"), size);
  const cli = await startCli(t, [root, "--port", "0", "--bind", "127.0.0.1", "--quiet"]);
  const pid = cli.child.pid!;

  let samples = 0;
  let maxRss = 0;
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, procStatusBytes(pid, "VmRSS"));
    samples++;
  }, 25);
  t.after(() => clearInterval(sampler));

  const { status, contentLength, received } = await new Promise<{ status: number; contentLength: string | undefined; received: number }>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: cli.port, path: "/huge.bin", agent: false }, (res) => {
      let received = 0;
      res.on("data", (chunk: Buffer) => (received += chunk.length)); // counted, never kept
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentLength: res.headers["content-length"], received }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
  clearInterval(sampler);
  maxRss = Math.max(maxRss, procStatusBytes(pid, "VmRSS"));
  const peak = procStatusBytes(pid, "VmHWM");
  t.diagnostic(`max VmRSS ${(maxRss / 1e6).toFixed(1)} MB over ${samples} samples; VmHWM ${(peak / 1e6).toFixed(1)} MB`);

  assert.equal(status, 200);
  assert.equal(contentLength, String(size));
  assert.equal(received, size);
  assert.ok(samples > 0, "memory was never sampled");
  assert.ok(maxRss < 200 * 1e6, `VmRSS reached ${(maxRss / 1e6).toFixed(1)} MB`);
  assert.ok(peak < 200 * 1e6, `VmHWM is ${(peak / 1e6).toFixed(1)} MB`);
});

// ---------------------------------------------------------------------------------------------
// A client that leaves
// ---------------------------------------------------------------------------------------------

/** Starts a big download on a raw socket and resolves once body bytes arrive; the socket is still open. */
function startDownload(port: number, target: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const end = seen.indexOf("\r\n\r\n");
      if (end !== -1 && seen.length > end + 4) {
        socket.off("data", onData);
        socket.pause();
        resolve(socket);
      }
    };
    socket.on("data", onData);
    socket.on("error", reject);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

test("a client that disconnects mid-download releases the file descriptor", async (t) => {
  const root = tempDir(t, { "small.txt": "warm up\n" });
  const file = path.join(root, "big.bin");
  sparseFile(file, 256 * MiB);
  const server = await serve(t, { root });
  assert.equal((await request(server.port, "/small.txt")).status, 200); // warm up lazily made things
  await eventually(() => descriptorsOpenOn(path.join(root, "small.txt")) === 0, "warm-up file still open");
  const baseline = openDescriptorCount();

  const socket = await startDownload(server.port, "/big.bin");
  assert.equal(descriptorsOpenOn(file), 1, "the server should hold the file open mid-download");
  socket.destroy();

  await eventually(() => descriptorsOpenOn(file) === 0, `big.bin still open after the client left`);
  await eventually(() => openDescriptorCount() <= baseline, `descriptors did not return to ${baseline}: ${openDescriptorCount()}`);
});

test("many clients that disconnect mid-download leave no descriptor behind", async (t) => {
  const root = tempDir(t, { "small.txt": "warm up\n" });
  const file = path.join(root, "big.bin");
  sparseFile(file, 256 * MiB);
  const server = await serve(t, { root });
  assert.equal((await request(server.port, "/small.txt")).status, 200);
  const baseline = openDescriptorCount();

  const sockets = await Promise.all(Array.from({ length: 10 }, () => startDownload(server.port, "/big.bin")));
  assert.equal(descriptorsOpenOn(file), 10);
  for (const socket of sockets) socket.destroy();

  await eventually(() => descriptorsOpenOn(file) === 0, `big.bin still open ${descriptorsOpenOn(file)} times`);
  await eventually(() => openDescriptorCount() <= baseline, `descriptors did not return to ${baseline}: ${openDescriptorCount()}`);
});

test("a client that disconnects mid-download is logged as not completed, and not as an error", async (t) => {
  const root = tempDir(t);
  sparseFile(path.join(root, "big.bin"), 256 * MiB);
  const entries: AccessLogEntry[] = [];
  const errors: unknown[] = [];
  const server = await serve(t, { root, onResponse: (e) => entries.push(e), onError: (e) => errors.push(e) });

  const socket = await startDownload(server.port, "/big.bin");
  socket.destroy();
  await eventually(() => entries.length === 1, "no access-log entry for the aborted download");

  assert.equal(entries[0]!.status, 200);
  assert.equal(entries[0]!.completed, false);
  assert.ok(entries[0]!.bytes < 256 * MiB);
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------------------------
// A file that changes while it is sent
// ---------------------------------------------------------------------------------------------

test("a file that shrinks while being sent: the connection closes at once with fewer bytes than Content-Length", async (t) => {
  const root = tempDir(t, { "after.txt": "still here\n" });
  const file = path.join(root, "shrinking.bin");
  const size = 64 * MiB;
  sparseFile(file, size);
  const entries: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (e) => entries.push(e) });

  const res = await streamGet(server.port, "/shrinking.bin", { onFirstBody: () => truncateSync(file, MiB), timeoutMs: 30_000 });

  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(size));
  assert.ok(res.bodyBytes > 0);
  assert.ok(res.bodyBytes < size, `received ${res.bodyBytes} of ${size} bytes`);
  await eventually(() => entries.length === 1, "no access-log entry");
  assert.equal(entries[0]!.completed, false);
  assert.equal((await request(server.port, "/after.txt")).status, 200);
});

test("a file that grows while being sent: exactly the original Content-Length bytes arrive", async (t) => {
  const root = tempDir(t);
  const file = path.join(root, "growing.bin");
  const original = randomBytes(8 * MiB + 12_345); // not a whole number of read chunks
  writeFileSync(file, original);
  const server = await serve(t, { root });

  const res = await streamGet(server.port, "/growing.bin", { keepBody: true, onFirstBody: () => appendFileSync(file, Buffer.alloc(2 * MiB, 0xaa)) });

  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(original.length));
  assert.equal(res.bodyBytes, original.length);
  assert.ok(res.body.equals(original), "the body is not the original content");
});

test("a file deleted while being sent: the response completes and the server serves the next request", async (t) => {
  const root = tempDir(t, { "after.txt": "still here\n" });
  const file = path.join(root, "doomed.bin");
  const size = 32 * MiB;
  sparseFile(file, size);
  const server = await serve(t, { root });

  const res = await streamGet(server.port, "/doomed.bin", { onFirstBody: () => unlinkSync(file), timeoutMs: 30_000 });

  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(size));
  // Linux keeps an unlinked inode alive while a descriptor holds it: the whole body arrives.
  assert.equal(res.bodyBytes, size);
  await eventually(() => descriptorsOpenOn(file) === 0, "the deleted file is still held open");
  assert.equal((await request(server.port, "/doomed.bin")).status, 404);
  const after = await request(server.port, "/after.txt");
  assert.equal(after.status, 200);
  assert.equal(after.body.toString(), "still here\n");
});

test("a range in the middle of a big file is streamed exactly", async (t) => {
  const root = tempDir(t);
  const file = path.join(root, "big.bin");
  sparseFile(file, 64 * MiB);
  // Marks straddling both edges of the range, so an off-by-one shows in the body.
  const fd = openSync(file, "r+");
  for (const at of [10 * MiB - 4, 20 * MiB - 4]) writeSync(fd, Buffer.from("ABCDEFGH"), 0, 8, at);
  closeSync(fd);
  const server = await serve(t, { root });

  const res = await request(server.port, "/big.bin", { headers: { Range: `bytes=${10 * MiB}-${20 * MiB - 1}` } });

  assert.equal(res.status, 206);
  assert.equal(res.headers["content-range"], `bytes ${10 * MiB}-${20 * MiB - 1}/${64 * MiB}`);
  assert.equal(res.body.length, 10 * MiB);
  assert.equal(res.body.subarray(0, 4).toString(), "EFGH");
  assert.equal(res.body.subarray(-4).toString(), "ABCD");
});
