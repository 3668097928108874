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
import { chooseRepresentation, encodePage, Encodings, HAS_ZSTD, MIN_COMPRESS_SIZE, PageEncodings, parseAcceptEncoding, type Representation } from "../src/compress.js";
import { newFileCache, readyFile, RevalidatedCache, type ReadyFile } from "../src/files.js";
import { locate } from "../src/locate.js";
import { makePolicy } from "../src/policy.js";
import { LIVE_SCRIPT_TAG } from "../src/live.js";
import { errorPage, htmlPage, type Reply } from "../src/reply.js";
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
    case "zstd":
      return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(res.body);
    default:
      throw new Error(`unexpected Content-Encoding ${res.headers["content-encoding"]}`);
  }
}

async function siteWith(t: TestContext, tree: Parameters<typeof tempDir>[1], options: { compress?: boolean; live?: boolean } = {}) {
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
  assert.match(String(plain.headers.etag), /^"[^"]+"$/);
  assert.equal(res.headers.etag, String(plain.headers.etag).slice(0, -1) + '-br"', "an ETag per coding, as for the file");
  assert.equal((await get("/missing", { "Accept-Encoding": "br", "If-None-Match": String(res.headers.etag) })).status, 404, "a 404 is never a 304");
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

// ---------------------------------------------------------------------------------------------
// Generated pages: listings (HTML and JSON) and error pages
// ---------------------------------------------------------------------------------------------

/** A folder of 1,000 files with names a camera, a build and a person would make, of varied sizes. */
function thousandFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < 1000; i++) {
    const name = [`IMG_${20240101 + (i % 28)}_${String((i * 7919) % 100000).padStart(5, "0")}.jpg`, `chunk-${(i * 2654435761) % 4294967296}.js`, `notes ${i} (draft).md`][i % 3]!;
    files[name] = "x".repeat((i * 37) % 200);
  }
  return files;
}

/** The codings a page may be sent in here: zstd only where Node has it. */
const PAGE_CODINGS = HAS_ZSTD ? (["br", "gzip", "zstd"] as const) : (["br", "gzip"] as const);
const ETAG_MARK = { br: "-br", gzip: "-gz", zstd: "-zst" } as const;

test("a 1,000-entry listing as br is at most a fifth of its identity size, and each coding decodes to exactly the identity bytes", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() });
  const identity = await get("/many/");
  assert.equal(identity.status, 200);
  assert.equal(identity.headers["content-encoding"], undefined);
  assert.equal(identity.headers["content-length"], String(identity.body.length));
  const missing = Object.keys(thousandFiles()).filter((name) => !identity.body.includes(`>${name}<`));
  assert.deepEqual(missing, [], "every entry is on the page");
  for (const coding of PAGE_CODINGS) {
    const res = await get("/many/", { "Accept-Encoding": coding });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], coding);
    assert.equal(res.headers["content-length"], String(res.body.length));
    assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
    assert.deepEqual(decode(res), identity.body, coding);
  }
  const br = await get("/many/", { "Accept-Encoding": "br, gzip" });
  assert.equal(br.headers["content-encoding"], "br");
  assert.ok(br.body.length * 5 <= identity.body.length, `br ${br.body.length} bytes of ${identity.body.length}`);
});

test("zstd is sent for a listing where Node has it; on Node 20 a client asking zstd first gets gzip, or the page as it is", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() });
  const identity = await get("/many/");
  const only = await get("/many/", { "Accept-Encoding": "zstd" });
  const first = await get("/many/", { "Accept-Encoding": "zstd, gzip;q=0.5" });
  if (HAS_ZSTD) {
    assert.equal(only.headers["content-encoding"], "zstd");
    assert.match(String(only.headers.etag), /-zst"$/);
    assert.equal(first.headers["content-encoding"], "zstd");
  } else {
    assert.equal(only.headers["content-encoding"], undefined, "no coding the client did not ask for, never a 406");
    assert.equal(only.headers.etag, identity.headers.etag);
    assert.equal(first.headers["content-encoding"], "gzip");
  }
  assert.deepEqual(decode(only), identity.body);
  assert.deepEqual(decode(first), identity.body);
});

test("a listing asked for with identity, br;q=0 or nothing acceptable is sent as it is, with the identity ETag", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() });
  const identity = await get("/many/");
  for (const value of ["identity", "br;q=0", "identity;q=0", "compress", "br;q=0, gzip;q=0"]) {
    const res = await get("/many/", { "Accept-Encoding": value });
    assert.equal(res.headers["content-encoding"], undefined, value);
    assert.equal(res.headers.etag, identity.headers.etag, value);
    assert.deepEqual(res.body, identity.body, value);
  }
  assert.equal((await get("/many/", { "Accept-Encoding": "br;q=0, gzip" })).headers["content-encoding"], "gzip");
});

test("the JSON listing is compressed too, and decodes to the identity JSON", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() });
  const identity = await get("/many/?format=json");
  assert.equal(identity.headers["content-type"], "application/json; charset=utf-8");
  assert.equal(JSON.parse(identity.body.toString()).length, 1000);
  const accept = { Accept: "application/json" };
  for (const coding of PAGE_CODINGS) {
    const res = await get("/many/", { ...accept, "Accept-Encoding": coding });
    assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
    assert.equal(res.headers["content-encoding"], coding);
    assert.equal(res.headers.vary, "Accept-Encoding, Accept");
    assert.ok(res.body.length * 5 <= identity.body.length, `${coding} ${res.body.length} bytes of ${identity.body.length}`);
    assert.deepEqual(decode(res), identity.body, coding);
  }
});

test("Vary is exact: Accept-Encoding, Accept on both listings; Accept-Encoding on error pages; with --live, Sec-Fetch-Dest too", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles(), "small.txt": "s" });
  const asked: Array<Record<string, string>> = [{}, { "Accept-Encoding": "br" }, { Accept: "application/json" }, { Accept: "application/json", "Accept-Encoding": "gzip" }];
  for (const headers of asked) {
    assert.equal((await get("/many/", headers)).headers.vary, "Accept-Encoding, Accept", JSON.stringify(headers));
  }
  assert.equal((await get("/missing", { "Accept-Encoding": "br" })).headers.vary, "Accept-Encoding");
  assert.equal((await get("/%zz", { "Accept-Encoding": "br" })).headers.vary, "Accept-Encoding");
  const live = await siteWith(t, { many: thousandFiles() }, { live: true });
  assert.equal((await live.get("/many/", { "Accept-Encoding": "br" })).headers.vary, "Accept-Encoding, Sec-Fetch-Dest, Accept");
  assert.equal((await live.get("/many/?format=json", { "Accept-Encoding": "br" })).headers.vary, "Accept-Encoding, Sec-Fetch-Dest, Accept");
});

test("a listing has an ETag per coding, and If-None-Match with the one this request would get is 304 (GET and HEAD)", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() });
  const identity = await get("/many/");
  const tag = String(identity.headers.etag);
  assert.match(tag, /^"[^"]+"$/, "strong");
  const tags = new Set([tag]);
  for (const coding of PAGE_CODINGS) {
    const res = await get("/many/", { "Accept-Encoding": coding });
    assert.equal(res.headers.etag, tag.slice(0, -1) + ETAG_MARK[coding] + '"', coding);
    tags.add(String(res.headers.etag));
    for (const method of ["GET", "HEAD"]) {
      const again = await get("/many/", { "Accept-Encoding": coding, "If-None-Match": String(res.headers.etag) }, method);
      assert.equal(again.status, 304, `${method} ${coding}`);
      assert.equal(again.body.length, 0);
      assert.equal(again.headers.etag, res.headers.etag);
      assert.equal(again.headers.vary, "Accept-Encoding, Accept");
      assert.equal(again.headers["cache-control"], "no-cache");
      assert.equal(again.headers["content-encoding"], undefined);
    }
  }
  assert.equal(tags.size, PAGE_CODINGS.length + 1, "every coding its own ETag");
  const br = String((await get("/many/", { "Accept-Encoding": "br" })).headers.etag);
  assert.equal((await get("/many/", { "Accept-Encoding": "gzip", "If-None-Match": br })).status, 200, "the br ETag does not validate the gzip bytes");
  assert.equal((await get("/many/", { "If-None-Match": br })).status, 200, "nor the page as it is");
  assert.equal((await get("/many/", { "Accept-Encoding": "br", "If-None-Match": `"other", ${br}` })).status, 304, "a list holding it");
  assert.equal((await get("/many/", { "Accept-Encoding": "br", "If-None-Match": "*" })).status, 304);
  assert.equal((await get("/many/", { "Accept-Encoding": "br", "If-Match": '"other"' })).status, 412);
  assert.equal((await get("/many/", { "Accept-Encoding": "br", "If-Match": br })).status, 200);
  // A page has no Last-Modified, so dates judge nothing (RFC 9110 §13.1.3, §13.1.4).
  assert.equal(identity.headers["last-modified"], undefined);
  assert.equal((await get("/many/", { "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT" })).status, 200);
  assert.equal((await get("/many/", { "If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT" })).status, 200);
});

test("HEAD of a listing gets the headers GET gets, in every coding", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() });
  for (const coding of ["identity", ...PAGE_CODINGS]) {
    const getRes = await get("/many/", { "Accept-Encoding": coding });
    const head = await get("/many/", { "Accept-Encoding": coding }, "HEAD");
    assert.equal(head.body.length, 0);
    for (const name of ["content-type", "content-length", "content-encoding", "etag", "vary", "cache-control", "content-security-policy"]) {
      assert.equal(head.headers[name], getRes.headers[name], `${coding}: ${name}`);
    }
  }
});

test("a changed folder gets a new ETag, and the old one no longer validates", async (t) => {
  const { root, get } = await siteWith(t, { many: thousandFiles() });
  const before = await get("/many/", { "Accept-Encoding": "br" });
  fs.writeFileSync(path.join(root, "many", "added.txt"), "new");
  const added = await get("/many/", { "Accept-Encoding": "br", "If-None-Match": String(before.headers.etag) });
  assert.equal(added.status, 200, "a new file: a new page");
  assert.notEqual(added.headers.etag, before.headers.etag);
  assert.match(decode(added).toString(), /added\.txt/);
  // A file that grows changes its row but not the folder's own version.
  fs.writeFileSync(path.join(root, "many", "added.txt"), "newer and longer");
  const grown = await get("/many/", { "Accept-Encoding": "br", "If-None-Match": String(added.headers.etag) });
  assert.equal(grown.status, 200, "a new size: a new page");
  assert.notEqual(grown.headers.etag, added.headers.etag);
  assert.equal((await get("/many/", { "Accept-Encoding": "br", "If-None-Match": String(grown.headers.etag) })).status, 304);
});

test("the generic 404 and 400 pages are under 1 KiB, so they go as they are, with an ETag, Vary, and never a 304", async (t) => {
  const { get } = await siteWith(t, { "a.txt": "a" });
  for (const [target, status] of [["/missing", 404], ["/%zz", 400]] as const) {
    const res = await get(target, { "Accept-Encoding": "br, gzip" });
    assert.equal(res.status, status);
    assert.ok(res.body.length < MIN_COMPRESS_SIZE, `${target}: ${res.body.length} bytes, under the ${MIN_COMPRESS_SIZE} a coding needs`);
    assert.equal(res.headers["content-encoding"], undefined, target);
    assert.equal(res.headers.vary, "Accept-Encoding", target);
    assert.match(String(res.headers.etag), /^"[^"]+"$/, target);
    // An error status is never turned into a 304 or a 412 (RFC 9110 §13.2.1).
    assert.equal((await get(target, { "If-None-Match": String(res.headers.etag) })).status, status, `${target}: If-None-Match`);
    assert.equal((await get(target, { "If-Match": '"other"' })).status, status, `${target}: If-Match`);
  }
  const json = await get("/?format=json", { "Accept-Encoding": "br" });
  assert.equal(json.headers["content-encoding"], undefined, "a JSON listing under 1 KiB goes as it is too");
  assert.equal(json.headers.vary, "Accept-Encoding, Accept");
});

/** A request as the handler sees it, for calling a step directly. */
function fakeRequest(headers: Record<string, string>): http.IncomingMessage {
  const req = new http.IncomingMessage(new net.Socket());
  req.method = "GET";
  req.headers = headers;
  return req;
}

test("an error page of 1 KiB or more is compressed like a listing, keeping its status (serve-here's own are smaller)", () => {
  const policy = makePolicy({ root: "/" });
  const html = `<!DOCTYPE html><title>404</title>${"<p>Nothing here; the index lists what there is.</p>\n".repeat(40)}`;
  const { reply, etag } = encodePage(fakeRequest({ "accept-encoding": "gzip" }), htmlPage(404, html), policy, new PageEncodings());
  assert.equal(reply.status, 404);
  assert.equal(reply.headers["Content-Encoding"], "gzip");
  assert.equal(reply.headers.ETag, etag);
  assert.match(etag, /-gz"$/);
  assert.equal(reply.body.kind, "bytes");
  assert.equal(zlib.gunzipSync((reply.body as { data: Buffer }).data).toString(), html);
  assert.equal(reply.headers["Content-Length"], String((reply.body as { data: Buffer }).data.length));
});

test("a page unchanged since the last request is not compressed again: the same body gets the very same encoded bytes", () => {
  const policy = makePolicy({ root: "/" });
  const pages = new PageEncodings();
  const page = htmlPage(200, compressibleText(64 * 1024, "row"));
  const bodyOf = (reply: Reply) => (reply.body as { data: Buffer }).data;
  for (const coding of PAGE_CODINGS) {
    const req = fakeRequest({ "accept-encoding": coding });
    const first = encodePage(req, page, policy, pages);
    const second = encodePage(req, { ...page, note: "another request" }, policy, pages);
    assert.equal(bodyOf(second.reply), bodyOf(first.reply), `${coding}: the kept encoding, not a new one`);
    assert.equal(second.etag, first.etag);
  }
  // Equal bytes in another Buffer (a page made again) are the same representation: the same ETag.
  const remade = htmlPage(200, Buffer.from(bodyOf(page)));
  assert.equal(encodePage(fakeRequest({}), remade, policy, pages).etag, encodePage(fakeRequest({}), page, policy, pages).etag);
  // A constant page (an error page) is one body for ever.
  assert.equal(errorPage(404).body, errorPage(404).body);
});

test("an unchanged listing is compressed once: repeated requests, live navigations too, reuse its encoding until the folder changes", async (t) => {
  let compressions = 0;
  const brotliCompressSync = zlib.brotliCompressSync;
  zlib.brotliCompressSync = (...args: Parameters<typeof brotliCompressSync>) => (compressions++, brotliCompressSync(...args));
  t.after(() => (zlib.brotliCompressSync = brotliCompressSync));
  for (const live of [false, true]) {
    const { root, get } = await siteWith(t, { many: thousandFiles() }, { live });
    // A folder changed within the last second is read again on every request (folders.ts keeps
    // only settled versions), and so is its page made again; this one has settled.
    await new Promise((resolve) => setTimeout(resolve, RevalidatedCache.SETTLE_MS + 100));
    const asked: Record<string, string> = live ? { "Accept-Encoding": "br", "Sec-Fetch-Dest": "document", Accept: "text/html" } : { "Accept-Encoding": "br" };
    compressions = 0;
    const first = await get("/many/", asked);
    for (let i = 0; i < 4; i++) assert.deepEqual((await get("/many/", asked)).body, first.body);
    assert.equal(compressions, 1, `live: ${live}: one compression for five requests`);
    fs.writeFileSync(path.join(root, "many", "notes 1 (draft).md"), "longer than before");
    const changed = await get("/many/", asked);
    assert.notEqual(changed.headers.etag, first.headers.etag);
    assert.equal(compressions, 2, `live: ${live}: a changed row is a new page, compressed once more`);
  }
});

test("compress: false sends listings and error pages as they are, with their ETag and no Accept-Encoding in Vary", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() }, { compress: false });
  const identity = await get("/many/");
  const asked: Array<Record<string, string>> = [{ "Accept-Encoding": "br, gzip" }, { "Accept-Encoding": "gzip", Accept: "application/json" }];
  for (const headers of asked) {
    const res = await get("/many/", headers);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(res.headers.vary, "Accept");
    assert.match(String(res.headers.etag), /^"[^"]+"$/);
    assert.doesNotMatch(String(res.headers.etag), /-(br|gz|zst)"$/);
    assert.equal(res.headers["content-length"], String(res.body.length));
  }
  assert.deepEqual((await get("/many/", { "Accept-Encoding": "br" })).body, identity.body);
  assert.equal((await get("/many/", { "If-None-Match": String(identity.headers.etag) })).status, 304, "validators do not need compression");
  const missing = await get("/missing", { "Accept-Encoding": "br" });
  assert.equal(missing.headers.vary, undefined);
  assert.equal(missing.headers["content-encoding"], undefined);
});

test("with --live, a listing navigation is compressed with the live script inside, and its ETag is not the plain page's", async (t) => {
  const { get } = await siteWith(t, { many: thousandFiles() }, { live: true });
  const navigation = { "Sec-Fetch-Dest": "document", Accept: "text/html" };
  const plain = await get("/many/", { "Accept-Encoding": "br" });
  const identity = await get("/many/", navigation);
  assert.ok(identity.body.includes(LIVE_SCRIPT_TAG), "the identity navigation has the script");
  for (const coding of PAGE_CODINGS) {
    const res = await get("/many/", { ...navigation, "Accept-Encoding": coding });
    assert.equal(res.headers["content-encoding"], coding);
    assert.deepEqual(decode(res), identity.body, `${coding}: the decorated page, script and all`);
    assert.equal(res.headers.etag, String(identity.headers.etag).slice(0, -1) + ETAG_MARK[coding] + '"');
    assert.equal((await get("/many/", { ...navigation, "Accept-Encoding": coding, "If-None-Match": String(res.headers.etag) })).status, 304);
  }
  assert.ok(!decode(plain).includes(LIVE_SCRIPT_TAG), "a fetch that is not a navigation gets no script");
  assert.notEqual(plain.headers.etag, (await get("/many/", { ...navigation, "Accept-Encoding": "br" })).headers.etag);
});
