#!/usr/bin/env bash
# Where serve-here spends its CPU under the S1 load: runs serve-here (built from this checkout) under
# `node --cpu-prof`, loads it with wrk for a few seconds, stops it so that V8 writes the profile, and
# prints the top self-time functions.
#
# Usage: npm run bench:profile      (or: bash bench/profile.sh)
# Env:   DURATION   seconds of load (10)          CONNS  wrk connections (50)
#        URL_PATH   what to request (/small.html, the S1 file; /many/ profiles the listing, /medium.bin S2)
#        HEADER     an extra request header, e.g. 'If-None-Match: "..."' for S5
#        TOP        rows to print (25)            PORT (18490)  SERVER_CPU (0)  LOAD_CPU (1)
#        NODE_BIN   the node to profile (node on PATH), BENCH_WORK (bench/.work)
#        NODE_FLAGS more node flags, e.g. --cpu-prof-interval=100 (µs; default 1000)
#        SERVER_FLAGS more serve-here flags, e.g. '--auth user:pw' (with HEADER 'Authorization: Basic …')
#        PROFILE_DIR  where the .cpuprofile goes (bench/profiles/<date>-<time>/, git-ignored)
#        BUILD      1 = npm run build first (default)
# Open the .cpuprofile in Chrome DevTools (Performance tab, "Load profile") or speedscope for flame graphs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
set -e
DURATION="${DURATION:-10}"
CONNS="${CONNS:-50}"
URL_PATH="${URL_PATH:-/small.html}"
HEADER="${HEADER:-}"
TOP="${TOP:-25}"
PORT="${PORT:-18490}"
NODE_FLAGS="${NODE_FLAGS:-}"
SERVER_FLAGS="${SERVER_FLAGS:-}"
BUILD="${BUILD:-1}"
PROFILE_DIR="${PROFILE_DIR:-$BENCH_DIR/profiles/$(date -u +%Y-%m-%d-%H%M%S)}"
ROOT="$BENCH_WORK/root"

command -v wrk >/dev/null || { echo "profile: wrk is missing; run bash bench/setup.sh" >&2; exit 1; }
[ "$BUILD" = 1 ] && (cd "$REPO_DIR" && npm run build --silent) >&2
"$BENCH_DIR/make_fixtures.sh" "$ROOT" >&2
mkdir -p "$PROFILE_DIR"
if ss -Hltn "sport = :$PORT" | grep -q .; then echo "profile: port $PORT is busy; set PORT" >&2; exit 1; fi

# shellcheck disable=SC2086  # NODE_FLAGS and SERVER_FLAGS are lists of flags
setsid taskset -c "$SERVER_CPU" "$NODE_BIN" --cpu-prof --cpu-prof-dir="$PROFILE_DIR" $NODE_FLAGS \
  "$REPO_DIR/bin/serve-here.js" "$ROOT" --port "$PORT" --host "$HOST" --quiet $SERVER_FLAGS > "$PROFILE_DIR/server.log" 2>&1 < /dev/null &
pid=$!
stop() {  # SIGTERM lets serve-here close and exit normally, which is when V8 writes the profile
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "profile: server did not stop in 10 s; killing it (no profile)" >&2
  kill -KILL -- "-$pid" 2>/dev/null || true
}
trap stop EXIT

for _ in $(seq 1 200); do
  [ "$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "http://$HOST:$PORT/small.html")" = 200 ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$PROFILE_DIR/server.log" >&2; exit 1; }
  sleep 0.05
done

echo "profile: wrk -c$CONNS -d${DURATION}s http://$HOST:$PORT$URL_PATH (server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU)" >&2
wrk_args=(-t1 "-c$CONNS" "-d${DURATION}s" --latency)
[ -n "$HEADER" ] && wrk_args+=(-H "$HEADER")
timeout -k 2 $((DURATION + 20)) taskset -c "$LOAD_CPU" wrk "${wrk_args[@]}" "http://$HOST:$PORT$URL_PATH" > "$PROFILE_DIR/wrk.txt" 2>&1 || true
grep -E 'Requests/sec|Latency  |  99%' "$PROFILE_DIR/wrk.txt" >&2 || cat "$PROFILE_DIR/wrk.txt" >&2

stop
trap - EXIT
wait "$pid" 2>/dev/null || true
prof="$(ls -t "$PROFILE_DIR"/*.cpuprofile 2>/dev/null | head -1 || true)"
[ -n "$prof" ] || { echo "profile: no .cpuprofile written in $PROFILE_DIR" >&2; exit 1; }
echo >&2
"$NODE_BIN" "$BENCH_DIR/cpuprofile-top.mjs" "$prof" --top "$TOP"
