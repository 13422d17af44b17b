"""Fixtures for the lab SNMP agent tests: a tiny in-test backend, running agents, a raw client.

The agent under test is real (UDP on loopback, port from the OS); only its device is a
stand-in, a mutable snapshot that tests change between requests to make counters move.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import pytest

from lab.backend import AgentSnapshot, InterfaceCounters
from lab.snmp_agent import LabSnmpAgent
from lab.snmp_codec import (
    NULL,
    Counter32,
    Counter64,
    Gauge32,
    Integer,
    Message,
    ObjectIdentifier,
    OctetString,
    Oid,
    Pdu,
    PduType,
    TimeTicks,
    Value,
    VarBind,
    decode_message,
    encode_message,
)

# The two loopback addresses every integration test runs on: the usual one, and one like an
# emulated device's own address (Linux routes all of 127/8 to lo; nothing to configure).
AGENT_HOSTS = ("127.0.0.1", "127.0.1.3")

# A reply on loopback takes well under a millisecond; this only bounds a broken test.
REPLY_TIMEOUT = 2.0

IFX_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_COLUMNS = (1, 6, 7, 10, 11, 15, 18, 19)
IF_COLUMNS = (1, 2, 3, 4, 5, 7, 8, 10, 11, 16, 17)


def make_interface(index: int, **changes: object) -> InterfaceCounters:
    """An interface with distinct, recognisable values per index."""
    itf = InterfaceCounters(
        index=index,
        name=f"ge-0/0/{index}",
        alias=f"uplink to r{index}",
        speed_mbps=1000 * index,
        admin_up=True,
        oper_up=index % 2 == 1,
        in_octets=1_000_000 * index + 7,
        out_octets=2_000_000 * index + 11,
        in_packets=1_000 * index + 3,
        out_packets=2_000 * index + 5,
    )
    return replace(itf, **changes)  # type: ignore[arg-type]


def make_snapshot(interfaces: int = 4, *, uptime_ticks: int = 123_456) -> AgentSnapshot:
    """A device with ``interfaces`` interfaces numbered from 1."""
    return AgentSnapshot(
        sys_name="r1.lab",
        sys_descr="netpilot lab router",
        uptime_ticks=uptime_ticks,
        interfaces=tuple(make_interface(i) for i in range(1, interfaces + 1)),
    )


@dataclass
class TinyBackend:
    """An SnmpBackend whose snapshot the test sets; counts the agent's calls."""

    snapshot: AgentSnapshot = field(default_factory=make_snapshot)
    calls: int = 0

    def snmp_snapshot(self) -> AgentSnapshot:
        self.calls += 1
        return self.snapshot

    def set_interface(self, index: int, **changes: object) -> None:
        """Change some fields of interface ``index``."""
        interfaces = tuple(
            replace(itf, **changes) if itf.index == index else itf  # type: ignore[arg-type]
            for itf in self.snapshot.interfaces
        )
        self.snapshot = replace(self.snapshot, interfaces=interfaces)


@dataclass
class RunningAgent:
    """An agent serving on ``host:port`` for one test."""

    agent: LabSnmpAgent
    backend: TinyBackend
    host: str
    port: int


StartAgent = Callable[..., Awaitable[RunningAgent]]


@pytest.fixture(params=AGENT_HOSTS)
def agent_host(request: pytest.FixtureRequest) -> str:
    """Each integration test runs once per loopback address."""
    return str(request.param)


@pytest.fixture
async def start_agent(agent_host: str) -> AsyncIterator[StartAgent]:
    """Start agents on ``agent_host`` (port 0); all are stopped at teardown.

    Call as ``await start_agent(backend=..., **LabSnmpAgent kwargs)``.
    """
    started: list[LabSnmpAgent] = []

    async def start(backend: TinyBackend | None = None, **kwargs: object) -> RunningAgent:
        backend = backend if backend is not None else TinyBackend()
        agent = LabSnmpAgent(backend, **kwargs)  # type: ignore[arg-type]
        port = await agent.start(agent_host, 0)
        started.append(agent)
        return RunningAgent(agent, backend, agent_host, port)

    yield start
    for agent in started:
        await agent.stop()


@pytest.fixture
async def running(start_agent: StartAgent) -> RunningAgent:
    """One agent with the default 4-interface backend."""
    return await start_agent()


class _ClientProtocol(asyncio.DatagramProtocol):
    def __init__(self, replies: asyncio.Queue[bytes]) -> None:
        self.replies = replies

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.replies.put_nowait(data)


class RawClient:
    """A bare UDP client: sends any bytes, waits for a reply with a bounded timeout."""

    def __init__(self, transport: asyncio.DatagramTransport, replies: asyncio.Queue[bytes]):
        self._transport = transport
        self._replies = replies
        self._ids = itertools.count(1000)

    def send(self, data: bytes, target: tuple[str, int]) -> None:
        self._transport.sendto(data, target)

    async def receive(self) -> bytes:
        """The next reply; fails the test after REPLY_TIMEOUT seconds."""
        return await asyncio.wait_for(self._replies.get(), REPLY_TIMEOUT)

    def pending(self) -> int:
        """Replies received and not yet read."""
        return self._replies.qsize()

    async def request(
        self,
        target: tuple[str, int],
        pdu_type: PduType,
        oids: list[Oid],
        *,
        error_status: int = 0,
        error_index: int = 0,
        community: bytes = b"public",
    ) -> Pdu:
        """Send a request PDU with NULL values and return the decoded Response PDU."""
        request_id = next(self._ids)
        pdu = Pdu(pdu_type, request_id, error_status, error_index, tuple((o, NULL) for o in oids))
        self.send(encode_message(Message(community, pdu)), target)
        reply = decode_message(await self.receive())
        assert reply.community == community
        assert reply.pdu.pdu_type is PduType.RESPONSE
        assert reply.pdu.request_id == request_id
        return reply.pdu

    def close(self) -> None:
        self._transport.close()


@pytest.fixture
async def raw_client() -> AsyncIterator[RawClient]:
    """A raw UDP client bound to 127.0.0.1, port from the OS."""
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _ClientProtocol(replies), local_addr=("127.0.0.1", 0)
    )
    client = RawClient(transport, replies)
    yield client
    client.close()


# ---------------------------------------------------------------------------------------
# What the agent must serve, written out independently of lab.snmp_agent
# ---------------------------------------------------------------------------------------

SYSTEM: Oid = (1, 3, 6, 1, 2, 1, 1)
SYS_UPTIME_0: Oid = SYSTEM + (3, 0)
IF_NUMBER_0: Oid = (1, 3, 6, 1, 2, 1, 2, 1, 0)


def _status(up: bool) -> Value:
    return Integer(1 if up else 2)


def if_value(column: int, itf: InterfaceCounters) -> Value:
    """IF-MIB ifTable column ``column`` of ``itf`` as RFC 2863 defines it."""
    columns: dict[int, Callable[[], Value]] = {
        1: lambda: Integer(itf.index),
        2: lambda: OctetString(itf.name.encode()),
        3: lambda: Integer(6),
        4: lambda: Integer(1500),
        5: lambda: Gauge32(min(itf.speed_mbps * 10**6, 2**32 - 1)),
        7: lambda: _status(itf.admin_up),
        8: lambda: _status(itf.oper_up),
        10: lambda: Counter32(itf.in_octets % 2**32),
        11: lambda: Counter32(itf.in_packets % 2**32),
        16: lambda: Counter32(itf.out_octets % 2**32),
        17: lambda: Counter32(itf.out_packets % 2**32),
    }
    return columns[column]()


def ifx_value(column: int, itf: InterfaceCounters) -> Value:
    """IF-MIB ifXTable column ``column`` of ``itf``."""
    columns: dict[int, Callable[[], Value]] = {
        1: lambda: OctetString(itf.name.encode()),
        6: lambda: Counter64(itf.in_octets % 2**64),
        7: lambda: Counter64(itf.in_packets % 2**64),
        10: lambda: Counter64(itf.out_octets % 2**64),
        11: lambda: Counter64(itf.out_packets % 2**64),
        15: lambda: Gauge32(itf.speed_mbps),
        18: lambda: OctetString(itf.alias.encode()),
        19: lambda: TimeTicks(0),
    }
    return columns[column]()


def expected_ifx_walk(snapshot: AgentSnapshot) -> list[VarBind]:
    """ifXTable in lexicographic order: column by column, row by row."""
    return [
        (IFX_ENTRY + (column, itf.index), ifx_value(column, itf))
        for column in IFX_COLUMNS
        for itf in sorted(snapshot.interfaces, key=lambda i: i.index)
    ]


def expected_if_walk(snapshot: AgentSnapshot) -> list[VarBind]:
    """ifTable in lexicographic order."""
    return [
        (IF_ENTRY + (column, itf.index), if_value(column, itf))
        for column in IF_COLUMNS
        for itf in sorted(snapshot.interfaces, key=lambda i: i.index)
    ]


def expected_system(
    snapshot: AgentSnapshot,
    sys_object_id: Oid = (1, 3, 6, 1, 4, 1, 32473, 1),
    contact: bytes = b"netpilot lab <noc@lab.invalid>",
    location: bytes = b"netpilot embedded lab",
) -> list[VarBind]:
    """The system group, sysDescr.0 to sysLocation.0."""
    return [
        (SYSTEM + (1, 0), OctetString(snapshot.sys_descr.encode())),
        (SYSTEM + (2, 0), ObjectIdentifier(sys_object_id)),
        (SYS_UPTIME_0, TimeTicks(snapshot.uptime_ticks % 2**32)),
        (SYSTEM + (4, 0), OctetString(contact)),
        (SYSTEM + (5, 0), OctetString(snapshot.sys_name.encode())),
        (SYSTEM + (6, 0), OctetString(location)),
    ]


def expected_mib(snapshot: AgentSnapshot) -> list[VarBind]:
    """Every instance the default agent serves, in GETNEXT order."""
    return [
        *expected_system(snapshot),
        (IF_NUMBER_0, Integer(len(snapshot.interfaces))),
        *expected_if_walk(snapshot),
        *expected_ifx_walk(snapshot),
    ]
