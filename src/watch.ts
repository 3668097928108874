/**
 * Watching the served tree for live reload: which URL paths changed, told as they change.
 *
 * One non-recursive `fs.watch` (one inotify watch) per served folder, added as folders appear.
 * Node's own `recursive: true` is not used: on Linux, Node 20 and 22 implement it in JavaScript
 * with a watcher and a `statSync` for every file *and* folder of the tree, `node_modules` and
 * `.git` included, with no way to leave them out; a project with a large `node_modules` runs into
 * the inotify limit before it serves a page. Here nothing is watched that serve-here would not
 * serve (dot-folders unless `--dotfiles`, `node_modules`), names stay bytes (any name works),
 * and the behaviour is the same on every Node version.
 *
 * When inotify cannot be used (its limits, ENOSPC, EMFILE), or when asked with the environment
 * variable `SERVE_HERE_LIVE_POLL=1` (for tests, and for file systems that never send events:
 * network mounts, some container bind mounts), the tree is stat'ed every second instead.
 *
 * Whatever the watcher says or misses, answers stay fresh: every request looks at the file again.
 */
import { lstatSync, readdirSync, watch, type FSWatcher, type Stats } from "node:fs";
import { encodePathSegment } from "./escape.js";
import { joinBytes, SEPARATOR } from "./locate.js";
import { DOT } from "./target.js";

/** What the watcher needs to know of the policy. */
export interface WatchPolicy {
  rootReal: Buffer;
  dotfiles: boolean;
}

export interface TreeWatcher {
  readonly mode: "events" | "poll";
  close(): void;
}

/** How many folders get an inotify watch, and how many entries a poll stats, at most. */
const MAX_WATCHED_FOLDERS = 20_000;
const MAX_POLLED_ENTRIES = 20_000;
const POLL_MS = 1000;

const NODE_MODULES = Buffer.from("node_modules");
const WELL_KNOWN = Buffer.from(".well-known");

/** Errors that mean inotify is out of resources, not that a folder is gone. */
const WATCH_LIMIT_ERRORS = new Set(["ENOSPC", "EMFILE", "ENFILE", "ENOSYS", "EPERM", "ENOTSUP", "EOPNOTSUPP"]);

/**
 * Whether changes to `name`, inside the folder at `segments`, can matter to a client: the same
 * dotfile rule as `resolveTargetPath` (a top-level `.well-known` is served), and never `node_modules`.
 */
function isWatchedName(name: Buffer, segments: readonly Buffer[], policy: WatchPolicy): boolean {
  if (name.equals(NODE_MODULES)) return false;
  if (name[0] !== DOT || policy.dotfiles) return true;
  return segments.length === 0 && name.equals(WELL_KNOWN);
}

/** The URL path of an entry, percent-encoded as a link is: `/a%20b/c.css`. */
export function urlPathOf(segments: readonly Buffer[]): string {
  return "/" + segments.map(encodePathSegment).join("/");
}

/**
 * Starts watching; `onChange` gets URL paths (a folder's ends in `/`). `notice` is told once,
 * with the fix, when inotify cannot be used and polling takes over.
 */
export function watchTree(policy: WatchPolicy, onChange: (urlPath: string) => void, notice: (message: string) => void, forcePoll = false): TreeWatcher {
  if (!forcePoll) {
    const folders = new FolderWatchers(policy, onChange);
    const failure = folders.start();
    if (failure === null) return folders;
    folders.close();
    notice(
      `live reload cannot watch files with inotify (${failure}), so it checks them every second instead. ` +
        `To raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 (and fs.inotify.max_user_instances=512)`,
    );
  }
  return new TreePoller(policy, onChange, notice);
}

/** A served folder below the root, with how a URL names it. */
interface Folder {
  fsPath: Buffer;
  segments: Buffer[];
}

/**
 * Lists the served folders below `start`, itself first, depth first, at most `limit` of them.
 * Symlinked folders are not entered: their targets may lie outside the root.
 */
function servedFolders(start: Folder, policy: WatchPolicy, limit: number): { folders: Folder[]; truncated: boolean } {
  const folders: Folder[] = [];
  const stack = [start];
  for (let folder = stack.pop(); folder !== undefined; folder = stack.pop()) {
    if (folders.length >= limit) return { folders, truncated: true };
    folders.push(folder);
    let entries;
    try {
      entries = readdirSync(folder.fsPath, { withFileTypes: true, encoding: "buffer" });
    } catch {
      continue; // gone, or unreadable: nothing in it is served either
    }
    for (const entry of entries) {
      const name = entry.name as unknown as Buffer;
      if (entry.isDirectory() && isWatchedName(name, folder.segments, policy)) {
        stack.push({ fsPath: joinBytes(folder.fsPath, [name]), segments: [...folder.segments, name] });
      }
    }
  }
  return { folders, truncated: false };
}

/** One inotify watch per served folder, with the folder's inode: a folder replaced by another of the same name needs a new watch. */
class FolderWatchers implements TreeWatcher {
  readonly mode = "events";
  private readonly watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  private warnedFull = false;

  constructor(
    private readonly policy: WatchPolicy,
    private readonly onChange: (urlPath: string) => void,
  ) {}

  /** Watches the whole tree: null when it worked, else why inotify cannot be used. */
  start(): string | null {
    return this.watchFrom({ fsPath: this.policy.rootReal, segments: [] });
  }

  close(): void {
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private watchFrom(start: Folder): string | null {
    const { folders, truncated } = servedFolders(start, this.policy, MAX_WATCHED_FOLDERS - this.watchers.size);
    if (truncated && !this.warnedFull) {
      this.warnedFull = true;
      process.stderr.write(`serve-here: live reload watches the first ${MAX_WATCHED_FOLDERS} folders only\n`);
    }
    for (const folder of folders) {
      const key = folder.fsPath.toString("latin1");
      try {
        const ino = lstatSync(folder.fsPath).ino;
        if (this.watchers.get(key)?.ino === ino) continue;
        this.unwatch(key);
        const watcher = watch(folder.fsPath, { encoding: "buffer", persistent: false }, (_event, name) => this.changedIn(folder, name));
        watcher.on("error", () => this.unwatch(key));
        this.watchers.set(key, { watcher, ino });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? "error";
        if (WATCH_LIMIT_ERRORS.has(code)) return code;
        // ENOENT, ENOTDIR, EACCES: the folder went away or is closed to us; nothing to watch there.
      }
    }
    return null;
  }

  private changedIn(folder: Folder, name: Buffer | null): void {
    // No name: the kernel's queue overflowed. Say the folder changed; a page reloads.
    if (name === null) return this.onChange(urlPathOf(folder.segments) + "/");
    if (!isWatchedName(name, folder.segments, this.policy)) return;
    const fsPath = joinBytes(folder.fsPath, [name]);
    const stats = lstatOrUndefined(fsPath);
    if (stats === undefined && lstatOrUndefined(folder.fsPath) === undefined) {
      // The watched folder itself is gone (it reports its own name): its parent tells the change.
      return this.unwatchBelow(folder.fsPath);
    }
    const segments = [...folder.segments, name];
    if (stats === undefined) this.unwatchBelow(fsPath);
    else if (stats.isDirectory()) {
      // A new (or replaced) folder: watch it and what is already in it, written before the watch existed.
      const failure = this.watchFrom({ fsPath, segments });
      if (failure !== null) process.stderr.write(`serve-here: live reload cannot watch a new folder (${failure}); changes in it are not seen\n`);
    }
    this.onChange(urlPathOf(segments) + (stats?.isDirectory() ? "/" : ""));
  }

  private unwatch(key: string): void {
    this.watchers.get(key)?.watcher.close();
    this.watchers.delete(key);
  }

  /** Stops watching a folder that is gone, and every folder below it. */
  private unwatchBelow(fsPath: Buffer): void {
    const key = fsPath.toString("latin1");
    for (const watched of [...this.watchers.keys()]) {
      if (watched === key || watched.startsWith(key + SEPARATOR.toString("latin1"))) this.unwatch(watched);
    }
  }
}

function lstatOrUndefined(fsPath: Buffer): Stats | undefined {
  try {
    return lstatSync(fsPath, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** The fallback: stat every served entry once a second and compare with the last look. */
class TreePoller implements TreeWatcher {
  readonly mode = "poll";
  private versions: Map<string, { url: string; version: string }>;
  private readonly timer: NodeJS.Timeout;
  private warnedFull = false;

  constructor(
    private readonly policy: WatchPolicy,
    private readonly onChange: (urlPath: string) => void,
    private readonly notice: (message: string) => void,
  ) {
    this.versions = this.look();
    this.timer = setInterval(() => this.compare(), POLL_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private compare(): void {
    const now = this.look();
    for (const [key, entry] of now) {
      if (this.versions.get(key)?.version !== entry.version) this.onChange(entry.url);
    }
    for (const [key, entry] of this.versions) {
      if (!now.has(key)) this.onChange(entry.url);
    }
    this.versions = now;
  }

  /** Every served entry's identity now: a change to any of these is a change to its bytes. */
  private look(): Map<string, { url: string; version: string }> {
    const versions = new Map<string, { url: string; version: string }>();
    const { folders, truncated } = servedFolders({ fsPath: this.policy.rootReal, segments: [] }, this.policy, MAX_POLLED_ENTRIES);
    let full = truncated;
    for (const folder of folders) {
      let names: Buffer[];
      try {
        names = readdirSync(folder.fsPath, { encoding: "buffer" });
      } catch {
        continue;
      }
      for (const name of names) {
        if (!isWatchedName(name, folder.segments, this.policy)) continue;
        if (versions.size >= MAX_POLLED_ENTRIES) {
          full = true;
          break;
        }
        const fsPath = joinBytes(folder.fsPath, [name]);
        const stats = lstatOrUndefined(fsPath);
        if (stats === undefined) continue;
        const slash = stats.isDirectory() ? "/" : "";
        // A folder's own times change with every name added or removed; its files speak for themselves.
        const version = slash ? "folder" : `${stats.ino}-${stats.size}-${stats.mtimeMs}-${stats.ctimeMs}`;
        versions.set(fsPath.toString("latin1"), { url: urlPathOf([...folder.segments, name]) + slash, version });
      }
    }
    if (full && !this.warnedFull) {
      this.warnedFull = true;
      this.notice(`live reload checks the first ${MAX_POLLED_ENTRIES} files only`);
    }
    return versions;
  }
}
