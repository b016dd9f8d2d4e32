"""Many accounts in one run (`accounts`, `accounts_file`, `only_accounts`): end to end through the
CLI. Each account is an API double of its own, reached through the entry's `<product>_api_url`,
holding its own keys and rows, as NXCloud would serve each application only its own records.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import json

import pytest

from nxcloud_double import ApiDouble, Credentials
from tap_nxcloud.accounts import CREDENTIALS
from tap_nxcloud.streams import BY_NAME

from .conftest import (
    after_records,
    interrupt,
    key_of,
    load_stream,
    recent_range,
    run_tap,
    want_records,
)

PRODUCTS = {spec.name: spec for spec in BY_NAME.values()}


def _keys(account: str) -> Credentials:
    return Credentials(**{name: f"{account}-{name.replace('_', '-')}" for name in CREDENTIALS})


def _entry(account: str, double: ApiDouble, streams: tuple[str, ...]) -> dict:
    entry = {"name": account}
    for stream in streams:
        spec = BY_NAME[stream]
        for name in spec.credentials:
            entry[name] = double.credentials.values[name]
        entry[f"{spec.product}_api_url"] = double.url
    return entry


@contextlib.contextmanager
def doubles(names: tuple[str, ...], streams: tuple[str, ...], rows: int = 200, span=None):
    """An API double per account, each with its own keys and its own rows of `streams`."""
    with contextlib.ExitStack() as stack:
        out = {}
        for i, name in enumerate(names):
            d = stack.enter_context(ApiDouble(credentials=_keys(name)))
            for stream in streams:
                n = max(10, rows // 10) if BY_NAME[stream].min_interval else rows
                load_stream(d, stream, n, seed=100 + i, span=span)
            out[name] = d
        yield out


def _config(entries: list[dict], span=None, **extra) -> dict:
    start, end = span or recent_range()
    return {"accounts": entries, "start_date": start.isoformat(), "end_date": end.isoformat(),
            "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.3, "request_timeout": 5,
            **extra}


def _account_rows(run, stream: str, account: str) -> dict:
    got = [r for r in run.records(stream) if r["account"] == account]
    keys = [key_of(stream, r) for r in got]
    assert len(keys) == len(set(keys)), f"{stream}/{account}: a row twice"
    return {k: {c: v for c, v in r.items() if c != "account"}
            for k, r in zip(keys, got, strict=True)}


def _partition(state: dict, stream: str, account: str) -> str | None:
    for p in state["bookmarks"].get(stream, {}).get("partitions", []):
        if p["context"] == {"account": account}:
            return p.get("replication_key_value")
    return None


STREAMS = ("cc_cdrs", "sms_cdrs", "did_cdrs")


def test_three_accounts_in_one_run_exact_with_the_account_column(tmp_path):
    """Two SMS apps of one customer and a second customer: every row once, under its account,
    the account the first key; one bookmark per stream and account."""
    names = ("shop-marketing", "shop-otp", "globex")
    streams = {"shop-marketing": ("sms_cdrs",), "shop-otp": ("sms_cdrs",), "globex": STREAMS}
    with doubles(names, STREAMS) as ds:
        entries = [_entry(n, ds[n], streams[n]) for n in names]
        run = run_tap(_config(entries, max_parallel_accounts=2), tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        for name in names:
            for stream in streams[name]:
                assert _account_rows(run, stream, name) == want_records(ds[name], stream)
            for stream in set(STREAMS) - set(streams[name]):
                assert not [r for r in run.records(stream) if r["account"] == name]
    for stream in STREAMS:
        schema = run.schemas[stream]
        assert schema["key_properties"][0] == "account"  # the first key
        assert all(r["account"] for r in run.records(stream))
    final = run.states[-1]
    for name in names:
        for stream in streams[name]:
            mark = _partition(final, stream, name)
            assert mark and dt.datetime.fromisoformat(mark) == recent_range()[1]
    # no secret of any account anywhere
    for name in names:
        for spec in BY_NAME.values():
            secret = _keys(name).values[spec.secret_setting]
            assert secret not in run.stdout and secret not in run.stderr


def test_one_accounts_refused_key_leaves_the_others_complete(tmp_path):
    names = ("acme", "globex", "initech")
    with doubles(names, STREAMS) as ds:
        entries = [_entry(n, ds[n], STREAMS) for n in names]
        entries[1]["sms_app_secret"] = "wrong"  # globex's SMS app refuses
        state = {"bookmarks": {"sms_cdrs": {"partitions": [
            {"context": {"account": "globex"}, "replication_key": "date",
             "replication_key_value": recent_range()[0].isoformat()}]}}}
        run = run_tap(_config(entries), tmp_path, state=state)
        for name in ("acme", "initech"):
            for stream in STREAMS:
                assert _account_rows(run, stream, name) == want_records(ds[name], stream)
        for stream in ("cc_cdrs", "did_cdrs"):
            assert _account_rows(run, stream, "globex") == want_records(ds["globex"], stream)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors
    assert all(s in errors[0] for s in ("sms_cdrs", "account globex", "check sms_app_key"))
    assert not [r for r in run.records("sms_cdrs") if r["account"] == "globex"]
    final = run.states[-1]
    assert _partition(final, "sms_cdrs", "globex") == recent_range()[0].isoformat()  # unmoved
    assert _partition(final, "sms_cdrs", "acme") is not None


def test_only_accounts_reads_just_those(tmp_path):
    names = ("acme", "globex")
    with doubles(names, ("cc_cdrs",)) as ds:
        entries = [_entry(n, ds[n], ("cc_cdrs",)) for n in names]
        # acme's bookmark, from an earlier run: only_accounts leaves it in the state
        acme = {"context": {"account": "acme"}, "replication_key": "createTime",
                "replication_key_value": recent_range()[0].isoformat()}
        run = run_tap(_config(entries, only_accounts=["globex"]), tmp_path,
                      state={"bookmarks": {"cc_cdrs": {"partitions": [acme]}}})
        assert run.returncode == 0, run.stderr[-2000:]
        assert ds["acme"].requests() == []
        assert _account_rows(run, "cc_cdrs", "globex") == want_records(ds["globex"], "cc_cdrs")
    assert {r["account"] for r in run.records("cc_cdrs")} == {"globex"}
    assert acme in run.states[-1]["bookmarks"]["cc_cdrs"]["partitions"]
    assert "no longer configured" not in run.stderr


def test_sip_readers_of_many_accounts_share_one_pace(tmp_path):
    """NXCloud counts SIP's one request per 2 s per IP: three accounts' SIP requests, taken
    together at the servers, are never closer than 2 s; voice is paced per app key."""
    names = ("acme", "globex", "initech")
    span = (recent_range()[1] - dt.timedelta(hours=30), recent_range()[1])
    with doubles(names, ("sip_cdrs", "voice_cdrs"), rows=300, span=span) as ds:
        entries = [_entry(n, ds[n], ("sip_cdrs", "voice_cdrs")) for n in names]
        run = run_tap(_config(entries, span=span), tmp_path, timeout=240)
        assert run.returncode == 0, run.stderr[-3000:]
        sip = sorted(e["at"] for d in ds.values() for e in d.requests("sip_cdrs"))
        assert len(sip) >= 6  # two windows an account
        gaps = [b - a for a, b in itertools.pairwise(sip)]
        assert min(gaps) >= 2.0, gaps
        for name, d in ds.items():
            voice = sorted(e["at"] for e in d.requests("voice_cdrs"))
            assert min(b - a for a, b in itertools.pairwise(voice)) >= 1.0
            assert not any(d.rate_violations.values()), (name, d.rate_violations)
            for stream in ("sip_cdrs", "voice_cdrs"):
                assert _account_rows(run, stream, name) == want_records(d, stream, span)
        # voice keys are each account's own: their requests overlap in time
        first = [min(e["at"] for e in d.requests("voice_cdrs")) for d in ds.values()]
        assert max(first) - min(first) < 3.0


def test_a_killed_run_resumes_rereading_at_most_one_window_per_account(tmp_path):
    names = ("acme", "globex", "initech")
    span = (recent_range()[1] - dt.timedelta(days=4), recent_range()[1])
    with doubles(names, ("sms_cdrs", "did_cdrs"), rows=2000, span=span) as ds:
        for d in ds.values():
            d.latency_ms = 15
        entries = [_entry(n, ds[n], ("sms_cdrs", "did_cdrs")) for n in names]
        config = _config(entries, span=span, sms_lookback_minutes=0, did_lookback_minutes=0,
                         max_workers=1)
        # killed inside the DID stream, after SMS completed
        _, messages, _ = interrupt(config, tmp_path, after_records(9000))
        last = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
        second = run_tap(config, tmp_path, state=messages[last]["value"])
        assert second.returncode == 0, second.stderr[-3000:]
        for stream in ("sms_cdrs", "did_cdrs"):
            for name in names:
                first = [m["record"] for m in messages if m["type"] == "RECORD"
                         and m["stream"] == stream and m["record"]["account"] == name]
                again = [r for r in second.records(stream) if r["account"] == name]
                union = {key_of(stream, r): r for r in first} | {
                    key_of(stream, r): r for r in again}
                want = want_records(ds[name], stream, span)
                assert {k: {c: v for c, v in r.items() if c != "account"}
                        for k, r in union.items()} == want, (stream, name)
                twice = {key_of(stream, r) for r in first} & {key_of(stream, r) for r in again}
                # only rows of the one window this account was in when the run was killed
                days = {r[BY_NAME[stream].replication_key][:10] for r in first
                        if key_of(stream, r) in twice}
                assert len(days) <= 1, (stream, name, days)


def test_a_one_account_state_continues_as_an_entry_of_accounts(tmp_path):
    """The one-account form with `account` keeps its bookmarks under the account's name; the
    same name in `accounts` then continues from them (no re-read beyond the lookback). A
    bookmark written before accounts existed (the stream's level) is read by a one-account
    run."""
    stream = "did_cdrs"
    span = (recent_range()[1] - dt.timedelta(days=3), recent_range()[1])
    with doubles(("acme", "globex"), (stream,), rows=300, span=span) as ds:
        acme = ds["acme"]
        flat = {"account": "acme", "api_url": acme.url, **{
            n: acme.credentials.values[n] for n in BY_NAME[stream].credentials}}
        early = (span[0], span[1] - dt.timedelta(days=1))
        one = run_tap({**_config([], span=early), **flat, "accounts": None}, tmp_path)
        assert one.returncode == 0, one.stderr[-2000:]
        mark = _partition(one.states[-1], stream, "acme")
        assert mark and "replication_key_value" not in one.states[-1]["bookmarks"][stream]
        acme.log.clear()
        entries = [_entry(n, ds[n], (stream,)) for n in ("acme", "globex")]
        both = run_tap(_config(entries, span=span, did_lookback_minutes=0), tmp_path,
                       state=one.states[-1])
        assert both.returncode == 0, both.stderr[-2000:]
        asked = sorted(e["params"]["date"] for e in acme.requests(stream)
                       if e["params"].get("page") == 1)
        assert asked[0] == dt.datetime.fromisoformat(mark).date().isoformat()  # from the mark
        assert len(ds["globex"].requests(stream)) > len(asked)  # globex: from start_date
        # a bookmark at the stream's level (written before partitions): a one-account run
        legacy = {"bookmarks": {stream: {"replication_key": "startTime",
                                         "replication_key_value": mark}}}
        acme.log.clear()
        again = run_tap({**_config([], span=span), **flat, "accounts": None,
                         "did_lookback_minutes": 0}, tmp_path, state=legacy)
        assert again.returncode == 0, again.stderr[-2000:]
        assert min(e["params"]["date"] for e in acme.requests(stream)) == asked[0]
        assert _partition(again.states[-1], stream, "acme")


@pytest.mark.parametrize(("accounts", "extra", "says"), [
    ([{"name": "a b", "cc_access_key": "k", "cc_access_secret": "s"}], {},
     "accounts[0]: name must be"),
    ([{"name": "a", "cc_access_key": "k", "cc_access_secret": "s", "start_date": "x"}], {},
     "accounts[0] (a): unknown field start_date"),
    ([{"name": "a", "cc_access_key": "k", "cc_access_secret": "s"}] * 2, {},
     "accounts[1] (a): the name is used twice"),
    ([{"name": "a", "cc_access_key": "k"}], {}, "cc_access_key is set but cc_access_secret"),
    ([{"name": "a", "cc_access_key": "k", "cc_access_secret": "s"}],
     {"sms_app_key": "k", "sms_app_secret": "s"}, "not both"),
    ([{"name": "a", "cc_access_key": "k", "cc_access_secret": "s"}], {"account": "a"},
     "not both"),
    ([{"name": "a", "cc_access_key": "k", "cc_access_secret": "s"}],
     {"only_accounts": ["b"]}, "only_accounts: no account named 'b'"),
    ([{"name": "a", "cc_access_key": "k", "cc_access_secret": "s"}],
     {"accounts_file": "/nonexistent.json"}, "set accounts or accounts_file, not both"),
    ([], {}, "accounts must be a non-empty list"),
])
def test_an_accounts_mistake_ends_in_one_line_before_any_request(tmp_path, accounts, extra, says):
    config = {**_config(accounts), "api_url": "http://127.0.0.1:9", **extra}
    run = run_tap(config, tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1 and says in errors[0], run.stderr[-1500:]
    assert "connection" not in run.stderr


def test_accounts_file_holds_the_list(tmp_path):
    with doubles(("acme", "globex"), ("cc_cdrs",)) as ds:
        file = tmp_path / "accounts.json"
        file.write_text(json.dumps([_entry(n, ds[n], ("cc_cdrs",)) for n in ds]))
        config = _config([])
        del config["accounts"]
        run = run_tap({**config, "accounts_file": str(file)}, tmp_path,
                      env={"TAP_NXCLOUD_LOGLEVEL": "DEBUG"})
        assert run.returncode == 0, run.stderr[-2000:]
        for name, d in ds.items():
            assert _account_rows(run, "cc_cdrs", name) == want_records(d, "cc_cdrs")
            secret = d.credentials.values["cc_access_secret"]
            assert secret not in run.stderr and secret not in run.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    bad = run_tap({**config, "accounts_file": str(broken)}, tmp_path)
    assert bad.returncode == 1 and "accounts_file" in bad.stderr and "not JSON" in bad.stderr


def test_state_messages_do_not_multiply_with_accounts(tmp_path):
    """Ten accounts of three days of SMS: one STATE per round (a day), not one per account and
    window; the last covers every account."""
    names = tuple(f"acct-{i}" for i in range(10))
    span = (recent_range()[1] - dt.timedelta(days=3), recent_range()[1])
    with doubles(names, ("sms_cdrs",), rows=200, span=span) as ds:
        entries = [_entry(n, ds[n], ("sms_cdrs",)) for n in names]
        run = run_tap(_config(entries, span=span, max_parallel_accounts=4,
                              _select=["sms_cdrs"]), tmp_path)  # not the statements, balance
    assert run.returncode == 0, run.stderr[-2000:]
    states = [m for m in run.messages if m["type"] == "STATE"]
    days = 4  # the span touches four calendar days
    assert len(states) <= days + 2, len(states)
    assert all(_partition(states[-1]["value"], "sms_cdrs", n) for n in names)


def test_the_log_and_the_audit_count_the_same_requests_and_name_what_they_count(tmp_path):
    """A child stream's lanes (a task each) share their account's client: the log's request
    count is the audit's, and its 'done' line counts tasks and accounts as such."""
    names = ("acme", "globex")
    with doubles(names, ("ai_agent_calls",), rows=120) as ds:
        entries = [_entry(n, ds[n], ("ai_agent_calls",)) for n in names]
        config = {**_config(entries), "_select": ["ai_agent_calls", "sync_audit"]}
        run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    done = next(line for line in run.stderr.splitlines() if "ai_agent_calls: done:" in line)
    logged = int(done.split(" requests")[0].rsplit(" ", 1)[1])
    audited = sum(r["requests"] for r in run.records("sync_audit")
                  if r["stream"] == "ai_agent_calls")
    assert logged == audited, (done, audited)
    tasks = len({(r["account"], r["taskId"]) for r in run.records("ai_agent_calls")})
    assert f"of {tasks} ai_agent_tasks rows of 2 accounts" in done, done


def test_a_silent_account_does_not_hold_the_others_back(tmp_path):
    """One account's host accepts connections and never answers: its checks give up after one
    request's time (request_timeout and a margin), not its whole retry budget; it ends in its
    own lines while the other account lands exactly."""
    import threading

    from .hostile import Hostile
    release = threading.Event()

    def never(req):
        release.wait(120)
    with doubles(("acme", "quiet"), STREAMS) as ds, Hostile(ds["quiet"].url, never) as hostile:
        quiet = _entry("quiet", ds["quiet"], STREAMS)
        quiet.update({k: hostile.url for k in quiet if k.endswith("_api_url")})
        entries = [_entry("acme", ds["acme"], STREAMS), quiet]
        try:
            run = run_tap(_config(entries, request_timeout=2, max_retries=6), tmp_path)
            sent = collections.Counter(r.path for r in hostile.requests())
        finally:
            release.set()
        assert run.returncode == 1, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
        assert errors and all("account quiet" in line for line in errors), errors
        assert any("did not answer the credential check" in line for line in errors), errors
        for stream in STREAMS:
            assert _account_rows(run, stream, "acme") == want_records(ds["acme"], stream)
            assert not [r for r in run.records(stream) if r["account"] == "quiet"]
    # each stream's check (a path each): the attempts of one grace (7 s: about 4), not its
    # whole retry budget (1 + max_retries = 7)
    assert sent and max(sent.values()) <= 4, sent
