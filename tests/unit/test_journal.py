"""The journal: steps in order, change records, in-flight transactions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from controller.errors import ConfigFileError
from controller.journal import Journal
from controller.model import ChangeResult, ChangeSet, ChangeStatus, ConfigEdit, EditOp, Plan

T0 = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
CHANGE = ChangeSet.make(
    "video",
    "r2",
    (ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "1"),),
    "why",
)


def test_a_transaction_is_pending_until_it_finishes(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.begin_change(
        "txn-1", Plan.single(CHANGE), at=T0, explanation={"target": "latencyMs lessThan 30"}
    )
    journal.event("change-step", at=T0, txn="txn-1", step="committed")
    assert [c.txn for c in journal.in_flight()] == ["txn-1"]
    journal.finish_change(
        "txn-1",
        ChangeResult(
            "txn-1",
            "video",
            "r2",
            ChangeStatus.ROLLED_BACK,
            "post-check failed",
            T0,
            T0 + timedelta(seconds=9),
        ),
    )
    assert journal.in_flight() == []
    record = journal.change("txn-1")
    assert record is not None and record.status is ChangeStatus.ROLLED_BACK
    assert record.plan["edits"] == [
        {
            "device": "r2",
            "op": "add",
            "path": "qos/class[name=video]/priority",
            "old": None,
            "new": "1",
        }
    ]
    assert record.plan["explanation"] == {"target": "latencyMs lessThan 30"}
    steps = [e.step for e in journal.events(txn="txn-1")]
    assert steps == ["planned", "committed", "finished:rolled-back"]
    journal.close()


def test_the_journal_survives_a_reopen(tmp_path):
    path = tmp_path / "j.sqlite"
    first = Journal(path)
    first.begin_change("txn-2", Plan.single(CHANGE), at=T0, explanation={})
    first.close()
    again = Journal(path)
    assert [c.txn for c in again.in_flight()] == ["txn-2"]
    assert again.change("nope") is None
    again.close()


def test_a_read_only_journal_reads_and_never_writes(tmp_path):
    path = tmp_path / "j.sqlite"
    writer = Journal(path)
    writer.begin_change("txn-3", Plan.single(CHANGE), at=T0, explanation={})
    writer.close()
    before = path.read_bytes()
    reader = Journal(path, read_only=True)
    assert [c.txn for c in reader.changes()] == ["txn-3"]
    assert [e.step for e in reader.events(txn="txn-3")] == ["planned"]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.event("decision", at=T0)
    reader.close()
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"intents: not a database\n" * 200, id="not-sqlite"),
        pytest.param(b"", id="empty-file"),
    ],
)
def test_a_file_that_is_not_a_journal_is_refused_untouched(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(ConfigFileError, match="not a netpilot journal"):
        Journal(path, read_only=True)
    assert path.read_bytes() == content


def test_an_sqlite_file_without_the_journal_tables_is_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE changes (id INTEGER)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(ConfigFileError, match="not a netpilot journal"):
        Journal(path, read_only=True)
    assert path.read_bytes() == before


def test_the_writer_refuses_a_non_sqlite_file_cleanly(tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(ConfigFileError, match="not a netpilot journal"):
        Journal(path)
