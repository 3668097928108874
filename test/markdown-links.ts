/**
 * Markdown links as GitHub renders them, for the documentation tests: each heading's anchor (the
 * slug GitHub gives it), and every relative link, image, reference and HTML `href`/`src` of a
 * document, followed to a file and, after a `#`, to a heading of that file. Links with a scheme
 * (`https:`, `mailto:`…) are not followed. Code blocks, code spans and HTML comments hold no links.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/**
 * GitHub's anchor for a heading's text (github-slugger): lower case, every character that is not a
 * letter, mark, number, connector punctuation (`_`), space or `-` removed, each space made a `-`.
 */
export function githubSlug(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replace(/ /g, "-");
}

/** Slugs for the headings of one document, in order: a repeated slug gets `-1`, `-2`… as on GitHub. */
export class Slugger {
  private readonly occurrences = new Map<string, number>();

  slug(text: string): string {
    const original = githubSlug(text);
    let slug = original;
    while (this.occurrences.has(slug)) {
      const count = this.occurrences.get(original)! + 1;
      this.occurrences.set(original, count);
      slug = `${original}-${count}`;
    }
    this.occurrences.set(slug, 0);
    return slug;
  }
}

/** `text` with each of `ranges` replaced by spaces of the same length (line breaks kept), so offsets still hold. */
function blank(text: string, ranges: ReadonlyArray<readonly [start: number, end: number]>): string {
  let out = "";
  let at = 0;
  for (const [start, end] of ranges) {
    out += text.slice(at, start) + text.slice(start, end).replace(/[^\n]/g, " ");
    at = end;
  }
  return out + text.slice(at);
}

/** The document with fenced code blocks' contents (fences included) and HTML comments blanked. */
function withoutCodeBlocks(markdown: string): string {
  const ranges: Array<[number, number]> = [];
  let fence: { char: string; length: number; start: number } | null = null;
  let offset = 0;
  for (const line of markdown.split("\n")) {
    const end = offset + line.length;
    const marker = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence === null) {
      if (marker) fence = { char: marker[1]![0]!, length: marker[1]!.length, start: offset };
    } else if (marker && marker[1]![0] === fence.char && marker[1]!.length >= fence.length && line.trim() === marker[1]) {
      ranges.push([fence.start, end]);
      fence = null;
    }
    offset = end + 1;
  }
  if (fence !== null) ranges.push([fence.start, markdown.length]);
  const text = blank(markdown, ranges);
  return blank(text, [...text.matchAll(/<!--[\s\S]*?-->/g)].map((m) => [m.index, m.index + m[0].length] as const));
}

/** Code spans (`` `x` ``, ``` `` a`b `` ```), which may wrap across lines but not across a blank line. */
function codeSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const runs = [...text.matchAll(/`+/g)];
  for (let i = 0; i < runs.length; i++) {
    const open = runs[i]!;
    for (let j = i + 1; j < runs.length; j++) {
      const close = runs[j]!;
      if (/\n[ \t]*\n/.test(text.slice(open.index, close.index))) break;
      if (close[0].length === open[0].length) {
        spans.push([open.index, close.index + close[0].length]);
        i = j;
        break;
      }
    }
  }
  return spans;
}

/** A heading's text as GitHub renders it: code spans' contents kept, link and emphasis marks and HTML tags gone. */
export function headingText(source: string): string {
  const code: string[] = [];
  let text = source.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_, __, inner: string) => {
    code.push(inner.trim() === "" ? inner : inner.replace(/^ (.*) $/, "$1"));
    return `\u0000${code.length - 1}\u0000`;
  });
  text = text
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/!?\[([^\]]*)\]\[[^\]]*\]/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/(\*{1,3}|~~)(\S(?:[\s\S]*?\S)?)\1/g, "$2")
    .replace(/(?<![\p{L}\p{N}])(_{1,3})(\S(?:[\s\S]*?\S)?)\1(?![\p{L}\p{N}])/gu, "$2")
    .replace(/\\([!-/:-@[-`{-~])/g, "$1")
    .replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'");
  return text.replace(/\u0000(\d+)\u0000/g, (_, i: string) => code[Number(i)]!).trim();
}

/** The anchors a document offers: its headings' slugs (ATX and setext) and HTML `id`/`name` attributes. */
export function anchorsOf(markdown: string): Set<string> {
  const text = withoutCodeBlocks(markdown);
  const slugger = new Slugger();
  const anchors = new Set<string>();
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      anchors.add(slugger.slug(headingText(atx[1] ?? "")));
      return;
    }
    const previous = lines[i - 1];
    if (/^ {0,3}(=+|-+)[ \t]*$/.test(line) && previous !== undefined && previous.trim() !== "" && !/^\s*([#>|*+-]|\d+[.)])/.test(previous)) {
      anchors.add(slugger.slug(headingText(previous)));
    }
  });
  for (const m of text.matchAll(/<[a-z][^>]*\s(?:id|name)\s*=\s*"([^"]+)"/gi)) anchors.add(m[1]!);
  return anchors;
}

export interface MarkdownLink {
  /** 1-based line of the link in its document. */
  line: number;
  /** The link as written, for messages. */
  source: string;
  /** Where it leads, as written (`<…>` removed); null for a reference whose label has no definition. */
  destination: string | null;
}

function normalizeLabel(label: string): string {
  return label.trim().replace(/\s+/g, " ").toLowerCase();
}

/** Every link of a document: inline links and images, references (full, collapsed, shortcut), definitions, HTML `href` and `src`. */
export function linksOf(markdown: string): MarkdownLink[] {
  const blocks = withoutCodeBlocks(markdown);
  let text = blank(blocks, codeSpans(blocks));
  const lineAt = (offset: number) => markdown.slice(0, offset).split("\n").length;
  const found: MarkdownLink[] = [];
  const add = (index: number, length: number, destination: string | null) =>
    found.push({ line: lineAt(index), source: markdown.slice(index, index + length).replace(/\s*\n\s*/g, " "), destination });

  // Reference definitions: `[label]: destination "title"` on a line of its own.
  const definitions = new Map<string, string>();
  const definitionRanges: Array<[number, number]> = [];
  for (const m of text.matchAll(/^ {0,3}\[([^\]]+)\]:[ \t]*(<[^>\n]*>|\S+)(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$/gm)) {
    const destination = m[2]!.replace(/^<(.*)>$/, "$1");
    if (!definitions.has(normalizeLabel(m[1]!))) definitions.set(normalizeLabel(m[1]!), destination);
    add(m.index, m[0].length, destination);
    definitionRanges.push([m.index, m.index + m[0].length]);
  }
  text = blank(text, definitionRanges);

  // Inline links and images: `[text](destination "title")`, the text possibly holding `[…]` and line breaks.
  const inline = /!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([ \t\n]*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:[ \t\n]+(?:"[^"]*"|'[^']*'|\([^)]*\)))?[ \t\n]*\)/g;
  const inlineRanges: Array<[number, number]> = [];
  for (const m of text.matchAll(inline)) {
    add(m.index, m[0].length, m[2]!.replace(/^<(.*)>$/, "$1"));
    inlineRanges.push([m.index, m.index + m[0].length]);
  }
  text = blank(text, inlineRanges);

  // References: `[text][label]`, `[label][]`, and `[label]` alone when a definition names it.
  for (const m of text.matchAll(/!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\](?:\[([^\[\]]*)\])?/g)) {
    const explicit = m[2];
    if (explicit === undefined) {
      if (/^[ \t]*[:(]/.test(text.slice(m.index + m[0].length))) continue;
      const destination = definitions.get(normalizeLabel(m[1]!));
      if (destination !== undefined) add(m.index, m[0].length, destination);
      continue;
    }
    const label = normalizeLabel(explicit === "" ? m[1]! : explicit);
    add(m.index, m[0].length, definitions.get(label) ?? null);
  }

  // Raw HTML.
  for (const m of text.matchAll(/<(?:a|img|source|link)\s[^>]*?\b(?:href|src)\s*=\s*"([^"]*)"/gi)) add(m.index, m[0].length, m[1]!);
  return found.sort((a, b) => a.line - b.line);
}

/** True for a link this checker leaves alone: one with a scheme (`https:`, `mailto:`…) or protocol-relative. */
export function isExternal(destination: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(destination) || destination.startsWith("//");
}

/**
 * The links of `document` (a path relative to `root`) that lead nowhere, one message each, naming
 * the document, the line, the link and what is missing. Empty when every relative link leads to a
 * file or folder inside `root` and every `#anchor` to a heading of its Markdown file.
 */
export function brokenLinks(root: string, document: string): string[] {
  const file = path.join(root, document);
  const markdown = readFileSync(file, "utf8");
  const problems: string[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (target: string) => {
    let set = anchorCache.get(target);
    if (!set) anchorCache.set(target, (set = anchorsOf(readFileSync(target, "utf8"))));
    return set;
  };
  for (const link of linksOf(markdown)) {
    const where = `${document}:${link.line}: ${link.source}`;
    if (link.destination === null) {
      problems.push(`${where}: no definition for this reference`);
      continue;
    }
    if (isExternal(link.destination)) continue;
    if (link.destination === "") {
      problems.push(`${where}: the link is empty`);
      continue;
    }
    const hash = link.destination.indexOf("#");
    const pathPart = (hash === -1 ? link.destination : link.destination.slice(0, hash)).replace(/\?.*$/, "");
    let targetPath: string;
    let anchor: string;
    try {
      targetPath = decodeURIComponent(pathPart);
      anchor = hash === -1 ? "" : decodeURIComponent(link.destination.slice(hash + 1));
    } catch {
      problems.push(`${where}: malformed percent-encoding`);
      continue;
    }
    const target = targetPath === "" ? file : targetPath.startsWith("/") ? path.join(root, targetPath) : path.resolve(path.dirname(file), targetPath);
    const relativeTarget = path.relative(root, target);
    if (relativeTarget.startsWith("..") || path.isAbsolute(relativeTarget)) {
      problems.push(`${where}: leads outside the repository, to ${target}`);
      continue;
    }
    if (!existsSync(target)) {
      problems.push(`${where}: no file ${relativeTarget}`);
      continue;
    }
    if (hash === -1) continue;
    if (!statSync(target).isFile() || !target.endsWith(".md")) {
      problems.push(`${where}: #${anchor} asked of ${relativeTarget}, which is not a Markdown file`);
      continue;
    }
    if (!anchors(target).has(anchor)) problems.push(`${where}: no heading with the anchor #${anchor} in ${relativeTarget || document}`);
  }
  return problems;
}
