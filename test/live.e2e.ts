/**
 * Live reload as a person sees it, in a real Chromium (Debian's, driven by playwright-core): an
 * edited page reloads, an edited stylesheet restyles the page without a reload, and a restarted
 * server makes the page reconnect and reload. Run by `npm run test:browser`.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import type { AccessLogEntry } from "../src/server.js";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";



/** Opens `url` and waits until the page's event stream is open (the server then watches). */
async function openListening(page: Page, url: string): Promise<void> {
  const listening = page.waitForResponse((response) => response.url().endsWith("/__serve-here/events"));
  await page.goto(url);
  assert.equal((await listening).status(), 200);
}

test("with --live, editing the HTML file reloads the page in Chromium", async (t) => {
  const root = tempDir(t, { "index.html": "<!doctype html><html><head><title>v1</title></head><body><h1>first</h1></body></html>" });
  const server = await serve(t, { root, live: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await openListening(page, server.url);
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = "before the edit"));

  const reloaded = page.waitForEvent("load", { timeout: 15_000 });
  writeFileSync(path.join(root, "index.html"), "<!doctype html><html><head><title>v2</title></head><body><h1>second</h1></body></html>");
  await reloaded;
  assert.equal(await page.textContent("h1"), "second");
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), undefined, "a new page, not the old one");
});

test("with --auth, Chromium sends the password it was given for the page with the live script and event stream too", async (t) => {
  const root = tempDir(t, { "index.html": "<!doctype html><html><head><title>v1</title></head><body><h1>first</h1></body></html>" });
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, live: true, auth: [{ user: "ann", password: "pässword:1" }], onResponse: (entry) => log.push(entry) });
  const browser = await launchChromium();
  t.after(() => browser.close());
  // Playwright answers the first 401 as a person at the prompt would; after that it is Chromium's own cache.
  const context = await browser.newContext({ httpCredentials: { username: "ann", password: "pässword:1" } });
  const page = await context.newPage();
  await openListening(page, server.url); // the event stream answered 200
  const reloaded = page.waitForEvent("load", { timeout: 15_000 });
  writeFileSync(path.join(root, "index.html"), "<!doctype html><html><head><title>v2</title></head><body><h1>second</h1></body></html>");
  await reloaded;
  assert.equal(await page.textContent("h1"), "second");
  const refused = log.filter((entry) => entry.status === 401).map((entry) => entry.url);
  assert.deepEqual(refused, ["/"], "only the first page load was asked for the password; the script and the stream carried it");
});

test("with --live, editing a stylesheet restyles the page without reloading it", async (t) => {
  const root = tempDir(t, {
    "index.html": '<!doctype html><html><head><link rel="stylesheet" href="css/site.css"></head><body><h1>styled</h1></body></html>',
    css: { "site.css": "h1 { color: rgb(1, 2, 3); }" },
  });
  const server = await serve(t, { root, live: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await openListening(page, server.url);
  assert.equal(await page.$eval("h1", (h) => getComputedStyle(h).color), "rgb(1, 2, 3)");
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = "page state"));
  let loads = 0;
  page.on("load", () => loads++);

  writeFileSync(path.join(root, "css", "site.css"), "h1 { color: rgb(4, 5, 6); }");
  await page.waitForFunction(() => getComputedStyle(document.querySelector("h1")!).color === "rgb(4, 5, 6)", undefined, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), "page state", "the page was not reloaded");
  assert.equal(loads, 0);
  // The old <link> goes once the copy has loaded: one stylesheet left, the cache-busting copy.
  await page.waitForFunction(() => document.querySelectorAll('link[rel="stylesheet"]').length === 1, undefined, { timeout: 15_000 });
  assert.match(await page.$eval('link[rel="stylesheet"]', (link) => link.getAttribute("href") ?? ""), /\/css\/site\.css\?v=\d+$/);
});

test("with --live, a restarted server makes the page reconnect and reload", async (t) => {
  const root = tempDir(t, { "index.html": "<!doctype html><html><head><title>t</title></head><body><h1>page</h1></body></html>" });
  const first = await serve(t, { root, live: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await openListening(page, first.url);
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = "before the restart"));

  await first.close();
  // Down long enough for at least one failed reconnect (EventSource retries every second).
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const reloaded = page.waitForEvent("load", { timeout: 20_000 });
  await serve(t, { root, live: true, port: first.port });
  await reloaded;
  assert.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), undefined, "the page was reloaded");
  assert.equal(await page.textContent("h1"), "page");
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});
