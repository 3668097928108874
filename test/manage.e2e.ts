/**
 * Managing files from the listing, as a person does it, in a real Chromium (Debian's, driven by
 * playwright-core) on a 390 px phone screen: with --upload --overwrite, rename, move, delete and
 * "New folder" by mouse and by keyboard, each checked on disk; a refusal said in words; a drop box
 * (--upload alone) shows "New folder" and nothing else; without --upload the page has no script
 * and none of it. Screenshots (390 px and 1,000 px, light and dark, dialog open) go to
 * /tmp/manage-shots/ (MANAGE_SHOTS sets another folder) to be looked at by hand. Run by
 * `npm run test:browser`.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";

const SHOTS = process.env.MANAGE_SHOTS ?? "/tmp/manage-shots";
mkdirSync(SHOTS, { recursive: true });

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

const TREE = {
  "a.txt": "a",
  "notes #1.txt": "n",
  docs: { "x.txt": "x", sub: { "y.txt": "yy", "z.bin": "zzz" } },
  target: {},
};

let browser: Browser;
test.before(async () => {
  browser = await launchChromium();
});
test.after(() => browser?.close());

/** A page on the listing at `url`, failing the test on any error the page reports (a CSP refusal shows there). */
async function open(t: TestContext, url: string, options: { colorScheme?: "light" | "dark"; viewport?: { width: number; height: number }; javaScriptEnabled?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({ ...PHONE, ...options, ...(options.viewport ? { isMobile: false, hasTouch: false } : {}) });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  t.after(() => assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], "no errors in the page"));
  await page.goto(url);
  return page;
}

async function drive(t: TestContext): Promise<{ page: Page; root: string }> {
  const root = tempDir(t, TREE);
  const server = await serve(t, { root, upload: true, overwrite: true });
  const page = await open(t, server.url);
  await page.waitForSelector('button.manage[aria-label="Manage a.txt"]');
  return { page, root };
}

const status = (page: Page) => page.textContent(".manage-status");
const focused = (page: Page) => page.evaluate(() => {
  const active = document.activeElement as HTMLElement | null;
  return active?.getAttribute("aria-label") ?? active?.textContent ?? null;
});

async function noHorizontalScroll(page: Page): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
}

test("by mouse at 390 px: rename, move, delete a folder after counting what it holds, and a new folder, each on disk", async (t) => {
  const { page, root } = await drive(t);
  await noHorizontalScroll(page);

  // Rename
  await page.click('button.manage[aria-label="Manage a.txt"]');
  assert.equal(await page.isVisible("dialog.manage"), true);
  await page.click('dialog.manage button:text-is("Rename…")');
  await page.fill("#manage-field", "b.txt");
  await page.click('dialog.manage button:text-is("Rename")');
  await page.waitForSelector('button.manage[aria-label="Manage b.txt"]');
  assert.equal(await page.isVisible("dialog.manage"), false);
  assert.equal(readFileSync(path.join(root, "b.txt"), "utf8"), "a");
  assert.equal(existsSync(path.join(root, "a.txt")), false);
  assert.equal(await status(page), "Renamed a.txt to b.txt.");
  assert.equal(await focused(page), "Manage b.txt", "focus on the renamed row");

  // A name with # and a space, renamed to one with unicode and %
  await page.click('button.manage[aria-label="Manage notes #1.txt"]');
  await page.click('dialog.manage button:text-is("Rename…")');
  await page.fill("#manage-field", "résumé 100%.txt");
  await page.press("#manage-field", "Enter");
  await page.waitForSelector('button.manage[aria-label="Manage résumé 100%.txt"]');
  assert.equal(readFileSync(path.join(root, "résumé 100%.txt"), "utf8"), "n");

  // Move into another folder
  await page.click('button.manage[aria-label="Manage b.txt"]');
  await page.click('dialog.manage button:text-is("Move to another folder…")');
  assert.equal(await page.inputValue("#manage-field"), "/");
  await page.fill("#manage-field", "/target/");
  await page.click('dialog.manage button:text-is("Move")');
  await page.waitForFunction(() => !document.querySelector('button.manage[aria-label="Manage b.txt"]'));
  assert.equal(readFileSync(path.join(root, "target", "b.txt"), "utf8"), "a");
  assert.equal(existsSync(path.join(root, "b.txt")), false);
  assert.equal(await status(page), "Moved b.txt to /target/.");

  // Delete a folder: the confirmation names it and counts what it holds
  await page.click('button.manage[aria-label="Manage docs/"]');
  await page.click('dialog.manage button:text-is("Delete…")');
  assert.equal(await page.textContent("#manage-title"), "Delete docs/?");
  await page.waitForFunction(() => !(document.querySelector("dialog.manage button.danger") as HTMLButtonElement).disabled);
  const said = await page.textContent("dialog.manage p");
  assert.match(said ?? "", /^The folder docs\/ will be deleted with everything in it: 3 files in 2 folders, 6 B\.$/);
  assert.equal(await focused(page), "Cancel", "a deletion starts on Cancel");
  await page.click("dialog.manage button.danger");
  await page.waitForFunction(() => !document.querySelector('button.manage[aria-label="Manage docs/"]'));
  assert.equal(existsSync(path.join(root, "docs")), false);
  assert.equal(await status(page), "Deleted docs/ with 3 files in 2 folders, 6 B.");

  // New folder
  await page.click('form.upload button:text-is("New folder")');
  await page.fill("#manage-field", "new stuff");
  await page.click('dialog.manage button:text-is("Create")');
  await page.waitForSelector('button.manage[aria-label="Manage new stuff/"]');
  assert.ok(statSync(path.join(root, "new stuff")).isDirectory());
  assert.equal(await status(page), "Made the folder new stuff/.");
  assert.equal(await focused(page), "new stuff/", "focus on the new folder's link");
  await noHorizontalScroll(page);
});

test("by keyboard: Tab to a row's button, Enter; rename, delete and a new folder without a mouse; Escape gives focus back", async (t) => {
  const { page, root } = await drive(t);
  await page.focus('td.name a:text-is("a.txt")');
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "Manage a.txt", "the row's button comes after its link");
  await page.keyboard.press("Enter");
  assert.equal(await focused(page), "Rename…", "the dialog opens on its first choice");
  await page.keyboard.press("Escape");
  assert.equal(await page.isVisible("dialog.manage"), false);
  assert.equal(await focused(page), "Manage a.txt", "Escape goes back to the row");

  // Rename: the name's stem is selected, so typing replaces it and keeps the extension.
  await page.keyboard.press("Enter");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement).id), "manage-field");
  await page.keyboard.type("c");
  await page.keyboard.press("Enter");
  await page.waitForSelector('button.manage[aria-label="Manage c.txt"]');
  assert.equal(readFileSync(path.join(root, "c.txt"), "utf8"), "a");
  assert.equal(await focused(page), "Manage c.txt");

  // Move by keyboard: Tab to the second choice, a path relative to this folder.
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "Move to another folder…");
  await page.keyboard.press("Enter");
  await page.keyboard.type("target");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => !document.querySelector('button.manage[aria-label="Manage c.txt"]'));
  assert.equal(readFileSync(path.join(root, "target", "c.txt"), "utf8"), "a");
  const after = await focused(page);
  assert.ok(after?.startsWith("Manage "), `focus went to the row that took its place (${after})`);

  // Delete: from Cancel, Shift+Tab to Delete.
  await page.focus('button.manage[aria-label="Manage notes #1.txt"]');
  await page.keyboard.press("Enter");
  for (let i = 0; i < 2; i++) await page.keyboard.press("Tab");
  assert.equal(await focused(page), "Delete…");
  await page.keyboard.press("Enter");
  assert.equal(await focused(page), "Cancel");
  assert.equal(await page.textContent("dialog.manage p"), "notes #1.txt (1 B) will be deleted.");
  await page.keyboard.press("Shift+Tab");
  assert.equal(await focused(page), "Delete");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => !document.querySelector('button.manage[aria-label="Manage notes #1.txt"]'));
  assert.equal(existsSync(path.join(root, "notes #1.txt")), false);

  // New folder
  await page.focus('form.upload button:text-is("New folder")');
  await page.keyboard.press("Enter");
  await page.keyboard.type("kb");
  await page.keyboard.press("Enter");
  await page.waitForSelector('button.manage[aria-label="Manage kb/"]');
  assert.ok(statSync(path.join(root, "kb")).isDirectory());
});

test("a refusal is said in the dialog, with its status, and the dialog stays to fix it", async (t) => {
  const { page, root } = await drive(t);
  await page.click('button.manage[aria-label="Manage a.txt"]');
  await page.click('dialog.manage button:text-is("Rename…")');
  await page.fill("#manage-field", "notes #1.txt");
  await page.press("#manage-field", "Enter");
  await page.waitForFunction(() => document.querySelector("dialog.manage [role=alert]")?.textContent !== "");
  assert.equal(await page.textContent("dialog.manage [role=alert]"), "Not renamed: something has that name already (412).");
  assert.equal(readFileSync(path.join(root, "notes #1.txt"), "utf8"), "n", "nothing replaced");
  await page.fill("#manage-field", ".hidden");
  await page.press("#manage-field", "Enter");
  await page.waitForFunction(() => document.querySelector("dialog.manage [role=alert]")?.textContent?.includes("(400)"));
  await page.fill("#manage-field", "x");
  await page.click('dialog.manage button:text-is("Cancel")');
  // Moving into a folder that is not there
  await page.click('button.manage[aria-label="Manage a.txt"]');
  await page.click('dialog.manage button:text-is("Move to another folder…")');
  await page.fill("#manage-field", "/nowhere/");
  await page.press("#manage-field", "Enter");
  await page.waitForFunction(() => document.querySelector("dialog.manage [role=alert]")?.textContent?.includes("(409)"));
  assert.equal(await page.textContent("dialog.manage [role=alert]"), "Not moved: the folder it would go into does not exist (409).");
  assert.equal(readFileSync(path.join(root, "a.txt"), "utf8"), "a");
  // A new folder whose name is taken
  await page.keyboard.press("Escape");
  await page.click('form.upload button:text-is("New folder")');
  await page.fill("#manage-field", "docs");
  await page.press("#manage-field", "Enter");
  await page.waitForFunction(() => document.querySelector("dialog.manage [role=alert]")?.textContent?.includes("(405)"));
});

test("a drop box (--upload alone) offers New folder, and no rename, move or delete", async (t) => {
  const root = tempDir(t, TREE);
  const server = await serve(t, { root, upload: true });
  const page = await open(t, server.url);
  await page.waitForSelector('form.upload button:text-is("New folder")');
  assert.equal(await page.getAttribute("form.upload", "data-share"), "drop-box");
  assert.equal(await page.locator("button.manage").count(), 0, "no row has a button");
  assert.equal(await page.locator("th.manage").count(), 0);
  await page.click('form.upload button:text-is("New folder")');
  await page.fill("#manage-field", "inbox");
  await page.press("#manage-field", "Enter");
  await page.waitForSelector('td.name a:text-is("inbox/")');
  assert.ok(statSync(path.join(root, "inbox")).isDirectory());
  assert.equal(await page.locator("button.manage").count(), 0, "still none after the refresh");
  await noHorizontalScroll(page);
});

test("without --upload the listing has no script, no form and nothing to manage", async (t) => {
  const root = tempDir(t, TREE);
  const server = await serve(t, { root });
  const page = await open(t, server.url);
  const response = await page.request.get(server.url);
  assert.doesNotMatch(response.headers()["content-security-policy"] ?? "", /script-src/);
  assert.equal(await page.locator("script").count(), 0);
  assert.equal(await page.locator("form.upload, .manage-status, button.manage, dialog").count(), 0);
  assert.doesNotMatch(await response.text(), /data-share|manage/);
});

test("grid view: each tile has its button, and a rename from it works", async (t) => {
  const root = tempDir(t, TREE);
  const server = await serve(t, { root, upload: true, overwrite: true });
  const page = await open(t, `${server.url}?view=grid`);
  await page.click('li.tile button.manage[aria-label="Manage a.txt"]');
  await page.click('dialog.manage button:text-is("Rename…")');
  await page.fill("#manage-field", "tile.txt");
  await page.press("#manage-field", "Enter");
  await page.waitForSelector('li.tile button.manage[aria-label="Manage tile.txt"]');
  assert.equal(readFileSync(path.join(root, "tile.txt"), "utf8"), "a");
});

test("screenshots at 390 px and 1,000 px, light and dark: the listing, the menu and the delete confirmation", async (t) => {
  const root = tempDir(t, TREE);
  const server = await serve(t, { root, upload: true, overwrite: true });
  for (const colorScheme of ["light", "dark"] as const) {
    for (const width of [390, 1000]) {
      const page = await open(t, server.url, width === 390 ? { colorScheme } : { colorScheme, viewport: { width, height: 800 } });
      await page.waitForSelector("button.manage");
      await page.screenshot({ path: path.join(SHOTS, `listing-${width}-${colorScheme}.png`) });
      await page.click('button.manage[aria-label="Manage docs/"]');
      await page.screenshot({ path: path.join(SHOTS, `menu-${width}-${colorScheme}.png`) });
      await page.click('dialog.manage button:text-is("Delete…")');
      await page.waitForFunction(() => !(document.querySelector("dialog.manage button.danger") as HTMLButtonElement).disabled);
      await page.screenshot({ path: path.join(SHOTS, `delete-${width}-${colorScheme}.png`) });
      await page.keyboard.press("Escape");
      await page.click('button.manage[aria-label="Manage a.txt"]');
      await page.click('dialog.manage button:text-is("Rename…")');
      await page.fill("#manage-field", "notes #1.txt");
      await page.press("#manage-field", "Enter");
      await page.waitForFunction(() => document.querySelector("dialog.manage [role=alert]")?.textContent !== "");
      await page.screenshot({ path: path.join(SHOTS, `refused-${width}-${colorScheme}.png`) });
      await page.keyboard.press("Escape");
    }
  }
});

test("with --auth, the page's WebDAV requests and a tus upload carry the password the browser was given", async (t) => {
  const root = tempDir(t, TREE);
  const server = await serve(t, { root, upload: true, overwrite: true, auth: [{ user: "ann", password: "pässword:1" }] });
  const context = await browser.newContext({ ...PHONE, httpCredentials: { username: "ann", password: "pässword:1" } });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(server.url);
  await page.click('button.manage[aria-label="Manage a.txt"]');
  await page.click('dialog.manage button:text-is("Rename…")');
  await page.fill("#manage-field", "signed.txt");
  await page.press("#manage-field", "Enter");
  await page.waitForSelector('button.manage[aria-label="Manage signed.txt"]');
  assert.equal(readFileSync(path.join(root, "signed.txt"), "utf8"), "a");
  await page.setInputFiles("form.upload input[name=file]", { name: "up.txt", mimeType: "text/plain", buffer: Buffer.from("uploaded") });
  await page.waitForSelector(".uploads li.done");
  assert.equal(readFileSync(path.join(root, "up.txt"), "utf8"), "uploaded");
  assert.equal(await page.textContent(".upload-news"), "up.txt: done", "a screen reader hears the upload is done");
});
