"""bench day's options reach netpilot's decide step: ``--measured-confirmation`` turns the
prediction path off (the setting, not the figures: those are the benchmark's)."""

from __future__ import annotations

import argparse

from bench.day import _Netpilot, add_arguments
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
