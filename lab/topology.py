"""The lab network's topology: devices, links and traffic demands, and their YAML loader.

A topology file is one YAML mapping::

    name: four-router               # optional
    description: ...                # optional
    devices:
      - {name: r1, role: edge, site: west}
    links:
      - name: r1-r2                 # optional, defaults to "<a.device>-<b.device>"
        a: {device: r1, port: eth1}
        b: {device: r2, port: eth1}
        capacity_mbps: 10000        # > 0
        delay_ms: 1.0               # one-way propagation delay, >= 0 (default 0)
        metric: 10                  # startup routing metric of both ends, 1..65535 (default 10)
    demands:                        # optional: the traffic the lab offers
      - {origin: r1, destination: r4, class: video, peak_mbps: 420}

The demands live in the topology file because a demand is only meaningful between the
devices of one topology, and one file keeps a lab reproducible; :func:`load_lab` returns both,
:func:`load_topology` only the topology. ``peak_mbps`` is the rate at the class's daily peak;
the daily profile, noise and scenario multipliers of :mod:`lab.traffic` scale it.

The ``metric`` of a link is the value the lab writes into both ends' startup configuration
(:func:`startup_settings`); at run time routing follows the devices' running configuration,
so a controller that changes a metric over NETCONF reroutes traffic.

Errors name the file, the 1-based line and the field (:class:`TopologyError`); unknown fields,
duplicate names, links to unknown devices, reused ports and non-positive capacities are
refused, so a typo never silently becomes a different network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import yaml

from lab.config import DeviceSettings, InterfaceSettings, TrafficClass
from lab.equipment import (
    BUILTIN_RADIO_PROFILES,
    BUILTIN_ROUTER_PROFILES,
    CarrierLayer,
    CarrierSpec,
    CellSpec,
    LineCardSpec,
    RadioPowerProfile,
    RadioSpec,
    RouterPowerProfile,
    default_router_profile,
)
from lab.traffic import Demand

__all__ = [
    "DEFAULT_TOPOLOGY_PATH",
    "METRO_TOPOLOGY_PATH",
    "TOPOLOGIES_DIR",
    "DeviceSpec",
    "LabSpec",
    "Link",
    "LinkEnd",
    "PortSpec",
    "Role",
    "Topology",
    "TopologyError",
    "default_lab",
    "default_topology",
    "load_named_lab",
    "metro_lab",
    "topology_names",
    "load_lab",
    "load_topology",
    "parse_lab",
    "startup_settings",
]

TOPOLOGIES_DIR = Path(__file__).parent / "topologies"
DEFAULT_TOPOLOGY_PATH = TOPOLOGIES_DIR / "four-router.yaml"
METRO_TOPOLOGY_PATH = TOPOLOGIES_DIR / "metro.yaml"

_METRIC_MIN, _METRIC_MAX = 1, 65535  # the YANG module's range for interface metric


class TopologyError(ValueError):
    """A topology file is invalid.

    Args:
        path: the file.
        line: 1-based line of the offending YAML node, if known.
        field: dotted path of the offending field (``links[2].capacity_mbps``), if known.
        message: what is wrong.
    """

    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class Role(str, Enum):
    """What a device does in the network."""

    CORE = "core"
    AGGREGATION = "aggregation"
    ACCESS = "access"
    EDGE = "edge"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device of the topology.

    ``index`` is the device's 1-based position in the topology; the lab runtime derives
    per-device resources (such as the loopback address) from it. ``power`` names its router
    power profile (empty: the role's built-in one), ``line_cards`` group its ports (empty:
    one card ``lc0`` holds them all), ``radio`` makes it a radio access site, and
    ``subscribers`` is how many video players it serves at the daily peak.
    """

    name: str
    role: Role
    site: str
    index: int
    power: str = ""
    line_cards: tuple[LineCardSpec, ...] = ()
    radio: RadioSpec | None = None
    subscribers: int = 0

    @property
    def power_profile(self) -> str:
        """The router power profile's name (the role's built-in one if none is given)."""
        return self.power or default_router_profile(self.role.value)

    def line_card(self, port: str) -> str:
        """The line card holding ``port`` (``lc0`` when the device declares none)."""
        for card in self.line_cards:
            if port in card.ports:
                return card.name
        return "lc0"


@dataclass(frozen=True, slots=True)
class LinkEnd:
    """One end of a link: a device's port."""

    device: str
    port: str

    def __str__(self) -> str:
        return f"{self.device}:{self.port}"


@dataclass(frozen=True, slots=True)
class Link:
    """A full-duplex point-to-point link (each direction has the full capacity)."""

    name: str
    a: LinkEnd
    b: LinkEnd
    capacity_mbps: float
    delay_ms: float = 0.0
    metric: int = 10

    def end(self, device: str) -> LinkEnd:
        """The end of this link on ``device``.

        Raises:
            KeyError: the link does not touch ``device``.
        """
        if self.a.device == device:
            return self.a
        if self.b.device == device:
            return self.b
        raise KeyError(f"link {self.name} does not touch {device}")

    def peer(self, end: LinkEnd) -> LinkEnd:
        """The other end of the link seen from ``end``.

        Raises:
            KeyError: ``end`` is not an end of this link.
        """
        if end == self.a:
            return self.b
        if end == self.b:
            return self.a
        raise KeyError(f"{end} is not an end of link {self.name}")


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port of a device, with the link behind it."""

    device: str
    name: str
    if_index: int  # 1-based, in the device's stable port order
    link: Link
    peer: LinkEnd


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    # eth2 before eth10, as an operator reads them
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    )


@dataclass(frozen=True, slots=True)
class Topology:
    """Devices and links, with lookups by device and port.

    Ports exist where links end; a device's ports are in natural name order (``eth2`` before
    ``eth10``) and numbered from 1 (the ifIndex).

    Raises:
        ValueError: duplicate device or link names, a link to an unknown device or to the
            device itself, a port used twice, or a non-positive capacity. (The file loader
            reports the same problems with file and line first.)
    """

    devices: tuple[DeviceSpec, ...]
    links: tuple[Link, ...]
    _by_name: Mapping[str, DeviceSpec] = field(init=False, repr=False, compare=False)
    _ports: Mapping[str, tuple[PortSpec, ...]] = field(init=False, repr=False, compare=False)
    _links_by_name: Mapping[str, Link] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, DeviceSpec] = {}
        for device in self.devices:
            if device.name in by_name:
                raise ValueError(f"duplicate device name {device.name!r}")
            by_name[device.name] = device
        links_by_name: dict[str, Link] = {}
        ports: dict[str, list[PortSpec]] = {name: [] for name in by_name}
        used: set[LinkEnd] = set()
        for link in self.links:
            _check_link(link, by_name, links_by_name, used)
            links_by_name[link.name] = link
            for end in (link.a, link.b):
                used.add(end)
                ports[end.device].append(PortSpec(end.device, end.port, 0, link, link.peer(end)))
        numbered: dict[str, tuple[PortSpec, ...]] = {}
        for name, unordered in ports.items():
            ordered = sorted(unordered, key=lambda p: _natural_key(p.name))
            numbered[name] = tuple(
                PortSpec(p.device, p.name, i, p.link, p.peer) for i, p in enumerate(ordered, 1)
            )
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_ports", numbered)
        object.__setattr__(self, "_links_by_name", links_by_name)

    def device(self, name: str) -> DeviceSpec:
        """The device called ``name``.

        Raises:
            KeyError: no such device.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown device {name!r}") from None

    def has_device(self, name: str) -> bool:
        """Whether the topology has a device called ``name``."""
        return name in self._by_name

    def device_names(self) -> tuple[str, ...]:
        """Names of all devices, in topology order."""
        return tuple(d.name for d in self.devices)

    def ports(self, device: str) -> tuple[PortSpec, ...]:
        """The ports of ``device`` in stable order; ``if_index`` is 1-based.

        Raises:
            KeyError: no such device.
        """
        self.device(device)
        return self._ports[device]

    def port(self, device: str, port: str) -> PortSpec:
        """Port ``port`` of ``device``.

        Raises:
            KeyError: no such device or port.
        """
        for spec in self.ports(device):
            if spec.name == port:
                return spec
        raise KeyError(f"device {device!r} has no port {port!r}")

    def link(self, name: str) -> Link:
        """The link called ``name``.

        Raises:
            KeyError: no such link.
        """
        try:
            return self._links_by_name[name]
        except KeyError:
            raise KeyError(f"unknown link {name!r}") from None

    def neighbours(self, device: str) -> tuple[str, ...]:
        """Distinct neighbour device names of ``device``, in port order.

        Raises:
            KeyError: no such device.
        """
        seen: dict[str, None] = {}
        for spec in self.ports(device):
            seen.setdefault(spec.peer.device, None)
        return tuple(seen)

    def links_between(self, a: str, b: str) -> tuple[Link, ...]:
        """All links joining devices ``a`` and ``b`` (parallel links included), port order of ``a``.

        Raises:
            KeyError: no such device.
        """
        return tuple(spec.link for spec in self.ports(a) if spec.peer.device == b)


def _check_link(
    link: Link,
    devices: Mapping[str, DeviceSpec],
    links: Mapping[str, Link],
    used: set[LinkEnd],
) -> None:
    if link.name in links:
        raise ValueError(f"duplicate link name {link.name!r}")
    for end in (link.a, link.b):
        if end.device not in devices:
            raise ValueError(f"link {link.name}: unknown device {end.device!r}")
        if end in used:
            raise ValueError(f"link {link.name}: port {end} is already used by another link")
    if link.a.device == link.b.device:
        raise ValueError(f"link {link.name}: both ends are on {link.a.device}")
    if not (link.capacity_mbps > 0 and math.isfinite(link.capacity_mbps)):
        raise ValueError(f"link {link.name}: capacity_mbps must be positive")
    if not (link.delay_ms >= 0 and math.isfinite(link.delay_ms)):
        raise ValueError(f"link {link.name}: delay_ms must be >= 0")
    if not _METRIC_MIN <= link.metric <= _METRIC_MAX:
        raise ValueError(f"link {link.name}: metric must be in {_METRIC_MIN}..{_METRIC_MAX}")


@dataclass(frozen=True, slots=True)
class LabSpec:
    """What a topology file describes: the network, the traffic it carries, power profiles.

    ``router_profiles`` and ``radio_profiles`` hold the built-in profiles plus the file's
    own (a file's profile replaces a built-in of the same name).
    """

    topology: Topology
    demands: tuple[Demand, ...]
    name: str = ""
    description: str = ""
    router_profiles: Mapping[str, RouterPowerProfile] = field(
        default_factory=lambda: dict(BUILTIN_ROUTER_PROFILES)
    )
    radio_profiles: Mapping[str, RadioPowerProfile] = field(
        default_factory=lambda: dict(BUILTIN_RADIO_PROFILES)
    )


def startup_settings(topology: Topology) -> dict[str, DeviceSettings]:
    """Each device's settings as the lab configures it at startup.

    Every port is enabled with its link's ``metric``; QoS is left at the YANG defaults.

    Args:
        topology: the network.

    Returns:
        Device name -> settings, for every device.
    """
    return {
        device.name: DeviceSettings(
            interfaces={
                spec.name: InterfaceSettings(enabled=True, metric=spec.link.metric)
                for spec in topology.ports(device.name)
            }
        )
        for device in topology.devices
    }


# --------------------------------------------------------------------------- YAML loading


class _Reader:
    """Walks composed YAML nodes, turning every problem into a TopologyError with a line."""

    def __init__(self, path: str) -> None:
        self.path = path
        # a constructor only to turn scalar nodes into Python values with YAML 1.1 rules
        self._constructor = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node | None, field: str, message: str) -> TopologyError:
        line = node.start_mark.line + 1 if node is not None else None
        return TopologyError(self.path, line, field, message)

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        *,
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); refuses unknown, duplicate and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, "expected a mapping")
        allowed = (*required, *optional)
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self._constructor.construct_object(key_node)
            sub = f"{field}.{key}" if field else str(key)
            if not isinstance(key, str) or key not in allowed:
                raise self.error(
                    key_node, sub, f"unknown field (allowed: {', '.join(sorted(allowed))})"
                )
            if key in items:
                raise self.error(key_node, sub, "duplicate field")
            items[key] = (key_node, value_node)
        for key in required:
            if key not in items:
                sub = f"{field}.{key}" if field else key
                raise self.error(node, sub, "missing required field")
        return items

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, field, "expected a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, field: str) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, field, "expected a single value")
        return self._constructor.construct_object(node)

    def string(self, node: yaml.Node, field: str) -> str:
        value = self.scalar(node, field)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, field, "expected a non-empty string")
        return value

    def number(self, node: yaml.Node, field: str) -> float:
        value = self.scalar(node, field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(node, field, "expected a number")
        if not math.isfinite(value):
            raise self.error(node, field, "expected a finite number")
        return float(value)

    def integer(self, node: yaml.Node, field: str) -> int:
        value = self.scalar(node, field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, field, "expected an integer")
        return value

    def choice(self, node: yaml.Node, field: str, choices: Iterable[str]) -> str:
        allowed = tuple(choices)
        value = self.scalar(node, field)
        if value not in allowed:
            raise self.error(node, field, f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)


_DEVICE_OPTIONAL = ("power", "line_cards", "radio", "subscribers")


def _read_devices(
    reader: _Reader,
    node: yaml.Node,
    router_profiles: Mapping[str, RouterPowerProfile],
    radio_profiles: Mapping[str, RadioPowerProfile],
) -> tuple[DeviceSpec, ...]:
    devices: list[DeviceSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(reader.sequence(node, "devices")):
        where = f"devices[{i}]"
        fields = reader.mapping(
            item, where, required=("name", "role", "site"), optional=_DEVICE_OPTIONAL
        )
        name_node = fields["name"][1]
        name = reader.string(name_node, f"{where}.name")
        if name in seen:
            raise reader.error(name_node, f"{where}.name", f"duplicate device name {name!r}")
        seen.add(name)
        role = Role(reader.choice(fields["role"][1], f"{where}.role", (r.value for r in Role)))
        site = reader.string(fields["site"][1], f"{where}.site")
        power = ""
        if "power" in fields:
            power = reader.choice(fields["power"][1], f"{where}.power", sorted(router_profiles))
        cards = (
            _read_line_cards(reader, fields["line_cards"][1], f"{where}.line_cards")
            if "line_cards" in fields
            else ()
        )
        radio = (
            _read_radio(reader, fields["radio"][1], f"{where}.radio", radio_profiles)
            if "radio" in fields
            else None
        )
        subscribers = 0
        if "subscribers" in fields:
            subscribers = reader.integer(fields["subscribers"][1], f"{where}.subscribers")
            if not 0 <= subscribers <= 1000:
                raise reader.error(
                    fields["subscribers"][1], f"{where}.subscribers", "must be in 0..1000"
                )
        devices.append(
            DeviceSpec(
                name=name,
                role=role,
                site=site,
                index=i + 1,
                power=power,
                line_cards=cards,
                radio=radio,
                subscribers=subscribers,
            )
        )
    if not devices:
        raise reader.error(node, "devices", "at least one device is needed")
    return tuple(devices)


def _read_line_cards(reader: _Reader, node: yaml.Node, field: str) -> tuple[LineCardSpec, ...]:
    cards: list[LineCardSpec] = []
    used: set[str] = set()
    for i, item in enumerate(reader.sequence(node, field)):
        where = f"{field}[{i}]"
        fields = reader.mapping(item, where, required=("name", "ports"))
        name = reader.string(fields["name"][1], f"{where}.name")
        if any(card.name == name for card in cards):
            raise reader.error(fields["name"][1], f"{where}.name", f"duplicate card {name!r}")
        ports: list[str] = []
        for j, port_node in enumerate(reader.sequence(fields["ports"][1], f"{where}.ports")):
            port = reader.string(port_node, f"{where}.ports[{j}]")
            if port in used:
                raise reader.error(port_node, f"{where}.ports[{j}]", f"port {port} is on two cards")
            used.add(port)
            ports.append(port)
        cards.append(LineCardSpec(name, tuple(ports)))
    return tuple(cards)


def _read_radio(  # noqa: C901 - one flat validation of a nested YAML block
    reader: _Reader, node: yaml.Node, field: str, profiles: Mapping[str, RadioPowerProfile]
) -> RadioSpec:
    fields = reader.mapping(node, field, required=("profile", "cells"))
    profile = reader.choice(fields["profile"][1], f"{field}.profile", sorted(profiles))
    cells: list[CellSpec] = []
    carrier_names: set[str] = set()
    for i, item in enumerate(reader.sequence(fields["cells"][1], f"{field}.cells")):
        where = f"{field}.cells[{i}]"
        cell_fields = reader.mapping(
            item, where, required=("name", "carriers"), optional=("share", "overlaps")
        )
        name = reader.string(cell_fields["name"][1], f"{where}.name")
        if any(cell.name == name for cell in cells):
            raise reader.error(cell_fields["name"][1], f"{where}.name", f"duplicate cell {name!r}")
        share = 1.0
        if "share" in cell_fields:
            share = reader.number(cell_fields["share"][1], f"{where}.share")
            if share <= 0:
                raise reader.error(cell_fields["share"][1], f"{where}.share", "must be positive")
        overlaps: tuple[str, ...] = ()
        if "overlaps" in cell_fields:
            overlaps = tuple(
                reader.string(n, f"{where}.overlaps[{j}]")
                for j, n in enumerate(reader.sequence(cell_fields["overlaps"][1], where))
            )
        carriers: list[CarrierSpec] = []
        for j, carrier_node in enumerate(
            reader.sequence(cell_fields["carriers"][1], f"{where}.carriers")
        ):
            spot = f"{where}.carriers[{j}]"
            carrier_fields = reader.mapping(
                carrier_node,
                spot,
                required=("name", "capacity_mbps"),
                optional=("profile", "layer"),
            )
            carrier_name = reader.string(carrier_fields["name"][1], f"{spot}.name")
            if carrier_name in carrier_names:
                raise reader.error(
                    carrier_fields["name"][1], f"{spot}.name", f"duplicate carrier {carrier_name!r}"
                )
            carrier_names.add(carrier_name)
            capacity = reader.number(carrier_fields["capacity_mbps"][1], f"{spot}.capacity_mbps")
            if capacity <= 0:
                raise reader.error(
                    carrier_fields["capacity_mbps"][1], f"{spot}.capacity_mbps", "must be positive"
                )
            carrier_profile = ""
            if "profile" in carrier_fields:
                carrier_profile = reader.choice(
                    carrier_fields["profile"][1], f"{spot}.profile", sorted(profiles)
                )
            layer = CarrierLayer.CAPACITY
            if "layer" in carrier_fields:
                layer = CarrierLayer(
                    reader.choice(
                        carrier_fields["layer"][1],
                        f"{spot}.layer",
                        [member.value for member in CarrierLayer],
                    )
                )
            carriers.append(CarrierSpec(carrier_name, capacity, carrier_profile, layer))
        if not carriers:
            raise reader.error(cell_fields["carriers"][1], f"{where}.carriers", "at least one")
        cells.append(CellSpec(name, share, overlaps, tuple(carriers)))
    names = {cell.name for cell in cells}
    for i, cell in enumerate(cells):
        for other in cell.overlaps:
            if other not in names or other == cell.name:
                raise reader.error(
                    fields["cells"][1],
                    f"{field}.cells[{i}].overlaps",
                    f"{other!r} is not another cell of this site",
                )
    if not cells:
        raise reader.error(fields["cells"][1], f"{field}.cells", "at least one cell is needed")
    return RadioSpec(profile, tuple(cells))


_ROUTER_FIELDS = (
    "chassis_w",
    "card_w",
    "card_sleep_w",
    "port_w",
    "port_load_w",
    "port_sleep_w",
    "wake_s",
)
_RADIO_FIELDS = ("ntrx", "pmax_w", "p0_w", "delta_p", "sleep_w", "wake_s")


def _read_router_profiles(reader: _Reader, node: yaml.Node) -> dict[str, RouterPowerProfile]:
    if not isinstance(node, yaml.MappingNode):
        raise reader.error(node, "power_profiles", "expected a mapping of profile names")
    profiles: dict[str, RouterPowerProfile] = {}
    for key_node, value_node in node.value:
        name = reader.string(key_node, "power_profiles")
        where = f"power_profiles.{name}"
        fields = reader.mapping(value_node, where, required=(*_ROUTER_FIELDS, "source"))
        numbers = {k: reader.number(fields[k][1], f"{where}.{k}") for k in _ROUTER_FIELDS}
        source = reader.string(fields["source"][1], f"{where}.source")
        try:
            profiles[name] = RouterPowerProfile(name=name, source=source, **numbers)
        except ValueError as exc:
            raise reader.error(value_node, where, str(exc)) from exc
    return profiles


def _read_radio_profiles(reader: _Reader, node: yaml.Node) -> dict[str, RadioPowerProfile]:
    if not isinstance(node, yaml.MappingNode):
        raise reader.error(node, "radio_profiles", "expected a mapping of profile names")
    profiles: dict[str, RadioPowerProfile] = {}
    for key_node, value_node in node.value:
        name = reader.string(key_node, "radio_profiles")
        where = f"radio_profiles.{name}"
        fields = reader.mapping(value_node, where, required=(*_RADIO_FIELDS, "source"))
        ntrx = reader.integer(fields["ntrx"][1], f"{where}.ntrx")
        numbers = {k: reader.number(fields[k][1], f"{where}.{k}") for k in _RADIO_FIELDS[1:]}
        source = reader.string(fields["source"][1], f"{where}.source")
        try:
            profiles[name] = RadioPowerProfile(name=name, ntrx=ntrx, source=source, **numbers)
        except ValueError as exc:
            raise reader.error(value_node, where, str(exc)) from exc
    return profiles


def _check_line_cards(reader: _Reader, node: yaml.Node, topology: Topology) -> None:
    for i, device in enumerate(topology.devices):
        ports = {p.name for p in topology.ports(device.name)}
        for card in device.line_cards:
            for port in card.ports:
                if port not in ports:
                    raise reader.error(
                        node,
                        f"devices[{i}].line_cards",
                        f"card {card.name}: {device.name} has no link on port {port!r}",
                    )


def _read_end(
    reader: _Reader, node: yaml.Node, where: str, devices: set[str], used: dict[LinkEnd, str]
) -> LinkEnd:
    fields = reader.mapping(node, where, required=("device", "port"))
    device_node = fields["device"][1]
    device = reader.string(device_node, f"{where}.device")
    if device not in devices:
        raise reader.error(device_node, f"{where}.device", f"unknown device {device!r}")
    port_node = fields["port"][1]
    end = LinkEnd(device, reader.string(port_node, f"{where}.port"))
    if end in used:
        raise reader.error(
            port_node, f"{where}.port", f"port {end} is already used by link {used[end]}"
        )
    return end


def _read_links(
    reader: _Reader, node: yaml.Node, devices: tuple[DeviceSpec, ...]
) -> tuple[Link, ...]:
    names = {d.name for d in devices}
    used: dict[LinkEnd, str] = {}
    links: list[Link] = []
    seen: set[str] = set()
    for i, item in enumerate(reader.sequence(node, "links")):
        where = f"links[{i}]"
        fields = reader.mapping(
            item,
            where,
            required=("a", "b", "capacity_mbps"),
            optional=("name", "delay_ms", "metric"),
        )
        a = _read_end(reader, fields["a"][1], f"{where}.a", names, used)
        b = _read_end(reader, fields["b"][1], f"{where}.b", names, used)
        if a.device == b.device:
            raise reader.error(fields["b"][1], f"{where}.b.device", "a link joins two devices")
        if a == b:
            raise reader.error(fields["b"][1], f"{where}.b.port", "both ends are the same port")
        name = f"{a.device}-{b.device}"
        name_node = fields["name"][1] if "name" in fields else item
        if "name" in fields:
            name = reader.string(name_node, f"{where}.name")
        if name in seen:
            raise reader.error(name_node, f"{where}.name", f"duplicate link name {name!r}")
        capacity_node = fields["capacity_mbps"][1]
        capacity = reader.number(capacity_node, f"{where}.capacity_mbps")
        if capacity <= 0:
            raise reader.error(capacity_node, f"{where}.capacity_mbps", "must be positive")
        delay = 0.0
        if "delay_ms" in fields:
            delay = reader.number(fields["delay_ms"][1], f"{where}.delay_ms")
            if delay < 0:
                raise reader.error(fields["delay_ms"][1], f"{where}.delay_ms", "must be >= 0")
        metric = 10
        if "metric" in fields:
            metric = reader.integer(fields["metric"][1], f"{where}.metric")
            if not _METRIC_MIN <= metric <= _METRIC_MAX:
                raise reader.error(
                    fields["metric"][1],
                    f"{where}.metric",
                    f"must be in {_METRIC_MIN}..{_METRIC_MAX}",
                )
        seen.add(name)
        used[a] = name
        used[b] = name
        links.append(Link(name, a, b, capacity, delay, metric))
    return tuple(links)


def _read_demands(
    reader: _Reader, node: yaml.Node, devices: tuple[DeviceSpec, ...]
) -> tuple[Demand, ...]:
    names = {d.name for d in devices}
    demands: list[Demand] = []
    seen: set[tuple[str, str, TrafficClass]] = set()
    for i, item in enumerate(reader.sequence(node, "demands")):
        where = f"demands[{i}]"
        fields = reader.mapping(
            item, where, required=("origin", "destination", "class", "peak_mbps")
        )
        ends: list[str] = []
        for key in ("origin", "destination"):
            end_node = fields[key][1]
            device = reader.string(end_node, f"{where}.{key}")
            if device not in names:
                raise reader.error(end_node, f"{where}.{key}", f"unknown device {device!r}")
            ends.append(device)
        origin, destination = ends
        if origin == destination:
            raise reader.error(
                fields["destination"][1], f"{where}.destination", "equals the origin"
            )
        class_node = fields["class"][1]
        cls = TrafficClass(
            reader.choice(class_node, f"{where}.class", (c.value for c in TrafficClass))
        )
        if (origin, destination, cls) in seen:
            raise reader.error(item, where, f"duplicate demand {origin}->{destination} {cls.value}")
        peak_node = fields["peak_mbps"][1]
        peak = reader.number(peak_node, f"{where}.peak_mbps")
        if peak < 0:
            raise reader.error(peak_node, f"{where}.peak_mbps", "must be >= 0")
        seen.add((origin, destination, cls))
        demands.append(Demand(origin, destination, cls, peak))
    return tuple(demands)


def parse_lab(text: str, path: str = "<string>") -> LabSpec:
    """Parse a topology document.

    Args:
        text: the YAML text.
        path: the file name to put in errors.

    Returns:
        The topology and its demands.

    Raises:
        TopologyError: the document is not valid YAML or not a valid topology.
    """
    reader = _Reader(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise TopologyError(path, line, "", f"invalid YAML: {exc.problem}") from exc
    if root is None:
        raise TopologyError(path, None, "", "the file is empty")
    fields = reader.mapping(
        root,
        "",
        required=("devices", "links"),
        optional=("name", "description", "demands", "power_profiles", "radio_profiles"),
    )
    router_profiles = dict(BUILTIN_ROUTER_PROFILES)
    if "power_profiles" in fields:
        router_profiles.update(_read_router_profiles(reader, fields["power_profiles"][1]))
    radio_profiles = dict(BUILTIN_RADIO_PROFILES)
    if "radio_profiles" in fields:
        radio_profiles.update(_read_radio_profiles(reader, fields["radio_profiles"][1]))
    devices = _read_devices(reader, fields["devices"][1], router_profiles, radio_profiles)
    links = _read_links(reader, fields["links"][1], devices)
    demands = _read_demands(reader, fields["demands"][1], devices) if "demands" in fields else ()
    name = reader.string(fields["name"][1], "name") if "name" in fields else ""
    description = ""
    if "description" in fields:
        description = reader.string(fields["description"][1], "description")
    topology = Topology(devices, links)
    _check_line_cards(reader, fields["devices"][1], topology)
    return LabSpec(
        topology,
        demands,
        name,
        description,
        router_profiles=router_profiles,
        radio_profiles=radio_profiles,
    )


def load_lab(path: str | Path) -> LabSpec:
    """Load a topology file with its demands.

    Args:
        path: the YAML file.

    Returns:
        The topology and its demands.

    Raises:
        TopologyError: the file cannot be read or is invalid.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(str(path), None, "", f"cannot read the file: {exc}") from exc
    return parse_lab(text, str(path))


def load_topology(path: str | Path) -> Topology:
    """Load the topology of a topology file (its demands are validated, then ignored).

    Args:
        path: the YAML file.

    Returns:
        The topology.

    Raises:
        TopologyError: the file cannot be read or is invalid.
    """
    return load_lab(path).topology


def default_lab() -> LabSpec:
    """The walking-skeleton lab shipped as ``lab/topologies/four-router.yaml``.

    r1 (edge, west) reaches r4 (edge, east) over r2 (the preferred path, lower metric) or
    r3 (the backup, higher metric); the r2-r4 link is the one that congests in the evening.

    Returns:
        The topology and its demands.
    """
    return load_lab(DEFAULT_TOPOLOGY_PATH)


def default_topology() -> Topology:
    """The topology of :func:`default_lab`.

    Returns:
        The four-router topology.
    """
    return default_lab().topology


def metro_lab() -> LabSpec:
    """The default lab of ``lab up``: ``lab/topologies/metro.yaml``.

    Two metro sites (west, east) on a four-router core ring, aggregation, fixed access and
    four radio access sites with cells and carriers, a content edge; redundant paths
    everywhere but the last mile.

    Returns:
        The topology, its demands and its power profiles.
    """
    return load_lab(METRO_TOPOLOGY_PATH)


def topology_names() -> tuple[str, ...]:
    """Names of the shipped topology files (without ``.yaml``), sorted."""
    return tuple(sorted(p.stem for p in TOPOLOGIES_DIR.glob("*.yaml")))


def load_named_lab(name: str) -> LabSpec:
    """A shipped topology by name (``metro``, ``four-router``) or a path to a YAML file.

    Args:
        name: a name from :func:`topology_names`, or a file path.

    Returns:
        The lab.

    Raises:
        TopologyError: no such topology, or the file is invalid.
    """
    if name in topology_names():
        return load_lab(TOPOLOGIES_DIR / f"{name}.yaml")
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_lab(path)
    known = ", ".join(topology_names())
    raise TopologyError(name, None, "", f"no such topology (shipped: {known}; or give a file)")
