"""The Meltano path: meltano.yml matches the tap, and `meltano run` loads a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tap_nxcloud.streams import STREAMS

from .conftest import BIN, START_MS, START_WALL, TAP, cc_rows, expected_flash, flash_rows

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(BIN / "meltano")


def _plugins(kind: str) -> dict:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    return {p["name"]: p for p in project["plugins"][kind]}


def _meltano_kind(spec: dict) -> str:
    """The kind a setting needs in Meltano 4.4: a number is an integer (Meltano fails on any
    `decimal` value from the environment); a string enum is `options`, a numeric enum stays a
    number (Meltano rejects every environment or `config set` value of integer options)."""
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    first = next(t for t in types if t != "null")
    if "enum" in spec and first == "string":
        return "options"
    return {"number": "integer"}.get(first, first)


def test_meltano_yml_declares_every_setting_like_the_tap():
    """Every setting `tap-nxcloud --about` lists, the SDK's built-in ones (stream maps,
    flattening, faker) included, is declared with its kind, default and sensitivity: an
    undeclared one is silently dropped from TAP_NXCLOUD_<NAME> and stored as text by
    `meltano config set`."""
    about = json.loads(subprocess.run([TAP, "--about", "--format=json"], capture_output=True,
                                      text=True, check=True).stdout)
    schema = about["settings"]["properties"]
    assert {"stream_maps", "stream_map_config", "flattening_enabled",
            "flattening_max_depth"} <= set(schema)
    tap = _plugins("extractors")["tap-nxcloud"]
    settings = {s["name"]: s for s in tap["settings"]}
    assert list(settings) == list(schema), "run python scripts/meltano_settings.py"
    for name, spec in schema.items():
        declared = settings[name]
        assert declared["kind"] == _meltano_kind(spec), name
        assert declared.get("sensitive", False) == bool(spec.get("secret")), name
        assert declared.get("value") == spec.get("default"), name
        assert declared.get("description", "") == spec.get("description", ""), name
        if declared["kind"] == "options":
            assert [o["value"] for o in declared["options"]] == spec["enum"], name
    assert settings["flattening_enabled"]["kind"] == "boolean"
    assert settings["stream_maps"]["kind"] == "object"
    assert set(tap["capabilities"]) == set(about["capabilities"])
    groups = [[*about["settings"]["required"], *spec.credentials] for spec in STREAMS]
    assert tap["settings_group_validation"] == [  # once each: products share credentials
        g for i, g in enumerate(groups) if g not in groups[:i]]
    assert _plugins("loaders")["target-postgres"]["env"] == {"PGTZ": "UTC"}


@pytest.fixture(scope="module")
def meltano_env(tmp_path_factory):
    """meltano install into a private system directory, so a developer's .meltano is untouched."""
    sysdir = tmp_path_factory.mktemp("meltano-sys")
    env = {**os.environ, "MELTANO_SYS_DIR_ROOT": str(sysdir / ".meltano"),
           "MELTANO_DATABASE_URI": f"sqlite:///{sysdir}/meltano.db",
           "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run([MELTANO, "install", "tap-nxcloud", "target-postgres"], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def _meltano_run(env: dict, double, port: int, end_date: str, *args: str,
                 **extra: str) -> subprocess.CompletedProcess:
    c = double.credentials
    env = {**env, **extra, "TAP_NXCLOUD_API_URL": double.url,
           "TAP_NXCLOUD_START_DATE": "2026-10-01",
           "TAP_NXCLOUD_END_DATE": end_date,
           "TAP_NXCLOUD_FLASH_CALL_APP_KEY": c.flash_call_app_key,
           "TAP_NXCLOUD_FLASH_CALL_APP_SECRET": c.flash_call_app_secret,
           "TAP_NXCLOUD_CC_ACCESS_KEY": c.cc_access_key,
           "TAP_NXCLOUD_CC_ACCESS_SECRET": c.cc_access_secret,
           "TARGET_POSTGRES_PORT": str(port), "TARGET_POSTGRES_USER": "postgres",
           "TARGET_POSTGRES_PASSWORD": "unused", "TARGET_POSTGRES_DATABASE": "postgres"}
    return subprocess.run([MELTANO, "run", *args, "tap-nxcloud", "target-postgres"], cwd=ROOT,
                          env=env,
                          capture_output=True, text=True, check=False, timeout=600)


def test_meltano_run_into_postgres_twice(double, postgres, meltano_env):
    port, psql = postgres
    double.flash.add(flash_rows(1200, seed=51, start=START_WALL, span_seconds=2 * 86400))
    double.cc.add(cc_rows(1200, seed=51, start_ms=START_MS, span_ms=2 * 86400_000))
    first = _meltano_run(meltano_env, double, port, "2026-10-03T00:00:00+08:00")
    assert first.returncode == 0, first.stderr[-4000:]

    def table(name: str, key: str) -> list[str]:
        # target-postgres keeps the API's camelCase names: quoted identifiers
        return psql(f'SELECT count(*), count(DISTINCT "{key}") FROM nxcloud.{name}')[0]
    assert table("flash_call_cdrs", "id") == ["1200", "1200"]
    assert table("cc_cdrs", "callId") == ["1200", "1200"]

    # Second run, from the state Meltano stored: new rows, late rows inside the lookback,
    # and a late update of a flash row already loaded (its status filled in later).
    late = flash_rows(7, seed=52, start="2026-10-02 23:30:00", span_seconds=900, first_id=80_000)
    new = flash_rows(9, seed=53, start="2026-10-03 05:00:00", span_seconds=900, first_id=90_000)
    updated = dict(double.flash.rows()[-1], callStatus=9, gmtModified="2026-10-03 01:00:00")
    double.flash.add([*late, *new, updated])
    edge_ms = START_MS + 2 * 86400_000
    double.cc.add(cc_rows(6, seed=52, start_ms=edge_ms - 1800_000, span_ms=600_000, prefix="l")
                  + cc_rows(8, seed=53, start_ms=edge_ms + 3600_000, span_ms=600_000, prefix="n"))
    second = _meltano_run(meltano_env, double, port, "2026-10-04T00:00:00+08:00")
    assert second.returncode == 0, second.stderr[-4000:]
    assert "bookmark" in second.stderr  # the tap started from Meltano's stored state
    assert table("flash_call_cdrs", "id") == ["1216", "1216"]
    assert table("cc_cdrs", "callId") == ["1214", "1214"]
    assert psql('SELECT "callStatus" FROM nxcloud.flash_call_cdrs '
                f"WHERE id = {updated['id']}") == [["9"]]

    # Instants are right in the warehouse: stored as UTC whatever the server's zone.
    for row in double.flash.rows()[:50]:
        want = dt.datetime.fromisoformat(expected_flash(row)["gmtCreate"]).astimezone(dt.UTC)
        got = psql(f'SELECT "gmtCreate" FROM nxcloud.flash_call_cdrs WHERE id = {row["id"]}')
        assert got == [[want.strftime("%Y-%m-%d %H:%M:%S")]], row["id"]
    sample = double.cc.rows()[0]
    assert psql('SELECT "startTime", "agentNickName" FROM nxcloud.cc_cdrs '
                f"WHERE \"callId\" = '{sample['callId']}'") == [
        [_utc(sample["startTime"]), sample["agentNickName"] or ""]]
    print(f"PostgreSQL rows: flash_call_cdrs={table('flash_call_cdrs', 'id')[0]}, "
          f"cc_cdrs={table('cc_cdrs', 'callId')[0]}")


def _utc(ms: int) -> str:
    """How PostgreSQL prints a `timestamp` holding the UTC instant of epoch milliseconds."""
    text = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text.rstrip("0").rstrip(".")


def test_warehouse_ready_rows_and_two_accounts_in_one_schema(double, postgres, meltano_env):
    """cc times land as timestamps (UTC), a new vendor field lands in extra_fields, a number sent
    as a string lands as a number, and two accounts with colliding ids keep all their rows."""
    port, psql = postgres
    double.flash.add(flash_rows(300, seed=61, start=START_WALL, span_seconds=86400))
    rows = sorted(cc_rows(300, seed=61, start_ms=START_MS, span_ms=86400_000),
                  key=lambda r: not r["answerTime"])  # an answered call first
    rows[0] = {**rows[0], "totalCustomerPrice": "0.07", "newVendorField": {"tier": "gold"}}
    rows[1] = {**rows[1], "answerTime": 0}
    double.cc.add(rows)
    schema = {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "wh"}
    for account in ("acme", "globex"):  # the same rows (same ids) under two accounts
        done = _meltano_run(meltano_env, double, port, "2026-10-02T00:00:00+08:00",
                            f"--state-id-suffix={account}", TAP_NXCLOUD_ACCOUNT=account,
                            **schema)
        assert done.returncode == 0, done.stderr[-4000:]
        assert "newVendorField" in done.stderr  # the one WARNING that names the new field

    def column_type(table: str, column: str) -> str:
        return psql("SELECT data_type FROM information_schema.columns WHERE table_schema = 'wh' "
                    f"AND table_name = '{table}' AND column_name = '{column}'")[0][0]
    for column in ("startTime", "endTime", "answerTime", "ringTime", "inQueueTime",
                   "outQueueTime"):
        assert column_type("cc_cdrs", column) == "timestamp without time zone", column
    assert column_type("cc_cdrs", "totalCustomerPrice") == "numeric"
    assert column_type("cc_cdrs", "extra_fields") == "jsonb"
    for table, key in (("flash_call_cdrs", "id"), ("cc_cdrs", '"callId"')):
        assert psql(f"SELECT account, count(*), count(DISTINCT {key}) FROM wh.{table} "
                    "GROUP BY account ORDER BY account") == [
            ["acme", "300", "300"], ["globex", "300", "300"]], table
    first = psql('SELECT "startTime", "answerTime", "totalCustomerPrice", extra_fields::text '
                 f"FROM wh.cc_cdrs WHERE \"callId\" = '{rows[0]['callId']}' "
                 "AND account = 'acme'")
    assert first == [[_utc(rows[0]["startTime"]), _utc(rows[0]["answerTime"]), "0.07",
                      '{"newVendorField": {"tier": "gold"}}']]
    assert psql(f"SELECT \"answerTime\" IS NULL FROM wh.cc_cdrs WHERE \"callId\" = "
                f"'{rows[1]['callId']}' AND account = 'globex'") == [["t"]]
    print("cc_cdrs row in PostgreSQL:", psql(
        f"SELECT row_to_json(c) FROM wh.cc_cdrs c WHERE \"callId\" = '{rows[0]['callId']}' "
        "AND account = 'acme'")[0][0])
