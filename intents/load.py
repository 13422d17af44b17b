"""Intent files -> :class:`~controller.model.Intent` values. Pure: text in, intents out.

An intent file holds one or more YAML documents, each a Kubernetes-style envelope around a
3GPP TS 28.312-shaped body (the fields and their meaning: :mod:`intents.schema` and
docs/intents.md)::

    apiVersion: netpilot/v1
    kind: Intent
    metadata: {name: video-west-east, labels: {team: noc}}
    spec:
      priority: 100
      adminState: activated          # activated | deactivated
      mode: auto                     # auto | approve | dry-run
      expectations:
        - id: video-latency
          type: e2e-qos
          verb: ensure
          objects: {trafficClass: video, path: {from: r1, to: r4}}
          targets:
            - {name: latencyMs, condition: lessThan, value: 30}
      guards: {maxChangesPerHour: 6, maxDevicesPerChange: 1, cooldownSeconds: 120}

Checks, each reported as ``FILE:LINE:COLUMN: field: message (expected ...); hint: ...``:
syntax (no anchors/aliases, UTF-8, size), the envelope, every field's type, names, units
and ranges (the catalogue), references (devices, label keys and values, sites of the
inventory; a selector that selects no device), duplicates (intent names across files,
expectation ids, target and context names), and contradictions within one intent (targets
no value can meet together, a bound that can never be met). Every independent error of a
document is reported in one run: the envelope's fields, each spec field (priority,
adminState, mode, each guard), and the objects, targets and contexts of every expectation.

What the running controller cannot honour is checked against a :class:`Support`: an error
when ignoring it would act against the file (``mode: approve``, a ``timeWindow`` on an
enforced expectation), a warning when the intent is merely not enforced yet.

A set of files loads as a whole or not at all: :func:`load_intent_set` returns every error
it found and no intents when there is any error, so a broken revision is never half-applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import TypeVar

import yaml

from controller.errors import IntentValidationError, SourceLocation
from controller.model import (
    AdminState,
    Device,
    Expectation,
    ExpectationType,
    ExpectationVerb,
    Guards,
    Intent,
    IntentMode,
    PathRef,
    Target,
    TargetCondition,
    TrafficClass,
)
from intents.conflicts import targets_contradict
from intents.contexts import parse_time_window
from intents.diff import flatten_intent
from intents.inventory import Inventory
from intents.objects import Objects, SitePair
from intents.schema import (
    API_VERSION,
    CATALOGUE,
    KIND,
    PRIORITY_DEFAULT,
    PRIORITY_MAX,
    SLEEP_RESOURCES,
    ContextKind,
    Direction,
    ExpectationSpec,
    ObjectField,
    TargetSpec,
)
from intents.support import CURRENT_SUPPORT, Support
from intents.yamldoc import Mapping as Fields
from intents.yamldoc import Node, did_you_mean, parse_documents

__all__ = [
    "SUPPORTED_MODES",
    "IntentSet",
    "IntentSource",
    "IntentWarning",
    "Locations",
    "dump_intents",
    "load_intent_set",
    "parse_intent",
]

SUPPORTED_MODES = tuple(m for m in IntentMode if m in CURRENT_SUPPORT.modes)

# (intent,) / (intent, expectation id) / (intent, expectation id, target name) -> where
Locations = Mapping[tuple[str, ...], SourceLocation]


@dataclass(frozen=True, slots=True)
class IntentSource:
    """One file's text and the name to report it under."""

    file: str
    text: str | bytes


@dataclass(frozen=True, slots=True)
class IntentWarning:
    """Something valid that this controller will not carry out (the intent still loads)."""

    location: SourceLocation
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.location}: {self.field}" if self.field else str(self.location)
        text = f"{where}: warning: {self.message}"
        return f"{text}; hint: {self.hint}" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class IntentSet:
    """The outcome of loading a set of files: intents, or the errors, never both."""

    intents: tuple[Intent, ...]
    errors: tuple[IntentValidationError, ...]
    warnings: tuple[IntentWarning, ...] = ()
    locations: Locations = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


_Part = TypeVar("_Part")


@dataclass
class _Parse:
    """What one document's parse collects (local to one call, never shared)."""

    inventory: Inventory | None
    support: Support
    errors: list[IntentValidationError] = field(default_factory=list)
    warnings: list[IntentWarning] = field(default_factory=list)
    locations: dict[tuple[str, ...], SourceLocation] = field(default_factory=dict)

    def warn(self, node: Node, message: str, hint: str = "") -> None:
        self.warnings.append(IntentWarning(node.location, node.field, message, hint))


def load_intent_set(
    sources: Iterable[IntentSource],
    *,
    known_devices: frozenset[str] | None = None,
    inventory: Inventory | Iterable[Device] | None = None,
    support: Support = CURRENT_SUPPORT,
) -> IntentSet:
    """Load every intent of every source, all or nothing.

    Args:
        sources: the files' texts.
        known_devices: inventory device names (labels unknown); references to other devices
            are errors. Ignored when ``inventory`` is given.
        inventory: the inventory (devices with labels): device, label and site references
            are checked against it. Neither given skips the reference checks.
        support: what the running controller can honour.

    Returns:
        The intents sorted by name, or every error found and no intents.
    """
    index = _inventory(inventory, known_devices)
    intents: list[Intent] = []
    errors: list[IntentValidationError] = []
    warnings: list[IntentWarning] = []
    locations: dict[tuple[str, ...], SourceLocation] = {}
    seen: dict[str, Intent] = {}
    for source in sources:
        try:
            documents = list(parse_documents(source.text, source.file))
        except IntentValidationError as exc:
            errors.append(exc)
            continue
        if not documents:
            warnings.append(
                IntentWarning(
                    SourceLocation(source.file, 1, 1),
                    "",
                    "file has no intent (it is empty or holds only comments)",
                    hint="remove the file, or write an intent in it",
                )
            )
        for document in documents:
            parse = _Parse(index, support)
            intent = _parse_document(document, parse)
            # in the order of the file (the spec's fields are checked before its guards)
            errors.extend(sorted(parse.errors, key=lambda e: (e.location.line, e.location.column)))
            if intent is None:
                continue
            if intent.name in seen:
                first = seen[intent.name].location
                errors.append(
                    IntentValidationError(
                        intent.location or document.location,
                        "metadata.name",
                        f"duplicate intent name {intent.name!r} (first defined at {first})",
                        hint="intent names must be unique across the directory",
                    )
                )
                continue
            seen[intent.name] = intent
            intents.append(intent)
            warnings.extend(parse.warnings)
            locations.update(parse.locations)
    if errors:
        return IntentSet(intents=(), errors=tuple(errors), warnings=tuple(warnings))
    return IntentSet(
        intents=tuple(sorted(intents, key=lambda i: i.name)),
        errors=(),
        warnings=tuple(warnings),
        locations=locations,
    )


def _inventory(
    inventory: Inventory | Iterable[Device] | None, known_devices: frozenset[str] | None
) -> Inventory | None:
    if isinstance(inventory, Inventory):
        return inventory
    if inventory is not None:
        return Inventory.from_devices(inventory)
    if known_devices is not None:
        return Inventory.from_names(known_devices)
    return None


def parse_intent(
    document: Node,
    *,
    known_devices: frozenset[str] | None = None,
    inventory: Inventory | None = None,
    support: Support = CURRENT_SUPPORT,
) -> Intent:
    """Parse one YAML document into an Intent.

    Raises:
        IntentValidationError: the first problem found, with file, line, column and field.
    """
    parse = _Parse(inventory or _inventory(None, known_devices), support)
    intent = _parse_document(document, parse)
    if parse.errors:
        raise parse.errors[0]
    assert intent is not None
    return intent


def _parse_document(document: Node, parse: _Parse) -> Intent | None:
    """The intent of one document, or None with ``parse.errors`` filled."""
    try:
        return _parse_intent(document, parse)
    except IntentValidationError as exc:
        parse.errors.insert(0, exc)
        return None


def _parse_intent(document: Node, parse: _Parse) -> Intent | None:
    """One document's intent; every independent field is checked even after another failed,
    so one run reports each error of the document (each at its line, with its field)."""
    top = _fields(
        document,
        parse,
        required=("apiVersion", "kind", "metadata", "spec"),
        allowed=("apiVersion", "kind", "metadata", "spec"),
    )
    api = top.get("apiVersion")
    if api is not None:
        _collect(parse, partial(_expect_string, api, API_VERSION, "apiVersion"))
    kind = top.get("kind")
    if kind is not None:
        _collect(parse, partial(_expect_string, kind, KIND, "kind"))
    metadata_node = top.get("metadata")
    named = _collect(parse, partial(_parse_metadata, metadata_node)) if metadata_node else None
    name, labels = named if named is not None else ("", {})
    if name:
        parse.locations[(name,)] = document.location

    spec_node = top.get("spec")
    if spec_node is None:
        return None
    spec = _fields(
        spec_node,
        parse,
        required=("expectations",),
        allowed=("priority", "adminState", "mode", "guards"),
    )
    priority_node = spec.get("priority")
    priority = (
        _collect(parse, partial(priority_node.integer, minimum=0, maximum=PRIORITY_MAX))
        if priority_node
        else PRIORITY_DEFAULT
    )
    admin_node = spec.get("adminState")
    admin_state = (
        _collect(parse, partial(_parse_admin_state, admin_node))
        if admin_node
        else AdminState.ACTIVATED
    )
    mode_node = spec.get("mode")
    mode = (
        _collect(parse, partial(_parse_mode, mode_node, parse.support))
        if mode_node
        else IntentMode.AUTO
    )
    guards_node = spec.get("guards")
    guards = (
        _collect(parse, partial(_parse_guards, guards_node, parse)) if guards_node else Guards()
    )

    expectations: list[tuple[Expectation, Node]] = []
    expectations_node = spec.get("expectations")
    expectation_nodes = (
        _collect(parse, expectations_node.sequence) if expectations_node is not None else None
    )
    if expectations_node is not None and expectation_nodes == []:
        parse.errors.append(expectations_node.error("must hold at least one expectation"))
    ids: dict[str, Node] = {}
    for index, node in enumerate(expectation_nodes or ()):
        expectation = _collect(parse, partial(_parse_expectation, node, index, parse))
        if expectation is None:
            continue
        if expectation.id in ids:
            parse.errors.append(
                node.error(
                    f"duplicate expectation id {expectation.id!r} "
                    f"(first at {ids[expectation.id].location})",
                    hint="expectation ids must be unique within an intent",
                )
            )
            continue
        ids[expectation.id] = node
        if name:
            parse.locations[(name, expectation.id)] = node.location
        expectations.append((expectation, node))
    _check_contradictions(expectations, parse)
    if parse.errors or priority is None or admin_state is None or mode is None or guards is None:
        return None

    intent = Intent(
        name=name,
        expectations=tuple(e for e, _ in expectations),
        priority=priority,
        admin_state=admin_state,
        mode=mode,
        guards=guards,
        labels=labels,
        location=document.location,
    )
    return replace(intent, generation=_generation(intent))


def _fields(
    node: Node, parse: _Parse, *, required: tuple[str, ...], allowed: tuple[str, ...]
) -> Fields:
    """A mapping whose every unknown and missing key is recorded as an error (not only the
    first): the known keys are returned so that their values are checked too.

    Raises:
        IntentValidationError: not a mapping, or a key that is not a plain string or
            appears twice (then nothing of the mapping can be trusted).
    """
    fields = node.mapping()
    known = (*allowed, *(r for r in required if r not in allowed))
    kept: dict[str, tuple[Node, Node]] = {}
    for key, (key_node, value_node) in fields.entries.items():
        if key in known:
            kept[key] = (key_node, value_node)
            continue
        parse.errors.append(
            key_node.error(
                f"unknown field {key!r}",
                expected=f"one of: {', '.join(sorted(known))}",
                hint=did_you_mean(key, known),
            )
        )
    for key in required:
        if key not in fields:
            parse.errors.append(node.error(f"missing required field {key!r}"))
    return Fields(fields.node, kept)


def _expect_string(node: Node, expected: str, what: str) -> None:
    value = node.string()
    if value != expected:
        raise node.error(f"unsupported {what} {value!r}", expected=expected)


def _parse_metadata(node: Node) -> tuple[str, dict[str, str]]:
    """The intent's name and labels (annotations are checked and kept out of the intent)."""
    metadata = node.mapping(required=("name",), allowed=("labels", "annotations"))
    name_node = metadata["name"]
    name = name_node.string(max_length=63)
    if not _is_dns_label(name):
        raise name_node.error(
            f"invalid name {name!r}",
            expected="lowercase letters, digits and '-', starting with a letter",
        )
    labels_node = metadata.get("labels")
    labels = labels_node.string_map() if labels_node else {}
    annotations_node = metadata.get("annotations")
    if annotations_node:
        annotations_node.string_map()
    return name, labels


def _parse_admin_state(node: Node) -> AdminState:
    return AdminState(node.choice(tuple(a.value for a in AdminState)))


def _generation(intent: Intent) -> str:
    """A hash of what the spec means (defaults written out, order-free, no metadata)."""
    leaves = {k: v for k, v in flatten_intent(intent).items() if k.startswith("spec.")}
    payload = json.dumps(leaves, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _parse_mode(node: Node, support: Support) -> IntentMode:
    mode = IntentMode(node.choice(tuple(m.value for m in IntentMode)))
    if mode not in support.modes:
        supported = [m.value for m in IntentMode if m in support.modes]
        raise node.error(
            f"mode {mode.value!r} is not supported by this netpilot version yet",
            expected=f"one of: {', '.join(supported)}",
            hint="nothing can approve a planned change yet; dry-run plans and reports only",
        )
    return mode


def _parse_guards(node: Node, parse: _Parse) -> Guards | None:
    """The guards, or None when an error was recorded (each guard is checked)."""
    allowed = ("maxChangesPerHour", "maxDevicesPerChange", "cooldownSeconds")
    guards = _fields(node, parse, required=(), allowed=allowed)
    defaults = Guards()
    per_hour = guards.get("maxChangesPerHour")
    per_change = guards.get("maxDevicesPerChange")
    cooldown = guards.get("cooldownSeconds")
    errors_before = len(parse.errors)
    max_changes = (
        _collect(parse, partial(per_hour.integer, minimum=0, maximum=3600))
        if per_hour
        else defaults.max_changes_per_hour
    )
    max_devices = (
        _collect(parse, partial(per_change.integer, minimum=1, maximum=1000))
        if per_change
        else defaults.max_devices_per_change
    )
    seconds = (
        _collect(parse, partial(cooldown.number, minimum=0, maximum=86_400))
        if cooldown
        else defaults.cooldown.total_seconds()
    )
    if len(parse.errors) > errors_before or max_changes is None or max_devices is None:
        return None
    if seconds is None:
        return None
    return Guards(
        max_changes_per_hour=max_changes,
        max_devices_per_change=max_devices,
        cooldown=timedelta(seconds=seconds),
    )


# --------------------------------------------------------------------------- expectations


def _other_type_owning(key: str, owner: ExpectationType, kinds: str) -> str:
    """A hint naming the expectation type a misplaced target/context/object field belongs to."""
    for spec in CATALOGUE.values():
        if spec.type is owner:
            continue
        if kinds == "targets" and spec.target(key) is not None:
            return f"{key} is {_a(spec.type)} target"
        if kinds == "contexts" and spec.context(key) is not None:
            return f"{key} is {_a(spec.type)} context"
        if kinds == "objects" and key in {f.value for f in spec.objects}:
            return f"objects.{key} applies to {spec.type.value} expectations"
    return ""


def _collect(parse: _Parse, parse_part: Callable[[], _Part | None]) -> _Part | None:
    """Parse one independent part; on an error, record it and go on (None) so that one run
    reports every error of a document, not only its first."""
    try:
        return parse_part()
    except IntentValidationError as exc:
        parse.errors.append(exc)
        return None


def _parse_expectation(node: Node, index: int, parse: _Parse) -> Expectation | None:
    """One expectation, or None when an error was recorded in ``parse``.

    Its objects, targets and contexts are independent, so an error in one does not hide
    the errors of the others.
    """
    fields = node.mapping(
        required=("type", "targets", "objects"), allowed=("id", "verb", "contexts")
    )
    type_node = fields["type"]
    expectation_type = ExpectationType(type_node.choice(tuple(t.value for t in ExpectationType)))
    spec = CATALOGUE[expectation_type]
    enforced = parse.support.enforces(expectation_type)
    if not enforced:
        parse.warn(
            type_node,
            f"{expectation_type.value} expectations are not enforced by this netpilot version: "
            "the intent is admitted and reported, and nothing is changed on its behalf",
        )
    id_node = fields.get("id")
    expectation_id = id_node.string(max_length=63) if id_node else f"expectation-{index}"
    verb_node = fields.get("verb")
    verb = (
        ExpectationVerb(verb_node.choice(tuple(v.value for v in ExpectationVerb)))
        if verb_node
        else ExpectationVerb.ENSURE
    )
    errors_before = len(parse.errors)
    objects = _collect(
        parse, lambda: _parse_objects(fields["objects"], spec, parse, enforced=enforced)
    )
    targets = _collect(
        parse, lambda: _parse_targets(fields["targets"], spec, parse, enforced=enforced)
    )
    contexts_node = fields.get("contexts")
    contexts = (
        _collect(parse, lambda: _parse_contexts(contexts_node, spec, parse, enforced=enforced))
        if contexts_node
        else {}
    )
    if len(parse.errors) > errors_before or objects is None or targets is None or contexts is None:
        return None
    return Expectation(
        id=expectation_id,
        type=expectation_type,
        verb=verb,
        objects=objects,
        targets=tuple(t for t, _ in targets),
        contexts=contexts,
    )


def _parse_targets(
    node: Node, spec: ExpectationSpec, parse: _Parse, *, enforced: bool
) -> list[tuple[Target, Node]]:
    target_nodes = node.sequence()
    if not target_nodes:
        raise node.error("must hold at least one target")
    targets: list[tuple[Target, Node]] = []
    names: dict[str, Node] = {}
    errors_before = len(parse.errors)
    for target_node in target_nodes:
        target = _collect(parse, partial(_parse_target, target_node, spec))
        if target is None:
            continue  # every target is checked, so all of their errors are reported
        if target.name in names:
            raise target_node.error(
                f"target {target.name!r} appears twice in one expectation",
                hint="merge them into one target (use withinRange for two bounds)",
            )
        names[target.name] = target_node
        if enforced and not parse.support.measures(spec.type, target.name):
            parse.warn(
                target_node,
                f"{target.name} is not measured by this netpilot version: its status stays "
                "unknown and nothing is changed for it",
            )
        target_spec = spec.target(target.name)
        assert target_spec is not None
        _warn_direction(target, target_spec, target_node, parse)
        targets.append((target, target_node))
    if len(parse.errors) > errors_before:
        return targets  # which targets are missing is unknowable while some did not parse
    given = set(names)
    if spec.one_of_targets and len(given & set(spec.one_of_targets)) != 1:
        choices = " or ".join(spec.one_of_targets)
        raise node.error(
            f"{_a(spec.type)} expectation needs exactly one of {choices}",
            hint="a relative reduction or an absolute budget, not both",
        )
    for required in spec.required_targets:
        if required not in given:
            raise node.error(
                f"{_a(spec.type)} expectation needs a {required} target",
                hint=f"e.g. {{name: {required}, condition: lessThan, value: 0.7}}: the "
                "headroom every remaining link keeps",
            )
    return targets


def _a(expectation_type: ExpectationType) -> str:
    """``an energy-saving`` / ``a video-experience``."""
    article = "an" if expectation_type.value[0] in "aeiou" else "a"
    return f"{article} {expectation_type.value}"


def _warn_direction(target: Target, spec: TargetSpec, node: Node, parse: _Parse) -> None:
    lower_bound = target.condition in (
        TargetCondition.GREATER_THAN,
        TargetCondition.GREATER_THAN_OR_EQUAL,
    )
    upper_bound = target.condition in (
        TargetCondition.LESS_THAN,
        TargetCondition.LESS_THAN_OR_EQUAL,
    )
    if spec.better is Direction.LOWER and lower_bound:
        parse.warn(
            node,
            f"a lower {target.name} is better, yet this target asks for a value above a bound",
            hint="did you mean lessThan?",
        )
    elif spec.better is Direction.HIGHER and upper_bound:
        parse.warn(
            node,
            f"a higher {target.name} is better, yet this target asks for a value below a bound",
            hint="did you mean greaterThan?",
        )


def _parse_target(node: Node, spec: ExpectationSpec) -> Target:
    fields = node.mapping(
        required=("name", "condition"), allowed=("value", "upper", "range", "unit")
    )
    name_node = fields["name"]
    name = name_node.string()
    target_spec = spec.target(name)
    if target_spec is None:
        options = tuple(t.name for t in spec.targets)
        raise name_node.error(
            f"unknown value {name!r} for {_a(spec.type)} target",
            expected=f"one of: {', '.join(options)}",
            hint=did_you_mean(name, options) or _other_type_owning(name, spec.type, "targets"),
        )
    unit_node = fields.get("unit")
    if unit_node and unit_node.string() != target_spec.unit:
        raise unit_node.error(
            f"wrong unit {unit_node.string()!r} for {name}",
            expected=target_spec.unit,
            hint=f"{name} is always in {target_spec.unit}; convert the value",
        )
    condition = TargetCondition(fields["condition"].choice(tuple(c.value for c in TargetCondition)))
    low, high = target_spec.minimum, target_spec.maximum
    if condition is TargetCondition.WITHIN_RANGE:
        value, upper = _parse_range(node, fields, low, high)
    else:
        for extra in ("range", "upper"):
            if extra in fields:
                raise fields.key_node(extra).error(
                    f"'{extra}' only applies to withinRange, not {condition.value}",
                    hint="use 'value' for a single bound",
                )
        if "value" not in fields:
            raise node.error(f"{condition.value} needs a 'value'")
        value, upper = fields["value"].number(minimum=low, maximum=high), None
    target = Target(name=name, condition=condition, value=value, upper=upper, unit=target_spec.unit)
    if condition is TargetCondition.LESS_THAN and value <= low:
        raise fields["value"].error(
            f"{name} lessThan {value:g} can never be met ({name} is never below {low:g})",
            hint="raise the bound",
        )
    if condition is TargetCondition.GREATER_THAN and value >= high:
        raise fields["value"].error(
            f"{name} greaterThan {value:g} can never be met ({name} is never above {high:g})",
            hint="lower the bound",
        )
    return target


def _parse_range(node: Node, fields: Fields, low: float, high: float) -> tuple[float, float | None]:
    range_node = fields.get("range")
    if range_node is not None:
        if "value" in fields or "upper" in fields:
            raise range_node.error(
                "give either 'range' or 'value' and 'upper', not both",
                hint="range: [low, high]",
            )
        items = range_node.sequence()
        if len(items) != 2:
            raise range_node.error(
                f"a range has two ends, got {len(items)}", expected="[low, high]"
            )
        first = items[0].number(minimum=low, maximum=high)
        second = items[1].number(minimum=low, maximum=high)
        if second < first:
            raise items[1].error(
                f"the range's upper end ({second:g}) is below its lower end ({first:g})"
            )
        return first, second
    if "value" not in fields or "upper" not in fields:
        raise node.error(
            "withinRange needs 'range: [low, high]' (or 'value' and 'upper')",
            expected="range: [low, high]",
        )
    value = fields["value"].number(minimum=low, maximum=high)
    upper_node = fields["upper"]
    upper = upper_node.number(minimum=low, maximum=high)
    if upper < value:
        raise upper_node.error(f"upper ({upper:g}) is below value ({value:g})")
    return value, upper


def _parse_objects(node: Node, spec: ExpectationSpec, parse: _Parse, *, enforced: bool) -> Objects:
    allowed = tuple(f.value for f in spec.objects)
    raw_entries = node.raw.value if isinstance(node.raw, yaml.MappingNode) else []
    for key_node, _ in raw_entries:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value not in allowed:
            key = str(key_node.value)
            located = Node(key_node, node.file, node.child_field(key))
            raise located.error(
                f"unknown field {key!r} in the objects of {_a(spec.type)} expectation",
                expected=f"one of: {', '.join(allowed)}",
                hint=did_you_mean(key, allowed) or _other_type_owning(key, spec.type, "objects"),
            )
    fields = node.mapping(allowed=allowed)
    inventory = parse.inventory
    traffic_class: TrafficClass | None = None
    class_node = fields.get(ObjectField.TRAFFIC_CLASS.value)
    if class_node:
        traffic_class = TrafficClass(class_node.choice(tuple(c.value for c in TrafficClass)))
    path: PathRef | None = None
    path_node = fields.get(ObjectField.PATH.value)
    if path_node:
        ends = path_node.mapping(required=("from", "to"), allowed=("from", "to"))
        source = _device_ref(ends["from"], inventory)
        destination = _device_ref(ends["to"], inventory)
        if source == destination:
            raise path_node.error("a path needs two different devices")
        path = PathRef(source=source, destination=destination)
    sites: SitePair | None = None
    sites_node = fields.get(ObjectField.SITES.value)
    if sites_node:
        ends = sites_node.mapping(required=("from", "to"), allowed=("from", "to"))
        sites = SitePair(_site_ref(ends["from"], inventory), _site_ref(ends["to"], inventory))
        if sites.source == sites.destination:
            raise sites_node.error("a site pair needs two different sites")
        if enforced and not parse.support.site_pairs:
            parse.warn(
                sites_node,
                "paths between sites are not measured by this netpilot version: the status "
                "stays unknown",
                hint="name the edge devices with path: {from: DEVICE, to: DEVICE}",
            )
    select_node = fields.get(ObjectField.SELECT.value)
    select = _parse_select(select_node, inventory) if select_node else {}
    devices_node = fields.get(ObjectField.DEVICES.value)
    devices = _parse_devices(devices_node, inventory) if devices_node else ()
    group_node = fields.get(ObjectField.SUBSCRIBER_GROUP.value)
    group = group_node.string(max_length=63) if group_node else ""
    if group_node is not None and enforced and not parse.support.subscriber_groups:
        # acting for the selected nodes' every subscriber would act beyond what the file says
        raise group_node.error(
            "subscriber groups are not honoured by this netpilot version: the devices report "
            "subscribers without their group, so the policy would act for every subscriber "
            "of the selected nodes",
            hint="select the access nodes that serve the group (select: or devices:) and "
            "remove subscriberGroup",
        )
    resources_node = fields.get(ObjectField.RESOURCES.value)
    resources = _parse_resources(resources_node) if resources_node else ()
    objects = Objects(
        traffic_class=traffic_class,
        path=path,
        select=select,
        devices=devices,
        sites=sites,
        subscriber_group=group,
        resources=resources,
    )
    _check_objects_shape(node, spec, objects)
    selective = (select or devices) and inventory is not None and inventory.labels_known
    if selective and inventory is not None and not inventory.selected(objects):
        raise (select_node or devices_node or node).error(
            "selects no device of the inventory",
            hint="check the labels and device names: together they must match a device",
        )
    return objects


def _check_objects_shape(node: Node, spec: ExpectationSpec, objects: Objects) -> None:
    if spec.type is ExpectationType.E2E_QOS:
        if objects.traffic_class is None:
            raise node.error(
                "an e2e-qos expectation needs objects.trafficClass",
                hint="e.g. objects: {trafficClass: video, path: {from: r1, to: r4}}",
            )
        if (objects.path is None) == (objects.sites is None):
            raise node.error(
                "an e2e-qos expectation needs exactly one of objects.path or objects.sites",
                hint="path: {from: r1, to: r4} (devices) or sites: {from: west, to: east}",
            )
    elif spec.type is ExpectationType.ENERGY_SAVING:
        if not (objects.select or objects.devices):
            raise node.error(
                "an energy-saving expectation needs objects.select or objects.devices",
                hint="say which devices may sleep, e.g. select: {site: east, role: core}",
            )
    elif not (objects.select or objects.devices or objects.subscriber_group):
        raise node.error(
            "a video-experience expectation needs objects.select, objects.devices or "
            "objects.subscriberGroup",
            hint="e.g. select: {site: east, role: edge} (the access nodes)",
        )


def _parse_select(node: Node, inventory: Inventory | None) -> dict[str, str]:
    select = node.string_map()
    if not select:
        raise node.error("an empty selector selects every device", hint="remove it, or add labels")
    if inventory is None or not inventory.labels_known:
        return select
    fields = node.mapping()
    keys = sorted(inventory.label_keys())
    for key, value in select.items():
        if key not in keys:
            raise fields.key_node(key).error(
                f"no device of the inventory has the label {key!r}",
                expected=f"one of: {', '.join(keys)}" if keys else "a label of the inventory",
                hint=did_you_mean(key, keys),
            )
        values = sorted(inventory.label_values(key))
        if value not in values:
            raise fields[key].error(
                f"no device of the inventory has {key}={value}",
                expected=f"one of: {', '.join(values)}",
                hint=did_you_mean(value, values),
            )
    return select


def _parse_devices(node: Node, inventory: Inventory | None) -> tuple[str, ...]:
    items = node.sequence()
    if not items:
        raise node.error("an empty device list", hint="remove it (it would select nothing)")
    names: list[str] = []
    for item in items:
        name = _device_ref(item, inventory)
        if name in names:
            raise item.error(f"device {name!r} is listed twice")
        names.append(name)
    return tuple(names)


def _parse_resources(node: Node) -> tuple[str, ...]:
    resources: list[str] = []
    for item in node.sequence():
        value = item.choice(SLEEP_RESOURCES)
        if value in resources:
            raise item.error(f"{value!r} is listed twice")
        resources.append(value)
    if not resources:
        raise node.error("an empty list", expected=f"some of: {', '.join(SLEEP_RESOURCES)}")
    return tuple(resources)


def _device_ref(node: Node, inventory: Inventory | None) -> str:
    name = node.string()
    if inventory is not None and name not in inventory.names:
        raise node.error(
            f"unknown device {name!r}",
            expected="a device of the inventory",
            hint=did_you_mean(name, sorted(inventory.names)) or _few(inventory.names),
        )
    return name


def _few(names: Iterable[str]) -> str:
    """Every name, when there are few: a short name such as ``r9`` is close to none of
    ``r1``..``r4`` by similarity alone, and the list is the useful hint."""
    known = sorted(names)
    return f"known: {', '.join(known)}" if 0 < len(known) <= 12 else ""


def _site_ref(node: Node, inventory: Inventory | None) -> str:
    site = node.string()
    if inventory is not None and inventory.labels_known:
        sites = sorted(inventory.label_values("site"))
        if site not in sites:
            raise node.error(
                f"unknown site {site!r}",
                expected=f"one of: {', '.join(sites)}" if sites else "a site label value",
                hint=did_you_mean(site, sites),
            )
    return site


def _parse_contexts(
    node: Node, spec: ExpectationSpec, parse: _Parse, *, enforced: bool
) -> dict[str, str]:
    contexts: dict[str, str] = {}
    options = tuple(c.name for c in spec.contexts)
    for item in node.sequence():
        fields = item.mapping(required=("name", "value"), allowed=("name", "value"))
        name_node = fields["name"]
        name = name_node.string()
        context = spec.context(name)
        if context is None:
            raise name_node.error(
                f"unknown context {name!r} for {_a(spec.type)} expectation",
                expected=f"one of: {', '.join(options)}",
                hint=did_you_mean(name, options) or _other_type_owning(name, spec.type, "contexts"),
            )
        if name in contexts:
            raise name_node.error(f"context {name!r} appears twice")
        value_node = fields["value"]
        if context.kind is ContextKind.TIME_WINDOW:
            contexts[name] = _time_window(value_node)
        elif context.kind is ContextKind.SECONDS:
            contexts[name] = str(value_node.integer(minimum=0, maximum=context.maximum))
        else:
            contexts[name] = value_node.choice(context.choices)
        if enforced and name not in parse.support.contexts:
            raise name_node.error(
                f"context {name!r} is not supported by this netpilot version yet for "
                f"{spec.type.value} expectations",
                hint=f"remove it: netpilot would otherwise act regardless of the {name}",
            )
    return contexts


def _time_window(node: Node) -> str:
    raw = node.raw
    if getattr(raw, "tag", "") == "tag:yaml.org,2002:int":
        raise node.error(
            "YAML read this time as a number (base 60)",
            expected="a quoted 'HH:MM-HH:MM'",
            hint="quote it: value: '22:00-06:00'",
        )
    text = node.string(max_length=11)
    try:
        window = parse_time_window(text)
    except ValueError as exc:
        raise node.error(f"invalid time window {text!r}: {exc}", expected="HH:MM-HH:MM") from exc
    return str(window)


# --------------------------------------------------------------------------- contradictions


def _check_contradictions(expectations: list[tuple[Expectation, Node]], parse: _Parse) -> None:
    """Targets of one intent that no value can meet together, on the same objects."""
    for index, (first, first_node) in enumerate(expectations):
        for second, second_node in expectations[index + 1 :]:
            if first.type is not second.type or not _same_objects(first, second):
                continue
            for a in first.targets:
                for b in second.targets:
                    if targets_contradict(first.type, a, b):
                        parse.errors.append(
                            second_node.error(
                                f"target {b.describe()} contradicts {a.describe()} of "
                                f"expectation {first.id!r} (at {first_node.location}) on the "
                                "same objects: no value meets both",
                                hint="one intent cannot win over itself: change or remove one",
                            )
                        )


def _same_objects(a: Expectation, b: Expectation) -> bool:
    return a.objects == b.objects


def _is_dns_label(name: str) -> bool:
    return (
        name[0].isalpha()
        and name[0].islower()
        and all(c.islower() or c.isdigit() or c == "-" for c in name)
        and not name.endswith("-")
    )


def dump_intents(intents: Iterable[Intent]) -> str:
    """A JSON summary of intents (for ``intents validate --output json``)."""
    return json.dumps([summarize_intent(intent) for intent in intents])


def summarize_intent(intent: Intent) -> dict[str, object]:
    """One intent in a few fields: name, generation, priority, mode, expectations."""
    return {
        "name": intent.name,
        "generation": intent.generation,
        "priority": intent.priority,
        "mode": intent.mode.value,
        "adminState": intent.admin_state.value,
        "expectations": [
            {"id": e.id, "type": e.type.value, "targets": [t.describe() for t in e.targets]}
            for e in intent.expectations
        ],
    }
