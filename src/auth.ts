/**
 * Passwords: HTTP Basic authentication (RFC 7617) on every request, and a limit on wrong guesses.
 *
 * The step runs first in the request path, before anything that could tell a stranger whether a
 * path exists. It answers 401 (no or wrong credentials), 429 (too many wrong ones from this
 * address), or lets the request through. Passwords are compared as digests and never logged: the
 * log learns only which user-id was tried.
 */
import crypto, { timingSafeEqual } from "node:crypto";
import { isIPv6 } from "node:net";
import { clientAddress } from "./log.js";
import { errorPage, withHeaders, type Reply, type ServedRequest } from "./reply.js";

/** One user who may read the files. */
export interface Credentials {
  /** The user-id: not empty, no `:` (RFC 7617 §2: the first colon ends the user-id). */
  user: string;
  /** Not empty. Any characters, `:` and `,` included. */
  password: string;
}

/** Sent with every 401: the realm, and that we read credentials as UTF-8 (RFC 7617 §2.1). */
export const WWW_AUTHENTICATE = 'Basic realm="serve-here", charset="UTF-8"';

/**
 * Longer `Authorization` headers are refused unread: real credentials are a few dozen bytes, and a
 * cap keeps a hostile header from costing a large base64 decode and hash. Node's own header limit
 * (16 KiB in all) answers 431 for far larger ones before we see them.
 */
export const MAX_AUTHORIZATION_LENGTH = 4096;

/** Wrong guesses from one address within `windowMs` before it is refused for `windowMs`. */
export const MAX_FAILURES = 10;
export const FAILURE_WINDOW_MS = 60_000;
/** Addresses the limiter tracks at once; the least recently active is forgotten first. */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** Checks one user-id and password pair as given in options; throws a TypeError saying what is wrong. */
export function validateCredentials({ user, password }: Credentials): void {
  if (typeof user !== "string" || user === "") throw new TypeError("auth: a user-id must not be empty");
  if (user.includes(":")) throw new TypeError("auth: a user-id must not contain ':'");
  if (typeof password !== "string" || password === "") throw new TypeError(`auth: the password for "${user}" must not be empty`);
}

/**
 * `USER:PASSWORD` (from `--auth` or `SERVE_HERE_AUTH`), split at the first colon: a user-id cannot
 * contain one, a password may. Throws a TypeError that never repeats the text (it holds a password).
 */
export function parseCredentials(text: string): Credentials {
  const colon = text.indexOf(":");
  if (colon === -1) throw new TypeError("must look like USER:PASSWORD");
  const credentials = { user: text.slice(0, colon), password: text.slice(colon + 1) };
  validateCredentials(credentials);
  return credentials;
}

/**
 * `SERVE_HERE_AUTH`: one `USER:PASSWORD` per line (a password may hold commas and colons, so only
 * a line break separates users). Blank lines are skipped; a `\r` before a line break is dropped.
 */
export function parseCredentialsList(text: string): Credentials[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .map((line, index) => {
      try {
        return parseCredentials(line);
      } catch (error) {
        throw new TypeError(`user ${index + 1}: ${(error as Error).message.replace(/^auth: /, "")}`);
      }
    });
}

/** What a request's `Authorization` header holds, parsed. */
type Presented =
  | { kind: "none" }
  | { kind: "malformed"; why: string }
  | { kind: "basic"; user: string; password: string };

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
/** Standard base64 with its padding, as RFC 7617 and every browser and curl send it. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses `Authorization` as hostile input: any failure is a value, never a throw. */
export function parseAuthorization(header: string | undefined): Presented {
  if (header === undefined) return { kind: "none" };
  if (header.length > MAX_AUTHORIZATION_LENGTH) return { kind: "malformed", why: "Authorization header too long" };
  // The scheme is case-insensitive (RFC 9110 §11.1); one or more spaces before the token68.
  const match = /^basic(?: +(\S*))? *$/i.exec(header);
  if (!match) return { kind: "malformed", why: "Authorization is not Basic" };
  const token = match[1] ?? "";
  if (token === "") return { kind: "malformed", why: "Basic with no credentials" };
  if (token.length % 4 !== 0 || !BASE64.test(token)) return { kind: "malformed", why: "Basic credentials are not base64" };
  let decoded: string;
  try {
    decoded = STRICT_UTF8.decode(Buffer.from(token, "base64"));
  } catch {
    return { kind: "malformed", why: "Basic credentials are not UTF-8" };
  }
  const colon = decoded.indexOf(":");
  if (colon === -1) return { kind: "malformed", why: "Basic credentials have no ':'" };
  return { kind: "basic", user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The digest both sides are compared by. NFC, because RFC 7617 §2.1 with charset="UTF-8" asks for
 * it (RFC 8265's profiles): an "é" typed as one code point or as e plus an accent is the same.
 * A user-id has no colon, so `user:password` names exactly one pair.
 */
function digest(user: string, password: string): Buffer {
  return sha256(`${user.normalize("NFC")}:${password.normalize("NFC")}`);
}

/**
 * One-shot `crypto.hash` (Node 20.12+) takes half the time of a `createHash` object, and this runs
 * on every request; older Node 20 releases get the object.
 */
const sha256: (text: string) => Buffer =
  typeof crypto.hash === "function" ? (text) => crypto.hash("sha256", text, "buffer") : (text) => crypto.createHash("sha256").update(text).digest();

/** The access-log note names the user-id tried (escaped by the log), shortened: never a password. */
const MAX_USER_IN_NOTE = 64;

function describeUser(user: string): string {
  return JSON.stringify(user.length > MAX_USER_IN_NOTE ? `${user.slice(0, MAX_USER_IN_NOTE)}…` : user);
}

const UNAUTHORIZED: Reply = withHeaders(errorPage(401), { "WWW-Authenticate": WWW_AUTHENTICATE });

/** `Authorization` values already found right, kept so the next request need not hash again. */
const MAX_REMEMBERED_CREDENTIALS = 64;

/** The users allowed, as digests, and the limiter: the access step for `--auth`. */
export class BasicAuth {
  private readonly digests: readonly Buffer[];
  readonly userCount: number;
  /**
   * Exact header values that matched a user. The SHA-256 was most of what a password cost a 1 KiB
   * request; a browser sends the same value every time, so a repeat costs one lookup. This reveals
   * nothing by its timing: only right values are kept, so a hit says what the 200 says anyway, and
   * a miss (a hash-table lookup, which compares strings only when their hashes collide) says
   * nothing about how close a wrong value came before the constant-time comparison runs.
   */
  private readonly remembered = new Set<string>();

  constructor(
    users: readonly Credentials[],
    readonly limiter: FailureLimiter = new FailureLimiter(),
  ) {
    if (users.length === 0) throw new TypeError("auth: give at least one user");
    users.forEach(validateCredentials);
    const names = new Set<string>();
    for (const { user } of users) {
      const name = user.normalize("NFC");
      if (names.has(name)) throw new TypeError(`auth: user "${user}" is given twice`);
      names.add(name);
    }
    this.digests = users.map(({ user, password }) => digest(user, password));
    this.userCount = users.length;
  }

  /**
   * null when the request may go on; else the refusal. A blocked address is refused before its
   * credentials are even read, so the right password does not help it until the block ends.
   * `address` is who the request comes from (log.ts `requestClient`: behind a trusted proxy, the
   * forwarded client, or every client of the proxy would share one count).
   */
  check(req: ServedRequest, address = clientAddress(req.socket)): Reply | null {
    const blockedMs = this.limiter.blockedFor(address);
    if (blockedMs > 0) {
      const seconds = Math.ceil(blockedMs / 1000);
      return { ...withHeaders(errorPage(429), { "Retry-After": String(seconds) }), note: `${MAX_FAILURES} wrong passwords from this address; refused for ${seconds} s` };
    }
    const header = req.headers.authorization;
    if (header !== undefined && this.remembered.has(header)) return null;
    const presented = parseAuthorization(header);
    // A browser asks without credentials first, and a malformed header guesses nothing: neither counts.
    if (presented.kind === "none") return { ...UNAUTHORIZED, note: "no credentials" };
    if (presented.kind === "malformed") return { ...UNAUTHORIZED, note: presented.why };
    if (this.matches(digest(presented.user, presented.password))) {
      // Spellings of the same credentials ("basic", more spaces) are few, but a hostile client with a
      // password could send many: start afresh rather than grow.
      if (this.remembered.size >= MAX_REMEMBERED_CREDENTIALS) this.remembered.clear();
      this.remembered.add(header!);
      return null;
    }
    this.limiter.recordFailure(address);
    return { ...UNAUTHORIZED, note: `wrong credentials for ${describeUser(presented.user)}` };
  }

  /** How many right `Authorization` values are remembered (at most 64). */
  get rememberedCount(): number {
    return this.remembered.size;
  }

  /**
   * Compares against every user, in constant time each, and never stops early: how long it takes
   * tells nothing about which user-ids exist or how much of a password was right.
   */
  private matches(presented: Buffer): boolean {
    let found = false;
    for (const expected of this.digests) found = timingSafeEqual(presented, expected) || found;
    return found;
  }
}

/** What the limiter knows of one address. */
interface FailureRecord {
  /** When the current counting window began. */
  windowStart: number;
  failures: number;
  /** Refused until then (0: not refused). */
  blockedUntil: number;
}

export interface FailureLimiterOptions {
  maxFailures?: number;
  windowMs?: number;
  maxAddresses?: number;
  /** The clock, in milliseconds. Default: `Date.now`; tests pass their own to step a minute. */
  now?: () => number;
  /**
   * Told of each wrong password counted here. `--workers` tells the primary, which counts every
   * worker's and sends a block back to all of them (`block`). Default: nobody.
   */
  onFailure?: (address: string) => void;
}

/**
 * Counts wrong passwords per address: `maxFailures` within `windowMs` and the address is refused
 * for `windowMs`. Memory is bounded: at most `maxAddresses` records, kept in order of last
 * activity, so the least recently active is dropped first and expired ones are swept from the front.
 *
 * IPv6 addresses count by their /64, which one host usually holds whole: otherwise a single
 * machine could guess from 2^64 addresses and never be counted twice.
 */
export class FailureLimiter {
  private readonly records = new Map<string, FailureRecord>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly onFailure: ((address: string) => void) | undefined;

  constructor(options: FailureLimiterOptions = {}) {
    this.maxFailures = options.maxFailures ?? MAX_FAILURES;
    this.windowMs = options.windowMs ?? FAILURE_WINDOW_MS;
    this.maxAddresses = options.maxAddresses ?? MAX_TRACKED_ADDRESSES;
    this.now = options.now ?? Date.now;
    this.onFailure = options.onFailure;
  }

  /** How many addresses are tracked now. */
  get size(): number {
    return this.records.size;
  }

  /** Milliseconds `address` is still refused for; 0 when it is not. */
  blockedFor(address: string): number {
    if (this.records.size === 0) return 0; // the common case: nobody has guessed wrong
    const record = this.records.get(limiterKey(address));
    return record === undefined ? 0 : Math.max(0, record.blockedUntil - this.now());
  }

  recordFailure(address: string): void {
    const now = this.now();
    this.sweep(now);
    const key = limiterKey(address);
    let record = this.records.get(key);
    // A blocked address never gets here, so a record past its window has no block left either.
    if (record === undefined || now - record.windowStart >= this.windowMs) record = { windowStart: now, failures: 0, blockedUntil: 0 };
    record.failures++;
    if (record.failures >= this.maxFailures) record.blockedUntil = now + this.windowMs;
    this.keep(key, record);
    this.onFailure?.(address);
  }

  /** Refuses `address` until `untilMs` (a time of the clock), as if it had guessed wrong too often here. */
  block(address: string, untilMs: number): void {
    const now = this.now();
    this.sweep(now);
    const key = limiterKey(address);
    const record = this.records.get(key) ?? { windowStart: now, failures: this.maxFailures, blockedUntil: 0 };
    record.blockedUntil = Math.max(record.blockedUntil, untilMs);
    this.keep(key, record);
  }

  /** Puts the record last (the Map's order is the order of last activity), forgetting the least recently active past the bound. */
  private keep(key: string, record: FailureRecord): void {
    this.records.delete(key);
    if (this.records.size >= this.maxAddresses) this.records.delete(this.records.keys().next().value!);
    this.records.set(key, record);
  }

  /** Drops records from the front (least recently active) while they have nothing left to say. */
  private sweep(now: number): void {
    for (const [key, record] of this.records) {
      if (now - record.windowStart < this.windowMs || now < record.blockedUntil) return;
      this.records.delete(key);
    }
  }
}

/** The key an address counts under: itself for IPv4, its /64 for IPv6. */
export function limiterKey(address: string): string {
  const bare = address.replace(/%.*$/, ""); // a zone (`fe80::1%eth0`) is not part of the address
  if (!isIPv6(bare)) return address;
  const [head = "", tail] = bare.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  // A trailing dotted IPv4 part (`64:ff9b::1.2.3.4`) stands for two groups.
  const groupCount = (groups: string[]) => groups.reduce((sum, group) => sum + (group.includes(".") ? 2 : 1), 0);
  const missing = Array<string>(Math.max(0, 8 - groupCount(headGroups) - groupCount(tailGroups))).fill("0");
  const groups = tail === undefined ? headGroups : [...headGroups, ...missing, ...tailGroups];
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(":")}::/64`;
}

/** A reply of the access step (401, 429): it must not lead the browser to ask again for more. */
export function refusesAccess(reply: Reply): boolean {
  return reply.status === 401 || reply.status === 429;
}
