"""The journal: steps in order, change records, in-flight transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.journal import Journal
from controller.model import ChangeResult, ChangeSet, ChangeStatus, ConfigEdit, EditOp

T0 = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
CHANGE = ChangeSet.make(
    "video",
    "r2",
    (ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "1"),),
    "why",
)


def test_a_transaction_is_pending_until_it_finishes(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.begin_change("txn-1", CHANGE, at=T0, explanation={"target": "latencyMs lessThan 30"})
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
        {"op": "add", "path": "qos/class[name=video]/priority", "old": None, "new": "1"}
    ]
    assert record.plan["explanation"] == {"target": "latencyMs lessThan 30"}
    steps = [e.step for e in journal.events(txn="txn-1")]
    assert steps == ["planned", "committed", "finished:rolled-back"]
    journal.close()


def test_the_journal_survives_a_reopen(tmp_path):
    path = tmp_path / "j.sqlite"
    first = Journal(path)
    first.begin_change("txn-2", CHANGE, at=T0, explanation={})
    first.close()
    again = Journal(path)
    assert [c.txn for c in again.in_flight()] == ["txn-2"]
    assert again.change("nope") is None
    again.close()
