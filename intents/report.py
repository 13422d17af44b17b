"""Fulfilment reports in 28.312 terms, built from the controller's statuses. Pure.

The controller owns status (never Git): fulfilled / notFulfilled with a state
(acknowledged, compliant, degraded, suspended, fulfilmentFailed), reasons, per-target
observed values and the last evaluation time. This module renders one intent's status as a
28.312 intent fulfilment report (intentFulfilmentInfo, expectationFulfilmentResult,
targetFulfilmentResult with targetAchievedValue), and builds the status of an intent the
loop does not run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from controller.model import (
    FulfilmentStatus,
    Intent,
    IntentStatus,
    NotFulfilledState,
    TargetStatus,
)

__all__ = ["fulfilment_report", "not_running_status"]


def not_running_status(name: str, reasons: Iterable[str], *, now: datetime) -> IntentStatus:
    """The status of an intent the loop does not run (suspended, with why)."""
    return IntentStatus(
        name=name,
        status=FulfilmentStatus.NOT_FULFILLED,
        state=NotFulfilledState.SUSPENDED,
        targets=(),
        reasons=tuple(reasons),
        evaluated_at=now,
    )


def _info(met: Iterable[bool | None]) -> dict[str, object]:
    values = list(met)
    if values and all(values):
        return {"fulfilmentStatus": FulfilmentStatus.FULFILLED.value}
    state = (
        NotFulfilledState.DEGRADED
        if any(v is False for v in values)
        else NotFulfilledState.ACKNOWLEDGED
    )
    return {
        "fulfilmentStatus": FulfilmentStatus.NOT_FULFILLED.value,
        "notFulfilledState": state.value,
    }


def _target_result(target: TargetStatus) -> dict[str, object]:
    spec = target.target
    value: object = [spec.value, spec.upper] if spec.upper is not None else spec.value
    return {
        "targetName": spec.name,
        "targetCondition": spec.condition.value,
        "targetValueRange": value,
        "unit": spec.unit,
        "targetAchievedValue": target.observed,
        "targetFulfilmentInfo": _info([target.met]),
    }


def fulfilment_report(
    intent: Intent, status: IntentStatus | None, *, notes: Iterable[str] = ()
) -> dict[str, object]:
    """One intent's 28.312 fulfilment report.

    Args:
        intent: the intent as declared.
        status: its latest status from the controller (None: not evaluated yet).
        notes: extra reasons (conflict resolutions, not-enforced warnings).
    """
    extra = list(notes)
    if status is None:
        info: dict[str, object] = {
            "fulfilmentStatus": FulfilmentStatus.NOT_FULFILLED.value,
            "notFulfilledState": NotFulfilledState.ACKNOWLEDGED.value,
            "notFulfilledReasons": ["not evaluated yet", *extra],
        }
        targets: tuple[TargetStatus, ...] = ()
        evaluated = None
    else:
        info = {"fulfilmentStatus": status.status.value}
        if status.state is not None:
            info["notFulfilledState"] = status.state.value
        reasons = [*status.reasons, *extra]
        if reasons:
            info["notFulfilledReasons" if status.state else "notes"] = reasons
        targets = status.targets
        evaluated = status.evaluated_at.isoformat() if status.evaluated_at else None
    expectations = []
    for expectation in intent.expectations:
        mine = [t for t in targets if t.expectation == expectation.id]
        expectations.append(
            {
                "expectationId": expectation.id,
                "expectationType": expectation.type.value,
                "expectationFulfilmentInfo": _info([t.met for t in mine])
                if mine
                else {
                    "fulfilmentStatus": FulfilmentStatus.NOT_FULFILLED.value,
                    "notFulfilledState": NotFulfilledState.ACKNOWLEDGED.value,
                },
                "targetFulfilmentResults": [_target_result(t) for t in mine],
            }
        )
    return {
        "intent": intent.name,
        "intentFulfilmentInfo": info,
        "expectationFulfilmentResults": expectations,
        "lastEvaluation": evaluated,
    }
