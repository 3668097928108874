// `npm pack` and `npm publish`: the package.json inside the tarball has no `prepare` script.
//
// `prepare` builds dist/ when a clone runs `npm install`. The tarball already holds dist/, so an
// install of it has nothing to build, and npm never runs a tarball's or a registry package's
// `prepare`; but npm 11 lists a `prepare` found in a tarball install (`npm install -g ./x.tgz`) as
// an install script awaiting approval (allowScripts) and warns. So it is left out of what is
// packed: `prepack` (node scripts/pack-manifest.mjs strip) writes package.json without it and keeps
// the original beside it; `postpack` (… restore) puts the original back. A pack that failed before
// its postpack is mended by the next one, which starts from the kept original.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const MANIFEST = "package.json";
const KEPT = ".package.json.unpacked";

const mode = process.argv[2];
if (mode === "strip") {
  if (existsSync(KEPT)) renameSync(KEPT, MANIFEST);
  const text = readFileSync(MANIFEST, "utf8");
  const manifest = JSON.parse(text);
  writeFileSync(KEPT, text);
  delete manifest.scripts.prepare;
  writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2) + "\n");
} else if (mode === "restore") {
  if (existsSync(KEPT)) renameSync(KEPT, MANIFEST);
} else {
  process.stderr.write("usage: node scripts/pack-manifest.mjs strip|restore\n");
  process.exitCode = 2;
}
