"""Dagster code location: the Meltano project's jobs and schedules as Dagster jobs and schedules.

    dagster dev -f orchestrate/definitions.py      # from the project root (README: Dagster)

elt-dagster-meltano reads `meltano job list` and `meltano schedule list` when this module loads:
each Meltano job becomes a Dagster job whose ops run `meltano run <task> --force` in the project
directory, and each job-type schedule becomes a Dagster schedule (cron in UTC, created running).
"""

from __future__ import annotations

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

_loaded = load_jobs_from_meltano_project(str(PROJECT_DIR))

defs = Definitions(
    jobs=[d for d in _loaded if isinstance(d, JobDefinition)],
    schedules=[d for d in _loaded if isinstance(d, ScheduleDefinition)],
)
