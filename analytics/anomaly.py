"""Anomaly and change detectors for KPI series, and alert suppression.

Every detector follows the estimator shape of :mod:`analytics._params`: hyperparameters in
``__init__``, learned state in ``*_`` attributes, ``fit(history) -> Self``. They are also
streaming: ``update(values)`` scores new samples against what was learned so far and then
learns from them (the online form of ``partial_fit``), so one tick costs one step;
``score(values)`` does the same on a copy and leaves the model unchanged; ``predict`` turns
scores into decisions.

- :class:`RobustZScore`: distance from the median of a trailing window in MADs
  (vectorised over many series at once).
- :class:`Cusum` (Page's two-sided CUSUM) and :class:`PageHinkley`: level-shift change
  detection on standardised values, with an alarm delay that grows as the shift shrinks
  (vectorised).
- :class:`Spot` and :class:`Dspot`: the extreme-value thresholds of Siffer et al., "Anomaly
  Detection in Streams with Extreme Value Theory" (KDD 2017): peaks over a high initial
  threshold follow a generalised Pareto distribution (GPD), fitted by maximum likelihood
  with Grimshaw's trick; the alarm threshold ``z_q`` is the value exceeded with probability
  ``q``. DSPOT runs SPOT on the deviation from a moving average of recent normal values.
- :class:`TailCalibrator`: turns any non-negative anomaly statistic into a *surprise*,
  ``-log10`` of its estimated tail probability (peaks-over-threshold as in SPOT, refitted
  periodically from a bounded history by the method of moments), so that scores from
  different series and features share one scale and one threshold.
- :class:`AlertSuppressor`: after an alert, later alerts within ``holdoff`` samples are
  dropped unless they are ``margin`` decades more surprising.
- :class:`KpiAnomalyDetector`: netpilot's detector for KPI series, combining the above: a
  robust z-score of the first difference (spikes and steps), of the residual from the same
  time on previous days (broken daily patterns) and previous weeks, each calibrated into a
  surprise, combined with a Bonferroni correction, then suppressed. Its NAB score is in
  docs/benchmarks/models.md.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Self

import numpy as np
import numpy.typing as npt

from analytics._params import Model, as_matrix

__all__ = [
    "AlertSuppressor",
    "Cusum",
    "Dspot",
    "KpiAnomalyDetector",
    "PageHinkley",
    "RobustZScore",
    "Spot",
    "TailCalibrator",
    "fit_gpd_grimshaw",
    "fit_gpd_moments",
]

FloatArray = npt.NDArray[np.float64]

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 sigma
_MEAN_AD_TO_SIGMA = 1.2533  # mean absolute deviation of a normal is 0.7979 sigma
_TINY = 1e-9
_LOG10_E = math.log10(math.e)


def ticks(
    values: npt.ArrayLike, series: int
) -> tuple[FloatArray, Callable[[FloatArray], FloatArray]]:
    """Read ``values`` as ticks of ``series`` series; returns the rows and a reshaper.

    A model fitted on one series reads a 1-D array as successive samples of it; a model of
    several series reads a 1-D array as one tick (one value per series) and a 2-D array as
    ticks x series. The reshaper gives results the shape of ``values``.

    Raises:
        ValueError: the values do not fit the number of series.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        array = array.reshape(1)
    if series == 1 and array.ndim == 1:
        return array.reshape(-1, 1), lambda out: out.reshape(-1)
    if array.ndim == 1:
        if array.shape[0] != series:
            raise ValueError(f"expected {series} values (one per series), got {array.shape[0]}")
        return array.reshape(1, -1), lambda out: out.reshape(-1)
    if array.ndim != 2 or array.shape[1] != series:
        raise ValueError(f"expected ticks x {series} series, got shape {array.shape}")
    return array, lambda out: out


def _column_median(data: FloatArray) -> FloatArray:
    """Median of each column, by partition (much cheaper than np.median on small windows)."""
    rows = data.shape[0]
    middle = rows // 2
    if rows % 2:
        odd: FloatArray = np.partition(data, middle, axis=0)[middle]
        return odd
    part = np.partition(data, (middle - 1, middle), axis=0)
    even: FloatArray = 0.5 * (part[middle - 1] + part[middle])
    return even


# ---------------------------------------------------------------------------------------
# Robust z-score


class RobustZScore(Model):
    """``|x - median| / (1.4826 MAD)`` against a trailing window, for many series at once.

    The median and MAD are recomputed every ``refresh`` samples (they move slowly; this
    keeps a tick cheap). Until ``min_periods`` samples are seen the score is NaN. A window
    whose MAD is zero (a quantised or flat series) uses the mean absolute deviation, and a
    flat one a tiny scale: any change from a flat line is an anomaly.

    Args:
        window: trailing samples the median and MAD are taken over.
        refresh: samples between recomputations of the median and MAD.
        min_periods: samples needed before scoring.
        threshold: score from which :meth:`predict` reports an anomaly.
    """

    _STATE = ("buffer_", "count_", "median_", "scale_")

    def __init__(
        self, window: int = 300, refresh: int = 10, min_periods: int = 20, threshold: float = 4.0
    ) -> None:
        self.window = window
        self.refresh = refresh
        self.min_periods = min_periods
        self.threshold = threshold

    def fit(self, history: npt.ArrayLike, *, series: int | None = None) -> Self:
        """Learn from a history: samples x series (or one series as a 1-D array).

        Args:
            history: the samples; may be empty.
            series: number of series, when ``history`` is empty.

        Returns:
            self.
        """
        matrix = as_matrix(history)
        width = series if series is not None else matrix.shape[1]
        self.buffer_ = np.zeros((self.window, width))
        self.count_ = 0
        self.median_ = np.full(width, np.nan)
        self.scale_ = np.full(width, np.nan)
        if matrix.size:
            self.update(matrix)
        return self

    def _recompute(self) -> None:
        data = self.buffer_[: min(self.count_, self.window)]
        median = _column_median(data)
        deviation = np.abs(data - median)
        mad = _column_median(deviation) * _MAD_TO_SIGMA
        scale = np.where(mad > 0, mad, deviation.mean(axis=0) * _MEAN_AD_TO_SIGMA)
        self.median_ = median
        self.scale_ = np.where(scale > 0, scale, _TINY)

    def step(self, row: FloatArray) -> FloatArray:
        """One tick: the z-score of each series' new value, then learn it.

        Args:
            row: one finite value per series.

        Returns:
            The z-scores (NaN while warming up).
        """
        if self.count_ >= self.min_periods and (
            self.count_ % self.refresh == 0 or self.count_ == self.min_periods
        ):
            self._recompute()
        if self.count_ >= self.min_periods:
            out: FloatArray = np.abs(row - self.median_) / self.scale_
        else:
            out = np.full(row.shape, np.nan)
        self.buffer_[self.count_ % self.window] = row
        self.count_ += 1
        return out

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Score samples, learning them: one tick per row (see :func:`ticks`).

        Returns:
            The z-scores, shaped like ``values`` (NaN while warming up).
        """
        self._check_fitted()
        matrix, restore = ticks(values, self.buffer_.shape[1])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """The z-scores :meth:`update` would give, leaving the model unchanged."""
        return copy.deepcopy(self).update(values)

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each sample is an anomaly (``z >= threshold``), model unchanged."""
        scores = self.score(values)
        return np.nan_to_num(scores, nan=0.0) >= self.threshold


# ---------------------------------------------------------------------------------------
# Change detection


class Cusum(Model):
    """Page's two-sided CUSUM on standardised values: detects a shift of the mean.

    ``S+ = max(0, S+ + z - drift)`` and ``S- = max(0, S- - z - drift)`` with ``z`` the value
    standardised by the median and MAD learned in :meth:`fit`. An alarm is raised when either
    sum exceeds ``threshold``; both then restart from zero. With the defaults (``drift`` half
    a sigma, ``threshold`` 8) a one-sigma shift is found after about 18 samples, a
    three-sigma shift after about 4, and in-control data raises a false alarm about once in
    several thousand samples (``threshold`` 5 halves the delays, with a false alarm every
    few hundred).

    Args:
        drift: allowance ``k`` in sigmas (half the shift to detect, classically).
        threshold: decision interval ``h`` in sigmas.
    """

    _STATE = ("location_", "scale_", "upper_", "lower_")

    def __init__(self, drift: float = 0.5, threshold: float = 8.0) -> None:
        self.drift = drift
        self.threshold = threshold

    def fit(self, history: npt.ArrayLike) -> Self:
        """Learn the in-control level and spread of each series (median and MAD)."""
        matrix = as_matrix(history)
        self.location_ = np.median(matrix, axis=0)
        mad = np.median(np.abs(matrix - self.location_), axis=0) * _MAD_TO_SIGMA
        self.scale_ = np.where(mad > 0, mad, np.maximum(matrix.std(axis=0), _TINY))
        self.upper_ = np.zeros(matrix.shape[1])
        self.lower_ = np.zeros(matrix.shape[1])
        return self

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Feed samples; returns the CUSUM statistic ``max(S+, S-)`` after each one.

        The statistic is read against ``threshold``: at or above it, the sample raised an
        alarm (and the sums restarted).
        """
        self._check_fitted()
        array = np.asarray(values, dtype=float)
        series = self.location_.shape[0]
        matrix = array.reshape(-1, series)
        out = np.empty(matrix.shape)
        for row in range(matrix.shape[0]):
            z = (matrix[row] - self.location_) / self.scale_
            self.upper_ = np.maximum(0.0, self.upper_ + z - self.drift)
            self.lower_ = np.maximum(0.0, self.lower_ - z - self.drift)
            statistic = np.maximum(self.upper_, self.lower_)
            out[row] = statistic
            alarm = statistic >= self.threshold
            self.upper_[alarm] = 0.0
            self.lower_[alarm] = 0.0
        return out.reshape(array.shape) if array.ndim <= 1 else out

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """The statistics :meth:`update` would give, model unchanged."""
        return copy.deepcopy(self).update(values)

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each sample raises an alarm, model unchanged."""
        return self.score(values) >= self.threshold


class PageHinkley(Model):
    """The Page-Hinkley test for a change of the mean, both directions, standardised.

    With ``z`` standardised as in :class:`Cusum` and a running mean ``m`` of ``z``, the
    test accumulates ``U = sum(z - m - delta)`` and ``L = sum(z - m + delta)`` and alarms
    when ``U - min(U) > threshold`` (an increase) or ``max(L) - L > threshold`` (a
    decrease); it then restarts. ``delta`` is the magnitude of change to ignore.

    Args:
        delta: tolerated change, in sigmas.
        threshold: the alarm level ``lambda``, in sigmas.
    """

    _STATE = ("location_", "scale_", "count_", "mean_", "up_", "up_min_", "down_", "down_max_")

    def __init__(self, delta: float = 0.1, threshold: float = 25.0) -> None:
        self.delta = delta
        self.threshold = threshold

    def fit(self, history: npt.ArrayLike) -> Self:
        """Learn the in-control level and spread of each series, and reset the test."""
        matrix = as_matrix(history)
        self.location_ = np.median(matrix, axis=0)
        mad = np.median(np.abs(matrix - self.location_), axis=0) * _MAD_TO_SIGMA
        self.scale_ = np.where(mad > 0, mad, np.maximum(matrix.std(axis=0), _TINY))
        self._reset(np.ones(matrix.shape[1], dtype=bool))
        return self

    def _reset(self, which: npt.NDArray[np.bool_]) -> None:
        series = which.shape[0]
        if not hasattr(self, "count_"):
            self.count_ = np.zeros(series)
            self.mean_ = np.zeros(series)
            self.up_ = np.zeros(series)
            self.up_min_ = np.zeros(series)
            self.down_ = np.zeros(series)
            self.down_max_ = np.zeros(series)
        for array in (self.count_, self.mean_, self.up_, self.up_min_, self.down_, self.down_max_):
            array[which] = 0.0

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Feed samples; returns the test statistic after each (alarm when >= threshold)."""
        self._check_fitted()
        array = np.asarray(values, dtype=float)
        series = self.location_.shape[0]
        matrix = array.reshape(-1, series)
        out = np.empty(matrix.shape)
        for row in range(matrix.shape[0]):
            z = (matrix[row] - self.location_) / self.scale_
            self.count_ += 1.0
            self.mean_ += (z - self.mean_) / self.count_
            self.up_ += z - self.mean_ - self.delta
            self.down_ += z - self.mean_ + self.delta
            self.up_min_ = np.minimum(self.up_min_, self.up_)
            self.down_max_ = np.maximum(self.down_max_, self.down_)
            statistic = np.maximum(self.up_ - self.up_min_, self.down_max_ - self.down_)
            out[row] = statistic
            self._reset(statistic >= self.threshold)
        return out.reshape(array.shape) if array.ndim <= 1 else out

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """The statistics :meth:`update` would give, model unchanged."""
        return copy.deepcopy(self).update(values)

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each sample raises an alarm, model unchanged."""
        return self.score(values) >= self.threshold


# ---------------------------------------------------------------------------------------
# Extreme value theory


def fit_gpd_moments(excesses: npt.ArrayLike) -> tuple[float, float]:
    """GPD shape and scale from the mean and variance of the excesses (method of moments).

    ``gamma = (1 - m^2/v) / 2`` and ``sigma = m (1 + m^2/v) / 2``. Cheap and stable with few
    excesses, which is why the calibrator refits with it.

    Returns:
        ``(gamma, sigma)``.
    """
    y = np.asarray(excesses, dtype=float)
    if len(y) == 0:
        return 0.0, 1.0
    mean = float(y.mean())
    variance = float(y.var())
    if variance <= 0 or mean <= 0:
        return 0.0, max(mean, _TINY)
    ratio = mean * mean / variance
    return 0.5 * (1.0 - ratio), max(0.5 * mean * (1.0 + ratio), _TINY)


def fit_gpd_grimshaw(excesses: npt.ArrayLike, *, grid: int = 40) -> tuple[float, float]:
    """GPD maximum-likelihood fit by Grimshaw's trick, as in SPOT (Siffer et al., §3.3).

    The likelihood's stationary points are the roots ``x`` of ``u(x) v(x) = 1`` with
    ``u(x) = mean(1 / (1 + x Y))`` and ``v(x) = 1 + mean(log(1 + x Y))``; each root gives
    ``gamma = v(x) - 1`` and ``sigma = gamma / x``. Roots lie in ``(-1/Y_max, 0)`` and
    ``(0, 2 (mean - Y_min) / (mean Y_min))``; they are bracketed on a grid and refined by
    Newton's method kept inside the bracket, and the candidate with the best likelihood
    wins, the exponential case (``gamma = 0``, ``sigma = mean``) included.

    Args:
        excesses: the peaks minus the initial threshold (positive).
        grid: points per interval when bracketing roots.

    Returns:
        ``(gamma, sigma)``.
    """
    y = np.asarray(excesses, dtype=float)
    y = y[y > 0]
    if len(y) == 0:
        return 0.0, 1.0
    count = len(y)
    mean, low, high = float(y.mean()), float(y.min()), float(y.max())
    candidates = [(0.0, mean)]
    epsilon = 1e-8 / max(mean, _TINY)
    starts = [-1.0 / high + epsilon]
    stops = [-epsilon]
    if low > 0 and mean > low:
        starts.append(epsilon)
        stops.append(2.0 * (mean - low) / (mean * low))
    # both intervals' grids in one evaluation: the cost of a refit is numpy's per-call
    # overhead more than arithmetic (a few hundred excesses), so calls are what to save
    usable = [i for i in range(len(starts)) if stops[i] > starts[i]]
    if not usable:
        return candidates[0]
    first = np.array([abs(starts[i]) for i in usable])
    last = np.array([abs(stops[i]) for i in usable])
    signs = np.array([1.0 if starts[i] > 0 else -1.0 for i in usable])
    # the roots can sit anywhere across orders of magnitude: a geometric grid in |x|
    xs = (np.geomspace(first, last, grid) * signs).T  # one row per interval
    ws = _grimshaw_w(xs.reshape(-1), y, count).reshape(xs.shape)
    brackets = [
        (float(xs[row, i]), float(xs[row, i + 1]), float(ws[row, i]))
        for row in range(len(usable))
        for i in np.flatnonzero((ws[row, :-1] == 0.0) | (ws[row, :-1] * ws[row, 1:] < 0)).tolist()
    ]
    if brackets:
        for root in _grimshaw_roots(brackets, y, count):
            gamma = float(np.mean(np.log(1.0 + root * y)))
            if root != 0 and gamma / root > 0:
                candidates.append((gamma, gamma / root))
    return _best_gpd_candidate(y, candidates)


def _grimshaw_w(x: FloatArray, y: FloatArray, count: int) -> FloatArray:
    """``w(x) = u(x) v(x) - 1`` for a vector of ``x`` at once."""
    inner = 1.0 + np.multiply.outer(x, y)  # rows: x, columns: excesses
    u = np.add.reduce(1.0 / inner, axis=1) / count
    w: FloatArray = u * (1.0 + np.add.reduce(np.log(inner), axis=1) / count) - 1.0
    return w


def _grimshaw_w_slope(x: FloatArray, y: FloatArray, count: int) -> tuple[FloatArray, FloatArray]:
    """``w(x)`` and ``w'(x)`` for a vector of ``x`` at once."""
    inner = 1.0 + np.multiply.outer(x, y)
    reciprocal = 1.0 / inner
    u = np.add.reduce(reciprocal, axis=1) / count
    v = 1.0 + np.add.reduce(np.log(inner), axis=1) / count
    # u' = -mean(Y / (1 + xY)^2), v' = mean(Y / (1 + xY))
    share = reciprocal * y
    du = -np.add.reduce(share * reciprocal, axis=1) / count
    dv = np.add.reduce(share, axis=1) / count
    w: FloatArray = u * v - 1.0
    dw: FloatArray = du * v + u * dv
    return w, dw


def _grimshaw_roots(
    brackets: list[tuple[float, float, float]], y: FloatArray, count: int
) -> list[float]:
    """The root of ``w`` in each sign-changing bracket ``(lo, hi, w(lo))``.

    Newton's method kept inside its bracket (a bisection step whenever Newton would leave
    it), all unfinished brackets in one numpy evaluation per iteration: a handful of
    iterations instead of 40 bisections, each a separate evaluation. It stops at the
    resolution 40 bisections would reach (the bracket over ``2^40``). The bookkeeping is
    on Python floats: for a few brackets that is cheaper than numpy calls.
    """
    lows = [b[0] for b in brackets]
    highs = [b[1] for b in brackets]
    w_lows = [b[2] for b in brackets]
    resolutions = [abs(hi - lo) * 2.0**-41 for lo, hi in zip(lows, highs, strict=True)]
    # a grid point where w is exactly 0 is the root
    xs = [
        lo if w_lo == 0.0 else 0.5 * (lo + hi)
        for lo, hi, w_lo in zip(lows, highs, w_lows, strict=True)
    ]
    active = [i for i, w_lo in enumerate(w_lows) if w_lo != 0.0]
    for _ in range(100):
        if not active:
            break
        values, slopes = _grimshaw_w_slope(np.array([xs[i] for i in active]), y, count)
        still = []
        for i, w, dw in zip(active, values.tolist(), slopes.tolist(), strict=True):
            x, lo, hi = xs[i], lows[i], highs[i]
            if w == 0.0:
                continue
            # keep the bracket: the root is on the side whose sign differs from w(lo)
            if w * w_lows[i] > 0:
                lo = lows[i] = x
                w_lows[i] = w
            else:
                hi = highs[i] = x
            step = x - w / dw if dw != 0.0 else math.nan
            if not (step - lo) * (step - hi) < 0:  # outside the bracket, or NaN
                step = 0.5 * (lo + hi)
            xs[i] = step
            if abs(step - x) > resolutions[i] and abs(hi - lo) > resolutions[i]:
                still.append(i)
        active = still
    return xs


def _best_gpd_candidate(
    y: FloatArray, candidates: list[tuple[float, float]]
) -> tuple[float, float]:
    """The ``(gamma, sigma)`` of highest GPD log-likelihood on ``y`` (the first of equals).

    The logarithms of all candidates in one evaluation; a non-positive scale or a point
    outside the support scores ``-inf``; a shape within 1e-9 of 0 is the exponential.
    """
    count = len(y)
    total = float(y.sum())
    gammas = np.array([c[0] for c in candidates])
    sigmas = np.array([c[1] for c in candidates])
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1.0 + np.multiply.outer(gammas, y) / sigmas[:, None]
        log_sums = np.add.reduce(np.log(inner), axis=1).tolist()
        valid = np.all(inner > 0, axis=1).tolist()
    best, best_value = candidates[0], -math.inf
    for (gamma, sigma), log_sum, positive in zip(candidates, log_sums, valid, strict=True):
        if sigma <= 0:
            value = -math.inf
        elif abs(gamma) < 1e-9:
            value = -count * math.log(sigma) - total / sigma
        elif not positive:
            value = -math.inf
        else:
            value = -count * math.log(sigma) - (1.0 + 1.0 / gamma) * log_sum
        if value > best_value:
            best, best_value = (gamma, sigma), value
    return best


def _gpd_tail(excess: float, gamma: float, sigma: float) -> float:
    """P(Y > excess) for a GPD."""
    if abs(gamma) < 1e-9:
        return math.exp(-min(excess / sigma, 700.0))
    inner = 1.0 + gamma * excess / sigma
    if inner <= 0:
        return 0.0
    return float(inner ** (-1.0 / gamma))


class Spot(Model):
    """SPOT: a streaming threshold with false-alarm probability ``risk`` (Siffer et al. 2017).

    :meth:`fit` calibrates on a batch: the initial threshold ``t`` is its ``level``
    quantile; the excesses over ``t`` (the peaks) are fitted by a GPD; the alarm threshold is
    ``z_q = t + sigma/gamma ((q n / N_t)^(-gamma) - 1)`` (``t - sigma log(q n / N_t)`` when
    ``gamma = 0``). In the stream (:meth:`update`), a value above ``z_q`` is an anomaly and
    is not learned; a value between ``t`` and ``z_q`` is a new peak: the GPD and ``z_q`` are
    refitted; every other value only counts towards ``n``. Upper tail only (negate the
    series for the lower one).

    Args:
        risk: ``q``, the probability of a false alarm per sample.
        level: quantile of the calibration data used as the initial threshold ``t``.
    """

    _STATE = ("initial_threshold_", "peaks_", "count_", "gamma_", "sigma_", "threshold_")

    def __init__(self, risk: float = 1e-4, level: float = 0.98) -> None:
        self.risk = risk
        self.level = level

    def fit(self, history: npt.ArrayLike) -> Self:
        """Calibrate on a batch of normal data (one series).

        Raises:
            ValueError: fewer than 10 values, or too few above the initial threshold.
        """
        data = np.sort(np.asarray(history, dtype=float).reshape(-1))
        data = data[np.isfinite(data)]
        if len(data) < 10:
            raise ValueError("SPOT needs at least 10 calibration values")
        self.initial_threshold_ = float(data[min(int(self.level * len(data)), len(data) - 1)])
        peaks = data[data > self.initial_threshold_] - self.initial_threshold_
        self.peaks_ = [float(p) for p in peaks]
        self.count_ = len(data)
        self._refit()
        return self

    def _refit(self) -> None:
        if len(self.peaks_) >= 3:
            self.gamma_, self.sigma_ = fit_gpd_grimshaw(self.peaks_)
        else:
            self.gamma_, self.sigma_ = 0.0, max(float(np.mean(self.peaks_ or [1.0])), _TINY)
        ratio = self.risk * self.count_ / max(len(self.peaks_), 1)
        if abs(self.gamma_) < 1e-9:
            excess = -self.sigma_ * math.log(ratio)
        else:
            excess = self.sigma_ / self.gamma_ * (ratio ** (-self.gamma_) - 1.0)
        self.threshold_ = self.initial_threshold_ + excess

    def tail_probability(self, value: float) -> float:
        """Estimated ``P(X > value)`` from the GPD above the initial threshold.

        Below the initial threshold the tail is not modelled and the answer is ``1.0``.
        """
        self._check_fitted()
        if value <= self.initial_threshold_:
            return 1.0
        share = len(self.peaks_) / self.count_
        return share * _gpd_tail(value - self.initial_threshold_, self.gamma_, self.sigma_)

    def step(self, value: float) -> bool:
        """Decide on one new value (True: anomaly), learning it if it is a peak."""
        return self._step(value)

    def _step(self, value: float) -> bool:
        if value > self.threshold_:
            return True
        if value > self.initial_threshold_:
            self.peaks_.append(value - self.initial_threshold_)
            self.count_ += 1
            self._refit()
        else:
            self.count_ += 1
        return False

    def update(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Decide on each new value (anomaly or not), learning the normal ones.

        The same decisions as :meth:`step` on each value in turn; only the values above the
        initial threshold (about ``1 - level`` of them) are stepped in Python, the others
        just count towards ``n``.
        """
        self._check_fitted()
        data = np.asarray(values, dtype=float).reshape(-1)
        alarms = np.zeros(len(data), dtype=bool)
        self._advance(data, alarms, stop_after_alarm=False)
        return alarms

    def _advance(
        self, data: FloatArray, alarms: npt.NDArray[np.bool_], *, stop_after_alarm: bool
    ) -> int:
        """Decide on ``data`` in order into ``alarms``; the number of values decided (all,
        or up to and including the first alarm when ``stop_after_alarm``)."""
        position = 0
        for index in np.flatnonzero(data > self.initial_threshold_).tolist():
            stopped = self._count_quiet(data, position, index, alarms, stop_after_alarm)
            if stopped is not None:
                return stopped
            alarms[index] = self._step(float(data[index]))
            position = index + 1
            if stop_after_alarm and alarms[index]:
                return position
        stopped = self._count_quiet(data, position, len(data), alarms, stop_after_alarm)
        return len(data) if stopped is None else stopped

    def _count_quiet(
        self,
        data: FloatArray,
        start: int,
        stop: int,
        alarms: npt.NDArray[np.bool_],
        stop_after_alarm: bool,
    ) -> int | None:
        # values at or below the initial threshold are neither peaks nor, while z_q is above
        # the initial threshold (risk below the peak share), anomalies
        if self.threshold_ >= self.initial_threshold_:
            self.count_ += stop - start
            return None
        for index in range(start, stop):
            alarms[index] = self._step(float(data[index]))
            if stop_after_alarm and alarms[index]:
                return index + 1
        return None

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """The decisions :meth:`update` would take, model unchanged."""
        return copy.deepcopy(self).update(values)


class Dspot(Model):
    """DSPOT: SPOT on the deviation from a moving average of the last ``depth`` normal values.

    Drift-aware SPOT (Siffer et al., §4.2): ``X'_i = X_i - M_i`` with ``M_i`` the mean of
    the ``depth`` latest values that were not anomalies; an anomaly neither enters the
    window nor the peaks.

    Args:
        depth: the moving-average window ``d``.
        risk: ``q``, the false-alarm probability per sample.
        level: the initial-threshold quantile.
    """

    _STATE = ("spot_", "window_")
    _BLOCK = 256  # values whose deviations :meth:`update` computes at once

    def __init__(self, depth: int = 10, risk: float = 1e-4, level: float = 0.98) -> None:
        self.depth = depth
        self.risk = risk
        self.level = level

    def fit(self, history: npt.ArrayLike) -> Self:
        """Calibrate on a batch (one series), at least ``depth + 10`` values.

        Raises:
            ValueError: too little history.
        """
        data = np.asarray(history, dtype=float).reshape(-1)
        if len(data) < self.depth + 10:
            raise ValueError(f"DSPOT needs at least {self.depth + 10} calibration values")
        windows = np.lib.stride_tricks.sliding_window_view(data[:-1], self.depth)
        deviations = data[self.depth :] - windows.mean(axis=1)
        self.spot_ = Spot(risk=self.risk, level=self.level).fit(deviations)
        self.window_ = [float(v) for v in data[-self.depth :]]
        return self

    def step(self, value: float) -> bool:
        """Decide on one new value (True: anomaly), learning it if normal."""
        window = self.window_
        anomaly = self.spot_._step(value - sum(window) / len(window))
        if not anomaly:
            window.append(value)
            del window[0]
        return anomaly

    def update(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Decide on each new value, learning the normal ones.

        The same decisions as :meth:`step` on each value in turn: the deviations are
        computed for a block as if every value were normal (the window sums added in the
        order :meth:`step` adds them), and recomputed after an anomaly, which leaves the
        window unchanged.
        """
        self._check_fitted()
        data = np.asarray(values, dtype=float).reshape(-1)
        alarms = np.zeros(len(data), dtype=bool)
        depth = len(self.window_)
        position = 0
        while position < len(data):
            # a bounded block: after an anomaly the rest of it is recomputed
            block = data[position : position + self._BLOCK]
            history = np.concatenate([np.array(self.window_), block])
            windows = np.lib.stride_tricks.sliding_window_view(history[:-1], depth)
            sums = windows[:, 0].copy()
            for column in range(1, depth):
                sums += windows[:, column]
            decided = self.spot_._advance(
                block - sums / depth, alarms[position:], stop_after_alarm=True
            )
            normal = decided - int(alarms[position + decided - 1])
            self.window_ = (self.window_ + block[:normal].tolist())[-depth:]
            position += decided
        return alarms

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """The decisions :meth:`update` would take, model unchanged."""
        return copy.deepcopy(self).update(values)

    def _encode_state(self, name: str, value: object) -> object:
        if isinstance(value, Spot):
            return value.to_dict()
        return super()._encode_state(name, value)

    @classmethod
    def _decode_state(cls, name: str, data: object) -> object:
        if name == "spot_":
            return Spot.from_dict(_mapping(data))
        return super()._decode_state(name, data)


# ---------------------------------------------------------------------------------------
# Calibration and suppression


class TailCalibrator(Model):
    """Turn a non-negative anomaly statistic into a surprise: ``-log10 P(S >= s)``.

    The tail probability is estimated as in SPOT -- a GPD over the excesses above the
    ``level`` quantile -- but from a bounded history of the latest ``history`` values and
    refitted every ``refit`` values by the method of moments, so it follows a series whose
    behaviour changes and costs O(1) per sample between refits. Below the quantile the
    surprise is a linear ramp up to the quantile's own (never an alarm). A surprise never
    exceeds ``log10(known values) + extra_decades``: a few thousand samples cannot support a
    claim much stronger than "rarer than anything seen". Until ``warmup`` values are seen
    the surprise is 0. Vectorised over series that are fed together.

    Args:
        level: quantile of the history above which the tail is modelled.
        history: number of latest values kept per series.
        refit: values between refits (every 10 values while fewer than 500 are known).
        warmup: values before any surprise is reported.
        min_exceedances: on a short history the quantile is lowered so that at least this
            many values exceed it.
        extra_decades: how far beyond the history's resolution a surprise may go.
        min_shape: a floor on the fitted GPD shape; ``0`` forbids a finite upper endpoint
            (a value beyond it would otherwise get the largest surprise). None: no floor.
    """

    _STATE = ("buffer_", "seen_", "threshold_", "share_", "gamma_", "sigma_", "last_fit_")

    def __init__(
        self,
        level: float = 0.98,
        history: int = 2000,
        refit: int = 50,
        warmup: int = 100,
        min_exceedances: int = 8,
        extra_decades: float = 2.0,
        min_shape: float | None = None,
    ) -> None:
        self.level = level
        self.history = history
        self.refit = refit
        self.warmup = warmup
        self.min_exceedances = min_exceedances
        self.extra_decades = extra_decades
        self.min_shape = min_shape

    def fit(self, history: npt.ArrayLike, *, series: int | None = None) -> Self:
        """Learn from a history of the statistic (samples x series; may be empty).

        Args:
            history: the statistic's past values.
            series: number of series, when ``history`` is empty.

        Returns:
            self.
        """
        matrix = as_matrix(history)
        width = series if series is not None else matrix.shape[1]
        self.buffer_ = np.zeros((self.history, width))
        self.seen_ = 0
        self.threshold_ = np.full(width, np.inf)
        self.share_ = np.ones(width)
        self.gamma_ = np.zeros(width)
        self.sigma_ = np.ones(width)
        self.last_fit_ = -(10**9)
        if matrix.size:
            self.update(matrix)
        return self

    def _fit_tail(self) -> None:
        known = min(self.seen_, self.history)
        data = self.buffer_[:known]
        level = min(self.level, 1.0 - self.min_exceedances / known)
        k = max(0, min(int(level * known), known - 1))
        partitioned = np.partition(data, k, axis=0)
        threshold = partitioned[k]
        excesses = partitioned[k + 1 :] - threshold
        positive = excesses > 0
        count = positive.sum(axis=0)
        safe = np.maximum(count, 1)
        mean = np.where(positive, excesses, 0.0).sum(axis=0) / safe
        variance = np.where(positive, (excesses - mean) ** 2, 0.0).sum(axis=0) / safe
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(variance > 0, mean * mean / variance, 0.0)
        moments = (count >= 5) & (variance > 0) & (mean > 0)
        gamma = np.where(moments, 0.5 * (1.0 - ratio), 0.0)
        self.gamma_ = gamma if self.min_shape is None else np.maximum(gamma, self.min_shape)
        sigma = np.where(moments, 0.5 * mean * (1.0 + ratio), np.where(count > 0, mean, 1.0))
        self.sigma_ = np.maximum(sigma, _TINY)
        self.threshold_ = threshold
        self.share_ = (count + 1.0) / (known + 1.0)
        self.last_fit_ = self.seen_

    def step(self, row: FloatArray) -> FloatArray:
        """One tick: the surprise of each series' new value, then learn it.

        Args:
            row: one value per series (non-finite values count as 0).

        Returns:
            The surprises, in decades (0 while warming up).
        """
        value = np.where(np.isfinite(row), row, 0.0)
        known = min(self.seen_, self.history)
        surprise = np.zeros(value.shape)
        if known >= 30:
            due = self.refit if known >= 500 else 10
            if self.seen_ - self.last_fit_ >= due:
                self._fit_tail()
            if self.seen_ >= self.warmup:
                surprise = self._surprise(value, known)
        self.buffer_[self.seen_ % self.history] = value
        self.seen_ += 1
        return surprise

    def _surprise(self, value: FloatArray, known: int) -> FloatArray:
        log_share = np.log10(self.share_)
        ramp: FloatArray = -log_share * np.maximum(value, 0.0) / np.maximum(self.threshold_, _TINY)
        excess = value - self.threshold_
        above = excess > 0
        if not above.any():
            return ramp
        # log10 of the GPD tail, written so no step can overflow or divide by zero
        gamma, sigma = self.gamma_, self.sigma_
        exponential = np.abs(gamma) < 1e-9
        negative_inverse = np.where(exponential, 0.0, -1.0 / np.where(exponential, 1.0, gamma))
        inner = 1.0 + gamma * np.maximum(excess, 0.0) / sigma
        pareto = np.where(inner > 0, negative_inverse * np.log10(np.maximum(inner, _TINY)), -np.inf)
        log_tail = np.where(exponential, -np.maximum(excess, 0.0) / sigma * _LOG10_E, pareto)
        cap = math.log10(known + 1) + self.extra_decades
        in_tail = np.minimum(-(log_share + log_tail), cap)
        result: FloatArray = np.where(above, in_tail, ramp)
        return result

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Surprises of new values, learning them: one tick per row (see :func:`ticks`)."""
        self._check_fitted()
        matrix, restore = ticks(values, self.buffer_.shape[1])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """The surprises :meth:`update` would give, model unchanged."""
        return copy.deepcopy(self).update(values)


class AlertSuppressor(Model):
    """Drop repeated alerts: a score counts only if it beats the recent ones by ``margin``.

    A score is kept when it exceeds every score of the previous ``holdoff`` samples by more
    than ``margin``; otherwise it becomes 0. After an alert the same event keeps scoring
    high for a while: those later samples are suppressed unless the event clearly worsens.
    The alert decision stays a single threshold on the kept score (what NAB sweeps).
    Vectorised over series.

    Args:
        holdoff: samples an alert suppresses its followers for.
        margin: how much higher (in the score's units) a follower must be to count.
    """

    _STATE = ("recent_", "count_")

    def __init__(self, holdoff: int = 50, margin: float = 0.3) -> None:
        self.holdoff = holdoff
        self.margin = margin

    def fit(self, history: npt.ArrayLike, *, series: int | None = None) -> Self:
        """Start from a history of raw scores (samples x series; may be empty)."""
        matrix = as_matrix(history)
        width = series if series is not None else matrix.shape[1]
        self.recent_ = np.full((self.holdoff, width), -np.inf)
        self.count_ = 0
        if matrix.size:
            self.update(matrix)
        return self

    def step(self, row: FloatArray) -> FloatArray:
        """One tick: the kept score of each series' new raw score."""
        kept: FloatArray = np.where(row > self.recent_.max(axis=0) + self.margin, row, 0.0)
        self.recent_[self.count_ % self.holdoff] = row
        self.count_ += 1
        return kept

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Kept scores of new raw scores: one tick per row (see :func:`ticks`)."""
        self._check_fitted()
        matrix, restore = ticks(values, self.recent_.shape[1])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))


# ---------------------------------------------------------------------------------------
# The KPI detector


class KpiAnomalyDetector(Model):
    """netpilot's anomaly detector for KPI series: fast, calibrated, with suppression.

    Per sample, up to three statistics, each a :class:`RobustZScore` against its own
    trailing window:

    - ``diff``: the first difference (spikes, steps);
    - ``daily``: the residual from the median of the same time on the previous three days,
      averaged over ``daily_smoothing`` samples (a broken or missing daily pattern), when
      ``season_length`` is given;
    - ``weekly``: the same against the previous three weeks, averaged over
      ``weekly_smoothing`` samples.

    Each goes through its own :class:`TailCalibrator`; the surprises are combined as
    ``max - log10(number of statistics online)`` (a Bonferroni correction) and an
    :class:`AlertSuppressor` removes the repeats. The score is a surprise in decades: 3
    reads "about once in a thousand samples". :meth:`predict` alarms from ``threshold``
    (4 by default: one false alarm in about 10,000 samples of a well-behaved series, a
    month at a 5-minute interval).

    All series of one detector are fed together, one row per tick (vectorised: the cost per
    series falls as series are added). A missing sample (NaN) scores 0 and is learned as a
    repeat of the series' last value.

    Args:
        season_length: samples per day (e.g. 288 at a 5-minute interval); ``None`` turns
            the seasonal statistics off.
        diff_window: trailing window of the difference's z-score.
        seasonal_window: trailing window of the seasonal residuals' z-scores.
        daily_smoothing: samples the daily residual is averaged over.
        weekly_smoothing: samples the weekly residual is averaged over.
        refresh: samples between recomputations of medians and MADs.
        history: values each calibrator keeps per series.
        warmup: values each calibrator sees before it reports.
        holdoff: samples an alert suppresses its followers for.
        margin: decades a follower must add to be reported.
        threshold: the alarm level, in decades.
        tail_shape_floor: the calibrators' ``min_shape``. The default 0 keeps a tail
            without an upper end: a new maximum of a light-tailed statistic is not scored
            as impossible (on clean synthetic series: no false alarm in 20 x 720 samples
            at the default threshold, against one per 1,400 without the floor). None
            keeps the fitted shape, which scores best on NAB (see
            docs/benchmarks/models.md).
    """

    _STATE = (
        "previous_",
        "seen_",
        "values_",
        "daily_window_",
        "weekly_window_",
        "online_",
        "diff_z_",
        "daily_z_",
        "weekly_z_",
        "calibrators_",
        "suppressor_",
    )
    _FEATURES = ("diff", "daily", "weekly")

    def __init__(
        self,
        season_length: int | None = None,
        diff_window: int = 300,
        seasonal_window: int = 600,
        daily_smoothing: int = 32,
        weekly_smoothing: int = 8,
        refresh: int = 10,
        history: int = 2000,
        warmup: int = 100,
        holdoff: int = 50,
        margin: float = 0.3,
        threshold: float = 4.0,
        tail_shape_floor: float | None = 0.0,
    ) -> None:
        self.season_length = season_length
        self.diff_window = diff_window
        self.seasonal_window = seasonal_window
        self.daily_smoothing = daily_smoothing
        self.weekly_smoothing = weekly_smoothing
        self.refresh = refresh
        self.history = history
        self.warmup = warmup
        self.holdoff = holdoff
        self.margin = margin
        self.threshold = threshold
        self.tail_shape_floor = tail_shape_floor

    def fit(self, history: npt.ArrayLike, *, series: int | None = None) -> Self:
        """Learn from a history (samples x series; may be empty): the detector starts afresh.

        Args:
            history: past samples.
            series: number of series, when ``history`` is empty.

        Returns:
            self.
        """
        matrix = as_matrix(history)
        width = series if series is not None else matrix.shape[1]
        period = self.season_length or 0
        self.previous_ = np.full(width, np.nan)
        self.seen_ = 0
        self.values_ = np.zeros((max(21 * period, 1), width))
        self.daily_window_ = np.zeros((self.daily_smoothing, width))
        self.weekly_window_ = np.zeros((self.weekly_smoothing, width))
        self.online_ = np.zeros((len(self._FEATURES), width), dtype=bool)
        robust = {"refresh": self.refresh, "min_periods": 20}
        self.diff_z_ = RobustZScore(self.diff_window, **robust).fit([], series=width)
        self.daily_z_ = RobustZScore(self.seasonal_window, **robust).fit([], series=width)
        self.weekly_z_ = RobustZScore(self.seasonal_window, **robust).fit([], series=width)
        self.calibrators_ = [
            TailCalibrator(
                history=self.history, warmup=self.warmup, min_shape=self.tail_shape_floor
            ).fit([], series=width)
            for _ in self._FEATURES
        ]
        self.suppressor_ = AlertSuppressor(self.holdoff, self.margin).fit([], series=width)
        if matrix.size:
            self.update(matrix)
        return self

    def _residual(self, row: FloatArray, lag: int, window: FloatArray) -> FloatArray | None:
        """The seasonal residual averaged over ``window``'s length, once there is enough data."""
        if self.seen_ < 3 * lag:
            return None
        size = self.values_.shape[0]
        a = self.values_[(self.seen_ - lag) % size]
        b = self.values_[(self.seen_ - 2 * lag) % size]
        c = self.values_[(self.seen_ - 3 * lag) % size]
        median = a + b + c - np.maximum(np.maximum(a, b), c) - np.minimum(np.minimum(a, b), c)
        smoothing = window.shape[0]
        filled = self.seen_ - 3 * lag  # residuals written before this one
        window[filled % smoothing] = row - median
        if filled + 1 < smoothing:
            return None
        averaged: FloatArray = window.mean(axis=0)
        return averaged

    def step(self, row: npt.ArrayLike) -> FloatArray:
        """One tick: each series' surprise (after suppression), then learn the samples.

        Args:
            row: one value per series (NaN for a missing sample).

        Returns:
            The surprises, in decades.
        """
        self._check_fitted()
        raw = np.asarray(row, dtype=float).reshape(-1)
        missing = ~np.isfinite(raw)
        value = np.where(missing, self.previous_, raw)
        value = np.where(np.isfinite(value), value, 0.0)
        surprises = np.zeros((len(self._FEATURES), value.shape[0]))
        if self.seen_ > 0:
            self._score(0, self.diff_z_, value - self.previous_, surprises)
        period = self.season_length
        if period:
            daily = self._residual(value, period, self.daily_window_)
            if daily is not None:
                self._score(1, self.daily_z_, daily, surprises)
            weekly = self._residual(value, 7 * period, self.weekly_window_)
            if weekly is not None:
                self._score(2, self.weekly_z_, weekly, surprises)
            self.values_[self.seen_ % self.values_.shape[0]] = value
        self.previous_ = value
        self.seen_ += 1
        self.online_ |= surprises > 0
        online = self.online_.sum(axis=0)
        combined = np.where(
            online > 0,
            np.maximum(surprises.max(axis=0) - np.log10(np.maximum(online, 1)), 0.0),
            0.0,
        )
        return self.suppressor_.step(np.where(missing, 0.0, combined))

    def _score(
        self, index: int, robust: RobustZScore, statistic: FloatArray, out: FloatArray
    ) -> None:
        z = robust.step(statistic)
        if np.isfinite(z).all():
            out[index] = self.calibrators_[index].step(z)

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Surprises of new samples, learning them: one tick per row (see :func:`ticks`)."""
        self._check_fitted()
        matrix, restore = ticks(values, self.previous_.shape[0])
        return restore(np.array([self.step(row) for row in matrix]).reshape(matrix.shape))

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """The surprises :meth:`update` would give, model unchanged."""
        return copy.deepcopy(self).update(values)

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Alarms (surprise >= threshold), model unchanged."""
        return self.score(values) >= self.threshold

    def _encode_state(self, name: str, value: object) -> object:
        if isinstance(value, Model):
            return value.to_dict()
        if isinstance(value, list):
            return [c.to_dict() if isinstance(c, Model) else c for c in value]
        return super()._encode_state(name, value)

    @classmethod
    def _decode_state(cls, name: str, data: object) -> object:
        if name in ("diff_z_", "daily_z_", "weekly_z_"):
            return RobustZScore.from_dict(_mapping(data))
        if name == "suppressor_":
            return AlertSuppressor.from_dict(_mapping(data))
        if name == "calibrators_":
            assert isinstance(data, list)
            return [TailCalibrator.from_dict(_mapping(c)) for c in data]
        return super()._decode_state(name, data)


def _mapping(data: object) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise TypeError("malformed saved detector: expected an object")
    return data
