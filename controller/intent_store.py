"""The intent store: every revision of the intent source, and each intent's status over time.

SQLite (WAL), one writer (the controller, or ``netpilot intents apply``), many readers
(``netpilot intents get|describe``, which open it read-only and never change the file).

Tables:

- ``revisions``: one row per admission step that changed something: a revision admitted,
  refused (once per revision id), or quarantined. Each row has the revision's source (Git
  commit or directory checksum, author, commit time, message), the outcome and why, the
  semantic diff to the revision that was active before, errors, warnings, conflicts, which
  revision introduced each intent, and for an admitted revision its files (so the last good
  revision can be restored after a restart even when Git is unreachable).
- ``quarantine``: revision ids that are not to be applied again, and why.
- ``statuses``: an intent's status each time it changed (fulfilment status, state, the
  targets' met flags), with the revision it ran from.
- ``latest_status``: each intent's latest evaluation (every tick, one row per intent,
  overwritten): the observed values now, which ``statuses`` keeps only when a status changed.
- ``polls``: the last attempt to read each source, and its error if it failed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from controller.errors import ConfigFileError
from controller.model import ChangeResult, Decision, IntentStatus
from intents.conflicts import PathDevices
from intents.inventory import Inventory
from intents.load import IntentSource, summarize_intent
from intents.revisions import (
    HISTORY_LIMIT,
    ActiveRevision,
    Admission,
    GitOpsState,
    Outcome,
    RevisionInfo,
    SourceKind,
    evaluate,
)
from intents.support import CURRENT_SUPPORT, Support

if TYPE_CHECKING:
    from controller.loop import TickReport

__all__ = [
    "IntentStore",
    "RevisionRecord",
    "StatusRecord",
    "StatusRecorder",
    "default_store_path",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    revision TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    committed_at TEXT,
    message TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    active TEXT NOT NULL DEFAULT '',
    diff TEXT NOT NULL DEFAULT '{}',
    errors TEXT NOT NULL DEFAULT '[]',
    warnings TEXT NOT NULL DEFAULT '[]',
    conflicts TEXT NOT NULL DEFAULT '[]',
    intents TEXT NOT NULL DEFAULT '[]',
    introduced TEXT NOT NULL DEFAULT '{}',
    notes TEXT NOT NULL DEFAULT '{}',
    files TEXT
);
CREATE INDEX IF NOT EXISTS revisions_revision ON revisions (revision);
CREATE TABLE IF NOT EXISTS quarantine (
    revision TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS statuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    intent TEXT NOT NULL,
    at TEXT NOT NULL,
    revision TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    state TEXT,
    reasons TEXT NOT NULL DEFAULT '[]',
    targets TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS statuses_intent ON statuses (intent, seq);
CREATE TABLE IF NOT EXISTS latest_status (
    intent TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    revision TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    state TEXT,
    reasons TEXT NOT NULL DEFAULT '[]',
    targets TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS polls (
    source TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
"""

_REVISION_SELECT = (
    "SELECT seq, revision, kind, source, author, committed_at, message, at, outcome, reason, "
    "active, diff, errors, warnings, conflicts, intents, introduced, notes, files FROM revisions"
)


def default_store_path(journal_path: Path) -> Path:
    """Where the intent store lives by default: next to the journal."""
    return journal_path.with_name("intents.sqlite")


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    """One stored admission step."""

    seq: int
    info: RevisionInfo
    at: str
    outcome: Outcome
    reason: str
    active: str  # the revision active after this step ("" when none)
    diff: Mapping[str, object]
    errors: Sequence[object]
    warnings: Sequence[object]
    conflicts: Sequence[object]
    intents: Sequence[object]
    introduced: Mapping[str, str]
    notes: Mapping[str, Sequence[str]]
    files: tuple[IntentSource, ...] | None

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "revision": self.info.as_dict(),
            "at": self.at,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "active": self.active or None,
            "diff": dict(self.diff),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "conflicts": list(self.conflicts),
            "intents": list(self.intents),
            "notes": {k: list(v) for k, v in self.notes.items()},
        }


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """An intent's status as it was from ``at`` on."""

    intent: str
    at: str
    revision: str
    status: str
    state: str | None
    reasons: Sequence[str]
    targets: Sequence[Mapping[str, object]]

    def as_dict(self) -> dict[str, object]:
        return {
            "intent": self.intent,
            "at": self.at,
            "revision": self.revision or None,
            "status": self.status,
            "state": self.state,
            "reasons": list(self.reasons),
            "targets": [dict(t) for t in self.targets],
        }


class IntentStore:
    """The SQLite intent store.

    Args:
        path: the database file (created with its tables unless ``read_only``).
        read_only: open with SQLite ``mode=ro``: no table is created, nothing is written.

    Raises:
        ConfigFileError: the file cannot be opened (or, read-only, is not a store).
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        try:
            if read_only:
                self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
                self._db.execute("SELECT 1 FROM revisions LIMIT 1")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigFileError(str(path), f"not a usable intent store: {exc}") from exc
        # last recorded (status, state, met flags) per intent: a status is written on change
        self._last_status: dict[str, tuple[object, ...]] = {}

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # ---------------------------------------------------------------- revisions

    def record_admission(self, admission: Admission) -> bool:
        """Record an admission step; returns whether a row was written.

        Unchanged and skipped steps are not recorded (they happen every poll), nor is a
        refusal of a revision whose last record is already that refusal.
        """
        if admission.outcome in (Outcome.UNCHANGED, Outcome.SKIPPED):
            return False
        info = admission.revision
        if admission.outcome is Outcome.REFUSED:
            last = self._db.execute(
                "SELECT outcome FROM revisions WHERE revision = ? ORDER BY seq DESC LIMIT 1",
                (info.id,),
            ).fetchone()
            if last is not None and last[0] == Outcome.REFUSED.value:
                return False
        evaluation = admission.evaluation
        active = admission.active
        admitted = admission.outcome is Outcome.ADMITTED and active is not None
        # the intents in force after the step (a quarantine's are its fall-back's)
        summarized = evaluation.intents or (
            active.intents if active and admission.outcome is Outcome.QUARANTINED else ()
        )
        files = (
            json.dumps([{"file": f.file, "text": _text(f.text)} for f in active.files])
            if admitted and active is not None
            else None
        )
        with self._db:
            self._db.execute(
                "INSERT INTO revisions (revision, kind, source, author, committed_at, message, "
                "at, outcome, reason, active, diff, errors, warnings, conflicts, intents, "
                "introduced, notes, files) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.id,
                    info.kind.value,
                    info.source,
                    info.author,
                    info.committed_at.isoformat() if info.committed_at else None,
                    info.message,
                    admission.at.isoformat(),
                    admission.outcome.value,
                    admission.reason,
                    active.info.id if active else "",
                    json.dumps(admission.diff.as_dict(), default=str),
                    json.dumps([e.as_dict() for e in evaluation.errors], default=str),
                    json.dumps([w.as_dict() for w in evaluation.warnings], default=str),
                    json.dumps([c.as_dict() for c in evaluation.conflicts], default=str),
                    json.dumps([summarize_intent(i) for i in summarized]),
                    json.dumps(dict(active.introduced) if admitted and active else {}),
                    json.dumps({k: list(v) for k, v in evaluation.notes.items()}),
                    files,
                ),
            )
            if admission.outcome is Outcome.QUARANTINED:
                self._db.execute(
                    "INSERT OR REPLACE INTO quarantine (revision, at, reason) VALUES (?, ?, ?)",
                    (info.id, admission.at.isoformat(), admission.reason),
                )
        return True

    def revisions(self, *, limit: int = 50) -> list[RevisionRecord]:
        """Recorded steps, newest first."""
        rows = self._db.execute(f"{_REVISION_SELECT} ORDER BY seq DESC LIMIT ?", (limit,))
        return [_revision(row) for row in rows]

    def revision(self, revision_id: str) -> RevisionRecord | None:
        """The latest record of a revision (by full id or a unique prefix)."""
        row = self._db.execute(
            f"{_REVISION_SELECT} WHERE revision = ? OR revision LIKE ? ORDER BY seq DESC LIMIT 1",
            (revision_id, f"{revision_id}%"),
        ).fetchone()
        return _revision(row) if row else None

    def intent_history(self, intent: str, *, limit: int = 50) -> list[dict[str, object]]:
        """The revisions that added, changed or removed ``intent``, newest first.

        Each entry: the revision (id, source, author, commit time), when and how it was
        handled (admitted, quarantined: the fall-back), what it did to the intent (``added``,
        ``changed`` with the field changes, ``removed``) and the intent's generation after it.
        """
        history: list[dict[str, object]] = []
        rows = self._db.execute(
            f"{_REVISION_SELECT} WHERE outcome IN (?, ?) ORDER BY seq DESC",
            (Outcome.ADMITTED.value, Outcome.QUARANTINED.value),
        )
        for row in rows:
            record = _revision(row)
            change = _intent_change(record.diff, intent)
            if change is None:
                continue
            kind, fields = change
            generation = next(
                (
                    str(summary.get("generation"))
                    for summary in record.intents
                    if isinstance(summary, dict) and summary.get("name") == intent
                ),
                None,
            )
            history.append(
                {
                    "revision": record.info.as_dict(),
                    "at": record.at,
                    "outcome": record.outcome.value,
                    "active": record.active or None,
                    "change": kind,
                    "fields": fields,
                    "generation": generation,
                }
            )
            if len(history) >= limit:
                break
        return history

    def quarantined(self) -> dict[str, str]:
        """Quarantined revision ids and why."""
        return dict(self._db.execute("SELECT revision, reason FROM quarantine ORDER BY at"))

    def admitted(self, *, limit: int = HISTORY_LIMIT + 1) -> list[RevisionRecord]:
        """Admitted, not quarantined revisions, newest first, one record per revision id.

        The first is the active revision.
        """
        quarantined = self.quarantined()
        seen: set[str] = set()
        records: list[RevisionRecord] = []
        rows = self._db.execute(
            f"{_REVISION_SELECT} WHERE outcome = ? AND files IS NOT NULL ORDER BY seq DESC",
            (Outcome.ADMITTED.value,),
        )
        for row in rows:
            record = _revision(row)
            if record.info.id in quarantined or record.info.id in seen:
                continue
            seen.add(record.info.id)
            records.append(record)
            if len(records) >= limit:
                break
        return records

    def last_refusal(self) -> RevisionRecord | None:
        """The latest refused revision, if none was admitted after it."""
        row = self._db.execute(f"{_REVISION_SELECT} ORDER BY seq DESC LIMIT 1").fetchone()
        while row is not None:
            record = _revision(row)
            if record.outcome is Outcome.REFUSED:
                return record
            if record.outcome is Outcome.ADMITTED:
                return None
            row = self._db.execute(
                f"{_REVISION_SELECT} WHERE seq < ? ORDER BY seq DESC LIMIT 1", (record.seq,)
            ).fetchone()
        return None

    def restore(
        self,
        *,
        inventory: Inventory | None,
        support: Support = CURRENT_SUPPORT,
        path_devices: PathDevices | None = None,
    ) -> tuple[GitOpsState, list[str]]:
        """Rebuild the revision state from the store (after a restart).

        Each stored good revision is evaluated again against today's inventory; one that
        no longer loads is skipped (and said so in the returned problems).

        Returns:
            The state, and problems met (one line each).
        """
        problems: list[str] = []
        actives: list[ActiveRevision] = []
        for record in self.admitted():
            assert record.files is not None
            evaluation = evaluate(
                record.files, inventory=inventory, support=support, path_devices=path_devices
            )
            if not evaluation.ok:
                problems.append(
                    f"stored revision {record.info.short} no longer loads: "
                    + "; ".join(str(e) for e in evaluation.errors[:3])
                )
                continue
            actives.append(
                ActiveRevision(
                    record.info,
                    record.files,
                    evaluation,
                    dict(record.introduced),
                    datetime.fromisoformat(record.at),
                )
            )
        state = GitOpsState(
            active=actives[0] if actives else None,
            history=tuple(actives[1:]),
            quarantined=self.quarantined(),
        )
        return state, problems

    # ---------------------------------------------------------------- source polls

    def record_poll(self, source: str, *, at: datetime, error: str = "") -> None:
        """Remember the last attempt to read a source, and its error if it failed."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO polls (source, at, ok, message) VALUES (?, ?, ?, ?)",
                (source, at.isoformat(), 0 if error else 1, error),
            )

    def polls(self) -> list[dict[str, object]]:
        """The last poll of every source."""
        rows = self._db.execute("SELECT source, at, ok, message FROM polls ORDER BY source")
        return [
            {"source": s, "at": at, "ok": bool(ok), "error": message or None}
            for s, at, ok, message in rows
        ]

    # ---------------------------------------------------------------- statuses

    def record_status(self, status: IntentStatus, *, revision: str = "") -> bool:
        """Record an intent's status if it changed (status, state or a target's met flag).

        Returns:
            Whether a row was written.
        """
        comparable = (
            status.status.value,
            status.state.value if status.state else None,
            tuple(t.met for t in status.targets),
        )
        if status.name not in self._last_status:
            last = self.status_history(status.name, limit=1)
            if last:
                record = last[0]
                self._last_status[status.name] = (
                    record.status,
                    record.state,
                    tuple(t.get("met") for t in record.targets),
                )
        previous = self._last_status.get(status.name)
        if previous == comparable:
            return False
        at = status.evaluated_at.isoformat() if status.evaluated_at else ""
        with self._db:
            self._db.execute(
                "INSERT INTO statuses (intent, at, revision, status, state, reasons, targets) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    status.name,
                    at,
                    revision,
                    status.status.value,
                    status.state.value if status.state else None,
                    json.dumps(list(status.reasons)),
                    json.dumps([t.as_dict() for t in status.targets], default=str),
                ),
            )
        self._last_status[status.name] = comparable
        return True

    def record_latest(self, statuses: Sequence[IntentStatus], *, revision: str = "") -> None:
        """Overwrite each intent's latest evaluation (one transaction for a tick's statuses)."""
        if not statuses:
            return
        rows = [
            (
                status.name,
                status.evaluated_at.isoformat() if status.evaluated_at else "",
                revision,
                status.status.value,
                status.state.value if status.state else None,
                json.dumps(list(status.reasons)),
                json.dumps([t.as_dict() for t in status.targets], default=str),
            )
            for status in statuses
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO latest_status "
                "(intent, at, revision, status, state, reasons, targets) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def latest_status(self, intent: str) -> StatusRecord | None:
        """An intent's latest evaluation, or its latest recorded status change.

        The latest evaluation is written every tick by a running controller; a store written
        by an older version has only the status changes.
        """
        try:
            row = self._db.execute(
                "SELECT intent, at, revision, status, state, reasons, targets FROM latest_status "
                "WHERE intent = ?",
                (intent,),
            ).fetchone()
        except sqlite3.OperationalError:  # a read-only store of an older version
            row = None
        if row is not None:
            return _status(row)
        history = self.status_history(intent, limit=1)
        return history[0] if history else None

    def status_history(self, intent: str, *, limit: int = 50) -> list[StatusRecord]:
        """An intent's status changes, newest first."""
        rows = self._db.execute(
            "SELECT intent, at, revision, status, state, reasons, targets FROM statuses "
            "WHERE intent = ? ORDER BY seq DESC LIMIT ?",
            (intent, limit),
        )
        return [_status(row) for row in rows]

    def latest_statuses(self) -> dict[str, StatusRecord]:
        """The latest status of every intent ever recorded (its latest evaluation if any)."""
        rows = self._db.execute(
            "SELECT intent, at, revision, status, state, reasons, targets FROM statuses "
            "WHERE seq IN (SELECT MAX(seq) FROM statuses GROUP BY intent)"
        )
        latest = {row[0]: _status(row) for row in rows}
        try:
            evaluated = self._db.execute(
                "SELECT intent, at, revision, status, state, reasons, targets FROM latest_status"
            ).fetchall()
        except sqlite3.OperationalError:  # a read-only store of an older version
            evaluated = []
        latest.update({row[0]: _status(row) for row in evaluated})
        return latest


def _intent_change(diff: Mapping[str, object], intent: str) -> tuple[str, list[object]] | None:
    """What a stored diff did to one intent: ("added"|"removed"|"changed", fields)."""
    added, removed, changed = diff.get("added"), diff.get("removed"), diff.get("changed")
    if isinstance(added, list) and intent in added:
        return "added", []
    if isinstance(removed, list) and intent in removed:
        return "removed", []
    for entry in changed if isinstance(changed, list) else []:
        if isinstance(entry, dict) and entry.get("name") == intent:
            fields = entry.get("changes")
            return "changed", list(fields) if isinstance(fields, list) else []
    return None


def _text(text: str | bytes) -> str:
    # admitted files loaded, so they are valid UTF-8
    return text.decode("utf-8") if isinstance(text, bytes) else text


def _revision(row: tuple[object, ...]) -> RevisionRecord:
    (
        seq,
        revision,
        kind,
        source,
        author,
        committed_at,
        message,
        at,
        outcome,
        reason,
        active,
        diff,
        errors,
        warnings,
        conflicts,
        intents,
        introduced,
        notes,
        files,
    ) = row
    info = RevisionInfo(
        id=str(revision),
        kind=SourceKind(str(kind)),
        source=str(source),
        author=str(author),
        committed_at=datetime.fromisoformat(str(committed_at)) if committed_at else None,
        message=str(message),
    )
    stored = (
        tuple(IntentSource(str(f["file"]), str(f["text"])) for f in json.loads(str(files)))
        if files is not None
        else None
    )
    return RevisionRecord(
        seq=int(str(seq)),
        info=info,
        at=str(at),
        outcome=Outcome(str(outcome)),
        reason=str(reason),
        active=str(active),
        diff=json.loads(str(diff)),
        errors=json.loads(str(errors)),
        warnings=json.loads(str(warnings)),
        conflicts=json.loads(str(conflicts)),
        intents=json.loads(str(intents)),
        introduced=json.loads(str(introduced)),
        notes=json.loads(str(notes)),
        files=stored,
    )


def _status(row: tuple[object, ...]) -> StatusRecord:
    intent, at, revision, status, state, reasons, targets = row
    return StatusRecord(
        intent=str(intent),
        at=str(at),
        revision=str(revision),
        status=str(status),
        state=str(state) if state is not None else None,
        reasons=json.loads(str(reasons)),
        targets=json.loads(str(targets)),
    )


class StatusRecorder:
    """A controller observer that writes each intent's status changes to the store.

    Args:
        store: the intent store.
        revision: returns the id of the revision the controller runs from now.
    """

    def __init__(self, store: IntentStore, revision: Callable[[], str]) -> None:
        self.store = store
        self.revision = revision

    def tick_finished(self, report: TickReport) -> None:
        """Record the statuses of the tick (changes in the history, and each latest)."""
        for status in report.statuses:
            self.store.record_status(status, revision=self.revision())
        self.store.record_latest(report.statuses, revision=self.revision())

    def change_started(self, decision: Decision, txn: str) -> None:
        """Nothing to record: the journal has it."""

    def change_finished(self, result: ChangeResult) -> None:
        """Nothing to record: the journal has it."""
