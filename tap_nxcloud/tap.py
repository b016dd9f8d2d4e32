"""The tap: settings, the streams that have credentials, state checks, and a --test that names
what works."""

from __future__ import annotations

import copy
import io
import json
import os
import threading
from typing import IO, ClassVar

import click
from singer_sdk import Tap
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import StateMessage
from singer_sdk.tap_base import CliTestOptionValue

from . import redact
from .accounts import raw_secrets
from .audit import NAME as AUDIT
from .audit import Audit, AuditStream
from .clock import SettingError, parse_bookmark
from .errors import ApiError, Interrupted, Reported, StateError, TapError
from .http import cut, name_url_settings
from .sdk_private import use_state_writer
from .settings import SCHEMA, misnamed_secrets, parse
from .stream import WindowedStream
from .streams import BY_NAME, STREAMS
from .writer import BufferedWriter, StateWriter

# lets --discover build stream objects from an incomplete config; never used to send a request
_PLACEHOLDER = {"start_date": "2000-01-01", **{name: "-" for spec in STREAMS
                                               for name in spec.credentials}}


class TapNXCloud(Tap):
    # The description `--about` shows: every registered stream, from the registry (never a list
    # kept by hand), then the tap's own.
    __doc__ = ("Singer tap for NXCloud call, message and account records, a stream each: "
               f"{', '.join(s.name for s in STREAMS)}; plus {AUDIT}, each run's check "
               "against NXCloud's own counts.")

    name = "tap-nxcloud"
    # a copy: the SDK appends its built-in settings (stream maps, flattening) to this dict in place
    config_jsonschema = copy.deepcopy(SCHEMA)
    message_writer_class = BufferedWriter
    # Not BATCH (its files would bypass the per-window STATE), nor ACTIVATE_VERSION (no full table)
    capabilities: ClassVar[list] = [
        TapCapabilities.CATALOG, TapCapabilities.STATE, TapCapabilities.DISCOVER,
        TapCapabilities.TEST, PluginCapabilities.ABOUT, PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING, PluginCapabilities.STRUCTURED_LOGGING,
    ]

    def __init__(self, *args, **kwargs) -> None:
        self._env_config = bool(kwargs.get("parse_env_config"))
        self.active_streams: set[WindowedStream] = set()
        # parent streams' rows read this run, per (account, key): what their children read
        self.parent_rows: dict[str, dict] = {}
        self.audit = Audit()  # every completed window's counts, for sync_audit
        super().__init__(*args, **kwargs)
        use_state_writer(self, StateWriter(self.message_writer))

    @classmethod
    def invoke(cls, *, state: IO[str] | None = None, **kwargs) -> None:
        """The CLI's sync: the --state file is read here, where a broken one can end in one
        line (the SDK's own reader raises a bare JSON error)."""
        if state is not None:
            text = state.read()
            parse_state(text, getattr(state, "name", "--state"))
            state = io.StringIO(text if text.strip() else "{}")
        super().invoke(state=state, **kwargs)

    def load_state(self, state: dict) -> None:
        """Check the state before any request: a broken one stops the run with one line."""
        if not isinstance(state, dict) or not isinstance(state.get("bookmarks", {}), dict):
            raise StateError("the state has no `bookmarks` object; fix it, or run without "
                             "--state for a full sync from start_date")
        bookmarks = state.get("bookmarks", {})
        for name, entry in bookmarks.items():
            if name in BY_NAME and not isinstance(entry, dict):
                raise StateError(f"{name}: the state's entry is not an object; fix it or remove "
                                 "it to read from start_date")
            partitions = entry.get("partitions", []) if isinstance(entry, dict) else []
            if name in BY_NAME and (not isinstance(partitions, list) or not all(
                    isinstance(p, dict) and isinstance(p.get("context"), dict)
                    for p in partitions)):
                raise StateError(f"{name}: the state's partitions are not a list of objects "
                                 "with a context; fix them or remove this stream's entry to "
                                 "read from start_date")
        unknown = sorted(set(bookmarks) - set(BY_NAME) - {AUDIT})
        if unknown:
            self.logger.info("Ignoring the state of streams this tap does not have: %s",
                             ", ".join(unknown))
        super().load_state({**state, "bookmarks": {k: _upgraded_entry(k, v)
                                                   for k, v in bookmarks.items()
                                                   if k in BY_NAME}})
        if getattr(self, "_syncing", False):
            for stream in self.api_streams:
                for lane in stream.lanes:
                    lane.bookmark()  # raises StateError naming the stream and account

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # raise_errors is False only for --discover, which describes both streams regardless
        self._syncing = raise_errors
        for secret in [*raw_secrets(self.config), *misnamed_secrets(self.config)]:
            redact.add_secret(secret)
        # with --config ENV, TAP_NXCLOUD_* variables that name no setting are reported too
        env = os.environ if self._env_config else None
        try:
            # the SDK's own settings (stream maps, flattening) are checked as ours, in one line
            self.append_builtin_config(self.config_jsonschema)
            self.settings = parse(dict(self.config), self.config_jsonschema, env=env)
        except SettingError as exc:
            for line in getattr(exc, "warnings", ()):
                self.logger.warning("%s", line)
            if raise_errors:
                raise TapError(f"Invalid configuration: {exc}") from None
            self.settings = parse(_PLACEHOLDER)
            return [str(exc)]
        for line in self.settings.warnings:
            self.logger.warning("%s", line)
        name_url_settings(self.settings.url_sources())
        return []

    def discover_streams(self) -> list[WindowedStream | AuditStream]:
        streams = []
        for spec in STREAMS:
            accounts = [a for a in self.settings.accounts if a.credentials(spec)]
            missing = spec.credentials[0]
            if accounts and spec.params:
                accounts = [a for a in accounts if a.params(spec) is not None]
                missing = " and ".join(spec.params)
            if self._syncing and not accounts:
                self.logger.info("Skipping stream %s: %s is not set%s.", spec.name, missing,
                                 " for any account" if self.settings.named else "")
                continue
            streams.append(WindowedStream(self, spec, self.settings,
                                          accounts if self._syncing else None))
        return [*streams, AuditStream(self, self.audit)]  # last: its rows are the others'

    @property
    def api_streams(self) -> list[WindowedStream]:
        return [s for s in self.streams.values() if isinstance(s, WindowedStream)]

    def load_streams(self) -> list[WindowedStream | AuditStream]:
        """The registry's order, not the SDK's by name: a parent stream syncs before its child
        (ai_agent_tasks before ai_agent_calls), which reads the rows the parent found. A sync
        takes the paced streams (voice, SIP) last: they read from the start (ahead.py), so the
        others are read while they pause."""
        streams = self.discover_streams()
        if self._syncing:
            streams.sort(key=lambda s: isinstance(s, AuditStream) * 2 + (
                isinstance(s, WindowedStream) and bool(s.spec.min_interval)))
        return streams

    def sync_all(self) -> None:
        """Prove the credentials first, then sync: a refused key ends a one-account run in
        seconds, not after the other streams have synced; with `accounts`, a refused account
        is left out and every other one read, and the run ends with one line per failure."""
        refused = self.preflight()
        for stream in self.api_streams:
            if stream.reads_ahead:
                stream.start_ahead()
        try:
            super().sync_all()
        finally:  # a failure or a signal before their turn: stop them
            for stream in self.api_streams:
                stream.stop_ahead()
        failures = [error for stream in self.api_streams for _, error in stream.failures
                    if id(error) not in refused]
        lines = [*together(refused.values()), *map(str, failures)]
        mismatched = self.audit.mismatched
        if mismatched and self.settings.fail_on_mismatch:
            more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
            lines.append(f"{mismatched[0]}{more}: did not match NXCloud's own count "
                         "(fail_on_mismatch); the bookmark stays before it, so the next run "
                         "reads it again")
        if lines:
            raise Reported(list(dict.fromkeys(lines)))

    def preflight(self) -> dict[int, tuple]:
        """Each selected stream's first request of every account, all at once (their answers
        are kept for the sync: no extra request). One ERROR line per refusal, which ends a
        one-account run; with `accounts`, the refused account's stream is left out. Paced
        streams (voice, SIP) of many accounts are checked by their own first request instead:
        checking 200 accounts at one SIP request per 2 s would hold every record back."""
        named = self.settings.named
        lanes = [lane for s in self.api_streams if s.selected for lane in s.lanes
                 if not (named and s.spec.min_interval)]
        # paced streams' answers first, while the kept answers' budget has room: asking again
        # would cost them a paced request (they sync last, so they come last in the streams)
        lanes.sort(key=lambda lane: not lane.spec.min_interval)
        if not lanes:
            return {}
        failures = _probe_all(lanes, threads=16)
        if failures and not named:
            *first, last = together([failures])
            for line in first:
                self.logger.error("%s", line)
            raise ApiError(last)
        for lane, exc in failures:
            lane.stream.drop(lane, exc)
        return {id(exc): (lane, exc) for lane, exc in failures}

    terminating = 0

    def _handle_termination(self, signum, frame) -> None:
        # Nothing is written here: a signal can arrive while the main thread is inside a write to
        # stdout, and a second write from the handler would fail as reentrant. Stop the workers;
        # the sync stops at the next page boundary and the CLI writes the final state.
        self.terminating = signum
        for stream in [*self.active_streams, *(s for s in self.api_streams if s.reading_ahead)]:
            stream.cancel.set()
        if not self.active_streams:  # not reading any window: nothing to wait for
            raise Interrupted(self, signum)

    def finish_interrupted(self, signum: int) -> None:
        """End the output with the last complete state (written directly: the SDK's
        StateWriter skips a state equal to the last one, which would leave the partial window's
        records last)."""
        self.message_writer.write_message(StateMessage(value=self.state))
        self.logger.warning("Interrupted by signal %d: the last STATE covers every complete "
                            "window; run again with it to resume.", signum)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: one small request a configured stream; a line each; exit 1 if any fails."""
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config")
        tap = cls(config=config.config if config else None,
                  parse_env_config=config.parse_env if config else False, validate_config=True)
        failed = 0
        for stream in tap.api_streams:
            refused = dict(stream.probe())
            for lane in stream.lanes:
                if lane in refused:
                    failed += 1
                    text = str(refused[lane])  # a host's failure names no stream: add it
                    tap.logger.error("FAILED %s", text if text.startswith(f"{stream.name}: ")
                                     else f"{stream.name}: {text}")
                else:
                    who = f" ({lane.label})" if lane.label else ""
                    tap.logger.info("OK %s%s: the API accepted the credentials", stream.name,
                                    who)
        ctx.exit(1 if failed else 0)


def _probe_all(lanes: list, threads: int) -> list[tuple]:
    """Every lane's credential check, `threads` at once, in the lanes' order: (lane, error)
    for each refused. Each lane's connection is closed at once (2 200 idle ones, 200 accounts,
    held to the end cost 20 MB), and lanes are taken one by one, not queued as 2 200 futures.
    Any other exception (a signal's) stops the checks and is raised."""
    todo = iter(enumerate(lanes))
    lock = threading.Lock()
    failures: list[tuple] = []
    stop: list[BaseException] = []

    def work() -> None:
        while not stop:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            i, lane = item
            try:
                lane.probe(True)
            except TapError as exc:
                with lock:
                    failures.append((i, lane, exc))
            except BaseException as exc:  # raised in the caller
                stop.append(exc)
            finally:
                lane.client.close()

    pool = [threading.Thread(target=work, daemon=True, name=f"nxcloud-probe-{n}")
            for n in range(min(threads, len(lanes)))]
    for t in pool:
        t.start()
    try:
        for t in pool:
            t.join()
    except BaseException as exc:  # a signal in the join: the threads take no more lanes
        stop.append(exc)
        raise
    if stop:
        raise stop[0]
    return [(lane, exc) for _, lane, exc in sorted(failures, key=lambda f: f[0])]


def together(refusals) -> list[str]:
    """One line per account and pair of credentials, whichever streams they refused: the SMS
    keys refused for the records, the statements and the balance are one mistake."""
    pairs = [p for group in refusals for p in (group if isinstance(group, list) else [group])]
    groups: dict[tuple, list] = {}
    for lane, exc in pairs:
        groups.setdefault((lane.account.name, lane.spec.credentials), []).append((lane, exc))
    lines = []
    for group in groups.values():
        (lane, exc), names = group[0], [lane.name for lane, _ in group]
        text, prefix = str(exc), f"{lane.name}: "
        if len(names) > 1 and text.startswith(prefix):
            text = f"{', '.join(names[:-1])} and {names[-1]}: {text[len(prefix):]}"
        lines.append(text)
    return list(dict.fromkeys(lines))  # one host refusing every stream is one line


def _upgraded(name: str, entry: dict) -> dict:
    """v0.1 bookmarked cc_cdrs in epoch milliseconds; every bookmark is RFC 3339 now."""
    value = entry.get("replication_key_value")
    if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isascii() and value.isdigit()):
        try:
            mark = parse_bookmark(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise StateError(f"{name}: the state's bookmark {cut(repr(value), 60)} is not a "
                             "time; fix it or remove this stream's entry from the state to read "
                             "from start_date") from None
        return {**entry, "replication_key_value": mark.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    return entry


def _upgraded_entry(name: str, entry: dict) -> dict:
    """A stream's state with every bookmark upgraded, its accounts' partitions too."""
    entry = _upgraded(name, entry)
    if entry.get("partitions"):
        entry = {**entry, "partitions": [_upgraded(name, p) for p in entry["partitions"]]}
    return entry


def parse_state(text: str, name: str) -> dict:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StateError(f"the state file {name} is not JSON ({exc}); fix it, or run without "
                         "--state for a full sync from start_date") from None
