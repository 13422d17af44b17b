"""The published JSON Schema: well-formed, accepts every shipped example, agrees with the
loader (whatever the loader accepts, the schema accepts), refuses what editors should flag."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller import cli
from controller.model import ExpectationType, TargetCondition, TrafficClass
from intents.load import IntentSource, load_intent_set
from intents.schema import CATALOGUE, ContextKind, TargetSpec, json_schema
from intents.support import FULL_SUPPORT
from tests.intents import jsonschema_subset as js
from tests.intents.conftest import ROOT, example_files

SCHEMA = json_schema()


def test_schema_is_json_and_uses_only_checked_keywords():
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA
    assert js.keywords_used(SCHEMA) <= js.KEYWORDS
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_cli_prints_the_schema(capsys):
    assert cli.main(["intents", "schema", "--output", "json"]) == cli.EXIT_OK
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1]) == SCHEMA
    assert cli.main(["intents", "schema"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out) == SCHEMA


def test_every_target_of_the_catalogue_is_in_the_schema():
    text = json.dumps(SCHEMA)
    for spec in CATALOGUE.values():
        for target in spec.targets:
            assert f'"const": "{target.name}"' in text
            assert f'"const": "{target.unit}"' in text


@pytest.mark.parametrize("path", example_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_schema_accepts_every_shipped_example(path):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents
    for document in documents:
        assert js.errors(document, SCHEMA) == []


GOOD = {
    "apiVersion": "netpilot/v1",
    "kind": "Intent",
    "metadata": {"name": "video"},
    "spec": {
        "expectations": [
            {
                "type": "e2e-qos",
                "objects": {"trafficClass": "video", "path": {"from": "r1", "to": "r4"}},
                "targets": [{"name": "latencyMs", "condition": "lessThan", "value": 30}],
            }
        ]
    },
}


def _edit(change: Callable[[Any], object]) -> Any:
    document = json.loads(json.dumps(GOOD))
    change(document)
    return document


def _expectation(document: Any) -> Any:
    return document["spec"]["expectations"][0]


BROKEN = {
    "unknown-field": lambda d: d["spec"].update(colour="blue"),
    "wrong-type": lambda d: d["spec"].update(priority="high"),
    "unknown-target": lambda d: _expectation(d)["targets"][0].update(name="latency"),
    "bad-unit": lambda d: _expectation(d)["targets"][0].update(unit="s"),
    "target-of-another-type": lambda d: _expectation(d)["targets"][0].update(name="stallRatio"),
    "out-of-range": lambda d: _expectation(d)["targets"][0].update(value=-1),
    "range-without-range": lambda d: _expectation(d)["targets"][0].update(condition="withinRange"),
    "range-and-value": lambda d: _expectation(d)["targets"][0].update(range=[0, 5]),
    "path-and-sites": lambda d: _expectation(d)["objects"].update(
        sites={"from": "west", "to": "east"}
    ),
    "no-class": lambda d: _expectation(d)["objects"].pop("trafficClass"),
    "bad-name": lambda d: d["metadata"].update(name="Video_1"),
    "energy-both-goals": lambda d: d["spec"].update(
        expectations=[
            {
                "type": "energy-saving",
                "objects": {"select": {"role": "core"}},
                "targets": [
                    {"name": "powerReductionRatio", "condition": "greaterThan", "value": 0.2},
                    {"name": "powerBudgetWatts", "condition": "lessThan", "value": 500},
                    {"name": "maxUtilization", "condition": "lessThan", "value": 0.7},
                ],
            }
        ]
    ),
    "energy-no-headroom": lambda d: d["spec"].update(
        expectations=[
            {
                "type": "energy-saving",
                "objects": {"select": {"role": "core"}},
                "targets": [{"name": "powerBudgetWatts", "condition": "lessThan", "value": 500}],
            }
        ]
    ),
    "bad-time-window": lambda d: _expectation(d).update(
        contexts=[{"name": "timeWindow", "value": "25:00-06:00"}]
    ),
}


def test_good_document_is_accepted():
    assert js.errors(GOOD, SCHEMA) == []


@pytest.mark.parametrize("change", BROKEN.values(), ids=BROKEN.keys())
def test_schema_and_loader_both_refuse_broken_documents(change):
    document = _edit(change)
    assert js.errors(document, SCHEMA), "the schema accepted it"
    loaded = load_intent_set(
        [IntentSource("x.yaml", yaml.safe_dump(document))], support=FULL_SUPPORT
    )
    assert not loaded.ok, "the loader accepted it"


# ------------------------------------------------------------------ loader => schema


def mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``valid`` 19 times in 20, else ``invalid``: most documents load, some do not."""
    # hypothesis favours the ends of a range, so the rare branch sits in the middle
    return st.integers(0, 19).flatmap(lambda roll: invalid if roll == 7 else valid)


NAMES = mostly(st.sampled_from(["video", "a-1", "night-sleep"]), st.sampled_from(["Bad", "x-"]))
WRONG = st.sampled_from(["30", True, None, -5, 10**9, 1.5])


def numbers(low: float, high: float) -> st.SearchStrategy[Any]:
    return mostly(st.floats(min_value=low, max_value=high, allow_nan=False), WRONG)


@st.composite
def targets(draw: st.DrawFn, target: TargetSpec) -> dict[str, object]:
    conditions = [c.value for c in TargetCondition]
    condition = draw(mostly(st.sampled_from(conditions), st.just("atLeast")))
    data = {"name": target.name, "condition": condition}
    low, high = target.minimum, min(target.maximum, 10_000.0)
    if condition == "withinRange":
        first = draw(numbers(low, high))
        second = draw(numbers(low, high))
        if isinstance(first, float) and isinstance(second, float):
            first, second = sorted((first, second))
        data["range"] = [first, second]
    else:
        data["value"] = draw(numbers(low, high))
    if draw(st.booleans()):
        data["unit"] = draw(mostly(st.just(target.unit), st.just("furlongs")))
    return data


@st.composite
def objects(draw: st.DrawFn, expectation_type: ExpectationType) -> dict[str, object]:
    data = {}
    if expectation_type.value == "e2e-qos":
        classes = [c.value for c in TrafficClass]
        data["trafficClass"] = draw(mostly(st.sampled_from(classes), st.just("silver")))
        if draw(st.booleans()):
            data["path"] = {"from": "r1", "to": draw(mostly(st.just("r4"), st.just("r1")))}
        else:
            data["sites"] = {"from": "west", "to": draw(mostly(st.just("east"), st.just(3)))}
        return data
    data["select"] = draw(
        mostly(st.sampled_from([{"role": "core"}, {"site": "east"}]), st.just({}))
    )
    if draw(st.booleans()):
        data["devices"] = draw(
            mostly(st.sampled_from([["r2"], ["r2", "r3"]]), st.just(["r2", "r2"]))
        )
    if expectation_type.value == "video-experience" and draw(st.booleans()):
        data["subscriberGroup"] = "gold"
    if expectation_type.value == "energy-saving" and draw(st.booleans()):
        data["resources"] = draw(mostly(st.sampled_from([["links"], ["lineCards"]]), st.just([])))
    return data


@st.composite
def contexts(draw: st.DrawFn, expectation_type: ExpectationType) -> list[dict[str, object]]:
    items = []
    chosen = draw(
        st.lists(
            st.sampled_from(CATALOGUE[expectation_type].contexts),
            max_size=3,
            unique_by=lambda c: c.name,
        )
    )
    for context in chosen:
        if context.kind is ContextKind.TIME_WINDOW:
            value = draw(mostly(st.sampled_from(["22:00-06:00", "07:00-23:00"]), st.just("7-8")))
        elif context.kind is ContextKind.SECONDS:
            value = draw(mostly(st.sampled_from([0, 300]), st.just(-1)))
        else:
            value = draw(mostly(st.sampled_from(context.choices), st.just("n+2")))
        items.append({"name": context.name, "value": value})
    return items


@st.composite
def documents(draw: st.DrawFn) -> dict[str, object]:
    expectation_type = draw(st.sampled_from(list(CATALOGUE)))
    spec_of_type = CATALOGUE[expectation_type]
    chosen = draw(
        st.lists(
            st.sampled_from(spec_of_type.targets),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t.name,
        )
    )
    if spec_of_type.one_of_targets and draw(mostly(st.just(True), st.just(False))):
        # energy-saving: the headroom and one goal, as the schema asks
        goal = draw(st.sampled_from(spec_of_type.one_of_targets))
        wanted = (goal, *spec_of_type.required_targets)
        chosen = [t for t in spec_of_type.targets if t.name in wanted]
    expectation = {
        "type": expectation_type.value,
        "objects": draw(objects(expectation_type)),
        "targets": [draw(targets(t)) for t in chosen],
    }
    if draw(st.booleans()):
        expectation["contexts"] = draw(contexts(expectation_type))
    if draw(st.booleans()):
        expectation["verb"] = draw(mostly(st.sampled_from(["deliver", "ensure"]), st.just("keep")))
    spec: dict[str, object] = {"expectations": [expectation]}
    if draw(st.booleans()):
        spec["priority"] = draw(mostly(st.sampled_from([0, 50, 1000]), st.just(1001)))
    if draw(st.booleans()):
        spec["mode"] = draw(mostly(st.sampled_from(["auto", "dry-run"]), st.just("manual")))
    if draw(st.booleans()):
        spec["guards"] = {"cooldownSeconds": draw(numbers(0, 86_400))}
    return {
        "apiVersion": "netpilot/v1",
        "kind": "Intent",
        "metadata": {"name": draw(NAMES)},
        "spec": spec,
    }


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_whatever_the_loader_accepts_the_schema_accepts(document):
    loaded = load_intent_set(
        [IntentSource("x.yaml", yaml.safe_dump(document))], support=FULL_SUPPORT
    )
    if loaded.ok:
        assert js.errors(document, SCHEMA) == []


def test_the_docs_document_every_target_context_and_object_field():
    docs = (ROOT / "docs" / "intents.md").read_text()
    for spec in CATALOGUE.values():
        assert f"### {spec.type.value}" in docs
        for target in spec.targets:
            assert f"| `{target.name}` | {target.unit} |" in docs, target.name
        for context in spec.contexts:
            assert f"`{context.name}`" in docs
        for field in spec.objects:
            assert f"| `{field.value}` |" in docs, field.value
