#!/usr/bin/env node
// The T group's client (bench/tus.sh): tus-js-client (the dev dependency, 4.3.1) uploading one file
// from disk, and for T2 the TCP proxy that cuts the upload's connection. Prints one line of JSON.
//
//   node bench/tus-upload.mjs upload --file F --endpoint http://127.0.0.1:P/ --name t1.bin [--chunk-size N]
//       T1: the file as tus-js-client sends it by default in Node: `fs.createReadStream(F)` (a
//       ReadStream with a path, so tus-js-client's FileSource reads each request's range from the
//       file with a new ReadStream: the file is never held in memory), `chunkSize` Infinity (one
//       PATCH with the whole file) unless --chunk-size is given.
//   node bench/tus-upload.mjs put --file F --url http://127.0.0.1:P/t1.bin
//       One of T1's kinds: the same file as one plain PUT from node:http, `fs.createReadStream(F)` piped
//       into the request (64 KiB reads, as tus-js-client's): what Node as a client costs, without tus.
//   node bench/tus-upload.mjs cut --file F --server-port P --name t2.bin --cut-at BYTES --cut-mode close|reset
//       T2: the same upload through a proxy on 127.0.0.1 that counts the bytes going client → server
//       (request heads included) and, when the count reaches BYTES, passes the bytes up to it and
//       ends that connection: `close` ends the server's side cleanly after them (FIN; what a client
//       whose Wi-Fi dropped looks like to the server once its TCP session ends) and destroys the
//       client's; `reset` resets both (RST: Linux throws away what the server's socket had received
//       but not yet read). tus-js-client then asks HEAD for the offset and sends the rest.
//
// Output fields (bytes, ms): size, ms (upload.start() to onSuccess), requests [{method, offset,
// status, startMs, sentMs (the request's last byte handed to the kernel), endMs, answeredOffset}],
// rssPeakKiB (this process's VmHWM: the client does not hold the file), and for `cut`: forwarded
// (every byte client → server), beforeCut (what passed before and at the cut), afterCut, cut {…},
// keptOffset (the HEAD after the cut), remainder (size − keptOffset), resent (the file's bytes
// that passed before the cut and were not kept: sent twice).
import { createReadStream, readFileSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { DefaultHttpStack, Upload } from "tus-js-client";

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const opts = { mode };
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i].replace(/^--/, "");
    opts[key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = rest[i + 1];
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
if (!["upload", "cut", "put"].includes(opts.mode) || !opts.file || (opts.mode === "put" ? !opts.url : !opts.name)) {
  process.stderr.write("usage: tus-upload.mjs upload|cut --file F --name N (--endpoint URL | --server-port P --cut-at BYTES --cut-mode close|reset) [--chunk-size N]\n       tus-upload.mjs put --file F --url URL\n");
  process.exit(2);
}
const size = statSync(opts.file).size;
const t0 = performance.now();
const ms = () => Math.round((performance.now() - t0) * 10) / 10;

/** Every request tus-js-client makes, with when its last byte went to the kernel ('finish') and when it was answered. */
const requests = [];
class TimedStack extends DefaultHttpStack {
  createRequest(method, url) {
    const req = super.createRequest(method, url);
    const send = req.send.bind(req);
    req.send = (body) => {
      const entry = { method, offset: req.getHeader("Upload-Offset") === undefined ? null : Number(req.getHeader("Upload-Offset")), startMs: ms() };
      requests.push(entry);
      const answer = send(body);
      req.getUnderlyingObject()?.on("finish", () => void (entry.sentMs = ms()));
      return answer.then(
        (res) => {
          entry.endMs = ms();
          entry.status = res.getStatus();
          const offset = res.getHeader("Upload-Offset");
          if (offset !== undefined) entry.answeredOffset = Number(offset);
          return res;
        },
        (error) => {
          entry.endMs = ms();
          entry.error = String(error?.code ?? error?.message ?? error);
          throw error;
        },
      );
    };
    return req;
  }
}

/** A proxy to the server that counts client → server bytes and cuts one connection at `cutAt`. */
async function cuttingProxy(serverPort, cutAt, mode) {
  const state = { forwarded: 0, cut: null, connections: 0 };
  const sockets = new Set();
  const server = net.createServer((client) => {
    state.connections++;
    const upstream = net.connect(serverPort, "127.0.0.1");
    let connectionBytes = 0;
    sockets.add(client).add(upstream);
    client.on("close", () => sockets.delete(client));
    upstream.on("close", () => sockets.delete(upstream));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    upstream.on("end", () => client.end());
    upstream.pipe(client);
    client.on("end", () => upstream.end());
    client.on("data", (chunk) => {
      if (state.cut === null && state.forwarded + chunk.length >= cutAt) {
        const take = cutAt - state.forwarded;
        state.forwarded = cutAt;
        connectionBytes += take;
        state.cut = { atMs: ms(), connection: state.connections, connectionBytes, mode };
        if (mode === "reset") {
          upstream.write(chunk.subarray(0, take), () => upstream.resetAndDestroy());
          client.resetAndDestroy();
        } else {
          upstream.end(chunk.subarray(0, take));
          client.destroy();
        }
        return;
      }
      state.forwarded += chunk.length;
      connectionBytes += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    state,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function vmHwmKiB() {
  const match = /^VmHWM:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) : null;
}

/** One PUT of the file from node:http: the request's start to the answer's end. */
async function plainPut() {
  const startedAt = ms();
  const entry = { method: "PUT", offset: null, startMs: startedAt };
  requests.push(entry);
  const status = await new Promise((resolve, reject) => {
    const req = http.request(opts.url, { method: "PUT", headers: { "Content-Length": String(size) } });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.on("finish", () => void (entry.sentMs = ms()));
    createReadStream(opts.file).on("error", reject).pipe(req);
  });
  entry.endMs = ms();
  entry.status = status;
  if (status !== 201 && status !== 204) throw new Error(`PUT answered ${status}`);
  process.stdout.write(JSON.stringify({ mode: "put", size, ms: Math.round((entry.endMs - startedAt) * 10) / 10, requests, rssPeakKiB: vmHwmKiB(), node: process.version }) + "\n");
}

async function main() {
  if (opts.mode === "put") return plainPut();
  let proxy = null;
  let endpoint = opts.endpoint;
  if (opts.mode === "cut") {
    const cutMode = opts.cutMode ?? "close";
    if (cutMode === "reset" && typeof net.Socket.prototype.resetAndDestroy !== "function") throw new Error(`no socket.resetAndDestroy in Node ${process.version}`);
    proxy = await cuttingProxy(Number(opts.serverPort), Number(opts.cutAt), cutMode);
    endpoint = `http://127.0.0.1:${proxy.port}/`;
  }
  const chunkSize = opts.chunkSize ? Number(opts.chunkSize) : Number.POSITIVE_INFINITY;
  const startedAt = ms();
  const result = await new Promise((resolve, reject) => {
    const upload = new Upload(createReadStream(opts.file), {
      endpoint,
      uploadSize: size,
      chunkSize,
      metadata: { filename: opts.name },
      retryDelays: (opts.retryDelays ?? "0,50,100,200,500,1000,2000").split(",").map(Number),
      storeFingerprintForResuming: false,
      httpStack: new TimedStack(),
      onSuccess: () => resolve({ url: upload.url }),
      onError: reject,
    });
    upload.start();
  });
  const doneAt = ms();
  const out = {
    mode: opts.mode,
    size,
    chunkSize: Number.isFinite(chunkSize) ? chunkSize : "Infinity",
    ms: Math.round((doneAt - startedAt) * 10) / 10,
    url: result.url,
    requests,
    rssPeakKiB: vmHwmKiB(),
    node: process.version,
  };
  if (proxy) {
    const { state } = proxy;
    proxy.close();
    out.forwarded = state.forwarded;
    out.connections = state.connections;
    out.cut = state.cut;
    if (state.cut) {
      out.beforeCut = Number(opts.cutAt);
      out.afterCut = state.forwarded - out.beforeCut;
      // The HEAD tus-js-client made after the cut says what the server kept.
      const head = requests.find((r) => r.method === "HEAD" && r.startMs >= state.cut.atMs && r.answeredOffset !== undefined);
      if (head) {
        out.keptOffset = head.answeredOffset;
        out.remainder = size - head.answeredOffset;
        out.overRemainder = out.afterCut - out.remainder;
        out.withinRemainderPlus1MiB = out.afterCut <= out.remainder + 1024 * 1024;
        // Bytes of the file that passed the proxy before the cut and were not kept: the cut PATCH
        // started at its Upload-Offset; of its connection's bytes, the heads are a few hundred.
        const cutPatch = requests.filter((r) => r.method === "PATCH" && r.startMs <= state.cut.atMs).at(-1);
        if (cutPatch) out.cutPatchOffset = cutPatch.offset;
      }
      const resumed = requests.find((r) => r.method === "PATCH" && r.startMs >= state.cut.atMs);
      if (resumed) out.resumedFrom = resumed.offset;
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(JSON.stringify({ mode: opts.mode, error: String(error?.message ?? error), requests }) + "\n");
    process.exit(1);
  },
);
