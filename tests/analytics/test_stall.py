"""Stall classifier: logistic regression, grouped folds, and the public sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analytics.evaluation import (
    accuracy,
    brier_score,
    expected_calibration_error,
    f1_score,
    group_kfold,
)
from analytics.stall import (
    ChunkStream,
    FeatureSet,
    FlowSummary,
    LogisticRegression,
    RateRule,
    StallClassifier,
    feature_matrix,
    feature_names,
)
from controller.models_store import DataFileError, read_sessions
from tests.analytics.conftest import dataset


def test_logistic_regression_recovers_calibrated_probabilities():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, 2))
    truth = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.3)))
    y = rng.random(len(truth)) < truth
    model = LogisticRegression().fit(x, y)
    assert model.coef_ == pytest.approx([1.5, -2.0], abs=0.1)
    probability = model.predict_proba(x)
    assert expected_calibration_error(y, probability) < 0.02
    restored = LogisticRegression.from_dict(model.to_dict())
    np.testing.assert_allclose(restored.predict_proba(x[:10]), probability[:10])


def test_group_kfold_never_splits_a_group_and_balances_folds():
    groups = [f"video{i % 41}" for i in range(12_472)]
    folds = group_kfold(groups, 5)
    by_group: dict[str, set[int]] = {}
    for group, fold in zip(groups, folds.tolist(), strict=True):
        by_group.setdefault(group, set()).add(fold)
    assert all(len(f) == 1 for f in by_group.values())
    sizes = np.bincount(folds)
    assert sizes.min() > 0.85 * sizes.max()  # 41 groups in 5 folds: 8 or 9 each
    with pytest.raises(ValueError, match="cannot fill"):
        group_kfold(["a", "b"], 5)


def test_metrics_on_known_cases():
    assert f1_score([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert accuracy([1, 0], [1, 0]) == 1.0
    assert brier_score([1, 0], [1.0, 0.0]) == 0.0
    assert expected_calibration_error([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)


def flow(rate: float, streams: int = 1) -> FlowSummary:
    chunks = tuple(ChunkStream(4e5 / (s + 1), 5.0) for s in range(streams))
    return FlowSummary(rate, rate * 300, 4e5, 5.0, chunks)


def test_burst_features_see_the_chunk_streams():
    names = feature_names(FeatureSet.BURST)
    row = feature_matrix([flow(1e5, streams=3)], FeatureSet.BURST)[0]
    assert row[names.index("chunk_streams")] == 3.0
    assert row[names.index("log_min_chunk_bitrate")] < row[names.index("log_max_chunk_bitrate")]
    assert feature_matrix([flow(1e5)], FeatureSet.RATE).shape == (1, 1)


def test_classifier_and_rule_decide_on_a_separable_toy():
    rates = np.geomspace(1e4, 1e6, 200)
    flows = [flow(r, streams=3 if r < 1e5 else 1) for r in rates]
    stalled = rates < 1e5
    model = StallClassifier().fit(flows, stalled)
    assert (model.predict(flows) == stalled).mean() > 0.95
    rule = RateRule().fit(flows, stalled)
    assert rule.predict([flow(5e4), flow(5e5)]).tolist() == [True, False]
    restored = StallClassifier.from_dict(model.to_dict())
    np.testing.assert_allclose(restored.predict_proba(flows), model.predict_proba(flows))
    # the rule (no hyperparameters) round-trips through JSON too: the registry stores it
    restored_rule = RateRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    assert restored_rule.cut_bps_ == rule.cut_bps_


def test_on_public_sessions_grouped_by_video_burst_features_reach_the_goal():
    sessions = read_sessions(dataset("youtube-sieber/ifip_networking.csv.gz"))
    y = sessions.stalled
    assert len(y) == 12_472 and len(set(sessions.videos)) == 41
    folds = group_kfold(sessions.videos, 5)
    scores = {}
    for features in (FeatureSet.RATE, FeatureSet.BURST):
        predicted = np.zeros(len(y), dtype=bool)
        for fold in range(5):
            train = np.flatnonzero(folds != fold).tolist()
            test = np.flatnonzero(folds == fold).tolist()
            model = StallClassifier(features=features.value).fit(
                [sessions.flows[i] for i in train], y[train]
            )
            predicted[test] = model.predict([sessions.flows[i] for i in test])
        scores[features] = f1_score(y, predicted)
    assert scores[FeatureSet.RATE] == pytest.approx(0.865, abs=0.01)  # the reference point
    assert scores[FeatureSet.BURST] >= 0.92


def test_a_bad_cell_in_a_sessions_file_names_its_line_and_column(tmp_path: Path):
    streams = ("133", "134", "135", "136", "160")
    columns = [
        "yt_id",
        "pl_buffering_boolean",
        "net_avg_shaping_rate",
        "net_dl_total",
        "pl_avg_req_size",
        "pl_avg_req_size_sec",
        *(f"pl_avg_req_itag{s}_{k}" for s in streams for k in ("size", "sec")),
    ]
    good = ["v1", "False", "1e6", "5e7", "4e5", "3.2", *(["0"] * 10)]
    bad = ["v2", "True", "1e6", "lots", "4e5", "3.2", *(["0"] * 10)]
    path = tmp_path / "sessions.csv"
    path.write_text("\n".join(",".join(r) for r in (columns, good, bad)) + "\n")
    with pytest.raises(DataFileError) as caught:
        read_sessions(path)
    error = caught.value
    assert (error.line, error.field) == (3, "net_dl_total")
    assert "'lots' is not a number" in str(error) and str(path) in str(error)
    # a good file reads
    path.write_text("\n".join(",".join(r) for r in (columns, good)) + "\n")
    assert read_sessions(path).videos == ("v1",)
