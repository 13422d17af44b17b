"""Forecasters on synthetic daily series with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.forecast import (
    EwmaForecaster,
    HoltWinters,
    QuantileForecaster,
    SeasonalNaive,
    mean_absolute_percentage_error,
)

DAY = 48


def daily(seed: int, days: int, noise: float = 2.0, growth: float = 0.0):
    t = np.arange(days * DAY)
    rng = np.random.default_rng(seed)
    return 100 + growth * t + 30 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, noise, len(t))


def one_step_mape(model, series: np.ndarray) -> float:
    forecasts = model.update(series)
    return mean_absolute_percentage_error(series, forecasts)


def test_holt_winters_beats_seasonal_naive_one_step_ahead():
    series = daily(1, 12)
    train, test = series[: 8 * DAY], series[8 * DAY :]
    hw = HoltWinters(season_length=DAY).fit(train)
    naive = SeasonalNaive(season_length=DAY).fit(train)
    assert one_step_mape(hw, test) < 0.8 * one_step_mape(naive, test)
    assert 0.0 <= hw.alpha_[0] <= 1.0 and 0.0 <= hw.gamma_[0] <= 1.0


def test_holt_winters_follows_a_trend_that_seasonal_naive_lags():
    series = daily(2, 12, noise=1.0, growth=0.5)
    hw = HoltWinters(season_length=DAY).fit(series[: 8 * DAY])
    ahead = hw.predict(DAY)[:, 0]
    actual = series[8 * DAY : 9 * DAY]
    naive = series[7 * DAY : 8 * DAY]
    assert mean_absolute_percentage_error(actual, ahead) < mean_absolute_percentage_error(
        actual, naive
    )


def test_the_upper_forecast_covers_about_its_quantile():
    series = daily(3, 30, noise=4.0)
    model = QuantileForecaster(season_length=DAY, quantile=0.9, horizon=6).fit(series[: 15 * DAY])
    covered = []
    for value in series[15 * DAY :]:
        covered.append(value <= model.forecast_at(1)[0])
        model.update(np.array([value]))
    assert 0.85 <= float(np.mean(covered)) <= 0.95
    point = HoltWinters.predict(model, 6)
    assert (model.predict(6) > point).all()


def test_forecasters_are_vectorised_and_survive_json():
    data = np.c_[daily(4, 6), daily(5, 6) * 2]
    for model in (
        HoltWinters(season_length=DAY).fit(data[: 4 * DAY]),
        QuantileForecaster(season_length=DAY).fit(data[: 4 * DAY]),
        SeasonalNaive(season_length=DAY).fit(data[: 4 * DAY]),
        EwmaForecaster(alpha=0.2).fit(data[: 4 * DAY]),
    ):
        restored = type(model).from_dict(model.to_dict())
        np.testing.assert_allclose(restored.predict(5), model.predict(5))
        assert model.predict(5).shape == (5, 2)
        np.testing.assert_allclose(restored.update(data[4 * DAY :]), model.update(data[4 * DAY :]))


def test_ewma_and_holt_winters_ignore_a_missing_sample():
    hw = HoltWinters(season_length=DAY).fit(daily(6, 4))
    before = hw.predict(2)
    hw.update(np.array([np.nan]))
    assert np.isfinite(hw.predict(2)).all() and hw.predict(1)[0, 0] == pytest.approx(
        before[1, 0], rel=1e-9
    )
    ewma = EwmaForecaster().fit([1.0, 2.0])
    ewma.update([np.nan])
    assert ewma.level_[0] == pytest.approx(1.3)


def test_fitting_needs_enough_history():
    with pytest.raises(ValueError, match="two seasons"):
        HoltWinters(season_length=DAY).fit(np.ones(DAY))
    with pytest.raises(ValueError, match="non-zero"):
        mean_absolute_percentage_error([0.0], [1.0])
