#!/usr/bin/env bash
# Installs what bench/run.sh needs. Safe to run again: it does nothing when everything is in place.
#
# - System tools, from the distribution: wrk (load generator), h2load (nghttp2-client: the HTTP/2 load
#   generator of the H group), nginx (reference server), openssl (the H group's certificate), taskset/setsid
#   (util-linux), curl, python3, ps/pgrep (procps), ss (iproute2), and for the D group (WebDAV) Apache's
#   binary and modules (apache2-bin: no configuration, no service; bench/dav.sh starts it with its own
#   configuration) and rclone. Installed with apt-get when running
#   as root on Debian/Ubuntu; otherwise the script names the missing tools and stops.
# - The Node peers (serve, http-server, sirv-cli), at the exact versions in bench/peers/package.json
#   and package-lock.json, into bench/.peers/ (git-ignored). They are never the project's dependencies.
#
# Env: PEERS_DIR (default bench/.peers).
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS_DIR="${PEERS_DIR:-$BENCH_DIR/.peers}"

# ---------------------------------------------------------------- system tools
declare -A PKG_OF=([wrk]=wrk [h2load]=nghttp2-client [nginx]=nginx [openssl]=openssl [taskset]=util-linux
                   [setsid]=util-linux [curl]=curl [python3]=python3 [ps]=procps [pgrep]=procps [ss]=iproute2
                   [timeout]=coreutils [apache2]=apache2-bin [rclone]=rclone)
missing_pkgs=()
for tool in "${!PKG_OF[@]}"; do
  # nginx and apache2 live in /usr/sbin, which is not on every user's PATH
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing_pkgs+=("${PKG_OF[$tool]}")
done
if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing_pkgs[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing_pkgs[*]}" >&2
    echo "  install them first, e.g.:  sudo apt-get install -y ${missing_pkgs[*]}" >&2
    echo "  (the benchmark needs Linux with at least 2 cores; wrk and nginx come from the distribution)" >&2
    exit 1
  fi
fi

# ---------------------------------------------------------------- Node peers
# Reinstall only when the pinned manifest changed since the last install.
mkdir -p "$PEERS_DIR"
want="$(cat "$BENCH_DIR/peers/package.json" "$BENCH_DIR/peers/package-lock.json" | cksum)"
have="$(cat "$PEERS_DIR/.installed" 2>/dev/null || true)"
if [ "$want" != "$have" ] || [ ! -d "$PEERS_DIR/node_modules" ]; then
  echo "setup: installing the Node peers into $PEERS_DIR" >&2
  cp "$BENCH_DIR/peers/package.json" "$BENCH_DIR/peers/package-lock.json" "$PEERS_DIR/"
  (cd "$PEERS_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$PEERS_DIR/.installed"
fi
cp "$BENCH_DIR/peers/serve.json" "$PEERS_DIR/serve.json"

wrk_v="$( (wrk -v 2>&1 || true) | head -1 | awk '{print $2}')"
ngx_v="$({ command -v nginx >/dev/null && nginx -v; } 2>&1 || /usr/sbin/nginx -v 2>&1)"
h2load_v="$( (h2load --version 2>&1 || true) | head -1 | awk '{print $2}')"
echo "setup: ready (wrk $wrk_v, h2load $h2load_v, ${ngx_v#nginx version: }, peers in $PEERS_DIR)" >&2
