"""What every endpoint of the double shares: the request it is given, the reply it returns, and
how it answers the API-level faults (`busy`, `skew`, `badrow`, `code:N`) in its own envelope."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from tap_nxcloud.streams import BY_NAME

if TYPE_CHECKING:
    from ..server import ApiDouble
    from ..table import Table

WALL = "%Y-%m-%d %H:%M:%S"


class Reply(NamedTuple):
    code: Any  # the API code, as the request log records it
    body: bytes


@dataclass
class Request:
    query: dict[str, list[str]]
    headers: Any  # the handler's email.message.Message: case-insensitive .get()
    body: bytes
    arrived: float | None = None  # epoch seconds its bytes reached the server (None: now)


class Endpoint:
    """One NXCloud endpoint of the double, for the tap stream of the same module name.

    What the double's wiring reads (nothing else lists the streams): `stream` (the tap's stream
    name), `alias` (the short name of flags and stats: `--<alias>-rows`, `double.<alias>`),
    `table()` (a new, empty table of its rows), `rows(n, seed=, start=, span_seconds=, zone=)` (n
    generated rows, start a wall-clock string of the double's zone), `retention_days` (how far back
    the API answers; None: not stated), `whole_days` (retention counted in whole calendar days),
    `rate` ((requests, seconds) the API allows; None: no limit), `internal` (table fields that
    are not on the wire, and the tap column that carries them), `settings` (the tap's account
    settings it expects, with the double's values: cc_tenant_id).
    """

    stream = ""
    alias = ""
    method = "POST"
    path = ""
    retention_days: int | None = None
    whole_days = False
    rate: tuple[int, float] | None = None
    internal: ClassVar[dict[str, str]] = {}
    settings: ClassVar[dict[str, str]] = {}  # account settings it expects (cc_tenant_id)

    def table(self) -> Table:
        raise NotImplementedError

    @staticmethod
    def rows(n: int, *, seed: int, start: str, span_seconds: int, **kw) -> list[dict]:
        raise NotImplementedError

    def of(self, double: ApiDouble) -> Table:
        """This endpoint's table in a double."""
        return double.tables[self.stream]

    # What a test loads and expects: `feeds` (the stream whose rows this endpoint answers from,
    # a statement from the SMS records), and `expected`.
    feeds: str | None = None

    def expected(self, double: ApiDouble, start: dt.datetime, end: dt.datetime) -> list[dict]:
        """The rows (in the double's canonical types) a tap reading [start, end) must emit: the
        table's rows whose replication key lies there, or, for a stream without windows, all."""
        spec = BY_NAME[self.stream]  # the tap's spec says what the replication key is
        rows = self.of(double).rows()
        if not spec.windowed:
            return rows
        lo, hi = _comparable(spec.row_time, start, double.zone), _comparable(
            spec.row_time, end, double.zone)
        # wall-clock keys compare as text once their `T` (email's form) is a space
        return [r for r in rows if lo <= _key(r[spec.replication_key]) < hi]

    def phantoms(self, double: ApiDouble, lo, hi) -> int:
        """Rows the API counts in its totals for [lo, hi] (the table's key times) but never
        returns: a vendor's miscount, for reconciliation tests. `double.cache["phantoms"]` =
        {stream: [time, ...]}; each time counts in every query whose range covers it."""
        return sum(lo <= t <= hi for t in double.cache.get(PHANTOMS, {}).get(self.stream, ()))

    def params(self, req: Request) -> dict:
        """What the request log keeps of a request: its parameters, never a secret."""
        return {}

    def answer(self, double: ApiDouble, req: Request) -> Reply:
        raise NotImplementedError

    def fault(self, fault: str, double: ApiDouble, req: Request) -> Reply | None:
        """The reply an API-level fault replaces the answer with; None: answer as usual."""
        if fault == "busy":
            return self.busy(double)
        if fault == "skew":
            return self.skew()
        if fault == "badrow":
            return self.badrow()
        if fault.startswith("code:"):
            return self.code(fault[5:])
        return None

    def busy(self, double: ApiDouble) -> Reply:
        raise NotImplementedError

    def skew(self) -> Reply | None:
        return None

    def badrow(self) -> Reply:
        raise NotImplementedError

    def code(self, code: str) -> Reply:
        raise NotImplementedError


PHANTOMS = "phantoms"  # double.cache key: {stream: [row time, ...]} counted, never returned


def _key(value):
    return value.replace("T", " ") if isinstance(value, str) else value


def _comparable(row_time: str, moment: dt.datetime, zone) -> object:
    if row_time == "epoch_ms":
        return int(moment.timestamp() * 1000)
    if row_time == "epoch_s":
        return int(moment.timestamp())
    return moment.astimezone(zone).strftime(WALL)


def legacy_json(payload: dict) -> Reply:
    """The envelope of the two first endpoints' refusals (flash calls, contact center)."""
    payload.setdefault("reqId", "double")
    if isinstance(payload.get("code"), int):
        payload.setdefault("data", {})
    return Reply(payload["code"], json.dumps(payload, ensure_ascii=False).encode())


def join(blobs: list[bytes]) -> bytes:
    return b"[" + b",".join(blobs) + b"]"


def wall(text: str) -> dt.datetime | None:
    """A strict "yyyy-MM-dd HH:mm:ss", or None."""
    if len(text) != 19:
        return None
    try:
        return dt.datetime.strptime(text, WALL)
    except ValueError:
        return None


def whole(text, low: int, high: int | None = None) -> int | None:
    """A form field or JSON value that must be an integer in [low, high], or None."""
    if isinstance(text, str):
        if not (text.isascii() and text.isdigit()):
            return None
        text = int(text)
    if type(text) is not int or text < low or (high is not None and text > high):
        return None
    return text


def scramble(n: int) -> int:
    """A fixed bijection of 32-bit ids (Knuth's multiplicative hash): an order that is stable but
    not time order, as no order is documented for these endpoints."""
    return (n * 2654435761) & 0xFFFFFFFF


def ordered(double: ApiDouble, table: Table, key: tuple, left: int, right: int, *,
            sort=None, match=None) -> list[int]:
    """Indices of rows left..right, filtered by match(row) and sorted by sort(index) (default:
    the scrambled id, the sort key's last field), cached while the table keeps its shape. Call
    with table.lock held."""
    cache = double._order_cache
    ck = (*key, left, right, table.version)
    order = cache.get(ck)
    if order is None:
        order = sorted(range(left, right),
                       key=sort or (lambda i: scramble(table.keys[i][-1])))
        if match is not None:
            order = [i for i in order if match(table.decode(i))]
        if len(cache) > 64:
            cache.clear()
        cache[ck] = order
    return order
