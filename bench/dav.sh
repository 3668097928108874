#!/usr/bin/env bash
# The D group, WebDAV: serve-here (`--upload --overwrite`) beside Apache 2.4 with mod_dav and mod_dav_fs
# (mpm_event), which this script starts from a configuration it writes into a temporary folder (its own
# pid file, error log, lock database and runtime folder there; never the system's service). Both serve a
# copy of the fixtures' 1000-entry folder `many/` (bench/.work/dav/<server>/many/) and take uploads into
# `up/` beside it. Run by run.sh when SCENARIOS has D1, D2 or D3 (they are in the default list;
# `SCENARIOS="D1 D2 D3" npm run bench` runs only them), or alone: `bash bench/dav.sh` (then it prints the
# summary and saves it as bench/results/<date>-<time>-dav-node<major>.md).
#
#   D1  `PROPFIND /many/` with `Depth: 1` and an allprop body: wrk (a Lua script sets the method, the
#       headers and the body), D1_CONNS connections (LIST_CONNS, 10, like the listing S4), DURATION s,
#       req/s. Checked first with curl: both must answer 207 with 1,001 <response> elements (the folder
#       and its 1,000 files); the body sizes are recorded.
#   D2  `rclone copy` of 1,000 files of 1 to 4 KiB (bench/.work/dav/upload-src/, made once, seeded) up
#       into the empty folder `up/` on each server: rclone's webdav backend, vendor other, configured by
#       environment variables, `--transfers D2_TRANSFERS` (4, rclone's default) on both. Wall time from
#       starting rclone to its exit; files/s = 1,000 ÷ that. Each round checks that the 1,000 files
#       arrived whole, then `up/` is emptied on disk (and `sync`ed) before the next. D2_ROUNDS rounds
#       (3), the servers alternating which goes first; the median. Also the server's CPU time per file.
#       rclone paces its calls (at least 10 ms apart in Debian 12's 1.60, which cannot change it) and
#       makes three per file (MKCOL of the folder, PUT, PROPFIND Depth 0): about 33 files/s at most,
#       to any server. So D2 says whether a server keeps up with rclone; D3 what it can take.
#   D3  rclone's three requests per file without the pacer: wrk with bench/dav-upload.lua, one
#       connection per thread (each sends MKCOL, PUT, PROPFIND in order, as one of rclone's transfers
#       does, every PUT a new file), D2_TRANSFERS connections, DURATION s into an emptied `up/`, files/s
#       and the server's CPU time per file. Runs before D2 and warms the same code for it.
#
# Both servers run at once, each in its own session pinned to SERVER_CPU (the idle one costs nothing), and
# are measured in alternating rounds, so drift over the minutes hits them alike. wrk, curl and rclone run
# on LOAD_CPU. Every run is bounded (wrk -d inside `timeout`, curl --max-time, rclone inside `timeout`),
# on 127.0.0.1 only.
#
# Not like for like on durability (as U1): serve-here flushes each upload to disk (fsync) before it
# answers; mod_dav_fs writes a temporary file and renames it, without a flush.
#
# Output: D_RAW/dav.tsv (server, key, value: report.py makes the section from it) and the raw wrk, curl
# and rclone output in D_RAW/dav/.
# Knobs: DURATION (4), ROUNDS (3), WARMUP (1), D_SCENARIOS (D1 D2 D3), D1_CONNS (LIST_CONNS, 10),
#        D2_ROUNDS (3), D2_WARMUP (one unmeasured round first: 0 when D3 runs, which warms the same code,
#        else 1), D2_TRANSFERS (4, also D3's connections), D2_MAX_TIME (180 s per rclone run), D_PORT
#        (18480; the servers take D_PORT and +1), D_RAW, QUIET_CORES (0.15), QUIET_WAIT (10),
#        QUIET_TOTAL (90), APACHE_BIN, BENCH_WORK, SERVER_CPU, LOAD_CPU, NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PATH="$PATH:/usr/sbin:/sbin"
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-1}"
D_SCENARIOS="${D_SCENARIOS:-D1 D2 D3}"
D1_CONNS="${D1_CONNS:-${LIST_CONNS:-10}}"
D2_ROUNDS="${D2_ROUNDS:-3}"
if [[ " $D_SCENARIOS " == *" D3 "* ]]; then D2_WARMUP="${D2_WARMUP:-0}"; else D2_WARMUP="${D2_WARMUP:-1}"; fi
D2_TRANSFERS="${D2_TRANSFERS:-4}"
D2_MAX_TIME="${D2_MAX_TIME:-180}"
D2_FILES=1000
D_PORT="${D_PORT:-18480}"
APACHE_BIN="${APACHE_BIN:-$(command -v apache2 || echo /usr/sbin/apache2)}"
APACHE_MODULES="${APACHE_MODULES:-/usr/lib/apache2/modules}"
ROOT="$BENCH_WORK/root"
DROOT="$BENCH_WORK/dav"
SRC="$DROOT/upload-src"
ALONE=""
STAMP="$(date -u +%Y-%m-%d-%H%M%S)"
if [ -z "${D_RAW:-}" ]; then
  ALONE=1
  D_RAW="$BENCH_DIR/results/raw/$STAMP-dav"
fi
OUT="$D_RAW/dav"
mkdir -p "$OUT"
: > "$D_RAW/dav.tsv"
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$D_RAW/dav.tsv"; }

for tool in wrk curl rclone taskset setsid python3; do
  command -v "$tool" >/dev/null || { log "dav.sh: $tool is needed (bash bench/setup.sh)"; put _ note "not run: $tool missing"; exit 1; }
done
[ -x "$APACHE_BIN" ] || { log "dav.sh: apache2 is needed (bash bench/setup.sh installs apache2-bin)"; put _ note "not run: apache2 missing"; exit 1; }
for m in mpm_event authz_core mime dav dav_fs; do
  [ -f "$APACHE_MODULES/mod_$m.so" ] || { log "dav.sh: $APACHE_MODULES/mod_$m.so missing"; put _ note "not run: mod_$m missing"; exit 1; }
done

# ---------------------------------------------------------------- fixtures
# Each server gets its own copy of many/ (cp -a keeps names, sizes and mtimes), made once so that
# ETags stay stable, and an empty up/ for D2. The upload source: 1,000 files of 1 to 4 KiB, seeded.
bash "$BENCH_DIR/make_fixtures.sh" "$ROOT" >/dev/null || { put _ note "fixtures failed"; exit 1; }
APACHE_USER=""; APACHE_GROUP=""
if [ "$(id -u)" = 0 ]; then
  # Apache will not serve as root: its children run as www-data (or nobody), which must own its tree.
  if id www-data >/dev/null 2>&1; then APACHE_USER=www-data; APACHE_GROUP=www-data; else APACHE_USER=nobody; APACHE_GROUP=nogroup; fi
fi
for name in serve-here apache; do
  if [ "$(find "$DROOT/$name/many" -maxdepth 1 -type f 2>/dev/null | wc -l)" != 1000 ]; then
    rm -rf "$DROOT/$name" && mkdir -p "$DROOT/$name" && cp -a "$ROOT/many" "$DROOT/$name/many" || { put _ note "could not copy many/"; exit 1; }
  fi
done
if [ -n "$APACHE_USER" ] && [ "$(stat -c %U "$DROOT/apache/many")" != "$APACHE_USER" ]; then
  chown -R "$APACHE_USER:$APACHE_GROUP" "$DROOT/apache"
fi
if [ "$(find "$SRC" -type f 2>/dev/null | wc -l)" != "$D2_FILES" ]; then
  rm -rf "$SRC" && mkdir -p "$SRC"
  python3 - "$SRC" "$D2_FILES" <<'PY' || { put _ note "could not make the upload source"; exit 1; }
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(18)
for i in range(n):
    size = rng.randrange(1024, 4097)
    with open(os.path.join(d, f"doc-{i:04d}.txt"), "wb") as f:
        f.write(bytes(rng.randrange(32, 127) for _ in range(size)))
PY
fi
SRC_BYTES=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}')

# ---------------------------------------------------------------- servers
TMP="$(mktemp -d)"
chmod 755 "$TMP"
declare -A SID=() PORT=()
stop_all() {
  stop_sessions
  [ -f "$TMP/apache/error.log" ] && cp "$TMP/apache/error.log" "$OUT/apache-error.log"
  rm -rf "$TMP"
}
trap stop_all EXIT
trap 'exit 143' TERM INT   # so that the EXIT trap stops the servers when timeout ends this script

# Apache's configuration: the modules it needs and no others, mpm_event with Debian's defaults, no
# access log, keep-alive without a request limit (as the bench's nginx for h2), `Dav On` over its tree.
apache_conf() {  # $1 port -> path of the configuration
  local dir="$TMP/apache"
  mkdir -p "$dir/run" "$dir/lock"
  [ -n "$APACHE_USER" ] && chown "$APACHE_USER:$APACHE_GROUP" "$dir/lock"
  {
    echo "# generated by bench/dav.sh"
    echo "ServerRoot \"$dir\""
    echo "DefaultRuntimeDir \"$dir/run\""
    echo "PidFile \"$dir/apache.pid\""
    echo "ErrorLog \"$dir/error.log\""
    echo "LogLevel warn"
    for m in mpm_event authz_core mime dav dav_fs; do echo "LoadModule ${m}_module \"$APACHE_MODULES/mod_$m.so\""; done
    [ -n "$APACHE_USER" ] && printf 'User %s\nGroup %s\n' "$APACHE_USER" "$APACHE_GROUP"
    [ -f /etc/mime.types ] && echo "TypesConfig /etc/mime.types"
    cat <<EOF
ServerName $HOST
Listen $HOST:$1
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
Timeout 60
DocumentRoot "$DROOT/apache"
DavLockDB "$dir/lock/DavLock"
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory "$DROOT/apache">
  Dav On
  Options None
  AllowOverride None
  Require all granted
</Directory>
EOF
  } > "$dir/apache2.conf"
  echo "$dir/apache2.conf"
}

server_argv() {  # $1 name $2 port -> SRV_ARGV
  case $1 in
    serve-here) SRV_ARGV=("$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$DROOT/serve-here" --port "$2" --host "$HOST" --quiet --upload --overwrite);;
    apache) SRV_ARGV=("$APACHE_BIN" -f "$(apache_conf "$2")" -DFOREGROUND);;
    *) return 1;;
  esac
}

SERVERS=()
idx=0
for name in serve-here apache; do
  port=$((D_PORT + idx)); idx=$((idx + 1))
  server_argv "$name" "$port"
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then log "dav.sh: port $port is busy"; put "$name" note "not run: port $port busy"; continue; fi
  echo "--- $(date -u +%T): ${SRV_ARGV[*]}" >> "$OUT/$name.log"
  setsid taskset -c "$SERVER_CPU" "${SRV_ARGV[@]}" >> "$OUT/$name.log" 2>&1 < /dev/null &
  SID[$name]=$!; PORT[$name]=$port
  up=""
  for _ in $(seq 1 400); do
    code=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "http://$HOST:$port/many/plain-0000.txt")
    [ "$code" = 200 ] && { up=1; break; }
    kill -0 "${SID[$name]}" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$up" ]; then log "dav.sh: $name did not start (see $OUT/$name.log)"; put "$name" note "did not start"; continue; fi
  SERVERS+=("$name")
  log "  D  $name on :$port (${SRV_ARGV[*]})"
done
put _ servers "${SERVERS[*]}"
put _ apache "$("$APACHE_BIN" -v 2>/dev/null | awk -F': *' '/^Server version/{print $2}') (mpm_event, mod_dav, mod_dav_fs)"
put _ rclone "$(rclone version 2>/dev/null | head -1)"
put _ wrk "$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
put _ settings "DURATION=${DURATION}s ROUNDS=$ROUNDS WARMUP=${WARMUP}s D1_CONNS=$D1_CONNS D2_ROUNDS=$D2_ROUNDS D2_WARMUP=$D2_WARMUP D2_TRANSFERS=$D2_TRANSFERS D2_FILES=$D2_FILES SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU"
put _ scenarios "$D_SCENARIOS"
put _ src_bytes "$SRC_BYTES"

# ---------------------------------------------------------------- measuring
foreign_ticks() { python3 "$BENCH_DIR/cputicks.py" "$(ps -o sid= $$ | tr -d ' ')" "${SID[@]}" 2>/dev/null | awk '{print $1}'; }
to_ms() {  # wrk latency like 512.00us, 12.34ms, 1.20s -> ms
  awk -v v="$1" 'BEGIN{ if (v=="") exit; n=v; sub(/[a-z]+$/, "", n); u=v; sub(/^[0-9.]+/, "", u);
    f=1; if(u=="us")f=0.001; else if(u=="s")f=1000; else if(u=="m")f=60000; printf "%.2f", n*f }'
}
median() { [ $# -gt 0 ] && median_of "$@"; }
maxof() { printf '%s\n' "$@" | grep -v '^$' | sort -g | tail -1; }
# the order of the servers in round $1: alternating, so that neither always goes first
order_of() { if [ $(( $1 % 2 )) = 0 ]; then echo "${SERVERS[@]}"; else printf '%s\n' "${SERVERS[@]}" | tac | tr '\n' ' '; fi; }
TESTS_SEEN=()   # scenario/round labels during which the project's test suite was running

# D1: the PROPFIND request, for curl and for wrk
PROPFIND_BODY='<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
cat > "$TMP/propfind.lua" <<EOF
wrk.method = "PROPFIND"
wrk.headers["Depth"] = "1"
wrk.headers["Content-Type"] = 'application/xml; charset="utf-8"'
wrk.body = '$PROPFIND_BODY'
EOF
cp "$TMP/propfind.lua" "$OUT/propfind.lua"

# One wrk run against server $1, raw output to $2, duration $3; sets W_RPS W_P99 W_REQS W_NON2XX W_ERR
# W_SRV W_LOAD W_FOREIGN.
wrk_run() {
  local name=$1 out=$2 secs=$3 a b fa fb t0 t1 TIMEFORMAT='%3U %3S %3R'
  a=$(ticks_of "${SID[$name]}"); fa=$(foreign_ticks); t0=$(ns)
  { time timeout -k 2 $(( secs + 30 )) taskset -c "$LOAD_CPU" wrk -t1 "-c$D1_CONNS" "-d${secs}s" --latency --timeout 30s \
      -s "$TMP/propfind.lua" "http://$HOST:${PORT[$name]}/many/" > "$out" 2>&1 ; } 2> "$out.cpu"
  b=$(ticks_of "${SID[$name]}"); fb=$(foreign_ticks); t1=$(ns)
  W_SRV=$(cores "$a" "$b" "$t0" "$t1"); W_FOREIGN=$(cores "$fa" "$fb" "$t0" "$t1")
  W_LOAD=$(awk '{ if ($3>0) printf "%.2f", ($1+$2)/$3 }' "$out.cpu")
  W_RPS=$(awk '/^Requests\/sec:/{print $2}' "$out")
  W_P99=$(to_ms "$(awk '/Latency Distribution/{d=1} d && $1=="99%"{print $2; exit}' "$out")")
  W_REQS=$(awk '/ requests in /{sub(/,$/, "", $1); print $1; exit}' "$out")
  W_NON2XX=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$out")
  W_ERR=$(grep -o 'Socket errors:.*' "$out" | sed 's/Socket errors: //')
}

run_d1() {
  local name r code n ok=()
  for name in "${SERVERS[@]}"; do
    code=$(taskset -c "$LOAD_CPU" curl -s -X PROPFIND -H 'Depth: 1' -H 'Content-Type: application/xml; charset="utf-8"' \
           --data-binary "$PROPFIND_BODY" -D "$OUT/$name-propfind.headers" -o "$OUT/$name-propfind.xml" --max-time 30 \
           -w '%{http_code}' "http://$HOST:${PORT[$name]}/many/")
    n=$(grep -o '<[A-Za-z0-9_.-]*:response[ >]' "$OUT/$name-propfind.xml" | wc -l)
    put "$name" D1_status "$code"; put "$name" D1_responses "$n"
    put "$name" D1_bytes "$(stat -c %s "$OUT/$name-propfind.xml")"
    log "  D1 $name: HTTP $code, $n responses, $(stat -c %s "$OUT/$name-propfind.xml") bytes"
    if [ "$code" != 207 ]; then put "$name" D1_note "PROPFIND answered HTTP ${code:-none}, not 207: not measured"; continue; fi
    [ "$n" != 1001 ] && put "$name" D1_note "the 207 lists $n responses, not 1,001"
    ok+=("$name")
  done
  [ "${#ok[@]}" -gt 0 ] || return
  declare -A rps=() p99=() srv=() load=() foreign=() non=() errs=()
  wait_quiet
  for name in "${ok[@]}"; do
    [ "$WARMUP" != 0 ] && wrk_run "$name" "$OUT/$name-D1-warmup.txt" "$WARMUP"
  done
  for r in $(seq 1 "$ROUNDS"); do
    tests_running && TESTS_SEEN+=("D1 r$r")
    for name in $(order_of "$r"); do
      [[ " ${ok[*]} " == *" $name "* ]] || continue
      wrk_run "$name" "$OUT/$name-D1-r$r.txt" "$DURATION"
      rps[$name]+=" $W_RPS"; p99[$name]+=" $W_P99"; srv[$name]+=" $W_SRV"; load[$name]+=" $W_LOAD"; foreign[$name]+=" $W_FOREIGN"
      [ -n "$W_NON2XX" ] && non[$name]=$(( ${non[$name]:-0} + W_NON2XX ))
      [ -n "$W_ERR" ] && errs[$name]="$W_ERR"
      log "  D1 r$r $name: req/s=$W_RPS p99=${W_P99}ms requests=$W_REQS cpu srv/wrk=$W_SRV/$W_LOAD other=$W_FOREIGN${W_NON2XX:+ non-2xx=$W_NON2XX}${W_ERR:+ errors: $W_ERR}"
    done
  done
  for name in "${ok[@]}"; do
    put "$name" D1_rps "$(median ${rps[$name]})"; put "$name" D1_rps_each "${rps[$name]# }"
    put "$name" D1_p99_ms "$(median ${p99[$name]})"
    put "$name" D1_srvcpu "$(median ${srv[$name]})"; put "$name" D1_loadcpu "$(median ${load[$name]})"
    put "$name" D1_foreign "$(maxof ${foreign[$name]})"
    [ -n "${non[$name]:-}" ] && put "$name" D1_non2xx "${non[$name]}"
    [ -n "${errs[$name]:-}" ] && put "$name" D1_errors "${errs[$name]}"
  done
}

# D2: one rclone copy of the 1,000 files into server $1's empty up/; raw output to $2. Sets C_S (wall
# seconds), C_RC (rclone's exit), C_OK (files that arrived whole), C_SRV_MS (server CPU), C_CLIENT_MS
# (rclone's CPU), C_FOREIGN.
empty_up() {  # $1 server: up/ emptied on disk, flushed, owned by whoever writes it
  local d="$DROOT/$1/up"
  rm -rf "$d" && mkdir "$d"
  [ "$1" = apache ] && [ -n "$APACHE_USER" ] && chown "$APACHE_USER:$APACHE_GROUP" "$d"
  sync -f "$DROOT" 2>/dev/null || sync
}
rclone_run() {
  local name=$1 out=$2 a b fa fb t0 t1 TIMEFORMAT='%3U %3S %3R'
  empty_up "$name"
  a=$(ticks_of "${SID[$name]}"); fa=$(foreign_ticks); t0=$(ns)
  { time RCLONE_CONFIG="$TMP/rclone.conf" RCLONE_CONFIG_DAVBENCH_TYPE=webdav RCLONE_CONFIG_DAVBENCH_VENDOR=other \
      RCLONE_CONFIG_DAVBENCH_URL="http://$HOST:${PORT[$name]}/" \
      timeout -k 5 $(( D2_MAX_TIME + 5 )) taskset -c "$LOAD_CPU" rclone copy "$SRC" davbench:up \
      --transfers "$D2_TRANSFERS" --retries 1 --low-level-retries 1 --contimeout 10s --timeout 60s \
      --stats 0 --log-level NOTICE --log-file "$out.log" ; } 2> "$out.cpu"
  C_RC=$?
  t1=$(ns); b=$(ticks_of "${SID[$name]}"); fb=$(foreign_ticks)
  C_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.3f", (b-a)/1e9 }')
  C_SRV_MS=$(( (b - a) * 10 )); C_FOREIGN=$(cores "$fa" "$fb" "$t0" "$t1")
  C_CLIENT_MS=$(awk '{ printf "%.0f", ($1+$2)*1000 }' "$out.cpu")
  # whole: every source file is there with its size
  C_OK=$( (cd "$SRC" && find . -type f -printf '%P %s\n') | sort > "$out.want"
          (cd "$DROOT/$name/up" 2>/dev/null && find . -type f -printf '%P %s\n') | sort > "$out.got"
          comm -12 "$out.want" "$out.got" | wc -l)
}

run_d2() {
  local name r first=1 label
  : > "$TMP/rclone.conf"
  declare -A fps=() secs=() srv=() client=() foreign=() bad=()
  wait_quiet
  [ "$D2_WARMUP" = 0 ] && first=1 || first=0
  for r in $(seq "$first" "$D2_ROUNDS"); do
    tests_running && [ "$r" != 0 ] && TESTS_SEEN+=("D2 r$r")
    for name in $(order_of "$r"); do
      rclone_run "$name" "$OUT/$name-D2-r$r"
      label=$([ "$r" = 0 ] && echo "warm-up" || echo "r$r")
      log "  D2 $label $name: ${C_S} s, $C_OK/$D2_FILES files whole, rclone exit $C_RC, server CPU ${C_SRV_MS} ms, rclone CPU ${C_CLIENT_MS} ms, other=$C_FOREIGN"
      if [ "$C_OK" != "$D2_FILES" ] || [ "$C_RC" != 0 ]; then
        bad[$name]="round $r: $C_OK of $D2_FILES files arrived whole, rclone exited $C_RC (raw dav/$name-D2-r$r.log)"
        continue
      fi
      [ "$r" = 0 ] && continue
      fps[$name]+=" $(awk -v n="$D2_FILES" -v s="$C_S" 'BEGIN{ printf "%.1f", n/s }')"; secs[$name]+=" $C_S"
      srv[$name]+=" $(awk -v m="$C_SRV_MS" -v n="$D2_FILES" 'BEGIN{ printf "%.3f", m/n }')"
      client[$name]+=" $(awk -v m="$C_CLIENT_MS" -v n="$D2_FILES" 'BEGIN{ printf "%.3f", m/n }')"; foreign[$name]+=" $C_FOREIGN"
    done
  done
  for name in "${SERVERS[@]}"; do
    [ -n "${fps[$name]:-}" ] && { put "$name" D2_fps "$(median ${fps[$name]})"; put "$name" D2_fps_each "${fps[$name]# }"
      put "$name" D2_s "$(median ${secs[$name]})"; put "$name" D2_srv_ms_per_file "$(median ${srv[$name]})"
      put "$name" D2_client_ms_per_file "$(median ${client[$name]})"; put "$name" D2_foreign "$(maxof ${foreign[$name]})"; }
    [ -n "${bad[$name]:-}" ] && put "$name" D2_note "${bad[$name]}"
    empty_up "$name"
  done
}

# D3: rclone's three requests per file (MKCOL of up/, PUT, PROPFIND Depth 0) without its pacer: wrk with
# bench/dav-upload.lua, one connection per thread (each sends its sequence in order, as one of rclone's
# transfers does), D2_TRANSFERS connections, DURATION s, into an emptied up/; files/s.
run_d3() {
  local name r out a b fa fb t0 t1 secs files badn TIMEFORMAT='%3U %3S %3R'
  declare -A fps=() p99=() srv=() load=() foreign=() bad=() cpf=()
  wait_quiet
  for r in $(seq 0 "$ROUNDS"); do
    [ "$r" = 0 ] && [ "$WARMUP" = 0 ] && continue
    [ "$r" != 0 ] && tests_running && TESTS_SEEN+=("D3 r$r")
    for name in $(order_of "$r"); do
      out="$OUT/$name-D3-$([ "$r" = 0 ] && echo warmup || echo "r$r").txt"
      empty_up "$name"
      a=$(ticks_of "${SID[$name]}"); fa=$(foreign_ticks); t0=$(ns)
      { time timeout -k 2 $(( DURATION + 30 )) taskset -c "$LOAD_CPU" wrk "-t$D2_TRANSFERS" "-c$D2_TRANSFERS" \
          "-d$([ "$r" = 0 ] && echo "$WARMUP" || echo "$DURATION")s" --latency --timeout 30s -s "$BENCH_DIR/dav-upload.lua" \
          "http://$HOST:${PORT[$name]}/" -- /up/ > "$out" 2>&1 ; } 2> "$out.cpu"
      b=$(ticks_of "${SID[$name]}"); fb=$(foreign_ticks); t1=$(ns)
      secs=$(awk '/ requests in /{ v=$4; sub(/,$/, "", v); n=v; sub(/[a-z]+$/, "", n); u=v; sub(/^[0-9.]+/, "", u);
        print (u=="ms" ? n/1000 : (u=="m" ? n*60 : n)); exit }' "$out")
      files=$(awk -F'[= ]' '/^d3_files=/{print $2}' "$out"); badn=$(awk -F'[= ]' '/^d3_files=/{print $4}' "$out")
      local f=$(awk -v n="${files:-0}" -v s="${secs:-0}" 'BEGIN{ if (s>0) printf "%.1f", n/s }')
      local c=$(cores "$a" "$b" "$t0" "$t1") fo=$(cores "$fa" "$fb" "$t0" "$t1")
      local l=$(awk '{ if ($3>0) printf "%.2f", ($1+$2)/$3 }' "$out.cpu")
      local q=$(to_ms "$(awk '/Latency Distribution/{d=1} d && $1=="99%"{print $2; exit}' "$out")")
      # server CPU per file, ms: its ticks over the files completed
      local m=$(awk -v a="$a" -v b="$b" -v n="${files:-0}" 'BEGIN{ if (n>0) printf "%.3f", (b-a)*10/n }')
      log "  D3 $([ "$r" = 0 ] && echo warm-up || echo "r$r") $name: files/s=$f (${files:-?} files, bad answers ${badn:-?}) p99=${q}ms cpu srv/wrk=$c/$l server ms/file=$m other=$fo"
      [ -n "$badn" ] && [ "$badn" != 0 ] && bad[$name]=$(( ${bad[$name]:-0} + badn ))
      [ -z "$files" ] && bad[$name]="${bad[$name]:-0} (no summary from the script in round $r)"
      [ "$r" = 0 ] && continue
      fps[$name]+=" $f"; p99[$name]+=" $q"; srv[$name]+=" $c"; load[$name]+=" $l"; foreign[$name]+=" $fo"; cpf[$name]+=" $m"
    done
  done
  for name in "${SERVERS[@]}"; do
    [ -n "${fps[$name]:-}" ] && { put "$name" D3_fps "$(median ${fps[$name]})"; put "$name" D3_fps_each "${fps[$name]# }"
      put "$name" D3_p99_ms "$(median ${p99[$name]})"; put "$name" D3_srvcpu "$(median ${srv[$name]})"
      put "$name" D3_loadcpu "$(median ${load[$name]})"; put "$name" D3_foreign "$(maxof ${foreign[$name]})"
      put "$name" D3_srv_ms_per_file "$(median ${cpf[$name]})"; }
    [ -n "${bad[$name]:-}" ] && put "$name" D3_note "answers other than MKCOL 405/201, PUT 201/204, PROPFIND 207: ${bad[$name]}"
    empty_up "$name"
  done
}

if [ "${#SERVERS[@]}" -gt 0 ]; then
  tests_running && TESTS_SEEN+=("start")
  [[ " $D_SCENARIOS " == *" D1 "* ]] && run_d1
  [[ " $D_SCENARIOS " == *" D3 "* ]] && run_d3
  [[ " $D_SCENARIOS " == *" D2 "* ]] && run_d2
  tests_running && TESTS_SEEN+=("end")
  put _ tests_seen "${TESTS_SEEN[*]:-}"
  for name in "${SERVERS[@]}"; do kill -0 "${SID[$name]}" 2>/dev/null || put "$name" note "exited during the run (see raw dav/$name.log)"; done
fi
stop_all
trap - EXIT

if [ -n "$ALONE" ]; then
  printf 'date\t%s\ncommit\t%s\nnode\t%s\ncpu\t%s\ncores\t%s\nkernel\t%s\nscenarios\t%s\nraw\t%s\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO_DIR" status --porcelain -- src bin 2>/dev/null)" ] && echo ' (src/ or bin/ modified)')" \
    "$("$NODE_BIN" -v)" "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)" "$(nproc)" "$(uname -sr)" "$D_SCENARIOS" \
    "${D_RAW#$REPO_DIR/}" > "$D_RAW/meta.tsv"
  major=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
  summary="$BENCH_DIR/results/$STAMP-dav-node$major.md"
  python3 "$BENCH_DIR/report.py" "$D_RAW" > "$summary" && cp "$summary" "$D_RAW/summary.md" && cat "$summary"
  log "Saved ${summary#$REPO_DIR/} (raw output in ${D_RAW#$REPO_DIR/}/)"
fi
exit 0
