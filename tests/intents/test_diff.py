"""Semantic diffs: notation never shows up as a change; meaning always does."""

from __future__ import annotations

from controller.model import Intent
from intents.diff import diff_intent_sets, flatten_intent
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from tests.intents.conftest import energy, qos


def intents(*texts: str) -> tuple[Intent, ...]:
    loaded = load_intent_set(
        [IntentSource(f"f{i}.yaml", t) for i, t in enumerate(texts)], support=FULL_SUPPORT
    )
    assert loaded.ok, [str(e) for e in loaded.errors]
    return loaded.intents


def test_notation_is_not_a_change():
    plain = qos("video")
    verbose = (
        "# the same intent, written out\n"
        "apiVersion: netpilot/v1\nkind: Intent\nmetadata:\n  name: video\nspec:\n"
        "  expectations:\n  - targets:\n    - value: 30.0\n      condition: lessThan\n"
        "      name: latencyMs\n      unit: ms\n    objects:\n      path: {to: r4, from: r1}\n"
        "      trafficClass: video\n    type: e2e-qos\n    verb: ensure\n    id: latency\n"
        "  adminState: activated\n  mode: auto\n  priority: 100\n"
        "  guards: {maxChangesPerHour: 6, maxDevicesPerChange: 1, cooldownSeconds: 120}\n"
    )
    diff = diff_intent_sets(intents(plain), intents(verbose))
    assert diff.empty and diff.unchanged == ("video",)
    assert intents(plain)[0].generation == intents(verbose)[0].generation


def test_reordered_targets_and_devices_are_not_a_change():
    one = energy("e").replace("{select: {role: core}}", "{devices: [r2, r3]}")
    two = energy("e").replace("{select: {role: core}}", "{devices: [r3, r2]}")
    swapped = one.replace(
        "        - {name: powerReductionRatio, condition: greaterThan, value: 0.2}\n"
        "        - {name: maxUtilization, condition: lessThan, value: 0.7}\n",
        "        - {name: maxUtilization, condition: lessThan, value: 0.7}\n"
        "        - {name: powerReductionRatio, condition: greaterThan, value: 0.2}\n",
    )
    assert swapped != one
    assert diff_intent_sets(intents(one), intents(two)).empty
    assert diff_intent_sets(intents(one), intents(swapped)).empty


def test_added_removed_and_changed_fields():
    old = intents(qos("video", latency=30), qos("voice", cls="voice", priority=10))
    new = intents(qos("video", latency=25), energy("sleep"))
    diff = diff_intent_sets(old, new)
    assert diff.added == ("sleep",) and diff.removed == ("voice",)
    (change,) = diff.changed
    assert change.name == "video"
    (field,) = change.changes
    assert field.path == "spec.expectations[latency].targets[latencyMs].value"
    assert (field.old, field.new) == (30, 25)
    assert diff.touched() == {"sleep", "video"}
    assert diff.lines() == [
        "+ sleep",
        "- voice",
        "~ video",
        "    spec.expectations[latency].targets[latencyMs].value: 30 -> 25",
    ]


def test_flatten_keys_lists_by_identity():
    leaves = flatten_intent(intents(energy("e"))[0])
    assert leaves["spec.expectations[sleep].targets[maxUtilization].value"] == 0.7
    assert leaves["spec.expectations[sleep].objects.select.role"] == "core"
    assert leaves["spec.guards.cooldownSeconds"] == 120
