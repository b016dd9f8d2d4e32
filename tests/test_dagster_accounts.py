"""Scale-out on Dagster (orchestrate/accounts.py): one partition per account of the accounts file,
each partition one `meltano run` of the tap for that account alone under a state ID of its own,
with Meltano's system database (state included) in PostgreSQL, as workers on many machines share.

Three accounts, each an API double of its own (its own keys, its own rows of cc_cdrs and did_cdrs).
One partition runs from the CLI (`dagster job execute`); then `dagster job backfill --all` queues
all three, and `dagster-daemon` launches them under orchestrate/dagster.yaml's limits, each a run
of its own whose op runs in a subprocess of Dagster's multiprocess executor. Every double holds
its first request until all three accounts' first requests have arrived: the test passes only if
the three runs were reading at the same time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from nxcloud_double import ApiDouble, Credentials
from tap_nxcloud.accounts import CREDENTIALS
from tap_nxcloud.schemas import load as load_schema
from tap_nxcloud.streams import BY_NAME

from .conftest import BIN, key_of, load_stream, recent_range, want_records

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = str(ROOT / "orchestrate" / "definitions.py")
MELTANO, DAGSTER, DAEMON = (str(BIN / n) for n in ("meltano", "dagster", "dagster-daemon"))
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())
JOB = "nxcloud_accounts"
NAMES = ("acme", "globex", "initech")
STREAMS = ("cc_cdrs", "did_cdrs")  # no rate-limited stream: quick
LOADER = "target-postgres"
OWN_SETTINGS = ("TAP_NXCLOUD", "TARGET_", "MELTANO_", "DAGSTER_", "NXCLOUD_")
TOGETHER_SECONDS = 240  # how long a double holds its first request for the others


def _clean_environ() -> dict:
    """The test's environment without a developer's own tap, target, Meltano or Dagster settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}


def _keys(account: str) -> Credentials:
    return Credentials(**{name: f"{account}-{name.replace('_', '-')}" for name in CREDENTIALS})


def _entry(account: str, double: ApiDouble) -> dict:
    """The account's entry of the accounts file: its keys, its double as its products' URL."""
    entry = {"name": account}
    for stream in STREAMS:
        spec = BY_NAME[stream]
        for name in spec.credentials:
            entry[name] = double.credentials.values[name]
        entry[f"{spec.product}_api_url"] = double.url
    return entry


def _dagster_home(tmp_path: Path) -> Path:
    """A Dagster home with the shipped instance settings (telemetry off for the tests)."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    shipped = (ROOT / "orchestrate" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(f"{shipped}\ntelemetry:\n  enabled: false\n")
    return home


def _load_definitions():
    spec = importlib.util.spec_from_file_location("nxcloud_dagster_definitions", DEFINITIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs, sys.modules["nxcloud_orchestrate_accounts"]


# --- the definitions --------------------------------------------------------------------------

def test_one_partition_per_account_of_the_file(tmp_path, monkeypatch):
    from dagster import DefaultScheduleStatus, build_schedule_context

    entries = [{"name": "acme", "cc_access_key": "k-acme", "cc_access_secret": "s-acme-1"},
               {"name": "globex-eu", "sip_app_key": "k-globex", "sip_app_secret": "s-globex-2"},
               {"name": "initech_2", "did_access_key": "k-init", "did_access_secret": "s-init-3"}]
    secrets = ("s-acme-1", "s-globex-2", "s-init-3")
    file = tmp_path / "accounts.json"
    file.write_text(json.dumps(entries))
    for name in [k for k in os.environ if k.startswith(OWN_SETTINGS)]:
        monkeypatch.delenv(name)
    for name, value in {"MELTANO_SYS_DIR_ROOT": str(tmp_path / ".meltano"),
                        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path}/meltano.db",
                        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                        "MELTANO_PROJECT_ROOT": str(ROOT), "NXCLOUD_ACCOUNTS_FILE": str(file),
                        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}.items():
        monkeypatch.setenv(name, value)
    # Meltano's tables first: elt-dagster-meltano runs `meltano job list` and `meltano schedule
    # list` at once when the definitions load, and on a new system database both create them.
    _run(dict(os.environ), MELTANO, "state", "list")
    defs, accounts = _load_definitions()

    job = defs.get_job_def(JOB)
    keys = ["acme", "globex-eu", "initech_2"]
    assert job.partitions_def.get_partition_keys() == keys  # the file's names, in its order
    assert job.tags == {"nxcloud/pool": "accounts"}
    tags = {k: {t: v for t, v in job.partitioned_config.get_tags_for_partition_key(k).items()
                if t.startswith("nxcloud/")} for k in keys}
    assert tags == {"acme": {"nxcloud/account": "acme"},
                    "globex-eu": {"nxcloud/account": "globex-eu", "nxcloud/sip": "reads"},
                    "initech_2": {"nxcloud/account": "initech_2"}}
    # The shipped instance limits the tags the job sets.
    limits = yaml.safe_load((ROOT / "orchestrate" / "dagster.yaml").read_text())
    limits = {(lim["key"], json.dumps(lim.get("value"))): lim["limit"]
              for lim in limits["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert limits[("nxcloud/account", '{"applyLimitPerUniqueValue": true}')] == 1
    assert limits[("nxcloud/pool", '"accounts"')] == 4
    assert limits[("nxcloud/sip", "null")] == 1
    # One schedule per account, stopped until switched on, each at a minute of its own.
    schedules = {s.name: s for s in defs.schedules if s.job_name == JOB}
    assert set(schedules) == {f"{JOB}_acme_hourly", f"{JOB}_globex_eu_hourly",
                              f"{JOB}_initech_2_hourly"}
    for key in keys:
        schedule = schedules[f"{JOB}_{key.replace('-', '_')}_hourly"]
        assert schedule.default_status == DefaultScheduleStatus.STOPPED
        assert re.fullmatch(r"\d{1,2} \* \* \* \*", schedule.cron_schedule)
        assert schedule.execution_timezone == "UTC"
        context = build_schedule_context(repository_def=defs.get_repository_def())
        [request] = schedule.evaluate_tick(context).run_requests
        assert request.partition_key == key
        assert request.tags["nxcloud/account"] == key
    # The Meltano jobs and schedules are still there.
    for meltano_job in PROJECT["jobs"]:
        assert defs.get_job_def(meltano_job["name"].replace("-", "_"))
    assert len(defs.schedules) == len(PROJECT["schedules"]) + len(keys)
    # What a run executes: that account alone, under its own state ID, no --force.
    assert accounts.meltano_args("acme", LOADER, "RUN") == [
        "run", "--no-install", "--run-id", "RUN", "--state-id-suffix", "acme", "tap-nxcloud",
        LOADER]
    shown = json.dumps([tags, [s.description for s in schedules.values()], job.description])
    assert not any(secret in shown for secret in secrets)

    # Without an accounts file: no accounts job; a wrong file fails the code location in one
    # line that names the entry, never a value.
    assert accounts.definitions({}) == ([], [])
    for listed, says in [
            ([*entries, {"name": "acme", "cc_access_key": "k", "cc_access_secret": "s-dup-4"}],
             "the name acme is used twice"),
            ([{"name": "a b", "cc_access_key": "k", "cc_access_secret": "s-bad-5"}],
             "entry 0: name must be"),
            ([entries[0], {"name": "globex\n"}], "entry 1: name must be"),
            ([{"name": "a-b"}, {"name": "a_b"}], "two names differ only in - and _"),
            ([], "must hold a non-empty JSON list"),
            ("[{", "not JSON")]:
        file.write_text(listed if isinstance(listed, str) else json.dumps(listed))
        with pytest.raises(accounts.AccountsFileError) as error:
            accounts.definitions({"NXCLOUD_ACCOUNTS_FILE": str(file)})
        assert says in str(error.value) and "s-" not in str(error.value).replace(str(file), "")
    with pytest.raises(accounts.AccountsFileError, match="cannot read"):
        accounts.definitions({"TAP_NXCLOUD_ACCOUNTS_FILE": str(tmp_path / "missing.json")})


# --- three partitions at once -------------------------------------------------------------------

@pytest.fixture(scope="module")
def meltano_env(postgres, tmp_path_factory) -> dict:
    """Meltano with its system database in PostgreSQL (database `meltano`), the tap and
    target-postgres installed into a private system directory; the warehouse is database
    `warehouse` of the same cluster."""
    port, psql = postgres
    psql("CREATE DATABASE meltano")
    psql("CREATE DATABASE warehouse")
    sysdir = tmp_path_factory.mktemp("meltano-dagster")
    env = {**_clean_environ(), "MELTANO_SYS_DIR_ROOT": str(sysdir / ".meltano"),
           "MELTANO_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{port}/meltano",
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "UV_COMPILE_BYTECODE": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run(env, MELTANO, "install", "tap-nxcloud", LOADER)  # also creates Meltano's tables
    return env


def _run(env: dict, *cmd: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd[1:3])}:\n{(done.stdout + done.stderr)[-5000:]}"
    return done


def _sql(port: int, database: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=database) as conn:
        return conn.execute(query, params).fetchall()


class TogetherOrNot:
    """Holds each double's first request until every double has had one (at most `timeout`
    seconds): passed only if all the accounts' runs were reading at the same time. `meanwhile`
    runs once they all are, before they go on."""

    def __init__(self, doubles: dict[str, ApiDouble], timeout: float, meanwhile) -> None:
        self.barrier = threading.Barrier(len(doubles), action=self._meanwhile, timeout=timeout)
        self.first: dict[str, float] = {}  # account: when its first request arrived
        self.apart = False
        self.meanwhile, self.result = meanwhile, None
        self._lock = threading.Lock()
        for name, double in doubles.items():
            double.on_request = self._hook(name)

    def _meanwhile(self) -> None:
        try:
            self.result = self.meanwhile()
        except Exception as exc:  # reported by the test; the runs go on
            self.result = exc

    def _hook(self, name: str):
        def hold(_stream, _params, _n) -> None:
            with self._lock:
                if name in self.first:
                    return
                self.first[name] = time.time()
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                self.apart = True
        return hold


@contextlib.contextmanager
def _daemon(env: dict, log: Path):
    """dagster-daemon (run queue, launcher, scheduler) for the test's Dagster home."""
    with log.open("w") as out:
        proc = subprocess.Popen([DAEMON, "run", "-f", DEFINITIONS], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:  # the daemon, its code server and any run worker left: one process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for_runs(instance, backfill_id: str, count: int, daemon_log: Path,
                   timeout: float = 600) -> list:
    from dagster import RunsFilter

    deadline = time.monotonic() + timeout
    while True:
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        if len(runs) == count and all(r.is_finished for r in runs):
            return runs
        if time.monotonic() > deadline:
            pytest.fail(f"backfill {backfill_id}: {[(r.run_id, r.status) for r in runs]} after "
                        f"{timeout} s; daemon:\n{daemon_log.read_text()[-4000:]}")
        time.sleep(1)


def _messages(instance, run_id: str) -> list[str]:
    return [e.user_message or "" for e in instance.all_logs(run_id)]


def _landed(value, declared: dict):
    """A tap record's value as target-postgres stores it and psycopg reads it back."""
    if value is None:
        return None
    if declared.get("format") == "date-time":
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(dt.UTC).replace(tzinfo=None)  # timestamp, UTC (PGTZ)
    if "number" in declared.get("type", ()) and not isinstance(value, bool):
        return float(value)
    return value


def _read(value, declared: dict):
    if value is not None and "number" in declared.get("type", ()):
        return float(value)
    return value


def _rows(port: int, stream: str, account: str) -> dict[tuple, dict]:
    """The warehouse's rows of one account, by key, as tap records (no Singer metadata)."""
    props = {**load_schema(stream)["properties"], "extra_fields": {"type": ["object", "null"]}}
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="warehouse") as c:
        cursor = c.execute(f'SELECT * FROM nxcloud."{stream}" WHERE account = %s', (account,))
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    out = {}
    for row in rows:
        record = {k: _read(v, props.get(k, {})) for k, v in row.items()
                  if not k.startswith("_sdc_") and k != "account"}
        key = key_of(stream, record)
        assert key not in out, f"{stream}/{account}: {key} twice"
        out[key] = record
    return out


def _expected(double: ApiDouble, stream: str) -> dict[tuple, dict]:
    props = {**load_schema(stream)["properties"], "extra_fields": {"type": ["object", "null"]}}
    return {key: {name: _landed(record.get(name), props[name]) for name in props}
            for key, record in want_records(double, stream).items()}


def test_three_account_partitions_at_once_each_with_its_own_state(meltano_env, postgres,
                                                                   tmp_path, capsys):
    from dagster import DagsterInstance, DagsterRunStatus

    port, _psql = postgres
    start, end = recent_range()
    with contextlib.ExitStack() as stack:
        doubles = {}
        for i, name in enumerate(NAMES):
            doubles[name] = stack.enter_context(ApiDouble(credentials=_keys(name)))
            for stream in STREAMS:
                load_stream(doubles[name], stream, 300, seed=200 + i)
        accounts_file = tmp_path / "accounts.json"
        accounts_file.write_text(json.dumps([_entry(n, doubles[n]) for n in NAMES]))
        home = _dagster_home(tmp_path)
        with DagsterInstance.from_config(str(home)) as instance:  # its storage, created once
            assert not instance.get_runs()
        env = {**meltano_env, "DAGSTER_HOME": str(home), "MELTANO_PROJECT_ROOT": str(ROOT),
               "NXCLOUD_ACCOUNTS_FILE": str(accounts_file), "NXCLOUD_LOADER": LOADER,
               "TAP_NXCLOUD_START_DATE": start.isoformat(),
               "TAP_NXCLOUD_END_DATE": end.isoformat(),
               "TAP_NXCLOUD_REQUEST_TIMEOUT": str(TOGETHER_SECONDS + 60),
               "TARGET_POSTGRES_PORT": str(port), "TARGET_POSTGRES_USER": "postgres",
               "TARGET_POSTGRES_PASSWORD": "unused", "TARGET_POSTGRES_DATABASE": "warehouse"}
        # The Meltano schedules are created running: stop them, so that the daemon's scheduler
        # cannot start one of them while the test runs.
        stops = [subprocess.Popen([DAGSTER, "schedule", "stop", "-f", DEFINITIONS,
                                   s["name"].replace("-", "_")], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for s in PROJECT["schedules"]]

        # One partition from the CLI, as one account is run by hand.
        started = time.monotonic()
        cli = _run(env, DAGSTER, "job", "execute", "-f", DEFINITIONS, "-j", JOB,
                   "--tags", json.dumps({"dagster/partition": "acme"}))
        cli_seconds = time.monotonic() - started
        assert "RUN_SUCCESS" in cli.stdout + cli.stderr
        assert [p.wait(300) for p in stops] == [0] * len(stops)
        assert set(_run(meltano_env, MELTANO, "state", "list").stdout.split()) == {
            f"dev:tap-nxcloud-to-{LOADER}:acme"}
        assert not doubles["globex"].requests() and not doubles["initech"].requests()

        # All partitions: a backfill, dequeued by the daemon under dagster.yaml's limits. While
        # the three runs are held reading, a `meltano run` of acme's state ID from elsewhere
        # (another system directory, as on another machine) must be refused: the shared system
        # database shows acme's run in progress.
        def second_acme_run() -> subprocess.CompletedProcess:
            return subprocess.run(
                [MELTANO, "run", "--no-install", "--state-id-suffix", "acme", "tap-nxcloud",
                 LOADER], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
                env={**env, "TAP_NXCLOUD_ACCOUNTS_FILE": str(accounts_file),
                     "TAP_NXCLOUD_ONLY_ACCOUNTS": '["acme"]'})
        together = TogetherOrNot(doubles, TOGETHER_SECONDS, second_acme_run)
        with _daemon(env, tmp_path / "daemon.log"), \
                DagsterInstance.from_config(str(home)) as instance:
            started = time.monotonic()
            out = _run(env, DAGSTER, "job", "backfill", "-f", DEFINITIONS, "-j", JOB, "--all",
                       "--noprompt").stdout
            backfill_id = re.search(r"Launched backfill job `(\w+)`", out).group(1)
            runs = _wait_for_runs(instance, backfill_id, len(NAMES), tmp_path / "daemon.log")
            backfill_seconds = time.monotonic() - started
            by_account = {r.tags["dagster/partition"]: r for r in runs}
            logs = {name: _messages(instance, r.run_id) for name, r in by_account.items()}
        failed = {n: "\n".join(logs[n][-40:]) for n, r in by_account.items()
                  if r.status != DagsterRunStatus.SUCCESS}
        assert not failed, failed
        expected = {n: {s: _expected(doubles[n], s) for s in STREAMS} for n in NAMES}

    assert set(by_account) == set(NAMES)
    for name, run in by_account.items():
        assert {k: v for k, v in run.tags.items() if k.startswith("nxcloud/")} == {
            "nxcloud/account": name, "nxcloud/pool": "accounts"}
        # its op ran in a subprocess of the multiprocess executor
        assert any("Executing steps using multiprocess executor" in m for m in logs[name])
        assert any("in subprocess" in m for m in logs[name])
        assert any(f"--state-id-suffix {name} tap-nxcloud {LOADER}" in m for m in logs[name])
    # The three were reading at the same time, and Meltano refused a second run of acme's ID.
    assert not together.apart and set(together.first) == set(NAMES), together.first
    second = together.result
    assert isinstance(second, subprocess.CompletedProcess), second
    assert second.returncode == 1
    assert (f"Another 'dev:tap-nxcloud-to-{LOADER}:acme' pipeline is already running"
            in second.stderr), second.stderr[-3000:]

    # Meltano's runs, in PostgreSQL: the Dagster run IDs, one state ID each, overlapping.
    meltano_runs = {str(run_id): (job, state, begun, ended) for run_id, job, state, begun, ended
                    in _sql(port, "meltano", "SELECT run_id, job_name, state, started_at, "
                                             "ended_at FROM runs")}
    these = [meltano_runs[r.run_id] for r in by_account.values()]
    assert sorted(job for job, *_ in these) == sorted(
        f"dev:tap-nxcloud-to-{LOADER}:{n}" for n in NAMES)  # no two share a state ID
    assert {state for _, state, *_ in these} == {"SUCCESS"}
    assert max(begun for *_, begun, _ in these) < min(ended for *_, ended in these)

    # Each account's state: its own partition of each stream, bookmarked at the end.
    state_ids = {n: f"dev:tap-nxcloud-to-{LOADER}:{n}" for n in NAMES}
    assert set(_run(meltano_env, MELTANO, "state", "list").stdout.split()) == set(
        state_ids.values())
    assert {s for (s,) in _sql(port, "meltano", "SELECT state_id FROM state")} == set(
        state_ids.values())
    states = {}
    for name, state_id in state_ids.items():
        states[name] = json.loads(_run(meltano_env, MELTANO, "state", "get", state_id).stdout)
        bookmarks = states[name]["singer_state"]["bookmarks"]
        assert set(bookmarks) - {"sync_audit"} == set(STREAMS), state_id
        for stream in STREAMS:
            assert set(bookmarks[stream]) == {"partitions"}, (state_id, stream)
            [partition] = bookmarks[stream]["partitions"]
            assert partition["context"] == {"account": name}
            assert partition["replication_key"] == BY_NAME[stream].replication_key
            mark = dt.datetime.fromisoformat(partition["replication_key_value"])
            assert mark == end, (state_id, stream, mark)

    # Each account's rows, exactly: under its name, none twice, none of another account.
    for stream in STREAMS:
        total = _sql(port, "warehouse", f'SELECT account, count(*) FROM nxcloud."{stream}" '
                                        "GROUP BY account")
        assert dict(total) == {n: len(expected[n][stream]) for n in NAMES}, stream
        for name in NAMES:
            assert _rows(port, stream, name) == expected[name][stream], (stream, name)

    overlap = (min(ended for *_, ended in these) - max(begun for *_, begun, _ in these))
    with capsys.disabled():
        print(f"\none partition from the CLI: {cli_seconds:.0f} s; backfill of {len(NAMES)} "
              f"partitions: {backfill_seconds:.0f} s, the three Meltano runs all in flight for "
              f"{overlap.total_seconds():.1f} s")
        for name, state in states.items():
            print(f"{state_ids[name]}: {json.dumps(state['singer_state']['bookmarks'])}")

