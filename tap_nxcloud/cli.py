"""Console entry point: user-caused failures end in one line and exit 1, never a traceback."""

from __future__ import annotations

import logging
import sys

from .errors import TapError
from .tap import TapNXCloud


def main() -> None:
    try:
        TapNXCloud.cli()
    except TapError as exc:
        sys.stdout.flush()
        logging.getLogger("tap-nxcloud").error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
