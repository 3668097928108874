#!/usr/bin/env node
// The node floor, for the benchmark only: bare node:http answering from memory. Every file under ROOT
// (up to 1 MiB) is read once at start-up and its headers built once; then 200, 304 on a matching
// If-None-Match, 404 otherwise. No freshness, no listing, no safety checks: nothing a real server may
// skip. serve-here's figure divided by this one's says how much of Node's own ceiling it keeps; nginx's
// divided by it, what Node itself costs. (From the shared peer harness, ../shared/bench/nodefloor.mjs.)
//   node bench/nodefloor.mjs ROOT PORT HOST
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const [root, port = '8000', host = '127.0.0.1'] = process.argv.slice(2);
const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json' };
const files = new Map();
(function walk(dir, prefix) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) { if (files.size < 5000) walk(full, prefix + entry.name + '/'); continue; }
    if (!entry.isFile()) continue;
    const stats = fs.statSync(full);
    if (stats.size > 1024 * 1024) continue;
    const data = fs.readFileSync(full);
    const etag = `"${stats.ino.toString(36)}-${stats.size.toString(36)}-${Math.floor(stats.mtimeMs).toString(36)}"`;
    const common = ['ETag', etag, 'Last-Modified', stats.mtime.toUTCString(), 'Cache-Control', 'no-cache', 'Accept-Ranges', 'bytes', 'X-Content-Type-Options', 'nosniff'];
    const type = TYPES[path.extname(entry.name)] ?? 'application/octet-stream';
    files.set(encodeURI(prefix + entry.name), { data, etag, ok: ['Content-Type', type, 'Content-Length', String(data.length), ...common], notModified: common });
  }
})(root, '/');
const notFound = Buffer.from('<!DOCTYPE html><title>404 Not Found</title><h1>404 Not Found</h1>\n');
const notFoundHeaders = ['Content-Type', 'text/html; charset=utf-8', 'Content-Length', String(notFound.length)];
http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const file = files.get(q === -1 ? req.url : req.url.slice(0, q));
  if (!file) { res.writeHead(404, notFoundHeaders); return res.end(notFound); }
  if (req.headers['if-none-match'] === file.etag) { res.writeHead(304, file.notModified); return res.end(); }
  res.writeHead(200, file.ok);
  res.end(req.method === 'HEAD' ? undefined : file.data);
}).listen(Number(port), host);
