/**
 * Live reload (`--live`): the script put into HTML navigations, the event stream that tells pages
 * what changed, and the watcher behind it (`watch.ts`), which runs only while a page listens.
 *
 *   GET /__serve-here/live.js   the client (`live-client.ts`)
 *   GET /__serve-here/events    Server-Sent Events: `{"boot":id}` first, then `{"changed":[paths]}`
 *
 * Everything that is not an HTML navigation is the file's own bytes; an injected page is another
 * representation of the file, with its own ETag (`"<etag>-live"`), length, and no ranges.
 */
import { Readable } from "node:stream";
import { isHtml, readWhole, scriptFile, type FileMeta, type ReadyFile } from "./files.js";
import { LIVE_CLIENT } from "./live-client.js";
import { isNavigation } from "./navigation.js";
import { isCrossSite } from "./origin.js";
import type { Policy } from "./policy.js";
import { errorPage, headerList, isGeneratedPage, releaseSource, type Reply, type ServedRequest } from "./reply.js";
import { RESERVED_PREFIX, reservedName, type TargetPath } from "./target.js";
import { watchTree, type TreeWatcher } from "./watch.js";

export const LIVE_SCRIPT_PATH = `/${RESERVED_PREFIX}/live.js`;

/** What the pages get, once each. */
export const LIVE_SCRIPT_TAG = Buffer.from(`<script type="module" src="${LIVE_SCRIPT_PATH}"></script>`);

/** HTML files above this are sent untouched (and the log says so): rewriting means holding them whole. */
export const MAX_INJECTED_BYTES = 16 * 1024 * 1024;

/** A burst of changes is told this long after it goes quiet… */
const QUIET_MS = 40;
/** …or this long after its first change, whichever comes first, while writes go on. */
const MAX_DELAY_MS = 250;
/** Proxies close connections that stay silent; a comment every so often keeps the stream open. */
const HEARTBEAT_MS = 30_000;
/** One message names at most this many paths, then says `"more": true` (the page reloads anyway). */
const MAX_PATHS_PER_MESSAGE = 1000;
/** A client that stops reading is dropped when this much is waiting for it. */
const MAX_BACKLOG_BYTES = 1024 * 1024;

/**
 * Where changes come from when not from a watcher of this process's own: with `--workers`, the
 * primary watches once and tells every worker (workers.ts). `boot` is the same in every worker, or
 * a page would take a reconnection to another worker for a restart and reload.
 */
export interface LiveChanges {
  readonly boot: string;
  /** Starts telling `onChange` the URL paths that change, until `close()`. */
  watch(onChange: (urlPath: string) => void): { close(): void };
}

/** A boot id: random per server, so a page that sees another one knows the server restarted. */
export function newBootId(): string {
  return `${process.pid.toString(36)}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Which of live reload's routes a target names, if any. */
export type LiveRoute = "script" | "events" | null;

/** An injected version, kept as long as the file's bytes it was made from (see `injectScript`). */
interface Injected {
  meta: FileMeta;
  data: Buffer;
}

/**
 * Live reload's state for one handler: the boot id, the open event streams, and the watcher,
 * which exists only while at least one stream is open.
 */
export class LiveReload {
  /** Random per server (shared by its workers): a page that sees another one knows the server restarted. */
  readonly boot: string;
  /** `/__serve-here/live.js`, as a file ready to answer from (conditionals and all). */
  readonly script: ReadyFile;
  private readonly streams = new Set<EventStream>();
  private readonly injected = new WeakMap<Buffer, Injected>();
  /** Generated pages with the script put in, per page (see `decoratePage`). */
  private readonly decorated = new WeakMap<Buffer, Buffer>();
  private watcher: Pick<TreeWatcher, "close"> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private pending = new Set<string>();
  private pendingOverflow = false;
  private quietTimer: NodeJS.Timeout | null = null;
  private delayTimer: NodeJS.Timeout | null = null;
  private noticeGiven = false;
  private closed = false;

  constructor(
    private readonly policy: Policy,
    /** Poll instead of inotify: `SERVE_HERE_LIVE_POLL=1`, for tests and file systems without events. */
    private readonly forcePoll: boolean,
    /** Changes told by someone else (the primary, with `--workers`); null: watch here. */
    private readonly changes: LiveChanges | null = null,
  ) {
    this.boot = changes?.boot ?? newBootId();
    this.script = scriptFile(LIVE_CLIENT, "live", policy);
  }

  /** Which live route `target` is; other `/__serve-here/` paths are ordinary paths. */
  route(target: TargetPath): LiveRoute {
    const name = reservedName(target);
    return name === "live.js" ? "script" : name === "events" ? "events" : null;
  }

  /**
   * The live script in an HTML navigation: ReadyFile → ReadyFile. The result is an ordinary
   * ReadyFile of the injected bytes, marked `transformed` (no ranges, no precompressed sidecars),
   * or the file untouched with a `note` for the log when it cannot be rewritten.
   */
  injectScript(req: ServedRequest, file: ReadyFile): ReadyFile {
    if (!isNavigation(req) || !isHtml(file.meta.contentType)) return file;
    if (file.meta.size > MAX_INJECTED_BYTES) return { ...file, note: "HTML over 16 MiB: sent without the live-reload script" };
    let data: Buffer;
    if (file.source.kind === "memory") {
      data = file.source.data;
      // The small-file cache hands out the same Buffer while the file is unchanged, so the
      // injected version is kept exactly as long as it is right, and goes with it.
      const kept = this.injected.get(data);
      if (kept) return { meta: kept.meta, source: { kind: "memory", data: kept.data }, transformed: true };
    } else {
      // 256 KiB to 16 MiB: read whole now, as small files are (one synchronous read from the page cache).
      data = readWhole(file.source.fd, file.meta.size);
      if (data.length !== file.meta.size) return { ...file, note: "file shrank while read for the live-reload script" };
      releaseSource(file.source);
    }
    const injected = insertScriptTag(data);
    if (injected === null) {
      if (file.source.kind === "descriptor") return { ...file, source: { kind: "memory", data }, note: "UTF-16 HTML: sent without the live-reload script" };
      return { ...file, note: "UTF-16 HTML: sent without the live-reload script" };
    }
    const meta = injectedMeta(file.meta, injected.length, this.policy);
    if (file.source.kind === "memory") this.injected.set(file.source.data, { meta, data: injected });
    return { meta, source: { kind: "memory", data: injected }, transformed: true };
  }

  /**
   * A page serve-here generated (listing, error page) as a navigation gets the script too (the
   * policy's `pageCsp` lets it run and connect); any other reply passes untouched.
   */
  decoratePage(req: ServedRequest, reply: Reply): Reply {
    if (reply.body.kind !== "bytes" || !isGeneratedPage(reply) || !isNavigation(req)) return reply;
    const page = reply.body.data;
    // Kept with the page it was made from: an unchanged listing (the same Buffer) is the same
    // decorated Buffer, whose ETag and encodings are then made once (compress.ts `encodePage`).
    let data = this.decorated.get(page);
    if (data === undefined) this.decorated.set(page, (data = insertScriptTag(page) ?? page));
    const headers = { ...reply.headers, "Content-Length": String(data.length) };
    return { status: reply.status, note: reply.note, headers, body: { kind: "bytes", data }, generated: reply.generated };
  }

  /** `GET /__serve-here/events`: the event stream, for pages of this origin only. */
  eventsReply(req: ServedRequest): Reply {
    if (isCrossSite(req)) return { ...errorPage(403), note: "cross-site Origin or Sec-Fetch-Site on the live-reload event stream" };
    return {
      status: 200,
      // no-store: a stream is never a thing to keep. X-Accel-Buffering: nginx in front must not buffer it.
      headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no" },
      // The subscription is made when the connection is ours (HEAD, or a client gone, makes none).
      body: { kind: "stream", open: () => this.subscribe(), release: () => {} },
    };
  }

  /** Ends every open event stream and stops the watcher; later streams end at once. */
  close(): void {
    this.closed = true;
    for (const stream of [...this.streams]) stream.push(null);
    this.stopWatching();
  }

  private subscribe(): Readable {
    const stream = new EventStream(() => this.unsubscribe(stream));
    stream.push(`retry: 1000\n\ndata: ${JSON.stringify({ boot: this.boot })}\n\n`);
    if (this.closed) {
      stream.push(null);
      return stream;
    }
    this.streams.add(stream);
    if (this.watcher === null) this.startWatching();
    return stream;
  }

  private unsubscribe(stream: EventStream): void {
    if (!this.streams.delete(stream)) return;
    if (this.streams.size === 0) this.stopWatching();
  }

  private startWatching(): void {
    const onChange = (urlPath: string) => this.changed(urlPath);
    this.watcher = this.changes ? this.changes.watch(onChange) : watchTree(this.policy, onChange, (message) => this.notice(message), this.forcePoll);
    this.heartbeat = setInterval(() => this.broadcast(HEARTBEAT), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.quietTimer = this.delayTimer = null;
    this.pending.clear();
    this.pendingOverflow = false;
  }

  /** One changed path: told with the rest of its burst, when it goes quiet or has waited long enough. */
  private changed(urlPath: string): void {
    if (this.pending.size < MAX_PATHS_PER_MESSAGE) this.pending.add(urlPath);
    else if (!this.pending.has(urlPath)) this.pendingOverflow = true;
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), QUIET_MS);
    this.delayTimer ??= setTimeout(() => this.flush(), MAX_DELAY_MS);
  }

  private flush(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.quietTimer = this.delayTimer = null;
    if (this.pending.size === 0) return;
    const message = this.pendingOverflow ? { changed: [...this.pending], more: true } : { changed: [...this.pending] };
    this.pending = new Set();
    this.pendingOverflow = false;
    this.broadcast(Buffer.from(`data: ${JSON.stringify(message)}\n\n`));
  }

  /** Sends one message to every stream (one Buffer for all); a client far behind is dropped. */
  private broadcast(message: Buffer): void {
    for (const stream of this.streams) {
      if (stream.readableLength > MAX_BACKLOG_BYTES) stream.destroy();
      else stream.push(message);
    }
  }

  private notice(message: string): void {
    if (this.noticeGiven) return;
    this.noticeGiven = true;
    process.stderr.write(`serve-here: ${message}\n`);
  }
}

const HEARTBEAT = Buffer.from(": ping\n\n");

/** One client's event stream: written to by `LiveReload`, piped to the response by `reply.ts`. */
class EventStream extends Readable {
  constructor(private readonly onGone: () => void) {
    super();
  }

  override _read(): void {} // messages are pushed as changes come

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onGone();
    callback(error);
  }
}

const BOM_UTF16_LE = Buffer.from([0xff, 0xfe]);
const BOM_UTF16_BE = Buffer.from([0xfe, 0xff]);

/**
 * The bytes with the script tag before the first `</head>`, else before the first `</body>`, else
 * at the end (case-insensitive, so a UTF-8 BOM stays first). Null for UTF-16, where ASCII bytes
 * would corrupt the page.
 */
export function insertScriptTag(html: Buffer): Buffer | null {
  if (html.subarray(0, 2).equals(BOM_UTF16_LE) || html.subarray(0, 2).equals(BOM_UTF16_BE)) return null;
  // latin1 maps each byte to one character, so string offsets are byte offsets.
  const text = html.toString("latin1");
  let at = text.search(/<\/head\s*>/i);
  if (at === -1) at = text.search(/<\/body\s*>/i);
  if (at === -1) at = html.length;
  return Buffer.concat([html.subarray(0, at), LIVE_SCRIPT_TAG, html.subarray(at)]);
}

/**
 * The injected representation's metadata: its own strong ETag (the file's, `-live` inside the
 * quotes), its length and `Accept-Ranges: none`. Its `Vary` is the file's (`varyFor`): with live
 * reload an HTML file's answer depends on whether the request is a navigation, injected or not.
 */
function injectedMeta(meta: FileMeta, size: number, policy: Policy): FileMeta {
  const etag = `${meta.etag.slice(0, -1)}-live"`;
  const common = { ...meta.common, ETag: etag, "Accept-Ranges": "none" };
  const ok = { ...common, "Content-Type": meta.contentType, "Content-Length": String(size) };
  return { ...meta, size, etag, common, commonWire: headerList(common, policy), ok, okWire: headerList(ok, policy) };
}
