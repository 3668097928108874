/**
 * `--tls-self-signed`: a certificate made once and kept, so that a phone that trusted it yesterday
 * still trusts it today.
 *
 *   const { cert, key, fingerprint256, created, reason } = await selfSignedCertificate({ servedRoot });
 *
 * The certificate is ECDSA P-256, self-signed with ecdsa-with-SHA256, valid for at most 397 days,
 * and names `localhost`, this machine's hostname and `hostname.local`, 127.0.0.1, ::1 and every
 * non-loopback, non-link-local address (virtual interfaces included). It is kept as `cert.pem` and
 * `key.pem` (0600) in `$XDG_CONFIG_HOME/serve-here/` (else `~/.config/serve-here/`, made 0700), and
 * reused while it parses, its key matches, it names every current name and address and at least 30
 * days remain; otherwise a new one replaces it, and `reason` says why.
 *
 * Node can parse certificates (`X509Certificate`) but not make them, so the bottom of this file is a
 * small DER encoder: only the types a certificate needs, each a few lines, against X.690 and RFC 5280.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { mkdir, open, readFile, realpath, rename, stat, unlink } from "node:fs/promises";
import { isIP } from "node:net";
import os from "node:os";
import path from "node:path";
import { domainToASCII } from "node:url";
import { rankNetworkAddresses } from "./network.js";

export interface SelfSignedCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** Its ECDSA P-256 private key, PEM (PKCS#8). */
  key: string;
  /** SHA-256 of the certificate, `AB:CD:…`, as `X509Certificate.fingerprint256` gives it: the banner prints it. */
  fingerprint256: string;
  /** The folder where it is kept. */
  path: string;
  /** True when this call made a new one. */
  created: boolean;
  validTo: Date;
  /** Why a new one was made (`addresses changed: 192.168.1.7 is new`), or why the kept one was reused. */
  reason: string;
}

export interface SelfSignedOptions {
  /** Where to keep it. Default: `$XDG_CONFIG_HOME/serve-here/` when that is absolute, else `~/.config/serve-here/`. */
  configDir?: string;
  /** The served folder: a `configDir` inside it is refused, since its key could then be downloaded. Default: none. */
  servedRoot?: string;
  /** The time to check and issue against. Default: now. */
  now?: Date;
  /** DNS names to cover. Default: `localhost`, `os.hostname()` and its `.local` name. Names that are not DNS names are left out. */
  hostnames?: string[];
  /** IP addresses to cover. Default: 127.0.0.1, ::1 and every non-loopback, non-link-local address of this machine. */
  addresses?: string[];
}

/** CA/Browser Forum's limit, which Apple and Chrome enforce even for certificates a user trusted by hand. */
const LIFETIME_DAYS = 397;
/** Renew this long before the end, so a certificate a phone trusts never runs out mid-demo. */
const RENEW_DAYS = 30;
/** notBefore is this far in the past, so a client whose clock runs a little behind accepts a new one. */
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const CERT_FILE = "cert.pem";
const KEY_FILE = "key.pem";

/** Returns the kept certificate when it still fits, else makes, keeps and returns a new one. */
export async function selfSignedCertificate(options: SelfSignedOptions = {}): Promise<SelfSignedCertificate> {
  const dir = path.resolve(options.configDir ?? defaultConfigDir());
  if (options.servedRoot !== undefined) await refuseInsideServedRoot(dir, options.servedRoot);
  const now = options.now ?? new Date();
  const hostnames = dnsNames(options.hostnames ?? machineHostnames());
  const addresses = ipAddresses(options.addresses ?? machineAddresses());

  const kept = await keptIfItFits(dir, now, hostnames, addresses);
  if (kept.kind === "fits") {
    const validTo = certDate(kept.x509, "validTo");
    const daysLeft = Math.floor((validTo.getTime() - now.getTime()) / DAY_MS);
    const reason = `kept: ${daysLeft} days left, and it names every current name and address`;
    return { cert: kept.cert, key: kept.key, fingerprint256: kept.x509.fingerprint256, path: dir, created: false, validTo, reason };
  }
  const made = makeCertificate(now, hostnames, addresses);
  await keepFiles(dir, made.cert, made.key);
  const fingerprint256 = new X509Certificate(made.cert).fingerprint256;
  return { ...made, fingerprint256, path: dir, created: true, reason: kept.reason };
}

/** `$XDG_CONFIG_HOME/serve-here`; the XDG spec says to ignore a relative `XDG_CONFIG_HOME`. */
function defaultConfigDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".config");
  return path.join(base, "serve-here");
}

/**
 * A key kept inside the served folder could be downloaded by anyone the server serves. Both sides are
 * compared as real paths (the folder may not exist yet: its nearest existing parent is resolved), with a
 * trailing separator, so neither a symlink nor a sibling named `root-secret` fools the check.
 */
async function refuseInsideServedRoot(dir: string, servedRoot: string): Promise<void> {
  const root = await realpath(path.resolve(servedRoot));
  const real = await realpathOfExistingPart(dir);
  if (real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) {
    throw new Error(`refusing to keep the TLS key in ${dir}: it is inside the served folder ${root}, where it could be downloaded; set XDG_CONFIG_HOME to a folder outside it`);
  }
}

async function realpathOfExistingPart(dir: string): Promise<string> {
  const missing: string[] = [];
  let existing = dir;
  for (;;) {
    try {
      return path.join(await realpath(existing), ...missing.reverse());
    } catch (error) {
      const parent = path.dirname(existing);
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === existing) throw error;
      missing.push(path.basename(existing));
      existing = parent;
    }
  }
}

/** `localhost`, the hostname, and its mDNS name (`box.local`, which phones on the LAN resolve via Bonjour/Avahi). */
function machineHostnames(): string[] {
  const hostname = os.hostname();
  const firstLabel = hostname.split(".")[0] ?? "";
  return ["localhost", hostname, hostname.toLowerCase().endsWith(".local") ? hostname : `${firstLabel}.local`];
}

/** Loopback, then the addresses the banner would show (network.ts decides which: link-local is left out there). */
function machineAddresses(): string[] {
  let table: ReturnType<typeof os.networkInterfaces> = {};
  try {
    table = os.networkInterfaces();
  } catch {
    // Some sandboxes refuse the interface list; loopback is still worth a certificate.
  }
  return ["127.0.0.1", "::1", ...rankNetworkAddresses(table, false).map((a) => a.address)];
}

/**
 * The names a dNSName may hold (RFC 5280 §4.2.1.6: IA5String, preferred name syntax), lower-cased,
 * internationalised ones in their `xn--` form, without duplicates. Hostnames a certificate cannot
 * name (a Windows `MY_PC`, a name with spaces) are left out rather than failing the server.
 */
function dnsNames(names: readonly string[]): string[] {
  const label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
  const syntax = new RegExp(`^${label}(?:\\.${label})*$`);
  const result = new Set<string>();
  for (const name of names) {
    const ascii = domainToASCII(name.replace(/\.$/, "")).toLowerCase();
    // An address given as a name belongs in an iPAddress entry, where a client looks for it.
    if (ascii.length <= 253 && syntax.test(ascii) && isIP(ascii) === 0) result.add(ascii);
  }
  return [...result];
}

/** Addresses as text, IPv6 without a zone (`fe80::1%eth0`), without duplicates; what is no address is left out. */
function ipAddresses(addresses: readonly string[]): string[] {
  const byBytes = new Map<string, string>();
  for (const address of addresses) {
    const bare = address.replace(/%.*$/, "");
    const bytes = ipBytes(bare);
    if (bytes !== undefined && !byBytes.has(bytes.toString("hex"))) byBytes.set(bytes.toString("hex"), bare);
  }
  return [...byBytes.values()];
}

// ---------------------------------------------------------------------------------------------
// The kept certificate, and whether it still fits

type Kept =
  | { kind: "fits"; cert: string; key: string; x509: X509Certificate }
  | { kind: "renew"; reason: string };

/** The kept certificate when it can serve, now, for every wanted name and address; else why not. */
async function keptIfItFits(dir: string, now: Date, hostnames: readonly string[], addresses: readonly string[]): Promise<Kept> {
  const kept = await readKept(dir);
  if (kept.kind === "renew") return kept;
  const why = whyRenew(kept.x509, now, hostnames, addresses);
  return why === undefined ? kept : { kind: "renew", reason: why };
}

/** Reads what is kept and checks that it is whole: it parses, and the key is the certificate's and private. */
async function readKept(dir: string): Promise<Kept> {
  let cert: string, key: string;
  try {
    cert = await readFile(path.join(dir, CERT_FILE), "utf8");
    key = await readFile(path.join(dir, KEY_FILE), "utf8");
  } catch (error) {
    const { code, path: file } = error as NodeJS.ErrnoException;
    const name = path.basename(file ?? "");
    if (code === "ENOENT") return { kind: "renew", reason: name === CERT_FILE ? "no certificate kept yet" : `${name} is missing` };
    return { kind: "renew", reason: `${name} cannot be read (${code ?? String(error)})` };
  }
  let x509: X509Certificate, privateKey: KeyObject;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return { kind: "renew", reason: `${CERT_FILE} does not parse` };
  }
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return { kind: "renew", reason: `${KEY_FILE} does not parse` };
  }
  if (privateKey.asymmetricKeyType !== "ec" || privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    return { kind: "renew", reason: `${KEY_FILE} is not an ECDSA P-256 key` };
  }
  if (!x509.checkPrivateKey(privateKey)) return { kind: "renew", reason: `${KEY_FILE} does not match ${CERT_FILE}` };
  // Like ssh with its keys: a key others could read may be out, so it is not worth keeping. (Windows has no such modes.)
  if (process.platform !== "win32" && ((await stat(path.join(dir, KEY_FILE))).mode & 0o077) !== 0) {
    return { kind: "renew", reason: `${KEY_FILE} was readable by other users` };
  }
  return { kind: "fits", cert, key, x509 };
}

/** Why the kept certificate no longer fits, or undefined when it does. */
function whyRenew(x509: X509Certificate, now: Date, hostnames: readonly string[], addresses: readonly string[]): string | undefined {
  if (certDate(x509, "validFrom").getTime() > now.getTime()) return "it is not valid yet (was the clock turned back?)";
  const msLeft = certDate(x509, "validTo").getTime() - now.getTime();
  if (msLeft <= 0) return "it has expired";
  if (msLeft < RENEW_DAYS * DAY_MS) return `it expires in ${Math.floor(msLeft / DAY_MS)} days`;
  // OpenSSL's own matching (X509_check_host, X509_check_ip), as a client would do it.
  // Only what is new counts: an address that went away (a VPN down, Docker stopped) keeps the certificate a phone trusts.
  const newNames = hostnames.filter((name) => x509.checkHost(name, { subject: "never", wildcards: false }) === undefined);
  const newAddresses = addresses.filter((address) => x509.checkIP(address) === undefined);
  const changes = [
    ...(newNames.length > 0 ? [`names changed: ${listed(newNames)}`] : []),
    ...(newAddresses.length > 0 ? [`addresses changed: ${listed(newAddresses)}`] : []),
  ];
  return changes.length > 0 ? changes.join("; ") : undefined;
}

function listed(items: readonly string[]): string {
  return items.length === 1 ? `${items[0]} is new` : `${items.slice(0, -1).join(", ")} and ${items.at(-1)} are new`;
}

/** `validFromDate`/`validToDate` are Node 22.10+; older ones give `Nov 30 00:06:30 2027 GMT`, which `Date` parses. */
function certDate(x509: X509Certificate, end: "validFrom" | "validTo"): Date {
  const native = (x509 as unknown as Record<string, unknown>)[`${end}Date`];
  return native instanceof Date ? native : new Date(x509[end]);
}

// ---------------------------------------------------------------------------------------------
// Keeping it

/**
 * The folder is made 0700 and the key written 0600, each file whole or not at all (a temporary file
 * in the same folder, then rename). A crash between the two renames leaves a key and a certificate
 * that do not match, which the next start notices and mends.
 */
async function keepFiles(dir: string, cert: string, key: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomically(path.join(dir, KEY_FILE), key, 0o600);
    await writeAtomically(path.join(dir, CERT_FILE), cert, 0o644);
  } catch (error) {
    throw new Error(`cannot keep the TLS certificate in ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    // `wx`: never through a link someone planted; the mode is set at creation, so the key is never readable by others, even briefly.
    const handle = await open(temporary, "wx", mode);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Making it: RFC 5280's Certificate, DER-encoded and signed

const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
};

function makeCertificate(now: Date, hostnames: readonly string[], addresses: readonly string[]): { cert: string; key: string; validTo: Date } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  // X.509 times have whole seconds; both ends count, so the lifetime is exactly LIFETIME_DAYS.
  const notBefore = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + LIFETIME_DAYS * DAY_MS - 1000);
  const spki = publicKey.export({ type: "spki", format: "der" });
  const keyId = keyIdentifier(publicKey);
  const name = distinguishedName(`serve-here (${os.hostname()})`);
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSHA256)); // no NULL parameters for ECDSA (RFC 5758 §3.2)

  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    signatureAlgorithm,
    name, // issuer: self-signed
    sequence(time(notBefore), time(notAfter)),
    name, // subject
    spki,
    explicit(3, sequence(
      extension(OID.subjectAltName, false, subjectAltName(hostnames, addresses)),
      extension(OID.basicConstraints, true, sequence()), // cA defaults to FALSE, and DER leaves defaults out
      extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)), // digitalSignature (bit 0), all ECDHE needs
      extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
      // Optional for a self-signed certificate (RFC 5280 §4.2.1.1), but strict WebPKI verifiers want it on every leaf.
      extension(OID.authorityKeyIdentifier, false, sequence(tagged(0x80, keyId))), // keyIdentifier [0] IMPLICIT
    )),
  );
  const signature = sign("sha256", tbs, privateKey); // DER Ecdsa-Sig-Value, as X.509 wants
  const certificate = sequence(tbs, signatureAlgorithm, bitString(signature));
  return { cert: pem("CERTIFICATE", certificate), key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), validTo: notAfter };
}

/**
 * 128 random bits, positive and without a leading zero byte. Random, not 1: Firefox refuses a
 * certificate whose issuer and serial match one it saw before with another key.
 */
function serialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial;
}

/** CN only; RFC 5280's upper bound for a common name is 64 characters. */
function distinguishedName(commonName: string): Buffer {
  const cn = [...commonName].slice(0, 64).join("");
  return sequence(setOf(sequence(oid(OID.commonName), utf8String(cn))));
}

/** GeneralNames: dNSName [2] IA5String, iPAddress [7] OCTET STRING of 4 or 16 bytes (RFC 5280 §4.2.1.6). */
function subjectAltName(hostnames: readonly string[], addresses: readonly string[]): Buffer {
  return sequence(
    ...hostnames.map((name) => tagged(0x82, Buffer.from(name, "ascii"))),
    ...addresses.map((address) => tagged(0x87, ipBytes(address)!)),
  );
}

/** RFC 5280 §4.2.1.2, method 1: SHA-1 of the subjectPublicKey bits, here the uncompressed point 04‖x‖y. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: "jwk" });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
  return createHash("sha1").update(point).digest();
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** An address's bytes in network order: 4 for IPv4, 16 for IPv6 (`::` expanded, a dotted IPv4 tail allowed). */
export function ipBytes(address: string): Buffer | undefined {
  const version = isIP(address);
  if (version === 4) return Buffer.from(address.split(".").map(Number));
  if (version !== 6) return undefined;
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split(".").map(Number) as [number, number, number, number];
    text = text.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const left = groups(head), right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// DER (X.690 §8 and §10): definite lengths, minimal encodings, low tag numbers only

function tagged(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

/** Short form below 128, else 0x80|n followed by n big-endian bytes. */
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function sequence(...items: Buffer[]): Buffer {
  return tagged(0x30, ...items);
}

/** DER sorts a SET OF by its elements' encodings (X.690 §11.6). */
function setOf(...items: Buffer[]): Buffer {
  return tagged(0x31, ...[...items].sort(Buffer.compare));
}

/** A non-negative INTEGER from big-endian bytes: leading zeros dropped, one 0x00 added when the top bit would read as a sign. */
function integer(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const bytes = unsigned.subarray(start);
  return bytes[0]! & 0x80 ? tagged(0x02, Buffer.from([0]), bytes) : tagged(0x02, bytes);
}

/** First two arcs in one byte (40·a + b), then each arc in base 128, high bit set on all but its last byte. */
function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) base128.unshift(0x80 | (rest & 0x7f));
    bytes.push(...base128);
  }
  return tagged(0x06, Buffer.from(bytes));
}

function utf8String(text: string): Buffer {
  return tagged(0x0c, Buffer.from(text, "utf8"));
}

/** RFC 5280 §4.1.2.5: UTCTime (YYMMDDHHMMSSZ) for 1950–2049, GeneralizedTime (YYYYMMDDHHMMSSZ) from 2050. */
function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest = [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    .map((n) => String(n).padStart(2, "0")).join("");
  return year >= 1950 && year < 2050
    ? tagged(0x17, Buffer.from(`${String(year % 100).padStart(2, "0")}${rest}Z`, "ascii"))
    : tagged(0x18, Buffer.from(`${String(year).padStart(4, "0")}${rest}Z`, "ascii"));
}

/** The first content byte counts the unused bits at the end. */
function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tagged(0x03, Buffer.from([unusedBits]), bytes);
}

function octetString(bytes: Buffer): Buffer {
  return tagged(0x04, bytes);
}

/** DER's TRUE is 0xFF. */
function boolean(value: boolean): Buffer {
  return tagged(0x01, Buffer.from([value ? 0xff : 0x00]));
}

/** [n] EXPLICIT: a constructed context tag around the whole inner encoding. */
function explicit(n: number, inner: Buffer): Buffer {
  return tagged(0xa0 | n, inner);
}
