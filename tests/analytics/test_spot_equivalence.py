"""SPOT and DSPOT decide as the straightforward implementation they replaced (issue #6).

The reference below is the code before the speed-up, copied: a Grimshaw fit with 40
bisections per root, one Python step per sample. The fast code refines roots by Newton's
method to the same resolution. Alarms must agree exactly. Thresholds agree to
``_THRESHOLD_RELATIVE``: where the GPD shape is near 0 (bounded or light tails), ``w(x)``
is flat at its root and float64 resolves the root only to a few 1e-6 relative (``w`` is
~1e-16 across that span); bisection and Newton pick different points of it, equally
close to an 80-bit root and with the same log-likelihood to 1e-15. That moves ``z_q`` by
up to ~4e-9 relative on these series (seed 6, uniform noise).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from analytics.anomaly import Dspot, Spot, fit_gpd_grimshaw

FloatArray = npt.NDArray[np.float64]
_TINY = 1e-9
_THRESHOLD_RELATIVE = 1e-8


def _reference_log_likelihood(y: FloatArray, gamma: float, sigma: float) -> float:
    if sigma <= 0:
        return -math.inf
    if abs(gamma) < 1e-9:
        return float(-len(y) * math.log(sigma) - y.sum() / sigma)
    inner = 1.0 + gamma * y / sigma
    if np.any(inner <= 0):
        return -math.inf
    return float(-len(y) * math.log(sigma) - (1.0 + 1.0 / gamma) * np.log(inner).sum())


def _reference_grimshaw(excesses: list[float], grid: int = 40) -> tuple[float, float]:
    y = np.asarray(excesses, dtype=float)
    y = y[y > 0]
    if len(y) == 0:
        return 0.0, 1.0
    mean, low, high = float(y.mean()), float(y.min()), float(y.max())

    def w(x: FloatArray) -> FloatArray:
        inner = 1.0 + np.outer(x, y)
        result: FloatArray = np.mean(1.0 / inner, axis=1) * (1.0 + np.mean(np.log(inner), axis=1))
        return result - 1.0

    candidates = [(0.0, mean)]
    epsilon = 1e-8 / max(mean, _TINY)
    intervals = [(-1.0 / high + epsilon, -epsilon)]
    if low > 0 and mean > low:
        intervals.append((epsilon, 2.0 * (mean - low) / (mean * low)))
    for start, stop in intervals:
        if stop <= start:
            continue
        xs = np.geomspace(start, stop, grid) if start > 0 else -np.geomspace(-start, -stop, grid)
        ws = w(xs)
        for i in np.flatnonzero((ws[:-1] == 0.0) | (ws[:-1] * ws[1:] < 0)).tolist():
            lo, hi, w_lo = float(xs[i]), float(xs[i + 1]), float(ws[i])
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                w_mid = float(w(np.array([mid]))[0])
                if w_lo * w_mid <= 0:
                    hi = mid
                else:
                    lo, w_lo = mid, w_mid
            root = 0.5 * (lo + hi)
            gamma = float(np.mean(np.log(1.0 + root * y)))
            if root != 0 and gamma / root > 0:
                candidates.append((gamma, gamma / root))
    return max(candidates, key=lambda c: _reference_log_likelihood(y, c[0], c[1]))


class _ReferenceSpot:
    def __init__(self, history: FloatArray, risk: float = 1e-4, level: float = 0.98) -> None:
        self.risk = risk
        data = np.sort(np.asarray(history, dtype=float).reshape(-1))
        data = data[np.isfinite(data)]
        self.initial = float(data[min(int(level * len(data)), len(data) - 1)])
        self.peaks = [float(p) for p in data[data > self.initial] - self.initial]
        self.count = len(data)
        self.refit()

    def refit(self) -> None:
        if len(self.peaks) >= 3:
            gamma, sigma = _reference_grimshaw(self.peaks)
        else:
            gamma, sigma = 0.0, max(float(np.mean(self.peaks or [1.0])), _TINY)
        ratio = self.risk * self.count / max(len(self.peaks), 1)
        if abs(gamma) < 1e-9:
            excess = -sigma * math.log(ratio)
        else:
            excess = sigma / gamma * (ratio ** (-gamma) - 1.0)
        self.threshold = self.initial + excess

    def step(self, value: float) -> bool:
        if value > self.threshold:
            return True
        self.count += 1
        if value > self.initial:
            self.peaks.append(value - self.initial)
            self.refit()
        return False


class _ReferenceDspot:
    def __init__(self, history: FloatArray, depth: int, risk: float = 1e-4) -> None:
        windows = np.lib.stride_tricks.sliding_window_view(history[:-1], depth)
        self.spot = _ReferenceSpot(history[depth:] - windows.mean(axis=1), risk)
        self.window = [float(v) for v in history[-depth:]]

    def step(self, value: float) -> bool:
        anomaly = self.spot.step(value - sum(self.window) / len(self.window))
        if not anomaly:
            self.window.append(value)
            del self.window[0]
        return anomaly


def _series(seed: int) -> FloatArray:
    """Normal, heavy-tailed and bounded noise by seed, with a few spikes."""
    rng = np.random.default_rng(seed)
    noise = [
        rng.normal(0.0, 1.0, 12_000),
        rng.standard_t(4, 12_000),
        rng.exponential(1.0, 12_000),
        rng.uniform(0.0, 1.0, 12_000),
    ][seed % 4]
    noise[rng.choice(np.arange(3000, 12_000), 8, replace=False)] += 12.0
    return noise


@pytest.mark.parametrize("seed", range(8))
def test_spot_alarms_and_thresholds_match_the_reference(seed: int) -> None:
    series = _series(seed)
    reference = _ReferenceSpot(series[:2000])
    stepped = Spot().fit(series[:2000])
    batched = Spot().fit(series[:2000])
    assert stepped.threshold_ == pytest.approx(reference.threshold, rel=_THRESHOLD_RELATIVE)
    expected = [reference.step(value) for value in series[2000:].tolist()]
    got = [stepped.step(value) for value in series[2000:].tolist()]
    assert got == expected
    assert sum(expected) >= 1  # the spikes, at least
    chunks = [batched.update(chunk) for chunk in np.array_split(series[2000:], 97)]
    assert np.concatenate(chunks).tolist() == expected
    for model in (stepped, batched):
        assert model.count_ == reference.count
        assert model.peaks_ == pytest.approx(reference.peaks, rel=1e-12)
        assert model.threshold_ == pytest.approx(reference.threshold, rel=_THRESHOLD_RELATIVE)


def test_spot_thresholds_match_the_reference_after_every_peak() -> None:
    series = _series(11)
    reference = _ReferenceSpot(series[:2000])
    spot = Spot().fit(series[:2000])
    for value in series[2000:6000].tolist():
        assert spot.step(value) == reference.step(value)
        assert spot.threshold_ == pytest.approx(reference.threshold, rel=_THRESHOLD_RELATIVE)


def test_spot_batched_update_when_the_risk_puts_z_q_below_the_initial_threshold() -> None:
    # a risk above the peak share: z_q < t, so values below t can be alarms too
    series = np.random.default_rng(3).normal(0.0, 1.0, 4000)
    reference = _ReferenceSpot(series[:1000], risk=0.2)
    spot = Spot(risk=0.2).fit(series[:1000])
    assert spot.threshold_ < spot.initial_threshold_
    expected = [reference.step(value) for value in series[1000:].tolist()]
    assert spot.update(series[1000:]).tolist() == expected
    assert spot.count_ == reference.count


@pytest.mark.parametrize("seed", range(4))
def test_dspot_alarms_and_thresholds_match_the_reference_on_a_drift(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    series = np.linspace(0.0, 40.0, 10_000) + _series(seed)[:10_000]
    reference = _ReferenceDspot(series[:1000], depth=10 + 5 * seed)
    detector = Dspot(depth=10 + 5 * seed).fit(series[:1000])
    spikes = rng.choice(np.arange(2000, 10_000), 5, replace=False)
    series[spikes] += 30.0
    expected = [reference.step(value) for value in series[1000:].tolist()]
    assert detector.update(series[1000:]).tolist() == expected
    assert set(spikes.tolist()) <= {1000 + i for i, alarm in enumerate(expected) if alarm}
    assert detector.spot_.threshold_ == pytest.approx(
        reference.spot.threshold, rel=_THRESHOLD_RELATIVE
    )
    assert detector.window_ == reference.window


def _gpd_quantile_excess(gamma: float, sigma: float, ratio: float) -> float:
    if abs(gamma) < 1e-9:
        return -sigma * math.log(ratio)
    return float(sigma / gamma * (ratio ** (-gamma) - 1.0))


def test_grimshaw_fit_matches_the_bisection_reference() -> None:
    # the fitted tail's quantiles are what SPOT decides with; a shape near 0 is resolved
    # only to ~1e-9 absolute by either root finder (see the module docstring)
    rng = np.random.default_rng(7)
    for trial in range(60):
        size = int(rng.integers(3, 400))
        excesses = [rng.exponential(1.0, size), rng.pareto(3.0, size), rng.uniform(0, 1, size)][
            trial % 3
        ]
        gamma, sigma = fit_gpd_grimshaw(excesses)
        reference_gamma, reference_sigma = _reference_grimshaw(excesses.tolist())
        assert sigma == pytest.approx(reference_sigma, rel=1e-7)
        assert gamma == pytest.approx(reference_gamma, rel=1e-6, abs=1e-8)
        for ratio in (1e-1, 1e-2, 1e-3):
            assert _gpd_quantile_excess(gamma, sigma, ratio) == pytest.approx(
                _gpd_quantile_excess(reference_gamma, reference_sigma, ratio),
                rel=_THRESHOLD_RELATIVE,
            )


@pytest.mark.parametrize("risk", [1e-4, 0.2])
def test_dspot_ticks_match_the_reference_through_a_level_shift_it_never_learns(
    risk: float,
) -> None:
    # after the shift every value is an anomaly, which never enters the window: the batched
    # update recomputes its deviations after each one; risk 0.2 puts z_q below t
    rng = np.random.default_rng(21)
    series = rng.normal(0.0, 1.0, 3000)
    series[2000:] += 50.0
    reference = _ReferenceDspot(series[:500], depth=10, risk=risk)
    detector = Dspot(depth=10, risk=risk).fit(series[:500])
    expected = [reference.step(value) for value in series[500:].tolist()]
    chunks = [detector.update(chunk) for chunk in np.array_split(series[500:], 61)]
    assert np.concatenate(chunks).tolist() == expected
    assert all(expected[1500:])
    assert detector.window_ == reference.window
    assert detector.spot_.count_ == reference.spot.count
