/**
 * The HTML folder listing: pure presentation, no file-system access. Every name is escaped with
 * `he` and every link is percent-encoded from the name's bytes, so any name (spaces, `%`, `#`,
 * `?`, `&<>"'`, unicode, bytes that are not UTF-8) both displays and round-trips.
 * The page needs no script and no external resource; it fits a phone and follows dark mode.
 */
import { isUtf8 } from "node:buffer";
import { createRequire } from "node:module";

// `he` is required on first use, not imported: its entity tables take longer to load than the
// rest of start-up's own work, and a server whose first request is a file never needs them.
let he: typeof import("he") | undefined;
export function escapeHtml(text: string): string {
  he ??= createRequire(import.meta.url)("he") as typeof import("he");
  return he.escape(text);
}

/** A name as the listing shows it, prepared once per version of its folder. */
export interface ListedName {
  /** The name as the file system gave it: bytes, not necessarily UTF-8. */
  name: Buffer;
  /** The name as text, escaped for HTML. */
  html: string;
  /** The name percent-encoded for a link, then escaped for HTML. */
  href: string;
}

/** What a stat said about an entry, for one request. */
export interface EntryDetails {
  isFolder: boolean;
  symlink: boolean;
  /** Size in bytes for files; null for folders and entries that could not be stat'ed. */
  size: number | null;
  /** Null when the entry could not be stat'ed (a dangling link, no permission). */
  mtimeMs: number | null;
}

/** Percent-encodes bytes for a URL path segment: everything but RFC 3986's unreserved set. */
export function encodePathSegment(segment: Buffer): string {
  // encodeURIComponent leaves only unreserved characters and !'()* alone; it needs valid UTF-8.
  if (isUtf8(segment)) return encodeURIComponent(segment.toString("utf8")).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  let out = "";
  for (const byte of segment) {
    const unreserved =
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Case-insensitive natural order: `file2` before `file10`, `a` beside `A`. Made on first use:
 * loading the collation data takes longer than the rest of start-up's own work. */
let naturalOrder: Intl.Collator | undefined;

/** Prepares a folder's names for listing: escaped, encoded, and in natural order (ties by bytes). */
export function prepareNames(names: readonly Buffer[]): ListedName[] {
  const keyed = names.map((name) => ({ name, text: name.toString("utf8") }));
  const order = (naturalOrder ??= new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }));
  keyed.sort((a, b) => order.compare(a.text, b.text) || Buffer.compare(a.name, b.name));
  return keyed.map(({ name, text }) => ({ name, html: escapeHtml(text), href: escapeHtml(encodePathSegment(name)) }));
}

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/** 512 B, 1.5 KiB, 12 MiB: one decimal below ten units, none above. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** One table row. Folders get a trailing `/` in both the text and the link. */
export function renderRow(entry: ListedName, details: EntryDetails): string {
  const slash = details.isFolder ? "/" : "";
  const classes = (details.isFolder ? "folder" : "file") + (details.symlink ? " symlink" : "");
  const mark = details.symlink ? ' <span class="mark" title="symbolic link">↪</span>' : "";
  const size = details.size === null ? "" : `<data value="${details.size}">${humanSize(details.size)}</data>`;
  let modified = "";
  if (details.mtimeMs !== null) {
    const iso = new Date(details.mtimeMs).toISOString();
    modified = `<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 16)}</time>`;
  }
  return `<tr class="${classes}"><td class="name"><a href="./${entry.href}${slash}">${entry.html}${slash}</a>${mark}</td><td class="size">${size}</td><td class="modified">${modified}</td></tr>\n`;
}

const STYLE = `
:root { color-scheme: light dark; --muted: #666; --line: #ddd; --link: #0645ad; --hover: #f3f3f3; }
@media (prefers-color-scheme: dark) { :root { --muted: #aaa; --line: #333; --link: #8ab4f8; --hover: #222; } }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem; max-width: 60rem; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 1rem; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { padding: .45rem .5rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 500; }
td.name { overflow-wrap: anywhere; }
th.size, td.size { width: 6.5rem; text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.modified, td.modified { width: 10.5rem; white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
tr:hover td { background: var(--hover); }
a { color: var(--link); text-decoration: none; display: inline-block; min-height: 1.5rem; }
a:hover { text-decoration: underline; }
tr.folder a { font-weight: 600; }
.mark { color: var(--muted); }
.share { float: right; margin: 0 0 .5rem 1rem; font-size: .85rem; color: var(--muted); max-width: 10rem; }
.share summary { cursor: pointer; }
.share figure { margin: .5rem 0 0; }
.share svg { display: block; }
.share figcaption { overflow-wrap: anywhere; margin-top: .25rem; }
p.download { margin: -.5rem 0 1rem; font-size: .9rem; }
form.upload { margin: 0 0 1rem; padding: .75rem; border: 2px dashed var(--line); border-radius: .5rem; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
form.upload.dragging { border-color: var(--link); background: var(--hover); }
form.upload input[type=file] { max-width: 100%; }
form.upload.scripted button { display: none; }
form.upload .hint { color: var(--muted); font-size: .85rem; }
.uploads { list-style: none; margin: 0; padding: 0; width: 100%; }
.uploads:empty { display: none; }
.uploads li { display: flex; flex-wrap: wrap; gap: .25rem .5rem; align-items: center; padding: .25rem 0; }
.uploads .file-name { overflow-wrap: anywhere; flex: 1 1 10rem; }
.uploads progress { flex: 1 1 8rem; max-width: 100%; }
.uploads .status { color: var(--muted); font-size: .85rem; }
.uploads .failed .status { color: #c00; }
@media (max-width: 36rem) { th.modified, td.modified { display: none; } th.size, td.size { width: 5.5rem; } body { padding: .75rem; } }
`;

/**
 * "Open on another device": folded by default, so on a phone it is one short line beside the
 * title; unfolded, a ~120 px QR code with the URL under it for those who would rather type.
 */
function renderShareBox(share: { url: string; svg: string }): string {
  return `<details class="share"><summary>Open on another device</summary><figure>${share.svg}<figcaption>${escapeHtml(share.url)}</figcaption></figure></details>\n`;
}

/**
 * The upload area (with --upload): a plain multipart form that posts to this folder, so it works
 * without script; `/__serve-here/upload.js` adds progress bars and drag-and-drop to it.
 */
const UPLOAD_FORM = `<form class="upload" method="post" enctype="multipart/form-data">
<input type="file" name="file" multiple aria-label="Files to upload">
<button type="submit">Upload</button>
<span class="hint">or drop files on this page</span>
<ul class="uploads" aria-live="polite"></ul>
</form>
<script type="module" src="/__serve-here/upload.js"></script>
`;

/**
 * Renders the listing page for `displayPath` (decoded, e.g. `/photos/2024/`) from rows made by
 * `renderRow`, each with whether it is a folder: folders come first, each group in the given order.
 * `share`: the page's URL for another device and its QR code as SVG, shown folded in a corner.
 * The "Download as zip" link is relative (`?download=zip`), so it names this folder wherever the
 * server is mounted (archive.ts answers it; listings and zips are on and off together).
 * With `upload`, the upload form comes between the title and the table.
 */
export function renderListing(displayPath: string, rows: ReadonlyArray<{ isFolder: boolean; html: string }>, isRoot: boolean, share?: { url: string; svg: string }, upload = false): string {
  const title = `Directory listing for ${escapeHtml(displayPath)}`;
  const parent = isRoot ? "" : `<tr class="folder parent"><td class="name"><a href="../">../</a></td><td class="size"></td><td class="modified"></td></tr>\n`;
  let folders = "";
  let files = "";
  for (const row of rows) {
    if (row.isFolder) folders += row.html;
    else files += row.html;
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
${share ? renderShareBox(share) : ""}<h1>${title}</h1>
<p class="download"><a href="?download=zip">Download as zip</a></p>
${upload ? UPLOAD_FORM : ""}<table>
<thead><tr><th class="name">Name</th><th class="size">Size</th><th class="modified">Modified (UTC)</th></tr></thead>
<tbody>
${parent}${folders}${files}</tbody>
</table>
</body>
</html>
`;
}
