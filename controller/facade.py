"""The console facade: the one object the operator console talks to.

The console (tui/) never touches adapters, the journal's SQLite file or the loop's internals:
it reads and acts through a :class:`ConsoleFacade`. Everything it returns is a frozen value
(core types from :mod:`controller.model` or the views below), so a remote implementation can
carry the same values over the daemon's local API (``netpilot tui --connect``) later; this
module has the in-process one, :class:`InProcessFacade`, built on the running
:class:`~controller.loop.Controller` that the ``controller_ready`` observer hook hands over.

Live events (ticks, decisions, changes) do not go through the facade: they reach the console
through a :class:`~controller.loop.ControllerObserver`. A remote facade will feed the same
observer from the API's event stream.

What is not here yet, because the data does not exist yet (each is a method to add to the
Protocol and both implementations when it does):

- approvals (approve mode): ``pending_approvals() -> tuple[PendingPlan, ...]``,
  ``approve(plan_id, *, reason)``, ``reject(plan_id, *, reason)``; needs the loop to park an
  approve-mode intent's plan (decision, explanation, guards) instead of applying it;
- models (issue 6): ``models() -> tuple[ModelView, ...]`` with version, champion/challenger
  role, accuracy, drift and fallback state from the analytics model registry;
- intent revisions and conflicts (issue 3): ``intent_history(name)`` (generation, commit,
  time, diff per revision) and ``conflicts()`` (28.312 intent/expectation/target conflicts
  with the resolution applied).

This module has no Textual in it: the console depends on it, never the other way round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from controller.errors import ConfigFileError
from controller.journal import ChangeRecord, EventRecord, Journal, undone_changes
from controller.loop import Controller
from controller.model import (
    ChangeResult,
    ChangeStatus,
    Decision,
    Intent,
    IntentStatus,
    Observation,
)

__all__ = [
    "ChangeDetail",
    "ChangeView",
    "ConsoleFacade",
    "ControllerSnapshot",
    "DeviceEdit",
    "DeviceInfo",
    "InProcessFacade",
    "IntentSource",
    "TimelineStep",
    "change_view",
    "document_span",
]

log = logging.getLogger("netpilot.facade")

_T = TypeVar("_T")

# a journal time that does not parse (a damaged record) sorts first instead of failing
_UNKNOWN_TIME = datetime.min.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device of the inventory as the console shows it (no endpoints, no credentials)."""

    name: str
    address: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ControllerSnapshot:
    """The controller's live state at one moment.

    Attributes:
        ticks: how many ticks have run.
        intents: the active intent set, in load order.
        devices: the inventory, by name.
        statuses: the latest fulfilment of each evaluated intent, in intent order.
        observations: the latest observation of each device.
        decisions: the latest decision of each intent.
        in_flight: intent name -> id of the change being applied for it.
        held: intent name -> change ids the loop will not apply again (quarantined: they
            failed verification, or an operator rolled them back).
    """

    ticks: int
    intents: tuple[Intent, ...]
    devices: tuple[DeviceInfo, ...]
    statuses: tuple[IntentStatus, ...]
    observations: Mapping[str, Observation]
    decisions: tuple[Decision, ...]
    in_flight: Mapping[str, str]
    held: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class DeviceEdit:
    """One leaf edit of a change, on one device."""

    device: str
    op: str  # add | change | remove
    path: str  # qos/class[name=video]/priority
    old: str | None
    new: str | None

    def describe(self) -> str:
        """``qos/class[name=video]/priority: 0 -> 6``."""
        old = "-" if self.old is None else self.old
        new = "-" if self.new is None else self.new
        return f"{self.path}: {old} -> {new}"


@dataclass(frozen=True, slots=True)
class ChangeView:
    """A journaled change transaction, as listed.

    Attributes:
        txn: the transaction id (also its persist-id).
        change_id: the plan's content-derived id (the same plan computed twice has it).
        intent: the intent it served.
        devices: the devices it touched.
        status: where it ended (``pending`` while in flight).
        started_at: when it started.
        finished_at: when it ended, if it has.
        reason: why (the plan's reason).
        detail: how it ended (the result's detail), if it has.
        edits: every edit, per device.
        explanation: the decision's explanation, as journaled with the plan.
        rollback_of: the transaction this one rolled back (an operator rollback), if any.
        rolled_back_by: the confirmed operator rollback that undid this change, if any.
    """

    txn: str
    change_id: str
    intent: str
    devices: tuple[str, ...]
    status: ChangeStatus
    started_at: datetime
    finished_at: datetime | None
    reason: str
    detail: str
    edits: tuple[DeviceEdit, ...]
    explanation: Mapping[str, object]
    rollback_of: str = ""
    rolled_back_by: str = ""

    @property
    def can_roll_back(self) -> bool:
        """Whether an operator rollback may be asked for (the engine still checks the devices)."""
        return self.status is ChangeStatus.CONFIRMED and not self.rolled_back_by


@dataclass(frozen=True, slots=True)
class TimelineStep:
    """One journaled step of a change (``connected``, ``committed``, ``verified``...)."""

    seq: int
    at: datetime
    step: str
    device: str
    detail: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ChangeDetail:
    """A change with its timeline, step by step."""

    change: ChangeView
    timeline: tuple[TimelineStep, ...]


@dataclass(frozen=True, slots=True)
class IntentSource:
    """The file an intent was loaded from.

    Attributes:
        name: the intent.
        generation: the spec's content hash (changes when the spec does).
        file: the file's path.
        text: the whole file.
        first_line: 1-based first line of the intent's YAML document in ``text``.
        last_line: 1-based last line of that document.
    """

    name: str
    generation: str
    file: str
    text: str
    first_line: int
    last_line: int


# --------------------------------------------------------------------------- the protocol


class ConsoleFacade(Protocol):
    """What the operator console may read and do. Every call is a coroutine: an
    implementation may do IO (the journal, a file, later the daemon's API) but never blocks
    the caller's event loop."""

    async def snapshot(self) -> ControllerSnapshot:
        """The controller's live state now."""

    async def changes(self, *, limit: int = 100) -> tuple[ChangeView, ...]:
        """The journal's most recent changes, newest first."""

    async def change(self, txn: str) -> ChangeDetail | None:
        """One change with its timeline, or ``None`` if the journal has no such change."""

    async def intent_source(self, name: str) -> IntentSource:
        """The YAML an intent was loaded from.

        Raises:
            ConfigFileError: the intent is unknown or its file cannot be read.
        """

    async def rollback(self, txn: str, *, force: bool = False) -> ChangeResult:
        """Undo a confirmed change with a new transaction, all devices or none.

        Raises:
            ChangeError: refused before anything was sent (unknown, not confirmed, already
                rolled back, or a device is busy with another change).
        """

    async def drain(self) -> None:
        """Wait until every action started through the facade has ended."""


# --------------------------------------------------------------------------- conversions


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _edits(plan: Mapping[str, object]) -> tuple[DeviceEdit, ...]:
    raw = plan.get("edits")
    if not isinstance(raw, list):
        return ()
    edits = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        old, new = item.get("old"), item.get("new")
        edits.append(
            DeviceEdit(
                device=str(item.get("device", "")),
                op=str(item.get("op", "")),
                path=str(item.get("path", "")),
                old=None if old is None else str(old),
                new=None if new is None else str(new),
            )
        )
    return tuple(edits)


def change_view(record: ChangeRecord, *, rolled_back_by: str = "") -> ChangeView:
    """A journal record as the console lists it (tolerant of older or partial records)."""
    plan = record.plan
    explanation = plan.get("explanation")
    explanation = dict(explanation) if isinstance(explanation, dict) else {}
    devices = plan.get("devices")
    detail = record.result.get("detail", "") if record.result else ""
    started = _parse_time(record.started_at)
    return ChangeView(
        txn=record.txn,
        change_id=record.change_id,
        intent=record.intent,
        devices=tuple(str(d) for d in devices)
        if isinstance(devices, list)
        else tuple(d for d in record.device.split(",") if d),
        status=record.status,
        started_at=started if started is not None else _UNKNOWN_TIME,
        finished_at=_parse_time(record.finished_at),
        reason=str(plan.get("reason", "")),
        detail=str(detail),
        edits=_edits(plan),
        explanation=explanation,
        rollback_of=str(explanation.get("rollback_of", "") or ""),
        rolled_back_by=rolled_back_by,
    )


def _views(records: list[ChangeRecord]) -> tuple[ChangeView, ...]:
    """Views of ``records``, each marked with the confirmed rollback that undid it."""
    undone = undone_changes(reversed(records))
    return tuple(change_view(r, rolled_back_by=undone.get(r.txn, "")) for r in records)


def _step(event: EventRecord) -> TimelineStep:
    at = _parse_time(event.at)
    return TimelineStep(
        seq=event.seq,
        at=at if at is not None else _UNKNOWN_TIME,
        step=event.step or event.kind,
        device=event.device,
        detail=dict(event.detail),
    )


def document_span(text: str, line: int) -> tuple[int, int]:
    """The 1-based (first, last) lines of the YAML document that contains ``line``.

    A file may hold several intents as YAML documents separated by ``---``; the console
    highlights the one an intent came from.
    """
    lines = text.splitlines()
    line = min(max(line, 1), max(len(lines), 1))
    first = line
    while first > 1 and not _is_separator(lines[first - 2]):
        first -= 1
    last = line
    while last < len(lines) and not _is_separator(lines[last]):
        last += 1
    return first, last


def _is_separator(line: str) -> bool:
    return line.rstrip() == "---" or line.startswith("--- ") or line.rstrip() == "..."


# --------------------------------------------------------------------------- in-process


class InProcessFacade:
    """The facade over a controller running in this process (``netpilot demo``).

    Reads of the journal run in a worker thread on their own read-only SQLite connection
    (WAL lets them run beside the controller's writes), so the console's event loop never
    waits on the disk. A rollback runs on the controller's event loop, like the loop's own
    transactions.

    While an operator rollback runs, its devices count as busy for the loop (it holds back
    its own changes there, one transaction per device), and a rollback that confirmed
    quarantines the undone change for its intent: the loop does not push the change the
    operator just took back. Quarantine lasts as long as the controller runs.

    Args:
        controller: the running controller.
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._operations: set[asyncio.Task[Any]] = set()

    # ---------------------------------------------------------------- reading

    async def snapshot(self) -> ControllerSnapshot:
        c = self.controller
        return ControllerSnapshot(
            ticks=c.ticks,
            intents=c.intents,
            devices=tuple(
                DeviceInfo(d.name, d.address, dict(d.labels)) for _, d in sorted(c.devices.items())
            ),
            statuses=tuple(c.statuses[i.name] for i in c.intents if i.name in c.statuses),
            observations=dict(c.last_observations),
            decisions=tuple(
                c.last_decisions[i.name] for i in c.intents if i.name in c.last_decisions
            ),
            in_flight={name: s.in_flight for name, s in c.states.items() if s.in_flight},
            held={name: s.quarantined for name, s in c.states.items() if s.quarantined},
        )

    async def changes(self, *, limit: int = 100) -> tuple[ChangeView, ...]:
        records = await self._read(lambda journal: journal.changes(limit=limit))
        return _views(records)

    async def change(self, txn: str) -> ChangeDetail | None:
        def read(journal: Journal) -> tuple[ChangeRecord | None, list[EventRecord], str]:
            record = journal.change(txn)
            if record is None:
                return None, [], ""
            undone = ""
            if record.status is ChangeStatus.CONFIRMED:
                # a confirmed rollback of it started after it, so among the newer changes
                for later in journal.changes(limit=1000):
                    if later.txn == txn:
                        break
                    explanation = later.plan.get("explanation")
                    if (
                        later.status is ChangeStatus.CONFIRMED
                        and isinstance(explanation, dict)
                        and explanation.get("rollback_of") == txn
                    ):
                        undone = later.txn
                        break
            return record, journal.events(txn=txn), undone

        record, events, undone = await self._read(read)
        if record is None:
            return None
        return ChangeDetail(
            change=change_view(record, rolled_back_by=undone),
            timeline=tuple(_step(e) for e in events),
        )

    async def intent_source(self, name: str) -> IntentSource:
        intent = next((i for i in self.controller.intents if i.name == name), None)
        if intent is None or intent.location is None:
            raise ConfigFileError(name, "no such intent, or it was not loaded from a file")
        location = intent.location
        try:
            text = await asyncio.to_thread(Path(location.file).read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigFileError(location.file, f"cannot read the intent file: {exc}") from exc
        first, last = document_span(text, location.line)
        return IntentSource(
            name=intent.name,
            generation=intent.generation,
            file=location.file,
            text=text,
            first_line=first,
            last_line=last,
        )

    async def _read(self, read: Callable[[Journal], _T]) -> _T:
        path = self.controller.journal.path
        if path == ":memory:":
            # an in-memory journal (unit tests) has no file a second connection could open
            return read(self.controller.journal)

        def in_thread() -> _T:
            journal = Journal(path, read_only=True)
            try:
                return read(journal)
            finally:
                journal.close()

        return await asyncio.to_thread(in_thread)

    # ---------------------------------------------------------------- acting

    async def rollback(self, txn: str, *, force: bool = False) -> ChangeResult:
        return await self._track(self._rollback(txn, force=force))

    async def _rollback(self, txn: str, *, force: bool) -> ChangeResult:
        result = await self.controller.rollback(txn, force=force)
        log.info("operator rollback of %s: %s (%s)", txn, result.status.value, result.detail)
        return result

    async def _track(self, operation: Coroutine[Any, Any, _T]) -> _T:
        """Run an action as its own task: the console giving up on it (a cancelled worker)
        does not cut a transaction short, and :meth:`drain` waits for it."""
        task = asyncio.ensure_future(operation)
        self._operations.add(task)
        task.add_done_callback(self._operations.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        while self._operations:
            await asyncio.gather(*list(self._operations), return_exceptions=True)
