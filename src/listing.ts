/**
 * The folder listing: pure presentation, no file-system access. The query that shapes a listing
 * (`?sort=`, `&order=`, `&q=`, `&view=`, `&limit=`, `&offset=`, `&format=json`), the HTML page
 * (breadcrumbs, sortable columns, a filter box, a type cue per row, a footer with counts, pages,
 * a grid of thumbnails) and nginx's `autoindex_format json` entries.
 *
 * Every name is escaped for HTML and every link is percent-encoded from the name's bytes, so any
 * name (spaces, `%`, `#`, `?`, `&<>"'`, unicode, bytes that are not UTF-8) both displays and
 * round-trips. The page needs no script and no external resource; it fits a phone, follows dark
 * mode and works from the keyboard.
 */
import { encodePathSegment, escapeHtml } from "./escape.js";

// -------------------------------------------------------------------------------------------------
// The query
// -------------------------------------------------------------------------------------------------

export type SortKey = "name" | "size" | "mtime";
export type SortOrder = "asc" | "desc";

/** What the query asks of a listing. Unknown or invalid values stand for the defaults: never a 400. */
export interface ListingQuery {
  sort: SortKey;
  order: SortOrder;
  /** Keep names that contain this, case-insensitively ("" keeps all). */
  q: string;
  view: "list" | "grid";
  /** Rows per page; null: the default (DEFAULT_PAGE_SIZE for HTML, every entry for JSON). */
  limit: number | null;
  offset: number;
  /** `format=json` or `format=html` in the query; null: `Accept` decides. */
  format: "json" | "html" | null;
}

/** The HTML page's rows when `limit` is not given: a 100,000-entry folder answers with its first 1,000. */
export const DEFAULT_PAGE_SIZE = 1000;

export const DEFAULT_QUERY: ListingQuery = { sort: "name", order: "asc", q: "", view: "list", limit: null, offset: 0, format: null };

const parsedQueries = new Map<string, ListingQuery>();
const MAX_REMEMBERED_QUERIES = 1000;

/** The listing query in a raw query string (`?…` or ""), parsed once per distinct string. */
export function parseListingQuery(rawQuery: string): ListingQuery {
  if (rawQuery.length <= 1) return DEFAULT_QUERY;
  let query = parsedQueries.get(rawQuery);
  if (query === undefined) {
    const params = new URLSearchParams(rawQuery.slice(1));
    const sort = params.get("sort");
    const order = params.get("order");
    const view = params.get("view");
    const format = params.get("format");
    query = {
      sort: sort === "size" || sort === "mtime" ? sort : "name",
      order: order === "desc" ? "desc" : "asc",
      q: params.get("q") ?? "",
      view: view === "grid" ? "grid" : "list",
      limit: wholeNumber(params.get("limit")),
      offset: wholeNumber(params.get("offset")) ?? 0,
      format: format === "json" || format === "html" ? format : null,
    };
    if (parsedQueries.size >= MAX_REMEMBERED_QUERIES) parsedQueries.clear();
    parsedQueries.set(rawQuery, query);
  }
  return query;
}

/** `"12"` → 12; anything else (negative, fractional, `abc`, beyond 2^53) → null. */
function wholeNumber(value: string | null): number | null {
  if (value === null || !/^\d{1,15}$/.test(value)) return null;
  return Number(value);
}

/** The query of a link this page makes: `query` with `changes`, keeping only values that are not defaults. */
export function linkQuery(query: ListingQuery, changes: Partial<ListingQuery> = {}): string {
  const q = { ...query, ...changes };
  const parts: string[] = [];
  if (q.sort !== "name") parts.push(`sort=${q.sort}`);
  if (q.order !== "asc") parts.push(`order=${q.order}`);
  if (q.q !== "") parts.push(`q=${encodeURIComponent(q.q)}`);
  if (q.view !== "list") parts.push(`view=${q.view}`);
  if (q.limit !== null) parts.push(`limit=${q.limit}`);
  if (q.offset !== 0) parts.push(`offset=${q.offset}`);
  return parts.length === 0 ? "" : "?" + parts.join("&");
}

/**
 * What a link into another folder (a subfolder, a breadcrumb) carries: the order, the view and
 * the page size, so a reader who sorted by date keeps seeing dates first; not the filter, which
 * was about this folder's names, nor the page.
 */
export function carriedQuery(query: ListingQuery): string {
  return escapeHtml(linkQuery(query, { q: "", offset: 0, format: null }));
}

// -------------------------------------------------------------------------------------------------
// Names
// -------------------------------------------------------------------------------------------------

/** Case-insensitive natural order: `file2` before `file10`, `a` beside `A`. Made on first use:
 * loading the collation data takes longer than the rest of start-up's own work. */
let naturalOrder: Intl.Collator | undefined;
/** Each printable ASCII character's place in `naturalOrder` (a and A share one), as a char code for sort keys. */
let asciiRanks: Uint8Array | undefined;

/**
 * The order in which names are listed: natural order of their text, ties (`a`, `A`; names that are
 * not UTF-8 and read the same) by bytes. `names[starts[i], starts[i + 1])` is name i. Returns the
 * indices in that order.
 *
 * A collator compares in about half a microsecond, which is 0.9 s for the 1.7 million comparisons
 * that sort 100,000 names. So when every name is printable ASCII, each gets a key whose plain
 * string order is the collator's (each character's rank, digit runs by length then digits), the
 * keys are sorted, and the collator checks each neighbouring pair: a sequence whose every
 * neighbours are in order is in order. Should a locale order ASCII otherwise (a contraction, as
 * Danish `aa`), the check fails and the collator sorts, as it does for any other name.
 */
export function naturalNameOrder(names: Buffer, starts: Uint32Array, count: number): Uint32Array {
  const order = (naturalOrder ??= new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }));
  const nameAt = (i: number) => names.subarray(starts[i], starts[i + 1]);
  const textAt = (i: number) => names.toString("utf8", starts[i], starts[i + 1]);
  const keys = asciiSortKeys(names, starts, count, order);
  if (keys !== null) {
    // The keys live in one buffer, off the JavaScript heap: 100,000 key strings alive through a
    // sort survived the young generation's collections, which then grew it (by 20 MB on Node 24).
    const { bytes, at } = keys;
    const indices = new Uint32Array(count);
    for (let i = 0; i < count; i++) indices[i] = i;
    indices.sort((a, b) => {
      // Bytewise: every key ends with 0 and its unique index, so two keys differ before either ends.
      for (let i = at[a]!, j = at[b]!, end = at[a + 1]!; i < end; i++, j++) if (bytes[i] !== bytes[j]) return bytes[i]! - bytes[j]!;
      return a - b;
    });
    let sorted = true;
    let previous = count > 0 ? textAt(indices[0]!) : "";
    for (let k = 1; k < count && sorted; k++) {
      const text = textAt(indices[k]!);
      sorted = (order.compare(previous, text) || Buffer.compare(nameAt(indices[k - 1]!), nameAt(indices[k]!))) <= 0;
      previous = text;
    }
    if (sorted) return indices;
  }
  const texts = Array.from({ length: count }, (_, i) => textAt(i));
  return Uint32Array.from(Array.from({ length: count }, (_, i) => i).sort((a, b) => order.compare(texts[a]!, texts[b]!) || Buffer.compare(nameAt(a), nameAt(b))));
}

/**
 * Sort keys for names that are all printable ASCII (see `naturalNameOrder`), or null when one is
 * not. Each key is the name's ranks (a number as the digits' rank, its length without leading
 * zeros, its digits), then U+0001 and the name's bytes (ties go by bytes, and U+0001 sorts below
 * every rank, so a shorter name comes first), then 0 and the name's index in three bytes. The
 * keys are bytes in one buffer, key i at `bytes[at[i], at[i + 1])`, compared bytewise.
 */
function asciiSortKeys(names: Buffer, starts: Uint32Array, count: number, order: Intl.Collator): { bytes: Buffer; at: Uint32Array } | null {
  if (count >= 0x1000000) return null;
  const ranks = (asciiRanks ??= rankAscii(order));
  const DIGIT = ranks[0x30]!;
  let bytes = Buffer.allocUnsafe(names.length * 2 + count * 8);
  const at = new Uint32Array(count + 1);
  let used = 0;
  const key = Buffer.allocUnsafe(1024);
  for (let i = 0; i < count; i++) {
    const end = starts[i + 1]!;
    let length = 0;
    for (let at = starts[i]!; at < end; at++) {
      const byte = names[at]!;
      if (byte < 0x20 || byte > 0x7e) return null; // control characters are ignorable to a collator; other scripts are its own
      if (byte < 0x30 || byte > 0x39) {
        key[length++] = ranks[byte]!;
        continue;
      }
      let first = at;
      while (first < end && names[first] === 0x30) first++;
      let last = first;
      while (last < end && names[last]! >= 0x30 && names[last]! <= 0x39) last++;
      if (last - first > 0x7f) return null;
      key[length++] = DIGIT;
      key[length++] = 0x80 + (last - first);
      for (let digit = first; digit < last; digit++) key[length++] = names[digit]!;
      at = Math.max(first, last) - 1;
    }
    key[length++] = 1;
    for (let at = starts[i]!; at < end; at++) key[length++] = names[at]!;
    key[length++] = 0;
    key[length++] = i >>> 16;
    key[length++] = (i >>> 8) & 0xff;
    key[length++] = i & 0xff;
    if (used + length > bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(bytes.length * 2, used + length));
      bytes.copy(grown, 0, 0, used);
      bytes = grown;
    }
    at[i] = used;
    used += key.copy(bytes, used, 0, length);
  }
  at[count] = used;
  return { bytes, at };
}

/** Ranks 0x20 to 0x7e in the collator's order, from 0x80 up, equal where it finds them equal. */
function rankAscii(order: Intl.Collator): Uint8Array {
  const chars = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
  chars.sort((a, b) => order.compare(a, b));
  const ranks = new Uint8Array(0x7f);
  let rank = 0x80;
  chars.forEach((char, i) => {
    if (i > 0 && order.compare(chars[i - 1]!, char) !== 0) rank++;
    ranks[char.charCodeAt(0)] = rank;
  });
  return ranks;
}

/** A name as the filter compares it: composed (NFC, so `é` matches either spelling) and lower case. */
export function filterText(text: string): string {
  return text.normalize("NFC").toLowerCase();
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

/** 100000 → "100,000": the same on every machine, whatever its locale. */
function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+$)/g, ",");
}

// -------------------------------------------------------------------------------------------------
// Entries
// -------------------------------------------------------------------------------------------------

/** What a stat said about an entry, for one request. */
export interface EntryDetails {
  /** folder and file as served; other: a FIFO, socket or device (listed, never opened); null: could not be stat'ed. */
  kind: "folder" | "file" | "other" | null;
  symlink: boolean;
  /** Size in bytes for files; null otherwise. */
  size: number | null;
  /** Null when the entry could not be stat'ed (a dangling link, no permission). */
  mtimeMs: number | null;
}

/** The type cue a row shows. */
export type EntryType = "folder" | "image" | "video" | "audio" | "archive" | "text" | "code" | "other";

const TYPE_BY_EXTENSION = new Map<string, EntryType>();
for (const [type, extensions] of Object.entries({
  image: "png jpg jpeg gif webp avif svg bmp ico tif tiff heic heif jxl apng",
  video: "mp4 m4v webm mkv mov avi ogv mpg mpeg 3gp",
  audio: "mp3 m4a aac ogg oga opus flac wav weba mid midi",
  archive: "zip tar gz tgz bz2 xz zst 7z rar lz lzma br deb rpm dmg iso jar apk",
  text: "txt md markdown rst log csv tsv pdf doc docx odt rtf epub tex",
  code: "js mjs cjs ts tsx jsx json html htm css scss sass less xml yaml yml toml ini c h cc cpp hpp rs go py rb java kt swift sh bash zsh php pl lua sql vue svelte wasm",
}) as Array<[EntryType, string]>) {
  for (const extension of extensions.split(" ")) TYPE_BY_EXTENSION.set(extension, type);
}

/** The type cue for a name: folders are folders; files go by their extension. */
export function entryType(text: string, kind: EntryDetails["kind"]): EntryType {
  if (kind === "folder") return "folder";
  const dot = text.lastIndexOf(".");
  return (dot > 0 && TYPE_BY_EXTENSION.get(text.slice(dot + 1).toLowerCase())) || "other";
}

/** A name ready for a row: text escaped for HTML, and its link percent-encoded then escaped. */
export interface ShownName {
  /** The name as text (U+FFFD for bytes that are not UTF-8). */
  text: string;
  html: string;
  /** Percent-encoded, not escaped: JSON's `href` and the page's links start from it. */
  href: string;
}

export function showName(name: Buffer): ShownName {
  const text = name.toString("utf8");
  return { text, html: escapeHtml(text), href: encodePathSegment(name) };
}

/** `<svg><use>` of one of the page's symbols: a few bytes a row, nothing fetched. Its colour comes from the row's type class. */
function icon(type: EntryType): string {
  return `<svg aria-hidden="true"><use href="#${type}"/></svg>`;
}

/**
 * One table row. Folders get a trailing `/` in both the text and the link, and their link carries
 * `carry` (the order and view, already escaped). The size is also given exactly (`<data value>`),
 * for scripts that read the page.
 */
export function renderRow(name: ShownName, details: EntryDetails, carry: string): string {
  const isFolder = details.kind === "folder";
  const slash = isFolder ? "/" : "";
  const type = entryType(name.text, details.kind);
  const classes = (isFolder ? "folder" : `file ${type}`) + (details.symlink ? " symlink" : "");
  const mark = details.symlink ? ' <span class="mark" title="symbolic link">↪</span>' : "";
  const size = details.size === null ? "" : `<data value="${details.size}">${humanSize(details.size)}</data>`;
  let modified = "";
  if (details.mtimeMs !== null) {
    const iso = new Date(details.mtimeMs).toISOString();
    modified = `<time>${iso.slice(0, 10)} ${iso.slice(11, 16)}</time>`;
  }
  const href = escapeHtml(name.href) + slash + (isFolder ? carry : "");
  return `<tr class="${classes}"><td class="name">${icon(type)}<a href="./${href}">${name.html}${slash}</a>${mark}</td><td class="size">${size}</td><td class="modified">${modified}</td></tr>\n`;
}

/**
 * One tile of the grid: an image is its own thumbnail (`loading="lazy"`: the browser fetches it
 * when it scrolls near), a video shows the first frame the browser makes from its metadata, and
 * anything else its type cue, large.
 */
export function renderTile(name: ShownName, details: EntryDetails, carry: string): string {
  const isFolder = details.kind === "folder";
  const slash = isFolder ? "/" : "";
  const href = "./" + escapeHtml(name.href) + slash;
  const type = entryType(name.text, details.kind);
  let thumb: string;
  if (type === "image" && details.kind === "file") thumb = `<img src="${href}" alt="" loading="lazy" decoding="async">`;
  else if (type === "video" && details.kind === "file") thumb = `<video src="${href}#t=0.5" preload="metadata" muted playsinline></video>`;
  else thumb = icon(type);
  return `<li class="tile ${isFolder ? "folder" : `file ${type}`}"><a href="${href}${isFolder ? carry : ""}"><span class="thumb">${thumb}</span><span class="label">${name.html}${slash}</span></a></li>\n`;
}

/**
 * One entry of the JSON listing, in nginx's `autoindex_format json` shape (`name`, `type`,
 * `mtime` as an RFC 1123 date, `size` for files), plus `href`: the name's exact bytes
 * percent-encoded, relative to the folder, with a `/` after folders. Entries that could not be
 * stat'ed are `other`, with no date.
 */
export function renderJsonEntry(name: ShownName, details: EntryDetails): string {
  const type = details.kind === "folder" ? "directory" : details.kind === "file" ? "file" : "other";
  let json = `{"name":${JSON.stringify(name.text)},"type":"${type}"`;
  if (details.mtimeMs !== null) json += `,"mtime":"${new Date(details.mtimeMs).toUTCString()}"`;
  if (details.size !== null) json += `,"size":${details.size}`;
  return json + `,"href":${JSON.stringify(name.href + (details.kind === "folder" ? "/" : ""))}}`;
}

// -------------------------------------------------------------------------------------------------
// The page
// -------------------------------------------------------------------------------------------------

const STYLE = `
:root { color-scheme: light dark; --muted: #666; --line: #ddd; --link: #0645ad; --hover: #f3f3f3; --field: #fff;
  --folder: #c58f00; --image: #2e7d4f; --video: #c0392b; --audio: #8e44ad; --archive: #a0522d; --text: #5f6b7a; --code: #1f6feb; --other: #888; }
@media (prefers-color-scheme: dark) { :root { --muted: #aaa; --line: #333; --link: #8ab4f8; --hover: #222; --field: #111;
  --folder: #e8b931; --image: #5cc98a; --video: #ff7b6b; --audio: #c99af0; --archive: #d9a37a; --text: #a9b4c2; --code: #79b0ff; --other: #999; } }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem; max-width: 60rem; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 1rem; overflow-wrap: anywhere; }
h1 a { color: inherit; min-height: 0; }
h1 a:hover { color: var(--link); }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th, td { padding: .45rem .5rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 500; }
th a { color: inherit; }
th[aria-sort] a { color: var(--link); font-weight: 600; }
td.name { overflow-wrap: anywhere; }
th.size, td.size { width: 6.5rem; text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.modified, td.modified { width: 10.5rem; white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
tr:hover td { background: var(--hover); }
a { color: var(--link); text-decoration: none; display: inline-block; min-height: 1.5rem; }
a:hover { text-decoration: underline; }
a:focus-visible, input:focus-visible, button:focus-visible, summary:focus-visible { outline: 2px solid var(--link); outline-offset: 2px; border-radius: 2px; }
tr.folder a { font-weight: 600; }
:where(td.name, ul.grid) svg { width: 1.1em; height: 1.1em; vertical-align: -.2em; margin-right: .4em; fill: none; stroke: currentColor; stroke-width: 1.3; stroke-linejoin: round; stroke-linecap: round; color: var(--other); }
.folder svg { color: var(--folder); fill: currentColor; fill-opacity: .25; } .image svg { color: var(--image); } .video svg { color: var(--video); }
.audio svg { color: var(--audio); } .archive svg { color: var(--archive); } .text svg { color: var(--text); } .code svg { color: var(--code); }
.sprite { position: absolute; width: 0; height: 0; overflow: hidden; }
.mark { color: var(--muted); }
.share { float: right; margin: 0 0 .5rem 1rem; font-size: .85rem; color: var(--muted); max-width: 10rem; }
.share summary { cursor: pointer; }
.share figure { margin: .5rem 0 0; }
.share svg { display: block; }
.share figcaption { overflow-wrap: anywhere; margin-top: .25rem; }
.share .mount { overflow-wrap: anywhere; margin: .5rem 0 0; }
p.download { margin: -.5rem 0 1rem; font-size: .9rem; }
.tools { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: 0 0 .75rem; clear: both; }
form.filter { display: flex; gap: .25rem; flex: 1 1 14rem; max-width: 24rem; margin: 0; }
form.filter input[type=search] { flex: 1; min-width: 0; font: inherit; padding: .25rem .5rem; border: 1px solid var(--line); border-radius: .25rem; background: var(--field); color: inherit; }
form.filter button { font: inherit; padding: .25rem .75rem; }
.tools .view { font-size: .9rem; }
.summary, nav.pages { font-size: .9rem; color: var(--muted); margin: .75rem 0 0; }
nav.pages { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
.empty { color: var(--muted); padding: 1rem .5rem; }
ul.grid { list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .75rem; }
ul.grid a { display: flex; flex-direction: column; gap: .25rem; height: 100%; padding: .25rem; border-radius: .35rem; }
ul.grid a:hover { background: var(--hover); text-decoration: none; }
ul.grid .thumb { display: flex; align-items: center; justify-content: center; aspect-ratio: 1; background: var(--hover); border-radius: .25rem; overflow: hidden; }
ul.grid .thumb img, ul.grid .thumb video { width: 100%; height: 100%; object-fit: cover; }
ul.grid .thumb svg { width: 45%; height: 45%; margin: 0; }
ul.grid .label { font-size: .85rem; overflow-wrap: anywhere; text-align: center; }
ul.grid .folder .label { font-weight: 600; }
@media (max-width: 36rem) { th.modified, td.modified { display: none; } th.size, td.size { width: 5.5rem; } body { padding: .75rem; } ul.grid { grid-template-columns: repeat(auto-fill, minmax(7rem, 1fr)); gap: .5rem; } }
`;

/**
 * What only a page with --upload has: the upload area, the progress of each upload, and the parts
 * `/__serve-here/upload.js` makes: "New folder", the rows' "Manage" button and its dialog (rename,
 * move, delete), the line that says how an action went.
 */
const UPLOAD_STYLE = `:root { --error: #b00020; } @media (prefers-color-scheme: dark) { :root { --error: #ff8a80; } }
form.upload { margin: 0 0 1rem; padding: .75rem; border: 2px dashed var(--line); border-radius: .5rem; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
form.upload.dragging { border-color: var(--link); background: var(--hover); }
form.upload input[type=file] { max-width: 100%; }
form.upload.scripted button[type=submit] { display: none; }
form.upload .hint { color: var(--muted); font-size: .85rem; }
form.upload .more { display: flex; flex-wrap: wrap; gap: .5rem; }
form.upload .more button, .uploads button { font: inherit; font-size: .9rem; padding: .25rem .75rem; min-height: 2rem; }
.uploads { list-style: none; margin: 0; padding: 0; width: 100%; }
.uploads:empty { display: none; }
.uploads li { display: grid; grid-template: "name stop" auto "bar bar" auto "status status" auto / 1fr auto; gap: .15rem .75rem; align-items: center; padding: .35rem 0; }
.uploads .file-name { grid-area: name; overflow-wrap: anywhere; }
.uploads progress { grid-area: bar; width: 100%; }
.uploads .status { grid-area: status; color: var(--muted); font-size: .85rem; font-variant-numeric: tabular-nums; }
.uploads li button { grid-area: stop; }
@media (min-width: 48rem) { .uploads li { grid-template: "name bar status stop" auto / minmax(8rem, 2fr) minmax(6rem, 2fr) minmax(15rem, 3fr) auto; } }
.uploads .failed .status { color: var(--error); }
.uploads .done button, .uploads .failed button, .uploads .cancelled button { display: none; }
.manage-status { margin: -.5rem 0 1rem; }
.manage-status:empty { display: none; }
.manage-status.failed { color: var(--error); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
th.manage, td.manage { width: 3rem; padding: .2rem .25rem; text-align: center; }
button.manage { font: inherit; line-height: 1; min-width: 2.25rem; min-height: 2rem; padding: 0 .4rem; border: 1px solid transparent; border-radius: .35rem; background: none; color: inherit; cursor: pointer; }
button.manage:hover { border-color: var(--line); background: var(--hover); }
li.tile { position: relative; }
li.tile button.manage { position: absolute; top: .35rem; right: .35rem; background: var(--field); border-color: var(--line); }
dialog.manage { width: min(28rem, calc(100vw - 2rem)); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem 1.25rem; }
dialog.manage::backdrop { background: rgb(0 0 0 / .45); }
dialog.manage h2 { font-size: 1.1rem; margin: 0 0 .75rem; overflow-wrap: anywhere; }
dialog.manage p { margin: 0 0 .5rem; overflow-wrap: anywhere; }
dialog.manage label { display: block; font-weight: 600; margin-bottom: .25rem; }
dialog.manage input { width: 100%; font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: .25rem; background: var(--field); color: inherit; }
dialog.manage .hint { color: var(--muted); font-size: .85rem; margin: .35rem 0 0; }
dialog.manage .error { color: var(--error); margin: .5rem 0 0; }
dialog.manage .error:empty { display: none; }
dialog.manage .buttons { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: 1rem; }
dialog.manage .buttons.choices { flex-direction: column; }
dialog.manage button { font: inherit; padding: .4rem .9rem; min-height: 2.5rem; }
dialog.manage button.danger { color: var(--error); font-weight: 600; }
`;

/** The type cues, drawn once per page and used by every row (`<use href="#i-…">`): 16 px line icons. */
const SPRITE = `<svg class="sprite" aria-hidden="true">
<symbol id="folder" viewBox="0 0 16 16"><path d="M1.5 3.5a1 1 0 0 1 1-1h3.3l1.5 1.5h6.2a1 1 0 0 1 1 1v7.5a1 1 0 0 1-1 1h-11a1 1 0 0 1-1-1z"/></symbol>
<symbol id="other" viewBox="0 0 16 16"><path d="M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3"/></symbol>
<symbol id="text" viewBox="0 0 16 16"><path d="M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3 M5.5 7.5h5 M5.5 9.5h5 M5.5 11.5h3"/></symbol>
<symbol id="code" viewBox="0 0 16 16"><path d="M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3 M7 7.5l-1.5 2 1.5 2 M9 7.5l1.5 2-1.5 2"/></symbol>
<symbol id="image" viewBox="0 0 16 16"><path d="M1.5 3h13v10h-13z M1.5 11l3.5-3.5 3 3 2-2 4.5 4"/><circle cx="10.5" cy="6" r="1.2"/></symbol>
<symbol id="video" viewBox="0 0 16 16"><path d="M1.5 3h13v10h-13z M6.5 5.5v5l4-2.5z"/></symbol>
<symbol id="audio" viewBox="0 0 16 16"><path d="M6 12.5v-9l7-1.5v9 M6 6l7-1.5"/><circle cx="4.5" cy="12.5" r="1.6"/><circle cx="11.5" cy="11" r="1.6"/></symbol>
<symbol id="archive" viewBox="0 0 16 16"><path d="M2.5 1.5h11v13h-11z M8 1.5v1.5 M7 3h1 M8 4h1 M7 5h1 M8 6h1 M7 7h2v2.5h-2z"/></symbol>
</svg>
`;

/**
 * "Open on another device": folded by default, so on a phone it is one short line beside the
 * title; unfolded, a ~120 px QR code with the URL under it for those who would rather type, and
 * the URL that mounts the whole share as a drive over WebDAV (docs/webdav.md): its origin and `/`.
 */
function renderShareBox(share: { url: string; svg: string }): string {
  const mount = mountUrl(share.url);
  return (
    `<details class="share"><summary>Open on another device</summary><figure>${share.svg}<figcaption>${escapeHtml(share.url)}</figcaption></figure>` +
    `<p class="mount">Mount as a drive (WebDAV):<br>${escapeHtml(mount)}<br>Finder: Connect to Server<br>Windows: Map network drive</p></details>\n`
  );
}

/** The root of the share a page's URL belongs to: `http://host:port/` of `http://host:port/a/b/`. */
function mountUrl(pageUrl: string): string {
  const authorityAt = pageUrl.indexOf("//") + 2;
  const pathAt = pageUrl.indexOf("/", authorityAt);
  return (pathAt === -1 ? pageUrl : pageUrl.slice(0, pathAt)) + "/";
}

/**
 * The upload area (with --upload): a plain multipart form that posts to this folder, so it works
 * without script; `/__serve-here/upload.js` adds progress bars, drag-and-drop, folders and, from
 * `data-share` (`drive` with --overwrite, else `drop-box`), the file management that kind of share
 * allows. The list of uploads is not a live region (its figures change four times a second): the
 * hidden `.upload-news` says each upload's turns (done, failed, connection lost) to screen
 * readers. The line under the form is where the script says how an action went.
 */
function renderUploadForm(share: Share): string {
  return `<form class="upload" method="post" enctype="multipart/form-data" data-share="${share}">
<input type="file" name="file" multiple aria-label="Files to upload">
<button type="submit">Upload</button>
<span class="hint">or drop files on this page</span>
<ul class="uploads"></ul>
<p class="sr upload-news" role="status"></p>
</form>
<p class="manage-status" role="status"></p>
<script type="module" src="/__serve-here/upload.js"></script>
`;
}

/** What --upload makes of a folder: a drop box only grows; a drive (--overwrite) can be edited. */
export type Share = "drop-box" | "drive";

/** A listing page's content, decided by `folders.ts`. */
export interface ListingPage {
  /** The folder's path segments below the root, as shown names. */
  crumbs: readonly ShownName[];
  query: ListingQuery;
  /** The rows (or tiles) of this page, rendered with `renderRow` (or `renderTile`). */
  rows: readonly string[];
  /** Over the whole folder, after `q`: how many folders, files (and others), and the files' bytes. */
  folders: number;
  files: number;
  /** Null while the sizes of a huge folder are still being read. */
  bytes: number | null;
  /** Entries matching `q`, and this page's window on them. */
  total: number;
  offset: number;
  limit: number;
  /** The page's URL for another device and its QR code as SVG, shown folded in a corner. */
  share?: { url: string; svg: string };
  /** With --upload, which kind of share this is; null without. */
  upload: Share | null;
}

/**
 * The heading: "Directory listing for /a/b/", each segment a link to its folder (relative, so it
 * works wherever the server is mounted), carrying the order and view. Links to this very folder
 * are `.` (as good as `./`): `./name` is how the page links its entries, and only its entries.
 */
function renderHeading(crumbs: readonly ShownName[], carry: string): string {
  let html = `<a href="${"../".repeat(crumbs.length) || "."}${carry}">/</a>`;
  crumbs.forEach((crumb, i) => {
    const up = "../".repeat(crumbs.length - 1 - i) || ".";
    const current = i === crumbs.length - 1 ? ' aria-current="page"' : "";
    html += `<a href="${up}${carry}"${current}>${crumb.html}</a>/`;
  });
  return `<h1>Directory listing for ${html}</h1>`;
}

/** The text of the page's `<title>`: the path, plain. */
function titleText(crumbs: readonly ShownName[]): string {
  return "Directory listing for " + escapeHtml("/" + crumbs.map((crumb) => crumb.text + "/").join(""));
}

/**
 * A column heading that sorts by its key: the current one is marked (▲ ascending, ▼ descending,
 * and `aria-sort`) and its link turns the order round; another column starts with names A to Z and
 * sizes and dates largest and newest first. The filter and the view are kept; the page starts over.
 */
function renderSortHeading(query: ListingQuery, key: SortKey, label: string): string {
  const current = query.sort === key;
  const next: SortOrder = current ? (query.order === "asc" ? "desc" : "asc") : key === "name" ? "asc" : "desc";
  const href = escapeHtml(linkQuery(query, { sort: key, order: next, offset: 0, format: null }) || ".");
  const arrow = current ? ` <span aria-hidden="true">${query.order === "asc" ? "▲" : "▼"}</span>` : "";
  const sorted = current ? ` aria-sort="${query.order === "asc" ? "ascending" : "descending"}"` : "";
  return `<th class="${key === "mtime" ? "modified" : key}"${sorted}><a href="${href}">${label}${arrow}</a></th>`;
}

/**
 * The filter box, a GET form that needs no script: submitting it reloads the page with `q`; the
 * order, view and page size ride along as hidden fields.
 */
function renderTools(query: ListingQuery): string {
  const hidden: string[] = [];
  if (query.sort !== "name") hidden.push(`<input type="hidden" name="sort" value="${query.sort}">`);
  if (query.order !== "asc") hidden.push(`<input type="hidden" name="order" value="${query.order}">`);
  if (query.view !== "list") hidden.push(`<input type="hidden" name="view" value="${query.view}">`);
  if (query.limit !== null) hidden.push(`<input type="hidden" name="limit" value="${query.limit}">`);
  const other = query.view === "grid" ? { view: "list" as const, label: "Table view" } : { view: "grid" as const, label: "Grid view" };
  const viewHref = escapeHtml(linkQuery(query, { view: other.view, offset: 0, format: null }) || ".");
  return `<div class="tools">
<form class="filter" method="get" role="search"><input type="search" name="q" value="${escapeHtml(query.q)}" placeholder="Filter names" aria-label="Filter names">${hidden.join("")}<button type="submit">Filter</button></form>
<a class="view" href="${viewHref}">${other.label}</a>
</div>
`;
}

/** The footer: what matched over the whole folder, and links to the pages before and after this one. */
function renderFooter(page: ListingPage): string {
  const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? "" : "s"}`;
  const matching = page.query.q === "" ? "" : ` matching “${escapeHtml(page.query.q)}”`;
  const summary = `<p class="summary">${plural(page.folders, "folder")}, ${plural(page.files, "file")}${matching}, ${page.bytes === null ? "total size still being counted" : `${humanSize(page.bytes)} in total`}</p>\n`;
  const { total, offset, limit, query } = page;
  if (offset === 0 && limit >= total) return summary;
  const links: string[] = [];
  if (offset > 0) links.push(`<a rel="prev" href="${escapeHtml(linkQuery(query, { offset: Math.max(0, Math.min(offset, total) - limit), format: null }) || ".")}">← Previous</a>`);
  const first = Math.min(offset + 1, total);
  const last = Math.min(offset + limit, total);
  links.push(`<span>${first > last ? "none" : `${count(first)}–${count(last)}`} of ${count(total)}</span>`);
  if (offset + limit < total) links.push(`<a rel="next" href="${escapeHtml(linkQuery(query, { offset: offset + limit, format: null }))}">Next →</a>`);
  return summary + `<nav class="pages" aria-label="Pages">${links.join(" ")}</nav>\n`;
}

/**
 * The listing page: heading with breadcrumbs, the share box, the zip link, the upload form (with
 * `upload`), the filter and view switch, then the rows as a table (or tiles, `view=grid`), and
 * the footer. The zip link is relative (`?download=zip`), so it names this folder wherever the
 * server is mounted (archive.ts answers it; listings and zips are on and off together).
 */
export function renderListing(page: ListingPage): string {
  const { query, crumbs } = page;
  const carry = carriedQuery(query);
  const title = titleText(crumbs);
  let body: string;
  if (query.view === "grid") {
    const parent = crumbs.length === 0 ? "" : `<li class="tile folder parent"><a href="../${carry}"><span class="thumb">${icon("folder")}</span><span class="label">../</span></a></li>\n`;
    body = `<ul class="grid">\n${parent}${page.rows.join("")}</ul>\n`;
  } else {
    const parent = crumbs.length === 0 ? "" : `<tr class="folder parent"><td class="name">${icon("folder")}<a href="../${carry}">../</a></td><td class="size"></td><td class="modified"></td></tr>\n`;
    body = `<table>
<thead><tr>${renderSortHeading(query, "name", "Name")}${renderSortHeading(query, "size", "Size")}${renderSortHeading(query, "mtime", "Modified (UTC)")}</tr></thead>
<tbody>
${parent}${page.rows.join("")}</tbody>
</table>
`;
  }
  const empty = page.rows.length === 0 ? `<p class="empty">${page.total === 0 ? (query.q === "" ? "This folder is empty." : "No names match.") : "No entries on this page."}</p>\n` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<style>${STYLE}${page.upload ? UPLOAD_STYLE : ""}</style>
</head>
<body>
${SPRITE}${page.share ? renderShareBox(page.share) : ""}${renderHeading(crumbs, carry)}
<p class="download"><a href="?download=zip">Download as zip</a></p>
${page.upload ? renderUploadForm(page.upload) : ""}${renderTools(query)}${body}${empty}${renderFooter(page)}</body>
</html>
`;
}
