/**
 * The XML of WebDAV (src/dav-xml.ts): RFC 4918's example bodies parse to the elements they name;
 * a value written back by elementXml parses to the same tree wherever it is pasted (litmus's
 * property tests among the cases); and every body a server must not parse is refused, with the
 * status the caller answers with, before it costs anything.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { contentXml, DAV_NS, elementXml, escapeXml, MAX_XML_BODY, parseXml, propertyXml, XmlRefusal, type XmlElement } from "../src/dav-xml.js";

const XML_DECL = '<?xml version="1.0" encoding="utf-8" ?>\n';
const LITMUS_NS = "http://example.com/neon/litmus/";

function parse(xml: string): XmlElement {
  return parseXml(Buffer.from(xml, "utf8"));
}

/** ns and local of each child element, as `{ns}local`. */
function names(element: XmlElement): string[] {
  return element.children.map((child) => `{${child.ns}}${child.local}`);
}

function refused(body: string | Buffer, status: 400 | 413, reason: RegExp): void {
  assert.throws(
    () => parseXml(typeof body === "string" ? Buffer.from(body, "utf8") : body),
    (error: unknown) => error instanceof XmlRefusal && error.status === status && reason.test(error.reason),
  );
}

/** elementXml's text means the same standalone and pasted inside a default namespace and a clashing prefix. */
function assertRoundTrip(element: XmlElement): void {
  assert.deepEqual(parse(elementXml(element)), element);
  const pasted = parse(`<wrap xmlns="urn:elsewhere" xmlns:ns1="urn:clash" xmlns:D="urn:not-dav">${elementXml(element)}</wrap>`);
  assert.deepEqual(pasted.children[0], element);
}

test("RFC 4918 §9.1.3's PROPFIND names four properties in another namespace", () => {
  const root = parse(`${XML_DECL}<D:propfind xmlns:D="DAV:">
  <D:prop xmlns:R="http://ns.example.com/boxschema/">
    <R:bigbox/>
    <R:author/>
    <R:DingALing/>
    <R:Random/>
  </D:prop>
</D:propfind>`);
  assert.equal(root.ns, DAV_NS);
  assert.equal(root.local, "propfind");
  assert.deepEqual(names(root), ["{DAV:}prop"]);
  const box = "http://ns.example.com/boxschema/";
  assert.deepEqual(names(root.children[0]!), ["bigbox", "author", "DingALing", "Random"].map((local) => `{${box}}${local}`));
  assert.deepEqual(root.children[0]!.attributes, [], "xmlns declarations are not attributes");
});

test("RFC 4918 §9.1.6's PROPFIND allprop with include, and litmus's <propfind> with an unknown element", () => {
  const root = parse(`<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:supported-live-property-set/><D:supported-report-set/></D:include></D:propfind>`);
  assert.deepEqual(names(root), ["{DAV:}allprop", "{DAV:}include"]);
  assert.deepEqual(names(root.children[1]!), ["{DAV:}supported-live-property-set", "{DAV:}supported-report-set"]);
  const extended = parse(`${XML_DECL}<propfind xmlns="DAV:"><foobar/><allprop/></propfind>`);
  assert.deepEqual(names(extended), ["{DAV:}foobar", "{DAV:}allprop"]);
});

test("RFC 4918 §9.2.2's PROPPATCH sets a structured value and removes a property", () => {
  const z = "http://ns.example.com/standards/z39.50/";
  const root = parse(`${XML_DECL}<D:propertyupdate xmlns:D="DAV:"
        xmlns:Z="${z}">
  <D:set>
    <D:prop>
      <Z:Authors>
        <Z:Author>Jim Whitehead</Z:Author>
        <Z:Author>Roy Fielding</Z:Author>
      </Z:Authors>
    </D:prop>
  </D:set>
  <D:remove>
    <D:prop><Z:Copyright-Owner/></D:prop>
  </D:remove>
</D:propertyupdate>`);
  assert.deepEqual(names(root), ["{DAV:}set", "{DAV:}remove"]);
  const authors = root.children[0]!.children[0]!.children[0]!;
  assert.deepEqual([authors.ns, authors.local], [z, "Authors"]);
  assert.deepEqual(authors.children.map((author) => author.text), ["Jim Whitehead", "Roy Fielding"]);
  assert.equal(authors.text.trim(), "", "the whitespace between children is the element's own text");
  assert.deepEqual(names(root.children[1]!.children[0]!), [`{${z}}Copyright-Owner`]);
  assertRoundTrip(authors);
});

test("RFC 4918 §9.10.7's LOCK body: scope, type and an owner with an href", () => {
  const root = parse(`${XML_DECL}<D:lockinfo xmlns:D='DAV:'>
  <D:lockscope><D:exclusive/></D:lockscope>
  <D:locktype><D:write/></D:locktype>
  <D:owner>
    <D:href>http://example.org/~ejw/contact.html</D:href>
  </D:owner>
</D:lockinfo>`);
  assert.deepEqual([root.ns, root.local], [DAV_NS, "lockinfo"]);
  assert.deepEqual(names(root), ["{DAV:}lockscope", "{DAV:}locktype", "{DAV:}owner"]);
  assert.deepEqual(names(root.children[0]!), ["{DAV:}exclusive"]);
  assert.deepEqual(names(root.children[1]!), ["{DAV:}write"]);
  assert.equal(root.children[2]!.children[0]!.text, "http://example.org/~ejw/contact.html");
  assert.equal(contentXml(root.children[2]!).trim(), '<href xmlns="DAV:">http://example.org/~ejw/contact.html</href>');
});

test("mixed content keeps its order; CDATA is text, comments and processing instructions are dropped, adjacent text is one string", () => {
  const root = parse(`<?xml version="1.0"?><!-- before --><p xmlns="urn:x">a<b/>c<![CDATA[<d> & ]]><!-- c --><?pi body?>e<f>g</f>h</p><!-- after -->\n`);
  assert.deepEqual(
    root.content.map((part) => (typeof part === "string" ? part : `<${part.local}>`)),
    ["a", "<b>", "c<d> & e", "<f>", "h"],
  );
  assert.equal(root.text, "ac<d> & eh");
  assert.deepEqual(names(root), ["{urn:x}b", "{urn:x}f"]);
  assert.equal(contentXml(root), 'a<b xmlns="urn:x"/>c&lt;d&gt; &amp; e<f xmlns="urn:x">g</f>h');
  assertRoundTrip(root);
});

test("RFC 4918 §4.4's property value (prefixes, a comment, attributes, CDATA, XHTML inside) round-trips through elementXml", () => {
  const root = parse(`<D:prop xml:lang="en" xmlns:D="DAV:">
  <x:author xmlns:x='http://example.com/ns'>
    <x:name>Jane Doe</x:name>
    <!-- Jane's contact info -->
    <x:uri type='email' added='2005-11-26'>mailto:jane.doe@example.com</x:uri>
    <x:uri type='web' added='2005-11-27'>http://www.example.com</x:uri>
    <x:notes xmlns:h='http://www.w3.org/1999/xhtml'>
      Jane has been working way <h:em>too</h:em> long on the
      long-awaited revision of <![CDATA[<RFC2518>]]>.
    </x:notes>
  </x:author>
</D:prop>`);
  assert.deepEqual(root.attributes, [{ ns: "http://www.w3.org/XML/1998/namespace", local: "lang", value: "en" }]);
  const author = root.children[0]!;
  assert.deepEqual(author.children[1]!.attributes, [{ ns: "", local: "type", value: "email" }, { ns: "", local: "added", value: "2005-11-26" }]);
  assert.deepEqual(names(author.children[3]!), ["{http://www.w3.org/1999/xhtml}em"]);
  assertRoundTrip(root);
  assertRoundTrip(author);
  assert.match(elementXml(root), /^<prop xmlns="DAV:" xml:lang="en">/, "xml: needs no declaration");
});

test("elementXml: default namespace, xmlns=\"\" inside one, prefixed names, attributes in namespaces", () => {
  const root = parse(`<a:outer xmlns:a="urn:a" xmlns="urn:default" xmlns:b="urn:b" b:x="1" a:y="2" plain="3" b:z="4">
    <inner xmlns="">no namespace</inner><kept/><b:pre b:q="5"/></a:outer>`);
  assert.deepEqual(root.attributes, [
    { ns: "urn:b", local: "x", value: "1" },
    { ns: "urn:a", local: "y", value: "2" },
    { ns: "", local: "plain", value: "3" },
    { ns: "urn:b", local: "z", value: "4" },
  ]);
  assert.deepEqual(names(root), ["{}inner", "{urn:default}kept", "{urn:b}pre"]);
  assert.equal(elementXml(root.children[0]!), '<inner xmlns="">no namespace</inner>');
  assert.equal(elementXml(root.children[2]!), '<pre xmlns="urn:b" xmlns:ns1="urn:b" ns1:q="5"/>');
  assertRoundTrip(root);
  // Not in a namespace at all, pasted inside a default namespace: xmlns="" keeps it out.
  assertRoundTrip(parse("<bare>text</bare>"));
  // The XML namespace may be no default, so an element in it keeps the xml: prefix (bound everywhere).
  assert.equal(elementXml(parse('<xml:odd xml:lang="fr"/>')), '<xml:odd xml:lang="fr"/>');
  assert.equal(propertyXml("http://www.w3.org/XML/1998/namespace", "odd", "x"), "<xml:odd>x</xml:odd>");
});

test("elementXml: & < > \" in text and attributes, tab/newline/CR kept, U+10000 and above kept", () => {
  const root = parse(`<v xmlns="${LITMUS_NS}" a="&lt;&amp;&gt;&quot;'&#9;&#10;&#13;">&lt;tag&gt; &amp;amp; "q" ]]&gt; &#13;&#65536;\u{10FFFD}</v>`);
  assert.equal(root.attributes[0]!.value, "<&>\"'\t\n\r");
  assert.equal(root.text, '<tag> &amp; "q" ]]> \r\u{10000}\u{10FFFD}');
  assert.equal(contentXml(root), "&lt;tag&gt; &amp;amp; &quot;q&quot; ]]&gt; &#xD;\u{10000}\u{10FFFD}");
  assertRoundTrip(root);
});

test("litmus propvalnspace: a value defining its own namespace goes back as well-formed XML in that namespace", () => {
  const update = parse(`${XML_DECL}<propertyupdate xmlns='DAV:'><set><prop><t:valnspace xmlns:t='${LITMUS_NS}'><foo xmlns='http://bar'/></t:valnspace></prop></set></propertyupdate>`);
  const property = update.children[0]!.children[0]!.children[0]!;
  assert.deepEqual([property.ns, property.local], [LITMUS_NS, "valnspace"]);
  const kept = contentXml(property);
  assert.equal(kept, '<foo xmlns="http://bar"/>');
  // As a PROPFIND answer would carry it (litmus propwformed parses the answer).
  const answer = parse(`<D:multistatus xmlns:D="DAV:"><D:response><D:propstat><D:prop>${propertyXml(property.ns, property.local, kept)}</D:prop></D:propstat></D:response></D:multistatus>`);
  const back = answer.children[0]!.children[0]!.children[0]!.children[0]!;
  assert.deepEqual(back, property);
});

test("litmus propnullns, prophighunicode, propmanyns: each value comes back as it was set", () => {
  const nullNs = parse(`${XML_DECL}<propertyupdate xmlns="DAV:"><set><prop><nonamespace xmlns="">randomvalue</nonamespace></prop></set></propertyupdate>`);
  const empty = nullNs.children[0]!.children[0]!.children[0]!;
  assert.deepEqual([empty.ns, empty.local, empty.text], ["", "nonamespace", "randomvalue"]);
  assert.equal(propertyXml(empty.ns, empty.local, contentXml(empty)), '<nonamespace xmlns="">randomvalue</nonamespace>');
  assert.equal(propertyXml("", "nonamespace", ""), '<nonamespace xmlns=""/>');

  const high = parse(`${XML_DECL}<propertyupdate xmlns='DAV:'><set><prop><high-unicode xmlns='${LITMUS_NS}'>&#65536;</high-unicode></prop></set></propertyupdate>`);
  const value = high.children[0]!.children[0]!.children[0]!;
  assert.equal(value.text, "\u{10000}");
  const written = propertyXml(value.ns, value.local, contentXml(value));
  assert.equal(written, `<high-unicode xmlns="${LITMUS_NS}">\u{10000}</high-unicode>`);
  assert.equal(Buffer.from(written).includes(Buffer.from([0xf0, 0x90, 0x80, 0x80])), true, "U+10000 as litmus compares it, 4 bytes of UTF-8");

  const many = Array.from({ length: 10 }, (_, n) => `http://example.com/${["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"][n]}`);
  const props = many.map((ns) => propertyXml(ns, "somename", escapeXml("manynsvalue"))).join("");
  const answer = parse(`<D:prop xmlns:D="DAV:">${props}<D:getetag>"e&amp;"</D:getetag></D:prop>`);
  assert.deepEqual(names(answer), [...many.map((ns) => `{${ns}}somename`), "{DAV:}getetag"]);
  assert.deepEqual(answer.children.map((child) => child.text), [...many.map(() => "manynsvalue"), '"e&"']);
  assert.equal(propertyXml(DAV_NS, "getetag", escapeXml('"e&"')), "<D:getetag>&quot;e&amp;&quot;</D:getetag>");
  assert.equal(propertyXml(DAV_NS, "resourcetype", propertyXml(DAV_NS, "collection", "")), "<D:resourcetype><D:collection/></D:resourcetype>");
});

test("escapeXml: the five characters escaped, characters XML 1.0 forbids replaced by U+FFFD, the rest kept", () => {
  assert.equal(escapeXml(`a&b<c>d"e'f`), "a&amp;b&lt;c&gt;d&quot;e'f");
  assert.equal(escapeXml("\t\n\r"), "\t\n&#xD;");
  assert.equal(escapeXml("\x00\x08\x0B\x0C\x1F\x7F"), "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\x7F");
  assert.equal(escapeXml("\uFFFE\uFFFF\uFFFD"), "\uFFFD\uFFFD\uFFFD");
  assert.equal(escapeXml("lone \uD800 and \uDC00, pair \uD83D\uDE00 \u{10000}"), "lone \uFFFD and \uFFFD, pair \u{1F600} \u{10000}");
});

test("encodings: UTF-8 with or without a BOM and a declaration of UTF-8 or US-ASCII are read; anything else is 400", () => {
  assert.equal(parseXml(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("<x>é</x>")])).text, "é");
  assert.equal(parse('<?xml version="1.0" encoding="UTF-8"?><x/>').local, "x");
  assert.equal(parse("<?xml version='1.0' encoding='us-ascii'?><x/>").local, "x");
  refused('<?xml version="1.0" encoding="UTF-16"?><x/>', 400, /UTF-16/);
  refused('<?xml version="1.0" encoding="ISO-8859-1"?><x>\xe9</x>', 400, /ISO-8859-1/);
  refused(Buffer.from('\ufeff<?xml version="1.0" encoding="UTF-16"?><x/>', "utf16le"), 400, /not UTF-8/);
  refused(Buffer.from([0x3c, 0x78, 0x3e, 0xe9, 0x3c, 0x2f, 0x78, 0x3e]), 400, /not UTF-8/);
});

test("not well-formed: 400 for each fault", () => {
  for (const body of [
    "",
    "  \n\t ",
    '<D:propfind xmlns:D="DAV:">',
    "<a><b></a></b>",
    "<a/><b/>",
    "<a/>text after",
    "text before<a/>",
    "<a>&nbsp;</a>",
    "<a x='1' x='2'/>",
    "<a>\u0001</a>",
    "<1a/>",
  ]) {
    refused(body, 400, /not well-formed/);
  }
});

test("an undefined namespace prefix, on an element or an attribute, is 400", () => {
  refused('<D:propfind xmlns:E="DAV:"/>', 400, /not well-formed: unbound namespace prefix: "D"/);
  refused('<D:propfind xmlns:D="DAV:"><D:prop><R:bigbox/></D:prop></D:propfind>', 400, /unbound namespace prefix: "R"/);
  refused('<x xmlns="urn:x" y:z="1"/>', 400, /unbound namespace prefix: "y"/);
});

test("billion laughs: the DOCTYPE is refused before any entity is declared or used, at once", () => {
  const entities = Array.from({ length: 9 }, (_, n) => `<!ENTITY lol${n + 1} "${`&lol${n};`.repeat(10)}">`).join("");
  const started = performance.now();
  refused(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">${entities}]><lolz>&lol9;</lolz>`, 400, /^DOCTYPE not accepted$/);
  assert.ok(performance.now() - started < 1000);
  refused('<!DOCTYPE x SYSTEM "x.dtd"><x/>', 400, /^DOCTYPE not accepted$/);
  refused("<!DOCTYPE x><x/>", 400, /^DOCTYPE not accepted$/);
});

test("an external entity is refused at its DOCTYPE: the reason is the DOCTYPE's, so the parse stopped before &e;", () => {
  // Had the parse gone on to the reference, saxes would say "undefined entity"; it never resolves
  // a SYSTEM identifier in any case, and we never reach one.
  refused('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', 400, /^DOCTYPE not accepted$/);
  refused('<?xml version="1.0"?>\n<!DOCTYPE D:propfind [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><D:propfind xmlns:D="DAV:"/>', 400, /^DOCTYPE not accepted$/);
});

test("depth: 64 nested elements are parsed, 65 are 400", () => {
  const nested = (depth: number) => "<a>".repeat(depth) + "</a>".repeat(depth);
  let element: XmlElement | undefined = parse(nested(64));
  let depth = 0;
  for (; element !== undefined; element = element.children[0]) depth++;
  assert.equal(depth, 64);
  refused(nested(65), 400, /deeper than 64/);
});

test("element count: 20,000 elements are parsed, 20,001 are 400", () => {
  assert.equal(parse(`<r>${"<e/>".repeat(19_999)}</r>`).children.length, 19_999);
  refused(`<r>${"<e/>".repeat(20_000)}</r>`, 400, /more than 20000 elements/);
});

test("size: a body of MAX_XML_BODY bytes is parsed, one byte more is 413", () => {
  assert.equal(MAX_XML_BODY, 1024 * 1024);
  const body = (size: number) => Buffer.from(`<r>${" ".repeat(size - "<r></r>".length)}</r>`);
  assert.equal(parseXml(body(MAX_XML_BODY)).local, "r");
  refused(body(MAX_XML_BODY + 1), 413, /over 1048576/);
});

test("XmlRefusal is an Error with its status and reason", () => {
  const refusal = new XmlRefusal(413, "too large");
  assert.ok(refusal instanceof Error);
  assert.deepEqual([refusal.status, refusal.reason, refusal.message], [413, "too large", "too large"]);
});
