"""Orchestration: meltano.yml's jobs and schedules, many accounts, backfills, target-csv, Dagster.

Meltano runs in a private system directory (as in test_meltano.py) against API doubles on
127.0.0.1; only tap-nxcloud, target-jsonl and target-csv are installed.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from nxcloud_double import ApiDouble, Credentials
from tap_nxcloud.settings import SCHEMA

from .conftest import BIN, START_MS, START_WALL, cc_rows, config_for, flash_rows, run_tap

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(BIN / "meltano")
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())
JOB_NAMES = [j["name"] for j in PROJECT["jobs"]]
CHILD = "tap-nxcloud--acme"
STREAMS = ("flash_call_cdrs", "cc_cdrs")
KEYS = {"flash_call_cdrs": "id", "cc_cdrs": "callId"}
# The second account of the two-account run has credentials of its own.
ACME_CREDENTIALS = Credentials(flash_call_app_key="acme-flash-key",
                               flash_call_app_secret="acme-flash-secret",
                               cc_access_key="acme-cc-key", cc_access_secret="acme-cc-secret")


def _extractors() -> dict:
    return {p["name"]: p for p in PROJECT["plugins"]["extractors"]}


OWN_SETTINGS = ("TAP_NXCLOUD", "TARGET_", "MELTANO_", "DAGSTER_")


def _clean_environ() -> dict:
    """The test's environment without a developer's own tap, target or Meltano settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}


def _meltano_env(sysdir: Path) -> dict:
    return {**_clean_environ(), "MELTANO_SYS_DIR_ROOT": str(sysdir / ".meltano"),
            "MELTANO_DATABASE_URI": f"sqlite:///{sysdir}/meltano.db",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def meltano(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([MELTANO, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=timeout)
    assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def meltano_env(tmp_path_factory) -> dict:
    """One `meltano install` of only the plugins these tests run, in a private system dir."""
    env = _meltano_env(tmp_path_factory.mktemp("meltano-sys"))
    meltano(env, "install", "tap-nxcloud", "target-jsonl", "target-csv")
    return env


def _account_config(double: ApiDouble, **extra) -> dict:
    """The tap config for one double. Without the fractional backoff settings: Meltano 4.4.1
    turns a `kind: decimal` value read from a variable into a Decimal it then cannot serialize."""
    config = config_for(double, **extra)
    for name in ("backoff_base_seconds", "backoff_max_seconds"):
        config.pop(name)
    return config


def _tap_env(prefix: str, config: dict) -> dict:
    return {f"{prefix}{name.upper()}": str(value) for name, value in config.items()}


def _fill_main(double: ApiDouble, rows: int) -> ApiDouble:
    double.flash.add(flash_rows(rows, seed=61, start=START_WALL, span_seconds=3 * 86400))
    double.cc.add(cc_rows(rows, seed=61, start_ms=START_MS, span_ms=3 * 86400_000, prefix="a"))
    return double


def _fill_acme(double: ApiDouble, rows: int) -> ApiDouble:
    """The second account: other ids and call ids than the first."""
    double.flash.add(flash_rows(rows, seed=71, start=START_WALL, span_seconds=3 * 86400,
                                first_id=500_000))
    double.cc.add(cc_rows(rows, seed=71, start_ms=START_MS, span_ms=3 * 86400_000, prefix="b"))
    return double


def _instant(value) -> dt.datetime:
    """A bookmark or record time as aware UTC: RFC 3339, or epoch milliseconds."""
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _state(env: dict, state_id: str) -> dict:
    return json.loads(meltano(env, "state", "get", state_id).stdout)


def _state_ids(env: dict) -> set[str]:
    return set(meltano(env, "state", "list").stdout.split())


# --- meltano.yml ---------------------------------------------------------------------------

def test_meltano_yml_is_ready_for_orchestration():
    assert "version" not in PROJECT and PROJECT["requires_meltano"]
    jobs = {j["name"]: j["tasks"] for j in PROJECT["jobs"]}
    for schedule in PROJECT["schedules"]:
        # only job-type schedules become Dagster schedules; `@once` breaks the code location
        assert schedule["job"] in jobs, schedule
        assert len(schedule["interval"].split()) == 5, schedule
    tap = _extractors()["tap-nxcloud"]
    names = [s["name"] for s in tap["settings"]]
    assert len(names) == len(set(names)), "a setting is defined twice"
    loaders = {p["name"]: p for p in PROJECT["plugins"]["loaders"]}
    assert {"target-duckdb", "target-postgres", "target-jsonl", "target-csv"} <= set(loaders)
    assert loaders["target-csv"]["pip_url"] == "meltanolabs-target-csv==0.5.0"
    # The example account: inherits everything but its credentials, which it blanks so that a
    # product it lacks can never fall back to tap-nxcloud's TAP_NXCLOUD_* credentials.
    child = _extractors()[CHILD]
    assert child["inherit_from"] == "tap-nxcloud"
    credentials = {n for n, spec in SCHEMA["properties"].items()
                   if re.search(r"_(key|secret)$", n)}
    assert credentials, SCHEMA["properties"]
    assert {n: v for n, v in child["config"].items() if n in credentials} == dict.fromkeys(
        credentials, "")
    assert child["config"]["account"] == "acme"


def _documented_table() -> tuple[dict, dict]:
    """The table of jobs in docs/operations.md: {job: tasks} and {schedule: (job, cron)}."""
    text = (ROOT / "docs" / "operations.md").read_text()
    header = "| Job | Tasks | Schedule | Cron (UTC) |"
    assert header in text, "docs/operations.md has no jobs table (Jobs and schedules)"
    jobs, schedules = {}, {}
    for line in text.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        job, tasks, schedule, cron = (c.strip().strip("`") for c in line.strip("|").split("|"))
        jobs[job] = [t.strip() for t in tasks.split("`, `")]
        if schedule:
            schedules[schedule] = (job, cron)
    return jobs, schedules


def test_job_and_schedule_lists_are_what_the_docs_say(meltano_env):
    listed = json.loads(meltano(meltano_env, "job", "list", "--format=json").stdout)
    jobs = {j["job_name"]: j["tasks"] for j in listed["jobs"]}
    listed = json.loads(meltano(meltano_env, "schedule", "list", "--format=json").stdout)
    assert listed["schedules"]["elt"] == []
    schedules = {s["name"]: (s["job"]["name"], s["cron_interval"])
                 for s in listed["schedules"]["job"]}
    assert (jobs, schedules) == _documented_table()
    assert CHILD in " ".join(t for tasks in jobs.values() for t in tasks)


@pytest.mark.parametrize("job", JOB_NAMES)
def test_dry_run_of_each_job(meltano_env, job):
    # --no-install: validates the job's blocks without installing target-postgres or -duckdb
    done = meltano(meltano_env, "run", "--dry-run", "--no-install", job)
    assert "Dry run, but would have run block 1/" in done.stderr


def test_each_account_reads_only_its_own_credentials(meltano_env):
    parent = {"TAP_NXCLOUD_START_DATE": "2026-10-01", "TAP_NXCLOUD_CC_ACCESS_KEY": "main-key",
              "TAP_NXCLOUD_CC_ACCESS_SECRET": "main-secret", "TAP_NXCLOUD_ACCOUNT": "main"}
    env = {**meltano_env, **parent, "TAP_NXCLOUD__ACME_FLASH_CALL_APP_KEY": "acme-key",
           "TAP_NXCLOUD__ACME_FLASH_CALL_APP_SECRET": "acme-secret"}
    config = json.loads(meltano(env, "config", "--unsafe", "print", CHILD).stdout)
    assert config["start_date"] == "2026-10-01"  # shared settings are inherited
    assert (config["flash_call_app_key"], config["flash_call_app_secret"]) == (
        "acme-key", "acme-secret")
    assert (config["cc_access_key"], config["cc_access_secret"]) == ("", "")  # not main's
    assert config["account"] == "acme"
    listing = meltano(env, "config", "list", CHILD).stdout
    assert "[env: TAP_NXCLOUD__ACME_CC_ACCESS_KEY]" in listing


# --- many accounts, state, backfill --------------------------------------------------------

def _keys(double: ApiDouble, stream: str, lo: str = "2026-10-01T00:00:00+08:00",
          hi: str = "2026-10-04T00:00:00+08:00") -> list:
    """The keys of a double's rows whose replication time is in [lo, hi), sorted."""
    if stream == "cc_cdrs":
        rows = [(r["callId"], _instant(r["startTime"])) for r in double.cc.rows()]
    else:
        rows = [(r["id"], _instant(r["gmtCreate"].replace(" ", "T") + "+08:00"))
                for r in double.flash.rows()]
    return sorted(key for key, at in rows if _instant(lo) <= at < _instant(hi))


def test_two_accounts_keep_separate_state_and_a_backfill_leaves_it_alone(meltano_env, tmp_path,
                                                                         capsys):
    main_end, acme_end = "2026-10-03T00:00:00+08:00", "2026-10-04T00:00:00+08:00"
    with ApiDouble() as main, ApiDouble(credentials=ACME_CREDENTIALS) as acme:
        _fill_main(main, 300)
        _fill_acme(acme, 300)
        # Each account from its own variables, pointed at its own double; different ends show
        # that each state is its own. State goes to a file backend, as short-lived workers need.
        env = {**meltano_env,
               "MELTANO_STATE_BACKEND_URI": f"file://{tmp_path}/state",
               "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "out"),
               **_tap_env("TAP_NXCLOUD_", _account_config(main, end_date=main_end)),
               **_tap_env("TAP_NXCLOUD__ACME_", _account_config(acme, end_date=acme_end))}
        meltano(env, "run", "tap-nxcloud", "target-jsonl", CHILD, "target-jsonl")

        main_id, acme_id = "dev:tap-nxcloud-to-target-jsonl", f"dev:{CHILD}-to-target-jsonl"
        assert _state_ids(env) == {main_id, acme_id}
        assert len(list((tmp_path / "state").rglob("state.json"))) == 2
        states = {main_id: _state(env, main_id), acme_id: _state(env, acme_id)}
        for state_id, end in ((main_id, main_end), (acme_id, acme_end)):
            bookmarks = states[state_id]["singer_state"]["bookmarks"]
            assert set(bookmarks) - {"sync_audit"} == set(STREAMS), state_id
            for stream in STREAMS:
                entry = bookmarks[stream]  # the named account's bookmark is its partition
                if state_id == acme_id:
                    entry = next(p for p in entry["partitions"]
                                 if p["context"] == {"account": "acme"})
                assert _instant(entry["replication_key_value"]) == _instant(end)

        for stream in STREAMS:
            landed = {r[KEYS[stream]]: r for r in _jsonl(tmp_path / "out" / f"{stream}.jsonl")}
            want_main, want_acme = _keys(main, stream, hi=main_end), _keys(acme, stream)
            assert sorted(landed) == sorted(want_main + want_acme), stream
            assert sum(1 for _ in (tmp_path / "out" / f"{stream}.jsonl").open()) == len(landed)
            if "account" in SCHEMA["properties"]:  # the child's rows are labelled
                assert {landed[k].get("account") for k in want_acme} == {"acme"}
                assert {landed[k].get("account") for k in want_main} == {None}

        # docs/operations.md recipe: re-read 2 October for acme under its own state ID, then
        # drop that ID.
        backfill_id = f"{acme_id}:backfill-20261002"
        replay = {**env, "TARGET_JSONL_DESTINATION_PATH": str(tmp_path / "replay"),
                  "TAP_NXCLOUD__ACME_START_DATE": "2026-10-02",
                  "TAP_NXCLOUD__ACME_END_DATE": "2026-10-03"}
        meltano(replay, "run", "--state-id-suffix", "backfill-20261002", CHILD, "target-jsonl")
        assert _state(env, acme_id) == states[acme_id]  # the incremental bookmark did not move
        assert _state_ids(env) == {main_id, acme_id, backfill_id}
        for stream in STREAMS:
            got = [r[KEYS[stream]] for r in _jsonl(tmp_path / "replay" / f"{stream}.jsonl")]
            assert sorted(got) == _keys(acme, stream, lo="2026-10-02T00:00:00+08:00",
                                        hi="2026-10-03T00:00:00+08:00"), stream
        meltano(env, "state", "clear", "--force", backfill_id)
        assert _state_ids(env) == {main_id, acme_id}
    with capsys.disabled():
        for state_id, state in states.items():
            print(f"\n{state_id}: {json.dumps(state['singer_state']['bookmarks'])}")


# --- target-csv ----------------------------------------------------------------------------

def assert_csv_holds(out: Path, tap_run) -> None:
    """One CSV file per stream holding exactly the tap's records, every field: date-times
    compared as instants (the target writes them as `2026-10-01 08:00:00+08:00`), objects as
    JSON (not a Python repr: meltano.yml turns on the target's flattening for that)."""
    for stream in STREAMS:
        files = sorted(out.glob(f"{stream}-*.csv"))
        assert len(files) == 1, files
        with files[0].open(newline="") as f:
            got = {r[KEYS[stream]]: r for r in csv.DictReader(f)}
        want = {str(r[KEYS[stream]]): r for r in tap_run.records(stream)}
        assert len(want) > 100 and set(got) == set(want), stream
        for key, record in want.items():
            row = got[key]
            for field, value in record.items():
                if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT", value):
                    assert _instant(row[field].replace(" ", "T")) == _instant(value), field
                elif isinstance(value, dict | list):
                    assert json.loads(row[field]) == value, (stream, key, field)
                else:
                    assert row[field] == ("" if value is None else str(value)), (stream, key)


def test_meltano_run_into_csv_from_a_fresh_project(tmp_path):
    # Nothing installed yet: `meltano run` installs tap-nxcloud and target-csv itself.
    env = _meltano_env(tmp_path / "sys")
    with ApiDouble() as double:
        _fill_main(double, 400)
        # Fields the vendor adds later reach the CSV too (in extra_fields, as JSON).
        late = flash_rows(2, seed=62, start="2026-10-02 12:00:00", span_seconds=60,
                          first_id=900_000)
        late[0]["vendorNew"], late[1]["vendorNote"] = {"a": [1, 2]}, "x,\"y\""
        double.flash.add(late)
        config = _account_config(double)
        env.update(_tap_env("TAP_NXCLOUD_", config),
                   TARGET_CSV_OUTPUT_PATH=str(tmp_path / "csv"))
        meltano(env, "run", "tap-nxcloud", "target-csv")
        tap_run = run_tap(config, tmp_path)
        extras = [r.get("extra_fields") for r in tap_run.records("flash_call_cdrs")]
        assert {"vendorNew": {"a": [1, 2]}} in extras
        assert_csv_holds(tmp_path / "csv", tap_run)


# --- Dagster -------------------------------------------------------------------------------

def _dagster_home(tmp_path: Path) -> Path:
    """A Dagster home with the shipped instance settings (telemetry off for the tests)."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    shipped = (ROOT / "orchestrate" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(f"{shipped}\ntelemetry:\n  enabled: false\n")
    return home


def test_dagster_definitions_validate(meltano_env, tmp_path):
    env = {**meltano_env, "DAGSTER_HOME": str(_dagster_home(tmp_path))}
    done = subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-f",
                           str(ROOT / "orchestrate" / "definitions.py")], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_dagster_runs_a_meltano_job_in_process(meltano_env, tmp_path, monkeypatch, capsys):
    from dagster import DagsterInstance

    with ApiDouble() as double:
        _fill_main(double, 400)
        config = _account_config(double)
        # In-process: the ops see this process's environment, so set it (and only it) here.
        for name in [k for k in os.environ if k.startswith(OWN_SETTINGS)]:
            monkeypatch.delenv(name)
        for name, value in {**meltano_env, **_tap_env("TAP_NXCLOUD_", config),
                            "TARGET_CSV_OUTPUT_PATH": str(tmp_path / "csv"),
                            "MELTANO_PROJECT_ROOT": str(ROOT),
                            "DAGSTER_HOME": str(_dagster_home(tmp_path))}.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location(
            "nxcloud_dagster_definitions", ROOT / "orchestrate" / "definitions.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        defs = module.defs

        # Every Meltano job and schedule is there, under Dagster's names.
        for name in JOB_NAMES:
            assert defs.get_job_def(name.replace("-", "_")).name == name.replace("-", "_")
        assert {s.name: (s.job_name, s.cron_schedule) for s in defs.schedules} == {
            s["name"].replace("-", "_"): (s["job"].replace("-", "_"), s["interval"])
            for s in PROJECT["schedules"]}

        with DagsterInstance.get() as instance:
            result = defs.get_job_def("nxcloud_to_csv").execute_in_process(instance=instance)
        assert result.success
        logs = result.output_for_node("tap_nxcloud_target_csv", "logs")
        assert "Block run completed" in logs
        assert_csv_holds(tmp_path / "csv", run_tap(config, tmp_path))
        assert "dev:tap-nxcloud-to-target-csv" in subprocess.run(
            [MELTANO, "state", "list"], cwd=ROOT, env=meltano_env, capture_output=True,
            text=True, check=True).stdout
    with capsys.disabled():
        print(f"\nDagster run {result.run_id}: success={result.success}; "
              f"op tap_nxcloud_target_csv logged {len(logs.splitlines())} lines")
