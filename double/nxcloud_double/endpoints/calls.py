"""What the voice and SIP record endpoints share (docs/nxcloud-api/time-and-limits.md,
docs/nxcloud-api/codes.md#voice-and-sip): `start_time`/`end_time` wall times in the double's zone,
both inclusive, filtering on each call's `start_time`; a span of at most 24 h; a retention limit on
`start_time`; `page_size` 1..1000; rows in a stable order that is not time order (scrambled id);
success code "1", failure code "0" with a text in `info`."""

from __future__ import annotations

from typing import ClassVar

from .core import ordered, wall, whole
from .forms import FormEndpoint

MAX_SPAN_S = 86400
MAX_PAGE_SIZE = 1000
PAGE_TEXT = "page_size or page_index invalid"


class CallRecords(FormEndpoint):
    ok = "1"
    retention_days = 7
    required = ("start_time", "end_time", "page_size", "page")
    refusals: ClassVar = {
        "params": ("0", "params invalid"), "keys": ("0", "appkey or secretkey invalid"),
        "rate": ("0", "request too frequent"), "time": ("0", "time invalid"),
        "page_size": ("0", PAGE_TEXT), "page": ("0", PAGE_TEXT),
        "mobile": ("0", "mobile no exist"),
    }

    def refuse(self, reason: str):
        if reason == "retention":
            return self.failure("0", f"only the last {self.retention_days} days can be queried")
        return super().refuse(reason)

    def query(self, double, f: dict[str, str]):
        filters = self.filters(f)
        if filters is None:
            return self.refuse("params")
        start, end = wall(f["start_time"]), wall(f["end_time"])
        if start is None or end is None:
            return self.refuse("time")
        s, e = double.instant(start), double.instant(end)
        if e < s or e - s > MAX_SPAN_S:
            return self.refuse("time")
        if s < double.clock() - self.retention_days * 86400:
            return self.refuse("retention")
        size = whole(f["page_size"], 1, MAX_PAGE_SIZE)
        page = whole(f["page"], 1)
        if size is None or page is None:
            return self.refuse("page_size" if size is None else "page")
        refused = self.check(double, filters)
        if refused:
            return self.refuse(refused)
        table = self.of(double)
        lo, hi = self.bounds(f, f["start_time"], f["end_time"])
        with table.lock:
            left, right = table.span(lo, hi)
            match = self.matcher(filters)
            order = ordered(double, table, (self.stream, *sorted(filters.items())), left, right,
                            match=match)
            skip = (page - 1) * size
            blobs = [table.blobs[i] for i in order[skip:skip + size]]
        return self.page(len(order) + self.phantoms(double, lo, hi), page, size, blobs)

    # --- what each endpoint says -----------------------------------------------------------
    def filters(self, f: dict[str, str]) -> dict | None:
        """The optional filters of the request, or None when one is invalid."""
        return {}

    def check(self, double, filters: dict) -> str | None:
        """A refusal reason that needs the data (SIP: "mobile no exist")."""
        return None


    def bounds(self, f: dict[str, str], start: str, end: str) -> tuple:
        return start, end

    def matcher(self, filters: dict):
        if not filters:
            return None
        return lambda row: all(str(row.get(k)) == v for k, v in filters.items())
