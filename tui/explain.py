"""A decision's explanation as the operator reads it, from target to outcome (pure).

The policy journals its reasoning as a plain mapping (``Decision.explanation``): target,
observed value, model, bottleneck, candidates, guards, the chosen change. This module lays it
out in the order an operator asks the questions — what was wanted, what was seen, how sure,
where the problem is, what could be done, what stopped it, what was done, how it ended — and
keeps any key it does not know at the end, so a policy that explains more is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analytics.watch import Anomaly
from controller.facade import ChangeView
from controller.formatting import UNSET, edit_text, unset_text, value_text
from controller.formatting import number_text as _number
from controller.model import ChangeStatus
from tui.state import FeedEntry

__all__ = [
    "UNSET",
    "Line",
    "Section",
    "describe_detail",
    "edit_text",
    "explain",
    "more",
    "reasoning",
    "tree",
    "unset_text",
    "value_text",
]

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


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def tree(key: str, value: object, depth: int = 0) -> list[Line]:
    """A value of any shape as indented ``key: value`` lines (mappings and lists nest).

    A few named numbers stay on one line (``predicted: latencyMs 9.14``), as does a list of
    short scalars; a list of mappings is written as YAML would
    (``- first: ...`` then its other keys under it).
    """
    pad = "  " * depth
    label = f"{pad}{key}: " if key else pad
    if isinstance(value, Mapping):
        if not value:
            return [Line(f"{label}none")]
        if key and _numbers(value):  # predicted: latencyMs 9.14, stallRatio 0.011
            return [Line(f"{label}{value_text(value)}")]
        lines = [Line(f"{label.rstrip()}")] if key else []
        for k, v in value.items():
            if not _empty(v):  # a key a policy left unset says nothing
                lines += tree(str(k), v, depth + 1 if key else depth)
        return lines
    if isinstance(value, list | tuple):
        if not value:
            return [Line(f"{label}none")]
        if all(_scalar(v) for v in value) and sum(len(str(v)) for v in value) < 60:
            return [Line(f"{label}{', '.join(_number(v) for v in value)}")]
        lines = [Line(label.rstrip())]
        for item in value:
            lines += _list_item(item, depth + 1)
        return lines
    return [Line(f"{label}{_number(value)}")]


def _numbers(value: Mapping[object, object]) -> bool:
    """A few named numbers: one line (``latencyMs 9.14, stallRatio 0.011``)."""
    return (
        len(value) <= 6
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
        and sum(len(str(k)) + 6 for k in value) < 70
    )


def _list_item(item: object, depth: int) -> list[Line]:
    pad = "  " * depth
    if isinstance(item, Mapping) and item:
        nested = tree("", item, depth + 1)
        first = nested[0].text.lstrip()
        return [Line(f"{pad}- {first}"), *nested[1:]]
    if isinstance(item, Mapping | list | tuple):
        nested = tree("", item, depth + 1)
        return [Line(f"{pad}-"), *nested]
    return [Line(f"{pad}- {_number(item)}")]


def _extra(value: Mapping[str, object], known: frozenset[str], depth: int) -> list[Line]:
    """A mapping's keys beyond ``known``, as tree lines (what a policy added)."""
    lines: list[Line] = []
    for key, item in value.items():
        if key not in known and not _empty(item):
            lines += tree(str(key), item, depth)
    return lines


def _empty(value: object) -> bool:
    """Nothing to show: a value a policy left unset (None, an empty mapping or list)."""
    return value is None or (isinstance(value, Mapping | list | tuple) and not value)


def _model(value: object, explanation: Mapping[str, object]) -> tuple[Line, ...]:
    """The model (or rule) that answered; the registry writes a mapping, older policies a
    sentence."""
    lines: list[Line] = []
    if isinstance(value, Mapping):
        name = value.get("name", "?")
        if value.get("source") == "model":
            version = value.get("version")
            who = f"{name}{f' v{version}' if version is not None else ''} (model)"
        else:
            who = f"{name}: rule {value.get('baseline', '?')} answered"
        lines.append(Line(who))
        if value.get("reason"):
            lines.append(Line(f"why this one: {value['reason']}"))
        if not _empty(value.get("confidence")):
            lines.append(Line(_confidence(value["confidence"])))
        lines += _extra(
            value,
            frozenset({"name", "source", "version", "baseline", "reason", "confidence", "kind"}),
            0,
        )
    else:
        lines.append(Line(_number(value)))
    if not _empty(explanation.get("confidence")):
        lines.append(Line(_confidence(explanation["confidence"])))
    return tuple(lines)


def _confidence(value: object) -> str:
    """``confidence: 0.93``; none given: ``confidence: n/a (no model estimate)``."""
    if value is None:
        return "confidence: n/a (no model estimate)"
    return f"confidence: {_number(value)}"


def _bottleneck(value: object) -> tuple[Line, ...]:
    if value is None or value == {}:
        return (Line("none found: no queue of the class is building up"),)
    if not isinstance(value, Mapping):
        return tuple(tree("", value))  # a shape a newer policy writes: shown as it is
    where = f"{value.get('device', '?')} {value.get('interface', '?')}"
    parts = [f"queue delay {_number(value.get('queue_delay_ms', '?'))} ms"]
    drop = value.get("drop_ratio")
    if isinstance(drop, int | float):
        parts.append(f"drops {drop:.1%}")
    utilization = value.get("utilization")
    if isinstance(utilization, int | float):
        parts.append(f"utilisation {utilization:.0%}")
    known = frozenset({"device", "interface", "queue_delay_ms", "drop_ratio", "utilization"})
    return (Line(f"{where}: {', '.join(parts)}"), *_extra(value, known, 1))


def _candidates(value: object, *, fulfilled: bool = False) -> tuple[Line, ...]:
    if value is None or value in ([], ()):
        if fulfilled:
            return (Line("none needed: the intent is fulfilled"),)
        return (Line("none: no action this policy knows would help"),)
    if not isinstance(value, list | tuple):
        return tuple(tree("", value))  # a shape a newer policy writes: shown as it is
    lines: list[Line] = []
    for candidate in value:
        if isinstance(candidate, Mapping):
            device, edit = candidate.get("device", "?"), candidate.get("edit", "?")
            lines.append(Line(f"{_number(device)}: {_number(edit)}"))
            lines += _extra(candidate, frozenset({"device", "edit"}), 1)
        else:
            lines += _list_item(candidate, 0)
    return tuple(lines)


def _guards(value: object) -> tuple[Line, ...]:
    if value is None or value in ([], ()):
        return (Line("not evaluated: there was nothing to act on"),)
    if not isinstance(value, list | tuple):
        return tuple(tree("", value))  # a shape a newer policy writes: shown as it is
    lines: list[Line] = []
    for guard in value:
        if not isinstance(guard, Mapping):
            lines += _list_item(guard, 0)
            continue
        passed = guard.get("passed")
        lines.append(
            Line(
                f"{guard.get('guard', '?')}: {guard.get('detail', '')}",
                passed if isinstance(passed, bool) else None,
            )
        )
        lines += _extra(guard, frozenset({"guard", "detail", "passed"}), 2)
    return tuple(lines)


def _plan(entry: FeedEntry, explanation: Mapping[str, object]) -> tuple[Line, ...]:
    decision = entry.decision
    if decision is not None and decision.change is not None:
        change = decision.change
        return (
            Line(f"change {change.id} on {change.device}: {change.reason}"),
            *(
                Line(f"  {change.device}: {edit_text('/'.join(edit.path), edit.old, edit.new)}")
                for edit in change.edits
            ),
        )
    if "quarantined" in explanation:
        return (Line(f"none: change {explanation['quarantined']} is quarantined"),)
    if _fulfilled(entry):
        return (Line("none needed: the intent is fulfilled"),)
    return (Line(f"none: {entry.summary}"),)


def _outcome(
    entry: FeedEntry, change: ChangeView | None, explanation: Mapping[str, object]
) -> tuple[Line, ...]:
    lines: list[Line] = []
    if not _empty(explanation.get("predicted")):
        lines.append(Line(f"predicted: {_number(explanation['predicted'])}"))
    if _fulfilled(entry) and entry.result is None and not entry.txn:
        lines.append(Line("nothing to do: the intent is fulfilled"))
        return tuple(lines)
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


def _fulfilled(entry: FeedEntry) -> bool:
    """Whether the decision found its intent fulfilled (nothing to act on).

    The decision carries no fulfilment of its own: the policies say so in its summary
    ("fulfilled: no action").
    """
    decision = entry.decision
    return (
        decision is not None and decision.change is None and entry.summary.startswith("fulfilled")
    )


def reasoning(
    explanation: Mapping[str, object], *, expectation: str = "", fulfilled: bool = False
) -> list[Section]:
    """The policy's reasoning, section by section: target, observed KPI, model and
    confidence, bottleneck, candidates, guards (what a pending approval shows too).

    Args:
        explanation: the policy's explanation.
        expectation: the decision's expectation, when the explanation does not name it.
        fulfilled: the intent was fulfilled, so no candidate means nothing to do.
    """
    sections: list[Section] = []
    if "target" in explanation:
        expectation = str(explanation.get("expectation") or expectation)
        suffix = f" (expectation {expectation})" if expectation else ""
        target = _number(explanation["target"])
        sections.append(Section("Target", (Line(f"{target}{suffix}"),)))
    if "observed" in explanation:
        sections.append(Section("Observed KPI", (Line(_number(explanation["observed"])),)))
    if "model" in explanation:
        sections.append(Section("Model and confidence", _model(explanation["model"], explanation)))
    elif "confidence" in explanation:
        sections.append(
            Section("Model and confidence", (Line(_confidence(explanation["confidence"])),))
        )
    if "bottleneck" in explanation:
        sections.append(Section("Bottleneck", _bottleneck(explanation["bottleneck"])))
    if "candidates" in explanation:
        candidates = _candidates(explanation["candidates"], fulfilled=fulfilled)
        sections.append(Section("Candidates", candidates))
    if "guards" in explanation:
        sections.append(Section("Guards", _guards(explanation["guards"])))
    return sections


def more(explanation: Mapping[str, object]) -> Section | None:
    """Every key of the explanation the sections above do not show, as a key/value tree."""
    lines = _extra(explanation, _KNOWN, 0)
    return Section("More", tuple(lines)) if lines else None


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
    if entry.anomaly is not None:
        return (head, _anomaly(entry.anomaly))
    if decision is None:
        return (head, Section("Outcome", _outcome(entry, change, {})))
    explanation = decision.explanation
    sections = [
        head,
        *reasoning(explanation, expectation=decision.expectation, fulfilled=_fulfilled(entry)),
    ]
    if explanation or decision.change is not None:
        sections.append(Section("Chosen plan", _plan(entry, explanation)))
    sections.append(Section("Outcome", _outcome(entry, change, explanation)))
    extra = more(explanation)
    if extra is not None:
        sections.append(extra)
    return tuple(sections)


def _anomaly(anomaly: Anomaly) -> Section:
    """What the anomaly watch saw: the KPI, its jump, how surprising, on how much history."""
    key = anomaly.key
    was = f" (was {anomaly.previous:.4g})" if anomaly.previous is not None else ""
    return Section(
        "Anomaly",
        (
            Line(f"KPI: {key.kpi} of expectation {key.expectation}"),
            Line(f"observed: {anomaly.value:.4g}{was}"),
            Line(
                f"surprise: {anomaly.surprise:.1f} decades (alarm at {anomaly.threshold:g}; "
                f"about once in {10**anomaly.threshold:,.0f} samples)"
            ),
            Line(f"model: the KPI anomaly detector, on {anomaly.samples} samples of this KPI"),
            Line("no action: an anomaly is reported, the intent's target decides"),
        ),
    )


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
            parts.append(f"{key}: {'; '.join(unset_text(v) for v in value)}")
        elif isinstance(value, list):
            parts.append(f"{key}: {len(value)} entries")
        else:
            parts.append(f"{key}: {_number(value)}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"
