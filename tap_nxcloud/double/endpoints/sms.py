"""SMS records: POST /api/sms/getSmsCdr (vendor `sms-record-query.md`, MORE-STREAMS.md).

One day a request (`date` = yyyyMMdd in the double's zone), only the last 31 days (today - 30 on),
`page_size` 1..999 ("less than 1000"), rows by `date` ascending (`sort_type` 0, the default) or
descending (1). Success is code "0" with `info.total`; failures are codes "1".."5" with a text.
Key (msgid, phone): one send to several phones shares its msgid.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from ..table import Table
from ..wire import Wire
from .base import whole
from .forms import FormEndpoint

RETENTION_DAYS = 30  # `date` >= today - 30: 31 days including today
MAX_PAGE_SIZE = 999
PAGE_TEXT = "page_size or page_index invalid"


def table() -> Table:
    wire = Wire("sms_cdrs", {"network": str, "billing_price": float, "billing_size": int})
    return Table("date", ("msgid", "phone"), identity=("msgid", "phone"), wire=wire)


class Sms(FormEndpoint):
    stream = "sms_cdrs"
    path = "/api/sms/getSmsCdr"
    ok = "0"
    keys = ("sms_app_key", "sms_app_secret")
    required = ("date", "page_size", "page")
    refusals: ClassVar = {
        "params": ("1", "params invalid"), "keys": ("2", "keys invalid"),
        "page_size": ("3", PAGE_TEXT), "page": ("4", PAGE_TEXT),
        "rate": ("5", "api request times invalid"),
    }
    keyless = b'{"body":"a row without msgid and phone","date":null}'

    def query(self, double, f: dict[str, str]) -> object:
        day = _day(f["date"])
        descending = {"": False, "0": False, "1": True}.get(f.get("sort_type", ""))
        if day is None or descending is None:
            return self.refuse("params")
        if day < double.today() - dt.timedelta(days=RETENTION_DAYS):
            return self.refuse("params")
        size = whole(f["page_size"], 1, MAX_PAGE_SIZE)
        if size is None:
            return self.refuse("page_size")
        page = whole(f["page"], 1)
        if page is None:
            return self.refuse("page")
        table = double.sms
        skip = (page - 1) * size
        with table.lock:
            left, right = table.span(f"{day} 00:00:00", f"{day} 23:59:59")
            if not descending:
                blobs = table.blobs[left + skip:min(right, left + skip + size)]
            else:
                top = right - skip
                blobs = table.blobs[max(left, top - size):top][::-1] if top > left else []
        return self.page(right - left, page, size, blobs)


def _day(text: str) -> dt.date | None:
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None
