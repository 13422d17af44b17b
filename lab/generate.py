"""A generator of lab topologies of N devices (up to a few thousand), shaped like the metro lab.

``generate_lab(n)`` builds, in this order (names follow ``metro.yaml``, so the shipped
scenarios' targets exist in every generated lab):

- a core ring ``core1 .. coreK`` (K = 4, or 8 from 200 devices on) with links
  ``core{i}-core{i+1}`` and ``core{K}-core1``; even-numbered ring links are long-haul
  (40G, 8 ms), odd ones metro (100G, 0.5 ms);
- ``edge-west``, the content and internet edge, dual-homed to core1 and core2;
- sites ``west``, ``east``, then ``s3``, ``s4`` ...: per site an aggregation pair
  ``agg-SITE`` and ``agg-SITE-b``, each homed to one of two neighbouring cores, and up to
  20 access nodes; every third access node is a radio site ``ran-SITE-k`` (three cells, a
  coverage and a capacity carrier each), the others are fixed access ``acc-SITE-k``. Each
  access node has a primary uplink to ``agg-SITE`` and a backup (metric 30) to
  ``agg-SITE-b``;
- demands from ``edge-west`` to every access node in every class, and upstream traffic
  back, with the metro lab's per-node peaks.

The power profiles are the built-in ones (:mod:`lab.equipment`). Pure: no IO.
"""

from __future__ import annotations

import math

from lab.config import TrafficClass
from lab.equipment import CarrierLayer, CarrierSpec, CellSpec, LineCardSpec, RadioSpec
from lab.topology import DeviceSpec, LabSpec, Link, LinkEnd, Role, Topology
from lab.traffic import Demand

__all__ = ["MIN_DEVICES", "generate_lab"]

MIN_DEVICES = 8
_ACCESS_PER_SITE = 20

_FIXED_PEAKS = {
    TrafficClass.VIDEO: 3000.0,
    TrafficClass.BEST_EFFORT: 1500.0,
    TrafficClass.BULK: 800.0,
    TrafficClass.GAMING: 120.0,
    TrafficClass.VOICE: 40.0,
}
_RADIO_PEAKS = {
    TrafficClass.VIDEO: 420.0,
    TrafficClass.BEST_EFFORT: 250.0,
    TrafficClass.BULK: 60.0,
    TrafficClass.GAMING: 30.0,
    TrafficClass.VOICE: 20.0,
}


def _radio() -> RadioSpec:
    names = ("a", "b", "c")
    cells = tuple(
        CellSpec(
            cell,
            1.0,
            tuple(other for other in names if other != cell),
            (
                CarrierSpec(f"{cell}-l800", 40.0, layer=CarrierLayer.COVERAGE),
                CarrierSpec(f"{cell}-n3500", 350.0, layer=CarrierLayer.CAPACITY),
            ),
        )
        for cell in names
    )
    return RadioSpec("earth-macro", cells)


class _Builder:
    def __init__(self) -> None:
        self.devices: list[DeviceSpec] = []
        self.links: list[Link] = []
        self.ports: dict[str, int] = {}
        self.cards: dict[str, dict[str, list[str]]] = {}

    def device(
        self,
        name: str,
        role: Role,
        site: str,
        *,
        subscribers: int = 0,
        radio: RadioSpec | None = None,
    ) -> None:
        self.devices.append(
            DeviceSpec(
                name, role, site, len(self.devices) + 1, subscribers=subscribers, radio=radio
            )
        )
        self.ports[name] = 0
        self.cards[name] = {}

    def end(self, device: str, card: str) -> LinkEnd:
        self.ports[device] += 1
        port = f"eth{self.ports[device]}"
        self.cards[device].setdefault(card, []).append(port)
        return LinkEnd(device, port)

    def link(
        self,
        a: str,
        b: str,
        capacity: float,
        delay: float,
        *,
        metric: int = 10,
        name: str | None = None,
        card_a: str = "lc2",
        card_b: str = "lc2",
    ) -> None:
        self.links.append(
            Link(
                name or f"{a}-{b}",
                self.end(a, card_a),
                self.end(b, card_b),
                capacity,
                delay,
                metric,
            )
        )

    def topology(self) -> Topology:
        devices = []
        for spec in self.devices:
            cards = self.cards[spec.name]
            line_cards: tuple[LineCardSpec, ...] = ()
            if spec.role in (Role.CORE, Role.EDGE, Role.AGGREGATION):
                line_cards = tuple(
                    LineCardSpec(card, tuple(ports)) for card, ports in sorted(cards.items())
                )
            devices.append(
                DeviceSpec(
                    spec.name,
                    spec.role,
                    spec.site,
                    spec.index,
                    line_cards=line_cards,
                    radio=spec.radio,
                    subscribers=spec.subscribers,
                )
            )
        return Topology(tuple(devices), tuple(self.links))


def _site_name(index: int) -> str:
    return ("west", "east")[index] if index < 2 else f"s{index + 1}"


def generate_lab(devices: int, *, subscribers: int = 8) -> LabSpec:
    """A lab of exactly ``devices`` devices.

    Args:
        devices: how many devices (>= :data:`MIN_DEVICES`).
        subscribers: video players per access node at the daily peak.

    Returns:
        The lab (topology, demands, built-in power profiles).

    Raises:
        ValueError: fewer than :data:`MIN_DEVICES` devices.
    """
    if devices < MIN_DEVICES:
        raise ValueError(f"a generated lab has at least {MIN_DEVICES} devices")
    cores = 4 if devices < 200 else 8
    remaining = devices - cores - 1
    sites = max(1, math.ceil(remaining / (_ACCESS_PER_SITE + 2)))
    # the core and the content edge grow with the access (bundles of 100G/400G links):
    # the metro lab's per-node demand, times many nodes, must fit through them
    scale = max(1, math.ceil(sites / 2))
    build = _Builder()
    for i in range(1, cores + 1):
        build.device(f"core{i}", Role.CORE, "west" if i <= cores // 2 else "east")
    for i in range(1, cores + 1):
        j = i % cores + 1
        long_haul = i % 2 == 0
        build.link(
            f"core{i}",
            f"core{j}",
            scale * (40_000 if long_haul else 100_000),
            8.0 if long_haul else 0.5,
            card_a="lc1",
            card_b="lc1",
        )
    build.device("edge-west", Role.EDGE, "west")
    build.link("edge-west", "core1", scale * 400_000, 0.2, card_a="lc1")
    build.link("edge-west", "core2", scale * 400_000, 0.2, card_a="lc1")
    access_total = remaining - 2 * sites
    if access_total < sites:
        sites = max(1, remaining // 3)
        access_total = remaining - 2 * sites
    access_nodes: list[tuple[str, bool]] = []
    for s in range(sites):
        site = _site_name(s)
        first = (2 * s) % cores + 1 if s >= 2 else (1 if s == 0 else cores // 2 + 1)
        second = first % cores + 1
        agg, agg_b = f"agg-{site}", f"agg-{site}-b"
        build.device(agg, Role.AGGREGATION, site)
        build.device(agg_b, Role.AGGREGATION, site)
        build.link(agg, f"core{first}", 100_000, 0.3, card_a="lc1")
        build.link(agg_b, f"core{second}", 100_000, 0.3, card_a="lc1")
        count = access_total // sites + (1 if s < access_total % sites else 0)
        fixed = radio = 0
        for k in range(count):
            is_radio = k % 3 == 2
            if is_radio:
                radio += 1
                name = f"ran-{site}-{radio}"
                build.device(name, Role.ACCESS, site, subscribers=subscribers, radio=_radio())
            else:
                fixed += 1
                name = f"acc-{site}-{fixed}"
                build.device(name, Role.ACCESS, site, subscribers=subscribers)
            build.link(name, agg, 10_000, 0.3, card_a="lc0")
            build.link(name, agg_b, 10_000, 0.5, metric=30, card_a="lc0")
            access_nodes.append((name, is_radio))
    demands: list[Demand] = []
    for name, is_radio in access_nodes:
        peaks = _RADIO_PEAKS if is_radio else _FIXED_PEAKS
        demands.extend(Demand("edge-west", name, cls, peak) for cls, peak in peaks.items())
        demands.append(
            Demand(name, "edge-west", TrafficClass.BEST_EFFORT, 40.0 if is_radio else 300.0)
        )
    topology = build.topology()
    assert len(topology.devices) == devices, (len(topology.devices), devices)
    return LabSpec(
        topology,
        tuple(demands),
        name=f"generated-{devices}",
        description=f"generated metro-shaped lab of {devices} devices",
    )
