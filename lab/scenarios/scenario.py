"""Scenario types: a named, scripted stretch of lab time.

A scenario starts at a lab time of day, runs the lab clock at ``speed`` lab seconds per
wall-clock second, and applies timed events. Events are offsets from the scenario's start
in *lab* time, so a scenario means the same thing at any speed.

Pure data and pure functions: the lab runtime owns the clock and calls
:meth:`Scenario.multipliers` with the elapsed lab time each tick.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum

from lab.config import TrafficClass

__all__ = [
    "ClassDemandRamp",
    "DeviceFault",
    "DeviceFaultKind",
    "LinkFault",
    "Scenario",
    "ScenarioEvent",
    "SiteDemandRamp",
]


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


@dataclass(frozen=True, slots=True)
class SiteDemandRamp:
    """Like :class:`ClassDemandRamp`, for the demand towards one site only (a flash crowd).

    Args:
        site: the destination site.
        traffic_class: the class.
        factor: the multiplier once ramped in (>= 0).
        at: when the ramp starts (lab time from the scenario start).
        ramp: how long the ramp takes.
        until: when the ramp-down starts; None for never.

    Raises:
        ValueError: as for :class:`ClassDemandRamp`.
    """

    site: str
    traffic_class: TrafficClass
    factor: float
    at: timedelta = timedelta(0)
    ramp: timedelta = timedelta(0)
    until: timedelta | None = None

    def __post_init__(self) -> None:
        ClassDemandRamp(self.traffic_class, self.factor, self.at, self.ramp, self.until)

    def multiplier(self, elapsed: timedelta) -> float:
        """The multiplier ``elapsed`` lab time after the scenario start."""
        return ClassDemandRamp(
            self.traffic_class, self.factor, self.at, self.ramp, self.until
        ).multiplier(elapsed)


@dataclass(frozen=True, slots=True)
class LinkFault:
    """A link is cut, or degraded, from ``at`` until ``until`` (forever if None).

    Args:
        link: the link's name in the topology.
        at: start, from the scenario start (lab time).
        until: end; None for the rest of the run.
        cut: the link carries nothing (both ports go oper-down).
        capacity: fraction of the capacity left, in (0, 1].
        loss: fraction of the served traffic lost to errors, in [0, 1).
        delay_ms: extra one-way delay.

    Raises:
        ValueError: values out of range or ``until`` before ``at``.
    """

    link: str
    at: timedelta
    until: timedelta | None = None
    cut: bool = False
    capacity: float = 1.0
    loss: float = 0.0
    delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.capacity <= 1 or not 0 <= self.loss < 1 or self.delay_ms < 0:
            raise ValueError("capacity in (0, 1], loss in [0, 1), delay_ms >= 0")
        if self.until is not None and self.until < self.at:
            raise ValueError("until must not be before at")

    def active(self, elapsed: timedelta) -> bool:
        """Whether the fault holds ``elapsed`` after the scenario start."""
        return self.at <= elapsed and (self.until is None or elapsed < self.until)


class DeviceFaultKind(str, Enum):
    """What happens to a device."""

    REBOOT = "reboot"  # down from at to until, then back with counters and uptime reset
    DOWN = "down"  # powered off: forwards nothing, answers nothing
    UNREACHABLE = "unreachable"  # forwards, but its management plane answers nothing
    SLOW = "slow"  # answers SNMP and NETCONF after delay_s (wall seconds)
    COMMIT_FAILURE = "commit-failure"  # its next commit at or after 'at' fails


@dataclass(frozen=True, slots=True)
class DeviceFault:
    """Something happens to one device from ``at`` until ``until``.

    Args:
        device: the device's name.
        kind: what happens.
        at: start, from the scenario start (lab time).
        until: end; None for the rest of the run (a reboot needs one: its downtime).
        delay_s: for SLOW, the extra answer time in wall seconds.

    Raises:
        ValueError: a reboot without ``until``, ``until`` before ``at``, a negative delay.
    """

    device: str
    kind: DeviceFaultKind
    at: timedelta
    until: timedelta | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind is DeviceFaultKind.REBOOT and self.until is None:
            raise ValueError("a reboot needs 'until' (the end of its downtime)")
        if self.until is not None and self.until < self.at:
            raise ValueError("until must not be before at")
        if not (self.delay_s >= 0 and math.isfinite(self.delay_s)):
            raise ValueError("delay_s must be finite and >= 0")

    def active(self, elapsed: timedelta) -> bool:
        """Whether the fault holds ``elapsed`` after the scenario start."""
        return self.at <= elapsed and (self.until is None or elapsed < self.until)


# The kinds of event a scenario can hold.
ScenarioEvent = ClassDemandRamp | SiteDemandRamp | LinkFault | DeviceFault


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
            if isinstance(event, ClassDemandRamp):
                cls = event.traffic_class
                result[cls] = result.get(cls, 1.0) * event.multiplier(elapsed)
        return result

    def site_multipliers(self, elapsed: timedelta) -> dict[tuple[str, TrafficClass], float]:
        """Per (destination site, class) demand multipliers ``elapsed`` after the start.

        Args:
            elapsed: lab time since the scenario started.

        Returns:
            (site, class) -> multiplier; absent pairs are 1.
        """
        result: dict[tuple[str, TrafficClass], float] = {}
        for event in self.events:
            if isinstance(event, SiteDemandRamp):
                key = (event.site, event.traffic_class)
                result[key] = result.get(key, 1.0) * event.multiplier(elapsed)
        return result

    def link_faults(self, elapsed: timedelta) -> tuple[LinkFault, ...]:
        """The link faults holding ``elapsed`` after the start."""
        return tuple(e for e in self.events if isinstance(e, LinkFault) and e.active(elapsed))

    def device_faults(self) -> tuple[DeviceFault, ...]:
        """Every device fault of the scenario, in time order."""
        faults = [e for e in self.events if isinstance(e, DeviceFault)]
        return tuple(sorted(faults, key=lambda f: f.at))

    def resolve(
        self,
        devices: Mapping[str, tuple[str, str]],
        links: Mapping[str, tuple[str, str]],
    ) -> Scenario:
        """The scenario with every event target resolved against a topology.

        A target is a name, or alternatives separated by ``|`` tried in order: a name,
        ``role:ROLE`` (the first device of that role), ``roles:A-B`` (the first link between
        devices of roles A and B), or ``any`` (the first device, link or site). So one
        scenario runs on the metro lab (by name) and on other topologies (by role).

        Args:
            devices: device name -> (role, site), in topology order.
            links: link name -> (role of end a, role of end b), in topology order.

        Returns:
            A scenario whose events name real devices, links and sites.

        Raises:
            ValueError: no alternative of a target matches.
        """
        sites = list(dict.fromkeys(site for _, site in devices.values()))
        resolved: list[ScenarioEvent] = []
        for event in self.events:
            if isinstance(event, LinkFault):
                resolved.append(replace(event, link=self._pick_link(event.link, links)))
            elif isinstance(event, DeviceFault):
                resolved.append(replace(event, device=self._pick_device(event.device, devices)))
            elif isinstance(event, SiteDemandRamp):
                resolved.append(replace(event, site=self._pick(event.site, sites, "site")))
            else:
                resolved.append(event)
        return replace(self, events=tuple(resolved))

    def _pick(self, target: str, names: Collection[str], what: str) -> str:
        for option in target.split("|"):
            if option in names:
                return option
            if option == "any" and names:
                return next(iter(names))
        raise ValueError(f"scenario {self.name}: no {what} matches {target!r}")

    def _pick_device(self, target: str, devices: Mapping[str, tuple[str, str]]) -> str:
        for option in target.split("|"):
            if option.startswith("role:"):
                role = option.removeprefix("role:")
                match = next((n for n, (r, _) in devices.items() if r == role), None)
                if match is not None:
                    return match
            elif option in devices or (option == "any" and devices):
                return option if option in devices else next(iter(devices))
        raise ValueError(f"scenario {self.name}: no device matches {target!r}")

    def _pick_link(self, target: str, links: Mapping[str, tuple[str, str]]) -> str:
        for option in target.split("|"):
            if option.startswith("roles:"):
                a, _, b = option.removeprefix("roles:").partition("-")
                match = next(
                    (n for n, ends in links.items() if sorted(ends) == sorted((a, b))), None
                )
                if match is not None:
                    return match
            elif option in links or (option == "any" and links):
                return option if option in links else next(iter(links))
        raise ValueError(f"scenario {self.name}: no link matches {target!r}")
