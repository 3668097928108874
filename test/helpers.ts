/**
 * Test helpers: a real server on a real socket (port 0), real files in temporary folders, raw
 * requests over `net` where a client library would normalise the path away, and the real binary.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomInt } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import { startServer, type ServerOptions, type StartedServer } from "../src/server.js";

/** The repository's root, from `dist/test/` where the compiled tests run. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = path.join(PROJECT_ROOT, "bin", "serve-here.js");
export const FIXTURES = path.join(PROJECT_ROOT, "fixtures");

/** A file tree to build: a string is file content, an object a folder, `{ symlink }` a link. */
export type Tree = { [name: string]: string | Buffer | Tree | { symlink: string } };

function isSymlinkSpec(value: unknown): value is { symlink: string } {
  return typeof value === "object" && value !== null && !Buffer.isBuffer(value) && "symlink" in value;
}

export function buildTree(dir: string, tree: Tree): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(tree)) {
    const target = path.join(dir, name);
    if (typeof value === "string" || Buffer.isBuffer(value)) writeFileSync(target, value);
    else if (isSymlinkSpec(value)) symlinkSync(value.symlink, target);
    else buildTree(target, value);
  }
}

/** A fresh temporary folder (real path), removed after the test. */
export function tempDir(t: TestContext, tree: Tree = {}): string {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), "serve-here-test-")));
  buildTree(dir, tree);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts serve-here on 127.0.0.1 and an ephemeral port; closed after the test. */
export async function serve(t: TestContext, options: ServerOptions): Promise<StartedServer & { base: string }> {
  const started = await startServer({ port: 0, host: "127.0.0.1", ...options });
  t.after(() => started.close(100));
  return { ...started, base: `http://127.0.0.1:${started.port}` };
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request with `node:http`, which sends the path exactly as given (no normalisation of `..`
 * or `%2e`). A fresh connection each time, closed afterwards.
 */
export function request(port: number, target: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: target, method: options.method ?? "GET", headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

export interface RawResponse {
  /** Everything the server sent before closing. */
  raw: Buffer;
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Sends bytes exactly as written over a plain socket and reads until the server closes (send
 * `Connection: close`). For targets no client library would send: `..`, `\`, NUL, absolute-form.
 */
export function rawRequest(port: number, text: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString("latin1").slice(0, 200)}`));
    }, timeoutMs);
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", () => {}); // a reset after the answer is still an answer
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseRawResponse(Buffer.concat(chunks)));
    });
    socket.write(text);
  });
}

export function parseRawResponse(raw: Buffer): RawResponse {
  const headEnd = raw.indexOf("\r\n\r\n");
  const head = raw.subarray(0, headEnd === -1 ? raw.length : headEnd).toString("latin1");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  return { raw, status, headers, body: headEnd === -1 ? Buffer.alloc(0) : raw.subarray(headEnd + 4) };
}

/** `GET target` over a raw socket, the target byte for byte as given. */
export function rawGet(port: number, target: string, extraHeaders = ""): Promise<RawResponse> {
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHeaders}Connection: close\r\n\r\n`);
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real binary to completion (for --help, errors and the like). */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? PROJECT_ROOT, env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c));
    child.stderr.on("data", (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 10_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  /** The URL from the banner's first line. */
  url: string;
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the real binary and waits for its banner; killed after the test if still running. */
export function startCli(t: TestContext, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; command?: string[]; bin?: string } = {}): Promise<RunningCli> {
  const command = options.command ?? [process.execPath];
  const child = spawn(command[0]!, [...command.slice(1), options.bin ?? BIN, ...args], { cwd: options.cwd ?? PROJECT_ROOT, env: { ...process.env, ...options.env } });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c));
  child.stderr.on("data", (c: Buffer) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 10 s; stdout: ${out}; stderr: ${err}`)), 10_000);
    const onData = () => {
      const match = /at (https?:\/\/\S+?:(\d+)\/)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off("data", onData);
      resolve({ child, url: match[1]!, port: Number(match[2]), stdout: () => out, stderr: () => err, exited });
    };
    child.stdout.on("data", onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before the banner; stdout: ${out}; stderr: ${err}`));
    });
  });
}

/** Open file descriptors of this process (Linux), to prove none leak. */
export function openDescriptorCount(pid: number | "self" = "self"): number {
  return (readdirSafe(`/proc/${pid}/fd`) ?? []).length;
}

function readdirSafe(dir: string): string[] | null {
  try {
    return readdirSync(dir);
  } catch {
    return null;
  }
}

/** Waits until `check` holds, polling; throws with `message` after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, message: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A randomised suite's seed, and how to run the same cases again. */
export interface SuiteSeed {
  seed: number;
  /** The shell command that replays this run from a fresh checkout, with `more` settings added. */
  replay: (more?: Record<string, string | number>) => string;
  /** One line for the log: the seed, the replay command, and the runtime it ran on. */
  line: string;
}

/**
 * The seed of a randomised suite: `variable` from the environment when set (a replay), else a new
 * random one each run. `settings` are the other variables that shape the cases (only those set
 * are repeated). A malformed seed is an error, never a silent 0 or NaN.
 */
export function suiteSeed(variable: string, testFile: string, settings: readonly string[] = []): SuiteSeed {
  const given = process.env[variable];
  if (given !== undefined && given !== "" && !(/^\d{1,10}$/.test(given) && Number(given) < 2 ** 32)) {
    throw new Error(`${variable}=${JSON.stringify(given)}: a seed is a whole number from 0 to ${2 ** 32 - 1}`);
  }
  const seed = given !== undefined && given !== "" ? Number(given) : randomInt(2 ** 32);
  const fixed = settings.filter((name) => process.env[name] !== undefined && process.env[name] !== "").map((name) => `${name}=${process.env[name]}`);
  const replay = (more: Record<string, string | number> = {}) => {
    const env = [`${variable}=${seed}`, ...fixed, ...Object.entries(more).map(([name, value]) => `${name}=${value}`)].join(" ");
    return `npm run build && ${env} node --test dist/test/${testFile}`;
  };
  return { seed, replay, line: `seed ${seed}; replay: ${replay()} (this run: Node ${process.version})` };
}

// Root ignores file modes, so permission tests run the server as uid 65534 when we are root.
export const NOBODY = 65534;
/** Prefix a command with this to run it as NOBODY. */
export const AS_NOBODY = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"];

/** True when the server must run as another user for file modes to bite; fails, never skips. */
export function needsPrivilegeDrop(): boolean {
  if (typeof process.getuid !== "function") assert.fail("permission tests need a POSIX system");
  if (process.getuid() !== 0) return false;
  try {
    execFileSync("setpriv", ["--version"], { stdio: "ignore" });
  } catch {
    assert.fail("running as root, which ignores file modes, and setpriv (util-linux) is not installed: install util-linux or run the tests as an unprivileged user");
  }
  return true;
}

/** How to start the real server as the user whose file modes the permission tests judge. */
export interface UnprivilegedServer {
  /** The command that runs Node: `setpriv … node` as NOBODY when we are root, else plain Node. */
  command: string[];
  /** The `bin/serve-here.js` to run, which that user can read. */
  bin: string;
  /** The compiled `dist/src/server.js` beside it, for `createHandler`. */
  serverModule: string;
}

/**
 * The server for a permission test, or null once the test is skipped, saying why. As ourselves it
 * is the checkout's own. As root it runs as NOBODY from a copy of what it needs in a fresh folder
 * under the temporary folder (`installForNobody`): the checkout may lie where NOBODY cannot go (a
 * clone under a `mktemp -d` folder, mode 700, or a home folder, mode 750), and a test must never
 * fail for where the clone was made. Skipped only when even that cannot be arranged: the temporary
 * folder or Node itself out of NOBODY's reach.
 */
export function unprivilegedServer(t: TestContext): UnprivilegedServer | null {
  if (!needsPrivilegeDrop()) return { command: [process.execPath], bin: BIN, serverModule: path.join(PROJECT_ROOT, "dist", "src", "server.js") };
  const problem = nobodyCannotReach(process.execPath);
  const install = problem === null ? installForNobody() : { problem: `Node itself: ${problem}` };
  if ("problem" in install) {
    t.skip(`the permission tests run the server as uid ${NOBODY}, which cannot reach ${install.problem}; run them as an unprivileged user, or make it reachable`);
    return null;
  }
  return { command: [...AS_NOBODY, process.execPath], bin: path.join(install.root, "bin", "serve-here.js"), serverModule: path.join(install.root, "dist", "src", "server.js") };
}

let nobodyInstall: { root: string } | { problem: string } | undefined;

/**
 * Copies what the server runs, and nothing else, into a folder NOBODY can read: package.json (the
 * module type, the version), bin/, dist/src/ and the runtime dependencies with theirs, every file
 * readable and every folder searchable by all. Once per test process, removed when it exits.
 */
function installForNobody(): { root: string } | { problem: string } {
  if (nobodyInstall !== undefined) return nobodyInstall;
  const root = mkdtempSync(path.join(os.tmpdir(), "serve-here-as-nobody-"));
  process.on("exit", () => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const problem = nobodyCannotReach(root);
  if (problem !== null) return (nobodyInstall = { problem });
  for (const part of ["package.json", "bin", path.join("dist", "src"), ...runtimeModules(PROJECT_ROOT)]) {
    cpSync(path.join(PROJECT_ROOT, part), path.join(root, part), { recursive: true, dereference: true });
  }
  openToAll(root);
  return (nobodyInstall = { root });
}

/** `node_modules/…` folders of the package at `dir`'s dependencies, and of theirs, found as Node finds them. */
function runtimeModules(dir: string, found = new Set<string>()): string[] {
  const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    // Nested under the package first, then hoisted to the top: the copy of `dir` brings the nested ones.
    const nested = path.join(dir, "node_modules", name);
    if (dir !== PROJECT_ROOT && existsSync(nested)) {
      runtimeModules(nested, found);
      continue;
    }
    const relative = path.join("node_modules", name);
    if (found.has(relative)) continue;
    found.add(relative);
    runtimeModules(path.join(PROJECT_ROOT, relative), found);
  }
  return [...found];
}

/** Every file readable and every folder searchable by all: a checkout made under umask 077 is neither. */
function openToAll(dir: string): void {
  chmodSync(dir, statSync(dir).mode | 0o555);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) openToAll(file);
    else chmodSync(file, statSync(file).mode | 0o444);
  }
}

/** Why NOBODY could not read `file` (a folder on the way it cannot search), or null when it can. */
function nobodyCannotReach(file: string): string | null {
  for (let dir = file; ; dir = path.dirname(dir)) {
    const stats = statSync(dir);
    const needed = stats.isDirectory() ? 0o005 : 0o004;
    if ((stats.mode & needed) !== needed) return `${dir} (mode ${(stats.mode & 0o777).toString(8)})`;
    if (dir === path.dirname(dir)) return null;
  }
}

/**
 * Decodes the QR code in an image with `zbarimg` (Debian's zbar-tools; `.ci/run` installs it) and
 * returns the text it holds. Fails, never skips, when zbarimg is missing.
 */
export function decodeQr(image: Buffer, extension: "pbm" | "png"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "serve-here-qr-"));
  try {
    const file = path.join(dir, `code.${extension}`);
    writeFileSync(file, image);
    let out: string;
    try {
      out = execFileSync("zbarimg", ["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }); // stderr: D-Bus noise
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { status?: number };
      if (e.code === "ENOENT") assert.fail("zbarimg not found: apt-get install zbar-tools");
      assert.fail(`zbarimg found no QR code (exit ${e.status})`);
    }
    return out.replace(/\n$/, "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Modules (true: dark) as a plain PBM (`P1`) image, `scale` pixels a module, with `margin` light
 * modules around them: the simplest image format zbarimg reads.
 */
export function modulesToPbm(modules: readonly (readonly boolean[])[], scale = 8, margin = 0): Buffer {
  const size = modules.length + 2 * margin;
  const dark = (row: number, column: number) => modules[row - margin]?.[column - margin] ?? false;
  const rows: string[] = [];
  for (let row = 0; row < size; row++) {
    const pixels = Array.from({ length: size }, (_, column) => (dark(row, column) ? "1" : "0").repeat(scale).split("").join(" ")).join(" ");
    for (let i = 0; i < scale; i++) rows.push(pixels);
  }
  return Buffer.from(`P1\n${size * scale} ${size * scale}\n${rows.join("\n")}\n`);
}

/**
 * Half-block QR text (`▀▄█ `, two module rows a line, ink for LIGHT modules, as the banner prints
 * it) back into modules, true for dark. Lines are taken as they are, quiet zone included.
 */
export function halfBlocksToModules(lines: readonly string[]): boolean[][] {
  const modules: boolean[][] = [];
  for (const line of lines) {
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const char of line) {
      if (!"▀▄█ ".includes(char)) throw new Error(`not a half-block character: ${JSON.stringify(char)}`);
      top.push(!(char === "█" || char === "▀"));
      bottom.push(!(char === "█" || char === "▄"));
    }
    modules.push(top, bottom);
  }
  return modules;
}

/** Listens on `port`: null once listening, or the error (EADDRINUSE when something holds the port). */
export function listenOn(server: net.Server, port: number, host: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error));
    server.listen(port, host, () => resolve(null));
  });
}

/** Where each of process `pid`'s descriptors points (Linux, /proc/<pid>/fd). */
export function descriptorTargets(pid: number | "self"): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

/** How many descriptors of process `pid` are open on `file`. */
export function descriptorsOn(file: string, pid: number | "self" = "self"): number {
  return descriptorTargets(pid).filter((target) => target === file).length;
}

/** Resident memory of process `pid`, in bytes (Linux, VmRSS). */
export function residentBytes(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kib) * 1024;
}

/** mulberry32: small, fast, good enough to pick requests, and the same on every machine. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  /** min ≤ n ≤ max */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    const total = table.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, value] of table) {
      if ((r -= w) < 0) return value;
    }
    return table[table.length - 1]![1];
  }
  string(length: number, alphabet: string): string {
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}
