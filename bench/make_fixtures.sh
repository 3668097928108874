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
# medium.js: exactly 100 KiB of JavaScript-like text (seeded, so every run has the same bytes), for
# the compression scenario: about as compressible as real minified-but-not-mangled code.
[ -f "$ROOT/medium.js" ] && [ "$(stat -c %s "$ROOT/medium.js")" = 102400 ] || python3 - "$ROOT/medium.js" <<'PY'
import random, sys
rng = random.Random(20240305)
words = ("value index item list node parent child event target state props config options result error "
         "request response buffer length offset count name path query cache entry handler callback render "
         "update element style width height source format token parse serialize schedule").split()
def ident():
    return rng.choice(words) + rng.choice(["", "s", "Id", "Map", "List", str(rng.randrange(10))]) + (rng.choice(words).capitalize() if rng.random() < 0.5 else "")
lines, size = [], 0
while size < 102400 + 200:
    kind = rng.random()
    if kind < 0.15:
        line = f"export function {ident()}({ident()}, {ident()}) {{"
    elif kind < 0.30:
        line = f"  if ({ident()}.{ident()} === {rng.randrange(1000)} || !{ident()}) return {ident()};"
    elif kind < 0.45:
        line = f"  const {ident()} = {ident()}.{ident()}({ident()}, \"{rng.choice(words)}-{rng.randrange(100000):05d}\");"
    elif kind < 0.55:
        line = f"  for (let i = 0; i < {ident()}.length; i++) {ident()}[i] = {ident()}[i] * {rng.random():.4f};"
    elif kind < 0.65:
        line = f"  // {' '.join(rng.choice(words) for _ in range(rng.randrange(4, 12)))}"
    elif kind < 0.80:
        line = f"  {ident()}.{ident()} = {{ {ident()}: {rng.randrange(100)}, {ident()}: \"{rng.choice(words)}\", {ident()}: {ident()} }};"
    else:
        line = "}"
    lines.append(line)
    size += len(line) + 1
open(sys.argv[1], "w").write(("\n".join(lines) + "\n")[:102400])
PY
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
# only files that need it: chmod moves the ctime, which is part of the ETag and restarts the caches' settling second
find "$ROOT" -type f ! -perm 644 -exec chmod 644 {} +
echo "fixtures ready in $ROOT: $(find "$ROOT/many" -type f | wc -l) files in many/"
