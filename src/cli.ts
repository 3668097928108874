/**
 * The `serve-here` command: parse flags, check the root, start the server, print the banner and
 * the request log, stop cleanly on Ctrl+C or SIGTERM.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { BlockList, isIP } from "node:net";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseArgs, stripVTControlCharacters, styleText } from "node:util";
import { ANY_HOST, isHostName } from "./access.js";
import { parseCredentials, parseCredentialsList } from "./auth.js";
import { networkLines, qrLines, qrUrl, servingLine, uploadLines, urlForOtherDevices, type QrWhen } from "./banner.js";
import { selfSignedCertificate, type SelfSignedCertificate } from "./cert.js";
import { openInBrowser } from "./open.js";
import { formatLogLine, startServer, validateExtraHeaders, type AccessLogEntry, type Credentials, type ServerOptions } from "./server.js";
import type { TlsCertificate } from "./tls.js";
import { isWorkerProcess, killWorkers, serveAsWorker, startWorkers, STOPPED_BEFORE_LISTENING } from "./workers.js";

const DEFAULT_PORT = 8000;
/** Without `--port`, a busy 8000 moves to the next free port up to 8020. */
const PORT_FALLBACK = 20;

const HELP = `Usage: serve-here [ROOT] [options]

Serve the files under ROOT (default: the current folder) over HTTP, or HTTPS.

Options:
  -p, --port N           port to listen on; 0 picks any free port
                         (default: 8000, or the next free one up to 8020)
  -b, --bind ADDR        address to listen on (default: all interfaces); also --host
  -d, --directory ROOT   the folder to serve, like the ROOT argument
      --dotfiles         serve and list names that start with "."
      --follow-symlinks  serve symlinks that lead outside ROOT
      --no-listing       answer 404 for folders without index.html instead of listing them
      --cors             send Access-Control-Allow-Origin: * and answer preflights
  -H, --header "N: V"    add a header to every response (repeatable)
      --cache SECONDS    send Cache-Control: max-age=SECONDS (default: no-cache)
      --no-clean-urls    do not answer /about from about.html
      --spa              answer page loads of missing paths with /index.html
      --open             open the server's URL in the default browser
      --no-compress      send every file as it is: no br/gzip on the fly, no .br/.gz sidecars
      --live             reload open pages when a file changes (stylesheets swap in place)
      --allowed-host NAME
                         answer requests for the host name NAME too (repeatable); "any"
                         answers every name (default: only IP addresses, localhost
                         names and this machine's hostname, against DNS rebinding)
      --qr               print a QR code of the network URL, even when stdout is not a terminal
      --no-qr            print no QR code (default: one on a terminal, when the network can connect)
      --auth USER:PASS   ask for this user-id and password (repeatable); or give them in
                         SERVE_HERE_AUTH, one USER:PASS per line, out of sight of ps
      --upload           accept uploads: PUT /dir/name, an upload form in listings, and
                         WebDAV writes; alone, a drop box: nothing replaced or deleted
      --overwrite        with --upload: a drive you can edit: replace, move and delete
                         (default: PUT is 409, a form's file lands as "name (1).ext")
      --max-upload SIZE  with --upload: refuse bodies over SIZE bytes with 413
                         (K, M, G for KiB, MiB, GiB; default: no limit)
      --tls-cert FILE    serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate
      --tls-key FILE     and this PEM private key; plain http:// requests are redirected
      --tls-self-signed  serve HTTPS with a certificate made once and kept in
                         ~/.config/serve-here/ (the banner shows its fingerprint)
      --workers N        answer with N processes on the one port, to use N cores; "auto"
                         is one per core (default: 1)
      --trust-proxy      behind a reverse proxy: log the client from X-Forwarded-For
                         (its last entry) instead of the proxy's address
  -q, --quiet            do not log requests
  -h, --help             show this help
  -v, --version          show the version

Examples:
  serve-here                      serve this folder on port 8000
  serve-here site -p 3000         serve ./site on port 3000
  serve-here -b 127.0.0.1         only this machine may connect
  serve-here --live               edit files, and the browser shows each change
  SERVE_HERE_AUTH=ann:s3cret serve-here   only who knows the password may read
  serve-here --upload             let phones and colleagues drop files into this folder
  serve-here --tls-self-signed    HTTPS on the LAN, for pages that need a secure context
  curl -T photo.jpg http://HOST:8000/inbox/     upload one file (to a --upload server)
`;

/** A mistake in how the command was called: exit status 2, like other Unix tools. */
class UsageError extends Error {}

interface CliPlan {
  root: string;
  /** True when the user named the port: then a busy port is an error, not a reason to move. */
  portGiven: boolean;
  quiet: boolean;
  /** Open the local URL in the default browser once listening. */
  open: boolean;
  /** When the banner shows a QR code: `--qr`, `--no-qr`, or by default on a terminal. */
  qr: QrWhen;
  /** Where HTTPS gets its certificate: files the user named, or the kept self-signed one; null for plain HTTP. */
  tls: TlsSource | null;
  /** How many processes answer (`--workers`); 1 is this process alone, without node:cluster. */
  workers: number;
  options: ServerOptions;
}

type TlsSource = { kind: "files"; cert: string; key: string } | { kind: "self-signed" };

type Parsed = { kind: "help" } | { kind: "version" } | { kind: "run"; plan: CliPlan };

/** Turns argv (and SERVE_HERE_AUTH from `env`) into a plan, or throws UsageError. Touches nothing on disk or network. */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = process.env): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: "string", short: "p" },
        bind: { type: "string", short: "b" },
        host: { type: "string" },
        directory: { type: "string", short: "d" },
        dotfiles: { type: "boolean" },
        "follow-symlinks": { type: "boolean" },
        "no-listing": { type: "boolean" },
        cors: { type: "boolean" },
        header: { type: "string", short: "H", multiple: true },
        cache: { type: "string" },
        "no-clean-urls": { type: "boolean" },
        spa: { type: "boolean" },
        open: { type: "boolean" },
        "no-compress": { type: "boolean" },
        live: { type: "boolean" },
        "allowed-host": { type: "string", multiple: true },
        qr: { type: "boolean" },
        "no-qr": { type: "boolean" },
        auth: { type: "string", multiple: true },
        upload: { type: "boolean" },
        overwrite: { type: "boolean" },
        "max-upload": { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "tls-self-signed": { type: "boolean" },
        workers: { type: "string" },
        "trust-proxy": { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };

  if (positionals.length > 1) throw new UsageError(`expected one ROOT, got ${positionals.length}: ${positionals.join(" ")}`);
  if (positionals.length === 1 && values.directory !== undefined) throw new UsageError("give ROOT either as an argument or with --directory, not both");
  if (values.bind !== undefined && values.host !== undefined) throw new UsageError("give --bind or --host, not both");
  const root = positionals[0] ?? values.directory ?? ".";
  const host = values.bind ?? values.host;
  if (host !== undefined && host.trim() === "") throw new UsageError("--bind needs an address");

  const port = values.port === undefined ? DEFAULT_PORT : parseInteger("--port", values.port, 0, 65535);
  const cacheSeconds = values.cache === undefined ? undefined : parseInteger("--cache", values.cache, 0, 2 ** 31 - 1);
  const headers = parseHeaderFlags(values.header ?? []);
  const allowedHosts = parseAllowedHosts(values["allowed-host"] ?? []);
  if (values.qr && values["no-qr"]) throw new UsageError("give --qr or --no-qr, not both");
  const auth = parseAuth(values.auth ?? [], env.SERVE_HERE_AUTH);
  if (!values.upload && values.overwrite) throw new UsageError("--overwrite needs --upload");
  if (!values.upload && values["max-upload"] !== undefined) throw new UsageError("--max-upload needs --upload");
  const maxUploadBytes = values["max-upload"] === undefined ? undefined : parseSize("--max-upload", values["max-upload"]);
  const tls = parseTls(values["tls-cert"], values["tls-key"], values["tls-self-signed"] ?? false);

  return {
    kind: "run",
    plan: {
      root,
      portGiven: values.port !== undefined,
      quiet: values.quiet ?? false,
      open: values.open ?? false,
      qr: values.qr ? "always" : values["no-qr"] ? "never" : "on-terminal",
      tls,
      workers: parseWorkers(values.workers),
      options: {
        root,
        port,
        portFallback: values.port === undefined ? PORT_FALLBACK : 0,
        host,
        dotfiles: values.dotfiles ?? false,
        followSymlinks: values["follow-symlinks"] ?? false,
        listing: !(values["no-listing"] ?? false),
        cors: values.cors ?? false,
        headers,
        cacheSeconds,
        cleanUrls: !(values["no-clean-urls"] ?? false),
        spa: values.spa ?? false,
        compress: !(values["no-compress"] ?? false),
        live: values.live ?? false,
        allowedHosts,
        auth,
        upload: values.upload ?? false,
        overwrite: values.overwrite ?? false,
        maxUploadBytes,
        trustProxy: values["trust-proxy"] ?? false,
      },
    },
  };
}

/** `--tls-cert` with `--tls-key`, or `--tls-self-signed`, or neither. */
function parseTls(cert: string | undefined, key: string | undefined, selfSigned: boolean): TlsSource | null {
  if (selfSigned) {
    if (cert !== undefined || key !== undefined) throw new UsageError("give --tls-cert and --tls-key, or --tls-self-signed, not both");
    return { kind: "self-signed" };
  }
  if (cert === undefined && key === undefined) return null;
  if (cert === undefined || cert === "") throw new UsageError("--tls-key needs --tls-cert FILE too");
  if (key === undefined || key === "") throw new UsageError("--tls-cert needs --tls-key FILE too");
  return { kind: "files", cert, key };
}

/** Most workers `--workers` takes: more processes than this only share the same cores. */
const MAX_WORKERS = 256;

/** `--workers N` or `auto` (one per core Node may use). */
function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === "auto") return availableParallelism();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_WORKERS) throw new UsageError(`--workers must be a whole number from 1 to ${MAX_WORKERS}, or auto, not "${text}"`);
  return Number(text);
}

/** `--allowed-host` names, each a DNS name, or `any` alone. */
function parseAllowedHosts(names: string[]): "any" | string[] {
  if (names.includes(ANY_HOST)) {
    if (names.length > 1) throw new UsageError(`--allowed-host ${ANY_HOST} already allows every name; give it alone`);
    return ANY_HOST;
  }
  for (const name of names) if (!isHostName(name)) throw new UsageError(`--allowed-host needs a host name without a port (IP addresses are always allowed), not "${name}"`);
  return names;
}

function parseInteger(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, not "${text}"`);
  return Number(text);
}

const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `500`, `64K`, `10M`, `2G`: bytes, or KiB, MiB, GiB. */
function parseSize(flag: string, text: string): number {
  const match = /^(\d+)([KMG]?)$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * SIZE_UNITS[match[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new UsageError(`${flag} must be a size like 500, 64K, 10M or 2G (at least 1 byte), not "${text}"`);
  return bytes;
}

/** `-H "Name: value"` flags into a header record, each checked the way Node would check it. */
function parseHeaderFlags(flags: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const flag of flags) {
    const colon = flag.indexOf(":");
    if (colon <= 0) throw new UsageError(`--header must look like "Name: value", not "${flag}"`);
    headers[flag.slice(0, colon).trim()] = flag.slice(colon + 1).trim();
  }
  try {
    validateExtraHeaders(headers);
  } catch (error) {
    throw new UsageError(`--header: ${(error as Error).message}`);
  }
  return headers;
}

/**
 * The users: `--auth` flags, or else SERVE_HERE_AUTH (one USER:PASSWORD per line). Flags win
 * whole, never merged: a password exported in the shell long ago must not open a server that names
 * its own users. Errors never repeat the text, which holds a password. undefined: no passwords.
 */
function parseAuth(flags: string[], fromEnv: string | undefined): Credentials[] | undefined {
  if (flags.length > 0) {
    const users = flags.map((flag, index) => {
      try {
        return parseCredentials(flag);
      } catch (error) {
        throw new UsageError(`--auth (number ${index + 1}) ${authMessage(error)}`);
      }
    });
    return checkDistinct(users, "--auth");
  }
  if (fromEnv === undefined || fromEnv.trim() === "") return undefined;
  try {
    return checkDistinct(parseCredentialsList(fromEnv), "SERVE_HERE_AUTH");
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`SERVE_HERE_AUTH: ${authMessage(error)}`);
  }
}

function authMessage(error: unknown): string {
  return (error as Error).message.replace(/^auth: /, "");
}

function checkDistinct(users: Credentials[], source: string): Credentials[] {
  const seen = new Set<string>();
  for (const { user } of users) {
    if (seen.has(user.normalize("NFC"))) throw new UsageError(`${source}: user "${user}" is given twice`);
    seen.add(user.normalize("NFC"));
  }
  return users;
}

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Colour only on a terminal, and never when NO_COLOR is set (no-color.org). */
function colourAllowed(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

function makePainter(stream: NodeJS.WriteStream) {
  const enabled = colourAllowed(stream);
  return (format: Parameters<typeof styleText>[0], text: string) => (enabled ? styleText(format, text) : text);
}

/** The root as a person would recognise it: `.`, `./site`, or an absolute path outside the cwd. */
function displayRoot(root: string): string {
  const relative = path.relative(process.cwd(), path.resolve(root));
  if (relative === "") return ".";
  if (relative.startsWith("..") || path.isAbsolute(relative)) return path.resolve(root);
  return `.${path.sep}${relative}`;
}

/** Columns a line takes on a terminal: its characters, less colour escapes. */
function visibleWidth(line: string): number {
  return [...stripVTControlCharacters(line)].length;
}

function fail(message: string, code: number): number {
  process.stderr.write(`serve-here: ${message}\n`);
  return code;
}

/** Runs the command; resolves with an exit code for errors, or keeps serving until a signal. */
export async function main(argv: string[]): Promise<number | undefined> {
  // A worker of `--workers` is told its options by the primary, which parsed the command line.
  if (isWorkerProcess()) return serveAsWorker();
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return fail(`${error.message}\nTry 'serve-here --help'.`, 2);
  }
  if (parsed.kind === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed.kind === "version") {
    process.stdout.write(`serve-here ${readVersion()}\n`);
    return 0;
  }
  const { plan } = parsed;
  // Read once, then gone: child processes (the browser --open starts) must not inherit the passwords.
  delete process.env.SERVE_HERE_AUTH;
  // Before anything can answer: from here on Ctrl+C and SIGTERM stop gracefully, whenever they come.
  const stop = stopOnSignals(plan.quiet);

  const rootStats = await stat(plan.root).catch(() => null);
  if (!rootStats) return fail(`${plan.root}: no such folder`, 1);
  if (!rootStats.isDirectory()) return fail(`${plan.root}: not a folder`, 1);

  let certificate: LoadedCertificate | undefined;
  if (plan.tls) {
    try {
      certificate = await loadCertificate(plan.tls, plan.root);
    } catch (error) {
      return fail((error as Error).message, 1);
    }
  }

  const paint = makePainter(process.stdout);
  const writeLog = (entry: AccessLogEntry) => process.stdout.write(colourLogLine(entry, paint) + "\n");
  // Answers given before the banner is out (the first worker answers while the others start) are
  // logged right after it, so the log always follows the banner.
  let held: AccessLogEntry[] | null = [];
  const onResponse = plan.quiet ? undefined : (entry: AccessLogEntry) => (held ? void held.push(entry) : writeLog(entry));

  // Stopped before anything listened: there is nothing to finish.
  if (stop.heard()) return 0;
  let started;
  try {
    const options: ServerOptions = { ...plan.options, onResponse, tls: certificate?.pem };
    started = plan.workers > 1 ? await startWorkers(plan.workers, options, stop.signal) : await startServer(options);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === STOPPED_BEFORE_LISTENING) return 0;
    const port = plan.options.port;
    if (code === "EADDRINUSE") return fail(plan.portGiven ? `port ${port} is already in use` : `ports ${port} to ${port! + PORT_FALLBACK} are all in use; choose one with --port`, 1);
    if (code === "EACCES") return fail(`not allowed to listen on port ${port} (ports below 1024 need privileges)`, 1);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") return fail(`cannot listen on ${plan.options.host}: no such local address`, 1);
    if (certificate) return fail(`cannot serve HTTPS with ${certificate.from}: ${(error as Error).message}`, 1);
    return fail(`cannot start: ${(error as Error).message}`, 1);
  }

  const lines = [servingLine(displayRoot(plan.root), paint(["cyan", "bold"], started.url))];
  if (!plan.portGiven && started.port !== plan.options.port) lines.push(paint("yellow", `  (port ${plan.options.port} is in use, so this is ${started.port})`));
  lines.push(...networkLines(started));
  const qr = qrUrl(plan.qr, process.stdout.isTTY === true, started);
  const code = qr === null ? [] : qrLines(qr, colourAllowed(process.stdout));
  // A code wrapped by a narrow terminal scans as nothing: by default, leave it out there.
  const fits = plan.qr === "always" || !process.stdout.columns || code.every((line) => visibleWidth(line) <= process.stdout.columns);
  if (code.length > 0 && fits) lines.push("", ...code, "");
  if (plan.workers > 1) lines.push(`  Workers: ${plan.workers}`);
  if (plan.options.live) lines.push(`  Live reload: on`);
  if (certificate) lines.push(...certificate.bannerLines);
  const users = plan.options.auth?.length ?? 0;
  if (users > 0) lines.push(`  Password: required (${users} ${users === 1 ? "user" : "users"})`);
  const inClear = certificate ? null : clearTextWarning(plan.options);
  if (inClear) lines.push(paint("yellow", inClear));
  if (plan.options.upload) lines.push(...uploadLines(displayRoot(plan.root), plan.options, urlForOtherDevices(started) ?? started.url));
  lines.push(paint("dim", "Press Ctrl+C to stop."));
  process.stdout.write(lines.join("\n") + "\n");
  for (const entry of held) writeLog(entry);
  held = null;
  if (plan.open && !stop.heard()) openInBrowser(started.url, (message) => process.stderr.write(`serve-here: ${message}\n`));
  stop.serving(started);
  return undefined;
}

/** How long the first Ctrl+C or SIGTERM lets open responses finish. */
const GRACE_MS = 3000;

/**
 * Ctrl+C and SIGTERM, from before the server starts until the process ends: the first lets open
 * responses finish (at most `GRACE_MS`), then exits 0; a second ends everything at once, workers
 * included, with 1. One that comes while the server starts is kept: `signal` tells `startWorkers`
 * to start no more workers, and `serving` applies the stop as soon as the server is up, so no
 * moment is left where a signal would kill the process and cut what it is sending.
 */
function stopOnSignals(quiet: boolean) {
  const asked = new AbortController();
  let heard: NodeJS.Signals | null = null;
  let server: { close(graceMs?: number): Promise<void> } | null = null;
  const drain = (running: { close(graceMs?: number): Promise<void> }) => {
    if (!quiet) process.stdout.write(`\n${heard}: finishing open responses, then stopping.\n`);
    void running.close(GRACE_MS).then(() => process.exit(0));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (heard) {
      // A second Ctrl+C means now, whether the workers are up or still starting.
      killWorkers();
      process.exit(1);
    }
    heard = signal;
    asked.abort();
    if (server) drain(server);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: asked.signal,
    heard: () => heard !== null,
    /** The server is up (its banner printed): a stop already heard starts now. */
    serving(running: { close(graceMs?: number): Promise<void> }) {
      server = running;
      if (heard) drain(running);
    },
  };
}

interface LoadedCertificate {
  pem: TlsCertificate;
  /** For error messages: which certificate it is. */
  from: string;
  /** What the banner says of it. */
  bannerLines: string[];
}

/**
 * The certificate and key: read from the user's files, or the self-signed one (made now, or the
 * one kept from before). Throws an Error whose message is for the user.
 */
async function loadCertificate(source: TlsSource, root: string): Promise<LoadedCertificate> {
  if (source.kind === "files") {
    const read = (flag: string, file: string) =>
      readFile(file).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`${flag} ${file}: ${error.code === "ENOENT" ? "no such file" : error.code === "EACCES" ? "not allowed to read it" : error.message}`);
      });
    const pem = { cert: await read("--tls-cert", source.cert), key: await read("--tls-key", source.key) };
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(pem.cert);
    } catch {
      throw new Error(`--tls-cert ${source.cert}: not a PEM certificate`);
    }
    return { pem, from: `--tls-cert ${source.cert} and --tls-key ${source.key}`, bannerLines: [`  HTTPS: ${source.cert}, valid until ${x509.validTo}`] };
  }
  let made: SelfSignedCertificate;
  try {
    made = await selfSignedCertificate({ servedRoot: root });
  } catch (error) {
    throw new Error(`--tls-self-signed: ${(error as Error).message}`);
  }
  return {
    pem: { cert: made.cert, key: made.key },
    from: `the self-signed certificate in ${made.path}`,
    bannerLines: [
      `  HTTPS: self-signed certificate, ${made.created ? "just made" : "made before"}, kept in ${made.path}`,
      `  SHA-256 fingerprint: ${made.fingerprint256}`,
      `  (a browser warns about it once: check the fingerprint it shows against this one)`,
    ],
  };
}

/**
 * What a flag sends across the network in clear text on plain HTTP, when the server listens beyond
 * this machine. A flag that does so adds one line here.
 */
const IN_CLEAR: ReadonlyArray<readonly [flag: string, on: (options: ServerOptions) => boolean, what: string]> = [
  ["--auth", (options) => (options.auth?.length ?? 0) > 0, "passwords"],
];

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** True when only this machine can connect: the server is bound to a loopback address. */
function boundToLoopback(host: string | undefined): boolean {
  if (host === undefined) return false;
  if (host === "localhost") return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? "ipv4" : "ipv6");
}

/** The banner's warning, or null: passwords or files would cross the network unencrypted. */
export function clearTextWarning(options: ServerOptions): string | null {
  if (boundToLoopback(options.host)) return null;
  const on = IN_CLEAR.filter(([, isOn]) => isOn(options));
  if (on.length === 0) return null;
  const flags = on.map(([flag]) => flag).join(" and ");
  const what = [...on.map(([, , what]) => what), "files"].join(" and ");
  return `  Warning: ${flags} on plain HTTP: ${what} cross the network in clear text, readable by anyone on the way.\n` +
    `  For this machine only, use -b 127.0.0.1 (and an SSH tunnel from elsewhere); for others, --tls-self-signed or a proxy with HTTPS.`;
}

function colourLogLine(entry: AccessLogEntry, paint: ReturnType<typeof makePainter>): string {
  const line = formatLogLine(entry);
  if (entry.status >= 500) return paint("red", line);
  if (entry.status >= 400) return paint("yellow", line);
  return line;
}
