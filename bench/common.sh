# Sourced by the bench's scenario scripts (zip.sh, huge.sh, workers.sh, ab.sh, dav.sh, h2.sh,
# tus.sh): the folders, the CPUs, the node to run, the median they all report, and the CPU counting
# and waiting for quiet that the peer groups share. Knobs: BENCH_WORK, SERVER_CPU (0), LOAD_CPU (1),
# NODE_BIN, QUIET_CORES (0.15), QUIET_WAIT (10), QUIET_TOTAL (90).
set -uo pipefail
export LC_ALL=C
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
BENCH_WORK="${BENCH_WORK:-$BENCH_DIR/.work}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
NODE_BIN="${NODE_BIN:-$(command -v node)}"
HOST=127.0.0.1

log() { echo "$*" >&2; }
# The median of the arguments (numbers), with one decimal when it falls between two.
median_of() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if(NR%2) print a[(NR+1)/2]; else printf "%.1f\n",(a[NR/2]+a[NR/2+1])/2 }'; }

# Ends every server the script started in a session of its own (SID: name → session id): TERM to
# the whole session, up to 5 s for it to go, then KILL.
stop_sessions() {
  local name pid
  for name in "${!SID[@]}"; do
    pid=${SID[$name]}
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 50); do pgrep -s "$pid" >/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  SID=()
}

# ---------------------------------------------------------------- measuring beside other load
# For the scripts that time servers against each other (dav.sh, h2.sh, tus.sh). Each defines
# foreign_ticks: the CPU ticks of every process but its own and its servers'.
ns() { date +%s%N; }
ticks_of() { python3 "$BENCH_DIR/cputicks.py" --only "$@" 2>/dev/null | awk '{print $1}'; }
# Cores used between two tick counts $1 $2 taken at $3 $4 (ns).
cores() { awk -v a="$1" -v b="$2" -v t0="$3" -v t1="$4" 'BEGIN{ d=(t1-t0)/1e9; if (a=="" || b=="" || d<=0) exit; printf "%.2f", (b-a)/100/d }'; }
# Test runs of the project's own suite (other engineers on this machine) disturb timings: each round
# records whether one was running. The bracket keeps pgrep from matching a command line that quotes it.
tests_running() { pgrep -f 'node --tes[t]' >/dev/null 2>&1; }
QUIET_CORES="${QUIET_CORES:-0.15}"; QUIET_WAIT="${QUIET_WAIT:-10}"; QUIET_TOTAL="${QUIET_TOTAL:-90}"; QUIET_SPENT=0
# Before each scenario: wait (QUIET_WAIT s at most, QUIET_TOTAL s per run) until other processes use
# less than QUIET_CORES; what they used during each round is recorded either way.
wait_quiet() {
  local start a b t0 t1 f
  start=$(date +%s)
  while :; do
    a=$(foreign_ticks); t0=$(ns); sleep 1; b=$(foreign_ticks); t1=$(ns)
    f=$(cores "$a" "$b" "$t0" "$t1")
    awk -v f="${f:-0}" -v q="$QUIET_CORES" 'BEGIN{exit !(f < q)}' && break
    if [ $(( $(date +%s) - start )) -ge "$QUIET_WAIT" ] || [ $(( QUIET_SPENT + $(date +%s) - start )) -ge "$QUIET_TOTAL" ]; then
      log "  other load still ${f} cores; measuring anyway"; break; fi
  done
  QUIET_SPENT=$(( QUIET_SPENT + $(date +%s) - start ))
  return 0
}
