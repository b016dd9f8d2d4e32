"""Console entry point: user-caused failures end in one line and exit 1, never a traceback.

Every log line of the run goes through redact's LogRecord factory, installed first: secrets
masked however spelled, control characters escaped, so no vendor text can forge a line."""

from __future__ import annotations

import os
import signal
import sys


def _stopped_starting(signum, frame) -> None:
    """Ctrl-C (or SIGTERM) while the tap is still starting (importing singer-sdk takes most of
    a second): nothing is read or written yet, so exit 130 at once, without a traceback."""
    os._exit(128 + signum)


# first of all: a signal from here until the tap installs its own handlers ends quietly
signal.signal(signal.SIGINT, _stopped_starting)
signal.signal(signal.SIGTERM, _stopped_starting)

import contextlib  # noqa: E402
import ctypes  # noqa: E402
import logging  # noqa: E402

from . import redact  # noqa: E402
from .errors import Interrupted, OutputClosed, TapError  # noqa: E402
from .http import cancel_all  # noqa: E402
from .tap import TapNXCloud  # noqa: E402
from .writer import flush_stdout  # noqa: E402

log = logging.getLogger("tap-nxcloud")


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def one_malloc_arena() -> None:
    """Ask glibc for a single malloc arena, unless MALLOC_ARENA_MAX says otherwise.

    glibc gives each thread an arena of its own, and each keeps the memory freed into it. Pages
    are decoded in the window workers and freed by the main thread, so four workers kept about
    13 MB more (a million SMS rows: 79 MB peak against 66 MB with one arena, same wall time).
    The GIL already serialises nearly every allocation, so one arena costs no speed. No-op where
    the C library is not glibc (musl ignores it; macOS has no mallopt).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


def main() -> None:
    one_malloc_arena()  # before any thread starts
    redact.install()  # before any log line
    # until the SDK installs the tap's own handlers (before any message is written), a signal
    # still ends the run at once (click would print "Aborted!" and exit 1 for a Ctrl-C)
    try:
        try:
            TapNXCloud.cli()
        except Interrupted as stop:  # non-zero: a scheduler must not take this for a finished run
            stop.tap.finish_interrupted(stop.signum)
            sys.exit(128 + stop.signum)
        except TapError as exc:
            if not isinstance(exc, OutputClosed):
                # the records before the failure still reach the target, if it is still there:
                # the failure, not a closed output, is the line to show
                with contextlib.suppress(OutputClosed):
                    flush_stdout()
            for line in getattr(exc, "lines", None) or [str(exc)]:
                log.error("%s", line)
            sys.exit(1)
    except OutputClosed as exc:  # while flushing, or writing the final state on a signal
        log.error("%s", exc)
        sys.exit(1)
    except KeyboardInterrupt:  # a handler of someone else's raised it: still no traceback
        sys.exit(128 + signal.SIGINT)
    except Exception as exc:  # a bug, or an input nobody thought of: still one line
        log.debug("the failure in full", exc_info=True)
        log.error("tap-nxcloud stopped on an unexpected %s: %s (a bug: please report it, with "
                  "the traceback that TAP_NXCLOUD_LOGLEVEL=DEBUG prints)", type(exc).__name__,
                  redact.shown(exc, 300))
        sys.exit(1)
    finally:
        # whatever ended the run, stop the workers now rather than wait for them at exit
        cancel_all()


if __name__ == "__main__":
    main()
