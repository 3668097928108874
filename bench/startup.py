#!/usr/bin/env python3
"""Start-up time of a server: from process start to the first answered request, ROUNDS times.

Usage: startup.py --port P [--rounds N] [--cpu C] [--path /small.html] [--timeout S] [--log FILE] -- CMD ARG...
       startup.py --exit [--rounds N] [--cpu C] [--timeout S] [--log FILE] -- node -e 0

Each round: note the time, spawn CMD (argv as given, no shell) in a new session pinned to CPU C, then
poll in a tight loop: connect to 127.0.0.1:P, send `GET PATH` (Connection: close) and read the status
line. The round ends at the first 200; the start-up time is that instant minus the spawn instant. The
server's whole session is then stopped (SIGTERM, SIGKILL after 5 s) and the port must be free again
before the next round. This helper should itself run on another CPU (run.sh pins it to the load CPU)
so that the polling never competes with the server it measures.

With --exit the round ends when CMD exits with status 0 instead (no port, no request): `node -e 0`
measured this way is the runtime's own start-up, the floor under any Node server's figure.

Prints one line: "median_ms=<m> min_ms=<a> max_ms=<b> rounds_ms=<r1>,<r2>,..." (exit 0), or
"error=<reason>" (exit 1). Loopback only; every wait is bounded.
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int)
ap.add_argument("--exit", action="store_true", help="time from spawn to CMD's exit (status 0)")
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--cpu", type=int, default=0)
ap.add_argument("--path", default="/small.html")
ap.add_argument("--timeout", type=float, default=20.0, help="seconds allowed for one start")
ap.add_argument("--log", default=os.devnull)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
args = ap.parse_args()
cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
if not cmd:
    ap.error("no command given")
if args.port is None and not args.exit:
    ap.error("--port is required (or --exit)")

HOST = "127.0.0.1"
REQUEST = f"GET {args.path} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\nConnection: close\r\n\r\n".encode()


def probe():
    """One connect+GET. Returns the status code, or None when nothing answers yet."""
    try:
        with socket.create_connection((HOST, args.port), timeout=2) as s:
            s.sendall(REQUEST)
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        return None
    parts = buf.split(b" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def port_free():
    try:
        with socket.create_connection((HOST, args.port), timeout=0.5):
            return False
    except OSError:
        return True


def stop(proc):
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc.poll() is not None and not session_alive(proc.pid):
                return
            time.sleep(0.01)


def session_alive(sid):
    """True while any process of session `sid` exists (servers may fork workers)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    raw = f.read().decode("latin-1")
            except OSError:
                continue
            rest = raw[raw.rfind(")") + 2:].split()
            if int(rest[3]) == sid and rest[0] != "Z":
                return True
    return False


def pin():
    os.sched_setaffinity(0, {args.cpu})


times = []
log = open(args.log, "ab")
for i in range(args.rounds):
    deadline = time.monotonic() + 5
    while not args.exit and not port_free():
        if time.monotonic() > deadline:
            print(f"error=port {args.port} still busy before round {i + 1}")
            sys.exit(1)
        time.sleep(0.05)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, preexec_fn=pin)
    if args.exit:
        try:
            code = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"error=still running after {args.timeout:g}s on start {i + 1}")
            stop(proc)
            sys.exit(1)
        if code != 0:
            print(f"error=exited with {code} on start {i + 1}")
            sys.exit(1)
        times.append((time.perf_counter() - t0) * 1000)
        continue
    limit = time.monotonic() + args.timeout
    status = None
    while True:
        status = probe()
        if status == 200:
            times.append((time.perf_counter() - t0) * 1000)
            break
        if proc.poll() is not None:
            print(f"error=server exited with {proc.returncode} during start {i + 1} (status seen: {status})")
            stop(proc)
            sys.exit(1)
        if time.monotonic() > limit:
            print(f"error=no 200 within {args.timeout:g}s on start {i + 1} (last status: {status})")
            stop(proc)
            sys.exit(1)
        time.sleep(0.0005)
    stop(proc)

print(f"median_ms={statistics.median(times):.1f} min_ms={min(times):.1f} max_ms={max(times):.1f} "
      f"rounds_ms={','.join(f'{t:.1f}' for t in times)}")
