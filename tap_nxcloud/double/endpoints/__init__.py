"""One module per endpoint of the API double, named after its stream's product."""

from .base import Endpoint, Reply, Request
from .cc import BOUNDS, ContactCenter
from .did import Did
from .flash import FlashCalls
from .sip import Sip
from .sms import Sms
from .voice import Voice

ENDPOINTS: tuple[Endpoint, ...] = (FlashCalls(), ContactCenter(), Sms(), Voice(), Sip(), Did())
STREAMS = tuple(e.stream for e in ENDPOINTS)

__all__ = ["BOUNDS", "ENDPOINTS", "STREAMS", "Endpoint", "Reply", "Request"]
