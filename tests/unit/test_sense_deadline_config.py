"""``loop.senseDeadlineSeconds``: how long a tick waits for one device (controller/sense.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from controller.config import LoopSettings, load_settings
from controller.errors import ConfigFileError

HEAD = "inventory: inventory.yaml\nintents: intents\nloop:\n  intervalSeconds: 5\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "intents").mkdir()
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    return tmp_path / "netpilot.yaml"


def test_the_default_deadline_is_a_share_of_the_interval(config: Path) -> None:
    config.write_text(HEAD)
    loop = load_settings(config).loop
    assert loop.sense_deadline is None
    assert loop.device_sense_deadline == timedelta(seconds=4)  # 0.8 x 5 s
    assert LoopSettings(interval=timedelta(seconds=30)).device_sense_deadline == timedelta(
        seconds=24
    )


def test_a_configured_deadline_is_used(config: Path) -> None:
    config.write_text(HEAD + "  senseDeadlineSeconds: 1.5\n")
    loop = load_settings(config).loop
    assert loop.sense_deadline == loop.device_sense_deadline == timedelta(seconds=1.5)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("7", "longer than the tick interval (5 s)"),
        ("0", "senseDeadlineSeconds"),
        ("soon", "must be a number"),
    ],
)
def test_a_bad_deadline_names_file_line_and_field(config: Path, value: str, says: str) -> None:
    config.write_text(HEAD + f"  senseDeadlineSeconds: {value}\n")
    with pytest.raises(ConfigFileError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "netpilot.yaml:5" in message and "loop.senseDeadlineSeconds" in message
    assert says in message
