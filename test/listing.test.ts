/**
 * The HTML folder listing (issue section 7), against a real server on a real socket, with real
 * files (odd names included) built in temporary folders at test time.
 */
import assert from "node:assert/strict";
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { eventually, rawRequest, request, serve, startCli, tempDir, unprivilegedServer } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Reading the page the way a browser would, without a browser
// ---------------------------------------------------------------------------------------------

/** Decodes the character references an HTML escaper produces (named basics and numeric ones). */
function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
  return text.replace(/&(#[xX][0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref[0] === "#") return String.fromCodePoint(ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10));
    return named[ref] ?? whole;
  });
}

function stripTags(html: string): string {
  return html.replace(/<[^>]*>/g, "");
}

interface ListedEntry {
  /** The href attribute, entities decoded. */
  href: string;
  /** The link's text, entities decoded. */
  text: string;
  /** The link's text exactly as it appears in the HTML. */
  rawText: string;
  /** The whole row (or list item) holding the link, as HTML. */
  rowHtml: string;
  /** The row's visible text: tags turned into spaces, entities decoded, whitespace collapsed. */
  rowText: string;
  /** Every class named on the row or anything inside it. */
  classes: string[];
}

/** Every row (`<tr>` or `<li>`) of the page that holds a link, in page order; the column headings (`<thead>`, whose links sort) are not entries. */
function listedEntries(html: string): ListedEntry[] {
  const entries: ListedEntry[] = [];
  for (const row of html.replace(/<thead\b[\s\S]*?<\/thead>/gi, "").matchAll(/<(tr|li)\b[^>]*>[\s\S]*?<\/\1>/gi)) {
    const rowHtml = row[0];
    const link = /<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a>/i.exec(rowHtml);
    if (!link) continue;
    const classes = [...rowHtml.matchAll(/\bclass\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].flatMap((m) => (m[1] ?? m[2] ?? "").split(/\s+/)).filter(Boolean);
    entries.push({
      href: decodeEntities(link[1] ?? link[2] ?? ""),
      text: decodeEntities(stripTags(link[3]!)),
      rawText: link[3]!,
      rowHtml,
      rowText: decodeEntities(rowHtml.replace(/<[^>]*>/g, " ")).replace(/\s+/g, " ").trim(),
      classes,
    });
  }
  return entries;
}

/** The entries of a listing served at `listingPath`, without the link to the parent folder. */
function childEntries(html: string, listingPath: string): ListedEntry[] {
  const parent = new URL("../", `http://x${listingPath}`).pathname;
  return listedEntries(html).filter((e) => listingPath === "/" || new URL(e.href, `http://x${listingPath}`).pathname !== parent);
}

/** Percent-decodes a URL path segment into the bytes it stands for. */
function percentDecodeBytes(segment: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    if (segment[i] === "%" && /^[0-9a-fA-F]{2}$/.test(segment.slice(i + 1, i + 3))) {
      bytes.push(parseInt(segment.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(segment[i]!, "utf8"));
    }
  }
  return Buffer.from(bytes);
}

/** The name a link points to: the last segment of its resolved path, as bytes. */
function linkTargetName(href: string, listingUrl: string): { pathname: string; name: Buffer } {
  const url = new URL(href, listingUrl);
  const segments = url.pathname.replace(/\/$/, "").split("/");
  return { pathname: url.pathname, name: percentDecodeBytes(segments[segments.length - 1]!) };
}

/**
 * Fetches the listing of `folder` and asserts its links name exactly `expectedHexNames` (each
 * name's bytes in hex, so names that are not UTF-8 compare exactly).
 */
async function listingLinkingExactly(server: { port: number; base: string }, folder: string, expectedHexNames: string[], message: string) {
  const listingUrl = `${server.base}${folder}`;
  const res = await request(server.port, folder);
  assert.equal(res.status, 200);
  const entries = childEntries(res.body.toString("utf8"), folder);
  const linked = entries.map((e) => linkTargetName(e.href, listingUrl).name.toString("hex")).sort();
  assert.deepEqual(linked, [...expectedHexNames].sort(), message);
  return { entries, listingUrl };
}

function textOf(html: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}\\b[^>]*>([\\s\\S]*?)</${tag}>`, "i").exec(html);
  return match ? decodeEntities(stripTags(match[1]!)) : undefined;
}

/** Writes a file whose name is given as raw bytes (which need not be UTF-8). */
function writeFileBytes(dir: string, name: Buffer, content: string | Buffer): void {
  writeFileSync(Buffer.concat([Buffer.from(dir + "/"), name]), content);
}

function mkdirBytes(dir: string, name: Buffer): Buffer {
  const full = Buffer.concat([Buffer.from(dir + "/"), name]);
  mkdirSync(full);
  return full;
}

function show(name: Buffer): string {
  return `${JSON.stringify(name.toString("utf8"))} (hex ${name.toString("hex")})`;
}

const SIZE_PATTERN = /\d+(?:\.\d+)?\s*(?:B|KiB|MiB|GiB|kB|KB|MB|bytes?)\b/;

// ---------------------------------------------------------------------------------------------
// The page itself
// ---------------------------------------------------------------------------------------------

test("a folder listing is an HTML5 page served as text/html; charset=utf-8", async (t) => {
  const root = tempDir(t, { docs: { "a.txt": "a" } });
  const server = await serve(t, { root });
  const res = await request(server.port, "/docs/");
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "text/html; charset=utf-8");
  const html = res.body.toString("utf8");
  assert.match(html, /^\s*<!DOCTYPE html>/i, "starts with the HTML5 doctype");
  assert.match(html, /<meta\s+charset=["']?utf-8["']?\s*\/?>/i, "declares utf-8");
});

test("the title and the heading both read 'Directory listing for /path/'", async (t) => {
  const root = tempDir(t, { docs: { api: { "a.txt": "a" } } });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/docs/api/")).body.toString("utf8");
  assert.equal(textOf(html, "title"), "Directory listing for /docs/api/");
  assert.equal(textOf(html, "h1"), "Directory listing for /docs/api/");
});

test("the root listing is titled 'Directory listing for /'", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  assert.equal(textOf(html, "title"), "Directory listing for /");
  assert.equal(textOf(html, "h1"), "Directory listing for /");
});

test("a listing carries Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const res = await request(server.port, "/");
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-security-policy"], "default-src 'none'; style-src 'unsafe-inline'");
});

test("a listing has no script and loads no external resource", async (t) => {
  const root = tempDir(t, { "a.txt": "a", sub: { "b.txt": "b" } });
  const server = await serve(t, { root });
  for (const target of ["/", "/sub/"]) {
    const html = (await request(server.port, target)).body.toString("utf8");
    assert.doesNotMatch(html, /<script\b/i, `${target}: no <script>`);
    assert.doesNotMatch(html, /\bon[a-z]+\s*=/i, `${target}: no inline event handler`);
    assert.doesNotMatch(html, /\b(?:src|href|action|poster|srcset|data)\s*=\s*["']?\s*(?:https?:)?\/\//i, `${target}: no src=/href= to another origin`);
    assert.doesNotMatch(html, /url\(\s*["']?\s*(?:https?:)?\/\//i, `${target}: no CSS url() to another origin`);
    assert.doesNotMatch(html, /@import\b/i, `${target}: no CSS @import`);
    assert.doesNotMatch(html, /<(?:link|iframe|object|embed|img)\b/i, `${target}: no element that loads a resource`);
  }
});

test("a listing has a viewport meta tag for phones", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  assert.match(html, /<meta\b[^>]*\bname=["']?viewport["']?[^>]*>/i);
});

test("a listing's CSS follows prefers-color-scheme: dark", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  const css = [...html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi)].map((m) => m[1]).join("\n");
  assert.match(css, /@media[^{]*prefers-color-scheme:\s*dark/i);
});

test("HEAD on a listing sends the listing's headers and no body", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a", "b.txt": "b" } });
  const server = await serve(t, { root });
  const get = await request(server.port, "/sub/");
  // The page names its own URL (its QR code), so the HEAD sends the same Host as the GET.
  const head = await rawRequest(server.port, `HEAD /sub/ HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`);
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(head.headers.get("content-security-policy"), "default-src 'none'; style-src 'unsafe-inline'");
  assert.equal(head.headers.get("content-length"), String(get.body.length), "Content-Length is the GET body's length");
  assert.equal(head.body.length, 0, "no body bytes after the headers");
});

// ---------------------------------------------------------------------------------------------
// Escaping
// ---------------------------------------------------------------------------------------------

test("a file named like an <img onerror> tag is listed escaped, never as a tag", async (t) => {
  const name = "<img src=x onerror=alert(1)>.txt";
  const root = tempDir(t, { [name]: "x" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  assert.doesNotMatch(html, /<img/i, "no <img tag anywhere in the page");
  const [entry] = childEntries(html, "/");
  assert.ok(entry, "the file is listed");
  assert.equal(entry.text, name, "the link text decodes to the name");
  assert.doesNotMatch(entry.rawText, /[<>]/, "the link text holds no raw < or >");
});

test("the characters & < > \" ' in a name are escaped in the link text and the href", async (t) => {
  const name = `a&b<c>d"e'f.txt`;
  const root = tempDir(t, { [name]: "x" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  const [entry] = childEntries(html, "/");
  assert.ok(entry, "the file is listed");
  assert.equal(entry.text, name);
  assert.doesNotMatch(entry.rawText, /[<>"']/, "no raw < > \" ' in the text");
  assert.doesNotMatch(entry.rawText, /&(?!(?:#\d+|#x[0-9a-f]+|[a-z]+);)/i, "every & starts a character reference");
  const rawHref = /<a\b[^>]*?\bhref\s*=\s*"([^"]*)"/i.exec(entry.rowHtml)?.[1] ?? /<a\b[^>]*?\bhref\s*=\s*'([^']*)'/i.exec(entry.rowHtml)?.[1];
  assert.ok(rawHref !== undefined, "the href is a quoted attribute");
  assert.doesNotMatch(rawHref, /[<>"']/, "no raw < > \" ' in the href");
});

test("a folder's odd name is escaped in the title and the heading", async (t) => {
  const folder = `<i>&"'`;
  const root = tempDir(t, { [folder]: { "a.txt": "a" } });
  const server = await serve(t, { root });
  const res = await request(server.port, "/" + encodeURIComponent(folder) + "/");
  assert.equal(res.status, 200);
  const html = res.body.toString("utf8");
  assert.doesNotMatch(html, /<i>/, "the name never becomes a tag");
  assert.equal(textOf(html, "title"), `Directory listing for /${folder}/`);
  assert.equal(textOf(html, "h1"), `Directory listing for /${folder}/`);
});

// ---------------------------------------------------------------------------------------------
// Round-trip: every link fetches exactly the thing it names
// ---------------------------------------------------------------------------------------------

/** File names no client library would send unchanged. All but the last few are valid UTF-8. */
const ODD_FILE_NAMES: Buffer[] = [
  "with space.txt",
  "  leading and trailing  ",
  "100%.txt",
  "%41.txt", // literal: must not be fetched as A.txt
  "A.txt", // the file %41.txt must not be confused with
  "%2e%2e", // literal
  "a%2Fb.txt", // literal
  "%", // a lone percent sign
  "#hash.txt",
  "what?.txt",
  "?",
  "&<>\"'.txt",
  "<img src=x onerror=alert(1)>.txt",
  "plus+semi;comma,eq=at@dollar$.txt",
  "paren(1) [2] {3}.txt",
  "back\\slash.txt",
  "café.txt".normalize("NFC"),
  "café.txt".normalize("NFD"), // same look, other bytes: a separate file
  "日本語.txt",
  "emoji 🎉.txt",
  "new\nline.txt",
  "tab\there.txt",
  "carriage\rreturn.txt",
  "esc\x1b[31m.txt",
  "del\x7f.txt",
  "~tilde-dash_under.score",
  "x..y",
].map((s) => Buffer.from(s, "utf8"));

/** Names that are not valid UTF-8 (Linux allows any bytes but `/` and NUL). */
const NON_UTF8_FILE_NAMES: Buffer[] = [
  Buffer.from([0x66, 0xff, 0x2e, 0x74]), // f\xff.t
  Buffer.from([0x66, 0xfe, 0x2e, 0x74]), // f\xfe.t: displays the same as the one above
  Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]), // café.txt in latin1
  Buffer.from([0xc3, 0x28, 0x2e, 0x74, 0x78, 0x74]), // a broken two-byte sequence
  Buffer.from([0xed, 0xa0, 0x80, 0x2e, 0x74]), // an encoded surrogate
];

test("every link in a listing of odd file names fetches exactly that file", async (t) => {
  const root = tempDir(t, { odd: {} });
  const dir = path.join(root, "odd");
  const names = [...ODD_FILE_NAMES, ...NON_UTF8_FILE_NAMES];
  const contentOf = new Map<string, string>();
  names.forEach((name, i) => {
    const content = `file #${i}: ${name.toString("hex")}\n`;
    writeFileBytes(dir, name, content);
    contentOf.set(name.toString("hex"), content);
  });
  const server = await serve(t, { root });
  const { entries, listingUrl } = await listingLinkingExactly(server, "/odd/", [...contentOf.keys()], "one link per file, each naming that file's exact bytes");

  for (const name of names) {
    await t.test(`${show(name)} round-trips`, async () => {
      const entry = entries.find((e) => linkTargetName(e.href, listingUrl).name.equals(name));
      assert.ok(entry, `${show(name)} is listed`);
      const { pathname } = linkTargetName(entry.href, listingUrl);
      assert.match(pathname, /^\/odd\/[^/]+$/, "the link stays in the folder and names one file");
      const file = await request(server.port, pathname);
      assert.equal(file.status, 200, `GET ${pathname}`);
      assert.equal(file.body.toString("utf8"), contentOf.get(name.toString("hex")), `GET ${pathname} returns that file's content`);
      if (!NON_UTF8_FILE_NAMES.includes(name)) assert.equal(entry.text, name.toString("utf8"), "the link text shows the name");
    });
  }
});

/** Folder names to round-trip; each holds one file, `inside.txt`. */
const ODD_FOLDER_NAMES: Buffer[] = [
  ...["dir with space", "dir #1", "dir?x", `dir&<>"'`, "100%", "%41", "dír".normalize("NFC"), "dír".normalize("NFD"), "new\nline", "tab\tdir"].map((s) => Buffer.from(s, "utf8")),
  Buffer.from([0x64, 0xfe]), // d\xfe: not UTF-8
];

test("every folder link in a listing of odd folder names ends in / and opens that folder's listing", async (t) => {
  const root = tempDir(t, { odd: {} });
  const dir = path.join(root, "odd");
  const contentOf = new Map<string, string>();
  ODD_FOLDER_NAMES.forEach((name, i) => {
    const full = mkdirBytes(dir, name);
    const content = `inside folder #${i}\n`;
    writeFileSync(Buffer.concat([full, Buffer.from("/inside.txt")]), content);
    contentOf.set(name.toString("hex"), content);
  });
  const server = await serve(t, { root });
  const { entries, listingUrl } = await listingLinkingExactly(server, "/odd/", [...contentOf.keys()], "one link per folder, each naming that folder's exact bytes");

  for (const name of ODD_FOLDER_NAMES) {
    await t.test(`folder ${show(name)} round-trips`, async () => {
      const entry = entries.find((e) => linkTargetName(e.href, listingUrl).name.equals(name));
      assert.ok(entry, `${show(name)} is listed`);
      assert.ok(entry.href.endsWith("/"), `the href ${JSON.stringify(entry.href)} ends with /`);
      assert.ok(entry.text.endsWith("/"), `the text ${JSON.stringify(entry.text)} ends with /`);
      const folderUrl = new URL(entry.href, listingUrl);
      const sub = await request(server.port, folderUrl.pathname);
      assert.equal(sub.status, 200, `GET ${folderUrl.pathname}`);
      const subHtml = sub.body.toString("utf8");
      assert.match(textOf(subHtml, "title") ?? "", /^Directory listing for /);
      if (!name.equals(Buffer.from([0x64, 0xfe]))) assert.equal(textOf(subHtml, "title"), `Directory listing for /odd/${name.toString("utf8")}/`);
      const inside = childEntries(subHtml, folderUrl.pathname);
      assert.equal(inside.length, 1, "the folder's listing shows its one file");
      const fileUrl = new URL(inside[0]!.href, folderUrl);
      const file = await request(server.port, fileUrl.pathname);
      assert.equal(file.status, 200, `GET ${fileUrl.pathname}`);
      assert.equal(file.body.toString("utf8"), contentOf.get(name.toString("hex")));
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Order, columns, navigation
// ---------------------------------------------------------------------------------------------

test("folders come first with a trailing /, then files, each in case-insensitive natural order", async (t) => {
  const root = tempDir(t, {
    "file10.txt": "x",
    "file2.txt": "x",
    "File1.txt": "x",
    "c.txt": "x",
    "B.txt": "x",
    "a.txt": "x",
    zeta: {},
    beta10: {},
    Alpha: {},
    beta9: {},
  });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  assert.deepEqual(
    childEntries(html, "/").map((e) => e.text),
    ["Alpha/", "beta9/", "beta10/", "zeta/", "a.txt", "B.txt", "c.txt", "File1.txt", "file2.txt", "file10.txt"],
  );
});

test("folder links end with / and file links do not", async (t) => {
  const root = tempDir(t, { folder: {}, "file.txt": "x" });
  const server = await serve(t, { root });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  assert.deepEqual(
    entries.map((e) => e.href.replace(/^\.\//, "")),
    ["folder/", "file.txt"],
  );
});

test("the size column is human readable: 512 B, 1.5 KiB", async (t) => {
  const root = tempDir(t, { "small.bin": Buffer.alloc(512), "medium.bin": Buffer.alloc(1536) });
  const server = await serve(t, { root });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  const row = (name: string) => entries.find((e) => e.text === name)?.rowText ?? assert.fail(`${name} is not listed`);
  assert.match(row("small.bin"), /(^|[^\d.])512 B\b/);
  assert.match(row("medium.bin"), /(^|[^\d.])1\.5 KiB\b/);
});

test("each file's row shows its last-modified date", async (t) => {
  const root = tempDir(t, { "old.txt": "old", "older.txt": "older" });
  utimesSync(path.join(root, "old.txt"), new Date("2021-03-04T05:06:07Z"), new Date("2021-03-04T05:06:07Z"));
  utimesSync(path.join(root, "older.txt"), new Date("2009-10-11T12:13:14Z"), new Date("2009-10-11T12:13:14Z"));
  const server = await serve(t, { root });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  const row = (name: string) => entries.find((e) => e.text === name)?.rowText ?? assert.fail(`${name} is not listed`);
  assert.match(row("old.txt"), /2021/);
  assert.match(row("older.txt"), /2009/);
  assert.doesNotMatch(row("old.txt"), /2009/);
});

test("a subfolder's listing links ../ to its parent", async (t) => {
  const root = tempDir(t, { sub: { deeper: { "a.txt": "a" } } });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/sub/deeper/")).body.toString("utf8");
  const parent = listedEntries(html).find((e) => e.text === "../");
  assert.ok(parent, "a ../ link is listed");
  assert.equal(new URL(parent.href, `${server.base}/sub/deeper/`).pathname, "/sub/");
  const up = await request(server.port, "/sub/");
  assert.equal(up.status, 200);
});

test("the root listing has no ../ link", async (t) => {
  const root = tempDir(t, { sub: {}, "a.txt": "a" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  const hrefs = listedEntries(html).map((e) => new URL(e.href, `${server.base}/`).pathname);
  assert.deepEqual(hrefs.sort(), ["/a.txt", "/sub/"]);
  assert.doesNotMatch(html, /href\s*=\s*["']?(?:\.\/)?\.\.\//i);
});

test("a folder of 1000 entries lists all 1000", async (t) => {
  const root = tempDir(t, { many: {} });
  const names = Array.from({ length: 1000 }, (_, i) => `entry-${String(i).padStart(4, "0")}.txt`);
  for (const name of names) writeFileSync(path.join(root, "many", name), name);
  const server = await serve(t, { root });
  const res = await request(server.port, "/many/");
  assert.equal(res.status, 200);
  const listed = childEntries(res.body.toString("utf8"), "/many/").map((e) => e.text);
  assert.equal(listed.length, 1000);
  assert.deepEqual(listed, names);
});

// ---------------------------------------------------------------------------------------------
// Symlinks, dotfiles, entries that cannot be read
// ---------------------------------------------------------------------------------------------

test("a symlink is marked with class \"symlink\" and its link opens the target", async (t) => {
  const root = tempDir(t, { "real.txt": "the real one", "link.txt": { symlink: "real.txt" }, "plain.txt": "plain" });
  const server = await serve(t, { root });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  const link = entries.find((e) => e.text === "link.txt");
  assert.ok(link, "the symlink is listed");
  assert.ok(link.classes.includes("symlink"), `classes: ${link.classes.join(" ")}`);
  assert.ok(!entries.find((e) => e.text === "plain.txt")!.classes.includes("symlink"), "a plain file is not marked");
  const res = await request(server.port, new URL(link.href, `${server.base}/`).pathname);
  assert.equal(res.body.toString(), "the real one");
});

test("a dangling symlink is listed without size or date and the page still answers 200", async (t) => {
  const root = tempDir(t, { "gone.txt": { symlink: "nowhere.txt" }, "here.txt": "here" });
  const server = await serve(t, { root });
  const res = await request(server.port, "/");
  assert.equal(res.status, 200);
  const entries = childEntries(res.body.toString("utf8"), "/");
  const gone = entries.find((e) => e.text === "gone.txt");
  assert.ok(gone, "the dangling link is listed");
  const details = gone.rowText.replace("gone.txt", "");
  assert.doesNotMatch(details, SIZE_PATTERN, "no size");
  assert.doesNotMatch(details, /\d{4}|\d{1,2}:\d{2}/, "no date");
  assert.ok(entries.find((e) => e.text === "here.txt"), "the other file is listed too");
});

test("a symlink loop is listed without details and does not break the page", async (t) => {
  const root = tempDir(t, { "loop-a": { symlink: "loop-b" }, "loop-b": { symlink: "loop-a" }, "ok.txt": "ok" });
  const server = await serve(t, { root });
  const res = await request(server.port, "/");
  assert.equal(res.status, 200);
  const texts = childEntries(res.body.toString("utf8"), "/").map((e) => e.text.replace(/\/$/, ""));
  assert.deepEqual(texts.sort(), ["loop-a", "loop-b", "ok.txt"]);
});

test("dotfiles are hidden from a listing by default", async (t) => {
  const root = tempDir(t, { ".hidden.txt": "h", ".config": { "x.txt": "x" }, "shown.txt": "s" });
  const server = await serve(t, { root });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  assert.deepEqual(
    entries.map((e) => e.text),
    ["shown.txt"],
  );
});

test("dotfiles are listed, and their links work, with dotfiles: true", async (t) => {
  const root = tempDir(t, { ".hidden.txt": "hidden content", ".config": { "x.txt": "x" }, "shown.txt": "s" });
  const server = await serve(t, { root, dotfiles: true });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  assert.deepEqual(
    entries.map((e) => e.text),
    [".config/", ".hidden.txt", "shown.txt"],
  );
  const hidden = entries.find((e) => e.text === ".hidden.txt")!;
  const res = await request(server.port, new URL(hidden.href, `${server.base}/`).pathname);
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "hidden content");
});

test("symlinks leading outside the root are not listed", async (t) => {
  const base = tempDir(t, {
    "outside.txt": "secret",
    outsidedir: { "s.txt": "secret" },
    "root-secret": { "s.txt": "secret next door" }, // shares the root's name as a prefix
    root: {
      "inside.txt": "inside",
      "link-in.txt": { symlink: "inside.txt" },
      "link-out.txt": { symlink: "../outside.txt" },
      "dir-out": { symlink: "../outsidedir" },
      "prefix-out.txt": { symlink: "../root-secret/s.txt" },
    },
  });
  symlinkSync(path.join(base, "outside.txt"), path.join(base, "root", "abs-out.txt"));
  const server = await serve(t, { root: path.join(base, "root") });
  const res = await request(server.port, "/");
  assert.equal(res.status, 200);
  const texts = childEntries(res.body.toString("utf8"), "/").map((e) => e.text);
  assert.deepEqual(texts, ["inside.txt", "link-in.txt"]);
});

test("an entry that cannot be read does not break the listing", async (t) => {
  // Root ignores file modes, so the server runs as `nobody` when the tests run as root.
  const server = unprivilegedServer(t);
  if (server === null) return;
  const root = tempDir(t, {
    "ok.txt": "ok",
    "secret.txt": "secret",
    locked: { "x.txt": "x" },
    "peek.txt": { symlink: "locked/x.txt" }, // cannot even be stat'ed
    open: { "y.txt": "y" },
  });
  chmodSync(root, 0o755);
  chmodSync(path.join(root, "open"), 0o755);
  chmodSync(path.join(root, "secret.txt"), 0o000);
  chmodSync(path.join(root, "locked"), 0o000);
  try {
    const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "-q"], server);
    const res = await request(cli.port, "/");
    assert.equal(res.status, 200);
    const entries = childEntries(res.body.toString("utf8"), "/");
    const texts = entries.map((e) => e.text);
    for (const expected of ["locked/", "open/", "ok.txt", "secret.txt"]) assert.ok(texts.includes(expected), `${expected} is listed; got ${texts.join(", ")}`);
    assert.ok(texts.some((text) => text.startsWith("peek.txt")), `peek.txt is listed; got ${texts.join(", ")}`);
    assert.match(entries.find((e) => e.text === "ok.txt")!.rowText, /2 B/, "readable entries keep their details");
    // The server really could not stat peek.txt (so it ran without privileges): no size shown.
    const peek = entries.find((e) => e.text.startsWith("peek.txt"))!;
    assert.doesNotMatch(peek.rowText.replace("peek.txt", ""), SIZE_PATTERN, "the entry that cannot be stat'ed has no size");
  } finally {
    chmodSync(path.join(root, "secret.txt"), 0o644);
    chmodSync(path.join(root, "locked"), 0o755);
  }
});

test("a symlink to a folder inside the root is listed among the folders", async (t) => {
  const root = tempDir(t, { target: { "t.txt": "t" }, "a-link": { symlink: "target" }, "0.txt": "0" });
  const server = await serve(t, { root });
  const entries = childEntries((await request(server.port, "/")).body.toString("utf8"), "/");
  assert.deepEqual(
    entries.map((e) => e.text),
    ["a-link/", "target/", "0.txt"],
  );
  const link = entries[0]!;
  assert.ok(link.classes.includes("symlink"));
  const res = await request(server.port, new URL(link.href, `${server.base}/`).pathname);
  assert.equal(res.status, 200);
  assert.ok(childEntries(res.body.toString("utf8"), "/a-link/").some((e) => e.text === "t.txt"), "the folder link opens the target's listing");
});

// ---------------------------------------------------------------------------------------------
// Issue 10: sorting, filtering, pages, breadcrumbs, the footer, the grid, and JSON for programs
// ---------------------------------------------------------------------------------------------

interface JsonEntry {
  name: string;
  type: "directory" | "file" | "other";
  mtime?: string;
  size?: number;
  href: string;
}

async function listingJson(port: number, target: string, headers: Record<string, string> = {}): Promise<{ res: Awaited<ReturnType<typeof request>>; entries: JsonEntry[] }> {
  const res = await request(port, target, { headers });
  assert.equal(res.status, 200, `GET ${target}`);
  assert.equal(res.headers["content-type"], "application/json; charset=utf-8", `GET ${target} is JSON`);
  return { res, entries: JSON.parse(res.body.toString("utf8")) as JsonEntry[] };
}

/** The names a page lists, in page order (folders with their trailing /). */
async function pageNames(port: number, target: string): Promise<string[]> {
  const res = await request(port, target);
  assert.equal(res.status, 200, `GET ${target}`);
  const folder = target.split("?")[0]!;
  return childEntries(res.body.toString("utf8"), folder).map((e) => e.text);
}

function setMtime(file: string, iso: string): void {
  utimesSync(file, new Date(iso), new Date(iso));
}

/** A folder with folders and files of known sizes and dates, for the order tests. */
function sortableTree(t: import("node:test").TestContext): string {
  const root = tempDir(t, {
    "b-folder": {},
    "a-folder": {},
    "small.txt": "x",
    "big.bin": Buffer.alloc(3000),
    "medium.md": Buffer.alloc(200),
    "File10.txt": "1234",
    "file9.txt": "12345",
  });
  setMtime(path.join(root, "small.txt"), "2020-01-01T00:00:00Z");
  setMtime(path.join(root, "big.bin"), "2022-01-01T00:00:00Z");
  setMtime(path.join(root, "medium.md"), "2021-01-01T00:00:00Z");
  setMtime(path.join(root, "File10.txt"), "2019-01-01T00:00:00Z");
  setMtime(path.join(root, "file9.txt"), "2023-01-01T00:00:00Z");
  setMtime(path.join(root, "a-folder"), "2024-01-01T00:00:00Z");
  setMtime(path.join(root, "b-folder"), "2018-01-01T00:00:00Z");
  return root;
}

const SORTS: Array<{ query: string; order: string[] }> = [
  { query: "", order: ["a-folder/", "b-folder/", "big.bin", "file9.txt", "File10.txt", "medium.md", "small.txt"] },
  { query: "?sort=name&order=desc", order: ["b-folder/", "a-folder/", "small.txt", "medium.md", "File10.txt", "file9.txt", "big.bin"] },
  { query: "?sort=size", order: ["a-folder/", "b-folder/", "small.txt", "File10.txt", "file9.txt", "medium.md", "big.bin"] },
  { query: "?sort=size&order=desc", order: ["b-folder/", "a-folder/", "big.bin", "medium.md", "file9.txt", "File10.txt", "small.txt"] },
  { query: "?sort=mtime", order: ["b-folder/", "a-folder/", "File10.txt", "small.txt", "medium.md", "big.bin", "file9.txt"] },
  { query: "?sort=mtime&order=desc", order: ["a-folder/", "b-folder/", "file9.txt", "big.bin", "medium.md", "small.txt", "File10.txt"] },
];

for (const { query, order } of SORTS) {
  test(`the listing${query || " (default)"} is in that order, folders first, in HTML and in JSON alike`, async (t) => {
    const root = sortableTree(t);
    const server = await serve(t, { root });
    assert.deepEqual(await pageNames(server.port, `/${query}`), order, "HTML");
    const { entries } = await listingJson(server.port, `/${query}${query ? "&" : "?"}format=json`);
    assert.deepEqual(
      entries.map((e) => e.name + (e.type === "directory" ? "/" : "")),
      order,
      "JSON",
    );
  });
}

test("the sorted column is marked with ▲ or ▼ and aria-sort, and its link turns the order round", async (t) => {
  const root = sortableTree(t);
  const server = await serve(t, { root });
  const headings = async (target: string) => {
    const html = (await request(server.port, target)).body.toString("utf8");
    const thead = /<thead\b[\s\S]*?<\/thead>/.exec(html)?.[0] ?? assert.fail("no <thead>");
    return [...thead.matchAll(/<th\b([^>]*)>([\s\S]*?)<\/th>/g)].map((m) => ({
      sort: /aria-sort="([^"]*)"/.exec(m[1]!)?.[1] ?? null,
      text: decodeEntities(stripTags(m[2]!)),
      href: decodeEntities(/href="([^"]*)"/.exec(m[2]!)?.[1] ?? ""),
    }));
  };
  const byName = await headings("/");
  assert.deepEqual(
    byName.map((h) => h.sort),
    ["ascending", null, null],
  );
  assert.match(byName[0]!.text, /▲/);
  assert.equal(new URL(byName[0]!.href, "http://x/").searchParams.get("order"), "desc", "Name's link sorts the other way");
  const bySizeDown = await headings("/?sort=size&order=desc");
  assert.deepEqual(
    bySizeDown.map((h) => h.sort),
    [null, "descending", null],
  );
  assert.match(bySizeDown[1]!.text, /▼/);
  assert.doesNotMatch(bySizeDown[0]!.text + bySizeDown[2]!.text, /[▲▼]/, "only the current column has an arrow");
  const sizeLink = new URL(bySizeDown[1]!.href, "http://x/");
  assert.equal(sizeLink.searchParams.get("sort"), "size");
  assert.equal(sizeLink.searchParams.get("order"), null, "ascending is the default, so it is left out");
});

test("links into subfolders, to the parent and in the heading keep the order; links to files carry nothing", async (t) => {
  const root = tempDir(t, { sub: { inner: {}, "x.txt": "x" }, "f.txt": "f" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/sub/?sort=mtime&order=desc&q=x&offset=0&view=list")).body.toString("utf8");
  const entries = listedEntries(html);
  const parent = entries.find((e) => e.text === "../") ?? assert.fail("no ../");
  assert.equal(parent.href, "../?sort=mtime&order=desc");
  const file = entries.find((e) => e.text === "x.txt") ?? assert.fail("no x.txt");
  assert.equal(file.href, "./x.txt");
  const all = (await request(server.port, "/sub/?sort=mtime&order=desc")).body.toString("utf8");
  const inner = listedEntries(all).find((e) => e.text === "inner/") ?? assert.fail("no inner/");
  assert.equal(inner.href, "./inner/?sort=mtime&order=desc", "the filter is this folder's, so it stays behind");
  const heading = /<h1\b[\s\S]*?<\/h1>/.exec(all)![0];
  const crumbs = [...heading.matchAll(/<a\b[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => [decodeEntities(m[2]!), new URL(decodeEntities(m[1]!), `${server.base}/sub/`).href]);
  assert.deepEqual(crumbs, [
    ["/", `${server.base}/?sort=mtime&order=desc`],
    ["sub", `${server.base}/sub/?sort=mtime&order=desc`],
  ]);
});

test("each segment of the heading links to its folder, and the heading still reads as the path", async (t) => {
  const root = tempDir(t, { "a b": { "c&d": { "日本": { "x.txt": "x" } } } });
  const server = await serve(t, { root });
  const listing = `/a%20b/c%26d/${encodeURIComponent("日本")}/`;
  const html = (await request(server.port, listing)).body.toString("utf8");
  assert.equal(textOf(html, "h1"), "Directory listing for /a b/c&d/日本/");
  const heading = /<h1\b[\s\S]*?<\/h1>/.exec(html)![0];
  const links = [...heading.matchAll(/<a\b[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => ({ text: decodeEntities(m[2]!), path: new URL(decodeEntities(m[1]!), `${server.base}${listing}`).pathname }));
  assert.deepEqual(links, [
    { text: "/", path: "/" },
    { text: "a b", path: "/a%20b/" },
    { text: "c&d", path: "/a%20b/c%26d/" },
    { text: "日本", path: listing },
  ]);
  for (const link of links) assert.equal((await request(server.port, link.path)).status, 200, `${link.text} opens`);
  assert.match(heading, /aria-current="page"/, "the current folder is marked");
});

test("q keeps names that contain it, case-insensitively, with % and unicode (either normal form)", async (t) => {
  const root = tempDir(t, {
    "100% real.txt": "x",
    "percent.txt": "x",
    ["Café " + "crème".normalize("NFD") + ".txt"]: "x",
    "CAFE.txt": "x",
    "日本語.txt": "x",
    "English.txt": "x",
    "café-folder": {},
  });
  const server = await serve(t, { root });
  const names = (q: string) => pageNames(server.port, `/?q=${q}`);
  assert.deepEqual(await names("%25"), ["100% real.txt"], "%25 is a literal %");
  assert.deepEqual(await names(encodeURIComponent("CAFÉ")), ["café-folder/", "Café " + "crème".normalize("NFD") + ".txt"], "É matches é; CAFE does not match café");
  assert.deepEqual(await names(encodeURIComponent("CRÈME".normalize("NFC"))), ["Café " + "crème".normalize("NFD") + ".txt"], "an NFC query finds an NFD name");
  assert.deepEqual(await names(encodeURIComponent("本")), ["日本語.txt"]);
  assert.deepEqual(await names("nothing-like-this"), []);
  assert.deepEqual(await names(""), await pageNames(server.port, "/"), "an empty q keeps everything");
  const { entries } = await listingJson(server.port, "/?q=%25&format=json");
  assert.deepEqual(
    entries.map((e) => e.name),
    ["100% real.txt"],
    "JSON filters the same",
  );
  const html = (await request(server.port, "/?q=%25+real")).body.toString("utf8");
  assert.match(html, /<input\b[^>]*name="q"[^>]*value="% real"/, "the search box shows the query");
  assert.match(html, /1 file matching “% real”/, "the footer says what matched");
});

test("the filter is a GET form that needs no script, and keeps the order and view as hidden fields", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/?sort=size&order=desc&view=grid&limit=5")).body.toString("utf8");
  const form = /<form\b[^>]*role="search"[^>]*>[\s\S]*?<\/form>/.exec(html)?.[0] ?? assert.fail("no search form");
  assert.match(form, /method="get"/);
  assert.doesNotMatch(form, /\baction=/, "submits to this folder");
  const hidden = Object.fromEntries([...form.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]));
  assert.deepEqual(hidden, { sort: "size", order: "desc", view: "grid", limit: "5" });
});

test("unknown or invalid query values fall back to the defaults instead of an error", async (t) => {
  const root = sortableTree(t);
  const server = await serve(t, { root });
  const plain = await pageNames(server.port, "/");
  for (const query of ["?sort=colour", "?order=sideways", "?view=carousel", "?limit=-1", "?limit=abc", "?limit=1.5", "?offset=-3", "?offset=x", "?format=xml", "?sort=", "?%=%", "?q", "?sort=SIZE"]) {
    const res = await request(server.port, "/" + query);
    assert.equal(res.status, 200, query);
    assert.equal(res.headers["content-type"], "text/html; charset=utf-8", query);
    assert.deepEqual(childEntries(res.body.toString("utf8"), "/").map((e) => e.text), plain, query);
  }
});

test("limit and offset page both representations, at their edges", async (t) => {
  const names = Array.from({ length: 7 }, (_, i) => `f${i}.txt`);
  const root = tempDir(t, Object.fromEntries(names.map((n) => [n, n])));
  const server = await serve(t, { root });
  const json = async (query: string) => (await listingJson(server.port, `/?format=json${query}`)).entries.map((e) => e.name);
  assert.deepEqual(await json(""), names, "JSON without limit has every entry");
  assert.deepEqual(await json("&limit=3"), names.slice(0, 3));
  assert.deepEqual(await json("&limit=3&offset=3"), names.slice(3, 6));
  assert.deepEqual(await json("&limit=3&offset=6"), names.slice(6));
  assert.deepEqual(await json("&limit=0"), [], "limit=0 is an empty page");
  assert.deepEqual(await json("&offset=7"), [], "offset at the end");
  assert.deepEqual(await json("&offset=1000"), [], "offset past the end");
  assert.deepEqual(await json("&offset=2"), names.slice(2), "offset without limit: the rest");
  assert.deepEqual(await json("&limit=-2"), names, "a negative limit is ignored");
  assert.deepEqual(await json("&limit=ten"), names, "a limit that is not a number is ignored");
  assert.deepEqual(await json("&offset=-1"), names, "a negative offset is ignored");
  assert.deepEqual(await json("&limit=99999999999999999999"), names, "a limit beyond any folder is ignored");

  assert.deepEqual(await pageNames(server.port, "/?limit=3&offset=3"), names.slice(3, 6));
  assert.deepEqual(await pageNames(server.port, "/?limit=0"), []);
  assert.deepEqual(await pageNames(server.port, "/?offset=100"), []);
});

test("a page of the HTML links to the pages before and after it, keeping the query", async (t) => {
  const names = Array.from({ length: 7 }, (_, i) => `f${i}.txt`);
  const root = tempDir(t, Object.fromEntries(names.map((n) => [n, n])));
  const server = await serve(t, { root });
  const pager = async (query: string) => {
    const html = (await request(server.port, `/${query}`)).body.toString("utf8");
    const nav = /<nav class="pages"[\s\S]*?<\/nav>/.exec(html)?.[0];
    const link = (rel: string) => {
      const href = new RegExp(`<a rel="${rel}" href="([^"]*)"`).exec(nav ?? "")?.[1];
      return href === undefined ? null : new URL(decodeEntities(href), `${server.base}/`).search;
    };
    return { nav, prev: link("prev"), next: link("next"), text: nav ? decodeEntities(stripTags(nav)) : "" };
  };
  const first = await pager("?limit=3&sort=name&order=desc");
  assert.equal(first.prev, null);
  assert.equal(first.next, "?order=desc&limit=3&offset=3");
  assert.match(first.text, /1–3 of 7/);
  const middle = await pager("?limit=3&offset=3&order=desc");
  assert.equal(middle.prev, "?order=desc&limit=3");
  assert.equal(middle.next, "?order=desc&limit=3&offset=6");
  const last = await pager("?limit=3&offset=6&order=desc");
  assert.equal(last.next, null);
  assert.equal(last.prev, "?order=desc&limit=3&offset=3");
  assert.match(last.text, /7–7 of 7/);
  const beyond = await pager("?limit=3&offset=50");
  assert.equal(beyond.next, null);
  assert.equal(beyond.prev, "?limit=3&offset=4", "from past the end, back to the last page");
  assert.equal((await pager("")).nav, undefined, "a page that shows everything has no page links");
});

test("the footer counts matching folders and files over the whole folder, and their size", async (t) => {
  const root = tempDir(t, { d1: {}, d2: {}, "a.bin": Buffer.alloc(1024), "b.bin": Buffer.alloc(2048), "c.txt": Buffer.alloc(512) });
  const server = await serve(t, { root });
  const summary = async (query: string) => {
    const html = (await request(server.port, `/${query}`)).body.toString("utf8");
    return decodeEntities(stripTags(/<p class="summary">[\s\S]*?<\/p>/.exec(html)?.[0] ?? assert.fail("no summary")));
  };
  assert.equal(await summary(""), "2 folders, 3 files, 3.5 KiB in total");
  assert.equal(await summary("?limit=1"), "2 folders, 3 files, 3.5 KiB in total", "over the whole folder, not the page");
  assert.equal(await summary("?q=.bin"), "0 folders, 2 files matching “.bin”, 3.0 KiB in total");
  assert.equal(await summary("?q=d1"), "1 folder, 0 files matching “d1”, 0 B in total");
});

test("every row has a type cue drawn in the page, nothing fetched", async (t) => {
  const root = tempDir(t, { dir: {}, "p.png": "x", "m.mp4": "x", "s.mp3": "x", "z.zip": "x", "r.md": "x", "c.ts": "x", "o.xyz": "x" });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/")).body.toString("utf8");
  const cue = (name: string) => /<use href="#([a-z]+)"/.exec(childEntries(html, "/").find((e) => e.text.replace(/\/$/, "") === name)?.rowHtml ?? "")?.[1];
  assert.deepEqual(
    ["dir", "p.png", "m.mp4", "s.mp3", "z.zip", "r.md", "c.ts", "o.xyz"].map(cue),
    ["folder", "image", "video", "audio", "archive", "text", "code", "other"],
  );
  for (const type of ["folder", "image", "video", "audio", "archive", "text", "code", "other"]) assert.match(html, new RegExp(`<symbol id="${type}"`), `the page draws ${type}`);
});

test("view=grid shows images as lazy thumbnails of the files themselves, names beneath, and a link back", async (t) => {
  const root = tempDir(t, { "photo 1.jpg": "x", "clip.webm": "x", "notes.txt": "x", album: {} });
  const server = await serve(t, { root });
  const res = await request(server.port, "/?view=grid&sort=name");
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-security-policy"], "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; media-src 'self'", "images and videos from this origin only");
  const html = res.body.toString("utf8");
  const tiles = childEntries(html, "/");
  assert.deepEqual(
    tiles.map((e) => e.text),
    ["album/", "clip.webm", "notes.txt", "photo 1.jpg"],
  );
  const photo = tiles.find((e) => e.text === "photo 1.jpg")!;
  assert.match(photo.rowHtml, /<img src="\.\/photo%201\.jpg" alt="" loading="lazy"/);
  assert.match(tiles.find((e) => e.text === "clip.webm")!.rowHtml, /<video src="\.\/clip\.webm#t=0\.5" preload="metadata"/);
  assert.doesNotMatch(tiles.find((e) => e.text === "notes.txt")!.rowHtml, /<img|<video/);
  assert.equal(tiles.find((e) => e.text === "album/")!.href, "./album/?view=grid", "folders open in the grid too");
  const back = /<a class="view" href="([^"]*)">Table view<\/a>/.exec(html)?.[1] ?? assert.fail("no link back to the table");
  assert.equal(decodeEntities(back), ".");
  assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//, "nothing from elsewhere");
});

test("JSON has nginx's shape: name, type, an RFC 1123 mtime, size for files only, and href", async (t) => {
  const root = tempDir(t, { folder: {}, "file.txt": "hello", "link-in.txt": { symlink: "file.txt" }, "gone.txt": { symlink: "nowhere" } });
  setMtime(path.join(root, "file.txt"), "2021-03-04T05:06:07Z");
  setMtime(path.join(root, "folder"), "2020-02-03T04:05:06Z");
  const server = await serve(t, { root });
  const { entries } = await listingJson(server.port, "/", { Accept: "application/json" });
  assert.deepEqual(entries, [
    { name: "folder", type: "directory", mtime: "Mon, 03 Feb 2020 04:05:06 GMT", href: "folder/" },
    { name: "file.txt", type: "file", mtime: "Thu, 04 Mar 2021 05:06:07 GMT", size: 5, href: "file.txt" },
    { name: "gone.txt", type: "other", href: "gone.txt" },
    { name: "link-in.txt", type: "file", mtime: "Thu, 04 Mar 2021 05:06:07 GMT", size: 5, href: "link-in.txt" },
  ]);
  for (const entry of entries) assert.deepEqual(Object.keys(entry).slice(0, 2), ["name", "type"], "name and type first, as nginx writes them");
});

test("JSON of awkward names: U+FFFD in name for bytes that are not UTF-8, exact bytes in href, same order as the page", async (t) => {
  const root = tempDir(t, { odd: {} });
  const dir = path.join(root, "odd");
  const names = [...ODD_FILE_NAMES, ...NON_UTF8_FILE_NAMES];
  for (const name of names) writeFileBytes(dir, name, name);
  mkdirBytes(dir, Buffer.from([0x64, 0xe9, 0x6a, 0xe0])); // déjà in latin1: a folder whose name is not UTF-8
  const server = await serve(t, { root });
  const { entries } = await listingJson(server.port, "/odd/?format=json");
  const page = childEntries((await request(server.port, "/odd/")).body.toString("utf8"), "/odd/");
  assert.deepEqual(
    entries.map((e) => e.href),
    page.map((e) => e.href.replace(/^\.\//, "")),
    "JSON lists the same entries as the page, in its order",
  );
  for (const entry of entries) {
    const bytes = percentDecodeBytes(entry.href.replace(/\/$/, ""));
    assert.equal(entry.name, bytes.toString("utf8"), `${entry.href}: name is the bytes as UTF-8, U+FFFD where they are not`);
    assert.match(entry.href, /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+\/?$/, `${entry.href}: percent-encoded`);
    const res = await request(server.port, "/odd/" + entry.href);
    assert.equal(res.status, 200, `GET /odd/${entry.href}`);
    if (entry.type === "file") assert.deepEqual(res.body, bytes, `${entry.href} fetches that very file`);
  }
  const folder = entries.find((e) => e.type === "directory")!;
  assert.equal(folder.href, "d%E9j%E0/");
  assert.equal(folder.name, "d\uFFFDj\uFFFD");
  assert.equal(entries.filter((e) => e.name.includes("\uFFFD")).length, NON_UTF8_FILE_NAMES.length + 1);
});

test("Accept decides between the page and JSON, and both say Vary: Accept-Encoding, Accept", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const cases: Array<[string | undefined, string]> = [
    [undefined, "text/html"],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", "text/html"],
    ["*/*", "text/html"],
    ["application/json", "application/json"],
    ["application/json, text/plain, */*", "application/json"],
    ["text/html;q=0.5, application/json", "application/json"],
    ["application/json;q=0.5, text/html", "text/html"],
    ["application/json;q=0", "text/html"],
  ];
  for (const [accept, type] of cases) {
    const res = await request(server.port, "/", { headers: accept === undefined ? {} : { Accept: accept } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"]?.split(";")[0], type, `Accept: ${accept}`);
    assert.equal(res.headers.vary, "Accept-Encoding, Accept", `Accept: ${accept}`);
    assert.match(String(res.headers.etag), /^"[^"]+"$/, "a strong ETag made from the bytes (test/compress.test.ts has the rest)");
  }
  const forced = await request(server.port, "/?format=html", { headers: { Accept: "application/json" } });
  assert.equal(forced.headers["content-type"], "text/html; charset=utf-8", "format=html wins over Accept");
  const head = await rawRequest(server.port, `HEAD /?format=json HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`);
  const get = await request(server.port, "/?format=json");
  assert.equal(head.headers.get("content-length"), String(get.body.length), "HEAD of the JSON has its length");
  assert.equal(head.body.length, 0);
});

test("with live reload the listing varies on Sec-Fetch-Dest too, in both representations", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root, live: true });
  assert.equal((await request(server.port, "/")).headers.vary, "Accept-Encoding, Sec-Fetch-Dest, Accept");
  assert.equal((await request(server.port, "/?format=json")).headers.vary, "Accept-Encoding, Sec-Fetch-Dest, Accept");
  const json = await request(server.port, "/?format=json", { headers: { "Sec-Fetch-Dest": "document", Accept: "application/json" } });
  JSON.parse(json.body.toString("utf8"));
  assert.doesNotMatch(json.body.toString("utf8"), /<script/, "JSON never gets the live script");
});

test("hidden entries are absent from every representation: page, grid, JSON, filter and counts", async (t) => {
  const base = tempDir(t, { "outside.txt": "secret", root: { ".env": "SECRET", ".git": { config: "x" }, "shown.txt": "s", "out.txt": { symlink: "../outside.txt" }, ".serve-here-upload-123": "partial" } });
  const root = path.join(base, "root");
  const server = await serve(t, { root });
  const secret = /\.env|\.git|out\.txt|serve-here-upload/;
  for (const target of ["/", "/?view=grid", "/?sort=size&order=desc", "/?limit=1&offset=0", "/?q=e"]) {
    const html = (await request(server.port, target)).body.toString("utf8");
    assert.doesNotMatch(html.replace(/<style>[\s\S]*?<\/style>/, ""), secret, target);
  }
  for (const target of ["/?format=json", "/?format=json&q=.", "/?format=json&sort=mtime"]) {
    const { entries } = await listingJson(server.port, target);
    assert.deepEqual(
      entries.map((e) => e.name),
      target.includes("q=.") ? ["shown.txt"] : ["shown.txt"],
      target,
    );
  }
  const html = (await request(server.port, "/")).body.toString("utf8");
  assert.match(html, /0 folders, 1 file, 1 B in total/, "hidden entries are not counted");
});

test("a listing follows a file's new size and date on the very next request", async (t) => {
  const root = tempDir(t, { "grows.txt": "a" });
  setMtime(root, "2020-01-01T00:00:00Z");
  const server = await serve(t, { root });
  assert.equal((await listingJson(server.port, "/?format=json")).entries[0]!.size, 1);
  assert.match((await request(server.port, "/")).body.toString("utf8"), /1 B in total/);
  writeFileSync(path.join(root, "grows.txt"), "abc");
  assert.equal((await listingJson(server.port, "/?format=json")).entries[0]!.size, 3);
  assert.match((await request(server.port, "/")).body.toString("utf8"), /3 B in total/, "the kept page is not sent again");
});

/** Peak resident memory of a process so far (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

test("a folder of 100,000 entries answers its first page of 1,000 in under 50 MB above idle, with the total in the footer and a next-page link", async (t) => {
  const root = tempDir(t, { small: { "a.txt": "a" }, big: {} });
  const big = path.join(root, "big");
  for (let i = 0; i < 100_000; i++) closeSync(openSync(path.join(big, `photo-${String(i).padStart(6, "0")}.jpg`), "w"));
  writeFileSync(path.join(big, "photo-000007.jpg"), "seven");
  // Let the folder settle (a version changed within the last second is not kept), as a real one has.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "-q"]);
  const pid = cli.child.pid!;
  await request(cli.port, "/small/"); // loads what any listing loads: `he`, the QR code, the collator
  const idle = peakRssMiB(pid);

  const first = await request(cli.port, "/big/");
  assert.equal(first.status, 200);
  const html = first.body.toString("utf8");
  const rows = childEntries(html, "/big/");
  assert.equal(rows.length, 1000, "the first page has 1,000 rows");
  assert.equal(rows[0]!.text, "photo-000000.jpg");
  assert.equal(rows[999]!.text, "photo-000999.jpg");
  assert.match(html, /0 folders, 100,000 files/);
  assert.match(html, /1–1,000 of 100,000/);
  const next = /<a rel="next" href="([^"]*)"/.exec(html)?.[1] ?? assert.fail("no next-page link");
  assert.equal(decodeEntities(next), "?offset=1000");
  const afterRequest = peakRssMiB(pid);

  // The sizes of all 100,000 are counted in the background; the footer then has their total.
  await eventually(async () => /5 B in total/.test((await request(cli.port, "/big/")).body.toString("utf8")), "the total size arrives", 60_000);
  const afterCount = peakRssMiB(pid);
  t.diagnostic(`peak RSS: idle ${idle.toFixed(1)} MiB, after the first page +${(afterRequest - idle).toFixed(1)} MiB, after counting every size +${(afterCount - idle).toFixed(1)} MiB`);
  assert.ok(afterCount - idle < 50, `peak RSS grew by ${(afterCount - idle).toFixed(1)} MiB (idle ${idle.toFixed(1)} MiB)`);

  const second = await request(cli.port, "/big/" + decodeEntities(next));
  const secondRows = childEntries(second.body.toString("utf8"), "/big/");
  assert.equal(secondRows[0]!.text, "photo-001000.jpg");
  assert.equal(secondRows.length, 1000);
  const bySize = await listingJson(cli.port, "/big/?format=json&sort=size&order=desc&limit=2");
  assert.deepEqual(
    bySize.entries.map((e) => [e.name, e.size]),
    [
      ["photo-000007.jpg", 5],
      ["photo-099999.jpg", 0],
    ],
    "sorted by size over the whole folder",
  );
});
