"""Reading one query to its end, page by page: the paging kinds NXCloud APIs use, each a class
that knows its first request, its next page, its end and its credential-check request.

A kind reads a query through a `Source` (the query's own parameters, a fetch that adds the
page's, how rows are told apart and timed). Every kind must prove progress: an API that ignores
its paging parameters, or whose pages never end, ends the window with one line (PagingError)
instead of a loop or rows emitted twice. A new kind is one class here (see `Cursor`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .clock import WALL_FORMAT

FLASH_PAGE = 100  # the flash-call API returns at most 100 rows a call and has no paging
MAX_PASSES = 3
MAX_PAGES = 100_000  # of one query: ten million contact-center rows in one window, or a hundred
# million SMS in one day; past it the API's pages are taken as endless
MAX_QUERY_SECONDS = 20 * 60  # of one query's paging: windows are sized to a few thousand rows
# (tens of pages), so a query still paging after 20 minutes (voice's pace: 1 200 pages) is a
# server whose pages never end; without it, one new row a page at one request a second would
# page for a day before MAX_PAGES


class PagingError(Exception):
    """The API's pages do not add up; the message says how (the stream adds where)."""


@dataclass(frozen=True, slots=True)
class Page:
    """One answer: its rows, the total the API states for the query (None: not stated), and
    the cursor of the page after it (cursor paging; None: not stated, or the last page)."""

    rows: list[dict]
    total: int | None = None
    cursor: str | None = None


@dataclass
class Count:
    """What one query's paging saw, for the comparison with the API's own count."""

    api_total: int | None = None  # the query's total as the API last stated it
    rows: int = 0  # distinct rows its last read returned, before the window's edges
    shifted: bool = False  # its pages moved while read, on every read: no comparison holds
    unsettled: bool = False  # still moving after MAX_PASSES reads: rows may be missing

    @property
    def differs(self) -> bool:
        """The API's own count and the rows it returned disagree, with nothing moving."""
        return not self.shifted and self.api_total is not None and self.rows != self.api_total


@dataclass
class Source:
    """One query as a paging kind reads it. `fetch(extra)` sends the query's `params` with the
    page's `extra` parameters; `identity(row)` tells rows apart; `when(row)` is the row's time
    as windows compare it (keyset paging pages on it); `count` is filled for reconciliation."""

    fetch: Callable[[dict], Page]
    params: dict
    identity: Callable[[dict], Hashable]
    warn: Callable[[str], None]
    key: str = "id"  # the first primary key (keyset paging drops a second's repeats by it)
    when: Callable[[dict], Any] = lambda row: None
    count: Count = field(default_factory=Count)
    started: float = field(default_factory=time.monotonic)

    def get(self, extra: dict) -> Page:
        """One page, unless the query has paged for longer than MAX_QUERY_SECONDS."""
        if time.monotonic() - self.started > MAX_QUERY_SECONDS:
            raise PagingError(f"still paging after {MAX_QUERY_SECONDS // 60} minutes: the "
                              "API's pages do not end")
        return self.fetch(extra)


def keyset_pages(fetch: Callable[[str, str], list[dict]], start: str, end: str,
                 warn: Callable[[str], None], size: int, when: Callable[[dict], str | None],
                 ident: str = "id", identity: Callable[[dict], Hashable] | None = None,
                 ) -> Iterator[list[dict]]:
    """Keyset paging on a one-second wall clock, bounds inclusive, as the flash-call page says.

    The next call starts at the newest time seen (`when(row)`: the row's time as a canonical
    wall string, None if unreadable), so that second's rows come again: they are dropped by
    `ident`. When a full page lies within the very second it started at, no call can reach the
    rest of that second; say so and go on with the next second rather than loop. A row before
    the requested start means the API ignores `start`: paging cannot progress, so it stops.
    """
    seen_second, seen_ids, unreadable_ids = None, set(), set()
    emitted: set[int] = set()  # every row's key hash: a row the API repeats comes once
    identity = identity or (lambda row: row[ident])
    while True:
        rows = fetch(start, end)
        if len(rows) > size:
            raise PagingError(f"the API returned {len(rows)} rows, more than {size} a call; "
                              "keyset paging cannot be trusted")
        times = [when(r) for r in rows]
        early = next((t for t in times if t is not None and t < start), None)
        if early is not None:
            raise PagingError(f"asked for rows from {start}, the API returned one of {early}: "
                              "it ignores the start of the range, so paging cannot progress")
        # read what paging needs before yielding: the consumer may rewrite the rows in place
        new = []
        for row, t in zip(rows, times, strict=True):
            if t is None:  # unreadable time: its second is unknown, so once per window by id
                if row[ident] not in unreadable_ids:
                    unreadable_ids.add(row[ident])
                    new.append(row)
            elif t != seen_second or row[ident] not in seen_ids:
                new.append(row)
        full = len(rows) >= size
        readable = [t for t in times if t is not None]
        if full and not readable:
            raise PagingError("a full page without one readable time: cannot page on")
        last = max(readable) if full else None
        last_ids = {r[ident] for r, t in zip(rows, times, strict=True) if t == last} \
            if full else None
        once = []
        for row in new:
            k = hash(identity(row))
            if k not in emitted:
                emitted.add(k)
                once.append(row)
        if once:
            yield once
        if not full or last > end:
            return
        if last == start:
            warn(f"at least {size} rows share the second {start}; the API returns at most "
                 f"{size} rows a call and cannot page within one second, so rows of that "
                 "second beyond those may be missing")
            following = dt.datetime.strptime(start, WALL_FORMAT) + dt.timedelta(seconds=1)
            start, seen_second, seen_ids = following.strftime(WALL_FORMAT), None, set()
            if start > end:
                return
            continue
        start, seen_second, seen_ids = last, last, last_ids


def offset_pages(fetch: Callable[[int], tuple[list[dict], int | None]], size: int,
                 identity: Callable[[dict], Hashable], warn: Callable[[str], None],
                 count: Count | None = None) -> Iterator[list[dict]]:
    """page/size paging to the end of a query; every row once, even while the data shifts.

    A pass ends where the API's total says (page x size >= total) or at an empty page (short
    pages before the total go on: a server may serve fewer rows than asked), or, for an API
    without totals, at the first short page. Offsets over data that changes while
    it is paged shift: a row inserted before the current offset pushes one row onto the next
    page (seen twice) and the inserted row is never seen; a deletion pulls one row back onto a
    page already read (never seen). A pass that saw a row twice, a total that fell, or fewer
    rows than the final total is therefore not trusted: the query is read again, emitting only
    rows not yet emitted, until a pass is clean (at most MAX_PASSES). If it never is, the rows
    read are all the API gives for the query: `count` holds the API's count and ours for the
    caller's reconciliation (a repair of shifted pages is never a difference; rows that keep
    arriving all the while are read by the next run's lookback).

    A page of rows already seen ends the pass: its end, if short; if full, the API ignores
    `page` (or loops): PagingError. So do MAX_PAGES pages that never end.
    """
    emitted: set[int] = set()
    count = count if count is not None else Count()
    moved = False
    for n in range(MAX_PASSES):
        # the first pass's keys are the emitted ones: one set, not two (a day can hold 100 000)
        page, this_pass, moved, last_total = 1, emitted if n == 0 else set(), False, None
        most, totals = 0, set()  # the totals this pass was told: it reads to the largest
        while True:
            rows, total = fetch(page)
            # a window's keys are held as 64-bit hashes: a day of SMS can hold hundreds of
            # thousands of (msgid, phone) pairs; a collision is ~n^2/2^65 (1e-10 at 60 000)
            keys = [hash(identity(r)) for r in rows]
            new_here = {k for k in keys if k not in this_pass}
            if rows and not new_here:
                if len(rows) >= size:
                    raise PagingError(f"page {page} repeated rows already read: the API "
                                      "ignores the page number, or its pages loop")
                break  # a short page of rows already read: the end, as far as paging goes
            # a row of an earlier page again: the pages moved (a key twice in one page is the
            # API's own duplicate, not a shift)
            moved |= len(new_here) < len(set(keys))
            fresh = []
            for row, k in zip(rows, keys, strict=True):
                if k not in emitted:  # also a key twice in one page: once
                    emitted.add(k)
                    fresh.append(row)
            this_pass |= new_here
            if fresh:
                yield fresh
            if total is None:
                done = len(rows) < size
            else:  # short pages go on to the total: a server may cap the page size it serves
                # a total that falls between pages is trusted no further than the pages go:
                # they are read to the largest total stated (a deletion before the offset,
                # which also lowers it, shows as fewer rows than that: read again below)
                totals.add(total)
                last_total, most = total, max(most, total)
                done = not rows or page * size >= most
            if done:
                break
            if page >= MAX_PAGES:
                raise PagingError(f"{MAX_PAGES} pages of new rows and still no end")
            page += 1
        # the last read's own rows: one clean read is what the API holds now (a row deleted
        # after an earlier read was emitted then, but is no longer the API's to count); a count
        # that moved between pages is nothing to compare with
        count.api_total, count.rows = last_total, len(this_pass)
        count.shifted = moved or len(totals) > 1
        if not moved and len(this_pass) >= most:
            if len(totals) > 1:
                warn(f"NXCloud's count of this query changed between its pages ("
                     f"{', '.join(map(str, sorted(totals, reverse=True)[:3]))}); every page up "
                     f"to the largest was read ({len(this_pass)} rows)")
            return
    if moved:
        count.unsettled = True
        warn(f"rows kept shifting between pages over {MAX_PASSES} reads of the same query, so "
             "some may be missing: the bookmark stays before this window and the next run "
             "reads it again")


# --- the kinds ------------------------------------------------------------------------------
class Paging:
    """A paging kind. `size`: rows a page (what the scheduler budgets a fetch at)."""

    size: int

    @property
    def counts(self) -> bool:
        """Whether a read fills `Source.count` (the API states a total to compare with)."""
        return False

    def first_params(self) -> dict:
        """The page parameters of a query's first request."""
        return {}

    def probe_params(self) -> dict:
        """The first request's page parameters when only the credentials are being proven."""
        return self.first_params()

    def read(self, source: Source) -> Iterator[list[dict]]:
        raise NotImplementedError


@dataclass(frozen=True)
class Keyset(Paging):
    """Flash calls: no paging parameters; call again from the last row's second (see
    keyset_pages). The query's `start` and `end` are the keys moved."""

    size: int = FLASH_PAGE

    def read(self, source: Source) -> Iterator[list[dict]]:
        def since(start: str, end: str) -> list[dict]:
            return source.get({"start": start, "end": end}).rows
        return keyset_pages(since, source.params["start"], source.params["end"], source.warn,
                            self.size, source.when, source.key, source.identity)


@dataclass(frozen=True)
class Offset(Paging):
    """page/size paging (see offset_pages); `totals`: the API returns the row count;
    `min_size`: the smallest page it takes (a credential check asks for it)."""

    size: int
    page_param: str = "page"
    size_param: str = "page_size"
    totals: bool = True
    min_size: int = 1

    @property
    def counts(self) -> bool:
        return True

    def first_params(self) -> dict:
        return {self.page_param: 1, self.size_param: self.size}

    def probe_params(self) -> dict:
        return {self.page_param: 1, self.size_param: self.min_size}

    def read(self, source: Source) -> Iterator[list[dict]]:
        def fetch(page: int) -> tuple[list[dict], int | None]:
            answer = source.get({self.page_param: page, self.size_param: self.size})
            return answer.rows, answer.total
        return offset_pages(fetch, self.size, source.identity, source.warn, source.count)


@dataclass(frozen=True)
class Single(Paging):
    """One request a window (or a run), no paging: a daily statement, a balance."""

    size: int = 1

    def read(self, source: Source) -> Iterator[list[dict]]:
        page = source.get({}).rows
        keys = [hash(source.identity(row)) for row in page]
        # a row the answer holds twice: once
        yield [row for i, row in enumerate(page) if keys[i] not in keys[:i]] \
            if len(set(keys)) < len(keys) else page


@dataclass(frozen=True)
class Cursor(Paging):
    """Cursor paging (WhatsApp templates): `limit` rows a page, the next page asked `after`
    the cursor the previous answer gave (`paging.cursors.after`). Cursors are opaque: the
    only proof of progress is that none comes twice; the end is an answer without one (or
    with no rows)."""

    size: int
    limit_param: str = "limit"
    after_param: str = "after"

    def first_params(self) -> dict:
        return {self.limit_param: self.size}

    def probe_params(self) -> dict:
        return {self.limit_param: 1}

    def read(self, source: Source) -> Iterator[list[dict]]:
        return cursor_pages(source, self)


def cursor_pages(source: Source, kind: Cursor) -> Iterator[list[dict]]:
    seen_cursors: set[str] = set()
    seen_rows: set[int] = set()
    after: str | None = None
    for _ in range(MAX_PAGES):
        extra = {kind.limit_param: kind.size}
        if after is not None:
            extra[kind.after_param] = after
        answer = source.get(extra)
        if len(answer.rows) > kind.size:
            raise PagingError(f"the API returned {len(answer.rows)} rows, more than the "
                              f"{kind.size} asked: it ignores {kind.limit_param}")
        fresh = []
        for row in answer.rows:
            key = hash(source.identity(row))
            if key not in seen_rows:  # a row repeated on a later page: once
                seen_rows.add(key)
                fresh.append(row)
        if fresh:
            yield fresh
        after = answer.cursor
        if not answer.rows or not after:
            source.count.rows = len(seen_rows)
            return
        if after in seen_cursors:
            raise PagingError(f"the cursor {after[:40]!r} came twice: the API's pages loop")
        seen_cursors.add(after)
    raise PagingError(f"{MAX_PAGES} pages of new rows and still no end")
