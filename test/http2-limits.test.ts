/**
 * HTTPS and HTTP/2 against clients that misbehave: the header and idle timeouts cut silent and slow
 * ones (a TLS handshake that never finishes, a session that never asks, an idle session), a stream
 * reset mid-download gives back its file descriptor, and a client that opens and resets 10,000
 * streams (CVE-2023-44487, "rapid reset") neither stops others from being served nor makes the
 * server's memory grow without bound. Waits are bounded as hang detectors, never asserted as speeds.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import tls from "node:tls";
import { selfSignedCertificate } from "../src/cert.js";
import type { AccessLogEntry } from "../src/server.js";
import { descriptorsOn, eventually, residentBytes, serve, startCli, tempDir } from "./helpers.js";

const certDir = mkdtempSync(path.join(os.tmpdir(), "serve-here-cert-"));
process.on("exit", () => rmSync(certDir, { recursive: true, force: true }));
const certificate = await selfSignedCertificate({ configDir: certDir, hostnames: ["localhost"], addresses: ["127.0.0.1"] });
const TLS = { cert: certificate.cert, key: certificate.key };

/** The header timeout in src/server.ts, plus the check's own period and slack: past this, a cut that has not come is a hang. */
const HANG_MS = 25_000;

/** Resolves when `socket` closes; fails after HANG_MS. */
function closed(socket: net.Socket, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${what}: still open after ${HANG_MS} ms`));
    }, HANG_MS);
    socket.on("error", () => {}); // a reset is a cut too
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** An HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const END_STREAM_AND_HEADERS = 0x5;
const END_STREAM = 0x1;
const DATA = 0x0;
const CANCEL = Buffer.from([0, 0, 0, 8]);
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** A GET's header block in HPACK: :method GET, :scheme https (static table), :path and :authority as literals not indexed. */
function getHeaderBlock(target: string, authority: string): Buffer {
  const literal = (index: number, value: string) => Buffer.concat([Buffer.from([index, Buffer.byteLength(value)]), Buffer.from(value)]);
  return Buffer.concat([Buffer.from([0x82, 0x87]), literal(0x04, target), literal(0x01, authority)]);
}

/** The frame types in bytes an HTTP/2 server sent (after its first SETTINGS, frames only). */
/** The error codes of the GOAWAY frames among the frames received (RFC 9113 §6.8: after the last stream's id). */
function goawayCodes(received: Buffer): number[] {
  const codes: number[] = [];
  for (let offset = 0; offset + 9 <= received.length; offset += 9 + received.readUIntBE(offset, 3)) {
    if (received[offset + 3] === GOAWAY && offset + 17 <= received.length) codes.push(received.readUInt32BE(offset + 13));
  }
  return codes;
}

function frameTypes(received: Buffer): number[] {
  const types: number[] = [];
  for (let offset = 0; offset + 9 <= received.length; offset += 9 + received.readUIntBE(offset, 3)) types.push(received[offset + 3]!);
  return types;
}

describe("HTTPS and HTTP/2 under misbehaving clients", { concurrency: true }, () => {
  it("a connection to the HTTPS port that sends nothing is cut", async (t) => {
    const server = await serve(t, { root: tempDir(t), tls: TLS });
    const socket = net.connect(server.port, "127.0.0.1");
    await closed(socket, "a silent connection");
  });

  it("a TLS handshake that never finishes is cut", async (t) => {
    const server = await serve(t, { root: tempDir(t), tls: TLS });
    const socket = net.connect(server.port, "127.0.0.1", () => socket.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00]))); // a ClientHello's record head, and no more
    await closed(socket, "a half handshake");
  });

  it("an HTTP/2 session that never sends a request is closed", async (t) => {
    const server = await serve(t, { root: tempDir(t), tls: TLS });
    const socket = tls.connect({ port: server.port, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["h2"] });
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    socket.once("secureConnect", () => {
      assert.equal(socket.alpnProtocol, "h2");
      socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))])); // then silence
    });
    await closed(socket, "an HTTP/2 session with no request");
    assert.ok(frameTypes(received).includes(GOAWAY), "the server said GOAWAY");
  });

  /**
   * A raw HTTP/2 client with one download open: stream 1 asks for a file and never opens its
   * flow-control window beyond the first 64 KiB, so the stream stays open, quiet, for as long as
   * the client likes. Resolves once the first DATA frame arrived.
   */
  async function sessionWithQuietDownload(t: TestContext): Promise<{ socket: tls.TLSSocket; received: () => Buffer }> {
    const server = await serve(t, { root: tempDir(t, { "big.bin": randomBytes(1024 * 1024) }), tls: TLS, compress: false });
    const socket = tls.connect({ port: server.port, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["h2"] });
    t.after(() => socket.destroy());
    let received = Buffer.alloc(0);
    const firstData = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (frameTypes(received).includes(DATA)) resolve();
      });
    });
    socket.once("secureConnect", () => socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0)), frame(HEADERS, END_STREAM_AND_HEADERS, 1, getHeaderBlock("/big.bin", `localhost:${server.port}`))])));
    await firstData;
    return { socket, received: () => received };
  }

  it("a header block begun beside an open download and never finished is cut like a slow HTTP/1 head", async (t) => {
    const { socket } = await sessionWithQuietDownload(t);
    const block = getHeaderBlock("/big.bin", "localhost");
    // HEADERS for stream 3 without END_HEADERS, and no CONTINUATION after it: a head that never ends.
    socket.write(frame(HEADERS, END_STREAM, 3, block.subarray(0, 4)));
    await closed(socket, "a session with a header block that never ends");
  });

  it("a download left quiet past the header timeout keeps its session open: only header blocks are timed", async (t) => {
    const { socket } = await sessionWithQuietDownload(t);
    let closedEarly = false;
    socket.once("close", () => (closedEarly = true));
    await new Promise((resolve) => setTimeout(resolve, 12_000)); // the header timeout (10 s), plus the check's period and slack
    assert.equal(closedEarly, false, "the session with a quiet download was not cut");
  });

  it("an HTTP/2 session left idle after its last stream is closed with GOAWAY", async (t) => {
    const server = await serve(t, { root: tempDir(t, { "a.txt": "a" }), tls: TLS });
    const session = http2.connect(`https://127.0.0.1:${server.port}`, { ca: certificate.cert });
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    const req = session.request({ ":path": "/a.txt" });
    req.resume();
    await new Promise((resolve) => req.once("end", resolve));
    await Promise.race([goaway, new Promise((_, reject) => setTimeout(() => reject(new Error("no GOAWAY")), HANG_MS).unref())]);
    session.destroy();
  });

  it("HTTP/1.1 over TLS: a request head that never ends gets 408", async (t) => {
    const server = await serve(t, { root: tempDir(t), tls: TLS });
    const socket = tls.connect({ port: server.port, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["http/1.1"] }, () => socket.write("GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "));
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    await closed(socket, "a slow HTTP/1.1 head over TLS");
    assert.match(received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it("an HTTP/2 stream reset mid-download gives back its file descriptor, and the log says aborted", async (t) => {
    const root = tempDir(t, { "big.bin": randomBytes(16 * 1024 * 1024) });
    const log: AccessLogEntry[] = [];
    const server = await serve(t, { root, tls: TLS, compress: false, onResponse: (entry) => log.push(entry) });
    const file = path.join(root, "big.bin");
    const session = http2.connect(`https://127.0.0.1:${server.port}`, { ca: certificate.cert });
    t.after(() => session.destroy());
    const req = session.request({ ":path": "/big.bin" });
    await new Promise((resolve) => req.once("data", resolve));
    assert.equal(descriptorsOn(file), 1, "the download holds the file open");
    req.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => descriptorsOn(file) === 0, "the descriptor is closed after the reset");
    await eventually(() => log.length === 1, "one log line");
    assert.equal(log[0]!.completed, false);
    assert.ok(log[0]!.bytes < 16 * 1024 * 1024, `sent ${log[0]!.bytes} bytes before the reset`);
    // The session is still good for the next stream.
    const next = session.request({ ":path": "/big.bin", range: "bytes=0-9" });
    next.resume();
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => next.once("response", resolve));
    assert.equal(headers[":status"], 206);
  });

  it("a graceful close lets an HTTP/2 download in flight finish", async (t) => {
    const data = randomBytes(8 * 1024 * 1024);
    const server = await serve(t, { root: tempDir(t, { "big.bin": data }), tls: TLS, compress: false });
    const session = http2.connect(`https://127.0.0.1:${server.port}`, { ca: certificate.cert });
    t.after(() => session.destroy());
    const req = session.request({ ":path": "/big.bin" });
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => req.once("data", resolve));
    const closing = server.close(HANG_MS);
    await new Promise((resolve) => req.once("end", resolve));
    assert.ok(Buffer.concat(chunks).equals(data), "the whole file arrived");
    await closing;
  });

  it("10,000 streams opened and reset at once (rapid reset) do not stop another client, and memory stays bounded", async (t) => {
    const root = mkdtempSync(path.join(os.tmpdir(), "serve-here-rapid-reset-"));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    // Over 256 KiB, so every stream that starts opens a descriptor: none may be left behind.
    const data = randomBytes(300 * 1024);
    writeFileSync(path.join(root, "big.bin"), data);
    const dir = tempDir(t);
    writeFileSync(path.join(dir, "cert.pem"), certificate.cert);
    writeFileSync(path.join(dir, "key.pem"), certificate.key);
    const cli = await startCli(t, [root, "-q", "-p", "0", "-b", "127.0.0.1", "--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")]);
    const pid = cli.child.pid!;
    const before = residentBytes(pid);

    const attacker = tls.connect({ port: cli.port, host: "127.0.0.1", ca: certificate.cert, servername: "localhost", ALPNProtocols: ["h2"] });
    let received = Buffer.alloc(0);
    attacker.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    const attackerClosed = closed(attacker, "the attacker's connection");
    const block = getHeaderBlock("/big.bin", `localhost:${cli.port}`);
    let sent = 0;
    const attack = new Promise<void>((resolve) => {
      attacker.once("secureConnect", async () => {
        attacker.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))]));
        for (let streamId = 1; sent < 10_000 && !attacker.destroyed; ) {
          const batch: Buffer[] = [];
          for (let i = 0; i < 100; i++, sent++, streamId += 2) batch.push(frame(HEADERS, END_STREAM_AND_HEADERS, streamId, block), frame(RST_STREAM, 0, streamId, CANCEL));
          await new Promise((written) => attacker.write(Buffer.concat(batch), () => written(undefined)));
        }
        resolve();
      });
    });

    // Another client, asking while the attack goes on.
    const session = http2.connect(`https://127.0.0.1:${cli.port}`, { ca: certificate.cert });
    t.after(() => session.destroy());
    const other = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = session.request({ ":path": "/big.bin" });
      let status = 0;
      const chunks: Buffer[] = [];
      req.on("response", (headers) => (status = Number(headers[":status"])));
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => resolve({ status, body: Buffer.concat(chunks) }));
      req.on("error", reject);
    });
    assert.equal(other.status, 200);
    assert.ok(other.body.equals(data), "the other client got the whole file");

    await attack;
    await attackerClosed; // Node's mitigation ends a session that resets streams this fast, with GOAWAY
    const types = frameTypes(received);
    const after = residentBytes(pid);
    console.log(`# rapid reset: ${sent} streams opened and reset; ${types.length} frames back (GOAWAY: ${types.filter((type) => type === GOAWAY).length}, error codes ${goawayCodes(received).join(", ")}); server RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after`);
    assert.ok(types.includes(GOAWAY), "the server ended the attacking session with GOAWAY");
    assert.ok(after - before < 128 * 2 ** 20, `server RSS grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`);
    await eventually(() => descriptorsOn(path.join(root, "big.bin"), pid) === 0, "no descriptor of the file is left open in the server");

    // And the server still serves afterwards, on a new connection.
    const again = http2.connect(`https://127.0.0.1:${cli.port}`, { ca: certificate.cert });
    t.after(() => again.destroy());
    const status = await new Promise<number>((resolve) => {
      const req = again.request({ ":path": "/big.bin", range: "bytes=0-0" });
      req.resume();
      req.once("response", (headers) => resolve(Number(headers[":status"])));
    });
    assert.equal(status, 206);
  });
});
