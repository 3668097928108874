/**
 * WebDAV (RFC 4918), the protocol itself: one behaviour per test, a real server on a real socket,
 * real files. 207 bodies are parsed (dav-xml.ts) and judged by their hrefs, statuses and values.
 * Hostile input is webdav-hostile.test.ts's; real clients (litmus, rclone, cadaver) webdav-clients'.
 */
import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import test, { type TestContext } from "node:test";
import { DAV_NS, parseXml, type XmlElement } from "../src/dav-xml.js";
import type { ServerOptions } from "../src/server.js";
import { serve, tempDir, type Tree } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Requests and answers
// ---------------------------------------------------------------------------------------------

interface DavResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request through node:http, the target sent as given; a body gets its Content-Length. */
function dav(port: number, method: string, target: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<DavResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) {
      headers["Content-Length"] ??= String(Buffer.byteLength(options.body));
      headers["Content-Type"] ??= "application/xml; charset=utf-8";
    }
    const req = http.request({ host: "127.0.0.1", port, path: target, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n';
const NS = "http://example.com/ns";

function propfindBody(inner: string): string {
  return `${XML_DECL}<D:propfind xmlns:D="DAV:">${inner}</D:propfind>`;
}

/** A PROPFIND `prop` body naming DAV: properties (bare names) and others (`<x:name xmlns:x=…/>` as given). */
function propBody(...names: string[]): string {
  return propfindBody(`<D:prop>${names.map((name) => (name.startsWith("<") ? name : `<D:${name}/>`)).join("")}</D:prop>`);
}

function lockBody(scope: "exclusive" | "shared", owner = "tester"): string {
  return `${XML_DECL}<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
}

function proppatchBody(inner: string): string {
  return `${XML_DECL}<D:propertyupdate xmlns:D="DAV:" xmlns:Z="${NS}">${inner}</D:propertyupdate>`;
}

interface PropStat {
  status: number;
  props: readonly XmlElement[];
  description: XmlElement | undefined;
}

interface DavResult {
  href: string;
  /** A response's own status (DELETE's 207), else null. */
  status: number | null;
  propstats: PropStat[];
}

function statusOf(line: string): number {
  const match = /^HTTP\/1\.[01] (\d{3}) /.exec(line.trim());
  assert.ok(match, `a status line: ${JSON.stringify(line)}`);
  return Number(match[1]);
}

function davChild(element: XmlElement, local: string): XmlElement | undefined {
  return element.children.find((child) => child.ns === DAV_NS && child.local === local);
}

function davChildren(element: XmlElement, local: string): XmlElement[] {
  return element.children.filter((child) => child.ns === DAV_NS && child.local === local);
}

/** A 207's responses, parsed; fails unless the answer is a 207 with a DAV:multistatus in XML. */
function multistatus(res: DavResponse): DavResult[] {
  assert.equal(res.status, 207, res.body.toString());
  assert.match(String(res.headers["content-type"]), /^application\/xml/);
  const root = parseXml(res.body);
  assert.equal(root.ns, DAV_NS);
  assert.equal(root.local, "multistatus");
  return davChildren(root, "response").map((response) => {
    const hrefs = davChildren(response, "href");
    assert.equal(hrefs.length, 1, "one href a response");
    const status = davChild(response, "status");
    return {
      href: hrefs[0]!.text,
      status: status ? statusOf(status.text) : null,
      propstats: davChildren(response, "propstat").map((propstat) => ({
        status: statusOf(davChild(propstat, "status")!.text),
        props: davChild(propstat, "prop")!.children,
        description: davChild(propstat, "responsedescription"),
      })),
    };
  });
}

/** The one response of a Depth: 0 answer. */
function single(res: DavResponse): DavResult {
  const results = multistatus(res);
  assert.equal(results.length, 1, `one response: ${results.map((r) => r.href).join(", ")}`);
  return results[0]!;
}

function byHref(results: DavResult[], href: string): DavResult {
  const found = results.find((result) => result.href === href);
  assert.ok(found, `a response for ${href} among ${results.map((r) => r.href).join(", ")}`);
  return found;
}

/** A property in a response, with the status of the propstat it is in; undefined when absent. */
function propOf(result: DavResult, local: string, ns = DAV_NS): { status: number; element: XmlElement } | undefined {
  for (const propstat of result.propstats) {
    const element = propstat.props.find((prop) => prop.ns === ns && prop.local === local);
    if (element) return { status: propstat.status, element };
  }
  return undefined;
}

/** A property that must be there with 200: its element. */
function okProp(result: DavResult, local: string, ns = DAV_NS): XmlElement {
  const found = propOf(result, local, ns);
  assert.ok(found, `${ns}${local} in ${result.href}`);
  assert.equal(found.status, 200, `${ns}${local} is 200`);
  return found.element;
}

function propNames(result: DavResult, status = 200): string[] {
  return result.propstats.filter((p) => p.status === status).flatMap((p) => p.props.map((prop) => (prop.ns === DAV_NS ? prop.local : `${prop.ns} ${prop.local}`))).sort();
}

async function propfind(port: number, target: string, depth: string, body?: string, headers: Record<string, string> = {}): Promise<DavResponse> {
  return dav(port, "PROPFIND", target, body === undefined ? { headers: { Depth: depth, ...headers } } : { headers: { Depth: depth, ...headers }, body });
}

/** LOCK; returns the answer and the token of the Lock-Token header (without < >). */
async function lock(port: number, target: string, scope: "exclusive" | "shared" = "exclusive", headers: Record<string, string> = {}): Promise<DavResponse & { token: string }> {
  const res = await dav(port, "LOCK", target, { headers, body: lockBody(scope) });
  const header = res.headers["lock-token"];
  return { ...res, token: typeof header === "string" ? header.replace(/^<|>$/g, "") : "" };
}

/** The activelock elements of a LOCK answer's body (`<D:prop><D:lockdiscovery>`). */
function activeLocks(body: Buffer): XmlElement[] {
  const root = parseXml(body);
  assert.equal(root.ns, DAV_NS);
  assert.equal(root.local, "prop");
  const discovery = davChild(root, "lockdiscovery");
  assert.ok(discovery, "a lockdiscovery");
  return davChildren(discovery, "activelock");
}

function lockTokenOf(activeLock: XmlElement): string {
  return davChild(davChild(activeLock, "locktoken")!, "href")!.text.trim();
}

/** The error element of a 4xx with an XML body (§16): the local names of its conditions. */
function conditions(res: DavResponse): string[] {
  assert.match(String(res.headers["content-type"]), /^application\/xml/);
  const root = parseXml(res.body);
  assert.equal(root.ns, DAV_NS);
  assert.equal(root.local, "error");
  return root.children.filter((child) => child.ns === DAV_NS).map((child) => child.local);
}

// ---------------------------------------------------------------------------------------------
// What is on disk
// ---------------------------------------------------------------------------------------------

/** Every path under `dir` (hidden ones too) with what it holds: file bytes, a link's target, "dir". */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, prefix: string) => {
    for (const name of readdirSync(at).sort()) {
      const full = path.join(at, name);
      const stats = lstatSync(full);
      if (stats.isSymbolicLink()) out[prefix + name] = `-> ${readlinkSync(full)}`;
      else if (stats.isDirectory()) {
        out[prefix + name + "/"] = "dir";
        walk(full, prefix + name + "/");
      } else out[prefix + name] = readFileSync(full, "latin1");
    }
  };
  walk(dir, "");
  return out;
}

function read(root: string, name: string): string {
  return readFileSync(path.join(root, name), "utf8");
}

/** A server on a fresh tree. */
async function davServer(t: TestContext, tree: Tree, options: ServerOptions = {}) {
  const root = tempDir(t, tree);
  const server = await serve(t, { root, ...options });
  return { root, port: server.port, base: server.base };
}

const EDIT: ServerOptions = { upload: true, overwrite: true };
const DROP_BOX: ServerOptions = { upload: true };

const WRITE_METHODS = ["PUT", "POST", "MKCOL", "DELETE", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"] as const;

/** A plausible request for each write method, aimed at the tree of `writeTree`. */
function writeRequest(method: (typeof WRITE_METHODS)[number], base: string): { target: string; headers?: Record<string, string>; body?: string } {
  switch (method) {
    case "PUT":
      return { target: "/a.txt", body: "replaced" };
    case "POST": {
      const boundary = "dav-test-boundary";
      return {
        target: "/",
        headers: { "Content-Type": `multipart/form-data; boundary=${boundary}` },
        body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="posted.txt"\r\nContent-Type: text/plain\r\n\r\nposted\r\n--${boundary}--\r\n`,
      };
    }
    case "MKCOL":
      return { target: "/new/" };
    case "DELETE":
      return { target: "/a.txt" };
    case "COPY":
      return { target: "/a.txt", headers: { Destination: `${base}/copy.txt` } };
    case "MOVE":
      return { target: "/a.txt", headers: { Destination: `${base}/moved.txt` } };
    case "PROPPATCH":
      return { target: "/a.txt", body: proppatchBody("<D:set><D:prop><Z:colour>red</Z:colour></D:prop></D:set>") };
    case "LOCK":
      return { target: "/a.txt", body: lockBody("exclusive") };
    case "UNLOCK":
      return { target: "/a.txt", headers: { "Lock-Token": "<urn:uuid:00000000-0000-4000-8000-000000000000>" } };
  }
}

const writeTree = (): Tree => ({ "a.txt": "alpha", dir: { "b.txt": "beta" } });

// ---------------------------------------------------------------------------------------------
// OPTIONS
// ---------------------------------------------------------------------------------------------

test("OPTIONS without --upload says DAV: 1 (no locking: Finder then mounts it read-only) and MS-Author-Via: DAV, and allows only reading", async (t) => {
  const { port } = await davServer(t, writeTree());
  for (const target of ["/", "/a.txt", "/dir/", "/missing"]) {
    const res = await dav(port, "OPTIONS", target);
    assert.ok(res.status === 200 || res.status === 204, `${target}: ${res.status}`);
    assert.equal(res.headers.dav, "1", target);
    assert.equal(res.headers["ms-author-via"], "DAV", target);
    assert.deepEqual(String(res.headers.allow).split(/,\s*/).sort(), ["GET", "HEAD", "OPTIONS", "PROPFIND"], target);
  }
});

test("OPTIONS with --upload says DAV: 1, 2 and allows every WebDAV write method too", async (t) => {
  const { port } = await davServer(t, writeTree(), DROP_BOX);
  const res = await dav(port, "OPTIONS", "/dir/");
  assert.equal(res.headers.dav, "1, 2");
  assert.equal(res.headers["ms-author-via"], "DAV");
  assert.deepEqual(String(res.headers.allow).split(/,\s*/).sort(), ["COPY", "DELETE", "GET", "HEAD", "LOCK", "MKCOL", "MOVE", "OPTIONS", "POST", "PROPFIND", "PROPPATCH", "PUT", "UNLOCK"]);
});

// ---------------------------------------------------------------------------------------------
// PROPFIND: depth
// ---------------------------------------------------------------------------------------------

test("PROPFIND Depth: 0 on a folder answers for the folder alone, its href ending in /", async (t) => {
  const { port } = await davServer(t, { sub: { "x.txt": "x", inner: {} } });
  const result = single(await propfind(port, "/sub/", "0"));
  assert.equal(result.href, "/sub/");
  assert.ok(davChild(okProp(result, "resourcetype"), "collection"));
});

test("PROPFIND Depth: 0 on a folder named without its slash still gives the folder's href with one", async (t) => {
  const { port } = await davServer(t, { sub: {} });
  assert.equal(single(await propfind(port, "/sub", "0")).href, "/sub/");
});

test("PROPFIND Depth: 1 on a folder answers for it and each entry in it, and no deeper", async (t) => {
  const { port } = await davServer(t, { sub: { "x.txt": "x", inner: { "deep.txt": "d" } } });
  const results = multistatus(await propfind(port, "/sub/", "1"));
  assert.deepEqual(results.map((r) => r.href).sort(), ["/sub/", "/sub/inner/", "/sub/x.txt"]);
  for (const result of results) assert.deepEqual(result.propstats.map((p) => p.status), [200], result.href);
});

test("PROPFIND Depth: 1 on the root lists the root as / and its entries", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a", dir: {} });
  assert.deepEqual(multistatus(await propfind(port, "/", "1")).map((r) => r.href).sort(), ["/", "/a.txt", "/dir/"]);
});

test("PROPFIND Depth: 0 on a file answers for the file", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" });
  const result = single(await propfind(port, "/a.txt", "0"));
  assert.equal(result.href, "/a.txt");
  assert.equal(okProp(result, "getcontentlength").text, "5");
});

test("PROPFIND Depth: 1 on a file answers for the file alone", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" });
  assert.equal(single(await propfind(port, "/a.txt", "1")).href, "/a.txt");
});

test("PROPFIND of a name that does not exist is 404", async (t) => {
  const { port } = await davServer(t, {});
  assert.equal((await propfind(port, "/nothing.txt", "0")).status, 404);
  assert.equal((await propfind(port, "/nothing/", "1")).status, 404);
});

test("PROPFIND Depth: infinity is 403 with the propfind-finite-depth precondition", async (t) => {
  const { port } = await davServer(t, { sub: { "x.txt": "x" } });
  const res = await propfind(port, "/sub/", "infinity");
  assert.equal(res.status, 403);
  assert.deepEqual(conditions(res), ["propfind-finite-depth"]);
});

test("PROPFIND without a Depth header means infinity: 403 with propfind-finite-depth", async (t) => {
  const { port } = await davServer(t, { sub: { "x.txt": "x" } });
  const res = await dav(port, "PROPFIND", "/sub/");
  assert.equal(res.status, 403);
  assert.deepEqual(conditions(res), ["propfind-finite-depth"]);
});

// ---------------------------------------------------------------------------------------------
// PROPFIND: what is asked
// ---------------------------------------------------------------------------------------------

const FILE_LIVE = ["creationdate", "displayname", "getcontentlength", "getcontenttype", "getetag", "getlastmodified", "lockdiscovery", "resourcetype", "supportedlock"];
const FOLDER_LIVE = ["creationdate", "displayname", "getlastmodified", "lockdiscovery", "resourcetype", "supportedlock"];

test("PROPFIND with no body is allprop: every live property of a file, all 200", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" });
  const result = single(await propfind(port, "/a.txt", "0"));
  assert.deepEqual(propNames(result), FILE_LIVE);
  assert.deepEqual(result.propstats.map((p) => p.status), [200]);
});

test("PROPFIND with no body on a folder gives the live properties a folder has (no length, ETag or type)", async (t) => {
  const { port } = await davServer(t, { sub: {} });
  const result = single(await propfind(port, "/sub/", "0"));
  assert.deepEqual(propNames(result), FOLDER_LIVE);
  assert.deepEqual(result.propstats.map((p) => p.status), [200]);
});

test("PROPFIND allprop in a body answers as an empty body does", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" });
  const empty = single(await propfind(port, "/a.txt", "0"));
  const allprop = single(await propfind(port, "/a.txt", "0", propfindBody("<D:allprop/>")));
  assert.deepEqual(propNames(allprop), propNames(empty));
  assert.equal(okProp(allprop, "getetag").text, okProp(empty, "getetag").text);
});

test("PROPFIND propname names every live property, with no values", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha", sub: {} });
  const results = multistatus(await propfind(port, "/", "1", propfindBody("<D:propname/>")));
  const file = byHref(results, "/a.txt");
  assert.deepEqual(propNames(file), FILE_LIVE);
  assert.deepEqual(propNames(byHref(results, "/sub/")), FOLDER_LIVE);
  for (const prop of file.propstats.flatMap((p) => p.props)) {
    assert.equal(prop.content.length, 0, `${prop.local} is empty`);
  }
});

test("PROPFIND prop with a property that does not exist: a 404 propstat beside the 200 one", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" });
  const result = single(await propfind(port, "/a.txt", "0", propBody("getcontentlength", `<x:nonesuch xmlns:x="${NS}"/>`, "displayname")));
  assert.deepEqual(propNames(result, 200), ["displayname", "getcontentlength"]);
  assert.deepEqual(propNames(result, 404), [`${NS} nonesuch`]);
  assert.deepEqual(result.propstats.map((p) => p.status).sort(), [200, 404]);
});

test("PROPFIND prop asking for a file's property of a folder (getcontentlength) gets 404 for it", async (t) => {
  const { port } = await davServer(t, { sub: {} });
  const result = single(await propfind(port, "/sub/", "0", propBody("getcontentlength", "resourcetype")));
  assert.equal(propOf(result, "getcontentlength")?.status, 404);
  assert.equal(propOf(result, "resourcetype")?.status, 200);
});

// ---------------------------------------------------------------------------------------------
// PROPFIND: the live properties
// ---------------------------------------------------------------------------------------------

test("resourcetype: a folder's holds DAV:collection, a file's is empty", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha", sub: {} });
  const results = multistatus(await propfind(port, "/", "1", propBody("resourcetype")));
  assert.deepEqual(okProp(byHref(results, "/sub/"), "resourcetype").children.map((c) => `${c.ns}${c.local}`), ["DAV:collection"]);
  assert.deepEqual(okProp(byHref(results, "/"), "resourcetype").children.map((c) => `${c.ns}${c.local}`), ["DAV:collection"]);
  assert.equal(okProp(byHref(results, "/a.txt"), "resourcetype").content.length, 0);
});

test("getcontentlength is the file's size in bytes", async (t) => {
  const { port } = await davServer(t, { "u.txt": "ünïcode ☃" });
  const result = single(await propfind(port, "/u.txt", "0", propBody("getcontentlength")));
  assert.equal(okProp(result, "getcontentlength").text, String(Buffer.byteLength("ünïcode ☃")));
});

test("getlastmodified is an HTTP date, the Last-Modified GET gives", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha", sub: {} });
  const value = okProp(single(await propfind(port, "/a.txt", "0", propBody("getlastmodified"))), "getlastmodified").text;
  assert.match(value, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  const get = await fetch(`${base}/a.txt`);
  assert.equal(value, get.headers.get("last-modified"));
  const folder = okProp(single(await propfind(port, "/sub/", "0", propBody("getlastmodified"))), "getlastmodified").text;
  assert.match(folder, / GMT$/);
});

test("getetag is the ETag GET gives", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha" });
  const value = okProp(single(await propfind(port, "/a.txt", "0", propBody("getetag"))), "getetag").text;
  const get = await fetch(`${base}/a.txt`);
  assert.ok(get.headers.get("etag"));
  assert.equal(value, get.headers.get("etag"));
});

test("getcontenttype is the Content-Type GET gives", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha", "p.png": "not really", "page.html": "<p>x</p>" });
  for (const name of ["a.txt", "p.png", "page.html"]) {
    const value = okProp(single(await propfind(port, `/${name}`, "0", propBody("getcontenttype"))), "getcontenttype").text;
    const get = await fetch(`${base}/${name}`);
    assert.equal(value, get.headers.get("content-type"), name);
  }
});

test("displayname is the entry's name; the root has none", async (t) => {
  const { port } = await davServer(t, { "ünï cödé.txt": "x", "a folder": {} });
  const results = multistatus(await propfind(port, "/", "1", propBody("displayname")));
  assert.equal(okProp(byHref(results, "/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.txt"), "displayname").text, "ünï cödé.txt");
  assert.equal(okProp(byHref(results, "/a%20folder/"), "displayname").text, "a folder");
  assert.equal(propOf(byHref(results, "/"), "displayname")?.status, 404);
});

test("creationdate is an ISO 8601 date near the file's making", async (t) => {
  const before = Date.now();
  const { port } = await davServer(t, { "a.txt": "alpha" });
  const value = okProp(single(await propfind(port, "/a.txt", "0", propBody("creationdate"))), "creationdate").text;
  assert.match(value, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  const ms = Date.parse(value);
  assert.ok(ms >= before - 2000 && ms <= Date.now() + 2000, `${value} is about now`);
});

test("supportedlock offers exclusive and shared write locks", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" });
  const supported = okProp(single(await propfind(port, "/a.txt", "0", propBody("supportedlock"))), "supportedlock");
  const entries = davChildren(supported, "lockentry").map((entry) => {
    const scope = davChild(entry, "lockscope")!.children[0]!;
    const type = davChild(entry, "locktype")!.children[0]!;
    return `${scope.local}/${type.local}`;
  });
  assert.deepEqual(entries.sort(), ["exclusive/write", "shared/write"]);
});

test("lockdiscovery is empty without a lock and names the lock once there is one", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const before = okProp(single(await propfind(port, "/a.txt", "0", propBody("lockdiscovery"))), "lockdiscovery");
  assert.equal(davChildren(before, "activelock").length, 0);
  const locked = await lock(port, "/a.txt", "exclusive", { Timeout: "Second-600" });
  assert.equal(locked.status, 200);
  const after = okProp(single(await propfind(port, "/a.txt", "0", propBody("lockdiscovery"))), "lockdiscovery");
  const [active, ...more] = davChildren(after, "activelock");
  assert.equal(more.length, 0);
  assert.equal(lockTokenOf(active!), locked.token);
  assert.equal(davChild(active!, "lockscope")!.children[0]!.local, "exclusive");
  assert.equal(davChild(davChild(active!, "lockroot")!, "href")!.text, "/a.txt");
  assert.equal(davChild(active!, "owner")!.text, "tester");
});

// ---------------------------------------------------------------------------------------------
// PROPFIND: hrefs, and what a client may see
// ---------------------------------------------------------------------------------------------

test("hrefs are percent-encoded from the name's bytes (space, #, %, ?, unicode, not UTF-8), folders end in /, and each one GETs 200", async (t) => {
  const root = tempDir(t, { "a b.txt": "space", "x#y.txt": "hash", "100%.txt": "percent", "what?.txt": "question", "ünï ☃.txt": "unicode", "my folder": { "in.txt": "in" } });
  const notUtf8 = Buffer.from([0x66, 0xff, 0x6f, 0x2e, 0x74, 0x78, 0x74]); // "f\xFFo.txt"
  writeFileSync(Buffer.concat([Buffer.from(root + "/"), notUtf8]), "latin");
  const server = await serve(t, { root });
  const results = multistatus(await propfind(server.port, "/", "1", propBody("resourcetype")));
  const hrefs = results.map((r) => r.href).sort();
  assert.deepEqual(hrefs, ["/", "/100%25.txt", "/a%20b.txt", "/f%FFo.txt", "/my%20folder/", "/what%3F.txt", "/x%23y.txt", "/%C3%BCn%C3%AF%20%E2%98%83.txt"].sort());
  const expected: Record<string, string> = { "/a%20b.txt": "space", "/x%23y.txt": "hash", "/100%25.txt": "percent", "/what%3F.txt": "question", "/%C3%BCn%C3%AF%20%E2%98%83.txt": "unicode", "/f%FFo.txt": "latin" };
  for (const href of hrefs) {
    const res = await dav(server.port, "GET", href);
    assert.equal(res.status, 200, href);
    if (expected[href] !== undefined) assert.equal(res.body.toString(), expected[href], href);
  }
});

test("dotfiles are hidden from PROPFIND without dotfiles, and shown with it", async (t) => {
  const tree = { ".secret": "s", ".hidden-dir": { "x.txt": "x" }, "shown.txt": "v" };
  const hidden = await davServer(t, tree);
  assert.deepEqual(multistatus(await propfind(hidden.port, "/", "1")).map((r) => r.href).sort(), ["/", "/shown.txt"]);
  assert.equal((await propfind(hidden.port, "/.secret", "0")).status, 404);
  assert.equal((await propfind(hidden.port, "/.hidden-dir/", "1")).status, 404);
  const shown = await davServer(t, tree, { dotfiles: true });
  assert.deepEqual(multistatus(await propfind(shown.port, "/", "1")).map((r) => r.href).sort(), ["/", "/.hidden-dir/", "/.secret", "/shown.txt"]);
});

test("a symlink out of the root is hidden from PROPFIND unless followSymlinks; one inside the root is shown", async (t) => {
  const outside = tempDir(t, { "secret.txt": "outside", far: { "f.txt": "f" } });
  const root = tempDir(t, {
    "real.txt": "real",
    "inside-link.txt": { symlink: "real.txt" },
    "out-link.txt": { symlink: path.join(outside, "secret.txt") },
    "out-dir": { symlink: path.join(outside, "far") },
  });
  const strict = await serve(t, { root });
  assert.deepEqual(multistatus(await propfind(strict.port, "/", "1")).map((r) => r.href).sort(), ["/", "/inside-link.txt", "/real.txt"]);
  assert.equal((await propfind(strict.port, "/out-link.txt", "0")).status, 404);
  assert.equal((await propfind(strict.port, "/out-dir/", "1")).status, 404);
  const following = await serve(t, { root, followSymlinks: true });
  assert.deepEqual(multistatus(await propfind(following.port, "/", "1")).map((r) => r.href).sort(), ["/", "/inside-link.txt", "/out-dir/", "/out-link.txt", "/real.txt"]);
});

test("with listing: false, PROPFIND on a folder is 403, on a file still 207", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a", sub: { "b.txt": "b" } }, { listing: false });
  assert.equal((await propfind(port, "/", "1")).status, 403);
  assert.equal((await propfind(port, "/sub/", "0")).status, 403);
  assert.equal(single(await propfind(port, "/sub/b.txt", "0")).href, "/sub/b.txt");
});

test("PROPFIND whose propfind holds an unknown DAV: child is 400", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a" });
  assert.equal((await propfind(port, "/a.txt", "0", propfindBody("<D:everything/>"))).status, 400);
});

test("PROPFIND whose root element is not DAV:propfind is 400", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a" });
  assert.equal((await propfind(port, "/a.txt", "0", `${XML_DECL}<D:propertyupdate xmlns:D="DAV:"/>`)).status, 400);
  assert.equal((await propfind(port, "/a.txt", "0", `${XML_DECL}<propfind xmlns="${NS}"><allprop/></propfind>`)).status, 400);
});

test("PROPFIND with malformed XML is 400", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a" });
  for (const body of ['<D:propfind xmlns:D="DAV:"><D:allprop></D:propfind>', "<propfind", '<x:propfind><x:allprop/></x:propfind>', "not xml at all"]) {
    assert.equal((await propfind(port, "/a.txt", "0", body)).status, 400, body);
  }
});

// ---------------------------------------------------------------------------------------------
// MKCOL
// ---------------------------------------------------------------------------------------------

test("MKCOL makes a folder: 201", async (t) => {
  const { root, port } = await davServer(t, {}, DROP_BOX);
  assert.equal((await dav(port, "MKCOL", "/new%20folder/")).status, 201);
  assert.ok(statSync(path.join(root, "new folder")).isDirectory());
});

test("MKCOL on an existing folder is 405", async (t) => {
  const { port } = await davServer(t, {}, DROP_BOX);
  assert.equal((await dav(port, "MKCOL", "/made")).status, 201);
  assert.equal((await dav(port, "MKCOL", "/made")).status, 405);
  assert.equal((await dav(port, "MKCOL", "/made/")).status, 405);
});

test("MKCOL whose parent does not exist is 409, and nothing is made", async (t) => {
  const { root, port } = await davServer(t, {}, DROP_BOX);
  assert.equal((await dav(port, "MKCOL", "/no/such/")).status, 409);
  assert.deepEqual(snapshot(root), {});
});

test("MKCOL with a body is 415, and nothing is made", async (t) => {
  const { root, port } = await davServer(t, {}, DROP_BOX);
  assert.equal((await dav(port, "MKCOL", "/withbody/", { body: "<x/>" })).status, 415);
  assert.deepEqual(snapshot(root), {});
});

test("MKCOL over a file is 405, and the file stays", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  assert.equal((await dav(port, "MKCOL", "/a.txt")).status, 405);
  assert.equal(read(root, "a.txt"), "alpha");
});

test("MKCOL of a name a file may not have (a dotfile without dotfiles, %2F, NUL) is 400, and nothing is made", async (t) => {
  const { root, port } = await davServer(t, { sub: {} }, EDIT);
  for (const target of ["/.hidden/", "/sub/.hidden", "/a%2Fb/", "/a%00b/", "/sub/a%5Cb/"]) {
    assert.equal((await dav(port, "MKCOL", target)).status, 400, target);
  }
  assert.deepEqual(snapshot(root), { "sub/": "dir" });
});

test("MKCOL of a dotfile is allowed with dotfiles", async (t) => {
  const { root, port } = await davServer(t, {}, { ...EDIT, dotfiles: true });
  assert.equal((await dav(port, "MKCOL", "/.config/")).status, 201);
  assert.ok(statSync(path.join(root, ".config")).isDirectory());
});

// ---------------------------------------------------------------------------------------------
// PUT under WebDAV's rules
// ---------------------------------------------------------------------------------------------

test("PUT onto a locked file without its token is 423 naming the lock; with If: (<token>) it is 204", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt");
  assert.equal(locked.status, 200);
  const refused = await dav(port, "PUT", "/a.txt", { body: "intruder" });
  assert.equal(refused.status, 423);
  const error = parseXml(refused.body);
  const submitted = davChild(error, "lock-token-submitted");
  assert.ok(submitted, refused.body.toString());
  assert.deepEqual(davChildren(submitted, "href").map((href) => href.text), ["/a.txt"]);
  assert.equal(read(root, "a.txt"), "alpha");
  const allowed = await dav(port, "PUT", "/a.txt", { headers: { If: `(<${locked.token}>)` }, body: "holder" });
  assert.equal(allowed.status, 204);
  assert.equal(read(root, "a.txt"), "holder");
});

test("PUT whose If header names a wrong ETag is 412 and the file is unchanged; the right ETag lets it through", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const refused = await dav(port, "PUT", "/a.txt", { headers: { If: '(["not-the-etag"])' }, body: "changed" });
  assert.equal(refused.status, 412);
  assert.equal(read(root, "a.txt"), "alpha");
  const etag = (await fetch(`${base}/a.txt`)).headers.get("etag")!;
  assert.equal((await dav(port, "PUT", "/a.txt", { headers: { If: `([${etag}])` }, body: "changed" })).status, 204);
  assert.equal(read(root, "a.txt"), "changed");
});

// ---------------------------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------------------------

test("DELETE of a file is 204 and the file is gone", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta" }, EDIT);
  assert.equal((await dav(port, "DELETE", "/a.txt")).status, 204);
  assert.deepEqual(snapshot(root), { "b.txt": "beta" });
});

test("DELETE of a folder is 204 and everything below it is gone", async (t) => {
  const { root, port } = await davServer(t, { keep: "k", tree: { "a.txt": "a", sub: { "b.txt": "b", deeper: { "c.txt": "c" } }, empty: {} } }, EDIT);
  assert.equal((await dav(port, "DELETE", "/tree/")).status, 204);
  assert.deepEqual(snapshot(root), { keep: "k" });
});

test("DELETE of a folder holding a dotfile, without dotfiles: 207 naming the folder, the rest deleted, the dotfile kept", async (t) => {
  const { root, port } = await davServer(t, { dir: { ".env": "SECRET=1", "a.txt": "a", sub: { "b.txt": "b" } } }, EDIT);
  const res = await dav(port, "DELETE", "/dir/");
  const results = multistatus(res);
  assert.deepEqual(results.map((r) => r.href), ["/dir/"]);
  assert.ok(results[0]!.status !== null && results[0]!.status >= 400, `a failure status: ${results[0]!.status}`);
  assert.deepEqual(snapshot(root), { "dir/": "dir", "dir/.env": "SECRET=1" });
});

test("DELETE of a folder holding a dotfile, with dotfiles, deletes it all", async (t) => {
  const { root, port } = await davServer(t, { dir: { ".env": "SECRET=1", "a.txt": "a" } }, { ...EDIT, dotfiles: true });
  assert.equal((await dav(port, "DELETE", "/dir/")).status, 204);
  assert.deepEqual(snapshot(root), {});
});

test("DELETE / is 403 and nothing is deleted", async (t) => {
  const { root, port } = await davServer(t, writeTree(), EDIT);
  const before = snapshot(root);
  assert.equal((await dav(port, "DELETE", "/")).status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("DELETE of a name that does not exist is 404", async (t) => {
  const { port } = await davServer(t, {}, EDIT);
  assert.equal((await dav(port, "DELETE", "/missing.txt")).status, 404);
  assert.equal((await dav(port, "DELETE", "/missing/")).status, 404);
});

test("DELETE of a symlink inside the root deletes the link, never what it names", async (t) => {
  const { root, port } = await davServer(t, { "real.txt": "real", realdir: { "in.txt": "in" }, "link.txt": { symlink: "real.txt" }, linkdir: { symlink: "realdir" } }, EDIT);
  assert.equal((await dav(port, "DELETE", "/link.txt")).status, 204);
  assert.equal((await dav(port, "DELETE", "/linkdir")).status, 204);
  assert.deepEqual(snapshot(root), { "real.txt": "real", "realdir/": "dir", "realdir/in.txt": "in" });
});

test("DELETE of a folder with Depth: 0 is 400 and nothing is deleted", async (t) => {
  const { root, port } = await davServer(t, { dir: { "a.txt": "a" } }, EDIT);
  assert.equal((await dav(port, "DELETE", "/dir/", { headers: { Depth: "0" } })).status, 400);
  assert.deepEqual(snapshot(root), { "dir/": "dir", "dir/a.txt": "a" });
});

test("DELETE of a name that is not UTF-8, by the href PROPFIND gave, is 204", async (t) => {
  const root = tempDir(t, { "keep.txt": "k" });
  writeFileSync(Buffer.concat([Buffer.from(root + "/"), Buffer.from([0x66, 0xff, 0x6f])]), "latin");
  const server = await serve(t, { root, ...EDIT });
  const hrefs = multistatus(await propfind(server.port, "/", "1")).map((r) => r.href);
  assert.ok(hrefs.includes("/f%FFo"), hrefs.join(", "));
  assert.equal((await dav(server.port, "DELETE", "/f%FFo")).status, 204);
  assert.deepEqual(snapshot(root), { "keep.txt": "k" });
});

// ---------------------------------------------------------------------------------------------
// COPY and MOVE
// ---------------------------------------------------------------------------------------------

test("COPY of a file to a new name is 201 with a Location, and both hold the bytes", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const res = await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/copy%20of%20a.txt` } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.location, "/copy%20of%20a.txt");
  assert.deepEqual(snapshot(root), { "a.txt": "alpha", "copy of a.txt": "alpha" });
});

test("COPY takes a Destination that is an absolute path, too", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: "/b.txt" } })).status, 201);
  assert.equal(read(root, "b.txt"), "alpha");
});

test("COPY of a folder to a new name is 201 and copies the whole tree", async (t) => {
  const { root, port, base } = await davServer(t, { src: { "a.txt": "a", sub: { "b.txt": "b" }, empty: {} } }, EDIT);
  const res = await dav(port, "COPY", "/src/", { headers: { Destination: `${base}/dst/` } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.location, "/dst/", "a folder's Location ends with /, as its hrefs do");
  const after = snapshot(root);
  assert.deepEqual(after, { "dst/": "dir", "dst/a.txt": "a", "dst/empty/": "dir", "dst/sub/": "dir", "dst/sub/b.txt": "b", "src/": "dir", "src/a.txt": "a", "src/empty/": "dir", "src/sub/": "dir", "src/sub/b.txt": "b" });
});

test("COPY of a folder with Depth: 0 makes an empty folder", async (t) => {
  const { root, port, base } = await davServer(t, { src: { "a.txt": "a", sub: { "b.txt": "b" } } }, EDIT);
  assert.equal((await dav(port, "COPY", "/src/", { headers: { Destination: `${base}/dst/`, Depth: "0" } })).status, 201);
  assert.ok(statSync(path.join(root, "dst")).isDirectory());
  assert.deepEqual(readdirSync(path.join(root, "dst")), []);
  assert.equal(read(root, "src/sub/b.txt"), "b");
});

test("MOVE of a file to a new name is 201 with a Location; the old name is gone", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", dir: {} }, EDIT);
  const res = await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/dir/moved.txt` } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.location, "/dir/moved.txt");
  assert.deepEqual(snapshot(root), { "dir/": "dir", "dir/moved.txt": "alpha" });
});

test("MOVE of a folder to a new name is 201 and takes its tree along", async (t) => {
  const { root, port, base } = await davServer(t, { src: { "a.txt": "a", sub: { "b.txt": "b" } } }, EDIT);
  assert.equal((await dav(port, "MOVE", "/src/", { headers: { Destination: `${base}/renamed/` } })).status, 201);
  assert.deepEqual(snapshot(root), { "renamed/": "dir", "renamed/a.txt": "a", "renamed/sub/": "dir", "renamed/sub/b.txt": "b" });
});

test("COPY of a file onto an existing one is 204 with Overwrite: T (and without the header), replacing it", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta", "c.txt": "gamma" }, EDIT);
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/b.txt`, Overwrite: "T" } })).status, 204);
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/c.txt` } })).status, 204);
  assert.deepEqual(snapshot(root), { "a.txt": "alpha", "b.txt": "alpha", "c.txt": "alpha" });
});

test("COPY of a folder onto an existing folder is 204 and the destination is the source's copy, nothing of the old left", async (t) => {
  const { root, port, base } = await davServer(t, { src: { "a.txt": "new" }, dst: { "a.txt": "old", "stale.txt": "stale" } }, EDIT);
  assert.equal((await dav(port, "COPY", "/src/", { headers: { Destination: `${base}/dst/`, Overwrite: "T" } })).status, 204);
  assert.deepEqual(snapshot(root), { "dst/": "dir", "dst/a.txt": "new", "src/": "dir", "src/a.txt": "new" });
});

test("MOVE of a file onto an existing one is 204 with Overwrite: T", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta" }, EDIT);
  assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/b.txt`, Overwrite: "T" } })).status, 204);
  assert.deepEqual(snapshot(root), { "b.txt": "alpha" });
});

test("MOVE of a folder onto an existing folder is 204 and replaces it whole", async (t) => {
  const { root, port, base } = await davServer(t, { src: { "a.txt": "new" }, dst: { "stale.txt": "stale" } }, EDIT);
  assert.equal((await dav(port, "MOVE", "/src/", { headers: { Destination: `${base}/dst/` } })).status, 204);
  assert.deepEqual(snapshot(root), { "dst/": "dir", "dst/a.txt": "new" });
});

test("COPY onto an existing resource with Overwrite: F is 412 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta", src: { "x.txt": "x" }, dst: {} }, EDIT);
  const before = snapshot(root);
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/b.txt`, Overwrite: "F" } })).status, 412);
  assert.equal((await dav(port, "COPY", "/src/", { headers: { Destination: `${base}/dst/`, Overwrite: "F" } })).status, 412);
  assert.deepEqual(snapshot(root), before);
});

test("MOVE onto an existing resource with Overwrite: F is 412 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta" }, EDIT);
  const before = snapshot(root);
  assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/b.txt`, Overwrite: "F" } })).status, 412);
  assert.deepEqual(snapshot(root), before);
});

test("COPY and MOVE whose Destination's parent does not exist are 409 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  for (const method of ["COPY", "MOVE"]) {
    assert.equal((await dav(port, method, "/a.txt", { headers: { Destination: `${base}/no/such/a.txt` } })).status, 409, method);
  }
  assert.deepEqual(snapshot(root), { "a.txt": "alpha" });
});

test("COPY and MOVE to a Destination on another host are 502 and nothing changes", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  for (const method of ["COPY", "MOVE"]) {
    assert.equal((await dav(port, method, "/a.txt", { headers: { Destination: "http://other.example/b.txt" } })).status, 502, method);
  }
  assert.deepEqual(snapshot(root), { "a.txt": "alpha" });
});

test("COPY and MOVE onto themselves are 403 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", dir: { "x.txt": "x" } }, EDIT);
  const before = snapshot(root);
  for (const method of ["COPY", "MOVE"]) {
    assert.equal((await dav(port, method, "/a.txt", { headers: { Destination: `${base}/a.txt` } })).status, 403, method);
    assert.equal((await dav(port, method, "/dir/", { headers: { Destination: `${base}/dir/` } })).status, 403, method);
    assert.equal((await dav(port, method, "/dir", { headers: { Destination: `${base}/dir/` } })).status, 403, method);
  }
  assert.deepEqual(snapshot(root), before);
});

test("COPY and MOVE of a folder into its own subfolder are 403 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { sub: { "x.txt": "x" } } }, EDIT);
  const before = snapshot(root);
  for (const method of ["COPY", "MOVE"]) {
    assert.equal((await dav(port, method, "/dir/", { headers: { Destination: `${base}/dir/sub/copy/` } })).status, 403, method);
    assert.equal((await dav(port, method, "/dir/", { headers: { Destination: `${base}/dir/new/` } })).status, 403, method);
  }
  assert.deepEqual(snapshot(root), before);
});

test("MOVE of the root is 403 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, writeTree(), EDIT);
  const before = snapshot(root);
  assert.equal((await dav(port, "MOVE", "/", { headers: { Destination: `${base}/elsewhere/` } })).status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("COPY and MOVE without a Destination are 400 and nothing changes", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  for (const method of ["COPY", "MOVE"]) assert.equal((await dav(port, method, "/a.txt")).status, 400, method);
  assert.deepEqual(snapshot(root), { "a.txt": "alpha" });
});

test("COPY and MOVE of a name that does not exist are 404", async (t) => {
  const { port, base } = await davServer(t, {}, EDIT);
  for (const method of ["COPY", "MOVE"]) assert.equal((await dav(port, method, "/missing.txt", { headers: { Destination: `${base}/x.txt` } })).status, 404, method);
});

test("COPY whose untagged If names the source's ETag is 201", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const etag = (await fetch(`${base}/a.txt`)).headers.get("etag")!;
  const res = await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/b.txt`, If: `([${etag}])` } });
  assert.equal(res.status, 201);
  assert.equal(read(root, "b.txt"), "alpha");
});

test("MOVE of a folder into itself through a symlink is refused (403) and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { "a.txt": "a" }, link: { symlink: "dir" } }, EDIT);
  const before = snapshot(root);
  const res = await dav(port, "MOVE", "/dir/", { headers: { Destination: `${base}/link/inside/` } });
  assert.equal(res.status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("COPY of a folder into itself through a symlink is refused (403) and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { "a.txt": "a" }, link: { symlink: "dir" } }, EDIT);
  const before = snapshot(root);
  const res = await dav(port, "COPY", "/dir/", { headers: { Destination: `${base}/link/inside/` } });
  assert.equal(res.status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("COPY of a symlink onto the file it names is 403, and the file is kept", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha", "link.txt": { symlink: "a.txt" } }, EDIT);
  assert.equal((await dav(port, "COPY", "/link.txt", { headers: { Destination: `${base}/a.txt` } })).status, 403);
  assert.deepEqual(snapshot(root), { "a.txt": "alpha", "link.txt": "-> a.txt" });
});

test("MOVE of a file onto itself through a linked folder is 403, and the file is kept", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { "a.txt": "alpha" }, alias: { symlink: "dir" } }, EDIT);
  assert.equal((await dav(port, "MOVE", "/dir/a.txt", { headers: { Destination: `${base}/alias/a.txt` } })).status, 403);
  assert.deepEqual(snapshot(root), { "alias": "-> dir", "dir/": "dir", "dir/a.txt": "alpha" });
});

test("COPY and MOVE onto a folder that holds the source are 403, and nothing is deleted", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { sub: { "x.txt": "x" }, "keep.txt": "k" } }, EDIT);
  const before = snapshot(root);
  for (const method of ["COPY", "MOVE"]) {
    assert.equal((await dav(port, method, "/dir/sub/x.txt", { headers: { Destination: `${base}/dir/`, Overwrite: "T" } })).status, 403, method);
    assert.equal((await dav(port, method, "/dir/sub/", { headers: { Destination: `${base}/dir`, Overwrite: "T" } })).status, 403, method);
  }
  assert.deepEqual(snapshot(root), before);
});

test("COPY of a folder copies what a reader sees: no dotfile without dotfiles, no link out of the root", async (t) => {
  const outside = tempDir(t, { "secret.txt": "outside" });
  const { root, port, base } = await davServer(t, { src: { ".env": "SECRET=1", "a.txt": "a", "out.txt": { symlink: path.join(outside, "secret.txt") } } }, EDIT);
  assert.equal((await dav(port, "COPY", "/src/", { headers: { Destination: `${base}/dst/` } })).status, 201);
  assert.deepEqual(readdirSync(path.join(root, "dst")), ["a.txt"]);
});

// ---------------------------------------------------------------------------------------------
// Dead properties: PROPPATCH, and how they travel
// ---------------------------------------------------------------------------------------------

async function setColour(port: number, target: string, colour: string): Promise<void> {
  const res = await dav(port, "PROPPATCH", target, { body: proppatchBody(`<D:set><D:prop><Z:colour>${colour}</Z:colour></D:prop></D:set>`) });
  assert.deepEqual(single(res).propstats.map((p) => p.status), [200]);
}

async function colourOf(port: number, target: string): Promise<string | null> {
  const res = await propfind(port, target, "0", propBody(`<Z:colour xmlns:Z="${NS}"/>`));
  const found = propOf(single(res), "colour", NS);
  assert.ok(found);
  return found.status === 200 ? found.element.text : null;
}

test("PROPPATCH sets one property and removes another in one request; PROPFIND shows the result", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  await setColour(port, "/a.txt", "red");
  const res = await dav(port, "PROPPATCH", "/a.txt", {
    body: proppatchBody("<D:set><D:prop><Z:shape>round</Z:shape></D:prop></D:set><D:remove><D:prop><Z:colour/></D:prop></D:remove>"),
  });
  const result = single(res);
  assert.equal(result.href, "/a.txt");
  assert.deepEqual(propNames(result, 200), [`${NS} colour`, `${NS} shape`]);
  assert.deepEqual(result.propstats.map((p) => p.status), [200]);
  const after = single(await propfind(port, "/a.txt", "0", propBody(`<Z:shape xmlns:Z="${NS}"/>`, `<Z:colour xmlns:Z="${NS}"/>`)));
  assert.equal(okProp(after, "shape", NS).text, "round");
  assert.equal(propOf(after, "colour", NS)?.status, 404);
});

test("a dead property shows in allprop and propname", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  await setColour(port, "/a.txt", "red");
  assert.equal(okProp(single(await propfind(port, "/a.txt", "0")), "colour", NS).text, "red");
  const names = single(await propfind(port, "/a.txt", "0", propfindBody("<D:propname/>")));
  assert.equal(okProp(names, "colour", NS).content.length, 0);
});

test("a PROPPATCH value with child elements, attributes and namespaces comes back equivalent", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const value = `<Z:author xmlns:Z="${NS}" xmlns:Q="urn:q"><Q:name Q:lang="fr" kind="full">Zoë &amp; co</Q:name><plain xmlns="">text <b xmlns="urn:b">bold</b></plain></Z:author>`;
  const res = await dav(port, "PROPPATCH", "/a.txt", { body: proppatchBody(`<D:set><D:prop>${value}</D:prop></D:set>`) });
  assert.deepEqual(single(res).propstats.map((p) => p.status), [200]);
  const got = okProp(single(await propfind(port, "/a.txt", "0", propBody(`<Z:author xmlns:Z="${NS}"/>`))), "author", NS);
  const sent = parseXml(Buffer.from(value));
  /** Namespaces, names, attributes and text: what an XML reader can tell apart (prefixes are not). */
  const shape = (element: XmlElement): unknown => ({
    name: `{${element.ns}}${element.local}`,
    attributes: element.attributes.map((a) => `{${a.ns}}${a.local}=${a.value}`).sort(),
    content: element.content.map((part) => (typeof part === "string" ? part : shape(part))),
  });
  assert.deepEqual(shape(got), shape(sent));
});

test("PROPPATCH of a protected property (DAV:getetag) is 207 with 403 for it and 424 for the rest, and nothing is stored", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const etag = (await fetch(`${base}/a.txt`)).headers.get("etag");
  const res = await dav(port, "PROPPATCH", "/a.txt", {
    body: proppatchBody('<D:set><D:prop><Z:colour>red</Z:colour><D:getetag>"forged"</D:getetag></D:prop></D:set>'),
  });
  const result = single(res);
  assert.equal(propOf(result, "getetag")?.status, 403);
  assert.equal(propOf(result, "colour", NS)?.status, 424);
  assert.equal(await colourOf(port, "/a.txt"), null);
  assert.equal(okProp(single(await propfind(port, "/a.txt", "0", propBody("getetag"))), "getetag").text, etag);
});

test("PROPPATCH of a name that does not exist is 404", async (t) => {
  const { root, port } = await davServer(t, {}, EDIT);
  const res = await dav(port, "PROPPATCH", "/missing.txt", { body: proppatchBody("<D:set><D:prop><Z:colour>red</Z:colour></D:prop></D:set>") });
  assert.equal(res.status, 404);
  assert.deepEqual(snapshot(root), {});
});

test("dead properties travel with COPY: the copy has them, and the source keeps them", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha", dir: { "in.txt": "in" } }, EDIT);
  await setColour(port, "/a.txt", "red");
  await setColour(port, "/dir/in.txt", "blue");
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/b.txt` } })).status, 201);
  assert.equal((await dav(port, "COPY", "/dir/", { headers: { Destination: `${base}/dir2/` } })).status, 201);
  assert.equal(await colourOf(port, "/b.txt"), "red");
  assert.equal(await colourOf(port, "/a.txt"), "red");
  assert.equal(await colourOf(port, "/dir2/in.txt"), "blue");
  assert.equal(await colourOf(port, "/dir/in.txt"), "blue");
});

test("dead properties travel with MOVE, and a new file at the old name has none", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha", dir: { "in.txt": "in" } }, EDIT);
  await setColour(port, "/a.txt", "red");
  await setColour(port, "/dir/in.txt", "blue");
  assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/b.txt` } })).status, 201);
  assert.equal((await dav(port, "MOVE", "/dir/", { headers: { Destination: `${base}/dir2/` } })).status, 201);
  assert.equal(await colourOf(port, "/b.txt"), "red");
  assert.equal(await colourOf(port, "/dir2/in.txt"), "blue");
  assert.equal((await dav(port, "PUT", "/a.txt", { body: "new" })).status, 201);
  assert.equal(await colourOf(port, "/a.txt"), null);
  assert.equal((await dav(port, "MKCOL", "/dir/")).status, 201);
  assert.equal((await dav(port, "PUT", "/dir/in.txt", { body: "new" })).status, 201);
  assert.equal(await colourOf(port, "/dir/in.txt"), null);
});

test("dead properties go with DELETE: a new file at the name has none", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha", dir: { "in.txt": "in" } }, EDIT);
  await setColour(port, "/a.txt", "red");
  await setColour(port, "/dir/in.txt", "blue");
  assert.equal((await dav(port, "DELETE", "/a.txt")).status, 204);
  assert.equal((await dav(port, "DELETE", "/dir/")).status, 204);
  assert.equal((await dav(port, "PUT", "/a.txt", { body: "new" })).status, 201);
  assert.equal((await dav(port, "PUT", "/dir/in.txt", { body: "new" })).status, 201);
  assert.equal(await colourOf(port, "/a.txt"), null);
  assert.equal(await colourOf(port, "/dir/in.txt"), null);
});

test("a destination overwritten by COPY loses its own dead properties and takes the source's", async (t) => {
  const { port, base } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta" }, EDIT);
  await setColour(port, "/b.txt", "green");
  const res = await dav(port, "PROPPATCH", "/b.txt", { body: proppatchBody("<D:set><D:prop><Z:shape>square</Z:shape></D:prop></D:set>") });
  assert.equal(res.status, 207);
  await setColour(port, "/a.txt", "red");
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/b.txt` } })).status, 204);
  const after = single(await propfind(port, "/b.txt", "0", propBody(`<Z:colour xmlns:Z="${NS}"/>`, `<Z:shape xmlns:Z="${NS}"/>`)));
  assert.equal(okProp(after, "colour", NS).text, "red");
  assert.equal(propOf(after, "shape", NS)?.status, 404);
});

test("COPY Depth: 0 of a folder takes the folder's dead properties, not its members'", async (t) => {
  const { port, base } = await davServer(t, { src: { "a.txt": "a" } }, EDIT);
  await setColour(port, "/src/", "red");
  await setColour(port, "/src/a.txt", "blue");
  assert.equal((await dav(port, "COPY", "/src/", { headers: { Destination: `${base}/dst/`, Depth: "0" } })).status, 201);
  assert.equal(await colourOf(port, "/dst/"), "red");
  assert.equal((await dav(port, "PUT", "/dst/a.txt", { body: "new" })).status, 201);
  assert.equal(await colourOf(port, "/dst/a.txt"), null);
});

// ---------------------------------------------------------------------------------------------
// LOCK and UNLOCK
// ---------------------------------------------------------------------------------------------

test("an exclusive LOCK is 200 with a Lock-Token header and the lock in a lockdiscovery body", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const res = await lock(port, "/a.txt", "exclusive", { Timeout: "Second-300" });
  assert.equal(res.status, 200);
  assert.match(String(res.headers["lock-token"]), /^<urn:uuid:[0-9a-f-]{36}>$/);
  const [active, ...more] = activeLocks(res.body);
  assert.equal(more.length, 0);
  assert.equal(lockTokenOf(active!), res.token);
  assert.equal(davChild(active!, "lockscope")!.children[0]!.local, "exclusive");
  assert.equal(davChild(active!, "locktype")!.children[0]!.local, "write");
  assert.equal(davChild(active!, "depth")!.text, "0");
  assert.equal(davChild(active!, "timeout")!.text, "Second-300");
  assert.equal(davChild(active!, "owner")!.text, "tester");
  assert.equal(davChild(davChild(active!, "lockroot")!, "href")!.text, "/a.txt");
});

test("a second exclusive LOCK on a locked resource is 423", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  assert.equal((await lock(port, "/a.txt")).status, 200);
  const second = await lock(port, "/a.txt");
  assert.equal(second.status, 423);
  assert.equal(second.headers["lock-token"], undefined);
});

test("two shared LOCKs live together, each with its own token", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const one = await lock(port, "/a.txt", "shared");
  const two = await lock(port, "/a.txt", "shared");
  assert.equal(one.status, 200);
  assert.equal(two.status, 200);
  assert.notEqual(one.token, two.token);
  const discovery = okProp(single(await propfind(port, "/a.txt", "0", propBody("lockdiscovery"))), "lockdiscovery");
  assert.deepEqual(davChildren(discovery, "activelock").map(lockTokenOf).sort(), [one.token, two.token].sort());
});

test("a shared LOCK meets an exclusive one with 423, either way round", async (t) => {
  const { port } = await davServer(t, { "s.txt": "s", "e.txt": "e" }, EDIT);
  assert.equal((await lock(port, "/s.txt", "shared")).status, 200);
  assert.equal((await lock(port, "/s.txt", "exclusive")).status, 423);
  assert.equal((await lock(port, "/e.txt", "exclusive")).status, 200);
  assert.equal((await lock(port, "/e.txt", "shared")).status, 423);
});

test("LOCK on an unmapped URL is 201 and makes an empty file", async (t) => {
  const { root, port } = await davServer(t, {}, EDIT);
  const res = await lock(port, "/new.txt");
  assert.equal(res.status, 201);
  assert.ok(res.token.startsWith("urn:uuid:"));
  assert.equal(statSync(path.join(root, "new.txt")).size, 0);
  assert.ok(statSync(path.join(root, "new.txt")).isFile());
});

test("a LOCK refresh (no body, If: (<token>)) is 200 with the new timeout, the same token", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt", "exclusive", { Timeout: "Second-100" });
  assert.equal(locked.status, 200);
  const refreshed = await dav(port, "LOCK", "/a.txt", { headers: { If: `(<${locked.token}>)`, Timeout: "Second-500" } });
  assert.equal(refreshed.status, 200);
  const [active] = activeLocks(refreshed.body);
  assert.equal(davChild(active!, "timeout")!.text, "Second-500");
  assert.equal(lockTokenOf(active!), locked.token);
});

test("a LOCK refresh with a token that is no lock here is 412", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  assert.equal((await lock(port, "/a.txt")).status, 200);
  const res = await dav(port, "LOCK", "/a.txt", { headers: { If: "(<urn:uuid:00000000-0000-4000-8000-000000000000>)" } });
  assert.equal(res.status, 412);
});

test("Timeout: Second-99999 is capped at an hour", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt", "exclusive", { Timeout: "Second-99999" });
  assert.equal(locked.status, 200);
  assert.equal(davChild(activeLocks(locked.body)[0]!, "timeout")!.text, "Second-3600");
});

test("UNLOCK with the lock's token is 204, and the resource is writable again", async (t) => {
  const { root, port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt");
  assert.equal((await dav(port, "UNLOCK", "/a.txt", { headers: { "Lock-Token": `<${locked.token}>` } })).status, 204);
  assert.equal((await dav(port, "PUT", "/a.txt", { body: "free" })).status, 204);
  assert.equal(read(root, "a.txt"), "free");
  const discovery = okProp(single(await propfind(port, "/a.txt", "0", propBody("lockdiscovery"))), "lockdiscovery");
  assert.equal(davChildren(discovery, "activelock").length, 0);
});

test("UNLOCK with a wrong token is 409 and the lock stays", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha", "b.txt": "beta" }, EDIT);
  const locked = await lock(port, "/a.txt");
  const other = await lock(port, "/b.txt");
  assert.equal((await dav(port, "UNLOCK", "/a.txt", { headers: { "Lock-Token": "<urn:uuid:00000000-0000-4000-8000-000000000000>" } })).status, 409);
  assert.equal((await dav(port, "UNLOCK", "/a.txt", { headers: { "Lock-Token": `<${other.token}>` } })).status, 409);
  assert.equal((await dav(port, "PUT", "/a.txt", { body: "x" })).status, 423);
  assert.equal((await dav(port, "UNLOCK", "/a.txt", { headers: { "Lock-Token": `<${locked.token}>` } })).status, 204);
});

test("UNLOCK without a Lock-Token header is 400", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  assert.equal((await lock(port, "/a.txt")).status, 200);
  assert.equal((await dav(port, "UNLOCK", "/a.txt")).status, 400);
});

test("a depth-infinity LOCK on a folder makes a PUT inside it 423 without the token, 201 with it", async (t) => {
  const { root, port } = await davServer(t, { dir: { sub: {} } }, EDIT);
  const locked = await lock(port, "/dir/", "exclusive", { Depth: "infinity" });
  assert.equal(locked.status, 200);
  assert.equal(davChild(activeLocks(locked.body)[0]!, "depth")!.text, "infinity");
  assert.equal((await dav(port, "PUT", "/dir/sub/new.txt", { body: "x" })).status, 423);
  assert.equal((await dav(port, "MKCOL", "/dir/made/")).status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir", "dir/sub/": "dir" });
  assert.equal((await dav(port, "PUT", "/dir/sub/new.txt", { headers: { If: `(<${locked.token}>)` }, body: "x" })).status, 201);
  assert.equal(read(root, "dir/sub/new.txt"), "x");
});

test("DELETE of a folder with a locked member is 423 without that member's token, 204 with it", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { "locked.txt": "l", "other.txt": "o" } }, EDIT);
  const locked = await lock(port, "/dir/locked.txt");
  assert.equal(locked.status, 200);
  const refused = await dav(port, "DELETE", "/dir/");
  assert.equal(refused.status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir", "dir/locked.txt": "l", "dir/other.txt": "o" });
  const allowed = await dav(port, "DELETE", "/dir/", { headers: { If: `<${base}/dir/locked.txt> (<${locked.token}>)` } });
  assert.equal(allowed.status, 204);
  assert.deepEqual(snapshot(root), {});
});

test("MOVE of a locked file is 423 without its token", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  assert.equal((await lock(port, "/a.txt")).status, 200);
  assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/b.txt` } })).status, 423);
  assert.deepEqual(snapshot(root), { "a.txt": "alpha" });
});

test("MOVE of a locked file with its token in an untagged If list is 201: the list is judged against the Request-URI", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt");
  const res = await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/b.txt`, If: `(<${locked.token}>)` } });
  assert.equal(res.status, 201);
  assert.deepEqual(snapshot(root), { "b.txt": "alpha" });
});

test("a depth-0 LOCK on a folder guards its membership: PUT of a new member, MKCOL, and DELETE, MOVE or COPY of a member are 423 without the token", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { "a.txt": "a" } }, EDIT);
  const locked = await lock(port, "/dir/", "exclusive", { Depth: "0" });
  assert.equal(locked.status, 200);
  const before = snapshot(root);
  assert.equal((await dav(port, "PUT", "/dir/new.txt", { body: "x" })).status, 423, "PUT");
  assert.equal((await dav(port, "MKCOL", "/dir/sub/")).status, 423, "MKCOL");
  assert.equal((await dav(port, "DELETE", "/dir/a.txt")).status, 423, "DELETE");
  assert.equal((await dav(port, "MOVE", "/dir/a.txt", { headers: { Destination: `${base}/out.txt` } })).status, 423, "MOVE");
  assert.equal((await dav(port, "COPY", "/dir/a.txt", { headers: { Destination: `${base}/dir/copy.txt` } })).status, 423, "COPY");
  assert.deepEqual(snapshot(root), before);
});

test("a multipart POST onto a locked file without its token is 423 and the file is unchanged", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt");
  assert.equal(locked.status, 200);
  const { target, headers, body } = writeRequest("POST", base);
  const res = await dav(port, "POST", target, { headers, body: body!.replace("posted.txt", "a.txt") });
  assert.equal(res.status, 423);
  assert.equal(read(root, "a.txt"), "alpha");
});

test("a depth-infinity LOCK on the root guards every write below it", async (t) => {
  const { root, port } = await davServer(t, { dir: {} }, EDIT);
  const locked = await lock(port, "/", "exclusive", { Depth: "infinity" });
  assert.equal(locked.status, 200);
  assert.equal((await dav(port, "PUT", "/dir/x.txt", { body: "x" })).status, 423);
  assert.equal((await dav(port, "MKCOL", "/new/")).status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir" });
});

test("PROPPATCH of a locked resource without its token is 423 and nothing is stored", async (t) => {
  const { port } = await davServer(t, { "a.txt": "alpha" }, EDIT);
  const locked = await lock(port, "/a.txt");
  const res = await dav(port, "PROPPATCH", "/a.txt", { body: proppatchBody("<D:set><D:prop><Z:colour>red</Z:colour></D:prop></D:set>") });
  assert.equal(res.status, 423);
  assert.equal(await colourOf(port, "/a.txt"), null);
  const ok = await dav(port, "PROPPATCH", "/a.txt", { headers: { If: `(<${locked.token}>)` }, body: proppatchBody("<D:set><D:prop><Z:colour>red</Z:colour></D:prop></D:set>") });
  assert.equal(ok.status, 207);
  assert.equal(await colourOf(port, "/a.txt"), "red");
});

test("a depth-0 LOCK on a folder: PUT of a new member passes with the folder's token in a tagged If list", async (t) => {
  const { root, port, base } = await davServer(t, { dir: {} }, EDIT);
  const locked = await lock(port, "/dir/", "exclusive", { Depth: "0" });
  assert.equal((await dav(port, "PUT", "/dir/new.txt", { headers: { If: `<${base}/dir/> (<${locked.token}>)` }, body: "x" })).status, 201);
  assert.equal(read(root, "dir/new.txt"), "x");
});

test("a depth-0 LOCK on a folder does not guard its members' content: PUT onto an existing member is 204", async (t) => {
  const { root, port } = await davServer(t, { dir: { "a.txt": "a" } }, EDIT);
  assert.equal((await lock(port, "/dir/", "exclusive", { Depth: "0" })).status, 200);
  assert.equal((await dav(port, "PUT", "/dir/a.txt", { body: "changed" })).status, 204);
  assert.equal(read(root, "dir/a.txt"), "changed");
});

test("a depth-0 LOCK on a folder: a PUT that would make a folder in it is 423, and no folder is made", async (t) => {
  const { root, port } = await davServer(t, { dir: {} }, EDIT);
  assert.equal((await lock(port, "/dir/", "exclusive", { Depth: "0" })).status, 200);
  assert.equal((await dav(port, "PUT", "/dir/made/deep/x.txt", { body: "x" })).status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir" });
});

test("a depth-0 LOCK on a folder: a LOCK that would make a file in it is 423 without the folder's token", async (t) => {
  const { root, port } = await davServer(t, { dir: {} }, EDIT);
  assert.equal((await lock(port, "/dir/", "exclusive", { Depth: "0" })).status, 200);
  assert.equal((await lock(port, "/dir/new.txt")).status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir" });
});

test("a shared depth-infinity LOCK on a folder: another client's shared LOCK of a new name in it is 423 without its token", async (t) => {
  const { root, port } = await davServer(t, { dir: {} }, EDIT);
  const folder = await lock(port, "/dir/", "shared", { Depth: "infinity" });
  assert.equal(folder.status, 200);
  assert.equal((await lock(port, "/dir/new.txt", "shared")).status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir" });
  assert.equal((await lock(port, "/dir/new.txt", "shared", { If: `(<${folder.token}>)` })).status, 201);
});

test("one member's shared token does not open another member's shared lock: DELETE of their folder is 423", async (t) => {
  const { root, port, base } = await davServer(t, { dir: { "x.txt": "x", "y.txt": "y" } }, EDIT);
  const x = await lock(port, "/dir/x.txt", "shared");
  const y = await lock(port, "/dir/y.txt", "shared");
  assert.equal(x.status, 200);
  assert.equal(y.status, 200);
  assert.equal((await dav(port, "DELETE", "/dir/", { headers: { If: `<${base}/dir/x.txt> (<${x.token}>)` } })).status, 423);
  assert.deepEqual(snapshot(root), { "dir/": "dir", "dir/x.txt": "x", "dir/y.txt": "y" });
  assert.equal((await dav(port, "DELETE", "/dir/", { headers: { If: `<${base}/dir/x.txt> (<${x.token}>) <${base}/dir/y.txt> (<${y.token}>)` } })).status, 204);
});

test("a multipart POST without overwrite beside a locked file of the same name stores a numbered name and leaves the locked one", async (t) => {
  const { root, port, base } = await davServer(t, { "a.txt": "alpha" }, DROP_BOX);
  assert.equal((await lock(port, "/a.txt")).status, 200);
  const { target, headers, body } = writeRequest("POST", base);
  const res = await dav(port, "POST", target, { headers, body: body!.replace("posted.txt", "a.txt") });
  assert.equal(res.status, 201);
  assert.deepEqual(snapshot(root), { "a (1).txt": "posted", "a.txt": "alpha" });
});

// ---------------------------------------------------------------------------------------------
// The drop box: --upload without --overwrite
// ---------------------------------------------------------------------------------------------

test("drop box: DELETE is 403 and nothing changes", async (t) => {
  const { root, port } = await davServer(t, writeTree(), DROP_BOX);
  const before = snapshot(root);
  assert.equal((await dav(port, "DELETE", "/a.txt")).status, 403);
  assert.equal((await dav(port, "DELETE", "/dir/")).status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("drop box: MOVE is 403, to a new name too, and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, writeTree(), DROP_BOX);
  const before = snapshot(root);
  assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/new.txt` } })).status, 403);
  assert.equal((await dav(port, "MOVE", "/a.txt", { headers: { Destination: `${base}/dir/b.txt` } })).status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("drop box: COPY onto an existing resource is 403 and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, { ...writeTree(), other: { "c.txt": "c" } }, DROP_BOX);
  const before = snapshot(root);
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/dir/b.txt` } })).status, 403);
  assert.equal((await dav(port, "COPY", "/other/", { headers: { Destination: `${base}/dir/` } })).status, 403);
  assert.deepEqual(snapshot(root), before);
});

test("drop box: MKCOL, COPY to a new name, LOCK and PUT of a new file work; PUT onto an existing file is 409", async (t) => {
  const { root, port, base } = await davServer(t, writeTree(), DROP_BOX);
  assert.equal((await dav(port, "MKCOL", "/made/")).status, 201);
  assert.equal((await dav(port, "COPY", "/a.txt", { headers: { Destination: `${base}/made/a.txt` } })).status, 201);
  assert.equal((await dav(port, "PUT", "/made/new.txt", { body: "new" })).status, 201);
  const locked = await lock(port, "/made/new.txt");
  assert.equal(locked.status, 200);
  assert.equal((await lock(port, "/made/locked-first.txt")).status, 201);
  assert.equal((await dav(port, "PUT", "/a.txt", { body: "replaced" })).status, 409);
  assert.deepEqual(snapshot(root), {
    "a.txt": "alpha",
    "dir/": "dir",
    "dir/b.txt": "beta",
    "made/": "dir",
    "made/a.txt": "alpha",
    "made/locked-first.txt": "",
    "made/new.txt": "new",
  });
});

// ---------------------------------------------------------------------------------------------
// Without --upload; cross-site writes; --auth
// ---------------------------------------------------------------------------------------------

test("without --upload, each write method is 405 with Allow: GET, HEAD, OPTIONS, PROPFIND, and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, writeTree());
  const before = snapshot(root);
  for (const method of WRITE_METHODS) {
    const { target, headers, body } = writeRequest(method, base);
    const res = await dav(port, method, target, body === undefined ? { headers } : { headers, body });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.allow, "GET, HEAD, OPTIONS, PROPFIND", method);
  }
  assert.deepEqual(snapshot(root), before);
});

test("every write method with a cross-site Origin is 403, and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, writeTree(), EDIT);
  const before = snapshot(root);
  for (const method of WRITE_METHODS) {
    const { target, headers, body } = writeRequest(method, base);
    const all = { ...headers, Origin: "http://evil.example" };
    const res = await dav(port, method, target, body === undefined ? { headers: all } : { headers: all, body });
    assert.equal(res.status, 403, method);
  }
  assert.deepEqual(snapshot(root), before);
  assert.equal(await colourOf(port, "/a.txt"), null);
  assert.equal(davChildren(okProp(single(await propfind(port, "/a.txt", "0", propBody("lockdiscovery"))), "lockdiscovery"), "activelock").length, 0);
});

test("a same-origin Origin is no obstacle to a write", async (t) => {
  const { root, port, base } = await davServer(t, {}, EDIT);
  assert.equal((await dav(port, "MKCOL", "/made/", { headers: { Origin: base } })).status, 201);
  assert.ok(existsSync(path.join(root, "made")));
});

test("with auth, PROPFIND and every write without credentials are 401, and nothing changes", async (t) => {
  const { root, port, base } = await davServer(t, writeTree(), { ...EDIT, auth: [{ user: "ann", password: "secret" }] });
  const before = snapshot(root);
  assert.equal((await propfind(port, "/", "1")).status, 401);
  assert.equal((await propfind(port, "/a.txt", "0")).status, 401);
  for (const method of WRITE_METHODS) {
    const { target, headers, body } = writeRequest(method, base);
    const res = await dav(port, method, target, body === undefined ? { headers } : { headers, body });
    assert.equal(res.status, 401, method);
    assert.match(String(res.headers["www-authenticate"]), /^Basic /, method);
  }
  assert.deepEqual(snapshot(root), before);
  const authorization = `Basic ${Buffer.from("ann:secret").toString("base64")}`;
  assert.equal(multistatus(await propfind(port, "/", "1", undefined, { Authorization: authorization })).length, 3);
});

// ---------------------------------------------------------------------------------------------
// Corners found by reading: answered as GET answers, and never revealing more than a reader sees
// ---------------------------------------------------------------------------------------------

test("PROPFIND of a file asked for as a folder (`/a.txt/`) is 404, as GET answers it", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a" });
  assert.equal((await propfind(port, "/a.txt/", "0")).status, 404);
  assert.equal((await dav(port, "GET", "/a.txt/")).status, 404);
});

test("a lock on a folder names its root with a trailing slash, as PROPFIND names the folder", async (t) => {
  const { port } = await davServer(t, { dir: { "a.txt": "a" } }, { upload: true, overwrite: true });
  const locked = await lock(port, "/dir/");
  assert.equal(locked.status, 200);
  const [active] = activeLocks(locked.body);
  assert.equal(davChild(davChild(active!, "lockroot")!, "href")!.text, "/dir/");
  const refused = await dav(port, "PUT", "/dir/a.txt", { body: "b" });
  assert.equal(refused.status, 423);
  const root = parseXml(refused.body);
  assert.equal(davChild(davChild(root, "lock-token-submitted")!, "href")!.text, "/dir/");
});

test("a cross-site PUT onto a locked file is refused as cross-site (403), not told of the lock (423)", async (t) => {
  const { port, root } = await davServer(t, { "a.txt": "a" }, { upload: true, overwrite: true });
  assert.equal((await lock(port, "/a.txt")).status, 200);
  const res = await dav(port, "PUT", "/a.txt", { body: "evil", headers: { Origin: "http://evil.example" } });
  assert.equal(res.status, 403);
  assert.equal(read(root, "a.txt"), "a");
});

test("in a drop box, DELETE and MOVE of nothing are 404 (there is nothing to refuse)", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a" }, { upload: true });
  assert.equal((await dav(port, "DELETE", "/missing.txt")).status, 404);
  assert.equal((await dav(port, "MOVE", "/missing.txt", { headers: { Destination: `http://127.0.0.1:${port}/b.txt` } })).status, 404);
  assert.equal((await dav(port, "DELETE", "/a.txt")).status, 403);
});

test("a dead property keeps its xml:lang, its own or inherited from the request around it (RFC 4918 §4.3)", async (t) => {
  const { port } = await davServer(t, { "a.txt": "a" }, EDIT);
  const set = await dav(port, "PROPPATCH", "/a.txt", {
    body: proppatchBody(`<D:set><D:prop><Z:title xml:lang="fr">Bonjour</Z:title></D:prop></D:set><D:set xml:lang="de"><D:prop><Z:note>Hallo</Z:note><Z:plain xml:lang="en">Hi</Z:plain></D:prop></D:set>`),
  });
  assert.equal(single(set).propstats[0]!.status, 200);
  const XML_NS = "http://www.w3.org/XML/1998/namespace";
  const langOf = (element: XmlElement) => element.attributes.find((a) => a.ns === XML_NS && a.local === "lang")?.value;
  const all = single(await propfind(port, "/a.txt", "0"));
  assert.equal(langOf(okProp(all, "title", NS)), "fr");
  assert.equal(langOf(okProp(all, "note", NS)), "de");
  assert.equal(langOf(okProp(all, "plain", NS)), "en");
  const named = single(await propfind(port, "/a.txt", "0", propBody(`<Z:title xmlns:Z="${NS}"/>`)));
  assert.equal(langOf(okProp(named, "title", NS)), "fr");
  assert.equal(okProp(named, "title", NS).text, "Bonjour");
});

// ---------------------------------------------------------------------------------------------
// A drop box with the clients that make a file empty, then fill it (Finder, Windows, davfs2)
// ---------------------------------------------------------------------------------------------

test("in a drop box, a PUT fills the empty file its own LOCK made (201), once: the next PUT is 409", async (t) => {
  const { port, root } = await davServer(t, { dir: {} }, DROP_BOX);
  const locked = await lock(port, "/dir/new.txt");
  assert.equal(locked.status, 201);
  assert.equal(read(root, "dir/new.txt"), "");
  const filled = await dav(port, "PUT", "/dir/new.txt", { body: "contents", headers: { If: `(<${locked.token}>)` } });
  assert.equal(filled.status, 204);
  assert.equal(read(root, "dir/new.txt"), "contents");
  const again = await dav(port, "PUT", "/dir/new.txt", { body: "replaced", headers: { If: `(<${locked.token}>)` } });
  assert.equal(again.status, 409);
  assert.equal(read(root, "dir/new.txt"), "contents");
});

test("in a drop box, an empty PUT then a PUT of the bytes stores them (Windows' and Finder's way); a third PUT is 409", async (t) => {
  const { port, root } = await davServer(t, {}, DROP_BOX);
  assert.equal((await dav(port, "PUT", "/n.txt", { body: "" })).status, 201);
  assert.equal((await dav(port, "PUT", "/n.txt", { body: "bytes" })).status, 204);
  assert.equal(read(root, "n.txt"), "bytes");
  assert.equal((await dav(port, "PUT", "/n.txt", { body: "" })).status, 409);
  assert.equal(read(root, "n.txt"), "bytes");
});

test("in a drop box, an empty file the server did not make stays unreplaceable (409)", async (t) => {
  const { port, root } = await davServer(t, { "empty.txt": "" }, DROP_BOX);
  assert.equal((await dav(port, "PUT", "/empty.txt", { body: "evil" })).status, 409);
  assert.equal(read(root, "empty.txt"), "");
});
