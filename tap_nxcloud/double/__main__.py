"""Run the API double by hand: `python -m tap_nxcloud.double --flash-rows 5000 --cc-rows 5000`.

Prints one JSON line with its URL and credentials (a ready-made tap config), then serves on
127.0.0.1 until interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
from zoneinfo import ZoneInfo

from .data import WALL, cc_rows, flash_rows
from .server import BOUNDS, FAULT_KINDS, ApiDouble, Faults


def build(args: argparse.Namespace) -> tuple[ApiDouble, dt.datetime]:
    zone = ZoneInfo(args.timezone)
    start = (dt.datetime.fromisoformat(args.start).replace(tzinfo=zone) if args.start else
             (dt.datetime.now(zone) - dt.timedelta(days=args.span_days)).replace(
                 hour=0, minute=0, second=0, microsecond=0))
    span = int(args.span_days * 86400)
    double = ApiDouble(port=args.port, latency_ms=args.latency_ms, cc_bounds=args.cc_bounds)
    double.flash.add(flash_rows(args.flash_rows, seed=args.seed, start=start.strftime(WALL),
                                span_seconds=span))
    double.cc.add(cc_rows(args.cc_rows, seed=args.seed, start_ms=int(start.timestamp() * 1000),
                          span_ms=span * 1000))
    if args.fault_rate:
        double.set_faults(Faults(rate=args.fault_rate, seed=args.seed,
                                 kinds=tuple(args.fault_kinds.split(","))))
    return double, start


def config_for(double: ApiDouble, start: str) -> dict:
    c = double.credentials
    return {"api_url": double.url, "start_date": start,
            "flash_call_app_key": c.flash_app_key, "flash_call_app_secret": c.flash_app_secret,
            "cc_access_key": c.cc_access_key, "cc_access_secret": c.cc_access_secret}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="nxcloud-double",
                                description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--flash-rows", type=int, default=5000)
    p.add_argument("--cc-rows", type=int, default=5000)
    p.add_argument("--start", help="first row's wall-clock time, e.g. 2026-10-01T00:00:00 "
                                   "(default: midnight span-days ago)")
    p.add_argument("--span-days", type=float, default=30.0)
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--fault-kinds", default=",".join(FAULT_KINDS))
    p.add_argument("--cc-bounds", choices=BOUNDS, default="inclusive")
    args = p.parse_args(argv)
    double, start = build(args)
    print(json.dumps({"config": config_for(double, start.isoformat()),
                      "flash_rows": len(double.flash),
                      "cc_rows": len(double.cc)}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        double.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double.server.server_close()


if __name__ == "__main__":
    main()
