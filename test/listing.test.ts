/**
 * The HTML folder listing (issue section 7), against a real server on a real socket, with real
 * files (odd names included) built in temporary folders at test time.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { rawRequest, request, serve, startCli, tempDir, unprivilegedNode } from "./helpers.js";

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
  const command = unprivilegedNode();
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
    const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "-q"], { command });
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
