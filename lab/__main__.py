"""``python -m lab up|status|fault``: the lab without the controller (see lab.cli)."""

from __future__ import annotations

import logging
import sys

from lab.cli import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(main())
