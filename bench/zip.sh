#!/usr/bin/env bash
# Z1, folders as zip: serve-here's own figures only (the peers have no zip downloads). Run by
# run.sh when SCENARIOS includes Z1 (it is not in the default list), or alone: `bash bench/zip.sh`.
#
#   one 1 GiB incompressible file (.bin: stored): the zip of its folder beside the plain download of
#   the file itself, MiB/s, curl to /dev/null;
#   a folder of 1000 small files (make_fixtures.sh's many/): files/s for the zip beside Info-ZIP's
#   `zip -qr - many > /dev/null` on the same folder (no network, no HTTP: a floor for the work).
#
# serve-here runs in its own session pinned to SERVER_CPU, curl and zip on LOAD_CPU; every transfer
# is bounded by curl --max-time (ZIP_MAX_TIME, 60 s). Prints a markdown section on stdout.
# Knobs: ZIP_ROUNDS (3; the median is shown), ZIP_PORT (18499), BENCH_WORK, SERVER_CPU, LOAD_CPU, NODE_BIN.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ZIP_ROUNDS="${ZIP_ROUNDS:-3}"
ZIP_PORT="${ZIP_PORT:-18499}"
ZIP_MAX_TIME="${ZIP_MAX_TIME:-60}"
ZROOT="$BENCH_WORK/zip"
BASE="http://$HOST:$ZIP_PORT"

command -v zip >/dev/null || { log "zip.sh: Info-ZIP's zip is needed (apt-get install zip)"; exit 1; }

# Fixtures, made once: 1 GiB of random bytes, and a copy of the 1000-file folder inside this root.
bash "$BENCH_DIR/make_fixtures.sh" "$BENCH_WORK/root" >/dev/null
mkdir -p "$ZROOT/one"
[ -f "$ZROOT/one/big.bin" ] && [ "$(stat -c %s "$ZROOT/one/big.bin")" = 1073741824 ] || head -c 1073741824 /dev/urandom > "$ZROOT/one/big.bin"
[ -d "$ZROOT/many" ] || cp -a "$BENCH_WORK/root/many" "$ZROOT/many"
files=$(find "$ZROOT/many" -type f | wc -l)

setsid taskset -c "$SERVER_CPU" "$NODE_BIN" "$REPO_DIR/bin/serve-here.js" "$ZROOT" --port "$ZIP_PORT" --host "$HOST" --quiet > /dev/null 2>&1 < /dev/null &
SRV=$!
trap 'kill -TERM -- "-$SRV" 2>/dev/null' EXIT
for _ in $(seq 1 200); do curl -s -o /dev/null --max-time 1 "$BASE/" && break; sleep 0.05; done

# curl on LOAD_CPU: prints "bytes seconds", bounded by --max-time.
fetch() { taskset -c "$LOAD_CPU" curl -s -o /dev/null --max-time "$ZIP_MAX_TIME" -w '%{size_download} %{time_total}\n' "$1"; }
mibs() { awk '{printf "%.0f\n", $1 / 1048576 / $2}'; }

plain=(); zipped=(); many=(); infozip=()
for r in $(seq 1 "$ZIP_ROUNDS"); do
  plain+=("$(fetch "$BASE/one/big.bin" | mibs)")
  zipped+=("$(fetch "$BASE/one/?download=zip" | mibs)")
  many+=("$(fetch "$BASE/many/?download=zip" | awk -v n="$files" '{printf "%.0f\n", n / $2}')")
  t0=$(date +%s%N)
  (cd "$ZROOT" && taskset -c "$LOAD_CPU" zip -qr - many > /dev/null)
  t1=$(date +%s%N)
  infozip+=("$(awk -v n="$files" -v ns=$((t1 - t0)) 'BEGIN{printf "%.0f\n", n / (ns / 1e9)}')")
  log "  Z1 round $r: plain ${plain[-1]} MiB/s, zip ${zipped[-1]} MiB/s, many ${many[-1]} files/s, zip -r ${infozip[-1]} files/s"
done

m() { median_of "$@"; }
cat <<MD
### Z1: folders as zip (serve-here only; median of $ZIP_ROUNDS)

| | figure |
|---|---:|
| 1 GiB incompressible file, plain download, MiB/s | $(m "${plain[@]}") |
| the same file's folder as zip (stored), MiB/s | $(m "${zipped[@]}") |
| folder of $files small files as zip, files/s | $(m "${many[@]}") |
| \`zip -qr - many > /dev/null\` on the same folder, files/s | $(m "${infozip[@]}") |

Node $("$NODE_BIN" --version); zlib.crc32: $("$NODE_BIN" -p 'typeof require("zlib").crc32'). Rounds: plain ${plain[*]}; zip ${zipped[*]}; many ${many[*]}; zip -r ${infozip[*]}.
MD
