"""Charts: an intent target's KPI over time, with the target it must meet."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from controller.model import TargetStatus
from tui.widgets.styles import compact_target

__all__ = ["KpiChart", "kpi_caption"]


def kpi_caption(intent: str, target: TargetStatus | None, values: Sequence[float]) -> Text:
    """``latencyMs < 30 · now 8.5 · min 7.2 · max 57``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if target is None:
        text.append("select an intent target to chart its KPI", style="dim")
        return text
    text.append(compact_target(target.target), style="bold")
    if target.observed is not None:
        met = target.met is True
        text.append(" · now ")
        text.append(f"{target.observed:.4g}", style="green" if met else "red")
    if values:
        text.append(f" · min {min(values):.4g} · max {max(values):.4g}")
        text.append(f" · {len(values)} ticks", style="dim")
    return text


class KpiChart(Vertical):
    """A caption and a sparkline of one target's observed values, one bar per tick."""

    def compose(self) -> ComposeResult:
        yield Static(id="kpi-caption")
        yield Sparkline([], id="kpi-chart")

    def show(self, intent: str, target: TargetStatus | None, values: Sequence[float]) -> None:
        """Chart ``values`` (oldest first) of ``intent``'s ``target``."""
        where = f"{intent} / {target.expectation}" if intent and target else intent
        self.border_title = f"KPI trend: {where}" if where else "KPI trend"
        self.query_one("#kpi-caption", Static).update(kpi_caption(intent, target, values))
        self.query_one("#kpi-chart", Sparkline).data = list(values)
