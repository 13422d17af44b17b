"""The peers of the configuration contract: one suite, every implementation of ConfigSession.

``peer`` is parametrized with ids:

* ``fake``: the in-memory :class:`adapters.fake.FakeDevice` (unit speed);
* ``lab``: the embedded lab's NETCONF server (:class:`lab.netconf_server.LabNetconfServer`,
  started in the test's loop), reached with :class:`adapters.netconf.NetconfClient`;
* ``netconfd``: Debian's netconfd with the ``netpilot-lab`` module (:candidate device);
* ``netconfd-emulated``: netconfd started with ``--target=running`` (only :writable-running),
  through the adapter's emulated confirmed commit;
* ``lab-emulated``: the lab's server as a device with only :writable-running, through the
  same emulation.

Every NETCONF peer is reached through a :class:`~tests.contract.faultproxy.FaultProxy`, so a
hung device (``stalled``) and a dropped connection (``drop``) are real transport faults.
"""

from __future__ import annotations

import contextlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from adapters.base import Capability, ConfigSession
from adapters.fake import FakeDevice
from adapters.netconf import NetconfClient, NetconfPoolSettings, NetconfSession
from adapters.parsing.netpilot_lab import render_edits
from controller.errors import AdapterTimeoutError, ConnectError, RpcError
from controller.model import (
    ConfigEdit,
    CredentialRef,
    Device,
    DeviceConfig,
    EditOp,
    NetconfEndpoint,
)
from tests.contract.faultproxy import FaultProxy
from tests.peers.netconfd import NetconfdLab, netconfd_lab_fixture

contract_netconfd = netconfd_lab_fixture(
    ("ct", "ctr"), targets={"ctr": "running"}, name="contract_netconfd"
)

RPC_TIMEOUT = 1.0  # seconds; also how long the "stalled device" test waits
LAB_USER, LAB_PASSWORD = "contract", "contract-pass"
CLEAR_ALL = (
    ConfigEdit(EditOp.REMOVE, ("interfaces",), None, None),
    ConfigEdit(EditOp.REMOVE, ("qos",), None, None),
)


class Peer:
    """One implementation of ConfigSession under test, and its fault hooks."""

    id: str = ""
    # seconds between reads while waiting for a confirmed commit to expire; None when
    # the peer has no confirm timer that runs in test time
    expiry_poll: float | None = None

    def __init__(self) -> None:
        self.persist_ids: list[str] = []

    def persist_id(self) -> str:
        """A fresh persist-id, cancelled at teardown if still pending."""
        self.persist_ids.append(f"ct-{uuid.uuid4().hex[:12]}")
        return self.persist_ids[-1]

    async def open(self) -> ConfigSession:
        """A new session to the device under test."""
        raise NotImplementedError

    async def open_reduced(self) -> ConfigSession | None:
        """A session to a device without :candidate/:confirmed-commit, or None."""
        return None

    def stalled(self) -> contextlib.AbstractAsyncContextManager[None]:
        """While active, the device answers nothing (the next RPC times out)."""
        raise NotImplementedError

    async def drop(self) -> None:
        """Kill the transport of every open session."""
        raise NotImplementedError

    async def running(self) -> DeviceConfig:
        """The running configuration, read over a new session."""
        session = await self.open()
        try:
            return await session.get_running()
        finally:
            await session.close()


class FakePeer(Peer):
    id = "fake"

    def __init__(self) -> None:
        super().__init__()
        self.device = FakeDevice("fake")

    async def open(self) -> ConfigSession:
        return await self.device.open()

    async def open_reduced(self) -> ConfigSession | None:
        reduced = FakeDevice("fake-ro", capabilities=frozenset({Capability.WRITABLE_RUNNING}))
        return await reduced.open()

    @contextlib.asynccontextmanager
    async def stalled(self) -> AsyncIterator[None]:
        # the fake's hook for "the device did not answer": the next read times out
        self.device.fail_next(
            "get_running", AdapterTimeoutError("fake", "no reply to get_running (stalled)")
        )
        yield

    async def drop(self) -> None:
        self.device.drop_sessions()


class NetconfPeer(Peer):
    """A NETCONF device behind a FaultProxy, reached with a NetconfClient."""

    def __init__(
        self,
        name: str,
        proxy: FaultProxy,
        device: Device,
        *,
        reduced: Device | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        self.name = name
        self.proxy = proxy
        self.device = device
        self.client = NetconfClient([device], NetconfPoolSettings(**settings))
        self.reduced = reduced
        self.reduced_client = (
            None
            if reduced is None
            else NetconfClient([reduced], NetconfPoolSettings(emulate_confirmed_commit=False))
        )

    async def open(self) -> ConfigSession:
        return await self.client.open_session(self.name)

    async def open_reduced(self) -> ConfigSession | None:
        if self.reduced is None or self.reduced_client is None:
            return None
        return await self.reduced_client.open_session(self.reduced.name)

    def stalled(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.proxy.stalled()

    async def drop(self) -> None:
        await self.proxy.drop()

    async def empty(self) -> None:
        """Bring the device to an empty ``netpilot-lab`` configuration (a NETCONF peer
        with a writable datastore of its own: candidate, else running)."""
        async with self.client.session(self.name) as session:
            candidate = Capability.CANDIDATE in session.capabilities
            if candidate:
                await session.discard()
            if await session.get_running() == DeviceConfig():
                return
            target = "candidate" if candidate else "running"
            await session.edit_config(render_edits(CLEAR_ALL), target=target)
            if candidate:
                await session.commit_now()
            assert await session.get_running() == DeviceConfig()

    async def cleanup(self, *, empty: bool = False) -> None:
        """Cancel what the test left pending (and empty the device), then close everything."""
        with contextlib.suppress(ConnectError, AdapterTimeoutError):
            session = await self.open()
            try:
                for persist_id in self.persist_ids:
                    with contextlib.suppress(RpcError):
                        await session.cancel_commit(persist_id)
            finally:
                await session.close()
            if empty:
                await self.empty()
        await self.client.close()
        if self.reduced_client is not None:
            await self.reduced_client.close()
        await self.proxy.stop()


def _device(name: str, port: int, known_hosts: Path, password_file: Path, user: str) -> Device:
    return Device(
        name=name,
        address="127.0.0.1",
        netconf=NetconfEndpoint(
            port=port,
            username=user,
            password=CredentialRef(file=str(password_file)),
            known_hosts=str(known_hosts),
            timeout_seconds=RPC_TIMEOUT,
        ),
    )


async def _proxied(
    name: str, target_port: int, host_key: str, password_file: Path, user: str, tmp: Path
) -> tuple[FaultProxy, Device]:
    proxy = FaultProxy("127.0.0.1", target_port)
    port = await proxy.start()
    known_hosts = tmp / f"known_hosts-{name}"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
    return proxy, _device(name, port, known_hosts, password_file, user)


LAB_STATE = (
    '<state xmlns="urn:netpilot:lab"><interface><name>eth1</name><class><name>video</name>'
    "<offered-mbps>120.5</offered-mbps><queue-delay-ms>3.25</queue-delay-ms>"
    "<drop-ratio>0.001</drop-ratio></class></interface><probe><destination>r2</destination>"
    "<class>video</class><latency-ms>12.5</latency-ms><loss-ratio>0</loss-ratio></probe></state>"
)


class _StateBackend:
    """The lab server's device: a fixed operational state, every commit accepted."""

    def running_changed(self, running: Any) -> None:
        return None

    def operational_state(self) -> Any:
        return ET.fromstring(LAB_STATE)  # noqa: S314 (a constant of this file)

    def commit_should_fail(self) -> str | None:
        return None


@dataclass(frozen=True)
class LabTarget:
    """A running lab NETCONF server and what a client needs to log in."""

    server: Any  # lab.netconf_server.LabNetconfServer
    port: int
    host_key: str  # "ssh-ed25519 AAAA..."
    password_file: Path
    user: str = LAB_USER


@contextlib.asynccontextmanager
async def lab_server(
    tmp: Path, *, confirm_time_scale: float = 0.02, writable_running: bool = False
) -> AsyncIterator[LabTarget]:
    """Start the lab's NETCONF server in this loop (an OS port on 127.0.0.1)."""
    from lab.netconf_server import LabNetconfServer
    from lab.yang_schema import load_lab_schema

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    public = host_key.export_public_key("openssh").decode().split()
    server = LabNetconfServer(
        "lab1",
        load_lab_schema(),
        _StateBackend(),
        confirm_time_scale=confirm_time_scale,
        writable_running=writable_running,
    )
    port = await server.start("127.0.0.1", 0, host_key=host_key, users={LAB_USER: LAB_PASSWORD})
    password_file = tmp / "lab-password"
    password_file.write_text(LAB_PASSWORD)
    password_file.chmod(0o600)
    try:
        yield LabTarget(server, port, f"{public[0]} {public[1]}", password_file)
    finally:
        await server.stop()


async def proxied_lab(
    target: LabTarget, tmp: Path, name: str = "lab1"
) -> tuple[FaultProxy, Device]:
    """A FaultProxy in front of ``target`` and an inventory entry that goes through it."""
    return await _proxied(
        name, target.port, target.host_key, target.password_file, target.user, tmp
    )


@contextlib.asynccontextmanager
async def lab_peer(tmp: Path) -> AsyncIterator[NetconfPeer]:
    # the lab's clock: 1 s of confirm-timeout lasts 20 ms
    async with lab_server(tmp, confirm_time_scale=0.02) as target:
        proxy, device = await proxied_lab(target, tmp)
        peer = NetconfPeer("lab1", proxy, device)
        peer.id = "lab"
        peer.expiry_poll = 0.05
        try:
            yield peer
        finally:
            await peer.cleanup()


@contextlib.asynccontextmanager
async def lab_emulated_peer(tmp: Path) -> AsyncIterator[NetconfPeer]:
    # the adapter's emulated timer: 1 s of confirm-timeout lasts 50 ms
    async with lab_server(tmp, writable_running=True) as target:
        proxy, device = await proxied_lab(target, tmp)
        peer = NetconfPeer("lab1", proxy, device, emulated_timer_scale=0.05)
        peer.id = "lab-emulated"
        peer.expiry_poll = 0.05
        try:
            yield peer
        finally:
            await peer.cleanup()


@contextlib.asynccontextmanager
async def netconfd_peer(
    lab: NetconfdLab, tmp: Path, *, emulated: bool
) -> AsyncIterator[NetconfPeer]:
    dev = lab["ctr" if emulated else "ct"]
    proxy, device = await _proxied(
        dev.name, dev.port, dev.host_key, dev.password_file, dev.username, tmp
    )
    # the reduced device (no :candidate), reached without emulation
    reduced = None if emulated else lab["ctr"].device(timeout_seconds=RPC_TIMEOUT)
    peer = NetconfPeer(dev.name, proxy, device, reduced=reduced, emulated_timer_scale=0.05)
    peer.id = "netconfd-emulated" if emulated else "netconfd"
    # netconfd runs its timers only after 1 s without socket activity (bug 3)
    peer.expiry_poll = 0.05 if emulated else 1.5
    try:
        await peer.empty()
        yield peer
    finally:
        # the device outlives the test (session-scoped): leave it empty for the next one
        await peer.cleanup(empty=True)


_NETCONFD = (pytest.mark.integration, pytest.mark.interop)
PEERS = (
    pytest.param("fake", id="fake"),
    pytest.param("lab", id="lab", marks=pytest.mark.integration),
    pytest.param("lab-emulated", id="lab-emulated", marks=pytest.mark.integration),
    pytest.param("netconfd", id="netconfd", marks=_NETCONFD),
    pytest.param("netconfd-emulated", id="netconfd-emulated", marks=_NETCONFD),
)


@pytest.fixture(params=PEERS)
def peer_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def peer(peer_id: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Peer]:
    if peer_id == "fake":
        yield FakePeer()
        return
    if peer_id == "lab":
        async with lab_peer(tmp_path) as started:
            yield started
        return
    if peer_id == "lab-emulated":
        async with lab_emulated_peer(tmp_path) as started:
            yield started
        return
    lab = request.getfixturevalue("contract_netconfd")
    async with netconfd_peer(lab, tmp_path, emulated=peer_id == "netconfd-emulated") as started:
        yield started


def netconf_session(session: ConfigSession) -> NetconfSession | None:
    """The NETCONF session behind a ConfigSession (None for the fake)."""
    if isinstance(session, NetconfSession):
        return session
    inner = getattr(session, "netconf", None)
    return inner if isinstance(inner, NetconfSession) else None


TEN_MINUTES = timedelta(minutes=10)
