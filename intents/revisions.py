"""GitOps revision handling as a pure state machine: admit, refuse, quarantine, fall back.

The IO shell (controller/gitops.py) reads a revision of the intent source (a Git commit or
a directory checksum) and hands it here with the time. Each step returns the new
:class:`GitOpsState` and an :class:`Admission` that says what happened and why:

- a revision is admitted as a whole or refused as a whole: one invalid file, or a conflict
  that equal priorities leave unresolved, refuses every file of it, and the last good
  revision stays active (nothing is half-applied);
- a revision whose change failed verification is quarantined: the controller falls back to
  the last good revision before it, and the quarantined one is skipped every time it is
  seen again, until a newer revision arrives (unlike the auto-sync loops of argo-cd #11713
  or flux2 #5916, a bad commit is not re-applied forever);
- intents that a new revision removes are gone from the active set, so they stop being
  enforced.

Nothing here reads a clock, a file or a repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from controller.errors import IntentValidationError
from controller.model import AdminState, Intent, IntentMode
from intents.conflicts import Conflict, PathDevices, resolve_conflicts
from intents.diff import IntentSetDiff, diff_intent_sets
from intents.inventory import Inventory
from intents.load import IntentSource, IntentWarning, Locations, load_intent_set
from intents.support import CURRENT_SUPPORT, Support

__all__ = [
    "ActiveRevision",
    "Admission",
    "Evaluation",
    "GitOpsState",
    "Outcome",
    "Revision",
    "RevisionInfo",
    "SourceKind",
    "admit",
    "blame",
    "change_failed",
    "evaluate",
    "quarantine",
]

HISTORY_LIMIT = 10  # good revisions kept to fall back to


class SourceKind(str, Enum):
    """Where intents come from."""

    DIRECTORY = "directory"
    GIT = "git"


class Outcome(str, Enum):
    """What happened to a revision."""

    ADMITTED = "admitted"  # valid: now the active revision
    UNCHANGED = "unchanged"  # the active revision again: nothing to do
    REFUSED = "refused"  # invalid: refused as a whole, the last good one stays active
    QUARANTINED = "quarantined"  # its change failed verification: fell back to the last good
    SKIPPED = "skipped"  # a quarantined revision seen again: ignored until a newer one


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """Where a revision came from: a Git commit or a directory checksum.

    ``id`` is the commit hash (``<commit>:<subdir>`` when only a subdirectory of the
    repository is read: one commit read under two subdirectories is two revisions), or
    ``sha256:<hex>`` over a directory's file names and bytes.
    """

    id: str
    kind: SourceKind
    source: str
    author: str = ""
    committed_at: datetime | None = None
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "source": self.source,
            "author": self.author,
            "committedAt": self.committed_at.isoformat() if self.committed_at else None,
            "message": self.message,
        }

    @property
    def short(self) -> str:
        """The id as people write it (12 hex digits, and the subdirectory if any)."""
        head, colon, subdir = self.id.removeprefix("sha256:").partition(":")
        return f"{head[:12]}{colon}{subdir}"


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of the intent source: where it came from and every intent file in it."""

    info: RevisionInfo
    files: tuple[IntentSource, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A revision's files loaded and checked for conflicts (valid when ``errors`` is empty)."""

    intents: tuple[Intent, ...] = ()
    enforced: tuple[Intent, ...] = ()
    errors: tuple[IntentValidationError, ...] = ()
    warnings: tuple[IntentWarning, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    locations: Locations = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def evaluate(
    files: tuple[IntentSource, ...],
    *,
    inventory: Inventory | None,
    support: Support = CURRENT_SUPPORT,
    path_devices: PathDevices | None = None,
) -> Evaluation:
    """Load files as one intent set and resolve the conflicts between its intents."""
    loaded = load_intent_set(files, inventory=inventory, support=support)
    if not loaded.ok:
        return Evaluation(errors=loaded.errors, warnings=loaded.warnings)
    resolution = resolve_conflicts(
        loaded.intents,
        inventory=inventory,
        path_devices=path_devices,
        locations=loaded.locations,
        twin_arbitration=support.twin_arbitration,
    )
    return Evaluation(
        intents=loaded.intents,
        enforced=resolution.enforced,
        errors=resolution.errors,
        warnings=loaded.warnings,
        conflicts=resolution.conflicts,
        notes=resolution.notes,
        locations=loaded.locations,
    )


@dataclass(frozen=True, slots=True)
class ActiveRevision:
    """The revision in force: its intents as written, and as enforced after conflicts.

    ``introduced`` maps each intent to the revision that brought its current meaning
    (generation), so a failed change can be blamed on the revision that caused it.
    """

    info: RevisionInfo
    files: tuple[IntentSource, ...]
    evaluation: Evaluation
    introduced: Mapping[str, str]
    admitted_at: datetime

    @property
    def intents(self) -> tuple[Intent, ...]:
        """The intents as the files declare them."""
        return self.evaluation.intents

    @property
    def enforced(self) -> tuple[Intent, ...]:
        """What the loop runs: the intents with every conflict resolution applied."""
        return self.evaluation.enforced


@dataclass(frozen=True, slots=True)
class Admission:
    """What one step did, for the store, the logs and ``intents get``."""

    outcome: Outcome
    revision: RevisionInfo
    at: datetime
    reason: str
    active: ActiveRevision | None
    diff: IntentSetDiff = field(default_factory=IntentSetDiff)
    evaluation: Evaluation = field(default_factory=Evaluation)
    # the active revision changed: the loop must switch to active.enforced (or to nothing)
    switched: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "revision": self.revision.as_dict(),
            "at": self.at.isoformat(),
            "reason": self.reason,
            "active": self.active.info.as_dict() if self.active else None,
            "switched": self.switched,
            "diff": self.diff.as_dict(),
            "errors": [e.as_dict() for e in self.evaluation.errors],
            "warnings": [w.as_dict() for w in self.evaluation.warnings],
            "conflicts": [c.as_dict() for c in self.evaluation.conflicts],
        }


@dataclass(frozen=True, slots=True)
class GitOpsState:
    """Everything the revision handling remembers.

    ``history`` holds earlier good revisions, newest first, to fall back to;
    ``quarantined`` maps revision ids to why they were quarantined.
    """

    active: ActiveRevision | None = None
    history: tuple[ActiveRevision, ...] = ()
    quarantined: Mapping[str, str] = field(default_factory=dict)


def _intents_of(active: ActiveRevision | None) -> tuple[Intent, ...]:
    return active.intents if active else ()


def admit(
    state: GitOpsState,
    revision: Revision,
    *,
    now: datetime,
    inventory: Inventory | None,
    support: Support = CURRENT_SUPPORT,
    path_devices: PathDevices | None = None,
    force: bool = False,
    allow_empty: bool = False,
) -> tuple[GitOpsState, Admission]:
    """Admit a revision as a whole, or refuse it as a whole.

    A revision without any intent (no intent file, or only empty files) is refused unless
    ``allow_empty``: admitting it would remove every intent, and an empty source is far more
    often a wrong directory, branch or checkout than an operator's wish.

    Args:
        state: the current state.
        revision: the revision read from the source.
        now: the current time.
        inventory: the inventory references are checked against.
        support: what the controller can honour.
        path_devices: devices each e2e-qos path may cross, when the topology is known.
        force: re-evaluate even when the revision is already active (the inventory changed).
        allow_empty: admit a revision that holds no intent (the operator said so).

    Returns:
        The new state and what happened.
    """
    info = revision.info
    if info.id in state.quarantined:
        return state, Admission(
            Outcome.SKIPPED,
            info,
            now,
            f"quarantined: {state.quarantined[info.id]}; waiting for a newer revision",
            state.active,
        )
    if state.active is not None and state.active.info.id == info.id and not force:
        return state, Admission(Outcome.UNCHANGED, info, now, "already active", state.active)
    evaluation = evaluate(
        revision.files, inventory=inventory, support=support, path_devices=path_devices
    )
    if not evaluation.ok:
        kept = (
            f"revision {state.active.info.short} stays active"
            if state.active
            else "no revision is active"
        )
        return state, Admission(
            Outcome.REFUSED,
            info,
            now,
            f"{len(evaluation.errors)} error(s): the whole revision is refused; {kept}",
            state.active,
            evaluation=evaluation,
        )
    if not evaluation.intents and not allow_empty:
        return state, Admission(
            Outcome.REFUSED,
            info,
            now,
            _empty_reason(revision, state.active),
            state.active,
            evaluation=evaluation,
        )
    previous = state.active
    introduced = {
        intent.name: _introduced_by(previous, intent, info.id) for intent in evaluation.intents
    }
    active = ActiveRevision(info, revision.files, evaluation, introduced, now)
    history = state.history
    if previous is not None and previous.info.id != info.id:
        history = (previous, *history)[:HISTORY_LIMIT]
    diff = diff_intent_sets(_intents_of(previous), evaluation.intents)
    return replace(state, active=active, history=history), Admission(
        Outcome.ADMITTED,
        info,
        now,
        f"{len(evaluation.intents)} intent(s) admitted"
        + (f", {len(evaluation.conflicts)} conflict(s) resolved" if evaluation.conflicts else ""),
        active,
        diff,
        evaluation,
        switched=True,
    )


def _empty_reason(revision: Revision, active: ActiveRevision | None) -> str:
    """Why a revision without intents is refused, and what stays in force."""
    holds = (
        f"its {len(revision.files)} intent file(s) hold no intent"
        if revision.files
        else "it holds no intent file"
    )
    if active is None:
        kept = "no revision is active"
    else:
        removed = ", ".join(i.name for i in active.intents) or "none"
        kept = (
            f"admitting it would remove every intent ({removed}); "
            f"revision {active.info.short} stays active"
        )
    return (
        f"{holds}: an empty revision is refused; {kept} "
        "(to remove every intent on purpose: netpilot intents apply --allow-empty)"
    )


def _introduced_by(previous: ActiveRevision | None, intent: Intent, revision: str) -> str:
    if previous is None:
        return revision
    for earlier in previous.intents:
        if earlier.name == intent.name and earlier.generation == intent.generation:
            return previous.introduced.get(intent.name, previous.info.id)
    return revision


def quarantine(
    state: GitOpsState, revision: RevisionInfo, reason: str, *, now: datetime
) -> tuple[GitOpsState, Admission]:
    """Quarantine a revision; when it is the active one, fall back to the last good one.

    Args:
        state: the current state.
        revision: the revision to quarantine.
        reason: why (shown in status, logs and ``intents get``).
        now: the current time.

    Returns:
        The new state (the revision is skipped from now on) and what happened.
    """
    quarantined = {**state.quarantined, revision.id: reason}
    if state.active is None or state.active.info.id != revision.id:
        new_state = replace(state, quarantined=quarantined)
        return new_state, Admission(
            Outcome.QUARANTINED, revision, now, reason, state.active, IntentSetDiff()
        )
    history = tuple(h for h in state.history if h.info.id not in quarantined)
    fallback = _no_bolder(history[0], state.active) if history else None
    new_state = GitOpsState(active=fallback, history=history[1:], quarantined=quarantined)
    diff = diff_intent_sets(state.active.intents, _intents_of(fallback))
    back_to = f"fell back to revision {fallback.info.short}" if fallback else "no earlier revision"
    return new_state, Admission(
        Outcome.QUARANTINED, revision, now, f"{reason}; {back_to}", fallback, diff, switched=True
    )


# how far each mode lets the controller go on its own (higher: further)
_AUTONOMY = {IntentMode.DRY_RUN: 0, IntentMode.APPROVE: 1, IntentMode.AUTO: 2}


def _no_bolder(fallback: ActiveRevision, quarantined: ActiveRevision) -> ActiveRevision:
    """The fallback revision, held to the caution of the revision it replaces.

    The quarantined revision is the operators' latest word. Where it made an intent more
    cautious (``approve`` or ``dry-run`` instead of ``auto``, or deactivated it), falling
    back must not undo that: the fallback's meaning (targets, objects) comes back, its
    autonomy does not grow. Each capped intent carries a note saying so.
    """
    latest = {i.name: i for i in quarantined.enforced}
    enforced: list[Intent] = []
    notes = {name: tuple(lines) for name, lines in fallback.evaluation.notes.items()}
    for intent in fallback.enforced:
        newer = latest.get(intent.name)
        if newer is None:
            enforced.append(intent)
            continue
        capped = intent
        if _AUTONOMY[newer.mode] < _AUTONOMY[intent.mode]:
            capped = replace(capped, mode=newer.mode)
        if newer.admin_state is AdminState.DEACTIVATED:
            capped = replace(capped, admin_state=AdminState.DEACTIVATED)
        if capped != intent:
            notes[intent.name] = (
                *notes.get(intent.name, ()),
                f"fell back to revision {fallback.info.short} with mode {capped.mode.value} "
                f"and adminState {capped.admin_state.value}, as the quarantined revision "
                f"{quarantined.info.short} set them (a fallback never acts more on its own "
                "than the operators' latest revision allowed)",
            )
        enforced.append(capped)
    evaluation = replace(fallback.evaluation, enforced=tuple(enforced), notes=notes)
    return replace(fallback, evaluation=evaluation)


def blame(state: GitOpsState, intent: str) -> str | None:
    """The revision that brought the active meaning of ``intent``, if it is active."""
    if state.active is None:
        return None
    return state.active.introduced.get(intent)


def change_failed(
    state: GitOpsState, intent: str, reason: str, *, now: datetime
) -> tuple[GitOpsState, Admission | None]:
    """React to a change for ``intent`` that failed verification.

    The active revision is quarantined only when it is what made the intent mean what it
    means now and there is a good revision before it to go back to. A failure of an intent
    that an earlier revision introduced is the network's, not this revision's: the loop's
    own quarantine of the change handles that.

    Returns:
        The new state, and the quarantine admission or None when nothing changed.
    """
    active = state.active
    if active is None or blame(state, intent) != active.info.id:
        return state, None
    if not any(h.info.id not in state.quarantined for h in state.history):
        return state, None
    return quarantine(
        state,
        active.info,
        f"a change for intent {intent!r} of this revision failed verification: {reason}",
        now=now,
    )
