"""Logging set-up: human lines on a terminal, or one JSON object per line for a daemon.

The JSON lines carry ``ts`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and, when a
record has them, ``exc`` (the traceback) and any ``extra={...}`` fields given to the logger.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging"]

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_NOISY = ("ncclient", "asyncssh", "apscheduler", "pysnmp", "paramiko")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        return json.dumps(data, default=str)


def configure_logging(*, verbose: bool = False, json_format: bool = False) -> None:
    """Log to stderr, as text or JSON lines; the protocol libraries' chatter stays quiet."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "netpilot", False)]:
        root.removeHandler(old)  # ours from an earlier call; others (pytest's) stay
    handler = logging.StreamHandler(sys.stderr)
    handler.netpilot = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
