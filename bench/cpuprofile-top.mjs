#!/usr/bin/env node
// Top self-time functions of a V8 .cpuprofile (as written by `node --cpu-prof`).
//
// Usage: node bench/cpuprofile-top.mjs FILE.cpuprofile [--top 25]
//
// Nodes are grouped by callFrame functionName + url + line, so the same function reached through
// different call paths counts once. Self time comes from the sample timestamps (timeDeltas), not from
// hitCount × a nominal interval. "% all" is a share of the whole profile; "% busy" leaves out (idle),
// the time the event loop waited for work, which is the share that matters under load.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
const topIndex = args.indexOf("--top");
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
if (!file) {
  console.error("usage: cpuprofile-top.mjs FILE.cpuprofile [--top N]");
  process.exit(2);
}

/** @type {{nodes: {id: number, callFrame: {functionName: string, url: string, lineNumber: number}}[], samples: number[], timeDeltas: number[], startTime: number, endTime: number}} */
const profile = JSON.parse(readFileSync(file, "utf8"));
const nodeById = new Map(profile.nodes.map((n) => [n.id, n]));

// Sample i lasts from its own timestamp to the next one's (the last one lasts until endTime),
// as Chrome DevTools counts it.
const selfUs = new Map(); // node id -> microseconds
const { samples, timeDeltas } = profile;
let t = profile.startTime;
const stamps = timeDeltas.map((d) => (t += d));
for (let i = 0; i < samples.length; i++) {
  const next = i + 1 < samples.length ? stamps[i + 1] : profile.endTime;
  const us = Math.max(0, next - stamps[i]);
  selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + us);
}

const cwdUrl = pathToFileURL(process.cwd()).href + "/";
const groups = new Map(); // key -> {name, where, us}
let totalUs = 0;
let idleUs = 0;
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = nodeById.get(id).callFrame;
  const name = functionName || (url ? "(anonymous)" : "(program)");
  const shortUrl = url.startsWith(cwdUrl) ? url.slice(cwdUrl.length) : url;
  const where = shortUrl ? `${shortUrl}:${lineNumber + 1}` : "";
  const key = `${name}\u0000${url}\u0000${lineNumber}`;
  const g = groups.get(key) ?? { name, where, us: 0 };
  g.us += us;
  groups.set(key, g);
  totalUs += us;
  if (name === "(idle)") idleUs += us;
}

const busyUs = totalUs - idleUs;
const pct = (us, of) => (of > 0 ? ((100 * us) / of).toFixed(1) : "-");
console.log(`${file}`);
console.log(
  `profile ${(totalUs / 1e6).toFixed(2)} s, ${samples.length} samples; idle ${pct(idleUs, totalUs)}%, busy ${(busyUs / 1e6).toFixed(2)} s`,
);
console.log("");
console.log(`${"self ms".padStart(9)} ${"% all".padStart(6)} ${"% busy".padStart(6)}  function  (file:line)`);
const rows = [...groups.values()].sort((a, b) => b.us - a.us).slice(0, top);
for (const g of rows) {
  const busy = g.name === "(idle)" ? "" : pct(g.us, busyUs);
  console.log(
    `${(g.us / 1000).toFixed(1).padStart(9)} ${pct(g.us, totalUs).padStart(6)} ${busy.padStart(6)}  ${g.name}${g.where ? `  (${g.where})` : ""}`,
  );
}
