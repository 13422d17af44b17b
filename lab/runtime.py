"""The running lab: emulated devices behind real NETCONF (SSH) and SNMP (UDP) servers.

Each device gets its own loopback address (127.1.x.y) and runs a :class:`LabNetconfServer`
and a :class:`LabSnmpAgent` there. A stepping task advances the network model on the lab
clock (``speed`` lab seconds per wall second) and integrates each port's rates into its
octet counters, so counters and ``sysUpTime`` follow lab time and a controller computing
rates on the agent's time base needs no special mode. A commit on a device re-steps the
model at once, so the effect of a change shows on the next read.

The controller never imports this module: :func:`write_inventory` writes an ordinary
inventory (with an SSH ``known_hosts`` file and owner-only credential files) that the
controller reads like any operator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import yaml

from lab.backend import AgentSnapshot, InterfaceCounters
from lab.config import NAMESPACE, DeviceSettings, TrafficClass, parse_running
from lab.netconf_server import LabNetconfServer
from lab.network import NetworkModel, NetworkState
from lab.scenarios import Scenario
from lab.snmp_agent import LabSnmpAgent
from lab.topology import LabSpec, startup_settings
from lab.yang_schema import load_lab_schema

__all__ = ["LabDevice", "LabNetwork", "device_address", "write_inventory"]

log = logging.getLogger("netpilot.lab")

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
LAB_USER = "netpilot"
STEP_INTERVAL = 0.5  # wall seconds between model steps: smooth enough for 1 s polling


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
    """Faults a test or a scenario can inject into one device."""

    ignore_config: bool = False  # commits land in the datastore but the network ignores them
    fail_next_commit: str | None = None


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

    # ---------------------------------------------------------------- NetconfBackend

    def running_changed(self, running: ET.Element) -> None:
        if self.faults.ignore_config:
            log.info("%s: commit ignored by the network (fault injected)", self.name)
            return
        self.settings = parse_running(running)
        self.lab.request_step()

    def operational_state(self) -> ET.Element:
        return self.lab.state_element(self.name)

    def commit_should_fail(self) -> str | None:
        message, self.faults.fail_next_commit = self.faults.fail_next_commit, None
        return message

    # ---------------------------------------------------------------- SnmpBackend

    def snmp_snapshot(self) -> AgentSnapshot:
        return self.lab.snmp_snapshot(self.name)


class LabNetwork:
    """The lab: model, clock, devices and their servers.

    Args:
        spec: topology and demands.
        scenario: the scripted events and the lab clock's start and speed.
        seed: demand noise seed.
        speed: lab seconds per wall second (default: the scenario's).
        wall_clock: monotonic wall time in seconds (injectable for tests).
    """

    def __init__(
        self,
        spec: LabSpec,
        scenario: Scenario,
        *,
        seed: int = 1,
        speed: float | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.scenario = scenario
        self.speed = speed if speed is not None else scenario.speed
        self._wall = wall_clock
        self.model = NetworkModel(spec.topology, spec.demands, seed=seed)
        self.lab_start = scenario.start_at(datetime.now(UTC).date())
        self._wall_start = wall_clock()
        self.schema = load_lab_schema()
        startup = startup_settings(spec.topology)
        self.devices: dict[str, LabDevice] = {}
        for index, device in enumerate(spec.topology.devices, start=1):
            self.devices[device.name] = LabDevice(
                name=device.name,
                address=device_address(index),
                lab=self,
                settings=startup[device.name],
                counters={p.name: _PortCounters() for p in spec.topology.ports(device.name)},
            )
        self.state: NetworkState | None = None
        self._stepped_at: datetime | None = None
        self._step_now = asyncio.Event()
        self._stepper: asyncio.Task[None] | None = None
        self.password = ""
        self.community = ""
        self.steps = 0

    # ---------------------------------------------------------------- clock and model

    def now(self) -> datetime:
        """The lab clock."""
        return self.lab_start + timedelta(seconds=(self._wall() - self._wall_start) * self.speed)

    def request_step(self) -> None:
        """Re-step the model at once (a configuration changed)."""
        self._step_now.set()

    def step(self) -> NetworkState:
        """Advance the model to the lab clock's now and integrate the counters."""
        now = self.now()
        previous, since = self.state, self._stepped_at
        if previous is not None and since is not None:
            elapsed = max(0.0, (now - since).total_seconds())
            for device in self.devices.values():
                ports = previous.devices[device.name].ports
                for name, counters in device.counters.items():
                    port = ports[name]
                    counters.out_octets += port.tx_mbps * 1e6 / 8 * elapsed
                    counters.in_octets += port.rx_mbps * 1e6 / 8 * elapsed
                    counters.out_packets += port.tx_pps * elapsed
                    counters.in_packets += port.rx_pps * elapsed
        settings = {name: device.settings for name, device in self.devices.items()}
        multipliers = self.scenario.multipliers(now - self.lab_start)
        self.state = self.model.step(now, settings, multipliers=multipliers)
        self._stepped_at = now
        self.steps += 1
        return self.state

    async def _run_steps(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._step_now.wait(), timeout=STEP_INTERVAL)
            self._step_now.clear()
            try:
                self.step()
            except Exception:
                # A failed step must not end the lab's clock: the devices would keep serving
                # a frozen network and nobody would know why. Log it and step again.
                log.exception("lab model step failed; stepping continues")

    # ---------------------------------------------------------------- what devices serve

    def _current(self) -> NetworkState:
        if self.state is None:
            return self.step()
        return self.state

    def snmp_snapshot(self, name: str) -> AgentSnapshot:
        """IF-MIB values of one device now, counters interpolated since the last step."""
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
        uptime = int((now - self.lab_start).total_seconds() * 100)
        return AgentSnapshot(
            sys_name=name,
            sys_descr=f"netpilot lab device {name} ({self.spec.topology.device(name).role})",
            uptime_ticks=uptime,
            interfaces=tuple(rows),
        )

    def state_element(self, name: str) -> ET.Element:
        """The ``netpilot-lab`` ``<state>`` container of one device."""
        state = self._current()
        q = f"{{{NAMESPACE}}}"
        root = ET.Element(f"{q}state")
        ET.SubElement(root, f"{q}clock").text = state.at.isoformat()
        for port_name, port in sorted(state.devices[name].ports.items()):
            itf = ET.SubElement(root, f"{q}interface")
            ET.SubElement(itf, f"{q}name").text = port_name
            ET.SubElement(itf, f"{q}oper-status").text = "up" if port.oper_up else "down"
            ET.SubElement(itf, f"{q}speed-mbps").text = str(int(port.capacity_mbps))
            ET.SubElement(itf, f"{q}utilization").text = _ratio(port.utilization)
            for cls in TrafficClass:
                stats = port.classes.get(cls)
                if stats is None:
                    continue
                entry = ET.SubElement(itf, f"{q}class")
                ET.SubElement(entry, f"{q}name").text = cls.value
                ET.SubElement(entry, f"{q}offered-mbps").text = f"{stats.offered_mbps:.3f}"
                ET.SubElement(entry, f"{q}queue-delay-ms").text = f"{stats.queue_delay_ms:.3f}"
                ET.SubElement(entry, f"{q}drop-ratio").text = _ratio(stats.drop_ratio)
        for (source, destination, cls), kpi in sorted(
            state.paths.items(), key=lambda item: (item[0][0], item[0][1], item[0][2].value)
        ):
            if source != name:
                continue
            probe = ET.SubElement(root, f"{q}probe")
            ET.SubElement(probe, f"{q}destination").text = destination
            ET.SubElement(probe, f"{q}class").text = cls.value
            if kpi.latency_ms != float("inf"):
                ET.SubElement(probe, f"{q}latency-ms").text = f"{kpi.latency_ms:.3f}"
            ET.SubElement(probe, f"{q}loss-ratio").text = _ratio(kpi.loss_ratio)
        return root

    def status(self) -> dict[str, object]:
        """What the lab is doing, as plain data (for ``lab up`` and the demo summary)."""
        state = self._current()
        links = {}
        for link in self.spec.topology.links:
            a = state.port(link.a.device, link.a.port)
            b = state.port(link.b.device, link.b.port)
            links[link.name] = round(max(a.utilization, b.utilization), 4)
        probes = {
            f"{s}->{d} {c.value}": round(k.latency_ms, 3)
            for (s, d, c), k in sorted(
                state.paths.items(), key=lambda i: (i[0][0], i[0][1], i[0][2].value)
            )
            if c is TrafficClass.VIDEO
        }
        return {
            "scenario": self.scenario.name,
            "speed": self.speed,
            "lab_time": state.at.isoformat(),
            "steps": self.steps,
            "link_utilization": links,
            "video_latency_ms": probes,
        }

    # ---------------------------------------------------------------- life cycle

    async def start(self, state_dir: Path, *, netconf_port: int = 0, snmp_port: int = 0) -> None:
        """Start every device's servers and write the lab's keys and credentials.

        Args:
            state_dir: gets ``known_hosts`` and ``secrets/`` (owner-only files).
            netconf_port: NETCONF port on every device address (0: one chosen by the OS).
            snmp_port: SNMP port on every device address (0: one chosen by the OS).
        """
        self.password = secrets.token_urlsafe(16)
        self.community = secrets.token_urlsafe(12)
        self._wall_start = self._wall()
        self.step()
        try:
            for device in self.devices.values():
                device.host_key = asyncssh.generate_private_key("ssh-ed25519")
                device.netconf = LabNetconfServer(
                    device.name,
                    self.schema,
                    device,
                    initial_config=_startup_config(device.settings),
                )
                device.netconf_port = await device.netconf.start(
                    device.address,
                    netconf_port,
                    host_key=device.host_key,
                    users={LAB_USER: self.password},
                )
                device.snmp = LabSnmpAgent(device, community=self.community)
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
        for device in self.devices.values():
            netconf, device.netconf = device.netconf, None
            snmp, device.snmp = device.snmp, None
            for server in (netconf, snmp):
                if server is None:
                    continue
                try:
                    await server.stop()
                except Exception:
                    log.exception("%s: stopping %s failed", device.name, type(server).__name__)


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
