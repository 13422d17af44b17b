"""SnmpPoller on replies snmpd never sends: error-status, missing columns, bad types.

A scripted responder on a UDP socket answers the poller's real GETBULK (decoded and
encoded by pysnmp on the client side) with a reply written here in BER, byte by byte, so the
adapter's error mapping is tested on the wire rather than by patching pysnmp.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from adapters.snmp import SnmpPoller
from controller.errors import ProtocolError
from controller.model import CredentialRef, Device, SnmpEndpoint

pytestmark = pytest.mark.integration

COMMUNITY = "scripted"
SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
IFX = "1.3.6.1.2.1.31.1.1.1"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
COLUMNS = (f"{IFX}.1", f"{IFX}.6", f"{IFX}.10", f"{IFX}.15", f"{IFX}.19", IF_OPER)

# ----------------------------------------------------------------------------- BER


def tlv(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    size = (len(value).bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + len(value).to_bytes(size, "big") + value


def integer(tag: int, value: int, *, unsigned: bool = False) -> bytes:
    width = (value.bit_length() + 8) // 8 if not unsigned else value.bit_length() // 8 + 1
    return tlv(tag, value.to_bytes(width, "big", signed=not unsigned))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def counter64(value: int) -> bytes:
    return integer(0x46, value, unsigned=True)


def gauge32(value: int) -> bytes:
    return integer(0x42, value, unsigned=True)


def timeticks(value: int) -> bytes:
    return integer(0x43, value, unsigned=True)


def int32(value: int) -> bytes:
    return integer(0x02, value)


def string(value: str) -> bytes:
    return tlv(0x04, value.encode())


END_OF_MIB_VIEW = b"\x82\x00"


def read_tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``at``."""
    tag, length = data[at], data[at + 1]
    start = at + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    return tag, start, start + length


def request_id_of(message: bytes) -> bytes:
    """The encoded request-id TLV of an SNMPv2c request."""
    _, body, _ = read_tlv(message, 0)
    _, _, after_version = read_tlv(message, body)
    _, _, after_community = read_tlv(message, after_version)
    _, pdu, _ = read_tlv(message, after_community)
    _, _, after_id = read_tlv(message, pdu)
    return message[pdu:after_id]


def response(
    request: bytes,
    var_binds: Sequence[tuple[str, bytes]],
    *,
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    bindings = b"".join(tlv(0x30, oid(name) + value) for name, value in var_binds)
    pdu = tlv(
        0xA2,
        request_id_of(request) + int32(error_status) + int32(error_index) + tlv(0x30, bindings),
    )
    return tlv(0x30, int32(1) + string(COMMUNITY) + pdu)


# ----------------------------------------------------------------------------- responder


@dataclass
class Responder(asyncio.DatagramProtocol):
    """Answers every request with ``reply(request)``."""

    script: list[tuple[Sequence[tuple[str, bytes]], int, int]]
    transport: asyncio.DatagramTransport | None = None
    requests: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        var_binds, status, index = self.script[min(self.requests, len(self.script) - 1)]
        self.requests += 1
        assert self.transport is not None
        self.transport.sendto(
            response(data, var_binds, error_status=status, error_index=index), addr
        )


@dataclass
class Scripted:
    responder: Responder
    device: Device


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[Scripted]:
    secret = tmp_path / "community"
    secret.write_text(COMMUNITY)
    secret.chmod(0o600)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Responder(script=[]), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    device = Device(
        name="scripted",
        address="127.0.0.1",
        snmp=SnmpEndpoint(
            port=port, community=CredentialRef(file=str(secret)), timeout_seconds=1.0, retries=0
        ),
    )
    yield Scripted(protocol, device)
    transport.close()


def row(
    index: int,
    *,
    name: bytes | None = None,
    hc_in: bytes | None = None,
    hc_out: bytes | None = None,
    speed: bytes | None = None,
    discontinuity: bytes | None = None,
    oper: bytes | None = None,
) -> list[tuple[str, bytes]]:
    values = (
        name or string(f"ge{index}"),
        hc_in or counter64(1000 * index),
        hc_out or counter64(2000 * index),
        speed or gauge32(1000),
        discontinuity or timeticks(0),
        oper or int32(1),
    )
    return [(f"{column}.{index}", value) for column, value in zip(COLUMNS, values, strict=True)]


def table_end() -> list[tuple[str, bytes]]:
    """One more row in which every column has ended."""
    return [(column, END_OF_MIB_VIEW) for column in COLUMNS]


UPTIME = [(SYS_UPTIME_0, timeticks(12345))]


async def test_scripted_table_is_read(scripted: Scripted, poller: SnmpPoller):
    """The responder itself is right: a well-formed table comes back as a snapshot."""
    scripted.responder.script = [(UPTIME + row(1) + row(2) + table_end(), 0, 0)]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert snapshot.uptime_ticks == 12345
    assert [(i.index, i.name, i.hc_in_octets, i.hc_out_octets) for i in snapshot.interfaces] == [
        (1, "ge1", 1000, 2000),
        (2, "ge2", 2000, 4000),
    ]
    assert scripted.responder.requests == 1


async def test_counter64_above_63_bits(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [(UPTIME + row(1, hc_in=counter64(2**64 - 1)) + table_end(), 0, 0)]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert snapshot.interfaces[0].hc_in_octets == 2**64 - 1


async def test_walk_continues_over_several_replies(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [
        (UPTIME + row(1), 0, 0),
        (row(2), 0, 0),
        (table_end(), 0, 0),
    ]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert [i.index for i in snapshot.interfaces] == [1, 2]
    assert scripted.responder.requests == 3


CASES = {
    "error-status": (
        [(UPTIME + row(1) + table_end(), 5, 2)],
        r"error-status genErr at 1\.3\.6\.1\.2\.1\.31\.1\.1\.1\.1$",
    ),
    "missing-column-for-one-interface": (
        [(UPTIME + row(1) + [r for r in row(2) if f"{IFX}.6." not in r[0]] + table_end(), 0, 0)],
        r"no ifHCInOctets .* for ifIndex 2",
    ),
    "counter-of-the-wrong-type": (
        [(UPTIME + row(1, hc_out=string("lots")) + table_end(), 0, 0)],
        r"ifHCOutOctets\.1 is OctetString, expected an integer",
    ),
    "no-sysuptime": (
        [([("1.3.6.1.2.1.1.5.0", string("x")), *row(1), *table_end()], 0, 0)],
        r"expected sysUpTime\.0",
    ),
    "oid-not-increasing": (
        [(UPTIME + row(2), 0, 0), (row(1), 0, 0)],
        r"OID not increasing",
    ),
    "no-ifxtable": (
        [(UPTIME + table_end(), 0, 0)],
        r"neither IF-MIB ifXTable",
    ),
}


@pytest.mark.parametrize(("script", "message"), list(CASES.values()), ids=list(CASES))
async def test_bad_replies_are_protocol_errors(
    scripted: Scripted, poller: SnmpPoller, script, message
):
    scripted.responder.script = script
    with pytest.raises(ProtocolError, match=message) as raised:
        await poller.poll_interfaces(scripted.device)
    assert raised.value.device == "scripted"
    assert raised.value.retryable
