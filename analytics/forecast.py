"""Load forecasters: EWMA, seasonal-naive, Holt-Winters with a daily season, upper quantile.

Each forecaster holds the state of one or more series fed together (one row per tick),
follows the estimator shape of :mod:`analytics._params` (``fit(history) -> Self``, learned
state in ``*_`` attributes, JSON round trip) and is streaming:

- ``update(values)`` returns the one-step-ahead forecast each value was compared against,
  then learns the value (so the caller gets the prediction error for free);
- ``predict(horizon)`` returns the next ``horizon`` values for every series, shape
  (horizon, series).

:class:`HoltWinters` fits its smoothing parameters per series by minimising the one-step
squared error over the history (L-BFGS-B). :class:`QuantileForecaster` adds to it the
empirical quantile of its own ``h``-step errors on the history, so that ``predict`` gives an
upper bound that the load stays under with the chosen probability -- what an energy
decision that must not under-provision needs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from analytics._params import Model, NotFittedError, as_matrix
from analytics._scipy import minimize_bounded
from analytics.anomaly import ticks

__all__ = [
    "EwmaForecaster",
    "HoltWinters",
    "QuantileForecaster",
    "SeasonalNaive",
    "TrendUpperForecast",
    "mean_absolute_percentage_error",
    "seasonal_upper_ratio",
    "trend_upper_forecast",
]

FloatArray = npt.NDArray[np.float64]


def mean_absolute_percentage_error(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """MAPE in percent, over the points where the actual value is not zero.

    Raises:
        ValueError: shapes differ, or every actual value is zero.
    """
    y = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"shapes differ: {y.shape} and {p.shape}")
    usable = (y != 0) & np.isfinite(y) & np.isfinite(p)
    if not usable.any():
        raise ValueError("MAPE needs at least one non-zero actual value")
    return float(100.0 * np.mean(np.abs((y[usable] - p[usable]) / y[usable])))


class EwmaForecaster(Model):
    """Exponentially weighted moving average: a flat forecast at the smoothed level.

    Args:
        alpha: weight of the newest value, in (0, 1].
    """

    _STATE = ("level_",)

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha

    def fit(self, history: npt.ArrayLike) -> Self:
        """Learn the level of each series from a history (samples x series).

        Raises:
            ValueError: an empty history.
        """
        matrix = as_matrix(history)
        if matrix.shape[0] == 0:
            raise ValueError("EWMA needs at least one value")
        self.level_: FloatArray = matrix[0].copy()
        self.update(matrix[1:])
        return self

    def step(self, row: FloatArray) -> FloatArray:
        """One tick: the forecast the values are compared with, then learn them."""
        forecast = self.level_.copy()
        self.level_ = np.where(
            np.isfinite(row), self.alpha * row + (1.0 - self.alpha) * self.level_, self.level_
        )
        return forecast

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """One-step-ahead forecasts for new values (one tick per row), learning them."""
        self._check_fitted()
        matrix, restore = ticks(values, self.level_.shape[0])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))

    def predict(self, horizon: int) -> FloatArray:
        """The next ``horizon`` values: the level, repeated. Shape (horizon, series)."""
        self._check_fitted()
        return np.tile(self.level_, (horizon, 1))


class SeasonalNaive(Model):
    """The value one season earlier: the baseline every seasonal forecaster must beat.

    Args:
        season_length: samples per season (288 for a day of 5-minute samples).
    """

    _STATE = ("last_season_", "seen_")

    def __init__(self, season_length: int = 288) -> None:
        self.season_length = season_length

    def fit(self, history: npt.ArrayLike) -> Self:
        """Keep the last season of each series.

        Raises:
            ValueError: less than one season of history.
        """
        matrix = as_matrix(history)
        if matrix.shape[0] < self.season_length:
            raise ValueError(f"seasonal-naive needs {self.season_length} values of history")
        self.last_season_: FloatArray = np.zeros((self.season_length, matrix.shape[1]))
        self.seen_ = 0
        for row in matrix:
            self.step(row)
        return self

    def step(self, row: FloatArray) -> FloatArray:
        """One tick: the value a season ago (the forecast), then remember the new one."""
        slot = self.seen_ % self.season_length
        forecast: FloatArray = self.last_season_[slot].copy()
        self.last_season_[slot] = np.where(np.isfinite(row), row, forecast)
        self.seen_ += 1
        return forecast

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """One-step-ahead forecasts for new values (one tick per row), learning them."""
        self._check_fitted()
        matrix, restore = ticks(values, self.last_season_.shape[1])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))

    def predict(self, horizon: int) -> FloatArray:
        """The next ``horizon`` values, shape (horizon, series)."""
        self._check_fitted()
        slots = (self.seen_ + np.arange(horizon)) % self.season_length
        forecast: FloatArray = self.last_season_[slots]
        return forecast


def _holt_winters_sse(
    y: FloatArray, season_length: int, alpha: float, beta: float, gamma: float
) -> float:
    """One-step squared error of additive Holt-Winters on one series, from its standard start."""
    level, trend, initial = _initial_state(y, season_length)
    season = initial.tolist()  # plain floats: this loop runs for every objective evaluation
    total = 0.0
    for t, value in enumerate(y.tolist()):
        slot = t % season_length
        error = value - (level + trend + season[slot])
        total += error * error
        previous = level
        level = alpha * (value - season[slot]) + (1.0 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1.0 - beta) * trend
        season[slot] = gamma * (value - level) + (1.0 - gamma) * season[slot]
    return total


def _initial_state(y: FloatArray, season_length: int) -> tuple[float, float, FloatArray]:
    """Level, trend and season of additive Holt-Winters from the first two seasons."""
    first = y[:season_length]
    second = y[season_length : 2 * season_length]
    level = float(first.mean())
    trend = float((second.mean() - first.mean()) / season_length)
    season: FloatArray = first - level
    return level, trend, season.copy()


class HoltWinters(Model):
    """Additive Holt-Winters (level, trend, daily season) with fitted smoothing parameters.

    ``fit`` starts each series from its first two seasons (level: the first season's mean;
    trend: the change of the mean between them; season: the first season minus the level)
    and chooses ``alpha``, ``beta``, ``gamma`` in [0, 1] minimising the one-step squared
    error over the history (L-BFGS-B from (0.3, 0.01, 0.1)). The forecast ``h`` steps ahead
    is ``level + h trend + season[t + h]``.

    Args:
        season_length: samples per season (288 for a day of 5-minute samples).
        trend: whether to model a trend (``False`` fixes ``beta = 0`` and a zero trend).
    """

    _STATE: ClassVar[tuple[str, ...]] = (
        "alpha_",
        "beta_",
        "gamma_",
        "level_",
        "trend_",
        "season_",
        "seen_",
        "sse_",
    )

    def __init__(self, season_length: int = 288, trend: bool = True) -> None:
        self.season_length = season_length
        self.trend = trend

    def fit(self, history: npt.ArrayLike) -> Self:
        """Fit each series' parameters on a history (samples x series).

        Raises:
            ValueError: less than two seasons of history, or missing values in it.
        """
        matrix = as_matrix(history)
        m = self.season_length
        if matrix.shape[0] < 2 * m:
            raise ValueError(f"Holt-Winters needs two seasons ({2 * m} values) of history")
        if not np.isfinite(matrix).all():
            raise ValueError("Holt-Winters cannot fit on a history with missing values")
        series = matrix.shape[1]
        self.alpha_ = np.zeros(series)
        self.beta_ = np.zeros(series)
        self.gamma_ = np.zeros(series)
        self.sse_ = np.zeros(series)
        for column in range(series):
            y = matrix[:, column]
            scale = float(np.mean(np.abs(y))) or 1.0
            normalised = y / scale  # keeps the objective's size independent of units

            def objective(p: FloatArray, data: FloatArray = normalised) -> float:
                beta = float(p[1]) if self.trend else 0.0
                return _holt_winters_sse(data, m, float(p[0]), beta, float(p[2]))

            best, error = minimize_bounded(
                objective, (0.3, 0.01 if self.trend else 0.0, 0.1), [(0.0, 1.0)] * 3
            )
            self.alpha_[column] = best[0]
            self.beta_[column] = best[1] if self.trend else 0.0
            self.gamma_[column] = best[2]
            self.sse_[column] = error * scale * scale
        # replay the history with the fitted parameters to reach today's state
        self.level_: FloatArray = np.zeros(series)
        self.trend_: FloatArray = np.zeros(series)
        self.season_: FloatArray = np.zeros((m, series))
        for column in range(series):
            level, trend, season = _initial_state(matrix[:, column], m)
            self.level_[column] = level
            self.trend_[column] = trend if self.trend else 0.0
            self.season_[:, column] = season
        self.seen_ = 0
        for row in matrix:
            self.step(row)
        return self

    def step(self, row: FloatArray) -> FloatArray:
        """One tick: the one-step forecast for ``row``, then learn it (NaN: not learned)."""
        slot = self.seen_ % self.season_length
        season = self.season_[slot]
        forecast: FloatArray = self.level_ + self.trend_ + season
        value = np.where(np.isfinite(row), row, forecast)
        previous = self.level_
        level = self.alpha_ * (value - season) + (1.0 - self.alpha_) * (previous + self.trend_)
        self.trend_ = self.beta_ * (level - previous) + (1.0 - self.beta_) * self.trend_
        self.season_[slot] = self.gamma_ * (value - level) + (1.0 - self.gamma_) * season
        self.level_ = level
        self.seen_ += 1
        return forecast

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """One-step-ahead forecasts for new values (one tick per row), learning them."""
        self._check_fitted()
        matrix, restore = ticks(values, self.level_.shape[0])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))

    def predict(self, horizon: int) -> FloatArray:
        """The next ``horizon`` values, shape (horizon, series)."""
        self._check_fitted()
        steps = np.arange(1, horizon + 1)
        slots = (self.seen_ + steps - 1) % self.season_length
        forecast: FloatArray = (
            self.level_[None, :] + steps[:, None] * self.trend_[None, :] + self.season_[slots]
        )
        return forecast

    def forecast_at(self, horizon: int) -> FloatArray:
        """Only the value ``horizon`` steps ahead, per series (cheaper than predict)."""
        self._check_fitted()
        slot = (self.seen_ + horizon - 1) % self.season_length
        value: FloatArray = self.level_ + horizon * self.trend_ + self.season_[slot]
        return value


class QuantileForecaster(HoltWinters):
    """Holt-Winters plus the ``quantile`` of its own errors: an upper forecast.

    After fitting, the history is replayed and every ``h``-step forecast (``h`` up to
    ``horizon``) is compared with what came; ``margin_[h-1]`` is the ``quantile`` of those
    errors. :meth:`predict` adds the margin to the point forecast, so the load stays below
    it with probability ``quantile`` (as measured on the history). Beyond ``horizon`` the
    last margin is used.

    Args:
        season_length: samples per season.
        trend: whether to model a trend.
        quantile: the probability of staying under the forecast, e.g. 0.95.
        horizon: the largest horizon with its own margin.
    """

    _STATE = (*HoltWinters._STATE, "margin_")

    def __init__(
        self,
        season_length: int = 288,
        trend: bool = True,
        quantile: float = 0.95,
        horizon: int = 12,
    ) -> None:
        super().__init__(season_length=season_length, trend=trend)
        self.quantile = quantile
        self.horizon = horizon

    def fit(self, history: npt.ArrayLike) -> Self:
        """Fit Holt-Winters, then learn the error quantile per horizon from the history."""
        matrix = as_matrix(history)
        super().fit(matrix)
        # replay from the start of the second day with the fitted parameters
        replay = HoltWinters(self.season_length, self.trend)
        for name in HoltWinters._STATE:
            setattr(replay, name, copy.deepcopy(getattr(self, name)))
        m = self.season_length
        for column in range(matrix.shape[1]):
            level, trend, season = _initial_state(matrix[:, column], m)
            replay.level_[column] = level
            replay.trend_[column] = trend if self.trend else 0.0
            replay.season_[:, column] = season
        replay.seen_ = 0
        errors: list[list[FloatArray]] = [[] for _ in range(self.horizon)]
        for t in range(matrix.shape[0]):
            if t >= m:  # the first season only initialises the state
                ahead = replay.predict(self.horizon)
                for h in range(1, self.horizon + 1):
                    if t + h - 1 < matrix.shape[0]:
                        errors[h - 1].append(matrix[t + h - 1] - ahead[h - 1])
            replay.step(matrix[t])
        margin = np.zeros((self.horizon, matrix.shape[1]))
        for h in range(self.horizon):
            if errors[h]:
                margin[h] = np.quantile(np.array(errors[h]), self.quantile, axis=0)
        self.margin_ = margin
        return self

    def predict(self, horizon: int) -> FloatArray:
        """Upper forecasts for the next ``horizon`` values, shape (horizon, series)."""
        point = super().predict(horizon)
        rows = np.minimum(np.arange(horizon), self.horizon - 1)
        upper: FloatArray = point + self.margin_[rows]
        return upper

    def forecast_at(self, horizon: int) -> FloatArray:
        """Only the upper value ``horizon`` steps ahead, per series."""
        if not self.is_fitted:
            raise NotFittedError("QuantileForecaster is not fitted yet: call fit() first")
        point = super().forecast_at(horizon)
        upper: FloatArray = point + self.margin_[min(horizon, self.horizon) - 1]
        return upper


# --------------------------------------------------------------------------- live upper forecasts
#
# A controller that has just started has minutes of history, not the two days Holt-Winters
# needs. The two functions below give it an upper forecast anyway: from its own short history
# (the rule baseline), or from the daily shape of a forecaster trained offline and kept in
# the model registry.


@dataclass(frozen=True, slots=True)
class TrendUpperForecast:
    """An upper forecast from a short history (see :func:`trend_upper_forecast`).

    Args:
        upper: per series, the upper forecast at the horizon.
        level: per series, the smoothed level now (the EWMA).
        slope_per_s: per series, the rising trend used (0 when the load falls).
        margin: per series, the error quantile added.
        relative_errors: per one-step forecast of the history, its absolute error summed
            over the series, over the summed actual values (a volume-weighted relative
            error: a small, noisy series weighs as little as it loads the links; NaN when
            every value was zero): what a monitor folds.
    """

    upper: FloatArray
    level: FloatArray
    slope_per_s: FloatArray
    margin: FloatArray
    relative_errors: FloatArray


def trend_upper_forecast(
    times_s: npt.ArrayLike,
    history: npt.ArrayLike,
    *,
    horizon_s: float,
    quantile: float = 0.95,
    alpha: float = 0.3,
) -> TrendUpperForecast:
    """The load ``horizon_s`` ahead that each series stays under with probability ``quantile``,
    from a short, irregular history.

    ``upper = level + max(0, slope) * min(horizon_s, span) + margin`` per series, where
    ``level`` is the :class:`EwmaForecaster` level after the history, ``slope`` the
    least-squares slope of the history over time (a falling trend is not extrapolated: an
    upper bound must not plan on the load going away), ``span`` the time the history covers
    (a trend is not extrapolated further ahead than it was seen: a slope fitted on a few
    noisy seconds says nothing about the next twenty minutes), and ``margin`` the
    ``quantile`` of the EWMA's one-step errors on the history (at least 0). It is the rule
    baseline of a load forecast when no trained forecaster answers.

    Args:
        times_s: the samples' times in seconds (increasing; any origin).
        history: samples x series (a 1-D array is one series).
        horizon_s: how far ahead, in seconds.
        quantile: the probability of staying under the forecast.
        alpha: the EWMA's weight of the newest sample.

    Raises:
        ValueError: fewer than two samples, times that do not match the samples, or
            missing values.
    """
    matrix = as_matrix(history)
    times = np.asarray(times_s, dtype=float).reshape(-1)
    if matrix.shape[0] < 2:
        raise ValueError("a trend needs at least two samples")
    if times.shape[0] != matrix.shape[0]:
        raise ValueError(f"{times.shape[0]} times for {matrix.shape[0]} samples")
    if not np.isfinite(matrix).all() or not np.isfinite(times).all():
        raise ValueError("the history has missing values")
    model = EwmaForecaster(alpha=alpha).fit(matrix[:1])
    forecasts = model.update(matrix[1:]).reshape(-1, matrix.shape[1])
    errors = matrix[1:] - forecasts
    margin: FloatArray = np.maximum(np.quantile(errors, quantile, axis=0), 0.0)
    centred = times - times.mean()
    spread = float(np.sum(centred * centred))
    if spread > 0:
        slope = centred @ (matrix - matrix.mean(axis=0)) / spread
    else:
        slope = np.zeros(matrix.shape[1])
    rising: FloatArray = np.maximum(slope, 0.0)
    level: FloatArray = model.level_.copy()
    reach = min(max(horizon_s, 0.0), float(times[-1] - times[0]))
    upper: FloatArray = level + rising * reach + margin
    volume = np.sum(np.abs(matrix[1:]), axis=1)
    missed = np.sum(np.abs(errors), axis=1)
    relative: FloatArray = np.full(volume.shape, np.nan)
    np.divide(missed, volume, out=relative, where=volume > 0)
    return TrendUpperForecast(upper, level, rising, margin, relative)


def seasonal_upper_ratio(model: HoltWinters, *, position: float, steps: int) -> FloatArray:
    """How much the load may grow from now to ``steps`` samples ahead, by a trained daily shape.

    Per series: the largest upper forecast over the next ``steps`` season slots (level plus
    the slot's seasonal term, plus a :class:`QuantileForecaster`'s margin for that horizon)
    divided by the point forecast of the current slot. The model's trend is left out: it
    was learned on the training window, the ratio only borrows the shape of the day.

    Args:
        model: a fitted Holt-Winters (or quantile) forecaster.
        position: where "now" is, in samples since the model's first training sample
            (``(now - training start) / sampling interval``).
        steps: the horizon in samples (at least 1; at most a season is looked at).

    Returns:
        Per series, the ratio (at least 0; 1 where the current point forecast is not
        positive, as there is no shape to scale).

    Raises:
        NotFittedError: the model is not fitted.
    """
    if not model.is_fitted:
        raise NotFittedError("seasonal_upper_ratio needs a fitted forecaster")
    m = model.season_length
    now_slot = int(round(position)) % m
    ahead = range(1, max(1, min(int(steps), m)) + 1)
    margin = getattr(model, "margin_", None)
    base: FloatArray = model.level_ + model.season_[now_slot]
    best = np.full_like(base, -np.inf)
    for h in ahead:
        value = model.level_ + model.season_[(now_slot + h) % m]
        if isinstance(margin, np.ndarray):
            value = value + margin[min(h, margin.shape[0]) - 1]
        best = np.maximum(best, value)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio: FloatArray = np.where(base > 0, np.maximum(best, 0.0) / base, 1.0)
    return ratio
