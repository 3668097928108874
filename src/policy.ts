/**
 * Options, and the policy decided from them once, when the handler is made: every later step
 * reads its flags from the `Policy`, and none repeats a decision per request.
 *
 * A leaf: it imports no module of ours. It holds plain decided values (flags, limits, header
 * lists); the state that options call for (caches, the host rule, passwords, live reload, the
 * upload script) is built beside it in `handler.ts` and handed to the steps that use it.
 */
import { realpathSync, statSync } from "node:fs";
import http from "node:http";
import path from "node:path";

/** The options that decide the `Policy`: plain values, each with a safe default. `HandlerOptions` adds the rest. */
export interface PolicyOptions {
  /** Folder to serve. Default: the current working folder. */
  root?: string;
  /** Serve and list names starting with `.`. Default: false (`/.well-known/` is always served). */
  dotfiles?: boolean;
  /** Serve symlinks whose target lies outside the root. Default: false (such links answer 404). */
  followSymlinks?: boolean;
  /** Render an HTML listing for folders without `index.html`. Default: true. */
  listing?: boolean;
  /** Add `Access-Control-Allow-Origin: *` and answer CORS preflights. Default: false. */
  cors?: boolean;
  /** Extra headers on every response, e.g. `{ "X-Frame-Options": "DENY" }`. Default: none. */
  headers?: Record<string, string>;
  /** `Cache-Control: max-age=N` for files. Default: undefined, which sends `no-cache`. */
  cacheSeconds?: number;
  /** Answer `/x` from `x.html` when `x` names nothing, as static hosts do. Default: true. */
  cleanUrls?: boolean;
  /** Answer a navigation to a path that names nothing with the root's `index.html`. Default: false. */
  spa?: boolean;
  /**
   * Compress text-like files of 1 KiB or more with the best coding the client accepts (br, zstd
   * where Node has it, gzip), and serve precompressed `name.br`/`.zst`/`.gz` sidecars not older
   * than `name`. Default: true. false: every body is the requested file's own bytes.
   */
  compress?: boolean;
  /**
   * Live reload: HTML pages opened in a browser get a script that reloads them when a file under
   * the root changes (a stylesheet is swapped without a reload). Serves `/__serve-here/live.js` and
   * `/__serve-here/events`; files are watched only while a page listens. Default: false.
   */
  live?: boolean;
  /**
   * Accept uploads: `PUT /dir/name` stores the body as `dir/name` (missing folders are made),
   * `POST /dir/` with `multipart/form-data` stores each file of the form in `dir/`, and listings
   * get an upload form (`/__serve-here/upload.js` adds progress and drag-and-drop). Writes from
   * pages of other sites are refused. Default: false: PUT and POST answer 405.
   */
  upload?: boolean;
  /**
   * With `upload`: an upload may replace an existing file (atomically, by rename). Default: false:
   * a PUT onto an existing name is 409, and a form's file lands as `name (1).ext`.
   */
  overwrite?: boolean;
  /** With `upload`: the most bytes one request body may carry; more is 413. Default: no limit. */
  maxUploadBytes?: number;
  /**
   * Behind a reverse proxy: take the client's address from `X-Forwarded-For` (its last entry, the
   * one the proxy added) for the access log and the wrong-password limit, instead of the proxy's
   * address. Only for a server that nothing but the proxy can reach: anyone who connects directly
   * could name any address. Default: false (forwarded headers are ignored).
   */
  trustProxy?: boolean;
}

/** What the options decide about uploads: null in a `Policy` without `upload`. */
export interface UploadRules {
  /** Replace an existing file (atomically) instead of refusing (PUT) or numbering (forms). */
  overwrite: boolean;
  /** The most bytes one request body may carry; null: no limit. */
  maxBytes: number | null;
}

/** Options decided once, when the handler is created, so no request repeats the work. */
export interface Policy {
  rootReal: Buffer;
  /** `rootReal` plus a trailing separator: `root-secret` must not pass for `root`. */
  rootPrefix: Buffer;
  dotfiles: boolean;
  followSymlinks: boolean;
  listing: boolean;
  cors: boolean;
  cacheControl: string;
  cleanUrls: boolean;
  spa: boolean;
  /** On-the-fly compression and sidecars, and `Vary: Accept-Encoding` on every file response. */
  compress: boolean;
  /** Headers added to every reply, as name, value, name, value…: nosniff, CORS, then the user's (reply.ts `EdgePolicy`). */
  edgeHeaders: readonly string[];
  /** Lower-cased names of the user's headers, which replace ours of the same name. */
  userHeaderNames: ReadonlySet<string>;
  /** Live reload is on: HTML navigations get its script, and vary on whether they are navigations. */
  live: boolean;
  /** Who a request comes from: X-Forwarded-For's last entry with `trustProxy`, else the peer (log.ts `requestClient`). */
  trustProxy: boolean;
  /** Uploads: null without `upload`. */
  upload: UploadRules | null;
  /** The methods answered, for `Allow`: PUT and POST only with uploads. */
  allow: string;
  /** The CSP of the pages serve-here makes (listings, error pages): see `pageCspFor`. */
  pageCsp: string;
}

/** Generated pages carry no script and load nothing; inline CSS is all they need. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'";

/** Generated pages that may run serve-here's own scripts (live reload's, uploads'), and talk to this origin only. */
export const SCRIPTED_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'";

/**
 * The one decision on what generated pages may run: nothing at all (`PAGE_CSP`), unless live
 * reload or uploads put a script of ours in them; even then only scripts from this origin, which
 * talk to this origin only.
 */
export function pageCspFor(options: Pick<PolicyOptions, "live" | "upload">): string {
  return options.live || options.upload ? SCRIPTED_PAGE_CSP : PAGE_CSP;
}

/** The methods a static server answers; others get 405 (or, under Express, next()). */
export const READ_METHODS = "GET, HEAD, OPTIONS";
/** Every URL takes these without --upload: reading, WebDAV's PROPFIND included (webdav.ts). */
export const DAV_READ_METHODS = `${READ_METHODS}, PROPFIND`;
/** What --upload adds: uploads (upload.ts) and WebDAV's writes (webdav.ts). */
export const WRITE_METHODS = "PUT, POST, DELETE, MKCOL, COPY, MOVE, PROPPATCH, LOCK, UNLOCK";

/**
 * The limit on a whole request, head and body (server.ts), and on a silent upload body (writes.ts):
 * 30 s. Uploads are exempt from the first: they end only after this long without a byte.
 */
export const WHOLE_REQUEST_MS = 30_000;

/**
 * A test knob, not an option: `SERVE_HERE_TEST_TIMEOUT_MS=N` makes both 30 s limits above N ms, so a
 * suite can watch a slow client be cut (or not) in a second. Undefined when unset or malformed.
 */
export function testTimeoutMs(): number | undefined {
  const value = process.env.SERVE_HERE_TEST_TIMEOUT_MS;
  return value !== undefined && /^\d{1,9}$/.test(value) && Number(value) > 0 ? Number(value) : undefined;
}

/** Headers a user may not set with `headers`: they would break framing or the connection. */
const FORBIDDEN_EXTRA_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "content-range", "trailer"]);

/** Checks `headers` from options; throws a TypeError that names the bad one. */
export function validateExtraHeaders(headers: Record<string, string>): Array<[string, string]> {
  return Object.entries(headers).map(([name, value]) => {
    http.validateHeaderName(name);
    http.validateHeaderValue(name, value);
    if (FORBIDDEN_EXTRA_HEADERS.has(name.toLowerCase())) throw new TypeError(`header ${name} cannot be set`);
    return [name, value];
  });
}

/** Decides everything the options decide, once. Throws when the root is not a folder, or on options that need `upload` without it. */
export function makePolicy(options: PolicyOptions): Policy {
  if (!options.upload && (options.overwrite || options.maxUploadBytes !== undefined)) throw new TypeError("overwrite and maxUploadBytes need upload: true");
  const maxUploadBytes = options.maxUploadBytes;
  if (maxUploadBytes !== undefined && !(Number.isSafeInteger(maxUploadBytes) && maxUploadBytes >= 0)) throw new TypeError("maxUploadBytes must be a whole number of bytes");
  const rootReal = realpathSync.native(path.resolve(options.root ?? "."), { encoding: "buffer" });
  if (!statSync(rootReal).isDirectory()) throw Object.assign(new Error("root is not a folder"), { code: "ENOTDIR" });
  const separator = Buffer.from(path.sep);
  const cors = options.cors ?? false;
  const userHeaders = validateExtraHeaders(options.headers ?? {});
  return {
    rootReal,
    rootPrefix: rootReal.at(-1) === separator[0] ? rootReal : Buffer.concat([rootReal, separator]),
    dotfiles: options.dotfiles ?? false,
    followSymlinks: options.followSymlinks ?? false,
    listing: options.listing ?? true,
    cors,
    cacheControl: options.cacheSeconds === undefined ? "no-cache" : `max-age=${Math.max(0, Math.floor(options.cacheSeconds))}`,
    cleanUrls: options.cleanUrls ?? true,
    spa: options.spa ?? false,
    compress: options.compress ?? true,
    edgeHeaders: edgeHeaders(cors, userHeaders),
    userHeaderNames: new Set(userHeaders.map(([name]) => name.toLowerCase())),
    live: options.live ?? false,
    trustProxy: options.trustProxy ?? false,
    upload: options.upload ? { overwrite: options.overwrite ?? false, maxBytes: maxUploadBytes ?? null } : null,
    allow: options.upload ? `${DAV_READ_METHODS}, ${WRITE_METHODS}` : DAV_READ_METHODS,
    pageCsp: pageCspFor(options),
  };
}

/**
 * On HTTP/2, the most handed to a stream in one write (reply.ts), one write at a time, and so the
 * most a reset stream can leave counted against its session's memory (tls.ts). node:http2 counts a
 * write against `maxSessionMemory` until nghttp2 has cut it into DATA frames, and when the client
 * resets the stream it drops what was still uncut without giving that back (Http2Stream::Destroy,
 * Node 20, 22 and 24 alike): with 64 KiB writes a download cancelled at its first bytes leaves
 * 48-64 KiB counted, and after about 215 of them Node's default 10 MB is passed. 16 KiB writes (one
 * DATA frame each) leave almost nothing, but one 64 MiB download went 25% slower with them
 * (630 MB/s against 830, Node 20), so writes stay at 64 KiB and tls.ts raises the limit instead.
 */
export const HTTP2_MAX_WRITE = 64 * 1024;

/** Headers every reply carries: nosniff, CORS when asked for, and the user's own. */
export function edgeHeaders(cors: boolean, userHeaders: ReadonlyArray<readonly [string, string]>): string[] {
  const ours: Array<[string, string]> = [["X-Content-Type-Options", "nosniff"]];
  if (cors) {
    ours.push(["Access-Control-Allow-Origin", "*"]);
    ours.push(["Access-Control-Expose-Headers", "Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges"]);
  }
  const replaced = new Set(userHeaders.map(([name]) => name.toLowerCase()));
  return [...ours.filter(([name]) => !replaced.has(name.toLowerCase())), ...userHeaders].flat();
}
