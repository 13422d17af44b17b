"""The models behind the daemon's energy and video decisions (controller/predictors.py): the
registry's active model when the store has one, the rule baseline otherwise, and the
explanation saying which."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.baselines import DEFAULT_STALL_CUT_MBPS, busy_and_slow
from analytics.registry import ModelArtifact, ModelKind, ModelStatus, TrainingWindow, register
from analytics.stall import FlowSummary, LogisticRegression
from analytics.training import train_load_forecast, train_stall
from controller.model import Observation, SubscriberFlow
from controller.models_store import ModelStore
from controller.predictors import (
    FORECAST_BASELINE,
    LoadForecastSource,
    ModelWatch,
    StallSource,
    energy_horizon,
)
from intents.load import IntentSource, load_intent_set
from tests.policies.labworld import LabWorld

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "metro"


def flow(subscriber: str, mbps: float, active: float = 1.0) -> SubscriberFlow:
    return SubscriberFlow(
        id=subscriber,
        throughput_mbps=mbps,
        rtt_ms=20.0,
        retransmission_ratio=0.0,
        bytes=int(mbps * 1e6),
        mean_request_bytes=500_000,
        request_interval_ms=2000.0,
        active_ratio=active,
    )


OBSERVATIONS = {
    "acc-east-1": Observation(
        "acc-east-1",
        NOW,
        subscribers=(flow("s1", 0.1), flow("s2", 3.0, 0.4), flow("s3", 0.2), flow("s5", 0.0, 0.0)),
    ),
    "ran-east-1": Observation("ran-east-1", NOW, subscribers=(flow("s4", 8.0),)),
}


def test_the_rule_flags_busy_flows_under_the_lowest_rung_not_idle_ones():
    flagged = busy_and_slow([0.1, 0.1, 0.0, 0.3, 5.0], [1.0, 0.5, 0.0, 1.0, 1.0])
    assert flagged.tolist() == [True, True, False, False, False]
    with pytest.raises(ValueError, match="positive"):
        busy_and_slow([1.0], [1.0], cut_mbps=0.0)
    with pytest.raises(ValueError, match="active ratios"):
        busy_and_slow([1.0, 2.0], [1.0])


def train_stall_model(store: Path, name: str = "stall-lab") -> None:
    """A classifier on synthetic sessions (slow flows stall), registered as champion."""
    rng = np.random.default_rng(5)
    rates = rng.uniform(0.05, 6.0, 400)
    stalled = rates + rng.normal(0, 0.3, rates.size) < 1.0
    flows = [FlowSummary(r * 1e6 / 8, r * 1e6, 400_000, max(0.2, 3.2 / r)) for r in rates.tolist()]
    artifact = train_stall(
        name, 1, flows, stalled, [i % 40 for i in range(rates.size)], now=NOW, features="rate"
    )
    registry = ModelStore(store)
    registry.save_artifact(artifact)
    registry.save_record(register(None, artifact, now=NOW))


def test_without_a_model_the_throughput_rule_answers_and_says_so(tmp_path):
    store = tmp_path / "models"  # does not exist: `netpilot models` never ran
    answer = StallSource(ModelWatch(store, ModelKind.STALL), boost_mbps=6)(OBSERVATIONS)
    assert answer is not None
    assert answer.source == "rule-baseline" and answer.rule_confidence == 0.5
    # s1 and s3 fetch all the time under 0.235 Mbit/s; s5 sent nothing (idle, not starved)
    assert answer.probabilities == {"s1": 1.0, "s2": 0.0, "s3": 1.0, "s4": 0.0, "s5": 0.0}
    assert answer.nodes["s4"] == "ran-east-1"
    assert all(p == 0.0 for p in answer.boost_probabilities.values())  # 6 Mbit/s is above it
    model = answer.model
    assert (model["source"], model["baseline"], model["version"]) == (
        "rule-baseline",
        "throughput-rule",
        None,
    )
    assert str(store) in str(model["reason"]) and model["cut_mbps"] == DEFAULT_STALL_CUT_MBPS


def test_no_subscribers_no_answer(tmp_path):
    source = StallSource(ModelWatch(tmp_path, ModelKind.STALL), boost_mbps=6)
    assert source({"r1": Observation("r1", NOW)}) is None


def test_the_active_stall_classifier_answers_and_a_fallback_hands_back_to_the_rule(tmp_path):
    store = tmp_path / "models"
    train_stall_model(store)
    source = StallSource(ModelWatch(store, ModelKind.STALL), boost_mbps=6)
    answer = source(OBSERVATIONS)
    assert answer is not None and answer.source == "model"
    assert (answer.model["name"], answer.model["version"], answer.model["source"]) == (
        "stall-lab",
        1,
        "model",
    )
    assert answer.probabilities["s1"] > 0.5 > answer.probabilities["s4"]
    # the monitor degrades the champion (as `netpilot models monitor` writes it): the next
    # tick reads the changed record, and the rule, with the cut learned with the model, answers
    registry = ModelStore(store)
    record = registry.record("stall-lab")
    assert record is not None
    registry.save_record(replace(record, status=ModelStatus.FALLBACK, reason="drifted"))
    fallback = source(OBSERVATIONS)
    assert fallback is not None and fallback.source == "rule-baseline"
    assert fallback.model["name"] == "stall-lab" and fallback.model["reason"] == "fallback: drifted"
    learned = registry.artifact("stall-lab", 1).metrics["baseline_cut_bps"]
    assert fallback.model["cut_mbps"] == round(learned * 8 / 1e6, 4)


def test_an_active_model_of_another_type_leaves_the_answer_to_the_rule(tmp_path):
    store = tmp_path / "models"
    # a bare logistic regression (no flow features of its own) registered as a stall model
    bare = LogisticRegression().fit([[0.1], [0.2], [3.0], [5.0]], [1, 1, 0, 0])
    artifact = ModelArtifact(
        "odd-stall", 1, ModelKind.STALL, bare.to_dict(), ("throughput",),
        TrainingWindow(None, None, 4), {"f1": 1.0, "baseline_f1": 0.5, "reference_error": 0.0},
        NOW,
    )  # fmt: skip
    registry = ModelStore(store)
    registry.save_artifact(artifact)
    registry.save_record(register(None, artifact, now=NOW))
    answer = StallSource(ModelWatch(store, ModelKind.STALL), boost_mbps=6)(OBSERVATIONS)
    assert answer is not None and answer.source == "rule-baseline"
    assert answer.model["reason"] == "odd-stall v1 (LogisticRegression) cannot be used here"


def test_an_unreadable_store_is_reported_and_the_rule_answers(tmp_path):
    store = tmp_path / "models"
    (store / "stall-lab").mkdir(parents=True)
    (store / "stall-lab" / "record.json").write_text("{not json")
    watch = ModelWatch(store, ModelKind.STALL)
    answer = StallSource(watch, boost_mbps=6)(OBSERVATIONS)
    assert answer is not None and answer.source == "rule-baseline"
    assert "cannot be used" in str(answer.model["reason"]) and watch.problem


def metro_intents(*names: str):
    paths = [EXAMPLES / n for n in names]
    loaded = load_intent_set([IntentSource(str(p), p.read_bytes()) for p in paths])
    assert loaded.ok, loaded.errors
    return loaded.intents


def test_the_horizon_is_the_energy_intents_wake_lead_time_and_cooldown():
    assert energy_horizon(metro_intents("energy-metro.yaml")) == timedelta(seconds=600 + 600)
    assert energy_horizon(metro_intents("video-experience-east.yaml")) is None


@pytest.fixture(scope="module")
def evening() -> LabWorld:
    return LabWorld("metro", "evening-peak", seed=1)


def test_the_rule_forecasts_from_the_second_tick_with_a_measured_confidence(tmp_path, evening):
    intents = metro_intents("energy-metro.yaml")
    source = LoadForecastSource(ModelWatch(tmp_path / "models", ModelKind.LOAD_FORECAST))
    assert source(evening.world(intents)) is None  # one sample: no trend yet
    forecasts = []
    for _ in range(4):
        evening.advance(60.0)
        forecasts.append(source(evening.world(intents)))
    assert all(f is not None for f in forecasts)
    forecast = forecasts[-1]
    assert forecast is not None
    assert forecast.horizon == timedelta(seconds=1200)
    assert forecast.model["source"] == "rule-baseline"
    assert forecast.model["baseline"] == FORECAST_BASELINE and forecast.model["samples"] == 5
    assert set(forecast.factors) == {"video", "voice", "gaming", "best-effort", "bulk"}
    assert all(f >= 1.0 for f in forecast.factors.values())
    assert 0.0 <= forecast.confidence <= 1.0
    # no energy intent: nothing to forecast for
    assert source(evening.world(metro_intents("video-experience-east.yaml"))) is None


def test_a_trained_forecaster_gives_its_daily_shape(tmp_path, evening):
    store = tmp_path / "models"
    m = 288  # a day of 5-minute samples, starting at midnight four days before NOW
    t = np.arange(4 * m)
    load = (
        100
        + 40 * np.sin(2 * np.pi * (t / m - 0.25))
        + np.random.default_rng(2).normal(0, 1, t.size)
    )
    stamps = np.datetime64("2026-11-24T00:00:00", "s") + np.arange(4 * m) * np.timedelta64(300, "s")
    artifact = train_load_forecast("metro-load", 1, stamps, load, now=NOW, horizon=4)
    registry = ModelStore(store)
    registry.save_artifact(artifact)
    registry.save_record(register(None, artifact, now=NOW))
    source = LoadForecastSource(ModelWatch(store, ModelKind.LOAD_FORECAST))
    intents = metro_intents("energy-metro.yaml")
    forecast = source(replace(evening.world(intents), now=datetime(2026, 11, 28, 4, 0, tzinfo=UTC)))
    assert forecast is not None  # the model answers from the first tick
    assert (forecast.model["name"], forecast.model["version"], forecast.model["source"]) == (
        "metro-load",
        1,
        "model",
    )
    # at 04:00 the trained day rises towards noon: over the next 20 minutes it grows a little
    (factor,) = set(forecast.factors.values())
    assert factor > 1.0
    assert forecast.quantile == pytest.approx(0.95)
    assert 0.0 < forecast.confidence <= 1.0
    at_peak = source(replace(evening.world(intents), now=datetime(2026, 11, 28, 12, 5, tzinfo=UTC)))
    # at noon the trained day has peaked: the next 20 minutes add no more than the margin
    assert at_peak is not None and max(at_peak.factors.values()) < factor
