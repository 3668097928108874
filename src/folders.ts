/**
 * Folders: the index file, and the listing's names and rows read from the file system (the page
 * itself is rendered by `listing.ts`, which does no I/O).
 */
import { statSync, type Stats } from "node:fs";
import { prepareNames, renderListing, renderRow, type ListedName } from "./listing.js";
import { locate, locateEntry, readFolderNames, type Found } from "./locate.js";
import type { Policy } from "./policy.js";
import { htmlPage, type Reply, type ServedRequest } from "./reply.js";
import { shareQrSvg, shareUrl } from "./share.js";
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

/** A folder's names as read and prepared for listing, with whether each is a symlink. */
export interface FolderVersion {
  stats: Stats;
  names: ReadonlyArray<{ listed: ListedName; symlink: boolean }>;
}

/**
 * A folder's names (as Buffers: they need not be UTF-8), from the cache or from readdir. Left out
 * is exactly what would not be served: dotfiles, uploads in progress (symlinks leading out are judged per request).
 */
function folderNames(found: Found, policy: Policy): FolderVersion["names"] {
  const cached = policy.folders.get(found.fsPath, found.stats);
  if (cached) return cached.names;
  const statedAt = Date.now();
  const stats = statSync(found.fsPath); // the stat must come before the read, as for files
  const read = readFolderNames(found, policy);
  const symlinks = new Set(read.filter((entry) => entry.symlink).map((entry) => entry.name));
  const names = prepareNames(read.map((entry) => entry.name)).map((listed) => ({ listed, symlink: symlinks.has(listed.name) }));
  policy.folders.put(found.fsPath, { stats, names }, statedAt);
  return names;
}

/**
 * The listing's rows: every entry stat'ed now, so sizes and dates are current, and judged as a
 * request for it would be (`locateEntry`): symlinks that lead out of the root are hidden; an entry
 * that cannot be stat'ed (a dangling link, no permission) is listed without details.
 */
function listingRows(found: Found, policy: Policy): Array<{ isFolder: boolean; html: string }> {
  const rows: Array<{ isFolder: boolean; html: string }> = [];
  for (const { listed, symlink } of folderNames(found, policy)) {
    const entry = locateEntry(found, { name: listed.name, symlink }, policy);
    if (entry === null || entry.kind === "outside") continue;
    const stats = entry.kind === "unreadable" ? undefined : entry.stats;
    const isFolder = stats?.isDirectory() ?? false;
    const details = { isFolder, symlink, size: stats?.isFile() ? stats.size : null, mtimeMs: stats ? stats.mtimeMs : null };
    rows.push({ isFolder, html: renderRow(listed, details) });
  }
  return rows;
}

/** The listing page of a folder, with a QR code of its URL for another device. */
export function listingReply(req: ServedRequest, target: Extract<TargetPath, { kind: "path" }>, found: Found, policy: Policy): Reply {
  const displayPath = "/" + target.segments.map((s) => s.toString("utf8") + "/").join("");
  const url = shareUrl(req, target.segments, policy);
  return htmlPage(200, renderListing(displayPath, listingRows(found, policy), target.segments.length === 0, { url, svg: shareQrSvg(url, policy) }, policy.upload !== null));
}
