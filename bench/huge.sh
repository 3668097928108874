#!/usr/bin/env bash
# L1, a folder of 100,000 entries: the first page of serve-here's listing (1,000 rows, the footer
# counting all 100,000), req/s and the server's peak RSS; beside it nginx's autoindex of the same
# folder, which has no pages and so sends all 100,000 rows (a reference, not a like-for-like ratio).
# Run by run.sh when SCENARIOS includes L1 (it is not in the default list), or alone: `bash bench/huge.sh`.
#
# Each server runs in its own session pinned to SERVER_CPU, wrk on LOAD_CPU, every run bounded by
# `timeout`. Prints a markdown section on stdout.
# One connection: nginx's 12 MB page takes longer than a short run at ten connections would wait.
# Knobs: DURATION (4 s), ROUNDS (3; the median is shown), L1_PORT (18597),
# BENCH_WORK, SERVER_CPU, LOAD_CPU, NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
L1_PORT="${L1_PORT:-18597}"
HROOT="$BENCH_WORK/huge-root"
ENTRIES=100000

command -v wrk >/dev/null || { log "huge.sh: wrk is needed (bench/setup.sh)"; exit 1; }

# The folder, made once: 100,000 empty files (names as a scanner would make them).
if [ "$(find "$HROOT/huge" -maxdepth 1 -type f 2>/dev/null | wc -l)" != "$ENTRIES" ]; then
  rm -rf "$HROOT" && mkdir -p "$HROOT/huge"
  (cd "$HROOT/huge" && seq -f 'scan-%06g.tif' 0 $((ENTRIES - 1)) | xargs touch)
fi

# wrk's requests/s for URL $1, bounded in time.
reqs() { timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c1 -d"${DURATION}s" --timeout 10s "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; }
wait_up() { for _ in $(seq 1 400); do curl -s -o /dev/null --max-time 2 "$1" && return 0; sleep 0.05; done; return 1; }

# serve-here: the first page, after one request that reads the names (the once-per-version cost).
setsid taskset -c "$SERVER_CPU" "$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$HROOT" --port "$L1_PORT" --host "$HOST" --quiet > /dev/null 2>&1 < /dev/null &
SRV=$!
trap 'kill -TERM -- "-$SRV" 2>/dev/null; [ -n "${NGX_PID:-}" ] && kill "$NGX_PID" 2>/dev/null' EXIT
wait_up "http://$HOST:$L1_PORT/" || { log "huge.sh: serve-here did not start"; exit 1; }
idle_kib=$(hwm_kib "$SRV")
first_ms=$(curl -s -o "$BENCH_WORK/huge-page.html" --max-time 60 -w '%{time_total}' "http://$HOST:$L1_PORT/huge/" | awk '{printf "%.0f", $1 * 1000}')
page_bytes=$(stat -c %s "$BENCH_WORK/huge-page.html")
grep -q '100,000 files' "$BENCH_WORK/huge-page.html" || log "huge.sh: the footer does not count 100,000 files"
sh_rounds=()
for r in $(seq 1 "$ROUNDS"); do sh_rounds+=("$(reqs "http://$HOST:$L1_PORT/huge/")"); log "  L1 round $r: serve-here ${sh_rounds[-1]} req/s"; done
peak_kib=$(hwm_kib "$SRV")
kill -TERM -- "-$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null

# nginx's autoindex of the same folder: every entry on one page.
NGX_DIR=$(mktemp -d)
source "$BENCH_DIR/nginx-conf.sh"
nginx_static_conf "$NGX_DIR" $((L1_PORT + 1)) "$HROOT" 1 "" "    autoindex on;" > /dev/null
taskset -c "$SERVER_CPU" nginx -c "$NGX_DIR/nginx.conf" -p "$NGX_DIR" > /dev/null 2>&1 &
NGX_PID=$!
ngx_rounds=()
if wait_up "http://$HOST:$((L1_PORT + 1))/huge/"; then
  ngx_bytes=$(curl -s --max-time 60 "http://$HOST:$((L1_PORT + 1))/huge/" | wc -c)
  for r in $(seq 1 "$ROUNDS"); do ngx_rounds+=("$(reqs "http://$HOST:$((L1_PORT + 1))/huge/")"); log "  L1 round $r: nginx ${ngx_rounds[-1]} req/s"; done
else
  log "huge.sh: nginx did not start (see $NGX_DIR/error.log)"; ngx_bytes=0; ngx_rounds=(0)
fi
kill "$NGX_PID" 2>/dev/null; wait "$NGX_PID" 2>/dev/null; NGX_PID=
rm -rf "$NGX_DIR"

m() { median_of "$@"; }
cat <<MD
### L1: a folder of 100,000 entries (median of $ROUNDS × ${DURATION} s, one connection)

| | serve-here (first page, 1,000 rows) | nginx autoindex (all 100,000 rows) |
|---|---:|---:|
| req/s | $(m "${sh_rounds[@]}") | $(m "${ngx_rounds[@]}") |
| page size, bytes | $page_bytes | $ngx_bytes |
| first request (names read and sorted), ms | $first_ms | – |
| server RSS idle → peak, MiB | $(awk -v a="$idle_kib" -v b="$peak_kib" 'BEGIN{printf "%.1f → %.1f", a/1024, b/1024}') | – |

Rounds: serve-here ${sh_rounds[*]}; nginx ${ngx_rounds[*]}.
MD
