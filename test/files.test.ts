/**
 * Files: status, body and the headers every file response carries (content type, length,
 * validators, caching, nosniff), HEAD, empty files, the trailing-slash rule, extra headers and
 * keep-alive. Real server on port 0, real files in a temporary folder.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { statSync, utimesSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { parseRawResponse, rawRequest, request, serve, tempDir, type RawResponse } from "./helpers.js";

const HTML = "<!DOCTYPE html><title>x</title><p>hello</p>\n";
const BINARY = randomBytes(100_000);
const GZIP = Buffer.from("1f8b0800000000000003cb48cdc9c9e70200203a361b06000000", "hex"); // gzip of "hello\n"

/** One tree for the read-only tests: every file type the table below asks about. */
function siteTree() {
  return {
    "index.html": HTML,
    "page.html": HTML,
    "style.css": "body { color: red }\n",
    "app.js": "console.log(1);\n",
    "data.json": '{"a":1}\n',
    "notes.txt": "plain text\n",
    "image.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "blob.zzqq": "unknown extension\n",
    README: "no extension at all\n",
    "x.tar.gz": GZIP,
    "random.bin": BINARY,
    "empty.txt": "",
    folder: { "inner.txt": "inner\n" },
  };
}

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Reads exactly `count` Content-Length-framed responses from one socket. */
function readResponses(socket: net.Socket, count: number, timeoutMs = 5000): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`got ${responses.length} of ${count} responses; pending: ${buffered.toString("latin1").slice(0, 200)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const headEnd = buffered.indexOf("\r\n\r\n");
        if (headEnd === -1) return;
        const head = parseRawResponse(buffered.subarray(0, headEnd + 4));
        const length = Number(head.headers.get("content-length") ?? "0");
        if (buffered.length < headEnd + 4 + length) return;
        responses.push(parseRawResponse(buffered.subarray(0, headEnd + 4 + length)));
        buffered = buffered.subarray(headEnd + 4 + length);
        if (responses.length === count) {
          cleanup();
          resolve(responses);
          return;
        }
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`socket closed after ${responses.length} of ${count} responses`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
    };
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Status, body, Content-Type
// ---------------------------------------------------------------------------------------------

test("a file is served with 200 and exactly its bytes", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/random.bin");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, BINARY);
});

test("Content-Length equals the file's size", async (t) => {
  const root = tempDir(t, siteTree());
  const server = await serve(t, { root });
  for (const name of ["random.bin", "page.html", "x.tar.gz"]) {
    const res = await request(server.port, `/${name}`);
    assert.equal(res.headers["content-length"], String(statSync(path.join(root, name)).size), name);
    assert.equal(res.body.length, statSync(path.join(root, name)).size, name);
  }
});

const CONTENT_TYPES: Array<[file: string, type: string]> = [
  ["page.html", "text/html; charset=utf-8"],
  ["style.css", "text/css; charset=utf-8"],
  ["app.js", "text/javascript; charset=utf-8"],
  ["data.json", "application/json; charset=utf-8"],
  ["notes.txt", "text/plain; charset=utf-8"],
  // Not a text/* type: mime-types (and nginx) give SVG no charset; XML defaults to UTF-8 anyway.
  ["image.svg", "image/svg+xml"],
  ["blob.zzqq", "application/octet-stream"],
  ["README", "application/octet-stream"],
  ["x.tar.gz", "application/gzip"],
];

for (const [file, type] of CONTENT_TYPES) {
  test(`${file} is served with Content-Type ${type}`, async (t) => {
    const server = await serve(t, { root: tempDir(t, siteTree()) });
    const res = await request(server.port, `/${file}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], type);
  });
}

test("x.tar.gz is sent as stored, with no Content-Encoding", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/x.tar.gz", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-encoding"], undefined);
  assert.deepEqual(res.body, GZIP);
});

// ---------------------------------------------------------------------------------------------
// Validators and caching headers
// ---------------------------------------------------------------------------------------------

test("Last-Modified equals the file's mtime as an IMF-fixdate in UTC", async (t) => {
  const root = tempDir(t, siteTree());
  const file = path.join(root, "notes.txt");
  utimesSync(file, new Date("2021-03-04T05:06:07.890Z"), new Date("2021-03-04T05:06:07.890Z"));
  const server = await serve(t, { root });
  const res = await request(server.port, "/notes.txt");
  assert.equal(res.headers["last-modified"], "Thu, 04 Mar 2021 05:06:07 GMT");
  assert.equal(res.headers["last-modified"], statSync(file).mtime.toUTCString());
});

test("ETag is present and strong (quoted, no W/ prefix)", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/notes.txt");
  const etag = res.headers.etag;
  assert.ok(etag, "ETag missing");
  assert.match(etag, /^"[\x21\x23-\x7e]+"$/); // entity-tag = opaque-tag only: RFC 9110 §8.8.3
  assert.ok(!etag.startsWith("W/"));
});

test("the ETag is stable while the file is unchanged", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const first = await request(server.port, "/notes.txt");
  const second = await request(server.port, "/notes.txt");
  assert.equal(first.headers.etag, second.headers.etag);
});

test("the ETag changes when content changes with the same size and a new mtime", async (t) => {
  const root = tempDir(t, siteTree());
  const file = path.join(root, "notes.txt");
  const server = await serve(t, { root });
  utimesSync(file, new Date("2022-01-01T00:00:00Z"), new Date("2022-01-01T00:00:00Z"));
  const before = await request(server.port, "/notes.txt");
  writeFileSync(file, "PLAIN TEXT\n"); // same length as "plain text\n"
  utimesSync(file, new Date("2022-01-01T00:00:01Z"), new Date("2022-01-01T00:00:01Z"));
  const after = await request(server.port, "/notes.txt");
  assert.equal(after.body.toString(), "PLAIN TEXT\n");
  assert.equal(after.headers["content-length"], before.headers["content-length"]);
  assert.notEqual(after.headers.etag, before.headers.etag);
});

test("the ETag changes when the size changes", async (t) => {
  const root = tempDir(t, siteTree());
  const file = path.join(root, "notes.txt");
  const server = await serve(t, { root });
  const mtime = new Date("2022-01-01T00:00:00Z");
  utimesSync(file, mtime, mtime);
  const before = await request(server.port, "/notes.txt");
  writeFileSync(file, "plain text, longer now\n");
  utimesSync(file, mtime, mtime); // same mtime: only the size tells them apart
  const after = await request(server.port, "/notes.txt");
  assert.equal(after.body.toString(), "plain text, longer now\n");
  assert.notEqual(after.headers.etag, before.headers.etag);
});

test("Accept-Ranges is bytes", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/random.bin");
  assert.equal(res.headers["accept-ranges"], "bytes");
});

test("Cache-Control is no-cache by default", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/notes.txt");
  assert.equal(res.headers["cache-control"], "no-cache");
});

test("Cache-Control is max-age=N with cacheSeconds: N", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()), cacheSeconds: 3600 });
  const res = await request(server.port, "/notes.txt");
  assert.equal(res.headers["cache-control"], "max-age=3600");
});

test("X-Content-Type-Options is nosniff", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/blob.zzqq");
  assert.equal(res.headers["x-content-type-options"], "nosniff");
});

test("Date is present and an IMF-fixdate", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await request(server.port, "/notes.txt");
  assert.match(res.headers.date ?? "", IMF_FIXDATE);
});

// ---------------------------------------------------------------------------------------------
// HEAD, empty files, trailing slash
// ---------------------------------------------------------------------------------------------

test("HEAD gives the same status and headers as GET", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  for (const target of ["/random.bin", "/page.html", "/empty.txt", "/missing.txt"]) {
    const get = await request(server.port, target);
    const head = await request(server.port, target, { method: "HEAD" });
    assert.equal(head.status, get.status, target);
    const strip = (h: Record<string, unknown>) => {
      const { date: _date, connection: _connection, "keep-alive": _keepAlive, ...rest } = h;
      return rest;
    };
    assert.deepEqual(strip(head.headers), strip(get.headers), target);
  }
});

test("HEAD sends no body bytes after the headers", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await rawRequest(server.port, "HEAD /random.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(BINARY.length));
  assert.ok(res.raw.includes("\r\n\r\n"), "no end of headers");
  assert.equal(res.body.length, 0);
});

test("an empty file gives 200 with Content-Length 0", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const res = await rawRequest(server.port, "GET /empty.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), "0");
  assert.equal(res.headers.get("transfer-encoding"), undefined);
  assert.equal(res.body.length, 0);
});

test("a file asked for with a trailing slash gives 404", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  for (const target of ["/notes.txt/", "/folder/inner.txt/", "/x.tar.gz/"]) {
    const res = await request(server.port, target);
    assert.equal(res.status, 404, target);
    assert.ok(!res.body.includes("plain text"), target);
  }
});

// ---------------------------------------------------------------------------------------------
// Extra headers: on every response
// ---------------------------------------------------------------------------------------------

const EXTRA = { "X-Frame-Options": "DENY", "X-Served-By": "serve-here-test" };

const EXTRA_CASES: Array<{ name: string; target: string; method?: string; headers?: Record<string, string>; status: number }> = [
  { name: "a 200 file", target: "/notes.txt", status: 200 },
  { name: "a 200 listing", target: "/folder/", status: 200 },
  { name: "a HEAD", target: "/notes.txt", method: "HEAD", status: 200 },
  { name: "a 206 range", target: "/notes.txt", headers: { Range: "bytes=0-1" }, status: 206 },
  { name: "a 304", target: "/notes.txt", headers: { "If-None-Match": "*" }, status: 304 },
  { name: "a 412", target: "/notes.txt", headers: { "If-Match": '"nope"' }, status: 412 },
  { name: "a 416", target: "/notes.txt", headers: { Range: "bytes=999-1000" }, status: 416 },
  { name: "a 301 folder redirect", target: "/folder", status: 301 },
  { name: "a 404", target: "/missing.txt", status: 404 },
  { name: "a 404 for a dotfile", target: "/.env", status: 404 },
  { name: "a 405", target: "/notes.txt", method: "DELETE", status: 405 },
];

for (const c of EXTRA_CASES) {
  test(`the headers option appears on ${c.name} (${c.status})`, async (t) => {
    const server = await serve(t, { root: tempDir(t, siteTree()), headers: EXTRA });
    const res = await request(server.port, c.target, { method: c.method ?? "GET", headers: c.headers ?? {} });
    assert.equal(res.status, c.status);
    assert.equal(res.headers["x-frame-options"], "DENY");
    assert.equal(res.headers["x-served-by"], "serve-here-test");
  });
}

// ---------------------------------------------------------------------------------------------
// Keep-alive
// ---------------------------------------------------------------------------------------------

test("keep-alive: two requests on one socket both get answers", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const socket = await connect(server.port);
  t.after(() => socket.destroy());

  socket.write("GET /notes.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const [first] = await readResponses(socket, 1);
  socket.write("GET /style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const [second] = await readResponses(socket, 1);

  assert.equal(first!.status, 200);
  assert.equal(first!.body.toString(), "plain text\n");
  assert.equal(second!.status, 200);
  assert.equal(second!.body.toString(), "body { color: red }\n");
  assert.ok(!socket.destroyed, "the server closed a keep-alive connection");
});

test("keep-alive: two pipelined requests on one socket both get answers, in order", async (t) => {
  const server = await serve(t, { root: tempDir(t, siteTree()) });
  const socket = await connect(server.port);
  t.after(() => socket.destroy());
  const answers = readResponses(socket, 2);
  socket.write("GET /random.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /data.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const [first, second] = await answers;
  assert.equal(first!.status, 200);
  assert.deepEqual(first!.body, BINARY);
  assert.equal(second!.status, 200);
  assert.equal(second!.body.toString(), '{"a":1}\n');
});
