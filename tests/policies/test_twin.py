"""The what-if twin: the lab's network model fed with what the controller observed."""

from __future__ import annotations

import math

import pytest

from controller.model import PowerMode
from lab.config import TrafficClass as LabClass
from policies.twin import with_power_modes
from tests.policies.labworld import LabWorld

VIDEO = LabClass.VIDEO


@pytest.fixture(scope="module")
def peak() -> LabWorld:
    """The four-router lab a few minutes into the evening peak."""
    world = LabWorld("four-router", "evening-peak")
    world.advance(300)
    return world


def test_demands_estimated_from_counters_explain_the_port_loads(peak: LabWorld) -> None:
    view = peak.world().view
    assert view is not None
    assert view.fit_error < 0.02
    truth = peak.lab.state
    assert truth is not None
    for key, flow in truth.flows.items():
        if flow.offered_mbps > 1:
            assert view.demands.get(key, 0.0) == pytest.approx(flow.offered_mbps, rel=0.05)


def test_traffic_is_conserved_in_a_what_if(peak: LabWorld) -> None:
    world = peak.world()
    assert world.twin is not None
    assert world.view is not None
    bases = world.bases()
    r2 = with_power_modes(bases["r2"], ports={"eth2": PowerMode.SLEEP})
    r4 = with_power_modes(bases["r4"], ports={"eth1": PowerMode.SLEEP})
    state = world.twin.what_if(world.view, {"r2": r2, "r4": r4}, scale={VIDEO: 1.3})
    offered = sum(world.view.demands.values())
    scaled = offered + 0.3 * sum(r for (_, _, c), r in world.view.demands.items() if c is VIDEO)
    assert sum(f.offered_mbps for f in state.flows.values()) == pytest.approx(scaled, rel=1e-6)
    for flow in state.flows.values():
        accounted = flow.delivered_mbps + flow.dropped_mbps + flow.unroutable_mbps
        assert accounted == pytest.approx(flow.offered_mbps, rel=1e-6, abs=1e-6)
        assert flow.delivered_mbps >= -1e-9


def test_delay_grows_monotonically_with_demand(peak: LabWorld) -> None:
    world = peak.world()
    assert world.twin is not None
    assert world.view is not None
    latencies = [
        world.twin.what_if(world.view, {}, scale=dict.fromkeys(LabClass, factor))
        .path("r1", "r4", VIDEO)
        .latency_ms
        for factor in (0.25, 0.5, 1.0, 1.5, 2.0)
    ]
    assert all(a <= b + 1e-9 for a, b in zip(latencies, latencies[1:], strict=False))
    assert latencies[-1] > latencies[0]


def test_sleeping_a_link_reroutes_and_lowers_power(peak: LabWorld) -> None:
    world = peak.world()
    twin, view = world.twin, world.view
    assert twin is not None
    assert view is not None
    before = view.state.path("r1", "r4", VIDEO)
    assert all("r2" in path for path in before.paths)
    bases = world.bases()
    asleep = {
        "r2": with_power_modes(bases["r2"], ports={"eth2": PowerMode.SLEEP}),
        "r4": with_power_modes(bases["r4"], ports={"eth1": PowerMode.SLEEP}),
    }
    after_state = twin.what_if(view, asleep)
    after = after_state.path("r1", "r4", VIDEO)
    assert after.paths
    assert all("r3" in path and "r2" not in path for path in after.paths)
    assert math.isfinite(after.latency_ms)
    watts_before = sum(twin.power(view.state, view.settings).values())
    watts_after = sum(twin.power(after_state, twin.settings_with(view, asleep)).values())
    assert watts_after < watts_before
    # the twin's power model reproduces what the devices report
    reported = sum(o.power.total_w for o in world.observations.values() if o.power)
    assert watts_before == pytest.approx(reported, rel=0.02)
