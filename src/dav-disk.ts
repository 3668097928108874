/**
 * WebDAV's changes on disk (webdav.ts decides them, this does them): deleting a tree, moving and
 * copying entries, the empty file of a LOCK on a new name. Every write acts on what lstat sees (a
 * link itself, never what it names), makes files through the write path's temporary file and
 * atomic claim (writes.ts), and leaves what a reader could not see (hidden files) where it is.
 */
import { closeSync, constants as fsConstants, createReadStream, lstatSync, mkdirSync, openSync, readdirSync, rmdirSync, unlinkSync, type Dirent, type Stats } from "node:fs";
import { rename } from "node:fs/promises";
import { locateEntry, openFound, pathInFolder, readFolderNames, type Found } from "./locate.js";
import type { Policy } from "./policy.js";
import { DOT, isUploadTemp } from "./target.js";
import { TempFile, WriteRefusal } from "./writes.js";

/** A name in a folder as `lstat` sees it: what a write acts on (a link itself, never what it names). */
export interface Entry {
  /** The real path of the folder holding it; null for the root itself. */
  folder: Buffer | null;
  fsPath: Buffer;
  stats: Stats;
}

/** An empty file for LOCK on an unmapped URL: O_EXCL, so nothing there (not even a link) is ever written through. */
export function createEmptyFile(fsPath: Buffer): Buffer {
  try {
    closeSync(openSync(fsPath, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o666));
    return fsPath;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new WriteRefusal(409, "made by someone else meanwhile");
    throw error;
  }
}

/**
 * Deletes an entry: a file or link is unlinked (a link itself, never what it names); a folder
 * loses everything a client could see in it, then itself. What stays (hidden files without
 * --dotfiles, or a name that appeared meanwhile) keeps its folder: those folders are returned,
 * deepest first, for a 207. Something already gone is not a failure.
 */
export function removeEntry(entry: Entry, segments: readonly Buffer[], policy: Policy): Array<{ segments: readonly Buffer[]; status: string }> {
  if (!entry.stats.isDirectory()) {
    ignoreMissing(() => unlinkSync(entry.fsPath));
    return [];
  }
  const failures: Array<{ segments: readonly Buffer[]; status: string }> = [];
  let kept = false;
  let dirents: Dirent<Buffer>[] = [];
  ignoreMissing(() => (dirents = readdirSync(entry.fsPath, { withFileTypes: true, encoding: "buffer" })));
  for (const dirent of dirents) {
    const name = dirent.name;
    if ((!policy.dotfiles && name[0] === DOT) || isUploadTemp(name)) {
      kept = true; // never shown, so never deleted: the person asking could not see it
      continue;
    }
    const fsPath = pathInFolder({ kind: "folder", fsPath: entry.fsPath }, name);
    const stats = lstatSync(fsPath, { throwIfNoEntry: false });
    if (stats === undefined) continue;
    // A link out of the root, hidden from readers, goes with its folder: unlinking it touches
    // nothing outside, and a link holds no data of its own (unlike a hidden dotfile, kept above).
    failures.push(...removeEntry({ folder: entry.fsPath, fsPath, stats }, [...segments, name], policy));
  }
  if (kept) return [...failures, { segments, status: "403 Forbidden" }];
  if (failures.length > 0) return failures;
  try {
    rmdirSync(entry.fsPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return [];
    if (code === "ENOTEMPTY" || code === "EEXIST") return [{ segments, status: "409 Conflict" }];
    throw error;
  }
  return [];
}

function ignoreMissing(call: () => void): void {
  try {
    call();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/**
 * MOVE: one rename, so the entry is at its old name or its new one, never both, never half; the
 * destination was cleared first when it had to be. Across file systems it would be a copy and a
 * delete, which is not atomic: refused with 502 instead (EXDEV), as Apache's mod_dav_fs does.
 */
export async function moveEntry(source: Entry, destinationPath: Buffer): Promise<void> {
  try {
    await rename(source.fsPath, destinationPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new WriteRefusal(404, "the source went meanwhile");
    if (code === "ENOTEMPTY" || code === "EEXIST" || code === "EISDIR" || code === "ENOTDIR") throw new WriteRefusal(409, "the destination changed meanwhile");
    throw error;
  }
}

/**
 * COPY of what a reader sees at the source: a file's bytes into a temporary file in the
 * destination folder, then given its name (never replacing: the destination was cleared first,
 * so a name taken meanwhile is a 412); a folder made, then, with depth infinity, each entry a
 * reader could see copied the same way. Links inside the root are copied as what they name.
 */
export async function copyFound(source: Found, destinationFolder: Buffer, destinationPath: Buffer, deep: boolean, policy: Policy, replace = false): Promise<void> {
  if (source.kind === "file") return copyFile(source, destinationFolder, destinationPath, policy, replace);
  try {
    mkdirSync(destinationPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new WriteRefusal(412, "the destination was made meanwhile");
    throw error;
  }
  if (!deep) return;
  for (const entry of readFolderNames(source, policy)) {
    const child = locateEntry(source, entry, policy);
    if (child === null || (child.kind !== "file" && child.kind !== "folder")) continue;
    // A link to a folder that holds the destination would copy forever: a copy never descends into itself.
    if (child.kind === "folder" && isInsidePath(destinationPath, child.fsPath)) continue;
    await copyFound(child, destinationPath, pathInFolder({ kind: "folder", fsPath: destinationPath }, entry.name), true, policy);
  }
}

export function isInsidePath(inner: Buffer, outer: Buffer): boolean {
  return inner.equals(outer) || (inner.length > outer.length && inner.subarray(0, outer.length).equals(outer) && inner[outer.length] === 0x2f);
}

/** A file's copy, given its name when whole: never replacing a name (412 when taken), or, with `replace`, replacing a file there in one step. */
async function copyFile(source: Found, destinationFolder: Buffer, destinationPath: Buffer, policy: Policy, replace = false): Promise<void> {
  const opened = openFound(source, policy);
  if (opened === "changed") throw new WriteRefusal(409, "the source changed while being copied");
  const temp = await TempFile.create({ kind: "folder", fsPath: destinationFolder }).catch((error: unknown) => {
    closeSync(opened.fd);
    throw error;
  });
  try {
    await temp.fill(createReadStream("", { fd: opened.fd, autoClose: true }), opened.stats.size);
    if (replace) await temp.replace(destinationPath);
    else if ((await temp.claim(destinationPath)) === "taken") throw new WriteRefusal(412, "the destination was made meanwhile");
  } finally {
    await temp.discard();
  }
}
