"""bench day's options reach netpilot's decide step: ``--measured-confirmation`` turns the
prediction path off (the setting, not the figures: those are the benchmark's)."""

from __future__ import annotations

import argparse

from bench.day import _Baseline, _day_scenario, _Lab, _Netpilot, _Tally, add_arguments
from controller.model import PowerMode
from lab.topology import metro_lab


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_netpilot_acts_on_a_confident_prediction_unless_told_to_wait() -> None:
    spec = metro_lab()
    default = parse()
    assert default.measured_confirmation is False
    acting = _Netpilot(spec, None, act_on_prediction=not default.measured_confirmation)
    assert acting.settings.act_on_prediction is True
    waiting = parse("--measured-confirmation")
    held = _Netpilot(spec, None, act_on_prediction=not waiting.measured_confirmation)
    assert held.settings.act_on_prediction is False
    # everything else of the run's settings is the same
    assert held.settings.min_confidence == acting.settings.min_confidence
    assert held.settings.violation_ticks == acting.settings.violation_ticks


def test_the_baseline_sleeps_capacity_carriers_and_keeps_the_coverage_layer() -> None:
    # the operator's rule holds for both controllers, else the comparison is unfair
    spec = metro_lab()
    lab = _Lab(spec, _day_scenario(), 1)
    assert lab.now.hour < 6  # the day starts at 00:00: the baseline's night rule applies
    baseline = _Baseline(spec)
    baseline._energy(lab, _Tally(), lab.observations())
    carriers = {
        (device.name, carrier.name): carrier
        for device in spec.topology.devices
        if device.radio is not None
        for _, carrier in device.radio.carriers()
    }
    modes = {key: lab.configs[key[0]].carrier(key[1]).power_mode for key in carriers}
    assert modes
    for key, mode in modes.items():
        expected = PowerMode.SLEEP if carriers[key].may_sleep else PowerMode.ACTIVE
        assert mode is expected, key
    assert {name for (_, name), mode in modes.items() if mode is PowerMode.ACTIVE} == {
        "a-l800",
        "b-l800",
        "c-l800",
    }
