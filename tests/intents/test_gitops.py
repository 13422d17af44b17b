"""GitOps against a bare repository on disk: the source reads whole commits, the manager
admits good revisions, refuses broken ones keeping the last good, quarantines a revision
whose change failed verification until a newer commit arrives, and survives a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from controller.gitops import (
    DirectorySource,
    GitOpsObserver,
    GitSource,
    IntentSetManager,
    MissingBranchError,
    MissingSubdirError,
    SourceError,
    SourcePoller,
    open_source,
)
from controller.intent_store import IntentStore
from controller.loop import TickReport
from controller.model import (
    ChangeResult,
    ChangeStatus,
    FulfilmentStatus,
    Intent,
    IntentStatus,
    NotFulfilledState,
)
from intents.revisions import Outcome, SourceKind
from tests.intents.conftest import DEVICES, energy, qos
from tests.intents.gitrepo import GitRepo


@pytest.fixture
def repo(tmp_path):
    return GitRepo(tmp_path / "git")


@pytest.fixture
def source(repo, tmp_path):
    return GitSource(repo.url, branch="main", cache_dir=tmp_path / "mirror")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def store(tmp_path):
    store = IntentStore(tmp_path / "state" / "intents.sqlite")
    yield store
    store.close()


def manager_for(store: IntentStore, clock: Clock | None = None) -> IntentSetManager:
    return IntentSetManager(store, inventory=DEVICES, clock=clock or Clock())


def test_git_source_reads_a_whole_commit(repo, source):
    sha = repo.commit(
        {
            "video.yaml": qos("video"),
            "nested/sleep.yml": energy("sleep"),
            "README.md": "not an intent",
            ".hidden/x.yaml": "ignored: true",
        },
        "first intents",
    )
    revision = source.read()
    info = revision.info
    assert info.id == sha and info.kind is SourceKind.GIT
    assert info.author == "Ana Operator <ana@example.org>"
    assert info.message == "first intents" and info.committed_at is not None
    assert info.source == f"{repo.url}#main"
    assert [f.file for f in revision.files] == ["nested/sleep.yml", "video.yaml"]
    assert revision.files[1].text == qos("video").encode()


def test_git_source_follows_new_commits_and_subdirectories(repo, tmp_path):
    repo.commit({"intents/video.yaml": qos("video"), "other/x.yaml": energy()}, "one")
    source = GitSource(repo.url, subdir="intents", cache_dir=tmp_path / "m")
    assert [f.file for f in source.read().files] == ["intents/video.yaml"]
    second = repo.commit({"intents/voice.yaml": qos("voice", cls="voice")}, "two")
    revision = source.read()
    assert revision.info.id == f"{second}:intents"  # the commit and the subdirectory
    assert [f.file for f in revision.files] == ["intents/video.yaml", "intents/voice.yaml"]


def test_git_source_skips_symlinks(repo, source):
    repo.commit({"video.yaml": qos("video")}, "one")
    (repo.work / "link.yaml").symlink_to("/etc/hostname")
    repo.commit({}, "a symlink")
    assert [f.file for f in source.read().files] == ["video.yaml"]


def test_git_source_errors_are_source_errors(repo, tmp_path):
    repo.commit({"video.yaml": qos("video")}, "one")
    with pytest.raises(SourceError, match="no branch .nope.; the repository has: main"):
        GitSource(repo.url, branch="nope", cache_dir=tmp_path / "a").read()
    with pytest.raises(SourceError, match="git fetch failed"):
        GitSource(str(tmp_path / "missing.git"), cache_dir=tmp_path / "b").read()
    with pytest.raises(SourceError, match="cannot start with '-'"):
        GitSource("--upload-pack=touch /tmp/x", cache_dir=tmp_path / "c")
    with pytest.raises(SourceError, match="check-ref-format"):
        GitSource(repo.url, branch="bad..branch", cache_dir=tmp_path / "d").read()


def test_directory_source_checksums_names_and_bytes(tmp_path):
    directory = tmp_path / "intents"
    (directory / "sub").mkdir(parents=True)
    (directory / "video.yaml").write_text(qos("video"))
    (directory / "sub" / "sleep.yaml").write_text(energy())
    (directory / "notes.txt").write_text("x")
    source = DirectorySource(directory)
    first = source.read()
    assert first.info.id.startswith("sha256:") and first.info.kind is SourceKind.DIRECTORY
    assert [f.file for f in first.files] == [
        str(directory / "sub" / "sleep.yaml"),
        str(directory / "video.yaml"),
    ]
    (directory / "notes.txt").write_text("changed, but not an intent file")
    assert source.read().info.id == first.info.id
    (directory / "video.yaml").write_text(qos("video", latency=20))
    assert source.read().info.id != first.info.id
    with pytest.raises(SourceError, match="no such directory"):
        DirectorySource(tmp_path / "nowhere").read()


def test_open_source_picks_git_or_directory(repo, tmp_path):
    cache = tmp_path / "cache"
    assert isinstance(open_source(repo.url, cache_dir=cache), GitSource)
    assert isinstance(open_source("https://example.org/x.git", cache_dir=cache), GitSource)
    assert isinstance(open_source("git@example.org:ops/intents", cache_dir=cache), GitSource)
    assert isinstance(open_source(str(tmp_path), cache_dir=cache), DirectorySource)
    assert isinstance(open_source(str(tmp_path), branch="dev", cache_dir=cache), GitSource)


def test_good_broken_quarantined_newer(repo, source, store):
    """The acceptance story, up to the daemon: what the lead's loop will drive."""
    manager = manager_for(store)
    good = repo.commit({"video.yaml": qos("video", latency=30)}, "video under 30 ms")
    admission = manager.admit(source.read())
    assert admission.outcome is Outcome.ADMITTED and admission.switched
    assert manager.active_id == good
    assert [i.name for i in manager.enforced()] == ["video"]

    # a broken commit: refused as a whole, the good one stays active, the refusal is stored
    broken = repo.commit(
        {"video.yaml": qos("video", latency=20), "voice.yaml": "apiVersion: netpilot/v1\n  x"},
        "tighter video, and a typo",
    )
    admission = manager.admit(source.read())
    assert admission.outcome is Outcome.REFUSED and not admission.switched
    assert manager.active_id == good
    assert manager.enforced()[0].expectations[0].targets[0].value == 30
    refusal = store.last_refusal()
    assert refusal is not None and refusal.info.id == broken
    assert refusal.errors and refusal.errors[0]["file"] == "voice.yaml"
    # polling the same broken commit again records nothing new
    before = len(store.revisions())
    manager.admit(source.read())
    assert len(store.revisions()) == before

    # a fixed commit that tightens the target is admitted
    tighter = repo.commit({"voice.yaml": None}, "drop the typo")
    admission = manager.admit(source.read())
    assert admission.outcome is Outcome.ADMITTED and manager.active_id == tighter
    assert store.last_refusal() is None

    # its change fails verification: quarantined, back to the last good
    quarantined = manager.change_failed("video", "latency stayed at 24 ms")
    assert quarantined is not None and quarantined.outcome is Outcome.QUARANTINED
    assert quarantined.switched and manager.active_id == good
    assert manager.enforced()[0].expectations[0].targets[0].value == 30
    assert tighter in store.quarantined()

    # HEAD is still the quarantined commit: skipped, not re-applied
    admission = manager.admit(source.read())
    assert admission.outcome is Outcome.SKIPPED and manager.active_id == good

    # a newer commit arrives: admitted
    newer = repo.commit({"video.yaml": qos("video", latency=25)}, "a realistic target")
    admission = manager.admit(source.read())
    assert admission.outcome is Outcome.ADMITTED and manager.active_id == newer

    history = store.intent_history("video")
    assert [(h["outcome"], h["change"]) for h in history] == [
        ("admitted", "changed"),  # newer: 25 ms
        ("quarantined", "changed"),  # back to 30 ms
        ("admitted", "changed"),  # tighter: 20 ms
        ("admitted", "added"),  # good: 30 ms
    ]
    assert history[1]["fields"] == [
        {"path": "spec.expectations[latency].targets[latencyMs].value", "old": 20, "new": 30}
    ]
    assert history[1]["generation"] == history[3]["generation"]
    assert history[0]["revision"]["id"] == newer

    outcomes = [r.outcome for r in reversed(store.revisions())]
    assert outcomes == [
        Outcome.ADMITTED,
        Outcome.REFUSED,
        Outcome.ADMITTED,
        Outcome.QUARANTINED,
        Outcome.ADMITTED,
    ]


def test_a_restart_restores_the_active_revision_and_the_quarantine(repo, source, tmp_path):
    path = tmp_path / "intents.sqlite"
    store = IntentStore(path)
    manager = manager_for(store)
    good = repo.commit({"video.yaml": qos("video", latency=30)}, "good")
    manager.admit(source.read())
    repo.commit({"video.yaml": qos("video", latency=5)}, "too tight")
    manager.admit(source.read())
    manager.change_failed("video", "never reached")
    store.close()

    store = IntentStore(path)
    try:
        restarted = manager_for(store)
        assert restarted.active_id == good
        assert restarted.enforced()[0].expectations[0].targets[0].value == 30
        assert restarted.admit(source.read()).outcome is Outcome.SKIPPED
    finally:
        store.close()


def test_removed_intents_stop_being_enforced(repo, source, store):
    manager = manager_for(store)
    repo.commit(
        {"video.yaml": qos("video"), "voice.yaml": qos("voice", cls="voice", priority=10)}, "two"
    )
    manager.admit(source.read())
    assert {i.name for i in manager.enforced()} == {"video", "voice"}
    repo.commit({"voice.yaml": None}, "voice is gone")
    admission = manager.admit(source.read())
    assert admission.diff.removed == ("voice",)
    assert [i.name for i in manager.enforced()] == ["video"]


def test_conflict_notes_reach_the_status_of_an_intent_the_loop_does_not_act_on(repo, source, store):
    manager = manager_for(store)
    repo.commit(
        {"video.yaml": qos("video"), "voice.yaml": qos("voice", cls="voice", priority=10)}, "two"
    )
    manager.admit(source.read())
    voice = next(i for i in manager.enforced() if i.name == "voice")
    assert voice.mode.value == "dry-run"
    status = manager.status_without_loop("voice")
    assert status.state is NotFulfilledState.SUSPENDED
    assert any("video wins" in r for r in status.reasons)


async def test_sync_reads_in_a_thread_and_survives_an_unreachable_source(repo, store, tmp_path):
    manager = manager_for(store)
    repo.commit({"video.yaml": qos("video")}, "one")
    source = GitSource(repo.url, cache_dir=tmp_path / "m")
    admission = await manager.sync(source)
    assert admission is not None and admission.outcome is Outcome.ADMITTED
    gone = GitSource(str(tmp_path / "gone.git"), cache_dir=tmp_path / "m2")
    assert await manager.sync(gone) is None
    assert "git fetch failed" in manager.last_error
    assert manager.active_id == admission.revision.id
    (failed,) = [p for p in store.polls() if not p["ok"]]
    assert failed["source"] == gone.name
    # two syncs at once do not corrupt anything: each reads whole commits
    results = await asyncio.gather(manager.sync(source), manager.sync(source))
    assert {r.outcome for r in results if r} == {Outcome.UNCHANGED}


def test_the_observer_quarantines_on_a_rolled_back_change_and_records_status(repo, source, store):
    manager = manager_for(store)
    good = repo.commit({"video.yaml": qos("video", latency=30)}, "good")
    manager.admit(source.read())
    repo.commit({"video.yaml": qos("video", latency=8)}, "tighter")
    manager.admit(source.read())
    replaced: list[tuple[Intent, ...]] = []
    observer = GitOpsObserver(manager, replaced.append)
    at = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)

    def result(status: ChangeStatus) -> ChangeResult:
        return ChangeResult("chg-1", "video", "r2", status, "latency stayed at 14 ms", at, at)

    observer.change_finished(result(ChangeStatus.CONFIRMED))
    assert replaced == []
    observer.change_finished(result(ChangeStatus.ROLLED_BACK))
    (intents,) = replaced
    assert manager.active_id == good
    assert intents[0].expectations[0].targets[0].value == 30

    status = IntentStatus(
        "video", FulfilmentStatus.NOT_FULFILLED, NotFulfilledState.DEGRADED, (), (), at
    )
    report = TickReport(1, at, timedelta(0), (status,), (), {})
    observer.tick_finished(report)
    observer.tick_finished(report)
    (record,) = store.status_history("video")
    assert record.revision == good and record.state == "degraded"


async def test_the_poller_polls_at_once_and_when_poked(repo, store, tmp_path):
    manager = manager_for(store)
    first = repo.commit({"video.yaml": qos("video", latency=30)}, "one")
    source = GitSource(repo.url, cache_dir=tmp_path / "m")
    switched: asyncio.Queue[tuple[Intent, ...]] = asyncio.Queue()
    poller = SourcePoller(
        manager, source, interval=timedelta(hours=1), on_switch=switched.put_nowait
    )
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        intents = await asyncio.wait_for(switched.get(), timeout=30)
        assert manager.active_id == first and intents[0].name == "video"
        second = repo.commit({"voice.yaml": qos("voice", cls="voice", priority=10)}, "two")
        poller.poke()  # an hour early: on demand
        intents = await asyncio.wait_for(switched.get(), timeout=30)
        assert manager.active_id == second and {i.name for i in intents} == {"video", "voice"}
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert poller.polls == 2


# ---------------------------------------------------------------- empty sources, subdirs


def test_a_missing_subdirectory_is_an_error_naming_it_and_what_exists(repo, tmp_path):
    sha = repo.commit({"intents/video.yaml": qos("video"), "docs/x.md": "x"}, "one")
    with pytest.raises(MissingSubdirError) as caught:
        GitSource(repo.url, subdir="nope", cache_dir=tmp_path / "a").read()
    message = str(caught.value)
    assert "'nope' does not exist" in message and sha[:12] in message
    assert "docs, intents" in message
    assert not caught.value.retryable
    with pytest.raises(MissingSubdirError, match="is a file, not a directory"):
        GitSource(repo.url, subdir="intents/video.yaml", cache_dir=tmp_path / "b").read()


def test_a_missing_branch_lists_the_branches(repo, tmp_path):
    repo.commit({"video.yaml": qos("video")}, "one", branch="master")
    with pytest.raises(MissingBranchError, match=r"no branch 'main'.*has: master.*--branch master"):
        GitSource(repo.url, branch="main", cache_dir=tmp_path / "a").read()


def test_revision_ids_name_the_commit_and_the_subdirectory(repo, tmp_path):
    sha = repo.commit({"a/video.yaml": qos("video"), "b/voice.yaml": qos("voice")}, "one")
    a = GitSource(repo.url, subdir="a", cache_dir=tmp_path / "m").read().info
    b = GitSource(repo.url, subdir="b/", cache_dir=tmp_path / "m").read().info
    whole = GitSource(repo.url, cache_dir=tmp_path / "m").read().info
    assert (a.id, b.id, whole.id) == (f"{sha}:a", f"{sha}:b", sha)
    assert a.short == f"{sha[:12]}:a"


def test_an_empty_source_is_refused_unless_allowed(repo, store, tmp_path):
    manager = manager_for(store)
    good = repo.commit({"intents/video.yaml": qos("video"), "docs/x.md": "x"}, "one")
    assert manager.admit(GitSource(repo.url, subdir="intents", cache_dir=tmp_path / "m").read())
    docs = GitSource(repo.url, subdir="docs", cache_dir=tmp_path / "m").read()
    assert docs.files == ()
    refused = manager.admit(docs)
    assert refused.outcome is Outcome.REFUSED and not refused.switched
    assert "would remove every intent (video)" in refused.reason
    assert manager.active_id == f"{good}:intents" and [i.name for i in manager.enforced()] == [
        "video"
    ]
    assert "--allow-empty" in manager.last_refusal
    empty = tmp_path / "empty"
    empty.mkdir()
    assert manager.admit(DirectorySource(empty).read()).outcome is Outcome.REFUSED
    admitted = manager.admit(DirectorySource(empty).read(), allow_empty=True)
    assert admitted.outcome is Outcome.ADMITTED and admitted.diff.removed == ("video",)
    assert manager.enforced() == () and manager.last_refusal == ""


async def test_the_watcher_keeps_the_active_revision_on_an_empty_commit(repo, store, tmp_path):
    manager = manager_for(store)
    first = repo.commit({"video.yaml": qos("video")}, "one")
    source = GitSource(repo.url, cache_dir=tmp_path / "m")
    switched: list[tuple[Intent, ...]] = []
    poller = SourcePoller(manager, source, interval=timedelta(hours=1), on_switch=switched.append)
    assert (await poller.poll()) is not None and len(switched) == 1
    emptied = repo.commit({"video.yaml": None, "README.md": "moved"}, "move the intents")
    admission = await poller.poll()
    assert admission is not None and admission.outcome is Outcome.REFUSED
    assert len(switched) == 1 and manager.active_id == first
    assert "holds no intent file" in manager.last_refusal and emptied[:12] in manager.last_refusal
    (record,) = [r for r in store.revisions() if r.outcome is Outcome.REFUSED]
    assert record.info.id == emptied and "would remove every intent" in record.reason
