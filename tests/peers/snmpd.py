"""Debian's snmpd as a pytest peer: the agents themselves live in :mod:`bench.snmpd`.

Use from a test directory's ``conftest.py``::

    from tests.peers.snmpd import snmpd_lab_fixture

    snmpd_lab = snmpd_lab_fixture(("sw1", "sw2", "sw3", "sw4"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from bench.snmpd import (
    HOST,
    SNMPD,
    SnmpdAgent,
    SnmpdLab,
    encode_get_sysuptime,
    is_response_to,
    missing_requirement,
)
from tests.conftest import peer_missing

__all__ = [
    "HOST",
    "SNMPD",
    "SnmpdAgent",
    "SnmpdLab",
    "encode_get_sysuptime",
    "is_response_to",
    "missing_requirement",
    "snmpd_lab_fixture",
]


def snmpd_lab_fixture(
    names: Sequence[str] = ("snmpd1",), *, name: str = "snmpd_lab", ready_timeout: float = 10.0
) -> Callable[..., Iterator[SnmpdLab]]:
    """Make a session-scoped fixture that yields a started :class:`SnmpdLab`.

    Args:
        names: the instances (also their sysNames).
        name: the fixture's name.
        ready_timeout: per-instance bound on the first answer.

    Returns:
        A pytest fixture; assign it to a module-level name in a ``conftest.py``. Without the
        Debian binary it calls :func:`tests.conftest.peer_missing`.
    """

    @pytest.fixture(scope="session", name=name)
    def _snmpd_lab() -> Iterator[SnmpdLab]:
        reason = missing_requirement()
        if reason is not None:
            peer_missing(reason)
        with SnmpdLab(names, ready_timeout=ready_timeout) as started:
            yield started

    return _snmpd_lab
