"""NetconfClient's pool: one SSH connection per device, reuse, reconnect, backoff, keepalive.

Against the lab's NETCONF server started in the test's loop, behind a FaultProxy that counts
TCP connections and can freeze or cut them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import CommitMode
from adapters.netconf import NetconfClient, NetconfPoolSettings, NetconfSession
from controller.errors import (
    AdapterTimeoutError,
    AuthError,
    ConnectError,
    MissingCapabilityError,
)
from controller.model import CredentialRef, Device, DeviceConfig
from tests.contract.conftest import LabTarget, lab_server, proxied_lab
from tests.contract.faultproxy import FaultProxy

pytestmark = pytest.mark.integration


class Clocks:
    """Monotonic and wall clocks that move only when the test says so."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return datetime(2026, 11, 28, tzinfo=UTC) + timedelta(seconds=self.seconds)


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[LabTarget]:
    async with lab_server(tmp_path) as target:
        yield target


@pytest.fixture
async def proxy_device(lab: LabTarget, tmp_path: Path) -> AsyncIterator[tuple[FaultProxy, Device]]:
    proxy, device = await proxied_lab(lab, tmp_path)
    try:
        yield proxy, device
    finally:
        await proxy.stop()


@pytest.fixture
async def make_client() -> AsyncIterator[object]:
    clients: list[NetconfClient] = []

    def make(devices: list[Device], **kwargs: object) -> NetconfClient:
        settings = kwargs.pop("settings", None)
        client = NetconfClient(devices, settings, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


async def wait_until(condition: object, bound: float = 5.0) -> None:
    """Poll a condition of the pool (it exposes no event) with a bounded deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_sessions_share_one_connection_and_clean_ones_are_reused(proxy_device, make_client):
    proxy, device = proxy_device
    client = make_client([device])
    first = await client.open_netconf_session("lab1")
    second = await client.open_netconf_session("lab1")
    assert proxy.accepted == 1  # two NETCONF sessions, one SSH connection
    assert first.session_id != second.session_id
    status = client.status("lab1")
    assert (status.connected, status.sessions_leased, status.sessions_idle) == (True, 2, 0)
    assert status.commit_mode is CommitMode.NATIVE
    first_id = first.session_id
    await first.close()
    with pytest.raises(ConnectError, match="closed"):  # the handle is dead once given back
        await first.get_running()
    third = await client.open_netconf_session("lab1")
    assert third.session_id == first_id  # the idle session was reused
    assert await third.get_running() == DeviceConfig()
    await second.close()
    await third.close()
    assert client.status("lab1").sessions_idle == 1  # one kept, the other closed


async def test_a_session_holding_a_lock_is_not_reused(proxy_device, make_client):
    _, device = proxy_device
    client = make_client([device])
    holder = await client.open_netconf_session("lab1")
    await holder.lock()
    holder_id = holder.session_id
    await holder.close()  # without unlock: the server ends the session and its lock
    other = await client.open_netconf_session("lab1")
    try:
        assert other.session_id != holder_id
        await other.lock()
        await other.unlock()
    finally:
        await other.close()


async def test_reconnects_after_the_connection_drops(proxy_device, make_client):
    proxy, device = proxy_device
    client = make_client([device])
    async with client.session("lab1") as session:
        assert await session.get_running() == DeviceConfig()
        await proxy.drop()
        with pytest.raises(ConnectError):
            await read_until_dropped(session)
    await wait_until(lambda: not client.status("lab1").connected)
    async with client.session("lab1") as session:
        assert await session.get_running() == DeviceConfig()
    assert proxy.accepted == 2
    assert client.status("lab1").consecutive_failures == 0


async def read_until_dropped(session: NetconfSession) -> None:
    for _ in range(50):
        await session.get_running()
        await asyncio.sleep(0.01)


async def test_failed_connects_back_off_then_recover(lab, tmp_path, make_client):
    proxy, device = await proxied_lab(lab, tmp_path)
    live_target = proxy.target
    proxy.target = ("127.0.0.1", 1)  # nothing listens there: the proxy accepts, then resets
    clocks = Clocks()
    settings = NetconfPoolSettings(
        backoff_initial=timedelta(seconds=2), backoff_max=timedelta(seconds=8)
    )
    client = make_client([device], settings=settings, monotonic=clocks.monotonic, clock=clocks.wall)
    try:
        with pytest.raises(ConnectError):
            await client.open_session("lab1")
        assert proxy.accepted == 1
        with pytest.raises(ConnectError, match="not reconnecting") as waiting:
            await client.open_session("lab1")
        assert proxy.accepted == 1  # no new attempt while backing off
        assert waiting.value.retryable
        status = client.status("lab1")
        assert status.consecutive_failures == 1
        assert status.last_error is not None and status.last_error["type"] == "ConnectError"
        assert status.retry_at is not None and status.retry_at > clocks.wall()
        clocks.seconds += 2.0  # the first wait is 1..2 s (jittered)
        with pytest.raises(ConnectError):
            await client.open_session("lab1")
        assert proxy.accepted == 2
        assert client.status("lab1").consecutive_failures == 2
        proxy.target = live_target  # the device is back
        clocks.seconds += 4.0
        session = await client.open_session("lab1")
        await session.close()
        assert client.status("lab1").consecutive_failures == 0
        assert client.status("lab1").retry_at is None
    finally:
        await proxy.stop()


async def test_auth_failure_backs_off_as_an_auth_error(proxy_device, tmp_path, make_client):
    _, device = proxy_device
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    assert device.netconf is not None
    endpoint = dataclasses.replace(device.netconf, password=CredentialRef(file=str(wrong)))
    client = make_client([dataclasses.replace(device, netconf=endpoint)])
    with pytest.raises(AuthError, match="authentication failed") as refused:
        await client.open_session("lab1")
    assert not refused.value.retryable
    assert "not-the-password" not in str(refused.value)
    with pytest.raises(AuthError, match="not reconnecting"):
        await client.open_session("lab1")


async def test_keepalive_notices_a_silent_peer_and_the_pool_reconnects(proxy_device, make_client):
    proxy, device = proxy_device
    settings = NetconfPoolSettings(
        keepalive_interval=timedelta(milliseconds=200), keepalive_count_max=2
    )
    client = make_client([device], settings=settings)
    async with client.session("lab1") as session:
        assert await session.get_running() == DeviceConfig()
    assert client.status("lab1").connected
    async with proxy.stalled():
        await wait_until(lambda: not client.status("lab1").connected)
    async with client.session("lab1") as session:
        assert await session.get_running() == DeviceConfig()
    assert proxy.accepted == 2


async def test_all_sessions_busy_is_a_bounded_wait(proxy_device, make_client):
    _, device = proxy_device
    client = make_client([device], settings=NetconfPoolSettings(max_sessions_per_device=1))
    held = await client.open_session("lab1")
    with pytest.raises(AdapterTimeoutError, match="busy"):
        await client.open_session("lab1")
    await held.close()
    again = await client.open_session("lab1")
    await again.close()


async def test_close_ends_every_session_on_the_device(lab, proxy_device, make_client):
    _, device = proxy_device
    client = make_client([device])
    idle = await client.open_netconf_session("lab1")
    busy = await client.open_netconf_session("lab1")
    await idle.close()
    assert len(lab.server.session_ids) == 2
    await client.close()
    await wait_until(lambda: lab.server.session_ids == ())
    with pytest.raises(ConnectError):
        await busy.get_running()
    with pytest.raises(ConnectError, match="closed"):
        await client.open_session("lab1")


async def test_device_without_netconf_is_refused(make_client):
    client = make_client([Device("snmp-only", "127.0.0.1")])
    assert client.devices == ()
    with pytest.raises(MissingCapabilityError, match="netconf"):
        await client.open_session("snmp-only")
