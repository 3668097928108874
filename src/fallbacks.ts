/**
 * What answers when a path names nothing: clean URLs (`/about` from `about.html`, as GitHub Pages,
 * Netlify and Cloudflare Pages do) and, with `--spa`, the root's `index.html` for navigations, as a
 * single-page app's router expects. Both only name candidates; `locate` still decides what each
 * candidate may be, so confinement, dotfile and symlink rules hold for them as for any path.
 */
import type { Policy } from "./policy.js";
import type { TargetPath } from "./target.js";

const HTML_SUFFIX = Buffer.from(".html");

/** Each target's candidate, made once: the handler hands out the same segments for the same URL. */
const candidates = new WeakMap<readonly Buffer[], readonly Buffer[]>();

/** The segments of `x.html` for a target `/…/x` without a trailing slash, or null when clean URLs do not apply. */
export function cleanUrlCandidate(target: Extract<TargetPath, { kind: "path" }>, policy: Policy): readonly Buffer[] | null {
  const last = target.segments.at(-1);
  if (!policy.cleanUrls || target.slash || last === undefined) return null;
  let candidate = candidates.get(target.segments);
  if (candidate === undefined) {
    candidate = [...target.segments.slice(0, -1), Buffer.concat([last, HTML_SUFFIX])];
    candidates.set(target.segments, candidate);
  }
  return candidate;
}

/** The SPA fallback's file: the root's `index.html`. */
export const SPA_INDEX: readonly Buffer[] = [Buffer.from("index.html")];

/** The fallback is an app shell that changes with every deploy: browsers must always revalidate it. */
export const SPA_CACHE_CONTROL = "no-cache";

/** How the log names a file that answered for another path: `/docs/about.html`. */
export function describeSegments(segments: readonly Buffer[]): string {
  return "/" + segments.map((segment) => segment.toString("utf8")).join("/");
}
