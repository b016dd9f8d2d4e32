"""One module per endpoint of the API double, named after its stream's module in the tap
(`tap_nxcloud/streams/<module>.py` <-> `endpoints/<module>.py`), each exporting `ENDPOINT`.

The tap's registry (`tap_nxcloud.streams.MODULES`) is the only list of streams: this package
loads the endpoint of every module there, so registering a stream registers its endpoint.
"""

from __future__ import annotations

from importlib import import_module

from tap_nxcloud.streams import MODULES
from tap_nxcloud.streams import STREAMS as SPECS

from .core import Endpoint, Reply, Request


def _load() -> tuple[Endpoint, ...]:
    out = []
    for module, spec in zip(MODULES, SPECS, strict=True):
        endpoint = import_module(f"{__name__}.{module}").ENDPOINT
        if endpoint.stream != spec.name:
            raise RuntimeError(f"double endpoint {module}: serves {endpoint.stream!r}, but the "
                               f"tap's module {module} is the stream {spec.name!r}")
        out.append(endpoint)
    return tuple(out)


ENDPOINTS: tuple[Endpoint, ...] = _load()
BY_STREAM = {e.stream: e for e in ENDPOINTS}
BY_ALIAS = {e.alias: e for e in ENDPOINTS}
STREAMS = tuple(e.stream for e in ENDPOINTS)

__all__ = ["BY_ALIAS", "BY_STREAM", "ENDPOINTS", "STREAMS", "Endpoint", "Reply", "Request"]
