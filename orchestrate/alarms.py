"""Alarms in Dagster (docs/operations.md "Alarms"): asset checks per NXCloud account, read from the
`sync_audit` table of the warehouse the jobs load.

Each account is an asset, `nxcloud/<account>` (its rows in the shared tables, loaded by the Meltano
runs), with four checks, each ERROR severity and blocking, so that a failing one is red in the UI
and fails the run that evaluated it (a run failure sensor, or an alert policy, then alerts):

    reconciled        no window whose latest read did not reconcile, among those that ended in the
                      last NXCLOUD_RECONCILE_DAYS (31: the longest retention; older ones cannot be
                      read again)
    retention_margin  every stream with a stated retention has a margin now (its latest run's,
                      less the hours since) of at least retention_warn_hours
                      (TAP_NXCLOUD_RETENTION_WARN_HOURS, the tap's own setting; 48)
    fresh             the account's latest run started at most NXCLOUD_SYNC_STALE_HOURS ago (24)
    nothing_lost      no run of the last NXCLOUD_LOSS_ALARM_DAYS (7) found records already gone

The accounts are the names of the accounts file (accounts.py), of NXCLOUD_ALARM_ACCOUNTS (a comma
list), and those sync_audit holds when the code location loads (a single unnamed account is
`default`, as in the dbt models). The warehouse:

    NXCLOUD_WAREHOUSE    duckdb or postgres; unset: duckdb when NXCLOUD_LOADER is target-duckdb,
                         else postgres
    TARGET_DUCKDB_PATH   the DuckDB file (default <project>/output/nxcloud.duckdb), read-only
    TARGET_POSTGRES_HOST, _PORT, _USER, _PASSWORD, _DATABASE   as the loader's
    TARGET_<LOADER>_DEFAULT_TARGET_SCHEMA   the raw tables' schema (default nxcloud)

The checks run in the job `nxcloud_alarms`: from the UI (the asset's Checks, "Execute"), after each
successful run of the code location's jobs (sensor `nxcloud_alarms_after_runs`: that account's
checks, or all), and every hour (sensor `nxcloud_alarms_hourly`: an account that stops syncing
is noticed without any run). Both sensors are created stopped: switch them on under Automation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DagsterRunStatus,
    DefaultSensorStatus,
    Failure,
    MetadataValue,
    RunRequest,
    SkipReason,
    define_asset_job,
    multi_asset_check,
    run_status_sensor,
    sensor,
)

LOG = logging.getLogger("nxcloud.alarms")
JOB_NAME = "nxcloud_alarms"
GROUP = "nxcloud"
ACCOUNT_TAG = "nxcloud/account"  # accounts.py tags each account's run with it
DEFAULT_ACCOUNT = "default"  # a single unnamed account (sync_audit's ''), as dbt's default_account
CHECKS = {
    "reconciled": "No window whose latest read did not reconcile with NXCloud's own count (the "
                  "windows that ended in the last NXCLOUD_RECONCILE_DAYS days).",
    "retention_margin": "Every stream with a stated retention (voice 7 days, SIP 15, SMS 31) is "
                        "at least retention_warn_hours (48) away from NXCloud dropping records "
                        "the pipeline has not read.",
    "fresh": "The account's latest run started at most NXCLOUD_SYNC_STALE_HOURS (24) ago.",
    "nothing_lost": "No run of the last NXCLOUD_LOSS_ALARM_DAYS (7) days found records that had "
                    "already fallen out of NXCloud's retention.",
}
# The SQL here is built from a schema name that matches IDENTIFIER, numbers and timestamps the
# code formats itself: nothing of a row or of the user's text (the S608 noqa below).
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
SHOWN = 20  # windows or ranges listed in a check's description and metadata, at most


# --- settings ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Thresholds:
    retention_warn_hours: float = 48.0
    sync_stale_hours: float = 24.0
    reconcile_days: float = 31.0
    loss_alarm_days: float = 7.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Thresholds:
        def number(name: str, default: float) -> float:
            text = environ.get(name) or ""
            try:
                return float(text) if text.strip() else default
            except ValueError:
                raise Failure(description=f"{name} must be a number of hours or days, "
                                          f"not {text!r}") from None
        return cls(number("TAP_NXCLOUD_RETENTION_WARN_HOURS", cls.retention_warn_hours),
                   number("NXCLOUD_SYNC_STALE_HOURS", cls.sync_stale_hours),
                   number("NXCLOUD_RECONCILE_DAYS", cls.reconcile_days),
                   number("NXCLOUD_LOSS_ALARM_DAYS", cls.loss_alarm_days))


@dataclasses.dataclass(frozen=True)
class Warehouse:
    """Where the jobs load sync_audit. `postgres` holds the connection's settings, the password
    among them: never shown (repr=False)."""

    kind: str  # "duckdb" or "postgres"
    schema: str
    duckdb_path: Path | None = None
    postgres: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def table(self) -> str:
        schema = '"' + self.schema.replace('"', '""') + '"'
        return f"warehouse.{schema}.sync_audit" if self.kind == "duckdb" else f"{schema}.sync_audit"

    def where(self) -> str:
        """The warehouse in a line, for logs and descriptions (no password)."""
        if self.kind == "duckdb":
            return f"DuckDB file {self.duckdb_path}, schema {self.schema}"
        p = self.postgres
        return (f"PostgreSQL {p.get('host')}:{p.get('port')}, database {p.get('dbname')}, "
                f"schema {self.schema}")


def project_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("MELTANO_PROJECT_ROOT") or Path(__file__).resolve().parent.parent)


def warehouse(environ: Mapping[str, str] = os.environ) -> Warehouse:
    kind = (environ.get("NXCLOUD_WAREHOUSE") or "").strip().lower()
    if not kind:
        kind = "duckdb" if "duckdb" in (environ.get("NXCLOUD_LOADER") or "") else "postgres"
    if kind not in ("duckdb", "postgres"):
        raise Failure(description=f"NXCLOUD_WAREHOUSE must be duckdb or postgres, not {kind!r}")
    prefix = "TARGET_DUCKDB_" if kind == "duckdb" else "TARGET_POSTGRES_"
    schema = environ.get(f"{prefix}DEFAULT_TARGET_SCHEMA") or "nxcloud"
    if not IDENTIFIER.fullmatch(schema):
        raise Failure(description=f"{prefix}DEFAULT_TARGET_SCHEMA: not a schema name: {schema!r}")
    if kind == "duckdb":
        path = environ.get("TARGET_DUCKDB_PATH") or str(
            project_dir(environ) / "output" / "nxcloud.duckdb")
        return Warehouse("duckdb", schema, duckdb_path=Path(path).expanduser())
    return Warehouse("postgres", schema, postgres={
        "host": environ.get("TARGET_POSTGRES_HOST") or "127.0.0.1",
        "port": environ.get("TARGET_POSTGRES_PORT") or "5432",
        "user": environ.get("TARGET_POSTGRES_USER") or "",
        "password": environ.get("TARGET_POSTGRES_PASSWORD") or "",
        "dbname": environ.get("TARGET_POSTGRES_DATABASE") or ""})


# --- reading sync_audit --------------------------------------------------------------------

def _utc(value) -> dt.datetime | None:
    """A warehouse timestamp (naive, holding UTC) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _literal(moment: dt.datetime) -> str:
    return f"timestamp '{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}'"


def _hours(start: str, end: str) -> str:
    return f"(extract(epoch from ({end} - {start})) / 3600)"


class Reader:
    """One connection to the warehouse: rows as dicts. DuckDB is opened read-only (a loader
    writing the file holds its lock: retried for `wait` seconds)."""

    def __init__(self, where: Warehouse, wait: float = 20.0) -> None:
        self.where = where
        if where.kind == "duckdb":
            import duckdb  # noqa: PLC0415 (only the DuckDB warehouse needs it)

            if not where.duckdb_path.is_file():
                raise FileNotFoundError(f"no DuckDB file {where.duckdb_path}")
            deadline = time.monotonic() + wait
            while True:
                self.conn = duckdb.connect()
                try:
                    path = str(where.duckdb_path).replace("'", "''")
                    self.conn.execute(f"attach '{path}' as warehouse (read_only)")
                    break
                except duckdb.IOException:
                    self.conn.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        else:
            import psycopg  # noqa: PLC0415 (meltano[postgres] installs it)

            p = where.postgres
            self.conn = psycopg.connect(
                host=p["host"], port=p["port"], user=p["user"] or None,
                password=p["password"] or None, dbname=p["dbname"] or None, connect_timeout=10,
                options="-c TimeZone=UTC -c default_transaction_read_only=on", autocommit=True)

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def rows(self, sql: str) -> list[dict]:
        cursor = self.conn.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def columns(self) -> set[str]:
        """The columns of sync_audit (empty: there is no table yet)."""
        catalog = " and table_catalog = 'warehouse'" if self.where.kind == "duckdb" else ""
        where = f"table_schema = '{self.where.schema}' and table_name = 'sync_audit'{catalog}"
        return {r["column_name"].lower() for r in self.rows(
            f"select column_name from information_schema.columns where {where}")}  # noqa: S608


@dataclasses.dataclass
class Audit:
    """What the checks need from sync_audit, per account (sync_audit's '' as DEFAULT_ACCOUNT)."""

    now: dt.datetime
    last_runs: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    stream_runs: dict[str, dict[str, dt.datetime]] = dataclasses.field(default_factory=dict)
    margins: dict[str, dict[str, dict]] = dataclasses.field(default_factory=dict)
    unreconciled: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
    lost: dict[str, list[dict]] = dataclasses.field(default_factory=dict)
    has_margins: bool = True  # sync_audit has the retention columns (a tap that writes them)

    @property
    def accounts(self) -> list[str]:
        return sorted(self.last_runs)

    def margin_now(self, account: str) -> float | None:
        """The account's smallest retention margin now, in hours; None: no stream with one."""
        margins = [m["margin_hours_now"] for m in self.margins.get(account, {}).values()]
        return min(margins) if margins else None


def _account(value) -> str:
    return value or DEFAULT_ACCOUNT


def unreconciled_sql(table: str, now: str, horizon_days: float) -> str:
    """Windows whose latest read did not reconcile: no later run read their whole range (the
    same query as transform/tests/sync_audit_unreconciled_windows.sql)."""
    return f"""
with audit as (
    select account, stream, coalesce("partition", '') as partition_key, window_start, window_end,
           reconciled, api_count, api_rows, statement_count, mismatch, run_id, run_started_at
    from {table}
    where {_hours('window_end', now)} <= {horizon_days} * 24
),
unreconciled as (
    select * from audit where reconciled = false
),
read_again as (
    select u.account, u.stream, u.partition_key, u.window_start, u.run_id,
           sum(case when u.window_start = u.window_end then 0 else extract(epoch from (
               (case when later.window_end < u.window_end then later.window_end
                     else u.window_end end)
               - (case when later.window_start > u.window_start then later.window_start
                       else u.window_start end))) end) as covered_seconds
    from unreconciled as u
    inner join audit as later
        on later.account = u.account and later.stream = u.stream
        and later.partition_key = u.partition_key
        and later.run_started_at > u.run_started_at
        and ((u.window_start = u.window_end and later.window_start = later.window_end)
             or (later.window_start < u.window_end and later.window_end > u.window_start))
    group by u.account, u.stream, u.partition_key, u.window_start, u.run_id, later.run_id
)
select u.*
from unreconciled as u
where not exists (
    select 1 from read_again as r
    where r.account = u.account and r.stream = u.stream and r.partition_key = u.partition_key
      and r.window_start = u.window_start and r.run_id = u.run_id
      and r.covered_seconds >= extract(epoch from (u.window_end - u.window_start))
)
order by u.account, u.window_start"""  # noqa: S608 (validated names, literals)


def read_audit(reader: Reader, thresholds: Thresholds, now: dt.datetime) -> Audit:
    audit = Audit(now=now)
    columns = reader.columns()
    if not columns:
        return audit  # no run has landed its audit yet
    table, at = reader.where.table, _literal(now)
    last_runs = "select account, stream, max(run_started_at) as last_run from {} group by 1, 2"
    for row in reader.rows(last_runs.format(table)):
        account, last = _account(row["account"]), _utc(row["last_run"])
        audit.stream_runs.setdefault(account, {})[row["stream"]] = last
        audit.last_runs[account] = max(last, audit.last_runs.get(account, last))
    for row in reader.rows(unreconciled_sql(table, at, thresholds.reconcile_days)):
        audit.unreconciled.setdefault(_account(row["account"]), []).append(row)
    audit.has_margins = {"retention_margin_hours", "lost_from", "lost_to"} <= columns
    if not audit.has_margins:
        return audit
    for row in reader.rows(f"""
with latest as (
    select account, stream, run_id, run_started_at, window_end, retention_margin_hours,
           row_number() over (partition by account, stream
                              order by run_started_at desc, window_end desc) as newest
    from {table}
    where retention_margin_hours is not null
)
select account, stream, run_id, run_started_at, window_end, retention_margin_hours
from latest where newest = 1"""):  # noqa: S608
        started = _utc(row["run_started_at"])
        margin = float(row["retention_margin_hours"])
        audit.margins.setdefault(_account(row["account"]), {})[row["stream"]] = {
            "run_id": row["run_id"], "run_started_at": started,
            "complete_up_to": _utc(row["window_end"]), "margin_hours_at_run": margin,
            "margin_hours_now": margin - (now - started).total_seconds() / 3600}
    for row in reader.rows(f"""
select account, stream, lost_from, lost_to, run_id, run_started_at
from {table}
where lost_from is not null and {_hours('run_started_at', at)} <= {thresholds.loss_alarm_days} * 24
order by run_started_at desc"""):  # noqa: S608
        audit.lost.setdefault(_account(row["account"]), []).append(row)
    return audit


def load_audit(environ: Mapping[str, str] = os.environ, now: dt.datetime | None = None,
               thresholds: Thresholds | None = None) -> Audit:
    with Reader(warehouse(environ)) as reader:
        return read_audit(reader, thresholds or Thresholds.from_env(environ),
                          now or dt.datetime.now(dt.UTC))


_RECENT: dict[tuple, tuple[float, Audit | Exception]] = {}
RECENT_SECONDS = 30  # the code location reads sync_audit twice as it loads: once is enough


def recent_audit(environ: Mapping[str, str] = os.environ) -> Audit:
    """load_audit, or what it gave (rows or error) for the same warehouse in the last
    RECENT_SECONDS: the accounts' order and the alarm accounts, read when the code location
    loads, cost one read (and an unreachable warehouse one timeout). The checks read afresh."""
    where = warehouse(environ)
    key = (where.kind, where.schema, str(where.duckdb_path), tuple(sorted(where.postgres.items())))
    at, found = _RECENT.get(key, (-float("inf"), None))
    if time.monotonic() - at > RECENT_SECONDS:
        try:
            found = load_audit(environ)
        except Exception as exc:
            found = exc
        _RECENT[key] = (time.monotonic(), found)
    if isinstance(found, Exception):
        raise found
    return found


def margins(environ: Mapping[str, str] = os.environ) -> dict[str, float | None] | None:
    """Each account's smallest retention margin now (hours; None: no stream with one) from the
    latest sync_audit rows; None when the warehouse or its sync_audit cannot be read."""
    try:
        audit = recent_audit(environ)
    except Exception as exc:  # no warehouse yet, unreachable, locked: the order stays as it is
        LOG.info("retention margins not read (%s): %s", type(exc).__name__, exc)
        return None
    if not audit.last_runs:
        return None
    return {account: audit.margin_now(account) for account in audit.accounts}


# --- the checks --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _window(row: dict) -> str:
    start, end = _utc(row["window_start"]), _utc(row["window_end"])
    part = f" {row['partition_key']}" if row.get("partition_key") else ""
    return f"{row['stream']}{part} {_when(start)} to {_when(end)}"


def _plain(value):
    """A warehouse value as JSON can hold it (timestamps as RFC 3339, decimals as floats)."""
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _json_rows(rows: Iterable[dict]) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def evaluate(account: str, audit: Audit, thresholds: Thresholds) -> dict[str, Verdict]:
    """The four checks of one account."""
    out = {}
    windows = audit.unreconciled.get(account, [])
    out["reconciled"] = Verdict(
        not windows,
        (f"{len(windows)} window(s) did not reconcile: " + "; ".join(
            f"{_window(w)}: {w['mismatch'] or 'counts differ'}" for w in windows[:SHOWN])
         ) if windows else "Every window's latest read reconciled (or has no count of "
                           "NXCloud's to compare with).",
        {"unreconciled_windows": len(windows),
         "windows": MetadataValue.json(_json_rows(windows[:SHOWN]))})

    margins = audit.margins.get(account, {})
    low = {s: m for s, m in margins.items()
           if m["margin_hours_now"] < thresholds.retention_warn_hours}
    shown = low or margins

    def line(stream: str, m: dict) -> str:
        deadline = audit.now + dt.timedelta(hours=m["margin_hours_now"])
        return (f"{stream}: {m['margin_hours_now']:.1f} h left, the next run must start by "
                f"{_when(deadline)}")
    if not audit.has_margins:
        text = ("sync_audit has no retention_margin_hours yet (written by a tap that does not "
                "measure them): nothing to check.")
    elif not margins:
        text = "No stream of this account with a stated retention has been read."
    elif low:
        text = (f"Under {thresholds.retention_warn_hours:g} h: "
                + "; ".join(line(s, m) for s, m in sorted(low.items())))
    else:
        text = "; ".join(line(s, m) for s, m in sorted(margins.items()))
    out["retention_margin"] = Verdict(not low, text, {
        "threshold_hours": thresholds.retention_warn_hours,
        **({"smallest_margin_hours": round(min(m["margin_hours_now"] for m in margins.values()),
                                           1)} if margins else {}),
        "streams": MetadataValue.json({s: round(m["margin_hours_now"], 1)
                                       for s, m in sorted(shown.items())})})

    last = audit.last_runs.get(account)
    hours = (audit.now - last).total_seconds() / 3600 if last else None
    fresh = hours is not None and hours <= thresholds.sync_stale_hours
    out["fresh"] = Verdict(
        fresh,
        (f"The latest run started {hours:.1f} h ago ({_when(last)})" if last
         else "No run of this account in sync_audit")
        + ("" if fresh else f": more than {thresholds.sync_stale_hours:g} h."),
        {"threshold_hours": thresholds.sync_stale_hours,
         **({"hours_since_last_run": round(hours, 1),
             "last_run_started_at": MetadataValue.timestamp(last)} if last else {}),
         "streams": MetadataValue.json({s: t.isoformat() for s, t in
                                        sorted(audit.stream_runs.get(account, {}).items())})})

    lost = audit.lost.get(account, [])
    out["nothing_lost"] = Verdict(
        not lost,
        ("Records lost to retention: " + "; ".join(
            f"{r['stream']} {_when(_utc(r['lost_from']))} to {_when(_utc(r['lost_to']))} "
            f"(run of {_when(_utc(r['run_started_at']))})" for r in lost[:SHOWN])) if lost else
        f"No range lost to retention in the last {thresholds.loss_alarm_days:g} days.",
        {"ranges_lost": len(lost), "ranges": MetadataValue.json(_json_rows(lost[:SHOWN]))})
    return out


# --- Dagster definitions -------------------------------------------------------------------

def asset_key(account: str) -> AssetKey:
    return AssetKey(["nxcloud", account])


def alarm_accounts(named: Iterable[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """The accounts to watch: `named` (the accounts file's), NXCLOUD_ALARM_ACCOUNTS, then those
    sync_audit holds now (when it can be read)."""
    accounts = list(dict.fromkeys(named))
    extra = [n.strip() for n in (environ.get("NXCLOUD_ALARM_ACCOUNTS") or "").split(",")]
    accounts += [n for n in extra if n and n not in accounts]
    try:
        found = recent_audit(environ).accounts
    except Exception as exc:  # the code location loads all the same
        LOG.info("sync_audit not read for the alarm accounts (%s): %s", type(exc).__name__, exc)
        found = []
    accounts += [n for n in found if n not in accounts]
    return accounts


@dataclasses.dataclass
class AlarmDefinitions:
    assets: list
    asset_checks: list
    jobs: list
    sensors: list


def definitions(named: Iterable[str] = (), environ: Mapping[str, str] = os.environ
                ) -> AlarmDefinitions:
    """The accounts' assets, their checks, the job that runs them and its two sensors; nothing
    when there is no account to watch."""
    accounts = alarm_accounts(named, environ)
    if not accounts:
        return AlarmDefinitions([], [], [], [])
    assets = [AssetSpec(asset_key(a), group_name=GROUP, kinds={"meltano"},
                        description=f"NXCloud account {a}: its rows in the tables tap-nxcloud "
                                    "loads, watched through sync_audit.",
                        metadata={"account": a}) for a in accounts]
    by_key = {asset_key(a): a for a in accounts}
    specs = [AssetCheckSpec(name, asset=key, description=text, blocking=True)
             for key in by_key for name, text in CHECKS.items()]

    @multi_asset_check(specs=specs, can_subset=True, name="nxcloud_sync_audit_checks",
                       description="Reads sync_audit from the warehouse once, then judges every "
                                   "selected account's checks.")
    def nxcloud_sync_audit_checks(context):
        thresholds = Thresholds.from_env()
        where = warehouse()
        try:
            audit = load_audit(thresholds=thresholds)
        except Exception as exc:
            raise Failure(description=f"cannot read sync_audit from {where.where()}: "
                                      f"{type(exc).__name__}: {exc}") from None
        context.log.info(f"sync_audit of {where.where()}: {len(audit.accounts)} accounts")
        verdicts: dict[str, dict[str, Verdict]] = {}
        for key in sorted(context.selected_asset_check_keys, key=str):
            account = by_key[key.asset_key]
            if account not in verdicts:
                verdicts[account] = evaluate(account, audit, thresholds)
            verdict = verdicts[account][key.name]
            yield AssetCheckResult(asset_key=key.asset_key, check_name=key.name,
                                   passed=verdict.passed, severity=AssetCheckSeverity.ERROR,
                                   description=verdict.description, metadata=verdict.metadata)

    job = define_asset_job(JOB_NAME, selection=AssetSelection.checks_for_assets(*by_key),
                           description="The alarms: every account's checks on sync_audit.")

    @sensor(name=f"{JOB_NAME}_hourly", job=job, minimum_interval_seconds=3600,
            default_status=DefaultSensorStatus.STOPPED,
            description="Every account's alarms, once an hour: an account that stopped syncing, "
                        "a margin that shrinks while nothing runs.")
    def hourly(_context):
        return RunRequest(run_key=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H"))

    @run_status_sensor(name=f"{JOB_NAME}_after_runs", run_status=DagsterRunStatus.SUCCESS,
                       request_job=job, default_status=DefaultSensorStatus.STOPPED,
                       description="After each successful run of this code location's jobs: "
                                   "the alarms of its account (tag nxcloud/account), or all.")
    def after_runs(context):
        run = context.dagster_run
        if run.job_name == JOB_NAME:
            return SkipReason("a run of the alarms themselves")
        account = run.tags.get(ACCOUNT_TAG)
        keys = ([asset_key(account)] if account and asset_key(account) in by_key
                else list(by_key))
        return RunRequest(run_key=run.run_id, asset_check_keys=[
            AssetCheckKey(key, name) for key in keys for name in CHECKS])

    return AlarmDefinitions(assets, [nxcloud_sync_audit_checks], [job], [hourly, after_runs])
