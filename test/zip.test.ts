/**
 * Folders as zip (`?download=zip`): each archive is fetched from a real server and checked by two
 * independent readers, Info-ZIP's `unzip -t` and Python's `zipfile` (CRC of every entry, names,
 * flags, compression method), never by our own code.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readlinkSync, readFileSync, symlinkSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { test, type TestContext } from "node:test";
import type { AccessLogEntry } from "../src/log.js";
import { eventually, request, serve, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface ZipEntry {
  name: string;
  isDir: boolean;
  /** 0 stored, 8 deflated. */
  compressType: number;
  flagBits: number;
  size: number;
  /** The entry's bytes as latin1 text (entries up to 64 KiB), so any content round-trips. */
  content?: string;
  /** SHA-256 of the entry's bytes, hex (files, when contents are read). */
  sha256?: string;
}

/** What Python's zipfile reads in an archive: every entry, and testzip()'s verdict (null: all CRCs good). */
function pythonRead(file: string, withContents = true): { entries: ZipEntry[]; badEntry: string | null } {
  const script = `
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    entries = []
    for i in z.infolist():
        e = {"name": i.filename, "isDir": i.is_dir(), "compressType": i.compress_type, "flagBits": i.flag_bits, "size": i.file_size}
        if sys.argv[2] == "1" and not i.is_dir():
            data = z.read(i)
            e["sha256"] = hashlib.sha256(data).hexdigest()
            if len(data) <= 64 * 1024:
                e["content"] = data.decode("latin1")
        entries.append(e)
    print(json.dumps({"entries": entries, "badEntry": z.testzip()}))
`;
  return JSON.parse(execFileSync("python3", ["-c", script, file, withContents ? "1" : "0"], { maxBuffer: 512 * MiB, encoding: "utf8" }));
}

/** `unzip -t`: throws (with unzip's output) unless every entry tests OK. */
function unzipTest(file: string): string {
  return execFileSync("unzip", ["-t", file], { encoding: "utf8", maxBuffer: 64 * MiB });
}

/** Fetches `target`, saves the body in `dir`, and checks it with both readers. */
async function fetchZip(t: TestContext, port: number, target: string): Promise<{ headers: http.IncomingHttpHeaders; entries: ZipEntry[]; byName: Map<string, ZipEntry> }> {
  const res = await request(port, target);
  assert.equal(res.status, 200, `${target}: ${res.body.toString().slice(0, 200)}`);
  const file = path.join(tempDir(t), "download.zip");
  writeFileSync(file, res.body);
  assert.match(unzipTest(file), /No errors detected/);
  const { entries, badEntry } = pythonRead(file);
  assert.equal(badEntry, null, "python zipfile.testzip()");
  return { headers: res.headers, entries, byName: new Map(entries.map((e) => [e.name, e])) };
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function names(entries: ZipEntry[]): string[] {
  return entries.map((e) => e.name).sort();
}

/** The paths of this process's descriptors that lie under `dir`. */
function descriptorsUnder(dir: string): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return targets.filter((target) => target.startsWith(dir + path.sep));
}

/**
 * Starts a download and reads its first bytes, then stops reading (the server waits, by back-
 * pressure), runs `meanwhile`, and reads the rest into `file`.
 */
function downloadWithPause(port: number, target: string, file: string, meanwhile: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: target, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let paused = false;
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        if (paused) return;
        paused = true;
        res.pause();
        // The file is open (its entry has begun); let the server fill the socket and wait mid-file.
        setTimeout(() => {
          meanwhile();
          res.resume();
        }, 200);
      });
      res.on("end", () => {
        writeFileSync(file, Buffer.concat(chunks));
        resolve();
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------
// What goes in
// ---------------------------------------------------------------------------------------------

test("a folder's zip holds every file and folder below it, relative to the folder, with awkward names intact", async (t) => {
  const root = tempDir(t, {
    docs: {
      "日本語.txt": "nihongo",
      "café.txt": "café au lait",
      "#hash.txt": "hash",
      "with space.txt": "space",
      "100% real.txt": "percent",
      nested: { deeper: { "leaf.txt": "leaf" } },
      "empty folder": {},
    },
  });
  const server = await serve(t, { root });
  const { entries, byName } = await fetchZip(t, server.port, "/docs/?download=zip");
  assert.deepEqual(names(entries), [
    "#hash.txt",
    "100% real.txt",
    "café.txt",
    "empty folder/",
    "nested/",
    "nested/deeper/",
    "nested/deeper/leaf.txt",
    "with space.txt",
    "日本語.txt",
  ]);
  assert.equal(byName.get("日本語.txt")!.content, Buffer.from("nihongo").toString("latin1"));
  assert.equal(Buffer.from(byName.get("café.txt")!.content!, "latin1").toString("utf8"), "café au lait");
  assert.equal(byName.get("nested/deeper/leaf.txt")!.content, "leaf");
  assert.equal(byName.get("empty folder/")!.isDir, true);
  for (const entry of entries) assert.ok(entry.flagBits & 0x800, `${entry.name}: general purpose bit 11 (UTF-8 name)`);
});

test("dotfiles are left out of a zip, and put in with dotfiles: true", async (t) => {
  const root = tempDir(t, { "shown.txt": "shown", ".env": "SECRET=1", ".git": { config: "[core]" }, sub: { ".hidden": "h", "seen.txt": "s" } });
  const hidden = await serve(t, { root });
  assert.deepEqual(names((await fetchZip(t, hidden.port, "/?download=zip")).entries), ["shown.txt", "sub/", "sub/seen.txt"]);
  const shown = await serve(t, { root, dotfiles: true });
  assert.deepEqual(names((await fetchZip(t, shown.port, "/?download=zip")).entries), [".env", ".git/", ".git/config", "shown.txt", "sub/", "sub/.hidden", "sub/seen.txt"]);
});

test("a symlink out of the root is left out; one inside is stored as what it points to", async (t) => {
  const outside = tempDir(t, { "secret.txt": "outside the root", secrets: { "key.txt": "k" } });
  const root = tempDir(t, {
    "real.txt": "the real file",
    folder: { "in.txt": "in the folder" },
    "link.txt": { symlink: "real.txt" },
    "folder-link": { symlink: "folder" },
    "out.txt": { symlink: path.join(outside, "secret.txt") },
    "out-folder": { symlink: path.join(outside, "secrets") },
    "dangling.txt": { symlink: "nowhere.txt" },
  });
  const server = await serve(t, { root });
  const { entries, byName } = await fetchZip(t, server.port, "/?download=zip");
  assert.deepEqual(names(entries), ["folder-link/", "folder-link/in.txt", "folder/", "folder/in.txt", "link.txt", "real.txt"]);
  assert.equal(byName.get("link.txt")!.content, "the real file");
  assert.equal(byName.get("folder-link/in.txt")!.content, "in the folder");
  for (const entry of entries) assert.doesNotMatch(entry.content ?? "", /outside the root/);
});

test("a folder symlink to its own ancestor does not make the zip recurse for ever", async (t) => {
  const root = tempDir(t, { a: { "file.txt": "once", b: { "up": { symlink: ".." }, "root": { symlink: "../.." } } } });
  const server = await serve(t, { root });
  const { entries } = await fetchZip(t, server.port, "/a/?download=zip");
  // `up` is `a` itself, an ancestor: left out. `root` is above the zipped folder: walked once, and
  // inside it `a` is an ancestor again, so the walk ends there.
  assert.deepEqual(names(entries), ["b/", "b/root/", "file.txt"]);
});

test("the same loop with followSymlinks ends too", async (t) => {
  const root = tempDir(t, { a: { "file.txt": "once", loop: { symlink: "." } } });
  const server = await serve(t, { root, followSymlinks: true });
  assert.deepEqual(names((await fetchZip(t, server.port, "/a/?download=zip")).entries), ["file.txt"]);
});

test("types that are compressed already are stored, the rest deflated", async (t) => {
  const text = "compress me ".repeat(500);
  const root = tempDir(t, {
    "page.html": text,
    "app.js": text,
    "data.json": JSON.stringify({ text }),
    "photo.jpg": randomBytes(4096),
    "image.png": randomBytes(4096),
    "song.mp3": randomBytes(4096),
    "font.woff2": randomBytes(4096),
    "bundle.zip": randomBytes(4096),
    "blob.bin": randomBytes(4096),
    "no-extension": randomBytes(4096),
  });
  const server = await serve(t, { root });
  const { byName } = await fetchZip(t, server.port, "/?download=zip");
  for (const name of ["page.html", "app.js", "data.json"]) assert.equal(byName.get(name)!.compressType, 8, `${name} is deflated`);
  for (const name of ["photo.jpg", "image.png", "song.mp3", "font.woff2", "bundle.zip", "blob.bin", "no-extension"]) {
    assert.equal(byName.get(name)!.compressType, 0, `${name} is stored`);
  }
  assert.equal(byName.get("photo.jpg")!.content, readFileSync(path.join(root, "photo.jpg")).toString("latin1"));
});

test("a file too small to gain from deflate is stored, as HTTP leaves it uncompressed", async (t) => {
  const root = tempDir(t, { "tiny.html": "<p>hi</p>", "bigger.html": "compress me ".repeat(100) });
  const server = await serve(t, { root });
  const { byName } = await fetchZip(t, server.port, "/?download=zip");
  assert.equal(byName.get("tiny.html")!.compressType, 0, "under 1 KiB: stored");
  assert.equal(byName.get("tiny.html")!.content, "<p>hi</p>");
  assert.equal(byName.get("bigger.html")!.compressType, 8, "1200 bytes of text: deflated");
});

test("many small files, deflated and stored, between large ones, all arrive whole and in order", async (t) => {
  // Well past the 1 MiB that small files may queue inside the writer, with large files (streamed,
  // each waiting for its turn) in among them.
  const tree: Record<string, Buffer> = {};
  const text = (i: number) => Buffer.from(`line ${i} of a text file that deflates well\n`.repeat(200));
  for (let i = 0; i < 400; i++) {
    const stem = `f${String(i).padStart(3, "0")}`;
    tree[`${stem}.txt`] = text(i);
    tree[`${stem}.bin`] = randomBytes(4096 + i);
    if (i % 100 === 50) tree[`${stem}-large.bin`] = randomBytes(300 * 1024 + i);
  }
  const root = tempDir(t, tree);
  const server = await serve(t, { root });
  const { entries } = await fetchZip(t, server.port, "/?download=zip");
  assert.deepEqual(
    entries.map((e) => e.name),
    Object.keys(tree).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    "every file, in the walk's order",
  );
  for (const entry of entries) assert.equal(entry.sha256, sha256(tree[entry.name]!), entry.name);
  assert.equal(entries.find((e) => e.name === "f007.txt")!.compressType, 8);
  assert.equal(entries.find((e) => e.name === "f007.bin")!.compressType, 0);
});

test("a client that stops reading holds the walk back: small files are not read ahead into memory", async (t) => {
  // 64 MiB in 1024 files of 64 KiB: without a cap on what waits inside the writer, the walk would
  // read them all while the client sleeps.
  const tree: Record<string, Buffer> = {};
  const one = randomBytes(64 * 1024);
  for (let i = 0; i < 1024; i++) tree[`part-${String(i).padStart(4, "0")}.bin`] = one;
  const root = tempDir(t, tree);
  const logged: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (entry) => logged.push(entry) });
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: server.port, path: "/?download=zip", agent: false }, (res) => {
      res.once("data", () => {
        res.pause();
        // Long enough for the walk to read all 64 MiB if nothing held it back.
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 1000);
      });
    });
    req.on("error", () => {}); // our own destroy
    setTimeout(() => reject(new Error("no bytes within 10 s")), 10_000).unref();
  });
  await eventually(() => logged.length === 1, "one log entry");
  const read = Number(/ (\d+) bytes/.exec(logged[0]!.note ?? "")?.[1]);
  // The cap (1 MiB) plus what the socket buffers on both sides of a loopback connection hold.
  assert.ok(read < 24 * MiB, `read ${read} bytes of 64 MiB ahead of a client that reads nothing`);
});

test("names a zip cannot hold (not UTF-8, or with a backslash) are left out, and the log says how many", async (t) => {
  const root = tempDir(t, { "fine.txt": "fine", "back\\slash.txt": "b" });
  writeFileSync(Buffer.concat([Buffer.from(root + "/"), Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74])]), "latin-1 name");
  const logged: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (entry) => logged.push(entry) });
  assert.deepEqual(names((await fetchZip(t, server.port, "/?download=zip")).entries), ["fine.txt"]);
  await eventually(() => logged.length === 1, "one log entry");
  assert.equal(logged[0]!.note, "zip: 1 files, 4 bytes, 2 skipped");
});

test("an empty folder gives an empty, valid zip", async (t) => {
  const root = tempDir(t, { empty: {} });
  const server = await serve(t, { root });
  const res = await request(server.port, "/empty/?download=zip");
  assert.equal(res.status, 200);
  // Info-ZIP's unzip calls an empty archive a warning; it is the 22-byte end record alone.
  assert.equal(res.body.length, 22);
  assert.equal(res.body.readUInt32LE(0), 0x06054b50);
  const file = path.join(tempDir(t), "empty.zip");
  writeFileSync(file, res.body);
  assert.deepEqual(pythonRead(file), { entries: [], badEntry: null });
});

// ---------------------------------------------------------------------------------------------
// Headers, and when a zip is made at all
// ---------------------------------------------------------------------------------------------

test("the root's zip is named after the root folder", async (t) => {
  const parent = tempDir(t, { "my site": { "a.txt": "a" } });
  const server = await serve(t, { root: path.join(parent, "my site") });
  const { headers } = await fetchZip(t, server.port, "/?download=zip");
  assert.equal(headers["content-type"], "application/zip");
  assert.equal(headers["content-disposition"], `attachment; filename="my site.zip"; filename*=UTF-8''my%20site.zip`);
});

test("a subfolder's zip with a unicode name gets an ASCII filename and a UTF-8 filename*", async (t) => {
  const root = tempDir(t, { "Fotos 日本 (2024)": { "a.txt": "a" } });
  const server = await serve(t, { root });
  const { headers } = await fetchZip(t, server.port, `/${encodeURIComponent("Fotos 日本 (2024)")}/?download=zip`);
  assert.equal(headers["content-disposition"], `attachment; filename="Fotos __ (2024).zip"; filename*=UTF-8''Fotos%20%E6%97%A5%E6%9C%AC%20%282024%29.zip`);
});

test("a zip is made fresh each time: no-store, no validators, no ranges", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const server = await serve(t, { root });
  const res = await request(server.port, "/?download=zip", { headers: { Range: "bytes=0-9" } });
  assert.equal(res.status, 200, "Range is ignored");
  assert.equal(res.headers["cache-control"], "no-store");
  assert.equal(res.headers["accept-ranges"], "none");
  assert.equal(res.headers.etag, undefined);
  assert.equal(res.headers["last-modified"], undefined);
  assert.equal(res.headers["content-encoding"], undefined);
  assert.equal(res.headers["x-content-type-options"], "nosniff");
});

test("HEAD gets the zip's headers and no body", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" } });
  const server = await serve(t, { root });
  const res = await request(server.port, "/sub/?download=zip", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "application/zip");
  assert.match(res.headers["content-disposition"] ?? "", /^attachment; filename="sub\.zip"/);
  assert.equal(res.body.length, 0);
});

test("a folder with an index.html is zipped all the same: the query asks for the folder", async (t) => {
  const root = tempDir(t, { site: { "index.html": "<h1>home</h1>", "about.html": "about" } });
  const server = await serve(t, { root });
  assert.deepEqual(names((await fetchZip(t, server.port, "/site/?download=zip")).entries), ["about.html", "index.html"]);
  assert.equal((await request(server.port, "/site/")).body.toString(), "<h1>home</h1>");
});

test("the folder's URL without its slash redirects with the query kept", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" } });
  const server = await serve(t, { root });
  const res = await request(server.port, "/sub?download=zip");
  assert.equal(res.status, 301);
  assert.equal(res.headers.location, "/sub/?download=zip");
});

test("other download values and other queries get the ordinary answer", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" } });
  const server = await serve(t, { root });
  for (const query of ["?download=tar", "?download=", "?download=ZIP", "?zip", "?x=download=zip"]) {
    const res = await request(server.port, `/sub/${query}`);
    assert.equal(res.status, 200, query);
    assert.match(res.headers["content-type"] ?? "", /^text\/html/, `${query}: the listing`);
  }
  const file = await request(server.port, "/sub/a.txt?download=zip");
  assert.equal(file.body.toString(), "a", "a file's own bytes");
  assert.match(file.headers["content-type"] ?? "", /^text\/plain/);
  assert.equal((await request(server.port, "/nothing/?download=zip")).status, 404);
});

test("with --no-listing there are no zips: the query does nothing special", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" }, site: { "index.html": "home" } });
  const server = await serve(t, { root, listing: false });
  assert.equal((await request(server.port, "/sub/?download=zip")).status, 404);
  assert.equal((await request(server.port, "/?download=zip")).status, 404);
  const site = await request(server.port, "/site/?download=zip");
  assert.equal(site.status, 200);
  assert.equal(site.body.toString(), "home", "the index, as without the query");
});

test("the listing links to its folder's zip with a relative href", async (t) => {
  const root = tempDir(t, { sub: { "a.txt": "a" } });
  const server = await serve(t, { root });
  const html = (await request(server.port, "/sub/")).body.toString();
  const link = /<a href="([^"]*)">Download as zip<\/a>/.exec(html);
  assert.ok(link, "a Download as zip link");
  assert.equal(link[1], "?download=zip");
  assert.equal(new URL(link[1]!, `${server.base}/sub/`).href, `${server.base}/sub/?download=zip`);
});

test("the log line says how many files and bytes the zip held", async (t) => {
  const root = tempDir(t, { "a.txt": "12345", sub: { "b.txt": "123" } });
  const logged: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (entry) => logged.push(entry) });
  const res = await request(server.port, "/?download=zip");
  await eventually(() => logged.length === 1, "one log entry");
  assert.equal(logged[0]!.note, "zip: 2 files, 8 bytes");
  assert.equal(logged[0]!.bytes, res.body.length);
  assert.equal(logged[0]!.completed, true);
});

// ---------------------------------------------------------------------------------------------
// Streaming: clients that leave, files that change, sizes past 4 GiB
// ---------------------------------------------------------------------------------------------

test("a client that leaves mid-download releases every descriptor", async (t) => {
  const tree: Record<string, Buffer> = {};
  for (let i = 0; i < 4; i++) tree[`big-${i}.bin`] = randomBytes(8 * MiB);
  const root = tempDir(t, tree);
  const logged: AccessLogEntry[] = [];
  const server = await serve(t, { root, onResponse: (entry) => logged.push(entry) });
  let openWhileZipping = -1;
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: server.port, path: "/?download=zip", agent: false }, (res) => {
      res.once("data", () => {
        openWhileZipping = descriptorsUnder(root).length;
        req.destroy();
        resolve();
      });
    });
    req.on("error", () => {}); // our own destroy
    req.on("close", resolve);
    setTimeout(() => reject(new Error("no bytes within 10 s")), 10_000).unref();
  });
  assert.equal(openWhileZipping, 1, "one file open at a time while zipping");
  await eventually(() => descriptorsUnder(root).length === 0, `still open: ${descriptorsUnder(root).join(", ")}`);
  await eventually(() => logged.length === 1, "one log entry");
  assert.equal(logged[0]!.completed, false);
  assert.match(logged[0]!.note ?? "", /^zip/);
});

test("a file that grows while it is zipped is stored as it was when opened, in a valid archive", async (t) => {
  const original = randomBytes(32 * MiB);
  const root = tempDir(t, { "growing.bin": original, "zz-after.txt": "after" });
  const server = await serve(t, { root });
  const file = path.join(tempDir(t), "grow.zip");
  await downloadWithPause(server.port, "/?download=zip", file, () => appendFileSync(path.join(root, "growing.bin"), randomBytes(4 * MiB)));
  assert.match(unzipTest(file), /No errors detected/);
  const { entries, badEntry } = pythonRead(file);
  assert.equal(badEntry, null);
  const growing = entries.find((e) => e.name === "growing.bin")!;
  assert.equal(growing.size, original.length);
  assert.equal(growing.sha256, sha256(original), "the bytes it had when opened");
  assert.equal(entries.find((e) => e.name === "zz-after.txt")!.content, "after");
});

test("a file that shrinks while it is zipped is stored as far as it could be read, in a valid archive", async (t) => {
  const original = randomBytes(32 * MiB);
  const root = tempDir(t, { "zz-after.txt": "after", "shrinking.bin": original });
  const server = await serve(t, { root });
  const file = path.join(tempDir(t), "shrink.zip");
  await downloadWithPause(server.port, "/?download=zip", file, () => truncateSync(path.join(root, "shrinking.bin"), 1 * MiB));
  assert.match(unzipTest(file), /No errors detected/);
  const { entries, badEntry } = pythonRead(file);
  assert.equal(badEntry, null);
  const shrinking = entries.find((e) => e.name === "shrinking.bin")!;
  assert.ok(shrinking.size < original.length, `${shrinking.size} bytes stored`);
  assert.equal(shrinking.sha256, sha256(original.subarray(0, shrinking.size)), "a prefix of the file");
  assert.equal(entries.find((e) => e.name === "zz-after.txt")!.content, "after");
});

/**
 * Saves a response to `file` sparsely: runs of zeros are skipped rather than written, so a 5 GiB
 * archive of a sparse file takes almost no disk.
 */
function downloadSparse(port: number, target: string, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(file, "w");
    let position = 0;
    const zeros = Buffer.alloc(1024 * 1024);
    const req = http.get({ host: "127.0.0.1", port, path: target, agent: false }, (res) => {
      res.on("data", (chunk: Buffer) => {
        const allZero = chunk.length <= zeros.length && chunk.equals(zeros.subarray(0, chunk.length));
        if (!allZero) writeSync(fd, chunk, 0, chunk.length, position);
        position += chunk.length;
      });
      res.on("end", () => {
        ftruncateSync(fd, position);
        closeSync(fd);
        resolve(position);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

test("a 5 GiB file is zipped with ZIP64, stored, and the archive tests good", { timeout: 600_000 }, async (t) => {
  const root = tempDir(t, { "before.txt": "before" });
  const huge = path.join(root, "huge.bin");
  closeSync(openSync(huge, "w"));
  truncateSync(huge, 5 * GiB);
  writeFileSync(path.join(root, "zz-after.txt"), "after, past 4 GiB");
  const server = await serve(t, { root });
  const file = path.join(tempDir(t), "huge.zip");
  const started = performance.now();
  const length = await downloadSparse(server.port, "/?download=zip", file);
  t.diagnostic(`5 GiB zipped and received in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(length > 5 * GiB);
  assert.match(unzipTest(file), /No errors detected/);
  const { entries, badEntry } = pythonRead(file, false);
  assert.equal(badEntry, null);
  const entry = entries.find((e) => e.name === "huge.bin")!;
  assert.equal(entry.size, 5 * GiB);
  assert.equal(entry.compressType, 0, "stored");
  assert.deepEqual(names(entries), ["before.txt", "huge.bin", "zz-after.txt"]);
  // The last entry's local header lies past 4 GiB: only ZIP64 can say where.
  const after = execFileSync("unzip", ["-p", file, "zz-after.txt"], { encoding: "utf8" });
  assert.equal(after, "after, past 4 GiB");
});

test("a link back to the root from fifty folders down is left out, and the rest is zipped", async (t) => {
  const root = tempDir(t);
  let dir = root;
  for (let i = 0; i < 50; i++) {
    dir = path.join(dir, `d${i}`);
    mkdirSync(dir);
  }
  writeFileSync(path.join(dir, "deep.txt"), "deep");
  symlinkSync(root, path.join(dir, "back-to-root"));
  const server = await serve(t, { root });
  const { entries } = await fetchZip(t, server.port, "/?download=zip");
  assert.equal(entries.filter((e) => e.isDir).length, 50);
  assert.ok(entries.some((e) => e.name.endsWith("/deep.txt")));
});
