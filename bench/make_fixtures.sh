#!/usr/bin/env bash
# Builds the benchmark fixture tree (idempotent). Usage: make_fixtures.sh [ROOT]
# Default ROOT: bench/.work/root (git-ignored). Files are only written when missing or of the wrong
# size, so mtimes, and with them ETags, stay stable between runs.
set -euo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.work/root}"
mkdir -p "$ROOT/many"
chmod 755 "$ROOT" "$ROOT/many"
# small.html: exactly 1 KiB of HTML (only written if missing, so mtimes/ETags stay stable)
[ -f "$ROOT/small.html" ] || python3 - "$ROOT/small.html" <<'PY'
import sys
head = "<!doctype html><html><head><meta charset=utf-8><title>small</title></head><body><p>"
tail = "</p></body></html>\n"
fill = 1024 - len(head) - len(tail)
open(sys.argv[1], "w").write(head + ("x" * fill) + tail)
PY
[ -f "$ROOT/medium.bin" ] && [ "$(stat -c %s "$ROOT/medium.bin")" = 102400 ] || head -c 102400 /dev/urandom > "$ROOT/medium.bin"
[ -f "$ROOT/large.bin" ] && [ "$(stat -c %s "$ROOT/large.bin")" = 67108864 ] || head -c 67108864 /dev/urandom > "$ROOT/large.bin"
[ -f "$ROOT/index.html" ] || cat > "$ROOT/index.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><title>bench root</title></head>
<body><h1>bench root</h1><ul><li><a href="small.html">small.html</a></li><li><a href="many/">many/</a></li></ul></body></html>
HTML
# many/: 1000 small files; names mix spaces, unicode, and & < > characters
[ "$(find "$ROOT/many" -type f | wc -l)" = 1000 ] || python3 - "$ROOT/many" <<'PY'
import os, sys
d = sys.argv[1]
pat = [
    "plain-{i:04d}.txt",
    "with space {i:04d}.txt",
    "ünïcödé-{i:04d}-日本語.txt",
    "amp&lt<gt>-{i:04d}.txt",
    "emoji 🎉 {i:04d} a&b.txt",
]
for i in range(1000):
    name = pat[i % len(pat)].format(i=i)
    with open(os.path.join(d, name), "w") as f:
        f.write(f"file {i}: {name}\n")
PY
find "$ROOT" -type f -exec chmod 644 {} +
echo "fixtures ready in $ROOT: $(find "$ROOT/many" -type f | wc -l) files in many/"
