"""Intents as plain data, and semantic diffs between two intent sets. Pure.

:func:`intent_to_dict` renders an intent in the file's own shape with every default written
out, so two files that mean the same thing render the same. Diffs compare those renderings
field by field, with expectations keyed by id, targets and contexts by name: reordering a
list, writing a default out or leaving it implicit, or reformatting YAML is never a change.
(Argo CD users know the opposite, argo-cd #1487: drift reported for what is only notation.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.model import Expectation, ExpectationObjects, Intent, Target, TargetCondition
from intents.objects import Objects
from intents.schema import API_VERSION, CATALOGUE, KIND, ContextKind

__all__ = [
    "FieldChange",
    "IntentChange",
    "IntentSetDiff",
    "diff_intent_sets",
    "flatten_intent",
    "intent_to_dict",
]


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def target_to_dict(target: Target) -> dict[str, object]:
    """One target as it is written in a file."""
    data: dict[str, object] = {"name": target.name, "condition": target.condition.value}
    if target.condition is TargetCondition.WITHIN_RANGE:
        upper = target.value if target.upper is None else target.upper
        data["range"] = [_number(target.value), _number(upper)]
    else:
        data["value"] = _number(target.value)
    if target.unit:
        data["unit"] = target.unit
    return data


def objects_to_dict(objects: ExpectationObjects) -> dict[str, object]:
    """Expectation objects as they are written in a file."""
    data: dict[str, object] = {}
    if objects.traffic_class is not None:
        data["trafficClass"] = objects.traffic_class.value
    if objects.path is not None:
        data["path"] = {"from": objects.path.source, "to": objects.path.destination}
    if isinstance(objects, Objects) and objects.sites is not None:
        data["sites"] = {"from": objects.sites.source, "to": objects.sites.destination}
    if objects.select:
        data["select"] = dict(sorted(objects.select.items()))
    if objects.devices:
        data["devices"] = list(objects.devices)
    if isinstance(objects, Objects):
        if objects.subscriber_group:
            data["subscriberGroup"] = objects.subscriber_group
        if objects.resources:
            data["resources"] = list(objects.resources)
    return data


def expectation_to_dict(expectation: Expectation) -> dict[str, object]:
    """One expectation as it is written in a file (defaults written out)."""
    spec = CATALOGUE[expectation.type]
    contexts: list[dict[str, object]] = []
    for name, value in sorted(expectation.contexts.items()):
        context = spec.context(name)
        typed: object = int(value) if context and context.kind is ContextKind.SECONDS else value
        contexts.append({"name": name, "value": typed})
    data: dict[str, object] = {
        "id": expectation.id,
        "type": expectation.type.value,
        "verb": expectation.verb.value,
        "objects": objects_to_dict(expectation.objects),
        "targets": [target_to_dict(t) for t in expectation.targets],
    }
    if contexts:
        data["contexts"] = contexts
    return data


def intent_to_dict(intent: Intent) -> dict[str, object]:
    """An intent as a file would say it, every default written out (``describe``, diffs)."""
    metadata: dict[str, object] = {"name": intent.name}
    if intent.labels:
        metadata["labels"] = dict(sorted(intent.labels.items()))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "priority": intent.priority,
            "adminState": intent.admin_state.value,
            "mode": intent.mode.value,
            "expectations": [expectation_to_dict(e) for e in intent.expectations],
            "guards": {
                "maxChangesPerHour": intent.guards.max_changes_per_hour,
                "maxDevicesPerChange": intent.guards.max_devices_per_change,
                "cooldownSeconds": _number(intent.guards.cooldown.total_seconds()),
            },
        },
    }


# Lists whose items are identified by a key, so their order never matters.
_LIST_KEYS = {"expectations": "id", "targets": "name", "contexts": "name"}


def flatten_intent(intent: Intent) -> dict[str, object]:
    """Every leaf of :func:`intent_to_dict` as ``dotted.path -> value``, order-free."""
    leaves: dict[str, object] = {}
    _flatten(intent_to_dict(intent), "", leaves)
    return leaves


def _flatten(value: object, path: str, leaves: dict[str, object]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), leaves)
        return
    list_key = _LIST_KEYS.get(path.rsplit(".", 1)[-1])
    if isinstance(value, list) and list_key is not None:
        for item in value:
            assert isinstance(item, Mapping)
            _flatten(item, f"{path}[{item[list_key]}]", leaves)
        return
    if isinstance(value, list) and path.endswith(".devices"):
        leaves[path] = sorted(value)  # a set of names: order carries no meaning
        return
    leaves[path] = value


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: ``old`` None means added, ``new`` None means removed."""

    path: str
    old: object
    new: object

    def describe(self) -> str:
        """``spec.priority: 50 -> 100``."""
        old = "-" if self.old is None else _show(self.old)
        new = "-" if self.new is None else _show(self.new)
        return f"{self.path}: {old} -> {new}"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "old": self.old, "new": self.new}


def _show(value: object) -> str:
    return str(value) if not isinstance(value, str) else repr(value)


@dataclass(frozen=True, slots=True)
class IntentChange:
    """An intent present on both sides whose meaning changed."""

    name: str
    changes: tuple[FieldChange, ...]

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "changes": [c.as_dict() for c in self.changes]}


@dataclass(frozen=True, slots=True)
class IntentSetDiff:
    """What changed between two intent sets, by intent name."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[IntentChange, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when both sets mean the same."""
        return not (self.added or self.removed or self.changed)

    def touched(self) -> frozenset[str]:
        """Names of intents added or changed (what a new revision is to blame for)."""
        return frozenset(self.added) | {c.name for c in self.changed}

    def as_dict(self) -> dict[str, object]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [c.as_dict() for c in self.changed],
            "unchanged": list(self.unchanged),
        }

    def lines(self) -> list[str]:
        """A readable diff: ``+ name``, ``- name``, ``~ name`` with one line per field."""
        out = [f"+ {name}" for name in self.added]
        out += [f"- {name}" for name in self.removed]
        for change in self.changed:
            out.append(f"~ {change.name}")
            out += [f"    {c.describe()}" for c in change.changes]
        return out


def diff_intent_sets(old: Iterable[Intent], new: Iterable[Intent]) -> IntentSetDiff:
    """The semantic difference from ``old`` to ``new``."""
    before = {i.name: flatten_intent(i) for i in old}
    after = {i.name: flatten_intent(i) for i in new}
    changed: list[IntentChange] = []
    unchanged: list[str] = []
    for name in sorted(before.keys() & after.keys()):
        a, b = before[name], after[name]
        fields = tuple(
            FieldChange(path, a.get(path), b.get(path))
            for path in sorted(a.keys() | b.keys())
            if a.get(path) != b.get(path)
        )
        if fields:
            changed.append(IntentChange(name, fields))
        else:
            unchanged.append(name)
    return IntentSetDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
    )
