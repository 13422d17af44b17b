"""The lab SNMP agent over real UDP, read by pysnmp 7 (the controller's client) and raw PDUs.

Every test runs on 127.0.0.1 and on 127.0.1.3 (an emulated device's own address), port 0.
Raw PDUs check what pysnmp hides (varbind names on endOfMibView, truncation, counters).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_walk_cmd,
    get_cmd,
    set_cmd,
)
from pysnmp.proto import rfc1902

from lab.snmp_agent import LabSnmpAgent
from lab.snmp_codec import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    Counter32,
    Counter64,
    ErrorStatus,
    Gauge32,
    Message,
    OctetString,
    Oid,
    Pdu,
    PduType,
    TimeTicks,
    VarBind,
    bulk_request,
    decode_message,
    encode_message,
)
from tests.lab_snmp.conftest import (
    IF_ENTRY,
    IF_NUMBER_0,
    IFX_ENTRY,
    SYS_UPTIME_0,
    SYSTEM,
    RawClient,
    RunningAgent,
    StartAgent,
    TinyBackend,
    expected_if_walk,
    expected_ifx_walk,
    expected_mib,
    expected_system,
    make_interface,
    make_snapshot,
)
from tests.lab_snmp.pysnmp_bridge import from_pysnmp

pytestmark = pytest.mark.integration

IF_DESCR: Oid = IF_ENTRY + (2,)
IF_IN_OCTETS: Oid = IF_ENTRY + (10,)
IF_OUT_OCTETS: Oid = IF_ENTRY + (16,)
IF_HC_IN_OCTETS: Oid = IFX_ENTRY + (6,)
IF_HC_OUT_OCTETS: Oid = IFX_ENTRY + (10,)
IF_HIGH_SPEED: Oid = IFX_ENTRY + (15,)
IF_DISCONTINUITY: Oid = IFX_ENTRY + (19,)


def dotted(oid: Oid) -> str:
    return ".".join(map(str, oid))


@pytest.fixture
async def engine() -> AsyncIterator[SnmpEngine]:
    """ONE pysnmp engine for the test (a new engine per request is 32x slower)."""
    snmp_engine = SnmpEngine()
    yield snmp_engine
    snmp_engine.close_dispatcher()


class PysnmpClient:
    """pysnmp 7 hlapi calls with numeric OIDs, results converted to the codec's values."""

    def __init__(self, engine: SnmpEngine, target: Any, community: str = "public") -> None:
        self.engine = engine
        self.target = target
        self.auth = CommunityData(community)  # mpModel=1: SNMPv2c

    async def get(self, *oids: Oid) -> tuple[Any, int, int, list[VarBind]]:
        error_indication, status, index, varbinds = await get_cmd(
            self.engine,
            self.auth,
            self.target,
            ContextData(),
            *(ObjectType(ObjectIdentity(dotted(oid))) for oid in oids),
            lookupMib=False,
        )
        return error_indication, int(status), int(index), _ours(varbinds)

    async def walk(self, root: Oid, max_repetitions: int = 25) -> list[VarBind]:
        rows: list[VarBind] = []
        async for error_indication, status, _, varbinds in bulk_walk_cmd(
            self.engine,
            self.auth,
            self.target,
            ContextData(),
            0,
            max_repetitions,
            ObjectType(ObjectIdentity(dotted(root))),
            lexicographicMode=False,
            lookupMib=False,
        ):
            assert error_indication is None
            assert int(status) == 0
            rows.extend(_ours(varbinds))
        return rows


def _ours(varbinds: Any) -> list[VarBind]:
    return [(tuple(name), from_pysnmp(value)) for name, value in varbinds]


async def pysnmp_client(
    engine: SnmpEngine, running: RunningAgent, community: str = "public", reply_timeout: float = 2.0
) -> PysnmpClient:
    target = await UdpTransportTarget.create(
        (running.host, running.port), timeout=reply_timeout, retries=0
    )
    return PysnmpClient(engine, target, community)


# ---------------------------------------------------------------------------------------
# pysnmp, the controller's client
# ---------------------------------------------------------------------------------------


async def test_pysnmp_reads_the_system_group(start_agent: StartAgent, engine: SnmpEngine) -> None:
    running = await start_agent(
        sys_object_id=(1, 3, 6, 1, 4, 1, 32473, 7, 2),
        sys_contact="noc",
        sys_location="rack 3",
    )
    client = await pysnmp_client(engine, running)
    oids = [SYSTEM + (column, 0) for column in range(1, 7)]
    error_indication, status, _, varbinds = await client.get(*oids)
    assert error_indication is None
    assert status == 0
    assert varbinds == expected_system(
        running.backend.snapshot, (1, 3, 6, 1, 4, 1, 32473, 7, 2), b"noc", b"rack 3"
    )


async def test_pysnmp_bulk_walk_of_ifxtable_returns_every_column_and_row(
    start_agent: StartAgent, engine: SnmpEngine
) -> None:
    # 12 interfaces x 8 columns = 96 varbinds: several GETBULKs of 25
    running = await start_agent(TinyBackend(make_snapshot(12)))
    client = await pysnmp_client(engine, running)
    walked = await client.walk(IFX_ENTRY)
    assert walked == expected_ifx_walk(running.backend.snapshot)
    assert running.agent.stats.requests_served == 4  # ceil(96 / 25), the last one ends it


async def test_pysnmp_walk_of_iftable_caps_ifspeed_and_keeps_ifhighspeed(
    start_agent: StartAgent, engine: SnmpEngine
) -> None:
    backend = TinyBackend()
    backend.set_interface(2, speed_mbps=100_000, admin_up=False, oper_up=False)
    running = await start_agent(backend)
    client = await pysnmp_client(engine, running)
    walked = await client.walk(IF_ENTRY)
    assert walked == expected_if_walk(backend.snapshot)
    assert (IF_ENTRY + (5, 2), Gauge32(2**32 - 1)) in walked
    _, _, _, high_speed = await client.get(IF_HIGH_SPEED + (2,))
    assert high_speed == [(IF_HIGH_SPEED + (2,), Gauge32(100_000))]


async def test_counter32_wraps_where_counter64_and_sysuptime_do_not_yet(
    start_agent: StartAgent, engine: SnmpEngine
) -> None:
    backend = TinyBackend()
    running = await start_agent(backend)
    client = await pysnmp_client(engine, running)
    names = (IF_IN_OCTETS + (1,), IF_HC_IN_OCTETS + (1,), IF_OUT_OCTETS + (1,))
    hc_out = IF_HC_OUT_OCTETS + (1,)

    backend.set_interface(1, in_octets=2**32 - 10, out_octets=2**64 - 1)
    _, _, _, before = await client.get(*names, hc_out, SYS_UPTIME_0)
    backend.set_interface(1, in_octets=2**32 + 5, out_octets=2**64 + 3)
    backend.snapshot = replace(backend.snapshot, uptime_ticks=2**32 + 7)
    _, _, _, after = await client.get(*names, hc_out, SYS_UPTIME_0)

    assert [value for _, value in before] == [
        Counter32(2**32 - 10),
        Counter64(2**32 - 10),
        Counter32(2**32 - 1),
        Counter64(2**64 - 1),
        TimeTicks(123_456),
    ]
    assert [value for _, value in after] == [
        Counter32(5),  # wrapped: 15 octets later the 32-bit counter reads less
        Counter64(2**32 + 5),  # the 64-bit one keeps counting
        Counter32(3),
        Counter64(3),  # even Counter64 wraps, after 2**64
        TimeTicks(7),  # TimeTicks wrap after 497 days of (lab) time
    ]


async def test_wrong_community_gets_no_answer_and_is_counted(
    start_agent: StartAgent, engine: SnmpEngine
) -> None:
    running = await start_agent()
    wrong = await pysnmp_client(engine, running, community="private", reply_timeout=0.3)
    error_indication, _, _, varbinds = await wrong.get(SYS_UPTIME_0)
    assert "timeout" in str(error_indication).lower()
    assert varbinds == []
    stats = running.agent.stats
    assert (stats.dropped_bad_community, stats.requests_served) == (1, 0)
    assert running.backend.calls == 0  # dropped before the device is asked
    right = await pysnmp_client(engine, running)
    error_indication, _, _, _ = await right.get(SYS_UPTIME_0)
    assert error_indication is None


async def test_pysnmp_sees_nosuchobject_and_nosuchinstance(
    running: RunningAgent, engine: SnmpEngine
) -> None:
    client = await pysnmp_client(engine, running)
    asked = [
        SYSTEM + (3,),  # sysUpTime without its .0: the object exists, that instance not
        SYSTEM + (3, 1),
        IF_DESCR + (99,),  # no interface 99
        SYSTEM + (99, 0),  # no such object in the system group
        IF_ENTRY + (6, 1),  # ifPhysAddress is not served
        (1, 3, 6, 1, 4, 1, 32473, 1, 0),  # enterprise subtree: nothing registered yet
    ]
    error_indication, status, _, varbinds = await client.get(*asked)
    assert (error_indication, status) == (None, 0)
    assert varbinds == [
        (asked[0], NO_SUCH_INSTANCE),
        (asked[1], NO_SUCH_INSTANCE),
        (asked[2], NO_SUCH_INSTANCE),
        (asked[3], NO_SUCH_OBJECT),
        (asked[4], NO_SUCH_OBJECT),
        (asked[5], NO_SUCH_OBJECT),
    ]


async def test_set_is_refused_as_notwritable_and_changes_nothing(
    running: RunningAgent, engine: SnmpEngine, raw_client: RawClient
) -> None:
    client = await pysnmp_client(engine, running)
    error_indication, status, index, varbinds = await set_cmd(
        engine,
        client.auth,
        client.target,
        ContextData(),
        ObjectType(ObjectIdentity(dotted(SYSTEM + (5, 0))), rfc1902.OctetString("hacked")),
        lookupMib=False,
    )
    assert error_indication is None
    assert (int(status), int(index)) == (ErrorStatus.NOT_WRITABLE, 1)
    assert _ours(varbinds) == [(SYSTEM + (5, 0), OctetString(b"hacked"))]
    _, _, _, name = await client.get(SYSTEM + (5, 0))
    assert name == [(SYSTEM + (5, 0), OctetString(b"r1.lab"))]
    # a name outside the MIB is outside the (empty) write view: noAccess
    outside = (1, 3, 6, 1, 4, 1, 99, 1, 0)
    reply = await raw_client.request(running_target(running), PduType.SET_REQUEST, [outside])
    assert (reply.error_status, reply.error_index) == (ErrorStatus.NO_ACCESS, 1)
    assert reply.varbinds == ((outside, NULL),)


# ---------------------------------------------------------------------------------------
# Raw PDUs: what pysnmp hides
# ---------------------------------------------------------------------------------------


def running_target(running: RunningAgent) -> tuple[str, int]:
    return (running.host, running.port)


async def bulk(
    client: RawClient,
    running: RunningAgent,
    non_repeaters: int,
    max_repetitions: int,
    oids: list[Oid],
) -> tuple[Pdu, int]:
    """A GETBULK; returns the response PDU and the response datagram's size."""
    request = bulk_request(77, non_repeaters, max_repetitions, oids)
    client.send(encode_message(Message(b"public", request)), running_target(running))
    data = await client.receive()
    reply = decode_message(data).pdu
    assert (reply.pdu_type, reply.request_id) == (PduType.RESPONSE, 77)
    return reply, len(data)


async def test_getnext_past_the_last_instance_is_endofmibview_with_the_requested_name(
    running: RunningAgent, raw_client: RawClient
) -> None:
    last = IF_DISCONTINUITY + (4,)
    beyond = (1, 3, 6, 1, 4, 1)
    reply = await raw_client.request(
        running_target(running), PduType.GET_NEXT_REQUEST, [IF_DISCONTINUITY + (3,), last, beyond]
    )
    assert reply.error_status == 0
    assert reply.varbinds == (
        (last, TimeTicks(0)),
        (last, END_OF_MIB_VIEW),
        (beyond, END_OF_MIB_VIEW),
    )


async def test_getnext_walks_the_whole_mib_in_lexicographic_order(
    running: RunningAgent, raw_client: RawClient
) -> None:
    walked: list[VarBind] = []
    name: Oid = (0, 0)
    while True:
        reply = await raw_client.request(running_target(running), PduType.GET_NEXT_REQUEST, [name])
        ((name, value),) = reply.varbinds
        if value == END_OF_MIB_VIEW:
            break
        walked.append((name, value))
    assert walked == expected_mib(running.backend.snapshot)


async def test_getbulk_repeats_after_the_non_repeaters(
    running: RunningAgent, raw_client: RawClient
) -> None:
    reply, _ = await bulk(
        raw_client, running, 2, 3, [SYSTEM + (3,), IF_NUMBER_0[:-1], IF_DESCR, IF_HIGH_SPEED]
    )
    snapshot = running.backend.snapshot
    names = [f"ge-0/0/{i}".encode() for i in (1, 2, 3)]
    assert reply.varbinds == (
        (SYS_UPTIME_0, TimeTicks(snapshot.uptime_ticks)),
        (IF_NUMBER_0, expected_mib(snapshot)[6][1]),
        (IF_DESCR + (1,), OctetString(names[0])),
        (IF_HIGH_SPEED + (1,), Gauge32(1000)),
        (IF_DESCR + (2,), OctetString(names[1])),
        (IF_HIGH_SPEED + (2,), Gauge32(2000)),
        (IF_DESCR + (3,), OctetString(names[2])),
        (IF_HIGH_SPEED + (3,), Gauge32(3000)),
    )


async def test_getbulk_with_more_non_repeaters_than_varbinds_is_a_getnext(
    running: RunningAgent, raw_client: RawClient
) -> None:
    reply, _ = await bulk(raw_client, running, 5, 10, [SYSTEM, IF_DESCR + (4,)])
    assert [name for name, _ in reply.varbinds] == [SYSTEM + (1, 0), IF_ENTRY + (3, 1)]


async def test_getbulk_past_the_end_repeats_endofmibview_then_stops(
    running: RunningAgent, raw_client: RawClient
) -> None:
    last = IF_DISCONTINUITY + (4,)
    reply, _ = await bulk(raw_client, running, 0, 10, [IF_DISCONTINUITY + (3,), SYSTEM + (6, 0)])
    mib = expected_mib(running.backend.snapshot)
    # repetition 1: both advance; 2..10: the first stays at the end, the second walks on
    expected: list[VarBind] = [(last, TimeTicks(0)), mib[6]]
    for step in range(1, 10):
        expected += [(last, END_OF_MIB_VIEW), mib[6 + step]]
    assert list(reply.varbinds) == expected

    # once every repeater is past the end, that repetition is the last one
    reply, _ = await bulk(raw_client, running, 0, 50, [IF_DISCONTINUITY + (3,)])
    assert reply.varbinds == ((last, TimeTicks(0)), (last, END_OF_MIB_VIEW))
    reply, _ = await bulk(raw_client, running, 0, 50, [(2, 1)])
    assert reply.varbinds == (((2, 1), END_OF_MIB_VIEW),)


async def test_getbulk_truncates_whole_repetitions_to_the_varbind_limit(
    start_agent: StartAgent, engine: SnmpEngine, raw_client: RawClient
) -> None:
    running = await start_agent(max_bulk_varbinds=10)
    reply, _ = await bulk(raw_client, running, 0, 100, [IF_DESCR, IF_HC_IN_OCTETS, IF_HIGH_SPEED])
    assert len(reply.varbinds) == 9  # three whole repetitions of three
    assert reply.varbinds[-3][0] == IF_DESCR + (3,)
    # and a walker still gets the whole table, ten varbinds at a time
    client = await pysnmp_client(engine, running)
    assert await client.walk(IFX_ENTRY, max_repetitions=50) == expected_ifx_walk(
        running.backend.snapshot
    )


async def test_getbulk_truncates_to_the_response_size_limit(
    start_agent: StartAgent, raw_client: RawClient
) -> None:
    # 50 interfaces with 1,000-byte aliases: the whole MIB is ~60 KB of aliases alone
    snapshot = make_snapshot(50)
    snapshot = replace(
        snapshot,
        interfaces=tuple(replace(i, alias=f"{i.index:04d}" * 250) for i in snapshot.interfaces),
    )
    running = await start_agent(TinyBackend(snapshot))
    reply, size = await bulk(raw_client, running, 0, 2**31 - 1, [(1, 3, 6, 1, 2, 1)])
    assert 60_000 < size <= 65_000
    mib = expected_mib(snapshot)
    assert list(reply.varbinds) == mib[: len(reply.varbinds)]
    assert len(reply.varbinds) < len(mib)

    small = await start_agent(max_response_bytes=400)
    reply, size = await bulk(raw_client, small, 0, 2**31 - 1, [IF_DESCR, IF_HIGH_SPEED])
    assert size <= 400
    assert len(reply.varbinds) % 2 == 0
    assert len(reply.varbinds) >= 2


async def test_a_get_too_big_for_one_datagram_is_toobig(
    start_agent: StartAgent, raw_client: RawClient
) -> None:
    running = await start_agent(max_response_bytes=200)
    reply = await raw_client.request(
        running_target(running), PduType.GET_REQUEST, [SYSTEM + (1, 0)] * 20
    )
    assert (reply.error_status, reply.error_index, reply.varbinds) == (ErrorStatus.TOO_BIG, 0, ())


async def test_garbage_does_not_stop_the_agent_answering_the_next_request(
    running: RunningAgent, raw_client: RawClient
) -> None:
    target = running_target(running)
    good = encode_message(
        Message(b"public", Pdu(PduType.GET_REQUEST, 5, 0, 0, ((SYS_UPTIME_0, NULL),)))
    )
    v1 = bytearray(good)
    v1[4] = 0  # version-1 (SNMPv1)
    v3_header = bytes.fromhex("3013020103300e02020001020205dc040104020103")
    response = good.replace(b"\xa0", b"\xa2", 1)
    for junk in (b"\x00" * 10, good[:-3], bytes(v1), v3_header, response, good + b"\x00"):
        raw_client.send(junk, target)
    raw_client.send(good.replace(b"public", b"publiX"), target)
    raw_client.send(good, target)
    reply = decode_message(await raw_client.receive())
    assert reply.pdu.request_id == 5
    assert reply.pdu.varbinds == ((SYS_UPTIME_0, TimeTicks(123_456)),)
    assert raw_client.pending() == 0  # nothing answered the junk
    stats = running.agent.stats
    assert stats.requests_served == 1
    assert stats.dropped_malformed == 3
    assert stats.dropped_wrong_version == 2
    assert stats.dropped_unexpected_pdu == 1
    assert stats.dropped_bad_community == 1
    assert stats.dropped == 7
    assert running.backend.calls == 1


async def test_one_snapshot_per_request_served(start_agent: StartAgent, engine: SnmpEngine) -> None:
    running = await start_agent(TinyBackend(make_snapshot(20)))
    client = await pysnmp_client(engine, running)
    await client.walk(IFX_ENTRY)
    await client.get(SYS_UPTIME_0, IF_HC_IN_OCTETS + (3,))
    assert running.backend.calls == running.agent.stats.requests_served == 8


async def test_a_new_interface_is_served_from_the_next_request(
    running: RunningAgent, engine: SnmpEngine
) -> None:
    client = await pysnmp_client(engine, running)
    assert len(await client.walk(IFX_ENTRY)) == 4 * 8
    backend = running.backend
    backend.snapshot = replace(
        backend.snapshot, interfaces=(*backend.snapshot.interfaces, make_interface(10))
    )
    walked = await client.walk(IFX_ENTRY)
    assert walked == expected_ifx_walk(backend.snapshot)
    assert (IFX_ENTRY + (1, 10), OctetString(b"ge-0/0/10")) in walked


async def test_a_value_the_agent_cannot_encode_is_generr_and_the_agent_goes_on(
    running: RunningAgent, raw_client: RawClient, caplog: pytest.LogCaptureFixture
) -> None:
    running.backend.set_interface(2, speed_mbps=-1)  # a broken device model
    target = running_target(running)
    with caplog.at_level(logging.ERROR, logger="lab.snmp_agent"):
        reply = await raw_client.request(
            target, PduType.GET_REQUEST, [SYS_UPTIME_0, IF_HIGH_SPEED + (2,)]
        )
    assert (reply.error_status, reply.error_index) == (ErrorStatus.GEN_ERR, 2)
    assert "varbind 2" in caplog.text
    reply = await raw_client.request(target, PduType.GET_REQUEST, [IF_HIGH_SPEED + (1,)])
    assert reply.varbinds == ((IF_HIGH_SPEED + (1,), Gauge32(1000)),)


async def test_agents_on_two_device_addresses_share_a_port(raw_client: RawClient) -> None:
    first = LabSnmpAgent(TinyBackend(replace(make_snapshot(1), sys_name="r3")))
    second = LabSnmpAgent(TinyBackend(replace(make_snapshot(1), sys_name="r4")))
    port = await first.start("127.0.1.3", 0)
    try:
        assert await second.start("127.0.1.4", port) == port
        try:
            for host, name in (("127.0.1.3", b"r3"), ("127.0.1.4", b"r4")):
                reply = await raw_client.request(
                    (host, port), PduType.GET_REQUEST, [SYSTEM + (5, 0)]
                )
                assert reply.varbinds == ((SYSTEM + (5, 0), OctetString(name)),)
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_start_twice_is_refused_and_stop_twice_is_harmless() -> None:
    agent = LabSnmpAgent(TinyBackend())
    port = await agent.start("127.0.0.1", 0)
    assert port > 0
    with pytest.raises(RuntimeError, match="already started"):
        await agent.start("127.0.0.1", 0)
    await agent.stop()
    await agent.stop()
    # and it can serve again after a stop
    assert await agent.start("127.0.0.1", 0) > 0
    await agent.stop()
