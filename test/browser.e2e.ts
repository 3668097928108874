/**
 * The listing as a person uses it: a real Chromium (Debian's, driven by playwright-core) opens a
 * folder full of awkward names, follows every link and must land on the right file. Run by
 * `npm run test:browser` (CI installs Chromium first); the chromium path can be set with CHROMIUM.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { launchChromium } from "./chromium.js";
import { decodeQr, serve, tempDir } from "./helpers.js";


const ODD_NAMES = [
  "hello world.txt",
  "100% real.txt",
  "%41 literal.txt",
  "#hash.txt",
  "what?.txt",
  "a&b.txt",
  "<tag>.txt",
  `quote"s.txt`,
  "it's.txt",
  "ünïcödé ✓.txt",
  "日本語.txt",
  "emoji 🎉.txt",
];


test("every link in a listing of awkward names opens the right file in Chromium", async (t) => {
  const root = tempDir(t, { "odd folder #1": { "inside.txt": "inside the odd folder" } });
  for (const name of ODD_NAMES) writeFileSync(path.join(root, name), `content of ${name}`);
  // Linux allows names that are not UTF-8; the link must carry the raw bytes.
  writeFileSync(Buffer.concat([Buffer.from(root + "/"), Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74])]), "latin-1 name");
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();

  await page.goto(server.url);
  assert.equal(await page.title(), "Directory listing for /");
  const links = await page.$$eval("td.name a", (anchors) => anchors.map((a) => a.textContent ?? ""));
  for (const name of ODD_NAMES) assert.ok(links.includes(name), `listing shows ${name}`);

  for (const name of ODD_NAMES) {
    await page.goto(server.url);
    await Promise.all([page.waitForURL((url) => url.pathname !== "/"), page.getByText(name, { exact: true }).click()]);
    assert.equal(await page.textContent("body"), `content of ${name}`, `clicking ${name}`);
  }

  await page.goto(server.url);
  await Promise.all([page.waitForURL((url) => url.pathname !== "/"), page.getByText("latin\uFFFD.txt", { exact: true }).click()]);
  assert.equal(await page.textContent("body"), "latin-1 name");

  await page.goto(server.url);
  await Promise.all([page.waitForURL((url) => url.pathname !== "/"), page.getByText("odd folder #1/", { exact: true }).click()]);
  assert.equal(await page.title(), "Directory listing for /odd folder #1/");
  await Promise.all([page.waitForURL((url) => url.pathname.endsWith(".txt")), page.getByText("inside.txt", { exact: true }).click()]);
  assert.equal(await page.textContent("body"), "inside the odd folder");
  await page.goBack();
  await Promise.all([page.waitForURL((url) => url.pathname === "/"), page.getByText("../", { exact: true }).click()]);
  assert.equal(await page.title(), "Directory listing for /");
});

test("a folder link without its slash is redirected, so the page's relative links work", async (t) => {
  const root = tempDir(t, { site: { "index.html": '<link rel="stylesheet" href="style.css"><h1>Site</h1>', "style.css": "h1 { color: rgb(1, 2, 3); }" } });
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`${server.url}site`);
  assert.equal(new URL(page.url()).pathname, "/site/");
  assert.equal(await page.$eval("h1", (h) => getComputedStyle(h).color), "rgb(1, 2, 3)");
});

test("the listing fits a phone screen without horizontal scrolling", async (t) => {
  const long = "a-very-long-file-name-without-any-spaces-that-would-push-the-table-sideways-on-a-phone.txt";
  const root = tempDir(t, { [long]: "x", "short.txt": "y" });
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true });
  await page.goto(server.url);
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
});

test("a clean-URL route loads its page, and the page's relative links work", async (t) => {
  const root = tempDir(t, {
    "index.html": '<a href="about">About</a>',
    "about.html": '<link rel="stylesheet" href="css/site.css"><h1>About us</h1>',
    css: { "site.css": "h1 { color: rgb(4, 5, 6); }" },
  });
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(server.url);
  await Promise.all([page.waitForURL((url) => url.pathname === "/about"), page.getByText("About", { exact: true }).click()]);
  assert.equal(await page.textContent("h1"), "About us");
  assert.equal(await page.$eval("h1", (h) => getComputedStyle(h).color), "rgb(4, 5, 6)");
});

test("with spa, a deep link loads the app shell, while a missing script stays a 404", async (t) => {
  const root = tempDir(t, {
    "index.html": '<!DOCTYPE html><script type="module" src="/app.js"></script><script src="/missing.js"></script><h1>shell</h1>',
    "app.js": "document.querySelector('h1').textContent = 'route ' + location.pathname;",
  });
  const server = await serve(t, { root, spa: true });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const statuses = new Map<string, number>();
  page.on("response", (response) => statuses.set(new URL(response.url()).pathname, response.status()));
  const response = await page.goto(`${server.url}users/john.doe`);
  assert.equal(response?.status(), 200);
  await page.waitForFunction(() => document.querySelector("h1")?.textContent?.startsWith("route "));
  assert.equal(await page.textContent("h1"), "route /users/john.doe");
  assert.equal(statuses.get("/missing.js"), 404, "a missing script is not answered with the app shell");
});

test("compressed responses decode in the browser: the page, its stylesheet and its script", async (t) => {
  const filler = (line: string) => Array.from({ length: 200 }, (_, i) => `${line} ${i}`).join("\n");
  const root = tempDir(t, {
    "index.html": `<!DOCTYPE html><link rel="stylesheet" href="site.css"><script src="app.js"></script><h1>compressed</h1>\n<!-- ${filler("padding")} -->`,
    "site.css": `h1 { color: rgb(7, 8, 9); }\n/* ${filler("rule")} */`,
    "app.js": `window.appRan = true;\n/* ${filler("code")} */`,
  });
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const encodings = new Map<string, string | undefined>();
  page.on("response", (response) => encodings.set(new URL(response.url()).pathname, response.headers()["content-encoding"]));
  await page.goto(server.url);
  assert.equal(await page.textContent("h1"), "compressed");
  assert.equal(await page.$eval("h1", (h) => getComputedStyle(h).color), "rgb(7, 8, 9)");
  assert.equal(await page.evaluate(() => (window as unknown as { appRan?: boolean }).appRan), true);
  for (const name of ["/", "/site.css", "/app.js"]) assert.equal(encodings.get(name), "br", `${name} travelled as br`);
});

test("the listing's QR code, unfolded in Chromium, decodes to the page's network URL, in light and in dark mode", async (t) => {
  const root = tempDir(t, { "sub dir": { "a.txt": "a" } });
  // The page is opened through 127.0.0.1, which a phone cannot use: the network URL stands in.
  const network = "http://192.0.2.7:8000";
  const server = await serve(t, { root, networkOrigins: () => [network] });
  const browser = await launchChromium();
  t.after(() => browser.close());
  for (const colorScheme of ["light", "dark"] as const) {
    const page = await browser.newPage({ colorScheme });
    await page.goto(`${server.url}sub%20dir/`);
    await page.click("details.share summary");
    const svg = page.locator("details.share svg");
    const box = await svg.boundingBox();
    assert.ok(box && box.width === 120 && box.height === 120, `the code is 120 px square: ${JSON.stringify(box)}`);
    assert.equal(decodeQr(await svg.screenshot(), "png"), `${network}/sub%20dir/`, colorScheme);
    assert.equal(await page.textContent("details.share figcaption"), `${network}/sub%20dir/`);
    await page.close();
  }
});

test("on a phone screen the folded share box does not push the listing sideways", async (t) => {
  const root = tempDir(t, { "a.txt": "x" });
  const server = await serve(t, { root, networkOrigins: () => ["http://192.0.2.7:8000"] });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 360, height: 740 }, isMobile: true });
  await page.goto(server.url);
  for (const state of ["folded", "unfolded"]) {
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
    assert.ok(scrollWidth <= clientWidth, `${state}: page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
    await page.click("details.share summary");
  }
});
