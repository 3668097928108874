/**
 * The self-signed certificate (src/cert.ts): read back by Node's X509Certificate and by OpenSSL's own
 * command line, used in a real TLS handshake, kept with the right file modes, reused while it fits and
 * renewed when it does not. Names and addresses are given explicitly except where the machine's own
 * defaults are the point, so the tests do not depend on this machine's network.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import tls from "node:tls";
import { ipBytes, selfSignedCertificate } from "../src/cert.js";
import { rankNetworkAddresses } from "../src/network.js";
import { tempDir } from "./helpers.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const NAMES = ["localhost", "box", "box.local"];
const ADDRESSES = ["127.0.0.1", "::1", "192.168.1.5", "fd00::2"];

/** Runs openssl (Debian's `openssl`; `.ci/run` installs it). Fails, never skips, when it is missing. */
function openssl(args: string[], input?: string): string {
  try {
    return execFileSync("openssl", args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") assert.fail("openssl not found: apt-get install openssl");
    assert.fail(`openssl ${args.join(" ")} failed: ${e.stderr ?? e.message}`);
  }
}

/** An address as the WHATWG URL parser writes it, so `0:0:…:1`, `::1` and `::0001` compare equal. */
function canonicalIp(address: string): string {
  return address.includes(":") ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

/** The certificate's subjectAltName as Node prints it, split into DNS names and canonical addresses. */
function altNames(x509: X509Certificate): { dns: string[]; ip: string[] } {
  const entries = (x509.subjectAltName ?? "").split(", ");
  return {
    dns: entries.filter((e) => e.startsWith("DNS:")).map((e) => e.slice(4)),
    ip: entries.filter((e) => e.startsWith("IP Address:")).map((e) => canonicalIp(e.slice(11))),
  };
}

/** A config folder that does not exist yet, two levels below a fresh temporary folder. */
function configDir(t: TestContext): string {
  return path.join(tempDir(t), "config", "serve-here");
}

async function make(dir: string, options: { now?: Date; hostnames?: string[]; addresses?: string[] } = {}) {
  return selfSignedCertificate({ configDir: dir, hostnames: NAMES, addresses: ADDRESSES, ...options });
}

test("a new certificate is a v3, self-signed ECDSA P-256 certificate for every given name and address", async (t) => {
  const dir = configDir(t);
  const made = await make(dir);
  assert.equal(made.created, true);
  assert.equal(made.reason, "no certificate kept yet");
  assert.equal(made.path, dir);
  const x509 = new X509Certificate(made.cert);
  assert.deepEqual(altNames(x509), { dns: NAMES, ip: ADDRESSES.map(canonicalIp) });
  assert.equal(x509.publicKey.asymmetricKeyType, "ec");
  assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.ok(x509.verify(x509.publicKey), "signed by its own key");
  assert.ok(x509.checkPrivateKey(createPrivateKey(made.key)), "the key is the certificate's");
  assert.match(made.key, /^-----BEGIN PRIVATE KEY-----\n/, "PKCS#8");
  assert.equal(x509.ca, false);
  assert.equal(x509.issuer, x509.subject);
  assert.match(x509.subject, /^CN=serve-here \(.+\)$/);
  assert.deepEqual(x509.keyUsage, ["1.3.6.1.5.5.7.3.1"], "extendedKeyUsage: serverAuth");
  assert.match(x509.serialNumber, /^[0-7][0-9A-F]{31}$/i, "128 bits, positive, no leading zero byte");

  const fingerprint = createHash("sha256").update(x509.raw).digest("hex").toUpperCase().match(/../g)!.join(":");
  assert.equal(made.fingerprint256, fingerprint);
  assert.equal(made.fingerprint256, x509.fingerprint256);

  const validFrom = new Date(x509.validFrom).getTime(), validTo = new Date(x509.validTo).getTime();
  assert.ok(validTo - validFrom <= 397 * DAY_MS, `at most 397 days: ${x509.validFrom} to ${x509.validTo}`);
  assert.ok(validTo - validFrom >= 396 * DAY_MS, "and not much less");
  assert.ok(validFrom < Date.now(), "valid from a little in the past, for clients whose clock is behind");
  assert.ok(validFrom > Date.now() - DAY_MS, "but only a little");
  assert.equal(made.validTo.getTime(), validTo);
});

test("two new certificates have different keys and serial numbers", async (t) => {
  const a = new X509Certificate((await make(configDir(t))).cert);
  const b = new X509Certificate((await make(configDir(t))).cert);
  assert.notEqual(a.serialNumber, b.serialNumber);
  assert.notEqual(a.publicKey.export({ format: "jwk" }).x, b.publicKey.export({ format: "jwk" }).x);
});

test("openssl x509 -text reads P-256, ecdsa-with-SHA256, the names and addresses, CA:FALSE and the key usages", async (t) => {
  const dir = configDir(t);
  await make(dir);
  const text = openssl(["x509", "-in", path.join(dir, "cert.pem"), "-text", "-noout"]);
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /Public Key Algorithm: id-ecPublicKey/);
  assert.match(text, /ASN1 OID: prime256v1/);
  assert.match(text, /NIST CURVE: P-256/);
  assert.match(text, /X509v3 Subject Alternative Name: *\n\s*DNS:localhost, DNS:box, DNS:box.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.168.1.5, IP Address:FD00:0:0:0:0:0:0:2\n/);
  assert.match(text, /X509v3 Basic Constraints: critical\n\s*CA:FALSE\n/);
  assert.match(text, /X509v3 Key Usage: critical\n\s*Digital Signature\n/);
  assert.match(text, /X509v3 Extended Key Usage: *\n\s*TLS Web Server Authentication\n/);
  assert.match(text, /X509v3 Subject Key Identifier: *\n\s*([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
  assert.match(text, /X509v3 Authority Key Identifier: *\n\s*(keyid:)?([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
  assert.doesNotMatch(text, /X509v3 Subject Alternative Name: critical/, "the subject is not empty, so the SAN is not critical");

  // The key identifier is RFC 5280's method 1: SHA-1 of the public key's bits (the last 65 bytes of the SPKI).
  const spki = new X509Certificate(readFileSync(path.join(dir, "cert.pem"))).publicKey.export({ type: "spki", format: "der" });
  const ski = createHash("sha1").update(spki.subarray(-65)).digest("hex").toUpperCase().match(/../g)!.join(":");
  assert.match(text, new RegExp(`Subject Key Identifier: *\\n\\s*${ski}\\n`));

  const key = openssl(["pkey", "-in", path.join(dir, "key.pem"), "-text", "-noout"]);
  assert.match(key, /ASN1 OID: prime256v1/);
  assert.equal(openssl(["verify", "-CAfile", path.join(dir, "cert.pem"), path.join(dir, "cert.pem")]).trim(), `${path.join(dir, "cert.pem")}: OK`);
});

/**
 * pyca/cryptography parses certificates with a strict DER reader (rust-asn1): a non-minimal length or
 * integer, a BOOLEAN other than 0xFF, an encoded DEFAULT or an unsorted SET would fail here, as they
 * would in Chrome's or Apple's parsers, while OpenSSL lets them pass. Debian's python3-cryptography
 * (38 on bookworm; `.ci/run` installs it) has every call used here.
 */
const STRICT_READ = `
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
c = x509.load_pem_x509_certificate(sys.stdin.buffer.read())
c.public_key().verify(c.signature, c.tbs_certificate_bytes, ec.ECDSA(c.signature_hash_algorithm))
ext = lambda cls: c.extensions.get_extension_for_class(cls).value
ku = ext(x509.KeyUsage)
san = ext(x509.SubjectAlternativeName)
print(json.dumps({
  "version": c.version.name, "hash": c.signature_hash_algorithm.name, "curve": c.public_key().curve.name,
  "serialPositive": c.serial_number > 0,
  "extensions": [[e.oid.dotted_string, e.critical] for e in c.extensions],
  "dns": san.get_values_for_type(x509.DNSName), "ip": [str(a) for a in san.get_values_for_type(x509.IPAddress)],
  "ca": ext(x509.BasicConstraints).ca, "pathLength": ext(x509.BasicConstraints).path_length,
  "digitalSignature": ku.digital_signature, "keyCertSign": ku.key_cert_sign, "keyEncipherment": ku.key_encipherment,
  "eku": [o.dotted_string for o in ext(x509.ExtendedKeyUsage)],
  "akiIsSki": ext(x509.AuthorityKeyIdentifier).key_identifier == ext(x509.SubjectKeyIdentifier).digest,
}))
`;

test("a strict DER reader (pyca/cryptography) parses it and verifies its signature", async (t) => {
  const made = await make(configDir(t));
  let out: string;
  try {
    out = execFileSync("python3", ["-c", STRICT_READ], { input: made.cert, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") assert.fail("python3 not found: apt-get install python3 python3-cryptography");
    assert.fail(`python3 could not read the certificate (apt-get install python3-cryptography if the module is missing): ${e.stderr ?? e.message}`);
  }
  assert.deepEqual(JSON.parse(out), {
    version: "v3", hash: "sha256", curve: "secp256r1", serialPositive: true,
    extensions: [["2.5.29.17", false], ["2.5.29.19", true], ["2.5.29.15", true], ["2.5.29.37", false], ["2.5.29.14", false], ["2.5.29.35", false]],
    dns: NAMES, ip: ADDRESSES,
    ca: false, pathLength: null,
    digitalSignature: true, keyCertSign: false, keyEncipherment: false,
    eku: ["1.3.6.1.5.5.7.3.1"],
    akiIsSki: true,
  });
});

test("a TLS client that trusts it connects by localhost, 127.0.0.1 and ::1, and refuses any other name", async (t) => {
  const made = await make(configDir(t));
  const server = https.createServer({ cert: made.cert, key: made.key }, (_req, res) => res.end("hello over TLS"));
  await new Promise<void>((resolve) => server.listen(0, "::", resolve)); // dual-stack: 127.0.0.1 and ::1
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const get = (host: string, servername?: string, trusted = true) =>
    new Promise<string>((resolve, reject) => {
      https.get({ host, port, path: "/", ca: trusted ? made.cert : undefined, servername, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => resolve(body));
      }).on("error", reject);
    });
  assert.equal(await get("127.0.0.1", "localhost"), "hello over TLS", "by name, as a browser at https://localhost does");
  assert.equal(await get("127.0.0.1"), "hello over TLS", "by IPv4 address: the iPAddress entry is checked");
  assert.equal(await get("::1"), "hello over TLS", "by IPv6 address");
  assert.equal(await get("127.0.0.1", "box.local"), "hello over TLS", "by mDNS name");
  await assert.rejects(get("127.0.0.1", "example.com"), { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  await assert.rejects(get("127.0.0.1", "localhost", false), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }, "not trusted unless asked");

  // The handshake's certificate is the one made, by fingerprint, as a phone user would compare it.
  const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: made.cert, servername: "localhost" }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    }).on("error", reject);
  });
  assert.equal(peer.fingerprint256, made.fingerprint256);
});

test("the folder is made 0700, the key is written 0600, and no temporary file is left", async (t) => {
  const dir = configDir(t);
  await make(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(dir, "key.pem")).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(dir, "cert.pem")).mode & 0o077 & ~0o044, 0, "the certificate is public, but writable by its owner only");
  assert.deepEqual(readdirSync(dir).sort(), ["cert.pem", "key.pem"]);
  await make(dir, { addresses: ["10.0.0.1"] }); // a renewal replaces both files
  assert.equal(statSync(path.join(dir, "key.pem")).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir).sort(), ["cert.pem", "key.pem"]);
});

test("the kept certificate is reused while it fits", async (t) => {
  const dir = configDir(t);
  const first = await make(dir);
  const again = await make(dir);
  assert.equal(again.created, false);
  assert.equal(again.cert, first.cert);
  assert.equal(again.key, first.key);
  assert.equal(again.fingerprint256, first.fingerprint256);
  assert.equal(again.validTo.getTime(), first.validTo.getTime());
  assert.match(again.reason, /^kept: 39\d days left/);
  const fewer = await make(dir, { hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  assert.equal(fewer.created, false, "a name or address that went away does not need a new certificate");
  const differentCase = await make(dir, { hostnames: ["LOCALHOST", "Box.Local."] });
  assert.equal(differentCase.created, false, "names are compared as DNS compares them");
});

test("a new address makes a new certificate, and the reason names it", async (t) => {
  const dir = configDir(t);
  const first = await make(dir);
  const renewed = await make(dir, { addresses: [...ADDRESSES, "192.168.1.7"] });
  assert.equal(renewed.created, true);
  assert.equal(renewed.reason, "addresses changed: 192.168.1.7 is new");
  assert.notEqual(renewed.fingerprint256, first.fingerprint256);
  assert.deepEqual(altNames(new X509Certificate(renewed.cert)).ip, [...ADDRESSES, "192.168.1.7"].map(canonicalIp));
  assert.equal(readFileSync(path.join(dir, "cert.pem"), "utf8"), renewed.cert, "and it is kept");
  assert.equal((await make(dir, { addresses: [...ADDRESSES, "192.168.1.7"] })).created, false);

  const two = await make(dir, { addresses: ["10.1.1.1", "fd00::1:2"] });
  assert.equal(two.reason, "addresses changed: 10.1.1.1 and fd00::1:2 are new");
});

test("a new hostname makes a new certificate; with new addresses too, the reason names both", async (t) => {
  const dir = configDir(t);
  await make(dir);
  const renewed = await make(dir, { hostnames: [...NAMES, "box.example.com"] });
  assert.equal(renewed.created, true);
  assert.equal(renewed.reason, "names changed: box.example.com is new");
  const both = await make(dir, { hostnames: ["localhost", "other.local"], addresses: ["10.2.2.2"] });
  assert.equal(both.reason, "names changed: other.local is new; addresses changed: 10.2.2.2 is new");
});

test("fewer than 30 days left makes a new certificate, valid from then", async (t) => {
  const dir = configDir(t);
  const start = new Date("2030-01-15T12:00:00Z");
  const first = await make(dir, { now: start });
  const laterButFine = new Date(first.validTo.getTime() - 31 * DAY_MS);
  assert.equal((await make(dir, { now: laterButFine })).created, false, "31 days left: kept");
  const late = new Date(first.validTo.getTime() - 29 * DAY_MS);
  const renewed = await make(dir, { now: late });
  assert.equal(renewed.created, true);
  assert.equal(renewed.reason, "it expires in 29 days");
  assert.ok(new Date(new X509Certificate(renewed.cert).validFrom).getTime() <= late.getTime());
  assert.ok(renewed.validTo.getTime() > late.getTime() + 396 * DAY_MS);
  const expired = await make(dir, { now: new Date(renewed.validTo.getTime() + DAY_MS) });
  assert.equal(expired.reason, "it has expired");
  const clockBack = await make(dir, { now: start });
  assert.equal(clockBack.reason, "it is not valid yet (was the clock turned back?)");
});

test("RFC 5280's 2050 rule: UTCTime until 2049, GeneralizedTime from 2050", async (t) => {
  const dir = configDir(t);
  const made = await make(dir, { now: new Date("2049-12-01T00:00:00Z") });
  const asn1 = openssl(["asn1parse", "-in", path.join(dir, "cert.pem")]);
  assert.match(asn1, /UTCTIME\s*:491130230000Z/, "notBefore, an hour back");
  assert.match(asn1, /GENERALIZEDTIME\s*:20510101225959Z/, "notAfter, 397 days on counting both ends");
  assert.equal(made.validTo.toISOString(), "2051-01-01T22:59:59.000Z");
  assert.equal(new Date(new X509Certificate(made.cert).validTo).toISOString(), "2051-01-01T22:59:59.000Z");
});

test("a corrupt certificate, a missing key or a corrupt key is replaced, and the reason says which", async (t) => {
  const dir = configDir(t);
  await make(dir);
  writeFileSync(path.join(dir, "cert.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 DER\n-----END CERTIFICATE-----\n");
  const afterCert = await make(dir);
  assert.equal(afterCert.created, true);
  assert.equal(afterCert.reason, "cert.pem does not parse");

  rmSync(path.join(dir, "key.pem"));
  assert.equal((await make(dir)).reason, "key.pem is missing");

  writeFileSync(path.join(dir, "key.pem"), "", { mode: 0o600 });
  const afterKey = await make(dir);
  assert.equal(afterKey.reason, "key.pem does not parse");
  assert.ok(new X509Certificate(afterKey.cert).checkPrivateKey(createPrivateKey(afterKey.key)));
});

test("a key that does not match the certificate is replaced", async (t) => {
  const dir = configDir(t);
  const first = await make(dir);
  const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" });
  writeFileSync(path.join(dir, "key.pem"), other, { mode: 0o600 });
  const renewed = await make(dir);
  assert.equal(renewed.created, true);
  assert.equal(renewed.reason, "key.pem does not match cert.pem");
  assert.notEqual(renewed.fingerprint256, first.fingerprint256);
  assert.equal(readFileSync(path.join(dir, "key.pem"), "utf8"), renewed.key);
});

test("a key that is not ECDSA P-256, or that other users could read, is replaced", { skip: process.platform === "win32" && "POSIX file modes" }, async (t) => {
  const dir = configDir(t);
  await make(dir);
  chmodSync(path.join(dir, "key.pem"), 0o644);
  const renewed = await make(dir);
  assert.equal(renewed.reason, "key.pem was readable by other users");
  assert.equal(statSync(path.join(dir, "key.pem")).mode & 0o777, 0o600);

  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" });
  writeFileSync(path.join(dir, "key.pem"), rsa, { mode: 0o600 });
  assert.equal((await make(dir)).reason, "key.pem is not an ECDSA P-256 key");
});

test("XDG_CONFIG_HOME is honoured; without it, or when it is relative, ~/.config is used", async (t) => {
  const saved = { XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME, HOME: process.env.HOME };
  t.after(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  const xdg = tempDir(t), home = tempDir(t);
  process.env.HOME = home; // os.homedir() reads HOME first on POSIX
  process.env.XDG_CONFIG_HOME = xdg;
  const fromXdg = await selfSignedCertificate({ hostnames: NAMES, addresses: ADDRESSES });
  assert.equal(fromXdg.path, path.join(xdg, "serve-here"));
  assert.ok(existsSync(path.join(xdg, "serve-here", "key.pem")));

  process.env.XDG_CONFIG_HOME = "relative/config";
  const fromHome = await selfSignedCertificate({ hostnames: NAMES, addresses: ADDRESSES });
  assert.equal(fromHome.path, path.join(os.homedir(), ".config", "serve-here"));
  delete process.env.XDG_CONFIG_HOME;
  const unset = await selfSignedCertificate({ hostnames: NAMES, addresses: ADDRESSES });
  assert.equal(unset.path, fromHome.path);
  assert.equal(unset.created, false, "the same folder, so the same certificate");
  if (process.platform !== "win32") assert.equal(fromHome.path.startsWith(home), true);
});

test("a config folder inside the served folder is refused, also through a symlink; a sibling is not inside", async (t) => {
  const base = tempDir(t);
  const root = path.join(base, "site");
  mkdirSync(root);
  const refusal = /refusing to keep the TLS key in .*: it is inside the served folder/;
  await assert.rejects(selfSignedCertificate({ configDir: path.join(root, ".config", "serve-here"), servedRoot: root, hostnames: NAMES, addresses: ADDRESSES }), refusal);
  await assert.rejects(selfSignedCertificate({ configDir: root, servedRoot: root, hostnames: NAMES, addresses: ADDRESSES }), refusal, "the served folder itself");
  symlinkSync(root, path.join(base, "link"));
  await assert.rejects(selfSignedCertificate({ configDir: path.join(base, "link", "serve-here"), servedRoot: root, hostnames: NAMES, addresses: ADDRESSES }), refusal);
  await assert.rejects(selfSignedCertificate({ configDir: path.join(root, "x"), servedRoot: path.join(base, "link"), hostnames: NAMES, addresses: ADDRESSES }), refusal, "the root given through a link");
  assert.deepEqual(readdirSync(root), [], "nothing was written");

  const sibling = await selfSignedCertificate({ configDir: path.join(base, "site-config"), servedRoot: root, hostnames: NAMES, addresses: ADDRESSES });
  assert.equal(sibling.created, true, "site-config is beside site, not inside it");
});

test("by default it names localhost, the hostname, hostname.local, loopback and every network address of this machine", async (t) => {
  const made = await selfSignedCertificate({ configDir: configDir(t) });
  const { dns, ip } = altNames(new X509Certificate(made.cert));
  const hostname = os.hostname().toLowerCase();
  assert.equal(dns[0], "localhost");
  if (/^[a-z0-9.-]+$/.test(hostname)) {
    assert.ok(dns.includes(hostname), `${hostname} in ${dns}`);
    assert.ok(dns.includes(hostname.endsWith(".local") ? hostname : `${hostname.split(".")[0]}.local`), `mDNS name in ${dns}`);
  }
  const network = rankNetworkAddresses(os.networkInterfaces(), false).map((a) => canonicalIp(a.address));
  assert.deepEqual(ip, ["127.0.0.1", "::1", ...network], "loopback, then what the banner shows");
  assert.ok(!ip.some((a) => /^(169\.254\.|fe[89ab])/i.test(a)), "no link-local address");
  assert.equal((await selfSignedCertificate({ configDir: made.path })).created, false, "and the machine's own certificate is reused");
});

test("names a certificate cannot hold are left out; internationalised names are written as xn--", async (t) => {
  const made = await make(configDir(t), { hostnames: ["localhost", "MY_PC", "a b", "", "Bücher.local", "box.", "-bad.local", "10.0.0.1"], addresses: ["127.0.0.1", "not an address", "fe80::1%eth0", "127.0.0.1"] });
  const { dns, ip } = altNames(new X509Certificate(made.cert));
  assert.deepEqual(dns, ["localhost", "xn--bcher-kva.local", "box"]);
  assert.deepEqual(ip, ["127.0.0.1", "fe80::1"], "a zone is dropped, duplicates are not repeated");
});

test("ipBytes writes addresses in network order, as a certificate's iPAddress holds them", () => {
  const cases: Array<[string, string | undefined]> = [
    ["127.0.0.1", "7f000001"],
    ["192.168.1.255", "c0a801ff"],
    ["::1", "00000000000000000000000000000001"],
    ["::", "00000000000000000000000000000000"],
    ["fd00::2", "fd000000000000000000000000000002"],
    ["2001:db8:0:0:1::ff", "20010db80000000000010000000000ff"],
    ["2001:db8::", "20010db8000000000000000000000000"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["64:ff9b::1.2.3.4", "0064ff9b000000000000000001020304"],
    ["FE80::ABCD", "fe80000000000000000000000000abcd"],
    ["1.2.3", undefined],
    ["::g", undefined],
    ["localhost", undefined],
  ];
  for (const [address, hex] of cases) assert.equal(ipBytes(address)?.toString("hex"), hex, address);
});
