"""The journal: an append-only SQLite record of every tick's decisions and every change step.

Each step of a change transaction is written and committed (WAL, ``synchronous=FULL``)
before the next step is taken, so after a crash the journal says how far a change got.
Steps of devices that run concurrently may share one commit (group commit:
:meth:`Journal.stage_event` then :meth:`Journal.flush`, which a worker thread may run): each
device still waits for its step to be on disk before its next step, but 50 devices cost a
handful of fsyncs per step, not 50, and the event loop is not blocked while the disk syncs.

Tables:

- ``changes``: one row per transaction (``txn``): the change set, its explanation, its final
  status and result. A row with ``status = 'pending'`` is a transaction in flight.
- ``events``: the timeline: ``seq``, time, kind (``decision``, ``change-step``,
  ``intent-status``...), the intent/device/transaction it concerns, and a JSON detail.

Readers (``netpilot changes``) open it with ``read_only=True``: an SQLite ``mode=ro``
connection that creates no schema and changes no setting, so pointing the CLI at the wrong
file never alters that file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controller.errors import ConfigFileError
from controller.model import ChangeResult, ChangeStatus, Plan

__all__ = ["ChangeRecord", "EventRecord", "Journal", "undone_changes"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    txn TEXT PRIMARY KEY,
    change_id TEXT NOT NULL,
    intent TEXT NOT NULL,
    device TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    plan TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    intent TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    txn TEXT NOT NULL DEFAULT '',
    step TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_txn ON events (txn);
"""


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """A journaled change transaction."""

    txn: str
    change_id: str
    intent: str
    device: str
    status: ChangeStatus
    started_at: str
    finished_at: str | None
    plan: Mapping[str, object]
    result: Mapping[str, object] | None

    def as_dict(self) -> dict[str, object]:
        return {
            "txn": self.txn,
            "change_id": self.change_id,
            "intent": self.intent,
            "device": self.device,
            "status": self.status.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "plan": dict(self.plan),
            "result": dict(self.result) if self.result else None,
        }


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One journal event."""

    seq: int
    at: str
    kind: str
    intent: str
    device: str
    txn: str
    step: str
    detail: Mapping[str, object]

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "intent": self.intent,
            "device": self.device,
            "txn": self.txn,
            "step": self.step,
            "detail": dict(self.detail),
        }


_CHANGE_SELECT = (
    "SELECT txn, change_id, intent, device, status, started_at, finished_at, plan, result "
    "FROM changes"
)
_EVENT_SELECT = "SELECT seq, at, kind, intent, device, txn, step, detail FROM events"
_Statement = tuple[str, tuple[str | None, ...]]


def _event_row(
    kind: str,
    at: datetime,
    intent: str,
    device: str,
    txn: str,
    step: str,
    detail: Mapping[str, object] | None,
) -> tuple[str, ...]:
    return (at.isoformat(), kind, intent, device, txn, step, json.dumps(detail or {}, default=str))


def undone_changes(records: Iterable[ChangeRecord]) -> dict[str, str]:
    """Which changes a confirmed operator rollback undid: change txn -> rollback txn.

    ``records`` oldest first, so the latest rollback of a change is the one named.
    """
    undone: dict[str, str] = {}
    for record in records:
        explanation = record.plan.get("explanation")
        if record.status is ChangeStatus.CONFIRMED and isinstance(explanation, dict):
            target = explanation.get("rollback_of")
            if isinstance(target, str) and target:
                undone[target] = record.txn
    return undone


class Journal:
    """The SQLite journal. One writer (the controller process); readers may be many.

    Args:
        path: the SQLite file (created with its schema when writable), or ``:memory:``.
        read_only: open an existing journal for reading only (``mode=ro``): nothing is
            created or written, and a file that is not a netpilot journal is refused.

    Raises:
        ConfigFileError: the file cannot be opened, is not SQLite, or (read-only) lacks the
            journal's tables.
    """

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        # one connection, used by the event loop and by a flushing worker thread in turn
        self._lock = threading.Lock()
        self._staged: deque[tuple[str, ...]] = deque()
        try:
            if read_only:
                # as_uri() percent-encodes the path, so '?' or '#' in a name stay part of it
                uri = f"{Path(path).resolve().as_uri()}?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                if self.path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ConfigFileError(self.path, f"cannot open the journal: {exc}") from exc
        try:
            if read_only:
                self._check_schema()
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                # FULL: a step is on disk before the next one is taken (the point of the journal)
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise ConfigFileError(self.path, f"not a netpilot journal: {exc}") from exc

    def _check_schema(self) -> None:
        """Refuse a file without the journal's tables and columns (selects no rows)."""
        self._db.execute(f"{_CHANGE_SELECT} LIMIT 0").fetchall()
        self._db.execute(f"{_EVENT_SELECT} LIMIT 0").fetchall()

    def close(self) -> None:
        with self._lock:
            if not self.read_only:
                self._write(())
            self._db.close()

    # ---------------------------------------------------------------- writing

    def event(
        self,
        kind: str,
        *,
        at: datetime,
        intent: str = "",
        device: str = "",
        txn: str = "",
        step: str = "",
        detail: Mapping[str, object] | None = None,
    ) -> int:
        """Append one event; on disk (with every event staged before it) when this returns.

        Returns:
            Its sequence number.
        """
        row = _event_row(kind, at, intent, device, txn, step, detail)
        with self._lock:
            return self._write((row,))

    def stage_event(
        self,
        kind: str,
        *,
        at: datetime,
        intent: str = "",
        device: str = "",
        txn: str = "",
        step: str = "",
        detail: Mapping[str, object] | None = None,
    ) -> None:
        """Queue one event for the next :meth:`flush` (or :meth:`event`): many steps of
        concurrent devices then share one commit. Never blocks, and may be called while
        another thread runs :meth:`flush`."""
        self._staged.append(_event_row(kind, at, intent, device, txn, step, detail))

    def flush(self) -> None:
        """Write every staged event in one commit (one fsync); a no-op when none is staged.

        Thread-safe: the change transaction runs it in a worker thread, so the event loop
        keeps serving other devices while the disk syncs.
        """
        with self._lock:
            self._write(())

    def _write(self, rows: Iterable[tuple[str, ...]], *statements: _Statement) -> int:
        """Staged events, then ``statements``, then ``rows``, in one commit (lock held).

        Returns:
            The sequence number of the last row (0 when none).
        """
        staged: list[tuple[str, ...]] = []
        while self._staged:
            staged.append(self._staged.popleft())
        rows = list(rows)
        if not staged and not rows and not statements:
            return 0
        insert = (
            "INSERT INTO events (at, kind, intent, device, txn, step, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if staged:
                self._db.executemany(insert, staged)
            for sql, params in statements:
                self._db.execute(sql, params)
            seq = 0
            for row in rows:
                seq = int(self._db.execute(insert, row).lastrowid or 0)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._staged.extendleft(reversed(staged))  # not lost: the next write retries them
            raise
        return seq

    def begin_change(
        self, txn: str, plan: Plan, *, at: datetime, explanation: Mapping[str, object]
    ) -> None:
        """Record a transaction as started (status pending) with its plan (the row and its
        first event in one commit: a pending change always has its plan)."""
        record = {
            "change_id": plan.id,
            "reason": plan.reason,
            "devices": list(plan.devices),
            "edits": [
                {
                    "device": change.device,
                    "op": e.op.value,
                    "path": "/".join(e.path),
                    "old": e.old,
                    "new": e.new,
                }
                for change in plan.changes
                for e in change.edits
            ],
            "explanation": dict(explanation),
        }
        insert = (
            "INSERT INTO changes (txn, change_id, intent, device, status, started_at, plan) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                txn,
                plan.id,
                plan.intent,
                ",".join(plan.devices),
                ChangeStatus.PENDING.value,
                at.isoformat(),
                json.dumps(record, default=str),
            ),
        )
        row = _event_row(
            "change-step", at, plan.intent, ",".join(plan.devices), txn, "planned", record
        )
        with self._lock:
            self._write((row,), insert)

    def finish_change(self, txn: str, result: ChangeResult) -> None:
        """Record a transaction's final status (the row and its event in one commit)."""
        update = (
            "UPDATE changes SET status = ?, finished_at = ?, result = ? WHERE txn = ?",
            (
                result.status.value,
                result.finished.isoformat(),
                json.dumps(result.as_dict(), default=str),
                txn,
            ),
        )
        row = _event_row(
            "change-step",
            result.finished,
            result.intent,
            result.device,
            txn,
            f"finished:{result.status.value}",
            {"detail": result.detail, "error": result.error},
        )
        with self._lock:
            self._write((row,), update)

    # ---------------------------------------------------------------- reading

    @staticmethod
    def _change_record(row: tuple[str, ...]) -> ChangeRecord:
        return ChangeRecord(
            txn=row[0],
            change_id=row[1],
            intent=row[2],
            device=row[3],
            status=ChangeStatus(row[4]),
            started_at=row[5],
            finished_at=row[6],
            plan=json.loads(row[7]),
            result=json.loads(row[8]) if row[8] else None,
        )

    def changes(self, *, limit: int = 100) -> list[ChangeRecord]:
        """The most recent transactions, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"{_CHANGE_SELECT} ORDER BY rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [self._change_record(row) for row in rows]

    def change(self, txn: str) -> ChangeRecord | None:
        """One transaction by id."""
        with self._lock:
            row = self._db.execute(f"{_CHANGE_SELECT} WHERE txn = ?", (txn,)).fetchone()
        return self._change_record(row) if row else None

    def rolled_back_by(self) -> dict[str, str]:
        """Confirmed changes an operator undid: change txn -> the rollback's txn."""
        return undone_changes(reversed(self.changes(limit=1_000_000)))

    def in_flight(self) -> list[ChangeRecord]:
        """Transactions that started and never finished (e.g. the controller was killed)."""
        with self._lock:
            rows = self._db.execute(
                f"{_CHANGE_SELECT} WHERE status = ? ORDER BY rowid",
                (ChangeStatus.PENDING.value,),
            ).fetchall()
        return [self._change_record(row) for row in rows]

    def events(self, *, txn: str = "", kind: str = "", limit: int = 1000) -> list[EventRecord]:
        """Events in order, optionally of one transaction or one kind."""
        query = _EVENT_SELECT
        clauses, params = [], []
        if txn:
            clauses.append("txn = ?")
            params.append(txn)
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY seq LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [
            EventRecord(
                seq=row[0],
                at=row[1],
                kind=row[2],
                intent=row[3],
                device=row[4],
                txn=row[5],
                step=row[6],
                detail=json.loads(row[7]),
            )
            for row in rows
        ]
