"""What a stream is, declaratively: the small piece each of `streams/*.py` fills in.

Everything else (auth, paging, windows, retries, pacing, bookmarks, row shaping) is shared
machinery in `stream.py` and the modules it uses, chosen by the values here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .auth import Auth

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
class Keyset:
    """Flash calls: no paging; call again from the last row's second (paging.keyset_pages)."""

    size: int = 100


@dataclass(frozen=True)
class Offset:
    """page/size paging (paging.offset_pages); `totals`: the API returns the row count."""

    size: int
    page_param: str = "page"
    size_param: str = "page_size"
    totals: bool = True


@dataclass(frozen=True)
class Envelope:
    """How an API wraps its answer and its errors.

    `rows`/`total` are key paths into the decoded body; `fatal` maps a code to the hint of the
    one-line error; `transient` codes are retried with backoff; `too_frequent` codes, and error
    texts holding one of `too_frequent_texts` (voice, SIP: the code alone does not say), are rate
    refusals: retried too, never sooner than RATE_WINDOW.
    """

    success: str | int | tuple[str | int, ...]  # one code, or each code a success may carry
    rows: tuple[str, ...]
    total: tuple[str, ...] | None = None
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
class StreamSpec:
    name: str
    product: str  # settings prefix: <product>_api_url, and the credential settings below
    credentials: tuple[str, str]  # (key setting, secret setting)
    host: str  # the documented base URL
    path: str
    method: Literal["GET", "POST"]
    encoding: Literal["query", "form", "json"]
    auth: Auth
    clock: Literal["wall", "epoch"]  # wall: the `timezone` zone's clock; epoch: UTC seconds
    window: Literal["adaptive", "day"]
    paging: Keyset | Offset
    envelope: Envelope
    query: Query  # the window's filter parameters
    primary_keys: tuple[str, ...]
    replication_key: str
    lookback_setting: str
    lookback_minutes: int
    label: str  # what the product is called in messages and setting descriptions
    max_window_seconds: int | None = None  # the API's longest range (24 h for voice and SIP)
    retention_days: int | None = None  # how far back the API still answers
    min_interval: float = 0.0  # seconds between two requests of the stream (vendor rate limit)
    # what the vendor counts that rate per: "key" (each app key: voice), "ip" (the whole machine,
    # so every account of a run shares it: SIP)
    rate_scope: Literal["key", "ip"] = "key"
    # Sub-queries of every window (voice: voiceType 0 and 1): each variant's `params` are sent,
    # and its `columns` added to its rows.
    variants: tuple[Variant, ...] = ()
    filters: Mapping[str, str] = field(default_factory=dict)  # setting -> parameter, when set

    @property
    def secret_setting(self) -> str:
        return self.credentials[1]

    @property
    def queries(self) -> tuple[Variant, ...]:
        return self.variants or (NO_VARIANT,)
