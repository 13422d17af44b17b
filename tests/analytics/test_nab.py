"""NAB scoring rules on hand-made corpora, and the published windowed-Gaussian score."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.nab import (
    PROFILES,
    CostProfile,
    LabelledSeries,
    WindowedGaussian,
    corpus_curve,
    probation_length,
    round_like_nab,
    row_weights,
    scaled_sigmoid,
    score_corpus,
    window_indices,
)
from bench.models import PUBLISHED_WINDOWED_GAUSSIAN, nab_halves, read_nab
from tests.analytics.conftest import dataset

STANDARD = PROFILES["standard"]


def test_the_scaled_sigmoid_rewards_early_and_punishes_late():
    start, edge, after, far = scaled_sigmoid([-1.0, 0.0, 1.0, 3.0])
    assert start == pytest.approx(0.98661, abs=1e-5)
    assert edge == pytest.approx(0.0)
    assert after == pytest.approx(-0.98661, abs=1e-5)
    assert far == -1.0


def test_row_weights_follow_the_position_in_and_after_the_window():
    series = LabelledSeries("s", 100, ((40, 59),))
    weights, window = row_weights(series, STANDARD)
    assert weights[40] == pytest.approx(1.0)  # the earliest row earns the full tp weight
    assert weights[40] > weights[50] > weights[59] > 0
    assert (window[40:60] == 0).all() and (window[:40] == -1).all() and (window[60:] == -1).all()
    assert (weights[:40] == -STANDARD.fp_weight).all()  # before the first window: full cost
    assert -STANDARD.fp_weight < weights[60] < 0  # just after the window: cheap
    assert weights[99] < weights[60]


def test_probation_is_fifteen_percent_capped_at_750_rows():
    assert probation_length(1000) == 150
    assert probation_length(100_000) == 750


def _corpus() -> list[LabelledSeries]:
    return [
        LabelledSeries("a", 1000, ((400, 499),)),
        LabelledSeries("b", 1000, ((300, 349), (700, 749))),
        LabelledSeries("quiet", 1000, ()),
    ]


def test_a_perfect_detector_scores_100_and_a_silent_one_0():
    corpus = _corpus()
    perfect = {s.name: np.zeros(s.length) for s in corpus}
    silent = {s.name: np.zeros(s.length) for s in corpus}
    for s in corpus:
        for start, _ in s.windows:
            perfect[s.name][start] = 1.0
    assert score_corpus(perfect, corpus, STANDARD).normalised == pytest.approx(100.0)
    assert score_corpus(silent, corpus, STANDARD).normalised == pytest.approx(0.0)


def test_a_false_positive_costs_its_weight_and_late_detection_earns_less():
    corpus = _corpus()
    early = {s.name: np.zeros(s.length) for s in corpus}
    early["a"][400] = early["b"][300] = early["b"][700] = 1.0
    late = {k: v.copy() for k, v in early.items()}
    late["a"][400], late["a"][495] = 0.0, 1.0
    noisy = {k: v.copy() for k, v in early.items()}
    noisy["quiet"][500] = 1.0
    best = score_corpus(early, corpus, STANDARD)
    assert score_corpus(late, corpus, STANDARD).raw < best.raw
    with_fp = score_corpus(noisy, corpus, STANDARD)
    assert with_fp.raw == pytest.approx(best.raw - STANDARD.fp_weight)
    assert with_fp.false_positives == 1 and with_fp.detected_windows == 3


def test_the_threshold_sweep_matches_scoring_at_each_threshold():
    rng = np.random.default_rng(3)
    corpus = _corpus()
    scores = {s.name: rng.random(s.length) for s in corpus}
    curve = corpus_curve(scores, corpus, STANDARD)
    for index in (1, len(curve.thresholds) // 3, len(curve.thresholds) - 1):
        threshold = float(curve.thresholds[index])
        fixed = score_corpus(scores, corpus, STANDARD, threshold=threshold)
        assert fixed.raw == pytest.approx(float(curve.scores[index]))
    best = score_corpus(scores, corpus, STANDARD)
    assert best.raw == pytest.approx(float(curve.scores.max()))


def test_a_window_inside_the_probationary_period_is_not_scored():
    corpus = [LabelledSeries("early", 1000, ((10, 20), (500, 520)))]
    curve = corpus_curve({"early": np.zeros(1000)}, corpus, STANDARD)
    assert curve.windows == 1


def test_window_limits_must_be_timestamps_of_the_series():
    stamps = np.array(["2024-01-01T00:00", "2024-01-01T00:05", "2024-01-01T00:10"], "datetime64[s]")
    assert window_indices(stamps, [("2024-01-01 00:05:00.000000", "2024-01-01 00:10:00")]) == (
        (1, 2),
    )
    with pytest.raises(ValueError, match="not a timestamp"):
        window_indices(stamps, [("2024-01-01 00:06:00", "2024-01-01 00:10:00")])


def test_profiles_are_read_from_nabs_cost_matrices():
    profile = CostProfile.from_nab(
        "x", {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0, "tnWeight": 1}}
    )
    assert profile == CostProfile("x", 1.0, 0.22, 1.0)


def test_the_windowed_gaussian_scores_a_jump_higher_than_noise():
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, 500)
    values[400] = 8.0
    scores = WindowedGaussian(window=200, step=10).score(values)
    # (its first values are scored against one or two earlier values: noise, as in NAB)
    assert int(np.argmax(scores[50:])) + 50 == 400
    assert scores[400] > 0.999999 and scores[0] == 0.0


def test_the_scorer_reproduces_nabs_published_windowed_gaussian_score():
    nab = dataset("nab/nab_data_full.tar.gz").parent
    series, windows = read_nab(nab)
    assert len(series) == 58
    corpus = [
        LabelledSeries(name, len(values), window_indices(stamps, windows[name]))
        for name, (stamps, values) in sorted(series.items())
    ]
    assert sum(len(s.windows) for s in corpus) == 116
    detector = WindowedGaussian()
    scores = {s.name: round_like_nab(detector.score(series[s.name][1])) for s in corpus}
    standard = score_corpus(scores, corpus, STANDARD)
    assert standard.normalised == pytest.approx(PUBLISHED_WINDOWED_GAUSSIAN, abs=1e-4)
    low_fp = score_corpus(scores, corpus, PROFILES["reward_low_FP_rate"])
    assert low_fp.normalised == pytest.approx(20.86798582474138, abs=1e-4)
    dev, heldout = nab_halves(list(series))
    assert not set(dev) & set(heldout) and len(dev) + len(heldout) == 58
