"""The e2e-qos policy: restore a class's path latency by raising its scheduling priority
on the bottleneck device. Pure: intent, status, observations and state in; a decision out.

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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from controller.model import (
    ChangeSet,
    ConfigEdit,
    Decision,
    Device,
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
from policies.guards import check_guards

__all__ = ["Bottleneck", "decide_qos", "find_bottleneck"]

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
