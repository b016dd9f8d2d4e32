"""Run the API double by hand: `nxcloud-double --flash-rows 5000 --cc-rows 5000` (or
`python -m nxcloud_double`).

Prints one JSON line with its URL and credentials (a ready-made tap config), the row counts and
each stream's time window, then serves on 127.0.0.1 until interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
from zoneinfo import ZoneInfo

from . import config_for
from .endpoints import ENDPOINTS
from .endpoints.cc import BOUNDS
from .server import FAULT_KINDS, RATES, ApiDouble, Faults

RETENTION_HELP = ("Rows of a stream whose API keeps only recent records are generated inside "
                  "that retention relative to now: their window starts no earlier than the first "
                  "whole day still kept (retention in calendar days, as SMS), or an hour after the "
                  "oldest instant still kept (voice, SIP), and is then cut at now; the first "
                  "output line gives every stream's window.")


def recent(endpoint, start: dt.datetime, span: int, now: dt.datetime) -> tuple[dt.datetime, int]:
    """The [start, start + span) window of a stream, moved inside its retention (see --help)."""
    days = endpoint.retention_days
    if not days:
        return start, span
    if endpoint.whole_days:
        floor = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0,
                                                            microsecond=0) + dt.timedelta(days=1)
    else:
        floor = now - dt.timedelta(days=days) + dt.timedelta(hours=1)
    if start >= floor:
        return start, span
    length = min(span, int((now - floor).total_seconds()))
    return floor.replace(microsecond=0), max(1, length)


def _rate(text: str) -> tuple[str, object]:
    stream, _, value = text.partition("=")
    count, _, seconds = value.rpartition("/")
    return stream, ((int(count), float(seconds)) if count else float(seconds))


def build(args: argparse.Namespace) -> tuple[ApiDouble, dt.datetime, dict]:
    zone = ZoneInfo(args.timezone)
    now = dt.datetime.now(zone)
    start = (dt.datetime.fromisoformat(args.start).replace(tzinfo=zone) if args.start else
             (now - dt.timedelta(days=args.span_days)).replace(
                 hour=0, minute=0, second=0, microsecond=0))
    span = int(args.span_days * 86400)
    double = ApiDouble(port=args.port, latency_ms=args.latency_ms, cc_bounds=args.cc_bounds,
                       zone=zone, rate_limits=dict(args.rate_limit))
    windows = {}
    for endpoint in ENDPOINTS:
        begin, length = recent(endpoint, start, span, now)
        windows[endpoint.stream] = (begin, length)
        n = getattr(args, f"{endpoint.alias}_rows")
        if n:
            double.tables[endpoint.stream].add(endpoint.rows(
                n, seed=args.seed, start=begin.strftime("%Y-%m-%d %H:%M:%S"),
                span_seconds=length, zone=zone))
    if args.fault_rate:
        double.set_faults(Faults(rate=args.fault_rate, seed=args.seed,
                                 kinds=tuple(args.fault_kinds.split(","))))
    return double, start, {s: [b.isoformat(), (b + dt.timedelta(seconds=n)).isoformat()]
                           for s, (b, n) in windows.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="nxcloud-double", description=__doc__.splitlines()[0],
                                epilog=RETENTION_HELP)
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    for endpoint in ENDPOINTS:
        p.add_argument(f"--{endpoint.alias.replace('_', '-')}-rows", type=int,
                       default=5000 if endpoint.alias in ("flash", "cc") else 0,
                       dest=f"{endpoint.alias}_rows", help=f"rows of {endpoint.stream}")
    p.add_argument("--start", help="first row's wall-clock time, e.g. 2026-10-01T00:00:00 "
                                   "(default: midnight span-days ago); see below for streams "
                                   "whose API keeps only recent records")
    p.add_argument("--span-days", type=float, default=30.0)
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--fault-kinds", default=",".join(FAULT_KINDS))
    p.add_argument("--cc-bounds", choices=BOUNDS, default="inclusive")
    p.add_argument("--rate-limit", type=_rate, action="append", default=[],
                   metavar="STREAM=SECONDS|STREAM=N/SECONDS",
                   help="override a stream's rate limit: seconds between two requests, or N "
                        "requests per SECONDS (0: none); documented: " + ", ".join(
                            f"{s} {n}/{w:g}s" for s, (n, w) in RATES.items()))
    args = p.parse_args(argv)
    double, start, windows = build(args)
    counts = {f"{e.alias}_rows": len(double.tables[e.stream]) for e in ENDPOINTS}
    print(json.dumps({"config": config_for(double, start.isoformat()), **counts,
                      "windows": windows}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        double.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double.server.server_close()


if __name__ == "__main__":
    main()
