/**
 * The `serve-here` command (issue section 2): the real binary, spawned, talking to real sockets.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { BIN, PROJECT_ROOT, eventually, listenOn, rawGet, rawRequest, request, runCli, startCli, tempDir, type RunningCli } from "./helpers.js";

const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
const ESC = "\x1b";
const LOCAL_ONLY = ["-p", "0", "-b", "127.0.0.1"];

/** Resolves with the exit of `cli`; rejects if it has not exited after `limitMs` (a liveness bound). */
function exitOf(cli: RunningCli, limitMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${limitMs} ms after the signal; stdout: ${cli.stdout()}`)), limitMs);
  });
  return Promise.race([cli.exited, limit]).finally(() => clearTimeout(timer));
}

/** Stops the server with SIGTERM and waits, so that its stdout is complete. */
async function stop(cli: RunningCli): Promise<void> {
  cli.child.kill("SIGTERM");
  await exitOf(cli);
}

function bannerLines(cli: RunningCli): string[] {
  return cli.stdout().split("\n");
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(true));
  });
}

/** A port held by this process on 127.0.0.1 for the rest of the test. */
async function occupiedPort(t: TestContext): Promise<number> {
  const blocker = net.createServer();
  const error = await listenOn(blocker, 0, "127.0.0.1");
  assert.equal(error, null);
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  return (blocker.address() as net.AddressInfo).port;
}

// ---------------------------------------------------------------------------------------------
// --help and --version
// ---------------------------------------------------------------------------------------------

const ALL_FLAGS = ["--port", "--bind", "--host", "--directory", "--dotfiles", "--follow-symlinks", "--no-listing", "--cors", "--header", "--cache", "--no-compress", "--auth", "--quiet", "--help", "--version", "--upload", "--overwrite", "--max-upload"];

for (const flag of ["--help", "-h"]) {
  test(`${flag} prints usage naming every flag and exits 0`, async () => {
    const run = await runCli([flag]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /usage/i);
    for (const name of ALL_FLAGS) assert.match(run.stdout, new RegExp(`(^|[\\s,])${name}(?![\\w-])`, "m"), `help mentions ${name}`);
    assert.equal(run.stderr, "");
  });
}

for (const flag of ["--version", "-v"]) {
  test(`${flag} prints "serve-here <version from package.json>" and exits 0`, async () => {
    const run = await runCli([flag]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), `serve-here ${VERSION}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Mistakes in the command line: exit 2; problems with ROOT: exit 1; both before binding
// ---------------------------------------------------------------------------------------------

test("an unknown flag is named on stderr and exits 2", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const run = await runCli([root, "--nope", ...LOCAL_ONLY]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--nope/);
  assert.equal(run.stdout, "", "nothing on stdout: it never started");
});

const BAD_VALUES: Array<[string, (root: string, other: string) => string[]]> = [
  ["--port abc", (root) => [root, "--port", "abc"]],
  ["--port 70000", (root) => [root, "--port", "70000"]],
  ["--port -1", (root) => [root, "--port=-1"]],
  ["--port 1.5", (root) => [root, "--port", "1.5"]],
  ["--port ''", (root) => [root, "--port", ""]],
  ["--cache -1", (root) => [root, "-p", "0", "--cache", "-1"]],
  ["--cache=-1", (root) => [root, "-p", "0", "--cache=-1"]],
  ["--cache soon", (root) => [root, "-p", "0", "--cache", "soon"]],
  ['-H "nocolon"', (root) => [root, "-p", "0", "-H", "nocolon"]],
  ['-H ": empty name"', (root) => [root, "-p", "0", "-H", ": empty name"]],
  ['-H "Content-Length: 5"', (root) => [root, "-p", "0", "-H", "Content-Length: 5"]],
  ['-H "Bad Name: x"', (root) => [root, "-p", "0", "-H", "Bad Name: x"]],
  ["two ROOTs", (root, other) => [root, other, "-p", "0"]],
  ["ROOT and --directory", (root, other) => [root, "-d", other, "-p", "0"]],
];

for (const [label, args] of BAD_VALUES) {
  test(`${label} is a usage error: a message on stderr, exit 2`, async (t) => {
    const root = tempDir(t, { "a.txt": "a" });
    const other = tempDir(t, { "b.txt": "b" });
    const run = await runCli(args(root, other));
    assert.equal(run.code, 2, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.notEqual(run.stderr.trim(), "", "a message on stderr");
    assert.equal(run.stdout, "", "no banner: it never started");
  });
}

test("a ROOT that does not exist is one line on stderr and exit 1, before binding", async (t) => {
  const base = tempDir(t);
  const missing = path.join(base, "no-such-folder");
  const run = await runCli([missing, ...LOCAL_ONLY]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1, `one line: ${JSON.stringify(run.stderr)}`);
  assert.match(run.stderr, /no-such-folder/);
  assert.equal(run.stdout, "", "no banner");
});

test("a ROOT that is a file is an error on stderr and exit 1, before binding", async (t) => {
  const base = tempDir(t, { "file.txt": "not a folder" });
  const run = await runCli([path.join(base, "file.txt"), ...LOCAL_ONLY]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1, `one line: ${JSON.stringify(run.stderr)}`);
  assert.match(run.stderr, /file\.txt/);
  assert.equal(run.stdout, "", "no banner");
});

test("a --port that is taken is 'port N is already in use' on stderr and exit 1", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const port = await occupiedPort(t);
  const run = await runCli([root, "-p", String(port), "-b", "127.0.0.1"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`port ${port} is already in use`));
  assert.doesNotMatch(run.stdout, /Serving/, "no banner");
});

test("without --port, a busy 8000 moves to the next free port up to 8020 and says so", async (t) => {
  const root = tempDir(t, { "a.txt": "on the fallback port" });
  const blocker = net.createServer();
  const error = await listenOn(blocker, 8000, "127.0.0.1");
  // Held by us, or already in use by something else: either way 8000 is busy on 127.0.0.1.
  if (error === null) t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  else assert.equal(error.code, "EADDRINUSE");
  const cli = await startCli(t, [root, "-b", "127.0.0.1", "-q"]);
  assert.ok(cli.port >= 8001 && cli.port <= 8020, `port ${cli.port} is in 8001..8020`);
  assert.equal(cli.url, `http://127.0.0.1:${cli.port}/`);
  assert.match(cli.stdout(), /8000[^\n]*in use|in use[^\n]*8000/, "the banner says 8000 was taken");
  const res = await request(cli.port, "/a.txt");
  assert.equal(res.body.toString(), "on the fallback port");
});

// ---------------------------------------------------------------------------------------------
// The banner
// ---------------------------------------------------------------------------------------------

test("the banner's first line is 'Serving <root> at http://127.0.0.1:<port>/' with the real port", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  assert.notEqual(cli.port, 0);
  assert.equal(bannerLines(cli)[0], `Serving ${root} at http://127.0.0.1:${cli.port}/`);
  const res = await request(cli.port, "/a.txt");
  assert.equal(res.status, 200, "the port in the banner is the one that answers");
});

test("with -b 127.0.0.1 the banner is one line of address, the URL given once", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  await eventually(() => cli.stdout().includes("Press Ctrl+C"), "no whole banner");
  assert.deepEqual(bannerLines(cli).slice(0, 2), [`Serving ${root} at http://127.0.0.1:${cli.port}/`, "Press Ctrl+C to stop."]);
});

test("with -b 127.0.0.1 the banner has no Network: lines", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  await stop(cli); // the whole banner is out once it has exited
  assert.match(cli.stdout(), /^Serving .* at http:\/\/127\.0\.0\.1:\d+\/$/m);
  assert.doesNotMatch(cli.stdout(), /Network:/);
});

test("with --host 127.0.0.1 the server binds there and the banner has no Network: lines", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "-p", "0", "--host", "127.0.0.1"]);
  assert.equal(cli.url, `http://127.0.0.1:${cli.port}/`);
  await stop(cli);
  assert.doesNotMatch(cli.stdout(), /Network:/);
});

test("bound to all interfaces, the banner's Network: lines name only non-internal addresses", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "-p", "0"]);
  await stop(cli);
  const infos = Object.values(os.networkInterfaces()).flatMap((list) => list ?? []);
  const external = new Set(infos.filter((i) => !i.internal).map((i) => i.address));
  const shown = [...cli.stdout().matchAll(/Network:\s+http:\/\/(\[[^\]]+\]|[^/:]+):(\d+)\//g)].map((m) => ({ host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) }));
  for (const { host, port } of shown) {
    assert.ok(external.has(host), `${host} is a non-internal address of this machine`);
    assert.equal(port, cli.port);
  }
  const reachableIPv4 = infos.filter((i) => !i.internal && i.family === "IPv4" && !i.address.startsWith("169.254.")).map((i) => i.address);
  for (const address of reachableIPv4) assert.ok(shown.some((s) => s.host === address), `${address} is shown`);
  for (const info of infos.filter((i) => i.internal)) assert.ok(!shown.some((s) => s.host === info.address), `internal ${info.address} is not shown`);
});

test("output has no ANSI escapes when stdout is not a TTY", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY], { env: { NO_COLOR: "", FORCE_COLOR: "" } });
  await request(cli.port, "/missing"); // a 404: the log line a terminal would colour
  await request(cli.port, "/a.txt");
  await eventually(() => cli.stdout().includes("/missing") && cli.stdout().includes("/a.txt"), "no log lines");
  await stop(cli);
  assert.ok(!cli.stdout().includes(ESC), `no ESC in stdout: ${JSON.stringify(cli.stdout())}`);
  assert.ok(!cli.stderr().includes(ESC), "no ESC in stderr");
});

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

test("output has no ANSI escapes on a terminal when NO_COLOR=1", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  // `script` gives the server a pseudo-terminal for stdout and copies what it shows to us.
  const command = [process.execPath, BIN, root, ...LOCAL_ONLY].map(shellQuote).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env: { ...process.env, NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString("latin1")));
  child.stderr.on("data", (c: Buffer) => (out += c.toString("latin1")));
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await closed;
  });
  await eventually(() => /at http:\/\/127\.0\.0\.1:\d+\//.test(out), `no banner on the terminal: ${JSON.stringify(out)}`, 10_000);
  const port = Number(/at http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]);
  await request(port, "/missing");
  await eventually(() => out.includes("/missing"), "no log line on the terminal");
  const shown = out;
  assert.ok(shown.includes("\r\n"), "the output went through a terminal (it turned \\n into \\r\\n)");
  assert.ok(!shown.includes(ESC), `no ESC on the terminal: ${JSON.stringify(shown)}`);
  child.kill("SIGTERM");
  await closed;
});

// ---------------------------------------------------------------------------------------------
// Which folder is served
// ---------------------------------------------------------------------------------------------

test("ROOT given as an argument is served", async (t) => {
  const root = tempDir(t, { "here.txt": "from the argument" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  const res = await request(cli.port, "/here.txt");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "from the argument");
});

test("ROOT given with -d is served", async (t) => {
  const root = tempDir(t, { "here.txt": "from -d" });
  const cli = await startCli(t, ["-d", root, ...LOCAL_ONLY]);
  const res = await request(cli.port, "/here.txt");
  assert.equal(res.body.toString(), "from -d");
});

test("ROOT given with --directory is served", async (t) => {
  const root = tempDir(t, { "here.txt": "from --directory" });
  const cli = await startCli(t, ["--directory", root, ...LOCAL_ONLY]);
  const res = await request(cli.port, "/here.txt");
  assert.equal(res.body.toString(), "from --directory");
});

test("without ROOT the current folder is served", async (t) => {
  const root = tempDir(t, { "here.txt": "from the cwd" });
  const cli = await startCli(t, LOCAL_ONLY, { cwd: root });
  const res = await request(cli.port, "/here.txt");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "from the cwd");
});

// ---------------------------------------------------------------------------------------------
// The request log
// ---------------------------------------------------------------------------------------------

function logLinesFor(stdout: string, target: string): string[] {
  return stdout.split("\n").filter((line) => line.split(/\s+/).includes(target));
}

test("each response logs one line with time, client, method, path, status and bytes", async (t) => {
  const root = tempDir(t, { "hello.txt": "hello" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  await request(cli.port, "/hello.txt");
  await request(cli.port, "/missing.txt");
  await eventually(() => logLinesFor(cli.stdout(), "/missing.txt").length > 0 && logLinesFor(cli.stdout(), "/hello.txt").length > 0, "no log lines");
  await stop(cli);

  const hello = logLinesFor(cli.stdout(), "/hello.txt");
  assert.equal(hello.length, 1, `one line for /hello.txt: ${JSON.stringify(hello)}`);
  const tokens = hello[0]!.split(/\s+/);
  assert.match(hello[0]!, /\d{2}:\d{2}:\d{2}/, "a time");
  for (const token of ["127.0.0.1", "GET", "/hello.txt", "200", "5"]) assert.ok(tokens.includes(token), `${token} in ${JSON.stringify(hello[0])}`);
  assert.ok(tokens.indexOf("GET") < tokens.indexOf("/hello.txt") && tokens.indexOf("/hello.txt") < tokens.indexOf("200"), "method, path, status in that order");

  const missing = logLinesFor(cli.stdout(), "/missing.txt");
  assert.equal(missing.length, 1, "one line for the 404");
  assert.ok(missing[0]!.split(/\s+/).includes("404"));
});

test("a refused request's log line says why, without revealing it to the client", async (t) => {
  const outside = tempDir(t, { "secret.txt": "secret" });
  const root = tempDir(t, { "a.txt": "a", ".env": "KEY=1", out: { symlink: path.join(outside, "secret.txt") } });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  const expected: Array<[string, number, string]> = [
    ["/..%2fa.txt", 400, "(dot-dot segment climbs above the root)"],
    ["/x/../a.txt", 301, "(dot segments removed)"],
    ["/%zz", 400, "(malformed percent-encoding)"],
    ["/.env", 404, "(dotfile hidden; --dotfiles serves it)"],
    ["/out", 404, "(symlink leads out of the root; --follow-symlinks serves it)"],
  ];
  for (const [target, status, note] of expected) {
    const res = await rawGet(cli.port, target);
    assert.equal(res.status, status, target);
    assert.ok(!res.raw.toString("latin1").includes(note.slice(1, -1)), `the reason is not sent for ${target}`);
  }
  await eventually(() => expected.every(([target]) => logLinesFor(cli.stdout(), target).length > 0), "no log lines");
  await stop(cli);
  for (const [target, status, note] of expected) {
    const [line] = logLinesFor(cli.stdout(), target);
    assert.ok(line!.includes(` ${status} `) && line!.endsWith(note), `${target}: ${JSON.stringify(line)}`);
  }
});

test("-q silences the request log", async (t) => {
  const root = tempDir(t, { "hello.txt": "hello" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  const res = await request(cli.port, "/hello.txt");
  assert.equal(res.status, 200);
  await stop(cli);
  assert.equal(logLinesFor(cli.stdout(), "/hello.txt").length, 0, `stdout: ${cli.stdout()}`);
});

test("a request target with a raw ESC byte never puts ESC into stdout", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  const res = await rawRequest(cli.port, Buffer.from("GET /\x1b[31mred\x1b[0m HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "latin1"));
  assert.notEqual(res.status, 0, "the server answered");
  // Node's parser may refuse the raw byte with a 400 before the handler; either way, no ESC out.
  await request(cli.port, "/a.txt"); // a later, ordinary line proves the log is flowing
  await eventually(() => cli.stdout().includes("/a.txt"), "no log line for /a.txt");
  await stop(cli);
  assert.ok(!cli.stdout().includes(ESC), `no ESC in stdout: ${JSON.stringify(cli.stdout())}`);
});

test("a request target with a raw 8-bit CSI byte (0x9b) never puts a C1 control into stdout", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY]);
  const res = await rawRequest(cli.port, Buffer.from("GET /\x9b31mred HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "latin1"));
  assert.notEqual(res.status, 0, "the server answered");
  await request(cli.port, "/a.txt");
  await eventually(() => cli.stdout().includes("/a.txt"), "no log line for /a.txt");
  await stop(cli);
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(cli.stdout()), `no control characters in stdout: ${JSON.stringify(cli.stdout())}`);
});

// ---------------------------------------------------------------------------------------------
// Flags that change responses
// ---------------------------------------------------------------------------------------------

test("--cors adds Access-Control-Allow-Origin: *", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--cors", "-q"]);
  const res = await request(cli.port, "/a.txt", { headers: { Origin: "http://example.test" } });
  assert.equal(res.headers["access-control-allow-origin"], "*");
});

test("without --cors there is no Access-Control-Allow-Origin", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  const res = await request(cli.port, "/a.txt", { headers: { Origin: "http://example.test" } });
  assert.equal(res.headers["access-control-allow-origin"], undefined);
});

test("-H adds a header to responses, and may be repeated", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-H", "X-Test: yes", "--header", "X-Other: two words", "-q"]);
  for (const target of ["/a.txt", "/", "/missing"]) {
    const res = await request(cli.port, target);
    assert.equal(res.headers["x-test"], "yes", `X-Test on ${target}`);
    assert.equal(res.headers["x-other"], "two words", `X-Other on ${target}`);
  }
});

test("--cache 60 sends Cache-Control: max-age=60 for files", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--cache", "60", "-q"]);
  const res = await request(cli.port, "/a.txt");
  assert.match(String(res.headers["cache-control"]), /(^|[\s,])max-age=60($|[\s,])/);
});

test("--no-listing answers 404 for a folder without index.html", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" }, site: { "index.html": "<p>index</p>" } });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--no-listing", "-q"]);
  const res = await request(cli.port, "/sub/");
  assert.equal(res.status, 404);
  assert.doesNotMatch(res.body.toString(), /a\.txt|Directory listing/);
  const site = await request(cli.port, "/site/");
  assert.equal(site.status, 200, "a folder with index.html is still served");
  assert.equal(site.body.toString(), "<p>index</p>");
});

test("--no-compress sends a text file as it is, without Vary, to a client that accepts br and gzip", async (t) => {
  const text = "compressible text, said again and again. ".repeat(100);
  const root = tempDir(t, { "a.txt": text, "a.txt.gz": "a sidecar that must not be sent" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--no-compress", "-q"]);
  const res = await rawGet(cli.port, "/a.txt", "Accept-Encoding: br, gzip\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), undefined);
  assert.equal(res.headers.get("vary"), undefined);
  assert.equal(res.body.toString(), text);
});

test("without --no-compress, a text file goes out compressed to a client that accepts br", async (t) => {
  const text = "compressible text, said again and again. ".repeat(100);
  const root = tempDir(t, { "a.txt": text });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  const res = await rawGet(cli.port, "/a.txt", "Accept-Encoding: br\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), "br");
  assert.equal(res.headers.get("vary"), "Accept-Encoding");
});

test("--dotfiles serves and lists dotfiles", async (t) => {
  const root = tempDir(t, { ".env": "SECRET=1", "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--dotfiles", "-q"]);
  const res = await request(cli.port, "/.env");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "SECRET=1");
  const listing = await request(cli.port, "/");
  assert.match(listing.body.toString(), /href="[^"]*\.env"/);
});

test("without --dotfiles a dotfile answers 404 and is not listed", async (t) => {
  const root = tempDir(t, { ".env": "SECRET=1", "a.txt": "a" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  const res = await request(cli.port, "/.env");
  assert.equal(res.status, 404);
  assert.doesNotMatch(res.body.toString(), /SECRET/);
  const listing = await request(cli.port, "/");
  assert.doesNotMatch(listing.body.toString(), /\.env/);
});

// ---------------------------------------------------------------------------------------------
// Stopping: SIGTERM and SIGINT
// ---------------------------------------------------------------------------------------------

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} exits 0 even with an idle keep-alive connection open`, async (t) => {
    const root = tempDir(t, { "a.txt": "keep-alive body" });
    const cli = await startCli(t, [root, ...LOCAL_ONLY]);
    const socket = net.connect(cli.port, "127.0.0.1");
    t.after(() => socket.destroy());
    let received = "";
    let serverClosed = false;
    socket.on("data", (c: Buffer) => (received += c.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => (serverClosed = true));
    socket.write("GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); // HTTP/1.1: keep-alive by default
    await eventually(() => received.endsWith("keep-alive body"), `no response: ${JSON.stringify(received)}`);
    assert.match(received, /^HTTP\/1\.1 200/);
    assert.doesNotMatch(received, /connection: close/i, "the connection is kept alive");
    assert.equal(serverClosed, false);

    cli.child.kill(signal);
    const exit = await exitOf(cli);
    assert.deepEqual(exit, { code: 0, signal: null });
    await eventually(() => serverClosed, "the idle connection was closed by the server");
  });
}

/** 50 MB of random bytes, and their SHA-256. */
function bigFile(root: string): { size: number; sha256: string } {
  const data = randomBytes(50 * 1024 * 1024);
  writeFileSync(path.join(root, "big.bin"), data);
  return { size: data.length, sha256: createHash("sha256").update(data).digest("hex") };
}

interface Download {
  response: Promise<http.IncomingMessage>;
  /** Resolves with the bytes received when the response ends or breaks. */
  done: Promise<{ bytes: number; sha256: string; complete: boolean }>;
  firstChunk: Promise<void>;
}

/** Starts a GET that pauses after its first chunk; resume the response to read on. */
function startDownload(port: number, target: string): Download {
  let firstChunk!: () => void;
  const first = new Promise<void>((resolve) => (firstChunk = resolve));
  let done!: (value: { bytes: number; sha256: string; complete: boolean }) => void;
  const finished = new Promise<{ bytes: number; sha256: string; complete: boolean }>((resolve) => (done = resolve));
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: target, agent: false }, (res) => {
      const hash = createHash("sha256");
      let bytes = 0;
      let settled = false;
      const settle = (complete: boolean) => {
        if (settled) return;
        settled = true;
        done({ bytes, sha256: hash.digest("hex"), complete });
      };
      res.on("data", (chunk: Buffer) => {
        if (bytes === 0) {
          res.pause();
          firstChunk();
        }
        bytes += chunk.length;
        hash.update(chunk);
      });
      res.on("end", () => settle(res.complete));
      res.on("aborted", () => settle(false));
      res.on("error", () => settle(false));
      res.on("close", () => settle(res.complete));
      resolve(res);
    });
    req.on("error", (error) => {
      reject(error);
      done({ bytes: 0, sha256: "", complete: false });
    });
  });
  return { response, done: finished, firstChunk: first };
}

test("SIGTERM lets a slow download that was already in flight finish with its complete body, then exits 0", async (t) => {
  const root = tempDir(t);
  const file = bigFile(root);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  const download = startDownload(cli.port, "/big.bin");
  const res = await download.response;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["content-length"], String(file.size));
  await download.firstChunk; // in flight, and paused: the server cannot have finished 50 MB

  cli.child.kill("SIGTERM");
  // The server has taken the signal once it stops accepting new connections.
  await eventually(() => connectionRefused(cli.port), "still accepting connections after SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 200)); // a slow reader, still paused
  res.resume();

  const got = await download.done;
  assert.equal(got.bytes, file.size, "every byte arrived");
  assert.equal(got.sha256, file.sha256, "the bytes are the file's");
  assert.equal(got.complete, true);
  assert.deepEqual(await exitOf(cli), { code: 0, signal: null });
});

test("SIGTERM still exits 0 when a download outlasts the grace period", async (t) => {
  const root = tempDir(t);
  const file = bigFile(root);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  const download = startDownload(cli.port, "/big.bin");
  const res = await download.response;
  assert.equal(res.statusCode, 200);
  await download.firstChunk; // then never read again

  cli.child.kill("SIGTERM");
  assert.deepEqual(await exitOf(cli), { code: 0, signal: null });
  res.resume(); // drain what is buffered: the server has gone, so the body stays short
  const got = await download.done;
  assert.ok(got.bytes < file.size, `the stalled download was cut off (${got.bytes} of ${file.size} bytes)`);
  assert.equal(got.complete, false);
});

test("--spa answers a page load of a missing path with index.html", async (t) => {
  const root = tempDir(t, { "index.html": "<div id=app></div>" });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--spa", "-q"]);
  const page = await request(cli.port, "/users/42", { headers: { "Sec-Fetch-Dest": "document" } });
  assert.equal(page.status, 200);
  assert.equal(page.body.toString(), "<div id=app></div>");
  assert.equal((await request(cli.port, "/app.js", { headers: { "Sec-Fetch-Dest": "script" } })).status, 404);
});

test("clean URLs are on by default and --no-clean-urls turns them off", async (t) => {
  const root = tempDir(t, { "about.html": "about" });
  const on = await startCli(t, [root, ...LOCAL_ONLY, "-q"]);
  assert.equal((await request(on.port, "/about")).body.toString(), "about");
  const off = await startCli(t, [root, ...LOCAL_ONLY, "--no-clean-urls", "-q"]);
  assert.equal((await request(off.port, "/about")).status, 404);
});

/** A folder holding an executable `name` that records its arguments in `record`, for PATH. */
function fakeOpener(t: TestContext, name: string, record: string, exitCode = 0): string {
  const bin = tempDir(t);
  // Written beside, then renamed: a test that sees the record sees all of it.
  writeFileSync(path.join(bin, name), `#!/bin/sh\nprintf '%s\\n' "$@" > '${record}.part' && mv '${record}.part' '${record}'\nexit ${exitCode}\n`, { mode: 0o755 });
  return bin;
}

test("--open opens the local URL with the platform's opener (xdg-open here), detached", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const record = path.join(tempDir(t), "opened");
  const bin = fakeOpener(t, "xdg-open", record);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--open", "-q"], { env: { PATH: `${bin}:${process.env.PATH}` } });
  await eventually(() => readFileSafe(record) !== null, "xdg-open was not run");
  assert.equal(readFileSafe(record), `${cli.url}\n`);
  assert.equal(cli.stderr(), "");
  assert.equal((await request(cli.port, "/a.txt")).status, 200);
});

test("--open without a browser to open says so in one line on stderr and keeps serving", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const emptyBin = tempDir(t);
  // Node itself is found by its absolute path; PATH holds no opener.
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--open", "-q"], { env: { PATH: emptyBin } });
  await eventually(() => cli.stderr().includes("\n"), "no message on stderr");
  const lines = cli.stderr().trimEnd().split("\n");
  assert.equal(lines.length, 1, cli.stderr());
  assert.match(lines[0]!, /^serve-here: cannot open a browser \(xdg-open not found\); open http:\/\/127\.0\.0\.1:\d+\/ yourself$/);
  assert.equal((await request(cli.port, "/a.txt")).status, 200, "still serving");
  assert.equal(cli.child.exitCode, null);
});

test("--open when the opener fails (no display) says so on stderr and keeps serving", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const bin = fakeOpener(t, "xdg-open", path.join(tempDir(t), "opened"), 3);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--open", "-q"], { env: { PATH: bin } });
  await eventually(() => cli.stderr().includes("\n"), "no message on stderr");
  assert.match(cli.stderr(), /^serve-here: cannot open a browser \(xdg-open exited with status 3\); open http:\/\/127\.0\.0\.1:\d+\/ yourself\n$/);
  assert.equal((await request(cli.port, "/a.txt")).status, 200, "still serving");
});

function readFileSafe(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}
