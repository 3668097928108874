/**
 * Content codings (RFC 9110 §8.4, §12.5.3): which coding a request gets, and its bytes. A file is
 * sent as it is (identity), or as a precompressed sidecar beside it (`name.br`, `name.gz`, `name.zst`),
 * or compressed on the fly: small files once per version into a revalidated cache, large ones
 * streamed through `node:zlib`. Each coding is its own representation, with its own strong ETag, so
 * preconditions are judged against what this request would get, and every file response while
 * compression is on says `Vary: Accept-Encoding`. Pages serve-here makes (listings, error pages)
 * get the same negotiation, once per distinct body (`encodePage`).
 */
import { createHash } from "node:crypto";
import { close, type Stats } from "node:fs";
import { pipeline, type Readable, type Transform } from "node:stream";
import zlib from "node:zlib";
import { readyFile, RevalidatedCache, type FileCache, type ReadyFile } from "./files.js";
import { escapeControl } from "./log.js";
import { locate, tryFs, type Found } from "./locate.js";
import type { Policy } from "./policy.js";
import { bodyFrom, fileStream, headerList, release, releaseSource, type Body, type Reply, type ServedRequest } from "./reply.js";

export type Coding = "br" | "zstd" | "gzip";

/** Node 22.15+ and 23.8+ have zstd; 20 has not. Decided once, at load. */
interface ZstdZlib {
  createZstdCompress(options?: object): Transform;
  zstdCompressSync(data: Buffer, options?: object): Buffer;
}
const zstd = typeof (zlib as unknown as Partial<ZstdZlib>).createZstdCompress === "function" ? (zlib as unknown as ZstdZlib) : undefined;
export const HAS_ZSTD = zstd !== undefined;

/**
 * Our order among codings the client weighs equally: brotli makes the smallest text at the levels we
 * use (and precompressed `.br` files are usually at its highest); zstd comes between it and gzip in
 * size, and compresses fastest; gzip is the one every client has.
 */
const SERVER_ORDER: readonly Coding[] = HAS_ZSTD ? ["br", "zstd", "gzip"] : ["br", "gzip"];

/** A sidecar's suffix, per coding (the coding itself is its `Content-Encoding` token). */
const SUFFIX: Readonly<Record<Coding, Buffer>> = { br: Buffer.from(".br"), zstd: Buffer.from(".zst"), gzip: Buffer.from(".gz") };
/** What an encoded representation's ETag ends with, inside the quotes. */
const ETAG_SUFFIX: Readonly<Record<Coding, string>> = { br: "-br", zstd: "-zst", gzip: "-gz" };

/**
 * Smaller than this, a coding saves a few hundred bytes at most, less than a packet, for the cost of a
 * compression (nginx's gzip_min_length defaults to 20 bytes, Caddy's minimum_length to 512).
 */
export const MIN_COMPRESS_SIZE = 1024;
const BROTLI_QUALITY = 4;
const GZIP_LEVEL = 6;
const ZSTD_LEVEL = 3;

// -------------------------------------------------------------------------------------------------
// Negotiation
// -------------------------------------------------------------------------------------------------

/** `qvalue` (§12.4.2): 0 to 1 with at most three decimals. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The codings an `Accept-Encoding` value accepts, best first: the highest q wins, ties go to
 * SERVER_ORDER. A coding is acceptable when named with q > 0, or covered by `*` with q > 0 and not
 * named. An `identity` weighted above every coding leaves nothing (the client prefers the file as
 * it is); `identity;q=0` is not honoured as a refusal: identity is always what we fall back to,
 * never a 406 (§12.5.3 allows either). Tokens are case-insensitive and `x-gzip` is gzip (§8.4.1.3).
 * A q that is not a qvalue counts as 0, and a coding named twice counts at its lowest weight: a
 * coding the client may not decode is a broken page, identity is only a bigger one.
 */
export function parseAcceptEncoding(value: string): readonly Coding[] {
  const weights = new Map<string, number>();
  for (const element of value.split(",")) {
    const [rawToken = "", ...params] = element.split(";");
    let token = rawToken.trim().toLowerCase();
    if (token === "") continue;
    if (token === "x-gzip") token = "gzip";
    let weight = 1;
    for (const param of params) {
      const eq = param.indexOf("=");
      if ((eq === -1 ? param : param.slice(0, eq)).trim().toLowerCase() !== "q") continue;
      const q = eq === -1 ? "" : param.slice(eq + 1).trim();
      weight = QVALUE.test(q) ? Number(q) : 0;
      break;
    }
    weights.set(token, Math.min(weight, weights.get(token) ?? 1));
  }
  const star = weights.get("*");
  const identity = weights.get("identity") ?? star;
  const weightOf = (coding: Coding) => weights.get(coding) ?? star ?? 0;
  return SERVER_ORDER.filter((coding) => weightOf(coding) > 0 && (identity === undefined || weightOf(coding) >= identity))
    .map((coding, order) => ({ coding, order, weight: weightOf(coding) }))
    .sort((a, b) => b.weight - a.weight || a.order - b.order)
    .map(({ coding }) => coding);
}

/** `Accept-Encoding` values seen recently, parsed: browsers send a handful of distinct ones. */
const MAX_REMEMBERED_VALUES = 1000;
const acceptedByValue = new Map<string, readonly Coding[]>();
const NOTHING: readonly Coding[] = [];

/** The codings this request accepts, best first (empty: identity). */
export function acceptedCodings(req: ServedRequest): readonly Coding[] {
  const value = req.headers["accept-encoding"];
  if (value === undefined) return NOTHING;
  let accepted = acceptedByValue.get(value);
  if (accepted === undefined) {
    accepted = parseAcceptEncoding(value);
    if (acceptedByValue.size >= MAX_REMEMBERED_VALUES) acceptedByValue.clear();
    acceptedByValue.set(value, accepted);
  }
  return accepted;
}

// -------------------------------------------------------------------------------------------------
// Which types compress
// -------------------------------------------------------------------------------------------------

/** Compressible types outside `text/*` and the `+json`/`+xml` suffixes. */
const COMPRESSIBLE_TYPES = new Set([
  "application/json",
  "application/javascript",
  "application/x-javascript",
  "application/ecmascript",
  "application/xml",
  "application/wasm",
  "application/toml",
  "application/yaml",
  "application/x-yaml",
  "application/x-sh",
  "application/rtf",
  "application/postscript",
  "application/vnd.ms-fontobject",
  "application/x-font-ttf",
  "application/x-font-otf",
  "image/vnd.microsoft.icon",
  "image/x-icon",
  "image/bmp",
  "font/ttf",
  "font/otf",
  "font/collection",
]);

const compressibleByType = new Map<string, boolean>();

/**
 * Whether a body of this size and type is worth compressing: one rule for HTTP's codings and for
 * the entries of a zip (archive.ts), where a file too small to gain stays stored.
 */
export function worthCompressing(size: number, contentType: string): boolean {
  return size >= MIN_COMPRESS_SIZE && isCompressibleType(contentType);
}

/**
 * Whether a type is worth compressing: text, JSON, JavaScript, XML, SVG, wasm, icons and TrueType
 * fonts. Never images, audio, video, archives or woff/woff2, which are compressed already.
 */
export function isCompressibleType(contentType: string): boolean {
  let compressible = compressibleByType.get(contentType);
  if (compressible === undefined) {
    const type = contentType.split(";")[0]!.trim().toLowerCase();
    compressible = type.startsWith("text/") || type.endsWith("+json") || type.endsWith("+xml") || COMPRESSIBLE_TYPES.has(type);
    if (compressibleByType.size < 1000) compressibleByType.set(contentType, compressible);
  }
  return compressible;
}

// -------------------------------------------------------------------------------------------------
// Representations
// -------------------------------------------------------------------------------------------------

/** An encoded representation's validators and headers, as `FileMeta` has them for the file itself. */
export interface EncodedMeta {
  coding: Coding;
  etag: string;
  mtimeSeconds: number;
  /** Known in advance for cached and sidecar bytes; a stream's is not (chunked). */
  length: number | undefined;
  /** ETag, Last-Modified, Cache-Control, Vary: for 304 and 412. No Accept-Ranges: ranges are of the file. */
  common: Readonly<Record<string, string>>;
  /** The 304's headers as sent. */
  commonWire: readonly string[];
  /** The 200 reply's headers, and the same as sent. */
  ok: Readonly<Record<string, string>>;
  okWire: readonly string[];
}

/** What a request for a file gets: the file as it is, or one of its encodings. */
export type Representation = { kind: "identity"; meta: ReadyFile["meta"]; file: ReadyFile } | { kind: "encoded"; meta: EncodedMeta; body: Body };

/** Where a ready file came from, for its sidecars and the compressed cache. */
export interface Origin {
  /** The segments that named the file: a sidecar is the last one plus a suffix. */
  segments: readonly Buffer[];
  found: Found;
  /** When the file was stat'ed before it was read (ms since the epoch): the settling rule needs it. */
  statedAt: number;
}

/**
 * What compression keeps between requests: small files' encoded bytes, per coding (at most 16 MiB
 * in 4096 entries), and the sidecars already reported as older than their file (each is reported
 * once). A sidecar's own bytes are kept with every other file's, in `files`.
 */
export class Encodings {
  readonly encoded = new RevalidatedCache<CompressedFile>(4096, 16 * 1024 * 1024, (entry) => entry.data.length);
  readonly staleSidecars = new Set<string>();
  /** Generated pages' ETags and encodings (`encodePage`). */
  readonly pages = new PageEncodings();
  constructor(readonly files: FileCache) {}
}

/** A small file's encoded bytes, valid while the file's version (and the representation's ETag) is unchanged. */
export interface CompressedFile {
  stats: Stats;
  /** The ETag of the bytes that were compressed: live reload's injected page and the file differ. */
  sourceEtag: string;
  meta: EncodedMeta;
  data: Buffer;
}

/**
 * Chooses the representation a request gets, and takes over the file's source: a sidecar the
 * client accepts and that is not older than the file, else the file compressed on the fly when its
 * type and size call for it, else the file itself. A `Range` request always gets the file itself:
 * a range is of the file's bytes, never a slice of a compressed stream.
 */
export function chooseRepresentation(req: ServedRequest, file: ReadyFile, origin: Origin, policy: Policy, encodings: Encodings): Representation {
  const identity: Representation = { kind: "identity", meta: file.meta, file };
  if (!policy.compress || req.headers.range !== undefined) return identity;
  const accepted = acceptedCodings(req);
  if (accepted.length === 0) return identity;
  if (!file.transformed) {
    const sidecar = findSidecar(accepted, file, origin, policy, encodings);
    if (sidecar) {
      releaseSource(file.source);
      return sidecar;
    }
  }
  if (!worthCompressing(file.meta.size, file.meta.contentType)) return identity;
  const coding = accepted[0]!;
  // Small files (up to SMALL_FILE) come read whole; larger ones come as an open descriptor.
  return file.source.kind === "memory" ? compressedInMemory(coding, file, file.source.data, origin, policy, encodings.encoded) : compressedStream(coding, file, file.source.fd, policy);
}

/** Gives back what a representation holds, for one that will not be sent. */
export function releaseRepresentation(chosen: Representation): void {
  if (chosen.kind === "identity") releaseSource(chosen.file.source);
  else release(chosen.body);
}

/** The headers of an encoded representation, from the file's, with its own ETag and no Accept-Ranges. */
function encodedMeta(coding: Coding, file: ReadyFile, etag: string, dates: { lastModified: string; mtimeSeconds: number }, length: number | undefined, policy: Policy): EncodedMeta {
  const { "Accept-Ranges": _ranges, ...fileCommon } = file.meta.common;
  const common = { ...fileCommon, ETag: etag, "Last-Modified": dates.lastModified };
  const ok: Record<string, string> = { ...common, "Content-Type": file.meta.contentType, "Content-Encoding": coding };
  if (length !== undefined) ok["Content-Length"] = String(length);
  return { coding, etag, mtimeSeconds: dates.mtimeSeconds, length, common, commonWire: headerList(common, policy), ok, okWire: headerList(ok, policy) };
}

/** `"x"` → `"x-br"`: the file's ETag, marked with the coding. */
function encodedEtag(etag: string, coding: Coding): string {
  return etag.slice(0, -1) + ETAG_SUFFIX[coding] + '"';
}

// -------------------------------------------------------------------------------------------------
// Sidecars
// -------------------------------------------------------------------------------------------------

/**
 * The first precompressed sidecar, in the client's order, that is there and not older than the
 * file. Found through `locate`, so the root, symlink and dotfile rules hold for it as for any file.
 * A stale one is skipped (and reported once): serving it would send yesterday's page.
 */
function findSidecar(accepted: readonly Coding[], file: ReadyFile, origin: Origin, policy: Policy, encodings: Encodings): Representation | undefined {
  const last = origin.segments.at(-1);
  if (last === undefined) return undefined;
  for (const coding of accepted) {
    const segments = [...origin.segments.slice(0, -1), Buffer.concat([last, SUFFIX[coding]])];
    const found = tryFs(() => locate(segments, policy));
    if (found?.kind !== "file") continue;
    if (found.stats.mtimeMs < origin.found.stats.mtimeMs) {
      reportStaleSidecar(found.fsPath, encodings.staleSidecars);
      continue;
    }
    const sidecar = tryFs(() => readyFile(found, policy, encodings.files));
    if (sidecar === undefined || sidecar === "changed") continue;
    const inner = (etag: string) => etag.slice(1, -1);
    const etag = encodedEtag(`"${inner(file.meta.etag)}.${inner(sidecar.meta.etag)}"`, coding);
    // The sidecar is not older than the file: its date is the representation's.
    const meta = encodedMeta(coding, file, etag, sidecar.meta, sidecar.meta.size, policy);
    return { kind: "encoded", meta, body: bodyFrom(sidecar.source, [{ start: 0, end: sidecar.meta.size - 1 }]) };
  }
  return undefined;
}

/** Says once per sidecar, per server, that it is older than its file and so not served. */
function reportStaleSidecar(fsPath: Buffer, reported: Set<string>): void {
  const key = fsPath.toString("latin1");
  if (reported.has(key) || reported.size >= 1000) return;
  reported.add(key);
  process.stderr.write(`serve-here: not serving ${escapeControl(fsPath.toString())}: it is older than the file it compresses (rebuild it)\n`);
}

// -------------------------------------------------------------------------------------------------
// On the fly
// -------------------------------------------------------------------------------------------------

function compressSync(coding: Coding, data: Buffer): Buffer {
  switch (coding) {
    case "br":
      return zlib.brotliCompressSync(data, { params: brotliParams(data.length) });
    case "gzip":
      return zlib.gzipSync(data, { level: GZIP_LEVEL });
    case "zstd":
      return zstd!.zstdCompressSync(data, zstdOptions());
  }
}

function createCompressor(coding: Coding, size: number): Transform {
  switch (coding) {
    case "br":
      return zlib.createBrotliCompress({ params: brotliParams(size) });
    case "gzip":
      return zlib.createGzip({ level: GZIP_LEVEL });
    case "zstd":
      return zstd!.createZstdCompress(zstdOptions());
  }
}

function brotliParams(size: number): Record<number, number> {
  return { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size };
}

function zstdOptions(): object {
  const level = (zlib.constants as unknown as Record<string, number>).ZSTD_c_compressionLevel;
  return level === undefined ? {} : { params: { [level]: ZSTD_LEVEL } };
}

/**
 * A cache key: the path marked with the coding, and with whether the bytes are the file's own. Made
 * once per path and mark (paths come joined once per request target), so the cache finds it again.
 */
const keysByPath = new WeakMap<Buffer, Map<string, Buffer>>();
function compressedKey(fsPath: Buffer, coding: Coding, transformed: boolean): Buffer {
  const mark = `\0${coding}${transformed ? "\0transformed" : ""}`;
  let keys = keysByPath.get(fsPath);
  if (keys === undefined) keysByPath.set(fsPath, (keys = new Map()));
  let key = keys.get(mark);
  if (key === undefined) keys.set(mark, (key = Buffer.concat([fsPath, Buffer.from(mark)])));
  return key;
}

/**
 * A small file, compressed once per version (and per representation: live reload's injected page
 * and the file itself never share an entry), kept by the same settling rule as its bytes, so a
 * repeated request costs a lookup. Compressed synchronously: at most 256 KiB, a few milliseconds,
 * once.
 */
function compressedInMemory(coding: Coding, file: ReadyFile, data: Buffer, origin: Origin, policy: Policy, cache: Encodings["encoded"]): Representation {
  const key = compressedKey(origin.found.fsPath, coding, file.transformed === true);
  const cached = cache.get(key, origin.found.stats);
  if (cached !== undefined && cached.sourceEtag === file.meta.etag) return { kind: "encoded", meta: cached.meta, body: { kind: "bytes", data: cached.data } };
  const encoded = compressSync(coding, data);
  const meta = encodedMeta(coding, file, encodedEtag(file.meta.etag, coding), file.meta, encoded.length, policy);
  cache.put(key, { stats: origin.found.stats, sourceEtag: file.meta.etag, meta, data: encoded }, origin.statedAt);
  return { kind: "encoded", meta, body: { kind: "bytes", data: encoded } };
}

/**
 * A large file, read from its descriptor and compressed as it goes out: backpressure from the
 * socket reaches the reads, so memory stays flat. A file that shrinks mid-send destroys the
 * stream, and with it the response, as for identity.
 */
function compressedStream(coding: Coding, file: ReadyFile, fd: number, policy: Policy): Representation {
  const size = file.meta.size;
  const meta = encodedMeta(coding, file, encodedEtag(file.meta.etag, coding), file.meta, undefined, policy);
  return {
    kind: "encoded",
    meta,
    body: {
      kind: "stream",
      open(): Readable {
        const compressor = createCompressor(coding, size);
        // Errors (a file that shrank) destroy the compressor with them, which ends the reply.
        pipeline(fileStream(fd, [{ start: 0, end: size - 1 }]), compressor, () => {});
        return compressor;
      },
      release: () => close(fd, () => {}),
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Generated pages
// -------------------------------------------------------------------------------------------------

/** What is known of one generated body: its ETag, and its encodings, each made the first time a request gets it. */
interface PageVersion {
  etag: string;
  encoded: Partial<Record<Coding, Buffer>>;
}

/**
 * Generated pages' ETags and encodings, per body. Keyed weakly on the body's Buffer: a listing
 * hands out the same Buffer while its folder and rows are unchanged (folders.ts `keptBody`), error
 * pages are constants, and live reload's decorated page is kept with the page it decorates, so an
 * unchanged page is hashed once and compressed once per coding. What is kept here goes with its
 * body, so it is bounded by what those owners keep (folders.ts: 8 bodies per folder version, 64
 * versions), and each encoding is smaller than its body.
 */
export class PageEncodings {
  private readonly versions = new WeakMap<Buffer, PageVersion>();

  versionOf(data: Buffer): PageVersion {
    let version = this.versions.get(data);
    if (version === undefined) this.versions.set(data, (version = { etag: pageEtag(data), encoded: {} }));
    return version;
  }

  encoding(data: Buffer, version: PageVersion, coding: Coding): Buffer {
    return (version.encoded[coding] ??= compressSync(coding, data));
  }
}

/**
 * A strong ETag from a page's bytes: its length and 96 bits of SHA-1, so any change to the page
 * (a row, a size, a date, the live script) is a new tag. A page has no file behind it whose
 * version could name it, and no Last-Modified.
 */
function pageEtag(data: Buffer): string {
  return `"${data.length.toString(36)}-${createHash("sha1").update(data).digest("base64url").slice(0, 16)}"`;
}

/** A generated page as this request gets it, and the ETag its preconditions are judged against. */
export interface EncodedPage {
  reply: Reply;
  etag: string;
}

/**
 * A page serve-here made (already finished: live script and CSP in place, so the script is inside
 * what is compressed), as this request gets it. The same negotiation and threshold as a file's
 * (`acceptedCodings`, `worthCompressing`): the client's best coding when compression is on and the
 * page is 1 KiB or more, else the page as it is. Each coding has its own strong ETag, the page's
 * marked like a file's (`-br`, `-gz`, `-zst`); while compression is on, `Vary` names
 * `Accept-Encoding` first, before what the page varies on already (a listing's `Accept`), even for a
 * page too small to compress: a listing grows, and one rule for every page is simpler to trust.
 * `Range` is no concern: pages have no ranges.
 */
export function encodePage(req: ServedRequest, page: Reply, policy: Policy, pages: PageEncodings): EncodedPage {
  if (page.body.kind !== "bytes") throw new TypeError("a generated page has its bytes");
  const data = page.body.data;
  const version = pages.versionOf(data);
  const headers: Record<string, string> = { ...page.headers, ETag: version.etag };
  if (policy.compress) headers.Vary = page.headers.Vary === undefined ? "Accept-Encoding" : `Accept-Encoding, ${page.headers.Vary}`;
  const coding = policy.compress && worthCompressing(data.length, page.headers["Content-Type"] ?? "") ? acceptedCodings(req)[0] : undefined;
  if (coding === undefined) return { reply: { ...page, headers, wire: undefined }, etag: version.etag };
  const encoded = pages.encoding(data, version, coding);
  const etag = encodedEtag(version.etag, coding);
  headers.ETag = etag;
  headers["Content-Encoding"] = coding;
  headers["Content-Length"] = String(encoded.length);
  return { reply: { ...page, headers, wire: undefined, body: { kind: "bytes", data: encoded } }, etag };
}
