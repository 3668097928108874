/**
 * Who may ask: the Host check against DNS rebinding (src/access.ts), over raw sockets so every
 * Host is sent exactly as written.
 */
import assert from "node:assert/strict";
import os from "node:os";
import { test, type TestContext } from "node:test";
import type { ServerOptions } from "../src/server.js";
import { rawRequest, serve, startCli, tempDir, eventually } from "./helpers.js";

async function serveSite(t: TestContext, options: ServerOptions = {}) {
  const root = tempDir(t, { "a.txt": "alpha", sub: { "b.txt": "bravo" } });
  return serve(t, { root, ...options });
}

/** `GET target` with exactly `host` (no Host header at all when null). */
function getWithHost(port: number, target: string, host: string | null, version = "HTTP/1.1") {
  const hostLine = host === null ? "" : `Host: ${host}\r\n`;
  return rawRequest(port, Buffer.from(`GET ${target} ${version}\r\n${hostLine}Connection: close\r\n\r\n`, "latin1"));
}

const HOSTNAME = os.hostname();

test("requests for IP literals, localhost names and this machine's names are answered", async (t) => {
  const { port } = await serveSite(t);
  const allowed = [
    `127.0.0.1:${port}`,
    "127.0.0.1",
    "[::1]",
    `[::1]:${port}`,
    "localhost",
    `localhost:${port}`,
    "app.localhost",
    "LOCALHOST.",
    "192.168.1.5",
    "10.0.0.7:8000",
    "[2001:db8::1]:80",
    HOSTNAME,
    HOSTNAME.toUpperCase(),
    `${HOSTNAME}.`,
    `${HOSTNAME}.local`,
    `${HOSTNAME}.local:${port}`,
  ];
  for (const host of allowed) {
    const res = await getWithHost(port, "/a.txt", host);
    assert.equal(res.status, 200, `Host: ${host}`);
    assert.equal(res.body.toString(), "alpha", `Host: ${host}`);
  }
});

test("requests for any other name get 403, before anything is looked up", async (t) => {
  const { port } = await serveSite(t);
  const refused = ["evil.example", `evil.example:${port}`, "localhost.evil.com", "127.0.0.1.nip.io", "", "a b", "::1", "[::1", "[evil]", `${HOSTNAME}.evil.example`, "localhost:80:80"];
  for (const host of refused) {
    for (const target of ["/a.txt", "/missing", "/sub", "/../secret"]) {
      const res = await getWithHost(port, target, host);
      assert.equal(res.status, 403, `Host: ${JSON.stringify(host)}, ${target}`);
      assert.ok(!res.body.includes("alpha"), "no file content");
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    }
  }
});

test("every method is checked: OPTIONS, HEAD and POST for another name get 403 too", async (t) => {
  const { port } = await serveSite(t);
  for (const method of ["OPTIONS", "HEAD", "POST", "DELETE"]) {
    const res = await rawRequest(port, `${method} /a.txt HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 403, method);
    assert.equal(res.headers.get("allow"), undefined, `${method}: not even the methods are told`);
  }
  const options = await rawRequest(port, `OPTIONS * HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  assert.equal(options.status, 403, "OPTIONS *");
});

test("an absolute-form target's authority is checked as the Host, and wins over the header", async (t) => {
  const { port } = await serveSite(t);
  const refused = await getWithHost(port, "http://evil.example/a.txt", "127.0.0.1");
  assert.equal(refused.status, 403, "a refused name only in the target");
  const allowed = await getWithHost(port, `http://127.0.0.1:${port}/a.txt`, "evil.example");
  assert.equal(allowed.status, 200, "the target's allowed authority wins over a refused Host header");
  const userinfo = await getWithHost(port, "http://127.0.0.1@evil.example/a.txt", "127.0.0.1");
  assert.equal(userinfo.status, 403, "userinfo is not the name: evil.example is");
});

test("an HTTP/1.0 request without Host is answered: it names nothing a page could rebind", async (t) => {
  const { port } = await serveSite(t);
  const res = await getWithHost(port, "/a.txt", null, "HTTP/1.0");
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "alpha");
  const named = await getWithHost(port, "/a.txt", "evil.example", "HTTP/1.0");
  assert.equal(named.status, 403, "an HTTP/1.0 request that does name a host is checked");
});

test("an HTTP/1.1 request without Host, or with two, gets 400", async (t) => {
  const { port } = await serveSite(t);
  const none = await getWithHost(port, "/a.txt", null);
  assert.equal(none.status, 400, "RFC 9112 §3.2 (Node's own parser answers it)");
  const two = await rawRequest(port, "GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
  assert.equal(two.status, 400, "two Host headers");
  assert.ok(!two.body.includes("alpha"));
});

test("the 403 page names --allowed-host with the name, escaped", async (t) => {
  const { port } = await serveSite(t);
  const res = await getWithHost(port, "/a.txt", "evil.example:8000");
  assert.equal(res.status, 403);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(res.body.toString(), /This server does not answer to the name evil\.example; start it with --allowed-host evil\.example to allow it\./);
  const odd = await getWithHost(port, "/a.txt", `<script>alert(1)</script>`);
  assert.equal(odd.status, 403);
  assert.ok(!odd.body.includes("<script>"), "the name is escaped");
  assert.match(odd.body.toString(), /&lt;script&gt;/);
});

test("allowedHosts adds names (case and a trailing dot do not matter); other names are still refused", async (t) => {
  const { port } = await serveSite(t, { allowedHosts: ["dev.example.test", "Other.Test.", "with-port.test:8000"] });
  for (const host of ["dev.example.test", "DEV.example.test:8000", "dev.example.test.", "other.test", "with-port.test:1234", "127.0.0.1"]) {
    assert.equal((await getWithHost(port, "/a.txt", host)).status, 200, host);
  }
  for (const host of ["evil.example", "sub.dev.example.test", "example.test"]) {
    assert.equal((await getWithHost(port, "/a.txt", host)).status, 403, host);
  }
});

test("each server judges a name by its own allowedHosts, though both remember their verdicts", async (t) => {
  const open = await serveSite(t, { allowedHosts: ["shared.test"] });
  const strict = await serveSite(t);
  for (let round = 0; round < 3; round++) {
    assert.equal((await getWithHost(open.port, "/a.txt", "shared.test")).status, 200, `round ${round}`);
    assert.equal((await getWithHost(strict.port, "/a.txt", "shared.test")).status, 403, `round ${round}`);
  }
});

test("a name keeps its verdict after more other names than are remembered", async (t) => {
  const { port } = await serveSite(t, { allowedHosts: ["kept.test"] });
  assert.equal((await getWithHost(port, "/a.txt", "kept.test")).status, 200);
  assert.equal((await getWithHost(port, "/a.txt", "evil.example")).status, 403);
  for (let i = 0; i < 1100; i++) assert.equal((await getWithHost(port, "/a.txt", `n${i}.evil.example`)).status, 403);
  assert.equal((await getWithHost(port, "/a.txt", "kept.test")).status, 200);
  assert.equal((await getWithHost(port, "/a.txt", "127.0.0.1")).status, 200);
  assert.equal((await getWithHost(port, "/a.txt", "evil.example")).status, 403);
});

test('allowedHosts "any" (and ["any"], as --allowed-host any gives) answers every name', async (t) => {
  for (const allowedHosts of ["any", ["any"]] as const) {
    const { port } = await serveSite(t, { allowedHosts });
    for (const host of ["evil.example", "localhost.evil.com", "127.0.0.1.nip.io", "a b"]) {
      const res = await getWithHost(port, "/a.txt", host);
      assert.equal(res.status, 200, `${JSON.stringify(allowedHosts)}: Host ${host}`);
    }
    assert.equal((await getWithHost(port, "http://evil.example/a.txt", "evil.example")).status, 200);
  }
});

test("with --live, the live-reload routes are behind the check too", async (t) => {
  const { port } = await serveSite(t, { live: true });
  assert.equal((await getWithHost(port, "/__serve-here/live.js", "evil.example")).status, 403);
  assert.equal((await getWithHost(port, "/__serve-here/events", "evil.example")).status, 403);
  assert.equal((await getWithHost(port, "/__serve-here/live.js", "localhost")).status, 200);
});

test("--allowed-host on the command line: the name is answered, the refusal is logged with the flag", async (t) => {
  const root = tempDir(t, { "a.txt": "alpha" });
  const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "--allowed-host", "dev.example.test", "--allowed-host", "second.test"]);
  assert.equal((await getWithHost(cli.port, "/a.txt", "dev.example.test")).status, 200);
  assert.equal((await getWithHost(cli.port, "/a.txt", "second.test")).status, 200);
  assert.equal((await getWithHost(cli.port, "/a.txt", "evil.example")).status, 403);
  await eventually(() => /403 .*\(Host evil\.example not allowed; --allowed-host evil\.example allows it\)/.test(cli.stdout()), `no log line for the 403: ${cli.stdout()}`);
  // A Host is echoed in the log's note: an 8-bit CSI in it (Node passes obs-text) must not reach the terminal.
  assert.equal((await getWithHost(cli.port, "/a.txt", "\x9b31mred")).status, 403);
  await eventually(() => cli.stdout().includes("\\x9b31mred"), `no escaped log note: ${JSON.stringify(cli.stdout())}`);
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(cli.stdout()), "no control character in stdout");
});

test("--allowed-host any on the command line turns the check off", async (t) => {
  const root = tempDir(t, { "a.txt": "alpha" });
  const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "--allowed-host", "any"]);
  assert.equal((await getWithHost(cli.port, "/a.txt", "evil.example")).status, 200);
});
