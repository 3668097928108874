/**
 * The package as npm packs it: what an install from the tarball (or the registry) gets. `npm pack`
 * runs in a copy of the checkout's package files, so the checkout's own dist/ is never rebuilt
 * under the other suites.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, readdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { PROJECT_ROOT, tempDir } from "./helpers.js";
import { brokenLinks } from "./markdown-links.js";

/** The lifecycle scripts npm may run, or ask approval for, when a package is installed. */
const INSTALL_SCRIPTS = ["preinstall", "install", "postinstall", "preprepare", "prepare", "postprepare"];

/** The documentation an installed copy should hold: README, licence, security policy and every page of docs/. */
const DOCUMENTATION = ["README.md", "LICENSE", "SECURITY.md", ...readdirSync(path.join(PROJECT_ROOT, "docs")).filter((name) => name.endsWith(".md")).sort().map((name) => `docs/${name}`)];

/** A copy of what `npm pack` needs (sources, manifest, scripts, documentation), with the checkout's node_modules. */
function packableCopy(t: TestContext): string {
  const dir = tempDir(t);
  for (const part of ["package.json", "tsconfig.json", "bin", "src", "scripts", "README.md", "LICENSE", "SECURITY.md", "docs"]) cpSync(path.join(PROJECT_ROOT, part), path.join(dir, part), { recursive: true });
  symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/** Runs `npm pack` in `dir`, as a user would (its prepack and postpack included); the tarball's path and files. */
function npmPack(t: TestContext, dir: string): { tarball: string; files: string[] } {
  const out = tempDir(t);
  const json = execFileSync("npm", ["pack", "--json", "--loglevel=error", "--pack-destination", out], { cwd: dir, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  // Scripts print above the JSON: it is the last top-level array of the output.
  const [packed] = JSON.parse(json.slice(json.lastIndexOf("\n[") + 1)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return { tarball: path.join(out, packed!.filename), files: packed!.files.map((f) => f.path) };
}

function packedManifest(tarball: string): { scripts?: Record<string, string>; version: string } {
  return JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" })) as { scripts?: Record<string, string>; version: string };
}

test("npm pack: the tarball holds the built dist/ and the documentation, and declares no install script, so installing it runs none", { timeout: 120_000 }, (t) => {
  const dir = packableCopy(t);
  const before = readFileSync(path.join(dir, "package.json"));
  const { tarball, files } = npmPack(t, dir);
  for (const file of ["bin/serve-here.js", "dist/src/server.js", "dist/src/cli.js", "package.json"]) assert.ok(files.includes(file), `${file} is packed: ${files.join(", ")}`);
  assert.ok(!files.some((file) => file.startsWith("src/") || file.startsWith("dist/test/") || file.startsWith("scripts/")), "only what runs is packed");
  const unpacked = DOCUMENTATION.filter((file) => !files.includes(file));
  assert.deepEqual(unpacked, [], `documentation missing from the tarball: ${unpacked.join(", ")}`);
  // The links work from an installed copy too: each leads to a file and a heading inside the package.
  const installed = tempDir(t);
  execFileSync("tar", ["-xzf", tarball, "-C", installed]);
  const broken = DOCUMENTATION.filter((file) => file.endsWith(".md")).flatMap((file) => brokenLinks(path.join(installed, "package"), file));
  assert.deepEqual(broken, [], `links that lead nowhere in the installed copy:\n${broken.join("\n")}`);
  const manifest = packedManifest(tarball);
  const declared = INSTALL_SCRIPTS.filter((name) => manifest.scripts?.[name] !== undefined);
  assert.deepEqual(declared, [], "npm 11 asks approval for these (allowScripts) on a tarball install");
  assert.equal(manifest.version, (JSON.parse(before.toString()) as { version: string }).version);
  // The checkout keeps its `prepare`, which builds dist/ when a clone runs `npm install`.
  assert.ok(readFileSync(path.join(dir, "package.json")).equals(before), "package.json is put back byte for byte");
  assert.equal((JSON.parse(before.toString()) as { scripts: Record<string, string> }).scripts.prepare, "npm run build");
  assert.ok(!existsSync(path.join(dir, ".package.json.unpacked")), "nothing is left beside it");
});

test("npm pack after a pack that stopped before its postpack starts from the original package.json", { timeout: 120_000 }, (t) => {
  const dir = packableCopy(t);
  const before = readFileSync(path.join(dir, "package.json"));
  execFileSync(process.execPath, ["scripts/pack-manifest.mjs", "strip"], { cwd: dir }); // prepack ran, postpack never did
  assert.ok(!readFileSync(path.join(dir, "package.json")).equals(before), "stripped");
  const { tarball } = npmPack(t, dir);
  assert.equal(packedManifest(tarball).scripts?.prepare, undefined);
  assert.ok(readFileSync(path.join(dir, "package.json")).equals(before), "package.json is the original again");
});
