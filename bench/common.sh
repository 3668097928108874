# Sourced by the bench's scenario scripts (zip.sh, huge.sh, workers.sh, ab.sh): the folders, the
# CPUs, the node to run, and the median they all report. Knobs: BENCH_WORK, SERVER_CPU (0),
# LOAD_CPU (1), NODE_BIN.
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
