#!/usr/bin/env bash
# A/B: serve-here with and without some flags, on the 1 KiB file, in interleaved rounds, for a
# difference smaller than the machine's drift (which moves one server by up to ±25% between the
# minutes of `npm run bench`). Both servers run at once, pinned to SERVER_CPU (idle while the other
# is loaded); wrk runs on LOAD_CPU. Each round loads A, then B, for DURATION seconds; the figures
# are medians over the rounds of req/s and of server CPU per request (utime + stime from /proc),
# which drift far less than req/s.
#
#   B_FLAGS='--auth bench:secret' B_HEADER='Authorization: Basic YmVuY2g6c2VjcmV0' bash bench/ab.sh
#
# Knobs: A_FLAGS (""), B_FLAGS, B_HEADER (a header wrk sends to B only), URL_PATH (/small.html),
# ROUNDS (8), DURATION (3), CONNS (50), AB_PORT (18691; B is AB_PORT+1), SERVER_CPU, LOAD_CPU, NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS="${ROUNDS:-8}"
DURATION="${DURATION:-3}"
CONNS="${CONNS:-50}"
AB_PORT="${AB_PORT:-18691}"
URL_PATH="${URL_PATH:-/small.html}"
A_FLAGS="${A_FLAGS:-}"
B_FLAGS="${B_FLAGS:?set B_FLAGS, e.g. --auth user:password}"
B_HEADER="${B_HEADER:-}"
command -v wrk >/dev/null || { echo "ab.sh: wrk is needed (bench/setup.sh)" >&2; exit 1; }
bash "$BENCH_DIR/make_fixtures.sh" "$BENCH_WORK/root" >/dev/null

start() {  # $1 port, $2 flags -> pid
  # shellcheck disable=SC2086  # the flags are words on purpose
  setsid taskset -c "$SERVER_CPU" "$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$BENCH_WORK/root" --port "$1" --host "$HOST" --quiet $2 > /dev/null 2>&1 < /dev/null &
  echo $!
}
A=$(start "$AB_PORT" "$A_FLAGS")
B=$(start $((AB_PORT + 1)) "$B_FLAGS")
trap 'kill -TERM -- "-$A" "-$B" 2>/dev/null' EXIT
for port in "$AB_PORT" $((AB_PORT + 1)); do
  for _ in $(seq 1 200); do curl -s -o /dev/null --max-time 1 "http://$HOST:$port/" && break; sleep 0.05; done
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
round() {  # $1 pid $2 port $3.. wrk header args -> "req/s µs-per-request"
  local pid=$1 port=$2 before after out; shift 2
  before=$(ticks "$pid")
  out=$(timeout -k 5 $((DURATION + 20)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "http://$HOST:$port$URL_PATH" 2>/dev/null)
  after=$(ticks "$pid")
  awk -v t=$((after - before)) -v hz="$tck" '/^Requests\/sec/ {rps=$2} /requests in/ {n=$1} END {printf "%.0f %.1f\n", rps, (n > 0 ? t / hz / n * 1e6 : 0)}' <<< "$out"
}
b_args=(); [ -n "$B_HEADER" ] && b_args=(-H "$B_HEADER")
# one unmeasured round each, to warm both up
round "$A" "$AB_PORT" > /dev/null; round "$B" $((AB_PORT + 1)) "${b_args[@]}" > /dev/null
a_rps=(); a_us=(); b_rps=(); b_us=()
for r in $(seq 1 "$ROUNDS"); do
  read -r rps us < <(round "$A" "$AB_PORT"); a_rps+=("$rps"); a_us+=("$us")
  read -r rps us < <(round "$B" $((AB_PORT + 1)) "${b_args[@]}"); b_rps+=("$rps"); b_us+=("$us")
  echo "  round $r: A ${a_rps[-1]} req/s ${a_us[-1]} µs/req; B ${b_rps[-1]} req/s ${b_us[-1]} µs/req" >&2
done
ma=$(median_of "${a_rps[@]}"); mb=$(median_of "${b_rps[@]}"); ua=$(median_of "${a_us[@]}"); ub=$(median_of "${b_us[@]}")
cat <<MD
### A/B on $URL_PATH (median of $ROUNDS interleaved rounds × ${DURATION} s, $CONNS connections)

| | A: serve-here ${A_FLAGS:-(defaults)} | B: serve-here ${B_FLAGS} | B ÷ A |
|---|---:|---:|---:|
| req/s | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", b/a}') |
| server CPU per request, µs | $ua | $ub | $(awk -v a="$ua" -v b="$ub" 'BEGIN{printf "%.3f", b/a}') |

Node $("$NODE_BIN" --version). Rounds, req/s: A ${a_rps[*]}; B ${b_rps[*]}.
MD
