/**
 * The WebDAV lock table (conflicts, expiry on a fake clock, refresh and release through a member of a
 * depth-infinity lock, the cap) and the If header: RFC 4918's examples, malformed headers, and the
 * conditional PUTs of litmus 0.13's locks suite judged against a real table.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LockTable, MAX_LOCKS, MAX_LOCK_SECONDS, parseTimeout, type ActiveLock, type LockDepth, type LockScope } from "../src/dav-locks.js";
import { ifHolds, parseIf, submittedTokens, type IfHeader, type ResourceState } from "../src/dav-if.js";

/** A table on a clock the test moves by hand. */
function fakeTable(start = 1_000_000): { table: LockTable; advance: (ms: number) => void } {
  let now = start;
  return { table: new LockTable(() => now), advance: (ms) => void (now += ms) };
}

function request(scope: LockScope, depth: LockDepth = "0", timeoutSeconds = 60) {
  return { scope, depth, owner: "", timeoutSeconds };
}

/** Acquires, failing the test on a conflict or a full table. */
function lock(table: LockTable, key: string, scope: LockScope, depth: LockDepth = "0", timeoutSeconds = 60): ActiveLock {
  const result = table.acquire(key, request(scope, depth, timeoutSeconds));
  assert.ok(typeof result === "object" && "token" in result, `no lock on "${key}": ${JSON.stringify(result)}`);
  return result;
}

function conflictOf(table: LockTable, key: string, scope: LockScope, depth: LockDepth = "0"): ActiveLock | undefined {
  const result = table.acquire(key, request(scope, depth));
  if (typeof result === "object" && "conflict" in result) return result.conflict;
  assert.notEqual(result, "full");
  return undefined;
}

const tokens = (locks: ActiveLock[]): string[] => locks.map((l) => l.token).sort();

// ---- the lock table ----

test("a new lock: a urn:uuid token, the request's fields, and an expiry by the clock", () => {
  const { table } = fakeTable(5000);
  const result = table.acquire("docs/a.txt", { scope: "exclusive", depth: "0", owner: "<D:href>me</D:href>", timeoutSeconds: 120 });
  assert.ok(typeof result === "object" && "token" in result);
  assert.match(result.token, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(
    { key: result.key, scope: result.scope, depth: result.depth, owner: result.owner, timeoutSeconds: result.timeoutSeconds, expiresAt: result.expiresAt },
    { key: "docs/a.txt", scope: "exclusive", depth: "0", owner: "<D:href>me</D:href>", timeoutSeconds: 120, expiresAt: 5000 + 120_000 },
  );
  assert.equal(table.byToken(result.token), result);
  assert.deepEqual(table.covering("docs/a.txt"), [result]);
  assert.notEqual(lock(table, "docs/b.txt", "exclusive").token, result.token, "tokens are unique");
});

test("exclusive and shared: only shared locks share a resource", () => {
  const { table } = fakeTable();
  const exclusive = lock(table, "x", "exclusive");
  assert.equal(conflictOf(table, "x", "exclusive"), exclusive);
  assert.equal(conflictOf(table, "x", "shared"), exclusive);

  const first = lock(table, "y", "shared");
  const second = lock(table, "y", "shared");
  assert.equal(conflictOf(table, "y", "exclusive"), first);
  assert.deepEqual(tokens(table.covering("y")), tokens([first, second]));
});

test("a depth-infinity lock covers every descendant; a depth-0 one only its root", () => {
  const { table } = fakeTable();
  const tree = lock(table, "a", "exclusive", "infinity");
  const flat = lock(table, "b", "exclusive", "0");
  assert.deepEqual(table.covering("a/b/c"), [tree]);
  assert.equal(conflictOf(table, "a/b/c", "exclusive"), tree);
  assert.equal(conflictOf(table, "a/b", "shared"), tree);
  assert.deepEqual(table.covering("b/c"), []);
  lock(table, "b/c", "exclusive"); // the member of a depth-0 lock is free
  assert.deepEqual(table.covering("b"), [flat]);
  // "ab" starts with "a" but is no descendant of it.
  assert.deepEqual(table.covering("ab"), []);
  lock(table, "ab", "exclusive");
});

test("covering gathers the ancestors' infinity locks, root first, then the key's own", () => {
  const { table } = fakeTable();
  const root = lock(table, "", "shared", "infinity");
  const mid = lock(table, "a/b", "shared", "infinity");
  lock(table, "a", "shared", "0"); // depth 0 on an ancestor: does not reach a/b/c
  const own = lock(table, "a/b/c", "shared", "0");
  assert.deepEqual(table.covering("a/b/c"), [root, mid, own]);
  assert.deepEqual(table.covering(""), [root]);
  assert.deepEqual(table.covering("z"), [root]);
});

test("a depth-infinity lock conflicts with locks below it; depth 0 does not", () => {
  const { table } = fakeTable();
  const deep = lock(table, "a/b/c", "exclusive");
  const sharedBelow = lock(table, "s/t", "shared");
  assert.equal(conflictOf(table, "a", "exclusive", "infinity"), deep);
  assert.equal(conflictOf(table, "a", "shared", "infinity"), deep);
  assert.equal(conflictOf(table, "", "shared", "infinity"), deep);
  lock(table, "a", "exclusive", "0");
  assert.equal(conflictOf(table, "s", "exclusive", "infinity"), sharedBelow);
  lock(table, "s", "shared", "infinity"); // shared over shared is fine
  assert.deepEqual(tokens(table.within("a")), tokens([deep, ...table.covering("a")]));
});

test("within lists the locks on a key and below it, not beside it", () => {
  const { table } = fakeTable();
  const on = lock(table, "a", "shared");
  const below = lock(table, "a/b/c", "shared");
  lock(table, "ab", "shared");
  const root = lock(table, "", "shared");
  assert.deepEqual(tokens(table.within("a")), tokens([on, below]));
  assert.equal(table.within("").length, 4);
  assert.ok(!table.within("a/b").includes(root));
});

test("expired locks count nowhere: covering, within, byToken, conflicts", () => {
  const { table, advance } = fakeTable();
  const short = lock(table, "a", "exclusive", "infinity", 10);
  const long = lock(table, "b", "exclusive", "0", 100);
  advance(9_999);
  assert.deepEqual(table.covering("a/x"), [short]);
  advance(1); // exactly at expiresAt: gone
  assert.deepEqual(table.covering("a/x"), []);
  assert.deepEqual(table.within(""), [long]);
  assert.equal(table.byToken(short.token), undefined);
  assert.equal(table.refresh(short.token, "a", 60), null);
  assert.equal(table.release(short.token, "a"), false);
  lock(table, "a", "exclusive", "infinity");
  advance(90_000);
  lock(table, "b", "exclusive");
});

test("refresh through a member of a depth-infinity lock (litmus indirect_refresh), not outside it", () => {
  const { table, advance } = fakeTable();
  const coll = lock(table, "lockcoll", "exclusive", "infinity", 30);
  advance(20_000);
  const refreshed = table.refresh(coll.token, "lockcoll/lockme.txt", 600);
  assert.equal(refreshed, coll);
  assert.equal(coll.timeoutSeconds, 600);
  advance(500_000);
  assert.equal(table.byToken(coll.token), coll, "alive past the first timeout");
  assert.equal(table.refresh(coll.token, "lockcoll", 60), coll, "the root itself");
  assert.equal(table.refresh(coll.token, "other", 60), null);
  assert.equal(table.refresh(coll.token, "lockcollx", 60), null);
  assert.equal(table.refresh("urn:uuid:00000000-0000-4000-8000-000000000000", "lockcoll", 60), null);
  assert.equal(table.refresh(coll.token, "lockcoll", 99_999)!.timeoutSeconds, MAX_LOCK_SECONDS, "clamped");

  const flat = lock(table, "flat", "exclusive", "0");
  assert.equal(table.refresh(flat.token, "flat/member", 60), null, "depth 0 does not cover members");
});

test("release through a member of a depth-infinity lock; a key it does not cover keeps it", () => {
  const { table } = fakeTable();
  const coll = lock(table, "c", "exclusive", "infinity");
  assert.equal(table.release(coll.token, "elsewhere"), false);
  assert.equal(table.byToken(coll.token), coll);
  assert.equal(table.release(coll.token, "c/d/e"), true);
  assert.equal(table.byToken(coll.token), undefined);
  assert.deepEqual(table.covering("c/d/e"), []);
  assert.equal(table.release(coll.token, "c"), false, "already gone");

  const flat = lock(table, "f", "shared", "0");
  assert.equal(table.release(flat.token, "f/g"), false);
  assert.equal(table.release(flat.token, "f"), true);
});

test("forgetWithin drops the locks rooted at a key and below it, and nothing else", () => {
  const { table } = fakeTable();
  const gone = [lock(table, "a", "shared"), lock(table, "a/b", "shared"), lock(table, "a/b/c", "shared", "infinity")];
  const kept = [lock(table, "ab", "shared"), lock(table, "", "shared", "0"), lock(table, "z/a", "shared")];
  table.forgetWithin("a");
  for (const l of gone) assert.equal(table.byToken(l.token), undefined);
  for (const l of kept) assert.equal(table.byToken(l.token), l);
  table.forgetWithin("");
  assert.deepEqual(table.within(""), []);
});

test("MAX_LOCKS live locks fill the table; release and expiry make room", () => {
  const { table, advance } = fakeTable();
  const short = lock(table, "k0", "shared", "0", 10);
  for (let i = 1; i < MAX_LOCKS; i++) lock(table, `k${i}`, "shared", "0", 100);
  assert.equal(table.acquire("one-more", request("shared")), "full");
  assert.equal(table.release(short.token, "k0"), true);
  const again = lock(table, "one-more", "exclusive", "0", 10);
  assert.equal(table.acquire("two-more", request("shared")), "full");
  advance(10_000); // `again` expires, met by nobody until the table is full
  lock(table, "two-more", "shared");
  assert.equal(table.byToken(again.token), undefined);
});

test("parseTimeout: the first usable preference, clamped to [1, MAX_LOCK_SECONDS]", () => {
  const cases: Array<[string | undefined, number]> = [
    [undefined, MAX_LOCK_SECONDS],
    ["", MAX_LOCK_SECONDS],
    ["Second-60", 60],
    ["second-60", 60],
    ["Infinite", MAX_LOCK_SECONDS],
    ["Infinite, Second-4100000000", MAX_LOCK_SECONDS], // RFC 4918 §9.10.7's example
    ["Second-4100000000", MAX_LOCK_SECONDS],
    ["Second-99999999999999999999999", MAX_LOCK_SECONDS],
    ["Second-0", 1],
    ["Second-30, Infinite", 30],
    [" Second-10 ,Second-20", 10],
    ["Extended-5, Second-20", 20],
    ["Second-, Second--5, Second-1.5, Second-x, Seconds-5", MAX_LOCK_SECONDS],
    ["garbage", MAX_LOCK_SECONDS],
    ["Second-7200", MAX_LOCK_SECONDS],
  ];
  for (const [value, expected] of cases) assert.equal(parseTimeout(value), expected, `Timeout: ${value}`);
});

// ---- parsing the If header ----

const T1 = "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2";
const T2 = "urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092";

const token = (t: string, not = false) => ({ not, kind: "token" as const, token: t });
const etag = (e: string, not = false) => ({ not, kind: "etag" as const, etag: e });

test("parseIf: RFC 4918's examples", () => {
  const cases: Array<[string, string, IfHeader]> = [
    [
      "§10.4.6 no-tag lists, folded",
      `(<${T1}>\r\n    ["I am an ETag"])\r\n    (["I am another ETag"])`,
      [
        { tag: null, conditions: [token(T1), etag('"I am an ETag"')] },
        { tag: null, conditions: [etag('"I am another ETag"')] },
      ],
    ],
    ["§10.4.7 Not", `(Not <${T1}>\n <${T2}>)`, [{ tag: null, conditions: [token(T1, true), token(T2)] }]],
    [
      "§10.4.8 always true",
      `(<${T1}>) (Not <DAV:no-lock>)`,
      [
        { tag: null, conditions: [token(T1)] },
        { tag: null, conditions: [token("DAV:no-lock", true)] },
      ],
    ],
    [
      "§10.4.9 tagged list in a MOVE",
      `<http://www.example.com/resource1> (<${T1}> [W/"A weak ETag"]) (["strong ETag"])`,
      [
        { tag: "http://www.example.com/resource1", conditions: [token(T1), etag('W/"A weak ETag"')] },
        { tag: "http://www.example.com/resource1", conditions: [etag('"strong ETag"')] },
      ],
    ],
    ["§10.4.10 collection lock", `<http://www.example.com/specs/> (<${T1}>)`, [{ tag: "http://www.example.com/specs/", conditions: [token(T1)] }]],
    ["§10.4.11 unmapped URL", `</specs/rfc2518.doc> (["4217"])`, [{ tag: "/specs/rfc2518.doc", conditions: [etag('"4217"')] }]],
    ["§10.4.11 unmapped URL, Not", `</specs/rfc2518.doc> (Not ["4217"])`, [{ tag: "/specs/rfc2518.doc", conditions: [etag('"4217"', true)] }]],
    [
      "§7.5.1 COPY onto a locked destination",
      "<http://www.example.com/users/f/fielding/index.html>\r\n    (<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>)",
      [{ tag: "http://www.example.com/users/f/fielding/index.html", conditions: [token("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")] }],
    ],
  ];
  for (const [name, value, expected] of cases) assert.deepEqual(parseIf(value), expected, name);
});

test("parseIf: several tags, each for the lists after it; whitespace and case as RFC 4918 allows", () => {
  assert.deepEqual(parseIf(`<http://h/a> (<${T1}>) <http://h/b> (<${T2}>) (Not ["x"])`), [
    { tag: "http://h/a", conditions: [token(T1)] },
    { tag: "http://h/b", conditions: [token(T2)] },
    { tag: "http://h/b", conditions: [etag('"x"', true)] },
  ]);
  assert.deepEqual(parseIf(`\t(nOT<${T1}>["a"])(<${T2}>)  `), [
    { tag: null, conditions: [token(T1, true), etag('"a"')] },
    { tag: null, conditions: [token(T2)] },
  ]);
  assert.deepEqual(parseIf(`<http://h/a>(<${T1}>)`), [{ tag: "http://h/a", conditions: [token(T1)] }]);
  assert.deepEqual(parseIf('([""] [W/""] ["caf\xe9"])'), [{ tag: null, conditions: [etag('""'), etag('W/""'), etag('"caf\xe9"')] }]);
});

test("parseIf: malformed headers are null", () => {
  const malformed = [
    "",
    "   ",
    `(<${T1}>`, // unbalanced
    `<${T1}>)`,
    `(<${T1}>))`,
    `((<${T1}>))`,
    `(${T1})`, // no < >
    `(<${T1})`,
    `(${T1}>)`,
    `("etag")`, // no [ ]
    `(["etag")`,
    "()", // empty list
    "( )",
    `(<${T1}>) ()`,
    "<http://h/a> ()",
    "(<>)",
    `(<${T1}>) <http://h/a> (<${T2}>)`, // untagged, then tagged
    "<http://h/a>", // a tag with no list
    `<http://h/a> <http://h/b> (<${T1}>)`,
    `(<${T1}>) <http://h/a>`,
    "hello",
    `(<${T1}>) garbage`,
    "(Not)",
    `(Not Not <${T1}>)`,
    `(Nota <${T1}>)`,
    `(< ${T1}>)`, // no whitespace inside < > or [ ]
    `(<${T1} >)`,
    '([ "x"])',
    '(["x" ])',
    "<http://h/ a> (<b>)",
    "([x])", // unquoted entity-tag
    '(["a"b"])',
    '(["a\\"b"])', // no quoted-pair
    '(["a\x01"])',
    '([w/"x"])',
    `(<${T1}>), (<${T2}>)`, // two If headers joined by a comma
    `(<${T1}> , <${T2}>)`,
    `(<a<b>)`,
    `(<${T1}>["a"]W)`,
  ];
  for (const value of malformed) assert.equal(parseIf(value), null, `If: ${JSON.stringify(value)}`);
});

// ---- judging the If header: litmus 0.13's conditional PUTs on a locked resource ----

const HOST = "http://localhost:8080/";
const ETAG = '"1a2b-c-3d4e5f-3d4e5f"';

/** Tags of this server map to path keys; anything else names nothing of ours. */
function keyForTag(tag: string): string | null {
  const path = tag.startsWith(HOST) ? tag.slice(HOST.length - 1) : tag.startsWith("/") ? tag : null;
  return path === null ? null : path.replace(/^\/+|\/+$/g, "");
}

/** The resources of a small server: the files with their ETags, judged against `table`. */
function world(table: LockTable, files: Record<string, string>) {
  const asked: string[] = [];
  const stateOf = (key: string): ResourceState => {
    asked.push(key);
    return { etag: files[key] ?? null, lockTokens: new Set(table.covering(key).map((l) => l.token)) };
  };
  const holds = (value: string, requestKey: string): boolean => {
    const header = parseIf(value);
    assert.ok(header, `unparsed: ${value}`);
    return ifHolds(header, requestKey, keyForTag, stateOf);
  };
  return { asked, stateOf, holds };
}

/** Whether a request would get through the lock: the header holds and it submits a covering lock's token. */
function writeAllowed(table: LockTable, value: string, key: string, holds: (v: string, k: string) => boolean): 200 | 412 | 423 {
  if (!holds(value, key)) return 412;
  const submitted = submittedTokens(parseIf(value)!);
  return table.covering(key).every((l) => submitted.has(l.token)) ? 200 : 423;
}

test("litmus cond_put, fail_cond_put, cond_put_with_not, cond_put_corrupt_token, complex_cond_put, fail_complex_cond_put", () => {
  const { table } = fakeTable();
  const { token: T } = lock(table, "litmus/lockme.txt", "exclusive");
  const { holds } = world(table, { "litmus/lockme.txt": ETAG });
  const key = "litmus/lockme.txt";
  const corruptEtag = ETAG.slice(0, -3) + String.fromCharCode(ETAG.charCodeAt(ETAG.length - 3) + 1) + ETAG.slice(-2);

  assert.equal(writeAllowed(table, `(<${T}> [${ETAG}])`, key, holds), 200, "cond_put");
  assert.equal(writeAllowed(table, `(<DAV:no-lock> [${ETAG}])`, key, holds), 412, "fail_cond_put");
  assert.equal(writeAllowed(table, `(<${T}>) (Not <DAV:no-lock>)`, key, holds), 200, "cond_put_with_not");
  assert.equal(writeAllowed(table, `(<${T}x>) (Not <DAV:no-lock>)`, key, holds), 423, "cond_put_corrupt_token");
  assert.equal(writeAllowed(table, `(<${T}> [${ETAG}]) (Not <DAV:no-lock> [${ETAG}])`, key, holds), 200, "complex_cond_put");
  assert.equal(writeAllowed(table, `(<${T}> [${corruptEtag}]) (Not <DAV:no-lock> [${corruptEtag}])`, key, holds), 412, "fail_complex_cond_put");

  assert.equal(table.release(T, key), true);
  assert.equal(writeAllowed(table, "(<DAV:no-lock>)", key, holds), 412, "fail_cond_put_unlocked");
  assert.equal(writeAllowed(table, "(Not <DAV:no-lock>)", key, holds), 200);
});

test("ifHolds: a collection's depth-infinity lock matches on its members and, tagged, on itself (§10.4.10, §7.5.2)", () => {
  const { table } = fakeTable();
  const { token: T } = lock(table, "specs", "exclusive", "infinity");
  const { holds } = world(table, { "specs/rfc2518.txt": ETAG });
  assert.equal(holds(`<http://localhost:8080/specs/> (<${T}>)`, "specs/rfc2518.txt"), true);
  assert.equal(holds(`(<${T}>)`, "specs/rfc2518.txt"), true);
  assert.equal(holds(`(<${T}>)`, "elsewhere.txt"), false);
  assert.equal(holds(`<http://localhost:8080/elsewhere.txt> (<${T}>)`, "specs/rfc2518.txt"), false, "a tag moves the judgement");
});

test("ifHolds: Not, unmapped URLs and tags of another server (§10.4.7, §10.4.11)", () => {
  const { table } = fakeTable();
  const { token: T } = lock(table, "doc", "exclusive");
  const { holds } = world(table, { doc: ETAG });
  assert.equal(holds(`(Not <${T1}> <${T}>)`, "doc"), true);
  assert.equal(holds(`(Not <${T}>)`, "doc"), false);
  assert.equal(holds(`(Not [${ETAG}])`, "doc"), false);
  assert.equal(holds('</specs/rfc2518.doc> (["4217"])', "doc"), false);
  assert.equal(holds('</specs/rfc2518.doc> (Not ["4217"])', "doc"), true);
  assert.equal(holds("(Not <DAV:no-lock>)", "missing"), true);
  assert.equal(holds('(Not ["4217"])', "missing"), true);
  assert.equal(holds("<http://other.example/doc> (Not <DAV:no-lock>)", "doc"), false, "another server's resource");
  assert.equal(holds(`<http://other.example/doc> (Not <DAV:no-lock>) <http://localhost:8080/doc> (<${T}>)`, "doc"), true);
});

test("ifHolds: entity tags are compared whole: strong with strong, a weak tag never with a strong one", () => {
  const { table } = fakeTable();
  const { holds } = world(table, { strong: '"v1"', weak: 'W/"v1"' });
  assert.equal(holds('(["v1"])', "strong"), true);
  assert.equal(holds('([W/"v1"])', "strong"), false);
  assert.equal(holds('(["v1"])', "weak"), false);
  assert.equal(holds('([W/"v1"])', "weak"), true);
  assert.equal(holds('(["v2"]) (["v1"])', "strong"), true, "any list will do");
});

test("ifHolds asks for each resource's state once, and stops at the first list that holds", () => {
  const { table } = fakeTable();
  const { asked, stateOf } = world(table, { a: '"a"', b: '"b"' });
  const header = parseIf('<http://localhost:8080/a> (["x"]) (["y"]) <http://localhost:8080/b> (["b"]) <http://localhost:8080/c> (["c"])')!;
  assert.equal(ifHolds(header, "a", keyForTag, stateOf), true);
  assert.deepEqual(asked, ["a", "b"]);
});

test("submittedTokens: every token outside Not, tagged or not, whether or not its list holds", () => {
  assert.deepEqual(submittedTokens(parseIf(`(Not <${T1}> <${T2}>)`)!), new Set([T2]));
  assert.deepEqual(submittedTokens(parseIf(`(<${T1}>) (Not <DAV:no-lock>)`)!), new Set([T1]));
  assert.deepEqual(submittedTokens(parseIf(`<http://h/a> (<${T1}> ["e"]) <http://h/b> (<${T2}>) (<${T1}>)`)!), new Set([T1, T2]));
  assert.deepEqual(submittedTokens(parseIf('(["e"]) (Not ["f"])')!), new Set());
});
