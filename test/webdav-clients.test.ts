/**
 * WebDAV with real clients (issue 18 §4), each run as its own process against a real server:
 * litmus 0.13 (the conformance suite, all five suites), rclone's webdav backend (vendor other),
 * cadaver driven one command at a time on its stdin, and davfs2 mounting the share through FUSE.
 * A client missing from the machine is a failure (.ci/run installs them all); the davfs2 mount alone
 * is skipped where FUSE is missing or mounting is not permitted.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, closeSync, createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import http from "node:http";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import test, { type TestContext } from "node:test";
import type { AccessLogEntry } from "../src/server.js";
import { buildTree, eventually, serve, tempDir, type Tree } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Running the clients
// ---------------------------------------------------------------------------------------------

interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a client to completion and never rejects on its exit status (the caller asserts it); a
 * client that is not installed rejects, so the test fails saying which. Killed after `timeoutMs`.
 */
function runTool(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number; stdin?: string }): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    if (options.stdin !== undefined) child.stdin!.end(options.stdin);
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === "ENOENT" ? new Error(`${command} is not installed (.ci/run installs it): ${error.message}`) : error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

function assertExitZero(run: ToolRun, what: string): void {
  assert.equal(run.code, 0, `${what} exited with ${run.code ?? run.signal} after ${run.ms.toFixed(0)} ms\nstdout:\n${run.stdout.slice(-4000)}\nstderr:\n${run.stderr.slice(-4000)}`);
}

/** A private, empty folder for a client's HOME, TMPDIR and working files: it writes nothing anywhere else. */
function clientHome(t: TestContext): string {
  return tempDir(t);
}

// ---------------------------------------------------------------------------------------------
// What is on disk
// ---------------------------------------------------------------------------------------------

async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Every entry under `dir`, by relative path (names byte for byte, as UTF-8 text): `dir` for a
 * folder, `file SIZE SHA256` for a file. Hidden files included; `skip` leaves names out at the top.
 */
async function treeDigest(dir: string, skip: readonly string[] = []): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string, prefix: string): Promise<void> => {
    for (const name of readdirSync(at).sort()) {
      if (prefix === "" && skip.includes(name)) continue;
      const full = path.join(at, name);
      const stats = lstatSync(full);
      if (stats.isDirectory()) {
        out[prefix + name] = "dir";
        await walk(full, prefix + name + "/");
      } else if (stats.isFile()) {
        out[prefix + name] = `file ${stats.size} ${await sha256Of(full)}`;
      } else {
        out[prefix + name] = "other";
      }
    }
  };
  await walk(dir, "");
  return out;
}

/** Relative paths of the files (not folders) under `dir`. */
function filesUnder(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (lstatSync(full).isDirectory()) out.push(...filesUnder(full, prefix + name + "/"));
    else out.push(prefix + name);
  }
  return out;
}

/**
 * `bytes` of a pattern no file system stores sparsely and no compressor shrinks much: one random
 * MiB, each MiB of the file stamped with its index so no two are alike. Fast (no 200 MB of
 * randomness to draw) and every byte is written.
 */
function writePatternFile(file: string, bytes: number): void {
  const MiB = 1024 * 1024;
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) block.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
  const fd = openSync(file, "w");
  try {
    for (let offset = 0, index = 0; offset < bytes; offset += MiB, index++) {
      block.writeUInt32LE(index, 0);
      block.writeUInt32LE(index ^ 0x5a5a5a5a, MiB / 2);
      writeSync(fd, block, 0, Math.min(MiB, bytes - offset));
    }
  } finally {
    closeSync(fd);
  }
}

const WRITE_METHODS: ReadonlySet<string> = new Set(["PUT", "POST", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"]);

function assertNoServerError(log: readonly AccessLogEntry[]): void {
  const failures = log.filter((entry) => entry.status >= 500);
  assert.deepEqual(
    failures.map((e) => `${e.method} ${e.url} ${e.status} ${e.note ?? ""}`),
    [],
    "no request got a 5xx",
  );
}

// ---------------------------------------------------------------------------------------------
// litmus
// ---------------------------------------------------------------------------------------------

const LITMUS_SUITES = ["basic", "copymove", "props", "locks", "http"] as const;

interface LitmusSummary {
  suite: string;
  run: number;
  passed: number;
  failed: number;
}

/** litmus's `<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%` lines. */
function litmusSummaries(output: string): LitmusSummary[] {
  return [...output.matchAll(/<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)].map((m) => ({ suite: m[1]!, run: Number(m[2]), passed: Number(m[3]), failed: Number(m[4]) }));
}

/** litmus with its working files (debug.log, child.log) in `home`, its HOME and TMPDIR there too. */
function litmus(url: string, home: string, suites: readonly string[] = LITMUS_SUITES): Promise<ToolRun> {
  return runTool("litmus", [url], { cwd: home, env: { ...process.env, HOME: home, TMPDIR: home, TESTS: suites.join(" ") }, timeoutMs: 120_000 });
}

test("litmus 0.13, all five suites, against --upload --overwrite: 104 of 104 pass, no warning, no 5xx", async (t) => {
  const root = tempDir(t, { "existing.txt": "here before litmus\n" });
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onResponse: (entry) => log.push(entry) });
  const home = clientHome(t);
  const run = await litmus(`${server.base}/`, home);
  assertExitZero(run, "litmus");
  const summaries = litmusSummaries(run.stdout);
  assert.deepEqual(
    summaries.map((s) => s.suite),
    [...LITMUS_SUITES],
    `a summary for each suite, in order:\n${run.stdout}`,
  );
  const total = summaries.reduce((sum, s) => ({ run: sum.run + s.run, passed: sum.passed + s.passed, failed: sum.failed + s.failed }), { run: 0, passed: 0, failed: 0 });
  assert.deepEqual(total, { run: 104, passed: 104, failed: 0 }, `litmus:\n${run.stdout}`);
  assert.doesNotMatch(run.stdout + run.stderr, /warning/i, "litmus issued no warning");
  assertNoServerError(log);
  // What was there before is untouched; litmus's own collection stays (each suite deletes and makes
  // it again at its start; the http suite leaves its expect100 file in it).
  const after = await treeDigest(root);
  assert.equal(after["existing.txt"], `file 19 ${createHash("sha256").update("here before litmus\n").digest("hex")}`);
  assert.deepEqual(
    Object.keys(after).filter((name) => name !== "existing.txt" && name !== "litmus" && !name.startsWith("litmus/")),
    [],
    "litmus wrote only inside its collection",
  );
  t.diagnostic(`litmus: ${summaries.map((s) => `${s.suite} ${s.passed}/${s.run}`).join(", ")}; ${log.length} requests in ${run.ms.toFixed(0)} ms`);
});

test("litmus against a server without --upload: each suite fails at its start, every write it tried got 403 or 405, the disk is unchanged", async (t) => {
  // A `litmus/` collection already there, so litmus's first step (DELETE it, then MKCOL) tries a
  // DELETE of something real, with a file inside.
  const root = tempDir(t, { "index.html": "<p>hello</p>\n", litmus: { "keep.txt": "not litmus's to delete\n" }, docs: { "a b#c.txt": "awkward\n" } });
  const before = await treeDigest(root);
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (entry) => log.push(entry) });
  const home = clientHome(t);
  for (const suite of LITMUS_SUITES) {
    const run = await litmus(`${server.base}/`, home, [suite]);
    assert.notEqual(run.code, 0, `litmus ${suite} must fail against a read-only share:\n${run.stdout}`);
    const [summary] = litmusSummaries(run.stdout);
    assert.ok(summary !== undefined && summary.suite === suite && summary.failed > 0, `litmus ${suite} reports its failure:\n${run.stdout}`);
    assert.match(run.stdout, /405 Method Not Allowed/, `litmus ${suite} says why:\n${run.stdout}`);
  }
  const writes = log.filter((entry) => WRITE_METHODS.has(entry.method));
  assert.ok(writes.length >= 2 * LITMUS_SUITES.length, `litmus tried writes (${writes.length}): ${log.map((e) => e.method).join(" ")}`);
  assert.deepEqual(
    writes.filter((entry) => entry.status !== 403 && entry.status !== 405).map((e) => `${e.method} ${e.url} ${e.status}`),
    [],
    "every write litmus tried was refused with 403 or 405",
  );
  assert.ok(writes.some((entry) => entry.method === "DELETE") && writes.some((entry) => entry.method === "MKCOL"), "DELETE and MKCOL were among them");
  assertNoServerError(log);
  assert.deepEqual(await treeDigest(root), before, "nothing on disk changed");
  t.diagnostic(`writes tried: ${writes.length} (${[...new Set(writes.map((e) => `${e.method} ${e.status}`))].join(", ")})`);
});

// ---------------------------------------------------------------------------------------------
// rclone
// ---------------------------------------------------------------------------------------------

const BIG_BYTES = 200 * 1024 * 1024;
const SMALL_FILES = 1000;

/** Names a client must encode and a server decode: every one must arrive byte for byte. */
const AWKWARD: Tree = {
  "with space.txt": "spaces\n",
  "hash#tag.txt": "a # in a name is not a fragment\n",
  "per%cent 100%.txt": "percent signs, one before two hex digits: %41\n",
  "what?.txt": "a ? in a name is not a query\n",
  "café.txt": "NFC: é is one code point\n",
  "Noe\u0308l (NFD).txt": "NFD: e and a combining diaeresis, kept as sent\n",
  "日本語 ✓.txt": "three-byte and symbol characters\n",
  "plus+and&amp;=;.txt": "+ & = ; in a name\n",
  "angle <b> \"quote\" 'apos'.txt": "XML's special characters in a name\n",
  "colon: star* pipe|.txt": "Windows would refuse these; Linux keeps them\n",
  "empty.txt": "",
  "sub dir": {
    "ü.txt": "in a folder with a space\n",
    deeper: { "50%#?.txt": "every special character at once\n" },
  },
};

/** The rclone remote `dav:`, configured by environment variables only; nothing read from or written to a config file. */
function rcloneEnv(base: string, home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: home,
    TMPDIR: home,
    XDG_CONFIG_HOME: home,
    XDG_CACHE_HOME: home,
    RCLONE_CONFIG_DAV_TYPE: "webdav",
    RCLONE_CONFIG_DAV_URL: `${base}/`,
    RCLONE_CONFIG_DAV_VENDOR: "other",
  };
}

test("rclone (webdav, vendor other): a tree of awkward names, 200 MB and 1,000 files up and down, check, lsjson, move, delete", async (t) => {
  const src = tempDir(t, { ...AWKWARD });
  mkdirSync(path.join(src, "many"));
  for (let i = 0; i < SMALL_FILES; i++) writeFileSync(path.join(src, "many", `f${String(i).padStart(4, "0")}.txt`), `small file ${i}\n`);
  writePatternFile(path.join(src, "big.bin"), BIG_BYTES);
  // Old local times, so a time the server reports can be told from one rclone sent.
  const localTime = new Date("2001-02-03T04:05:06Z");
  for (const file of filesUnder(src)) utimesSync(path.join(src, file), localTime, localTime);
  const localFiles = filesUnder(src);
  const srcDigest = await treeDigest(src);

  const root = tempDir(t);
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onResponse: (entry) => log.push(entry) });
  const home = clientHome(t);
  const env = rcloneEnv(server.base, home);
  const rclone = (args: string[], timeoutMs = 60_000) => runTool("rclone", ["--config", "/dev/null", "--low-level-retries", "1", "--retries", "1", ...args], { cwd: home, env, timeoutMs });

  // Up: every name arrives as itself (vendor other encodes nothing), every byte as sent.
  const upStart = Date.now();
  const up = await rclone(["copy", src, "dav:up"], 150_000);
  assertExitZero(up, "rclone copy up");
  assert.deepEqual(await treeDigest(path.join(root, "up")), srcDigest, "the server's disk holds the tree, names and bytes");
  const puts = log.filter((entry) => entry.method === "PUT" && entry.url.startsWith("/up/"));
  assert.equal(puts.length, localFiles.length, "one PUT per file");
  assert.ok(puts.every((entry) => entry.status === 201), "each one a new file");
  const bigPut = puts.find((entry) => entry.url === "/up/big.bin")!;
  const manyPuts = puts.filter((entry) => entry.url.startsWith("/up/many/"));
  const manySpan = manyPuts.at(-1)!.time.getTime() - manyPuts[0]!.time.getTime();
  t.diagnostic(
    `rclone copy up: ${localFiles.length} files in ${up.ms.toFixed(0)} ms; the 200 MB PUT took ${bigPut.ms.toFixed(0)} ms on the server (${(BIG_BYTES / 1048576 / (bigPut.ms / 1000)).toFixed(0)} MiB/s); ` +
      `the ${SMALL_FILES} small files from first PUT to last ${manySpan} ms (${((SMALL_FILES * 1000) / Math.max(1, manySpan)).toFixed(0)} files/s; rclone's webdav pacer waits 10 ms between calls, and it makes three per file: MKCOL of the parent, PUT, PROPFIND)`,
  );

  // Nothing changed, nothing sent again; one file changed, that file alone.
  const again = await rclone(["copy", src, "dav:up"]);
  assertExitZero(again, "rclone copy up again");
  const putsAfter = () => log.filter((entry) => entry.method === "PUT" && entry.url.startsWith("/up/")).length;
  assert.equal(putsAfter(), localFiles.length, "a second copy sends nothing");
  writeFileSync(path.join(src, "with space.txt"), "spaces, longer now\n");
  const changed = await rclone(["copy", src, "dav:up"]);
  assertExitZero(changed, "rclone copy of one changed file");
  assert.equal(putsAfter(), localFiles.length + 1, "only the changed file is sent");
  assert.equal(readFileSync(path.join(root, "up", "with space.txt"), "utf8"), "spaces, longer now\n", "and it replaced the old one (--overwrite)");
  const replaced = log.filter((entry) => entry.method === "PUT" && entry.url.startsWith("/up/")).at(-1)!;
  assert.equal(replaced.status, 204);
  const srcDigestNow = await treeDigest(src);

  // Down into another folder: the same tree.
  const down = tempDir(t);
  const downRun = await rclone(["copy", "dav:up", down], 120_000);
  assertExitZero(downRun, "rclone copy down");
  assert.deepEqual(await treeDigest(down), srcDigestNow, "the copy down is the tree that went up");
  t.diagnostic(`rclone copy down: ${localFiles.length} files in ${downRun.ms.toFixed(0)} ms`);

  // rclone check: no hash in common (vendor other has none), so it compares names and sizes.
  const check = await rclone(["check", src, "dav:up"]);
  assertExitZero(check, "rclone check");
  assert.match(check.stderr, /: 0 differences found/);
  assert.match(check.stderr, new RegExp(`: ${localFiles.length} matching files`));

  // lsjson: every file, its size; its time is the server's. With vendor other rclone sends no
  // modification time (only owncloud/nextcloud send X-OC-Mtime), and PUT stores a file as it comes:
  // so ModTime is when the server stored the file (its getlastmodified, to the second), within the
  // upload, not the local file's time; rclone knows (it calls the remote's precision "not supported")
  // and compares sizes only. The copy down takes the server's time as its own.
  const listing = await rclone(["lsjson", "-R", "dav:up"]);
  assertExitZero(listing, "rclone lsjson");
  const entries = JSON.parse(listing.stdout) as Array<{ Path: string; Size: number; ModTime: string; IsDir: boolean }>;
  const byPath = new Map(entries.map((entry) => [entry.Path, entry]));
  const localFilesNow = filesUnder(src);
  assert.equal(entries.filter((entry) => !entry.IsDir).length, localFilesNow.length, "lsjson lists every file once");
  for (const file of localFilesNow) {
    const entry = byPath.get(file);
    assert.ok(entry !== undefined && !entry.IsDir, `lsjson lists ${file}`);
    assert.equal(entry.Size, statSync(path.join(src, file)).size, `${file}: size`);
    const listed = Date.parse(entry.ModTime);
    const stored = Math.floor(statSync(path.join(root, "up", file)).mtimeMs / 1000) * 1000;
    assert.equal(listed, stored, `${file}: ModTime ${entry.ModTime} is the server's mtime to the second`);
    assert.ok(listed >= Math.floor(upStart / 1000) * 1000 - 1000 && listed <= Date.now() + 1000, `${file}: ModTime ${entry.ModTime} falls within the upload`);
    assert.notEqual(listed, localTime.getTime(), `${file}: not the local time (rclone sent none)`);
    assert.equal(Math.floor(statSync(path.join(down, file)).mtimeMs / 1000) * 1000, listed, `${file}: the copy down has the server's time`);
  }
  for (const folder of ["many", "sub dir", "sub dir/deeper"]) assert.equal(byPath.get(folder)?.IsDir, true, `${folder} is a folder`);

  // copyto and moveto of single files, between awkward names: server-side COPY and MOVE, their
  // Destination decoded byte for byte (%, #, ? in both names, a folder made on the way).
  const copyto = await rclone(["copyto", "dav:up/per%cent 100%.txt", "dav:up/copies #/copy 1? 50%.txt"]);
  assertExitZero(copyto, "rclone copyto");
  assert.equal(readFileSync(path.join(root, "up", "copies #", "copy 1? 50%.txt"), "utf8"), AWKWARD["per%cent 100%.txt"]);
  assert.equal(readFileSync(path.join(root, "up", "per%cent 100%.txt"), "utf8"), AWKWARD["per%cent 100%.txt"], "copyto keeps the source");
  assert.ok(log.some((entry) => entry.method === "COPY" && entry.url === "/up/per%25cent%20100%25.txt" && entry.status === 201), "by a server-side COPY");
  const moveto = await rclone(["moveto", "dav:up/what?.txt", "dav:up/copies #/moved #2 100%?.txt"]);
  assertExitZero(moveto, "rclone moveto");
  assert.equal(readFileSync(path.join(root, "up", "copies #", "moved #2 100%?.txt"), "utf8"), AWKWARD["what?.txt"]);
  assert.equal(existsSync(path.join(root, "up", "what?.txt")), false, "moveto empties the old name");
  assert.ok(log.some((entry) => entry.method === "MOVE" && entry.url === "/up/what%3F.txt" && entry.status === 201), "by a server-side MOVE");

  // move: one MOVE on the server for the folder; nothing left at the old name.
  const moveRun = await rclone(["move", "dav:up/sub dir", "dav:moved"]);
  assertExitZero(moveRun, "rclone move");
  assert.equal(existsSync(path.join(root, "up", "sub dir")), false, "the folder left its old name");
  assert.deepEqual(await treeDigest(path.join(root, "moved")), await treeDigest(path.join(src, "sub dir")), "and is whole at its new one");
  assert.ok(log.some((entry) => entry.method === "MOVE" && entry.url === "/up/sub%20dir/" && entry.status === 201), "by a server-side MOVE");

  // delete: the files go, the folders stay (rclone delete keeps folders; rmdirs removes them).
  const deleteRun = await rclone(["delete", "dav:moved"]);
  assertExitZero(deleteRun, "rclone delete");
  assert.deepEqual(await treeDigest(path.join(root, "moved")), { deeper: "dir" }, "no file left, the folders kept");
  const rmdirs = await rclone(["rmdirs", "dav:moved"]);
  assertExitZero(rmdirs, "rclone rmdirs");
  assert.equal(existsSync(path.join(root, "moved")), false, "rmdirs removed the empty folders");
  assert.ok(existsSync(path.join(root, "up", "big.bin")), "and nothing else");

  assertNoServerError(log);
});

// ---------------------------------------------------------------------------------------------
// cadaver
// ---------------------------------------------------------------------------------------------

/** cadaver on a pipe, one command at a time: each answer is what it prints up to its next prompt. */
class Cadaver {
  private output = "";
  private stderr = "";
  private waiter: (() => void) | null = null;
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ReturnType<typeof spawn>) {
    child.stdout!.on("data", (c: Buffer) => {
      this.output += c.toString("utf8");
      this.waiter?.();
    });
    child.stderr!.on("data", (c: Buffer) => (this.stderr += c.toString("utf8")));
    this.exited = new Promise((resolve, reject) => {
      child.on("error", (error: NodeJS.ErrnoException) => reject(error.code === "ENOENT" ? new Error(`cadaver is not installed (.ci/run installs it): ${error.message}`) : error));
      child.on("close", (code) => resolve(code));
    });
    this.exited.catch(() => {});
  }

  static async open(t: TestContext, url: string, home: string): Promise<Cadaver> {
    const child = spawn("cadaver", [url], { cwd: home, env: { ...process.env, HOME: home, TMPDIR: home }, stdio: ["pipe", "pipe", "pipe"] });
    const cadaver = new Cadaver(child);
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    await Promise.race([cadaver.untilPrompt(0), cadaver.exited.then(() => Promise.reject(new Error(`cadaver exited at start: ${cadaver.output} ${cadaver.stderr}`)))]);
    return cadaver;
  }

  /** What cadaver printed from `from` up to a prompt (`dav:/path/> ` at the end), at most 20 s. */
  private untilPrompt(from: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`cadaver gave no prompt within 20 s; it printed: ${this.output.slice(from)} stderr: ${this.stderr}`));
      }, 20_000);
      const check = () => {
        const text = this.output.slice(from);
        if (!/dav:\/[^\n]*> $/.test(text)) return;
        clearTimeout(timer);
        this.waiter = null;
        resolve(text.replace(/dav:\/[^\n]*> $/, ""));
      };
      this.waiter = check;
      check();
    });
  }

  /** Sends one command; resolves with cadaver's answer to it. */
  async run(command: string): Promise<string> {
    const from = this.output.length;
    this.child.stdin!.write(command + "\n");
    return this.untilPrompt(from);
  }

  async quit(): Promise<number | null> {
    this.child.stdin!.end("quit\n");
    return this.exited;
  }
}

/** A PUT from another client, with no lock token: what a lock must stop. */
async function foreignPut(port: number, target: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: target, method: "PUT", headers: { "Content-Length": String(Buffer.byteLength(body)) }, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("cadaver, scripted on stdin: ls, mkcol, put, get, copy, move, lock (a foreign PUT gets 423), unlock, propset, delete, rmcol", async (t) => {
  const root = tempDir(t, { "seed.txt": "seeded\n", docs: { "readme.md": "# docs\n" } });
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onResponse: (entry) => log.push(entry) });
  const home = clientHome(t);
  writeFileSync(path.join(home, "local.txt"), "from cadaver\n");
  writeFileSync(path.join(home, "second.txt"), "written under cadaver's lock\n");
  const onDisk = (...segments: string[]) => path.join(root, ...segments);
  const cadaver = await Cadaver.open(t, `${server.base}/`, home);
  const succeeded = (answer: string, what: string) => {
    assert.match(answer, /succeeded\./, `${what}: ${answer}`);
    assert.doesNotMatch(answer, /failed/i, `${what}: ${answer}`);
  };

  let answer = await cadaver.run("ls");
  succeeded(answer, "ls");
  assert.match(answer, /Coll:\s+docs\s/);
  assert.match(answer, /\s+seed\.txt\s+7\s/);

  answer = await cadaver.run('mkcol "my dir"');
  succeeded(answer, "mkcol");
  assert.ok(statSync(onDisk("my dir")).isDirectory(), "mkcol made the folder");

  answer = await cadaver.run('put local.txt "my dir/a #1.txt"');
  succeeded(answer, "put");
  assert.equal(readFileSync(onDisk("my dir", "a #1.txt"), "utf8"), "from cadaver\n");

  answer = await cadaver.run('ls "my dir"');
  succeeded(answer, "ls my dir");
  assert.match(answer, /a #1\.txt\s+13\s/);

  answer = await cadaver.run('get "my dir/a #1.txt" back.txt');
  succeeded(answer, "get");
  assert.equal(readFileSync(path.join(home, "back.txt"), "utf8"), "from cadaver\n");

  answer = await cadaver.run('copy "my dir/a #1.txt" "my dir/b.txt"');
  succeeded(answer, "copy");
  assert.equal(readFileSync(onDisk("my dir", "b.txt"), "utf8"), "from cadaver\n");
  assert.ok(existsSync(onDisk("my dir", "a #1.txt")), "copy keeps the source");

  answer = await cadaver.run('copy "my dir" "copy of dir"');
  succeeded(answer, "copy of a collection");
  assert.deepEqual(readdirSync(onDisk("copy of dir")).sort(), ["a #1.txt", "b.txt"]);

  answer = await cadaver.run('move "my dir/b.txt" "my dir/c.txt"');
  succeeded(answer, "move");
  assert.equal(existsSync(onDisk("my dir", "b.txt")), false, "move empties the old name");
  assert.equal(readFileSync(onDisk("my dir", "c.txt"), "utf8"), "from cadaver\n");

  answer = await cadaver.run('lock "my dir/c.txt"');
  succeeded(answer, "lock");
  assert.equal(await foreignPut(server.port, "/my%20dir/c.txt", "not the lock holder\n"), 423, "a PUT without the lock token is refused");
  assert.equal(readFileSync(onDisk("my dir", "c.txt"), "utf8"), "from cadaver\n", "and changed nothing");
  answer = await cadaver.run('discover "my dir/c.txt"');
  assert.match(answer, /Lock token <urn:uuid:[0-9a-f-]+>/, `discover: ${answer}`);
  assert.match(answer, /Scope: exclusive\s+Type: write/);
  answer = await cadaver.run('put second.txt "my dir/c.txt"');
  succeeded(answer, "put under cadaver's own lock");
  assert.equal(readFileSync(onDisk("my dir", "c.txt"), "utf8"), "written under cadaver's lock\n");
  const lockedPut = log.filter((entry) => entry.method === "PUT" && entry.url === "/my%20dir/c.txt").at(-1);
  assert.equal(lockedPut?.status, 204, "cadaver sent its token with the PUT");

  answer = await cadaver.run('unlock "my dir/c.txt"');
  succeeded(answer, "unlock");
  assert.equal(await foreignPut(server.port, "/my%20dir/c.txt", "anyone may write again\n"), 204, "unlocked: a plain PUT replaces the file");
  assert.equal(readFileSync(onDisk("my dir", "c.txt"), "utf8"), "anyone may write again\n");

  answer = await cadaver.run('propset "my dir/c.txt" colour blue');
  succeeded(answer, "propset");
  answer = await cadaver.run('propget "my dir/c.txt" colour');
  assert.match(answer, /blue/, `propget: ${answer}`);

  answer = await cadaver.run('delete "my dir/a #1.txt"');
  succeeded(answer, "delete");
  assert.equal(existsSync(onDisk("my dir", "a #1.txt")), false, "delete removed the file");
  assert.deepEqual(readdirSync(onDisk("my dir")), ["c.txt"]);

  answer = await cadaver.run('rmcol "copy of dir"');
  succeeded(answer, "rmcol");
  assert.equal(existsSync(onDisk("copy of dir")), false, "rmcol removed the folder and what it held");

  assert.equal(await cadaver.quit(), 0, "cadaver exits cleanly");
  assert.deepEqual(await treeDigest(root), await treeDigest(tempDir(t, { "seed.txt": "seeded\n", docs: { "readme.md": "# docs\n" }, "my dir": { "c.txt": "anyone may write again\n" } })));
  assertNoServerError(log);
});

// ---------------------------------------------------------------------------------------------
// davfs2
// ---------------------------------------------------------------------------------------------

/** Why a FUSE mount cannot happen here, or null when it can (root, CAP_SYS_ADMIN, /dev/fuse that opens, fuse in the kernel). */
function fuseUnavailable(): string | null {
  if (!existsSync("/dev/fuse")) return "no /dev/fuse";
  if (process.getuid?.() !== 0) return "not root (mount.davfs mounts as root here)";
  const capabilities = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  if (capabilities === undefined || (BigInt(`0x${capabilities}`) & (1n << 21n)) === 0n) return "no CAP_SYS_ADMIN, so mounting is not permitted";
  if (!/\tfuse$/m.test(readFileSync("/proc/filesystems", "utf8"))) return "the kernel has no fuse file system";
  try {
    closeSync(openSync("/dev/fuse", "r+"));
  } catch (error) {
    return `/dev/fuse does not open: ${(error as Error).message}`;
  }
  return null;
}

function isMounted(mountpoint: string): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[1] === mountpoint);
}

/** The mount.davfs daemons serving `mountpoint` (their command line names it), by process id. */
function davfsDaemons(mountpoint: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.some((arg) => arg.endsWith("mount.davfs")) && argv.includes(mountpoint)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function groupId(name: string): number | null {
  const line = readFileSync("/etc/group", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  return line === undefined ? null : Number(line.split(":")[2]);
}

test("davfs2: mount the share, cp -r a tree in, diff -r through the mount and on the server, edit, rename and delete through it, unmount", async (t) => {
  const why = fuseUnavailable();
  if (why !== null) {
    t.skip(`FUSE missing: ${why}`);
    return;
  }
  // Our own folder, cleaned up in one hook registered before the server's: unmount first (while the
  // server still answers), then stop any daemon left, then remove the files.
  const base = realpathSync(mkdtempSync(path.join(os.tmpdir(), "serve-here-davfs-")));
  const mountpoint = path.join(base, "mnt");
  t.after(async () => {
    if (isMounted(mountpoint)) await runTool("umount", [mountpoint], { timeoutMs: 20_000 }).catch(() => {});
    if (isMounted(mountpoint)) await runTool("umount", ["-l", mountpoint], { timeoutMs: 10_000 }).catch(() => {});
    for (const pid of davfsDaemons(mountpoint)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    if (!isMounted(mountpoint)) rmSync(base, { recursive: true, force: true });
  });
  // mount.davfs runs as the davfs2 user: it must reach the cache, which is root's and its group's.
  chmodSync(base, 0o755);
  mkdirSync(mountpoint);
  const cache = path.join(base, "cache");
  mkdirSync(cache);
  const davfsGroup = groupId("davfs2");
  assert.notEqual(davfsGroup, null, "davfs2's install makes a davfs2 group");
  chownSync(cache, 0, davfsGroup!);
  chmodSync(cache, 0o775);
  const home = path.join(base, "home");
  mkdirSync(home);
  const secrets = path.join(base, "secrets");
  writeFileSync(secrets, "", { mode: 0o600 });
  const conf = path.join(base, "davfs2.conf");
  writeFileSync(
    conf,
    [
      "ask_auth 0", // never prompt: the share has no password, and nothing may wait for a terminal
      "use_locks 1", // LOCK each file opened for writing, as desktop clients do
      "delay_upload 0", // upload a file as soon as it is closed
      // Linux 6.16 and later refuse davfs2's default 16 KiB FUSE buffer for directory reads
      // (ls: "Invalid argument"; github.com/alisarctl/davfs2/issues/22); 64 KiB works everywhere.
      "buf_size 64",
      `cache_dir ${cache}`,
      `secrets ${secrets}`,
      "",
    ].join("\n"),
  );

  const tree: Tree = {
    "a b.txt": "spaces\n",
    "hash#1.txt": "hash\n",
    "100%.txt": "percent\n",
    "ünïcødé ✓.txt": "unicode\n",
    "sub dir": { "inner #?.txt": "deeper\n", deepest: { "z.txt": "z\n" } },
    "to delete": { "x.txt": "x\n", "y.txt": "y\n" },
    numbered: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`n${i}.txt`, `number ${i}\n`])),
  };
  const src = path.join(base, "src");
  buildTree(src, tree);
  writePatternFile(path.join(src, "random.bin"), 5 * 1024 * 1024 + 123);

  const root = tempDir(t);
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, upload: true, overwrite: true, onResponse: (entry) => log.push(entry) });
  const env = { ...process.env, HOME: home, TMPDIR: home };
  const mount = await runTool("mount", ["-t", "davfs", "-o", `conf=${conf}`, `${server.base}/`, mountpoint], { env, timeoutMs: 30_000 });
  assertExitZero(mount, "mount -t davfs");
  assert.ok(isMounted(mountpoint), "the share is mounted");

  // cp -r in, then the same tree through the mount and, once davfs2 has uploaded, on the server.
  const copied = path.join(mountpoint, "copied");
  const cp = await runTool("cp", ["-r", src, copied], { env, timeoutMs: 60_000 });
  assertExitZero(cp, "cp -r into the mount");
  assertExitZero(await runTool("sync", [], { timeoutMs: 60_000 }), "sync");
  assertExitZero(await runTool("diff", ["-r", src, copied], { timeoutMs: 60_000 }), "diff -r through the mount");
  const srcDigest = await treeDigest(src);
  let onServer: Record<string, string> = {};
  await eventually(async () => JSON.stringify((onServer = await treeDigest(path.join(root, "copied")))) === JSON.stringify(srcDigest), "the server's disk holds the tree davfs2 copied", 30_000).catch((error: Error) => {
    assert.deepEqual(onServer, srcDigest, error.message);
  });
  assertExitZero(await runTool("diff", ["-r", src, path.join(root, "copied")], { timeoutMs: 60_000 }), "diff -r against the server's disk");
  assert.ok(log.some((entry) => entry.method === "LOCK") && log.some((entry) => entry.method === "UNLOCK"), "davfs2 locked the files it wrote");

  // An edit through the mount: the file is replaced on the server.
  // Asynchronously: this process is the server too, and a synchronous write into the mount would
  // block the very event loop davfs2 waits on for the LOCK it sends when the file is opened.
  await writeFile(path.join(copied, "a b.txt"), "spaces, edited through the mount\n");
  await eventually(() => readFileSync(path.join(root, "copied", "a b.txt"), "utf8") === "spaces, edited through the mount\n", "the edit reached the server", 20_000);

  // chmod +x: davfs2 says so with a PROPPATCH (its executable property).
  assertExitZero(await runTool("chmod", ["+x", path.join(copied, "random.bin")], { timeoutMs: 20_000 }), "chmod +x through the mount");
  await eventually(() => log.some((entry) => entry.method === "PROPPATCH" && entry.url === "/copied/random.bin" && entry.status === 207), "davfs2 sent the PROPPATCH", 20_000);

  // Saving as editors do: a new file written beside, then renamed over the old one (MOVE, Overwrite: T).
  await writeFile(path.join(copied, "ünïcødé ✓.txt.new"), "unicode, saved by rename\n");
  assertExitZero(await runTool("mv", ["-f", path.join(copied, "ünïcødé ✓.txt.new"), path.join(copied, "ünïcødé ✓.txt")], { timeoutMs: 20_000 }), "mv -f onto an existing file");

  // Rename a file and a folder, delete a file and a folder.
  const mv1 = await runTool("mv", [path.join(copied, "hash#1.txt"), path.join(copied, "renamed é.txt")], { timeoutMs: 20_000 });
  assertExitZero(mv1, "mv of a file through the mount");
  const mv2 = await runTool("mv", [path.join(copied, "sub dir"), path.join(copied, "moved dir")], { timeoutMs: 20_000 });
  assertExitZero(mv2, "mv of a folder through the mount");
  const rm1 = await runTool("rm", [path.join(copied, "100%.txt")], { timeoutMs: 20_000 });
  assertExitZero(rm1, "rm through the mount");
  const rm2 = await runTool("rm", ["-r", path.join(copied, "to delete")], { timeoutMs: 20_000 });
  assertExitZero(rm2, "rm -r through the mount");
  assertExitZero(await runTool("sync", [], { timeoutMs: 60_000 }), "sync");
  const expected = { ...srcDigest };
  expected["a b.txt"] = `file ${Buffer.byteLength("spaces, edited through the mount\n")} ${createHash("sha256").update("spaces, edited through the mount\n").digest("hex")}`;
  expected["ünïcødé ✓.txt"] = `file ${Buffer.byteLength("unicode, saved by rename\n")} ${createHash("sha256").update("unicode, saved by rename\n").digest("hex")}`;
  expected["renamed é.txt"] = expected["hash#1.txt"]!;
  delete expected["hash#1.txt"];
  delete expected["100%.txt"];
  for (const key of Object.keys(expected)) {
    if (key === "to delete" || key.startsWith("to delete/")) delete expected[key];
    if (key === "sub dir" || key.startsWith("sub dir/")) {
      expected["moved dir" + key.slice("sub dir".length)] = expected[key]!;
      delete expected[key];
    }
  }
  const sorted = (record: Record<string, string>) => Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await eventually(async () => JSON.stringify(sorted((onServer = await treeDigest(path.join(root, "copied"))))) === JSON.stringify(sorted(expected)), "the renames and deletions reached the server", 20_000).catch((error: Error) => {
    assert.deepEqual(sorted(onServer), sorted(expected), error.message);
  });
  assert.ok(log.some((entry) => entry.method === "MOVE" && entry.status === 201) && log.some((entry) => entry.method === "DELETE" && entry.status === 204), "by MOVE and DELETE");
  assert.ok(log.some((entry) => entry.method === "MOVE" && entry.url === "/copied/%c3%bcn%c3%afc%c3%b8d%c3%a9%20%e2%9c%93.txt.new" && entry.status === 204), "the save by rename replaced the file (MOVE, 204)");

  // Unmount: the daemon ends and the mount is gone; the server keeps the tree.
  const unmount = async () => {
    assertExitZero(await runTool("umount", [mountpoint], { timeoutMs: 30_000 }), "umount");
    assert.equal(isMounted(mountpoint), false, "unmounted");
    await eventually(() => davfsDaemons(mountpoint).length === 0, "mount.davfs ended", 10_000);
  };
  await unmount();
  assert.deepEqual(sorted(await treeDigest(path.join(root, "copied"))), sorted(expected), "the server's disk after unmounting");
  // davfs2 keeps its own lost+found in the mount, never on the server; nothing else appeared.
  assert.deepEqual(readdirSync(root), ["copied"]);

  // Mounted again with an empty cache, everything is read back from the server (PROPFIND, GET),
  // the executable bit too: davfs2 keeps it as a dead property, set by PROPPATCH above.
  rmSync(cache, { recursive: true });
  mkdirSync(cache);
  chownSync(cache, 0, davfsGroup!);
  chmodSync(cache, 0o775);
  const gets = log.filter((entry) => entry.method === "GET").length;
  assertExitZero(await runTool("mount", ["-t", "davfs", "-o", `conf=${conf}`, `${server.base}/`, mountpoint], { env, timeoutMs: 30_000 }), "mount -t davfs again");
  assertExitZero(await runTool("diff", ["-r", path.join(root, "copied"), copied], { timeoutMs: 60_000 }), "diff -r of the server's disk against a fresh mount");
  assert.ok(log.filter((entry) => entry.method === "GET").length - gets >= Object.values(expected).filter((v) => v.startsWith("file ")).length, "each file came back by GET");
  // (stat in a child process: this process serves the mount, so it must not block on it.)
  const modes = await runTool("stat", ["-c", "%A %n", path.join(copied, "random.bin"), path.join(copied, "renamed é.txt")], { timeoutMs: 10_000 });
  assertExitZero(modes, "stat through the mount");
  assert.match(modes.stdout, /^-..x.* \S+random\.bin$/m, `random.bin is still executable: ${modes.stdout}`);
  assert.match(modes.stdout, /^-..-.* \S+renamed é\.txt$/m, `and nothing else became so: ${modes.stdout}`);
  await unmount();

  assertNoServerError(log);
  t.diagnostic(`davfs2: ${log.length} requests; ${[...new Set(log.map((e) => e.method))].join(" ")}`);
});
