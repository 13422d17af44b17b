"""The model at the lab's target scale: 1,000 devices per tick well under a second."""

from __future__ import annotations

from lab.config import TrafficClass
from lab.network import NetworkModel
from lab.topology import DeviceSpec, Link, LinkEnd, Role, Topology, startup_settings
from lab.traffic import Demand

from .builders import AT


def _hierarchy(sites: int, access_per_site: int) -> Topology:
    """2 edges, 4 cores (full mesh), per site 2 aggregation routers dual-homed to 2 cores,
    access routers dual-homed to both aggregation routers of their site."""
    devices: list[DeviceSpec] = []
    links: list[Link] = []
    next_port: dict[str, int] = {}

    def add(name: str, role: Role, site: str) -> None:
        devices.append(DeviceSpec(name, role, site, len(devices) + 1))
        next_port[name] = 0

    def end(device: str) -> LinkEnd:
        next_port[device] += 1
        return LinkEnd(device, f"eth{next_port[device]}")

    def join(a: str, b: str, capacity: float) -> None:
        links.append(Link(f"{a}-{b}", end(a), end(b), capacity, 0.5))

    cores = [f"core{i}" for i in range(4)]
    for name in cores:
        add(name, Role.CORE, "core")
    for name in ("edge0", "edge1"):
        add(name, Role.EDGE, "core")
    for i, core in enumerate(cores):
        for other in [*cores[i + 1 :], "edge0", "edge1"]:
            join(core, other, 100_000)
    for site in range(sites):
        aggregation = [f"agg{site}a", f"agg{site}b"]
        for agg in aggregation:
            add(agg, Role.AGGREGATION, f"site{site}")
            join(agg, cores[site % 4], 40_000)
            join(agg, cores[(site + 1) % 4], 40_000)
        for k in range(access_per_site):
            add(f"acc{site}-{k}", Role.ACCESS, f"site{site}")
            join(f"acc{site}-{k}", aggregation[0], 10_000)
            join(f"acc{site}-{k}", aggregation[1], 10_000)
    return Topology(tuple(devices), tuple(links))


def test_a_thousand_device_tick_converges_and_routes_every_demand():
    # how long it takes is a benchmark's business (netpilot bench lab / bench soak report the
    # lab's CPU per device), not a unit test's: this machine's load varies too much
    topology = _hierarchy(sites=24, access_per_site=40)
    assert len(topology.devices) > 1000
    access = [d.name for d in topology.devices if d.role is Role.ACCESS]
    demands = [
        Demand(edge, name, cls, 300.0 if edge.endswith("0") else 250.0)
        for i, name in enumerate(access)
        for edge in (f"edge{i % 2}",)
        for cls in TrafficClass
    ] + [Demand(name, "edge0", cls, 30.0) for name in access for cls in TrafficClass]
    model = NetworkModel(topology, demands, seed=1)
    settings = startup_settings(topology)
    model.step(AT, settings)  # first tick builds the routes
    state = model.step(AT.replace(hour=21), settings)
    assert state.converged
    assert len(state.flows) == len(demands)
