"""Fixtures for the lab NETCONF server tests.

The server runs in the test's event loop; ncclient is a blocking client with its own I/O
thread, so every ncclient call goes through :func:`asyncio.to_thread` (:class:`Client`)
to keep the loop free to serve it. Host keys are generated per test session, never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import ncclient.transport.session
import pytest
from ncclient import manager
from ncclient.transport.errors import TransportError

from lab.backend import NetconfBackend
from lab.netconf_server import LabNetconfServer
from lab.yang_schema import Schema, load_lab_schema

LAB_NS = "urn:netpilot:lab"
BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
USER = "lab"
PASSWORD = "lab-pass"
CHANGE_TIMEOUT_S = 5.0


def lab(tag: str) -> str:
    """Clark-notation tag in the lab namespace."""
    return f"{{{LAB_NS}}}{tag}"


def config(body: str) -> str:
    """A ``<config>`` element (NETCONF base namespace, ``nc`` prefix bound) around ``body``."""
    return f'<config xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}">{body}</config>'


def parse_xml(text: str | bytes) -> ET.Element:
    """Parse XML the tests wrote themselves or got from their own loopback server."""
    return ET.fromstring(text)  # noqa: S314 - trusted: test data and our own server's replies


def config_element(body: str) -> ET.Element:
    """:func:`config` parsed into an ElementTree element."""
    return parse_xml(config(body))


def interfaces(*entries: str) -> str:
    """``<interfaces>`` with the given ``<interface>`` bodies."""
    items = "".join(f"<interface>{entry}</interface>" for entry in entries)
    return f'<interfaces xmlns="{LAB_NS}">{items}</interfaces>'


@dataclass
class RecordingBackend:
    """A tiny :class:`lab.backend.NetconfBackend`: records commits, serves a fixed state."""

    fail_next_commit: str | None = None
    changes: asyncio.Queue[ET.Element] = field(default_factory=asyncio.Queue)
    change_count: int = 0
    state_requests: int = 0

    def running_changed(self, running: ET.Element) -> None:
        self.change_count += 1
        self.changes.put_nowait(running)

    def operational_state(self) -> ET.Element:
        self.state_requests += 1
        state = ET.Element(lab("state"))
        ET.SubElement(state, lab("clock")).text = "2026-11-28T12:00:00Z"
        for name, status in (("eth1", "up"), ("eth2", "down")):
            itf = ET.SubElement(state, lab("interface"))
            ET.SubElement(itf, lab("name")).text = name
            ET.SubElement(itf, lab("oper-status")).text = status
            ET.SubElement(itf, lab("utilization")).text = "0.25"
            for cls, delay in (("video", "1.5"), ("voice", "0.2")):
                queue = ET.SubElement(itf, lab("class"))
                ET.SubElement(queue, lab("name")).text = cls
                ET.SubElement(queue, lab("queue-delay-ms")).text = delay
        probe = ET.SubElement(state, lab("probe"))
        ET.SubElement(probe, lab("destination")).text = "r2"
        ET.SubElement(probe, lab("class")).text = "video"
        ET.SubElement(probe, lab("latency-ms")).text = "4.2"
        return state

    def commit_should_fail(self) -> str | None:
        message, self.fail_next_commit = self.fail_next_commit, None
        return message

    async def next_change(self) -> ET.Element:
        """The running datastore of the next ``running_changed`` call (bounded wait)."""
        return await asyncio.wait_for(self.changes.get(), CHANGE_TIMEOUT_S)

    def no_pending_change(self) -> bool:
        return self.changes.empty()


class Client:
    """An ncclient manager driven from async tests (each call runs in a worker thread)."""

    def __init__(self, mgr: Any) -> None:
        self.manager = mgr

    @property
    def session_id(self) -> int:
        return int(self.manager.session_id)

    @property
    def server_capabilities(self) -> list[str]:
        return list(self.manager.server_capabilities)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.manager, method), *args, **kwargs)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        async def bound(*args: Any, **kwargs: Any) -> Any:
            return await self.call(method, *args, **kwargs)

        return bound


@dataclass
class Device:
    """A started lab NETCONF server and how to reach it."""

    server: LabNetconfServer
    backend: RecordingBackend
    host: str
    port: int
    clients: list[Client] = field(default_factory=list)

    async def connect(self, **kwargs: Any) -> Client:
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
            # only in these server tests: the project's client adapter verifies host keys
            "hostkey_verify": False,
            "look_for_keys": False,
            "allow_agent": False,
            "timeout": 10,
        }
        params.update(kwargs)
        mgr = await asyncio.to_thread(manager.connect, **params)
        client = Client(mgr)
        self.clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self.clients:
            # only a session the server still serves can answer <close-session>; ncclient
            # may not have noticed yet that the server ended the others
            if client.manager.connected and client.session_id in self.server.session_ids:
                with contextlib.suppress(TransportError):
                    await asyncio.to_thread(client.manager.close_session)
            # then close the client's transport (ncclient has no public call for that)
            await asyncio.to_thread(client.manager._session.close)


@pytest.fixture(autouse=True)
def fast_ncclient(monkeypatch: pytest.MonkeyPatch) -> None:
    """ncclient polls its queue every TICK seconds (0.1 by default: ~100 ms per RPC)."""
    monkeypatch.setattr(ncclient.transport.session, "TICK", 0.005)


@pytest.fixture(scope="session")
def schema() -> Schema:
    return load_lab_schema()


@pytest.fixture(scope="session")
def host_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


async def start_device(
    schema: Schema,
    host_key: asyncssh.SSHKey,
    backend: RecordingBackend,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    initial_config: ET.Element | None = None,
    authorized_client_keys: Any = None,
    **server_kwargs: Any,
) -> Device:
    assert isinstance(backend, NetconfBackend)
    server = LabNetconfServer(
        "lab-device", schema, backend, initial_config=initial_config, **server_kwargs
    )
    bound = await server.start(
        host,
        port,
        host_key=host_key,
        users={USER: PASSWORD},
        authorized_client_keys=authorized_client_keys,
    )
    return Device(server, backend, host, bound)


@pytest.fixture
async def device(
    schema: Schema, host_key: asyncssh.SSHKey, backend: RecordingBackend
) -> AsyncIterator[Device]:
    dev = await start_device(schema, host_key, backend, confirm_time_scale=0.05)
    try:
        yield dev
    finally:
        await dev.close_clients()
        await dev.server.stop()


@pytest.fixture
async def new_device(
    schema: Schema, host_key: asyncssh.SSHKey
) -> AsyncIterator[Callable[..., Awaitable[Device]]]:
    """Start extra devices inside a test; all of them are stopped at teardown."""
    started: list[Device] = []

    async def start(**kwargs: Any) -> Device:
        backend = kwargs.pop("backend", None) or RecordingBackend()
        dev = await start_device(schema, host_key, backend, **kwargs)
        started.append(dev)
        return dev

    try:
        yield start
    finally:
        for dev in started:
            await dev.close_clients()
            await dev.server.stop()
