"""``netpilot intents plan`` in text spells an absent leaf as the console does; its JSON keeps
the report's own values. The planner is replaced (no network): what is tested is the output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

import controller.cli_intents
from controller import cli
from controller.model import Intent
from intents.plan import ActionKind, ActionPlan, PlannedAction

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ACTION = PlannedAction(
    intent="video-west-east",
    expectation="video-latency",
    kind=ActionKind.CHANGE,
    summary="raise video priority on r2",
    devices=("r2", "r3"),
    # as Edit.describe writes them: an absent leaf is "-"
    edits=(
        "r2: qos/class[name=video]/priority: - -> 6",
        "r3: qos/class[name=video]/shaper: 10 -> -",
    ),
)


async def fake_plan(self: object, intents: Sequence[Intent]) -> ActionPlan:
    return ActionPlan(at=datetime(2026, 11, 28, 20, 0, tzinfo=UTC), actions=(ACTION,))


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(controller.cli_intents.ReadOnlyPlanner, "plan", fake_plan)
    path = tmp_path / "netpilot.yaml"
    path.write_text(
        f"inventory: {EXAMPLES / 'inventory.yaml'}\nintents: {EXAMPLES / 'intents'}\n"
        f"journal: {tmp_path / 'journal.sqlite'}\n"
    )
    return path


def test_plan_text_spells_an_absent_leaf_as_unset(capsys, config):
    code = cli.main(["intents", "plan", str(EXAMPLES / "intents"), "--config", str(config)])
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK, out
    lines = out.splitlines()
    assert "      r2, r3: r2: qos/class[name=video]/priority: (unset) -> 6" in lines
    assert "      r2, r3: r3: qos/class[name=video]/shaper: 10 -> (unset)" in lines


def test_plan_json_keeps_the_report_values(capsys, config):
    code = cli.main(
        ["intents", "plan", str(EXAMPLES / "intents"), "--config", str(config), "--output", "json"]
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == cli.EXIT_OK
    assert report["plan"]["actions"][0]["edits"] == list(ACTION.edits)
