"""Fixtures for the SNMP adapter tests: four real snmpd agents, a scripted agent, a poller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import pytest

from adapters.snmp import SnmpPoller
from tests.adapters_snmp.scripted import scripted
from tests.conftest import peer_missing
from tests.peers.snmpd import SnmpdLab, missing_requirement, snmpd_lab_fixture

# Four agents, each with communities of its own, so a request routed to the wrong agent
# times out instead of passing unnoticed.
snmpd_lab = snmpd_lab_fixture(("sw1", "sw2", "sw3", "sw4"))

__all__ = ["scripted", "snmpd_lab"]  # fixtures defined elsewhere, offered to the tests here


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    async with SnmpPoller() as started:
        yield started


@pytest.fixture
def start_snmpd() -> Iterator[Callable[[Sequence[str]], SnmpdLab]]:
    """Start fresh agents inside a test (for restarts, or a cache nobody else touched)."""
    reason = missing_requirement()
    if reason is not None:
        peer_missing(reason)
    labs: list[SnmpdLab] = []

    def start(names: Sequence[str]) -> SnmpdLab:
        lab = SnmpdLab(names)
        labs.append(lab)
        lab.start()
        return lab

    yield start
    for lab in labs:
        lab.stop()
