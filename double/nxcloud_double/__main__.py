"""Run the API double by hand: `nxcloud-double` (or `python -m nxcloud_double`) fills every
registered stream; `--<alias>-rows N` changes one stream's rows (0: none).

Prints one JSON line with its URL and credentials (a ready-made tap config), the row counts
(`<alias>_rows`: rows the double keeps; `rows`: what a tap reading each stream's window gets,
derived rows such as the SMS statement and the balance included) and each stream's time window,
then serves on 127.0.0.1 until interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
from zoneinfo import ZoneInfo

from tap_nxcloud.spec import FULL_TABLE, SNAPSHOT
from tap_nxcloud.streams import BY_NAME

from . import SETTINGS, config_for
from .data import UNDECLARED
from .endpoints import ENDPOINTS
from .endpoints.cc import BOUNDS
from .server import FAULT_KINDS, RATES, ApiDouble, Credentials, Faults

RETENTION_HELP = ("Rows of a stream whose API keeps only recent records are generated inside "
                  "that retention relative to now: their window starts no earlier than the first "
                  "whole day still kept (retention in calendar days, as SMS), or an hour after the "
                  "oldest instant still kept (voice, SIP), and is then cut at now; the first "
                  "output line gives every stream's window.")


# Rows of each stream when no flag says otherwise (the demo's volumes): every registered stream
# gets some. The SMS statement and the balance are derived (from the SMS rows; one value): their
# flags change nothing. A stream registered later without an entry here gets rows by its kind.
DEFAULT_ROWS = {"flash": 5000, "cc": 5000, "sms": 3000, "voice": 3000, "sip": 2000, "did": 2000,
                "email": 2000, "sms_report": 1, "balance": 1, "cc_agent": 40, "cc_group": 6,
                "ai_task": 12, "ai_call": 1500}
BY_KIND = {SNAPSHOT: 1, FULL_TABLE: 40}


def default_rows(endpoint) -> int:
    return DEFAULT_ROWS.get(endpoint.alias, BY_KIND.get(BY_NAME[endpoint.stream].kind, 1000))


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


def build(args: argparse.Namespace, *, seed: int | None = None, port: int | None = None,
          credentials: Credentials | None = None) -> tuple[ApiDouble, dt.datetime, dict]:
    zone = ZoneInfo(args.timezone)
    now = dt.datetime.now(zone)
    start = (dt.datetime.fromisoformat(args.start).replace(tzinfo=zone) if args.start else
             (now - dt.timedelta(days=args.span_days)).replace(
                 hour=0, minute=0, second=0, microsecond=0))
    span = int(args.span_days * 86400)
    seed = args.seed if seed is None else seed
    double = ApiDouble(port=args.port if port is None else port, latency_ms=args.latency_ms,
                       cc_bounds=args.cc_bounds, zone=zone, rate_limits=dict(args.rate_limit),
                       credentials=credentials)
    windows = {}
    for endpoint in ENDPOINTS:
        begin, length = recent(endpoint, start, span, now)
        windows[endpoint.stream] = (begin, length)
        n = getattr(args, f"{endpoint.alias}_rows")
        if n:
            double.tables[endpoint.stream].add(endpoint.rows(
                n, seed=seed, start=begin.strftime("%Y-%m-%d %H:%M:%S"),
                span_seconds=length, zone=zone))
    if args.fault_rate:
        double.set_faults(Faults(rate=args.fault_rate, seed=seed,
                                 kinds=tuple(args.fault_kinds.split(","))))
    return double, start, {s: [b.isoformat(), (b + dt.timedelta(seconds=n)).isoformat()]
                           for s, (b, n) in windows.items()}


def served(double: ApiDouble, windows: dict) -> dict[str, int]:
    """Rows a tap reading each stream's window gets: the double's rows, or, for a stream it
    derives instead of keeping rows (the SMS statement, the balance), what it answers."""
    out = {}
    for endpoint in ENDPOINTS:
        n = len(double.tables[endpoint.stream])
        if not n:
            begin, end = (dt.datetime.fromisoformat(t) for t in windows[endpoint.stream])
            n = len(endpoint.expected(double, begin, end))
        out[endpoint.stream] = n
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nxcloud-double", description=" ".join(
        __doc__.split("\n\n")[0].split()), epilog=RETENTION_HELP)
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    for endpoint in ENDPOINTS:
        p.add_argument(f"--{endpoint.alias.replace('_', '-')}-rows", type=int,
                       default=default_rows(endpoint), dest=f"{endpoint.alias}_rows",
                       help=f"rows of {endpoint.stream} (default %(default)s)")
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
    p.add_argument("--no-undeclared-fields", dest="undeclared", action="store_false",
                   help="no row carries `remark`, the field no schema declares (which the tap "
                        "keeps in extra_fields with one WARNING a stream)")
    p.add_argument("--accounts", type=int, default=0, metavar="N",
                   help="N accounts, each a double of its own (its own port, keys and rows, "
                        "seeded seed+i); the config is then an `accounts` list")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    UNDECLARED["on"] = args.undeclared
    if args.accounts:
        return _many(args)
    double, start, windows = build(args)
    counts = {f"{e.alias}_rows": len(double.tables[e.stream]) for e in ENDPOINTS}
    print(json.dumps({"config": config_for(double, start.isoformat()), **counts,
                      "rows": served(double, windows), "windows": windows}), flush=True)
    try:
        double.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double.server.server_close()
    return None


def _many(args: argparse.Namespace) -> None:
    """N accounts: N doubles in this process, and one tap config listing them all."""
    doubles, entries = [], []
    for i in range(args.accounts):
        name = f"acct-{i:03d}"
        keys = Credentials(**{n: f"{name}-{n.replace('_', '-')}" for n in Credentials().values})
        double, start, windows = build(args, seed=args.seed + i, port=0, credentials=keys)
        doubles.append(double.start())
        entry = {"name": name, **keys.values, **SETTINGS}
        for endpoint in ENDPOINTS:
            entry[f"{BY_NAME[endpoint.stream].product}_api_url"] = double.url
        entries.append(entry)
    counts = {f"{e.alias}_rows": sum(len(d.tables[e.stream]) for d in doubles)
              for e in ENDPOINTS}
    rows = [served(d, windows) for d in doubles]
    config = {"start_date": start.isoformat(), "timezone": args.timezone, "accounts": entries}
    print(json.dumps({"config": config, **counts,
                      "rows": {s: sum(r[s] for r in rows) for s in windows},
                      "windows": windows, "urls": [d.url for d in doubles]}), flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for double in doubles:
            double.stop()


if __name__ == "__main__":
    main()
