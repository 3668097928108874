#!/usr/bin/env node
// Live reload's bench (`npm run bench:live`; bench/README.md explains it). Two figures:
//   1. edit-to-repaint: Chromium (Debian's, via playwright-core) has a page open on `serve-here --live`;
//      EDITS writes of an HTML file and EDITS of a CSS file; for each, the time from the write
//      (Date.now() just before it) to the first animation frame whose DOM or computed style shows it
//      (performance.timeOrigin + performance.now() inside requestAnimationFrame). Median and p90.
//   2. memory: VmRSS of the server process idle, then with STREAMS event streams open (all told one
//      change, to show they are live), and the difference.
// Everything is bounded: each wait has a timeout and the whole run a watchdog (MAX_SECONDS).
// Output: the summary on stdout and in bench/results/<date>-live.md.
//
// Knobs (env): EDITS (20), STREAMS (1000), MAX_SECONDS (300), CHROMIUM (/usr/bin/chromium), BUILD (1).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EDITS = Number(process.env.EDITS ?? 20);
const STREAMS = Number(process.env.STREAMS ?? 1000);
const MAX_SECONDS = Number(process.env.MAX_SECONDS ?? 300);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const watchdog = setTimeout(() => {
  console.error(`bench:live: over the ${MAX_SECONDS} s budget; stopping`);
  process.exit(1);
}, MAX_SECONDS * 1000);
watchdog.unref();

if (process.env.BUILD !== "0") execFileSync("npm", ["run", "build", "--silent"], { cwd: REPO, stdio: "inherit" });
const { chromium } = await import("playwright-core");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// The page stamps, in a frame callback, the first frame that shows each version: the <h1>'s text
// (a new document after a reload) and its computed colour (a stylesheet swapped in place).
const pageHtml = (version) => `<!doctype html>
<html><head><meta charset="utf-8"><title>bench</title><link rel="stylesheet" href="/css/site.css">
<script>
window.__shown = [];
let last = "";
function frame() {
  const h1 = document.querySelector("h1");
  if (h1) {
    const seen = h1.textContent + "|" + getComputedStyle(h1).color;
    if (seen !== last) { last = seen; window.__shown.push({ text: h1.textContent, color: getComputedStyle(h1).color, at: performance.timeOrigin + performance.now() }); }
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
</script></head><body><h1>v${version}</h1></body></html>
`;
const css = (n) => `h1 { color: rgb(${n}, 0, 0); }\n`;

function startServer(root) {
  const child = spawn(process.execPath, [path.join(REPO, "bin", "serve-here.js"), root, "--live", "--port", "0", "--host", "127.0.0.1", "--quiet"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 10_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /at (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], port: Number(match[2]) });
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line)[1]) / 1024;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const fmt = (ms) => ms.toFixed(1);

async function editToRepaint(server, root) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    const listening = () => {
      const waiting = page.waitForResponse((r) => r.url().endsWith("/__serve-here/events"), { timeout: 15_000 });
      waiting.catch(() => {}); // awaited below; an error elsewhere must not surface as this one
      return waiting;
    };
    let open = listening();
    await page.goto(server.url);
    await open;
    // Mid-reload the old document is gone and the new one may not have run its script yet.
    const shown = () => page.evaluate(() => window.__shown).catch(() => undefined);

    const html = [];
    for (let i = 1; i <= EDITS; i++) {
      open = listening(); // the reloaded page opens a new stream; the next edit waits for it
      const wrote = Date.now();
      writeFileSync(path.join(root, "index.html"), pageHtml(i));
      const entry = await until(async () => (await shown())?.find((s) => s.text === `v${i}`), `HTML edit ${i} to show`).catch(async (error) => {
        throw new Error(`${error.message}; the page shows ${JSON.stringify(await shown())}`);
      });
      html.push(entry.at - wrote);
      await open;
      await sleep(200);
    }

    await page.evaluate(() => (window.__marker = "kept"));
    const styles = [];
    for (let i = 1; i <= EDITS; i++) {
      const color = `rgb(${i * 10}, 0, 0)`;
      const wrote = Date.now();
      writeFileSync(path.join(root, "css", "site.css"), css(i * 10));
      const entry = await until(async () => (await shown())?.find((s) => s.color === color), `CSS edit ${i} to show`);
      styles.push(entry.at - wrote);
      await sleep(200);
    }
    const reloadsDuringCss = (await page.evaluate(() => window.__marker)) === "kept" ? "no" : "yes";
    return { html, styles, reloadsDuringCss };
  } finally {
    await browser.close();
  }
}

function openStream(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/__serve-here/events", agent: false }, (res) => {
      let text = "";
      const stream = { req, told: false, booted: false };
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        text += chunk;
        if (!stream.booted && text.includes('"boot"')) {
          stream.booted = true;
          resolve(stream);
        }
        if (text.includes('"changed"')) stream.told = true;
      });
      res.on("error", () => {});
    });
    req.on("error", reject);
    req.setTimeout(15_000, () => reject(new Error("stream did not open")));
  });
}

async function streamsMemory(server, root) {
  await sleep(1000);
  const idle = rssMiB(server.child.pid);
  const streams = [];
  for (let i = 0; i < STREAMS; i += 50) {
    streams.push(...(await Promise.all(Array.from({ length: Math.min(50, STREAMS - i) }, () => openStream(server.port)))));
  }
  await sleep(1000);
  const open = rssMiB(server.child.pid);
  const wrote = Date.now();
  writeFileSync(path.join(root, "touched.txt"), String(wrote));
  await until(() => streams.every((s) => s.told), `all ${STREAMS} streams to be told a change`, 20_000);
  const toldAllMs = Date.now() - wrote;
  await sleep(500);
  const afterChange = rssMiB(server.child.pid);
  for (const s of streams) s.req.destroy();
  await sleep(1000);
  const closed = rssMiB(server.child.pid);
  return { idle, open, afterChange, closed, toldAllMs };
}

const root = mkdtempSync(path.join(os.tmpdir(), "serve-here-bench-live-"));
mkdirSync(path.join(root, "css"));
writeFileSync(path.join(root, "index.html"), pageHtml(0));
writeFileSync(path.join(root, "css", "site.css"), css(0));
// Some bulk, so the watcher has a tree to walk: 50 folders of 20 files.
for (let d = 0; d < 50; d++) {
  mkdirSync(path.join(root, `section${d}`));
  for (let f = 0; f < 20; f++) writeFileSync(path.join(root, `section${d}`, `page${f}.html`), `<p>${d}/${f}</p>`);
}

const server = await startServer(root);
process.on("exit", () => server.child.kill("SIGKILL")); // even when a failure skips the finally below
let summary;
try {
  // Memory first, on a fresh process, before Chromium has loaded anything through it.
  const memory = await streamsMemory(server, root);
  const repaint = await editToRepaint(server, root);
  const rev = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
  const chromiumVersion = execFileSync(CHROMIUM, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, " ").trim() ?? "?";
  const now = new Date();
  summary = `# serve-here live reload bench, ${now.toISOString().slice(0, 16).replace("T", " ")} UTC

Machine: ${cpu}, ${os.cpus().length} cores; Linux ${os.release()}; node ${process.version}; ${chromiumVersion} (headless). serve-here ${rev}.
Settings: EDITS=${EDITS} STREAMS=${STREAMS}. Server, Chromium and this script share the machine (no pinning).

## Edit to repaint

Time from the write (Date.now() just before writeFileSync) to the first animation frame that shows the
change (performance.timeOrigin + performance.now() in a requestAnimationFrame callback), ${EDITS} edits each.

| edit | median, ms | p90, ms | min–max, ms |
|---|---:|---:|---:|
| HTML file (the page reloads) | ${fmt(percentile(repaint.html, 50))} | ${fmt(percentile(repaint.html, 90))} | ${fmt(Math.min(...repaint.html))}–${fmt(Math.max(...repaint.html))} |
| CSS file (swapped in place, no reload) | ${fmt(percentile(repaint.styles, 50))} | ${fmt(percentile(repaint.styles, 90))} | ${fmt(Math.min(...repaint.styles))}–${fmt(Math.max(...repaint.styles))} |

A page reload during the CSS edits: ${repaint.reloadsDuringCss}.

## ${STREAMS} open event streams

| state | server VmRSS, MiB |
|---|---:|
| idle (1 s after start) | ${memory.idle.toFixed(1)} |
| ${STREAMS} streams open | ${memory.open.toFixed(1)} |
| after one change told to all | ${memory.afterChange.toFixed(1)} |
| 1 s after they all closed | ${memory.closed.toFixed(1)} |

${STREAMS} streams cost **${(memory.open - memory.idle).toFixed(1)} MiB** (${(((memory.open - memory.idle) * 1024) / STREAMS).toFixed(1)} KiB each).
One change reached all ${STREAMS} in ${memory.toldAllMs} ms (write to the last client's message, polled every 10 ms).
`;
} finally {
  server.child.kill("SIGTERM");
  rmSync(root, { recursive: true, force: true });
}
process.stdout.write(summary);
const file = path.join(REPO, "bench", "results", `${new Date().toISOString().slice(0, 10)}-live.md`);
writeFileSync(file, summary);
console.error(`bench:live: wrote ${path.relative(REPO, file)}`);
process.exit(0);
