"""Scenario types: a named, scripted stretch of lab time.

A scenario starts at a lab time of day, runs the lab clock at ``speed`` lab seconds per
wall-clock second, and applies timed events. Events are offsets from the scenario's start
in *lab* time, so a scenario means the same thing at any speed.

Pure data and pure functions: the lab runtime owns the clock and calls
:meth:`Scenario.multipliers` with the elapsed lab time each tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lab.config import TrafficClass

__all__ = ["ClassDemandRamp", "Scenario", "ScenarioEvent"]


@dataclass(frozen=True, slots=True)
class ClassDemandRamp:
    """Multiply one class's demand by ``factor``, ramping in linearly.

    The multiplier is 1 before ``at``, rises linearly to ``factor`` over ``ramp``, stays
    there until ``until`` (forever if None) and then falls back to 1 over ``ramp``.

    Args:
        traffic_class: the class.
        factor: the multiplier once ramped in (>= 0; below 1 removes traffic).
        at: when the ramp starts, from the scenario start (lab time).
        ramp: how long the ramp takes (lab time, >= 0).
        until: when the ramp-down starts, from the scenario start; None for never.

    Raises:
        ValueError: a negative factor, offset or ramp, or ``until`` before the ramp ends.
    """

    traffic_class: TrafficClass
    factor: float
    at: timedelta = timedelta(0)
    ramp: timedelta = timedelta(0)
    until: timedelta | None = None

    def __post_init__(self) -> None:
        if not (self.factor >= 0 and math.isfinite(self.factor)):
            raise ValueError("factor must be finite and >= 0")
        if self.at < timedelta(0) or self.ramp < timedelta(0):
            raise ValueError("at and ramp must be >= 0")
        if self.until is not None and self.until < self.at + self.ramp:
            raise ValueError("until must not be before the ramp-in ends")

    def multiplier(self, elapsed: timedelta) -> float:
        """The multiplier ``elapsed`` lab time after the scenario start.

        Args:
            elapsed: lab time since the scenario started.

        Returns:
            The class demand multiplier.
        """
        if elapsed < self.at:
            return 1.0
        if self.until is not None and elapsed >= self.until:
            return self._towards_one(elapsed - self.until)
        if self.ramp == timedelta(0) or elapsed >= self.at + self.ramp:
            return self.factor
        progress = (elapsed - self.at) / self.ramp
        return 1.0 + (self.factor - 1.0) * progress

    def _towards_one(self, since: timedelta) -> float:
        if self.ramp == timedelta(0) or since >= self.ramp:
            return 1.0
        return self.factor + (1.0 - self.factor) * (since / self.ramp)


# The kinds of event a scenario can hold; more kinds (link degradation, device reboot,
# commit failure) join this union as the lab runtime learns to apply them.
ScenarioEvent = ClassDemandRamp


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, scripted run of the lab.

    Args:
        name: the scenario's name (``evening-peak``).
        description: one sentence for operators.
        start: lab time of day (UTC) when the scenario begins.
        speed: lab seconds per wall-clock second (> 0).
        events: timed changes, offsets from ``start`` in lab time.
        duration: how much lab time the scenario covers.

    Raises:
        ValueError: a non-positive speed or duration.
    """

    name: str
    description: str
    start: time
    speed: float
    events: tuple[ScenarioEvent, ...] = ()
    duration: timedelta = timedelta(hours=3)

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError("speed must be positive")
        if self.duration <= timedelta(0):
            raise ValueError("duration must be positive")

    def start_at(self, day: date) -> datetime:
        """The scenario's first lab instant on ``day`` (UTC).

        Args:
            day: the lab calendar day.

        Returns:
            A tz-aware datetime.
        """
        return datetime.combine(day, self.start.replace(tzinfo=None), tzinfo=UTC)

    def lab_time(self, started: datetime, wall_elapsed: timedelta) -> datetime:
        """The lab clock after ``wall_elapsed`` of real time since it showed ``started``.

        Args:
            started: the lab instant when the scenario began.
            wall_elapsed: real time since then.

        Returns:
            The lab instant.
        """
        return started + wall_elapsed * self.speed

    def multipliers(self, elapsed: timedelta) -> dict[TrafficClass, float]:
        """Per class demand multipliers ``elapsed`` lab time after the start.

        Events on the same class multiply. Classes without events are absent (factor 1).

        Args:
            elapsed: lab time since the scenario started.

        Returns:
            Class -> multiplier.
        """
        result: dict[TrafficClass, float] = {}
        for event in self.events:
            cls = event.traffic_class
            result[cls] = result.get(cls, 1.0) * event.multiplier(elapsed)
        return result
