/**
 * Always fresh: every response reflects the file system as it is when the request arrives.
 *
 * Written against a fast path that serves small files from a Buffer cache validated per request by
 * stat (inode, size, mtime) and reuses cached header strings. Each test sets a cache up to fail:
 * it warms the server with the old version, changes the file in the way such a cache is worst at
 * spotting, and sends the next request at once. Every body is compared byte for byte with what was
 * written just before the request was sent; no timing, no sleeps, no retries.
 *
 * Ways a stat-validated cache serves stale bytes, and the tests that catch each one:
 *   - size changes, and headers (Content-Length, ETag, Last-Modified) cached apart from the body
 *     → "rewritten with a different size";
 *   - same size, new content, and an mtime the cache sees as unchanged: the timestamp granularity
 *     (two writes in one clock tick) or `utimes` putting the old mtime back. Only ctime moves then;
 *     a cache that does not check ctime (and distrust a ctime too recent to be sure of) is stale
 *     → "mtime forced back to the old value";
 *   - inode reuse: a file deleted and recreated, or replaced by rename, may get an inode number
 *     that was used before (ext4 hands them back at once) → "rename over", "unlink and recreate";
 *   - negative entries: a cached 404, a cached 404.html, a cached listing, a cached "this is a
 *     folder" or "this folder has no index.html" → the 404, listing and index tests;
 *   - conditional answers computed from cached validators → the If-* tests.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { request, serve, tempDir } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A new connection for this one request instead of a pooled keep-alive socket. */
  fresh?: boolean;
}

type Send = (target: string, options?: SendOptions) => Promise<Res>;

/** A server on a temp folder and a keep-alive client for it (sockets are reused between requests). */
async function setup(t: TestContext, tree: Record<string, string | Buffer> = {}) {
  const root = tempDir(t, tree);
  const server = await serve(t, { root });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  t.after(() => agent.destroy());
  const send: Send = (target, options = {}) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port: server.port, path: target, method: options.method ?? "GET", headers: options.headers, agent: options.fresh ? false : agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end();
    });
  const at = (name: string) => path.join(root, name);
  return { root, server, send, at };
}

let versionCounter = 0;

/** Printable content of exactly `size` bytes, different from every other version almost everywhere. */
function makeContent(size: number, tag = ""): Buffer {
  const out = Buffer.from(randomBytes(Math.ceil(size / 2)).toString("hex"));
  Buffer.from(`<v${++versionCounter}${tag}>`).copy(out, 0);
  return out.subarray(0, size);
}

function summary(bytes: Buffer): string {
  return `${bytes.length} bytes ${JSON.stringify(bytes.subarray(0, 24).toString("latin1"))}`;
}

/** Asserts `actual` is exactly `expected`, and says so plainly when it is one of the old versions. */
function assertBytes(actual: Buffer, expected: Buffer, what: string, old: readonly Buffer[] = []): void {
  if (actual.equals(expected)) return;
  const stale = old.findIndex((o) => actual.equals(o));
  const verdict = stale === -1 ? "neither the current nor an earlier version" : `a STALE version (${old.length - stale} version(s) old)`;
  assert.fail(`${what}: body is ${verdict}: got ${summary(actual)}, expected ${summary(expected)}`);
}

/**
 * The HTTP-date of the file's mtime now, the second it falls in: the only correct Last-Modified.
 * Not `stats.mtime`: Node rounds that Date to the millisecond, so an mtime of :07.9996 would read
 * :08, a second the file was not modified in (about one rewrite in 2000 fails that way).
 */
function lastModifiedOf(file: string): string {
  return new Date(Math.floor(fs.statSync(file).mtimeMs / 1000) * 1000).toUTCString();
}

interface FreshCheck {
  /** Earlier versions of the file, to name a stale body as such. */
  old?: readonly Buffer[];
  /** ETags that belong to earlier versions with another size or mtime: never valid again. */
  staleEtags?: ReadonlySet<string>;
  /** Last-Modified values of earlier versions, when the mtime has moved by a second or more. */
  staleLastModified?: ReadonlySet<string>;
  method?: "GET" | "HEAD";
}

/** A 200 for `file` that is exactly `expected`, with headers that describe exactly it. */
function assertFresh(res: Res, file: string, expected: Buffer, what: string, check: FreshCheck = {}): void {
  assert.equal(res.status, 200, `${what}: status`);
  if (check.method === "HEAD") assert.equal(res.body.length, 0, `${what}: HEAD has no body`);
  else assertBytes(res.body, expected, what, check.old);
  assert.equal(res.headers["content-length"], String(expected.length), `${what}: Content-Length`);
  assert.equal(res.headers["last-modified"], lastModifiedOf(file), `${what}: Last-Modified is the current mtime`);
  const etag = res.headers.etag;
  assert.ok(etag, `${what}: has an ETag`);
  assert.ok(!check.staleEtags?.has(etag), `${what}: ETag ${etag} belongs to an earlier version`);
  assert.ok(!check.staleLastModified?.has(res.headers["last-modified"]!), `${what}: Last-Modified is an earlier version's`);
}

/** All responses of one batch carry the same validators (the file did not change during it). */
function assertOneVersion(responses: Res[], what: string): void {
  const etags = new Set(responses.map((r) => r.headers.etag));
  assert.equal(etags.size, 1, `${what}: one file version, yet ETags ${[...etags].join(" ")}`);
}

function times<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => make(i)));
}

async function sequential<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await make(i));
  return out;
}

/** A whole-second mtime, so utimes can put it back exactly. */
const BASE_MTIME = 1_600_000_000; // 2020-09-13T12:26:40Z

function setMtime(file: string, seconds: number): void {
  fs.utimesSync(file, seconds, seconds);
}

/** Overwrites the file in place (same inode, no truncation when the size is the same). */
function writeInPlace(file: string, data: Buffer, position = 0): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, data, 0, data.length, position);
  } finally {
    fs.closeSync(fd);
  }
}

function statBig(file: string): fs.BigIntStats {
  return fs.statSync(file, { bigint: true });
}

/** Sends the warm-up a cache needs to hold the current version, and checks those answers too. */
async function warm(send: Send, target: string, file: string, current: Buffer, what: string, count = 2): Promise<Res> {
  const answers = await sequential(count, () => send(target));
  answers.push(await send(target, { method: "HEAD" }));
  for (const [i, res] of answers.entries()) assertFresh(res, file, current, `${what}, warm-up ${i}`, { method: i === count ? "HEAD" : "GET" });
  return answers[0]!;
}

// ---------------------------------------------------------------------------------------------
// Rewritten with a different size
// ---------------------------------------------------------------------------------------------

/**
 * `cycles` times: warm with the old version, rewrite (writeFileSync: truncate and write, same
 * inode, the mtime as the clock gives it), then at once one request on a new connection, a burst
 * of concurrent keep-alive requests, a few sequential ones and a HEAD. The cycles in `deep` send
 * 50 concurrent and then 200 sequential requests instead.
 */
async function rewriteCycles(t: TestContext, name: string, sizes: readonly number[], cycles: number, deep: readonly number[] = []): Promise<void> {
  const { send, at } = await setup(t);
  const file = at(name);
  const target = `/${name}`;
  let current = makeContent(sizes[0]!);
  fs.writeFileSync(file, current);
  const old: Buffer[] = [];
  const staleEtags = new Set<string>();
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const warmed = await warm(send, target, file, current, `cycle ${cycle}, old version`);
    staleEtags.add(warmed.headers.etag!);
    old.push(current);
    current = makeContent(sizes[cycle % sizes.length]!);
    assert.notEqual(current.length, old.at(-1)!.length, "each rewrite changes the size");

    fs.writeFileSync(file, current);
    const what = `cycle ${cycle} (${old.at(-1)!.length} → ${current.length} bytes)`;
    const first = await send(target, { fresh: true });
    const isDeep = deep.includes(cycle);
    const burst = await times(isDeep ? 50 : 6, () => send(target));
    const run = await sequential(isDeep ? 200 : 2, () => send(target));
    const head = await send(target, { method: "HEAD" });
    const check = { old, staleEtags };
    assertFresh(first, file, current, `${what}, first request`, check);
    for (const [i, res] of burst.entries()) assertFresh(res, file, current, `${what}, concurrent request ${i}`, check);
    for (const [i, res] of run.entries()) assertFresh(res, file, current, `${what}, sequential request ${i}`, check);
    assertFresh(head, file, current, `${what}, HEAD`, { ...check, method: "HEAD" });
    assertOneVersion([first, ...burst, ...run, head], what);
  }
}

test("a 1 KiB file rewritten with a different size: no request right after the rewrite sees the old bytes or headers (50 cycles; 50 concurrent + 200 sequential in one)", async (t) => {
  await rewriteCycles(t, "small.txt", [1024, 1000, 1023], 50, [40]);
});

test("a 100 KiB file rewritten with a different size: no request right after the rewrite sees the old bytes or headers (50 cycles; 50 concurrent + 200 sequential in one)", async (t) => {
  await rewriteCycles(t, "medium.bin", [100 * 1024, 100 * 1024 - 1, 100 * 1024 + 7], 50, [25]);
});

test("a file emptied and refilled: the empty version and the full one are each served at once (30 cycles)", async (t) => {
  await rewriteCycles(t, "empty.txt", [0, 1024, 0, 17], 30);
});

test("a file growing past any small-file cache size and shrinking back is served as it is each time (20 cycles)", async (t) => {
  await rewriteCycles(t, "grows.bin", [1024, 100 * 1024, 1024 * 1024, 1000, 64 * 1024 + 1], 20);
});

// ---------------------------------------------------------------------------------------------
// Same size, new content
// ---------------------------------------------------------------------------------------------

test("same size, new content, new distinct mtime: never the old bytes, ETag or Last-Modified (12 cycles each for 1 KiB and 100 KiB)", async (t) => {
  const { send, at } = await setup(t);
  for (const [name, size] of [["s.txt", 1024], ["m.bin", 100 * 1024]] as const) {
    const file = at(name);
    let current = makeContent(size);
    fs.writeFileSync(file, current);
    setMtime(file, BASE_MTIME);
    const old: Buffer[] = [];
    const staleEtags = new Set<string>();
    const staleLastModified = new Set<string>();
    for (let cycle = 1; cycle <= 12; cycle++) {
      const warmed = await warm(send, `/${name}`, file, current, `${name} cycle ${cycle}, old version`);
      staleEtags.add(warmed.headers.etag!);
      staleLastModified.add(warmed.headers["last-modified"]!);
      old.push(current);
      current = makeContent(size);
      fs.writeFileSync(file, current);
      setMtime(file, BASE_MTIME + cycle * 60);
      const check = { old, staleEtags, staleLastModified };
      const what = `${name} cycle ${cycle}`;
      const burst = await times(8, (i) => send(`/${name}`, { fresh: i === 0 }));
      for (const [i, res] of burst.entries()) assertFresh(res, file, current, `${what}, request ${i}`, check);
      assertFresh(await send(`/${name}`, { method: "HEAD" }), file, current, `${what}, HEAD`, { ...check, method: "HEAD" });
      assertOneVersion(burst, what);
    }
  }
});

/**
 * The case a cache keyed on (inode, size, mtime) cannot see: the same inode, the same size, the
 * mtime put back to exactly its old value with utimes. Only ctime (which no one can set) moves.
 * Expected: the new bytes. Serving the old ones would be a stale response, so a fast path must
 * also compare ctime, and must not trust an entry whose ctime is too recent to rule out a second
 * change within the same clock tick.
 *
 * (The ETag and Last-Modified cannot change here: they are made from inode, size and mtime. The
 * body is what this test holds the server to.)
 */
const UTIMES_CYCLES = 15;

test("same inode, same size, new content, mtime forced back to the old value with utimes (only ctime changes): the new bytes are served", async (t) => {
  const { send, at } = await setup(t);
  let ctimeUnchanged = 0;
  const cases = [
    { name: "whole.txt", size: 1024, how: "whole file overwritten in place" },
    { name: "truncated.txt", size: 1024, how: "writeFileSync (truncate, then write)" },
    { name: "onebyte.bin", size: 100 * 1024, how: "one byte in the middle changed in place" },
    { name: "onebyte-small.txt", size: 1024, how: "one byte in the middle changed in place" },
  ] as const;
  for (const { name, size, how } of cases) {
    const file = at(name);
    let current = makeContent(size);
    fs.writeFileSync(file, current);
    setMtime(file, BASE_MTIME);
    const old: Buffer[] = [];
    for (let cycle = 1; cycle <= UTIMES_CYCLES; cycle++) {
      await warm(send, `/${name}`, file, current, `${name} cycle ${cycle}, old version`);
      const before = statBig(file);
      old.push(current);
      if (how === "whole file overwritten in place") {
        current = makeContent(size);
        writeInPlace(file, current);
      } else if (how === "writeFileSync (truncate, then write)") {
        current = makeContent(size);
        fs.writeFileSync(file, current);
      } else {
        current = Buffer.from(current);
        const middle = size >> 1;
        current[middle] = current[middle] === 0x41 ? 0x42 : 0x41;
        writeInPlace(file, current.subarray(middle, middle + 1), middle);
      }
      setMtime(file, BASE_MTIME);
      const after = statBig(file);
      // The premise: nothing a (inode, size, mtime) key holds has changed.
      assert.equal(after.ino, before.ino, "same inode");
      assert.equal(after.size, before.size, "same size");
      assert.equal(after.mtimeNs, before.mtimeNs, "mtime put back exactly");
      if (after.ctimeNs === before.ctimeNs) ctimeUnchanged++;

      const what = `${name} (${how}) cycle ${cycle}`;
      const first = await send(`/${name}`);
      const burst = await times(4, (i) => send(`/${name}`, { fresh: i === 0 }));
      assertFresh(first, file, current, `${what}, first request`, { old });
      for (const [i, res] of burst.entries()) assertFresh(res, file, current, `${what}, request ${i}`, { old });
      const range = await send(`/${name}`, { headers: { Range: `bytes=${(size >> 1) - 4}-${(size >> 1) + 4}` } });
      assert.equal(range.status, 206, `${what}: Range status`);
      assertBytes(range.body, current.subarray((size >> 1) - 4, (size >> 1) + 5), `${what}: Range over the changed bytes`);
    }
  }
  t.diagnostic(`rewrites whose ctime did not move either (same clock tick): ${ctimeUnchanged} of ${cases.length * UTIMES_CYCLES}`);
});

test("same size, new content, rewritten at once with the mtime the clock gives (no utimes): the new bytes every time (100 cycles)", async (t) => {
  // Two writes inside one timestamp tick leave size and mtime (and ctime) as they were; on a
  // file system with coarse timestamps this is the stale-cache case that needs no utimes at all.
  const { send, at } = await setup(t);
  const file = at("rapid.txt");
  let current = makeContent(1024);
  fs.writeFileSync(file, current);
  const old: Buffer[] = [];
  let sameKey = 0;
  let sameKeyAndCtime = 0;
  for (let cycle = 1; cycle <= 100; cycle++) {
    const res = await send("/rapid.txt");
    assertFresh(res, file, current, `cycle ${cycle}, old version`, { old });
    const before = statBig(file);
    old.push(current);
    current = makeContent(1024);
    fs.writeFileSync(file, current);
    const after = statBig(file);
    if (after.ino === before.ino && after.mtimeNs === before.mtimeNs) {
      sameKey++;
      if (after.ctimeNs === before.ctimeNs) sameKeyAndCtime++;
    }
    const [a, b] = await Promise.all([send("/rapid.txt"), send("/rapid.txt", { fresh: true })]);
    assertFresh(a!, file, current, `cycle ${cycle}, keep-alive`, { old });
    assertFresh(b!, file, current, `cycle ${cycle}, new connection`, { old });
  }
  t.diagnostic(`rewrites that kept inode, size and mtime: ${sameKey} of 100 (ctime too: ${sameKeyAndCtime})`);
});

// ---------------------------------------------------------------------------------------------
// Replaced by rename, deleted, recreated
// ---------------------------------------------------------------------------------------------

test("replaced by rename over it (new inode, perhaps a reused one; same size, same mtime): never the old bytes (30 cycles)", async (t) => {
  // Rename-replace alternates between two inode numbers on ext4: the inode freed by one rename is
  // handed to the next temporary file. A cache keyed on (inode, size, mtime) then holds an entry
  // that matches the file of two cycles ago.
  const { send, at } = await setup(t);
  const file = at("swap.txt");
  const tmp = at(".swap.txt.tmp");
  let current = makeContent(1024);
  fs.writeFileSync(file, current);
  setMtime(file, BASE_MTIME);
  const old: Buffer[] = [];
  const seenInodes = new Set<bigint>();
  let reused = 0;
  for (let cycle = 1; cycle <= 30; cycle++) {
    await warm(send, "/swap.txt", file, current, `cycle ${cycle}, old version`);
    seenInodes.add(statBig(file).ino);
    old.push(current);
    current = makeContent(1024);
    fs.writeFileSync(tmp, current);
    setMtime(tmp, BASE_MTIME);
    fs.renameSync(tmp, file);
    if (seenInodes.has(statBig(file).ino)) reused++;
    const what = `cycle ${cycle}`;
    const burst = await times(4, (i) => send("/swap.txt", { fresh: i === 0 }));
    for (const [i, res] of burst.entries()) assertFresh(res, file, current, `${what}, request ${i}`, { old });
  }
  t.diagnostic(`renames that brought back an inode number already served: ${reused} of 30`);
});

test("deleted: the very next request is 404; recreated: the very next is 200 with the new bytes (30 cycles)", async (t) => {
  const { send, at } = await setup(t);
  const file = at("gone.txt");
  let current = makeContent(1024);
  fs.writeFileSync(file, current);
  setMtime(file, BASE_MTIME);
  const old: Buffer[] = [];
  for (let cycle = 1; cycle <= 30; cycle++) {
    await warm(send, "/gone.txt", file, current, `cycle ${cycle}, before delete`);
    fs.unlinkSync(file);
    const missing = await times(3, (i) => send("/gone.txt", { fresh: i === 0 }));
    for (const [i, res] of missing.entries()) {
      assert.equal(res.status, 404, `cycle ${cycle}: request ${i} after delete`);
      assert.ok(!res.body.equals(current), `cycle ${cycle}: the 404 carries the deleted bytes`);
    }
    const head = await send("/gone.txt", { method: "HEAD" });
    assert.equal(head.status, 404, `cycle ${cycle}: HEAD after delete`);
    old.push(current);
    // Same size and mtime, on ext4 often the same inode number too: nothing in (inode, size,
    // mtime) tells the new file from the deleted one.
    current = makeContent(cycle % 3 === 0 ? 1000 : 1024);
    fs.writeFileSync(file, current);
    setMtime(file, BASE_MTIME);
    const back = await times(3, (i) => send("/gone.txt", { fresh: i === 0 }));
    for (const [i, res] of back.entries()) assertFresh(res, file, current, `cycle ${cycle}, request ${i} after recreate`, { old });
  }
});

test("deleted and recreated before any request (the same inode number, size and mtime come back): the new bytes (30 cycles)", async (t) => {
  const { send, at } = await setup(t);
  const file = at("reborn.txt");
  let current = makeContent(1024);
  fs.writeFileSync(file, current);
  setMtime(file, BASE_MTIME);
  const old: Buffer[] = [];
  let sameInode = 0;
  for (let cycle = 1; cycle <= 30; cycle++) {
    await warm(send, "/reborn.txt", file, current, `cycle ${cycle}, old version`);
    const before = statBig(file);
    old.push(current);
    current = makeContent(1024);
    fs.unlinkSync(file);
    fs.writeFileSync(file, current);
    setMtime(file, BASE_MTIME);
    if (statBig(file).ino === before.ino) sameInode++;
    const burst = await times(4, (i) => send("/reborn.txt", { fresh: i === 0 }));
    for (const [i, res] of burst.entries()) assertFresh(res, file, current, `cycle ${cycle}, request ${i}`, { old });
  }
  t.diagnostic(`recreated files that got the deleted file's inode number back: ${sameInode} of 30`);
});

test("a path that answered 404 serves the file created right after, at once (also in a new folder; 30 cycles)", async (t) => {
  const { send, at, root } = await setup(t);
  for (let cycle = 1; cycle <= 30; cycle++) {
    const name = cycle % 2 === 0 ? "later.txt" : `later-${cycle}.txt`;
    const folder = `dir${cycle}`;
    for (const target of [`/${name}`, `/${folder}/inner.txt`, `/${folder}/`]) {
      for (let i = 0; i < 3; i++) assert.equal((await send(target)).status, 404, `cycle ${cycle}: ${target} before it exists`);
      assert.equal((await send(target, { method: "HEAD" })).status, 404, `cycle ${cycle}: HEAD ${target} before it exists`);
    }
    const content = makeContent(cycle % 5 === 0 ? 0 : 1024);
    fs.writeFileSync(at(name), content);
    fs.mkdirSync(path.join(root, folder));
    const inner = makeContent(100);
    fs.writeFileSync(path.join(root, folder, "inner.txt"), inner);
    assertFresh(await send(`/${name}`), at(name), content, `cycle ${cycle}: /${name} just created`);
    assertFresh(await send(`/${name}`, { method: "HEAD" }), at(name), content, `cycle ${cycle}: HEAD /${name} just created`, { method: "HEAD" });
    assertFresh(await send(`/${folder}/inner.txt`), path.join(root, folder, "inner.txt"), inner, `cycle ${cycle}: file in a folder just created`);
    const listing = await send(`/${folder}/`);
    assert.equal(listing.status, 200, `cycle ${cycle}: the new folder lists`);
    assert.deepEqual(listedNames(listing), ["inner.txt"]);
    if (cycle % 2 === 0) fs.unlinkSync(at(name));
  }
});

// ---------------------------------------------------------------------------------------------
// Folders: listings and index files
// ---------------------------------------------------------------------------------------------

/** The names a listing links to (the parent link excluded), in page order. */
function listedNames(res: Res): string[] {
  assert.equal(res.status, 200, "listing status");
  assert.match(res.headers["content-type"] ?? "", /^text\/html/);
  return [...res.body.toString("utf8").matchAll(/<a href="\.\/([^"]*)">/g)].map((m) => decodeURIComponent(m[1]!));
}

/** The size a listing shows for `name`, from its `<data value>`. */
function listedSize(res: Res, name: string): number | undefined {
  const row = res.body
    .toString("utf8")
    .split("\n")
    .find((line) => line.includes(`href="./${name}"`));
  const value = row && /<data value="(\d+)">/.exec(row)?.[1];
  return value === undefined || value === "" ? undefined : Number(value);
}

test("a listing shows a file added and drops a file removed on the very next request (40 cycles)", async (t) => {
  const { send, root } = await setup(t);
  const dir = path.join(root, "box");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "keep.txt"), "keep\n");
  const expected = new Set(["keep.txt"]);
  const sorted = () => [...expected].sort();
  for (let cycle = 1; cycle <= 40; cycle++) {
    for (let i = 0; i < 3; i++) assert.deepEqual(listedNames(await send("/box/")).sort(), sorted(), `cycle ${cycle}: warm-up listing`);
    const added = `f${cycle}.txt`;
    fs.writeFileSync(path.join(dir, added), makeContent(cycle));
    expected.add(added);
    assert.deepEqual(listedNames(await send("/box/")).sort(), sorted(), `cycle ${cycle}: listing right after adding ${added}`);
    if (cycle % 2 === 0) {
      const removed = expected.has(`f${cycle - 1}.txt`) ? `f${cycle - 1}.txt` : `r${cycle - 1}.txt`;
      fs.unlinkSync(path.join(dir, removed));
      expected.delete(removed);
      assert.deepEqual(listedNames(await send("/box/", { fresh: true })).sort(), sorted(), `cycle ${cycle}: listing right after removing ${removed}`);
    }
    if (cycle % 5 === 0) {
      // A rename keeps the entry count (and, on ext4, the folder's size) the same.
      const from = `f${cycle}.txt`;
      const to = `r${cycle}.txt`;
      fs.renameSync(path.join(dir, from), path.join(dir, to));
      expected.delete(from);
      expected.add(to);
      assert.deepEqual(listedNames(await send("/box/")).sort(), sorted(), `cycle ${cycle}: listing right after renaming ${from} to ${to}`);
    }
  }
});

test("a listing shows a file's new size at once, though the folder itself did not change (30 cycles)", async (t) => {
  // Rewriting a file leaves its folder's mtime and size alone: a listing cached on the folder's
  // stat would keep showing the old size.
  const { send, root } = await setup(t);
  const dir = path.join(root, "sizes");
  fs.mkdirSync(dir);
  const file = path.join(dir, "grows.txt");
  fs.writeFileSync(file, makeContent(10));
  for (let cycle = 1; cycle <= 30; cycle++) {
    for (let i = 0; i < 3; i++) await send("/sizes/");
    const size = 10 + cycle * 37;
    fs.writeFileSync(file, makeContent(size));
    const res = await send("/sizes/");
    assert.equal(listedSize(res, "grows.txt"), size, `cycle ${cycle}: the listing's size for the rewritten file`);
  }
});

test("index.html created in a listed folder is served by the very next request; removed, the listing is back (20 cycles)", async (t) => {
  const { send, root } = await setup(t);
  const dir = path.join(root, "site");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "a.txt"), "a\n");
  const indexHtml = path.join(dir, "index.html");
  const indexHtm = path.join(dir, "index.htm");
  const old: Buffer[] = [];
  for (let cycle = 1; cycle <= 20; cycle++) {
    for (let i = 0; i < 3; i++) assert.deepEqual(listedNames(await send("/site/")), ["a.txt"], `cycle ${cycle}: warm-up listing`);

    let index = makeContent(cycle % 2 ? 1024 : 300, ".html");
    fs.writeFileSync(indexHtml, index);
    setMtime(indexHtml, BASE_MTIME);
    assertFresh(await send("/site/"), indexHtml, index, `cycle ${cycle}: index.html just created`, { old });
    assertFresh(await send("/site/index.html"), indexHtml, index, `cycle ${cycle}: /site/index.html just created`, { old });
    for (let i = 0; i < 2; i++) await send("/site/");

    // Same inode, same size, mtime put back: only the bytes changed.
    old.push(index);
    index = makeContent(index.length, ".html");
    writeInPlace(indexHtml, index);
    setMtime(indexHtml, BASE_MTIME);
    assertFresh(await send("/site/"), indexHtml, index, `cycle ${cycle}: index.html rewritten in place`, { old });
    old.push(index);

    if (cycle % 4 === 0) {
      // index.htm is the fallback: it takes over the moment index.html goes, and loses the moment it is back.
      const htm = makeContent(200, ".htm");
      fs.writeFileSync(indexHtm, htm);
      assertFresh(await send("/site/"), indexHtml, index, `cycle ${cycle}: index.html still wins over index.htm`, { old });
      fs.unlinkSync(indexHtml);
      assertFresh(await send("/site/"), indexHtm, htm, `cycle ${cycle}: index.htm once index.html is gone`, { old });
      fs.unlinkSync(indexHtm);
    } else {
      fs.unlinkSync(indexHtml);
    }
    const listing = await send("/site/", { fresh: cycle % 2 === 0 });
    assert.deepEqual(listedNames(listing), ["a.txt"], `cycle ${cycle}: the listing right after the index went`);
  }
});

test("a folder replaced by a file of the same name, and back: each request answers what is there now (20 cycles)", async (t) => {
  const { send, root } = await setup(t);
  const thing = path.join(root, "thing");
  for (let cycle = 1; cycle <= 20; cycle++) {
    fs.mkdirSync(thing);
    fs.writeFileSync(path.join(thing, "inner.txt"), "inner\n");
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(listedNames(await send("/thing/")), ["inner.txt"], `cycle ${cycle}: folder listing`);
      const redirect = await send("/thing");
      assert.equal(redirect.status, 301, `cycle ${cycle}: /thing is a folder`);
      assert.equal(redirect.headers.location, "/thing/");
    }
    fs.rmSync(thing, { recursive: true });
    const content = makeContent(1024);
    fs.writeFileSync(thing, content);
    assertFresh(await send("/thing"), thing, content, `cycle ${cycle}: /thing is now a file`);
    assert.equal((await send("/thing/")).status, 404, `cycle ${cycle}: /thing/ names no folder now`);
    assertFresh(await send("/thing"), thing, content, `cycle ${cycle}: /thing is still a file`);
    fs.unlinkSync(thing);
    assert.equal((await send("/thing")).status, 404, `cycle ${cycle}: /thing is gone`);
  }
});

// ---------------------------------------------------------------------------------------------
// 404.html
// ---------------------------------------------------------------------------------------------

test("404.html changed (new size; same size with the mtime put back; replaced by rename; deleted; recreated): the next 404 shows it as it is now (10 rounds)", async (t) => {
  const { send, at } = await setup(t);
  const page = at("404.html");
  const tmp = at(".404.tmp");
  const old: Buffer[] = [];
  const targets = ["/missing.txt", "/no/such/folder/", "/.hidden"];
  const expectNotFound = async (body: Buffer | null, what: string) => {
    for (const [i, target] of targets.entries()) {
      const res = await send(target, { fresh: i === 0 });
      assert.equal(res.status, 404, `${what}: ${target} status`);
      if (body) {
        assertBytes(res.body, body, `${what}: ${target}`, old);
        assert.equal(res.headers["content-length"], String(body.length), `${what}: ${target} Content-Length`);
      } else {
        assert.ok(!old.some((o) => o.equals(res.body)), `${what}: ${target} shows a deleted 404.html`);
        assert.match(res.body.toString(), /404 Not Found/, `${what}: ${target} shows the built-in page`);
      }
    }
  };
  const change = async (next: Buffer, apply: () => void, what: string) => {
    for (let i = 0; i < 3; i++) await send("/missing.txt");
    apply();
    await expectNotFound(next, what);
    old.push(next);
  };
  for (let round = 1; round <= 10; round++) {
    await expectNotFound(null, `round ${round}: no 404.html yet`);
    let current = makeContent(500, ".404");
    await change(current, () => fs.writeFileSync(page, current), `round ${round}: 404.html created`);
    setMtime(page, BASE_MTIME);

    current = makeContent(700, ".404");
    await change(current, () => fs.writeFileSync(page, current), `round ${round}: 404.html rewritten, new size`);
    setMtime(page, BASE_MTIME);

    current = makeContent(700, ".404");
    await change(current, () => {
      writeInPlace(page, current);
      setMtime(page, BASE_MTIME);
    }, `round ${round}: 404.html rewritten in place, same size, mtime put back`);

    current = makeContent(700, ".404");
    await change(current, () => {
      fs.writeFileSync(tmp, current);
      setMtime(tmp, BASE_MTIME);
      fs.renameSync(tmp, page);
    }, `round ${round}: 404.html replaced by rename, same size and mtime`);

    for (let i = 0; i < 3; i++) await send("/missing.txt");
    fs.unlinkSync(page);
    await expectNotFound(null, `round ${round}: 404.html deleted`);
  }
});

// ---------------------------------------------------------------------------------------------
// Conditional requests and ranges after a rewrite
// ---------------------------------------------------------------------------------------------

test("after a rewrite, validators of the old version match nothing: If-None-Match and If-Modified-Since give 200 with the new body, If-Match 412, If-Range the whole new file (15 cycles)", async (t) => {
  const { send, at } = await setup(t);
  const file = at("cond.txt");
  let current = makeContent(1024);
  fs.writeFileSync(file, current);
  setMtime(file, BASE_MTIME);
  const old: Buffer[] = [];
  const staleEtags = new Set<string>();
  const staleLastModified = new Set<string>();
  for (let cycle = 1; cycle <= 15; cycle++) {
    const what = `cycle ${cycle}`;
    const warmed = await warm(send, "/cond.txt", file, current, `${what}, old version`);
    const etag = warmed.headers.etag!;
    const lastModified = warmed.headers["last-modified"]!;
    // Warm the conditional paths too, so any cached 304/206/412 decision exists.
    for (let i = 0; i < 2; i++) {
      assert.equal((await send("/cond.txt", { headers: { "If-None-Match": etag } })).status, 304, `${what}: old version, If-None-Match current`);
      assert.equal((await send("/cond.txt", { headers: { "If-Modified-Since": lastModified } })).status, 304, `${what}: old version, If-Modified-Since current`);
      assert.equal((await send("/cond.txt", { headers: { "If-Match": etag } })).status, 200, `${what}: old version, If-Match current`);
      const partial = await send("/cond.txt", { headers: { "If-Range": etag, Range: "bytes=0-9" } });
      assert.equal(partial.status, 206, `${what}: old version, If-Range current`);
      assertBytes(partial.body, current.subarray(0, 10), `${what}: old version, If-Range current`);
    }
    staleEtags.add(etag);
    staleLastModified.add(lastModified);
    old.push(current);
    // Alternate: a new size (writeFileSync), or the same size written in place. Either way the
    // mtime moves forward by whole minutes, so both validators must change.
    current = makeContent(cycle % 2 ? 1000 + cycle : current.length);
    if (cycle % 2) fs.writeFileSync(file, current);
    else writeInPlace(file, current);
    setMtime(file, BASE_MTIME + cycle * 60);
    const check = { old, staleEtags, staleLastModified };

    assertFresh(await send("/cond.txt", { headers: { "If-None-Match": etag } }), file, current, `${what}: If-None-Match with the old ETag`, check);
    assertFresh(await send("/cond.txt", { headers: { "If-None-Match": `"nope", ${etag}` } }), file, current, `${what}: If-None-Match with a list holding the old ETag`, check);
    assertFresh(await send("/cond.txt", { headers: { "If-None-Match": `W/${etag}` } }), file, current, `${what}: If-None-Match with the old ETag as weak`, check);
    assertFresh(await send("/cond.txt", { headers: { "If-Modified-Since": lastModified } }), file, current, `${what}: If-Modified-Since the old Last-Modified`, check);
    const head = await send("/cond.txt", { method: "HEAD", headers: { "If-None-Match": etag } });
    assertFresh(head, file, current, `${what}: HEAD with If-None-Match of the old ETag`, { ...check, method: "HEAD" });

    const ifMatch = await send("/cond.txt", { headers: { "If-Match": etag } });
    assert.equal(ifMatch.status, 412, `${what}: If-Match with the old ETag`);
    assert.equal(ifMatch.body.length, 0, `${what}: a 412 has no body`);
    const ifUnmodified = await send("/cond.txt", { headers: { "If-Unmodified-Since": lastModified } });
    assert.equal(ifUnmodified.status, 412, `${what}: If-Unmodified-Since the old Last-Modified`);

    for (const ifRange of [etag, lastModified]) {
      const res = await send("/cond.txt", { headers: { "If-Range": ifRange, Range: "bytes=0-9" } });
      assertFresh(res, file, current, `${what}: If-Range ${ifRange} (old) with a Range`, check);
    }

    // And the new validators work at once.
    const fresh = await send("/cond.txt");
    assertFresh(fresh, file, current, `${what}: plain GET`, check);
    assert.equal((await send("/cond.txt", { headers: { "If-None-Match": fresh.headers.etag! } })).status, 304, `${what}: If-None-Match with the new ETag`);
    const partial = await send("/cond.txt", { headers: { "If-Range": fresh.headers.etag!, Range: "bytes=5-14" } });
    assert.equal(partial.status, 206, `${what}: If-Range with the new ETag`);
    assertBytes(partial.body, current.subarray(5, 15), `${what}: If-Range with the new ETag`, old.map((o) => o.subarray(5, 15)));
  }
});

/** Splits a multipart/byteranges body into its parts' Content-Range and data. */
function byterangesParts(res: Res): Array<{ contentRange: string; data: Buffer }> {
  const boundary = /boundary=(\S+)$/.exec(res.headers["content-type"] ?? "")?.[1];
  assert.ok(boundary, `not multipart/byteranges: ${res.headers["content-type"]}`);
  const parts: Array<{ contentRange: string; data: Buffer }> = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let at = res.body.indexOf(delimiter);
  while (at !== -1) {
    const afterDelimiter = at + delimiter.length;
    if (res.body.subarray(afterDelimiter, afterDelimiter + 2).toString() === "--") break;
    const headEnd = res.body.indexOf("\r\n\r\n", afterDelimiter);
    const head = res.body.subarray(afterDelimiter, headEnd).toString("latin1");
    const contentRange = /content-range: (.*)/i.exec(head)?.[1]?.trim() ?? "";
    const [, start, end] = /bytes (\d+)-(\d+)\//.exec(contentRange) ?? [];
    const length = Number(end) - Number(start) + 1;
    parts.push({ contentRange, data: res.body.subarray(headEnd + 4, headEnd + 4 + length) });
    at = res.body.indexOf(delimiter, headEnd + 4 + length);
  }
  return parts;
}

test("ranges after a rewrite are cut from the new content and sized against the new length (1 KiB and 100 KiB, 15 cycles each)", async (t) => {
  const { send, at } = await setup(t);
  for (const [name, sizes] of [["r.txt", [1024, 700, 1024]], ["r.bin", [100 * 1024, 60 * 1024, 100 * 1024]]] as const) {
    const file = at(name);
    let current = makeContent(sizes[0]);
    fs.writeFileSync(file, current);
    setMtime(file, BASE_MTIME);
    const old: Buffer[] = [];
    for (let cycle = 1; cycle <= 15; cycle++) {
      const oldSize = current.length;
      const ranges = [`bytes=0-99`, `bytes=-10`, `bytes=${oldSize - 50}-`, `bytes=100-199,${oldSize - 20}-${oldSize - 11}`];
      for (const range of ranges) await send(`/${name}`, { headers: { Range: range } });
      await warm(send, `/${name}`, file, current, `${name} cycle ${cycle}, old version`);
      old.push(current);
      // A new size (writeFileSync), or the same size in place with the mtime put back.
      const sameSize = cycle % 3 === 0;
      current = makeContent(sameSize ? oldSize : sizes[cycle % sizes.length]!);
      if (sameSize) writeInPlace(file, current);
      else fs.writeFileSync(file, current);
      setMtime(file, BASE_MTIME);
      const size = current.length;
      const what = `${name} cycle ${cycle} (${oldSize} → ${size} bytes)`;

      const first = await send(`/${name}`, { headers: { Range: "bytes=0-99" } });
      assert.equal(first.status, 206, `${what}: bytes=0-99`);
      assert.equal(first.headers["content-range"], `bytes 0-99/${size}`, `${what}: bytes=0-99 Content-Range`);
      assertBytes(first.body, current.subarray(0, 100), `${what}: bytes=0-99`, old.map((o) => o.subarray(0, 100)));

      const suffix = await send(`/${name}`, { headers: { Range: "bytes=-10" } });
      assert.equal(suffix.headers["content-range"], `bytes ${size - 10}-${size - 1}/${size}`, `${what}: bytes=-10 Content-Range`);
      assertBytes(suffix.body, current.subarray(size - 10), `${what}: bytes=-10`, old.map((o) => o.subarray(o.length - 10)));

      const tailStart = oldSize - 50;
      const tail = await send(`/${name}`, { headers: { Range: `bytes=${tailStart}-` } });
      if (tailStart >= size) {
        assert.equal(tail.status, 416, `${what}: bytes=${tailStart}- is past the new end`);
        assert.equal(tail.headers["content-range"], `bytes */${size}`);
      } else {
        assert.equal(tail.status, 206, `${what}: bytes=${tailStart}-`);
        assert.equal(tail.headers["content-range"], `bytes ${tailStart}-${size - 1}/${size}`);
        assertBytes(tail.body, current.subarray(tailStart), `${what}: bytes=${tailStart}-`);
      }

      const multi = await send(`/${name}`, { headers: { Range: `bytes=100-199,${size - 20}-${size - 11}` } });
      assert.equal(multi.status, 206, `${what}: two ranges`);
      const parts = byterangesParts(multi);
      assert.deepEqual(parts.map((p) => p.contentRange), [`bytes 100-199/${size}`, `bytes ${size - 20}-${size - 11}/${size}`], `${what}: two ranges' Content-Range`);
      assertBytes(parts[0]!.data, current.subarray(100, 200), `${what}: first of two ranges`);
      assertBytes(parts[1]!.data, current.subarray(size - 20, size - 10), `${what}: second of two ranges`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Links: one file, several names
// ---------------------------------------------------------------------------------------------

test("a symlink retargeted to another file of the same size and mtime, and a hard-linked file changed through its other name: the bytes there now (20 cycles)", async (t) => {
  const { send, at } = await setup(t);
  const a = at("a.txt");
  const b = at("b.txt");
  const link = at("link.txt");
  const hard = at("hard.txt");
  let contentA = makeContent(1024, "a");
  let contentB = makeContent(1024, "b");
  fs.writeFileSync(a, contentA);
  fs.writeFileSync(b, contentB);
  setMtime(a, BASE_MTIME);
  setMtime(b, BASE_MTIME);
  fs.linkSync(b, hard);
  fs.symlinkSync("a.txt", link);
  const old: Buffer[] = [];
  let pointsAt: "a" | "b" = "a";
  for (let cycle = 1; cycle <= 20; cycle++) {
    const what = `cycle ${cycle}`;
    const expectedLink = pointsAt === "a" ? contentA : contentB;
    for (let i = 0; i < 3; i++) {
      assertFresh(await send("/link.txt"), link, expectedLink, `${what}: link before`, { old });
      assertFresh(await send("/hard.txt"), hard, contentB, `${what}: hard link before`, { old });
    }
    // Retarget the link atomically.
    pointsAt = pointsAt === "a" ? "b" : "a";
    fs.symlinkSync(`${pointsAt}.txt`, at(".link.tmp"));
    fs.renameSync(at(".link.tmp"), link);
    assertFresh(await send("/link.txt"), link, pointsAt === "a" ? contentA : contentB, `${what}: link just retargeted to ${pointsAt}.txt`, { old });

    // Change b through its hard link: same inode, size and mtime for both names.
    old.push(contentB);
    contentB = makeContent(1024, "b");
    writeInPlace(hard, contentB);
    setMtime(hard, BASE_MTIME);
    assertFresh(await send("/b.txt"), b, contentB, `${what}: b.txt after a write through hard.txt`, { old });
    assertFresh(await send("/hard.txt"), hard, contentB, `${what}: hard.txt after its own write`, { old });
    assertFresh(await send("/link.txt"), link, pointsAt === "a" ? contentA : contentB, `${what}: link after b changed`, { old });

    old.push(contentA);
    contentA = makeContent(1024, "a");
    writeInPlace(a, contentA);
    setMtime(a, BASE_MTIME);
    assertFresh(await send("/link.txt"), link, pointsAt === "a" ? contentA : contentB, `${what}: link after a changed`, { old });
    assertFresh(await send("/a.txt"), a, contentA, `${what}: a.txt after its write`, { old });
  }
});

test("same inode, size and mtime (put back with utimes) but new content: the old ETag no longer validates", async (t) => {
  const root = tempDir(t, { "f.txt": "old content 1234\n" });
  const file = path.join(root, "f.txt");
  fs.utimesSync(file, 1_600_000_000, 1_600_000_000);
  const server = await serve(t, { root });
  const before = await request(server.port, "/f.txt");
  const fd = fs.openSync(file, "r+");
  fs.writeSync(fd, Buffer.from("NEW content 5678\n"), 0, 17, 0);
  fs.closeSync(fd);
  fs.utimesSync(file, 1_600_000_000, 1_600_000_000);
  const inm = await request(server.port, "/f.txt", { headers: { "If-None-Match": before.headers.etag! } });
  assert.equal(inm.status, 200, "If-None-Match with the old ETag");
  assert.equal(inm.body.toString(), "NEW content 5678\n");
  const ifRange = await request(server.port, "/f.txt", { headers: { "If-Range": before.headers.etag!, Range: "bytes=4-" } });
  assert.equal(ifRange.status, 200, "If-Range with the old ETag must not splice new bytes onto the old");
});
