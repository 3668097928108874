/**
 * HTTPS as a person gets it: Chromium (Debian's, driven by playwright-core) opens a listing and a
 * page over HTTPS with the self-signed certificate (`--tls-self-signed`'s, accepted with
 * `--ignore-certificate-errors` as a user accepts the warning), and speaks HTTP/2 to it. Run by
 * `npm run test:browser`; the chromium path can be set with CHROMIUM.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { selfSignedCertificate } from "../src/cert.js";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";

test("Chromium loads a listing and a page over HTTPS, with HTTP/2", async (t) => {
  const certDir = mkdtempSync(path.join(os.tmpdir(), "serve-here-cert-"));
  t.after(() => rmSync(certDir, { recursive: true, force: true }));
  const { cert, key } = await selfSignedCertificate({ configDir: certDir });
  const root = tempDir(t, {
    site: { "index.html": `<!DOCTYPE html><html><head><title>over https</title><link rel="stylesheet" href="style.css"></head><body><p id="p">styled</p></body></html>`, "style.css": "#p { color: rgb(0, 128, 0); }" },
    "notes.txt": "notes",
  });
  const server = await serve(t, { root, tls: { cert, key } });
  assert.match(server.url, /^https:\/\//);
  const browser = await launchChromium(["--ignore-certificate-errors"]);
  t.after(() => browser.close());
  const page = await browser.newPage();

  const listing = await page.goto(server.url);
  assert.equal(listing?.status(), 200);
  assert.equal(await page.title(), "Directory listing for /");
  assert.ok(await page.getByText("notes.txt", { exact: true }).isVisible());
  assert.equal(await page.evaluate(() => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol), "h2");

  await Promise.all([page.waitForURL((url) => url.pathname === "/site/"), page.getByText("site/", { exact: true }).click()]);
  assert.equal(await page.title(), "over https");
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById("p")!).color), "rgb(0, 128, 0)");
  const protocols = await page.evaluate(() => performance.getEntries().filter((e) => "nextHopProtocol" in e).map((e) => [e.name, (e as PerformanceResourceTiming).nextHopProtocol]));
  assert.ok(protocols.length >= 2, `the page and its stylesheet: ${JSON.stringify(protocols)}`);
  for (const [name, protocol] of protocols) assert.equal(protocol, "h2", `${name} over ${protocol}`);
});
