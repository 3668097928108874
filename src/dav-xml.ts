/**
 * The XML of WebDAV (RFC 4918): request bodies parsed into elements with their namespaces
 * resolved, and the pieces of answers written back. Imports no module of ours.
 *
 * A body is untrusted XML, so the parser (saxes) is held to what WebDAV needs: no DOCTYPE at all,
 * so no entity can be declared (billion laughs) or point at a file or URL (XXE); only the five
 * predefined entities and character references are expanded. Size, depth and element count are
 * bounded, so a body costs at most a bounded tree.
 */
import { createRequire } from "node:module";
import type { SaxesParser, SaxesTagNS } from "saxes";

export const DAV_NS = "DAV:";
/** Bound to the prefix `xml` in every document; it may be declared as no other prefix and as no default namespace. */
export const XML_NS = "http://www.w3.org/XML/1998/namespace";
/** Where saxes puts `xmlns` and `xmlns:p` attributes: declarations, not attributes of the element. */
const XMLNS_NS = "http://www.w3.org/2000/xmlns/";

/** A parsed element, namespaces resolved. */
export interface XmlElement {
  readonly ns: string; // namespace URI; "" when the element is in no namespace
  readonly local: string; // local name
  readonly attributes: ReadonlyArray<{ readonly ns: string; readonly local: string; readonly value: string }>; // xmlns declarations excluded
  /** Child elements only, in order. */
  readonly children: readonly XmlElement[];
  /** Everything inside, in order: child elements and text (CDATA as text). */
  readonly content: ReadonlyArray<XmlElement | string>;
  /** The text directly inside (children's text excluded), concatenated. */
  readonly text: string;
}

/** A body refused: 400 (not well-formed, undefined prefix, a DOCTYPE, too deep, too many elements) or 413 (too large). */
export class XmlRefusal extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The largest request body we parse. */
export const MAX_XML_BODY = 1024 * 1024;
/** Deeper than any WebDAV body needs (a PROPPATCH value nested a few levels is at depth 6 or so). */
const MAX_DEPTH = 64;
/** Enough for a PROPFIND naming every property anyone uses, far short of a tree that costs real memory. */
const MAX_ELEMENTS = 20_000;

/** An element while its content is still arriving. */
interface Building {
  ns: string;
  local: string;
  attributes: { ns: string; local: string; value: string }[];
  children: XmlElement[];
  content: (XmlElement | string)[];
  text: string;
}

// saxes is required on first use, not imported: a server that is never sent a WebDAV body never
// loads its 74 KB (as escape.ts does with `he`).
let saxes: typeof import("saxes") | undefined;

/** Parses a whole body (bytes; UTF-8, a UTF-8 BOM allowed; an XML declaration naming another encoding than UTF-8/US-ASCII → 400). Returns the root element. Throws XmlRefusal. */
export function parseXml(body: Buffer): XmlElement {
  if (body.length > MAX_XML_BODY) throw new XmlRefusal(413, `XML body of ${body.length} bytes is over ${MAX_XML_BODY}`);
  let xml: string;
  try {
    // fatal: bytes that are not UTF-8 are refused, not read as U+FFFD; the decoder drops a BOM.
    xml = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new XmlRefusal(400, "XML body is not UTF-8");
  }
  saxes ??= createRequire(import.meta.url)("saxes") as typeof import("saxes");
  // No error handler: saxes then throws its error at the first fault, and so stops there.
  const parser: SaxesParser<{ xmlns: true; position: false }> = new saxes.SaxesParser({ xmlns: true, position: false });
  const stack: Building[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  const addText = (text: string): void => {
    const parent = stack.at(-1);
    if (parent === undefined) return; // whitespace around the root (saxes refuses any other text there)
    parent.text += text;
    // Adjacent pieces (text, CDATA, text split by a comment) are one string, as they read back.
    if (typeof parent.content.at(-1) === "string") parent.content[parent.content.length - 1] += text;
    else parent.content.push(text);
  };
  parser.on("doctype", () => {
    // Thrown at the DOCTYPE's end, before the root element, so no entity it declares is ever used.
    throw new XmlRefusal(400, "DOCTYPE not accepted");
  });
  parser.on("xmldecl", ({ encoding }) => {
    // The bytes were read as UTF-8; a body that says it is something else was not written as we read it.
    if (encoding !== undefined && !/^(utf-8|us-ascii)$/i.test(encoding)) throw new XmlRefusal(400, `XML encoding ${encoding} not accepted (UTF-8 only)`);
  });
  parser.on("opentag", (tag: SaxesTagNS) => {
    if (stack.length + 1 > MAX_DEPTH) throw new XmlRefusal(400, `XML nested deeper than ${MAX_DEPTH} elements`);
    if (++elements > MAX_ELEMENTS) throw new XmlRefusal(400, `XML of more than ${MAX_ELEMENTS} elements`);
    const attributes = Object.values(tag.attributes).filter((a) => a.uri !== XMLNS_NS).map((a) => ({ ns: a.uri, local: a.local, value: a.value }));
    stack.push({ ns: tag.uri, local: tag.local, attributes, children: [], content: [], text: "" });
  });
  parser.on("closetag", () => {
    const element: XmlElement = stack.pop()!;
    const parent = stack.at(-1);
    if (parent === undefined) {
      root = element;
    } else {
      parent.children.push(element);
      parent.content.push(element);
    }
  });
  parser.on("text", addText);
  parser.on("cdata", addText);
  try {
    parser.write(xml).close();
  } catch (error) {
    if (error instanceof XmlRefusal) throw error;
    // saxes's own faults: not well-formed, an unbound prefix, no root, an undefined entity.
    throw new XmlRefusal(400, `XML not well-formed: ${(error as Error).message}`);
  }
  if (root === undefined) throw new XmlRefusal(400, "XML body has no root element"); // saxes says so first; kept for the type
  return root;
}

/**
 * An element's name and the declaration that makes it mean the same anywhere: its own default
 * namespace (xmlns="" for none, undoing whatever default surrounds it). An element in the XML
 * namespace is `xml:local` instead, as that namespace may not be a default.
 */
function standaloneName(ns: string, local: string): { name: string; declaration: string } {
  if (ns === XML_NS) return { name: `xml:${local}`, declaration: "" };
  return { name: local, declaration: ` xmlns="${escapeXml(ns)}"` };
}

/** The element as standalone XML text (used to keep a dead property's value and send it back in a PROPFIND): every element and attribute carries the namespace declarations it needs, so it means the same wherever it is pasted; an element in no namespace inside a default namespace gets xmlns="". Text escaped. */
export function elementXml(element: XmlElement): string {
  const { name, declaration } = standaloneName(element.ns, element.local);
  let open = name + declaration;
  // An attribute in a namespace needs a prefix (a default namespace does not apply to attributes):
  // ns1, ns2… declared on this element, one per namespace; xml: is bound everywhere already.
  const prefixes = new Map<string, string>([["", ""], [XML_NS, "xml:"]]);
  for (const { ns, local, value } of element.attributes) {
    let prefix = prefixes.get(ns);
    if (prefix === undefined) {
      prefix = `ns${prefixes.size - 1}:`;
      prefixes.set(ns, prefix);
      open += ` xmlns:${prefix.slice(0, -1)}="${escapeXml(ns)}"`;
    }
    // A tab or newline in an attribute reads back as a space unless written as a reference.
    open += ` ${prefix}${local}="${escapeXml(value).replace(/[\t\n]/g, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`)}"`;
  }
  const inner = contentXml(element);
  return inner === "" ? `<${open}/>` : `<${open}>${inner}</${name}>`;
}

/** The content of an element (children and text, in order) as XML, each child standalone as elementXml makes it. */
export function contentXml(element: XmlElement): string {
  return element.content.map((part) => (typeof part === "string" ? escapeXml(part) : elementXml(part))).join("");
}

const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#xD;" };

/** Text for XML character data or a double-quoted attribute value: & < > " escaped; characters XML 1.0 does not allow (control chars other than \t \n \r, U+FFFE/U+FFFF, lone surrogates) replaced by U+FFFD. */
export function escapeXml(text: string): string {
  // With the u flag a surrogate pair is one code point (U+10000 and above, allowed), so the
  // surrogate range matches only a lone half. A \r is written as a reference: a parser reads a
  // raw one as \n, and a value that held one (from &#13;) should come back as it went in.
  return text.replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF\uD800-\uDFFF]/gu, "\uFFFD").replace(/[&<>"\r]/g, (c) => XML_ESCAPES[c]!);
}

/** A property element for an answer: `<local xmlns="ns">inner</local>` (or `<local xmlns=""/>` for no namespace; `<D:local>` when ns is DAV: — the answer's root declares xmlns:D="DAV:"). `innerXml` is already XML (or "" for an empty element). Names are emitted as parsed (they are valid XML names). */
export function propertyXml(ns: string, local: string, innerXml: string, lang: string | null = null): string {
  const { name, declaration } = ns === DAV_NS ? { name: `D:${local}`, declaration: "" } : standaloneName(ns, local);
  // A dead property's language travels with it (RFC 4918 §4.3): xml:lang is bound everywhere, no declaration needed.
  const open = lang === null ? name + declaration : `${name}${declaration} xml:lang="${escapeXml(lang)}"`;
  return innerXml === "" ? `<${open}/>` : `<${open}>${innerXml}</${name}>`;
}
