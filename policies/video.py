"""The video-experience policy: find stalling subscribers and access nodes, and act. Pure.

What the network sees of a player is its flow (``/npl:state/subscriber``: throughput,
bytes, request size and interval...), never its buffer. The stall classifier
(:mod:`analytics.stall`, the registry's active version or its rule baseline) turns each
subscriber's flow into a probability that it stalls (:func:`stall_answer`); the share of a
selected node's active subscribers at or above ``PolicySettings.stall_probability`` is the
expectation's measured ``stallRatio`` (:func:`measure_video`).

Acting (:func:`propose_video`), for the node with the most stalling subscribers:

1. If the network does not deliver the node's video (the twin's delivered/offered video
   towards the node under 0.99: a congested port on the way), the e2e-qos actions on the
   path from the video's origin to the node: lift the video class's priority on the
   bottleneck, or change a path metric (split the node's traffic over its backup uplink).
   Each is predicted on the twin; the least disruptive one predicted to deliver the node's
   video wins. When none alone is, pairs of two of different kinds are predicted too.
2. Otherwise (the access itself is short: radio, line rate), a per-subscriber boost
   (``min-rate-mbps``) for the stalling subscribers the model predicts it would save.

Confidence is the classifier's mean confidence (``max(p, 1 - p)``) over the stalling
subscribers: below the guard's limit the decision is a recommendation.

The classifier predicts stalls (its labels: "this player stalls within the next windows"),
so its answer for the worst node is recorded as a :class:`~policies.guards.ModelPrediction`
(``explanation["prediction"]``: model, version, source, confidence, the mean stall
probability of the node's stalling subscribers, the node's predicted stall ratio against
the target, and the *evidence*: what the network's own measurements show that agrees with
it, see :func:`_evidence`). When it comes from a trained model, is confident and the
network corroborates it, the guards let the plan act on the first violated tick instead of
waiting for the hysteresis (``PolicySettings.act_on_prediction``); a rule baseline's answer,
or an uncorroborated one, waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analytics.registry import classifier_confidence
from analytics.stall import FlowSummary
from controller.model import (
    ConfigEdit,
    DeviceConfig,
    EditOp,
    Expectation,
    ExpectationObjects,
    ExpectationType,
    ExpectationVerb,
    Intent,
    Observation,
    PathRef,
    PowerState,
    SubscriberFlow,
    Target,
    TargetCondition,
    TrafficClass,
)
from lab.config import TrafficClass as LabClass
from policies.base import ActionKind, Candidate, Proposal, StallAnswer, World
from policies.guards import PREDICTION, ModelPrediction
from policies.predict import node_video_supply, subscriber_flows
from policies.qos import (
    Bottleneck,
    _new_endpoint_transit,
    _priority_candidate,
    _reroute_candidates,
)

__all__ = ["StallModel", "flow_summary", "measure_video", "propose_video", "stall_answer"]

_SUPPLY_OK = 0.99
# a node's own port or radio carrier this busy, or a video queue of it dropping this share,
# corroborates a stall prediction (the access is short)
_BUSY = 0.9
_DROPPING = 0.001


class StallModel(Protocol):
    """What :func:`stall_answer` needs of a classifier: calibrated probabilities."""

    def predict_proba(self, flows: Sequence[FlowSummary]) -> npt.NDArray[np.float64]:
        """The probability that each session stalls."""
        ...


def flow_summary(flow: SubscriberFlow, *, boost_mbps: float = 0.0) -> FlowSummary:
    """A subscriber's sensed flow as the classifier's features (``boost_mbps``: the same
    flow with at least that throughput, the model's own counterfactual of a boost)."""
    throughput = max(flow.throughput_mbps, boost_mbps)
    scale = throughput / flow.throughput_mbps if flow.throughput_mbps > 0 else 1.0
    interval = flow.request_interval_ms / 1000 / scale if flow.request_interval_ms else 0.0
    return FlowSummary(
        throughput_bps=throughput * 1e6 / 8,
        bytes_down=float(flow.bytes),
        mean_chunk_bytes=float(flow.mean_request_bytes),
        mean_chunk_interval_s=interval,
    )


def stall_answer(
    predict: StallModel,
    model: Mapping[str, object],
    observations: Mapping[str, Observation],
    *,
    boost_mbps: float,
    source: str = "model",
) -> StallAnswer | None:
    """The stall model's answer for every subscriber the devices report.

    Args:
        predict: a classifier with ``predict_proba(flows) -> probabilities``.
        model: the registry's explanation of who answers (name, version, confidence...).
        observations: this tick's observations.
        boost_mbps: the boost rate, for the counterfactual probabilities.
        source: ``model`` or ``rule-baseline``.

    Returns:
        None when no device reports subscribers.
    """
    flows, nodes = subscriber_flows(observations)
    if not flows:
        return None
    now = np.asarray(predict.predict_proba([flow_summary(f) for f in flows]), dtype=float)
    boosted = np.asarray(
        predict.predict_proba([flow_summary(f, boost_mbps=boost_mbps) for f in flows]), dtype=float
    )
    return StallAnswer(
        probabilities={f.id: float(p) for f, p in zip(flows, now, strict=True)},
        nodes=nodes,
        model=dict(model),
        source=source,
        boost_probabilities={f.id: float(p) for f, p in zip(flows, boosted, strict=True)},
    )


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    active: int
    stalling: tuple[str, ...]


def _nodes(expectation: Expectation, world: World) -> list[_Node]:
    answer = world.stall
    if answer is None:
        return []
    threshold = world.settings.stall_probability
    result = []
    for name in world.selected(expectation):
        ids = [s for s, node in answer.nodes.items() if node == name]
        if not ids:
            continue
        stalling = tuple(sorted(s for s in ids if answer.probabilities[s] >= threshold))
        result.append(_Node(name, len(ids), stalling))
    return result


def measure_video(expectation: Expectation, world: World) -> dict[str, float]:
    """``stallRatio`` (share of the selected nodes' active subscribers predicted to stall)
    and ``bitrateKbps`` (their mean throughput, up to the top of a common ladder)."""
    nodes = _nodes(expectation, world)
    active = sum(n.active for n in nodes)
    if not active:
        return {}
    values = {"stallRatio": sum(len(n.stalling) for n in nodes) / active}
    rates = [
        min(f.throughput_mbps, 5.8)
        for n in nodes
        for f in (world.observations[n.name].subscribers if n.name in world.observations else ())
    ]
    if rates:
        values["bitrateKbps"] = 1000 * sum(rates) / len(rates)
    return values


def _confidence(answer: StallAnswer, stalling: Sequence[str]) -> float:
    if answer.source != "model":
        return answer.rule_confidence
    values = [classifier_confidence(answer.probabilities[s]) for s in stalling]
    return sum(values) / len(values) if values else 1.0


def _evidence(world: World, node: str, supply: float | None) -> str:
    """What the network's measurements show that agrees with a stall prediction for
    ``node`` ("" when nothing): the twin sees the node short of video, or one of the node's
    own ports, radio carriers or video queues is busy or dropping."""
    found: list[str] = []
    if supply is not None and supply < _SUPPLY_OK:
        found.append(f"the twin sees {node} receiving {supply:.0%} of its video")
    observation = world.observations.get(node)
    if observation is not None:
        found.extend(
            f"{node} {q.interface} dropping {q.drop_ratio:.1%} of video"
            for q in observation.queues
            if q.traffic_class is TrafficClass.VIDEO and q.drop_ratio >= _DROPPING
        )
        found.extend(
            f"{node} {p.interface} at {p.utilization:.0%}"
            for p in observation.ports
            if p.oper_up and p.utilization >= _BUSY
        )
        found.extend(
            f"{node} carrier {c.name} at {c.load:.0%} load"
            for c in observation.carriers
            if c.power_state is PowerState.ACTIVE and c.load >= _BUSY
        )
    return "; ".join(found)


def _prediction(
    answer: StallAnswer, node: _Node, target: Target, confidence: float, evidence: str
) -> ModelPrediction:
    """What the stall model predicts for ``node``: the share of its subscribers that stall,
    against the expectation's ``stallRatio`` target, with the network's ``evidence``."""
    ratio = len(node.stalling) / node.active if node.active else 0.0
    probabilities = [answer.probabilities[s] for s in node.stalling]
    name = answer.model.get("name")
    return ModelPrediction(
        model=str(name) if name is not None else answer.source,
        version=answer.model.get("version"),
        source=answer.source,
        confidence=confidence,
        probability=sum(probabilities) / len(probabilities) if probabilities else 0.0,
        predicted=ratio,
        target=target.describe(),
        over_target=not target.is_met(ratio),
        scope=f"{node.name} ({len(node.stalling)} of {node.active} subscribers)",
        evidence=evidence,
    )


def _origin(world: World, node: str) -> str | None:
    """The largest source of video towards ``node`` (the twin's demand estimate)."""
    view = world.view
    if view is None:
        return None
    sources = {o: r for (o, d, c), r in view.demands.items() if d == node and c is LabClass.VIDEO}
    return max(sources, key=lambda o: sources[o]) if sources else None


def _path_bottleneck(world: World, origin: str, node: str) -> Bottleneck | None:
    """The port on the video path towards ``node`` that drops or delays video most."""
    view, twin = world.view, world.twin
    if view is None or twin is None:
        return None
    kpi = view.state.paths.get((origin, node, LabClass.VIDEO))
    hops = [(p[i], p[i + 1]) for p in (kpi.paths if kpi else ()) for i in range(len(p) - 1)]
    best: Bottleneck | None = None
    for here, there in dict.fromkeys(hops):
        observation = world.observations.get(here)
        if observation is None:
            continue
        ports = {s.name for s in twin.topology.ports(here) if s.peer.device == there}
        for queue in observation.queues:
            if queue.interface not in ports or queue.traffic_class is not TrafficClass.VIDEO:
                continue
            score = queue.drop_ratio * 1000 + queue.queue_delay_ms
            if best is None or score > best.drop_ratio * 1000 + best.queue_delay_ms:
                port = observation.port(queue.interface)
                best = Bottleneck(
                    here,
                    queue.interface,
                    queue.queue_delay_ms,
                    queue.drop_ratio,
                    port.utilization if port else None,
                )
    return best


def _network_candidates(world: World, node: _Node, origin: str) -> list[Candidate]:
    candidates: list[Candidate] = []
    bottleneck = _path_bottleneck(world, origin, node.name)
    if bottleneck is not None:
        config = world.observations[bottleneck.device].config
        if config is not None:
            lift = _priority_candidate(TrafficClass.VIDEO, bottleneck, config)
            if lift is not None:
                candidates.append(lift)
    path = Expectation(
        id="video-path",
        type=ExpectationType.E2E_QOS,
        verb=ExpectationVerb.ENSURE,
        objects=ExpectationObjects(
            traffic_class=TrafficClass.VIDEO, path=PathRef(origin, node.name)
        ),
        targets=(Target("latencyMs", TargetCondition.LESS_THAN, 1e9),),
    )
    candidates.extend(_reroute_candidates(path, origin, node.name, world))
    return candidates


def _predict_supply(candidate: Candidate, world: World, node: str) -> Candidate:
    view, twin = world.view, world.twin
    assert view is not None
    assert twin is not None
    try:
        desired = candidate.desired(world.bases())
    except ValueError:
        return replace(candidate, meets_target=False)
    after = twin.what_if(view, desired)
    supply = node_video_supply(after, node)
    return replace(
        candidate,
        predicted={"videoSupplyRatio": supply},
        # one node's video must not be helped through another access node's links
        meets_target=supply >= _SUPPLY_OK and not _new_endpoint_transit(twin, view, after),
    )


def _network_pairs(singles: list[Candidate], world: World, node: str) -> list[Candidate]:
    """Two network actions of different kinds together (on different leaves), predicted on
    the twin, when none alone is predicted to deliver the node's video (as the e2e-qos
    policy tries pairs): e.g. video priority on the bottleneck and a split over the backup
    uplink, neither enough alone in a flash crowd."""
    ranked = sorted(
        (c for c in singles if c.predicted),
        key=lambda c: -c.predicted.get("videoSupplyRatio", 0.0),
    )[:4]
    pairs = (first.combined(second) for i, first in enumerate(ranked) for second in ranked[i + 1 :])
    return [_predict_supply(pair, world, node) for pair in pairs if pair is not None]


def _boost_candidate(world: World, node: _Node) -> Candidate | None:
    answer = world.stall
    assert answer is not None
    settings = world.settings
    observation = world.observations.get(node.name)
    if observation is None or observation.config is None:
        return None
    config: DeviceConfig = observation.config
    saved = [
        s
        for s in node.stalling
        if answer.boost_probabilities.get(s, 1.0) < settings.stall_probability
        and (config.subscriber(s).min_rate_mbps or 0) < settings.boost_mbps
    ][: settings.max_boosts_per_change]
    if not saved:
        return None
    edits = []
    for subscriber in saved:
        current = config.subscriber(subscriber).min_rate_mbps
        edits.append(
            ConfigEdit(
                EditOp.ADD if current is None else EditOp.CHANGE,
                ("subscribers", f"subscriber[id={subscriber}]", "min-rate-mbps"),
                None if current is None else str(current),
                str(settings.boost_mbps),
            )
        )
    still = len(node.stalling) - len(saved)
    return Candidate(
        ActionKind.BOOST,
        f"boost {len(saved)} stalling subscriber(s) on {node.name} to {settings.boost_mbps} Mbit/s",
        {node.name: tuple(edits)},
        disruption=5.0 + 0.01 * len(saved),
        predicted={"stallRatio": still / node.active if node.active else 0.0},
        meets_target=True,
    )


def propose_video(intent: Intent, expectation: Expectation, world: World) -> Proposal:
    """The video-experience policy for one expectation (see the module docstring)."""
    answer = world.stall
    status = world.statuses.get(intent.name)
    targets = [t for t in (status.targets if status else ()) if t.expectation == expectation.id]
    stall_target = next((t for t in targets if t.target.name == "stallRatio"), None)
    explanation: dict[str, object] = {
        "expectation": expectation.id,
        "target": stall_target.target.describe() if stall_target else None,
        "observed": stall_target.observed if stall_target else None,
        "model": dict(answer.model) if answer is not None else "no stall model",
    }
    if answer is None or stall_target is None or stall_target.observed is None:
        return Proposal(intent, expectation, "no subscriber flows or no stall model: waiting")
    nodes = sorted(_nodes(expectation, world), key=lambda n: (-len(n.stalling), n.name))
    explanation["stalling"] = {n.name: f"{len(n.stalling)}/{n.active}" for n in nodes}
    if stall_target.met:
        return Proposal(intent, expectation, "fulfilled: no action", explanation)
    worst = nodes[0]
    confidence = _confidence(answer, worst.stalling)
    explanation["node"] = worst.name
    candidates: list[Candidate] = []
    origin = _origin(world, worst.name)
    supply: float | None = None
    if world.view is not None and origin is not None:
        supply = node_video_supply(world.view.state, worst.name)
        explanation["video_supply_ratio"] = round(supply, 4)
    explanation[PREDICTION] = _prediction(
        answer, worst, stall_target.target, confidence, _evidence(world, worst.name, supply)
    ).as_dict()
    if origin is not None and supply is not None and supply < _SUPPLY_OK:
        singles = [
            _predict_supply(c, world, worst.name) for c in _network_candidates(world, worst, origin)
        ]
        candidates.extend(singles)
        if not any(c.meets_target for c in singles):
            candidates.extend(_network_pairs(singles, world, worst.name))
    boost = _boost_candidate(world, worst)
    if boost is not None:
        candidates.append(boost)
    candidates.sort(key=lambda c: (not c.meets_target, c.disruption))
    explanation["candidates"] = [c.as_dict() for c in candidates]
    state = world.state(intent.name)
    bases = world.bases()
    chosen = next(
        (
            c
            for c in candidates
            if c.meets_target
            and len(c.devices) <= intent.guards.max_devices_per_change
            and c.plan(intent.name, bases, c.description).id not in state.quarantined
        ),
        None,
    )
    if chosen is None:
        summary = f"{len(worst.stalling)} subscriber(s) stalling on {worst.name}: no action helps"
        return Proposal(
            intent, expectation, summary, explanation, tuple(candidates), None, True, confidence
        )
    return Proposal(
        intent,
        expectation,
        f"{chosen.description} ({len(worst.stalling)} of {worst.active} stalling on {worst.name})",
        explanation,
        tuple(candidates),
        chosen,
        True,
        confidence,
    )
