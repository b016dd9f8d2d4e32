"""The dbt project in transform/: the API double's streams loaded by Meltano, then `dbt build`.

Meltano runs in a private system directory (as in test_meltano.py) and writes DuckDB files, dbt's
target/ and logs/ under a temporary directory: the repository's output/ and transform/ are not
touched. Counts of daily_usage are checked against counts computed here, in Python, from the raw
tables the loader wrote.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from .conftest import BIN

ROOT = Path(__file__).resolve().parent.parent
TRANSFORM = ROOT / "transform"
MELTANO = str(BIN / "meltano")
ZONE = "Asia/Shanghai"
# The streams of communications' channels: (channel, key fields, start fields: the first that is
# not null), field names as in schemas/*.json
STREAMS = {
    "flash_call_cdrs": ("flash_call", ("id",), ("gmtCreate",)),
    "cc_cdrs": ("contact_center", ("callId",), ("startTime",)),
    "sms_cdrs": ("sms", ("msgid", "phone"), ("date",)),
    "voice_cdrs": ("voice", ("request_voice_type", "id"), ("start_time",)),
    "sip_cdrs": ("sip", ("id",), ("start_time",)),
    "did_cdrs": ("did", ("id",), ("startTime",)),
    "email_cdrs": ("email", ("messageId",), ("sendTime",)),
    "ai_agent_calls": ("ai_agent", ("callId",), ("callStart", "createTs")),
}
# The other streams: (staging model's key column, key fields)
OTHER_STREAMS = {
    "sms_daily_reports": ("report_date", ("date",)),
    "balances": ("fetched_at", ("fetched_at",)),
    "cc_agents": ("user_name", ("userName",)),
    "cc_agent_groups": ("group_no", ("groupNo",)),
    "ai_agent_tasks": ("task_id", ("taskId",)),
}
# Rows of the double by its --<alias>-rows options (sms_daily_reports and balances have none of
# their own: the statements are counted from the SMS rows, the balance is one value). 300 AI calls
# are the calls of the first 3 of the 6 tasks.
ROWS = {"flash": 240, "cc": 240, "sms": 240, "voice": 120, "sip": 60, "did": 160, "email": 150,
        "cc_agent": 12, "cc_group": 4, "ai_task": 6, "ai_call": 300}
# rows of each stream the double holds
LANDED = {"flash_call_cdrs": ROWS["flash"], "cc_cdrs": ROWS["cc"], "sms_cdrs": ROWS["sms"],
          "voice_cdrs": ROWS["voice"], "sip_cdrs": ROWS["sip"], "did_cdrs": ROWS["did"],
          "email_cdrs": ROWS["email"], "ai_agent_calls": ROWS["ai_call"]}
OWN_SETTINGS = ("TAP_NXCLOUD", "TARGET_", "MELTANO_", "DBT_")


def _check_docs():
    spec = importlib.util.spec_from_file_location("check_docs", TRANSFORM / "check_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sysdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("meltano-dbt")


@pytest.fixture(scope="module")
def meltano_env(sysdir) -> dict:
    """A private Meltano system dir with the tap, target-duckdb and dbt-duckdb installed
    (bytecode compiled, as the demo does: dbt starts in ~2 s instead of ~15 s without it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    env.update({"MELTANO_SYS_DIR_ROOT": str(sysdir / ".meltano"),
                "MELTANO_DATABASE_URI": f"sqlite:///{sysdir}/meltano.db",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "UV_COMPILE_BYTECODE": "1",
                "DBT_USE_COLORS": "false",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    meltano(env, "install", "tap-nxcloud", "target-duckdb", "dbt-duckdb")
    return env


@pytest.fixture(scope="module")
def double(sysdir):
    """The API double as the demo starts it: every stream, two days up to today's midnight
    (Asia/Shanghai), every row inside what NXCloud keeps. Its config carries the keys of every
    product and cc_tenant_id."""
    proc = subprocess.Popen(
        [str(BIN / "nxcloud-double"), "--port", "0", "--span-days", "2", "--seed", "7",
         *[arg for name, n in ROWS.items()
           for arg in (f"--{name.replace('_', '-')}-rows", str(n))]],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def meltano(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([MELTANO, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=timeout)
    assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-6000:]}"
    return done


def _tap_env(config: dict, prefix: str = "TAP_NXCLOUD_", only: tuple[str, ...] = ()) -> dict:
    """Settings of a tap config as Meltano variables; `only`: the products to keep keys of."""
    out = {}
    for name, value in config.items():
        product = name.split("_")[0]
        if only and name.endswith(("_key", "_secret")) and product not in only:
            continue
        out[f"{prefix}{name.upper()}"] = str(value)
    return out


def _run_env(meltano_env: dict, double: dict, work: Path, **extra: str) -> dict:
    """A run's variables: the double's tap config, and its own state database, DuckDB file and
    dbt target/ and logs/ under `work`."""
    return {**meltano_env, **_tap_env(double["config"]),
            "MELTANO_DATABASE_URI": f"sqlite:///{work}/meltano.db",
            "TARGET_DUCKDB_PATH": str(work / "nxcloud.duckdb"),
            "DBT_TARGET_PATH": str(work / "dbt-target"), "DBT_LOG_PATH": str(work / "dbt-logs"),
            **extra}


# --- reading DuckDB through the dbt-duckdb plugin's Python (the suite's has no duckdb) ------

QUERY = """
import datetime, decimal, json, sys
import duckdb
con = duckdb.connect()
# attached under another name: in a file nxcloud.duckdb, "nxcloud.x" would be ambiguous
con.execute("attach '" + sys.argv[1].replace("'", "''") + "' as warehouse")
con.execute("use warehouse")
out = []
for sql in json.loads(sys.stdin.read()):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description] if cur.description else []
    out.append([dict(zip(names, row)) for row in cur.fetchall()] if names else [])
def text(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
print(json.dumps(out, default=text))
"""


def duck(sysdir: Path, path: Path, *sql: str) -> list[list[dict]]:
    python = sysdir / ".meltano" / "transformers" / "dbt-duckdb" / "venv" / "bin" / "python"
    done = subprocess.run([str(python), "-c", QUERY, str(path)], input=json.dumps(sql),
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def duck_tables(sysdir: Path, path: Path, schema: str) -> dict[str, list[str]]:
    rows = duck(sysdir, path, "select table_name, column_name from information_schema.columns "
                f"where table_schema = '{schema}' order by table_name, ordinal_position")[0]
    tables: dict[str, list[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], []).append(row["column_name"])
    return tables


# --- what the counts must be, computed from the raw tables ---------------------------------

def _instant(value: str) -> dt.datetime:
    """A raw timestamp (naive, holding UTC) as aware UTC."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def expected_counts(raw: dict[str, list[dict]]) -> Counter:
    """{(account, channel, day_zone, day): rows} from raw rows {stream: [{account, key, start}]},
    one row per key (the latest version of a key is still one row)."""
    counts: Counter = Counter()
    for stream, rows in raw.items():
        channel = STREAMS[stream][0]
        starts = {(r["account"], r["key"]): r["start"] for r in rows}
        assert None not in starts.values(), stream
        for (account, _), start in starts.items():
            instant = _instant(start)
            counts[account, channel, "UTC", instant.date().isoformat()] += 1
            local = instant.astimezone(ZoneInfo(ZONE)).date().isoformat()
            counts[account, channel, ZONE, local] += 1
    return counts


def _raw_column(columns: list[str], *fields: str, snake_case: bool = True) -> str:
    """The quoted raw column of the first of `fields` (schema names): lower-cased by
    target-duckdb 0.8.0; as sent or snake_case by another loader version."""
    present = {c.lower(): c for c in columns}
    for field in fields:
        snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", field).lower()
        for spelling in (field.lower(), snake) if snake_case else (field.lower(),):
            if spelling in present:
                return f'"{present[spelling]}"'
    raise AssertionError(f"none of {fields} in {columns}")


def duck_raw(sysdir: Path, path: Path) -> dict[str, list[dict]]:
    """Account (or 'default'), key and start time of every raw row."""
    tables = duck_tables(sysdir, path, "nxcloud")
    queries, streams = [], []
    for stream, (_, fields, start) in STREAMS.items():
        if stream not in tables:
            continue
        columns = tables[stream]
        # (a table loaded before v0.2.0 has voiceType, whose snake_case is the vendor's
        # voice_type: never snake-cased)
        key = [_raw_column(columns, "request_voice_type", "voiceType", snake_case=False)
               if f == "request_voice_type" else _raw_column(columns, f) for f in fields]
        account = ("coalesce(account, 'default')" if "account" in columns else "'default'")
        parts = " || '|' || ".join(f"cast({k} as varchar)" for k in key)
        starts = ", ".join(f"cast({_raw_column(columns, f)} as varchar)" for f in start)
        queries.append(f"select {account} as account, {parts} as key, coalesce({starts}, null) "
                       f"as start from nxcloud.{stream}")
        streams.append(stream)
    return dict(zip(streams, duck(sysdir, path, *queries), strict=True))


def usage_counts(rows: list[dict]) -> Counter:
    return Counter({(r["account"], r["channel"], r["day_zone"], str(r["day"])):
                    int(r["communication_count"]) for r in rows
                    if int(r["communication_count"])})


# --- checks of a finished dbt run ----------------------------------------------------------

def assert_dbt_passed(target: Path) -> dict:
    """Every model built and every test passed in dbt's last run; returns the manifest."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())
    failed = [(r["unique_id"], r["status"], r.get("message")) for r in results
              if r["status"] not in ("success", "pass")]
    assert not failed, failed
    ran = {r["unique_id"] for r in results}
    models = {k for k, n in manifest["nodes"].items()
              if n["resource_type"] == "model" and n["package_name"] == "nxcloud"}
    tests = {k for k, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    assert models and models <= ran, models - ran
    assert tests and tests <= ran, tests - ran
    # a staging model per stream (sync_audit's too), communications and daily_usage
    assert len(models) == len(STREAMS) + len(OTHER_STREAMS) + 3, sorted(models)
    # every model has tests: unique and not-null keys at least
    tested = {d for k in tests for d in manifest["nodes"][k]["depends_on"]["nodes"]}
    assert models <= tested, models - tested
    assert "test.nxcloud.assert_daily_usage_counts_match_staging" in tests
    return manifest


def assert_fresh(target: Path) -> None:
    """`dbt source freshness` ran last: every raw table (13 streams and sync_audit) passed,
    loaded minutes ago."""
    results = json.loads((target / "sources.json").read_text())["results"]
    assert len(results) == len(STREAMS) + len(OTHER_STREAMS) + 1
    assert {r["status"] for r in results} == {"pass"}, [
        (r["unique_id"], r["status"]) for r in results if r["status"] != "pass"]
    assert max(r["max_loaded_at_time_ago_in_s"] for r in results) < 1800


def assert_columns_documented(manifest: dict, built: dict[str, list[str]]) -> None:
    """The columns of every built model are exactly those its schema.yml documents, and the
    docs agree with the data dictionary (transform/check_docs.py)."""
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["package_name"] != "nxcloud":
            continue
        documented = list(node["columns"])
        assert sorted(built[node["name"]]) == sorted(documented), node["name"]
    check_docs = _check_docs()
    assert check_docs.check_manifest(manifest, check_docs.dictionary()) == []


# --- tests ------------------------------------------------------------------------------------

def test_meltano_yml_wires_the_dbt_project():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    transformers = {p["name"]: p for p in project["plugins"]["transformers"]}
    assert set(transformers) >= {"dbt-duckdb", "dbt-postgres"}
    for name, adapter in (("dbt-duckdb", "dbt-duckdb==1.11.1"),
                          ("dbt-postgres", "dbt-postgres==1.11.0")):
        plugin = transformers[name]
        assert "dbt-core==1.11.16" in plugin["pip_url"].split()
        assert adapter in plugin["pip_url"].split()
        assert plugin["commands"]["build"]["args"] == "build"
        settings = {s["name"]: s for s in plugin["settings"]}
        assert settings["project_dir"]["value"] == "$MELTANO_PROJECT_ROOT/transform"
        profiles = TRANSFORM / settings["profiles_dir"]["value"].split("/transform/")[1]
        assert (profiles / "profiles.yml").is_file()
    # one duckdb for the loader and the models
    loaders = {p["name"]: p for p in project["plugins"]["loaders"]}
    assert "duckdb==1.2.2" in loaders["target-duckdb"]["pip_url"].split()
    assert "duckdb==1.2.2" in transformers["dbt-duckdb"]["pip_url"].split()
    jobs = {j["name"]: j["tasks"] for j in project["jobs"]}
    assert jobs["nxcloud-to-duckdb-transformed"] == [
        "tap-nxcloud target-duckdb dbt-duckdb:build dbt-duckdb:freshness"]


def test_docs_blocks_are_generated_from_the_data_dictionary():
    check_docs = _check_docs()
    assert check_docs.main(["--check"]) == 0
    voice = check_docs.dictionary()["voice_cdrs"]["columns"]
    # the staging model documents request_voice_type, also when read from a table loaded before
    # v0.2.0, whose column is still voiceType
    assert voice["request_voice_type"] == voice["voiceType"]


def test_job_lists_and_dry_runs(meltano_env):
    listed = json.loads(meltano(meltano_env, "job", "list", "--format=json").stdout)
    jobs = {j["job_name"]: j["tasks"] for j in listed["jobs"]}
    assert jobs["nxcloud-to-duckdb-transformed"] == [
        "tap-nxcloud target-duckdb dbt-duckdb:build dbt-duckdb:freshness"]
    done = meltano(meltano_env, "run", "--dry-run", "nxcloud-to-duckdb-transformed")
    assert "Dry run, but would have run block 3/3" in done.stderr


def test_transformed_job_into_duckdb_twice(meltano_env, double, sysdir, tmp_path):
    """The user's path: `meltano run nxcloud-to-duckdb-transformed` (tap, target-duckdb, dbt
    build), twice: the second run reads its lookback again and every model keeps one row a key."""
    env = _run_env(meltano_env, double, tmp_path)
    db, target = tmp_path / "nxcloud.duckdb", tmp_path / "dbt-target"
    counts = {}
    for run in (1, 2):
        done = meltano(env, "run", "nxcloud-to-duckdb-transformed")
        assert "dbt-duckdb" in done.stderr and "Completed successfully" in done.stderr
        manifest = assert_dbt_passed(target)
        assert_fresh(target)
        raw = duck_raw(sysdir, db)
        # everything the double holds landed (upserted: once per key)
        landed = {stream: len({r["key"] for r in rows}) for stream, rows in raw.items()}
        assert landed == LANDED, run
        usage, comms = duck(
            sysdir, db, "select * from analytics.daily_usage",
            "select channel, count(*) as n, count(distinct record_key) as keys "
            "from analytics.communications group by channel")
        assert usage_counts(usage) == expected_counts(raw)
        assert {r["channel"]: (r["n"], r["keys"]) for r in comms} == {
            STREAMS[s][0]: (n, n) for s, n in landed.items()}
        counts[run] = usage_counts(usage)
        built = {**duck_tables(sysdir, db, "analytics"),
                 **duck_tables(sysdir, db, "analytics_staging")}
        assert_columns_documented(manifest, built)
    assert counts[1] == counts[2]
    # both zones, and the platform's days are Asia/Shanghai days of the instants
    assert {k[2] for k in counts[1]} == {"UTC", ZONE}
    assert {k[1] for k in counts[1]} == {channel for channel, _, _ in STREAMS.values()}
    for stream in STREAMS:
        staged = duck(sysdir, db, "select count(*) as n, count(distinct record_key) as keys, "
                      "count(distinct account) as accounts, min(account) as account "
                      f"from analytics_staging.stg_nxcloud__{stream}")[0][0]
        assert staged["n"] == staged["keys"] == landed[stream], stream
        assert (staged["accounts"], staged["account"]) == (1, "default"), stream
    # the other streams: one row per key (a balance per run), as many as the raw table's keys
    for stream, (column, fields) in OTHER_STREAMS.items():
        columns = duck_tables(sysdir, db, "nxcloud")[stream]
        key = ", ".join(_raw_column(columns, f) for f in fields)
        (raw_keys,), (staged,) = duck(
            sysdir, db, f"select count(distinct ({key})) as n from nxcloud.{stream}",
            "select count(*) as n, count(distinct record_key) as keys, "
            f"count(distinct {column}) as distinct_values, min(account) as account "
            f"from analytics_staging.stg_nxcloud__{stream}")
        n = raw_keys["n"]
        assert staged == {"n": n, "keys": n, "distinct_values": n, "account": "default"}, stream
        expected = {"balances": 2, "cc_agents": ROWS["cc_agent"],
                    "cc_agent_groups": ROWS["cc_group"], "ai_agent_tasks": ROWS["ai_task"]}
        assert staged["n"] == expected.get(stream, staged["n"]) > 0, stream
    # the SMS app's statements beside our SMS days: the double counts them from its SMS rows
    sms_days = [r for r in usage if r["channel"] == "sms" and r["day_zone"] == ZONE]
    assert sms_days and all(r["vendor_submitted_count"] is not None for r in sms_days)
    assert [(r["day"], r["vendor_submitted_count"], r["vendor_succeeded_count"])
            for r in sms_days if r["communication_count"]] == [
        (r["day"], r["communication_count"], r["succeeded_count"])
        for r in sms_days if r["communication_count"]]
    assert all(r["vendor_submitted_count"] is None for r in usage
               if (r["channel"], r["day_zone"]) != ("sms", ZONE))
    # a few values, converted as the data dictionary says
    flash = duck(sysdir, db, "select r.gmtcreate, s.created_at, s.started_at, r.price, s.cost "
                 "from nxcloud.flash_call_cdrs r join "
                 "analytics_staging.stg_nxcloud__flash_call_cdrs s on s.flash_call_id = r.id "
                 "order by r.id limit 1")[0][0]
    assert flash["gmtcreate"] == flash["created_at"] == flash["started_at"]
    assert float(flash["price"]) == float(flash["cost"])
    did = duck(sysdir, db, "select distinct currency from analytics_staging.stg_nxcloud__did_cdrs"
               )[0]
    assert did == [{"currency": "CNY"}]
    email, ai, ai_status = duck(
        sysdir, db,
        "select count(*) filter (where s.sent_at = r.sendtime and s.started_at = r.sendtime "
        "and s.cost = cast(r.sellprice as decimal(18, 6)) and s.to_number = r.receiver "
        "and s.vendor_status is not distinct from r.msgresult) as same, count(*) as n "
        "from nxcloud.email_cdrs r join analytics_staging.stg_nxcloud__email_cdrs s "
        "on s.message_id = r.messageid",
        "select count(*) filter (where s.started_at = r.callstart and s.created_at = r.createts "
        "and s.duration_seconds = r.callelapsed and s.task_id = r.taskid "
        "and s.to_number = r.calleephone and s.call_answered_at is not distinct from "
        "r.callanswer) as same, count(*) as n from nxcloud.ai_agent_calls r "
        "join analytics_staging.stg_nxcloud__ai_agent_calls s on s.call_id = r.callid",
        "select c.status, c.succeeded, count(*) as n, "
        "count(*) filter (where s.call_answered_at is null) as unanswered "
        "from analytics.communications c join analytics_staging.stg_nxcloud__ai_agent_calls s "
        "using (record_key) where c.channel = 'ai_agent' group by all order by c.status")
    assert email == [{"same": ROWS["email"], "n": ROWS["email"]}]
    assert ai == [{"same": ROWS["ai_call"], "n": ROWS["ai_call"]}]
    answered, not_answered = ai_status
    assert (answered["status"], answered["succeeded"], answered["unanswered"]) == (
        "answered", True, 0)
    assert (not_answered["status"], not_answered["succeeded"]) == ("not_answered", False)
    assert not_answered["unanswered"] == not_answered["n"] > 0
    printed = subprocess.run(
        [str(sysdir / ".meltano/transformers/dbt-duckdb/venv/bin/python"),
         str(TRANSFORM / "show_daily_usage.py"), str(db), "--day",
         max(k[3] for k in counts[1] if k[2] == ZONE)], capture_output=True, text=True,
        check=True)
    assert "sms" in printed.stdout and "contact_center" in printed.stdout, printed.stdout


def test_two_accounts_late_rows_and_renamed_voice_key(meltano_env, double, sysdir, tmp_path):
    """Two accounts in the same tables (same ids: the same double), streams an account does not
    have, rows appended twice (a file loader), the voice key under its coming name
    request_voice_type, and the SMS app's daily statements disagreeing with the records on two
    days: staging keeps the latest version of each key per account, daily_usage still matches the
    raw tables and shows where the statements differ."""
    only = ("flash", "cc", "sms", "voice", "did")  # no SIP: its table never exists
    base = _run_env(meltano_env, double, tmp_path)
    env = {**{k: v for k, v in base.items() if not k.startswith("TAP_NXCLOUD_")},
           **_tap_env(double["config"], only=only), "TAP_NXCLOUD_ACCOUNT": "main",
           # acme: only SMS, DID, email and the AI agent, through the child's own variables
           **_tap_env({k: v for k, v in double["config"].items()
                       if k.startswith(("sms_", "did_", "email_", "ai_agent_"))},
                      prefix="TAP_NXCLOUD__ACME_")}
    db, target = tmp_path / "nxcloud.duckdb", tmp_path / "dbt-target"
    first_day = dt.datetime.fromisoformat(double["windows"]["sms_cdrs"][0])
    first_midnight = first_day.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    meltano(env, "run", "tap-nxcloud", "target-duckdb", "tap-nxcloud--acme", "target-duckdb")
    tables = duck_tables(sysdir, db, "nxcloud")
    assert "sip_cdrs" not in tables and "account" in tables["sms_cdrs"]
    statements = duck(sysdir, db, "select account, count(*) as n from nxcloud.sms_daily_reports "
                      "group by account order by account")[0]
    assert [r["account"] for r in statements] == ["acme", "main"]
    # A file loader appends: a second, later version of some rows (delivery report or result
    # arrived, status changed); the voice table is one loaded before v0.2.0 (voiceType,
    # lower-cased). The statements: one more of a day without messages (`date` as the tap lands
    # it: the platform's midnight as a UTC instant), and one that counts 7 messages too many.
    # (target-duckdb's tables have primary keys: rebuilt without, as an appending loader's)
    duck(sysdir, db,
         *_rebuilt("sms_cdrs", "select * replace ('DELIVRD' as dr, 'later' as body, "
                   "date + interval 5 minute as dr_time) from nxcloud.sms_cdrs "
                   "where account = 'acme' and dr is null"),
         *_rebuilt("flash_call_cdrs", "select * replace (99 as callstatus, gmtcreate + "
                   "interval 1 hour as gmtmodified) from nxcloud.flash_call_cdrs "
                   "where id % 10 = 0"),
         *_rebuilt("email_cdrs", "select * replace ('DELIVRD' as msgresult) "
                   "from nxcloud.email_cdrs where msgresult is null"),
         *_rebuilt("ai_agent_calls", "select * replace (9 as callresult, opts + interval 1 hour "
                   "as opts) from nxcloud.ai_agent_calls where id % 10 = 0"),
         *_rebuilt("voice_cdrs"),
         "alter table nxcloud.voice_cdrs rename column request_voice_type to voicetype",
         "insert into nxcloud.sms_daily_reports (account, date, total_fee, submit_size, "
         "success_size, price_size) values ('main', timestamp '2000-01-01 16:00:00', 1.5, 10, 9, "
         "11)",
         "update nxcloud.sms_daily_reports set submit_size = submit_size + 7 "
         f"where account = 'acme' and date = timestamp '{first_midnight}'")
    late, unsent = duck(sysdir, db,
                        "select count(*) as n from nxcloud.sms_cdrs where body = 'later'",
                        "select count(*) as n from nxcloud.email_cdrs where msgresult is null")
    assert late[0]["n"] > 0 and unsent[0]["n"] > 0
    meltano(env, "run", "dbt-duckdb:build")
    manifest = assert_dbt_passed(target)
    raw = duck_raw(sysdir, db)
    usage, sms, flash, sip, voice, email, ai, differ = duck(
        sysdir, db, "select * from analytics.daily_usage",
        "select account, count(*) as n, count(distinct record_key) as keys, "
        "count(*) filter (where body = 'later') as later, "
        "count(*) filter (where status = 'pending') as pending "
        "from analytics_staging.stg_nxcloud__sms_cdrs group by account order by account",
        "select count(*) as n, count(*) filter (where call_status = 99) as changed, "
        "count(*) filter (where flash_call_id % 10 = 0) as tenth "
        "from analytics_staging.stg_nxcloud__flash_call_cdrs",
        "select count(*) as n from analytics_staging.stg_nxcloud__sip_cdrs",
        "select request_voice_type, count(*) as n from analytics_staging.stg_nxcloud__voice_cdrs"
        " group by 1 order by 1",
        "select account, count(*) as n, count(*) filter (where status = 'pending') as pending "
        "from analytics_staging.stg_nxcloud__email_cdrs group by account",
        "select account, count(*) as n, count(*) filter (where vendor_status = '9') as changed, "
        "count(*) filter (where call_record_id % 10 = 0) as tenth "
        "from analytics_staging.stg_nxcloud__ai_agent_calls group by account",
        # docs/warehouse.md's example: SMS days where our count differs from the vendor's
        # statement
        "select account, day, communication_count, vendor_submitted_count "
        f"from analytics.daily_usage where channel = 'sms' and day_zone = '{ZONE}' "
        "and vendor_submitted_count is distinct from communication_count order by account, day")
    (flash,), (sip,) = flash, sip
    assert usage_counts(usage) == expected_counts(raw)
    assert {(k[0], k[1]) for k in usage_counts(usage)} == {
        ("main", "flash_call"), ("main", "contact_center"), ("main", "sms"), ("main", "voice"),
        ("main", "did"), ("acme", "sms"), ("acme", "did"), ("acme", "email"),
        ("acme", "ai_agent")}
    # one row per key and account; the later version won
    assert [(r["account"], r["n"] == r["keys"] == ROWS["sms"]) for r in sms] == [
        ("acme", True), ("main", True)]
    acme, main = sms
    assert acme["later"] == late[0]["n"] and acme["pending"] == 0 and main["pending"] > 0
    assert flash["n"] == ROWS["flash"] and flash["changed"] == flash["tenth"] > 0
    assert sip["n"] == 0
    assert [(r["request_voice_type"], r["n"]) for r in voice] == [(0, ROWS["voice"] // 2),
                                                                  (1, ROWS["voice"] // 2)]
    assert email == [{"account": "acme", "n": ROWS["email"], "pending": 0}]
    (ai,) = ai
    assert (ai["account"], ai["n"]) == ("acme", ROWS["ai_call"])
    assert ai["changed"] == ai["tenth"] > 0
    # the statements sit beside the platform-zone SMS days (and a day with no messages); they
    # agree with the records except on the two days changed above
    first = first_day.date().isoformat()
    assert [(r["account"], r["day"]) for r in differ] == [("acme", first), ("main", "2000-01-02")]
    assert differ[0]["vendor_submitted_count"] == differ[0]["communication_count"] + 7 > 7
    assert (differ[1]["communication_count"], differ[1]["vendor_submitted_count"]) == (0, 10)
    vendor = [r for r in usage if r["vendor_submitted_count"] is not None]
    assert {(r["channel"], r["day_zone"]) for r in vendor} == {("sms", ZONE)}
    assert {r["account"] for r in vendor} == {"main", "acme"}
    built = {**duck_tables(sysdir, db, "analytics"),
             **duck_tables(sysdir, db, "analytics_staging")}
    assert_columns_documented(manifest, built)


def _rebuilt(table: str, appended: str = "") -> list[str]:
    """SQL that rebuilds raw `table` without its primary key, `appended` rows added."""
    union = f" union all {appended}" if appended else ""
    return [f"create table nxcloud.rebuilt as select * from nxcloud.{table}{union}",
            f"drop table nxcloud.{table}", f"alter table nxcloud.rebuilt rename to {table}"]


@pytest.mark.integration
def test_transformed_into_postgres(meltano_env, double, postgres, tmp_path):
    """target-postgres (camelCase columns, `_sdc_` metadata, jsonb) and dbt-postgres on a server
    whose zone is not UTC: every model and test passes and daily_usage matches the raw tables."""
    port, psql = postgres
    meltano(meltano_env, "install", "target-postgres", "dbt-postgres")
    env = {**_run_env(meltano_env, double, tmp_path),
           "TARGET_POSTGRES_PORT": str(port), "TARGET_POSTGRES_USER": "postgres",
           "TARGET_POSTGRES_PASSWORD": "unused", "TARGET_POSTGRES_DATABASE": "postgres",
           "TAP_NXCLOUD_ACCOUNT": "pg"}
    meltano(env, "run", "tap-nxcloud", "target-postgres", "dbt-postgres:build",
            "dbt-postgres:freshness")
    manifest = assert_dbt_passed(tmp_path / "dbt-target")
    # each table's load time: target-postgres's _sdc_batched_at and sync_audit's latest run
    assert_fresh(tmp_path / "dbt-target")
    raw = {}
    for stream, (_, key, start) in STREAMS.items():
        parts = " || '#' || ".join(f'"{k}"::text' for k in key)  # psql splits on |
        starts = ", ".join(f'"{f}"::text' for f in start)
        rows = psql(f"SELECT account, {parts}, coalesce({starts}, NULL) FROM nxcloud.{stream}")
        raw[stream] = [{"account": a, "key": k, "start": s} for a, k, s in rows]
    assert {stream: len(rows) for stream, rows in raw.items()} == LANDED
    usage = [dict(zip(("account", "channel", "day_zone", "day", "communication_count"), row,
                      strict=True))
             for row in psql("SELECT account, channel, day_zone, day, communication_count "
                             "FROM analytics.daily_usage")]
    assert usage_counts(usage) == expected_counts(raw)
    built: dict[str, list[str]] = {}
    for table, column in psql("SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE table_schema IN ('analytics', 'analytics_staging')"):
        built.setdefault(table, []).append(column)
    assert_columns_documented(manifest, built)
    types = {(t, c): d for t, c, d in psql(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
        "table_schema = 'analytics_staging'")}
    did, ai = "stg_nxcloud__did_cdrs", "stg_nxcloud__ai_agent_calls"
    agents = "stg_nxcloud__cc_agents"
    assert types[did, "started_at"] == "timestamp without time zone"
    assert types[did, "call_price"] == "numeric" and types[did, "extra_fields"] == "jsonb"
    assert types[ai, "call_answered_at"] == "timestamp without time zone"
    assert types[ai, "attributes"] == types[agents, "queue_names"] == "jsonb"
    assert types["stg_nxcloud__email_cdrs", "sell_price"] == "numeric"
    assert types["stg_nxcloud__sms_daily_reports", "report_date"] == "date"
    # the statements in the warehouse's SMS days (PostgreSQL's own zone is not the platform's)
    sms_days = psql("SELECT communication_count, vendor_submitted_count FROM "
                    f"analytics.daily_usage WHERE channel = 'sms' AND day_zone = '{ZONE}' "
                    "AND communication_count > 0")
    assert sms_days and all(ours == theirs for ours, theirs in sms_days), sms_days
