"""The state: how a state is read, checked and upgraded, where each lane starts, how its bookmark
advances, and when a STATE message goes out.

A bookmark says how far a lane's range is completely read (a window's end), not the newest row
seen. It lives in the stream's state partition `{"account": name}` (plus a child's parent key),
or at the stream's level for the unnamed one-account form. A run starts at the bookmark minus the
stream's lookback, or at `start_date`, clamped to what NXCloud still keeps (`retention_days`).
One STATE message covers every window a round completed (stream.py writes it through
`write`, the one place a STATE is asked for).
"""

from __future__ import annotations

import datetime as dt
import json
import math

from .clock import UTC, parse_bookmark
from .errors import StateError
from .http import cut
from .sdk_private import write_state

FUTURE_SLACK = dt.timedelta(minutes=10)  # clock differences between the machines that ran us


# --- reading a state ----------------------------------------------------------------------
def parse_state(text: str, name: str) -> dict:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StateError(f"the state file {name} is not JSON ({exc}); fix it, or run without "
                         "--state for a full sync from start_date") from None


def checked_state(state: dict, streams: set[str], keep: set[str], logger,
                  accounts: set[str] | None = None) -> dict:
    """A state as the run uses it: refused with one line when it is broken; streams the tap
    does not have left out (`keep`: names kept as they are, the audit's); bookmarks upgraded;
    with `accounts` (the configured names), partitions of accounts no longer configured left
    out, so that every STATE stays proportional to what is configured."""
    if not isinstance(state, dict) or not isinstance(state.get("bookmarks", {}), dict):
        raise StateError("the state has no `bookmarks` object; fix it, or run without "
                         "--state for a full sync from start_date")
    bookmarks = state.get("bookmarks", {})
    for name, entry in bookmarks.items():
        if name in streams and not isinstance(entry, dict):
            raise StateError(f"{name}: the state's entry is not an object; fix it or remove "
                             "it to read from start_date")
        partitions = entry.get("partitions", []) if isinstance(entry, dict) else []
        if name in streams and (not isinstance(partitions, list) or not all(
                isinstance(p, dict) and isinstance(p.get("context"), dict)
                for p in partitions)):
            raise StateError(f"{name}: the state's partitions are not a list of objects "
                             "with a context; fix them or remove this stream's entry to "
                             "read from start_date")
    unknown = sorted(set(bookmarks) - streams - keep)
    if unknown:
        logger.info("Ignoring the state of streams this tap does not have: %s",
                    ", ".join(cut(u, 60) for u in unknown[:20]))
    out, dropped, gone = {}, 0, set()
    for name, raw in bookmarks.items():
        if name not in streams:
            continue
        entry = _upgraded_entry(name, raw)
        partitions = entry.get("partitions") or []
        if accounts is not None and partitions:
            kept = [p for p in partitions
                    if "account" not in p["context"] or p["context"]["account"] in accounts]
            if len(kept) < len(partitions):
                dropped += len(partitions) - len(kept)
                gone.update(str(p["context"].get("account")) for p in partitions
                            if "account" in p["context"]
                            and p["context"]["account"] not in accounts)
                entry = {**entry, "partitions": kept}
        out[name] = entry
    if dropped:
        names = sorted(gone)
        shown = ", ".join(cut(n, 40) for n in names[:5]) + (
            f" and {len(names) - 5} more" if len(names) > 5 else "")
        logger.info("Dropping %d state partition%s of accounts no longer configured (%s)",
                    dropped, "" if dropped == 1 else "s", shown)
    return {**state, "bookmarks": out}


def _upgraded(name: str, entry: dict) -> dict:
    """v0.1 bookmarked cc_cdrs in epoch milliseconds; every bookmark is RFC 3339 now."""
    value = entry.get("replication_key_value")
    if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isascii() and value.isdigit()):
        try:
            mark = parse_bookmark(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise StateError(f"{name}: the state's bookmark {cut(repr(value), 60)} is not a "
                             "time; fix it or remove this stream's entry from the state to read "
                             "from start_date") from None
        return {**entry, "replication_key_value": mark.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    return entry


def _upgraded_entry(name: str, entry: dict) -> dict:
    """A stream's state with every bookmark upgraded, its accounts' partitions too."""
    entry = _upgraded(name, entry)
    if entry.get("partitions"):
        entry = {**entry, "partitions": [_upgraded(name, p) for p in entry["partitions"]]}
    return entry


# --- one lane's bookmark ------------------------------------------------------------------
def retention_edge(spec, settings) -> dt.datetime | None:
    """The oldest instant NXCloud still answers for (None: not stated), with a margin for the
    run's length; for APIs that take dates, the first whole day still kept."""
    days = spec.retention_days
    if not days:
        return None
    edge = dt.datetime.now(UTC) - dt.timedelta(days=days, minutes=-15)
    if spec.window == "day":
        local = edge.astimezone(settings.zone).date() + dt.timedelta(days=1)
        edge = dt.datetime.combine(local, dt.time(), settings.zone).astimezone(UTC)
    return edge


def margin_hours(spec, bookmark: dt.datetime | None, now: dt.datetime) -> float | None:
    """Hours from the oldest instant NXCloud still keeps (now minus the retention) to the
    bookmark: how long the pipeline may pause before records it has not read are lost. None
    for a stream without a stated retention, or without a bookmark."""
    if not spec.retention_days or bookmark is None:
        return None
    oldest = now - dt.timedelta(days=spec.retention_days)
    return round((bookmark - oldest).total_seconds() / 3600, 1)


def next_run_by(spec, bookmark: dt.datetime) -> dt.datetime:
    """The latest start of the next run that still reads everything after the bookmark."""
    return bookmark + dt.timedelta(days=spec.retention_days)


def span(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


class LaneState:
    """One lane's bookmark: where its run starts and how far it is complete. `stream` is the
    SDK stream whose state holds the partition; `context` the partition's context (None: the
    stream's level); `since` where a child's range starts (its parent row's time)."""

    __slots__ = ("_kept", "_start", "context", "held_at", "lost", "name", "open_floor",
                 "partition", "prefix", "since", "spec", "stream")

    def __init__(self, stream, context: dict | None, partition: dict, since, prefix: str):
        self.stream, self.spec, self.name = stream, stream.spec, stream.spec.name
        self.context, self.partition, self.since, self.prefix = context, partition, since, prefix
        self.open_floor: int | None = None  # the oldest open row's tick (spec.still_open)
        self.held_at: int | None = None  # a mismatched window's start (fail_on_mismatch)
        # records that fell out of retention after the bookmark, before this run: [from, to)
        self.lost: tuple[dt.datetime, dt.datetime] | None = None
        self._start: tuple[dt.datetime, str] | None = None
        self._kept: dict | None = None  # its state partition (the SDK's dict, kept)

    def partition_state(self) -> dict:
        # looked up once: the SDK finds a partition by a scan of the stream's list, and a
        # child has one per task (a thousand commits would scan a thousand each)
        if self._kept is None:
            self._kept = self.stream.get_context_state(self.context)
        return self._kept

    def stored(self) -> dt.datetime | None:
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
        whose = f"{self.name}: {self.prefix}"
        fix = ("fix it or remove this stream's entry from the state to read from start_date")
        try:
            parsed = parse_bookmark(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise StateError(f"{whose}the state's bookmark {cut(repr(value), 60)} is not a "
                             f"{self.spec.replication_key} time (RFC 3339 with an offset); "
                             f"{fix}") from None
        if parsed > dt.datetime.now(UTC) + FUTURE_SLACK:
            raise StateError(f"{whose}the state's bookmark {cut(repr(value), 60)} is in "
                             "the future; the state was edited or written by a machine with a "
                             "wrong clock: fix it or remove this stream's entry from the state")
        if parsed.year < 2000:  # before any NXCloud record: the clocks cannot even place it
            raise StateError(f"{whose}the state's bookmark {cut(repr(value), 60)} is before "
                             f"2000: not a time this stream's records can have; {fix}")
        return parsed

    def current(self) -> dt.datetime | None:
        """The bookmark as it stands now (after this run's commits), or None."""
        value = self.partition_state().get("replication_key_value") if self.spec.windowed \
            else None
        return parse_bookmark(value) if value not in (None, "") else self.stored()

    def starting_point(self, settings, clock, warn, error=None) -> tuple[dt.datetime, str]:
        """Where this run starts, and why (worked out once: it may warn, or report records
        lost to retention at ERROR level)."""
        error = error or warn
        if self._start is not None:
            return self._start
        bookmark = self.stored()
        start, why = settings.start, "start_date"
        if self.since is not None and self.since > start:  # a child: from its parent row
            start, why = self.since, f"{self.spec.child.parent} {self.partition} began then"
        lookback = settings.lookback(self.spec)
        if bookmark is not None and bookmark - lookback > start:
            start = bookmark - lookback
            mark = clock.label(clock.from_instant(bookmark))
            why = f"bookmark {mark} minus the {span(int(lookback.total_seconds()))} lookback"
        edge = retention_edge(self.spec, settings)
        close = margin_hours(self.spec, bookmark, dt.datetime.now(UTC))
        if close is not None and 0 <= close < settings.retention_warn_hours:
            warn("%s: %sthe bookmark was %.1f h from falling out of NXCloud's %d-day retention "
                 "when this run started (retention_warn_hours %g): run more often, or records "
                 "will be lost", self.name, self.prefix, close, self.spec.retention_days,
                 settings.retention_warn_hours)
        if edge is not None and start < edge:
            days, zone = self.spec.retention_days, settings.zone
            if bookmark is not None and bookmark < edge:  # read before, lost since: an error
                self.lost = (bookmark, edge)
                error("%s: %srecords from %s to %s fell out of NXCloud's %d-day retention "
                      "before this run could read them and are lost; reading from %s",
                      self.name, self.prefix, bookmark.astimezone(zone).isoformat(),
                      edge.astimezone(zone).isoformat(), days,
                      edge.astimezone(zone).isoformat())
            else:
                warn("%s: %sNXCloud keeps %s records for %d days only: %s to %s can no longer "
                     "be read; starting at %s", self.name, self.prefix, self.spec.label, days,
                     start.astimezone(zone).isoformat(), edge.astimezone(zone).isoformat(),
                     edge.astimezone(zone).isoformat())
            start, why = edge, f"{why}, clamped to the {days}-day retention"
        self._start = (start, why)
        return self._start

    def hold_open(self, tick: int) -> None:
        """An open row (a task still calling) at `tick`: the bookmark may not pass it. Called
        under the lane's lock (workers share it)."""
        if self.open_floor is None or tick < self.open_floor:
            self.open_floor = tick

    def hold(self, tick: int) -> None:
        """A window from `tick` did not reconcile (fail_on_mismatch): the bookmark stays
        before it, whatever later windows complete, so the next run reads it again."""
        self.held_at = tick if self.held_at is None else min(self.held_at, tick)

    def commit(self, tick: int, clock) -> None:
        """The window ending at `tick` is completely out: move the bookmark (the STATE message
        itself goes out at the round's end: `write`)."""
        if not self.spec.windowed:
            return
        if self.open_floor is not None:  # an open row's time holds the bookmark back
            tick = min(tick, self.open_floor)
        if self.held_at is not None:  # so does a window that did not reconcile
            tick = min(tick, self.held_at)
        state = self.partition_state()
        state["replication_key"] = self.spec.replication_key
        state["replication_key_value"] = clock.bookmark(tick)
        if self.context is not None and not self.partition:  # no stale stream-level bookmark
            level = self.stream.get_context_state(None)
            level.pop("replication_key_value", None)
            level.pop("replication_key", None)


# --- the stream's state -------------------------------------------------------------------
def seed_child(child, context: dict, start: dt.datetime) -> None:
    """A parent row names a child partition: its bookmark starts at the row's time, written now,
    so that a run killed after the parent's bookmark moved past the row still reads its
    children."""
    state = child.get_context_state(context)
    if not state.get("replication_key_value"):
        state["replication_key"] = child.spec.replication_key
        state["replication_key_value"] = child.clock.bookmark(child.clock.from_instant(start))


class Finished:
    """Child partitions read to now whose parent row calls no more: they leave the state in one
    pass before the next STATE (the state keeps only partitions that may still change)."""

    def __init__(self) -> None:
        self._done: list[dict] = []

    def add(self, partition_state: dict) -> None:
        self._done.append(partition_state)

    def prune(self, stream_state: dict) -> None:
        if self._done:
            gone = {id(p) for p in self._done}
            partitions = stream_state.get("partitions", [])
            partitions[:] = [p for p in partitions if id(p) not in gone]
            self._done.clear()


def write(stream, finished: Finished) -> None:
    """The round is out: one STATE covers every window it completed."""
    finished.prune(stream.stream_state)
    write_state(stream)
