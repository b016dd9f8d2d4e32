"""Exceptions whose message is the one line a user sees.

A message may quote a vendor's or a library's text: its control characters are escaped here
(redact.printable), so the line stays one line whatever built it.
"""

from __future__ import annotations

from .redact import printable


class TapError(Exception):
    """A failure a user can act on: the CLI prints its message as one line and exits 1."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(printable(a) if isinstance(a, str) else a for a in args))


class ApiError(TapError):
    """The API refused the request, or kept failing after retries."""


class TransientError(Exception):
    """A failure worth retrying: rate limits, server errors, broken connections or bodies.

    `attempts` caps how often this kind of failure (named by `reason`) may occur for one request
    (a clock-skew rejection: twice), `hint` is what the final message tells the user to check,
    `min_pause` the least wait before the retry (a rate refusal: the rate window), `rate` that
    the API refused for the request rate (counted apart in the sync audit).
    """

    def __init__(self, reason: str, *, retry_after: float | None = None,
                 attempts: int | None = None, hint: str | None = None,
                 min_pause: float = 0.0, rate: bool = False) -> None:
        reason = printable(reason)
        super().__init__(reason)
        self.rate = rate
        self.min_pause = min_pause
        self.reason = reason
        self.retry_after = retry_after
        self.attempts = attempts
        self.hint = printable(hint) if hint else hint


class Interrupted(BaseException):
    """A termination signal stopped the sync at a page boundary; `tap` writes the final state."""

    def __init__(self, tap, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.tap = tap
        self.signum = signum


class StateError(TapError):
    """The state given with --state cannot be used; the message names the stream and the fix."""


class OutputClosed(TapError):
    """The reader of stdout (the target) went away: nothing more can be delivered."""

    def __init__(self) -> None:
        super().__init__("the output was closed (the target exited?); stopping")


def located(error: ApiError, stream: str, where: str) -> ApiError:
    """The same one-line error, saying where it happened: `stream: where: what`."""
    text, prefix = str(error), f"{stream}: "
    if where and text.startswith(prefix) and not text.startswith(f"{prefix}{where}"):
        text = f"{prefix}{where}: {text[len(prefix):]}"
    return ApiError(text)


class Reported(TapError):
    """Several failures, each its own line (accounts that failed while the others were read)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(f"{len(lines)} failure{'s' if len(lines) > 1 else ''}")
        self.lines = [printable(line) for line in lines]
