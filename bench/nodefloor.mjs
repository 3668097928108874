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
// --h2 --cert FILE --key FILE: HTTP/2 over TLS instead (the H group, bench/h2.sh): node:http2's secure
// server on its stream API only (`stream.respond()` then `stream.end(body)`; no compatibility
// request/response objects, no HTTP/1), the same headers in lower case, files up to 64 MiB kept in
// memory (H2 sends the 64 MiB one from there). With --fresh it is the "h2 fresh floor": one lstat per
// request, the body from memory, nothing else. Same streams per session as serve-here (100).
// HTTP/2 only: it has no HTTP/1.1 figure in H3.
//
//   node bench/nodefloor.mjs ROOT PORT HOST [--fresh] [--workers N] [--h2 --cert FILE --key FILE]
import cluster from 'node:cluster';
import http from 'node:http';
import http2 from 'node:http2';
import fs from 'node:fs';
import path from 'node:path';

const [root, port = '8000', host = '127.0.0.1', ...flags] = process.argv.slice(2);
const fresh = flags.includes('--fresh');
const workers = flags.includes('--workers') ? Number(flags[flags.indexOf('--workers') + 1]) : 1;
const h2 = flags.includes('--h2');
const option = (name) => (flags.includes(name) ? flags[flags.indexOf(name) + 1] : undefined);
const maxSize = (h2 ? 64 : 1) * 1024 * 1024;
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
    const ok = ['Content-Type', type, 'Content-Length', String(data.length), ...common];
    return { path: Buffer.from(full), size: stats.size, mtimeMs: stats.mtimeMs, data, etag, ok, notModified: common,
      h2ok: h2Headers(200, ok), h2NotModified: h2Headers(304, common) };
  }

  /** The same header list as an HTTP/2 header object: `:status` and lower-case names. */
  function h2Headers(status, list) {
    const headers = { ':status': status };
    for (let i = 0; i < list.length; i += 2) headers[list[i].toLowerCase()] = list[i + 1];
    return headers;
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
      if (!entry.isFile() || stats.size > maxSize) continue;
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

  if (h2) return serveH2();

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

  // --h2: the stream API only. Each stream: its path, the lstat (--fresh), respond() and end().
  function serveH2() {
    const h2NotFound = h2Headers(404, notFoundHeaders);
    // maxSessionMemory (MiB): whole bodies go into the session's queue at once (H3: 100 × 1 MiB), past
    // node:http2's default of 10, which would refuse new streams with ENHANCE_YOUR_CALM.
    const server = http2.createSecureServer({ cert: fs.readFileSync(option('--cert')), key: fs.readFileSync(option('--key')),
      settings: { maxConcurrentStreams: 100 }, maxSessionMemory: 1024 });
    const ignore = () => {};
    server.on('sessionError', ignore);
    server.on('stream', (stream, headers) => {
      stream.on('error', ignore); // a client's reset must not end the floor
      const url = headers[':path'];
      const q = url.indexOf('?');
      const key = q === -1 ? url : url.slice(0, q);
      const head = headers[':method'] === 'HEAD';
      let file = files.get(key);
      if (fresh && file) file = current(key, file);
      if (!file) {
        const folder = fresh ? folders.get(key) : undefined;
        if (folder) { const page = currentListing(folder); stream.respond(h2Headers(200, page.headers)); return stream.end(head ? undefined : page.data); }
        if (fresh) { try { fs.lstatSync(path.join(root, decodeURIComponent(key)), NOT_EXISTING); } catch {} }
        stream.respond(h2NotFound); return stream.end(notFound);
      }
      if (headers['if-none-match'] === file.etag) return stream.respond(file.h2NotModified, { endStream: true });
      stream.respond(file.h2ok);
      stream.end(head ? undefined : file.data);
    });
    server.listen(Number(port), host);
  }
}
