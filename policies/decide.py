"""The decide step of one tick: every intent's proposal, arbitration, guards, explanation.

Pure: the tick's :class:`~policies.base.World` in, one :class:`~controller.model.Decision`
per active intent out (:func:`decide`). Nothing is applied here; the loop applies the
decisions that carry a plan, in the intent's mode (auto, approve, dry-run).

The explanation record of a decision reads, in order, as an operator asks:

``target`` -> ``observed`` (the KPI) -> ``model``, ``version``, ``confidence`` ->
``candidates`` (each with its predicted effect on its own targets) -> ``arbitration``
(the side effects predicted on every other intent's targets, and any conflict report) ->
``guards`` (each passed or failed, and why) -> ``chosen`` and ``plan``. A plan that acts on
a model's confident prediction before the hysteresis is satisfied also carries
``prediction`` (the policy's record), ``acted_on: prediction`` and ``bypassed`` (the guard
and why).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from controller.model import (
    AdminState,
    Decision,
    Expectation,
    ExpectationType,
    Hold,
    Intent,
    Plan,
)
from intents.contexts import expectation_applies
from policies.arbitration import Ruling, RuntimeConflict, arbitrate
from policies.base import Proposal, World
from policies.energy import energy_report, propose_energy
from policies.guards import GuardCheck, check_plan_guards, standing_ticks
from policies.qos import propose_qos
from policies.video import measure_video, propose_video

__all__ = ["MEASURES", "POLICIES", "Outcome", "TickDecisions", "decide", "measure", "propose"]

Policy = Callable[[Intent, Expectation, World], Proposal]

POLICIES: dict[ExpectationType, Policy] = {
    ExpectationType.E2E_QOS: propose_qos,
    ExpectationType.ENERGY_SAVING: propose_energy,
    ExpectationType.VIDEO_EXPERIENCE: propose_video,
}


Measure = Callable[[Expectation, World], dict[str, float]]


def _measure_energy(expectation: Expectation, world: World) -> dict[str, float]:
    """Power against the fully-awake reference, and the utilisation headroom, as sensed."""
    values: dict[str, float] = {}
    report = energy_report(expectation, world)
    if report is not None:
        values["powerReductionRatio"] = report.reduction_ratio
        values["powerBudgetWatts"] = report.total_w
    utilizations = [
        port.utilization
        for name in world.selected(expectation)
        if (observation := world.observations.get(name)) is not None
        for port in observation.ports
        if port.oper_up
    ]
    if utilizations:
        values["maxUtilization"] = max(utilizations)
    return values


MEASURES: dict[ExpectationType, Measure] = {
    ExpectationType.ENERGY_SAVING: _measure_energy,
    ExpectationType.VIDEO_EXPERIENCE: measure_video,
}


def measure(world: World) -> dict[str, dict[tuple[str, str], float]]:
    """Targets the policies measure (they need the twin's profiles or a model), per intent:
    ``intent -> (expectation id, target) -> value`` for :func:`analytics.kpi.evaluate_intent`.
    """
    values: dict[str, dict[tuple[str, str], float]] = {}
    for intent in world.intents:
        for expectation in intent.expectations:
            measurer = MEASURES.get(expectation.type)
            if measurer is None:
                continue
            for name, value in measurer(expectation, world).items():
                values.setdefault(intent.name, {})[(expectation.id, name)] = value
    return values


@dataclass(frozen=True, slots=True)
class Outcome:
    """One intent's decision and what the loop must remember of it.

    Args:
        decision: the decision (with a plan only when every guard passed).
        conflicts: run-time conflicts that concern the intent (for its status).
        pending: the id of an optimising plan that was held back (the loop counts for how
            many ticks it stood, for the hysteresis); "" when none.
        recommended: the plan held back only by confidence gating (recommend, not act).
        predicted: what the chosen candidate is predicted to make of the intent's targets
            (the loop compares it with what it observes after the change: twin accuracy).
    """

    decision: Decision
    conflicts: tuple[RuntimeConflict, ...] = ()
    pending: str = ""
    recommended: Plan | None = None
    predicted: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TickDecisions:
    """Every active intent's outcome of one tick, by intent name."""

    outcomes: Mapping[str, Outcome]

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(o.decision for o in self.outcomes.values())


def propose(intent: Intent, world: World) -> Proposal:
    """The intent's proposal: one per expectation, the most pressing one kept.

    An expectation outside its time window is not acted on, except energy saving, whose
    policy must wake what it put to sleep when its window closes.
    """
    proposals: list[Proposal] = []
    for expectation in intent.expectations:
        if expectation.type is not ExpectationType.ENERGY_SAVING and not expectation_applies(
            expectation, world.now
        ):
            proposals.append(Proposal(intent, expectation, "outside its time window"))
            continue
        policy = POLICIES.get(expectation.type)
        if policy is None:
            proposals.append(
                Proposal(intent, expectation, f"no {expectation.type.value} policy: monitored")
            )
            continue
        proposals.append(policy(intent, expectation, world))
    if not proposals:
        return Proposal(intent, None, "no expectation")
    acting = [p for p in proposals if p.chosen is not None]
    urgent = [p for p in proposals if p.urgent]
    return (acting and sorted(acting, key=lambda p: not p.urgent)[0]) or (
        urgent[0] if urgent else proposals[0]
    )


def _model_fields(proposal: Proposal) -> dict[str, object]:
    """``model``, ``version`` and ``confidence`` as the explanation names them."""
    explanation = proposal.explanation
    fields: dict[str, object] = {}
    model = explanation.get("model")
    if isinstance(model, Mapping):
        # the registry's own record of who answered (the console reads it as such)
        fields["model"] = dict(model)
        fields["version"] = model.get("version")
    elif model is not None:
        fields["model"] = model
        fields.setdefault("version", explanation.get("version"))
    fields["confidence"] = (
        round(proposal.confidence, 4) if proposal.confidence is not None else None
    )
    return fields


def _guards_verdict(
    checks: tuple[GuardCheck, ...],
) -> tuple[list[GuardCheck], bool]:
    """(the failed checks, whether confidence gating is the only one failing)."""
    failed = [g for g in checks if not g.passed]
    only_confidence = bool(failed) and all(g.name == "confidence" for g in failed)
    return failed, only_confidence


def _outcome(ruling: Ruling, world: World) -> Outcome:
    proposal = ruling.proposal
    intent = proposal.intent
    expectation = proposal.expectation.id if proposal.expectation is not None else ""
    explanation: dict[str, object] = dict(proposal.explanation)
    explanation.update(_model_fields(proposal))
    explanation.setdefault("candidates", [c.as_dict() for c in proposal.candidates])
    explanation["arbitration"] = ruling.as_dict()
    base = Decision(intent.name, world.now, proposal.summary, None, explanation, expectation)
    candidate = ruling.candidate
    if candidate is None:
        if proposal.chosen is not None and ruling.conflicts:
            conflict = ruling.conflicts[0]
            summary = f"{proposal.chosen.description}: lost arbitration, {conflict.describe()}"
            explanation["chosen"] = None
            lost = Decision(
                intent.name,
                world.now,
                summary,
                None,
                explanation,
                expectation,
                held=Hold.LOST_ARBITRATION,
            )
            return Outcome(lost, ruling.conflicts)
        return Outcome(base, ruling.conflicts)
    bases = world.bases()
    plan = candidate.plan(intent.name, bases, candidate.description)
    checks = check_plan_guards(proposal, candidate, plan, world)
    explanation["guards"] = [g.as_dict() for g in checks]
    bypassed = [g for g in checks if g.bypassed]
    if bypassed:
        # the plan did not wait for measured confirmation: say on what it acts instead
        explanation["acted_on"] = "prediction"
        explanation["bypassed"] = [{"guard": g.name, "why": g.bypassed} for g in bypassed]
    explanation["plan"] = {
        "id": plan.id,
        "devices": list(plan.devices),
        "edits": [f"{c.device}: {e.describe()}" for c in plan.changes for e in c.edits],
    }
    explanation["predicted"] = dict(candidate.predicted) or None
    state = world.state(intent.name)
    quarantined = next(
        (
            state.quarantined[i]
            for i in (plan.id, *(c.id for c in plan.changes))
            if i in state.quarantined
        ),
        None,
    )
    if quarantined is not None:
        explanation["quarantined"] = plan.id
        explanation["chosen"] = None
        summary = f"{candidate.description}: quarantined, {quarantined}"
        held = Hold.QUARANTINED
        return Outcome(
            Decision(intent.name, world.now, summary, None, explanation, expectation, held=held),
            ruling.conflicts,
        )
    failed, only_confidence = _guards_verdict(checks)
    if failed:
        explanation["chosen"] = None
        names = ", ".join(g.name for g in failed)
        if only_confidence:
            summary = f"recommend: {candidate.description} (not applied: {failed[0].detail})"
            explanation["recommendation"] = explanation["plan"]
        else:
            summary = f"{candidate.description}: held back by {names}"
        # the plan stood one more tick, whatever held it back: a cooldown or a change in
        # flight must not restart its hysteresis count (the count alternated 1, 2, 1, 2...
        # through an energy intent's cooldown, so the plan never stood two ticks at its end)
        pending = "" if proposal.urgent else plan.id
        held = Hold.RECOMMEND if only_confidence else Hold.GUARD
        return Outcome(
            Decision(intent.name, world.now, summary, None, explanation, expectation, held=held),
            ruling.conflicts,
            pending=pending,
            recommended=plan if only_confidence else None,
        )
    explanation["chosen"] = plan.id
    decision = Decision(
        intent.name, world.now, candidate.description, None, explanation, expectation
    ).with_plan(plan)
    standing = standing_ticks(state, plan) if not proposal.urgent else 0
    return Outcome(
        decision,
        ruling.conflicts,
        pending=plan.id if standing else "",
        predicted=dict(candidate.predicted),
    )


def decide(world: World, *, only: Collection[str] | None = None) -> TickDecisions:
    """Decide for every active intent of ``world`` (see the module docstring).

    Args:
        world: the tick.
        only: decide for these intents alone (a loop class's tick); the others' targets
            still count in arbitration (their side effects are predicted all the same).
    """
    active = [
        i
        for i in world.intents
        if i.admin_state is not AdminState.DEACTIVATED and (only is None or i.name in only)
    ]
    proposals = [propose(intent, world) for intent in active]
    rulings = arbitrate(proposals, world)
    return TickDecisions({r.proposal.intent.name: _outcome(r, world) for r in rulings})
