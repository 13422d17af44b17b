"""A lab device's configuration as the network model sees it.

The NETCONF server keeps the datastores as XML (``netpilot-lab`` YANG); after every change
of the running datastore the device parses it with :func:`parse_running` into these frozen
types, with the module's defaults applied, and hands them to the network model.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

NAMESPACE = "urn:netpilot:lab"
MODULE = "netpilot-lab"
REVISION = "2026-12-01"


class TrafficClass(str, Enum):
    """The ``traffic-class`` enumeration of the YANG module."""

    VIDEO = "video"
    VOICE = "voice"
    GAMING = "gaming"
    BULK = "bulk"
    BEST_EFFORT = "best-effort"


class PowerMode(str, Enum):
    """The ``power-mode`` enumeration of the YANG module."""

    ACTIVE = "active"
    SLEEP = "sleep"


@dataclass(frozen=True, slots=True)
class InterfaceSettings:
    """``/interfaces/interface`` with defaults applied."""

    enabled: bool = True
    metric: int = 10
    power_mode: PowerMode = PowerMode.ACTIVE


@dataclass(frozen=True, slots=True)
class CarrierSettings:
    """``/radio/carrier`` with defaults applied."""

    power_mode: PowerMode = PowerMode.ACTIVE


@dataclass(frozen=True, slots=True)
class SubscriberSettings:
    """``/subscribers/subscriber``: rate limits in Mbit/s (None: not configured)."""

    max_rate_mbps: int | None = None
    min_rate_mbps: int | None = None


@dataclass(frozen=True, slots=True)
class ClassSettings:
    """``/qos/class`` with defaults applied."""

    priority: int = 0
    weight: int = 10


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """The parts of a device's running configuration that the network model uses.

    Interfaces or classes absent from the configuration take the YANG defaults; use
    :meth:`interface` and :meth:`traffic_class` rather than indexing the mappings.
    """

    interfaces: Mapping[str, InterfaceSettings] = field(default_factory=dict)
    classes: Mapping[TrafficClass, ClassSettings] = field(default_factory=dict)
    # (interface, class) -> rate in Mbit/s
    shapers: Mapping[tuple[str, TrafficClass], int] = field(default_factory=dict)
    carriers: Mapping[str, CarrierSettings] = field(default_factory=dict)
    subscribers: Mapping[str, SubscriberSettings] = field(default_factory=dict)

    def interface(self, name: str) -> InterfaceSettings:
        """Settings of interface ``name`` (defaults if unconfigured)."""
        return self.interfaces.get(name, InterfaceSettings())

    def carrier(self, name: str) -> CarrierSettings:
        """Settings of radio carrier ``name`` (defaults if unconfigured)."""
        return self.carriers.get(name, CarrierSettings())

    def subscriber(self, subscriber_id: str) -> SubscriberSettings:
        """Rate settings of a subscriber (none if unconfigured)."""
        return self.subscribers.get(subscriber_id, SubscriberSettings())

    def traffic_class(self, cls: TrafficClass) -> ClassSettings:
        """Scheduling of ``cls`` (defaults if unconfigured)."""
        return self.classes.get(cls, ClassSettings())


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _text(parent: ET.Element, name: str) -> str | None:
    node = parent.find(_q(name))
    return None if node is None or node.text is None else node.text.strip()


def parse_running(config: ET.Element) -> DeviceSettings:
    """Read the model-relevant settings out of a datastore's ``<config>``/``<data>`` element.

    The datastore has already been validated against the YANG module, so values are
    well-formed here; unknown elements are ignored.
    """
    interfaces: dict[str, InterfaceSettings] = {}
    for itf in config.iterfind(f"{_q('interfaces')}/{_q('interface')}"):
        name = _text(itf, "name")
        if name is None:
            continue
        enabled = _text(itf, "enabled")
        metric = _text(itf, "metric")
        mode = _text(itf, "power-mode")
        interfaces[name] = InterfaceSettings(
            enabled=enabled != "false",
            metric=int(metric) if metric is not None else 10,
            power_mode=PowerMode(mode) if mode is not None else PowerMode.ACTIVE,
        )
    classes: dict[TrafficClass, ClassSettings] = {}
    for cls in config.iterfind(f"{_q('qos')}/{_q('class')}"):
        name = _text(cls, "name")
        if name is None:
            continue
        priority = _text(cls, "priority")
        weight = _text(cls, "weight")
        classes[TrafficClass(name)] = ClassSettings(
            priority=int(priority) if priority is not None else 0,
            weight=int(weight) if weight is not None else 10,
        )
    shapers: dict[tuple[str, TrafficClass], int] = {}
    for shp in config.iterfind(f"{_q('qos')}/{_q('shaper')}"):
        itf_name, cls_name, rate = (
            _text(shp, "interface"),
            _text(shp, "class"),
            _text(shp, "rate-mbps"),
        )
        if itf_name is None or cls_name is None or rate is None:
            continue
        shapers[(itf_name, TrafficClass(cls_name))] = int(rate)
    carriers: dict[str, CarrierSettings] = {}
    for carrier in config.iterfind(f"{_q('radio')}/{_q('carrier')}"):
        name = _text(carrier, "name")
        if name is None:
            continue
        mode = _text(carrier, "power-mode")
        carriers[name] = CarrierSettings(
            power_mode=PowerMode(mode) if mode is not None else PowerMode.ACTIVE
        )
    subscribers: dict[str, SubscriberSettings] = {}
    for entry in config.iterfind(f"{_q('subscribers')}/{_q('subscriber')}"):
        subscriber_id = _text(entry, "id")
        if subscriber_id is None:
            continue
        maximum, minimum = _text(entry, "max-rate-mbps"), _text(entry, "min-rate-mbps")
        subscribers[subscriber_id] = SubscriberSettings(
            max_rate_mbps=int(maximum) if maximum is not None else None,
            min_rate_mbps=int(minimum) if minimum is not None else None,
        )
    return DeviceSettings(
        interfaces=interfaces,
        classes=classes,
        shapers=shapers,
        carriers=carriers,
        subscribers=subscribers,
    )
