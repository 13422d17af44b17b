"""Manual rollback of a journaled change: ``netpilot changes rollback TXN``.

The journal holds, per device, the configuration before (the base) and after (desired) a
change. Rolling back is a new transaction — same engine, same guarantees — whose plan takes
each device from desired back to base. Its drift check refuses when a device no longer holds
what the change left (someone changed it since); ``force`` plans from the device's current
running configuration instead, so every leaf returns to its pre-change value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from adapters.base import ConfigSession
from controller.apply import apply_plan, config_from_json
from controller.config import ApplySettings
from controller.errors import ChangeError, NetpilotError
from controller.journal import Journal
from controller.model import ChangeResult, ChangeSet, ChangeStatus, DeviceConfig, Plan

__all__ = ["rollback_change"]

SessionOpener = Callable[[str], Awaitable[ConfigSession]]


def _states(journal: Journal, txn: str) -> dict[str, tuple[DeviceConfig, DeviceConfig]]:
    """Device -> (base, desired) as the change journaled them."""
    states: dict[str, tuple[DeviceConfig, DeviceConfig]] = {}
    for event in journal.events(txn=txn):
        if event.step != "base-read":
            continue
        base = config_from_json(event.detail.get("base"))
        desired = config_from_json(event.detail.get("desired"))
        if base is None or desired is None:
            raise ChangeError(txn, f"the journal's record of {event.device} is unreadable")
        states[event.device] = (base, desired)
    return states


async def rollback_change(
    txn: str,
    *,
    journal: Journal,
    open_session: SessionOpener,
    settings: ApplySettings,
    clock: Callable[[], datetime],
    force: bool = False,
) -> ChangeResult:
    """Undo a confirmed change with a new transaction.

    Raises:
        ChangeError: no such change, it is not confirmed, an operator rollback already undid
            it, or its record lacks the base.
    """
    record = journal.change(txn)
    if record is None:
        raise ChangeError(txn, "no such change in the journal")
    if record.status is not ChangeStatus.CONFIRMED:
        raise ChangeError(
            txn, f"only a confirmed change can be rolled back; this one is {record.status.value}"
        )
    undone_by = journal.rolled_back_by().get(txn)
    if undone_by:
        raise ChangeError(txn, f"already rolled back by {undone_by}")
    states = _states(journal, txn)
    if not states:
        raise ChangeError(txn, "the journal has no pre-change configuration for this change")
    changes = []
    for device, (base, desired) in sorted(states.items()):
        start = desired
        if force:
            session = await open_session(device)
            try:
                start = await session.get_running()
            finally:
                with contextlib.suppress(NetpilotError, OSError):
                    await session.close()
        edits = start.diff(base)
        if edits:
            # base=start: refuse if the device no longer holds exactly what we plan from
            changes.append(
                ChangeSet.make(
                    record.intent, device, edits, f"roll back {txn} on {device}", base=start
                )
            )
    if not changes:
        raise ChangeError(txn, "every device already holds its pre-change configuration")
    plan = Plan.make(record.intent, tuple(changes), f"operator rollback of {txn}")
    return await apply_plan(
        plan,
        open_session=open_session,
        verify=None,
        journal=journal,
        settings=settings,
        clock=clock,
        explanation={"rollback_of": txn, "forced": force},
    )
