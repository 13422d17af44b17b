"""The loader on the three expectation types: every field, units, references against the
inventory, contradictions within one intent, and what this version cannot honour yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.model import Device, ExpectationType, TargetCondition, TrafficClass
from intents.contexts import (
    expectation_applies,
    parse_time_window,
    redundancy,
    wake_lead_time,
)
from intents.load import IntentSet, IntentSource, load_intent_set
from intents.objects import Objects, SitePair
from intents.support import CURRENT_SUPPORT, FULL_SUPPORT, Support
from tests.intents.conftest import DEVICES, EXAMPLES, energy, qos, video


def load(
    text: str,
    *,
    support: Support = FULL_SUPPORT,
    inventory: tuple[Device, ...] | None = DEVICES,
    file: str = "i.yaml",
) -> IntentSet:
    return load_intent_set([IntentSource(file, text)], inventory=inventory, support=support)


ENERGY_FULL = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: night, labels: {team: energy}, annotations: {ticket: OPS-1}}
spec:
  priority: 40
  adminState: deactivated
  mode: dry-run
  expectations:
    - id: sleep
      type: energy-saving
      verb: deliver
      objects: {select: {site: east}, devices: [r3], resources: [links, lineCards]}
      targets:
        - {name: powerBudgetWatts, condition: lessThanOrEqual, value: 1200, unit: W}
        - {name: maxUtilization, condition: withinRange, range: [0, 0.6]}
      contexts:
        - {name: timeWindow, value: "23:30-05:45"}
        - {name: redundancy, value: none}
        - {name: wakeLeadTimeSeconds, value: 900}
  guards: {maxChangesPerHour: 2, maxDevicesPerChange: 3, cooldownSeconds: 600.5}
"""


def test_energy_saving_loads_every_field():
    result = load(ENERGY_FULL)
    assert result.ok, [str(e) for e in result.errors]
    (intent,) = result.intents
    (expectation,) = intent.expectations
    assert expectation.type is ExpectationType.ENERGY_SAVING
    objects = expectation.objects
    assert isinstance(objects, Objects)
    assert objects.select == {"site": "east"} and objects.devices == ("r3",)
    assert objects.resources == ("links", "lineCards")
    budget, headroom = expectation.targets
    assert (budget.name, budget.condition, budget.value, budget.unit) == (
        "powerBudgetWatts",
        TargetCondition.LESS_THAN_OR_EQUAL,
        1200,
        "W",
    )
    assert (headroom.value, headroom.upper) == (0, 0.6)
    assert headroom.is_met(0.5) and not headroom.is_met(0.61)
    assert wake_lead_time(expectation) == timedelta(seconds=900)
    assert redundancy(expectation) == "none"
    assert intent.guards.cooldown == timedelta(seconds=600.5)
    assert intent.guards.max_devices_per_change == 3
    night = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    assert expectation_applies(expectation, night)
    assert not expectation_applies(expectation, night.replace(hour=12))


def test_energy_defaults_for_redundancy_and_wake_lead_time():
    (intent,) = load(energy()).intents
    (expectation,) = intent.expectations
    assert redundancy(expectation) == "n+1"
    assert wake_lead_time(expectation) == timedelta(seconds=300)
    assert expectation_applies(expectation, datetime(2026, 1, 1, 12, tzinfo=UTC))


def test_video_experience_with_subscriber_group():
    text = video().replace(
        "objects: {select: {site: east}}",
        "objects: {select: {site: east, role: edge}, subscriberGroup: gold}",
    )
    result = load(text)
    assert result.ok, [str(e) for e in result.errors]
    (expectation,) = result.intents[0].expectations
    assert isinstance(expectation.objects, Objects)
    assert expectation.objects.subscriber_group == "gold"
    assert expectation.type is ExpectationType.VIDEO_EXPERIENCE


def test_e2e_qos_between_sites():
    text = qos().replace("path: {from: r1, to: r4}", "sites: {from: west, to: east}")
    result = load(text)
    assert result.ok, [str(e) for e in result.errors]
    objects = result.intents[0].expectations[0].objects
    assert isinstance(objects, Objects)
    assert objects.sites == SitePair("west", "east") and objects.path is None
    assert objects.traffic_class is TrafficClass.VIDEO


def test_time_windows():
    window = parse_time_window("22:00-06:00")
    assert window.contains(datetime(2026, 1, 1, 23, 59, tzinfo=UTC))
    assert window.contains(datetime(2026, 1, 1, 5, 59, tzinfo=UTC))
    assert not window.contains(datetime(2026, 1, 1, 6, 0, tzinfo=UTC))
    assert str(window) == "22:00-06:00"
    for bad in ("22:00", "24:00-01:00", "10:00-10:00", "1:00-02:00", "aa:bb-cc:dd"):
        with pytest.raises(ValueError, match="HH:MM|time of day|empty"):
            parse_time_window(bad)


def test_the_shipped_type_examples_are_enforced_but_for_the_unmeasured_video_targets():
    paths = sorted((EXAMPLES / "intent-types").glob("*.yaml"))
    result = load_intent_set(
        [IntentSource(str(p), p.read_bytes()) for p in paths], inventory=DEVICES
    )
    assert result.ok, [str(e) for e in result.errors]
    assert {i.name for i in result.intents} == {"night-energy-east", "video-experience-east"}
    # both types are enforced now (with their time windows): only the video targets
    # nothing measures or acts for are reported
    warned = sorted(str(w).split(": warning: ")[1].split(" is ")[0] for w in result.warnings)
    assert warned == ["bitrateKbps", "startupDelaySeconds"], [str(w) for w in result.warnings]
    assert not any("not enforced" in str(w) for w in result.warnings)


def at(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BROKEN = [
    # (text, line, fragment)
    pytest.param(
        at(qos(), "path: {from: r1, to: r4}", "path: {from: r1, to: r9}"),
        9,
        "unknown device 'r9'",
        id="unknown-device-in-path",
    ),
    pytest.param(
        at(energy(), "{role: core}", "{rolle: core}"),
        9,
        "no device of the inventory has the label 'rolle'",
        id="unknown-label-key",
    ),
    pytest.param(
        at(energy(), "{role: core}", "{role: cor}"),
        9,
        "did you mean 'core'",
        id="unknown-label-value",
    ),
    pytest.param(
        at(energy(), "{role: core}", "{role: core, site: west}, devices: [r3]"),
        9,
        "selects no device of the inventory",
        id="selector-selects-nothing",
    ),
    pytest.param(
        at(qos(), "path: {from: r1, to: r4}", "sites: {from: west, to: north}"),
        9,
        "unknown site 'north'",
        id="unknown-site",
    ),
    pytest.param(
        at(
            energy(),
            "        - {name: maxUtilization, condition: lessThan, value: 0.7}\n",
            "        - {name: powerBudgetWatts, condition: lessThan, value: 900}\n",
        ),
        11,
        "needs exactly one of powerReductionRatio or powerBudgetWatts",
        id="energy-both-goals",
    ),
    pytest.param(
        at(
            energy(),
            "        - {name: maxUtilization, condition: lessThan, value: 0.7}\n",
            "",
        ),
        11,
        "needs a maxUtilization target",
        id="energy-without-headroom",
    ),
    pytest.param(
        at(video(), "stallRatio", "latencyMs"),
        11,
        "latencyMs is an e2e-qos target",
        id="target-of-another-type",
    ),
    pytest.param(
        at(
            video(),
            "condition: lessThan, value: 0.01",
            "condition: lessThan, value: 0.01, unit: percent",
        ),
        11,
        "wrong unit 'percent' for stallRatio (expected ratio)",
        id="bad-unit",
    ),
    pytest.param(
        at(video(), "{select: {site: east}}", "{select: {site: east}, path: {from: r1, to: r4}}"),
        9,
        "objects.path applies to e2e-qos expectations",
        id="object-field-of-another-type",
    ),
    pytest.param(
        at(video(), "{select: {site: east}}", "{}"),
        9,
        "needs objects.select, objects.devices or objects.subscriberGroup",
        id="video-without-objects",
    ),
    pytest.param(
        at(
            qos(),
            "path: {from: r1, to: r4}",
            "path: {from: r1, to: r4}, sites: {from: west, to: east}",
        ),
        9,
        "exactly one of objects.path or objects.sites",
        id="path-and-sites",
    ),
    pytest.param(
        at(
            video(),
            "      targets:",
            "      contexts: [{name: timeWindow, value: 23:00}]\n      targets:",
        ),
        10,
        "quote it",
        id="sexagesimal-time",
    ),
    pytest.param(
        at(
            video(),
            "      targets:",
            "      contexts: [{name: redundancy, value: n+1}]\n      targets:",
        ),
        10,
        "redundancy is an energy-saving context",
        id="context-of-another-type",
    ),
    pytest.param(
        at(
            energy(),
            "      targets:",
            "      contexts: [{name: wakeLeadTimeSeconds, value: 1}, "
            "{name: wakeLeadTimeSeconds, value: 2}]\n      targets:",
        ),
        10,
        "context 'wakeLeadTimeSeconds' appears twice",
        id="duplicate-context",
    ),
    pytest.param(
        at(
            qos(),
            "value: 30}",
            "value: 30}\n        - {name: latencyMs, condition: lessThan, value: 20}",
        ),
        12,
        "appears twice in one expectation",
        id="duplicate-target",
    ),
    pytest.param(
        at(qos(), "condition: lessThan, value: 30", "condition: withinRange, range: [30, 20]"),
        11,
        "below its lower end",
        id="reversed-range",
    ),
    pytest.param(
        at(qos(), "condition: lessThan, value: 30", "condition: withinRange, value: 30"),
        11,
        "withinRange needs 'range: [low, high]'",
        id="range-without-upper",
    ),
    pytest.param(
        at(video(), "condition: lessThan, value: 0.01", "condition: greaterThan, value: 1"),
        11,
        "can never be met",
        id="never-met-above",
    ),
    pytest.param(
        at(qos(), "value: 30", "value: 1e3"),
        11,
        "must be a number, got '1e3'",
        id="yaml-1e3-is-text",
    ),
    pytest.param(
        at(qos(), "value: 30", "value: 1" + "0" * 400),
        11,
        "must be finite",
        id="huge-number",
    ),
    pytest.param(
        at(qos(), "priority: 100", "priority: 10000000000000000000000000000000000"),
        5,
        "too large",
        id="huge-integer",
    ),
    pytest.param(
        at(qos(), "kind: Intent\n", "kind: Intent\nstatus: {}\n"),
        3,
        "unknown field 'status'",
        id="unknown-top-level-field",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BROKEN)
def test_broken_intents_are_located(text, line, fragment):
    result = load(text, file="b.yaml")
    assert not result.ok and result.intents == ()
    messages = [str(e) for e in result.errors]
    assert any(f"b.yaml:{line}:" in m and fragment in m for m in messages), messages


def test_errors_in_different_expectations_are_all_reported():
    text = at(
        qos(),
        "      targets:\n        - {name: latencyMs, condition: lessThan, value: 30}\n",
        "      targets:\n        - {name: latencyMs, condition: lessThan, value: 30, unit: s}\n"
        "    - id: second\n      type: e2e-qos\n      objects: {trafficClass: gold, "
        "path: {from: r1, to: r4}}\n      targets: [{name: lossRatio, condition: lessThan, "
        "value: 0.1}]\n",
    )
    result = load(text, file="b.yaml")
    assert len(result.errors) == 2
    assert "wrong unit" in str(result.errors[0]) and "'gold'" in str(result.errors[1])


def test_contradiction_within_one_intent_is_an_error():
    text = at(
        qos(),
        "        - {name: latencyMs, condition: lessThan, value: 30}\n",
        "        - {name: latencyMs, condition: lessThan, value: 30}\n"
        "    - id: other\n      type: e2e-qos\n"
        "      objects: {trafficClass: video, path: {from: r1, to: r4}}\n"
        "      targets: [{name: latencyMs, condition: greaterThanOrEqual, value: 30}]\n",
    )
    result = load(text, file="b.yaml")
    (error,) = result.errors
    assert "b.yaml:12:" in str(error) and "contradicts latencyMs lessThan 30" in str(error)


def test_compatible_targets_within_one_intent_load():
    text = at(
        qos(),
        "        - {name: latencyMs, condition: lessThan, value: 30}\n",
        "        - {name: latencyMs, condition: lessThan, value: 30}\n"
        "    - id: other\n      type: e2e-qos\n"
        "      objects: {trafficClass: video, path: {from: r1, to: r4}}\n"
        "      targets: [{name: latencyMs, condition: greaterThan, value: 2}]\n",
    )
    result = load(text)
    assert result.ok, [str(e) for e in result.errors]
    # a lower bound on latency is unusual: the loader says so without refusing
    assert any("did you mean lessThan" in str(w) for w in result.warnings)


def test_without_inventory_references_are_not_checked():
    text = at(qos(), "to: r4", "to: r9")
    assert load(text, inventory=None).ok
    assert not load(text).ok


def test_with_names_only_labels_are_not_checked():
    result = load_intent_set(
        [IntentSource("a.yaml", energy(select="{role: nothing-like-this}"))],
        known_devices=frozenset({"r1"}),
        support=FULL_SUPPORT,
    )
    assert result.ok


CURRENT = [
    pytest.param(
        at(
            qos(),
            "name: latencyMs, condition: lessThan, value: 30",
            "name: availability, condition: greaterThan, value: 0.99",
        ),
        11,
        "warning",
        "availability is not measured by this netpilot version",
        id="unmeasured-target",
    ),
    pytest.param(
        at(qos(), "path: {from: r1, to: r4}", "sites: {from: west, to: east}"),
        9,
        "warning",
        "paths between sites are not measured",
        id="site-pair",
    ),
    pytest.param(
        at(
            video(),
            "name: stallRatio, condition: lessThan, value: 0.01",
            "name: startupDelaySeconds, condition: lessThan, value: 2",
        ),
        11,
        "warning",
        "startupDelaySeconds is not measured by this netpilot version",
        id="unmeasured-video-target",
    ),
    pytest.param(
        at(
            video(),
            "name: stallRatio, condition: lessThan, value: 0.01",
            "name: bitrateKbps, condition: greaterThan, value: 3000",
        ),
        11,
        "warning",
        "bitrateKbps is not measured by this netpilot version",
        id="video-target-no-policy-acts-on",
    ),
]


WINDOW = "      contexts: [{name: timeWindow, value: '18:00-22:00'}]\n      targets:"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(at(qos(), "      targets:", WINDOW), id="e2e-qos"),
        pytest.param(at(energy(), "      targets:", WINDOW), id="energy-saving"),
        pytest.param(at(video(), "      targets:", WINDOW), id="video-experience"),
    ],
)
def test_every_type_is_enforced_within_its_time_window(text):
    # the decide step acts on no expectation outside its window (energy saving wakes what
    # it put to sleep), so a window is honoured, not an error, on every enforced type
    result = load(text, support=CURRENT_SUPPORT)
    assert result.ok, [str(e) for e in result.errors]
    assert result.warnings == (), [str(w) for w in result.warnings]
    (expectation,) = result.intents[0].expectations
    assert expectation.contexts == {"timeWindow": "18:00-22:00"}


@pytest.mark.parametrize(("text", "line", "severity", "fragment"), CURRENT)
def test_what_this_version_cannot_honour(text, line, severity, fragment):
    result = load(text, support=CURRENT_SUPPORT, file="c.yaml")
    found = result.errors if severity == "error" else result.warnings
    assert result.ok is (severity == "warning")
    assert any(f"c.yaml:{line}:" in str(f) and fragment in str(f) for f in found), [
        str(f) for f in (*result.errors, *result.warnings)
    ]
    assert load(text, support=FULL_SUPPORT).ok
