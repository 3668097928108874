/**
 * `--workers N`: N `node:cluster` workers answer on one port; the primary answers nothing itself.
 *
 * The primary decides the port once, starts the workers, writes the request log (workers send it
 * their entries, so the log stays one stream of whole lines whatever their number), runs live
 * reload's one watcher and tells every worker what changed, restarts a worker that dies (saying why,
 * with a back-off so that one which dies at start does not spin), and on SIGINT/SIGTERM asks every
 * worker to finish its in-flight responses before it exits. A stop asked for while the workers are
 * still starting (`stop`) starts no more of them: those that listen are drained like the others.
 *
 * A worker gets its options from the primary over the IPC channel, never from argv or the
 * environment (passwords stay out of `ps` and /proc), and runs an ordinary `startServer`.
 */
import cluster, { type Worker } from "node:cluster";
import { realpathSync } from "node:fs";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import { FailureLimiter } from "./auth.js";
import { newBootId, type LiveChanges } from "./live.js";
import type { AccessLogEntry } from "./log.js";
import { startServer, type ServerOptions, type StartedServer } from "./server.js";
import { watchTree, type TreeWatcher } from "./watch.js";

/** What the banner needs of a started cluster: the same as of one server, without the server. */
export type ClusterAddresses = Pick<StartedServer, "port" | "host" | "url" | "networkUrls" | "network">;

export interface StartedCluster extends ClusterAddresses {
  /** How many workers answer. */
  workers: number;
  /** Asks every worker to finish its in-flight responses (at most `graceMs`), and resolves when all have exited. */
  close(graceMs?: number): Promise<void>;
  /** Ends every worker at once (a second Ctrl+C). */
  kill(): void;
}

/** The options a worker can be sent: everything but the callbacks, which stay in the primary. */
type WorkerOptions = Omit<ServerOptions, "onResponse" | "onError" | "networkOrigins" | "liveChanges" | "authLimiter">;

type ToWorker =
  | { kind: "serve-here:start"; options: WorkerOptions; log: boolean; boot: string | null }
  | { kind: "serve-here:changed"; urlPath: string }
  /** Too many wrong passwords from this address, across the workers: refuse it until then. */
  | { kind: "serve-here:auth-block"; address: string; untilMs: number }
  | { kind: "serve-here:stop"; graceMs: number };

type ToPrimary =
  /** The worker listens for messages now: one sent earlier would have been dropped. */
  | { kind: "serve-here:ready" }
  | { kind: "serve-here:listening"; addresses: ClusterAddresses }
  | { kind: "serve-here:failed"; code: string | undefined; message: string }
  | { kind: "serve-here:log"; entries: AccessLogEntry[] }
  | { kind: "serve-here:watch"; on: boolean }
  /** A wrong password from this address, for the count the primary keeps over every worker. */
  | { kind: "serve-here:auth-failure"; address: string };

/** A worker that lived this long before it died is restarted at once; one that died sooner waits. */
const STABLE_MS = 10_000;
/** The wait after the first quick death, doubled after each further one, up to `MAX_BACKOFF_MS`. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/** Signals a terminal sends the whole process group (Ctrl+C, a closed terminal) or a service manager sends. */
const TERMINAL_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(["SIGINT", "SIGTERM", "SIGHUP"]);
/** How long a worker's death by one of those waits for the primary's own copy before it is reported. */
const SIGNAL_SETTLE_MS = 100;
/** How long `close()` lets in-flight responses finish, unless told otherwise. */
const DEFAULT_GRACE_MS = 3000;
/** A worker still running this long after its grace time has run out is killed. */
const STOP_SLACK_MS = 2_000;
/** How often to pick another free port when one picked for `--port 0` is taken before a worker binds it. */
const PORT_PICKS = 3;

/** One worker's place: which worker holds it now, and how it fared. */
interface Slot {
  number: number;
  worker: Worker | null;
  startedAt: number;
  quickDeaths: number;
  restart: NodeJS.Timeout | null;
}

/** What `startWorkers` rejects with when `stop` came before any worker listened: nothing to drain. */
export const STOPPED_BEFORE_LISTENING = "SERVE_HERE_STOPPED";

/**
 * Starts `count` workers on one port and resolves once every one listens. Rejects (with the
 * worker's error `code`, as `startServer` would) when one cannot start. A worker killed by a signal
 * before it listens (Ctrl+C reaches every process of the terminal's group, a worker still loading
 * among them) is started again, as one that dies later would be.
 *
 * Once `stop` is aborted (the CLI heard SIGINT or SIGTERM while the workers start), no worker is
 * started or restarted: a worker not yet told its options is told to stop instead, one already
 * starting is waited for. It resolves with the workers that listen, for the caller to `close()`,
 * or rejects with the code `STOPPED_BEFORE_LISTENING` when none does.
 */
export async function startWorkers(count: number, options: ServerOptions, stop?: AbortSignal): Promise<StartedCluster> {
  // Each worker accepts on the shared listening socket itself (SCHED_NONE), rather than the primary
  // accepting and handing each connection over (round-robin, Node's default on Linux): a connection
  // handed to a worker that has just died is never answered nor closed (Node's handoff waits for a
  // reply that never comes), and the hop costs the primary a core under load. The kernel wakes
  // the workers waiting in accept, so a busy one takes fewer connections.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // Structured clone keeps the log entries' Dates, and the options as they are.
  cluster.setupPrimary({ serialization: "advanced" });
  const { onResponse, onError: _onError, networkOrigins: _networkOrigins, liveChanges: _liveChanges, authLimiter: _authLimiter, ...workerOptions } = options;
  const boot = options.live ? newBootId() : null;
  const live = options.live ? new SharedWatcher(options) : null;
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({ number: i + 1, worker: null, startedAt: 0, quickDeaths: 0, restart: null }));
  /** What the next worker is started with: once the first listens, its exact port. */
  let startWith: WorkerOptions = workerOptions;

  // Every worker's wrong passwords, counted here as one server would count them: an address that
  // spreads its guesses over the workers' connections is refused by all of them after ten in all.
  const failures = new FailureLimiter();
  const countFailure = (from: Worker, address: string): void => {
    const known = failures.blockedFor(address) > 0;
    if (!known) failures.recordFailure(address);
    const blockedMs = failures.blockedFor(address);
    if (blockedMs === 0) return;
    const block: ToWorker = { kind: "serve-here:auth-block", address, untilMs: Date.now() + blockedMs };
    // Just blocked: every worker. Blocked before: only the one that did not know (started since, or its guess was in flight).
    const told = known ? [from] : slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
    for (const worker of told) send(worker, block);
  };
  let running = false;
  let stopping = false;
  /** The grace time `close()` was given: a worker that starts meanwhile is told to stop with it, not to serve. */
  let graceMs = DEFAULT_GRACE_MS;
  /** True once no worker should be started any more: closing, killed, or asked to stop while starting. */
  const quitting = () => stopping || stop?.aborted === true;

  /** Forks a worker into `slot`; resolves with its addresses, or rejects with why it could not listen. */
  const fork = (slot: Slot): Promise<ClusterAddresses> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      slot.worker = worker;
      slot.startedAt = Date.now();
      let listened = false;
      worker.on("message", (message: ToPrimary) => {
        switch (message.kind) {
          case "serve-here:ready":
            // A stop asked for while this worker loaded: it exits at once, having answered nothing.
            if (quitting()) return send(worker, { kind: "serve-here:stop", graceMs });
            return send(worker, { kind: "serve-here:start", options: startWith, log: onResponse !== undefined, boot });
          case "serve-here:listening":
            listened = true;
            return resolve(message.addresses);
          case "serve-here:failed":
            if (running) process.stderr.write(`serve-here: worker ${slot.number} could not start: ${message.message}\n`);
            return reject(Object.assign(new Error(message.message), { code: message.code }));
          case "serve-here:log":
            if (onResponse) for (const entry of message.entries) onResponse(entry);
            return;
          case "serve-here:watch":
            return live?.want(worker, message.on);
          case "serve-here:auth-failure":
            return countFailure(worker, message.address);
        }
      });
      worker.on("exit", (code: number | null, signal: NodeJS.Signals | null) => {
        live?.want(worker, false);
        if (slot.worker === worker) slot.worker = null;
        if (!listened) reject(Object.assign(new Error(`worker ${slot.number} ${why(code, signal)} before it listened`), { pid: worker.process.pid, signal }));
        // While starting, one that never listened is `startSlot`'s to restart, or to give up on.
        // (A restart that cannot listen either: its exit says why, and the next back-off follows.)
        if ((running || listened) && !quitting()) restartLater(slot, worker.process.pid, code, signal, () => void fork(slot).catch(() => {}));
      });
    });

  /** After a worker died: `again()` in its place, at once, or after a back-off that grows while they keep dying young. */
  const restartLater = (slot: Slot, pid: number | undefined, code: number | null, signal: NodeJS.Signals | null, again: () => void): void => {
    const report = () => {
      slot.quickDeaths = Date.now() - slot.startedAt < STABLE_MS ? slot.quickDeaths + 1 : 0;
      const delay = slot.quickDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (slot.quickDeaths - 1));
      const when = delay === 0 ? "" : ` in ${delay / 1000} s`;
      process.stderr.write(`serve-here: worker ${slot.number} (pid ${pid}) ${why(code, signal)}; starting another${when}\n`);
      slot.restart = setTimeout(() => {
        slot.restart = null;
        if (!quitting()) again();
      }, delay);
    };
    if (signal === null || !TERMINAL_SIGNALS.has(signal)) return report();
    // Only a worker still loading dies of these (one that runs ignores them), and Ctrl+C reaches
    // the primary at the same moment: if the primary is stopping once its own copy is heard, this
    // is no death to report nor to replace.
    slot.restart = setTimeout(() => {
      slot.restart = null;
      if (!quitting()) report();
    }, SIGNAL_SETTLE_MS);
  };

  /**
   * Starts a worker in `slot` at start-up: resolves with its addresses once one listens, or null
   * when a stop is asked for first. A worker killed by a signal before it listened is replaced
   * (after the back-off); one that could not listen rejects, with why.
   */
  const startSlot = async (slot: Slot): Promise<ClusterAddresses | null> => {
    let onStop = () => {};
    try {
      return await new Promise<ClusterAddresses | null>((resolve, reject) => {
        // Asked to stop while waiting out a back-off: nothing is starting here, so nothing to wait for.
        onStop = () => {
          if (!slot.restart) return;
          clearTimeout(slot.restart);
          slot.restart = null;
          resolve(null);
        };
        stop?.addEventListener("abort", onStop);
        const attempt = () => {
          if (quitting()) return resolve(null);
          fork(slot).then(resolve, (error: Error & { pid?: number; signal?: NodeJS.Signals | null }) => {
            if (quitting()) return resolve(null);
            if (!error.signal) return reject(error);
            restartLater(slot, error.pid, null, error.signal, attempt);
          });
        };
        attempt();
      });
    } finally {
      stop?.removeEventListener("abort", onStop);
    }
  };

  const kill = () => {
    stopping = true;
    live?.close();
    for (const slot of slots) {
      if (slot.restart) clearTimeout(slot.restart);
      slot.worker?.process.kill("SIGKILL");
    }
  };

  // Every worker must listen on the same port. The primary keeps one listening socket per port a
  // worker asks for: workers all asking for port 0 would share one, but once every one of them had
  // died the next would get another port than the banner's. So for port 0 a free port is picked
  // here; with a port given, the first worker searches (the fallback); every later worker,
  // restarts included, is told the port that was found.
  let first: ClusterAddresses | null;
  try {
    for (let pick = 1; ; pick++) {
      if (workerOptions.port === 0) startWith = { ...workerOptions, port: await freePort(workerOptions.host), portFallback: 0 };
      try {
        first = await startSlot(slots[0]!);
        break;
      } catch (error) {
        // Another program took the picked port before the worker bound it: pick again.
        if (workerOptions.port !== 0 || (error as NodeJS.ErrnoException).code !== "EADDRINUSE" || pick >= PORT_PICKS) throw error;
      }
    }
    if (first) {
      startWith = { ...workerOptions, port: first.port, portFallback: 0 };
      await Promise.all(slots.slice(1).map(startSlot));
    }
  } catch (error) {
    kill();
    throw error;
  }
  if (first === null) {
    // Asked to stop before any worker listened: none answered anything.
    kill();
    throw Object.assign(new Error("stopped before any worker listened"), { code: STOPPED_BEFORE_LISTENING });
  }
  running = true;

  return {
    ...first,
    workers: count,
    kill,
    close: async (grace = DEFAULT_GRACE_MS) => {
      stopping = true;
      graceMs = grace;
      live?.close();
      const open: Worker[] = [];
      for (const slot of slots) {
        if (slot.restart) clearTimeout(slot.restart);
        if (slot.worker && !slot.worker.isDead()) open.push(slot.worker);
      }
      // Ended means exited and its channel closed: "exit" can come before the last log messages
      // still in the pipe are read, "disconnect" only after them.
      const exited = open.map((worker) =>
        Promise.all([
          new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once("exit", () => resolve()))),
          new Promise<void>((resolve) => (worker.isConnected() ? worker.once("disconnect", () => resolve()) : resolve())),
        ]),
      );
      for (const worker of open) send(worker, { kind: "serve-here:stop", graceMs });
      const overdue = setTimeout(kill, graceMs + STOP_SLACK_MS);
      await Promise.all(exited);
      clearTimeout(overdue);
    },
  };
}

/** `exited with code 1`, `was killed by SIGKILL`: why a worker ended, for the log. */
function why(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

function send(worker: Worker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message, () => {}); // a worker gone meanwhile: its exit says so
}

/** A port free now on `host` (all interfaces: `::` dual-stack, else 0.0.0.0), as the kernel picks one for port 0. */
function freePort(host: string | undefined): Promise<number> {
  const attempt = (h: string) =>
    new Promise<number>((resolve, reject) => {
      const probe = net.createServer();
      probe.once("error", reject);
      probe.listen({ port: 0, host: h, ipv6Only: false }, () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
  if (host !== undefined) return attempt(host);
  return attempt("::").catch(() => attempt("0.0.0.0"));
}

/**
 * Live reload's one watcher, in the primary: it runs while at least one worker has a page
 * listening, and tells those workers every changed path (each batches its own bursts).
 */
class SharedWatcher {
  private readonly listening = new Set<Worker>();
  private watcher: TreeWatcher | null = null;
  private noticeGiven = false;
  private readonly policy: { rootReal: Buffer; dotfiles: boolean };

  constructor(options: ServerOptions) {
    this.policy = { rootReal: realpathSync.native(path.resolve(options.root ?? "."), { encoding: "buffer" }), dotfiles: options.dotfiles ?? false };
  }

  want(worker: Worker, on: boolean): void {
    if (on) this.listening.add(worker);
    else this.listening.delete(worker);
    if (this.listening.size > 0 && this.watcher === null) {
      this.watcher = watchTree(this.policy, (urlPath) => this.tell(urlPath), (message) => this.notice(message), process.env.SERVE_HERE_LIVE_POLL === "1");
    } else if (this.listening.size === 0) this.close();
  }

  tell(urlPath: string): void {
    for (const worker of this.listening) send(worker, { kind: "serve-here:changed", urlPath });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  private notice(message: string): void {
    if (this.noticeGiven) return;
    this.noticeGiven = true;
    process.stderr.write(`serve-here: ${message}\n`);
  }
}

/**
 * Ends every worker of this process at once (a second Ctrl+C), whether the cluster has finished
 * starting or not. Without workers it does nothing.
 */
export function killWorkers(): void {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGKILL");
}

/** True in a worker process that `startWorkers` forked. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

/**
 * A worker's life: wait for the primary's start message, serve, send the log and live reload's
 * wishes to the primary, and stop when it says so. SIGINT and SIGTERM are the primary's to handle:
 * Ctrl+C reaches every process of the terminal's group, and the primary decides for all.
 */
export function serveAsWorker(): Promise<undefined> {
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => {});
  const toPrimary = (message: ToPrimary, then?: () => void) => process.send!(message, undefined, {}, () => then?.());
  let pending: AccessLogEntry[] = [];
  // Sent in order on one channel, so when the last one is out, all are: what a worker about to exit
  // waits for, or the entries of its last answers would die in the pipe with it.
  let lastLogSent = Promise.resolve();
  const flushLog = () => {
    if (pending.length === 0) return;
    const entries = pending;
    pending = [];
    lastLogSent = new Promise((resolve) => toPrimary({ kind: "serve-here:log", entries }, resolve));
  };
  let changeListener: ((urlPath: string) => void) | null = null;
  let authLimiter: FailureLimiter | null = null;
  let started: StartedServer | null = null;

  process.on("message", (message: ToWorker) => {
    switch (message.kind) {
      case "serve-here:start": {
        // Entries of one turn of the event loop go as one message: whole lines, few messages.
        const onResponse = message.log ? (entry: AccessLogEntry) => (pending.push(entry) === 1 ? setImmediate(flushLog) : undefined) : undefined;
        const liveChanges: LiveChanges | undefined =
          message.boot === null
            ? undefined
            : {
                boot: message.boot,
                watch(onChange) {
                  changeListener = onChange;
                  toPrimary({ kind: "serve-here:watch", on: true });
                  return {
                    close: () => {
                      changeListener = null;
                      if (process.connected) toPrimary({ kind: "serve-here:watch", on: false });
                    },
                  };
                },
              };
        // Each wrong password counts here at once, and in the primary's count over every worker.
        authLimiter = new FailureLimiter({ onFailure: (address) => toPrimary({ kind: "serve-here:auth-failure", address }) });
        startServer({ ...message.options, onResponse, liveChanges, authLimiter }).then(
          (server) => {
            started = server;
            const { port, host, url, networkUrls, network } = server;
            toPrimary({ kind: "serve-here:listening", addresses: { port, host, url, networkUrls, network } });
          },
          (error: NodeJS.ErrnoException) => toPrimary({ kind: "serve-here:failed", code: error.code, message: error.message }, () => process.exit(1)),
        );
        return;
      }
      case "serve-here:changed":
        return changeListener?.(message.urlPath);
      case "serve-here:auth-block":
        return authLimiter?.block(message.address, message.untilMs);
      case "serve-here:stop":
        // The last responses' entries are logged on their "close", which comes with their sockets'.
        return void (started?.close(message.graceMs) ?? Promise.resolve()).then(() =>
          setImmediate(() => {
            flushLog();
            void lastLogSent.then(() => process.exit(0));
          }),
        );
    }
  });
  toPrimary({ kind: "serve-here:ready" });
  return Promise.resolve(undefined);
}
