"""The whole metro lab on loopback: state over NETCONF, fault injection, traps, the launcher."""

from __future__ import annotations

import asyncio
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import ncclient.transport.session
import pytest
from ncclient import manager

from lab.control import ControlError, ControlServer, request
from lab.launcher import LabOptions, serve_lab
from lab.runtime import LAB_USER, LabNetwork
from lab.scenarios import get_scenario
from lab.snmp_agent import LINK_DOWN
from lab.snmp_codec import ObjectIdentifier, PduType, decode_message
from lab.topology import metro_lab
from tests.lab_netconf.conftest import parse_xml

pytestmark = pytest.mark.integration

LAB_NS = "urn:netpilot:lab"


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.traps: asyncio.Queue[tuple[tuple[str, int], bytes]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.traps.put_nowait((addr, data))


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ncclient.transport.session, "TICK", 0.005)
    loop = asyncio.get_running_loop()
    receiver = _Receiver()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: receiver, local_addr=("127.0.0.1", 0)
    )
    lab = LabNetwork(
        metro_lab(),
        get_scenario("steady"),
        trap_targets=[transport.get_extra_info("sockname")],
    )
    await lab.start(tmp_path)
    control = ControlServer(lab, tmp_path / "control.sock")
    await control.start()
    try:
        yield lab, receiver, tmp_path
    finally:
        await control.stop()
        await lab.stop()
        transport.close()


def _get_state(lab: LabNetwork, name: str, subtree: str) -> ET.Element:
    device = lab.devices[name]
    with manager.connect(
        host=device.address,
        port=device.netconf_port,
        username=LAB_USER,
        password=lab.password,
        hostkey_verify=False,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    ) as session:
        reply = session.get(filter=("subtree", f'<state xmlns="{LAB_NS}">{subtree}</state>'))
        return parse_xml(reply.xml.encode())


async def test_power_carriers_and_subscriber_features_over_netconf(running):
    lab, _, _ = running
    root = await asyncio.to_thread(_get_state, lab, "ran-west-1", "<power/><carrier/><subscriber/>")
    q = f"{{{LAB_NS}}}"
    total = float(root.findtext(f".//{q}power/{q}total-watts") or "0")
    radio = float(root.findtext(f".//{q}power/{q}radio-watts") or "0")
    assert 0 < radio < total
    carriers = root.findall(f".//{q}carrier")
    assert {c.findtext(f"{q}name") for c in carriers} >= {"a-l800", "a-n3500"}
    assert all(c.findtext(f"{q}power-state") == "active" for c in carriers)
    for subscriber in root.findall(f".//{q}subscriber"):
        leaves = {child.tag.removeprefix(q) for child in subscriber}
        assert "stall" not in " ".join(leaves) and "buffer" not in " ".join(leaves)


async def test_a_link_cut_through_the_control_socket_sends_link_down_traps(running):
    lab, receiver, state_dir = running
    result = await asyncio.to_thread(
        request, state_dir, {"op": "link", "link": "core2-core3", "action": "cut"}
    )
    assert result == {"link": "core2-core3", "action": "cut"}
    senders: set[str] = set()
    while len(senders) < 2:
        (address, _), data = await asyncio.wait_for(receiver.traps.get(), 5)
        message = decode_message(data)
        assert message.pdu.pdu_type is PduType.SNMPV2_TRAP
        assert message.pdu.varbinds[1][1] == ObjectIdentifier(LINK_DOWN)
        senders.add(address)
    assert senders == {lab.devices["core2"].address, lab.devices["core3"].address}
    status = await asyncio.to_thread(request, state_dir, {"op": "status"})
    assert isinstance(status, dict)
    assert "link core2-core3: cut" in status["faults"]
    with pytest.raises(ControlError, match="unknown link"):
        await asyncio.to_thread(request, state_dir, {"op": "link", "link": "x", "action": "cut"})


async def test_serve_lab_prints_status_lines_and_a_final_status(tmp_path):
    out = io.StringIO()
    stop = asyncio.Event()
    final = await serve_lab(
        LabOptions(
            scenario="night-low-load",
            speed=3600,  # an hour of lab time per wall second
            state_dir=tmp_path,
            duration=2.2,
            status_interval=0.5,
            output="json",
        ),
        stop=stop,
        out=out,
    )
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["devices"] == 13 and lines[0]["start_seconds"] < 10
    statuses = lines[1:]
    assert len(statuses) >= 3
    assert statuses[-1]["load"]["offered_gbps"] < statuses[0]["load"]["offered_gbps"]
    power = final["power"]
    assert isinstance(power, dict)
    assert power["total_kw"] > 0
    assert not (tmp_path / "control.sock").exists()
    assert (tmp_path / "video-truth.jsonl").read_text().strip()
