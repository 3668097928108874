/**
 * Folders as zip as a person gets one: Chromium (Debian's, driven by playwright-core) opens a
 * listing, clicks "Download as zip", and the download must carry the folder's name and unzip to
 * the folder's files. Run by `npm run test:browser`; the chromium path can be set with CHROMIUM.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";


test("clicking a listing's Download as zip saves folder.zip, which unzips to the folder's files", async (t) => {
  const root = tempDir(t, { "Fotos 日本": { "café.txt": "au lait", nested: { "deep.txt": "deep" }, "empty": {} } });
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();

  await page.goto(`${server.url}${encodeURIComponent("Fotos 日本")}/`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByText("Download as zip", { exact: true }).click()]);
  assert.equal(download.suggestedFilename(), "Fotos 日本.zip");
  assert.equal(await download.failure(), null);

  const saved = path.join(tempDir(t), "saved.zip");
  await download.saveAs(saved);
  assert.match(execFileSync("unzip", ["-t", saved], { encoding: "utf8" }), /No errors detected/);
  const out = tempDir(t);
  execFileSync("unzip", ["-q", saved, "-d", out]);
  assert.equal(readFileSync(path.join(out, "café.txt"), "utf8"), "au lait");
  assert.equal(readFileSync(path.join(out, "nested", "deep.txt"), "utf8"), "deep");
  assert.ok(existsSync(path.join(out, "empty")), "the empty folder is kept");
});
