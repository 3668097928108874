/**
 * The WebDAV `If` request header (RFC 4918 §10.4): lists of conditions on lock tokens and ETags,
 * which make a request conditional and also submit the lock tokens that let a write through a lock.
 *
 *   If = ( 1*No-tag-list | 1*Tagged-list )
 *   No-tag-list = List
 *   Tagged-list = Resource-Tag 1*List
 *   List = "(" 1*Condition ")"
 *   Condition = ["Not"] (State-token | "[" entity-tag "]")
 *   State-token = Coded-URL = "<" absolute-URI ">"
 *   Resource-Tag = "<" Simple-ref ">"
 *
 * Choices the RFC leaves open, or where we part from it, are marked "Choice:" below.
 */

export type Condition =
  | { readonly not: boolean; readonly kind: "token"; readonly token: string }
  | { readonly not: boolean; readonly kind: "etag"; readonly etag: string };

/** `tag`: the Resource-Tag as written (without < >); null for a No-tag-list. */
export interface IfList {
  readonly tag: string | null;
  readonly conditions: readonly Condition[];
}

export type IfHeader = readonly IfList[];

/**
 * Parses the header; null when it is malformed, which the caller answers with 400.
 *
 * Whitespace (spaces, tabs, and the line breaks of a folded header) may stand between the parts,
 * as HTTP's implied LWS allows, but not within a < > URL nor between [ ] and its entity-tag, where
 * §10.4.2 forbids it. Choice: a comma between lists or conditions is malformed; that is also what
 * two If headers joined into one by Node look like, and §10.4.2 allows only one. Choice: the URLs inside < > are not checked against the
 * URI grammar, only for what would make the header ambiguous (whitespace, < or >, nothing at all);
 * a token we never issued simply matches no lock.
 */
export function parseIf(value: string): IfHeader | null {
  const reader = new Reader(value);
  const lists: IfList[] = [];
  let tagged: boolean | null = null; // settled by the first list or tag: the two forms may not mix
  let tag: string | null = null;
  reader.skipSpace();
  if (reader.atEnd()) return null;
  while (!reader.atEnd()) {
    if (reader.peek() === "<") {
      if (tagged === false) return null;
      tagged = true;
      tag = reader.codedUrl();
      reader.skipSpace();
      if (tag === null || reader.peek() !== "(") return null; // a Resource-Tag needs at least one List
    } else if (reader.peek() === "(") {
      tagged ??= false;
      const conditions = readList(reader);
      if (conditions === null) return null;
      lists.push({ tag, conditions });
    } else {
      return null;
    }
    reader.skipSpace();
  }
  return lists;
}

/** `"(" 1*Condition ")"`, the reader at the "(". */
function readList(reader: Reader): Condition[] | null {
  if (!reader.eat("(")) return null;
  const conditions: Condition[] = [];
  for (reader.skipSpace(); !reader.eat(")"); reader.skipSpace()) {
    const condition = readCondition(reader);
    if (condition === null) return null;
    conditions.push(condition);
  }
  return conditions.length > 0 ? conditions : null;
}

function readCondition(reader: Reader): Condition | null {
  // "Not" is an ABNF literal, so any case will do; the space after it is optional, as between any parts.
  const not = reader.eatWord("not");
  if (not) reader.skipSpace();
  if (reader.peek() === "<") {
    const token = reader.codedUrl();
    return token === null ? null : { not, kind: "token", token };
  }
  if (reader.peek() === "[") {
    const etag = reader.bracketedEntityTag();
    return etag === null ? null : { not, kind: "etag", etag };
  }
  return null;
}

/** A cursor over the header's text. */
class Reader {
  private at = 0;
  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.at >= this.text.length;
  }

  peek(): string | undefined {
    return this.text[this.at];
  }

  skipSpace(): void {
    while (/[ \t\r\n]/.test(this.text[this.at] ?? "")) this.at++;
  }

  eat(char: string): boolean {
    if (this.text[this.at] !== char) return false;
    this.at++;
    return true;
  }

  eatWord(word: string): boolean {
    if (this.text.slice(this.at, this.at + word.length).toLowerCase() !== word) return false;
    this.at += word.length;
    return true;
  }

  /** `"<" URL ">"`: the URL as written, or null when it is empty or holds whitespace or "<". */
  codedUrl(): string | null {
    return this.sticky(/<([^\s<>]+)>/y);
  }

  /**
   * `"[" entity-tag "]"`, the tag kept with its W/ and quotes. RFC 4918 takes entity-tag from RFC 2616
   * §3.11, where the opaque part is a quoted-string, so spaces are allowed in it (§10.4.6's own example
   * is "I am an ETag"); a backslash is an ordinary character, as in RFC 9110 §8.8.3.
   */
  bracketedEntityTag(): string | null {
    return this.sticky(/\[((?:W\/)?"[\t\x20\x21\x23-\x7e\x80-\xff]*")\]/y);
  }

  /** Matches `pattern` (sticky) here; its first group, or null when it does not match. */
  private sticky(pattern: RegExp): string | null {
    pattern.lastIndex = this.at;
    const match = pattern.exec(this.text);
    if (!match) return null;
    this.at = pattern.lastIndex;
    return match[1]!;
  }
}

/** What the evaluator needs to know of a resource. */
export interface ResourceState {
  /** Its current ETag; null when it does not exist or has none. */
  readonly etag: string | null;
  /** The tokens of the live locks covering it, whether rooted at it or at an ancestor. */
  readonly lockTokens: ReadonlySet<string>;
}

/**
 * Whether the header holds for a request on `requestKey` (RFC 4918 §10.4.3): it holds when any
 * list does, and a list when all its conditions do. An untagged list is judged against the
 * request's resource, a tagged one against the resource its tag names.
 *
 * Choice: a tag that names nothing of this server (`keyForTag` gives null: another host, or a URL
 * we cannot read) makes its list false, even one of only `Not` conditions: we cannot vouch for
 * another server's state. A URL of ours that maps to no file is not such a tag; it names a resource
 * that exists without the state asked for (§10.4.4), so `Not ["4217"]` holds on it (§10.4.11).
 *
 * `stateOf` is asked at most once for each key, and not at all once a list has held.
 */
export function ifHolds(
  header: IfHeader,
  requestKey: string,
  keyForTag: (tag: string) => string | null,
  stateOf: (key: string) => ResourceState,
): boolean {
  const states = new Map<string, ResourceState>();
  const stateAt = (key: string): ResourceState => {
    let state = states.get(key);
    if (!state) states.set(key, (state = stateOf(key)));
    return state;
  };
  return header.some((list) => {
    const key = list.tag === null ? requestKey : keyForTag(list.tag);
    if (key === null) return false;
    const state = stateAt(key);
    return list.conditions.every((condition) => conditionHolds(condition, state));
  });
}

function conditionHolds(condition: Condition, state: ResourceState): boolean {
  const matches = condition.kind === "token" ? state.lockTokens.has(condition.token) : etagMatches(condition.etag, state.etag);
  return matches !== condition.not;
}

/**
 * Whether an ETag in the header matches the resource's (§10.4.4 allows the weak or the strong
 * comparison of RFC 9110 §8.8.3.2). Choice: the tags must be identical. For a strong tag that is
 * the strong comparison, the one that guards a write against a lost update; a weak tag matches only
 * the same weak tag, never a strong one, as a weak validator does not vouch for the bytes (Apache
 * mod_dav compares weakly and would match W/"x" with "x"). No ETag, as for an unmapped URL, matches
 * nothing. A lock token we issue is a urn:uuid, so `DAV:no-lock` (§10.4.8) matches no lock
 * without a case of its own, and `Not <DAV:no-lock>` always holds.
 */
function etagMatches(given: string, current: string | null): boolean {
  return current !== null && given === current;
}

/**
 * The lock tokens submitted (RFC 4918 §6.4, §7.5): every token of a condition without `Not`, in any
 * list, whether or not that list holds or was even evaluated (§10.4.1). So `(<T>) (Not <DAV:no-lock>)`
 * submits T even when T is no longer a lock (§10.4.8), and `(<Tx>) (Not <DAV:no-lock>)` holds but
 * submits only Tx, which lets no write through T's lock (litmus's cond_put_corrupt_token wants 423).
 *
 * Choice: §10.4.1 counts every state token that appears, `Not` or not; we leave out negated ones.
 * A client that writes `Not <T>` asks that T not be a lock here, so it does not mean to write through
 * T; taking the narrower reading can only refuse a write, never let one through a lock.
 */
export function submittedTokens(header: IfHeader): Set<string> {
  const tokens = new Set<string>();
  for (const list of header) {
    for (const condition of list.conditions) if (condition.kind === "token" && !condition.not) tokens.add(condition.token);
  }
  return tokens;
}
