"""GitOps: read revisions of the intent source, admit them, quarantine bad ones. The IO shell.

A source is a directory, or a Git repository reachable by any URL git understands (a local
path, ``file://``, ``https://``, ``ssh://``, ``user@host:path``) with a branch and an optional
subdirectory. :class:`GitSource` keeps a bare mirror in a cache directory, fetches the branch
and reads the intent files straight from the commit's tree (``git ls-tree`` and ``git
cat-file --batch``): there is no working tree, so a revision is read whole, never a half
updated checkout. It runs the ``git`` command line (it handles every transport and the
user's credentials) with prompts disabled and a timeout.

:class:`IntentSetManager` wraps the pure state machine (:mod:`intents.revisions`) with the
store, the log and the clock; :class:`SourcePoller` polls a source on an interval and on demand;
:class:`GitOpsObserver` records statuses and quarantines the revision behind a change that
failed verification. How the daemon wires them::

    store = IntentStore(default_store_path(settings.journal_path))
    manager = IntentSetManager(store, inventory=settings.inventory)  # restores the last good
    source = open_source(url_or_dir, branch="main", cache_dir=state_dir / "git")
    controller = Controller(intents=manager.enforced(), ...,
                            observers=[GitOpsObserver(manager, controller_replace), ...])
    poller = SourcePoller(manager, source, interval=timedelta(seconds=60),
                          on_switch=controller.replace_intents)
    task = asyncio.create_task(poller.run(stop))   # SIGHUP / API reload: poller.poke()
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from controller.errors import NetpilotError
from controller.intent_store import IntentStore
from controller.model import (
    ChangeResult,
    ChangeStatus,
    Decision,
    Device,
    Intent,
    IntentStatus,
)
from intents.conflicts import PathDevices
from intents.inventory import Inventory
from intents.load import IntentSource
from intents.report import not_running_status
from intents.revisions import (
    ActiveRevision,
    Admission,
    GitOpsState,
    Outcome,
    Revision,
    RevisionInfo,
    SourceKind,
    admit,
    change_failed,
    quarantine,
)
from intents.support import CURRENT_SUPPORT, Support

__all__ = [
    "DirectorySource",
    "GitOpsObserver",
    "GitSource",
    "IntentSetManager",
    "MissingBranchError",
    "MissingSubdirError",
    "RevisionSource",
    "SourceError",
    "SourcePoller",
    "intent_file_names",
    "open_source",
]

if TYPE_CHECKING:
    from controller.loop import Controller, TickReport

log = logging.getLogger("netpilot.gitops")

INTENT_SUFFIXES = (".yaml", ".yml")
MAX_FILES = 10_000  # a source with more intent files than this is a mistake


class SourceError(NetpilotError):
    """The intent source could not be read (unreachable, no such branch, git failed).

    Retryable: the last good revision stays active and the next poll tries again.
    """

    retryable = True

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class MissingSubdirError(SourceError):
    """The commit has no such subdirectory (a typo in ``--subdir``, or it was moved).

    Terminal for this commit: reading it again gives the same answer. The active revision
    stays, and a newer commit (or a corrected subdirectory) is read at the next poll.
    """

    retryable = False


class MissingBranchError(SourceError):
    """The repository has no such branch; the message lists the branches it has.

    Terminal: until the branch is pushed (or the configuration names another), every read
    fails the same way. The active revision stays.
    """

    retryable = False


class RevisionSource(Protocol):
    """Where revisions come from."""

    @property
    def name(self) -> str:
        """How the source is shown (the directory, or ``URL#branch``)."""
        ...

    def read(self) -> Revision:
        """Read the current revision (blocking IO; run it in a thread from async code).

        Raises:
            SourceError: the source cannot be read.
        """
        ...


def intent_file_names(names: Sequence[str]) -> list[str]:
    """The intent files among relative paths: ``*.yaml``/``*.yml``, none under a dot dir."""
    return sorted(
        n
        for n in names
        if n.endswith(INTENT_SUFFIXES) and not any(p.startswith(".") for p in n.split("/"))
    )


@dataclass(frozen=True, slots=True)
class DirectorySource:
    """A directory of intent files; its revision id is a checksum of names and bytes."""

    path: Path

    @property
    def name(self) -> str:
        return str(self.path)

    def read(self) -> Revision:
        """Read every intent file under the directory."""
        if not self.path.is_dir():
            raise SourceError(self.name, "no such directory")
        try:
            relative = [
                p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()
            ]
            names = intent_file_names(relative)
            if len(names) > MAX_FILES:
                raise SourceError(self.name, f"more than {MAX_FILES} intent files")
            contents = [(name, (self.path / name).read_bytes()) for name in names]
        except OSError as exc:
            raise SourceError(self.name, f"cannot read: {exc.strerror or exc}") from exc
        digest = hashlib.sha256()
        for name, data in contents:
            digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        info = RevisionInfo(
            id=f"sha256:{digest.hexdigest()}", kind=SourceKind.DIRECTORY, source=self.name
        )
        files = tuple(IntentSource(str(self.path / name), data) for name, data in contents)
        return Revision(info=info, files=files)


class GitSource:
    """A branch of a Git repository, read through a bare mirror in ``cache_dir``.

    Args:
        url: anything ``git fetch`` accepts (a local path, file://, https://, ssh://...).
        branch: the branch to follow.
        subdir: only intent files under this directory of the repository count.
        cache_dir: where the bare mirror is kept (created on first read).
        timeout: seconds any one git command may take.
    """

    def __init__(
        self,
        url: str,
        *,
        branch: str = "main",
        subdir: str = "",
        cache_dir: Path,
        timeout: float = 60.0,
    ) -> None:
        if url.startswith("-"):
            raise SourceError(url, "a repository URL cannot start with '-'")
        self.url = url
        # git runs in the mirror: a relative repository path is made absolute first
        local = Path(url)
        self._fetch_url = str(local.resolve()) if "://" not in url and local.exists() else url
        self.branch = branch
        self.subdir = subdir.strip("/")
        self.cache_dir = cache_dir
        self.timeout = timeout
        self._checked_branch = False
        # one read at a time: two fetches into one mirror would race for its ref locks
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        suffix = f":{self.subdir}" if self.subdir else ""
        return f"{self.url}#{self.branch}{suffix}"

    def _git(self, *args: str, stdin: bytes | None = None, cwd: Path | None = None) -> bytes:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a terminal
            "GIT_ASKPASS": "true",
            "LC_ALL": "C",
        }
        command = ["git", *args] if cwd is None else ["git", "-C", str(cwd), *args]
        try:
            completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
                command,
                input=stdin,
                capture_output=True,
                timeout=self.timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SourceError(
                self.name, f"git {args[0]} timed out after {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise SourceError(self.name, f"cannot run git: {exc}") from exc
        if completed.returncode != 0:
            message = completed.stderr.decode(errors="replace").strip().splitlines()
            raise SourceError(
                self.name, f"git {args[0]} failed: {message[-1] if message else 'no message'}"
            )
        return completed.stdout

    def _ensure_mirror(self) -> None:
        if not self._checked_branch:
            self._git("check-ref-format", "--branch", self.branch)
            self._checked_branch = True
        if not (self.cache_dir / "HEAD").is_file():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet", str(self.cache_dir))

    def read(self) -> Revision:
        """Fetch the branch and read its intent files from the commit's tree."""
        with self._lock:
            return self._read()

    def _read(self) -> Revision:
        self._ensure_mirror()
        ref = f"refs/netpilot/{self.branch}"
        try:
            self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--force",
                "--",
                self._fetch_url,
                f"+refs/heads/{self.branch}:{ref}",
                cwd=self.cache_dir,
            )
        except SourceError as exc:
            branches = self._branches() if "couldn't find remote ref" in str(exc) else None
            if branches is not None and self.branch not in branches:
                listed = ", ".join(branches[:10]) or "none (an empty repository)"
                hint = (
                    f"; follow one of them (--branch {branches[0]}, or intents.branch in "
                    "the config)"
                    if branches
                    else ""
                )
                raise MissingBranchError(
                    self.name, f"no branch {self.branch!r}; the repository has: {listed}{hint}"
                ) from exc
            raise
        commit = self._git("rev-parse", "--verify", f"{ref}^{{commit}}", cwd=self.cache_dir)
        sha = commit.decode().strip()
        meta = self._git(
            "log", "-1", "--format=%an <%ae>%x00%cI%x00%s", sha, cwd=self.cache_dir
        ).decode(errors="replace")
        author, committed, subject = (meta.rstrip("\n").split("\0") + ["", "", ""])[:3]
        files = self._files(sha)
        info = RevisionInfo(
            # the commit and the subdirectory read from it: one commit read under two
            # subdirectories is two revisions (refused under one, admitted under the other)
            id=f"{sha}:{self.subdir}" if self.subdir else sha,
            kind=SourceKind.GIT,
            source=self.name,
            author=author,
            committed_at=datetime.fromisoformat(committed) if committed else None,
            message=subject,
        )
        return Revision(info=info, files=files)

    def _branches(self) -> list[str] | None:
        """The repository's branches (None when they cannot be listed either)."""
        try:
            listing = self._git("ls-remote", "--heads", "--", self._fetch_url, cwd=self.cache_dir)
        except SourceError:
            return None
        prefix = "refs/heads/"
        refs = (line.partition("\t")[2] for line in listing.decode(errors="replace").splitlines())
        return sorted(r.removeprefix(prefix) for r in refs if r.startswith(prefix))

    def _directories(self, sha: str, parent: str) -> list[str]:
        """The directories directly under ``parent`` ("" for the top) in a commit."""
        treeish = f"{sha}:{parent}" if parent else sha
        try:
            listing = self._git("ls-tree", "-d", "--name-only", "-z", treeish, cwd=self.cache_dir)
        except SourceError:
            return []
        names = (n.decode(errors="replace") for n in listing.split(b"\0") if n)
        return sorted(f"{parent}/{n}" if parent else n for n in names if not n.startswith("."))

    def _missing_subdir(self, sha: str, *, is_file: bool) -> MissingSubdirError:
        """The error for a subdirectory the commit does not have, with what it has."""
        parent = self.subdir.rpartition("/")[0]
        existing = self._directories(sha, parent)
        what = "is a file, not a directory" if is_file else "does not exist"
        listed = ", ".join(existing[:20]) if existing else "none"
        where = f"under {parent}/" if parent else "at the top"
        return MissingSubdirError(
            self.name,
            f"subdirectory {self.subdir!r} {what} in commit {sha[:12]} "
            f"(directories {where}: {listed})",
        )

    def _files(self, sha: str) -> tuple[IntentSource, ...]:
        args = ["ls-tree", "-r", "-z", "--full-tree", sha]
        if self.subdir:
            args += ["--", self.subdir]
        listing = self._git(*args, cwd=self.cache_dir)
        blobs: dict[str, str] = {}
        paths: list[str] = []
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            head, _, path_bytes = entry.partition(b"\t")
            paths.append(path_bytes.decode(errors="replace"))
            mode, kind, obj = head.decode().split()
            # symlinks (120000) and submodules would read outside the commit: skip them
            if kind == "blob" and mode in ("100644", "100755"):
                blobs[path_bytes.decode(errors="replace")] = obj
        names = intent_file_names(list(blobs))
        if self.subdir:
            # git keeps no empty directory: nothing under the prefix means there is no such
            # directory in this commit (or it names a file)
            if not any(path.startswith(f"{self.subdir}/") for path in paths):
                raise self._missing_subdir(sha, is_file=bool(paths))
            names = [n for n in names if n.startswith(f"{self.subdir}/")]
        if len(names) > MAX_FILES:
            raise SourceError(self.name, f"more than {MAX_FILES} intent files")
        if not names:
            return ()
        request = "".join(f"{blobs[n]}\n" for n in names).encode()
        output = self._git("cat-file", "--batch", stdin=request, cwd=self.cache_dir)
        files: list[IntentSource] = []
        offset = 0
        for name in names:
            header_end = output.index(b"\n", offset)
            _, kind, size = output[offset:header_end].decode().split()
            start = header_end + 1
            data = output[start : start + int(size)]
            offset = start + int(size) + 1  # the content is followed by a newline
            files.append(IntentSource(name, data))
        return tuple(files)


def open_source(
    location: str, *, branch: str | None = None, subdir: str = "", cache_dir: Path
) -> RevisionSource:
    """A directory source, or a Git source for a URL, a repository path or any ``branch``.

    Args:
        location: a directory of intent files, or a Git repository (path or URL).
        branch: the branch to follow (a Git source; default ``main``).
        subdir: the intents' directory inside a repository.
        cache_dir: where a Git source keeps its mirror.
    """
    path = Path(location)
    is_repository = (path / ".git").exists() or (path / "HEAD").is_file()
    looks_remote = "://" in location or (":" in location and not path.exists())
    if branch is not None or is_repository or looks_remote or location.endswith(".git"):
        return GitSource(location, branch=branch or "main", subdir=subdir, cache_dir=cache_dir)
    return DirectorySource(path / subdir if subdir else path)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IntentSetManager:
    """The active intent set: admission, refusal, quarantine, persisted in the store.

    Args:
        store: the intent store (its state is restored now).
        inventory: the devices intents may reference.
        support: what the controller can honour.
        path_devices: the devices each e2e-qos path may cross, if the topology is known.
        clock: the current time (UTC).
    """

    def __init__(
        self,
        store: IntentStore,
        *,
        inventory: Sequence[Device],
        support: Support = CURRENT_SUPPORT,
        path_devices: PathDevices | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.inventory = Inventory.from_devices(inventory)
        self.support = support
        self.path_devices = path_devices
        self.clock = clock
        self.state, problems = store.restore(
            inventory=self.inventory, support=support, path_devices=path_devices
        )
        for problem in problems:
            log.warning("%s", problem)
        self.last_error = ""  # why the source could not be read at the last poll
        self.last_refusal = ""  # why the source's revision was refused, until one is admitted

    @property
    def active(self) -> ActiveRevision | None:
        """The revision in force, if any."""
        return self.state.active

    @property
    def active_id(self) -> str:
        """The id of the revision in force ("" when none)."""
        return self.state.active.info.id if self.state.active else ""

    def enforced(self) -> tuple[Intent, ...]:
        """The intents the loop should run (conflict resolutions applied)."""
        return self.state.active.enforced if self.state.active else ()

    def notes(self, intent: str) -> tuple[str, ...]:
        """Reasons to show in an intent's status (conflicts, resolutions)."""
        if self.state.active is None:
            return ()
        return tuple(self.state.active.evaluation.notes.get(intent, ()))

    def status_without_loop(self, intent: str) -> IntentStatus:
        """The status of an intent the loop is not running, with the reasons why."""
        return not_running_status(intent, self.notes(intent), now=self.clock())

    def admit(
        self, revision: Revision, *, force: bool = False, allow_empty: bool = False
    ) -> Admission:
        """Admit or refuse a revision as a whole; record and log what happened.

        Args:
            revision: what the source holds.
            force: re-evaluate even when it is the active revision.
            allow_empty: admit a revision without any intent (removing every intent);
                otherwise it is refused and the active revision stays.
        """
        self.state, admission = admit(
            self.state,
            revision,
            now=self.clock(),
            inventory=self.inventory,
            support=self.support,
            path_devices=self.path_devices,
            force=force,
            allow_empty=allow_empty,
        )
        if admission.outcome is Outcome.REFUSED:
            self.last_refusal = f"revision {admission.revision.short}: {admission.reason}"
        elif admission.outcome in (Outcome.ADMITTED, Outcome.UNCHANGED):
            self.last_refusal = ""
        self._record(admission)
        return admission

    def quarantine(self, revision: RevisionInfo, reason: str) -> Admission:
        """Quarantine a revision (falling back to the last good one if it is active)."""
        self.state, admission = quarantine(self.state, revision, reason, now=self.clock())
        self._record(admission)
        return admission

    def change_failed(self, intent: str, reason: str) -> Admission | None:
        """A change for ``intent`` failed verification: quarantine its revision if to blame."""
        self.state, admission = change_failed(self.state, intent, reason, now=self.clock())
        if admission is not None:
            self._record(admission)
        return admission

    async def sync(self, source: RevisionSource) -> Admission | None:
        """Read the source (in a thread) and admit what it holds.

        Returns:
            The admission, or None when the source could not be read (logged, recorded in
            the store's polls, and retried at the next call; the active set stays).
        """
        try:
            revision = await asyncio.to_thread(source.read)
        except SourceError as exc:
            self.last_error = str(exc)
            self.store.record_poll(source.name, at=self.clock(), error=str(exc))
            log.warning("intent source unreadable, keeping the active revision: %s", exc)
            return None
        self.last_error = ""
        self.store.record_poll(source.name, at=self.clock())
        return self.admit(revision)

    def _record(self, admission: Admission) -> None:
        written = self.store.record_admission(admission)
        info = admission.revision
        if admission.outcome is Outcome.ADMITTED:
            log.info(
                "intent revision %s admitted from %s (%s): %s; %s",
                info.short,
                info.source,
                info.author or "no author",
                admission.reason,
                "; ".join(admission.diff.lines()) or "no change",
            )
        elif admission.outcome is Outcome.REFUSED and written:
            log.warning("intent revision %s refused: %s", info.short, admission.reason)
            for error in admission.evaluation.errors:
                log.warning("  %s", error)
        elif admission.outcome is Outcome.QUARANTINED:
            log.warning("intent revision %s quarantined: %s", info.short, admission.reason)

    def snapshot(self) -> GitOpsState:
        """The current state (for tests and the API)."""
        return self.state


class GitOpsObserver:
    """A controller observer that ties the loop to the revision handling.

    After every tick it records each intent's status change in the store, with the
    revision it ran from. When a change ends rolled back (its verification failed) it asks
    the manager whether the active revision is to blame; if the manager quarantines it and
    falls back, ``replace`` gets the intents to enforce now.

    Args:
        manager: the intent set manager.
        replace: makes an intent set the loop's active one
            (``controller.replace_intents``).
    """

    def __init__(
        self, manager: IntentSetManager, replace: Callable[[tuple[Intent, ...]], object]
    ) -> None:
        self.manager = manager
        self.replace = replace

    def controller_ready(self, controller: Controller) -> None:
        """Nothing to do: the manager already knows the intents the controller runs."""

    def tick_finished(self, report: TickReport) -> None:
        """Record the tick's status changes, and each intent's latest evaluation."""
        for status in report.statuses:
            self.manager.store.record_status(status, revision=self.manager.active_id)
        self.manager.store.record_latest(report.statuses, revision=self.manager.active_id)

    def change_started(self, decision: Decision, txn: str) -> None:
        """Nothing to do: the journal records it."""

    def change_finished(self, result: ChangeResult) -> None:
        """Quarantine the revision behind a change that failed verification."""
        if result.status is not ChangeStatus.ROLLED_BACK:
            return
        admission = self.manager.change_failed(result.intent, result.detail)
        if admission is not None and admission.switched:
            self.replace(self.manager.enforced())


class SourcePoller:
    """Polls a source on an interval, and at once when poked (SIGHUP, the API, a webhook).

    Args:
        manager: the intent set manager that admits what the source holds.
        source: the directory or Git source.
        interval: time between polls (Argo CD's default is 120 s, Flux's at least 60 s).
        on_switch: called with the intents to enforce whenever the active revision changes
            (``controller.replace_intents``).
    """

    def __init__(
        self,
        manager: IntentSetManager,
        source: RevisionSource,
        *,
        interval: timedelta,
        on_switch: Callable[[tuple[Intent, ...]], object],
    ) -> None:
        self.manager = manager
        self.source = source
        self.interval = interval
        self.on_switch = on_switch
        self._wake = asyncio.Event()
        self.polls = 0

    def poke(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    async def poll(self) -> Admission | None:
        """One poll: read, admit, and switch the loop's intents if the revision changed."""
        self._wake.clear()  # a poke from here on asks for another poll
        admission = await self.manager.sync(self.source)
        self.polls += 1
        if admission is not None and admission.switched:
            self.on_switch(self.manager.enforced())
        return admission

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (one poll at once, then every interval or poke)."""
        while not stop.is_set():
            await self.poll()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(
                    waiters,
                    timeout=self.interval.total_seconds(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
