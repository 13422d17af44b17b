"""``netpilot-lab`` YANG data in NETCONF XML <-> netpilot's core types. Pure: no IO.

Parsing takes the XML as ``str`` or ``bytes`` (a whole ``<rpc-reply>``, a ``<data>`` or
``<config>`` element, or a bare ``netpilot-lab`` container) and returns frozen core types
with the module's defaults applied and every tuple in canonical order, so two parsed
configurations compare equal exactly when they are semantically equal. Anything that is
not well-formed ``netpilot-lab`` data raises :class:`~controller.errors.ProtocolError` for
the device the caller names.

Rendering produces the ``<config>`` element of an ``<edit-config>`` (:func:`render_edits`)
or a complete configuration for ``<validate>`` (:func:`render_config`), as text.

Security: RFC 6241 §3 forbids document type declarations in NETCONF messages, and this
module refuses them, so no entity can be declared and expanded; ElementTree never fetches
external resources.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from adapters.base import EditOperation, NodeEdit
from controller.errors import ProtocolError
from controller.model import (
    CarrierConfig,
    CarrierStatus,
    ClassConfig,
    ClassQueue,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    InterfaceConfig,
    LineCardStatus,
    OperationalState,
    PortStatus,
    PowerMode,
    PowerReading,
    PowerState,
    ProbeResult,
    ShaperConfig,
    SubscriberConfig,
    SubscriberFlow,
    TrafficClass,
)

__all__ = [
    "NAMESPACE",
    "NETCONF_NAMESPACE",
    "module_config",
    "parse_config",
    "parse_operational_state",
    "parse_state",
    "render_config",
    "render_edits",
    "render_node_edits",
    "render_restore",
]

NAMESPACE = "urn:netpilot:lab"
NETCONF_NAMESPACE = "urn:ietf:params:xml:ns:netconf:base:1.0"

_T = TypeVar("_T")
_E = TypeVar("_E", bound=Enum)

# --------------------------------------------------------------------------- parsing


def parse_config(xml: str | bytes, *, device: str) -> DeviceConfig:
    """Parse ``netpilot-lab`` configuration data into a canonical :class:`DeviceConfig`.

    Args:
        xml: a ``<rpc-reply>`` of ``<get-config>``/``<get>``, a ``<data>`` or ``<config>``
            element, or a bare ``interfaces``/``qos`` container. Elements of other modules
            (``nacm``...) and unknown ``netpilot-lab`` leaves are ignored.
        device: the device the data came from (named in errors).

    Returns:
        The configuration with YANG defaults applied; interfaces sorted by name, classes by
        name, shapers by (interface, class).

    Raises:
        ProtocolError: malformed XML, a missing key or mandatory leaf, a value outside its
            YANG type, or a duplicate list key.
    """
    reader = _Reader(device)
    top = reader.top_level(xml)
    interfaces: list[InterfaceConfig] = []
    classes: list[ClassConfig] = []
    shapers: list[ShaperConfig] = []
    carriers: list[CarrierConfig] = []
    subscribers: list[SubscriberConfig] = []
    for container in _children(top, "interfaces"):
        interfaces.extend(reader.interface(e) for e in _children(container, "interface"))
    for container in _children(top, "qos"):
        classes.extend(reader.class_config(e) for e in _children(container, "class"))
        shapers.extend(reader.shaper(e) for e in _children(container, "shaper"))
    for container in _children(top, "radio"):
        carriers.extend(reader.carrier_config(e) for e in _children(container, "carrier"))
    for container in _children(top, "subscribers"):
        subscribers.extend(reader.subscriber_config(e) for e in _children(container, "subscriber"))
    return DeviceConfig(
        interfaces=reader.unique(interfaces, lambda i: i.name, "interface"),
        classes=reader.unique(classes, lambda c: c.name.value, "class"),
        shapers=reader.unique(shapers, lambda s: (s.interface, s.traffic_class.value), "shaper"),
        carriers=reader.unique(carriers, lambda c: c.name, "carrier"),
        # an entry without a rate configures nothing: it is left out, so that a device that
        # keeps an empty entry and one that does not compare equal
        subscribers=reader.unique(
            [e for e in subscribers if e.max_rate_mbps is not None or e.min_rate_mbps is not None],
            lambda e: e.id,
            "subscriber",
        ),
    )


def parse_state(
    xml: str | bytes, *, device: str
) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
    """Parse ``/npl:state`` into class queues and probe results.

    Args:
        xml: a ``<rpc-reply>`` of ``<get>``, a ``<data>`` element or a bare ``<state>``. No
            ``<state>`` at all (a device without instrumentation) gives empty tuples.
        device: the device the data came from (named in errors).

    Returns:
        ``(queues, probes)``: queues sorted by (interface, class), probes by
        (destination, class).

    Raises:
        ProtocolError: malformed XML, a missing key or measurement leaf, a value outside
            its YANG type, or a duplicate list key.
    """
    reader = _Reader(device)
    return _queues_and_probes(reader, reader.top_level(xml))


def _queues_and_probes(
    reader: _Reader, top: list[ET.Element]
) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
    queues: list[ClassQueue] = []
    probes: list[ProbeResult] = []
    for state in _children(top, "state"):
        for itf in _children(state, "interface"):
            itf_name = reader.string(itf, "name", required=True)
            queues.extend(reader.class_queue(itf_name, e) for e in _children(itf, "class"))
        probes.extend(reader.probe(e) for e in _children(state, "probe"))
    return (
        reader.unique(queues, lambda q: (q.interface, q.traffic_class.value), "state class"),
        reader.unique(probes, lambda p: (p.destination, p.traffic_class.value), "probe"),
    )


def parse_operational_state(xml: str | bytes, *, device: str) -> OperationalState:
    """Parse all of ``/npl:state``: queues and probes, ports, power, carriers, subscribers.

    Leaves of the 2026-12-01 revision (port power, line cards, carriers, subscriber flow
    features) are optional: a device of the first revision gives empty parts, never an
    error.

    Args:
        xml: as :func:`parse_state` accepts.
        device: the device the data came from (named in errors).

    Returns:
        The state; every tuple sorted by its key.

    Raises:
        ProtocolError: malformed XML, a missing key or measurement leaf, a value outside
            its YANG type, or a duplicate list key.
    """
    reader = _Reader(device)
    top = reader.top_level(xml)
    queues, probes = _queues_and_probes(reader, top)
    ports: list[PortStatus] = []
    carriers: list[CarrierStatus] = []
    subscribers: list[SubscriberFlow] = []
    power: PowerReading | None = None
    for state in _children(top, "state"):
        ports.extend(reader.port_status(e) for e in _children(state, "interface"))
        for container in _children(state, "power"):
            power = reader.power(container)
        carriers.extend(reader.carrier_status(e) for e in _children(state, "carrier"))
        subscribers.extend(reader.subscriber_flow(e) for e in _children(state, "subscriber"))
    return OperationalState(
        queues=queues,
        probes=probes,
        ports=reader.unique(ports, lambda p: p.interface, "state interface"),
        power=power,
        carriers=reader.unique(carriers, lambda c: c.name, "carrier"),
        subscribers=reader.unique(subscribers, lambda f: f.id, "subscriber"),
    )


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _children(parents: ET.Element | Iterable[ET.Element], name: str) -> Iterator[ET.Element]:
    """``netpilot-lab`` children called ``name`` of one element or of several."""
    for parent in [parents] if isinstance(parents, ET.Element) else parents:
        yield from parent.iterfind(_q(name))


_UINT = re.compile(r"\+?[0-9]+\Z")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z")


@dataclass(frozen=True, slots=True)
class _Reader:
    """Leaf readers that raise :class:`ProtocolError` naming the device and the leaf."""

    device: str

    def error(self, message: str) -> ProtocolError:
        return ProtocolError(self.device, message)

    def top_level(self, xml: str | bytes) -> list[ET.Element]:
        """The elements whose children are the module's top-level containers."""
        text = xml.encode("utf-8") if isinstance(xml, str) else xml
        if b"<!DOCTYPE" in text:
            raise self.error("malformed XML: a document type declaration (RFC 6241 §3)")
        try:
            # no DTD (checked above) means no entity can be declared or expanded
            root = ET.fromstring(text)  # noqa: S314
        except ET.ParseError as exc:
            raise self.error(f"malformed XML: {exc}") from exc
        local = root.tag.rsplit("}", 1)[-1]
        if root.tag.startswith(f"{{{NAMESPACE}}}"):
            return [_wrap(root)]
        if local == "rpc-reply":
            data = root.find(f"{{{NETCONF_NAMESPACE}}}data")
            if data is None:
                raise self.error("malformed reply: <rpc-reply> without <data>")
            return [data]
        if local in {"data", "config"}:
            return [root]
        raise self.error(f"malformed reply: unexpected root element <{local}>")

    def unique(
        self, items: list[_T], key: Callable[[_T], str | tuple[str, str]], what: str
    ) -> tuple[_T, ...]:
        """``items`` sorted by ``key``; a duplicate key is an error."""
        seen: dict[str | tuple[str, str], _T] = {}
        for item in items:
            k = key(item)
            if k in seen:
                raise self.error(f"duplicate {what} entry {k!r}")
            seen[k] = item
        return tuple(seen[k] for k in sorted(seen))

    def leaf(self, parent: ET.Element, name: str) -> str | None:
        node = parent.find(_q(name))
        if node is None:
            return None
        if len(node):
            raise self.error(f"leaf {name} has child elements")
        return node.text or ""

    def string(
        self, parent: ET.Element, name: str, *, required: bool = False, max_len: int = 0
    ) -> str:
        value = self.leaf(parent, name)
        if value is None:
            if required:
                raise self.error(f"<{_local(parent)}> lacks its {name} leaf")
            return ""
        if required and not value:
            raise self.error(f"<{_local(parent)}> has an empty {name}")
        if max_len and len(value) > max_len:
            raise self.error(f"{name} {value[:40]!r}... is longer than {max_len} characters")
        return value

    def uint(self, parent: ET.Element, name: str, default: int | None, lo: int, hi: int) -> int:
        raw = self.leaf(parent, name)
        if raw is None:
            if default is None:
                raise self.error(f"<{_local(parent)}> lacks its mandatory {name} leaf")
            return default
        text = raw.strip()
        if not _UINT.match(text) or not lo <= int(text) <= hi:
            raise self.error(f"{name} {raw!r} is not an integer in {lo}..{hi}")
        return int(text)

    def decimal(
        self, parent: ET.Element, name: str, lo: float | None = None, hi: float | None = None
    ) -> float:
        raw = self.leaf(parent, name)
        if raw is None:
            raise self.error(f"<{_local(parent)}> lacks its {name} leaf")
        text = raw.strip()
        if not _DECIMAL.match(text):
            raise self.error(f"{name} {raw!r} is not a decimal number")
        value = float(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(f"{name} {raw!r} is outside {lo}..{'max' if hi is None else hi}")
        return value

    def boolean(self, parent: ET.Element, name: str, default: bool) -> bool:
        raw = self.leaf(parent, name)
        if raw is None:
            return default
        text = raw.strip()
        if text not in {"true", "false"}:
            raise self.error(f"{name} {raw!r} is not a boolean")
        return text == "true"

    def traffic_class(self, parent: ET.Element, name: str) -> TrafficClass:
        raw = self.string(parent, name, required=True)
        try:
            return TrafficClass(raw.strip())
        except ValueError:
            raise self.error(f"{name} {raw!r} is not a traffic class") from None

    def enum(self, parent: ET.Element, name: str, kind: type[_E], default: _E | None) -> _E:
        raw = self.leaf(parent, name)
        if raw is None:
            if default is None:
                raise self.error(f"<{_local(parent)}> lacks its {name} leaf")
            return default
        try:
            return kind(raw.strip())
        except ValueError:
            raise self.error(f"{name} {raw!r} is not a {kind.__name__}") from None

    def optional_uint(self, parent: ET.Element, name: str, lo: int, hi: int) -> int | None:
        if self.leaf(parent, name) is None:
            return None
        return self.uint(parent, name, None, lo, hi)

    def optional_decimal(self, parent: ET.Element, name: str, default: float = 0.0) -> float:
        if self.leaf(parent, name) is None:
            return default
        return self.decimal(parent, name, 0.0)

    def interface(self, node: ET.Element) -> InterfaceConfig:
        return InterfaceConfig(
            name=self.string(node, "name", required=True, max_len=32),
            enabled=self.boolean(node, "enabled", True),
            metric=self.uint(node, "metric", 10, 1, 65535),
            description=self.string(node, "description", max_len=80),
            power_mode=self.enum(node, "power-mode", PowerMode, PowerMode.ACTIVE),
        )

    def carrier_config(self, node: ET.Element) -> CarrierConfig:
        return CarrierConfig(
            name=self.string(node, "name", required=True, max_len=32),
            power_mode=self.enum(node, "power-mode", PowerMode, PowerMode.ACTIVE),
        )

    def subscriber_config(self, node: ET.Element) -> SubscriberConfig:
        return SubscriberConfig(
            id=self.string(node, "id", required=True, max_len=32),
            max_rate_mbps=self.optional_uint(node, "max-rate-mbps", 1, 100000),
            min_rate_mbps=self.optional_uint(node, "min-rate-mbps", 1, 100000),
        )

    def port_status(self, node: ET.Element) -> PortStatus:
        watts = self.leaf(node, "power-watts")
        state = self.leaf(node, "power-state")
        return PortStatus(
            interface=self.string(node, "name", required=True),
            oper_up=self.string(node, "oper-status") != "down",
            speed_mbps=self.optional_decimal(node, "speed-mbps"),
            utilization=self.optional_decimal(node, "utilization"),
            power_state=None if state is None else self.enum(node, "power-state", PowerState, None),
            watts=None if watts is None else self.decimal(node, "power-watts", 0.0),
            line_card=self.string(node, "line-card"),
        )

    def power(self, node: ET.Element) -> PowerReading:
        cards = [
            LineCardStatus(
                name=self.string(card, "name", required=True),
                power_state=self.enum(card, "power-state", PowerState, PowerState.ACTIVE),
                watts=self.optional_decimal(card, "watts"),
            )
            for card in _children(node, "line-card")
        ]
        energy = self.leaf(node, "energy-joules")
        return PowerReading(
            total_w=self.optional_decimal(node, "total-watts"),
            chassis_w=self.optional_decimal(node, "chassis-watts"),
            radio_w=self.optional_decimal(node, "radio-watts"),
            energy_j=0 if energy is None else self.uint(node, "energy-joules", 0, 0, 2**64 - 1),
            line_cards=self.unique(cards, lambda c: c.name, "line-card"),
        )

    def carrier_status(self, node: ET.Element) -> CarrierStatus:
        return CarrierStatus(
            name=self.string(node, "name", required=True),
            cell=self.string(node, "cell"),
            power_state=self.enum(node, "power-state", PowerState, PowerState.ACTIVE),
            capacity_mbps=self.optional_decimal(node, "capacity-mbps"),
            load=self.optional_decimal(node, "load"),
            watts=self.optional_decimal(node, "watts"),
        )

    def subscriber_flow(self, node: ET.Element) -> SubscriberFlow:
        return SubscriberFlow(
            id=self.string(node, "id", required=True),
            throughput_mbps=self.optional_decimal(node, "throughput-mbps"),
            rtt_ms=self.optional_decimal(node, "rtt-ms"),
            retransmission_ratio=self.optional_decimal(node, "retransmission-ratio"),
            bytes=self.optional_uint(node, "bytes", 0, 2**64 - 1) or 0,
            mean_request_bytes=self.optional_uint(node, "mean-request-bytes", 0, 2**64 - 1) or 0,
            request_interval_ms=self.optional_decimal(node, "request-interval-ms"),
            active_ratio=self.optional_decimal(node, "active-ratio"),
        )

    def class_config(self, node: ET.Element) -> ClassConfig:
        return ClassConfig(
            name=self.traffic_class(node, "name"),
            priority=self.uint(node, "priority", 0, 0, 7),
            weight=self.uint(node, "weight", 10, 1, 100),
        )

    def shaper(self, node: ET.Element) -> ShaperConfig:
        return ShaperConfig(
            interface=self.string(node, "interface", required=True, max_len=32),
            traffic_class=self.traffic_class(node, "class"),
            rate_mbps=self.uint(node, "rate-mbps", None, 1, 400000),
        )

    def class_queue(self, interface: str, node: ET.Element) -> ClassQueue:
        return ClassQueue(
            interface=interface,
            traffic_class=self.traffic_class(node, "name"),
            offered_mbps=self.decimal(node, "offered-mbps"),
            queue_delay_ms=self.decimal(node, "queue-delay-ms", 0.0),
            drop_ratio=self.decimal(node, "drop-ratio", 0.0, 1.0),
        )

    def probe(self, node: ET.Element) -> ProbeResult:
        return ProbeResult(
            destination=self.string(node, "destination", required=True),
            traffic_class=self.traffic_class(node, "class"),
            latency_ms=self.decimal(node, "latency-ms", 0.0),
            loss_ratio=self.decimal(node, "loss-ratio", 0.0, 1.0),
        )


def _local(node: ET.Element) -> str:
    return node.tag.rsplit("}", 1)[-1]


def _wrap(container: ET.Element) -> ET.Element:
    """A parentless element holding ``container``, so a bare container parses as data."""
    holder = ET.Element("data")
    holder.append(container)
    return holder


# --------------------------------------------------------------------------- rendering

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_.-]*"
_SEGMENT = re.compile(rf"(?P<name>{_IDENTIFIER})(?P<keys>(?:\[{_IDENTIFIER}=[^\]]*\])*)\Z")
_KEY = re.compile(rf"\[({_IDENTIFIER})=([^\]]*)\]")
# characters XML 1.0 cannot carry at all, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(slots=True)
class _Node:
    """A tree under construction for one render call (mutable, never shared)."""

    name: str
    keys: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    operation: str | None = None  # the nc:operation attribute, if any
    children: list[_Node] = field(default_factory=list)

    def child(self, name: str, keys: tuple[tuple[str, str], ...]) -> _Node:
        """The child with this name and keys, created if missing (edits to one list entry
        must land in one element)."""
        for node in self.children:
            if node.name == name and node.keys == keys:
                return node
        node = _Node(name=name, keys=keys)
        self.children.append(node)
        return node


def _segment(segment: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``class[name=video]`` -> ``("class", (("name", "video"),))``."""
    match = _SEGMENT.match(segment)
    if match is None:
        raise ValueError(f"path segment {segment!r} is not 'node' or 'node[key=value]...'")
    keys = tuple((k, v) for k, v in _KEY.findall(match.group("keys")))
    if len({k for k, _ in keys}) != len(keys):
        raise ValueError(f"path segment {segment!r} repeats a key")
    for _, value in keys:
        _check_text(value)
    return match.group("name"), keys


def _check_text(value: str) -> str:
    if _NOT_XML.search(value):
        raise ValueError(f"value {value!r} holds characters XML cannot carry")
    return value


def _apply(root: _Node, edit: ConfigEdit) -> None:
    if not edit.path:
        raise ValueError(f"edit {edit!r} has an empty path")
    node = root
    for segment in edit.path:
        name, keys = _segment(segment)
        if any(name == key for key, _ in node.keys):
            raise ValueError(f"{edit.describe()}: a list key cannot be edited; edit the entry")
        node = node.child(name, keys)
        if node.operation == "remove":
            raise ValueError(f"{edit.describe()}: conflicts with removing {segment}")
    if edit.op is EditOp.REMOVE:
        if node.children or node.text is not None:
            raise ValueError(f"{edit.describe()}: conflicts with another edit of the same node")
        node.operation = "remove"
        return
    if node.keys:  # the path ends at a list entry: create it (with its keys)
        if edit.op is not EditOp.ADD or edit.new is not None:
            raise ValueError(f"{edit.describe()}: a list entry can only be added (new=None)")
        return
    if edit.new is None:
        raise ValueError(f"{edit.describe()}: {edit.op.value} needs a new value")
    if node.children or (node.text is not None and node.text != edit.new):
        raise ValueError(f"{edit.describe()}: conflicts with another edit of the same node")
    node.text = _check_text(edit.new)


def _serialize(node: _Node, out: list[str], namespace: str = "") -> None:
    attrs = f' xmlns="{namespace}"' if namespace else ""
    if node.operation is not None:
        attrs += f' nc:operation="{node.operation}"'
    if not node.keys and not node.children and node.text is None:
        out.append(f"<{node.name}{attrs}/>")
        return
    out.append(f"<{node.name}{attrs}>")
    for key, value in node.keys:
        out.append(f"<{key}>{_escape(value)}</{key}>")
    if node.text is not None:
        out.append(_escape(node.text))
    for child in node.children:
        _serialize(child, out)
    out.append(f"</{node.name}>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _config_document(top: Iterable[_Node]) -> str:
    out = [f'<config xmlns="{NETCONF_NAMESPACE}" xmlns:nc="{NETCONF_NAMESPACE}">']
    for node in top:
        _serialize(node, out, NAMESPACE)
    out.append("</config>")
    return "".join(out)


def render_edits(edits: Iterable[ConfigEdit]) -> str:
    """Render leaf edits as the ``<config>`` of a merge ``<edit-config>``.

    Each path is a tuple of ``netpilot-lab`` node names, list entries with their keys in
    brackets (``("qos", "class[name=video]", "priority")``); the first node is a
    top-level container of the module. ADD and CHANGE merge the leaf, creating the list
    entries on the way with their key leaves first (RFC 7950 §7.8.5); a path that ends at
    a list entry ADDs the entry alone. REMOVE puts ``nc:operation="remove"`` on the last
    node, whatever it is (leaf, list entry or container). Edits of one list entry share
    one element. Values are not checked against the module: the device does that.
    Only remove what exists: the entries on a REMOVE's path are merged like any other, so
    removing a leaf of an absent entry creates the entry (and netconfd then stores 0 for
    the leaf, outside its range).

    Args:
        edits: the edits, in any order.

    Returns:
        The ``<config>`` element as text (base namespace, ``nc`` prefix declared).

    Raises:
        ValueError: a malformed path (names must be YANG identifiers; a key value cannot
            contain ``]``), a missing new value, an edit of a key leaf, two edits that
            contradict each other, or a value XML cannot carry.
    """
    root = _Node(name="config")
    for edit in edits:
        _apply(root, edit)
    return _config_document(root.children)


def render_config(config: DeviceConfig) -> str:
    """Render a complete configuration as a ``<config>`` element (for ``<validate>``).

    Every leaf is written explicitly (defaults too) except an empty description; empty
    top-level containers are left out.

    Args:
        config: the configuration.

    Returns:
        The ``<config>`` element as text.

    Raises:
        ValueError: a value XML cannot carry.
    """
    top: list[_Node] = []
    if config.interfaces:
        interfaces = _Node(name="interfaces")
        for itf in config.interfaces:
            entry = interfaces.child("interface", (("name", _check_text(itf.name)),))
            if itf.description:
                entry.children.append(_Node("description", text=_check_text(itf.description)))
            entry.children.append(_Node("enabled", text=str(itf.enabled).lower()))
            entry.children.append(_Node("metric", text=str(itf.metric)))
            # only when not the default: a device of the module's first revision (no
            # power-mode leaf) still validates every configuration that sleeps nothing
            if itf.power_mode is not PowerMode.ACTIVE:
                entry.children.append(_Node("power-mode", text=itf.power_mode.value))
        top.append(interfaces)
    if config.classes or config.shapers:
        qos = _Node(name="qos")
        for cls in config.classes:
            entry = qos.child("class", (("name", cls.name.value),))
            entry.children.append(_Node("priority", text=str(cls.priority)))
            entry.children.append(_Node("weight", text=str(cls.weight)))
        for shp in config.shapers:
            keys = (("interface", _check_text(shp.interface)), ("class", shp.traffic_class.value))
            entry = qos.child("shaper", keys)
            entry.children.append(_Node("rate-mbps", text=str(shp.rate_mbps)))
        top.append(qos)
    top.extend(_access_nodes(config))
    return _config_document(top)


def _access_nodes(config: DeviceConfig) -> list[_Node]:
    """The ``radio`` and ``subscribers`` containers of a configuration (when not empty)."""
    top: list[_Node] = []
    if config.carriers:
        radio = _Node(name="radio")
        for carrier in config.carriers:
            entry = radio.child("carrier", (("name", _check_text(carrier.name)),))
            entry.children.append(_Node("power-mode", text=carrier.power_mode.value))
        top.append(radio)
    if config.subscribers:
        subscribers = _Node(name="subscribers")
        for sub in config.subscribers:
            entry = subscribers.child("subscriber", (("id", _check_text(sub.id)),))
            if sub.max_rate_mbps is not None:
                entry.children.append(_Node("max-rate-mbps", text=str(sub.max_rate_mbps)))
            if sub.min_rate_mbps is not None:
                entry.children.append(_Node("min-rate-mbps", text=str(sub.min_rate_mbps)))
        top.append(subscribers)
    return top


def _apply_node_edit(root: _Node, edit: NodeEdit) -> None:
    where = "/".join(edit.path)
    if not edit.path:
        raise ValueError("a node edit needs a non-empty path")
    node = root
    for segment in edit.path:
        name, keys = _segment(segment)
        if any(name == key for key, _ in node.keys):
            raise ValueError(f"{where}: a list key cannot be edited; edit the entry")
        node = node.child(name, keys)
        if node.operation in {"delete", "remove"}:
            raise ValueError(f"{where}: conflicts with deleting {segment}")
    operation = edit.operation.value
    if node.operation is not None and node.operation != operation:
        raise ValueError(f"{where}: {operation} conflicts with {node.operation} of the same node")
    if edit.operation in {EditOperation.DELETE, EditOperation.REMOVE}:
        if edit.value is not None:
            raise ValueError(f"{where}: {operation} takes no value")
        if node.children or node.text is not None:
            raise ValueError(f"{where}: {operation} conflicts with another edit below it")
    elif edit.value is not None:
        if node.keys:
            raise ValueError(f"{where}: a list entry takes no value; edit its leaves")
        if node.children or (node.text is not None and node.text != edit.value):
            raise ValueError(f"{where}: conflicts with another edit of the same node")
        node.text = _check_text(edit.value)
    node.operation = operation


def render_node_edits(edits: Iterable[NodeEdit]) -> str:
    """Render edits with explicit operations as the ``<config>`` of an ``<edit-config>``.

    Every target node carries ``nc:operation`` (merge, replace, create, delete, remove);
    the list entries and containers on the way carry none, so they take the request's
    ``default-operation``. A list entry is rendered with its key leaves first.

    Args:
        edits: the edits, in any order.

    Returns:
        The ``<config>`` element as text.

    Raises:
        ValueError: a malformed path, a value on a list entry or on a delete/remove, an
            edit below a deleted node, an edit of a key leaf, two contradicting edits of
            one node, or a value XML cannot carry.
    """
    root = _Node(name="config")
    for edit in edits:
        _apply_node_edit(root, edit)
    return _config_document(root.children)


def _module_elements(xml: str | bytes, device: str) -> list[ET.Element]:
    """The ``netpilot-lab`` top-level configuration elements of a reply (``state`` aside)."""
    reader = _Reader(device)
    return [
        element
        for top in reader.top_level(xml)
        for element in top
        if element.tag.startswith(f"{{{NAMESPACE}}}") and element.tag != _q("state")
    ]


def module_config(xml: str | bytes, *, device: str) -> str:
    """The ``netpilot-lab`` configuration of a ``<get-config>`` reply, as a ``<config>``.

    Everything of the module is kept verbatim (leaves :class:`DeviceConfig` does not
    model included); other modules' data (``nacm``...) is left out.

    Args:
        xml: a reply, ``<data>`` or ``<config>`` (as :func:`parse_config` accepts).
        device: the device it came from (named in errors).

    Returns:
        A ``<config>`` element (NETCONF base namespace) as text.

    Raises:
        ProtocolError: malformed XML or an unexpected root element.
    """
    config = ET.Element(f"{{{NETCONF_NAMESPACE}}}config")
    for element in _module_elements(xml, device):
        element.tail = None
        config.append(element)
    return ET.tostring(config, encoding="unicode")


def render_restore(saved: str, current: str | bytes, *, device: str) -> str:
    """The ``<config>`` of an ``<edit-config>`` that puts ``saved`` back on a device.

    Each top-level container of ``saved`` replaces the device's (``nc:operation=
    "replace"``); a module container the device holds now but ``saved`` lacks is removed.
    Other modules are not touched.

    Args:
        saved: what :func:`module_config` returned before the change.
        current: the device's configuration now (a ``<get-config>`` reply).
        device: the device (named in errors).

    Returns:
        The ``<config>`` element as text.

    Raises:
        ProtocolError: ``saved`` or ``current`` is not well-formed data.
    """
    operation = f"{{{NETCONF_NAMESPACE}}}operation"
    config = ET.Element(f"{{{NETCONF_NAMESPACE}}}config")
    kept = set()
    for element in _module_elements(saved, device):
        element.tail = None
        element.set(operation, "replace")
        config.append(element)
        kept.add(element.tag)
    for element in _module_elements(current, device):
        if element.tag not in kept:
            kept.add(element.tag)
            ET.SubElement(config, element.tag, {operation: "remove"})
    return ET.tostring(config, encoding="unicode")
