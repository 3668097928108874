#!/usr/bin/env bash
# The T group, resumable uploads (tus 1.0.0, src/tus.ts) against a plain PUT, serve-here only. Run by
# run.sh when SCENARIOS has T1 or T2, or alone: `bash bench/tus.sh` (after `npm run build`).
#
#   T1  one 1 GiB file of random bytes (bench/.work/tus-1024m.bin, made once) uploaded to
#       `serve-here --upload --overwrite` on a fresh root: `curl -T file …/t1.bin` (one PUT) and
#       tus-js-client (bench/tus-upload.mjs: a creation POST, then the whole file in one PATCH, read
#       from the file by a ReadStream, never held in memory; T_CHUNK sets a chunkSize instead).
#       Two more kinds tell the client's share from the server's: the same PUT sent from node:http
#       (a ReadStream piped into the request, 64 KiB reads, as tus-js-client sends: Node as the client
#       without tus), and tus sent by curl (the creation POST, then `curl -X PATCH -T file`: the
#       server's tus work with curl's client). T_ROUNDS rounds, each one upload of each kind, the
#       order rotating (PUT, tus, Node PUT, curl tus; then tus, Node PUT, curl tus, PUT; …); median
#       time and MiB/s, and tus ÷ PUT (issue 19 §4: ≥ 0.8). The time is the client's own, from its
#       first request to the last answer (curl's time_total, the sum of both for curl's tus;
#       tus-js-client's start() to onSuccess: the POST and the PATCH); the wall time of the whole
#       client process (with Node's start-up and tus-js-client's import, about 0.1 s) is given
#       beside it. After each upload the stored file's size is checked (and its sha256, once per
#       kind), then it is deleted and the disk `sync`ed, so the next upload starts with nothing
#       left to write back.
#   T2  the same upload through a proxy in bench/tus-upload.mjs that ends the connection after
#       T_CUT_MIB (300) MiB have gone client → server, once with a clean close (FIN to the server
#       after the bytes: what a client whose Wi-Fi dropped looks like once its TCP session ends) and
#       once with a reset (RST both ways: the server's unread socket buffer is lost); tus-js-client
#       resumes (HEAD, then PATCH from the offset). Bytes counted at the proxy: after the cut, and
#       the remainder the server asked for (length − the HEAD's Upload-Offset); issue 19 §4: after
#       the cut ≤ remainder + 1 MiB. The stored file's sha256 is checked.
#
# serve-here runs in its own session pinned to SERVER_CPU, curl and Node (client and proxy) on
# LOAD_CPU; everything on 127.0.0.1; every upload is bounded (curl --max-time and `timeout`), and a
# watchdog ends the script after T_BUDGET seconds. Before the rounds it waits (QUIET_WAIT s at most)
# for other processes to use less than QUIET_CORES; what they used, and whether the project's test
# suite (`node --test`) was running, is recorded for each upload.
#
# Output: a markdown section on stdout, T_RAW/tus.tsv (key, value) and the raw curl/client output in
# T_RAW/tus/. Alone it makes T_RAW (bench/results/raw/<date>-<time>-tus/), and the section becomes a
# whole results page (machine, commit, versions), also saved as bench/results/<date>-<time>-tus-node<N>.md.
# Knobs: T_SCENARIOS (T1 T2), T_KINDS (put tus nodeput curltus: T1's uploads), T_MIB (1024),
#        T_ROUNDS (3), T_WARMUP (1: one unmeasured upload of each kind first; 0: none), T_CHUNK
#        (empty: one PATCH), T_CUT_MIB (300), T_CUT_MODES (close reset), T_MAX_TIME (300 s per
#        upload), T_PORT (18460), T_BUDGET (900 s), T_RAW, QUIET_CORES (0.15), QUIET_WAIT (10),
#        BENCH_WORK, SERVER_CPU, LOAD_CPU, NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
T_SCENARIOS="${T_SCENARIOS:-T1 T2}"
T_SCENARIOS="${T_SCENARIOS//,/ }"
T_KINDS="${T_KINDS:-put tus nodeput curltus}"
T_MIB="${T_MIB:-1024}"
T_ROUNDS="${T_ROUNDS:-3}"
T_WARMUP="${T_WARMUP:-1}"
T_CHUNK="${T_CHUNK:-}"
T_CUT_MIB="${T_CUT_MIB:-300}"
T_CUT_MODES="${T_CUT_MODES:-close reset}"
T_MAX_TIME="${T_MAX_TIME:-300}"
T_PORT="${T_PORT:-18460}"
T_BUDGET="${T_BUDGET:-900}"
MIB=1048576
SIZE=$((T_MIB * MIB))
SRC="$BENCH_WORK/tus-${T_MIB}m.bin"
BASE="http://$HOST:$T_PORT"
ALONE=""
if [ -z "${T_RAW:-}" ]; then
  ALONE=1
  STAMP="$(date -u +%Y-%m-%d-%H%M%S)"
  T_RAW="$BENCH_DIR/results/raw/$STAMP-tus"
fi
OUT="$T_RAW/tus"
mkdir -p "$OUT"
: > "$T_RAW/tus.tsv"
put() { printf '%s\t%s\n' "$1" "$2" >> "$T_RAW/tus.tsv"; }
fail() { log "tus.sh: $*"; put note "not run: $*"; echo "### T: resumable uploads (tus) beside PUT"; echo; echo "Not run: $*"; exit 1; }

for tool in curl taskset setsid sha256sum python3; do command -v "$tool" >/dev/null || fail "$tool missing"; done
[ -f "$REPO_DIR/dist/src/tus.js" ] || fail "no build (npm run build)"
[ -d "$REPO_DIR/node_modules/tus-js-client" ] || fail "tus-js-client missing (npm ci: it is a dev dependency)"
ss -Hltn "sport = :$T_PORT" 2>/dev/null | grep -q . && fail "port $T_PORT is busy (T_PORT)"

# ---------------------------------------------------------------- the file, the root, the server
# The file is made once (random bytes: nothing compresses or dedups), its sha256 kept beside it.
mkdir -p "$BENCH_WORK"
if [ "$(stat -c %s "$SRC" 2>/dev/null)" != "$SIZE" ]; then
  log "  T  making $SRC ($T_MIB MiB of random bytes)"
  head -c "$SIZE" /dev/urandom > "$SRC.tmp" && mv "$SRC.tmp" "$SRC" || fail "could not make $SRC"
  rm -f "$SRC.sha256"
  timeout 300 sync   # its own write-back must not land in the first uploads
fi
if [ ! -s "$SRC.sha256" ] || [ "$SRC.sha256" -ot "$SRC" ]; then sha256sum "$SRC" | awk '{print $1}' > "$SRC.sha256"; fi
SRC_SHA=$(cat "$SRC.sha256")
cat "$SRC" > /dev/null   # in the page cache, for every upload alike

TROOT="$(mktemp -d "$BENCH_WORK/tus-root.XXXXXX")"   # on the fixtures' disk, not a tmpfs
SRV=""
stop_server() {
  [ -n "$SRV" ] || return 0
  kill -TERM -- "-$SRV" 2>/dev/null
  for _ in $(seq 1 50); do pgrep -s "$SRV" >/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null
  SRV=""
}
WATCHDOG=""
cleanup() { stop_server; rm -rf "$TROOT"; [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null; return 0; }
trap cleanup EXIT
trap 'exit 143' TERM INT   # so that the EXIT trap stops the server when timeout or the watchdog ends this script
( trap 'kill "$s" 2>/dev/null; exit 0' TERM; sleep "$T_BUDGET" & s=$!; wait "$s"
  log "tus.sh: T_BUDGET ($T_BUDGET s) spent, stopping"; kill -TERM $$ 2>/dev/null ) &
WATCHDOG=$!

SRV_ARGV=("$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$TROOT" --port "$T_PORT" --host "$HOST" --quiet --upload --overwrite)
echo "--- $(date -u +%T): ${SRV_ARGV[*]}" >> "$OUT/serve-here.log"
setsid taskset -c "$SERVER_CPU" "${SRV_ARGV[@]}" >> "$OUT/serve-here.log" 2>&1 < /dev/null &
SRV=$!
up=""
for _ in $(seq 1 200); do
  [ "$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$BASE/")" = 200 ] && { up=1; break; }
  kill -0 "$SRV" 2>/dev/null || break
  sleep 0.05
done
[ -n "$up" ] || fail "serve-here did not start (see $OUT/serve-here.log)"
log "  T  serve-here on :$T_PORT (${SRV_ARGV[*]})"

# ---------------------------------------------------------------- measuring
foreign_ticks() { python3 "$BENCH_DIR/cputicks.py" "$(ps -o sid= $$ | tr -d ' ')" "$SRV" 2>/dev/null | awk '{print $1}'; }
mibs_of() { awk -v m="$T_MIB" -v s="$1" 'BEGIN{ if (s > 0) printf "%.1f", m / s }'; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2], {}, {"d": d}); print("" if v is None else v)' "$@" 2>/dev/null; }
# The median, with three decimals when it falls between two (common.sh's median_of keeps one).
median() { [ $# -gt 0 ] && printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (!NR) exit; if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
NOTES=()
clear_stored() {  # $1 name: delete it, flush the disk (bounded)
  rm -f "$TROOT/$1"
  timeout 120 sync
}
# Anything left of an upload beside the stored file: a part, a record or a lock.
leftovers() { find "$TROOT" -maxdepth 1 -name '.serve-here-upload-*' ! -name '.serve-here-upload-tus' 2>/dev/null; find "$TROOT/.serve-here-upload-tus" -type f 2>/dev/null; }

# One upload of kind $1 (put|tus|nodeput), round label $2, sha256 check when $3 = 1. Sets U_SECS (the
# client's own time) U_WALL (the client process's) U_SRV (server CPU s) U_CLI (client CPU s)
# U_FOREIGN (other processes' cores) U_TESTS (1: node --test ran) U_OK (1: stored whole) U_INFO.
upload_once() {
  local kind=$1 label=$2 check=$3 out="$OUT/T1-$1-$2" a b fa fb t0 t1 code TIMEFORMAT='%3U %3S %3R'
  U_TESTS=0; tests_running && U_TESTS=1
  a=$(ticks_of "$SRV"); fa=$(foreign_ticks); t0=$(ns)
  if [ "$kind" = curltus ]; then
    { time timeout -k 2 $(( T_MAX_TIME + 10 )) taskset -c "$LOAD_CPU" bash -c '
        curl -sS -o /dev/null -D "$4.head" --max-time 10 -X POST -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $3" \
          -H "Upload-Metadata: filename $(printf t1.bin | base64)" -w "%{http_code} %{time_total}\n" "$2/" || exit 1
        loc=$(tr -d "\r" < "$4.head" | awk -F": " "tolower(\$1)==\"location\" {print \$2}")
        [ -n "$loc" ] || exit 1
        curl -sS -o /dev/null --max-time "$5" -X PATCH -H "Tus-Resumable: 1.0.0" -H "Upload-Offset: 0" \
          -H "Content-Type: application/offset+octet-stream" -T "$1" -w "%{http_code} %{time_total}\n" "$2$loc"' \
        _ "$SRC" "$BASE" "$SIZE" "$out" "$T_MAX_TIME" > "$out.txt" 2> "$out.err" ; } 2> "$out.cpu"
  elif [ "$kind" = nodeput ]; then
    { time timeout -k 2 $(( T_MAX_TIME + 10 )) taskset -c "$LOAD_CPU" "$NODE_BIN" "$BENCH_DIR/tus-upload.mjs" put --file "$SRC" \
        --url "$BASE/t1.bin" > "$out.json" 2> "$out.err" ; } 2> "$out.cpu"
  elif [ "$kind" = put ]; then
    { time timeout -k 2 $(( T_MAX_TIME + 10 )) taskset -c "$LOAD_CPU" curl -sS -o /dev/null --max-time "$T_MAX_TIME" -T "$SRC" \
        -w '%{http_code} %{time_total} %{size_upload}\n' "$BASE/t1.bin" > "$out.txt" 2> "$out.err" ; } 2> "$out.cpu"
  else
    { time timeout -k 2 $(( T_MAX_TIME + 10 )) taskset -c "$LOAD_CPU" "$NODE_BIN" "$BENCH_DIR/tus-upload.mjs" upload --file "$SRC" \
        --endpoint "$BASE/" --name t1.bin ${T_CHUNK:+--chunk-size "$T_CHUNK"} > "$out.json" 2> "$out.err" ; } 2> "$out.cpu"
  fi
  t1=$(ns); b=$(ticks_of "$SRV"); fb=$(foreign_ticks)
  tests_running && U_TESTS=1
  U_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.3f", (b-a)/1e9 }')
  U_SRV=$(awk -v a="$a" -v b="$b" 'BEGIN{ if (a!="" && b!="") printf "%.2f", (b-a)/100 }')
  U_CLI=$(awk '{ printf "%.2f", $1+$2 }' "$out.cpu")
  U_FOREIGN=$(cores "$fa" "$fb" "$t0" "$t1")
  U_OK=0; U_INFO=""; U_SECS=""
  if [ "$kind" = curltus ]; then
    code=$(awk 'NR==1{c=$1} NR==2{c=c "/" $1} END{print c}' "$out.txt")
    U_SECS=$(awk '{s+=$2} END{ if (NR==2) printf "%.3f", s }' "$out.txt")
    U_INFO="HTTP $code; POST $(awk 'NR==1{printf "%.0f", $2*1000}' "$out.txt") ms, PATCH $(awk 'NR==2{printf "%.0f", $2*1000}' "$out.txt") ms"
    [ "$code" = 201/204 ] || { NOTES+=("T1 tus from curl $label: HTTP ${code:-none} (raw tus/$(basename "$out").err)"); U_SECS=""; }
  elif [ "$kind" = put ]; then
    code=$(awk '{print $1}' "$out.txt")
    U_SECS=$(awk '{printf "%.3f", $2}' "$out.txt")
    U_INFO="HTTP $code"
    case $code in 201|204) ;; *) NOTES+=("T1 PUT $label: HTTP ${code:-none} (raw tus/$(basename "$out").err)"); U_SECS="";; esac
  else
    U_SECS=$(json "$out.json" '"%.3f" % (d["ms"]/1000)')
    local err; err=$(json "$out.json" 'd.get("error")')
    [ -n "$err" ] && { NOTES+=("T1 tus $label: $err"); U_SECS=""; }
    [ -z "$U_SECS" ] && [ -z "$err" ] && { NOTES+=("T1 $kind $label: no result (raw tus/$(basename "$out").err)"); }
    U_INFO=$(json "$out.json" '"; ".join("%s%s %s ms%s" % (r["method"], "" if r.get("offset") is None else " @%d" % r["offset"], round(r.get("endMs",0)-r["startMs"]), "" if "sentMs" not in r else " (answer %d ms after its last byte left)" % round(r["endMs"]-r["sentMs"])) for r in d["requests"]) + "; client peak RSS %d MiB" % (d["rssPeakKiB"]//1024)')
  fi
  local got; got=$(stat -c %s "$TROOT/t1.bin" 2>/dev/null)
  if [ -n "$U_SECS" ] && [ "$got" = "$SIZE" ]; then U_OK=1
  elif [ -n "$U_SECS" ]; then NOTES+=("T1 $kind $label: stored ${got:-no file}, not $SIZE bytes"); U_SECS=""; fi
  if [ "$U_OK" = 1 ] && [ "$check" = 1 ]; then
    local sha; sha=$(sha256sum "$TROOT/t1.bin" | awk '{print $1}')
    if [ "$sha" = "$SRC_SHA" ]; then SHA_OK[$kind]="sha256 identical"; else SHA_OK[$kind]="sha256 DIFFERS"; NOTES+=("T1 $kind $label: stored file's sha256 differs"); U_SECS=""; U_OK=0; fi
  fi
  case $kind in *tus) [ -n "$(leftovers)" ] && NOTES+=("T1 $kind $label: left behind: $(leftovers | tr '\n' ' ')");; esac
  clear_stored t1.bin
  log "  T1 $label $kind: ${U_SECS:-failed} s ($(mibs_of "${U_SECS:-0}") MiB/s), process ${U_WALL} s, server CPU ${U_SRV} s, client CPU ${U_CLI} s, other ${U_FOREIGN} cores$( [ "$U_TESTS" = 1 ] && echo ', node --test running'); $U_INFO"
}

declare -A SHA_OK=([put]="not checked" [tus]="not checked" [nodeput]="not checked" [curltus]="not checked")
declare -A SECS=() WALL=() SRVCPU=() CLICPU=() FOREIGN=() TESTS=() INFO=()
run_t1() {
  local r kind i order kinds=($T_KINDS)
  wait_quiet
  if [ "$T_WARMUP" != 0 ]; then for kind in "${kinds[@]}"; do upload_once "$kind" r0 0; done; fi
  for r in $(seq 1 "$T_ROUNDS"); do
    order=(); for i in "${!kinds[@]}"; do order+=("${kinds[$(( (i + r - 1) % ${#kinds[@]} ))]}"); done
    for kind in "${order[@]}"; do
      upload_once "$kind" "r$r" "$( [ "$r" = 1 ] && echo 1 || echo 0)"
      SECS[$kind]+=" ${U_SECS}"; WALL[$kind]+=" $U_WALL"; SRVCPU[$kind]+=" $U_SRV"; CLICPU[$kind]+=" $U_CLI"
      FOREIGN[$kind]+=" ${U_FOREIGN:-?}"; TESTS[$kind]+=" $U_TESTS"; INFO[$kind,$r]="$U_INFO"
    done
  done
}

# T2: one cut upload per mode. Sets C_* for the summary.
declare -A CUT=()
run_t2() {
  local mode out a b t0 t1 err got sha tests
  wait_quiet
  for mode in $T_CUT_MODES; do
    out="$OUT/T2-$mode"
    tests=0; tests_running && tests=1
    a=$(ticks_of "$SRV"); t0=$(ns)
    timeout -k 2 $(( T_MAX_TIME + 10 )) taskset -c "$LOAD_CPU" "$NODE_BIN" "$BENCH_DIR/tus-upload.mjs" cut --file "$SRC" \
      --server-port "$T_PORT" --name t2.bin --cut-at $((T_CUT_MIB * MIB)) --cut-mode "$mode" \
      ${T_CHUNK:+--chunk-size "$T_CHUNK"} > "$out.json" 2> "$out.err"
    t1=$(ns); b=$(ticks_of "$SRV")
    tests_running && tests=1
    err=$(json "$out.json" 'd.get("error")')
    got=$(stat -c %s "$TROOT/t2.bin" 2>/dev/null)
    sha=""; [ "$got" = "$SIZE" ] && sha=$(sha256sum "$TROOT/t2.bin" | awk '{print $1}')
    CUT[$mode,err]="$err"
    CUT[$mode,stored]="${got:-none}"
    CUT[$mode,sha]=$( [ "$sha" = "$SRC_SHA" ] && echo identical || echo "DIFFERS (${sha:-no file})")
    for k in forwarded beforeCut afterCut keptOffset remainder overRemainder withinRemainderPlus1MiB resumedFrom connections; do
      CUT[$mode,$k]=$(json "$out.json" "d.get('$k')")
    done
    CUT[$mode,secs]=$(json "$out.json" '"%.2f" % (d["ms"]/1000)')
    CUT[$mode,cutms]=$(json "$out.json" 'd["cut"]["atMs"]')
    CUT[$mode,requests]=$(json "$out.json" '"; ".join("%s%s %s" % (r["method"], "" if r.get("offset") is None else " @%d" % r["offset"], r.get("status", r.get("error"))) for r in d["requests"])')
    CUT[$mode,srv]=$(awk -v a="$a" -v b="$b" 'BEGIN{ if (a!="" && b!="") printf "%.2f", (b-a)/100 }')
    CUT[$mode,tests]=$tests
    [ -n "$(leftovers)" ] && NOTES+=("T2 $mode: left behind: $(leftovers | tr '\n' ' ')")
    clear_stored t2.bin
    log "  T2 $mode: ${err:+ERROR $err; }after the cut ${CUT[$mode,afterCut]} bytes, remainder ${CUT[$mode,remainder]} (kept ${CUT[$mode,keptOffset]} of ${CUT[$mode,beforeCut]} passed), over by ${CUT[$mode,overRemainder]}; stored ${CUT[$mode,stored]}, sha256 ${CUT[$mode,sha]}; ${CUT[$mode,requests]}"
  done
}

[[ " $T_SCENARIOS " == *" T1 "* ]] && run_t1
[[ " $T_SCENARIOS " == *" T2 "* ]] && run_t2
kill -0 "$SRV" 2>/dev/null || NOTES+=("serve-here exited during the run (raw tus/serve-here.log)")
stop_server

# ---------------------------------------------------------------- summary
fmt_mib() { awk -v v="$1" 'BEGIN{ printf "%.1f", v / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a>0 && b>0) printf "%.2f", a / b; else printf "–" }'; }
met() { awk -v v="$1" -v t="$2" 'BEGIN{ if (v=="–" || v=="") print "not measured"; else if (v+0 >= t+0) print "met"; else print "not met" }'; }
any_tests() { [[ " $* " == *" 1 "* ]]; }
maxof() { printf '%s\n' "$@" | grep -v '^?$' | grep -v '^$' | sort -g | tail -1; }
how="one PATCH"; [ -n "$T_CHUNK" ] && how="PATCHes of $T_CHUNK bytes"

{
if [ -n "$ALONE" ]; then
  echo "# serve-here benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): resumable uploads (tus)"
  echo
  echo "Machine: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo | sed 's/ [0-9]*-Core Processor//'), $(nproc) cores; $(uname -sr); node $("$NODE_BIN" -v); curl $(curl --version | head -1 | awk '{print $2}'); tus-js-client $("$NODE_BIN" -p 'require("'"$REPO_DIR"'/node_modules/tus-js-client/package.json").version'). serve-here $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$REPO_DIR" status --porcelain -- src bin 2>/dev/null)" ] && echo ' (src/ or bin/ modified)'). Disk: $(df -T "$BENCH_WORK" | awk 'NR==2{print $2 " on " $1}')."
  echo
fi
if [[ " $T_SCENARIOS " == *" T1 "* ]]; then
  declare -A LABEL=([put]="PUT (curl -T)" [tus]="tus (tus-js-client, $how)" [nodeput]="PUT from Node (node:http)" [curltus]="tus from curl (POST, one PATCH)")
  declare -A MED=()
  for kind in put tus nodeput curltus; do MED[$kind]=$(median ${SECS[$kind]:-}); put "T1_${kind}_s" "${MED[$kind]}"; put "T1_${kind}_each" "${SECS[$kind]:-}"; done
  r=$(ratio "${MED[put]}" "${MED[tus]}"); put "T1_ratio" "$r"
  m() { local v; v=$(median $1); echo "${v:-–}"; }
  KLIST=(); for kind in put tus nodeput curltus; do [[ " $T_KINDS " == *" $kind "* ]] && KLIST+=("$kind"); done
  row() {  # $1 label, $2 name of the array (SECS WALL SRVCPU CLICPU) or mibs
    local line="| $1 |" kind v
    for kind in "${KLIST[@]}"; do
      if [ "$2" = mibs ]; then v=$(mibs_of "${MED[$kind]}"); else eval "v=\$(m \"\${$2[$kind]:-}\")"; fi
      line="$line ${v:-–} |"
    done
    echo "$line"
  }
  echo "### T1: a $T_MIB MiB upload, tus beside PUT (serve-here --upload --overwrite; median of $T_ROUNDS)"
  echo
  echo "|$(for kind in "${KLIST[@]}"; do printf ' | %s' "${LABEL[$kind]}"; done) |"
  echo "|---|$(for kind in "${KLIST[@]}"; do printf -- '---:|'; done)"
  row "time, s (the client's first request to its last answer)" SECS
  row "MiB/s" mibs
  row "wall time of the client process, s" WALL
  row "server CPU, s" SRVCPU
  row "client CPU, s (its process, start-up included)" CLICPU
  echo
  beside=""
  [ -n "${MED[nodeput]}" ] && beside="$beside, tus ÷ PUT from Node $(ratio "${MED[nodeput]}" "${MED[tus]}") (the same client without tus)"
  [ -n "${MED[curltus]}" ] && beside="$beside, tus from curl ÷ PUT $(ratio "${MED[put]}" "${MED[curltus]}") (the same server work with curl's client)"
  echo "Target (issue 19 §4): tus ÷ PUT in MiB/s **$r** (target ≥ 0.80: $(met "$r" 0.8)).${beside:+ Beside it, in MiB/s:${beside#,}.}"
  echo
  echo "Rounds (s; the order rotating: $T_KINDS, then shifted by one each round): $(for kind in "${KLIST[@]}"; do printf '%s%s; ' "${LABEL[$kind]}" "${SECS[$kind]:- –}"; done | sed 's/; $//'). Per round, tus ÷ PUT in MiB/s: $(
    a=(${SECS[put]:-}); b=(${SECS[tus]:-}); o=""; for i in "${!b[@]}"; do o="$o $(ratio "${a[$i]:-0}" "${b[$i]}")"; done; echo "${o# }")."
  echo
  echo "Stored size checked after every upload; sha256 of round 1: $(for kind in "${KLIST[@]}"; do printf '%s %s; ' "${LABEL[$kind]}" "${SHA_OK[$kind]}"; done | sed 's/; $//'). tus-js-client's requests, round 1: ${INFO[tus,1]:-–}. Other processes' CPU during each upload (cores): $(for kind in "${KLIST[@]}"; do printf '%s%s; ' "${LABEL[$kind]}" "${FOREIGN[$kind]:-}"; done | sed 's/; $//'); the test suite (node --test) $(any_tests ${TESTS[put]:-} ${TESTS[tus]:-} ${TESTS[nodeput]:-} ${TESTS[curltus]:-} && echo "was running during at least one upload (1 = running: PUT:${TESTS[put]:-}; tus:${TESTS[tus]:-}; PUT from Node:${TESTS[nodeput]:-}; tus from curl:${TESTS[curltus]:-})" || echo "was not running")."
  echo
fi
if [[ " $T_SCENARIOS " == *" T2 "* ]]; then
  echo "### T2: a resumed upload (the same $T_MIB MiB file, the connection ended after $T_CUT_MIB MiB)"
  echo
  echo "| cut | passed before the cut, MiB | kept by the server (HEAD), MiB | remainder, MiB | sent after the cut, MiB | after − remainder, bytes | ≤ remainder + 1 MiB | stored | time, s |"
  echo "|---|---:|---:|---:|---:|---:|---|---|---:|"
  for mode in $T_CUT_MODES; do
    if [ -n "${CUT[$mode,err]}" ] || [ -z "${CUT[$mode,afterCut]}" ]; then
      echo "| $mode | failed: ${CUT[$mode,err]:-no result} | | | | | | | |"; continue; fi
    w=${CUT[$mode,withinRemainderPlus1MiB]}; [ "$w" = True ] && w=yes || w=no
    put "T2_${mode}_after_cut" "${CUT[$mode,afterCut]}"; put "T2_${mode}_remainder" "${CUT[$mode,remainder]}"; put "T2_${mode}_within" "$w"
    label=$mode; [ "$mode" = close ] && label="clean close (FIN)"; [ "$mode" = reset ] && label="reset (RST both ways)"
    echo "| $label | $(fmt_mib "${CUT[$mode,beforeCut]}") | $(fmt_mib "${CUT[$mode,keptOffset]}") | $(fmt_mib "${CUT[$mode,remainder]}") | $(fmt_mib "${CUT[$mode,afterCut]}") | ${CUT[$mode,overRemainder]} | $w | ${CUT[$mode,stored]} bytes, sha256 ${CUT[$mode,sha]} | ${CUT[$mode,secs]} |"
  done
  echo
  for mode in $T_CUT_MODES; do
    [ -n "${CUT[$mode,afterCut]}" ] || continue
    lost=$(( ${CUT[$mode,beforeCut]} - ${CUT[$mode,keptOffset]} ))
    echo "- $mode: of the ${CUT[$mode,beforeCut]} bytes that passed before the cut, the server kept ${CUT[$mode,keptOffset]}; the other $lost are request heads$( [ "$mode" = reset ] && echo " and what the reset threw away from the server's socket buffer") and went again. Requests: ${CUT[$mode,requests]}; ${CUT[$mode,connections]} connections through the proxy; the test suite $( [ "${CUT[$mode,tests]}" = 1 ] && echo was || echo 'was not') running."
  done
  echo
  echo "Target (issue 19 §4): a resumed upload sends at most the remainder plus 1 MiB: $(
    s=""; for mode in $T_CUT_MODES; do w=${CUT[$mode,withinRemainderPlus1MiB]}; s="$s${s:+; }$mode $( [ "$w" = True ] && echo met || echo 'not met')"; done; echo "$s")."
  echo
fi
echo "serve-here pinned to CPU $SERVER_CPU, curl and Node (client, and T2's proxy) to CPU $LOAD_CPU; 127.0.0.1. The root is a fresh folder on the fixtures' disk; the stored file is deleted and the disk \`sync\`ed after each upload. $( [ "$T_WARMUP" != 0 ] && echo 'One unmeasured upload of each kind first.')"
echo
if [ ${#NOTES[@]} -gt 0 ]; then echo "T notes: $(printf '%s; ' "${NOTES[@]}" | sed 's/; $//')."; else echo "T notes: none."; fi
echo
echo "Raw curl and client output: \`${T_RAW#$REPO_DIR/}/\` (not committed)."
} > "$OUT/summary.md"
cat "$OUT/summary.md"
if [ -n "$ALONE" ]; then
  PAGE="$BENCH_DIR/results/$STAMP-tus-node$("$NODE_BIN" -p 'process.versions.node.split(".")[0]').md"
  cp "$OUT/summary.md" "$PAGE"
  log "Saved ${PAGE#$REPO_DIR/} (raw output in ${T_RAW#$REPO_DIR/}/)"
fi
exit 0
