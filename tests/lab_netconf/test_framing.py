"""Framing, hello exchange and hostile input, seen by a raw SSH client and by ncclient."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import asyncssh
import pytest
from ncclient.devices.default import DefaultDeviceHandler

from lab.netconf_server import _FramingError, _MessageReader
from tests.lab_netconf.conftest import BASE_NS, PASSWORD, USER, Device, interfaces, parse_xml

pytestmark = pytest.mark.integration

EOM = b"]]>]]>"
READ_TIMEOUT_S = 5.0
BASE = "{" + BASE_NS + "}"


def hello(*capabilities: str) -> bytes:
    caps = "".join(f"<capability>{cap}</capability>" for cap in capabilities)
    return f'<hello xmlns="{BASE_NS}"><capabilities>{caps}</capabilities></hello>'.encode() + EOM


BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
GET_CONFIG = (
    f'<rpc message-id="{{mid}}" xmlns="{BASE_NS}"><get-config><source><running/></source>'
    "</get-config></rpc>"
)


def chunk(payload: bytes, *sizes: int) -> bytes:
    """Frame ``payload`` in chunks of the given sizes (the rest in one last chunk)."""
    out = b""
    for size in sizes:
        piece, payload = payload[:size], payload[size:]
        out += b"\n#%d\n%b" % (len(piece), piece)
    if payload:
        out += b"\n#%d\n%b" % (len(payload), payload)
    return out + b"\n##\n"


class RawSession:
    """The netconf subsystem over asyncssh, with framing done by hand."""

    def __init__(self, conn: asyncssh.SSHClientConnection, process) -> None:
        self.conn = conn
        self.process = process
        self.buffer = b""

    @classmethod
    async def open(cls, device: Device) -> RawSession:
        conn = await asyncssh.connect(
            device.host,
            device.port,
            username=USER,
            password=PASSWORD,
            known_hosts=None,  # test only: the server's key is generated per test session
            client_keys=None,
            agent_path=None,
            config=None,
        )
        process = await conn.create_process(subsystem="netconf", encoding=None)
        return cls(conn, process)

    def send(self, data: bytes) -> None:
        self.process.stdin.write(data)

    async def _more(self) -> bytes:
        data = bytes(await asyncio.wait_for(self.process.stdout.read(65536), READ_TIMEOUT_S))
        if not data:
            raise EOFError("the server closed the session")
        return data

    async def read_eom(self) -> ET.Element:
        while EOM not in self.buffer:
            self.buffer += await self._more()
        message, _, self.buffer = self.buffer.partition(EOM)
        return parse_xml(message)

    async def read_chunked(self) -> ET.Element:
        parts: list[bytes] = []
        while True:
            while b"\n" not in self.buffer[2:] or len(self.buffer) < 4:
                self.buffer += await self._more()
            assert self.buffer.startswith(b"\n#")
            if self.buffer.startswith(b"\n##\n"):
                self.buffer = self.buffer[4:]
                return parse_xml(b"".join(parts))
            header, _, rest = self.buffer[2:].partition(b"\n")
            size = int(header)
            while len(rest) < size:
                rest += await self._more()
            parts.append(rest[:size])
            self.buffer = rest[size:]

    async def closed_by_server(self) -> bool:
        try:
            while True:
                await self._more()
        except EOFError:
            return True

    async def start(self, *capabilities: str) -> ET.Element:
        server_hello = await self.read_eom()
        self.send(hello(*capabilities))
        return server_hello

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


@pytest.fixture
async def raw(device: Device):
    sessions: list[RawSession] = []

    async def open_session() -> RawSession:
        session = await RawSession.open(device)
        sessions.append(session)
        return session

    try:
        yield open_session
    finally:
        for session in sessions:
            await session.close()


def error_tag(reply: ET.Element) -> str | None:
    return reply.findtext(f"{BASE}rpc-error/{BASE}error-tag")


# -- hello and framing -----------------------------------------------------------------


async def test_server_hello(raw, device: Device) -> None:
    session = await raw()
    server_hello = await session.read_eom()
    assert server_hello.tag == f"{BASE}hello"
    session_id = int(server_hello.findtext(f"{BASE}session-id") or "0")
    assert session_id in device.server.session_ids
    capabilities = [c.text for c in server_hello.iterfind(f"{BASE}capabilities/{BASE}capability")]
    assert capabilities == list(device.server.capabilities)


async def test_base_1_0_client_gets_end_of_message_framing(raw) -> None:
    session = await raw()
    await session.start(BASE_10)
    session.send(GET_CONFIG.format(mid="1").encode() + EOM)
    reply = await session.read_eom()
    assert (reply.tag, reply.get("message-id")) == (f"{BASE}rpc-reply", "1")
    assert reply.find(f"{BASE}data") is not None


async def test_base_1_1_uses_chunked_framing_across_chunks_and_writes(raw) -> None:
    session = await raw()
    await session.start(BASE_10, BASE_11)
    framed = chunk(GET_CONFIG.format(mid="2").encode(), 1, 7, 30)
    for index in range(0, len(framed), 5):  # dribble the bytes in small writes
        session.send(framed[index : index + 5])
        await asyncio.sleep(0)
    reply = await session.read_chunked()
    assert reply.get("message-id") == "2"
    # two messages in one write
    session.send(
        chunk(GET_CONFIG.format(mid="3").encode()) + chunk(GET_CONFIG.format(mid="4").encode())
    )
    assert [(await session.read_chunked()).get("message-id") for _ in range(2)] == ["3", "4"]


class Base10Only(DefaultDeviceHandler):  # type: ignore[misc]  # ncclient is untyped
    """An ncclient device handler that offers only base:1.0 (EOM framing)."""

    _BASE_CAPABILITIES = [BASE_10]


async def test_ncclient_base_1_0_only_client(device: Device) -> None:
    client = await device.connect(device_params={"handler": Base10Only})
    await client.edit_config(
        target="candidate",
        config=f'<config xmlns="{BASE_NS}">{interfaces("<name>eth1</name>")}</config>',
    )
    await client.commit()
    reply = await client.get_config(source="running")
    assert "<name>eth1</name>" in reply.xml


# -- hostile input ---------------------------------------------------------------------


async def test_malformed_xml_with_recoverable_message_id(raw) -> None:
    session = await raw()
    await session.start(BASE_11)
    session.send(chunk(f'<rpc message-id="m-7" xmlns="{BASE_NS}"><get-config><source>'.encode()))
    reply = await session.read_chunked()
    assert (reply.get("message-id"), error_tag(reply)) == ("m-7", "malformed-message")
    assert reply.findtext(f"{BASE}rpc-error/{BASE}error-type") == "rpc"
    # the session goes on
    session.send(chunk(GET_CONFIG.format(mid="8").encode()))
    assert (await session.read_chunked()).find(f"{BASE}data") is not None


async def test_unparsable_message_closes_only_that_session(raw, device: Device) -> None:
    bystander = await device.connect()
    session = await raw()
    await session.start(BASE_11)
    session.send(chunk(b"this is not XML at all"))
    assert await session.closed_by_server()
    # other sessions and new connections are unaffected
    await bystander.get_config(source="running")
    fresh = await raw()
    await fresh.start(BASE_10)
    fresh.send(GET_CONFIG.format(mid="9").encode() + EOM)
    assert (await fresh.read_eom()).get("message-id") == "9"


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\n#abc\n<rpc/>\n##\n", id="non-numeric-size"),
        pytest.param(b"\n#0\n\n##\n", id="zero-size"),
        pytest.param(b"<rpc/>]]>]]>", id="eom-after-chunked-agreed"),
        pytest.param(b"\n##\n", id="end-without-chunk"),
        pytest.param(b"\n#99999999999\n", id="size-too-long"),
    ],
)
async def test_broken_chunked_framing_closes_the_session(
    raw, device: Device, garbage: bytes
) -> None:
    session = await raw()
    await session.start(BASE_11)
    session.send(garbage)
    assert await session.closed_by_server()
    assert device.server.listening


async def test_missing_message_id(raw) -> None:
    session = await raw()
    await session.start(BASE_10)
    no_id = GET_CONFIG.replace(' message-id="{mid}"', "")
    session.send(no_id.encode() + EOM)
    reply = await session.read_eom()
    assert error_tag(reply) == "missing-attribute"
    assert reply.get("message-id") is None
    info = reply.find(f"{BASE}rpc-error/{BASE}error-info")
    assert info is not None
    assert info.findtext(f"{BASE}bad-attribute") == "message-id"


async def test_rpc_attributes_are_echoed(raw) -> None:
    session = await raw()
    await session.start(BASE_10)
    rpc = (
        f'<rpc message-id="5" user="ops" xmlns:x="urn:example:x" x:trace="t-1" xmlns="{BASE_NS}">'
        "<discard-changes/></rpc>"
    )
    session.send(rpc.encode() + EOM)
    reply = await session.read_eom()
    assert dict(reply.attrib) == {"message-id": "5", "user": "ops", "{urn:example:x}trace": "t-1"}
    assert reply.find(f"{BASE}ok") is not None


async def test_doctype_is_refused_without_expansion(raw) -> None:
    session = await raw()
    await session.start(BASE_10)
    bomb = (
        '<!DOCTYPE rpc [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f'<rpc message-id="6" xmlns="{BASE_NS}"><get-config><source><running/></source>'
        "<filter>&b;</filter></get-config></rpc>"
    )
    session.send(bomb.encode() + EOM)
    reply = await session.read_eom()
    assert (reply.get("message-id"), error_tag(reply)) == ("6", "malformed-message")


@pytest.mark.parametrize(
    "first_message",
    [
        pytest.param(
            hello(BASE_11).replace(b"</hello>", b"<session-id>4</session-id></hello>"),
            id="client-session-id",
        ),
        pytest.param(hello("urn:example:base:2.0"), id="no-common-base"),
        pytest.param(GET_CONFIG.format(mid="1").encode() + EOM, id="rpc-before-hello"),
    ],
)
async def test_bad_hello_closes_the_session(raw, first_message: bytes) -> None:
    session = await raw()
    await session.read_eom()
    session.send(first_message)
    assert await session.closed_by_server()


async def test_only_the_netconf_subsystem_is_served(device: Device) -> None:
    async with asyncssh.connect(
        device.host,
        device.port,
        username=USER,
        password=PASSWORD,
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        config=None,
    ) as conn:
        result = await conn.run("id", check=False)
        assert result.exit_status == 1
        assert "netconf" in str(result.stderr)


# -- the message reader on its own ----------------------------------------------------


def test_reader_switches_from_eom_to_chunked_mid_buffer() -> None:
    reader = _MessageReader()
    reader.feed(b"<hello/>]]>]]>\n#3\nabc\n#2\nde\n##\n")
    assert reader.next_message() == b"<hello/>"
    reader.chunked = True
    assert reader.next_message() == b"abcde"
    assert reader.next_message() is None


@pytest.mark.parametrize(
    "partial",
    [b"\n", b"\n#", b"\n#1", b"\n##", b"\n#12", b"\n#12\nab"],
)
def test_reader_waits_for_incomplete_chunks(partial: bytes) -> None:
    reader = _MessageReader()
    reader.chunked = True
    reader.feed(partial)
    assert reader.next_message() is None


@pytest.mark.parametrize(
    "broken",
    [b"x", b"\n-", b"\n#x", b"\n#0\n", b"\n#01\na", b"\n#4294967296\n", b"\n##\n"],
)
def test_reader_rejects_broken_chunks(broken: bytes) -> None:
    reader = _MessageReader()
    reader.chunked = True
    reader.feed(broken)
    with pytest.raises(_FramingError):
        reader.next_message()


def test_reader_limits_message_size() -> None:
    eom = _MessageReader(limit=10)
    eom.feed(b"x" * 11)
    with pytest.raises(_FramingError):
        eom.next_message()
    chunked = _MessageReader(limit=10)
    chunked.chunked = True
    chunked.feed(b"\n#6\nabcdef\n#6\n")
    with pytest.raises(_FramingError):
        chunked.next_message()
