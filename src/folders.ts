/**
 * Folders: the index file, and the listing's entries read from the file system (the page and the
 * JSON are rendered by `listing.ts`, which does no I/O).
 *
 * What a listing costs, and where it is kept:
 * - once per version of the folder (its own ino, size, mtime, ctime: `RevalidatedCache`): the
 *   names, read a batch at a time, in natural order, packed into one buffer; whether each is a
 *   folder (readdir's type; a symlink's target, judged by `locateEntry`).
 * - per entry, while its stats are unchanged: its escaped name, link, rendered row, tile and JSON.
 * - per request: a stat of each row shown, so sizes and dates are current, and nothing else that
 *   grows with the folder, except the footer's sums (an add per matching entry).
 * - the footer's counts and total size are over every matching entry, not only the rows shown. They
 *   come from a table of each entry's size and date, kept with the folder's version: filled once
 *   (a stat per entry, when first needed), updated by every row a request stats, and, when a page
 *   shows only part of the folder, refreshed in the background (asynchronously, off the request)
 *   once it is older than `TABLE_REFRESH_MS`, a slice at a time. A page that shows the whole folder stats every entry
 *   anyway, so its footer is exact; a page of a huge folder is exact for its own rows and at most a
 *   few seconds behind for the rest, instead of 100,000 stats per request.
 */
import { lstatSync, statSync, type Stats } from "node:fs";
import {
  DEFAULT_PAGE_SIZE,
  carriedQuery,
  filterText,
  naturalNameOrder,
  parseListingQuery,
  renderJsonEntry,
  renderListing,
  renderRow,
  renderTile,
  showName,
  type EntryDetails,
  type ListingQuery,
  type ShownName,
} from "./listing.js";
import { RevalidatedCache } from "./files.js";
import { eachFolderName, entryPath, entryStats, locate, locateEntry, SEPARATOR, tryFs, type Found } from "./locate.js";
import { PAGE_CSP, type Policy } from "./policy.js";
import { htmlPage, type Reply, type ServedRequest } from "./reply.js";
import type { ShareCodes } from "./share.js";
import type { TargetPath } from "./target.js";

const INDEX_NAMES = [Buffer.from("index.html"), Buffer.from("index.htm")];

/** The segments of the folder's `index.html`, else `index.htm` (a folder of that name does not count). */
export function findIndex(segments: readonly Buffer[], policy: Policy): { segments: Buffer[]; found: Found } | null {
  for (const name of INDEX_NAMES) {
    const indexSegments = [...segments, name];
    const found = locate(indexSegments, policy);
    if (found?.kind === "file") return { segments: indexSegments, found };
  }
  return null;
}

// -------------------------------------------------------------------------------------------------
// A folder's version: names, kinds, and the table of sizes and dates
// -------------------------------------------------------------------------------------------------

/** An entry's kind, as known for the version: from readdir, or for a symlink from its target. */
const FOLDER = 1;
const FILE = 2;
const OTHER = 3;
const UNREADABLE = 4;
const KIND = 7;
const SYMLINK = 8;

/** How old the table of sizes and dates may grow before a partial page refreshes it in the background. */
const TABLE_REFRESH_MS = 10_000;
/** Entries stat'ed per turn of the event loop by that refresh: about a millisecond's work. */
const TABLE_SLICE = 500;
/** Entries whose rendered rows are kept per folder; past it the memo starts over. */
const MAX_ROW_MEMOS = 5000;
/** Bodies kept per folder version, one per URL and representation (`keptBody`). */
const MAX_KEPT_PAGES = 8;
/** Filters (`q`) and orders kept per folder version. */
const MAX_REMEMBERED_VIEWS = 32;

/** What is kept of one entry between requests, while its stats are unchanged. */
interface RowMemo {
  fsPath: Buffer;
  name: ShownName;
  details: EntryDetails;
  /** Moves when `details` change: a page made from the same memos at the same revisions is the same page. */
  revision: number;
  /** The row as HTML, and the query a folder's link carried when it was made. */
  row?: string;
  rowCarry?: string;
  tile?: string;
  tileCarry?: string;
  json?: string;
}

/** A folder's names as read and prepared for listing, and what is known of each entry. */
export class FolderVersion {
  readonly count: number;
  /** Every name's bytes, one after another, in natural order; name i is `names[starts[i], starts[i + 1])`. */
  private readonly names: Buffer;
  private readonly starts: Uint32Array;
  private readonly kinds: Uint8Array;
  /** The table: each entry's size (files; -1 otherwise) and mtime (-1 unknown), NaN until stat'ed. */
  private readonly sizes: Float64Array;
  private readonly mtimes: Float64Array;
  /** Moves whenever the table changes, so orders by size or date are made again. */
  private generation = 0;
  private tableTakenAt = 0;
  private refreshing = false;
  private lowered: string[] | undefined;
  private readonly matches = new Map<string, Uint32Array>();
  private readonly orders = new Map<string, { generation: number; order: Uint32Array }>();
  /** Whether the cache kept this version, so later requests will see what is learnt of it. */
  kept = false;
  private memos: Array<RowMemo | undefined> = [];
  private readonly pages = new Map<string, { memos: readonly RowMemo[]; revisions: Uint32Array; body: Buffer }>();
  private memoCount = 0;

  constructor(
    readonly stats: Stats,
    read: NameStore,
  ) {
    const order = naturalNameOrder(read.names, read.starts, read.count);
    this.count = read.count;
    this.starts = new Uint32Array(this.count + 1);
    this.kinds = new Uint8Array(this.count);
    this.names = Buffer.allocUnsafe(read.used);
    let at = 0;
    order.forEach((from, i) => {
      this.starts[i] = at;
      at += read.names.copy(this.names, at, read.starts[from], read.starts[from + 1]);
      this.kinds[i] = read.kinds[from]!;
    });
    this.starts[this.count] = at;
    this.sizes = new Float64Array(this.count).fill(NaN);
    this.mtimes = new Float64Array(this.count).fill(NaN);
  }

  name(i: number): Buffer {
    return this.names.subarray(this.starts[i], this.starts[i + 1]);
  }

  isFolder(i: number): boolean {
    return (this.kinds[i]! & KIND) === FOLDER;
  }

  /** The entries whose name contains `q` (case-insensitive, NFC), in name order; kept per `q`. */
  matching(q: string): Uint32Array {
    let found = this.matches.get(q);
    if (found !== undefined) return found;
    if (q === "") {
      found = Uint32Array.from({ length: this.count }, (_, i) => i);
    } else {
      const needle = filterText(q);
      this.lowered ??= Array.from({ length: this.count }, (_, i) => filterText(this.name(i).toString("utf8")));
      const hits: number[] = [];
      this.lowered.forEach((text, i) => text.includes(needle) && hits.push(i));
      found = Uint32Array.from(hits);
    }
    if (this.matches.size >= MAX_REMEMBERED_VIEWS) this.matches.clear();
    this.matches.set(q, found);
    return found;
  }

  /**
   * `matching` in the asked order, folders first in every order: by name (the version's own
   * order); by size, folders by name; by date, folders by date too. Ties go by name.
   */
  sorted(q: string, matching: Uint32Array, query: ListingQuery): Uint32Array {
    const key = `${query.sort} ${query.order} ${q}`;
    const kept = this.orders.get(key);
    if (kept !== undefined && (query.sort === "name" || kept.generation === this.generation)) return kept.order;
    const folders: number[] = [];
    const files: number[] = [];
    for (const i of matching) (this.isFolder(i) ? folders : files).push(i);
    const by = (values: Float64Array) => (a: number, b: number) => values[a]! - values[b]! || a - b;
    if (query.sort === "size") files.sort(by(this.sizes));
    if (query.sort === "mtime") {
      folders.sort(by(this.mtimes));
      files.sort(by(this.mtimes));
    }
    if (query.order === "desc") {
      folders.reverse();
      files.reverse();
    }
    const order = Uint32Array.from([...folders, ...files]);
    if (this.orders.size >= MAX_REMEMBERED_VIEWS) this.orders.clear();
    this.orders.set(key, { generation: this.generation, order });
    return order;
  }

  /** The footer's figures for `matching`, from the table; `bytes` is null while some file's size is not known yet. */
  totals(matching: Uint32Array): { folders: number; files: number; bytes: number | null } {
    let folders = 0;
    let bytes: number | null = 0;
    for (const i of matching) {
      if (this.isFolder(i)) folders++;
      else if (Number.isNaN(this.sizes[i])) bytes = null;
      else if (bytes !== null && this.sizes[i]! > 0) bytes += this.sizes[i]!;
    }
    return { folders, files: matching.length - folders, bytes };
  }

  /**
   * Stats entry i now, judged as a request for it would be (`locateEntry`): null when it is gone or
   * leads out of the root (the row is left out); an entry that cannot be stat'ed (a dangling link,
   * no permission) has no details. Its memo is kept while its stats are unchanged; the table learns
   * what the stat said.
   */
  statEntry(folder: Found, i: number, policy: Policy): RowMemo | null {
    const symlink = (this.kinds[i]! & SYMLINK) !== 0;
    let memo = this.memos[i];
    const fsPath = memo?.fsPath ?? entryPath(folder, this.name(i));
    let stats: Stats | undefined;
    if (symlink) {
      // A link is judged by where it leads.
      const entry = locateEntry(folder, { fsPath, symlink }, policy);
      if (entry === null || entry.kind === "outside") return null;
      stats = entry.kind === "unreadable" ? undefined : entry.stats;
    } else {
      // Anything else needs its stat and nothing more: a listing makes a thousand of these a request.
      const found = entryStats(fsPath, false, policy);
      if (found === null) return null;
      stats = found === "unreadable" ? undefined : found;
    }
    const kind = stats === undefined ? null : stats.isFile() ? "file" : stats.isDirectory() ? "folder" : "other";
    const size = kind === "file" ? stats!.size : null;
    const mtimeMs = stats === undefined ? null : stats.mtimeMs;
    if (memo === undefined) {
      if (this.memoCount >= MAX_ROW_MEMOS) {
        this.memos = [];
        this.memoCount = 0;
      }
      memo = { fsPath, name: showName(this.name(i)), revision: 0, details: { kind, symlink, size, mtimeMs } };
      this.memos[i] = memo;
      this.memoCount++;
    } else if (memo.details.kind !== kind || memo.details.size !== size || memo.details.mtimeMs !== mtimeMs) {
      memo.details = { kind, symlink, size, mtimeMs };
      memo.row = memo.tile = memo.json = undefined;
      memo.revision++;
    }
    this.learn(i, size ?? -1, mtimeMs ?? -1);
    return memo;
  }

  /** Puts what a stat said of entry i in the table. */
  private learn(i: number, size: number, mtimeMs: number): void {
    if (this.sizes[i] === size && this.mtimes[i] === mtimeMs) return;
    this.sizes[i] = size;
    this.mtimes[i] = mtimeMs;
    this.generation++;
  }

  /**
   * Makes sure the table knows every entry in `matching`: with `wait` (an order by size or date
   * needs it now), a stat of each entry it lacks, once per version; otherwise, and once the table is
   * older than TABLE_REFRESH_MS, a fill in the background, and the footer says it is counting.
   */
  fillTable(folder: Found, matching: Uint32Array, policy: Policy, wait: boolean): void {
    // A version that will not be kept learns nothing for later: it counts now or never.
    if (!this.kept) wait = true;
    let missing = false;
    for (const i of matching) {
      if (!Number.isNaN(this.sizes[i])) continue;
      missing = true;
      if (!wait) break;
      const entry = tryFs(() => locateEntry(folder, { name: this.name(i), symlink: (this.kinds[i]! & SYMLINK) !== 0 }, policy));
      const stats = entry && "stats" in entry ? entry.stats : undefined;
      this.learn(i, stats?.isFile() ? stats.size : -1, stats ? stats.mtimeMs : -1);
    }
    if (missing && !wait) void this.refreshTable(folder);
    else if (missing && matching.length === this.count) this.tableTakenAt = Date.now();
    else if (!missing && Date.now() - this.tableTakenAt > TABLE_REFRESH_MS) void this.refreshTable(folder);
  }

  /**
   * Stats every entry again in the background, a slice per turn of the event loop (about a
   * millisecond each, so requests in between wait no longer than that), so the footer of a huge
   * folder follows its files without a request paying for 100,000 stats. Symlinks are followed:
   * the ones that lead out were left out of the version, and rows are judged again when shown.
   */
  private refreshTable(folder: Found): void {
    if (this.refreshing || !this.kept) return;
    this.refreshing = true;
    const path = Buffer.allocUnsafe(folder.fsPath.length + SEPARATOR.length + 4096);
    const base = folder.fsPath.copy(path) + SEPARATOR.copy(path, folder.fsPath.length);
    let next = 0;
    const slice = () => {
      const stop = Math.min(this.count, next + TABLE_SLICE);
      for (; next < stop; next++) {
        const length = base + this.names.copy(path, base, this.starts[next], this.starts[next + 1]);
        const follow = (this.kinds[next]! & SYMLINK) !== 0;
        const stats = tryFs(() => (follow ? statSync : lstatSync)(path.subarray(0, length), { throwIfNoEntry: false }));
        this.learn(next, stats?.isFile() ? stats.size : -1, stats ? stats.mtimeMs : -1);
      }
      if (next < this.count) return void setImmediate(slice);
      this.refreshing = false;
      this.tableTakenAt = Date.now();
    };
    setImmediate(slice);
  }

  /**
   * The body made last time for `key` (the URL, the representation, the footer's figures) from
   * the same rows: unchanged if every row is the same memo at the same revision. A repeated
   * listing of an unchanged folder then costs its stats and this comparison.
   */
  keptBody(key: string, memos: readonly RowMemo[], make: () => Buffer): Buffer {
    const kept = this.pages.get(key);
    if (kept !== undefined && sameRows(kept, memos)) return kept.body;
    const body = make();
    if (this.pages.size >= MAX_KEPT_PAGES) this.pages.clear();
    this.pages.set(key, { memos, revisions: Uint32Array.from(memos, (memo) => memo.revision), body });
    return body;
  }

  /** Entry i's table row, as HTML: made again only when its stats or the carried query changed. */
  row(memo: RowMemo, carry: string): string {
    if (memo.row === undefined || (memo.rowCarry !== carry && memo.details.kind === "folder")) {
      memo.row = renderRow(memo.name, memo.details, carry);
      memo.rowCarry = carry;
    }
    return memo.row;
  }

  tile(memo: RowMemo, carry: string): string {
    if (memo.tile === undefined || (memo.tileCarry !== carry && memo.details.kind === "folder")) {
      memo.tile = renderTile(memo.name, memo.details, carry);
      memo.tileCarry = carry;
    }
    return memo.tile;
  }

  json(memo: RowMemo): string {
    return (memo.json ??= renderJsonEntry(memo.name, memo.details));
  }
}

/** Whether a kept page was made from exactly these rows, each at the revision it has now. */
function sameRows(kept: { memos: readonly RowMemo[]; revisions: Uint32Array }, memos: readonly RowMemo[]): boolean {
  if (kept.memos.length !== memos.length) return false;
  for (let k = 0; k < memos.length; k++) {
    const memo = memos[k]!;
    if (memo !== kept.memos[k] || memo.revision !== kept.revisions[k]) return false;
  }
  return true;
}

/** Folders' names, prepared for listing, per folder version (their sizes and dates are never kept). */
export type FolderCache = RevalidatedCache<FolderVersion>;

export function newFolderCache(): FolderCache {
  return new RevalidatedCache<FolderVersion>(64);
}

/**
 * The folder's version, from the cache or read now. Left out is exactly what would not be served:
 * dotfiles, uploads in progress, and symlinks that lead out of the root (rows are judged again
 * when shown, as a request for them would be).
 */
function folderVersion(found: Found, policy: Policy, folders: FolderCache): FolderVersion {
  const cached = folders.get(found.fsPath, found.stats);
  if (cached) return cached;
  const statedAt = Date.now();
  const stats = statSync(found.fsPath); // the stat must come before the read, as for files
  const read = new NameStore();
  eachFolderName(found, policy, (name, type) => {
    if (type !== "symlink") return read.push(name, type === "folder" ? FOLDER : type === "file" ? FILE : OTHER);
    const target = locateEntry(found, { name: Buffer.from(name, "latin1"), symlink: true }, policy);
    if (target === null || target.kind === "outside") return;
    const kind = target.kind === "folder" ? FOLDER : target.kind === "file" ? FILE : target.kind === "other" ? OTHER : UNREADABLE;
    read.push(name, kind | SYMLINK);
  });
  const version = new FolderVersion(stats, read);
  folders.put(found.fsPath, version, statedAt);
  // A version too new to keep (changed within the last second) is read again next time: counting its sizes in the background would be wasted.
  version.kept = folders.get(found.fsPath, stats) === version;
  return version;
}

/**
 * Names as readdir gives them, copied into one growing buffer at once, so each entry's own
 * objects die young: 100,000 names take a few MB, not 100,000 buffers.
 */
class NameStore {
  names = Buffer.allocUnsafe(16 * 1024);
  used = 0;
  starts = new Uint32Array(256);
  kinds = new Uint8Array(256);
  count = 0;

  /** `name`: the bytes, as a latin1 string. */
  push(name: string, kind: number): void {
    if (this.count + 2 > this.starts.length) {
      const starts = new Uint32Array(this.starts.length * 2);
      starts.set(this.starts);
      this.starts = starts;
      const kinds = new Uint8Array(this.kinds.length * 2);
      kinds.set(this.kinds);
      this.kinds = kinds;
    }
    if (this.used + name.length > this.names.length) {
      const names = Buffer.allocUnsafe(Math.max(this.names.length * 2, this.used + name.length));
      this.names.copy(names, 0, 0, this.used);
      this.names = names;
    }
    this.starts[this.count] = this.used;
    this.kinds[this.count++] = kind;
    this.used += this.names.write(name, this.used, "latin1");
    this.starts[this.count] = this.used;
  }
}

// -------------------------------------------------------------------------------------------------
// The reply
// -------------------------------------------------------------------------------------------------

/**
 * Whether the listing goes to a program: `?format=json`, or an `Accept` that names
 * `application/json` above `text/html` (a browser's `text/html,…,*\/*;q=0.8` gets the page).
 */
function wantsJson(req: ServedRequest, query: ListingQuery): boolean {
  if (query.format !== null) return query.format === "json";
  const accept = req.headers.accept;
  if (accept === undefined || !accept.includes("json")) return false;
  const weight = (type: string): number => {
    for (const element of accept.split(",")) {
      const [mediaType = "", ...params] = element.split(";");
      if (mediaType.trim().toLowerCase() !== type) continue;
      const q = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith("q="));
      const value = q === undefined ? 1 : Number(q.slice(2));
      return Number.isFinite(value) ? value : 0;
    }
    return -1;
  };
  const json = weight("application/json");
  return json > 0 && json > weight("text/html");
}

/**
 * The listing of a folder: the page, or JSON for a program (same entries, same order, same
 * filter and pages). Both say `Vary: Accept`, as `Accept` chooses between them (and, with live
 * reload, `Sec-Fetch-Dest`, which decides whether the page gets its script). Sizes and dates are
 * read anew for each request, and a listing is `no-cache`; its ETag and coding are the handler's
 * last step (compress.ts `encodePage`), made from these bytes: the same Buffer for an unchanged
 * page (`keptBody`), so they are made once.
 */
export function listingReply(req: ServedRequest, target: Extract<TargetPath, { kind: "path" }>, found: Found, policy: Policy, folders: FolderCache, share: ShareCodes): Reply {
  const query = parseListingQuery(target.query);
  const json = wantsJson(req, query);
  const version = folderVersion(found, policy, folders);
  const matching = version.matching(query.q);
  const limit = query.limit ?? (json ? Infinity : DEFAULT_PAGE_SIZE);
  const offset = query.offset;
  const memos: RowMemo[] = [];
  if (offset === 0 && limit >= matching.length) {
    // The whole folder is shown: each entry is stat'ed for its row, so the order and the footer are exact.
    const shown = new Array<RowMemo | null>(version.count);
    for (const i of matching) shown[i] = version.statEntry(found, i, policy);
    for (const i of version.sorted(query.q, matching, query)) {
      const memo = shown[i];
      if (memo) memos.push(memo);
    }
  } else {
    version.fillTable(found, matching, policy, query.sort !== "name");
    const order = version.sorted(query.q, matching, query);
    for (const i of order.subarray(Math.min(offset, order.length), Math.min(offset + limit, order.length))) {
      const memo = version.statEntry(found, i, policy);
      if (memo) memos.push(memo);
    }
  }
  const vary = policy.live ? "Sec-Fetch-Dest, Accept" : "Accept";
  const totals = version.totals(matching);
  const figures = `${totals.folders} ${totals.files} ${totals.bytes}`;
  if (json) return jsonReply(version.keptBody(`json ${req.url} ${figures}`, memos, () => jsonBody(memos.map((memo) => version.json(memo)))), vary);
  const url = share.url(req, target.segments);
  const html = version.keptBody(`html ${req.url} ${url ?? "-"} ${figures}`, memos, () => {
    const carry = carriedQuery(query);
    const rows = query.view === "grid" ? memos.map((memo) => version.tile(memo, carry)) : memos.map((memo) => version.row(memo, carry));
    return Buffer.from(
      renderListing({
        crumbs: target.segments.map(showName),
        query,
        rows,
        ...totals,
        total: matching.length,
        offset,
        limit: Math.min(limit, Number.MAX_SAFE_INTEGER),
        share: url === undefined ? undefined : { url, svg: share.qrSvg(url) },
        upload: policy.upload === null ? null : policy.upload.overwrite ? "drive" : "drop-box",
      }),
    );
  });
  const headers: Record<string, string> = { Vary: vary };
  // The grid shows the folder's own images and videos: this page may load them, from this origin only.
  if (query.view === "grid") headers["Content-Security-Policy"] = `${PAGE_CSP}; img-src 'self'; media-src 'self'`;
  return htmlPage(200, html, headers);
}

/** The JSON listing: an array, one entry per line, as nginx writes it. */
function jsonBody(entries: readonly string[]): Buffer {
  return Buffer.from(entries.length === 0 ? "[]\n" : `[\n${entries.join(",\n")}\n]\n`);
}

function jsonReply(data: Buffer, vary: string): Reply {
  return {
    status: 200,
    headers: { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(data.length), "Cache-Control": "no-cache", Vary: vary },
    body: { kind: "bytes", data },
    generated: true,
  };
}
