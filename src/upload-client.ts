/**
 * The script the listing's upload form loads with --upload, served as `/__serve-here/upload.js`.
 *
 * A string here for the same reason as `live-client.ts`: tsc puts it in `dist/` with the rest, so
 * the package, the tests and the server see the same bytes. Plain JS, no dependency.
 *
 * Without it the form still works (a plain multipart POST, answered with 303 back to the folder).
 * With it: files chosen or dropped anywhere on the page upload at once, two at a time, each with
 * its own progress bar (XMLHttpRequest: fetch() cannot report upload progress); when the last one
 * is done, the listing's rows and footer are fetched again and swapped in, and the log under the form stays.
 */
import { MANAGE_CLIENT } from "./manage-client.js";

export const UPLOAD_CLIENT: string = `// serve-here uploads and file management: see https://www.npmjs.com/package/serve-here
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const UNITS = ["KiB", "MiB", "GiB", "TiB"];
const humanSize = (bytes) => {
  if (bytes < 1024) return bytes + " B";
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return (value < 10 ? value.toFixed(1) : Math.round(value)) + " " + UNITS[unit];
};

const decodeSegment = (text) => {
  try { return decodeURIComponent(text); } catch { return text; }
};

/** Run after each refresh of the listing (the rows are new elements then). */
const afterRefresh = [];

/**
 * Fetches this page again and swaps in its rows, footer and pages, keeping focus on the row it
 * was on (by its link) if that row is still there.
 */
const refreshListing = async () => {
  let page;
  try {
    const res = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
    if (!res.ok) throw new Error(String(res.status));
    page = new DOMParser().parseFromString(await res.text(), "text/html");
  } catch {
    return location.reload();
  }
  const active = document.activeElement;
  const activeRow = active && active.closest("tbody tr, ul.grid li");
  const activeHref = activeRow && activeRow.querySelector("a")?.getAttribute("href");
  const onButton = active && active.tagName === "BUTTON";
  for (const selector of ["tbody", "ul.grid", ".summary"]) {
    const fresh = page.querySelector(selector);
    const old = document.querySelector(selector);
    if (fresh && old) old.replaceWith(document.adoptNode(fresh));
  }
  // "This folder is empty." and the links to other pages come and go.
  const summary = document.querySelector(".summary");
  for (const [selector, place] of [["p.empty", "before"], ["nav.pages", "after"]]) {
    const fresh = page.querySelector(selector);
    document.querySelector(selector)?.remove();
    if (fresh && summary) summary[place](document.adoptNode(fresh));
  }
  for (const hook of afterRefresh) hook();
  if (activeHref) {
    const row = [...document.querySelectorAll("tbody tr, ul.grid li")].find((row) => row.querySelector("a")?.getAttribute("href") === activeHref);
    (row && ((onButton && row.querySelector("button")) || row.querySelector("a")))?.focus();
  }
};

{
const form = document.querySelector("form.upload");
const input = form && form.querySelector("input[type=file]");
const log = form && form.querySelector(".uploads");
const AT_ONCE = 2;
let waiting = [];
let running = 0;

const finished = () => {
  running--;
  next();
  if (running === 0 && waiting.length === 0) refreshListing();
};

const send = ({ file, item, bar, status }) => {
  running++;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", location.pathname);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (event) => {
    if (event.lengthComputable) bar.value = event.loaded / event.total;
  };
  xhr.onload = () => {
    if (xhr.status === 201) {
      bar.value = 1;
      let stored = file.name;
      try { stored = decodeURIComponent(JSON.parse(xhr.responseText)[0].split("/").pop()); } catch {}
      status.textContent = stored === file.name ? "done" : "done, as " + stored;
      item.className = "done";
    } else {
      status.textContent = "failed: " + xhr.status + " " + xhr.statusText;
      item.className = "failed";
    }
    finished();
  };
  xhr.onerror = () => {
    status.textContent = "failed: connection lost";
    item.className = "failed";
    finished();
  };
  const data = new FormData();
  data.append("file", file, file.name);
  xhr.send(data);
};

const next = () => {
  while (running < AT_ONCE && waiting.length > 0) send(waiting.shift());
};

const upload = (files) => {
  for (const file of files) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const status = document.createElement("span");
    status.className = "status";
    item.append(name, bar, status);
    log.append(item);
    waiting.push({ file, item, bar, status });
  }
  next();
};

if (form && input && log) {
  form.classList.add("scripted");
  input.addEventListener("change", () => {
    upload([...input.files]);
    input.value = "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    upload([...input.files]);
    input.value = "";
  });
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    form.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) form.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    form.classList.remove("dragging");
    upload([...event.dataTransfer.files]);
  });
}
}
` + MANAGE_CLIENT;
