/**
 * serve-here's request path, top to bottom: each step is one call into the module that owns it.
 *
 *   who may ask: the Host check (access.ts), then passwords (auth.ts) →
 *   resumable uploads with --upload (tus.ts) | uploads, PUT and POST with --upload (upload.ts, its own steps) |
 *   method → target → serve-here's own routes (live.ts, upload.ts) → segments, dot segments
 *   redirected to their normal form (target.ts) →
 *   file or folder (locate.ts) → nothing there: clean URL or SPA fallback (fallbacks.ts) →
 *   folder: zip (archive.ts), index or listing (folders.ts) | file: version (files.ts) →
 *   representation: live script (live.ts), then coding (compress.ts) → preconditions (conditional.ts) →
 *   ranges, of the file's own bytes only (ranges.ts) → Reply → the wire (reply.ts)
 *   Pages we make (listings, error pages), wherever made, last: live script (live.ts), coding
 *   and ETag (compress.ts), a listing's If-None-Match (conditional.ts) (`finishedPage`).
 *
 * `createHandler(options)` gives a `(req, res, next?)` function for `node:http` or Connect/Express,
 * and for `node:http2`'s compatibility API (HTTPS with HTTP/2: server.ts, tls.ts).
 * Every reply is decided whole before a byte is written, and only `reply.ts` writes it.
 */
import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { hostRefusal, httpsRedirect, makeHostRule, type HostRule } from "./access.js";
import { archiveReply, archiveRequested } from "./archive.js";
import { BasicAuth, refusesAccess } from "./auth.js";
import { chooseRepresentation, encodePage, Encodings, releaseRepresentation, type Origin, type Representation } from "./compress.js";
import { checkPreconditions, headerText, ifRangeAllowsPartial } from "./conditional.js";
import { newFileCache, readyFile, varyFor, type FileCache, type ReadyFile } from "./files.js";
import { cleanUrlCandidate, describeSegments, SPA_CACHE_CONTROL, SPA_INDEX } from "./fallbacks.js";
import { findIndex, listingReply, newFolderCache, type FolderCache } from "./folders.js";
import { Http2Request } from "./http2-request.js";
import { LiveReload } from "./live.js";
import { locate, statusForError, tryFs, type Found } from "./locate.js";
import { defaultOnError, requestClient } from "./log.js";
import { isNavigation } from "./navigation.js";
import type { Handler, HandlerOptions } from "./options.js";
import { DAV_READ_METHODS, makePolicy, PAGE_CSP, READ_METHODS, type Policy } from "./policy.js";
import { multipartReply, parseRangeHeader } from "./ranges.js";
import { bodyFrom, closingIfLargeUnread, closingIfUnread, EMPTY, emptyReply, errorPage, isCompatibilityResponse, isGeneratedPage, loggedStatus, newProgress, releaseSource, responseCompleted, sendContinue, sendReply, withHeaders, type Body, type Progress, type Reply, type ServedRequest, type ServedResponse } from "./reply.js";
import { ShareCodes } from "./share.js";
import { folderLocation, reservedName, resolveTargetPath, type TargetPath } from "./target.js";
import { isUploadMethod, receiveUpload, UPLOAD_SCRIPT_NAME, uploadScript } from "./upload.js";
import { isTusRequest, Tus, tusOptionsHeaders } from "./tus.js";
import { DAV_METHODS, davOptionsHeaders, WebDav } from "./webdav.js";
import { Placeholders } from "./writes.js";

/**
 * What the steps share besides the policy: the state its options call for, built once with the
 * handler (`makeSteps`) and handed down the request path to the steps that use it.
 */
interface Steps {
  policy: Policy;
  /** Which Host names are answered (access.ts). */
  hosts: HostRule;
  /** Who may ask: the users and the wrong-password limiter; null without `auth`. */
  auth: BasicAuth | null;
  /** Small files' bytes (files.ts). */
  files: FileCache;
  /** Small files' encoded bytes, stale sidecars already reported, generated pages' ETags and encodings (compress.ts). */
  encodings: Encodings;
  /** Folders' names, prepared for listing (folders.ts). */
  folders: FolderCache;
  /** The listings' "Open on another device" URLs and QR codes (share.ts). */
  share: ShareCodes;
  /** Live reload's routes, injection and watcher; null without `live`. */
  live: LiveReload | null;
  /** `/__serve-here/upload.js`; null without `upload`. */
  uploadScript: ReadyFile | null;
  /** WebDAV's methods, locks and dead properties (webdav.ts). */
  dav: WebDav;
  /** Resumable uploads (tus.ts); null without `upload`. */
  tus: Tus | null;
  /** Empty files made for a client to fill, which a drop box lets it fill (writes.ts). */
  placeholders: Placeholders;
}

function makeSteps(options: HandlerOptions): Steps {
  const policy = makePolicy(options);
  const files = newFileCache();
  const placeholders = new Placeholders();
  const dav = new WebDav(policy, placeholders);
  return {
    policy,
    hosts: makeHostRule(options.allowedHosts),
    // An empty list is a mistake, not "no passwords": BasicAuth refuses it rather than serve openly.
    auth: options.auth === undefined ? null : new BasicAuth(options.auth, options.authLimiter),
    files,
    encodings: new Encodings(files),
    folders: newFolderCache(),
    share: new ShareCodes(options.networkOrigins ?? (() => [])),
    // SERVE_HERE_LIVE_POLL=1 makes the watcher poll: for tests, and for file systems without events.
    live: policy.live ? new LiveReload(policy, process.env.SERVE_HERE_LIVE_POLL === "1", options.liveChanges ?? null) : null,
    uploadScript: policy.upload ? uploadScript(policy) : null,
    dav,
    tus: policy.upload ? new Tus(policy, policy.upload, (req, folder, name) => dav.additionRefusal(req, folder, name)) : null,
    placeholders,
  };
}

/** The methods every URL answers without uploads (reading, WebDAV's PROPFIND too); others get 405 (or, under Express, next()). */
export const ALLOW = DAV_READ_METHODS;

/** Request targets seen recently, resolved: the same URL always resolves the same way. */
const MAX_REMEMBERED_TARGETS = 1000;

/** Builds the request handler. Decides everything it can once, here, rather than per request. */
export async function createHandler(options: HandlerOptions = {}): Promise<Handler> {
  const steps = makeSteps(options);
  const policy = steps.policy;
  const onError = options.onError ?? defaultOnError;
  const onResponse = options.onResponse;
  const targets = new Map<string, TargetPath>();
  const resolveTarget = (url: string): TargetPath => {
    let target = targets.get(url);
    if (target === undefined) {
      target = resolveTargetPath(url, policy.dotfiles);
      if (targets.size >= MAX_REMEMBERED_TARGETS) targets.clear();
      targets.set(url, target);
    }
    return target;
  };

  /** An unexpected error: reported, and a 500 unless the head went out already (then the connection is cut). */
  function fail(error: unknown, req: ServedRequest, res: ServedResponse, progress: Progress): void {
    onError(error, req);
    if (res.headersSent) return void res.destroy();
    sendReply(req, res, errorPage(500), policy, progress);
  }

  /** With `onResponse`: logs the response once it ends. */
  function logWhenDone(req: ServedRequest, res: ServedResponse, progress: Progress): void {
    if (onResponse) {
      const started = performance.now();
      const client = requestClient(req, policy.trustProxy); // now: a destroyed socket no longer knows its peer
      res.once("close", () => {
        onResponse({
          time: new Date(),
          client,
          method: req.method ?? "-",
          url: req.url ?? "",
          status: loggedStatus(res, progress),
          bytes: progress.bytes,
          note: progress.note,
          ms: performance.now() - started,
          completed: responseCompleted(res),
        });
      });
    }
  }

  /** node:http's request (and Connect/Express's `next`), or node:http2's compatibility objects, whose stream is served as `serveStream` would. */
  function serveHere(req: ServedRequest | Http2ServerRequest, res: ServedResponse | Http2ServerResponse, next?: (err?: unknown) => void): void {
    if (isCompatibilityResponse(res)) return serveStream(res.stream, req.headers, 0, req.rawHeaders);
    serve(req as ServedRequest, res, next);
  }

  /**
   * An HTTP/2 stream, as node:http2's `stream` event gives it. An expectation other than
   * `100-continue` gets 417, as node:http and node:http2's compatibility layer answer it.
   */
  function serveStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]): void {
    // A stream's errors (the session's protocol errors, or Node's own, reach every stream of it)
    // end it, and its 'close' is logged; unheard, one would end the process. node:http2's
    // compatibility objects listen the same way.
    stream.on("error", ignoreStreamError);
    const req = new Http2Request(stream, headers, rawHeaders);
    const expect = headers.expect;
    if (expect === undefined || expect.toLowerCase() === "100-continue") return serve(req, stream);
    answerAlone(req, stream, () => ({ ...emptyReply(417, {}), note: "Expect other than 100-continue" }));
  }

  function serve(req: ServedRequest, res: ServedResponse, next?: (err?: unknown) => void): void {
    const progress = newProgress();
    logWhenDone(req, res, progress);
    // The error callback is made only where a promise needs one: a closure on every request is
    // garbage the scavenger must sweep, and a 1 KiB answer makes little else of our own.
    try {
      // Who may ask comes first, for every method, writes included: nothing below may answer, store, or reveal what exists to a stranger.
      const refused = admissionRefusal(req, steps);
      if (refused) return void sendReply(req, res, finishedPage(req, closingIfLargeUnread(req, refused), steps), policy, progress)?.catch((error: unknown) => fail(error, req, res, progress));
      // The answers decided after reading a body: an upload is stored (or refused) first, a WebDAV body parsed.
      // tus (resumable uploads): its own URLs, and a POST that says it speaks it.
      if (steps.tus && isTusRequest(req)) {
        const failed = (error: unknown) => fail(error, req, res, progress);
        return void steps.tus.answer(req, () => sendContinue(req, res)).then((reply) => sendReply(req, res, finishedPage(req, reply, steps), policy, progress)?.catch(failed), failed);
      }
      if (policy.upload && isUploadMethod(req.method)) {
        const locked = steps.dav.writeRefusal(req);
        const failed = (error: unknown) => fail(error, req, res, progress);
        if (locked) return void sendReply(req, res, closingIfUnread(req, locked), policy, progress)?.catch(failed);
        return void receiveUpload(req, policy, policy.upload, steps.placeholders, () => sendContinue(req, res)).then((reply) => sendReply(req, res, finishedPage(req, reply, steps), policy, progress)?.catch(failed), failed);
      }
      // Under Connect/Express, methods other than GET and HEAD belong to the routes after us.
      if (next === undefined && DAV_METHODS.has(req.method ?? "")) {
        const failed = (error: unknown) => fail(error, req, res, progress);
        return void steps.dav.answer(req, () => sendContinue(req, res)).then((reply) => sendReply(req, res, finishedPage(req, reply, steps), policy, progress)?.catch(failed), failed);
      }
      const reply = replyFor(req, resolveTarget, steps, onError, next !== undefined);
      if (reply === "next") return next!();
      sendReply(req, res, finishedPage(req, reply, steps), policy, progress)?.catch((error: unknown) => fail(error, req, res, progress));
    } catch (error) {
      fail(error, req, res, progress);
    }
  }

  /** Plain HTTP on the HTTPS port: the redirect to `https://` (or the Host check's refusal), logged like any answer. */
  function redirectToHttps(req: ServedRequest, res: ServedResponse): void {
    answerAlone(req, res, () => httpsRedirect(req, steps.hosts));
  }

  /** A reply decided outside the request path (nothing of the path applies), logged like any answer. */
  function answerAlone(req: ServedRequest, res: ServedResponse, decide: () => Reply): void {
    const progress = newProgress();
    logWhenDone(req, res, progress);
    try {
      sendReply(req, res, decide(), policy, progress);
    } catch (error) {
      fail(error, req, res, progress);
    }
  }
  const close = () => {
    steps.live?.close();
    steps.tus?.close();
  };
  return Object.assign(serveHere, { serveStream, close, redirectToHttps });
}

/**
 * A page we generated (listing, HTML or JSON; error page), wherever made, finished: the HTML
 * page decorated (`decoratedPage`), then its coding and ETag (compress.ts), then, for a listing,
 * the preconditions its ETag answers.
 */
function finishedPage(req: ServedRequest, reply: Reply, steps: Steps): Reply {
  if (reply.generated !== true) return reply;
  const { reply: page, etag } = encodePage(req, decoratedPage(req, reply, steps), steps.policy, steps.encodings.pages);
  // Only a 200 is revalidated: an error status is never turned into a 304 or a 412, which would
  // hide it (RFC 9110 §13.2.1: preconditions are ignored when the answer without them is not 2xx).
  // Error pages still carry their ETag, which names their bytes, as a listing's does.
  if (page.status !== 200 || (req.method !== "GET" && req.method !== "HEAD")) return page;
  const precondition = checkPreconditions(req, { etag, mtimeSeconds: null });
  if (precondition === null) return page;
  const { ETag, "Cache-Control": cacheControl = "no-cache", Vary } = page.headers;
  const validators: Record<string, string> = { ETag: ETag!, "Cache-Control": cacheControl };
  if (Vary !== undefined) validators.Vary = Vary;
  return precondition === 304 ? { status: 304, note: page.note, headers: validators, body: EMPTY } : { ...emptyReply(412, validators), note: page.note };
}

/**
 * A generated HTML page: with --live, a navigation gets the live script (not a refusal of access,
 * whose script request would only be refused, and prompt, again); and its CSP is the policy's,
 * which lets our scripts run when there are any.
 */
function decoratedPage(req: ServedRequest, reply: Reply, { policy, live }: Steps): Reply {
  if (!isGeneratedPage(reply)) return reply;
  const page = live && !refusesAccess(reply) ? live.decoratePage(req, reply) : reply;
  if (policy.pageCsp === PAGE_CSP) return page;
  // The policy's CSP in place of PAGE_CSP, keeping what the page added after it (a grid's img-src).
  return withHeaders(page, { "Content-Security-Policy": policy.pageCsp + page.headers["Content-Security-Policy"]!.slice(PAGE_CSP.length) });
}

/**
 * Who may ask, for every method: the Host check first (a page that rebound its DNS name to us must
 * learn nothing, not even our Allow), then the password. Null when the request may go on.
 */
function admissionRefusal(req: ServedRequest, steps: Steps): Reply | null {
  const refusal = hostRefusal(req, steps.hosts);
  if (refusal) return refusal;
  const { auth, policy } = steps;
  return auth && !isCorsPreflight(req, policy) ? auth.check(req, requestClient(req, policy.trustProxy)) : null;
}

/**
 * Decides the whole answer to a request before a byte is written: "next" when a Connect/Express
 * `next` should have the 404 instead. Refusals and file-system errors become statuses here.
 */
function replyFor(req: ServedRequest, resolveTarget: (url: string) => TargetPath, steps: Steps, onError: NonNullable<HandlerOptions["onError"]>, hasNext: boolean): Reply | "next" {
  const { policy, live } = steps;
  const method = req.method ?? "";
  if (method !== "GET" && method !== "HEAD") {
    if (hasNext) return "next"; // under Connect/Express, other methods belong to the routes after us
    if (method === "OPTIONS") return emptyReply(204, optionsHeaders(req, policy));
    return emptyReply(405, { Allow: policy.allow });
  }
  const target = resolveTarget(req.url ?? "/");
  if (steps.uploadScript && reservedName(target) === UPLOAD_SCRIPT_NAME) return fileReply(req, steps.uploadScript, null, steps);
  const liveRoute = live?.route(target);
  if (liveRoute === "script") return fileReply(req, live!.script, null, steps);
  if (liveRoute === "events") return live!.eventsReply(req);
  // Dot segments are for GET and HEAD only: other methods were answered above, whatever their
  // target (a 301 would turn a POST into a GET), and uploads never normalise (target.ts).
  if (target.kind === "redirect") return { ...emptyReply(301, { Location: target.location }), note: target.reason };
  if (target.kind === "refuse") return target.status === 400 ? { ...errorPage(400), note: target.reason } : notFoundReply(req, steps, hasNext, target.reason);
  let status: number;
  let note: string | undefined;
  try {
    const reply = replyForPath(req, target, steps);
    if (!(reply instanceof NotFound)) return reply;
    status = 404;
    note = reply.note;
  } catch (error) {
    status = statusForError(error);
    note = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : undefined);
    if (status === 500) onError(error, req);
  }
  if (status !== 404) return { ...errorPage(status), note };
  if (!target.utf8) return { ...errorPage(400), note: "path is not UTF-8 and names nothing" };
  return notFoundReply(req, steps, hasNext, note);
}

/**
 * Answers a GET or HEAD for a path, or for the fallback that stands in when the path names
 * nothing. Throws fs errors and refusals; the edge maps them.
 */
function replyForPath(req: ServedRequest, target: Extract<TargetPath, { kind: "path" }>, steps: Steps): Reply | NotFound {
  const reply = replyForExactPath(req, target, steps);
  if (reply instanceof NotFound && steps.policy.spa && isNavigation(req)) return replyForSpaFallback(req, steps) ?? reply;
  return reply;
}

/** Precedence: the exact file, then the folder (301 to `/x/`), then `x.html` (clean URLs). */
function replyForExactPath(req: ServedRequest, target: Extract<TargetPath, { kind: "path" }>, steps: Steps): Reply | NotFound {
  const { policy } = steps;
  const found = locate(target.segments, policy);
  if (found === null) return replyForCleanUrl(req, target, steps) ?? NOT_FOUND;
  if (found.kind === "outside") return new NotFound(found.note);
  if (found.kind === "file") return target.slash ? NOT_FOUND : replyForFile(req, target.segments, found, steps);
  if (!target.slash) return emptyReply(301, { Location: folderLocation(target.segments, target.query) });
  // The archive query wins over an index.html, as in miniserve and dufs: it asks for the folder.
  if (archiveRequested(target, policy)) return archiveReply(target, found, policy);
  const index = findIndex(target.segments, policy);
  if (index) return replyForFile(req, index.segments, index.found, steps);
  if (!policy.listing) return new NotFound("folder has no index.html and --no-listing is on");
  return listingReply(req, target, found, policy, steps.folders, steps.share);
}

/** `/x` answered from `x.html`, as that file's own reply; null when there is no such file. */
function replyForCleanUrl(req: ServedRequest, target: Extract<TargetPath, { kind: "path" }>, steps: Steps): Reply | null {
  const segments = cleanUrlCandidate(target, steps.policy);
  const found = segments && locate(segments, steps.policy);
  if (!segments || found?.kind !== "file") return null;
  const reply = replyForFile(req, segments, found, steps);
  return reply instanceof NotFound ? null : answeredBy(reply, segments);
}

/** The root's `index.html` for a navigation that names nothing, always revalidated; null without one. */
function replyForSpaFallback(req: ServedRequest, steps: Steps): Reply | null {
  const found = locate(SPA_INDEX, steps.policy);
  if (found?.kind !== "file") return null;
  const reply = replyForFile(req, SPA_INDEX, found, steps);
  if (reply instanceof NotFound) return null;
  return answeredBy(withHeaders(reply, { "Cache-Control": SPA_CACHE_CONTROL }), SPA_INDEX);
}

/** The log says which file answered for another path, unless the reply already says why it failed. */
function answeredBy(reply: Reply, segments: readonly Buffer[]): Reply {
  return reply.note === undefined ? { ...reply, note: `from ${describeSegments(segments)}` } : reply;
}

/** No reply of our own: the 404 page (or next()) answers, and the log says why when we know. */
class NotFound {
  constructor(readonly note?: string) {}
}
const NOT_FOUND = new NotFound();

/** How often to look again at a file that keeps changing between its stat and its read. */
const MAX_ATTEMPTS = 3;

/** The reply for the file `found` at `segments`. A file rewritten faster than we can read it is a 503. */
function replyForFile(req: ServedRequest, segments: readonly Buffer[], found: Found, steps: Steps): Reply | NotFound {
  for (let attempt = 1; ; attempt++) {
    const statedAt = Date.now();
    const file = readyFile(found, steps.policy, steps.files);
    if (file !== "changed") return fileReply(req, liveRepresentation(req, file, steps), { segments, found, statedAt }, steps);
    if (attempt === MAX_ATTEMPTS) return { ...errorPage(503), note: "file kept changing while being read" };
    const again = locate(segments, steps.policy);
    if (again?.kind !== "file") return NOT_FOUND;
    found = again;
  }
}

/**
 * What the client gets of a file before any coding: its own bytes, or, for an HTML navigation with
 * --live, the page with the live-reload script (its own ETag and length, no ranges, no sidecars).
 */
function liveRepresentation(req: ServedRequest, file: ReadyFile, { live }: Steps): ReadyFile {
  return live ? live.injectScript(req, file) : file;
}

/**
 * The reply for a file, in steps: the representation (the file, or an encoding of it), its
 * preconditions, then ranges, of the file's own bytes only. Takes over a descriptor source.
 * Bytes with no file behind them (`origin` null: the live-reload script) are sent as they are.
 */
function fileReply(req: ServedRequest, file: ReadyFile, origin: Origin | null, steps: Steps): Reply {
  const chosen: Representation = origin ? chooseRepresentation(req, file, origin, steps.policy, steps.encodings) : { kind: "identity", meta: file.meta, file };
  const meta = chosen.meta;
  const note = file.note;
  const precondition = checkPreconditions(req, meta);
  if (precondition !== null) {
    releaseRepresentation(chosen);
    return precondition === 304 ? { status: 304, headers: meta.common, wire: meta.commonWire, body: EMPTY, note } : { ...emptyReply(412, meta.common), note };
  }
  if (chosen.kind === "encoded") return { status: 200, note, headers: meta.ok, wire: meta.okWire, body: chosen.body };
  return identityReply(req, chosen.file);
}

/** The file's own bytes (or live reload's page): whole, or the ranges asked for. */
function identityReply(req: ServedRequest, file: ReadyFile): Reply {
  const { meta, source, transformed } = file;
  const size = meta.size;
  // Range is defined for GET only (§14.2); If-Range may turn it back into a plain GET. Bytes made
  // from the file (transformed) are sent whole: a range of them would splice with other versions.
  if (transformed || req.headers.range === undefined || req.method !== "GET" || !ifRangeAllowsPartial(headerText(req, "if-range"), meta)) return wholeReply(file);
  const request = parseRangeHeader(req.headers.range, size);
  switch (request.kind) {
    case "none":
      return wholeReply(file);
    case "unsatisfiable":
      releaseSource(source);
      return emptyReply(416, { ...meta.common, "Content-Range": `bytes */${size}` });
    case "ranges": {
      const [only] = request.ranges;
      if (request.ranges.length === 1 && only) {
        return {
          status: 206,
          headers: { ...meta.common, "Content-Type": meta.contentType, "Content-Length": String(only.end - only.start + 1), "Content-Range": `bytes ${only.start}-${only.end}/${size}` },
          body: bodyFrom(source, [only]),
        };
      }
      return multipartReply(source, request.ranges, meta);
    }
  }
}

function wholeReply({ meta, source, note }: ReadyFile): Reply {
  const body: Body = source.kind === "memory" ? { kind: "bytes", data: source.data } : bodyFrom(source, [{ start: 0, end: meta.size - 1 }]);
  return { status: 200, note, headers: meta.ok, wire: meta.okWire, body };
}

const NOT_FOUND_PAGE = [Buffer.from("404.html")];

/** The 404 page: the root's own `404.html` (with --live, as a page; compressed like any file) when there is one, else a generic page. */
function notFoundReply(req: ServedRequest, steps: Steps, hasNext: boolean, note?: string): Reply | "next" {
  if (hasNext) return "next";
  const { policy } = steps;
  const found = tryFs(() => locate(NOT_FOUND_PAGE, policy));
  const statedAt = Date.now();
  const file = found?.kind === "file" ? tryFs(() => readyFile(found, policy, steps.files)) : undefined;
  if (found?.kind !== "file" || file === undefined || file === "changed") return note === undefined ? errorPage(404) : { ...errorPage(404), note };
  const page = liveRepresentation(req, file, steps);
  const chosen = chooseRepresentation(req, page, { segments: NOT_FOUND_PAGE, found, statedAt }, policy, steps.encodings);
  return { status: 404, note: note ?? page.note, headers: notFoundPageHeaders(chosen, policy), body: pageBody(chosen) };
}

/**
 * The 404 page's headers: it is always HTML and never cached. Its ETag is the file's, per coding,
 * as for any page (a 404 is never a 304: see `finishedPage`); its Last-Modified is not sent.
 */
function notFoundPageHeaders(chosen: Representation, policy: Policy): Record<string, string> {
  const contentType = "text/html; charset=utf-8";
  const headers: Record<string, string> = { "Content-Type": contentType, ETag: chosen.meta.etag };
  if (chosen.kind === "encoded") headers["Content-Encoding"] = chosen.meta.coding;
  const length = chosen.kind === "encoded" ? chosen.meta.length : chosen.meta.size;
  if (length !== undefined) headers["Content-Length"] = String(length);
  headers["Cache-Control"] = "no-cache";
  const vary = varyFor(contentType, policy);
  if (vary !== undefined) headers.Vary = vary;
  return headers;
}

function pageBody(chosen: Representation): Body {
  if (chosen.kind === "encoded") return chosen.body;
  const { meta, source } = chosen.file;
  return bodyFrom(source, [{ start: 0, end: meta.size - 1 }]);
}

/**
 * A CORS preflight: browsers never send credentials with one (Fetch standard, CORS-preflight
 * fetch), so asking for them would fail every cross-origin read. It reveals no file: only methods.
 */
function isCorsPreflight(req: ServedRequest, policy: Policy): boolean {
  return policy.cors && req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
}

/**
 * `OPTIONS`: the methods, and with --cors what a preflight asks for. Preflights are told the
 * read methods only: writes from other origins are refused anyway (origin.ts).
 */
function optionsHeaders(req: ServedRequest, policy: Policy): Record<string, string> {
  // With --upload every folder is also a tus creation endpoint: OPTIONS says so, as tus asks.
  const headers: Record<string, string> = { Allow: policy.allow, ...davOptionsHeaders(policy), ...(policy.upload ? tusOptionsHeaders(policy) : {}) };
  if (policy.cors && req.headers["access-control-request-method"] !== undefined) {
    headers["Access-Control-Allow-Methods"] = READ_METHODS;
    const requested = req.headers["access-control-request-headers"];
    // Echo only a well-formed token list; anything else gets the headers a reader might send.
    headers["Access-Control-Allow-Headers"] = requested && /^[\w-]+(\s*,\s*[\w-]+)*$/.test(requested) ? requested : "Range, If-None-Match, If-Modified-Since, If-Match, If-Range";
    headers["Access-Control-Max-Age"] = "86400";
  }
  return headers;
}

function ignoreStreamError(): void {}
