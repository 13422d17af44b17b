"""Shared test helpers.

Tests that need a real peer (Debian's netconfd, sshd, snmpd, net-snmp tools) call
:func:`peer_missing` when the peer is not there: a skip with the reason on a laptop, a
failure under ``CI=true``, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether the tests run under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def peer_missing(reason: str) -> NoReturn:
    """Skip (or, under CI, fail) a test whose real protocol peer is unavailable."""
    if in_ci():
        pytest.fail(f"required peer missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
