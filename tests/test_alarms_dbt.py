"""The alarms in the dbt project (issue 28; docs/operations.md "Alarms"): `dbt source freshness` on
every raw table, and the warn-severity data tests on sync_audit (unreconciled windows, retention
margins under the threshold, accounts that did not sync in a day, ranges lost to retention).

The real path first: `meltano run nxcloud-to-duckdb-transformed` against the API double (tap,
target-duckdb, dbt build, dbt source freshness): every table fresh, every alarm quiet. Then rows
of other accounts are added to the raw sync_audit table as a troubled week would leave them, and
dbt must warn on exactly those, exit 0, and agree with the queries of the docs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import yaml

from tap_nxcloud.streams import STREAMS as SPECS

from . import test_dbt as dbt_suite
from .test_dbt import _run_env, duck, meltano

# test_dbt's fixtures: a private Meltano with the tap, target-duckdb and dbt-duckdb (installed once
# for this module), and the API double as the demo starts it
sysdir, meltano_env, double = dbt_suite.sysdir, dbt_suite.meltano_env, dbt_suite.double

ROOT = Path(__file__).resolve().parent.parent
TRANSFORM = ROOT / "transform"
ALARMS = {  # the data tests on sync_audit, all at warn severity
    "sync_audit_unreconciled_windows", "sync_audit_retention_margins",
    "sync_audit_accounts_not_synced", "sync_audit_records_lost"}
DOCS = {"operations": ROOT / "docs" / "operations.md",
        "reconciliation": ROOT / "docs" / "reconciliation.md"}


def _sources() -> dict:
    return yaml.safe_load((TRANSFORM / "models" / "staging" / "sources.yml").read_text())


def _vars() -> dict:
    return yaml.safe_load((TRANSFORM / "dbt_project.yml").read_text())["vars"]


def doc_queries() -> dict[str, str]:
    """The SQL blocks of the docs marked `<!-- alarm-query: NAME -->`, by NAME."""
    out = {}
    for path in DOCS.values():
        for name, sql in re.findall(r"<!-- alarm-query: (\w+) -->\n```sql\n(.*?)```",
                                    path.read_text(), flags=re.S):
            assert name not in out, name
            out[name] = sql.strip().rstrip(";")
    return out


# --- the project's files ----------------------------------------------------------------------

def test_every_raw_table_has_a_warn_only_freshness():
    [source] = _sources()["sources"]
    tables = [t["name"] for t in source["tables"]]
    assert tables == [*(s.name for s in SPECS), "sync_audit"]  # every stream, and the audit
    config = source["config"]
    assert config["loaded_at_query"] == "{{ nxcloud_loaded_at() }}"
    freshness = config["freshness"]
    assert set(freshness) == {"warn_after"}, freshness  # never error: the job goes on
    assert freshness["warn_after"]["period"] == "hour"
    assert "or 6" in freshness["warn_after"]["count"]
    for table in source["tables"]:  # no table overrides it
        assert not {"freshness", "loaded_at_field", "config"} & set(table), table


def test_the_alarms_warn_and_their_thresholds_are_documented():
    for name in ALARMS:
        sql = (TRANSFORM / "tests" / f"{name}.sql").read_text()
        assert "{{ config(severity='warn') }}" in sql, name
        assert "ref('stg_nxcloud__sync_audit')" in sql, name
    defaults = _vars()
    assert "or 48" in defaults["retention_warn_hours"]
    assert "TAP_NXCLOUD_RETENTION_WARN_HOURS" in defaults["retention_warn_hours"]
    assert (defaults["sync_stale_hours"], defaults["reconcile_horizon_days"],
            defaults["loss_alarm_days"]) == (24, 31, 7)
    text = DOCS["operations"].read_text()
    alarms = text.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    for needle in ("`retention_warn_hours`", "48 h", "`sync_stale_hours`", "24 h",
                   "`reconcile_horizon_days`", "`loss_alarm_days`", "6 h",
                   "DBT_NXCLOUD_FRESHNESS_WARN_HOURS", "dbt-duckdb:freshness"):
        assert needle in alarms, needle
    assert set(doc_queries()) == {"margins", "stale_accounts", "lost", "unreconciled"}


def test_the_transformed_job_runs_the_freshness():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    jobs = {j["name"]: j["tasks"] for j in project["jobs"]}
    assert jobs["nxcloud-to-duckdb-transformed"] == [
        "tap-nxcloud target-duckdb dbt-duckdb:build dbt-duckdb:freshness"]
    for plugin in project["plugins"]["transformers"]:
        assert plugin["commands"]["freshness"]["args"] == "source freshness", plugin["name"]


# --- a real sync, then a troubled week ------------------------------------------------------

AUDIT_COLUMNS = ("account", "stream", "partition", "window_start", "window_end", "rows",
                 "api_count", "api_rows", "statement_count", "reconciled", "mismatch",
                 "requests", "retries", "rate_refusals", "seconds", "retention_margin_hours",
                 "lost_from", "lost_to", "tap_version", "run_id", "run_started_at")


def _row(account: str, stream: str, start: dt.datetime, end: dt.datetime, run: str,
         run_started_at: dt.datetime, **fields) -> dict:
    row = dict.fromkeys(AUDIT_COLUMNS)
    row.update(account=account, stream=stream, partition="", window_start=start, window_end=end,
               rows=10, requests=1, retries=0, rate_refusals=0, seconds=0.5, tap_version="test",
               run_id=run, run_started_at=run_started_at, reconciled=True, api_count=10,
               api_rows=10)
    row.update(fields)
    return row


def _sql_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return f"timestamp '{value:%Y-%m-%d %H:%M:%S}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def insert_audit(rows: list[dict]) -> str:
    values = ",\n".join("(" + ", ".join(_sql_value(r[c]) for c in AUDIT_COLUMNS) + ")"
                        for r in rows)
    names = ", ".join(f'"{c}"' for c in AUDIT_COLUMNS)
    return f"insert into nxcloud.sync_audit ({names}) values {values}"


def troubled_week(now: dt.datetime) -> tuple[list[dict], dict[str, set]]:
    """sync_audit rows of three more accounts, and what each alarm must name: {test: {key}}."""
    hour = dt.timedelta(hours=1)
    day = 24 * hour
    rows = []
    # acme: hourly runs. A DID day NXCloud miscounted 2 h ago, read again in part 1 h ago (half
    # the day: still an alarm); an SMS day miscounted 3 h ago and read again whole, in two
    # windows, 1 h ago (no alarm); a voice window 40 days old that never reconciled (past
    # NXCloud's retention: no alarm). Its margins are comfortable.
    d0 = (now - 2 * day).replace(hour=0, minute=0, second=0, microsecond=0)
    rows += [
        _row("acme", "did_cdrs", d0, d0 + day, "acme-2", now - 2 * hour, reconciled=False,
             api_count=11, mismatch="did_cdrs: window ...: NXCloud counts 11 rows; it returned 10"),
        _row("acme", "did_cdrs", d0 + 12 * hour, d0 + day, "acme-1", now - hour),
        _row("acme", "sms_cdrs", d0, d0 + day, "acme-3", now - 3 * hour, reconciled=False,
             statement_count=12, mismatch="statement"),
        _row("acme", "sms_cdrs", d0 - hour, d0 + 6 * hour, "acme-1", now - hour,
             retention_margin_hours=700.0),
        _row("acme", "sms_cdrs", d0 + 6 * hour, d0 + day, "acme-1", now - hour,
             retention_margin_hours=718.0),
        _row("acme", "voice_cdrs", now - 40 * day, now - 40 * day + hour, "acme-0",
             now - 40 * day + 2 * hour, reconciled=False, mismatch="old"),
        _row("acme", "voice_cdrs", now - 3 * hour, now - 2 * hour, "acme-1", now - hour,
             retention_margin_hours=165.0),
    ]
    # globex: its last run started 30 h ago (not synced in a day); voice's margin was 60 h then,
    # 30 h now (under 48); SIP's was 330 h (fine). An older run's voice margin was lower: only
    # the latest run counts, one alarm row.
    rows += [
        _row("globex", "voice_cdrs", now - 33 * hour, now - 31 * hour, "globex-1", now - 30 * hour,
             retention_margin_hours=59.0),
        _row("globex", "voice_cdrs", now - 31 * hour, now - 30 * hour, "globex-1",
             now - 30 * hour, retention_margin_hours=60.0),
        _row("globex", "voice_cdrs", now - 42 * hour, now - 41 * hour, "globex-0",
             now - 40 * hour, retention_margin_hours=10.0),
        _row("globex", "sip_cdrs", now - 31 * hour, now - 30 * hour, "globex-1", now - 30 * hour,
             retention_margin_hours=330.0),
    ]
    # initech: its run 1 h ago started after voice records had fallen out of retention; a loss
    # 8 days ago is past the alarm's week.
    lost_to = now - 7 * day
    rows += [
        _row("initech", "voice_cdrs", lost_to, now - 2 * hour, "initech-1", now - hour,
             retention_margin_hours=167.0, lost_from=lost_to - 5 * hour, lost_to=lost_to),
        _row("initech", "voice_cdrs", now - 9 * day, now - 9 * day + hour, "initech-0",
             now - 8 * day, retention_margin_hours=100.0, lost_from=now - 16 * day,
             lost_to=now - 15 * day),
    ]
    expected = {
        "sync_audit_unreconciled_windows": {("acme", "did_cdrs", "acme-2")},
        "sync_audit_retention_margins": {("globex", "voice_cdrs", "globex-1")},
        "sync_audit_accounts_not_synced": {("globex",)},
        "sync_audit_records_lost": {("initech", "voice_cdrs", "initech-1")},
    }
    return rows, expected


def _keyed(test: str, row: dict) -> tuple:
    if test == "sync_audit_accounts_not_synced":
        return (row["account"],)
    return (row["account"], row["stream"], row["run_id"])


def _results(target: Path) -> dict[str, dict]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r for r in results}


def test_alarms_on_a_real_sync_then_a_troubled_week(meltano_env, double, sysdir, tmp_path):
    env = _run_env(meltano_env, double, tmp_path)
    db, target = tmp_path / "nxcloud.duckdb", tmp_path / "dbt-target"
    done = meltano(env, "run", "nxcloud-to-duckdb-transformed")
    assert "dbt-duckdb" in done.stderr and "Completed successfully" in done.stderr

    # A clean sync: every raw table was loaded just now, no alarm has a row.
    results = _results(target)
    assert {name: results[name]["status"] for name in ALARMS} == dict.fromkeys(ALARMS, "pass")
    freshness = json.loads((target / "sources.json").read_text())["results"]
    tables = {r["unique_id"].split(".")[-1]: r for r in freshness}
    assert set(tables) == {*(s.name for s in SPECS), "sync_audit"}
    assert {r["status"] for r in tables.values()} == {"pass"}
    assert max(r["max_loaded_at_time_ago_in_s"] for r in tables.values()) < 1800
    assert {r["criteria"]["warn_after"]["count"] for r in tables.values()} == {6}
    (audit,) = duck(sysdir, db, "select stream, count(*) as n, "
                    "count(retention_margin_hours) as margins, min(account) as account "
                    "from nxcloud.sync_audit group by stream order by stream")
    margins = {r["stream"]: r["margins"] for r in audit}
    assert {s for s, n in margins.items() if n} == {"sms_cdrs", "voice_cdrs", "sip_cdrs"}
    staged = duck(sysdir, db, "select count(*) as n, min(account) as account, count(distinct "
                  "record_key) as keys from analytics_staging.stg_nxcloud__sync_audit")
    assert staged[0][0]["n"] == staged[0][0]["keys"] == sum(r["n"] for r in audit)
    assert staged[0][0]["account"] == "default" and audit[0]["account"] == ""

    # A troubled week of three more accounts, and SIP not read for 7 h by anyone.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows, expected = troubled_week(now)
    duck(sysdir, db, insert_audit(rows),
         "update nxcloud.sync_audit set run_started_at = run_started_at - interval 7 hour "
         "where stream = 'sip_cdrs'")
    done = meltano(env, "invoke", "dbt-duckdb", "build", "--store-failures")  # exit 0: warnings
    results = _results(target)
    assert {name: results[name]["status"] for name in ALARMS} == dict.fromkeys(ALARMS, "warn")
    failing = {r["unique_id"] for r in results.values() if r["status"] not in ("pass", "success")}
    assert {f.split(".")[2] for f in failing} == ALARMS
    stored = duck(sysdir, db, *(f"select * from analytics_dbt_test__audit.{name}"
                                for name in sorted(ALARMS)))
    got = {name: {_keyed(name, r) for r in found}
           for name, found in zip(sorted(ALARMS), stored, strict=True)}
    assert got == expected
    (margin,) = stored[sorted(ALARMS).index("sync_audit_retention_margins")]
    assert 29.5 < float(margin["margin_hours_now"]) < 30.5
    assert float(margin["margin_hours_at_run"]) == 60.0

    # The docs' queries say the same (written for PostgreSQL, run here on DuckDB).
    queries = doc_queries()
    said = dict(zip(queries, duck(sysdir, db, *queries.values()), strict=True))
    # (the docs' query has no horizon: the voice window of 40 days ago is there too)
    assert [(r["account"], r["stream"]) for r in said["unreconciled"]] == [
        ("acme", "voice_cdrs"), ("acme", "did_cdrs")]
    assert [r["account"] for r in said["stale_accounts"]] == ["globex"]
    low = [(r["account"], r["stream"]) for r in said["margins"]
           if float(r["margin_hours_now"]) < 48]
    assert low == [("globex", "voice_cdrs")]
    assert {(r["account"], r["stream"]) for r in said["margins"]} >= {
        ("", "voice_cdrs"), ("", "sms_cdrs"), ("", "sip_cdrs"), ("acme", "sms_cdrs")}
    assert [(r["account"], r["stream"]) for r in said["lost"]] == [
        ("initech", "voice_cdrs"), ("initech", "voice_cdrs")]  # every loss, newest first

    # Freshness: SIP's table was last read 7 h ago, past the 6 h: a warning, exit 0.
    meltano(env, "invoke", "dbt-duckdb", "source", "freshness")
    freshness = json.loads((target / "sources.json").read_text())["results"]
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in freshness}
    assert status.pop("sip_cdrs") == "warn"
    assert set(status.values()) == {"pass"}
