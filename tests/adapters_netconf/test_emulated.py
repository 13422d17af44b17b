"""Emulated confirmed commit on a device with only :writable-running (netconfd --target=running).

The controller's transaction (controller/apply.py), unchanged, runs against it through
NetconfClient; the saved configuration comes back on cancel, on the timer, at close, and
after a "restart" that hands the journaled pending commit to a new client.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import Capability, EditOperation, NodeEdit, PendingEmulatedCommit
from adapters.netconf import (
    EmulatedConfirmedSession,
    NetconfClient,
    NetconfPoolSettings,
    open_session,
)
from adapters.parsing.netpilot_lab import NAMESPACE, parse_config
from controller.apply import VerificationSample, apply_change
from controller.config import ApplySettings
from controller.errors import RpcError
from controller.journal import Journal
from controller.model import (
    ChangeSet,
    ChangeStatus,
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    InterfaceConfig,
    PowerMode,
    TrafficClass,
)
from tests.peers.netconfd import NetconfdDevice, NetconfdLab

pytestmark = [pytest.mark.integration, pytest.mark.interop]

BASE = DeviceConfig(
    interfaces=(InterfaceConfig(name="eth1", metric=20),),
    classes=(ClassConfig(TrafficClass.VIDEO, priority=4),),
)
RAISE_VIDEO = (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "4", "6"),)
CHANGED = BASE.with_edits(RAISE_VIDEO)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def dev(netconfd_lab: NetconfdLab) -> NetconfdDevice:
    return netconfd_lab["running"]


async def running_of(dev: NetconfdDevice) -> DeviceConfig:
    async with await open_session(dev.device()) as session:
        return await session.get_running()


@pytest.fixture
async def at_base(dev: NetconfdDevice) -> AsyncIterator[NetconfdDevice]:
    """The device holds BASE before the test and an empty configuration after it."""
    async with await open_session(dev.device()) as session:
        await session.edit((NodeEdit(EditOperation.REMOVE, ("qos",)),), target="running")
        await session.edit(
            (
                NodeEdit(EditOperation.REPLACE, ("interfaces",)),
                NodeEdit(
                    EditOperation.MERGE, ("interfaces", "interface[name=eth1]", "metric"), "20"
                ),
                NodeEdit(EditOperation.MERGE, ("qos", "class[name=video]", "priority"), "4"),
            ),
            target="running",
        )
        assert await session.get_running() == BASE
    yield dev
    async with await open_session(dev.device()) as session:
        await session.edit(
            (
                NodeEdit(EditOperation.REMOVE, ("qos",)),
                NodeEdit(EditOperation.REMOVE, ("interfaces",)),
            ),
            target="running",
        )


@pytest.fixture
async def clients(dev: NetconfdDevice) -> AsyncIterator[Callable[..., NetconfClient]]:
    """NetconfClients for the device, closed at teardown (which restores what is pending)."""
    made: list[NetconfClient] = []

    def make(**settings: object) -> NetconfClient:
        client = NetconfClient([dev.device()], NetconfPoolSettings(**settings))  # type: ignore[arg-type]
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.close()


class ScriptedTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def transaction(client: NetconfClient, tmp: Path, verdicts: list[bool]):
    time = ScriptedTime()
    samples = iter(verdicts)

    async def verify() -> VerificationSample:
        met = next(samples)
        return VerificationSample(met, 1.0 if met else 99.0, "scripted")

    journal = Journal(tmp / "journal.sqlite")
    try:
        return await apply_change(
            ChangeSet.make("video", "running", RAISE_VIDEO, "raise video priority"),
            open_session=client.open_session,
            verify=verify,
            journal=journal,
            settings=ApplySettings(
                confirm_timeout=timedelta(seconds=120),
                verification_window=timedelta(seconds=5),
                verification_interval=timedelta(seconds=1),
                required_samples=2,
            ),
            clock=time.clock,
            sleep=time.sleep,
        )
    finally:
        journal.close()


async def test_the_transaction_runs_unchanged_and_is_confirmed(at_base, clients, tmp_path):
    client = clients()
    session = await client.open_session("running")
    assert isinstance(session, EmulatedConfirmedSession)
    assert session.emulated_capabilities == {Capability.CANDIDATE, Capability.CONFIRMED_COMMIT}
    assert Capability.CANDIDATE not in session.device_capabilities
    await session.close()
    result = await transaction(client, tmp_path, [True, True])
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert await running_of(at_base) == CHANGED
    assert client.pending_emulated_commit("running") is None


async def test_the_transaction_rolls_back_a_change_that_fails_verification(
    at_base, clients, tmp_path
):
    client = clients()
    result = await transaction(client, tmp_path, [False] * 10)
    assert result.status is ChangeStatus.ROLLED_BACK, result.detail
    assert await running_of(at_base) == BASE
    assert client.pending_emulated_commit("running") is None


async def commit_unconfirmed(client: NetconfClient, persist_id: str) -> PendingEmulatedCommit:
    session = await client.open_session("running")
    try:
        await session.lock()
        await session.edit_candidate(RAISE_VIDEO)
        assert await session.get_candidate() == CHANGED
        await session.commit(confirm_timeout=MINUTE, persist_id=persist_id)
        await session.unlock()
    finally:
        await session.close()
    pending = client.pending_emulated_commit("running")
    assert pending is not None
    return pending


async def wait_for_running(dev: NetconfdDevice, wanted: DeviceConfig, bound: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while (running := await running_of(dev)) != wanted:
        assert loop.time() < deadline, f"running is still {running}"
        await asyncio.sleep(0.05)


async def test_the_timer_restores_an_unconfirmed_commit(at_base, clients):
    # 60 s of confirm-timeout last 2.4 s: long enough for the read-back of the change to come
    # first on a loaded machine (0.3 s once fired before it under a load of 5)
    client = clients(emulated_timer_scale=0.04)
    pending = await commit_unconfirmed(client, "p-timer")
    assert await running_of(at_base) == CHANGED
    assert (pending.persist_id, pending.saved) == ("p-timer", BASE)
    await wait_for_running(at_base, BASE, bound=30)
    assert client.pending_emulated_commit("running") is None
    session = await client.open_session("running")
    try:
        with pytest.raises(RpcError, match="no confirmed commit is pending"):
            await session.confirm("p-timer")
    finally:
        await session.close()


async def test_a_journaled_commit_is_adopted_after_a_restart(at_base, clients):
    before = datetime.now(UTC)
    crashed = clients()
    pending = await commit_unconfirmed(crashed, "p-journal")
    assert pending.saved == BASE
    assert parse_config(pending.saved_xml, device="running") == BASE  # restorable verbatim
    assert before + MINUTE <= pending.expires_at <= datetime.now(UTC) + MINUTE
    restarted = clients()
    restarted.adopt_emulated_commit(pending)
    session = await restarted.open_session("running")
    try:
        await session.cancel_commit("p-journal")
    finally:
        await session.close()
    assert await running_of(at_base) == BASE
    # an adopted commit whose time has passed is restored at once
    again = await commit_unconfirmed(clients(), "p-late")
    assert await running_of(at_base) == CHANGED
    clients().adopt_emulated_commit(dataclasses.replace(again, expires_at=before))
    await wait_for_running(at_base, BASE)


async def test_closing_the_client_restores_an_unconfirmed_commit(at_base, clients):
    client = clients()
    await commit_unconfirmed(client, "p-close")
    assert await running_of(at_base) == CHANGED
    await client.close()
    assert await running_of(at_base) == BASE


async def test_a_refused_edit_leaves_running_and_nothing_pending(at_base, clients):
    client = clients()
    session = await client.open_session("running")
    try:
        await session.lock()
        await session.edit_candidate(
            (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "4", "9"),)
        )
        with pytest.raises(RpcError) as refused:
            await session.commit(confirm_timeout=MINUTE, persist_id="p-bad")
        assert refused.value.tag == "invalid-value"
        await session.unlock()
    finally:
        await session.close()
    assert client.pending_emulated_commit("running") is None
    assert await running_of(at_base) == BASE


async def test_remove_under_an_absent_entry_is_not_sent(at_base, clients):
    # netconfd would create eth9 with metric 0 (bug 6); remove of the absent does nothing
    client = clients()
    session = await client.open_session("running")
    try:
        await session.edit_candidate(
            (
                ConfigEdit(
                    EditOp.REMOVE, ("interfaces", "interface[name=eth9]", "metric"), None, None
                ),
            )
        )
        await session.commit(confirm_timeout=MINUTE, persist_id="p-bug6")
        await session.confirm("p-bug6")
    finally:
        await session.close()
    assert await running_of(at_base) == BASE


async def test_restore_keeps_what_the_model_does_not_know(at_base, clients):
    async with await open_session(at_base.device()) as raw:
        await raw.edit_config(
            '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            f'<interfaces xmlns="{NAMESPACE}">'
            "<interface><name>eth1</name><power-mode>sleep</power-mode></interface>"
            "</interfaces></config>",
            target="running",
        )
    client = clients()
    session = await client.open_session("running")
    try:
        await session.edit_candidate(
            (
                ConfigEdit(
                    EditOp.CHANGE, ("interfaces", "interface[name=eth1]", "metric"), "20", "30"
                ),
            )
        )
        await session.commit(confirm_timeout=MINUTE, persist_id="p-verbatim")
        await session.cancel_commit("p-verbatim")
    finally:
        await session.close()
    async with await open_session(at_base.device()) as raw:
        reply = await raw.get_config("running")
    # restored verbatim: the leaf written outside the transaction is still there
    asleep = InterfaceConfig(name="eth1", metric=20, power_mode=PowerMode.SLEEP)
    assert parse_config(reply, device="running") == dataclasses.replace(BASE, interfaces=(asleep,))
    assert "<power-mode>sleep</power-mode>" in reply.replace("npl:", "")


async def test_an_unknown_path_is_refused_when_staged(at_base, clients):
    session = await clients().open_session("running")
    try:
        with pytest.raises(RpcError, match="unknown configuration path") as refused:
            await session.edit_candidate(
                (ConfigEdit(EditOp.ADD, ("qos", "bogus", "x"), None, "1"),)
            )
        assert refused.value.tag == "invalid-value"
        assert await session.get_candidate() == BASE  # nothing staged
    finally:
        await session.close()
