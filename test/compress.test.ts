/**
 * Compression: negotiation from Accept-Encoding, on-the-fly br/gzip (cached for small files,
 * streamed for large ones), precompressed sidecars, and how codings meet ETags, preconditions,
 * ranges, HEAD and `compress: false`. `request()` from the helpers does not decompress, so bodies
 * are checked as they came off the wire, then decoded here.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import zlib from "node:zlib";
import { chooseRepresentation, Encodings, HAS_ZSTD, parseAcceptEncoding, type Representation } from "../src/compress.js";
import { newFileCache, readyFile, type ReadyFile } from "../src/files.js";
import { locate } from "../src/locate.js";
import { makePolicy } from "../src/policy.js";
import { parseRawResponse, rawGet, request, serve, tempDir, type SimpleResponse } from "./helpers.js";

/** Text that compresses well, as source code does: `size` bytes of it. */
function compressibleText(size: number, seed = "line"): Buffer {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const line = `export function ${seed}${i}(value) { return value * ${i} + ${(i * 7919) % 1000}; } // ${seed} number ${i}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join("")).subarray(0, size);
}

const TEXT = compressibleText(8 * 1024);
/** Larger than the small-file cache (256 KiB): read from a descriptor and streamed through zlib. */
const LARGE_SIZE = 3 * 1024 * 1024;

function decode(res: SimpleResponse): Buffer {
  switch (res.headers["content-encoding"]) {
    case undefined:
      return res.body;
    case "br":
      return zlib.brotliDecompressSync(res.body);
    case "gzip":
      return zlib.gunzipSync(res.body);
    default:
      throw new Error(`unexpected Content-Encoding ${res.headers["content-encoding"]}`);
  }
}

async function siteWith(t: TestContext, tree: Parameters<typeof tempDir>[1], options: { compress?: boolean } = {}) {
  const root = tempDir(t, tree);
  const server = await serve(t, { root, ...options });
  const get = (target: string, headers: Record<string, string> = {}, method = "GET") => request(server.port, target, { headers, method });
  return { root, server, get };
}

// ---------------------------------------------------------------------------------------------
// Negotiation
// ---------------------------------------------------------------------------------------------

test("br is preferred over gzip when the client weighs them equally", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const res = await get("/app.js", { "Accept-Encoding": "gzip, deflate, br" });
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-encoding"], "br");
});

test("the coding with the higher q wins: gzip;q=1, br;q=0.5 gets gzip", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const res = await get("/app.js", { "Accept-Encoding": "gzip;q=1, br;q=0.5" });
  assert.equal(res.headers["content-encoding"], "gzip");
});

test("a coding with q=0 is never sent: br;q=0, gzip gets gzip", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const res = await get("/app.js", { "Accept-Encoding": "br;q=0, gzip" });
  assert.equal(res.headers["content-encoding"], "gzip");
});

test("* accepts any coding: br is sent", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const res = await get("/app.js", { "Accept-Encoding": "*" });
  assert.equal(res.headers["content-encoding"], "br");
  assert.deepEqual(decode(res), TEXT);
});

test("identity;q=0 with no acceptable coding gets 200 with the file as it is, not 406", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  for (const value of ["identity;q=0", "identity;q=0, compress", "*;q=0", "br;q=0, gzip;q=0, identity;q=0"]) {
    const res = await get("/app.js", { "Accept-Encoding": value });
    assert.equal(res.status, 200, value);
    assert.equal(res.headers["content-encoding"], undefined, value);
    assert.deepEqual(res.body, TEXT, value);
  }
});

test("no Accept-Encoding gets the file as it is, with Vary: Accept-Encoding", async (t) => {
  const { server } = await siteWith(t, { "app.js": TEXT });
  const res = await rawGet(server.port, "/app.js");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), undefined);
  assert.equal(res.headers.get("vary"), "Accept-Encoding");
  assert.equal(res.headers.get("content-length"), String(TEXT.length));
  assert.deepEqual(res.body, TEXT);
});

test("an empty Accept-Encoding gets the file as it is (RFC 9110: no coding wanted)", async (t) => {
  const { server } = await siteWith(t, { "app.js": TEXT });
  const res = await rawGet(server.port, "/app.js", "Accept-Encoding:\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), undefined);
  assert.deepEqual(res.body, TEXT);
});

test("Accept-Encoding is parsed as RFC 9110 says: case, spaces, x-gzip, bad q values, identity preferred", () => {
  const zstd = HAS_ZSTD ? ["zstd"] : [];
  const cases: Array<[string, string[]]> = [
    ["gzip, deflate, br", ["br", "gzip"]],
    ["GZIP", ["gzip"]],
    [" Br ; Q=0.9 ,gzip;q=1", ["gzip", "br"]],
    ["x-gzip", ["gzip"]],
    ["gzip;q=0.5, br;q=0.50", ["br", "gzip"]],
    ["gzip;q=0.001", ["gzip"]],
    ["gzip;q=0.000", []],
    ["br;q=2, gzip", ["gzip"]],
    ["br;q=abc, gzip", ["gzip"]],
    ["br;q=, gzip", ["gzip"]],
    ["br;q=0.5000, gzip;q=0.4", ["gzip"]],
    ["br;level=5, gzip;q=0.5", ["br", "gzip"]],
    ["gzip;q=0, x-gzip", []],
    ["*;q=0.5, gzip", ["gzip", "br", ...zstd]],
    ["*, br;q=0", [...zstd, "gzip"]],
    ["identity, gzip;q=0.5", []],
    ["identity;q=0.5, gzip", ["gzip"]],
    ["identity;q=0.5, gzip;q=0.5", ["gzip"]],
    ["deflate, compress", []],
    ["", []],
    [",,, ;q=1, ", []],
  ];
  for (const [value, expected] of cases) assert.deepEqual(parseAcceptEncoding(value), expected, JSON.stringify(value));
});

test("zstd is sent to a client that asks only for it where Node has it, and never offered where it has not", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const res = await get("/app.js", { "Accept-Encoding": "zstd" });
  if (!HAS_ZSTD) {
    // Node 20 has no zstd: the client gets the file as it is, never a 406 and never a coding it did not ask for.
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], undefined);
    assert.deepEqual(res.body, TEXT);
    return;
  }
  assert.equal(res.headers["content-encoding"], "zstd");
  assert.match(String(res.headers.etag), /-zst"$/);
  const decompress = (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync;
  assert.deepEqual(decompress(res.body), TEXT);
});

// ---------------------------------------------------------------------------------------------
// What is compressed
// ---------------------------------------------------------------------------------------------

test("a compressed body decodes to the file's bytes, for br and for gzip, with its own Content-Length", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT, "data.json": JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ i, name: `item ${i}` })) }) });
  for (const coding of ["br", "gzip"]) {
    for (const target of ["/app.js", "/data.json"]) {
      const original = (await get(target)).body;
      const res = await get(target, { "Accept-Encoding": coding });
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-encoding"], coding, target);
      assert.equal(res.headers["content-length"], String(res.body.length));
      assert.ok(res.body.length < original.length / 2, `${target} ${coding}: ${res.body.length} of ${original.length} bytes`);
      assert.deepEqual(decode(res), original, `${target} ${coding}`);
      assert.equal(res.headers["content-type"], target.endsWith(".js") ? "text/javascript; charset=utf-8" : "application/json; charset=utf-8");
      assert.equal(res.headers["accept-ranges"], undefined, "ranges are of the file, not of this coding");
    }
  }
});

test("a file under 1 KiB is sent as it is, with Vary", async (t) => {
  const small = compressibleText(1023);
  const { get } = await siteWith(t, { "small.js": small, "exact.js": compressibleText(1024) });
  const res = await get("/small.js", { "Accept-Encoding": "br, gzip" });
  assert.equal(res.headers["content-encoding"], undefined);
  assert.equal(res.headers.vary, "Accept-Encoding");
  assert.deepEqual(res.body, small);
  const exact = await get("/exact.js", { "Accept-Encoding": "br, gzip" });
  assert.equal(exact.headers["content-encoding"], "br", "1024 bytes is enough");
});

test("images and woff2 are never compressed, even when they would shrink", async (t) => {
  const { get } = await siteWith(t, { "a.png": TEXT, "b.woff2": TEXT, "c.woff": TEXT, "d.zip": TEXT, "e.mp4": TEXT });
  for (const target of ["/a.png", "/b.woff2", "/c.woff", "/d.zip", "/e.mp4"]) {
    const res = await get(target, { "Accept-Encoding": "br, gzip" });
    assert.equal(res.status, 200, target);
    assert.equal(res.headers["content-encoding"], undefined, target);
    assert.deepEqual(res.body, TEXT, target);
  }
});

test("SVG, wasm, icons and TrueType fonts are compressed", async (t) => {
  const { get } = await siteWith(t, { "a.svg": TEXT, "b.wasm": TEXT, "c.ico": TEXT, "d.ttf": TEXT, "e.webmanifest": TEXT, "f.css": TEXT });
  for (const target of ["/a.svg", "/b.wasm", "/c.ico", "/d.ttf", "/e.webmanifest", "/f.css"]) {
    const res = await get(target, { "Accept-Encoding": "gzip" });
    assert.equal(res.headers["content-encoding"], "gzip", target);
    assert.deepEqual(decode(res), TEXT, target);
  }
});

test("/file.gz asked for by name stays application/gzip, without Content-Encoding", async (t) => {
  const gz = zlib.gzipSync(TEXT);
  const { get } = await siteWith(t, { "x.tar.gz": gz, "y.gz": gz });
  for (const target of ["/x.tar.gz", "/y.gz"]) {
    const res = await get(target, { "Accept-Encoding": "gzip, br" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "application/gzip");
    assert.equal(res.headers["content-encoding"], undefined);
    assert.deepEqual(res.body, gz);
  }
});

test("a large (3 MiB) compressible file streams compressed, chunked, and decodes exactly", async (t) => {
  const large = compressibleText(LARGE_SIZE, "big");
  const { get } = await siteWith(t, { "big.js": large });
  for (const coding of ["br", "gzip"]) {
    const res = await get("/big.js", { "Accept-Encoding": coding });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], coding);
    assert.equal(res.headers["content-length"], undefined, "no length known in advance");
    assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.equal(res.headers.vary, "Accept-Encoding");
    assert.match(String(res.headers.etag), coding === "br" ? /-br"$/ : /-gz"$/);
    assert.ok(decode(res).equals(large), `${coding}: decodes to the file`);
  }
});

test("the root's 404.html is compressed too, with Vary", async (t) => {
  const page = Buffer.from(`<!DOCTYPE html><title>gone</title>${"<p>Nothing here, try the index.</p>\n".repeat(60)}`);
  const { get } = await siteWith(t, { "404.html": page });
  const res = await get("/missing", { "Accept-Encoding": "br" });
  assert.equal(res.status, 404);
  assert.equal(res.headers["content-encoding"], "br");
  assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(res.headers.vary, "Accept-Encoding");
  assert.deepEqual(decode(res), page);
  const plain = await get("/missing");
  assert.equal(plain.headers["content-encoding"], undefined);
  assert.deepEqual(plain.body, page);
});

// ---------------------------------------------------------------------------------------------
// Validators, preconditions, ranges, HEAD
// ---------------------------------------------------------------------------------------------

test("Vary: Accept-Encoding is on 200, 304, 412, 416 and 206", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT, "a.png": TEXT });
  for (const target of ["/app.js", "/a.png"]) {
    for (const accept of [{}, { "Accept-Encoding": "br" }] as Array<Record<string, string>>) {
      const ok = await get(target, accept);
      const etag = String(ok.headers.etag);
      const answers = {
        200: ok,
        304: await get(target, { ...accept, "If-None-Match": etag }),
        412: await get(target, { ...accept, "If-Match": '"nope"' }),
        416: await get(target, { ...accept, Range: "bytes=999999-" }),
        206: await get(target, { ...accept, Range: "bytes=0-9" }),
      };
      for (const [status, res] of Object.entries(answers)) {
        assert.equal(res.status, Number(status), `${target} ${JSON.stringify(accept)}`);
        assert.equal(res.headers.vary, "Accept-Encoding", `${target} ${status} ${JSON.stringify(accept)}`);
      }
    }
  }
});

test("each coding has its own ETag, and If-None-Match with the br one is 304 only for a br request", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const identity = await get("/app.js");
  const br = await get("/app.js", { "Accept-Encoding": "br" });
  const gzip = await get("/app.js", { "Accept-Encoding": "gzip" });
  const tags = [identity, br, gzip].map((r) => String(r.headers.etag));
  assert.equal(new Set(tags).size, 3, `three ETags: ${tags.join(" ")}`);
  assert.equal(tags[1], tags[0]!.slice(0, -1) + '-br"');
  assert.equal(tags[2], tags[0]!.slice(0, -1) + '-gz"');

  const brAgain = await get("/app.js", { "Accept-Encoding": "br", "If-None-Match": tags[1]! });
  assert.equal(brAgain.status, 304);
  assert.equal(brAgain.headers.etag, tags[1]);
  assert.equal(brAgain.body.length, 0);

  const gzipWithBrTag = await get("/app.js", { "Accept-Encoding": "gzip", "If-None-Match": tags[1]! });
  assert.equal(gzipWithBrTag.status, 200);
  assert.equal(gzipWithBrTag.headers["content-encoding"], "gzip");
  assert.deepEqual(decode(gzipWithBrTag), TEXT);

  const identityWithBrTag = await get("/app.js", { "If-None-Match": tags[1]! });
  assert.equal(identityWithBrTag.status, 200);
  assert.deepEqual(identityWithBrTag.body, TEXT);

  const brWithIdentityTag = await get("/app.js", { "Accept-Encoding": "br", "If-Match": tags[0]! });
  assert.equal(brWithIdentityTag.status, 412, "If-Match is judged against the br representation");
});

test("a Range request gets a 206 of the file itself, never a slice of a compressed stream", async (t) => {
  const large = compressibleText(LARGE_SIZE, "big");
  const { get } = await siteWith(t, { "app.js": TEXT, "big.js": large });
  for (const [target, content] of [["/app.js", TEXT], ["/big.js", large]] as const) {
    const res = await get(target, { "Accept-Encoding": "br, gzip", Range: "bytes=100-199" });
    assert.equal(res.status, 206, target);
    assert.equal(res.headers["content-encoding"], undefined, target);
    assert.equal(res.headers["content-range"], `bytes 100-199/${content.length}`);
    assert.deepEqual(res.body, content.subarray(100, 200), target);
  }
});

test("If-Range with a coding's ETag gets the whole file as it is (the partial body is another representation)", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT });
  const br = await get("/app.js", { "Accept-Encoding": "br" });
  const res = await get("/app.js", { "Accept-Encoding": "br", Range: "bytes=0-9", "If-Range": String(br.headers.etag) });
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-encoding"], undefined);
  assert.deepEqual(res.body, TEXT);
});

test("HEAD gets exactly the headers GET gets, for a cached, a streamed and a sidecar coding", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT, "big.js": compressibleText(LARGE_SIZE, "big"), "side.js": TEXT, "side.js.gz": zlib.gzipSync(TEXT) });
  const comparable = (res: SimpleResponse) => {
    const { date: _date, "transfer-encoding": _te, connection: _c, "keep-alive": _k, ...rest } = res.headers;
    return rest;
  };
  for (const target of ["/app.js", "/big.js", "/side.js"]) {
    for (const accept of ["br", "gzip", ""]) {
      const headers: Record<string, string> = accept ? { "Accept-Encoding": accept } : {};
      const get1 = await get(target, headers);
      const head = await get(target, headers, "HEAD");
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.deepEqual(comparable(head), comparable(get1), `${target} ${accept || "identity"}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Freshness through the compressed cache
// ---------------------------------------------------------------------------------------------

test("an edited file's next compressed response is the new content (new size; same size with the mtime put back)", async (t) => {
  const { root, get } = await siteWith(t, {});
  const file = path.join(root, "app.js");
  let current = compressibleText(4096, "v0");
  fs.writeFileSync(file, current);
  fs.utimesSync(file, 1_600_000_000, 1_600_000_000);
  for (let cycle = 1; cycle <= 20; cycle++) {
    for (const coding of ["br", "gzip"]) {
      for (let i = 0; i < 3; i++) assert.deepEqual(decode(await get("/app.js", { "Accept-Encoding": coding })), current, `cycle ${cycle} ${coding}: warm-up`);
    }
    // Odd cycles change the size; even ones keep size, inode and mtime (only ctime moves).
    const sameSize = cycle % 2 === 0;
    current = compressibleText(sameSize ? current.length : 4096 + cycle, `v${cycle}-${randomBytes(3).toString("hex")}`);
    if (sameSize) {
      const fd = fs.openSync(file, "r+");
      fs.writeSync(fd, current, 0, current.length, 0);
      fs.closeSync(fd);
    } else {
      fs.writeFileSync(file, current);
    }
    fs.utimesSync(file, 1_600_000_000, 1_600_000_000);
    for (const coding of ["br", "gzip"]) {
      const res = await get("/app.js", { "Accept-Encoding": coding });
      assert.equal(res.headers["content-encoding"], coding);
      assert.deepEqual(decode(res), current, `cycle ${cycle} ${coding}: the very next request`);
    }
  }
});

test("a file rewritten at once, with the mtime the clock gives: every compressed response is the new content (50 cycles)", async (t) => {
  // Two writes within one timestamp tick may leave size, mtime and ctime as they were: the settling
  // rule must keep such a version out of the compressed cache as it keeps it out of the file cache.
  const { root, get } = await siteWith(t, {});
  const file = path.join(root, "rapid.js");
  let current = compressibleText(2048, "r0");
  fs.writeFileSync(file, current);
  for (let cycle = 1; cycle <= 50; cycle++) {
    assert.deepEqual(decode(await get("/rapid.js", { "Accept-Encoding": "br" })), current, `cycle ${cycle}: before`);
    current = compressibleText(2048, `r${cycle}-${randomBytes(3).toString("hex")}`);
    fs.writeFileSync(file, current);
    const [a, b] = await Promise.all([get("/rapid.js", { "Accept-Encoding": "br" }), get("/rapid.js", { "Accept-Encoding": "gzip" })]);
    assert.deepEqual(decode(a!), current, `cycle ${cycle}: br after the rewrite`);
    assert.deepEqual(decode(b!), current, `cycle ${cycle}: gzip after the rewrite`);
  }
});

// ---------------------------------------------------------------------------------------------
// Precompressed sidecars
// ---------------------------------------------------------------------------------------------

/** A sidecar's bytes: compressed at the highest level, so they differ from what we would make. */
const BR_SIDECAR = zlib.brotliCompressSync(TEXT, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } });
const GZ_SIDECAR = zlib.gzipSync(TEXT, { level: 9 });

test("a sidecar is sent as it is: its bytes and length, the original's Content-Type, Content-Encoding, an ETag of both files", async (t) => {
  const { root, get } = await siteWith(t, { "app.js": TEXT, "app.js.br": BR_SIDECAR, "app.js.gz": GZ_SIDECAR });
  const identity = await get("/app.js");
  const br = await get("/app.js", { "Accept-Encoding": "br, gzip" });
  assert.equal(br.status, 200);
  assert.equal(br.headers["content-encoding"], "br");
  assert.equal(br.headers["content-type"], "text/javascript; charset=utf-8");
  assert.equal(br.headers["content-length"], String(BR_SIDECAR.length));
  assert.deepEqual(br.body, BR_SIDECAR);
  assert.equal(br.headers.vary, "Accept-Encoding");
  assert.equal(br.headers["last-modified"], fs.statSync(path.join(root, "app.js.br")).mtime.toUTCString());
  const etag = String(br.headers.etag);
  assert.match(etag, /-br"$/);
  assert.ok(etag.startsWith(String(identity.headers.etag).slice(0, -1)), `${etag} is made from the file's ETag too`);

  const gz = await get("/app.js", { "Accept-Encoding": "gzip" });
  assert.deepEqual(gz.body, GZ_SIDECAR);
  assert.equal(gz.headers["content-length"], String(GZ_SIDECAR.length));
  assert.match(String(gz.headers.etag), /-gz"$/);

  const again = await get("/app.js", { "Accept-Encoding": "br", "If-None-Match": etag });
  assert.equal(again.status, 304);

  // The sidecar changes: so does the ETag, though the file did not.
  fs.writeFileSync(path.join(root, "app.js.br"), zlib.brotliCompressSync(TEXT));
  const changed = await get("/app.js", { "Accept-Encoding": "br", "If-None-Match": etag });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.etag, etag);
});

test("a sidecar of the client's second choice is used before compressing with its first", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT, "app.js.gz": GZ_SIDECAR });
  const res = await get("/app.js", { "Accept-Encoding": "br, gzip" });
  assert.equal(res.headers["content-encoding"], "gzip");
  assert.deepEqual(res.body, GZ_SIDECAR);
});

test("a sidecar serves a folder's index.html, and files of any type and size", async (t) => {
  const tiny = Buffer.from("<p>hi</p>\n");
  const { get } = await siteWith(t, { site: { "index.html": tiny, "index.html.gz": zlib.gzipSync(tiny) }, "a.png": TEXT, "a.png.gz": GZ_SIDECAR });
  const index = await get("/site/", { "Accept-Encoding": "gzip" });
  assert.equal(index.headers["content-encoding"], "gzip");
  assert.equal(index.headers["content-type"], "text/html; charset=utf-8");
  assert.deepEqual(decode(index), tiny);
  const png = await get("/a.png", { "Accept-Encoding": "gzip" });
  assert.equal(png.headers["content-type"], "image/png");
  assert.deepEqual(png.body, GZ_SIDECAR);
});

test("a large sidecar is sent from its descriptor, with its length", async (t) => {
  // Hex digits compress to about half: a sidecar well over the 256 KiB of the small-file cache.
  const large = Buffer.from(randomBytes(LARGE_SIZE / 2).toString("hex"));
  const sidecar = zlib.gzipSync(large, { level: 1 });
  assert.ok(sidecar.length > 256 * 1024);
  const { get } = await siteWith(t, { "big.js": large, "big.js.gz": sidecar });
  const res = await get("/big.js", { "Accept-Encoding": "gzip" });
  assert.equal(res.headers["content-length"], String(sidecar.length));
  assert.ok(res.body.equals(sidecar));
  assert.ok(zlib.gunzipSync(res.body).equals(large));
});

test("a sidecar older than its file is ignored: the file is compressed on the fly", async (t) => {
  const { root, get } = await siteWith(t, { "app.js": TEXT, "app.js.br": Buffer.from("stale bytes, not brotli at all") });
  fs.utimesSync(path.join(root, "app.js.br"), 1_600_000_000, 1_600_000_000);
  fs.utimesSync(path.join(root, "app.js"), 1_600_000_001, 1_600_000_001);
  const res = await get("/app.js", { "Accept-Encoding": "br" });
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-encoding"], "br");
  assert.deepEqual(decode(res), TEXT);
  // Made as old as the file (gzip -k and brotli -k keep the file's mtime): no longer stale.
  fs.utimesSync(path.join(root, "app.js.br"), 1_600_000_001, 1_600_000_001);
  const same = await get("/app.js", { "Accept-Encoding": "br" });
  assert.equal(same.body.toString(), "stale bytes, not brotli at all");
});

test("a sidecar that is a symlink leading out of the root is never sent", async (t) => {
  const outside = tempDir(t, { "evil.br": "OUTSIDE THE ROOT" });
  const { root, get } = await siteWith(t, { "app.js": TEXT });
  fs.symlinkSync(path.join(outside, "evil.br"), path.join(root, "app.js.br"));
  const res = await get("/app.js", { "Accept-Encoding": "br" });
  assert.equal(res.status, 200);
  assert.ok(!res.body.includes("OUTSIDE THE ROOT"));
  assert.deepEqual(decode(res), TEXT);
});

test("a sidecar that is a symlink inside the root is sent", async (t) => {
  const { root, get } = await siteWith(t, { "app.js": TEXT, build: { "app.js.gz": GZ_SIDECAR } });
  fs.symlinkSync("build/app.js.gz", path.join(root, "app.js.gz"));
  const res = await get("/app.js", { "Accept-Encoding": "gzip" });
  assert.deepEqual(res.body, GZ_SIDECAR);
});

test("a hidden name's sidecar is not reachable: /.env.br is 404, and /.env is 404 even to a client accepting br", async (t) => {
  const { get } = await siteWith(t, { ".env": TEXT, ".env.br": BR_SIDECAR, "ok.js": TEXT });
  assert.equal((await get("/.env.br", { "Accept-Encoding": "br" })).status, 404);
  assert.equal((await get("/.env", { "Accept-Encoding": "br" })).status, 404);
  assert.equal((await get("/ok.js", { "Accept-Encoding": "br" })).status, 200);
});

test("a sidecar is never used for a Range request", async (t) => {
  const { get } = await siteWith(t, { "app.js": TEXT, "app.js.gz": GZ_SIDECAR });
  const res = await get("/app.js", { "Accept-Encoding": "gzip", Range: "bytes=0-99" });
  assert.equal(res.status, 206);
  assert.equal(res.headers["content-encoding"], undefined);
  assert.deepEqual(res.body, TEXT.subarray(0, 100));
});

// ---------------------------------------------------------------------------------------------
// compress: false
// ---------------------------------------------------------------------------------------------

test("compress: false sends every file as it is, ignores sidecars and sends no Vary", async (t) => {
  const large = compressibleText(LARGE_SIZE, "big");
  const { get } = await siteWith(t, { "app.js": TEXT, "side.js": TEXT, "side.js.br": BR_SIDECAR, "big.js": large, "404.html": compressibleText(4096) }, { compress: false });
  for (const [target, content] of [["/app.js", TEXT], ["/side.js", TEXT], ["/big.js", large]] as const) {
    const res = await get(target, { "Accept-Encoding": "br, gzip" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], undefined, target);
    assert.equal(res.headers.vary, undefined, target);
    assert.ok(res.body.equals(content), target);
    assert.doesNotMatch(String(res.headers.etag), /-(br|gz)"$/);
  }
  const missing = await get("/missing", { "Accept-Encoding": "br" });
  assert.equal(missing.status, 404);
  assert.equal(missing.headers["content-encoding"], undefined);
  assert.equal(missing.headers.vary, undefined);
});

test("a large file that shrinks while it is compressed and sent: the response ends at once, unfinished", async (t) => {
  // Pipelined behind a 32 MiB download the client holds back, the compressed response's file is
  // already open (its size known) when it is truncated, and only read afterwards: no race.
  const { root, server } = await siteWith(t, { "shrinking.txt": compressibleText(4 * 1024 * 1024, "shrink") });
  const filler = path.join(root, "filler.bin");
  fs.closeSync(fs.openSync(filler, "w"));
  fs.truncateSync(filler, 32 * 1024 * 1024);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(server.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("the shrunk response never ended"));
    }, 20_000);
    socket.once("data", () => {
      socket.pause();
      fs.truncateSync(path.join(root, "shrinking.txt"), 1000);
      socket.resume();
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => {}); // a reset is how an unfinished body may end
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write("GET /filler.bin HTTP/1.1\r\nHost: localhost\r\n\r\nGET /shrinking.txt HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n");
  });
  const first = parseRawResponse(raw);
  assert.equal(first.status, 200);
  const secondAt = raw.indexOf("\r\n\r\n") + 4 + 32 * 1024 * 1024;
  assert.ok(raw.length >= secondAt, "the download before it is whole");
  // The connection closed (we are here); what came of the second answer, if anything, is unfinished.
  // When the compressor had produced nothing yet, not even its head went out.
  if (raw.length > secondAt) {
    const second = parseRawResponse(raw.subarray(secondAt));
    assert.equal(second.status, 200);
    assert.equal(second.headers.get("content-encoding"), "br");
    assert.ok(!second.body.subarray(-5).equals(Buffer.from("0\r\n\r\n")), "the chunked body was not finished as if complete");
  }
  assert.equal((await request(server.port, "/shrinking.txt")).body.length, 1000, "the next request sees the file as it is now");
});

test("bytes that are not the file's own (live reload's page) never take a sidecar, and never share a cached compression with the file", async (t) => {
  // Live reload hands this step a ReadyFile whose bytes are the page with a script injected, its
  // ETag marked `-live`, and `transformed: true`. This calls the step as the handler would.
  const page = compressibleText(4096, "page");
  const root = tempDir(t, { "index.html": page, "index.html.br": BR_SIDECAR });
  const policy = makePolicy({ root });
  const encodings = new Encodings(newFileCache()); // the caches the handler would keep beside its policy
  const segments = [Buffer.from("index.html")];
  const req = new http.IncomingMessage(new net.Socket());
  req.method = "GET";
  req.headers = { "accept-encoding": "br" };
  const origin = () => {
    const found = locate(segments, policy);
    assert.ok(found?.kind === "file");
    return { segments, found, statedAt: Date.now() + 10_000 }; // as if read long after it settled
  };
  const ready = () => {
    const file = readyFile(origin().found, policy, encodings.files);
    assert.ok(file !== "changed" && file.source.kind === "memory");
    return file as ReadyFile & { source: { kind: "memory"; data: Buffer } };
  };
  const injected = (): ReadyFile => {
    const file = ready();
    const data = Buffer.concat([file.source.data, Buffer.from('<script src="/__serve-here/live.js"></script>\n')]);
    return { meta: { ...file.meta, etag: file.meta.etag.slice(0, -1) + '-live"', size: data.length }, source: { kind: "memory", data }, transformed: true };
  };
  const bytesOf = (chosen: Representation) => {
    assert.equal(chosen.kind, "encoded");
    const body = (chosen as Extract<Representation, { kind: "encoded" }>).body;
    assert.equal(body.kind, "bytes");
    return zlib.brotliDecompressSync((body as { data: Buffer }).data);
  };

  const plain = chooseRepresentation(req, ready(), origin(), policy, encodings);
  assert.equal(bytesOf(plain).toString(), TEXT.toString(), "the plain file gets its sidecar");
  for (let i = 0; i < 2; i++) {
    const live = chooseRepresentation(req, injected(), origin(), policy, encodings);
    assert.ok(bytesOf(live).toString().endsWith("live.js\"></script>\n"), "the injected page is compressed, not replaced by the sidecar");
    assert.match(live.meta.etag, /-live-br"$/);
  }
  fs.unlinkSync(path.join(root, "index.html.br"));
  for (let i = 0; i < 2; i++) {
    const file = chooseRepresentation(req, ready(), origin(), policy, encodings);
    assert.deepEqual(bytesOf(file), page, "the file compressed on the fly is the file, not the cached injected page");
    assert.doesNotMatch(file.meta.etag, /-live/);
    assert.ok(bytesOf(chooseRepresentation(req, injected(), origin(), policy, encodings)).toString().endsWith("</script>\n"));
  }
});
