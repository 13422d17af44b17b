"""``netpilot intents plan``: what the controller would do with a changed intent set, now.

The offline part is pure and needs no network: validation, conflicts and their resolution,
and the semantic diff against the active revision. "What would it do now" needs the
network's current state: a :class:`Planner` (the controller, or the read-only wiring in
controller/cli_intents.py) senses the devices without changing anything, runs the policies
on the enforced intents, and returns an :class:`ActionPlan`. :func:`actions_from_decisions`
turns the policies' decisions into planned actions; :class:`PlanReport` puts everything
together with an exit code for the intent repository's CI pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol

from controller.model import Decision, Intent, IntentMode, IntentStatus
from intents.diff import IntentSetDiff
from intents.revisions import Evaluation

__all__ = [
    "ActionKind",
    "ActionPlan",
    "PlanReport",
    "PlannedAction",
    "Planner",
    "actions_from_decisions",
]


class ActionKind(str, Enum):
    """What a planned action amounts to."""

    CHANGE = "change"  # the controller would start this change now
    HELD_BACK = "held-back"  # a candidate change that a guard holds back
    REPORT_ONLY = "report-only"  # the intent is dry-run (or monitored only): plan, no change
    AWAITS_APPROVAL = "awaits-approval"  # approve mode: raised as an approval, not applied
    NONE = "none"  # nothing to do (fulfilled, or no data)


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One intent's conclusion: the change it would make, where, and what it should do."""

    intent: str
    expectation: str
    kind: ActionKind
    summary: str
    devices: tuple[str, ...] = ()
    edits: tuple[str, ...] = ()
    predicted_effect: str = ""
    held_back_by: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "intent": self.intent,
            "expectation": self.expectation,
            "kind": self.kind.value,
            "summary": self.summary,
            "devices": list(self.devices),
            "edits": list(self.edits),
            "predictedEffect": self.predicted_effect,
            "heldBackBy": list(self.held_back_by),
        }


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """What a planner found: per-intent status now, and the actions it would take."""

    at: datetime
    actions: tuple[PlannedAction, ...] = ()
    statuses: tuple[IntentStatus, ...] = ()
    devices_read: tuple[str, ...] = ()
    device_errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "actions": [a.as_dict() for a in self.actions],
            "statuses": [s.as_dict() for s in self.statuses],
            "devicesRead": list(self.devices_read),
            "deviceErrors": {k: list(v) for k, v in self.device_errors.items()},
        }


class Planner(Protocol):
    """Answers "what would the controller do now?" without changing any device."""

    def plan(self, intents: Sequence[Intent]) -> Awaitable[ActionPlan]:
        """Sense the network read-only and run the policies on ``intents``.

        Called by ``netpilot intents plan`` with the enforced intent set (conflict
        resolutions applied). Must never lock a datastore, edit or commit.

        Raises:
            NetpilotError: the network could not be read at all.
        """
        ...


def _predicted(decision: Decision) -> str:
    """The target the action serves, the value now, and the what-if twin's estimate after it.

    The estimate is the policy's own (``explanation["predicted"]``: each target as the twin
    predicts it after the action), the same the loop acts on; without a twin (no
    ``topology:`` in the controller config) there is none and the commit's verification
    measures the effect.
    """
    target = decision.explanation.get("target")
    observed = decision.explanation.get("observed")
    predicted = decision.explanation.get("predicted")
    estimates = (
        {str(k): v for k, v in predicted.items() if isinstance(v, int | float)}
        if isinstance(predicted, Mapping)
        else {}
    )
    if not target and not estimates:
        return ""
    now = f" (now {observed:.3g})" if isinstance(observed, int | float) else ""
    if estimates:
        after = ", ".join(f"{name} {value:.3g}" for name, value in sorted(estimates.items()))
        return f"{target or 'targets'}{now}; what-if twin predicts {after} after the change"
    return (
        f"{target}{now}; no what-if estimate (no topology: in the config): "
        "verified after the commit"
    )


def actions_from_decisions(
    intents: Iterable[Intent], decisions: Iterable[Decision]
) -> tuple[PlannedAction, ...]:
    """Planned actions from the policies' decisions (one per intent)."""
    modes = {i.name: i.mode for i in intents}
    actions: list[PlannedAction] = []
    for decision in decisions:
        explanation = decision.explanation
        candidates = explanation.get("candidates")
        candidate_list = candidates if isinstance(candidates, list) else []
        devices = tuple(str(c.get("device")) for c in candidate_list if isinstance(c, dict))
        edits = tuple(str(c.get("edit")) for c in candidate_list if isinstance(c, dict))
        guards = explanation.get("guards")
        blocked = tuple(
            f"{g['guard']}: {g['detail']}"
            for g in (guards if isinstance(guards, list) else [])
            if isinstance(g, dict) and not g.get("passed")
        )
        if "quarantined" in explanation:
            blocked = (*blocked, f"quarantined: {explanation['quarantined']} failed verification")
        plan = decision.actions  # a multi-device plan (an energy sleep) as well as one change
        if plan is not None:
            devices = plan.devices
            edits = tuple(
                f"{c.device}: {e.describe()}" if len(plan.changes) > 1 else e.describe()
                for c in plan.changes
                for e in c.edits
            )
            kind = {
                IntentMode.DRY_RUN: ActionKind.REPORT_ONLY,
                IntentMode.APPROVE: ActionKind.AWAITS_APPROVAL,
            }.get(modes.get(decision.intent, IntentMode.AUTO), ActionKind.CHANGE)
        elif devices:
            kind = (
                ActionKind.REPORT_ONLY
                if modes.get(decision.intent) is IntentMode.DRY_RUN
                else ActionKind.HELD_BACK
            )
        else:
            kind = ActionKind.NONE
        actions.append(
            PlannedAction(
                intent=decision.intent,
                expectation=decision.expectation,
                kind=kind,
                summary=decision.summary,
                devices=devices,
                edits=edits,
                predicted_effect=_predicted(decision) if devices else "",
                held_back_by=blocked if kind is ActionKind.HELD_BACK else (),
            )
        )
    return tuple(actions)


@dataclass(frozen=True, slots=True)
class PlanReport:
    """Everything ``plan`` says, and the exit code for CI.

    ``actions`` is None when no planner ran (offline), with ``offline_reason`` saying why.
    """

    evaluation: Evaluation
    diff: IntentSetDiff
    against: str
    actions: ActionPlan | None = None
    offline_reason: str = ""
    strict: bool = False

    @property
    def exit_code(self) -> int:
        """0: the set is valid (conflicts resolved); 1: invalid, or strict and not clean."""
        if not self.evaluation.ok:
            return 1
        if self.strict and (self.evaluation.conflicts or self.evaluation.warnings):
            return 1
        return 0

    def as_dict(self) -> dict[str, object]:
        return {
            "valid": self.evaluation.ok,
            "exitCode": self.exit_code,
            "against": self.against,
            "errors": [e.as_dict() for e in self.evaluation.errors],
            "warnings": [w.as_dict() for w in self.evaluation.warnings],
            "conflicts": [c.as_dict() for c in self.evaluation.conflicts],
            "notes": {k: list(v) for k, v in self.evaluation.notes.items()},
            "diff": self.diff.as_dict(),
            "plan": self.actions.as_dict() if self.actions else None,
            "offlineReason": self.offline_reason or None,
        }

    def lines(self) -> list[str]:
        """The report as a reviewer reads it in a pull request."""
        out: list[str] = [str(e) for e in self.evaluation.errors]
        out += [str(w) for w in self.evaluation.warnings]
        out += [f"conflict: {c.describe()}" for c in self.evaluation.conflicts]
        out.append(f"changes against {self.against}:")
        out += ["  " + line for line in self.diff.lines()] or ["  (none)"]
        if self.actions is None:
            out.append(f"actions now: not computed ({self.offline_reason})")
        else:
            out.append(f"status now ({self.actions.at.isoformat()}):")
            for status in self.actions.statuses:
                state = f"/{status.state.value}" if status.state else ""
                values = ", ".join(
                    f"{t.target.name}={t.observed:.3g}"
                    for t in status.targets
                    if t.observed is not None
                )
                out.append(
                    f"  {status.name}: {status.status.value}{state}"
                    + (f" ({values})" if values else "")
                )
            out.append("actions now:")
            for action in self.actions.actions:
                line = f"  {action.intent}: {action.kind.value}: {action.summary}"
                out.append(line)
                for edit in action.edits:
                    out.append(f"      {', '.join(action.devices)}: {edit}")
                if action.predicted_effect:
                    out.append(f"      effect: {action.predicted_effect}")
            for device, errors in sorted(self.actions.device_errors.items()):
                out.append(f"  {device}: could not read: {'; '.join(errors)}")
        verdict = "valid" if self.evaluation.ok else "INVALID"
        out.append(
            f"{verdict}: {len(self.evaluation.intents)} intent(s), "
            f"{len(self.evaluation.conflicts)} conflict(s), "
            f"{len(self.evaluation.warnings)} warning(s)"
        )
        return out
