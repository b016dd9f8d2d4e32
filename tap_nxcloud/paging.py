"""Reading one window to its end, page by page: the two paging schemes NXCloud APIs use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator

from .clock import WALL_FORMAT
from .errors import ApiError

FLASH_PAGE = 100  # the flash-call API returns at most 100 rows a call and has no paging
MAX_PASSES = 3


def keyset_pages(fetch: Callable[[str, str], list[dict]], start: str, end: str,
                 warn: Callable[[str], None], size: int = FLASH_PAGE,
                 key: str = "gmtCreate", ident: str = "id") -> Iterator[list[dict]]:
    """Keyset paging on a one-second wall clock, bounds inclusive, as the flash-call page says.

    The next call starts at the newest `key` seen, so that second's rows come again: they are
    dropped by `ident`. When a full page lies within the very second it started at, no call can
    reach the rest of that second; say so and go on with the next second rather than loop.
    """
    seen_second, seen_ids = None, set()
    while True:
        rows = fetch(start, end)
        if len(rows) > size:
            raise ApiError(f"the API returned {len(rows)} rows, more than {size}; keyset paging "
                           "cannot be trusted")
        # read what paging needs before yielding: the consumer may rewrite the rows in place
        new = [r for r in rows if r[key] != seen_second or r[ident] not in seen_ids]
        full = len(rows) >= size
        last = max(r[key] for r in rows) if full else None
        last_ids = {r[ident] for r in rows if r[key] == last} if full else None
        if new:
            yield new
        if not full:
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
                 ) -> Iterator[list[dict]]:
    """page/size paging to the end of a query; every row once, even while the data shifts.

    The end is where the API's total says (page x size >= total, or an empty page), or, for an
    API without totals, the first short page. Offsets over data that changes while it is paged
    shift: a row inserted before the current offset pushes one row onto the next page (seen
    twice) and the inserted row is never seen; a deletion pulls one row back onto a page already
    read (never seen). A pass that saw a row twice, a total that fell, or fewer rows than the
    final total is therefore not trusted: the query is read again, emitting only rows not yet
    emitted, until a pass is clean (at most MAX_PASSES; rows that arrive all the while are read by
    the next run's lookback). Rows appended at the end make the total grow, harmlessly.
    """
    emitted: set[int] = set()
    for n in range(MAX_PASSES):
        # the first pass's keys are the emitted ones: one set, not two (a day can hold 100 000)
        page, this_pass, shifted, last_total = 1, emitted if n == 0 else set(), False, None
        while True:
            rows, total = fetch(page)
            # a window's keys are held as 64-bit hashes: a day of SMS can hold hundreds of
            # thousands of (msgid, phone) pairs; a collision is ~n^2/2^65 (1e-10 at 60 000)
            keys = [hash(identity(r)) for r in rows]
            new_here = {k for k in keys if k not in this_pass}
            if len(rows) >= size and not new_here:
                raise ApiError(f"paging made no progress at page {page}: the API answered the "
                               "same rows again")
            shifted |= len(new_here) < len(keys)
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
            else:
                shifted |= last_total is not None and total < last_total
                last_total = total
                done = not rows or page * size >= total
            if done:
                break
            page += 1
        if not shifted and (last_total is None or len(this_pass) >= last_total):
            return
    warn(f"rows kept shifting between pages over {MAX_PASSES} reads of the same query; rows "
         "that arrived meanwhile are read by the next run (lookback)")
