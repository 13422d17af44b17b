"""Intent files -> :class:`~controller.model.Intent` values. Pure: text in, intents out.

An intent file holds one or more YAML documents, each a Kubernetes-style envelope around a
3GPP TS 28.312-shaped body::

    apiVersion: netpilot/v1
    kind: Intent
    metadata: {name: video-west-east, labels: {team: noc}}
    spec:
      priority: 100
      adminState: activated          # activated | deactivated
      mode: auto                     # auto | dry-run
      expectations:
        - id: video-latency
          type: e2e-qos
          verb: ensure
          objects: {trafficClass: video, path: {from: r1, to: r4}}
          targets:
            - {name: latencyMs, condition: lessThan, value: 30}
      guards: {maxChangesPerHour: 6, maxDevicesPerChange: 1, cooldownSeconds: 120}

Two parts of the 28.312 shape are refused, with a located error, because this version
cannot honour them and silently ignoring them would act against what the file says:
``mode: approve`` (nothing can approve a planned change yet) and expectation ``contexts``
(such as a ``timeWindow``; netpilot would act outside the window).

A set of files loads as a whole or not at all: :func:`load_intent_set` returns every error
it found and no intents when there is any error, so a broken revision is never half-applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import yaml

from controller.errors import IntentValidationError
from controller.model import (
    AdminState,
    Expectation,
    ExpectationObjects,
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
from intents.yamldoc import Node, did_you_mean, parse_documents

__all__ = [
    "SUPPORTED_MODES",
    "SUPPORTED_TARGETS",
    "IntentSet",
    "IntentSource",
    "dump_intents",
    "load_intent_set",
    "parse_intent",
]

API_VERSION = "netpilot/v1"
KIND = "Intent"

# Target names per expectation type that this version can evaluate and act on, with units.
SUPPORTED_TARGETS: dict[ExpectationType, dict[str, tuple[str, float, float]]] = {
    # name: (unit, minimum, maximum)
    ExpectationType.E2E_QOS: {
        "latencyMs": ("ms", 0.0, 60_000.0),
        "lossRatio": ("ratio", 0.0, 1.0),
    },
}


@dataclass(frozen=True, slots=True)
class IntentSource:
    """One file's text and the name to report it under."""

    file: str
    text: str | bytes


@dataclass(frozen=True, slots=True)
class IntentSet:
    """The outcome of loading a set of files: intents, or the errors, never both."""

    intents: tuple[Intent, ...]
    errors: tuple[IntentValidationError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def load_intent_set(
    sources: Iterable[IntentSource], *, known_devices: frozenset[str] | None = None
) -> IntentSet:
    """Load every intent of every source, all or nothing.

    Args:
        sources: the files' texts.
        known_devices: inventory device names; references to others are errors. ``None``
            skips the reference check (e.g. a syntax-only lint without an inventory).

    Returns:
        The intents sorted by name, or every error found (one per broken document) and no
        intents.
    """
    intents: list[Intent] = []
    errors: list[IntentValidationError] = []
    seen: dict[str, Intent] = {}
    for source in sources:
        try:
            documents = list(parse_documents(source.text, source.file))
        except IntentValidationError as exc:
            errors.append(exc)
            continue
        for document in documents:
            try:
                intent = parse_intent(document, known_devices=known_devices)
            except IntentValidationError as exc:
                errors.append(exc)
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
    if errors:
        return IntentSet(intents=(), errors=tuple(errors))
    return IntentSet(intents=tuple(sorted(intents, key=lambda i: i.name)), errors=())


def parse_intent(document: Node, *, known_devices: frozenset[str] | None = None) -> Intent:
    """Parse one YAML document into an Intent.

    Raises:
        IntentValidationError: the first problem found, with file, line, column and field.
    """
    top = document.mapping(required=("apiVersion", "kind", "metadata", "spec"))
    api = top["apiVersion"]
    if api.string() != API_VERSION:
        raise api.error(f"unsupported apiVersion {api.string()!r}", expected=API_VERSION)
    kind = top["kind"]
    if kind.string() != KIND:
        raise kind.error(f"unsupported kind {kind.string()!r}", expected=KIND)
    metadata = top["metadata"].mapping(required=("name",), allowed=("labels", "annotations"))
    name_node = metadata["name"]
    name = name_node.string(max_length=63)
    if not _is_dns_label(name):
        raise name_node.error(
            f"invalid name {name!r}",
            expected="lowercase letters, digits and '-', starting with a letter",
        )
    labels_node = metadata.get("labels")
    labels = labels_node.string_map() if labels_node else {}

    spec = top["spec"].mapping(
        required=("expectations",), allowed=("priority", "adminState", "mode", "guards")
    )
    priority_node = spec.get("priority")
    priority = priority_node.integer(minimum=0, maximum=1000) if priority_node else 50
    admin_node = spec.get("adminState")
    admin_state = (
        AdminState(admin_node.choice(tuple(a.value for a in AdminState)))
        if admin_node
        else AdminState.ACTIVATED
    )
    mode_node = spec.get("mode")
    mode = _parse_mode(mode_node) if mode_node else IntentMode.AUTO
    guards_node = spec.get("guards")
    guards = _parse_guards(guards_node) if guards_node else Guards()

    expectation_nodes = spec["expectations"].sequence()
    if not expectation_nodes:
        raise spec["expectations"].error("must hold at least one expectation")
    expectations: list[Expectation] = []
    ids: set[str] = set()
    for index, node in enumerate(expectation_nodes):
        expectation = _parse_expectation(node, index, known_devices)
        if expectation.id in ids:
            raise node.error(f"duplicate expectation id {expectation.id!r}")
        ids.add(expectation.id)
        expectations.append(expectation)

    body = yaml.safe_dump(_plain(top["spec"].raw), sort_keys=True)
    generation = hashlib.sha256(body.encode()).hexdigest()[:12]
    return Intent(
        name=name,
        expectations=tuple(expectations),
        priority=priority,
        admin_state=admin_state,
        mode=mode,
        guards=guards,
        labels=labels,
        generation=generation,
        location=document.location,
    )


# Modes this version can carry out; approve needs an approval path that does not exist yet.
SUPPORTED_MODES = (IntentMode.AUTO, IntentMode.DRY_RUN)


def _parse_mode(node: Node) -> IntentMode:
    mode = IntentMode(node.choice(tuple(m.value for m in IntentMode)))
    if mode not in SUPPORTED_MODES:
        raise node.error(
            f"mode {mode.value!r} is not supported by this netpilot version yet",
            expected=f"one of: {', '.join(m.value for m in SUPPORTED_MODES)}",
            hint="nothing can approve a planned change yet; dry-run plans and reports only",
        )
    return mode


def _parse_guards(node: Node) -> Guards:
    guards = node.mapping(allowed=("maxChangesPerHour", "maxDevicesPerChange", "cooldownSeconds"))
    defaults = Guards()
    per_hour = guards.get("maxChangesPerHour")
    per_change = guards.get("maxDevicesPerChange")
    cooldown = guards.get("cooldownSeconds")
    return Guards(
        max_changes_per_hour=per_hour.integer(minimum=0, maximum=3600)
        if per_hour
        else defaults.max_changes_per_hour,
        max_devices_per_change=per_change.integer(minimum=1, maximum=1000)
        if per_change
        else defaults.max_devices_per_change,
        cooldown=timedelta(seconds=cooldown.number(minimum=0, maximum=86_400))
        if cooldown
        else defaults.cooldown,
    )


def _parse_expectation(node: Node, index: int, known_devices: frozenset[str] | None) -> Expectation:
    fields = node.mapping(
        required=("type", "targets", "objects"), allowed=("id", "verb", "contexts")
    )
    type_node = fields["type"]
    type_name = type_node.choice(tuple(t.value for t in ExpectationType))
    expectation_type = ExpectationType(type_name)
    if expectation_type not in SUPPORTED_TARGETS:
        supported = ", ".join(t.value for t in SUPPORTED_TARGETS)
        raise type_node.error(
            f"expectation type {type_name!r} is not supported by this netpilot version",
            expected=f"one of: {supported}",
        )
    id_node = fields.get("id")
    expectation_id = id_node.string(max_length=63) if id_node else f"expectation-{index}"
    verb_node = fields.get("verb")
    verb = (
        ExpectationVerb(verb_node.choice(tuple(v.value for v in ExpectationVerb)))
        if verb_node
        else ExpectationVerb.ENSURE
    )
    objects = _parse_objects(fields["objects"], expectation_type, known_devices)
    target_nodes = fields["targets"].sequence()
    if not target_nodes:
        raise fields["targets"].error("must hold at least one target")
    targets: list[Target] = []
    names: set[str] = set()
    for target_node in target_nodes:
        target = _parse_target(target_node, expectation_type)
        if target.name in names:
            raise target_node.error(
                f"target {target.name!r} appears twice in one expectation",
                hint="merge them into one target (use withinRange for two bounds)",
            )
        names.add(target.name)
        targets.append(target)
    if "contexts" in fields:
        # known to the schema (28.312) so the error says "not yet", not "unknown field"
        raise fields.key_node("contexts").error(
            "expectation contexts (e.g. timeWindow) are not supported by this netpilot version yet",
            hint="remove 'contexts': netpilot would otherwise act regardless of them",
        )
    return Expectation(
        id=expectation_id,
        type=expectation_type,
        verb=verb,
        objects=objects,
        targets=tuple(targets),
    )


def _parse_objects(
    node: Node, expectation_type: ExpectationType, known_devices: frozenset[str] | None
) -> ExpectationObjects:
    fields = node.mapping(allowed=("trafficClass", "path", "select", "devices"))
    traffic_class: TrafficClass | None = None
    path: PathRef | None = None
    if expectation_type is ExpectationType.E2E_QOS and (
        "trafficClass" not in fields or "path" not in fields
    ):
        raise node.error(
            "an e2e-qos expectation needs objects.trafficClass and objects.path",
            hint="e.g. objects: {trafficClass: video, path: {from: r1, to: r4}}",
        )
    class_node = fields.get("trafficClass")
    if class_node:
        traffic_class = TrafficClass(class_node.choice(tuple(c.value for c in TrafficClass)))
    path_node = fields.get("path")
    if path_node:
        ends = path_node.mapping(required=("from", "to"))
        source = _device_ref(ends["from"], known_devices)
        destination = _device_ref(ends["to"], known_devices)
        if source == destination:
            raise path_node.error("a path needs two different devices")
        path = PathRef(source=source, destination=destination)
    select_node = fields.get("select")
    select = select_node.string_map() if select_node else {}
    devices_node = fields.get("devices")
    devices = (
        tuple(_device_ref(item, known_devices) for item in devices_node.sequence())
        if devices_node
        else ()
    )
    return ExpectationObjects(
        traffic_class=traffic_class, path=path, select=select, devices=devices
    )


def _device_ref(node: Node, known_devices: frozenset[str] | None) -> str:
    name = node.string()
    if known_devices is not None and name not in known_devices:
        raise node.error(
            f"unknown device {name!r}",
            expected="a device of the inventory",
            hint=did_you_mean(name, sorted(known_devices)),
        )
    return name


def _parse_target(node: Node, expectation_type: ExpectationType) -> Target:
    fields = node.mapping(required=("name", "condition", "value"), allowed=("upper", "unit"))
    supported = SUPPORTED_TARGETS[expectation_type]
    name = fields["name"].choice(tuple(supported))
    unit, minimum, maximum = supported[name]
    unit_node = fields.get("unit")
    if unit_node and unit_node.string() != unit:
        raise unit_node.error(f"wrong unit {unit_node.string()!r} for {name}", expected=unit)
    condition = TargetCondition(fields["condition"].choice(tuple(c.value for c in TargetCondition)))
    value = fields["value"].number(minimum=minimum, maximum=maximum)
    upper_node = fields.get("upper")
    upper: float | None = None
    if condition is TargetCondition.WITHIN_RANGE:
        if upper_node is None:
            raise node.error("withinRange needs 'upper' as well as 'value'")
        upper = upper_node.number(minimum=minimum, maximum=maximum)
        if upper < value:
            raise upper_node.error(f"upper ({upper:g}) is below value ({value:g})")
    elif upper_node is not None:
        raise upper_node.error(f"'upper' only applies to withinRange, not {condition.value}")
    if condition is TargetCondition.LESS_THAN and value <= minimum:
        raise fields["value"].error(
            f"{name} lessThan {value:g} can never be met", hint="raise the bound"
        )
    return Target(name=name, condition=condition, value=value, upper=upper, unit=unit)


def _is_dns_label(name: str) -> bool:
    return (
        name[0].isalpha()
        and name[0].islower()
        and all(c.islower() or c.isdigit() or c == "-" for c in name)
        and not name.endswith("-")
    )


def _plain(node: yaml.Node) -> object:
    """A YAML node as plain data (for the generation hash)."""
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v) for v in node.value]
    return node.value


def dump_intents(intents: Iterable[Intent]) -> str:
    """A JSON summary of intents (for ``intents validate --output json``)."""
    return json.dumps(
        [
            {
                "name": intent.name,
                "generation": intent.generation,
                "priority": intent.priority,
                "mode": intent.mode.value,
                "adminState": intent.admin_state.value,
                "expectations": [
                    {
                        "id": e.id,
                        "type": e.type.value,
                        "targets": [t.describe() for t in e.targets],
                    }
                    for e in intent.expectations
                ],
            }
            for intent in intents
        ]
    )
