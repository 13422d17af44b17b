"""SENSE: collect one observation per device, concurrently, errors as values.

Per device and tick: an SNMP poll of IF-MIB counters turned into rates on the agent's own
time base, and over a persistent NETCONF session the operational state (per-class queues,
path probes) and the running configuration. A device that fails yields an observation with
``errors`` set; it never aborts the tick or disturbs the other devices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from adapters.base import ConfigSession
from adapters.counters import RateTracker
from adapters.snmp import SnmpPoller
from controller.errors import AdapterError, NetpilotError
from controller.model import ClassQueue, Device, InterfaceRate, Observation, ProbeResult

__all__ = ["Sensor"]

SessionOpener = Callable[[Device], Awaitable[ConfigSession]]


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
        self._last_rates: dict[str, tuple[InterfaceRate, ...]] = {}

    async def collect(self) -> dict[str, Observation]:
        """One observation per device, gathered concurrently."""
        names = sorted(self.devices)
        results = await asyncio.gather(*(self.observe(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def observe(self, name: str, *, snmp: bool = True) -> Observation:
        """Observe one device now (``snmp=False``: NETCONF state only, for post-checks)."""
        device = self.devices[name]
        errors: list[str] = []
        rates = self._last_rates.get(name, ())
        if snmp and device.snmp is not None:
            try:
                snapshot = await self._poller.poll_interfaces(device)
            except AdapterError as exc:
                errors.append(f"snmp: {exc}")
            else:
                update = self._trackers[name].update(snapshot)
                if update.rates:
                    rates = update.rates
                    self._last_rates[name] = rates
                errors.extend(
                    f"snmp counter {f.interface}: {f.kind.value}"
                    for f in update.flags
                    if f.kind.value != "new-interface"
                )
        queues: tuple[ClassQueue, ...] = ()
        probes: tuple[ProbeResult, ...] = ()
        config = None
        if device.netconf is not None:
            try:
                async with self._locks[name]:
                    session = await self._session(device)
                    queues, probes = await session.get_state()
                    config = await session.get_running()
            except NetpilotError as exc:
                errors.append(f"netconf: {exc}")
                await self._drop_session(name)
        return Observation(
            device=name,
            at=self._clock(),
            rates=rates,
            queues=queues,
            probes=probes,
            config=config,
            errors=tuple(errors),
        )

    async def _session(self, device: Device) -> ConfigSession:
        session = self._sessions.get(device.name)
        if session is None:
            session = await self._open_session(device)
            self._sessions[device.name] = session
        return session

    async def _drop_session(self, name: str) -> None:
        # a failed session is reopened on the next tick: the simplest reconnect there is
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
