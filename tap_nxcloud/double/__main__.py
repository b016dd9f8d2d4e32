"""Run the API double by hand: `python -m tap_nxcloud.double --flash-rows 5000 --cc-rows 5000`.

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

from .data import WALL, cc_rows, did_rows, flash_rows, sip_rows, sms_rows, voice_rows
from .server import BOUNDS, FAULT_KINDS, RATE_LIMITS, SMS_MAX_PER_SECOND, ApiDouble, Faults

# How far back each product keeps records, less a margin so that a run started now still finds
# every generated row inside it: SMS (today - 30 days) from the day after, voice/SIP an hour in.
RETENTION = {"sms_cdrs": (dt.timedelta(days=30), "day"), "voice_cdrs": (dt.timedelta(days=7), "h"),
             "sip_cdrs": (dt.timedelta(days=15), "h")}
RETENTION_HELP = ("SMS, voice and SIP rows are kept inside each product's retention relative to "
                  "now: their window starts no earlier than 29 days ago at midnight (SMS), 7 days "
                  "less an hour ago (voice), 15 days less an hour ago (SIP), and is then cut at "
                  "now; the first output line gives every stream's window.")


def recent(stream: str, start: dt.datetime, span: int, now: dt.datetime) -> tuple[dt.datetime, int]:
    """The [start, start + span) window of a stream, moved inside its retention (see --help)."""
    keep, margin = RETENTION[stream]
    floor = now - keep
    floor = (floor.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
             if margin == "day" else floor + dt.timedelta(hours=1))
    if start >= floor:
        return start, span
    length = min(span, int((now - floor).total_seconds()))
    return floor.replace(microsecond=0), max(1, length)


def build(args: argparse.Namespace) -> tuple[ApiDouble, dt.datetime, dict]:
    zone = ZoneInfo(args.timezone)
    now = dt.datetime.now(zone)
    start = (dt.datetime.fromisoformat(args.start).replace(tzinfo=zone) if args.start else
             (now - dt.timedelta(days=args.span_days)).replace(
                 hour=0, minute=0, second=0, microsecond=0))
    span = int(args.span_days * 86400)
    double = ApiDouble(port=args.port, latency_ms=args.latency_ms, cc_bounds=args.cc_bounds,
                       zone=zone, rate_limits={"voice_cdrs": args.voice_min_interval,
                                               "sip_cdrs": args.sip_min_interval},
                       sms_max_per_second=args.sms_max_per_second)
    seed = args.seed
    double.flash.add(flash_rows(args.flash_rows, seed=seed, start=start.strftime(WALL),
                                span_seconds=span))
    double.cc.add(cc_rows(args.cc_rows, seed=seed, start_ms=int(start.timestamp() * 1000),
                          span_ms=span * 1000))
    windows = {s: (start, span) for s in ("flash_call_cdrs", "cc_cdrs", "did_cdrs")}
    windows.update({s: recent(s, start, span, now) for s in RETENTION})

    def at(stream: str) -> dict:
        begin, length = windows[stream]
        return {"seed": seed, "start": begin.strftime(WALL), "span_seconds": length}

    double.sms.add(sms_rows(args.sms_rows, **at("sms_cdrs")))
    # both voiceTypes in one call: one sorted bulk load (ids repeat across them, as they may)
    double.voice.add([row for kind in (0, 1)
                      for row in voice_rows(args.voice_rows, voice_type=kind, **at("voice_cdrs"))])
    double.sip.add(sip_rows(args.sip_rows, **at("sip_cdrs")))
    double.did.add(did_rows(args.did_rows, **at("did_cdrs")))
    if args.fault_rate:
        double.set_faults(Faults(rate=args.fault_rate, seed=seed,
                                 kinds=tuple(args.fault_kinds.split(","))))
    return double, start, {s: [b.isoformat(), (b + dt.timedelta(seconds=n)).isoformat()]
                           for s, (b, n) in windows.items()}


def config_for(double: ApiDouble, start: str) -> dict:
    c = double.credentials
    return {"api_url": double.url, "start_date": start, "timezone": double.zone.key,
            "flash_call_app_key": c.flash_app_key, "flash_call_app_secret": c.flash_app_secret,
            "cc_access_key": c.cc_access_key, "cc_access_secret": c.cc_access_secret,
            "sms_app_key": c.sms_app_key, "sms_app_secret": c.sms_app_secret,
            "voice_app_key": c.voice_app_key, "voice_app_secret": c.voice_app_secret,
            "sip_app_key": c.sip_app_key, "sip_app_secret": c.sip_app_secret,
            "did_access_key": c.did_access_key, "did_access_secret": c.did_access_secret}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="nxcloud-double", description=__doc__.splitlines()[0],
                                epilog=RETENTION_HELP)
    p.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--flash-rows", type=int, default=5000)
    p.add_argument("--cc-rows", type=int, default=5000)
    p.add_argument("--sms-rows", type=int, default=0)
    p.add_argument("--voice-rows", type=int, default=0, help="rows per voiceType (0 and 1)")
    p.add_argument("--sip-rows", type=int, default=0)
    p.add_argument("--did-rows", type=int, default=0)
    p.add_argument("--start", help="first row's wall-clock time, e.g. 2026-10-01T00:00:00 "
                                   "(default: midnight span-days ago); see below for SMS, voice "
                                   "and SIP")
    p.add_argument("--span-days", type=float, default=30.0)
    p.add_argument("--timezone", default="Asia/Shanghai")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--fault-kinds", default=",".join(FAULT_KINDS))
    p.add_argument("--cc-bounds", choices=BOUNDS, default="inclusive")
    p.add_argument("--voice-min-interval", type=float, default=RATE_LIMITS["voice_cdrs"],
                   help="least seconds between voice requests (0: no limit)")
    p.add_argument("--sip-min-interval", type=float, default=RATE_LIMITS["sip_cdrs"],
                   help="least seconds between SIP requests (0: no limit)")
    p.add_argument("--sms-max-per-second", type=int, default=SMS_MAX_PER_SECOND,
                   help="SMS requests allowed in any one second (0: no limit)")
    args = p.parse_args(argv)
    double, start, windows = build(args)
    counts = {f"{name}_rows": len(getattr(double, name))
              for name in ("flash", "cc", "sms", "voice", "sip", "did")}
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
