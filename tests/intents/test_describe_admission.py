"""``intents describe`` admits as ``netpilot run`` admits for the same config (with a
topology, a sleep plan that loses to a path is checked on the what-if twin, not narrowed),
and shows the latest evaluation the controller wrote, not the last status change."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller import cli
from controller.config import load_settings
from controller.gitops import DirectorySource, IntentSetManager
from controller.intent_store import IntentStore, default_store_path
from controller.model import (
    FulfilmentStatus,
    IntentStatus,
    NotFulfilledState,
    Target,
    TargetCondition,
    TargetStatus,
)
from intents.diff import intent_to_dict
from intents.support import controller_support
from lab.topology import METRO_TOPOLOGY_PATH, metro_lab

METRO = Path(__file__).resolve().parents[2] / "examples" / "metro"
T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def metro_config(tmp_path: Path, *, topology: bool) -> Path:
    devices = [
        {"name": d.name, "address": "127.0.0.1", "labels": {"site": d.site, "role": d.role.value}}
        for d in metro_lab().topology.devices
    ]
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump({"devices": devices}))
    shutil.copytree(METRO, tmp_path / "intents")
    config: dict[str, object] = {
        "inventory": str(tmp_path / "inventory.yaml"),
        "intents": str(tmp_path / "intents"),
        "journal": str(tmp_path / "journal.sqlite"),
    }
    if topology:
        config["topology"] = str(METRO_TOPOLOGY_PATH)
    path = tmp_path / "netpilot.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def admit_as_the_daemon(config: Path) -> IntentSetManager:
    """What controller/service.py does at start: the support follows the config's topology."""
    settings = load_settings(config)
    store = IntentStore(default_store_path(settings.journal_path))
    manager = IntentSetManager(
        store,
        inventory=settings.inventory,
        support=controller_support(topology=settings.topology is not None),
    )
    manager.admit(DirectorySource(Path(settings.intents.location)).read())
    return manager


def describe(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, Any]:
    code = cli.main(["intents", "describe", *(str(a) for a in argv)])
    out, _ = capsys.readouterr()
    return code, out, json.loads(out.strip().splitlines()[-1]) if "--output" in argv else None


@pytest.mark.parametrize("topology", [True, False])
def test_describe_admits_as_the_daemon_does(capsys, tmp_path, topology):
    config = metro_config(tmp_path, topology=topology)
    manager = admit_as_the_daemon(config)
    daemon = next(i for i in manager.enforced() if i.name == "energy-metro")
    notes = list(manager.notes("energy-metro"))
    manager.store.close()

    code, _, described = describe(capsys, "energy-metro", "--config", config, "--output", "json")
    assert code == cli.EXIT_OK
    assert described["enforced"] == intent_to_dict(daemon)
    assert described["notes"] == notes
    code, text, _ = describe(capsys, "energy-metro", "--config", config)
    assert code == cli.EXIT_OK
    twin = [n for n in notes if "checked on the what-if twin" in n]
    if topology:
        assert daemon.mode.value == "auto" and "enforced as: mode" not in text
        # the west expectation acts beside the video path: its sleep plans go to the twin
        assert twin and daemon.expectations[0] == next(
            e
            for i in manager.state.active.intents  # type: ignore[union-attr]
            if i.name == "energy-metro"
            for e in i.expectations
            if e.id == "west"
        )
        assert "monitored only" not in text
    else:
        # without a twin the daemon too leaves it monitored only: describe says the same
        assert not twin and "enforced as: mode dry-run (the file says auto)" in text


def test_describe_shows_the_latest_evaluation(capsys, tmp_path):
    config = metro_config(tmp_path, topology=True)
    manager = admit_as_the_daemon(config)
    target = Target("powerReductionRatio", TargetCondition.GREATER_THAN_OR_EQUAL, 0.2)

    def status(observed: float, at: datetime) -> IntentStatus:
        return IntentStatus(
            "energy-metro",
            FulfilmentStatus.NOT_FULFILLED,
            NotFulfilledState.DEGRADED,
            (TargetStatus("west", target, observed, False),),
            ("powerReductionRatio is short",),
            at,
        )

    store = manager.store
    for tick, observed in enumerate((0.0, 0.05, 0.0894)):
        at = T0 + timedelta(seconds=5 * tick)
        store.record_status(status(observed, at))  # written once: the status never changed
        store.record_latest((status(observed, at),))
    store.close()
    code, _, described = describe(capsys, "energy-metro", "--config", config, "--output", "json")
    assert code == cli.EXIT_OK
    report = described["fulfilment"]
    (west,) = [e for e in report["expectationFulfilmentResults"] if e["expectationId"] == "west"]
    ratio = next(
        t for t in west["targetFulfilmentResults"] if t["targetName"] == "powerReductionRatio"
    )
    assert ratio["targetAchievedValue"] == pytest.approx(0.0894)
    assert report["lastEvaluation"] == (T0 + timedelta(seconds=10)).isoformat()
    assert len(described["history"]) == 1  # the history keeps the status changes only
