"""The controller's change transaction (controller.apply) against Debian's netconfd.

The same code that changes the embedded lab's devices runs here against a NETCONF server
nobody on the project wrote, loaded with the netpilot-lab YANG module. netconfd has no
operational data, so the post-check's KPI comes from a scripted source; everything the
transaction does to the device is real and is checked on the device afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.netconf import open_session
from controller.apply import VerificationSample, apply_change
from controller.config import ApplySettings
from controller.journal import Journal
from controller.model import (
    ChangeSet,
    ChangeStatus,
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    TrafficClass,
)
from tests.peers.netconfd import NetconfdDevice, NetconfdLab

pytestmark = [pytest.mark.integration, pytest.mark.interop]

SETTINGS = ApplySettings(
    confirm_timeout=timedelta(seconds=120),
    verification_window=timedelta(seconds=5),
    verification_interval=timedelta(seconds=1),
    required_samples=3,
)
VIDEO_PRIORITY = ("qos", "class[name=video]", "priority")
BULK_PRIORITY = ("qos", "class[name=bulk]", "priority")


class ScriptedTime:
    """A clock that only moves when the transaction sleeps: no real waiting in the window."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def kpi(values: Iterator[float], bound: float = 30.0):
    """A post-check source: latency samples from a script, met when below ``bound``."""

    async def sample() -> VerificationSample:
        value = next(values)
        return VerificationSample(value < bound, value, f"latencyMs={value}")

    return sample


@pytest.fixture
def tx1(netconfd_lab: NetconfdLab) -> NetconfdDevice:
    return netconfd_lab["tx1"]


@pytest.fixture
async def base(tx1: NetconfdDevice, tmp_path: Path) -> DeviceConfig:
    """Put the device at a known configuration (bulk at priority 4) through a transaction."""
    wanted = DeviceConfig(classes=(ClassConfig(TrafficClass.BULK, priority=4),))
    session = await open_session(tx1.device())
    try:
        running = await session.get_running()
    finally:
        await session.close()
    edits = running.diff(wanted)
    if edits:
        time = ScriptedTime()
        journal = Journal(tmp_path / "setup.sqlite")
        result = await apply_change(
            ChangeSet.make("setup", "tx1", edits, "test set-up"),
            open_session=lambda name: open_session(tx1.device()),
            verify=kpi(iter([1.0] * 10)),
            journal=journal,
            settings=SETTINGS,
            clock=time.clock,
            sleep=time.sleep,
        )
        journal.close()
        assert result.status is ChangeStatus.CONFIRMED, result.detail
    return wanted


async def running_of(dev: NetconfdDevice) -> DeviceConfig:
    session = await open_session(dev.device())
    try:
        return await session.get_running()
    finally:
        await session.close()


async def run(dev: NetconfdDevice, journal: Journal, edits: tuple[ConfigEdit, ...], samples):
    time = ScriptedTime()
    return await apply_change(
        ChangeSet.make("video-west-east", "tx1", edits, "raise video priority"),
        open_session=lambda name: open_session(dev.device()),
        verify=kpi(iter(samples)),
        journal=journal,
        settings=SETTINGS,
        clock=time.clock,
        sleep=time.sleep,
    )


async def test_verified_change_is_confirmed_on_the_device(tx1, base, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    edit = ConfigEdit(EditOp.ADD, VIDEO_PRIORITY, None, "5")
    result = await run(tx1, journal, (edit,), [45.0, 12.0, 11.0, 10.0])
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    running = await running_of(tx1)
    assert running.class_config(TrafficClass.VIDEO).priority == 5
    assert running.class_config(TrafficClass.BULK).priority == 4
    steps = [e.step for e in journal.events(txn=result.change_id)]
    assert steps[:8] == [
        "planned",
        "connected",
        "locked",
        "base-read",
        "validated",
        "candidate-edited",
        "compared",
        "committed",
    ]
    assert steps[-2:] == ["confirmed", "finished:confirmed"]
    assert steps.count("verify-sample") == 4


async def test_failed_post_check_rolls_back_to_the_pre_change_config(tx1, base, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    edit = ConfigEdit(EditOp.ADD, VIDEO_PRIORITY, None, "5")
    result = await run(tx1, journal, (edit,), [45.0] * 20)
    assert result.status is ChangeStatus.ROLLED_BACK, result.detail
    assert await running_of(tx1) == base  # the device itself is back
    events = journal.events(txn=result.change_id)
    steps = [e.step for e in events]
    assert "committed" in steps
    assert steps[-3:] == ["cancel-commit", "restored", "finished:rolled-back"]
    assert "post-check failed" in result.detail
    record = journal.change(result.change_id)
    assert record is not None and record.status is ChangeStatus.ROLLED_BACK


async def test_device_validation_refusal_changes_nothing(tx1, base, tmp_path):
    # two classes at the strict priority level 7 break the module's must rule
    journal = Journal(tmp_path / "journal.sqlite")
    edits = (
        ConfigEdit(EditOp.ADD, VIDEO_PRIORITY, None, "7"),
        ConfigEdit(EditOp.CHANGE, BULK_PRIORITY, "4", "7"),
    )
    result = await run(tx1, journal, edits, [1.0] * 10)
    assert result.status is ChangeStatus.REJECTED_PRECHECK, result.detail
    assert result.error is not None and result.error.get("app_tag") == "strict-priority-exclusive"
    assert await running_of(tx1) == base
    steps = [e.step for e in journal.events(txn=result.change_id)]
    assert "committed" not in steps and "validated" not in steps
    assert steps[-2:] == ["discarded", "finished:rejected-precheck"]


async def test_drifted_device_is_refused_before_any_edit(tx1, base, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    stale = ConfigEdit(EditOp.CHANGE, BULK_PRIORITY, "2", "3")  # the device holds 4, not 2
    result = await run(tx1, journal, (stale,), [1.0] * 10)
    assert result.status is ChangeStatus.REJECTED_PRECHECK
    assert "drifted" in result.detail
    assert await running_of(tx1) == base
