"""Console entry point: user-caused failures end in one line and exit 1, never a traceback."""

from __future__ import annotations

import logging
import sys

from .errors import Interrupted, TapError
from .tap import TapNXCloud


def main() -> None:
    try:
        TapNXCloud.cli()
    except TapError as exc:
        sys.stdout.flush()
        logging.getLogger("tap-nxcloud").error("%s", exc)
        sys.exit(1)
    except Interrupted as stop:  # exit non-zero: a scheduler must not take this for a finished run
        stop.tap.finish_interrupted(stop.signum)
        sys.exit(128 + stop.signum)


if __name__ == "__main__":
    main()
