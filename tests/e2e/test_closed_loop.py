"""The closed loop on the embedded lab, over real NETCONF/SSH and SNMP/UDP on loopback."""

from __future__ import annotations

import asyncio

import pytest

from adapters.netconf import open_session
from controller.model import ChangeStatus, FulfilmentStatus, TrafficClass
from tests.e2e.conftest import INTERVAL, tick_until_change

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_evening_peak_violation_is_fixed_by_a_confirmed_change(lab, controller):
    runtime, recorder = controller
    result = await tick_until_change(runtime, recorder)
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert result.device == "r2"  # the bottleneck of the preferred path
    # the violation that triggered it was real and measured over NETCONF
    violated = [
        s for r in recorder.ticks for s in r.statuses if s.status is FulfilmentStatus.NOT_FULFILLED
    ]
    assert violated and violated[0].targets[0].observed > 30
    # the device runs the change (read back over NETCONF, as the controller reads it)
    r2 = runtime.controller.devices["r2"]
    session = await open_session(r2)
    try:
        running = await session.get_running()
    finally:
        await session.close()
    assert running.class_config(TrafficClass.VIDEO).priority >= 1
    # and the intent is fulfilled on the next ticks
    await asyncio.sleep(INTERVAL.total_seconds())
    report = await runtime.controller.tick()
    (status,) = report.statuses
    assert status.status is FulfilmentStatus.FULFILLED, status.reasons
    # SNMP counters became rates on the agent's time base: r2's egress to r4 is loaded
    rates = {r.interface: r for r in report.observations["r2"].rates}
    assert rates["eth2"].utilization > 0.5


async def test_change_the_network_ignores_is_rolled_back(lab, controller):
    runtime, recorder = controller
    lab.devices["r2"].faults.ignore_config = True  # r2 accepts commits but nothing changes
    before = lab.devices["r2"].netconf.running
    result = await tick_until_change(runtime, recorder)
    assert result.status is ChangeStatus.ROLLED_BACK, result.detail
    assert "post-check failed" in result.detail
    # the device's running config equals its pre-change config: on the device itself...
    after = lab.devices["r2"].netconf.running
    assert _canonical(after) == _canonical(before)
    # ...and as the controller reads it over NETCONF
    session = await open_session(runtime.controller.devices["r2"])
    try:
        running = await session.get_running()
    finally:
        await session.close()
    assert running.class_config(TrafficClass.VIDEO).priority == 0
    # the journal says what happened and why
    events = runtime.journal.events(txn=result.change_id)
    steps = [e.step for e in events]
    assert "committed" in steps
    assert steps[-3:] == ["cancel-commit", "restored", "finished:rolled-back"]
    samples = [e.detail for e in events if e.step == "verify-sample"]
    assert samples and all(s["met"] is False for s in samples)
    record = runtime.journal.change(result.change_id)
    assert record is not None and record.status is ChangeStatus.ROLLED_BACK
    assert "post-check failed" in str(record.result)
    # the same change is quarantined: the next decisions do not retry it
    for _ in range(3):
        await runtime.controller.tick()
    assert runtime.controller.changes.get(ChangeStatus.ROLLED_BACK) == 1
    assert len(recorder.started) == 1
    assert "quarantined" in runtime.controller.last_decisions["video-west-east"].summary


def _canonical(element) -> bytes:
    import xml.etree.ElementTree as ET

    return ET.canonicalize(ET.tostring(element), strip_text=True).encode()


async def test_operator_rolls_back_a_confirmed_change_from_the_cli(lab, controller, tmp_path):
    import json
    import sys
    from pathlib import Path

    runtime, recorder = controller
    result = await tick_until_change(runtime, recorder)
    assert result.status is ChangeStatus.CONFIRMED
    netpilot = Path(sys.executable).parent / "netpilot"
    # the CLI is another process: run it without blocking this loop, which serves the lab
    process = await asyncio.create_subprocess_exec(
        str(netpilot),
        "changes",
        "rollback",
        result.change_id,
        "--config",
        str(tmp_path / "netpilot.yaml"),
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    rollback = json.loads(stdout.decode().strip().splitlines()[-1])["rollback"]
    assert rollback["status"] == "confirmed"
    session = await open_session(runtime.controller.devices["r2"])
    try:
        running = await session.get_running()
    finally:
        await session.close()
    assert running.class_config(TrafficClass.VIDEO).priority == 0
    assert all(c.name is not TrafficClass.VIDEO for c in running.classes)  # entry removed
