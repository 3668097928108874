/**
 * Uploads as a person makes them: Chromium (Debian's, via playwright-core) picks two files in the
 * listing's upload form, sees a progress bar per file, and the listing refreshes to show both. The
 * same on a 390 px phone screen, without horizontal scrolling. Run by `npm run test:browser`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";



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
