"""A faithful local double of NXCloud's six CDR endpoints, for tests, the demo and benchmarks."""

from .server import FAULT_KINDS, SLOW_FAULT_KINDS, ApiDouble, Credentials, Faults

__all__ = ["FAULT_KINDS", "SLOW_FAULT_KINDS", "ApiDouble", "Credentials", "Faults"]
