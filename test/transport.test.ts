/**
 * The main behaviours of the earlier suites, on every transport: HTTP/1.1 in plain text, HTTP/1.1
 * over TLS and HTTP/2 over TLS, each asked by Node's own clients (`node:http`, `node:https`,
 * `node:http2`), and the TLS ones by curl too (`curl --http1.1 -k`, `curl --http2 -k`). Every
 * answer is checked to have come over the protocol asked for, and no HTTP/2 answer may carry a
 * connection-specific header. Then what only HTTPS has: the redirect for plain HTTP sent to it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import test, { type TestContext } from "node:test";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { selfSignedCertificate } from "../src/cert.js";
import type { AccessLogEntry, ServerOptions } from "../src/server.js";
import { eventually, rawRequest, serve, tempDir } from "./helpers.js";

const run = promisify(execFile);

/** One certificate for the whole file, made by --tls-self-signed's own code, in a folder of its own. */
const certDir = mkdtempSync(path.join(os.tmpdir(), "serve-here-cert-"));
process.on("exit", () => rmSync(certDir, { recursive: true, force: true }));
const certificate = await selfSignedCertificate({ configDir: certDir, hostnames: ["localhost"], addresses: ["127.0.0.1", "::1"] });
const TLS = { cert: certificate.cert, key: certificate.key };

type Transport = "HTTP/1.1" | "HTTP/1.1 over TLS" | "HTTP/2 over TLS";

interface Ask {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** A multipart/form-data POST of one file (curl: `-F`). */
  form?: { filename: string; data: Buffer };
}

interface Answer {
  status: number;
  /** Lower-case names; repeated ones joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

interface Client {
  name: string;
  transport: Transport;
  ask(port: number, target: string, ask?: Ask): Promise<Answer>;
}

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

function assertNoConnectionHeaders(headers: Record<string, string>): void {
  for (const name of CONNECTION_SPECIFIC) assert.equal(headers[name], undefined, `no ${name} header on an HTTP/2 stream`);
}

/** A multipart/form-data body with one file part. */
function formBody(form: NonNullable<Ask["form"]>): { body: Buffer; type: string } {
  const boundary = "----serve-here-transport-" + Math.random().toString(36).slice(2);
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${form.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  return { body: Buffer.concat([head, form.data, Buffer.from(`\r\n--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

function flatHeaders(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}

function bodyAndType(ask: Ask): { body: Buffer | undefined; headers: Record<string, string> } {
  const headers = { ...ask.headers };
  if (ask.form) {
    const { body, type } = formBody(ask.form);
    return { body, headers: { ...headers, "Content-Type": type, "Content-Length": String(body.length) } };
  }
  if (ask.body) return { body: ask.body, headers: { ...headers, "Content-Length": String(ask.body.length) } };
  return { body: undefined, headers };
}

/** node:http, or node:https trusting our certificate, on a fresh connection. */
function nodeHttp1(tls: boolean): Client["ask"] {
  return (port, target, ask = {}) =>
    new Promise((resolve, reject) => {
      const { body, headers } = bodyAndType(ask);
      const options = { host: "127.0.0.1", port, path: target, method: ask.method ?? (ask.form ? "POST" : "GET"), headers, agent: false };
      const onResponse = (res: http.IncomingMessage) => {
        if (tls) assert.equal((res.socket as TLSSocket).alpnProtocol, "http/1.1", "ALPN chose HTTP/1.1");
        assert.equal(res.httpVersion, "1.1");
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flatHeaders(res.headers), body: Buffer.concat(chunks) }));
        res.on("error", reject);
      };
      // Offer HTTP/1.1 by ALPN, as a browser without HTTP/2 would (https.request offers nothing by default).
      const secure: https.RequestOptions & ConnectionOptions = { ...options, ca: certificate.cert, servername: "localhost", ALPNProtocols: ["http/1.1"] };
      const req = tls ? https.request(secure, onResponse) : http.request(options, onResponse);
      req.on("error", reject);
      req.end(body);
    });
}

/** node:http2, trusting our certificate: one session per request, closed after it. */
function nodeHttp2(port: number, target: string, ask: Ask = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: certificate.cert });
    session.on("error", reject);
    const { body, headers } = bodyAndType(ask);
    const authority = headers.Host;
    delete headers.Host;
    const req = session.request({ ":method": ask.method ?? (ask.form ? "POST" : "GET"), ":path": target, ...(authority === undefined ? {} : { ":authority": authority }), ...headers }, { endStream: body === undefined });
    req.on("error", reject);
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    req.on("response", (h) => {
      assert.equal(session.alpnProtocol, "h2", "ALPN chose HTTP/2");
      status = Number(h[":status"]);
      responseHeaders = flatHeaders(h);
      assertNoConnectionHeaders(responseHeaders);
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks) });
    });
    if (body !== undefined) req.end(body);
  });
}

/**
 * curl, with `-k` as a user of a self-signed certificate would run it. Uploads go as curl sends
 * them: `-T` for PUT, `-F` for a form. The headers are those of the final answer (after a 100).
 */
function curl(version: "--http1.1" | "--http2"): Client["ask"] {
  return async (port, target, ask = {}) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "serve-here-curl-"));
    try {
      const args = ["-sS", "-k", version, "-D", path.join(dir, "head"), "-o", path.join(dir, "body"), "-w", "%{http_version}"];
      const method = ask.method ?? (ask.form ? "POST" : "GET");
      if (method === "HEAD") args.push("--head");
      else if (method !== "GET" && !(method === "PUT" && ask.body) && !ask.form) args.push("-X", method);
      for (const [name, value] of Object.entries(ask.headers ?? {})) args.push("-H", `${name}: ${value}`);
      if (ask.body) {
        writeFileSync(path.join(dir, "upload"), ask.body);
        args.push("-T", path.join(dir, "upload"));
      }
      if (ask.form) {
        writeFileSync(path.join(dir, "form"), ask.form.data);
        args.push("-F", `file=@${path.join(dir, "form")};filename=${ask.form.filename}`);
      }
      args.push(`https://127.0.0.1:${port}${target}`);
      const { stdout } = await run("curl", args);
      assert.equal(stdout, version === "--http2" ? "2" : "1.1", `curl ${version} spoke ${stdout}`);
      const blocks = readFileSync(path.join(dir, "head"), "latin1").trim().split(/\r\n\r\n/);
      const [statusLine = "", ...lines] = blocks.at(-1)!.split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      if (version === "--http2") assertNoConnectionHeaders(headers);
      let body: Buffer;
      // --head reads no body, and writes the head where the body would go.
      if (method === "HEAD") body = Buffer.alloc(0);
      else try {
        body = readFileSync(path.join(dir, "body"));
      } catch {
        body = Buffer.alloc(0); // curl writes no file for an empty body
      }
      return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const CLIENTS: Client[] = [
  { name: "node:http, HTTP/1.1", transport: "HTTP/1.1", ask: nodeHttp1(false) },
  { name: "node:https, HTTP/1.1 over TLS", transport: "HTTP/1.1 over TLS", ask: nodeHttp1(true) },
  { name: "node:http2, HTTP/2 over TLS", transport: "HTTP/2 over TLS", ask: nodeHttp2 },
  { name: "curl --http1.1 -k", transport: "HTTP/1.1 over TLS", ask: curl("--http1.1") },
  { name: "curl --http2 -k", transport: "HTTP/2 over TLS", ask: curl("--http2") },
];

const NODE_CLIENTS = CLIENTS.filter((client) => client.name.startsWith("node:"));

/** serve-here on the client's transport, with the access log kept. */
async function serveFor(t: TestContext, client: Client, options: ServerOptions) {
  const log: AccessLogEntry[] = [];
  const tls = client.transport === "HTTP/1.1" ? undefined : TLS;
  const server = await serve(t, { ...options, tls, onResponse: (entry) => log.push(entry) });
  return { ...server, log };
}

/** Runs `body` once per client, each as a subtest named for it. */
function eachClient(name: string, body: (t: TestContext, client: Client) => Promise<void>, clients = CLIENTS): void {
  test(name, async (t) => {
    for (const client of clients) await t.test(client.name, (st) => body(st, client));
  });
}

const TEXT = "hello over every transport\n";
const LONG = "a line of text that compresses well, said again and again\n".repeat(200);

eachClient("a file is 200 with its headers, and HEAD gives the same headers and no body", async (t, client) => {
  const root = tempDir(t, { "hello.txt": TEXT });
  const server = await serveFor(t, client, { root });
  const got = await client.ask(server.port, "/hello.txt");
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), TEXT);
  assert.equal(got.headers["content-type"], "text/plain; charset=utf-8");
  assert.equal(got.headers["content-length"], String(TEXT.length));
  assert.match(got.headers.etag ?? "", /^"/);
  assert.equal(got.headers["x-content-type-options"], "nosniff");
  const head = await client.ask(server.port, "/hello.txt", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers.etag, got.headers.etag);
  assert.equal(head.headers["content-length"], String(TEXT.length));
});

eachClient("a range is 206, and several ranges are one multipart/byteranges body", async (t, client) => {
  const root = tempDir(t, { "digits.txt": "0123456789" });
  const server = await serveFor(t, client, { root });
  const one = await client.ask(server.port, "/digits.txt", { headers: { Range: "bytes=2-4" } });
  assert.equal(one.status, 206);
  assert.equal(one.body.toString(), "234");
  assert.equal(one.headers["content-range"], "bytes 2-4/10");
  const two = await client.ask(server.port, "/digits.txt", { headers: { Range: "bytes=0-1,8-9" } });
  assert.equal(two.status, 206);
  const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(two.headers["content-type"] ?? "")?.[1];
  assert.ok(boundary, `multipart type, got ${two.headers["content-type"]}`);
  const text = two.body.toString();
  assert.match(text, /Content-Range: bytes 0-1\/10\r\n\r\n01\r\n/);
  assert.match(text, /Content-Range: bytes 8-9\/10\r\n\r\n89\r\n/);
  assert.equal(two.headers["content-length"], String(two.body.length));
});

eachClient("If-None-Match with the file's ETag is 304 with no body", async (t, client) => {
  const root = tempDir(t, { "hello.txt": TEXT });
  const server = await serveFor(t, client, { root });
  const first = await client.ask(server.port, "/hello.txt");
  const again = await client.ask(server.port, "/hello.txt", { headers: { "If-None-Match": first.headers.etag! } });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(again.headers.etag, first.headers.etag);
});

eachClient("a folder without index.html is listed", async (t, client) => {
  const root = tempDir(t, { docs: { "guide.txt": "g", "notes.md": "n" } });
  const server = await serveFor(t, client, { root });
  // Asked for by a network name (a loopback one would get no share box: a phone cannot use it).
  const got = await client.ask(server.port, "/docs/", { headers: { Host: `192.168.1.5:${server.port}` } });
  assert.equal(got.status, 200);
  assert.equal(got.headers["content-type"], "text/html; charset=utf-8");
  assert.match(got.body.toString(), /Directory listing for \/docs\//);
  assert.match(got.body.toString(), /guide\.txt/);
  assert.match(got.body.toString(), /notes\.md/);
  // "Open on another device" names this page with the scheme it came over.
  const scheme = client.transport === "HTTP/1.1" ? "http" : "https";
  assert.match(got.body.toString(), new RegExp(`<figcaption>${scheme}://192\\.168\\.1\\.5:${server.port}/docs/</figcaption>`));
});

eachClient("errors are the same pages: a malformed escape is 400, an unknown method 405 with Allow", async (t, client) => {
  const server = await serveFor(t, client, { root: tempDir(t) });
  const bad = await client.ask(server.port, "/%zz");
  assert.equal(bad.status, 400);
  assert.match(bad.body.toString(), /<title>400 Bad Request<\/title>/);
  const method = await client.ask(server.port, "/", { method: "DELETE" });
  assert.equal(method.status, 405);
  assert.equal(method.headers.allow, "GET, HEAD, OPTIONS, PROPFIND");
});

eachClient("a missing path gets the root's 404.html with status 404", async (t, client) => {
  const root = tempDir(t, { "404.html": "<!DOCTYPE html><title>nothing here</title>" });
  const server = await serveFor(t, client, { root });
  const got = await client.ask(server.port, "/no/such/page");
  assert.equal(got.status, 404);
  assert.match(got.body.toString(), /nothing here/);
  assert.equal(got.headers["cache-control"], "no-cache");
});

eachClient("br and gzip are chosen from Accept-Encoding, and each decodes to the file", async (t, client) => {
  const root = tempDir(t, { "long.txt": LONG });
  const server = await serveFor(t, client, { root });
  const br = await client.ask(server.port, "/long.txt", { headers: { "Accept-Encoding": "br" } });
  assert.equal(br.status, 200);
  assert.equal(br.headers["content-encoding"], "br");
  assert.equal(br.headers.vary, "Accept-Encoding");
  assert.equal(zlib.brotliDecompressSync(br.body).toString(), LONG);
  const gzip = await client.ask(server.port, "/long.txt", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(gzip.headers["content-encoding"], "gzip");
  assert.equal(zlib.gunzipSync(gzip.body).toString(), LONG);
  const identity = await client.ask(server.port, "/long.txt", { headers: { "Accept-Encoding": "identity" } });
  assert.equal(identity.headers["content-encoding"], undefined);
  assert.equal(identity.body.toString(), LONG);
});

eachClient("a listing is compressed from Accept-Encoding, has an ETag per coding, and revalidates with a 304", async (t, client) => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 200; i++) files[`report-${String(i).padStart(3, "0")}.txt`] = "r".repeat(i);
  const root = tempDir(t, { reports: files });
  const server = await serveFor(t, client, { root });
  const identity = await client.ask(server.port, "/reports/");
  assert.equal(identity.status, 200);
  assert.equal(identity.headers["content-encoding"], undefined);
  assert.equal(identity.headers.vary, "Accept-Encoding, Accept");
  const br = await client.ask(server.port, "/reports/", { headers: { "Accept-Encoding": "br" } });
  assert.equal(br.headers["content-encoding"], "br");
  assert.equal(br.headers.vary, "Accept-Encoding, Accept");
  assert.equal(br.headers["content-length"], String(br.body.length));
  assert.ok(br.body.length * 5 <= identity.body.length, `br ${br.body.length} bytes of ${identity.body.length}`);
  assert.deepEqual(zlib.brotliDecompressSync(br.body), identity.body);
  assert.equal(br.headers.etag, identity.headers.etag!.slice(0, -1) + '-br"');
  const gzip = await client.ask(server.port, "/reports/?format=json", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(gzip.headers["content-encoding"], "gzip");
  assert.equal(JSON.parse(zlib.gunzipSync(gzip.body).toString()).length, 200);
  const again = await client.ask(server.port, "/reports/", { headers: { "Accept-Encoding": "br", "If-None-Match": br.headers.etag! } });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(again.headers.etag, br.headers.etag);
});

eachClient("live reload: the event stream says which file changed", async (t, client) => {
  const previous = process.env.SERVE_HERE_LIVE_POLL;
  process.env.SERVE_HERE_LIVE_POLL = "1"; // the handler reads it when made
  t.after(() => (previous === undefined ? delete process.env.SERVE_HERE_LIVE_POLL : (process.env.SERVE_HERE_LIVE_POLL = previous)));
  const root = tempDir(t, { "page.html": "<!DOCTYPE html><title>p</title>", "style.css": "a{}" });
  const server = await serveFor(t, client, { root, live: true });
  const events = await openEvents(client, server.port);
  t.after(() => events.close());
  await eventually(() => events.text().includes('"boot"'), `no boot message; got ${JSON.stringify(events.text())}`);
  // The watcher starts with the first stream; keep writing until a change is told.
  await eventually(() => {
    writeFileSync(path.join(root, "style.css"), `a{color:#${Math.floor(Math.random() * 4096).toString(16)}}`);
    return events.text().includes('"changed":["/style.css"]');
  }, `no change told; got ${JSON.stringify(events.text())}`, 10_000);
}, NODE_CLIENTS);

/** `/__serve-here/events`, open and reading, over the client's transport. */
async function openEvents(client: Client, port: number): Promise<{ text(): string; close(): void }> {
  let text = "";
  if (client.transport === "HTTP/2 over TLS") {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: certificate.cert });
    const req = session.request({ ":path": "/__serve-here/events", accept: "text/event-stream" });
    req.on("response", (headers) => {
      assert.equal(headers[":status"], 200);
      assert.equal(headers["content-type"], "text/event-stream");
      assertNoConnectionHeaders(flatHeaders(headers));
    });
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("error", () => {});
    return { text: () => text, close: () => session.destroy() };
  }
  const tls = client.transport === "HTTP/1.1 over TLS";
  const options = { host: "127.0.0.1", port, path: "/__serve-here/events", headers: { Accept: "text/event-stream" }, agent: false };
  const onResponse = (res: http.IncomingMessage) => {
    assert.equal(res.statusCode, 200);
    res.on("data", (c: Buffer) => (text += c.toString()));
    res.on("error", () => {});
  };
  const req = tls ? https.get({ ...options, ca: certificate.cert }, onResponse) : http.get(options, onResponse);
  req.on("error", () => {});
  return { text: () => text, close: () => req.destroy() };
}

eachClient("uploads: PUT stores its body, and a multipart POST stores the form's file", async (t, client) => {
  const root = tempDir(t, { inbox: {} });
  const server = await serveFor(t, client, { root, upload: true });
  const put = await client.ask(server.port, "/inbox/put.bin", { method: "PUT", body: Buffer.from("put over the wire\n") });
  assert.equal(put.status, 201);
  assert.equal(readFileSync(path.join(root, "inbox", "put.bin"), "utf8"), "put over the wire\n");
  const form = await client.ask(server.port, "/inbox/", { form: { filename: "form.txt", data: Buffer.from("posted in a form\n") }, headers: { Accept: "text/plain" } });
  assert.ok(form.status === 201 || form.status === 303 || form.status === 200, `form upload answered ${form.status}`);
  assert.equal(readFileSync(path.join(root, "inbox", "form.txt"), "utf8"), "posted in a form\n");
});

eachClient("a PUT over --max-upload is 413, and over HTTP/2 without a Connection header", async (t, client) => {
  const root = tempDir(t);
  const server = await serveFor(t, client, { root, upload: true, maxUploadBytes: 4 });
  const got = await client.ask(server.port, "/big.bin", { method: "PUT", body: Buffer.from("more than four bytes") });
  assert.equal(got.status, 413);
  if (client.transport === "HTTP/2 over TLS") assertNoConnectionHeaders(got.headers);
});

eachClient("?download=zip is a zip of the folder that unzip -t accepts", async (t, client) => {
  const root = tempDir(t, { photos: { "a.txt": "first", sub: { "b.txt": "second" } } });
  const server = await serveFor(t, client, { root });
  const got = await client.ask(server.port, "/photos/?download=zip");
  assert.equal(got.status, 200);
  assert.equal(got.headers["content-type"], "application/zip");
  const dir = tempDir(t);
  writeFileSync(path.join(dir, "photos.zip"), got.body);
  const { stdout } = await run("unzip", ["-t", path.join(dir, "photos.zip")]);
  assert.match(stdout, /No errors detected/);
  assert.match(stdout, /testing: a\.txt +OK/);
  assert.match(stdout, /testing: sub\/b\.txt +OK/);
});

eachClient("with passwords, no credentials is 401 and the right ones are 200", async (t, client) => {
  const root = tempDir(t, { "secret.txt": "only for ann" });
  const server = await serveFor(t, client, { root, auth: [{ user: "ann", password: "s3cret" }] });
  const refused = await client.ask(server.port, "/secret.txt");
  assert.equal(refused.status, 401);
  assert.match(refused.headers["www-authenticate"] ?? "", /^Basic /);
  const allowed = await client.ask(server.port, "/secret.txt", { headers: { Authorization: `Basic ${Buffer.from("ann:s3cret").toString("base64")}` } });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.body.toString(), "only for ann");
});

eachClient("the Host check refuses a name that is not ours (under HTTP/2, :authority)", async (t, client) => {
  const root = tempDir(t, { "hello.txt": TEXT });
  const server = await serveFor(t, client, { root });
  const refused = await client.ask(server.port, "/hello.txt", { headers: { Host: `evil.example:${server.port}` } });
  assert.equal(refused.status, 403);
  assert.match(refused.body.toString(), /--allowed-host evil\.example/);
  const allowed = await client.ask(server.port, "/hello.txt", { headers: { Host: `localhost:${server.port}` } });
  assert.equal(allowed.status, 200);
});

eachClient("the request log has one line per answer, with the client, method, target, status and bytes", async (t, client) => {
  const root = tempDir(t, { "hello.txt": TEXT });
  const server = await serveFor(t, client, { root });
  await client.ask(server.port, "/hello.txt?x=1");
  await eventually(() => server.log.length === 1, `one log entry, got ${server.log.length}`);
  const [entry] = server.log;
  assert.equal(entry!.client, "127.0.0.1");
  assert.equal(entry!.method, "GET");
  assert.equal(entry!.url, "/hello.txt?x=1");
  assert.equal(entry!.status, 200);
  assert.equal(entry!.bytes, TEXT.length);
  assert.equal(entry!.completed, true);
});

test("HTTP/2 requests whose Host and :authority differ are 400", async (t) => {
  const root = tempDir(t, { "hello.txt": TEXT });
  const server = await serve(t, { root, tls: TLS });
  const got = await nodeHttp2(server.port, "/hello.txt", { headers: { Host: `localhost:${server.port}`, host: `evil.example:${server.port}` } });
  assert.equal(got.status, 400);
});

test("the HTTPS server's URLs say https://", async (t) => {
  const server = await serve(t, { root: tempDir(t), tls: TLS });
  assert.equal(server.url, `https://127.0.0.1:${server.port}/`);
});

// Plain HTTP sent to the HTTPS port: someone typed http://.

test("plain HTTP GET and HEAD to the HTTPS port are redirected to https:// with 301, the target kept", async (t) => {
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root: tempDir(t, { "a.txt": "a" }), tls: TLS, onResponse: (e) => log.push(e) });
  for (const method of ["GET", "HEAD"]) {
    const got = await rawRequest(server.port, `${method} /a.txt?x=%20y HTTP/1.1\r\nHost: localhost:${server.port}\r\nConnection: close\r\n\r\n`);
    assert.equal(got.status, 301, method);
    assert.equal(got.headers.get("location"), `https://localhost:${server.port}/a.txt?x=%20y`);
  }
  await eventually(() => log.length === 2, "two log lines");
  assert.equal(log[0]!.status, 301);
  assert.equal(log[0]!.note, "plain HTTP on the HTTPS port");
});

test("other methods in plain HTTP to the HTTPS port are redirected with 308, which keeps the method", async (t) => {
  const server = await serve(t, { root: tempDir(t), tls: TLS, upload: true });
  const got = await rawRequest(server.port, `PUT /x.bin HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
  assert.equal(got.status, 308);
  assert.equal(got.headers.get("location"), `https://127.0.0.1:${server.port}/x.bin`);
});

test("the redirect follows the Host check: a refused name is 403 and no Host at all is 400, never a redirect", async (t) => {
  const server = await serve(t, { root: tempDir(t), tls: TLS });
  const refused = await rawRequest(server.port, `GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  assert.equal(refused.status, 403);
  assert.equal(refused.headers.get("location"), undefined);
  const nameless = await rawRequest(server.port, `GET / HTTP/1.0\r\n\r\n`);
  assert.equal(nameless.status, 400);
  assert.equal(nameless.headers.get("location"), undefined);
  const missing = await rawRequest(server.port, `GET / HTTP/1.1\r\nConnection: close\r\n\r\n`);
  assert.equal(missing.status, 400);
});

test("an absolute-form plain-HTTP request is redirected to its own path on https://", async (t) => {
  const server = await serve(t, { root: tempDir(t), tls: TLS });
  const got = await rawRequest(server.port, `GET http://localhost:${server.port}/deep/path HTTP/1.1\r\nHost: localhost:${server.port}\r\nConnection: close\r\n\r\n`);
  assert.equal(got.status, 301);
  assert.equal(got.headers.get("location"), `https://localhost:${server.port}/deep/path`);
});

test("curl -L follows the redirect from http:// to https:// and gets the file", async (t) => {
  const server = await serve(t, { root: tempDir(t, { "a.txt": "reached over https" }), tls: TLS });
  const { stdout } = await run("curl", ["-sS", "-k", "-L", "-w", " %{url_effective}", `http://localhost:${server.port}/a.txt`]);
  assert.equal(stdout, `reached over https https://localhost:${server.port}/a.txt`);
});
