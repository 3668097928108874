/**
 * Uploads as a person makes them: Chromium (Debian's, via playwright-core) picks two files in the
 * listing's upload form, sees a progress bar per file, and the listing refreshes to show both. The
 * same on a 390 px phone screen, without horizontal scrolling. The page uploads with tus: a 50 MB
 * file whose connection a test-side TCP proxy cuts mid-way, then refuses for a few seconds, lands
 * whole without a click, sending little more than what was left (counted at the proxy); a reload
 * mid-way and the same file chosen again resumes; Cancel ends the upload on the server; a picked
 * folder lands as the same tree, and a dropped one with its empty folders too. Run by
 * `npm run test:browser`.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { test, type TestContext } from "node:test";
import type { Page } from "playwright-core";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";

const SHOTS = process.env.UPLOAD_SHOTS ?? "/tmp/upload-shots";
mkdirSync(SHOTS, { recursive: true });



const FILES = [
  { name: "first photo.jpg", mimeType: "image/jpeg", buffer: Buffer.alloc(300 * 1024, 1) },
  { name: "notes #2.txt", mimeType: "text/plain", buffer: Buffer.from("two") },
];

/** Picks the files in the form and waits until the refreshed listing shows each of them. */
async function uploadThroughThePage(page: Page, root: string): Promise<void> {
  const errors: string[] = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  await page.setInputFiles("form.upload input[type=file]", FILES);
  // A progress element per file, as soon as the uploads start.
  await page.waitForFunction((count) => document.querySelectorAll(".uploads li progress").length === count, FILES.length);
  for (const file of FILES) {
    await page.waitForFunction((name) => [...document.querySelectorAll("td.name a")].some((a) => a.textContent === name), file.name);
  }
  const states = await page.$$eval(".uploads li", (items) => items.map((li) => ({ name: li.querySelector(".file-name")?.textContent, value: (li.querySelector("progress") as HTMLProgressElement).value, className: li.className })));
  assert.deepEqual(
    states.map((s) => s.name),
    FILES.map((f) => f.name),
  );
  for (const state of states) {
    assert.equal(state.className, "done", `${state.name} is done`);
    assert.equal(state.value, 1, `${state.name}'s bar is full`);
  }
  for (const file of FILES) assert.deepEqual(readFileSync(path.join(root, file.name)), file.buffer, `${file.name} on disk`);
  assert.deepEqual(errors, [], "no errors in the page (a CSP refusal would show here)");
}

test("two files picked in the listing's form upload with a progress bar each, and the listing refreshes to show both", async (t) => {
  const root = tempDir(t, { "existing.txt": "x" });
  const server = await serve(t, { root, upload: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(server.url);
  assert.equal(await page.isVisible("form.upload button"), false, "with script the button is not needed");
  await uploadThroughThePage(page, root);
  assert.equal(new URL(page.url()).pathname, "/", "no navigation: the listing was refreshed in place");
});

test("on a 390 px phone screen the upload form fits without horizontal scrolling, and uploads", async (t) => {
  const long = "a-very-long-file-name-without-any-spaces-that-would-push-the-page-sideways-on-a-phone.txt";
  const root = tempDir(t, { [long]: "x" });
  const server = await serve(t, { root, upload: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await page.goto(server.url);
  await uploadThroughThePage(page, root);
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
});

test("without script, the form posts the files and the browser comes back to the listing (303)", async (t) => {
  const root = tempDir(t);
  const server = await serve(t, { root, upload: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(server.url);
  await page.setInputFiles("form.upload input[type=file]", FILES);
  await Promise.all([page.waitForNavigation(), page.click("form.upload button")]);
  assert.equal(new URL(page.url()).pathname, "/");
  const links = await page.$$eval("td.name a", (anchors) => anchors.map((a) => a.textContent));
  for (const file of FILES) assert.ok(links.includes(file.name), `${file.name} listed`);
});

// -------------------------------------------------------------------------------------------------
// tus from the page: cuts, a reload, cancel
// -------------------------------------------------------------------------------------------------

const MiB = 1024 * 1024;

/**
 * A TCP proxy in front of the server that counts the bytes the browser sends through it, notes the
 * `Upload-Offset` of each PATCH, and on cue cuts every connection (then refuses new ones for a
 * while, its port closed), or stalls them (stops reading from the browser).
 */
class Proxy {
  readonly server: net.Server;
  port = 0;
  /** Bytes from the browser, forwarded to the server. */
  sent = 0;
  /** Each PATCH's Upload-Offset, with `sent` when it was seen. */
  readonly patches: Array<{ offset: number; sent: number }> = [];
  readonly sockets = new Set<net.Socket>();
  /** When `sent` passes it: cut (refusing for `refuseMs`) or stall, once. */
  trigger: { at: number; action: "cut" | "stall"; refuseMs?: number; fired?: number } | null = null;
  stalled = new Set<net.Socket>();
  /** Bytes a second let through from the browser; 0: as fast as it comes. */
  rate = 0;

  constructor(private readonly target: number) {
    this.server = net.createServer((client) => this.connect(client));
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private connect(client: net.Socket): void {
    const upstream = net.connect(this.target, "127.0.0.1");
    this.sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    upstream.pipe(client);
    client.on("data", (chunk: Buffer) => {
      const text = chunk.toString("latin1");
      if (text.startsWith("PATCH ")) {
        const offset = /\r\nUpload-Offset: (\d+)\r\n/i.exec(text);
        if (offset) this.patches.push({ offset: Number(offset[1]), sent: this.sent });
      }
      this.sent += chunk.length;
      if (!upstream.write(chunk)) client.pause(), upstream.once("drain", () => this.stalled.has(client) || client.resume());
      else if (this.rate > 0) {
        client.pause();
        setTimeout(() => this.stalled.has(client) || client.resume(), (chunk.length / this.rate) * 1000);
      }
      const trigger = this.trigger;
      if (trigger && trigger.fired === undefined && this.sent >= trigger.at) {
        trigger.fired = this.sent;
        if (trigger.action === "stall") {
          for (const socket of this.sockets) {
            this.stalled.add(socket);
            socket.pause();
          }
        } else void this.cut(trigger.refuseMs ?? 0);
      }
    });
  }

  /** Every connection reset, and the port closed for `refuseMs`: the browser's connections are refused. */
  async cut(refuseMs: number): Promise<void> {
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise((resolve) => setTimeout(resolve, refuseMs));
    await this.listen(this.port);
  }

  /** Drops the stalled connections and lets new ones through. */
  release(): void {
    for (const socket of this.stalled) socket.destroy();
    this.stalled.clear();
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

async function proxied(t: TestContext, options: { overwrite?: boolean } = {}): Promise<{ root: string; proxy: Proxy; url: string }> {
  const root = tempDir(t);
  const server = await serve(t, { root, upload: true, ...options });
  const proxy = new Proxy(server.port);
  await proxy.listen();
  t.after(() => proxy.close());
  return { root, proxy, url: `http://127.0.0.1:${proxy.port}/` };
}

/** A file of `size` random bytes in its own temporary folder; its path and SHA-256. */
function bigFile(t: TestContext, name: string, size: number): { file: string; sha: string } {
  const dir = tempDir(t);
  const data = randomBytes(size);
  const file = path.join(dir, name);
  writeFileSync(file, data);
  return { file, sha: createHash("sha256").update(data).digest("hex") };
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

async function phonePage(t: TestContext, url: string): Promise<Page> {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  t.after(() => assert.deepEqual(errors, [], "no script errors in the page"));
  await page.goto(url);
  return page;
}

/** The hidden part files and records of unfinished tus uploads under the root. */
function tusLeftovers(root: string): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".serve-here-upload-tus")) {
        if (entry.isDirectory()) found.push(...readdirSync(path.join(dir, entry.name)).map((name) => `${entry.name}/${name}`));
        else found.push(entry.name);
      } else if (entry.isDirectory()) visit(path.join(dir, entry.name));
    }
  };
  visit(root);
  return found;
}

test("at 390 px, a 50 MB upload whose connection is cut mid-way and refused for 4 s completes byte-identical without a click, sending at most what was left plus 1 MiB", async (t) => {
  const size = 50 * MiB;
  const { file, sha } = bigFile(t, "video.mp4", size);
  const { root, proxy, url } = await proxied(t);
  const page = await phonePage(t, url);
  proxy.trigger = { at: 20 * MiB, action: "cut", refuseMs: 4000 };
  const sentBefore = proxy.sent;
  await page.setInputFiles("form.upload input[name=file]", file);
  await page.waitForFunction(() => document.querySelector(".uploads li .status")?.textContent?.startsWith("connection lost"), null, { timeout: 20_000 });
  await page.waitForSelector(".uploads li.done", { timeout: 60_000 });
  await page.waitForSelector('td.name a:text-is("video.mp4")');
  assert.equal(sha256(path.join(root, "video.mp4")), sha, "the stored file is the one chosen");
  assert.deepEqual(tusLeftovers(root), [], "no part or record left behind");
  const cutAt = proxy.trigger.fired!;
  const resumed = proxy.patches.find((patch) => patch.sent >= cutAt);
  assert.ok(resumed, "a PATCH after the cut");
  const left = size - resumed.offset;
  const afterCut = proxy.sent - cutAt;
  // What the proxy had passed on but the server had not read yet dies with the reset (the kernel drops
  // a reset socket's unread bytes): the server keeps a little less than was sent before the cut.
  t.diagnostic(`cut after ${((cutAt - sentBefore) / MiB).toFixed(2)} MiB sent; the server had kept ${(resumed.offset / MiB).toFixed(2)} MiB; ${(left / MiB).toFixed(2)} MiB were left and ${(afterCut / MiB).toFixed(2)} MiB were sent after the cut (${afterCut - left} bytes more: requests' heads)`);
  assert.ok(resumed.offset > 0, "the server kept what arrived before the cut");
  assert.ok(afterCut <= left + MiB, `sent ${afterCut} bytes after the cut for ${left} left`);
  assert.equal(await page.textContent(".upload-news"), "video.mp4: done", "a screen reader hears the upload is done");
});

test("a reload mid-upload, then the same file chosen again: it resumes where the server stopped, not from the start", async (t) => {
  const size = 30 * MiB;
  const { file, sha } = bigFile(t, "backup.tar", size);
  const { root, proxy, url } = await proxied(t);
  const page = await phonePage(t, url);
  proxy.trigger = { at: 12 * MiB, action: "stall" };
  await page.setInputFiles("form.upload input[name=file]", file);
  while (proxy.trigger.fired === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await page.reload();
  proxy.release();
  const before = proxy.sent;
  await page.setInputFiles("form.upload input[name=file]", file);
  await page.waitForSelector(".uploads li.done", { timeout: 60_000 });
  assert.equal(sha256(path.join(root, "backup.tar")), sha);
  const resumed = proxy.patches.find((patch) => patch.sent >= before);
  assert.ok(resumed && resumed.offset > 8 * MiB, `resumed at ${resumed?.offset}`);
  const afterReload = proxy.sent - before;
  t.diagnostic(`resumed at ${(resumed.offset / MiB).toFixed(2)} MiB; ${(afterReload / MiB).toFixed(2)} MiB sent after the reload for ${((size - resumed.offset) / MiB).toFixed(2)} MiB left`);
  assert.ok(afterReload <= size - resumed.offset + MiB);
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith("serve-here tus ")).length), 0, "forgotten once done");
});

test("Cancel ends an upload on the server (tus termination): nothing stored, no part left", async (t) => {
  const { file } = bigFile(t, "big.bin", 20 * MiB);
  const { root, proxy, url } = await proxied(t);
  const page = await phonePage(t, url);
  proxy.trigger = { at: 5 * MiB, action: "stall" };
  await page.setInputFiles("form.upload input[name=file]", file);
  while (proxy.trigger.fired === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.notDeepEqual(tusLeftovers(root), [], "an unfinished upload is there");
  await page.click('.uploads button[aria-label="Cancel the upload of big.bin"]');
  await page.waitForSelector(".uploads li.cancelled");
  proxy.release();
  for (let i = 0; i < 100 && tusLeftovers(root).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(tusLeftovers(root), []);
  assert.deepEqual(readdirSync(root).filter((name) => !name.startsWith(".serve-here-upload-")), [], "nothing stored");
  assert.equal(await page.evaluate(() => document.activeElement?.classList.contains("cancelled")), true, "focus stays on the upload's line");
});

// -------------------------------------------------------------------------------------------------
// Folders
// -------------------------------------------------------------------------------------------------

/** Every file under `dir` (relative path → content) and every folder, as sorted lists. */
function treeOf(dir: string): { files: string[]; folders: string[] } {
  const files: string[] = [];
  const folders: string[] = [];
  const visit = (at: string, prefix: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.name.startsWith(".serve-here-upload-")) continue; // the server's own, hidden from every listing
      const relative = prefix + entry.name;
      if (entry.isDirectory()) {
        folders.push(relative + "/");
        visit(path.join(at, entry.name), relative + "/");
      } else files.push(`${relative} ${readFileSync(path.join(at, entry.name)).toString("hex").slice(0, 16)} ${statSync(path.join(at, entry.name)).size}`);
    }
  };
  visit(dir, "");
  return { files: files.sort(), folders: folders.sort() };
}

const TREE_FILES: Record<string, Buffer> = {
  "album/cover.jpg": randomBytes(200 * 1024),
  "album/2024/été à Paris.txt": Buffer.from("soleil"),
  "album/2024/deep/deeper/notes #1.md": Buffer.from("# one"),
  "album/raw/a.bin": randomBytes(3 * MiB),
};

function buildTree(dir: string, emptyFolders: readonly string[] = []): void {
  for (const [relative, data] of Object.entries(TREE_FILES)) {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    writeFileSync(path.join(dir, relative), data);
  }
  for (const folder of emptyFolders) mkdirSync(path.join(dir, folder), { recursive: true });
}

test("a folder picked with Upload a folder… (webkitdirectory) lands as the same tree under the current folder", async (t) => {
  const source = tempDir(t);
  buildTree(source);
  const root = tempDir(t, { inbox: {} });
  const server = await serve(t, { root, upload: true });
  const page = await phonePage(t, `${server.url}inbox/`);
  await page.setInputFiles("form.upload input[webkitdirectory]", path.join(source, "album"));
  await page.waitForFunction((count) => document.querySelectorAll(".uploads li.done").length === count, Object.keys(TREE_FILES).length, { timeout: 30_000 });
  await page.waitForSelector('td.name a:text-is("album/")');
  assert.deepEqual(treeOf(path.join(root, "inbox")), treeOf(source));
  assert.equal(await page.locator(".uploads li.failed").count(), 0);
});

test("a folder dropped on the page (the Entries API, read a batch at a time) lands as the same tree, empty folders too", async (t) => {
  const source = tempDir(t);
  buildTree(source, ["album/empty", "album/2024/also empty"]);
  const root = tempDir(t);
  const server = await serve(t, { root, upload: true });
  const page = await phonePage(t, server.url);
  // A drag of a folder from the desktop cannot be made by DevTools (its entries cannot be read:
  // EncodingError), so the drop carries entries shaped as Chromium's, over Files read from disk.
  const files = Object.entries(TREE_FILES).map(([relative, data]) => ({ relative, base64: data.toString("base64") }));
  await page.evaluate(({ files, empty }) => {
    type Node = { name: string; fullPath: string; isFile: boolean; isDirectory: boolean; file?: (ok: (f: File) => void) => void; createReader?: () => { readEntries: (ok: (entries: Node[]) => void) => void }; children?: Node[] };
    const root: Node = { name: "", fullPath: "", isFile: false, isDirectory: true, children: [] };
    const folderAt = (relative: string): Node => {
      let node = root;
      for (const part of relative.split("/")) {
        let child = node.children!.find((c) => c.name === part);
        if (!child) {
          child = { name: part, fullPath: `${node.fullPath}/${part}`, isFile: false, isDirectory: true, children: [] };
          node.children!.push(child);
        }
        node = child;
      }
      return node;
    };
    for (const { relative, base64 } of files) {
      const parts = relative.split("/");
      const name = parts.pop()!;
      const folder = folderAt(parts.join("/"));
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const file = new File([bytes], name);
      folder.children!.push({ name, fullPath: `${folder.fullPath}/${name}`, isFile: true, isDirectory: false, file: (ok) => ok(file) });
    }
    for (const relative of empty) folderAt(relative);
    // Like Chromium, readEntries gives at most 2 entries a call here, then [] once done.
    const withReaders = (node: Node): Node => {
      if (node.isDirectory) {
        node.children!.forEach(withReaders);
        node.createReader = () => {
          let at = 0;
          return { readEntries: (ok) => setTimeout(() => ok(node.children!.slice(at, (at += 2))), 0) };
        };
      }
      return node;
    };
    const album = withReaders(root).children![0]!;
    const items = [{ kind: "file", webkitGetAsEntry: () => album }];
    const drop = new Event("drop", { bubbles: true, cancelable: true });
    Object.defineProperty(drop, "dataTransfer", { value: { types: ["Files"], items, files: [] } });
    document.body.dispatchEvent(drop);
  }, { files, empty: ["album/empty", "album/2024/also empty"] });
  await page.waitForFunction((count) => document.querySelectorAll(".uploads li.done").length === count, Object.keys(TREE_FILES).length, { timeout: 30_000 });
  await page.waitForSelector('td.name a:text-is("album/")');
  assert.deepEqual(treeOf(root), treeOf(source));
});

test("files dropped on the page from the desktop (a real drag, through DevTools) upload", async (t) => {
  const source = tempDir(t, { "one.txt": "1", "two words.txt": "22" });
  const root = tempDir(t);
  const server = await serve(t, { root, upload: true });
  const page = await phonePage(t, server.url);
  const cdp = await page.context().newCDPSession(page);
  const data = { items: [], files: [path.join(source, "one.txt"), path.join(source, "two words.txt")], dragOperationsMask: 1 };
  for (const type of ["dragEnter", "dragOver", "drop"] as const) await cdp.send("Input.dispatchDragEvent", { type, x: 100, y: 400, data });
  await page.waitForFunction(() => document.querySelectorAll(".uploads li.done").length === 2, null, { timeout: 10_000 });
  assert.deepEqual(treeOf(root), treeOf(source));
});

test("while files upload, each line says how much, how fast and how long still; screenshots at 390 and 1,000 px, light and dark", async (t) => {
  const { file } = bigFile(t, "holiday video.mp4", 24 * MiB);
  const { file: second } = bigFile(t, "a-long-file-name-that-has-to-wrap-on-a-phone-screen.iso", 24 * MiB);
  const { proxy, url } = await proxied(t, { overwrite: true });
  proxy.rate = 2 * MiB;
  const browser = await launchChromium();
  t.after(() => browser.close());
  for (const colorScheme of ["light", "dark"] as const) {
    for (const width of [390, 1000]) {
      const page = await browser.newPage({ viewport: { width, height: width === 390 ? 844 : 700 }, isMobile: width === 390, colorScheme });
      await page.goto(url);
      await page.setInputFiles("form.upload input[name=file]", [file, second]);
      await page.waitForFunction(() => [...document.querySelectorAll(".uploads .status")].every((status) => / of 24 MiB · [\d.]+ MiB\/s · \d+ s left$/.test(status.textContent ?? "")), null, { timeout: 20_000 });
      const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
      assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
      await page.screenshot({ path: path.join(SHOTS, `uploading-${width}-${colorScheme}.png`) });
      for (const button of await page.$$(".uploads button")) await button.click();
      await page.waitForFunction(() => document.querySelectorAll(".uploads li.cancelled").length === 2);
      await page.close();
    }
  }
});
