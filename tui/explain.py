"""A decision's explanation as the operator reads it, from target to outcome (pure).

The policy journals its reasoning as a plain mapping (``Decision.explanation``): target,
observed value, model, bottleneck, candidates, guards, the chosen change. This module lays it
out in the order an operator asks the questions — what was wanted, what was seen, how sure,
where the problem is, what could be done, what stopped it, what was done, how it ended — and
keeps any key it does not know at the end, so a policy that explains more is never hidden.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from controller.facade import ChangeView
from controller.model import ChangeStatus
from tui.state import FeedEntry

__all__ = ["Line", "Section", "describe_detail", "explain"]

# the keys the sections below consume; anything else goes to "More"
_KNOWN = frozenset(
    {
        "target",
        "observed",
        "expectation",
        "model",
        "confidence",
        "bottleneck",
        "candidates",
        "guards",
        "chosen",
        "quarantined",
        "predicted",
    }
)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a section; ``verdict`` marks a check that passed (True) or failed."""

    text: str
    verdict: bool | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of an explanation."""

    title: str
    lines: tuple[Line, ...]


def _number(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _bottleneck(value: object) -> tuple[Line, ...]:
    if not isinstance(value, Mapping):
        return (Line("none found: no queue of the class is building up"),)
    where = f"{value.get('device', '?')} {value.get('interface', '?')}"
    parts = [f"queue delay {_number(value.get('queue_delay_ms', '?'))} ms"]
    drop = value.get("drop_ratio")
    if isinstance(drop, int | float):
        parts.append(f"drops {drop:.1%}")
    utilization = value.get("utilization")
    if isinstance(utilization, int | float):
        parts.append(f"utilisation {utilization:.0%}")
    return (Line(f"{where}: {', '.join(parts)}"),)


def _candidates(value: object) -> tuple[Line, ...]:
    if not isinstance(value, list) or not value:
        return (Line("none: no action this policy knows would help"),)
    lines = []
    for candidate in value:
        if isinstance(candidate, Mapping):
            lines.append(Line(f"{candidate.get('device', '?')}: {candidate.get('edit', '?')}"))
        else:
            lines.append(Line(str(candidate)))
    return tuple(lines)


def _guards(value: object) -> tuple[Line, ...]:
    if not isinstance(value, list) or not value:
        return (Line("not evaluated: there was nothing to act on"),)
    lines = []
    for guard in value:
        if not isinstance(guard, Mapping):
            lines.append(Line(str(guard)))
            continue
        passed = guard.get("passed")
        lines.append(
            Line(
                f"{guard.get('guard', '?')}: {guard.get('detail', '')}",
                passed if isinstance(passed, bool) else None,
            )
        )
    return tuple(lines)


def _plan(entry: FeedEntry, explanation: Mapping[str, object]) -> tuple[Line, ...]:
    decision = entry.decision
    if decision is not None and decision.change is not None:
        change = decision.change
        return (
            Line(f"change {change.id} on {change.device}: {change.reason}"),
            *(Line(f"  {change.device}: {edit.describe()}") for edit in change.edits),
        )
    if "quarantined" in explanation:
        return (Line(f"none: change {explanation['quarantined']} is quarantined"),)
    return (Line(f"none: {entry.summary}"),)


def _outcome(
    entry: FeedEntry, change: ChangeView | None, explanation: Mapping[str, object]
) -> tuple[Line, ...]:
    lines: list[Line] = []
    if "predicted" in explanation:
        lines.append(Line(f"predicted: {_number(explanation['predicted'])}"))
    result = entry.result
    if result is not None:
        confirmed = result.status is ChangeStatus.CONFIRMED
        lines.append(Line(f"transaction {result.change_id}: {result.status.value}", confirmed))
        lines.append(Line(f"observed: {result.detail}"))
    elif entry.txn:
        lines.append(Line(f"transaction {entry.txn}: in flight (verifying)"))
    elif entry.decision is not None and entry.decision.change is not None:
        lines.append(Line("not applied (dry-run, or held back)"))
    else:
        lines.append(Line("nothing applied"))
    if change is not None and change.rolled_back_by:
        lines.append(Line(f"rolled back by the operator: {change.rolled_back_by}", False))
    return tuple(lines)


def explain(entry: FeedEntry, change: ChangeView | None = None) -> tuple[Section, ...]:
    """The explanation of a feed entry, section by section.

    Args:
        entry: the decision (or operator action) from the feed.
        change: the journaled change that carried it out, when known (for its later fate).

    Returns:
        Sections in reading order: target, observed KPI, model, bottleneck, candidates,
        guards, chosen plan, outcome, then anything else the policy recorded.
    """
    decision = entry.decision
    who = "operator" if entry.by_operator else "controller"
    head = Section(
        "Decision",
        (Line(f"{entry.at:%Y-%m-%d %H:%M:%S} UTC, {who}, intent {entry.intent}"),)
        + (Line(entry.summary),),
    )
    if decision is None:
        return (head, Section("Outcome", _outcome(entry, change, {})))
    explanation = decision.explanation
    sections = [head]
    if "target" in explanation:
        expectation = explanation.get("expectation") or decision.expectation
        suffix = f" (expectation {expectation})" if expectation else ""
        sections.append(Section("Target", (Line(f"{explanation['target']}{suffix}"),)))
    if "observed" in explanation:
        sections.append(Section("Observed KPI", (Line(_number(explanation["observed"])),)))
    if "model" in explanation:
        model = [Line(str(explanation["model"]))]
        if "confidence" in explanation:
            model.append(Line(f"confidence {_number(explanation['confidence'])}"))
        sections.append(Section("Model and confidence", tuple(model)))
    if "bottleneck" in explanation:
        sections.append(Section("Bottleneck", _bottleneck(explanation["bottleneck"])))
    if "candidates" in explanation:
        sections.append(Section("Candidates", _candidates(explanation["candidates"])))
    if "guards" in explanation:
        sections.append(Section("Guards", _guards(explanation["guards"])))
    if explanation or decision.change is not None:
        sections.append(Section("Chosen plan", _plan(entry, explanation)))
    sections.append(Section("Outcome", _outcome(entry, change, explanation)))
    more = {k: v for k, v in explanation.items() if k not in _KNOWN}
    if more:
        sections.append(
            Section(
                "More", tuple(Line(f"{k}: {json.dumps(v, default=str)}") for k, v in more.items())
            )
        )
    return tuple(sections)


def describe_detail(detail: Mapping[str, object], *, width: int = 100) -> str:
    """A journal step's detail on one line: scalars as ``key=value``, lists of text joined,
    configurations (long lists) counted rather than dumped."""
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, str | int | float | bool):
            parts.append(f"{key}={_number(value)}")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts.append(f"{key}: {'; '.join(str(v) for v in value)}")
        elif isinstance(value, list):
            parts.append(f"{key}: {len(value)} entries")
        else:
            parts.append(f"{key}: {json.dumps(value, default=str)}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"
