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

from tap_nxcloud.double import ApiDouble
from tap_nxcloud.double.data import WALL, cc_rows, flash_rows

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


def loaded_double(rows: int) -> ApiDouble:
    double = ApiDouble().start()
    double.flash.add(flash_rows(rows, seed=1, start=START.strftime(WALL), span_seconds=SPAN))
    double.cc.add(cc_rows(rows, seed=1, start_ms=int(START.timestamp() * 1000),
                          span_ms=SPAN * 1000))
    return double


def write_config(double: ApiDouble, folder: Path) -> Path:
    c = double.credentials
    end = START + dt.timedelta(seconds=SPAN)
    config = {
        "api_url": double.url, "start_date": START.isoformat(), "end_date": end.isoformat(),
        "flash_call_app_key": c.flash_app_key, "flash_call_app_secret": c.flash_app_secret,
        "cc_access_key": c.cc_access_key, "cc_access_secret": c.cc_access_secret,
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


def requests_sent(double: ApiDouble) -> dict[str, int]:
    return {s: len(double.requests(s)) for s in ("flash_call_cdrs", "cc_cdrs")}


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
    double = loaded_double(n)
    config = write_config(double, folder)
    floor_cmd = [sys.executable, str(ROOT / "scripts" / "floor.py"), str(config)]

    print(f"tap-nxcloud benchmark: {n} rows per stream ({2 * n} rows), API double on "
          f"127.0.0.1, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    tap_runs, floor_runs = [], []
    for _ in range(args.repeat):
        double.log.clear()
        tap_runs.append(measure(tap_cmd(config)))
        sent = requests_sent(double)
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

    double.latency_ms = args.latency_ms
    double.log.clear()
    lat = measure(tap_cmd(config))
    total = sum(requests_sent(double).values())
    sequential = total * args.latency_ms / 1000
    print(f"\n3. Wall time with {args.latency_ms:g} ms latency per response")
    print(f"   tap {lat['wall']:.2f} s for {total} requests; sequential minimum "
          f"{sequential:.2f} s; ratio {lat['wall'] / sequential:.2f}  (goal <= 0.4)")
    double.stop()

    print("\n4. Peak RSS of the tap")
    print(f"   {n:>9} rows per stream: {tap['rss_mb']:6.1f} MB")
    if args.big_rows:
        big = loaded_double(args.big_rows)
        big_run = measure(tap_cmd(write_config(big, folder)))
        growth = big_run["rss_mb"] / tap["rss_mb"] - 1
        print(f"   {args.big_rows:>9} rows per stream: {big_run['rss_mb']:6.1f} MB  "
              f"({growth:+.1%} against {n}; goal < 150 MB and <= +10%)")
        print(f"   (that run: {big_run['cpu']:.1f} CPU-s, "
              f"{2 * args.big_rows / big_run['cpu']:.0f} rows/CPU-s, {big_run['wall']:.1f} s wall)")
        big.stop()


if __name__ == "__main__":
    main()
