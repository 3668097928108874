/**
 * Byte ranges, RFC 9110 §14: parsing against a size, and `multipart/byteranges` bodies.
 */
import type { FileMeta } from "./files.js";
import { bodyFrom, type ByteRange, type FileSource, type Piece, type Reply } from "./reply.js";

export type RangeRequest =
  | { kind: "none" } // no Range, one we ignore, or the whole file is the better answer
  | { kind: "ranges"; ranges: ByteRange[] } // sorted, coalesced, each inside the file
  | { kind: "unsatisfiable" };

/** More range specs than this is an abuse pattern, not a download manager: send the whole file. */
const MAX_RANGES = 100;

/**
 * Parses a Range header against a file size. A header that does not parse is ignored (the whole
 * file is a correct answer), as is one asking for more bytes than the file has in total, which
 * only a client trying to make us do work would send.
 */
export function parseRangeHeader(value: string | undefined, size: number): RangeRequest {
  if (value === undefined) return { kind: "none" };
  const match = /^\s*bytes\s*=\s*(.*)$/i.exec(value);
  if (!match) return { kind: "none" };
  const specs = match[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (specs.length === 0 || specs.length > MAX_RANGES) return { kind: "none" };
  if (size === 0) return { kind: "none" }; // nothing to slice: the (empty) whole is the answer

  const ranges: ByteRange[] = [];
  let requested = 0;
  for (const spec of specs) {
    const parts = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (!parts || (parts[1] === "" && parts[2] === "")) return { kind: "none" };
    const [, first, last] = parts as unknown as [string, string, string];
    let range: ByteRange | null;
    if (first === "") {
      const suffix = Number(last); // `-n`: the last n bytes
      range = suffix === 0 ? null : { start: Math.max(0, size - suffix), end: size - 1 };
    } else {
      const start = Number(first);
      if (last !== "" && Number(last) < start) return { kind: "none" }; // invalid spec: ignore the header
      const end = last === "" ? size - 1 : Number(last);
      range = start >= size ? null : { start, end: Math.min(end, size - 1) };
    }
    if (range === null) continue; // unsatisfiable on its own; others may still be fine
    requested += range.end - range.start + 1;
    ranges.push(range);
  }
  if (ranges.length === 0) return { kind: "unsatisfiable" };
  if (requested > size) return { kind: "none" };
  return { kind: "ranges", ranges: coalesce(ranges) };
}

/** Sorts ranges and merges the ones that overlap or touch. */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [{ ...sorted[0]! }];
  for (const range of sorted.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (range.start <= last.end + 1) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** `multipart/byteranges` (§14.6), its Content-Length counted exactly before a byte is read. */
export function multipartReply(source: FileSource, ranges: readonly ByteRange[], meta: FileMeta): Reply {
  // The boundary need only be absent from the parts; 24 random hex digits see to that.
  const boundary = randomHex(12) + randomHex(12);
  const pieces: Piece[] = [];
  let length = 0;
  ranges.forEach((range, i) => {
    const head = Buffer.from(`${i === 0 ? "" : "\r\n"}--${boundary}\r\nContent-Type: ${meta.contentType}\r\nContent-Range: bytes ${range.start}-${range.end}/${meta.size}\r\n\r\n`);
    pieces.push(head, range);
    length += head.length + range.end - range.start + 1;
  });
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  pieces.push(tail);
  return {
    status: 206,
    headers: { ...meta.common, "Content-Type": `multipart/byteranges; boundary=${boundary}`, "Content-Length": String(length + tail.length) },
    body: bodyFrom(source, pieces),
  };
}

function randomHex(digits: number): string {
  return Math.floor(Math.random() * 16 ** digits).toString(16).padStart(digits, "0");
}

