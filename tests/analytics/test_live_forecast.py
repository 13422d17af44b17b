"""Upper load forecasts a running controller can make: from its own short history (the
rule baseline) and from the daily shape of a trained forecaster."""

from __future__ import annotations

import numpy as np
import pytest

from analytics._params import NotFittedError
from analytics.forecast import (
    EwmaForecaster,
    HoltWinters,
    QuantileForecaster,
    seasonal_upper_ratio,
    trend_upper_forecast,
)


def test_a_rising_line_is_extrapolated_by_its_slope():
    times = np.arange(0.0, 600.0, 30.0)  # 20 samples, 30 s apart
    load = 100.0 + 0.05 * times
    result = trend_upper_forecast(times, load, horizon_s=300.0, quantile=0.95)
    assert result.slope_per_s[0] == pytest.approx(0.05)
    level = EwmaForecaster(alpha=0.3).fit(load.reshape(-1, 1)).level_[0]
    assert result.level[0] == pytest.approx(level)
    # level + slope x horizon + the error quantile (the EWMA lags a line: positive errors)
    assert result.margin[0] > 0
    assert result.upper[0] == pytest.approx(level + 0.05 * 300.0 + result.margin[0])
    assert result.upper[0] > load[-1]


def test_a_trend_is_not_extrapolated_beyond_the_history_it_was_seen_over():
    times = np.array([0.0, 1.0, 2.0])
    load = np.array([10.0, 11.0, 12.0])
    short = trend_upper_forecast(times, load, horizon_s=1200.0)
    reach = short.upper[0] - short.level[0] - short.margin[0]
    assert reach == pytest.approx(short.slope_per_s[0] * 2.0)  # the span, not 1200 s


def test_a_falling_load_is_not_planned_away():
    times = np.arange(10.0)
    load = 50.0 - 2.0 * times
    result = trend_upper_forecast(times, load, horizon_s=60.0)
    assert result.slope_per_s[0] == 0.0
    assert result.upper[0] >= result.level[0]


def test_several_series_at_once_and_the_relative_error_is_weighted_by_volume():
    times = np.arange(6.0)
    rows = np.array([[10.0, 0.0], [12.0, 0.0], [11.0, 0.0], [13.0, 0.0], [12.0, 0.0], [14.0, 0.0]])
    result = trend_upper_forecast(times, rows, horizon_s=5.0)
    assert result.upper.shape == (2,)
    assert result.upper[1] == 0.0
    assert result.relative_errors.shape == (5,)
    assert np.isfinite(result.relative_errors).all()  # the empty series adds nothing
    # a small, noisy series beside a big steady one barely moves the error
    noisy = rows.copy()
    noisy[:, 1] = [0.1, 0.3, 0.0, 0.4, 0.1, 0.2]
    mixed = trend_upper_forecast(times, noisy, horizon_s=5.0)
    assert np.all(mixed.relative_errors - result.relative_errors < 0.05)
    flat = trend_upper_forecast(times, np.zeros(6), horizon_s=5.0)
    assert np.isnan(flat.relative_errors).all()


@pytest.mark.parametrize(
    ("times", "values", "message"),
    [
        ([0.0], [1.0], "at least two"),
        ([0.0, 1.0, 2.0], [1.0, 2.0], "times for"),
        ([0.0, 1.0], [1.0, float("nan")], "missing"),
    ],
)
def test_unusable_histories_are_refused(times, values, message):
    with pytest.raises(ValueError, match=message):
        trend_upper_forecast(times, values, horizon_s=10.0)


def _daily(days: int, m: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * m)
    return 100.0 + 40.0 * np.sin(2 * np.pi * t / m) + rng.normal(0.0, 1.0, t.size)


def test_the_daily_shape_says_how_much_the_load_grows_from_now():
    m = 24
    model = HoltWinters(season_length=m).fit(_daily(4, m))
    trough, peak = 18, 6  # sin is lowest a quarter before the end of the day, highest at 6
    rising = seasonal_upper_ratio(model, position=4 * m + trough, steps=m // 2)
    falling = seasonal_upper_ratio(model, position=4 * m + peak, steps=2)
    assert rising[0] > 2.0  # ~140 / ~60 over the next half day
    assert falling[0] < 1.05  # after the peak the load only falls
    # the quantile forecaster has the same point forecast plus its error margin on top
    quantile = QuantileForecaster(season_length=m, horizon=3).fit(_daily(4, m))
    assert (quantile.margin_[:2, 0] > 0).all()
    upper = seasonal_upper_ratio(quantile, position=4 * m + peak, steps=2)
    assert upper[0] > falling[0]


def test_a_ratio_needs_a_fitted_forecaster():
    with pytest.raises(NotFittedError):
        seasonal_upper_ratio(HoltWinters(season_length=24), position=0.0, steps=1)
