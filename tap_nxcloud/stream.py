"""The one stream class: a `StreamSpec` read in time windows, oldest first, bookmarked per window.

The bookmark says how far the range is completely read, not the newest row seen: rows of a window
come in no particular order, and a window with no rows still moves it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import requests
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

from . import schemas
from .clock import UTC, EpochClock, EpochMillis, WallClock, epoch_ms, parse_bookmark
from .errors import ApiError, Interrupted, StateError, located
from .http import Client, cut
from .paging import PagingError, keyset_pages, offset_pages
from .responses import Reader
from .rows import ACCOUNT, EXTRA, Shaper
from .runner import Cancelled, iter_windows
from .sdk_private import DirectRecords, one_error_line, tap_of, write_state
from .settings import Settings
from .spec import Bounds, Keyset, StreamSpec
from .windows import DayPlanner, Window, WindowPlanner

FUTURE_SLACK = dt.timedelta(minutes=10)  # clock differences between the machines that ran us


class WindowedStream(DirectRecords, Stream):
    # Rows are shaped to their schema by `rows.Shaper`; the SDK's own conformance would redo it.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    is_sorted = False

    def __init__(self, tap, spec: StreamSpec, settings: Settings) -> None:
        self.spec = spec
        schema = schemas.load(spec.name)
        schema["properties"][EXTRA] = {
            "type": ["object", "null"], "additionalProperties": True,
            "description": "Fields NXCloud sent that this schema does not declare, and values "
                           "that could not be converted to their declared type, as sent."}
        keys = list(spec.primary_keys)
        if settings.account is not None:
            schema["properties"][ACCOUNT] = {
                "type": "string", "description": "The tap's `account` setting (first key)."}
            keys.insert(0, ACCOUNT)
        super().__init__(tap, schema=schema, name=spec.name)
        self.primary_keys = keys  # public setters; the SDK's __init__ resets both
        self.replication_key = spec.replication_key
        self.settings = settings
        one_error_line(self.logger)
        self.cancel = threading.Event()
        self.clock = WallClock(settings.zone) if spec.clock == "wall" else EpochClock()
        credentials = settings.credentials(spec) or ("-", "-")  # --discover without credentials
        self.client = Client(spec.name, settings.url(spec), timeout=settings.timeout,
                             max_tries=settings.max_retries + 1,
                             backoff_base=settings.backoff_base,
                             backoff_max=settings.backoff_max, cancel=self.cancel,
                             min_interval=spec.min_interval * 1.05,  # a margin for jitter
                             max_bytes=settings.max_response_bytes)
        self.reader = Reader(spec, settings.secret_values())
        self._request = self._build_request(credentials)
        self.shape = make_shaper(spec, schema, self.clock, self.logger.warning, settings.account)
        # a row's replication key as windows compare it (None: unreadable)
        self.when = self.clock.comparable if spec.clock == "wall" else epoch_ms
        self._unreadable: set = set()  # rows kept despite an unreadable time, emitted once
        self._unreadable_first: tuple | None = None
        self._unreadable_lock = threading.Lock()

    # --- requests ----------------------------------------------------------------------------
    def _build_request(self, credentials: tuple[str, str]):
        spec, url = self.spec, f"{self.settings.url(self.spec)}{self.spec.path}"
        fields = spec.auth.fields(*credentials)
        auth = spec.auth.signer(*credentials)
        constant = self.settings.filters(spec)

        def request(params: dict) -> requests.Request:
            params = {**params, **constant}
            if spec.encoding == "query":
                return requests.Request("GET", url, params={**params, **fields})
            if spec.encoding == "form":
                return requests.Request("POST", url, data={**params, **fields})
            # serialized once: these exact bytes are signed (in the auth hook) and sent
            body = msgspec.json.encode(params)
            return requests.Request("POST", url, data=body, auth=auth,
                                    headers={"Content-Type": "application/json"})
        return request

    def fetch(self, params: dict, where: str = "") -> tuple[list[dict], int | None]:
        try:
            return self.client.call(self._request(params), self.reader)
        except ApiError as exc:
            raise located(exc, self.name, where) from None

    # --- one window --------------------------------------------------------------------------
    def _bounds(self, window: Window) -> Bounds:
        enc, day = self.clock.encode, self.clock.day(window.start)
        if isinstance(self.spec.paging, Keyset):  # flash: documented inclusive bounds
            return Bounds(enc(window.start), enc(window.end - 1), day)
        # undocumented inclusiveness: ask one second wider each side, keep [start, end) below
        return Bounds(enc(window.start - 1), enc(window.end), day)

    def pages(self, window: Window) -> Iterator[list[dict]]:
        spec, paging = self.spec, self.spec.paging
        query = spec.query(self._bounds(window))
        rk, keys, shape, when = spec.replication_key, spec.primary_keys, self.shape, self.when
        lo, hi = self._raw_range(window)
        where = f"window {self.clock.label(window.start)} to {self.clock.label(window.end)}"

        def warn(message: str) -> None:
            self._warn(f"{where}: {message}")
        for variant in spec.queries:
            params = {**query, **variant.params}
            if isinstance(paging, Keyset):
                def since(start: str, end: str, params=params) -> list[dict]:
                    return self.fetch({**params, "start": start, "end": end}, where)[0]
                pages = keyset_pages(since, query["start"], query["end"], warn, paging.size,
                                     lambda row: when(row.get(rk)), keys[0])
            else:
                def fetch(page: int, params=params) -> tuple[list[dict], int | None]:
                    return self.fetch({**params, paging.page_param: page,
                                       paging.size_param: paging.size}, where)
                pages = offset_pages(fetch, paging.size, self.reader.identity, warn)
            try:
                for rows in pages:
                    kept = []
                    for row in rows:
                        t = when(row.get(rk))
                        if t is None:
                            odd = self._unreadable_time(row, variant.columns)
                            if odd is not None:
                                kept.append(odd)
                        elif lo <= t < hi:
                            kept.append(shape(row, variant.columns))
                    if kept:
                        yield kept
            except PagingError as exc:
                raise ApiError(f"{self.name}: {where}: {exc}") from None

    def _unreadable_time(self, row: dict, columns: dict) -> dict | None:
        """A row whose replication key cannot be read as a time: the query for this window
        returned it, so it is kept (once a run), its time null and the value as sent in
        `extra_fields`; the end of the stream's sync counts them in one WARNING."""
        rk = self.spec.replication_key
        key = (self.reader.identity(row), *columns.values())
        with self._unreadable_lock:
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

    def _raw_range(self, window: Window) -> tuple[Any, Any]:
        """The window in the replication key's wire form: wall strings compare as text; epoch
        milliseconds as numbers."""
        if self.spec.clock == "wall":
            return self.clock.wall(window.start), self.clock.wall(window.end)
        return window.start * 1000, window.end * 1000

    def _warn(self, message: str) -> None:
        zone = f" ({self.settings.zone.key})" if self.spec.clock == "wall" else ""
        self.logger.warning("%s: %s%s", self.name, message, zone)

    def probe(self) -> None:
        """One small request that proves the credentials work (--test, and before a sync's
        first record), for the range's last minute: inside what NXCloud keeps, unless nothing
        of the range is (then no request is sent at all, and none is needed)."""
        edge = self.retention_edge()
        if edge is not None and edge >= self.settings.end:
            return
        end = self.clock.from_instant(self.settings.end)
        bounds = self._bounds(Window(end - 60, end))
        params = {**self.spec.query(bounds), **self.spec.queries[0].params}
        if not isinstance(self.spec.paging, Keyset):
            params |= {self.spec.paging.page_param: 1, self.spec.paging.size_param: 1}
        self.fetch(params, "checking the credentials")

    # --- the range and its bookmark ----------------------------------------------------------
    def bookmark(self) -> dt.datetime | None:
        """The stored bookmark, checked: a state a user can break is refused with one line."""
        value = self.get_context_state(None).get("replication_key_value")
        if value in (None, ""):
            return None
        try:
            parsed = parse_bookmark(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise StateError(f"{self.name}: the state's bookmark {cut(repr(value), 60)} is not a "
                             f"{self.replication_key} time (RFC 3339 with an offset); fix it or "
                             "remove this stream's entry from the state to read from "
                             "start_date") from None
        if parsed > dt.datetime.now(UTC) + FUTURE_SLACK:
            raise StateError(f"{self.name}: the state's bookmark {cut(repr(value), 60)} is in "
                             "the future; the state was edited or written by a machine with a "
                             "wrong clock: fix it or remove this stream's entry from the state")
        return parsed

    def retention_edge(self) -> dt.datetime | None:
        """The oldest instant NXCloud still answers for (None: not stated), with a margin for the
        run's length; for APIs that take dates, the first whole day still kept."""
        days = self.spec.retention_days
        if not days:
            return None
        edge = dt.datetime.now(UTC) - dt.timedelta(days=days, minutes=-15)
        if self.spec.window == "day":
            local = edge.astimezone(self.settings.zone).date() + dt.timedelta(days=1)
            edge = dt.datetime.combine(local, dt.time(), self.settings.zone).astimezone(UTC)
        return edge

    def starting_point(self) -> tuple[dt.datetime, str]:
        s = self.settings
        bookmark = self.bookmark()
        start, why = s.start, "start_date"
        lookback = s.lookback(self.spec)
        if bookmark is not None and bookmark - lookback > start:
            start = bookmark - lookback
            mark = self.clock.label(self.clock.from_instant(bookmark))
            why = f"bookmark {mark} minus the {_span(int(lookback.total_seconds()))} lookback"
        edge = self.retention_edge()
        if edge is not None:
            days = self.spec.retention_days
            if start < edge:
                self.logger.warning(
                    "%s: NXCloud keeps %s records for %d days only: %s to %s can no longer be "
                    "read; starting at %s", self.name, self.spec.label, days,
                    start.astimezone(s.zone).isoformat(), edge.astimezone(s.zone).isoformat(),
                    edge.astimezone(s.zone).isoformat())
                start, why = edge, f"{why}, clamped to the {days}-day retention"
        return start, why

    def _planner(self, first: int, last: int):
        if self.spec.window == "day":
            return DayPlanner(first, last)
        s, paging = self.settings, self.spec.paging
        size = paging.size
        maximum = s.max_window_seconds
        if self.spec.max_window_seconds:  # one second less: each request asks a second wider
            maximum = min(maximum, self.spec.max_window_seconds - 1)
        initial = s.window_seconds if size <= 100 else maximum  # big pages: start big
        return WindowPlanner(first, last, initial=initial, minimum=60, maximum=maximum,
                             target_rows=s.target_rows * max(1, size // 100))

    def _budget_rows(self) -> int:
        """Rows the stream's windows may hold ready, all together: a window's worth for each
        worker (at 50 ms a response, 2 x window_target_rows left workers idle: flash and cc
        0.41 x the sequential time against 0.36), whatever the range or the page size."""
        return max(2, self.settings.workers) * self.settings.target_rows

    def _commit(self, tick: int) -> None:
        state = self.get_context_state(None)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = self.clock.bookmark(tick)
        write_state(self)

    def get_replication_key_signpost(self, context) -> None:
        """No signpost: bookmarks are window ends, never later than the range's end."""
        return None

    def get_records(self, context) -> Iterable[dict]:
        s = self.settings
        start, why = self.starting_point()
        first, last = self.clock.from_instant(start), self.clock.from_instant(s.end)
        self.logger.info("%s: reading %s to %s (%s)", self.name, self.clock.label(first),
                         self.clock.label(last), why)
        planner = self._planner(first, last)
        self.cancel.clear()
        self._prepare_direct_writes()
        tap = tap_of(self)
        tap.active_streams.add(self)
        rows = windows = 0
        started = noted = time.monotonic()
        try:
            # rate-limited streams read their windows in order: fetching ahead of the pacing
            # wins nothing, and a kill then re-reads one window, not the ones fetched ahead
            workers = 1 if self.spec.min_interval else s.workers
            for window, pages in iter_windows(planner, self.pages, workers=workers,
                                              cancel=self.cancel,
                                              budget_rows=self._budget_rows(),
                                              page_rows=self.spec.paging.size):
                for page in pages:
                    rows += len(page)
                    self._mark_extracted()
                    yield from page
                self._commit(window.end)
                windows += 1
                if time.monotonic() - noted >= s.progress_every:
                    noted = time.monotonic()
                    self.logger.info("%s: %d rows so far; complete up to %s; now reading "
                                     "windows of %s", self.name, rows,
                                     self.clock.label(window.end), _span(planner.size))
        except Cancelled:
            raise Interrupted(tap, tap.terminating) from None
        finally:
            tap.active_streams.discard(self)
        self.shape.summary()
        if self._unreadable:
            raw, key = self._unreadable_first
            self.logger.warning(
                "%s: %d row%s had a %s that cannot be read as a time (the first: %s, row %s); "
                "emitted with %s null and the value as sent in %s", self.name,
                len(self._unreadable), "" if len(self._unreadable) == 1 else "s",
                self.replication_key, cut(repr(raw), 80), cut(repr(key), 80),
                self.replication_key, EXTRA)
        self.logger.info("%s: done: %d rows in %d window%s, %d requests, %.1f s", self.name,
                         rows, windows, "" if windows == 1 else "s", self.client.requests_sent,
                         time.monotonic() - started)


def make_shaper(spec: StreamSpec, schema: dict, clock: WallClock | EpochClock, warn,
                account: str | None = None) -> Shaper:
    """The stream's row shaper: its date-time fields are the clock's wall-clock strings, or epoch
    milliseconds (contact center). Also used by the benchmark's floor, for the same per-row work."""
    kind = "wall" if spec.clock == "wall" else "epoch_ms"
    times = {"wall": getattr(clock, "rfc3339", None), "epoch_ms": EpochMillis()}
    time_fields = {name: kind for name, prop in schema["properties"].items()
                   if prop.get("format") == "date-time"}
    return Shaper(spec.name, schema, time_fields, times, spec.primary_keys, warn, account)


def _span(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"
