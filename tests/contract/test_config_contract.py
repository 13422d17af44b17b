"""One contract for every ConfigSession: the fake, the lab's server, netconfd, emulated netconfd.

What the change transaction (controller/apply.py) relies on, asserted on each peer:
Protocol conformance with identical signatures (napalm's ``test_method_signatures``),
napalm's three configuration invariants, confirmed-commit expiry where the peer's timer
runs in test time, lock contention, capability refusal, error mapping, and each netconfd
bug workaround (the bugs themselves are characterised in tests/adapters_netconf).

Every test holds for every peer, the in-memory fake included.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from adapters.base import Capability, ConfigSession, missing_for_transaction
from controller.errors import (
    AdapterTimeoutError,
    ConnectError,
    MissingCapabilityError,
    ProtocolError,
    RpcError,
)
from controller.model import (
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    InterfaceConfig,
    ShaperConfig,
    TrafficClass,
)
from tests.contract.conftest import TEN_MINUTES, Peer


def add(*path: str, value: str) -> ConfigEdit:
    return ConfigEdit(EditOp.ADD, path, None, value)


BASE_EDITS = (
    add("interfaces", "interface[name=eth1]", "metric", value="20"),
    add("interfaces", "interface[name=eth2]", "enabled", value="false"),
    add("interfaces", "interface[name=eth2]", "description", value="uplink <core> & edge"),
    add("qos", "class[name=video]", "priority", value="5"),
    add("qos", "class[name=video]", "weight", value="20"),
    add("qos", "class[name=voice]", "priority", value="7"),
    add("qos", "shaper[interface=eth1][class=bulk]", "rate-mbps", value="100"),
)
BASE = DeviceConfig(
    interfaces=(
        InterfaceConfig(name="eth1", metric=20),
        InterfaceConfig(name="eth2", enabled=False, description="uplink <core> & edge"),
    ),
    classes=(
        ClassConfig(name=TrafficClass.VIDEO, priority=5, weight=20),
        ClassConfig(name=TrafficClass.VOICE, priority=7),
    ),
    shapers=(ShaperConfig(interface="eth1", traffic_class=TrafficClass.BULK, rate_mbps=100),),
)
TARGET = DeviceConfig(
    interfaces=(
        InterfaceConfig(name="eth1", metric=20),
        InterfaceConfig(name="eth2", enabled=False),
        InterfaceConfig(name="eth3", metric=5),
    ),
    classes=(
        ClassConfig(name=TrafficClass.VIDEO, priority=6, weight=20),
        ClassConfig(name=TrafficClass.VOICE, priority=7),
    ),
    shapers=BASE.shapers,
)
TWO_STRICT = BASE.with_edits(
    (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "5", "7"),)
)


async def commit_confirmed(
    session: ConfigSession, edits: tuple[ConfigEdit, ...], persist_id: str
) -> DeviceConfig:
    """The transaction's happy path, as controller/apply.py runs it."""
    await session.lock()
    try:
        await session.discard()
        await session.edit_candidate(edits)
        candidate = await session.get_candidate()
        await session.validate(candidate)
        await session.commit(confirm_timeout=TEN_MINUTES, persist_id=persist_id)
        await session.confirm(persist_id)
    finally:
        await session.unlock()
    return candidate


async def edit_and_validate(session: ConfigSession, edit: ConfigEdit) -> None:
    """Edit the candidate, then validate it: a device that stages edits (the emulated
    candidate) refuses at the latest when asked to validate them."""
    await session.edit_candidate((edit,))
    await session.validate(await session.get_candidate())


async def read_until_dropped(session: ConfigSession) -> None:
    """Read until the dropped connection shows (within a few loop turns)."""
    for _ in range(50):
        await session.get_running()
        await asyncio.sleep(0.01)


async def at_base(peer: Peer) -> ConfigSession:
    """A session to the peer, whose device holds BASE."""
    session = await peer.open()
    await commit_confirmed(session, BASE_EDITS, peer.persist_id())
    assert await session.get_running() == BASE
    return session


# --------------------------------------------------------------------------- conformance

PROTOCOL_METHODS = sorted(
    name
    for name, member in vars(ConfigSession).items()
    if not name.startswith("_") and (callable(member) or isinstance(member, property))
)


async def test_session_conforms_to_the_protocol_with_identical_signatures(peer):
    session = await peer.open()
    try:
        as_object: object = session
        assert isinstance(as_object, ConfigSession)
        implementation = type(session)
        assert PROTOCOL_METHODS  # the comparison below must compare something
        for name in PROTOCOL_METHODS:
            expected = getattr(ConfigSession, name)
            actual = getattr(implementation, name)
            if isinstance(expected, property):
                assert isinstance(actual, property), name
                continue
            assert inspect.iscoroutinefunction(actual), f"{name} must be async"
            assert inspect.signature(actual) == inspect.signature(expected), name
        # the transaction's capability check passes (natively or emulated)
        assert missing_for_transaction(session.capabilities) == ()
    finally:
        await session.close()


# --------------------------------------------------------------------------- napalm's invariants


async def test_invariant_commit_leaves_an_empty_diff(peer):
    session = await at_base(peer)
    try:
        running = await session.get_running()
        assert running == BASE
        assert await session.get_candidate() == running
        assert running.diff(await session.get_candidate()) == ()
        # and the diff to a target, applied, reaches exactly the target
        edits = running.diff(TARGET)
        assert {e.op for e in edits} == {EditOp.ADD, EditOp.CHANGE, EditOp.REMOVE}
        await commit_confirmed(session, edits, peer.persist_id())
        assert await session.get_running() == TARGET
        assert (await session.get_running()).diff(TARGET) == ()
    finally:
        await session.close()


async def test_invariant_invalid_config_raises_and_discard_leaves_an_empty_diff(peer):
    session = await at_base(peer)
    try:
        await session.lock()
        await session.edit_candidate(
            (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "weight"), "20", "30"),)
        )
        with pytest.raises(RpcError) as refused:
            await session.validate(TWO_STRICT)
        assert refused.value.app_tag == "strict-priority-exclusive"
        await session.discard()
        assert (await session.get_candidate()).diff(await session.get_running()) == ()
        assert await session.get_running() == BASE
        await session.unlock()
    finally:
        await session.close()


async def test_invariant_out_of_range_edit_raises_and_discard_leaves_an_empty_diff(peer):
    session = await at_base(peer)
    try:
        await session.lock()
        with pytest.raises(RpcError) as refused:
            await edit_and_validate(
                session,
                ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "5", "9"),
            )
        assert refused.value.tag in {"invalid-value", "bad-element"}
        await session.discard()
        assert await session.get_candidate() == await session.get_running() == BASE
        await session.unlock()
    finally:
        await session.close()


async def test_invariant_commit_then_rollback_reproduces_the_original(peer):
    session = await at_base(peer)
    try:
        persist_id = peer.persist_id()
        await session.lock()
        await session.edit_candidate(BASE.diff(TARGET))
        await session.validate(await session.get_candidate())
        await session.commit(confirm_timeout=TEN_MINUTES, persist_id=persist_id)
        assert await session.get_running() == TARGET
        await session.cancel_commit(persist_id)
        assert await session.get_running() == BASE
        assert await session.get_candidate() == BASE
        await session.unlock()
    finally:
        await session.close()


# --------------------------------------------------------------------------- confirmed commit


async def test_unconfirmed_commit_expires_back_to_the_original(peer):
    if peer.expiry_poll is None:
        pytest.skip(f"{peer.id} has no confirm timer that runs in test time")
    session = await at_base(peer)
    try:
        await session.lock()
        await session.edit_candidate(BASE.diff(TARGET))
        await session.commit(confirm_timeout=timedelta(seconds=1), persist_id=peer.persist_id())
        assert await session.get_running() == TARGET
        await session.unlock()
    finally:
        await session.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    running = TARGET
    while running != BASE and loop.time() < deadline:
        await asyncio.sleep(peer.expiry_poll)  # pacing reads (netconfd needs idle seconds)
        running = await peer.running()
    assert running == BASE, "the unconfirmed commit did not expire within 15 s"


async def test_pending_commit_survives_its_session_and_is_confirmed_by_persist_id(peer):
    first = await at_base(peer)
    persist_id = peer.persist_id()
    try:
        await first.lock()
        await first.edit_candidate(BASE.diff(TARGET))
        await first.commit(confirm_timeout=TEN_MINUTES, persist_id=persist_id)
        await first.unlock()
    finally:
        await first.close()
    second = await peer.open()
    try:
        with pytest.raises(RpcError):
            await second.confirm("not-" + persist_id)
        await second.confirm(persist_id)
        assert await second.get_running() == TARGET
        with pytest.raises(RpcError):  # confirmed: nothing is pending any more
            await second.cancel_commit(persist_id)
        assert await second.get_running() == TARGET
    finally:
        await second.close()


async def test_another_pending_commit_blocks_a_second_one(peer):
    session = await at_base(peer)
    first, second = peer.persist_id(), peer.persist_id()
    try:
        await session.lock()
        await session.edit_candidate(BASE.diff(TARGET))
        await session.commit(confirm_timeout=TEN_MINUTES, persist_id=first)
        await session.edit_candidate(
            (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "weight"), "20", "40"),)
        )
        with pytest.raises(RpcError):
            await session.commit(confirm_timeout=TEN_MINUTES, persist_id=second)
        await session.discard()
        await session.cancel_commit(first)
        assert await session.get_running() == BASE
        await session.unlock()
    finally:
        await session.close()


# --------------------------------------------------------------------------- locks


async def test_lock_contention_between_two_sessions(peer):
    holder, rival = await peer.open(), await peer.open()
    try:
        await holder.lock()
        with pytest.raises(RpcError) as denied:
            await rival.lock()
        assert denied.value.tag == "lock-denied"
        assert denied.value.retryable
        await holder.unlock()
        await rival.lock()
        await rival.unlock()
    finally:
        await holder.close()
        await rival.close()


async def test_closing_a_lock_holder_releases_its_lock(peer):
    holder = await peer.open()
    await holder.lock()
    await holder.close()
    other = await peer.open()
    try:
        await other.lock()
        await other.unlock()
    finally:
        await other.close()


# --------------------------------------------------------------------------- one exchange


async def test_lock_and_read_running_locks_discards_and_reads(peer):
    holder, rival = await at_base(peer), await peer.open()
    try:
        assert await holder.lock_and_read_running() == BASE
        assert await holder.get_candidate() == BASE
        with pytest.raises(RpcError) as denied:
            await rival.lock_and_read_running()  # the lock is held: refused, first error
        assert denied.value.tag in {"lock-denied", "in-use"}
        await holder.unlock()
        assert await rival.lock_and_read_running() == BASE
        await rival.unlock()
    finally:
        await holder.close()
        await rival.close()


async def test_load_candidate_validates_edits_and_reads_back(peer):
    session = await at_base(peer)
    try:
        await session.lock_and_read_running()
        edits = BASE.diff(TARGET)
        assert await session.load_candidate(TARGET, edits) == TARGET
        assert await session.get_candidate() == TARGET
        assert await session.get_running() == BASE  # nothing committed
        await session.discard()
        with pytest.raises(RpcError) as refused:  # the validation's refusal comes first
            await session.load_candidate(TWO_STRICT, BASE.diff(TWO_STRICT))
        assert refused.value.app_tag == "strict-priority-exclusive"
        await session.discard()
        assert await session.get_candidate() == await session.get_running() == BASE
        await session.unlock()
    finally:
        await session.close()


# --------------------------------------------------------------------------- capabilities


async def test_device_without_candidate_is_refused_by_capability(peer):
    session = await peer.open_reduced()
    if session is None:
        pytest.skip(f"{peer.id} has no device without :candidate")
    try:
        assert Capability.CANDIDATE in missing_for_transaction(session.capabilities)
        refused: dict[str, Callable[[], Awaitable[object]]] = {
            "get_candidate": session.get_candidate,
            "lock": session.lock,
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
            assert not missing.value.retryable
        assert isinstance(await session.get_running(), DeviceConfig)  # reads still work
    finally:
        await session.close()


async def test_bad_arguments_are_refused_before_any_rpc(peer):
    session = await peer.open()
    try:
        with pytest.raises(ValueError, match="whole seconds"):
            await session.commit(confirm_timeout=timedelta(seconds=1.5), persist_id="p")
        with pytest.raises(ValueError, match="persist_id"):
            await session.commit(confirm_timeout=TEN_MINUTES, persist_id="")
        with pytest.raises(ValueError, match="datastore"):
            await session.lock("candidate/../running")
    finally:
        await session.close()


# --------------------------------------------------------------------------- error mapping


async def test_rpc_error_is_typed(peer):
    session = await at_base(peer)
    try:
        with pytest.raises(RpcError) as refused:
            await session.validate(TWO_STRICT)
        error = refused.value
        assert (error.tag, error.app_tag, error.severity) == (
            "operation-failed",
            "strict-priority-exclusive",
            "error",
        )
        assert error.path.startswith("/") and "class" in error.path
        assert "strict priority" in error.rpc_message
        assert not error.retryable
        assert error.as_dict()["app_tag"] == "strict-priority-exclusive"
        assert error.device == session.device
    finally:
        await session.close()


async def test_stalled_device_is_a_timeout_and_the_session_survives(peer):
    session = await at_base(peer)
    try:
        async with peer.stalled():
            with pytest.raises(AdapterTimeoutError) as late:
                await session.get_running()
        assert late.value.retryable
        # the late reply is dropped; the next RPC gets its own answer
        assert await session.get_running() == BASE
    finally:
        await session.close()


async def test_dropped_connection_is_connect_error_and_a_new_session_works(peer):
    session = await at_base(peer)
    try:
        await peer.drop()
        with pytest.raises(ConnectError) as dropped:
            await read_until_dropped(session)
        assert dropped.value.retryable
    finally:
        await session.close()  # a dead session closes quietly
    assert await peer.running() == BASE


# --------------------------------------------------------------------------- netconfd's bugs


async def test_bug1_inline_validate_then_commit_keeps_the_candidate(peer):
    session = await peer.open()
    try:
        wanted = await commit_confirmed(session, BASE_EDITS, peer.persist_id())
        assert wanted == BASE
        assert await session.get_running() == BASE  # not lost after validate + commit
    finally:
        await session.close()


async def test_bug2_validate_checks_must_and_changes_nothing(peer):
    session = await at_base(peer)
    try:
        with pytest.raises(RpcError, match="strict priority"):
            await session.validate(TWO_STRICT)
        assert await session.get_candidate() == await session.get_running() == BASE
    finally:
        await session.close()


async def test_bug3_cancel_commit_restores_at_once_while_the_device_is_polled(peer):
    session = await at_base(peer)
    try:
        persist_id = peer.persist_id()
        await session.lock()
        await session.edit_candidate(BASE.diff(TARGET))
        await session.commit(confirm_timeout=timedelta(seconds=1), persist_id=persist_id)
        for _ in range(3):  # busy: a netconfd timer would never fire now
            assert await session.get_running() == TARGET
        loop = asyncio.get_running_loop()
        started = loop.time()
        await session.cancel_commit(persist_id)
        assert await session.get_running() == BASE
        assert loop.time() - started < 0.5
        await session.unlock()
    finally:
        await session.close()


async def test_bug6_remove_under_an_absent_entry_never_reads_back_as_garbage(peer):
    session = await at_base(peer)
    try:
        await session.lock()
        await session.edit_candidate(
            (
                ConfigEdit(
                    EditOp.REMOVE, ("interfaces", "interface[name=eth9]", "metric"), None, None
                ),
            )
        )
        refusal = ""
        try:
            candidate = await session.get_candidate()
        except ProtocolError as refused:  # netconfd stored metric 0: the parser refuses it
            refusal = str(refused)
        else:  # parsed, hence within the module's ranges
            assert all(1 <= i.metric <= 65535 for i in candidate.interfaces)
        assert not refusal or "metric" in refusal
        await session.discard()
        assert await session.get_candidate() == await session.get_running() == BASE
        await session.unlock()
    finally:
        await session.close()
