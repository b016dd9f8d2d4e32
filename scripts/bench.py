"""Benchmark: the tap against a plain-Python floor, on the API double at 127.0.0.1.

Prints (1) CPU seconds of the tap and of the floor (scripts/floor.py) for N rows per stream into
/dev/null, their ratio and rows per CPU-second; (2) requests per stream against ceil(rows/100);
(3) wall time with 50 ms latency per response against the sequential minimum; (4) peak RSS of the
tap at N and at a large N. Usage: python scripts/bench.py [--rows 20000] [--big-rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from tap_nxcloud.double.data import WALL

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ZONE = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 9, 1, tzinfo=ZONE)
SPAN = 30 * 86400


def measure(cmd: list[str]) -> dict:
    """Run cmd with stdout to /dev/null; CPU (user+sys), peak RSS and wall of that process."""
    # PYTHONUNBUFFERED (set on some machines and schedulers) would cost the floor a system call
    # per line; both programs run without it, so the floor is not handicapped.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(os.devnull, "wb") as sink, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            err.seek(0)
            sys.exit(f"{cmd[0]} failed:\n{err.read().decode()[-3000:]}")
    return {"cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "wall": wall}


class Double:
    """The API double in a process of its own: the benchmark's own process stays small, since a
    forked child's peak RSS counts the parent's pages until exec."""

    def __init__(self, rows: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tap_nxcloud.double", "--port", "0", "--seed", "1",
             "--flash-rows", str(rows), "--cc-rows", str(rows), "--timezone", ZONE.key,
             "--start", START.replace(tzinfo=None).isoformat(), "--span-days", str(SPAN / 86400)],
            stdout=subprocess.PIPE, text=True)
        self.config = json.loads(self.proc.stdout.readline())["config"]
        self.url = self.config["api_url"]

    def control(self, **command) -> None:
        requests.post(f"{self.url}/_double/control", json=command, timeout=30).raise_for_status()

    def requests_sent(self) -> dict[str, int]:
        return requests.get(f"{self.url}/_double/stats", timeout=30).json()["requests"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def write_config(double: Double, folder: Path) -> Path:
    end = START + dt.timedelta(seconds=SPAN)
    config = {
        **double.config, "start_date": START.isoformat(), "end_date": end.isoformat(),
        # for the floor, which reads the whole range in one go
        "floor_flash_start": START.strftime(WALL),
        "floor_flash_end": (end - dt.timedelta(seconds=1)).strftime(WALL),
        "floor_cc_start": int(START.timestamp()), "floor_cc_end": int(end.timestamp()) - 1,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return path


def tap_cmd(config: Path) -> list[str]:
    return [str(BIN / "tap-nxcloud"), "--config", str(config)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000, help="rows per stream (default 20 000)")
    p.add_argument("--big-rows", type=int, default=1_000_000,
                   help="rows per stream for the memory check (0 skips it)")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--repeat", type=int, default=3, help="CPU runs of each; the best is kept")
    args = p.parse_args()
    n = args.rows
    folder = Path(tempfile.mkdtemp(prefix="tap-nxcloud-bench-"))
    double = Double(n)
    config = write_config(double, folder)
    floor_cmd = [sys.executable, str(ROOT / "scripts" / "floor.py"), str(config)]

    print(f"tap-nxcloud benchmark: {n} rows per stream ({2 * n} rows), API double on "
          f"127.0.0.1, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    tap_runs, floor_runs = [], []
    for _ in range(args.repeat):
        double.control(clear_log=True)
        tap_runs.append(measure(tap_cmd(config)))
        sent = double.requests_sent()
        floor_runs.append(measure(floor_cmd))
    tap, floor = min(tap_runs, key=lambda r: r["cpu"]), min(floor_runs, key=lambda r: r["cpu"])
    ratio = tap["cpu"] / floor["cpu"]
    print("\n1. CPU, user+sys, best of", args.repeat)
    print(f"   tap    {tap['cpu']:7.2f} s  {2 * n / tap['cpu']:9.0f} rows/CPU-s")
    print(f"   floor  {floor['cpu']:7.2f} s  {2 * n / floor['cpu']:9.0f} rows/CPU-s "
          "(requests + json, one session, no SDK)")
    print(f"   ratio tap/floor {ratio:.2f}  (goal <= 1.5)")

    floor_min = math.ceil(n / 100)
    print("\n2. Requests per stream against ceil(rows/100) =", floor_min)
    for stream, count in sent.items():
        print(f"   {stream:16} {count:6d}  x{count / floor_min:.3f}  (goal <= 1.1 x minimum)")

    double.control(latency_ms=args.latency_ms, clear_log=True)
    lat = measure(tap_cmd(config))
    total = sum(double.requests_sent().values())
    sequential = total * args.latency_ms / 1000
    print(f"\n3. Wall time with {args.latency_ms:g} ms latency per response")
    print(f"   tap {lat['wall']:.2f} s for {total} requests; sequential minimum "
          f"{sequential:.2f} s; ratio {lat['wall'] / sequential:.2f}  (goal <= 0.4)")
    double.stop()

    print("\n4. Peak RSS of the tap")
    print(f"   {n:>9} rows per stream: {tap['rss_mb']:6.1f} MB")
    if args.big_rows:
        big = Double(args.big_rows)
        big_run = measure(tap_cmd(write_config(big, folder)))
        growth = big_run["rss_mb"] / tap["rss_mb"] - 1
        print(f"   {args.big_rows:>9} rows per stream: {big_run['rss_mb']:6.1f} MB  "
              f"({growth:+.1%} against {n}; goal < 150 MB and <= +10%)")
        print(f"   (that run: {big_run['cpu']:.1f} CPU-s, "
              f"{2 * args.big_rows / big_run['cpu']:.0f} rows/CPU-s, {big_run['wall']:.1f} s wall)")
        big.stop()


if __name__ == "__main__":
    main()
