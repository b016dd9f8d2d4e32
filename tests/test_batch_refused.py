"""Issue 29: the tap does not declare BATCH, yet singer-sdk hands it `batch_config` from its
config and writes broken files (rows the tap already encoded end up as JSON strings). The setting
is refused before any request, in one line saying why."""

from __future__ import annotations

import json
import subprocess

import pytest

from tap_nxcloud.settings import BATCH_REFUSED, ConfigError, parse

from .conftest import TAP, config_for, run_tap
from .test_settings_mistakes import refused, run_env

BATCH = {"encoding": {"format": "jsonl", "compression": "gzip"},
         "storage": {"root": "file:///tmp/tap-nxcloud-batches"}}
LINE = ("Invalid configuration: batch_config: tap-nxcloud writes RECORD messages, not BATCH "
        "files: its rows are already encoded as the lines it writes (README: Memory), which "
        "BATCH files would hold as JSON strings; remove batch_config")


def test_batch_config_in_the_config_file_is_refused(double, tmp_path):
    run = run_tap(config_for(double, batch_config=BATCH), tmp_path)
    refused(run, LINE)
    assert double.requests() == []
    assert run.stdout == ""


def test_batch_config_from_the_environment_is_refused(double):
    c = double.credentials
    run = run_env({"TAP_NXCLOUD_API_URL": double.url, "TAP_NXCLOUD_START_DATE": "2026-10-01",
                   "TAP_NXCLOUD_CC_ACCESS_KEY": c.cc_access_key,
                   "TAP_NXCLOUD_CC_ACCESS_SECRET": c.cc_access_secret,
                   "TAP_NXCLOUD_BATCH_CONFIG": json.dumps(BATCH)})
    refused(run, LINE)
    assert double.requests() == []


def test_the_tap_does_not_declare_batch():
    about = json.loads(subprocess.run([TAP, "--about", "--format=json"], capture_output=True,
                                      text=True, check=True).stdout)
    assert "batch" not in about["capabilities"]
    assert "batch_config" not in about["settings"]["properties"]


def test_refused_even_alongside_other_mistakes():
    with pytest.raises(ConfigError) as caught:
        parse({"start_date": "2026-10-01", "batch_config": BATCH})
    assert str(caught.value).startswith(BATCH_REFUSED + "; no credentials")
