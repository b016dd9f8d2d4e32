"""One stream read for one account: its windows, read page by page, their rows kept to the window.

A `WindowedStream` (stream.py) holds a lane per account that has the stream's credentials and
reads them side by side (scheduler.py). A lane owns its collaborators and does one job itself,
reading a window: its requests are built by `request.RequestBuilder` and sent by its
`http.Client`; its pages come from its paging kind (paging.py); its bookmark is its
`state.LaneState`; its counts are checked by its `audit.Reconciler`; its credential check is
preflight.py's.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

from . import preflight
from .accounts import Account
from .audit import Reconciler, Tally
from .errors import ApiError, TapError, located
from .http import Client, Throttle, cut
from .keys import UnkeyedRow
from .paging import Page, PagingError, Source
from .request import RequestBuilder
from .responses import Reader
from .rows import ACCOUNT, EXTRA, Shaper
from .rowtime import row_time
from .spec import StreamSpec
from .state import LaneState, retention_edge
from .streams import BY_NAME
from .windows import DayPlanner, Window, WindowPlanner

# Requests paced for a whole process: SIP's one request per 2 s is counted per IP, voice's one a
# second per app key, so every reader of the process shares the throttle of its scope.
_throttles: dict[tuple, Throttle] = {}
_throttles_lock = threading.Lock()


def shared_throttle(spec: StreamSpec, key: str) -> Throttle:
    scope = (spec.name,) if spec.rate_scope == "ip" else (spec.name, key)
    with _throttles_lock:
        throttle = _throttles.get(scope)
        if throttle is None:
            throttle = _throttles[scope] = Throttle(spec.min_interval * 1.05)  # jitter margin
        return throttle


def make_client(spec: StreamSpec, settings, account: Account, cancel: threading.Event,
                key: str) -> Client:
    return Client(spec.name, account.url(spec), timeout=settings.timeout,
                  max_tries=settings.max_retries + 1, backoff_base=settings.backoff_base,
                  backoff_max=settings.backoff_max, cancel=cancel,
                  max_bytes=settings.max_response_bytes,
                  throttle=shared_throttle(spec, key) if spec.min_interval else None,
                  urls=spec.url_hint)


class OnePlanner:
    """A stream without windows (a whole table, a snapshot): one pass, no bookmark."""

    observed = 1
    size = 0

    def __init__(self) -> None:
        self._done = False

    def next(self) -> Window | None:
        if self._done:
            return None
        self._done = True
        return Window(0, 1)

    def observe(self, window: Window, rows: int) -> None:
        pass


WHOLE = Window(0, 1)  # the one "window" of a stream without windows


class Lane:
    """`partition`: the lane's own state context beside its account's (a child stream's parent
    key, {"taskId": ...}); `since`: where a child's range starts (its parent row's time)."""

    # slots: 200 accounts are 2 600 lanes, and a child stream's a lane per parent row
    __slots__ = ("_lock", "_unreadable", "_unreadable_first", "account", "added", "audit",
                 "client", "clock", "context", "kept", "label", "name", "parent_open",
                 "partition", "reader", "request", "rows", "settings", "shape", "spec", "state",
                 "stream", "time", "where_prefix", "windows")

    def __init__(self, stream, account: Account, partition: dict | None = None,
                 since: dt.datetime | None = None, client: Client | None = None) -> None:
        self.stream = stream
        self.account = account
        spec, settings = stream.spec, stream.settings
        self.spec, self.settings, self.clock = spec, settings, stream.clock
        self.name = spec.name
        self.partition = partition or {}
        self.parent_open = True  # a child's parent row may still add rows (known: set False)
        self.label = " ".join(filter(None, [account.label, *(
            f"{k} {v}" for k, v in self.partition.items())]))  # "account acme taskId 7"
        self.where_prefix = f"{self.label}: " if self.label else ""
        self.context = ({**(account.context or {}), **self.partition}
                        if account.context is not None or self.partition else None)
        credentials = account.credentials(spec) or ("-", "-")  # --discover without credentials
        self.client = client or make_client(spec, settings, account, stream.cancel,
                                            credentials[0])
        self.reader = Reader(spec, account.secrets())
        self.request = RequestBuilder(spec, settings, account, self.clock, credentials,
                                      self.partition)
        self.state = LaneState(stream, self.context, self.partition, since, self.where_prefix)
        self.audit = Reconciler(self._warn, settings.reconcile_tolerance, self._day_over,
                                self._statement(account, credentials))
        self.time = row_time(spec.row_time, self.clock)
        self.shape = stream.shape  # one per stream; the lane adds its account as a column
        mine = {ACCOUNT: account.name} if settings.has_account_column else {}
        self.added = [{**variant.columns, **mine} for variant in spec.queries]
        self._unreadable: set = set()  # rows kept despite an unreadable time, emitted once
        self._unreadable_first: tuple | None = None
        self._lock = threading.Lock()
        self.kept: preflight.KeptAnswer | None = None  # the credential check's answer
        self.rows = self.windows = 0

    # --- requests ----------------------------------------------------------------------------
    def fetch(self, params: dict, where: str = "", tally: Tally | None = None) -> Page:
        kept = preflight.take(self, params) if self.kept is not None else None
        if kept is not None:
            if tally is not None:
                tally.requests += 1  # sent as the credential check
            return Page(kept.rows(), kept.total)
        try:
            return Page(*self.client.call(self.request.build(params), self.reader, tally))
        except ApiError as exc:
            raise located(exc, self.name, self.where_prefix + where) from None

    def where(self, window: Window) -> str:
        if not self.spec.windowed:
            return "the whole table"
        return f"window {self.clock.label(window.start)} to {self.clock.label(window.end)}"

    # --- one window --------------------------------------------------------------------------
    def pages(self, window: Window) -> Iterator[list[dict]]:
        """The window's rows, page by page, each row once, kept to [start, end)."""
        spec = self.spec
        query = self.request.query(window)
        stamp = spec.stamp(self.request.bounds(window)) if spec.stamp else None
        rk, when = spec.replication_key, self.time.comparable
        edges = self._edges(window)
        where = self.where(window)
        tally = self.audit.tally(window)
        fetched_at = (dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                      if "fetched_at" in spec.added_columns else None)
        for variant, added in zip(spec.queries, self.added, strict=True):
            params = {**query, **variant.params}
            source = Source(lambda extra, params=params: self.fetch(
                {**params, **extra}, where, tally), params, self.stream.identity,
                lambda m: self._warn(f"{where}: {m}"), spec.primary_keys[0],
                lambda row: when(row.get(rk)))
            try:
                for rows in spec.paging.read(source):
                    yield self._kept(rows, added, stamp, fetched_at, edges, tally)
            except (PagingError, UnkeyedRow) as exc:
                raise ApiError(f"{self.name}: {self.where_prefix}{where}: {exc}") from None
            if source.count.unsettled:  # rows may be missing: read this window again next run
                with self._lock:
                    self.state.hold(window.start)
            if spec.paging.counts:
                self.audit.reconcile(tally, source.count, where, variant.columns)
        if tally.outside:
            self.audit.mismatch(tally, where, (
                f"NXCloud returned {tally.outside} row{'s' if tally.outside > 1 else ''} "
                f"outside the range asked (the first at {cut(repr(tally.outside_first), 40)}); "
                "not this window's, so not emitted with it"))
        self.audit.check_statement(window, tally, where)
        tally.seconds = time.monotonic() - tally.started

    def _edges(self, window: Window) -> tuple | None:
        """(lo, hi, asked_lo, asked_hi) in the rows' comparable form: the window's rows are
        [lo, hi); a row outside [asked_lo, asked_hi), the range the request asked for (a
        calendar day; one second wider each side where the API's bounds are undocumented), is
        one the API should not have sent. None: no window (a table, a snapshot)."""
        spec = self.spec
        if not spec.windowed:
            return None
        if spec.replication_key in spec.added_columns:  # stamped from the window: it is there
            return "", "\uffff", "", "\uffff"
        if spec.window == "day":
            day = window.start - window.start % 86400
            asked = Window(day, day + 86400)
        elif spec.bounds == "inclusive":
            asked = window
        else:
            asked = Window(window.start - 1, window.end + 1)
        return (*self.time.window_range(window), *self.time.window_range(asked))

    def _kept(self, rows: list[dict], added: dict, stamp, fetched_at, edges,
              tally: Tally) -> list[dict]:
        """A page's rows shaped, those of the window only (a stream without windows: all)."""
        shape = self.shape
        if edges is None:
            if fetched_at is not None:
                return [shape({**row, "fetched_at": fetched_at}, added) for row in rows]
            return [shape(row, added) for row in rows]
        rk, when, open_ = self.spec.replication_key, self.time.comparable, self.spec.still_open
        lo, hi, asked_lo, asked_hi = edges
        kept = []
        for row in rows:
            if stamp:
                row.update(stamp)
            t = when(row.get(rk))
            if t is None:
                odd = self._unreadable_time(row, added)
                if odd is not None:
                    kept.append(odd)
            elif lo <= t < hi:
                if open_ is not None and open_(row):
                    with self._lock:
                        self.state.hold_open(self.time.tick(t))
                kept.append(shape(row, added))
            elif not asked_lo <= t < asked_hi:  # counted; a window's pages are in sequence
                if not tally.outside:
                    tally.outside_first = row.get(rk)
                tally.outside += 1
        return kept

    def _unreadable_time(self, row: dict, columns: dict) -> dict | None:
        """A row whose replication key cannot be read as a time: the query for this window
        returned it, so it is kept (once a run), its time null and the value as sent in
        `extra_fields`; the end of the stream's sync counts them in one WARNING."""
        rk = self.spec.replication_key
        key = (self.stream.identity(row), *columns.values())
        with self._lock:
            if key in self._unreadable:
                return None
            self._unreadable.add(key)
            if self._unreadable_first is None:
                self._unreadable_first = (row.get(rk), key)
        raw = row.pop(rk, None)
        shaped = self.shape(row, columns)
        shaped[rk] = None
        shaped[EXTRA] = {**(shaped.get(EXTRA) or {}), rk: raw}
        return shaped

    def _warn(self, message: str) -> None:
        zone = f" ({self.settings.zone.key})" if self.time.shows_zone else ""
        self.stream.logger.warning("%s: %s%s%s", self.name, self.where_prefix, message, zone)

    # --- reconciliation's statement ----------------------------------------------------------
    def _day_over(self, window: Window) -> bool:
        day_end = window.start - window.start % 86400 + 86400
        return day_end <= self.clock.from_instant(self.settings.end)

    def _statement(self, account: Account, credentials: tuple[str, str]):
        """(stream, field, read) of the day statement that counts this stream's rows (SMS:
        sms_daily_reports' submit_size), read with this lane's keys and connection."""
        if self.spec.statement is None:
            return None
        name, field = self.spec.statement
        spec = BY_NAME[name]
        request = RequestBuilder(spec, self.settings, account, self.clock, credentials)
        reader = Reader(spec, account.secrets())

        def read(window: Window, where: str, tally: Tally) -> list[dict]:
            try:
                rows, *_ = self.client.call(request.build(request.first_params(window)),
                                            reader, tally)
            except ApiError as exc:
                raise located(exc, name, self.where_prefix + where) from None
            return rows
        return name, field, read

    # --- the credential check, the range, its bookmark ---------------------------------------
    def probe(self, keep: bool = False) -> None:
        preflight.probe(self, keep)

    def release(self) -> None:
        preflight.release(self)

    def partition_state(self) -> dict:
        return self.state.partition_state()

    def bookmark(self) -> dt.datetime | None:
        return self.state.stored()

    def starting_point(self) -> tuple[dt.datetime, str]:
        logger = self.stream.logger
        return self.state.starting_point(self.settings, self.clock, logger.warning,
                                         logger.error)

    def retention_edge(self) -> dt.datetime | None:
        return retention_edge(self.spec, self.settings)

    def ticks(self) -> tuple[int, int]:
        """The run's range on this stream's clock: [first, last)."""
        start, _ = self.starting_point()
        return self.clock.from_instant(start), self.clock.from_instant(self.settings.end)

    def commit(self, tick: int) -> None:
        """The window ending at `tick` is completely out."""
        self.windows += 1
        self.state.commit(tick, self.clock)

    @property
    def held_at(self) -> int | None:
        return self.state.held_at

    def planner(self, first: int, last: int):
        if not self.spec.windowed:
            return OnePlanner()
        if self.spec.window == "day":
            return DayPlanner(first, last)
        s, size = self.settings, self.spec.paging.size
        maximum = s.max_window_seconds
        if self.spec.max_window_seconds:  # one second less: each request asks a second wider
            maximum = min(maximum, self.spec.max_window_seconds - 1)
        initial = s.window_seconds if size <= 200 else maximum  # big pages: start big
        return WindowPlanner(first, last, initial=initial, minimum=60, maximum=maximum,
                             target_rows=s.target_rows * max(1, size // 100))

    def summary(self) -> None:
        """The lane's end: what its rows held that was odd."""
        if self._unreadable:
            raw, key = self._unreadable_first
            self.stream.logger.warning(
                "%s: %s%d row%s had a %s that cannot be read as a time (the first: %s, row %s); "
                "emitted with %s null and the value as sent in %s", self.name,
                self.where_prefix, len(self._unreadable),
                "" if len(self._unreadable) == 1 else "s", self.spec.replication_key,
                cut(repr(raw), 80), cut(repr(key), 80), self.spec.replication_key, EXTRA)


def make_shaper(spec: StreamSpec, schema: dict, clock, warn, account: str | None = None):
    """The stream's row shaper: its date-time fields converted by its row-time kind (a tap-made
    time, a snapshot's fetched_at, is already RFC 3339). Also used by the benchmark's floor, for
    the same per-row work."""
    times = {spec.row_time: row_time(spec.row_time, clock).converter(), "rfc3339": _rfc3339}
    time_fields = {name: "rfc3339" if name == "fetched_at" else spec.row_time
                   for name, prop in schema["properties"].items()
                   if prop.get("format") == "date-time"}
    return Shaper(spec.name, schema, time_fields, times, spec.primary_keys, warn, account)


def _rfc3339(value: str) -> str:
    return value


__all__ = ["Lane", "TapError", "make_shaper"]
