/**
 * Conditional requests, RFC 9110 §13.2.2, in the RFC's order: If-Match, else If-Unmodified-Since
 * (412 when false); then If-None-Match, else If-Modified-Since (304 for GET and HEAD when false).
 * The served file has a fixed mtime so every date below is exact.
 */
import assert from "node:assert/strict";
import { utimesSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { rawRequest, request, serve, tempDir, type SimpleResponse } from "./helpers.js";

const CONTENT = "conditional content\n";
const MTIME = new Date("2020-06-15T12:00:00.000Z");
const LAST_MODIFIED = "Mon, 15 Jun 2020 12:00:00 GMT";
const ONE_SECOND_EARLIER = "Mon, 15 Jun 2020 11:59:59 GMT";
const ONE_SECOND_LATER = "Mon, 15 Jun 2020 12:00:01 GMT";
const LONG_BEFORE = "Sun, 06 Nov 1994 08:49:37 GMT";
const FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT";

/** `{etag}` in a header value is replaced with the file's current ETag. */
type Case = { name: string; method?: "GET" | "HEAD"; headers: Record<string, string>; status: number };

async function fixture(t: TestContext, options: { cacheSeconds?: number; mtime?: Date } = {}) {
  const root = tempDir(t, { "doc.txt": CONTENT });
  const mtime = options.mtime ?? MTIME;
  utimesSync(path.join(root, "doc.txt"), mtime, mtime);
  const server = await serve(t, { root, ...(options.cacheSeconds === undefined ? {} : { cacheSeconds: options.cacheSeconds }) });
  const plain = await request(server.port, "/doc.txt");
  assert.equal(plain.status, 200);
  const etag = plain.headers.etag!;
  assert.ok(etag, "no ETag to test with");
  const get = (headers: Record<string, string>, method: "GET" | "HEAD" = "GET"): Promise<SimpleResponse> =>
    request(server.port, "/doc.txt", { method, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replaceAll("{etag}", etag)])) });
  return { server, etag, plain, get };
}

function runTable(cases: Case[]): void {
  for (const c of cases) {
    test(c.name, async (t) => {
      const { get } = await fixture(t);
      const res = await get(c.headers, c.method);
      assert.equal(res.status, c.status);
      if (c.status === 200 && c.method !== "HEAD") assert.equal(res.body.toString(), CONTENT);
      if (c.status !== 200) assert.equal(res.body.length, 0);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Step 1: If-Match (strong comparison)
// ---------------------------------------------------------------------------------------------

runTable([
  { name: "If-Match with the current ETag gives 200", headers: { "If-Match": "{etag}" }, status: 200 },
  { name: "If-Match: * gives 200 for an existing file", headers: { "If-Match": "*" }, status: 200 },
  { name: "If-Match with a list containing the current ETag gives 200", headers: { "If-Match": '"nope", {etag}' }, status: 200 },
  { name: "If-Match with a non-matching tag gives 412", headers: { "If-Match": '"nope"' }, status: 412 },
  { name: "If-Match with a list of non-matching tags gives 412", headers: { "If-Match": '"a", "b", W/"c"' }, status: 412 },
  { name: "If-Match with the current ETag as a weak tag gives 412 (never a strong match)", headers: { "If-Match": "W/{etag}" }, status: 412 },
  { name: "If-Match with a non-matching tag gives 412 for HEAD too", method: "HEAD", headers: { "If-Match": '"nope"' }, status: 412 },
]);

// ---------------------------------------------------------------------------------------------
// Step 2: If-Unmodified-Since, only without If-Match
// ---------------------------------------------------------------------------------------------

runTable([
  { name: "If-Unmodified-Since one second before the mtime gives 412", headers: { "If-Unmodified-Since": ONE_SECOND_EARLIER }, status: 412 },
  { name: "If-Unmodified-Since long before the mtime gives 412", headers: { "If-Unmodified-Since": LONG_BEFORE }, status: 412 },
  { name: "If-Unmodified-Since equal to Last-Modified gives 200", headers: { "If-Unmodified-Since": LAST_MODIFIED }, status: 200 },
  { name: "If-Unmodified-Since after the mtime gives 200", headers: { "If-Unmodified-Since": ONE_SECOND_LATER }, status: 200 },
  { name: "If-Unmodified-Since that does not parse is ignored (200)", headers: { "If-Unmodified-Since": "yesterday" }, status: 200 },
  { name: "If-Unmodified-Since that is a bare number is ignored (200)", headers: { "If-Unmodified-Since": "1" }, status: 200 },
  { name: "If-Unmodified-Since is ignored when If-Match matches (200)", headers: { "If-Match": "{etag}", "If-Unmodified-Since": LONG_BEFORE }, status: 200 },
  { name: "If-Unmodified-Since is ignored when If-Match is * (200)", headers: { "If-Match": "*", "If-Unmodified-Since": LONG_BEFORE }, status: 200 },
  { name: "If-Match that fails gives 412 even when If-Unmodified-Since would pass", headers: { "If-Match": '"nope"', "If-Unmodified-Since": FUTURE }, status: 412 },
]);

// ---------------------------------------------------------------------------------------------
// Step 3: If-None-Match (weak comparison)
// ---------------------------------------------------------------------------------------------

runTable([
  { name: "If-None-Match with the current ETag gives 304", headers: { "If-None-Match": "{etag}" }, status: 304 },
  { name: "If-None-Match with a matching weak tag gives 304", headers: { "If-None-Match": "W/{etag}" }, status: 304 },
  { name: 'If-None-Match with a list "a", W/<etag> gives 304', headers: { "If-None-Match": '"a", W/{etag}' }, status: 304 },
  { name: "If-None-Match with a list whose last element matches gives 304", headers: { "If-None-Match": '"a","b" , {etag}' }, status: 304 },
  { name: "If-None-Match: * gives 304 for GET", headers: { "If-None-Match": "*" }, status: 304 },
  { name: "If-None-Match: * gives 304 for HEAD", method: "HEAD", headers: { "If-None-Match": "*" }, status: 304 },
  { name: "If-None-Match with the current ETag gives 304 for HEAD", method: "HEAD", headers: { "If-None-Match": "{etag}" }, status: 304 },
  { name: "If-None-Match with a non-matching tag gives 200", headers: { "If-None-Match": '"a"' }, status: 200 },
  { name: "If-None-Match with a list of non-matching tags gives 200", headers: { "If-None-Match": '"a", W/"b"' }, status: 200 },
]);

// ---------------------------------------------------------------------------------------------
// Step 4: If-Modified-Since, only without If-None-Match
// ---------------------------------------------------------------------------------------------

runTable([
  { name: "If-Modified-Since equal to Last-Modified gives 304", headers: { "If-Modified-Since": LAST_MODIFIED }, status: 304 },
  { name: "If-Modified-Since after the mtime gives 304", headers: { "If-Modified-Since": ONE_SECOND_LATER }, status: 304 },
  { name: "If-Modified-Since one second before the mtime gives 200", headers: { "If-Modified-Since": ONE_SECOND_EARLIER }, status: 200 },
  { name: "If-Modified-Since equal to Last-Modified gives 304 for HEAD", method: "HEAD", headers: { "If-Modified-Since": LAST_MODIFIED }, status: 304 },
  { name: "If-Modified-Since: yesterday is ignored (200)", headers: { "If-Modified-Since": "yesterday" }, status: 200 },
  { name: "If-Modified-Since: 1 is ignored (200), not read as a year", headers: { "If-Modified-Since": "1" }, status: 200 },
  { name: "If-Modified-Since as an ISO date is ignored (200)", headers: { "If-Modified-Since": "2099-01-01T00:00:00Z" }, status: 200 },
  { name: "If-Modified-Since in RFC 850 format equal to the mtime gives 304", headers: { "If-Modified-Since": "Monday, 15-Jun-20 12:00:00 GMT" }, status: 304 },
  { name: "If-Modified-Since in RFC 850 format one second earlier gives 200", headers: { "If-Modified-Since": "Monday, 15-Jun-20 11:59:59 GMT" }, status: 200 },
  { name: "If-Modified-Since in asctime format equal to the mtime gives 304", headers: { "If-Modified-Since": "Mon Jun 15 12:00:00 2020" }, status: 304 },
  { name: "If-Modified-Since in asctime format one second earlier gives 200", headers: { "If-Modified-Since": "Mon Jun 15 11:59:59 2020" }, status: 200 },
  { name: "If-Modified-Since is ignored when If-None-Match is present and does not match (200)", headers: { "If-None-Match": '"a"', "If-Modified-Since": LAST_MODIFIED }, status: 200 },
  { name: "If-None-Match not matching wins over If-Modified-Since in the future (200)", headers: { "If-None-Match": '"a"', "If-Modified-Since": FUTURE }, status: 200 },
  { name: "If-None-Match matching wins over If-Modified-Since long before the mtime (304)", headers: { "If-None-Match": "{etag}", "If-Modified-Since": LONG_BEFORE }, status: 304 },
]);

// ---------------------------------------------------------------------------------------------
// Order between the steps, and with Range
// ---------------------------------------------------------------------------------------------

runTable([
  { name: "If-Match failing gives 412 even when If-None-Match matches", headers: { "If-Match": '"nope"', "If-None-Match": "{etag}" }, status: 412 },
  { name: "If-Unmodified-Since failing gives 412 even when If-None-Match matches", headers: { "If-Unmodified-Since": LONG_BEFORE, "If-None-Match": "{etag}" }, status: 412 },
  { name: "If-Unmodified-Since failing gives 412 even when If-Modified-Since would give 304", headers: { "If-Unmodified-Since": LONG_BEFORE, "If-Modified-Since": FUTURE }, status: 412 },
  { name: "If-Match passing then If-None-Match matching gives 304", headers: { "If-Match": "{etag}", "If-None-Match": "{etag}" }, status: 304 },
  { name: "If-None-Match matching gives 304 even with a Range", headers: { "If-None-Match": "{etag}", Range: "bytes=0-3" }, status: 304 },
  { name: "If-Match failing gives 412 even with a Range", headers: { "If-Match": '"nope"', Range: "bytes=0-3" }, status: 412 },
  { name: "If-Modified-Since equal to Last-Modified gives 304 even with a Range", headers: { "If-Modified-Since": LAST_MODIFIED, Range: "bytes=0-3" }, status: 304 },
]);

// ---------------------------------------------------------------------------------------------
// The shape of a 304
// ---------------------------------------------------------------------------------------------

test("a 304 has no body bytes on the wire", async (t) => {
  const { server, etag } = await fixture(t);
  const res = await rawRequest(server.port, `GET /doc.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`);
  assert.equal(res.status, 304);
  assert.ok(res.raw.includes("\r\n\r\n"), "no end of headers");
  assert.equal(res.body.length, 0);
  assert.equal(res.headers.get("transfer-encoding"), undefined);
});

test("a 304 keeps ETag, Last-Modified and Cache-Control from the 200", async (t) => {
  const { plain, get } = await fixture(t);
  const res = await get({ "If-None-Match": "{etag}" });
  assert.equal(res.status, 304);
  assert.equal(res.headers.etag, plain.headers.etag);
  assert.equal(res.headers["last-modified"], LAST_MODIFIED);
  assert.equal(res.headers["last-modified"], plain.headers["last-modified"]);
  assert.equal(res.headers["cache-control"], "no-cache");
});

test("a 304 keeps Cache-Control: max-age=N with cacheSeconds: N", async (t) => {
  const { get } = await fixture(t, { cacheSeconds: 600 });
  const res = await get({ "If-Modified-Since": LAST_MODIFIED });
  assert.equal(res.status, 304);
  assert.equal(res.headers["cache-control"], "max-age=600");
});

test("a 412 has no body bytes and Content-Length 0", async (t) => {
  const { server } = await fixture(t);
  const res = await rawRequest(server.port, 'GET /doc.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-Match: "nope"\r\nConnection: close\r\n\r\n');
  assert.equal(res.status, 412);
  assert.equal(res.headers.get("content-length"), "0");
  assert.equal(res.body.length, 0);
});

// ---------------------------------------------------------------------------------------------
// Dates at sub-second mtimes and after a change
// ---------------------------------------------------------------------------------------------

test("If-Modified-Since equal to Last-Modified gives 304 when the mtime has a fraction of a second", async (t) => {
  const { plain, get } = await fixture(t, { mtime: new Date("2020-06-15T12:00:00.750Z") });
  assert.equal(plain.headers["last-modified"], LAST_MODIFIED);
  const res = await get({ "If-Modified-Since": LAST_MODIFIED });
  assert.equal(res.status, 304);
});

test("If-Unmodified-Since equal to Last-Modified gives 200 when the mtime has a fraction of a second", async (t) => {
  const { get } = await fixture(t, { mtime: new Date("2020-06-15T12:00:00.750Z") });
  const res = await get({ "If-Unmodified-Since": LAST_MODIFIED });
  assert.equal(res.status, 200);
});

test("If-None-Match with the ETag from before a change gives 200 with the new content", async (t) => {
  const root = tempDir(t, { "doc.txt": CONTENT });
  const file = path.join(root, "doc.txt");
  utimesSync(file, MTIME, MTIME);
  const server = await serve(t, { root });
  const before = await request(server.port, "/doc.txt");
  utimesSync(file, new Date("2020-06-15T12:00:05Z"), new Date("2020-06-15T12:00:05Z"));
  const res = await request(server.port, "/doc.txt", { headers: { "If-None-Match": before.headers.etag!, "If-Modified-Since": LAST_MODIFIED } });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), CONTENT);
});
