"""The e2e-qos policy: restore a class's path latency and loss by class priority, shaping of
competing classes or a path metric, choosing the least disruptive action the what-if twin
predicts will meet the target (:func:`propose_qos`). Pure: the tick's world in, a proposal
out. :func:`decide_qos` is the policy without a twin (priority only), as it was first built.

How it reasons:

1. Only a missed target counts (``degraded``); unknown values never trigger a change.
2. The bottleneck is the selected device whose egress queue for the expectation's class has
   the longest queueing delay (NETCONF operational state); its utilisation from SNMP
   counters is attached as evidence.
3. The action lifts the class one level above every other class on that device (the YANG
   module allows levels 0-7, and 7 for one class only). If the class is already alone on
   top, no priority change can help and the policy says so instead of acting.
4. Guards (hysteresis, cooldown, rate limit, one change in flight) and quarantine of a change
   that already failed verification decide whether the candidate is applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from controller.model import (
    ChangeSet,
    ConfigEdit,
    Decision,
    Device,
    DeviceConfig,
    EditOp,
    Expectation,
    ExpectationType,
    Intent,
    IntentStatus,
    NotFulfilledState,
    Observation,
    ReconcileState,
    TrafficClass,
)
from lab.network import NetworkState
from policies.base import ActionKind, Candidate, Proposal, World
from policies.guards import check_guards
from policies.predict import meets, predict_targets, twin_targets
from policies.twin import Twin, TwinView, endpoint_transit, lab_class

__all__ = ["Bottleneck", "decide_qos", "find_bottleneck", "propose_qos"]

MAX_PRIORITY = 7
MIN_QUEUE_DELAY_MS = 0.5  # below this, queueing is not what makes the path slow


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """Where a class waits longest."""

    device: str
    interface: str
    queue_delay_ms: float
    drop_ratio: float
    utilization: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "device": self.device,
            "interface": self.interface,
            "queue_delay_ms": round(self.queue_delay_ms, 3),
            "drop_ratio": round(self.drop_ratio, 6),
            "utilization": None if self.utilization is None else round(self.utilization, 4),
        }


def find_bottleneck(
    expectation: Expectation,
    traffic_class: TrafficClass,
    devices: Mapping[str, Device],
    observations: Mapping[str, Observation],
) -> Bottleneck | None:
    """The selected device/interface where ``traffic_class`` queues longest, if any queues."""
    best: Bottleneck | None = None
    for name in sorted(observations):
        device = devices.get(name)
        if device is None or not expectation.objects.selects(device):
            continue
        observation = observations[name]
        for queue in observation.queues:
            if queue.traffic_class is not traffic_class:
                continue
            if best is not None and queue.queue_delay_ms <= best.queue_delay_ms:
                continue
            rate = next((r for r in observation.rates if r.interface == queue.interface), None)
            best = Bottleneck(
                device=name,
                interface=queue.interface,
                queue_delay_ms=queue.queue_delay_ms,
                drop_ratio=queue.drop_ratio,
                utilization=rate.utilization if rate else None,
            )
    if best is None or best.queue_delay_ms < MIN_QUEUE_DELAY_MS:
        return None
    return best


def decide_qos(
    intent: Intent,
    status: IntentStatus,
    devices: Mapping[str, Device],
    observations: Mapping[str, Observation],
    state: ReconcileState,
    *,
    now: datetime,
    violation_ticks: int,
) -> Decision:
    """Decide what to do for an e2e-qos intent in this tick.

    Returns:
        A decision; ``decision.change`` is set only when every guard passed.
    """
    if status.state is not NotFulfilledState.DEGRADED:
        summary = "fulfilled: no action" if status.state is None else "no fresh data: waiting"
        return Decision(intent=intent.name, at=now, summary=summary)

    missed = next(t for t in status.targets if t.met is False)
    expectation = next(e for e in intent.expectations if e.id == missed.expectation)
    explanation: dict[str, object] = {
        "target": missed.target.describe(),
        "observed": missed.observed,
        "expectation": expectation.id,
        "model": "latest probe sample (no model in this version)",
    }

    def decision(summary: str, change: ChangeSet | None = None) -> Decision:
        return Decision(
            intent.name,
            now,
            summary,
            change=change,
            explanation=explanation,
            expectation=expectation.id,
        )

    traffic_class = expectation.objects.traffic_class
    if expectation.type is not ExpectationType.E2E_QOS or traffic_class is None:
        return decision("not an e2e-qos expectation")

    bottleneck = find_bottleneck(expectation, traffic_class, devices, observations)
    if bottleneck is None:
        explanation["bottleneck"] = None
        return decision(
            f"{missed.target.name} missed but no {traffic_class.value} queue is building up: "
            "nothing a priority change would fix",
        )
    explanation["bottleneck"] = bottleneck.as_dict()

    config = observations[bottleneck.device].config
    if config is None:
        return decision(
            f"bottleneck {bottleneck.device} found but its running config is unknown",
        )
    current = config.class_config(traffic_class)
    others = [c.priority for c in config.classes if c.name is not traffic_class]
    highest_other = max(others, default=0)
    new_priority = highest_other + 1
    if current.priority > highest_other or new_priority > MAX_PRIORITY:
        explanation["candidates"] = []
        return decision(
            f"{traffic_class.value} already has the top priority on {bottleneck.device}: "
            "no priority change can help",
        )
    configured = any(c.name is traffic_class for c in config.classes)
    # old is what the device must still hold when the change is applied (the drift check):
    # nothing at all when the class is not configured yet
    edit = ConfigEdit(
        op=EditOp.CHANGE if configured else EditOp.ADD,
        path=("qos", f"class[name={traffic_class.value}]", "priority"),
        old=str(current.priority) if configured else None,
        new=str(new_priority),
    )
    reason = (
        f"raise {traffic_class.value} priority {current.priority} -> {new_priority} on "
        f"{bottleneck.device} ({bottleneck.interface} queues {traffic_class.value} for "
        f"{bottleneck.queue_delay_ms:.1f} ms)"
    )
    change = ChangeSet.make(
        intent.name,
        bottleneck.device,
        (edit,),
        reason,
        base=config,
    )
    explanation["candidates"] = [{"device": bottleneck.device, "edit": edit.describe()}]

    guards = check_guards(intent, state, now=now, violation_ticks=violation_ticks)
    explanation["guards"] = [g.as_dict() for g in guards]
    if change.id in state.quarantined:
        explanation["quarantined"] = change.id
        return decision(f"{reason}: quarantined, {state.quarantined[change.id]}")
    blocked = [g for g in guards if not g.passed]
    if blocked:
        return decision(
            f"{reason}: held back by {', '.join(g.name for g in blocked)}",
        )
    explanation["chosen"] = change.id
    return decision(reason, change)


# --------------------------------------------------------------------------- with the twin


def propose_qos(intent: Intent, expectation: Expectation, world: World) -> Proposal:
    """The e2e-qos policy with its three actions and the what-if twin.

    Candidates, least disruptive first: lift the class's priority on the bottleneck (as
    :func:`decide_qos`), shape the competing classes on the bottleneck port, or change a
    path metric (steer the path, or split it over an equal-cost alternative). With a twin
    each candidate's effect on the expectation's targets is predicted
    (:func:`policies.predict.predict_targets`) and the least disruptive one predicted to
    meet every target with headroom is chosen; pairs of single actions are tried when no
    single action suffices. Without a twin, the priority lift is proposed unpredicted.

    Returns:
        The proposal (``urgent``: it restores a missed target).
    """
    status = world.statuses.get(intent.name)
    targets = [t for t in (status.targets if status else ()) if t.expectation == expectation.id]
    missed = next((t for t in targets if t.met is False), None)
    if missed is None:
        unknown = any(t.met is None for t in targets) or not targets
        summary = "no fresh data: waiting" if unknown else "fulfilled: no action"
        return Proposal(intent, expectation, summary)
    traffic_class = expectation.objects.traffic_class
    path = expectation.objects.path
    explanation: dict[str, object] = {
        "target": missed.target.describe(),
        "observed": missed.observed,
        "expectation": expectation.id,
        "model": (
            f"what-if twin (network model, demands estimated from counters, fit error "
            f"{world.view.fit_error:.1%})"
            if world.view is not None
            else "latest probe sample (no topology: no what-if)"
        ),
    }
    if traffic_class is None or path is None:
        return Proposal(intent, expectation, "not an e2e-qos path", explanation, urgent=True)
    bottleneck = find_bottleneck(expectation, traffic_class, world.devices, world.observations)
    explanation["bottleneck"] = bottleneck.as_dict() if bottleneck else None
    singles: list[Candidate] = []
    if bottleneck is not None:
        config = world.observations[bottleneck.device].config
        if config is not None:
            lift = _priority_candidate(traffic_class, bottleneck, config)
            if lift is not None:
                singles.append(lift)
            shape = _shape_candidate(traffic_class, bottleneck, config, world)
            if shape is not None:
                singles.append(shape)
    if world.view is not None and world.twin is not None:
        singles.extend(_reroute_candidates(expectation, path.source, path.destination, world))
    return _choose(intent, expectation, missed.target.name, singles, explanation, world)


def _choose(
    intent: Intent,
    expectation: Expectation,
    missed_name: str,
    singles: list[Candidate],
    explanation: dict[str, object],
    world: World,
) -> Proposal:
    state = world.state(intent.name)
    bases = world.bases()
    if world.view is None or world.twin is None:
        usable = [c for c in singles if c.action is ActionKind.CLASS_PRIORITY]
        explanation["candidates"] = [c.as_dict() for c in usable]
        chosen = next(
            (
                c
                for c in usable
                if c.plan(intent.name, bases, c.description).id not in state.quarantined
            ),
            None,
        )
        return _proposal(intent, expectation, missed_name, usable, chosen, explanation, state)
    predicted = [_predict(c, expectation, world) for c in singles]
    if not any(c.meets_target for c in predicted):
        predicted.extend(_pairs(predicted, expectation, world))
    predicted.sort(key=lambda c: (not c.meets_target, c.disruption))
    explanation["candidates"] = [c.as_dict() for c in predicted]
    chosen = next(
        (
            c
            for c in predicted
            if c.meets_target
            and len(c.devices) <= intent.guards.max_devices_per_change
            and c.plan(intent.name, bases, c.description).id not in state.quarantined
        ),
        None,
    )
    return _proposal(intent, expectation, missed_name, predicted, chosen, explanation, state)


def _proposal(
    intent: Intent,
    expectation: Expectation,
    missed_name: str,
    candidates: list[Candidate],
    chosen: Candidate | None,
    explanation: dict[str, object],
    state: ReconcileState,
) -> Proposal:
    if chosen is not None:
        explanation["predicted"] = dict(chosen.predicted) or None
        return Proposal(
            intent, expectation, chosen.description, explanation, tuple(candidates), chosen, True
        )
    if not candidates:
        summary = f"{missed_name} missed but no action this policy knows would help"
    elif any(c.meets_target is not False for c in candidates):
        quarantined = ", ".join(sorted(state.quarantined)) or "?"
        explanation["quarantined"] = quarantined
        first = candidates[0].description
        summary = f"{first}: quarantined, {next(iter(state.quarantined.values()), '')}"
    else:
        summary = f"{missed_name} missed: no candidate is predicted to meet the target"
    return Proposal(intent, expectation, summary, explanation, tuple(candidates), None, True)


def _priority_candidate(
    traffic_class: TrafficClass, bottleneck: Bottleneck, config: DeviceConfig
) -> Candidate | None:
    current = config.class_config(traffic_class)
    highest_other = max(
        (c.priority for c in config.classes if c.name is not traffic_class), default=0
    )
    new_priority = highest_other + 1
    if current.priority > highest_other or new_priority > MAX_PRIORITY:
        return None
    configured = any(c.name is traffic_class for c in config.classes)
    edit = ConfigEdit(
        op=EditOp.CHANGE if configured else EditOp.ADD,
        path=("qos", f"class[name={traffic_class.value}]", "priority"),
        old=str(current.priority) if configured else None,
        new=str(new_priority),
    )
    return Candidate(
        ActionKind.CLASS_PRIORITY,
        f"raise {traffic_class.value} priority {current.priority} -> {new_priority} on "
        f"{bottleneck.device} ({bottleneck.interface} queues {traffic_class.value} for "
        f"{bottleneck.queue_delay_ms:.1f} ms)",
        {bottleneck.device: (edit,)},
        disruption=1.0,
    )


# classes a QoS action may slow down, least valuable first; voice is never shaped
_SHAPEABLE = (TrafficClass.BULK, TrafficClass.BEST_EFFORT, TrafficClass.GAMING)
_SHAPE_TARGET_UTILIZATION = 0.85


def _shape_candidate(
    traffic_class: TrafficClass, bottleneck: Bottleneck, config: DeviceConfig, world: World
) -> Candidate | None:
    observation = world.observations[bottleneck.device]
    port = observation.port(bottleneck.interface)
    capacity = port.speed_mbps if port is not None and port.speed_mbps > 0 else 0.0
    if capacity <= 0:
        return None
    offered = {
        q.traffic_class: q.offered_mbps
        for q in observation.queues
        if q.interface == bottleneck.interface
    }
    excess = sum(offered.values()) - _SHAPE_TARGET_UTILIZATION * capacity
    if excess <= 0:
        return None
    shapers = {(s.interface, s.traffic_class): s.rate_mbps for s in config.shapers}
    edits: list[ConfigEdit] = []
    shaped: list[str] = []
    for cls in _SHAPEABLE:
        load = offered.get(cls, 0.0)
        if cls is traffic_class or load <= 1 or excess <= 0:
            continue
        cut = min(excess, load * 0.9)
        rate = max(1, int(load - cut))
        excess -= cut
        old = shapers.get((bottleneck.interface, cls))
        if old is not None and old <= rate:
            continue
        edits.append(
            ConfigEdit(
                EditOp.ADD if old is None else EditOp.CHANGE,
                (
                    "qos",
                    f"shaper[interface={bottleneck.interface}][class={cls.value}]",
                    "rate-mbps",
                ),
                None if old is None else str(old),
                str(rate),
            )
        )
        shaped.append(f"{cls.value} to {rate} Mbit/s")
    if not edits:
        return None
    return Candidate(
        ActionKind.SHAPE,
        f"shape {', '.join(shaped)} on {bottleneck.device} {bottleneck.interface} "
        f"(frees the port for {traffic_class.value})",
        {bottleneck.device: tuple(edits)},
        disruption=2.0 + 0.1 * len(edits),
    )


def _costs_to(destination: str, world: World) -> dict[str, float]:
    """Shortest-path cost from every device to ``destination`` over up links (egress metrics)."""
    view, twin = world.view, world.twin
    assert view is not None
    assert twin is not None
    costs = {destination: 0.0}
    frontier = [(0.0, destination)]
    while frontier:
        frontier.sort()
        cost, here = frontier.pop(0)
        if cost > costs.get(here, math.inf):
            continue
        for spec in twin.topology.ports(here):
            upstream = spec.peer.device
            if not view.state.port(upstream, spec.peer.port).oper_up:
                continue
            metric = view.settings[upstream].interface(spec.peer.port).metric
            via = cost + metric
            if via < costs.get(upstream, math.inf):
                costs[upstream] = via
                frontier.append((via, upstream))
    return costs


def _reroute_candidates(
    expectation: Expectation, source: str, destination: str, world: World
) -> list[Candidate]:
    """Metric changes on the path's devices: steer off a hop, or split over an equal-cost
    alternative (where the expectation's objects allow actions)."""
    view, twin = world.view, world.twin
    assert view is not None
    assert twin is not None
    costs = _costs_to(destination, world)
    kpi = view.state.paths.get(
        (source, destination, lab_class(expectation.objects.traffic_class or TrafficClass.VIDEO))
    )
    on_path = {u for p in (kpi.paths if kpi else ()) for u in p[:-1]}
    candidates: list[Candidate] = []
    for device in sorted(on_path):
        if device not in world.devices or not expectation.objects.selects(world.devices[device]):
            continue
        config = world.observations.get(device)
        base = config.config if config is not None else None
        if base is None or device not in costs:
            continue
        options = []
        for spec in twin.topology.ports(device):
            if not view.state.port(device, spec.name).oper_up or spec.peer.device not in costs:
                continue
            metric = view.settings[device].interface(spec.name).metric
            options.append((spec.name, metric, metric + costs[spec.peer.device]))
        best = min((via for _, _, via in options), default=math.inf)
        others = sorted(via for _, _, via in options if via > best)
        for port, metric, via in options:
            new_metrics: list[tuple[int, str]] = []
            if via == best and others:
                new_metrics.append((int(metric + others[0] - best), "split with the next path"))
                new_metrics.append((int(metric + others[0] - best + 1), "steer off"))
            elif via > best and metric - (via - best) >= 1:
                new_metrics.append((int(metric - (via - best)), "split onto"))
            for new, how in new_metrics:
                if not 1 <= new <= 65535 or new == metric:
                    continue
                configured = any(i.name == port for i in base.interfaces)
                edit = ConfigEdit(
                    EditOp.CHANGE if configured else EditOp.ADD,
                    ("interfaces", f"interface[name={port}]", "metric"),
                    str(metric) if configured else None,
                    str(new),
                )
                candidates.append(
                    Candidate(
                        ActionKind.REROUTE,
                        f"{how} {device} {port} (metric {metric} -> {new})",
                        {device: (edit,)},
                        disruption=3.0 + (0.0 if how.startswith("split") else 0.5),
                    )
                )
    return candidates


def _predict(candidate: Candidate, expectation: Expectation, world: World) -> Candidate:
    """The candidate with the twin's prediction of the expectation's targets."""
    view, twin = world.view, world.twin
    assert view is not None
    assert twin is not None
    try:
        desired = candidate.desired(world.bases())
    except ValueError:
        return replace(candidate, meets_target=False)
    after = twin.what_if(view, desired)
    if _new_endpoint_transit(twin, view, after):
        return replace(candidate, meets_target=False)
    before_values = twin_targets(expectation, view.state)
    after_values = twin_targets(expectation, after)
    status = world.statuses.get(world_intent_of(expectation, world))
    observed = {
        t.target.name: t.observed
        for t in (status.targets if status else ())
        if t.expectation == expectation.id
    }
    predicted = predict_targets(observed, before_values, after_values)
    ok = bool(predicted) and all(
        meets(t, predicted[t.name], headroom=world.settings.min_headroom)
        for t in expectation.targets
        if t.name in predicted
    )
    return replace(candidate, predicted=predicted, meets_target=ok)


def _new_endpoint_transit(twin: Twin, view: TwinView, after: NetworkState) -> bool:
    """Whether ``after`` routes a demand through a traffic endpoint that the network keeps
    off it now (a metric change must not make an access node carry another's traffic)."""
    return bool(
        endpoint_transit(after, twin.endpoints) - endpoint_transit(view.state, twin.endpoints)
    )


def world_intent_of(expectation: Expectation, world: World) -> str:
    """The name of the intent holding ``expectation`` ("" if none)."""
    for intent in world.intents:
        if any(e is expectation or e == expectation for e in intent.expectations):
            return intent.name
    return ""


def _pairs(singles: list[Candidate], expectation: Expectation, world: World) -> list[Candidate]:
    """Two single actions together (on different leaves), when none alone suffices."""
    ranked = sorted(
        (c for c in singles if c.predicted),
        key=lambda c: sum(c.predicted.values()),
    )[:4]
    pairs = (first.combined(second) for i, first in enumerate(ranked) for second in ranked[i + 1 :])
    return [_predict(pair, expectation, world) for pair in pairs if pair is not None]
