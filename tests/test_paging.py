"""The paging kinds (tap_nxcloud/paging.py) on in-memory APIs: every row once, progress proven."""

from __future__ import annotations

import pytest

from tap_nxcloud.paging import (
    Count,
    Cursor,
    Keyset,
    Offset,
    Page,
    PagingError,
    Single,
    Source,
    keyset_pages,
    offset_pages,
)

pytestmark = pytest.mark.unit


def _when(row):
    return row["gmtCreate"]


def _flash_api(rows):
    """An in-memory flash endpoint: inclusive bounds, ordered by gmtCreate then id, 100 max."""
    calls = []

    def fetch(start, end):
        calls.append(start)
        hits = sorted((r for r in rows if start <= r["gmtCreate"] <= end),
                      key=lambda r: (r["gmtCreate"], r["id"]))
        return [dict(r) for r in hits[:100]]
    return fetch, calls


def test_flash_keyset_paging_dedupes_the_repeated_second():
    rows = [{"id": i, "gmtCreate": f"2026-10-01 00:00:{i // 7:02d}"} for i in range(350)]
    fetch, calls = _flash_api(rows)
    got = [r["id"] for page in keyset_pages(fetch, "2026-10-01 00:00:00", "2026-10-01 00:00:59",
                                           pytest.fail, 100, _when) for r in page]
    assert sorted(got) == list(range(350)) and len(got) == 350
    assert len(calls) == 4  # ceil(350 / (100 - rows of the repeated second)) and no more


def test_flash_paging_warns_and_moves_on_past_a_crowded_second():
    rows = [{"id": i, "gmtCreate": "2026-10-01 00:00:05"} for i in range(130)]
    rows += [{"id": 1000 + i, "gmtCreate": "2026-10-01 00:00:06"} for i in range(3)]
    fetch, calls = _flash_api(rows)
    warnings = []
    got = [r["id"] for page in keyset_pages(fetch, "2026-10-01 00:00:00", "2026-10-01 00:00:59",
                                           warnings.append, 100, _when) for r in page]
    assert len(got) == len(set(got)) == 103
    assert len(warnings) == 1 and "2026-10-01 00:00:05" in warnings[0]
    assert calls == ["2026-10-01 00:00:00", "2026-10-01 00:00:05", "2026-10-01 00:00:06"]


def _offset_api(rows, size, totals=True):
    """An in-memory offset-paged endpoint over a list that a test may change between calls."""
    calls = []

    def fetch(page):
        calls.append(page)
        return rows[(page - 1) * size: page * size], (len(rows) if totals else None)
    return fetch, calls


def _ident(row):
    return row["id"]


def test_offset_paging_reads_every_row_once_by_totals_or_short_page():
    for totals in (True, False):
        rows = [{"id": i} for i in range(250)]
        fetch, calls = _offset_api(rows, 100, totals)
        got = [r["id"] for p in offset_pages(fetch, 100, _ident, pytest.fail) for r in p]
        assert got == list(range(250)) and calls == [1, 2, 3]
    rows = [{"id": i} for i in range(200)]  # an exact multiple: totals spare the empty page
    fetch, calls = _offset_api(rows, 100)
    assert sum(len(p) for p in offset_pages(fetch, 100, _ident, pytest.fail)) == 200
    assert calls == [1, 2]


@pytest.mark.parametrize("totals", [True, False])
def test_offset_paging_survives_an_insert_before_the_offset(totals):
    rows = [{"id": i} for i in range(250)]
    fetch, calls = _offset_api(rows, 100, totals)

    def shifting(page):
        if calls == [1]:  # after page 1 was read, a row lands at the front
            rows.insert(0, {"id": "new"})
        return fetch(page)
    got = [r["id"] for p in offset_pages(shifting, 100, _ident, pytest.fail) for r in p]
    assert sorted(map(str, got)) == sorted(map(str, [*range(250), "new"]))
    assert len(got) == len(set(got)) == 251  # the shifted row was not emitted twice
    assert calls[:3] == [1, 2, 3] and calls[3:] == [1, 2, 3]  # one clean second pass


def test_offset_paging_survives_a_delete_before_the_offset():
    rows = [{"id": i} for i in range(250)]
    fetch, calls = _offset_api(rows, 100)

    def shifting(page):
        if calls == [1]:  # a row already read disappears: row 100 slides onto page 1
            del rows[0]
        return fetch(page)
    got = [r["id"] for p in offset_pages(shifting, 100, _ident, pytest.fail) for r in p]
    assert sorted(got) == list(range(250))  # 100 was caught by the second pass
    assert len(calls) == 6


def test_offset_paging_gives_up_on_endless_shifting_with_a_warning():
    rows = [{"id": i} for i in range(150)]
    fetch, calls = _offset_api(rows, 100)
    warnings = []

    def shifting(page):
        rows.insert(0, {"id": f"n{len(calls)}"})
        return fetch(page)
    got = [r["id"] for p in offset_pages(shifting, 100, _ident, warnings.append) for r in p]
    assert len(got) == len(set(got)) and len(warnings) == 1 and "next run" in warnings[0]


def test_offset_paging_emits_a_row_the_api_sends_twice_in_one_page_once():
    rows = [{"id": i} for i in range(150)]
    rows[120] = {"id": 119}  # the API's own duplicate: a total of 150, 149 distinct rows
    fetch, calls = _offset_api(rows, 100)
    warnings, count = [], Count()
    got = [r["id"] for p in offset_pages(fetch, 100, _ident, warnings.append, count) for r in p]
    assert sorted(got) == [i for i in range(150) if i != 120]
    assert calls == [1, 2] * 3  # never clean: read three times
    # nothing moved: the difference is the API's, for the caller's reconciliation to report
    assert not warnings and count.differs and (count.api_total, count.rows) == (150, 149)


def test_offset_paging_repairs_are_never_a_difference():
    rows = [{"id": i} for i in range(150)]
    fetch, calls = _offset_api(rows, 100)
    count = Count()

    def once_shifted(page):  # a row arrives while the first read is between its pages
        if len(calls) == 1:
            rows.insert(0, {"id": "new"})
        return fetch(page)
    got = [r["id"] for p in offset_pages(once_shifted, 100, _ident, pytest.fail, count) for r in p]
    assert sorted(map(str, got)) == sorted(map(str, [*range(150), "new"]))
    assert not count.differs and (count.api_total, count.rows) == (151, 151)


def test_offset_paging_refuses_a_server_that_ignores_page():
    rows = [{"id": i} for i in range(100)]
    with pytest.raises(PagingError, match="ignores the page number"):
        list(offset_pages(lambda page: (rows, 1000), 100, _ident, pytest.fail))


# --- the kinds as objects: first request, next page, end, probe -----------------------------
def _source(fetch, params=None, warn=pytest.fail):
    return Source(fetch, params or {}, lambda row: row["id"], warn)


def _cursor_api(rows, limit_seen=None):
    """An in-memory cursor API: opaque cursors, `after` the last row of the previous page."""
    calls = []

    def fetch(extra):
        calls.append(dict(extra))
        start = 0 if "after" not in extra else int(extra["after"].split(":")[1]) + 1
        page = rows[start:start + extra["limit"]]
        more = start + len(page) < len(rows)
        return Page(page, None, f"c:{start + len(page) - 1}:opaque" if more else None)
    return fetch, calls


def test_cursor_kind_follows_the_cursors_to_the_last_page():
    rows = [{"id": i} for i in range(25)]
    fetch, calls = _cursor_api(rows)
    kind = Cursor(10)
    source = _source(fetch)
    got = [r["id"] for page in kind.read(source) for r in page]
    assert got == list(range(25))
    assert calls == [{"limit": 10}, {"limit": 10, "after": "c:9:opaque"},
                     {"limit": 10, "after": "c:19:opaque"}]
    assert source.count.rows == 25
    assert kind.first_params() == {"limit": 10} and kind.probe_params() == {"limit": 1}
    assert not kind.counts


def test_cursor_kind_emits_a_row_repeated_across_pages_once():
    pages = iter([Page([{"id": 1}, {"id": 2}], None, "a"), Page([{"id": 2}, {"id": 3}], None,
                                                                 None)])
    got = [r["id"] for page in Cursor(2).read(_source(lambda extra: next(pages))) for r in page]
    assert got == [1, 2, 3]


def test_cursor_kind_refuses_a_cursor_that_comes_twice():
    with pytest.raises(PagingError, match="came twice"):
        list(Cursor(2).read(_source(lambda extra: Page([{"id": len(extra)}], None, "same"))))


def test_cursor_kind_refuses_a_page_longer_than_the_limit():
    with pytest.raises(PagingError, match="ignores limit"):
        list(Cursor(2).read(_source(lambda extra: Page([{"id": i} for i in range(3)]))))


def test_cursor_kind_ends_at_an_empty_page_whatever_its_cursor():
    pages = iter([Page([{"id": 1}], None, "a"), Page([], None, "b")])
    assert list(Cursor(5).read(_source(lambda extra: next(pages)))) == [[{"id": 1}]]


def test_offset_kind_pages_with_its_own_parameter_names_and_counts():
    rows = [{"id": i} for i in range(7)]
    calls = []

    def fetch(extra):
        calls.append(extra)
        n, size = extra["pageNumber"], extra["pageSize"]
        return Page(rows[(n - 1) * size:n * size], len(rows))
    kind = Offset(3, page_param="pageNumber", size_param="pageSize", min_size=10)
    source = _source(fetch)
    assert [r["id"] for page in kind.read(source) for r in page] == list(range(7))
    assert [c["pageNumber"] for c in calls] == [1, 2, 3]
    assert (source.count.api_total, source.count.rows) == (7, 7)
    assert kind.first_params() == {"pageNumber": 1, "pageSize": 3}
    assert kind.probe_params() == {"pageNumber": 1, "pageSize": 10}


def test_single_kind_is_one_request_and_keyset_moves_the_query_start():
    assert list(Single().read(_source(lambda extra: Page([{"id": 1}])))) == [[{"id": 1}]]
    rows = [{"id": i, "gmtCreate": f"2026-01-01 00:00:{i:02d}"} for i in range(150)]
    api, calls = _flash_api(rows[:60])
    source = Source(lambda extra: Page(api(extra["start"], extra["end"])),
                    {"start": "2026-01-01 00:00:00", "end": "2026-01-01 00:01:00"},
                    lambda row: row["id"], pytest.fail, "id", _when)
    assert [r["id"] for page in Keyset(100).read(source) for r in page] == list(range(60))
    assert calls == ["2026-01-01 00:00:00"]


def test_a_total_that_falls_between_pages_is_read_to_the_largest():
    """2 500 rows; the API says 2 500 on page 1 and 1 000 on later pages: every row is read
    (the pages go on to the largest total), in one pass, with one warning that promises
    nothing, and no count to compare with."""
    rows = [{"id": i} for i in range(2500)]
    calls, warnings, count = [], [], Count()

    def fetch(page):
        calls.append(page)
        return rows[(page - 1) * 999: page * 999], 2500 if page == 1 else 1000
    got = [r["id"] for p in offset_pages(fetch, 999, _ident, warnings.append, count) for r in p]
    assert got == list(range(2500)) and calls == [1, 2, 3]
    assert len(warnings) == 1 and "every page up to the largest was read" in warnings[0]
    assert "next run" not in warnings[0]
    assert count.shifted and not count.differs and not count.unsettled


def test_endless_shifting_leaves_the_query_unsettled():
    rows = [{"id": i} for i in range(150)]
    fetch, calls = _offset_api(rows, 100)
    count = Count()

    def shifting(page):
        rows.insert(0, {"id": f"n{len(calls)}"})
        return fetch(page)
    list(offset_pages(shifting, 100, _ident, lambda m: None, count))
    assert count.unsettled  # the lane holds the bookmark before the window


def test_keyset_paging_emits_a_row_the_api_repeats_once():
    rows = [{"id": 7, "gmtCreate": "2026-01-01 00:00:01"},
            {"id": 7, "gmtCreate": "2026-01-01 00:00:01"},
            {"id": 8, "gmtCreate": "2026-01-01 00:00:02"}]
    fetch, _ = _flash_api(rows)
    got = [r["id"] for p in keyset_pages(fetch, "2026-01-01 00:00:00", "2026-01-01 00:01:00",
                                         pytest.fail, 100, _when) for r in p]
    assert got == [7, 8]


def test_a_query_paging_past_its_time_bound_ends_with_one_line(monkeypatch):
    from tap_nxcloud import paging
    source = _source(lambda extra: Page([{"id": extra["page"]}], 10**9))
    monkeypatch.setattr(paging, "MAX_QUERY_SECONDS", 0)
    source.started -= 1  # a second ago, past a bound of none
    with pytest.raises(PagingError, match="still paging after 0 minutes"):
        list(Offset(1).read(source))
