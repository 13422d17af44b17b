"""Detectors on synthetic series with fixed seeds: decisions and alarm delays, not floats."""

from __future__ import annotations

import numpy as np
import pytest

from analytics._params import NotFittedError
from analytics.anomaly import (
    AlertSuppressor,
    Cusum,
    Dspot,
    KpiAnomalyDetector,
    PageHinkley,
    RobustZScore,
    Spot,
    TailCalibrator,
    fit_gpd_grimshaw,
    fit_gpd_moments,
)

DAY = 48  # samples per day in the seasonal tests (30-minute samples)


def noise(seed: int, n: int, scale: float = 1.0):
    return np.random.default_rng(seed).normal(0.0, scale, n)


def first_alarm(alarms, start: int = 0) -> int | None:
    hits = np.flatnonzero(np.asarray(alarms)[start:])
    return None if len(hits) == 0 else int(hits[0]) + start


# ---------------------------------------------------------------------------------------
# robust z-score


def test_robust_zscore_flags_a_spike_and_not_the_noise_around_it():
    series = noise(1, 600)
    series[500] += 12.0
    detector = RobustZScore(window=200, threshold=6.0).fit(series[:300])
    alarms = detector.predict(series[300:])
    assert np.flatnonzero(alarms).tolist() == [200]


def test_robust_zscore_survives_a_quantised_series_with_zero_mad():
    series = np.r_[np.zeros(100), np.ones(1) * 5, np.zeros(10)]
    scores = RobustZScore(window=50, threshold=4.0).fit([], series=1).update(series)
    # a flat window has no spread at all: any change from it is an anomaly, silence is not
    assert scores[100] >= 4.0 and np.nanmax(scores[:100]) < 4.0


def test_robust_zscore_is_vectorised_over_series():
    data = np.c_[noise(2, 400), noise(3, 400)]
    data[350, 1] += 15
    bank = RobustZScore(window=100).fit(data[:300])
    alone = RobustZScore(window=100).fit(data[:300, 1])
    np.testing.assert_allclose(bank.score(data[300:])[:, 1], alone.score(data[300:, 1]))
    assert bank.predict(data[300:])[50].tolist() == [False, True]


# ---------------------------------------------------------------------------------------
# CUSUM and Page-Hinkley


@pytest.mark.parametrize(("shift", "max_delay"), [(1.0, 20), (3.0, 4)])
def test_cusum_finds_a_level_shift_with_a_bounded_delay(shift, max_delay):
    series = noise(4, 800)
    series[500:] += shift
    detector = Cusum().fit(series[:300])
    alarms = detector.predict(series[300:])
    delay = first_alarm(alarms, 200)
    assert delay is not None and delay - 200 <= max_delay
    assert not alarms[:150].any()  # no false alarm on the in-control stretch before


def test_cusum_restarts_after_an_alarm():
    detector = Cusum(threshold=5.0).fit(noise(5, 300))  # the classical h
    stats = detector.update(np.full(20, 10.0))
    assert stats[0] >= 5.0 and stats[1] >= 5.0  # each +10 sigma sample alarms on its own


def test_page_hinkley_finds_a_drop_and_stays_quiet_on_stationary_noise():
    quiet = PageHinkley().fit(noise(6, 500)).predict(noise(7, 3000))
    assert not quiet.any()
    series = noise(9, 1000)
    series[600:] -= 2.0
    alarms = PageHinkley().fit(series[:300]).predict(series[300:])
    delay = first_alarm(alarms, 300)
    assert delay is not None and delay - 300 <= 20
    assert not alarms[:300].any()


# ---------------------------------------------------------------------------------------
# extreme values


def test_grimshaw_recovers_a_heavy_and_a_light_tail():
    rng = np.random.default_rng(9)
    heavy_gamma, heavy_sigma = fit_gpd_grimshaw(rng.pareto(3.0, 5000))  # GPD(1/3, 1/3)
    assert heavy_gamma == pytest.approx(1 / 3, abs=0.08)
    assert heavy_sigma == pytest.approx(1 / 3, abs=0.05)
    light_gamma, light_sigma = fit_gpd_grimshaw(rng.exponential(2.0, 5000))  # GPD(0, 2)
    assert abs(light_gamma) < 0.06 and light_sigma == pytest.approx(2.0, rel=0.1)
    moments_gamma, _ = fit_gpd_moments(rng.exponential(2.0, 5000))
    assert abs(moments_gamma) < 0.06


def test_spot_threshold_matches_the_true_quantile_of_an_exponential():
    rng = np.random.default_rng(10)
    spot = Spot(risk=1e-3).fit(rng.exponential(1.0, 20_000))
    assert spot.threshold_ == pytest.approx(-np.log(1e-3), rel=0.1)  # 6.91


def test_spot_alarms_on_an_extreme_and_keeps_its_false_alarm_rate():
    stream = noise(11, 30_000)
    spot = Spot(risk=1e-4).fit(stream[:5000])
    alarms = spot.update(stream[5000:])
    assert alarms.sum() <= 10  # about 2.5 expected in 25,000 samples
    assert spot.update([12.0]).tolist() == [True]
    before = len(spot.peaks_)
    spot.update([12.0])
    assert len(spot.peaks_) == before  # an anomaly is not learned as a peak


def test_dspot_follows_a_drift_but_catches_a_spike_on_top_of_it():
    n = 6000
    trend = np.linspace(0.0, 60.0, n)
    series = trend + noise(12, n)
    series[5000] += 12.0
    detector = Dspot(depth=20, risk=1e-4).fit(series[:1000])
    alarms = detector.update(series[1000:])
    assert alarms[4000]
    assert alarms.sum() <= 6  # the drift itself is not an anomaly
    plain = Spot(risk=1e-4).fit(series[:1000]).update(series[1000:])
    assert plain.sum() > 1000  # while SPOT on the raw values drowns in the drift


def test_tail_calibrator_turns_statistics_into_tail_probabilities():
    rng = np.random.default_rng(13)
    calibrator = TailCalibrator(history=5000).fit(rng.exponential(1.0, 5000))
    # for an exponential statistic, P(S > s) = exp(-s): the surprise of s is s*log10(e)
    for value, decades in ((5.0, 2.17), (9.0, 3.91)):
        assert calibrator.score([value])[0] == pytest.approx(decades, abs=0.6)
    assert calibrator.score([0.5])[0] < 1.7  # below the 98 % quantile: never an alarm


def test_suppressor_keeps_the_first_alert_of_a_burst_and_a_clear_escalation():
    suppressor = AlertSuppressor(holdoff=10, margin=0.3).fit([], series=1)
    kept = suppressor.update([0.1, 4.0, 4.1, 3.9, 4.2, 6.0, 0.2, 0.1])
    assert (kept > 3).tolist() == [False, True, False, False, False, True, False, False]


# ---------------------------------------------------------------------------------------
# the KPI detector


def seasonal(seed: int, days: int):
    t = np.arange(days * DAY)
    return 50 + 20 * np.sin(2 * np.pi * t / DAY) + noise(seed, len(t), 1.0)


@pytest.mark.parametrize("seed", [14, 21, 22, 23, 24])
def test_kpi_detector_is_quiet_on_a_clean_seasonal_series(seed):
    series = seasonal(seed, 40)
    detector = KpiAnomalyDetector(season_length=DAY).fit(series[: 25 * DAY])
    assert not detector.predict(series[25 * DAY :]).any()


def test_kpi_detector_catches_a_spike_at_once():
    series = seasonal(15, 40)
    spike = 30 * DAY + 7
    series[spike] += 15.0
    detector = KpiAnomalyDetector(season_length=DAY).fit(series[: 25 * DAY])
    surprise = detector.score(series[25 * DAY :])
    assert int(np.argmax(surprise)) == spike - 25 * DAY
    assert surprise[spike - 25 * DAY] >= detector.threshold


def test_kpi_detector_catches_a_day_whose_pattern_is_missing():
    series = seasonal(16, 40)
    flat = 32 * DAY + DAY // 8  # the evening peak does not come: the series stays flat
    series[flat : flat + DAY // 2] = 50 + noise(17, DAY // 2, 1.0)
    detector = KpiAnomalyDetector(season_length=DAY).fit(series[: 25 * DAY])
    alarms = detector.predict(series[25 * DAY :])
    delay = first_alarm(alarms, flat - 25 * DAY)
    assert delay is not None and delay - (flat - 25 * DAY) <= DAY // 4
    assert not alarms[: flat - 25 * DAY].any()


def test_kpi_detector_scores_ticks_as_it_scores_a_batch_and_survives_json():
    data = np.c_[seasonal(18, 30), seasonal(19, 30)]
    data[28 * DAY, 0] += 20
    batch = KpiAnomalyDetector(season_length=DAY).fit(data[: 20 * DAY])
    saved = batch.to_dict()
    restored = KpiAnomalyDetector.from_dict(saved)
    expected = batch.update(data[20 * DAY :])
    ticks = np.array([restored.step(row) for row in data[20 * DAY :]])
    np.testing.assert_allclose(ticks, expected)
    single = KpiAnomalyDetector(season_length=DAY).fit(data[: 20 * DAY, 0])
    np.testing.assert_allclose(single.update(data[20 * DAY :, 0]), expected[:, 0])


def test_kpi_detector_treats_a_missing_sample_as_no_news():
    series = seasonal(20, 30)
    detector = KpiAnomalyDetector(season_length=DAY).fit(series[: 20 * DAY])
    holes = series[20 * DAY :].copy()
    holes[100:103] = np.nan
    surprise = detector.update(holes)
    assert surprise[100:103].tolist() == [0.0, 0.0, 0.0]
    assert not (surprise >= detector.threshold).any()


def test_models_refuse_to_work_before_fit():
    with pytest.raises(NotFittedError):
        RobustZScore().update([1.0])
    with pytest.raises(NotFittedError):
        KpiAnomalyDetector().step([1.0])
