"""A plain (non-editable) `pip install .` ships the schemas and works outside the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tomllib

from tap_nxcloud.streams import STREAMS

from .conftest import config_for

ROOT = Path(__file__).resolve().parent.parent


def test_plain_pip_install_ships_schemas_and_syncs(loaded, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target), str(ROOT)],
                   check=True, capture_output=True)
    shipped = sorted(p.name for p in (target / "tap_nxcloud" / "schemas").glob("*.json"))
    assert shipped == sorted(f"{name}.json" for name in (*(s.name for s in STREAMS), "sync_audit"))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_for(loaded)))
    # run from an empty folder with the installed copy first on the path, not the checkout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import tap_nxcloud, sys; assert tap_nxcloud.__file__.startswith(sys.argv[1]), "
            "tap_nxcloud.__file__; sys.argv = ['tap-nxcloud', '--config', sys.argv[2]]; "
            "from tap_nxcloud.cli import main; main()")
    run = subprocess.run([sys.executable, "-c", code, str(target), str(config)], cwd=elsewhere,
                         env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    records = [m for m in map(json.loads, run.stdout.splitlines()) if m["type"] == "RECORD"]
    assert len([m for m in records if m["stream"] != "sync_audit"]) == 3000
    # the audit says which version ran: the installed one's, from its metadata
    assert {m["record"]["tap_version"] for m in records if m["stream"] == "sync_audit"} == {
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]}
