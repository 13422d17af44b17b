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

The hysteresis exists against acting on one noisy measured sample. A trained model's
confident prediction that a target is missed is another signal: a restoring plan whose
policy records one (:class:`ModelPrediction`, under ``explanation["prediction"]``) acts on
the first violated tick when ``PolicySettings.act_on_prediction`` is on, the model's answer
is a trained model's (not a rule baseline's), its confidence is at or above
``min_confidence`` and the prediction is over the target. The hysteresis check then passes
with the bypass named in its detail (``bypassed``); every other guard still applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.model import Intent, Plan, ReconcileState
from policies.base import Candidate, PolicySettings, Proposal, World

__all__ = [
    "PREDICTION",
    "GuardCheck",
    "ModelPrediction",
    "check_guards",
    "check_plan_guards",
    "prediction_bypass",
    "standing_ticks",
]

PREDICTION = "prediction"  # the explanation key a policy records its model's prediction under
TRAINED_MODEL = "model"  # the source of a trained model's answer (the other: rule-baseline)


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """One guard's verdict.

    Args:
        name: the guard.
        passed: whether it let the plan through.
        detail: why, for operators.
        bypassed: why the guard's own rule was set aside ("" when it was applied).
    """

    name: str
    passed: bool
    detail: str
    bypassed: str = ""

    def as_dict(self) -> dict[str, object]:
        record: dict[str, object] = {
            "guard": self.name,
            "passed": self.passed,
            "detail": self.detail,
        }
        if self.bypassed:
            record["bypassed"] = self.bypassed
        return record


@dataclass(frozen=True, slots=True)
class ModelPrediction:
    """A model's prediction that a target is missed, as a policy records it.

    Args:
        model: the model's name.
        version: its version (None for a rule baseline).
        source: ``model`` (a trained model) or ``rule-baseline``.
        confidence: the model's confidence in the prediction.
        probability: the predicted probability of the event (e.g. the mean stall probability
            of the subscribers predicted to stall).
        predicted: the target's value as predicted (e.g. the node's predicted stall ratio).
        target: the target, described (``stallRatio lessThan 0.02``).
        over_target: whether ``predicted`` misses the target.
        scope: what the prediction is about (an access node).
        evidence: what the network's own measurements show that agrees with the prediction
            (the twin sees the node short of video, a port or carrier of it busy or
            dropping video); "" when nothing does. A prediction acts early only with it.
    """

    model: str
    version: object
    source: str
    confidence: float
    probability: float
    predicted: float
    target: str
    over_target: bool
    scope: str = ""
    evidence: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "source": self.source,
            "confidence": round(self.confidence, 4),
            "probability": round(self.probability, 4),
            "predicted": round(self.predicted, 6),
            "target": self.target,
            "over_target": self.over_target,
            "scope": self.scope,
            "evidence": self.evidence,
        }

    @classmethod
    def from_record(cls, record: object) -> ModelPrediction | None:
        """The prediction :meth:`as_dict` recorded (None: no or a malformed record)."""
        if not isinstance(record, Mapping):
            return None
        values = [record.get(k) for k in ("confidence", "probability", "predicted")]
        numbers = [float(v) for v in values if isinstance(v, int | float)]
        if len(numbers) != len(values):
            return None
        confidence, probability, predicted = numbers
        return cls(
            model=str(record.get("model", "")),
            version=record.get("version"),
            source=str(record.get("source", "")),
            confidence=confidence,
            probability=probability,
            predicted=predicted,
            target=str(record.get("target", "")),
            over_target=record.get("over_target") is True,
            scope=str(record.get("scope", "")),
            evidence=str(record.get("evidence") or ""),
        )


def prediction_bypass(proposal: Proposal, settings: PolicySettings) -> str:
    """Why ``proposal`` may act without measured confirmation ("" when it may not).

    Only a restoring proposal whose policy recorded a trained model's prediction, confident
    (at or above the gate), over the target and corroborated by a network measurement
    (``evidence``), with ``settings.act_on_prediction`` on. The corroboration is there
    because a classifier's confident false positive on one quiet flow is cheap to make and
    costly to act on: in the lab's day every uncorroborated confident prediction was one
    (docs/benchmarks.md#bench-day), the flash crowd's was corroborated.
    """
    confidence = proposal.confidence
    if not settings.act_on_prediction or not proposal.urgent or confidence is None:
        return ""
    prediction = ModelPrediction.from_record(proposal.explanation.get(PREDICTION))
    if (
        prediction is None
        or prediction.source != TRAINED_MODEL
        or not prediction.over_target
        or not prediction.evidence
        # the confidence the gate itself judges (the record's is rounded for reading)
        or confidence < settings.min_confidence
    ):
        return ""
    where = f" for {prediction.scope}" if prediction.scope else ""
    return (
        f"acting on a prediction: {prediction.model} v{prediction.version} (trained model) "
        f"predicts {prediction.predicted:.3f}{where} against {prediction.target} (probability "
        f"{prediction.probability:.2f}), confidence {confidence:.2f} >= "
        f"{settings.min_confidence:.2f}, corroborated by the network ({prediction.evidence}); "
        "the hysteresis "
        "guards against a noisy measured sample, not a corroborated confident prediction "
        "(act_on_prediction)"
    )


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
        bypass = prediction_bypass(proposal, settings)
        checks.extend(
            GuardCheck(g.name, True, f"{g.detail}: bypassed", bypass)
            if g.name == "hysteresis" and not g.passed and bypass
            else g
            for g in check_guards(intent, state, now=now, violation_ticks=settings.violation_ticks)
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
