"""SMS records: POST /api/sms/getSmsCdr (docs/nxcloud-api/codes.md#sms-records).

One day a request (`date` = yyyyMMdd in the double's zone), only the last 31 days (today - 30 on),
`page_size` 1..999 ("less than 1000"), rows by `date` ascending (`sort_type` 0, the default) or
descending (1). Success is code "0" with `info.total`; failures are codes "1".."5" with a text.
Key (msgid, phone): one send to several phones shares its msgid.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import ClassVar

from ..data import COUNTRIES, clock, hard, later, number, remark, unset, wall
from ..table import Table
from ..wire import Wire
from .core import whole
from .forms import FormEndpoint

RETENTION_DAYS = 30  # `date` >= today - 30: 31 days including today
MAX_PAGE_SIZE = 999
PAGE_TEXT = "page_size or page_index invalid"


TEXTS = ["Your verification code is {c}. It expires in 5 minutes.",
         "【牛小信】您的验证码是{c}，5分钟内有效。",  # noqa: RUF001 (real Chinese punctuation)
         "Código de verificação: {c} ✅",
         "Ваш код подтверждения: {c}", "Mã xác minh của bạn là {c}",
         "รหัสยืนยันของคุณคือ {c}", "Kode OTP Anda {c}. Jangan berikan kode ini kepada siapa pun.",
         "🎉 Flash sale: 50% off today only! Reply STOP to opt out. Ref {c}",
         'Your code is {c}.\nDon\'t share it; "support" never asks.\tC:\\help']
REPORTS = [("DELIVRD", "Successful", "Yes")] * 6 + [
    ("UNDELIV", "Failed", "No"), ("EXPIRED", "Failed", "No"), ("REJECTD", "Failed", "Yes")]
NETWORKS = ["893", "791", "46000", "51010", "72405", "45400", "45201", None]


def rows(n: int, *, seed: int, start: str, span_seconds: int, prefix: str = "", **_,
         ) -> list[dict]:
    """n SMS rows (key msgid+phone): one send to 1-3 phones shares a msgid and date; about one
    in eight still awaits its delivery report (dr, dr_status, billing_status null; dr_time null
    or "")."""
    rng = random.Random(f"sms-{seed}-{prefix}")
    times = clock(rng, n, start, span_seconds)
    out: list[dict] = []
    while len(out) < n:
        sent = times[len(out)]
        h = f"{rng.getrandbits(128):032x}"
        msgid = prefix + (h if rng.random() < 0.5 else
                          f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        text = hard(rng, rng.choice(TEXTS).format(c=rng.randrange(1000, 10**6)))
        per_part = 160 if text.isascii() else 70  # GSM-7 or UCS-2
        size = max(1, math.ceil(len(text) / per_part))
        cc, _ = rng.choice(COUNTRIES)
        price = rng.choice([0.0042, 0.009, 0.0125, 0.035, 0.09])
        sender = hard(rng, rng.choice(["", "NXCLOUD", "InfoSMS", None]))
        for _ in range(min(rng.choice([1, 1, 1, 1, 2, 3]), n - len(out))):
            pending = rng.random() < 0.12
            dr, status, billed = (None, None, None) if pending else rng.choice(REPORTS)
            out.append(remark(rng, {
                "msgid": msgid, "phone": number(rng, cc), "date": wall(sent),
                "senderid": sender, "body": text, "dr_status": status, "billing_size": size,
                "billing_price": price,
                "dr_time": unset(rng) if pending else wall(later(sent, rng.randrange(2, 900))),
                "billing_status": billed, "network": rng.choice(NETWORKS), "dr": dr,
            }))
    return out


class Sms(FormEndpoint):
    stream = "sms_cdrs"
    alias = "sms"
    rows = staticmethod(rows)
    retention_days = RETENTION_DAYS + 1  # today and the 30 days before
    whole_days = True
    rate = (20, 1.0)  # the vendor states no number; code "5" beyond it

    def table(self) -> Table:
        wire = Wire(self.stream, {"network": str, "billing_price": float, "billing_size": int})
        return Table("date", ("msgid", "phone"), identity=("msgid", "phone"), wire=wire)
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
        size = double.serve_page_size.get(self.stream, size)  # a server that ignores it
        table = self.of(double)
        skip = (page - 1) * size
        with table.lock:
            left, right = table.span(f"{day} 00:00:00", f"{day} 23:59:59")
            if not descending:
                blobs = table.blobs[left + skip:min(right, left + skip + size)]
            else:
                top = right - skip
                blobs = table.blobs[max(left, top - size):top][::-1] if top > left else []
        counted = right - left + self.phantoms(double, f"{day} 00:00:00", f"{day} 23:59:59")
        return self.page(counted, page, size, blobs)


def _day(text: str) -> dt.date | None:
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


ENDPOINT = Sms()
