"""Energy saving in the closed loop on the embedded lab at night, over real NETCONF/SNMP:
the MILP's sleep plan goes out as ONE transaction over both ends of each link, is verified,
confirmed, and the devices draw less."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.netconf import open_session
from controller.app import ControllerRuntime, build_controller
from controller.config import LoopSettings, load_settings
from controller.demo import write_controller_config
from controller.model import ChangeStatus, PowerMode
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from lab.runtime import LabNetwork, write_inventory
from lab.scenarios import get_scenario
from lab.topology import default_lab
from policies.twin import Twin
from tests.e2e.conftest import APPLY, INTERVAL, Recorder, tick_until_change

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENERGY = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: night-energy}
spec:
  priority: 40
  expectations:
    - id: sleep
      type: energy-saving
      objects: {devices: [r1, r2, r3, r4], resources: [links]}
      targets:
        - {name: powerReductionRatio, condition: greaterThanOrEqual, value: 0.01}
        - {name: maxUtilization, condition: lessThan, value: 0.95}
      contexts:
        - {name: redundancy, value: none}
  guards: {maxDevicesPerChange: 4, cooldownSeconds: 60}
"""


@pytest.fixture
async def night(tmp_path: Path) -> AsyncIterator[tuple[LabNetwork, ControllerRuntime, Recorder]]:
    network = LabNetwork(default_lab(), get_scenario("night-low-load"), seed=1)
    await network.start(tmp_path)
    intents_dir = tmp_path / "intents"
    intents_dir.mkdir()
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(network, tmp_path),
        intents_dir=intents_dir,
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=INTERVAL, violation_ticks=2),
        apply=APPLY,
    )
    recorder = Recorder()
    runtime = build_controller(load_settings(config), observers=[recorder])
    loaded = load_intent_set([IntentSource("energy.yaml", ENERGY)], support=FULL_SUPPORT)
    assert loaded.ok, loaded.errors
    runtime.controller.replace_intents(loaded.intents)
    runtime.controller.twin = Twin(default_lab())
    try:
        yield network, runtime, recorder
    finally:
        await runtime.controller.drain()
        await runtime.close()
        await network.stop()


async def test_links_sleep_in_one_transaction_and_power_falls(night):
    network, runtime, recorder = night
    first = await runtime.controller.tick()
    (status,) = first.statuses
    before = {t.target.name: t.observed for t in status.targets}
    assert before["powerReductionRatio"] == 0  # everything awake
    # an optimisation waits until the same plan stood for the hysteresis
    assert "hysteresis" in first.decisions[0].summary
    result = await tick_until_change(runtime, recorder)
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    decision, _ = recorder.started[-1]
    plan = decision.actions
    assert plan is not None
    assert 2 <= len(plan.devices) <= 4  # both ends of every link: one transaction
    assert decision.explanation["arbitration"]["outcome"] == "won"
    # each end runs power-mode sleep, as read back over NETCONF
    for change in plan.changes:
        session = await open_session(runtime.controller.devices[change.device])
        try:
            running = await session.get_running()
        finally:
            await session.close()
        for edit in change.edits:
            port = edit.path[1].removeprefix("interface[name=").removesuffix("]")
            assert running.interface(port).power_mode is PowerMode.SLEEP
    # the next ticks measure the saving against the fully-awake draw
    await asyncio.sleep(INTERVAL.total_seconds())
    report = await runtime.controller.tick()
    (status,) = report.statuses
    after = {t.target.name: t.observed for t in status.targets}
    assert after["powerReductionRatio"] > 0
    assert after["maxUtilization"] < 0.95
    truth = network.state
    assert truth is not None
    assert sum(f.unroutable_mbps for f in truth.flows.values()) == 0
