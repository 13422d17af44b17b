"""CAD OSE: the compiled memory and detector against the direct transcription (the same
floats, on seeded synthetic series and on NAB), then decisions and alarm delays."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics._params import NotFittedError
from analytics.cad import ContextMemory, ContextualAnomalyBank, ContextualAnomalyDetector
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
from bench.models import read_nab
from tests.analytics.cad_reference import ReferenceContextMemory, ReferenceDetector
from tests.analytics.conftest import DATASETS
from tests.conftest import in_ci

PERIOD = 24


def seasonal(seed: int, n: int, noise: float = 0.3) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 10 + 5 * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0.0, noise, n)


def detector() -> ContextualAnomalyDetector:
    return ContextualAnomalyDetector(low=0.0, high=40.0, rest_period=30).fit()


def alarms(scores: np.ndarray, threshold: float = 0.75) -> list[int]:
    return np.flatnonzero(scores >= threshold).tolist()


def synthetic(kind: str) -> np.ndarray:
    """Seeded series that make the memory grow and propose: noise, a level shift, spikes."""
    if kind == "noisy":
        return seasonal(5, 1000, noise=1.5)
    if kind == "shift_and_spikes":
        values = seasonal(5, 1200, noise=1.5)
        values[700:] += 6.0
        values[[300, 900]] += 25.0
        return values
    if kind == "white_noise":
        return np.random.default_rng(9).normal(0.0, 1.0, 1000)
    if kind == "steps":  # long repeats of few levels, then jumps: contexts get activated often
        return np.repeat(np.random.default_rng(13).uniform(0.0, 10.0, 50), 20)
    raise ValueError(kind)


SYNTHETIC = ("noisy", "shift_and_spikes", "white_noise", "steps")
MEMORY_SETTINGS = {
    "default": {},
    "few_active": {"max_active_contexts": 3, "max_left_facts": 4},
    "four_bits": {"bits": 4},
}


@pytest.mark.parametrize(
    ("kind", "settings"),
    [*((kind, "default") for kind in SYNTHETIC), ("noisy", "few_active"), ("steps", "four_bits")],
)
def test_the_compiled_memory_makes_the_same_predictions_as_the_direct_transcription(kind, settings):
    values = synthetic(kind)
    options = MEMORY_SETTINGS[settings]
    bits = options.get("bits", 3)
    encoder = ContextualAnomalyDetector(
        low=float(values.min()), high=float(values.max()), bits=bits
    )
    compiled = ContextMemory(
        bits,
        options.get("max_left_facts", 7),
        options.get("max_active_contexts", 15),
    )
    reference = ReferenceContextMemory(
        options.get("max_left_facts", 7), options.get("max_active_contexts", 15)
    )
    for value in values:
        level = encoder.level(float(value))
        assert compiled.step(level) == reference.step(encoder.facts(level))
    assert compiled.contexts == reference.contexts
    if kind in ("noisy", "shift_and_spikes") and settings == "default":
        assert compiled.contexts > 500  # the comparison covered a memory that kept growing


DETECTOR_SETTINGS = {
    "published": {},
    "range_check": {"range_tolerance": 0.02, "rest_period": 5},
    "short_rest": {"rest_period": 1, "suppression_level": 0.5},
}


@pytest.mark.parametrize("settings", DETECTOR_SETTINGS)
@pytest.mark.parametrize("kind", ["shift_and_spikes", "steps"])
def test_the_compiled_detector_gives_the_same_scores_as_the_direct_transcription(kind, settings):
    values = synthetic(kind)
    options: dict[str, Any] = {"low": float(values.min()), "high": float(values.max())}
    options.update(DETECTOR_SETTINGS[settings])
    reference = ReferenceDetector(**options)
    expected = np.array([reference.step(float(v)) for v in values])
    np.testing.assert_array_equal(
        ContextualAnomalyDetector(**options).fit().update(values), expected
    )
    one_by_one = ContextualAnomalyDetector(**options).fit()
    np.testing.assert_array_equal([one_by_one.step(float(v)) for v in values], expected)


def nab_series() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """NAB's series; skipped without the dataset (a failure under CI=true)."""
    archive = DATASETS / "nab" / "nab_data_full.tar.gz"
    if not archive.is_file():
        reason = f"public dataset missing: {archive} (set NETPILOT_DATASETS)"
        if in_ci():
            pytest.fail(f"required dataset missing under CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    series, _ = read_nab(Path(archive.parent))
    return series


# a file of each kind of NAB data, its first 1000 samples (the transcription is slow), as
# NAB runs CAD OSE (the value range of the file) and with the range check
NAB_FILES = {
    "artificialWithAnomaly/art_daily_jumpsup.csv": None,
    "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv": 0.02,
    "realKnownCause/machine_temperature_system_failure.csv": None,
    "realTweets/Twitter_volume_AAPL.csv": 0.02,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAB_FILES)
def test_the_compiled_detector_gives_the_same_scores_as_the_transcription_on_nab(name):
    values = nab_series()[name][1]
    options: dict[str, Any] = {
        "low": float(values.min()),
        "high": float(values.max()),
        "rest_period": 45,
        "range_tolerance": NAB_FILES[name],
    }
    reference = ReferenceDetector(**options)
    expected = np.array([reference.step(float(v)) for v in values[:1000]])
    compiled = ContextualAnomalyDetector(**options).fit()
    np.testing.assert_array_equal(compiled.update(values[:1000]), expected)


@pytest.mark.parametrize("cut", [1, 2, 31, 400, 999])
def test_a_detector_saved_mid_series_continues_with_the_same_scores(cut):
    values = synthetic("shift_and_spikes")
    options: dict[str, Any] = {
        "low": float(values.min()),
        "high": float(values.max()),
        "range_tolerance": 0.02,
    }
    uninterrupted = ContextualAnomalyDetector(**options).fit().update(values)
    first = ContextualAnomalyDetector(**options).fit()
    before = first.update(values[:cut])
    saved = json.loads(json.dumps(first.to_dict()))
    restored = ContextualAnomalyDetector.from_dict(saved)
    assert restored.to_dict() == saved  # loading rebuilds the same memory
    after = restored.update(values[cut:])
    np.testing.assert_array_equal(np.concatenate([before, after]), uninterrupted)


def test_a_copy_or_a_pickled_detector_learns_apart_from_its_original():
    values = synthetic("noisy")
    cad = ContextualAnomalyDetector(low=float(values.min()), high=float(values.max())).fit()
    cad.update(values[:500])
    twin = copy.deepcopy(cad)
    pickled = pickle.loads(pickle.dumps(cad))  # noqa: S301 - bytes made just above
    expected = cad.update(values[500:])
    np.testing.assert_array_equal(twin.update(values[500:]), expected)
    np.testing.assert_array_equal(pickled.update(values[500:]), expected)
    assert twin.to_dict() == cad.to_dict() == pickled.to_dict()


def test_a_bank_scores_each_series_as_its_own_detector_and_they_keep_learning():
    rng = np.random.default_rng(21)
    ticks = 10 + np.sin(2 * np.pi * np.arange(600) / PERIOD)[:, None] + rng.normal(0, 0.5, (600, 5))
    ticks[450, 2] += 8.0
    options: list[dict[str, Any]] = [
        {"low": 7.0, "high": 13.0 + i, "range_tolerance": 0.02} for i in range(5)
    ]
    alone = [ContextualAnomalyDetector(**o).fit() for o in options]
    expected = np.column_stack([d.update(ticks[:, i]) for i, d in enumerate(alone)])
    together = [ContextualAnomalyDetector(**o).fit() for o in options]
    bank = ContextualAnomalyBank(together)
    scores = np.vstack([bank.step(row) for row in ticks[:400]])
    scores = np.vstack(
        [
            scores,
            [[d.step(float(v)) for d, v in zip(together, row, strict=True)] for row in ticks[400:]],
        ]
    )
    np.testing.assert_array_equal(scores, expected)
    assert [d.to_dict() for d in together] == [d.to_dict() for d in alone]
    with pytest.raises(ValueError, match="expected 5 values"):
        bank.step(ticks[0, :3])


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
    memory = ContextMemory()
    for level in (1, 5, 1, 5, 2):
        memory.step(level)
    saved = memory.to_dict()
    for name, bad in [
        ("context_left", [99] * memory.contexts),  # no such side
        ("right", [[1 << 16, 1 << 16]]),  # one bit twice
        ("zero_level", [10**6]),
        ("group", [1 << 16]),  # fewer value facts than bits
    ]:
        with pytest.raises(ValueError, match="malformed context memory"):
            ContextMemory.from_dict({**saved, name: bad})


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
