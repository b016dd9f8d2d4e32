"""A Meltano user's whole project, equipped from the documents alone (issue 26).

This repository is cloned at its last commit (what a user's pip and dbt fetch from git: changes
not committed yet are not in it). A fresh `meltano init` project gets, with the repository's URL
replaced by the clone's and nothing else changed:

- the README's plugin block (the tap, pip from git), and right below it the block of
  docs/warehouse.md "In a Meltano project of your own": target-duckdb as the exact loader (pip
  from git, `#subdirectory=loaders/target-duckdb-exact`), target-postgres tuned and with
  PGTZ=UTC, the dbt-duckdb and dbt-postgres transformers;
- the three dbt files that section shows, in the project's transform/: packages.yml (the models
  as a git package, `subdirectory: transform`), dbt_project.yml, profiles.yml.

Then the README's commands: `meltano install`, `meltano invoke dbt-duckdb:deps`, the tap's
settings through `meltano config set` and TAP_NXCLOUD_* variables, and `meltano run tap-nxcloud
target-duckdb dbt-duckdb:build` against the API double: every stream's rows land in DuckDB and
every model and data test of the package passes. In the same project, `meltano run tap-nxcloud
target-postgres dbt-postgres:build` on a throwaway PostgreSQL server whose zone is not UTC (skipped
without the server binaries, except in CI: conftest's `postgres`).

Plugins install through Meltano's uv and its usual cache, as in test_meltano_project.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tap_nxcloud.streams import STREAMS

from .conftest import BIN

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(BIN / "meltano")
# The repository's public URL as the documents spell it (scripts/hub_definition.py's REPO).
REPO_URL = "https://github.com/tap-nxcloud/tap-nxcloud.git"
PROJECT_FILES = {"transform/packages.yml", "transform/dbt_project.yml", "transform/profiles.yml"}
# Rows of the double by its --<alias>-rows options (as test_dbt.py: small, every stream).
ROWS = {"flash": 240, "cc": 240, "sms": 240, "voice": 120, "sip": 60, "did": 160, "email": 150,
        "cc_agent": 12, "cc_group": 4, "ai_task": 6, "ai_call": 300}
CHANNEL_STREAMS = ("flash_call_cdrs", "cc_cdrs", "sms_cdrs", "voice_cdrs", "sip_cdrs",
                   "did_cdrs", "email_cdrs", "ai_agent_calls")
OWN_VARIABLES = ("MELTANO_", "TAP_NXCLOUD_", "TARGET_", "DBT_")


def _block(text: str, start: str, end: str) -> str:
    found = re.search(re.escape(start) + r"\n```yaml\n(.*?)```\n" + re.escape(end), text, re.S)
    assert found, f"no {start} ... {end} block"
    return found.group(1)


@dataclass
class Documents:
    """What a user copies, read from the clone: blocks, files and the README's commands."""
    plugins: str  # the README's block, then docs/warehouse.md's, as pasted one below the other
    files: dict[str, str]
    commands: str


def _documents(clone: Path) -> Documents:
    readme = (clone / "README.md").read_text(encoding="utf-8")
    warehouse = (clone / "docs" / "warehouse.md").read_text(encoding="utf-8")
    tap = _block(readme, "<!-- meltano-plugin:start -->", "<!-- meltano-plugin:end -->")
    rest = _block(warehouse, "<!-- meltano-warehouse:start -->", "<!-- meltano-warehouse:end -->")
    files = dict(re.findall(r"<!-- project-file:(\S+) -->\n```yaml\n(.*?)```\n"
                            r"<!-- project-file:end -->", warehouse, re.S))
    assert set(files) == PROJECT_FILES
    section = readme.split("## Add tap-nxcloud to your Meltano project", 1)[1].split("\n## ")[0]
    assert "docs/warehouse.md#in-a-meltano-project-of-your-own" in section
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return Documents(tap + rest, files, commands)


def _local(text: str, clone: Path) -> str:
    """A document's text with the repository's URL replaced by the clone's, as the README says."""
    assert REPO_URL in text
    return text.replace(REPO_URL, f"file://{clone}")


@dataclass
class Project:
    root: Path
    env: dict
    install_seconds: float

    def meltano(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([MELTANO, *args], cwd=self.root, env={**self.env, **extra},
                              capture_output=True, text=True, check=False, timeout=900)
        assert done.returncode == 0, (f"meltano {' '.join(args)}:\n"
                                      f"{done.stdout[-3000:]}{done.stderr[-6000:]}")
        return done

    def python(self, plugin: str) -> str:
        return str(self.root / ".meltano" / plugin / "venv" / "bin" / "python")


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """This repository at HEAD, cloned, with `main` there (the README's `revision: main`,
    whatever branch or detached HEAD the checkout is on)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if head.returncode != 0:
        pytest.skip("not a git checkout: the project installs the tap and its models from git")
    dest = tmp_path_factory.mktemp("clone") / "tap-nxcloud"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)],
                   check=True, capture_output=True, timeout=300)
    subprocess.run(["git", "checkout", "--quiet", "-B", "main", head.stdout.strip()], cwd=dest,
                   check=True, capture_output=True)
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory, clone) -> Project:
    """A fresh `meltano init` project equipped from the documents, installed."""
    base = tmp_path_factory.mktemp("user-project")
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    env.update({"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "UV_COMPILE_BYTECODE": "1",
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    done = subprocess.run([MELTANO, "init", "--no-usage-stats", "project"], cwd=base, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    root = base / "project"
    docs = _documents(clone)
    meltano_yml = root / "meltano.yml"
    assert "plugins:" not in meltano_yml.read_text()  # a fresh project: the blocks open it
    with meltano_yml.open("a", encoding="utf-8") as out:
        out.write(_local(docs.plugins, clone))
    for name, text in docs.files.items():
        (root / name).write_text(_local(text, clone) if REPO_URL in text else text,
                                 encoding="utf-8")
    plugins = yaml.safe_load(meltano_yml.read_text())["plugins"]
    assert {t: [p["name"] for p in plugins[t]] for t in plugins} == {
        "extractors": ["tap-nxcloud"], "loaders": ["target-duckdb", "target-postgres"],
        "transformers": ["dbt-duckdb", "dbt-postgres"]}

    started = time.monotonic()
    user = Project(root, env, 0.0)
    for line in ("meltano install", "meltano invoke dbt-duckdb:deps"):
        assert re.search(rf"^{re.escape(line)}(\s|$)", docs.commands, re.M), line
        user.meltano(*line.split()[1:])
    user.install_seconds = time.monotonic() - started
    return user


@pytest.fixture(scope="module")
def double():
    """The API double as the demo starts it: every stream, two days up to today's midnight."""
    proc = subprocess.Popen(
        [str(BIN / "nxcloud-double"), "--port", "0", "--span-days", "2", "--seed", "26",
         *[arg for name, n in ROWS.items()
           for arg in (f"--{name.replace('_', '-')}-rows", str(n))]],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def configured(project, double) -> dict:
    """The tap's settings as the README sets them: `meltano config set` (the secret to .env),
    the rest from TAP_NXCLOUD_* variables; returns those variables."""
    config = double["config"]
    for name in ("start_date", "cc_access_key", "cc_access_secret", "api_url"):
        project.meltano("config", "set", "tap-nxcloud", name, config[name])
    assert config["cc_access_secret"] in (project.root / ".env").read_text()
    assert config["cc_access_secret"] not in (project.root / "meltano.yml").read_text()
    run_env = {f"TAP_NXCLOUD_{k.upper()}": str(v) for k, v in config.items()
               if k not in ("start_date", "cc_access_key", "cc_access_secret", "api_url")}
    run_env["TAP_NXCLOUD_END_DATE"] = double["windows"]["flash_call_cdrs"][1]
    return run_env


def _installed_from(project: Project, plugin: str, distribution: str) -> dict:
    """PEP 610's record of where pip/uv took a distribution from."""
    found = list((project.root / ".meltano" / plugin / "venv").glob(
        f"lib/python*/site-packages/{distribution}-*.dist-info/direct_url.json"))
    assert len(found) == 1, (plugin, distribution)
    return json.loads(found[0].read_text())


def _window_utc(double: dict) -> tuple[dt.datetime, dt.datetime]:
    start, end = (dt.datetime.fromisoformat(t) for t in double["windows"]["flash_call_cdrs"])
    return (start.astimezone(dt.UTC).replace(tzinfo=None),
            end.astimezone(dt.UTC).replace(tzinfo=None))


def _assert_dbt_passed(output: str, plugin: str) -> None:
    assert re.search(rf"{plugin}.*Completed successfully", output), output[-3000:]
    done = re.search(rf"{plugin}.*Done\. PASS=(\d+) WARN=\d+ ERROR=(\d+) SKIP=(\d+)", output)
    assert done, output[-3000:]
    passed, errors, skipped = (int(g) for g in done.groups())
    assert errors == 0 and skipped == 0 and passed > 100, done.group(0)


DUCK = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
out = {}
for schema, table in con.execute("select table_schema, table_name from information_schema.tables "
                                 "where table_catalog = 'nxcloud'").fetchall():
    out[schema + "." + table] = con.execute(
        f'select count(*) from nxcloud."{schema}"."{table}"').fetchone()[0]
low, high = con.execute("select min(gmtcreate), max(gmtcreate) "
                        "from nxcloud.nxcloud.flash_call_cdrs").fetchone()
out["flash_gmtcreate"] = [low.isoformat(), high.isoformat()]
print(json.dumps(out))
"""


def test_a_fresh_project_loads_duckdb_and_builds_the_package(project, double, configured, clone):
    # what got installed: the tap and the exact loader from the clone's last commit, and the
    # models' package from the same commit
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True,
                          text=True, check=True).stdout.strip()
    tap = _installed_from(project, "extractors/tap-nxcloud", "tap_nxcloud")
    assert (tap["url"], tap["vcs_info"]["commit_id"]) == (f"file://{clone}", head)
    assert "subdirectory" not in tap
    loader = _installed_from(project, "loaders/target-duckdb", "target_duckdb_exact")
    assert (loader["url"], loader["vcs_info"]["commit_id"]) == (f"file://{clone}", head)
    assert loader["subdirectory"] == "loaders/target-duckdb-exact"
    lock = yaml.safe_load((project.root / "transform" / "package-lock.yml").read_text())
    assert [(p["git"], p["subdirectory"], p["name"], p["revision"])
            for p in lock["packages"]] == [(f"file://{clone}", "transform", "nxcloud", head)]

    line = "meltano run tap-nxcloud target-duckdb dbt-duckdb:build"
    assert re.search(rf"^{re.escape(line)}(\s|$)", _documents(clone).commands, re.M), line
    started = time.monotonic()
    done = project.meltano(*line.split()[1:], **configured)
    seconds = time.monotonic() - started
    _assert_dbt_passed(done.stdout + done.stderr, "dbt-duckdb")

    path = project.root / "output" / "nxcloud.duckdb"  # the loader's and the profile's default
    read = subprocess.run([project.python("transformers/dbt-duckdb"), "-c", DUCK, str(path)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert read.returncode == 0, read.stderr
    counts = json.loads(read.stdout)
    for spec in STREAMS:
        assert counts.get(f"nxcloud.{spec.name}") == double["rows"][spec.name], spec.name
        assert f"analytics_staging.stg_nxcloud__{spec.name}" in counts, spec.name
    assert counts["analytics.communications"] == sum(double["rows"][s] for s in CHANNEL_STREAMS)
    assert counts["analytics.daily_usage"] > 0
    # date-times landed as UTC instants: inside the double's window, read in UTC
    low, high = _window_utc(double)
    first, last = (dt.datetime.fromisoformat(t) for t in counts["flash_gmtcreate"])
    assert low <= first <= last < high
    print(f"user project: install + dbt deps {project.install_seconds:.0f} s, "
          f"tap -> target-duckdb -> dbt build {seconds:.0f} s")


def test_the_same_project_loads_postgres_and_builds_the_package(project, double, configured,
                                                                postgres):
    port, psql = postgres
    printed = json.loads(project.meltano("config", "print", "target-postgres").stdout)
    assert printed["validate_records"] is False
    assert printed["sanitize_null_text_characters"] is True
    connection = {"TARGET_POSTGRES_PORT": str(port), "TARGET_POSTGRES_USER": "postgres",
                  "TARGET_POSTGRES_PASSWORD": "unused", "TARGET_POSTGRES_DATABASE": "postgres"}
    started = time.monotonic()
    done = project.meltano("run", "tap-nxcloud", "target-postgres", "dbt-postgres:build",
                           **configured, **connection)
    seconds = time.monotonic() - started
    _assert_dbt_passed(done.stdout + done.stderr, "dbt-postgres")

    for spec in STREAMS:
        assert psql(f"SELECT count(*) FROM nxcloud.{spec.name}") == [
            [str(double["rows"][spec.name])]], spec.name
        assert psql(f"SELECT count(*) >= 0 FROM analytics_staging.stg_nxcloud__{spec.name}") == [
            ["t"]], spec.name
    assert psql("SELECT count(*) FROM analytics.communications") == [
        [str(sum(double["rows"][s] for s in CHANNEL_STREAMS))]]
    # PGTZ=UTC from the loader's definition: the server's zone is America/New_York, yet the
    # timestamps hold UTC (local wall-clock times would lie hours before the window)
    assert psql("SHOW timezone") == [["America/New_York"]]
    low, high = _window_utc(double)
    first, last = (dt.datetime.fromisoformat(t) for t in psql(
        'SELECT min("gmtCreate"), max("gmtCreate") FROM nxcloud.flash_call_cdrs')[0])
    assert low <= first <= last < high
    print(f"user project: tap -> target-postgres -> dbt build {seconds:.0f} s")
