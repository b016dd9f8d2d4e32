"""The one stream class: a `StreamSpec` read in time windows, oldest first, bookmarked per window,
for every account that has the stream's credentials (a `Lane` each, read side by side).

The bookmark says how far the range is completely read, not the newest row seen: rows of a window
come in no particular order, and a window with no rows still moves it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

from . import schemas
from . import state as states
from .accounts import Account
from .ahead import Ahead
from .clock import EpochClock, WallClock, parse_bookmark
from .errors import ApiError, Interrupted, TapError
from .keys import identity
from .lane import Lane, make_shaper
from .rows import ACCOUNT, EXTRA
from .scheduler import (
    ROW_BYTES,
    Cancelled,
    Event,
    LaneDone,
    LaneFailed,
    LaneWork,
    RoundDone,
    Rows,
    Scheduler,
    WindowDone,
)
from .sdk_private import DirectRecords, one_error_line, tap_of
from .settings import Settings
from .spec import StreamSpec
from .streams import STREAMS
from .writer import check_output, encoded_pages

MAX_THREADS = 64


class WindowedStream(DirectRecords, Stream):
    # Rows are shaped to their schema by `rows.Shaper`; the SDK's own conformance would redo it.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    is_sorted = False

    def __init__(self, tap, spec: StreamSpec, settings: Settings,
                 accounts: list[Account] | None = None) -> None:
        self.spec = spec
        schema = schemas.load(spec.name)
        schema["properties"][EXTRA] = {
            "type": ["object", "null"], "additionalProperties": True,
            "description": "Fields NXCloud sent that this schema does not declare, and values "
                           "that could not be converted to their declared type, as sent."}
        keys = list(spec.primary_keys)
        if settings.has_account_column:
            schema["properties"][ACCOUNT] = {
                "type": "string",
                "description": "The account the row was read for: the `name` of its entry in "
                               "`accounts`, or the `account` setting (first key)."}
            keys.insert(0, ACCOUNT)
        super().__init__(tap, schema=schema, name=spec.name)
        self.primary_keys = keys  # public setters; the SDK's __init__ resets both
        self.replication_key = spec.replication_key  # None: a full-table stream for the SDK
        self.settings = settings
        one_error_line(self.logger)
        self.cancel = threading.Event()
        self.clock = WallClock(settings.zone) if spec.clock == "wall" else EpochClock()
        self.shape = make_shaper(spec, schema, self.clock, self.logger.warning)
        # rows told apart by their key as it will be emitted (keys.py)
        self.identity = identity(schema, tuple(
            k for k in spec.primary_keys if k not in spec.added_columns))
        self.accounts = accounts or settings.accounts[:1]
        # a child's lanes are its parent's rows of this run: made when it syncs
        self.lanes = [] if spec.child and accounts else [Lane(self, a) for a in self.accounts]
        self.failures: list[tuple[Lane, BaseException]] = []
        self.quiet = False  # read without emitting (a parent for its deselected... its child)
        self.children = [s for s in STREAMS if s.child and s.child.parent == spec.name]
        self._finished_partitions = states.Finished()  # child partitions to leave the state
        self._ahead: Ahead | None = None  # its reading, begun before its turn (ahead.py)
        self._lost_audited: set[int] = set()  # lanes whose loss to retention is in the audit

    def apply_catalog(self, catalog) -> None:
        """A catalog discovered without `accounts` lacks the `account` key and column: with
        accounts, `account` is a key whatever the catalog says (an upserting target would
        otherwise merge two accounts' rows)."""
        super().apply_catalog(catalog)
        keys = list(self.primary_keys or [])
        if self.settings.has_account_column and ACCOUNT not in keys:
            self.logger.info("%s: the catalog's key properties %s lack `account` (discovered "
                             "without accounts): the records are keyed by account too",
                             self.name, keys)
            self.primary_keys = [ACCOUNT, *keys]

    @property
    def effective_schema(self) -> dict:
        """The catalog's schema, with the `account` column the records carry."""
        schema = super().effective_schema
        if self.settings.has_account_column and ACCOUNT not in schema.get("properties", {}):
            schema = {**schema, "properties": {ACCOUNT: self.schema["properties"][ACCOUNT],
                                               **schema.get("properties", {})}}
        return schema

    @property
    def isolated(self) -> bool:
        """Accounts fail alone: one's refused key or failing server stops only its lane."""
        return self.settings.named

    # --- credential checks -------------------------------------------------------------------
    def probe(self, keep: bool = False) -> list[tuple[Lane, TapError]]:
        """Prove every lane's credentials (see Lane.probe); the lanes that failed, and why."""
        failed = []
        for lane in self.lanes:
            try:
                lane.probe(keep)
            except TapError as exc:
                failed.append((lane, exc))
        return failed

    def drop(self, lane: Lane, error: BaseException) -> None:
        """Stop reading a lane (its account's bookmark stays where it was)."""
        lane.release()
        self.failures.append((lane, error))
        self.lanes = [x for x in self.lanes if x is not lane]

    # --- the sync ----------------------------------------------------------------------------
    def _budget(self) -> int:
        """Bytes the stream's windows may hold ready, all lanes together: a window's worth of
        rows for each worker (at 50 ms a response, 2 x window_target_rows left workers idle),
        and at least two pages each (half the budget is for pages being fetched), whatever
        the range, the page size or the number of accounts."""
        rows = max(self.settings.target_rows, 2 * self.spec.paging.size)
        return max(2, self.settings.workers) * rows * ROW_BYTES

    @property
    def partitions(self) -> None:
        """One call of get_records reads every account side by side: the SDK must not call it
        once per account partition it finds in the state."""
        return None

    def get_replication_key_signpost(self, context) -> None:
        """No signpost: bookmarks are window ends, never later than the range's end."""
        return None

    def _child_lanes(self) -> list[Lane]:
        """One lane per parent row read this run (the parent read now, quietly, if it was not
        selected), and per partition a run before left unfinished (a kill, a failure), for each
        account that has the keys."""
        tap, child = tap_of(self), self.spec.child
        if child.parent not in tap.parent_rows:
            parent = tap.streams[child.parent]
            parent.quiet = True
            try:
                for _ in parent.get_records(None):
                    pass
            except ApiError as exc:  # say which stream the user asked for
                raise ApiError(f"{self.name}: reading its parent {exc}") from None
            finally:
                parent.quiet = False
        found = dict(tap.parent_rows.get(child.parent, {}))
        accounts = {a.name: a for a in self.accounts}
        for partition in self.stream_state.get("partitions", []):
            context = partition.get("context") or {}
            name, key = context.get(ACCOUNT), context.get(child.key)
            if (name in accounts and isinstance(key, str | int) and not isinstance(key, bool)
                    and (name, key) not in found):  # its parent row was not read again:
                found[(name, key)] = (accounts[name], None, False)  # it calls no more
        lanes, clients = [], {}
        for (name, key), (account, since, open_) in sorted(found.items(), key=str):
            if name in accounts:
                # one client an account for all its parent rows: a connection (and a session)
                # per task would cost a connect and a close each, for a page or two of calls
                lane = Lane(self, account, {child.key: key}, since, client=clients.get(name))
                clients.setdefault(name, lane.client)
                lane.parent_open = open_
                lanes.append(lane)
        return lanes

    def _note_parent_rows(self, lane: Lane, page: list[dict]) -> None:
        """A parent's rows name its children's partitions and where their ranges start. Each
        goes into the child's state now, with its start as its bookmark, so that a run killed
        after the parent's bookmark moved past a row still reads that row's children."""
        tap = tap_of(self)
        found = tap.parent_rows.setdefault(self.name, {})
        still_open = self.spec.still_open
        for spec in self.children:
            child = tap.streams[spec.name]
            key, since = spec.child.key, spec.child.since
            for row in page:
                if row.get(key) in (None, ""):
                    continue
                value = row.get(since)
                start = parse_bookmark(value) if isinstance(value, str) else None
                open_ = bool(still_open and still_open(row))
                found[(lane.account.name, row[key])] = (lane.account, start, open_)
                if child.selected and start is not None:
                    states.seed_child(child, {**(lane.account.context or {}), key: row[key]},
                                      start)

    def _finished(self, lane: Lane) -> None:
        """A child partition read to now whose parent row calls no more leaves the state: the
        state keeps only partitions that may still change (a parent row read again later
        makes a new one)."""
        if lane.partition and not lane.parent_open and not self.settings.end_date_set:
            self._finished_partitions.add(lane.partition_state())

    def _audit(self, lane: Lane, window, rows: int) -> None:
        """The window's sync_audit row; a mismatch holds its bookmark when fail_on_mismatch."""
        tally = lane.audit.tallies.pop(window, None)
        if tally is None:
            return
        audit, windowed = tap_of(self).audit, self.spec.windowed
        if tally.mismatches:
            where = lane.where(window) if windowed else "the whole table"
            audit.mismatched.append(f"{self.name}: {lane.where_prefix}{where}")
            if self.settings.fail_on_mismatch:
                lane.state.hold(window.start)
        bookmark = self.clock.bookmark
        margin = states.margin_hours(self.spec, self.clock.to_instant(window.end),
                                     dt.datetime.now(dt.timezone.utc)) if windowed else None
        lost = lane.state.lost if id(lane) not in self._lost_audited else None
        if lost is not None:  # on the lane's first window row
            self._lost_audited.add(id(lane))
        audit.window(stream=self.name, account=lane.account.name, partition=lane.partition,
                     start=bookmark(window.start) if windowed else None,
                     end=bookmark(window.end) if windowed else None, rows=rows, tally=tally,
                     margin=margin, lost=lost)

    def _retention_report(self) -> None:
        """How long the pipeline may pause before records are lost: one INFO line a stream (its
        smallest margin), a WARNING for each account below `retention_warn_hours`."""
        if not self.spec.retention_days or not self.lanes:
            return
        now, zone = dt.datetime.now(dt.timezone.utc), self.settings.zone
        margins = []
        for lane in self.lanes:
            mark = lane.state.current()
            hours = states.margin_hours(self.spec, mark, now)
            if hours is not None:
                margins.append((hours, lane, mark))
        if not margins:
            return
        hours, lane, mark = min(margins, key=lambda m: m[0])
        by = states.next_run_by(self.spec, mark).astimezone(zone)
        self.logger.info("%s: retention margin %.1f h (%s%d-day retention: the next run must "
                         "start by %s)", self.name, hours, lane.where_prefix,
                         self.spec.retention_days, by.isoformat(timespec="minutes"))
        for hours, lane, mark in sorted(margins, key=lambda m: m[0]):
            if hours >= self.settings.retention_warn_hours:
                break
            by = states.next_run_by(self.spec, mark).astimezone(zone)
            self.logger.warning(
                "%s: %sonly %.1f h before NXCloud's %d-day retention reaches the bookmark "
                "(retention_warn_hours %g): the next run must start by %s or records are lost",
                self.name, lane.where_prefix, max(hours, 0.0), self.spec.retention_days,
                self.settings.retention_warn_hours, by.isoformat(timespec="minutes"))

    def _events(self) -> Iterator[Event]:
        """The scheduler's events over every lane (not started until first pulled)."""
        s = self.settings
        # rate-limited streams read their windows in order: fetching ahead of the pacing wins
        # nothing, and a kill then re-reads one window, not the ones fetched ahead
        workers = 1 if self.spec.min_interval else s.workers
        self._prepare_direct_writes()
        # rows as the lines they will be (a parent's rows are read for its children's keys)
        encoded = self._direct and not self.children
        works = []
        for lane in self.lanes:
            pages_of = encoded_pages(lane.pages) if encoded else lane.pages
            if not self.spec.windowed:
                works.append(LaneWork(lane, lane.planner(0, 1), pages_of, 1))
                continue
            first, last = lane.ticks()
            _, why = lane.starting_point()
            if len(self.lanes) <= 20 or self.logger.isEnabledFor(logging.DEBUG):
                self.logger.info("%s: %sreading %s to %s (%s)", self.name, lane.where_prefix,
                                 self.clock.label(first), self.clock.label(last), why)
            works.append(LaneWork(lane, lane.planner(first, last), pages_of, workers))
        if len(self.lanes) > 20:
            self.logger.info("%s: reading %d accounts (or partitions) side by side", self.name,
                             len(self.lanes))
        parallel = max(1, min(s.parallel_accounts, len(works)))
        return Scheduler(works, threads=min(MAX_THREADS, workers * parallel),
                         parallel_lanes=parallel, cancel=self.cancel, budget=self._budget(),
                         page_bytes=self.spec.paging.size * ROW_BYTES, idle=self._idle).events()

    def _idle(self) -> None:
        if self._ahead is None:  # read ahead, nothing is this stream's to write yet
            check_output()

    @property
    def reads_ahead(self) -> bool:
        """A paced stream reads from the run's start (ahead.py): its pauses overlap the other
        streams. Not a parent or a child: their rows feed each other at their turns."""
        return bool(self.spec.min_interval and not self.spec.child and not self.children
                    and self.selected and self.lanes)

    def start_ahead(self) -> None:
        try:
            self._ahead = Ahead(self.name, self._events(),
                                lambda: bool(tap_of(self).terminating), logger=self.logger)
        except OSError as exc:  # no temporary file: read at its turn, as any other stream
            self.logger.info("%s: not read ahead (%s)", self.name, exc)

    @property
    def reading_ahead(self) -> bool:
        """Reading before its turn, which has not come yet."""
        return self._ahead is not None

    def stop_ahead(self) -> None:
        """The run ended before this stream's turn."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            self.cancel.set()
            ahead.close()
            for lane in self.lanes:
                lane.client.close()

    def get_records(self, context) -> Iterable[dict]:
        if self.spec.child and not self.lanes:
            self.lanes = self._child_lanes()
        s = self.settings
        tap = tap_of(self)
        if self._ahead is not None:  # its reading began with the run: what it read, then on
            events, self._ahead = self._ahead.take(), None
        else:
            self.cancel.clear()
            events = self._events()
        tap.active_streams.add(self)
        rows = windows = 0
        started = noted = time.monotonic()
        reached = ""
        try:
            for event in events:
                if isinstance(event, Rows):
                    page, lane = event.page, event.lane
                    rows += len(page)
                    lane.rows += len(page)
                    if self.children:
                        self._note_parent_rows(lane, page)
                    if not self.quiet:
                        self._mark_extracted()
                        yield from page
                elif isinstance(event, WindowDone):
                    lane, window = event.lane, event.window
                    if not self.quiet:
                        self._audit(lane, window, event.rows)
                    # a parent read quietly moves its bookmark too: its children's partitions
                    # are in the state by now, and a deselected parent is not read again in full
                    lane.commit(window.end)
                    windows += 1
                    reached = self.clock.label(window.end) if self.spec.windowed else "the end"
                elif isinstance(event, LaneDone):
                    lane = event.lane
                    if not lane.partition:  # a child's client is its account's: at the end
                        lane.client.close()  # its sessions and keep-alive connections
                    if self.spec.child and not self.quiet and lane.held_at is None:
                        self._finished(lane)
                elif isinstance(event, RoundDone):
                    if self.quiet:
                        continue
                    states.write(self, self._finished_partitions)  # the round's one STATE
                    if time.monotonic() - noted >= s.progress_every:
                        noted = time.monotonic()
                        self.logger.info("%s: %d rows so far; complete up to %s", self.name,
                                         rows, reached)
                elif isinstance(event, LaneFailed):
                    if not self.isolated or not isinstance(event.error, TapError):
                        raise event.error
                    self.drop(event.lane, event.error)
        except Cancelled:
            raise Interrupted(tap, tap.terminating) from None
        finally:
            tap.active_streams.discard(self)
            for lane in [*self.lanes, *(lane for lane, _ in self.failures)]:
                lane.release()
                lane.client.close()  # no keep-alive connections left open per account
        self.shape.summary()
        for lane in self.lanes:
            lane.summary()
        # a child's lanes (one a parent row) share their account's client: count each once
        requests = sum(c.requests_sent for c in {id(x.client): x.client
                                                 for x in self.lanes}.values())
        if not self.quiet:
            self._retention_report()
        accounts = len({lane.account.name for lane in self.lanes})
        accounts = (f" of {accounts} account{'s' if accounts != 1 else ''}"
                    if self.settings.named else "")
        if self.spec.child:
            accounts = f" of {len(self.lanes)} {self.spec.child.parent} rows{accounts}"
        self.logger.info("%s: done: %d rows%s in %d window%s, %d requests, %.1f s", self.name,
                         rows, accounts, windows, "" if windows == 1 else "s", requests,
                         time.monotonic() - started)


__all__ = ["WindowedStream"]
