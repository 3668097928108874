#!/usr/bin/env node
// The node floor, for the benchmark only: bare node:http answering from memory. Every file under ROOT
// (up to 1 MiB) is read once at start-up and its headers built once; then 200, 304 on a matching
// If-None-Match, 404 otherwise. No freshness, no listing, no safety checks: nothing a real server may
// skip. serve-here's figure divided by this one's says how much of Node's own ceiling it keeps; nginx's
// divided by it, what Node itself costs. (From the shared peer harness, ../shared/bench/nodefloor.mjs.)
//
// --fresh: the least a server that is never stale must add, and nothing else: one lstat of the file
// per request (a changed file is read again), one of the path for a 404, and for a folder (`/many/`)
// one lstat per entry before a page made at start-up is sent. On Node 20 each lstat is a statx and a
// Stats with four Dates. So "serve-here ÷ fresh floor" is what serve-here's own code costs, and
// "fresh floor ÷ nginx" the most any Node server that checks the disk can reach on this machine.
//
// --workers N: the same in N node:cluster workers sharing the port (the W1 scenario, bench/workers.sh).
//
//   node bench/nodefloor.mjs ROOT PORT HOST [--fresh] [--workers N]
import cluster from 'node:cluster';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const [root, port = '8000', host = '127.0.0.1', ...flags] = process.argv.slice(2);
const fresh = flags.includes('--fresh');
const workers = flags.includes('--workers') ? Number(flags[flags.indexOf('--workers') + 1]) : 1;
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
} else {
  serve();
}

function serve() {
  const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json' };
  const files = new Map();
  const folders = new Map();
  const NOT_EXISTING = { throwIfNoEntry: false };

  function snapshot(full, stats) {
    const data = fs.readFileSync(full);
    const etag = `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${Math.floor(stats.mtimeMs).toString(36)}"`;
    const common = ['ETag', etag, 'Last-Modified', stats.mtime.toUTCString(), 'Cache-Control', 'no-cache', 'Accept-Ranges', 'bytes', 'X-Content-Type-Options', 'nosniff'];
    const type = TYPES[path.extname(full)] ?? 'application/octet-stream';
    return { path: Buffer.from(full), size: stats.size, mtimeMs: stats.mtimeMs, data, etag, ok: ['Content-Type', type, 'Content-Length', String(data.length), ...common], notModified: common };
  }

  function listingPage(entries) {
    const rows = entries.map((e) => `<tr><td><a href="${encodeURIComponent(e.name)}">${e.name.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}</a></td><td>${e.size}</td><td>${new Date(e.mtimeMs).toUTCString()}</td></tr>`);
    const data = Buffer.from(`<!DOCTYPE html><title>Index</title><table>${rows.join('\n')}</table>\n`);
    return { data, headers: ['Content-Type', 'text/html; charset=utf-8', 'Content-Length', String(data.length), 'Cache-Control', 'no-cache'] };
  }

  (function walk(dir, prefix) {
    const entries = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const stats = fs.lstatSync(full);
      entries.push({ name: entry.name, path: Buffer.from(full), size: stats.size, mtimeMs: stats.mtimeMs });
      if (entry.isDirectory()) { if (files.size < 5000) walk(full, prefix + entry.name + '/'); continue; }
      if (!entry.isFile() || stats.size > 1024 * 1024) continue;
      files.set(encodeURI(prefix + entry.name), snapshot(full, stats));
    }
    folders.set(encodeURI(prefix), { entries, page: listingPage(entries) });
  })(root, '/');

  const notFound = Buffer.from('<!DOCTYPE html><title>404 Not Found</title><h1>404 Not Found</h1>\n');
  const notFoundHeaders = ['Content-Type', 'text/html; charset=utf-8', 'Content-Length', String(notFound.length)];

  /** --fresh: the file as it is now, read again if its stat changed; undefined when it is gone. */
  function current(key, file) {
    const stats = fs.lstatSync(file.path, NOT_EXISTING);
    if (stats === undefined || !stats.isFile()) return undefined;
    if (stats.size === file.size && stats.mtimeMs === file.mtimeMs) return file;
    const again = snapshot(file.path.toString(), stats);
    files.set(key, again);
    return again;
  }

  /** --fresh: a folder's page after an lstat of every entry, made again when one changed. */
  function currentListing(folder) {
    let changed = false;
    for (const e of folder.entries) {
      const stats = fs.lstatSync(e.path, NOT_EXISTING);
      const size = stats?.size ?? -1, mtimeMs = stats?.mtimeMs ?? -1;
      if (size !== e.size || mtimeMs !== e.mtimeMs) { e.size = size; e.mtimeMs = mtimeMs; changed = true; }
    }
    if (changed) folder.page = listingPage(folder.entries);
    return folder.page;
  }

  http.createServer((req, res) => {
    const q = req.url.indexOf('?');
    const key = q === -1 ? req.url : req.url.slice(0, q);
    let file = files.get(key);
    if (fresh && file) file = current(key, file);
    if (!file) {
      const folder = fresh ? folders.get(key) : undefined;
      if (folder) { const page = currentListing(folder); res.writeHead(200, page.headers); return res.end(req.method === 'HEAD' ? undefined : page.data); }
      if (fresh) { try { fs.lstatSync(path.join(root, decodeURIComponent(key)), NOT_EXISTING); } catch {} }
      res.writeHead(404, notFoundHeaders); return res.end(notFound);
    }
    if (req.headers['if-none-match'] === file.etag) { res.writeHead(304, file.notModified); return res.end(); }
    res.writeHead(200, file.ok);
    res.end(req.method === 'HEAD' ? undefined : file.data);
  }).listen(Number(port), host);
}
