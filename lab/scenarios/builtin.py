"""The scenarios the lab ships with.

Every scenario starts at a lab time of day and runs 60x by default (``--speed K`` changes
that). Event targets are names in the metro lab with role-based fallbacks, so each scenario
also runs on other topologies (see :meth:`lab.scenarios.Scenario.resolve`).

- ``evening-peak``: 19:45. Video and best-effort demand ramp in over three lab minutes on
  top of the daily evening rise; on the four-router lab the preferred path's r2->r4 link
  overflows within five lab minutes and r1->r4 video latency jumps past 30 ms. Video alone
  still fits the link: prioritising video on r2 brings it back under 20 ms.
- ``steady``: a quiet weekday morning (10:00), no events.
- ``flash-crowd``: 20:00; from +5 min the video demand towards the east site quadruples
  (ramp 2 min) for 40 min: the east access uplink and radio cells overload, players stall.
- ``link-degradation``: 18:00; from +5 min the west-east long-haul link core2-core3 keeps
  25 % of its capacity, loses 1 % and gains 4 ms, for an hour.
- ``fiber-cut``: 18:00; from +5 min the long-haul link core4-core1 is cut for two hours:
  linkDown traps, traffic reroutes over the rest of the ring.
- ``night-low-load``: 22:00 for ten lab hours, no events: load falls to the 04:00 trough
  and climbs again, and power follows it (the window for energy saving).
- ``device-reboot``: 14:00; at +5 min agg-east reboots (3 min down): its counters and
  sysUpTime restart, traffic takes the backup uplinks meanwhile, coldStart when it is back.
- ``commit-failure``: the evening peak, and agg-west (r2 on the four-router lab) refuses
  its next commit from the start (operation-failed).
- ``unreachable-device``: 14:00; from +5 min acc-east-1's management plane answers
  nothing (SNMP and NETCONF) for 20 lab minutes while it keeps forwarding.
- ``slow-device``: 14:00; from +2 min agg-west answers SNMP and NETCONF 2 wall seconds
  late for 30 lab minutes.
"""

from __future__ import annotations

from datetime import time, timedelta

from lab.config import TrafficClass
from lab.scenarios.scenario import (
    ClassDemandRamp,
    DeviceFault,
    DeviceFaultKind,
    LinkFault,
    Scenario,
    SiteDemandRamp,
)

__all__ = ["BUILTIN", "EVENING_PEAK", "STEADY"]

_MIN = timedelta(minutes=1)

_PEAK_RAMPS = (
    ClassDemandRamp(TrafficClass.VIDEO, 1.5, at=timedelta(0), ramp=timedelta(minutes=3)),
    ClassDemandRamp(TrafficClass.BEST_EFFORT, 2.0, at=timedelta(0), ramp=timedelta(minutes=3)),
)

EVENING_PEAK = Scenario(
    name="evening-peak",
    description=(
        "Evening rush from 19:45: video and best-effort ramp up and congest the preferred "
        "path's r2->r4 link"
    ),
    start=time(19, 45),
    speed=60.0,
    events=_PEAK_RAMPS,
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

FLASH_CROWD = Scenario(
    name="flash-crowd",
    description="20:00: video towards the east site quadruples for 40 minutes; players stall",
    start=time(20, 0),
    speed=60.0,
    events=(
        SiteDemandRamp(
            "east|any", TrafficClass.VIDEO, 4.0, at=5 * _MIN, ramp=2 * _MIN, until=45 * _MIN
        ),
    ),
    duration=timedelta(hours=2),
)

LINK_DEGRADATION = Scenario(
    name="link-degradation",
    description="18:00: the west-east long-haul link keeps 25 % capacity, loses 1 %, +4 ms",
    start=time(18, 0),
    speed=60.0,
    events=(
        LinkFault(
            "core2-core3|roles:core-core|any",
            at=5 * _MIN,
            until=65 * _MIN,
            capacity=0.25,
            loss=0.01,
            delay_ms=4.0,
        ),
    ),
    duration=timedelta(hours=2),
)

FIBER_CUT = Scenario(
    name="fiber-cut",
    description="18:00: the long-haul link core4-core1 is cut for two hours; traffic reroutes",
    start=time(18, 0),
    speed=60.0,
    events=(LinkFault("core4-core1|roles:core-core|any", at=5 * _MIN, until=125 * _MIN, cut=True),),
    duration=timedelta(hours=3),
)

NIGHT_LOW_LOAD = Scenario(
    name="night-low-load",
    description="22:00 to 08:00: load falls to the night trough and rises again",
    start=time(22, 0),
    speed=60.0,
    events=(),
    duration=timedelta(hours=10),
)

DEVICE_REBOOT = Scenario(
    name="device-reboot",
    description="14:00: agg-east reboots at +5 min (3 min down); counters and uptime reset",
    start=time(14, 0),
    speed=60.0,
    events=(
        DeviceFault(
            "agg-east|role:aggregation|role:core",
            DeviceFaultKind.REBOOT,
            at=5 * _MIN,
            until=8 * _MIN,
        ),
    ),
    duration=timedelta(hours=2),
)

COMMIT_FAILURE = Scenario(
    name="commit-failure",
    description="The evening peak, and agg-west (r2) refuses its next commit",
    start=time(19, 45),
    speed=60.0,
    events=(
        *_PEAK_RAMPS,
        DeviceFault("agg-west|r2|role:core", DeviceFaultKind.COMMIT_FAILURE, at=timedelta(0)),
    ),
    duration=timedelta(hours=3),
)

UNREACHABLE_DEVICE = Scenario(
    name="unreachable-device",
    description="14:00: acc-east-1's management plane is unreachable for 20 minutes",
    start=time(14, 0),
    speed=60.0,
    events=(
        DeviceFault(
            "acc-east-1|role:access|any",
            DeviceFaultKind.UNREACHABLE,
            at=5 * _MIN,
            until=25 * _MIN,
        ),
    ),
    duration=timedelta(hours=2),
)

SLOW_DEVICE = Scenario(
    name="slow-device",
    description="14:00: agg-west answers SNMP and NETCONF 2 s late for 30 minutes",
    start=time(14, 0),
    speed=60.0,
    events=(
        DeviceFault(
            "agg-west|role:aggregation|any",
            DeviceFaultKind.SLOW,
            at=2 * _MIN,
            until=32 * _MIN,
            delay_s=2.0,
        ),
    ),
    duration=timedelta(hours=2),
)

BUILTIN: tuple[Scenario, ...] = (
    EVENING_PEAK,
    STEADY,
    FLASH_CROWD,
    LINK_DEGRADATION,
    FIBER_CUT,
    NIGHT_LOW_LOAD,
    DEVICE_REBOOT,
    COMMIT_FAILURE,
    UNREACHABLE_DEVICE,
    SLOW_DEVICE,
)
