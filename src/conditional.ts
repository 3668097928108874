/**
 * Conditional requests, RFC 9110 §13.2.2 in the RFC's order, and HTTP dates (§5.6.7).
 */
import type { ServedRequest } from "./reply.js";
import type { FileMeta } from "./files.js";

/**
 * What preconditions are judged against: the validators of the representation this request would
 * get. `mtimeSeconds` is null for one with no Last-Modified (a generated page): the date
 * conditions are then ignored (§13.1.3, §13.1.4), never judged against a made-up date.
 */
export interface Validators {
  etag: FileMeta["etag"];
  mtimeSeconds: number | null;
}

type Condition = "absent" | "true" | "false";

/**
 * Evaluates the preconditions of a GET or HEAD against the current file.
 * Returns the status to answer with instead of the file, or null to go on.
 */
export function checkPreconditions(req: ServedRequest, v: Validators): 304 | 412 | null {
  const h = req.headers;
  // Step 1-2: If-Match, else If-Unmodified-Since. Either failing is 412.
  let condition = checkIfMatch(h["if-match"], v);
  if (condition === "absent") condition = checkIfUnmodifiedSince(h["if-unmodified-since"], v);
  if (condition === "false") return 412;
  // Step 3-4: If-None-Match, else If-Modified-Since. A match means "not modified" for GET/HEAD.
  const noneMatch = checkIfNoneMatch(h["if-none-match"], v);
  if (noneMatch === "false") return 304;
  if (noneMatch === "absent" && checkIfModifiedSince(h["if-modified-since"], v) === "false") return 304;
  return null;
}

function checkIfMatch(value: string | undefined, v: Validators): Condition {
  if (value === undefined) return "absent";
  const tags = parseEntityTags(value);
  if (tags === "*") return "true";
  return tags.some((tag) => strongMatch(tag, v.etag)) ? "true" : "false";
}

function checkIfUnmodifiedSince(value: string | undefined, v: Validators): Condition {
  if (value === undefined || v.mtimeSeconds === null) return "absent"; // nothing to judge: no date, or none of ours
  const date = parseHttpDate(value);
  if (date === null) return "absent"; // an invalid date is ignored (§13.1.4)
  return v.mtimeSeconds <= date ? "true" : "false";
}

/** "false" means a tag matched, i.e. the condition "none match" is false. */
function checkIfNoneMatch(value: string | undefined, v: Validators): Condition {
  if (value === undefined) return "absent";
  if (value === v.etag) return "false"; // a cache revalidating with the one tag it was given: the usual case
  const tags = parseEntityTags(value);
  if (tags === "*") return "false";
  return tags.some((tag) => weakMatch(tag, v.etag)) ? "false" : "true";
}

function checkIfModifiedSince(value: string | undefined, v: Validators): Condition {
  if (value === undefined || v.mtimeSeconds === null) return "absent";
  const date = parseHttpDate(value);
  if (date === null) return "absent";
  return v.mtimeSeconds <= date ? "false" : "true";
}

/** Parses `*` or a list of entity-tags; stops at the first malformed element. */
function parseEntityTags(value: string): string[] | "*" {
  if (value.trim() === "*") return "*";
  const tags: string[] = [];
  const tagPattern = /\s*(W\/)?"([^"]*)"\s*(?:,|$)/y;
  for (let match = tagPattern.exec(value); match; match = tagPattern.exec(value)) {
    tags.push(`${match[1] ?? ""}"${match[2]}"`);
    if (tagPattern.lastIndex >= value.length) break;
  }
  return tags;
}

export function strongMatch(a: string, b: string): boolean {
  return !a.startsWith("W/") && !b.startsWith("W/") && a === b;
}

function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, "") === b.replace(/^W\//, "");
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** The three HTTP date formats of RFC 9110 §5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime. */
const HTTP_DATE_FORMATS = [
  /^[A-Za-z]{3}, (?<day>\d{2}) (?<month>[A-Za-z]{3}) (?<year>\d{4}) (?<h>\d{2}):(?<m>\d{2}):(?<s>\d{2}) GMT$/,
  /^[A-Za-z]{6,9}, (?<day>\d{2})-(?<month>[A-Za-z]{3})-(?<year>\d{2}) (?<h>\d{2}):(?<m>\d{2}):(?<s>\d{2}) GMT$/,
  /^[A-Za-z]{3} (?<month>[A-Za-z]{3}) (?<day>[ \d]\d) (?<h>\d{2}):(?<m>\d{2}):(?<s>\d{2}) (?<year>\d{4})$/,
];

/**
 * Parses an HTTP date into whole seconds since the epoch; null for anything else, because
 * `Date.parse` alone would read "1" as the year 2001.
 */
export function parseHttpDate(value: string): number | null {
  for (const format of HTTP_DATE_FORMATS) {
    const g = format.exec(value)?.groups;
    if (!g) continue;
    const month = MONTHS.indexOf(g.month!.toLowerCase());
    const [day, h, m, s] = [g.day, g.h, g.m, g.s].map(Number) as [number, number, number, number];
    if (month < 0 || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return null;
    let year = Number(g.year);
    if (g.year!.length === 2) {
      // RFC 9110: a two-digit year that looks more than 50 years ahead is in the past century.
      year += 2000 + year > new Date().getUTCFullYear() + 50 ? 1900 : 2000;
    }
    const date = new Date(Date.UTC(2000, month, day, h, m, s));
    date.setUTCFullYear(year); // Date.UTC would read years 0-99 as 1900-1999
    return Math.floor(date.getTime() / 1000);
  }
  return null;
}

/** A request header as one string (Node joins repeated ones with ", "). */
export function headerText(req: ServedRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** If-Range (§13.1.5): a strong ETag that matches, or exactly the Last-Modified date. */
export function ifRangeAllowsPartial(value: string | undefined, v: Validators): boolean {
  if (value === undefined) return true;
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith("W/")) return strongMatch(trimmed, v.etag);
  return v.mtimeSeconds !== null && parseHttpDate(trimmed) === v.mtimeSeconds;
}
