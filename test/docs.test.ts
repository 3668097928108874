/**
 * The documentation: every relative link and `#anchor` in README.md, SECURITY.md and docs/ leads to
 * a file and a heading that exist (anchors computed as GitHub computes them), the README stays one
 * screen of what and how, and each page in docs/ opens with its title and a one-line summary.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT, tempDir } from "./helpers.js";
import { anchorsOf, brokenLinks, githubSlug, headingText, isExternal, linksOf, Slugger } from "./markdown-links.js";

/** The pages of docs/, as paths relative to the repository. */
const PAGES = readdirSync(path.join(PROJECT_ROOT, "docs")).filter((name) => name.endsWith(".md")).sort().map((name) => `docs/${name}`);
/** Every document whose links are followed. */
const DOCUMENTS = ["README.md", "SECURITY.md", ...PAGES];
const README_LIMIT = 12 * 1024;

function read(document: string): string {
  return readFileSync(path.join(PROJECT_ROOT, document), "utf8");
}

for (const document of DOCUMENTS) {
  test(`every relative link and #anchor in ${document} leads to a file and a heading that exist`, () => {
    const problems = brokenLinks(PROJECT_ROOT, document);
    assert.deepEqual(problems, [], `links in ${document} that lead nowhere:\n${problems.join("\n")}`);
  });
}

test(`README.md is at most 12 KB (${README_LIMIT} bytes)`, () => {
  const size = statSync(path.join(PROJECT_ROOT, "README.md")).size;
  assert.ok(size <= README_LIMIT, `README.md is ${size} bytes, ${size - README_LIMIT} over; move the detail into docs/`);
});

test("README.md's Quick start keeps the two set-up commands: one serves, one tests", () => {
  const readme = read("README.md");
  for (const command of ["npm install && npm start", "npm install && npm test"]) assert.ok(readme.includes(`\n${command} `), `README.md has \`${command}\` at the start of a line`);
});

test("README.md links to every page in docs/", () => {
  const linked = new Set(linksOf(read("README.md")).flatMap(({ destination }) => (destination === null || isExternal(destination) ? [] : [path.posix.normalize(destination.replace(/#.*$/, ""))])));
  const missing = PAGES.filter((page) => !linked.has(page));
  assert.deepEqual(missing, [], `pages no link in README.md leads to: ${missing.join(", ")}`);
});

for (const page of PAGES) {
  test(`${page} opens with a # title, then a one-sentence summary`, () => {
    const [title, gap, ...rest] = read(page).split("\n");
    assert.match(title ?? "", /^# \S/, `${page}: the first line is its title`);
    assert.equal(gap, "", `${page}: a blank line after the title`);
    const end = rest.indexOf("");
    const summary = rest.slice(0, end === -1 ? rest.length : end).join(" ");
    assert.match(summary, /^[\p{L}`"(]/u, `${page}: the paragraph after the title is the summary, in prose`);
    assert.match(summary, /\.$/, `${page}: the summary is a sentence: ${summary}`);
    assert.doesNotMatch(summary.slice(0, -1), /[.?!] \p{Lu}/u, `${page}: the summary is one sentence: ${summary}`);
    assert.ok(summary.length <= 200, `${page}: the summary is short (${summary.length} characters): ${summary}`);
  });
}

test("every runtime dependency in package.json is named in docs/dependencies.md, with its npm page", () => {
  const { dependencies } = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
  const page = read("docs/dependencies.md");
  const unnamed = Object.keys(dependencies).filter((name) => !page.includes(`[\`${name}\`](https://www.npmjs.com/package/${name})`));
  assert.deepEqual(unnamed, [], `dependencies docs/dependencies.md does not name: ${unnamed.join(", ")}`);
});

test("anchors are GitHub's slugs: lower case, punctuation gone but - and _, code kept as text, repeats numbered", () => {
  assert.equal(githubSlug(headingText("Single-page apps: `--spa`")), "single-page-apps---spa");
  assert.equal(githubSlug(headingText("Every core: `--workers`")), "every-core---workers");
  assert.equal(githubSlug(headingText("Allowed hosts (DNS rebinding)")), "allowed-hosts-dns-rebinding");
  assert.equal(githubSlug(headingText("`--open`")), "--open");
  assert.equal(githubSlug(headingText("What's *new* in [v2](https://example.com/)?")), "whats-new-in-v2");
  assert.equal(githubSlug(headingText("snake_case & C#")), "snake_case--c");
  assert.equal(githubSlug(headingText("Ünïcödé ✓ 1.2")), "ünïcödé--12");
  const slugger = new Slugger();
  assert.deepEqual(["Notes", "Notes", "Notes-1", "Notes"].map((text) => slugger.slug(text)), ["notes", "notes-1", "notes-1-1", "notes-2"]);
  assert.deepEqual([...anchorsOf("# Title\n\n```\n# not a heading\n```\n\nSetext\n------\n\n## Title ##\n<a id=\"here\"></a>\n")], ["title", "setext", "title-1", "here"]);
});

test("the link checker reports a missing file, a missing anchor and an undefined reference, and skips code and external links", (t) => {
  const root = tempDir(t, {
    "guide.md": [
      "# Guide",
      "",
      "## Two words",
      "",
      "[fine](other.md#part-one) [fine too](#two-words) [a folder](sub) ![image](sub/pic.png) [ref][ok]",
      "[gone](missing.md) [no anchor](other.md#part-two)",
      "[wrapped",
      "text](#nowhere) [undefined][nolabel] [web](https://example.com/x#y) [mail](mailto:a@b.c)",
      "`[in code](missing.md)`",
      "```",
      "[in a block](missing.md)",
      "```",
      '<a href="sub/absent.html">html</a>',
      "",
      "[ok]: other.md#part-one",
      "",
    ].join("\n"),
    "other.md": "# Other\n\n## Part one\n",
    sub: { "pic.png": "" },
  });
  assert.deepEqual(brokenLinks(root, "guide.md"), [
    "guide.md:6: [gone](missing.md): no file missing.md",
    "guide.md:6: [no anchor](other.md#part-two): no heading with the anchor #part-two in other.md",
    "guide.md:7: [wrapped text](#nowhere): no heading with the anchor #nowhere in guide.md",
    "guide.md:8: [undefined][nolabel]: no definition for this reference",
    'guide.md:13: <a href="sub/absent.html": no file sub/absent.html',
  ]);
});
