"""A faithful local double of the two NXCloud CDR endpoints, for tests, the demo and benchmarks."""

from .server import ApiDouble, Credentials, Faults

__all__ = ["ApiDouble", "Credentials", "Faults"]
