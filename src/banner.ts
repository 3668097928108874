/**
 * The banner's address lines, its QR code and what it says of uploads: what to show, decided from
 * the started server and the options, as text. `cli.ts` prints it.
 */
import { isLoopbackName } from "./access.js";
import { qrMatrix, renderHalfBlocks } from "./qr.js";
import type { StartedServer } from "./server.js";

/** When to print the QR code: `--qr`, `--no-qr`, or by default only on a terminal. */
export type QrWhen = "always" | "never" | "on-terminal";

/** The banner's first line, which gives the local URL: the one place it is printed. */
export function servingLine(root: string, url: string): string {
  return `Serving ${root} at ${url}`;
}

/**
 * One `Network:` line per URL another device could use, best first; a virtual interface's URL
 * says which it is. The local URL is not among them: the first line has it already.
 */
export function networkLines(started: Pick<StartedServer, "network">): string[] {
  return started.network.map(({ url, label }) => `  Network:  ${url}${label === undefined ? "" : `  (${label})`}`);
}

/**
 * The URL another device should use: the first network URL, or, bound to one address that is not
 * loopback, the server's own URL. Null when only this machine can connect.
 */
export function urlForOtherDevices(started: Pick<StartedServer, "url" | "networkUrls" | "host">): string | null {
  if (started.networkUrls[0] !== undefined) return started.networkUrls[0];
  return started.host !== undefined && !isLoopbackName(started.host) ? started.url : null;
}

/**
 * The URL to print as a QR code, or null for none. By default only on a terminal (a log file has no
 * use for one) and only when another device could connect; `--qr` prints one anyway, of the local
 * URL when there is no other.
 */
export function qrUrl(when: QrWhen, isTerminal: boolean, started: Pick<StartedServer, "url" | "networkUrls" | "host">): string | null {
  if (when === "never") return null;
  const other = urlForOtherDevices(started);
  if (when === "always") return other ?? started.url;
  return isTerminal ? other : null;
}

/** Black on white, whatever the terminal's theme: `renderHalfBlocks`' ink (light modules) in bright white on black. */
const LIGHT_ON_DARK = "\x1b[97;40m";
const RESET = "\x1b[0m";

/**
 * The QR code of `url` as banner lines, indented like the addresses. With `colour`, each line
 * sets its own colours and resets them before the newline, so no colour bleeds into the next line.
 */
export function qrLines(url: string, colour: boolean): string[] {
  return renderHalfBlocks(qrMatrix(url)).map((line) => `  ${colour ? LIGHT_ON_DARK + line + RESET : line}`);
}

/** What the uploads lines need of the options (`ServerOptions`). */
export interface UploadBannerOptions {
  overwrite?: boolean;
  maxUploadBytes?: number;
}

/**
 * With --upload, two lines: where uploads go and which kind of share this is. Without --overwrite,
 * a drop box that only grows (nothing replaced, moved or deleted, over HTTP or WebDAV); with it, a
 * drive you can edit, and the URL to mount it at (`mountUrl`: the one for other devices, else the
 * local one). docs/webdav.md says which to choose.
 */
export function uploadLines(root: string, options: UploadBannerOptions, mountUrl: string): string[] {
  const limit = options.maxUploadBytes === undefined ? "" : `, at most ${options.maxUploadBytes} bytes per request`;
  if (!options.overwrite) {
    return [`  Uploads: on (into ${root}), a drop box${limit}`, "    files and folders can be added, never replaced or deleted (--overwrite to edit)"];
  }
  return [`  Uploads: on (into ${root}), a drive you can edit${limit}`, `    mount it as a drive (WebDAV): ${mountUrl}`];
}
