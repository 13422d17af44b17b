"""The network model: conservation, routing, scheduling effects, KPIs and determinism."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from lab.config import TrafficClass
from lab.network import DEFAULT_QUEUE, NetworkModel, NetworkState
from lab.scenarios import get_scenario
from lab.topology import default_lab

from .builders import AT, chain, model_for, startup, with_class, with_interface, with_shaper

VIDEO, BULK, BE = TrafficClass.VIDEO, TrafficClass.BULK, TrafficClass.BEST_EFFORT

LAB = default_lab()
BASE = startup(LAB.topology)
PEAK = get_scenario("evening-peak")
PEAK_AT = PEAK.start_at(AT.date()) + timedelta(minutes=30)
PEAK_MULTIPLIERS = PEAK.multipliers(timedelta(minutes=30))


@pytest.fixture
def lab_model() -> NetworkModel:
    return NetworkModel(LAB.topology, LAB.demands, seed=0)


def _evening(model: NetworkModel, settings=BASE) -> NetworkState:
    return model.step(PEAK_AT, settings, multipliers=PEAK_MULTIPLIERS)


# --------------------------------------------------------------------------- conservation


def _assert_conserved(state: NetworkState) -> None:
    dropped_in_queues = 0.0
    for device in state.devices.values():
        egress_offered = 0.0
        for port in device.ports.values():
            for queue in port.classes.values():
                assert 0 <= queue.served_mbps <= queue.offered_mbps + 1e-9
                assert queue.served_mbps + queue.dropped_mbps == pytest.approx(queue.offered_mbps)
                dropped_in_queues += queue.dropped_mbps
                egress_offered += queue.offered_mbps
        # what enters a device (from links or its own demand) leaves it or ends there
        inflow = device.rx_mbps + device.originated_mbps - device.unroutable_mbps
        outflow = egress_offered + device.delivered_mbps
        assert inflow == pytest.approx(outflow, rel=1e-9, abs=1e-6), device.name
    for device in state.devices.values():
        for port in device.ports.values():
            peer_device, peer_port = port.peer.split(":")
            assert port.rx_mbps == state.port(peer_device, peer_port).tx_mbps
    originated = sum(d.originated_mbps for d in state.devices.values())
    delivered = sum(d.delivered_mbps for d in state.devices.values())
    unroutable = sum(d.unroutable_mbps for d in state.devices.values())
    assert originated == pytest.approx(delivered + dropped_in_queues + unroutable, rel=1e-9)
    assert originated == pytest.approx(sum(f.offered_mbps for f in state.flows.values()))
    for flow in state.flows.values():
        assert flow.dropped_mbps >= -1e-9


@pytest.mark.parametrize(
    ("settings", "congested"),
    [
        pytest.param(BASE, True, id="yang-defaults"),
        pytest.param(with_class(BASE, "r2", VIDEO, priority=5), True, id="video-prioritised"),
        pytest.param(with_interface(BASE, "r2", "eth2", enabled=False), True, id="rerouted"),
        pytest.param(
            with_interface(
                with_interface(BASE, "r1", "eth1", enabled=False), "r1", "eth2", enabled=False
            ),
            False,
            id="r1-isolated",
        ),
        pytest.param(with_shaper(BASE, "r1", "eth1", BULK, 20), True, id="shaped-upstream"),
    ],
)
def test_traffic_is_conserved(lab_model, settings, congested):
    state = _evening(lab_model, settings)
    assert state.converged
    _assert_conserved(state)
    dropped = sum(
        q.dropped_mbps
        for d in state.devices.values()
        for p in d.ports.values()
        for q in p.classes.values()
    )
    assert (dropped > 1.0) is congested


def test_unroutable_demand_is_counted_lost(lab_model):
    isolated = with_interface(
        with_interface(BASE, "r1", "eth1", enabled=False), "r1", "eth2", enabled=False
    )
    state = _evening(lab_model, isolated)
    flow = state.flows[("r1", "r4", VIDEO)]
    assert flow.unroutable_mbps == flow.offered_mbps > 0
    assert flow.delivered_mbps == 0
    kpi = state.path("r1", "r4", VIDEO)
    assert math.isinf(kpi.latency_ms)
    assert kpi.loss_ratio == 1.0
    assert kpi.hops == ()


def test_drops_upstream_reduce_load_downstream():
    # n0 -(100)- n1 -(1000)- n2: n0 can only send 100 of the 300 offered
    model = model_for(chain(100, 1000))
    state = model.evaluate(AT, {}, {("n0", "n2", BULK): 300.0})
    assert state.port("n0", "eth2").classes[BULK].served_mbps == pytest.approx(100)
    assert state.port("n1", "eth2").classes[BULK].offered_mbps == pytest.approx(100)
    assert state.flows[("n0", "n2", BULK)].delivered_mbps == pytest.approx(100)
    _assert_conserved(state)


def test_loss_compounds_along_the_route():
    # two bottlenecks: 200 offered, 150 then 100 -> drops 0.25 then 1/3, loss 0.5
    model = model_for(chain(150, 100))
    state = model.evaluate(AT, {}, {("n0", "n2", BULK): 200.0})
    first = state.port("n0", "eth2").classes[BULK].drop_ratio
    second = state.port("n1", "eth2").classes[BULK].drop_ratio
    assert first == pytest.approx(0.25)
    assert second == pytest.approx(1 / 3)
    assert state.path("n0", "n2", BULK).loss_ratio == pytest.approx(1 - (1 - first) * (1 - second))


# --------------------------------------------------------------------------- queueing in the model


def test_delay_rises_monotonically_with_load(lab_model):
    delays = []
    for factor in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0):
        state = lab_model.step(AT, BASE, multipliers={BE: factor})
        delays.append(state.port("r2", "eth2").classes[VIDEO].queue_delay_ms)
    assert all(
        b > a for a, b in zip(delays, delays[1:], strict=False) if b < DEFAULT_QUEUE.buffer_ms
    )
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == DEFAULT_QUEUE.buffer_ms


@pytest.mark.parametrize("cls", list(TrafficClass), ids=lambda c: c.value)
def test_priority_protects_the_prioritised_class(lab_model, cls):
    congested = _evening(lab_model)
    before = congested.port("r2", "eth2").classes[cls]
    raised = _evening(lab_model, with_class(BASE, "r2", cls, priority=3))
    after = raised.port("r2", "eth2").classes[cls]
    assert after.queue_delay_ms < before.queue_delay_ms
    assert after.drop_ratio < before.drop_ratio or before.drop_ratio == 0
    assert after.drop_ratio == 0


@pytest.mark.parametrize("level", range(1, 8))
def test_raising_priority_never_raises_delay_when_not_congested(lab_model, level):
    quiet = lab_model.step(AT, BASE).port("r2", "eth2").classes[VIDEO].queue_delay_ms
    raised = lab_model.step(AT, with_class(BASE, "r2", VIDEO, priority=level))
    assert raised.port("r2", "eth2").classes[VIDEO].queue_delay_ms <= quiet


def test_weights_split_capacity_in_proportion_under_contention():
    model = model_for(chain(100))
    settings = with_class(with_class({}, "n0", VIDEO, weight=30), "n0", BULK, weight=10)
    state = model.evaluate(AT, settings, {("n0", "n1", VIDEO): 500.0, ("n0", "n1", BULK): 500.0})
    queues = state.port("n0", "eth2").classes
    assert queues[VIDEO].served_mbps / queues[BULK].served_mbps == pytest.approx(3.0)
    assert queues[VIDEO].served_mbps + queues[BULK].served_mbps == pytest.approx(100)


def test_a_shaper_caps_a_class(lab_model):
    shaped = with_shaper(BASE, "r2", "eth2", BE, 50)
    state = _evening(lab_model, shaped)
    queue = state.port("r2", "eth2").classes[BE]
    assert queue.offered_mbps > 50
    assert queue.served_mbps == pytest.approx(50)
    assert state.port("r4", "eth1").rx_mbps == state.port("r2", "eth2").tx_mbps


def test_one_class_without_contention_matches_the_mg1_formula():
    model = model_for(chain(1000, delay_ms=3.0))
    state = model.evaluate(AT, {}, {("n0", "n1", VIDEO): 400.0})
    service_ms = DEFAULT_QUEUE.burst_bytes * 8 / (1000 * 1e3)
    rho = 0.4
    expected = rho * (1 + DEFAULT_QUEUE.service_scv) * service_ms / (2 * (1 - rho))
    assert state.port("n0", "eth2").classes[VIDEO].queue_delay_ms == pytest.approx(expected)
    assert state.path("n0", "n1", VIDEO).latency_ms == pytest.approx(3.0 + expected)


# --------------------------------------------------------------------------- routing


def test_preferred_path_carries_the_traffic(lab_model):
    state = lab_model.step(AT, BASE)
    assert state.path("r1", "r4", VIDEO).hops == ("r1", "r2", "r4")
    assert state.path("r4", "r1", VIDEO).hops == ("r4", "r2", "r1")
    assert state.port("r3", "eth2").tx_mbps == 0
    assert state.port("r2", "eth2").tx_mbps > 0


@pytest.mark.parametrize(
    ("device", "port"),
    [pytest.param("r2", "eth2", id="near-end"), pytest.param("r4", "eth1", id="far-end")],
)
def test_disabling_an_interface_reroutes_to_the_backup_path(lab_model, device, port):
    before = lab_model.step(AT, BASE)
    state = lab_model.step(AT, with_interface(BASE, device, port, enabled=False))
    assert state.path("r1", "r4", VIDEO).hops == ("r1", "r3", "r4")
    assert not state.port("r2", "eth2").oper_up
    assert not state.port("r4", "eth1").oper_up
    assert state.port("r2", "eth2").tx_mbps == 0
    assert state.port("r3", "eth2").tx_mbps == pytest.approx(before.port("r2", "eth2").tx_mbps)
    assert state.path("r1", "r4", VIDEO).latency_ms > before.path("r1", "r4", VIDEO).latency_ms


def test_a_higher_metric_reroutes(lab_model):
    state = lab_model.step(AT, with_interface(BASE, "r2", "eth2", metric=100))
    assert state.path("r1", "r4", VIDEO).hops == ("r1", "r3", "r4")
    assert state.path("r4", "r1", VIDEO).hops == ("r4", "r2", "r1")  # r4's own metric unchanged


def test_ecmp_splits_equally_over_equal_cost_paths(lab_model):
    equal = with_interface(with_interface(BASE, "r3", "eth2", metric=10), "r4", "eth2", metric=10)
    state = lab_model.step(AT, equal)
    via_r2 = state.port("r1", "eth1").classes[VIDEO].offered_mbps
    via_r3 = state.port("r1", "eth2").classes[VIDEO].offered_mbps
    assert via_r2 > 0
    assert via_r2 == pytest.approx(via_r3)
    kpi = state.path("r1", "r4", VIDEO)
    assert set(kpi.paths) == {("r1", "r2", "r4"), ("r1", "r3", "r4")}
    one_way = [
        state.port("r1", first).classes[VIDEO].queue_delay_ms
        + state.port(middle, "eth2").classes[VIDEO].queue_delay_ms
        + LAB.topology.port("r1", first).link.delay_ms
        + LAB.topology.port(middle, "eth2").link.delay_ms
        for first, middle in (("eth1", "r2"), ("eth2", "r3"))
    ]
    assert kpi.latency_ms == pytest.approx(sum(one_way) / 2)


# --------------------------------------------------------------------------- determinism, counters


def test_the_same_seed_gives_the_same_run():
    times = [AT + timedelta(minutes=m) for m in (0, 7, 13, 60)]
    runs = []
    for _ in range(2):
        model = NetworkModel(LAB.topology, LAB.demands, seed=42)
        runs.append([model.step(t, BASE) for t in times])
    assert runs[0] == runs[1]
    other = NetworkModel(LAB.topology, LAB.demands, seed=43).step(times[0], BASE)
    assert other != runs[0][0]


def test_a_step_depends_on_its_instant_not_on_call_history():
    model = NetworkModel(LAB.topology, LAB.demands, seed=5)
    model.step(AT + timedelta(hours=6), with_interface(BASE, "r2", "eth2", enabled=False))
    fresh = NetworkModel(LAB.topology, LAB.demands, seed=5)
    assert model.step(AT, BASE) == fresh.step(AT, BASE)


def test_packet_rates_follow_the_mean_packet_size(lab_model):
    state = lab_model.step(AT, BASE)
    port = state.port("r2", "eth2")
    assert port.tx_pps == pytest.approx(port.tx_mbps * 1e6 / (8 * DEFAULT_QUEUE.mean_packet_bytes))
    device = state.devices["r2"]
    assert device.tx_pps == pytest.approx(sum(p.tx_pps for p in device.ports.values()))
    assert port.utilization == pytest.approx(port.tx_mbps / port.capacity_mbps)


def test_evaluate_takes_measured_rates_for_the_twin(lab_model):
    stepped = lab_model.step(AT, BASE)
    rates = {key: flow.offered_mbps for key, flow in stepped.flows.items()}
    twin = lab_model.evaluate(AT, BASE, rates)
    assert twin == stepped
