"""Rendering of a change's detail, a decision's explanation and an intent's source."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.syntax import Syntax
from rich.text import Text

from controller.facade import ChangeDetail, ChangeView, IntentSource
from tui.explain import Section, describe_detail, edit_text
from tui.widgets.styles import change_status

__all__ = ["change_text", "explanation_text", "intent_source_renderable"]

_OP = {"add": ("+", "green"), "change": ("~", "yellow"), "remove": ("-", "red")}


def _heading(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def change_text(
    detail: ChangeDetail | None, *, selected: ChangeView | None = None
) -> RenderableType:
    """A change: what, why, how it ended, its per-device diff and its journaled timeline.

    Timeline lines are cut at the panel's width rather than wrapped, so each step stays on
    one line; the whole detail is in ``netpilot changes show TXN``.
    """
    if detail is None:
        if selected is None:
            return Text("no change selected", style="dim")
        return Text(f"loading {selected.txn}...", style="dim")
    change = detail.change
    head = Text()
    head.append(change.txn, style="bold")
    head.append("  ")
    head.append_text(change_status(change.status, rolled_back_by=change.rolled_back_by))
    head.append(f"  intent {change.intent}\n")
    head.append(f"reason: {change.reason}\n")
    if change.detail:
        # the result's detail repeats the reason first ("<reason>; verified: ...")
        outcome = change.detail.removeprefix(change.reason).removeprefix("; ")
        head.append(f"result: {outcome}\n")
    if change.rollback_of:
        head.append(f"operator rollback of {change.rollback_of}\n", style="yellow")
    if change.rolled_back_by:
        head.append(f"rolled back by {change.rolled_back_by}\n", style="yellow")
    head.append("\nDiff", style="bold underline")
    lines: list[RenderableType] = [head]
    if not change.edits:
        lines.append(Text("  (no edits recorded)", style="dim"))
    for edit in change.edits:
        sign, style = _OP.get(edit.op, ("?", ""))
        line = Text(f"  {edit.device:<6} ", no_wrap=True, overflow="ellipsis")
        line.append(f"{sign} {edit_text(edit.path, edit.old, edit.new)}", style=style)
        lines.append(line)
    lines.append(Text("\nTimeline", style="bold underline"))
    for step in detail.timeline:
        style = "red" if "fail" in step.step or step.step == "error" else "bold"
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"  {step.at:%H:%M:%S}.{step.at.microsecond // 10000:02d} ", style="dim")
        line.append(f"{step.step:<19}", style=style)
        line.append(f"{step.device:<4} ")
        line.append(describe_detail(step.detail, width=200))
        lines.append(line)
    return Group(*lines)


def explanation_text(sections: tuple[Section, ...]) -> Group:
    """An explanation, section by section; checks marked pass/fail.

    A line too long for the panel wraps under its own start (a hanging indent), so the
    sections' nesting still reads at 80 columns.
    """
    parts: list[RenderableType] = []
    for index, section in enumerate(sections):
        if index:
            parts.append(Text(""))
        parts.append(Text(section.title, style="bold underline"))
        for line in section.lines:
            body = line.text.lstrip(" ")
            depth = 2 + len(line.text) - len(body)
            text = Text()
            if line.verdict is True:
                text.append("✔ ", style="green")
            elif line.verdict is False:
                text.append("✘ ", style="red")
            text.append(body)
            parts.append(Padding(text, (0, 0, 0, depth)))
    return Group(*parts)


def intent_source_renderable(source: IntentSource | None, *, error: str = "") -> RenderableType:
    """The intent's file, its own YAML document highlighted, with line numbers."""
    if error:
        return Text(error, style="red")
    if source is None:
        return Text("select an intent to see its source", style="dim")
    caption = Text()
    caption.append(f"{source.file}:{source.first_line}", style="bold")
    caption.append(f"  generation {source.generation or '?'}", style="dim")
    syntax = Syntax(
        source.text,
        "yaml",
        line_numbers=True,
        highlight_lines=set(range(source.first_line, source.last_line + 1)),
        theme="ansi_dark",
        background_color="default",
        word_wrap=False,
    )
    return Group(caption, syntax)
