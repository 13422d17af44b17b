"""Operator rollback of a journaled change (controller/rollback.py) on in-memory devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.fake import FakeDevice
from controller.apply import VerificationSample, apply_plan
from controller.config import ApplySettings
from controller.errors import ChangeError
from controller.journal import Journal
from controller.model import (
    ChangeSet,
    ChangeStatus,
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    Plan,
    TrafficClass,
)
from controller.rollback import rollback_change

BASE = DeviceConfig(classes=(ClassConfig(TrafficClass.BULK, priority=4),))
EDIT = ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "5")
SETTINGS = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(seconds=3),
    verification_interval=timedelta(seconds=1),
    required_samples=1,
)


def clock() -> datetime:
    return datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


async def no_wait(_: float) -> None:
    return None


@pytest.fixture
async def applied(tmp_path):
    fleet = {n: FakeDevice(n, running=BASE) for n in ("r1", "r2")}
    journal = Journal(tmp_path / "journal.sqlite")

    async def open_session(name: str):
        return await fleet[name].open()

    async def good() -> VerificationSample:
        return VerificationSample(True, 10.0, "latencyMs=10")

    plan = Plan.make("video", tuple(ChangeSet.make("video", n, (EDIT,), "r") for n in fleet), "r")
    result = await apply_plan(
        plan,
        open_session=open_session,
        verify=good,
        journal=journal,
        settings=SETTINGS,
        clock=clock,
        sleep=no_wait,
    )
    assert result.status is ChangeStatus.CONFIRMED
    return fleet, journal, open_session, result.change_id


async def test_rollback_returns_every_device_to_its_base(applied):
    fleet, journal, open_session, txn = applied
    result = await rollback_change(
        txn, journal=journal, open_session=open_session, settings=SETTINGS, clock=clock
    )
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert all(d.running == BASE and d.pending is None for d in fleet.values())
    record = journal.change(result.change_id)
    assert record is not None and record.plan["explanation"] == {
        "rollback_of": txn,
        "forced": False,
    }


async def test_rollback_refuses_a_drifted_device_unless_forced(applied):
    fleet, journal, open_session, txn = applied
    drifted = fleet["r2"].running.with_edits(
        (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "5", "6"),)
    )
    fleet["r2"].running = fleet["r2"].candidate = drifted  # someone changed r2 since
    refused = await rollback_change(
        txn, journal=journal, open_session=open_session, settings=SETTINGS, clock=clock
    )
    assert refused.status is ChangeStatus.REJECTED_PRECHECK
    assert "drifted" in refused.detail
    assert fleet["r1"].running != BASE  # all or nothing: r1 was not rolled back either
    forced = await rollback_change(
        txn, journal=journal, open_session=open_session, settings=SETTINGS, clock=clock, force=True
    )
    assert forced.status is ChangeStatus.CONFIRMED, forced.detail
    assert all(d.running == BASE for d in fleet.values())


async def test_only_confirmed_changes_roll_back(applied):
    _, journal, open_session, txn = applied
    with pytest.raises(ChangeError, match="no such change"):
        await rollback_change(
            "nope", journal=journal, open_session=open_session, settings=SETTINGS, clock=clock
        )
    rejected = await _rejected(journal, open_session)
    with pytest.raises(ChangeError, match="only a confirmed change"):
        await rollback_change(
            rejected, journal=journal, open_session=open_session, settings=SETTINGS, clock=clock
        )
    rollback = await rollback_change(
        txn, journal=journal, open_session=open_session, settings=SETTINGS, clock=clock
    )
    assert rollback.status is ChangeStatus.CONFIRMED
    # rolled back already: refused with the rollback that did it, forced or not
    for force in (False, True):
        with pytest.raises(ChangeError, match=f"already rolled back by {rollback.change_id}"):
            await rollback_change(
                txn,
                journal=journal,
                open_session=open_session,
                settings=SETTINGS,
                clock=clock,
                force=force,
            )


async def test_a_forced_rollback_of_devices_already_back_has_nothing_to_do(applied):
    fleet, journal, open_session, txn = applied
    for device in fleet.values():
        device.running = device.candidate = BASE  # someone undid it by hand
    with pytest.raises(ChangeError, match="already holds"):
        await rollback_change(
            txn,
            journal=journal,
            open_session=open_session,
            settings=SETTINGS,
            clock=clock,
            force=True,
        )


async def _rejected(journal, open_session) -> str:
    stale = ConfigEdit(EditOp.CHANGE, ("qos", "class[name=bulk]", "priority"), "9", "1")
    result = await apply_plan(
        Plan.single(ChangeSet.make("video", "r1", (stale,), "stale")),
        open_session=open_session,
        verify=None,
        journal=journal,
        settings=SETTINGS,
        clock=clock,
        sleep=no_wait,
    )
    assert result.status is ChangeStatus.REJECTED_PRECHECK
    return result.change_id
