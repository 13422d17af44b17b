"""Faults become typed values on the faulty device's result only.

Against :class:`~tests.adapters_netconf.rogue.RogueDevice`, a real SSH/NETCONF server that
misbehaves on request: malformed XML, a DTD, broken framing, a connection dropped in the
middle of an RPC, silence, a bad hello, a request the server loses after the hello.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.netconf import NetconfClient, open_session
from adapters.parsing.framing import encode_message
from adapters.parsing.netpilot_lab import NAMESPACE as LAB
from controller.errors import (
    AdapterError,
    AdapterTimeoutError,
    ConnectError,
    ProtocolError,
    RpcError,
)
from controller.model import Device, DeviceConfig
from tests.adapters_netconf.rogue import (
    BASE,
    Answer,
    Drop,
    Raw,
    RogueDevice,
    Silent,
    data,
    is_probe,
    polite,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def rogue(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    started: list[RogueDevice] = []

    async def start(**kwargs: object) -> tuple[RogueDevice, Device]:
        device = RogueDevice(**kwargs)  # type: ignore[arg-type]
        started.append(device)
        return device, await device.start(tmp_path / str(len(started)))

    for index in range(1, 4):
        (tmp_path / str(index)).mkdir()
    try:
        yield start
    finally:
        for device in started:
            await device.stop()


def on_request(number: int, answer: Callable[[str], Answer]) -> Callable[[int, str, str], Answer]:
    """Answer request ``number`` (0 = the first after the probe) with ``answer(message_id)``."""

    def respond(index: int, message_id: str, request: str) -> Answer:
        if index == number + 1:
            return answer(message_id)
        return polite(index, message_id, request)

    return respond


async def test_malformed_xml_is_protocol_error_and_the_session_survives(rogue):
    truncated = on_request(0, lambda mid: data(mid, "<qos xmlns='urn:netpilot:lab'><class>")[:-20])
    _, device = await rogue(respond=truncated)
    async with await open_session(device) as session:
        with pytest.raises(ProtocolError, match="malformed") as bad:
            await session.get_running()
        assert bad.value.retryable
        assert bad.value.device == "rogue"
        assert await session.get_running() == DeviceConfig()  # framing intact: next RPC fine


async def test_reply_with_a_dtd_is_refused(rogue):
    entity = on_request(
        0,
        lambda mid: (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f'<rpc-reply xmlns="{BASE}" message-id="{mid}"><data>&e;</data></rpc-reply>'
        ),
    )
    _, device = await rogue(respond=entity)
    async with await open_session(device) as session:
        with pytest.raises(ProtocolError, match="document type declaration"):
            await session.get_running()


async def test_broken_framing_is_protocol_error_and_closes_the_session(rogue):
    broken = on_request(0, lambda mid: Raw(b"\n#0x12\n<rpc-reply/>\n##\n"))
    _, device = await rogue(respond=broken)
    session = await open_session(device)
    try:
        with pytest.raises(ProtocolError, match="framing"):
            await session.get_running()
        with pytest.raises(ConnectError):  # the stream cannot be resynchronised
            await session.get_running()
    finally:
        await session.close()


async def test_connection_dropped_mid_rpc_is_connect_error(rogue):
    _, device = await rogue(respond=on_request(0, lambda mid: Drop()))
    session = await open_session(device)
    try:
        with pytest.raises(ConnectError) as dropped:
            await session.lock()
        assert dropped.value.retryable
        assert not session.alive
    finally:
        await session.close()


async def test_silent_device_is_timeout_and_a_late_slot_is_not_confused(rogue):
    def respond(index: int, message_id: str, request: str) -> Answer:
        return Silent() if index == 1 else polite(index, message_id, request)

    _, device = await rogue(respond=respond)
    async with await open_session(device) as session:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(AdapterTimeoutError, match="get-config"):
            await session.get_running()
        assert loop.time() - started < 3  # bounded by the endpoint's 1 s timeout
        assert await session.get_running() == DeviceConfig()


async def test_a_reply_that_comes_after_its_timeout_is_dropped(rogue):
    # the reply to the timed-out request arrives in front of the next request's reply: it
    # is dropped (its request was abandoned), not taken for an unroutable reply
    abandoned: list[str] = []

    def respond(index: int, message_id: str, request: str) -> Answer:
        if index == 1:
            abandoned.append(message_id)
            return Silent()
        if index == 2:
            late = data(
                abandoned[0],
                f'<qos xmlns="{LAB}"><class><name>video</name><weight>99</weight></class></qos>',
            )
            frames = [encode_message(r.encode(), chunked=True) for r in (late, data(message_id))]
            return Raw(b"".join(frames))
        return polite(index, message_id, request)

    _, device = await rogue(respond=respond)
    async with await open_session(device) as session:
        with pytest.raises(AdapterTimeoutError):
            await session.get_running()
        assert await session.get_running() == DeviceConfig()
        assert session.alive


async def test_reply_with_an_unknown_message_id_fails_the_waiting_rpc(rogue):
    _, device = await rogue(respond=on_request(0, lambda mid: data("not-" + mid)))
    async with await open_session(device) as session:
        with pytest.raises(ProtocolError, match="unroutable"):
            await session.get_running()


@pytest.mark.parametrize(
    ("hello", "message"),
    [
        pytest.param(Raw(b"<hello>]]>]]>"), "malformed", id="not-xml"),
        pytest.param(
            f'<hello xmlns="{BASE}"><capabilities><capability>urn:x</capability>'
            "</capabilities><session-id>1</session-id></hello>",
            "no NETCONF base",
            id="no-base",
        ),
        pytest.param(
            f'<hello xmlns="{BASE}"><capabilities><capability>'
            "urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>",
            "no session-id",
            id="no-session-id",
        ),
    ],
)
async def test_bad_hello_is_protocol_error(rogue, hello, message):
    _, device = await rogue(hello=hello)
    with pytest.raises(ProtocolError, match=message):
        await open_session(device)


async def test_request_lost_right_after_the_hello_is_probed_again(rogue):
    # what netconfd does when the first request shares a read with the client's hello
    def lose_first_probe(index: int, message_id: str, request: str) -> Answer:
        if index == 0:
            assert is_probe(request)
            return Silent()
        return polite(index, message_id, request)

    server, device = await rogue(respond=lose_first_probe)
    async with await open_session(device) as session:
        assert await session.get_running() == DeviceConfig()
    assert sum(is_probe(r) for r in server.requests) == 2


async def test_rpc_error_reply_is_typed(rogue):
    error = on_request(
        0,
        lambda mid: (
            f'<rpc-reply xmlns="{BASE}" message-id="{mid}"><rpc-error>'
            "<error-type>application</error-type><error-tag>lock-denied</error-tag>"
            "<error-severity>error</error-severity><error-app-tag>held</error-app-tag>"
            "<error-path>/x</error-path><error-message>held by 3</error-message>"
            "<error-info><session-id>3</session-id></error-info></rpc-error>"
            "<rpc-error><error-type>rpc</error-type><error-tag>in-use</error-tag>"
            "<error-severity>warning</error-severity></rpc-error></rpc-reply>"
        ),
    )
    _, device = await rogue(respond=error)
    async with await open_session(device) as session:
        with pytest.raises(RpcError) as refused:
            await session.lock()
    e = refused.value
    assert (e.tag, e.severity, e.app_tag, e.path, e.rpc_message) == (
        "lock-denied",
        "error",
        "held",
        "/x",
        "held by 3",
    )
    assert e.retryable  # lock-denied goes away by itself


async def test_warnings_alone_are_not_errors(rogue):
    warning = on_request(
        0,
        lambda mid: (
            f'<rpc-reply xmlns="{BASE}" message-id="{mid}"><rpc-error>'
            "<error-type>application</error-type><error-tag>operation-failed</error-tag>"
            "<error-severity>warning</error-severity><error-message>careful</error-message>"
            "</rpc-error></rpc-reply>"
        ),
    )
    _, device = await rogue(respond=warning)
    async with await open_session(device) as session:
        await session.lock()  # no exception
        assert session.alive


async def test_each_fault_stays_on_its_own_device(rogue):
    healthy, healthy_device = await rogue()
    _, dropping = await rogue(respond=on_request(0, lambda mid: Drop()))
    _, silent = await rogue(respond=on_request(0, lambda mid: Silent()))
    # the same inventory name three times would clash: rename
    devices = [
        Device("ok", healthy_device.address, netconf=healthy_device.netconf),
        Device("drop", dropping.address, netconf=dropping.netconf),
        Device("silent", silent.address, netconf=silent.netconf),
    ]
    client = NetconfClient(devices)

    async def read(name: str) -> DeviceConfig:
        async with client.session(name) as session:
            return await session.get_running()

    try:
        results = await asyncio.gather(*(read(d.name) for d in devices), return_exceptions=True)
    finally:
        await client.close()
    assert results[0] == DeviceConfig()
    assert isinstance(results[1], ConnectError) and results[1].device == "drop"
    assert isinstance(results[2], AdapterTimeoutError) and results[2].device == "silent"
    assert all(isinstance(r, AdapterError | DeviceConfig) for r in results)
    # the probe, the read and the close: nothing of the other devices leaked across
    assert [("probe" in r, "get-config" in r, "close-session" in r) for r in healthy.requests] == [
        (True, True, False),
        (False, True, False),
        (False, False, True),
    ]
