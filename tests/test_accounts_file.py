"""`accounts_file` is read once a run (issue 25, the second hostile round): a FIFO (a secret
manager's pipe) and `/dev/fd/N` (bash's `<(...)`) work and are opened once; the secrets
registered for masking are those of that one read; a file larger than
accounts.MAX_FILE_BYTES (1 MiB) ends in one line naming the setting, `/dev/zero` too, without
reading on. The real CLI over every stream, then the sharp parts in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time

import pytest

from nxcloud_double import SETTINGS, ApiDouble
from tap_nxcloud import accounts, redact
from tap_nxcloud.clock import SettingError
from tap_nxcloud.streams import BY_NAME

from .conftest import (
    STREAM_NAMES,
    Run,
    _command,
    key_of,
    load_stream,
    parse_messages,
    stream_config,
    want_records,
)
from .test_hostile import SECRETS, check

ACCOUNT = "acme"


@pytest.fixture
def double():
    with ApiDouble(credentials=SECRETS) as d:
        yield d


def _split(double: ApiDouble, stream: str, path: str) -> tuple[dict, bytes]:
    """The stream's config with its keys and account settings moved to an accounts file at
    `path`, and that file's bytes."""
    config = stream_config(double.url, double, stream)
    spec = BY_NAME[stream]
    moved = (*spec.credentials, *spec.params)
    entry = {"name": ACCOUNT, **{n: config.pop(n) for n in moved}}
    return {**config, "accounts_file": path}, json.dumps([entry]).encode()


class Fifo:
    """A named pipe serving `data` to one reader (as a secret manager's pipe does): a second
    read of the file would wait for a writer that never comes (the run then times out), or, the
    writer gone, read nothing."""

    def __init__(self, path: str, data: bytes) -> None:
        os.mkfifo(path)
        self.path, self.data = path, data
        self.served = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Fifo:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.served:  # never read: let the blocked writer go
            with contextlib.suppress(OSError):
                os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        with contextlib.suppress(OSError), open(self.path, "wb") as pipe:  # waits for the tap
            pipe.write(self.data)
            self.served = True


def _run(cmd: list[str], env: dict, pass_fds=(), timeout: float = 120) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **env},
                                pass_fds=pass_fds)
        try:
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = (f.read().decode(errors="replace") for f in (out, err))
    run = Run(proc.returncode, stdout, stderr, seconds=time.monotonic() - started)
    if stdout.lstrip().startswith('{"type"'):
        run.messages = parse_messages(stdout)
    return run


def _exact(run: Run, double: ApiDouble, stream: str) -> None:
    got = run.records(stream)
    assert got and all(r["account"] == ACCOUNT for r in got)
    keys = [key_of(stream, r) for r in got]
    assert len(keys) == len(set(keys)) and set(keys) == set(want_records(double, stream))


@pytest.mark.parametrize("how", ["fifo", "dev_fd"])
@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_an_accounts_file_from_a_pipe_is_read_once(double, tmp_path, stream, how):
    """A FIFO and bash's /dev/fd/N, which can be read once: the run ends (a second read would
    wait for ever, or read nothing), exact, its secrets masked in every line at DEBUG (the
    flash-call secret is in the URLs urllib3 logs)."""
    load_stream(double, stream, 30, seed=51)
    env = {"TAP_NXCLOUD_LOGLEVEL": "DEBUG"}
    if how == "fifo":
        path = str(tmp_path / "accounts.fifo")
        config, data = _split(double, stream, path)
        with Fifo(path, data) as fifo:
            run = _run(_command(config, tmp_path), env, timeout=60)
        assert fifo.served
    else:
        read, write = os.pipe()
        config, data = _split(double, stream, f"/dev/fd/{read}")
        cmd = _command(config, tmp_path)
        feeder = threading.Thread(target=lambda: (os.write(write, data), os.close(write)))
        try:
            feeder.start()
            run = _run(cmd, env, pass_fds=(read,), timeout=60)
        finally:
            os.close(read)
            feeder.join(timeout=5)
    check(run, code=0)  # no spelling of any secret in stdout or stderr, among the rest
    _exact(run, double, stream)
    if stream == "flash_call_cdrs":
        assert any("urllib3" in line and f"={redact.MASK}" in line
                   for line in run.stderr.splitlines()), "no masked URL at DEBUG"


@pytest.mark.parametrize("path", ["/dev/zero", "big"])
def test_a_file_beyond_the_limit_ends_in_one_line_naming_the_setting(double, tmp_path, path):
    if path == "big":  # valid JSON, one byte too many
        big = tmp_path / "big.json"
        big.write_bytes(b"[" + b" " * (accounts.MAX_FILE_BYTES - 1) + b"]")
        path = str(big)
    config = {**stream_config(double.url, double, "cc_cdrs"), "accounts_file": path}
    for name in (*BY_NAME["cc_cdrs"].credentials, *SETTINGS):
        config.pop(name, None)
    run = _run(_command(config, tmp_path), {}, timeout=60)
    line = check(run, code=1, needles=("accounts_file", path, "larger than 1 MiB"))
    assert run.seconds < 30 and len(line) < 300
    assert double.requests() == []


# --- in-process: the sharp parts -------------------------------------------------------------
@pytest.mark.unit
def test_the_file_is_read_once_and_its_secrets_registered_from_that_read(tmp_path):
    path = tmp_path / "accounts.json"
    first = [{"name": "a", "sms_app_key": "k", "sms_app_secret": "first-s3cret=1"}]
    path.write_text(json.dumps(first))
    config = {"accounts_file": str(path)}
    assert accounts.raw_secrets(config) == ["first-s3cret=1"]
    assert redact.scrub("x first-s3cret%3D1 y") == f"x {redact.MASK} y"  # registered
    path.write_text(json.dumps([{**first[0], "sms_app_secret": "second-s3cret"}]))
    assert accounts.entries(config) == first  # the same read
    assert set(accounts.parse(config)[0][0].secrets()) == {"first-s3cret=1"}


@pytest.mark.unit
def test_the_limit_is_exact(tmp_path):
    exact, over = tmp_path / "exact.json", tmp_path / "over.json"
    exact.write_bytes(b"\xef\xbb\xbf[" + b" " * (accounts.MAX_FILE_BYTES - 5) + b"]")  # a BOM
    over.write_bytes(b"[" + b" " * (accounts.MAX_FILE_BYTES - 1) + b"]")
    assert accounts.entries({"accounts_file": str(exact)}) == []
    with pytest.raises(SettingError, match=r"accounts_file: .* is larger than 1 MiB"):
        accounts.entries({"accounts_file": str(over)})


@pytest.mark.unit
@pytest.mark.parametrize(("content", "says"), [
    (b"\xff\xfe[]", "is not UTF-8 text"), (b"[{", "is not JSON"),
    (b"{}", "must hold a JSON list"), (None, "cannot read"),
])
def test_a_file_that_cannot_be_used_says_why_every_time(tmp_path, content, says):
    path = tmp_path / "accounts.json"
    if content is not None:
        path.write_bytes(content)
    for _ in range(2):  # the same outcome, from the one read
        with pytest.raises(SettingError, match=f"^accounts_file: .*{says}"):
            accounts.entries({"accounts_file": str(path)})


@pytest.mark.unit
def test_dev_zero_is_not_read_on():
    started = time.monotonic()
    with pytest.raises(SettingError, match="larger than 1 MiB"):
        accounts.entries({"accounts_file": "/dev/zero"})
    assert time.monotonic() - started < 5
