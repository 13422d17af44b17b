"""A scripted SNMPv2c agent on a UDP socket: replies written here in BER, byte by byte.

It answers the poller's real GETBULK requests with what each test scripts: well-formed
tables, error-status, wrong types, garbage, truncated datagrams, late answers, answers with
another request-id or community, or silence. So the adapter's fault handling is tested on
the wire rather than by patching anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from controller.model import CredentialRef, Device, SnmpEndpoint

COMMUNITY = "scripted"
SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
IFX = "1.3.6.1.2.1.31.1.1.1"
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IF_OPER = f"{IF_ENTRY}.8"
COLUMNS = (f"{IFX}.1", f"{IFX}.6", f"{IFX}.10", f"{IFX}.15", f"{IFX}.19", IF_OPER)
# the ifTable stand-ins the poller reads when ifXTable's are missing, in its order
FALLBACK_COLUMNS = (f"{IF_ENTRY}.2", f"{IF_ENTRY}.10", f"{IF_ENTRY}.16", f"{IF_ENTRY}.5")

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


def counter32(value: int) -> bytes:
    return integer(0x41, value, unsigned=True)


def gauge32(value: int) -> bytes:
    return integer(0x42, value, unsigned=True)


def timeticks(value: int) -> bytes:
    return integer(0x43, value, unsigned=True)


def int32(value: int) -> bytes:
    return integer(0x02, value)


def string(value: str) -> bytes:
    return tlv(0x04, value.encode())


END_OF_MIB_VIEW = b"\x82\x00"
NO_SUCH_OBJECT = b"\x80\x00"


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
    request_id: bytes | None = None,
    community: str = COMMUNITY,
) -> bytes:
    bindings = b"".join(tlv(0x30, oid(name) + value) for name, value in var_binds)
    pdu = tlv(
        0xA2,
        (request_id or request_id_of(request))
        + int32(error_status)
        + int32(error_index)
        + tlv(0x30, bindings),
    )
    return tlv(0x30, int32(1) + string(community) + pdu)


# ----------------------------------------------------------------------------- responder


@dataclass(frozen=True)
class Reply:
    """What the agent does with one request.

    Attributes:
        var_binds: the var-binds of a well-formed Response.
        status: error-status; index: error-index.
        delay: seconds before the answer leaves (the agent is slow).
        raw: builds the whole datagram from the request instead (garbage, truncation...).
        silent: send nothing.
    """

    var_binds: Sequence[tuple[str, bytes]] = ()
    status: int = 0
    index: int = 0
    delay: float = 0.0
    raw: Callable[[bytes], bytes] | None = None
    silent: bool = False

    def datagram(self, request: bytes) -> bytes:
        if self.raw is not None:
            return self.raw(request)
        return response(request, self.var_binds, error_status=self.status, error_index=self.index)


ScriptEntry = Reply | tuple[Sequence[tuple[str, bytes]], int, int]


@dataclass
class Responder(asyncio.DatagramProtocol):
    """Answers the n-th request with ``script[n]`` (the last entry repeats)."""

    script: list[ScriptEntry]
    transport: asyncio.DatagramTransport | None = None
    requests: int = 0
    received: list[bytes] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # loop time of each request
    replies: list[float] = field(default_factory=list)  # loop time each answer left

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        entry = self.script[min(self.requests, len(self.script) - 1)]
        reply = entry if isinstance(entry, Reply) else Reply(*entry)
        self.requests += 1
        self.received.append(data)
        self.arrivals.append(asyncio.get_running_loop().time())
        if reply.silent:
            return
        datagram = reply.datagram(data)
        assert self.transport is not None
        if reply.delay:
            asyncio.get_running_loop().call_later(reply.delay, self._send, datagram, addr)
        else:
            self._send(datagram, addr)

    def _send(self, datagram: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.replies.append(asyncio.get_running_loop().time())
            self.transport.sendto(datagram, addr)


@dataclass
class Scripted:
    responder: Responder
    device: Device

    def with_endpoint(self, *, timeout_seconds: float, retries: int, name: str = "") -> Device:
        assert self.device.snmp is not None
        return Device(
            name=name or self.device.name,
            address=self.device.address,
            snmp=SnmpEndpoint(
                port=self.device.snmp.port,
                community=self.device.snmp.community,
                timeout_seconds=timeout_seconds,
                retries=retries,
            ),
        )


async def start_scripted(
    secret_dir: Path, name: str = "scripted"
) -> tuple[Scripted, asyncio.BaseTransport]:
    secret = secret_dir / f"{name}-community"
    secret.write_text(COMMUNITY)
    secret.chmod(0o600)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Responder(script=[]), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    device = Device(
        name=name,
        address="127.0.0.1",
        snmp=SnmpEndpoint(
            port=port, community=CredentialRef(file=str(secret)), timeout_seconds=1.0, retries=0
        ),
    )
    return Scripted(protocol, device), transport


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[Scripted]:
    agent, transport = await start_scripted(tmp_path)
    yield agent
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


def table_end(columns: Sequence[str] = COLUMNS) -> list[tuple[str, bytes]]:
    """One more row in which every column has ended."""
    return [(column, END_OF_MIB_VIEW) for column in columns]


UPTIME = [(SYS_UPTIME_0, timeticks(12345))]
