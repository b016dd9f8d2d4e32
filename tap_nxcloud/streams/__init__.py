"""Every NXCloud record type the tap reads: one small declarative module a stream.

`MODULES` is the registry: the one place a stream is listed. The tap's streams and settings, the
API double's endpoints (`double/nxcloud_double/endpoints/<module>.py`), the generated docs and
meltano.yml, and the tests that run over every stream all read it.
"""

from __future__ import annotations

from importlib import import_module

from ..spec import SpecError, StreamSpec

MODULES = ("flash_call", "cc", "sms", "voice", "sip", "did", "email", "sms_daily_reports",
           "balances", "cc_agents", "cc_agent_groups", "ai_agent_tasks", "ai_agent_calls")

STREAMS: tuple[StreamSpec, ...] = tuple(import_module(f"{__name__}.{m}").SPEC for m in MODULES)
BY_NAME = {spec.name: spec for spec in STREAMS}


def _check(streams: tuple[StreamSpec, ...]) -> None:
    """What no single spec can check: names unique, a child after its parent."""
    seen: set[str] = set()
    for spec in streams:
        if spec.name in seen:
            raise SpecError(f"stream spec {spec.name}: registered twice")
        if spec.child and spec.child.parent not in seen:
            raise SpecError(f"stream spec {spec.name}: child.parent {spec.child.parent!r} must "
                            "be registered before it")
        other = spec.statement and next((s for s in streams if s.name == spec.statement[0]),
                                        None)
        if spec.statement and (other is None or other.window != "day" or spec.window != "day"
                               or other.credentials != spec.credentials):
            raise SpecError(f"stream spec {spec.name}: statement {spec.statement[0]!r} must be "
                            "a registered day-window stream with the same credentials")
        seen.add(spec.name)


_check(STREAMS)
MODULE_OF = {spec.name: module for spec, module in zip(STREAMS, MODULES, strict=True)}
