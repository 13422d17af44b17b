"""SENSE: collect one observation per device, concurrently, errors as values.

Per device and tick: an SNMP poll of IF-MIB counters turned into rates on the agent's own
time base, and over a persistent NETCONF session the operational state (per-class queues,
path probes, port and device power, radio carriers, subscriber flow features) and the
running configuration, read in ONE ``<get>`` where the session offers it (the same subtree
the session's ``get-config`` reads, plus ``/npl:state``), so configuration and state are of
one instant. A device that fails, for whatever reason, yields an observation with ``errors``
set; it never aborts the tick or disturbs the others.

**Deadline.** With a ``deadline``, :meth:`Sensor.collect` waits that long for the devices'
observations and no longer: a device that has not answered by then (an unreachable or
hanging one would otherwise hold the tick for its full NETCONF and SNMP timeouts) is
reported missing for this tick, an observation with only an error, which the analysis
treats as no fresh measurement. Its read is not cancelled: it runs on in the background to
its own end (an answer, or the adapter's timeout, after which the session is dropped as
after any failed read), and the device is not polled again while it runs. Cancelling a read
mid-RPC would leave the pooled NETCONF session with a request whose reply is still on its
way; letting it finish keeps the session's request/reply pairing intact.

**Backoff.** A device that gave nothing (missed the deadline, or every protocol it has
failed) is polled less often: after its n-th failure in a row it is skipped until
``deadline x 2^(n-1)`` has passed (at most ``backoff_max``), reported missing meanwhile. The
first answer resets it. Each change between answering and failing is logged once. Without
a deadline (one-shot reads such as ``netpilot intents plan``) every device is polled every
time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from adapters.base import ConfigSession, Filter
from adapters.counters import CounterFlag, CounterFlagKind, RateTracker
from adapters.netconf import SENSE_FILTER, STATE_FILTER
from adapters.parsing.netpilot_lab import parse_config, parse_operational_state
from adapters.snmp import SnmpPoller
from controller.errors import AdapterError, NetpilotError
from controller.model import (
    Device,
    DeviceConfig,
    InterfaceRate,
    Observation,
    OperationalState,
)

__all__ = ["DeviceSenseState", "Sensor"]

log = logging.getLogger("netpilot.sense")

SessionOpener = Callable[[Device], Awaitable[ConfigSession]]


@runtime_checkable
class RawReader(Protocol):
    """A session that answers a filtered ``<get>`` with the reply's XML text (a native
    NETCONF session does; the emulated and fake ones fall back to their parsed reads)."""

    @property
    def device(self) -> str: ...

    async def get(self, filter: Filter | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class DeviceSenseState:
    """How sensing one device goes: its failures in a row, when it is polled next, and
    whether a read that missed its deadline is still running."""

    device: str
    failures: int
    retry_at: datetime | None  # not polled before this (None: every tick)
    read_pending: bool


@dataclass(slots=True)
class _DeviceHealth:
    failures: int = 0
    retry_at: datetime | None = None
    reason: str = ""  # the last failure, for the observation's error
    pending: asyncio.Task[tuple[Observation, bool]] | None = None


def _describe_flag(flag: CounterFlag) -> str:
    where = f"interface {flag.interface}" if flag.interface else "device"
    return f"snmp counters ({where}): {flag.kind.value}: {flag.detail}"


class Sensor:
    """Owns the telemetry sessions of every device: one SNMP poller, one NETCONF session each.

    Args:
        devices: the inventory.
        open_session: opens a NETCONF session to a device.
        poller: the SNMP poller (one engine for the process).
        clock: the current time (UTC).
        deadline: how long :meth:`collect` waits for a device (None: until every device has
            answered or failed, bounded only by the adapters' timeouts). Settable.
        backoff_max: the longest a failing device goes unpolled.
    """

    def __init__(
        self,
        devices: Iterable[Device],
        *,
        open_session: SessionOpener,
        poller: SnmpPoller,
        clock: Callable[[], datetime],
        deadline: timedelta | None = None,
        backoff_max: timedelta = timedelta(seconds=60),
    ) -> None:
        self.devices = {d.name: d for d in devices}
        self._open_session = open_session
        self._poller = poller
        self._clock = clock
        self.deadline = deadline
        self.backoff_max = backoff_max
        self._sessions: dict[str, ConfigSession] = {}
        self._locks = {name: asyncio.Lock() for name in self.devices}
        self._trackers = {name: RateTracker() for name in self.devices}
        self._health = {name: _DeviceHealth() for name in self.devices}

    def state(self, name: str) -> DeviceSenseState:
        """How sensing device ``name`` goes (failures in a row, next poll, a read running)."""
        health = self._health[name]
        return DeviceSenseState(
            device=name,
            failures=health.failures,
            retry_at=health.retry_at,
            read_pending=health.pending is not None and not health.pending.done(),
        )

    async def collect(self) -> dict[str, Observation]:
        """One observation per device, gathered concurrently, within the deadline.

        A device still backing off, or whose previous read is still running, is not polled;
        it and a device that misses the deadline get an observation with only an error.
        """
        now = self._clock()
        names = sorted(self.devices)
        observations: dict[str, Observation] = {}
        reads: dict[str, asyncio.Task[tuple[Observation, bool]]] = {}
        for name in names:
            health = self._health[name]
            if health.pending is not None and not health.pending.done():
                observations[name] = _missing(
                    name, now, f"sense: not polled, its last read has not ended ({health.reason})"
                )
            elif health.retry_at is not None and now < health.retry_at:
                observations[name] = _missing(
                    name,
                    now,
                    f"sense: not polled until {health.retry_at:%H:%M:%S} after "
                    f"{health.failures} failed poll(s) in a row ({health.reason})",
                )
            else:
                health.pending = reads[name] = asyncio.create_task(
                    self._poll(name), name=f"sense-{name}"
                )
        if reads:
            timeout = None if self.deadline is None else self.deadline.total_seconds()
            await asyncio.wait(reads.values(), timeout=timeout)
        for name, read in reads.items():
            if read.done():
                observation, answered = read.result()
                self._health[name].pending = None
                reason = "" if answered else "; ".join(observation.errors)
            else:
                # the read runs on (see the module docstring); this tick goes without it
                assert self.deadline is not None
                reason = f"no answer within the {self.deadline.total_seconds():g} s deadline"
                observation = _missing(name, now, f"sense: {reason}")
                answered = False
            self._account(name, answered=answered, reason=reason, now=now)
            observations[name] = observation
        return {name: observations[name] for name in names}

    def _account(self, name: str, *, answered: bool, reason: str, now: datetime) -> None:
        """Count a poll's outcome into the device's backoff; log changes of state only."""
        health = self._health[name]
        if answered:
            if health.failures:
                log.info("%s answers again, after %d failed poll(s)", name, health.failures)
            health.failures, health.retry_at, health.reason = 0, None, ""
            return
        health.failures += 1
        health.reason = reason
        if self.deadline is not None:  # the backoff's unit; without one, every tick polls
            wait = min(self.backoff_max, self.deadline * 2 ** min(health.failures - 1, 30))
            health.retry_at = now + wait
        if health.failures == 1:
            log.warning(
                "%s is not observed (%s)%s",
                name,
                reason,
                "; polled less often until it answers again" if self.deadline else "",
            )

    async def observe(self, name: str) -> Observation:
        """Observe one device now: SNMP rates, NETCONF state and running config."""
        observation, _ = await self._poll(name)
        return observation

    async def _poll(self, name: str) -> tuple[Observation, bool]:
        """One device's observation, and whether the device answered at all (on at least
        one of its protocols; a device with neither counts as answering)."""
        device = self.devices[name]
        try:
            rates, snmp_errors, snmp_answered = await self._rates(device)
            state, config, netconf_errors = await self._netconf(name, with_config=True)
        except Exception as exc:  # the per-device boundary: a bug must not stop the tick
            log.exception("observing %s failed", name)
            error = Observation(device=name, at=self._clock(), errors=(f"internal: {exc!r}",))
            return error, False
        answered = (
            (device.snmp is None and device.netconf is None)
            or (device.snmp is not None and snmp_answered)
            or (device.netconf is not None and not netconf_errors)
        )
        observation = _observation(
            name, self._clock(), state, config, rates, (*snmp_errors, *netconf_errors)
        )
        return observation, answered

    async def observe_state(self, name: str) -> Observation:
        """Only the NETCONF operational state of one device (a post-check sample)."""
        try:
            state, _, errors = await self._netconf(name, with_config=False)
        except Exception as exc:  # the per-device boundary, as in observe()
            log.exception("observing %s failed", name)
            return Observation(device=name, at=self._clock(), errors=(f"internal: {exc!r}",))
        return _observation(name, self._clock(), state, None, (), errors)

    async def _rates(
        self, device: Device
    ) -> tuple[tuple[InterfaceRate, ...], tuple[str, ...], bool]:
        """Rates, errors (a failed poll, or counter flags), and whether the agent answered."""
        if device.snmp is None:
            return (), (), False
        try:
            snapshot = await self._poller.poll_interfaces(device)
        except AdapterError as exc:
            return (), (f"snmp: {exc}",), False
        update = self._trackers[device.name].update(snapshot)
        flags = tuple(
            _describe_flag(f) for f in update.flags if f.kind is not CounterFlagKind.NEW_INTERFACE
        )
        return update.rates, flags, True

    async def _netconf(
        self, name: str, *, with_config: bool
    ) -> tuple[OperationalState, DeviceConfig | None, tuple[str, ...]]:
        device = self.devices[name]
        if device.netconf is None:
            return OperationalState(), None, ()
        try:
            async with self._locks[name]:
                session = await self._session(device)
                state, config = await _read(session, with_config=with_config)
        except NetpilotError as exc:
            await self._drop_session(name)
            return OperationalState(), None, (f"netconf: {exc}",)
        except asyncio.CancelledError:
            # cancelled mid-RPC (only on close): the session may have a request whose reply
            # is still on its way, so it is not used again by this sensor
            await asyncio.shield(self._drop_session(name))
            raise
        return state, config, ()

    async def _session(self, device: Device) -> ConfigSession:
        session = self._sessions.get(device.name)
        if session is None:
            session = await self._open_session(device)
            self._sessions[device.name] = session
        return session

    async def _drop_session(self, name: str) -> None:
        # a failed session is reopened on the next read: the simplest reconnect there is
        session = self._sessions.pop(name, None)
        if session is not None:
            try:
                await session.close()
            except (NetpilotError, OSError):
                return

    async def settle(self) -> None:
        """Wait until the reads that outlived their deadline have ended (an answer, or the
        adapters' timeouts)."""
        running = [h.pending for h in self._health.values() if h.pending and not h.pending.done()]
        await asyncio.gather(*running, return_exceptions=True)

    async def close(self) -> None:
        """Stop the reads still running after their deadline, close every session."""
        running = [h.pending for h in self._health.values() if h.pending and not h.pending.done()]
        for read in running:
            read.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for name in list(self._sessions):
            await self._drop_session(name)


async def _read(
    session: ConfigSession, *, with_config: bool
) -> tuple[OperationalState, DeviceConfig | None]:
    """Operational state (and the running configuration) of one session's device."""
    if isinstance(session, RawReader):
        # one <get> for both: configuration and state of the same instant, one round trip
        reply = await session.get(SENSE_FILTER if with_config else STATE_FILTER)
        state = parse_operational_state(reply, device=session.device)
        return state, parse_config(reply, device=session.device) if with_config else None
    queues, probes = await session.get_state()
    config = await session.get_running() if with_config else None
    return OperationalState(queues=queues, probes=probes), config


def _missing(name: str, at: datetime, error: str) -> Observation:
    """No observation of device ``name`` this tick, and why."""
    return Observation(device=name, at=at, errors=(error,))


def _observation(
    name: str,
    at: datetime,
    state: OperationalState,
    config: DeviceConfig | None,
    rates: tuple[InterfaceRate, ...],
    errors: tuple[str, ...],
) -> Observation:
    return Observation(
        device=name,
        at=at,
        rates=rates,
        queues=state.queues,
        probes=state.probes,
        config=config,
        errors=errors,
        ports=state.ports,
        power=state.power,
        carriers=state.carriers,
        subscribers=state.subscribers,
    )
