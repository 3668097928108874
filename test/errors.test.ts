/**
 * What the file system can throw at a request, and what a request can throw at the server:
 * ENOTDIR, ENAMETOOLONG, FIFOs and sockets, the 404 page, unreadable files (403, run as an
 * unprivileged user since root ignores file modes), the programmatic `createHandler` with and
 * without a Connect-style `next`, and a barrage of hostile requests the process must survive.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, realpathSync, statSync, symlinkSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { pathToFileURL } from "node:url";
import { needsPrivilegeDrop, rawGet, rawRequest, request, serve, startCli, tempDir, unprivilegedServer, type RawResponse, type Tree } from "./helpers.js";
import { createHandler } from "../src/server.js";

const OUTSIDE_SECRET = "OUTSIDE-SECRET-5d1e9a";

/** `top/secret.txt` beside `top/root/`, the root holding `tree`. */
function site(t: TestContext, tree: Tree = {}): { top: string; root: string } {
  const top = tempDir(t, { "secret.txt": OUTSIDE_SECRET, root: { "a.txt": "alpha", sub: { "b.txt": "bravo" }, ...tree } });
  return { top, root: path.join(top, "root") };
}

async function statuses(port: number, targets: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const target of targets) out[target] = (await rawGet(port, target)).status;
  return out;
}

const all = (targets: readonly string[], status: number) => Object.fromEntries(targets.map((x) => [x, status]));

function mkfifo(file: string): void {
  execFileSync("mkfifo", [file]);
}

/** A listening Unix-domain socket at `file`, closed after the test. */
async function unixSocket(t: TestContext, file: string): Promise<void> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(file, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

// ---------------------------------------------------------------------------------------------
// File-system errors
// ---------------------------------------------------------------------------------------------

test("a path that runs through a file (ENOTDIR) answers 404", async (t) => {
  const { root } = site(t);
  assert.throws(() => realpathSync(path.join(root, "a.txt", "b")), { code: "ENOTDIR" }, "the fixture must hit ENOTDIR");
  for (const followSymlinks of [false, true]) {
    const { port } = await serve(t, { root, followSymlinks });
    const targets = ["/a.txt/b", "/a.txt/b/c", "/sub/b.txt/x", "/a.txt/b/"];
    assert.deepEqual(await statuses(port, targets), all(targets, 404), `followSymlinks: ${followSymlinks}`);
  }
});

test("a name longer than NAME_MAX, or a path longer than PATH_MAX (ENAMETOOLONG), answers 404", async (t) => {
  const { root } = site(t);
  const long = "x".repeat(300);
  assert.throws(() => realpathSync(path.join(root, long)), { code: "ENAMETOOLONG" }, "the fixture must hit ENAMETOOLONG");
  const targets = [
    `/${long}`,
    `/${long}/`,
    `/sub/${long}.txt`,
    `/${Array(20).fill(long).join("/")}`, // ~6,000 bytes: past PATH_MAX as well
    `/${"%C3%A9".repeat(200)}`, // 400 bytes of valid UTF-8 in one name
  ];
  for (const followSymlinks of [false, true]) {
    const { port } = await serve(t, { root, followSymlinks });
    assert.deepEqual(await statuses(port, targets), all(targets, 404), `followSymlinks: ${followSymlinks}`);
  }
});

test("a FIFO in the root answers 404 and blocks nothing", async (t) => {
  const { root } = site(t);
  mkfifo(path.join(root, "fifo"));
  symlinkSync("fifo", path.join(root, "fifo-link"));
  for (const followSymlinks of [false, true]) {
    const { port } = await serve(t, { root, followSymlinks });
    // More at once than libuv has threads: a blocking open() would starve the next request.
    const targets = ["/fifo", "/fifo", "/fifo", "/fifo", "/fifo", "/fifo-link", "/fifo-link", "/fifo-link"];
    const answers = await Promise.all(targets.map((x) => rawGet(port, x)));
    assert.deepEqual(answers.map((r) => r.status), targets.map(() => 404), `followSymlinks: ${followSymlinks}`);
    const head = await rawRequest(port, "HEAD /fifo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert.equal(head.status, 404);
    const after = await request(port, "/a.txt");
    assert.equal(after.status, 200, "a normal file after the FIFO requests");
    assert.equal(after.body.toString(), "alpha");
  }
});

test("a FIFO named index.html or 404.html is passed over", async (t) => {
  const { root } = site(t, { folder: { "index.htm": "the htm index" } });
  mkfifo(path.join(root, "folder", "index.html"));
  mkfifo(path.join(root, "404.html"));
  const { port } = await serve(t, { root });
  const index = await rawGet(port, "/folder/");
  assert.equal(index.status, 200);
  assert.equal(index.body.toString(), "the htm index");
  const missing = await rawGet(port, "/missing");
  assert.equal(missing.status, 404);
  assert.match(missing.body.toString(), /404 Not Found/);
});

test("a Unix socket in the root answers 404", async (t) => {
  const { root } = site(t);
  await unixSocket(t, path.join(root, "sock"));
  const errors: unknown[] = [];
  const { port } = await serve(t, { root, onError: (error) => errors.push(error) });
  const res = await rawGet(port, "/sock");
  assert.equal(res.status, 404, `answered ${res.status}; onError saw: ${errors.map(String).join("; ")}`);
  assert.deepEqual(errors, [], "a socket file is not an unexpected error");
});

// ---------------------------------------------------------------------------------------------
// The 404 page, and what error pages never say
// ---------------------------------------------------------------------------------------------

test("the root's 404.html is the body of every 404", async (t) => {
  const page = "<!DOCTYPE html><title>custom</title><h1>Custom missing page</h1>\n";
  const s = site(t, { "404.html": page, ".env": "TOKEN=x" });
  symlinkSync("../secret.txt", path.join(s.root, "out"));
  mkfifo(path.join(s.root, "fifo"));
  const { port } = await serve(t, { root: s.root });
  const targets = ["/missing", "/sub/missing.txt", "/missing/", "/.env", "/a.txt/", "/a.txt/b", "/out", "/fifo", "/%252e%252e", `/${"x".repeat(300)}`];
  for (const target of targets) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assert.equal(res.body.toString(), page, target);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/, target);
  }
  const head = await rawRequest(port, "HEAD /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  assert.equal(head.status, 404);
  assert.equal(head.headers.get("content-length"), String(Buffer.byteLength(page)));
  assert.equal(head.body.length, 0, "HEAD of a 404 has no body");
  const bad = await rawGet(port, "/%zz");
  assert.equal(bad.status, 400);
  assert.notEqual(bad.body.toString(), page, "a 400 is not a 404");
});

test("without a 404.html, a missing path gets a generic 404 page", async (t) => {
  const { root } = site(t, { "404.html": { "not-a-page.txt": "a folder named 404.html" } });
  const { port } = await serve(t, { root });
  const res = await request(port, "/missing");
  assert.equal(res.status, 404);
  assert.match(String(res.headers["content-type"]), /^text\/html; charset=utf-8/);
  assert.match(res.body.toString(), /<title>404 Not Found<\/title>/);
  assert.doesNotMatch(res.body.toString(), /not-a-page/);
});

test("no response, error or otherwise, reveals the root's absolute path", async (t) => {
  const s = site(t, { ".env": "x", folder: { "f.txt": "f" } });
  symlinkSync("../secret.txt", path.join(s.root, "out"));
  symlinkSync("nowhere", path.join(s.root, "dangling"));
  symlinkSync("loop", path.join(s.root, "loop"));
  mkfifo(path.join(s.root, "fifo"));
  await unixSocket(t, path.join(s.root, "sock")); // whatever status it gets, its page must not say where
  const { port } = await serve(t, { root: s.root, onError: () => {} });
  const secrets = [s.root, s.top, path.basename(s.top)];
  const requests = [
    ...["/missing", "/.env", "/out", "/dangling", "/loop", "/fifo", "/sock", "/a.txt/b", "/a.txt/", `/${"x".repeat(300)}`].map((x) => `GET ${x}`),
    ...["/%zz", "/a%00", "/../secret.txt", "/%c0%ae%c0%ae/", "/..\\x", "*"].map((x) => `GET ${x}`),
    "GET /folder",
    "GET /folder/",
    "GET /",
    "POST /a.txt",
    "DELETE /missing",
    "OPTIONS /missing",
  ];
  for (const line of requests) {
    const res = await rawRequest(port, `${line} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.ok(res.status > 0, `${line}: no answer`);
    const text = res.raw.toString("latin1");
    for (const secret of secrets) assert.ok(!text.includes(secret), `${line} (${res.status}) revealed ${secret}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Unreadable files: 403. Root ignores file modes, so as root the server runs as uid 65534.
// ---------------------------------------------------------------------------------------------

/**
 * A site uid 65534 can read, with `top` opened up from mkdtemp's 0700. It lies in the temporary
 * folder, as the copy of the server does (`unprivilegedServer`), which skips the test when uid
 * 65534 cannot reach that.
 */
function sharedSite(t: TestContext, tree: Tree): { top: string; root: string } {
  const s = site(t, tree);
  chmodSync(s.top, 0o755);
  return s;
}

/**
 * Returns `lock(file, mode)`, which chmods for this test. Call it before building the tree: its
 * after-hook then runs before tempDir's (hooks run in order), putting every mode back so that an
 * unprivileged run can still remove the tree.
 */
function modeLocker(t: TestContext): (file: string, mode: number) => void {
  const restores: Array<() => void> = [];
  t.after(() => {
    for (const restore of restores) restore();
  });
  return (file, mode) => {
    const original = statSync(file).mode & 0o7777;
    chmodSync(file, mode);
    restores.push(() => chmodSync(file, original));
  };
}

/** The real binary serving `root` as uid 65534 when we are root, else in-process; null when skipped. */
async function serveUnprivileged(t: TestContext, root: string): Promise<number | null> {
  if (!needsPrivilegeDrop()) return (await serve(t, { root })).port;
  const server = unprivilegedServer(t);
  if (server === null) return null;
  const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "-q"], server);
  return cli.port;
}

test("an unreadable file answers 403", async (t) => {
  const lock = modeLocker(t);
  const { root } = sharedSite(t, { "locked.txt": "locked content", sub: { "locked.txt": "x", "b.txt": "bravo" } });
  lock(path.join(root, "locked.txt"), 0o000);
  lock(path.join(root, "sub", "locked.txt"), 0o000);
  const port = await serveUnprivileged(t, root);
  if (port === null) return;
  assert.equal((await request(port, "/a.txt")).status, 200, "a readable file beside it is served (the server can reach the root)");
  for (const target of ["/locked.txt", "/sub/locked.txt"]) {
    const res = await request(port, target);
    assert.equal(res.status, 403, target);
    assert.doesNotMatch(res.body.toString(), /locked content/, target);
  }
  const head = await rawRequest(port, "HEAD /locked.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  assert.equal(head.status, 403);
});

test("an unreadable folder answers 403 for its listing", async (t) => {
  const lock = modeLocker(t);
  const { root } = sharedSite(t, {});
  mkdirSync(path.join(root, "locked"));
  lock(path.join(root, "locked"), 0o000);
  mkdirSync(path.join(root, "unlistable"));
  lock(path.join(root, "unlistable"), 0o311); // searchable, not readable
  const port = await serveUnprivileged(t, root);
  if (port === null) return;
  assert.equal((await request(port, "/sub/")).status, 200, "a readable folder beside it is listed");
  assert.equal((await request(port, "/locked/")).status, 403);
  assert.equal((await request(port, "/unlistable/")).status, 403);
});

// ---------------------------------------------------------------------------------------------
// The programmatic API
// ---------------------------------------------------------------------------------------------

const NEXT_STATUS = 299;

/** A plain node:http server around createHandler, with a Connect-style `next` when asked. */
async function handlerServer(t: TestContext, root: string, withNext: boolean): Promise<number> {
  const handler = await createHandler({ root });
  const next = (res: http.ServerResponse) => () => {
    res.statusCode = NEXT_STATUS;
    res.end("next");
  };
  const server = http.createServer((req, res) => (withNext ? handler(req, res, next(res)) : handler(req, res)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

/** The same server in a child process as uid 65534 (we are root), or in-process otherwise; null when skipped. */
async function handlerServerUnprivileged(t: TestContext, root: string): Promise<number | null> {
  if (!needsPrivilegeDrop()) return handlerServer(t, root, true);
  const server = unprivilegedServer(t);
  if (server === null) return null;
  const serverModule = pathToFileURL(server.serverModule).href;
  const code = `
    import http from "node:http";
    const { createHandler } = await import(process.argv[1]);
    const handler = await createHandler({ root: process.argv[2] });
    const server = http.createServer((req, res) => handler(req, res, () => { res.statusCode = ${NEXT_STATUS}; res.end("next"); }));
    server.listen(0, "127.0.0.1", () => console.log("listening at " + server.address().port));
  `;
  const child = spawn(server.command[0]!, [...server.command.slice(1), "--input-type=module", "-e", code, serverModule, root], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => void child.kill("SIGKILL"));
  let out = "";
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port within 10 s; stderr: ${err}`)), 10_000);
    child.stdout.on("data", (c: Buffer) => {
      out += c;
      const match = /listening at (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening; stderr: ${err}`));
    });
  });
}

test("createHandler serves files from a plain node:http server", async (t) => {
  const { root } = site(t);
  const port = await handlerServer(t, root, false);
  const file = await request(port, "/sub/b.txt");
  assert.equal(file.status, 200);
  assert.equal(file.body.toString(), "bravo");
  assert.equal((await request(port, "/missing")).status, 404, "without next, a missing file is a 404");
  assert.equal((await rawGet(port, "/../secret.txt")).status, 400);
});

test("with next, an existing file is still served", async (t) => {
  const { root } = site(t);
  const port = await handlerServer(t, root, true);
  const res = await request(port, "/a.txt");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "alpha");
  assert.equal((await request(port, "/sub/")).status, 200, "and a folder is listed");
});

test("with next, a missing file calls next() instead of answering 404", async (t) => {
  const { root } = site(t, { "404.html": "custom 404" });
  const port = await handlerServer(t, root, true);
  for (const target of ["/missing", "/sub/missing.txt", "/missing/", "/a.txt/b", "/a.txt/"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, NEXT_STATUS, target);
    assert.equal(res.body.toString(), "next", target);
  }
});

test("with next, a 400 is answered and next() is not called", async (t) => {
  const { root } = site(t);
  const port = await handlerServer(t, root, true);
  for (const target of ["/%zz", "/a%00.txt", "/../secret.txt", "/%2e%2e/secret.txt", "/..\\secret.txt"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 400, target);
    assert.doesNotMatch(res.body.toString(), /next|OUTSIDE-SECRET/, target);
  }
});

test("with next, a 403 is answered and next() is not called", async (t) => {
  const lock = modeLocker(t);
  const { root } = sharedSite(t, { "locked.txt": "locked content" });
  lock(path.join(root, "locked.txt"), 0o000);
  const port = await handlerServerUnprivileged(t, root);
  if (port === null) return;
  assert.equal((await request(port, "/missing")).status, NEXT_STATUS, "the child does call next for a missing file");
  const res = await request(port, "/locked.txt");
  assert.equal(res.status, 403);
  assert.doesNotMatch(res.body.toString(), /next|locked content/);
});

// ---------------------------------------------------------------------------------------------
// No request crashes the process
// ---------------------------------------------------------------------------------------------

/** Raw requests a well-behaved client would never send; each must get an answer or a close. */
function hostileRequests(): string[] {
  const get = (target: string, headers = "") => `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`;
  const long = "x".repeat(300);
  return [
    ...["/..", "/%2e%2e/secret.txt", "/..%5csecret.txt", "/%zz", "/%", "/a%00", "/%c0%ae%c0%ae/", "/%ff%fe", "/%ed%a0%80"].map((x) => get(x)),
    ...["*", "a.txt", "http://", "http://localhost", "http://localhost?q", "javascript://x/a.txt", "//evil.com", "/\\evil.com", `/${long}`, `/${Array(40).fill(long).join("/")}`].map((x) => get(x)),
    ...["/fifo", "/loop", "/dangling", "/a.txt/b", "/.env", "/sub"].map((x) => get(x)),
    get("/a.txt", "Range: bytes=99999999999999999999999-\r\n"),
    get("/a.txt", `Range: bytes=${Array(500).fill("0-0").join(",")}\r\n`),
    get("/a.txt", "Range: bytes=-0\r\n"),
    get("/a.txt", "If-Range: W/\"\r\nRange: bytes=0-1\r\n"),
    get("/a.txt", `If-None-Match: ${'"'.repeat(4000)}\r\n`),
    get("/a.txt", "If-Modified-Since: Sun, 99 Foo 99999 99:99:99 GMT\r\n"),
    get("/a.txt", "If-Match: *, \"x\"\r\nIf-Unmodified-Since: 1\r\n"),
    `OPTIONS * HTTP/1.1\r\nHost: localhost\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: \u00ff\r\nConnection: close\r\n\r\n`,
    `POST /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    `GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`,
    `GET /a.txt HTTP/9.9\r\nHost: localhost\r\n\r\n`,
    `GARBAGE\r\n\r\n`,
    `\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, // empty lines before the request line
    `GET /a.txt HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\r\n`,
  ];
}

test("after a barrage of hostile requests the binary is still running and answers a normal GET", async (t) => {
  const s = site(t, { ".env": "x" });
  mkfifo(path.join(s.root, "fifo"));
  symlinkSync("loop", path.join(s.root, "loop"));
  symlinkSync("nowhere", path.join(s.root, "dangling"));
  const cli = await startCli(t, [s.root, "-p", "0", "-b", "127.0.0.1", "-q"]);
  const answers: RawResponse[] = [];
  for (const text of hostileRequests()) answers.push(await rawRequest(cli.port, text));
  // Clients that vanish mid-request or mid-response.
  await Promise.all(
    ["GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET /a.txt HTTP/1.1\r\nHo", "GET /sub/ HTTP/1.1\r\nHost: localhost\r\n\r\n"].map(
      (text) =>
        new Promise<void>((resolve) => {
          const socket = net.connect(cli.port, "127.0.0.1", () => socket.end(text, () => (socket.resetAndDestroy(), resolve())));
          socket.on("error", () => resolve());
        }),
    ),
  );
  assert.deepEqual(answers.filter((r) => r.status >= 500).map((r) => r.raw.toString("latin1").split("\r\n")[0]), [], "no request is an internal error");
  const res = await request(cli.port, "/a.txt");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "alpha");
  assert.equal(cli.child.exitCode, null, "the process is still running");
  assert.equal(cli.stderr(), "", "nothing was reported as an unexpected error");
});
