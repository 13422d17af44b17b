"""Arbitration across intents and the decide step, on an in-process lab at the evening peak.

Two e2e-qos intents share the congested r2 -> r4 link: video (priority 100) and gaming
(priority 50). Each policy alone would lift its own class to the top on r2.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.kpi import evaluate_intent
from controller.model import Hold, Intent, IntentStatus, ReconcileState
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from policies.arbitration import ConflictCause, arbitrate
from policies.base import PolicySettings
from policies.decide import decide, propose
from tests.policies.labworld import LabWorld

QOS = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: NAME}
spec:
  priority: PRIORITY
  expectations:
    - id: latency
      type: e2e-qos
      objects: {trafficClass: CLASS, path: {from: r1, to: r4}}
      targets:
        - {name: latencyMs, condition: lessThan, value: LATENCY}
  guards: {cooldownSeconds: 60}
"""


def qos(name: str, priority: int, traffic_class: str, latency: float) -> str:
    return (
        QOS.replace("NAME", name)
        .replace("PRIORITY", str(priority))
        .replace("CLASS", traffic_class)
        .replace("LATENCY", str(latency))
    )


def load(*texts: str) -> list[Intent]:
    loaded = load_intent_set(
        [IntentSource(f"{i}.yaml", t) for i, t in enumerate(texts)], support=FULL_SUPPORT
    )
    assert loaded.ok, loaded.errors
    return list(loaded.intents)


@pytest.fixture(scope="module")
def peak() -> LabWorld:
    world = LabWorld("four-router", "evening-peak")
    world.advance(600)
    return world


def statuses(lab: LabWorld, intents: list[Intent]) -> dict[str, IntentStatus]:
    observations = lab.observations()
    return {
        i.name: evaluate_intent(i, observations, now=lab.now, max_age=timedelta(minutes=5))
        for i in intents
    }


def violated_world(lab: LabWorld, intents: list[Intent], **settings: object):
    states = {i.name: ReconcileState(consecutive_violations=3) for i in intents}
    return lab.world(
        intents,
        statuses=statuses(lab, intents),
        states=states,
        settings=PolicySettings(**settings),  # type: ignore[arg-type]
    )


def test_two_conflicting_intents_the_higher_priority_wins_and_the_other_is_told(
    peak: LabWorld,
) -> None:
    video, gaming = load(qos("video-sla", 100, "video", 10), qos("gaming-sla", 50, "gaming", 30))
    world = violated_world(peak, [video, gaming])
    assert all(s.targets[0].met is False for s in world.statuses.values())
    result = decide(world)
    won, lost = result.outcomes["video-sla"], result.outcomes["gaming-sla"]
    # video acts: its priority on r2
    plan = won.decision.actions
    assert plan is not None
    assert plan.devices == ("r2",)
    assert "video" in plan.changes[0].edits[0].path[1]
    assert won.decision.explanation["arbitration"]["outcome"] == "won"  # type: ignore[index]
    # gaming loses: r2 is taken this tick, and its reroute would push video past its target
    assert lost.decision.actions is None
    assert "lost arbitration" in lost.decision.summary
    assert lost.decision.held is Hold.LOST_ARBITRATION
    (conflict,) = lost.conflicts
    report = conflict.as_dict()
    assert report["conflictType"] == "targetConflict"
    assert report["conflictingIntents"] == ["video-sla", "gaming-sla"]
    assert report["conflictingExpectations"] == ["latency", "latency"]
    assert report["conflictingTargets"] == ["latencyMs"]
    assert report["winner"] == "video-sla"
    assert conflict.cause is ConflictCause.SIDE_EFFECT
    predicted = report["predicted"]
    assert isinstance(predicted, dict)
    assert predicted["after"] >= 10 * 0.9 > predicted["before"]
    assert "video-sla" in conflict.describe()
    explanation = lost.decision.explanation
    assert explanation["arbitration"]["outcome"] == "lost"  # type: ignore[index]
    assert explanation["arbitration"]["conflicts"] == [report]  # type: ignore[index]


def test_without_the_conflict_both_act_on_different_devices(peak: LabWorld) -> None:
    video, gaming = load(qos("video-sla", 100, "video", 30), qos("gaming-sla", 50, "gaming", 30))
    result = decide(violated_world(peak, [video, gaming]))
    video_plan = result.outcomes["video-sla"].decision.actions
    gaming_plan = result.outcomes["gaming-sla"].decision.actions
    assert video_plan is not None
    assert gaming_plan is not None
    assert not set(video_plan.devices) & set(gaming_plan.devices)
    arbitration = result.outcomes["gaming-sla"].decision.explanation["arbitration"]
    assert str(arbitration["outcome"]).startswith("won with an alternative")  # type: ignore[index]
    # the side effect of gaming's reroute on video was predicted, and it is within target
    effects = arbitration["side_effects"]  # type: ignore[index]
    (chosen,) = [v for k, v in effects.items() if k == gaming_plan.reason]
    before, after = chosen["video-sla/latency/latencyMs"]
    assert after < 30 * 0.9


def test_equal_contention_in_order_of_priority(peak: LabWorld) -> None:
    # the same two intents, priorities swapped: now gaming wins r2
    video, gaming = load(qos("video-sla", 50, "video", 30), qos("gaming-sla", 100, "gaming", 10))
    world = violated_world(peak, [video, gaming])
    rulings = {
        r.proposal.intent.name: r
        for r in arbitrate([propose(video, world), propose(gaming, world)], world)
    }
    assert rulings["gaming-sla"].candidate is not None
    assert rulings["gaming-sla"].candidate.devices == ("r2",)


def test_explanation_record_reads_from_target_to_plan(peak: LabWorld) -> None:
    (video,) = load(qos("video-sla", 100, "video", 30))
    decision = decide(violated_world(peak, [video])).outcomes["video-sla"].decision
    explanation = decision.explanation
    for key in (
        "target",
        "observed",
        "model",
        "version",
        "confidence",
        "candidates",
        "arbitration",
        "guards",
        "chosen",
        "plan",
        "predicted",
    ):
        assert key in explanation, key
    assert explanation["chosen"] == decision.actions.id  # type: ignore[union-attr]
    guards: list[dict[str, object]] = explanation["guards"]  # type: ignore[assignment]
    assert all(g["passed"] for g in guards)
    candidates = explanation["candidates"]
    assert isinstance(candidates, list)
    assert all("predicted" in c for c in candidates)


ENERGY = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: energy}
spec:
  priority: 10
  expectations:
    - id: sleep
      type: energy-saving
      objects: {devices: [r1, r2, r3, r4], resources: [links]}
      targets:
        - {name: powerReductionRatio, condition: greaterThanOrEqual, value: 0.01}
        - {name: maxUtilization, condition: lessThan, value: 0.95}
      contexts:
        - {name: redundancy, value: none}
  guards: {guards}
"""


def energy_intent(guards: str) -> Intent:
    """A four-router night energy intent (links of r1-r4, no redundancy) with ``guards``."""
    (intent,) = load(ENERGY.replace("{guards}", guards))
    return intent


def test_confidence_gating_recommends_instead_of_acting(peak: LabWorld) -> None:
    energy = energy_intent("{maxDevicesPerChange: 4}")
    from policies.base import LoadForecast

    night = LabWorld("four-router", "night-low-load")
    night.advance(5 * 3600)
    unsure = LoadForecast(timedelta(minutes=20), {}, confidence=0.3, model={"name": "hw"})
    first = decide(night.world([energy], forecast=unsure)).outcomes["energy"]
    assert "hysteresis" in first.decision.summary  # an optimisation waits for it to stand
    assert first.pending
    states = {"energy": ReconcileState(pending=first.pending, pending_ticks=1)}
    world = night.world([energy], forecast=unsure, states=states)
    outcome = decide(world).outcomes["energy"]
    assert outcome.decision.actions is None
    assert outcome.decision.summary.startswith("recommend: sleep")
    assert outcome.decision.held is Hold.RECOMMEND
    assert outcome.recommended is not None
    checks: list[dict[str, object]] = outcome.decision.explanation["guards"]  # type: ignore[assignment]
    guards = {g["guard"]: g["passed"] for g in checks}
    assert guards["confidence"] is False
    assert outcome.decision.explanation["confidence"] == 0.3


def test_a_plan_held_back_by_its_cooldown_keeps_its_hysteresis_count() -> None:
    # An optimising plan that stood long enough but waits out the intent's cooldown stays
    # pending, so it acts the first tick after the cooldown; it used to be dropped from
    # pending whenever the hysteresis passed, and the count went 1, 2, 1, 2... for ever.
    energy = energy_intent("{maxDevicesPerChange: 4, cooldownSeconds: 600}")
    night = LabWorld("four-router", "night-low-load")
    night.advance(5 * 3600)
    first = decide(night.world([energy])).outcomes["energy"]
    assert first.pending and "hysteresis" in first.decision.summary
    recent = (night.now - timedelta(seconds=60),)  # an earlier change: 540 s of cooldown left
    states = {
        "energy": ReconcileState(pending=first.pending, pending_ticks=1, recent_changes=recent)
    }
    cooling = decide(night.world([energy], states=states)).outcomes["energy"]
    checks: list[dict[str, object]] = cooling.decision.explanation["guards"]  # type: ignore[assignment]
    guards = {g["guard"]: g["passed"] for g in checks}
    assert guards["hysteresis"] is True and guards["cooldown"] is False
    assert cooling.decision.actions is None
    assert cooling.pending == first.pending  # it stood: the count goes on
    # once the cooldown is over, the plan that stood acts at once
    states = {"energy": ReconcileState(pending=first.pending, pending_ticks=2)}
    acting = decide(night.world([energy], states=states)).outcomes["energy"]
    assert acting.decision.actions is not None and acting.decision.actions.id == first.pending
