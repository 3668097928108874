#!/usr/bin/env bash
# The H group, HTTP/2 over TLS: serve-here (--tls-cert/--tls-key), nginx (`listen … ssl http2`) and the
# h2 fresh floor (bench/nodefloor.mjs --h2 --fresh: node:http2's stream API, one lstat per request, the
# body from memory, nothing else), all three with one certificate/key pair (ECDSA P-256) that openssl
# makes for this run in a temporary folder. Run by run.sh when SCENARIOS has H1, H2 or H3 (they are in
# the default list; `SCENARIOS="H1 H2 H3" npm run bench` runs only them), or alone: `bash bench/h2.sh`.
#
#   H1  1 KiB over h2: `h2load -c 10 -m 10 -D DURATION` on /small.html, req/s.
#   H2  64 MiB over h2: `h2load -c 1 -m 1 -D DURATION` on /large.bin (one download at a time on one
#       connection, as a browser fetches a big file), MiB/s of body bytes received, including a download
#       still under way when the run ends.
#   H3  100 files of 1 MiB (mib/f000.bin … f099.bin, each once): wall time for curl to fetch all 100 as
#       100 streams on one h2 connection, and the same 100 over six HTTP/1.1 connections (TLS too). The
#       same client on both sides: curl --parallel takes the files from one queue, as a browser does
#       (h2load --h1 would make each of its six clients start the list from the top, so fetch files 0–16
#       six times instead of the 100). Wall time from starting curl to its exit, handshakes included.
#       The floor speaks h2 only, so it has no HTTP/1.1 figure.
#
# All three servers run at once, each in its own session pinned to SERVER_CPU (idle ones cost nothing),
# and are measured in alternating rounds (server A, B, C, A, B, C, …), so drift over the minutes hits
# them alike; the figure is the median of the rounds. h2load and curl run on LOAD_CPU, offering only
# TLS_AES_128_GCM_SHA256 (what browsers prefer) so that every server encrypts with the same cipher.
# Every run is bounded (h2load -D inside `timeout`, curl --max-time inside `timeout`), on 127.0.0.1 only.
#
# Output: H_RAW/h2.tsv (server, key, value: report.py makes the table from it) and the raw h2load/curl
# output in H_RAW/h2/. Alone, it makes H_RAW (bench/results/raw/<date>-<time>-h2/) and prints the
# summary on stdout.
# Knobs: DURATION (4), ROUNDS (3), WARMUP (1), H_SCENARIOS (H1 H2 H3), H_SERVERS (serve-here nginx
#        node-floor-h2), H1_CONNS (10), H1_STREAMS (10), H2_CONNS (1), H3_ROUNDS (5), H3_H1_CONNS (6),
#        H3_MAX_TIME (60, curl --max-time), H_PORT (18490; the servers take H_PORT, +1, +2),
#        H_RAW, QUIET_CORES (0.15), QUIET_WAIT (10), QUIET_TOTAL (90), BENCH_WORK, SERVER_CPU, LOAD_CPU, NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PATH="$PATH:/usr/sbin:/sbin"
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-1}"
H_SCENARIOS="${H_SCENARIOS:-H1 H2 H3}"
H_SERVERS="${H_SERVERS:-serve-here nginx node-floor-h2}"
H1_CONNS="${H1_CONNS:-10}"
H1_STREAMS="${H1_STREAMS:-10}"
H2_CONNS="${H2_CONNS:-1}"
H3_ROUNDS="${H3_ROUNDS:-5}"
H3_H1_CONNS="${H3_H1_CONNS:-6}"
H3_MAX_TIME="${H3_MAX_TIME:-60}"
H_PORT="${H_PORT:-18490}"
CIPHER=TLS_AES_128_GCM_SHA256
ROOT="$BENCH_WORK/root"
HROOT="$BENCH_WORK/h2-root"
ALONE=""
if [ -z "${H_RAW:-}" ]; then
  ALONE=1
  H_RAW="$BENCH_DIR/results/raw/$(date -u +%Y-%m-%d-%H%M%S)-h2"
fi
OUT="$H_RAW/h2"
mkdir -p "$OUT"
: > "$H_RAW/h2.tsv"
put() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$H_RAW/h2.tsv"; }

for tool in h2load curl openssl nginx taskset setsid; do
  command -v "$tool" >/dev/null || { log "h2.sh: $tool is needed (bash bench/setup.sh)"; put _ note "not run: $tool missing"; exit 1; }
done

# ---------------------------------------------------------------- fixtures
# h2-root: the table's 1 KiB and 64 MiB files (hard links: the same bytes, inode and ETag), and mib/,
# 100 files of 1 MiB of random bytes, made once so that mtimes and ETags stay stable.
bash "$BENCH_DIR/make_fixtures.sh" "$ROOT" >/dev/null || { put _ note "fixtures failed"; exit 1; }
mkdir -p "$HROOT/mib"
for f in small.html large.bin; do
  [ "$(stat -c %i "$ROOT/$f")" = "$(stat -c %i "$HROOT/$f" 2>/dev/null)" ] || ln -f "$ROOT/$f" "$HROOT/$f" || cp -p "$ROOT/$f" "$HROOT/$f"
done
for i in $(seq -f '%03g' 0 99); do
  [ "$(stat -c %s "$HROOT/mib/f$i.bin" 2>/dev/null)" = 1048576 ] || head -c 1048576 /dev/urandom > "$HROOT/mib/f$i.bin"
done
find "$HROOT" -type f ! -perm 644 -exec chmod 644 {} +

# ---------------------------------------------------------------- certificate, servers
TMP="$(mktemp -d)"
declare -A SID=() PORT=()
stop_all() {
  stop_sessions
  [ -f "$TMP/nginx/error.log" ] && cp "$TMP/nginx/error.log" "$OUT/nginx-error.log"
  rm -rf "$TMP"
}
trap stop_all EXIT
trap 'exit 143' TERM INT   # so that the EXIT trap stops the servers when timeout ends this script
timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2> "$OUT/openssl.log" \
  || { log "h2.sh: openssl could not make the certificate (see $OUT/openssl.log)"; put _ note "openssl failed"; exit 1; }
CERT="$TMP/cert.pem"; KEY="$TMP/key.pem"

source "$BENCH_DIR/nginx-conf.sh"
# keepalive_requests: nginx ends an h2 connection after that many streams (1000 by default), which
# h2load would count as errors; ssl_protocols: 1.22 offers no TLS 1.3 unless told.
NGX_SERVER_LINES="    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;"

server_argv() {  # $1 name $2 port -> SRV_ARGV
  case $1 in
    serve-here) SRV_ARGV=("$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$HROOT" --port "$2" --host "$HOST" --quiet --tls-cert "$CERT" --tls-key "$KEY");;
    nginx) SRV_ARGV=(nginx -e "$TMP/nginx/error.log" -p "$TMP/nginx/" -c "$(nginx_static_conf "$TMP/nginx" "$2" "$HROOT" 1 "" "$NGX_SERVER_LINES" "ssl http2")");;
    node-floor-h2) SRV_ARGV=("$NODE_BIN" "$BENCH_DIR/nodefloor.mjs" "$HROOT" "$2" "$HOST" --h2 --fresh --cert "$CERT" --key "$KEY");;
    *) return 1;;
  esac
}

SERVERS=()
idx=0
for name in $H_SERVERS; do
  port=$((H_PORT + idx)); idx=$((idx + 1))
  server_argv "$name" "$port" || { log "h2.sh: unknown server $name"; put "$name" note "unknown server"; continue; }
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then log "h2.sh: port $port is busy"; put "$name" note "not run: port $port busy"; continue; fi
  echo "--- $(date -u +%T): ${SRV_ARGV[*]}" >> "$OUT/$name.log"
  setsid taskset -c "$SERVER_CPU" "${SRV_ARGV[@]}" >> "$OUT/$name.log" 2>&1 < /dev/null &
  SID[$name]=$!; PORT[$name]=$port
  up=""
  for _ in $(seq 1 400); do
    code=$(curl -s --cacert "$CERT" --http2 -o /dev/null --max-time 1 -w '%{http_code}' "https://$HOST:$port/small.html")
    [ "$code" = 200 ] && { up=1; break; }
    kill -0 "${SID[$name]}" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$up" ]; then log "h2.sh: $name did not start (see $OUT/$name.log)"; put "$name" note "did not start"; continue; fi
  SERVERS+=("$name")
  log "  H  $name on :$port (${SRV_ARGV[*]})"
done
put _ servers "${SERVERS[*]}"
put _ h2load "$(h2load --version 2>&1 | head -1)"
put _ curl "$(curl --version | head -1 | awk '{print $1, $2}')"
put _ settings "DURATION=${DURATION}s ROUNDS=$ROUNDS WARMUP=${WARMUP}s H1_CONNS=$H1_CONNS H1_STREAMS=$H1_STREAMS H2_CONNS=$H2_CONNS H3_ROUNDS=$H3_ROUNDS H3_H1_CONNS=$H3_H1_CONNS SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU cipher=$CIPHER"
put _ scenarios "$H_SCENARIOS"

# ---------------------------------------------------------------- measuring
foreign_ticks() { python3 "$BENCH_DIR/cputicks.py" "$(ps -o sid= $$ | tr -d ' ')" "${SID[@]}" 2>/dev/null | awk '{print $1}'; }
to_ms() {  # 1.45ms, 33us, 1.2s -> ms
  awk -v v="$1" 'BEGIN{ if (v=="") exit; n=v; sub(/[a-z]+$/, "", n); u=v; sub(/^[0-9.]+/, "", u);
    f=1; if(u=="us")f=0.001; else if(u=="s")f=1000; printf "%.3f", n*f }'
}
median() { [ $# -gt 0 ] && median_of "$@"; }
maxof() { printf '%s\n' "$@" | grep -v '^$' | sort -g | tail -1; }

# One h2load run against server $1, raw output to $2, h2load's arguments after; sets
# HL_RPS HL_MIBS HL_MEAN_MS HL_OK HL_BAD HL_NON2XX HL_SRV HL_LOAD HL_FOREIGN.
h2load_run() {
  local name=$1 out=$2 secs; shift 2
  local a b fa fb t0 t1 TIMEFORMAT='%3U %3S %3R'
  a=$(ticks_of "${SID[$name]}"); fa=$(foreign_ticks); t0=$(ns)
  { time timeout -k 2 $(( DURATION + WARMUP + 30 )) taskset -c "$LOAD_CPU" h2load --tls13-ciphers="$CIPHER" "$@" > "$out" 2>&1 ; } 2> "$out.cpu"
  b=$(ticks_of "${SID[$name]}"); fb=$(foreign_ticks); t1=$(ns)
  HL_SRV=$(cores "$a" "$b" "$t0" "$t1"); HL_FOREIGN=$(cores "$fa" "$fb" "$t0" "$t1")
  HL_LOAD=$(awk '{ if ($3>0) printf "%.2f", ($1+$2)/$3 }' "$out.cpu")
  secs=$(awk '/^finished in/{ v=$3; sub(/,$/, "", v); n=v; sub(/[a-z]+$/, "", n); u=v; sub(/^[0-9.]+/, "", u);
    print (u=="ms" ? n/1000 : (u=="us" ? n/1e6 : n)); exit }' "$out")
  HL_RPS=$(awk '/^finished in/{ print $4; exit }' "$out")
  HL_MIBS=$(grep -o '([0-9]*) data' "$out" | tr -d '()' | awk -v s="$secs" '{ if (s>0) printf "%.1f", $1/1048576/s }')
  HL_MEAN_MS=$(to_ms "$(awk '/^time for request:/{ print $6; exit }' "$out")")
  HL_OK=$(awk '/^requests:/{ for (i=1;i<=NF;i++) if ($(i+1) ~ /^succeeded/) print $i }' "$out")
  HL_BAD=$(awk '/^requests:/{ s=0; for (i=1;i<=NF;i++) if ($(i+1) ~ /^(failed|errored|timeout)/) s+=$i; print s }' "$out")
  HL_NON2XX=$(awk '/^status codes:/{ print $5+$7+$9 }' "$out")
  put_once_tls "$name" "$out"
}
declare -A TLS_SEEN=()
put_once_tls() {  # records the protocol, cipher and ALPN that server $1 negotiated, once
  [ -n "${TLS_SEEN[$1]:-}" ] && return
  local p c a
  p=$(awk -F': ' '/^TLS Protocol:/{print $2; exit}' "$2"); c=$(awk -F': ' '/^Cipher:/{print $2; exit}' "$2")
  a=$(awk -F': ' '/^Application protocol:/{print $2; exit}' "$2")
  [ -n "$p" ] && { put "$1" tls "$p $c, ALPN $a"; TLS_SEEN[$1]=1; }
  return 0
}

# H1 and H2: a warm-up run per server, then ROUNDS rounds, each server once per round.
run_h2load_scenario() {  # $1 scenario $2 path; h2load's load arguments after
  local sc=$1 path=$2 name r; shift 2
  declare -A rps=() mibs=() mean=() srv=() load=() foreign=() bad=() non=()
  wait_quiet
  for name in "${SERVERS[@]}"; do
    [ "$WARMUP" != 0 ] && h2load_run "$name" "$OUT/$name-$sc-warmup.txt" "$@" -D "$WARMUP" "https://$HOST:${PORT[$name]}$path"
  done
  for r in $(seq 1 "$ROUNDS"); do
    for name in "${SERVERS[@]}"; do
      h2load_run "$name" "$OUT/$name-$sc-r$r.txt" "$@" -D "$DURATION" "https://$HOST:${PORT[$name]}$path"
      rps[$name]+=" $HL_RPS"; mibs[$name]+=" $HL_MIBS"; mean[$name]+=" $HL_MEAN_MS"; srv[$name]+=" $HL_SRV"
      load[$name]+=" $HL_LOAD"; foreign[$name]+=" $HL_FOREIGN"; bad[$name]=$(( ${bad[$name]:-0} + ${HL_BAD:-0} ))
      non[$name]=$(( ${non[$name]:-0} + ${HL_NON2XX:-0} ))
      log "  $sc r$r $name: req/s=$HL_RPS MiB/s=$HL_MIBS mean=${HL_MEAN_MS}ms ok=$HL_OK bad=$HL_BAD cpu srv/load=$HL_SRV/$HL_LOAD other=$HL_FOREIGN"
    done
  done
  for name in "${SERVERS[@]}"; do
    put "$name" "${sc}_rps" "$(median ${rps[$name]})"; put "$name" "${sc}_rps_each" "${rps[$name]# }"
    put "$name" "${sc}_mibs" "$(median ${mibs[$name]})"; put "$name" "${sc}_mibs_each" "${mibs[$name]# }"
    put "$name" "${sc}_mean_ms" "$(median ${mean[$name]})"
    put "$name" "${sc}_srvcpu" "$(median ${srv[$name]})"; put "$name" "${sc}_loadcpu" "$(median ${load[$name]})"
    put "$name" "${sc}_foreign" "$(maxof ${foreign[$name]})"
    [ "${bad[$name]}" != 0 ] && put "$name" "${sc}_failed" "${bad[$name]}"
    [ "${non[$name]}" != 0 ] && put "$name" "${sc}_non2xx" "${non[$name]}"
  done
}

# H3: curl fetches mib/f000.bin … f099.bin; sets C_MS C_OK C_CONNS C_SRV_MS (server CPU ms).
curl_all() {  # $1 server $2 h2|h1 $3 outfile
  local name=$1 proto=$2 out=$3 a b t0 t1 args
  if [ "$proto" = h2 ]; then args=(--http2 --parallel --parallel-max 100)
  else args=(--http1.1 --parallel --parallel-immediate --parallel-max "$H3_H1_CONNS"); fi
  a=$(ticks_of "${SID[$name]}"); t0=$(ns)
  timeout -k 2 $(( H3_MAX_TIME + 10 )) taskset -c "$LOAD_CPU" curl -s --cacert "$CERT" --tls13-ciphers "$CIPHER" \
    --max-time "$H3_MAX_TIME" "${args[@]}" -w '%{http_code} %{size_download} %{num_connects} %{http_version}\n' \
    -K "$TMP/urls-${PORT[$name]}.cfg" > "$out" 2> "$out.err"
  t1=$(ns); b=$(ticks_of "${SID[$name]}")
  C_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.1f", (b-a)/1e6 }')
  C_SRV_MS=$(( (b - a) * 10 ))
  C_OK=$(awk '$1==200 && $2==1048576' "$out" | wc -l)
  C_CONNS=$(awk '{s+=$3} END{print s+0}' "$out")
}

run_h3() {
  local name r proto out
  declare -A ms=() srv=() conns=() bad=()
  for name in "${SERVERS[@]}"; do
    for i in $(seq -f '%03g' 0 99); do printf 'url = "https://%s:%s/mib/f%s.bin"\noutput = "/dev/null"\n' "$HOST" "${PORT[$name]}" "$i"; done > "$TMP/urls-${PORT[$name]}.cfg"
  done
  wait_quiet
  # r0 warms up (the files into the page cache, each server's code); rounds alternate which side goes first
  for r in $(seq 0 "$H3_ROUNDS"); do
    for name in "${SERVERS[@]}"; do
      for proto in $( [ $((r % 2)) = 0 ] && echo h2 h1 || echo h1 h2 ); do
        [ "$proto" = h1 ] && [ "$name" = node-floor-h2 ] && continue   # the floor speaks h2 only
        out="$OUT/$name-H3-$proto-r$r.txt"
        curl_all "$name" "$proto" "$out"
        log "  H3 r$r $name $proto: ${C_MS} ms, $C_OK/100 complete, $C_CONNS connections, server CPU ${C_SRV_MS} ms"
        [ "$r" = 0 ] && continue
        ms[$name,$proto]+=" $C_MS"; srv[$name,$proto]+=" $C_SRV_MS"; conns[$name,$proto]=$C_CONNS
        [ "$C_OK" != 100 ] && bad[$name,$proto]="only $C_OK of 100 complete in round $r (raw h2/$(basename "$out"))"
      done
    done
  done
  for name in "${SERVERS[@]}"; do
    for proto in h2 h1; do
      [ -n "${ms[$name,$proto]:-}" ] || continue
      put "$name" "H3_${proto}_ms" "$(median ${ms[$name,$proto]})"; put "$name" "H3_${proto}_ms_each" "${ms[$name,$proto]# }"
      put "$name" "H3_${proto}_srv_ms" "$(median ${srv[$name,$proto]})"
      put "$name" "H3_${proto}_conns" "${conns[$name,$proto]}"
      [ -n "${bad[$name,$proto]:-}" ] && put "$name" "H3_${proto}_note" "${bad[$name,$proto]}"
    done
  done
}

if [ "${#SERVERS[@]}" -gt 0 ]; then
  sleep 1
  [[ " $H_SCENARIOS " == *" H1 "* ]] && run_h2load_scenario H1 /small.html -c "$H1_CONNS" -m "$H1_STREAMS"
  [[ " $H_SCENARIOS " == *" H2 "* ]] && run_h2load_scenario H2 /large.bin -c "$H2_CONNS" -m 1
  [[ " $H_SCENARIOS " == *" H3 "* ]] && run_h3
  for name in "${SERVERS[@]}"; do kill -0 "${SID[$name]}" 2>/dev/null || put "$name" note "exited during the run (see raw h2/$name.log)"; done
fi
stop_all
trap - EXIT

if [ -n "$ALONE" ]; then
  printf 'date\t%s\ncommit\t%s\nnode\t%s\nnginx\t%s\ncpu\t%s\ncores\t%s\nkernel\t%s\nscenarios\t%s\nraw\t%s\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO_DIR" status --porcelain -- src bin 2>/dev/null)" ] && echo ' (src/ or bin/ modified)')" \
    "$("$NODE_BIN" -v)" "$(nginx -v 2>&1 | sed 's/^nginx version: //')" \
    "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)" "$(nproc)" "$(uname -sr)" "$H_SCENARIOS" \
    "${H_RAW#$REPO_DIR/}" > "$H_RAW/meta.tsv"
  python3 "$BENCH_DIR/report.py" "$H_RAW"
fi
exit 0
