"""The ConfigSession API end to end against Debian's netconfd (napalm's invariants, NETCONF)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from adapters.base import Capability, ConfigSession
from adapters.netconf import open_session
from controller.errors import AdapterTimeoutError, ConnectError, MissingCapabilityError, RpcError
from controller.model import (
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    InterfaceConfig,
    ShaperConfig,
    TrafficClass,
)
from tests.adapters_netconf.conftest import commit_edits, raw_manager

pytestmark = [pytest.mark.integration, pytest.mark.interop]


def add(*path: str, value: str) -> ConfigEdit:
    return ConfigEdit(EditOp.ADD, path, None, value)


BASE_EDITS = (
    add("interfaces", "interface[name=eth1]", "metric", value="20"),
    add("interfaces", "interface[name=eth2]", "enabled", value="false"),
    add("interfaces", "interface[name=eth2]", "description", value="uplink <core> & edge"),
    add("interfaces", "interface[name=ge-0/0/1]", "metric", value="30"),
    add("qos", "class[name=video]", "priority", value="5"),
    add("qos", "class[name=video]", "weight", value="20"),
    add("qos", "class[name=voice]", "priority", value="7"),
    add("qos", "shaper[interface=eth1][class=bulk]", "rate-mbps", value="100"),
)
BASE = DeviceConfig(
    interfaces=(
        InterfaceConfig(name="eth1", metric=20),
        InterfaceConfig(name="eth2", enabled=False, description="uplink <core> & edge"),
        InterfaceConfig(name="ge-0/0/1", metric=30),
    ),
    classes=(
        ClassConfig(name=TrafficClass.VIDEO, priority=5, weight=20),
        ClassConfig(name=TrafficClass.VOICE, priority=7),
    ),
    shapers=(ShaperConfig(interface="eth1", traffic_class=TrafficClass.BULK, rate_mbps=100),),
)
# a change touching every kind of edit: change a leaf, add an entry, remove a leaf
TARGET = DeviceConfig(
    interfaces=(
        InterfaceConfig(name="eth1", metric=20),
        InterfaceConfig(name="eth2", enabled=False),
        InterfaceConfig(name="eth3", metric=5),
        InterfaceConfig(name="ge-0/0/1", metric=30),
    ),
    classes=(
        ClassConfig(name=TrafficClass.VIDEO, priority=6, weight=20),
        ClassConfig(name=TrafficClass.VOICE, priority=7),
    ),
    shapers=BASE.shapers,
)
TEN_MINUTES = timedelta(minutes=10)


async def test_connects_and_announces_capabilities(session):
    as_protocol: object = session
    assert isinstance(as_protocol, ConfigSession)
    assert session.device == "nc1"
    assert {
        Capability.CANDIDATE,
        Capability.VALIDATE,
        Capability.CONFIRMED_COMMIT,
        Capability.ROLLBACK_ON_ERROR,
        Capability.NOTIFICATION,
    } <= session.capabilities
    # netconfd offers one target: with --target=candidate, running is not writable
    assert Capability.WRITABLE_RUNNING not in session.capabilities
    assert any(
        uri.startswith("urn:netpilot:lab?module=netpilot-lab") for uri in session.capability_uris
    )


async def test_get_running_on_empty_device(session):
    assert await session.get_running() == DeviceConfig()
    assert await session.get_candidate() == DeviceConfig()


async def test_edit_validate_commit_confirm_lands(session, nc1, persist_ids):
    persist_id = persist_ids()
    await session.lock()
    await session.edit_candidate(BASE_EDITS)
    candidate = await session.get_candidate()
    assert candidate == BASE
    assert await session.get_running() == DeviceConfig()  # nothing committed yet
    await session.validate(candidate)
    await session.commit(confirm_timeout=TEN_MINUTES, persist_id=persist_id)
    assert await session.get_running() == BASE  # applied while pending
    await session.confirm(persist_id)
    await session.unlock()
    # confirmed: nothing is pending any more, and another session sees the change
    with pytest.raises(RpcError):
        await session.cancel_commit(persist_id)
    async with await open_session(nc1.device()) as other:
        assert await other.get_running() == BASE


async def test_invariant_candidate_equals_running_after_commit(session, persist_ids):
    await commit_edits(session, BASE_EDITS, persist_ids())
    running = await session.get_running()
    assert running == BASE
    assert await session.get_candidate() == running
    assert running.diff(await session.get_candidate()) == ()


async def test_diff_edits_reach_the_target(session, persist_ids):
    await commit_edits(session, BASE_EDITS, persist_ids())
    edits = BASE.diff(TARGET)
    assert {e.op for e in edits} == {EditOp.ADD, EditOp.CHANGE, EditOp.REMOVE}
    await commit_edits(session, edits, persist_ids())
    assert await session.get_running() == TARGET


@pytest.mark.parametrize(
    ("bad_edit", "tag", "app_tag", "paths"),
    [
        pytest.param(
            add("qos", "class[name=video]", "priority", value="9"),
            "invalid-value",
            "not-in-range",
            {"/nc:rpc/nc:edit-config/nc:config/npl:qos/npl:class[npl:name='video']/npl:priority"},
            id="priority-out-of-range",
        ),
        pytest.param(
            add("qos", "class[name=video]", "priority", value="7"),  # voice is at 7 already
            "operation-failed",
            "strict-priority-exclusive",
            {"/npl:qos/npl:class[npl:name='video']", "/npl:qos/npl:class[npl:name='voice']"},
            id="two-classes-at-strict-priority",
        ),
    ],
)
async def test_invariant_bad_edit_raises_and_discard_restores(
    session, persist_ids, bad_edit, tag, app_tag, paths
):
    await commit_edits(session, BASE_EDITS, persist_ids())
    await session.lock()
    good_edit = add("qos", "class[name=video]", "weight", value="30")
    await session.edit_candidate((good_edit,))
    with pytest.raises(RpcError) as refused:
        await session.edit_candidate((bad_edit,))
    assert (refused.value.tag, refused.value.app_tag) == (tag, app_tag)
    assert refused.value.path in paths
    assert refused.value.device == "nc1"
    assert refused.value.severity == "error"
    # rollback-on-error kept the earlier good edit; discard drops everything uncommitted
    assert (await session.get_candidate()).class_config(TrafficClass.VIDEO).weight == 30
    await session.discard()
    assert await session.get_candidate() == await session.get_running() == BASE
    await session.unlock()


async def test_invariant_cancel_commit_restores_original(session, persist_ids):
    await commit_edits(session, BASE_EDITS, persist_ids())
    original = await session.get_running()
    persist_id = persist_ids()
    await session.lock()
    await session.edit_candidate(BASE.diff(TARGET))
    await session.validate(await session.get_candidate())
    await session.commit(confirm_timeout=TEN_MINUTES, persist_id=persist_id)
    assert await session.get_running() == TARGET
    await session.cancel_commit(persist_id)
    assert await session.get_running() == original
    assert await session.get_candidate() == original
    await session.unlock()


async def test_confirmed_commit_expires_when_device_is_idle(session, persist_ids):
    await commit_edits(session, BASE_EDITS, persist_ids())
    await session.lock()
    await session.edit_candidate(BASE.diff(TARGET))
    await session.commit(confirm_timeout=timedelta(seconds=2), persist_id=persist_ids())
    assert await session.get_running() == TARGET
    # netconfd runs its timers only after 1 s without socket activity (bug 3): poll
    # sparsely, so the device gets idle windows in which its timer can fire
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    running = TARGET
    while running != BASE and loop.time() < deadline:
        await asyncio.sleep(1.5)
        running = await session.get_running()
    assert running == BASE, "the confirmed commit did not expire within 15 s"
    await session.unlock()


async def test_lock_contention_between_two_sessions(session, nc1):
    async with await open_session(nc1.device()) as rival:
        await session.lock()
        with pytest.raises(RpcError) as denied:
            await rival.lock()
        assert denied.value.tag == "lock-denied"
        await session.unlock()
        await rival.lock()  # free again
        await rival.unlock()


async def test_device_without_candidate_refuses_with_missing_capability(netconfd_lab):
    async with await open_session(netconfd_lab["running"].device()) as session:
        assert Capability.WRITABLE_RUNNING in session.capabilities
        assert Capability.CANDIDATE not in session.capabilities
        assert Capability.CONFIRMED_COMMIT not in session.capabilities
        refused: dict[str, Callable[[], Awaitable[object]]] = {
            "get_candidate": session.get_candidate,
            "lock": session.lock,
            "unlock": session.unlock,
            "edit_candidate": lambda: session.edit_candidate(BASE_EDITS),
            "commit": lambda: session.commit(confirm_timeout=TEN_MINUTES, persist_id="p"),
            "confirm": lambda: session.confirm("p"),
            "cancel_commit": lambda: session.cancel_commit("p"),
            "discard": session.discard,
        }
        for name, call in refused.items():
            with pytest.raises(MissingCapabilityError) as missing:
                await call()
            assert missing.value.capability in {":candidate", ":confirmed-commit"}, name
        # what the device does have still works
        await session.lock("running")
        await session.unlock("running")
        assert await session.get_running() == DeviceConfig()


async def test_bad_arguments_are_refused_before_any_rpc(session):
    with pytest.raises(ValueError, match="whole seconds"):
        await session.commit(confirm_timeout=timedelta(seconds=1.5), persist_id="p")
    with pytest.raises(ValueError, match="persist_id"):
        await session.commit(confirm_timeout=TEN_MINUTES, persist_id="")
    with pytest.raises(ValueError, match="datastore"):
        await session.lock("candidate/../running")
    await session.edit_candidate(())  # nothing to do, nothing sent
    assert await session.get_candidate() == DeviceConfig()


async def test_dropped_session_raises_connect_error(session, nc1):
    with raw_manager(nc1) as admin:
        admin.kill_session(session_id=session.session_id)
    with pytest.raises(ConnectError):
        await session.get_running()
    await session.close()  # a dead session closes quietly
    with pytest.raises(ConnectError, match="closed"):
        await session.get_running()


async def test_stalled_device_is_timeout_and_the_session_survives(netconfd_lab):
    # the "running" device: no other test depends on its timing
    async with await open_session(netconfd_lab["running"].device(timeout_seconds=0.5)) as session:
        with (
            netconfd_lab.stalled("running"),
            pytest.raises(AdapterTimeoutError, match="get-config"),
        ):
            await session.get_running()
        # the late reply is dropped; the next RPC gets its own answer
        assert await session.get_running() == DeviceConfig()
