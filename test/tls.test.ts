/**
 * HTTPS from the command line: `--tls-cert`/`--tls-key` and `--tls-self-signed`, their usage
 * errors, and what the banner says (https:// URLs, the certificate, the self-signed one's
 * fingerprint and folder, and whether it was just made). The real binary, real files.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import test from "node:test";
import { promisify } from "node:util";
import { selfSignedCertificate } from "../src/cert.js";
import { runCli, startCli, tempDir } from "./helpers.js";

const run = promisify(execFile);

test("--tls-cert without --tls-key, --tls-key without --tls-cert, and either with --tls-self-signed are usage errors", async () => {
  for (const args of [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"], ["--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"], ["--tls-self-signed", "--tls-key", "k.pem"]]) {
    const result = await runCli(args);
    assert.equal(result.code, 2, args.join(" "));
    assert.match(result.stderr, /--tls-/);
    assert.equal(result.stdout, "");
  }
});

test("a --tls-cert file that is missing, or not a certificate, is an error that names it", async (t) => {
  const dir = tempDir(t, { "junk.pem": "not a certificate" });
  const missing = await runCli(["--tls-cert", path.join(dir, "nope.pem"), "--tls-key", path.join(dir, "junk.pem")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--tls-cert .*nope\.pem: no such file/);
  const junk = await runCli(["--tls-cert", path.join(dir, "junk.pem"), "--tls-key", path.join(dir, "junk.pem")]);
  assert.equal(junk.code, 1);
  assert.match(junk.stderr, /junk\.pem: not a PEM certificate/);
});

test("a key that does not go with the certificate is an error, not a server that fails every handshake", async (t) => {
  const dir = tempDir(t);
  const one = await selfSignedCertificate({ configDir: path.join(dir, "one"), hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  const other = await selfSignedCertificate({ configDir: path.join(dir, "other"), hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  writeFileSync(path.join(dir, "cert.pem"), one.cert);
  writeFileSync(path.join(dir, "key.pem"), other.key);
  const result = await runCli(["-p", "0", "--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot serve HTTPS with --tls-cert/);
});

test("--tls-cert and --tls-key serve HTTPS: the banner shows https:// and no clear-text warning, and curl --http2 gets files", async (t) => {
  const dir = tempDir(t);
  const made = await selfSignedCertificate({ configDir: path.join(dir, "cfg"), hostnames: ["localhost"], addresses: ["127.0.0.1"] });
  writeFileSync(path.join(dir, "cert.pem"), made.cert);
  writeFileSync(path.join(dir, "key.pem"), made.key);
  const root = tempDir(t, { "a.txt": "over https" });
  const cli = await startCli(t, [root, "-p", "0", "--no-qr", "--auth", "ann:pw", "--tls-cert", path.join(dir, "cert.pem"), "--tls-key", path.join(dir, "key.pem")]);
  assert.match(cli.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  assert.match(cli.stdout(), new RegExp(`HTTPS: ${path.join(dir, "cert.pem").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, valid until `));
  assert.doesNotMatch(cli.stdout(), /clear text/);
  assert.doesNotMatch(cli.stdout(), /http:\/\//);
  const { stdout } = await run("curl", ["-sS", "-k", "--http2", "-u", "ann:pw", "-w", " %{http_version}", `${cli.url}a.txt`]);
  assert.equal(stdout, "over https 2");
});

test("--tls-self-signed makes a certificate once, keeps it, and the banner shows its fingerprint, its folder and whether it was just made", async (t) => {
  const config = tempDir(t);
  const root = tempDir(t, { "a.txt": "self-signed" });
  const env = { XDG_CONFIG_HOME: config };
  const first = await startCli(t, [root, "-p", "0", "--no-qr", "--tls-self-signed"], { env });
  const kept = path.join(config, "serve-here");
  const fingerprint = new X509Certificate(readFileSync(path.join(kept, "cert.pem"))).fingerprint256;
  assert.match(first.url, /^https:\/\//);
  assert.match(first.stdout(), new RegExp(`HTTPS: self-signed certificate, just made, kept in ${kept.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  assert.ok(first.stdout().includes(`SHA-256 fingerprint: ${fingerprint}`), first.stdout());
  const { stdout } = await run("curl", ["-sS", "-k", "--http2", "-w", " %{http_version}", `${first.url}a.txt`]);
  assert.equal(stdout, "self-signed 2");
  first.child.kill("SIGTERM");
  await first.exited;

  const second = await startCli(t, [root, "-p", "0", "--no-qr", "--tls-self-signed"], { env });
  assert.match(second.stdout(), /HTTPS: self-signed certificate, made before, kept in /);
  assert.ok(second.stdout().includes(`SHA-256 fingerprint: ${fingerprint}`), "the same certificate, so a phone that trusted it still does");
});

test("--tls-self-signed refuses to keep its key inside the served folder", async (t) => {
  const root = tempDir(t);
  const result = await runCli([root, "-p", "0", "--tls-self-signed"], { env: { XDG_CONFIG_HOME: path.join(root, "config") } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^serve-here: --tls-self-signed: /);
});
