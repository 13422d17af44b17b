"""Arbitration across intents: who acts this tick, and what each action does to the others.

Every intent's policy proposes on its own (:mod:`policies.base`); here the proposals meet.
Pure: proposals and the tick's world in, one :class:`Ruling` per proposal out.

The rules, in order:

1. Proposals are taken by intent ``priority`` (higher first); at equal priority one that
   restores a missed target goes before one that optimises, then by name.
2. A candidate may not touch a leaf an earlier (winning) plan of this tick sets to another
   value, nor a device an earlier plan changes (one transaction per device): an **action
   contention**.
3. Its **predicted side effects** are computed on the what-if twin with every earlier
   winner's configuration in place: each other intent's targets that the twin can show
   (e2e-qos latency and loss, energy utilisation headroom) before and after. A candidate
   that would make another intent's target miss (or miss by more) is refused when that
   intent's priority is higher or equal, or when the candidate only optimises; when the
   other intent has a lower priority and the candidate restores a missed target, the
   candidate goes ahead and the *other* intent is told (its conflict report names the
   winner).
4. A refused candidate gives way to the proposal's next candidate that is predicted to meet
   its target; only when none is left does the proposal lose.

Every loss is a :class:`RuntimeConflict` in TS 28.312 terms (``conflictType``:
intentConflict / expectationConflict / targetConflict, the conflicting intents,
expectations and targets, and the recommended solution applied) for the loser's status.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from controller.model import ConfigPath, DeviceConfig, Expectation, ExpectationType, Intent
from intents.conflicts import ConflictType
from policies.base import Candidate, Proposal, World
from policies.predict import meets, twin_targets

__all__ = ["ConflictCause", "Ruling", "RuntimeConflict", "arbitrate", "side_effects"]

_TOLERANCE = 1e-6


class ConflictCause(str, Enum):
    """What made two intents' actions conflict at run time."""

    ACTION_CONTENTION = "action-contention"  # the same leaf or device in one tick
    SIDE_EFFECT = "predicted-side-effect"  # the twin predicts a target of the other missed


@dataclass(frozen=True, slots=True)
class RuntimeConflict:
    """A conflict found at run time, for the status of the intent it concerns.

    ``intents``, ``expectations`` and ``targets`` are (winner, loser) like the admission
    conflicts of :mod:`intents.conflicts`.
    """

    type: ConflictType
    cause: ConflictCause
    intents: tuple[str, str]
    expectations: tuple[str, str]
    targets: tuple[str, ...]
    devices: tuple[str, ...]
    description: str
    resolution: str
    predicted: Mapping[str, float] = field(default_factory=dict)

    @property
    def winner(self) -> str:
        return self.intents[0]

    @property
    def loser(self) -> str:
        return self.intents[1]

    def as_dict(self) -> dict[str, object]:
        """28.312 conflict report fields, plus netpilot's detail."""
        return {
            "conflictType": self.type.value,
            "kind": self.cause.value,
            "conflictingIntents": list(self.intents),
            "conflictingExpectations": list(self.expectations),
            "conflictingTargets": list(self.targets),
            "devices": list(self.devices),
            "description": self.description,
            "winner": self.winner,
            "recommendedSolutions": [self.resolution],
            "predicted": {k: round(v, 6) for k, v in self.predicted.items()},
        }

    def describe(self) -> str:
        """One line for a status reason."""
        return (
            f"{self.type.value} with {self.winner}: {self.description}; "
            f"resolution: {self.resolution}"
        )


@dataclass(frozen=True, slots=True)
class Ruling:
    """What arbitration made of one proposal.

    Args:
        proposal: the intent's proposal.
        candidate: the action that may go ahead (None: nothing, or it lost).
        conflicts: conflicts that concern this intent (as loser, or as the one told that a
            higher-priority restoration costs it).
        effects: per considered candidate (its description), the predicted side effects on
            other intents' targets: ``"intent/expectation/target" -> (before, after)``.
        replaced: the description of the policy's first choice when another candidate won.
    """

    proposal: Proposal
    candidate: Candidate | None
    conflicts: tuple[RuntimeConflict, ...] = ()
    effects: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    replaced: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "outcome": (
                "no action proposed"
                if self.proposal.chosen is None
                else "won"
                if self.candidate is not None and not self.replaced
                else f"won with an alternative to: {self.replaced}"
                if self.candidate is not None
                else "lost"
            ),
            "conflicts": [c.as_dict() for c in self.conflicts],
            "side_effects": {
                desc: {k: [round(b, 6), round(a, 6)] for k, (b, a) in effects.items()}
                for desc, effects in self.effects.items()
            },
        }


def _order(proposal: Proposal) -> tuple[int, int, str]:
    return (-proposal.intent.priority, 0 if proposal.urgent else 1, proposal.intent.name)


def _visible_targets(intent: Intent, expectation: Expectation) -> bool:
    return expectation.type in (ExpectationType.E2E_QOS, ExpectationType.ENERGY_SAVING)


def side_effects(
    candidate: Candidate,
    owner: Intent,
    world: World,
    configs: Mapping[str, DeviceConfig],
) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Each other intent's targets (that the twin shows) before and after ``candidate``.

    Args:
        candidate: the action.
        owner: the intent proposing it (its own targets are the policy's business).
        world: the tick; needs the twin and its view (else no effects are known).
        configs: the configurations already decided this tick (earlier winners).

    Returns:
        ``(intent, expectation, target) -> (before, after)`` in the target's unit.
    """
    twin, view = world.twin, world.view
    if twin is None or view is None:
        return {}
    bases = {**world.bases(), **configs}
    try:
        after_configs = {**configs, **candidate.desired(bases)}
    except ValueError:
        return {}
    before_state = twin.what_if(view, configs) if configs else view.state
    after_state = twin.what_if(view, after_configs)
    effects: dict[tuple[str, str, str], tuple[float, float]] = {}
    for other in world.intents:
        if other.name == owner.name:
            continue
        for expectation in other.expectations:
            if not _visible_targets(other, expectation):
                continue
            selected = world.selected(expectation)
            before = twin_targets(expectation, before_state, selected)
            after = twin_targets(expectation, after_state, selected)
            for name, value in after.items():
                if name in before:
                    effects[(other.name, expectation.id, name)] = (before[name], value)
    return effects


def _harmed(
    expectation: Expectation, target_name: str, before: float, after: float, headroom: float
) -> bool:
    """Whether going from ``before`` to ``after`` breaks the target (or worsens a miss)."""
    target = next((t for t in expectation.targets if t.name == target_name), None)
    if target is None or math.isclose(before, after, rel_tol=1e-9, abs_tol=_TOLERANCE):
        return False
    if meets(target, after, headroom=headroom):
        return False
    if not meets(target, before, headroom=headroom):
        # already missing: only getting further away harms
        return abs(after - target.value) > abs(before - target.value) + _TOLERANCE
    return True


@dataclass
class _Table:
    """What the winners so far have claimed (mutable, local to one arbitration)."""

    configs: dict[str, DeviceConfig] = field(default_factory=dict)
    leaves: dict[tuple[str, ConfigPath], tuple[str, str | None]] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)  # device -> winning intent


def _contention(
    proposal: Proposal, candidate: Candidate, table: _Table, by_name: Mapping[str, Intent]
) -> RuntimeConflict | None:
    for device, edits in candidate.edits.items():
        for edit in edits:
            claim = table.leaves.get((device, edit.path))
            if claim is not None and claim[1] != edit.new:
                return _conflict(
                    by_name[claim[0]],
                    proposal,
                    ConflictCause.ACTION_CONTENTION,
                    (),
                    (device,),
                    f"{device} {'/'.join(edit.path)}: {claim[0]} sets {claim[1]}, "
                    f"{proposal.intent.name} would set {edit.new}",
                )
        winner = table.devices.get(device)
        if winner is not None:
            return _conflict(
                by_name[winner],
                proposal,
                ConflictCause.ACTION_CONTENTION,
                (),
                (device,),
                f"{device} is already being changed for {winner} this tick",
            )
    return None


def _conflict(
    winner: Intent,
    loser: Proposal,
    cause: ConflictCause,
    targets: tuple[str, ...],
    devices: tuple[str, ...],
    description: str,
    *,
    winner_expectation: str = "",
    predicted: Mapping[str, float] | None = None,
    resolution: str = "",
) -> RuntimeConflict:
    loser_expectation = loser.expectation.id if loser.expectation is not None else ""
    kind = ConflictType.TARGET if targets else ConflictType.EXPECTATION
    if len(loser.intent.expectations) == 1 and not targets:
        kind = ConflictType.INTENT
    return RuntimeConflict(
        type=kind,
        cause=cause,
        intents=(winner.name, loser.intent.name),
        expectations=(winner_expectation, loser_expectation),
        targets=targets,
        devices=devices,
        description=description,
        resolution=resolution
        or (
            f"{winner.name} wins (priority {winner.priority} over {loser.intent.priority}): "
            f"{loser.intent.name} does not act now"
        ),
        predicted=dict(predicted or {}),
    )


def _judge_effects(
    proposal: Proposal,
    candidate: Candidate,
    effects: Mapping[tuple[str, str, str], tuple[float, float]],
    by_name: Mapping[str, Intent],
    world: World,
) -> tuple[RuntimeConflict | None, list[RuntimeConflict]]:
    """(the conflict that refuses the candidate, conflicts to tell lower intents)."""
    told: list[RuntimeConflict] = []
    own = proposal.intent
    for (name, expectation_id, target), (before, after) in sorted(effects.items()):
        other = by_name[name]
        expectation = next(e for e in other.expectations if e.id == expectation_id)
        if not _harmed(expectation, target, before, after, world.settings.min_headroom):
            continue
        bound = next(t for t in expectation.targets if t.name == target).describe()
        description = (
            f"{candidate.description} is predicted to take {name}'s {target} from "
            f"{before:.4g} to {after:.4g} ({bound})"
        )
        if other.priority >= own.priority or not proposal.urgent:
            refusal = _conflict(
                other,
                proposal,
                ConflictCause.SIDE_EFFECT,
                (target,),
                candidate.devices,
                description,
                winner_expectation=expectation_id,
                predicted={"before": before, "after": after},
                resolution=(
                    f"refused: it would break {name} (priority {other.priority}); "
                    f"{own.name} (priority {own.priority}) "
                    + ("restores a target" if proposal.urgent else "only optimises")
                ),
            )
            return refusal, []
        told.append(
            RuntimeConflict(
                type=ConflictType.TARGET,
                cause=ConflictCause.SIDE_EFFECT,
                intents=(own.name, name),
                expectations=(
                    proposal.expectation.id if proposal.expectation else "",
                    expectation_id,
                ),
                targets=(target,),
                devices=candidate.devices,
                description=description,
                resolution=(
                    f"{own.name} (priority {own.priority}) restores its target first; "
                    f"{name} (priority {other.priority}) bears the effect"
                ),
                predicted={"before": before, "after": after},
            )
        )
    return None, told


def _rule(
    proposal: Proposal,
    table: _Table,
    by_name: Mapping[str, Intent],
    world: World,
) -> tuple[Ruling, list[RuntimeConflict]]:
    """The ruling on one proposal given the winners so far; conflicts to tell others."""
    assert proposal.chosen is not None
    alternatives = [proposal.chosen] + [
        c for c in proposal.candidates if c is not proposal.chosen and c.meets_target
    ]
    effects_seen: dict[str, Mapping[str, tuple[float, float]]] = {}
    refusals: list[RuntimeConflict] = []
    for candidate in alternatives:
        contention = _contention(proposal, candidate, table, by_name)
        if contention is not None:
            refusals.append(contention)
            continue
        effects = side_effects(candidate, proposal.intent, world, table.configs)
        effects_seen[candidate.description] = {"/".join(k): v for k, v in effects.items()}
        refusal, to_tell = _judge_effects(proposal, candidate, effects, by_name, world)
        if refusal is not None:
            refusals.append(refusal)
            continue
        _claim(table, proposal.intent.name, candidate, world)
        replaced = proposal.chosen.description if candidate is not proposal.chosen else ""
        return Ruling(proposal, candidate, (), effects_seen, replaced), to_tell
    return Ruling(proposal, None, _decisive(refusals), effects_seen), []


def _decisive(refusals: Sequence[RuntimeConflict]) -> tuple[RuntimeConflict, ...]:
    """One conflict per winning intent: a predicted target conflict says more than a
    contention over a device, so it is the one reported when both happened."""
    by_winner: dict[str, RuntimeConflict] = {}
    for conflict in refusals:
        kept = by_winner.get(conflict.winner)
        if kept is None or (
            kept.cause is ConflictCause.ACTION_CONTENTION
            and conflict.cause is ConflictCause.SIDE_EFFECT
        ):
            by_winner[conflict.winner] = conflict
    return tuple(by_winner.values())


def _claim(table: _Table, intent: str, candidate: Candidate, world: World) -> None:
    """Record a winner's configuration, leaves and devices."""
    bases = {**world.bases(), **table.configs}
    with contextlib.suppress(ValueError):  # an edit the model lacks: the device refuses it
        table.configs.update(candidate.desired(bases))
    for device, edits in candidate.edits.items():
        table.devices[device] = intent
        for edit in edits:
            table.leaves[(device, edit.path)] = (intent, edit.new)


def arbitrate(proposals: Sequence[Proposal], world: World) -> tuple[Ruling, ...]:
    """Rule on every proposal of one tick (see the module docstring).

    Returns:
        One ruling per proposal, in the order of ``proposals``.
    """
    by_name = {p.intent.name: p.intent for p in proposals}
    for intent in world.intents:
        by_name.setdefault(intent.name, intent)
    table = _Table()
    rulings: dict[int, Ruling] = {}
    told: dict[str, list[RuntimeConflict]] = {}
    for index in sorted(range(len(proposals)), key=lambda i: _order(proposals[i])):
        proposal = proposals[index]
        if proposal.chosen is None:
            rulings[index] = Ruling(proposal, None)
            continue
        rulings[index], to_tell = _rule(proposal, table, by_name, world)
        for conflict in to_tell:
            told.setdefault(conflict.loser, []).append(conflict)
    result = []
    for index in range(len(proposals)):
        ruling = rulings[index]
        extra = told.get(ruling.proposal.intent.name, [])
        if extra:
            ruling = replace(ruling, conflicts=(*ruling.conflicts, *extra))
        result.append(ruling)
    return tuple(result)
