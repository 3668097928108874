/**
 * "Open on another device": the URL a listing's QR code shows, and that QR code as SVG. The URL
 * is the one the request came to (its Host, which access.ts has already accepted), except that a
 * loopback name is no use to a phone, so there the server's first network URL stands in; with no
 * network URL (bound to 127.0.0.1, or no network at all) there is nothing to share.
 */
import type { ServedRequest } from "./reply.js";
import { isLoopbackName, requestedAuthority, requestScheme } from "./access.js";
import { encodePathSegment } from "./escape.js";
import { qrMatrix, renderSvg } from "./qr.js";

/** Listings' QR codes kept, one per URL: a folder tree seen from a few names needs few. */
const MAX_REMEMBERED_CODES = 64;
/** Small enough to leave a phone's screen to the listing, large enough for a camera across a desk. */
const QR_SIZE_PX = 120;

/** What the listings' share box needs: where other devices reach this server, and the QR codes made so far. */
export class ShareCodes {
  private readonly codes = new Map<string, string>();

  /** `networkOrigins`: see `HandlerOptions.networkOrigins`; asked per listing, since the server knows them only once it listens. */
  constructor(private readonly networkOrigins: () => readonly string[]) {}

  /**
   * The URL of the folder at `segments` for another device (origin, then the canonical path), or
   * undefined when the only one there is names this machine: a phone scanning it would ask itself.
   */
  url(req: ServedRequest, segments: readonly Buffer[]): string | undefined {
    const own = requestOrigin(req);
    const origin = own.loopback ? this.networkOrigins()[0] : own.origin;
    if (origin === undefined) return undefined;
    return origin + "/" + segments.map((segment) => encodePathSegment(segment) + "/").join("");
  }

  /** The QR code of `url` as inline SVG, made once per URL. */
  qrSvg(url: string): string {
    let svg = this.codes.get(url);
    if (svg === undefined) {
      svg = renderSvg(qrMatrix(url), QR_SIZE_PX);
      if (this.codes.size >= MAX_REMEMBERED_CODES) this.codes.clear();
      this.codes.set(url, svg);
    }
    return svg;
  }
}

/**
 * The origin the request was sent to, as a URL parser normalises it (lower case, no default port),
 * and whether it names this machine only. Without a usable Host (HTTP/1.0 may omit it; with
 * `--allowed-host any` it may be anything), the address the connection came in on.
 */
function requestOrigin(req: ServedRequest): { origin: string; loopback: boolean } {
  const scheme = requestScheme(req);
  const authority = requestedAuthority(req);
  if (authority !== undefined && authority !== "" && !authority.includes("@")) {
    try {
      const url = new URL(`${scheme}://${authority}`);
      return { origin: url.origin, loopback: isLoopbackName(url.hostname) };
    } catch {
      // not an authority a URL can carry: fall through to the socket's own address
    }
  }
  const address = (req.socket.localAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
  const host = address.includes(":") ? `[${address}]` : address;
  return { origin: `${scheme}://${host}:${req.socket.localPort ?? 80}`, loopback: isLoopbackName(address) };
}
