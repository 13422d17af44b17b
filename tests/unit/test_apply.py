"""The change transaction's fault matrix on an in-memory device (adapters/fake.py).

Every case asserts where the DEVICE ended (its running config and whether a confirmed commit
is still pending) and what the JOURNAL says, not just the returned status. The same code runs
against the lab's NETCONF server and Debian's netconfd in tests/e2e and tests/interop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import Capability
from adapters.fake import FakeDevice, FakeSession
from controller.apply import VerificationSample, apply_change, apply_plan, recover_in_flight
from controller.config import ApplySettings
from controller.errors import AdapterTimeoutError, ConnectError, RpcError
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

BASE = DeviceConfig(classes=(ClassConfig(TrafficClass.BULK, priority=4),))
EDIT = ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "5")
DESIRED = BASE.with_edits((EDIT,))
CHANGE = ChangeSet.make("video-west-east", "r2", (EDIT,), "raise video priority 0 -> 5 on r2")
SETTINGS = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(seconds=5),
    verification_interval=timedelta(seconds=1),
    required_samples=3,
)
GOOD = [10.0] * 10
BAD = [45.0] * 10


class Time:
    """The transaction's clock only moves when it sleeps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def verifier(samples: list[float], on_sample: Callable[[int], None] | None = None):
    count = 0

    async def sample() -> VerificationSample:
        nonlocal count
        count += 1
        if on_sample is not None:
            on_sample(count)
        value = samples[min(count, len(samples)) - 1]
        return VerificationSample(value < 30, value, f"latencyMs={value}")

    return sample


async def run(device: FakeDevice, journal: Journal, samples: list[float], on_sample=None):
    time = Time()

    async def open_session(name: str):
        assert name == device.name
        return await device.open()

    return await apply_change(
        CHANGE,
        open_session=open_session,
        verify=verifier(samples, on_sample),
        journal=journal,
        settings=SETTINGS,
        clock=time.clock,
        sleep=time.sleep,
    )


@pytest.fixture
def device() -> FakeDevice:
    return FakeDevice("r2", running=BASE)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite")


def raise_(error: Exception) -> None:
    raise error


# (id, set-up on the device, post-check samples, hook per sample, status, device ends at)
CASES = [
    ("verified", None, GOOD, None, ChangeStatus.CONFIRMED, DESIRED),
    ("post-check-fails", None, BAD, None, ChangeStatus.ROLLED_BACK, BASE),
    (
        "missing-capability",
        lambda d: setattr(d, "capabilities", frozenset({Capability.CANDIDATE})),
        GOOD,
        None,
        ChangeStatus.REJECTED_PRECHECK,
        BASE,
    ),
    (
        "unreachable",
        lambda d: setattr(d, "reachable", False),
        GOOD,
        None,
        ChangeStatus.REJECTED_PRECHECK,
        BASE,
    ),
    (
        "lock-denied",
        lambda d: setattr(d, "lock_owner", 999),
        GOOD,
        None,
        ChangeStatus.REJECTED_PRECHECK,
        BASE,
    ),
    (
        "validate-refused",
        lambda d: d.fail_next("validate", RpcError("r2", "invalid-value", "no")),
        GOOD,
        None,
        ChangeStatus.REJECTED_PRECHECK,
        BASE,
    ),
    (
        "edit-times-out",
        lambda d: d.fail_next("edit_candidate", AdapterTimeoutError("r2", "slow")),
        GOOD,
        None,
        ChangeStatus.REJECTED_PRECHECK,
        BASE,
    ),
    (
        "commit-refused",
        lambda d: d.fail_next("commit", RpcError("r2", "operation-failed", "no")),
        GOOD,
        None,
        ChangeStatus.ABORTED,
        BASE,
    ),
    (
        "commit-reply-lost",
        lambda d: d.lose_reply("commit"),
        GOOD,
        None,
        ChangeStatus.ROLLED_BACK,
        BASE,
    ),
    (
        "commit-connection-drops",
        lambda d: d.fail_next("commit", ConnectError("r2", "reset")),
        GOOD,
        None,
        ChangeStatus.ABORTED,
        BASE,
    ),
    ("session-dies-while-verifying", None, BAD, None, ChangeStatus.ROLLED_BACK, BASE),
    (
        "confirm-reply-lost",
        lambda d: d.lose_reply("confirm"),
        GOOD,
        None,
        ChangeStatus.CONFIRMED,
        DESIRED,
    ),
    (
        "confirm-refused",
        lambda d: d.fail_next("confirm", RpcError("r2", "invalid-value", "gone")),
        GOOD,
        None,
        ChangeStatus.ROLLED_BACK,
        BASE,
    ),
    (
        "verifier-crashes",
        None,
        GOOD,
        lambda n: raise_(ValueError("bad sample")),
        ChangeStatus.ROLLED_BACK,
        BASE,
    ),
    (
        "first-cancel-attempt-fails",
        lambda d: d.fail_next("cancel_commit", AdapterTimeoutError("r2", "slow")),
        BAD,
        None,
        ChangeStatus.ROLLED_BACK,
        BASE,
    ),
]


@pytest.mark.parametrize(
    ("setup", "samples", "hook", "status", "ends_at"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
async def test_fault_matrix(device, journal, setup, samples, hook, status, ends_at, request):
    if setup is not None:
        setup(device)
    if request.node.callspec.id == "session-dies-while-verifying":
        hook = lambda n: device.drop_sessions() if n == 1 else None  # noqa: E731
    result = await run(device, journal, samples, hook)
    assert result.status is status, result.detail
    # the device itself: where it ended, nothing left pending, no lock left behind
    assert device.running == ends_at
    assert device.pending is None
    if device.lock_owner != 999:
        assert device.lock_owner is None
    # the journal tells the same story, and the row is finished
    record = journal.change(result.change_id)
    assert record is not None and record.status is status
    steps = [e.step for e in journal.events(txn=result.change_id)]
    assert steps[0] == "planned" and steps[-1] == f"finished:{status.value}"
    if status is ChangeStatus.ROLLED_BACK:
        assert "committed" in steps or "error" in steps
        assert "restored" in steps
    if status in (ChangeStatus.REJECTED_PRECHECK,):
        assert "committed" not in steps and "commit" not in device.calls


async def test_restore_that_cannot_reach_the_device_is_failed_and_says_so(device, journal):
    def unplug(n: int) -> None:
        if n == 1:
            device.drop_sessions()
            device.reachable = False

    result = await run(device, journal, BAD, unplug)
    assert result.status is ChangeStatus.FAILED
    assert "reverts by itself" in result.detail
    assert device.pending is not None  # the device's own timer is now the safety net
    steps = [e.step for e in journal.events(txn=result.change_id)]
    assert steps[-2:] == ["restore-failed", "finished:failed"]


async def test_cancellation_restores_the_device_then_propagates(device, journal):
    started = asyncio.Event()

    async def slow_sample() -> VerificationSample:
        started.set()
        await asyncio.Event().wait()  # never returns: the task is cancelled here
        raise AssertionError("unreachable")

    async def open_session(name: str):
        return await device.open()

    task = asyncio.create_task(
        apply_change(
            CHANGE,
            open_session=open_session,
            verify=slow_sample,
            journal=journal,
            settings=SETTINGS,
            clock=Time().clock,
        )
    )
    await asyncio.wait_for(started.wait(), timeout=5)
    assert device.running == DESIRED  # committed, being verified
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert device.running == BASE and device.pending is None
    (record,) = journal.changes()
    assert record.status is ChangeStatus.ROLLED_BACK
    assert "cancelled" in str(record.result)


async def test_drifted_device_is_refused(device, journal):
    device.running = DeviceConfig(classes=(ClassConfig(TrafficClass.VIDEO, priority=2),))
    device.candidate = device.running
    result = await run(device, journal, GOOD)
    assert result.status is ChangeStatus.REJECTED_PRECHECK
    assert "drifted" in result.detail
    assert "edit_candidate" not in device.calls


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (not even settle's journal writes)."""


def dying_journal(path, stop_after: str, die) -> Journal:
    """A journal that dies right after ``stop_after`` is on disk: ``die()`` cuts the
    process's connections, and no later write or device access happens."""

    class DyingJournal(Journal):
        dead = False

        def event(self, kind, **kw):
            if self.dead:
                raise Killed
            seq = super().event(kind, **kw)
            self.die_after(kw.get("step"))
            return seq

        def stage_event(self, kind, **kw):
            if self.dead:
                raise Killed
            super().stage_event(kind, **kw)
            self.die_after(kw.get("step"))

        def die_after(self, step: object) -> None:
            if step == stop_after:
                self.flush()  # the step reached the disk (with its group), then the kill
                self.dead = True
                die()
                raise Killed

        def finish_change(self, txn, result):
            if self.dead:
                raise Killed
            super().finish_change(txn, result)

    return DyingJournal(path)


@pytest.mark.parametrize(
    ("stop_after", "status", "ends_at"),
    [
        pytest.param("compared", ChangeStatus.ABORTED, BASE, id="before-commit-landed"),
        pytest.param("committed", ChangeStatus.ROLLED_BACK, BASE, id="while-verifying"),
        pytest.param("confirmed", ChangeStatus.CONFIRMED, DESIRED, id="after-confirm"),
        pytest.param("connected", ChangeStatus.REJECTED_PRECHECK, BASE, id="before-base"),
    ],
)
async def test_restart_recovers_a_change_the_controller_left_pending(
    device, tmp_path, stop_after, status, ends_at
):
    """The controller dies after step X; a new controller settles the change from the journal."""
    path = tmp_path / "journal.sqlite"

    def die() -> None:
        device.drop_sessions()  # the process's connections die with it
        device.reachable = False

    dying = dying_journal(path, stop_after, die)
    with pytest.raises(Killed):
        await run(device, dying, GOOD)
    dying.close()
    device.reachable = True  # the new controller can reach it again

    journal = Journal(path)
    assert len(journal.in_flight()) == 1

    async def open_session(name: str):
        return await device.open()

    (result,) = await recover_in_flight(
        journal, open_session=open_session, clock=Time().clock, settings=SETTINGS
    )
    assert result.status is status, result.detail
    assert device.running == ends_at and device.pending is None
    assert journal.in_flight() == []
    steps = [e.step for e in journal.events(txn=result.change_id)]
    assert "recovering" in steps and steps[-1] == f"finished:{status.value}"


# ------------------------------------------------------------------ multi-device plans

NAMES = ("r1", "r2", "r3")


@pytest.fixture
def fleet() -> dict[str, FakeDevice]:
    return {n: FakeDevice(n, running=BASE) for n in NAMES}


def fleet_plan() -> Plan:
    changes = tuple(ChangeSet.make("video", n, (EDIT,), f"raise video on {n}") for n in NAMES)
    return Plan.make("video", changes, "raise video priority on three routers")


async def run_plan(
    fleet: dict[str, FakeDevice],
    journal: Journal,
    samples: list[float],
    on_sample=None,
    *,
    time: Time | None = None,
):
    clock = time or Time()

    async def open_session(name: str):
        return await fleet[name].open()

    return await apply_plan(
        fleet_plan(),
        open_session=open_session,
        verify=verifier(samples, on_sample),
        journal=journal,
        settings=SETTINGS,
        clock=clock.clock,
        sleep=clock.sleep,
    )


def ends(fleet: dict[str, FakeDevice]) -> dict[str, DeviceConfig]:
    for device in fleet.values():
        assert device.pending is None, f"{device.name} still has a pending commit"
        assert device.lock_owner is None, f"{device.name} is still locked"
    return {n: d.running for n, d in fleet.items()}


async def test_plan_lands_on_every_device_with_one_persist_id(fleet, journal):
    result = await run_plan(fleet, journal, GOOD)
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert ends(fleet) == dict.fromkeys(NAMES, DESIRED)
    events = journal.events(txn=result.change_id)
    committed = [e for e in events if e.step == "committed"]
    assert sorted(e.device for e in committed) == sorted(NAMES)
    assert {e.detail["persist_id"] for e in committed} == {result.change_id}
    assert [e.step for e in events].index("verified") < [e.step for e in events].index("confirmed")
    assert result.outcomes == dict.fromkeys(NAMES, ChangeStatus.CONFIRMED)


async def test_one_refused_commit_rolls_back_every_device(fleet, journal):
    fleet["r2"].fail_next("commit", RpcError("r2", "operation-failed", "no"))
    result = await run_plan(fleet, journal, GOOD)
    assert result.status is ChangeStatus.ROLLED_BACK, result.detail
    assert ends(fleet) == dict.fromkeys(NAMES, BASE)
    assert result.outcomes["r2"] is ChangeStatus.ABORTED
    assert result.outcomes["r1"] is ChangeStatus.ROLLED_BACK
    assert "verify-sample" not in [e.step for e in journal.events(txn=result.change_id)]


async def test_a_confirm_failing_on_one_device_compensates_the_confirmed_others(fleet, journal):
    fleet["r3"].fail_next("confirm", RpcError("r3", "invalid-value", "no pending commit"))
    fleet["r3"].lose_reply("cancel_commit")  # and the first restore attempt goes unanswered
    result = await run_plan(fleet, journal, GOOD)
    assert result.status is ChangeStatus.ROLLED_BACK, result.detail
    assert ends(fleet) == dict.fromkeys(NAMES, BASE)
    steps = [(e.device, e.step) for e in journal.events(txn=result.change_id)]
    assert ("r1", "compensated") in steps and ("r2", "compensated") in steps
    assert ("r3", "compensated") not in steps  # r3 never confirmed: its cancel restored it


async def test_a_device_that_cannot_be_compensated_fails_the_plan_and_says_which(fleet, journal):
    fleet["r3"].fail_next("confirm", RpcError("r3", "invalid-value", "no pending commit"))

    original = fleet["r1"].open
    opened = 0

    async def r1_gone():  # the transaction's session opens; every later attempt fails
        nonlocal opened
        opened += 1
        if opened > 1:
            fleet["r1"].reachable = False
        return await original()

    fleet["r1"].lose_reply("confirm")  # r1 confirms, the reply is lost: it must be restored
    fleet["r1"].open = r1_gone
    result = await run_plan(fleet, journal, GOOD)
    assert result.status is ChangeStatus.FAILED
    assert result.outcomes["r1"] is ChangeStatus.FAILED
    assert "r1" in result.detail
    assert fleet["r1"].running == DESIRED  # honestly reported: r1 still holds the change
    assert fleet["r2"].running == BASE and fleet["r3"].running == BASE


async def test_a_prepare_failure_on_one_device_commits_nothing_anywhere(fleet, journal):
    fleet["r2"].fail_next("validate", RpcError("r2", "invalid-value", "unsupported"))
    result = await run_plan(fleet, journal, GOOD)
    assert result.status is ChangeStatus.REJECTED_PRECHECK
    assert all("commit" not in d.calls for d in fleet.values())
    assert ends(fleet) == dict.fromkeys(NAMES, BASE)
    assert all(d.candidate == BASE for d in fleet.values())


async def test_failed_post_check_restores_every_device(fleet, journal):
    result = await run_plan(fleet, journal, BAD)
    assert result.status is ChangeStatus.ROLLED_BACK
    assert ends(fleet) == dict.fromkeys(NAMES, BASE)


async def test_restart_after_verification_confirms_rather_than_undoes(fleet, tmp_path):
    path = tmp_path / "journal.sqlite"

    def die() -> None:
        for device in fleet.values():
            device.drop_sessions()
            device.reachable = False

    dying = dying_journal(path, "verified", die)
    with pytest.raises(Killed):
        await run_plan(fleet, dying, GOOD)
    dying.close()
    assert all(d.pending is not None for d in fleet.values())  # committed, unconfirmed
    for device in fleet.values():
        device.reachable = True
    journal = Journal(path)

    async def open_session(name: str):
        return await fleet[name].open()

    (result,) = await recover_in_flight(
        journal, open_session=open_session, clock=Time().clock, settings=SETTINGS
    )
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert ends(fleet) == dict.fromkeys(NAMES, DESIRED)


# ------------------------------------------------------------------ group commit

# the steps each device must have on disk before the transaction may send this request
# (each exchange with the device is journaled before the next one)
DURABLE_BEFORE = {
    "lock_and_read_running": ("connected",),
    "load_candidate": ("locked", "base-read"),
    "commit": ("validated", "candidate-edited", "compared"),
    "confirm": ("committed",),
}


class WatchedSession:
    """A FakeSession that, before each call, reads the journal file over its own read-only
    connection (another process's view: only committed data) and records whether the
    step the call depends on was already there."""

    def __init__(self, inner: FakeSession, path: Path, seen: list[tuple[str, str, bool]]):
        self._inner = inner
        self._path = path
        self._seen = seen

    def __getattr__(self, name: str):
        attribute = getattr(self._inner, name)
        needed = DURABLE_BEFORE.get(name)
        if needed is None:
            return attribute

        async def checked(*args, **kwargs):
            reader = Journal(self._path, read_only=True)
            try:
                on_disk = {(e.device, e.step) for e in reader.events(limit=100_000)}
            finally:
                reader.close()
            device = self._inner.device
            self._seen.append((device, name, all((device, step) in on_disk for step in needed)))
            return await attribute(*args, **kwargs)

        return checked


async def test_steps_share_commits_yet_each_is_on_disk_before_the_next_call(tmp_path):
    names = [f"r{i}" for i in range(1, 11)]
    fleet = {n: FakeDevice(n, running=BASE) for n in names}
    path = tmp_path / "journal.sqlite"
    commits = 0

    class CountingJournal(Journal):
        def flush(self) -> None:
            nonlocal commits
            if self._staged:
                commits += 1
            super().flush()

    journal = CountingJournal(path)
    seen: list[tuple[str, str, bool]] = []

    async def open_session(name: str):
        return WatchedSession(await fleet[name].open(), path, seen)

    changes = tuple(ChangeSet.make("video", n, (EDIT,), f"raise video on {n}") for n in names)
    time = Time()
    result = await apply_plan(
        Plan.make("video", changes, "ten routers"),
        open_session=open_session,
        verify=verifier(GOOD),
        journal=journal,
        settings=SETTINGS,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert {call for _, call, _ in seen} == set(DURABLE_BEFORE)
    assert len(seen) == len(names) * len(DURABLE_BEFORE)
    late = [(device, call) for device, call, durable in seen if not durable]
    assert late == [], "a call was made before the step it depends on was on disk"
    staged = [e for e in journal.events(txn=result.change_id, limit=100_000) if e.device in names]
    # ten devices in step share commits (about 10 for 80 steps here), not one per step
    assert commits <= len(staged) // 2, (commits, len(staged))


class UnlockRendezvous:
    """A FakeSession whose unlock waits until every device of the plan has begun its own
    unlock (bounded: a transaction that unlocks one device after the other never gets
    there, and each unlock then records that it waited in vain)."""

    def __init__(
        self,
        inner: FakeSession,
        everyone: int,
        all_begun: asyncio.Event,
        log: list[tuple[str, str]],
    ) -> None:
        self._inner = inner
        self._everyone = everyone
        self._all_begun = all_begun
        self._log = log

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    async def unlock(self, target: str = "candidate") -> None:
        self._log.append(("begun", self._inner.device))
        if sum(1 for kind, _ in self._log if kind == "begun") == self._everyone:
            self._all_begun.set()
        try:
            await asyncio.wait_for(self._all_begun.wait(), 5)
            self._log.append(("met", self._inner.device))
        except TimeoutError:
            self._log.append(("alone", self._inner.device))
        await self._inner.unlock(target)


async def test_the_devices_are_unlocked_concurrently(fleet, journal):
    all_begun = asyncio.Event()
    log: list[tuple[str, str]] = []

    async def open_session(name: str):
        return UnlockRendezvous(await fleet[name].open(), len(fleet), all_begun, log)

    time = Time()
    result = await apply_plan(
        fleet_plan(),
        open_session=open_session,
        verify=verifier(GOOD),
        journal=journal,
        settings=SETTINGS,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert sorted(device for kind, device in log if kind == "met") == sorted(NAMES), log
    assert ends(fleet) == dict.fromkeys(NAMES, DESIRED)
