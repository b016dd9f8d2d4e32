"""The account balance: POST /api/common/getBalance
(docs/nxcloud-api/codes.md#sms-statement-and-balance).

A form with the `appkey`/`secretkey` of an SMS app (the page: "any enabled SMS application"; the
double knows one, sms_cdrs's). Success: {"code": "0", "balance": "3788.32", "credit_balance":
"500"}, both amounts strings as on the page. The page lists only code 0: refusals use the SMS
family's codes ("1" params invalid, "2" keys invalid, "5" too frequent for a busy server).

The amounts are `double.cache["balance"]` when set ({"balance": ..., "credit_balance": ...}, each
sent as str(value), None as null), else the page's example. A balance is a snapshot: no rows,
no table.
"""

from __future__ import annotations

import json

from ..table import Table
from .core import Reply
from .forms import SmsAppForm

BALANCE = "balance"  # double.cache key
EXAMPLE = {"balance": "3788.32", "credit_balance": "500"}


def rows(n: int, **_) -> list[dict]:
    """None: a balance is one value, set in double.cache["balance"]."""
    return []


class Balance(SmsAppForm):
    stream = "balances"
    alias = "balance"
    path = "/api/common/getBalance"
    rows = staticmethod(rows)

    def table(self) -> Table:
        return Table("fetched_at", ())  # never filled

    def expected(self, double, start, end) -> list[dict]:
        """The one row, its amounts as numbers (fetched_at is the tap's)."""
        amounts = {**EXAMPLE, **double.cache.get(BALANCE, {})}
        return [{k: None if v is None else _number(str(v)) for k, v in amounts.items()}]

    def query(self, double, f: dict[str, str]) -> Reply:
        amounts = {**EXAMPLE, **double.cache.get(BALANCE, {})}
        body = {"code": self.ok, **{k: None if amounts[k] is None else str(amounts[k])
                                    for k in EXAMPLE}}
        return Reply(self.ok, json.dumps(body).encode())

    def badrow(self) -> Reply:
        return Reply(self.ok, b'{"code":"0"}')  # success without the amounts


def _number(text: str):
    return float(text) if any(c in text for c in ".eE") else int(text)


ENDPOINT = Balance()
