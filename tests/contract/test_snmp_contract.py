"""The telemetry contract: one suite for the SNMP poller against every agent it must read.

Peers (ids): ``lab`` — the embedded lab's agent (lab/snmp_agent.py, its own BER codec, counters
driven by the network model on lab time); ``snmpd`` — Debian's net-snmp agent, started here.
The poller must read both the same way, compute rates on each agent's own time base, and turn
every failure into a typed error that names the device and never the community.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from adapters.counters import RateTracker
from adapters.snmp import SnmpPoller
from controller.errors import AdapterTimeoutError
from controller.model import CredentialRef, Device, SnmpEndpoint
from lab.runtime import LabNetwork
from lab.scenarios import get_scenario
from lab.topology import default_lab
from tests.peers.snmpd import SnmpdLab, snmpd_lab_fixture

pytestmark = [pytest.mark.integration]

snmp_contract_snmpd = snmpd_lab_fixture(("snmp-contract",), name="snmp_contract_snmpd")


@dataclass
class Agent:
    """One SNMP agent under contract, as an inventory entry."""

    id: str
    device: Device
    secret: str


def _closed_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the socket is closed


def _read_secret(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


@pytest.fixture(params=["lab", "snmpd"])
async def agent(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Agent]:
    if request.param == "snmpd":
        lab_agents: SnmpdLab = request.getfixturevalue("snmp_contract_snmpd")
        peer = lab_agents.agents[0]
        device = peer.device(timeout_seconds=1.0, retries=0)
        assert device.snmp is not None and device.snmp.community is not None
        yield Agent("snmpd", device, _read_secret(device.snmp.community.file))
        return
    network = LabNetwork(default_lab(), get_scenario("steady"), seed=1)
    await network.start(tmp_path)
    try:
        r2 = network.devices["r2"]
        device = Device(
            name="r2",
            address=r2.address,
            snmp=SnmpEndpoint(
                port=r2.snmp_port,
                community=CredentialRef(file=str(tmp_path / "secrets" / "snmp-community")),
                timeout_seconds=1.0,
                retries=0,
            ),
        )
        yield Agent("lab", device, network.community)
    finally:
        await network.stop()


@pytest.fixture
async def poller() -> AsyncIterator[SnmpPoller]:
    async with SnmpPoller() as started:
        yield started


async def test_poll_reads_the_interface_table(agent: Agent, poller: SnmpPoller):
    snapshot = await poller.poll_interfaces(agent.device)
    assert snapshot.device == agent.device.name
    assert snapshot.uptime_ticks > 0
    assert snapshot.interfaces
    assert len({i.index for i in snapshot.interfaces}) == len(snapshot.interfaces)
    for interface in snapshot.interfaces:
        assert interface.index > 0 and interface.name
        assert interface.hc_in_octets >= 0 and interface.hc_out_octets >= 0
        assert interface.high_speed_mbps >= 0


async def test_rates_come_from_the_agents_own_time_base(agent: Agent, poller: SnmpPoller):
    tracker = RateTracker(min_interval_seconds=3.0)
    first = await poller.poll_interfaces(agent.device)
    assert tracker.update(first).rates == ()  # a baseline, no rate yet
    # wait on the agent's clock, not ours: the lab's runs 60x faster than the wall
    second = first
    for _ in range(100):
        await asyncio.sleep(0.1)
        second = await poller.poll_interfaces(agent.device)
        if second.uptime_ticks - first.uptime_ticks >= 400:
            break
    update = tracker.update(second)
    assert update.interval_seconds is not None
    assert update.interval_seconds == pytest.approx(
        (second.uptime_ticks - first.uptime_ticks) / 100
    )
    assert {r.interface for r in update.rates} == {i.name for i in second.interfaces}
    assert all(r.in_mbps >= 0 and r.out_mbps >= 0 for r in update.rates)


async def test_a_wrong_community_is_a_timeout_that_never_shows_the_secret(
    agent: Agent, poller: SnmpPoller, tmp_path: Path
):
    wrong = tmp_path / "wrong-community"
    wrong.write_text("not-the-community\n")
    wrong.chmod(0o600)
    assert agent.device.snmp is not None
    device = replace(
        agent.device, snmp=replace(agent.device.snmp, community=CredentialRef(file=str(wrong)))
    )
    with pytest.raises(AdapterTimeoutError) as raised:
        await poller.poll_interfaces(device)
    assert raised.value.device == agent.device.name and raised.value.retryable
    assert "not-the-community" not in str(raised.value)
    assert agent.secret not in str(raised.value)


async def test_a_dead_agent_does_not_hold_up_a_live_one(agent: Agent, poller: SnmpPoller):
    assert agent.device.snmp is not None
    dead = replace(
        agent.device,
        name="dead",
        snmp=replace(agent.device.snmp, port=_closed_udp_port()),
    )
    results = await poller.poll_many([agent.device, dead])
    assert not isinstance(results[agent.device.name], Exception)
    assert isinstance(results["dead"], AdapterTimeoutError)
