#!/usr/bin/env bash
# serve-here benchmark: serve-here (built from this checkout) against nginx, python's http.server,
# sirv-cli, http-server and serve, one server at a time, on 127.0.0.1 only, same fixtures, same load.
# Run it with `npm run bench`; bench/README.md explains the scenarios and how to read the table.
#
# Each server runs in its own session (setsid), pinned to SERVER_CPU with taskset, and is stopped by its
# session id; the load generator (wrk, curl, the helpers) is pinned to LOAD_CPU. Every load run is bounded
# (wrk -d plus an outer `timeout`, curl --max-time), MAX_SECONDS is a global budget after which remaining
# work is skipped, and a watchdog ends the whole script shortly after that.
#
# Knobs (env):
#   SERVERS      subset, default "serve-here serve-here-nc serve-here-auth nginx node-floor node-floor-fresh python sirv http-server serve"
#                (serve-here-nc: serve-here --no-compress; serve-here-auth: serve-here --auth, every request
#                with the right Authorization; variants are measured on S1 S2 C1 only; node-floor: bare
#                node:http answering from memory (bench/nodefloor.mjs), on S1 S2 S5 S6 only; node-floor-fresh:
#                the same plus one lstat per file and per listing entry, on S1 S4 S5 S6 only)
#   SCENARIOS    default "S1 S2 S3 S4 S5 S6 C1 C2 MEM U1 H1 H2 H3 D1 D2 D3 T1 T2" (C2: S4's listing with br/gzip accepted;
#                U1: PUT uploads, serve-here --upload vs nginx
#                WebDAV; H1-H3: HTTP/2 over TLS, bench/h2.sh, serve-here vs nginx http2 vs the h2 fresh floor;
#                D1-D3: WebDAV, bench/dav.sh, serve-here vs Apache mod_dav_fs; T1-T2: resumable uploads,
#                bench/tus.sh, a 1 GiB tus upload beside the same PUT, and one resumed after a cut);
#                add Z1 for folders as zip (bench/zip.sh, serve-here only), W1 for --workers (bench/workers.sh),
#                L1 for a 100,000-entry folder's first page (bench/huge.sh). Spaces or commas. Without any of
#                the table's scenarios (S1-S6, C1, C2, MEM, U1) no server is started for the table: e.g.
#                SCENARIOS="H1 H2 H3" runs the H group alone, SCENARIOS="D1 D2 D3" the D group, SCENARIOS="T1 T2" the T group
#   DURATION     seconds per wrk run (4)          ROUNDS        wrk runs per scenario, median (3)
#   WARMUP       seconds of unmeasured load before each scenario (1; 0 = none)
#   CONNS        wrk connections (50)             LARGE_CONNS   for S3 (4)     LIST_CONNS  for S4 and C2 (10)
#   START_ROUNDS starts for the start-up median (10; 0 = skip); `node -e 0` is timed the same way, to its exit
#   MEM_CONNS (1000) MEM_DOWNLOADS (8) MEM_SECONDS (DURATION) MEM_RATE (bytes/s per download; 64 MiB/MEM_SECONDS)
#   UPLOAD_MIB   size of U1's file (1024)       UPLOAD_ROUNDS  uploads per server, median (ROUNDS)
#   UPLOAD_TIMEOUT  curl --max-time per upload (120)
#   MAX_SECONDS  global budget (2400)             SERVER_CPU (0)  LOAD_CPU (1)  BASE_PORT (18400)
#   QUIET_WAIT   max seconds to wait for other CPU load to drop before a scenario (10)
#   QUIET_TOTAL  max seconds of such waiting per run (90)   QUIET_CORES  "quiet" threshold in cores (0.15)
#   SETTLE_MAX   max seconds to wait after a scenario until the server is idle again (30)
#   H1_CONNS H1_STREAMS H2_CONNS H3_ROUNDS H3_H1_CONNS H_SERVERS  the H group's own knobs (bench/h2.sh)
#   D1_CONNS D2_ROUNDS D2_TRANSFERS D2_MAX_TIME  the D group's own knobs (bench/dav.sh)
#   T_MIB T_ROUNDS (ROUNDS) T_KINDS T_CHUNK T_CUT_MIB T_CUT_MODES T_MAX_TIME T_BUDGET  the T group's own knobs (bench/tus.sh)
#   EXTRA_NAME / EXTRA_CMD  one more server, e.g. another build of serve-here; placeholders {ROOT} {PORT} {HOST}
#   BENCH_WORK   fixtures and scratch (bench/.work)   PEERS_DIR (bench/.peers)   BUILD (1; 0 = skip npm run build)
#
# Output: bench/results/<date>-<time>.md (the summary, also printed), and the raw wrk/curl/helper output
# plus results.tsv in bench/results/raw/<date>-<time>/ (git-ignored).

set -uo pipefail
export LC_ALL=C

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
MAX_SECONDS="${MAX_SECONDS:-2400}"

# Watchdog: every step is bounded, but if something still hangs, end the run shortly after the budget.
# --foreground keeps Ctrl+C working; the EXIT trap below stops the servers.
if [ -z "${SERVE_HERE_BENCH_WATCHDOG:-}" ]; then
  export SERVE_HERE_BENCH_WATCHDOG=1
  exec timeout --foreground -k 60 $((MAX_SECONDS + 180)) bash "${BASH_SOURCE[0]}" "$@"
fi

SERVERS="${SERVERS:-serve-here serve-here-nc serve-here-auth nginx node-floor node-floor-fresh python sirv http-server serve}"
SCENARIOS="${SCENARIOS:-S1 S2 S3 S4 S5 S6 C1 C2 MEM U1 H1 H2 H3 D1 D2 D3 T1 T2}"
SCENARIOS="${SCENARIOS//,/ }"
# Variants of serve-here (another flag, same build) are measured only where the flag matters, and
# without start-up or MEM runs, which keeps each one under a minute.
VARIANT_SCENARIOS="S1 S2 C1"   # never MEM or U1
# The node floor answers from memory what it read at start-up: files up to 1 MiB, 304 and 404.
FLOOR_SCENARIOS="S1 S2 S5 S6"
# The fresh floor adds an lstat per file and per listing entry, and serves its folders' pages.
FRESH_FLOOR_SCENARIOS="S1 S4 S5 S6"
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-1}"
CONNS="${CONNS:-50}"
LARGE_CONNS="${LARGE_CONNS:-4}"
LIST_CONNS="${LIST_CONNS:-10}"   # a slow listing at c=50 may complete nothing within DURATION
START_ROUNDS="${START_ROUNDS:-10}"
MEM_CONNS="${MEM_CONNS:-1000}"
MEM_DOWNLOADS="${MEM_DOWNLOADS:-8}"
MEM_SECONDS="${MEM_SECONDS:-$DURATION}"
MEM_RATE="${MEM_RATE:-0}"
UPLOAD_MIB="${UPLOAD_MIB:-1024}"
UPLOAD_ROUNDS="${UPLOAD_ROUNDS:-$ROUNDS}"
UPLOAD_TIMEOUT="${UPLOAD_TIMEOUT:-120}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
BASE_PORT="${BASE_PORT:-18400}"
QUIET_WAIT="${QUIET_WAIT:-10}"
QUIET_TOTAL="${QUIET_TOTAL:-90}"
QUIET_CORES="${QUIET_CORES:-0.15}"
SETTLE_MAX="${SETTLE_MAX:-30}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-20}"
BENCH_WORK="${BENCH_WORK:-$BENCH_DIR/.work}"
PEERS_DIR="${PEERS_DIR:-$BENCH_DIR/.peers}"
BUILD="${BUILD:-1}"
ROOT="$BENCH_WORK/root"
HOST=127.0.0.1
# serve-here-auth asks for this user; every request to it (wrk and curl) sends the right credentials.
BENCH_AUTH="bench:a long passphrase, with: a colon"
BENCH_AUTHORIZATION="Authorization: Basic $(printf '%s' "$BENCH_AUTH" | base64 -w0)"

STAMP="$(date -u +%Y-%m-%d-%H%M%S)"
RESULTS_DIR="$BENCH_DIR/results"
RAW="$RESULTS_DIR/raw/$STAMP"
SUMMARY="$RESULTS_DIR/$STAMP.md"
NGX_DIR="$BENCH_WORK/nginx"
T_START=$(date +%s)
QUIET_SPENT=0

log() { echo "$*" >&2; }
die() { log "bench: $*"; exit 1; }
elapsed() { echo $(( $(date +%s) - T_START )); }
over_budget() { [ "$(elapsed)" -ge "$MAX_SECONDS" ]; }

# ---------------------------------------------------------------- preconditions
"$BENCH_DIR/setup.sh" || die "setup failed (see above)"
PATH="$PATH:/usr/sbin:/sbin"
NODE_BIN="$(command -v node)" || die "node not found"
PY_BIN="$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)" || die "python3 not found"  # the real binary, not a pyenv shim
NGINX_BIN="$(command -v nginx)"
n_cpus=$(nproc)
TABLE=""   # any of the table's scenarios: then every server in SERVERS is started (start-up, idle RSS, ...)
H_SCENARIOS=""
D_SCENARIOS=""
T_SCENARIOS=""
for sc in $SCENARIOS; do
  case $sc in
    S1|S2|S3|S4|S5|S6|C1|C2|MEM|U1) TABLE=1;;
    H1|H2|H3) H_SCENARIOS="$H_SCENARIOS $sc";;
    D1|D2|D3) D_SCENARIOS="$D_SCENARIOS $sc";;
    T1|T2) T_SCENARIOS="$T_SCENARIOS $sc";;
    Z1|W1|L1) ;;
    *) die "unknown scenario '$sc' (S1..S6, C1, C2, MEM, U1, H1..H3, D1..D3, T1, T2, Z1, W1, L1)";;
  esac
done
[ -n "$TABLE" ] || SERVERS=""   # only groups with sections of their own (H, D, T, Z1, W1, L1): no table
[ -n "$H_SCENARIOS" ] && { command -v h2load >/dev/null || die "h2load missing (bench/setup.sh installs nghttp2-client)"; }
[ -n "$D_SCENARIOS" ] && { command -v rclone >/dev/null || die "rclone missing (bench/setup.sh installs it)"; }
[ "$SERVER_CPU" != "$LOAD_CPU" ] || die "SERVER_CPU and LOAD_CPU must differ"
[ "$SERVER_CPU" -lt "$n_cpus" ] && [ "$LOAD_CPU" -lt "$n_cpus" ] || die "need CPUs $SERVER_CPU and $LOAD_CPU; this machine has $n_cpus"
# 1000 keep-alive connections need more descriptors than the usual soft limit of 1024
ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((MEM_CONNS + 200)) ] || log "warning: ulimit -n is $(ulimit -n); MEM needs more than $MEM_CONNS"
if [ "$BUILD" = 1 ]; then
  (cd "$REPO_DIR" && npm run build --silent) >&2 || die "npm run build failed"
fi
[ -f "$REPO_DIR/dist/src/cli.js" ] || die "dist/src/cli.js missing: run npm run build"
"$BENCH_DIR/make_fixtures.sh" "$ROOT" >&2 || die "fixture creation failed"

mkdir -p "$RAW/wrk" "$RAW/logs" "$RAW/mem" "$NGX_DIR"

# ---------------------------------------------------------------- results store
declare -A R=()    # R[server,key] = value; also written to results.tsv
put() { R[$1,$2]="$3"; printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RAW/results.tsv"; }
meta() { printf '%s\t%s\n' "$1" "$2" >> "$RAW/meta.tsv"; }
: > "$RAW/results.tsv"; : > "$RAW/meta.tsv"

pkg_version() { "$NODE_BIN" -p "require('$PEERS_DIR/node_modules/$1/package.json').version" 2>/dev/null || echo "?"; }
meta stamp "$STAMP"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cpu "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
meta cores "$n_cpus"
meta kernel "$(uname -sr)"
meta node "$("$NODE_BIN" -v)"
meta nginx "$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')"
meta wrk "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
meta python "$("$PY_BIN" -V 2>&1)"
meta peers "serve $(pkg_version serve), http-server $(pkg_version http-server), sirv-cli $(pkg_version sirv-cli)"
meta commit "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO_DIR" status --porcelain -- src bin 2>/dev/null)" ] && echo ' (src/ or bin/ modified)')"
meta settings "MAX_SECONDS=$MAX_SECONDS DURATION=${DURATION}s ROUNDS=$ROUNDS WARMUP=${WARMUP}s CONNS=$CONNS LARGE_CONNS=$LARGE_CONNS LIST_CONNS=$LIST_CONNS START_ROUNDS=$START_ROUNDS MEM_CONNS=$MEM_CONNS MEM_DOWNLOADS=$MEM_DOWNLOADS MEM_SECONDS=$MEM_SECONDS UPLOAD_MIB=$UPLOAD_MIB UPLOAD_ROUNDS=$UPLOAD_ROUNDS SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU"
meta scenarios "$SCENARIOS"
meta servers "$SERVERS"
meta quiet_cores "$QUIET_CORES"
meta raw "${RAW#$REPO_DIR/}"

# ---------------------------------------------------------------- process bookkeeping
MY_SID=$(ps -o sid= $$ | tr -d ' ')
CUR_SRV_SID=""
STARTED_PIDS=()
stop_session() {  # $1 = pid of a session leader this script started
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 60); do pgrep -s "$pid" >/dev/null 2>&1 || break; sleep 0.1; done
  if pgrep -s "$pid" >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null; sleep 0.2; fi
  wait "$pid" 2>/dev/null
  local keep=() p; for p in "${STARTED_PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
  STARTED_PIDS=("${keep[@]}")
  return 0
}
cleanup() { local p; for p in "${STARTED_PIDS[@]}"; do [ -n "$p" ] && stop_session "$p"; done; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
session_rss_kb() { ps -o rss= --sid "$1" 2>/dev/null | awk '{s+=$1} END{print s+0}'; }
# The largest peak RSS (VmHWM) of a session's processes: the server itself, or nginx's one worker.
session_hwm_kb() {
  local p
  for p in $(ps -o pid= --sid "$1" 2>/dev/null); do awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null; done | sort -n | tail -1
}
ns() { date +%s%N; }
foreign_ticks() { "$PY_BIN" "$BENCH_DIR/cputicks.py" "$MY_SID" ${CUR_SRV_SID:-} 2>/dev/null | awk '{print $1}'; }
server_ticks() { [ -n "${CUR_SRV_SID:-}" ] && "$PY_BIN" "$BENCH_DIR/cputicks.py" --only "$CUR_SRV_SID" 2>/dev/null | awk '{print $1}'; }
cores_used() {  # $1 ticks0 $2 ticks1 $3 ns0 $4 ns1 -> cores
  awk -v a="$1" -v b="$2" -v t0="$3" -v t1="$4" 'BEGIN{ d=(t1-t0)/1e9; if (a=="" || b=="" || d<=0) {print ""; exit}; printf "%.2f", (b-a)/100/d }'; }

# Waits (bounded by QUIET_WAIT, and QUIET_TOTAL per run) until other processes use < QUIET_CORES.
wait_quiet() {
  local start a b t0 t1 f said=""
  start=$(date +%s)
  while :; do
    a=$(foreign_ticks); t0=$(ns); sleep 1; b=$(foreign_ticks); t1=$(ns)
    f=$(cores_used "$a" "$b" "$t0" "$t1")
    awk -v f="${f:-0}" -v q="$QUIET_CORES" 'BEGIN{exit !(f < q)}' && break
    if [ $(( $(date +%s) - start )) -ge "$QUIET_WAIT" ] || [ $(( QUIET_SPENT + $(date +%s) - start )) -ge "$QUIET_TOTAL" ] || over_budget; then
      log "  other load still ${f} cores; measuring anyway"; break; fi
    [ -z "$said" ] && { log "  waiting for other CPU load (${f} cores) to drop..."; said=1; }
  done
  local waited=$(( $(date +%s) - start - 1 ))   # the first 1 s sample is not waiting
  [ "$waited" -gt 0 ] && QUIET_SPENT=$(( QUIET_SPENT + waited ))
  return 0
}

# ---------------------------------------------------------------- servers
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }  # single-quote for eval
source "$BENCH_DIR/nginx-conf.sh"
# C1 asks for br or gzip: this nginx (no brotli module) compresses with gzip, as it would be set up
# to; requests without Accept-Encoding (every other scenario) are not affected.
NGINX_HTTP_LINES='  gzip on;
  gzip_comp_level 6;
  gzip_vary on;
  gzip_types text/css text/javascript application/javascript application/json image/svg+xml;'
# U1: WebDAV PUT, as nginx would be set up to take uploads. The body goes to client_body_temp_path
# (in NGX_DIR, on the same file system as ROOT), then is renamed into place.
NGINX_SERVER_LINES='    autoindex on;
    location /uploads/ {
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
    }'
nginx_conf() {  # $1 port -> path of the bench's static config for that port: 1 worker, autoindex, gzip, WebDAV PUT
  nginx_static_conf "$NGX_DIR/$1" "$1" "$ROOT" 1 "$NGINX_HTTP_LINES" "$NGINX_SERVER_LINES"
}

# Sets SRV_ARGV to the command line of server $1 on port $2, or returns 1 with the reason on stderr.
server_argv() {
  local name=$1 port=$2 m="$PEERS_DIR/node_modules"
  SRV_ARGV=()
  case "$name" in
    serve-here)
      SRV_ARGV=("$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$ROOT" --port "$port" --host "$HOST" --quiet) ;;
    serve-here-nc)  # a variant: compression off (runs VARIANT_SCENARIOS only)
      SRV_ARGV=("$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$ROOT" --port "$port" --host "$HOST" --quiet --no-compress) ;;
    serve-here-auth)  # a variant: passwords on, every request authenticated (runs VARIANT_SCENARIOS only)
      SRV_ARGV=("$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$ROOT" --port "$port" --host "$HOST" --quiet --auth "$BENCH_AUTH") ;;
    node-floor)  # Node's own ceiling: a snapshot of ROOT in memory, ready headers, no checks (S1 S2 S5 S6 only)
      SRV_ARGV=("$NODE_BIN" "$BENCH_DIR/nodefloor.mjs" "$ROOT" "$port" "$HOST") ;;
    node-floor-fresh)  # the least a never-stale Node server adds: an lstat per file, per entry (S1 S4 S5 S6 only)
      SRV_ARGV=("$NODE_BIN" "$BENCH_DIR/nodefloor.mjs" "$ROOT" "$port" "$HOST" --fresh) ;;
    nginx)
      [ -n "$NGINX_BIN" ] || { echo "nginx not installed" >&2; return 1; }
      SRV_ARGV=("$NGINX_BIN" -e "$NGX_DIR/$port/error.log" -p "$NGX_DIR/$port/" -c "$(nginx_conf "$port")") ;;
    python)
      SRV_ARGV=("$PY_BIN" -m http.server "$port" --bind "$HOST" --directory "$ROOT") ;;
    sirv)
      [ -f "$m/sirv-cli/bin.js" ] || { echo "sirv-cli not installed (bench/setup.sh)" >&2; return 1; }
      SRV_ARGV=("$NODE_BIN" "$m/sirv-cli/bin.js" "$ROOT" --host "$HOST" --port "$port" --etag --quiet) ;;
    http-server)
      [ -f "$m/http-server/bin/http-server" ] || { echo "http-server not installed (bench/setup.sh)" >&2; return 1; }
      SRV_ARGV=("$NODE_BIN" "$m/http-server/bin/http-server" "$ROOT" -a "$HOST" -p "$port" -s) ;;
    serve)
      # serve.json = {"cleanUrls": false}: by default serve 301-redirects /small.html to /small
      [ -f "$m/serve/build/main.js" ] || { echo "serve not installed (bench/setup.sh)" >&2; return 1; }
      SRV_ARGV=("$NODE_BIN" "$m/serve/build/main.js" -l "tcp://$HOST:$port" -L -n --no-port-switching -c "$PEERS_DIR/serve.json" "$ROOT") ;;
    *)
      if [ -n "${EXTRA_CMD:-}" ] && [ "$name" = "${EXTRA_NAME:-extra}" ]; then
        local c="$EXTRA_CMD"
        c="${c//\{PORT\}/$port}"; c="${c//\{ROOT\}/$(sq "$ROOT")}"; c="${c//\{HOST\}/$HOST}"
        eval "SRV_ARGV=($c)"
      else
        echo "unknown server '$name'" >&2; return 1
      fi ;;
  esac
}

# Sets SRV_HEADERS to what every request to server $1 carries, as curl/wrk arguments: the credentials
# for serve-here-auth, nothing for the others.
server_headers() {
  SRV_HEADERS=()
  [ "$1" = serve-here-auth ] && SRV_HEADERS=(-H "$BENCH_AUTHORIZATION")
  return 0
}
SRV_HEADERS=()

# Starts the server in SRV_ARGV on port $2 (name $1); sets SRV_PID. Returns 1 on failure.
start_server() {
  local name=$1 port=$2 deadline code
  SRV_PID=""
  if port_busy "$port"; then log "  port $port is busy"; return 1; fi
  echo "--- start $(date -u +%T): ${SRV_ARGV[*]}" >> "$RAW/logs/$name.log"
  setsid taskset -c "$SERVER_CPU" "${SRV_ARGV[@]}" >> "$RAW/logs/$name.log" 2>&1 < /dev/null &
  SRV_PID=$!
  STARTED_PIDS+=("$SRV_PID")
  deadline=$(( $(date +%s) + STARTUP_TIMEOUT ))
  while :; do
    code=$(curl -s "${SRV_HEADERS[@]}" -o /dev/null --max-time 1 -w '%{http_code}' "http://$HOST:$port/small.html" 2>/dev/null)
    [ "$code" = 200 ] && return 0
    alive "$SRV_PID" || { log "  $name exited during start (see $RAW/logs/$name.log)"; return 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { log "  $name did not answer within ${STARTUP_TIMEOUT}s"; return 1; }
    sleep 0.02
  done
}

# ---------------------------------------------------------------- load
hdr() {  # $1 header name; stdin = raw response headers; prints its value
  tr -d '\r' | awk -v h="$(echo "$1" | tr 'A-Z' 'a-z')" '
    /^HTTP\// {v=""}
    { k=$0; sub(/:.*/, "", k); if (tolower(k)==h) { sub(/^[^:]*:[ \t]*/, ""); v=$0 } }
    END {print v}'
}
to_mib() {  # wrk "Transfer/sec" (1024-based units) -> MiB/s
  awk -v v="$1" 'BEGIN{ if (v=="") exit;
    n=v; sub(/[A-Za-z]+$/, "", n); u=v; sub(/^[0-9.]+/, "", u);
    f=1/1048576; if(u=="KB")f=1/1024; else if(u=="MB")f=1; else if(u=="GB")f=1024; else if(u=="TB")f=1048576;
    printf "%.1f", n*f }'
}
to_ms() {  # wrk latency like 512.00us, 12.34ms, 1.20s, 2.00m -> ms
  awk -v v="$1" 'BEGIN{ if (v=="") exit;
    n=v; sub(/[a-z]+$/, "", n); u=v; sub(/^[0-9.]+/, "", u);
    f=1; if(u=="us")f=0.001; else if(u=="s")f=1000; else if(u=="m")f=60000; else if(u=="h")f=3600000;
    printf "%.2f", n*f }'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ if(NR==0) print ""; else if(NR%2) print a[(NR+1)/2]; else printf "%.2f\n",(a[NR/2]+a[NR/2+1])/2 }'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }

# Runs wrk; sets W_RPS W_MIB W_P99 W_NON2XX W_ERR W_SRVCPU W_WRKCPU W_FOREIGN
run_wrk() {  # $1 outfile $2 conns $3 secs $4 url [$5 header]
  local out=$1 conns=$2 secs=$3 url=$4 h=${5:-}
  # a generous per-request timeout: slow listings must count as slow, not as socket errors
  local args=(-t1 "-c$conns" "-d${secs}s" --latency --timeout 30s)
  [ -n "$h" ] && args+=(-H "$h")
  args+=("${SRV_HEADERS[@]}")
  local fa fb sa sb t0 t1 TIMEFORMAT='%3U %3S %3R'
  fa=$(foreign_ticks); sa=$(server_ticks); t0=$(ns)
  { time timeout -k 2 $(( secs + 20 )) taskset -c "$LOAD_CPU" wrk "${args[@]}" "$url" > "$out" 2>&1 ; } 2> "$out.cpu"
  fb=$(foreign_ticks); sb=$(server_ticks); t1=$(ns)
  W_FOREIGN=$(cores_used "$fa" "$fb" "$t0" "$t1")
  W_SRVCPU=$(cores_used "$sa" "$sb" "$t0" "$t1")
  W_WRKCPU=$(awk '{ if ($3>0) printf "%.2f", ($1+$2)/$3 }' "$out.cpu")
  W_RPS=$(awk '/^Requests\/sec:/{print $2}' "$out")
  W_MIB=$(to_mib "$(awk '/^Transfer\/sec:/{print $2}' "$out")")
  W_P99=$(to_ms "$(awk '/Latency Distribution/{d=1} d && $1=="99%"{print $2; exit}' "$out")")
  W_REQS=$(awk '/ requests in /{sub(/,$/, "", $1); print $1; exit}' "$out")
  # no completed request (a slow listing, a 64 MiB file in a short run): wrk prints 0 latencies, not figures
  [ "$W_REQS" = 0 ] && W_P99=""
  W_NON2XX=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$out")
  W_ERR=$(grep -o 'Socket errors:.*' "$out" | sed 's/Socket errors: //')
}

scenario_url() {  # $1 scenario $2 port -> sets SC_URL SC_CONNS
  local base="http://$HOST:$2"
  SC_CONNS=$CONNS
  case $1 in
    S1) SC_URL="$base/small.html";;
    S2) SC_URL="$base/medium.bin";;
    S3) SC_URL="$base/large.bin"; SC_CONNS=$LARGE_CONNS;;
    S4) SC_URL="$base/many/"; SC_CONNS=$LIST_CONNS;;
    S5) SC_URL="$base/small.html";;
    S6) SC_URL="$base/does-not-exist";;
    C1) SC_URL="$base/medium.js";;
    C2) SC_URL="$base/many/"; SC_CONNS=$LIST_CONNS;;
  esac
}

is_variant() { [ "$1" = serve-here-nc ] || [ "$1" = serve-here-auth ]; }
# The scenarios server $1 runs: all of SCENARIOS, or for a variant those of them in VARIANT_SCENARIOS,
# for the node floors those in FLOOR_SCENARIOS and FRESH_FLOOR_SCENARIOS.
scenarios_for() {
  local sc out="" only=""
  is_variant "$1" && only=$VARIANT_SCENARIOS
  [ "$1" = node-floor ] && only=$FLOOR_SCENARIOS
  [ "$1" = node-floor-fresh ] && only=$FRESH_FLOOR_SCENARIOS
  for sc in $SCENARIOS; do
    if [ -z "$only" ] || [[ " $only " == *" $sc "* ]]; then out="$out $sc"; fi
  done
  echo "$out"
}

run_scenario() {  # $1 server $2 port $3 scenario
  local name=$1 port=$2 sc=$3 header="" code h v i
  scenario_url "$sc" "$port"
  case $sc in
    S4) code=$(curl -s "${SRV_HEADERS[@]}" -o "$RAW/logs/$name-listing.html" --max-time 30 -w '%{http_code}' "$SC_URL")
        if [ "$code" != 200 ] || ! grep -q 'plain-0000' "$RAW/logs/$name-listing.html"; then
          put "$name" S4_note "no listing (HTTP $code)"; log "  S4   $name: no listing (HTTP $code)"; return; fi
        put "$name" S4_bytes "$(stat -c %s "$RAW/logs/$name-listing.html")";;
    S5) # revalidate with the server's own validator: its ETag, else its Last-Modified
        h=$(curl -s "${SRV_HEADERS[@]}" -D - -o /dev/null --max-time 10 "$SC_URL")
        v=$(echo "$h" | hdr etag)
        if [ -n "$v" ]; then header="If-None-Match: $v"
        else v=$(echo "$h" | hdr last-modified); [ -n "$v" ] && header="If-Modified-Since: $v"; fi
        if [ -z "$header" ]; then put "$name" S5_note "no ETag or Last-Modified"; log "  S5   $name: no validator"; return; fi
        code=$(curl -s "${SRV_HEADERS[@]}" -o /dev/null --max-time 10 -w '%{http_code}' -H "$header" "$SC_URL")
        put "$name" S5_validator "${header%%:*}"; put "$name" S5_code "$code";;
    S6) put "$name" S6_code "$(curl -s "${SRV_HEADERS[@]}" -o /dev/null --max-time 10 -w '%{http_code}' "$SC_URL")";;
    C1) # what this server sends a client that accepts br and gzip: its coding, and the body size
        header="Accept-Encoding: br, gzip"
        h=$(curl -s "${SRV_HEADERS[@]}" -D - -o "$RAW/logs/$name-medium.js.body" --max-time 10 -H "$header" "$SC_URL")
        v=$(echo "$h" | hdr content-encoding)
        put "$name" C1_encoding "${v:-identity}"
        put "$name" C1_bytes "$(stat -c %s "$RAW/logs/$name-medium.js.body" 2>/dev/null)";;
    C2) # S4's listing asked for as a browser asks: the coding each server sends it in, and the body size
        header="Accept-Encoding: br, gzip"
        h=$(curl -s "${SRV_HEADERS[@]}" -D - -o "$RAW/logs/$name-listing.body" --max-time 30 -H "$header" "$SC_URL")
        code=$(echo "$h" | awk 'NR==1 {print $2}')
        if [ "$code" != 200 ]; then
          put "$name" C2_note "no listing (HTTP ${code:-none})"; log "  C2   $name: no listing (HTTP ${code:-none})"; return; fi
        v=$(echo "$h" | hdr content-encoding)
        put "$name" C2_encoding "${v:-identity}"
        put "$name" C2_bytes "$(stat -c %s "$RAW/logs/$name-listing.body" 2>/dev/null)";;
  esac
  wait_quiet
  [ "$WARMUP" != 0 ] && run_wrk "$RAW/wrk/$name-$sc-warmup.txt" "$SC_CONNS" "$WARMUP" "$SC_URL" "$header"
  local rps="" mib="" p99="" srv="" wrk="" foreign="" errs="" non="" reqs=0
  for i in $(seq 1 "$ROUNDS"); do
    if over_budget; then put "$name" "${sc}_note" "cut short by MAX_SECONDS after $((i - 1)) rounds"; break; fi
    run_wrk "$RAW/wrk/$name-$sc-r$i.txt" "$SC_CONNS" "$DURATION" "$SC_URL" "$header"
    rps="$rps ${W_RPS:-}"; mib="$mib ${W_MIB:-}"; p99="$p99 ${W_P99:-}"; reqs=$(( reqs + ${W_REQS:-0} ))
    srv="$srv ${W_SRVCPU:-}"; wrk="$wrk ${W_WRKCPU:-}"; foreign="$foreign ${W_FOREIGN:-}"
    [ -n "$W_ERR" ] && errs="$W_ERR"
    [ -n "$W_NON2XX" ] && non="$W_NON2XX"
    alive "$CUR_SRV_SID" || break
  done
  put "$name" "${sc}_rps" "$(echo "$rps" | median)"
  put "$name" "${sc}_mibs" "$(echo "$mib" | median)"
  put "$name" "${sc}_p99_ms" "$(echo "$p99" | median)"
  put "$name" "${sc}_srvcpu" "$(echo "$srv" | median)"
  put "$name" "${sc}_wrkcpu" "$(echo "$wrk" | median)"
  put "$name" "${sc}_foreign" "$(echo "$foreign" | maxof)"
  put "$name" "${sc}_requests" "$reqs"
  [ -n "$errs" ] && put "$name" "${sc}_errors" "$errs"
  [ -n "$non" ] && put "$name" "${sc}_non2xx" "$non"
  log "$(printf '  %-4s %-12s req/s=%-9s MiB/s=%-7s p99=%-8s cpu srv/wrk=%s/%s other=%s %s' "$sc" "$name" \
    "${R[$name,${sc}_rps]}" "${R[$name,${sc}_mibs]}" "${R[$name,${sc}_p99_ms]}ms" "${R[$name,${sc}_srvcpu]}" \
    "${R[$name,${sc}_wrkcpu]}" "${R[$name,${sc}_foreign]}" "${errs:+errors: $errs }${non:+non-2xx/3xx: $non}")"
}

# After a scenario: wait (at most SETTLE_MAX s) until the server answers a small request and uses almost
# no CPU. A slow server may still be working through requests that wrk abandoned when its run ended
# (e.g. listings), and that work must not spill into the next scenario.
settle() {  # $1 server $2 port $3 scenario just run
  local t0 a b n0 n1 c code
  t0=$(date +%s)
  while :; do
    alive "$CUR_SRV_SID" || return 0
    code=$(curl -s "${SRV_HEADERS[@]}" -o /dev/null --max-time 2 -w '%{http_code}' "http://$HOST:$2/small.html")
    a=$(server_ticks); n0=$(ns); sleep 0.3; b=$(server_ticks); n1=$(ns)
    c=$(cores_used "$a" "$b" "$n0" "$n1")
    [ "$code" = 200 ] && awk -v c="${c:-0}" 'BEGIN{exit !(c < 0.2)}' && break
    if [ $(( $(date +%s) - t0 )) -ge "$SETTLE_MAX" ]; then
      put "$1" "${3}_settle" "still busy ${SETTLE_MAX} s after the run (HTTP $code, ${c} cores)"; log "  $1 still busy after $3"; return 0; fi
  done
  local d=$(( $(date +%s) - t0 ))
  [ "$d" -ge 3 ] && put "$1" "${3}_settle" "needed ${d} s after the run to go idle (abandoned requests)"
  return 0
}

run_mem() {  # $1 server $2 port: fresh instance, MEM_CONNS keep-alive connections + MEM_DOWNLOADS slow 64 MiB downloads
  local name=$1 port=$2 out kv k
  start_server "$name" "$port" || { put "$name" MEM_note "failed to start"; return; }
  CUR_SRV_SID=$SRV_PID
  sleep 1
  wait_quiet
  out=$(timeout -k 5 $(( MEM_SECONDS * 4 + 120 )) taskset -c "$LOAD_CPU" "$PY_BIN" "$BENCH_DIR/memload.py" \
        --sid "$SRV_PID" --port "$port" --conns "$MEM_CONNS" --downloads "$MEM_DOWNLOADS" --seconds "$MEM_SECONDS" \
        --rate "$MEM_RATE" --cpu "$LOAD_CPU" --out "$RAW/mem/$name" 2> "$RAW/mem/$name.err")
  echo "$out" > "$RAW/mem/$name.txt"
  for kv in $out; do
    k=${kv%%=*}
    case $k in peak_rss_kb|hwm_kb|base_rss_kb|wrk_rps|downloads_ok|download_mibs|rate_mibs|alive|wrk_errors) put "$name" "MEM_$k" "${kv#*=}";; esac
  done
  [ -n "$out" ] || put "$name" MEM_note "helper failed (see $RAW/mem/$name.err)"
  alive "$SRV_PID" || put "$name" MEM_note "server died under MEM load"
  log "  MEM  $name: $out"
  stop_session "$SRV_PID"
  CUR_SRV_SID=""
}

# U1: a fresh instance that accepts PUT (serve-here --upload, nginx's WebDAV location); UPLOAD_ROUNDS
# uploads of one UPLOAD_MIB file with curl -T, each bounded by --max-time, each checked on disk and
# removed. serve-here flushes every upload to disk (fsync) before it answers; nginx does not.
run_upload() {  # $1 server $2 port
  local name=$1 port=$2 i out code secs mibs="" src="$BENCH_WORK/upload-${UPLOAD_MIB}m.bin" dest="$ROOT/uploads"
  case $name in
    serve-here|nginx) ;;
    *) put "$name" U1_note "takes no uploads"; return;;
  esac
  server_argv "$name" "$port" 2>/dev/null || return
  [ "$name" = serve-here ] && SRV_ARGV+=(--upload)
  if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != $((UPLOAD_MIB * 1024 * 1024)) ]; then
    head -c $((UPLOAD_MIB * 1024 * 1024)) /dev/zero > "$src" || { put "$name" U1_note "could not make $src"; return; }
  fi
  rm -rf "$dest"; mkdir -p "$dest"
  start_server "$name" "$port" || { put "$name" U1_note "failed to start"; return; }
  CUR_SRV_SID=$SRV_PID
  sleep 1
  wait_quiet
  for i in $(seq 1 "$UPLOAD_ROUNDS"); do
    if over_budget; then put "$name" U1_note "cut short by MAX_SECONDS after $((i - 1)) uploads"; break; fi
    out=$(taskset -c "$LOAD_CPU" curl -sS -o /dev/null --max-time "$UPLOAD_TIMEOUT" -T "$src" -w '%{http_code} %{time_total}' \
          "http://$HOST:$port/uploads/u1-$i.bin" 2>> "$RAW/logs/$name-upload.err")
    echo "$out" >> "$RAW/logs/$name-upload.txt"
    code=${out%% *}; secs=${out##* }
    case $code in
      201|204) ;;
      *) put "$name" U1_note "PUT answered HTTP ${code:-none} (upload $i; see raw logs/$name-upload.err)"; break;;
    esac
    if [ "$(stat -c %s "$dest/u1-$i.bin" 2>/dev/null)" != "$(stat -c %s "$src")" ]; then
      put "$name" U1_note "upload $i: the stored file has the wrong size"; break
    fi
    mibs="$mibs $(awk -v m="$UPLOAD_MIB" -v s="$secs" 'BEGIN{ if (s > 0) printf "%.1f", m / s }')"
    rm -f "$dest/u1-$i.bin"
  done
  put "$name" U1_mibs "$(echo "$mibs" | median)"
  put "$name" U1_hwm_kb "$(session_hwm_kb "$SRV_PID")"
  log "  U1   $name: MiB/s=$(echo "$mibs" | median) (each:$mibs) peak RSS ${R[$name,U1_hwm_kb]} KiB"
  stop_session "$SRV_PID"
  CUR_SRV_SID=""
  rm -rf "$dest"
}

# ---------------------------------------------------------------- main loop
[ -n "${EXTRA_CMD:-}" ] && [ -n "$TABLE" ] && case " $SERVERS " in *" ${EXTRA_NAME:-extra} "*) ;; *) SERVERS="$SERVERS ${EXTRA_NAME:-extra}";; esac
log "# serve-here benchmark $STAMP: servers: $SERVERS; scenarios: $SCENARIOS"
log "  DURATION=${DURATION}s ROUNDS=$ROUNDS WARMUP=${WARMUP}s CONNS=$CONNS START_ROUNDS=$START_ROUNDS MAX_SECONDS=$MAX_SECONDS; raw output in $RAW"
# The runtime's own start-up, timed as the servers' are (spawned on SERVER_CPU by the helper on
# LOAD_CPU), to the process's exit: what a Node server's start-up is read against.
if [ "$START_ROUNDS" -gt 0 ] && [ -n "$TABLE" ]; then
  wait_quiet
  out=$(timeout -k 5 $(( START_ROUNDS * (STARTUP_TIMEOUT + 10) )) taskset -c "$LOAD_CPU" "$PY_BIN" "$BENCH_DIR/startup.py" \
        --exit --rounds "$START_ROUNDS" --cpu "$SERVER_CPU" --timeout "$STARTUP_TIMEOUT" -- "$NODE_BIN" -e 0)
  case $out in
    median_ms=*) for kv in $out; do meta "node_e0_${kv%%=*}" "${kv#*=}"; done;;
    *) meta node_e0_note "${out#error=}";;
  esac
  log "  start node -e 0: $out"
fi

idx=0
for name in $SERVERS; do
  idx=$((idx + 1)); port=$((BASE_PORT + idx))
  echo "$name" >> "$RAW/servers.txt"
  if over_budget; then put "$name" note "skipped: MAX_SECONDS budget spent"; continue; fi
  server_argv "$name" "$port" 2> "$RAW/logs/$name.why" || { put "$name" note "not run: $(cat "$RAW/logs/$name.why")"; log "== $name: not run"; continue; }
  server_headers "$name"
  log "== $name on :$port  (${SRV_ARGV[*]})"
  printf '%q ' "${SRV_ARGV[@]}" > "$RAW/logs/$name.cmd"

  # start-up time: median of START_ROUNDS starts, measured by a helper on the load CPU
  if [ "$START_ROUNDS" -gt 0 ] && ! is_variant "$name"; then
    wait_quiet
    out=$(timeout -k 5 $(( START_ROUNDS * (STARTUP_TIMEOUT + 10) )) taskset -c "$LOAD_CPU" "$PY_BIN" "$BENCH_DIR/startup.py" \
          --port "$port" --rounds "$START_ROUNDS" --cpu "$SERVER_CPU" --timeout "$STARTUP_TIMEOUT" \
          --log "$RAW/logs/$name-startup.log" -- "${SRV_ARGV[@]}")
    echo "$out" > "$RAW/logs/$name-startup.txt"
    case $out in
      median_ms=*) for kv in $out; do put "$name" "start_${kv%%=*}" "${kv#*=}"; done;;
      *) put "$name" start_note "${out#error=}";;
    esac
    log "  start $name: $out"
  fi

  if ! start_server "$name" "$port"; then
    put "$name" note "failed to start (see logs/$name.log)"
    [ -n "$SRV_PID" ] && stop_session "$SRV_PID"
    continue
  fi
  CUR_SRV_SID=$SRV_PID
  sleep 1
  put "$name" idle_rss_kb "$(session_rss_kb "$SRV_PID")"
  log "  idle RSS ${R[$name,idle_rss_kb]} KiB"
  for sc in $(scenarios_for "$name"); do
    [ "$sc" = MEM ] || [ "$sc" = U1 ] && continue
    [ "$sc" = Z1 ] && continue  # after the loop, by bench/zip.sh
    [ "$sc" = W1 ] && continue  # after the loop, by bench/workers.sh
    [ "$sc" = L1 ] && continue  # after the loop, by bench/huge.sh
    case $sc in H1|H2|H3) continue;; esac  # after the loop, by bench/h2.sh
    case $sc in D1|D2|D3) continue;; esac  # after the loop, by bench/dav.sh
    if over_budget; then put "$name" "${sc}_note" "skipped: MAX_SECONDS budget spent"; continue; fi
    run_scenario "$name" "$port" "$sc"
    settle "$name" "$port" "$sc"
    if ! alive "$SRV_PID"; then
      # died under load: say so, and restart it so that the other scenarios still run
      log "  !! $name died during $sc; restarting"
      put "$name" "${sc}_note" "server crashed during this scenario (see raw logs/$name.log)"
      stop_session "$SRV_PID"
      start_server "$name" "$port" || { put "$name" note "restart after a crash failed"; break; }
      CUR_SRV_SID=$SRV_PID; sleep 1
    fi
  done
  [ -n "$SRV_PID" ] && stop_session "$SRV_PID"
  CUR_SRV_SID=""

  case " $(scenarios_for "$name") " in
    *" MEM "*) if over_budget; then put "$name" MEM_note "skipped: MAX_SECONDS budget spent"; else run_mem "$name" "$port"; fi;;
  esac
  case " $(scenarios_for "$name") " in
    *" U1 "*) if over_budget; then put "$name" U1_note "skipped: MAX_SECONDS budget spent"; else run_upload "$name" "$port"; fi;;
  esac
done

cleanup
# Z1 (folders as zip) has figures of serve-here's own, in a section of its own after the table.
if [[ " $SCENARIOS " == *" Z1 "* ]]; then
  if over_budget; then echo "Z1 skipped: MAX_SECONDS budget spent" > "$RAW/zip.md"
  else wait_quiet; BENCH_WORK="$BENCH_WORK" NODE_BIN="$NODE_BIN" SERVER_CPU="$SERVER_CPU" LOAD_CPU="$LOAD_CPU" ZIP_PORT=$((BASE_PORT + 99)) \
    timeout -k 10 600 bash "$BENCH_DIR/zip.sh" > "$RAW/zip.md" 2> "$RAW/logs/zip.log" || echo "Z1 failed (see logs/zip.log)" >> "$RAW/zip.md"; fi
fi
# W1 (every core) runs its three servers unpinned, in a section of its own after the table.
if [[ " $SCENARIOS " == *" W1 "* ]]; then
  if over_budget; then echo "W1 skipped: MAX_SECONDS budget spent" > "$RAW/workers.md"
  else wait_quiet; BENCH_WORK="$BENCH_WORK" NODE_BIN="$NODE_BIN" LOAD_CPU="$LOAD_CPU" DURATION="$DURATION" ROUNDS="$ROUNDS" WARMUP="$WARMUP" CONNS="$CONNS" W1_PORT=$((BASE_PORT + 98)) \
    timeout -k 10 $(( ROUNDS * (DURATION + 25) * 3 + 120 )) bash "$BENCH_DIR/workers.sh" > "$RAW/workers.md" 2> "$RAW/logs/workers.log" || echo "W1 failed (see logs/workers.log)" >> "$RAW/workers.md"; fi
fi
# L1 (a 100,000-entry folder) has serve-here's first page beside nginx's whole autoindex, in a section of its own.
if [[ " $SCENARIOS " == *" L1 "* ]]; then
  if over_budget; then echo "L1 skipped: MAX_SECONDS budget spent" > "$RAW/huge.md"
  else wait_quiet; BENCH_WORK="$BENCH_WORK" NODE_BIN="$NODE_BIN" SERVER_CPU="$SERVER_CPU" LOAD_CPU="$LOAD_CPU" DURATION="$DURATION" ROUNDS="$ROUNDS" L1_PORT=$((BASE_PORT + 96)) \
    timeout -k 10 $(( ROUNDS * (DURATION + 35) * 2 + 180 )) bash "$BENCH_DIR/huge.sh" > "$RAW/huge.md" 2> "$RAW/logs/huge.log" || echo "L1 failed (see logs/huge.log)" >> "$RAW/huge.md"; fi
fi
# H1-H3 (HTTP/2 over TLS) start their own three servers and write h2.tsv, which report.py turns into a section.
if [ -n "$H_SCENARIOS" ]; then
  if over_budget; then printf '_\tnote\tskipped: MAX_SECONDS budget spent\n' > "$RAW/h2.tsv"
  else wait_quiet; H_RAW="$RAW" H_SCENARIOS="${H_SCENARIOS# }" BENCH_WORK="$BENCH_WORK" NODE_BIN="$NODE_BIN" SERVER_CPU="$SERVER_CPU" LOAD_CPU="$LOAD_CPU" \
    DURATION="$DURATION" ROUNDS="$ROUNDS" WARMUP="$WARMUP" QUIET_CORES="$QUIET_CORES" H_PORT=$((BASE_PORT + 90)) \
    timeout -k 10 $(( 300 + 6 * (WARMUP + 30 + ROUNDS * (DURATION + 30)) + 5 * (${H3_ROUNDS:-5} + 1) * 75 )) bash "$BENCH_DIR/h2.sh" 2> "$RAW/logs/h2.log" \
    || printf '_\tnote\tthe H group failed (see logs/h2.log)\n' >> "$RAW/h2.tsv"; fi
fi
# D1-D3 (WebDAV) start serve-here and Apache mod_dav_fs and write dav.tsv, which report.py turns into a section.
if [ -n "$D_SCENARIOS" ]; then
  if over_budget; then printf '_\tnote\tskipped: MAX_SECONDS budget spent\n' > "$RAW/dav.tsv"
  else wait_quiet; D_RAW="$RAW" D_SCENARIOS="${D_SCENARIOS# }" BENCH_WORK="$BENCH_WORK" NODE_BIN="$NODE_BIN" SERVER_CPU="$SERVER_CPU" LOAD_CPU="$LOAD_CPU" \
    DURATION="$DURATION" ROUNDS="$ROUNDS" WARMUP="$WARMUP" LIST_CONNS="$LIST_CONNS" QUIET_CORES="$QUIET_CORES" D_PORT=$((BASE_PORT + 80)) \
    timeout -k 10 $(( 300 + 4 * (WARMUP + (ROUNDS + 1) * (DURATION + 35)) + 2 * (${D2_ROUNDS:-3} + 1) * (${D2_MAX_TIME:-180} + 15) )) bash "$BENCH_DIR/dav.sh" 2> "$RAW/logs/dav.log" \
    || printf '_\tnote\tthe D group failed (see logs/dav.log)\n' >> "$RAW/dav.tsv"; fi
fi
# T1-T2 (resumable uploads, tus) start their own serve-here and print a section of their own.
if [ -n "$T_SCENARIOS" ]; then
  if over_budget; then echo "T skipped: MAX_SECONDS budget spent" > "$RAW/tus.md"
  else wait_quiet; T_RAW="$RAW" T_SCENARIOS="${T_SCENARIOS# }" T_ROUNDS="${T_ROUNDS:-$ROUNDS}" BENCH_WORK="$BENCH_WORK" NODE_BIN="$NODE_BIN" SERVER_CPU="$SERVER_CPU" LOAD_CPU="$LOAD_CPU" \
    QUIET_CORES="$QUIET_CORES" T_PORT=$((BASE_PORT + 60)) T_BUDGET="${T_BUDGET:-900}" \
    timeout -k 10 $(( ${T_BUDGET:-900} + 30 )) bash "$BENCH_DIR/tus.sh" > "$RAW/tus.md" 2> "$RAW/logs/tus.log" || echo "The T group failed (see logs/tus.log)" >> "$RAW/tus.md"; fi
fi
meta elapsed_s "$(elapsed)"
"$PY_BIN" "$BENCH_DIR/report.py" "$RAW" > "$SUMMARY" || die "report failed"
[ -f "$RAW/zip.md" ] && { echo; cat "$RAW/zip.md"; } >> "$SUMMARY"
[ -f "$RAW/workers.md" ] && { echo; cat "$RAW/workers.md"; } >> "$SUMMARY"
[ -f "$RAW/huge.md" ] && { echo; cat "$RAW/huge.md"; } >> "$SUMMARY"
[ -f "$RAW/tus.md" ] && { echo; cat "$RAW/tus.md"; } >> "$SUMMARY"
cp "$SUMMARY" "$RAW/summary.md"
cat "$SUMMARY"
echo
echo "Saved ${SUMMARY#$REPO_DIR/} (raw output in ${RAW#$REPO_DIR/}/); $(elapsed) s in all."
left=""
for i in $(seq 1 "$idx"); do port_busy $((BASE_PORT + i)) && left="$left $((BASE_PORT + i))"; done
[ -n "$left" ] && log "WARNING: ports still listening:$left"
exit 0
