"""Issue 26: a host that refuses from the start fails fast, naming itself and the setting that
holds its URL; one that answered before and then refuses is retried as any transient failure;
retry WARNINGs are condensed (the first of a kind per host, then DEBUG, and a count at the
end)."""

from __future__ import annotations

import atexit
import http.server
import logging
import re
import socket
import threading
import time

import pytest
import requests

from nxcloud_double import Faults
from tap_nxcloud import http as nxhttp
from tap_nxcloud.errors import ApiError

from .conftest import AT_ONCE, Run, config_for, fill, run_tap

REFUSED = ("cannot connect to {host}: the connection was refused and the host has not answered "
           "in this run (a wrong URL, or the service is down); check {setting}")


def lines(run: Run, level: str) -> list[str]:
    """The messages of the stderr lines at `level` (the part after `time | LEVEL | logger |`)."""
    parts = (line.split(" | ", 3) for line in run.stderr.splitlines())
    return [p[3].strip() for p in parts if len(p) == 4 and p[1].strip() == level]


def closed_port() -> int:
    """A port nothing listens on (bound, then closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_one_line(run, message: str) -> None:
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert lines(run, "ERROR") == [message], run.stderr
    assert lines(run, "WARNING") == [], run.stderr  # no retry WARNINGs on the way


# --- end to end -------------------------------------------------------------------------------
def test_api_url_refusing_from_the_start_is_one_line_in_seconds(tmp_path):
    port = closed_port()
    config = {"api_url": f"http://127.0.0.1:{port}", "start_date": "2026-10-01",
              "end_date": "2026-10-02", "flash_call_app_key": "k", "flash_call_app_secret": "s1",
              "cc_access_key": "k", "cc_access_secret": "s2"}  # default retries and backoff
    run = run_tap(config, tmp_path)
    assert_one_line(run, REFUSED.format(host=f"127.0.0.1:{port}", setting="api_url"))
    # two tries 1 s apart (REFUSED_TRIES, REFUSED_PAUSE) plus the start, not the default
    # backoff (6 retries from 2 s doubling: 63 s at least, equal jitter)
    assert run.seconds < AT_ONCE, run.seconds


def test_a_product_url_refusing_names_that_setting(double, tmp_path):
    port = closed_port()
    config = config_for(double, cc_api_url=f"http://127.0.0.1:{port}")
    run = run_tap(config, tmp_path)
    assert_one_line(run, REFUSED.format(host=f"127.0.0.1:{port}", setting="cc_api_url"))
    assert double.requests("cc_cdrs") == []


def test_an_accounts_entry_url_refusing_names_the_entry(double, tmp_path):
    fill(double, 50, seed=3)
    port = closed_port()
    c = double.credentials
    config = {"api_url": double.url, "start_date": "2026-10-01",
              "end_date": "2026-10-04T00:00:00+08:00", "backoff_base_seconds": 0.05,
              "accounts": [
                  {"name": "acme", "cc_access_key": c.cc_access_key,
                   "cc_access_secret": c.cc_access_secret,
                   "cc_api_url": f"http://127.0.0.1:{port}"},
                  {"name": "globex", "cc_access_key": c.cc_access_key,
                   "cc_access_secret": c.cc_access_secret}]}
    run = run_tap(config, tmp_path)
    assert_one_line(run, REFUSED.format(host=f"127.0.0.1:{port}",
                                        setting="cc_api_url of account acme"))
    assert {r["account"] for r in run.records("cc_cdrs")} == {"globex"}  # the other one read


def test_retry_warnings_are_condensed_with_a_count_at_the_end(double, tmp_path):
    fill(double, 200, seed=4)
    double.set_faults(Faults(script=["503"] * 5))
    run = run_tap(config_for(double, backoff_base_seconds=0.01, backoff_max_seconds=0.02),
                  tmp_path)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in lines(run, "WARNING") if "retr" in line]
    host = double.url.split("//")[1]
    assert len(warnings) == 2, warnings
    assert re.fullmatch(r"\w+: HTTP 503; retry 1 of 6 in [\d.]+ s", warnings[0]), warnings
    assert warnings[1] == (f"{host}: 5 retries in this run (HTTP 503: 5); after the first of "
                           "each kind they were logged at DEBUG")
    assert len(run.records("flash_call_cdrs")) == 200


# --- units: the Client ------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_summary_at_exit():
    """The count a process logs at its exit: not this test process's (units only)."""
    yield
    atexit.unregister(nxhttp._log_retry_summary)


class _Ok(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        body = b"{}"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Unavailable(_Ok):
    status = 503


def _server(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _client(url: str, tries: int = 4, **kw) -> nxhttp.Client:
    return nxhttp.Client("flash_call_cdrs", url, timeout=5, max_tries=tries, backoff_base=0.01,
                         backoff_max=0.02, cancel=threading.Event(), **kw)


def _get(client: nxhttp.Client):
    return client.call(requests.Request("GET", client.base_url + "/x"), lambda a: a.status)


def test_a_host_that_answered_before_and_then_refuses_is_retried(caplog):
    server = _server(_Ok)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = _client(url)
    assert _get(client) == 200
    server.shutdown()
    server.server_close()
    client.close()
    caplog.set_level(logging.DEBUG, "tap_nxcloud.http")
    with pytest.raises(ApiError) as caught:
        _get(client)
    host = url.split("//")[1]
    assert str(caught.value) == (f"flash_call_cdrs: giving up after 4 attempts: connection to "
                                 f"{host} failed (ConnectionRefusedError)")
    assert client.requests_sent == 5  # the answer, then every try


def test_a_host_that_never_answered_is_named_after_two_quick_tries():
    port = closed_port()
    client = _client(f"http://127.0.0.1:{port}", tries=7, urls="cc_api_url or api_url")
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        _get(client)
    took = time.monotonic() - started
    assert str(caught.value) == REFUSED.format(host=f"127.0.0.1:{port}",
                                               setting="cc_api_url or api_url")
    assert client.requests_sent == nxhttp.REFUSED_TRIES == 2
    assert nxhttp.REFUSED_PAUSE * 0.9 <= took < nxhttp.REFUSED_PAUSE + 2
    # another client of the same host: named at once, in the same words (one line for all)
    other = _client(f"http://127.0.0.1:{port}", urls="sms_api_url or api_url")
    with pytest.raises(ApiError) as again:
        _get(other)
    assert str(again.value) == str(caught.value) and other.requests_sent == 1


def test_the_setting_named_is_the_one_that_holds_the_url():
    port = closed_port()
    nxhttp.name_url_settings({f"127.0.0.1:{port}": "api_url"})
    try:
        client = _client(f"http://127.0.0.1:{port}", tries=1, urls="cc_api_url or api_url")
        with pytest.raises(ApiError, match=r"check api_url$"):
            _get(client)
    finally:
        nxhttp.name_url_settings({})


def test_the_first_retry_of_a_kind_per_host_is_a_warning(caplog):
    server = _server(_Unavailable)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    host = url.split("//")[1]
    caplog.set_level(logging.DEBUG, "tap_nxcloud.http")
    try:
        for stream in ("flash_call_cdrs", "cc_cdrs"):  # two streams, one host
            client = nxhttp.Client(stream, url, timeout=5, max_tries=3, backoff_base=0.01,
                                   backoff_max=0.02, cancel=threading.Event())
            with pytest.raises(ApiError, match="giving up after 3 attempts: HTTP 503"):
                client.call(requests.Request("GET", url + "/x"),
                            lambda a, stream=stream: nxhttp.json_body(a, stream))
    finally:
        server.shutdown()
        server.server_close()
    retries = [(r.levelname, r.getMessage()) for r in caplog.records if "retry" in r.getMessage()]
    assert [level for level, _ in retries] == ["WARNING", "DEBUG", "DEBUG", "DEBUG"]
    assert [line for line in nxhttp.retry_summary() if line.startswith(host)] == [
        f"{host}: 4 retries in this run (HTTP 503: 4); after the first of each kind they were "
        "logged at DEBUG"]
