"""Small topologies and settings for the lab model tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from lab.config import ClassSettings, DeviceSettings, InterfaceSettings, TrafficClass
from lab.network import DEFAULT_QUEUE, NetworkModel, QueueParameters
from lab.topology import DeviceSpec, Link, LinkEnd, Role, Topology, startup_settings
from lab.traffic import NoiseSpec

AT = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
NO_NOISE = NoiseSpec(sigma=0.0)


def chain(*capacities: float, delay_ms: float = 1.0) -> Topology:
    """n0 - n1 - ... with one link per capacity; port eth1 faces n(i-1), eth2 faces n(i+1)."""
    devices = tuple(
        DeviceSpec(f"n{i}", Role.CORE, "lab", i + 1) for i in range(len(capacities) + 1)
    )
    links = tuple(
        Link(
            f"n{i}-n{i + 1}", LinkEnd(f"n{i}", "eth2"), LinkEnd(f"n{i + 1}", "eth1"), cap, delay_ms
        )
        for i, cap in enumerate(capacities)
    )
    return Topology(devices, links)


def model_for(topology: Topology, queue: QueueParameters = DEFAULT_QUEUE) -> NetworkModel:
    """A model without a demand list (driven through ``evaluate``)."""
    return NetworkModel(topology, (), seed=0, noise=NO_NOISE, queue=queue)


def with_class(
    settings: Mapping[str, DeviceSettings],
    device: str,
    cls: TrafficClass,
    *,
    priority: int = 0,
    weight: int = 10,
) -> dict[str, DeviceSettings]:
    """``settings`` with one class's scheduling changed on one device."""
    result = dict(settings)
    current = result.get(device, DeviceSettings())
    classes = dict(current.classes)
    classes[cls] = ClassSettings(priority=priority, weight=weight)
    result[device] = replace(current, classes=classes)
    return result


def with_interface(
    settings: Mapping[str, DeviceSettings],
    device: str,
    port: str,
    *,
    enabled: bool = True,
    metric: int = 10,
) -> dict[str, DeviceSettings]:
    """``settings`` with one interface changed."""
    result = dict(settings)
    current = result.get(device, DeviceSettings())
    interfaces = dict(current.interfaces)
    interfaces[port] = InterfaceSettings(enabled=enabled, metric=metric)
    result[device] = replace(current, interfaces=interfaces)
    return result


def with_shaper(
    settings: Mapping[str, DeviceSettings], device: str, port: str, cls: TrafficClass, rate: int
) -> dict[str, DeviceSettings]:
    """``settings`` with a shaper on one device's port."""
    result = dict(settings)
    current = result.get(device, DeviceSettings())
    shapers = dict(current.shapers)
    shapers[(port, cls)] = rate
    result[device] = replace(current, shapers=shapers)
    return result


def startup(topology: Topology) -> dict[str, DeviceSettings]:
    """The lab's startup settings (re-exported for brevity)."""
    return startup_settings(topology)
