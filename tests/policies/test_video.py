"""The video-experience policy on the flash crowd: the stall classifier sees the east
players stall from their flows alone, the policy acts, and the stall ratio returns under
the intent's target within a bounded number of ticks.

The loop here is the controller's pure decide step driven tick by tick over an in-process
lab (observations parsed by the controller's parser, plans committed as a commit would);
the stall classifier is trained on a different run of the lab (another seed) with the
lab's ground truth as labels.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from analytics.kpi import evaluate_intent
from analytics.stall import StallClassifier
from bench.day import stall_training_set
from controller.model import Decision, Intent, NotFulfilledState, ReconcileState
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from policies.base import ActionKind, PolicySettings
from policies.decide import decide, measure
from policies.video import propose_video, stall_answer
from tests.policies.labworld import LabWorld

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
MODEL = {"name": "stall-classifier", "kind": "stall", "source": "model", "version": 1}
# the classifier is calibrated but not sharp on these features (its confidence in a
# stalling prediction is 0.55-0.7): acting needs the gate lowered, on purpose
SETTINGS = PolicySettings(min_confidence=0.5)
MAX_TICKS_TO_RECOVER = 6


@pytest.fixture(scope="module")
def classifier() -> StallClassifier:
    flows, labels = stall_training_set(seed=7, duration_s=1800)
    return StallClassifier(features="aggregate").fit(flows, np.array(labels))


def video_intent() -> Intent:
    loaded = load_intent_set([IntentSource("video.yaml", VIDEO)], support=FULL_SUPPORT)
    assert loaded.ok, loaded.errors
    (intent,) = loaded.intents
    return intent


def truth_ratio(lab: LabWorld, before: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    truth = lab.lab.video.truth("acc-east-1")
    stall, play = truth.stall_s - before[0], truth.play_s - before[1]
    return (stall / (stall + play) if stall + play > 0 else 0.0), (truth.stall_s, truth.play_s)


def run(
    classifier: StallClassifier, *, minutes: int, control: bool
) -> tuple[list[float | None], list[float], list[Decision]]:
    """Tick once per lab minute; returns the measured stall ratio, the lab's true stall
    ratio at acc-east-1 and the decisions, per tick."""
    intent = video_intent()
    lab = LabWorld("metro", "flash-crowd", seed=1)
    states = {intent.name: ReconcileState()}
    measured: list[float | None] = []
    truth: list[float] = []
    decisions: list[Decision] = []
    mark = (0.0, 0.0)
    for _ in range(minutes):
        lab.advance(60)
        observations = lab.observations()
        answer = stall_answer(classifier, MODEL, observations, boost_mbps=SETTINGS.boost_mbps)
        world = lab.world([intent], stall=answer, states=states, settings=SETTINGS)
        values = measure(world).get(intent.name)
        status = evaluate_intent(
            intent, observations, now=lab.now, max_age=timedelta(minutes=2), measured=values
        )
        measured.append(status.targets[0].observed)
        ratio, mark = truth_ratio(lab, mark)
        truth.append(ratio)
        violated = status.state is NotFulfilledState.DEGRADED
        state = states[intent.name]
        states[intent.name] = replace(
            state, consecutive_violations=state.consecutive_violations + 1 if violated else 0
        )
        if not control:
            continue
        world = replace(world, statuses={intent.name: status}, states=dict(states))
        outcome = decide(world).outcomes[intent.name]
        decisions.append(outcome.decision)
        state = states[intent.name]
        states[intent.name] = replace(
            state,
            pending=outcome.pending,
            pending_ticks=state.pending_ticks + 1 if outcome.pending == state.pending else 1,
        )
        plan = outcome.decision.actions
        if plan is not None:
            for change in plan.changes:
                lab.commit(change.device, lab.configs[change.device].with_edits(change.edits))
            state = states[intent.name]
            states[intent.name] = replace(state, recent_changes=(*state.recent_changes, lab.now))
    return measured, truth, decisions


def test_flash_crowd_stalls_return_under_target_within_bounded_ticks(classifier) -> None:
    target = 0.02
    measured, truth, decisions = run(classifier, minutes=30, control=True)
    first_violation = next(i for i, v in enumerate(measured) if v is not None and v >= target)
    recovered = next(
        i
        for i in range(first_violation, len(measured))
        if all(v is not None and v < target for v in measured[i : i + 5])
    )
    assert recovered - first_violation <= MAX_TICKS_TO_RECOVER
    # it stays under target for the rest of the flash crowd (which lasts to +45 min)
    assert all(v is not None and v < target for v in measured[recovered:])
    # and the players really stopped stalling (the lab's ground truth, hidden from the loop)
    assert max(truth[recovered + 1 :]) < 0.01
    # the decisions that acted name the model and its confidence
    acted = [d for d in decisions if d.actions is not None]
    assert acted
    for decision in acted:
        assert decision.explanation["model"] == MODEL
        confidence = decision.explanation["confidence"]
        assert isinstance(confidence, float)
        assert SETTINGS.min_confidence <= confidence <= 1.0
    # without the controller the same crowd keeps stalling far longer
    _, uncontrolled, _ = run(classifier, minutes=30, control=False)
    assert sum(uncontrolled[recovered + 1 :]) / len(uncontrolled[recovered + 1 :]) > 0.05


def test_an_unsure_model_only_recommends(classifier) -> None:
    intent = video_intent()
    lab = LabWorld("metro", "flash-crowd", seed=1)
    lab.advance(9 * 60)  # the crowd is in, players stall
    observations = lab.observations()
    answer = stall_answer(classifier, MODEL, observations, boost_mbps=6)
    world = lab.world([intent], stall=answer)  # the default gate: 0.8
    values = measure(world)[intent.name]
    status = evaluate_intent(
        intent, observations, now=lab.now, max_age=timedelta(minutes=2), measured=values
    )
    assert status.state is NotFulfilledState.DEGRADED
    states = {intent.name: ReconcileState(consecutive_violations=3)}
    outcome = decide(replace(world, statuses={intent.name: status}, states=states)).outcomes[
        intent.name
    ]
    assert outcome.decision.actions is None
    assert outcome.decision.summary.startswith("recommend: ")
    assert outcome.recommended is not None


def test_when_no_single_network_action_delivers_a_pair_is_predicted_and_wins(classifier) -> None:
    """In the crowd neither the video priority on the bottleneck nor a split over the
    backup uplink alone is predicted to deliver acc-east-1's video: the policy predicts two
    together on the twin and prefers the pair that delivers over a boost at the access node
    (a per-subscriber rate cannot help while the network upstream drops the video)."""
    intent = video_intent()
    lab = LabWorld("metro", "flash-crowd", seed=1)
    for _ in range(15):
        lab.advance(60)
        observations = lab.observations()
        answer = stall_answer(classifier, MODEL, observations, boost_mbps=SETTINGS.boost_mbps)
        world = lab.world([intent], stall=answer, settings=SETTINGS)
        status = evaluate_intent(
            intent,
            observations,
            now=lab.now,
            max_age=timedelta(minutes=2),
            measured=measure(world).get(intent.name),
        )
        if status.state is NotFulfilledState.DEGRADED:
            break
    else:
        pytest.fail("the crowd never made the east viewers miss the target")
    proposal = propose_video(
        intent, intent.expectations[0], replace(world, statuses={intent.name: status})
    )
    supply = proposal.explanation["video_supply_ratio"]
    assert isinstance(supply, float) and supply < 0.99
    network = [c for c in proposal.candidates if c.action is not ActionKind.BOOST]
    pairs = [c for c in network if "; and " in c.description]
    singles = [c for c in network if c not in pairs]
    assert singles and not any(c.meets_target for c in singles)
    assert pairs
    chosen = proposal.chosen
    assert chosen is not None and chosen in pairs, proposal.summary
    assert chosen.meets_target
    assert chosen.predicted["videoSupplyRatio"] >= 0.99
    assert len(chosen.devices) <= intent.guards.max_devices_per_change
    # the pair is two of the singles together: each one's edits, in one change
    parts = [
        s
        for s in singles
        if all(e in chosen.edits.get(d, ()) for d, edits in s.edits.items() for e in edits)
    ]
    assert len({p.action for p in parts}) == 2
    # every single of them predicted less than the pair delivers
    assert all(
        p.predicted["videoSupplyRatio"] < chosen.predicted["videoSupplyRatio"] for p in parts
    )
    # a boost was possible too, and lost to the pair
    assert any(c.action is ActionKind.BOOST for c in proposal.candidates)
