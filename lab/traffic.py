"""Traffic demand of the lab: per class daily profiles, seeded noise and scenario multipliers.

The rate of a demand at instant ``t`` (tz-aware; the lab clock is UTC) is::

    rate = peak_mbps * profile[class](hour of day of t) * noise(seed, demand, t) * multiplier[class]

- **Profile**: a factor per hour of the day, given as knots and interpolated with a periodic
  monotone cubic (PCHIP, Fritsch-Carlson). It is smooth (C1, also across midnight), never
  overshoots the knots and so never goes negative. The defaults follow the usual shape of
  residential and business traffic: video peaks in the evening (20:00-22:30), bulk transfers
  fill business hours, voice follows the working day, gaming peaks late, and everything
  bottoms out around 04:00.
- **Noise**: a mean-one lognormal factor, ``exp(sigma*z - sigma**2/2)``, per demand. ``z`` is
  drawn per demand from a numpy ``Generator`` seeded with ``(seed, period number)`` at the
  boundaries of fixed periods (five minutes by default) and interpolated in between
  (rescaled to keep unit variance). So the noise is a pure function of (seed, time): it
  drifts smoothly instead of jumping every tick, the same instant always gets the same
  value whatever the call order, and two evaluations of one instant with different
  configurations (a what-if) see the same traffic.
- **Multipliers**: per class, from a scenario's events (:mod:`lab.scenarios`).

Everything here is pure: no IO, time is an argument.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from lab.config import TrafficClass

__all__ = [
    "CLASSES",
    "DEFAULT_NOISE",
    "DEFAULT_PROFILES",
    "DailyProfile",
    "Demand",
    "NoiseSpec",
    "demand_rates",
    "hour_of_day",
    "noise_factors",
]

# The classes in one fixed order, used for array columns across the lab model.
CLASSES: tuple[TrafficClass, ...] = tuple(TrafficClass)

_HOURS_PER_DAY = 24.0


@dataclass(frozen=True, slots=True)
class Demand:
    """Traffic of one class from one device to another, at its daily peak."""

    origin: str
    destination: str
    traffic_class: TrafficClass
    peak_mbps: float


def hour_of_day(at: datetime) -> float:
    """Fractional hour of the day of ``at`` in UTC (the lab clock), in [0, 24).

    Args:
        at: a tz-aware instant.

    Returns:
        Hours since midnight UTC.

    Raises:
        ValueError: ``at`` is naive (its meaning would depend on the machine's time zone).
    """
    if at.tzinfo is None:
        raise ValueError("lab time must be tz-aware (UTC)")
    utc = at.astimezone(UTC)
    return utc.hour + utc.minute / 60.0 + (utc.second + utc.microsecond / 1e6) / 3600.0


def _pchip_slopes(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    # Fritsch-Carlson slopes (as scipy's PchipInterpolator): zero at local extrema, a weighted
    # harmonic mean of the neighbouring secants elsewhere; this keeps the curve monotone
    # between knots.
    count = len(xs)
    widths = [xs[i + 1] - xs[i] for i in range(count - 1)]
    secants = [(ys[i + 1] - ys[i]) / widths[i] for i in range(count - 1)]
    slopes = [0.0] * count
    for i in range(1, count - 1):
        left, right = secants[i - 1], secants[i]
        if left * right <= 0:
            continue
        w_left = 2 * widths[i] + widths[i - 1]
        w_right = widths[i] + 2 * widths[i - 1]
        slopes[i] = (w_left + w_right) / (w_left / left + w_right / right)
    return slopes


@dataclass(frozen=True, slots=True)
class DailyProfile:
    """A daily load factor, smooth and periodic over 24 hours.

    Args:
        knots: (hour in [0, 24), factor >= 0) pairs, hours strictly increasing.

    Raises:
        ValueError: no knots, hours out of range or not increasing, or a negative factor.
    """

    knots: tuple[tuple[float, float], ...]
    _xs: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _ys: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _slopes: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.knots:
            raise ValueError("a daily profile needs at least one knot")
        hours = [h for h, _ in self.knots]
        if any(not 0 <= h < _HOURS_PER_DAY for h in hours):
            raise ValueError("knot hours must be in [0, 24)")
        if any(b <= a for a, b in zip(hours, hours[1:], strict=False)):
            raise ValueError("knot hours must be strictly increasing")
        if any(not (f >= 0 and math.isfinite(f)) for _, f in self.knots):
            raise ValueError("knot factors must be finite and >= 0")
        # two knots of wrap-around on each side, so every interval in [0, 24) has both of
        # its end slopes computed from real neighbours: the curve is periodic and C1
        count = len(self.knots)
        extended = [(h - _HOURS_PER_DAY, f) for h, f in self.knots[-2:]] if count > 1 else []
        extended += list(self.knots)
        extended += [(h + _HOURS_PER_DAY, f) for h, f in self.knots[:2]] if count > 1 else []
        xs = [h for h, _ in extended]
        ys = [f for _, f in extended]
        object.__setattr__(self, "_xs", tuple(xs))
        object.__setattr__(self, "_ys", tuple(ys))
        slopes = _pchip_slopes(xs, ys) if count > 1 else [0.0]
        object.__setattr__(self, "_slopes", tuple(slopes))

    def factor(self, hour: float) -> float:
        """The load factor at ``hour`` (taken modulo 24).

        Args:
            hour: hour of the day, fractional.

        Returns:
            The interpolated factor, >= 0.
        """
        if len(self._xs) == 1:
            return self._ys[0]
        hour = hour % _HOURS_PER_DAY
        i = bisect.bisect_right(self._xs, hour) - 1
        x0, x1 = self._xs[i], self._xs[i + 1]
        y0, y1 = self._ys[i], self._ys[i + 1]
        width = x1 - x0
        t = (hour - x0) / width
        t2, t3 = t * t, t * t * t
        value = (
            (2 * t3 - 3 * t2 + 1) * y0
            + (t3 - 2 * t2 + t) * width * self._slopes[i]
            + (-2 * t3 + 3 * t2) * y1
            + (t3 - t2) * width * self._slopes[i + 1]
        )
        return max(0.0, value)  # PCHIP cannot undershoot; max() only guards rounding

    def at(self, when: datetime) -> float:
        """The load factor at instant ``when`` (UTC hour of day).

        Args:
            when: a tz-aware instant.

        Returns:
            The factor.

        Raises:
            ValueError: ``when`` is naive.
        """
        return self.factor(hour_of_day(when))


DEFAULT_PROFILES: Mapping[TrafficClass, DailyProfile] = MappingProxyType(
    {
        # streaming: low all day, evening peak 20:00-22:30, falls off after midnight
        TrafficClass.VIDEO: DailyProfile(
            (
                (0.0, 0.45),
                (2.0, 0.2),
                (4.5, 0.08),
                (7.0, 0.15),
                (9.0, 0.25),
                (12.0, 0.3),
                (14.0, 0.32),
                (17.0, 0.5),
                (19.0, 0.7),
                (20.0, 1.0),
                (22.5, 1.0),
                (23.5, 0.65),
            )
        ),
        # conversational voice follows the working day
        TrafficClass.VOICE: DailyProfile(
            (
                (0.0, 0.06),
                (4.5, 0.03),
                (8.0, 0.6),
                (10.0, 1.0),
                (16.0, 0.9),
                (19.0, 0.5),
                (22.0, 0.2),
            )
        ),
        # gaming: afternoon rise, late-evening peak
        TrafficClass.GAMING: DailyProfile(
            (
                (0.0, 0.45),
                (3.0, 0.1),
                (7.0, 0.05),
                (12.0, 0.2),
                (16.0, 0.45),
                (19.0, 0.75),
                (21.5, 1.0),
                (23.0, 0.8),
            )
        ),
        # backups and updates: business hours
        TrafficClass.BULK: DailyProfile(
            (
                (0.0, 0.12),
                (5.0, 0.1),
                (8.5, 0.7),
                (10.0, 1.0),
                (16.0, 1.0),
                (18.0, 0.5),
                (21.0, 0.2),
            )
        ),
        # web and everything else: day plateau, evening high
        TrafficClass.BEST_EFFORT: DailyProfile(
            (
                (0.0, 0.4),
                (4.5, 0.15),
                (8.0, 0.4),
                (12.0, 0.6),
                (17.0, 0.65),
                (21.0, 0.9),
                (23.0, 0.6),
            )
        ),
    }
)


@dataclass(frozen=True, slots=True)
class NoiseSpec:
    """Multiplicative demand noise.

    Args:
        sigma: standard deviation of the log of the factor (0 disables the noise).
        period: time between independent draws; the noise is interpolated in between.
    """

    sigma: float = 0.05
    period: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not (self.sigma >= 0 and math.isfinite(self.sigma)):
            raise ValueError("noise sigma must be finite and >= 0")
        if self.period <= timedelta(0):
            raise ValueError("noise period must be positive")


DEFAULT_NOISE = NoiseSpec()

_SEED_MASK = (1 << 64) - 1  # SeedSequence wants non-negative entropy words


def _normals(seed: int, period_number: int, count: int) -> npt.NDArray[np.float64]:
    sequence = np.random.SeedSequence([seed & _SEED_MASK, period_number & _SEED_MASK])
    return np.random.default_rng(sequence).standard_normal(count)


def noise_factors(
    count: int, at: datetime, *, seed: int, noise: NoiseSpec = DEFAULT_NOISE
) -> npt.NDArray[np.float64]:
    """Mean-one multiplicative noise for ``count`` demands at instant ``at``.

    Args:
        count: number of demands (the factor of demand ``i`` is element ``i``).
        at: a tz-aware instant.
        seed: the run's seed.
        noise: the noise parameters.

    Returns:
        An array of ``count`` positive factors.

    Raises:
        ValueError: ``at`` is naive.
    """
    if at.tzinfo is None:
        raise ValueError("lab time must be tz-aware (UTC)")
    if count == 0 or noise.sigma == 0:
        return np.ones(count)
    position = at.timestamp() / noise.period.total_seconds()
    period_number = math.floor(position)
    weight = position - period_number
    before = _normals(seed, period_number, count)
    after = _normals(seed, period_number + 1, count)
    # a weighted sum of two independent normals has variance w0^2 + w1^2: rescale to 1 so
    # the noise is as strong between draws as at them
    z = ((1 - weight) * before + weight * after) / math.hypot(1 - weight, weight)
    factors: npt.NDArray[np.float64] = np.exp(noise.sigma * z - noise.sigma**2 / 2)
    return factors


def demand_rates(
    demands: Sequence[Demand],
    at: datetime,
    *,
    seed: int,
    profiles: Mapping[TrafficClass, DailyProfile] = DEFAULT_PROFILES,
    noise: NoiseSpec = DEFAULT_NOISE,
    multipliers: Mapping[TrafficClass, float] | None = None,
) -> npt.NDArray[np.float64]:
    """Offered rate of every demand at instant ``at``.

    Args:
        demands: the demands (their order fixes which noise stream each one gets).
        at: a tz-aware instant.
        seed: the run's seed.
        profiles: daily profile per class; a class without one is flat at 1.0.
        noise: the noise parameters.
        multipliers: per class factors (scenario events); absent classes are 1.0.

    Returns:
        Mbit/s per demand, in the order of ``demands``.

    Raises:
        ValueError: ``at`` is naive or a multiplier is negative.
    """
    hour = hour_of_day(at)
    per_class: dict[TrafficClass, float] = {}
    for cls in CLASSES:
        profile = profiles.get(cls)
        factor = profile.factor(hour) if profile is not None else 1.0
        multiplier = 1.0 if multipliers is None else multipliers.get(cls, 1.0)
        if not (multiplier >= 0 and math.isfinite(multiplier)):
            raise ValueError(f"multiplier of {cls.value} must be finite and >= 0")
        per_class[cls] = factor * multiplier
    base = np.array([d.peak_mbps * per_class[d.traffic_class] for d in demands], dtype=float)
    rates: npt.NDArray[np.float64] = base * noise_factors(len(demands), at, seed=seed, noise=noise)
    return rates
