"""The credential checks: each selected stream's first request of every account, before any
record, and the answers they keep for the sync (the sync does not ask again).

A refused key ends a one-account run in seconds, not after the other streams have synced; with
`accounts`, a refused account's stream is left out, every other one is read, and the run ends
with one line per account and pair of credentials. Paced streams of many accounts (voice, SIP)
are checked by their own first request instead: 200 accounts at one SIP request per 2 s would
hold every record back.
"""

from __future__ import annotations

import threading

import msgspec

from .errors import ApiError, TapError
from .windows import Window

KEPT_ROWS = 5_000  # rows of the checks' answers kept for the sync, per process
KEPT_PAGE = 200  # many accounts: a bigger first page is asked again (one request of many)
THREADS = 16
GRACE_SLACK = 5.0  # seconds beyond request_timeout a check of many accounts may take


class Kept:
    """The answers kept, within one budget of rows for the whole process."""

    def __init__(self, budget: int = KEPT_ROWS) -> None:
        self.rows, self.budget = 0, budget
        self._lock = threading.Lock()

    def admit(self, rows: int, small_only: bool) -> bool:
        """One account: its first page whatever its size (asking again would cost voice and SIP
        a paced request); many (`small_only`): small pages only, so the budget serves many."""
        with self._lock:
            if (small_only and rows > KEPT_PAGE) or self.rows + rows > self.budget:
                return False
            self.rows += rows
            return True

    def give_back(self, rows: int) -> None:
        with self._lock:
            self.rows -= rows


KEPT = Kept()


class KeptAnswer:
    """A check's answer, kept encoded (a third of the memory of the dicts, in one block) until
    the sync asks exactly the same request: then it is the answer."""

    __slots__ = ("_params", "_rows", "count", "total")

    def __init__(self, params: dict, rows: list[dict], total) -> None:
        self._params = msgspec.json.encode(params)
        self._rows, self.count, self.total = msgspec.json.encode(rows), len(rows), total

    def answers(self, params: dict) -> bool:
        return self._params == msgspec.json.encode(params)

    def rows(self) -> list[dict]:
        return msgspec.json.decode(self._rows)


def probe(lane, keep: bool = False) -> None:
    """One request that proves the lane's credentials work: the first request of the sync
    itself (`keep`: its answer is kept for the sync), or, where the range is empty, of its last
    minute (a stream whose every day fell out of retention is not checked)."""
    if not lane.spec.windowed:
        window, where = Window(0, 1), "the whole table"
    else:
        first, last = lane.ticks()
        if first < last:
            window = lane.planner(first, last).next()
        else:  # nothing to read: prove the keys on the last minute still kept
            edge = lane.retention_edge()
            if edge is not None and edge >= lane.settings.end:
                return
            window = Window(last - 60, last)
            keep = False
        where = lane.where(window)
    params = lane.request.first_params(window, probe=not keep)
    page = lane.fetch(params, f"checking the credentials: {where}")
    if keep and KEPT.admit(len(page.rows), small_only=lane.settings.named):
        lane.kept = KeptAnswer(params, page.rows, page.total)


def release(lane) -> None:
    """Drop a kept answer the sync did not use (the lane failed, or read nothing)."""
    kept, lane.kept = lane.kept, None
    if kept is not None:
        KEPT.give_back(kept.count)


def take(lane, params: dict) -> KeptAnswer | None:
    """The kept answer, if `params` is the request it answers (used once)."""
    kept = lane.kept
    if kept is None:
        return None
    lane.kept = None
    KEPT.give_back(kept.count)
    return kept if kept.answers(params) else None


def check_all(tap) -> dict[int, tuple]:
    """Every selected stream's first request of every account, 16 at once. One ERROR line per
    refusal, which ends a one-account run; with `accounts`, the refused account's stream is
    left out. The refusals, by id of their error."""
    named = tap.settings.named
    lanes = [lane for s in tap.api_streams if s.selected for lane in s.lanes
             if not (named and s.spec.min_interval)]
    # paced streams' answers first, while the kept answers' budget has room: asking again
    # would cost them a paced request (they sync last, so they come last in the streams)
    lanes.sort(key=lambda lane: not lane.spec.min_interval)
    if not lanes:
        return {}
    # many accounts: no account waits on another's silent host beyond one request's time
    grace = tap.settings.timeout + GRACE_SLACK if named else None
    failures = _probe_all(lanes, threads=THREADS, grace=grace)
    if failures and not named:
        *first, last = together([failures])
        for line in first:
            tap.logger.error("%s", line)
        raise ApiError(last)
    silent = {(lane.account.name, lane.client.host): exc for lane, exc in failures
              if isinstance(exc, Silent)}
    for stream in tap.api_streams:  # the unchecked (paced) lanes of a silent host go too
        for lane in list(stream.lanes):
            exc = silent.get((lane.account.name, lane.client.host))
            if exc is not None and all(lane is not x for x, _ in failures):
                failures.append((lane, exc))
    for lane, exc in failures:
        lane.stream.drop(lane, exc)
    return {id(exc): (lane, exc) for lane, exc in failures}


class Silent(ApiError):
    """A credential check with no answer within its grace: the account's host is left out."""


def _check_within(lane, grace: float) -> None:
    """The lane's check in a thread of its own, waited for `grace` seconds: past that, the
    account's host is taken as silent (the check goes on in the background, its result
    unused; the lane is dropped)."""
    outcome: list = []

    def run() -> None:
        try:
            probe(lane, True)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
    # its own cancel event while checked: a check given up on stops retrying (the stream's
    # event is shared by every lane); a lane that answered gets the stream's back
    shared, lane.client.cancel = lane.client.cancel, threading.Event()
    thread = threading.Thread(target=run, daemon=True, name="nxcloud-check")
    thread.start()
    thread.join(grace)
    if thread.is_alive():
        lane.client.cancel.set()
        raise Silent(f"{lane.name}: {lane.where_prefix}{lane.client.host} did not answer the "
                     f"credential check within {grace:g} s (request_timeout and a margin); "
                     "this account is left out of the run (its bookmarks stay) while the others "
                     "are read")
    lane.client.cancel = shared
    if outcome and outcome[0] is not None:
        raise outcome[0]


def _probe_all(lanes: list, threads: int, grace: float | None = None) -> list[tuple]:
    """Every lane's credential check, `threads` at once, in the lanes' order: (lane, error)
    for each refused. Each lane's connection is closed at once (2 200 idle ones, 200 accounts,
    held to the end cost 20 MB), and lanes are taken one by one, not queued as 2 200 futures.
    `grace`: the longest a check is waited for (many accounts). Any other exception (a
    signal's) stops the checks and is raised."""
    todo = iter(enumerate(lanes))
    lock = threading.Lock()
    failures: list[tuple] = []
    stop: list[BaseException] = []

    def work() -> None:
        while not stop:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            i, lane = item
            try:
                if grace is None:
                    probe(lane, True)
                else:
                    _check_within(lane, grace)
            except TapError as exc:
                with lock:
                    failures.append((i, lane, exc))
            except BaseException as exc:  # raised in the caller
                stop.append(exc)
            finally:
                lane.client.close()

    pool = [threading.Thread(target=work, daemon=True, name=f"nxcloud-probe-{n}")
            for n in range(min(threads, len(lanes)))]
    for t in pool:
        t.start()
    try:
        for t in pool:
            t.join()
    except BaseException as exc:  # a signal in the join: the threads take no more lanes
        stop.append(exc)
        raise
    if stop:
        raise stop[0]
    return [(lane, exc) for _, lane, exc in sorted(failures, key=lambda f: f[0])]


def together(refusals) -> list[str]:
    """One line per account and pair of credentials, whichever streams they refused: the SMS
    keys refused for the records, the statements and the balance are one mistake."""
    pairs = [p for group in refusals for p in (group if isinstance(group, list) else [group])]
    groups: dict[tuple, list] = {}
    for lane, exc in pairs:
        groups.setdefault((lane.account.name, lane.spec.credentials), []).append((lane, exc))
    lines = []
    for group in groups.values():
        (lane, exc), names = group[0], [lane.name for lane, _ in group]
        text, prefix = str(exc), f"{lane.name}: "
        if len(names) > 1 and text.startswith(prefix):
            text = f"{', '.join(names[:-1])} and {names[-1]}: {text[len(prefix):]}"
        lines.append(text)
    return list(dict.fromkeys(lines))  # one refusing host: one line, whatever the streams
