"""Overview: is every intent met, and if not, what is netpilot doing about it and why?"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from controller.model import IntentStatus, TargetStatus
from tui.screens.base import ConsoleScreen
from tui.state import ConsoleState, FeedEntry, KpiKey, spark
from tui.widgets.charts import KpiChart
from tui.widgets.styles import change_status, compact_target, short_status, status_text
from tui.widgets.tables import Row, fill_table, selected_key

__all__ = ["OverviewScreen"]

TREND_WIDTH = 12
# below this many columns the status is the short form (``degraded``, not ``notFulfilled:
# degraded``): at 80 the target column keeps its expectation id and the trend its width
WIDE = 100
_COLUMNS = ("intent / expectation: target", "status", "observed", "trend")
_SEP = "\x1f"  # joins an intent, expectation and target into one row key


def _row_key(key: KpiKey) -> str:
    return _SEP.join((key.intent, key.expectation, key.kpi))


def _kpi_key(row_key: str) -> KpiKey | None:
    parts = row_key.split(_SEP)
    return KpiKey(*parts) if len(parts) == 3 else None


def _observed(target: TargetStatus) -> Text:
    if target.observed is None:
        return Text("?", style="dim")
    return Text(f"{target.observed:.4g}", style="green" if target.met else "red")


def _met(target: TargetStatus) -> Text:
    if target.met is None:
        return Text("no data", style="dim")
    return Text("met", style="green") if target.met else Text("not met", style="red")


def _tally(status: IntentStatus) -> Text:
    met = sum(1 for t in status.targets if t.met)
    return Text(f"{met}/{len(status.targets)} met", style="dim")


def intent_rows(state: ConsoleState, *, width: int | None = None) -> list[Row]:
    """Per intent a row with its fulfilment, then one row per target: ``expectation: target``,
    met or not, the observed value and its trend.

    Args:
        state: what to show.
        width: the table's columns; under :data:`WIDE` the intent's status is the short
            form (the KPI chart and the activity panel spell it out).
    """
    compact = width is not None and width < WIDE
    statuses = {s.name: s for s in state.statuses}
    # the loaded intents in their order, then any evaluated one the snapshot did not list
    names = [i.name for i in state.intents]
    names += [s.name for s in state.statuses if s.name not in names]
    rows: list[Row] = []
    for name in names:
        status = statuses.get(name)
        head = _SEP.join((name, "", ""))
        if status is None or not status.targets:
            waiting = Text("waiting" if compact else "waiting for data", style="dim")
            rows.append((head, (Text(name, style="bold"), waiting, "", "")))
            continue
        fulfilment = short_status(status) if compact else status_text(status)
        rows.append((head, (Text(name, style="bold"), fulfilment, _tally(status), "")))
        for target in status.targets:
            key = KpiKey(status.name, target.expectation, target.target.name)
            cells = (
                Text(f"  {target.expectation}: {compact_target(target.target)}"),
                _met(target),
                _observed(target),
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
    _compact: bool | None = None  # the status form the table's columns were sized for

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(id="intents", cursor_type="row")
        table.border_title = "Intents"
        table.add_columns(*_COLUMNS)
        yield table
        yield KpiChart(id="kpi")
        with VerticalScroll(id="activity") as activity:
            activity.border_title = "What netpilot is doing"
            yield Static(id="activity-text")

    def show(self) -> None:
        state = self.console.state
        table = self.query_one("#intents", DataTable)
        width = self.size.width or None
        compact = width is not None and width < WIDE
        if compact != self._compact:
            # columns only ever widen as cells do: start over, so they fit the short forms
            self._compact = compact
            table.clear(columns=True)
            table.add_columns(*_COLUMNS)
        fill_table(table, intent_rows(state, width=width))
        self._chart(state)
        self.query_one("#activity-text", Static).update(activity_text(state))

    def _chart(self, state: ConsoleState) -> None:
        table = self.query_one("#intents", DataTable)
        chart = self.query_one(KpiChart)
        row = selected_key(table)
        key = _kpi_key(row) if row else None
        if key is None:
            chart.show("", None, ())
            return
        status = state.status_of(key.intent)
        targets = status.targets if status else ()
        # an intent's own row charts its first target
        target = next(
            (
                t
                for t in targets
                if not key.kpi or (t.expectation == key.expectation and t.target.name == key.kpi)
            ),
            None,
        )
        if target is None:
            chart.show(key.intent, None, ())
            return
        key = KpiKey(key.intent, target.expectation, target.target.name)
        chart.show(key.intent, target, tuple(state.kpi.get(key, ())))

    @on(DataTable.RowHighlighted, "#intents")
    def _highlighted(self) -> None:
        self._chart(self.console.state)
