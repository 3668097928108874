/**
 * Who may ask: the first step of every request, whatever its method. Today that is the `Host`
 * check against DNS rebinding: a web page on `evil.example` whose DNS name is made to point at
 * 127.0.0.1 (or at a machine on the visitor's network) is same-origin with that name, so the
 * visitor's browser would let it read whatever we serve. The browser still sends `Host:
 * evil.example`, and no name of ours is that, so we refuse it before anything else is decided.
 */
import { isIPv4, isIPv6 } from "node:net";
import { hostname as machineHostname } from "node:os";
import { escapeHtml } from "./escape.js";
import { headerText } from "./conditional.js";
import { emptyReply, errorPage, htmlPage, isHttp2Request, type Reply, type ServedRequest } from "./reply.js";

/**
 * Which `Host` names are answered: every one, or the built-in ones plus the user's. `verdicts`
 * remembers what the rule made of each authority seen lately: a browser sends the same few on every
 * request, and judging one takes a handful of regular expressions.
 */
export type HostRule = { kind: "any" } | { kind: "names"; names: ReadonlySet<string>; verdicts: Map<string, HostVerdict> };

/** Authorities whose verdict is remembered, per rule; a client inventing names only clears the memory. */
const MAX_REMEMBERED_AUTHORITIES = 1000;

const SLASH = 0x2f;

/** The word that turns the check off, in `--allowed-host any` and in `allowedHosts`. */
export const ANY_HOST = "any";

/**
 * The rule for `allowedHosts` (`"any"`, or names added to the built-in ones: IP literals,
 * `localhost` and `*.localhost`, this machine's hostname and `hostname.local`).
 */
export function makeHostRule(allowedHosts: "any" | readonly string[] | undefined, hostname = machineHostname()): HostRule {
  if (allowedHosts === ANY_HOST || allowedHosts?.includes(ANY_HOST)) return { kind: "any" };
  // A port given with a name (`example.test:8000`) is ignored here as in requests.
  const names = new Set((allowedHosts ?? []).map((name) => normalName(authorityName(name) ?? name)));
  const own = normalName(hostname);
  if (own !== "") names.add(own).add(`${own}.local`);
  return { kind: "names", names, verdicts: new Map() };
}

/** Lower case, without the one trailing dot a fully qualified name may have (`localhost.`). */
function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** A DNS name as `--allowed-host` accepts it: labels of letters, digits, `-` and `_`, dot-separated. */
export function isHostName(name: string): boolean {
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/i.test(name);
}

/** `*.localhost` resolves to loopback in browsers (RFC 6761 §6.3), so no page can rebind it. */
function isLocalhostName(name: string): boolean {
  return name === "localhost" || /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.localhost$/.test(name);
}

/**
 * The name part of an authority (`host`, `host:port`, `[v6]:port`), as given; null when it is not
 * one (`a b`, `::1` without brackets, an empty value). The port is not part of the check: a page
 * can choose its own port as freely as its name.
 */
export function authorityName(authority: string): string | null {
  if (authority.startsWith("[")) {
    const match = /^\[([0-9a-f:.]+)\](?::\d*)?$/i.exec(authority);
    return match && isIPv6(match[1]!) ? match[1]! : null;
  }
  const match = /^([^:]+)(?::\d*)?$/.exec(authority);
  return match ? match[1]! : null;
}

/** What the check makes of a request: who it is for, and whether we answer to that. */
export type HostVerdict =
  | { kind: "allowed" }
  /** HTTP/1.1 requires exactly one Host (RFC 9112 §3.2): 400, as Node's own server answers a missing one. */
  | { kind: "malformed"; note: string }
  /** `name`: the name as sent, without its port; or the whole authority when it is no name (`a b`). */
  | { kind: "refused"; name: string; allowable: boolean };

/**
 * The name a request is for. HTTP/2 carries it in `:authority` (RFC 9113 §8.3.1), HTTP/1.1 in
 * `Host`, where an absolute-form target's authority wins over the header (RFC 9112 §3.2.2), as
 * `target.ts` lets it win for the path. Undefined: no name at all.
 */
export function requestedAuthority(req: ServedRequest): string | undefined {
  if (isHttp2Request(req)) return headerText(req, ":authority") ?? req.headers.host;
  const url = req.url ?? "";
  if (url.charCodeAt(0) === SLASH) return req.headers.host; // origin-form, as nearly every request is
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url);
  // Userinfo (`user@`) is not part of the name; browsers never send it, URL parsers drop it. A
  // target with no host (`file:///x`) names none, so the Host header still speaks.
  const fromTarget = absolute?.[1]!.replace(/^.*@/, "");
  return fromTarget ? fromTarget : req.headers.host;
}

function countHostHeaders(req: ServedRequest): number {
  let count = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === "host") count++;
  return count;
}

function judgeHost(req: ServedRequest, rule: HostRule): HostVerdict {
  if (rule.kind === "any") return { kind: "allowed" };
  // Two Host headers could each be read by a different hop (RFC 9112 §3.2 says 400).
  if (countHostHeaders(req) > 1) return { kind: "malformed", note: "more than one Host header" };
  // Nor may HTTP/2's two places for the name disagree (RFC 9113 §8.3.1: malformed).
  if (isHttp2Request(req)) {
    const host = headerText(req, "host")?.toLowerCase();
    const authority = headerText(req, ":authority")?.toLowerCase();
    if (host !== undefined && authority !== undefined && host !== authority) return { kind: "malformed", note: "Host differs from :authority" };
  }
  const authority = requestedAuthority(req);
  // HTTP/1.0 may leave Host out: then there is no name a page could have rebound.
  if (authority === undefined) return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? { kind: "allowed" } : { kind: "malformed", note: `HTTP/${req.httpVersion} request without Host` };
  let verdict = rule.verdicts.get(authority);
  if (verdict === undefined) {
    verdict = judgeAuthority(authority, rule.names);
    if (rule.verdicts.size >= MAX_REMEMBERED_AUTHORITIES) rule.verdicts.clear();
    rule.verdicts.set(authority, verdict);
  }
  return verdict;
}

/** What the rule makes of one authority (`name`, `name:port`, `[v6]:port`): it depends on nothing else. */
function judgeAuthority(authority: string, names: ReadonlySet<string>): HostVerdict {
  const given = authorityName(authority);
  if (given === null) return { kind: "refused", name: authority, allowable: false };
  const name = normalName(given);
  if (isIPv4(name) || isIPv6(name) || isLocalhostName(name) || names.has(name)) return { kind: "allowed" };
  return { kind: "refused", name: given, allowable: isHostName(given) };
}

/** The refusal for a request we do not answer, or null when it may go on. */
export function hostRefusal(req: ServedRequest, rule: HostRule): Reply | null {
  const verdict = judgeHost(req, rule);
  switch (verdict.kind) {
    case "allowed":
      return null;
    case "malformed":
      return { ...errorPage(400), note: verdict.note };
    case "refused":
      return refusedHostPage(verdict.name, verdict.allowable);
  }
}

/**
 * The answer to a plain `http://` request that reached the HTTPS port (someone typed the wrong
 * scheme): the same URL with `https://`, 301 for GET and HEAD, 308 otherwise (which keeps the
 * method and body). The Host check comes first, so the redirect only ever names this server: a
 * refused name gets its 403, and a request with no name at all (HTTP/1.0) 400, as there is no URL
 * to send it to.
 */
export function httpsRedirect(req: ServedRequest, rule: HostRule): Reply {
  const refusal = hostRefusal(req, rule);
  if (refusal) return refusal;
  const authority = requestedAuthority(req);
  if (authority === undefined || authorityName(authority) === null) return { ...errorPage(400), note: "plain HTTP on the HTTPS port, without a Host to redirect to" };
  // An absolute-form target (`GET http://host/x`) carries its own scheme and authority: keep its path.
  const path = (req.url ?? "/").replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, "") || "/";
  const status = req.method === "GET" || req.method === "HEAD" ? 301 : 308;
  return { ...emptyReply(status, { Location: `https://${authority}${path.startsWith("/") ? path : "/" + path}` }), note: "plain HTTP on the HTTPS port" };
}

/** 403, with the one sentence that tells the person at the keyboard how to allow the name. */
function refusedHostPage(name: string, allowable: boolean): Reply {
  const html = escapeHtml(name);
  const advice = allowable
    ? `This server does not answer to the name ${html}; start it with --allowed-host ${html} to allow it.`
    : `This server does not answer to the Host &quot;${html}&quot;, which is not a host name.`;
  const note = allowable ? `Host ${name} not allowed; --allowed-host ${name} allows it` : `Host "${name}" is not a host name`;
  const page = `<!DOCTYPE html>\n<html lang="en"><meta charset="utf-8"><title>403 Forbidden</title><h1>403 Forbidden</h1><p>${advice}</p></html>\n`;
  return { ...htmlPage(403, page), note };
}

/** `https` when the request came over TLS (HTTP/1.1 or HTTP/2), else `http`. */
export function requestScheme(req: ServedRequest): "http" | "https" {
  // Under HTTP/2, `socket` is a proxy that answers for the session's socket, instanceof included.
  return (req.socket as { encrypted?: boolean }).encrypted === true ? "https" : "http"; // a TLSSocket is `encrypted`
}

/** Names that always mean this machine: a URL with one of them is no use to another device. */
export function isLoopbackName(name: string): boolean {
  const normal = normalName(name.replace(/^\[(.*)\]$/, "$1"));
  return isLocalhostName(normal) || normal === "::1" || (isIPv4(normal) && normal.startsWith("127."));
}
