"""SENSE: collect one observation per device, concurrently, errors as values.

Per device and tick: an SNMP poll of IF-MIB counters turned into rates on the agent's own
time base, and over a persistent NETCONF session the operational state (per-class queues,
path probes, port and device power, radio carriers, subscriber flow features) and the
running configuration, read in ONE ``<get>`` where the session offers it (the same subtree
the session's ``get-config`` reads, plus ``/npl:state``), so configuration and state are of
one instant. A device that fails, for whatever reason, yields an observation with ``errors``
set; it never aborts the tick or disturbs the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
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

__all__ = ["Sensor"]

log = logging.getLogger("netpilot.sense")

SessionOpener = Callable[[Device], Awaitable[ConfigSession]]


@runtime_checkable
class RawReader(Protocol):
    """A session that answers a filtered ``<get>`` with the reply's XML text (a native
    NETCONF session does; the emulated and fake ones fall back to their parsed reads)."""

    @property
    def device(self) -> str: ...

    async def get(self, filter: Filter | None = None) -> str: ...


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
    """

    def __init__(
        self,
        devices: Iterable[Device],
        *,
        open_session: SessionOpener,
        poller: SnmpPoller,
        clock: Callable[[], datetime],
    ) -> None:
        self.devices = {d.name: d for d in devices}
        self._open_session = open_session
        self._poller = poller
        self._clock = clock
        self._sessions: dict[str, ConfigSession] = {}
        self._locks = {name: asyncio.Lock() for name in self.devices}
        self._trackers = {name: RateTracker() for name in self.devices}

    async def collect(self) -> dict[str, Observation]:
        """One observation per device, gathered concurrently."""
        names = sorted(self.devices)
        results = await asyncio.gather(*(self.observe(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def observe(self, name: str) -> Observation:
        """Observe one device now: SNMP rates, NETCONF state and running config."""
        try:
            rates, snmp_errors = await self._rates(self.devices[name])
            state, config, netconf_errors = await self._netconf(name, with_config=True)
        except Exception as exc:  # the per-device boundary: a bug must not stop the tick
            log.exception("observing %s failed", name)
            return Observation(device=name, at=self._clock(), errors=(f"internal: {exc!r}",))
        return _observation(
            name, self._clock(), state, config, rates, (*snmp_errors, *netconf_errors)
        )

    async def observe_state(self, name: str) -> Observation:
        """Only the NETCONF operational state of one device (a post-check sample)."""
        try:
            state, _, errors = await self._netconf(name, with_config=False)
        except Exception as exc:  # the per-device boundary, as in observe()
            log.exception("observing %s failed", name)
            return Observation(device=name, at=self._clock(), errors=(f"internal: {exc!r}",))
        return _observation(name, self._clock(), state, None, (), errors)

    async def _rates(self, device: Device) -> tuple[tuple[InterfaceRate, ...], tuple[str, ...]]:
        if device.snmp is None:
            return (), ()
        try:
            snapshot = await self._poller.poll_interfaces(device)
        except AdapterError as exc:
            return (), (f"snmp: {exc}",)
        update = self._trackers[device.name].update(snapshot)
        flags = tuple(
            _describe_flag(f) for f in update.flags if f.kind is not CounterFlagKind.NEW_INTERFACE
        )
        return update.rates, flags

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

    async def close(self) -> None:
        """Close every session."""
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
