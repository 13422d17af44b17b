"""Decisions: the live feed of what the controller concluded (and what operators did)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.screens.base import ConsoleScreen
from tui.screens.explanation import ExplanationScreen
from tui.state import ConsoleState, FeedEntry
from tui.widgets.styles import outcome_text
from tui.widgets.tables import Row, fill_table, selected_key

__all__ = ["DecisionsScreen", "feed_rows"]

# below this many columns the intent leads the decision's text instead of having a column
WIDE = 100
TIME_WIDTH = 8  # 19:58:26
OUTCOME_WIDTH = 11  # "rolled-back", "quarantined"; a longer outcome wraps
MIN_DECISION = 24
# the table's border and its vertical scrollbar
_CHROME = 4


def _who(entry: FeedEntry) -> str:
    return entry.intent + (" (operator)" if entry.by_operator else "")


def feed_rows(state: ConsoleState, *, compact: bool = False) -> list[Row]:
    """The feed, oldest first (the table follows its tail).

    Args:
        state: what to show.
        compact: no intent column: each decision's text starts with its intent.
    """
    rows: list[Row] = []
    for entry in state.feed:
        decision = Text(entry.summary)
        if compact:
            decision = Text.assemble((f"{_who(entry)}: ", "bold"), decision)
        time = Text(f"{entry.at:%H:%M:%S}")
        outcome = outcome_text(entry.outcome)
        cells = (
            (time, outcome, decision) if compact else (time, Text(_who(entry)), outcome, decision)
        )
        rows.append((str(entry.seq), cells))
    return rows


class DecisionsScreen(ConsoleScreen):
    """Every decision as it is made; enter opens its explanation.

    The decision's text wraps in the width the other columns leave (each row as tall as it
    needs), so nothing is cut at 80 columns; under :data:`WIDE` columns the intent leads the
    text instead of taking a column of its own.
    """

    MODE = "decisions"
    # enter on the table selects the row (RowSelected explains it); e works from anywhere
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "explain", "Explain"),
        Binding("enter", "explain", "Explain", show=False),
    ]
    _layout: tuple[bool, int, int] | None = None  # (compact, intent width, decision width)

    def compose_body(self) -> ComposeResult:
        feed: DataTable[Text | str] = DataTable(id="feed", cursor_type="row")
        feed.border_title = "Decision feed (enter or e: why)"
        yield feed

    def _columns(self, table: DataTable[Text | str], state: ConsoleState) -> None:
        """Size the columns for the screen's width (again only when that changes)."""
        width = self.size.width or 80
        compact = width < WIDE
        padding = 2 * table.cell_padding
        intent = 0 if compact else max((len(_who(e)) for e in state.feed), default=0)
        intent = max(intent, len("intent")) if not compact else 0
        used = _CHROME + TIME_WIDTH + OUTCOME_WIDTH + 3 * padding
        if not compact:
            used += intent + padding
        layout = (compact, intent, max(MIN_DECISION, width - used))
        if layout == self._layout:
            return
        self._layout = layout
        table.clear(columns=True)
        table.add_column("time", width=TIME_WIDTH)
        if not compact:
            table.add_column("intent", width=intent)
        table.add_column("outcome", width=OUTCOME_WIDTH)
        table.add_column("decision" if not compact else "intent: decision", width=layout[2])

    def show(self) -> None:
        state = self.console.state
        table = self.query_one("#feed", DataTable)
        self._columns(table, state)
        assert self._layout is not None
        fill_table(table, feed_rows(state, compact=self._layout[0]), follow=True, height=None)

    @on(DataTable.RowSelected, "#feed")
    def _selected(self) -> None:
        self.action_explain()

    def action_explain(self) -> None:
        """Open the selected decision's explanation."""
        key = selected_key(self.query_one("#feed", DataTable))
        if key is None:
            self.notify("no decision yet", severity="warning")
            return
        self.app.push_screen(ExplanationScreen(int(key)))
