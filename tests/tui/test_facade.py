"""The console facade (controller/facade.py) over a real Controller on in-memory devices.

The controller, its journal (SQLite file), the change transaction and the rollback are the
real ones; only the devices are adapters/fake.py, so every path is reached in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.fake import FakeDevice
from adapters.snmp import SnmpPoller
from controller.config import ApplySettings, LoopSettings
from controller.errors import ChangeError, ConfigFileError, RpcError, SourceLocation
from controller.facade import InProcessFacade, document_span
from controller.journal import Journal
from controller.loop import Controller
from controller.model import (
    ChangeResult,
    ChangeStatus,
    ClassQueue,
    Decision,
    Device,
    DeviceConfig,
    Expectation,
    ExpectationObjects,
    ExpectationType,
    ExpectationVerb,
    Guards,
    Intent,
    NetconfEndpoint,
    NotFulfilledState,
    PathRef,
    ProbeResult,
    Target,
    TargetCondition,
    TrafficClass,
)
from controller.sense import Sensor

VIDEO = TrafficClass.VIDEO
SLOW = (ProbeResult("r4", VIDEO, 45.0, 0.0),)
FAST = (ProbeResult("r4", VIDEO, 9.0, 0.0),)
APPLY = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(milliseconds=50),
    verification_interval=timedelta(milliseconds=10),
    required_samples=2,
)
INTENT_TEXT = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: other}
spec: {}
---
# the video intent
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video-west-east}
spec:
  priority: 100
"""


class Clock:
    """Real elapsed time plus a manual offset, so guards can be walked past their windows."""

    def __init__(self) -> None:
        self.base = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
        self.start = time.monotonic()
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.start) + self.offset


class FixOnChange:
    """Makes the path fast as soon as a change starts (the change 'works')."""

    def __init__(self, r1: FakeDevice) -> None:
        self.r1 = r1
        self.finished: list[ChangeResult] = []

    def controller_ready(self, controller: Controller) -> None:
        return None

    def tick_finished(self, report: object) -> None:
        return None

    def change_started(self, decision: Decision, txn: str) -> None:
        self.r1.probes = FAST

    def change_finished(self, result: ChangeResult) -> None:
        self.finished.append(result)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Controller, dict[str, FakeDevice], Clock]]:
    intents_file = tmp_path / "intents.yaml"
    intents_file.write_text(INTENT_TEXT)
    intent = Intent(
        name="video-west-east",
        expectations=(
            Expectation(
                id="video-latency",
                type=ExpectationType.E2E_QOS,
                verb=ExpectationVerb.ENSURE,
                objects=ExpectationObjects(traffic_class=VIDEO, path=PathRef("r1", "r4")),
                targets=(Target("latencyMs", TargetCondition.LESS_THAN, 30.0),),
            ),
        ),
        guards=Guards(cooldown=timedelta(seconds=60), max_changes_per_hour=3),
        generation="g1",
        location=SourceLocation(str(intents_file), 8, 1),
    )
    fakes = {
        "r1": FakeDevice("r1", probes=SLOW),
        "r2": FakeDevice("r2", queues=(ClassQueue("eth2", VIDEO, 600.0, 40.0, 0.1),)),
    }
    devices = [Device(n, "127.0.0.1", netconf=NetconfEndpoint(port=1, username="x")) for n in fakes]

    async def open_session(device: Device):
        return await fakes[device.name].open()

    clock = Clock()
    poller = SnmpPoller()
    sensor = Sensor(devices, open_session=open_session, poller=poller, clock=clock)
    controller = Controller(
        intents=[intent],
        devices=devices,
        sensor=sensor,
        open_config_session=open_session,
        journal=Journal(tmp_path / "journal.sqlite"),
        loop_settings=LoopSettings(interval=timedelta(seconds=10), violation_ticks=2),
        apply_settings=APPLY,
        clock=clock,
        observers=[FixOnChange(fakes["r1"])],
    )
    try:
        yield controller, fakes, clock
    finally:
        await controller.drain()
        await sensor.close()
        await poller.close()
        controller.journal.close()


async def ticks(controller: Controller, clock: Clock, count: int) -> None:
    for _ in range(count):
        await controller.tick()
        await controller.drain()
        clock.offset += timedelta(seconds=10)


async def confirmed_change(controller: Controller, clock: Clock) -> str:
    await ticks(controller, clock, 3)
    (record,) = controller.journal.changes()
    assert record.status is ChangeStatus.CONFIRMED
    return record.txn


async def test_snapshot_and_changes_show_the_live_controller(rig):
    controller, fakes, clock = rig
    facade = InProcessFacade(controller)
    txn = await confirmed_change(controller, clock)
    snapshot = await facade.snapshot()
    assert snapshot.ticks == 3 and [i.name for i in snapshot.intents] == ["video-west-east"]
    assert [d.name for d in snapshot.devices] == ["r1", "r2"]
    assert snapshot.statuses[0].status.value == "fulfilled"
    assert set(snapshot.observations) == {"r1", "r2"} and snapshot.in_flight == {}
    (view,) = await facade.changes()
    assert (view.txn, view.status, view.devices) == (txn, ChangeStatus.CONFIRMED, ("r2",))
    assert [e.describe() for e in view.edits] == ["qos/class[name=video]/priority: (unset) -> 1"]
    assert view.explanation["chosen"] == view.change_id and view.can_roll_back
    detail = await facade.change(txn)
    assert detail is not None
    steps = [s.step for s in detail.timeline]
    assert steps[0] == "planned" and "committed" in steps and steps[-1] == "finished:confirmed"
    assert await facade.change("no-such-txn") is None


async def test_rollback_restores_the_device_and_the_loop_does_not_redo_it(rig):
    controller, fakes, clock = rig
    facade = InProcessFacade(controller)
    txn = await confirmed_change(controller, clock)
    assert fakes["r2"].running != DeviceConfig()
    result = await facade.rollback(txn)
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert fakes["r2"].running == DeviceConfig() and fakes["r2"].pending is None
    undo, original = await facade.changes()
    assert undo.rollback_of == txn and original.rolled_back_by == undo.txn
    assert not original.can_roll_back
    detail = await facade.change(txn)
    assert detail is not None and detail.change.rolled_back_by == undo.txn
    # the path is slow again, past every cooldown: the loop holds the undone change back
    fakes["r1"].probes = SLOW
    clock.offset += timedelta(minutes=5)
    await ticks(controller, clock, 3)
    assert len(controller.journal.changes()) == 2
    assert controller.statuses["video-west-east"].state is NotFulfilledState.FULFILMENT_FAILED
    assert original.change_id in (await facade.snapshot()).held["video-west-east"]
    with pytest.raises(ChangeError, match="already rolled back"):
        await facade.rollback(txn)


async def test_rollback_refuses_unknown_and_unconfirmed_changes(rig):
    controller, fakes, clock = rig
    facade = InProcessFacade(controller)
    with pytest.raises(ChangeError, match="no such change"):
        await facade.rollback("chg-nope")
    fakes["r2"].fail_next("validate", RpcError("r2", "invalid-value", "unsupported value"))
    await ticks(controller, clock, 3)
    (refused,) = await facade.changes()
    assert refused.status is ChangeStatus.REJECTED_PRECHECK and not refused.can_roll_back
    with pytest.raises(ChangeError, match="only a confirmed change"):
        await facade.rollback(refused.txn)


async def test_rollback_refuses_a_device_busy_with_another_change(rig):
    controller, fakes, clock = rig
    facade = InProcessFacade(controller)
    txn = await confirmed_change(controller, clock)
    controller._busy_devices.add("r2")  # the loop has a transaction running on r2
    with pytest.raises(ChangeError, match="r2 is busy"):
        await facade.rollback(txn)
    assert fakes["r2"].calls.count("commit") == 1  # nothing was sent
    assert "r2" in controller._busy_devices  # and the loop's hold was left alone


async def test_rollback_holds_its_devices_and_drain_waits_for_it(rig):
    controller, fakes, clock = rig
    facade = InProcessFacade(controller)
    txn = await confirmed_change(controller, clock)
    gate = asyncio.Event()
    opened = asyncio.Event()
    real_open = controller._open_config_session

    async def slow_open(device: Device):
        opened.set()
        await gate.wait()
        return await real_open(device)

    controller._open_config_session = slow_open
    task = asyncio.create_task(facade.rollback(txn))
    await asyncio.wait_for(opened.wait(), timeout=5)
    assert "r2" in controller._busy_devices  # the loop will not start a change on r2 now
    drained = asyncio.create_task(facade.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    task.cancel()  # the console gave up waiting: the rollback goes on regardless
    gate.set()
    await asyncio.wait_for(drained, timeout=5)
    assert "r2" not in controller._busy_devices
    assert fakes["r2"].running == DeviceConfig()


async def test_intent_source_names_its_document(rig, tmp_path):
    controller, _, _ = rig
    facade = InProcessFacade(controller)
    source = await facade.intent_source("video-west-east")
    assert source.text == INTENT_TEXT and source.generation == "g1"
    assert (source.first_line, source.last_line) == (6, 11)
    with pytest.raises(ConfigFileError):
        await facade.intent_source("nope")
    (tmp_path / "intents.yaml").unlink()
    with pytest.raises(ConfigFileError, match="cannot read"):
        await facade.intent_source("video-west-east")


def test_document_span():
    text = "a: 1\n---\nb: 2\nc: 3\n--- \nd: 4\n...\n"
    assert document_span(text, 1) == (1, 1)
    assert document_span(text, 4) == (3, 4)
    assert document_span(text, 6) == (6, 6)
    assert document_span("", 5) == (1, 1)
