"""The change transaction: the only code in netpilot that pushes configuration.

One :class:`~controller.model.ChangeSet` is carried out in a fixed order, each step journaled
before the next::

    open session -> capabilities -> lock candidate -> discard stale edits
    -> read running (the base) -> drift check (the plan's "old" values still hold)
    -> validate the exact resulting configuration inline
    -> edit candidate -> compare candidate with the plan
    -> confirmed commit (timeout, persist-id = the transaction id)
    -> post-check: sample the intent target over the verification window
    -> confirm                                          (target met)
     | settle: cancel-commit, then read running and say where the device is

The promise: a change either lands verified, or the device is back at its base, and the
journal says which. Whatever goes wrong after the commit was sent (a refusal, a lost reply,
a dead session, an exception, a cancellation) ends in :meth:`_Transaction.settle`, which
cancels the pending commit by its persist-id (over a fresh session if the old one is
suspect), reads the running configuration back and classifies the outcome from what the
device holds, never from what the controller hoped.

Validation is inline (``<validate><source><config>``) because Debian's netconfd silently
loses the candidate after ``<validate><source><candidate/>`` (docs/interop.md). Rollback is
an explicit ``cancel-commit``, never a wait for the device's timer; the confirm timeout is
only the safety net for a controller that dies mid-change, and :func:`recover_in_flight`
settles such changes when the controller starts again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from adapters.base import Capability, ConfigSession
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
from controller.model import ChangeResult, ChangeSet, ChangeStatus, DeviceConfig

__all__ = ["VerificationSample", "apply_change", "new_txn_id", "recover_in_flight"]

log = logging.getLogger("netpilot.apply")

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


class _Phase(str, Enum):
    """How far a transaction got; decides what a failure means for the device."""

    PREPARE = "prepare"  # nothing committed
    COMMIT = "commit"  # the commit was sent: it may or may not have taken effect
    VERIFY = "verify"  # the change runs on the device, unconfirmed
    CONFIRM = "confirm"  # verified; the confirm was sent


def new_txn_id(change: ChangeSet) -> str:
    """A transaction id, also used as the confirmed commit's persist-id."""
    return f"{change.id}-{secrets.token_hex(4)}"


def _config_to_json(config: DeviceConfig) -> list[list[object]]:
    return [[list(path), value] for path, value in sorted(config.flatten().items())]


def _config_from_json(data: object) -> DeviceConfig | None:
    if not isinstance(data, list):
        return None
    try:
        return DeviceConfig.from_flat({tuple(path): str(value) for path, value in data})
    except (TypeError, ValueError):
        return None


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
        open_session: SessionOpener,
    ) -> None:
        self.change = change
        self.txn = txn
        self.journal = journal
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.open_session = open_session
        self.started = clock()
        self.base: DeviceConfig | None = None
        self.desired: DeviceConfig | None = None
        self.phase = _Phase.PREPARE
        self.settling = False

    def step(self, step: str, **detail: object) -> None:
        """Journal a step. While settling, a journal failure is logged, not raised: the
        device's restoration must not depend on the disk (the failure itself already
        stopped the happy path)."""
        try:
            self.journal.event(
                "change-step",
                at=self.clock(),
                intent=self.change.intent,
                device=self.change.device,
                txn=self.txn,
                step=step,
                detail=detail,
            )
        except sqlite3.Error:
            if not self.settling:
                raise
            log.exception("journal write failed while settling %s (step %s)", self.txn, step)

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
        try:
            self.journal.finish_change(self.txn, result)
        except sqlite3.Error:
            if not self.settling:
                raise
            log.exception("journal write failed for the outcome of %s: %s", self.txn, detail)
        return result

    # ---------------------------------------------------------------- the happy path

    async def prepare(self, session: ConfigSession) -> None:
        """Everything before the commit: lock, base, drift check, validation, edit, compare."""
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
        self.desired = desired
        # the base is journaled so that a controller restarted mid-change can check it
        self.step("base-read", base=_config_to_json(base), desired=_config_to_json(desired))
        await session.validate(desired)
        self.step("validated", how="inline <config>")
        await session.edit_candidate(self.change.edits)
        self.step("candidate-edited", edits=[e.describe() for e in self.change.edits])
        candidate = await session.get_candidate()
        if candidate != desired:
            unexpected = [e.describe() for e in desired.diff(candidate)]
            raise PrecheckError(self.txn, f"candidate differs from the plan: {unexpected}")
        self.step("compared", diff=[e.describe() for e in base.diff(candidate)])

    async def verify(self, verify: Verifier) -> str:
        """Sample the target over the verification window.

        Returns:
            How the target held.

        Raises:
            VerificationError: the target was not met often enough within the window.
        """
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
                return f"target met in {streak} consecutive samples ({last})"
            if self.clock() >= deadline:
                raise VerificationError(
                    self.txn,
                    f"post-check failed: target not met in {settings.required_samples} "
                    f"consecutive samples within {settings.verification_window.total_seconds():g}"
                    f" s (last: {last})",
                )

    # ---------------------------------------------------------------- failures

    async def settle(self, error: BaseException, session: ConfigSession | None) -> ChangeResult:
        """End a transaction that failed, according to how far it got."""
        self.settling = True
        failure = _as_netpilot(error, self.change.device)
        self.step("error", phase=self.phase.value, error=failure.as_dict())
        if self.phase is _Phase.PREPARE:
            if session is not None:
                try:
                    await session.discard()
                except (NetpilotError, OSError):
                    self.step(
                        "discard-failed", note="the candidate is discarded when the lock ends"
                    )
                else:
                    self.step("discarded", target="candidate")
            return self.result(
                ChangeStatus.REJECTED_PRECHECK,
                f"refused before the commit, nothing changed on the device: {failure}",
                failure,
            )
        # A commit was sent. Trust only what the device says now: cancel by persist-id and read
        # running back, over the old session unless it is suspect, else over a fresh one.
        # after a transport failure the old session cannot be trusted to answer
        suspect = isinstance(failure, ConnectError | AdapterTimeoutError | ProtocolError)
        reuse = None if suspect else session
        try:
            cancelled, running = await self._cancel_and_read(reuse)
        except (NetpilotError, OSError) as exc:
            restore_error = RollbackError(self.txn, f"could not reach the device to restore: {exc}")
            self.step("restore-failed", error=restore_error.as_dict())
            return self.result(
                ChangeStatus.FAILED,
                f"{failure}; the device could not be restored: {exc}. Its pending confirmed "
                f"commit reverts by itself within "
                f"{self.settings.confirm_timeout.total_seconds():g} s unless confirmed",
                restore_error,
            )
        return self._classify(failure, cancelled, running)

    async def _cancel_and_read(self, session: ConfigSession | None) -> tuple[bool, DeviceConfig]:
        """cancel-commit by persist-id, then read running; a second try on a fresh session."""
        # None: open a fresh session (always the last resort)
        attempts: list[ConfigSession | None] = [session, None] if session is not None else [None]
        last_error: NetpilotError | OSError | None = None
        for candidate in attempts:
            opened = candidate is None
            try:
                active = (
                    candidate
                    if candidate is not None
                    else await self.open_session(self.change.device)
                )
            except (NetpilotError, OSError) as exc:
                last_error = exc
                continue
            try:
                try:
                    await active.cancel_commit(self.txn)
                    cancelled = True
                    self.step("cancel-commit", persist_id=self.txn, result="cancelled")
                except RpcError as exc:  # nothing pending under this id
                    cancelled = False
                    self.step("cancel-commit", persist_id=self.txn, result=f"refused: {exc.tag}")
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

    def _classify(
        self, failure: NetpilotError, cancelled: bool, running: DeviceConfig
    ) -> ChangeResult:
        assert self.base is not None
        if running == self.base:
            self.step("restored", check="running equals the pre-change config")
            if self.phase is _Phase.COMMIT and not cancelled:
                return self.result(
                    ChangeStatus.ABORTED,
                    f"the commit did not take effect, nothing changed on the device: {failure}",
                    failure,
                )
            return self.result(
                ChangeStatus.ROLLED_BACK,
                f"{failure}; rolled back: running equals the pre-change config",
                failure,
            )
        if self.phase is _Phase.CONFIRM and not cancelled and running == self.desired:
            # verified, and the confirm landed although its reply did not
            self.step("confirmed", note="confirm reply lost; the device holds the change")
            return self.result(
                ChangeStatus.CONFIRMED,
                f"{self.change.reason}; verified, confirm reply lost ({failure}) but the "
                "device holds the confirmed change",
            )
        drift = [e.describe() for e in self.base.diff(running)]
        error = RollbackError(
            self.txn, f"running config differs from the pre-change config: {drift}"
        )
        self.step("restore-failed", error=error.as_dict())
        return self.result(
            ChangeStatus.FAILED,
            f"{failure}; and the device is not back at its pre-change config: {drift}",
            error,
        )


def _as_netpilot(error: BaseException, device: str) -> NetpilotError:
    if isinstance(error, NetpilotError):
        return error
    if isinstance(error, asyncio.CancelledError):
        return ChangeError("-", "the transaction was cancelled (controller stopping)")
    return AdapterError(device, f"unexpected {type(error).__name__}: {error}")


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
    """Carry out one change transaction.

    Device, verification and unexpected failures become the result, never an exception; a
    cancellation settles the device first (cancel-commit, read back, journal) and is then
    re-raised.

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
        ``confirmed``, ``rolled-back`` (committed, then restored), ``rejected-precheck`` or
        ``aborted`` (nothing changed on the device), or ``failed`` (the device could not be
        shown to be restored: a human must look).
    """
    txn = txn or new_txn_id(change)
    tx = _Transaction(change, txn, journal, settings, clock, sleep, open_session)
    journal.begin_change(txn, change, at=tx.started, explanation=explanation or {})
    session: ConfigSession | None = None
    try:
        session = await open_session(change.device)
        await tx.prepare(session)
        tx.phase = _Phase.COMMIT
        await session.commit(confirm_timeout=settings.confirm_timeout, persist_id=txn)
        tx.phase = _Phase.VERIFY
        tx.step(
            "committed",
            confirmed=True,
            confirm_timeout_s=settings.confirm_timeout.total_seconds(),
            persist_id=txn,
        )
        how = await tx.verify(verify)
        tx.phase = _Phase.CONFIRM
        await session.confirm(txn)
        tx.step("confirmed", verification=how)
        return tx.result(ChangeStatus.CONFIRMED, f"{change.reason}; verified: {how}")
    except BaseException as exc:
        # shielded: a second cancellation must not cut the device's restoration short
        outcome = await asyncio.shield(tx.settle(exc, session))
        if not isinstance(exc, Exception):
            raise
        return outcome
    finally:
        if session is not None:
            await _quietly(session.unlock("candidate"))
            await _quietly(session.close())


async def recover_in_flight(
    journal: Journal, *, open_session: SessionOpener, clock: Clock, settings: ApplySettings
) -> list[ChangeResult]:
    """Settle transactions a previous controller left pending (it was killed mid-change).

    For each: cancel its confirmed commit by persist-id (if still pending), read running
    and compare with the base the journal recorded; the journal row is then finished.

    Returns:
        One result per recovered transaction.
    """
    results = []
    for record in journal.in_flight():
        results.append(await _recover(record, journal, open_session, clock, settings))
    return results


async def _recover(
    record: ChangeRecord,
    journal: Journal,
    open_session: SessionOpener,
    clock: Clock,
    settings: ApplySettings,
) -> ChangeResult:
    events = journal.events(txn=record.txn)
    steps = {e.step: e for e in events}
    change = ChangeSet(
        id=record.change_id,
        intent=record.intent,
        device=record.device,
        edits=(),
        reason=str(record.plan.get("reason", "")),
    )
    tx = _Transaction(change, record.txn, journal, settings, clock, asyncio.sleep, open_session)
    tx.step("recovering", note="the controller stopped before this change ended")
    base_event = steps.get("base-read")
    tx.base = _config_from_json(base_event.detail.get("base")) if base_event else None
    tx.desired = _config_from_json(base_event.detail.get("desired")) if base_event else None
    if "committed" not in steps and "error" not in steps and tx.base is not None:
        tx.phase = _Phase.COMMIT  # the commit may have been sent just before the stop
    elif "committed" in steps:
        tx.phase = _Phase.CONFIRM if "confirmed" in steps else _Phase.VERIFY
    interrupted = ChangeError(record.txn, "interrupted by a controller restart")
    if tx.base is None:  # stopped before the base was read: nothing was committed
        return tx.result(
            ChangeStatus.REJECTED_PRECHECK,
            "interrupted before the commit; nothing changed on the device",
            interrupted,
        )
    return await tx.settle(interrupted, None)


async def _quietly(operation: Awaitable[object]) -> None:
    """Best-effort cleanup: a failure here must not mask the transaction's outcome."""
    try:
        await operation
    except (NetpilotError, OSError):
        return
