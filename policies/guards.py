"""Guards: the conditions under which the controller may change the network for an intent.

Pure functions of the intent, its reconcile state and ``now``. Each check reports whether it
passed and why, so a decision's explanation can list every guard it went through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.model import Intent, ReconcileState

__all__ = ["GuardCheck", "check_guards"]


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """One guard's verdict."""

    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"guard": self.name, "passed": self.passed, "detail": self.detail}


def check_guards(
    intent: Intent, state: ReconcileState, *, now: datetime, violation_ticks: int
) -> tuple[GuardCheck, ...]:
    """Every guard's verdict for acting on ``intent`` now.

    Args:
        intent: the intent whose targets are missed.
        state: what the controller remembers about the intent.
        now: the current time.
        violation_ticks: how many consecutive violated evaluations count as a real violation
            (hysteresis against a single noisy sample).
    """
    checks = [
        GuardCheck(
            "hysteresis",
            state.consecutive_violations >= violation_ticks,
            f"violated {state.consecutive_violations} tick(s) in a row, acting at "
            f"{violation_ticks}",
        ),
        GuardCheck(
            "no-change-in-flight",
            not state.in_flight,
            f"change {state.in_flight} is being applied" if state.in_flight else "none in flight",
        ),
    ]
    last = max(state.recent_changes, default=None)
    if last is None:
        checks.append(GuardCheck("cooldown", True, "no earlier change"))
    else:
        remaining = intent.guards.cooldown - (now - last)
        checks.append(
            GuardCheck(
                "cooldown",
                remaining <= timedelta(0),
                "cooldown over"
                if remaining <= timedelta(0)
                else f"{remaining.total_seconds():.0f} s of cooldown left",
            )
        )
    in_last_hour = state.changes_since(now - timedelta(hours=1))
    checks.append(
        GuardCheck(
            "rate-limit",
            in_last_hour < intent.guards.max_changes_per_hour,
            f"{in_last_hour} of {intent.guards.max_changes_per_hour} changes used in the last hour",
        )
    )
    return tuple(checks)
