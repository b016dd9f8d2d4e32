"""Console entry point: user-caused failures end in one line and exit 1, never a traceback."""

from __future__ import annotations

import contextlib
import logging
import sys

from .errors import Interrupted, OutputClosed, TapError
from .http import cancel_all
from .tap import TapNXCloud
from .writer import flush_stdout

log = logging.getLogger("tap-nxcloud")


def main() -> None:
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
            log.error("%s", exc)
            sys.exit(1)
    except OutputClosed as exc:  # while flushing, or writing the final state on a signal
        log.error("%s", exc)
        sys.exit(1)
    finally:
        # whatever ended the run, stop the workers now rather than wait for them at exit
        cancel_all()


if __name__ == "__main__":
    main()
