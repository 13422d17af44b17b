"""The intent schema: one catalogue that the loader, the JSON Schema and the docs all read.

An intent file is a Kubernetes-style envelope (``apiVersion``, ``kind``, ``metadata``,
``spec``) around a 3GPP TS 28.312-shaped body. This module says, for each of netpilot's
three expectation types, which objects it applies to, which targets it may declare (with
their unit, range and which direction is better), and which contexts it takes. The loader
(:mod:`intents.load`) enforces the catalogue; :func:`json_schema` publishes it as JSON Schema
(draft 2020-12) for editors, so the two can never disagree about a name or a unit.

28.312 term -> file field:

=============================  ===============================================
intentExpectations             ``spec.expectations``
expectationId                  ``spec.expectations[].id``
expectationVerb                ``spec.expectations[].verb`` (deliver | ensure)
expectationObjects             ``spec.expectations[].objects``
expectationTargets             ``spec.expectations[].targets``
targetName / targetCondition   ``targets[].name`` / ``targets[].condition``
targetValueRange               ``targets[].value`` or ``targets[].range``
expectationContexts            ``spec.expectations[].contexts``
intentPriority                 ``spec.priority``
intentAdminState               ``spec.adminState``
=============================  ===============================================

Pure: data and functions of data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from controller.model import (
    AdminState,
    ExpectationType,
    ExpectationVerb,
    IntentMode,
    TargetCondition,
    TrafficClass,
)

__all__ = [
    "API_VERSION",
    "CATALOGUE",
    "COMMON_CONTEXTS",
    "KIND",
    "NAME_PATTERN",
    "PRIORITY_DEFAULT",
    "PRIORITY_MAX",
    "SCHEMA_ID",
    "ContextKind",
    "ContextSpec",
    "Direction",
    "ExpectationSpec",
    "ObjectField",
    "TargetSpec",
    "json_schema",
    "target_spec",
]

API_VERSION = "netpilot/v1"
KIND = "Intent"
SCHEMA_ID = "urn:netpilot:schema:intent:v1"
NAME_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
PRIORITY_DEFAULT = 50
PRIORITY_MAX = 1000


class Direction(str, Enum):
    """Which way a target's value is better: it tells a sensible condition from a typo."""

    LOWER = "lower"
    HIGHER = "higher"


class ContextKind(str, Enum):
    """The value syntax of a context."""

    TIME_WINDOW = "timeWindow"  # "HH:MM-HH:MM", may wrap midnight
    SECONDS = "seconds"  # a whole number of seconds
    CHOICE = "choice"  # one of a fixed set of words


class ObjectField(str, Enum):
    """Fields of ``objects`` (28.312 expectationObjects)."""

    TRAFFIC_CLASS = "trafficClass"
    PATH = "path"
    SITES = "sites"
    SELECT = "select"
    DEVICES = "devices"
    SUBSCRIBER_GROUP = "subscriberGroup"
    RESOURCES = "resources"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A target name an expectation type may declare."""

    name: str
    unit: str
    minimum: float
    maximum: float
    better: Direction
    description: str


@dataclass(frozen=True, slots=True)
class ContextSpec:
    """A context an expectation may carry (28.312 expectationContexts)."""

    name: str
    kind: ContextKind
    description: str
    choices: tuple[str, ...] = ()
    maximum: int = 0  # for SECONDS
    default: str = ""


@dataclass(frozen=True, slots=True)
class ExpectationSpec:
    """Everything the schema says about one expectation type."""

    type: ExpectationType
    description: str
    targets: tuple[TargetSpec, ...]
    objects: tuple[ObjectField, ...]
    contexts: tuple[ContextSpec, ...]
    # targets of which exactly one must be given (energy: a relative or an absolute goal)
    one_of_targets: tuple[str, ...] = ()
    required_targets: tuple[str, ...] = ()

    def target(self, name: str) -> TargetSpec | None:
        """The target spec called ``name``, if this type has one."""
        return next((t for t in self.targets if t.name == name), None)

    def context(self, name: str) -> ContextSpec | None:
        """The context spec called ``name``, if this type takes one."""
        return next((c for c in self.contexts if c.name == name), None)


# Resources an energy-saving expectation may put to sleep (DESIGN.md §3).
SLEEP_RESOURCES = ("links", "lineCards", "carriers")

TIME_WINDOW = ContextSpec(
    "timeWindow",
    ContextKind.TIME_WINDOW,
    "when the expectation applies, as local controller time 'HH:MM-HH:MM' (may wrap midnight)",
)
COMMON_CONTEXTS = (TIME_WINDOW,)

CATALOGUE: dict[ExpectationType, ExpectationSpec] = {
    ExpectationType.E2E_QOS: ExpectationSpec(
        type=ExpectationType.E2E_QOS,
        description=(
            "End-to-end quality of one traffic class on a path between two devices or two "
            "sites. Actions: class priority/weight, shaping of competing classes, path metric."
        ),
        targets=(
            TargetSpec(
                "latencyMs", "ms", 0.0, 60_000.0, Direction.LOWER, "one-way latency of the class"
            ),
            TargetSpec(
                "lossRatio", "ratio", 0.0, 1.0, Direction.LOWER, "share of the class's packets lost"
            ),
            TargetSpec(
                "throughputMbps",
                "Mbit/s",
                0.0,
                10_000_000.0,
                Direction.HIGHER,
                "rate the class can get on the path",
            ),
            TargetSpec(
                "availability",
                "ratio",
                0.0,
                1.0,
                Direction.HIGHER,
                "share of time the path meets its other targets",
            ),
        ),
        objects=(
            ObjectField.TRAFFIC_CLASS,
            ObjectField.PATH,
            ObjectField.SITES,
            ObjectField.SELECT,
            ObjectField.DEVICES,
        ),
        contexts=COMMON_CONTEXTS,
    ),
    ExpectationType.ENERGY_SAVING: ExpectationSpec(
        type=ExpectationType.ENERGY_SAVING,
        description=(
            "Save power on a set of devices by sleeping links, line cards or radio carriers "
            "while the rest keeps enough headroom. Actions: sleep and wake."
        ),
        targets=(
            TargetSpec(
                "powerReductionRatio",
                "ratio",
                0.0,
                1.0,
                Direction.HIGHER,
                "power saved, as a share of the selected devices' draw with nothing asleep",
            ),
            TargetSpec(
                "powerBudgetWatts",
                "W",
                0.0,
                100_000_000.0,
                Direction.LOWER,
                "total power draw of the selected devices",
            ),
            TargetSpec(
                "maxUtilization",
                "ratio",
                0.0,
                1.0,
                Direction.LOWER,
                "highest utilisation any remaining link may reach (the headroom kept)",
            ),
        ),
        objects=(ObjectField.SELECT, ObjectField.DEVICES, ObjectField.RESOURCES),
        contexts=(
            *COMMON_CONTEXTS,
            ContextSpec(
                "redundancy",
                ContextKind.CHOICE,
                "spare capacity kept awake: n+1 keeps every demand routable after one failure",
                choices=("none", "n+1"),
                default="n+1",
            ),
            ContextSpec(
                "wakeLeadTimeSeconds",
                ContextKind.SECONDS,
                "how long before forecast load a sleeping resource is woken",
                maximum=86_400,
                default="300",
            ),
        ),
        one_of_targets=("powerReductionRatio", "powerBudgetWatts"),
        required_targets=("maxUtilization",),
    ),
    ExpectationType.VIDEO_EXPERIENCE: ExpectationSpec(
        type=ExpectationType.VIDEO_EXPERIENCE,
        description=(
            "Video quality of experience at access nodes or for a subscriber group, inferred "
            "from network-level features. Actions: video class priority, per-subscriber boost, "
            "reroute."
        ),
        targets=(
            TargetSpec(
                "stallRatio",
                "ratio",
                0.0,
                1.0,
                Direction.LOWER,
                "share of playback time spent stalled",
            ),
            TargetSpec(
                "startupDelaySeconds",
                "s",
                0.0,
                600.0,
                Direction.LOWER,
                "time from request to first frame",
            ),
            TargetSpec(
                "bitrateKbps",
                "kbit/s",
                0.0,
                1_000_000.0,
                Direction.HIGHER,
                "average delivered video bitrate",
            ),
        ),
        objects=(ObjectField.SELECT, ObjectField.DEVICES, ObjectField.SUBSCRIBER_GROUP),
        contexts=COMMON_CONTEXTS,
    ),
}


def target_spec(expectation_type: ExpectationType, name: str) -> TargetSpec | None:
    """The catalogue entry of a target, or None when the type has no such target."""
    return CATALOGUE[expectation_type].target(name)


# --------------------------------------------------------------------------- JSON Schema

JsonSchema = dict[str, object]


def _string_map(description: str, *, min_properties: int = 0) -> JsonSchema:
    schema: JsonSchema = {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string", "minLength": 1},
    }
    if min_properties:
        schema["minProperties"] = min_properties
    return schema


def _device_name() -> JsonSchema:
    return {"type": "string", "minLength": 1, "description": "an inventory device name"}


def _objects_schema(spec: ExpectationSpec) -> JsonSchema:
    known: dict[ObjectField, JsonSchema] = {
        ObjectField.TRAFFIC_CLASS: {
            "enum": [c.value for c in TrafficClass],
            "description": "the traffic class the targets are about",
        },
        ObjectField.PATH: {
            "type": "object",
            "description": "end-to-end path between two inventory devices",
            "required": ["from", "to"],
            "additionalProperties": False,
            "properties": {"from": _device_name(), "to": _device_name()},
        },
        ObjectField.SITES: {
            "type": "object",
            "description": "site pair: values of the inventory label 'site'",
            "required": ["from", "to"],
            "additionalProperties": False,
            "properties": {
                "from": {"type": "string", "minLength": 1},
                "to": {"type": "string", "minLength": 1},
            },
        },
        ObjectField.SELECT: _string_map(
            "label selector over the inventory: every label given must match", min_properties=1
        ),
        ObjectField.DEVICES: {
            "type": "array",
            "description": "inventory devices, by name",
            "items": _device_name(),
            "minItems": 1,
            "uniqueItems": True,
        },
        ObjectField.SUBSCRIBER_GROUP: {
            "type": "string",
            "minLength": 1,
            "description": "a subscriber group name",
        },
        ObjectField.RESOURCES: {
            "type": "array",
            "description": "what may be put to sleep (default: links)",
            "items": {"enum": list(SLEEP_RESOURCES)},
            "minItems": 1,
            "uniqueItems": True,
        },
    }
    schema: JsonSchema = {
        "type": "object",
        "description": "28.312 expectationObjects: what the expectation applies to",
        "additionalProperties": False,
        "properties": {field.value: known[field] for field in spec.objects},
    }
    if spec.type is ExpectationType.E2E_QOS:
        schema["required"] = [ObjectField.TRAFFIC_CLASS.value]
        schema["oneOf"] = [{"required": ["path"]}, {"required": ["sites"]}]
    else:
        choices = [f.value for f in spec.objects if f is not ObjectField.RESOURCES]
        schema["anyOf"] = [{"required": [name]} for name in choices]
    return schema


def _target_schema(spec: TargetSpec) -> JsonSchema:
    number: JsonSchema = {"type": "number", "minimum": spec.minimum, "maximum": spec.maximum}
    single = [c.value for c in TargetCondition if c is not TargetCondition.WITHIN_RANGE]
    return {
        "type": "object",
        "description": f"{spec.name} ({spec.unit}): {spec.description}; {spec.better.value} "
        "is better",
        "required": ["name", "condition"],
        "additionalProperties": False,
        "properties": {
            "name": {"const": spec.name},
            "condition": {"enum": [c.value for c in TargetCondition]},
            "value": number,
            "upper": number,
            "range": {"type": "array", "items": number, "minItems": 2, "maxItems": 2},
            "unit": {"const": spec.unit},
        },
        "if": {"properties": {"condition": {"const": TargetCondition.WITHIN_RANGE.value}}},
        "then": {
            "oneOf": [
                {"required": ["range"], "not": {"anyOf": [{"required": ["value"]}]}},
                {"required": ["value", "upper"], "not": {"anyOf": [{"required": ["range"]}]}},
            ]
        },
        "else": {
            "properties": {"condition": {"enum": single}},
            "required": ["value"],
            "not": {"anyOf": [{"required": ["range"]}, {"required": ["upper"]}]},
        },
    }


def _context_schema(spec: ContextSpec) -> JsonSchema:
    value: JsonSchema
    if spec.kind is ContextKind.TIME_WINDOW:
        value = {
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$",
        }
    elif spec.kind is ContextKind.SECONDS:
        value = {"type": "integer", "minimum": 0, "maximum": spec.maximum}
    else:
        value = {"enum": list(spec.choices)}
    return {
        "type": "object",
        "description": spec.description,
        "required": ["name", "value"],
        "additionalProperties": False,
        "properties": {"name": {"const": spec.name}, "value": value},
    }


def _expectation_schema(spec: ExpectationSpec) -> JsonSchema:
    targets: JsonSchema = {
        "type": "array",
        "minItems": 1,
        "description": "28.312 expectationTargets",
        "items": {"oneOf": [_target_schema(t) for t in spec.targets]},
    }
    constraints: list[JsonSchema] = [
        {"contains": {"properties": {"name": {"const": name}}, "required": ["name"]}}
        for name in spec.required_targets
    ]
    if spec.one_of_targets:
        constraints.append(
            {
                "oneOf": [
                    {"contains": {"properties": {"name": {"const": name}}, "required": ["name"]}}
                    for name in spec.one_of_targets
                ]
            }
        )
    if constraints:
        targets["allOf"] = constraints
    return {
        "type": "object",
        "description": spec.description,
        "required": ["type", "objects", "targets"],
        "additionalProperties": False,
        "properties": {
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 63,
                "description": "28.312 expectationId; unique within the intent",
            },
            "type": {"const": spec.type.value},
            "verb": {
                "enum": [v.value for v in ExpectationVerb],
                "default": ExpectationVerb.ENSURE.value,
            },
            "objects": _objects_schema(spec),
            "targets": targets,
            "contexts": {
                "type": "array",
                "description": "28.312 expectationContexts",
                "items": {"oneOf": [_context_schema(c) for c in spec.contexts]},
            },
        },
    }


def json_schema() -> JsonSchema:
    """The JSON Schema (draft 2020-12) of one intent document, built from the catalogue.

    It checks structure, names, types, units and ranges. What a schema cannot see — that a
    device exists in the inventory, that two expectations contradict each other, conflicts
    between intents — is checked by ``netpilot intents validate``.
    """
    definitions = {
        f"{spec.type.value}-expectation": _expectation_schema(spec) for spec in CATALOGUE.values()
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "netpilot intent",
        "description": "A netpilot intent file: a Kubernetes-style envelope around a 3GPP TS "
        "28.312-shaped intent. One YAML document per intent.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": KIND},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {
                        "type": "string",
                        "pattern": NAME_PATTERN,
                        "maxLength": 63,
                        "description": "unique across the intent set",
                    },
                    "labels": _string_map("free-form labels"),
                    "annotations": _string_map("free-form notes"),
                },
            },
            "spec": {
                "type": "object",
                "required": ["expectations"],
                "additionalProperties": False,
                "properties": {
                    "priority": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": PRIORITY_MAX,
                        "default": PRIORITY_DEFAULT,
                        "description": "28.312 intentPriority: the higher wins a conflict",
                    },
                    "adminState": {
                        "enum": [a.value for a in AdminState],
                        "default": AdminState.ACTIVATED.value,
                        "description": "28.312 intentAdminState",
                    },
                    "mode": {
                        "enum": [m.value for m in IntentMode],
                        "default": IntentMode.AUTO.value,
                        "description": "auto acts; dry-run plans and reports only",
                    },
                    "expectations": {
                        "type": "array",
                        "minItems": 1,
                        "description": "28.312 intentExpectations",
                        "items": {
                            "oneOf": [{"$ref": f"#/$defs/{name}"} for name in sorted(definitions)]
                        },
                    },
                    "guards": {
                        "type": "object",
                        "additionalProperties": False,
                        "description": "limits on what the controller may do for this intent",
                        "properties": {
                            "maxChangesPerHour": {"type": "integer", "minimum": 0, "maximum": 3600},
                            "maxDevicesPerChange": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1000,
                            },
                            "cooldownSeconds": {"type": "number", "minimum": 0, "maximum": 86_400},
                        },
                    },
                },
            },
        },
        "$defs": definitions,
    }
