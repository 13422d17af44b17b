"""Reading intent targets off a twin state, and predicting them after an action. Pure.

A prediction is anchored on what was observed: ``predicted = observed + (twin after - twin
before)``. The twin's bias on the quantity (a link delay it does not know, a probe's own
overhead) cancels out, and what remains is the action's effect as the model computes it
(the usual way to use a simulator as a what-if: trust its differences more than its levels).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from analytics.baselines import DEFAULT_STALL_CUT_MBPS, MIN_ACTIVE_RATIO, busy_and_slow
from controller.model import (
    Expectation,
    ExpectationType,
    Observation,
    SubscriberFlow,
    Target,
    TargetCondition,
)
from lab.config import TrafficClass as LabClass
from lab.network import NetworkState
from policies.base import StallAnswer
from policies.twin import lab_class

__all__ = [
    "max_utilization",
    "meets",
    "node_video_supply",
    "predict_targets",
    "rule_stall_answer",
    "twin_targets",
]


def max_utilization(state: NetworkState, devices: Iterable[str]) -> float:
    """The highest egress utilisation over the up ports of ``devices``."""
    return max(
        (
            port.utilization
            for name in devices
            if name in state.devices
            for port in state.devices[name].ports.values()
            if port.oper_up
        ),
        default=0.0,
    )


def node_video_supply(state: NetworkState, node: str) -> float:
    """Delivered over offered video towards ``node`` (1 when nothing is offered)."""
    offered = delivered = 0.0
    for (_, destination, cls), flow in state.flows.items():
        if destination == node and cls is LabClass.VIDEO:
            offered += flow.offered_mbps
            delivered += flow.delivered_mbps
    return delivered / offered if offered > 0 else 1.0


def twin_targets(
    expectation: Expectation, state: NetworkState, selected: Iterable[str] = ()
) -> dict[str, float]:
    """The expectation's targets as the twin state shows them (those it can show)."""
    values: dict[str, float] = {}
    if expectation.type is ExpectationType.E2E_QOS:
        objects = expectation.objects
        if objects.path is None or objects.traffic_class is None:
            return values
        kpi = state.paths.get(
            (objects.path.source, objects.path.destination, lab_class(objects.traffic_class))
        )
        if kpi is None:
            return values
        for target in expectation.targets:
            if target.name == "latencyMs":
                values[target.name] = kpi.latency_ms
            elif target.name == "lossRatio":
                values[target.name] = kpi.loss_ratio
    elif expectation.type is ExpectationType.ENERGY_SAVING and any(
        t.name == "maxUtilization" for t in expectation.targets
    ):
        values["maxUtilization"] = max_utilization(state, selected)
    return values


def predict_targets(
    observed: Mapping[str, float | None],
    before: Mapping[str, float],
    after: Mapping[str, float],
) -> dict[str, float]:
    """``observed + (after - before)`` per target the twin shows (see the module doc).

    Without an observation the twin's own value is the prediction. Ratios stay in [0, 1],
    delays at or above 0; an unroutable path (inf) stays inf.
    """
    predicted: dict[str, float] = {}
    for name, value in after.items():
        seen = observed.get(name)
        base = before.get(name)
        if seen is None or base is None or not math.isfinite(base) or not math.isfinite(value):
            predicted[name] = value
            continue
        estimate = max(0.0, seen + (value - base))
        predicted[name] = min(1.0, estimate) if name.endswith("Ratio") else estimate
    return predicted


def meets(target: Target, value: float, *, headroom: float = 0.0) -> bool:
    """Whether ``value`` meets ``target`` with a share ``headroom`` of its bound in reserve.

    For ``latencyMs lessThan 30`` and headroom 0.1 the value must be under 27; a bound of 0
    (``lossRatio lessThanOrEqual 0``) keeps no reserve.
    """
    if not math.isfinite(value):
        return False
    margin = abs(target.value) * headroom
    match target.condition:
        case TargetCondition.LESS_THAN:
            return value < target.value - margin
        case TargetCondition.LESS_THAN_OR_EQUAL:
            return value <= target.value - margin
        case TargetCondition.GREATER_THAN:
            return value > target.value + margin
        case TargetCondition.GREATER_THAN_OR_EQUAL:
            return value >= target.value + margin
        case TargetCondition.WITHIN_RANGE:
            return target.is_met(value)


def subscriber_flows(
    observations: Mapping[str, Observation],
) -> tuple[list[SubscriberFlow], dict[str, str]]:
    """Every subscriber flow the devices report (in device order), and each flow's node."""
    flows: list[SubscriberFlow] = []
    nodes: dict[str, str] = {}
    for name, observation in sorted(observations.items()):
        for flow in observation.subscribers:
            flows.append(flow)
            nodes[flow.id] = name
    return flows, nodes


def rule_stall_answer(
    observations: Mapping[str, Observation],
    *,
    model: Mapping[str, object],
    boost_mbps: float,
    cut_mbps: float = DEFAULT_STALL_CUT_MBPS,
    min_active_ratio: float = MIN_ACTIVE_RATIO,
    rule_confidence: float = 0.5,
) -> StallAnswer | None:
    """The stall rule baseline's answer for every subscriber the devices report.

    :func:`analytics.baselines.busy_and_slow` on each flow: probability 1 for a busy flow
    under ``cut_mbps``, else 0; with the boost, a flow gets at least ``boost_mbps`` (the
    same counterfactual the classifier is asked, :func:`policies.video.stall_answer`). The
    rule knows no degrees: its answers carry ``rule_confidence``.

    Args:
        observations: this tick's observations.
        model: the explanation of who answers (the registry's shape, source
            ``rule-baseline``).
        boost_mbps: the boost rate.
        cut_mbps: the rule's throughput cut.
        min_active_ratio: the share of its window from which a flow is busy.
        rule_confidence: the confidence given to the rule's answers.

    Returns:
        None when no device reports subscribers.
    """
    flows, nodes = subscriber_flows(observations)
    if not flows:
        return None
    rates = [f.throughput_mbps for f in flows]
    active = [f.active_ratio for f in flows]
    now = busy_and_slow(rates, active, cut_mbps=cut_mbps, min_active_ratio=min_active_ratio)
    boosted = busy_and_slow(
        [max(r, boost_mbps) for r in rates],
        active,
        cut_mbps=cut_mbps,
        min_active_ratio=min_active_ratio,
    )
    return StallAnswer(
        probabilities={f.id: float(p) for f, p in zip(flows, now, strict=True)},
        nodes=nodes,
        model=dict(model),
        source="rule-baseline",
        rule_confidence=rule_confidence,
        boost_probabilities={f.id: float(p) for f, p in zip(flows, boosted, strict=True)},
    )
