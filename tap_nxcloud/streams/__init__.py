"""Every NXCloud record type the tap reads: one small declarative module a stream.

To add a stream: write its module (a `StreamSpec`), its JSON Schema in schemas/, its handler in
the API double, and list it here.
"""

from __future__ import annotations

from ..spec import StreamSpec
from . import cc, did, flash_call, sip, sms, voice

STREAMS: tuple[StreamSpec, ...] = (flash_call.SPEC, cc.SPEC, sms.SPEC, voice.SPEC, sip.SPEC,
                                   did.SPEC)
BY_NAME = {spec.name: spec for spec in STREAMS}
