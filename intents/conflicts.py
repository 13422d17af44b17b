"""Conflicts between intents at admission, reported and resolved in 28.312 terms. Pure.

TS 28.312 specifies the conflict REPORT (conflictType, conflicting intents, recommended
solutions) but no detection algorithm. netpilot detects three kinds, each from what an
expectation type's policy would do:

- contradictory targets (TARGET conflict): two expectations of one type on the same objects
  whose targets for one name no value can meet together (``latencyMs lessThan 20`` and
  ``latencyMs greaterThan 50``; a power budget that a required reduction rules out);
- sleep vs headroom (EXPECTATION conflict): an energy-saving expectation may put to sleep
  links of devices that an e2e-qos path may traverse, or that a video-experience
  expectation's access nodes need;
- priority contention (EXPECTATION conflict): two expectations that would each lift a
  different traffic class to the top scheduling priority on the same devices (e2e-qos for
  different classes, or video-experience against e2e-qos for another class): each change
  undoes the other.

When every expectation of the losing intent is overridden by one winner the conflict is an
INTENT conflict.

Resolution: the intent with the higher ``priority`` wins; the loser's expectation is
narrowed to the devices outside the overlap, or suspended where nothing is left, and an
intent left with nothing to act on is monitored only (its mode becomes dry-run). Each
intent gets notes that its status shows. Equal priorities cannot be resolved: they are
errors, and the revision is refused.

Device sets come from the inventory. Without one (``validate`` with no ``--inventory``),
label selectors cannot be resolved: a conflict that is possible is reported as possible.
Which devices a path traverses comes from ``path_devices`` when the caller knows the
topology; otherwise every device is assumed to be on the path (conservative).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from controller.errors import IntentValidationError, SourceLocation
from controller.model import (
    AdminState,
    Expectation,
    ExpectationType,
    Intent,
    IntentMode,
    Target,
    TargetCondition,
    TrafficClass,
)
from intents.inventory import Inventory
from intents.objects import Objects, describe_objects
from intents.schema import Direction, target_spec

__all__ = [
    "Conflict",
    "ConflictKind",
    "ConflictType",
    "Interval",
    "Resolution",
    "resolve_conflicts",
    "target_interval",
    "targets_contradict",
]

PathDevices = Callable[[Expectation], frozenset[str] | None]
Locations = Mapping[tuple[str, ...], SourceLocation]


class ConflictType(str, Enum):
    """28.312 conflictType."""

    INTENT = "intentConflict"
    EXPECTATION = "expectationConflict"
    TARGET = "targetConflict"


class ConflictKind(str, Enum):
    """What makes two expectations conflict."""

    CONTRADICTORY_TARGETS = "contradictory-targets"
    SLEEP_VS_HEADROOM = "sleep-vs-headroom"
    PRIORITY_CONTENTION = "priority-contention"


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Interval:
    """The values a target accepts: from ``low`` to ``high``, each end open or closed."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def meet(self, other: Interval) -> Interval | None:
        """The values in both intervals, or None when there are none."""
        if self.low == other.low:
            low, low_open = self.low, self.low_open or other.low_open
        else:
            low, low_open = max((self.low, self.low_open), (other.low, other.low_open))
        if self.high == other.high:
            high, high_open = self.high, self.high_open or other.high_open
        else:
            high, high_open = min((self.high, self.high_open), (other.high, other.high_open))
        if low < high or (low == high and not low_open and not high_open):
            return Interval(low, high, low_open, high_open)
        return None

    def intersects(self, other: Interval) -> bool:
        """Whether some value lies in both intervals."""
        return self.meet(other) is not None


def target_interval(expectation_type: ExpectationType, target: Target) -> Interval:
    """The values ``target`` accepts, within the catalogue range of its name."""
    spec = target_spec(expectation_type, target.name)
    low, high = (spec.minimum, spec.maximum) if spec else (-math.inf, math.inf)
    match target.condition:
        case TargetCondition.LESS_THAN:
            return Interval(low, target.value, high_open=True)
        case TargetCondition.LESS_THAN_OR_EQUAL:
            return Interval(low, target.value)
        case TargetCondition.GREATER_THAN:
            return Interval(target.value, high, low_open=True)
        case TargetCondition.GREATER_THAN_OR_EQUAL:
            return Interval(target.value, high)
        case TargetCondition.WITHIN_RANGE:
            return Interval(target.value, target.value if target.upper is None else target.upper)


def targets_contradict(expectation_type: ExpectationType, a: Target, b: Target) -> bool:
    """Whether no value can meet both targets (same name only)."""
    if a.name != b.name:
        return False
    return not target_interval(expectation_type, a).intersects(target_interval(expectation_type, b))


# --------------------------------------------------------------------------- device scopes


@dataclass(frozen=True, slots=True)
class _Scope:
    """Devices an expectation covers: ``devices`` None means "possibly any"."""

    devices: frozenset[str] | None
    exact: bool


def _overlap(a: _Scope, b: _Scope) -> _Scope | None:
    """Where two scopes meet; None when they certainly do not."""
    if a.devices is None and b.devices is None:
        return _Scope(None, exact=False)
    if a.devices is None or b.devices is None:
        known = a.devices if a.devices is not None else b.devices
        assert known is not None
        return _Scope(known, exact=False) if known else None
    common = a.devices & b.devices
    return _Scope(common, exact=a.exact and b.exact) if common else None


def _selection(expectation: Expectation, inventory: Inventory | None) -> _Scope:
    objects = expectation.objects
    if inventory is not None and (inventory.labels_known or not objects.select):
        return _Scope(inventory.selected(objects), exact=True)
    if objects.devices:  # the selector may narrow them further: an upper bound
        return _Scope(frozenset(objects.devices), exact=not objects.select)
    if inventory is not None:
        return _Scope(inventory.names, exact=False)
    return _Scope(None, exact=False)


def _path_scope(
    expectation: Expectation, inventory: Inventory | None, path_devices: PathDevices | None
) -> _Scope:
    """Devices an e2e-qos expectation's traffic may cross."""
    if path_devices is not None:
        known = path_devices(expectation)
        if known is not None:
            return _Scope(known, exact=True)
    if inventory is not None:
        return _Scope(inventory.names, exact=False)  # without topology: any device may be
    return _Scope(None, exact=False)


def _same_objects(pa: _Profile, pb: _Profile, inventory: Inventory | None) -> _Scope | None:
    """Where two expectations of one type (and equal keys) are about the same objects."""
    a, b = pa.expectation, pb.expectation
    if a.type is not ExpectationType.E2E_QOS:
        group_a = a.objects.subscriber_group if isinstance(a.objects, Objects) else ""
        group_b = b.objects.subscriber_group if isinstance(b.objects, Objects) else ""
        if group_a and group_b and group_a != group_b:
            return None
        if not (inventory and inventory.labels_known) and _selectors_disjoint(a, b):
            return None
    return _overlap(pa.selection, pb.selection)


def _sites(expectation: Expectation) -> object:
    objects = expectation.objects
    return objects.sites if isinstance(objects, Objects) else None


def _selectors_disjoint(a: Expectation, b: Expectation) -> bool:
    """Two label selectors that give one label different values select disjoint sets."""
    sa, sb = a.objects.select, b.objects.select
    return any(key in sb and sb[key] != value for key, value in sa.items())


# --------------------------------------------------------------------------- conflicts


@dataclass(frozen=True, slots=True)
class Conflict:
    """One conflict between two expectations of two intents.

    ``intents`` and ``expectations`` are (winner, loser) when resolved; ``winner`` is ""
    when the priorities are equal and nothing can be resolved.
    """

    type: ConflictType
    kind: ConflictKind
    intents: tuple[str, str]
    expectations: tuple[str, str]
    targets: tuple[str, ...]
    devices: tuple[str, ...]
    certain: bool
    description: str
    winner: str
    resolution: str
    locations: tuple[SourceLocation | None, SourceLocation | None] = (None, None)

    def as_dict(self) -> dict[str, object]:
        """28.312 conflict report fields, plus netpilot's detail."""
        return {
            "conflictType": self.type.value,
            "kind": self.kind.value,
            "conflictingIntents": list(self.intents),
            "conflictingExpectations": list(self.expectations),
            "conflictingTargets": list(self.targets),
            "devices": list(self.devices),
            "certain": self.certain,
            "description": self.description,
            "winner": self.winner or None,
            "recommendedSolutions": [self.resolution],
            "locations": [str(loc) if loc else None for loc in self.locations],
        }

    def describe(self) -> str:
        """One line: ``targetConflict video-a / video-b: ... -> resolution``."""
        head = f"{self.type.value} {self.intents[0]} / {self.intents[1]}"
        where = str(self.locations[1] or self.locations[0] or "")
        prefix = f"{where}: " if where else ""
        return f"{prefix}{head}: {self.description}; resolution: {self.resolution}"


@dataclass(frozen=True, slots=True)
class _Effect:
    """What the resolution does to a loser's expectation."""

    intent: str
    expectation: str
    remove: frozenset[str] | None  # devices taken away; None: the whole expectation
    note: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of conflict detection over an intent set.

    ``enforced`` is the intent set with every resolution applied: what the loop should run.
    ``notes`` are per-intent reasons for the status; ``errors`` are unresolvable conflicts.
    """

    conflicts: tuple[Conflict, ...] = ()
    enforced: tuple[Intent, ...] = ()
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    errors: tuple[IntentValidationError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every conflict was resolved."""
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Finding:
    kind: ConflictKind
    targets: tuple[str, ...]
    scope: _Scope
    text: str  # what conflicts, with {a} and {b} for the two intents


@dataclass(frozen=True, slots=True)
class _Profile:
    """What conflict detection needs of one expectation, computed once per admission."""

    expectation: Expectation
    selection: _Scope  # the devices its objects select
    needed: _Scope  # the devices whose links it needs awake (its path, or its selection)
    action: _Scope  # the devices where its policy may change configuration
    lifted: TrafficClass | None  # the class whose priority its policy raises
    intervals: Mapping[str, Interval]  # the values each target accepts
    key: tuple[object, ...]  # e2e-qos: class and path; "same objects" needs equal keys


def _profile(
    expectation: Expectation, inventory: Inventory | None, path_devices: PathDevices | None
) -> _Profile:
    selection = _selection(expectation, inventory)
    qos = expectation.type is ExpectationType.E2E_QOS
    path = _path_scope(expectation, inventory, path_devices) if qos else selection
    action = (_overlap(selection, path) or _Scope(frozenset(), exact=True)) if qos else selection
    objects = expectation.objects
    return _Profile(
        expectation=expectation,
        selection=selection,
        needed=path,
        action=action,
        lifted=_lifted_class(expectation),
        intervals={t.name: target_interval(expectation.type, t) for t in expectation.targets},
        key=(objects.traffic_class, objects.path, _sites(expectation)) if qos else (),
    )


def _detect_pair(
    pa: _Profile, pb: _Profile, inventory: Inventory | None, acting: tuple[bool, bool]
) -> _Finding | None:
    """The conflict between two expectations of two intents, if any."""
    a, b = pa.expectation, pb.expectation
    if a.type is b.type and pa.key == pb.key:
        clashing = tuple(
            name
            for name in pa.intervals
            if name in pb.intervals and not pa.intervals[name].intersects(pb.intervals[name])
        )
        same = _same_objects(pa, pb, inventory) if clashing else None
        if clashing and same is not None:
            detail = "; ".join(
                f"{ta.describe()} vs {tb.describe()}"
                for ta in a.targets
                for tb in b.targets
                if ta.name == tb.name and ta.name in clashing
            )
            return _Finding(
                ConflictKind.CONTRADICTORY_TARGETS,
                clashing,
                same,
                f"{{a}} and {{b}} set contradictory targets on "
                f"{describe_objects(a.objects)}: {detail}",
            )
    sleeper = _sleep_vs_headroom(pa, pb, inventory, acting)
    if sleeper is not None:
        return sleeper
    return _priority_contention(pa, pb, acting)


def _sleep_vs_headroom(
    pa: _Profile, pb: _Profile, inventory: Inventory | None, acting: tuple[bool, bool]
) -> _Finding | None:
    needs = (ExpectationType.E2E_QOS, ExpectationType.VIDEO_EXPERIENCE)
    a, b = pa.expectation, pb.expectation
    if a.type is ExpectationType.ENERGY_SAVING and b.type in needs and acting[0]:
        energy, other, energy_first = pa, pb, True
    elif b.type is ExpectationType.ENERGY_SAVING and a.type in needs and acting[1]:
        energy, other, energy_first = pb, pa, False
    else:
        return None
    if (
        other.expectation.type is ExpectationType.VIDEO_EXPERIENCE
        and not (inventory and inventory.labels_known)
        and _selectors_disjoint(energy.expectation, other.expectation)
    ):
        return None
    where = _overlap(energy.selection, other.needed)
    if where is None:
        return None
    objects = describe_objects(other.expectation.objects)
    what = (
        objects if other.expectation.type is ExpectationType.E2E_QOS else f"access nodes {objects}"
    )
    energy_ref, other_ref = ("{a}", "{b}") if energy_first else ("{b}", "{a}")
    return _Finding(
        ConflictKind.SLEEP_VS_HEADROOM,
        (),
        where,
        f"{energy_ref} may put to sleep links of {_devices_text(where)} that {other_ref}'s "
        f"{what} needs for its headroom",
    )


def _lifted_class(expectation: Expectation) -> TrafficClass | None:
    """The class whose priority the expectation's policy raises, if it raises one."""
    if expectation.type is ExpectationType.VIDEO_EXPERIENCE:
        return TrafficClass.VIDEO
    if expectation.type is ExpectationType.E2E_QOS and any(
        (spec := target_spec(expectation.type, t.name)) is not None
        and spec.better is Direction.LOWER
        for t in expectation.targets
    ):
        return expectation.objects.traffic_class
    return None


def _priority_contention(pa: _Profile, pb: _Profile, acting: tuple[bool, bool]) -> _Finding | None:
    if not all(acting) or pa.lifted is None or pb.lifted is None or pa.lifted is pb.lifted:
        return None
    where = _overlap(pa.action, pb.action)
    if where is None:
        return None
    return _Finding(
        ConflictKind.PRIORITY_CONTENTION,
        (),
        where,
        f"{{a}} would lift {pa.lifted.value} and {{b}} would lift {pb.lifted.value} to the top "
        f"priority on {_devices_text(where)}: each change undoes the other",
    )


def _devices_text(scope: _Scope) -> str:
    if scope.devices is None:
        return "devices the inventory would tell (pass --inventory or --config to resolve)"
    return ", ".join(sorted(scope.devices))


def _acting(intent: Intent) -> bool:
    return intent.admin_state is AdminState.ACTIVATED and intent.mode is not IntentMode.DRY_RUN


def resolve_conflicts(
    intents: Iterable[Intent],
    *,
    inventory: Inventory | None = None,
    path_devices: PathDevices | None = None,
    locations: Locations | None = None,
    twin_arbitration: bool = False,
) -> Resolution:
    """Detect conflicts between intents and apply the priority resolution.

    Args:
        intents: a loaded intent set (each one valid on its own).
        inventory: device names and labels; None leaves selectors unresolved.
        path_devices: the devices an e2e-qos expectation's path may cross, if the caller
            knows the topology (None, or a None answer: every device may be on the path).
        locations: where each ``(intent, expectation)`` is written, for the report.
        twin_arbitration: the controller checks every plan on a what-if twin against the
            other intents' targets; a sleep-vs-headroom conflict that energy saving loses
            to an e2e-qos path is then resolved at run time (its sleep plans refused where
            predicted to break the path's targets), not by narrowing the energy expectation
            away. Against video experience (whose stall ratio the twin does not predict) it
            is still narrowed.

    Returns:
        The conflicts, the enforced intent set, per-intent notes and the errors of
        conflicts that equal priorities leave unresolved.
    """
    active = [i for i in intents if i.admin_state is AdminState.ACTIVATED]
    located = locations or {}
    conflicts: list[Conflict] = []
    effects: list[_Effect] = []
    errors: list[IntentValidationError] = []
    notes: dict[str, dict[str, None]] = {}  # per intent, an ordered set of notes
    profiles = {
        intent.name: [_profile(e, inventory, path_devices) for e in intent.expectations]
        for intent in active
    }
    for i, j in sorted(_candidate_pairs(active, profiles)):
        pair = _resolve_pair(
            active[i], active[j], profiles, inventory, located, twin_arbitration=twin_arbitration
        )
        if pair is not None:
            conflicts.extend(pair.conflicts)
            effects.extend(pair.effects)
            errors.extend(pair.errors)
            for name, note in pair.notes:
                notes.setdefault(name, {})[note] = None
    by_name = {i.name: i for i in intents}
    enforced, extra_notes = _apply(by_name, effects, inventory)
    for name, note in extra_notes:
        notes.setdefault(name, {})[note] = None
    return Resolution(
        conflicts=tuple(conflicts),
        enforced=enforced,
        notes={name: tuple(items) for name, items in sorted(notes.items())},  # keys, in order
        errors=tuple(errors),
    )


def _all_meet(intervals: list[Interval]) -> bool:
    """Whether one value lies in every interval (for intervals on a line: iff every pair meets)."""
    common: Interval | None = intervals[0]
    for interval in intervals[1:]:
        common = common.meet(interval) if common is not None else None
    return common is not None


Owner = tuple[int, _Profile]  # an expectation's profile and the index of its intent


def _candidate_pairs(
    active: Sequence[Intent], profiles: Mapping[str, list[_Profile]]
) -> set[tuple[int, int]]:
    """Pairs of intents (indices, i < j) that may conflict: every other pair cannot.

    This keeps admission near-linear for large sets of compatible intents. Contradictory
    targets need one type and one key; within such a bucket, when one value meets every
    target of a name, no two of them contradict. Sleep-vs-headroom needs an energy-saving
    expectation; priority contention needs two different lifted classes.
    """
    owners = [(i, p) for i, intent in enumerate(active) for p in profiles[intent.name]]
    # only an intent that acts can sleep links or lift a class
    acting = [(i, p) for i, p in owners if _acting(active[i])]
    found = [*_target_pairs(owners), *_sleep_pairs(owners, acting), *_contention_pairs(acting)]
    return {(min(i, j), max(i, j)) for i, j in found if i != j}


def _target_pairs(owners: list[Owner]) -> Iterator[tuple[int, int]]:
    buckets: dict[tuple[object, ...], list[Owner]] = {}
    for i, profile in owners:
        buckets.setdefault((profile.expectation.type, *profile.key), []).append((i, profile))
    for members in buckets.values():
        names = {name for _, p in members for name in p.intervals} if len(members) > 1 else set()
        for name in names:
            having = [(i, p.intervals[name]) for i, p in members if name in p.intervals]
            if _all_meet([interval for _, interval in having]):
                continue
            for x, (i, first) in enumerate(having):
                yield from ((i, j) for j, second in having[x + 1 :] if not first.intersects(second))


def _sleep_pairs(owners: list[Owner], acting: list[Owner]) -> Iterator[tuple[int, int]]:
    energy = ExpectationType.ENERGY_SAVING
    sleepers = [i for i, p in acting if p.expectation.type is energy]
    needers = [i for i, p in owners if p.expectation.type is not energy]
    return ((i, j) for i in sleepers for j in needers)


def _contention_pairs(owners: list[Owner]) -> Iterator[tuple[int, int]]:
    by_class: dict[TrafficClass, list[int]] = {}
    for i, p in owners:
        if p.lifted is not None:
            by_class.setdefault(p.lifted, []).append(i)
    classes = sorted(by_class, key=lambda c: c.value)
    for index, first in enumerate(classes):
        for second in classes[index + 1 :]:
            yield from ((i, j) for i in by_class[first] for j in by_class[second])


@dataclass
class _PairOutcome:
    conflicts: list[Conflict] = field(default_factory=list)
    effects: list[_Effect] = field(default_factory=list)
    errors: list[IntentValidationError] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)


def _resolve_pair(
    first: Intent,
    second: Intent,
    profiles: Mapping[str, list[_Profile]],
    inventory: Inventory | None,
    located: Locations,
    *,
    twin_arbitration: bool = False,
) -> _PairOutcome | None:
    outcome = _PairOutcome()
    if first.priority >= second.priority:
        winner, loser = first, second
    else:
        winner, loser = second, first
    tied = first.priority == second.priority
    acting = (_acting(winner), _acting(loser))
    found: list[tuple[Expectation, Expectation, _Finding]] = []
    for pw in profiles[winner.name]:
        for pl in profiles[loser.name]:
            finding = _detect_pair(pw, pl, inventory, acting)
            if finding is not None:
                found.append((pw.expectation, pl.expectation, finding))
    if not found:
        return None
    overridden = {el.id for _, el, _ in found}
    whole_intent = bool(found) and overridden == {e.id for e in loser.expectations}
    for ew, el, finding in found:
        text = finding.text.format(a=winner.name, b=loser.name)
        conflict_type = (
            ConflictType.INTENT
            if whole_intent
            else ConflictType.TARGET
            if finding.kind is ConflictKind.CONTRADICTORY_TARGETS
            else ConflictType.EXPECTATION
        )
        where = (located.get((winner.name, ew.id)), located.get((loser.name, el.id)))
        devices = tuple(sorted(finding.scope.devices or ()))
        if tied:
            resolution = (
                f"give {winner.name} or {loser.name} a higher priority (both are "
                f"{winner.priority}), or change one so they no longer overlap"
            )
            conflict = Conflict(
                conflict_type,
                finding.kind,
                (winner.name, loser.name),
                (ew.id, el.id),
                finding.targets,
                devices,
                finding.scope.exact,
                text,
                "",
                resolution,
                where,
            )
            location = where[1] or where[0] or loser.location or SourceLocation("?", 1, 1)
            errors_field = f"spec.expectations[{el.id}]"
            outcome.errors.append(
                IntentValidationError(
                    location,
                    errors_field,
                    f"unresolvable {conflict_type.value}: {text}",
                    hint=resolution,
                )
            )
            outcome.conflicts.append(conflict)
            continue
        # an upper bound of the overlap is removed when the exact one is unknown: safe side
        remove = finding.scope.devices
        if finding.kind is ConflictKind.SLEEP_VS_HEADROOM and el.type is not (
            ExpectationType.ENERGY_SAVING
        ):
            # the winner sleeps links; nothing the loser does can be held back for it
            effect_text = (
                f"{el.id} may miss its targets while {winner.name} (priority "
                f"{winner.priority} > {loser.priority}) saves energy"
            )
            resolution = f"{winner.name} wins: {effect_text}"
            outcome.notes.append((loser.name, f"conflict: {resolution}"))
        elif (
            finding.kind is ConflictKind.SLEEP_VS_HEADROOM
            and twin_arbitration
            and ew.type is ExpectationType.E2E_QOS
        ):
            # every sleep plan is checked on the twin against the path's latency and loss
            # before it is applied (policies.arbitration): only the plans that would hurt are
            # refused. (The twin does not predict a stall ratio: against video-experience the
            # energy expectation is still narrowed here.)
            resolution = (
                f"{winner.name} wins (priority {winner.priority} > {loser.priority}): "
                f"{loser.name}'s sleep plans for {el.id} are checked on the what-if twin "
                f"and refused where they are predicted to break {winner.name}'s targets"
            )
            outcome.notes.append((loser.name, f"conflict: {resolution}"))
        else:
            scope_text = f"at {', '.join(sorted(remove))}" if remove is not None else "anywhere"
            resolution = (
                f"{winner.name} wins (priority {winner.priority} > {loser.priority}): "
                f"{loser.name}'s expectation {el.id} is not acted on {scope_text}"
            )
            outcome.effects.append(
                _Effect(loser.name, el.id, remove, f"overridden by {winner.name}: {text}")
            )
            outcome.notes.append((loser.name, f"conflict: {resolution}"))
        outcome.notes.append(
            (winner.name, f"conflict with {loser.name} resolved in this intent's favour")
        )
        outcome.conflicts.append(
            Conflict(
                conflict_type,
                finding.kind,
                (winner.name, loser.name),
                (ew.id, el.id),
                finding.targets,
                devices,
                finding.scope.exact,
                text,
                winner.name,
                resolution,
                where,
            )
        )
    return outcome


def _apply(
    intents: Mapping[str, Intent], effects: list[_Effect], inventory: Inventory | None
) -> tuple[tuple[Intent, ...], list[tuple[str, str]]]:
    """The intent set with each loser's expectations narrowed or suspended."""
    removed: dict[tuple[str, str], frozenset[str] | None] = {}
    for effect in effects:
        key = (effect.intent, effect.expectation)
        if key in removed and removed[key] is None:
            continue
        if effect.remove is None:
            removed[key] = None
        else:
            removed[key] = (removed.get(key) or frozenset()) | effect.remove
    notes: list[tuple[str, str]] = []
    enforced: list[Intent] = []
    for name in sorted(intents):
        intent = intents[name]
        kept: list[Expectation] = []
        for expectation in intent.expectations:
            key = (name, expectation.id)
            if key not in removed:
                kept.append(expectation)
                continue
            narrowed = _narrow(expectation, removed[key], inventory)
            if narrowed is not None:
                kept.append(narrowed)
        if len(kept) == len(intent.expectations) and all(
            k is e for k, e in zip(kept, intent.expectations, strict=True)
        ):
            enforced.append(intent)
        elif kept:
            enforced.append(replace(intent, expectations=tuple(kept)))
        else:
            # nothing left to act on: keep watching the targets, change nothing
            enforced.append(replace(intent, mode=IntentMode.DRY_RUN))
            notes.append((name, "monitored only: every expectation is overridden by a conflict"))
    return tuple(enforced), notes


def _narrow(
    expectation: Expectation, remove: frozenset[str] | None, inventory: Inventory | None
) -> Expectation | None:
    """The expectation without the removed devices; None when nothing is left."""
    if remove is None or inventory is None:
        return None
    remaining = inventory.selected(expectation.objects) - remove
    if not remaining:
        return None
    # an explicit device list: an empty one would mean "every device", so never empty here
    objects = replace(expectation.objects, devices=tuple(sorted(remaining)))
    return replace(expectation, objects=objects)
