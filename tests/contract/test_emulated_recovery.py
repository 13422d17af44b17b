"""A controller dies mid-change on a :writable-running device; the next one settles it.

The lab's NETCONF server plays a device with only :writable-running, so netpilot emulates
the confirmed commit: the device itself never reverts. The first controller's transaction
is cut off after a journaled step (its connections die with it, nothing of its settling
reaches the device or the journal); a second controller, with a new NetconfClient and the
same journal, must restore the device from the journaled saved configuration, or confirm
when verification had completed, and never confirm a commit whose deadline has passed.
(tests/e2e/test_crash_recovery.py does the same with a real SIGKILL of ``netpilot run``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.netconf import NetconfClient
from controller.apply import HELD_STEP, VerificationSample, apply_change, recover_in_flight
from controller.config import ApplySettings
from controller.journal import Journal
from controller.model import (
    ChangeResult,
    ChangeSet,
    ChangeStatus,
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    TrafficClass,
)
from tests.contract.conftest import lab_server, proxied_lab
from tests.contract.faultproxy import FaultProxy

pytestmark = pytest.mark.integration

EDIT = ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "5")
DESIRED = DeviceConfig(classes=(ClassConfig(TrafficClass.VIDEO, priority=5),))
SETTINGS = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(seconds=5),
    verification_interval=timedelta(seconds=1),
    required_samples=1,
)
START = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


class Killed(BaseException):
    """Stands for SIGKILL: nothing of the first controller runs after it."""


def cut(proxy: FaultProxy) -> None:
    """The first controller's connections die with it, and it can open no new one."""
    proxy.target = ("127.0.0.1", 9)  # the discard port: nothing listens there
    for writer in list(proxy._writers):
        writer.transport.abort()


def dying_journal(path: Path, stop_after: str, proxy: FaultProxy) -> Journal:
    class DyingJournal(Journal):
        dead = False

        def die_after(self, step: object) -> None:
            if step == stop_after:
                self.flush()  # the step reached the disk, then the kill
                self.dead = True
                cut(proxy)
                raise Killed

        def event(self, kind: str, **kw: Any) -> int:
            if self.dead:
                raise Killed
            seq = super().event(kind, **kw)
            self.die_after(kw.get("step"))
            return seq

        def stage_event(self, kind: str, **kw: Any) -> None:
            if self.dead:
                raise Killed
            super().stage_event(kind, **kw)
            self.die_after(kw.get("step"))

        def finish_change(self, txn: str, result: ChangeResult) -> None:
            if self.dead:
                raise Killed
            super().finish_change(txn, result)

    return DyingJournal(path)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for the lab server to notice the dead connections."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the lab server kept the dead sessions")


@pytest.mark.parametrize(
    ("stop_after", "later", "status", "ends_at"),
    [
        pytest.param(HELD_STEP, 0, ChangeStatus.ROLLED_BACK, DeviceConfig(), id="before-edit"),
        pytest.param("committed", 0, ChangeStatus.ROLLED_BACK, DeviceConfig(), id="verifying"),
        pytest.param("verified", 0, ChangeStatus.CONFIRMED, DESIRED, id="verified"),
        # the deadline passed while no controller ran: restored, even though verified
        pytest.param("verified", 120, ChangeStatus.ROLLED_BACK, DeviceConfig(), id="expired"),
    ],
)
async def test_restart_settles_an_emulated_commit_from_the_journal(
    tmp_path: Path, stop_after: str, later: int, status: ChangeStatus, ends_at: DeviceConfig
) -> None:
    path = tmp_path / "journal.sqlite"
    async with lab_server(tmp_path, writable_running=True) as target:
        proxy, device = await proxied_lab(target, tmp_path)
        try:
            first = NetconfClient([device], clock=lambda: START)
            journal = dying_journal(path, stop_after, proxy)

            async def met() -> VerificationSample:
                return VerificationSample(True, 10.0, "met")

            async def instantly(_: float) -> None:
                return None

            with pytest.raises(Killed):
                await apply_change(
                    ChangeSet.make("intent", "lab1", (EDIT,), "raise video"),
                    open_session=first.open_session,
                    verify=met,
                    journal=journal,
                    settings=SETTINGS,
                    clock=lambda: START,
                    sleep=instantly,
                )
            # the first controller is gone: its client is never closed (that would restore)
            await until(lambda: not target.server.session_ids)
            # the device holds the change (nothing on it reverts) unless the kill came first
            assert len(target.server.running) == (0 if stop_after == HELD_STEP else 1)
            proxy.target = ("127.0.0.1", target.port)

            restarted = START + timedelta(seconds=later)
            second = NetconfClient([device], clock=lambda: restarted)
            try:
                (result,) = await recover_in_flight(
                    Journal(path),
                    open_session=second.open_session,
                    clock=lambda: restarted,
                    settings=SETTINGS,
                )
                assert result.status is status, result.detail
                assert second.pending_emulated_commit("lab1") is None
                async with second.session("lab1") as session:
                    assert await session.get_running() == ends_at
                steps = [e.step for e in Journal(path).events(txn=result.change_id)]
                assert "adopted" in steps, steps
            finally:
                await second.close()
        finally:
            await proxy.stop()
