"""Reconciliation: each completed window checked against NXCloud's own counts, and the
`sync_audit` stream that lands the result beside the data.

A window's `Tally` is filled while its pages are fetched (requests, retries, rate refusals; the
API's total for each query and the distinct rows it returned, before the window's edges are
trimmed; for SMS, the day's statement). When the window is out, the stream turns it into one
`sync_audit` row; the rows go out after every other stream, in one batch.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata

from singer_sdk import Stream

from . import schemas

NAME = "sync_audit"
KEYS = ("account", "stream", "partition", "window_start", "run_id")
# a window's own fields, kept as a tuple until the rows go out (200 accounts make thousands)
FIELDS = ("account", "stream", "partition", "window_start", "window_end", "rows", "api_count",
          "api_rows", "statement_count", "reconciled", "mismatch", "requests", "retries",
          "rate_refusals", "seconds")


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
        if self.api_count is None and self.statement_count is None:
            return None
        return not self.mismatches


class Audit:
    """The run's audit rows, collected as windows complete (all streams, all accounts)."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex
        self.started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.rows: list[tuple] = []  # FIELDS of each window
        self.mismatched: list[str] = []  # "stream: account: window" of each mismatch

    def window(self, *, stream: str, account: str | None, partition: dict, start: str | None,
               end: str | None, rows: int, tally: Tally) -> None:
        self.rows.append((
            account or "", stream, ", ".join(f"{k}={v}" for k, v in partition.items()),
            # a table read whole has no window: the run's start stands for both ends
            start or self.started, end or self.started, rows, tally.api_count, tally.api_rows,
            tally.statement_count, tally.reconciled, "; ".join(tally.mismatches) or None,
            tally.requests, tally.retries, tally.rate_refusals, round(tally.seconds, 3)))

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
