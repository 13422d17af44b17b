"""The model lifecycle as pure transitions: versions, shadow promotion, fallback, confidence."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from analytics.forecast import SeasonalNaive
from analytics.registry import (
    EventKind,
    Health,
    HealthRule,
    ModelArtifact,
    ModelEvent,
    ModelKind,
    ModelRecord,
    ModelSource,
    ModelStatus,
    MonitorState,
    PromotionRule,
    TrainingWindow,
    active_model,
    apply_health,
    assess,
    classifier_confidence,
    decide_promotion,
    decide_version_promotion,
    detection_confidence,
    drift_score,
    explanation,
    load_model,
    observe,
    promote,
    refuse_promotion,
    register,
    shadow_comparison,
    training_due,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def artifact(version: int, mape: float = 2.0, naive_mape: float = 3.0) -> ModelArtifact:
    """A forecaster's version; its seasonal-naive MAPE is measured on the same data."""
    model = SeasonalNaive(season_length=4).fit([1.0, 2.0, 3.0, 4.0])
    return ModelArtifact(
        name="edge-load",
        version=version,
        kind=ModelKind.LOAD_FORECAST,
        model=model.to_dict(),
        features=("load",),
        training_window=TrainingWindow(T0 - timedelta(days=7), T0, 2016),
        metrics={"mape": mape, "seasonal_naive_mape": naive_mape, "reference_error": mape / 100},
        created_at=T0 + timedelta(hours=version),
    )


def fed(monitor: MonitorState, error: float, samples: int, baseline: float | None = None):
    for _ in range(samples):
        monitor = observe(monitor, error=error, baseline_error=baseline)
    return monitor


def test_first_version_is_champion_and_the_next_runs_in_shadow():
    record = register(None, artifact(1), now=T0)
    assert record.champion == 1 and record.challenger is None
    record = register(record, artifact(2), now=T0)
    assert record.champion == 1 and record.challenger == 2
    assert [e.kind for e in record.events] == [EventKind.REGISTERED, EventKind.CHALLENGER]
    with pytest.raises(ValueError, match="does not belong"):
        register(record, replace(artifact(3), name="other"), now=T0)


def test_a_first_version_no_better_than_the_rule_is_registered_but_the_rule_answers():
    record = register(None, artifact(1, mape=3.2, naive_mape=3.0), now=T0)
    assert (record.champion, record.challenger) == (None, 1)
    assert record.status is ModelStatus.FALLBACK
    assert "mape 3.2 vs the seasonal-naive rule's 3 on the same data" in record.reason
    assert "does not beat the rule" in record.reason
    assert [(e.kind, e.version) for e in record.events] == [(EventKind.PROMOTION_REFUSED, 1)]
    answer = active_model(record, model_confidence=0.99)
    assert answer.source is ModelSource.RULE_BASELINE and answer.reason == record.reason
    # a tie is no gain either
    assert register(None, artifact(1, mape=3.0, naive_mape=3.0), now=T0).champion is None

    # the next version is measured against the rule too: it beats it, so it answers
    record = register(record, artifact(2, mape=2.0, naive_mape=3.0), now=T0)
    assert (record.champion, record.challenger) == (2, None)
    assert record.status is ModelStatus.ACTIVE and "beats the rule" in record.reason
    assert active_model(record, model_confidence=0.99).version == 2


def test_without_a_rule_score_there_is_no_evidence_and_the_rule_answers():
    unmeasured = replace(artifact(1), metrics={"mape": 1.0, "reference_error": 0.01})
    record = register(None, unmeasured, now=T0)
    assert record.champion is None and "no finite mape and seasonal_naive_mape" in record.reason
    nan = replace(artifact(1), metrics={"mape": math.nan, "seasonal_naive_mape": 3.0})
    assert register(None, nan, now=T0).champion is None


def test_a_refused_first_version_is_promoted_by_evidence_or_by_force():
    record = register(None, artifact(1, mape=3.5, naive_mape=3.0), now=T0)
    decision = decide_promotion(
        record, PromotionRule(), challenger_metrics={"mape": 3.5, "seasonal_naive_mape": 3.0}
    )
    assert not decision.promote and "does not beat the rule" in decision.reason
    # the operator's override: promote() takes the challenger whatever the decision said
    forced = promote(record, now=T0, reason="forced by the operator")
    assert (forced.champion, forced.challenger, forced.status) == (1, None, ModelStatus.ACTIVE)


def test_without_a_champion_the_shadow_run_against_the_rule_decides_the_promotion():
    record = register(None, artifact(1, mape=3.5, naive_mape=3.0), now=T0)  # the rule answers
    metrics = {"mape": 3.5, "seasonal_naive_mape": 3.0}
    rule = PromotionRule(min_samples=100, min_gain=0.05)
    # the challenger's monitor holds its live error and the rule's on the same samples
    better = replace(record, challenger_monitor=fed(MonitorState(), 0.02, 150, baseline=0.03))
    comparison = shadow_comparison(better)
    assert comparison is not None
    assert (comparison.version, comparison.incumbent, comparison.samples) == (
        1,
        "the seasonal-naive rule",
        150,
    )
    assert comparison.gain == pytest.approx(1 / 3)
    decision = decide_promotion(better, rule, challenger_metrics=metrics)
    assert decision.promote and decision.evidence == "shadow"
    assert (decision.champion_score, decision.challenger_score) == pytest.approx((0.03, 0.02))
    assert "vs the seasonal-naive rule's 0.03 on 150 samples" in decision.reason
    # live, a gain under min_gain keeps the rule, as it would keep a champion
    slight = replace(record, challenger_monitor=fed(MonitorState(), 0.0295, 150, baseline=0.03))
    decision = decide_promotion(slight, rule, challenger_metrics=metrics)
    assert not decision.promote and decision.evidence == "shadow"
    assert "keep the seasonal-naive rule" in decision.reason
    # too few shadow samples: the validation against the rule decides, as before
    early = replace(record, challenger_monitor=fed(MonitorState(), 0.02, 50, baseline=0.03))
    decision = decide_promotion(early, rule, challenger_metrics=metrics)
    assert not decision.promote and decision.evidence == "validation"
    # a challenger without the rule's error (unlabelled telemetry) has nothing to compare
    unmeasured = replace(record, challenger_monitor=fed(MonitorState(), 0.02, 150))
    assert shadow_comparison(unmeasured) is None


def test_without_a_champion_health_leaves_the_rule_answering():
    record = register(None, artifact(1, mape=3.5, naive_mape=3.0), now=T0)
    assert (record.champion, record.status) == (None, ModelStatus.FALLBACK)
    shadowed = replace(record, challenger_monitor=fed(MonitorState(), 0.02, 60, baseline=0.03))
    health = assess(shadowed, None, HealthRule())
    assert not health.degraded and health.reason == "no champion: the seasonal-naive rule answers"
    # nothing to recover to: the status, the reason and the history stay as they were
    assert apply_health(shadowed, health, now=T0) == shadowed
    assert apply_health(shadowed, Health(False, "within limits"), now=T0) == shadowed
    assert apply_health(shadowed, Health(True, "worse"), now=T0) == shadowed


def test_promotion_needs_measured_gain_from_the_shadow_run():
    record = register(register(None, artifact(1), now=T0), artifact(2), now=T0)
    rule = PromotionRule(min_samples=100, min_gain=0.05)
    too_early = decide_promotion(record, rule)
    assert not too_early.promote and too_early.evidence == "none"
    equal = replace(
        record,
        monitor=fed(MonitorState(), 0.020, 150),
        challenger_monitor=fed(MonitorState(), 0.0195, 150),
    )
    assert not decide_promotion(equal, rule).promote  # 2.5 % better: not enough
    better = replace(equal, challenger_monitor=fed(MonitorState(), 0.015, 150))
    decision = decide_promotion(better, rule)
    assert decision.promote and decision.evidence == "shadow"
    assert decision.gain == pytest.approx(0.25)
    promoted = promote(better, now=T0, reason=decision.reason)
    assert promoted.champion == 2 and promoted.challenger is None
    assert promoted.monitor.error == pytest.approx(0.015)  # the shadow record carries over


def test_without_shadow_evidence_validation_metrics_decide():
    record = register(register(None, artifact(1, mape=2.0), now=T0), artifact(2, 1.5), now=T0)
    decision = decide_promotion(
        record, PromotionRule(), champion_metrics={"mape": 2.0}, challenger_metrics={"mape": 1.5}
    )
    assert decision.promote and decision.evidence == "validation"


def test_a_version_other_than_the_challenger_is_judged_on_its_validation_alone():
    record = register(register(None, artifact(1, mape=2.0), now=T0), artifact(3, 1.9), now=T0)
    # the challenger v3 has a shadow run; v2 (trained, then replaced as the challenger) none
    record = replace(
        record,
        monitor=fed(MonitorState(), 0.02, 150),
        challenger_monitor=fed(MonitorState(), 0.01, 150),
    )
    rule = PromotionRule(min_samples=100, min_gain=0.05)
    better = decide_version_promotion(
        record, 2, rule, champion_metrics={"mape": 2.0}, version_metrics={"mape": 1.5}
    )
    assert better.promote and better.evidence == "validation"
    assert better.reason.startswith("v2 is not the challenger (v3 is), so no shadow run")
    assert "validation mape: v2 vs champion v1" in better.reason
    slight = decide_version_promotion(
        record, 2, rule, champion_metrics={"mape": 2.0}, version_metrics={"mape": 1.95}
    )
    assert not slight.promote and "keep champion v1" in slight.reason
    # the challenger is judged on its shadow run, as decide_promotion judges it
    shadowed = decide_version_promotion(
        record, 3, rule, champion_metrics={"mape": 2.0}, version_metrics={"mape": 1.9}
    )
    assert shadowed == decide_promotion(
        record, rule, champion_metrics={"mape": 2.0}, challenger_metrics={"mape": 1.9}
    )
    assert shadowed.evidence == "shadow"
    assert not decide_version_promotion(record, 1, rule).promote  # the champion itself
    # without a champion, against the rule measured on the same data
    ruled = register(None, artifact(1, mape=3.5, naive_mape=3.0), now=T0)
    ruled = register(ruled, artifact(2, mape=3.4, naive_mape=3.0), now=T0)
    assert (ruled.champion, ruled.challenger) == (None, 2)
    beats = decide_version_promotion(
        ruled, 1, rule, version_metrics={"mape": 2.5, "seasonal_naive_mape": 3.0}
    )
    assert beats.promote and "v1 is not the challenger (v2 is)" in beats.reason
    assert "beats the rule" in beats.reason


def test_promoting_another_version_keeps_the_challenger_and_a_refusal_keeps_everything():
    record = register(register(None, artifact(1), now=T0), artifact(3), now=T0)
    record = replace(
        record,
        monitor=fed(MonitorState(), 0.02, 150),
        challenger_monitor=fed(MonitorState(), 0.019, 150),
    )
    refused = refuse_promotion(record, 2, now=T0, reason="no gain")
    assert replace(refused, events=record.events) == record
    assert refused.events[-1] == ModelEvent(T0, EventKind.PROMOTION_REFUSED, 2, "no gain")
    # a rollback to v2: it answers, monitored afresh; v3 stays in shadow, measured anew
    # against v2 (the champion it was measured against is gone)
    rolled = promote(record, now=T0, reason="rollback", version=2)
    assert (rolled.champion, rolled.challenger, rolled.status) == (2, 3, ModelStatus.ACTIVE)
    assert rolled.monitor == MonitorState() and rolled.challenger_monitor == MonitorState()
    assert (rolled.events[-1].kind, rolled.events[-1].version) == (EventKind.PROMOTED, 2)
    with pytest.raises(ValueError, match="already the champion"):
        promote(record, now=T0, reason="again", version=1)


def test_a_degraded_champion_falls_back_to_the_rule_and_recovers_with_hysteresis():
    rule = HealthRule(min_samples=50, max_error_ratio=2.0)
    record = register(None, artifact(1, mape=2.0), now=T0)  # reference error 0.02
    healthy = replace(record, monitor=fed(MonitorState(), 0.025, 60))
    assert not assess(healthy, 0.02, rule).degraded
    broken = replace(record, monitor=fed(MonitorState(), 0.09, 60))
    health = assess(broken, 0.02, rule)
    assert health.degraded and "4.5x" in health.reason
    fallen = apply_health(broken, health, now=T0)
    assert fallen.status is ModelStatus.FALLBACK and fallen.events[-1].kind is EventKind.FALLBACK
    assert "seasonal-naive" in fallen.events[-1].reason
    # back under the limit, but not by the recovery margin: stays on the rule
    almost = replace(fallen, monitor=fed(MonitorState(), 0.038, 60))  # 1.9x: under 2x, over 1.8x
    assert apply_health(almost, assess(almost, 0.02, rule), now=T0).status is ModelStatus.FALLBACK
    well = replace(fallen, monitor=fed(MonitorState(), 0.02, 60))
    recovered = apply_health(well, assess(well, 0.02, rule), now=T0)
    assert recovered.status is ModelStatus.ACTIVE
    assert recovered.events[-1].kind is EventKind.RECOVERED


def test_worse_than_the_rule_or_drifting_inputs_also_count_as_degraded():
    record = register(None, artifact(1), now=T0)
    worse = replace(record, monitor=fed(MonitorState(), 0.03, 60, baseline=0.02))
    assert "worse than the seasonal-naive" in assess(worse, None, HealthRule()).reason
    drifting = replace(record, monitor=MonitorState(samples=60, error=0.01, drift=6.0))
    assert assess(drifting, 0.02, HealthRule()).degraded
    assert drift_score([10.0, 0.0], [0.0, 0.0], [2.0, 1.0]) == 5.0


def test_the_decision_explanation_names_model_version_and_confidence():
    record = register(None, artifact(3), now=T0)
    record = replace(record, champion=3)
    served = explanation(active_model(record, model_confidence=classifier_confidence(0.9)))
    assert served == {
        "name": "edge-load",
        "kind": "load-forecast",
        "source": "model",
        "version": 3,
        "confidence": 0.9,
        "baseline": "seasonal-naive",
        "reason": "first version: validation mape 2 vs the seasonal-naive rule's 3 on the "
        "same data: beats the rule",
    }
    fallen = replace(record, status=ModelStatus.FALLBACK, reason="x")
    rule = active_model(fallen, model_confidence=0.99, rule_confidence=0.5)
    assert rule.source is ModelSource.RULE_BASELINE and rule.version is None
    assert explanation(rule)["source"] == "rule-baseline" and rule.confidence == 0.5
    assert detection_confidence(3.0) == pytest.approx(0.999)


def test_records_and_artifacts_round_trip_through_plain_data():
    record = apply_health(
        register(None, artifact(1), now=T0), assess_degraded(), now=T0 + timedelta(minutes=5)
    )
    assert ModelRecord.from_dict(record.as_dict()) == record
    saved = artifact(1)
    assert ModelArtifact.from_dict(saved.as_dict()) == saved
    model = load_model(saved)
    assert isinstance(model, SeasonalNaive) and model.predict(2).shape == (2, 1)


def assess_degraded() -> Health:
    return Health(True, "live error 4.5x the validation error")


def test_training_is_due_after_the_interval():
    assert training_due(None, now=T0, every=timedelta(days=1))
    record = register(None, artifact(1), now=T0)  # trained at T0 + 1 h
    assert not training_due(record, now=T0 + timedelta(hours=2), every=timedelta(days=1))
    assert training_due(record, now=T0 + timedelta(days=2), every=timedelta(days=1))
