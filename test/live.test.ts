/**
 * Live reload (`--live`): the script put into HTML navigations and nothing else, the event stream
 * and what it tells, the watcher's rules, and the bounds (released subscriptions, prompt close).
 * Real server, real sockets, real files; the browser side is in `live.e2e.ts`.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { test } from "node:test";
import vm from "node:vm";
import type { AccessLogEntry } from "../src/server.js";
import { LIVE_CLIENT } from "../src/live-client.js";
import { eventually, rawGet, rawRequest, serve, startCli, tempDir } from "./helpers.js";

const TAG = '<script type="module" src="/__serve-here/live.js"></script>';
/** What a browser sends for a page load. */
const NAVIGATION = "Accept: text/html,application/xhtml+xml\r\nSec-Fetch-Dest: document\r\n";
const LIVE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'";
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'";

/** A page load of `target` over a raw socket. */
function navigate(port: number, target: string, extra = "") {
  return rawGet(port, target, NAVIGATION + extra);
}

/** An open `/__serve-here/events` stream, its messages parsed as they come. */
class EventClient {
  readonly messages: Array<Record<string, unknown>> = [];
  raw = "";
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  ended = false;
  private readonly req: http.ClientRequest;
  private readonly waiters = new Set<() => void>();

  private constructor(port: number, headers: Record<string, string>, ready: (client: EventClient) => void, failed: (error: Error) => void) {
    this.req = http.get({ host: "127.0.0.1", port, path: "/__serve-here/events", headers, agent: false }, (res) => {
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        this.raw += chunk;
        this.parse();
      });
      res.on("end", () => {
        this.ended = true;
        this.wake();
      });
      res.on("error", () => {});
      ready(this);
    });
    this.req.on("error", failed);
  }

  static open(port: number, headers: Record<string, string> = {}): Promise<EventClient> {
    return new Promise((resolve, reject) => new EventClient(port, headers, resolve, reject));
  }

  /** Opens a stream and waits for its boot message: from then on, the server watches. */
  static async listening(port: number): Promise<EventClient> {
    const client = await EventClient.open(port);
    await client.until(() => client.messages.length > 0, "no boot message");
    return client;
  }

  private parsed = 0;
  private parse(): void {
    for (let end = this.raw.indexOf("\n\n", this.parsed); end !== -1; end = this.raw.indexOf("\n\n", this.parsed)) {
      const block = this.raw.slice(this.parsed, end);
      this.parsed = end + 2;
      for (const line of block.split("\n")) if (line.startsWith("data: ")) this.messages.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
    }
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Every path named by a `changed` message so far. */
  changedPaths(): string[] {
    return this.messages.flatMap((m) => (Array.isArray(m.changed) ? (m.changed as string[]) : []));
  }

  changeMessages(): number {
    return this.messages.filter((m) => Array.isArray(m.changed)).length;
  }

  /** Waits (bounded) until `check` holds. */
  until(check: () => boolean, message: string, timeoutMs = 10_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${message}; got: ${this.raw.slice(0, 2000)}`));
      }, timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.req.destroy();
  }
}

/** The inotify watches this process holds, as the kernel counts them (Linux). */
function inotifyWatches(): number {
  let watches = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (!readlinkSync(`/proc/self/fd/${fd}`).includes("inotify")) continue;
      watches += readFileSync(`/proc/self/fdinfo/${fd}`, "utf8").split("\n").filter((line) => line.startsWith("inotify wd:")).length;
    } catch {
      // closed meanwhile
    }
  }
  return watches;
}

// ---- Injection

test("with --live, an HTML navigation gets the script right before </head>", async (t) => {
  const root = tempDir(t, { "page.html": "<!doctype html><html><head><title>t</title></head><body>x</body></html>" });
  const server = await serve(t, { root, live: true });
  const res = await navigate(server.port, "/page.html");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), `<!doctype html><html><head><title>t</title>${TAG}</head><body>x</body></html>`);
});

test("without </head>, the script goes right before </body>", async (t) => {
  const root = tempDir(t, { "page.html": "<p>hello</p><body>x</body></html>" });
  const server = await serve(t, { root, live: true });
  assert.equal((await navigate(server.port, "/page.html")).body.toString(), `<p>hello</p><body>x${TAG}</body></html>`);
});

test("without </head> or </body>, the script goes at the end", async (t) => {
  const root = tempDir(t, { "page.html": "<h1>bare</h1>\n" });
  const server = await serve(t, { root, live: true });
  assert.equal((await navigate(server.port, "/page.html")).body.toString(), `<h1>bare</h1>\n${TAG}`);
});

test("</HEAD> in upper case is found, and only the first </head> counts", async (t) => {
  const root = tempDir(t, { "page.html": "<HTML><HEAD><TITLE>t</TITLE></HEAD><BODY><pre>&lt;/head></pre></head></BODY></HTML>" });
  const server = await serve(t, { root, live: true });
  assert.equal((await navigate(server.port, "/page.html")).body.toString(), `<HTML><HEAD><TITLE>t</TITLE>${TAG}</HEAD><BODY><pre>&lt;/head></pre></head></BODY></HTML>`);
});

test("a UTF-8 BOM stays the first bytes of an injected page", async (t) => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const root = tempDir(t, { "page.html": Buffer.concat([bom, Buffer.from("<p>ünïcode</p>")]) });
  const server = await serve(t, { root, live: true });
  const body = (await navigate(server.port, "/page.html")).body;
  assert.deepEqual(body.subarray(0, 3), bom);
  assert.equal(body.subarray(3).toString(), `<p>ünïcode</p>${TAG}`);
});

test("an injected page has an exact Content-Length", async (t) => {
  const html = "<html><head></head><body>€ and more</body></html>";
  const root = tempDir(t, { "page.html": html });
  const server = await serve(t, { root, live: true });
  const res = await navigate(server.port, "/page.html");
  assert.equal(res.headers.get("content-length"), String(Buffer.byteLength(html) + TAG.length));
  assert.equal(res.body.length, Buffer.byteLength(html) + TAG.length);
});

test("an injected page has its own ETag (the file's plus -live), and If-None-Match with it is 304", async (t) => {
  const root = tempDir(t, { "page.html": "<head></head>page" });
  const server = await serve(t, { root, live: true });
  const file = await rawGet(server.port, "/page.html");
  const page = await navigate(server.port, "/page.html");
  const fileTag = file.headers.get("etag")!;
  assert.match(fileTag, /^"[^"]+"$/);
  assert.equal(page.headers.get("etag"), fileTag.slice(0, -1) + '-live"');
  const revalidated = await navigate(server.port, "/page.html", `If-None-Match: ${page.headers.get("etag")}\r\n`);
  assert.equal(revalidated.status, 304);
  assert.equal(revalidated.headers.get("etag"), page.headers.get("etag"));
  // The file's own tag names other bytes than the page's: no 304 for the page.
  assert.equal((await navigate(server.port, "/page.html", `If-None-Match: ${fileTag}\r\n`)).status, 200);
});

test("an injected page ignores Range and answers 200 with the whole page", async (t) => {
  const root = tempDir(t, { "page.html": "<head></head>0123456789" });
  const server = await serve(t, { root, live: true });
  const res = await navigate(server.port, "/page.html", "Range: bytes=0-4\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-range"), undefined);
  assert.equal(res.headers.get("accept-ranges"), "none");
  assert.equal(res.body.toString(), `<head>${TAG}</head>0123456789`);
});

test("a request that is not a navigation gets the HTML file's exact bytes, ranges and all", async (t) => {
  const html = "<html><head></head><body>exact</body></html>";
  const root = tempDir(t, { "page.html": html });
  const server = await serve(t, { root, live: true });
  const plain = await rawGet(server.port, "/page.html");
  assert.equal(plain.body.toString(), html);
  assert.equal(plain.headers.get("accept-ranges"), "bytes");
  const script = await rawGet(server.port, "/page.html", "Accept: text/html\r\nSec-Fetch-Dest: script\r\n");
  assert.equal(script.body.toString(), html);
  const fetched = await rawGet(server.port, "/page.html", "Accept: */*\r\nSec-Fetch-Dest: empty\r\n");
  assert.equal(fetched.body.toString(), html);
  assert.equal((await rawGet(server.port, "/page.html", "Range: bytes=0-5\r\n")).status, 206);
});

test("files that are not HTML are never changed, even as navigations", async (t) => {
  const root = tempDir(t, { "notes.txt": "</head> plain text", "data.json": '{"a":"</body>"}' });
  const server = await serve(t, { root, live: true });
  assert.equal((await navigate(server.port, "/notes.txt")).body.toString(), "</head> plain text");
  assert.equal((await navigate(server.port, "/data.json")).body.toString(), '{"a":"</body>"}');
});

test("HEAD of an injected page sends the same headers as GET", async (t) => {
  const root = tempDir(t, { "page.html": "<head></head>head test" });
  const server = await serve(t, { root, live: true });
  const get = await navigate(server.port, "/page.html");
  const head = await rawRequest(server.port, `HEAD /page.html HTTP/1.1\r\nHost: 127.0.0.1\r\n${NAVIGATION}Connection: close\r\n\r\n`);
  assert.equal(head.body.length, 0);
  get.headers.delete("date");
  head.headers.delete("date");
  assert.deepEqual(head.headers, get.headers);
});

test("an index.html reached through its folder gets the script", async (t) => {
  const root = tempDir(t, { docs: { "index.html": "<head></head>docs" } });
  const server = await serve(t, { root, live: true });
  assert.equal((await navigate(server.port, "/docs/")).body.toString(), `<head>${TAG}</head>docs`);
});

test("an HTML file over 256 KiB (read from its descriptor) gets the script too", async (t) => {
  const filler = "x".repeat(400 * 1024);
  const root = tempDir(t, { "big.html": `<head></head><body>${filler}</body>` });
  const server = await serve(t, { root, live: true });
  const res = await navigate(server.port, "/big.html");
  assert.equal(res.body.toString(), `<head>${TAG}</head><body>${filler}</body>`);
  assert.equal(res.headers.get("content-length"), String(res.body.length));
});

test("an HTML file over 16 MiB is sent untouched, and the log says why", async (t) => {
  const size = 16 * 1024 * 1024 + 1;
  const html = Buffer.alloc(size, 0x61);
  Buffer.from("<head></head>").copy(html);
  const root = tempDir(t, { "huge.html": html });
  const entries: AccessLogEntry[] = [];
  const server = await serve(t, { root, live: true, onResponse: (entry) => entries.push(entry) });
  const res = await navigate(server.port, "/huge.html");
  assert.equal(res.status, 200);
  assert.equal(res.body.length, size);
  assert.ok(res.body.equals(html), "the file's own bytes");
  await eventually(() => entries.length > 0, "no log entry");
  assert.match(entries[0]!.note ?? "", /16 MiB.*live-reload script/);
});

// ---- Without --live

test("without --live nothing is injected and /__serve-here/ is an ordinary path", async (t) => {
  const root = tempDir(t, { "page.html": "<head></head>plain" });
  const server = await serve(t, { root });
  assert.equal((await navigate(server.port, "/page.html")).body.toString(), "<head></head>plain");
  assert.equal((await rawGet(server.port, "/__serve-here/live.js")).status, 404);
  assert.equal((await rawGet(server.port, "/__serve-here/events")).status, 404);
});

// ---- Generated pages

test("with --live, a listing and the generic 404 page get the script and a CSP that lets it run", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" } });
  const server = await serve(t, { root, live: true });
  for (const [target, status] of [["/sub/", 200], ["/missing.html", 404]] as const) {
    const res = await navigate(server.port, target);
    assert.equal(res.status, status, target);
    assert.ok(res.body.toString().includes(TAG), `${target} has the script`);
    assert.equal(res.headers.get("content-security-policy"), LIVE_CSP, target);
    assert.equal(res.headers.get("content-length"), String(res.body.length), target);
  }
});

test("without --live, a listing and the 404 page carry no script and the strict CSP", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" } });
  const server = await serve(t, { root });
  for (const target of ["/sub/", "/missing.html"]) {
    const res = await navigate(server.port, target);
    assert.ok(!res.body.toString().includes("__serve-here"), `${target} has no script`);
    assert.equal(res.headers.get("content-security-policy"), PAGE_CSP, target);
  }
});

test("with --live, the root's own 404.html gets the script and no CSP of ours", async (t) => {
  const root = tempDir(t, { "404.html": "<html><head><title>Lost</title></head><body>lost</body></html>" });
  const server = await serve(t, { root, live: true });
  const res = await navigate(server.port, "/nowhere");
  assert.equal(res.status, 404);
  assert.equal(res.body.toString(), `<html><head><title>Lost</title>${TAG}</head><body>lost</body></html>`);
  assert.equal(res.headers.get("content-length"), String(res.body.length));
  assert.equal(res.headers.get("content-security-policy"), undefined);
});

test("an HTML file of the site gets no CSP added by --live", async (t) => {
  const root = tempDir(t, { "page.html": "<head></head>site" });
  const server = await serve(t, { root, live: true });
  assert.equal((await navigate(server.port, "/page.html")).headers.get("content-security-policy"), undefined);
});

// ---- The client script

test("/__serve-here/live.js is JavaScript of at most 4 KiB, with an ETag and no-cache", async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true });
  const res = await rawGet(server.port, "/__serve-here/live.js");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.ok(res.body.length <= 4096, `live.js is ${res.body.length} bytes`);
  assert.equal(res.body.toString(), LIVE_CLIENT);
  assert.doesNotThrow(() => new vm.Script(LIVE_CLIENT), "it parses");
  const etag = res.headers.get("etag")!;
  assert.match(etag, /^"[^"]+"$/);
  assert.equal((await rawGet(server.port, "/__serve-here/live.js", `If-None-Match: ${etag}\r\n`)).status, 304);
});

// ---- The event stream

test("the event stream is text/event-stream, no-store, and starts with retry: 1000 and the boot id", async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  assert.equal(events.status, 200);
  assert.equal(events.headers["content-type"], "text/event-stream");
  assert.equal(events.headers["cache-control"], "no-store");
  assert.ok(events.raw.startsWith("retry: 1000\n"), JSON.stringify(events.raw));
  assert.equal(typeof events.messages[0]!.boot, "string");
  assert.ok((events.messages[0]!.boot as string).length >= 8);
});

test("every stream of one server gets the same boot id; another server, another", async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true });
  const other = await serve(t, { root, live: true });
  const [a, b, c] = await Promise.all([EventClient.listening(server.port), EventClient.listening(server.port), EventClient.listening(other.port)]);
  t.after(() => [a, b, c].forEach((client) => client.close()));
  assert.equal(a.messages[0]!.boot, b.messages[0]!.boot);
  assert.notEqual(a.messages[0]!.boot, c.messages[0]!.boot);
});

test("a written file is told as changed, by its percent-encoded URL path", async (t) => {
  const root = tempDir(t, { "a b.html": "old", css: { "site.css": "h1 {}" } });
  const server = await serve(t, { root, live: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  writeFileSync(path.join(root, "a b.html"), "new");
  writeFileSync(path.join(root, "css", "site.css"), "h1 { color: red }");
  await events.until(() => events.changedPaths().includes("/a%20b.html") && events.changedPaths().includes("/css/site.css"), "no change message");
});

test("a file created in a new folder is told, and so is a deleted file", async (t) => {
  const root = tempDir(t, { "gone.txt": "x" });
  const server = await serve(t, { root, live: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  mkdirSync(path.join(root, "new", "deeper"), { recursive: true });
  await events.until(() => events.changedPaths().includes("/new/"), "no message for the new folder");
  writeFileSync(path.join(root, "new", "deeper", "page.html"), "hello");
  await events.until(() => events.changedPaths().includes("/new/deeper/page.html"), "no message for a file in the new folder");
  rmSync(path.join(root, "gone.txt"));
  await events.until(() => events.changedPaths().includes("/gone.txt"), "no message for the deleted file");
});

test("a burst of 200 writes is told in a few messages that name every file", async (t) => {
  const root = tempDir(t, { out: {} });
  const server = await serve(t, { root, live: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  const expected = Array.from({ length: 200 }, (_, i) => `/out/file${i}.js`);
  for (let i = 0; i < 200; i++) writeFileSync(path.join(root, "out", `file${i}.js`), `// ${i}`);
  await events.until(() => expected.every((p) => events.changedPaths().includes(p)), "not every path was told");
  assert.ok(events.changeMessages() <= 10, `${events.changeMessages()} messages for one burst`);
});

test(".git, node_modules and dotfiles never produce a message", async (t) => {
  const root = tempDir(t, { ".git": { objects: {} }, node_modules: { lib: {} }, ".hidden": {} });
  const server = await serve(t, { root, live: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  writeFileSync(path.join(root, ".git", "index"), "x");
  writeFileSync(path.join(root, ".git", "objects", "ab"), "x");
  writeFileSync(path.join(root, "node_modules", "lib", "index.js"), "x");
  writeFileSync(path.join(root, "node_modules", "x"), "x");
  writeFileSync(path.join(root, ".hidden", "y"), "x");
  writeFileSync(path.join(root, ".env"), "SECRET=1");
  // The kernel tells changes in order: once the sentinel arrives, any of the above would have too.
  writeFileSync(path.join(root, "sentinel.txt"), "x");
  await events.until(() => events.changedPaths().includes("/sentinel.txt"), "no sentinel");
  assert.deepEqual(events.changedPaths(), ["/sentinel.txt"]);
});

test("with --dotfiles, a dotfile's change is told", async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true, dotfiles: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  writeFileSync(path.join(root, ".config"), "x");
  await events.until(() => events.changedPaths().includes("/.config"), "no message for the dotfile");
});

test("a cross-site Origin on the event stream is refused with 403, and the log says why", async (t) => {
  const root = tempDir(t);
  const entries: AccessLogEntry[] = [];
  const server = await serve(t, { root, live: true, onResponse: (entry) => entries.push(entry) });
  const res = await rawGet(server.port, "/__serve-here/events", "Origin: http://evil.example\r\n");
  assert.equal(res.status, 403);
  assert.equal((await rawGet(server.port, "/__serve-here/events", "Origin: null\r\n")).status, 403);
  await eventually(() => entries.length === 2, "no log entries");
  assert.match(entries[0]!.note ?? "", /cross-site Origin/);
});

test("a same-origin Origin on the event stream is served", async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true });
  const events = await EventClient.open(server.port, { Origin: `http://127.0.0.1:${server.port}` });
  t.after(() => events.close());
  assert.equal(events.status, 200);
});

// ---- Bounds

test("the watcher runs only while a stream is open: the last one closing removes every inotify watch", { skip: process.platform !== "linux" && "reads /proc" }, async (t) => {
  const root = tempDir(t, { a: { b: {} }, c: {} });
  const server = await serve(t, { root, live: true });
  assert.equal(inotifyWatches(), 0, "nothing is watched before a page listens");
  const first = await EventClient.listening(server.port);
  const second = await EventClient.listening(server.port);
  assert.equal(inotifyWatches(), 4, "one watch per folder: root, a, a/b, c");
  first.close();
  writeFileSync(path.join(root, "still.txt"), "x");
  await second.until(() => second.changedPaths().includes("/still.txt"), "the remaining stream is still told");
  second.close();
  await eventually(() => inotifyWatches() === 0, `watches left after the last stream closed: ${inotifyWatches()}`);
});

test("HEAD of the event stream subscribes nothing and starts no watcher", { skip: process.platform !== "linux" && "reads /proc" }, async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true });
  const res = await rawRequest(server.port, "HEAD /__serve-here/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  assert.equal(inotifyWatches(), 0);
});

test("with SERVE_HERE_LIVE_POLL=1 the tree is polled, and a change is still told", async (t) => {
  const root = tempDir(t, { "page.html": "old", sub: {} });
  process.env.SERVE_HERE_LIVE_POLL = "1";
  let server;
  try {
    server = await serve(t, { root, live: true });
  } finally {
    delete process.env.SERVE_HERE_LIVE_POLL;
  }
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  if (process.platform === "linux") assert.equal(inotifyWatches(), 0, "polling, not inotify");
  writeFileSync(path.join(root, "page.html"), "new version");
  writeFileSync(path.join(root, "sub", "new file.css"), "x");
  writeFileSync(path.join(root, ".git-ignored"), "x");
  await events.until(() => events.changedPaths().includes("/page.html") && events.changedPaths().includes("/sub/new%20file.css"), "no change from the poller");
  assert.ok(!events.changedPaths().includes("/.git-ignored"));
});

test("closing the server ends open event streams at once rather than after the grace period", { timeout: 60_000 }, async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, live: true });
  const events = await EventClient.listening(server.port);
  t.after(() => events.close());
  // A grace period far longer than the test's own timeout: close must not wait for it.
  await server.close(10 * 60_000);
  await events.until(() => events.ended, "the stream did not end");
  if (process.platform === "linux") assert.equal(inotifyWatches(), 0, "the watcher stopped");
});

// ---- The command

test("serve-here --live says so in the banner and serves pages with the script", async (t) => {
  const root = tempDir(t, { "index.html": "<head></head>cli" });
  const cli = await startCli(t, [root, "--live", "--port", "0", "--bind", "127.0.0.1"]);
  assert.match(cli.stdout(), /Live reload: on/);
  assert.equal((await navigate(cli.port, "/")).body.toString(), `<head>${TAG}</head>cli`);
  cli.child.kill("SIGTERM");
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test("serve-here without --live says nothing of live reload", async (t) => {
  const root = tempDir(t, { "index.html": "<head></head>cli" });
  const cli = await startCli(t, [root, "--port", "0", "--bind", "127.0.0.1"]);
  await eventually(() => cli.stdout().includes("Ctrl+C"), "no banner");
  assert.doesNotMatch(cli.stdout(), /Live reload/);
  assert.equal((await navigate(cli.port, "/")).body.toString(), "<head></head>cli");
});
