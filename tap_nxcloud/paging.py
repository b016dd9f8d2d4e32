"""Reading one window to its end, page by page, for each of the two APIs' paging schemes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from .clock import WALL_FORMAT
from .errors import ApiError

FLASH_PAGE = 100  # the flash-call API returns at most 100 rows a call and has no paging


def flash_pages(fetch: Callable[[str, str], list[dict]], start: str, end: str,
                warn: Callable[[str], None]) -> Iterator[list[dict]]:
    """Keyset paging on the one-second `gmtCreate` clock, bounds inclusive, as the vendor says.

    The next call starts at the newest `gmtCreate` seen, so that second's rows come again: they are
    dropped by id. When a full page lies within the very second it started at, no call can reach
    the rest of that second; say so and go on with the next second rather than loop.
    """
    seen_second, seen_ids = None, set()
    while True:
        rows = fetch(start, end)
        # read what paging needs before yielding: the consumer may rewrite the rows in place
        new = [r for r in rows if r["gmtCreate"] != seen_second or r["id"] not in seen_ids]
        full = len(rows) >= FLASH_PAGE
        last = max(r["gmtCreate"] for r in rows) if full else None
        last_ids = {r["id"] for r in rows if r["gmtCreate"] == last} if full else None
        if new:
            yield new
        if not full:
            return
        if last == start:
            warn(f"at least {FLASH_PAGE} rows share the second {start}; the API returns at most "
                 f"{FLASH_PAGE} rows a call and cannot page within one second, so rows of that "
                 "second beyond those may be missing")
            following = dt.datetime.strptime(start, WALL_FORMAT) + dt.timedelta(seconds=1)
            start, seen_second, seen_ids = following.strftime(WALL_FORMAT), None, set()
            if start > end:
                return
            continue
        start, seen_second, seen_ids = last, last, last_ids


def cc_pages(fetch: Callable[[int], list[dict]], size: int, lo_ms: int, hi_ms: int,
             ) -> Iterator[list[dict]]:
    """page/size paging until a short page; keeps rows with lo_ms <= startTime < hi_ms, once each.

    Row order is undocumented and rows may arrive while paging shifts the offsets, so rows are
    de-duplicated by `callId` over the whole window; a full page with nothing new means the server
    ignores `page`, which would otherwise loop forever.
    """
    seen: set[str] = set()
    page = 1
    while True:
        rows = fetch(page)
        fresh = [r for r in rows if r["callId"] not in seen]
        seen.update(r["callId"] for r in fresh)
        kept = [r for r in fresh if lo_ms <= r["startTime"] < hi_ms]
        if kept:
            yield kept
        if len(rows) < size:
            return
        if not fresh:
            raise ApiError(f"contact-center paging made no progress at page {page}")
        page += 1
