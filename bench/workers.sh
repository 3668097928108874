#!/usr/bin/env bash
# W1, every core: the 1 KiB file (S1's GET /small.html, keep-alive, W1_CONNS connections) from
# serve-here --workers 2, nginx with worker_processes 2, serve-here with one process, and the node
# floors (bench/nodefloor.mjs, plain and --fresh) in 2 node:cluster workers, one after another under
# the same load. The floors say what any Node server with two workers can reach here. Run by run.sh when SCENARIOS includes W1 (not in the default list), or
# alone: `bash bench/workers.sh`.
#
# Unlike the other scenarios the servers are NOT pinned to SERVER_CPU: two workers need two cores, so
# every server here may use every core, and wrk (pinned to LOAD_CPU) shares one of them with it. On a
# 2-core machine that is the load generator and the server fighting for a core: the figures compare
# the servers with each other under that same handicap, not with S1's pinned figures.
#
# Each server runs in its own session and is stopped by its session id; every wrk run is bounded by
# -d and an outer timeout. Prints a markdown section on stdout.
# Knobs: W1_ROUNDS (ROUNDS or 3; the median is shown), DURATION (4), WARMUP (1), W1_CONNS (CONNS or 50),
#        W1_PORT (18480), BENCH_WORK, LOAD_CPU (1), NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
W1_ROUNDS="${W1_ROUNDS:-${ROUNDS:-3}}"
DURATION="${DURATION:-4}"
WARMUP="${WARMUP:-1}"
W1_CONNS="${W1_CONNS:-${CONNS:-50}}"
W1_PORT="${W1_PORT:-18480}"
PATH="$PATH:/usr/sbin:/sbin"
ROOT="$BENCH_WORK/root"
NGX="$BENCH_WORK/nginx-w1"
mkdir -p "$NGX"

command -v wrk >/dev/null || { log "workers.sh: wrk is needed"; exit 1; }
bash "$BENCH_DIR/make_fixtures.sh" "$ROOT" >/dev/null

source "$BENCH_DIR/nginx-conf.sh"

SRV=""
stop() { [ -n "$SRV" ] && { kill -TERM -- "-$SRV" 2>/dev/null; for _ in $(seq 1 50); do pgrep -s "$SRV" >/dev/null || break; sleep 0.1; done; kill -KILL -- "-$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; }; SRV=""; }
trap stop EXIT

start() {  # command... : in its own session, on every core; waits for the 1 KiB file
  setsid "$@" > "$NGX/server.log" 2>&1 < /dev/null &
  SRV=$!
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "http://$HOST:$W1_PORT/small.html")" = 200 ] && return 0
    sleep 0.05
  done
  log "  did not start: $*"; return 1
}

measure() {  # prints the median req/s of W1_ROUNDS wrk runs, and each
  local i rps=() url="http://$HOST:$W1_PORT/small.html"
  [ "$WARMUP" != 0 ] && timeout -k 2 $((WARMUP + 20)) taskset -c "$LOAD_CPU" wrk -t1 "-c$W1_CONNS" "-d${WARMUP}s" "$url" > /dev/null 2>&1
  for i in $(seq 1 "$W1_ROUNDS"); do
    rps+=("$(timeout -k 2 $((DURATION + 20)) taskset -c "$LOAD_CPU" wrk -t1 "-c$W1_CONNS" "-d${DURATION}s" "$url" 2>&1 | awk '/^Requests\/sec:/{print $2}')")
  done
  printf '%s\n' "${rps[@]}" | sort -g | awk '{a[NR]=$1} END{ if(NR%2) print a[(NR+1)/2]; else printf "%.2f\n",(a[NR/2]+a[NR/2+1])/2 }'
  echo "${rps[*]}"
}

declare -A FIG=() EACH=()
run() {  # name command...
  local name=$1 out; shift
  start "$@" || { FIG[$name]=""; stop; return; }
  sleep 1
  out=$(measure)
  FIG[$name]=$(echo "$out" | head -1); EACH[$name]=$(echo "$out" | tail -1)
  log "  W1 $name: ${FIG[$name]} req/s (each: ${EACH[$name]})"
  stop
}

run "serve-here --workers 2" "$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$ROOT" --port "$W1_PORT" --host "$HOST" --quiet --workers 2
run "nginx, worker_processes 2" nginx -e "$NGX/error.log" -p "$NGX/" -c "$(nginx_static_conf "$NGX" "$W1_PORT" "$ROOT" 2)"
run "serve-here, 1 process" "$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$ROOT" --port "$W1_PORT" --host "$HOST" --quiet
run "fresh node floor, 2 workers" "$NODE_BIN" "$BENCH_DIR/nodefloor.mjs" "$ROOT" "$W1_PORT" "$HOST" --fresh --workers 2
run "node floor, 2 workers" "$NODE_BIN" "$BENCH_DIR/nodefloor.mjs" "$ROOT" "$W1_PORT" "$HOST" --workers 2

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a > 0 && b > 0) printf "%.2f×", a / b; else print "–" }'; }
w2=${FIG["serve-here --workers 2"]}; ng=${FIG["nginx, worker_processes 2"]}; w1=${FIG["serve-here, 1 process"]}
ff=${FIG["fresh node floor, 2 workers"]}; nf=${FIG["node floor, 2 workers"]}
cat <<MD
### W1: every core (1 KiB file, $W1_CONNS connections; median of $W1_ROUNDS × ${DURATION} s)

| server | req/s | vs nginx |
|---|---:|---:|
| serve-here --workers 2 | ${w2:-failed} | $(ratio "$w2" "$ng") |
| nginx, worker_processes 2 | ${ng:-failed} | 1.00× |
| serve-here, 1 process | ${w1:-failed} | $(ratio "$w1" "$ng") |
| fresh node floor, 2 workers (an lstat per request) | ${ff:-failed} | $(ratio "$ff" "$ng") |
| node floor, 2 workers (from memory, no checks) | ${nf:-failed} | $(ratio "$nf" "$ng") |

serve-here --workers 2 against 1 process: $(ratio "$w2" "$w1"); against the fresh node floor with 2 workers: $(ratio "$w2" "$ff"). Servers unpinned (every core), wrk pinned to CPU $LOAD_CPU, so each
server shares a core with the load generator. Node $("$NODE_BIN" --version), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(nproc) cores.
Rounds: serve-here --workers 2: ${EACH["serve-here --workers 2"]:-}; nginx: ${EACH["nginx, worker_processes 2"]:-}; serve-here 1 process: ${EACH["serve-here, 1 process"]:-}; fresh floor: ${EACH["fresh node floor, 2 workers"]:-}; node floor: ${EACH["node floor, 2 workers"]:-}.
MD
