"""One lab per state directory: a second `lab up` there is refused, naming the first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.launcher import LabOptions, StateDirInUseError, _own_state_dir, run_lab


def test_a_second_lab_on_one_state_dir_is_refused_and_the_first_named(tmp_path: Path) -> None:
    first = _own_state_dir(tmp_path)
    first.__enter__()
    try:
        with (
            pytest.raises(StateDirInUseError, match=f"pid {os.getpid()}"),
            _own_state_dir(tmp_path),
        ):
            pass
    finally:
        first.__exit__(None, None, None)
    with _own_state_dir(tmp_path):  # free again once the first has stopped
        pass


def test_lab_up_on_a_busy_state_dir_fails_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _own_state_dir(tmp_path):
        code = run_lab(LabOptions(state_dir=tmp_path, duration=1.0, output="json"))
    assert code == 1
    captured = capsys.readouterr()
    assert "a lab already runs with state directory" in captured.err
    assert "another --state-dir" in captured.out  # the JSON error line
    assert not (tmp_path / "inventory.yaml").exists()
