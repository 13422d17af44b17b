"""Daily profiles, seeded noise and demand rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from lab.config import TrafficClass
from lab.traffic import (
    DEFAULT_PROFILES,
    DailyProfile,
    Demand,
    NoiseSpec,
    demand_rates,
    hour_of_day,
    noise_factors,
)

DAY = datetime(2026, 11, 30, tzinfo=UTC)
GRID = np.arange(0.0, 24.0, 1 / 60)  # every lab minute


def _factor(cls: TrafficClass, hour: float) -> float:
    return DEFAULT_PROFILES[cls].factor(hour)


def test_video_peaks_in_the_evening():
    evening = min(_factor(TrafficClass.VIDEO, h) for h in (20.0, 21.0, 22.0, 22.5))
    assert evening == pytest.approx(1.0)
    assert evening > 2 * _factor(TrafficClass.VIDEO, 14.0)
    peak_hour = GRID[np.argmax([_factor(TrafficClass.VIDEO, h) for h in GRID])]
    assert 20.0 <= peak_hour <= 22.5


def test_bulk_fills_business_hours():
    business = [_factor(TrafficClass.BULK, h) for h in (10.0, 12.0, 15.0)]
    assert min(business) > 3 * _factor(TrafficClass.BULK, 23.0)


@pytest.mark.parametrize("cls", list(TrafficClass), ids=lambda c: c.value)
def test_every_class_has_a_night_low(cls):
    night = _factor(cls, 4.0)
    assert night < 0.5 * max(_factor(cls, h) for h in GRID)
    assert night < _factor(cls, 12.0)


@pytest.mark.parametrize("cls", list(TrafficClass), ids=lambda c: c.value)
def test_profiles_are_smooth_periodic_and_stay_within_their_knots(cls):
    profile = DEFAULT_PROFILES[cls]
    values = np.array([profile.factor(h) for h in GRID])
    knot_values = [f for _, f in profile.knots]
    assert values.min() >= min(knot_values) - 1e-12  # PCHIP never undershoots
    assert values.max() <= max(knot_values) + 1e-12
    # continuous everywhere, midnight included: no jump larger than the steepest knot
    # gradient allows over one minute
    steps = np.abs(np.diff(np.r_[values, values[0]]))
    assert steps.max() < 0.02
    assert profile.factor(24.0) == pytest.approx(profile.factor(0.0))
    for hour, factor in profile.knots:
        assert profile.factor(hour) == pytest.approx(factor)


@pytest.mark.parametrize(
    "knots",
    [
        pytest.param((), id="empty"),
        pytest.param(((1.0, 0.5), (1.0, 0.6)), id="not-increasing"),
        pytest.param(((24.0, 0.5),), id="hour-out-of-range"),
        pytest.param(((1.0, -0.1),), id="negative"),
    ],
)
def test_invalid_profiles_are_refused(knots):
    with pytest.raises(ValueError, match="knot"):
        DailyProfile(knots)


def test_hour_of_day_is_utc_and_refuses_naive_times():
    tz_plus2 = datetime(2026, 1, 1, 12, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert hour_of_day(tz_plus2) == pytest.approx(12.5)
    with pytest.raises(ValueError, match="tz-aware"):
        hour_of_day(datetime(2026, 1, 1, 12, 30))  # noqa: DTZ001 - the naive time under test


def test_noise_is_a_pure_function_of_seed_and_time():
    at = DAY + timedelta(hours=13, minutes=7)
    first = noise_factors(50, at, seed=7)
    assert np.array_equal(first, noise_factors(50, at, seed=7))
    assert not np.array_equal(first, noise_factors(50, at, seed=8))
    assert not np.array_equal(first, noise_factors(50, at + timedelta(minutes=3), seed=7))


def test_noise_has_mean_one_and_drifts_smoothly():
    at = DAY + timedelta(hours=9)
    factors = noise_factors(20_000, at + timedelta(minutes=2), seed=1)
    assert factors.mean() == pytest.approx(1.0, abs=0.005)
    assert np.log(factors).std() == pytest.approx(0.05, rel=0.05)
    one_second_later = noise_factors(20_000, at + timedelta(minutes=2, seconds=1), seed=1)
    assert np.abs(one_second_later - factors).max() < 0.01


def test_zero_sigma_disables_noise():
    assert np.array_equal(noise_factors(3, DAY, seed=1, noise=NoiseSpec(sigma=0.0)), np.ones(3))


def test_demand_rate_is_peak_times_profile_times_noise_times_multiplier():
    demands = (
        Demand("a", "b", TrafficClass.VIDEO, 100.0),
        Demand("a", "b", TrafficClass.BULK, 50.0),
    )
    at = DAY + timedelta(hours=21)
    quiet = demand_rates(demands, at, seed=3, noise=NoiseSpec(sigma=0.0))
    assert quiet[0] == pytest.approx(100.0 * DEFAULT_PROFILES[TrafficClass.VIDEO].factor(21.0))
    noisy = demand_rates(demands, at, seed=3)
    boosted = demand_rates(demands, at, seed=3, multipliers={TrafficClass.VIDEO: 2.0})
    assert boosted[0] == pytest.approx(2 * noisy[0])
    assert boosted[1] == noisy[1]


def test_negative_multiplier_is_refused():
    demands = (Demand("a", "b", TrafficClass.VIDEO, 100.0),)
    with pytest.raises(ValueError, match="multiplier"):
        demand_rates(demands, DAY, seed=0, multipliers={TrafficClass.VIDEO: -1.0})
