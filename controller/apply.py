"""The change transaction: the only code in netpilot that pushes configuration.

One :class:`~controller.model.Plan` (change sets for one or more devices) is one transaction,
carried out in a fixed order, every step journaled before the next::

    per device, concurrently: open session -> capabilities -> lock candidate -> discard stale
        edits -> read running (the base) -> drift check (the plan's "old" values still hold)
        -> validate the exact resulting configuration inline -> edit candidate -> compare
    per device, concurrently: confirmed commit, ONE persist-id (the transaction id) for all
    post-check: sample the intent target over the verification window      -> "verified"
    per device, concurrently: confirm
    otherwise: settle

The promise: a plan either lands verified on every device, or every device is back at its
base, and the journal says which. Whatever goes wrong after a commit was sent (a refusal, a
lost reply, a dead session, an exception, a cancellation, a restart) ends in
:meth:`_Transaction.settle`: each device's pending commit is cancelled by the persist-id (over a
fresh session when the old one is suspect), its running configuration is read back, and its
end state is classified from what the device holds. A device that was already confirmed when
another failed gets a compensating change back to its base, so no plan is left half-applied.

Validation is inline (``<validate><source><config>``) because Debian's netconfd silently
loses the candidate after ``<validate><source><candidate/>`` (docs/interop.md). Rollback is
an explicit ``cancel-commit``, never a wait for the device's timer; the confirm timeout is
only the safety net for a controller that dies mid-change, and :func:`recover_in_flight`
settles such plans when the controller starts again: confirmed if verification had
completed, rolled back otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from adapters.base import Capability, ConfigSession, EmulatedCommitSession, PendingEmulatedCommit
from controller.config import ApplySettings
from controller.errors import (
    AdapterError,
    AdapterTimeoutError,
    ChangeError,
    ConnectError,
    NetpilotError,
    PrecheckError,
    ProtocolError,
    RollbackError,
    RpcError,
    VerificationError,
)
from controller.journal import ChangeRecord, Journal
from controller.model import ChangeResult, ChangeSet, ChangeStatus, DeviceConfig, Plan

__all__ = [
    "VerificationSample",
    "apply_change",
    "apply_plan",
    "config_from_json",
    "new_txn_id",
    "recover_in_flight",
]

log = logging.getLogger("netpilot.apply")

REQUIRED_CAPABILITIES = (Capability.CANDIDATE, Capability.CONFIRMED_COMMIT, Capability.VALIDATE)
# journaled before an emulated confirmed commit changes a :writable-running device: the
# saved configuration and the deadline, which a restarted controller adopts
HELD_STEP = "emulated-commit-held"


@dataclass(frozen=True, slots=True)
class VerificationSample:
    """One post-check observation of the intent target."""

    met: bool | None  # None: no fresh measurement
    observed: float | None
    detail: str


SessionOpener = Callable[[str], Awaitable[ConfigSession]]
Verifier = Callable[[], Awaitable[VerificationSample]]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class _Phase(str, Enum):
    """How far one device got; decides what a failure means for it."""

    PREPARE = "prepare"  # nothing committed
    COMMIT = "commit"  # the commit was sent: it may or may not have taken effect
    VERIFY = "verify"  # the change runs on the device, unconfirmed
    CONFIRM = "confirm"  # the confirm was sent
    CONFIRMED = "confirmed"  # the device confirmed


class _End(str, Enum):
    """Where a device stands after a failed transaction was settled."""

    UNTOUCHED = "untouched"  # never committed; candidate discarded
    AT_BASE = "at-base"  # running equals the base (cancelled, reverted or never landed)
    AT_DESIRED = "at-desired"  # running equals the plan, nothing pending (confirmed)
    UNKNOWN = "unknown"  # unreachable, or running is neither base nor desired


def new_txn_id(plan: Plan | ChangeSet) -> str:
    """A transaction id, also used as the confirmed commits' persist-id."""
    return f"{plan.id}-{secrets.token_hex(4)}"


def _config_to_json(config: DeviceConfig) -> list[list[object]]:
    return [[list(path), value] for path, value in sorted(config.flatten().items())]


def _held_to_json(commit: PendingEmulatedCommit) -> dict[str, object]:
    return {
        "persist_id": commit.persist_id,
        "expires_at": commit.expires_at.isoformat(),
        "saved": _config_to_json(commit.saved),
        "saved_xml": commit.saved_xml,
    }


def _held_from_json(device: str, detail: Mapping[str, object]) -> PendingEmulatedCommit | None:
    saved = config_from_json(detail.get("saved"))
    saved_xml, persist_id = detail.get("saved_xml"), detail.get("persist_id")
    try:
        expires_at = datetime.fromisoformat(str(detail.get("expires_at")))
    except ValueError:
        return None
    if saved is None or not isinstance(saved_xml, str) or not isinstance(persist_id, str):
        return None
    return PendingEmulatedCommit(device, persist_id, saved_xml, saved, expires_at)


def config_from_json(data: object) -> DeviceConfig | None:
    if not isinstance(data, list):
        return None
    try:
        return DeviceConfig.from_flat({tuple(path): str(value) for path, value in data})
    except (TypeError, ValueError):
        return None


@dataclass
class _Device:
    """One device's part of a transaction."""

    change: ChangeSet
    session: ConfigSession | None = None
    base: DeviceConfig | None = None
    desired: DeviceConfig | None = None
    phase: _Phase = _Phase.PREPARE
    failure: NetpilotError | None = None  # this device's own error, if it had one
    cancelled: bool = False
    expired: bool = False  # recovery: its emulated commit's deadline had passed
    end: _End | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.change.device


class _GroupCommit:
    """Steps of concurrently running devices share one journal commit (one fsync).

    A device's step is staged, then the device waits for a commit that started after it was
    staged: the journal still holds every step before that device's next one, but the steps
    staged meanwhile cost one fsync, not one each, and the fsync runs in a worker thread so
    the event loop keeps serving the other devices. Measured on the 50-device bench
    (docs/transactions.md): one blocking fsync per step was most of a transaction's time.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._next: asyncio.Future[None] | None = None  # the commit not yet started
        self._flushing = False

    async def wait(self) -> None:
        """Wait until everything staged so far is committed.

        Raises:
            sqlite3.Error: the commit failed.
        """
        committed = self._next
        if committed is None:
            committed = self._next = asyncio.get_running_loop().create_future()
            if not self._flushing:
                self._start()
        # shielded: one device's cancellation must not fail the others' wait
        await asyncio.shield(committed)

    def _start(self) -> None:
        done, self._next = self._next, None
        assert done is not None
        self._flushing = True
        flushing = asyncio.ensure_future(asyncio.to_thread(self._journal.flush))
        flushing.add_done_callback(lambda task: self._finished(task, done))

    def _finished(self, task: asyncio.Future[None], done: asyncio.Future[None]) -> None:
        self._flushing = False
        error = None if task.cancelled() else task.exception()
        if task.cancelled():
            done.cancel()
        elif error is not None:
            done.set_exception(error)
            done.exception()  # retrieved: every waiter may have been cancelled meanwhile
        else:
            done.set_result(None)
        if self._next is not None:  # staged while this commit ran: the next one
            self._start()


class _Transaction:
    """State of one running transaction; see :func:`apply_plan`."""

    def __init__(
        self,
        plan: Plan,
        txn: str,
        journal: Journal,
        settings: ApplySettings,
        clock: Clock,
        sleep: Sleep,
        open_session: SessionOpener,
    ) -> None:
        self.plan = plan
        self.txn = txn
        self.journal = journal
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.open_session = open_session
        self.started = clock()
        self.devices = {c.device: _Device(change=c) for c in plan.changes}
        self.verified = False
        self.settling = False
        self.group = _GroupCommit(journal)

    # ---------------------------------------------------------------- journal

    def step(self, step: str, device: str = "", **detail: object) -> None:
        """Journal a step. While settling, a journal failure is logged, not raised: the
        devices' restoration must not depend on the disk (the failure itself already
        stopped the happy path)."""
        try:
            self.journal.event(
                "change-step",
                at=self.clock(),
                intent=self.plan.intent,
                device=device,
                txn=self.txn,
                step=step,
                detail=detail,
            )
        except sqlite3.Error:
            if not self.settling:
                raise
            log.exception("journal write failed while settling %s (step %s)", self.txn, step)

    def stage_step(self, step: str, device: str = "", **detail: object) -> None:
        """Queue a step of the happy path for the next commit; the next
        :meth:`durable_step` (or a failure's :meth:`step`) makes it durable."""
        self.journal.stage_event(
            "change-step",
            at=self.clock(),
            intent=self.plan.intent,
            device=device,
            txn=self.txn,
            step=step,
            detail=detail,
        )

    async def durable_step(self, step: str, device: str = "", **detail: object) -> None:
        """Journal a step of the happy path (and those staged before it); return once it
        is on disk (possibly in one commit with other devices' steps, see
        :class:`_GroupCommit`). Called before the device is sent its next request."""
        self.stage_step(step, device, **detail)
        await self.group.wait()

    def result(
        self, status: ChangeStatus, detail: str, error: NetpilotError | None = None
    ) -> ChangeResult:
        outcomes = {d.name: _device_status(d) for d in self.devices.values()}
        result = ChangeResult(
            change_id=self.txn,
            intent=self.plan.intent,
            device=",".join(self.plan.devices),
            status=status,
            detail=detail,
            started=self.started,
            finished=self.clock(),
            error=error.as_dict() if error else None,
            outcomes=outcomes if len(outcomes) > 1 else {},
        )
        try:
            self.journal.finish_change(self.txn, result)
        except sqlite3.Error:
            if not self.settling:
                raise
            log.exception("journal write failed for the outcome of %s: %s", self.txn, detail)
        return result

    # ---------------------------------------------------------------- the happy path

    async def for_each(self, operation: Callable[[_Device], Coroutine[Any, Any, None]]) -> None:
        """Run ``operation`` on every device concurrently; raise the first failure after all
        have finished (so every device's phase is known when settling)."""
        outcomes = await asyncio.gather(
            *(operation(d) for d in self.devices.values()), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            interrupts = [f for f in failures if not isinstance(f, Exception)]
            raise (interrupts or failures)[0]

    async def _recording(self, dev: _Device, operation: Awaitable[None]) -> None:
        """Run one device's step; remember its own failure (settling needs to know)."""
        try:
            await operation
        except BaseException as exc:
            dev.failure = _as_netpilot(exc, dev.name)
            raise

    async def prepare(self, dev: _Device) -> None:
        """Everything before the commit: lock, base, drift check, validation, edit, compare."""
        await self._recording(dev, self._prepare(dev))

    async def _prepare(self, dev: _Device) -> None:
        session = await self.open_session(dev.name)
        dev.session = session
        missing = [c.value for c in REQUIRED_CAPABILITIES if c not in session.capabilities]
        await self.durable_step(
            "connected", dev.name, capabilities=sorted(c.value for c in session.capabilities)
        )
        if missing:
            raise PrecheckError(self.txn, f"{dev.name} lacks {', '.join(missing)}")
        # one exchange: lock, discard what an earlier, crashed client may have left in the
        # shared candidate, read the base (pipelined where the transport can)
        base = await session.lock_and_read_running()
        dev.base = base
        self.stage_step("locked", dev.name, target="candidate", discarded=True)
        if dev.change.base is not None and base != dev.change.base:
            drift = [e.describe() for e in dev.change.base.diff(base)]
            raise PrecheckError(
                self.txn, f"{dev.name} drifted since the plan was computed from it: {drift}"
            )
        flat = base.flatten()
        for edit in dev.change.edits:
            current = flat.get(edit.path)
            if current != edit.old:
                raise PrecheckError(
                    self.txn,
                    f"{dev.name} drifted since the plan: {'/'.join(edit.path)} is {current}, "
                    f"the plan expected {edit.old}",
                )
        try:
            desired = base.with_edits(dev.change.edits)
        except ValueError as exc:
            raise PrecheckError(self.txn, f"{dev.name}: {exc}") from exc
        dev.desired = desired
        # the base is journaled so that a controller restarted mid-change can check it
        await self.durable_step(
            "base-read", dev.name, base=_config_to_json(base), desired=_config_to_json(desired)
        )
        # one exchange: validate the exact resulting configuration inline, edit the
        # candidate, read it back (the steps are journaled together, before the commit)
        candidate = await session.load_candidate(desired, dev.change.edits)
        self.stage_step("validated", dev.name, how="inline <config>")
        self.stage_step(
            "candidate-edited", dev.name, edits=[e.describe() for e in dev.change.edits]
        )
        if candidate != desired:
            unexpected = [e.describe() for e in desired.diff(candidate)]
            raise PrecheckError(
                self.txn, f"{dev.name}: candidate differs from the plan: {unexpected}"
            )
        await self.durable_step(
            "compared", dev.name, diff=[e.describe() for e in base.diff(candidate)]
        )

    async def commit(self, dev: _Device) -> None:
        assert dev.session is not None
        if isinstance(dev.session, EmulatedCommitSession):
            # the device cannot revert by itself: what restores it must outlive this process
            async def record(held: PendingEmulatedCommit) -> None:
                await self.durable_step(HELD_STEP, dev.name, **_held_to_json(held))

            dev.session.record_commits_with(record)
        dev.phase = _Phase.COMMIT
        await self._recording(
            dev,
            dev.session.commit(confirm_timeout=self.settings.confirm_timeout, persist_id=self.txn),
        )
        dev.phase = _Phase.VERIFY
        await self.durable_step(
            "committed",
            dev.name,
            confirmed=True,
            confirm_timeout_s=self.settings.confirm_timeout.total_seconds(),
            persist_id=self.txn,
        )

    async def verify(self, verify: Verifier | None) -> str:
        """Sample the target over the verification window (``None``: no post-check).

        Returns:
            How the target held.

        Raises:
            VerificationError: the target was not met often enough within the window.
        """
        if verify is None:
            how = "no post-check (an operator's change)"
            self.verified = True
            await self.durable_step("verified", how=how)
            return how
        settings = self.settings
        deadline = self.clock() + settings.verification_window
        streak = 0
        last = "no sample"
        while True:
            await self.sleep(settings.verification_interval.total_seconds())
            sample = await verify()
            streak = streak + 1 if sample.met else 0
            last = sample.detail
            await self.durable_step(
                "verify-sample", met=sample.met, observed=sample.observed, detail=sample.detail
            )
            if streak >= settings.required_samples:
                how = f"target met in {streak} consecutive samples ({last})"
                self.verified = True
                await self.durable_step("verified", how=how)
                return how
            if self.clock() >= deadline:
                raise VerificationError(
                    self.txn,
                    f"post-check failed: target not met in {settings.required_samples} "
                    f"consecutive samples within {settings.verification_window.total_seconds():g}"
                    f" s (last: {last})",
                )

    async def confirm(self, dev: _Device) -> None:
        assert dev.session is not None
        dev.phase = _Phase.CONFIRM
        await self._recording(dev, dev.session.confirm(self.txn))
        dev.phase = _Phase.CONFIRMED
        await self.durable_step("confirmed", dev.name)

    async def close_all(self) -> None:
        """Unlock and give back every device's session, all devices at once.

        Concurrent, like every other step: one after the other cost the 50-device plan 50
        sequential round trips after its last confirm. Each device's unlock still precedes
        its own close; nothing orders one device's unlock after another's.
        """
        await asyncio.gather(
            *(self._close(dev.session) for dev in self.devices.values() if dev.session is not None)
        )

    @staticmethod
    async def _close(session: ConfigSession) -> None:
        await _quietly(session.unlock("candidate"))
        await _quietly(session.close())

    # ---------------------------------------------------------------- failures

    async def settle(self, error: BaseException) -> ChangeResult:
        """End a failed transaction: every device back at its base, or say which is not."""
        self.settling = True
        failure = _as_netpilot(error, ",".join(self.plan.devices))
        self.step("error", error=failure.as_dict())
        await asyncio.gather(*(self._settle_device(d) for d in self.devices.values()))
        committed = [d for d in self.devices.values() if d.end is not _End.UNTOUCHED]
        if (
            committed
            and self.verified
            and all(d.end is _End.AT_DESIRED for d in committed)
            and (len(committed) == len(self.devices))
        ):
            # verified, and every confirm landed although a reply (or the journal) did not
            self.step("confirmed-after-failure", note="every device holds the confirmed change")
            return self.result(
                ChangeStatus.CONFIRMED,
                f"{self.plan.reason}; verified, and every device holds the confirmed change "
                f"although the transaction was interrupted ({failure})",
            )
        # a device that holds the change while the plan failed is brought back by compensation
        await asyncio.gather(
            *(self._compensate(d) for d in self.devices.values() if d.end is _End.AT_DESIRED)
        )
        return self._conclude(failure)

    async def _settle_device(self, dev: _Device) -> None:
        if dev.phase is _Phase.PREPARE:
            if dev.session is not None:
                try:
                    await dev.session.discard()
                except (NetpilotError, OSError):
                    self.step("discard-failed", dev.name, note="discarded when the lock ends")
                else:
                    self.step("discarded", dev.name, target="candidate")
            dev.end = _End.UNTOUCHED
            return
        # a commit was sent: trust only what the device says now
        suspect = isinstance(dev.failure, ConnectError | AdapterTimeoutError | ProtocolError)
        try:
            dev.cancelled, running = await self._cancel_and_read(
                dev, None if suspect else dev.session
            )
        except (NetpilotError, OSError) as exc:
            dev.end = _End.UNKNOWN
            dev.notes.append(f"could not reach the device to restore it: {exc}")
            self.step("restore-failed", dev.name, error=str(exc))
            return
        if running == dev.base:
            dev.end = _End.AT_BASE
            self.step("restored", dev.name, check="running equals the pre-change config")
        elif running == dev.desired and not dev.cancelled:
            dev.end = _End.AT_DESIRED
        else:
            assert dev.base is not None
            dev.end = _End.UNKNOWN
            drift = [e.describe() for e in dev.base.diff(running)]
            dev.notes.append(f"running differs from the pre-change config: {drift}")
            self.step("restore-failed", dev.name, drift=drift)

    async def _cancel_and_read(
        self, dev: _Device, session: ConfigSession | None
    ) -> tuple[bool, DeviceConfig]:
        """cancel-commit by persist-id, then read running; a second try on a fresh session."""
        # None: open a fresh session (always the last resort)
        attempts: list[ConfigSession | None] = [session, None] if session is not None else [None]
        last_error: NetpilotError | OSError | None = None
        for candidate in attempts:
            opened = candidate is None
            try:
                active = candidate if candidate is not None else await self.open_session(dev.name)
            except (NetpilotError, OSError) as exc:
                last_error = exc
                continue
            try:
                try:
                    await active.cancel_commit(self.txn)
                    cancelled = True
                    self.step("cancel-commit", dev.name, persist_id=self.txn, result="cancelled")
                except RpcError as exc:  # nothing pending under this id
                    cancelled = False
                    self.step(
                        "cancel-commit", dev.name, persist_id=self.txn, result=f"refused: {exc.tag}"
                    )
                running = await active.get_running()
            except (NetpilotError, OSError) as exc:
                last_error = exc
            else:
                return cancelled, running
            finally:
                if opened:
                    await _quietly(active.close())
        assert last_error is not None
        raise last_error

    async def _compensate(self, dev: _Device) -> None:
        """Undo a change a device has confirmed, with a new confirmed commit back to the base.

        The transaction's own session still holds the candidate lock, so it is used first;
        if it fails, it is closed (which releases the lock) and a fresh session locks again.
        """
        assert dev.base is not None
        assert dev.desired is not None
        self.step("compensating", dev.name, note="confirmed here while the plan failed")
        last_error: NetpilotError | OSError | None = None
        attempts = [dev.session, None] if dev.session is not None else [None]
        for reuse in attempts:
            try:
                running = await self._undo(dev, reuse)
            except (NetpilotError, OSError) as exc:
                last_error = exc
                if reuse is not None:
                    await _quietly(reuse.close())  # releases our lock for the fresh session
                    dev.session = None
                continue
            if running == dev.base:
                dev.end = _End.AT_BASE
                dev.notes.append("compensated back to the pre-change config")
                self.step("compensated", dev.name, check="running equals the pre-change config")
            else:
                dev.end = _End.UNKNOWN
                dev.notes.append("compensation committed but running is not the base")
                self.step("compensation-failed", dev.name, error="running differs from the base")
            return
        dev.end = _End.UNKNOWN
        dev.notes.append(f"compensation failed: {last_error}")
        self.step("compensation-failed", dev.name, error=str(last_error))

    async def _undo(self, dev: _Device, session: ConfigSession | None) -> DeviceConfig:
        """Edit the device from the plan back to its base and commit; returns running after."""
        assert dev.base is not None
        assert dev.desired is not None
        undo = f"{self.txn}-undo"
        active = session if session is not None else await self.open_session(dev.name)
        if isinstance(active, EmulatedCommitSession):
            active.record_commits_with(None)  # confirmed at once below: nothing to hold
        try:
            if session is None:
                await active.lock("candidate")
            await active.discard()
            if await active.get_running() != dev.desired:
                raise RollbackError(self.txn, f"{dev.name} changed again; not compensating")
            await active.validate(dev.base)
            await active.edit_candidate(dev.desired.diff(dev.base))
            await active.commit(confirm_timeout=self.settings.confirm_timeout, persist_id=undo)
            await active.confirm(undo)
            return await active.get_running()
        finally:
            if session is None:
                await _quietly(active.unlock("candidate"))
                await _quietly(active.close())

    def _conclude(self, failure: NetpilotError) -> ChangeResult:
        devices = list(self.devices.values())
        unknown = [d for d in devices if d.end is _End.UNKNOWN]
        if unknown:
            notes = "; ".join(f"{d.name}: {', '.join(d.notes)}" for d in unknown)
            error = RollbackError(self.txn, notes)
            return self.result(
                ChangeStatus.FAILED,
                f"{failure}; and not every device is back at its pre-change config ({notes}). "
                f"A pending confirmed commit reverts by itself within "
                f"{self.settings.confirm_timeout.total_seconds():g} s unless confirmed",
                error,
            )
        if any(
            d.phase in (_Phase.VERIFY, _Phase.CONFIRM, _Phase.CONFIRMED) or d.cancelled
            for d in devices
        ):
            return self.result(
                ChangeStatus.ROLLED_BACK,
                f"{failure}; rolled back: every device's running config equals its "
                "pre-change config",
                failure,
            )
        if any(d.phase is _Phase.COMMIT for d in devices):
            return self.result(
                ChangeStatus.ABORTED,
                f"the commit did not take effect, nothing changed on the devices: {failure}",
                failure,
            )
        return self.result(
            ChangeStatus.REJECTED_PRECHECK,
            f"refused before the commit, nothing changed on the devices: {failure}",
            failure,
        )


def _device_status(dev: _Device) -> ChangeStatus:
    if dev.end is None:
        return ChangeStatus.CONFIRMED if dev.phase is _Phase.CONFIRMED else ChangeStatus.PENDING
    return {
        _End.UNTOUCHED: ChangeStatus.REJECTED_PRECHECK,
        _End.AT_BASE: ChangeStatus.ROLLED_BACK
        if dev.phase is not _Phase.COMMIT or dev.cancelled
        else ChangeStatus.ABORTED,
        _End.AT_DESIRED: ChangeStatus.CONFIRMED,
        _End.UNKNOWN: ChangeStatus.FAILED,
    }[dev.end]


def _as_netpilot(error: BaseException, device: str) -> NetpilotError:
    if isinstance(error, NetpilotError):
        return error
    if isinstance(error, asyncio.CancelledError):
        return ChangeError("-", "the transaction was cancelled (controller stopping)")
    return AdapterError(device, f"unexpected {type(error).__name__}: {error}")


async def apply_plan(
    plan: Plan,
    *,
    open_session: SessionOpener,
    verify: Verifier | None,
    journal: Journal,
    settings: ApplySettings,
    clock: Clock,
    explanation: dict[str, object] | None = None,
    sleep: Sleep = asyncio.sleep,
    txn: str = "",
) -> ChangeResult:
    """Carry out one plan as one transaction over all its devices.

    Device, verification and unexpected failures become the result, never an exception; a
    cancellation settles the devices first (cancel-commit, read back, journal) and is then
    re-raised.

    Args:
        plan: the change sets, one per device.
        open_session: opens a configuration session to a device by name.
        verify: samples the intent target once (called during the verification window);
            ``None`` confirms right after the commits (an operator's rollback has no target).
        journal: where every step goes, before the next is taken.
        settings: confirm timeout and verification window.
        clock: the current time (UTC).
        explanation: why this plan was chosen, journaled with it.
        sleep: waits between verification samples (injectable for tests).
        txn: the transaction id (also the persist-id); generated when empty.

    Returns:
        ``confirmed`` (every device), ``rolled-back`` (committed, then every device restored),
        ``rejected-precheck`` or ``aborted`` (nothing changed anywhere), or ``failed`` (some
        device could not be shown to be back at its base: a human must look).
    """
    txn = txn or new_txn_id(plan)
    tx = _Transaction(plan, txn, journal, settings, clock, sleep, open_session)
    journal.begin_change(txn, plan, at=tx.started, explanation=explanation or {})
    try:
        await tx.for_each(tx.prepare)
        await tx.for_each(tx.commit)
        how = await tx.verify(verify)
        await tx.for_each(tx.confirm)
        return tx.result(ChangeStatus.CONFIRMED, f"{plan.reason}; verified: {how}")
    except BaseException as exc:
        # shielded: a second cancellation must not cut the devices' restoration short
        outcome = await asyncio.shield(tx.settle(exc))
        if not isinstance(exc, Exception):
            raise
        return outcome
    finally:
        await tx.close_all()


async def apply_change(
    change: ChangeSet,
    *,
    open_session: SessionOpener,
    verify: Verifier,
    journal: Journal,
    settings: ApplySettings,
    clock: Clock,
    explanation: dict[str, object] | None = None,
    sleep: Sleep = asyncio.sleep,
    txn: str = "",
) -> ChangeResult:
    """:func:`apply_plan` for a single device's change set."""
    return await apply_plan(
        Plan.single(change),
        open_session=open_session,
        verify=verify,
        journal=journal,
        settings=settings,
        clock=clock,
        explanation=explanation,
        sleep=sleep,
        txn=txn,
    )


async def recover_in_flight(
    journal: Journal, *, open_session: SessionOpener, clock: Clock, settings: ApplySettings
) -> list[ChangeResult]:
    """Settle transactions a previous controller left pending (it was killed mid-change).

    A plan whose verification had completed is confirmed on every device that still has it
    pending; any other is rolled back (cancel-commit by persist-id), and every device's
    running configuration is compared with the base the journal recorded.

    Returns:
        One result per recovered transaction.
    """
    return [
        await _recover(record, journal, open_session, clock, settings)
        for record in journal.in_flight()
    ]


async def _recover(
    record: ChangeRecord,
    journal: Journal,
    open_session: SessionOpener,
    clock: Clock,
    settings: ApplySettings,
) -> ChangeResult:
    events = journal.events(txn=record.txn)
    devices = [str(d) for d in record.plan.get("devices", [record.device])]  # type: ignore[attr-defined]
    changes = tuple(
        ChangeSet(id=record.change_id, intent=record.intent, device=d, edits=(), reason="")
        for d in devices
    )
    plan = Plan(
        id=record.change_id,
        intent=record.intent,
        changes=changes,
        reason=str(record.plan.get("reason", "")),
    )
    tx = _Transaction(plan, record.txn, journal, settings, clock, asyncio.sleep, open_session)
    tx.step("recovering", note="the controller stopped before this change ended")
    tx.verified = any(e.step == "verified" for e in events)
    for dev in tx.devices.values():
        steps = {e.step: e for e in events if e.device == dev.name}
        base_event = steps.get("base-read")
        if base_event is not None:
            dev.base = config_from_json(base_event.detail.get("base"))
            dev.desired = config_from_json(base_event.detail.get("desired"))
        if dev.base is None:
            continue  # stopped before this device's base was read: never committed
        if "confirmed" in steps:
            dev.phase = _Phase.CONFIRMED
        elif "committed" in steps:
            dev.phase = _Phase.VERIFY
        else:
            dev.phase = _Phase.COMMIT  # the commit may have been sent just before the stop
        held = [
            commit
            for e in events
            if e.device == dev.name and e.step == HELD_STEP
            if (commit := _held_from_json(dev.name, e.detail)) is not None
            and commit.persist_id == record.txn
        ]
        if held and dev.phase is not _Phase.CONFIRMED:
            await _adopt(tx, dev, held[-1])
    if tx.verified:
        # verification completed: finish the job rather than undo it
        await _confirm_pending(tx)
    return await tx.settle(ChangeError(record.txn, "interrupted by a controller restart"))


async def _adopt(tx: _Transaction, dev: _Device, commit: PendingEmulatedCommit) -> None:
    """Hand a journaled emulated commit back to the adapter, so that the cancel (or
    confirm) by persist-id that follows restores (or keeps) the device as a native device's
    pending commit would. Past its deadline, it is restored, never confirmed: a native
    device's timer would have reverted it."""
    try:
        session = await tx.open_session(dev.name)
    except (NetpilotError, OSError) as exc:
        tx.step("adopt-failed", dev.name, error=str(exc))
        return
    try:
        if not isinstance(session, EmulatedCommitSession):
            tx.step("adopt-failed", dev.name, error="the device's session emulates no commit")
            return
        if session.pending is None or session.pending.persist_id != commit.persist_id:
            session.adopt(commit)
        expired = commit.expires_at <= tx.clock()
        if expired:
            dev.expired = True
        tx.step(
            "adopted",
            dev.name,
            persist_id=commit.persist_id,
            expires_at=commit.expires_at.isoformat(),
            expired=expired,
        )
    except (NetpilotError, OSError) as exc:
        tx.step("adopt-failed", dev.name, error=str(exc))
    finally:
        await _quietly(session.close())


async def _confirm_pending(tx: _Transaction) -> None:
    for dev in tx.devices.values():
        if dev.phase not in (_Phase.VERIFY, _Phase.CONFIRM) or dev.expired:
            continue
        try:
            session = await tx.open_session(dev.name)
        except (NetpilotError, OSError):
            continue
        try:
            await session.confirm(tx.txn)
            tx.step("confirmed", dev.name, note="confirmed during recovery: it was verified")
            dev.phase = _Phase.CONFIRMED
        except (NetpilotError, OSError):
            dev.phase = _Phase.CONFIRM  # settle reads back what the device holds
        finally:
            await _quietly(session.close())


async def _quietly(operation: Awaitable[object]) -> None:
    """Best-effort cleanup: a failure here must not mask the transaction's outcome."""
    try:
        await operation
    except (NetpilotError, OSError):
        return
