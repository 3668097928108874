/**
 * Passwords (`--auth`, `auth`): HTTP Basic authentication before anything else answers, the limit
 * on wrong guesses, what the log and the banner say, and the command line. Real server, real
 * sockets, real files; the limiter's clock and many addresses go through the limiter's own API.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { BasicAuth, FailureLimiter, limiterKey, MAX_TRACKED_ADDRESSES, parseAuthorization } from "../src/auth.js";
import { createHandler, type AccessLogEntry, type Credentials, type ServerOptions } from "../src/server.js";
import { eventually, rawGet, rawRequest, request, runCli, serve, startCli, tempDir, type RunningCli } from "./helpers.js";

const CHALLENGE = 'Basic realm="serve-here", charset="UTF-8"';
const ANN: Credentials = { user: "ann", password: "correct horse" };
const BOB: Credentials = { user: "bob", password: "b:o,b:é" };
const TREE = { "a.txt": "hello", docs: { "b.txt": "b" }, ".env": "SECRET=1" };
const LOCAL_ONLY = ["-p", "0", "-b", "127.0.0.1"];
/** What a browser sends for a page load. */
const NAVIGATION = { Accept: "text/html,application/xhtml+xml", "Sec-Fetch-Dest": "document" };

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}

function as({ user, password }: Credentials): { Authorization: string } {
  return { Authorization: basic(user, password) };
}

/** A server with passwords on a fresh tree; `log` collects its access-log entries. */
async function serveWithAuth(t: TestContext, options: ServerOptions = {}) {
  const root = tempDir(t, TREE);
  const log: AccessLogEntry[] = [];
  const server = await serve(t, { root, auth: [ANN, BOB], onResponse: (entry) => log.push(entry), ...options });
  /** The note the log gave the `nth` request (from 1), once its entry is in. */
  const noteOf = async (nth: number) => {
    await eventually(() => log.length >= nth, `no log entry ${nth}`);
    return log[nth - 1]!.note;
  };
  return { ...server, root, log, noteOf };
}

// ---------------------------------------------------------------------------------------------
// The challenge, and who gets in
// ---------------------------------------------------------------------------------------------

test("without credentials: 401 with the exact WWW-Authenticate, a generic HTML page, and 'no credentials' in the log", async (t) => {
  const server = await serveWithAuth(t);
  const res = await request(server.port, "/a.txt");
  assert.equal(res.status, 401);
  assert.equal(res.headers["www-authenticate"], CHALLENGE);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  assert.match(res.body.toString(), /401 Unauthorized/);
  assert.doesNotMatch(res.body.toString(), /hello/);
  assert.equal(await server.noteOf(1), "no credentials");
});

test("the right credentials get the file", async (t) => {
  const server = await serveWithAuth(t);
  const res = await request(server.port, "/a.txt", { headers: as(ANN) });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "hello");
});

test("a wrong password is 401 with the challenge, and the log names the user-id but not the password", async (t) => {
  const server = await serveWithAuth(t);
  const res = await request(server.port, "/a.txt", { headers: as({ user: "ann", password: "Tr0ub4dor&3" }) });
  assert.equal(res.status, 401);
  assert.equal(res.headers["www-authenticate"], CHALLENGE);
  assert.equal(await server.noteOf(1), 'wrong credentials for "ann"');
});

test("an unknown user-id is 401, the same as a wrong password", async (t) => {
  const server = await serveWithAuth(t);
  const res = await request(server.port, "/a.txt", { headers: as({ user: "eve", password: ANN.password }) });
  assert.equal(res.status, 401);
  assert.equal(res.headers["www-authenticate"], CHALLENGE);
});

test("with the right credentials a listing is served, and a missing path is 404", async (t) => {
  const server = await serveWithAuth(t);
  const listing = await request(server.port, "/docs/", { headers: as(ANN) });
  assert.equal(listing.status, 200);
  assert.match(listing.body.toString(), /b\.txt/);
  assert.equal((await request(server.port, "/nothing-here", { headers: as(ANN) })).status, 404);
});

test("without the right credentials, nothing tells whether a path exists: missing, hidden, folder and `..` are all 401", async (t) => {
  const server = await serveWithAuth(t);
  const wrong = as({ user: "ann", password: "nope" });
  for (const target of ["/nothing-here", "/.env", "/docs", "/docs/", "/a.txt"]) {
    const res = await request(server.port, target, { headers: wrong });
    assert.equal(res.status, 401, target);
    assert.equal(res.headers.location, undefined, `${target}: no redirect to reveal a folder`);
  }
  const dotdot = await rawGet(server.port, "/../etc/passwd");
  assert.equal(dotdot.status, 401, "even a refused target asks for a password first");
});

test("several users: each gets in with their own password, not with another's", async (t) => {
  const server = await serveWithAuth(t);
  assert.equal((await request(server.port, "/a.txt", { headers: as(ANN) })).status, 200);
  assert.equal((await request(server.port, "/a.txt", { headers: as(BOB) })).status, 200);
  assert.equal((await request(server.port, "/a.txt", { headers: as({ user: "ann", password: BOB.password }) })).status, 401);
  assert.equal((await request(server.port, "/a.txt", { headers: as({ user: "bob", password: ANN.password }) })).status, 401);
});

test("a password with colons, commas and unicode works: credentials split at the first colon, decoded as UTF-8", async (t) => {
  const server = await serveWithAuth(t, { auth: [{ user: "zoë", password: "a:b:c, d ✓ 🔑" }] });
  assert.equal((await request(server.port, "/a.txt", { headers: as({ user: "zoë", password: "a:b:c, d ✓ 🔑" }) })).status, 200);
  assert.equal((await request(server.port, "/a.txt", { headers: as({ user: "zoë", password: "a:b:c, d ✓" }) })).status, 401);
  // The same characters in Latin-1, as a client ignoring charset="UTF-8" would send them: not them.
  const latin1 = `Basic ${Buffer.from("zoë:a", "latin1").toString("base64")}`;
  assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: latin1 } })).status, 401);
});

test("unicode is compared in NFC: é as one code point or as e plus an accent is the same password", async (t) => {
  const server = await serveWithAuth(t, { auth: [{ user: "ann", password: "caf\u00e9" }] });
  assert.equal((await request(server.port, "/a.txt", { headers: as({ user: "ann", password: "cafe\u0301" }) })).status, 200);
});

test("a header once right is remembered, but only that exact value: a near miss is still checked and counted", async (t) => {
  const server = await serveWithAuth(t);
  const right = basic(ANN.user, ANN.password);
  assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: right } })).status, 200);
  assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: right } })).status, 200, "the remembered value");
  const nearMiss = basic(ANN.user, `${ANN.password.slice(0, -1)}X`);
  assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: nearMiss } })).status, 401);
  assert.equal(await server.noteOf(3), 'wrong credentials for "ann"');
});

test("the remembered right values are bounded: many spellings of one password never grow past 64", async (t) => {
  const auth = new BasicAuth([ANN]);
  // A bare server whose only step is the access check, so the BasicAuth's own count can be read.
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => res.writeHead(auth.check(req)?.status ?? 200).end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const token = basic(ANN.user, ANN.password).slice("Basic ".length);
  for (let spaces = 1; spaces <= 100; spaces++) {
    assert.equal((await request(port, "/", { headers: { Authorization: `Basic${" ".repeat(spaces)}${token}` } })).status, 200);
    assert.ok(auth.rememberedCount <= 64, `${auth.rememberedCount} remembered after ${spaces} spellings`);
  }
  assert.ok(auth.rememberedCount > 0);
});

test("the scheme is case-insensitive: `basic` works", async (t) => {
  const server = await serveWithAuth(t);
  const res = await request(server.port, "/a.txt", { headers: { Authorization: basic(ANN.user, ANN.password).replace("Basic", "basic") } });
  assert.equal(res.status, 200);
});

// ---------------------------------------------------------------------------------------------
// Malformed Authorization headers: 401, never a crash, and no count toward the limit
// ---------------------------------------------------------------------------------------------

const MALFORMED: Array<[string, string, string]> = [
  ["Bearer", "Bearer abc.def.ghi", "Authorization is not Basic"],
  ["Basic with no value", "Basic", "Basic with no credentials"],
  ["Basic and a space (Node trims it)", "Basic ", "Basic with no credentials"],
  ["Basicx", `Basicx ${Buffer.from("ann:x").toString("base64")}`, "Authorization is not Basic"],
  ["invalid base64", "Basic !!!!", "Basic credentials are not base64"],
  ["base64 of the wrong length", "Basic YW5uOng", "Basic credentials are not base64"],
  ["no colon", `Basic ${Buffer.from("annonly").toString("base64")}`, "Basic credentials have no ':'"],
  ["not UTF-8", `Basic ${Buffer.from([0x61, 0xff, 0x3a, 0x62]).toString("base64")}`, "Basic credentials are not UTF-8"],
  ["two tokens", `${basic(ANN.user, ANN.password)} extra`, "Authorization is not Basic"],
  ["5 KB", `Basic ${"A".repeat(5000)}`, "Authorization header too long"],
];

for (const [label, header, note] of MALFORMED) {
  test(`a malformed Authorization (${label}) is 401 with the challenge, and the log says why`, async (t) => {
    const server = await serveWithAuth(t);
    const res = await request(server.port, "/a.txt", { headers: { Authorization: header } });
    assert.equal(res.status, 401);
    assert.equal(res.headers["www-authenticate"], CHALLENGE);
    assert.equal(await server.noteOf(1), note);
  });
}

test("a 20 KB Authorization header gets Node's 431, and the server goes on", async (t) => {
  const server = await serveWithAuth(t);
  const res = await rawRequest(server.port, `GET /a.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${"A".repeat(20_000)}\r\nConnection: close\r\n\r\n`);
  assert.equal(res.status, 431);
  assert.equal((await request(server.port, "/a.txt", { headers: as(ANN) })).status, 200);
});

test("parseAuthorization never throws, whatever the header", () => {
  const samples = ["", " ", "Basic", "Basic  ", "Basic ====", "Basic =", "BASIC YTpi", "Basic\tYTpi", "Digest x", "Basic YTpi\u0000", "Basic " + "/".repeat(4000)];
  for (const sample of samples) assert.doesNotThrow(() => parseAuthorization(sample), JSON.stringify(sample));
  assert.deepEqual(parseAuthorization("BASIC YTpi"), { kind: "basic", user: "a", password: "b" });
  assert.deepEqual(parseAuthorization(undefined), { kind: "none" });
});

test("malformed headers do not count toward the limit: after twelve, the right password still works", async (t) => {
  const server = await serveWithAuth(t);
  for (let i = 0; i < 12; i++) assert.equal((await request(server.port, "/a.txt", { headers: { Authorization: "Bearer x" } })).status, 401);
  assert.equal((await request(server.port, "/a.txt", { headers: as(ANN) })).status, 200);
});

// ---------------------------------------------------------------------------------------------
// The limit on wrong guesses
// ---------------------------------------------------------------------------------------------

test("after 10 wrong passwords from one address, the 11th request is 429 with Retry-After, even with the right password", async (t) => {
  const server = await serveWithAuth(t);
  for (let i = 1; i <= 10; i++) {
    const res = await request(server.port, "/a.txt", { headers: as({ user: "ann", password: `guess ${i}` }) });
    assert.equal(res.status, 401, `guess ${i}`);
  }
  const res = await request(server.port, "/a.txt", { headers: as(ANN) });
  assert.equal(res.status, 429);
  const retryAfter = Number(res.headers["retry-after"]);
  assert.ok(retryAfter > 50 && retryAfter <= 60, `Retry-After ${res.headers["retry-after"]} is about a minute`);
  assert.match(res.body.toString(), /429 Too Many Requests/);
  assert.equal(res.headers["www-authenticate"], undefined, "no challenge: asking again would not help");
  assert.match((await server.noteOf(11)) ?? "", /^10 wrong passwords from this address; refused for \d+ s$/);
  assert.equal((await request(server.port, "/a.txt")).status, 429, "without credentials too");
});

test("requests without credentials do not count: a browser always asks once without", async (t) => {
  const server = await serveWithAuth(t);
  for (let i = 0; i < 9; i++) await request(server.port, "/a.txt", { headers: as({ user: "ann", password: "wrong" }) });
  for (let i = 0; i < 20; i++) assert.equal((await request(server.port, "/a.txt")).status, 401);
  assert.equal((await request(server.port, "/a.txt", { headers: as(ANN) })).status, 200, "9 wrong and 20 without: not blocked");
  assert.equal((await request(server.port, "/a.txt", { headers: as({ user: "ann", password: "wrong" }) })).status, 401, "the 10th wrong");
  assert.equal((await request(server.port, "/a.txt", { headers: as(ANN) })).status, 429);
});

test("the limiter: 10 failures within a minute block for a minute; a minute later the address may try again", () => {
  let now = 1_000_000;
  const limiter = new FailureLimiter({ now: () => now });
  for (let i = 0; i < 9; i++) limiter.recordFailure("192.0.2.1");
  assert.equal(limiter.blockedFor("192.0.2.1"), 0, "9 failures: not yet");
  limiter.recordFailure("192.0.2.1");
  assert.equal(limiter.blockedFor("192.0.2.1"), 60_000);
  assert.equal(limiter.blockedFor("192.0.2.2"), 0, "another address is not blocked");
  now += 30_000;
  assert.equal(limiter.blockedFor("192.0.2.1"), 30_000);
  now += 30_000;
  assert.equal(limiter.blockedFor("192.0.2.1"), 0, "a minute later");
  limiter.recordFailure("192.0.2.1");
  assert.equal(limiter.blockedFor("192.0.2.1"), 0, "counting starts afresh");
});

test("the limiter: failures spread over more than a minute never block", () => {
  let now = 0;
  const limiter = new FailureLimiter({ now: () => now });
  for (let i = 0; i < 30; i++) {
    limiter.recordFailure("192.0.2.1");
    now += 7_000; // about 8.6 a minute
    assert.equal(limiter.blockedFor("192.0.2.1"), 0, `failure ${i + 1}`);
  }
});

test("the limiter's memory is bounded: never more than maxAddresses records, the least recently active dropped first", () => {
  const limiter = new FailureLimiter({ maxAddresses: 100 });
  for (let i = 0; i < 9; i++) limiter.recordFailure("198.51.100.1");
  for (let i = 0; i < 1000; i++) {
    limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(limiter.size <= 100, `${limiter.size} records after ${i + 1} addresses`);
  }
  limiter.recordFailure("198.51.100.1");
  assert.equal(limiter.blockedFor("198.51.100.1"), 0, "the oldest record was forgotten, so this is its first failure again");
});

test("the limiter's default bound holds against many addresses, and expired records are swept", () => {
  let now = 0;
  const limiter = new FailureLimiter({ now: () => now });
  for (let i = 0; i < MAX_TRACKED_ADDRESSES * 2; i++) limiter.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  assert.equal(limiter.size, MAX_TRACKED_ADDRESSES);
  now += 60_000;
  limiter.recordFailure("192.0.2.9");
  assert.equal(limiter.size, 1, "a minute later, every old record is gone");
});

test("the limiter tells onFailure of each failure it counts, and a block from elsewhere (the primary's count) refuses until its end", () => {
  let now = 0;
  const told: string[] = [];
  const limiter = new FailureLimiter({ now: () => now, onFailure: (address) => told.push(address) });
  limiter.recordFailure("192.0.2.1");
  limiter.recordFailure("2001:db8:1:2::1");
  assert.deepEqual(told, ["192.0.2.1", "2001:db8:1:2::1"], "the address as given; the receiver counts it by its own rule");
  limiter.block("192.0.2.7", 45_000);
  assert.equal(limiter.blockedFor("192.0.2.7"), 45_000, "never guessed here, blocked all the same");
  limiter.block("192.0.2.7", 30_000);
  assert.equal(limiter.blockedFor("192.0.2.7"), 45_000, "a block never shortens one already there");
  limiter.block("2001:db8:1:2::99", 10_000);
  assert.equal(limiter.blockedFor("2001:db8:1:2:ffff::5"), 10_000, "an IPv6 block covers its /64");
  now = 45_000;
  assert.equal(limiter.blockedFor("192.0.2.7"), 0, "at its end, the address may try again");
  assert.deepEqual(told, ["192.0.2.1", "2001:db8:1:2::1"], "a block is not a failure to tell");
  const bounded = new FailureLimiter({ maxAddresses: 10 });
  for (let i = 0; i < 100; i++) bounded.block(`10.0.0.${i}`, Date.now() + 60_000);
  assert.equal(bounded.size, 10, "blocks are bounded like failures");
});

test("IPv6 addresses count by their /64: one host cannot dodge the limit by changing its interface id", () => {
  assert.equal(limiterKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(limiterKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  assert.equal(limiterKey("2001:0db8:0001:0002::"), "2001:db8:1:2::/64");
  assert.equal(limiterKey("::1"), "0:0:0:0::/64");
  assert.equal(limiterKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(limiterKey("1::2:3:4:5:1.2.3.4"), "1:0:2:3::/64");
  assert.notEqual(limiterKey("2001:db8:1:3::1"), limiterKey("2001:db8:1:2::1"));
  assert.equal(limiterKey("192.0.2.1"), "192.0.2.1");
  const limiter = new FailureLimiter();
  for (let i = 0; i < 10; i++) limiter.recordFailure(`2001:db8:1:2::${i.toString(16)}`);
  assert.ok(limiter.blockedFor("2001:db8:1:2:ffff::1") > 0);
});

// ---------------------------------------------------------------------------------------------
// Other routes: preflights, live reload, OPTIONS, Connect/Express
// ---------------------------------------------------------------------------------------------

test("with --cors, a preflight is answered without credentials (browsers never send them on one)", async (t) => {
  const server = await serveWithAuth(t, { cors: true });
  const res = await request(server.port, "/a.txt", { method: "OPTIONS", headers: { Origin: "https://example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" } });
  assert.equal(res.status, 204);
  assert.equal(res.headers["access-control-allow-headers"], "authorization");
  const read = await request(server.port, "/a.txt", { headers: { Origin: "https://example.com" } });
  assert.equal(read.status, 401, "the read itself still needs credentials");
});

test("OPTIONS that is not a CORS preflight needs credentials, with or without --cors", async (t) => {
  for (const cors of [false, true]) {
    const server = await serveWithAuth(t, { cors });
    assert.equal((await request(server.port, "/a.txt", { method: "OPTIONS" })).status, 401, `cors ${cors}`);
    assert.equal((await request(server.port, "/a.txt", { method: "OPTIONS", headers: as(ANN) })).status, 204, `cors ${cors}`);
  }
});

test("live reload's script and event stream need credentials too", async (t) => {
  const server = await serveWithAuth(t, { live: true });
  for (const target of ["/__serve-here/live.js", "/__serve-here/events"]) {
    assert.equal((await request(server.port, target)).status, 401, target);
    assert.equal((await request(server.port, target, { method: "HEAD", headers: as(ANN) })).status, 200, target);
  }
});

test("with live reload, the 401 page carries no script, so a cancelled prompt is not followed by another", async (t) => {
  const server = await serveWithAuth(t, { live: true });
  const refused = await request(server.port, "/", { headers: NAVIGATION });
  assert.equal(refused.status, 401);
  assert.doesNotMatch(refused.body.toString(), /<script/);
  const page = await request(server.port, "/", { headers: { ...NAVIGATION, ...as(ANN) } });
  assert.match(page.body.toString(), /<script/, "a listing with the right credentials still gets it");
});

test("under Connect/Express, a request that would go to next() needs credentials first", async (t) => {
  const root = tempDir(t, TREE);
  const handler = await createHandler({ root, auth: [ANN] });
  t.after(() => handler.close());
  const { createServer } = await import("node:http");
  let nexts = 0;
  const server = createServer((req, res) =>
    handler(req, res, () => {
      nexts++;
      res.writeHead(418).end();
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  assert.equal((await request(port, "/missing")).status, 401);
  assert.equal((await request(port, "/missing", { method: "POST" })).status, 401);
  assert.equal(nexts, 0);
  assert.equal((await request(port, "/missing", { headers: as(ANN) })).status, 418);
});

// ---------------------------------------------------------------------------------------------
// Options from the API
// ---------------------------------------------------------------------------------------------

const BAD_USERS: Array<[string, Credentials[]]> = [
  ["no users at all", []],
  ["an empty user-id", [{ user: "", password: "x" }]],
  ["a user-id with a colon", [{ user: "a:b", password: "x" }]],
  ["an empty password", [{ user: "ann", password: "" }]],
  ["the same user twice", [ANN, { user: "ann", password: "other" }]],
];

for (const [label, users] of BAD_USERS) {
  test(`auth with ${label} is refused when the handler is made`, async (t) => {
    const root = tempDir(t, TREE);
    await assert.rejects(createHandler({ root, auth: users }), TypeError);
  });
}

test("a BasicAuth made from options holds digests, not passwords", () => {
  const auth = new BasicAuth([ANN]);
  const seen = JSON.stringify(auth, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString("latin1") : value));
  assert.doesNotMatch(seen, /correct horse/);
});

// ---------------------------------------------------------------------------------------------
// The command line: --auth, SERVE_HERE_AUTH, the banner, the log
// ---------------------------------------------------------------------------------------------

async function stop(cli: RunningCli): Promise<void> {
  cli.child.kill("SIGTERM");
  await cli.exited;
}

test("--auth USER:PASSWORD asks for that user; the banner says 'Password: required (1 user)'", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--auth", "ann:correct horse"]);
  assert.equal((await request(cli.port, "/a.txt")).status, 401);
  assert.equal((await request(cli.port, "/a.txt", { headers: as(ANN) })).status, 200);
  await stop(cli);
  assert.match(cli.stdout(), /^ {2}Password: required \(1 user\)$/m);
});

test("--auth is repeatable, and a password may hold colons and commas", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--auth", "ann:correct horse", "--auth", `bob:${BOB.password}`]);
  assert.equal((await request(cli.port, "/a.txt", { headers: as(ANN) })).status, 200);
  assert.equal((await request(cli.port, "/a.txt", { headers: as(BOB) })).status, 200);
  await stop(cli);
  assert.match(cli.stdout(), /Password: required \(2 users\)/);
});

test("SERVE_HERE_AUTH gives the users, one USER:PASSWORD per line, so no password shows in ps", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY], { env: { SERVE_HERE_AUTH: `ann:correct horse\r\n\nbob:${BOB.password}\n` } });
  assert.equal((await request(cli.port, "/a.txt")).status, 401);
  assert.equal((await request(cli.port, "/a.txt", { headers: as(ANN) })).status, 200);
  assert.equal((await request(cli.port, "/a.txt", { headers: as(BOB) })).status, 200);
  await stop(cli);
  assert.match(cli.stdout(), /Password: required \(2 users\)/);
});

test("--auth replaces SERVE_HERE_AUTH whole: the users of the environment do not get in", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--auth", "ann:correct horse"], { env: { SERVE_HERE_AUTH: `bob:${BOB.password}` } });
  assert.equal((await request(cli.port, "/a.txt", { headers: as(ANN) })).status, 200);
  assert.equal((await request(cli.port, "/a.txt", { headers: as(BOB) })).status, 401);
});

test("in SERVE_HERE_AUTH only a line break separates users: a comma is part of the password", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY], { env: { SERVE_HERE_AUTH: "ann:a,bob:x" } });
  assert.equal((await request(cli.port, "/a.txt", { headers: as({ user: "ann", password: "a,bob:x" }) })).status, 200);
  assert.equal((await request(cli.port, "/a.txt", { headers: as({ user: "bob", password: "x" }) })).status, 401);
});

test("SERVE_HERE_AUTH is not passed on: the browser --open starts does not inherit the passwords", async (t) => {
  const root = tempDir(t, TREE);
  const bin = tempDir(t);
  const record = path.join(tempDir(t), "environment");
  writeFileSync(path.join(bin, "xdg-open"), `#!/bin/sh\nenv > '${record}.tmp' && mv '${record}.tmp' '${record}'\n`, { mode: 0o755 });
  const cli = await startCli(t, [root, ...LOCAL_ONLY, "--open", "-q"], { env: { PATH: `${bin}:${process.env.PATH}`, SERVE_HERE_AUTH: "ann:pw-env-6120" } });
  await eventually(() => readFileOrNull(record) !== null, "xdg-open was not run");
  const environment = readFileOrNull(record)!;
  assert.match(environment, /^PATH=/m, "the opener's environment was recorded");
  assert.doesNotMatch(environment, /SERVE_HERE_AUTH|pw-env-6120/);
  assert.equal((await request(cli.port, "/a.txt", { headers: as({ user: "ann", password: "pw-env-6120" }) })).status, 200);
});

function readFileOrNull(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

test("an empty SERVE_HERE_AUTH means no passwords, as if unset", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY], { env: { SERVE_HERE_AUTH: "" } });
  assert.equal((await request(cli.port, "/a.txt")).status, 200);
});

const BAD_AUTH: Array<[string, string[], NodeJS.ProcessEnv]> = [
  ["--auth without a colon", ["--auth", "hunter2secret"], {}],
  ["--auth with an empty user-id", ["--auth", ":hunter2secret"], {}],
  ["--auth with an empty password", ["--auth", "ann:"], {}],
  ["--auth with the same user twice", ["--auth", "ann:hunter2secret", "--auth", "ann:other"], {}],
  ["SERVE_HERE_AUTH with a line without a colon", [], { SERVE_HERE_AUTH: "ann:ok\nhunter2secret" }],
  ["SERVE_HERE_AUTH with an empty password", [], { SERVE_HERE_AUTH: "ann:hunter2secret\nbob:" }],
];

for (const [label, args, env] of BAD_AUTH) {
  test(`${label} is a usage error, exit 2, and the message does not repeat the password`, async (t) => {
    const root = tempDir(t, TREE);
    const run = await runCli([root, ...LOCAL_ONLY, ...args], { env });
    assert.equal(run.code, 2, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.match(run.stderr, /--auth|SERVE_HERE_AUTH/);
    assert.doesNotMatch(run.stderr, /hunter2secret/);
    assert.equal(run.stdout, "", "it never started");
  });
}

test("bound beyond loopback (-b 0.0.0.0), --auth warns that passwords and files cross the network in clear", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, "-p", "0", "-b", "0.0.0.0", "--auth", "ann:correct horse"]);
  await stop(cli);
  assert.match(cli.stdout(), /Warning: --auth on plain HTTP: passwords and files cross the network in clear text/);
  assert.match(cli.stdout(), /for others, --tls-self-signed or a proxy with HTTPS/, "it names the fix serve-here has itself");
});

test("bound to 127.0.0.1, --auth gives no warning; without --auth, nothing about passwords at all", async (t) => {
  const root = tempDir(t, TREE);
  const local = await startCli(t, [root, ...LOCAL_ONLY, "--auth", "ann:correct horse"]);
  await stop(local);
  assert.doesNotMatch(local.stdout(), /Warning/);
  const open = await startCli(t, [root, "-p", "0", "-b", "0.0.0.0"]);
  await stop(open);
  assert.doesNotMatch(open.stdout(), /Warning|Password/);
});

test("passwords never reach stdout or stderr, right or wrong, whatever the requests", async (t) => {
  const root = tempDir(t, TREE);
  const cli = await startCli(t, [root, ...LOCAL_ONLY], { env: { SERVE_HERE_AUTH: "ann:pw-right-7731" } });
  const sent = [
    basic("ann", "pw-right-7731"),
    basic("ann", "pw-wrong-5519"),
    basic("pw-user-field-2284", "x"),
    `Basic ${Buffer.from("pw-nocolon-9902").toString("base64")}`,
    "Bearer pw-token-4410",
  ];
  for (const authorization of sent) await request(cli.port, "/a.txt", { headers: { Authorization: authorization } });
  await eventually(() => cli.stdout().split("\n").filter((line) => line.includes("/a.txt")).length >= 5, "five log lines");
  await stop(cli);
  const output = cli.stdout() + cli.stderr();
  for (const secret of ["pw-right-7731", "pw-wrong-5519", "pw-nocolon-9902", "pw-token-4410"]) assert.ok(!output.includes(secret), `${secret} is not in the output`);
  assert.match(output, /wrong credentials for "pw-user-field-2284"/, "the user-id is logged, as the note says");
  for (const authorization of sent) assert.ok(!output.includes(authorization.split(" ")[1]!), `${authorization} is not in the output, not even encoded`);
});
