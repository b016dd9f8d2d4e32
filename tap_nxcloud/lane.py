"""One stream read for one account: its requests, pages, windows and bookmark.

A `WindowedStream` (stream.py) holds a lane per account that has the stream's credentials and
reads them side by side (scheduler.py). Everything a lane sends carries that account's keys to
that account's host; its bookmark lives in the stream's state partition `{"account": name}` (or
at the stream's level for the unnamed one-account form).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import msgspec
import requests

from .accounts import Account
from .audit import Tally
from .clock import (
    UTC,
    EpochClock,
    EpochMillis,
    EpochSeconds,
    WallClock,
    epoch_ms,
    epoch_s,
    parse_bookmark,
)
from .errors import ApiError, StateError, TapError, located
from .http import Client, Throttle, cut
from .paging import Count, PagingError, keyset_pages, offset_pages
from .responses import Reader
from .rows import ACCOUNT, EXTRA, Shaper
from .spec import Bounds, Keyset, Offset, Single, StreamSpec
from .streams import BY_NAME
from .windows import DayPlanner, Window, WindowPlanner

FUTURE_SLACK = dt.timedelta(minutes=10)  # clock differences between the machines that ran us
PRIMED_ROWS = 5_000  # rows of credential checks' answers kept for the sync, per process
PRIMED_PAGE = 200  # a bigger first page is asked again: one request of many for that account

_primed = [0]
_primed_lock = threading.Lock()

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


ROW_TIMES = {"wall": None, "epoch_ms": epoch_ms, "epoch_s": epoch_s}


class Lane:
    """`partition`: the lane's own state context beside its account's (a child stream's parent
    key, {"taskId": ...}); `since`: where a child's range starts (its parent row's time)."""

    # slots: 200 accounts are 2 600 lanes, and a child stream's a lane per parent row
    __slots__ = ("_kept_partition", "_lock", "_primed", "_request", "_start",
                 "_statement", "_unreadable", "_unreadable_first", "account", "added", "client",
                 "clock", "context", "held_at", "label", "name", "open_floor", "parent_open",
                 "partition", "reader", "rows", "settings", "shape", "since", "spec", "stream",
                 "tallies", "when", "where_prefix", "windows")

    def __init__(self, stream, account: Account, partition: dict | None = None,
                 since: dt.datetime | None = None, client: Client | None = None) -> None:
        self.stream = stream
        self.account = account
        spec, settings = stream.spec, stream.settings
        self.spec, self.settings, self.clock = spec, settings, stream.clock
        self.name = spec.name
        self.partition = partition or {}
        self.since = since
        self.parent_open = True  # a child's parent row may still add rows (known: set False)
        self.label = " ".join(filter(None, [account.label, *(
            f"{k} {v}" for k, v in self.partition.items())]))  # "account acme taskId 7"
        self.where_prefix = f"{self.label}: " if self.label else ""
        self.context = ({**(account.context or {}), **self.partition}
                        if account.context is not None or self.partition else None)
        credentials = account.credentials(spec) or ("-", "-")  # --discover without credentials
        self.client = client or Client(spec.name, account.url(spec), timeout=settings.timeout,
                             max_tries=settings.max_retries + 1,
                             backoff_base=settings.backoff_base,
                             backoff_max=settings.backoff_max, cancel=stream.cancel,
                             max_bytes=settings.max_response_bytes,
                             throttle=shared_throttle(spec, credentials[0])
                             if spec.min_interval else None, urls=spec.url_hint)
        self.reader = Reader(spec, account.secrets())
        self._request = self._build_request(account, credentials)
        self.shape = stream.shape  # one per stream; the lane adds its account as a column
        mine = {ACCOUNT: account.name} if settings.has_account_column else {}
        self.added = [{**variant.columns, **mine} for variant in spec.queries]
        # a row's replication key as windows compare it (None: unreadable)
        self.when = ROW_TIMES[spec.row_time] or self.clock.comparable
        self.open_floor: int | None = None  # the oldest open row's tick (spec.still_open)
        self._unreadable: set = set()  # rows kept despite an unreadable time, emitted once
        self._unreadable_first: tuple | None = None
        self._lock = threading.Lock()
        self._start: tuple[dt.datetime, str] | None = None
        # the credential check's answer: (its params, its rows encoded, how many, the total)
        self._primed: tuple[bytes, bytes, int, Any] | None = None
        self.rows = self.windows = 0
        self.tallies: dict[Window, Tally] = {}  # windows being read: what they cost, counts
        self.held_at: int | None = None  # a mismatched window's start (fail_on_mismatch)
        # the day statement's reader (spec.statement); False once it failed this run
        self._statement: Lane | bool | None = None
        self._kept_partition: dict | None = None  # its state partition (the SDK's dict, kept)

    # --- requests ----------------------------------------------------------------------------
    def _build_request(self, account: Account, credentials: tuple[str, str]):
        spec = self.spec
        options = {o.setting: str(self.settings.config.get(o.setting) or o.default)
                   for o in spec.options}
        url = f"{account.url(spec)}{spec.path.format(**options)}"
        auth_scheme = spec.auth
        if options and hasattr(auth_scheme, "biz_type"):  # an option may name them
            auth_scheme = dataclasses.replace(auth_scheme,
                                              biz_type=auth_scheme.biz_type.format(**options),
                                              action=auth_scheme.action.format(**options))
        fields = auth_scheme.fields(*credentials)
        auth = auth_scheme.signer(*credentials)
        constant = {**self.settings.filters(spec), **(account.params(spec) or {})}

        def request(params: dict) -> requests.Request:
            params = {**params, **constant}
            if spec.encoding == "query":
                return requests.Request("GET", url, params={**params, **fields})
            if spec.encoding == "form":
                return requests.Request("POST", url, data={**params, **fields})
            # serialized once: these exact bytes are signed (in the auth hook) and sent; key
            # fields (the email API's) travel in the body too
            body = msgspec.json.encode({**params, **fields})
            return requests.Request("POST", url, data=body, auth=auth,
                                    headers={"Content-Type": "application/json"})
        return request

    def fetch(self, params: dict, where: str = "", tally: Tally | None = None,
              ) -> tuple[list[dict], int | None]:
        primed = self._primed
        if primed is not None:
            self._primed = None
            if primed[0] == msgspec.json.encode(params):  # the check asked exactly this
                with _primed_lock:
                    _primed[0] -= primed[2]
                if tally is not None:
                    tally.requests += 1  # sent as the credential check
                return msgspec.json.decode(primed[1]), primed[3]
        try:
            return self.client.call(self._request(params), self.reader, tally)
        except ApiError as exc:
            raise located(exc, self.name, self.where_prefix + where) from None

    # --- one window --------------------------------------------------------------------------
    def _bounds(self, window: Window) -> Bounds:
        enc, day = self.clock.encode, self.clock.day(window.start)
        if self.spec.bounds == "inclusive":  # flash: documented inclusive bounds
            return Bounds(enc(window.start), enc(window.end - 1), day)
        # undocumented inclusiveness: ask one second wider each side, keep [start, end) below
        return Bounds(enc(window.start - 1), enc(window.end), day)

    def where(self, window: Window) -> str:
        return f"window {self.clock.label(window.start)} to {self.clock.label(window.end)}"

    def _query(self, window: Window) -> dict:
        """The window's parameters (none for a stream without windows), a child's parent key."""
        query = self.spec.query(self._bounds(window)) if self.spec.windowed else {}
        if self.spec.child is not None:
            query[self.spec.child.param] = self.partition[self.spec.child.key]
        return query

    def first_params(self, window: Window) -> dict:
        """The first request of a window (its first variant, page 1)."""
        params = {**self._query(window), **self.spec.queries[0].params}
        paging = self.spec.paging
        if not isinstance(paging, Offset):
            return params
        return {**params, paging.page_param: 1, paging.size_param: paging.size}

    def pages(self, window: Window) -> Iterator[list[dict]]:
        if not self.spec.windowed:
            yield from self._whole()
            return
        spec, paging = self.spec, self.spec.paging
        query = self._query(window)
        stamp = spec.stamp(self._bounds(window)) if spec.stamp else None
        rk, keys, shape, when = spec.replication_key, spec.primary_keys, self.shape, self.when
        open_ = spec.still_open
        lo, hi = self._raw_range(window)
        if rk in spec.added_columns:  # stamped from the window itself: it belongs there
            lo, hi = "", "\uffff"
        where = self.where(window)
        tally = self._tally(window)

        def warn(message: str) -> None:
            self._warn(f"{where}: {message}")
        for variant, added in zip(spec.queries, self.added, strict=True):
            params = {**query, **variant.params}
            count = None
            if isinstance(paging, Keyset):
                def since(start: str, end: str, params=params) -> list[dict]:
                    return self.fetch({**params, "start": start, "end": end}, where, tally)[0]
                pages = keyset_pages(since, query["start"], query["end"], warn, paging.size,
                                     lambda row: when(row.get(rk)), keys[0])
            elif isinstance(paging, Single):
                pages = iter([self.fetch(params, where, tally)[0]])
            else:
                def fetch(page: int, params=params) -> tuple[list[dict], int | None]:
                    return self.fetch({**params, paging.page_param: page,
                                       paging.size_param: paging.size}, where, tally)
                count = Count()
                pages = offset_pages(fetch, paging.size, self.reader.identity, warn, count)
            try:
                for rows in pages:
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
                                self._hold(t)
                            kept.append(shape(row, added))
                    if kept:
                        yield kept
            except PagingError as exc:
                raise ApiError(f"{self.name}: {self.where_prefix}{where}: {exc}") from None
            if count is not None:
                self._reconcile(tally, count, where, variant.columns)
        if spec.statement is not None:
            self._check_statement(window, tally, where)
        tally.seconds = time.monotonic() - tally.started

    # --- reconciliation ----------------------------------------------------------------------
    def _tally(self, window: Window) -> Tally:
        tally = Tally()
        with self._lock:
            self.tallies[window] = tally
        return tally

    def _mismatch(self, tally: Tally, where: str, message: str) -> None:
        tally.mismatches.append(message)
        self._warn(f"{where}: {message}")

    def _reconcile(self, tally: Tally, count: Count, where: str, columns: dict) -> None:
        """The query's distinct rows (before the window's edges) against the API's own total.
        Repairs of shifted pages never count: only a query whose pages held still."""
        tally.counts.append((None if count.shifted else count.api_total, count.rows))
        if count.differs:
            variant = "".join(f" ({k} {v})" for k, v in columns.items())
            self._mismatch(tally, where, f"NXCloud counts {count.api_total} rows for this "
                           f"query{variant}; it returned {count.rows}")

    def _check_statement(self, window: Window, tally: Tally, where: str) -> None:
        """A day over before the run's end: its records (the day's distinct rows as the API
        returned them) against the app's own statement of that day."""
        day_end = window.start - window.start % 86400 + 86400
        if (day_end > self.clock.from_instant(self.settings.end) or tally.api_rows is None
                or self._statement is False):
            return  # the day is not over (both counts still move), or no statement to read
        name, field = self.spec.statement
        with self._lock:  # windows of several workers share it
            if self._statement is None:
                reader = types.SimpleNamespace(spec=BY_NAME[name], settings=self.settings,
                                               clock=self.clock, cancel=self.stream.cancel,
                                               shape=None, logger=self.stream.logger)
                self._statement = Lane(reader, self.account, client=self.client)
            statement = self._statement
        if statement is False:
            return
        try:
            rows, _ = statement.fetch(statement.first_params(window),
                                      f"{where}: its statement ({name})", tally)
        except TapError as exc:  # the records are read all the same: say so, once
            with self._lock:  # two days refused at once (two workers) still warn once
                first, self._statement = self._statement is not False, False
            if first:
                self._warn(f"the statement ({name}) could not be read, so days are not "
                           f"reconciled this run: {cut(str(exc), 300)}")
            return
        value = rows[0].get(field) if len(rows) == 1 else None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self._warn(f"{where}: the statement ({name}) has no count of messages to compare "
                       f"with ({field} is {cut(repr(value), 40)}); not reconciled")
            return
        tally.statement_count = value
        tolerance = self.settings.value("reconcile_tolerance")
        if abs(value - tally.api_rows) > tolerance:
            self._mismatch(tally, where, f"NXCloud's statement ({name} {field}) counts {value} "
                           f"messages for this day; its records number {tally.api_rows} "
                           f"(reconcile_tolerance {tolerance})")

    def _unreadable_time(self, row: dict, columns: dict) -> dict | None:
        """A row whose replication key cannot be read as a time: the query for this window
        returned it, so it is kept (once a run), its time null and the value as sent in
        `extra_fields`; the end of the stream's sync counts them in one WARNING."""
        rk = self.spec.replication_key
        key = (self.reader.identity(row), *columns.values())
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

    def _whole(self) -> Iterator[list[dict]]:
        """A stream without windows: the whole table page by page, or the snapshot's one row."""
        paging, shape, where = self.spec.paging, self.shape, "the whole table"
        tally = self._tally(Window(0, 1))
        if isinstance(paging, Single):
            fetched_at = dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            rows = self.fetch(self._query(Window(0, 1)), where, tally)[0]
            tally.seconds = time.monotonic() - tally.started
            yield [shape({**row, "fetched_at": fetched_at}, self.added[0]) for row in rows]
            return

        def fetch(page: int) -> tuple[list[dict], int | None]:
            return self.fetch({**self._query(Window(0, 1)), paging.page_param: page,
                               paging.size_param: paging.size}, where, tally)
        count = Count()
        try:
            for rows in offset_pages(fetch, paging.size, self.reader.identity,
                                     lambda m: self._warn(f"{where}: {m}"), count):
                yield [shape(row, self.added[0]) for row in rows]
        except PagingError as exc:
            raise ApiError(f"{self.name}: {self.where_prefix}{where}: {exc}") from None
        self._reconcile(tally, count, where, {})
        tally.seconds = time.monotonic() - tally.started

    def _hold(self, t) -> None:
        """An open row (a task still calling): the bookmark may not pass its time."""
        tick = self._tick_of(t)
        with self._lock:
            if self.open_floor is None or tick < self.open_floor:
                self.open_floor = tick

    def _tick_of(self, t) -> int:
        if self.spec.row_time == "epoch_ms":
            return t // 1000
        if self.spec.row_time == "epoch_s":
            return t
        return self.clock.from_instant(self.clock.parse(t))

    def _raw_range(self, window: Window) -> tuple[Any, Any]:
        """The window in the replication key's comparable form: wall strings compare as text;
        epoch times as numbers."""
        if self.spec.row_time == "wall":
            return self.clock.wall(window.start), self.clock.wall(window.end)
        scale = 1000 if self.spec.row_time == "epoch_ms" else 1
        return window.start * scale, window.end * scale

    def _warn(self, message: str) -> None:
        zone = f" ({self.settings.zone.key})" if self.spec.row_time == "wall" else ""
        self.stream.logger.warning("%s: %s%s%s", self.name, self.where_prefix, message, zone)

    # --- the credential check ----------------------------------------------------------------
    def probe(self, keep: bool = False) -> None:
        """One request that proves the credentials work: the first request of the sync itself
        (`keep`: its answer is kept for the sync, which then does not ask again), or, where the
        range is empty, of its last minute."""
        if not self.spec.windowed:
            window, where = Window(0, 1), "the whole table"
        else:
            first, last = self.ticks()
            if first < last:
                window = self.planner(first, last).next()
            else:  # nothing to read: prove the keys on the last minute still kept
                edge = self.retention_edge()
                if edge is not None and edge >= self.settings.end:
                    return
                window = Window(last - 60, last)
                keep = False
            where = self.where(window)
        params = self.first_params(window)
        paging = self.spec.paging
        if isinstance(paging, Offset) and not keep:
            params = {**params, paging.size_param: paging.min_size}
        result = self.fetch(params, f"checking the credentials: {where}")
        if keep:
            with _primed_lock:
                # one account: its first page whatever its size (asking again would cost voice
                # and SIP a paced request); many: small pages only, so the budget serves many
                if (self.settings.named and len(result[0]) > PRIMED_PAGE) or (
                        _primed[0] + len(result[0]) > PRIMED_ROWS):
                    return
                _primed[0] += len(result[0])
            # kept encoded: a third of the memory of the dicts, in one block
            self._primed = (msgspec.json.encode(params), msgspec.json.encode(result[0]),
                            len(result[0]), result[1])

    def release(self) -> None:
        """Drop a kept answer the sync did not use (the lane failed, or read nothing)."""
        primed, self._primed = self._primed, None
        if primed is not None:
            with _primed_lock:
                _primed[0] -= primed[2]

    # --- the range and its bookmark ----------------------------------------------------------
    def partition_state(self) -> dict:
        # looked up once: the SDK finds a partition by a scan of the stream's list, and a
        # child has one per task (a thousand commits would scan a thousand each)
        if self._kept_partition is None:
            self._kept_partition = self.stream.get_context_state(self.context)
        return self._kept_partition

    def bookmark(self) -> dt.datetime | None:
        """The stored bookmark, checked: a state a user can break is refused with one line."""
        if not self.spec.windowed:
            return None
        value = self.partition_state().get("replication_key_value")
        if value in (None, "") and self.context is not None and not self.partition \
                and len(self.stream.lanes) == 1:
            # a one-account run reads a bookmark written at the stream's level (before
            # accounts had partitions); it moves into the partition at the first commit
            value = self.stream.get_context_state(None).get("replication_key_value")
        if value in (None, ""):
            return None
        whose = f"{self.name}: {self.where_prefix}"
        try:
            parsed = parse_bookmark(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise StateError(f"{whose}the state's bookmark {cut(repr(value), 60)} is not a "
                             f"{self.spec.replication_key} time (RFC 3339 with an offset); fix "
                             "it or remove this stream's entry from the state to read from "
                             "start_date") from None
        if parsed > dt.datetime.now(UTC) + FUTURE_SLACK:
            raise StateError(f"{whose}the state's bookmark {cut(repr(value), 60)} is in "
                             "the future; the state was edited or written by a machine with a "
                             "wrong clock: fix it or remove this stream's entry from the state")
        return parsed

    def commit(self, tick: int) -> None:
        """The window ending at `tick` is completely out: move the bookmark (the STATE message
        itself is the stream's to write)."""
        self.windows += 1
        if not self.spec.windowed:
            return
        if self.open_floor is not None:  # an open row's time holds the bookmark back
            tick = min(tick, self.open_floor)
        if self.held_at is not None:  # so does a window that did not reconcile
            tick = min(tick, self.held_at)
        state = self.partition_state()
        state["replication_key"] = self.spec.replication_key
        state["replication_key_value"] = self.clock.bookmark(tick)
        if self.context is not None and not self.partition:  # no stale stream-level bookmark
            level = self.stream.get_context_state(None)
            level.pop("replication_key_value", None)
            level.pop("replication_key", None)

    def hold(self, tick: int) -> None:
        """A window from `tick` did not reconcile (fail_on_mismatch): the bookmark stays
        before it, whatever later windows complete, so the next run reads it again."""
        self.held_at = tick if self.held_at is None else min(self.held_at, tick)

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
        """Where this run starts, and why (worked out once: it may warn)."""
        if self._start is not None:
            return self._start
        s = self.settings
        bookmark = self.bookmark()
        start, why = s.start, "start_date"
        if self.since is not None and self.since > start:  # a child: from its parent row
            start, why = self.since, f"{self.spec.child.parent} {self.partition} began then"
        lookback = s.lookback(self.spec)
        if bookmark is not None and bookmark - lookback > start:
            start = bookmark - lookback
            mark = self.clock.label(self.clock.from_instant(bookmark))
            why = f"bookmark {mark} minus the {span(int(lookback.total_seconds()))} lookback"
        edge = self.retention_edge()
        if edge is not None and start < edge:
            days = self.spec.retention_days
            self.stream.logger.warning(
                "%s: %sNXCloud keeps %s records for %d days only: %s to %s can no longer be "
                "read; starting at %s", self.name, self.where_prefix, self.spec.label, days,
                start.astimezone(s.zone).isoformat(), edge.astimezone(s.zone).isoformat(),
                edge.astimezone(s.zone).isoformat())
            start, why = edge, f"{why}, clamped to the {days}-day retention"
        self._start = (start, why)
        return self._start

    def ticks(self) -> tuple[int, int]:
        """The run's range on this stream's clock: [first, last)."""
        start, _ = self.starting_point()
        return self.clock.from_instant(start), self.clock.from_instant(self.settings.end)

    def planner(self, first: int, last: int):
        if not self.spec.windowed:
            return OnePlanner()
        if self.spec.window == "day":
            return DayPlanner(first, last)
        s, paging = self.settings, self.spec.paging
        size = paging.size
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


def make_shaper(spec: StreamSpec, schema: dict, clock: WallClock | EpochClock, warn,
                account: str | None = None) -> Shaper:
    """The stream's row shaper: its date-time fields are wall-clock strings of the zone, or
    epoch milliseconds (contact center), or epoch seconds (AI agent); a tap-made time (a
    snapshot's fetched_at) is already RFC 3339. Also used by the benchmark's floor, for the same
    per-row work."""
    times = {"wall": getattr(clock, "rfc3339", None) or WallClock(UTC).rfc3339,
             "epoch_ms": EpochMillis(), "epoch_s": EpochSeconds(), "rfc3339": _rfc3339}
    time_fields = {name: "rfc3339" if name == "fetched_at" else spec.row_time
                   for name, prop in schema["properties"].items()
                   if prop.get("format") == "date-time"}
    return Shaper(spec.name, schema, time_fields, times, spec.primary_keys, warn, account)


def _rfc3339(value: str) -> str:
    return value


def span(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"
