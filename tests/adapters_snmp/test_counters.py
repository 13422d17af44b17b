"""RateTracker: counter snapshots to rates over the agent's time base (pure, table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.counters import (
    CounterFlagKind,
    CounterSnapshot,
    IfCounters,
    RateTracker,
    RateUpdate,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GIGABIT = 1000
K = CounterFlagKind


def itf(
    index: int = 1,
    name: str | None = None,
    *,
    rx: int = 0,
    tx: int = 0,
    speed: int = GIGABIT,
    up: bool = True,
    disc: int | None = 0,
) -> IfCounters:
    return IfCounters(
        index=index,
        name=name or f"ge{index}",
        hc_in_octets=rx,
        hc_out_octets=tx,
        high_speed_mbps=speed,
        oper_up=up,
        discontinuity_ticks=disc,
    )


def snap(
    uptime: int, *interfaces: IfCounters, wall: float | None = None, bits: int = 64
) -> CounterSnapshot:
    """A snapshot at ``uptime`` ticks; the controller saw it at T0 + ``wall`` seconds
    (by default in step with the agent, as a real poll would be)."""
    seconds = uptime / 100 if wall is None else wall
    return CounterSnapshot(
        device="r1",
        uptime_ticks=uptime,
        received_at=T0 + timedelta(seconds=seconds),
        interfaces=interfaces,
        counter_bits=bits,
    )


def mbps_octets(mbps: float, seconds: float) -> int:
    """Octets that ``mbps`` carries in ``seconds``."""
    return round(mbps * 1e6 / 8 * seconds)


@dataclass(frozen=True)
class Case:
    snapshots: tuple[CounterSnapshot, ...]
    rates: dict[str, tuple[float, float]]  # interface -> (in Mbit/s, out Mbit/s) of the LAST update
    flags: tuple[tuple[str | None, CounterFlagKind], ...] = ()
    interval: float | None = None
    tracker: dict[str, Any] = field(default_factory=dict)


HUGE = 10**12
NEAR_64 = 2**64 - 1000
NEAR_32 = 2**32 - 500
UPTIME_NEAR_WRAP = 2**32 - 1000

CASES = {
    "first-snapshot-is-only-a-baseline": Case(
        snapshots=(snap(1000, itf(rx=5, tx=5)),),
        rates={},
    ),
    "steady-rate-over-agent-time": Case(
        snapshots=(
            snap(1000, itf(rx=0, tx=0)),
            snap(4000, itf(rx=mbps_octets(10, 30), tx=mbps_octets(20, 30))),
        ),
        rates={"ge1": (10.0, 20.0)},
        interval=30.0,
    ),
    "agent-time-not-wall-time": Case(
        # the lab clock runs 10x: 30 s of agent time arrive in 3 s of controller time
        snapshots=(
            snap(1000, itf(), wall=0.0),
            snap(4000, itf(rx=mbps_octets(10, 30), tx=0), wall=3.0),
        ),
        rates={"ge1": (10.0, 0.0)},
        interval=30.0,
    ),
    "64-bit-wrap": Case(
        snapshots=(
            snap(1000, itf(rx=NEAR_64, tx=10)),
            snap(2000, itf(rx=1500, tx=10)),
        ),
        rates={"ge1": (2500 * 8 / 10 / 1e6, 0.0)},
        flags=(("ge1", K.WRAP),),
        interval=10.0,
    ),
    "32-bit-wrap-counter32": Case(
        snapshots=(
            snap(1000, itf(rx=10, tx=NEAR_32), bits=32),
            snap(2000, itf(rx=10, tx=1500), bits=32),
        ),
        rates={"ge1": (0.0, 2000 * 8 / 10 / 1e6)},
        flags=(("ge1", K.WRAP),),
        interval=10.0,
    ),
    "64-bit-reset-is-not-a-wrap": Case(
        # modular arithmetic makes a reset look like 1.8e19 octets: dropped, not a spike
        snapshots=(snap(1000, itf(rx=HUGE, tx=HUGE)), snap(2000, itf(rx=5, tx=5))),
        rates={},
        flags=(("ge1", K.BACKWARDS),),
        interval=10.0,
    ),
    "counter32-slightly-backwards-on-a-slow-link": Case(
        # 2**32 - 100 octets in 10 s would be 3.4 Gbit/s on a 100 Mbit/s port: no wrap
        snapshots=(
            snap(1000, itf(rx=5000, tx=0, speed=100), bits=32),
            snap(2000, itf(rx=4900, tx=0, speed=100), bits=32),
        ),
        rates={},
        flags=(("ge1", K.BACKWARDS),),
        interval=10.0,
    ),
    "counter32-wrap-on-a-fast-link-is-a-wrap": Case(
        # the same reading on a 10 Gbit/s port is a genuine wrap (2**32 octets in 10 s fit)
        snapshots=(
            snap(1000, itf(rx=5000, tx=0, speed=10_000), bits=32),
            snap(2000, itf(rx=4900, tx=0, speed=10_000), bits=32),
        ),
        rates={"ge1": ((2**32 - 100) * 8 / 10 / 1e6, 0.0)},
        flags=(("ge1", K.WRAP),),
        interval=10.0,
    ),
    "counter-up-beyond-line-rate-is-impossible-not-backwards": Case(
        snapshots=(snap(1000, itf(speed=100)), snap(2000, itf(speed=100, rx=HUGE))),
        rates={},
        flags=(("ge1", K.IMPOSSIBLE_DELTA),),
        interval=10.0,
    ),
    "agent-restart": Case(
        snapshots=(
            snap(900_000, itf(rx=HUGE, tx=HUGE)),
            snap(500, itf(rx=1000, tx=1000), wall=9010.0),
        ),
        rates={},
        flags=((None, K.RESTART),),
    ),
    "first-interval-after-restart-is-dropped": Case(
        # a fresh net-snmp may under-count 64-bit counters: nothing checks that, so drop it
        snapshots=(
            snap(900_000, itf(rx=HUGE, tx=HUGE)),
            snap(500, itf(rx=0, tx=0), wall=9010.0),
            snap(3500, itf(rx=mbps_octets(8, 30), tx=0), wall=9040.0),
        ),
        rates={},
        flags=((None, K.RESTART_WARMUP),),
    ),
    "rates-resume-after-the-warmup": Case(
        snapshots=(
            snap(900_000, itf(rx=HUGE, tx=HUGE)),
            snap(500, itf(rx=0, tx=0), wall=9010.0),
            snap(3500, itf(rx=mbps_octets(8, 30), tx=0), wall=9040.0),
            snap(6500, itf(rx=mbps_octets(8, 30) + mbps_octets(2, 30), tx=0), wall=9070.0),
        ),
        rates={"ge1": (2.0, 0.0)},
        interval=30.0,
    ),
    "no-warmup-when-set-to-zero": Case(
        snapshots=(
            snap(900_000, itf(rx=HUGE, tx=HUGE)),
            snap(500, itf(rx=0, tx=0), wall=9010.0),
            snap(3500, itf(rx=mbps_octets(8, 30), tx=0), wall=9040.0),
        ),
        rates={"ge1": (8.0, 0.0)},
        interval=30.0,
        tracker={"warmup_intervals": 0},
    ),
    "a-zero-interval-does-not-use-up-the-warmup": Case(
        snapshots=(
            snap(900_000, itf(rx=HUGE, tx=HUGE)),
            snap(500, itf(rx=0, tx=0), wall=9010.0),
            snap(500, itf(rx=0, tx=0), wall=9011.0),
            snap(3500, itf(rx=mbps_octets(8, 30), tx=0), wall=9040.0),
        ),
        rates={},
        flags=((None, K.RESTART_WARMUP),),
    ),
    "interval-below-the-agent-cache-time-gives-nothing": Case(
        snapshots=(snap(1000, itf(rx=0)), snap(1200, itf(rx=0))),
        rates={},
        tracker={"min_interval_seconds": 3.0},
    ),
    "short-interval-keeps-the-older-baseline": Case(
        # polled every 2 s with a 3 s cache: the rate spans 4 s, not a 0 then a double step
        snapshots=(
            snap(1000, itf(rx=0)),
            snap(1200, itf(rx=0)),
            snap(1400, itf(rx=mbps_octets(6, 4))),
        ),
        rates={"ge1": (6.0, 0.0)},
        interval=4.0,
        tracker={"min_interval_seconds": 3.0},
    ),
    "sysuptime-wrap-agrees-with-wall-time": Case(
        snapshots=(
            snap(UPTIME_NEAR_WRAP, itf(rx=0, tx=0), wall=0.0),
            snap(2000, itf(rx=mbps_octets(4, 30), tx=0), wall=30.2),
        ),
        rates={"ge1": (4.0, 0.0)},
        interval=30.0,
    ),
    "sysuptime-backwards-without-the-wall-time-is-a-restart": Case(
        snapshots=(
            snap(UPTIME_NEAR_WRAP, itf(rx=0, tx=0), wall=0.0),
            snap(2000, itf(rx=100, tx=0), wall=600.0),
        ),
        rates={},
        flags=((None, K.RESTART),),
    ),
    "discontinuity-rebaselines-one-interface": Case(
        snapshots=(
            snap(1000, itf(1, rx=HUGE, tx=HUGE, disc=0), itf(2, rx=0, tx=0)),
            snap(2000, itf(1, rx=10, tx=10, disc=1500), itf(2, rx=mbps_octets(1, 10), tx=0)),
        ),
        rates={"ge2": (1.0, 0.0)},
        flags=(("ge1", K.DISCONTINUITY),),
        interval=10.0,
    ),
    "discontinuity-time-first-exposed-is-no-discontinuity": Case(
        snapshots=(
            snap(1000, itf(rx=0, tx=0, disc=None)),
            snap(2000, itf(rx=mbps_octets(2, 10), tx=0, disc=700)),
        ),
        rates={"ge1": (2.0, 0.0)},
        interval=10.0,
    ),
    "delta-above-line-rate-is-dropped": Case(
        snapshots=(
            snap(1000, itf(speed=100)),
            snap(2000, itf(speed=100, rx=mbps_octets(100 * 1.3, 10), tx=0)),
        ),
        rates={},
        flags=(("ge1", K.IMPOSSIBLE_DELTA),),
        interval=10.0,
    ),
    "delta-within-tolerance-is-kept": Case(
        snapshots=(
            snap(1000, itf(speed=100)),
            snap(2000, itf(speed=100, rx=mbps_octets(100 * 1.2, 10), tx=0)),
        ),
        rates={"ge1": (120.0, 0.0)},
        interval=10.0,
    ),
    "tolerance-is-a-setting": Case(
        snapshots=(
            snap(1000, itf(speed=100)),
            snap(2000, itf(speed=100, rx=mbps_octets(100 * 1.2, 10), tx=0)),
        ),
        rates={},
        flags=(("ge1", K.IMPOSSIBLE_DELTA),),
        interval=10.0,
        tracker={"speed_tolerance": 1.1},
    ),
    "after-a-dropped-delta-the-next-interval-is-clean": Case(
        snapshots=(
            snap(1000, itf(speed=100)),
            snap(2000, itf(speed=100, rx=HUGE, tx=0)),
            snap(3000, itf(speed=100, rx=HUGE + mbps_octets(50, 10), tx=0)),
        ),
        rates={"ge1": (50.0, 0.0)},
        interval=10.0,
    ),
    "unknown-speed-below-the-ceiling": Case(
        snapshots=(
            snap(1000, itf(speed=0)),
            snap(2000, itf(speed=0, rx=mbps_octets(40_000, 10), tx=0)),
        ),
        rates={"ge1": (40_000.0, 0.0)},
        interval=10.0,
    ),
    "unknown-speed-above-the-ceiling": Case(
        snapshots=(
            snap(1000, itf(speed=0)),
            snap(2000, itf(speed=0, rx=mbps_octets(40_000, 10), tx=0)),
        ),
        rates={},
        flags=(("ge1", K.IMPOSSIBLE_DELTA),),
        interval=10.0,
        tracker={"unknown_speed_ceiling_mbps": 10_000.0},
    ),
    "zero-interval-gives-nothing": Case(
        snapshots=(snap(1000, itf(rx=0)), snap(1000, itf(rx=500))),
        rates={},
    ),
    "zero-interval-keeps-the-older-baseline": Case(
        snapshots=(
            snap(1000, itf(rx=0)),
            snap(1000, itf(rx=500)),
            snap(2000, itf(rx=mbps_octets(3, 10))),
        ),
        rates={"ge1": (3.0, 0.0)},
        interval=10.0,
    ),
    "interface-appears": Case(
        snapshots=(
            snap(1000, itf(1)),
            snap(2000, itf(1, rx=mbps_octets(1, 10)), itf(2, rx=HUGE)),
        ),
        rates={"ge1": (1.0, 0.0)},
        flags=(("ge2", K.NEW_INTERFACE),),
        interval=10.0,
    ),
    "interface-disappears": Case(
        snapshots=(
            snap(1000, itf(1), itf(2)),
            snap(2000, itf(1, rx=mbps_octets(1, 10))),
        ),
        rates={"ge1": (1.0, 0.0)},
        flags=(("ge2", K.INTERFACE_GONE),),
        interval=10.0,
    ),
    "interface-returns-as-new": Case(
        snapshots=(
            snap(1000, itf(1), itf(2)),
            snap(2000, itf(1)),
            snap(3000, itf(1), itf(2, rx=HUGE)),
        ),
        rates={"ge1": (0.0, 0.0)},
        flags=(("ge2", K.NEW_INTERFACE),),
        interval=10.0,
    ),
    "ifindex-reused-by-another-interface": Case(
        snapshots=(
            snap(1000, itf(2, "ge2", rx=HUGE)),
            snap(2000, itf(2, "ge9", rx=0)),
        ),
        rates={},
        flags=(("ge2", K.INTERFACE_GONE), ("ge9", K.NEW_INTERFACE)),
        interval=10.0,
    ),
    "status-and-speed-are-carried": Case(
        snapshots=(
            snap(1000, itf(speed=25_000, up=False)),
            snap(2000, itf(speed=25_000, up=False)),
        ),
        rates={"ge1": (0.0, 0.0)},
        interval=10.0,
    ),
}


def run(case: Case) -> tuple[RateTracker, RateUpdate]:
    tracker = RateTracker(**case.tracker)
    update = RateUpdate()
    for snapshot in case.snapshots:
        update = tracker.update(snapshot)
    return tracker, update


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_rate_tracker(case: Case) -> None:
    _, update = run(case)
    got = {r.interface: (r.in_mbps, r.out_mbps) for r in update.rates}
    assert got.keys() == case.rates.keys()
    for name, (in_mbps, out_mbps) in case.rates.items():
        assert got[name] == pytest.approx((in_mbps, out_mbps)), name
    assert tuple((f.interface, f.kind) for f in update.flags) == case.flags
    assert all(f.detail for f in update.flags)
    assert update.interval_seconds == (
        None if case.interval is None else pytest.approx(case.interval)
    )


def test_rates_carry_status_and_speed() -> None:
    _, update = run(CASES["status-and-speed-are-carried"])
    (rate,) = update.rates
    assert rate.oper_up is False
    assert rate.speed_mbps == 25_000.0


@pytest.mark.parametrize(
    ("case", "baseline_uptime"),
    [
        ("agent-restart", 500),  # the restarted agent's counters are the new baseline
        ("first-interval-after-restart-is-dropped", 3500),  # the dropped interval's end
        ("short-interval-keeps-the-older-baseline", 1400),
        ("delta-above-line-rate-is-dropped", 2000),  # the rejected counters too
        ("zero-interval-keeps-the-older-baseline", 2000),
        ("zero-interval-gives-nothing", 1000),
    ],
    ids=[
        "restart",
        "warmup",
        "short-interval",
        "impossible-delta",
        "zero-interval-then-rate",
        "zero-interval",
    ],
)
def test_baseline_after_update(case: str, baseline_uptime: int) -> None:
    tracker, _ = run(CASES[case])
    assert tracker.baseline is not None
    assert tracker.baseline.uptime_ticks == baseline_uptime


def test_zero_interval_keeps_the_first_counters() -> None:
    tracker, _ = run(CASES["zero-interval-gives-nothing"])
    assert tracker.baseline is not None
    assert tracker.baseline.interfaces[0].hc_in_octets == 0


def test_snapshot_of_another_device_is_refused() -> None:
    tracker = RateTracker()
    tracker.update(snap(1000, itf()))
    other = CounterSnapshot(device="r2", uptime_ticks=2000, received_at=T0, interfaces=())
    with pytest.raises(ValueError, match="r2"):
        tracker.update(other)


@pytest.mark.parametrize(
    "settings",
    [
        {"speed_tolerance": 0.9},
        {"unknown_speed_ceiling_mbps": 0.0},
        {"min_interval_seconds": -1.0},
        {"warmup_intervals": -1},
    ],
    ids=["tolerance-below-one", "ceiling-not-positive", "negative-interval", "negative-warmup"],
)
def test_invalid_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateTracker(**settings)
