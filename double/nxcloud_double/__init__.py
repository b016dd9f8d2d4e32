"""A faithful local double of NXCloud's record endpoints, one for every stream registered in the
tap (`tap_nxcloud.streams.MODULES`), for tests, the demo and benchmarks. Not part of the tap's
wheel: a package of its own (`double/pyproject.toml`)."""

from __future__ import annotations

from .endpoints import BY_STREAM, ENDPOINTS
from .server import FAULT_KINDS, RATES, SLOW_FAULT_KINDS, ApiDouble, Credentials, Faults

__all__ = ["ENDPOINTS", "FAULT_KINDS", "RATES", "SLOW_FAULT_KINDS", "ApiDouble", "Credentials",
           "Faults", "config_for", "rows"]


def rows(stream: str, n: int, *, seed: int, start: str, span_seconds: int, zone=None,
         **kw) -> list[dict]:
    """n generated rows of a stream, `start` a wall-clock string of the double's zone."""
    return BY_STREAM[stream].rows(n, seed=seed, start=start, span_seconds=span_seconds,
                                  zone=zone, **kw)


def config_for(double: ApiDouble, start: str, **extra) -> dict:
    """A tap config reading every stream of this double."""
    return {"api_url": double.url, "start_date": start, "timezone": double.zone.key,
            **double.credentials.values, **SETTINGS, **extra}


SETTINGS = {k: v for e in ENDPOINTS for k, v in e.settings.items()}  # cc_tenant_id
