/**
 * WebDAV write locks (RFC 4918 §6, §7): the server's table of live locks, held in memory only.
 *
 * Resources are named by path keys: the request path's decoded segments joined with "/", no leading
 * or trailing slash, the root "". A lock with depth infinity covers its root and every descendant;
 * one with depth 0 covers its root alone. Locks expire by the clock; an expired lock is forgotten
 * the first time it is met, so it never counts for a conflict, a listing or the MAX_LOCKS cap.
 */
import { randomUUID } from "node:crypto";

export type LockScope = "exclusive" | "shared";
export type LockDepth = "0" | "infinity";

export interface ActiveLock {
  /** "urn:uuid:" + a random UUID: unique across time, as RFC 4918 §6.5 asks. */
  readonly token: string;
  /** The lock root's path key. */
  key: string;
  readonly scope: LockScope;
  readonly depth: LockDepth;
  /** The owner element's content as XML, as the client sent it ("" for none). */
  readonly owner: string;
  timeoutSeconds: number;
  /** Milliseconds, by the table's clock. */
  expiresAt: number;
}

/** The longest timeout granted; a request for "Infinite" gets this too, so a forgotten lock ends. */
export const MAX_LOCK_SECONDS = 3600;
/** So that a flood of LOCKs cannot grow memory without bound. */
export const MAX_LOCKS = 10_000;

export interface LockRequest {
  scope: LockScope;
  depth: LockDepth;
  owner: string;
  timeoutSeconds: number;
}

export class LockTable {
  private readonly byTokenMap = new Map<string, ActiveLock>();
  /** The locks rooted at each key; a key with none has no entry. */
  private readonly byKey = new Map<string, Set<ActiveLock>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Live locks that cover `key`: on it, or on an ancestor with depth infinity. Expired locks are dropped as met. */
  covering(key: string): ActiveLock[] {
    const found: ActiveLock[] = [];
    for (const ancestor of ancestorsOf(key)) {
      for (const lock of this.liveAt(ancestor)) if (lock.depth === "infinity") found.push(lock);
    }
    found.push(...this.liveAt(key));
    return found;
  }

  /** Live locks on `key` or on any descendant of it. */
  within(key: string): ActiveLock[] {
    const found: ActiveLock[] = [];
    // Every locked key is looked at: there are at most MAX_LOCKS, and this runs for a LOCK of
    // depth infinity, a DELETE or a MOVE, not for every read.
    for (const lockedKey of [...this.byKey.keys()]) {
      if (lockedKey === key || isDescendant(lockedKey, key)) found.push(...this.liveAt(lockedKey));
    }
    return found;
  }

  /** The live lock with this token, if any. */
  byToken(token: string): ActiveLock | undefined {
    const lock = this.byTokenMap.get(token);
    return lock && this.isLive(lock) ? lock : undefined;
  }

  /**
   * A new lock, or the lock it conflicts with (RFC 4918 §6.2, §7.4): an exclusive lock conflicts with
   * any lock covering `key`, and, for depth infinity, with any lock within it; a shared lock conflicts
   * only with exclusive ones found the same way. "full" when MAX_LOCKS live locks exist.
   */
  acquire(key: string, request: LockRequest): ActiveLock | { conflict: ActiveLock } | "full" {
    const conflict = this.conflictFor(key, request);
    if (conflict) return { conflict };
    if (this.isFull()) return "full";
    const timeoutSeconds = clampTimeout(request.timeoutSeconds);
    const lock: ActiveLock = {
      token: `urn:uuid:${randomUUID()}`,
      key,
      scope: request.scope,
      depth: request.depth,
      owner: request.owner,
      timeoutSeconds,
      expiresAt: this.now() + timeoutSeconds * 1000,
    };
    this.add(lock);
    return lock;
  }

  /**
   * A refresh (RFC 4918 §9.10.2): the lock with `token` must cover `key`, which may be a member of a
   * depth-infinity lock rather than its root (litmus's indirect_refresh). Null when no such live lock does.
   */
  refresh(token: string, key: string, timeoutSeconds: number): ActiveLock | null {
    const lock = this.byToken(token);
    if (!lock || !covers(lock, key)) return null;
    lock.timeoutSeconds = clampTimeout(timeoutSeconds);
    lock.expiresAt = this.now() + lock.timeoutSeconds * 1000;
    return lock;
  }

  /** UNLOCK (RFC 4918 §9.11): releases the lock with `token` if it covers `key`; false otherwise. */
  release(token: string, key: string): boolean {
    const lock = this.byToken(token);
    if (!lock || !covers(lock, key)) return false;
    this.remove(lock);
    return true;
  }

  /** Forgets every lock rooted at `key` or below it: after a DELETE, or for a MOVE's source. */
  forgetWithin(key: string): void {
    for (const [lockedKey, locks] of [...this.byKey]) {
      if (lockedKey === key || isDescendant(lockedKey, key)) for (const lock of [...locks]) this.remove(lock);
    }
  }

  private conflictFor(key: string, request: LockRequest): ActiveLock | undefined {
    const candidates = this.covering(key);
    if (request.depth === "infinity") candidates.push(...this.within(key).filter((lock) => lock.key !== key));
    // Shared locks live together; anything meets an exclusive one, and an exclusive one meets anything.
    return candidates.find((lock) => request.scope === "exclusive" || lock.scope === "exclusive");
  }

  /** At the cap, expired locks nobody has met yet are swept first: only live ones count. */
  private isFull(): boolean {
    if (this.byTokenMap.size < MAX_LOCKS) return false;
    for (const lock of [...this.byTokenMap.values()]) this.isLive(lock);
    return this.byTokenMap.size >= MAX_LOCKS;
  }

  /** The live locks rooted at `key`, forgetting the expired ones found there. */
  private liveAt(key: string): ActiveLock[] {
    const locks = this.byKey.get(key);
    return locks ? [...locks].filter((lock) => this.isLive(lock)) : [];
  }

  private isLive(lock: ActiveLock): boolean {
    if (this.now() < lock.expiresAt) return true;
    this.remove(lock);
    return false;
  }

  private add(lock: ActiveLock): void {
    this.byTokenMap.set(lock.token, lock);
    let locks = this.byKey.get(lock.key);
    if (!locks) this.byKey.set(lock.key, (locks = new Set()));
    locks.add(lock);
  }

  private remove(lock: ActiveLock): void {
    this.byTokenMap.delete(lock.token);
    const locks = this.byKey.get(lock.key);
    locks?.delete(lock);
    if (locks?.size === 0) this.byKey.delete(lock.key);
  }
}

/** Whether `lock` covers `key`: its root, or a descendant of its root when the depth is infinity. */
function covers(lock: ActiveLock, key: string): boolean {
  return lock.key === key || (lock.depth === "infinity" && isDescendant(key, lock.key));
}

function isDescendant(key: string, ancestor: string): boolean {
  return ancestor === "" ? key !== "" : key.startsWith(ancestor + "/");
}

/** The proper ancestors of `key`, the root first: "a/b/c" gives "", "a", "a/b"; the root has none. */
function ancestorsOf(key: string): string[] {
  if (key === "") return [];
  const segments = key.split("/");
  const ancestors = [""];
  for (let i = 1; i < segments.length; i++) ancestors.push(segments.slice(0, i).join("/"));
  return ancestors;
}

function clampTimeout(seconds: number): number {
  if (!Number.isFinite(seconds)) return MAX_LOCK_SECONDS;
  return Math.min(MAX_LOCK_SECONDS, Math.max(1, Math.floor(seconds)));
}

/**
 * The `Timeout` request header (RFC 4918 §10.7): a comma list of `Second-N` or `Infinite`, the
 * client's preferences in order. The server may grant any timeout (§6.6); we take the first element
 * we can read, clamped to [1, MAX_LOCK_SECONDS]. A missing header, or one with nothing readable,
 * gets MAX_LOCK_SECONDS. The literals are matched without regard to case, as ABNF strings are.
 */
export function parseTimeout(value: string | undefined): number {
  if (value === undefined) return MAX_LOCK_SECONDS;
  for (const element of value.split(",")) {
    const seconds = readTimeType(element.trim());
    if (seconds !== null) return clampTimeout(seconds);
  }
  return MAX_LOCK_SECONDS;
}

function readTimeType(element: string): number | null {
  if (/^infinite$/i.test(element)) return MAX_LOCK_SECONDS;
  const match = /^second-(\d+)$/i.exec(element);
  // Second-0 is read (and becomes 1 s); a value past 2^32-1, which §10.7 forbids, is still clamped.
  return match ? Number(match[1]) : null;
}
