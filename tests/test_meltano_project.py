"""A Meltano user's whole path, from the README's "Add tap-nxcloud to your Meltano project":
a fresh `meltano init` project, the README's plugin block pasted in, `meltano install`, settings
through `meltano config set` (the secret to .env, never meltano.yml) and TAP_NXCLOUD_* variables,
then `meltano run tap-nxcloud target-jsonl` against the API double loads every row."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import BIN

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(BIN / "meltano")
START, END = "<!-- meltano-plugin:start -->", "<!-- meltano-plugin:end -->"
ROWS = 300

pytestmark = pytest.mark.integration


def _readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(START) + r"\n```yaml\n(.*?)```\n" + re.escape(END), text, re.S)
    assert found, "README.md lacks the meltano-plugin block"
    return found.group(1)


def _jsonl_loader() -> str:
    """The project's own inline target-jsonl (meltano.yml), as a `loaders:` list."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-jsonl")
    assert loader["pip_url"] == "target-jsonl==0.1.4"
    body = yaml.safe_dump([loader], sort_keys=False, default_flow_style=False)
    return "  loaders:\n" + "".join(f"  {line}\n" for line in body.splitlines())


@pytest.fixture
def double():
    """The API double as a user starts it: the console command, its first line a tap config."""
    proc = subprocess.Popen([str(BIN / "nxcloud-double"), "--port", "0", "--flash-rows",
                             str(ROWS), "--cc-rows", str(ROWS), "--span-days", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_readme_plugin_block_in_a_fresh_meltano_project(tmp_path, double):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MELTANO_", "TAP_NXCLOUD_", "TARGET_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    project = tmp_path / "project"

    def meltano(*args: str, cwd: Path = project, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([MELTANO, *args], cwd=cwd, env={**env, **extra},
                              capture_output=True, text=True, check=False, timeout=900)
        assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    meltano("init", "--no-usage-stats", "project", cwd=tmp_path)
    # The README's block as a user pastes it; only pip_url points at this checkout, since the
    # published one does not exist yet.
    block, count = re.subn(r"^(    pip_url: ).*$", lambda m: f"{m.group(1)}-e {ROOT}",
                           _readme_block(), count=1, flags=re.M)
    assert count == 1
    meltano_yml = project / "meltano.yml"
    with meltano_yml.open("a", encoding="utf-8") as out:
        out.write(block + _jsonl_loader())
    meltano("install")

    config = double["config"]
    secret = config["cc_access_secret"]
    done = meltano("config", "set", "tap-nxcloud", "cc_access_secret", secret)
    assert "Unknown setting" not in done.stdout + done.stderr
    assert f"TAP_NXCLOUD_CC_ACCESS_SECRET='{secret}'" in (project / ".env").read_text()
    assert secret not in meltano_yml.read_text()
    for name in ("start_date", "cc_access_key", "api_url"):
        done = meltano("config", "set", "tap-nxcloud", name, config[name])
        assert "Unknown setting" not in done.stdout + done.stderr, name
    for name, value in (("flattening_enabled", "true"), ("flattening_max_depth", "1")):
        done = meltano("config", "set", "tap-nxcloud", name, value)
        assert "Unknown setting" not in done.stdout + done.stderr, name
    stored = yaml.safe_load(meltano_yml.read_text())["plugins"]["extractors"][0]["config"]
    assert stored["flattening_enabled"] is True
    assert stored["flattening_max_depth"] == 1
    assert "cc_access_secret" not in stored

    output = tmp_path / "output"
    run_env = {
        "TAP_NXCLOUD_FLASH_CALL_APP_KEY": config["flash_call_app_key"],
        "TAP_NXCLOUD_FLASH_CALL_APP_SECRET": config["flash_call_app_secret"],
        "TAP_NXCLOUD_END_DATE": double["windows"]["cc_cdrs"][1],
        "TAP_NXCLOUD_MAX_WORKERS": "2",
        "TAP_NXCLOUD_CC_DIRECTION": "0",  # all calls; an integer from the environment
        "TAP_NXCLOUD_STREAM_MAPS": '{"cc_cdrs": {"agentNickName": "__NULL__"}}',
        "TARGET_JSONL_DESTINATION_PATH": str(output),
    }
    printed = json.loads(meltano("config", "print", "tap-nxcloud", **run_env).stdout)
    assert printed["flattening_enabled"] is True and printed["cc_direction"] == 0
    assert printed["max_workers"] == 2 and printed["cc_access_secret"] != secret  # redacted
    assert printed["stream_maps"] == {"cc_cdrs": {"agentNickName": "__NULL__"}}

    output.mkdir()
    meltano("run", "tap-nxcloud", "target-jsonl", **run_env)
    rows = {}
    for stream, key, count in (("flash_call_cdrs", "id", "flash_rows"),
                               ("cc_cdrs", "callId", "cc_rows")):
        lines = (output / f"{stream}.jsonl").read_text().splitlines()
        rows[stream] = [json.loads(line) for line in lines]
        assert len(lines) == double[count] == ROWS, stream
        assert len({r[key] for r in rows[stream]}) == ROWS, stream
    assert not any("agentNickName" in r for r in rows["cc_cdrs"])  # the stream map applied
    assert all("agentName" in r for r in rows["cc_cdrs"])
    assert sorted(p.name for p in output.iterdir()) == [
        "cc_cdrs.jsonl", "flash_call_cdrs.jsonl", "sync_audit.jsonl"]  # and the run's audit
    audit = [json.loads(line) for line in (output / "sync_audit.jsonl").read_text().splitlines()]
    assert {s: sum(r["rows"] for r in audit if r["stream"] == s) for s in rows} == dict.fromkeys(
        rows, ROWS)
