/**
 * Resumable uploads (tus 1.0.0, src/tus.ts): tus-js-client against a real server, through a
 * test-side TCP proxy that cuts the connection, across a SIGKILL and restart, twenty at once; and
 * each hostile request on its own, raw. The part being received is never visible, expires, and
 * nothing is left once a file is whole.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import os from "node:os";
import net from "node:net";
import path from "node:path";
import test from "node:test";
import { Upload, type HttpRequest, type HttpResponse } from "tus-js-client";
import { selfSignedCertificate } from "../src/cert.js";
import { eventually, request, serve, startCli, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const TUS = { "Tus-Resumable": "1.0.0" };
const OFFSET_STREAM = "application/offset+octet-stream";

function b64(text: string | Buffer): string {
  return Buffer.from(text).toString("base64");
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Every path under `dir`, relative, sorted, hidden ones included. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string, prefix: string) => {
    for (const name of readdirSync(at).sort()) {
      out.push(prefix + name);
      if (lstatSync(path.join(at, name)).isDirectory()) walk(path.join(at, name), prefix + name + "/");
    }
  };
  walk(dir, "");
  return out;
}

/** The upload leftovers under `dir`: temporary files, parts, records and locks (the records' folder itself may stay). */
function leftovers(dir: string): string[] {
  return tree(dir).filter((p) => p.includes(".serve-here-upload-") && p !== ".serve-here-upload-tus");
}

function partsIn(dir: string): string[] {
  return tree(dir).filter((p) => path.basename(p).startsWith(".serve-here-upload-tus-"));
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with node:http, a fresh connection, the body sent whole. */
function send(port: number, method: string, target: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all = body === undefined ? headers : { "Content-Length": String(Buffer.byteLength(body)), ...headers };
    const req = http.request({ host: "127.0.0.1", port, path: target, method, headers: all, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A creation: POST to `folder` with Upload-Length and Upload-Metadata; the upload's path from Location. */
async function create(port: number, folder: string, length: number, metadata: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer & { location: string }> {
  const res = await send(port, "POST", folder, { ...TUS, "Upload-Length": String(length), "Upload-Metadata": metadata, ...headers }, body);
  return { ...res, location: String(res.headers.location ?? "") };
}

function patch(port: number, location: string, offset: number, body: Buffer | string, headers: Record<string, string> = {}): Promise<Answer> {
  return send(port, "PATCH", location, { ...TUS, "Upload-Offset": String(offset), "Content-Type": OFFSET_STREAM, ...headers }, body);
}

function head(port: number, location: string, headers: Record<string, string> = TUS): Promise<Answer> {
  return send(port, "HEAD", location, headers);
}

/** tus-js-client's upload of `data` to `endpoint`, resolved when it succeeds. */
function tusUpload(data: Buffer, endpoint: string, options: { filename: string; retryDelays?: number[]; onBeforeRequest?: (req: HttpRequest) => void; onAfterResponse?: (req: HttpRequest, res: HttpResponse) => void; headers?: Record<string, string> }): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload = new Upload(data, {
      endpoint,
      uploadSize: data.length,
      metadata: { filename: options.filename },
      retryDelays: options.retryDelays ?? [0, 100, 300, 1000],
      headers: options.headers ?? {},
      onBeforeRequest: options.onBeforeRequest,
      onAfterResponse: options.onAfterResponse,
      onSuccess: () => resolve(upload.url ?? ""),
      onError: reject,
    });
    upload.start();
  });
}

/** What a resumed upload did, in order: PATCHes (their Upload-Offset), cuts (the bytes the cut connection had passed), HEADs (the offset answered). */
type Event = { kind: "patch"; offset: number } | { kind: "cut"; connectionBytes: number } | { kind: "head"; offset: number };

interface CuttingProxy {
  port: number;
  /** Bytes passed from clients to the server, heads included. */
  forwarded(): number;
  /** How many cuts were made. */
  cuts(): number;
}

/**
 * A TCP proxy to `targetPort` that counts the bytes clients send through it and, when the count
 * reaches each of `cutAt` in turn, passes the bytes up to it, then closes both sides of that
 * connection (the server's side after what was passed, as a client that vanished leaves it; with
 * `abrupt`, by a reset both ways, as a network that drops a connection may).
 */
async function cuttingProxy(t: test.TestContext, targetPort: number, cutAt: number[], events: Event[], abrupt = false): Promise<CuttingProxy> {
  let forwarded = 0;
  const pending = [...cutAt];
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    let connectionBytes = 0;
    sockets.add(client).add(upstream);
    client.on("close", () => sockets.delete(client));
    upstream.on("close", () => sockets.delete(upstream));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    upstream.on("end", () => client.end());
    upstream.pipe(client);
    client.on("end", () => upstream.end());
    client.on("data", (chunk: Buffer) => {
      const next = pending[0];
      if (next !== undefined && forwarded + chunk.length >= next) {
        const take = next - forwarded;
        forwarded = next;
        connectionBytes += take;
        pending.shift();
        cuts++;
        events.push({ kind: "cut", connectionBytes });
        if (abrupt) {
          // A reset both ways after the bytes: what the server had not read yet is lost with it.
          upstream.write(chunk.subarray(0, take), () => upstream.resetAndDestroy());
          client.resetAndDestroy();
        } else {
          upstream.end(chunk.subarray(0, take));
          client.destroy();
        }
        return;
      }
      forwarded += chunk.length;
      connectionBytes += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, forwarded: () => forwarded, cuts: () => cuts };
}

/**
 * Per cut: the bytes sent before it that the server had not kept: where the cut PATCH started,
 * plus what its connection passed (its head and, with keep-alive, a HEAD's head too: a few hundred
 * bytes counted as re-sent), less the offset the next HEAD gave.
 */
function resentPerCut(events: Event[]): number[] {
  const resent: number[] = [];
  let patchOffset = 0;
  for (const [i, event] of events.entries()) {
    if (event.kind === "patch") patchOffset = event.offset;
    if (event.kind !== "cut") continue;
    const next = events.slice(i + 1).find((e) => e.kind === "head");
    if (next?.kind === "head") resent.push(patchOffset + event.connectionBytes - next.offset);
  }
  return resent;
}

/** tus-js-client hooks that note PATCH offsets and HEAD answers in `events`. */
function noting(events: Event[]) {
  return {
    onBeforeRequest: (req: HttpRequest) => {
      if (req.getMethod() === "PATCH") events.push({ kind: "patch", offset: Number(req.getHeader("Upload-Offset")) });
    },
    onAfterResponse: (req: HttpRequest, res: HttpResponse) => {
      if (req.getMethod() === "HEAD") events.push({ kind: "head", offset: Number(res.getHeader("Upload-Offset")) });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tus-js-client against the real server
// ---------------------------------------------------------------------------------------------

test("tus-js-client: a 200 MB upload whose connection is cut three times completes byte-identical, re-sending at most 1 MiB per cut", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const size = 200 * 1000 * 1000;
  const data = randomBytes(size);
  const events: Event[] = [];
  const proxy = await cuttingProxy(t, server.port, [Math.floor(size * 0.22), Math.floor(size * 0.5), Math.floor(size * 0.77)], events);
  const started = performance.now();
  await tusUpload(data, `http://127.0.0.1:${proxy.port}/in/`, { filename: "big.bin", ...noting(events) });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(proxy.cuts(), 3, "the proxy cut three times");
  const stored = readFileSync(path.join(root, "in", "big.bin"));
  assert.equal(stored.length, size);
  assert.equal(sha256(stored), sha256(data), "byte-identical");
  const overhead = proxy.forwarded() - size;
  const resent = resentPerCut(events);
  const patches = events.filter((e) => e.kind === "patch").map((e) => (e as { offset: number }).offset);
  t.diagnostic(`200 MB with 3 cuts: ${seconds.toFixed(1)} s; ${proxy.forwarded()} bytes through the proxy, ${overhead} more than the file (heads included); PATCH offsets ${patches.join(", ")}; re-sent after each cut: ${resent.join(", ")} bytes`);
  assert.equal(resent.length, 3, "a HEAD after each cut");
  for (const bytes of resent) assert.ok(bytes <= MiB, `re-sent ${bytes} bytes after a cut (at most 1 MiB)`);
  assert.ok(overhead <= 3 * MiB + 64 * 1024, `${overhead} bytes beyond the file went through the proxy`);
  assert.deepEqual(leftovers(root), [], "no part, record or lock is left");
});

/**
 * A reset is harsher: Linux drops what the server's socket had received and not yet read (measured:
 * 1 MiB sent, a reset, 195 KB readable), and under the disk's backpressure that is the socket's
 * whole receive buffer, a few MiB on loopback. Those bytes are sent again; what the server read is
 * kept. So the bound here is the socket buffers, not 1 MiB.
 */
const RESET_RESEND_BOUND = 8 * MiB;

test("tus-js-client: the same with the connection reset (RST both ways) three times: byte-identical, re-sending only what the socket had not yet read", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const size = 100 * 1000 * 1000;
  const data = randomBytes(size);
  const events: Event[] = [];
  const proxy = await cuttingProxy(t, server.port, [Math.floor(size * 0.2), Math.floor(size * 0.5), Math.floor(size * 0.8)], events, true);
  const started = performance.now();
  await tusUpload(data, `http://127.0.0.1:${proxy.port}/in/`, { filename: "reset.bin", ...noting(events) });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(proxy.cuts(), 3);
  assert.equal(sha256(readFileSync(path.join(root, "in", "reset.bin"))), sha256(data), "byte-identical");
  const resent = resentPerCut(events);
  t.diagnostic(`100 MB with 3 resets: ${seconds.toFixed(1)} s; ${proxy.forwarded() - size} bytes more than the file through the proxy; re-sent after each cut: ${resent.join(", ")} bytes`);
  assert.equal(resent.length, 3, "a HEAD after each cut");
  for (const bytes of resent) assert.ok(bytes <= RESET_RESEND_BOUND, `re-sent ${bytes} bytes after a reset (at most ${RESET_RESEND_BOUND})`);
  assert.deepEqual(leftovers(root), []);
});

test("tus-js-client: serve-here killed with SIGKILL mid-upload and started again on the same port and root, the client resumes and the file is byte-identical", async (t) => {
  const root = tempDir(t, { in: {} });
  const first = await startCli(t, [root, "--upload", "-p", "0", "-b", "127.0.0.1"]);
  const port = first.port;
  const size = 120 * 1000 * 1000;
  const data = randomBytes(size);
  const patchOffsets: number[] = [];
  let restarted: Awaited<ReturnType<typeof startCli>> | null = null;
  const uploaded = tusUpload(data, `http://127.0.0.1:${port}/in/`, {
    filename: "video.mp4",
    // Refused connections while the server is down: keep trying for some 20 s.
    retryDelays: [0, 250, 500, 1000, 1000, 1000, 2000, 2000, 2000, 3000, 3000, 3000],
    onBeforeRequest: (req) => {
      if (req.getMethod() === "PATCH") patchOffsets.push(Number(req.getHeader("Upload-Offset")));
    },
  });
  uploaded.catch(() => {});
  // Kill it once some 40 % is on disk.
  await eventually(() => partsIn(root).some((p) => statSync(path.join(root, p)).size > size * 0.4), "the part grew to 40 %", 60_000);
  const before = statSync(path.join(root, partsIn(root)[0]!)).size;
  first.child.kill("SIGKILL");
  await first.exited;
  restarted = await startCli(t, [root, "--upload", "-p", String(port), "-b", "127.0.0.1"]);
  await uploaded;
  assert.equal(restarted.port, port);
  const stored = readFileSync(path.join(root, "in", "video.mp4"));
  assert.equal(sha256(stored), sha256(data), "byte-identical");
  assert.ok(patchOffsets.length >= 2 && patchOffsets.at(-1)! > 0, `the client resumed (PATCH offsets ${patchOffsets.join(", ")})`);
  t.diagnostic(`killed with ${before} bytes in the part; resumed from ${patchOffsets.at(-1)}`);
  assert.deepEqual(leftovers(root), []);
});

test("tus-js-client with --workers 2: an upload cut three times completes byte-identical (the lock file keeps one writer across processes)", async (t) => {
  const root = tempDir(t, { in: {} });
  const cli = await startCli(t, [root, "--upload", "--workers", "2", "-p", "0", "-b", "127.0.0.1"]);
  const size = 40 * 1000 * 1000;
  const data = randomBytes(size);
  const events: Event[] = [];
  const proxy = await cuttingProxy(t, cli.port, [Math.floor(size * 0.25), Math.floor(size * 0.5), Math.floor(size * 0.75)], events);
  await tusUpload(data, `http://127.0.0.1:${proxy.port}/in/`, { filename: "workers.bin", retryDelays: [0, 100, 200, 300, 500, 500, 1000, 1000, 1000], ...noting(events) });
  assert.equal(sha256(readFileSync(path.join(root, "in", "workers.bin"))), sha256(data), "byte-identical");
  t.diagnostic(`--workers 2: ${proxy.forwarded() - size} bytes more than the file through the proxy; PATCH offsets ${events.filter((e) => e.kind === "patch").map((e) => (e as { offset: number }).offset).join(", ")}`);
  assert.deepEqual(leftovers(root), []);
});

test("tus-js-client: 20 uploads at once, each whole", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const files = Array.from({ length: 20 }, (_, i) => ({ name: `file-${i}.bin`, data: randomBytes(2 * MiB + i * 1000) }));
  await Promise.all(files.map((file) => tusUpload(file.data, `${server.base}/in/`, { filename: file.name })));
  for (const file of files) assert.equal(sha256(readFileSync(path.join(root, "in", file.name))), sha256(file.data), file.name);
  assert.deepEqual(leftovers(root), []);
});

test("tus-js-client: a folder's file (relativePath) lands in the same tree, its folders made", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const data = randomBytes(1000);
  await new Promise<void>((resolve, reject) => {
    new Upload(data, { endpoint: `${server.base}/in/`, uploadSize: data.length, metadata: { filename: "c.txt", relativePath: "a/b/c.txt" }, onSuccess: () => resolve(), onError: reject }).start();
  });
  assert.deepEqual(readFileSync(path.join(root, "in", "a", "b", "c.txt")), data);
});

test("tus-js-client with uploadDataDuringCreation (creation-with-upload) and a small chunkSize: stored whole", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const data = randomBytes(300_000);
  await new Promise<void>((resolve, reject) => {
    new Upload(data, { endpoint: `${server.base}/in/`, uploadSize: data.length, chunkSize: 64 * 1024, uploadDataDuringCreation: true, metadata: { filename: "chunks.bin" }, onSuccess: () => resolve(), onError: reject }).start();
  });
  assert.deepEqual(readFileSync(path.join(root, "in", "chunks.bin")), data);
  assert.deepEqual(leftovers(root), []);
});

test("tus-js-client: termination (abort with terminate) removes the part and the record", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const data = randomBytes(100_000);
  let upload!: Upload;
  await new Promise<void>((resolve, reject) => {
    upload = new Upload(data, {
      endpoint: `${server.base}/in/`,
      uploadSize: data.length,
      chunkSize: 10_000,
      metadata: { filename: "cancelled.bin" },
      onChunkComplete: (_size, accepted) => {
        if (accepted >= 30_000) upload.abort(true).then(resolve, reject);
      },
      onError: reject,
    });
    upload.start();
  });
  assert.equal((await head(server.port, new URL(upload.url!).pathname)).status, 404);
  assert.deepEqual(leftovers(root), []);
  assert.equal(existsSync(path.join(root, "in", "cancelled.bin")), false);
});

// ---------------------------------------------------------------------------------------------
// The protocol, request by request
// ---------------------------------------------------------------------------------------------

test("creation, PATCH, HEAD: 201 with Location under /__serve-here/tus/, offsets as received, 204 at the end and the file named", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 11, `filename ${b64("hello.txt")}`);
  assert.equal(created.status, 201);
  assert.match(created.location, /^\/__serve-here\/tus\/[A-Za-z0-9_-]{22}$/);
  assert.equal(created.headers["tus-resumable"], "1.0.0");
  assert.ok(Date.parse(String(created.headers["upload-expires"])) > Date.now() + 23 * 3600_000, "expires in 24 h");
  const first = await patch(server.port, created.location, 0, "hello");
  assert.equal(first.status, 204);
  assert.equal(first.headers["upload-offset"], "5");
  assert.ok(first.headers["upload-expires"]);
  const state = await head(server.port, created.location);
  assert.equal(state.status, 200);
  assert.equal(state.headers["upload-offset"], "5");
  assert.equal(state.headers["upload-length"], "11");
  assert.equal(state.headers["cache-control"], "no-store");
  assert.equal(state.headers["upload-metadata"], `filename ${b64("hello.txt")}`);
  assert.ok(state.headers["upload-expires"]);
  assert.equal(existsSync(path.join(root, "in", "hello.txt")), false, "no name before the last byte");
  const last = await patch(server.port, created.location, 5, " world");
  assert.equal(last.status, 204);
  assert.equal(last.headers["upload-offset"], "11");
  assert.equal(readFileSync(path.join(root, "in", "hello.txt"), "utf8"), "hello world");
  assert.equal((await head(server.port, created.location)).status, 404, "the upload is gone once stored");
  assert.deepEqual(leftovers(root), []);
});

test("creation-with-upload: the whole body in the POST stores the file; 201 with Upload-Offset", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 5, `filename ${b64("now.txt")}`, { "Content-Type": OFFSET_STREAM }, Buffer.from("12345"));
  assert.equal(created.status, 201);
  assert.equal(created.headers["upload-offset"], "5");
  assert.equal(created.headers["content-location"], "/in/now.txt");
  assert.equal(readFileSync(path.join(root, "in", "now.txt"), "utf8"), "12345");
  const partial = await create(server.port, "/in/", 10, `filename ${b64("later.txt")}`, { "Content-Type": OFFSET_STREAM }, Buffer.from("123"));
  assert.equal(partial.status, 201);
  assert.equal(partial.headers["upload-offset"], "3");
  assert.equal((await patch(server.port, partial.location, 3, "4567890")).status, 204);
  assert.equal(readFileSync(path.join(root, "in", "later.txt"), "utf8"), "1234567890");
});

test("an empty file (Upload-Length: 0) is stored at creation", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 0, `filename ${b64("empty.txt")}`);
  assert.equal(created.status, 201);
  assert.equal(statSync(path.join(root, "in", "empty.txt")).size, 0);
  assert.deepEqual(leftovers(root), []);
});

test("a name that is taken gets name (1).ext without --overwrite; with --overwrite the file is replaced", async (t) => {
  const root = tempDir(t, { in: { "a.txt": "old" } });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 3, `filename ${b64("a.txt")}`);
  const last = await patch(server.port, created.location, 0, "new");
  assert.equal(decodeURIComponent(String(last.headers["content-location"])), "/in/a (1).txt", "the last PATCH says where the file went");
  assert.equal(readFileSync(path.join(root, "in", "a.txt"), "utf8"), "old");
  assert.equal(readFileSync(path.join(root, "in", "a (1).txt"), "utf8"), "new");

  const root2 = tempDir(t, { in: { "a.txt": "old" } });
  const drive = await serve(t, { root: root2, upload: true, overwrite: true });
  const replacing = await create(drive.port, "/in/", 3, `filename ${b64("a.txt")}`);
  await patch(drive.port, replacing.location, 0, "new");
  assert.equal(readFileSync(path.join(root2, "in", "a.txt"), "utf8"), "new");
  assert.deepEqual(readdirSync(path.join(root2, "in")).filter((n) => !n.startsWith(".")), ["a.txt"]);
});

test("DELETE (termination): 204, the part and the record removed, then 404", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  await patch(server.port, created.location, 0, "12345");
  assert.equal(partsIn(root).length, 1);
  const deleted = await send(server.port, "DELETE", created.location, TUS);
  assert.equal(deleted.status, 204);
  assert.equal(deleted.headers["tus-resumable"], "1.0.0");
  assert.deepEqual(leftovers(root), []);
  assert.equal((await head(server.port, created.location)).status, 404);
  assert.equal((await patch(server.port, created.location, 5, "67890")).status, 404);
});

test("OPTIONS on /__serve-here/tus/, on an upload URL and on a folder says version, extensions and Tus-Max-Size", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true, maxUploadBytes: 5000 });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  for (const target of ["/__serve-here/tus/", created.location, "/in/"]) {
    const res = await send(server.port, "OPTIONS", target, {});
    assert.ok(res.status === 204 || res.status === 200, `${target}: ${res.status}`);
    assert.equal(res.headers["tus-version"], "1.0.0", target);
    assert.equal(res.headers["tus-extension"], "creation,creation-with-upload,termination,expiration", target);
    assert.equal(res.headers["tus-max-size"], "5000", target);
    assert.equal(res.headers["tus-resumable"], "1.0.0", target);
  }
});

test("without --upload there is no tus: a creation POST is 405, an upload URL 404 or 405", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root });
  assert.equal((await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`)).status, 405);
  assert.ok([404, 405].includes((await patch(server.port, "/__serve-here/tus/AAAAAAAAAAAAAAAAAAAAAA", 0, "x")).status));
  assert.deepEqual(tree(root), ["in"]);
});

test("a request without Tus-Resumable is 412 with Tus-Version (a POST without it stays a form upload: 415)", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  const res = await send(server.port, "PATCH", created.location, { "Upload-Offset": "0", "Content-Type": OFFSET_STREAM }, "12345");
  assert.equal(res.status, 412);
  assert.equal(res.headers["tus-version"], "1.0.0");
  assert.equal((await head(server.port, created.location, {})).status, 412);
  assert.equal((await send(server.port, "PATCH", created.location, { "Tus-Resumable": "0.2.2", "Upload-Offset": "0", "Content-Type": OFFSET_STREAM }, "1")).status, 412);
  assert.equal((await send(server.port, "POST", "/in/", { "Upload-Length": "10", "Upload-Metadata": `filename ${b64("x.bin")}` })).status, 415);
  assert.equal((await head(server.port, created.location)).headers["upload-offset"], "0");
});

// ---------------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------------

test("hostile: an Upload-Offset that is not the current offset is 409, with the offset it is at", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  await patch(server.port, created.location, 0, "12345");
  for (const offset of [0, 3, 6, 10]) {
    const res = await patch(server.port, created.location, offset, "abcde".slice(0, Math.min(5, 10 - offset) || 1));
    assert.equal(res.status, 409, `offset ${offset}`);
    assert.equal(res.headers["upload-offset"], "5");
  }
  assert.equal(readFileSync(path.join(root, "in", partsIn(path.join(root, "in"))[0]!), "utf8"), "12345");
});

test("hostile: a PATCH without Content-Type application/offset+octet-stream is 415, nothing stored", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  for (const type of [undefined, "application/octet-stream", "text/plain", "multipart/form-data; boundary=x"]) {
    const headers: Record<string, string> = { ...TUS, "Upload-Offset": "0" };
    if (type) headers["Content-Type"] = type;
    assert.equal((await send(server.port, "PATCH", created.location, headers, "12345")).status, 415, String(type));
  }
  assert.equal((await head(server.port, created.location)).headers["upload-offset"], "0");
});

test("hostile: bytes past Upload-Length are 400 and nothing is stored past it (declared, and chunked)", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  assert.equal((await patch(server.port, created.location, 0, "12345")).status, 204);
  const declared = await patch(server.port, created.location, 5, "6789012345");
  assert.equal(declared.status, 400);
  assert.equal(declared.headers["upload-offset"], "5");
  // Chunked: no length to check first; the bytes are cut back when they pass it.
  const chunked = await new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, path: created.location, method: "PATCH", headers: { ...TUS, "Upload-Offset": "5", "Content-Type": OFFSET_STREAM, "Transfer-Encoding": "chunked" }, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) }));
    });
    req.on("error", reject);
    req.write("678");
    setTimeout(() => req.end("9012345678"), 50);
  });
  assert.equal(chunked.status, 400);
  const part = path.join(root, "in", partsIn(path.join(root, "in"))[0]!);
  assert.equal(statSync(part).size, 5, "never past the length, and the refused request's bytes are gone");
  assert.equal((await head(server.port, created.location)).headers["upload-offset"], "5");
  assert.equal(existsSync(path.join(root, "in", "x.bin")), false);
  assert.equal((await patch(server.port, created.location, 5, "67890")).status, 204);
  assert.equal(readFileSync(path.join(root, "in", "x.bin"), "utf8"), "1234567890");
});

test("hostile: an Upload-Length over --max-upload is 413 and nothing is made", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true, maxUploadBytes: 1000 });
  const res = await create(server.port, "/in/", 1001, `filename ${b64("x.bin")}`);
  assert.equal(res.status, 413);
  assert.equal((await create(server.port, "/in/", 1000, `filename ${b64("x.bin")}`)).status, 201);
  assert.equal((await create(server.port, "/in/", 99, `filename ${b64("y.bin")}`, { "Upload-Length": "-1" })).status, 400);
  assert.equal(partsIn(root).length, 1);
});

test("hostile: malformed Upload-Metadata, or none, or a missing Upload-Length is 400 and nothing is made", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const cases = ["", "filename", "filename !!!!", "filename aGVsbG8", "filename aGVsbG8=,filename aGVsbG8=", "file name aGVsbG8=", ",", `relativePath ${b64("a/b")}`];
  for (const metadata of cases) assert.equal((await create(server.port, "/in/", 10, metadata)).status, 400, JSON.stringify(metadata));
  assert.equal((await send(server.port, "POST", "/in/", { ...TUS, "Upload-Metadata": `filename ${b64("a")}` })).status, 400, "no Upload-Length");
  assert.equal((await send(server.port, "POST", "/in/", { ...TUS, "Upload-Defer-Length": "1", "Upload-Metadata": `filename ${b64("a")}` })).status, 400, "deferred length");
  assert.deepEqual(tree(root), ["in"]);
});

test("hostile: a filename with .., /, \\, NUL or a control character, or a relativePath with .. or empty segments, is 400", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const names = ["..", ".", "../x", "a/b", "a\\b", "x\0y", "x\ny", "x\x1by", "x\x7f", "", ".hidden", ".serve-here-upload-tus-AAAA", Buffer.from([0xff, 0xfe])];
  for (const name of names) assert.equal((await create(server.port, "/in/", 10, `filename ${b64(name)}`)).status, 400, JSON.stringify(name.toString()));
  for (const relative of ["../x.txt", "a/../../x.txt", "a//x.txt", "a/\0/x.txt", "./x.txt", ".git/x.txt"]) {
    assert.equal((await create(server.port, "/in/", 10, `filename ${b64("x.txt")},relativePath ${b64(relative)}`)).status, 400, relative);
  }
  assert.deepEqual(tree(root), ["in"]);
});

test("hostile: an upload URL that was never given out is 404 (HEAD, PATCH, DELETE)", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  for (const id of ["AAAAAAAAAAAAAAAAAAAAAA", "short", "../../etc/passwd", "%2e%2e", "AAAAAAAAAAAAAAAAAAAAAA.json"]) {
    const url = `/__serve-here/tus/${id}`;
    assert.equal((await head(server.port, url)).status, 404, url);
    assert.equal((await patch(server.port, url, 0, "x")).status, 404, url);
    assert.equal((await send(server.port, "DELETE", url, TUS)).status, 404, url);
  }
  assert.deepEqual(tree(root), ["in"]);
});

test("hostile: a cross-site Origin or Sec-Fetch-Site is 403 for every tus request", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  const strangers: Array<Record<string, string>> = [{ Origin: "http://evil.example" }, { "Sec-Fetch-Site": "cross-site" }, { Origin: "null" }];
  for (const away of strangers) {
    assert.equal((await create(server.port, "/in/", 10, `filename ${b64("y.bin")}`, away)).status, 403);
    assert.equal((await patch(server.port, created.location, 0, "12345", away)).status, 403);
    assert.equal((await head(server.port, created.location, { ...TUS, ...away })).status, 403);
    assert.equal((await send(server.port, "DELETE", created.location, { ...TUS, ...away })).status, 403);
  }
  const same = await patch(server.port, created.location, 0, "12345", { Origin: `http://127.0.0.1:${server.port}` });
  assert.equal(same.status, 204);
  assert.equal(partsIn(root).length, 1);
});

test("hostile: with --auth every tus request needs the password (401), and with it works", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true, auth: [{ user: "ann", password: "secret" }] });
  const auth = { Authorization: `Basic ${b64("ann:secret")}` };
  assert.equal((await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`)).status, 401);
  assert.deepEqual(tree(root), ["in"]);
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`, auth);
  assert.equal(created.status, 201);
  assert.equal((await patch(server.port, created.location, 0, "12345")).status, 401);
  assert.equal((await head(server.port, created.location)).status, 401);
  assert.equal((await send(server.port, "DELETE", created.location, TUS)).status, 401);
  assert.equal((await send(server.port, "OPTIONS", "/__serve-here/tus/", {})).status, 401);
  assert.equal((await patch(server.port, created.location, 0, "1234567890", auth)).status, 204);
  assert.equal(readFileSync(path.join(root, "in", "x.bin"), "utf8"), "1234567890");
});

test("hostile: two PATCHes of one upload at once: one wins, the other is 423 or 409, no byte written twice", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const length = 200_000;
  const data = randomBytes(length);
  const created = await create(server.port, "/in/", length, `filename ${b64("race.bin")}`);
  // Both send their head at once and their bodies slowly, so both are in flight together.
  const slowPatch = () =>
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: server.port, path: created.location, method: "PATCH", headers: { ...TUS, "Upload-Offset": "0", "Content-Type": OFFSET_STREAM, "Content-Length": String(length) }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", () => resolve(0)); // refused while still sending: its answer may come as a reset
      let sent = 0;
      const step = () => {
        if (req.destroyed) return;
        const piece = data.subarray(sent, Math.min(length, sent + 20_000));
        sent += piece.length;
        if (sent >= length) return void req.end(piece);
        req.write(piece);
        setTimeout(step, 30);
      };
      step();
      req.on("close", () => void reject);
    });
  const statuses = (await Promise.all([slowPatch(), slowPatch()])).sort();
  t.diagnostic(`statuses: ${statuses.join(", ")}`);
  assert.equal(statuses.filter((s) => s === 204).length, 1, `one wins (${statuses.join(", ")})`);
  assert.ok(statuses.some((s) => s === 423 || s === 409 || s === 0), `the other is refused (${statuses.join(", ")})`);
  assert.deepEqual(readFileSync(path.join(root, "in", "race.bin")), data, "the file is the bytes once");
  assert.deepEqual(leftovers(root), []);
});

test("a client that vanishes mid-PATCH keeps what arrived: HEAD says so, and the rest completes the file", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const data = randomBytes(300_000);
  const created = await create(server.port, "/in/", data.length, `filename ${b64("cut.bin")}`);
  const socket = net.connect(server.port, "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(`PATCH ${created.location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: ${OFFSET_STREAM}\r\nContent-Length: ${data.length}\r\n\r\n`);
  socket.write(data.subarray(0, 123_456));
  await eventually(() => statSync(path.join(root, "in", partsIn(path.join(root, "in"))[0]!)).size === 123_456, "the bytes reached the part");
  socket.destroy();
  let offset = "";
  await eventually(async () => (offset = String((await head(server.port, created.location)).headers["upload-offset"])) === "123456", `HEAD says 123456 (says ${offset})`);
  assert.equal((await patch(server.port, created.location, 123_456, data.subarray(123_456))).status, 204);
  assert.deepEqual(readFileSync(path.join(root, "in", "cut.bin")), data);
});

test("WebDAV locks guard a creation: a folder locked by another is 423; with the lock's token in If it goes on", async (t) => {
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const lockBody = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';
  const locked = await send(server.port, "LOCK", "/in/", { "Content-Type": "application/xml", Depth: "0" }, lockBody);
  assert.equal(locked.status, 200);
  const token = String(locked.headers["lock-token"]);
  assert.equal((await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`)).status, 423);
  assert.equal((await create(server.port, "/in/", 10, `filename ${b64("x.bin")},relativePath ${b64("sub/x.bin")}`)).status, 423);
  assert.deepEqual(tree(root), ["in"]);
  assert.equal((await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`, { If: `(${token})` })).status, 201);
});

test("creation into a folder that does not exist is 404; into a file, 409; under /__serve-here/, 400", async (t) => {
  const root = tempDir(t, { in: {}, "f.txt": "x" });
  const server = await serve(t, { root, upload: true });
  assert.equal((await create(server.port, "/nope/", 10, `filename ${b64("x.bin")}`)).status, 404);
  assert.equal((await create(server.port, "/f.txt/", 10, `filename ${b64("x.bin")}`)).status, 409);
  assert.equal((await create(server.port, "/__serve-here/", 10, `filename ${b64("x.bin")}`)).status, 400);
  assert.deepEqual(tree(root), ["f.txt", "in"]);
});

// ---------------------------------------------------------------------------------------------
// Never visible; expiry; nothing left behind
// ---------------------------------------------------------------------------------------------

test("the part and the records are never visible: GET 404, not in the listing (HTML or JSON), PROPFIND or a zip", async (t) => {
  const root = tempDir(t, { in: { "seen.txt": "hello" } });
  const server = await serve(t, { root, upload: true, dotfiles: true });
  const created = await create(server.port, "/in/", 10, `filename ${b64("x.bin")}`);
  await patch(server.port, created.location, 0, "SECRET");
  const part = partsIn(path.join(root, "in"))[0]!;
  assert.ok(part);
  for (const target of [`/in/${part}`, "/.serve-here-upload-tus/", `/.serve-here-upload-tus/${created.location.split("/").at(-1)}.json`]) {
    assert.equal((await request(server.port, target)).status, 404, target);
  }
  for (const target of ["/in/", "/"]) {
    const listing = await request(server.port, target);
    assert.doesNotMatch(listing.body.toString(), /serve-here-upload/, `listing ${target}`);
    const json = await request(server.port, target, { headers: { Accept: "application/json" } });
    assert.doesNotMatch(json.body.toString(), /serve-here-upload/, `JSON listing ${target}`);
    const dav = await send(server.port, "PROPFIND", target, { Depth: "1" });
    assert.equal(dav.status, 207);
    assert.doesNotMatch(dav.body.toString(), /serve-here-upload/, `PROPFIND ${target}`);
  }
  const zip = await request(server.port, "/?download=zip");
  assert.equal(zip.status, 200);
  assert.ok(zip.body.includes("seen.txt"));
  assert.ok(!zip.body.includes("serve-here-upload") && !zip.body.includes("SECRET"), "not in the zip");
});

test("expiry: an upload untouched past its expiry is 404 and its part removed; the sweep removes the others on its own", async (t) => {
  const previous = process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS;
  process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS = "600";
  t.after(() => (previous === undefined ? delete process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS : (process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS = previous)));
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const asked = await create(server.port, "/in/", 10, `filename ${b64("a.bin")}`);
  const left = await create(server.port, "/in/", 10, `filename ${b64("b.bin")}`);
  await patch(server.port, asked.location, 0, "123");
  await patch(server.port, left.location, 0, "123");
  const expires = Date.parse(String((await head(server.port, asked.location)).headers["upload-expires"]));
  assert.ok(expires - Date.now() < 5000, "Upload-Expires follows the short expiry");
  assert.equal(partsIn(root).length, 2);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await head(server.port, asked.location)).status, 404);
  assert.equal((await patch(server.port, asked.location, 3, "4567890")).status, 404);
  // The other is never asked for: the sweep (every second with so short an expiry) removes it.
  await eventually(() => leftovers(root).length === 0, `the sweep removed the rest (left: ${leftovers(root).join(", ")})`, 5000);
  assert.equal((await head(server.port, left.location)).status, 404);
});

test("a PATCH keeps an upload from expiring: the expiry counts from the last byte", async (t) => {
  const previous = process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS;
  process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS = "1500";
  t.after(() => (previous === undefined ? delete process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS : (process.env.SERVE_HERE_TEST_TUS_EXPIRY_MS = previous)));
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 6, `filename ${b64("slow.bin")}`);
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await patch(server.port, created.location, i, String(i))).status, 204, `PATCH ${i}`);
  }
  assert.equal((await patch(server.port, created.location, 5, "5")).status, 204);
  assert.equal(readFileSync(path.join(root, "in", "slow.bin"), "utf8"), "012345");
});

test("after a restart, a part that was whole but not yet named is named on the next HEAD", async (t) => {
  const root = tempDir(t, { in: {} });
  const first = await serve(t, { root, upload: true });
  const created = await create(first.port, "/in/", 5, `filename ${b64("late.txt")}`);
  await patch(first.port, created.location, 0, "123");
  await first.close(100);
  // As if the server had stopped after the last byte was written and before the rename.
  const part = path.join(root, "in", partsIn(path.join(root, "in"))[0]!);
  writeFileSync(part, "12345");
  const second = await serve(t, { root, upload: true });
  const state = await head(second.port, created.location);
  assert.equal(state.status, 200);
  assert.equal(state.headers["upload-offset"], "5");
  assert.equal(readFileSync(path.join(root, "in", "late.txt"), "utf8"), "12345");
  assert.deepEqual(leftovers(root), []);
});

test("a PATCH that falls silent is cut after the idle limit with 408 and Upload-Offset, and keeps what it had (SERVE_HERE_TEST_TIMEOUT_MS)", async (t) => {
  const previous = process.env.SERVE_HERE_TEST_TIMEOUT_MS;
  process.env.SERVE_HERE_TEST_TIMEOUT_MS = "700";
  t.after(() => (previous === undefined ? delete process.env.SERVE_HERE_TEST_TIMEOUT_MS : (process.env.SERVE_HERE_TEST_TIMEOUT_MS = previous)));
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true });
  const created = await create(server.port, "/in/", 100, `filename ${b64("quiet.bin")}`);
  const socket = net.connect(server.port, "127.0.0.1");
  let answer = "";
  socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.write(`PATCH ${created.location} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: ${OFFSET_STREAM}\r\nContent-Length: 100\r\n\r\n`);
  socket.write(Buffer.alloc(40, 0x61));
  await closed; // then nothing more: the server gives up after the idle limit
  assert.match(answer, /^HTTP\/1\.1 408 /);
  assert.match(answer, /\r\nupload-offset: 40\r\n/i);
  assert.equal((await head(server.port, created.location)).headers["upload-offset"], "40");
  assert.equal((await patch(server.port, created.location, 40, Buffer.alloc(60, 0x62))).status, 204);
  assert.equal(readFileSync(path.join(root, "in", "quiet.bin"), "utf8"), "a".repeat(40) + "b".repeat(60));
});

test("over HTTPS with HTTP/2: creation, PATCH, HEAD and the finish work on the stream API", async (t) => {
  const certDir = mkdtempSync(path.join(os.tmpdir(), "serve-here-cert-"));
  t.after(() => rmSync(certDir, { recursive: true, force: true }));
  const certificate = await selfSignedCertificate({ configDir: certDir, hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  const root = tempDir(t, { in: {} });
  const server = await serve(t, { root, upload: true, tls: { cert: certificate.cert, key: certificate.key } });
  const session = http2.connect(`https://127.0.0.1:${server.port}`, { ca: certificate.cert });
  t.after(() => session.close());
  const ask = (headers: http2.OutgoingHttpHeaders, body?: Buffer) =>
    new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const stream = session.request(headers);
      stream.on("response", (answer) => {
        stream.resume();
        stream.on("end", () => resolve(answer));
      });
      stream.on("error", reject);
      stream.end(body);
    });
  const data = randomBytes(100_000);
  const created = await ask({ ":method": "POST", ":path": "/in/", "tus-resumable": "1.0.0", "upload-length": String(data.length), "upload-metadata": `filename ${b64("h2.bin")}` });
  assert.equal(created[":status"], 201);
  const location = String(created.location);
  const first = await ask({ ":method": "PATCH", ":path": location, "tus-resumable": "1.0.0", "upload-offset": "0", "content-type": OFFSET_STREAM }, data.subarray(0, 40_000));
  assert.equal(first[":status"], 204);
  assert.equal(first["upload-offset"], "40000");
  const state = await ask({ ":method": "HEAD", ":path": location, "tus-resumable": "1.0.0" });
  assert.equal(state["upload-offset"], "40000");
  const last = await ask({ ":method": "PATCH", ":path": location, "tus-resumable": "1.0.0", "upload-offset": "40000", "content-type": OFFSET_STREAM }, data.subarray(40_000));
  assert.equal(last[":status"], 204);
  assert.deepEqual(readFileSync(path.join(root, "in", "h2.bin")), data);
  assert.deepEqual(leftovers(root), []);
});
