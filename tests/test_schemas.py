"""The schema files: valid, one declared type per field, described, and documented."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from tap_nxcloud.streams import BY_NAME
from tap_nxcloud.streams import STREAMS as SPECS

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
STREAM_NAMES = {spec.name for spec in SPECS}  # the registry
# descriptions that say a value is a time must go with format date-time, and the other way round
TIME_WORDS = ("Wall-clock time from the API", "Epoch milliseconds on the wire",
              "Epoch seconds on the wire", "stamped by the tap")


def _dictionary_module():
    spec = importlib.util.spec_from_file_location("dictionary", ROOT / "scripts" / "dictionary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STREAMS = _dictionary_module().STREAMS


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def _non_null(prop: dict) -> list[str]:
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    return [t for t in types if t != "null"]


def test_schema_files_are_exactly_the_registered_streams():
    # and the tap's own audit stream
    assert {p.stem for p in SCHEMAS.glob("*.json")} == {*STREAM_NAMES, "sync_audit"}
    assert set(STREAMS) == {*STREAM_NAMES, "sync_audit"}  # the dictionary documents all


@pytest.mark.parametrize("name", sorted(STREAM_NAMES))
def test_schema_is_valid_and_names_its_endpoint(name):
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["title"] == name
    assert schema["type"] == "object"
    assert STREAMS[name]["endpoint"] in schema["description"]
    # the tap adds these two to every stream; declaring them here would clash
    assert not {"account", "extra_fields"} & set(schema["properties"])


@pytest.mark.parametrize("name", sorted(STREAM_NAMES))
def test_every_property_has_one_type_and_a_description(name):
    for column, prop in _schema(name)["properties"].items():
        assert prop.get("description", "").strip(), f"{name}.{column} has no description"
        assert len(_non_null(prop)) == 1, f"{name}.{column}: {prop['type']}"


@pytest.mark.parametrize("name", sorted(STREAM_NAMES))
def test_times_are_date_time_strings(name):
    for column, prop in _schema(name)["properties"].items():
        says_time = any(words in prop["description"] for words in TIME_WORDS)
        is_date_time = prop.get("format") == "date-time"
        assert says_time == is_date_time, f"{name}.{column}"
        if is_date_time:
            assert _non_null(prop) == ["string"], f"{name}.{column}"


@pytest.mark.parametrize("name", sorted(STREAM_NAMES))
def test_key_is_required_and_non_null_and_the_replication_key_may_be_null(name):
    """A row without its key cannot be told apart (the tap refuses it); a row whose time cannot
    be read is kept with that time null, its value as sent in extra_fields. A column the tap
    makes itself (a stamp, fetched_at) is described as such and is never null."""
    schema, spec = _schema(name), BY_NAME[name]
    assert schema["required"] == [k for k in spec.primary_keys if k in schema["properties"]]
    for column in spec.primary_keys:
        assert column in schema["properties"], f"{name}.{column} missing"
        assert isinstance(schema["properties"][column]["type"], str), f"{name}.{column} nullable"
    for column in spec.added_columns:
        if column in schema["properties"]:
            assert "by the tap" in schema["properties"][column]["description"]
    rk = spec.replication_key
    if rk and rk not in spec.added_columns:
        assert "null" in schema["properties"][rk]["type"] and rk not in schema["required"]
        assert "cannot be read" in schema["properties"][rk]["description"]


def test_data_dictionary_is_up_to_date():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "dictionary.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_dictionary_check_fails_when_the_file_is_stale(tmp_path, monkeypatch):
    module = _dictionary_module()
    stale = tmp_path / "data-dictionary.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(module, "OUTPUT", stale)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0


def _snake(name: str) -> str:
    """What snake-casing loaders make of a column name: `voiceType` -> `voice_type`,
    `HTTPCode` -> `http_code`, `a-b c` -> `a_b_c`."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).lower()


# columns loaders add themselves (target-postgres, target-duckdb, target-snowflake, ...)
LOADER_COLUMNS = ("_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at", "_sdc_deleted_at",
                  "_sdc_sequence", "_sdc_table_version", "_sdc_sync_started_at")


@pytest.mark.parametrize("name", sorted(STREAM_NAMES))
def test_no_two_columns_collide_when_a_loader_lower_or_snake_cases_them(name):
    """A loader that lower-cases (DuckDB, Snowflake unquoted) or snake-cases (several SDK
    targets) column names must still get one column per field: voiceType and voice_type did
    collide (renamed request_voice_type in v0.2.0)."""
    columns = [*_schema(name)["properties"], "extra_fields", "account", *LOADER_COLUMNS]
    for fold in (str.lower, _snake):
        folded = {}
        for column in columns:
            folded.setdefault(fold(column), []).append(column)
        clashes = {k: v for k, v in folded.items() if len(v) > 1}
        assert not clashes, f"{name}: {fold.__name__} makes one column of {clashes}"


def test_the_collision_check_catches_the_old_voice_column():
    assert _snake("voiceType") == _snake("voice_type") == "voice_type"
    assert _snake("totalCustomerPrice") == "total_customer_price"


def test_every_generated_file_is_up_to_date():
    """README's settings reference, the data dictionary, meltano.yml's settings, the Meltano Hub
    definition and the dbt column docs all come from the registry: `scripts/generate.py`."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_the_second_account_in_meltano_yml_blanks_every_product_s_credentials():
    """tap-nxcloud--acme inherits tap-nxcloud's config: a key it does not blank would read the
    main account's data under acme's name. Every registered stream's credentials are blanked."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    child = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-nxcloud--acme")
    needed = {name for spec in SPECS for name in spec.credentials}
    assert {k for k, v in child["config"].items() if v == ""} >= needed
