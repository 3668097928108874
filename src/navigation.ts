/**
 * Whether a request is a browser navigation: a page load, as opposed to a script, an image or a
 * `fetch`. Live reload injects its script only into navigations, and the SPA fallback answers only
 * them, so a missing asset stays a 404 instead of turning into HTML.
 */
import type { ServedRequest } from "./reply.js";

/**
 * A GET or HEAD whose `Sec-Fetch-Dest` is `document` or `iframe`; without `Sec-Fetch-Dest` (older
 * browsers, curl), one whose `Accept` names `text/html`.
 */
export function isNavigation(req: ServedRequest): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const dest = req.headers["sec-fetch-dest"];
  if (dest !== undefined) return dest === "document" || dest === "iframe";
  const accept = req.headers.accept;
  return accept !== undefined && accept.toLowerCase().includes("text/html");
}
