"""The console facade: the one object the operator console talks to.

The console (tui/) never touches adapters, the journal's SQLite file or the loop's internals:
it reads and acts through a :class:`ConsoleFacade`. Everything it returns is a frozen value
(core types from :mod:`controller.model` or the views below). Two implementations:

- :class:`InProcessFacade`, over a :class:`~controller.loop.Controller` running in the same
  process (``netpilot demo``), handed over by the ``controller_ready`` observer hook;
- :class:`RemoteFacade`, over the daemon's token-protected local API
  (``netpilot tui --connect``, controller/api_client.py).

Live events (ticks, decisions, changes) do not go through the facade's queries: in process
they reach the console through a :class:`~controller.loop.ControllerObserver`; remotely,
:meth:`RemoteFacade.run` polls the API's event feed and calls the same observer methods.

The readers the two share (:func:`read_models`, :func:`read_revision_log`,
:func:`read_intent_history`, :func:`read_intent_source`) do blocking file IO and return plain
JSON data: the API sends that data as it is, and both facades turn it into views with the
same ``*_from_dict`` functions, so a remote console shows exactly what a local one does.

This module has no Textual in it: the console depends on it, never the other way round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from analytics.registry import ModelRecord, ModelStatus, ShadowComparison, shadow_comparison
from controller.api_client import (
    ApiClient,
    ApiError,
    decode_decision,
    decode_intent,
    decode_observation,
    decode_result,
    decode_status,
    decode_tick,
    parse_time,
)
from controller.errors import ChangeError, ConfigFileError, NetpilotError
from controller.formatting import edit_text
from controller.intent_store import IntentStore, default_store_path
from controller.journal import ChangeRecord, EventRecord, Journal, undone_changes
from controller.loop import Controller, TickReport
from controller.model import (
    Approval,
    ApprovalStatus,
    ChangeResult,
    ChangeStatus,
    Decision,
    Intent,
    IntentStatus,
    Observation,
)
from controller.models_store import DEFAULT_STORE, ModelStore, ModelStoreError
from intents.revisions import Outcome

__all__ = [
    "ApprovalView",
    "ChangeDetail",
    "ChangeView",
    "ConflictView",
    "ConsoleEvents",
    "ConsoleFacade",
    "ControllerSnapshot",
    "DeviceEdit",
    "DeviceInfo",
    "InProcessFacade",
    "IntentRevision",
    "IntentSource",
    "ModelVersion",
    "ModelView",
    "ModelsView",
    "RemoteFacade",
    "RevisionStep",
    "RevisionsView",
    "TimelineStep",
    "approval_from_dict",
    "approval_view",
    "change_view",
    "document_span",
    "intent_history_from_dicts",
    "model_usage",
    "models_from_dict",
    "read_intent_history",
    "read_intent_source",
    "read_models",
    "read_revision_log",
    "revisions_from_dict",
    "snapshot_from_dict",
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
        """``qos/class[name=video]/priority: 0 -> 6``; an absent leaf is ``(unset)``."""
        return edit_text(self.path, self.old, self.new)


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


@dataclass(frozen=True, slots=True)
class ApprovalView:
    """A plan an approve-mode intent waits on (or waited on), as the console shows it.

    Attributes:
        id: the approval's id (the plan's change id).
        intent: the intent it serves.
        devices: the devices it would change.
        edits: every edit, per device.
        summary: what the controller concluded.
        requested_at: when the loop asked for it.
        status: pending, approved, rejected, applied or superseded.
        decided_at: when an operator (or the loop) settled it.
        reason: the operator's reason.
        explanation: the decision's explanation, key for key.
    """

    id: str
    intent: str
    devices: tuple[str, ...]
    edits: tuple[DeviceEdit, ...]
    summary: str
    requested_at: datetime
    status: ApprovalStatus
    decided_at: datetime | None = None
    reason: str = ""
    explanation: Mapping[str, object] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        """Whether an operator may still approve or reject it."""
        return self.status is ApprovalStatus.PENDING


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One trained version of a model (its metadata; the learned state stays in the store)."""

    version: int
    model_type: str
    created_at: datetime | None
    metrics: Mapping[str, float]
    features: tuple[str, ...]
    training_samples: int
    training_start: datetime | None = None
    training_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelView:
    """A model of the registry: its record (champion, challenger, status, monitoring,
    events) and its versions."""

    record: ModelRecord
    versions: tuple[ModelVersion, ...]

    @property
    def name(self) -> str:
        """The model's name."""
        return self.record.name

    @property
    def answering(self) -> str:
        """Who answers for the model now: ``v3``, or ``rule seasonal-naive``."""
        record = self.record
        if record.champion is not None and record.status is ModelStatus.ACTIVE:
            return f"v{record.champion}"
        return f"rule {record.kind.baseline}"

    def version(self, number: int | None) -> ModelVersion | None:
        """One version's metadata, if stored."""
        return next((v for v in self.versions if v.version == number), None)

    def accuracy(self, number: int | None) -> float | None:
        """A version's validation metric (``kind.metric``: mape, alarm_rate or f1)."""
        version = self.version(number)
        if version is None:
            return None
        return version.metrics.get(self.record.kind.metric)

    @property
    def shadow(self) -> ShadowComparison | None:
        """The challenger's live error against the incumbent's (the champion's, or without
        one the rule's), as ``netpilot models show`` gives it.

        Derived from the record, whose challenger monitor carries the rule's error on the
        same samples, so the view read from the files and the one decoded from the API
        (the same record) give the same comparison.
        """
        return shadow_comparison(self.record)


@dataclass(frozen=True, slots=True)
class ModelsView:
    """The model registry as the console shows it.

    Attributes:
        store: the store's directory.
        models: every readable model, by name.
        in_use: whether the controller's decisions name a model.
        usage: one line saying how the controller uses the models (or that it does not).
        problems: models or files that could not be read.
    """

    store: str
    models: tuple[ModelView, ...]
    in_use: bool
    usage: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConflictView:
    """A conflict between two intents (28.312 conflict report) and how it was resolved."""

    kind: str  # targetConflict | expectationConflict | intentConflict
    intents: tuple[str, ...]
    description: str
    winner: str
    resolution: str

    def describe(self) -> str:
        """``targetConflict a / b: description``."""
        return f"{self.kind} {' / '.join(self.intents)}: {self.description}"


@dataclass(frozen=True, slots=True)
class RevisionStep:
    """One recorded step of the intent source: a revision admitted, refused or quarantined.

    Attributes:
        seq: the store's order.
        revision: the revision id (a commit, or ``sha256:`` of a directory).
        source: where it was read.
        author: the commit's author.
        message: the commit's subject.
        at: when the step happened.
        outcome: ``admitted``, ``refused`` or ``quarantined``.
        reason: why.
        active: the revision in force after the step.
        changes: the semantic diff to the revision before, one line each.
        errors: validation errors (a refused revision's).
        warnings: validation warnings.
        conflicts: conflicts between its intents.
        notes: per intent, what the conflict resolution did to it.
    """

    seq: int
    revision: str
    source: str
    author: str
    message: str
    at: datetime | None
    outcome: str
    reason: str
    active: str
    changes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    conflicts: tuple[ConflictView, ...] = ()
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """The id as people write it (12 hex digits)."""
        return self.revision.removeprefix("sha256:")[:12]


@dataclass(frozen=True, slots=True)
class RevisionsView:
    """What the intent store knows about the intent source.

    Attributes:
        store: the store's file.
        source: the source last polled.
        last_poll: when.
        poll_error: why that poll failed ("" when it did not).
        steps: recorded steps, newest first.
        quarantined: revision id -> why it is not to be applied again.
    """

    store: str
    source: str
    last_poll: datetime | None
    poll_error: str
    steps: tuple[RevisionStep, ...]
    quarantined: Mapping[str, str]

    @property
    def active(self) -> RevisionStep | None:
        """The admission of the revision in force."""
        if not self.steps:
            return None
        active = self.steps[0].active
        return next(
            (s for s in self.steps if s.revision == active and s.outcome == Outcome.ADMITTED.value),
            None,
        )

    @property
    def refusals(self) -> tuple[RevisionStep, ...]:
        """Revisions refused since the active one was admitted (the source is ahead)."""
        active = self.active
        since = active.seq if active is not None else 0
        return tuple(s for s in self.steps if s.outcome == Outcome.REFUSED.value and s.seq > since)


@dataclass(frozen=True, slots=True)
class IntentRevision:
    """A revision that added, changed or removed one intent.

    Attributes:
        revision: the revision id.
        author: its author.
        message: its commit subject.
        at: when it was handled.
        outcome: ``admitted``, or ``quarantined`` (it was rolled back to an earlier one).
        change: ``added``, ``changed`` or ``removed``.
        fields: the changed fields, ``spec.priority: 50 -> 100``.
        generation: the intent's generation after it.
    """

    revision: str
    author: str
    message: str
    at: datetime | None
    outcome: str
    change: str
    fields: tuple[str, ...]
    generation: str

    @property
    def short(self) -> str:
        """The id as people write it (12 hex digits)."""
        return self.revision.removeprefix("sha256:")[:12]


# --------------------------------------------------------------------------- the protocol


class ConsoleFacade(Protocol):
    """What the operator console may read and do. Every call is a coroutine: an
    implementation may do IO (the journal, a file, the daemon's API) but never blocks the
    caller's event loop."""

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

    async def approvals(self) -> tuple[ApprovalView, ...]:
        """Every plan approve-mode intents asked for since the controller started, newest
        first (pending ones and how the others were settled)."""

    async def approve(self, approval_id: str, reason: str = "") -> ApprovalView:
        """Approve a pending plan: the loop applies it at its next tick if it still
        proposes it.

        Raises:
            ChangeError: no such approval, or it is not pending any more.
        """

    async def reject(self, approval_id: str, reason: str) -> ApprovalView:
        """Reject a pending plan: its change is quarantined for its intent.

        Raises:
            ChangeError: no reason given, no such approval, or it is not pending any more.
        """

    async def release(self, change_id: str, reason: str) -> tuple[str, tuple[str, ...]]:
        """End a change's quarantine: its intent may propose it again (an approve-mode
        intent asks again). The change id (a transaction of it names it too) released and
        the intents that held it.

        Raises:
            ChangeError: no reason given, or no intent holds the change.
        """

    async def models(self) -> ModelsView:
        """The model registry: versions, champion/challenger, accuracy, drift, fallback."""

    async def revisions(self) -> RevisionsView | None:
        """The intent source's revisions, refusals and quarantine; ``None`` when the
        controller keeps no intent store (the demo reads its intent files once)."""

    async def intent_history(self, name: str) -> tuple[IntentRevision, ...] | None:
        """The revisions that touched an intent, newest first; ``None`` without a store."""

    async def drain(self) -> None:
        """Wait until every action started through the facade has ended."""


class ConsoleEvents(Protocol):
    """What the console hears from a running controller (the observer's events, plus the
    state of a remote console's connection)."""

    def tick_finished(self, report: TickReport) -> None:
        """After every tick."""

    def change_started(self, decision: Decision, txn: str) -> None:
        """When a change transaction starts."""

    def change_finished(self, result: ChangeResult) -> None:
        """When a change transaction has ended."""

    def connection_changed(self, problem: str) -> None:
        """A remote console lost the daemon (``problem`` says why) or got it back (``""``)."""


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


def _device_edits(change_sets: Iterable[Mapping[str, object]]) -> tuple[DeviceEdit, ...]:
    """Edits of encoded change sets (``{"device", "edits": [{"op", "path", "old", "new"}]}``)."""
    edits = []
    for change in change_sets:
        raw = change.get("edits")
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, Mapping):
                continue
            path = item.get("path")
            old, new = item.get("old"), item.get("new")
            edits.append(
                DeviceEdit(
                    device=str(change.get("device", "")),
                    op=str(item.get("op", "")),
                    path="/".join(str(p) for p in path)
                    if isinstance(path, list)
                    else str(path or ""),
                    old=None if old is None else str(old),
                    new=None if new is None else str(new),
                )
            )
    return tuple(edits)


def approval_view(approval: Approval) -> ApprovalView:
    """An approval as the console shows it."""
    change = approval.change
    return ApprovalView(
        id=approval.id,
        intent=approval.intent,
        devices=(change.device,),
        edits=tuple(
            DeviceEdit(change.device, e.op.value, "/".join(e.path), e.old, e.new)
            for e in change.edits
        ),
        summary=approval.summary,
        requested_at=approval.requested_at,
        status=approval.status,
        decided_at=approval.decided_at,
        reason=approval.reason,
        explanation=dict(approval.explanation),
    )


def approval_from_dict(data: Mapping[str, object]) -> ApprovalView:
    """An approval from the API (``encode_approval``; ``Approval.as_dict`` also reads).

    Raises:
        ValueError: no request time, or an unknown status.
    """
    changes = data.get("changes")
    change_sets = (
        [c for c in changes if isinstance(c, Mapping)] if isinstance(changes, list) else []
    )
    if change_sets:
        edits = _device_edits(change_sets)
        devices = tuple(dict.fromkeys(str(c.get("device", "")) for c in change_sets))
    else:  # only the described edits ("path: old -> new")
        device = str(data.get("device", ""))
        raw = data.get("edits")
        edits = tuple(
            DeviceEdit(device, "", str(e), None, None)
            for e in (raw if isinstance(raw, list) else [])
        )
        devices = (device,) if device else ()
    requested = parse_time(data.get("requested_at"))
    if requested is None:
        raise ValueError(f"approval {data.get('id')!r} has no request time")
    explanation = data.get("explanation")
    return ApprovalView(
        id=str(data.get("id", "")),
        intent=str(data.get("intent", "")),
        devices=devices,
        edits=edits,
        summary=str(data.get("summary", "")),
        requested_at=requested,
        status=ApprovalStatus(str(data.get("status", ""))),
        decided_at=parse_time(data.get("decided_at")),
        reason=str(data.get("reason", "") or ""),
        explanation=dict(explanation) if isinstance(explanation, Mapping) else {},
    )


def _require_reason(approval_id: str, reason: str, *, what: str = "a rejection") -> str:
    reason = reason.strip()
    if not reason:
        raise ChangeError(approval_id, f"{what} needs a reason (it is journaled)")
    return reason


def change_record_from_dict(data: Mapping[str, object]) -> ChangeRecord:
    """A journal record from the API (``ChangeRecord.as_dict``)."""
    plan, result = data.get("plan"), data.get("result")
    finished = data.get("finished_at")
    return ChangeRecord(
        txn=str(data.get("txn", "")),
        change_id=str(data.get("change_id", "")),
        intent=str(data.get("intent", "")),
        device=str(data.get("device", "")),
        status=ChangeStatus(str(data.get("status", ""))),
        started_at=str(data.get("started_at", "")),
        finished_at=None if finished is None else str(finished),
        plan=dict(plan) if isinstance(plan, Mapping) else {},
        result=dict(result) if isinstance(result, Mapping) else None,
    )


def _event_record(data: Mapping[str, object]) -> EventRecord:
    detail = data.get("detail")
    seq = data.get("seq")
    return EventRecord(
        seq=seq if isinstance(seq, int) else 0,
        at=str(data.get("at", "")),
        kind=str(data.get("kind", "")),
        intent=str(data.get("intent", "")),
        device=str(data.get("device", "")),
        txn=str(data.get("txn", "")),
        step=str(data.get("step", "")),
        detail=dict(detail) if isinstance(detail, Mapping) else {},
    )


def _mappings(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def snapshot_from_dict(data: Mapping[str, object]) -> ControllerSnapshot:
    """The controller's state from ``GET /v1/snapshot``."""
    observations = data.get("observations")
    in_flight, held = data.get("in_flight"), data.get("held")
    ticks = data.get("ticks")
    return ControllerSnapshot(
        ticks=ticks if isinstance(ticks, int) else 0,
        intents=tuple(decode_intent(i) for i in _mappings(data.get("intents"))),
        devices=tuple(
            DeviceInfo(
                str(d.get("name", "")),
                str(d.get("address", "")),
                {str(k): str(v) for k, v in labels.items()}
                if isinstance(labels := d.get("labels"), Mapping)
                else {},
            )
            for d in _mappings(data.get("devices"))
        ),
        statuses=tuple(decode_status(s) for s in _mappings(data.get("statuses"))),
        observations={
            str(name): decode_observation(o)
            for name, o in (observations.items() if isinstance(observations, Mapping) else ())
            if isinstance(o, Mapping)
        },
        decisions=tuple(decode_decision(d) for d in _mappings(data.get("decisions"))),
        in_flight={str(k): str(v) for k, v in in_flight.items()}
        if isinstance(in_flight, Mapping)
        else {},
        held={
            str(k): {str(c): str(r) for c, r in v.items()}
            for k, v in held.items()
            if isinstance(v, Mapping)
        }
        if isinstance(held, Mapping)
        else {},
    )


# --------------------------------------------------------------------------- models


def model_usage(decisions: Iterable[Decision]) -> tuple[bool, str]:
    """Whether the controller's decisions use a model of the registry, in one line.

    A decision that used one names it in its explanation as the registry writes it
    (``analytics.registry.explanation``: a mapping with ``name``, ``source``, ``version``);
    anything else under ``model`` describes what the policy decided on instead.
    """
    used: dict[str, str] = {}
    described: list[str] = []
    for decision in decisions:
        value = decision.explanation.get("model")
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, Mapping) and entry.get("name"):
                version = entry.get("version")
                used[str(entry["name"])] = (
                    f"v{version}"
                    if entry.get("source") == "model" and version is not None
                    else f"rule {entry.get('baseline', 'baseline')}"
                )
            elif entry is not None and str(entry) not in described:
                described.append(str(entry))
    if used:
        return True, "decisions use: " + ", ".join(f"{n} {how}" for n, how in sorted(used.items()))
    if described:
        return False, (
            "The controller does not use these models in its decisions yet "
            f"(they decide on: {'; '.join(described)})"
        )
    return False, "The controller does not use these models in its decisions yet"


def read_models(store: Path, decisions: Iterable[Decision] = ()) -> dict[str, object]:
    """The registry in ``store`` as plain data (blocking file IO: run it in a thread).

    Every version's metadata is read, not its learned state. A model whose files cannot
    be read is listed under ``problems`` instead of failing the whole answer.
    """
    registry = ModelStore(store)
    models: list[dict[str, object]] = []
    problems: list[str] = []
    try:
        names = registry.names()
    except OSError as exc:
        names = []
        problems.append(f"{store}: {exc}")
    for name in names:
        try:
            record = registry.record(name)
            if record is None:
                continue
            versions = []
            for number in registry.versions(name):
                artifact = registry.artifact(name, number)
                window = artifact.training_window
                versions.append(
                    {
                        "version": artifact.version,
                        "model_type": artifact.model_type,
                        "created_at": artifact.created_at.isoformat(),
                        "metrics": dict(artifact.metrics),
                        "features": list(artifact.features),
                        "training_window": window.as_dict(),
                    }
                )
        except (ModelStoreError, OSError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        models.append({"record": record.as_dict(), "versions": versions})
    in_use, usage = model_usage(decisions)
    return {
        "store": str(store),
        "models": models,
        "problems": problems,
        "usage": {"in_use": in_use, "text": usage},
    }


def _version(data: Mapping[str, object]) -> ModelVersion:
    window = data.get("training_window")
    window = window if isinstance(window, Mapping) else {}
    metrics = data.get("metrics")
    samples = window.get("samples")
    number = data.get("version")
    return ModelVersion(
        version=number if isinstance(number, int) else 0,
        model_type=str(data.get("model_type", "")),
        created_at=parse_time(data.get("created_at")),
        metrics={
            str(k): float(v)
            for k, v in (metrics.items() if isinstance(metrics, Mapping) else ())
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        features=_strings(data.get("features")),
        training_samples=samples if isinstance(samples, int) else 0,
        training_start=parse_time(window.get("start")),
        training_end=parse_time(window.get("end")),
    )


def models_from_dict(data: Mapping[str, object]) -> ModelsView:
    """The registry view from :func:`read_models`' data (directly, or from the API)."""
    usage = data.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    models = []
    problems = list(_strings(data.get("problems")))
    for entry in _mappings(data.get("models")):
        record = entry.get("record")
        try:
            parsed = ModelRecord.from_dict(record if isinstance(record, Mapping) else {})
        except ValueError as exc:
            problems.append(str(exc))
            continue
        models.append(
            ModelView(parsed, tuple(_version(v) for v in _mappings(entry.get("versions"))))
        )
    return ModelsView(
        store=str(data.get("store", "")),
        models=tuple(models),
        in_use=usage.get("in_use") is True,
        usage=str(usage.get("text", "")),
        problems=tuple(problems),
    )


# --------------------------------------------------------------------------- intent store


def read_revision_log(path: Path, *, limit: int = 50) -> dict[str, object] | None:
    """The intent store's revisions, quarantine and polls as plain data (blocking: run it in
    a thread); ``None`` when there is no store at ``path``.

    Raises:
        ConfigFileError: the file is not an intent store.
    """
    if not path.is_file():
        return None
    store = IntentStore(path, read_only=True)
    try:
        return {
            "store": str(path),
            "revisions": [r.as_dict() for r in store.revisions(limit=limit)],
            "quarantined": store.quarantined(),
            "polls": store.polls(),
        }
    finally:
        store.close()


def read_intent_history(
    path: Path, name: str, *, limit: int = 50
) -> list[dict[str, object]] | None:
    """The revisions that touched ``name`` (``IntentStore.intent_history``), or ``None``
    without a store (blocking: run it in a thread).

    Raises:
        ConfigFileError: the file is not an intent store.
    """
    if not path.is_file():
        return None
    store = IntentStore(path, read_only=True)
    try:
        return store.intent_history(name, limit=limit)
    finally:
        store.close()


def _admitted_text(store_path: Path, file: str) -> str | None:
    """The text of ``file`` in the active revision the store holds, if it holds one."""
    try:
        store = IntentStore(store_path, read_only=True)
    except ConfigFileError as exc:
        log.warning("intent store unreadable, reading the file instead: %s", exc)
        return None
    try:
        admitted = store.admitted(limit=1)
    finally:
        store.close()
    for source in admitted[0].files or () if admitted else ():
        if source.file == file:
            text = source.text
            return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return None


def read_intent_source(intent: Intent | None, name: str, store: Path | None) -> IntentSource:
    """The YAML an intent came from (blocking: run it in a thread).

    With an intent store, the file as the active revision admitted it (a Git source has
    no file on disk, and a directory may already hold a newer, refused edit); without one,
    the file on disk.

    Raises:
        ConfigFileError: the intent is unknown, or its file cannot be read.
    """
    if intent is None or intent.location is None:
        raise ConfigFileError(name, "no such intent, or it was not loaded from a file")
    location = intent.location
    text = _admitted_text(store, location.file) if store is not None and store.is_file() else None
    if text is None:
        try:
            text = Path(location.file).read_text(encoding="utf-8")
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


def _conflict(data: Mapping[str, object]) -> ConflictView:
    solutions = _strings(data.get("recommendedSolutions"))
    return ConflictView(
        kind=str(data.get("conflictType", "")),
        intents=_strings(data.get("conflictingIntents")),
        description=str(data.get("description", "")),
        winner=str(data.get("winner") or ""),
        resolution="; ".join(solutions),
    )


def _diff_lines(diff: object) -> tuple[str, ...]:
    if not isinstance(diff, Mapping):
        return ()
    lines = [f"+ {name}" for name in _strings(diff.get("added"))]
    lines += [f"- {name}" for name in _strings(diff.get("removed"))]
    for change in _mappings(diff.get("changed")):
        lines.append(f"~ {change.get('name', '?')}")
        lines += [f"    {_field_change(c)}" for c in _mappings(change.get("changes"))]
    return tuple(lines)


def _field_change(data: Mapping[str, object]) -> str:
    """``spec.priority: 50 -> 100`` (as intents.diff.FieldChange describes itself)."""

    def show(value: object) -> str:
        if value is None:
            return "-"
        return repr(value) if isinstance(value, str) else str(value)

    return f"{data.get('path', '?')}: {show(data.get('old'))} -> {show(data.get('new'))}"


def _error_line(value: object) -> str:
    if isinstance(value, Mapping):
        return str(value.get("message") or value)
    return str(value)


def revisions_from_dict(data: Mapping[str, object]) -> RevisionsView:
    """The revisions view from :func:`read_revision_log`'s data."""
    steps = []
    for record in _mappings(data.get("revisions")):
        info = record.get("revision")
        info = info if isinstance(info, Mapping) else {}
        notes = record.get("notes")
        seq = record.get("seq")
        steps.append(
            RevisionStep(
                seq=seq if isinstance(seq, int) else 0,
                revision=str(info.get("id", "")),
                source=str(info.get("source", "")),
                author=str(info.get("author", "") or ""),
                message=str(info.get("message", "") or ""),
                at=parse_time(record.get("at")),
                outcome=str(record.get("outcome", "")),
                reason=str(record.get("reason", "")),
                active=str(record.get("active") or ""),
                changes=_diff_lines(record.get("diff")),
                errors=tuple(_error_line(e) for e in _list(record.get("errors"))),
                warnings=tuple(_error_line(w) for w in _list(record.get("warnings"))),
                conflicts=tuple(_conflict(c) for c in _mappings(record.get("conflicts"))),
                notes={str(k): _strings(v) for k, v in notes.items()}
                if isinstance(notes, Mapping)
                else {},
            )
        )
    polls = _mappings(data.get("polls"))
    last = max(polls, key=lambda p: str(p.get("at", "")), default=None)
    quarantined = data.get("quarantined")
    return RevisionsView(
        store=str(data.get("store", "")),
        source=str(last.get("source", "")) if last else (steps[0].source if steps else ""),
        last_poll=parse_time(last.get("at")) if last else None,
        poll_error=str(last.get("error") or "") if last else "",
        steps=tuple(steps),
        quarantined={str(k): str(v) for k, v in quarantined.items()}
        if isinstance(quarantined, Mapping)
        else {},
    )


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def intent_history_from_dicts(entries: Sequence[object]) -> tuple[IntentRevision, ...]:
    """An intent's history from ``IntentStore.intent_history``'s entries."""
    history = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        info = entry.get("revision")
        info = info if isinstance(info, Mapping) else {}
        history.append(
            IntentRevision(
                revision=str(info.get("id", "")),
                author=str(info.get("author", "") or ""),
                message=str(info.get("message", "") or ""),
                at=parse_time(entry.get("at")),
                outcome=str(entry.get("outcome", "")),
                change=str(entry.get("change", "")),
                fields=tuple(
                    _field_change(f) if isinstance(f, Mapping) else str(f)
                    for f in _list(entry.get("fields"))
                ),
                generation=str(entry.get("generation") or ""),
            )
        )
    return tuple(history)


# --------------------------------------------------------------------------- in-process


class _Operations:
    """Actions run as their own tasks: the console giving up on one (a cancelled worker)
    does not cut a transaction short, and :meth:`drain` waits for every one."""

    def __init__(self) -> None:
        self._operations: set[asyncio.Task[Any]] = set()

    async def _track(self, operation: Coroutine[Any, Any, _T]) -> _T:
        task = asyncio.ensure_future(operation)
        self._operations.add(task)
        task.add_done_callback(self._operations.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait until every action started through the facade has ended."""
        while self._operations:
            await asyncio.gather(*list(self._operations), return_exceptions=True)


def _default_intent_store(controller: Controller) -> Path | None:
    if controller.journal.path == ":memory:":
        return None
    return default_store_path(Path(controller.journal.path))


class InProcessFacade(_Operations):
    """The facade over a controller running in this process (``netpilot demo``).

    Reads of the journal run in a worker thread on their own read-only SQLite connection
    (WAL lets them run beside the controller's writes), so the console's event loop never
    waits on the disk. A rollback runs on the controller's event loop, like the loop's own
    transactions.

    While an operator rollback runs, its devices count as busy for the loop (it holds back
    its own changes there, one transaction per device), and a rollback that confirmed
    quarantines the undone change for its intent: the loop does not push the change the
    operator just took back, until an operator releases it (the quarantine is journaled:
    it outlives a restart).

    Args:
        controller: the running controller.
        intent_store: the intent store (default: next to the journal, used if it exists;
            ``netpilot demo`` has none).
        model_store: the model registry's directory (default ``.netpilot/models``).
    """

    def __init__(
        self,
        controller: Controller,
        *,
        intent_store: Path | None = None,
        model_store: Path | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.intent_store = (
            intent_store if intent_store is not None else _default_intent_store(controller)
        )
        self.model_store = model_store if model_store is not None else DEFAULT_STORE

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
        return await asyncio.to_thread(read_intent_source, intent, name, self.intent_store)

    async def approvals(self) -> tuple[ApprovalView, ...]:
        approvals = sorted(
            self.controller.approvals.values(), key=lambda a: a.requested_at, reverse=True
        )
        return tuple(approval_view(a) for a in approvals)

    async def models(self) -> ModelsView:
        decisions = tuple(self.controller.last_decisions.values())
        data = await asyncio.to_thread(read_models, self.model_store, decisions)
        return models_from_dict(data)

    async def revisions(self) -> RevisionsView | None:
        if self.intent_store is None:
            return None
        data = await asyncio.to_thread(read_revision_log, self.intent_store)
        return None if data is None else revisions_from_dict(data)

    async def intent_history(self, name: str) -> tuple[IntentRevision, ...] | None:
        if self.intent_store is None:
            return None
        entries = await asyncio.to_thread(read_intent_history, self.intent_store, name)
        return None if entries is None else intent_history_from_dicts(entries)

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

    async def approve(self, approval_id: str, reason: str = "") -> ApprovalView:
        approval = self.controller.decide_approval(approval_id, approve=True, reason=reason.strip())
        log.info("operator approved %s: %s", approval_id, reason or "no reason given")
        return approval_view(approval)

    async def reject(self, approval_id: str, reason: str) -> ApprovalView:
        reason = _require_reason(approval_id, reason)
        approval = self.controller.decide_approval(approval_id, approve=False, reason=reason)
        log.info("operator rejected %s: %s", approval_id, reason)
        return approval_view(approval)

    async def release(self, change_id: str, reason: str) -> tuple[str, tuple[str, ...]]:
        reason = _require_reason(change_id, reason, what="a release")
        change, intents = self.controller.release_quarantine(change_id, reason=reason)
        return change, tuple(intents)


# --------------------------------------------------------------------------- remote


def _path(*segments: str) -> str:
    return "/v1/" + "/".join(quote(s, safe="") for s in segments)


class RemoteFacade(_Operations):
    """The facade over a running daemon's local API (``netpilot tui --connect``).

    Queries and actions are API calls; :meth:`run` is the console's runner: it polls the
    daemon's event feed and hands every tick and change to the console's observer, as the
    in-process observer would. Quitting the console stops the polling, never the daemon.

    Args:
        client: the API client (address and token).
        interval: how often the event feed is polled.
        action_timeout: seconds a rollback or an approval may take (a rollback verifies
            before it confirms).
    """

    def __init__(
        self,
        client: ApiClient,
        *,
        interval: timedelta = timedelta(seconds=1),
        action_timeout: float = 300.0,
    ) -> None:
        super().__init__()
        self.client = client
        self.interval = interval
        self.action_timeout = action_timeout

    @property
    def address(self) -> str:
        """The daemon's API address."""
        return self.client.address

    # ---------------------------------------------------------------- reading

    async def snapshot(self) -> ControllerSnapshot:
        return snapshot_from_dict(await self.client.call("GET", _path("snapshot")))

    async def changes(self, *, limit: int = 100) -> tuple[ChangeView, ...]:
        data = await self.client.call("GET", f"{_path('changes')}?limit={limit}")
        return _views([change_record_from_dict(c) for c in _mappings(data.get("changes"))])

    async def change(self, txn: str) -> ChangeDetail | None:
        try:
            data = await self.client.call("GET", _path("changes", txn))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        record = data.get("change")
        if not isinstance(record, Mapping):
            return None
        return ChangeDetail(
            change=change_view(
                change_record_from_dict(record),
                rolled_back_by=str(data.get("rolled_back_by") or ""),
            ),
            timeline=tuple(_step(_event_record(e)) for e in _mappings(data.get("timeline"))),
        )

    async def intent_source(self, name: str) -> IntentSource:
        try:
            data = await self.client.call("GET", _path("intents", name, "source"))
        except ApiError as exc:
            raise ConfigFileError(name, str(exc)) from exc
        first, last = data.get("first_line"), data.get("last_line")
        return IntentSource(
            name=str(data.get("name", name)),
            generation=str(data.get("generation", "")),
            file=str(data.get("file", "")),
            text=str(data.get("text", "")),
            first_line=first if isinstance(first, int) else 1,
            last_line=last if isinstance(last, int) else 1,
        )

    async def approvals(self) -> tuple[ApprovalView, ...]:
        data = await self.client.call("GET", _path("approvals"))
        return tuple(approval_from_dict(a) for a in _mappings(data.get("approvals")))

    async def models(self) -> ModelsView:
        return models_from_dict(await self.client.call("GET", _path("models")))

    async def revisions(self) -> RevisionsView | None:
        data = await self.client.call("GET", _path("revisions", "history"))
        log_data = data.get("log")
        return revisions_from_dict(log_data) if isinstance(log_data, Mapping) else None

    async def intent_history(self, name: str) -> tuple[IntentRevision, ...] | None:
        data = await self.client.call("GET", _path("intents", name, "history"))
        history = data.get("history")
        return intent_history_from_dicts(history) if isinstance(history, list) else None

    # ---------------------------------------------------------------- acting

    async def _action(self, body: dict[str, object], *route: str) -> dict[str, Any]:
        """POST an operator's action to the daemon (tracked, so the console's quit waits
        for it; bounded by the action timeout); its answer."""
        return await self._track(
            self.client.call("POST", _path(*route), body, time_limit=self.action_timeout)
        )

    async def rollback(self, txn: str, *, force: bool = False) -> ChangeResult:
        data = await self._action({"force": force}, "changes", txn, "rollback")
        result = data.get("rollback")
        if not isinstance(result, Mapping):
            raise ApiError(200, f"the daemon sent no rollback result: {data}")
        return decode_result(result)

    async def approve(self, approval_id: str, reason: str = "") -> ApprovalView:
        return await self._decide(approval_id, "approve", reason.strip())

    async def reject(self, approval_id: str, reason: str) -> ApprovalView:
        return await self._decide(approval_id, "reject", _require_reason(approval_id, reason))

    async def release(self, change_id: str, reason: str) -> tuple[str, tuple[str, ...]]:
        reason = _require_reason(change_id, reason, what="a release")
        data = await self._action({"reason": reason}, "changes", change_id, "release")
        released = data.get("released")
        intents = released.get("intents") if isinstance(released, Mapping) else None
        if not isinstance(released, Mapping) or not isinstance(intents, list):
            raise ApiError(200, f"the daemon sent no release: {data}")
        return str(released.get("change", change_id)), tuple(str(i) for i in intents)

    async def _decide(self, approval_id: str, verb: str, reason: str) -> ApprovalView:
        data = await self._action({"reason": reason}, "approvals", approval_id, verb)
        approval = data.get("approval")
        if not isinstance(approval, Mapping):
            raise ApiError(200, f"the daemon sent no approval: {data}")
        return approval_from_dict(approval)

    # ---------------------------------------------------------------- events

    async def run(self, observer: ConsoleEvents, stop: asyncio.Event) -> dict[str, object]:
        """Poll the daemon's event feed until ``stop``; returns what was seen.

        A daemon that cannot be reached (or refuses the token) is reported through
        ``observer.connection_changed`` and polled again; a daemon that restarted (a new
        event stream) is followed from its first kept event.
        """
        stream, after = "", 0
        delivered, skipped = 0, 0
        problem = ""
        while not stop.is_set():
            try:
                data = await self.client.call("GET", f"{_path('events')}?after={after}")
            except NetpilotError as exc:
                if str(exc) != problem:
                    problem = str(exc)
                    log.warning("the daemon's event feed: %s", problem)
                    observer.connection_changed(problem)
                await _wait(stop, self.interval)
                continue
            if problem:
                problem = ""
                observer.connection_changed("")
            current = str(data.get("stream", ""))
            if stream and current != stream:
                log.info("the daemon restarted (event stream %s): following it anew", current)
                stream, after = current, 0
                continue
            stream = current
            if data.get("missed"):
                log.warning("the console fell behind the daemon's event feed; some were missed")
            for event in _mappings(data.get("events")):
                try:
                    self._deliver(observer, event)
                    delivered += 1
                except (KeyError, TypeError, ValueError) as exc:
                    skipped += 1
                    log.warning("cannot read event %s: %r", event.get("seq"), exc)
            latest = data.get("latest")
            after = latest if isinstance(latest, int) else after
            if data.get("more"):
                continue
            await _wait(stop, self.interval)
        return {"connected": self.address, "events": delivered, "unreadable_events": skipped}

    @staticmethod
    def _deliver(observer: ConsoleEvents, event: Mapping[str, object]) -> None:
        kind = event.get("kind")
        if kind == "tick":
            report = event.get("report")
            if isinstance(report, Mapping):
                observer.tick_finished(decode_tick(report))
        elif kind == "change-started":
            decision = event.get("decision")
            if isinstance(decision, Mapping):
                observer.change_started(decode_decision(decision), str(event.get("txn", "")))
        elif kind == "change-finished":
            result = event.get("result")
            if isinstance(result, Mapping):
                observer.change_finished(decode_result(result))


async def _wait(stop: asyncio.Event, interval: timedelta) -> None:
    """Until ``stop`` is set or ``interval`` has passed."""
    try:
        await asyncio.wait_for(stop.wait(), interval.total_seconds())
    except TimeoutError:
        return
