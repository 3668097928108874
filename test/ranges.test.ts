/**
 * Range requests, RFC 9110 §14: single ranges, multipart/byteranges, coalescing, the limits that
 * turn an abusive Range into a plain 200, 416, headers we ignore, If-Range, and a table of odd
 * header values sent over raw sockets, each of which must get a well-formed answer.
 */
import assert from "node:assert/strict";
import { utimesSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { rawRequest, request, serve, tempDir, type RawResponse } from "./helpers.js";

const TEN = "0123456789";
const ALPHABET = "abcdefghijklmnopqrstuvwxyz";
const THOUSAND = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(0x21 + (i % 90))).join(""));
const MTIME = new Date("2020-06-15T12:00:00.000Z");
const LAST_MODIFIED = "Mon, 15 Jun 2020 12:00:00 GMT";

async function fixture(t: TestContext) {
  const root = tempDir(t, { "ten.txt": TEN, "abc.txt": ALPHABET, "k.bin": THOUSAND, "empty.txt": "" });
  for (const name of ["ten.txt", "abc.txt", "k.bin", "empty.txt"]) utimesSync(path.join(root, name), MTIME, MTIME);
  const server = await serve(t, { root });
  return { root, server };
}

/** A GET over a raw socket with the given header lines, read until the server closes. */
function rawGetWith(port: number, target: string, headerLines: string[], method = "GET"): Promise<RawResponse> {
  const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headerLines.map((l) => `${l}\r\n`).join("")}Connection: close\r\n\r\n`;
  return rawRequest(port, Buffer.from(head, "latin1"));
}

interface Part {
  headers: Map<string, string>;
  start: number;
  end: number;
  size: number;
  data: Buffer;
}

/**
 * Parses a multipart/byteranges body strictly: each part's length comes from its own
 * Content-Range, and every delimiter must sit exactly where RFC 2046 puts it.
 */
function parseByteranges(body: Buffer, contentType: string): Part[] {
  const boundary = /^multipart\/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})$/.exec(contentType)?.[1];
  assert.ok(boundary, `not a multipart/byteranges type with a boundary: ${contentType}`);
  const parts: Part[] = [];
  let at = 0;
  const expect = (text: string) => {
    const actual = body.subarray(at, at + text.length).toString("latin1");
    assert.equal(actual, text, `at byte ${at}`);
    at += text.length;
  };
  expect(`--${boundary}\r\n`);
  for (;;) {
    const headEnd = body.indexOf("\r\n\r\n", at);
    assert.ok(headEnd !== -1, "part without end of headers");
    const headers = new Map<string, string>();
    for (const line of body.subarray(at, headEnd).toString("latin1").split("\r\n")) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers.get("content-range") ?? "");
    assert.ok(range, `part without a valid Content-Range: ${headers.get("content-range")}`);
    const [start, end, size] = [Number(range[1]), Number(range[2]), Number(range[3])];
    at = headEnd + 4;
    parts.push({ headers, start, end, size, data: body.subarray(at, at + end - start + 1) });
    at += end - start + 1;
    expect(`\r\n--${boundary}`);
    if (body.subarray(at, at + 2).toString("latin1") === "--") {
      expect("--\r\n");
      break;
    }
    expect("\r\n");
  }
  assert.equal(at, body.length, "bytes after the closing delimiter");
  return parts;
}

// ---------------------------------------------------------------------------------------------
// One range: 206 with the right Content-Range and bytes
// ---------------------------------------------------------------------------------------------

const SINGLE: Array<{ range: string; contentRange: string; body: string; name?: string }> = [
  { range: "bytes=0-4", contentRange: "bytes 0-4/10", body: "01234" },
  { range: "bytes=5-", contentRange: "bytes 5-9/10", body: "56789" },
  { range: "bytes=-3", contentRange: "bytes 7-9/10", body: "789" },
  { range: "bytes=3-3", contentRange: "bytes 3-3/10", body: "3" },
  { range: "bytes=9-", contentRange: "bytes 9-9/10", body: "9" },
  { range: "bytes=0-9", contentRange: "bytes 0-9/10", body: TEN },
  { range: "bytes=8-100", contentRange: "bytes 8-9/10", body: "89", name: "an end beyond the size is clamped" },
  { range: "bytes=-20", contentRange: "bytes 0-9/10", body: TEN, name: "a suffix longer than the file gives the whole file" },
  { range: "bytes=2-5,", contentRange: "bytes 2-5/10", body: "2345", name: "a trailing comma is ignored" },
  { range: "Bytes=1-2", contentRange: "bytes 1-2/10", body: "12", name: "the range unit is case-insensitive" },
  { range: "bytes=0-1,20-30", contentRange: "bytes 0-1/10", body: "01", name: "an unsatisfiable range beside a satisfiable one is dropped" },
  { range: "bytes=0-99999999999999999999999", contentRange: "bytes 0-9/10", body: TEN, name: "a huge last position is clamped" },
  { range: "bytes=-99999999999999999999999", contentRange: "bytes 0-9/10", body: TEN, name: "a huge suffix is clamped" },
];

for (const c of SINGLE) {
  test(`Range: ${c.range} gives 206 ${c.contentRange}${c.name ? ` (${c.name})` : ""}`, async (t) => {
    const { server } = await fixture(t);
    const res = await request(server.port, "/ten.txt", { headers: { Range: c.range } });
    assert.equal(res.status, 206);
    assert.equal(res.headers["content-range"], c.contentRange);
    assert.equal(res.headers["content-length"], String(c.body.length));
    assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
    assert.equal(res.body.toString(), c.body);
  });
}

test("a 206 keeps ETag, Last-Modified and Accept-Ranges", async (t) => {
  const { server } = await fixture(t);
  const whole = await request(server.port, "/ten.txt");
  const res = await request(server.port, "/ten.txt", { headers: { Range: "bytes=0-4" } });
  assert.equal(res.status, 206);
  assert.equal(res.headers.etag, whole.headers.etag);
  assert.equal(res.headers["last-modified"], LAST_MODIFIED);
  assert.equal(res.headers["accept-ranges"], "bytes");
});

// ---------------------------------------------------------------------------------------------
// Several ranges: multipart/byteranges
// ---------------------------------------------------------------------------------------------

const MULTI: Array<{ range: string; parts: Array<[start: number, end: number]> }> = [
  { range: "bytes=0-1,5-7", parts: [[0, 1], [5, 7]] },
  { range: "bytes=0-0,-1", parts: [[0, 0], [25, 25]] },
  { range: "bytes=20-,0-2", parts: [[0, 2], [20, 25]] },
  { range: "bytes=0-1,10-12,2-3", parts: [[0, 3], [10, 12]] },
  { range: "bytes=1-1,3-3,5-5,7-7", parts: [[1, 1], [3, 3], [5, 5], [7, 7]] },
];

for (const c of MULTI) {
  test(`Range: ${c.range} gives multipart/byteranges with parts ${c.parts.map(([s, e]) => `${s}-${e}`).join(", ")}`, async (t) => {
    const { server } = await fixture(t);
    const res = await rawGetWith(server.port, "/abc.txt", [`Range: ${c.range}`]);
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("content-range"), undefined, "a multipart 206 has no top-level Content-Range");
    assert.equal(res.headers.get("content-length"), String(res.body.length), "Content-Length is not the bytes received");
    const parts = parseByteranges(res.body, res.headers.get("content-type") ?? "");
    assert.deepEqual(
      parts.map((p) => [p.start, p.end]),
      c.parts,
    );
    for (const part of parts) {
      assert.equal(part.size, 26);
      assert.equal(part.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(part.data.toString(), ALPHABET.slice(part.start, part.end + 1));
    }
  });
}

test("each multipart/byteranges response has a fresh boundary", async (t) => {
  const { server } = await fixture(t);
  const a = await request(server.port, "/abc.txt", { headers: { Range: "bytes=0-1,5-7" } });
  const b = await request(server.port, "/abc.txt", { headers: { Range: "bytes=0-1,5-7" } });
  assert.match(a.headers["content-type"] ?? "", /^multipart\/byteranges; boundary=/);
  assert.notEqual(a.headers["content-type"], b.headers["content-type"]);
});

test("100 ranges give a multipart/byteranges of 100 parts", async (t) => {
  const { server } = await fixture(t);
  const specs = Array.from({ length: 100 }, (_, i) => `${i * 3}-${i * 3}`);
  const res = await rawGetWith(server.port, "/k.bin", [`Range: bytes=${specs.join(",")}`]);
  assert.equal(res.status, 206);
  assert.equal(res.headers.get("content-length"), String(res.body.length));
  const parts = parseByteranges(res.body, res.headers.get("content-type") ?? "");
  assert.equal(parts.length, 100);
  for (const [i, part] of parts.entries()) {
    assert.equal(part.start, i * 3);
    assert.deepEqual(part.data, THOUSAND.subarray(i * 3, i * 3 + 1));
  }
});

// ---------------------------------------------------------------------------------------------
// Coalescing
// ---------------------------------------------------------------------------------------------

const COALESCED: Array<{ range: string; contentRange: string; name: string }> = [
  { range: "bytes=0-4,2-8", contentRange: "bytes 0-8/26", name: "overlapping ranges" },
  { range: "bytes=0-4,5-9", contentRange: "bytes 0-9/26", name: "adjacent ranges" },
  { range: "bytes=5-9,0-4", contentRange: "bytes 0-9/26", name: "adjacent ranges out of order" },
  { range: "bytes=0-1,3-4,2-2", contentRange: "bytes 0-4/26", name: "a range filling the gap between two others" },
  { range: "bytes=2-6,3-4", contentRange: "bytes 2-6/26", name: "a range inside another" },
];

for (const c of COALESCED) {
  test(`${c.name} are coalesced: Range: ${c.range} gives a single 206 ${c.contentRange}`, async (t) => {
    const { server } = await fixture(t);
    const res = await request(server.port, "/abc.txt", { headers: { Range: c.range } });
    assert.equal(res.status, 206);
    assert.equal(res.headers["content-range"], c.contentRange);
    const [, start, end] = /^bytes (\d+)-(\d+)/.exec(c.contentRange)!.map(Number) as [number, number, number];
    assert.equal(res.body.toString(), ALPHABET.slice(start, end + 1));
    assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
  });
}

// ---------------------------------------------------------------------------------------------
// Requests for which the whole file is the answer: 200
// ---------------------------------------------------------------------------------------------

async function assertWhole(res: { status: number; headers: Record<string, unknown>; body: Buffer }, content: string | Buffer): Promise<void> {
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-range"], undefined);
  assert.equal(res.headers["content-length"], String(content.length));
  assert.deepEqual(res.body, Buffer.from(content));
}

test("more than 100 ranges give 200 with the whole file", async (t) => {
  const { server } = await fixture(t);
  const specs = Array.from({ length: 101 }, (_, i) => `${i * 3}-${i * 3}`);
  const res = await request(server.port, "/k.bin", { headers: { Range: `bytes=${specs.join(",")}` } });
  await assertWhole(res, THOUSAND);
});

const WHOLE: Array<{ range: string; name: string }> = [
  { range: "bytes=0-9,0-9", name: "ranges summing to more than the file" },
  { range: "bytes=-6,0-5", name: "a suffix and a prefix summing to more than the file" },
  { range: "bytes=0-4,2-8", name: "overlapping ranges summing to more than the (10-byte) file" },
  { range: "bytes=abc", name: "a range spec that is not numbers" },
  { range: "items=0-1", name: "an unknown range unit" },
  { range: "bytes=5-2", name: "a last position before the first" },
  { range: "bytes=", name: "an empty range set" },
  { range: "bytes=-", name: "a spec with neither first nor last" },
  { range: "bytes=0-1;2-3", name: "a semicolon instead of a comma" },
  { range: "bytes=0x0-0x4", name: "hexadecimal positions" },
  { range: "bytes=1.5-3", name: "a fractional position" },
  { range: "bytes=0-1,abc", name: "one bad spec among good ones" },
  { range: "0-4", name: "no unit at all" },
];

for (const c of WHOLE) {
  test(`Range: ${c.range} (${c.name}) gives 200 with the whole file`, async (t) => {
    const { server } = await fixture(t);
    const res = await rawGetWith(server.port, "/ten.txt", [`Range: ${c.range}`]);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-range"), undefined);
    assert.equal(res.headers.get("content-length"), "10");
    assert.equal(res.body.toString(), TEN);
  });
}

test("an empty file ignores Range: 200 with Content-Length 0", async (t) => {
  const { server } = await fixture(t);
  for (const range of ["bytes=0-0", "bytes=-1", "bytes=0-", "bytes=5-10"]) {
    const res = await rawGetWith(server.port, "/empty.txt", [`Range: ${range}`]);
    assert.equal(res.status, 200, range);
    assert.equal(res.headers.get("content-length"), "0", range);
    assert.equal(res.headers.get("content-range"), undefined, range);
    assert.equal(res.body.length, 0, range);
  }
});

test("HEAD with a Range gives 200 with the whole file's headers (Range is for GET only)", async (t) => {
  const { server } = await fixture(t);
  const res = await rawGetWith(server.port, "/ten.txt", ["Range: bytes=0-4"], "HEAD");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), "10");
  assert.equal(res.headers.get("content-range"), undefined);
  assert.equal(res.body.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Unsatisfiable: 416
// ---------------------------------------------------------------------------------------------

const UNSATISFIABLE: Array<{ range: string; name: string }> = [
  { range: "bytes=1000-", name: "an open range starting past the end" },
  { range: "bytes=10-", name: "an open range starting exactly at the size" },
  { range: "bytes=10-20", name: "a closed range starting at the size" },
  { range: "bytes=-0", name: "a zero-length suffix" },
  { range: "bytes=10-20,30-40", name: "several ranges all past the end" },
  { range: "bytes=99999999999999999999999-", name: "a huge first position" },
];

for (const c of UNSATISFIABLE) {
  test(`Range: ${c.range} (${c.name}) on a 10-byte file gives 416 with Content-Range: bytes */10`, async (t) => {
    const { server } = await fixture(t);
    const res = await rawGetWith(server.port, "/ten.txt", [`Range: ${c.range}`]);
    assert.equal(res.status, 416);
    assert.equal(res.headers.get("content-range"), "bytes */10");
    assert.equal(res.headers.get("content-length"), String(res.body.length));
    assert.ok(!res.body.includes(TEN), "the file's bytes were sent with a 416");
  });
}

// ---------------------------------------------------------------------------------------------
// If-Range (§13.1.5)
// ---------------------------------------------------------------------------------------------

test("If-Range with the current strong ETag gives 206", async (t) => {
  const { server } = await fixture(t);
  const { headers } = await request(server.port, "/ten.txt");
  const res = await request(server.port, "/ten.txt", { headers: { Range: "bytes=0-4", "If-Range": headers.etag! } });
  assert.equal(res.status, 206);
  assert.equal(res.headers["content-range"], "bytes 0-4/10");
  assert.equal(res.body.toString(), "01234");
});

test("If-Range with an old ETag gives 200 with the whole (new) file", async (t) => {
  const { root, server } = await fixture(t);
  const old = (await request(server.port, "/ten.txt")).headers.etag!;
  utimesSync(path.join(root, "ten.txt"), new Date("2021-01-01T00:00:00Z"), new Date("2021-01-01T00:00:00Z"));
  const res = await request(server.port, "/ten.txt", { headers: { Range: "bytes=0-4", "If-Range": old } });
  await assertWhole(res, TEN);
  assert.notEqual(res.headers.etag, old);
});

test("If-Range with exactly the Last-Modified date gives 206", async (t) => {
  const { server } = await fixture(t);
  const res = await request(server.port, "/ten.txt", { headers: { Range: "bytes=-3", "If-Range": LAST_MODIFIED } });
  assert.equal(res.status, 206);
  assert.equal(res.headers["content-range"], "bytes 7-9/10");
  assert.equal(res.body.toString(), "789");
});

const IF_RANGE_WHOLE: Array<{ value: (etag: string) => string; name: string }> = [
  { value: () => "Mon, 15 Jun 2020 12:00:01 GMT", name: "a date one second after Last-Modified" },
  { value: () => "Mon, 15 Jun 2020 11:59:59 GMT", name: "a date one second before Last-Modified" },
  { value: (etag) => `W/${etag}`, name: "the current ETag as a weak tag" },
  { value: () => '"some-other-tag"', name: "another strong ETag" },
  { value: () => "yesterday", name: "a value that is neither a tag nor a date" },
];

for (const c of IF_RANGE_WHOLE) {
  test(`If-Range with ${c.name} gives 200 with the whole file`, async (t) => {
    const { server } = await fixture(t);
    const etag = (await request(server.port, "/ten.txt")).headers.etag!;
    const res = await request(server.port, "/ten.txt", { headers: { Range: "bytes=0-4", "If-Range": c.value(etag) } });
    await assertWhole(res, TEN);
  });
}

test("If-Range without a Range gives 200 with the whole file", async (t) => {
  const { server } = await fixture(t);
  const etag = (await request(server.port, "/ten.txt")).headers.etag!;
  const res = await request(server.port, "/ten.txt", { headers: { "If-Range": etag } });
  await assertWhole(res, TEN);
});

test("If-Range with the current ETag and several ranges gives multipart/byteranges", async (t) => {
  const { server } = await fixture(t);
  const etag = (await request(server.port, "/abc.txt")).headers.etag!;
  const res = await rawGetWith(server.port, "/abc.txt", ["Range: bytes=0-1,5-7", `If-Range: ${etag}`]);
  assert.equal(res.status, 206);
  const parts = parseByteranges(res.body, res.headers.get("content-type") ?? "");
  assert.deepEqual(
    parts.map((p) => p.data.toString()),
    ["ab", "fgh"],
  );
});

// ---------------------------------------------------------------------------------------------
// Odd header values over raw sockets: always a well-formed answer, and the server stays up
// ---------------------------------------------------------------------------------------------

/** Header lines sent as latin1 bytes, exactly as written; `allowed` lists acceptable statuses. */
const ODD: Array<{ lines: string[]; allowed: number[] }> = [
  // Range: syntax the parser must survive
  { lines: ["Range: bytes=--1"], allowed: [200] },
  { lines: ["Range: bytes=1--2"], allowed: [200] },
  { lines: ["Range: bytes=+1-2"], allowed: [200] },
  { lines: ["Range: bytes=1e3-"], allowed: [200] },
  { lines: ["Range: bytes=NaN-"], allowed: [200] },
  { lines: ["Range: bytes=Infinity-"], allowed: [200] },
  { lines: ["Range: bytes=-Infinity"], allowed: [200] },
  { lines: ["Range: bytes=0-Infinity"], allowed: [200] },
  { lines: ["Range: bytes=9007199254740993-9007199254740994"], allowed: [416] },
  { lines: ["Range: bytes=-9007199254740993"], allowed: [206] },
  { lines: ["Range: bytes=0-9007199254740993"], allowed: [206] },
  // RFC 9110 §14.2 lets a server ignore Range, so 200 is allowed here; the 416 itself is asserted above.
  { lines: [`Range: bytes=${"9".repeat(400)}-`], allowed: [200, 416] },
  { lines: [`Range: bytes=0-${"9".repeat(400)}`], allowed: [206] },
  { lines: ["Range: bytes==0-1"], allowed: [200] },
  { lines: ["Range: bytes = 0-1"], allowed: [200, 206] },
  { lines: ["Range: bytes=0 - 1"], allowed: [200, 206] },
  { lines: ["Range: bytes=\t0-1"], allowed: [200, 206] },
  { lines: ["Range: bytes=0-4 , 6-7"], allowed: [206] },
  { lines: ["Range: bytes=,,,"], allowed: [200] },
  { lines: ["Range: bytes=,0-1,"], allowed: [206] },
  { lines: ["Range: bytes"], allowed: [200] },
  { lines: ["Range: ="], allowed: [200] },
  { lines: ["Range: "], allowed: [200] },
  { lines: ["Range: bytes=0-0".repeat(5)], allowed: [200] },
  { lines: ["Range: bytes=\u00bd-1"], allowed: [200] },
  { lines: ["Range: bytes=\u00e9"], allowed: [200] },
  { lines: ["Range: bytes=\u00ff\u00fe-\u00fd"], allowed: [200] },
  { lines: ["Range: bytes=0-1", "Range: bytes=2-3"], allowed: [200, 206, 400] },
  { lines: [`Range: bytes=${Array.from({ length: 1500 }, () => "0-0").join(",")}`], allowed: [200] },
  { lines: [`Range: bytes=${"0-0,".repeat(5000)}`], allowed: [200, 431] },
  { lines: [`Range: bytes=${"1".repeat(20_000)}-`], allowed: [431] },
  { lines: ["Range: bytes=0-1\x01"], allowed: [400] },
  { lines: ["Range: bytes=0-1\x00"], allowed: [400] },
  { lines: ["Range: bytes=0-1\x7f"], allowed: [400] },
  { lines: ["Range: bytes=0-1\rX"], allowed: [400] },
  { lines: ["Range : bytes=0-1"], allowed: [400] },
  // If-Range: neither a tag nor a date, or a broken one
  { lines: ["Range: bytes=0-1", 'If-Range: "'], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: W/"], allowed: [200] },
  { lines: ["Range: bytes=0-1", 'If-Range: W/"'], allowed: [200] },
  { lines: ["Range: bytes=0-1", 'If-Range: ""'], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: *"], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: "], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: Mon, 99 Foo 9999 99:99:99 GMT"], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: Mon, 32 Jun 2020 12:00:00 GMT"], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: Thu, 01 Jan 1970 00:00:00 GMT"], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: Mon, 15 Jun 2020 12:00:00 UTC"], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: Mon, 15 Jun 2020 12:00:00 GMT, Mon, 15 Jun 2020 12:00:00 GMT"], allowed: [200] },
  { lines: ["Range: bytes=0-1", `If-Range: ${"x".repeat(5000)}`], allowed: [200] },
  { lines: ["Range: bytes=0-1", "If-Range: \u00e9\u00e8"], allowed: [200] },
  // If-Match / If-None-Match: broken lists
  { lines: ['If-Match: "'], allowed: [412] },
  { lines: ["If-Match: ,,,"], allowed: [412] },
  { lines: ["If-Match: W/"], allowed: [412] },
  { lines: ['If-Match: *, "a"'], allowed: [200, 412] },
  { lines: ["If-Match: "], allowed: [200, 412] },
  { lines: [`If-Match: ${'"a",'.repeat(2000)}`], allowed: [412] },
  { lines: ['If-None-Match: "'], allowed: [200] },
  { lines: ["If-None-Match: ,,,"], allowed: [200] },
  { lines: ['If-None-Match: "a" "b"'], allowed: [200] },
  { lines: ['If-None-Match: W/W/"a"'], allowed: [200] },
  { lines: ["If-None-Match: **"], allowed: [200] },
  { lines: ["If-None-Match: "], allowed: [200] },
  { lines: [`If-None-Match: ${'W/"",'.repeat(2000)}`], allowed: [200] },
  // Dates that must not parse, or parse to something harmless
  { lines: ["If-Modified-Since: Mon, 15 Jun 2020 12:00:00"], allowed: [200] },
  { lines: ["If-Modified-Since: 0"], allowed: [200] },
  { lines: ["If-Modified-Since: -1"], allowed: [200] },
  { lines: ["If-Modified-Since: Tue, 00 Jan 2000 00:00:00 GMT"], allowed: [200] },
  { lines: ["If-Modified-Since: Mon, 15 Jun 2020 24:00:00 GMT"], allowed: [200] },
  { lines: ["If-Modified-Since: Mon, 15 Jun 99999 12:00:00 GMT"], allowed: [200] },
  { lines: ["If-Modified-Since: Sat, 31 Feb 2099 00:00:00 GMT"], allowed: [200, 304] },
  { lines: ["If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT"], allowed: [200] },
  { lines: ["If-Modified-Since: Sun Nov  6 08:49:37 1994"], allowed: [200] },
  { lines: [`If-Modified-Since: ${"Mon, ".repeat(1000)}`], allowed: [200] },
  { lines: ["If-Unmodified-Since: Mon, 15 Jun 2020 12:00:00"], allowed: [200] },
  { lines: ["If-Unmodified-Since: \u00e9"], allowed: [200] },
  { lines: ["If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"], allowed: [412] },
  // Everything at once
  { lines: ['If-Match: "x"', "If-None-Match: *", "If-Modified-Since: x", "If-Unmodified-Since: y", "Range: bytes=0-1", "If-Range: z"], allowed: [412] },
  { lines: ["If-Match: *", "If-None-Match: *", "Range: bytes=0-1"], allowed: [304] },
];

test(`${ODD.length} odd Range and If-* header values each get a well-formed answer, and the server stays up`, async (t) => {
  assert.ok(ODD.length >= 50);
  const { server } = await fixture(t);
  const problems: string[] = [];
  for (const c of ODD) {
    const label = JSON.stringify(c.lines).slice(0, 100);
    const res = await rawGetWith(server.port, "/ten.txt", c.lines);
    try {
      assert.match(res.raw.subarray(0, 20).toString("latin1"), /^HTTP\/1\.1 \d{3} /, "no status line");
      assert.ok(c.allowed.includes(res.status), `status ${res.status}, expected one of ${c.allowed.join(", ")}`);
      if (res.status === 304) assert.equal(res.body.length, 0, "a 304 with a body");
      else assert.equal(res.headers.get("content-length"), String(res.body.length), "Content-Length is not the bytes received");
      if (res.status === 200) assert.equal(res.body.toString(), TEN);
      if (res.status === 206) {
        const contentType = res.headers.get("content-type") ?? "";
        if (contentType.startsWith("multipart/")) {
          for (const part of parseByteranges(res.body, contentType)) assert.equal(part.data.toString(), TEN.slice(part.start, part.end + 1));
        } else {
          const range = /^bytes (\d+)-(\d+)\/10$/.exec(res.headers.get("content-range") ?? "");
          assert.ok(range, `bad Content-Range ${res.headers.get("content-range")}`);
          assert.equal(res.body.toString(), TEN.slice(Number(range[1]), Number(range[2]) + 1));
        }
      }
      if (res.status === 416) assert.equal(res.headers.get("content-range"), "bytes */10");
    } catch (error) {
      problems.push(`${label}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  assert.deepEqual(problems, []);
  const after = await request(server.port, "/ten.txt", { headers: { Range: "bytes=2-3" } });
  assert.equal(after.status, 206);
  assert.equal(after.body.toString(), "23");
});
