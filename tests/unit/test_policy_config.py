"""``policy:`` in the controller config: the confidence gate and acting on predictions reach
the decision logic of run, demo and plan (controller.app.decision_inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.app import decision_inputs
from controller.config import load_settings
from controller.errors import ConfigFileError
from policies.base import PolicySettings

HEAD = "inventory: inventory.yaml\nintents: intents\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "intents").mkdir()
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    return tmp_path / "netpilot.yaml"


def test_without_policy_the_defaults_hold(config: Path) -> None:
    config.write_text(HEAD)
    chosen = decision_inputs(load_settings(config)).policy_settings
    default = PolicySettings()
    assert (chosen.min_confidence, chosen.act_on_prediction) == (
        default.min_confidence,
        default.act_on_prediction,
    )


def test_policy_settings_reach_the_decision_logic(config: Path) -> None:
    config.write_text(HEAD + "policy:\n  minConfidence: 0.5\n  actOnPrediction: false\n")
    chosen = decision_inputs(load_settings(config)).policy_settings
    assert chosen.min_confidence == 0.5 and chosen.act_on_prediction is False


@pytest.mark.parametrize(
    ("line", "field", "says"),
    [
        ("  minConfidence: 1.5\n", "policy.minConfidence", "at most 1"),
        ("  actOnPrediction: maybe\n", "policy.actOnPrediction", ""),
        ("  minConfidense: 0.5\n", "policy", "minConfidence"),
    ],
)
def test_a_bad_policy_names_file_line_and_field(
    config: Path, line: str, field: str, says: str
) -> None:
    config.write_text(HEAD + "policy:\n" + line)
    with pytest.raises(ConfigFileError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "netpilot.yaml:4" in message and field in message, message
    assert says in message, message
