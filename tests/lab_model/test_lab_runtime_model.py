"""The lab runtime without sockets: daily profile in the status, faults, reboot, determinism."""

from __future__ import annotations

import pytest

from lab.generate import generate_lab
from lab.launcher import format_status
from lab.runtime import LabNetwork
from lab.scenarios import get_scenario, scenario_names
from lab.topology import default_lab, metro_lab


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lab(scenario: str, *, seed: int = 1, spec=None, speed: float | None = None):
    clock = Clock()
    lab = LabNetwork(
        spec or metro_lab(), get_scenario(scenario), seed=seed, speed=speed, wall_clock=clock
    )
    return lab, clock


def test_night_low_load_at_60x_shows_load_and_power_following_the_daily_profile():
    lab, clock = _lab("night-low-load", speed=60)
    rows = []
    for minute in range(0, 601, 30):  # ten lab hours, a status every 30 lab minutes
        clock.now = minute  # 1 wall second = 1 lab minute at 60x
        lab.step()
        status = lab.status(detail=False)
        rows.append((status["load"]["offered_gbps"], status["power"]["total_kw"]))
        assert "kW" in format_status(status) and "Gbit/s" in format_status(status)
    loads = [load for load, _ in rows]
    powers = [power for _, power in rows]
    trough = loads.index(min(loads))
    # 22:00 -> the trough in the small hours -> rising again towards 08:00
    assert 8 <= trough <= 16  # between 02:00 and 06:00
    assert loads[0] > 3 * loads[trough] and loads[-1] > 2 * loads[trough]
    assert powers.index(min(powers)) == trough
    assert powers[0] - powers[trough] > 1.0  # kW: the radio's load-dependent part


def test_the_same_seed_gives_the_same_run():
    def run(seed: int):
        lab, clock = _lab("flash-crowd", seed=seed)
        statuses = []
        for second in range(0, 40, 2):
            clock.now = second
            lab.step()
            statuses.append(lab.status(detail=True))
        return statuses, lab.video_truth()

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_every_named_scenario_runs_on_the_metro_and_the_four_router_lab():
    assert set(scenario_names()) >= {
        "evening-peak",
        "flash-crowd",
        "link-degradation",
        "fiber-cut",
        "night-low-load",
        "device-reboot",
        "commit-failure",
        "unreachable-device",
        "slow-device",
        "steady",
    }
    for name in scenario_names():
        for spec in (metro_lab(), default_lab()):
            lab, clock = _lab(name, spec=spec)
            clock.now = 400  # 400 lab minutes at 60x
            lab.step()
            assert lab.state is not None and lab.state.converged


def test_fiber_cut_takes_the_link_down_and_traffic_reroutes():
    lab, clock = _lab("fiber-cut")
    clock.now = 1  # 18:01 (one wall second is one lab minute at 60x)
    before = lab.step()
    assert before.port("core4", "eth2").oper_up
    clock.now = 10  # 18:10: cut
    after = lab.step()
    assert not after.port("core4", "eth2").oper_up and not after.port("core1", "eth2").oper_up
    delivered = sum(f.delivered_mbps for f in after.flows.values())
    assert delivered == pytest.approx(sum(f.offered_mbps for f in after.flows.values()))
    assert any("core4-core1" in f for f in lab.status()["faults"])


def test_device_reboot_resets_counters_and_uptime_and_reroutes():
    lab, clock = _lab("device-reboot")
    clock.now = 3  # 14:03, before the reboot
    lab.step()
    clock.now = 4
    lab.step()
    before = lab.snmp_snapshot("agg-east")
    assert before.interfaces[0].out_octets > 0
    clock.now = 6  # 14:06: rebooting
    state = lab.step()
    assert lab.devices["agg-east"].down
    assert not state.port("agg-east", "eth1").oper_up
    assert state.port("acc-east-1", "eth2").rx_mbps > 0  # the backup uplink carries it
    clock.now = 10  # 14:10: back
    lab.step()
    assert not lab.devices["agg-east"].down
    after = lab.snmp_snapshot("agg-east")
    assert after.uptime_ticks < 3 * 60 * 100  # counts from the end of the downtime
    assert after.interfaces[0].out_octets < before.interfaces[0].out_octets


def test_commit_failure_and_unreachable_and_slow_scenarios_set_device_faults():
    lab, clock = _lab("commit-failure")
    lab.step()
    assert lab.devices["agg-west"].commit_should_fail() is not None
    assert lab.devices["agg-west"].commit_should_fail() is None  # only the next one
    lab, clock = _lab("unreachable-device")
    clock.now = 10
    lab.step()
    assert lab.devices["acc-east-1"].admission() is None
    assert not lab.devices["acc-east-1"].down  # it still forwards
    lab, clock = _lab("slow-device")
    clock.now = 10
    lab.step()
    assert lab.devices["agg-west"].admission() == 2.0


def test_injected_link_faults_degrade_and_restore():
    lab, clock = _lab("steady")
    lab.step()
    lab.faults.degrade_link("core2-core3", capacity=0.25, loss=0.02, delay_ms=5)
    clock.now = 1
    state = lab.step()
    port = state.port("core2", "eth2")
    assert port.capacity_mbps == pytest.approx(10_000)
    assert port.classes[next(iter(port.classes))].drop_ratio >= 0.02 - 1e-9
    lab.faults.restore_link("core2-core3")
    clock.now = 2
    assert lab.step().port("core2", "eth2").capacity_mbps == pytest.approx(40_000)
    with pytest.raises(KeyError):
        lab.faults.cut_link("no-such-link")


def test_a_port_set_active_again_waits_its_wake_time():
    lab, clock = _lab("steady")
    lab.step()
    device = lab.devices["acc-west-1"]
    from dataclasses import replace

    from lab.config import PowerMode

    asleep = replace(
        device.settings,
        interfaces={
            **device.settings.interfaces,
            "eth2": replace(device.settings.interface("eth2"), power_mode=PowerMode.SLEEP),
        },
    )
    previous, device.settings = device.settings, asleep
    lab.settings_changed(device, previous)
    lab.step()
    assert lab.powers["acc-west-1"].port("eth2").power_state.value == "sleep"
    previous, device.settings = device.settings, previous
    lab.settings_changed(device, previous)
    state = lab.step()
    assert lab.powers["acc-west-1"].port("eth2").power_state.value == "waking"
    assert not state.port("acc-west-1", "eth2").oper_up
    clock.now = 1.0  # 60 lab seconds later: the access profile wakes in 20 s
    state = lab.step()
    assert state.port("acc-west-1", "eth2").oper_up
    assert lab.powers["acc-west-1"].port("eth2").power_state.value == "active"


@pytest.mark.parametrize("devices", [8, 13, 57, 1000])
def test_the_generator_builds_exactly_n_devices_with_the_metro_names(devices):
    spec = generate_lab(devices)
    topology = spec.topology
    assert len(topology.devices) == devices
    names = set(topology.device_names())
    assert {"core1", "core2", "core3", "core4", "edge-west", "agg-west"} <= names
    assert spec.demands and all(topology.has_device(d.destination) for d in spec.demands)
    if devices >= 57:
        assert any(d.radio is not None for d in topology.devices)
        topology.link("core4-core1" if devices < 200 else "core8-core1")
