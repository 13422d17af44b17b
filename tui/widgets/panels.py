"""Rendering of the detail panels of Approvals, Models and Intents (history, revisions).

Pure functions from the facade's views to Rich renderables; everything that comes from the
network or the files is Rich ``Text``, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text

from analytics.registry import ModelStatus, MonitorState, ShadowComparison
from controller.facade import (
    ApprovalView,
    IntentRevision,
    ModelView,
    RevisionStep,
    RevisionsView,
)
from tui.explain import Line, Section, edit_text, more, reasoning
from tui.widgets.styles import approval_status

__all__ = ["approval_text", "history_text", "model_text", "revisions_text"]

_OP = {"add": ("+", "green"), "change": ("~", "yellow"), "remove": ("-", "red")}


def _heading(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def _time(at: datetime | None, *, date: bool = False) -> str:
    if at is None:
        return "?"
    return f"{at:%Y-%m-%d %H:%M:%S}" if date else f"{at:%H:%M:%S}"


def _lines(text: Text, lines: Sequence[Line], indent: str = "  ") -> None:
    for line in lines:
        if line.verdict is True:
            text.append(f"{indent}✔ ", style="green")
        elif line.verdict is False:
            text.append(f"{indent}✘ ", style="red")
        else:
            text.append(indent)
        text.append(f"{line.text}\n")


def _sections(text: Text, sections: Sequence[Section]) -> None:
    for section in sections:
        text.append(f"{section.title}\n", style="bold")
        _lines(text, section.lines)


# --------------------------------------------------------------------------- approvals


def approval_text(approval: ApprovalView | None) -> Text:
    """A plan waiting for (or settled by) an operator: what, where, why, and its fate."""
    if approval is None:
        return Text("no plan selected: approve-mode intents ask here", style="dim")
    text = Text()
    text.append(approval.id, style="bold")
    text.append("  ")
    text.append_text(approval_status(approval.status))
    text.append(f"  intent {approval.intent}\n")
    devices = ", ".join(approval.devices) or "?"
    text.append(f"requested {_time(approval.requested_at)} on {devices}\n", style="dim")
    text.append(f"{approval.summary}\n")
    if approval.decided_at is not None or approval.reason:
        text.append(f"{approval.status.value} {_time(approval.decided_at)}", style="yellow")
        text.append(f": {approval.reason}\n" if approval.reason else "\n", style="yellow")
    _heading(text, "Plan")
    if not approval.edits:
        text.append("  (no edits recorded)\n", style="dim")
    for edit in approval.edits:
        sign, style = _OP.get(edit.op, ("·", ""))
        text.append(f"  {edit.device:<6} ")
        text.append(f"{sign} {edit_text(edit.path, edit.old, edit.new)}\n", style=style)
    sections = reasoning(approval.explanation)
    extra = more(approval.explanation)
    if extra is not None:
        sections.append(extra)
    if sections:
        _heading(text, "Why")
        _sections(text, sections)
    text.rstrip()
    return text


# --------------------------------------------------------------------------- models


def _monitor(
    label: str, monitor: MonitorState, reference: float | None, baseline: str
) -> list[str]:
    """A model's live monitoring in two short lines (80 columns)."""
    head = f"  {label:<11}"
    if monitor.samples == 0:
        return [f"{head}no live samples yet"]
    first = f"{head}{monitor.samples} samples, live error {monitor.error:.3g}"
    if reference is not None:
        first += f" (validation {reference:.3g})"
    second = f"  {'':<11}drift {monitor.drift:.2g}σ"
    if monitor.baseline_error is not None:
        second += f", rule {baseline} {monitor.baseline_error:.3g} on the same samples"
    return [first, second]


def _shadow(text: Text, shadow: ShadowComparison | None) -> None:
    """The challenger's shadow run against the incumbent, in two short lines (80 columns)."""
    if shadow is None:
        return
    head = f"  {f'shadow v{shadow.version}':<11}"
    text.append(
        f"{head}live error {shadow.challenger_error:.3g} vs {shadow.incumbent}'s "
        f"{shadow.incumbent_error:.3g}\n"
    )
    text.append(f"  {'':<11}on {shadow.samples} samples: ")
    text.append(
        f"gain {shadow.gain:.1%} over {shadow.incumbent}\n",
        style="green" if shadow.gain > 0 else "yellow",
    )


def model_text(model: ModelView | None) -> Text:
    """One model: who answers, accuracy per version, live monitoring, fallback, events."""
    if model is None:
        return Text("no model selected", style="dim")
    record = model.record
    kind = record.kind
    text = Text()
    text.append(record.name, style="bold")
    champion_version = model.version(record.champion)
    kind_text = f"{kind.value} ({champion_version.model_type})" if champion_version else kind.value
    text.append(f"  {kind_text}  ")
    fallback = record.status is ModelStatus.FALLBACK
    text.append(record.status.value, style="bold red" if fallback else "green")
    text.append(f"  answered by {model.answering}\n")
    if record.reason:
        text.append(f"reason: {record.reason}\n", style="yellow" if fallback else "dim")
    better = "higher" if kind.higher_is_better else "lower"
    _heading(text, f"Accuracy ({kind.metric}, {better} is better)")
    if not model.versions:
        text.append("  no version stored\n", style="dim")
    for version in model.versions:
        value = version.metrics.get(kind.metric)
        role = (
            "champion"
            if version.version == record.champion
            else "challenger"
            if version.version == record.challenger
            else ""
        )
        trained = f"{version.created_at:%Y-%m-%d}" if version.created_at else "?"
        text.append(f"  v{version.version:<3}", style="bold" if role else "dim")
        text.append(f"{'?' if value is None else f'{value:.4g}':>8}  ")
        text.append(f"{role:<11}", style="cyan" if role else "")
        text.append(f"{version.training_samples} samples, trained {trained}\n", style="dim")
    _heading(text, "Monitoring")
    if record.champion is None:
        # nothing is monitored as the champion: the rule answers (netpilot models show too)
        lines = [f"  {'champion':<11}none: the {kind.baseline} rule answers"]
    else:
        champion = model.version(record.champion)
        reference = champion.metrics.get("reference_error") if champion else None
        lines = _monitor("champion", record.monitor, reference, kind.baseline)
    if record.challenger is not None:
        challenger = model.version(record.challenger)
        shadow = challenger.metrics.get("reference_error") if challenger else None
        lines += _monitor("challenger", record.challenger_monitor, shadow, kind.baseline)
    for line in lines:
        text.append(f"{line}\n")
    _shadow(text, model.shadow)
    _heading(text, "Fallback")
    if record.champion is None:
        text.append(
            f"  ✘ no champion: the {kind.baseline} rule answers until a version is promoted\n",
            style="red",
        )
    elif fallback:
        text.append(f"  ✘ the rule {kind.baseline} answers instead of the model\n", style="red")
    else:
        text.append(
            f"  ✔ the champion answers; the rule {kind.baseline} takes over if it degrades\n",
            style="green",
        )
    if record.events:
        _heading(text, "Events")
        for event in reversed(record.events[-8:]):
            which = "" if event.version is None else f" v{event.version}"
            text.append(f"  {_time(event.at, date=True)} ", style="dim")
            text.append(f"{event.kind.value}{which}: {event.reason}\n")
    text.rstrip()
    return text


# --------------------------------------------------------------------------- intents


def history_text(name: str, history: tuple[IntentRevision, ...] | None, *, store: bool) -> Text:
    """The revisions that added, changed or removed an intent, newest first."""
    text = Text()
    if not name:
        return Text("select an intent to see its history", style="dim")
    if history is None or not store:
        text.append("No revision history here.\n", style="bold")
        text.append(
            "This controller read its intent files once at start (netpilot demo); the daemon "
            "(netpilot run) records every revision it admits, refuses or quarantines in the "
            "intent store next to its journal.",
            style="dim",
        )
        return text
    if not history:
        return Text(f"no recorded revision touched {name}", style="dim")
    for entry in history:
        quarantined = entry.outcome != "admitted"
        text.append(f"{_time(entry.at, date=True)} ", style="dim")
        text.append(entry.short, style="bold")
        text.append(f" {entry.outcome}", style="red" if quarantined else "green")
        text.append(f" {entry.change}", style="cyan")
        if entry.generation:
            text.append(f"  gen {entry.generation[:12]}", style="dim")
        text.append("\n")
        who = " · ".join(p for p in (entry.author, entry.message) if p)
        if who:
            text.append(f"  {who}\n", style="dim")
        for change in entry.fields:
            text.append(f"  {change}\n")
    text.rstrip()
    return text


def _step_line(text: Text, step: RevisionStep) -> None:
    style = {"admitted": "green", "refused": "red", "quarantined": "bold red"}
    text.append(f"  {_time(step.at, date=True)} ", style="dim")
    text.append(step.short, style="bold")
    text.append(f" {step.outcome}", style=style.get(step.outcome, ""))
    text.append(f": {step.reason}\n")


def _no_store(loaded_from: Sequence[str]) -> Text:
    text = Text()
    text.append("No intent store: no revisions, refusals or quarantine to show.\n", "bold")
    text.append(
        "This controller read its intent files once at start (netpilot demo). The daemon "
        "(netpilot run) follows a directory or a Git branch and records each revision.\n",
        style="dim",
    )
    if loaded_from:
        _heading(text, "Loaded from")
        for file in loaded_from:
            text.append(f"  {file}\n")
    text.rstrip()
    return text


def _source(text: Text, view: RevisionsView) -> None:
    text.append("Source ", style="bold")
    text.append(view.source or "?")
    if view.last_poll is not None:
        text.append(f"  polled {_time(view.last_poll)} ", style="dim")
        text.append("failed" if view.poll_error else "ok", "red" if view.poll_error else "green")
    text.append("\n")
    if view.poll_error:
        text.append(f"  {view.poll_error}\n", style="red")


def _active(text: Text, active: RevisionStep | None, intent: str) -> None:
    text.append("Active ", style="bold")
    if active is None:
        text.append("none\n", style="red")
        return
    text.append(active.short, style="bold green")
    text.append(f" admitted {_time(active.at, date=True)}\n", style="dim")
    who = " · ".join(p for p in (active.author, active.message) if p)
    if who:
        text.append(f"  {who}\n")
    for note in active.notes.get(intent, ()) if intent else ():
        text.append(f"  {intent}: {note}\n", style="yellow")


def _problems(text: Text, view: RevisionsView) -> None:
    refusals = view.refusals
    if refusals:
        _heading(text, "Refused (the source is ahead of what runs)")
        for step in refusals:
            _step_line(text, step)
            for problem in step.errors[:5]:
                text.append(f"    ✘ {problem}\n", style="red")
    if view.quarantined:
        _heading(text, "Quarantined (not applied again)")
        for revision, reason in view.quarantined.items():
            text.append(f"  ✘ {revision.removeprefix('sha256:')[:12]}: ", style="red")
            text.append(f"{reason}\n")


def _conflicts(text: Text, active: RevisionStep | None) -> None:
    conflicts = active.conflicts if active is not None else ()
    _heading(text, "Conflicts in the active revision")
    if not conflicts:
        text.append("  none\n", style="dim")
    for conflict in conflicts:
        text.append(f"  {conflict.describe()}\n")
        resolution = conflict.resolution or "no resolution"
        winner = f" (winner {conflict.winner})" if conflict.winner else ""
        text.append(f"    → {resolution}{winner}\n", style="cyan")


def revisions_text(
    view: RevisionsView | None, *, intent: str = "", loaded_from: Sequence[str] = ()
) -> Text:
    """The intent source's state: the active revision, refusals with their validation
    errors, quarantine, conflicts and their resolution, and the latest steps.

    Args:
        view: what the intent store holds (``None``: there is no store).
        intent: the selected intent, whose conflict notes are shown.
        loaded_from: the files the intents were loaded from (shown without a store).
    """
    if view is None:
        return _no_store(loaded_from)
    text = Text()
    _source(text, view)
    active = view.active
    _active(text, active, intent)
    _problems(text, view)
    _conflicts(text, active)
    if view.steps:
        _heading(text, "Latest steps")
        for step in view.steps[:8]:
            _step_line(text, step)
    text.rstrip()
    return text
