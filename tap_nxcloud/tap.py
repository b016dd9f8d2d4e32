"""The tap: settings, the streams that have credentials, and a --test that names what works."""

from __future__ import annotations

import copy
from typing import ClassVar

import click
from singer_sdk import Tap
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import StateMessage
from singer_sdk.tap_base import CliTestOptionValue

from . import redact
from .clock import SettingError
from .errors import Interrupted, TapError
from .settings import SCHEMA, SECRETS, parse
from .streams import CDRStream, ContactCenterStream, FlashCallStream
from .writer import BufferedWriter

STREAM_TYPES = (FlashCallStream, ContactCenterStream)
# lets --discover build stream objects from an incomplete config; never used to send a request
_PLACEHOLDER = {"start_date": "2000-01-01", "flash_call_app_key": "-", "flash_call_app_secret": "-",
                "cc_access_key": "-", "cc_access_secret": "-"}


class TapNXCloud(Tap):
    """Singer tap for NXCloud flash-call and contact-center call detail records."""

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
        self.active_streams: set[CDRStream] = set()
        super().__init__(*args, **kwargs)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # raise_errors is False only for --discover, which describes both streams regardless
        self._syncing = raise_errors
        for name in SECRETS:
            redact.add_secret(self.config.get(name))
        try:
            self.settings = parse(dict(self.config))
        except SettingError as exc:
            if raise_errors:
                raise TapError(f"Invalid configuration: {exc}") from None
            self.settings = parse(_PLACEHOLDER)
            return [str(exc)]
        return []

    def discover_streams(self) -> list[CDRStream]:
        streams = []
        for cls in STREAM_TYPES:
            key = cls.credential_settings[0]
            if self._syncing and not self.config.get(key):
                self.logger.info("Skipping stream %s: %s is not set.", cls.name, key)
                continue
            streams.append(cls(self, self.settings))
        return streams

    terminating = 0

    def _handle_termination(self, signum, frame) -> None:
        # Nothing is written here: a signal can arrive while the main thread is inside a write to
        # stdout, and a second write from the handler would fail as reentrant. Stop the workers;
        # the sync stops at the next page boundary and the CLI writes the final state.
        self.terminating = signum
        for stream in list(self.active_streams):
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
        for stream in tap.streams.values():
            try:
                stream.probe()
            except TapError as exc:
                failed += 1
                tap.logger.error("FAILED %s", exc)
            else:
                tap.logger.info("OK %s: the API accepted the credentials", stream.name)
        ctx.exit(1 if failed else 0)
