/**
 * The one way the browser tests start Chromium: Debian's (`apt-get install chromium`, as `.ci/run`
 * does), or the one named by CHROMIUM, driven by playwright-core. A missing browser fails the test
 * with the fix, never skips it.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** `extraArgs`: more command-line switches, e.g. `--ignore-certificate-errors` for a self-signed certificate. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}
