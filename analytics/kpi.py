"""KPIs per intent target, from the latest observations. Pure: no IO, time passed in.

An ``e2e-qos`` target is read from the path probe that the path's source device runs
towards its destination for the expectation's traffic class (TWAMP-like, exposed in the
device's NETCONF operational state): ``latencyMs`` is the probe's latency and ``lossRatio``
its loss. An observation older than ``max_age`` does not count: the target is then unknown
(``met is None``), never silently "met".

Targets that need more than one device's observation and a model of the network (an
energy-saving expectation's power reduction against the fully-awake draw, its utilisation
headroom over the selected devices, a video expectation's stall ratio from the stall
classifier) are measured by the caller and passed in as ``measured`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from controller.model import (
    Expectation,
    ExpectationType,
    FulfilmentStatus,
    Intent,
    IntentStatus,
    NotFulfilledState,
    Observation,
    Target,
    TargetStatus,
)

__all__ = ["evaluate_intent", "observe_target"]


def observe_target(
    expectation: Expectation,
    target: Target,
    observations: Mapping[str, Observation],
    *,
    now: datetime,
    max_age: timedelta,
    measured: Mapping[tuple[str, str], float] | None = None,
) -> float | None:
    """The current value of one target, or None when there is no fresh measurement.

    ``measured``: (expectation id, target name) -> a value measured elsewhere this tick;
    it wins over what the observations alone say.
    """
    if measured is not None and (expectation.id, target.name) in measured:
        return measured[(expectation.id, target.name)]
    if expectation.type is not ExpectationType.E2E_QOS:
        return None
    objects = expectation.objects
    if objects.path is None or objects.traffic_class is None:
        return None
    observation = observations.get(objects.path.source)
    if observation is None or now - observation.at > max_age:
        return None
    probe = observation.probe(objects.path.destination, objects.traffic_class)
    if probe is None:
        return None
    if target.name == "latencyMs":
        return probe.latency_ms
    if target.name == "lossRatio":
        return probe.loss_ratio
    return None


def evaluate_intent(
    intent: Intent,
    observations: Mapping[str, Observation],
    *,
    now: datetime,
    max_age: timedelta,
    measured: Mapping[tuple[str, str], float] | None = None,
) -> IntentStatus:
    """Evaluate every target of an intent against the observations.

    ``measured`` carries values measured elsewhere (see the module docstring).

    Returns:
        ``fulfilled`` when every target is met; otherwise ``notFulfilled`` with state
        ``degraded`` (a target is missed) or ``acknowledged`` (no data yet), and reasons.
    """
    statuses: list[TargetStatus] = []
    reasons: list[str] = []
    for expectation in intent.expectations:
        for target in expectation.targets:
            observed = observe_target(
                expectation, target, observations, now=now, max_age=max_age, measured=measured
            )
            met = None if observed is None else target.is_met(observed)
            statuses.append(
                TargetStatus(expectation=expectation.id, target=target, observed=observed, met=met)
            )
            if met is False:
                assert observed is not None
                reasons.append(f"{target.name} is {observed:.3g}, needs {target.describe()}")
            elif met is None:
                reasons.append(f"{target.name}: no fresh measurement")
    if all(s.met for s in statuses):
        return IntentStatus(
            name=intent.name,
            status=FulfilmentStatus.FULFILLED,
            state=None,
            targets=tuple(statuses),
            evaluated_at=now,
        )
    state = (
        NotFulfilledState.DEGRADED
        if any(s.met is False for s in statuses)
        else NotFulfilledState.ACKNOWLEDGED
    )
    return IntentStatus(
        name=intent.name,
        status=FulfilmentStatus.NOT_FULFILLED,
        state=state,
        targets=tuple(statuses),
        reasons=tuple(reasons),
        evaluated_at=now,
    )
