/**
 * Behind a caching reverse proxy: Debian's nginx on loopback, in front of serve-here, with the
 * configuration docs/proxies.md shows (`proxy_cache`, `proxy_cache_revalidate on`). Without nginx these
 * tests are skipped, saying why. `--trust-proxy` is also checked without nginx, with the header
 * sent straight to serve-here.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import zlib from "node:zlib";
import { formatLogLine, type AccessLogEntry } from "../src/server.js";
import { eventually, request, serve, tempDir, type SimpleResponse } from "./helpers.js";

/** nginx from PATH, or Debian's /usr/sbin/nginx (not on a non-root PATH); null when not installed. */
function findNginx(): string | null {
  for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin"]) {
    if (dir && existsSync(path.join(dir, "nginx"))) return path.join(dir, "nginx");
  }
  return null;
}

const NGINX = findNginx();
const noNginx = NGINX === null && "nginx is not installed (apt-get install nginx; .ci/run installs it), so the tests through a real caching proxy cannot run";

/** A port free now on 127.0.0.1, for nginx to listen on. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The configuration docs/proxies.md shows, in a temporary prefix of its own (pid, temp paths, cache and
 * error log there), so it runs without root. As root, nginx's workers run as root too (`user
 * root;`), or they could not write the cache folder made here.
 */
function nginxConfig(dir: string, port: number, upstream: number): string {
  return `${process.getuid?.() === 0 ? "user root;\n" : ""}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  proxy_cache_path ${dir}/cache keys_zone=serve_here:10m;

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The name the browser asked for, port included: serve-here's Host check and the Origin
      # check of uploads compare against it (add --allowed-host for a DNS name).
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_cache serve_here;
      # A stale copy is checked with If-None-Match / If-Modified-Since: 304 costs no body.
      proxy_cache_revalidate on;
      # With a cache, nginx strips Range from what it asks; this cuts ranges from answers it does not keep.
      proxy_force_ranges on;
      # Uploads stream through instead of being spooled whole first.
      proxy_request_buffering off;
      client_max_body_size 0;
      # Live reload's event stream says X-Accel-Buffering: no itself.
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`;
}

interface Proxied {
  /** nginx's port. */
  port: number;
  /** serve-here's access log, entry by entry. */
  log: AccessLogEntry[];
  root: string;
}

/** serve-here (with `options`) on a real socket, and nginx in front of it; both stopped after the test. */
async function behindNginx(t: TestContext, files: Record<string, string | Buffer>, options: Parameters<typeof serve>[1] = {}): Promise<Proxied> {
  const root = tempDir(t, files);
  const log: AccessLogEntry[] = [];
  const upstream = await serve(t, { root, onResponse: (entry) => log.push(entry), ...options });
  const dir = tempDir(t);
  mkdirSync(path.join(dir, "cache"));
  const port = await freePort();
  writeFileSync(path.join(dir, "nginx.conf"), nginxConfig(dir, port, upstream.port));
  const nginx = spawn(NGINX!, ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  nginx.stderr.on("data", (c: Buffer) => (stderr += c));
  t.after(() => {
    nginx.kill("SIGTERM");
  });
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        if (nginx.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
        const socket = net.connect(port, "127.0.0.1").once("connect", () => (socket.destroy(), resolve(true))).once("error", () => resolve(false));
      }),
    "nginx listens",
  );
  return { port, log, root };
}

function get(port: number, target: string, headers: Record<string, string> = {}, localAddress?: string): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: target, headers, agent: false, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The statuses serve-here logged for `url`, in order. */
function upstreamStatuses(log: AccessLogEntry[], url: string): number[] {
  return log.filter((e) => e.url === url).map((e) => e.status);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Text that compresses, over 1 KiB, so serve-here offers br and gzip. */
const SCRIPT = Array.from({ length: 400 }, (_, i) => `export const value${i} = "${"abc".repeat(i % 7)}";\n`).join("");

test("with the default no-cache, an edited file reaches clients through the proxy at once (nginx keeps no no-cache answer)", { skip: noNginx }, async (t) => {
  const site = await behindNginx(t, { "page.html": "<p>version one</p>" });
  const first = await get(site.port, "/page.html");
  assert.equal(first.body.toString(), "<p>version one</p>");
  assert.equal(first.headers["cache-control"], "no-cache");
  writeFileSync(path.join(site.root, "page.html"), "<p>version two, longer</p>");
  const second = await get(site.port, "/page.html");
  assert.equal(second.body.toString(), "<p>version two, longer</p>", "the very next request sees the edit");
  // nginx treats no-cache as "do not store" (not RFC 9111's "store, revalidate each time"):
  // every request is a full GET upstream.
  assert.deepEqual([first.headers["x-cache-status"], second.headers["x-cache-status"]], ["MISS", "MISS"]);
  assert.deepEqual(upstreamStatuses(site.log, "/page.html"), [200, 200]);
});

test("--cache N: the proxy answers for N seconds without asking, then revalidates with a 304, and an edit arrives once freshness ends", { skip: noNginx }, async (t) => {
  const site = await behindNginx(t, { "app.css": "body { color: black }" }, { cacheSeconds: 2 });
  const miss = await get(site.port, "/app.css");
  assert.equal(miss.headers["x-cache-status"], "MISS");
  assert.equal(miss.headers["cache-control"], "max-age=2");
  const hit = await get(site.port, "/app.css");
  assert.equal(hit.headers["x-cache-status"], "HIT");
  assert.deepEqual(upstreamStatuses(site.log, "/app.css"), [200], "the fresh copy is answered without asking serve-here");

  // Freshness ends: nginx asks with the validators, and an unchanged file costs a 304, no body.
  await sleep(3100);
  const revalidated = await get(site.port, "/app.css");
  assert.equal(revalidated.headers["x-cache-status"], "REVALIDATED");
  assert.equal(revalidated.body.toString(), "body { color: black }");
  assert.deepEqual(upstreamStatuses(site.log, "/app.css"), [200, 304]);
  assert.equal(site.log.at(-1)!.bytes, 0);

  // An edit: served stale-but-fresh until the N seconds end, then the first request gets it.
  writeFileSync(path.join(site.root, "app.css"), "body { color: rebeccapurple }");
  assert.equal((await get(site.port, "/app.css")).body.toString(), "body { color: black }", "still fresh: the proxy answers");
  await sleep(3100);
  const edited = await get(site.port, "/app.css");
  assert.equal(edited.body.toString(), "body { color: rebeccapurple }");
  assert.deepEqual(upstreamStatuses(site.log, "/app.css"), [200, 304, 200]);
});

test("Vary: Accept-Encoding keeps br, gzip and identity apart in the proxy's cache, and each revalidates with its own 304", { skip: noNginx }, async (t) => {
  const site = await behindNginx(t, { "app.js": SCRIPT }, { cacheSeconds: 2 });
  const decode = { br: zlib.brotliDecompressSync, gzip: zlib.gunzipSync, identity: (b: Buffer) => b } as const;
  const expectedStatus = { first: "MISS", second: "HIT", stale: "REVALIDATED" } as const;
  for (const round of ["first", "second", "stale"] as const) {
    if (round === "stale") await sleep(3100); // past max-age=2
    for (const coding of ["br", "gzip", "identity"] as const) {
      const res = await get(site.port, "/app.js", coding === "identity" ? {} : { "Accept-Encoding": coding });
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-encoding"], coding === "identity" ? undefined : coding, `${round} ${coding}`);
      assert.equal(res.headers.vary, "Accept-Encoding");
      assert.equal(decode[coding](res.body).toString(), SCRIPT, `${round} ${coding}: the body decodes to the file`);
      assert.equal(res.headers["x-cache-status"], expectedStatus[round], `${round} ${coding}: kept as its own variant`);
    }
  }
  // One full answer per coding, then one bodiless 304 per coding: each variant's own ETag matched.
  assert.deepEqual(upstreamStatuses(site.log, "/app.js"), [200, 200, 200, 304, 304, 304]);
});

test("ranges work through the proxy, for answers it keeps and for no-cache ones", { skip: noNginx }, async (t) => {
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  for (const cacheSeconds of [undefined, 60]) {
    const site = await behindNginx(t, { "data.bin": data }, { cacheSeconds });
    if (cacheSeconds) await get(site.port, "/data.bin"); // now in the cache
    const part = await get(site.port, "/data.bin", { Range: "bytes=1000-1099" });
    assert.equal(part.status, 206, `cache ${cacheSeconds}`);
    assert.equal(part.headers["content-range"], "bytes 1000-1099/5000");
    assert.deepEqual(part.body, data.subarray(1000, 1100));
    const tail = await get(site.port, "/data.bin", { Range: "bytes=-10" });
    assert.deepEqual(tail.body, data.subarray(4990));
  }
});

test("--trust-proxy: the log names the client from X-Forwarded-For's last hop, the one nginx added, not the proxy", { skip: noNginx }, async (t) => {
  for (const trustProxy of [true, false]) {
    const site = await behindNginx(t, { "a.txt": "a" }, { trustProxy });
    // The client connects from 127.0.0.2 and claims to be 203.0.113.7: only nginx's own entry counts.
    await get(site.port, "/a.txt", { "X-Forwarded-For": "203.0.113.7" }, "127.0.0.2");
    const line = formatLogLine(site.log.at(-1)!);
    assert.match(line, trustProxy ? / 127\.0\.0\.2 GET \/a\.txt 200 / : / 127\.0\.0\.1 GET \/a\.txt 200 /, line);
  }
});

test("an upload through the proxy passes the Origin check when nginx passes the Host on", { skip: noNginx }, async (t) => {
  const site = await behindNginx(t, {}, { upload: true });
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: site.port, path: "/note.txt", method: "PUT", headers: { Origin: `http://127.0.0.1:${site.port}`, "Content-Type": "text/plain" }, agent: false }, (res) => {
      res.resume().on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end("hello through nginx");
  });
  assert.equal(status, 201);
  assert.equal((await get(site.port, "/note.txt")).body.toString(), "hello through nginx");
});

test("--trust-proxy takes the last entry of X-Forwarded-For; without it forwarded headers are ignored", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  for (const trustProxy of [true, false]) {
    const log: AccessLogEntry[] = [];
    const server = await serve(t, { root, trustProxy, onResponse: (entry) => log.push(entry) });
    await request(server.port, "/a.txt", { headers: { "X-Forwarded-For": "203.0.113.7, 198.51.100.2", Forwarded: "for=192.0.2.1" } });
    await request(server.port, "/a.txt", { headers: { "X-Forwarded-For": "203.0.113.7, not-an-address" } });
    await request(server.port, "/a.txt", { headers: { "X-Forwarded-For": "2001:db8::1" } });
    await eventually(() => log.length === 3, "three log entries");
    assert.deepEqual(log.map((e) => e.client), trustProxy ? ["198.51.100.2", "127.0.0.1", "2001:db8::1"] : ["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
  }
});

test("--trust-proxy: wrong passwords count against the forwarded client, so one guesser does not lock out the proxy's other clients", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root, trustProxy: true, auth: [{ user: "ann", password: "right" }] });
  const wrong = `Basic ${Buffer.from("ann:wrong").toString("base64")}`;
  const right = `Basic ${Buffer.from("ann:right").toString("base64")}`;
  for (let i = 0; i < 10; i++) await request(server.port, "/a.txt", { headers: { Authorization: wrong, "X-Forwarded-For": "203.0.113.7" } });
  assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: right, "X-Forwarded-For": "203.0.113.7" } })).status, 429);
  assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: right, "X-Forwarded-For": "198.51.100.2" } })).status, 200);
});
