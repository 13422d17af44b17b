"""Interface counters to rates, over the agent's own time base (pure: no IO, no clock).

:class:`RateTracker` turns successive :class:`CounterSnapshot` values of ONE device into
:class:`~controller.model.InterfaceRate` values. The interval is the difference of the
agent's ``sysUpTime`` between two snapshots, never the controller's wall time, so that a lab
whose clock runs faster than real time, or a reply that sat in a socket buffer, yields the
rate the agent's counters actually describe.

Counters are not trusted blindly. Each case below yields no rate for the affected interface
(or the whole device) and a :class:`CounterFlag` that says why, and the snapshot becomes the
new baseline so the next interval is measured cleanly:

* ``sysUpTime`` went backwards -> the agent restarted (``RESTART``): its counters restarted too.
  A ``sysUpTime`` that merely wrapped at 2**32 ticks (497 days) is recognised when the
  controller's own elapsed time agrees with the wrapped interval. The first interval after a
  restart is dropped as well (``RESTART_WARMUP``): a fresh net-snmp treats 64-bit counters as
  32-bit until it has seen one above 2**32, and on a link faster than ~11 Gbit/s it silently
  loses whole 2**32 steps between two refreshes of its 3 s cache (measured: 38-41 % of the
  real octets). A rebooted device's counters start at 0 and cross 2**32 within seconds on
  such a link, i.e. within that first interval; no sanity check can see an under-count.
* ``ifCounterDiscontinuityTime`` changed -> ``DISCONTINUITY`` (RFC 2863 section 3.1.6).
* a delta larger than ``ifHighSpeed x dt x tolerance`` -> ``IMPOSSIBLE_DELTA``. This is what
  stops a bogus 64-bit "wrap" or net-snmp's 3 s interface cache from becoming a spike.
  Interfaces that report no speed are held to ``unknown_speed_ceiling_mbps``.
* a counter that went down by more than a wrap can explain (the wrapped delta fails the check
  above) -> ``BACKWARDS``: a reset the agent did not announce, never a spike.
* an interface that appears (``NEW_INTERFACE``) or disappears (``INTERFACE_GONE``); an ifIndex
  that now carries another ifName counts as both.

A counter that wrapped at its width (2**64 for the ifHC* columns, 2**32 for Counter32) and
passes the sanity check gives a rate and a ``WRAP`` flag. A zero interval (the same
``sysUpTime`` twice), or one shorter than ``min_interval_seconds`` (an agent that caches its
counters, like net-snmp for ~3 s, reports 0 and then a double step when polled faster),
gives nothing and keeps the older baseline, so the next interval spans the whole time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from controller.model import InterfaceRate

__all__ = [
    "CounterFlag",
    "CounterFlagKind",
    "CounterSnapshot",
    "IfCounters",
    "RateTracker",
    "RateUpdate",
]

# sysUpTime is a TimeTicks (hundredths of a second), 32 bits wide.
TICKS_PER_SECOND = 100
_UPTIME_MODULUS = 2**32


@dataclass(frozen=True, slots=True)
class IfCounters:
    """One interface's counters as read from the agent (IF-MIB ifXTable/ifTable).

    Attributes:
        index: ifIndex.
        name: ifName.
        hc_in_octets: ifHCInOctets (or ifInOctets when the snapshot's ``counter_bits`` is 32).
        hc_out_octets: ifHCOutOctets (or ifOutOctets when ``counter_bits`` is 32).
        high_speed_mbps: ifHighSpeed in Mbit/s; 0 when the agent does not know it.
        oper_up: ifOperStatus is up(1).
        discontinuity_ticks: ifCounterDiscontinuityTime (agent ticks), None if not exposed.
    """

    index: int
    name: str
    hc_in_octets: int
    hc_out_octets: int
    high_speed_mbps: int
    oper_up: bool
    discontinuity_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class CounterSnapshot:
    """All interface counters of one device at one agent time.

    Attributes:
        device: the inventory name of the device.
        uptime_ticks: sysUpTime.0 in hundredths of a second (agent time), read in the same
            request as the first counters.
        received_at: when the controller received the reply (UTC, controller time); only used
            to tell a sysUpTime wrap from an agent restart.
        interfaces: the interfaces, in ifIndex order.
        counter_bits: width of the octet counters: 64 for ifHC*, 32 for Counter32 columns.
    """

    device: str
    uptime_ticks: int
    received_at: datetime
    interfaces: tuple[IfCounters, ...]
    counter_bits: int = 64


class CounterFlagKind(str, Enum):
    """Why a counter delta was treated specially."""

    WRAP = "wrap"  # a counter wrapped at its width; the rate is still given
    RESTART = "restart"  # sysUpTime went backwards: re-baselined, no rates this time
    RESTART_WARMUP = "restart-warmup"  # the first interval after a restart: dropped
    DISCONTINUITY = "discontinuity"  # ifCounterDiscontinuityTime changed: re-baselined
    IMPOSSIBLE_DELTA = "impossible-delta"  # faster than the line rate: dropped, re-baselined
    BACKWARDS = "backwards"  # went down, and no wrap explains it: dropped, re-baselined
    NEW_INTERFACE = "new-interface"  # first seen (or ifIndex reused): baseline only
    INTERFACE_GONE = "interface-gone"  # no longer reported by the agent


@dataclass(frozen=True, slots=True)
class CounterFlag:
    """A remark about one interface (or, with ``interface`` None, the whole device)."""

    interface: str | None
    kind: CounterFlagKind
    detail: str


@dataclass(frozen=True, slots=True)
class RateUpdate:
    """What one snapshot yielded.

    Attributes:
        rates: one rate per interface that had a trustworthy delta.
        flags: why other interfaces (or the device) gave no rate, and wraps that did.
        interval_seconds: the agent-time interval the rates cover, None if no rates could be
            computed for the device at all (first snapshot, restart, zero interval).
    """

    rates: tuple[InterfaceRate, ...] = ()
    flags: tuple[CounterFlag, ...] = ()
    interval_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class _Delta:
    octets: int
    wrapped: bool


def _counter_delta(previous: int, current: int, bits: int) -> _Delta:
    # A counter that went down has either wrapped or been reset; modular arithmetic gives the
    # wrapped reading and the line-rate check catches the resets (they look enormous).
    return _Delta(octets=(current - previous) % (2**bits), wrapped=current < previous)


class RateTracker:
    """Turns successive snapshots of one device into interface rates.

    Args:
        speed_tolerance: how far above ``ifHighSpeed x dt`` a delta may go before it is
            dropped. Above 1 because sysUpTime has 10 ms resolution and agents sample
            counters a little apart from sysUpTime (net-snmp caches its interface table for
            about 3 s, which skews short intervals most).
        unknown_speed_ceiling_mbps: the line rate assumed for interfaces whose ifHighSpeed
            is 0 (virtual interfaces), so that a counter reset never becomes a spike.
        min_interval_seconds: the shortest agent-time interval rates are computed over; a
            shorter one keeps the older baseline. Set it to the agent's counter cache time
            (net-snmp: 3 s); 0 for agents that read their counters live.
        warmup_intervals: intervals dropped after an agent restart (see the module doc).

    Raises:
        ValueError: a tolerance below 1, a non-positive ceiling, or a negative interval or
            warm-up count.
    """

    def __init__(
        self,
        *,
        speed_tolerance: float = 1.25,
        unknown_speed_ceiling_mbps: float = 1_000_000.0,
        min_interval_seconds: float = 0.0,
        warmup_intervals: int = 1,
    ) -> None:
        if speed_tolerance < 1.0:
            raise ValueError(f"speed_tolerance must be >= 1, got {speed_tolerance}")
        if unknown_speed_ceiling_mbps <= 0:
            raise ValueError("unknown_speed_ceiling_mbps must be positive")
        if min_interval_seconds < 0 or warmup_intervals < 0:
            raise ValueError("min_interval_seconds and warmup_intervals must be >= 0")
        self.speed_tolerance = speed_tolerance
        self.unknown_speed_ceiling_mbps = unknown_speed_ceiling_mbps
        self.min_interval_seconds = min_interval_seconds
        self.warmup_intervals = warmup_intervals
        self._baseline: CounterSnapshot | None = None
        self._warmup_left = 0

    @property
    def baseline(self) -> CounterSnapshot | None:
        """The snapshot the next update will be measured against."""
        return self._baseline

    def update(self, snapshot: CounterSnapshot) -> RateUpdate:
        """Take the next snapshot of the device and return the rates it yields.

        Args:
            snapshot: a snapshot of the same device as the previous ones.

        Returns:
            Rates for the interfaces with a trustworthy delta and flags for the rest.

        Raises:
            ValueError: the snapshot is of another device than the earlier ones.
        """
        previous = self._baseline
        if previous is None:
            self._baseline = snapshot
            return RateUpdate()
        if snapshot.device != previous.device:
            raise ValueError(
                f"RateTracker follows {previous.device!r}, got a snapshot of {snapshot.device!r}"
            )
        elapsed_ticks = self._elapsed_ticks(previous, snapshot)
        if elapsed_ticks is None:
            self._baseline = snapshot
            self._warmup_left = self.warmup_intervals
            return RateUpdate(
                flags=(
                    CounterFlag(
                        None,
                        CounterFlagKind.RESTART,
                        f"sysUpTime went back from {previous.uptime_ticks} to "
                        f"{snapshot.uptime_ticks} ticks: agent restarted, counters re-baselined",
                    ),
                )
            )
        seconds = elapsed_ticks / TICKS_PER_SECOND
        if elapsed_ticks == 0 or seconds < self.min_interval_seconds:
            # The same agent instant (a duplicate reply), or too soon for the agent to have
            # refreshed its counters: keep the older baseline so that the next interval is
            # measured over the whole time.
            return RateUpdate()
        self._baseline = snapshot
        if self._warmup_left > 0:
            self._warmup_left -= 1
            return RateUpdate(
                flags=(
                    CounterFlag(
                        None,
                        CounterFlagKind.RESTART_WARMUP,
                        f"interval of {seconds:g} s right after an agent restart dropped: a "
                        "fresh agent may under-count 64-bit counters",
                    ),
                )
            )
        return self._rates(previous, snapshot, seconds)

    def _elapsed_ticks(self, previous: CounterSnapshot, current: CounterSnapshot) -> int | None:
        """Agent ticks between two snapshots, or None if the agent restarted."""
        if current.uptime_ticks >= previous.uptime_ticks:
            return current.uptime_ticks - previous.uptime_ticks
        wrapped = current.uptime_ticks + _UPTIME_MODULUS - previous.uptime_ticks
        wall_seconds = (current.received_at - previous.received_at).total_seconds()
        # A 32-bit sysUpTime wraps every 497 days. Call it a wrap only when the controller's
        # own clock saw about that much time pass; anything else is a restart.
        if wall_seconds > 0 and abs(wrapped / TICKS_PER_SECOND - wall_seconds) <= max(
            5.0, 0.1 * wall_seconds
        ):
            return wrapped
        return None

    def _rates(
        self, previous: CounterSnapshot, current: CounterSnapshot, seconds: float
    ) -> RateUpdate:
        before = {itf.index: itf for itf in previous.interfaces}
        now = {itf.index: itf for itf in current.interfaces}
        rates: list[InterfaceRate] = []
        flags: list[CounterFlag] = []
        for index, itf in now.items():
            old = before.get(index)
            if old is not None and old.name != itf.name:
                flags.append(
                    CounterFlag(
                        old.name,
                        CounterFlagKind.INTERFACE_GONE,
                        f"ifIndex {index} now carries {itf.name!r}",
                    )
                )
                old = None
            if old is None:
                flags.append(
                    CounterFlag(itf.name, CounterFlagKind.NEW_INTERFACE, f"ifIndex {index}")
                )
                continue
            rate, itf_flags = self._interface_rate(old, itf, seconds, current.counter_bits)
            flags.extend(itf_flags)
            if rate is not None:
                rates.append(rate)
        for index, old in before.items():
            if index not in now:
                flags.append(
                    CounterFlag(old.name, CounterFlagKind.INTERFACE_GONE, f"ifIndex {index}")
                )
        return RateUpdate(rates=tuple(rates), flags=tuple(flags), interval_seconds=seconds)

    def _interface_rate(
        self, old: IfCounters, new: IfCounters, seconds: float, bits: int
    ) -> tuple[InterfaceRate | None, list[CounterFlag]]:
        if (
            old.discontinuity_ticks is not None
            and new.discontinuity_ticks is not None
            and old.discontinuity_ticks != new.discontinuity_ticks
        ):
            detail = (
                f"ifCounterDiscontinuityTime {old.discontinuity_ticks} -> "
                f"{new.discontinuity_ticks}: counters re-baselined"
            )
            return None, [CounterFlag(new.name, CounterFlagKind.DISCONTINUITY, detail)]
        in_delta = _counter_delta(old.hc_in_octets, new.hc_in_octets, bits)
        out_delta = _counter_delta(old.hc_out_octets, new.hc_out_octets, bits)
        speed_mbps = float(new.high_speed_mbps) or self.unknown_speed_ceiling_mbps
        limit_octets = speed_mbps * 1e6 / 8 * seconds * self.speed_tolerance
        largest = max(in_delta.octets, out_delta.octets)
        if largest > limit_octets:
            return None, [self._implausible(old, new, in_delta, out_delta, limit_octets, seconds)]
        flags = [
            CounterFlag(
                new.name,
                CounterFlagKind.WRAP,
                f"{column} wrapped at 2**{bits}: {before} -> {after}",
            )
            for column, delta, before, after in (
                ("in-octets", in_delta, old.hc_in_octets, new.hc_in_octets),
                ("out-octets", out_delta, old.hc_out_octets, new.hc_out_octets),
            )
            if delta.wrapped
        ]
        rate = InterfaceRate(
            interface=new.name,
            in_mbps=in_delta.octets * 8 / seconds / 1e6,
            out_mbps=out_delta.octets * 8 / seconds / 1e6,
            speed_mbps=float(new.high_speed_mbps),
            oper_up=new.oper_up,
        )
        return rate, flags

    def _implausible(
        self,
        old: IfCounters,
        new: IfCounters,
        in_delta: _Delta,
        out_delta: _Delta,
        limit_octets: float,
        seconds: float,
    ) -> CounterFlag:
        """The flag for a delta the line rate cannot explain."""
        for column, delta, before, after in (
            ("in-octets", in_delta, old.hc_in_octets, new.hc_in_octets),
            ("out-octets", out_delta, old.hc_out_octets, new.hc_out_octets),
        ):
            if delta.wrapped and delta.octets > limit_octets:
                return CounterFlag(
                    new.name,
                    CounterFlagKind.BACKWARDS,
                    f"{column} went back from {before} to {after} and no wrap explains it: "
                    "dropped, re-baselined",
                )
        largest = max(in_delta.octets, out_delta.octets)
        speed_mbps = float(new.high_speed_mbps) or self.unknown_speed_ceiling_mbps
        return CounterFlag(
            new.name,
            CounterFlagKind.IMPOSSIBLE_DELTA,
            f"delta of {largest} octets in {seconds:g} s exceeds {speed_mbps:g} Mbit/s x "
            f"{self.speed_tolerance:g}: dropped, re-baselined",
        )
