"""Property tests of the loader: whatever the input, it never crashes and never half-loads;
every error is located; what it loads renders back to a file that loads the same."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from controller.model import Intent
from intents.diff import intent_to_dict
from intents.load import IntentSet, IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from tests.intents.conftest import DEVICES, example_files
from tests.intents.test_schema import documents

EXAMPLE_TEXTS = [p.read_text() for p in example_files()]
EXAMPLE_DATA = [yaml.safe_load(t) for t in EXAMPLE_TEXTS]


def load(*texts: str | bytes) -> IntentSet:
    return load_intent_set(
        [IntentSource(f"f{i}.yaml", t) for i, t in enumerate(texts)],
        inventory=DEVICES,
        support=FULL_SUPPORT,
    )


def check_all_or_nothing(result: IntentSet, files: int = 1) -> None:
    assert result.ok or result.intents == ()
    assert result.ok == (not result.errors)
    for error in result.errors:
        location = error.location
        assert location.file in {f"f{i}.yaml" for i in range(files)}
        assert location.line >= 1 and location.column >= 1
        assert str(error).startswith(f"{location.file}:{location.line}:")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def put(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    document = copy.deepcopy(document)
    if not path:
        return value
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_field_replaced_by_any_value_never_crashes(data):
    document = data.draw(st.sampled_from(EXAMPLE_DATA))
    path = data.draw(st.sampled_from(list(paths(document))))
    value = data.draw(JSON)
    text = yaml.safe_dump(put(document, path, value), allow_unicode=True)
    check_all_or_nothing(load(text))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXAMPLE_TEXTS), st.data())
def test_random_bytes_spliced_into_a_good_file(text, data):
    raw = text.encode()
    position = data.draw(st.integers(min_value=0, max_value=len(raw)))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    check_all_or_nothing(load(raw[:position] + junk + raw[position:]))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(EXAMPLE_TEXTS), st.text(max_size=30), st.integers(min_value=0))
def test_a_broken_second_file_refuses_the_good_first_one(good, junk, seed):
    broken = good[: seed % len(good)] + junk
    result = load(good, broken)
    check_all_or_nothing(result, files=2)
    if not result.ok:
        assert result.intents == ()


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=6), st.integers(min_value=2, max_value=12))
def test_alias_bombs_are_refused(depth, width):
    lines = ["a0: &a0 [x]"]
    lines += [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth + 1)
    ]
    result = load("\n".join(lines))
    assert not result.ok and "aliases are not allowed" in str(result.errors[0])


def test_merge_keys_and_nesting_are_refused_cleanly():
    merge = "base: &b {name: x}\nmetadata:\n  <<: *b\n"
    assert "aliases are not allowed" in str(load(merge).errors[0])
    for deep in ("[" * 20_000, "{a: " * 5_000, "- " * 3_000 + "x"):
        result = load(deep)
        check_all_or_nothing(result)
        assert not result.ok


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=30, max_value=5000), st.sampled_from(["value", "priority"]))
def test_huge_numbers_are_refused(digits, field):
    text = EXAMPLE_TEXTS[0]
    number = "9" * digits
    if field == "value":
        mutated = text.replace("value: 30", f"value: {number}")
    else:
        mutated = text.replace("priority: 100", f"priority: {number}")
    assume(mutated != text)
    result = load(mutated)
    assert not result.ok
    assert len(str(result.errors[0])) < 400  # the message does not repeat the number


def roundtrip(intent: Intent) -> Intent:
    text = yaml.safe_dump(intent_to_dict(intent), sort_keys=False)
    again = load(text)
    assert again.ok, [str(e) for e in again.errors]
    (reloaded,) = again.intents
    return reloaded


def test_shipped_examples_render_back_to_the_same_intents():
    loaded = load(*EXAMPLE_TEXTS)
    assert loaded.ok
    for intent in loaded.intents:
        reloaded = roundtrip(intent)
        assert replace(reloaded, location=None) == replace(intent, location=None)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_loadable_document_renders_back_to_the_same_intent(document):
    result = load(yaml.safe_dump(document))
    assume(result.ok)
    (intent,) = result.intents
    reloaded = roundtrip(intent)
    assert replace(reloaded, location=None) == replace(intent, location=None)
    assert reloaded.generation == intent.generation
