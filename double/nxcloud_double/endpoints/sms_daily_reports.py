"""The SMS app's statement: POST /api/sms/getSmsReport
(docs/nxcloud-api/codes.md#sms-statement-and-balance).

A form like getSmsCdr's: the SMS app's `appkey`/`secretkey`, `start_date` and `end_date`
(yyyy-MM-dd, both inclusive, start <= end); codes as getSmsCdr ("1" params, "2" keys, "5" too
frequent). Success: {"code": "0", "row": [{"total_fee", "submit_size", "success_size",
"price_size"}]}, one aggregate for the whole range.

The numbers are the double's own count of its SMS rows (the sms_cdrs table), per calendar day of
the double's zone, so a reconciliation can compare the two streams: `submit_size` = rows of the
day (one per (msgid, phone)), `success_size` = rows with dr DELIVRD, `price_size` = rows billed
(billing_status "Yes"), `total_fee` = the sum of billing_price x billing_size over the billed
rows, rounded to 4 decimals. This endpoint keeps no rows of its own (its table stays empty).

To make the statement disagree with the records, set `double.cache["sms_report_offsets"]` to
{"yyyy-MM-dd": delta}: an integer is added to that day's `submit_size`, a dict adds to the fields
it names ({"success_size": -1, "total_fee": 0.5}), whenever the day is in the asked range.
"""

from __future__ import annotations

import datetime as dt
import json
import math

from ..table import Table
from .core import Reply
from .forms import SmsAppForm

OFFSETS = "sms_report_offsets"  # double.cache key: {"yyyy-MM-dd": int | {field: delta}}
SIZES = ("submit_size", "success_size", "price_size")


def rows(n: int, **_) -> list[dict]:
    """None: the statement is computed from the SMS rows (generate those instead)."""
    return []


def day_counts(double, day: dt.date) -> dict:
    """The day's statement as the SMS rows in the double give it (before any offset),
    `total_fee` not yet rounded. Counted afresh each time: a delivery report changes a row in
    place, without a new table version to key a cache on."""
    table = double.tables["sms_cdrs"]
    with table.lock:
        left, right = table.span(f"{day} 00:00:00", f"{day} 23:59:59")
        day_rows = [table.decode(i) for i in range(left, right)]
    billed = [r["billing_price"] * r["billing_size"] for r in day_rows
              if r.get("billing_status") == "Yes"]
    return {"total_fee": math.fsum(billed), "submit_size": len(day_rows),
            "success_size": sum(r.get("dr") == "DELIVRD" for r in day_rows),
            "price_size": len(billed)}


class SmsReport(SmsAppForm):
    stream = "sms_daily_reports"
    alias = "sms_report"
    path = "/api/sms/getSmsReport"
    rows = staticmethod(rows)
    required = ("start_date", "end_date")

    feeds = "sms_cdrs"

    def table(self) -> Table:
        return Table("date", ())  # never filled: see day_counts

    def expected(self, double, start: dt.datetime, end: dt.datetime) -> list[dict]:
        """One row a day the range touches (each asked whole), its date the day's start."""
        day, last = (t.astimezone(double.zone).date() for t in (start, end - dt.timedelta(
            seconds=1)))
        out = []
        while day <= last:
            counts = day_counts(double, day)
            delta = double.cache.get(OFFSETS, {}).get(day.isoformat(), {})
            for name, value in ({"submit_size": delta} if isinstance(delta, int) else delta
                                ).items():
                counts[name] += value
            out.append({"date": f"{day} 00:00:00", **counts,
                        "total_fee": round(counts["total_fee"], 4)})
            day += dt.timedelta(days=1)
        return out

    def query(self, double, f: dict[str, str]) -> Reply:
        first, last = _date(f["start_date"]), _date(f["end_date"])
        if first is None or last is None or last < first:
            return self.refuse("params")
        offsets = double.cache.get(OFFSETS, {})
        fees, sizes = [], dict.fromkeys(SIZES, 0)
        day = first
        while day <= last:
            # A day without messages still answers one row, of zeros: the vendor does not say
            # what it sends then, and zeros are what its own totals would be.
            counts = day_counts(double, day)
            delta = offsets.get(day.isoformat(), {})
            for name, value in ({"submit_size": delta} if isinstance(delta, int) else delta
                                ).items():
                counts[name] += value
            fees.append(counts["total_fee"])
            for name in SIZES:
                sizes[name] += counts[name]
            day += dt.timedelta(days=1)
        row = {"total_fee": round(math.fsum(fees), 4), **sizes}
        return Reply(self.ok, json.dumps({"code": self.ok, "row": [row]}).encode())

    def badrow(self) -> Reply:
        return Reply(self.ok, b'{"code":"0","row":[{"note":"a row without its counts"}]}')


def _date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None


ENDPOINT = SmsReport()
