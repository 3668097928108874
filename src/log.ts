/**
 * The access log and the error log: what a line holds and how it is printed, with control
 * characters escaped so no request can write terminal escapes into a terminal.
 */
import { isIP } from "node:net";
import type { ServedRequest } from "./reply.js";

/** One access-log record, handed to `onResponse`. */
export interface AccessLogEntry {
  time: Date;
  client: string;
  method: string;
  /** The request target exactly as received (escape it before printing: see `formatLogLine`). */
  url: string;
  status: number;
  /** Body bytes handed to the socket. */
  bytes: number;
  ms: number;
  /** False when the client went away (or the file shrank) before the body was complete. */
  completed: boolean;
  /** Why a request was refused or failed (`dot-dot segment`, `EACCES`…); never sent to the client. */
  note?: string;
}

/** The peer's address, without the `::ffff:` an IPv4 client gets on a dual-stack socket. */
export function clientAddress(socket: { remoteAddress?: string | undefined }): string {
  return (socket.remoteAddress ?? "-").replace(/^::ffff:/, "");
}

/**
 * Who a request comes from. Behind a trusted proxy (`trustProxy`), the last entry of
 * `X-Forwarded-For`: the address the proxy itself saw and added (`$proxy_add_x_forwarded_for`);
 * entries before it came from the client and could say anything. Without `trustProxy`, or without
 * a well-formed last entry, the peer's address: forwarded headers are never believed by default.
 */
export function requestClient(req: ServedRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers["x-forwarded-for"];
    const last = (Array.isArray(forwarded) ? forwarded.join(",") : forwarded)?.split(",").at(-1)?.trim();
    if (last !== undefined && isIP(last) !== 0) return last.replace(/^::ffff:/, "");
  }
  return clientAddress(req.socket);
}

export function defaultOnError(error: unknown, req: ServedRequest): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  // An fs error's message holds the decoded path, which the client chose (`/%1b[2J`): escape it too.
  process.stderr.write(`serve-here: error answering ${escapeControl(`${req.method} ${req.url}`)}: ${detail.split("\n").map(escapeControl).join("\n")}\n`);
}

/** Escapes control characters so a request cannot write terminal escapes into a log. */
export function escapeControl(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** One access-log line: time, client, method, target, status, bytes, milliseconds, and why when refused. */
export function formatLogLine(e: AccessLogEntry): string {
  const time = e.time.toISOString().replace(/\.\d+Z$/, "Z");
  const status = e.completed ? String(e.status) : `${e.status} (aborted)`;
  const note = e.note === undefined ? "" : ` (${escapeControl(e.note)})`;
  return `${time} ${e.client} ${escapeControl(e.method)} ${escapeControl(e.url)} ${status} ${e.bytes} ${e.ms.toFixed(1)}ms${note}`;
}
