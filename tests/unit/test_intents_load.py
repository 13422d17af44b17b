"""The intent loader: valid files load, every broken file is refused with FILE:LINE."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.model import ExpectationType, IntentMode, TargetCondition, TrafficClass
from intents.load import IntentSource, load_intent_set

DEVICES = frozenset({"r1", "r2", "r3", "r4"})
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "intents"

GOOD = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video-west-east}
spec:
  priority: 100
  mode: dry-run
  expectations:
    - id: video-latency
      type: e2e-qos
      objects: {trafficClass: video, path: {from: r1, to: r4}}
      targets:
        - {name: latencyMs, condition: lessThan, value: 30}
        - {name: lossRatio, condition: withinRange, value: 0, upper: 0.01}
"""


def load(text: str | bytes, file: str = "intent.yaml"):
    return load_intent_set([IntentSource(file, text)], known_devices=DEVICES)


def test_good_intent_loads_with_every_field():
    result = load(GOOD)
    assert result.ok, result.errors
    (intent,) = result.intents
    assert intent.name == "video-west-east"
    assert intent.priority == 100
    assert intent.mode is IntentMode.DRY_RUN
    (expectation,) = intent.expectations
    assert expectation.type is ExpectationType.E2E_QOS
    assert expectation.objects.traffic_class is TrafficClass.VIDEO
    assert (expectation.objects.path.source, expectation.objects.path.destination) == ("r1", "r4")
    latency, loss = expectation.targets
    assert latency.condition is TargetCondition.LESS_THAN and latency.value == 30
    assert loss.is_met(0.005) and not loss.is_met(0.02)


def test_auto_is_the_default_mode_and_both_supported_modes_load():
    assert load(GOOD.replace("  mode: dry-run\n", "")).intents[0].mode is IntentMode.AUTO
    assert load(GOOD.replace("mode: dry-run", "mode: auto")).intents[0].mode is IntentMode.AUTO


def test_shipped_examples_are_valid():
    sources = [IntentSource(str(p), p.read_bytes()) for p in sorted(EXAMPLES.glob("*.yaml"))]
    assert sources, "no shipped examples"
    result = load_intent_set(sources, known_devices=DEVICES)
    assert result.ok, [str(e) for e in result.errors]


def test_generation_changes_with_the_spec_only():
    first = load(GOOD).intents[0]
    relabelled = load(
        GOOD.replace("{name: video-west-east}", "{name: video-west-east, labels: {a: b}}")
    )
    changed = load(GOOD.replace("value: 30", "value: 25"))
    assert relabelled.intents[0].generation == first.generation
    assert changed.intents[0].generation != first.generation


BROKEN = [
    pytest.param(
        "apiVersion: netpilot/v1\nkind: Intent\nmetadata:\n  name: a\n   bad: x\n",
        5,
        "syntax",
        id="yaml-syntax",
    ),
    pytest.param(
        GOOD.replace("priority: 100", "priority: high"), 5, "must be an integer", id="wrong-type"
    ),
    pytest.param(
        GOOD.replace("  mode: dry-run", "  mode: dry-run\n  colour: blue"),
        7,
        "unknown field 'colour'",
        id="unknown-field",
    ),
    pytest.param(
        GOOD.replace("name: latencyMs", "name: latency"),
        12,
        "unknown value 'latency'",
        id="unknown-target",
    ),
    pytest.param(
        GOOD.replace(
            "{name: latencyMs, condition: lessThan, value: 30}",
            "{name: latencyMs, condition: lessThan, value: 30, unit: s}",
        ),
        12,
        "wrong unit 's'",
        id="bad-unit",
    ),
    pytest.param(GOOD.replace("to: r4", "to: r9"), 10, "unknown device 'r9'", id="unknown-device"),
    pytest.param(GOOD.replace("value: 30", "value: -3"), 12, "at least 0", id="out-of-range"),
    pytest.param(
        GOOD.replace("type: e2e-qos", "type: e2e-qoss"), 9, "did you mean 'e2e-qos'", id="typo-hint"
    ),
    pytest.param(
        GOOD.replace("upper: 0.01", "upper: 0.01, unit: ratio, value: 2"),
        13,
        "duplicate key",
        id="duplicate-key",
    ),
    pytest.param(
        GOOD.replace(
            "condition: withinRange, value: 0, upper: 0.01",
            "condition: withinRange, value: 0.5, upper: 0.01",
        ),
        13,
        "below value",
        id="contradictory-range",
    ),
    pytest.param(
        GOOD.replace(
            "      type: e2e-qos\n",
            "      type: e2e-qos\n      contexts: [{name: redundancy, value: n+1}]\n",
        ),
        10,
        "unknown context 'redundancy' for an e2e-qos expectation",
        id="context-of-another-type",
    ),
    pytest.param(
        "apiVersion: netpilot/v1\nkind: Intent\nmetadata: &m {name: a}\nspec: *m\n",
        4,
        "aliases are not allowed",
        id="alias",
    ),
    pytest.param(
        b"apiVersion: netpilot/v1\nkind: Intent\nmetadata: {name: \xff}\n",
        3,
        "not valid UTF-8",
        id="non-utf8",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN)
def test_broken_file_is_refused_with_file_and_line(text, line, message):
    result = load(text, file="broken.yaml")
    assert not result.ok and result.intents == ()
    (error,) = result.errors
    assert f"broken.yaml:{line}:" in str(error)
    assert message in str(error)


def test_duplicate_names_across_files_refuse_the_whole_set():
    result = load_intent_set(
        [IntentSource("a.yaml", GOOD), IntentSource("b.yaml", GOOD)], known_devices=DEVICES
    )
    assert result.intents == ()
    (error,) = result.errors
    assert (
        "b.yaml:" in str(error) and "duplicate intent name" in str(error) and "a.yaml" in str(error)
    )


def test_one_broken_file_refuses_every_intent():
    result = load_intent_set(
        [IntentSource("good.yaml", GOOD), IntentSource("bad.yaml", "apiVersion: [")],
        known_devices=DEVICES,
    )
    assert result.intents == () and len(result.errors) == 1


def test_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    result = load("\n".join(lines))
    assert not result.ok and "aliases are not allowed" in str(result.errors[0])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_arbitrary_input_never_crashes_or_half_loads(data):
    result = load(data)
    assert result.ok or result.intents == ()
    for error in result.errors:
        assert str(error).startswith("intent.yaml:")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(GOOD) - 1),
    st.sampled_from(["", "x", ":", "\t", "[", "1e999", "-"]),
)
def test_mutated_good_file_never_crashes(position, insert):
    mutated = GOOD[:position] + insert + GOOD[position + 1 :]
    result = load(mutated)
    assert result.ok or result.intents == ()


def test_approve_mode_loads_now_that_operators_can_approve():
    (intent,) = load(GOOD.replace("mode: dry-run", "mode: approve")).intents
    assert intent.mode is IntentMode.APPROVE


def test_an_unknown_short_device_name_lists_the_inventory():
    result = load(GOOD.replace("to: r4", "to: r9"))
    (error,) = result.errors
    assert "unknown device 'r9'" in str(error) and error.hint == "known: r1, r2, r3, r4"
    close = load(GOOD.replace("to: r4", "to: rr4"))
    assert close.errors[0].hint == "did you mean 'r4'?"  # a close name is still preferred
