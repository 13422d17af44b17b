"""SNMPv3 authPriv (SHA/AES), traps and the enterprise power MIB, read by net-snmp and pysnmp."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import replace

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    usmAesCfb128Protocol,
    usmHMACSHAAuthProtocol,
)

from lab.backend import PowerComponent
from lab.snmp_agent import LINK_DOWN, LabSnmpAgent, power_objects
from lab.snmp_codec import (
    Integer,
    ObjectIdentifier,
    PduType,
    TimeTicks,
    decode_message,
)
from lab.snmp_usm import UsmAgent, UsmUser, engine_id_for
from tests.conftest import peer_missing
from tests.lab_snmp.conftest import TinyBackend, make_snapshot

pytestmark = pytest.mark.integration

AUTH, PRIV = "lab-auth-pass", "lab-priv-pass"
USER = UsmUser.from_passwords("netpilot", AUTH, PRIV)
UPTIME = 424_242


async def _v3_agent(**kwargs) -> tuple[LabSnmpAgent, int]:
    backend = TinyBackend(snapshot=make_snapshot(uptime_ticks=UPTIME))
    usm = UsmAgent(engine_id_for("r1"), {USER.name: USER}, clock=time.monotonic)
    agent = LabSnmpAgent(backend, community="secret", usm=usm, **kwargs)
    port = await agent.start("127.0.0.1", 0)
    return agent, port


async def _snmpget(*args: str) -> tuple[int, str, str]:
    tool = shutil.which("snmpget")
    if tool is None:
        peer_missing("net-snmp's snmpget is not installed (apt-get install snmp)")
    process = await asyncio.create_subprocess_exec(
        tool, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


V3 = ("-v3", "-l", "authPriv", "-u", "netpilot", "-a", "SHA", "-x", "AES", "-On", "-r", "0")


@pytest.mark.interop
async def test_netsnmp_reads_the_agent_over_v3_authpriv():
    agent, port = await _v3_agent()
    try:
        code, out, err = await _snmpget(
            *V3, "-A", AUTH, "-X", PRIV, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"
        )
        assert code == 0, err
        assert out.strip().startswith(f".1.3.6.1.2.1.1.3.0 = Timeticks: ({UPTIME})")
        code, out, err = await _snmpget(
            *V3, "-A", "not-the-password", "-X", PRIV, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"
        )
        assert code != 0 and "Authentication failure" in err
        code, out, err = await _snmpget(
            "-v3",
            "-l",
            "noAuthNoPriv",
            "-u",
            "netpilot",
            "-r",
            "0",
            "-On",
            f"127.0.0.1:{port}",
            "1.3.6.1.2.1.1.3.0",
        )
        assert code != 0 and "Unsupported security level" in err
    finally:
        await agent.stop()


async def test_pysnmp_reads_the_agent_over_v3_authpriv():
    agent, port = await _v3_agent()
    try:
        engine = SnmpEngine()
        error_indication, error_status, _, varbinds = await get_cmd(
            engine,
            UsmUserData(
                "netpilot",
                AUTH,
                PRIV,
                authProtocol=usmHMACSHAAuthProtocol,
                privProtocol=usmAesCfb128Protocol,
            ),
            await UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=0),
            ContextData(),
            ObjectType(ObjectIdentity("1.3.6.1.2.1.1.3.0")),
        )
        engine.close_dispatcher()
        assert error_indication is None and not error_status
        assert int(varbinds[0][1]) == UPTIME
        assert agent.usm is not None and agent.usm.stats  # the discovery Report was counted
    finally:
        await agent.stop()


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.put_nowait(data)


async def test_link_down_trap_reaches_the_configured_receiver():
    loop = asyncio.get_running_loop()
    receiver = _Receiver()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: receiver, local_addr=("127.0.0.1", 0)
    )
    target = transport.get_extra_info("sockname")
    agent, _ = await _v3_agent()
    try:
        agent.send_trap(
            target,
            "traps",
            LINK_DOWN,
            [((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2), Integer(2))],
        )
        message = decode_message(await asyncio.wait_for(receiver.received.get(), 2))
    finally:
        await agent.stop()
        transport.close()
    assert message.community == b"traps"
    assert message.pdu.pdu_type is PduType.SNMPV2_TRAP
    (uptime_oid, uptime), (trap_oid, trap), (index_oid, index) = message.pdu.varbinds
    assert uptime == TimeTicks(UPTIME) and trap == ObjectIdentifier(LINK_DOWN)
    assert index_oid[-1] == 2 and index == Integer(2)


@pytest.mark.interop
async def test_netsnmp_reads_the_enterprise_power_mib():
    snapshot = replace(
        make_snapshot(),
        power_mw=1_275_416,
        energy_j=9_000_000_000,
        components=(
            PowerComponent(1, "chassis", 1, 1, 700_000),
            PowerComponent(2, "lc1", 2, 2, 25_000),
        ),
    )
    agent = LabSnmpAgent(TinyBackend(snapshot=snapshot), extra_objects=power_objects())
    port = await agent.start("127.0.0.1", 0)
    try:
        code, out, err = await _snmpget(
            "-v2c",
            "-c",
            "public",
            "-On",
            f"127.0.0.1:{port}",
            "1.3.6.1.4.1.32473.2.1.1.0",
            "1.3.6.1.4.1.32473.2.1.2.0",
            "1.3.6.1.4.1.32473.2.2.1.2.2",
            "1.3.6.1.4.1.32473.2.2.1.4.2",
        )
    finally:
        await agent.stop()
    assert code == 0, err
    assert out.splitlines() == [
        ".1.3.6.1.4.1.32473.2.1.1.0 = Gauge32: 1275416",
        ".1.3.6.1.4.1.32473.2.1.2.0 = Counter64: 9000000000",
        '.1.3.6.1.4.1.32473.2.2.1.2.2 = STRING: "lc1"',
        ".1.3.6.1.4.1.32473.2.2.1.4.2 = INTEGER: 2",
    ]


async def test_an_unreachable_agent_answers_nothing_and_a_slow_one_answers_late(raw_client):
    state: dict[str, float | None] = {"delay": None}
    agent = LabSnmpAgent(TinyBackend(), admission=lambda: state["delay"])
    port = await agent.start("127.0.0.1", 0)
    try:
        with pytest.raises(TimeoutError):
            await raw_client.request(
                ("127.0.0.1", port), PduType.GET_REQUEST, [(1, 3, 6, 1, 2, 1, 1, 3, 0)]
            )
        state["delay"] = 0.3
        started = time.perf_counter()
        pdu = await raw_client.request(
            ("127.0.0.1", port), PduType.GET_REQUEST, [(1, 3, 6, 1, 2, 1, 1, 3, 0)]
        )
        assert time.perf_counter() - started >= 0.3
        assert pdu.error_status == 0
    finally:
        await agent.stop()
