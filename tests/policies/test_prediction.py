"""A video-experience plan acts on the stall model's confident prediction at the first
violated tick when the network corroborates it; a rule baseline's answer, an unsure model,
an uncorroborated prediction, or the knob off wait for the hysteresis (measured
confirmation). Pure: a synthetic world, time as an argument.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from analytics.kpi import evaluate_intent
from controller.model import (
    Device,
    DeviceConfig,
    Intent,
    NotFulfilledState,
    Observation,
    PortStatus,
    ReconcileState,
    SubscriberFlow,
)
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from policies.base import PolicySettings, Proposal, StallAnswer, World
from policies.decide import Outcome, decide, measure
from policies.guards import PREDICTION, ModelPrediction, prediction_bypass

NOW = datetime(2026, 11, 28, 20, 5, tzinfo=UTC)
NODE = "acc-1"
VIDEO = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video-east}
spec:
  priority: 80
  expectations:
    - id: east-viewers
      type: video-experience
      objects: {select: {site: east, role: access}}
      targets:
        - {name: stallRatio, condition: lessThan, value: 0.02}
  guards: {maxChangesPerHour: 6, maxDevicesPerChange: 2, cooldownSeconds: 120}
"""
MODEL = {"name": "stall-classifier", "kind": "stall", "source": "model", "version": 3}
RULE = {"name": "throughput-rule", "kind": "stall", "source": "rule-baseline", "version": None}
SETTINGS = PolicySettings(min_confidence=0.8)
SUBSCRIBERS = 10


def video_intent() -> Intent:
    loaded = load_intent_set([IntentSource("video.yaml", VIDEO)], support=FULL_SUPPORT)
    assert loaded.ok, loaded.errors
    (intent,) = loaded.intents
    return intent


def flow(index: int) -> SubscriberFlow:
    return SubscriberFlow(
        id=f"sub-{index}",
        throughput_mbps=1.5,
        rtt_ms=20.0,
        retransmission_ratio=0.0,
        bytes=1_000_000,
        mean_request_bytes=500_000,
        request_interval_ms=2000.0,
        active_ratio=1.0,
    )


def answer(stalling: int, probability: float, *, source: str = "model") -> StallAnswer:
    """``stalling`` of the node's subscribers stall with ``probability``; a boost saves them."""
    ids = [f"sub-{i}" for i in range(SUBSCRIBERS)]
    return StallAnswer(
        probabilities={s: probability if i < stalling else 0.02 for i, s in enumerate(ids)},
        nodes=dict.fromkeys(ids, NODE),
        model=MODEL if source == "model" else RULE,
        source=source,
        rule_confidence=0.5,
        boost_probabilities=dict.fromkeys(ids, 0.05),
    )


def outcome(
    stall: StallAnswer,
    *,
    violations: int,
    settings: PolicySettings = SETTINGS,
    state: ReconcileState | None = None,
    access_utilization: float = 0.96,
) -> Outcome:
    """The intent's outcome at ``NOW`` after ``violations`` consecutive violated ticks, the
    node's subscriber port at ``access_utilization`` (busy by default: it corroborates)."""
    intent = video_intent()
    observations = {
        NODE: Observation(
            device=NODE,
            at=NOW,
            config=DeviceConfig(),
            subscribers=tuple(flow(i) for i in range(SUBSCRIBERS)),
            ports=(PortStatus("eth2", True, 100.0, access_utilization),),
        )
    }
    world = World(
        now=NOW,
        devices={NODE: Device(NODE, "", {"site": "east", "role": "access"})},
        observations=observations,
        intents=(intent,),
        stall=stall,
        settings=settings,
    )
    status = evaluate_intent(
        intent,
        observations,
        now=NOW,
        max_age=timedelta(minutes=2),
        measured=measure(world).get(intent.name),
    )
    assert status.state is NotFulfilledState.DEGRADED  # the measured ratio is over 0.02
    base = state or ReconcileState()
    states = {intent.name: replace(base, consecutive_violations=violations)}
    world = replace(world, statuses={intent.name: status}, states=states)
    return decide(world).outcomes[intent.name]


def guard(result: Outcome, name: str) -> dict[str, object]:
    guards = result.decision.explanation["guards"]
    assert isinstance(guards, list)
    found = next(g for g in guards if g["guard"] == name)
    assert isinstance(found, dict)
    return found


def test_a_confident_model_prediction_acts_on_the_first_violated_tick() -> None:
    result = outcome(answer(stalling=4, probability=0.9), violations=1)
    plan = result.decision.actions
    assert plan is not None, result.decision.summary
    assert plan.devices == (NODE,)
    explanation = result.decision.explanation
    # the explanation says it acted on a prediction, which one, and which guard it bypassed
    assert explanation["acted_on"] == "prediction"
    prediction = ModelPrediction.from_record(explanation[PREDICTION])
    assert prediction is not None
    assert (prediction.model, prediction.version, prediction.source) == (
        "stall-classifier",
        3,
        "model",
    )
    assert prediction.confidence == pytest.approx(0.9)
    assert prediction.probability == pytest.approx(0.9)
    assert prediction.predicted == pytest.approx(4 / SUBSCRIBERS)
    assert prediction.over_target
    assert prediction.evidence == f"{NODE} eth2 at 96%"
    bypassed = explanation["bypassed"]
    assert isinstance(bypassed, list) and len(bypassed) == 1
    bypass = bypassed[0]
    assert isinstance(bypass, dict)
    assert bypass["guard"] == "hysteresis"
    assert "prediction" in bypass["why"] and "stall-classifier" in bypass["why"]
    assert f"corroborated by the network ({NODE} eth2 at 96%)" in bypass["why"]
    hysteresis = guard(result, "hysteresis")
    assert hysteresis["passed"] is True
    assert hysteresis["bypassed"] == bypass["why"]
    assert guard(result, "confidence")["passed"] is True


def test_a_confident_prediction_the_network_does_not_corroborate_waits() -> None:
    # the same confident model, but the node's port is quiet: nothing in the network agrees
    stall = answer(stalling=4, probability=0.9)
    first = outcome(stall, violations=1, access_utilization=0.3)
    assert first.decision.actions is None
    assert "hysteresis" in first.decision.summary
    assert guard(first, "hysteresis")["passed"] is False
    assert "bypassed" not in guard(first, "hysteresis")
    prediction = ModelPrediction.from_record(first.decision.explanation[PREDICTION])
    assert prediction is not None and prediction.over_target and prediction.evidence == ""
    # measured confirmation on the next tick acts, as for any restoring plan
    second = outcome(stall, violations=2, access_utilization=0.3)
    assert second.decision.actions is not None
    assert "acted_on" not in second.decision.explanation


def test_a_rule_baseline_answer_waits_for_the_hysteresis() -> None:
    stall = answer(stalling=4, probability=0.9, source="rule-baseline")
    # the rule baseline's confidence passes a low gate: only the source holds it back
    settings = PolicySettings(min_confidence=0.5)
    first = outcome(stall, violations=1, settings=settings)
    assert first.decision.actions is None
    assert "hysteresis" in first.decision.summary
    assert guard(first, "hysteresis")["passed"] is False
    assert "acted_on" not in first.decision.explanation
    second = outcome(stall, violations=2, settings=settings)
    assert second.decision.actions is not None
    assert "acted_on" not in second.decision.explanation


def test_an_unsure_model_waits_for_the_hysteresis_and_then_recommends() -> None:
    stall = answer(stalling=4, probability=0.6)  # confidence 0.6 under the gate 0.8
    first = outcome(stall, violations=1)
    assert first.decision.actions is None
    assert guard(first, "hysteresis")["passed"] is False
    assert guard(first, "confidence")["passed"] is False
    assert first.recommended is None  # held back by the hysteresis too: not yet a recommendation
    second = outcome(stall, violations=2)
    assert second.decision.actions is None
    assert second.recommended is not None  # confidence gating alone: a recommendation


def test_the_knob_off_requires_measured_confirmation() -> None:
    settings = replace(SETTINGS, act_on_prediction=False)
    stall = answer(stalling=4, probability=0.9)
    first = outcome(stall, violations=1, settings=settings)
    assert first.decision.actions is None
    assert guard(first, "hysteresis")["passed"] is False
    assert "bypassed" not in guard(first, "hysteresis")
    second = outcome(stall, violations=2, settings=settings)
    assert second.decision.actions is not None
    assert "acted_on" not in second.decision.explanation


def test_a_prediction_does_not_bypass_the_cooldown() -> None:
    state = ReconcileState(recent_changes=(NOW.replace(minute=4),))  # 60 s ago, cooldown 120 s
    result = outcome(answer(stalling=4, probability=0.9), violations=1, state=state)
    assert result.decision.actions is None
    assert guard(result, "hysteresis")["passed"] is True  # bypassed on the prediction
    assert guard(result, "cooldown")["passed"] is False


def test_the_bypass_needs_an_urgent_confident_prediction_over_the_target() -> None:
    settings = PolicySettings()
    acted = outcome(answer(stalling=4, probability=0.9), violations=1)
    record = acted.decision.explanation[PREDICTION]
    assert isinstance(record, dict)
    urgent = Proposal(
        video_intent(), None, "stalls", {PREDICTION: record}, urgent=True, confidence=0.9
    )
    assert prediction_bypass(urgent, settings)
    assert not prediction_bypass(replace(urgent, confidence=0.7), settings)  # under the gate
    under = replace(urgent, explanation={PREDICTION: {**record, "over_target": False}})
    assert not prediction_bypass(under, settings)
    alone = replace(urgent, explanation={PREDICTION: {**record, "evidence": ""}})
    assert not prediction_bypass(alone, settings)  # nothing in the network agrees
    assert not prediction_bypass(replace(urgent, urgent=False), settings)  # only a restoration
    assert not prediction_bypass(replace(urgent, explanation={}), settings)  # no prediction
