"""Guards: the conditions under which the controller may change the network for an intent.

Pure functions of the intent, its reconcile state and ``now``. Each check reports whether it
passed and why, so a decision's explanation can list every guard it went through.

:func:`check_guards` holds the per-intent guards (hysteresis, one change in flight,
cooldown, hourly rate limit); :func:`check_plan_guards` adds what depends on the plan and on
the whole controller: blast radius (devices per change), a per-device rate limit across
intents, freeze and maintenance windows, and confidence gating (act only when the model
behind the proposal is confident; otherwise the decision is a recommendation). A plan that
gives capacity back (a wake) is restorative: it needs no hysteresis, is exempt from the
cooldown, the rate limits and the windows, because holding it back is what would hurt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.model import Intent, Plan, ReconcileState
from policies.base import Candidate, Proposal, World

__all__ = ["GuardCheck", "check_guards", "check_plan_guards", "standing_ticks"]


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


def standing_ticks(state: ReconcileState, plan: Plan) -> int:
    """For how many consecutive ticks (this one included) an optimising plan was proposed."""
    return state.pending_ticks + 1 if state.pending == plan.id else 1


def check_plan_guards(
    proposal: Proposal, candidate: Candidate, plan: Plan, world: World
) -> tuple[GuardCheck, ...]:
    """Every guard's verdict for applying ``plan`` (from ``candidate``) now.

    Args:
        proposal: what the intent's policy concluded.
        candidate: the action the plan carries out.
        plan: the transaction.
        world: the tick (state, history, windows, settings).

    Returns:
        The checks in the order an operator reads them; the plan may go ahead only when
        every one passed.
    """
    intent = proposal.intent
    state = world.state(intent.name)
    settings = world.settings
    now = world.now
    checks: list[GuardCheck] = []
    if candidate.restorative:
        checks.append(GuardCheck("hysteresis", True, "restores capacity: acts at once"))
        checks.append(_in_flight(state))
        checks.append(GuardCheck("cooldown", True, "restorative: exempt"))
        checks.append(GuardCheck("rate-limit", True, "restorative: exempt"))
    elif proposal.urgent:
        checks.extend(
            check_guards(intent, state, now=now, violation_ticks=settings.violation_ticks)
        )
    else:
        standing = standing_ticks(state, plan)
        checks.append(
            GuardCheck(
                "hysteresis",
                standing >= settings.violation_ticks,
                f"the same plan stood {standing} tick(s), acting at {settings.violation_ticks}",
            )
        )
        checks.extend(
            g
            for g in check_guards(intent, state, now=now, violation_ticks=0)
            if g.name != "hysteresis"
        )
    limit = intent.guards.max_devices_per_change
    checks.append(
        GuardCheck(
            "blast-radius",
            len(plan.devices) <= limit,
            f"{len(plan.devices)} device(s) in the change, at most {limit}",
        )
    )
    if not candidate.restorative:
        checks.append(_device_rate(plan, world))
        checks.append(_window(proposal, world))
    if proposal.confidence is not None:
        checks.append(
            GuardCheck(
                "confidence",
                proposal.confidence >= settings.min_confidence,
                f"model confidence {proposal.confidence:.2f}, acting from "
                f"{settings.min_confidence:.2f}"
                + ("" if proposal.confidence >= settings.min_confidence else ": recommend only"),
            )
        )
    return tuple(checks)


def _in_flight(state: ReconcileState) -> GuardCheck:
    return GuardCheck(
        "no-change-in-flight",
        not state.in_flight,
        f"change {state.in_flight} is being applied" if state.in_flight else "none in flight",
    )


def _device_rate(plan: Plan, world: World) -> GuardCheck:
    limit = world.settings.max_changes_per_device_per_hour
    since = world.now - timedelta(hours=1)
    counts = {
        device: sum(1 for at in world.device_changes.get(device, ()) if at >= since)
        for device in plan.devices
    }
    busiest = max(counts, key=lambda d: counts[d], default="")
    used = counts.get(busiest, 0)
    return GuardCheck(
        "device-rate-limit",
        used < limit,
        f"{busiest or 'no device'}: {used} of {limit} changes used in the last hour",
    )


def _window(proposal: Proposal, world: World) -> GuardCheck:
    if world.windows.frozen(world.now):
        return GuardCheck("change-window", False, "inside a freeze window")
    if not proposal.urgent and not world.windows.in_maintenance(world.now):
        return GuardCheck(
            "change-window", False, "an optimising change waits for a maintenance window"
        )
    return GuardCheck("change-window", True, "no freeze window; changes allowed now")
