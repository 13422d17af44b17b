"""CAD OSE on synthetic series with fixed seeds: decisions and alarm delays, not floats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from analytics._params import NotFittedError
from analytics.cad import ContextMemory, ContextualAnomalyDetector
from analytics.registry import (
    HealthRule,
    ModelArtifact,
    ModelStatus,
    active_model,
    apply_health,
    assess,
    explanation,
    load_model,
    register,
)
from analytics.training import KpiDetector, replay, train_kpi_anomaly
from tests.analytics.cad_reference import ReferenceContextMemory

PERIOD = 24


def seasonal(seed: int, n: int, noise: float = 0.3) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 10 + 5 * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0.0, noise, n)


def detector() -> ContextualAnomalyDetector:
    return ContextualAnomalyDetector(low=0.0, high=40.0, rest_period=30).fit()


def alarms(scores: np.ndarray, threshold: float = 0.75) -> list[int]:
    return np.flatnonzero(scores >= threshold).tolist()


def test_the_fast_memory_makes_the_same_predictions_as_the_direct_transcription():
    # a noisy series with a level shift and spikes: the memory grows, proposals happen
    values = seasonal(5, 1200, noise=1.5)
    values[700:] += 6.0
    values[[300, 900]] += 25.0
    encoder = ContextualAnomalyDetector(low=float(values.min()), high=float(values.max()))
    fast, reference = ContextMemory(), ReferenceContextMemory()
    for value in values:
        level = encoder.level(float(value))
        facts = encoder.facts(level)
        assert fast.step(facts, level) == reference.step(facts)
    assert fast.contexts > 500  # the comparison covered a memory that kept growing


def test_a_learned_daily_pattern_raises_no_alarm_and_a_spike_raises_one_at_once():
    values = seasonal(3, 2000)
    values[1500] += 20.0
    assert alarms(detector().update(values)) == [1500]


def test_a_level_shift_is_flagged_when_it_happens_and_not_after_it_is_learned():
    values = seasonal(3, 2000)
    values[1500:] += 15.0
    found = alarms(detector().update(values))
    assert found[0] == 1500
    assert all(i < 1500 + 200 for i in found)  # the new level becomes normal


def test_the_rest_period_silences_the_echo_of_an_alarm():
    values = seasonal(4, 1600)
    values[1200] += 20.0
    values[1210] += 25.0  # 10 samples later: inside a 30-sample rest period
    values[1400] += 30.0  # after it
    short = ContextualAnomalyDetector(low=0.0, high=40.0, rest_period=5).fit()
    assert {1200, 1210, 1400} <= set(alarms(short.update(values)))
    assert alarms(detector().update(values)) == [1200, 1400]


def test_the_first_rest_period_is_silent_as_published():
    values = seasonal(6, 200)
    values[10] += 30.0
    assert 10 not in alarms(detector().update(values))


def test_values_outside_the_range_are_clipped_to_the_extreme_levels():
    cad = ContextualAnomalyDetector(low=0.0, high=7.0)
    assert [cad.level(v) for v in (-5.0, 0.0, 3.5, 7.0, 100.0, float("nan"))] == [
        0,
        0,
        3,
        7,
        7,
        0,
    ]


def test_the_range_check_catches_a_spike_that_the_value_scale_clips():
    values = seasonal(11, 1800)
    values[1734] += 20.0  # at the daily peak: clipped to the top level, which peaks reach
    low, high = float(values[:1500].min()), float(values[:1500].max())
    plain = ContextualAnomalyDetector(low=low, high=high, rest_period=30).fit()
    checked = ContextualAnomalyDetector(low=low, high=high, rest_period=30, range_tolerance=0.02)
    without, with_check = alarms(plain.update(values)), alarms(checked.fit().update(values))
    assert 1734 not in without
    assert with_check == [*without, 1734]


def test_a_saved_detector_continues_exactly_where_it_stopped():
    values = seasonal(8, 1400, noise=1.0)
    values[1300] += 20.0
    trained = ContextualAnomalyDetector(low=0.0, high=40.0, range_tolerance=0.02)
    trained.fit(values[:1000])
    restored = ContextualAnomalyDetector.from_dict(json.loads(json.dumps(trained.to_dict())))
    np.testing.assert_array_equal(restored.update(values[1000:]), trained.update(values[1000:]))
    assert trained.predict(values[1000:]).sum() == restored.predict(values[1000:]).sum()


def test_predict_leaves_the_detector_unchanged():
    values = seasonal(9, 600)
    cad = detector().fit(values[:400])
    before = json.dumps(cad.to_dict())
    cad.predict(values[400:])
    assert json.dumps(cad.to_dict()) == before


def test_an_unfitted_detector_refuses_to_score():
    with pytest.raises(NotFittedError):
        ContextualAnomalyDetector().step(1.0)


def test_bad_hyperparameters_are_refused_at_fit():
    with pytest.raises(ValueError, match="rest_period"):
        ContextualAnomalyDetector(rest_period=0).fit()
    with pytest.raises(ValueError, match="bits"):
        ContextualAnomalyDetector(bits=9).fit()


def test_a_malformed_memory_is_refused():
    with pytest.raises(ValueError, match="malformed context memory"):
        ContextMemory.from_dict({"bits": 3})


# ---------------------------------------------------------------------------------------
# in the lifecycle

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def half_hours(n: int, start: str = "2026-11-01T00:00") -> np.ndarray:
    return np.datetime64(start, "s") + np.arange(n) * np.timedelta64(30, "m")


def cad_artifact() -> ModelArtifact:
    # a KPI whose range is known (say 0-40 %), with a daily pattern
    return train_kpi_anomaly(
        "edge-kpi",
        1,
        half_hours(1500),
        seasonal(11, 1500),
        now=T0,
        detector=KpiDetector.CAD_OSE,
        value_range=(0.0, 40.0),
    )


def test_cad_ose_is_trained_saved_and_served_by_the_registry():
    artifact = cad_artifact()
    assert artifact.model_type == "ContextualAnomalyDetector"
    assert artifact.metrics["alarm_rate"] < 0.002  # the learned daily pattern does not alarm
    saved = ModelArtifact.from_dict(json.loads(json.dumps(artifact.as_dict())))
    model = load_model(saved)
    assert isinstance(model, ContextualAnomalyDetector)
    following = seasonal(12, 300)
    following[250] += 20.0
    assert alarms(model.update(following), model.threshold) == [250]


def test_a_cad_ose_champion_that_alarms_far_more_than_in_training_falls_back_to_the_rule():
    artifact = cad_artifact()
    record = register(None, artifact, now=T0)
    # the KPI jumps to a new level every 60 samples: each jump is an anomaly
    jumps = np.repeat(np.random.default_rng(13).uniform(-8.0, 22.0, 10), 60)
    erratic = seasonal(14, 600) + jumps
    replayed = replay(record, artifact, None, erratic).record
    health = assess(replayed, artifact.metrics["reference_error"], HealthRule())
    record = apply_health(replayed, health, now=T0)
    assert health.degraded and record.status is ModelStatus.FALLBACK
    answer = explanation(active_model(record, model_confidence=0.9))
    assert answer["source"] == "rule-baseline" and answer["baseline"] == "static-threshold"
