"""The tap: settings, the streams that have credentials, state checks, and a --test that names
what works."""

from __future__ import annotations

import copy
import io
import os
from typing import IO, ClassVar

import click
from singer_sdk import Tap
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import Metadata, Schema, StateMessage
from singer_sdk.tap_base import CliTestOptionValue

from . import preflight, redact
from .accounts import raw_secrets
from .audit import NAME as AUDIT
from .audit import Audit, AuditStream
from .clock import SettingError
from .errors import Interrupted, Reported, TapError
from .http import name_url_settings
from .preflight import together
from .rows import ACCOUNT
from .sdk_private import use_state_writer
from .settings import SCHEMA, misnamed_secrets, parse
from .state import checked_state, parse_state
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
        self.active_streams: set[WindowedStream] = set()
        # parent streams' rows read this run, per (account, key): what their children read
        self.parent_rows: dict[str, dict] = {}
        self.audit = Audit()  # every completed window's counts, for sync_audit
        self._env_config = bool(kwargs.get("parse_env_config"))
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
        # every account configured (only_accounts reads some of them: the others' bookmarks
        # stay); partitions of any other account leave the state
        configured = self.settings.configured_accounts if self.settings.named else None
        super().load_state(checked_state(state, set(BY_NAME), {AUDIT}, self.logger,
                                         configured))
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

    def setup_mapper(self) -> None:
        """The mapper writes each SCHEMA from the catalog: one discovered without `accounts`
        lacks the `account` key and column the records carry, so they are added first."""
        if getattr(self, "settings", None) is not None and self.settings.has_account_column:
            for entry in self.catalog.streams:
                stream = self.streams.get(entry.tap_stream_id)
                if not isinstance(stream, WindowedStream):
                    continue
                keys = list(entry.key_properties or [])
                if ACCOUNT not in keys:
                    entry.key_properties = [ACCOUNT, *keys]
                if ACCOUNT not in (entry.schema.properties or {}):
                    entry.schema.properties[ACCOUNT] = Schema.from_dict(
                        stream.schema["properties"][ACCOUNT])
                    entry.metadata[("properties", ACCOUNT)] = Metadata(
                        inclusion=Metadata.InclusionType.AUTOMATIC)
        super().setup_mapper()

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
        lost = [f"{s.name}: {lane.where_prefix}{lane.state.lost[0].isoformat()} to "
                f"{lane.state.lost[1].isoformat()}" for s in self.api_streams for lane in s.lanes
                if lane.state.lost]
        if lost and self.settings.fail_on_retention_loss:
            more = f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
            lines.append(f"{lost[0]}{more}: fell out of NXCloud's retention before it could be "
                         "read (fail_on_retention_loss); what was still there was read")
        if lines:
            raise Reported(list(dict.fromkeys(lines)))

    def preflight(self) -> dict[int, tuple]:
        """The credential checks (preflight.py): the refusals, by id of their error."""
        return preflight.check_all(self)

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
