/**
 * Issue 18 §3 (hostile input) and §1's memory bound: WebDAV against real servers on real sockets.
 *
 *   1. Hostile XML bodies to PROPFIND, PROPPATCH and LOCK (billion laughs, external entities,
 *      undefined prefixes, malformed, 70 deep, 100 MB declared, a chunked body that never ends):
 *      refused, with the server's memory and descriptors bounded (a separate process).
 *   2. The traversal corpus on `Destination` (COPY, MOVE) and as the target of MKCOL, DELETE,
 *      PROPPATCH and LOCK, beside a secret outside the root and a sibling sharing its prefix.
 *   3. Symlinks out of the root: never written through, deleted as themselves, never copied from.
 *   4. --trust-proxy: a Destination naming the proxy's public origin.
 *   5. 20 clients copying, moving and deleting in one folder at once (seeded, replayable).
 *   6. PROPFIND Depth: 1 on 100,000 entries: streamed, under 50 MB above idle.
 *   7. HTTP/2 (with TLS): PROPFIND, MKCOL, MOVE, and a hostile body or two.
 *
 * No timing is asserted anywhere: waits are hang detectors, and bounds are on memory and descriptors.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants as fsConstants, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { selfSignedCertificate } from "../src/cert.js";
import type { ServerOptions } from "../src/server.js";
import { eventually, openDescriptorCount, rawRequest, type RawResponse, residentBytes, Rng, serve, startCli, suiteSeed, tempDir } from "./helpers.js";

/** Random per run: it can only appear in an answer by being read from the file that holds it. */
const TOKEN = randomBytes(8).toString("hex");
const OUTSIDE_MARKER = `DAV-HOSTILE-OUTSIDE-${TOKEN}`;
const SIBLING_MARKER = `DAV-HOSTILE-SIBLING-${TOKEN}`;
/** A connection neither answered nor closed for this long is a hang (never a speed assertion). */
const HANG_MS = 20_000;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request through node:http (the target sent as given), a fresh connection each time. */
function dav(port: number, method: string, target: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    const headers: Record<string, string> = body === undefined ? {} : { "Content-Type": "application/xml; charset=utf-8", "Content-Length": String(body.length) };
    const req = http.request({ host: "127.0.0.1", port, path: target, method, headers: { ...headers, ...options.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A request over a raw socket, the target byte for byte as given (latin1), with an optional body. */
function rawDav(port: number, method: string, target: string, headers: Record<string, string> = {}, body: string | Buffer = ""): Promise<RawResponse> {
  const lines = Object.entries({ Host: `127.0.0.1:${port}`, ...headers, ...(body.length === 0 ? {} : { "Content-Type": "application/xml", "Content-Length": String(Buffer.byteLength(body)) }), Connection: "close" });
  const head = `${method} ${target} HTTP/1.1\r\n${lines.map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`;
  return rawRequest(port, Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(body)]), HANG_MS);
}

/**
 * Sends only a request's head, never a byte of its body, and resolves with what came back once the
 * server ends the connection (a hang past HANG_MS rejects): an answer came while the body was unsent.
 */
function headOnly(port: number, head: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of the connection within ${HANG_MS} ms; got: ${Buffer.concat(chunks).toString("latin1").slice(0, 200)}`));
    }, HANG_MS);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {}); // a reset after the answer is still an end
    socket.on("end", done); // the server's FIN: it will read no more of this connection
    socket.on("close", done);
    socket.write(head);
  });
}

/**
 * Sends a chunked body that never ends (64 KiB chunks, with backpressure) until the server
 * answers or ends the connection; `cap` bytes at most, then waits. Returns what came back and how
 * many body bytes were handed to the socket.
 */
function endlessChunked(port: number, head: string, cap: number): Promise<{ raw: Buffer; sent: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const piece = Buffer.concat([Buffer.from("10000\r\n"), Buffer.alloc(0x10000, 0x20), Buffer.from("\r\n")]);
    let sent = 0;
    let finished = false;
    const finish = (error?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve({ raw: Buffer.concat(chunks), sent });
    };
    const timer = setTimeout(() => finish(new Error(`no answer nor end within ${HANG_MS} ms after ${sent} body bytes`)), HANG_MS);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    const pump = () => {
      while (!finished && chunks.length === 0 && sent < cap) {
        sent += 0x10000;
        if (!socket.write(piece)) return void socket.once("drain", pump);
      }
    };
    socket.write(head);
    pump();
  });
}

/** Peak resident memory of `pid`, sampled every 20 ms until stopped. */
function rssSampler(pid: number): { peak(): number; stop(): void } {
  let peak = residentBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, residentBytes(pid));
    } catch {
      // the process is gone: the test says so elsewhere
    }
  }, 20);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

/** Descriptors of `pid` once they stop changing (keep-alive and lingering sockets closing). */
async function settledDescriptors(pid: number): Promise<number> {
  let previous = -1;
  for (let i = 0; i < 50; i++) {
    const now = openDescriptorCount(pid);
    if (now === previous) return now;
    previous = now;
    await new Promise((r) => setTimeout(r, 100));
  }
  return previous;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/**
 * Every entry under `dir` (links as links, never followed): path → what it is. Equal before and
 * after a request that must change nothing.
 */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string, prefix: string) => {
    for (const name of readdirSync(at).sort()) {
      const full = path.join(at, name);
      const stats = lstatSync(full);
      if (stats.isSymbolicLink()) out.set(prefix + name, `link → ${readlinkSync(full)}`);
      else if (stats.isDirectory()) {
        out.set(prefix + name + "/", "folder");
        walk(full, prefix + name + "/");
      } else out.set(prefix + name, `file ${readFileSync(full).toString("latin1")}`);
    }
  };
  walk(dir, "");
  return out;
}

/** Every regular file under `dir`, links never followed. */
function regularFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const stats = lstatSync(full);
    if (stats.isDirectory()) out.push(...regularFiles(full));
    else if (stats.isFile()) out.push(full);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Hostile XML bodies
// ---------------------------------------------------------------------------------------------

/** Each method's body around `inner`, which stands inside a property element `x:p`. */
const WRAP: Record<"PROPFIND" | "PROPPATCH" | "LOCK", (inner: string) => string> = {
  PROPFIND: (inner) => `<D:propfind xmlns:D="DAV:"><D:prop><x:p xmlns:x="urn:x">${inner}</x:p></D:prop></D:propfind>`,
  PROPPATCH: (inner) => `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x:p xmlns:x="urn:x">${inner}</x:p></D:prop></D:set></D:propertyupdate>`,
  LOCK: (inner) => `<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><x:p xmlns:x="urn:x">${inner}</x:p></D:owner></D:lockinfo>`,
};
const METHODS = ["PROPFIND", "PROPPATCH", "LOCK"] as const;

function billionLaughs(wrap: (inner: string) => string): string {
  let doctype = '<!DOCTYPE lolz [\n<!ENTITY lol0 "lol">\n';
  for (let i = 1; i <= 9; i++) doctype += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">\n`;
  return `<?xml version="1.0"?>\n${doctype}]>\n${wrap("&lol9;")}`;
}

/** The hostile bodies, each with a name; every one must be a 400. */
function hostileBodies(method: (typeof METHODS)[number], secretFile: string, fifo: string): Array<{ name: string; body: string | Buffer }> {
  const wrap = WRAP[method];
  const root = wrap("").match(/^<D:(\w+)/)![1]!;
  return [
    { name: "billion laughs", body: billionLaughs(wrap) },
    { name: "quadratic blowup (one big entity used many times)", body: `<!DOCTYPE x [<!ENTITY a "${"a".repeat(50_000)}">]>${wrap("&a;".repeat(10_000))}` },
    { name: "external entity (file)", body: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://${secretFile}">]>${wrap("&e;")}` },
    { name: "external entity (FIFO)", body: `<!DOCTYPE x [<!ENTITY e SYSTEM "file://${fifo}">]>${wrap("&e;")}` },
    { name: "external parameter entity", body: `<!DOCTYPE x [<!ENTITY % p SYSTEM "file://${secretFile}"> %p;]>${wrap("x")}` },
    { name: "external DTD", body: `<!DOCTYPE D:${root} SYSTEM "file://${secretFile}">${wrap("x")}` },
    { name: "external entity over http", body: `<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>${wrap("&e;")}` },
    { name: "an entity never declared", body: wrap("&e;") },
    { name: "undefined namespace prefix (element)", body: wrap("<y:q/>") },
    { name: "undefined namespace prefix (attribute)", body: wrap('<q xmlns="urn:q" y:a="1"/>') },
    { name: "undefined namespace prefix (root)", body: `<Z:${root}/>` },
    { name: "malformed: mismatched tags", body: wrap("<x:open></x:shut>") },
    { name: "malformed: truncated", body: wrap("text").slice(0, -7) },
    { name: "malformed: not XML", body: "this is not XML at all {}" },
    { name: "malformed: two roots", body: wrap("a") + wrap("b") },
    { name: "malformed: bytes that are not UTF-8", body: Buffer.concat([Buffer.from(wrap("").slice(0, 30)), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from(wrap("").slice(30))]) },
    { name: "70 deep", body: wrap('<n xmlns="urn:n">'.repeat(70) + "</n>".repeat(70)) },
  ];
}

test("hostile XML bodies to PROPFIND, PROPPATCH and LOCK are refused, with memory and descriptors bounded", { timeout: 120_000 }, async (t) => {
  const outside = tempDir(t, { "secret.txt": OUTSIDE_MARKER });
  const secretFile = path.join(outside, "secret.txt");
  const fifo = path.join(outside, "fifo");
  execFileSync("mkfifo", [fifo]);
  const root = tempDir(t, { "a.txt": "the a file\n", "control.txt": "control\n" });
  const cli = await startCli(t, [root, "--upload", "--overwrite", "-p", "0", "-b", "127.0.0.1"]);
  const pid = cli.child.pid!;
  const answers: Buffer[] = [];
  const keep = (raw: Buffer) => (answers.push(raw), raw);

  // The wrappers are sound: with harmless content each method does its work (and saxes is loaded).
  const control = await dav(cli.port, "PROPFIND", "/control.txt", { headers: { Depth: "0" }, body: WRAP.PROPFIND("") });
  assert.equal(control.status, 207, "PROPFIND control");
  assert.equal((await dav(cli.port, "PROPPATCH", "/control.txt", { body: WRAP.PROPPATCH("kept") })).status, 207, "PROPPATCH control");
  const locked = await dav(cli.port, "LOCK", "/control.txt", { body: WRAP.LOCK("me") });
  assert.equal(locked.status, 200, "LOCK control");
  assert.equal((await dav(cli.port, "UNLOCK", "/control.txt", { headers: { "Lock-Token": String(locked.headers["lock-token"]) } })).status, 204, "UNLOCK control");
  assert.equal((await dav(cli.port, "GET", "/a.txt")).status, 200);

  const fdsBefore = await settledDescriptors(pid);
  const idle = residentBytes(pid);
  const rss = rssSampler(pid);
  t.after(() => rss.stop());

  await t.test("billion laughs, external entities, undefined prefixes, malformed, 70 deep: 400", async () => {
    for (const method of METHODS) {
      for (const [i, { name, body }] of hostileBodies(method, secretFile, fifo).entries()) {
        // LOCK both on an existing file and on an unmapped name (which a LOCK would create).
        for (const target of method === "LOCK" ? ["/a.txt", `/unmapped-${i}.txt`] : ["/a.txt"]) {
          const res = await rawDav(cli.port, method, target, { Depth: "0" }, body);
          keep(res.raw);
          assert.equal(res.status, 400, `${method} ${target}, ${name}: ${res.raw.toString("latin1").slice(0, 200)}`);
        }
      }
    }
    // Nothing was set, locked or made: the property is unknown, a PUT needs no lock token, no unmapped name exists.
    const prop = await dav(cli.port, "PROPFIND", "/a.txt", { headers: { Depth: "0" }, body: WRAP.PROPFIND("") });
    keep(prop.body);
    assert.equal(prop.status, 207);
    assert.match(prop.body.toString(), /<p xmlns="urn:x"\/><\/D:prop><D:status>HTTP\/1.1 404 Not Found/, "no PROPPATCH set x:p");
    assert.equal((await dav(cli.port, "PUT", "/a.txt", { body: "the a file\n", headers: { "Content-Type": "text/plain" } })).status, 204, "no LOCK holds a.txt");
    assert.deepEqual(readdirSync(root).sort(), ["a.txt", "control.txt"], "no LOCK made a file");
    // Nothing opened the FIFO: a writer can only open it while a reader holds it.
    assert.throws(() => closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK)), { code: "ENXIO" }, "the server opened the FIFO an external entity named");
  });

  await t.test("100 MB declared by Content-Length: 413 before any body byte is sent, then the connection ends", async () => {
    for (const method of METHODS) {
      for (const expect of ["", "Expect: 100-continue\r\n"]) {
        const label = `${method}${expect ? " with Expect: 100-continue" : ""}`;
        const head = `${method} /a.txt HTTP/1.1\r\nHost: 127.0.0.1:${cli.port}\r\nContent-Type: application/xml\r\nContent-Length: ${100 * 1000 * 1000}\r\nDepth: 0\r\n${expect}\r\n`;
        const raw = await headOnly(cli.port, head); // resolves only once the server has ended the connection
        keep(raw);
        const text = raw.toString("latin1");
        assert.match(text, /^HTTP\/1\.1 413 /, `${label}: ${text.slice(0, 200)}`);
        assert.doesNotMatch(text, /100 Continue/, `${label}: no 100 Continue for a body that will be refused`);
        assert.match(text, /\r\nconnection: close\r\n/i, `${label}: says the connection closes`);
      }
    }
  });

  await t.test("a chunked body past 1 MiB: 413, and the server's memory stays bounded", async () => {
    for (const method of METHODS) {
      const head = `${method} /a.txt HTTP/1.1\r\nHost: 127.0.0.1:${cli.port}\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\nDepth: 0\r\n\r\n`;
      const { raw, sent } = await endlessChunked(cli.port, head, 256 * MiB);
      keep(raw);
      assert.match(raw.toString("latin1"), /^HTTP\/1\.1 413 /, `${method}: ${raw.toString("latin1").slice(0, 200)}`);
      assert.ok(sent > MiB, `${method}: the body passed 1 MiB (${sent} bytes sent)`);
      t.diagnostic(`${method}: 413 after ${mib(sent)} handed to the socket`);
    }
  });

  await t.test("afterwards: GET answers, memory is bounded, no descriptor leaked, nothing outside was read", async () => {
    const get = await dav(cli.port, "GET", "/a.txt");
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), "the a file\n");
    rss.stop();
    const grown = rss.peak() - idle;
    t.diagnostic(`RSS idle ${mib(idle)}, peak ${mib(rss.peak())}: +${mib(grown)} (bound +64 MiB)`);
    assert.ok(grown < 64 * MiB, `the server grew by ${mib(grown)} while refusing hostile bodies`);
    let fds = openDescriptorCount(pid);
    await eventually(() => (fds = openDescriptorCount(pid)) <= fdsBefore, `the server holds ${fds} descriptors, ${fdsBefore} before: leaked`, 15_000);
    t.diagnostic(`descriptors: ${fdsBefore} before, ${fds} after`);
    for (const raw of answers) assert.ok(!raw.toString("latin1").includes(TOKEN), `an answer holds the outside file's marker: ${raw.toString("latin1").slice(0, 300)}`);
    assert.ok(!cli.stdout().includes(TOKEN) && !cli.stderr().includes(TOKEN), "the log holds the outside file's marker");
    assert.equal(cli.child.exitCode, null, "the server is still running");
  });
});

// ---------------------------------------------------------------------------------------------
// 2. The traversal corpus on Destination and on the request target
// ---------------------------------------------------------------------------------------------

/**
 *   top/secret.txt              OUTSIDE marker
 *   top/root-evil/keep.txt      SIBLING marker: a folder whose name starts with the root's
 *   top/root/                   the root: a.txt, sub/b.txt
 */
function site(t: TestContext): { top: string; root: string } {
  const top = tempDir(t, {
    "secret.txt": OUTSIDE_MARKER,
    "root-evil": { "keep.txt": SIBLING_MARKER },
    root: { "a.txt": "a\n", sub: { "b.txt": "b\n" } },
  });
  return { top, root: path.join(top, "root") };
}

async function serveSite(t: TestContext, root: string, options: ServerOptions = {}) {
  const errors: unknown[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onError: (error) => errors.push(error), ...options });
  return { port: server.port, errors };
}

/**
 * Ways to climb from the root to its parent, ready to take a name after them (`/../` + `x`). Each
 * is one spelling of `..`: plain, percent-encoded in any case, with encoded slashes and
 * backslashes, overlong UTF-8, after a NUL, from inside a subfolder.
 */
const CLIMBS = [
  "/../",
  "/../../../../",
  "/sub/../../",
  "/a/../../",
  "/%2e%2e/",
  "/%2E%2e/",
  "/%2E%2e%2f",
  "/.%2e/",
  "/%2e./",
  "/..%2f",
  "/..%2F",
  "/sub/..%2f..%2f",
  "/sub%2f..%2f..%2f",
  "/%2e%2e%2f%2e%2e%2f",
  "/%2e%2e%5c",
  "/..%5c",
  "/..\\",
  "/sub\\..\\..\\",
  "/%c0%ae%c0%ae/",
  "/%e0%80%ae%e0%80%ae/",
  "/..%c0%af",
  "/x%00/../../",
];

/**
 * Destinations for COPY and MOVE, each refused: `elsewhere` ones name another server (502), the
 * others this one with a path that must not be written (400, 403, 404 or 409).
 */
function destinationCorpus(port: number): Array<{ destination: string; elsewhere: boolean }> {
  const self = `http://127.0.0.1:${port}`;
  const here: string[] = [];
  for (const climb of CLIMBS) {
    here.push(climb + "x.txt", climb + "root-evil/x.txt", climb + "root-evil/keep.txt", climb + "secret.txt", self + climb + "x.txt", self + climb + "root-evil/x.txt");
  }
  here.push(
    // NUL, raw (encoded) and in every position.
    "/x%00",
    "/x%00.txt",
    "/%00",
    "/sub%00/x.txt",
    "/sub/x.txt%00.jpg",
    // An encoded slash inside a segment: one name holding a `/`, which no file may have.
    "/sub%2Fx.txt",
    "/sub%2fx.txt",
    "/%2Fx.txt",
    "/%2F%2Fevil.example%2Fx.txt",
    // Backslashes.
    "\\x.txt",
    "/sub\\x.txt",
    "/\\evil.example\\x.txt",
    "\\\\evil.example\\x.txt",
    "/sub%5cx.txt",
    // Not a path at all, or a relative one: glued to the root's path, these would name the sibling.
    "",
    "x.txt",
    "-evil/x.txt",
    "-evil/keep.txt",
    "../root-evil/x.txt",
    "./x.txt",
    "//evil.example/x.txt",
    "http:/127.0.0.1/x.txt",
    "C:\\x.txt",
    // A query or a fragment, which could hide a path from one reader and not another.
    "/x.txt?/../../secret.txt",
    "/x.txt#/../../secret.txt",
    // Dot segments that stay inside the root: refused too (a Destination is not normalised).
    "/sub/../x.txt",
    "/./x.txt",
    `${self}/sub/../x.txt`,
  );
  const elsewhere = [
    "http://evil.example/x.txt",
    "https://evil.example/x.txt",
    `http://evil.example:${port}/x.txt`,
    `https://127.0.0.1:${port}/x.txt`,
    "http://127.0.0.1:1/x.txt",
    `http://127.0.0.1.evil.example:${port}/x.txt`,
    `${self}@evil.example/x.txt`,
    `${self}.evil.example/x.txt`,
    `${self}-evil/x.txt`,
    `http://[::1]:${port}/x.txt`,
    "file:///tmp/x.txt",
    `ftp://127.0.0.1:${port}/x.txt`,
    `http://evil.example/../root-evil/x.txt`,
  ];
  return [...here.map((destination) => ({ destination, elsewhere: false })), ...elsewhere.map((destination) => ({ destination, elsewhere: true }))];
}

const REFUSED_HERE = new Set([400, 403, 404, 409]);

test("the traversal corpus on Destination: COPY and MOVE of a file and a folder write nothing, anywhere", { timeout: 60_000 }, async (t) => {
  const { top, root } = site(t);
  const { port, errors } = await serveSite(t, root);
  const before = snapshot(top);
  const corpus = destinationCorpus(port);
  assert.ok(corpus.length >= 150, `a corpus of ${corpus.length} destinations`);
  for (const method of ["COPY", "MOVE"]) {
    for (const source of ["/a.txt", "/sub/"]) {
      await t.test(`${method} ${source}`, async () => {
        for (const { destination, elsewhere } of corpus) {
          const label = `${method} ${source} → Destination ${JSON.stringify(destination)}`;
          const res = await rawDav(port, method, source, { Destination: destination, Overwrite: "T" });
          if (elsewhere) assert.equal(res.status, 502, `${label}: another server is 502, got ${res.status}`);
          else assert.ok(REFUSED_HERE.has(res.status), `${label}: got ${res.status}, not 400/403/404/409`);
          assert.ok(!res.raw.toString("latin1").includes(TOKEN), `${label}: a marker in the answer`);
          assert.deepEqual(snapshot(top), before, `${label}: something changed on disk`);
        }
      });
    }
  }
  assert.deepEqual(errors, [], "no unexpected error (500)");
  // The server still moves things where they may go.
  assert.equal((await rawDav(port, "MOVE", "/a.txt", { Destination: `http://127.0.0.1:${port}/sub/a.txt` })).status, 201);
  assert.equal(readFileSync(path.join(root, "sub", "a.txt"), "utf8"), "a\n");
});

test("the traversal corpus as the target of MKCOL, DELETE, PROPPATCH and LOCK changes nothing", { timeout: 60_000 }, async (t) => {
  const { top, root } = site(t);
  const { port, errors } = await serveSite(t, root);
  const self = `http://127.0.0.1:${port}`;
  const before = snapshot(top);
  // What each method names outside: an existing file to delete or change, a new name to make.
  const leaves: Record<string, string[]> = {
    MKCOL: ["made", "root-evil/made"],
    DELETE: ["secret.txt", "root-evil/keep.txt", "root-evil", "root-evil/", "root"],
    PROPPATCH: ["secret.txt", "root-evil/keep.txt", "root-evil/"],
    LOCK: ["made.txt", "root-evil/made.txt", "secret.txt", "root-evil/keep.txt"],
  };
  const bodies: Record<string, string> = { PROPPATCH: WRAP.PROPPATCH("v"), LOCK: WRAP.LOCK("me") };
  for (const [method, names] of Object.entries(leaves)) {
    await t.test(method, async () => {
      const targets: string[] = [];
      for (const name of names) {
        for (const climb of CLIMBS) targets.push(climb + name, self + climb + name);
        targets.push(`-evil/${name.replace(/^root-evil\//, "")}`, `http://evil.example/${name}`, `http://evil.example/../${name}`);
      }
      targets.push("/x%00", "/sub%00/x", "/sub%2F%2e%2e%2f%2e%2e%2fsecret.txt", "/sub\\x", "\\x", "//evil.example/x", "/sub/x%00/../../../secret.txt");
      for (const target of targets) {
        const label = `${method} ${JSON.stringify(target)}`;
        const res = await rawDav(port, method, target, { Depth: method === "DELETE" ? "infinity" : "0" }, bodies[method] ?? "");
        assert.ok(REFUSED_HERE.has(res.status), `${label}: got ${res.status}, not 400/403/404/409: ${res.raw.toString("latin1").slice(0, 200)}`);
        assert.ok(!res.raw.toString("latin1").includes(TOKEN), `${label}: a marker in the answer`);
        assert.deepEqual(snapshot(top), before, `${label}: something changed on disk`);
      }
    });
  }
  assert.deepEqual(errors, [], "no unexpected error (500)");
});

// ---------------------------------------------------------------------------------------------
// 3. Symlinks out of the root
// ---------------------------------------------------------------------------------------------

test("symlinks out of the root: never written through, deleted as nothing, never copied from", async (t) => {
  const top = tempDir(t, {
    "secret.txt": OUTSIDE_MARKER,
    outside: { "inside.txt": OUTSIDE_MARKER },
    root: {
      "a.txt": "a\n",
      out: { symlink: "../outside" },
      "secret-link": { symlink: "../secret.txt" },
      folder: { "ok.txt": "ok\n", leak: { symlink: "../../secret.txt" }, leakdir: { symlink: "../../outside" }, "in-link": { symlink: "../a.txt" } },
    },
  });
  const root = path.join(top, "root");
  const outside = path.join(top, "outside");
  const { port, errors } = await serveSite(t, root);
  const outsideBefore = snapshot(outside);
  const checkOutside = (label: string) => {
    assert.deepEqual(snapshot(outside), outsideBefore, `${label}: the folder outside changed`);
    assert.equal(readFileSync(path.join(top, "secret.txt"), "utf8"), OUTSIDE_MARKER, `${label}: the secret changed`);
  };

  await t.test("MKCOL, PUT, COPY, MOVE, LOCK and DELETE into a link to a folder outside: 403, nothing written", async () => {
    const writes: Array<[string, string, Record<string, string>, string | undefined, number]> = [
      ["MKCOL", "/out/new", {}, undefined, 403],
      ["MKCOL", "/out/new/deeper", {}, undefined, 403],
      ["PUT", "/out/new.txt", { "Content-Type": "text/plain" }, "stolen\n", 403],
      ["PUT", "/out/inside.txt", { "Content-Type": "text/plain" }, "overwritten\n", 403],
      ["COPY", "/a.txt", { Destination: "/out/a.txt" }, undefined, 403],
      ["COPY", "/a.txt", { Destination: "/out/inside.txt", Overwrite: "T" }, undefined, 403],
      ["COPY", "/folder/", { Destination: "/out/folder/" }, undefined, 403],
      ["MOVE", "/a.txt", { Destination: "/out/a.txt" }, undefined, 403],
      ["MOVE", "/folder/", { Destination: `http://127.0.0.1:${port}/out/folder/` }, undefined, 403],
      ["MOVE", "/a.txt", { Destination: "/out/inside.txt", Overwrite: "T" }, undefined, 403],
      ["LOCK", "/out/new.txt", {}, WRAP.LOCK("me"), 403], // on an unmapped name it would make an empty file
      ["DELETE", "/out/inside.txt", {}, undefined, 403],
      ["PROPPATCH", "/out/inside.txt", {}, WRAP.PROPPATCH("v"), 404],
    ];
    for (const [method, target, headers, body, expected] of writes) {
      const label = `${method} ${target} ${JSON.stringify(headers)}`;
      const res = await dav(port, method, target, { headers, ...(body === undefined ? {} : { body }) });
      assert.equal(res.status, expected, label);
      assert.ok(!res.body.toString("latin1").includes(TOKEN), `${label}: a marker in the answer`);
      checkOutside(label);
    }
    assert.equal(readFileSync(path.join(root, "a.txt"), "utf8"), "a\n", "a.txt stayed");
    assert.ok(existsSync(path.join(root, "folder", "ok.txt")), "folder stayed");
  });

  await t.test("DELETE of a link out of the root: 404, the target untouched", async () => {
    for (const target of ["/out", "/out/", "/secret-link"]) {
      const res = await dav(port, "DELETE", target);
      assert.equal(res.status, 404, `DELETE ${target}`);
      checkOutside(`DELETE ${target}`);
    }
    assert.ok(lstatSync(path.join(root, "out")).isSymbolicLink(), "the link is still there");
    assert.ok(lstatSync(path.join(root, "secret-link")).isSymbolicLink(), "the link is still there");
  });

  await t.test("COPY of a folder holding links out of the root copies no byte from outside", async () => {
    const res = await dav(port, "COPY", "/folder/", { headers: { Destination: "/copied/" } });
    assert.equal(res.status, 201);
    // The link inside the root is copied as what it names; the links out of it are not copied at all.
    assert.deepEqual(readdirSync(path.join(root, "copied")).sort(), ["in-link", "ok.txt"]);
    assert.equal(readFileSync(path.join(root, "copied", "in-link"), "utf8"), "a\n");
    assert.ok(lstatSync(path.join(root, "copied", "in-link")).isFile(), "copied as a file");
    for (const file of regularFiles(root)) assert.ok(!readFileSync(file, "latin1").includes(TOKEN), `${file} holds bytes from outside the root`);
    // Depth 0 of the link folder itself, and COPY of each link: nothing to copy.
    assert.equal((await dav(port, "COPY", "/out/", { headers: { Destination: "/out-copy/" } })).status, 404);
    assert.equal((await dav(port, "COPY", "/secret-link", { headers: { Destination: "/secret-copy" } })).status, 404);
    assert.equal((await dav(port, "COPY", "/folder/leak", { headers: { Destination: "/leak-copy" } })).status, 404);
    assert.ok(!existsSync(path.join(root, "out-copy")) && !existsSync(path.join(root, "secret-copy")) && !existsSync(path.join(root, "leak-copy")));
    checkOutside("COPY");
  });

  await t.test("MOVE and DELETE of a folder holding links out of the root act on the links, never their targets", async () => {
    assert.equal((await dav(port, "MOVE", "/folder/", { headers: { Destination: "/moved/" } })).status, 201);
    assert.ok(lstatSync(path.join(root, "moved", "leak")).isSymbolicLink(), "the link moved as a link");
    checkOutside("MOVE");
    assert.equal((await dav(port, "DELETE", "/moved/")).status, 204);
    assert.ok(!existsSync(path.join(root, "moved")));
    checkOutside("DELETE");
  });
  assert.deepEqual(errors, [], "no unexpected error (500)");
});

// ---------------------------------------------------------------------------------------------
// 4. --trust-proxy
// ---------------------------------------------------------------------------------------------

test("--trust-proxy: a Destination naming the proxy's public origin is this server; without it, 502", async (t) => {
  const proxied = (port: number, destination: string) => ({
    Host: `127.0.0.1:${port}`,
    "X-Forwarded-Host": "public.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
    Destination: destination,
  });
  await t.test("with trustProxy", async (t) => {
    const root = tempDir(t, { "a.txt": "a\n", "c.txt": "c\n" });
    const { port, errors } = await serveSite(t, root, { trustProxy: true });
    assert.equal((await dav(port, "MOVE", "/a.txt", { headers: proxied(port, "https://public.example/b.txt") })).status, 201);
    assert.deepEqual(readdirSync(root).sort(), ["b.txt", "c.txt"]);
    assert.equal(readFileSync(path.join(root, "b.txt"), "utf8"), "a\n");
    assert.equal((await dav(port, "COPY", "/c.txt", { headers: proxied(port, "https://PUBLIC.example:443/d.txt") })).status, 201);
    assert.equal(readFileSync(path.join(root, "d.txt"), "utf8"), "c\n");
    // The forwarded origin is this server, not any other; nor the wrong scheme for it; nor a climb out.
    const mixed = [`https://127.0.0.1:${port}/e.txt`, `http://public.example/e.txt`]; // one origin's scheme with the other's name
    for (const other of ["https://other.example/e.txt", "https://public.example:8443/e.txt", "https://public.example.evil/e.txt", ...mixed]) {
      assert.equal((await dav(port, "COPY", "/c.txt", { headers: proxied(port, other) })).status, 502, other);
    }
    assert.equal((await dav(port, "COPY", "/c.txt", { headers: proxied(port, "https://public.example/../e.txt") })).status, 400);
    assert.deepEqual(readdirSync(root).sort(), ["b.txt", "c.txt", "d.txt"]);
    assert.deepEqual(errors, []);
  });
  await t.test("with trustProxy, a proxy that passes Host on and sets only X-Forwarded-Proto", async (t) => {
    const root = tempDir(t, { "a.txt": "a\n" });
    const { port, errors } = await serveSite(t, root, { trustProxy: true, allowedHosts: ["public.example"] });
    const headers = (destination: string) => ({ Host: "public.example", "X-Forwarded-Proto": "https", Destination: destination });
    assert.equal((await dav(port, "MOVE", "/a.txt", { headers: headers("https://public.example/b.txt") })).status, 201);
    assert.deepEqual(readdirSync(root), ["b.txt"]);
    assert.deepEqual(errors, []);
  });
  await t.test("without trustProxy", async (t) => {
    const root = tempDir(t, { "a.txt": "a\n" });
    const { port, errors } = await serveSite(t, root);
    assert.equal((await dav(port, "MOVE", "/a.txt", { headers: proxied(port, "https://public.example/b.txt") })).status, 502);
    assert.deepEqual(readdirSync(root), ["a.txt"]);
    // The Host it was asked by still works.
    assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `http://127.0.0.1:${port}/b.txt` } })).status, 201);
    assert.deepEqual(errors, []);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Concurrency
// ---------------------------------------------------------------------------------------------

/** `DAV_HOSTILE_ROUNDS=40`: more rounds than the default 3. A seed replays the requests each client sends, not how they interleave. */
const RUN = suiteSeed("DAV_HOSTILE_SEED", "webdav-hostile.test.js", ["DAV_HOSTILE_ROUNDS"]);

const CLIENTS = 20;
const ROUNDS = process.env.DAV_HOSTILE_ROUNDS ? Math.max(1, Number(process.env.DAV_HOSTILE_ROUNDS)) : 3;
const OPS_PER_CLIENT = 8;
const ORIGINALS = 50;

interface Op {
  method: "COPY" | "MOVE" | "DELETE";
  from: string;
  to: string | null;
  overwrite: "T" | "F";
  status?: number;
}

test("20 clients copying, moving and deleting in one folder at once leave every file whole, at its old name or a new one", { timeout: 60_000 }, async (t) => {
  t.diagnostic(RUN.line);
  const rng = new Rng(RUN.seed);
  const originals = Array.from({ length: ORIGINALS }, (_, i) => `f${String(i).padStart(2, "0")}.bin`);
  const extra = Array.from({ length: 25 }, (_, i) => `n${String(i).padStart(2, "0")}.bin`);
  const names = [...originals, ...extra];
  // Distinct contents of various sizes (up to 256 KiB, so copies overlap), each telling its origin.
  const contents = originals.map((name, i) => Buffer.concat([Buffer.from(`${name}:${i}:`), randomBytes(1 + rng.int(256 * 1024))]));
  const root = tempDir(t, { c: Object.fromEntries(originals.map((name, i) => [name, contents[i]!])) });
  const folder = path.join(root, "c");
  const errors: unknown[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onError: (error) => errors.push(error) });
  const ops: Op[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const plans: Op[][] = Array.from({ length: CLIENTS }, () =>
      Array.from({ length: OPS_PER_CLIENT }, (): Op => {
        const roll = rng.next();
        const method = roll < 0.42 ? "COPY" : roll < 0.84 ? "MOVE" : "DELETE";
        const from = rng.pick(names);
        let to: string | null = null;
        if (method !== "DELETE") do to = rng.pick(names); while (to === from);
        return { method, from, to, overwrite: rng.next() < 0.5 ? "T" : "F" };
      }),
    );
    await Promise.all(
      plans.map(async (plan) => {
        for (const op of plan) {
          const headers: Record<string, string> = op.to === null ? {} : { Destination: `/c/${op.to}`, Overwrite: op.overwrite };
          op.status = (await dav(server.port, op.method, `/c/${op.from}`, { headers })).status;
          ops.push(op);
        }
      }),
    );
  }
  const describe = (op: Op) => `${op.method} ${op.from}${op.to ? ` → ${op.to} (Overwrite: ${op.overwrite})` : ""}: ${op.status}`;
  const statuses = new Map<number, number>();
  for (const op of ops) statuses.set(op.status!, (statuses.get(op.status!) ?? 0) + 1);
  t.diagnostic(`${ops.length} requests: ${[...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${n}× ${status}`).join(", ")}`);
  const odd = ops.filter((op) => ![201, 204, 404, 409, 412].includes(op.status!));
  assert.deepEqual(odd.map(describe), [], `statuses other than 201/204/404/409/412 (${RUN.line})`);
  assert.deepEqual(errors, [], `no unexpected error (${RUN.line})`);

  // Which originals each name may hold: its own, and whatever a successful COPY or MOVE could bring.
  const possible = new Map<string, Set<number>>(names.map((name) => [name, new Set<number>()]));
  originals.forEach((name, i) => possible.get(name)!.add(i));
  const moved = ops.filter((op) => op.to !== null && (op.status === 201 || op.status === 204));
  for (let changed = true; changed; ) {
    changed = false;
    for (const op of moved) {
      const into = possible.get(op.to!)!;
      for (const i of possible.get(op.from)!) {
        if (into.has(i)) continue;
        into.add(i);
        changed = true;
      }
    }
  }
  const present = readdirSync(folder).sort();
  assert.deepEqual(present.filter((name) => name.startsWith(".serve-here-upload-")), [], `no temporary file is left (${RUN.line})`);
  const found = new Set<number>();
  for (const name of present) {
    assert.ok(possible.has(name), `${name}: a name no request made (${RUN.line})`);
    assert.ok(lstatSync(path.join(folder, name)).isFile(), `${name} is a file`);
    const data = readFileSync(path.join(folder, name));
    const origin = contents.findIndex((content) => content.equals(data));
    assert.ok(origin >= 0, `${name} (${data.length} bytes, starting ${JSON.stringify(data.subarray(0, 12).toString("latin1"))}) is no original, whole (${RUN.line})`);
    assert.ok(possible.get(name)!.has(origin), `${name} holds ${originals[origin]}, which no successful request could put there (${RUN.line})`);
    found.add(origin);
  }
  // An original can vanish only through a successful DELETE of a name that may hold it, or a
  // request that replaced such a name (204); else it is still somewhere.
  const cleared = new Set(ops.filter((op) => op.status === 204).map((op) => op.to ?? op.from));
  for (const [i, name] of originals.entries()) {
    if (found.has(i)) continue;
    const holders = names.filter((holder) => possible.get(holder)!.has(i));
    const causes = holders.filter((holder) => cleared.has(holder));
    assert.ok(causes.length > 0, `${name}'s bytes are nowhere, yet no successful DELETE or overwrite touched a name that held them (${holders.join(", ")}); requests on them: ${ops.filter((op) => holders.includes(op.from) || holders.includes(op.to ?? "")).map(describe).join("; ")} (${RUN.line})`);
  }
  t.diagnostic(`${present.length} files at the end, ${found.size} of ${ORIGINALS} originals among them`);
});

test("20 clients moving or copying one file onto 20 others at once: a file is replaced only by a request that succeeds", async (t) => {
  const root = tempDir(t);
  const errors: unknown[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onError: (error) => errors.push(error) });
  const wrong: string[] = [];
  for (let round = 0; round < 30; round++) {
    const method = round % 2 === 0 ? "MOVE" : "COPY";
    const source = `source of round ${round}`;
    writeFileSync(path.join(root, "s.txt"), source);
    for (let i = 0; i < CLIENTS; i++) writeFileSync(path.join(root, `d${i}.txt`), `d${i} of round ${round}`);
    const statuses = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => dav(server.port, method, "/s.txt", { headers: { Destination: `/d${i}.txt`, Overwrite: "T" } }).then((res) => res.status)));
    for (const [i, status] of statuses.entries()) {
      const file = path.join(root, `d${i}.txt`);
      const now = existsSync(file) ? readFileSync(file, "utf8") : "(gone)";
      const expected = status === 204 ? source : `d${i} of round ${round}`;
      if (now !== expected) wrong.push(`round ${round}: ${method} /s.txt → /d${i}.txt answered ${status}, and d${i}.txt holds ${JSON.stringify(now)}, not ${JSON.stringify(expected)}`);
    }
    const succeeded = statuses.filter((status) => status === 204).length;
    if (succeeded !== (method === "MOVE" ? 1 : CLIENTS)) wrong.push(`round ${round}: ${succeeded} of ${CLIENTS} ${method}s succeeded: ${statuses.join(" ")}`);
    if (!statuses.every((status) => [204, 404].includes(status))) wrong.push(`round ${round}: ${method} answered ${statuses.join(" ")}`);
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(readdirSync(root).filter((name) => name.startsWith(".serve-here-upload-")), [], "no temporary file is left");
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------------------------
// 6. Memory: PROPFIND Depth: 1 on 100,000 entries
// ---------------------------------------------------------------------------------------------

test("PROPFIND Depth: 1 on a folder of 100,000 files: 100,001 distinct responses, streamed under 50 MB above idle", { timeout: 120_000 }, async (t) => {
  const COUNT = 100_000;
  const root = tempDir(t);
  const names = Array.from({ length: COUNT }, (_, i) => `f${String(i).padStart(6, "0")}`);
  for (const name of names) closeSync(openSync(path.join(root, name), "w"));
  const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "-q"]);
  const pid = cli.child.pid!;
  assert.equal((await dav(cli.port, "PROPFIND", "/f000000", { headers: { Depth: "0" } })).status, 207, "warm-up");
  await new Promise((r) => setTimeout(r, 200));
  const idle = residentBytes(pid);
  const rss = rssSampler(pid);
  t.after(() => rss.stop());

  const hrefs = new Set<string>();
  let responses = 0;
  let bytes = 0;
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: cli.port, path: "/", method: "PROPFIND", headers: { Depth: "1" }, agent: false }, (res) => {
      let text = "";
      let paused = false;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        bytes += Buffer.byteLength(chunk);
        text += chunk;
        // Each whole <D:response> is counted and its href kept; the rest waits for the next chunk.
        let end: number;
        while ((end = text.indexOf("</D:response>")) !== -1) {
          const one = text.slice(0, end);
          const start = one.lastIndexOf("<D:response>");
          if (start === -1) return void reject(new Error(`a </D:response> without its start: ${one.slice(0, 200)}`));
          responses++;
          const href = /<D:href>([^<]*)<\/D:href>/.exec(one.slice(start))?.[1];
          if (href !== undefined) hrefs.add(href);
          text = text.slice(end + "</D:response>".length);
        }
        // A slow reader for a moment: the server must wait for it rather than buffer the rest.
        if (!paused) {
          paused = true;
          res.pause();
          setTimeout(() => res.resume(), 1000);
        }
      });
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
  rss.stop();
  const grown = rss.peak() - idle;
  t.diagnostic(`PROPFIND Depth: 1 of ${COUNT} files: ${mib(bytes)} of XML; RSS idle ${mib(idle)}, peak ${mib(rss.peak())}: +${mib(grown)} (bound +50 MB)`);
  assert.equal(status, 207);
  assert.equal(responses, COUNT + 1, "one <D:response> for the folder and one per file");
  assert.equal(hrefs.size, COUNT + 1, "every href distinct");
  assert.ok(hrefs.has("/"), "the folder's own href");
  for (const name of names) if (!hrefs.has(`/${name}`)) assert.fail(`no response for /${name}`);
  assert.ok(grown < 50 * 1000 * 1000, `the server grew by ${mib(grown)} above idle (issue 18 §1: under 50 MB)`);
});

// ---------------------------------------------------------------------------------------------
// 7. HTTP/2
// ---------------------------------------------------------------------------------------------

const certDir = mkdtempSync(path.join(os.tmpdir(), "serve-here-cert-"));
process.on("exit", () => rmSync(certDir, { recursive: true, force: true }));

function h2(session: http2.ClientHttp2Session, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": method, ":path": target, ...headers });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
    stream.on("response", (h) => (head = h));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve({ status: Number(head[":status"]), headers: head as http.IncomingHttpHeaders, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    stream.end(body);
  });
}

test("HTTP/2: PROPFIND Depth: 1 answers 207 with the right hrefs; MKCOL and MOVE work; hostile bodies are refused", async (t) => {
  const certificate = await selfSignedCertificate({ configDir: certDir, hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  const root = tempDir(t, { "a.txt": "a\n", "with space.txt": "s\n", sub: { "b.txt": "b\n" } });
  const errors: unknown[] = [];
  const server = await serve(t, { root, tls: { cert: certificate.cert, key: certificate.key }, upload: true, overwrite: true, onError: (error) => errors.push(error) });
  const session = http2.connect(`https://127.0.0.1:${server.port}`, { ca: certificate.cert });
  session.on("error", () => {});
  t.after(() => session.destroy());

  const listing = await h2(session, "PROPFIND", "/", { depth: "1" });
  assert.equal(listing.status, 207);
  const hrefs = [...listing.body.toString().matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1]).sort();
  assert.deepEqual(hrefs, ["/", "/a.txt", "/sub/", "/with%20space.txt"]);
  const withBody = await h2(session, "PROPFIND", "/sub/", { depth: "1", "content-type": "application/xml" }, '<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/></D:prop></D:propfind>');
  assert.equal(withBody.status, 207);
  assert.match(withBody.body.toString(), /<D:href>\/sub\/b\.txt<\/D:href><D:propstat><D:prop><D:getcontentlength>2<\/D:getcontentlength>/);

  assert.equal((await h2(session, "MKCOL", "/made")).status, 201);
  assert.ok(lstatSync(path.join(root, "made")).isDirectory());
  assert.equal((await h2(session, "MOVE", "/a.txt", { destination: `https://127.0.0.1:${server.port}/made/a.txt` })).status, 201);
  assert.equal(readFileSync(path.join(root, "made", "a.txt"), "utf8"), "a\n");
  assert.ok(!existsSync(path.join(root, "a.txt")));
  assert.equal((await h2(session, "MOVE", "/made/a.txt", { destination: "https://evil.example/a.txt" })).status, 502);
  assert.equal((await h2(session, "MOVE", "/made/a.txt", { destination: "/../a.txt" })).status, 400);

  // A hostile body over HTTP/2, and a promise of 100 MB with no byte of it sent.
  assert.equal((await h2(session, "PROPFIND", "/", { depth: "0" }, billionLaughs(WRAP.PROPFIND))).status, 400);
  const promised = await new Promise<number>((resolve, reject) => {
    const stream = session.request({ ":method": "PROPFIND", ":path": "/", depth: "0", "content-length": String(100 * 1000 * 1000) });
    stream.on("response", (head) => {
      resolve(Number(head[":status"]));
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.on("error", reject);
  });
  assert.equal(promised, 413);
  // The session is still good for more.
  assert.equal((await h2(session, "GET", "/made/a.txt")).status, 200);
  assert.deepEqual(errors, []);
});
