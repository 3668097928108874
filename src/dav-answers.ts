/**
 * The XML of WebDAV's answers (RFC 4918 §13, §16): Multi-Status bodies, their propstats, and the
 * error bodies that name a precondition. Every element is in the DAV: namespace under the prefix
 * `D`, declared once on the root; property values come already as XML (dav-xml.ts).
 */
import type { Reply } from "./reply.js";

export const XML_TYPE = "application/xml; charset=utf-8";
export const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n';
export const MULTISTATUS_OPEN = XML_HEAD + '<D:multistatus xmlns:D="DAV:">';
export const MULTISTATUS_CLOSE = "</D:multistatus>\n";

/** One propstat: the properties (as XML) that share a status, with an optional description. */
export function propstat(properties: readonly string[], status: string, error = ""): string {
  return `<D:propstat><D:prop>${properties.join("")}</D:prop><D:status>HTTP/1.1 ${status}</D:status>${error ? `<D:responsedescription>${error}</D:responsedescription>` : ""}</D:propstat>`;
}

export function multistatusXml(responses: string): string {
  return MULTISTATUS_OPEN + responses + MULTISTATUS_CLOSE;
}

export function multiStatus(xml: string, note: string): Reply {
  return xmlReply(207, xml, note);
}

export function xmlReply(status: number, xml: string, note: string, headers: Record<string, string> = {}): Reply {
  const data = Buffer.from(xml);
  return { status, note, headers: { "Content-Type": XML_TYPE, "Content-Length": String(data.length), "Cache-Control": "no-store", ...headers }, body: { kind: "bytes", data } };
}

/** A status with a precondition or postcondition element (§16) saying why. */
export function errorXml(status: number, condition: string, note: string): Reply {
  return xmlReply(status, `${XML_HEAD}<D:error xmlns:D="DAV:">${condition}</D:error>\n`, note);
}
