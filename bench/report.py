#!/usr/bin/env python3
"""Turns one run's raw results (results.tsv, meta.tsv, servers.txt in RAW_DIR) into the markdown summary.

Usage: report.py RAW_DIR > summary.md

Every serve-here figure is also given as a ratio to nginx, to the node floor (bare node:http answering
from memory: Node's own ceiling) and to the best Node peer (the best of sirv, serve and http-server for
that row: the highest throughput, or the lowest latency, memory, start-up). Ratios are always
serve-here ÷ peer.
"""
import os
import sys

SUBJECT = "serve-here"
# serve-here with another flag, same build: shown as a column, never counted as a peer.
VARIANTS = {"serve-here-nc": "serve-here --no-compress",
            "serve-here-auth": "serve-here --auth, every request with the right Authorization"}
NODE_PEERS = ["sirv", "serve", "http-server"]
REFERENCE = "nginx"
# bench/nodefloor.mjs: not a file server (no freshness, no checks), so never a peer; a ceiling.
FLOOR = "node-floor"
# bench/nodefloor.mjs --fresh: the same plus the lstat per file and per listing entry that keeps
# every answer fresh: the ceiling of any Node server that is never stale.
FRESH_FLOOR = "node-floor-fresh"

raw = sys.argv[1]
meta = {}
with open(os.path.join(raw, "meta.tsv")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k] = v


def read_tsv(name):
    """server, key, value lines of a raw file (results.tsv, h2.tsv) as {(server, key): value}; {} when absent."""
    out = {}
    if os.path.exists(os.path.join(raw, name)):
        with open(os.path.join(raw, name)) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    out[(parts[0], parts[1])] = parts[2]
    return out


R = read_tsv("results.tsv")
# the H group (bench/h2.sh): its own servers and keys, in a section after the table
H = read_tsv("h2.tsv")
# the D group (bench/dav.sh): WebDAV beside Apache mod_dav_fs, in a section after the table
D = read_tsv("dav.tsv")
servers = []
if os.path.exists(os.path.join(raw, "servers.txt")):
    with open(os.path.join(raw, "servers.txt")) as f:
        for line in f:
            if line.strip() and line.strip() not in servers:
                servers.append(line.strip())
scenarios = meta.get("scenarios", "").split()
settings = dict(kv.split("=", 1) for kv in meta.get("settings", "").split() if "=" in kv)
quiet = float(meta.get("quiet_cores", "0.15"))


def num(server, key, scale=1.0):
    v = table_num(R, server, key)
    return None if v is None else v * scale


def table_num(table, server, key):
    """A number from one of the tables read above (R, H, D), or None when it is missing or not one."""
    try:
        return float(table.get((server, key), ""))
    except ValueError:
        return None


def quotient(a, b):
    """a ÷ b to two places, "–" when either is missing."""
    return f"{a / b:.2f}" if a is not None and b else "–"


def fmt(v, kind):
    if v is None:
        return "–"
    if v == 0:
        return "0"
    if kind == "int":
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


# (label, key, scale, better, format, scenario that must have run)
ROWS = [
    ("S1 1 KiB file, req/s", "S1_rps", 1, "hi", "int", "S1"),
    ("S1 p99 latency, ms", "S1_p99_ms", 1, "lo", "sig", "S1"),
    ("S2 100 KiB file, req/s", "S2_rps", 1, "hi", "int", "S2"),
    ("S2 p99 latency, ms", "S2_p99_ms", 1, "lo", "sig", "S2"),
    ("S3 64 MiB file, MiB/s", "S3_mibs", 1, "hi", "sig", "S3"),
    ("S3 p99 latency, ms", "S3_p99_ms", 1, "lo", "sig", "S3"),
    ("S4 1000-entry listing, req/s", "S4_rps", 1, "hi", "sig", "S4"),
    ("S4 p99 latency, ms", "S4_p99_ms", 1, "lo", "sig", "S4"),
    ("S5 304 revalidation, req/s", "S5_rps", 1, "hi", "int", "S5"),
    ("S5 p99 latency, ms", "S5_p99_ms", 1, "lo", "sig", "S5"),
    ("S6 404, req/s", "S6_rps", 1, "hi", "int", "S6"),
    ("S6 p99 latency, ms", "S6_p99_ms", 1, "lo", "sig", "S6"),
    ("C1 100 KiB JS, br/gzip accepted, req/s", "C1_rps", 1, "hi", "int", "C1"),
    ("C1 p99 latency, ms", "C1_p99_ms", 1, "lo", "sig", "C1"),
    ("C1 body bytes per response", "C1_bytes", 1, "lo", "int", "C1"),
    ("C2 1000-entry listing, br/gzip accepted, req/s", "C2_rps", 1, "hi", "sig", "C2"),
    ("C2 p99 latency, ms", "C2_p99_ms", 1, "lo", "sig", "C2"),
    ("C2 body bytes per response", "C2_bytes", 1, "lo", "int", "C2"),
    ("idle RSS, MiB", "idle_rss_kb", 1 / 1024, "lo", "sig", None),
    ("peak RSS under load (MEM), MiB", "MEM_hwm_kb", 1 / 1024, "lo", "sig", "MEM"),
    (f"U1 {settings.get('UPLOAD_MIB', '?')} MiB PUT upload, MiB/s", "U1_mibs", 1, "hi", "sig", "U1"),
    ("U1 peak RSS while uploading, MiB", "U1_hwm_kb", 1 / 1024, "lo", "sig", "U1"),
    (f"start-up to first answer, ms (median of {settings.get('START_ROUNDS', '?')})", "start_median_ms", 1, "lo", "sig", None),
]
if settings.get("START_ROUNDS") == "0":
    ROWS = [r for r in ROWS if r[1] != "start_median_ms"]
ROWS = [r for r in ROWS if r[5] is None or r[5] in scenarios]


def cell(server, key, scale, kind):
    v = num(server, key, scale)
    text = fmt(v, kind)
    sc = key.split("_")[0]
    if sc in ("S4", "C2") and R.get((server, f"{sc}_note"), "").startswith("no listing"):
        return "no listing"
    if v is None or R.get((server, f"{sc}_requests")) == "0":
        # a reason is in the notes: the server was not run, a scenario failed, nothing completed
        reason = R.get((server, "note")) or R.get((server, f"{sc}_note")) or R.get((server, f"{sc}_requests")) == "0" \
            or (key.startswith("start") and R.get((server, "start_note")))
        return f"{text} ¹" if reason else "–"
    if key == "S5_rps" and R.get((server, "S5_code")) not in (None, "304"):
        text += f" (got {R[(server, 'S5_code')]})"
    if key == "S6_rps" and R.get((server, "S6_code")) not in (None, "404"):
        text += f" (got {R[(server, 'S6_code')]})"
    if R.get((server, f"{sc}_note"), "").startswith("server crashed"):
        text += " ✗"
    return text


def ratio(key, scale, better, other):
    a = num(SUBJECT, key, scale)
    b = num(other, key, scale) if other else None
    if a is None or b is None or b <= 0:
        return "–"
    return f"{a / b:.2f}"


def best_node(key, scale, better):
    vals = [(num(s, key, scale), s) for s in NODE_PEERS if s in servers and num(s, key, scale) is not None]
    vals = [(v, s) for v, s in vals if v > 0]
    if not vals:
        return None
    return (max if better == "hi" else min)(vals)[1]


def _fresh_vs_nginx():
    parts = []
    for sc, key in (("S1", "S1_rps"), ("S4", "S4_rps"), ("S5", "S5_rps"), ("S6", "S6_rps")):
        a, b = num(FRESH_FLOOR, key), num(REFERENCE, key)
        if sc in scenarios and a and b:
            parts.append(f"{sc} {a / b:.2f}")
    return (" Fresh floor ÷ nginx in this run: " + ", ".join(parts) + ".") if parts else ""



# ---------------------------------------------------------------- the H group: HTTP/2 over TLS (bench/h2.sh)
H_SERVERS = ["serve-here", "nginx", "node-floor-h2"]
H_LABEL = {"serve-here": "serve-here", "nginx": "nginx (http2)", "node-floor-h2": "h2 fresh floor"}
# issue 17 §2's targets, all ratios within one run
H_TARGETS = [("H1", "H1 1 KiB: serve-here ÷ h2 fresh floor", "H1_rps", "node-floor-h2", ">=", 0.90),
             ("H2", "H2 64 MiB: serve-here ÷ nginx", "H2_mibs", "nginx", ">=", 0.90)]


def h2_section():
    """The markdown section of the H group, from h2.tsv; [] when the group did not run."""
    if not H:
        return []
    hset = dict(kv.split("=", 1) for kv in H.get(("_", "settings"), "").split() if "=" in kv)
    hsc = H.get(("_", "scenarios"), "H1 H2 H3").split()
    names = [n for n in H_SERVERS if any(k[0] == n for k in H)] + \
        sorted({k[0] for k in H if k[0] not in H_SERVERS and k[0] != "_"})

    def hnum(server, key):
        return table_num(H, server, key)

    hratio = quotient

    h1 = f"{hset.get('H1_CONNS', '?')} connections × {hset.get('H1_STREAMS', '?')} streams"
    rows = [("H1", f"H1 1 KiB over h2, req/s ({h1})", "H1_rps", "int"),
            ("H1", "H1 mean time per request, ms", "H1_mean_ms", "sig"),
            ("H2", f"H2 64 MiB over h2, MiB/s ({hset.get('H2_CONNS', '?')} connection, 1 stream)", "H2_mibs", "sig"),
            ("H3", "H3 100 × 1 MiB, 100 streams on one h2 connection, ms", "H3_h2_ms", "sig"),
            ("H3", f"H3 the same 100 over {hset.get('H3_H1_CONNS', '?')} HTTP/1.1 connections, ms", "H3_h1_ms", "sig")]
    rows = [r for r in rows if r[0] in hsc]
    has = {n: any(k[0] == n and not k[1].startswith(("note", "tls")) for k in H) for n in names}
    cols = [H_LABEL.get(n, n) for n in names] + ["serve-here ÷ nginx", "serve-here ÷ h2 fresh floor"]
    o = []
    w = o.append
    w(f"### H: HTTP/2 over TLS (median of {hset.get('ROUNDS', '?')} × {hset.get('DURATION', '?')}"
      + (f"; H3 median of {hset.get('H3_ROUNDS', '?')}" if "H3" in hsc else "") + ")")
    w("")
    w("| | " + " | ".join(cols) + " |")
    w("|---|" + "---:|" * len(cols))
    for sc, label, key, kind in rows:
        cells = []
        for n in names:
            v = hnum(n, key)
            if v is None:
                cells.append("– (h2 only)" if key == "H3_h1_ms" and n == "node-floor-h2" and has[n] else ("–" if has[n] else "– ¹"))
            else:
                cells.append(fmt(v, kind))
        a = hnum("serve-here", key)
        cells += [hratio(a, hnum("nginx", key)), hratio(a, hnum("node-floor-h2", key))]
        w(f"| {label} | " + " | ".join(cells) + " |")
    if "H3" in hsc:
        cells = [hratio(hnum(n, "H3_h2_ms"), hnum(n, "H3_h1_ms")) for n in names] + ["", ""]
        w("| H3 time over h2 ÷ over HTTP/1.1 (below 1: h2 is faster) | " + " | ".join(cells) + " |")
    w("")
    targets = []
    for sc, what, key, other, op, bound in H_TARGETS:
        a, b = hnum("serve-here", key), hnum(other, key)
        if sc in hsc and a is not None and b:
            r = a / b
            targets.append(f"{what} {r:.2f} (target ≥ {bound:.2f}: {'met' if r >= bound else 'not met'})")
    a, b = hnum("serve-here", "H3_h2_ms"), hnum("serve-here", "H3_h1_ms")
    if "H3" in hsc and a is not None and b:
        targets.append(f"H3: serve-here's 100 streams on one h2 connection take {a / b:.2f}× its time over "
                       f"{hset.get('H3_H1_CONNS', '?')} HTTP/1.1 connections (target ≤ 1.00: {'met' if a <= b else 'not met'})")
    if targets:
        w("Targets (issue 17 §2): " + "; ".join(targets) + ".")
        w("")
    ff, ng = hnum("node-floor-h2", "H1_rps"), hnum("nginx", "H1_rps")
    w("h2load and curl on the load CPU, each server pinned to the server CPU; the three run at once and are measured in "
      "alternating rounds. H1: `h2load -c 10 -m 10 -D` on `/small.html`; H2: `h2load -m 1 -D` on `/large.bin`, body "
      "bytes received per second (a download under way at the end counts); H3: wall time for `curl --parallel` "
      "(same client on both sides) to fetch `mib/f000.bin` … `f099.bin`, from its start to its exit, handshakes "
      "included. The h2 fresh floor is `bench/nodefloor.mjs --h2 --fresh`: node:http2's stream API, one `lstat` per "
      "request, the body from memory, nothing else (it speaks h2 only)."
      + (f" h2 fresh floor ÷ nginx on H1: {ff / ng:.2f}." if ff and ng else ""))
    w("")
    tls = [f"{H_LABEL.get(n, n)} {H[(n, 'tls')]}" for n in names if (n, "tls") in H]
    w(f"TLS, every server with the same ECDSA P-256 certificate made for this run, the client offering only "
      f"{hset.get('cipher', '?')}: " + ("; ".join(tls) if tls else "–") + f". {H.get(('_', 'h2load'), '')}, {H.get(('_', 'curl'), '')}.")
    w("")
    cpu = []
    for n in names:
        parts = []
        for sc in ("H1", "H2"):
            if sc in hsc and (n, f"{sc}_srvcpu") in H:
                parts.append(f"{sc} {H[(n, sc + '_srvcpu')]} / {H.get((n, sc + '_loadcpu'), '?')}")
        for proto, what in (("h2", "h2"), ("h1", "HTTP/1.1")):
            if (n, f"H3_{proto}_srv_ms") in H:
                parts.append(f"H3 {what} {H[(n, f'H3_{proto}_srv_ms')]} ms")
        if parts:
            cpu.append(f"{H_LABEL.get(n, n)}: " + ", ".join(parts))
    if cpu:
        w("Server / load generator CPU in cores (H1, H2), and server CPU time per fetch of the 100 files (H3): "
          + "; ".join(cpu) + ".")
        w("")
    each = []
    for n in names:
        parts = [f"{sc} {H[(n, k)]}" for sc, k in (("H1", "H1_rps_each"), ("H2", "H2_mibs_each"),
                 ("H3 h2", "H3_h2_ms_each"), ("H3 HTTP/1.1", "H3_h1_ms_each")) if (n, k) in H]
        if parts:
            each.append(f"{H_LABEL.get(n, n)}: " + "; ".join(parts))
    if each:
        w("Rounds: " + " — ".join(each) + ".")
        w("")
    notes = [H[("_", "note")]] if ("_", "note") in H else []
    for n in names:
        lab = H_LABEL.get(n, n)
        if (n, "note") in H:
            notes.append(f"{lab}: {H[(n, 'note')]}")
        for sc in ("H1", "H2"):
            if (n, f"{sc}_failed") in H:
                notes.append(f"{lab} {sc}: {H[(n, sc + '_failed')]} requests failed, errored or timed out (h2load)")
            if (n, f"{sc}_non2xx") in H:
                notes.append(f"{lab} {sc}: {H[(n, sc + '_non2xx')]} responses were not 2xx")
            lc, f = hnum(n, f"{sc}_loadcpu"), hnum(n, f"{sc}_foreign")
            if lc is not None and lc >= 0.95:
                notes.append(f"{lab} {sc}: h2load saturated its core ({lc:.2f}); the figure is a lower bound")
            if f is not None and f >= quiet:
                notes.append(f"{lab} {sc}: other processes used up to {f:.2f} cores during a round")
        for proto in ("h2", "h1"):
            if (n, f"H3_{proto}_note") in H:
                notes.append(f"{lab} H3 {'h2' if proto == 'h2' else 'HTTP/1.1'}: {H[(n, f'H3_{proto}_note')]}")
    w("H notes (¹ marks a figure missing for a reason given here): " + ("; ".join(notes) + "." if notes else "none."))
    w("")
    return o


# ---------------------------------------------------------------- the D group: WebDAV (bench/dav.sh)
D_SERVERS = ["serve-here", "apache"]
D_LABEL = {"serve-here": "serve-here", "apache": "Apache mod_dav_fs"}
# issue 18 §5's targets, ratios within one run
# rclone 1.60's webdav backend: its pacer starts a call at most every 10 ms, three calls per file
D2_CEILING = 1 / (3 * 0.010)
D_TARGETS = [("D1", "D1 PROPFIND Depth: 1 on the 1,000-entry folder, req/s", "D1_rps"),
             ("D2", "D2 rclone copy of 1,000 small files up, files/s", "D2_fps")]


def d_section():
    """The markdown section of the D group, from dav.tsv; [] when the group did not run."""
    if not D:
        return []
    dset = dict(kv.split("=", 1) for kv in D.get(("_", "settings"), "").split() if "=" in kv)
    dsc = D.get(("_", "scenarios"), "D1 D2 D3").split()
    names = [n for n in D_SERVERS if any(k[0] == n for k in D)]

    def dnum(server, key):
        return table_num(D, server, key)

    dratio = quotient

    conns, transfers = dset.get("D1_CONNS", "?"), dset.get("D2_TRANSFERS", "?")
    rows = [("D1", f"D1 `PROPFIND /many/`, `Depth: 1`, allprop: 1,000 files, req/s ({conns} connections)", "D1_rps", "sig"),
            ("D1", "D1 p99 latency, ms", "D1_p99_ms", "sig"),
            ("D1", "D1 body bytes (1,001 responses)", "D1_bytes", "int"),
            ("D2", f"D2 `rclone copy` of 1,000 files of 1–4 KiB up, files/s (`--transfers {transfers}`)", "D2_fps", "sig"),
            ("D2", "D2 time, s", "D2_s", "sig"),
            ("D2", "D2 server CPU per file, ms", "D2_srv_ms_per_file", "sig"),
            ("D3", f"D3 rclone's requests without its pacer (MKCOL, PUT, PROPFIND Depth 0 per file), files/s ({transfers} connections)", "D3_fps", "sig"),
            ("D3", "D3 p99 latency, ms", "D3_p99_ms", "sig"),
            ("D3", "D3 server CPU per file, ms", "D3_srv_ms_per_file", "sig")]
    rows = [r for r in rows if r[0] in dsc]
    cols = [D_LABEL.get(n, n) for n in names] + ["serve-here ÷ Apache"]
    o = []
    w = o.append
    how = ([f"{', '.join(sc for sc in ('D1', 'D3') if sc in dsc)}: median of {dset.get('ROUNDS', '?')} × {dset.get('DURATION', '?')}"]
           if "D1" in dsc or "D3" in dsc else []) + ([f"D2: median of {dset.get('D2_ROUNDS', '?')} copies"] if "D2" in dsc else [])
    w("### D: WebDAV beside Apache mod_dav_fs (" + "; ".join(how) + ")")
    w("")
    w("| | " + " | ".join(cols) + " |")
    w("|---|" + "---:|" * len(cols))
    for sc, label, key, kind in rows:
        cells = []
        for n in names:
            v = dnum(n, key)
            cells.append(fmt(v, kind) if v is not None else ("– ¹" if (n, f"{sc}_note") in D or (n, "note") in D else "–"))
        cells.append(dratio(dnum("serve-here", key), dnum("apache", key)))
        w(f"| {label} | " + " | ".join(cells) + " |")
    w("")
    targets = []
    for sc, what, key in D_TARGETS:
        a, b = dnum("serve-here", key), dnum("apache", key)
        if sc in dsc and a is not None and b:
            t = f"{what}: serve-here ÷ Apache {a / b:.2f} (target ≥ 1.00: {'met' if a / b >= 1.0 else 'not met'})"
            # rclone's pacer: calls at least 10 ms apart, three per file, so about 33 files/s at most
            if sc == "D2" and min(a, b) >= 0.85 * D2_CEILING:
                t += (f", both at rclone's own pace (its ceiling is about {D2_CEILING:.0f} files/s), so this ratio says that "
                      "serve-here keeps up with rclone, not that it is as fast as Apache: D3 says that")
            targets.append(t)
    if targets:
        w("Targets (issue 18 §5): " + "; ".join(targets) + ".")
        w("")
    w("wrk and rclone on the load CPU, both servers pinned to the server CPU; the two run at once and are measured in "
      "alternating rounds. serve-here runs `--upload --overwrite`; Apache (mpm_event, Debian's defaults, no access log, "
      "keep-alive without a request limit) has `Dav On` over its own copy of the same folder. D1 checks first that both "
      "answer 207 with 1,001 responses (the folder and its files). D2: wall time of `rclone copy` into an emptied `up/`, "
      "rclone's webdav backend with vendor other, each round checked file by file. rclone spaces its calls at least "
      "10 ms apart (its pacer; the Debian 12 build, 1.60, has no option to change it) and makes three per file (MKCOL "
      "of the folder, PUT, PROPFIND Depth 0), so it cannot copy more than about 33 files/s to any server: D2 says "
      "whether a server keeps up with rclone, the server CPU per file what each file costs it. D3 sends rclone's three "
      "requests per file without the pacer (wrk with `bench/dav-upload.lua`, one connection per transfer, each "
      "sending its requests in order, every PUT a new file), which shows what the server itself can take. Not like for "
      "like on durability (as U1): serve-here flushes each upload to disk (fsync) before it answers, mod_dav_fs "
      "renames its temporary file without a flush.")
    w("")
    checks = []
    for n in names:
        if (n, "D1_status") in D:
            checks.append(f"{D_LABEL.get(n, n)} HTTP {D[(n, 'D1_status')]}, {D.get((n, 'D1_responses'), '?')} responses")
    if checks:
        w("D1 check: " + "; ".join(checks) + f". {D.get(('_', 'apache'), '')}; {D.get(('_', 'rclone'), '')}; wrk {D.get(('_', 'wrk'), '?')}.")
        w("")
    cpu = []
    for n in names:
        parts = [f"{sc} {D[(n, sc + '_srvcpu')]} / {D.get((n, sc + '_loadcpu'), '?')}" for sc in ("D1", "D3") if (n, f"{sc}_srvcpu") in D]
        if (n, "D2_client_ms_per_file") in D:
            parts.append(f"D2 rclone CPU {D[(n, 'D2_client_ms_per_file')]} ms per file")
        if parts:
            cpu.append(f"{D_LABEL.get(n, n)}: " + ", ".join(parts))
    if cpu:
        w("Server / load generator CPU in cores (D1, D3), and rclone's CPU per file (D2): " + "; ".join(cpu) + ".")
        w("")
    each = []
    for n in names:
        parts = [f"{sc} {D[(n, k)]}" for sc, k in (("D1", "D1_rps_each"), ("D2", "D2_fps_each"), ("D3", "D3_fps_each")) if (n, k) in D]
        if parts:
            each.append(f"{D_LABEL.get(n, n)}: " + "; ".join(parts))
    if each:
        w("Rounds: " + " — ".join(each) + ".")
        w("")
    seen = D.get(("_", "tests_seen"), None)
    quiet_sc, busy_sc = [], []
    for sc in ("D1", "D2", "D3"):
        if sc not in dsc or not any((n, f"{sc}_foreign") in D for n in names):
            continue
        f = max((dnum(n, f"{sc}_foreign") or 0) for n in names)
        if f < quiet and not (seen and f" {sc} " in f" {seen} "):
            quiet_sc.append(sc)
        else:
            busy_sc.append(f"{sc} (other processes up to {f:.2f} cores" + (", the test suite running" if seen and f" {sc} " in f" {seen} " else "") + ")")
    if quiet_sc or busy_sc:
        w("Was the machine quiet? " + (f"Yes during {', '.join(quiet_sc)} (other processes under {quiet:.2f} cores, no test run)" if quiet_sc else "")
          + ("; " if quiet_sc and busy_sc else "") + (f"not during {', '.join(busy_sc)}" if busy_sc else "") + ".")
        w("")
    notes = [D[("_", "note")]] if ("_", "note") in D else []
    if seen is not None:
        notes.append(("a test run of the project's suite (`node --test`) was going on at the start of: " + seen) if seen.strip()
                      else "no test run of the project's suite (`node --test`) was seen at the start of any round, nor at the end")
    for n in names:
        lab = D_LABEL.get(n, n)
        if (n, "note") in D:
            notes.append(f"{lab}: {D[(n, 'note')]}")
        for sc in ("D1", "D2", "D3"):
            if (n, f"{sc}_note") in D:
                notes.append(f"{lab} {sc}: {D[(n, sc + '_note')]}")
        if (n, "D1_non2xx") in D:
            notes.append(f"{lab} D1: {D[(n, 'D1_non2xx')]} responses were not 2xx")
        if (n, "D1_errors") in D:
            notes.append(f"{lab} D1: wrk socket errors {D[(n, 'D1_errors')]}")
        for sc in ("D1", "D3"):
            lc = dnum(n, f"{sc}_loadcpu")
            if lc is not None and lc >= 0.95:
                notes.append(f"{lab} {sc}: wrk saturated its core ({lc:.2f}); the figure is a lower bound")
        for sc in ("D1", "D2", "D3"):
            f = dnum(n, f"{sc}_foreign")
            if f is not None and f >= quiet:
                notes.append(f"{lab} {sc}: other processes used up to {f:.2f} cores during a round")
    w("D notes (¹ marks a figure missing for a reason given here): " + ("; ".join(notes) + "." if notes else "none."))
    w("")
    return o


out = []
w = out.append
w(f"# serve-here benchmark, {meta.get('date', '?')}")
w("")
if not servers:
    # only groups with sections of their own ran (the H group, the D group): no table
    w(f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores; {meta.get('kernel', '?')}; node {meta.get('node', '?')}"
      + (f"; {meta['nginx']}" if "nginx" in meta else "") + f". serve-here {meta.get('commit', '?')}."
      + (f" Run time {meta['elapsed_s']} s." if "elapsed_s" in meta else ""))
    w("")
    out += h2_section()
    out += d_section()
    w(f"Raw output (h2load, wrk, curl, rclone, helpers): `{meta.get('raw', '?')}/` (not committed).")
    print("\n".join(out))
    sys.exit(0)
w(f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores (servers pinned to CPU {settings.get('SERVER_CPU', '0')}, "
  f"load generator to CPU {settings.get('LOAD_CPU', '1')}); {meta.get('kernel', '?')}; node {meta.get('node', '?')}; "
  f"{meta.get('nginx', '?')}; wrk {meta.get('wrk', '?')}; {meta.get('python', '?')}.")
w(f"serve-here {meta.get('commit', '?')}; peers: {meta.get('peers', '?')}.")
w(f"Settings: {meta.get('settings', '')}; run time {meta.get('elapsed_s', '?')} s.")
w("")
shown = [s for s in servers]
with_floor = FLOOR in servers
with_fresh = FRESH_FLOOR in servers
cols = shown + ([f"÷ {REFERENCE}"] + (["÷ node floor"] if with_floor else []) + (["÷ fresh floor"] if with_fresh else [])
                + ["÷ best Node peer"] if SUBJECT in servers else [])
w("| | " + " | ".join(cols) + " |")
w("|---|" + "---:|" * len(cols))
for label, key, scale, better, kind, _ in ROWS:
    cells = [cell(s, key, scale, kind) for s in shown]
    if SUBJECT in servers:
        cells.append(ratio(key, scale, better, REFERENCE if REFERENCE in servers else None))
        if with_floor:
            cells.append(ratio(key, scale, better, FLOOR))
        if with_fresh:
            cells.append(ratio(key, scale, better, FRESH_FLOOR))
        bn = best_node(key, scale, better)
        r = ratio(key, scale, better, bn)
        cells.append(f"{r} ({bn})" if r != "–" else "–")
    w(f"| {label} | " + " | ".join(cells) + " |")
w("")
w("Ratios are serve-here ÷ peer: for req/s and MiB/s above 1 means serve-here is faster; for latency, RSS and "
  "start-up below 1 means serve-here is lower (better). \"Best Node peer\" is the best of sirv, serve and "
  "http-server in that row. Compare figures only within one run: the machine is small and shared.")
w("")
if with_floor:
    w("node-floor is bare `node:http` answering a snapshot of the files from memory with ready headers "
      "(`bench/nodefloor.mjs`): no freshness, no checks, so it is no peer but the ceiling of Node's own HTTP "
      "layer on this machine, measured on S1, S2, S5 and S6 only.")
    w("")
if with_fresh:
    w("node-floor-fresh is the same with `--fresh`: one `lstat` of the file per request (S1, S5), of the path for "
      "a 404 (S6), of every entry before a ready page for a listing (S4), so never stale, and nothing else: the "
      "ceiling of any Node server that looks at the disk for each answer, as serve-here and nginx do. "
      "serve-here ÷ fresh floor is what serve-here's own code costs; fresh floor ÷ nginx, the most a Node "
      "server can reach here." + (_fresh_vs_nginx() if REFERENCE in servers else ""))
    w("")
if "node_e0_median_ms" in meta:
    e0 = float(meta["node_e0_median_ms"])
    own = num(SUBJECT, "start_median_ms")
    w(f"Start-up of `node -e 0`, timed the same way (spawned on the server CPU, until it exits): median "
      f"{e0:.1f} ms ({meta.get('node_e0_min_ms', '?')}–{meta.get('node_e0_max_ms', '?')})"
      + (f"; serve-here's start-up to its first answer is {own - e0:.1f} ms more ({own / e0:.2f}×)." if own and e0 > 0 else "."))
    w("")
elif "node_e0_note" in meta:
    w(f"Start-up of `node -e 0`: not measured ({meta['node_e0_note']}).")
    w("")

# ---------------------------------------------------------------- scenario notes
if "C1" in scenarios:
    sent = [f"{s} {R[(s, 'C1_encoding')]} ({R.get((s, 'C1_bytes'), '?')} bytes)" for s in shown if (s, "C1_encoding") in R]
    if sent:
        w("C1 asks for `/medium.js` (100 KiB of JavaScript) with `Accept-Encoding: br, gzip`; compare it with S2, the "
          "same size sent as it is. What each server sent: " + "; ".join(sent) + ". nginx has `gzip on` (level 6) and serve its `compression` middleware, both compressing every "
          "response anew; sirv and http-server only serve precompressed files, so they send it as it is.")
        w("")
if "C2" in scenarios:
    sent = [f"{s} {R[(s, 'C2_encoding')]} ({R.get((s, 'C2_bytes'), '?')} bytes)" for s in shown if (s, "C2_encoding") in R]
    if sent:
        c2, s4 = num(SUBJECT, "C2_rps"), num(SUBJECT, "S4_rps")
        target = ""
        if c2 and s4:
            target = (f" serve-here's C2 ÷ its S4 (the same listing sent as it is): {c2 / s4:.2f} "
                      f"(issue 17 §3: at least 0.80; {'met' if c2 / s4 >= 0.8 else 'NOT met'}).")
        w("C2 asks for S4's 1000-entry listing with `Accept-Encoding: br, gzip`. What each server sent: " + "; ".join(sent) +
          ". serve-here compresses a listing once per distinct page and answers an unchanged folder from what it kept; "
          "nginx (`gzip on`, which always covers `text/html`) compresses every listing anew." + target)
        w("")
for variant, what in VARIANTS.items():
    if variant in shown:
        parts = []
        for sc in ("S1", "S2", "C1"):
            a, b = num(SUBJECT, f"{sc}_rps"), num(variant, f"{sc}_rps")
            if a and b:
                parts.append(f"{sc} {a / b:.2f}")
        w(f"{variant} is {what}, measured on S1, S2 and C1 only (no start-up, no MEM)" +
          (f"; req/s of serve-here ÷ {variant}: " + ", ".join(parts) if parts else "") + ".")
        w("")
if "S5" in scenarios:
    val = []
    for s in shown:
        v = R.get((s, "S5_validator"))
        if v:
            val.append(f"{s} {'ETag (If-None-Match)' if v == 'If-None-Match' else 'Last-Modified (If-Modified-Since)'}")
    if val:
        w("S5 revalidates with each server's own validator: " + "; ".join(val) + ".")
        w("")
if "MEM" in scenarios:
    w(f"MEM: a fresh instance holds {settings.get('MEM_CONNS', '?')} keep-alive connections (wrk on the 1 KiB file) while "
      f"{settings.get('MEM_DOWNLOADS', '?')} clients download the 64 MiB file at a capped rate, for {settings.get('MEM_SECONDS', '?')} s; "
      "the figure is the sum of VmHWM (peak RSS) over the server's processes.")
    w("")
    w("| MEM detail | " + " | ".join(shown) + " |")
    w("|---|" + "---:|" * len(shown))
    w("| sampled peak RSS, MiB | " + " | ".join(fmt(num(s, "MEM_peak_rss_kb", 1 / 1024), "sig") for s in shown) + " |")
    w("| RSS before load, MiB | " + " | ".join(fmt(num(s, "MEM_base_rss_kb", 1 / 1024), "sig") for s in shown) + " |")
    w("| downloads complete | " + " | ".join(R.get((s, "MEM_downloads_ok"), "–") for s in shown) + " |")
    w("| mean download MiB/s (cap) | " + " | ".join(
        f"{R[(s, 'MEM_download_mibs')]} ({R.get((s, 'MEM_rate_mibs'), '?')})" if (s, "MEM_download_mibs") in R else "–" for s in shown) + " |")
    w("| 1 KiB req/s meanwhile | " + " | ".join(fmt(num(s, "MEM_wrk_rps"), "int") for s in shown) + " |")
    w("| wrk socket errors | " + " | ".join(R.get((s, "MEM_wrk_errors"), "") or "none" for s in shown) + " |")
    w("")

# CPU use: shows which side was the bottleneck
load_sc = [sc for sc in ["S1", "S2", "S3", "S4", "S5", "S6", "C1", "C2"] if sc in scenarios]
if load_sc:
    w("CPU cores used during the measured runs, server / wrk (1.00 = a saturated core; wrk near 1.00 means the "
      "load generator, not the server, set the limit, so the figure understates that server):")
    w("")
    w("| cores | " + " | ".join(load_sc) + " |")
    w("|---|" + "---|" * len(load_sc))
    for s in shown:
        if (s, "idle_rss_kb") not in R:
            continue
        w(f"| {s} | " + " | ".join(
            f"{R.get((s, sc + '_srvcpu'), '') or '?'} / {R.get((s, sc + '_wrkcpu'), '') or '?'}" if (s, sc + "_rps") in R else "–"
            for sc in load_sc) + " |")
    w("")

# ---------------------------------------------------------------- anomalies
notes = []
for s in shown:
    if (s, "note") in R:
        notes.append(f"{s}: {R[(s, 'note')]}")
    if (s, "start_note") in R:
        notes.append(f"{s} start-up: {R[(s, 'start_note')]}")
    busy = []
    for sc in scenarios:
        if (s, f"{sc}_note") in R:
            notes.append(f"{s} {sc}: {R[(s, f'{sc}_note')]}")
        if R.get((s, f"{sc}_requests")) == "0":
            notes.append(f"{s} {sc}: no request completed within {settings.get('DURATION', '?')} "
                         "(raise DURATION, or lower the scenario's connections)")
        if (s, f"{sc}_errors") in R:
            notes.append(f"{s} {sc}: wrk socket errors {R[(s, f'{sc}_errors')]}")
        if (s, f"{sc}_non2xx") in R and sc != "S6":
            notes.append(f"{s} {sc}: {R[(s, f'{sc}_non2xx')]} responses were not 2xx/3xx")
        if (s, f"{sc}_settle") in R:
            notes.append(f"{s} {sc}: {R[(s, f'{sc}_settle')]}")
        wc = num(s, f"{sc}_wrkcpu")
        if wc is not None and wc >= 0.95:
            notes.append(f"{s} {sc}: wrk saturated its core ({wc:.2f} cores); the figure is a lower bound")
        f = num(s, f"{sc}_foreign")
        if f is not None and f >= quiet:
            busy.append(f"{sc} {f:.2f}")
    if (s, "MEM_alive") in R and R[(s, "MEM_alive")] != "1":
        notes.append(f"{s} MEM: server not alive after the load")
    if busy:
        notes.append(f"{s}: other processes on the machine used CPU while it was measured (cores, at most): " + ", ".join(busy))
w("Start-up spread (min–max of the starts), ms: " + "; ".join(
    f"{s} {R[(s, 'start_min_ms')]}–{R[(s, 'start_max_ms')]}" for s in shown if (s, "start_min_ms") in R) + ".")
w("")
w("Notes (¹ marks a figure that is missing or 0 for a reason given here):" if notes else "Notes:")
w("")
for n in notes or ["none"]:
    w(f"- {n}")
w("")
out += h2_section()
out += d_section()
w(f"Raw wrk, curl and helper output: `{meta.get('raw', '?')}/` (not committed).")
print("\n".join(out))
