"""Power: router profiles, line cards, EARTH radio carriers; sleeping ports reroute traffic."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.config import CarrierSettings, DeviceSettings, PowerMode, TrafficClass
from lab.equipment import BUILTIN_RADIO_PROFILES, PowerState
from lab.network import NetworkModel
from lab.power import device_power
from lab.radio import radio_state
from lab.topology import metro_lab, startup_settings

from .builders import AT

METRO = metro_lab()
TOPOLOGY = METRO.topology
BASE = startup_settings(TOPOLOGY)
EVENING = AT.replace(hour=21)


def _asleep(settings, device: str, *ports: str) -> dict[str, DeviceSettings]:
    result = dict(settings)
    current = result[device]
    interfaces = dict(current.interfaces)
    for port in ports:
        interfaces[port] = replace(current.interface(port), power_mode=PowerMode.SLEEP)
    result[device] = replace(current, interfaces=interfaces)
    return result


def _power(state, settings, name: str):
    spec = TOPOLOGY.device(name)
    return device_power(
        spec,
        TOPOLOGY,
        METRO.router_profiles[spec.power_profile],
        state.devices[name],
        settings[name],
    )


@pytest.fixture(scope="module")
def model() -> NetworkModel:
    return NetworkModel(TOPOLOGY, METRO.demands, seed=0)


def test_a_sleeping_backup_port_saves_power_and_loses_no_traffic(model):
    awake = model.step(EVENING, BASE)
    settings = _asleep(_asleep(BASE, "acc-west-1", "eth2"), "core2", "eth5")
    asleep = model.step(EVENING, settings)
    profile = METRO.router_profiles["access-router"]
    saved = (
        _power(awake, BASE, "acc-west-1").total_w - _power(asleep, settings, "acc-west-1").total_w
    )
    assert saved == pytest.approx(profile.port_w - profile.port_sleep_w)
    assert _power(asleep, settings, "core2").port("eth5").power_state is PowerState.SLEEP
    delivered = sum(f.delivered_mbps for f in asleep.flows.values())
    assert delivered == pytest.approx(sum(f.delivered_mbps for f in awake.flows.values()))


def test_a_sleeping_primary_uplink_reroutes_over_the_backup(model):
    awake = model.step(EVENING, BASE)
    assert awake.port("acc-west-1", "eth2").tx_mbps == 0  # the backup idles
    asleep = model.step(EVENING, _asleep(BASE, "acc-west-1", "eth1"))
    assert not asleep.port("acc-west-1", "eth1").oper_up
    assert asleep.port("agg-west", "eth3").tx_mbps == 0
    assert asleep.port("acc-west-1", "eth2").rx_mbps == pytest.approx(
        awake.port("acc-west-1", "eth1").rx_mbps
    )
    assert asleep.path("edge-west", "acc-west-1", TrafficClass.VIDEO).hops[-2] == "core2"


def test_a_line_card_sleeps_only_when_all_its_ports_sleep(model):
    one = _asleep(BASE, "core3", "eth3")
    state = model.step(EVENING, one)
    cards = {c.name: c for c in _power(state, one, "core3").cards}
    assert cards["lc2"].power_state is PowerState.ACTIVE
    both = _asleep(one, "core3", "eth5")
    state = model.step(EVENING, both)
    power = _power(state, both, "core3")
    cards = {c.name: c for c in power.cards}
    profile = METRO.router_profiles["core-router"]
    assert cards["lc2"].power_state is PowerState.SLEEP
    assert cards["lc2"].watts == profile.card_sleep_w
    assert cards["lc1"].power_state is PowerState.ACTIVE


def test_router_power_rises_with_load_by_the_load_proportional_part(model):
    night = model.step(AT.replace(hour=4), BASE)
    evening = model.step(EVENING, BASE)
    for name in ("agg-east", "core2"):
        assert _power(evening, BASE, name).total_w > _power(night, BASE, name).total_w


RADIO = TOPOLOGY.device("ran-west-1").radio
EARTH = BUILTIN_RADIO_PROFILES["earth-macro"]


def test_earth_carrier_power_follows_the_published_formula():
    # Auer et al. 2011: P = NTRX (P0 + dp Pout), Pout = load Pmax; asleep NTRX Psleep
    assert EARTH.watts(0.0, asleep=False) == pytest.approx(2 * 130.0)
    assert EARTH.watts(1.0, asleep=False) == pytest.approx(2 * (130.0 + 4.7 * 20.0))
    assert EARTH.watts(0.5, asleep=False) == pytest.approx(2 * (130.0 + 4.7 * 10.0))
    assert EARTH.watts(0.7, asleep=True) == pytest.approx(2 * 75.0)


def test_a_sleeping_capacity_carrier_moves_its_load_to_the_coverage_carrier():
    assert RADIO is not None
    sleeping = DeviceSettings(
        carriers={f"{c}-n3500": CarrierSettings(PowerMode.SLEEP) for c in "abc"}
    )
    # night load: sleeping the capacity layer saves power
    awake = radio_state(RADIO, METRO.radio_profiles, DeviceSettings(), 30.0)
    asleep = radio_state(RADIO, METRO.radio_profiles, sleeping, 30.0)
    load = {c.name: c for c in asleep.carriers}
    assert load["a-l800"].served_mbps == pytest.approx(10.0)  # 30 over three cells
    assert load["a-n3500"].served_mbps == 0 and load["a-n3500"].power_state is PowerState.SLEEP
    assert asleep.served_mbps == pytest.approx(30.0)
    assert asleep.watts < awake.watts
    # near the coverage layer's capacity it does not: EARTH's load term eats the saving
    awake = radio_state(RADIO, METRO.radio_profiles, DeviceSettings(), 100.0)
    asleep = radio_state(RADIO, METRO.radio_profiles, sleeping, 100.0)
    assert asleep.watts > awake.watts


def test_a_cell_without_awake_carriers_hands_its_load_to_an_overlapping_cell():
    assert RADIO is not None
    settings = DeviceSettings(
        carriers={name: CarrierSettings(PowerMode.SLEEP) for name in ("a-l800", "a-n3500")}
    )
    state = radio_state(RADIO, METRO.radio_profiles, settings, 300.0)
    per_cell: dict[str, float] = {}
    for carrier in state.carriers:
        per_cell[carrier.cell] = per_cell.get(carrier.cell, 0.0) + carrier.served_mbps
    assert per_cell["a"] == 0
    assert per_cell["b"] == pytest.approx(150.0) and per_cell["c"] == pytest.approx(150.0)
    assert state.served_ratio == pytest.approx(1.0)


def test_radio_overload_is_capped_at_the_carrier_capacity():
    assert RADIO is not None
    state = radio_state(RADIO, METRO.radio_profiles, DeviceSettings(), 3 * 390.0 * 2)
    assert all(c.load == pytest.approx(1.0) for c in state.carriers)
    assert state.served_ratio == pytest.approx(0.5)


def test_the_radio_access_holds_a_realistic_share_of_the_power(model):
    state = model.step(EVENING, BASE)
    total = radio = 0.0
    for spec in TOPOLOGY.devices:
        air = None
        if spec.radio is not None:
            air = radio_state(
                spec.radio,
                METRO.radio_profiles,
                BASE[spec.name],
                state.devices[spec.name].delivered_mbps,
            )
        power = device_power(
            spec,
            TOPOLOGY,
            METRO.router_profiles[spec.power_profile],
            state.devices[spec.name],
            BASE[spec.name],
            radio=air,
        )
        total += power.total_w
        radio += power.radio_w
    assert 0.45 < radio / total < 0.75
