/**
 * The banner's addresses and its QR code: which interfaces come first and which are labelled (on
 * made-up interface tables), and the QR code the real binary prints, decoded with zbarimg.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import os, { type NetworkInterfaceInfo } from "node:os";
import { test, type TestContext } from "node:test";
import { networkLines, qrUrl, uploadLines } from "../src/banner.js";
import { rankNetworkAddresses } from "../src/network.js";
import { qrMatrix, renderHalfBlocks } from "../src/qr.js";
import { BIN, decodeQr, eventually, halfBlocksToModules, modulesToPbm, runCli, startCli, tempDir } from "./helpers.js";

function v4(address: string, internal = false): NetworkInterfaceInfo {
  return { address, family: "IPv4", internal, netmask: "255.255.255.0", mac: "00:00:00:00:00:00", cidr: `${address}/24` };
}
function v6(address: string, internal = false): NetworkInterfaceInfo {
  return { address, family: "IPv6", internal, netmask: "ffff:ffff:ffff:ffff::", mac: "00:00:00:00:00:00", cidr: `${address}/64`, scopeid: 0 };
}

/** A Linux laptop with Docker, a VM bridge and Tailscale, interfaces in the kernel's order. */
const LAPTOP: Record<string, NetworkInterfaceInfo[]> = {
  lo: [v4("127.0.0.1", true), v6("::1", true)],
  docker0: [v4("172.17.0.1"), v6("fe80::42:1ff:fe2a:1")],
  eth0: [v4("10.0.0.5"), v6("2001:db8::5"), v6("fe80::1")],
  "veth12ab34": [v6("fe80::ac:1")],
  "br-5f2e1a": [v4("172.18.0.1")],
  virbr0: [v4("192.168.122.1")],
  wlp2s0: [v4("192.168.1.23"), v4("169.254.10.10")],
  tailscale0: [v4("100.101.102.103"), v6("fd7a:115c:a1e0::1")],
  bond0: [v4("10.9.9.9")],
};

test("physical interfaces come first, then unknown ones, then virtual ones; IPv4 before IPv6 in each", () => {
  const ranked = rankNetworkAddresses(LAPTOP, false);
  assert.deepEqual(
    ranked.map((a) => `${a.interfaceName} ${a.address}`),
    ["eth0 10.0.0.5", "wlp2s0 192.168.1.23", "eth0 2001:db8::5", "bond0 10.9.9.9", "docker0 172.17.0.1", "br-5f2e1a 172.18.0.1", "virbr0 192.168.122.1", "tailscale0 100.101.102.103", "tailscale0 fd7a:115c:a1e0::1"],
  );
  assert.deepEqual(ranked.filter((a) => a.virtual).map((a) => a.interfaceName), ["docker0", "br-5f2e1a", "virbr0", "tailscale0", "tailscale0"]);
});

test("loopback, IPv4 link-local (169.254/16) and IPv6 link-local (fe80::/10) addresses are left out", () => {
  const addresses = rankNetworkAddresses(LAPTOP, false).map((a) => a.address);
  for (const hidden of ["127.0.0.1", "::1", "169.254.10.10", "fe80::1", "fe80::42:1ff:fe2a:1", "fe80::ac:1"]) assert.ok(!addresses.includes(hidden), hidden);
});

test("bound to 0.0.0.0, only IPv4 addresses are listed", () => {
  const ranked = rankNetworkAddresses(LAPTOP, true);
  assert.ok(ranked.length > 0);
  assert.ok(ranked.every((a) => a.family === "IPv4"));
  assert.equal(ranked[0]!.address, "10.0.0.5");
});

test("macOS and Windows names: en0 and Wi-Fi are physical; utun, bridge100, vmnet, vboxnet and vEthernet are virtual", () => {
  const ranked = rankNetworkAddresses(
    {
      utun3: [v4("100.64.0.2")],
      "vEthernet (WSL)": [v4("172.30.16.1")],
      bridge100: [v4("192.168.64.1")],
      vmnet8: [v4("192.168.56.1")],
      vboxnet0: [v4("192.168.59.1")],
      en0: [v4("192.168.1.40")],
      "Wi-Fi": [v4("192.168.1.41")],
      "Ethernet 2": [v4("192.168.1.42")],
    },
    false,
  );
  assert.deepEqual(ranked.map((a) => a.interfaceName), ["en0", "Wi-Fi", "Ethernet 2", "utun3", "vEthernet (WSL)", "bridge100", "vmnet8", "vboxnet0"]);
  assert.deepEqual(ranked.map((a) => a.virtual), [false, false, false, true, true, true, true, true]);
});

test("a machine with only virtual interfaces still lists them; one with none lists nothing", () => {
  assert.deepEqual(rankNetworkAddresses({ docker0: [v4("172.17.0.1")] }, false).map((a) => a.address), ["172.17.0.1"]);
  assert.deepEqual(rankNetworkAddresses({ lo: [v4("127.0.0.1", true)] }, false), []);
  assert.deepEqual(rankNetworkAddresses({ eth0: undefined } as unknown as Record<string, NetworkInterfaceInfo[]>, false), []);
});

test("the banner labels a virtual interface's URL with its name, and no other", () => {
  const lines = networkLines({
    network: [
      { url: "http://10.0.0.5:8000/", interfaceName: "eth0", label: undefined },
      { url: "http://172.17.0.1:8000/", interfaceName: "docker0", label: "docker0" },
    ],
  });
  assert.deepEqual(lines, ["  Network:  http://10.0.0.5:8000/", "  Network:  http://172.17.0.1:8000/  (docker0)"]);
});

test("the banner gives the local URL once, on its first line, and each network URL once", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  // Bound to every interface, as by default: the local URL and any network ones.
  const cli = await startCli(t, [root, "-p", "0", "--no-qr"]);
  await eventually(() => cli.stdout().includes("Press Ctrl+C"), "no whole banner");
  const banner = cli.stdout().slice(0, cli.stdout().indexOf("Press Ctrl+C"));
  const lines = banner.trimEnd().split("\n");
  assert.equal(lines[0], `Serving ${root} at ${cli.url}`);
  const urls = [...banner.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]);
  assert.equal(urls.filter((url) => url === cli.url).length, 1, `the local URL once: ${JSON.stringify(banner)}`);
  assert.equal(new Set(urls).size, urls.length, `no URL twice: ${JSON.stringify(banner)}`);
  assert.doesNotMatch(banner, /Local:/);
  for (const line of lines.slice(1)) assert.match(line, /^ {2}Network: {2}http:\/\/\S+\/( {2}\(.+\))?$/, "every other line is a Network: URL");
});

test("which URL the QR code shows: the first network URL on a terminal, none off it unless --qr, none with --no-qr", () => {
  const all = { url: "http://127.0.0.1:8000/", networkUrls: ["http://10.0.0.5:8000/", "http://172.17.0.1:8000/"], host: undefined };
  const loopback = { url: "http://127.0.0.1:8000/", networkUrls: [], host: "127.0.0.1" };
  const oneAddress = { url: "http://10.0.0.5:8000/", networkUrls: [], host: "10.0.0.5" };
  assert.equal(qrUrl("on-terminal", true, all), "http://10.0.0.5:8000/");
  assert.equal(qrUrl("on-terminal", false, all), null);
  assert.equal(qrUrl("on-terminal", true, loopback), null, "only this machine can connect");
  assert.equal(qrUrl("on-terminal", true, oneAddress), "http://10.0.0.5:8000/", "bound to one network address");
  assert.equal(qrUrl("always", false, all), "http://10.0.0.5:8000/");
  assert.equal(qrUrl("always", false, loopback), "http://127.0.0.1:8000/", "--qr with no network URL: the local one");
  assert.equal(qrUrl("never", true, all), null);
});

test("the half-block rendering decodes to its URL, fits 80 columns for the longest IPv6 URL, and keeps a 4-module quiet zone", () => {
  for (const url of ["http://192.168.1.23:8000/", "http://[2001:db8:85a3:1234:5678:8a2e:370:7334]:65535/"]) {
    const lines = renderHalfBlocks(qrMatrix(url));
    assert.ok(lines.every((line) => [...line].length <= 78), `${url}: at most 78 columns (+2 of indent)`);
    assert.ok(lines.slice(0, 2).every((line) => /^█+$/.test(line)), "two lines = four light module rows on top");
    assert.ok(lines.every((line) => line.startsWith("████") && line.endsWith("████")), "four light module columns each side");
    assert.equal(decodeQr(modulesToPbm(halfBlocksToModules(lines)), "pbm"), url);
  }
});

/** The QR block of a banner: the run of half-block lines. */
function qrBlockOf(stdout: string): string[] {
  return stdout.split("\n").filter((line) => /^ {2}[▀▄█ ]+$/.test(line) && /[▀▄█]/.test(line)).map((line) => line.slice(2));
}

test("--qr prints a QR code of the first network URL, off a terminal, which decodes to that URL", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "-p", "0", "--qr"]);
  await eventually(() => /Press Ctrl\+C/.test(cli.stdout()), "no end of banner");
  const lines = cli.stdout().split("\n");
  const firstNetwork = /Network:\s+(\S+)/.exec(cli.stdout())?.[1];
  const expected = firstNetwork ?? cli.url; // a machine with no network at all: the local URL
  const block = qrBlockOf(cli.stdout());
  assert.ok(block.length > 10, `a QR block: ${cli.stdout()}`);
  assert.ok(lines.findIndex((l) => l.includes("Press Ctrl+C")) > lines.findIndex((l) => l.startsWith("  █")), "the code is above the Ctrl+C line");
  assert.ok(!cli.stdout().includes("\x1b"), "no colour off a terminal");
  assert.equal(decodeQr(modulesToPbm(halfBlocksToModules(block)), "pbm"), expected);
});

test("--qr on a loopback-only bind encodes the local URL", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "-p", "0", "-b", "127.0.0.1", "--qr"]);
  await eventually(() => /Press Ctrl\+C/.test(cli.stdout()), "no end of banner");
  assert.equal(decodeQr(modulesToPbm(halfBlocksToModules(qrBlockOf(cli.stdout()))), "pbm"), cli.url);
});

test("off a terminal without --qr there is no QR code, and --no-qr prints none either", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  for (const args of [[], ["--no-qr"]]) {
    const cli = await startCli(t, [root, "-p", "0", ...args]);
    await eventually(() => /Press Ctrl\+C/.test(cli.stdout()), "no end of banner");
    assert.deepEqual(qrBlockOf(cli.stdout()), [], `${args.join(" ")}: ${cli.stdout()}`);
    assert.ok(!/[▀▄█]/.test(cli.stdout()));
  }
});

test("--qr and --no-qr together are a usage error; so is --allowed-host with a port or beside any", async () => {
  for (const args of [["--qr", "--no-qr"], ["--allowed-host", "example.test:8000"], ["--allowed-host", "any", "--allowed-host", "x.test"], ["--allowed-host", "a b"]]) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, /^serve-here: /, args.join(" "));
  }
});

/** Runs the binary on a pseudo-terminal (`script`) until its banner is out; what the terminal showed. */
async function bannerOnTerminal(t: TestContext, args: string[], env: NodeJS.ProcessEnv, before = ""): Promise<string> {
  const command = before + [process.execPath, BIN, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await closed;
  });
  await eventually(() => out.includes("Press Ctrl+C"), `no banner on the terminal: ${JSON.stringify(out)}`, 10_000);
  child.kill("SIGTERM");
  await closed;
  return out.replace(/\r\n/g, "\n");
}

/** Whether this machine has an address another device could use (the banner then lists it). */
function hasNetworkAddress(): boolean {
  return rankNetworkAddresses(os.networkInterfaces(), false).length > 0;
}

test("on a terminal, bound to all interfaces, the QR code is printed in explicit colours and decodes to the first network URL", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const out = await bannerOnTerminal(t, [root, "-p", "0"], { NO_COLOR: "" });
  const firstNetwork = /Network:\s+(\S+)/.exec(out)?.[1];
  if (!hasNetworkAddress()) {
    assert.ok(!/[▀▄█]/.test(out), "no network, so no QR code on a terminal");
    return;
  }
  const coloured = out.split("\n").filter((line) => line.includes("\x1b[97;40m"));
  assert.ok(coloured.length > 10, `QR lines set white on black: ${JSON.stringify(out)}`);
  assert.ok(coloured.every((line) => line.endsWith("\x1b[0m")), "each line resets its colours before the newline");
  const block = coloured.map((line) => line.replace(/^ {2}/, "").replace(/\x1b\[[0-9;]*m/g, ""));
  assert.equal(decodeQr(modulesToPbm(halfBlocksToModules(block)), "pbm"), firstNetwork);
});

test("on a terminal with NO_COLOR, the QR code is plain characters and still decodes", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const out = await bannerOnTerminal(t, [root, "-p", "0"], { NO_COLOR: "1" });
  if (!hasNetworkAddress()) return assert.ok(!/[▀▄█]/.test(out));
  assert.ok(!out.includes("\x1b"), "no escape at all");
  const firstNetwork = /Network:\s+(\S+)/.exec(out)?.[1];
  assert.equal(decodeQr(modulesToPbm(halfBlocksToModules(qrBlockOf(out))), "pbm"), firstNetwork);
});

test("on a terminal with --no-qr, or bound to 127.0.0.1, there is no QR code", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  for (const args of [["-p", "0", "--no-qr"], ["-p", "0", "-b", "127.0.0.1"]]) {
    const out = await bannerOnTerminal(t, [root, ...args], { NO_COLOR: "" });
    assert.ok(!/[▀▄█]/.test(out), `${args.join(" ")}: ${JSON.stringify(out)}`);
  }
});

test("the real banner lists this machine's network URLs in ranked order, virtual ones labelled", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const cli = await startCli(t, [root, "-p", "0"]);
  await eventually(() => /Press Ctrl\+C/.test(cli.stdout()), "no end of banner");
  const shown = cli.stdout().split("\n").filter((line) => line.startsWith("  Network:"));
  const expected = rankNetworkAddresses(os.networkInterfaces(), false).map((a) => {
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `  Network:  http://${host}:${cli.port}/${a.virtual ? `  (${a.interfaceName})` : ""}`;
  });
  assert.deepEqual(shown, expected);
});

test("on a terminal too narrow for the code, it is left out by default (a wrapped code scans as nothing), and printed with --qr", async (t) => {
  if (!hasNetworkAddress()) return;
  const root = tempDir(t, { "a.txt": "a" });
  // `stty cols 20` before the server starts: the pseudo-terminal then says it is 20 columns wide.
  const narrow = await bannerOnTerminal(t, [root, "-p", "0"], { NO_COLOR: "1" }, "stty cols 20; ");
  assert.ok(/Network:/.test(narrow) && !/[▀▄█]/.test(narrow), JSON.stringify(narrow));
  const forced = await bannerOnTerminal(t, [root, "-p", "0", "--qr"], { NO_COLOR: "1" }, "stty cols 20; ");
  assert.ok(/[▀▄█]/.test(forced), "--qr prints it anyway");
});

test("with uploads, the banner says which kind of share it is: a drop box, or a drive to mount at the given URL", () => {
  assert.deepEqual(uploadLines("./share", {}, "http://192.168.1.23:8000/"), [
    "  Uploads: on (into ./share), a drop box",
    "    files and folders can be added, never replaced or deleted (--overwrite to edit)",
  ]);
  assert.deepEqual(uploadLines("./share", { overwrite: true }, "http://192.168.1.23:8000/"), [
    "  Uploads: on (into ./share), a drive you can edit",
    "    mount it as a drive (WebDAV): http://192.168.1.23:8000/",
  ]);
  assert.deepEqual(uploadLines(".", { overwrite: false, maxUploadBytes: 1024 }, "http://127.0.0.1:8000/")[0], "  Uploads: on (into .), a drop box, at most 1024 bytes per request");
  assert.deepEqual(uploadLines(".", { overwrite: true, maxUploadBytes: 1024 }, "https://[fd00::2]:8443/")[0], "  Uploads: on (into .), a drive you can edit, at most 1024 bytes per request");
  for (const overwrite of [false, true]) {
    const [, kind] = uploadLines("./share", { overwrite }, "http://192.168.100.200:8000/");
    assert.ok(kind!.length <= 88, `the second line fits a common terminal: ${kind}`);
  }
});

test("the real banner: --upload alone is a drop box; with --overwrite, a drive whose mount URL is the one other devices use", async (t) => {
  const root = tempDir(t, { "a.txt": "a" });
  const dropBox = await startCli(t, [root, "--upload", "-p", "0", "-b", "127.0.0.1", "-q"]);
  await eventually(() => /Press Ctrl\+C/.test(dropBox.stdout()), "no end of banner");
  const lines = dropBox.stdout().split("\n");
  const at = lines.indexOf(`  Uploads: on (into ${root}), a drop box`);
  assert.ok(at > 0, dropBox.stdout());
  assert.equal(lines[at + 1], "    files and folders can be added, never replaced or deleted (--overwrite to edit)");
  assert.doesNotMatch(dropBox.stdout(), /mount/, "a drop box offers no mount URL: Finder and Explorer replace the empty file they make first");

  const local = await startCli(t, [root, "--upload", "--overwrite", "-p", "0", "-b", "127.0.0.1", "-q"]);
  await eventually(() => /Press Ctrl\+C/.test(local.stdout()), "no end of banner");
  assert.match(local.stdout(), new RegExp(`^  Uploads: on \\(into .+\\), a drive you can edit\n    mount it as a drive \\(WebDAV\\): http://127\\.0\\.0\\.1:${local.port}/$`, "m"), "bound to loopback: the local URL");

  const everywhere = await startCli(t, [root, "--upload", "--overwrite", "--max-upload", "1K", "-p", "0", "-q", "--no-qr"]);
  await eventually(() => /Press Ctrl\+C/.test(everywhere.stdout()), "no end of banner");
  const first = /^  Network:  (\S+)/m.exec(everywhere.stdout())?.[1] ?? `http://127.0.0.1:${everywhere.port}/`;
  assert.match(everywhere.stdout(), /a drive you can edit, at most 1024 bytes per request\n/);
  assert.ok(everywhere.stdout().includes(`    mount it as a drive (WebDAV): ${first}\n`), `the first Network URL, or the local one without any: ${everywhere.stdout()}`);
});
