"""What a stream is, declaratively: the small piece each of `streams/*.py` fills in.

Everything else (auth, paging, windows, retries, pacing, bookmarks, row shaping) is shared
machinery in `stream.py` and the modules it uses, chosen by the values here. The paging kinds
(`Offset`, `Keyset`, `Single`, `Cursor`) live in paging.py and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .auth import Auth
from .paging import Cursor, Keyset, Offset, Paging, Single

RATE_WINDOW = 1.0  # seconds: the shortest pause after a rate refusal, whatever the backoff

# Per-window request parameters: (lower bound, upper bound, the window's calendar day), each
# already encoded for the API by the stream's clock; see `stream.WindowedStream._bounds`.
Query = Callable[["Bounds"], dict[str, Any]]


@dataclass(frozen=True)
class Bounds:
    """A window as the API is asked for it (one second wider on each side, where the API takes
    a range: its bound inclusiveness is undocumented, rows are kept to [start, end) afterwards)."""

    lo: Any  # wall string or epoch seconds
    hi: Any
    day: dt.date  # the window's first day in the zone (day windows are exactly one day)


@dataclass(frozen=True)
class Envelope:
    """How an API wraps its answer and its errors.

    `rows`/`total` are key paths into the decoded body (`rows` empty: the answer itself is the
    one row, as a balance); `wrapper`: a key whose object may hold the rows instead of the top
    level (the AI agent's `data`, sent or not); `fatal` maps a code to the hint of the one-line
    error; `transient` codes are retried with backoff; `too_frequent` codes, and error texts
    holding one of `too_frequent_texts` (voice, SIP: the code alone does not say), are rate
    refusals: retried too, never sooner than RATE_WINDOW.
    """

    success: str | int | tuple[str | int, ...]  # one code, or each code a success may carry
    rows: tuple[str, ...]
    total: tuple[str, ...] | None = None
    wrapper: str | None = None
    message: tuple[str, ...] = ("msg", "message", "info")
    transient: Mapping[str | int, str] = field(default_factory=dict)
    too_frequent: Mapping[str | int, str] = field(default_factory=dict)
    too_frequent_texts: tuple[str, ...] = ()
    fatal: Mapping[str | int, str] = field(default_factory=dict)
    fatal_texts: Mapping[str, str] = field(default_factory=dict)
    default_hint: str = "see the NXCloud error code table"
    skew_code: str | int | None = None  # signed APIs: ts expired -> retry once, then "check clock"

    @property
    def codes(self) -> tuple[str | int, ...]:
        return self.success if isinstance(self.success, tuple) else (self.success,)


@dataclass(frozen=True)
class Variant:
    """One sub-query of every window: request parameters, and the columns that tell its rows
    apart (sets whose ids may coincide, like voice's group and OTP calls)."""

    params: Mapping[str, Any]
    columns: Mapping[str, Any]


NO_VARIANT = Variant({}, {})


@dataclass(frozen=True)
class Option:
    """A setting of the product with a default, read into the request where the spec's `path`
    or its auth's biz type or action name it as `{setting}` (a vendor choice the pages disagree
    on, which a user may have to change)."""

    setting: str
    default: str
    description: str


@dataclass(frozen=True)
class Child:
    """A stream read per row of another (its parent, registered before it): the AI agent's calls
    per task. Each parent row read this run names a child partition (`key`, sent as `param`);
    the partition's range starts at the parent row's `since` time (its replication key's form)
    and its bookmark is its own."""

    parent: str
    key: str
    param: str
    since: str


class SpecError(ValueError):
    """A stream spec whose parts do not fit together: refused when the package loads."""


# the kinds of stream
INCREMENTAL, FULL_TABLE, SNAPSHOT, CHILD = "incremental", "full_table", "snapshot", "child"
NXLINK_REGIONS = {"hk": "https://api-hk.nxlink.ai", "amer": "https://chl-api.nxlink.ai",
                  "idn": "https://api-idn.nxlink.ai"}


@dataclass(frozen=True)
class StreamSpec:
    name: str
    product: str  # settings prefix: <product>_api_url, and the credential settings below
    label: str  # what the product is called in messages and setting descriptions
    credentials: tuple[str, str]  # (key setting, secret setting)
    host: str  # the documented base URL
    path: str  # may name an Option as {setting}
    method: Literal["GET", "POST"]
    encoding: Literal["query", "form", "json"]  # where parameters and key fields travel
    auth: Auth
    envelope: Envelope
    primary_keys: tuple[str, ...]
    paging: Paging  # a kind of paging.py: Offset, Keyset, Single, Cursor
    # incremental: time windows, a bookmark; full_table: the whole table each run; snapshot: one
    # request a run, one row (stamped fetched_at); child: per parent row (see Child)
    kind: Literal["incremental", "full_table", "snapshot", "child"] = INCREMENTAL
    query: Query | None = None  # a window's filter parameters (incremental, child)
    clock: Literal["wall", "epoch"] = "wall"  # request bounds: wall strings, or epoch seconds
    row_time: Literal["wall", "epoch_ms", "epoch_s"] = "wall"  # the rows' times on the wire
    window: Literal["adaptive", "day"] = "adaptive"
    bounds: Literal["inclusive", "unknown"] = "unknown"  # the API's range bounds, as documented
    order: Literal["ascending", "descending", "none"] = "none"  # the rows' order in a query
    replication_key: str | None = None
    lookback_setting: str | None = None
    lookback_minutes: int = 0
    stamp: Callable[[Bounds], dict] | None = None  # columns every row of a window gets
    # rows that may still change (a task still calling): the bookmark stays before the oldest
    # of them, so each run reads them again
    still_open: Callable[[dict], bool] | None = None
    child: Child | None = None
    max_window_seconds: int | None = None  # the API's longest range (24 h for voice and SIP)
    retention_days: int | None = None  # how far back the API still answers
    min_interval: float = 0.0  # seconds between two requests of the stream (vendor rate limit)
    # what the vendor counts that rate per: "key" (each app key: voice), "ip" (the whole machine,
    # so every account of a run shares it: SIP)
    rate_scope: Literal["key", "ip"] = "key"
    # Sub-queries of every window (voice: voiceType 0 and 1): each variant's `params` are sent,
    # and its `columns` added to its rows.
    variants: tuple[Variant, ...] = ()
    filters: Mapping[str, str] = field(default_factory=dict)  # shared setting -> parameter
    # account settings the stream needs, sent as parameters (cc_tenant_id -> tenantId)
    params: Mapping[str, str] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    nxlink: bool = False  # an NXLink product: `nxlink_region` picks its regional gateway
    url_setting: str | None = None  # its own base-URL setting (default: <product>_api_url)
    # (stream, field): a day-window stream whose one row a day counts this stream's rows of that
    # day, asked after each completed day to reconcile (SMS: sms_daily_reports' submit_size)
    statement: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        for problem in self._problems():
            raise SpecError(f"stream spec {self.name or '?'}: {problem}")

    def _problems(self):
        windowed = self.kind in (INCREMENTAL, CHILD)
        if not self.name or not self.product or not self.primary_keys:
            yield "name, product and primary_keys must be set"
        if self.kind not in (INCREMENTAL, FULL_TABLE, SNAPSHOT, CHILD):
            yield f"kind: {self.kind!r} is not a kind of stream"
        if self.method == "GET" and self.encoding != "query":
            yield "encoding: a GET carries its parameters in the query"
        if self.auth.signer("k", "s") is not None and self.encoding != "json":
            yield "auth: signed headers sign a JSON body; encoding must be json"
        if windowed and (self.query is None or not self.replication_key
                         or not self.lookback_setting):
            yield "query, replication_key and lookback_setting: a windowed stream needs them"
        if not windowed and (self.replication_key or self.still_open or self.stamp):
            yield (f"replication_key, still_open, stamp: a {self.kind} stream has no windows "
                   "and no bookmark")
        if isinstance(self.paging, Keyset) and (
                self.kind != INCREMENTAL or self.clock != "wall" or self.row_time != "wall"
                or self.bounds != "inclusive" or self.order != "ascending"):
            yield ("paging: keyset paging needs an incremental stream on the wall clock, "
                   "inclusive bounds and ascending order")
        if self.window == "day" and self.clock != "wall":
            yield "window: day windows are calendar days of the wall clock"
        if self.kind == SNAPSHOT and (self.envelope.rows or not isinstance(self.paging, Single)):
            yield "envelope.rows, paging: a snapshot's answer is its one row (rows=(), Single)"
        if (self.kind == CHILD) != (self.child is not None):
            yield "child: a child stream names its parent, and only a child stream does"
        if isinstance(self.paging, Offset) and self.paging.size < 1:
            yield "paging: a page size of at least 1"
        if self.min_interval < 0 or (self.max_window_seconds or 2) < 2:
            yield "min_interval, max_window_seconds: must be positive"
        named = {o.setting for o in self.options}
        for text in (self.path, getattr(self.auth, "biz_type", ""),
                     getattr(self.auth, "action", "")):
            for ref in _refs(str(text)):
                if ref not in named:
                    yield f"path/auth: {{{ref}}} names no option of the stream"
        if self.order not in ("ascending", "descending", "none"):
            yield f"order: {self.order!r}"

    @property
    def secret_setting(self) -> str:
        return self.credentials[1]

    @property
    def queries(self) -> tuple[Variant, ...]:
        return self.variants or (NO_VARIANT,)

    @property
    def windowed(self) -> bool:
        return self.kind in (INCREMENTAL, CHILD)

    @property
    def api_url_setting(self) -> str:
        return self.url_setting or f"{self.product}_api_url"

    @property
    def url_settings(self) -> tuple[str, ...]:
        """The settings that may hold its base URL, first found wins: its own, its product's
        (a gateway set for the SMS product serves the balance too), then `api_url`."""
        own = (self.url_setting,) if self.url_setting else ()
        return (*own, f"{self.product}_api_url", "api_url")

    @property
    def url_hint(self) -> str:
        """How a message names them: "sms_api_url or api_url"."""
        *first, last = self.url_settings
        return f"{', '.join(first)} or {last}"

    @property
    def added_columns(self) -> tuple[str, ...]:
        """Columns the tap adds to the API's rows (variants', stamps'): not on the wire."""
        added = [k for v in self.queries for k in v.columns]
        if self.stamp is not None:
            added += list(self.stamp(Bounds(None, None, dt.date(2000, 1, 1))))
        if self.kind == SNAPSHOT:
            added.append("fetched_at")
        return tuple(dict.fromkeys(added))


def _refs(text: str) -> list[str]:
    return re.findall(r"{(\w+)}", text)


__all__ = ["CHILD", "FULL_TABLE", "INCREMENTAL", "SNAPSHOT", "Bounds", "Child", "Cursor",
           "Envelope", "Keyset", "Offset", "Option", "Paging", "Single", "SpecError",
           "StreamSpec", "Variant"]
