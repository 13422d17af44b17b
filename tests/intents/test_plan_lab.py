"""``netpilot intents plan --config`` against the embedded lab: it reads every device over
SNMP and NETCONF, runs the policies, prints what the controller would do, and changes
nothing on any device."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path

import pytest

from controller.config import ApplySettings, LoopSettings
from controller.demo import write_controller_config
from lab.runtime import LabNetwork, write_inventory
from lab.scenarios import get_scenario
from lab.topology import METRO_TOPOLOGY_PATH, default_lab, metro_lab
from tests.intents.conftest import energy, qos

pytestmark = [pytest.mark.integration]

NETPILOT = Path(sys.executable).parent / "netpilot"
METRO_ENERGY = Path(__file__).resolve().parents[2] / "examples" / "metro" / "energy-metro.yaml"


async def test_plan_reads_the_lab_and_changes_nothing(tmp_path):
    intents = tmp_path / "intents"
    intents.mkdir()
    # a target no network meets: the plan has something to say about it
    (intents / "video.yaml").write_text(qos("video-west-east", latency=0.5))
    (intents / "sleep.yaml").write_text(
        energy("night-sleep", priority=10, select="{site: east, role: core}")
    )
    network = LabNetwork(default_lab(), get_scenario("evening-peak"), seed=1)
    await network.start(tmp_path / "lab")
    try:
        config = write_controller_config(
            tmp_path,
            inventory=write_inventory(network, tmp_path / "lab"),
            intents_dir=intents,
            journal=tmp_path / "journal.sqlite",
            loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
            apply=ApplySettings(),
        )
        before = {name: device.settings for name, device in network.devices.items()}
        process = await asyncio.create_subprocess_exec(
            str(NETPILOT),
            "intents",
            "plan",
            str(intents),
            "--config",
            str(config),
            "--output",
            "json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        after = {name: device.settings for name, device in network.devices.items()}
    finally:
        await network.stop()
    assert process.returncode == 0, stderr.decode()[-3000:]
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    plan = report["plan"]
    assert plan is not None, report
    assert plan["devicesRead"] == ["r1", "r2", "r3", "r4"], plan["deviceErrors"]
    statuses = {s["name"]: s for s in plan["statuses"]}
    assert statuses["video-west-east"]["state"] == "degraded"
    # energy saving is enforced; without topology: (no twin, no power profiles) its targets
    # stay unmeasured (acknowledged), not refused as unenforced, and nothing sleeps
    assert statuses["night-sleep"]["state"] == "acknowledged", statuses["night-sleep"]
    assert not any("not enforced" in r for r in statuses["night-sleep"]["reasons"])
    actions = {a["intent"]: a for a in plan["actions"]}
    assert actions["night-sleep"]["kind"] == "none", actions["night-sleep"]
    action = actions["video-west-east"]
    assert action["intent"] == "video-west-east"
    assert action["kind"] in ("change", "held-back", "none")
    if action["kind"] == "change":
        assert action["devices"] and action["edits"] and action["predictedEffect"]
    # read-only: no device's configuration moved, no journal or store was written
    assert after == before
    assert not (tmp_path / "journal.sqlite").exists()
    assert not (tmp_path / "intents.sqlite").exists()


async def test_plan_decides_as_netpilot_run_does_with_the_twin(tmp_path):
    # the metro lab at 02:00 with its topology and the shipped energy intent, relaxed to
    # `redundancy: none` (with N+1, and coverage carriers that never sleep, nothing at this
    # load is worth a change: tests/e2e/test_run_all_intents.py does the same): the plan
    # shows the sleep netpilot run would apply (the twin, the MILP, the guards as if the
    # plan had stood for the hysteresis), and no device changes
    intents = tmp_path / "intents"
    intents.mkdir()
    shipped = METRO_ENERGY.read_text()
    relaxed = shipped.replace("{name: redundancy, value: n+1}", "{name: redundancy, value: none}")
    assert relaxed != shipped
    (intents / "energy-metro.yaml").write_text(relaxed)
    night = replace(get_scenario("night-low-load"), start=time(2, 0))
    network = LabNetwork(metro_lab(), night, seed=1)
    await network.start(tmp_path / "lab")
    try:
        config = write_controller_config(
            tmp_path,
            inventory=write_inventory(network, tmp_path / "lab"),
            intents_dir=intents,
            journal=tmp_path / "journal.sqlite",
            loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
            apply=ApplySettings(),
            topology=METRO_TOPOLOGY_PATH,
        )
        before = {name: device.settings for name, device in network.devices.items()}
        process = await asyncio.create_subprocess_exec(
            str(NETPILOT),
            *("intents", "plan", str(intents), "--config", str(config), "--output", "json"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        after = {name: device.settings for name, device in network.devices.items()}
    finally:
        await network.stop()
    assert process.returncode == 0, stderr.decode()[-3000:]
    plan = json.loads(stdout.decode().strip().splitlines()[-1])["plan"]
    (action,) = plan["actions"]
    assert action["intent"] == "energy-metro" and action["kind"] == "change", action
    assert action["summary"].startswith("sleep "), action
    assert action["devices"] and all("power-mode" in e for e in action["edits"]), action
    assert after == before
    assert not (tmp_path / "journal.sqlite").exists()
