"""Issue 26: mistakes in the settings are named. A setting the tap does not know (config file,
TAP_NXCLOUD_* variables with --config ENV, an `accounts` entry) is one WARNING naming the setting
it most likely means, or with `strict_settings` one error line; a misspelled secret is said to be
one, its value never shown; a start_date in the future is one WARNING. Every setting the tap acts
on is a typed field of Settings."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tap_nxcloud import settings as S
from tap_nxcloud.settings import KNOWN, SCHEMA, SDK_SETTINGS, ConfigError, closest, parse

from .conftest import TAP, Run, config_for, parse_messages, run_tap

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Sup3r-s3cret-VALUE"  # under a misspelled name: must never be printed


def lines(run: Run, level: str) -> list[str]:
    """The messages of the stderr lines at `level` (the part after `time | LEVEL | logger |`)."""
    out = []
    for line in run.stderr.splitlines():
        parts = [p.strip() for p in line.split(" | ", 3)]
        if len(parts) == 4 and parts[1] == level:
            out.append(parts[3])
    return out


def refused(run: Run, message: str) -> None:
    """Exit 1, the last stderr line is the one ERROR, exactly `message`; no traceback."""
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert lines(run, "ERROR") == [message], run.stderr
    assert message in run.stderr.strip().splitlines()[-1]


def run_env(env: dict, *args: str, timeout: float = 60) -> Run:
    """The CLI with `--config ENV` only: every setting from TAP_NXCLOUD_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAP_NXCLOUD_")}
    done = subprocess.run([TAP, "--config", "ENV", *args], capture_output=True, text=True,
                          env={**clean, **env}, timeout=timeout, check=False)
    run = Run(done.returncode, done.stdout, done.stderr)
    if done.stdout.lstrip().startswith('{"type"'):
        run.messages = parse_messages(done.stdout)
    return run


def one_stream(double, **extra) -> dict:
    """The double's flash-call stream only, over one quiet day (a quick run)."""
    return config_for(double, **{"cc_access_key": None, "cc_access_secret": None,
                                 "end_date": "2026-10-02T00:00:00+08:00", **extra})


# --- end to end -------------------------------------------------------------------------------
def test_an_unknown_setting_in_the_config_file_is_one_warning(double, tmp_path):
    run = run_tap(one_stream(double, max_worker=3, colour="blue"), tmp_path)
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == [
        "max_worker: not a setting of tap-nxcloud; did you mean max_workers?",
        "colour: not a setting of tap-nxcloud (tap-nxcloud --about lists them)"]
    assert "Traceback" not in run.stderr


def test_strict_settings_turns_it_into_one_error_line(double, tmp_path):
    run = run_tap(one_stream(double, max_worker=3, strict_settings=True), tmp_path)
    refused(run, "Invalid configuration: max_worker: not a setting of tap-nxcloud; did you mean "
                 "max_workers? (strict_settings)")
    assert double.requests() == []


def test_sdk_settings_are_not_reported_as_unknown(double, tmp_path):
    sdk = {"flattening_enabled": False, "flattening_max_depth": 1, "stream_maps": {},
           "stream_map_config": {}, "faker_config": {}, "add_record_metadata": False,
           "validate_records": True, "emit_activate_version_messages": False}
    run = run_tap(one_stream(double, **sdk), tmp_path)
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == []


def test_unknown_variables_with_config_env(double):
    c = double.credentials
    env = {"TAP_NXCLOUD_API_URL": double.url, "TAP_NXCLOUD_START_DATE": "2026-10-01",
           "TAP_NXCLOUD_END_DATE": "2026-10-01T06:00:00+08:00",
           "TAP_NXCLOUD_FLASH_CALL_APP_KEY": c.flash_call_app_key,
           "TAP_NXCLOUD_FLASH_CALL_APP_SECRET": c.flash_call_app_secret,
           "TAP_NXCLOUD_MAX_WORKER": "3",
           "TAP_NXCLOUD_LOGLEVEL": "INFO",  # the SDK's: not a setting, not reported
           "TAP_NXCLOUD__ACME_CC_ACCESS_KEY": "k"}  # Meltano's, for an inherit_from child
    run = run_env(env)
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == [
        "TAP_NXCLOUD_MAX_WORKER: not a setting of tap-nxcloud; did you mean "
        "TAP_NXCLOUD_MAX_WORKERS?"]
    strict = run_env({**env, "TAP_NXCLOUD_STRICT_SETTINGS": "true"})
    refused(strict, "Invalid configuration: TAP_NXCLOUD_MAX_WORKER: not a setting of "
                    "tap-nxcloud; did you mean TAP_NXCLOUD_MAX_WORKERS? (strict_settings)")


def test_variables_are_not_checked_without_config_env(double, tmp_path):
    """Meltano passes a config file (not ENV) and sets variables of its own: not settings."""
    run = run_tap(one_stream(double), tmp_path, env={"TAP_NXCLOUD_MAX_WORKER": "3"})
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == []


def test_a_misspelled_secret_is_named_and_its_value_never_shown(double, tmp_path):
    config = {**one_stream(double), "sms_app_key": "some-key", "sms_app_secert": SECRET}
    run = run_tap(config, tmp_path)
    refused(run, "Invalid configuration: sms_app_secert looks like a misspelling of "
                 "sms_app_secret: sms_app_key is set but sms_app_secret is not; set both or "
                 "neither")
    assert SECRET not in run.stderr + run.stdout
    assert double.requests() == []


def test_a_misspelled_secret_alone_is_a_warning_without_its_value(double, tmp_path):
    run = run_tap({**one_stream(double), "cc_access_secert": SECRET}, tmp_path)
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == [
        "cc_access_secert: not a setting of tap-nxcloud; did you mean cc_access_secret?"]
    assert SECRET not in run.stderr + run.stdout


def test_a_misspelled_required_setting_is_named(double, tmp_path):
    config = one_stream(double)
    config["start_dat"] = config.pop("start_date")
    refused(run_tap(config, tmp_path), "Invalid configuration: start_dat looks like a "
                                       "misspelling of start_date: start_date is required")


def _accounts_config(double, **entry) -> dict:
    c = double.credentials
    return {"api_url": double.url, "start_date": "2026-10-01",
            "end_date": "2026-10-01T06:00:00+08:00", "backoff_base_seconds": 0.05,
            "accounts": [{"name": "acme", "flash_call_app_key": c.flash_call_app_key,
                          "flash_call_app_secret": c.flash_call_app_secret, **entry}]}


def test_an_unknown_key_of_an_accounts_entry_is_one_warning(double, tmp_path):
    run = run_tap(_accounts_config(double, flash_call_api_ur="http://x", note="prod"), tmp_path)
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == [
        "accounts[0] (acme): flash_call_api_ur: not a field of an accounts entry; did you mean "
        "flash_call_api_url?",
        "accounts[0] (acme): note: not a field of an accounts entry (tap-nxcloud --about lists "
        "them)"]
    strict = run_tap({**_accounts_config(double, note="prod"), "strict_settings": True},
                     tmp_path)
    refused(strict, "Invalid configuration: accounts[0] (acme): note: not a field of an "
                    "accounts entry (tap-nxcloud --about lists them) (strict_settings)")


def test_a_misspelled_secret_in_an_accounts_entry(double, tmp_path):
    config = _accounts_config(double, cc_access_key="k", cc_access_secert=SECRET)
    run = run_tap(config, tmp_path)
    refused(run, "Invalid configuration: accounts[0] (acme): cc_access_secert looks like a "
                 "misspelling of cc_access_secret: cc_access_key is set but cc_access_secret "
                 "is not")
    assert SECRET not in run.stderr + run.stdout


def test_a_future_start_date_is_one_warning(double, tmp_path):
    start = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    config = one_stream(double, start_date=start, end_date=None)
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    assert lines(run, "WARNING") == [
        f"start_date {start} is in the future: there is nothing to read yet"]
    assert run.records("flash_call_cdrs") == []
    assert "Traceback" not in run.stderr


@pytest.mark.integration
def test_an_unknown_setting_through_meltano(double, tmp_path):
    """Meltano hands the tap a config file holding every setting it has a value for, custom
    ones (`meltano config set tap-nxcloud max_worker 3`) included: the same WARNING."""
    c = double.credentials
    config = {"api_url": double.url, "start_date": "2026-10-01",
              "end_date": "2026-10-01T06:00:00+08:00",
              "flash_call_app_key": c.flash_call_app_key, "max_worker": 3,
              "flash_call_app_secert": SECRET}  # a misspelled secret, stored as text
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump({
        "requires_meltano": ">=4.4,<5", "default_environment": "dev",
        "send_anonymous_usage_stats": False, "project_id": "tap-nxcloud-mistakes",
        "environments": [{"name": "dev"}],
        "plugins": {"extractors": [{
            "name": "tap-nxcloud", "namespace": "tap_nxcloud", "executable": TAP,
            "settings": [{"name": n, "kind": "string"} for n in config if n != "max_worker"],
            "config": config}]}}))
    done = subprocess.run([str(Path(TAP).parent / "meltano"), "invoke", "tap-nxcloud"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ,
                                            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"})
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert out.count("max_worker: not a setting of tap-nxcloud; did you mean max_workers?") == 1
    assert out.count("Invalid configuration: flash_call_app_secert looks like a misspelling of "
                     "flash_call_app_secret: flash_call_app_key is set but "
                     "flash_call_app_secret is not; set both or neither") == 1
    assert SECRET not in out and "Traceback" not in out
    assert double.requests() == []


# --- units ------------------------------------------------------------------------------------
BASE = {"start_date": "2026-10-01", "cc_access_key": "k", "cc_access_secret": "s"}


@pytest.mark.parametrize(("name", "guess"), [
    ("max_worker", "max_workers"), ("MAX_WORKERS", "max_workers"), ("max-workers", "max_workers"),
    ("sms_app_secert", "sms_app_secret"), ("api_ur", "api_url"), ("max_retry", "max_retries"),
    ("timezon", "timezone"), ("flatening_enabled", "flattening_enabled"), ("colour", None),
    ("tz", None)])
def test_closest(name, guess):
    assert closest(name, KNOWN) == guess


def test_the_sdk_settings_come_from_the_installed_sdk():
    assert {"stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
            "flattening_max_depth", "batch_config", "add_record_metadata"} <= SDK_SETTINGS
    assert "max_workers" not in SDK_SETTINGS and "max_workers" in SCHEMA["properties"]


def test_unknown_variables_skip_the_sdk_and_meltano_ones():
    env = {"TAP_NXCLOUD_LOGLEVEL": "DEBUG", "TAP_NXCLOUD__SELECT": "[]", "PATH": "/bin",
           "TAP_NXCLOUD_START_DATE": "2026-01-01", "TAP_NXCLOUD_FLATTENING_ENABLED": "true",
           "TAP_NXCLOUD_MAX_WORKER": "2"}
    assert [str(u) for u in S.unknown_settings({}, env)] == [
        "TAP_NXCLOUD_MAX_WORKER: not a setting of tap-nxcloud; did you mean "
        "TAP_NXCLOUD_MAX_WORKERS?"]


def test_misnamed_secrets_are_registered_for_masking():
    config = {**BASE, "sms_app_secert": "x1-secret", "max_worker": 3,
              "accounts": None}
    assert S.misnamed_secrets(config) == ["x1-secret"]
    entry = {"name": "a", "cc_access_key": "k", "cc_acess_secret": "y2-secret"}
    assert S.misnamed_secrets({"accounts": [entry]}) == ["y2-secret"]


def test_every_setting_acted_on_is_a_typed_field():
    s = parse({**BASE, "end_date": "2026-10-02", "fail_on_mismatch": True,
               "reconcile_tolerance": 3, "cc_direction": 2, "lookback_minutes": 5,
               "ai_agent_biz_type": "8", "strict_settings": False})
    assert (s.end_date_set, s.fail_on_mismatch, s.reconcile_tolerance, s.strict_settings) == (
        True, True, 3, False)
    assert s.request_filters == {"cc_direction": 2}
    assert s.lookback_minutes["lookback_minutes"] == 5
    assert s.options["ai_agent_biz_type"] == "8"
    assert s.options["ai_agent_action"] == "nxai"  # the default
    defaults = parse(BASE)
    assert (defaults.end_date_set, defaults.fail_on_mismatch, defaults.reconcile_tolerance) == (
        False, False, 0)
    assert defaults.request_filters == {}
    assert not hasattr(s, "value")  # one way to read a setting: its typed field


@pytest.mark.parametrize(("config", "says"), [
    ({"fail_on_mismatch": "yes"}, "fail_on_mismatch must be true or false"),
    ({"strict_settings": 1}, "strict_settings must be true or false"),
    ({"reconcile_tolerance": -1}, "reconcile_tolerance must not be negative"),
    ({"lookback_minutes": -5}, "lookback_minutes must not be negative"),
    ({"ai_agent_biz_type": 8}, "ai_agent_biz_type must be a string"),
])
def test_typed_fields_are_checked_where_declared(config, says):
    with pytest.raises(ConfigError, match=says):
        parse({**BASE, **config})


def test_a_future_start_date_and_its_warning():
    now = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    s = parse({**BASE, "start_date": "2026-11-01"}, now=now)
    assert s.warnings == ("start_date 2026-11-01 is in the future: there is nothing to read yet",)
    assert parse(BASE, now=now).warnings == ()


def test_meltano_yml_declares_every_secret_sensitive():
    """`meltano config set` stores a sensitive setting in .env, anything else in meltano.yml as
    plain text: every secret the tap knows (and `accounts`, which holds them) is sensitive."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-nxcloud")
    declared = {s["name"]: s for s in tap["settings"]}
    for name in (*S.SECRETS, "accounts"):
        assert declared[name].get("sensitive") is True or declared[name]["kind"] == "password", \
            name
