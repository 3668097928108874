/**
 * Options, and the policy decided from them once, when the handler is made: every later step
 * reads its flags from the `Policy`, and none repeats a decision per request.
 */
import { realpathSync, statSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import path from "node:path";
import { makeHostRule, type HostRule } from "./access.js";
import { BasicAuth, type Credentials, type FailureLimiter } from "./auth.js";
import type { AccessLogEntry } from "./log.js";
import type { CompressedFile } from "./compress.js";
import { RevalidatedCache, type CachedFile } from "./files.js";
import type { FolderVersion } from "./folders.js";
import { LiveReload, type LiveChanges } from "./live.js";
import { SEPARATOR } from "./locate.js";
import { PAGE_CSP, type EdgePolicy, type ServedRequest } from "./reply.js";
import { makeUploadPolicy, type UploadPolicy } from "./upload.js";

/** What `createHandler` needs to know. Every field has a safe default. */
export interface HandlerOptions {
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
   * Host names answered besides the built-in ones (IP literals, `localhost` and `*.localhost`, this
   * machine's hostname and `hostname.local`); a request for any other name gets 403, which stops
   * DNS rebinding. `"any"` (or a list holding `"any"`, as `--allowed-host any` gives) turns the
   * check off: for a server behind a proxy that checks names itself. Default: [].
   */
  allowedHosts?: "any" | readonly string[];
  /**
   * Origins (`http://192.168.1.5:8000`) other devices can use, best first. A listing opened through
   * a loopback name (127.0.0.1, [::1], localhost) shows a QR code of the first one instead of its
   * own URL, which a phone cannot use. `startServer` sets it to its network URLs once it listens.
   * Default: none.
   */
  networkOrigins?: () => readonly string[];
  /**
   * Passwords: every request must carry one of these users' credentials (HTTP Basic, RFC 7617),
   * or gets 401. Ten wrong ones from one address within a minute, and that address gets 429 for a
   * minute. CORS preflights (with `cors`) pass without, as browsers send them without credentials.
   * Under Connect/Express, requests this handler would pass to `next()` must authenticate too.
   * Default: none, anyone who can connect may read.
   */
  auth?: Credentials[];
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
   * With `live`: changes told from elsewhere, with the boot id every page should see, instead of a
   * watcher in this process. `--workers` sets it, so one watcher in the primary reaches every
   * worker's pages. Default: this process watches the root itself.
   */
  liveChanges?: LiveChanges;
  /**
   * With `auth`: the wrong-password limiter to use instead of one of this handler's own.
   * `--workers` gives each worker one that also tells the primary, so the limit holds across all.
   */
  authLimiter?: FailureLimiter;
  /**
   * Behind a reverse proxy: take the client's address from `X-Forwarded-For` (its last entry, the
   * one the proxy added) for the access log and the wrong-password limit, instead of the proxy's
   * address. Only for a server that nothing but the proxy can reach: anyone who connects directly
   * could name any address. Default: false (forwarded headers are ignored).
   */
  trustProxy?: boolean;
  /** Called once per finished (or aborted) response. Default: no access log. */
  onResponse?: (entry: AccessLogEntry) => void;
  /** Called for an unexpected error; the client gets a 500. Default: one line on stderr. */
  onError?: (error: unknown, req: ServedRequest) => void;
}

/**
 * The request handler: for `node:http` (and Connect/Express, with `next`), and for `node:http2`'s
 * compatibility API, which HTTPS with HTTP/2 uses. Each request goes with its own kind of response.
 */
export type Handler = {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  (req: Http2ServerRequest, res: Http2ServerResponse): void;
  /**
   * Ends live reload's open event streams and stops its watcher (a no-op without `live`), so a
   * server closing gracefully need not wait for them. `StartedServer.close` calls it.
   */
  close(): void;
  /**
   * Answers a plain-HTTP request that reached an HTTPS port with a redirect to the same URL over
   * `https://`, after the Host check (so it never names another server). `startServer` uses it.
   */
  redirectToHttps(req: IncomingMessage, res: ServerResponse): void;
};

/** Options decided once, when the handler is created, so no request repeats the work. */
export interface Policy extends EdgePolicy {
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
  /** Small files' bytes, at most 32 MiB in 4096 files. */
  cache: RevalidatedCache<CachedFile>;
  /** Folders' names, prepared for listing (their sizes and dates are never kept). */
  folders: RevalidatedCache<FolderVersion>;
  /** Small files' encoded bytes, per coding, at most 16 MiB in 4096 entries. */
  compressed: RevalidatedCache<CompressedFile>;
  /** Sidecars already reported as older than their file (each is reported once). */
  staleSidecars: Set<string>;
  /** Live reload's routes, injection and watcher; null without `live`. */
  live: LiveReload | null;
  /** Who a request comes from: X-Forwarded-For's last entry with `trustProxy`, else the peer (log.ts `requestClient`). */
  trustProxy: boolean;
  /** Which Host names are answered (access.ts). */
  hosts: HostRule;
  /** See `HandlerOptions.networkOrigins`; read per listing, since the server knows them only after listening. */
  networkOrigins: () => readonly string[];
  /** The listings' QR codes, as SVG, per URL (share.ts). */
  shareQrCodes: Map<string, string>;
  /** Who may ask: the users and the wrong-password limiter; null without `auth`. */
  auth: BasicAuth | null;
  /** Uploads: null without `upload`. */
  upload: UploadPolicy | null;
  /** The methods answered, for `Allow`: PUT and POST only with uploads. */
  allow: string;
  /** The CSP of the pages serve-here makes (listings, error pages): see `pageCspFor`. */
  pageCsp: string;
}

/** Generated pages that may run serve-here's own scripts (live reload's, uploads'), and talk to this origin only. */
export const SCRIPTED_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'";

/**
 * The one decision on what generated pages may run: nothing at all (`PAGE_CSP`), unless live
 * reload or uploads put a script of ours in them; even then only scripts from this origin, which
 * talk to this origin only.
 */
export function pageCspFor(options: Pick<HandlerOptions, "live" | "upload">): string {
  return options.live || options.upload ? SCRIPTED_PAGE_CSP : PAGE_CSP;
}

/** The methods a static server answers; others get 405 (or, under Express, next()). */
export const READ_METHODS = "GET, HEAD, OPTIONS";

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
export function makePolicy(options: HandlerOptions): Policy {
  if (!options.upload && (options.overwrite || options.maxUploadBytes !== undefined)) throw new TypeError("overwrite and maxUploadBytes need upload: true");
  const maxUploadBytes = options.maxUploadBytes;
  if (maxUploadBytes !== undefined && !(Number.isSafeInteger(maxUploadBytes) && maxUploadBytes >= 0)) throw new TypeError("maxUploadBytes must be a whole number of bytes");
  const rootReal = realpathSync.native(path.resolve(options.root ?? "."), { encoding: "buffer" });
  if (!statSync(rootReal).isDirectory()) throw Object.assign(new Error("root is not a folder"), { code: "ENOTDIR" });
  const cors = options.cors ?? false;
  const userHeaders = validateExtraHeaders(options.headers ?? {});
  const policy: Policy = {
    rootReal,
    rootPrefix: rootReal.at(-1) === SEPARATOR[0] ? rootReal : Buffer.concat([rootReal, SEPARATOR]),
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
    cache: new RevalidatedCache<CachedFile>(4096, 32 * 1024 * 1024, (entry) => entry.ready.source.data.length),
    folders: new RevalidatedCache<FolderVersion>(64),
    compressed: new RevalidatedCache<CompressedFile>(4096, 16 * 1024 * 1024, (entry) => entry.data.length),
    staleSidecars: new Set(),
    live: null,
    trustProxy: options.trustProxy ?? false,
    hosts: makeHostRule(options.allowedHosts),
    networkOrigins: options.networkOrigins ?? (() => []),
    shareQrCodes: new Map(),
    // An empty list is a mistake, not "no passwords": BasicAuth refuses it rather than serve openly.
    auth: options.auth === undefined ? null : new BasicAuth(options.auth, options.authLimiter),
    upload: null,
    allow: options.upload ? `${READ_METHODS}, PUT, POST` : READ_METHODS,
    pageCsp: pageCspFor(options),
  };
  if (options.upload) policy.upload = makeUploadPolicy(options.overwrite ?? false, maxUploadBytes ?? null, policy);
  // SERVE_HERE_LIVE_POLL=1 makes the watcher poll: for tests, and for file systems without events.
  if (options.live) policy.live = new LiveReload(policy, process.env.SERVE_HERE_LIVE_POLL === "1", options.liveChanges ?? null);
  return policy;
}

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
