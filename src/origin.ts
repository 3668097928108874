/**
 * Whether a request comes from a page of another site. One decision, used wherever a request could
 * do harm on a visitor's behalf: live reload's event stream (which files change here) and uploads
 * (a page elsewhere must not drop files onto this machine through a visitor's browser).
 */
import { requestedAuthority } from "./access.js";
// A repeated header comes joined, so it never matches a single origin.
import { headerText } from "./conditional.js";
import type { ServedRequest } from "./reply.js";

/**
 * True when the browser says the request is cross-site: `Sec-Fetch-Site: cross-site`, or an
 * `Origin` that is present and is not this request's own (its `Host`, over http or https: a TLS
 * proxy in front still counts as own). `Origin: null` (a sandboxed or file:// page) is cross-site.
 * No `Origin` at all is a client that is not a browser page (curl), or a same-origin GET.
 */
export function isCrossSite(req: ServedRequest): boolean {
  if (headerText(req, "sec-fetch-site")?.toLowerCase() === "cross-site") return true;
  const origin = headerText(req, "origin");
  if (origin === undefined) return false;
  // The name the Host check judged (access.ts): `:authority` under HTTP/2, else Host or an absolute target's.
  const host = requestedAuthority(req)?.toLowerCase();
  const lower = origin.toLowerCase();
  return host === undefined || (lower !== `http://${host}` && lower !== `https://${host}`);
}
