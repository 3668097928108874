#!/usr/bin/env python3
"""Memory under load: peak RSS of a server's process session while it holds many keep-alive
connections and streams several large files to slow clients at the same time.

Usage: memload.py --sid SID --port P [--conns 1000] [--downloads 8] [--seconds 5] [--rate BYTES_PER_S]
                  [--cpu 1] [--small /small.html] [--large /large.bin] [--large-size N] --out DIR

While it runs:
  - `wrk -t1 -c<conns> -d<seconds>s` keeps <conns> keep-alive connections busy on the small file;
  - <downloads> `curl --limit-rate <rate>` fetch the large file in parallel (slow readers: a server that
    does not respect back-pressure buffers the file in memory);
  - every 50 ms the RSS of every process in session SID is summed (/proc/PID/status VmRSS).
Load processes are pinned to --cpu. Everything is bounded: wrk by -d plus a kill timer, curl by
--max-time.

Prints one line of key=value pairs:
  peak_rss_kb  highest sampled sum of VmRSS over the session
  hwm_kb       sum over the session's processes of VmHWM (their own peak RSS since start) at the end;
               for a server started just before this run it catches spikes between samples
  base_rss_kb  RSS before the load started
  wrk_rps wrk_errors  downloads_ok (of N, complete and 200)  download_mibs (mean per download)
  alive=0|1    whether the server session still had processes at the end
Raw wrk and curl output go to DIR.
"""
import argparse
import os
import subprocess
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--sid", type=int, required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--conns", type=int, default=1000)
ap.add_argument("--downloads", type=int, default=8)
ap.add_argument("--seconds", type=int, default=5)
ap.add_argument("--rate", type=int, default=0, help="bytes/s per download; 0 = size/seconds")
ap.add_argument("--cpu", type=int, default=1)
ap.add_argument("--small", default="/small.html")
ap.add_argument("--large", default="/large.bin")
ap.add_argument("--large-size", type=int, default=64 * 1024 * 1024)
ap.add_argument("--out", required=True)
args = ap.parse_args()

BASE = f"http://127.0.0.1:{args.port}"
rate = args.rate or max(1, args.large_size // max(1, args.seconds))


def session_pids(sid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                raw = f.read().decode("latin-1")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        if int(rest[3]) == sid and rest[0] != "Z":
            pids.append(d)
    return pids


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def session_sum(field):
    return sum(status_kb(p, field) for p in session_pids(args.sid))


peak = 0
stop_sampling = threading.Event()


def sample():
    global peak
    while not stop_sampling.is_set():
        peak = max(peak, session_sum("VmRSS"))
        stop_sampling.wait(0.05)


def pin():
    os.sched_setaffinity(0, {args.cpu})


os.makedirs(args.out, exist_ok=True)
base = session_sum("VmRSS")
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()

wrk_out = open(os.path.join(args.out, "wrk.txt"), "w")
wrk = subprocess.Popen(["wrk", "-t1", f"-c{args.conns}", f"-d{args.seconds}s", "--timeout", "10s", "--latency",
                        BASE + args.small], stdout=wrk_out, stderr=subprocess.STDOUT, preexec_fn=pin)
time.sleep(0.3)  # let wrk open its connections first, so the downloads start against a loaded server
curl_fmt = "%{http_code} %{size_download} %{speed_download}\\n"
curls = []
for i in range(args.downloads):
    out = open(os.path.join(args.out, f"curl-{i}.txt"), "w")
    curls.append((subprocess.Popen(
        ["curl", "-s", "-o", "/dev/null", "-w", curl_fmt, "--limit-rate", str(rate),
         "--max-time", str(args.seconds * 3 + 30), BASE + args.large],
        stdout=out, stderr=subprocess.STDOUT, preexec_fn=pin), out))

try:
    wrk.wait(timeout=args.seconds + 30)
except subprocess.TimeoutExpired:
    wrk.kill()
    wrk.wait()
for p, _ in curls:
    try:
        p.wait(timeout=args.seconds * 3 + 40)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
time.sleep(0.1)
stop_sampling.set()
sampler.join()
hwm = session_sum("VmHWM")
alive = 1 if session_pids(args.sid) else 0
wrk_out.close()

ok, speeds = 0, []
for i, (_, out) in enumerate(curls):
    out.close()
    with open(os.path.join(args.out, f"curl-{i}.txt")) as f:
        fields = f.read().split()
    if len(fields) >= 3 and fields[0] == "200" and int(float(fields[1])) == args.large_size:
        ok += 1
        speeds.append(float(fields[2]) / 1048576)
rps, errors = "", ""
with open(os.path.join(args.out, "wrk.txt")) as f:
    for line in f:
        if line.startswith("Requests/sec:"):
            rps = line.split()[1]
        if "Socket errors:" in line:
            errors = line.split("Socket errors:", 1)[1].strip().replace(" ", "")
print(f"peak_rss_kb={peak} hwm_kb={hwm} base_rss_kb={base} wrk_rps={rps} wrk_errors={errors} "
      f"downloads_ok={ok}/{args.downloads} download_mibs={(sum(speeds) / len(speeds)) if speeds else 0:.1f} "
      f"rate_mibs={rate / 1048576:.1f} alive={alive}")
