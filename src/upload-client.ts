/**
 * The script the listing loads with --upload, served as `/__serve-here/upload.js`: uploads here,
 * then the file management of manage-client.ts.
 *
 * A string here for the same reason as `live-client.ts`: tsc puts it in `dist/` with the rest, so
 * the package, the tests and the server see the same bytes. Plain JS, no dependency.
 *
 * Without it the form still works (a plain multipart POST, answered with 303 back to the folder).
 * With it, files chosen or dropped anywhere on the page, and folders (dropped, or picked with
 * "Upload a folder…"), go up with tus 1.0.0 (tus.ts), two files at a time:
 * - a creation POST to this folder (`Upload-Metadata`: `filename`, and `relativePath` for a
 *   folder's file, whose folders the server makes), then PATCHes of at most SLICE bytes, each one
 *   XMLHttpRequest (fetch cannot report upload progress): a bar per file, with speed and time left.
 * - when a request fails for the network (or 408, 423, 429, 5xx), it waits (1, 2, 4, 8, 15, then
 *   every 30 s, at once when the browser says it is back online), asks the server with HEAD what it
 *   kept, and goes on from there; a request silent for STALL_MS is given up and retried the same way.
 * - the upload's URL is kept in localStorage under the file's fingerprint (this folder, its path in
 *   a dropped folder, name, size, last modified), so the same file chosen again after a reload
 *   resumes where it stopped; it is forgotten once done or cancelled.
 * - Cancel ends it (tus termination: DELETE).
 * - a folder's tree: every folder in it made first with MKCOL (so empty ones exist too; one that
 *   exists is fine); a folder the server refuses is said once, and what it holds is skipped.
 * When nothing is left to send, the listing's rows and footer are fetched again and swapped in.
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
  if (bytes < 1024) return Math.round(bytes) + " B";
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

/** This folder's URL path, with its slash. */
const here = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";

// Why the server said no, in words: the log has its reasons, a page only the status.
const REASONS = {
  400: "the name is not allowed (no / or \\\\, no control characters, not . or .., and a leading . only where dotfiles are allowed)",
  401: "a password is needed: reload the page and sign in",
  403: "the server does not allow this here",
  404: "it is not there any more: someone else may have moved or deleted it",
  405: "something has that name already",
  409: "the folder it would go into does not exist",
  412: "something has that name already",
  413: "it is larger than this server takes",
  415: "the server did not take the request",
  423: "it is locked by a program that has the share mounted as a drive; try again later",
  502: "it cannot be moved to another disk",
  507: "the server's disk is full",
};
const refusal = (what, status) => what + ": " + (REASONS[status] ?? "the server refused") + " (" + status + ").";

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
    // Reloading would stop the uploads still going: then the rows stay as they are until the next refresh.
    const going = [...document.querySelectorAll(".uploads li")].some((li) => li.querySelector("progress") && !["done", "failed", "cancelled"].includes(li.className));
    if (!going) location.reload();
    return;
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
if (form && input && log) {
  const TUS = "1.0.0";
  /** The most one PATCH carries: what a dropped connection can cost is at most this, sent again. */
  const SLICE = 8 * 1024 * 1024;
  const AT_ONCE = 2;
  const RETRY_SECONDS = [1, 2, 4, 8, 15, 30];
  /** A request with no progress for this long is taken as lost (a Wi-Fi gone quiet sends no reset). */
  const STALL_MS = 30000;
  const REMEMBERED = "serve-here tus ";
  const waiting = [];
  const active = new Set();
  let changed = false;

  const base64 = (text) => {
    let binary = "";
    for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
    return btoa(binary);
  };
  const fingerprint = (job) => REMEMBERED + JSON.stringify([job.folder, job.relativePath, job.file.name, job.file.size, job.file.lastModified]);
  const storage = (call) => {
    try { return call(localStorage); } catch { return null; }
  };
  const duration = (seconds) => (seconds < 90 ? Math.max(1, Math.round(seconds)) + " s" : seconds < 5400 ? Math.round(seconds / 60) + " min" : (seconds / 3600).toFixed(1) + " h");

  /** Not to be tried again: the server refused, for a reason a retry does not change. */
  class Refused extends Error {}
  const lost = () => new Error("lost");
  const transient = (status) => status === 0 || status === 408 || status === 423 || status === 429 || (status >= 500 && status !== 507);

  const news = form.querySelector(".upload-news");
  const announce = (text) => {
    if (news) news.textContent = text;
  };
  /** A line's state and words; a turn (not the figures of one state changing) is said to screen readers too. */
  const state = (job, className, text) => {
    const turned = job.item.className !== className;
    job.item.className = className;
    job.status.textContent = text;
    if (turned && (className !== "sending" || job.announced)) announce(job.label + ": " + (className === "sending" ? "sending again" : text));
    if (turned) job.announced = true;
  };

  /** One request by XMLHttpRequest, answered whatever happens (status 0: no answer). */
  const send = (job, method, url, headers, body = null, onProgress = null) =>
    new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      job.xhr = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", TUS);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      let stall = 0;
      const alive = () => {
        clearTimeout(stall);
        stall = setTimeout(() => xhr.abort(), STALL_MS);
      };
      if (onProgress) xhr.upload.onprogress = (event) => (alive(), onProgress(event.loaded));
      xhr.onloadend = () => {
        clearTimeout(stall);
        job.xhr = null;
        resolve(xhr);
      };
      alive();
      xhr.send(body);
    });

  const offsetOf = (xhr) => {
    const value = xhr.getResponseHeader("Upload-Offset");
    return value !== null && /^\\d+$/.test(value) ? Number(value) : null;
  };

  /** The upload is no more on the server (expired, or never was): start it over. */
  const startOver = (job) => {
    storage((s) => s.removeItem(job.key));
    job.url = null;
    job.offset = 0;
  };

  const create = async (job) => {
    let metadata = "filename " + base64(job.file.name);
    if (job.relativePath) metadata += ",relativePath " + base64(job.relativePath);
    const xhr = await send(job, "POST", job.folder, { "Upload-Length": String(job.file.size), "Upload-Metadata": metadata });
    if (xhr.status === 201 && xhr.getResponseHeader("Location")) {
      job.url = new URL(xhr.getResponseHeader("Location"), location.href).href;
      job.offset = offsetOf(xhr) ?? 0;
      if (job.offset < job.file.size) storage((s) => s.setItem(job.key, job.url));
      return;
    }
    if (transient(xhr.status)) throw lost();
    throw new Refused(refusal("failed", xhr.status));
  };

  const head = async (job) => {
    const xhr = await send(job, "HEAD", job.url, {});
    const length = xhr.getResponseHeader("Upload-Length");
    if (xhr.status === 200 || xhr.status === 204) {
      if (length !== null && Number(length) !== job.file.size) return startOver(job);
      job.offset = offsetOf(xhr);
      if (job.offset === null) throw new Refused("failed: the server did not say how much it has.");
      return;
    }
    if (xhr.status === 404 || xhr.status === 410) return startOver(job);
    if (transient(xhr.status)) throw lost();
    throw new Refused(refusal("failed", xhr.status));
  };

  const patch = async (job) => {
    const start = job.offset;
    const end = Math.min(start + SLICE, job.file.size);
    const headers = { "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(start) };
    const xhr = await send(job, "PATCH", job.url, headers, job.file.slice(start, end), (loaded) => progress(job, start + loaded));
    if (xhr.status === 204 || xhr.status === 200) {
      job.offset = offsetOf(xhr);
      if (job.offset !== null) progress(job, job.offset);
      // The last PATCH may name where the file went: "name (1).ext" when the name was taken.
      const stored = xhr.getResponseHeader("Content-Location");
      if (stored) job.stored = decodeSegment(stored.split("/").pop());
      return;
    }
    if (xhr.status === 409) return void (job.offset = offsetOf(xhr)); // not where the server is: it says where
    if (xhr.status === 404 || xhr.status === 410) return startOver(job);
    if (transient(xhr.status)) throw lost();
    throw new Refused(refusal("failed", xhr.status));
  };

  /** The bar, and the words beside it: how much, how fast over the last few seconds, how long still. */
  const progress = (job, sent) => {
    const now = performance.now();
    const size = job.file.size;
    job.bar.value = size === 0 ? 1 : sent / size;
    job.samples.push([now, sent]);
    while (job.samples.length > 2 && now - job.samples[0][0] > 5000) job.samples.shift();
    if (now - job.shownAt < 250 && sent < size) return;
    job.shownAt = now;
    const [then, before] = job.samples[0];
    const rate = now - then > 500 ? ((sent - before) * 1000) / (now - then) : 0;
    const speed = rate > 0 ? " · " + humanSize(rate) + "/s · " + duration((size - sent) / rate) + " left" : "";
    state(job, "sending", humanSize(sent) + " of " + humanSize(size) + speed);
  };

  /** Waits \`seconds\`, counting down, or less when the browser comes back online or the upload is cancelled. */
  const pause = (job, seconds) =>
    new Promise((resolve) => {
      let left = seconds;
      const done = () => {
        clearInterval(timer);
        removeEventListener("online", done);
        job.wake = null;
        resolve();
      };
      const tick = () => {
        if (job.cancelled || left <= 0) return done();
        state(job, "waiting", "connection lost; trying again in " + left + " s");
        left--;
      };
      const timer = setInterval(tick, 1000);
      addEventListener("online", done);
      job.wake = done;
      tick();
    });

  const run = async (job) => {
    let failures = 0;
    if (job.url !== null) state(job, "sending", "resuming…");
    while (!job.cancelled) {
      try {
        if (job.url === null) await create(job);
        else if (job.offset === null) await head(job);
        if (job.cancelled) break;
        if (job.url !== null && job.offset !== null) {
          if (job.offset >= job.file.size) {
            storage((s) => s.removeItem(job.key));
            job.bar.value = 1;
            changed = true;
            return state(job, "done", job.stored && job.stored !== job.file.name ? "done, as " + job.stored : "done");
          }
          await patch(job);
          failures = 0;
        }
      } catch (error) {
        if (job.cancelled) break;
        if (error instanceof Refused) {
          storage((s) => s.removeItem(job.key));
          if (job.url) terminate(job.url);
          return state(job, "failed", error.message);
        }
        // Lost: wait, then ask the server what it kept.
        job.offset = null;
        job.samples = [];
        await pause(job, RETRY_SECONDS[Math.min(failures++, RETRY_SECONDS.length - 1)]);
      }
    }
  };

  /** tus termination; tried again for a while if the server still holds the upload for the request just aborted (423). */
  const terminate = async (url) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const status = await fetch(url, { method: "DELETE", headers: { "Tus-Resumable": TUS } }).then((response) => response.status, () => 0);
      if (!transient(status)) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };

  const cancel = (job) => {
    if (job.cancelled || job.item.className === "done" || job.item.className === "failed") return;
    job.cancelled = true;
    job.xhr?.abort();
    job.wake?.();
    const queued = waiting.indexOf(job);
    if (queued !== -1) waiting.splice(queued, 1);
    storage((s) => s.removeItem(job.key));
    if (job.url) terminate(job.url);
    state(job, "cancelled", "cancelled");
    // The button is gone: focus stays on the upload's line rather than dropping to the page.
    job.item.tabIndex = -1;
    job.item.focus();
  };

  const next = () => {
    while (active.size < AT_ONCE && waiting.length > 0) {
      const job = waiting.shift();
      active.add(job);
      run(job).finally(() => {
        active.delete(job);
        next();
        if (active.size === 0 && waiting.length === 0 && changed) {
          changed = false;
          refreshListing();
        }
      });
    }
  };

  const line = (text, className = "") => {
    const item = el("li", { className }, el("span", { className: "file-name", textContent: text }));
    log.append(item);
    return item;
  };

  /** Queues \`{ file, relativePath }\`s ("" for a file on its own); one already on its way is not sent twice. */
  const upload = (chosen) => {
    for (const { file, relativePath } of chosen) {
      const job = { file, relativePath, folder: here, url: null, offset: null, cancelled: false, xhr: null, wake: null, samples: [], shownAt: 0 };
      job.key = fingerprint(job);
      const label = (job.label = relativePath || file.name);
      job.item = line(label);
      job.bar = el("progress", { max: 1, value: 0 });
      job.bar.setAttribute("aria-label", "Upload of " + label);
      job.status = el("span", { className: "status", textContent: "queued" });
      const stop = el("button", { type: "button", textContent: "Cancel", onclick: () => cancel(job) });
      stop.setAttribute("aria-label", "Cancel the upload of " + label);
      job.item.append(job.bar, job.status, stop);
      if ([...active, ...waiting].some((other) => other.key === job.key)) {
        state(job, "failed", "already being uploaded");
        continue;
      }
      job.url = storage((s) => s.getItem(job.key));
      waiting.push(job);
    }
    next();
  };

  /** A folder's tree: its folders made (parents first), then its files queued, but none under a refused folder. */
  const uploadTree = async (folders, files) => {
    const refused = [];
    const under = (path) => refused.some((folder) => path.startsWith(folder + "/"));
    for (const folder of folders) {
      if (under(folder)) continue;
      let status = 0;
      try {
        status = (await fetch(here + folder.split("/").map(encodeURIComponent).join("/") + "/", { method: "MKCOL" })).status;
      } catch {}
      if (status === 201) changed = true;
      if (status === 201 || status === 405) continue;
      refused.push(folder);
      line(folder + "/", "failed").append(el("span", { className: "status", textContent: (status === 0 ? "not made: the server could not be reached" : refusal("not made", status)) + " What it holds is skipped." }));
    }
    upload(files.filter((chosen) => !under(chosen.relativePath)));
    if (files.length === 0 && changed && active.size === 0) {
      changed = false;
      refreshListing();
    }
  };

  /** The folders a picked folder's files imply (webkitRelativePath), parents first. */
  const foldersOf = (files) => {
    const folders = new Set();
    for (const { relativePath } of files) {
      const parts = relativePath.split("/").slice(0, -1);
      parts.forEach((_, i) => folders.add(parts.slice(0, i + 1).join("/")));
    }
    return [...folders];
  };

  /** A dropped entry's tree (the Entries API: readEntries gives a batch at a time, until an empty one). */
  const walk = async (entry, folders, files) => {
    const path = entry.fullPath.replace(/^\\//, "");
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      files.push({ file, relativePath: path.includes("/") ? path : "" });
    } else if (entry.isDirectory) {
      folders.push(path);
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const member of batch) await walk(member, folders, files);
      }
    }
  };

  /** \`entries\` dropped, and the drop's files as a fallback for an entry the browser will not read (a file alone still has its File). */
  const dropped = async (entries, droppedFiles) => {
    const folders = [];
    const files = [];
    for (const entry of entries) {
      try {
        await walk(entry, folders, files);
      } catch {
        const file = entry.isFile && droppedFiles.find((file) => file.name === entry.name);
        if (file) files.push({ file, relativePath: "" });
        else line(entry.name + (entry.isDirectory ? "/" : ""), "failed").append(el("span", { className: "status", textContent: "could not be read by the browser" }));
      }
    }
    await uploadTree(folders, files);
  };

  form.classList.add("scripted");
  form.querySelector(".hint").textContent = "or drop files or folders on this page";
  const folderInput = el("input", { type: "file", multiple: true, hidden: true });
  folderInput.webkitdirectory = true;
  folderInput.setAttribute("aria-label", "A folder to upload");
  const pickFolder = el("button", { type: "button", textContent: "Upload a folder…", onclick: () => folderInput.click() });
  const more = el("div", { className: "more" }, pickFolder, folderInput);
  form.querySelector(".hint").before(more);

  input.addEventListener("change", () => {
    upload([...input.files].map((file) => ({ file, relativePath: "" })));
    input.value = "";
  });
  folderInput.addEventListener("change", () => {
    const files = [...folderInput.files].map((file) => ({ file, relativePath: file.webkitRelativePath || "" }));
    folderInput.value = "";
    uploadTree(foldersOf(files), files);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    upload([...input.files].map((file) => ({ file, relativePath: "" })));
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
    // Entries must be taken now: the drop's items are emptied once this handler returns.
    const items = [...event.dataTransfer.items].filter((item) => item.kind === "file");
    const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
    const files = [...event.dataTransfer.files];
    if (entries.length > 0 && entries.every((entry) => entry !== null)) dropped(entries, files);
    else upload(files.map((file) => ({ file, relativePath: "" })));
  });
}
}
` + MANAGE_CLIENT;
