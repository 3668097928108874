/**
 * Issue 4: a traversal corpus. Every target is sent byte for byte over a raw socket (so no client
 * library normalises it first) at a real server whose root sits beside things worth stealing:
 *
 *   top/secret.txt               OUTSIDE marker: the folder above the root
 *   top/root-secret/secret.txt   SIBLING marker: a folder whose name starts with the root's
 *   top/root/                    the root: index.html, sub/a.txt, .git/config (DOTFILE marker)
 *
 * Each target must be refused with a 4xx by serve-here, refused with a bare 400 by Node's parser
 * before serve-here sees it, answered 405 without a body (CONNECT: not a proxy), or, when its dot
 * segments stay inside the root, redirected (301) to exactly its normal form (RFC 3986 §5.2.4) on
 * this server; the expected one is recorded per
 * target, so a target that starts taking another path through the code shows up here. Whatever
 * the status, no response may carry any marker. paths.test.ts covers how targets map to files;
 * this file is the adversarial corpus, with symlinks and dotfile folders.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { renameSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { rawGet, rawRequest, serve, tempDir, type RawResponse } from "./helpers.js";
import type { ServerOptions } from "../src/server.js";

/** Random per run, so a marker can only appear in a response by being read from its file. */
const TOKEN = randomBytes(8).toString("hex");
const MARKERS = {
  outside: `SECRET-MARKER-OUTSIDE-${TOKEN}`,
  sibling: `SECRET-MARKER-SIBLING-${TOKEN}`,
  dotfile: `SECRET-MARKER-DOTFILE-${TOKEN}`,
};

const INDEX = "<!DOCTYPE html><title>index</title><p>the root's index</p>\n";

interface Site {
  top: string;
  root: string;
}

function site(t: TestContext): Site {
  const top = tempDir(t, {
    "secret.txt": MARKERS.outside,
    "root-secret": { "secret.txt": MARKERS.sibling },
    root: { "index.html": INDEX, "notes.txt": "notes", sub: { "a.txt": "sub a" }, ".git": { config: MARKERS.dotfile } },
  });
  return { top, root: path.join(top, "root") };
}

/** Serves `root`; any unexpected error (a 500) is collected so the test can insist there was none. */
async function serveRoot(t: TestContext, root: string, options: ServerOptions = {}) {
  const errors: unknown[] = [];
  const server = await serve(t, { root, onError: (error) => errors.push(error), ...options });
  return { port: server.port, errors };
}

/** Fails, naming the target, if any marker (or just its random part) is anywhere in the reply. */
function assertNoMarker(label: string, res: RawResponse): void {
  const text = res.raw.toString("latin1");
  assert.ok(!text.includes(TOKEN), `${label} leaked a marker: ${JSON.stringify(text.slice(0, 300))}`);
}

/**
 * How a hostile target must be answered:
 * - 400 / 404: serve-here's own refusal, a generated HTML page;
 * - "parser-400": Node's HTTP parser refused the request line before serve-here saw it, and the
 *   server's clientError handler answered a bare, empty 400;
 * - "not-a-proxy": CONNECT, answered with a bare 405 and the connection closed;
 * - { redirect }: dot segments that stay inside the root, a bodiless 301 to exactly this Location,
 *   which names a path on this server (never `//…` or `/\…`).
 */
type Outcome = 400 | 403 | 404 | "parser-400" | "not-a-proxy" | { redirect: string };

function assertOutcome(label: string, res: RawResponse, expected: Outcome): void {
  if (typeof expected === "object") {
    assert.equal(res.status, 301, label);
    assert.equal(res.headers.get("location"), expected.redirect, label);
    assert.equal(res.headers.get("content-length"), "0", `${label}: the 301 has no body`);
    assert.doesNotMatch(expected.redirect, /^\/[/\\]/, `${label}: an open redirect`);
    assert.equal(new URL(expected.redirect, "http://origin.test/").origin, "http://origin.test", `${label}: the Location leaves the origin`);
    return;
  }
  switch (expected) {
    case "not-a-proxy":
      assert.equal(res.status, 405, label);
      assert.equal(res.headers.get("content-length"), "0", `${label}: the 405 has no body`);
      assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS, PROPFIND", label);
      return;
    case "parser-400":
      assert.equal(res.status, 400, label);
      assert.equal(res.headers.get("content-length"), "0", `${label}: Node's bare 400 has no body`);
      assert.equal(res.headers.get("content-type"), undefined, `${label}: answered by serve-here, not the parser`);
      return;
    default:
      assert.equal(res.status, expected, label);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/, `${label}: serve-here's own error page`);
  }
}

interface Case {
  /** The request target, exactly as it goes on the wire (latin1: one char, one byte). */
  target: string;
  method?: string;
  expect: Outcome;
  /** The subtest's name when the target itself would be unreadable (very long, raw bytes). */
  name?: string;
  /** The outcome with `dotfiles: true`, where it differs from `expect` because of a dotfile. */
  withDotfiles?: Outcome;
}

function send(port: number, c: Case): Promise<RawResponse> {
  const head = `${c.method ?? "GET"} ${c.target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
  return rawRequest(port, Buffer.from(head, "latin1"));
}

function caseName(c: Case): string {
  const target = c.name ?? (/^[\x21-\x7e]+$/.test(c.target) ? c.target : JSON.stringify(c.target));
  return c.method ? `${c.method} ${target}` : target;
}

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

const LONG_CHAIN = "../".repeat(1000);

const TRAVERSAL: readonly Case[] = [
  // `..` plain and percent-encoded, in every case and position.
  { target: "/..", expect: 400 },
  { target: "/../secret.txt", expect: 400 },
  { target: "/../../../../../../../../secret.txt", expect: 400 },
  { target: "/%2e%2e/secret.txt", expect: 400 },
  { target: "/%2E%2e/secret.txt", expect: 400 },
  { target: "/.%2e/secret.txt", expect: 400 },
  { target: "/%2e./secret.txt", expect: 400 },
  { target: "/..%2fsecret.txt", expect: 400 },
  { target: "/%2f../secret.txt", expect: 400 },
  { target: "/%2e%2e%2f%2e%2e%2fsecret.txt", expect: 400 },
  { target: "/.%2e%2fsecret.txt", expect: 400 },
  { target: "/sub/%2e%2e%2f%2e%2e%2fsecret.txt", expect: 400 },
  // A `..` that stays inside the root is removed (RFC 3986 §5.2.4): a redirect to the normal form,
  // in every spelling; one more `..` than there are segments is refused.
  { target: "/sub/..", expect: { redirect: "/" } },
  { target: "/sub/../index.html", expect: { redirect: "/index.html" } },
  { target: "/sub/%2e%2e/index.html", expect: { redirect: "/index.html" } },
  { target: "/sub/.%2E/notes.txt", expect: { redirect: "/notes.txt" } },
  { target: "/sub/%2E./notes.txt?x=1", expect: { redirect: "/notes.txt?x=1" } },
  { target: "/sub/..%2fnotes.txt", expect: { redirect: "/notes.txt" } },
  { target: "/sub/a.txt/../../notes.txt", expect: { redirect: "/notes.txt" } },
  { target: "/sub/./a.txt", expect: { redirect: "/sub/a.txt" } },
  { target: "/sub/../..", expect: 400 },
  { target: "/sub/../../", expect: 400 },
  { target: "/sub/%2e%2e%2f..", expect: 400 },
  // …and its Location never starts with `//` or `/\`, which a browser reads as another host.
  { target: "/sub/..//evil.example", expect: { redirect: "/evil.example" } },
  { target: "/sub/..///evil.example/x?y", expect: { redirect: "/evil.example/x?y" } },
  { target: "/sub/..%2f%2fevil.example", expect: { redirect: "/evil.example" } },
  { target: "/sub/../%2f/evil.example/", expect: { redirect: "/evil.example/" } },
  { target: "/sub/../\\evil.example", expect: { redirect: "/%5Cevil.example" } },
  { target: "/sub/../%5cevil.example", expect: { redirect: "/%5Cevil.example" } },
  { target: "/sub/..%2f%5c%5cevil.example", expect: { redirect: "/%5C%5Cevil.example" } },
  { target: "/./\\evil.example", expect: { redirect: "/%5Cevil.example" } },
  { target: "//./evil.example", expect: { redirect: "/evil.example" } },
  // Backslashes, raw and encoded: a separator to Windows and to some proxies.
  { target: "/..%5csecret.txt", expect: 400 },
  { target: "/..\\secret.txt", expect: 400 },
  { target: "/%5c..%5csecret.txt", expect: 400 },
  { target: "/%5c%2e%2e%5csecret.txt", expect: 400 },
  { target: "/sub\\..\\..\\secret.txt", expect: 400 },
  { target: "\\..\\secret.txt", expect: "parser-400" },
  // Overlong UTF-8 for `.` and `/`: not UTF-8, so never decoded into dots or slashes.
  { target: "/%c0%ae%c0%ae/secret.txt", expect: 400 },
  { target: "/%e0%80%ae%e0%80%ae/secret.txt", expect: 400 },
  { target: "/%f0%80%80%ae%f0%80%80%ae/secret.txt", expect: 400 },
  { target: "/..%c0%afsecret.txt", expect: 404 }, // one hidden name starting "..", not `..` and `/`
  { target: "/..%e0%80%afsecret.txt", expect: 404 },
  // Unicode look-alikes (fullwidth dot and slash, dot leaders, division and fraction slashes) are
  // ordinary characters in a name; nothing folds them to ASCII.
  { target: "/%ef%bc%8e%ef%bc%8e/secret.txt", expect: 404 },
  { target: "/%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt", expect: 404 },
  { target: "/..%ef%bc%8fsecret.txt", expect: 404 },
  { target: "/%e2%80%a5/secret.txt", expect: 404 },
  { target: "/%e2%80%a4%e2%80%a4/secret.txt", expect: 404 },
  { target: "/..%e2%88%95secret.txt", expect: 404 },
  { target: "/%2e%2e%e2%81%84secret.txt", expect: 404 },
  { target: "/\xef\xbc\x8e\xef\xbc\x8e/secret.txt", expect: "parser-400", name: "/<raw UTF-8 fullwidth dots>/secret.txt" },
  // Double encoding is decoded once: a literal name made of `%`, `2`, `e`…
  { target: "/%252e%252e%252fsecret.txt", expect: 404 },
  { target: "/%252e%252e/secret.txt", expect: 404 },
  { target: "/%25%32%65%25%32%65/secret.txt", expect: 404 },
  { target: "/.%252e/secret.txt", expect: 404 },
  // `;` path parameters (Tomcat and friends strip them): here `..;` is just a name.
  { target: "/..;/secret.txt", expect: 404 },
  { target: "/sub/..;/..;/secret.txt", expect: 404 },
  { target: "/..;jsessionid=x/secret.txt", expect: 404 },
  { target: "/;/../secret.txt", expect: { redirect: "/secret.txt" } }, // the root's own /secret.txt (there is none)
  // Absolute-form targets: the scheme and authority are dropped, then the path is judged.
  { target: "http://127.0.0.1/../secret.txt", expect: 400 },
  { target: "http://localhost/%2e%2e/secret.txt", expect: 400 },
  { target: "HTTP://LOCALHOST/%2E%2E/secret.txt", expect: 400 },
  { target: "http://localhost/..%2froot-secret%2fsecret.txt", expect: 400 },
  { target: "http://x@127.0.0.1/../secret.txt", expect: 400 },
  { target: "http://127.0.0.1/sub/../notes.txt?q=%2e%2e/", expect: { redirect: "/notes.txt?q=%2e%2e/" } },
  { target: "http://127.0.0.1//sub/..//evil.example", expect: { redirect: "/evil.example" } },
  { target: "http://../secret.txt", expect: 403 }, // `..` is the authority here, a name we do not answer to
  { target: "file:///../secret.txt", expect: 400 },
  { target: "http:/../secret.txt", expect: "parser-400" },
  // Repeated slashes and `.` segments around a `..`.
  { target: "//../secret.txt", expect: 400 },
  { target: "///..//secret.txt", expect: 400 },
  { target: "/sub//..//..//secret.txt", expect: 400 },
  { target: "/./../secret.txt", expect: 400 },
  { target: "/sub/./../../secret.txt", expect: 400 },
  // The sibling whose name shares the root's prefix.
  { target: "/../root-secret/secret.txt", expect: 400 },
  { target: "/../root-secret/", expect: 400 },
  { target: "/%2e%2e%2froot-secret/secret.txt", expect: 400 },
  { target: "/..%5croot-secret%5csecret.txt", expect: 400 },
  { target: "%2e%2e%2froot-secret/secret.txt", expect: "parser-400" },
  // NUL, raw and encoded, to cut a name short in C.
  { target: "/%00", expect: 400 },
  { target: "/..%00/secret.txt", expect: 400 },
  { target: "/%2e%2e%00%2fsecret.txt", expect: 400 },
  { target: "/..\x00/secret.txt", expect: "parser-400", name: "/..<raw NUL>/secret.txt" },
  // Whitespace and extra dots make names, not parents.
  { target: "/.../secret.txt", expect: 404 },
  { target: "/..%20/secret.txt", expect: 404 },
  { target: "/%20../secret.txt", expect: 404 },
  { target: "/..%09/secret.txt", expect: 404 },
  // Query and fragment cannot hide a `..` in the path.
  { target: "/..?x=1", expect: 400 },
  { target: "/..#frag", expect: 400 },
  // Targets that are not paths at all.
  { target: "*", expect: 400 },
  { target: "127.0.0.1:80", expect: "parser-400" },
  { target: "127.0.0.1:80", method: "CONNECT", expect: "not-a-proxy" },
  { target: "/../secret.txt", method: "CONNECT", expect: "not-a-proxy" },
  // Long chains: refused at the first `..`, not after a thousand file-system calls.
  { target: `/${LONG_CHAIN}secret.txt`, expect: 400, name: "/../ ×1000 secret.txt" },
  { target: `/sub/${"%2e%2e%2f".repeat(1000)}secret.txt`, expect: 400, name: "/sub/%2e%2e%2f ×1000 secret.txt" },
  { target: `/${"..\\".repeat(1000)}secret.txt`, expect: 400, name: "/..\\ ×1000 secret.txt" },
];

/**
 * `..` around and inside the dotfile folder. The dotfile rule judges the path once its dot segments
 * are removed: a normal form inside `.git` is refused (404) without a redirect, one that leaves
 * it is redirected; with --dotfiles (`withDotfiles`) the former is redirected too.
 */
const DOTFILE_TRAVERSAL: readonly Case[] = [
  { target: "/.git/config", expect: 404 },
  { target: "/.git/", expect: 404 },
  { target: "/.git/../index.html", expect: { redirect: "/index.html" } }, // names /index.html: nothing in .git is read
  { target: "/.git/./config", expect: 404, withDotfiles: { redirect: "/.git/config" } },
  { target: "/sub/../.git/config", expect: 404, withDotfiles: { redirect: "/.git/config" } },
  { target: "/sub/%2e%2e/.git/config", expect: 404, withDotfiles: { redirect: "/.git/config" } },
  { target: "/%2egit/config", expect: 404 },
  { target: "/%2Egit%2fconfig", expect: 404 },
  { target: "/sub/..%2f.git%2fconfig", expect: 404, withDotfiles: { redirect: "/.git/config" } },
  { target: "http://localhost/.git/config", expect: 404 },
  { target: "/.well-known/../.git/config", expect: 404, withDotfiles: { redirect: "/.git/config" } },
  { target: "/.well-known/%2e%2e/secret.txt", expect: { redirect: "/secret.txt" } },
  { target: "/.well-known/../../secret.txt", expect: 400 },
  { target: "/.git/../../secret.txt", expect: 400 },
];

test("the traversal corpus has at least 40 distinct targets", () => {
  const distinct = new Set(TRAVERSAL.map((c) => `${c.method ?? "GET"} ${c.target}`));
  assert.equal(distinct.size, TRAVERSAL.length, "no target is listed twice");
  assert.ok(distinct.size >= 40, `only ${distinct.size} targets`);
});

test("no spelling of .. reaches a file outside the root", async (t) => {
  const { root } = site(t);
  const { port, errors } = await serveRoot(t, root);
  for (const c of TRAVERSAL) {
    await t.test(caseName(c), async () => {
      const res = await send(port, c);
      assertOutcome(caseName(c), res, c.expect);
      assertNoMarker(caseName(c), res);
    });
  }
  assert.deepEqual(errors, [], "no target was an unexpected error");
});

test("dot-segments in and around a dotfile folder: a normal form inside it is 404, one outside it a redirect", async (t) => {
  const { root } = site(t);
  const { port, errors } = await serveRoot(t, root);
  for (const c of DOTFILE_TRAVERSAL) {
    await t.test(caseName(c), async () => {
      const res = await send(port, c);
      assertOutcome(caseName(c), res, c.expect);
      assertNoMarker(caseName(c), res);
    });
  }
  assert.deepEqual(errors, [], "no target was an unexpected error");
});

test("with dotfiles: true, every .. above the root is still refused and every other is redirected exactly", async (t) => {
  const { root } = site(t);
  const { port, errors } = await serveRoot(t, root, { dotfiles: true });
  // The flag took effect: the dotfile is served when asked for plainly…
  const plain = await rawGet(port, "/.git/config");
  assert.equal(plain.status, 200);
  assert.equal(plain.body.toString(), MARKERS.dotfile);
  // …but no `..` climbs above the root, and one that stays inside is redirected to its normal form
  // (into the dotfile folder too, which is now served). A hidden name (404 by default) may now be a
  // missing one, or one that is not UTF-8 (400): any 4xx, and never a marker.
  const cases = [...TRAVERSAL, ...DOTFILE_TRAVERSAL.filter((c) => /\.\.|%2e%2e|\/\.\//i.test(c.target))];
  for (const c of cases) {
    await t.test(caseName(c), async () => {
      const res = await send(port, c);
      const expected = c.withDotfiles ?? c.expect;
      if (expected === 404) assert.ok(res.status >= 400 && res.status < 500, `${caseName(c)} answered ${res.status}`);
      else assertOutcome(caseName(c), res, expected);
      assertNoMarker(caseName(c), res);
    });
  }
  assert.deepEqual(errors, [], "no target was an unexpected error");
});

// ---------------------------------------------------------------------------------------------
// Symlinks
// ---------------------------------------------------------------------------------------------

/** The names a folder's listing links to, decoded (`./a%20b` → `a b`, `./sub/` → `sub/`). */
async function listedNames(port: number, folder: string): Promise<string[]> {
  const res = await rawGet(port, folder);
  assert.equal(res.status, 200, `${folder} is listed`);
  return [...res.body.toString("utf8").matchAll(/href="\.\/([^"]*)"/g)].map((m) => decodeURIComponent(m[1]!)).sort();
}

test("a link in the root to the secret beside it answers 404 and is not listed", async (t) => {
  const { root } = site(t);
  symlinkSync("../secret.txt", path.join(root, "leak"));
  const { port } = await serveRoot(t, root);
  for (const target of ["/leak", "/leak/", "/%6ceak"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assertNoMarker(target, res);
  }
  assert.ok(!(await listedNames(port, "/")).includes("leak"), "the link is hidden from the listing");
});

test("a chain of links a → b → ../secret.txt answers 404 at every hop, and no hop is listed", async (t) => {
  const { root } = site(t);
  symlinkSync("../secret.txt", path.join(root, "b"));
  symlinkSync("b", path.join(root, "a"));
  const { port } = await serveRoot(t, root);
  for (const target of ["/a", "/b"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assertNoMarker(target, res);
  }
  const listed = await listedNames(port, "/");
  assert.ok(!listed.includes("a") && !listed.includes("b"), `listed: ${listed.join(", ")}`);
});

test("a link to a folder outside the root hides the folder, its listing and its files", async (t) => {
  const { root } = site(t);
  symlinkSync("../root-secret", path.join(root, "elsewhere"));
  const { port } = await serveRoot(t, root);
  for (const target of ["/elsewhere", "/elsewhere/", "/elsewhere/secret.txt", "/elsewhere%2fsecret.txt"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assertNoMarker(target, res);
  }
  // A dot segment is redirected to the normal form without a look at the disk, which is then 404.
  const dotted = await rawGet(port, "/elsewhere/./secret.txt");
  assert.equal(dotted.status, 301);
  assert.equal(dotted.headers.get("location"), "/elsewhere/secret.txt");
  assertNoMarker("/elsewhere/./secret.txt", dotted);
  assert.ok(!(await listedNames(port, "/")).some((name) => name.startsWith("elsewhere")), "the link is hidden from the listing");
});

test("a link swapped by rename between two requests is judged again: 200 inside, then 404 outside", async (t) => {
  const { root } = site(t);
  const link = path.join(root, "swap");
  symlinkSync("sub/a.txt", link);
  const { port } = await serveRoot(t, root);
  const before = await rawGet(port, "/swap");
  assert.equal(before.status, 200);
  assert.equal(before.body.toString(), "sub a");
  // rename(2) replaces the link atomically, as an attacker with write access to the root would.
  symlinkSync("../secret.txt", path.join(root, "swap.next"));
  renameSync(path.join(root, "swap.next"), link);
  const after = await rawGet(port, "/swap");
  assert.equal(after.status, 404);
  assertNoMarker("/swap after the swap", after);
});

test("an index.html that links outside the root is neither served for its folder nor listed", async (t) => {
  const { root } = site(t);
  symlinkSync("../../secret.txt", path.join(root, "sub", "index.html"));
  const { port } = await serveRoot(t, root);
  const folder = await rawGet(port, "/sub/");
  assert.equal(folder.status, 200, "the folder falls back to its listing");
  assertNoMarker("/sub/", folder);
  assert.deepEqual(await listedNames(port, "/sub/"), ["a.txt"]);
  const direct = await rawGet(port, "/sub/index.html");
  assert.equal(direct.status, 404);
  assertNoMarker("/sub/index.html", direct);
});

test("a 404.html that links outside the root is not used as the 404 page", async (t) => {
  const { root } = site(t);
  symlinkSync("../secret.txt", path.join(root, "404.html"));
  const { port } = await serveRoot(t, root);
  const res = await rawGet(port, "/missing");
  assert.equal(res.status, 404);
  assert.match(res.body.toString(), /<title>404 Not Found<\/title>/, "the generic page instead");
  assertNoMarker("/missing", res);
});

test("a /.well-known that links outside the root answers 404 despite the dotfile exception", async (t) => {
  const { root } = site(t);
  symlinkSync("../root-secret", path.join(root, ".well-known"));
  const { port } = await serveRoot(t, root);
  for (const target of ["/.well-known/secret.txt", "/.well-known/", "/%2ewell-known/secret.txt"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assertNoMarker(target, res);
  }
});
