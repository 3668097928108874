/**
 * The listing as a person uses it, in a real Chromium (Debian's, driven by playwright-core):
 * sorting by each column both ways, the filter box, the grid of lazy thumbnails, breadcrumbs, and
 * a 100,000-entry folder's first page and its next-page link; at 1,000 px and 390 px, in light and
 * dark mode, from the keyboard. Screenshots go to /tmp/listing-shots/ (LISTING_SHOTS sets another
 * folder) to be looked at by hand. Run by `npm run test:browser`.
 */
import assert from "node:assert/strict";
import { closeSync, mkdirSync, openSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import zlib from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./chromium.js";
import { serve, tempDir } from "./helpers.js";

const SHOTS = process.env.LISTING_SHOTS ?? "/tmp/listing-shots";
mkdirSync(SHOTS, { recursive: true });

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A real PNG of `width` × `height`: a diagonal gradient from one colour to another, so thumbnails differ. */
function png(width: number, height: number, from: [number, number, number], to: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      const f = (x + y) / (width + height);
      for (let c = 0; c < 3; c++) row[1 + x * 3 + c] = Math.round(from[c]! + (to[c]! - from[c]!) * f);
    }
    rows.push(row);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", header), chunk("IDAT", zlib.deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0))]);
}

function at(file: string, iso: string): void {
  utimesSync(file, new Date(iso), new Date(iso));
}

/** A folder a person might share: subfolders, documents of known sizes and dates, and photos. */
function photoFolder(t: import("node:test").TestContext, photos = 36): string {
  const root = tempDir(t, { "Holiday 2024": { "Day 1": { "notes.txt": "day one" }, Drafts: {} } });
  const dir = path.join(root, "Holiday 2024");
  const files: Array<[string, string | Buffer, string]> = [
    ["itinerary.pdf", Buffer.alloc(48_000), "2024-05-02T09:00:00Z"],
    ["budget.csv", "a,b\n1,2\n", "2024-05-20T18:30:00Z"],
    ["packing list.md", Buffer.alloc(1_500), "2024-04-28T07:15:00Z"],
    ["route.json", Buffer.alloc(9_000), "2024-05-10T12:00:00Z"],
    ["songs.mp3", Buffer.alloc(3_000_000), "2024-05-11T12:00:00Z"],
    ["backup.zip", Buffer.alloc(700_000), "2024-05-30T22:00:00Z"],
  ];
  for (const [name, content, time] of files) {
    writeFileSync(path.join(dir, name), content);
    at(path.join(dir, name), time);
  }
  const colours: Array<[number, number, number]> = [
    [230, 120, 60],
    [60, 140, 220],
    [80, 180, 110],
    [200, 80, 160],
    [240, 200, 70],
    [90, 90, 200],
  ];
  for (let i = 1; i <= photos; i++) {
    const file = path.join(dir, `IMG_${String(i).padStart(4, "0")}.png`);
    writeFileSync(file, png(96, 72, colours[i % colours.length]!, colours[(i + 2) % colours.length]!));
    at(file, `2024-05-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z`);
  }
  at(path.join(dir, "Day 1"), "2024-05-01T20:00:00Z");
  at(path.join(dir, "Drafts"), "2024-06-01T08:00:00Z");
  return root;
}

const VIEWPORTS = [
  { name: "1000", viewport: { width: 1000, height: 800 }, isMobile: false },
  { name: "390", viewport: { width: 390, height: 844 }, isMobile: true },
] as const;

/**
 * A page in a fresh context. Script is off (the listing must not need it) unless `script`: a
 * browser with script off loads every image at once, as `loading="lazy"` could be used to track
 * scrolling (HTML standard, "will lazy load element steps").
 */
async function openPage(browser: Browser, size: (typeof VIEWPORTS)[number], colorScheme: "light" | "dark", script = false): Promise<Page> {
  const context = await browser.newContext({ viewport: size.viewport, isMobile: size.isMobile, colorScheme, javaScriptEnabled: script });
  return context.newPage();
}

/**
 * Runs `look` on a fresh page at each viewport, light and dark (`script`: the page may run script),
 * closing the page after; `look` is told where it is, as `1000-light`, for its messages and shots.
 */
async function atEveryLook(browser: Browser, look: (page: Page, where: string) => Promise<void>, script = false): Promise<void> {
  for (const size of VIEWPORTS) {
    for (const scheme of ["light", "dark"] as const) {
      const page = await openPage(browser, size, scheme, script);
      try {
        await look(page, `${size.name}-${scheme}`);
      } finally {
        await page.context().close();
      }
    }
  }
}

async function names(page: Page): Promise<string[]> {
  return page.$$eval("tbody td.name a", (anchors) => anchors.map((a) => a.textContent ?? "").filter((text) => text !== "../"));
}

async function assertNoSidewaysScroll(page: Page, what: string): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
  assert.ok(scrollWidth <= clientWidth, `${what}: page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

test("sorting by each column both ways, by clicking its heading, without script", async (t) => {
  const root = photoFolder(t);
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await openPage(browser, VIEWPORTS[0], "light");
  await page.goto(`${server.url}Holiday%202024/`);
  const sortedBy = () => page.$$eval("th[aria-sort]", (ths) => ths.map((th) => `${th.className} ${th.getAttribute("aria-sort")}`));
  assert.deepEqual(await sortedBy(), ["name ascending"]);
  const byName = await names(page);
  assert.deepEqual(byName.slice(0, 4), ["Day 1/", "Drafts/", "backup.zip", "budget.csv"]);

  const click = async (heading: string) => Promise.all([page.waitForNavigation(), page.click(`th.${heading} a`)]);
  await click("name");
  assert.deepEqual(await sortedBy(), ["name descending"]);
  assert.deepEqual(await names(page), [...byName.slice(0, 2).reverse(), ...byName.slice(2).reverse()], "Z to A, folders still first");

  await click("size");
  assert.deepEqual(await sortedBy(), ["size descending"]);
  let shown = await names(page);
  assert.deepEqual(shown.slice(0, 5), ["Drafts/", "Day 1/", "songs.mp3", "backup.zip", "itinerary.pdf"], "largest first, folders by name");
  await shot(page, "sort-size-desc-1000-light");
  await click("size");
  assert.deepEqual(await sortedBy(), ["size ascending"]);
  shown = await names(page);
  assert.deepEqual(shown.slice(0, 3), ["Day 1/", "Drafts/", "budget.csv"]);
  assert.equal(shown.at(-1), "songs.mp3");

  await click("modified");
  assert.deepEqual(await sortedBy(), ["modified descending"]);
  shown = await names(page);
  assert.deepEqual(shown.slice(0, 3), ["Drafts/", "Day 1/", "backup.zip"], "newest first, folders by their own dates");
  await click("modified");
  assert.deepEqual(await sortedBy(), ["modified ascending"]);
  shown = await names(page);
  assert.deepEqual(shown.slice(0, 3), ["Day 1/", "Drafts/", "packing list.md"]);
  assert.match((await page.textContent("th.modified a")) ?? "", /▲/);

  // The order follows into a subfolder and back up through the breadcrumbs.
  await Promise.all([page.waitForNavigation(), page.click("tbody a:text-is('Day 1/')")]);
  assert.equal(new URL(page.url()).search, "?sort=mtime");
  await Promise.all([page.waitForNavigation(), page.click("h1 a:text-is('Holiday 2024')")]);
  assert.equal(new URL(page.url()).pathname, "/Holiday%202024/");
  assert.deepEqual(await sortedBy(), ["modified ascending"]);
});

test("the filter box finds names as you would type them, and the footer counts what matched", async (t) => {
  const root = photoFolder(t);
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  await atEveryLook(browser, async (page, where) => {
    await page.goto(`${server.url}Holiday%202024/?sort=size&order=desc`);
    await page.fill("input[name=q]", "IMG_001");
    await Promise.all([page.waitForNavigation(), page.press("input[name=q]", "Enter")]);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("q"), "IMG_001");
    assert.equal(url.searchParams.get("sort"), "size", "the order rides along");
    assert.deepEqual((await names(page)).sort(), Array.from({ length: 10 }, (_, i) => `IMG_00${10 + i}.png`));
    assert.match((await page.textContent(".summary")) ?? "", /^0 folders, 10 files matching “IMG_001”, .* in total$/);
    await assertNoSidewaysScroll(page, `filter ${where}`);
    await shot(page, `filter-${where}`);
  });
});

test("the grid view shows lazy thumbnails of the photos, names beneath, and links back to the table", async (t) => {
  // Enough photos to reach well below the fold: Chromium fetches lazy images within a few
  // thousand pixels of the viewport.
  const root = photoFolder(t, 240);
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  await atEveryLook(browser, async (page, where) => {
    const fetched = new Set<string>();
    page.on("request", (request) => request.url().endsWith(".png") && fetched.add(request.url()));
    await page.goto(`${server.url}Holiday%202024/`);
    await Promise.all([page.waitForNavigation(), page.click("a.view")]);
    assert.equal(new URL(page.url()).search, "?view=grid");
    const images = page.locator("ul.grid img");
    assert.equal(await images.count(), 240);
    assert.deepEqual(new Set(await images.evaluateAll((imgs) => imgs.map((img) => img.getAttribute("loading")))), new Set(["lazy"]));
    // The first thumbnails are drawn from the files themselves...
    await page.waitForFunction(() => {
      const first = document.querySelector<HTMLImageElement>("ul.grid img");
      return first !== null && first.complete && first.naturalWidth === 96;
    });
    // ...and those far below the fold are not fetched until scrolled to.
    assert.ok(fetched.size < 240, `${fetched.size} of 240 images fetched before scrolling`);
    assert.equal(await page.textContent("ul.grid li:nth-child(2) .label"), "Day 1/", "names beneath, after ../");
    await assertNoSidewaysScroll(page, `grid ${where}`);
    await shot(page, `grid-${where}`);
    await page.locator("ul.grid li").last().scrollIntoViewIfNeeded();
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>("ul.grid img")].at(-1)!.complete);
    assert.ok(fetched.size > 0 && (await page.locator("ul.grid img").last().evaluate((img: HTMLImageElement) => img.naturalWidth)) === 96, "the last thumbnail loads once scrolled to");
    await Promise.all([page.waitForNavigation(), page.click("a.view")]);
    assert.equal(new URL(page.url()).search, "", "Table view goes back to the plain table");
  }, true);
});

test("breadcrumbs lead to each folder above, at 1,000 px and 390 px, light and dark", async (t) => {
  const root = photoFolder(t);
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  await atEveryLook(browser, async (page, where) => {
    await page.goto(`${server.url}Holiday%202024/Day%201/`);
    assert.equal((await page.textContent("h1"))?.trim(), "Directory listing for /Holiday 2024/Day 1/");
    assert.equal(await page.getAttribute("h1 a[aria-current=page]", "href"), ".");
    await shot(page, `table-subfolder-${where}`);
    await Promise.all([page.waitForNavigation(), page.click("h1 a:text-is('Holiday 2024')")]);
    assert.equal(new URL(page.url()).pathname, "/Holiday%202024/");
    await assertNoSidewaysScroll(page, `table ${where}`);
    await shot(page, `table-${where}`, true);
    await Promise.all([page.waitForNavigation(), page.click("h1 a:text-is('/')")]);
    assert.equal(new URL(page.url()).pathname, "/");
  });
});

test("the keyboard reaches every row, with a visible focus ring", async (t) => {
  const root = photoFolder(t);
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await openPage(browser, VIEWPORTS[0], "dark");
  await page.goto(`${server.url}Holiday%202024/`);
  const reached = new Set<string>();
  let ring = "";
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      const row = el?.closest("tbody tr") ? el!.textContent ?? "" : null;
      return { row, outline: el ? getComputedStyle(el).outlineStyle + " " + getComputedStyle(el).outlineWidth : "" };
    });
    if (focused.row !== null) {
      reached.add(focused.row);
      if (focused.row === "backup.zip") {
        ring = focused.outline;
        await shot(page, "keyboard-focus-1000-dark");
      }
    }
  }
  for (const name of ["../", "Day 1/", "Drafts/", "backup.zip", "budget.csv", "IMG_0001.png", "IMG_0030.png"]) assert.ok(reached.has(name), `Tab reaches ${name}`);
  assert.match(ring, /^solid [1-9]/, `the focused link has an outline: ${ring}`);
});

test("a 100,000-entry folder shows its first 1,000 rows, the total, and a next-page link that works", async (t) => {
  const root = tempDir(t, { huge: {} });
  const huge = path.join(root, "huge");
  for (let i = 0; i < 100_000; i++) closeSync(openSync(path.join(huge, `scan-${String(i).padStart(6, "0")}.tif`), "w"));
  const server = await serve(t, { root });
  const browser = await launchChromium();
  t.after(() => browser.close());
  await atEveryLook(browser, async (page, where) => {
    await page.goto(`${server.url}huge/`);
    assert.equal(await page.locator("tbody tr").count(), 1001, "../ and 1,000 rows");
    assert.match((await page.textContent("nav.pages")) ?? "", /1–1,000 of 100,000/);
    assert.match((await page.textContent(".summary")) ?? "", /^0 folders, 100,000 files, /);
    await page.locator("nav.pages").scrollIntoViewIfNeeded();
    await shot(page, `huge-footer-${where}`);
    await Promise.all([page.waitForNavigation(), page.click("a[rel=next]")]);
    assert.equal(new URL(page.url()).search, "?offset=1000");
    const shown = await names(page);
    assert.equal(shown[0], "scan-001000.tif");
    assert.equal(shown.length, 1000);
    assert.match((await page.textContent("nav.pages")) ?? "", /1,001–2,000 of 100,000/);
    assert.equal(await page.locator("a[rel=prev]").count(), 1);
    await assertNoSidewaysScroll(page, `huge ${where}`);
  });
});
