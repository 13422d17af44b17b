"""The loop's bookkeeping around transactions, on in-memory devices (adapters/fake.py).

Guards must count every attempt, quarantine what retrying cannot fix, free the intent and
the device whatever the transaction's fate, and report fulfilmentFailed when the only fix
already failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from adapters.base import ConfigSession
from adapters.fake import FakeDevice
from adapters.snmp import SnmpPoller
from analytics.watch import KpiWatch
from controller import loop as loop_module
from controller.config import ApplySettings, LoopSettings
from controller.errors import ChangeError, RpcError
from controller.journal import Journal
from controller.loop import Controller, TickReport
from controller.model import (
    Approval,
    ApprovalStatus,
    ChangeResult,
    ChangeSet,
    ChangeStatus,
    ClassQueue,
    ConfigEdit,
    Decision,
    Device,
    DeviceConfig,
    EditOp,
    Expectation,
    ExpectationObjects,
    ExpectationType,
    ExpectationVerb,
    FulfilmentStatus,
    Guards,
    Hold,
    Intent,
    IntentMode,
    NetconfEndpoint,
    NotFulfilledState,
    Observation,
    PathRef,
    Plan,
    ProbeResult,
    Target,
    TargetCondition,
    TrafficClass,
)
from controller.sense import Sensor
from policies.decide import Outcome

VIDEO = TrafficClass.VIDEO
INTENT = Intent(
    name="video-west-east",
    expectations=(
        Expectation(
            id="video-latency",
            type=ExpectationType.E2E_QOS,
            verb=ExpectationVerb.ENSURE,
            objects=ExpectationObjects(traffic_class=VIDEO, path=PathRef("r1", "r4")),
            targets=(Target("latencyMs", TargetCondition.LESS_THAN, 30.0),),
        ),
    ),
    guards=Guards(cooldown=timedelta(seconds=60), max_changes_per_hour=3),
)
NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
NO_DECISION = Decision(intent=INTENT.name, at=NOW, summary="")
APPLY = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(milliseconds=50),
    verification_interval=timedelta(milliseconds=10),
    required_samples=2,
)


class Clock:
    """Real elapsed time plus a manual offset, so guards can be walked past their windows."""

    def __init__(self) -> None:
        self.base = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
        self.start = time.monotonic()
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.start) + self.offset


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Controller, dict[str, FakeDevice], Clock]]:
    fakes = {
        "r1": FakeDevice("r1", probes=(ProbeResult("r4", VIDEO, 45.0, 0.0),)),
        "r2": FakeDevice("r2", queues=(ClassQueue("eth2", VIDEO, 600.0, 40.0, 0.1),)),
    }
    devices = [Device(n, "127.0.0.1", netconf=NetconfEndpoint(port=1, username="x")) for n in fakes]

    async def open_session(device: Device):
        return await fakes[device.name].open()

    clock = Clock()
    poller = SnmpPoller()
    sensor = Sensor(devices, open_session=open_session, poller=poller, clock=clock)
    controller = Controller(
        intents=[INTENT],
        devices=devices,
        sensor=sensor,
        open_config_session=open_session,
        journal=Journal(tmp_path / "journal.sqlite"),
        loop_settings=LoopSettings(interval=timedelta(seconds=10), violation_ticks=2),
        apply_settings=APPLY,
        clock=clock,
    )
    try:
        yield controller, fakes, clock
    finally:
        await controller.drain()
        await sensor.close()
        await poller.close()
        controller.journal.close()


async def ticks(controller: Controller, clock: Clock, count: int, step: timedelta) -> None:
    for _ in range(count):
        await controller.tick()
        await controller.drain()
        clock.offset += step


async def test_a_device_that_keeps_refusing_is_not_hammered(rig):
    controller, fakes, clock = rig
    fakes["r2"].lock_owner = 999  # another manager holds r2's candidate lock
    await ticks(controller, clock, 6, timedelta(seconds=10))
    assert fakes["r2"].calls.count("lock") == 1  # one attempt, then the cooldown holds
    (record,) = controller.journal.changes()
    assert record.status is ChangeStatus.REJECTED_PRECHECK
    assert "cooldown" in controller.last_decisions[INTENT.name].summary
    # lock-denied goes away by itself: after the cooldown, it is tried again (not quarantined)
    clock.offset += timedelta(seconds=61)
    await ticks(controller, clock, 1, timedelta(seconds=10))
    assert fakes["r2"].calls.count("lock") == 2


async def test_a_refusal_retrying_cannot_fix_is_quarantined(rig):
    controller, fakes, clock = rig
    fakes["r2"].fail_next("validate", RpcError("r2", "invalid-value", "unsupported value"))
    await ticks(controller, clock, 3, timedelta(seconds=70))  # well past every cooldown
    assert fakes["r2"].calls.count("validate") == 1
    status = controller.statuses[INTENT.name]
    assert status.state is NotFulfilledState.FULFILMENT_FAILED
    assert any("quarantined" in r for r in status.reasons)


async def test_rolled_back_change_is_not_retried_and_frees_the_device(rig):
    controller, fakes, clock = rig
    await ticks(controller, clock, 4, timedelta(seconds=70))
    assert controller.changes[ChangeStatus.ROLLED_BACK] == 1  # r1's probe never improves
    assert fakes["r2"].calls.count("commit") == 1
    assert fakes["r2"].pending is None and fakes["r2"].lock_owner is None
    assert controller.states[INTENT.name].in_flight == ""
    assert controller.statuses[INTENT.name].state is NotFulfilledState.FULFILMENT_FAILED


async def test_a_cancelled_transaction_restores_and_frees_the_intent(rig):
    controller, fakes, clock = rig
    hold = asyncio.Event()
    original = controller._sample_target

    async def blocked_sample(expectation, plan):
        hold.set()
        await asyncio.Event().wait()
        return await original(expectation, plan)

    controller._sample_target = blocked_sample
    await controller.tick()
    clock.offset += timedelta(seconds=10)
    await controller.tick()  # second violated tick: the change starts
    await asyncio.wait_for(hold.wait(), timeout=5)
    assert controller.states[INTENT.name].in_flight
    for task in list(controller._tasks):
        task.cancel()
    await controller.drain()
    assert controller.states[INTENT.name].in_flight == ""
    assert fakes["r2"].pending is None and fakes["r2"].running == DeviceConfig()
    (record,) = controller.journal.changes()
    assert record.status is ChangeStatus.ROLLED_BACK


@pytest.fixture
def approve_rig(rig):
    controller, fakes, clock = rig
    controller.replace_intents([replace(INTENT, mode=IntentMode.APPROVE)])
    return controller, fakes, clock


async def test_an_approve_mode_plan_waits_for_an_operator(approve_rig):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 3, timedelta(seconds=10))
    assert "commit" not in fakes["r2"].calls  # nothing applied without an approval
    (approval,) = controller.approvals.values()
    assert approval.status is ApprovalStatus.PENDING and approval.change.device == "r2"
    held = controller.last_decisions[INTENT.name]
    assert "awaiting approval" in held.summary and held.held is Hold.AWAITING_APPROVAL
    controller.decide_approval(approval.id, approve=True, reason="change window")
    await ticks(controller, clock, 1, timedelta(seconds=10))
    assert fakes["r2"].calls.count("commit") == 1  # applied on the next tick
    assert controller.approvals[approval.id].status is ApprovalStatus.APPLIED
    steps = [e.kind for e in controller.journal.events() if e.kind.startswith("approval-")]
    assert steps == ["approval-requested", "approval-approved", "approval-applied"]


async def test_a_rejected_plan_is_quarantined_with_the_operators_reason(approve_rig):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    controller.decide_approval(approval.id, approve=False, reason="not during the match")
    with pytest.raises(ChangeError, match="not pending"):
        controller.decide_approval(approval.id, approve=True)
    await ticks(controller, clock, 2, timedelta(seconds=70))
    assert "commit" not in fakes["r2"].calls
    status = controller.statuses[INTENT.name]
    assert status.state is NotFulfilledState.FULFILMENT_FAILED
    assert any("not during the match" in r for r in status.reasons)


async def test_a_loop_class_tick_decides_only_its_intents(rig):
    from controller.config import LoopClass

    controller, fakes, clock = rig
    report = await controller.tick(LoopClass.SLOW)  # energy-only intents: none here
    assert report.loop_class is LoopClass.SLOW  # the metrics measure it against its interval
    assert report.decisions == ()
    assert report.statuses[0].targets[0].observed == 45.0  # evaluated all the same
    assert INTENT.name not in controller.last_decisions
    report = await controller.tick(LoopClass.FAST)
    assert report.loop_class is LoopClass.FAST
    assert [d.intent for d in report.decisions] == [INTENT.name]
    assert (await controller.tick()).loop_class is None  # every intent (a woken tick)


async def test_an_intent_that_leaves_and_comes_back_keeps_its_quarantine(rig):
    controller, fakes, clock = rig
    await ticks(controller, clock, 4, timedelta(seconds=70))
    assert controller.changes[ChangeStatus.ROLLED_BACK] == 1
    quarantined = dict(controller.states[INTENT.name].quarantined)
    assert quarantined

    # a revision without the intent, then a fallback to one with it (GitOps quarantine)
    controller.replace_intents([replace(INTENT, name="other-intent")])
    assert INTENT.name not in controller.states
    controller.replace_intents([INTENT])
    assert dict(controller.states[INTENT.name].quarantined) == quarantined

    await ticks(controller, clock, 4, timedelta(seconds=70))
    assert fakes["r2"].calls.count("commit") <= 2  # "other-intent" may try once; INTENT never
    assert controller.changes[ChangeStatus.ROLLED_BACK] <= 2
    intent_commits = [r for r in controller.journal.changes() if r.intent == INTENT.name]
    assert len(intent_commits) == 1  # the change it was refused is not pushed again


def same_action(plan: Plan, value: str) -> Decision:
    """The decision a later tick makes for the same action with another value (as a shaping
    rate follows the load)."""
    change = plan.changes[0]
    edits = tuple(replace(e, new=value) for e in change.edits)
    moved = ChangeSet.make(change.intent, change.device, edits, change.reason, base=change.base)
    return Decision(
        intent=INTENT.name, at=NOW, summary=f"set {value}", expectation="video-latency"
    ).with_plan(Plan.single(moved))


def another_action(plan: Plan, weight: str) -> Decision:
    """A decision for another action on the same device (the video class's weight)."""
    change = plan.changes[0]
    other = ChangeSet.make(
        change.intent,
        change.device,
        (ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "weight"), None, weight),),
        "weight",
        base=change.base,
    )
    return Decision(
        intent=INTENT.name, at=NOW, summary="weight", expectation="video-latency"
    ).with_plan(Plan.single(other))


async def test_an_approval_stands_for_the_same_action_with_this_ticks_values(approve_rig):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    shown = approval.proposed
    intent = replace(INTENT, mode=IntentMode.APPROVE)
    # the next ticks propose the same leaf with other values: still the one approval
    for value in ("5", "6"):
        held = controller._act(intent, same_action(shown, value), Outcome(decision=NO_DECISION))
        assert held.actions is None
        # it reads with the values the operator was shown, which approving applies
        assert held.summary.startswith(f"{approval.summary}: awaiting approval {approval.id}")
    assert list(controller.approvals) == [approval.id]
    assert controller.approvals[approval.id].status is ApprovalStatus.PENDING
    controller.decide_approval(approval.id, approve=True, reason="ok")
    # approved: a later tick's variant applies what the operator was shown
    acted = controller._act(intent, same_action(shown, "7"), Outcome(decision=NO_DECISION))
    await controller.drain()
    assert acted.actions == shown
    assert acted.explanation["approved"] == approval.id
    assert controller.approvals[approval.id].status is ApprovalStatus.APPLIED
    assert fakes["r2"].calls.count("commit") == 1
    (record,) = controller.journal.changes()
    assert record.change_id == approval.id  # the approved change set, not the "7" variant


async def test_a_rejected_action_is_held_back_with_other_values_too(approve_rig):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    controller.decide_approval(approval.id, approve=False, reason="not during the match")
    intent = replace(INTENT, mode=IntentMode.APPROVE)
    held = controller._act(
        intent, same_action(approval.proposed, "5"), Outcome(decision=NO_DECISION)
    )
    assert held.actions is None
    assert "rejected the same action" in held.summary and "not during the match" in held.summary
    assert held.held is Hold.REJECTED
    assert list(controller.approvals) == [approval.id]  # not asked again
    # another action (another leaf) is a new question, and supersedes nothing rejected
    other = another_action(approval.proposed, "10")
    asked = controller._act(intent, other, Outcome(decision=NO_DECISION))
    assert "awaiting approval" in asked.summary
    other_plan = other.actions
    assert other_plan is not None
    assert controller.approvals[other_plan.id].status is ApprovalStatus.PENDING
    assert controller.approvals[approval.id].status is ApprovalStatus.REJECTED


async def test_another_action_supersedes_an_approved_one_not_yet_applied(approve_rig):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    controller.decide_approval(approval.id, approve=True, reason="ok")
    intent = replace(INTENT, mode=IntentMode.APPROVE)
    controller._act(intent, another_action(approval.proposed, "20"), Outcome(decision=NO_DECISION))
    assert controller.approvals[approval.id].status is ApprovalStatus.SUPERSEDED
    # the approved action coming back later is a new question, not applied unasked
    later = controller._act(
        intent, same_action(approval.proposed, "9"), Outcome(decision=NO_DECISION)
    )
    assert later.actions is None and "awaiting approval" in later.summary
    assert "commit" not in fakes["r2"].calls


RATE = "rate-mbps"


def test_shaping_with_more_or_fewer_classes_is_the_same_action() -> None:
    def shaping(*rates: tuple[str, str]) -> Plan:
        edits = tuple(
            ConfigEdit(
                EditOp.ADD, ("qos", f"shaper[interface=eth2][class={c}]", "rate-mbps"), None, r
            )
            for c, r in rates
        )
        return Plan.single(ChangeSet.make(INTENT.name, "r2", edits, "shape"))

    two = shaping(("bulk", "6"), ("best-effort", "99"))
    three = shaping(("bulk", "5"), ("best-effort", "54"), ("gaming", "18"))
    assert two.id != three.id and two.shape == three.shape
    priority = Plan.single(
        ChangeSet.make(
            INTENT.name,
            "r2",
            (ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "1"),),
            "raise",
        )
    )
    assert priority.shape != two.shape


# ------------------------------------------------------------ a restart keeps the quarantine


def restarted(controller: Controller, journal_path: Path) -> Controller:
    """Another controller over the same devices and journal, as after a daemon restart."""
    return Controller(
        intents=controller.intents,
        devices=list(controller.devices.values()),
        sensor=controller.sensor,
        open_config_session=controller._open_config_session,
        journal=Journal(journal_path),
        loop_settings=controller.loop_settings,
        apply_settings=controller.apply_settings,
        clock=controller.clock,
    )


async def test_a_failed_change_stays_quarantined_after_a_restart(rig, tmp_path: Path):
    controller, fakes, clock = rig
    await ticks(controller, clock, 4, timedelta(seconds=70))
    assert controller.changes[ChangeStatus.ROLLED_BACK] == 1  # r1's probe never improves
    held = dict(controller.states[INTENT.name].quarantined)
    after = restarted(controller, tmp_path / "journal.sqlite")
    try:
        assert await after.recover() == []
        assert after.states[INTENT.name].quarantined == held
        await ticks(after, clock, 3, timedelta(seconds=70))  # well past every cooldown
        assert fakes["r2"].calls.count("commit") == 1  # not pushed again
        assert after.statuses[INTENT.name].state is NotFulfilledState.FULFILMENT_FAILED
    finally:
        after.journal.close()


async def test_a_rejection_holds_the_same_action_after_a_restart(approve_rig, tmp_path: Path):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    controller.decide_approval(approval.id, approve=False, reason="not during the match")
    after = restarted(controller, tmp_path / "journal.sqlite")
    try:
        assert after.restore_quarantine() == 1
        # the rejection is listed again, as the operator left it, and stays answered
        (restored,) = after.approvals.values()
        assert (restored.id, restored.status, restored.reason) == (
            approval.id,
            ApprovalStatus.REJECTED,
            "not during the match",
        )
        assert restored.proposed.changes[0].edits == approval.proposed.changes[0].edits
        assert restored.summary == approval.summary
        with pytest.raises(ChangeError, match="rejected, not pending"):
            after.decide_approval(approval.id, approve=True)
        intent = replace(INTENT, mode=IntentMode.APPROVE)
        # the same action with this tick's values: answered as before, not asked again
        held = after._act(intent, same_action(approval.proposed, "5"), Outcome(NO_DECISION))
        assert held.actions is None and held.held is Hold.REJECTED
        assert f"({approval.id}): not during the match" in held.summary
        assert list(after.approvals) == [approval.id]
        # another action is a new question
        asked = after._act(intent, another_action(approval.proposed, "10"), Outcome(NO_DECISION))
        assert asked.held is Hold.AWAITING_APPROVAL
    finally:
        after.journal.close()
    assert "commit" not in fakes["r2"].calls


async def test_a_released_quarantine_lets_the_loop_try_again_after_a_restart_too(
    rig, tmp_path: Path
):
    controller, fakes, clock = rig
    await ticks(controller, clock, 4, timedelta(seconds=70))
    ((change_id, why),) = controller.states[INTENT.name].quarantined.items()
    assert controller.quarantined() == [(INTENT.name, change_id, why)]
    assert controller.release_quarantine(change_id, reason="r1's probe is fixed") == (
        change_id,
        [INTENT.name],
    )
    assert controller.quarantined() == []
    with pytest.raises(ChangeError, match="not quarantined"):
        controller.release_quarantine(change_id, reason="twice")
    (event,) = controller.journal.events(kind=loop_module.RELEASE_EVENT)
    assert (event.intent, event.detail) == (
        INTENT.name,
        {"change": change_id, "reason": "r1's probe is fixed", "was": why},
    )
    after = restarted(controller, tmp_path / "journal.sqlite")
    try:
        assert await after.recover() == []
        assert after.quarantined() == []  # the release outlives the restart
        await ticks(after, clock, 3, timedelta(seconds=70))
        assert fakes["r2"].calls.count("commit") == 2  # pushed again (and it fails again)
        assert list(after.states[INTENT.name].quarantined) == [change_id]
    finally:
        after.journal.close()


async def test_a_transaction_id_releases_its_change(rig):
    controller, _, clock = rig
    await ticks(controller, clock, 4, timedelta(seconds=70))
    (change_id,) = controller.states[INTENT.name].quarantined
    (record,) = controller.journal.changes()
    assert record.txn != change_id
    assert controller.release_quarantine(record.txn, reason="fixed") == (change_id, [INTENT.name])
    with pytest.raises(ChangeError, match="no-such-change: not quarantined"):
        controller.release_quarantine("no-such-change", reason="fixed")


async def test_a_released_rejection_is_asked_again(approve_rig, tmp_path: Path):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    controller.decide_approval(approval.id, approve=False, reason="not during the match")
    with pytest.raises(ChangeError, match="a release needs a reason"):
        controller.release_quarantine(approval.id, reason="  ")
    controller.release_quarantine(approval.id, reason="the match is over")
    # listed as answered, but no longer an answer that holds the action back
    assert controller.approvals[approval.id].status is ApprovalStatus.REJECTED
    intent = replace(INTENT, mode=IntentMode.APPROVE)
    asked = controller._act(intent, same_action(approval.proposed, "5"), Outcome(NO_DECISION))
    assert asked.held is Hold.AWAITING_APPROVAL
    (pending,) = [a for a in controller.approvals.values() if a.id != approval.id]
    assert pending.status is ApprovalStatus.PENDING
    after = restarted(controller, tmp_path / "journal.sqlite")
    try:
        assert after.restore_quarantine() == 0
        assert after.approvals == {}  # the released rejection is not listed as holding again
    finally:
        after.journal.close()
    assert "commit" not in fakes["r2"].calls


async def test_an_applied_plan_released_after_its_failure_is_asked_again_and_approvable(
    approve_rig,
):
    controller, fakes, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    controller.decide_approval(approval.id, approve=True, reason="change window")
    await ticks(controller, clock, 1, timedelta(seconds=70))
    assert controller.approvals[approval.id].status is ApprovalStatus.APPLIED
    assert list(controller.states[INTENT.name].quarantined) == [approval.id]  # r1 never improves
    controller.release_quarantine(approval.id, reason="r1's probe is fixed")
    intent = replace(INTENT, mode=IntentMode.APPROVE)
    again = Decision(
        intent=INTENT.name, at=NOW, summary="again", expectation="video-latency"
    ).with_plan(approval.proposed)
    asked = controller._act(intent, again, Outcome(NO_DECISION))
    # the same plan again: a new question, not the applied answer (which no one can answer)
    assert asked.held is Hold.AWAITING_APPROVAL
    assert controller.approvals[approval.id].status is ApprovalStatus.PENDING
    approved = controller.decide_approval(approval.id, approve=True, reason="once more")
    assert approved.status is ApprovalStatus.APPROVED


async def test_a_rejection_needs_a_reason(approve_rig):
    controller, _, clock = approve_rig
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (approval,) = controller.approvals.values()
    with pytest.raises(ChangeError, match="a rejection needs a reason"):
        controller.decide_approval(approval.id, approve=False, reason=" ")
    assert controller.approvals[approval.id].status is ApprovalStatus.PENDING


async def test_answered_approvals_are_forgotten_beyond_a_bound(approve_rig, monkeypatch):
    controller, fakes, clock = approve_rig
    monkeypatch.setattr(loop_module, "ANSWERED_APPROVALS_KEPT", 2)
    await ticks(controller, clock, 2, timedelta(seconds=10))
    (rejected,) = controller.approvals.values()
    controller.decide_approval(rejected.id, approve=False, reason="no")
    intent = replace(INTENT, mode=IntentMode.APPROVE)
    # two actions taking turns: each supersedes the other's pending approval
    for n in range(6):
        controller._act(intent, another_action(rejected.proposed, str(n)), Outcome(NO_DECISION))
        controller._act(intent, other_leaf_action(rejected.proposed, str(n)), Outcome(NO_DECISION))
    statuses = [a.status for a in controller.approvals.values()]
    assert statuses.count(ApprovalStatus.PENDING) == 1
    assert statuses.count(ApprovalStatus.SUPERSEDED) == 2  # the newest two
    # a rejection whose quarantine holds is kept: it still holds its action back
    assert controller.approvals[rejected.id].status is ApprovalStatus.REJECTED
    kinds = [e.kind for e in controller.journal.events(limit=10_000)]
    assert kinds.count("approval-superseded") == 11  # the journal keeps every answer


def other_leaf_action(plan: Plan, rate: str) -> Decision:
    """A decision for a third action on the same device (a shaper's rate)."""
    change = plan.changes[0]
    path = ("qos", "shaper[interface=eth2][class=bulk]", "rate-mbps")
    other = ChangeSet.make(
        change.intent,
        change.device,
        (ConfigEdit(EditOp.ADD, path, None, rate),),
        "shape",
        base=change.base,
    )
    return Decision(
        intent=INTENT.name, at=NOW, summary="shape", expectation="video-latency"
    ).with_plan(Plan.single(other))


def test_a_journaled_approval_of_a_two_device_plan_reads_back_whole():
    edit = ConfigEdit(EditOp.ADD, ("interfaces", "interface[name=ge-0/0/1]", "enabled"), None, "0")
    changes = tuple(ChangeSet.make(INTENT.name, d, (edit,), "sleep") for d in ("r1", "r2"))
    plan = Plan.make(INTENT.name, changes, "sleep r1-r2")
    approval = Approval(
        id=plan.id,
        intent=INTENT.name,
        change=changes[0],
        summary="sleep r1-r2 (saves ~28 W)",
        requested_at=NOW,
        status=ApprovalStatus.REJECTED,
        decided_at=NOW,
        reason="not tonight",
        explanation={"chosen": plan.id},
        plan=plan,
    )
    record = json.loads(json.dumps(loop_module._approval_record(approval)))
    restored = loop_module._journaled_approval(record)
    assert restored is not None
    assert restored.proposed.id == plan.id  # the plan id follows from the change ids
    assert [c.edits for c in restored.proposed.changes] == [c.edits for c in changes]
    assert restored.as_dict() == approval.as_dict()
    assert loop_module._journaled_approval({"id": "x"}) is None  # not an approval record


class ScriptedProbes:
    """A sensor whose r1 reports the next scripted latency towards r4 at each tick."""

    def __init__(self, clock: Clock, latencies: list[float]) -> None:
        self.clock = clock
        self.latencies = iter(latencies)

    async def collect(self) -> dict[str, Observation]:
        probe = ProbeResult("r4", VIDEO, next(self.latencies), 0.0)
        return {"r1": Observation("r1", self.clock(), probes=(probe,))}

    async def observe_state(self, name: str) -> Observation:
        raise AssertionError("no change is made here")

    async def open_config_session(self, device: Device) -> ConfigSession:
        raise AssertionError("no change is made here")


async def test_a_kpi_that_jumps_is_reported_while_its_target_is_still_met(tmp_path: Path):
    clock = Clock()
    rng = np.random.default_rng(7)
    calm = [float(v) for v in rng.normal(8.0, 0.4, 300)]
    sensor = ScriptedProbes(clock, [*calm, 16.0, 16.2])
    seen: list[TickReport] = []

    class Reports:
        def controller_ready(self, controller: Controller) -> None: ...
        def tick_finished(self, report: TickReport) -> None:
            seen.append(report)

        def change_started(self, decision: Decision, txn: str) -> None: ...
        def change_finished(self, result: ChangeResult) -> None: ...

    controller = Controller(
        intents=[INTENT],
        devices=[Device("r1", "127.0.0.1", netconf=NetconfEndpoint(port=1, username="x"))],
        sensor=sensor,
        open_config_session=sensor.open_config_session,
        journal=Journal(tmp_path / "journal.sqlite"),
        loop_settings=LoopSettings(interval=timedelta(seconds=10)),
        apply_settings=APPLY,
        clock=clock,
        observers=[Reports()],
        watch=KpiWatch(season_length=None),
    )
    try:
        await ticks(controller, clock, 302, timedelta(seconds=10))
        found = [(r.number, a) for r in seen for a in r.anomalies]
        assert [(n, a.key.kpi, a.value) for n, a in found] == [(301, "latencyMs", 16.0)]
        assert controller.statuses[INTENT.name].status is FulfilmentStatus.FULFILLED
        (event,) = controller.journal.events(kind=loop_module.ANOMALY_EVENT)
        assert event.intent == INTENT.name and event.detail == found[0][1].as_dict()
        assert list(controller.anomalies) == [found[0][1]]
        assert controller.summary()["anomalies"] == 1
    finally:
        controller.journal.close()
