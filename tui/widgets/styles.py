"""Colours for the console's vocabularies, as Rich Text (never markup: values come from the
network and the files, and may contain brackets such as ``class[name=video]``)."""

from __future__ import annotations

from rich.text import Text

from controller.model import (
    ApprovalStatus,
    ChangeStatus,
    FulfilmentStatus,
    IntentStatus,
    NotFulfilledState,
    Target,
    TargetCondition,
)
from tui.state import DeviceHealth

__all__ = [
    "approval_status",
    "change_status",
    "compact_target",
    "fulfilment",
    "health_text",
    "outcome_text",
    "short_status",
    "state_text",
    "status_text",
]

_CHANGE = {
    ChangeStatus.PENDING: "cyan",
    ChangeStatus.CONFIRMED: "green",
    ChangeStatus.ROLLED_BACK: "yellow",
    ChangeStatus.REJECTED_PRECHECK: "magenta",
    ChangeStatus.ABORTED: "magenta",
    ChangeStatus.FAILED: "bold red",
}
_HEALTH = {
    DeviceHealth.UP: "green",
    DeviceHealth.PARTIAL: "yellow",
    DeviceHealth.DOWN: "bold red",
    DeviceHealth.UNKNOWN: "dim",
}


def fulfilment(status: FulfilmentStatus) -> Text:
    """``fulfilled`` in green, ``notFulfilled`` in red."""
    return Text(status.value, style="green" if status is FulfilmentStatus.FULFILLED else "red")


def state_text(state: NotFulfilledState | None) -> Text:
    """A notFulfilled state (empty when fulfilled)."""
    if state is None:
        return Text("")
    style = {
        NotFulfilledState.COMPLIANT: "cyan",
        NotFulfilledState.DEGRADED: "red",
        NotFulfilledState.FULFILMENT_FAILED: "bold red",
    }.get(state, "dim")
    return Text(state.value, style=style)


def change_status(status: ChangeStatus, *, rolled_back_by: str = "") -> Text:
    """A change's status; a confirmed change an operator undid says so."""
    if rolled_back_by and status is ChangeStatus.CONFIRMED:
        return Text("undone", style="yellow")
    return Text(status.value, style=_CHANGE.get(status, ""))


def outcome_text(outcome: str) -> Text:
    """A feed entry's outcome (a change status value, ``in flight`` or nothing)."""
    try:
        return change_status(ChangeStatus(outcome))
    except ValueError:
        style = {
            "in flight": "cyan",
            "quarantined": "red",
            "held back": "yellow",
            "awaiting approval": "bold yellow",
            "rejected": "red",
            "recommend": "yellow",
            "lost arbitration": "yellow",
            "anomaly": "magenta",
        }
        return Text(outcome, style=style.get(outcome, "dim"))


_APPROVAL = {
    ApprovalStatus.PENDING: "bold yellow",
    ApprovalStatus.APPROVED: "green",
    ApprovalStatus.REJECTED: "red",
    ApprovalStatus.APPLIED: "cyan",
    ApprovalStatus.SUPERSEDED: "dim",
}


def approval_status(status: ApprovalStatus) -> Text:
    """An approval's status, coloured (pending stands out)."""
    return Text(status.value, style=_APPROVAL.get(status, ""))


def health_text(health: DeviceHealth) -> Text:
    """A device's health, coloured."""
    return Text(health.value, style=_HEALTH[health])


def status_text(status: IntentStatus) -> Text:
    """28.312 fulfilment in one cell: ``fulfilled`` or ``notFulfilled: degraded``."""
    text = fulfilment(status.status)
    if status.state is not None:
        text.append(": ")
        text.append_text(state_text(status.state))
    return text


def short_status(status: IntentStatus) -> Text:
    """Fulfilment in a narrow cell: ``fulfilled``, else the notFulfilled state alone
    (``degraded``, ``compliant``, ``failed`` for fulfilmentFailed), in the state's colour."""
    if status.status is FulfilmentStatus.FULFILLED or status.state is None:
        return fulfilment(status.status)
    text = state_text(status.state)
    if status.state is NotFulfilledState.FULFILMENT_FAILED:
        text.plain = "failed"
    return text


_SIGNS = {
    TargetCondition.LESS_THAN: "<",
    TargetCondition.LESS_THAN_OR_EQUAL: "<=",
    TargetCondition.GREATER_THAN: ">",
    TargetCondition.GREATER_THAN_OR_EQUAL: ">=",
}


def compact_target(target: Target) -> str:
    """``latencyMs < 30`` (``Target.describe`` spells the condition out; tables are narrow)."""
    if target.condition is TargetCondition.WITHIN_RANGE:
        upper = target.value if target.upper is None else target.upper
        return f"{target.name} in [{target.value:g}, {upper:g}]"
    return f"{target.name} {_SIGNS[target.condition]} {target.value:g}"
