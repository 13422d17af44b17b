"""CAD OSE's shortcuts (analytics/_cad_kernel.py) against the direct transcription: steps
that keep the last group (the crossing is not redone), steady steps (a repeated level with
nothing new: only the counts move), and the most activated contexts for every setting of
``max_active_contexts``. The same predictions and scores, step for step."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from analytics.cad import ContextMemory, ContextualAnomalyDetector
from tests.analytics.cad_reference import ReferenceContextMemory, ReferenceDetector


def plateaus_and_noise() -> npt.NDArray[np.float64]:
    """Long plateaus (steady steps), noise (a new group most steps) and their switches."""
    rng = np.random.default_rng(21)
    parts = []
    for _ in range(12):
        parts.append(np.full(int(rng.integers(5, 60)), rng.uniform(0.0, 10.0)))
        parts.append(rng.uniform(0.0, 10.0, int(rng.integers(1, 40))))
        parts.append(np.tile(rng.uniform(0.0, 10.0, 3), int(rng.integers(2, 15))))
    return np.concatenate(parts)


def alternating() -> npt.NDArray[np.float64]:
    """Two levels in turn: the group changes every step though nothing is new for long."""
    levels = np.tile([1.0, 9.0], 400) + np.repeat([0.0, 0.4, 0.0], [300, 100, 400])
    return np.asarray(levels, dtype=np.float64)


SERIES = {"plateaus_and_noise": plateaus_and_noise, "alternating": alternating}


@pytest.mark.parametrize("max_active_contexts", [15, 3, 1])
@pytest.mark.parametrize("kind", SERIES)
def test_the_memory_makes_the_same_predictions_as_the_transcription(kind, max_active_contexts):
    values = SERIES[kind]()
    encoder = ContextualAnomalyDetector(low=float(values.min()), high=float(values.max()))
    compiled = ContextMemory(3, 7, max_active_contexts)
    reference = ReferenceContextMemory(7, max_active_contexts)
    for value in values:
        level = encoder.level(float(value))
        assert compiled.step(level) == reference.step(encoder.facts(level))
    assert compiled.contexts == reference.contexts


@pytest.mark.parametrize("kind", SERIES)
def test_the_detector_gives_the_same_scores_as_the_transcription(kind):
    values = SERIES[kind]()
    options: dict[str, Any] = {
        "low": float(values.min()),
        "high": float(values.max()),
        "rest_period": 5,
    }
    reference = ReferenceDetector(**options)
    expected = np.array([reference.step(float(v)) for v in values])
    np.testing.assert_array_equal(
        ContextualAnomalyDetector(**options).fit().update(values), expected
    )


@pytest.mark.parametrize("cut", [40, 41, 120, 333])
def test_a_detector_saved_or_copied_on_a_plateau_continues_with_the_same_scores(cut):
    values = plateaus_and_noise()
    options: dict[str, Any] = {"low": float(values.min()), "high": float(values.max())}
    uninterrupted = ContextualAnomalyDetector(**options).fit().update(values)
    first = ContextualAnomalyDetector(**options).fit()
    before = first.update(values[:cut])
    copied = copy.deepcopy(first)
    restored = ContextualAnomalyDetector.from_dict(json.loads(json.dumps(first.to_dict())))
    for detector in (first, copied, restored):
        after = detector.update(values[cut:])
        np.testing.assert_array_equal(np.concatenate([before, after]), uninterrupted)


@pytest.mark.parametrize("max_active_contexts", [0, -2, 53])
def test_a_number_of_active_contexts_the_memory_cannot_hold_is_refused(max_active_contexts):
    # 0 and negative numbers would mean "all" and "all but k" as a Python slice; a left
    # group of more than 55 facts does not fit the compiled memory's masks
    with pytest.raises(ValueError, match="max_active_contexts"):
        ContextMemory(3, 7, max_active_contexts)
    with pytest.raises(ValueError, match="max_active_contexts"):
        ContextualAnomalyDetector(max_active_contexts=max_active_contexts).fit()
