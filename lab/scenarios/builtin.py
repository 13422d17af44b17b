"""The scenarios the lab ships with.

- ``evening-peak``: 19:45 lab time at 60x. Video and best-effort demand ramp in over three
  lab minutes on top of the daily evening rise, so the preferred path's r2->r4 link
  overflows within the first five lab minutes and r1->r4 video latency jumps past 30 ms.
  Video alone still fits the link: prioritising video on r2 brings it back under 20 ms for
  the whole peak.
- ``steady``: a quiet weekday morning (10:00, 60x), no events; every path stays well inside
  the e2e-qos targets.
"""

from __future__ import annotations

from datetime import time, timedelta

from lab.config import TrafficClass
from lab.scenarios.scenario import ClassDemandRamp, Scenario

__all__ = ["BUILTIN", "EVENING_PEAK", "STEADY"]

EVENING_PEAK = Scenario(
    name="evening-peak",
    description=(
        "Evening rush from 19:45: video and best-effort ramp up and congest the preferred "
        "path's r2->r4 link"
    ),
    start=time(19, 45),
    speed=60.0,
    events=(
        ClassDemandRamp(TrafficClass.VIDEO, 1.5, at=timedelta(0), ramp=timedelta(minutes=3)),
        ClassDemandRamp(TrafficClass.BEST_EFFORT, 2.0, at=timedelta(0), ramp=timedelta(minutes=3)),
    ),
    duration=timedelta(hours=3),
)

STEADY = Scenario(
    name="steady",
    description="A quiet daytime with ordinary traffic and no events",
    start=time(10, 0),
    speed=60.0,
    events=(),
    duration=timedelta(hours=3),
)

BUILTIN: tuple[Scenario, ...] = (EVENING_PEAK, STEADY)
