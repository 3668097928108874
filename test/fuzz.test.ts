/**
 * Seeded fuzzing of the real binary over raw sockets: well over 100,000 generated and mutated
 * requests against a temporary tree with a secret beside the root, checking every response.
 *
 * Replay: every run prints its seed and the command that replays it (`npm run build && FUZZ_SEED=<n>
 * node --test dist/test/fuzz.test.js`), which generates the same jobs again, byte for byte but for
 * the port and ETag values (the digest of the cases it prints, which masks those, is the same) (ETag values and timing differ, so a failure also prints the exact bytes, which
 * can be pasted into REGRESSIONS), and `FUZZ_JOB=<i,j>` replays only those jobs, one at a time,
 * printing every byte that came back. `FUZZ_ITERATIONS=<n>` sets how many requests (default 100,000).
 *
 * How requests travel. Each job is one connection:
 *   - a keep-alive batch of "clean" requests, pipelined in one write (or in fragments): well-formed
 *     HTTP/1.x that the parser must accept, with hostile targets and headers (`..`, `%2e`, `%00`,
 *     overlong UTF-8, absolute-form, odd Range and conditional headers, bodies, many headers...).
 *     Each must get its own well-formed answer from the handler, in order (the server may close
 *     after an answer that says `Connection: close`);
 *   - then, optionally, one "tail": a malformed request (generated, or a byte-mutated clean one).
 *     After it anything well-formed may come, or the server may close. The tail is sent with the
 *     batch, or only once the first response has started (a request arriving mid-response);
 *   - or a client that vanishes as soon as the first response byte arrives.
 * When the tail leaves the server waiting (a truncated request, a short body), the client half-closes
 * after a short silence; the server must then answer or close. Nothing is judged by how long it took.
 *
 * The oracle, for every response: status line and headers well-formed; framed by Content-Length,
 * chunked, or close (none for HEAD, 1xx, 204, 304); status in a known set and never a 5xx but 503;
 * the markers of the file outside the root and of the dotfiles never appear; every body that carries
 * an ETag equals the file with that ETag (200), or the slices its Content-Range names (206, single
 * or multipart), or is a page serve-here made (a listing, an error page) whose ETag is made from its
 * decoded bytes and marked with its coding; the 404 body is the root's 404.html; a redirect stays on this server; a request the
 * generator fully understands gets exactly the expected file. After the run the process is alive,
 * answers a GET, wrote nothing to stderr, holds no more descriptors than before, and stayed small.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import zlib from "node:zlib";
import { eventually, openDescriptorCount, Rng, startCli, suiteSeed, tempDir, type RunningCli } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const RUN = suiteSeed("FUZZ_SEED", "fuzz.test.js", ["FUZZ_ITERATIONS"]);
const SEED = RUN.seed;
const ITERATIONS = process.env.FUZZ_ITERATIONS !== undefined && process.env.FUZZ_ITERATIONS !== "" ? Math.max(1, Number(process.env.FUZZ_ITERATIONS)) : 100_000;
/** `FUZZ_JOB=12,40`: replay only these jobs of the seed, one at a time, printing what came back. */
const ONLY_JOBS = (process.env.FUZZ_JOB ?? "").split(",").filter((s) => s.trim() !== "").map(Number);
/** Connections in flight at once. */
const CONCURRENCY = 48;
/** After this long without a byte, a client whose tail may have left the server waiting half-closes. */
const QUIET_MS = 60;
/** Liveness only: a connection the server neither answers nor closes for this long is a hang. */
const HANG_MS = 25_000;
/** Peak resident memory the server may reach. Generous: it is ~60 MB when idle. */
const MAX_PEAK_RSS_BYTES = 300 * 1024 * 1024;
/** Descriptors the server may hold above its baseline once every client has gone. */
const FD_SLACK = 2;

const OUTSIDE_MARKER = "FUZZ-OUTSIDE-ROOT-SECRET-7d31c9e0";
const DOTFILE_MARKER = "FUZZ-DOTFILE-SECRET-b84a2f15";
/** A file name a listing must escape; its raw form must never appear in a body. */
const ODD_NAME = `<b>odd&"'.txt`;
const ODD_RAW = "<b>odd";
const DOTNAME_TOKEN = "dotname-3f9c";

/** Statuses this server (or Node in front of it) may answer with. */
const KNOWN_STATUSES = new Set([100, 200, 204, 206, 207, 301, 304, 400, 403, 404, 405, 408, 412, 413, 414, 416, 417, 431, 503]);

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

/** A job's own seed, from the run's seed and the job's number (murmur3's finaliser). */
function jobSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------------

interface Site {
  top: string;
  root: string;
  /** Paths (as request targets) of files the server must serve, with their content. */
  servable: Array<{ target: string; content: Buffer }>;
  /** Targets that must not serve anything (dotfiles, links out of the root). */
  forbidden: string[];
  notFoundPage: Buffer;
}

/** Content that says where it came from, so a wrong slice is easy to spot. */
function patterned(size: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) out.writeUInt32LE(Math.floor(rng.next() * 2 ** 32) >>> 0, i);
  return out;
}

function buildSite(t: TestContext): Site {
  const big = patterned(200 * 1024, 0xb16);
  const notFoundPage = Buffer.from("<!DOCTYPE html>\n<title>custom 404</title><p>Nothing here (fuzz).</p>\n");
  const top = tempDir(t, {
    "secret.txt": `${OUTSIDE_MARKER} outside the root\n`,
    "root-evil": { "x.txt": `${OUTSIDE_MARKER} in a sibling whose name extends the root's\n` },
    root: {
      "a.txt": "alpha\n",
      "empty.txt": "",
      "big.bin": big,
      "hello.html": "<!DOCTYPE html><title>hello</title><p>hello</p>\n",
      "404.html": notFoundPage,
      "data.json": '{"fuzz":true}\n',
      ".env": `${DOTFILE_MARKER} env\n`,
      [`.${DOTNAME_TOKEN}`]: `${DOTFILE_MARKER} named\n`,
      ".hidden-dir": { "inner.txt": `${DOTFILE_MARKER} inner\n` },
      ".well-known": { "security.txt": "Contact: mailto:fuzz@example.invalid\n" },
      docs: {
        "readme.md": "# readme\n",
        "with space.txt": "space\n",
        "percent%41.txt": "percent\n",
        "hash#name.txt": "hash\n",
        "q?mark.txt": "question\n",
        "café.txt": "cafe\n",
        [ODD_NAME]: "odd\n",
        "back\\slash.txt": "backslash\n",
        ".secret-note": `${DOTFILE_MARKER} note\n`,
        nested: { "deep.txt": "deep\n" },
        "dir with space": { "x.txt": "x\n" },
      },
      site: { "index.html": "<!DOCTYPE html><title>site</title><p>index</p>\n", "style.css": "p{color:red}\n", sub: { "page.html": "<p>page</p>\n" } },
    },
  });
  const root = path.join(top, "root");
  symlinkSync("../secret.txt", path.join(root, "link-out"));
  symlinkSync("..", path.join(root, "link-dir-out"));
  symlinkSync("../root-evil/x.txt", path.join(root, "link-prefix"));
  symlinkSync("a.txt", path.join(root, "link-in"));
  symlinkSync("docs", path.join(root, "link-docs"));
  // A name that is not UTF-8: Linux allows it, the server must serve it by its bytes.
  writeFileSync(Buffer.from(path.join(root, "docs", "l\xe9.txt"), "latin1"), "latin1 name\n");
  mkdirSync(path.join(root, "site", "empty-dir"));
  // Fixed modification times, so dates in generated conditionals hit and miss on purpose.
  const fixed = new Date("2024-03-05T06:07:08.000Z");
  for (const rel of ["a.txt", "empty.txt", "big.bin", "hello.html", "data.json", "docs/readme.md", "site/index.html", "site/style.css"]) utimesSync(path.join(root, rel), fixed, fixed);

  const servable: Site["servable"] = [
    ["/a.txt", "a.txt"],
    ["/empty.txt", "empty.txt"],
    ["/big.bin", "big.bin"],
    ["/hello.html", "hello.html"],
    ["/404.html", "404.html"],
    ["/data.json", "data.json"],
    ["/.well-known/security.txt", ".well-known/security.txt"],
    ["/docs/readme.md", "docs/readme.md"],
    ["/docs/with%20space.txt", "docs/with space.txt"],
    ["/docs/percent%2541.txt", "docs/percent%41.txt"],
    ["/docs/hash%23name.txt", "docs/hash#name.txt"],
    ["/docs/q%3Fmark.txt", "docs/q?mark.txt"],
    ["/docs/caf%C3%A9.txt", "docs/café.txt"],
    ["/docs/%3Cb%3Eodd%26%22'.txt", `docs/${ODD_NAME}`],
    ["/docs/back%5Cslash.txt", "docs/back\\slash.txt"],
    ["/docs/l%E9.txt", "docs/l\xe9.txt"],
    ["/docs/nested/deep.txt", "docs/nested/deep.txt"],
    ["/docs/dir%20with%20space/x.txt", "docs/dir with space/x.txt"],
    ["/site/index.html", "site/index.html"],
    ["/site/style.css", "site/style.css"],
    ["/site/sub/page.html", "site/sub/page.html"],
  ].map(([target, rel]) => ({ target: target!, content: readFileSync(Buffer.from(path.join(root, rel!), rel === "docs/l\xe9.txt" ? "latin1" : "utf8")) }));
  const forbidden = ["/.env", `/.${DOTNAME_TOKEN}`, "/.hidden-dir/inner.txt", "/docs/.secret-note", "/link-out", "/link-prefix", "/link-dir-out/secret.txt"];
  return { top, root, servable, forbidden, notFoundPage };
}

/** What the warm-up learned from the server: which file each ETag names, and their dates. */
interface Known {
  byEtag: Map<string, Buffer>;
  etagOf: Map<string, string>;
  lastModified: string[];
  files: Site["servable"];
  notFoundPage: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** One request of a job, as bytes, with what the oracle may expect of its answer. */
interface Req {
  bytes: Buffer;
  method: string;
  /** Set when the generator fully understands the request: the exact file it must get. */
  expect?: { status: number; etag?: string; location?: string };
  /** Conditional or range headers present (a 206/304/412/416 is only possible with them). */
  hasRange: boolean;
  hasConditional: boolean;
}

interface Job {
  index: number;
  clean: Req[];
  /** A malformed request after the batch (never HEAD, so every answer to it has a body). */
  tail: Buffer | null;
  /** How the tail was made, for the report. */
  tailKind: string;
  /** Send the tail only once the first response byte has arrived. */
  tailAfterFirstByte: boolean;
  /** Send the batch in this many fragments (1 = one write). */
  fragments: number;
  /** Vanish as soon as the first response byte arrives. */
  abortOnFirstByte: boolean;
}

const KNOWN_SEGMENTS = [
  "a.txt", "empty.txt", "big.bin", "hello.html", "404.html", "data.json", "docs", "readme.md", "nested", "deep.txt", "site", "index.html",
  "index.htm", "style.css", "sub", "page.html", "empty-dir", ".env", `.${DOTNAME_TOKEN}`, ".hidden-dir", "inner.txt", ".secret-note", ".well-known",
  "security.txt", "link-out", "link-dir-out", "link-prefix", "link-in", "link-docs", "secret.txt", "root", "root-evil", "x.txt", "with%20space.txt",
  "percent%2541.txt", "percent%41.txt", "hash%23name.txt", "q%3Fmark.txt", "caf%C3%A9.txt", "caf%c3%a9.txt", "%3Cb%3Eodd%26%22'.txt",
  "back%5Cslash.txt", "back%5cslash.txt", "dir%20with%20space", "l%E9.txt", "nonexistent", "A.TXT", "a.txt~", "a.txt.", "a.txt%20",
];

const HOSTILE_SEGMENTS = [
  "..", ".", "...", "....", "%2e", "%2E", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "..%2f", "%2f", "%2F", "%2f..", "%5c", "%5C", "..%5c", "%5c..",
  "..\\", "\\..", "\\", "..%5c..%5csecret.txt", "%00", "a.txt%00", "a.txt%00.html", "%c0%ae%c0%ae", "%c0%ae", "%c0%af", "%e0%80%ae", "%c1%9c",
  "%zz", "%", "%2", "%g0", "%%2e", "%25", "%252e%252e", "%u002e", "~", ";", ";..", "..;", "*", "%2a", "%ff", "%fe%ff", "%ef%bb%bf", "%e2%80%ae",
  "%F0%9F%98%80", "%ed%a0%80", "%c3%28", "%80", "%0a", "%0d%0a", "%09", "%20", "+", "%2b", "'", '"', "<", ">", "`", "{", "}", "|", "^", "[", "]",
  "@", ":", "::", "$", "!", "=", ",", "&", "secret.txt", "..%00", "%2e%2e%2fsecret.txt", ".well-known/..", "root-evil",
];

const URL_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%/?#[]\\^`{|}<>\"";

function genSegment(rng: Rng): string {
  return rng.weighted<() => string>([
    [45, () => rng.pick(KNOWN_SEGMENTS)],
    [35, () => rng.pick(HOSTILE_SEGMENTS)],
    [6, () => rng.string(rng.between(1, 12), URL_SAFE.replace(/[/?#]/g, ""))],
    [3, () => "x".repeat(rng.pick([255, 256, 300, 1000, 4000]))],
    [2, () => "%41".repeat(rng.between(50, 400))],
    [3, () => "%" + rng.string(2, "0123456789abcdefABCDEFgz%")],
    [3, () => rng.pick(KNOWN_SEGMENTS) + rng.pick(HOSTILE_SEGMENTS)],
    [3, () => rng.pick(HOSTILE_SEGMENTS) + rng.pick(KNOWN_SEGMENTS)],
  ])();
}

/** A request target from a grammar: prefix, segments, trailing slash, query, fragment. */
function genTarget(rng: Rng, malformed = false): string {
  // Node's parser refuses a target that is neither origin-form (`/…`), absolute-form nor `*`:
  // those ("relative", a leading backslash, a scheme with a digit) belong to the malformed class.
  const kind = rng.weighted<string>(
    malformed
      ? [[40, "relative"], [40, "backslash"], [20, "bad-scheme"]]
      : [[84, "path"], [6, "absolute"], [3, "star"], [4, "double-slash"], [3, "slash-backslash"]],
  );
  if (kind === "star") return rng.pick(["*", "*/", "*?", "**"]);
  const segments: string[] = [];
  for (let n = rng.weighted([[3, 0], [37, 1], [33, 2], [16, 3], [11, rng.between(4, 12)]]); n > 0; n--) segments.push(genSegment(rng));
  let target = segments.join("/");
  if (rng.chance(0.25)) target += rng.pick(["/", "/.", "/%2e", "//", "/..", "/%2e%2e"]);
  switch (kind) {
    case "path":
      target = "/" + target;
      break;
    case "absolute":
      target = rng.pick(["http://127.0.0.1", "http://evil.example", "HTTP://X", "https://u:p@h:1", "http://", "file://", "http://[::1]:80"]) + "/" + target;
      break;
    case "double-slash":
      target = "//" + target;
      break;
    case "slash-backslash":
      target = rng.pick(["/\\", "/\\\\"]) + target;
      break;
    case "relative":
      target = target.replace(/^\/+/, "") || "a.txt";
      break;
    case "backslash":
      target = rng.pick(["\\", "\\/", "\\\\"]) + target;
      break;
    case "bad-scheme":
      target = rng.pick(["h2c://a/", "1http://a/", "ht_tp://a/", "://a/"]) + target;
      break;
  }
  if (rng.chance(0.15)) target += "?" + rng.pick(["", "a=1", "../../secret.txt", "x=%2e%2e/%00", "?", "%zz", "a/b/../c", "#x", rng.string(rng.between(1, 40), URL_SAFE)]);
  if (rng.chance(0.04)) target += "#" + rng.pick(["", "frag", "../x", rng.string(rng.between(1, 10), URL_SAFE)]);
  // An absolute-form target may have no path at all: `http://host` means `/`.
  if (kind === "absolute" && /^[a-z]+:\/\/[^/]*\/$/i.test(target) && rng.chance(0.3)) target = target.slice(0, -1);
  return target === "" ? "/" : target;
}

const NUMBERS_LOW = ["0", "1", "2", "5", "99", "100", "500", "1000", "00", "0005", "65535", "65536"];
const NUMBERS_HUGE = ["2147483647", "2147483648", "4294967296", "9007199254740991", "9007199254740993", "18446744073709551616", "99999999999999999999"];

function genNumber(rng: Rng, size: number): string {
  return rng.weighted<() => string>([
    [30, () => rng.pick(NUMBERS_LOW)],
    [25, () => String(rng.int(Math.max(1, size)))],
    [15, () => String(Math.max(0, size + rng.between(-2, 2)))],
    [8, () => rng.pick(NUMBERS_HUGE)],
    [3, () => "9".repeat(rng.between(20, 400))],
    [3, () => "0".repeat(rng.between(2, 50)) + rng.pick(NUMBERS_LOW)],
    [2, () => rng.pick(["-1", "+1", "1e3", "0x10", "1.5", " 1", "1 ", "١"])],
  ])();
}

function genRangeSpec(rng: Rng, size: number): string {
  return rng.weighted<() => string>([
    [35, () => `${genNumber(rng, size)}-${genNumber(rng, size)}`],
    [20, () => `${genNumber(rng, size)}-`],
    [20, () => `-${genNumber(rng, size)}`],
    [4, () => "-0"],
    [4, () => "0-0"],
    [3, () => "500-100"],
    [3, () => "-"],
    [3, () => ""],
    [2, () => `--${genNumber(rng, size)}`],
    [2, () => `${genNumber(rng, size)} - ${genNumber(rng, size)}`],
    [2, () => `${genNumber(rng, size)}-${genNumber(rng, size)}-${genNumber(rng, size)}`],
  ])();
}

function genRange(rng: Rng, size: number): string {
  const unit = rng.weighted([[85, "bytes="], [3, "bytes = "], [3, "BYTES="], [2, "Bytes="], [2, "items="], [2, ""], [1, "bytes"], [1, "=0-1,"], [1, "bytes=,"]]);
  const count = rng.weighted([[60, 1], [20, rng.between(2, 4)], [12, rng.between(5, 30)], [5, rng.between(95, 105)], [3, rng.between(200, 900)]]);
  const specs: string[] = [];
  // Many specs stay short, so the header still fits Node's 16 KiB.
  const short = () => rng.pick([`${rng.int(size + 2)}-${rng.int(size + 2)}`, `${rng.int(size + 2)}-`, `-${rng.int(size + 2)}`, "0-0", "-0"]);
  for (let i = 0; i < count; i++) specs.push(count > 30 ? short() : genRangeSpec(rng, size));
  return unit + specs.join(rng.pick([",", ", ", " ,", ",,", " , "]));
}

const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function formatDate(date: Date, style: "imf" | "rfc850" | "asctime"): string {
  const [d, m, y, hh, mm, ss] = [date.getUTCDate(), date.getUTCMonth(), date.getUTCFullYear(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()];
  const time = `${pad(hh)}:${pad(mm)}:${pad(ss)}`;
  if (style === "imf") return `${DAY_NAMES[date.getUTCDay()]}, ${pad(d)} ${MONTH_NAMES[m]} ${pad(y, 4)} ${time} GMT`;
  if (style === "rfc850") return `${LONG_DAY_NAMES[date.getUTCDay()]}, ${pad(d)}-${MONTH_NAMES[m]}-${pad(y % 100)} ${time} GMT`;
  return `${DAY_NAMES[date.getUTCDay()]} ${MONTH_NAMES[m]} ${String(d).padStart(2, " ")} ${time} ${y}`;
}

function genDate(rng: Rng, known: Known): string {
  const base = Date.parse(rng.pick(known.lastModified));
  return rng.weighted<() => string>([
    [30, () => rng.pick(known.lastModified)],
    [25, () => formatDate(new Date(base + rng.pick([-86400, -1, 1, 86400, 0]) * 1000), rng.pick(["imf", "rfc850", "asctime"] as const))],
    [10, () => formatDate(new Date(rng.between(-62135596800, 253402300799) * 1000), rng.pick(["imf", "rfc850", "asctime"] as const))],
    [5, () => formatDate(new Date(8.64e15 - rng.int(1000) * 1000), "imf")],
    [5, () => rng.pick(known.lastModified).replace("GMT", rng.pick(["UTC", "gmt", "", "+0000", "GMT "]))],
    [5, () => rng.pick(known.lastModified).replace(/\d{2} /, rng.pick(["32 ", "00 ", "99 ", "1 ", "001 "]))],
    [5, () => rng.pick(known.lastModified).replace(/\d{2}:\d{2}:\d{2}/, rng.pick(["24:00:00", "23:59:60", "99:99:99", "1:2:3", "23:59:61"]))],
    [5, () => rng.pick(["0", "-1", "1", String(Math.floor(base / 1000)), "Thu, 01 Jan 1970 00:00:00 GMT", "Sat, 29 Feb 2023 00:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Mon, 01 Jan 0000 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "tomorrow", ""])],
    [3, () => rng.string(rng.between(1, 40), "0123456789 ,:-ADFGJMNOSTaceghilnoprtuvy")],
  ])();
}

function genEtagList(rng: Rng, known: Known): string {
  const etags = [...known.byEtag.keys()];
  const one = (): string =>
    rng.weighted<() => string>([
      [35, () => rng.pick(etags)],
      [15, () => "W/" + rng.pick(etags)],
      [15, () => `"${rng.string(rng.between(0, 20), "abcdefghijklmnopqrstuvwxyz0123456789-")}"`],
      [8, () => "*"],
      [5, () => rng.pick(etags).slice(0, -1)],
      [5, () => rng.pick(etags).slice(1, -1)],
      [4, () => "W/"],
      [4, () => '""'],
      [4, () => 'w/' + rng.pick(etags)],
      [3, () => rng.pick(etags) + rng.pick(etags)],
      [2, () => '"' + "a".repeat(rng.between(100, 3000)) + '"'],
    ])();
  const count = rng.weighted([[70, 1], [25, rng.between(2, 5)], [5, rng.between(20, 200)]]);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(one());
  return parts.join(rng.pick([", ", ",", " , ", ",,"]));
}

const TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
const VALUE_CHARS = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\t";

/** Headers that change nothing about the answer but everything about the parse. */
function genNoiseHeader(rng: Rng): string {
  return rng.weighted<() => string>([
    [10, () => `Accept: ${rng.pick(["*/*", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "", "image/*"])}`],
    [8, () => `Accept-Encoding: ${rng.pick(["gzip, deflate, br", "identity", "*", "gzip;q=0", ""])}`],
    [8, () => `User-Agent: ${rng.pick(["fuzz/1.0", "curl/8.0", "Mozilla/5.0 (X11; Linux x86_64)", ""])}`],
    [5, () => `Cookie: ${rng.string(rng.between(1, 2000), TOKEN + "=;")}`],
    [5, () => `Referer: http://example.invalid/${rng.string(rng.between(0, 30), TOKEN)}`],
    [5, () => `Cache-Control: ${rng.pick(["no-cache", "max-age=0", "no-store", "only-if-cached"])}`],
    [4, () => `Origin: ${rng.pick(["http://evil.example", "null", "http://127.0.0.1"])}`],
    [4, () => `Access-Control-Request-Method: ${rng.pick(["GET", "PUT", "X"])}`],
    [4, () => `Access-Control-Request-Headers: ${rng.pick(["range", "x-a, x-b", "bad header", "a,,b", rng.string(rng.between(1, 200), TOKEN + ", ")])}`],
    [5, () => `X-${rng.string(rng.between(1, 20), TOKEN)}: ${rng.string(rng.between(0, 60), VALUE_CHARS).trim()}`],
    [3, () => `X-Long: ${"v".repeat(rng.between(1000, 6000))}`],
    [2, () => `X-High: caf\xe9 \xff\x80`],
    [3, () => `Pragma: no-cache`],
    [2, () => `Via: 1.1 proxy`],
    [2, () => `X-Forwarded-For: 10.0.0.${rng.int(255)}`],
    [2, () => `Keep-Alive: timeout=${rng.int(100)}`],
    [2, () => `TE: trailers`],
    [2, () => `Content-Type: text/plain`],
    [2, () => `Authorization: Basic ${rng.string(20, TOKEN)}`],
    [2, () => `Range-Ish: bytes=0-1`],
  ])();
}

/** Method, target and headers of a well-formed request; `expect` only when the generator knows. */
function genClean(rng: Rng, known: Known, port: number, forTail = false): Req {
  const method = forTail
    ? rng.weighted([[80, "GET"], [8, "OPTIONS"], [6, "POST"], [6, "PUT"]])
    : rng.weighted([[64, "GET"], [18, "HEAD"], [6, "OPTIONS"], [3, "POST"], [2, "PUT"], [2, "DELETE"], [1, "PATCH"], [1, "TRACE"], [1, "PROPFIND"], [1, "SEARCH"], [1, "MKCOL"]]);
  const version = forTail ? rng.pick(["HTTP/1.1", "HTTP/1.0"]) : rng.weighted([[92, "HTTP/1.1"], [8, "HTTP/1.0"]]);
  let headers: string[] = [];
  let hasRange = false;
  let hasConditional = false;

  // A "plain" request names a file the generator knows, with nothing that changes the answer.
  let plain: Site["servable"][number] | null = null;
  /** Set for a folder named without its slash: GET and HEAD must redirect there, whatever the headers. */
  let folder: string | null = null;
  let target: string;
  if ((method === "GET" || method === "HEAD") && rng.chance(0.25)) {
    plain = rng.pick(known.files);
    target = plain.target + (rng.chance(0.2) ? "?" + rng.string(rng.between(0, 10), "abc=&%20") : "");
  } else if (rng.chance(0.04)) {
    target = rng.pick(["/docs", "/site", "/docs/nested", "/site/empty-dir", "/link-docs"]);
    folder = target + "/";
  } else {
    target = genTarget(rng);
  }

  const host = rng.weighted([[80, `127.0.0.1:${port}`], [8, "localhost"], [4, "[::1]"], [4, "example.com"], [2, ""], [2, "a".repeat(300)]]);
  // A name the server does not answer to (DNS rebinding): 403 whatever else the request says.
  const refusedHost = host === "example.com" || host === "" || host.startsWith("aaa");
  headers.push(`Host: ${host}`);
  if (version === "HTTP/1.0") headers.push("Connection: keep-alive");
  else if (rng.chance(0.05)) headers.push(`Connection: ${rng.pick(["keep-alive", "Keep-Alive", "TE", "keep-alive, TE"])}`);

  const pickFile = () => rng.pick(known.files);
  if (!plain || rng.chance(0.5)) {
    const size = plain ? plain.content.length : pickFile().content.length;
    if (rng.chance(0.4)) {
      headers.push(`Range: ${genRange(rng, size)}`);
      hasRange = true;
      if (rng.chance(0.05)) headers.push(`Range: ${genRange(rng, size)}`); // Node joins repeats with ", "
    }
    const conditionals: Array<[number, string, () => string]> = [
      [0.12, "If-Match", () => genEtagList(rng, known)],
      [0.15, "If-None-Match", () => genEtagList(rng, known)],
      [0.12, "If-Modified-Since", () => genDate(rng, known)],
      [0.1, "If-Unmodified-Since", () => genDate(rng, known)],
    ];
    for (const [p, name, value] of conditionals) {
      if (!rng.chance(p)) continue;
      headers.push(`${name}: ${value()}`);
      hasConditional = true;
    }
    if (rng.chance(0.12)) headers.push(`If-Range: ${rng.chance(0.5) ? genEtagList(rng, known) : genDate(rng, known)}`);
    if (hasRange || hasConditional) plain = null;
  }
  const noise = rng.weighted([[55, rng.between(0, 3)], [35, rng.between(4, 20)], [8, rng.between(20, 80)], [2, rng.between(80, 150)]]);
  for (let i = 0; i < noise; i++) headers.push(genNoiseHeader(rng));
  // Rare: after an answer without the interim 100 the server must close (the body may still come).
  if (version === "HTTP/1.1" && rng.chance(0.004)) headers.push("Expect: 100-continue");

  let body = "";
  const bodyKind = rng.weighted([[90, "none"], [7, "length"], [3, version === "HTTP/1.1" ? "chunked" : "length"]]);
  if (bodyKind === "length") {
    body = rng.string(rng.between(0, 300), VALUE_CHARS + "\r\n");
    headers.push(`Content-Length: ${body.length}`);
  } else if (bodyKind === "chunked") {
    headers.push("Transfer-Encoding: chunked");
    const chunks = Array.from({ length: rng.between(0, 4) }, () => rng.string(rng.between(1, 100), TOKEN));
    body = chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join("") + "0\r\n\r\n";
  }
  // Shuffle, keeping Node's limits (16 KiB of head) out of the clean class.
  for (let i = headers.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [headers[i], headers[j]] = [headers[j]!, headers[i]!];
  }
  // Node refuses a head over 16 KiB (431): that belongs to the malformed class. Drop the longest
  // optional headers until the head fits in 14,000 bytes.
  const LIMIT = 14_000;
  let size = target.length + headers.reduce((sum, h) => sum + h.length + 2, 40);
  if (size > LIMIT) {
    const optional = headers.filter((h) => !/^(Host|Connection|Content-Length|Transfer-Encoding):/.test(h)).sort((a, b) => b.length - a.length);
    const dropped = new Set<string>();
    for (const h of optional) {
      if (size <= LIMIT) break;
      dropped.add(h);
      size -= h.length + 2;
    }
    headers = headers.filter((h) => !dropped.has(h));
  }
  if (size > LIMIT) {
    // Only the target can still be too long: use a short one.
    target = "/" + "y".repeat(100);
    plain = null;
  }
  const head = `${method} ${target} ${version}\r\n${headers.join("\r\n")}\r\n`;
  const req: Req = { bytes: Buffer.from(`${head}\r\n${body}`, "latin1"), method, hasRange, hasConditional };
  if (plain && !forTail) req.expect = { status: 200, etag: known.etagOf.get(plain.target)! };
  if (folder && !forTail && (method === "GET" || method === "HEAD") && !target.startsWith("/y")) req.expect = { status: 301, location: folder };
  // An absolute-form target's authority would win over the Host header; an origin-form one has none.
  if (refusedHost && !forTail && target.startsWith("/")) req.expect = { status: 403 };
  return req;
}

/** Inserted by the mutator: the bytes parsers disagree about. */
const INTERESTING = ["\r\n", "\n", "\r", " ", "\t", ":", "%", "\x00", "..", "/", "\\", "\r\n\r\n", "\xff", "\x7f", "Transfer-Encoding: chunked\r\n", "Content-Length: 5\r\n", "Content-Length: 0\r\n", "\r\n ", "HTTP/1.1", "?", "#", "%2e"];

/** 1-6 byte-level mutations of a valid request: flip, replace, insert, delete, duplicate, swap, truncate. */
function mutate(rng: Rng, input: Buffer): { bytes: Buffer; ops: string[] } {
  let bytes = Buffer.from(input);
  const ops: string[] = [];
  for (let n = rng.between(1, 6); n > 0 && bytes.length > 0; n--) {
    const at = rng.int(bytes.length);
    const op = rng.weighted([[15, "flip"], [15, "byte"], [15, "insert"], [15, "delete"], [10, "duplicate"], [5, "swap"], [8, "truncate"], [12, "interesting"], [5, "repeat"]]);
    ops.push(`${op}@${at}`);
    switch (op) {
      case "flip":
        bytes[at] = bytes[at]! ^ (1 << rng.int(8));
        break;
      case "byte":
        bytes[at] = rng.int(256);
        break;
      case "insert":
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(Array.from({ length: rng.between(1, 8) }, () => rng.int(256))), bytes.subarray(at)]);
        break;
      case "delete":
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + rng.between(1, 16)))]);
        break;
      case "duplicate": {
        const end = Math.min(bytes.length, at + rng.between(1, 64));
        bytes = Buffer.concat([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end)]);
        break;
      }
      case "swap": {
        const other = rng.int(bytes.length);
        const tmp = bytes[at]!;
        bytes[at] = bytes[other]!;
        bytes[other] = tmp;
        break;
      }
      case "truncate":
        bytes = bytes.subarray(0, at);
        break;
      case "interesting":
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(rng.pick(INTERESTING), "latin1"), bytes.subarray(at)]);
        break;
      case "repeat":
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(rng.between(2, 3000), bytes[at]!), bytes.subarray(at)]);
        break;
    }
  }
  return { bytes, ops };
}

const BAD_METHODS = ["get", "Get", "GETT", "G", "GE T", "GET GET", "FOO", "X".repeat(200), "", "-", "G\x00T", "GET\x7f", "BREW", "CONNECT", "PRI", "M-SEARCH", "SOURCE", "QUERY"];
const BAD_VERSIONS = ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3", "http/1.1", "HTTP/1.1 ", "HTTP/01.1", "HTTP/1.10", "HTTP/1", "HTTP/", "HTTP/1.1\x00", "HTTPS/1.1", "HTTP/9.9", "HTTP/1.1.1", "ICE/1.0", "HTTP/1.x", ""];

/** A malformed request built on purpose (never HEAD: see Job.tail). */
function genDirty(rng: Rng, known: Known, port: number): { bytes: Buffer; kind: string } {
  const base = () => genClean(rng, known, port, true);
  const withClose = (req: Req) => injectHeader(req.bytes, "Connection: close");
  const kind = rng.weighted<string>([
    [30, "mutated"],
    [8, "method"],
    [8, "version"],
    [7, "target"],
    [22, "headers"],
    [5, "huge"],
    [5, "garbage"],
    [5, "incomplete"],
    [4, "http09"],
    [3, "upgrade"],
    [3, "h2-preface"],
  ]);
  const target = () => genTarget(rng);
  const host = `Host: 127.0.0.1:${port}\r\n`;
  switch (kind) {
    case "mutated": {
      const { bytes, ops } = mutate(rng, withClose(base()));
      return { bytes, kind: `mutated(${ops.join(",")})` };
    }
    case "method":
      return { bytes: Buffer.from(`${rng.pick(BAD_METHODS)} ${target()} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`, "latin1"), kind };
    case "version":
      return { bytes: Buffer.from(`GET ${target()} ${rng.pick(BAD_VERSIONS)}\r\n${host}Connection: close\r\n\r\n`, "latin1"), kind };
    case "target": {
      const bad = rng.chance(0.3)
        ? genTarget(rng, true)
        : rng.pick(["/a b.txt", "/a\tb", "/a\x01", "/a\x7f", "/caf\xc3\xa9.txt", "/\xff\xfe", "", "/a\x00b", "/%00\x00", "/" + "\x80".repeat(10), "/a.txt\r", "/\x1b[31m"]);
      return { bytes: Buffer.from(`GET ${bad} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`, "latin1"), kind };
    }
    case "headers": {
      const variant = rng.pick([
        "X: a\r\n b\r\n", // obs-fold
        "X: a\r\n\tb\r\n",
        " Leading: space\r\n",
        "NoColon\r\n",
        "Space : before\r\n",
        ": empty-name\r\n",
        "Bad\x01Name: x\r\n",
        "Bad Name: x\r\n",
        "X: nul\x00here\r\n",
        "X: ctl\x01\r\n",
        "X: cr\rhere\r\n",
        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        "Content-Length: 1\r\nContent-Length: 2\r\n",
        "Content-Length: 0\r\nContent-Length: 0\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 1e3\r\n",
        "Content-Length: 0x10\r\n",
        "Content-Length: 99999999999999999999\r\n",
        "Content-Length: 5\r\n", // declared but not sent: the server waits for a body
        "Content-Length: 1, 1\r\n",
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding : chunked\r\n",
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n", // bad chunk size (the head ends early)
        "Transfer-Encoding: chunked\r\n\r\n5;" + "e".repeat(20_000) + "\r\nhello\r\n0\r\n",
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Expect: 100-continue-please\r\n",
        "Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
        "Host: second.example\r\n",
        "Host: a b\r\n",
        "Host: a\x00\r\n",
        "Connection: close, upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n",
      ]);
      const lf = rng.chance(0.15);
      const noHost = rng.chance(0.1);
      let text = `GET ${target()} HTTP/1.1\r\n${noHost ? "" : host}${variant}Connection: close\r\n\r\n`;
      if (lf) text = text.replace(/\r\n/g, "\n");
      return { bytes: Buffer.from(text, "latin1"), kind: `headers${lf ? "-lf" : ""}${noHost ? "-nohost" : ""}` };
    }
    case "huge": {
      const which = rng.pick(["long-target", "long-header", "many-headers", "long-name"]);
      const text =
        which === "long-target" ? `GET /${"a".repeat(rng.between(16_000, 70_000))} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`
        : which === "long-header" ? `GET / HTTP/1.1\r\n${host}X-Big: ${"b".repeat(rng.between(16_000, 70_000))}\r\nConnection: close\r\n\r\n`
        : which === "long-name" ? `GET / HTTP/1.1\r\n${host}${"N".repeat(rng.between(16_000, 40_000))}: v\r\nConnection: close\r\n\r\n`
        : `GET / HTTP/1.1\r\n${host}${Array.from({ length: rng.between(2000, 4000) }, (_, i) => `X-${i}: ${i}\r\n`).join("")}Connection: close\r\n\r\n`;
      return { bytes: Buffer.from(text, "latin1"), kind: `huge-${which}` };
    }
    case "garbage": {
      const g = rng.pick([
        () => Buffer.from(Array.from({ length: rng.between(1, 300) }, () => rng.int(256))),
        () => Buffer.from("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + "\x00".repeat(40), "latin1"), // a TLS ClientHello
        () => Buffer.from("\r\n".repeat(rng.between(1, 50)), "latin1"),
        () => Buffer.from("SSH-2.0-OpenSSH_9.0\r\n", "latin1"),
        () => Buffer.from(`${rng.string(rng.between(1, 50), VALUE_CHARS)}\r\n\r\n`, "latin1"),
      ]);
      return { bytes: g(), kind };
    }
    case "incomplete": {
      const full = withClose(base());
      return { bytes: full.subarray(0, rng.int(full.length)), kind };
    }
    case "http09":
      return { bytes: Buffer.from(`GET ${target()}\r\n${rng.chance(0.5) ? "\r\n" : ""}`, "latin1"), kind };
    case "upgrade":
      return { bytes: Buffer.from(`GET ${target()} HTTP/1.1\r\n${host}Connection: Upgrade\r\nUpgrade: ${rng.pick(["websocket", "h2c", "TLS/1.2", "x"])}\r\n\r\n`, "latin1"), kind };
    default:
      return { bytes: Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", "latin1"), kind };
  }
}

/** Adds a header line right after the request line (or at the end if there is none). */
function injectHeader(bytes: Buffer, line: string): Buffer {
  const eol = bytes.indexOf("\r\n");
  if (eol === -1) return bytes;
  return Buffer.concat([bytes.subarray(0, eol + 2), Buffer.from(`${line}\r\n`, "latin1"), bytes.subarray(eol + 2)]);
}

function genJob(index: number, known: Known, port: number, seed = SEED): Job {
  const rng = new Rng(jobSeed(seed, index));
  // Each connection costs the server about as much as a request: most carry a batch, and half of
  // the tails ride behind one.
  const shape = rng.weighted<string>([
    [40, "batch"],
    [22, "batch+tail"],
    [30, "tail"],
    [5, "abort"],
    [3, "split-tail"],
  ]);
  // A split tail arrives once the first answer has started: make that a 200 KiB one still streaming.
  const clean: Req[] = shape === "split-tail" ? [genPlainGet(known, "/big.bin")] : [];
  const count = shape === "tail" ? 0 : shape === "abort" || shape === "split-tail" ? rng.between(1, 6) : rng.weighted([[50, rng.between(1, 8)], [35, rng.between(9, 30)], [15, rng.between(31, 60)]]);
  for (let i = 0; i < count; i++) clean.push(genClean(rng, known, port));
  let tail: Buffer | null = null;
  let tailKind = "";
  if (shape === "batch+tail" || shape === "tail" || shape === "split-tail") {
    for (let attempt = 0; ; attempt++) {
      const dirty = genDirty(rng, known, port);
      // No HEAD in a tail, so every response after the batch carries its body.
      if (!dirty.bytes.includes("HEAD") || attempt > 20) {
        tail = dirty.bytes.includes("HEAD") ? Buffer.from("GARBAGE\r\n\r\n") : dirty.bytes;
        tailKind = dirty.kind;
        break;
      }
    }
  }
  return {
    index,
    clean,
    tail,
    tailKind,
    tailAfterFirstByte: shape === "split-tail",
    fragments: rng.chance(0.1) ? rng.between(2, 8) : 1,
    abortOnFirstByte: shape === "abort",
  };
}

/** `GET target`, nothing else; the answer is known when the target is a servable file. */
function genPlainGet(known: Known, target: string): Req {
  const etag = known.etagOf.get(target);
  const req: Req = { bytes: Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, "latin1"), method: "GET", hasRange: false, hasConditional: false };
  if (etag !== undefined) req.expect = { status: 200, etag };
  return req;
}

// ---------------------------------------------------------------------------------------------
// Reading responses off the wire
// ---------------------------------------------------------------------------------------------

interface Response {
  /** Which request of the batch this answers (the tail's are numbered on from the batch). */
  index: number;
  statusLine: string;
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** False when the connection closed before the body was complete. */
  complete: boolean;
}

function header(r: Response, name: string): string | undefined {
  return r.headers.find(([n]) => n === name)?.[1];
}

const TCHAR = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * An incremental HTTP/1.x response reader that is strict about what it accepts: pipelined
 * responses, interim 1xx, Content-Length, chunked, close-delimited; HEAD, 204 and 304 bodiless.
 */
class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private current: { response: Response; framing: "length" | "chunked" | "close"; remaining: number; chunks: Buffer[]; chunkState: "size" | "data" | "crlf" | "trailer" } | null = null;
  private finals = 0;
  broken: string | null = null;

  constructor(
    private readonly isHead: (index: number) => boolean,
    private readonly onResponse: (r: Response) => void,
  ) {}

  /** Bytes of an unfinished response are waiting. */
  get midResponse(): boolean {
    return this.current !== null || this.buf.length > 0;
  }

  get count(): number {
    return this.finals;
  }

  push(chunk: Buffer): void {
    if (this.broken) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    try {
      this.drain();
    } catch (error) {
      this.broken = (error as Error).message;
    }
  }

  /** The connection closed: a close-delimited body ends here; anything else unfinished is truncated. */
  close(): void {
    if (this.broken) return;
    const c = this.current;
    if (c) {
      if (c.framing === "close") c.chunks.push(this.buf);
      c.response.body = Buffer.concat(c.chunks);
      c.response.complete = c.framing === "close";
      this.current = null;
      this.finals++;
      this.onResponse(c.response);
    } else if (this.buf.length > 0) {
      const partial: Response = { index: this.finals, statusLine: "", status: 0, headers: [], body: this.buf, complete: false };
      this.finals++;
      this.onResponse(partial);
    }
    this.buf = Buffer.alloc(0);
  }

  private drain(): void {
    for (;;) {
      if (!this.current) {
        if (this.buf.length === 0) return;
        const prefix = this.buf.subarray(0, 7).toString("latin1");
        if (!"HTTP/1.".startsWith(prefix)) throw new Error(`response does not start with "HTTP/1.": ${JSON.stringify(this.buf.subarray(0, 40).toString("latin1"))}`);
        const end = this.buf.indexOf("\r\n\r\n");
        if (end === -1) {
          if (this.buf.length > 64 * 1024) throw new Error("response head longer than 64 KiB");
          return;
        }
        const head = this.buf.subarray(0, end).toString("latin1");
        this.buf = this.buf.subarray(end + 4);
        this.startResponse(head);
        continue;
      }
      const c = this.current;
      if (c.framing === "close") {
        if (this.buf.length > 0) c.chunks.push(this.buf);
        this.buf = Buffer.alloc(0);
        return;
      }
      if (c.framing === "length") {
        const take = Math.min(c.remaining, this.buf.length);
        if (take > 0) c.chunks.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        c.remaining -= take;
        if (c.remaining > 0) return;
        this.finish();
        continue;
      }
      // chunked
      if (c.chunkState === "size") {
        const eol = this.buf.indexOf("\r\n");
        if (eol === -1) {
          if (this.buf.length > 1024) throw new Error("chunk size line longer than 1 KiB");
          return;
        }
        const line = this.buf.subarray(0, eol).toString("latin1");
        if (!/^[0-9a-fA-F]+$/.test(line)) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
        this.buf = this.buf.subarray(eol + 2);
        c.remaining = parseInt(line, 16);
        c.chunkState = c.remaining === 0 ? "trailer" : "data";
      } else if (c.chunkState === "data") {
        const take = Math.min(c.remaining, this.buf.length);
        if (take > 0) c.chunks.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        c.remaining -= take;
        if (c.remaining > 0) return;
        c.chunkState = "crlf";
      } else if (c.chunkState === "crlf") {
        if (this.buf.length < 2) return;
        if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a) throw new Error("chunk data not followed by CRLF");
        this.buf = this.buf.subarray(2);
        c.chunkState = "size";
      } else {
        const eol = this.buf.indexOf("\r\n");
        if (eol === -1) return;
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) this.finish();
      }
    }
  }

  private startResponse(head: string): void {
    const [statusLine = "", ...lines] = head.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3}) ([\t\x20-\x7e\x80-\xff]*)$/.exec(statusLine);
    if (!m) throw new Error(`malformed status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers: Array<[string, string]> = [];
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      if (colon <= 0 || !TCHAR.test(name)) throw new Error(`malformed header line ${JSON.stringify(line)}`);
      const value = line.slice(colon + 1);
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new Error(`control character in header ${JSON.stringify(line)}`);
      headers.push([name.toLowerCase(), value.trim()]);
    }
    const response: Response = { index: this.finals, statusLine, status, headers, body: Buffer.alloc(0), complete: true };
    const lengths = headers.filter(([n]) => n === "content-length").map(([, v]) => v);
    const te = headers.filter(([n]) => n === "transfer-encoding").map(([, v]) => v.toLowerCase());
    if (lengths.length > 1) throw new Error(`${lengths.length} Content-Length headers`);
    if (lengths.length === 1 && te.length > 0) throw new Error("both Content-Length and Transfer-Encoding");
    if (lengths.length === 1 && !/^\d+$/.test(lengths[0]!)) throw new Error(`bad Content-Length ${JSON.stringify(lengths[0])}`);
    if (te.length > 0 && te.join(",") !== "chunked") throw new Error(`unexpected Transfer-Encoding ${te.join(",")}`);

    if (status >= 100 && status < 200) {
      if (status === 101) throw new Error("101 Switching Protocols without an upgrade handler");
      this.onResponse({ ...response, index: -1 }); // interim: no body, answers no request by itself
      return;
    }
    const bodiless = this.isHead(this.finals) || status === 204 || status === 304;
    if (bodiless) {
      this.current = { response, framing: "length", remaining: 0, chunks: [], chunkState: "size" };
      this.finish();
      return;
    }
    if (te.length > 0) this.current = { response, framing: "chunked", remaining: 0, chunks: [], chunkState: "size" };
    else if (lengths.length === 1) this.current = { response, framing: "length", remaining: Number(lengths[0]), chunks: [], chunkState: "size" };
    else this.current = { response, framing: "close", remaining: 0, chunks: [], chunkState: "size" };
    if (this.current.framing === "length" && this.current.remaining === 0) this.finish();
  }

  private finish(): void {
    const c = this.current!;
    c.response.body = c.chunks.length === 1 ? c.chunks[0]! : Buffer.concat(c.chunks);
    this.current = null;
    this.finals++;
    this.onResponse(c.response);
  }
}

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

interface Finding {
  kind: string;
  message: string;
}

/**
 * Checks one response. `req` is the clean request it answers, or null for answers to the tail (or
 * to whatever the tail became). `mayBeCut`: the connection may end early (a tail or an abort follows).
 */
function checkResponse(r: Response, req: Req | null, known: Known, mayBeCut: boolean): Finding[] {
  const found: Finding[] = [];
  const fail = (kind: string, message: string) => found.push({ kind, message });
  const clean = req !== null && r.index >= 0;
  if (r.status === 0) {
    // Bytes that never made a full head before the close.
    if (clean && !mayBeCut) fail("clean-truncated-head", `the connection closed inside the head of the answer to request #${r.index}`);
    return found;
  }
  if (!KNOWN_STATUSES.has(r.status)) fail("unknown-status", `status ${r.status} is not in the known set`);
  if (r.status >= 500 && r.status !== 503) fail("server-error", `status ${r.status}: an unexpected error inside the server`);
  if (r.index === -1) return found; // 1xx: nothing more to check

  const headOnly = req?.method === "HEAD";
  const cl = header(r, "content-length");
  if (r.complete && cl !== undefined && !headOnly && r.status !== 304 && r.status !== 204 && Number(cl) !== r.body.length) fail("length-mismatch", `Content-Length ${cl} but ${r.body.length} body bytes`);
  if (clean && !mayBeCut && !r.complete) fail("clean-truncated", `the answer to request #${r.index} (${r.status}) stopped after ${r.body.length} of ${cl ?? "?"} body bytes`);
  if (clean && header(r, "x-content-type-options") === undefined) {
    // Node's parser accepts every clean request, so its answer comes from the handler, which always
    // adds nosniff. Anything else is the parser's error (400, 431...) for a later, malformed request.
    fail("misattributed-error", `well-formed request #${r.index} was answered with ${r.status} from outside the handler, the parser's answer to a malformed request pipelined after it`);
    return found;
  }

  const etag = header(r, "etag");
  const content = etag === undefined ? undefined : known.byEtag.get(etag);
  const page = etag !== undefined && content === undefined ? PAGE_ETAG.exec(etag) : null;
  if (etag !== undefined && content === undefined && page === null && r.status !== 304 && r.status !== 412) fail("unknown-etag", `ETag ${etag} names no file the server should serve`);
  if (etag !== undefined && content === undefined && page === null && (r.status === 304 || r.status === 412)) fail("unknown-etag", `${r.status} with ETag ${etag}, which names no file the server should serve`);
  // A page serve-here made: its ETag names its decoded bytes, marked with the coding they travel in.
  const pageBody = page !== null && !headOnly && r.complete && r.status !== 304 && r.status !== 412 ? decodedBody(r, fail) : null;
  if (page !== null && r.status !== 304 && r.status !== 412 && (page[2] ?? "") !== (CODING_MARK[header(r, "content-encoding") ?? "identity"] ?? "?")) {
    fail("page-etag-coding", `ETag ${etag} with Content-Encoding ${header(r, "content-encoding") ?? "none"}`);
  }
  if (page !== null && pageBody !== null && pageEtag(pageBody) !== page[1]) fail("page-etag-mismatch", `ETag ${etag} is not made from the page's ${pageBody.length} bytes`);

  if (r.status === 200 && content !== undefined) {
    if (cl !== String(content.length)) fail("wrong-length", `200 for a ${content.length}-byte file with Content-Length ${cl}`);
    if (!headOnly && !content.subarray(0, r.body.length).equals(r.body)) fail("body-mismatch", `200 body differs from the file (ETag ${etag}) at byte ${firstDifference(content, r.body)}`);
  }
  if (r.status === 206) {
    if (req && !req.hasRange) fail("unasked-206", "206 for a request without Range");
    if (req && req.method !== "GET") fail("unasked-206", `206 for ${req.method}`);
    checkPartial(r, content, fail);
  }
  if (r.status === 416) {
    if (req && !req.hasRange) fail("unasked-416", "416 for a request without Range");
    if (!/^bytes \*\/\d+$/.test(header(r, "content-range") ?? "")) fail("bad-416", `416 with Content-Range ${JSON.stringify(header(r, "content-range"))}`);
    if (content && header(r, "content-range") !== `bytes */${content.length}`) fail("bad-416", `416 Content-Range ${header(r, "content-range")} for a ${content.length}-byte file`);
  }
  if ((r.status === 304 || r.status === 412) && req && !req.hasConditional) fail("unasked-conditional", `${r.status} for a request without preconditions`);
  if (r.status === 304 && r.body.length > 0) fail("body-on-304", "304 with a body");
  if (r.status === 301) {
    const location = header(r, "location") ?? "";
    if (!/^\/(?![/\\])/.test(location)) fail("open-redirect", `301 Location ${JSON.stringify(location)} does not stay on this server`);
    if (/[^\x21-\x7e]/.test(location)) fail("bad-location", `301 Location ${JSON.stringify(location)} has raw bytes`);
    // A redirect goes to the normal form (RFC 3986 §5.2.4): no `.` or `..` segment in any spelling.
    if (location.split("?")[0]!.split("/").some((s) => /^(\.|%2e){1,2}$/i.test(s))) fail("bad-location", `301 Location ${JSON.stringify(location)} holds a dot segment`);
  }
  // PROPFIND is WebDAV's read: its 404 is the generic page, for a client that is no browser.
  if (r.status === 404 && !headOnly && r.complete && r.body.length > 0 && !r.body.equals(known.notFoundPage) && req?.method !== "PROPFIND") fail("wrong-404", "404 body is not the root's 404.html");
  if (r.status === 207 && req?.method !== "PROPFIND") fail("unasked-207", `207 for ${req?.method}`);
  if (r.status === 207 && r.complete) {
    // A Multi-Status lists what a listing would: every name escaped, no dotfile.
    const xml = r.body.toString("latin1");
    if (!xml.includes("<D:multistatus") || !xml.trimEnd().endsWith("</D:multistatus>")) fail("bad-207", "207 body is not a whole D:multistatus");
    if (r.body.includes(ODD_RAW)) fail("unescaped-listing", `the PROPFIND answer shows ${JSON.stringify(ODD_RAW)} unescaped`);
    if (r.body.includes(DOTNAME_TOKEN) || xml.includes(".secret-note") || xml.includes(".hidden-dir") || xml.includes(".env")) fail("dotfile-listed", "the PROPFIND answer names a dotfile");
  }
  const type = header(r, "content-type") ?? "";
  if (r.status === 200 && pageBody !== null && type.startsWith("text/html")) {
    // A generated listing: every name escaped, no dotfile listed.
    if (pageBody.includes(ODD_RAW)) fail("unescaped-listing", `the listing shows ${JSON.stringify(ODD_RAW)} unescaped`);
    if (pageBody.includes(DOTNAME_TOKEN) || pageBody.includes(".secret-note") || pageBody.includes(".hidden-dir") || pageBody.includes(".env")) fail("dotfile-listed", "the listing names a dotfile");
  }
  if (req?.expect) {
    const e = req.expect;
    if (r.status !== e.status || (e.etag !== undefined && etag !== e.etag)) fail("wrong-answer", `expected ${e.status} with ETag ${e.etag}, got ${r.status} with ETag ${etag}`);
    if (e.location !== undefined && header(r, "location") !== e.location) fail("wrong-answer", `expected a redirect to ${e.location}, got ${r.status} to ${header(r, "location")}`);
  }
  return found;
}

/** A generated page's ETag: its length in base 36 and 96 bits of its SHA-1 (base64url), then its coding's mark. */
const PAGE_ETAG = /^"([0-9a-z]+-[A-Za-z0-9_-]{16})(-br|-gz|-zst)?"$/;
const CODING_MARK: Readonly<Record<string, string>> = { identity: "", br: "-br", gzip: "-gz", zstd: "-zst" };

function pageEtag(body: Buffer): string {
  return `${body.length.toString(36)}-${createHash("sha1").update(body).digest("base64url").slice(0, 16)}`;
}

/** The body as made, before its Content-Encoding; null (and a finding) when it does not decode. */
function decodedBody(r: Response, fail: (kind: string, message: string) => void): Buffer | null {
  const coding = header(r, "content-encoding");
  try {
    if (coding === undefined) return r.body;
    if (coding === "br") return zlib.brotliDecompressSync(r.body);
    if (coding === "gzip") return zlib.gunzipSync(r.body);
    if (coding === "zstd") return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(r.body);
  } catch (error) {
    fail("bad-coding", `a ${coding} body that does not decode: ${(error as Error).message}`);
    return null;
  }
  fail("bad-coding", `Content-Encoding ${coding}`);
  return null;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** A 206: one range with a consistent Content-Range, or multipart/byteranges whose parts all check out. */
function checkPartial(r: Response, content: Buffer | undefined, fail: (kind: string, message: string) => void): void {
  const type = header(r, "content-type") ?? "";
  const cl = header(r, "content-length");
  const multipart = /^multipart\/byteranges; boundary=([0-9A-Za-z'()+_,./:=?-]{1,70})$/.exec(type);
  if (!multipart) {
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(r, "content-range") ?? "");
    if (!cr) return fail("bad-206", `206 with Content-Range ${JSON.stringify(header(r, "content-range"))}`);
    const [start, end, size] = [Number(cr[1]), Number(cr[2]), Number(cr[3])];
    if (!(start <= end && end < size)) fail("bad-206", `206 Content-Range ${cr[0]} is not a range inside the file`);
    if (Number(cl) !== end - start + 1) fail("bad-206", `206 Content-Range ${cr[0]} but Content-Length ${cl}`);
    if (content) {
      if (size !== content.length) fail("bad-206", `206 Content-Range ${cr[0]} for a ${content.length}-byte file`);
      const slice = content.subarray(start, end + 1);
      if (!slice.subarray(0, r.body.length).equals(r.body)) fail("body-mismatch", `206 ${cr[0]} body differs from the file at byte ${firstDifference(slice, r.body)}`);
    }
    return;
  }
  if (header(r, "content-range") !== undefined) fail("bad-206", "multipart 206 with a top-level Content-Range");
  if (!r.complete) return;
  const boundary = multipart[1]!;
  let at = 0;
  let previousEnd = -2;
  const body = r.body;
  for (let part = 0; ; part++) {
    const delimiter = `${part === 0 ? "" : "\r\n"}--${boundary}`;
    if (!body.subarray(at, at + delimiter.length).equals(Buffer.from(delimiter))) return fail("bad-multipart", `part ${part}: no delimiter at byte ${at}`);
    at += delimiter.length;
    if (body.subarray(at, at + 4).toString("latin1") === "--\r\n") {
      if (at + 4 !== body.length) fail("bad-multipart", "bytes after the closing delimiter");
      if (part < 2) fail("bad-multipart", `multipart with ${part} part(s)`);
      return;
    }
    const headEnd = body.indexOf("\r\n\r\n", at);
    if (headEnd === -1) return fail("bad-multipart", `part ${part}: no end of headers`);
    const partHead = body.subarray(at, headEnd).toString("latin1");
    const cr = /\r\nContent-Range: bytes (\d+)-(\d+)\/(\d+)(?:\r\n|$)/i.exec(partHead);
    if (!cr) return fail("bad-multipart", `part ${part}: no Content-Range in ${JSON.stringify(partHead)}`);
    const [start, end, size] = [Number(cr[1]), Number(cr[2]), Number(cr[3])];
    if (!(start <= end && end < size)) fail("bad-multipart", `part ${part}: ${cr[0].trim()} is not inside the file`);
    if (start <= previousEnd + 1) fail("bad-multipart", `part ${part}: ranges not sorted and coalesced`);
    previousEnd = end;
    at = headEnd + 4;
    const data = body.subarray(at, at + end - start + 1);
    if (content) {
      if (size !== content.length) fail("bad-multipart", `part ${part}: size ${size} for a ${content.length}-byte file`);
      if (!data.equals(content.subarray(start, end + 1))) fail("body-mismatch", `part ${part}: bytes ${start}-${end} differ from the file`);
    }
    at += end - start + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Running a job on one connection
// ---------------------------------------------------------------------------------------------

interface JobResult {
  findings: Finding[];
  statuses: number[];
  /** What came back, in order, for a report: "#0 200 (6 bytes)", "#1 400 close"... */
  trace: string[];
  /** The first bytes the server sent (up to 64 KiB), for FUZZ_JOB replays. */
  raw: Buffer[];
  /** Requests the server never answered (allowed only after a tail or an abort). */
  unanswered: number;
  truncated: number;
}

/** Streams a marker search across chunk boundaries. */
class MarkerScan {
  private tail = Buffer.alloc(0);
  private readonly markers: Buffer[];
  seen: string[] = [];
  constructor(markers: string[]) {
    this.markers = markers.map((m) => Buffer.from(m));
  }
  push(chunk: Buffer): void {
    const seam = Buffer.concat([this.tail, chunk.subarray(0, 64)]);
    for (const m of this.markers) {
      if ((chunk.includes(m) || seam.includes(m)) && !this.seen.includes(m.toString())) this.seen.push(m.toString());
    }
    this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - 64)));
  }
}

function runJob(port: number, job: Job, known: Known): Promise<JobResult> {
  return new Promise((resolve) => {
    const result: JobResult = { findings: [], statuses: [], trace: [], raw: [], unanswered: 0, truncated: 0 };
    const socket = net.connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    const scan = new MarkerScan([OUTSIDE_MARKER, DOTFILE_MARKER]);
    const batch = Buffer.concat(job.clean.map((r) => r.bytes));
    let wroteAll = false;
    let tailSent = job.tail === null;
    let ended = false;
    let done = false;
    let lastActivity = Date.now();
    /** The clean request whose answer said "Connection: close": the ones after it may go unanswered. */
    let closedAfter = Infinity;

    const reader = new ResponseReader(
      (i) => job.clean[i]?.method === "HEAD",
      (r) => {
        if (r.index >= 0) result.statuses.push(r.status);
        result.trace.push(`${r.index === -1 ? "interim" : `#${r.index}`} ${r.status || "(partial head)"}${r.complete ? "" : " cut short"} ${r.body.length}B${/close/i.test(header(r, "connection") ?? "") ? " close" : ""}${header(r, "etag") ? ` ${header(r, "etag")}` : ""}`);
        if (!r.complete) result.truncated++;
        const req = r.index >= 0 ? (job.clean[r.index] ?? null) : null;
        // With a tail or an abort behind the batch, the connection may legitimately end early.
        for (const f of checkResponse(r, req, known, job.tail !== null || job.abortOnFirstByte)) result.findings.push(f);
        // A server may close after any response that says so (Node does for a 304 to HTTP/1.0 keep-alive).
        if (req && closedAfter === Infinity && /\bclose\b/i.test(header(r, "connection") ?? "")) closedAfter = r.index;
        maybeFinish();
      },
    );

    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(ticker);
      socket.destroy();
      reader.close();
      if (reader.broken) result.findings.push({ kind: "malformed", message: `malformed response after ${reader.count} responses: ${reader.broken}` });
      for (const m of scan.seen) result.findings.push({ kind: "secret-leak", message: `the response contains the marker ${m}` });
      result.unanswered = Math.max(0, job.clean.length + (job.tail ? 1 : 0) - result.statuses.length);
      const owed = Math.min(job.clean.length, closedAfter + 1);
      if (job.tail === null && !job.abortOnFirstByte && result.statuses.length < owed) {
        result.findings.push({ kind: "clean-unanswered", message: `${owed - result.statuses.length} of ${job.clean.length} well-formed requests got no answer` });
      }
      resolve(result);
    };

    const cleanDone = () => reader.count >= job.clean.length;
    const tailUnfinished = job.tail !== null && !job.tail.includes("\r\n\r\n") && !job.tail.includes("\n\n");
    function maybeFinish() {
      if (done) return;
      if (reader.broken) return finish();
      // Without a tail, once every clean request is answered the client is done.
      if (job.tail === null && !job.abortOnFirstByte && (cleanDone() || reader.count > closedAfter) && !reader.midResponse) return finish();
      // A tail without the blank line that ends a head can only leave the server waiting: once the
      // batch is answered, half-close at once rather than after a quiet period.
      if (tailUnfinished && wroteAll && tailSent && !ended && cleanDone() && !reader.midResponse) halfClose();
    }
    function halfClose() {
      ended = true;
      lastActivity = Date.now();
      socket.end();
    }

    let rawBytes = 0;
    socket.on("data", (chunk: Buffer) => {
      lastActivity = Date.now();
      scan.push(chunk);
      if (ONLY_JOBS.length > 0 && rawBytes < 65536) {
        result.raw.push(chunk.subarray(0, 65536 - rawBytes));
        rawBytes += chunk.length;
      }
      if (job.abortOnFirstByte) return finish();
      if (!tailSent && job.tailAfterFirstByte) {
        tailSent = true;
        // After the whole batch: a tail slipped between its fragments would make a clean request
        // malformed on the wire, and the server's 400 for it would be right.
        if (wroteAll) socket.write(job.tail!);
        else pieces.push(job.tail!);
      }
      reader.push(chunk);
      maybeFinish();
    });
    socket.on("error", () => {}); // a reset is a close
    socket.on("close", () => {
      if (!done) finish();
    });

    // Quiet-period and liveness checks, on a coarse timer (no assertion depends on its timing).
    const ticker = setInterval(() => {
      if (done) return;
      const quiet = Date.now() - lastActivity;
      if (quiet > HANG_MS) {
        result.findings.push({
          kind: "hang",
          message: `no byte and no close for ${HANG_MS} ms (${reader.count} responses so far, ${ended ? "after" : "before"} the client half-closed)`,
        });
        return finish();
      }
      // Only a tail can leave a correct server waiting; without one, a silent server is a hang.
      if (job.tail === null || !wroteAll || !tailSent || ended || quiet < QUIET_MS || reader.midResponse) return;
      if (!cleanDone() && quiet < 2000) return; // give the batch time; a tail-caused close ends it anyway
      // The tail (or a batch cut short) left the server waiting: half-close, it must answer or close.
      halfClose();
    }, QUIET_MS / 2);

    // Writing: the batch in one write or in fragments, then the tail.
    const pieces: Buffer[] = [];
    if (job.fragments <= 1 || batch.length < 2) pieces.push(batch);
    else {
      const rng = new Rng(jobSeed(SEED ^ 0x5a5a5a5a, job.index));
      const cuts = Array.from({ length: job.fragments - 1 }, () => 1 + rng.int(batch.length - 1)).sort((a, b) => a - b);
      let from = 0;
      for (const cut of [...cuts, batch.length]) {
        if (cut > from) pieces.push(batch.subarray(from, cut));
        from = cut;
      }
    }
    if (job.tail && !job.tailAfterFirstByte) {
      pieces.push(job.tail);
      tailSent = true;
    }
    const writeNext = () => {
      if (done || socket.destroyed) return;
      const piece = pieces.shift();
      if (piece === undefined) {
        wroteAll = true;
        return maybeFinish();
      }
      if (piece.length > 0) socket.write(piece);
      if (pieces.length > 0 && job.fragments > 1) setImmediate(writeNext);
      else writeNext();
    };
    socket.once("connect", writeNext);
  });
}

/**
 * Bytes as a JavaScript expression for a latin1 string, exact and short: JSON strings, with long
 * runs of one character written as `"a".repeat(n)`. Paste it into REGRESSIONS to replay.
 */
function bytesLiteral(bytes: Buffer): string {
  const text = bytes.toString("latin1");
  const parts: string[] = [];
  let plain = "";
  for (let i = 0; i < text.length; ) {
    let run = 1;
    while (i + run < text.length && text[i + run] === text[i]) run++;
    if (run >= 32) {
      if (plain) parts.push(JSON.stringify(plain));
      plain = "";
      parts.push(`${JSON.stringify(text[i])}.repeat(${run})`);
    } else plain += text.slice(i, i + run);
    i += run;
  }
  if (plain || parts.length === 0) parts.push(JSON.stringify(plain));
  return parts.join(" + ");
}

/** The exact bytes of a job, escaped for a report (and for REGRESSIONS). */
function describeJob(job: Job): string {
  const show = (b: Buffer) => bytesLiteral(b);
  const lines = [job.index < 0 ? "regression" : `job #${job.index} (seed ${SEED}; replay this job alone: ${RUN.replay({ FUZZ_JOB: job.index })})`];
  lines.push(`  mode: ${job.abortOnFirstByte ? "client leaves at the first response byte" : job.tailAfterFirstByte ? "tail sent once the first response byte arrived" : "pipelined"}${job.fragments > 1 ? `, batch in ${job.fragments} fragments` : ""}`);
  const expects = (e: NonNullable<Req["expect"]>) => ` (expects ${e.status}${e.etag ? ` ${e.etag}` : ""}${e.location ? ` to ${e.location}` : ""})`;
  job.clean.forEach((r, i) => lines.push(`  clean #${i}: ${show(r.bytes)}${r.expect ? expects(r.expect) : ""}`));
  if (job.tail) lines.push(`  tail [${job.tailKind}]: ${show(job.tail)}`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

interface ProcStatus {
  rss: number;
  hwm: number;
  /** CPU seconds, user + system (assuming the usual 100 ticks a second). */
  cpu: number;
}

function procStatus(pid: number): ProcStatus {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { rss: kb("VmRSS"), hwm: kb("VmHWM"), cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
}

async function startTarget(t: TestContext): Promise<{ cli: RunningCli; site: Site; known: Known }> {
  const site = buildSite(t);
  const cli = await startCli(t, [site.root, "--port", "0", "--bind", "127.0.0.1", "--quiet", "--cors"]);
  // Learn each file's ETag from the server itself, and check the forbidden ones really are.
  const known: Known = { byEtag: new Map(), etagOf: new Map(), lastModified: [], files: site.servable, notFoundPage: site.notFoundPage };
  for (const file of site.servable) {
    const got = await fetchOne(cli.port, genPlainGet(known, file.target).bytes);
    assert.equal(got.status, 200, `warm-up: ${file.target} should be served`);
    assert.ok(got.body.equals(file.content), `warm-up: ${file.target} should be served whole`);
    const etag = header(got, "etag")!;
    known.byEtag.set(etag, file.content);
    known.etagOf.set(file.target, etag);
    known.lastModified.push(header(got, "last-modified")!);
  }
  for (const target of site.forbidden) {
    const got = await fetchOne(cli.port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
    assert.equal(got.status, 404, `warm-up: ${target} must not be served`);
  }
  return { cli, site, known };
}

/** One request on its own connection, answered in full. */
function fetchOne(port: number, bytes: Buffer): Promise<Response> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let got: Response | null = null;
    const reader = new ResponseReader(
      () => bytes.subarray(0, 5).toString() === "HEAD ",
      (r) => {
        if (r.index < 0) return;
        got = r;
        socket.destroy();
        resolve(r);
      },
    );
    socket.on("data", (c: Buffer) => {
      reader.push(c);
      if (reader.broken) {
        socket.destroy();
        reject(new Error(reader.broken));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => {
      if (!got) reject(new Error("closed without an answer"));
    });
    socket.write(bytes);
  });
}

/** The server's descriptors once the dust settles: sampled until two readings agree. */
async function settledDescriptors(pid: number): Promise<number> {
  let previous = -1;
  for (let i = 0; i < 50; i++) {
    const now = openDescriptorCount(pid);
    if (now === previous) return now;
    previous = now;
    await new Promise((r) => setTimeout(r, 100));
  }
  return previous;
}

interface RunSummary {
  requests: number;
  connections: number;
  histogram: Map<string, number>;
  findings: Map<string, { count: number; example: string }>;
}

async function runJobs(port: number, known: Known, nextJob: () => Job | null, concurrency: number): Promise<RunSummary> {
  const summary: RunSummary = { requests: 0, connections: 0, histogram: new Map(), findings: new Map() };
  const bump = (key: string) => summary.histogram.set(key, (summary.histogram.get(key) ?? 0) + 1);
  const worker = async () => {
    for (let job = nextJob(); job; job = nextJob()) {
      const result = await runJob(port, job, known);
      summary.connections++;
      summary.requests += job.clean.length + (job.tail ? 1 : 0);
      for (const s of result.statuses) bump(String(s));
      for (let i = 0; i < result.unanswered; i++) bump("no answer");
      for (let i = 0; i < result.truncated; i++) bump("cut short");
      for (const f of result.findings) {
        const entry = summary.findings.get(f.kind);
        if (entry) entry.count++;
        else summary.findings.set(f.kind, { count: 1, example: `${f.kind}: ${f.message}\n${describeJob(job)}\n  received: ${result.trace.join(" | ") || "nothing"}` });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summary;
}

function formatHistogram(h: Map<string, number>): string {
  return [...h.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(", ");
}

function findingsReport(findings: RunSummary["findings"]): string {
  return [...findings.values()].map((f) => `[${f.count}×] ${f.example}`).join("\n\n");
}

/** After a run: alive, answering, silent on stderr, descriptors back to the baseline. */
async function checkServerHealth(t: TestContext, cli: RunningCli, known: Known, baselineFds: number, label: string): Promise<{ fdsAfter: number }> {
  assert.equal(cli.child.exitCode, null, `${label}: the server exited (code ${cli.child.exitCode}); stderr: ${cli.stderr()}`);
  assert.equal(cli.child.signalCode, null, `${label}: the server was killed by ${cli.child.signalCode}; stderr: ${cli.stderr()}`);
  const answer = await fetchOne(cli.port, Buffer.from("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  assert.equal(answer.status, 200, `${label}: a plain GET after the run`);
  assert.equal(answer.body.toString(), "alpha\n", `${label}: a plain GET after the run`);
  assert.equal(header(answer, "etag"), known.etagOf.get("/a.txt"), `${label}: the same file as before the run`);
  let fdsAfter = openDescriptorCount(cli.child.pid!);
  await eventually(
    () => (fdsAfter = openDescriptorCount(cli.child.pid!)) <= baselineFds + FD_SLACK,
    `${label}: the server holds ${openDescriptorCount(cli.child.pid!)} descriptors, ${baselineFds} before (${RUN.line}): leaked file handles or sockets`,
    15_000,
  ).catch((error: Error) => {
    t.diagnostic(`${label}: descriptors ${fdsAfter}, baseline ${baselineFds}`);
    throw error;
  });
  assert.equal(cli.stderr(), "", `${label}: the server wrote to stderr (an unexpected error or a warning), ${RUN.line}`);
  return { fdsAfter };
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs the fuzzer found, replayed as they were, before any random ones
// ---------------------------------------------------------------------------------------------

interface Regression {
  name: string;
  /** Well-formed GETs pipelined first, as targets (their answers are known exactly), each with optional extra header lines. */
  gets: Array<string | { target: string; headers: string }>;
  /** Bytes after them (latin1), or null. */
  tail: string | null;
  mode: "pipelined" | "tail-after-first-byte" | "abort-on-first-byte";
  /** Run it this many times, so a leak of one descriptor per run cannot hide in the slack. */
  repeat: number;
}

const REGRESSIONS: Regression[] = [
  {
    // The clientError handler wrote "HTTP/1.1 400 Bad Request..." into the middle of the 200's body.
    name: "a malformed request arriving while a large response streams does not corrupt its body",
    gets: ["/big.bin"],
    tail: "GARBAGE\r\n\r\n",
    mode: "tail-after-first-byte",
    repeat: 5,
  },
  {
    // Responses queued behind another never finished when the connection died: each kept its file open.
    name: "a client that leaves in the middle of a pipelined batch leaks no file descriptors",
    gets: ["/big.bin", "/a.txt", "/hello.html", "/big.bin"],
    tail: null,
    mode: "abort-on-first-byte",
    repeat: 10,
  },
  {
    // The garbage's 400 went out as the answer to the first GET; the other answers were lost, their files left open.
    name: "a malformed request after a pipelined batch neither answers a good request with its 400 nor leaks descriptors",
    gets: ["/a.txt", "/big.bin", "/a.txt"],
    tail: "GARBAGE\r\n\r\n",
    mode: "pipelined",
    repeat: 10,
  },
  {
    // Node's automatic "100 Continue" for a pipelined request went out after the head of its final
    // response, inside the body: `...Content-Length: 48\r\n...\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n<!DOCTYPE...`.
    name: "Expect: 100-continue on a pipelined request never puts an interim response inside a body",
    gets: ["/big.bin", { target: "/hello.html", headers: "Expect: 100-continue\r\n" }],
    tail: null,
    mode: "pipelined",
    repeat: 3,
  },
];

/** How many of a run's jobs the printed digest of its cases covers. */
const DIGEST_JOBS = 500;

/**
 * A digest of the first `jobs` jobs a seed generates, which a replay prints again: what shows that
 * it runs the same cases. They are generated against a stand-in for what differs from run to run
 * and is not the seed's doing: the port, the files' ETags (they carry inode numbers) and their
 * dates (some files are made at test time, and keep that time).
 */
function casesDigest(seed: number, files: Known["files"], jobs: number): string {
  const etag = (i: number) => `"etag-${i}"`;
  const standIn: Known = {
    byEtag: new Map(files.map((file, i) => [etag(i), file.content])),
    etagOf: new Map(files.map((file, i) => [file.target, etag(i)])),
    lastModified: files.map((_, i) => new Date(Date.UTC(2024, 0, 1 + i, 12)).toUTCString()),
    files,
    notFoundPage: Buffer.alloc(0),
  };
  const hash = createHash("sha256");
  for (let index = 0; index < jobs; index++) {
    const job = genJob(index, standIn, 1, seed);
    for (const req of job.clean) hash.update(req.bytes).update("\0");
    hash.update(job.tail ?? "").update(`\0${job.tailKind} ${job.tailAfterFirstByte} ${job.fragments} ${job.abortOnFirstByte}\n`);
  }
  return hash.digest("hex").slice(0, 16);
}

test("a seed generates the same cases every time, and another seed other cases", (t) => {
  const { servable } = buildSite(t);
  const digest = casesDigest(SEED, servable, 500);
  assert.equal(casesDigest(SEED, servable, 500), digest, `${RUN.line}: generating again gave other cases`);
  assert.notEqual(casesDigest((SEED + 1) >>> 0, servable, 500), digest, "the seed is what chooses the cases");
});

test("fuzz regressions: inputs found by the fuzzer, replayed", { timeout: 120_000 }, async (t) => {
  const { cli, known } = await startTarget(t);
  const pid = cli.child.pid!;
  const baselineFds = await settledDescriptors(pid);
  for (const regression of REGRESSIONS) {
    await t.test(regression.name, async (t) => {
      const fdsBefore = await settledDescriptors(pid);
      const jobs: Job[] = Array.from({ length: regression.repeat }, () => ({
        index: -1,
        clean: regression.gets.map((g) => {
          const { target, headers } = typeof g === "string" ? { target: g, headers: "" } : g;
          const req = genPlainGet(known, target);
          return { ...req, bytes: Buffer.from(req.bytes.toString("latin1").replace(/\r\n\r\n$/, `\r\n${headers}\r\n`), "latin1") };
        }),
        tail: regression.tail === null ? null : Buffer.from(regression.tail, "latin1"),
        tailKind: "regression",
        tailAfterFirstByte: regression.mode === "tail-after-first-byte",
        fragments: 1,
        abortOnFirstByte: regression.mode === "abort-on-first-byte",
      }));
      const summary = await runJobs(cli.port, known, () => jobs.shift() ?? null, 1);
      const fds = await settledDescriptors(pid);
      t.diagnostic(`${formatHistogram(summary.histogram)}; descriptors ${fdsBefore} before, ${fds} after`);
      assert.equal(summary.findings.size, 0, findingsReport(summary.findings));
      assert.ok(fds <= fdsBefore + FD_SLACK, `the server holds ${fds} descriptors after ${regression.repeat} runs, ${fdsBefore} before: leaked file handles`);
    });
  }
  await checkServerHealth(t, cli, known, baselineFds, "after the regressions");
});

// ---------------------------------------------------------------------------------------------
// The fuzz run
// ---------------------------------------------------------------------------------------------

test(`fuzz: ${ITERATIONS} generated and mutated requests over raw sockets (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
  t.diagnostic(RUN.line);
  const { cli, known } = await startTarget(t);
  const pid = cli.child.pid!;
  const baselineFds = await settledDescriptors(pid);
  const before = procStatus(pid);

  if (ONLY_JOBS.length > 0) {
    const findings: string[] = [];
    for (const n of ONLY_JOBS) {
      const job = genJob(n, known, cli.port);
      const result = await runJob(cli.port, job, known);
      for (const line of describeJob(job).split("\n")) t.diagnostic(line);
      t.diagnostic(`  received: ${result.trace.join(" | ") || "nothing"}`);
      t.diagnostic(`  raw: ${bytesLiteral(Buffer.concat(result.raw))}`);
      for (const f of result.findings) findings.push(`job #${n}: ${f.kind}: ${f.message}`);
    }
    assert.deepEqual(findings, []);
    return;
  }

  let index = 0;
  let allotted = 0;
  let peakRss = before.rss;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, procStatus(pid).rss);
    } catch {
      // the process is gone: reported below
    }
  }, 250);
  const started = performance.now();
  const summary = await runJobs(
    cli.port,
    known,
    () => {
      if (allotted >= ITERATIONS) return null;
      const job = genJob(index++, known, cli.port);
      allotted += job.clean.length + (job.tail ? 1 : 0);
      return job;
    },
    CONCURRENCY,
  );
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);

  const after = cli.child.exitCode === null ? procStatus(pid) : { rss: NaN, hwm: NaN, cpu: NaN };
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  t.diagnostic(`seed ${SEED}: ${summary.requests} requests on ${summary.connections} connections in ${elapsed.toFixed(1)} s (${Math.round(summary.requests / elapsed)} requests/s)`);
  t.diagnostic(`statuses: ${formatHistogram(summary.histogram)}`);
  // Generating costs ~2 ms a job: a prefix of the run's jobs is digest enough.
  const digested = Math.min(index, DIGEST_JOBS);
  t.diagnostic(`cases: ${index} jobs of seed ${SEED}; the first ${digested} digest to ${casesDigest(SEED, known.files, digested)} (a replay prints the same)`);
  t.diagnostic(`server CPU ${(after.cpu - before.cpu).toFixed(1)} s, this process ${(process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6).toFixed(1)} s`);
  t.diagnostic(`server memory: VmRSS ${mb(before.rss)} before, ${mb(after.rss)} after, sampled peak ${mb(peakRss)}, VmHWM ${mb(after.hwm)}`);

  let fdsAfter = NaN;
  let healthError: unknown = null;
  try {
    ({ fdsAfter } = await checkServerHealth(t, cli, known, baselineFds, "after the fuzz run"));
  } catch (error) {
    healthError = error;
  }
  t.diagnostic(`descriptors: ${baselineFds} before, ${Number.isNaN(fdsAfter) ? openDescriptorCount(pid) : fdsAfter} after`);

  assert.ok(summary.requests >= ITERATIONS, `only ${summary.requests} of ${ITERATIONS} requests were sent`);
  assert.equal(summary.findings.size, 0, `${RUN.line}: ${summary.findings.size} kind(s) of failure:\n\n${findingsReport(summary.findings)}`);
  if (healthError) throw healthError;
  assert.ok(after.hwm < MAX_PEAK_RSS_BYTES, `peak RSS ${mb(after.hwm)} is above ${mb(MAX_PEAK_RSS_BYTES)} (${RUN.line})`);
});
