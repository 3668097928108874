/**
 * From request target to file: origin- and absolute-form, percent-decoding, every spelling of `..`,
 * the sibling-prefix trap, backslashes, symlinks, dotfiles, methods, and folder redirects.
 * Real server on a real socket, real files in a temporary folder laid out as
 *
 *   top/secret.txt              outside the root
 *   top/root-secret/secret.txt  a sibling whose name starts with the root's name
 *   top/root/                   the root being served
 *
 * Failures and error statuses beyond path handling live in errors.test.ts.
 */
import assert from "node:assert/strict";
import { symlinkSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { rawGet, rawRequest, request, serve, tempDir, type RawResponse, type Tree } from "./helpers.js";
import type { ServerOptions } from "../src/server.js";

const OUTSIDE_SECRET = "OUTSIDE-SECRET-5d1e9a";
const SIBLING_SECRET = "SIBLING-SECRET-c07b42";

interface Site {
  top: string;
  root: string;
}

/** `top/{secret.txt, root-secret/secret.txt, root/…}` with `tree` as the root's content. */
function site(t: TestContext, tree: Tree = {}): Site {
  const top = tempDir(t, {
    "secret.txt": OUTSIDE_SECRET,
    "root-secret": { "secret.txt": SIBLING_SECRET },
    root: { "a.txt": "alpha", sub: { "b.txt": "bravo" }, ...tree },
  });
  return { top, root: path.join(top, "root") };
}

async function serveSite(t: TestContext, tree: Tree = {}, options: ServerOptions = {}) {
  const s = site(t, tree);
  const server = await serve(t, { root: s.root, ...options });
  return { ...s, port: server.port };
}

/** Fails with the target named if a response carries either secret, in its head or its body. */
function assertNoSecret(target: string, res: RawResponse): void {
  const text = res.raw.toString("latin1");
  assert.ok(!text.includes(OUTSIDE_SECRET), `${JSON.stringify(target)} leaked the file beside the root`);
  assert.ok(!text.includes(SIBLING_SECRET), `${JSON.stringify(target)} leaked the sibling folder's file`);
}

/** GETs each target raw and returns `{ target: status }`, so one deepEqual shows every mismatch. */
async function statuses(port: number, targets: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const target of targets) out[target] = (await rawGet(port, target)).status;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Target → file
// ---------------------------------------------------------------------------------------------

test("origin-form and absolute-form targets name the same file", async (t) => {
  const { port } = await serveSite(t);
  const cases: Array<[string, string]> = [
    ["/a.txt", "alpha"],
    ["http://localhost/a.txt", "alpha"],
    ["HTTP://LocalHost.:8080/a.txt", "alpha"],
    ["https://127.0.0.1/sub/b.txt", "bravo"],
    ["http://localhost/sub/b.txt?q=1", "bravo"],
  ];
  for (const [target, body] of cases) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), body, target);
  }
});

test("an absolute-form target with an empty path names the root", async (t) => {
  // RFC 3986: `http://localhost?q=1` is authority "localhost", empty path, query "q=1"; an empty path is "/".
  const { port } = await serveSite(t);
  for (const target of ["http://localhost", "http://localhost?q=1"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 200, target);
    assert.match(res.body.toString(), /Directory listing for \//, target);
  }
});

test("repeated slashes collapse: //a.txt serves a.txt", async (t) => {
  const { port } = await serveSite(t);
  for (const [target, body] of [["//a.txt", "alpha"], ["///a.txt", "alpha"], ["/sub//b.txt", "bravo"], ["//sub///b.txt", "bravo"]] as const) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), body, target);
  }
});

test("the query and fragment are dropped before the path is looked up", async (t) => {
  const { port } = await serveSite(t);
  for (const target of ["/a.txt?x=1", "/a.txt?", "/a.txt?../../secret.txt", "/a.txt?%zz", "/a.txt?x=%00", "/a.txt#frag", "/a.txt?x=1#y"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), "alpha", target);
  }
});

// ---------------------------------------------------------------------------------------------
// Percent-decoding, exactly once
// ---------------------------------------------------------------------------------------------

test("a malformed percent escape is refused with 400", async (t) => {
  const { port } = await serveSite(t);
  const targets = ["/%zz", "/%4", "/a%", "/%", "/%g0", "/%0g", "/%%41", "/a.txt%2", "/sub/%zz/b.txt", "/%u002e%u002e/secret.txt"];
  assert.deepEqual(await statuses(port, targets), Object.fromEntries(targets.map((x) => [x, 400])));
});

test("a NUL byte in the decoded path is refused with 400", async (t) => {
  const { port } = await serveSite(t);
  const targets = ["/a%00.txt", "/a.txt%00", "/a.txt%00.html", "/%00/a.txt", "/sub%00/b.txt", "/sub/b.txt%00"];
  assert.deepEqual(await statuses(port, targets), Object.fromEntries(targets.map((x) => [x, 400])));
});

test("percent-escapes are decoded once: %2541 names a file called %41, not A", async (t) => {
  const { port } = await serveSite(t, { "%41.txt": "literal percent", "A.txt": "capital a", "%2e%2e": "literal dots" });
  const cases: Array<[string, number, string | null]> = [
    ["/%61.txt", 200, "alpha"], // %61 is "a"
    ["/sub%2fb.txt", 200, "bravo"], // an encoded slash still separates segments
    ["/%2541.txt", 200, "literal percent"],
    ["/%2525%32%65%2525%32%65", 404, null], // "%25%32%65…" decodes once to a name that does not exist
    ["/%252e%252e", 200, "literal dots"], // double-encoded dots are an ordinary name…
    ["/%252e%252e/secret.txt", 404, null], // …and never a parent
  ];
  for (const [target, status, body] of cases) {
    const res = await rawGet(port, target);
    assert.equal(res.status, status, target);
    if (body !== null) assert.equal(res.body.toString(), body, target);
  }
});

// ---------------------------------------------------------------------------------------------
// Traversal: no spelling of `..` leaves the root
// ---------------------------------------------------------------------------------------------

/** Every spelling of "the parent" we know of, with the status the default options must give. */
const TRAVERSAL_CORPUS: ReadonlyArray<readonly [string, number]> = [
  ["/..", 400],
  ["/../secret.txt", 400],
  ["/../../../../../../secret.txt", 400],
  ["/%2e%2e/secret.txt", 400],
  ["/%2E%2e/secret.txt", 400],
  ["/%2E%2E/secret.txt", 400],
  ["/.%2e/secret.txt", 400],
  ["/%2e./secret.txt", 400],
  ["/..%2fsecret.txt", 400],
  ["/..%2Fsecret.txt", 400],
  ["/%2e%2e%2fsecret.txt", 400],
  ["/%2f../secret.txt", 400],
  ["/%2f..%2fsecret.txt", 400],
  ["/..%5csecret.txt", 400],
  ["/..%5Csecret.txt", 400],
  ["/..\\secret.txt", 400],
  ["/sub\\..\\..\\secret.txt", 400],
  ["/sub/..\\..\\secret.txt", 400],
  ["/a/../../secret.txt", 400],
  ["/sub/../../secret.txt", 400],
  ["/sub/%2e%2e/%2e%2e/secret.txt", 400],
  ["/..%00/secret.txt", 400],
  ["/%c0%ae%c0%ae/secret.txt", 400], // overlong UTF-8 for "..": not UTF-8, names nothing
  ["/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt", 400],
  ["/%e0%80%ae%e0%80%ae/secret.txt", 400],
  ["/%c0%2e%c0%2e/secret.txt", 400],
  ["/%252e%252e/secret.txt", 404], // double-encoded: a literal name
  ["/%252e%252e%252fsecret.txt", 404],
  ["/..;/secret.txt", 404], // a literal name on a file system
  ["/..%255csecret.txt", 404], // decodes to the dotfile name "..%5csecret.txt"
  ["/.../secret.txt", 404], // "..." is an ordinary (hidden) name
  ["http://localhost/../secret.txt", 400],
  ["http://localhost/%2e%2e/secret.txt", 400],
  ["\\..\\secret.txt", 400],
  ["../secret.txt", 400],
];

// ---------------------------------------------------------------------------------------------
// Dot segments inside the root: 301 to the normal form (RFC 3986 §5.2.4)
// ---------------------------------------------------------------------------------------------

/** Targets whose dot segments stay inside the root, and the exact Location each must get. */
const DOT_SEGMENT_REDIRECTS: ReadonlyArray<readonly [string, string]> = [
  ["/sub/../a.txt", "/a.txt"],
  ["/sub/%2e%2e/a.txt", "/a.txt"],
  ["/sub/%2E%2E/a.txt", "/a.txt"],
  ["/sub/.%2e/a.txt", "/a.txt"],
  ["/sub/%2E./a.txt", "/a.txt"],
  ["/sub/..%2fa.txt", "/a.txt"], // an encoded slash separates segments here, as it always has
  ["/sub/%2e%2e%2fa.txt", "/a.txt"],
  ["/sub/./b.txt", "/sub/b.txt"],
  ["/sub/%2e/b.txt", "/sub/b.txt"],
  ["/./a.txt", "/a.txt"],
  ["/sub/b.txt/../b.txt", "/sub/b.txt"],
  ["/no/such/../../a.txt", "/a.txt"], // decided from the target alone: nothing is looked up on the way
  ["/sub//../a.txt", "/a.txt"], // empty segments are merged first, as nginx's merge_slashes does
  ["/sub/../sub", "/sub"], // then the folder's own redirect adds the slash
  // A trailing `.` or `..` leaves a trailing slash; `/a/..` is the root.
  ["/sub/..", "/"],
  ["/sub/../", "/"],
  ["/sub/%2e%2e", "/"],
  ["/.", "/"],
  ["/%2e", "/"],
  ["/./", "/"],
  ["/sub/.", "/sub/"],
  ["/sub/%2E", "/sub/"],
  ["/sub/b.txt/..", "/sub/"],
  // The query is kept as it came, the fragment (which clients do not send) is dropped.
  ["/sub/../a.txt?x=1&y=%2e%2e/..", "/a.txt?x=1&y=%2e%2e/.."],
  ["/sub/../a.txt?", "/a.txt?"],
  ["/sub/../a.txt#frag", "/a.txt"],
  ["/sub/../a.txt?q#frag", "/a.txt?q"],
  // Absolute-form: the authority is dropped, the Location is path-absolute.
  ["http://localhost/sub/../a.txt", "/a.txt"],
  ["HTTP://LOCALHOST:8080/sub/%2E%2E/a.txt?q", "/a.txt?q"],
  // The Location is percent-encoded in one canonical spelling, whatever spelling came in.
  ["/sub/../%61.txt", "/a.txt"],
  ["/sub/../a%20b/", "/a%20b/"],
  ["/sub/..%2f%3f.txt", "/%3F.txt"], // a `?` in a name stays in the path
  ["/sub/..%2f%23.txt", "/%23.txt"],
  ["/sub/../caf%c3%a9.txt", "/caf%C3%A9.txt"],
  ["/sub/../l%e9.txt", "/l%E9.txt"], // not UTF-8: the same byte, encoded
  ["/sub/../%25.txt", "/%25.txt"],
  // Never `//` or `/\` at the start: a browser would read the rest as another host.
  ["/sub/..//evil.com", "/evil.com"],
  ["/sub/..%2f%2fevil.com/x", "/evil.com/x"],
  ["//.//evil.com", "/evil.com"],
  ["/%2e/%2fevil.com", "/evil.com"],
  ["/sub/../\\evil.com", "/%5Cevil.com"],
  ["/sub/..%2f%5cevil.com", "/%5Cevil.com"],
  ["/./\\\\evil.com", "/%5C%5Cevil.com"],
  ["/sub/..%2F%2F%5C%5Cevil.com", "/%5C%5Cevil.com"],
];

test("dot segments that stay inside the root answer 301 to the normal form, keeping the query", async (t) => {
  const { port } = await serveSite(t);
  const got: Record<string, string> = {};
  for (const [target] of DOT_SEGMENT_REDIRECTS) {
    const res = await rawGet(port, target);
    got[target] = `${res.status} ${res.headers.get("location")}`;
    assert.equal(res.headers.get("content-length"), "0", `${target}: the 301 has no body`);
    assertNoSecret(target, res);
  }
  assert.deepEqual(got, Object.fromEntries(DOT_SEGMENT_REDIRECTS.map(([target, location]) => [target, `301 ${location}`])));
  for (const [target, location] of DOT_SEGMENT_REDIRECTS) {
    assert.doesNotMatch(location, /^\/[/\\]/, `${target} → ${location}`);
    assert.equal(new URL(location, "http://origin.test/").origin, "http://origin.test", `${target} → ${location} leaves the origin`);
  }
});

test("following a dot-segment redirect reaches the file the normal form names", async (t) => {
  const { port } = await serveSite(t);
  for (const [target, body] of [["/sub/../a.txt", "alpha"], ["/sub/%2e%2e/sub/./b.txt", "bravo"], ["/sub/..%2fsub%2f.%2fb.txt?v=1", "bravo"]] as const) {
    const redirect = await rawGet(port, target);
    assert.equal(redirect.status, 301, target);
    const res = await rawGet(port, redirect.headers.get("location")!);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), body, target);
  }
  const root = await rawGet(port, (await rawGet(port, "/sub/..")).headers.get("location")!);
  assert.match(root.body.toString(), /Directory listing for \//);
});

test("HEAD gets the same dot-segment redirect as GET; other methods get their usual answer, never a redirect", async (t) => {
  const { port } = await serveSite(t);
  const head = await rawRequest(port, "HEAD /sub/../a.txt?x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  assert.equal(head.status, 301);
  assert.equal(head.headers.get("location"), "/a.txt?x");
  assert.equal(head.body.length, 0);
  // As nginx does: the method is judged as at the normal form's path, where a static server
  // writes nothing (405). A 301 would make a browser repeat a POST as a GET, without its body.
  for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
    const res = await rawRequest(port, `${method} /sub/../a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS, PROPFIND", method);
    assert.equal(res.headers.get("location"), undefined, method);
  }
  const options = await rawRequest(port, "OPTIONS /sub/../a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("location"), undefined);
  // Above the root, HEAD is refused as GET is.
  const above = await rawRequest(port, "HEAD /sub/../../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  assert.equal(above.status, 400);
});

test("every spelling of .. is refused and never reveals a file outside the root", async (t) => {
  const { port } = await serveSite(t);
  const got: Record<string, number> = {};
  for (const [target] of TRAVERSAL_CORPUS) {
    const res = await rawGet(port, target);
    got[target] = res.status;
    assertNoSecret(target, res);
  }
  assert.deepEqual(got, Object.fromEntries(TRAVERSAL_CORPUS));
});

test("with dotfiles and followSymlinks on, no spelling of .. escapes either", async (t) => {
  const { port } = await serveSite(t, {}, { dotfiles: true, followSymlinks: true });
  for (const [target] of TRAVERSAL_CORPUS) {
    const res = await rawGet(port, target);
    assert.ok(res.status >= 400 && res.status < 500, `${target} answered ${res.status}`);
    assertNoSecret(target, res);
  }
});

test("a sibling folder sharing the root's name prefix is never reachable", async (t) => {
  const s = site(t);
  symlinkSync("../root-secret", path.join(s.root, "sib")); // a link to the sibling folder
  symlinkSync(path.join(s.top, "root-secret", "secret.txt"), path.join(s.root, "sibfile")); // absolute
  symlinkSync("../root-secret/secret.txt", path.join(s.root, "sibrel"));
  const { port } = await serve(t, { root: s.root });
  const targets = [
    "/../root-secret/secret.txt",
    "/%2e%2e/root-secret/secret.txt",
    "/..%2froot-secret%2fsecret.txt",
    "/..\\root-secret\\secret.txt",
    "http://localhost/../root-secret/secret.txt",
    "/root-secret/secret.txt",
    "-secret/secret.txt",
    "/-secret/secret.txt",
    "/sib/secret.txt",
    "/sib/",
    "/sib",
    "/sibfile",
    "/sibrel",
  ];
  for (const target of targets) {
    const res = await rawGet(port, target);
    assert.ok(res.status >= 400 && res.status < 500, `${target} answered ${res.status}`);
    assertNoSecret(target, res);
  }
  // The links that lead there are not even listed: no name of theirs starts a link, an attribute,
  // a path segment or a text (only the stylesheet's `:focus-visible` holds the letters).
  const listing = (await request(port, "/")).body.toString();
  assert.doesNotMatch(listing, /["'>/]sib/);
});

test("a backslash is an ordinary filename character on Linux", async (t) => {
  const { port } = await serveSite(t, { "back\\slash.txt": "backslash file" });
  for (const target of ["/back\\slash.txt", "/back%5Cslash.txt", "/back%5cslash.txt"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), "backslash file", target);
  }
});

test("a .. segment beside a backslash is refused with 400", async (t) => {
  const { port } = await serveSite(t);
  const targets = ["/..\\a.txt", "/sub\\..\\a.txt", "/sub%5c..%5ca.txt", "/..%5c..%5csecret.txt", "/sub/..\\", "/\\..", "/sub/b\\..\\..\\..\\secret.txt"];
  assert.deepEqual(await statuses(port, targets), Object.fromEntries(targets.map((x) => [x, 400])));
});

// ---------------------------------------------------------------------------------------------
// Symlinks
// ---------------------------------------------------------------------------------------------

test("a link inside the root to a file inside the root is served", async (t) => {
  const s = site(t);
  symlinkSync("a.txt", path.join(s.root, "rel-link"));
  symlinkSync(path.join(s.root, "sub", "b.txt"), path.join(s.root, "abs-link"));
  symlinkSync("sub", path.join(s.root, "sub-link"));
  const { port } = await serve(t, { root: s.root });
  for (const [target, body] of [["/rel-link", "alpha"], ["/abs-link", "bravo"], ["/sub-link/b.txt", "bravo"]] as const) {
    const res = await request(port, target);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), body, target);
  }
});

test("a link to a file outside the root answers 404", async (t) => {
  const s = site(t);
  symlinkSync("../secret.txt", path.join(s.root, "rel-out"));
  symlinkSync(path.join(s.top, "secret.txt"), path.join(s.root, "abs-out"));
  const { port } = await serve(t, { root: s.root });
  for (const target of ["/rel-out", "/abs-out"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assertNoSecret(target, res);
  }
});

test("with followSymlinks a link to a file outside the root is served", async (t) => {
  const s = site(t);
  symlinkSync("../secret.txt", path.join(s.root, "rel-out"));
  symlinkSync(path.join(s.top, "root-secret"), path.join(s.root, "dir-out"));
  const { port } = await serve(t, { root: s.root, followSymlinks: true });
  const file = await request(port, "/rel-out");
  assert.equal(file.status, 200);
  assert.equal(file.body.toString(), OUTSIDE_SECRET);
  const underFolder = await request(port, "/dir-out/secret.txt");
  assert.equal(underFolder.status, 200);
  assert.equal(underFolder.body.toString(), SIBLING_SECRET);
});

test("a symlinked folder leading outside hides every file under it", async (t) => {
  const s = site(t, { inside: { "inner.txt": "inner" } });
  symlinkSync(s.top, path.join(s.root, "up")); // the folder above the root
  symlinkSync("../../root-secret", path.join(s.root, "inside", "sib")); // relative, from a subfolder
  symlinkSync(path.join(s.top, "root-secret"), path.join(s.root, "dir-out"));
  const { port } = await serve(t, { root: s.root });
  for (const target of ["/up/secret.txt", "/up/root-secret/secret.txt", "/up/", "/up", "/dir-out/secret.txt", "/dir-out/", "/dir-out", "/inside/sib/secret.txt"]) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 404, target);
    assertNoSecret(target, res);
  }
  // A real folder inside the root is, of course, still served.
  assert.equal((await request(port, "/inside/inner.txt")).status, 200);
});

test("a chain of links that ends outside the root answers 404", async (t) => {
  const s = site(t);
  symlinkSync(path.join(s.top, "secret.txt"), path.join(s.root, "hop3"));
  symlinkSync("hop3", path.join(s.root, "hop2"));
  symlinkSync("hop2", path.join(s.root, "hop1"));
  symlinkSync("a.txt", path.join(s.root, "in3"));
  symlinkSync("in3", path.join(s.root, "in2"));
  symlinkSync("in2", path.join(s.root, "in1"));
  const { port } = await serve(t, { root: s.root });
  const out = await rawGet(port, "/hop1");
  assert.equal(out.status, 404);
  assertNoSecret("/hop1", out);
  const inside = await request(port, "/in1");
  assert.equal(inside.status, 200, "a chain that stays inside is fine");
  assert.equal(inside.body.toString(), "alpha");
});

test("a dangling link answers 404", async (t) => {
  const s = site(t);
  symlinkSync("does-not-exist.txt", path.join(s.root, "dangling"));
  symlinkSync(path.join(s.top, "gone"), path.join(s.root, "dangling-out"));
  const { port } = await serve(t, { root: s.root });
  assert.deepEqual(await statuses(port, ["/dangling", "/dangling/", "/dangling-out", "/dangling-out/x"]), {
    "/dangling": 404,
    "/dangling/": 404,
    "/dangling-out": 404,
    "/dangling-out/x": 404,
  });
});

test("a link loop answers 404 (ELOOP)", async (t) => {
  const s = site(t);
  symlinkSync("loop-b", path.join(s.root, "loop-a"));
  symlinkSync("loop-a", path.join(s.root, "loop-b"));
  symlinkSync("self", path.join(s.root, "self"));
  const targets = ["/loop-a", "/loop-b", "/self", "/self/", "/loop-a/x.txt"];
  const expected = Object.fromEntries(targets.map((x) => [x, 404]));
  const plain = await serve(t, { root: s.root });
  assert.deepEqual(await statuses(plain.port, targets), expected);
  const following = await serve(t, { root: s.root, followSymlinks: true });
  assert.deepEqual(await statuses(following.port, targets), expected, "with followSymlinks");
  assert.equal((await request(plain.port, "/a.txt")).status, 200, "the server is still fine");
});

test("a root given as a symlink path serves its files and still confines links", async (t) => {
  const s = site(t);
  const rootLink = path.join(s.top, "root-link");
  symlinkSync(s.root, rootLink);
  symlinkSync(path.join(rootLink, "a.txt"), path.join(s.root, "via-root-link")); // inside, spelt through the link
  symlinkSync("../secret.txt", path.join(s.root, "out"));
  const { port } = await serve(t, { root: rootLink });
  assert.equal((await request(port, "/a.txt")).body.toString(), "alpha");
  assert.equal((await request(port, "/sub/b.txt")).body.toString(), "bravo");
  const via = await request(port, "/via-root-link");
  assert.equal(via.status, 200);
  assert.equal(via.body.toString(), "alpha");
  const out = await rawGet(port, "/out");
  assert.equal(out.status, 404);
  assertNoSecret("/out", out);
});

test("a link to a device is never served, even with followSymlinks", async (t) => {
  const s = site(t);
  symlinkSync("/dev/zero", path.join(s.root, "zero"));
  symlinkSync("/dev/null", path.join(s.root, "null"));
  const plain = await serve(t, { root: s.root });
  assert.deepEqual(await statuses(plain.port, ["/zero", "/null"]), { "/zero": 404, "/null": 404 });
  const following = await serve(t, { root: s.root, followSymlinks: true });
  assert.deepEqual(await statuses(following.port, ["/zero", "/null"]), { "/zero": 404, "/null": 404 });
});

// ---------------------------------------------------------------------------------------------
// Dotfiles
// ---------------------------------------------------------------------------------------------

const DOT_TREE: Tree = {
  ".env": "TOKEN=dotenv",
  sub: { "b.txt": "bravo", ".git": { config: "[core] git config" } },
  ".hidden": { x: "hidden x" },
  ".well-known": { "x.txt": "well known", ".secret": "well-known dotfile", ".inner": { "y.txt": "inner y" } },
};

const DOT_FILES: ReadonlyArray<readonly [string, string]> = [
  ["/.env", "TOKEN=dotenv"],
  ["/sub/.git/config", "[core] git config"],
  ["/.hidden/x", "hidden x"],
  ["/%2eenv", "TOKEN=dotenv"],
  ["/sub/%2Egit/config", "[core] git config"],
  ["//.env", "TOKEN=dotenv"],
  ["http://localhost/.env", "TOKEN=dotenv"],
];

test("dotfiles and dot-folders answer 404 by default, in any spelling", async (t) => {
  const { port } = await serveSite(t, DOT_TREE);
  const targets = [...DOT_FILES.map(([x]) => x), "/.hidden/", "/.hidden", "/sub/.git/", "/./.env", "/sub/../.env", "/a.txt/../.hidden/x"];
  const got: Record<string, number> = {};
  for (const target of targets) {
    const res = await rawGet(port, target);
    got[target] = res.status;
    assert.ok(!/dotenv|git config|hidden x/.test(res.body.toString()), `${target} revealed a dotfile`);
  }
  assert.deepEqual(got, Object.fromEntries(targets.map((x) => [x, 404])));
  // …and they are not listed either.
  const listing = (await request(port, "/")).body.toString();
  assert.doesNotMatch(listing, /\.env|\.hidden/);
});

test("with dotfiles: true, dotfiles and dot-folders are served", async (t) => {
  const { port } = await serveSite(t, DOT_TREE, { dotfiles: true });
  for (const [target, body] of DOT_FILES) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 200, target);
    assert.equal(res.body.toString(), body, target);
  }
  assert.equal((await request(port, "/.hidden/")).status, 200, "a dot-folder is listed");
  // A dot segment beside a dotfile is redirected to its normal form, which is then served.
  for (const [target, location] of [["/./.env", "/.env"], ["/sub/../.env", "/.env"], ["/.hidden/./x", "/.hidden/x"]] as const) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 301, target);
    assert.equal(res.headers.get("location"), location, target);
  }
});

test("/.well-known/ is served even with dotfiles off", async (t) => {
  const { port } = await serveSite(t, DOT_TREE);
  const file = await request(port, "/.well-known/x.txt");
  assert.equal(file.status, 200);
  assert.equal(file.body.toString(), "well known");
  assert.equal((await request(port, "/%2ewell-known/x.txt")).status, 200, "encoded dot");
  assert.equal((await request(port, "/.well-known/")).status, 200, "its listing");
  const redirect = await request(port, "/.well-known");
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, "/.well-known/");
});

test("a dot-name inside /.well-known/, or a .well-known below the root, stays hidden", async (t) => {
  const { port } = await serveSite(t, { ...DOT_TREE, nested: { ".well-known": { "z.txt": "nested well known" } } });
  const targets = ["/.well-known/.secret", "/.well-known/.inner/y.txt", "/.well-known/.inner/", "/nested/.well-known/z.txt"];
  assert.deepEqual(await statuses(port, targets), Object.fromEntries(targets.map((x) => [x, 404])));
  const listing = (await request(port, "/.well-known/")).body.toString();
  assert.match(listing, /x\.txt/);
  assert.doesNotMatch(listing, /\.secret|\.inner/);
});

// ---------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------

/** Everything but the headers that legitimately differ between two responses (the date). */
function comparableHeaders(res: RawResponse): Record<string, string> {
  const out = Object.fromEntries(res.headers);
  delete out.date;
  return out;
}

test("HEAD answers with GET's headers and sends no body", async (t) => {
  const { port } = await serveSite(t, { "page.html": "<p>hello</p>" });
  for (const target of ["/page.html", "/sub/", "/missing.txt", "/sub"]) {
    const get = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    const head = await rawRequest(port, `HEAD ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.equal(head.status, get.status, target);
    assert.deepEqual(comparableHeaders(head), comparableHeaders(get), target);
    assert.equal(head.body.length, 0, `${target}: HEAD sent body bytes`);
  }
});

test("OPTIONS answers 204 with Allow, for a path and for *", async (t) => {
  const { port } = await serveSite(t);
  for (const target of ["/a.txt", "/", "/missing", "*"]) {
    const res = await rawRequest(port, `OPTIONS ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 204, target);
    assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS, PROPFIND", target);
    assert.equal(res.body.length, 0, target);
    assert.equal(res.headers.get("access-control-allow-origin"), undefined, `${target}: no CORS unless asked`);
  }
});

test("with cors, a preflight is answered and GET carries Access-Control-Allow-Origin", async (t) => {
  const { port } = await serveSite(t, {}, { cors: true });
  const preflight = await request(port, "/a.txt", {
    method: "OPTIONS",
    headers: { Origin: "http://other.test", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.allow, "GET, HEAD, OPTIONS, PROPFIND");
  assert.equal(preflight.headers["access-control-allow-origin"], "*");
  assert.equal(preflight.headers["access-control-allow-methods"], "GET, HEAD, OPTIONS");
  assert.equal(preflight.headers["access-control-allow-headers"], "range");
  assert.equal(preflight.headers["access-control-max-age"], "86400");

  const plainOptions = await request(port, "/a.txt", { method: "OPTIONS" });
  assert.equal(plainOptions.headers["access-control-allow-methods"], undefined, "not a preflight without Access-Control-Request-Method");

  const get = await request(port, "/a.txt", { headers: { Origin: "http://other.test" } });
  assert.equal(get.status, 200);
  assert.equal(get.headers["access-control-allow-origin"], "*");
  const missing = await request(port, "/missing");
  assert.equal(missing.headers["access-control-allow-origin"], "*", "errors too, so the page can read the status");
});

test("without cors, GET carries no Access-Control-Allow-Origin", async (t) => {
  const { port } = await serveSite(t);
  const get = await request(port, "/a.txt", { headers: { Origin: "http://other.test" } });
  assert.equal(get.status, 200);
  assert.equal(get.headers["access-control-allow-origin"], undefined);
});

test("POST, PUT, DELETE, PATCH and other methods answer 405 with Allow", async (t) => {
  const { port } = await serveSite(t);
  // PROPFIND reads (WebDAV), and is tested with the rest of WebDAV (webdav.test.ts).
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "TRACE", "MKCOL", "PROPPATCH", "COPY", "MOVE", "LOCK", "UNLOCK"]) {
    for (const target of ["/a.txt", "/missing", "/../secret.txt"]) {
      const res = await rawRequest(port, `${method} ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
      assert.equal(res.status, 405, `${method} ${target}`);
      assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS, PROPFIND", `${method} ${target}`);
      assertNoSecret(`${method} ${target}`, res);
    }
  }
  assert.equal((await request(port, "/a.txt")).body.toString(), "alpha", "nothing was changed");
});

// ---------------------------------------------------------------------------------------------
// Folders
// ---------------------------------------------------------------------------------------------

test("a folder without its trailing slash redirects to it, keeping the query", async (t) => {
  const { port } = await serveSite(t, { "a b": { "c.txt": "c" } });
  const cases: Array<[string, string]> = [
    ["/sub", "/sub/"],
    ["/sub?x=1&y=2", "/sub/?x=1&y=2"],
    ["/sub?", "/sub/?"],
    ["/a%20b", "/a%20b/"],
    ["http://localhost/sub?q", "/sub/?q"],
  ];
  for (const [target, location] of cases) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 301, target);
    assert.equal(res.headers.get("location"), location, target);
  }
});

test("a folder redirect never leaves the origin: no Location begins with // or /\\ (CVE-2021-28861)", async (t) => {
  const { port } = await serveSite(t, { "evil.com": { "x.txt": "x" }, "\\evil.com": {}, "\\\\evil.com": {} });
  const cases: Array<[string, string]> = [
    ["//evil.com", "/evil.com/"],
    ["///evil.com", "/evil.com/"],
    ["//evil.com?next=1", "/evil.com/?next=1"],
    ["//./evil.com", "/evil.com"], // the dot segment's redirect, then the folder's
    ["/%2Fevil.com", "/evil.com/"],
    ["/%2f%2fevil.com", "/evil.com/"],
    ["http://localhost//evil.com", "/evil.com/"],
    ["/\\evil.com", "/%5Cevil.com/"],
    ["/%5Cevil.com", "/%5Cevil.com/"],
    ["/%2F%5Cevil.com", "/%5Cevil.com/"],
    ["/\\\\evil.com", "/%5C%5Cevil.com/"],
    ["/%5C%5Cevil.com", "/%5C%5Cevil.com/"],
  ];
  for (const [target, expected] of cases) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 301, target);
    const location = res.headers.get("location") ?? "";
    assert.doesNotMatch(location, /^\/[/\\]/, `${target} → ${location}`);
    assert.equal(new URL(location, "http://origin.test/").host, "origin.test", `${target} → ${location} leaves the origin`);
    assert.equal(location, expected, target);
  }
});

test("a folder's index.html is served, then index.htm", async (t) => {
  const { port } = await serveSite(t, {
    both: { "index.html": "the html index", "index.htm": "the htm index" },
    htm: { "index.htm": "only htm" },
  });
  const both = await request(port, "/both/");
  assert.equal(both.status, 200);
  assert.equal(both.body.toString(), "the html index");
  assert.match(String(both.headers["content-type"]), /^text\/html/);
  const htm = await request(port, "/htm/");
  assert.equal(htm.status, 200);
  assert.equal(htm.body.toString(), "only htm");
});

test("a folder named index.html is not an index: the folder is listed", async (t) => {
  const { port } = await serveSite(t, { f: { "index.html": { "inner.txt": "inner" }, "other.txt": "o" } });
  const res = await request(port, "/f/");
  assert.equal(res.status, 200);
  assert.match(res.body.toString(), /Directory listing for \/f\//);
  assert.match(res.body.toString(), /other\.txt/);
});

test("with listing off, a folder without an index answers 404", async (t) => {
  const { port } = await serveSite(t, { withIndex: { "index.html": "indexed" } }, { listing: false });
  assert.equal((await request(port, "/sub/")).status, 404);
  assert.equal((await request(port, "/")).status, 404);
  const indexed = await request(port, "/withIndex/");
  assert.equal(indexed.status, 200, "an index is still served");
  assert.equal(indexed.body.toString(), "indexed");
});

test("a file asked with a trailing slash answers 404", async (t) => {
  const { port } = await serveSite(t);
  const targets = ["/a.txt/", "/a.txt//", "/sub/b.txt/", "/a.txt%2f"];
  assert.deepEqual(await statuses(port, targets), Object.fromEntries(targets.map((x) => [x, 404])));
});

test("a file asked as /a.txt/. redirects to /a.txt/ (a folder, once dot-segments are removed), which answers 404", async (t) => {
  // RFC 3986 §5.2.4: remove_dot_segments("/a.txt/.") is "/a.txt/", which names a folder.
  const { port } = await serveSite(t);
  for (const [target, location] of [["/a.txt/.", "/a.txt/"], ["/a.txt/%2e", "/a.txt/"], ["/sub/b.txt/./", "/sub/b.txt/"]] as const) {
    const res = await rawGet(port, target);
    assert.equal(res.status, 301, target);
    assert.equal(res.headers.get("location"), location, target);
    assert.equal((await rawGet(port, location)).status, 404, location);
  }
});
