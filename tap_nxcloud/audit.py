"""Reconciliation: each completed window checked against NXCloud's own counts, and the
`sync_audit` stream that lands the result beside the data.

A lane's `Reconciler` keeps the tallies of its windows being read, compares each query's rows
with the API's total (`reconcile`) and each finished SMS day with the app's statement
(`check_statement`); a difference is one WARNING and a mismatch in the window's tally.

A window's `Tally` is filled while its pages are fetched (requests, retries, rate refusals; the
API's total for each query and the distinct rows it returned, before the window's edges are
trimmed; for SMS, the day's statement). When the window is out, the stream turns it into one
`sync_audit` row; the rows go out after every other stream, in one batch.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

from singer_sdk import Stream

from . import schemas
from .errors import TapError
from .http import cut
from .paging import Count
from .windows import Window

NAME = "sync_audit"
KEYS = ("account", "stream", "partition", "window_start", "run_id")
# a window's own fields, kept as a tuple until the rows go out (200 accounts make thousands)
FIELDS = ("account", "stream", "partition", "window_start", "window_end", "rows", "api_count",
          "api_rows", "statement_count", "reconciled", "mismatch", "requests", "retries",
          "rate_refusals", "seconds", "retention_margin_hours", "lost_from", "lost_to")


def _version() -> str:
    try:
        return metadata.version("tap-nxcloud")
    except metadata.PackageNotFoundError:  # a source tree without an install
        return "unknown"


VERSION = _version()


@dataclass
class Tally:
    """What one window of one lane cost, and what the API's own counts say of it."""

    requests: int = 0
    retries: int = 0
    rate_refusals: int = 0
    counts: list[tuple[int | None, int]] = field(default_factory=list)  # per query: API, rows
    statement_count: int | None = None  # SMS: the day's submit_size
    outside: int = 0  # rows returned outside the range the query asked for
    outside_first: object = None
    mismatches: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def api_count(self) -> int | None:
        """The API's total for the window's queries (voice: both voiceTypes), if each had one."""
        if not self.counts or any(total is None for total, _ in self.counts):
            return None
        return sum(total for total, _ in self.counts)

    @property
    def api_rows(self) -> int | None:
        return sum(rows for _, rows in self.counts) if self.counts else None

    @property
    def reconciled(self) -> bool | None:
        """True or False where a count of NXCloud's was there to compare; None where none."""
        if self.mismatches:  # a count that differs, or rows outside the range asked
            return False
        if self.api_count is None and self.statement_count is None:
            return None
        return True


class Reconciler:
    """One lane's reconciliation. `statement`: a callable (window, where, tally) -> the
    statement's rows for the window's day (None: the stream has no statement); `warn(text)`."""

    __slots__ = ("_lock", "_statement", "_unreadable_statement", "day_over", "tallies",
                 "tolerance", "warn")

    def __init__(self, warn: Callable[[str], None], tolerance: int,
                 day_over: Callable[[Window], bool],
                 statement: tuple[str, str, Callable] | None = None) -> None:
        self.warn, self.tolerance, self.day_over = warn, tolerance, day_over
        self._statement = statement
        self._unreadable_statement = False
        self._lock = threading.Lock()  # windows of several workers share it
        self.tallies: dict[Window, Tally] = {}  # windows being read: what they cost, counts

    def tally(self, window: Window) -> Tally:
        tally = Tally()
        with self._lock:
            self.tallies[window] = tally
        return tally

    def mismatch(self, tally: Tally, where: str, message: str) -> None:
        tally.mismatches.append(message)
        self.warn(f"{where}: {message}")

    def reconcile(self, tally: Tally, count: Count, where: str, columns: dict) -> None:
        """The query's distinct rows (before the window's edges) against the API's own total.
        Repairs of shifted pages never count: only a query whose pages held still."""
        tally.counts.append((None if count.shifted else count.api_total, count.rows))
        if count.differs:
            variant = "".join(f" ({k} {v})" for k, v in columns.items())
            self.mismatch(tally, where, f"NXCloud counts {count.api_total} rows for this "
                          f"query{variant}; it returned {count.rows}")

    def check_statement(self, window: Window, tally: Tally, where: str) -> None:
        """A day over before the run's end: its records (the day's distinct rows as the API
        returned them) against the app's own statement of that day."""
        if self._statement is None or self._unreadable_statement:
            return
        if not self.day_over(window) or tally.api_rows is None:
            return  # the day is not over (both counts still move), or nothing to compare
        name, field_, read = self._statement
        try:
            rows = read(window, f"{where}: its statement ({name})", tally)
        except TapError as exc:  # the records are read all the same: say so, once
            with self._lock:  # two days refused at once (two workers) still warn once
                first, self._unreadable_statement = not self._unreadable_statement, True
            if first:
                self.warn(f"the statement ({name}) could not be read, so days are not "
                          f"reconciled this run: {cut(str(exc), 300)}")
            return
        value = rows[0].get(field_) if len(rows) == 1 else None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.warn(f"{where}: the statement ({name}) has no count of messages to compare "
                      f"with ({field_} is {cut(repr(value), 40)}); not reconciled")
            return
        tally.statement_count = value
        if abs(value - tally.api_rows) > self.tolerance:
            self.mismatch(tally, where, f"NXCloud's statement ({name} {field_}) counts {value} "
                          f"messages for this day; its records number {tally.api_rows} "
                          f"(reconcile_tolerance {self.tolerance})")


class Audit:
    """The run's audit rows, collected as windows complete (all streams, all accounts)."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.rows: list[tuple] = []  # FIELDS of each window
        self.mismatched: list[str] = []  # "stream: account: window" of each mismatch
        self.lost: list[str] = []  # "stream: account: from to to" of each range lost

    def window(self, *, stream: str, account: str | None, partition: dict, start: str | None,
               end: str | None, rows: int, tally: Tally, margin: float | None = None,
               lost: tuple | None = None) -> None:
        self.rows.append((
            account or "", stream, ", ".join(f"{k}={v}" for k, v in partition.items()),
            # a table read whole has no window: the run's start stands for both ends
            start or self.started, end or self.started, rows, tally.api_count, tally.api_rows,
            tally.statement_count, tally.reconciled, "; ".join(tally.mismatches) or None,
            tally.requests, tally.retries, tally.rate_refusals, round(tally.seconds, 3), margin,
            *((t.isoformat() for t in lost) if lost else (None, None))))
        if lost:
            self.lost.append(f"{stream}: {f'account {account}: ' if account else ''}"
                             f"{lost[0].isoformat()} to {lost[1].isoformat()}")

    def records(self):
        run = {"tap_version": VERSION, "run_id": self.run_id, "run_started_at": self.started}
        for row in self.rows:
            yield {**dict(zip(FIELDS, row, strict=True)), **run}


class AuditStream(Stream):
    """`sync_audit`: one row per stream, account and completed window of this run. Synced
    last (its rows are the other streams'); deselect it like any stream. It reads no API:
    the tap's checks and failures look at `TapNXCloud.api_streams` only."""

    def __init__(self, tap, audit: Audit) -> None:
        super().__init__(tap, schema=schemas.load(NAME), name=NAME)
        self.primary_keys = list(KEYS)
        self.audit = audit

    def get_records(self, context):
        yield from self.audit.records()
