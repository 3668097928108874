/**
 * "Open on another device": the listing's QR code (src/share.ts) shows the URL the request came
 * to, or the first network URL when that was a loopback name, and is left out when there is only a
 * loopback URL to show. Raw sockets, so every Host is exact; the SVG is read back into modules and
 * decoded with zbarimg.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import type { ServerOptions } from "../src/server.js";
import { decodeQr, modulesToPbm, rawRequest, serve, tempDir } from "./helpers.js";

async function serveSite(t: TestContext, options: ServerOptions = {}) {
  const root = tempDir(t, { "a.txt": "alpha", "sub dir": { "b.txt": "bravo" } });
  return serve(t, { root, ...options });
}

async function listing(port: number, target: string, host: string | null, version = "HTTP/1.1"): Promise<string> {
  const hostLine = host === null ? "" : `Host: ${host}\r\n`;
  const res = await rawRequest(port, `GET ${target} ${version}\r\n${hostLine}Connection: close\r\n\r\n`);
  assert.equal(res.status, 200, `${target} with Host ${host}`);
  return res.body.toString("utf8");
}

function hasShareBox(html: string): boolean {
  return html.includes('<details class="share">');
}

/** The URL printed under the QR code. */
function caption(html: string): string {
  const match = /<details class="share">.*?<figcaption>([^<]*)<\/figcaption>/s.exec(html);
  assert.ok(match, "the listing has a share box with a caption");
  return match[1]!.replace(/&amp;/g, "&");
}

/** The SVG's path read back into modules (`M x y h n v1 h-n z` runs), then decoded by zbarimg. */
function decodeSvg(html: string): string {
  const svg = /<svg[^>]*viewBox="0 0 (\d+) (\d+)"[^>]*>.*?<path fill="#000" d="([^"]*)"\/><\/svg>/s.exec(html);
  assert.ok(svg, "an inline SVG with one path");
  const size = Number(svg[1]);
  const modules = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  for (const run of svg[3]!.matchAll(/M(\d+) (\d+)h(\d+)v1h-(\d+)z/g)) {
    const [x, y, n] = [Number(run[1]), Number(run[2]), Number(run[3])];
    assert.equal(run[4], run[3], "each run closes on itself");
    for (let i = 0; i < n; i++) modules[y]![x + i] = true;
  }
  assert.equal(svg[3]!.replace(/M\d+ \d+h\d+v1h-\d+z/g, ""), "", "the path is nothing but runs");
  return decodeQr(modulesToPbm(modules), "pbm");
}

test("on a loopback-only bind, a loopback Host gets no share box: a phone would scan a URL that names itself", async (t) => {
  const { port } = await serveSite(t);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
    const html = await listing(port, "/sub%20dir/", host);
    assert.equal(hasShareBox(html), false, `Host ${host}`);
    assert.match(html, /b\.txt/, "the listing itself is whole");
  }
});

test("a network Host's QR code is the page's own URL, which decodes", async (t) => {
  const { port } = await serveSite(t);
  for (const [target, path] of [["/", "/"], ["/sub%20dir/", "/sub%20dir/"], ["/sub%20dir/?q=1", "/sub%20dir/"]]) {
    const html = await listing(port, target!, `192.168.1.5:${port}`);
    assert.equal(caption(html), `http://192.168.1.5:${port}${path}`);
    assert.equal(decodeSvg(html), `http://192.168.1.5:${port}${path}`);
  }
});

test("bound to all interfaces, a loopback Host is replaced by the first network URL; other names are kept", async (t) => {
  const server = await serve(t, { root: tempDir(t, { "sub dir": { "b.txt": "b" } }), host: "::" });
  const port = server.port;
  const network = server.networkUrls[0]?.replace(/\/$/, "");
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `app.localhost:${port}`]) {
    const html = await listing(port, "/sub%20dir/", host);
    if (network === undefined) {
      assert.equal(hasShareBox(html), false, `Host ${host}: no network here, so nothing to share`);
      continue;
    }
    assert.equal(caption(html), `${network}/sub%20dir/`, `Host ${host}`);
    assert.equal(decodeSvg(html), caption(html));
  }
  assert.equal(caption(await listing(port, "/", `192.168.1.5:${port}`)), `http://192.168.1.5:${port}/`, "a network name is the page's own URL");
  assert.equal(caption(await listing(port, "/", "192.168.1.5:80")), "http://192.168.1.5/", "a default port is left out");
});

test("a getter given as networkOrigins stands in for a loopback Host (createHandler users)", async (t) => {
  const { port } = await serveSite(t, { networkOrigins: () => ["http://10.1.2.3:9999"] });
  assert.equal(caption(await listing(port, "/", `127.0.0.1:${port}`)), "http://10.1.2.3:9999/");
  assert.equal(caption(await listing(port, "/", `10.9.9.9:${port}`)), `http://10.9.9.9:${port}/`);
});

test("an HTTP/1.0 listing without Host goes by the address the connection came in on: loopback, so the network URL or nothing", async (t) => {
  const plain = await serveSite(t);
  assert.equal(hasShareBox(await listing(plain.port, "/", null, "HTTP/1.0")), false);
  const { port } = await serveSite(t, { networkOrigins: () => ["http://10.1.2.3:9999"] });
  assert.equal(caption(await listing(port, "/", null, "HTTP/1.0")), "http://10.1.2.3:9999/");
});

test("with allowedHosts any, a Host that is no URL authority is never echoed: the connection's address stands in", async (t) => {
  for (const networkOrigins of [() => [], () => ["http://10.1.2.3:9999"]]) {
    const { port } = await serveSite(t, { allowedHosts: "any", networkOrigins });
    const html = await listing(port, "/", `"><svg onload=alert(1)>`);
    assert.doesNotMatch(html, /onload/);
    if (networkOrigins().length === 0) assert.equal(hasShareBox(html), false, "a loopback connection, no network URL");
    else assert.equal(caption(html), "http://10.1.2.3:9999/");
  }
});

test("the share box is folded by default and the page stays script-free", async (t) => {
  const { port } = await serveSite(t);
  const html = await listing(port, "/", `192.168.1.5:${port}`);
  assert.match(html, /<details class="share"><summary>Open on another device<\/summary>/);
  assert.doesNotMatch(html, /<details class="share" open/);
  assert.doesNotMatch(html, /<script\b/i);
  assert.match(html, /<svg [^>]*width="120" height="120"/);
});

/** The mount line under the QR code: the share's root URL, as text. */
function mountLine(html: string): string {
  const match = /<details class="share">.*?<p class="mount">Mount as a drive \(WebDAV\):<br>([^<]*)<br>Finder: Connect to Server<br>Windows: Map network drive<\/p><\/details>/s.exec(html);
  assert.ok(match, "the share box ends with the mount line");
  return match[1]!.replace(/&amp;/g, "&");
}

test("the share box says the share mounts as a drive, at its root URL, from any folder; the page stays script-free", async (t) => {
  const { port } = await serveSite(t);
  for (const [target, host, root] of [
    ["/", `192.168.1.5:${port}`, `http://192.168.1.5:${port}/`],
    ["/sub%20dir/", `192.168.1.5:${port}`, `http://192.168.1.5:${port}/`],
    ["/sub%20dir/?q=b", `[fd00::2]:${port}`, `http://[fd00::2]:${port}/`],
    ["/sub%20dir/", "192.168.1.5:80", "http://192.168.1.5/"],
  ]) {
    const html = await listing(port, target!, host!);
    assert.equal(mountLine(html), root, `${target} with Host ${host}`);
    assert.doesNotMatch(html, /<script\b/i);
  }
  const { port: networkOnly } = await serveSite(t, { networkOrigins: () => ["http://10.1.2.3:9999"] });
  assert.equal(mountLine(await listing(networkOnly, "/sub%20dir/", `127.0.0.1:${networkOnly}`)), "http://10.1.2.3:9999/", "a loopback Host: the network origin stands in, as for the QR code");
  const { port: alone } = await serveSite(t);
  assert.doesNotMatch(await listing(alone, "/", `127.0.0.1:${alone}`), /Mount as a drive/, "no network URL, no share box, no mount line");
});
