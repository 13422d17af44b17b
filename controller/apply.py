"""The change transaction: the only code in netpilot that pushes configuration.

One :class:`~controller.model.ChangeSet` is carried out in a fixed order, each step journaled
before the next::

    open session -> capabilities -> lock candidate -> discard stale edits
    -> read running (the base) -> drift check (the plan's "old" values still hold)
    -> validate the exact resulting configuration inline
    -> edit candidate -> compare candidate with the plan
    -> confirmed commit (timeout, persist-id)          <- the device now runs the change
    -> post-check: sample the intent target over the verification window
    -> confirm                                          (target met)
     | cancel-commit, then check running == base        (target missed, or anything failed)

Validation is inline (``<validate><source><config>``) because Debian's netconfd silently
loses the candidate after ``<validate><source><candidate/>`` (see docs/interop.md). Rollback
is an explicit ``cancel-commit``, never a wait for the device's timer (netconfd's timers
stall while a client polls it); the confirm timeout is only the safety net for a controller
that dies mid-change.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from adapters.base import Capability, ConfigSession
from controller.config import ApplySettings
from controller.errors import (
    AdapterError,
    CommitError,
    NetpilotError,
    PrecheckError,
    RollbackError,
    VerificationError,
)
from controller.journal import Journal
from controller.model import ChangeResult, ChangeSet, ChangeStatus, DeviceConfig

__all__ = ["VerificationSample", "apply_change", "new_txn_id"]

REQUIRED_CAPABILITIES = (Capability.CANDIDATE, Capability.CONFIRMED_COMMIT, Capability.VALIDATE)


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


def new_txn_id(change: ChangeSet) -> str:
    """A transaction id, also used as the confirmed commit's persist-id."""
    return f"{change.id}-{secrets.token_hex(4)}"


class _Transaction:
    """State of one running transaction; see :func:`apply_change`."""

    def __init__(
        self,
        change: ChangeSet,
        txn: str,
        journal: Journal,
        settings: ApplySettings,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self.change = change
        self.txn = txn
        self.journal = journal
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.started = clock()
        self.base: DeviceConfig | None = None
        self.committed = False

    def step(self, step: str, **detail: object) -> None:
        self.journal.event(
            "change-step",
            at=self.clock(),
            intent=self.change.intent,
            device=self.change.device,
            txn=self.txn,
            step=step,
            detail=detail,
        )

    def result(
        self, status: ChangeStatus, detail: str, error: NetpilotError | None = None
    ) -> ChangeResult:
        result = ChangeResult(
            change_id=self.txn,
            intent=self.change.intent,
            device=self.change.device,
            status=status,
            detail=detail,
            started=self.started,
            finished=self.clock(),
            error=error.as_dict() if error else None,
        )
        self.journal.finish_change(self.txn, result)
        return result

    # ---------------------------------------------------------------- phases

    async def prepare(self, session: ConfigSession) -> DeviceConfig:
        """Everything before the commit; returns the configuration the device should end at."""
        missing = [c.value for c in REQUIRED_CAPABILITIES if c not in session.capabilities]
        self.step("connected", capabilities=sorted(c.value for c in session.capabilities))
        if missing:
            raise PrecheckError(self.txn, f"device lacks {', '.join(missing)}")
        await session.lock("candidate")
        self.step("locked", target="candidate")
        # an earlier, crashed client may have left edits in the shared candidate
        await session.discard()
        base = await session.get_running()
        self.base = base
        flat = base.flatten()
        for edit in self.change.edits:
            current = flat.get(edit.path)
            if current != edit.old:
                raise PrecheckError(
                    self.txn,
                    f"device drifted since the plan: {'/'.join(edit.path)} is {current}, "
                    f"the plan expected {edit.old}",
                )
        try:
            desired = base.with_edits(self.change.edits)
        except ValueError as exc:
            raise PrecheckError(self.txn, str(exc)) from exc
        self.step("base-read", leaves=len(flat))
        await session.validate(desired)
        self.step("validated", how="inline <config>")
        await session.edit_candidate(self.change.edits)
        self.step("candidate-edited", edits=[e.describe() for e in self.change.edits])
        candidate = await session.get_candidate()
        if candidate != desired:
            unexpected = [e.describe() for e in desired.diff(candidate)]
            raise PrecheckError(self.txn, f"candidate differs from the plan: {unexpected}")
        self.step("compared", diff=[e.describe() for e in base.diff(candidate)])
        return desired

    async def verify(self, verify: Verifier) -> tuple[bool, str]:
        """Sample the target over the verification window; True when it held."""
        settings = self.settings
        deadline = self.clock() + settings.verification_window
        streak = 0
        last = "no sample"
        while True:
            await self.sleep(settings.verification_interval.total_seconds())
            sample = await verify()
            streak = streak + 1 if sample.met else 0
            last = sample.detail
            self.step(
                "verify-sample", met=sample.met, observed=sample.observed, detail=sample.detail
            )
            if streak >= settings.required_samples:
                return True, f"target met in {streak} consecutive samples ({last})"
            if self.clock() >= deadline:
                return False, (
                    f"target not met in {settings.required_samples} consecutive samples within "
                    f"{settings.verification_window.total_seconds():g} s (last: {last})"
                )

    async def restore(self, open_session: SessionOpener, session: ConfigSession | None) -> str:
        """Cancel the pending confirmed commit and prove running is back at the base."""
        assert self.base is not None
        opened = session is None
        active = session if session is not None else await open_session(self.change.device)
        try:
            await active.cancel_commit(self.txn)
            self.step("cancel-commit", persist_id=self.txn)
            running = await active.get_running()
        finally:
            if opened:
                await _quietly(active.close())
        if running != self.base:
            raise RollbackError(
                self.txn,
                "running config differs from the pre-change config after cancel-commit: "
                f"{[e.describe() for e in self.base.diff(running)]}",
            )
        self.step("restored", check="running equals the pre-change config")
        return "running equals the pre-change config"


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
    """Carry out one change transaction; never raises for device or verification failures.

    Args:
        change: the planned edits to one device.
        open_session: opens a configuration session to a device by name.
        verify: samples the intent target once (called during the verification window).
        journal: where every step goes, before the next is taken.
        settings: confirm timeout and verification window.
        clock: the current time (UTC).
        explanation: why this change was chosen, journaled with the plan.
        sleep: waits between verification samples (injectable for tests).
        txn: the transaction id (also the persist-id); generated when empty.

    Returns:
        The outcome: ``confirmed``, ``rolled-back`` (committed, verification failed, restored),
        ``rejected-precheck`` / ``aborted`` (nothing changed on the device), or ``failed``
        (the device could not be restored: a human must look).
    """
    txn = txn or new_txn_id(change)
    tx = _Transaction(change, txn, journal, settings, clock, sleep)
    journal.begin_change(txn, change, at=tx.started, explanation=explanation or {})
    session: ConfigSession | None = None
    try:
        session = await open_session(change.device)
        await tx.prepare(session)
        try:
            await session.commit(confirm_timeout=settings.confirm_timeout, persist_id=txn)
        except AdapterError as exc:
            raise CommitError(txn, f"commit refused: {exc}") from exc
        tx.committed = True
        tx.step(
            "committed",
            confirmed=True,
            confirm_timeout_s=settings.confirm_timeout.total_seconds(),
            persist_id=txn,
        )
        held, how = await tx.verify(verify)
        if not held:
            raise VerificationError(txn, f"post-check failed: {how}")
        await session.confirm(txn)
        tx.step("confirmed", verification=how)
        return tx.result(ChangeStatus.CONFIRMED, f"{change.reason}; verified: {how}")
    except (NetpilotError, OSError) as exc:
        error = exc if isinstance(exc, NetpilotError) else AdapterError(change.device, str(exc))
        return await _unwind(tx, error, open_session, session)
    finally:
        if session is not None:
            await _quietly(session.unlock("candidate"))
            await _quietly(session.close())


async def _unwind(
    tx: _Transaction,
    error: NetpilotError,
    open_session: SessionOpener,
    session: ConfigSession | None,
) -> ChangeResult:
    """Bring the device back after a failure and say how the change ended."""
    tx.step("error", error=error.as_dict())
    if not tx.committed:
        if session is not None:
            await _quietly(session.discard())
            tx.step("discarded", target="candidate")
        status = (
            ChangeStatus.ABORTED
            if isinstance(error, CommitError)
            else ChangeStatus.REJECTED_PRECHECK
        )
        return tx.result(status, f"nothing changed on the device: {error}", error)
    # committed: the device runs the change until we cancel it (or its timer expires)
    try:
        # a dropped session cannot be reused: restore through a fresh one
        reuse = session if not isinstance(error, AdapterError) or not error.retryable else None
        if reuse is None and session is not None:
            await _quietly(session.close())
        restored = await tx.restore(open_session, reuse)
    except (NetpilotError, OSError) as exc:
        failure = exc if isinstance(exc, RollbackError) else RollbackError(tx.txn, str(exc))
        tx.step("restore-failed", error=failure.as_dict())
        return tx.result(
            ChangeStatus.FAILED,
            f"{error}; and the device could not be restored: {failure} (the confirmed commit "
            f"reverts by itself after {tx.settings.confirm_timeout.total_seconds():g} s)",
            failure,
        )
    status = ChangeStatus.ROLLED_BACK
    return tx.result(status, f"{error}; rolled back: {restored}", error)


async def _quietly(operation: Awaitable[object]) -> None:
    """Best-effort cleanup: a failure here must not mask the transaction's outcome."""
    try:
        await operation
    except (NetpilotError, OSError):
        return
