"""The intent store: revisions with their source and diff, quarantine, status history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.errors import ConfigFileError
from controller.intent_store import IntentStore, StatusRecorder, default_store_path
from controller.loop import TickReport
from controller.model import (
    FulfilmentStatus,
    IntentStatus,
    NotFulfilledState,
    Target,
    TargetCondition,
    TargetStatus,
)
from intents.inventory import Inventory
from intents.load import IntentSource
from intents.revisions import (
    GitOpsState,
    Outcome,
    Revision,
    RevisionInfo,
    SourceKind,
    admit,
    quarantine,
)
from tests.intents.conftest import DEVICES, qos

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INVENTORY = Inventory.from_devices(DEVICES)


def revision(rev_id: str, **files: str) -> Revision:
    info = RevisionInfo(
        rev_id,
        SourceKind.GIT,
        "file:///srv/intents.git#main",
        author="Ana <ana@example.org>",
        committed_at=T0,
        message=f"commit {rev_id}",
    )
    return Revision(info, tuple(IntentSource(f"{k}.yaml", v) for k, v in files.items()))


@pytest.fixture
def store(tmp_path):
    store = IntentStore(tmp_path / "intents.sqlite")
    yield store
    store.close()


def test_every_step_is_recorded_with_its_source_and_diff(store):
    state, first = admit(
        GitOpsState(), revision("a1", video=qos("video")), now=T0, inventory=INVENTORY
    )
    assert store.record_admission(first)
    state, refused = admit(state, revision("b2", video="kind: ["), now=T0, inventory=INVENTORY)
    assert store.record_admission(refused)
    assert not store.record_admission(refused)  # the same refusal once
    state, second = admit(
        state, revision("c3", video=qos("video", latency=20)), now=T0, inventory=INVENTORY
    )
    store.record_admission(second)
    state, quarantined = quarantine(state, second.revision, "failed verification", now=T0)
    store.record_admission(quarantined)

    newest, *_ = store.revisions()
    assert newest.outcome is Outcome.QUARANTINED and newest.active == "a1"
    record = store.revision("c3")
    assert record.outcome is Outcome.QUARANTINED
    admitted_c3 = [r for r in store.revisions() if r.info.id == "c3"][-1]
    assert admitted_c3.outcome is Outcome.ADMITTED
    assert admitted_c3.info.author == "Ana <ana@example.org>"
    assert admitted_c3.info.committed_at == T0 and admitted_c3.info.message == "commit c3"
    (change,) = admitted_c3.diff["changed"]
    assert change["changes"][0]["old"] == 30 and change["changes"][0]["new"] == 20
    assert admitted_c3.introduced == {"video": "c3"}
    refusal = store.revision("b2")
    assert refusal.outcome is Outcome.REFUSED and refusal.files is None
    assert refusal.errors[0]["line"] == 1
    assert store.quarantined() == {"c3": quarantined.reason}
    assert [r.info.id for r in store.admitted()] == ["a1"]
    assert store.revision("c") is not None  # a unique prefix finds it


def test_last_refusal_is_cleared_by_a_later_admission(store):
    state, good = admit(GitOpsState(), revision("a1", v=qos("v")), now=T0, inventory=INVENTORY)
    store.record_admission(good)
    state, bad = admit(state, revision("b2", v="x: ["), now=T0, inventory=INVENTORY)
    store.record_admission(bad)
    assert store.last_refusal().info.id == "b2"
    _, fixed = admit(state, revision("c3", v=qos("v", latency=9)), now=T0, inventory=INVENTORY)
    store.record_admission(fixed)
    assert store.last_refusal() is None


def test_restore_evaluates_stored_revisions_against_todays_inventory(store):
    state, first = admit(GitOpsState(), revision("a1", v=qos("v")), now=T0, inventory=INVENTORY)
    store.record_admission(first)
    text = qos("v").replace("to: r4", "to: r3")
    _, second = admit(state, revision("b2", v=text), now=T0, inventory=INVENTORY)
    store.record_admission(second)

    restored, problems = store.restore(inventory=INVENTORY)
    assert restored.active.info.id == "b2" and restored.history[0].info.id == "a1"
    assert problems == []
    # r3 left the inventory: b2 no longer loads, a1 becomes active, and that is said
    smaller = Inventory.from_devices([d for d in DEVICES if d.name != "r3"])
    restored, problems = store.restore(inventory=smaller)
    assert restored.active.info.id == "a1"
    assert len(problems) == 1 and "b2" in problems[0] and "unknown device 'r3'" in problems[0]


def status(name: str, state: NotFulfilledState | None, met: bool, at: datetime) -> IntentStatus:
    target = Target("latencyMs", TargetCondition.LESS_THAN, 30)
    fulfilled = state is None
    return IntentStatus(
        name,
        FulfilmentStatus.FULFILLED if fulfilled else FulfilmentStatus.NOT_FULFILLED,
        state,
        (TargetStatus("latency", target, 12.0 if met else 40.0, met),),
        () if fulfilled else ("latencyMs is 40",),
        at,
    )


def test_status_is_recorded_on_change_only(store):
    assert store.record_status(status("v", NotFulfilledState.DEGRADED, False, T0), revision="a1")
    assert not store.record_status(status("v", NotFulfilledState.DEGRADED, False, T0))
    assert store.record_status(status("v", None, True, T0 + timedelta(seconds=5)), revision="a1")
    history = store.status_history("v")
    assert [h.status for h in history] == ["fulfilled", "notFulfilled"]
    assert history[1].state == "degraded" and history[1].targets[0]["observed"] == 40.0
    assert history[0].revision == "a1"
    assert store.latest_statuses()["v"].status == "fulfilled"


def test_status_dedup_survives_a_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    store = IntentStore(path)
    store.record_status(status("v", None, True, T0))
    store.close()
    store = IntentStore(path)
    try:
        assert not store.record_status(status("v", None, True, T0 + timedelta(seconds=1)))
    finally:
        store.close()


def test_status_recorder_is_a_controller_observer(store):
    recorder = StatusRecorder(store, revision=lambda: "a1")
    report = TickReport(
        number=1,
        at=T0,
        duration=timedelta(milliseconds=3),
        statuses=(status("v", NotFulfilledState.DEGRADED, False, T0),),
        decisions=(),
        observations={},
    )
    recorder.tick_finished(report)
    recorder.tick_finished(report)
    assert len(store.status_history("v")) == 1


def test_read_only_never_writes(tmp_path):
    path = tmp_path / "s.sqlite"
    IntentStore(path).close()
    before = path.read_bytes()
    reader = IntentStore(path, read_only=True)
    assert reader.revisions() == [] and reader.quarantined() == {}
    reader.close()
    assert path.read_bytes() == before
    not_a_store = tmp_path / "x.sqlite"
    not_a_store.write_text("hello")
    with pytest.raises(ConfigFileError, match="not a usable intent store"):
        IntentStore(not_a_store, read_only=True)
    assert not_a_store.read_text() == "hello"


def test_default_store_path_is_next_to_the_journal(tmp_path):
    assert default_store_path(tmp_path / "j.sqlite") == tmp_path / "intents.sqlite"
