"""Overview: is every intent met, and if not, what is netpilot doing about it and why?"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from controller.model import TargetStatus
from tui.screens.base import ConsoleScreen
from tui.state import ConsoleState, FeedEntry, KpiKey, spark
from tui.widgets.charts import KpiChart
from tui.widgets.styles import change_status, compact_target, status_text
from tui.widgets.tables import Row, fill_table, selected_key

__all__ = ["OverviewScreen"]

TREND_WIDTH = 12
_SEP = "\x1f"  # joins an intent, expectation and target into one row key


def _row_key(key: KpiKey) -> str:
    return _SEP.join((key.intent, key.expectation, key.target))


def _kpi_key(row_key: str) -> KpiKey | None:
    parts = row_key.split(_SEP)
    return KpiKey(*parts) if len(parts) == 3 else None


def _observed(target: TargetStatus) -> Text:
    if target.observed is None:
        return Text("?", style="dim")
    return Text(f"{target.observed:.4g}", style="green" if target.met else "red")


def intent_rows(state: ConsoleState) -> list[Row]:
    """One row per intent target: status, state, target, observed, met and its trend."""
    statuses = {s.name: s for s in state.statuses}
    # the loaded intents in their order, then any evaluated one the snapshot did not list
    names = [i.name for i in state.intents]
    names += [s.name for s in state.statuses if s.name not in names]
    rows: list[Row] = []
    for name in names:
        status = statuses.get(name)
        if status is None or not status.targets:
            waiting = Text("waiting for data", style="dim")
            rows.append((_SEP.join((name, "", "")), (Text(name), waiting, "", "", "")))
            continue
        for target in status.targets:
            key = KpiKey(status.name, target.expectation, target.target.name)
            cells = (
                Text(status.name),
                status_text(status),
                _observed(target),
                Text(compact_target(target.target)),
                Text(
                    spark(state.kpi.get(key, ()), TREND_WIDTH, floor=abs(target.target.value)),
                    style="cyan",
                ),
            )
            rows.append((_row_key(key), cells))
    return rows


def activity_text(state: ConsoleState) -> Text:
    """Per intent: why it is (not) fulfilled and the controller's latest conclusion."""
    text = Text()
    latest: dict[str, FeedEntry] = {}
    for entry in state.feed:
        if not entry.by_operator:
            latest[entry.intent] = entry
    if not state.statuses:
        return Text("no intent evaluated yet", style="dim")
    for status in state.statuses:
        text.append(status.name, style="bold")
        text.append(": ")
        last = latest.get(status.name)
        text.append(last.summary if last else "no decision yet")
        if last and last.outcome:
            text.append(f" [{last.outcome}]", style="cyan")
        text.append("\n")
        for reason in status.reasons:
            if last is None or reason != last.summary:  # the loop repeats it as a reason
                text.append(f"  {reason}\n", style="yellow")
        change = next((c for c in state.changes if c.intent == status.name), None)
        if change is not None:
            text.append(f"  last change {change.started_at:%H:%M:%S} ", style="dim")
            text.append_text(change_status(change.status, rolled_back_by=change.rolled_back_by))
            text.append(f": {change.reason}\n", style="dim")
    text.rstrip()
    return text


class OverviewScreen(ConsoleScreen):
    """Intents with their fulfilment, the selected target's KPI trend, and what is going on."""

    MODE = "overview"

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(id="intents", cursor_type="row")
        table.border_title = "Intents"
        table.add_columns("intent", "status", "observed", "target", "trend")
        yield table
        yield KpiChart(id="kpi")
        with VerticalScroll(id="activity") as activity:
            activity.border_title = "What netpilot is doing"
            yield Static(id="activity-text")

    def show(self) -> None:
        state = self.console.state
        table = self.query_one("#intents", DataTable)
        fill_table(table, intent_rows(state))
        self._chart(state)
        self.query_one("#activity-text", Static).update(activity_text(state))

    def _chart(self, state: ConsoleState) -> None:
        table = self.query_one("#intents", DataTable)
        chart = self.query_one(KpiChart)
        row = selected_key(table)
        key = _kpi_key(row) if row else None
        if key is None or not key.target:
            chart.show(key.intent if key else "", None, ())
            return
        status = state.status_of(key.intent)
        target = next(
            (
                t
                for t in (status.targets if status else ())
                if t.expectation == key.expectation and t.target.name == key.target
            ),
            None,
        )
        chart.show(key.intent, target, tuple(state.kpi.get(key, ())))

    @on(DataTable.RowHighlighted, "#intents")
    def _highlighted(self) -> None:
        self._chart(self.console.state)
