"""Dagster code location: the Meltano project's jobs and schedules as Dagster jobs and schedules.

    dagster dev -f orchestrate/definitions.py      # from the project root (README: Dagster)

elt-dagster-meltano reads `meltano job list` and `meltano schedule list` when this module loads:
each Meltano job becomes a Dagster job whose ops run `meltano run <task> --force` in the project
directory, and each job-type schedule becomes a Dagster schedule (cron in UTC, created running).
With an accounts file (NXCLOUD_ACCOUNTS_FILE), accounts.py adds the job `nxcloud_accounts`: one
partition per account, each a run of the tap for that account alone under its own state ID.
alarms.py adds an asset per account (`nxcloud/<account>`) with its checks on sync_audit
(reconciled, retention_margin, fresh, nothing_lost), the job `nxcloud_alarms` that runs them and
its two sensors (docs/operations.md "Alarms").
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

# Set before dagster_meltano is imported: its resource takes the project directory from it.
PROJECT_DIR = Path(os.environ.setdefault("MELTANO_PROJECT_ROOT",
                                         str(Path(__file__).resolve().parent.parent)))

# Both the loading and every op run `meltano` from PATH: find the one installed beside this
# interpreter when its virtualenv is not activated (`.venv/bin/dagster dev`).
if shutil.which("meltano") is None:
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                          os.environ.get("PATH", "")])

from dagster import Definitions, JobDefinition, ScheduleDefinition  # noqa: E402
from dagster_meltano import load_jobs_from_meltano_project  # noqa: E402


def _accounts_module():
    """orchestrate/accounts.py, imported by its path (whatever sys.path holds), once a process."""
    name = "nxcloud_orchestrate_accounts"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("accounts.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_loaded = load_jobs_from_meltano_project(str(PROJECT_DIR))
_account_jobs, _account_schedules = _accounts_module().definitions()
_alarms = _accounts_module().alarms_module().definitions(_accounts_module().account_names())

defs = Definitions(
    assets=_alarms.assets,
    asset_checks=_alarms.asset_checks,
    jobs=[d for d in _loaded if isinstance(d, JobDefinition)] + _account_jobs + _alarms.jobs,
    schedules=[d for d in _loaded if isinstance(d, ScheduleDefinition)] + _account_schedules,
    sensors=_alarms.sensors,
)
