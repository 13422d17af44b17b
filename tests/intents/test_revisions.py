"""The GitOps state machine: admit whole or refuse whole, keep the last good, quarantine a
revision whose change failed verification until a newer one arrives, forget removed intents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intents.inventory import Inventory
from intents.load import IntentSource
from intents.revisions import (
    ActiveRevision,
    Admission,
    GitOpsState,
    Outcome,
    Revision,
    RevisionInfo,
    SourceKind,
    admit,
    blame,
    change_failed,
    quarantine,
)
from tests.intents.conftest import DEVICES, qos

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
INVENTORY = Inventory.from_devices(DEVICES)


def revision(rev_id: str, **files: str) -> Revision:
    info = RevisionInfo(rev_id, SourceKind.GIT, "repo#main", author="ana <ana@x>")
    return Revision(info, tuple(IntentSource(f"{name}.yaml", text) for name, text in files.items()))


def step(state: GitOpsState, rev: Revision, minutes: int = 0) -> tuple[GitOpsState, Admission]:
    return admit(state, rev, now=T0 + timedelta(minutes=minutes), inventory=INVENTORY)


def active_of(holder: GitOpsState | Admission) -> ActiveRevision:
    assert holder.active is not None
    return holder.active


def names(active: ActiveRevision | None) -> list[str]:
    return sorted(i.name for i in active.enforced) if active else []


def test_first_good_revision_is_admitted():
    state, admission = step(GitOpsState(), revision("a1", video=qos("video")))
    assert admission.outcome is Outcome.ADMITTED and admission.switched
    assert names(state.active) == ["video"]
    assert admission.diff.added == ("video",)
    assert blame(state, "video") == "a1"


def test_the_same_revision_again_is_unchanged():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    again, admission = step(state, revision("a1", video=qos("video")))
    assert admission.outcome is Outcome.UNCHANGED and not admission.switched
    assert again is state


def test_a_broken_revision_is_refused_whole_and_the_last_good_stays():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    broken = revision("b2", video=qos("video", latency=20), voice="apiVersion: [")
    after, admission = step(state, broken)
    assert admission.outcome is Outcome.REFUSED and not admission.switched
    assert after is state and active_of(after).info.id == "a1"
    assert admission.evaluation.errors and "voice.yaml:1:" in str(admission.evaluation.errors[0])
    assert "revision a1 stays active" in admission.reason
    # the good half of the broken revision was not applied either
    assert active_of(after).enforced[0].expectations[0].targets[0].value == 30


def test_an_unresolvable_conflict_refuses_the_revision():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    tied = revision(
        "c3", video=qos("video", priority=70), voice=qos("voice", priority=70, cls="voice")
    )
    after, admission = step(state, tied)
    assert admission.outcome is Outcome.REFUSED
    assert "unresolvable" in str(admission.evaluation.errors[0])
    assert active_of(after).info.id == "a1"


def test_removed_intents_stop_being_enforced():
    state, _ = step(
        GitOpsState(),
        revision("a1", video=qos("video"), voice=qos("voice", cls="voice", priority=10)),
    )
    state, admission = step(state, revision("a2", video=qos("video")))
    assert admission.diff.removed == ("voice",)
    assert names(state.active) == ["video"]


def test_quarantine_falls_back_to_the_last_good_and_skips_the_bad_until_a_newer_one():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video", latency=30)))
    state, _ = step(state, revision("b2", video=qos("video", latency=10)), minutes=1)
    assert blame(state, "video") == "b2"

    state, admission = change_failed(state, "video", "latency stayed at 14 ms", now=T0)
    assert admission is not None and admission.outcome is Outcome.QUARANTINED
    assert admission.switched and active_of(admission).info.id == "a1"
    assert "a change for intent 'video' of this revision failed verification" in admission.reason
    assert "fell back to revision a1" in admission.reason
    assert admission.diff.changed[0].changes[0].new == 30
    assert active_of(state).enforced[0].expectations[0].targets[0].value == 30

    # the source still says b2: skipped, every poll, without flapping back
    same, skipped = step(state, revision("b2", video=qos("video", latency=10)), minutes=2)
    assert skipped.outcome is Outcome.SKIPPED and same is state
    assert "waiting for a newer revision" in skipped.reason

    # a newer commit is admitted normally
    state, admission = step(state, revision("c3", video=qos("video", latency=12)), minutes=3)
    assert admission.outcome is Outcome.ADMITTED and active_of(state).info.id == "c3"
    assert "b2" in state.quarantined


def test_a_failure_of_an_intent_an_older_revision_brought_is_not_blamed_on_the_new_one():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    state, _ = step(
        state, revision("b2", video=qos("video"), voice=qos("voice", cls="voice", priority=10))
    )
    assert blame(state, "video") == "a1" and blame(state, "voice") == "b2"
    after, admission = change_failed(state, "video", "no effect", now=T0)
    assert admission is None and after is state


def test_the_first_revision_has_nothing_to_fall_back_to():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    after, admission = change_failed(state, "video", "no effect", now=T0)
    assert admission is None and active_of(after).info.id == "a1"


def test_manual_quarantine_of_the_only_revision_leaves_nothing_active():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    state, admission = quarantine(state, active_of(state).info, "operator says so", now=T0)
    assert state.active is None and admission.diff.removed == ("video",)
    assert "no earlier revision" in admission.reason


def test_quarantining_a_revision_that_is_not_active_only_marks_it():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    info = RevisionInfo("zz", SourceKind.GIT, "repo#main")
    after, admission = quarantine(state, info, "known bad", now=T0)
    assert after.active is state.active and not admission.switched
    _, skipped = step(after, revision("zz", video=qos("video")))
    assert skipped.outcome is Outcome.SKIPPED


def test_force_reevaluates_the_active_revision():
    state, _ = step(GitOpsState(), revision("a1", video=qos("video")))
    again, admission = admit(
        state, revision("a1", video=qos("video")), now=T0, inventory=INVENTORY, force=True
    )
    assert admission.outcome is Outcome.ADMITTED
    assert again.history == ()  # re-admitting itself does not push itself into history


def test_history_is_bounded_and_skips_quarantined_revisions():
    state = GitOpsState()
    for index in range(15):
        state, _ = step(state, revision(f"r{index}", video=qos("video", latency=10 + index)))
    assert len(state.history) == 10
    state, _ = quarantine(state, state.history[0].info, "bad too", now=T0)
    state, admission = quarantine(state, active_of(state).info, "bad", now=T0)
    assert active_of(admission).info.id == "r12"  # r13 was quarantined before


def with_spec(text: str, line: str) -> str:
    """An intent text with one more ``spec`` line (``mode: ...``, ``adminState: ...``)."""
    return text.replace("spec:\n", f"spec:\n  {line}\n", 1)


def test_a_fallback_never_acts_more_on_its_own_than_the_quarantined_revision_allowed():
    # a1: video in auto. b2: the operators tighten video (new target) and put it in approve
    # mode, and deactivate voice. b2's change fails: fall back to a1's targets, but video
    # stays in approve mode and voice stays deactivated, each with a note saying why.
    voice = qos("voice", cls="voice", priority=10)
    state, _ = step(GitOpsState(), revision("a1", video=qos("video", latency=30), voice=voice))
    state, _ = step(
        state,
        revision(
            "b2",
            video=with_spec(qos("video", latency=10), "mode: approve"),
            voice=with_spec(voice, "adminState: deactivated"),
        ),
        minutes=1,
    )
    state, admission = change_failed(state, "video", "latency stayed at 14 ms", now=T0)
    assert admission is not None and admission.outcome is Outcome.QUARANTINED
    enforced = {i.name: i for i in active_of(state).enforced}
    assert enforced["video"].expectations[0].targets[0].value == 30  # a1's meaning is back
    assert enforced["video"].mode.value == "approve"  # b2's caution stays
    assert enforced["voice"].admin_state.value == "deactivated"
    notes = active_of(state).evaluation.notes
    assert "mode approve" in notes["video"][-1] and "b2" in notes["video"][-1]
    assert "adminState deactivated" in notes["voice"][-1]


def test_a_fallback_keeps_its_own_more_cautious_mode():
    # a1 was the cautious one (dry-run); b2 went to auto and failed: back to dry-run, no note
    state, _ = step(
        GitOpsState(), revision("a1", video=with_spec(qos("video", latency=30), "mode: dry-run"))
    )
    state, _ = step(state, revision("b2", video=qos("video", latency=10)), minutes=1)
    state, admission = change_failed(state, "video", "no effect", now=T0)
    assert admission is not None
    video = active_of(state).enforced[0]
    assert video.mode.value == "dry-run"
    assert not active_of(state).evaluation.notes.get("video")
