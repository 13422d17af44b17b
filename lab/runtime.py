"""The running lab: emulated devices behind real NETCONF (SSH) and SNMP (UDP) servers.

Each device gets its own loopback address (127.1.x.y) and runs a :class:`LabNetconfServer`
and a :class:`LabSnmpAgent` there. A stepping task advances the lab on the lab clock
(``speed`` lab seconds per wall second):

1. it integrates every port's rates into its octet counters and every device's power into
   its energy counter, so counters and ``sysUpTime`` follow lab time and a controller
   computing rates on the agent's time base needs no special mode;
2. it applies the scenario's events and the faults injected through :class:`LabFaults`
   (cut or degraded links, devices down, rebooting, unreachable or slow, failing commits);
3. it steps the network model (:mod:`lab.network`), the radio sites (:mod:`lab.radio`),
   the power model (:mod:`lab.power`) and the video players (:mod:`lab.video`);
4. it tells the world what changed: linkUp/linkDown traps to the configured receivers and
   NETCONF notifications (link-state-change, power-state-change) to subscribed sessions.

A commit on a device re-steps the lab at once, so the effect of a change shows on the next
read. The model step interval stretches with the model's cost (at least 0.5 s of wall
time, at most a fifth of the CPU), so a thousand devices stay within the machine.

Ground truth the controller must not see (video stalls, start-up delays) is kept in
:meth:`LabNetwork.video_truth` and, when the lab has a state directory, appended to
``video-truth.jsonl`` there.

The controller never imports this module: :func:`write_inventory` writes an ordinary
inventory (with an SSH ``known_hosts`` file and owner-only credential files) that the
controller reads like any operator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncssh
import yaml

from lab.backend import AgentSnapshot, InterfaceCounters, PowerComponent
from lab.config import NAMESPACE, DeviceSettings, PowerMode, TrafficClass, parse_running
from lab.equipment import PowerState
from lab.netconf_server import LabNetconfServer
from lab.network import NetworkConditions, NetworkModel, NetworkState, PathKpi
from lab.power import DevicePower, device_power
from lab.radio import RadioState, radio_state
from lab.scenarios import DeviceFaultKind, Scenario
from lab.snmp_agent import COLD_START, LINK_DOWN, LINK_UP, LabSnmpAgent, power_objects
from lab.snmp_codec import Integer, Oid, Value
from lab.snmp_usm import UsmAgent, UsmUser, engine_id_for
from lab.topology import LabSpec, startup_settings
from lab.video import NodeConditions, NodeTruth, VideoSessions
from lab.yang_schema import load_lab_schema

__all__ = [
    "LabDevice",
    "LabFaults",
    "LabNetwork",
    "LinkCondition",
    "device_address",
    "write_inventory",
]

log = logging.getLogger("netpilot.lab")

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
LAB_USER = "netpilot"
SNMP_V3_USER = "netpilot"
STEP_INTERVAL = 0.5  # wall seconds between model steps (at least): smooth for 1 s polling
_STEP_CPU_SHARE = 0.2  # the model may use at most this share of the wall time
_TRUTH_EVERY = timedelta(minutes=1)  # lab time between ground-truth log lines
_IF_INDEX: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
_IF_ADMIN: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
_IF_OPER: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
_STATE_CODE = {PowerState.ACTIVE: 1, PowerState.SLEEP: 2, PowerState.WAKING: 3, PowerState.OFF: 4}


def device_address(index: int) -> str:
    """The loopback address of the ``index``-th device (1-based): 127.1.0.1, 127.1.0.2, ...

    Octets 0 and 255 are skipped so that no device sits on a network or broadcast-looking
    address; the whole 127.0.0.0/8 is local on Linux, so no interface set-up is needed.
    """
    if index < 1 or index > 254 * 254:
        raise ValueError(f"device index {index} out of range")
    high, low = divmod(index - 1, 254)
    return f"127.1.{high + 1}.{low + 1}"


@dataclass
class _PortCounters:
    """Octet/packet counters of one port, integrated over lab time (floats, floored on read)."""

    in_octets: float = 0.0
    out_octets: float = 0.0
    in_packets: float = 0.0
    out_packets: float = 0.0


@dataclass
class DeviceFaults:
    """Faults a test, the control interface or a scenario injects into one device.

    ``ignore_config``: commits land in the datastore but the network ignores them.
    ``fail_next_commit``: the next commit fails with this message.
    ``down``: powered off: forwards nothing, answers nothing.
    ``unreachable``: forwards, but SNMP and NETCONF answer nothing.
    ``slow_s``: SNMP and NETCONF answer this many wall seconds late.
    """

    ignore_config: bool = False
    fail_next_commit: str | None = None
    down: bool = False
    unreachable: bool = False
    slow_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LinkCondition:
    """A fault on one link: cut, or degraded (capacity left, loss, extra delay)."""

    cut: bool = False
    capacity: float = 1.0
    loss: float = 0.0
    delay_ms: float = 0.0


@dataclass
class LabDevice:
    """One emulated device: the NETCONF/SNMP backends over the shared network model."""

    name: str
    address: str
    lab: LabNetwork
    settings: DeviceSettings
    faults: DeviceFaults = field(default_factory=DeviceFaults)
    counters: dict[str, _PortCounters] = field(default_factory=dict)
    netconf_port: int = 0
    snmp_port: int = 0
    host_key: asyncssh.SSHKey | None = None
    netconf: LabNetconfServer | None = None
    snmp: LabSnmpAgent | None = None
    usm: UsmAgent | None = None
    energy_j: float = 0.0
    booted_at: datetime | None = None  # lab time sysUpTime counts from (None: lab start)
    rebooting_until: datetime | None = None
    waking_ports: dict[str, datetime] = field(default_factory=dict)
    waking_carriers: dict[str, datetime] = field(default_factory=dict)
    # set by the scenario each step (kept apart from the injected faults)
    scenario_down: bool = False
    scenario_unreachable: bool = False
    scenario_slow_s: float = 0.0
    _reachable: asyncio.Event | None = None
    _snapshot_cache: tuple[int, int, tuple[PowerComponent, ...]] | None = None

    # ---------------------------------------------------------------- effective state

    @property
    def down(self) -> bool:
        """Forwards nothing (powered off, or rebooting)."""
        return self.faults.down or self.scenario_down or self.rebooting_until is not None

    @property
    def unreachable(self) -> bool:
        """Its management plane answers nothing."""
        return self.down or self.faults.unreachable or self.scenario_unreachable

    @property
    def slow_s(self) -> float:
        """Extra wall seconds before each SNMP/NETCONF answer."""
        return max(self.faults.slow_s, self.scenario_slow_s)

    # ---------------------------------------------------------------- NetconfBackend

    def running_changed(self, running: ET.Element) -> None:
        if self.faults.ignore_config:
            log.info("%s: commit ignored by the network (fault injected)", self.name)
            return
        previous, self.settings = self.settings, parse_running(running)
        self.lab.settings_changed(self, previous)

    def operational_state(self) -> ET.Element:
        return self.lab.state_element(self.name)

    def commit_should_fail(self) -> str | None:
        message, self.faults.fail_next_commit = self.faults.fail_next_commit, None
        return message

    # ---------------------------------------------------------------- SnmpBackend

    def snmp_snapshot(self) -> AgentSnapshot:
        return self.lab.snmp_snapshot(self.name)

    # ---------------------------------------------------------------- reachability

    def admission(self) -> float | None:
        """For the SNMP agent: None drops the request, else the delay before answering."""
        return None if self.unreachable else self.slow_s

    async def gate(self) -> None:
        """For the NETCONF server: wait while unreachable, then for the slow delay."""
        if self._reachable is None:
            self._reachable = asyncio.Event()
            self._reachable.set()
        while self.unreachable:
            self._reachable.clear()
            await self._reachable.wait()
        if self.slow_s > 0:
            await asyncio.sleep(self.slow_s)

    def _reachability_changed(self) -> None:
        if self._reachable is not None and not self.unreachable:
            self._reachable.set()


class LabFaults:
    """Fault injection for tests and the control interface (all take effect at once)."""

    def __init__(self, lab: LabNetwork) -> None:
        self._lab = lab
        self.links: dict[str, LinkCondition] = {}

    def _link(self, name: str) -> None:
        self._lab.spec.topology.link(name)  # KeyError for an unknown link

    def _device(self, name: str) -> LabDevice:
        try:
            return self._lab.devices[name]
        except KeyError:
            raise KeyError(f"unknown device {name!r}") from None

    def cut_link(self, name: str) -> None:
        """Cut link ``name``: both ports go oper-down, traffic reroutes.

        Raises:
            KeyError: no such link.
        """
        self._link(name)
        self.links[name] = LinkCondition(cut=True)
        self._lab.record("fault", f"link {name} cut")
        self._lab.request_step()

    def degrade_link(
        self, name: str, *, capacity: float = 1.0, loss: float = 0.0, delay_ms: float = 0.0
    ) -> None:
        """Degrade link ``name``: keep ``capacity`` of it, lose ``loss``, add ``delay_ms``.

        Raises:
            KeyError: no such link.
            ValueError: values out of range.
        """
        self._link(name)
        NetworkConditions(
            link_capacity={name: capacity}, link_loss={name: loss}, link_delay_ms={name: delay_ms}
        )
        self.links[name] = LinkCondition(False, capacity, loss, delay_ms)
        self._lab.record(
            "fault", f"link {name} degraded: capacity x{capacity}, loss {loss}, +{delay_ms} ms"
        )
        self._lab.request_step()

    def restore_link(self, name: str) -> None:
        """Remove any injected fault of link ``name``.

        Raises:
            KeyError: no such link.
        """
        self._link(name)
        self.links.pop(name, None)
        self._lab.record("fault", f"link {name} restored")
        self._lab.request_step()

    def take_down(self, name: str) -> None:
        """Power device ``name`` off: it forwards nothing and answers nothing."""
        self._device(name).faults.down = True
        self._lab.record("fault", f"device {name} down")
        self._lab.request_step()

    def set_unreachable(self, name: str, unreachable: bool = True) -> None:
        """Make device ``name``'s management plane answer nothing (it still forwards)."""
        device = self._device(name)
        device.faults.unreachable = unreachable
        device._reachability_changed()
        self._lab.record("fault", f"device {name} {'un' if unreachable else ''}reachable")

    def set_slow(self, name: str, seconds: float) -> None:
        """Delay every SNMP and NETCONF answer of device ``name`` by ``seconds`` (wall).

        Raises:
            ValueError: a negative delay.
        """
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError("the delay must be finite and >= 0")
        self._device(name).faults.slow_s = seconds
        self._lab.record("fault", f"device {name} answers {seconds} s late")

    def fail_next_commit(self, name: str, message: str = "commit failed (injected)") -> None:
        """Make the next commit on device ``name`` fail with ``message``."""
        self._device(name).faults.fail_next_commit = message
        self._lab.record("fault", f"device {name}: next commit fails")

    def reboot(self, name: str, downtime: timedelta = timedelta(minutes=2)) -> None:
        """Reboot device ``name`` (lab time ``downtime``); counters and uptime restart."""
        self._lab.start_reboot(self._device(name), downtime)

    def restore_device(self, name: str) -> None:
        """Clear every injected fault of device ``name`` (a reboot runs to its end)."""
        device = self._device(name)
        ignore = device.faults.ignore_config
        device.faults = DeviceFaults(ignore_config=ignore)
        device._reachability_changed()
        self._lab.record("fault", f"device {name} restored")
        self._lab.request_step()


# The lab calendar's first day. A run is fixed by its topology, scenario, seed and this day:
# with today's date instead, the same seed gave another day of traffic noise every day, and
# tests and benchmark figures changed with the calendar.
LAB_DAY = date(2026, 11, 28)


class LabNetwork:
    """The lab: model, clock, devices and their servers.

    Args:
        spec: topology, demands and power profiles.
        scenario: the scripted events and the lab clock's start and speed; its targets are
            resolved against the topology (:meth:`lab.scenarios.Scenario.resolve`).
        seed: seed of the demand noise and the video sessions.
        speed: lab seconds per wall second (default: the scenario's).
        wall_clock: monotonic wall time in seconds (injectable for tests).
        trap_targets: (host, port) of SNMP trap receivers.
        snmp_v3: serve SNMPv3 (user ``netpilot``, SHA + AES-128) as well as v2c.
        day: the lab calendar day the scenario starts on (default :data:`LAB_DAY`, whatever
            the wall date: the demand noise is drawn per lab instant, so the day is part of
            what a seed reproduces).

    Raises:
        ValueError: the scenario names something the topology does not have.
    """

    def __init__(
        self,
        spec: LabSpec,
        scenario: Scenario,
        *,
        seed: int = 1,
        speed: float | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
        trap_targets: Sequence[tuple[str, int]] = (),
        snmp_v3: bool = True,
        day: date = LAB_DAY,
    ) -> None:
        topology = spec.topology
        self.spec = spec
        self.scenario = scenario.resolve(
            {d.name: (d.role.value, d.site) for d in topology.devices},
            {
                link.name: (
                    topology.device(link.a.device).role.value,
                    topology.device(link.b.device).role.value,
                )
                for link in topology.links
            },
        )
        self.speed = speed if speed is not None else scenario.speed
        self.seed = seed
        self._wall = wall_clock
        self.model = NetworkModel(topology, spec.demands, seed=seed)
        self.lab_start = scenario.start_at(day)
        self._wall_start = wall_clock()
        self.schema = load_lab_schema()
        self.trap_targets = list(trap_targets)
        self.snmp_v3 = snmp_v3
        startup = startup_settings(topology)
        self.devices: dict[str, LabDevice] = {}
        for index, device in enumerate(topology.devices, start=1):
            self.devices[device.name] = LabDevice(
                name=device.name,
                address=device_address(index),
                lab=self,
                settings=startup[device.name],
                counters={p.name: _PortCounters() for p in topology.ports(device.name)},
            )
        self.video = VideoSessions(
            [
                (d.name, d.subscribers, "radio" if d.radio is not None else "fixed")
                for d in topology.devices
            ],
            seed=seed,
        )
        self.faults = LabFaults(self)
        self.state: NetworkState | None = None
        self._probes_state: NetworkState | None = None
        self._probes: dict[str, list[tuple[tuple[str, str, TrafficClass], PathKpi]]] = {}
        self.powers: dict[str, DevicePower] = {}
        self.radios: dict[str, RadioState] = {}
        self.radios_before: dict[str, RadioState] = {}
        self._stepped_at: datetime | None = None
        self._elapsed_before: timedelta | None = None
        self._handled_faults: set[int] = set()
        self._step_now = asyncio.Event()
        self._stepper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.password = ""
        self.community = ""
        self.v3_auth_password = ""
        self.v3_priv_password = ""
        self.steps = 0
        self.step_seconds = 0.0  # wall time spent stepping, for status and benchmarks
        self.events: deque[dict[str, str]] = deque(maxlen=200)
        self.truth_path: Path | None = None
        self._truth_logged: datetime | None = None
        self._servers_started = False

    # ---------------------------------------------------------------- clock and model

    def now(self) -> datetime:
        """The lab clock."""
        return self.lab_start + timedelta(seconds=(self._wall() - self._wall_start) * self.speed)

    def request_step(self) -> None:
        """Re-step the model at once (a configuration or a fault changed)."""
        self._step_now.set()

    def record(self, kind: str, message: str) -> None:
        """Remember a lab event (faults, reboots, traps) for status output."""
        at = self.state.at.isoformat() if self.state is not None else ""
        self.events.append({"at": at, "kind": kind, "message": message})
        log.info("lab %s: %s", kind, message)

    def settings_changed(self, device: LabDevice, previous: DeviceSettings) -> None:
        """A device's running configuration changed: start wake timers, re-step."""
        now = self.now()
        spec = self.spec.topology.device(device.name)
        profile = self.spec.router_profiles[spec.power_profile]
        for port in self.spec.topology.ports(device.name):
            before, after = previous.interface(port.name), device.settings.interface(port.name)
            was_off = before.power_mode is PowerMode.SLEEP or not before.enabled
            is_on = after.power_mode is PowerMode.ACTIVE and after.enabled
            if was_off and is_on and profile.wake_s > 0:
                device.waking_ports[port.name] = now + timedelta(seconds=profile.wake_s)
        if spec.radio is not None:
            for _, carrier in spec.radio.carriers():
                before_mode = previous.carrier(carrier.name).power_mode
                after_mode = device.settings.carrier(carrier.name).power_mode
                if before_mode is PowerMode.SLEEP and after_mode is PowerMode.ACTIVE:
                    radio_profile = self.spec.radio_profiles[carrier.profile or spec.radio.profile]
                    device.waking_carriers[carrier.name] = now + timedelta(
                        seconds=radio_profile.wake_s
                    )
        self.request_step()

    def start_reboot(self, device: LabDevice, downtime: timedelta) -> None:
        """Take ``device`` down for ``downtime`` of lab time; it comes back fresh."""
        now = self.now()
        device.rebooting_until = now + downtime
        for counters in device.counters.values():
            counters.in_octets = counters.out_octets = 0.0
            counters.in_packets = counters.out_packets = 0.0
        device.energy_j = 0.0
        device.booted_at = device.rebooting_until
        device.waking_ports.clear()
        device.waking_carriers.clear()
        self.record("reboot", f"{device.name} reboots for {downtime}")
        server = device.netconf
        if server is not None and server.listening:
            # like a power cycle: sessions end, an unconfirmed commit is rolled back
            self._spawn(server.stop())
        self.request_step()

    def _finish_reboot(self, device: LabDevice) -> None:
        device.rebooting_until = None
        if device.usm is not None:
            device.usm.reboot()
        self.record("reboot", f"{device.name} is back")
        if device.netconf is not None and device.host_key is not None:
            self._spawn(self._restart_netconf(device))
        self._trap(device, COLD_START, ())

    async def _restart_netconf(self, device: LabDevice) -> None:
        server, key = device.netconf, device.host_key
        if server is None or key is None or server.listening:
            return
        await server.start(
            device.address, device.netconf_port, host_key=key, users={LAB_USER: self.password}
        )

    def _spawn(self, coroutine: object) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            return
        assert asyncio.iscoroutine(coroutine)
        task = loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _apply_scenario(self, elapsed: timedelta) -> None:
        before = self._elapsed_before
        for device in self.devices.values():
            device.scenario_down = device.scenario_unreachable = False
            device.scenario_slow_s = 0.0
        for number, fault in enumerate(self.scenario.device_faults()):
            device = self.devices[fault.device]
            crossed = (before is None or before < fault.at) and fault.at <= elapsed
            if fault.kind is DeviceFaultKind.REBOOT:
                if crossed and number not in self._handled_faults:
                    self._handled_faults.add(number)
                    assert fault.until is not None
                    self.start_reboot(device, fault.until - fault.at)
            elif fault.kind is DeviceFaultKind.COMMIT_FAILURE:
                if crossed and number not in self._handled_faults:
                    self._handled_faults.add(number)
                    device.faults.fail_next_commit = (
                        f"commit failed on {device.name} (scenario {self.scenario.name})"
                    )
                    self.record("fault", f"{device.name}: next commit fails")
            elif fault.active(elapsed):
                if fault.kind is DeviceFaultKind.DOWN:
                    device.scenario_down = True
                elif fault.kind is DeviceFaultKind.UNREACHABLE:
                    device.scenario_unreachable = True
                else:
                    device.scenario_slow_s = max(device.scenario_slow_s, fault.delay_s)
        self._elapsed_before = elapsed

    def _conditions(self, now: datetime, elapsed: timedelta) -> NetworkConditions:
        links: dict[str, LinkCondition] = {
            fault.link: LinkCondition(fault.cut, fault.capacity, fault.loss, fault.delay_ms)
            for fault in self.scenario.link_faults(elapsed)
        }
        links.update(self.faults.links)
        ports_down: set[tuple[str, str]] = set()
        for device in self.devices.values():
            for port, until in list(device.waking_ports.items()):
                if until <= now:
                    del device.waking_ports[port]
                else:
                    ports_down.add((device.name, port))
            for carrier, until in list(device.waking_carriers.items()):
                if until <= now:
                    del device.waking_carriers[carrier]
        return NetworkConditions(
            links_down=frozenset(name for name, c in links.items() if c.cut),
            link_capacity={n: c.capacity for n, c in links.items() if not c.cut},
            link_loss={n: c.loss for n, c in links.items() if not c.cut and c.loss},
            link_delay_ms={n: c.delay_ms for n, c in links.items() if not c.cut and c.delay_ms},
            devices_down=frozenset(d.name for d in self.devices.values() if d.down),
            ports_down=frozenset(ports_down),
        )

    def step(self) -> NetworkState:
        """Advance the lab to the lab clock's now (see the module docstring)."""
        started = time.perf_counter()
        now = self.now()
        previous, since = self.state, self._stepped_at
        elapsed_s = 0.0
        if previous is not None and since is not None:
            elapsed_s = max(0.0, (now - since).total_seconds())
            self._integrate(previous, elapsed_s)
        for device in self.devices.values():
            if device.rebooting_until is not None and device.rebooting_until <= now:
                self._finish_reboot(device)
        elapsed = now - self.lab_start
        self._apply_scenario(elapsed)
        for device in self.devices.values():
            device._reachability_changed()
        conditions = self._conditions(now, elapsed)
        settings = {name: device.settings for name, device in self.devices.items()}
        multipliers = self.scenario.multipliers(elapsed)
        site_multipliers = self.scenario.site_multipliers(elapsed)
        state = self.model.step(
            now,
            settings,
            multipliers=multipliers,
            site_multipliers=site_multipliers,
            conditions=conditions,
        )
        self.radios = self._radio_states(state)
        powers = self._power(state)
        self._advance_video(state, elapsed_s, multipliers, site_multipliers)
        if previous is not None:
            self._announce(previous, state, self.powers, powers)
        self.state = state
        self.powers = powers
        self._stepped_at = now
        self.steps += 1
        self._log_truth(now)
        self.step_seconds += time.perf_counter() - started
        return state

    def _integrate(self, previous: NetworkState, elapsed: float) -> None:
        for device in self.devices.values():
            ports = previous.devices[device.name].ports
            for name, counters in device.counters.items():
                port = ports[name]
                counters.out_octets += port.tx_mbps * 1e6 / 8 * elapsed
                counters.in_octets += port.rx_mbps * 1e6 / 8 * elapsed
                counters.out_packets += port.tx_pps * elapsed
                counters.in_packets += port.rx_pps * elapsed
            power = self.powers.get(device.name)
            if power is not None:
                device.energy_j += power.total_w * elapsed

    def _radio_states(self, state: NetworkState) -> dict[str, RadioState]:
        radios: dict[str, RadioState] = {}
        for spec in self.spec.topology.devices:
            if spec.radio is None:
                continue
            device = self.devices[spec.name]
            downlink = state.devices[spec.name].delivered_mbps
            radios[spec.name] = radio_state(
                spec.radio,
                self.spec.radio_profiles,
                device.settings,
                downlink,
                waking=tuple(device.waking_carriers),
                powered=not device.down,
            )
        return radios

    def _power(self, state: NetworkState) -> dict[str, DevicePower]:
        topology = self.spec.topology
        powers: dict[str, DevicePower] = {}
        for spec in topology.devices:
            device = self.devices[spec.name]
            powers[spec.name] = device_power(
                spec,
                topology,
                self.spec.router_profiles[spec.power_profile],
                state.devices[spec.name],
                device.settings,
                waking_ports=tuple(device.waking_ports),
                radio=self.radios.get(spec.name),
                powered=not device.down,
            )
        return powers

    def _advance_video(
        self,
        state: NetworkState,
        elapsed_s: float,
        multipliers: dict[TrafficClass, float],
        site_multipliers: dict[tuple[str, TrafficClass], float],
    ) -> None:
        if not self.video.size:
            return
        topology = self.spec.topology
        profile = self.model.profiles.get(TrafficClass.VIDEO)
        factor = profile.at(state.at) if profile is not None else 1.0
        class_factor = multipliers.get(TrafficClass.VIDEO, 1.0)
        offered: dict[str, float] = {}
        delivered: dict[str, float] = {}
        latency: dict[str, float] = {}
        loss: dict[str, float] = {}
        for (origin, destination, cls), flow in state.flows.items():
            if cls is not TrafficClass.VIDEO:
                continue
            offered[destination] = offered.get(destination, 0.0) + flow.offered_mbps
            delivered[destination] = delivered.get(destination, 0.0) + flow.delivered_mbps
            kpi = state.paths[(origin, destination, cls)]
            weight = flow.offered_mbps
            if math.isfinite(kpi.latency_ms):
                latency[destination] = latency.get(destination, 0.0) + kpi.latency_ms * weight
            loss[destination] = loss.get(destination, 0.0) + kpi.loss_ratio * weight
        conditions: dict[str, NodeConditions] = {}
        for name in self.video.nodes:
            device = self.devices[name]
            spec = topology.device(name)
            node_offered = offered.get(name, 0.0)
            if device.down or node_offered <= 0:
                if device.down:
                    continue
                supply, rtt, path_loss = 1.0, 20.0, 0.0
            else:
                supply = delivered.get(name, 0.0) / node_offered
                rtt = 2 * latency.get(name, 0.0) / node_offered
                path_loss = loss.get(name, 0.0) / node_offered
            radio = self.radios.get(name)
            if radio is not None:
                supply *= radio.served_ratio
                path_loss = 1 - (1 - path_loss) * radio.served_ratio
            conditions[name] = NodeConditions(
                supply_ratio=supply,
                rtt_ms=rtt,
                loss=min(0.5, path_loss),
                multiplier=class_factor
                * site_multipliers.get((spec.site, TrafficClass.VIDEO), 1.0),
                access="radio" if spec.radio is not None else "fixed",
            )
        settings = {name: self.devices[name].settings for name in self.video.nodes}
        self.video.advance(elapsed_s, factor, conditions, settings)

    def _announce(
        self,
        before: NetworkState,
        after: NetworkState,
        powers_before: dict[str, DevicePower],
        powers_after: dict[str, DevicePower],
    ) -> None:
        for name, device in self.devices.items():
            if device.down:
                continue
            old_ports, new_ports = before.devices[name].ports, after.devices[name].ports
            for port_name, port in new_ports.items():
                if old_ports[port_name].oper_up == port.oper_up:
                    continue
                status = "up" if port.oper_up else "down"
                admin_up = device.settings.interface(port_name).enabled
                self._trap(
                    device,
                    LINK_UP if port.oper_up else LINK_DOWN,
                    (
                        (_IF_INDEX + (port.if_index,), Integer(port.if_index)),
                        (_IF_ADMIN + (port.if_index,), Integer(1 if admin_up else 2)),
                        (_IF_OPER + (port.if_index,), Integer(1 if port.oper_up else 2)),
                    ),
                )
                self._notify(
                    device, "link-state-change", {"interface": port_name, "oper-status": status}
                )
            old_power, new_power = powers_before.get(name), powers_after.get(name)
            if old_power is None or new_power is None:
                continue
            old_states = _component_states(old_power, self.radios_before.get(name))
            new_states = _component_states(new_power, self.radios.get(name))
            for component, power_state in new_states.items():
                if old_states.get(component) not in (None, power_state):
                    self._notify(
                        device,
                        "power-state-change",
                        {"component": component, "power-state": power_state.value},
                    )
        self.radios_before = dict(self.radios)

    def _trap(
        self, device: LabDevice, trap_oid: Oid, varbinds: Sequence[tuple[Oid, Value]]
    ) -> None:
        agent = device.snmp
        if agent is None or not self.trap_targets:
            return
        for target in self.trap_targets:
            try:
                agent.send_trap(target, self.community, trap_oid, varbinds)
            except (OSError, RuntimeError) as exc:
                log.warning("%s: trap to %s failed: %s", device.name, target, exc)

    def _notify(self, device: LabDevice, name: str, values: dict[str, str]) -> None:
        server = device.netconf
        if server is not None and server.listening:
            server.notify(name, values)

    def _log_truth(self, now: datetime) -> None:
        if self.truth_path is None or not self.video.size:
            return
        if self._truth_logged is not None and now - self._truth_logged < _TRUTH_EVERY:
            return
        self._truth_logged = now
        record = {
            "at": now.isoformat(),
            "nodes": {
                node: {
                    "sessions": truth.sessions,
                    "stalls": truth.stalls,
                    "stall_s": round(truth.stall_s, 1),
                    "play_s": round(truth.play_s, 1),
                    "stall_ratio": round(truth.stall_ratio, 5),
                    "startup_s_mean": round(truth.startup_s_mean, 2),
                    "mean_bitrate_mbps": round(truth.mean_bitrate_mbps, 3),
                    "switches": truth.switches,
                }
                for node, truth in self.video_truth().items()
            },
        }
        with self.truth_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    async def _run_steps(self) -> None:
        interval = STEP_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._step_now.wait(), timeout=interval)
            self._step_now.clear()
            started = time.perf_counter()
            try:
                self.step()
            except Exception:
                # A failed step must not end the lab's clock: the devices would keep serving
                # a frozen network and nobody would know why. Log it and step again.
                log.exception("lab model step failed; stepping continues")
            cost = time.perf_counter() - started
            interval = max(STEP_INTERVAL, cost / _STEP_CPU_SHARE)

    # ---------------------------------------------------------------- what devices serve

    def _current(self) -> NetworkState:
        if self.state is None:
            return self.step()
        return self.state

    def video_truth(self) -> dict[str, NodeTruth]:
        """Ground truth of every access node's video sessions (never served to devices)."""
        return {node: self.video.truth(node) for node in self.video.nodes}

    def _components(self, name: str) -> tuple[int, tuple[PowerComponent, ...]]:
        device = self.devices[name]
        cached = device._snapshot_cache
        if cached is not None and cached[0] == self.steps:
            return cached[1], cached[2]
        power = self.powers.get(name)
        rows: list[PowerComponent] = []
        total_mw = 0
        if power is not None:
            total_mw = round(power.total_w * 1000)
            chassis_state = 4 if device.down else 1
            rows.append(
                PowerComponent(1, "chassis", 1, chassis_state, round(power.chassis_w * 1000))
            )
            for card in power.cards:
                rows.append(
                    PowerComponent(
                        len(rows) + 1,
                        card.name,
                        2,
                        _STATE_CODE[card.power_state],
                        round(card.watts * 1000),
                    )
                )
            for port in power.ports:
                rows.append(
                    PowerComponent(
                        len(rows) + 1,
                        port.name,
                        3,
                        _STATE_CODE[port.power_state],
                        round(port.watts * 1000),
                    )
                )
            radio = self.radios.get(name)
            for carrier in radio.carriers if radio is not None else ():
                rows.append(
                    PowerComponent(
                        len(rows) + 1,
                        carrier.name,
                        4,
                        _STATE_CODE[carrier.power_state],
                        round(carrier.watts * 1000),
                    )
                )
        components = tuple(rows)
        device._snapshot_cache = (self.steps, total_mw, components)
        return total_mw, components

    def snmp_snapshot(self, name: str) -> AgentSnapshot:
        """MIB values of one device now, counters interpolated since the last step."""
        state = self._current()
        now = self.now()
        since = self._stepped_at or now
        elapsed = max(0.0, (now - since).total_seconds())
        device = self.devices[name]
        ports = state.devices[name].ports
        rows = []
        for spec in self.spec.topology.ports(name):
            port = ports[spec.name]
            counters = device.counters[spec.name]
            rows.append(
                InterfaceCounters(
                    index=spec.if_index,
                    name=spec.name,
                    alias=f"to {spec.peer.device}:{spec.peer.port}",
                    speed_mbps=int(spec.link.capacity_mbps),
                    admin_up=device.settings.interface(spec.name).enabled,
                    oper_up=port.oper_up,
                    in_octets=int(counters.in_octets + port.rx_mbps * 1e6 / 8 * elapsed),
                    out_octets=int(counters.out_octets + port.tx_mbps * 1e6 / 8 * elapsed),
                    in_packets=int(counters.in_packets + port.rx_pps * elapsed),
                    out_packets=int(counters.out_packets + port.tx_pps * elapsed),
                )
            )
        booted = device.booted_at or self.lab_start
        uptime = max(0, int((now - booted).total_seconds() * 100))
        power_mw, components = self._components(name)
        power = self.powers.get(name)
        energy = device.energy_j + (power.total_w * elapsed if power is not None else 0.0)
        return AgentSnapshot(
            sys_name=name,
            sys_descr=f"netpilot lab device {name} ({self.spec.topology.device(name).role})",
            uptime_ticks=uptime,
            interfaces=tuple(rows),
            power_mw=power_mw,
            energy_j=int(energy),
            components=components,
        )

    def _probes_of(
        self, state: NetworkState
    ) -> dict[str, list[tuple[tuple[str, str, TrafficClass], PathKpi]]]:
        """The state's path KPIs by source device, sorted, computed once per model step
        (every device's ``<get>`` reads its own; scanning all paths each time made a
        1,000-device lab's state reads quadratic)."""
        if self._probes_state is not state:
            index: dict[str, list[tuple[tuple[str, str, TrafficClass], PathKpi]]] = {}
            for key, kpi in sorted(
                state.paths.items(), key=lambda item: (item[0][0], item[0][1], item[0][2].value)
            ):
                index.setdefault(key[0], []).append((key, kpi))
            self._probes_state, self._probes = state, index
        return self._probes

    def state_element(self, name: str) -> ET.Element:
        """The ``netpilot-lab`` ``<state>`` container of one device."""
        state = self._current()
        q = f"{{{NAMESPACE}}}"
        root = ET.Element(f"{q}state")
        ET.SubElement(root, f"{q}clock").text = state.at.isoformat()
        power = self.powers.get(name)
        port_power = {p.name: p for p in power.ports} if power is not None else {}
        for port_name, port in sorted(state.devices[name].ports.items()):
            itf = ET.SubElement(root, f"{q}interface")
            ET.SubElement(itf, f"{q}name").text = port_name
            ET.SubElement(itf, f"{q}oper-status").text = "up" if port.oper_up else "down"
            ET.SubElement(itf, f"{q}speed-mbps").text = str(int(port.capacity_mbps))
            ET.SubElement(itf, f"{q}utilization").text = _ratio(port.utilization)
            pp = port_power.get(port_name)
            if pp is not None:
                ET.SubElement(itf, f"{q}power-state").text = pp.power_state.value
                ET.SubElement(itf, f"{q}power-watts").text = f"{pp.watts:.3f}"
                ET.SubElement(itf, f"{q}line-card").text = pp.line_card
            for cls in TrafficClass:
                stats = port.classes.get(cls)
                if stats is None:
                    continue
                entry = ET.SubElement(itf, f"{q}class")
                ET.SubElement(entry, f"{q}name").text = cls.value
                ET.SubElement(entry, f"{q}offered-mbps").text = f"{stats.offered_mbps:.3f}"
                ET.SubElement(entry, f"{q}queue-delay-ms").text = f"{stats.queue_delay_ms:.3f}"
                ET.SubElement(entry, f"{q}drop-ratio").text = _ratio(stats.drop_ratio)
        for (_, destination, cls), kpi in self._probes_of(state).get(name, ()):
            probe = ET.SubElement(root, f"{q}probe")
            ET.SubElement(probe, f"{q}destination").text = destination
            ET.SubElement(probe, f"{q}class").text = cls.value
            if kpi.latency_ms != float("inf"):
                ET.SubElement(probe, f"{q}latency-ms").text = f"{kpi.latency_ms:.3f}"
            ET.SubElement(probe, f"{q}loss-ratio").text = _ratio(kpi.loss_ratio)
        if power is not None:
            self._power_element(root, name, power)
        self._radio_elements(root, name)
        self._subscriber_elements(root, name)
        return root

    def _power_element(self, root: ET.Element, name: str, power: DevicePower) -> None:
        q = f"{{{NAMESPACE}}}"
        device = self.devices[name]
        container = ET.SubElement(root, f"{q}power")
        ET.SubElement(container, f"{q}total-watts").text = f"{power.total_w:.3f}"
        ET.SubElement(container, f"{q}chassis-watts").text = f"{power.chassis_w:.3f}"
        ET.SubElement(container, f"{q}radio-watts").text = f"{power.radio_w:.3f}"
        since = (self.now() - self._stepped_at).total_seconds() if self._stepped_at else 0.0
        energy = device.energy_j + power.total_w * max(0.0, since)
        ET.SubElement(container, f"{q}energy-joules").text = str(int(energy))
        for card in power.cards:
            entry = ET.SubElement(container, f"{q}line-card")
            ET.SubElement(entry, f"{q}name").text = card.name
            ET.SubElement(entry, f"{q}power-state").text = card.power_state.value
            ET.SubElement(entry, f"{q}watts").text = f"{card.watts:.3f}"

    def _radio_elements(self, root: ET.Element, name: str) -> None:
        q = f"{{{NAMESPACE}}}"
        radio = self.radios.get(name)
        for carrier in radio.carriers if radio is not None else ():
            entry = ET.SubElement(root, f"{q}carrier")
            ET.SubElement(entry, f"{q}name").text = carrier.name
            ET.SubElement(entry, f"{q}cell").text = carrier.cell
            ET.SubElement(entry, f"{q}power-state").text = carrier.power_state.value
            ET.SubElement(entry, f"{q}capacity-mbps").text = f"{carrier.capacity_mbps:.3f}"
            ET.SubElement(entry, f"{q}load").text = _ratio(carrier.load)
            ET.SubElement(entry, f"{q}watts").text = f"{carrier.watts:.3f}"

    def _subscriber_elements(self, root: ET.Element, name: str) -> None:
        q = f"{{{NAMESPACE}}}"
        if name not in self.video.nodes:
            return
        for features in self.video.features(name):
            entry = ET.SubElement(root, f"{q}subscriber")
            ET.SubElement(entry, f"{q}id").text = features.subscriber
            ET.SubElement(entry, f"{q}throughput-mbps").text = f"{features.throughput_mbps:.3f}"
            ET.SubElement(entry, f"{q}rtt-ms").text = f"{features.rtt_ms:.3f}"
            ET.SubElement(entry, f"{q}retransmission-ratio").text = _ratio(
                features.retransmission_ratio
            )
            ET.SubElement(entry, f"{q}bytes").text = str(features.bytes)
            ET.SubElement(entry, f"{q}mean-request-bytes").text = str(features.mean_request_bytes)
            ET.SubElement(
                entry, f"{q}request-interval-ms"
            ).text = f"{features.request_interval_ms:.3f}"
            ET.SubElement(entry, f"{q}active-ratio").text = _ratio(features.active_ratio)

    def status(self, *, detail: bool = True) -> dict[str, object]:
        """What the lab is doing, as plain data (for ``lab up`` and the demo summary).

        Args:
            detail: include per-link utilisation and per-path video latency (large for a
                big topology).

        Returns:
            Scenario, clock, load, power (total, routers, radio), video ground truth,
            faults and recent events.
        """
        state = self._current()
        result: dict[str, object] = {
            "scenario": self.scenario.name,
            "speed": self.speed,
            "lab_time": state.at.isoformat(),
            "steps": self.steps,
        }
        if detail:
            links = {}
            for link in self.spec.topology.links:
                a = state.port(link.a.device, link.a.port)
                b = state.port(link.b.device, link.b.port)
                links[link.name] = round(max(a.utilization, b.utilization), 4)
            result["link_utilization"] = links
            result["video_latency_ms"] = {
                f"{s}->{d} {c.value}": round(k.latency_ms, 3)
                for (s, d, c), k in sorted(
                    state.paths.items(), key=lambda i: (i[0][0], i[0][1], i[0][2].value)
                )
                if c is TrafficClass.VIDEO
            }
        offered = sum(f.offered_mbps for f in state.flows.values())
        delivered = sum(f.delivered_mbps for f in state.flows.values())
        utilisations = [
            p.utilization for d in state.devices.values() for p in d.ports.values() if p.oper_up
        ]
        radio_w = sum(p.radio_w for p in self.powers.values())
        total_w = sum(p.total_w for p in self.powers.values())
        truths = self.video_truth().values()
        stall_s = sum(t.stall_s for t in truths)
        play_s = sum(t.play_s for t in truths)
        result["load"] = {
            "offered_gbps": round(offered / 1000, 3),
            "delivered_gbps": round(delivered / 1000, 3),
            "max_link_utilization": round(max(utilisations, default=0.0), 4),
        }
        result["power"] = {
            "total_kw": round(total_w / 1000, 3),
            "routers_kw": round((total_w - radio_w) / 1000, 3),
            "radio_kw": round(radio_w / 1000, 3),
            "radio_share": round(radio_w / total_w, 3) if total_w else 0.0,
        }
        result["video"] = {
            "sessions": sum(t.sessions for t in truths),
            "stalls": sum(t.stalls for t in truths),
            "stall_ratio": round(stall_s / (stall_s + play_s), 5) if stall_s + play_s else 0.0,
        }
        result["faults"] = self._fault_summary()
        result["events"] = list(self.events)[-10:]
        return result

    def _fault_summary(self) -> list[str]:
        elapsed = (self.state.at if self.state else self.now()) - self.lab_start
        faults = [
            f"link {name}: "
            + ("cut" if c.cut else f"capacity x{c.capacity:g}, loss {c.loss:g}, +{c.delay_ms:g} ms")
            for name, c in sorted(self.faults.links.items())
        ]
        faults += [f"link {f.link}: scenario" for f in self.scenario.link_faults(elapsed)]
        for device in self.devices.values():
            flags = [
                label
                for label, on in (
                    ("rebooting", device.rebooting_until is not None),
                    ("down", device.faults.down or device.scenario_down),
                    ("unreachable", device.faults.unreachable or device.scenario_unreachable),
                    (f"slow {device.slow_s:g}s", device.slow_s > 0),
                    ("next commit fails", device.faults.fail_next_commit is not None),
                )
                if on
            ]
            if flags:
                faults.append(f"device {device.name}: {', '.join(flags)}")
        return faults

    # ---------------------------------------------------------------- life cycle

    async def start(
        self,
        state_dir: Path,
        *,
        netconf_port: int = 0,
        snmp_port: int = 0,
        host_key: asyncssh.SSHKey | None = None,
    ) -> None:
        """Start every device's servers and write the lab's keys and credentials.

        Args:
            state_dir: gets ``known_hosts``, ``secrets/`` (owner-only files) and the video
                ground-truth log.
            netconf_port: NETCONF port on every device address (0: one chosen by the OS).
            snmp_port: SNMP port on every device address (0: one chosen by the OS).
            host_key: one SSH host key for every device (default: one key per device).
        """
        self.password = secrets.token_urlsafe(16)
        self.community = secrets.token_urlsafe(12)
        self.v3_auth_password = secrets.token_urlsafe(12)
        self.v3_priv_password = secrets.token_urlsafe(12)
        user = (
            UsmUser.from_passwords(SNMP_V3_USER, self.v3_auth_password, self.v3_priv_password)
            if self.snmp_v3
            else None
        )
        state_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start-up
        self.truth_path = state_dir / "video-truth.jsonl"
        self._wall_start = self._wall()
        self.step()
        try:
            for device in self.devices.values():
                device.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
                device.netconf = LabNetconfServer(
                    device.name,
                    self.schema,
                    device,
                    initial_config=_startup_config(device.settings),
                    gate=device.gate,
                    clock=self.now,
                )
                device.netconf_port = await device.netconf.start(
                    device.address,
                    netconf_port,
                    host_key=device.host_key,
                    users={LAB_USER: self.password},
                )
                if user is not None:
                    device.usm = UsmAgent(
                        engine_id_for(device.name), {user.name: user}, clock=self._wall
                    )
                device.snmp = LabSnmpAgent(
                    device,
                    community=self.community,
                    extra_objects=power_objects(),
                    usm=device.usm,
                    admission=device.admission,
                )
                device.snmp_port = await device.snmp.start(device.address, snmp_port)
        except BaseException:
            await self.stop()
            raise
        self._write_access_files(state_dir)
        self._stepper = asyncio.create_task(self._run_steps(), name="lab-steps")

    def _write_access_files(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for device in self.devices.values():
            assert device.host_key is not None
            public = device.host_key.export_public_key("openssh").decode().split()
            lines.append(f"[{device.address}]:{device.netconf_port} {public[0]} {public[1]}\n")
        (state_dir / "known_hosts").write_text("".join(lines), encoding="utf-8")
        secrets_dir = state_dir / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        for name, value in (
            ("netconf-password", self.password),
            ("snmp-community", self.community),
            ("snmp-v3-auth", self.v3_auth_password),
            ("snmp-v3-priv", self.v3_priv_password),
        ):
            path = secrets_dir / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value + "\n")
            path.chmod(0o600)

    async def stop(self) -> None:
        """Stop the stepping task and every server.

        Every server is stopped even when the stepping task or another server fails to stop:
        a failure is logged, never raised, because stop() runs on the way out of an error
        and must not hide it or leave listening sockets behind.
        """
        stepper, self._stepper = self._stepper, None
        if stepper is not None:
            stepper.cancel()
            try:
                await stepper
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("lab stepping task had failed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for device in self.devices.values():
            device.faults.unreachable = False
            device._reachability_changed()
            netconf, device.netconf = device.netconf, None
            snmp, device.snmp = device.snmp, None
            for server in (netconf, snmp):
                if server is None:
                    continue
                try:
                    await server.stop()
                except Exception:
                    log.exception("%s: stopping %s failed", device.name, type(server).__name__)


def _component_states(power: DevicePower, radio: RadioState | None) -> dict[str, PowerState]:
    states = {port.name: port.power_state for port in power.ports}
    states.update({card.name: card.power_state for card in power.cards})
    if radio is not None:
        states.update({carrier.name: carrier.power_state for carrier in radio.carriers})
    return states


def _ratio(value: float) -> str:
    return f"{min(1.0, max(0.0, value)):.6f}"


def _startup_config(settings: DeviceSettings) -> ET.Element:
    """The device's startup configuration: its interfaces with their link metrics."""
    config = ET.Element(f"{{{NC_NS}}}config")
    interfaces = ET.SubElement(config, f"{{{NAMESPACE}}}interfaces")
    for name, itf in sorted(settings.interfaces.items()):
        entry = ET.SubElement(interfaces, f"{{{NAMESPACE}}}interface")
        ET.SubElement(entry, f"{{{NAMESPACE}}}name").text = name
        if itf.metric != 10:
            ET.SubElement(entry, f"{{{NAMESPACE}}}metric").text = str(itf.metric)
    return config


def write_inventory(lab: LabNetwork, state_dir: Path) -> Path:
    """Write ``inventory.yaml``: every device with its address, ports and credential files.

    Returns:
        The path of ``inventory.yaml`` (next to ``known_hosts`` and ``secrets/``).
    """
    secrets_dir = state_dir / "secrets"
    topology = lab.spec.topology
    inventory = {
        "defaults": {
            "netconf": {
                "username": LAB_USER,
                "password": {"file": str(secrets_dir / "netconf-password")},
                "knownHosts": str(state_dir / "known_hosts"),
                "timeoutSeconds": 10,
            },
            "snmp": {
                "community": {"file": str(secrets_dir / "snmp-community")},
                "timeoutSeconds": 1,
                "retries": 1,
            },
        },
        "devices": [
            {
                "name": device.name,
                "address": device.address,
                "labels": {
                    "site": topology.device(device.name).site,
                    "role": str(topology.device(device.name).role.value),
                },
                "netconf": {"port": device.netconf_port},
                "snmp": {"port": device.snmp_port},
            }
            for device in lab.devices.values()
        ],
    }
    path = state_dir / "inventory.yaml"
    path.write_text(
        "# written by the netpilot embedded lab\n" + yaml.safe_dump(inventory, sort_keys=False),
        encoding="utf-8",
    )
    return path
