"""Scale-out on Dagster: one partition per NXCloud account, each partition one run of the tap for
that account alone, under a Meltano state ID of its own (README: "More than one machine").

    NXCLOUD_ACCOUNTS_FILE=/secrets/nxcloud-accounts.json dagster dev -f orchestrate/definitions.py

The partitions are the `name`s of the accounts file (the tap's `accounts_file`: a JSON list of
`{"name": ..., <credential settings>, <product>_api_url}`), read when the code location loads;
only the names (partition keys, tags, logs) and whether an entry has SIP keys leave the file,
never a credential. The run of partition `acme` is, in the Meltano project directory,

    TAP_NXCLOUD_ACCOUNTS_FILE=<file> TAP_NXCLOUD_ONLY_ACCOUNTS='["acme"]' \
      meltano run --no-install --run-id <Dagster run ID> --state-id-suffix acme tap-nxcloud <loader>

so it reads only acme and keeps its bookmarks under `<environment>:tap-nxcloud-to-<loader>:acme`.
Settings, in the environment of the code location and of every run worker:

    NXCLOUD_ACCOUNTS_FILE   the accounts file (else TAP_NXCLOUD_ACCOUNTS_FILE); unset: no job
    NXCLOUD_LOADER          the loader plugin (default target-postgres)
    NXCLOUD_ACCOUNTS_CRON   each account's schedule, `{minute}` its own minute of the hour
                            (default "{minute} * * * *"); the schedules are created stopped

When more accounts are due than the run queue lets run at once (orchestrate/dagster.yaml: 4), the
account closest to losing records goes first: from the latest sync_audit rows of the warehouse
(alarms.py), each account's smallest retention margin now; the partitions are listed in that
order (a backfill of all of them queues them so) and each run gets `dagster/priority`, which the
queue dequeues by, highest first. Accounts without a margin (never synced, or no stream with a
stated retention) keep the file's order after the others; with no sync_audit to read, the order
is the file's, as before.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from dagster import (
    DefaultScheduleStatus,
    Failure,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    job,
    op,
    schedule,
    static_partitioned_config,
)

FILE_VARIABLES = ("NXCLOUD_ACCOUNTS_FILE", "TAP_NXCLOUD_ACCOUNTS_FILE")
EXTRACTOR = "tap-nxcloud"
JOB_NAME = "nxcloud_accounts"
# Run tags the instance's run queue limits (orchestrate/dagster.yaml): one run per account at a
# time, and a ceiling on account runs at once.
ACCOUNT_TAG = "nxcloud/account"
POOL_TAG, POOL = "nxcloud/pool", "accounts"
SIP_TAG = "nxcloud/sip"
DEFAULT_CRON = "{minute} * * * *"  # each account's schedule: hourly, at a minute of its own
PRIORITY_TAG = "dagster/priority"  # the run queue dequeues the highest first
MARGINS_SECONDS = 60  # how long the margins read from the warehouse are reused
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the tap's rule for an account name (fullmatch)
# A Meltano run, terminated (Dagster's "Terminate"), gets this long to stop its tap and loader.
STOP_SECONDS = 60


class AccountsFileError(ValueError):
    """The accounts file cannot give the partitions (one line, never a file's value but names)."""


def accounts_file(environ: Mapping[str, str] = os.environ) -> Path | None:
    for name in FILE_VARIABLES:
        if environ.get(name):
            return Path(environ[name]).expanduser()
    return None


def read_accounts(path: Path) -> dict[str, bool]:
    """Each account's name (the partition keys, in the file's order) and whether it reads SIP.
    Nothing else of an entry is kept."""
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountsFileError(f"accounts file {path}: cannot read it "
                                f"({exc.strerror or exc})") from None
    except ValueError as exc:
        raise AccountsFileError(f"accounts file {path}: not JSON ({exc})") from None
    if not isinstance(listed, list) or not listed:
        raise AccountsFileError(f"accounts file {path}: must hold a non-empty JSON list")
    accounts: dict[str, bool] = {}
    for i, entry in enumerate(listed):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise AccountsFileError(f"accounts file {path}: entry {i}: name must be 1 to 64 "
                                    "letters, digits, _ or -")
        if name in accounts:
            raise AccountsFileError(f"accounts file {path}: the name {name} is used twice")
        accounts[name] = bool(entry.get("sip_app_key"))
    return accounts


def partition_tags(account: str, reads_sip: bool) -> dict[str, str]:
    """The run tags of an account's partition. NXCloud counts SIP's one request per 2 s per IP and
    the tap paces it within its process only: runs of accounts with SIP keys take turns."""
    return {ACCOUNT_TAG: account, **({SIP_TAG: "reads"} if reads_sip else {})}


def alarms_module():
    """orchestrate/alarms.py, imported by its path (whatever sys.path holds), once a process."""
    name = "nxcloud_orchestrate_alarms"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("alarms.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def order_by_margin(names: Sequence[str], margins: Mapping[str, float | None] | None
                    ) -> list[str]:
    """The accounts, the smallest retention margin first; those without one after them, in
    their own order; all as they are without margins."""
    margins = margins or {}
    known = sorted((n for n in names if margins.get(n) is not None), key=lambda n: margins[n])
    return known + [n for n in names if margins.get(n) is None]


def priorities(names: Sequence[str], margins: Mapping[str, float | None] | None
               ) -> dict[str, int]:
    """`dagster/priority` of each account with a margin: the smallest margin the highest (the
    number of such accounts), down to 1; accounts without one: 0, the queue's default."""
    known = [n for n in order_by_margin(names, margins) if (margins or {}).get(n) is not None]
    return {n: len(known) - i for i, n in enumerate(known)}


class Margins:
    """Each account's smallest retention margin now, read from the warehouse at most once a
    MARGINS_SECONDS (a backfill asks for every partition's tags at once); `read` gives None when
    sync_audit cannot be read."""

    def __init__(self, read: Callable[[], Mapping[str, float | None] | None],
                 seconds: float = MARGINS_SECONDS) -> None:
        self._read, self._seconds = read, seconds
        self._at, self._value = -float("inf"), None

    def __call__(self) -> Mapping[str, float | None] | None:
        if time.monotonic() - self._at >= self._seconds:
            self._value, self._at = self._read(), time.monotonic()
        return self._value


def loader(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("NXCLOUD_LOADER") or "target-postgres"


def project_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("MELTANO_PROJECT_ROOT") or Path(__file__).resolve().parent.parent)


def meltano_args(account: str, target: str, run_id: str) -> list[str]:
    """`meltano run` for one account. No --force: Meltano itself refuses a second run of the same
    state ID while one is running (its system database, shared by every worker, says so)."""
    return ["run", "--no-install", "--run-id", run_id, "--state-id-suffix", account,
            EXTRACTOR, target]


def private_sys_dir(shared: Path, into: Path) -> Path:
    """A Meltano system directory for one run: the shared one's installed plugins (links), a
    `run/` of its own. Meltano writes each extractor's catalog to the fixed path
    `.meltano/run/<extractor>/tap.properties.json` (meltano/meltano#8763), so two runs of
    tap-nxcloud on one machine sharing a system directory break each other's catalog."""
    if not (shared / "extractors" / EXTRACTOR).is_dir():
        raise Failure(description=f"{EXTRACTOR} is not installed in {shared}: run "
                                  "`meltano install` in the project (MELTANO_SYS_DIR_ROOT) first")
    into.mkdir(parents=True)
    for entry in shared.iterdir():
        if entry.name not in ("run", "logs") and not entry.name.startswith("meltano.db"):
            (into / entry.name).symlink_to(entry)
    return into


def account_env(account: str, environ: Mapping[str, str], sys_dir: Path,
                shared: Path) -> dict[str, str]:
    file = accounts_file(environ)
    if file is None:
        raise Failure(description=f"set {FILE_VARIABLES[0]} (the accounts file) for the run")
    return {**environ, "TAP_NXCLOUD_ACCOUNTS_FILE": str(file),
            "TAP_NXCLOUD_ONLY_ACCOUNTS": json.dumps([account]),
            # the system database stays the shared one (the default is inside the system dir)
            "MELTANO_DATABASE_URI": (environ.get("MELTANO_DATABASE_URI")
                                     or f"sqlite:///{shared}/meltano.db"),
            "MELTANO_SYS_DIR_ROOT": str(sys_dir), "NO_COLOR": "1"}


def run_account(account: str, run_id: str, log, environ: Mapping[str, str] = os.environ) -> None:
    """Run the tap for one account into the loader; its output goes to `log`, line by line."""
    project = project_dir(environ)
    meltano = shutil.which("meltano", path=environ.get("PATH")) or "meltano"
    shared = Path(environ.get("MELTANO_SYS_DIR_ROOT") or project / ".meltano")
    with tempfile.TemporaryDirectory(prefix=f"meltano-{account}-") as private:
        env = account_env(account, environ, private_sys_dir(shared, Path(private) / ".meltano"),
                          shared)
        args = meltano_args(account, loader(environ), run_id)
        log.info(f"account {account}: meltano {' '.join(args)}")
        proc = subprocess.Popen([meltano, *args], cwd=project, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for line in proc.stdout:
                log.info(line.rstrip())
            code = proc.wait()
        finally:  # the run was terminated, or the op failed: stop Meltano and its plugins
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if code:
        raise Failure(description=f"account {account}: meltano run exited with {code}")


@op(tags={"kind": "meltano"},
    description="`meltano run` of tap-nxcloud for the partition's account alone.")
def nxcloud_account_run(context) -> None:  # no annotation: a string one fails Dagster's check
    if not context.has_partition_key:
        raise Failure(description=f"{JOB_NAME} runs one account: launch it for a partition")
    run_account(context.partition_key, context.run_id, context.log)


def _schedule_name(account: str) -> str:
    return f"{JOB_NAME}_{account.replace('-', '_')}_hourly"


def account_schedule(target: JobDefinition, account: str,
                     environ: Mapping[str, str] = os.environ) -> ScheduleDefinition:
    """One schedule per account, at a minute of its own (the accounts do not all start at once);
    stopped until switched on. Per account, not one schedule for all: the instance allows one
    run at a time per schedule (orchestrate/dagster.yaml), which would queue the accounts one
    after the other."""
    minute = zlib.crc32(account.encode()) % 60
    cron = (environ.get("NXCLOUD_ACCOUNTS_CRON") or DEFAULT_CRON).format(minute=minute)

    @schedule(name=_schedule_name(account), job=target, cron_schedule=cron,
              execution_timezone="UTC", default_status=DefaultScheduleStatus.STOPPED,
              description=f"Runs {JOB_NAME} for account {account}.")
    def _account_schedule(_context):
        return RunRequest(partition_key=account)

    return _account_schedule


def account_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The accounts file's names, in its order; none without a file."""
    file = accounts_file(environ)
    return list(read_accounts(file)) if file is not None else []


def definitions(environ: Mapping[str, str] = os.environ,
                margins: Callable[[], Mapping[str, float | None] | None] | None = None
                ) -> tuple[list[JobDefinition], list[ScheduleDefinition]]:
    """The partitioned job and the accounts' schedules; none without an accounts file.
    `margins`: each account's retention margin now (default: read from the warehouse's
    sync_audit, alarms.py), which orders the partitions and sets each run's priority."""
    file = accounts_file(environ)
    if file is None:
        return [], []
    accounts = read_accounts(file)
    schedule_names = {_schedule_name(n) for n in accounts}
    if len(schedule_names) != len(accounts):
        raise AccountsFileError(f"accounts file {file}: two names differ only in - and _")
    if margins is None:
        margins = Margins(lambda: alarms_module().margins(environ))
    names = order_by_margin(list(accounts), margins())

    def tags(key: str) -> dict[str, str]:
        priority = priorities(names, margins()).get(key)
        return {**partition_tags(key, accounts[key]),
                **({PRIORITY_TAG: str(priority)} if priority else {})}

    @static_partitioned_config(partition_keys=names, tags_for_partition_key_fn=tags)
    def per_account(_key: str) -> dict:
        return {}

    @job(name=JOB_NAME, config=per_account, tags={POOL_TAG: POOL},
         description=f"tap-nxcloud into {loader(environ)}, one account a partition, each under "
                     "its own Meltano state ID.")
    def nxcloud_accounts():
        nxcloud_account_run()

    return [nxcloud_accounts], [account_schedule(nxcloud_accounts, n, environ) for n in names]
