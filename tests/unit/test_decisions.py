"""Pure decision logic: KPI evaluation, guards and the e2e-qos policy, without a network."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from analytics.kpi import evaluate_intent
from controller.model import (
    ClassConfig,
    ClassQueue,
    Device,
    DeviceConfig,
    EditOp,
    Expectation,
    ExpectationObjects,
    ExpectationType,
    ExpectationVerb,
    FulfilmentStatus,
    Guards,
    Intent,
    InterfaceRate,
    NotFulfilledState,
    Observation,
    PathRef,
    ProbeResult,
    ReconcileState,
    Target,
    TargetCondition,
    TrafficClass,
)
from policies.guards import check_guards
from policies.qos import decide_qos

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
MAX_AGE = timedelta(seconds=10)
VIDEO = TrafficClass.VIDEO
DEVICES = {n: Device(n, f"127.0.1.{i}") for i, n in enumerate(["r1", "r2", "r3", "r4"], 1)}

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
    guards=Guards(cooldown=timedelta(seconds=60), max_changes_per_hour=2),
)


def observations(
    latency: float,
    *,
    r2_delay: float = 40.0,
    r2_config: DeviceConfig | None = None,
    at: datetime = NOW,
) -> dict[str, Observation]:
    def queue(delay: float) -> tuple[ClassQueue, ...]:
        return (
            ClassQueue("eth2", VIDEO, 300.0, delay, 0.01),
            ClassQueue("eth2", TrafficClass.BULK, 500.0, delay, 0.02),
        )

    return {
        "r1": Observation(
            "r1",
            at,
            probes=(ProbeResult("r4", VIDEO, latency, 0.0),),
            queues=queue(1.0),
            config=DeviceConfig(),
        ),
        "r2": Observation(
            "r2",
            at,
            queues=queue(r2_delay),
            config=r2_config or DeviceConfig(),
            rates=(InterfaceRate("eth2", 10.0, 990.0, 1000.0, True),),
        ),
        "r3": Observation("r3", at, config=DeviceConfig()),
        "r4": Observation("r4", at, config=DeviceConfig()),
    }


@pytest.mark.parametrize(
    ("latency", "age", "status", "state"),
    [
        pytest.param(12.0, 0, FulfilmentStatus.FULFILLED, None, id="met"),
        pytest.param(
            45.0, 0, FulfilmentStatus.NOT_FULFILLED, NotFulfilledState.DEGRADED, id="missed"
        ),
        pytest.param(
            30.0,
            0,
            FulfilmentStatus.NOT_FULFILLED,
            NotFulfilledState.DEGRADED,
            id="bound-is-missed",
        ),
        pytest.param(
            12.0,
            60,
            FulfilmentStatus.NOT_FULFILLED,
            NotFulfilledState.ACKNOWLEDGED,
            id="stale-is-unknown",
        ),
    ],
)
def test_evaluate_intent(latency, age, status, state):
    obs = observations(latency, at=NOW - timedelta(seconds=age))
    result = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    assert (result.status, result.state) == (status, state)
    assert result.targets[0].observed == (None if age else latency)


def test_policy_raises_video_priority_on_the_bottleneck():
    obs = observations(45.0)
    status = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    decision = decide_qos(
        INTENT,
        status,
        DEVICES,
        obs,
        ReconcileState(consecutive_violations=2),
        now=NOW,
        violation_ticks=2,
    )
    assert decision.change is not None
    assert decision.change.device == "r2"
    (edit,) = decision.change.edits
    assert edit.path == ("qos", "class[name=video]", "priority")
    assert (edit.op, edit.old, edit.new) == (EditOp.ADD, None, "1")
    bottleneck = decision.explanation["bottleneck"]
    assert isinstance(bottleneck, dict)
    assert bottleneck["device"] == "r2"
    assert bottleneck["utilization"] == pytest.approx(0.99)


def test_policy_lifts_above_the_highest_other_class():
    config = DeviceConfig(
        classes=(ClassConfig(TrafficClass.BULK, 4, 10), ClassConfig(VIDEO, 2, 10))
    )
    obs = observations(45.0, r2_config=config)
    status = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    decision = decide_qos(
        INTENT,
        status,
        DEVICES,
        obs,
        ReconcileState(consecutive_violations=5),
        now=NOW,
        violation_ticks=2,
    )
    assert decision.change is not None
    (edit,) = decision.change.edits
    assert (edit.op, edit.old, edit.new) == (EditOp.CHANGE, "2", "5")


def test_policy_does_nothing_when_class_already_on_top():
    config = DeviceConfig(classes=(ClassConfig(VIDEO, 6, 10),))
    obs = observations(45.0, r2_config=config)
    status = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    decision = decide_qos(
        INTENT,
        status,
        DEVICES,
        obs,
        ReconcileState(consecutive_violations=5),
        now=NOW,
        violation_ticks=2,
    )
    assert decision.change is None and "already has the top priority" in decision.summary


def test_policy_does_not_act_without_queueing():
    obs = {name: replace(o, queues=()) for name, o in observations(45.0).items()}
    status = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    decision = decide_qos(
        INTENT,
        status,
        DEVICES,
        obs,
        ReconcileState(consecutive_violations=5),
        now=NOW,
        violation_ticks=2,
    )
    assert decision.change is None and "no video queue" in decision.summary


@pytest.mark.parametrize(
    ("state", "blocked_by"),
    [
        pytest.param(ReconcileState(consecutive_violations=1), "hysteresis", id="one-noisy-tick"),
        pytest.param(
            ReconcileState(consecutive_violations=3, in_flight="chg-x"),
            "no-change-in-flight",
            id="in-flight",
        ),
        pytest.param(
            ReconcileState(consecutive_violations=3, recent_changes=(NOW - timedelta(seconds=30),)),
            "cooldown",
            id="cooldown",
        ),
        pytest.param(
            ReconcileState(
                consecutive_violations=3,
                recent_changes=(NOW - timedelta(minutes=50), NOW - timedelta(minutes=10)),
            ),
            "rate-limit",
            id="rate-limit",
        ),
    ],
)
def test_guards_hold_a_change_back(state, blocked_by):
    obs = observations(45.0)
    status = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    decision = decide_qos(INTENT, status, DEVICES, obs, state, now=NOW, violation_ticks=2)
    assert decision.change is None
    failed = [
        g.name for g in check_guards(INTENT, state, now=NOW, violation_ticks=2) if not g.passed
    ]
    assert blocked_by in failed
    assert blocked_by in decision.summary


def test_cooldown_expires():
    state = ReconcileState(consecutive_violations=3, recent_changes=(NOW - timedelta(seconds=61),))
    assert all(g.passed for g in check_guards(INTENT, state, now=NOW, violation_ticks=2))


def test_quarantined_change_is_not_retried():
    obs = observations(45.0)
    status = evaluate_intent(INTENT, obs, now=NOW, max_age=MAX_AGE)
    first = decide_qos(
        INTENT,
        status,
        DEVICES,
        obs,
        ReconcileState(consecutive_violations=3),
        now=NOW,
        violation_ticks=2,
    )
    assert first.change is not None
    again = decide_qos(
        INTENT,
        status,
        DEVICES,
        obs,
        ReconcileState(
            consecutive_violations=3, quarantined={first.change.id: "it failed verification"}
        ),
        now=NOW,
        violation_ticks=2,
    )
    assert again.change is None and "quarantined" in again.summary
