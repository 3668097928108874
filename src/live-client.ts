/**
 * The script live reload puts into pages, served as `/__serve-here/live.js`.
 *
 * It lives here as a string rather than as a `.js` file beside the sources: `tsc` then puts it in
 * `dist/` with everything else, so `npm pack`, the tests and the server all see the same bytes,
 * with no copy step in the build to forget. Kept under 4 KiB, without a dependency (a test checks
 * the size, and that it parses); the browser tests run it.
 *
 * What it does: a changed stylesheet linked by the page is swapped in place (a copy with `?v=`
 * loads beside the old `<link>`, which goes once the copy has loaded or failed: no flash, page
 * state kept); any other change reloads the page, as does a new boot id (the server restarted).
 * While the server is down, EventSource retries every second (the stream's `retry: 1000`), every
 * 5 s after a minute; when a failure closed it for good (a proxy's 502), the script opens a new
 * one. It logs nothing itself (the browser reports each refused connection in the console).
 */
export const LIVE_CLIENT: string = `// serve-here live reload: see https://www.npmjs.com/package/serve-here
const EVENTS = "/__serve-here/events";
let boot = null;
let generation = 0;

const decode = (path) => {
  try { return decodeURIComponent(path); } catch { return path; }
};

const samePath = (href, path) => {
  const url = new URL(href, location.href);
  return url.origin === location.origin && decode(url.pathname) === decode(path);
};

const stylesheets = (path) =>
  [...document.querySelectorAll('link[rel~="stylesheet" i][href]')].filter((link) => samePath(link.href, path));

// Swaps the page's stylesheets at this path for fresh copies; false when the page links none.
function swapStylesheets(path) {
  if (!/\\.css$/i.test(decode(path))) return false;
  const current = stylesheets(path).filter((link) => !("liveOld" in link.dataset));
  for (const link of current) {
    const stamp = ++generation;
    const url = new URL(link.href);
    url.searchParams.set("v", String(Date.now()));
    const copy = link.cloneNode();
    copy.href = url.href;
    copy.dataset.liveGeneration = String(stamp);
    link.dataset.liveOld = "";
    // Older links go once this copy has loaded (or failed), so the page is never unstyled.
    copy.onload = copy.onerror = () => {
      for (const old of stylesheets(path)) if (Number(old.dataset.liveGeneration ?? 0) < stamp) old.remove();
    };
    link.after(copy);
  }
  return current.length > 0;
}

function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (typeof message.boot === "string") {
    if (boot !== null && boot !== message.boot) location.reload();
    boot = message.boot;
  } else if (Array.isArray(message.changed)) {
    const others = message.changed.filter((path) => !swapStylesheets(path));
    if (others.length > 0 || message.more) location.reload();
  }
}

// Failed attempts since the stream was last open: after a minute down, try every 5 s rather than
// every second, so a tab left open does not fill the console with the browser's own reports.
let failures = 0;

function connect() {
  const source = new EventSource(EVENTS);
  source.onopen = () => { failures = 0; };
  source.onmessage = onMessage;
  source.onerror = () => {
    failures++;
    // CONNECTING: EventSource retries by itself (retry: 1000). CLOSED: it gave up, so start again.
    if (source.readyState !== EventSource.CLOSED && failures <= 60) return;
    source.close();
    setTimeout(connect, failures > 60 ? 5000 : 1000);
  };
}

connect();
`;
