/**
 * What answers when a path names nothing: clean URLs (on by default) and the SPA fallback (`spa`).
 * Real server, real files; `request()` sends the path exactly as given.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import type { AccessLogEntry, ServerOptions } from "../src/server.js";
import { eventually, request, serve, tempDir, type Tree } from "./helpers.js";

const PAGE = { Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
const DOCUMENT = { "Sec-Fetch-Dest": "document", Accept: PAGE.Accept };
const APP_SHELL = "<!DOCTYPE html><title>app</title><div id=app></div>";

/** A server over `tree` whose log entries are collected. */
async function serveLogged(t: TestContext, tree: Tree, options: ServerOptions = {}) {
  const root = tempDir(t, tree);
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (entry) => log.push(entry), ...options });
  const noteFor = async (url: string) => {
    await eventually(() => log.some((entry) => entry.url === url), `no log entry for ${url}`);
    return log.find((entry) => entry.url === url)!.note;
  };
  return { root, port: server.port, noteFor };
}

// ---------------------------------------------------------------------------------------------
// Clean URLs
// ---------------------------------------------------------------------------------------------

test("clean URLs: /about is answered from about.html with that file's own headers", async (t) => {
  const { port } = await serveLogged(t, { "about.html": "<h1>About</h1>" });
  const clean = await request(port, "/about");
  const exact = await request(port, "/about.html");
  assert.equal(clean.status, 200);
  assert.equal(clean.body.toString(), "<h1>About</h1>");
  assert.equal(clean.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(clean.headers["content-length"], "14");
  assert.equal(clean.headers.etag, exact.headers.etag);
  assert.equal(clean.headers["last-modified"], exact.headers["last-modified"]);
});

test("clean URLs: /about.html still answers itself, with no redirect to /about", async (t) => {
  const { port } = await serveLogged(t, { "about.html": "about" });
  const res = await request(port, "/about.html");
  assert.equal(res.status, 200);
  assert.equal(res.headers.location, undefined);
});

test("clean URLs: the log names the file that answered", async (t) => {
  const { port, noteFor } = await serveLogged(t, { docs: { "intro.html": "intro" } });
  assert.equal((await request(port, "/docs/intro")).status, 200);
  assert.equal(await noteFor("/docs/intro"), "from /docs/intro.html");
});

test("clean URLs: an exact file named like the route wins over route.html", async (t) => {
  const { port } = await serveLogged(t, { about: "the file itself", "about.html": "the page" });
  assert.equal((await request(port, "/about")).body.toString(), "the file itself");
});

test("clean URLs: a folder wins over folder.html, with its 301 to the slash", async (t) => {
  const { port } = await serveLogged(t, { docs: { "index.html": "folder index" }, "docs.html": "the page" });
  const res = await request(port, "/docs?x=1");
  assert.equal(res.status, 301);
  assert.equal(res.headers.location, "/docs/?x=1");
});

test("clean URLs: a trailing slash never reaches x.html", async (t) => {
  const { port } = await serveLogged(t, { "about.html": "about" });
  assert.equal((await request(port, "/about/")).status, 404);
});

test("clean URLs: nested routes, escaped and unicode names", async (t) => {
  const { port } = await serveLogged(t, { blog: { "café menu.html": "menu", "100%.html": "all" } });
  assert.equal((await request(port, "/blog/caf%C3%A9%20menu")).body.toString(), "menu");
  assert.equal((await request(port, "/blog/100%25")).body.toString(), "all");
});

test("clean URLs: ranges and conditionals are x.html's own", async (t) => {
  const { port } = await serveLogged(t, { "page.html": "0123456789" });
  const partial = await request(port, "/page", { headers: { Range: "bytes=2-4" } });
  assert.equal(partial.status, 206);
  assert.equal(partial.body.toString(), "234");
  assert.equal(partial.headers["content-range"], "bytes 2-4/10");
  const first = await request(port, "/page");
  const again = await request(port, "/page", { headers: { "If-None-Match": String(first.headers.etag) } });
  assert.equal(again.status, 304);
});

test("clean URLs: HEAD gets GET's headers and no body", async (t) => {
  const { port } = await serveLogged(t, { "about.html": "about page" });
  const get = await request(port, "/about");
  const head = await request(port, "/about", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  for (const name of ["content-type", "content-length", "etag", "last-modified", "cache-control"]) assert.equal(head.headers[name], get.headers[name], name);
});

test("clean URLs: a folder named x.html does not answer /x", async (t) => {
  const { port } = await serveLogged(t, { "x.html": { "index.html": "inside" } });
  assert.equal((await request(port, "/x")).status, 404);
});

test("clean URLs: dotfiles are never reachable through them", async (t) => {
  const { port } = await serveLogged(t, { ".secret.html": "secret", ".hidden": { "page.html": "hidden page" } });
  for (const target of ["/.secret", "/%2esecret", "/.hidden/page"]) {
    const res = await request(port, target);
    assert.equal(res.status, 404, target);
    assert.ok(!res.body.toString().includes("secret") && !res.body.toString().includes("hidden page"), target);
  }
});

test("clean URLs: x.html that is a symlink out of the root is refused", async (t) => {
  const outside = tempDir(t, { "secret.html": "outside the root" });
  const { port } = await serveLogged(t, { "leak.html": { symlink: path.join(outside, "secret.html") }, inside: { symlink: outside } });
  for (const target of ["/leak", "/inside/secret"]) {
    const res = await request(port, target);
    assert.equal(res.status, 404, target);
    assert.ok(!res.body.toString().includes("outside the root"), target);
  }
});

test("clean URLs: x.html that is a symlink inside the root answers", async (t) => {
  const { port } = await serveLogged(t, { "real.html": "real page", "alias.html": { symlink: "real.html" } });
  assert.equal((await request(port, "/alias")).body.toString(), "real page");
});

test("clean URLs: cleanUrls false (--no-clean-urls) answers /about with 404", async (t) => {
  const { port } = await serveLogged(t, { "about.html": "about" }, { cleanUrls: false });
  assert.equal((await request(port, "/about")).status, 404);
  assert.equal((await request(port, "/about.html")).status, 200);
});

// ---------------------------------------------------------------------------------------------
// SPA fallback
// ---------------------------------------------------------------------------------------------

test("spa: a navigation to a path that names nothing gets the root's index.html with 200", async (t) => {
  const { port, noteFor } = await serveLogged(t, { "index.html": APP_SHELL }, { spa: true });
  const res = await request(port, "/users/42", { headers: PAGE });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), APP_SHELL);
  assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
  assert.equal(await noteFor("/users/42"), "from /index.html");
});

test("spa: the fallback is always revalidated (no-cache), even with a cache time", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL, "app.js": "app()" }, { spa: true, cacheSeconds: 3600 });
  assert.equal((await request(port, "/deep/link", { headers: PAGE })).headers["cache-control"], "no-cache");
  assert.equal((await request(port, "/app.js")).headers["cache-control"], "max-age=3600", "files keep the cache time");
  const first = await request(port, "/deep/link", { headers: PAGE });
  const revalidated = await request(port, "/deep/link", { headers: { ...PAGE, "If-None-Match": String(first.headers.etag) } });
  assert.equal(revalidated.status, 304);
  assert.equal(revalidated.headers["cache-control"], "no-cache");
});

test("spa: Sec-Fetch-Dest document and iframe are navigations", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL }, { spa: true });
  for (const dest of ["document", "iframe"]) {
    const res = await request(port, "/route", { headers: { "Sec-Fetch-Dest": dest } });
    assert.equal(res.status, 200, dest);
    assert.equal(res.body.toString(), APP_SHELL, dest);
  }
});

test("spa: a missing asset stays 404 whatever its name looks like", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL }, { spa: true });
  const cases: Array<[string, Record<string, string>]> = [
    ["/app.js", { "Sec-Fetch-Dest": "script", Accept: "*/*" }],
    ["/logo.png", { "Sec-Fetch-Dest": "image", Accept: "image/avif,image/webp,*/*" }],
    ["/api/users", { "Sec-Fetch-Dest": "empty", Accept: "application/json" }],
    ["/api/users", { Accept: "application/json" }],
    ["/style", { "Sec-Fetch-Dest": "style", Accept: "text/css,*/*;q=0.1" }],
    // Sec-Fetch-Dest decides when present, whatever Accept says.
    ["/page", { "Sec-Fetch-Dest": "script", Accept: "text/html" }],
    ["/nothing", {}],
  ];
  for (const [target, headers] of cases) {
    const res = await request(port, target, { headers });
    assert.equal(res.status, 404, `${target} ${JSON.stringify(headers)}`);
    assert.ok(!res.body.toString().includes("<div id=app>"), `${target}: not the app shell`);
  }
});

test("spa: a missing asset still gets the site's own 404.html", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL, "404.html": "custom not found" }, { spa: true });
  const res = await request(port, "/app.js", { headers: { "Sec-Fetch-Dest": "script" } });
  assert.equal(res.status, 404);
  assert.equal(res.body.toString(), "custom not found");
});

test("spa: dotted routes such as /users/john.doe work as navigations", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL }, { spa: true });
  const res = await request(port, "/users/john.doe", { headers: DOCUMENT });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), APP_SHELL);
});

test("spa: existing files, folders with an index, listings and clean URLs come first", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL, "about.html": "about page", docs: { "index.html": "docs index" }, files: { "a.txt": "a" }, "real.txt": "real" }, { spa: true });
  assert.equal((await request(port, "/real.txt", { headers: PAGE })).body.toString(), "real");
  assert.equal((await request(port, "/about", { headers: PAGE })).body.toString(), "about page");
  assert.equal((await request(port, "/docs/", { headers: PAGE })).body.toString(), "docs index");
  assert.equal((await request(port, "/docs", { headers: PAGE })).status, 301);
  const listing = await request(port, "/files/", { headers: PAGE });
  assert.equal(listing.status, 200);
  assert.match(listing.body.toString(), /Directory listing for \/files\//);
});

test("spa: paths with a dotfile segment stay 404, even as navigations", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL, ".env": "KEY=secret" }, { spa: true });
  for (const target of ["/.env", "/.git/config", "/app/.hidden/route"]) {
    const res = await request(port, target, { headers: DOCUMENT });
    assert.equal(res.status, 404, target);
    assert.ok(!res.body.toString().includes("KEY=secret"), target);
    assert.ok(!res.body.toString().includes("<div id=app>"), `${target}: not the app shell`);
  }
});

test("spa: with dotfiles on, dotfile paths follow the same rules as any other", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL, ".well-done": "dot file" }, { spa: true, dotfiles: true });
  assert.equal((await request(port, "/.well-done", { headers: DOCUMENT })).body.toString(), "dot file");
  assert.equal((await request(port, "/.route", { headers: DOCUMENT })).body.toString(), APP_SHELL);
  assert.equal((await request(port, "/.asset.js", { headers: { "Sec-Fetch-Dest": "script" } })).status, 404);
});

test("spa: the fallback is read afresh: an edited index.html shows on the next request", async (t) => {
  const { root, port } = await serveLogged(t, { "index.html": APP_SHELL }, { spa: true });
  assert.equal((await request(port, "/route", { headers: PAGE })).body.toString(), APP_SHELL);
  writeFileSync(path.join(root, "index.html"), "<title>v2</title> a new build");
  assert.equal((await request(port, "/route", { headers: PAGE })).body.toString(), "<title>v2</title> a new build");
});

test("spa: HEAD navigation gets GET's headers and no body", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL }, { spa: true });
  const get = await request(port, "/route", { headers: PAGE });
  const head = await request(port, "/route", { method: "HEAD", headers: PAGE });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  for (const name of ["content-type", "content-length", "etag", "last-modified", "cache-control"]) assert.equal(head.headers[name], get.headers[name], name);
});

test("spa: without a root index.html a navigation that names nothing is a 404", async (t) => {
  const { port } = await serveLogged(t, { "other.html": "other" }, { spa: true });
  assert.equal((await request(port, "/route", { headers: PAGE })).status, 404);
});

test("spa: a root index.html that is a symlink out of the root is never the fallback", async (t) => {
  const outside = tempDir(t, { "index.html": "outside the root" });
  const { port } = await serveLogged(t, { "index.html": { symlink: path.join(outside, "index.html") } }, { spa: true });
  const res = await request(port, "/route", { headers: PAGE });
  assert.equal(res.status, 404);
  assert.ok(!res.body.toString().includes("outside the root"));
});

test("spa: off by default, a navigation to a path that names nothing is a 404", async (t) => {
  const { port } = await serveLogged(t, { "index.html": APP_SHELL });
  assert.equal((await request(port, "/users/42", { headers: PAGE })).status, 404);
});
