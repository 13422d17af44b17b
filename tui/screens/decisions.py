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
from tui.state import ConsoleState
from tui.widgets.styles import outcome_text
from tui.widgets.tables import Row, fill_table, selected_key

__all__ = ["DecisionsScreen", "feed_rows"]


def feed_rows(state: ConsoleState) -> list[Row]:
    """The feed, oldest first (the table follows its tail)."""
    return [
        (
            str(entry.seq),
            (
                Text(f"{entry.at:%H:%M:%S}"),
                Text(entry.intent + (" (operator)" if entry.by_operator else "")),
                outcome_text(entry.outcome),
                Text(entry.summary),
            ),
        )
        for entry in state.feed
    ]


class DecisionsScreen(ConsoleScreen):
    """Every decision as it is made; enter opens its explanation."""

    MODE = "decisions"
    # enter on the table selects the row (RowSelected explains it); e works from anywhere
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "explain", "Explain"),
        Binding("enter", "explain", "Explain", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        feed: DataTable[Text | str] = DataTable(id="feed", cursor_type="row")
        feed.border_title = "Decision feed (enter or e: why)"
        feed.add_columns("time", "intent", "outcome", "decision")
        yield feed

    def show(self) -> None:
        fill_table(self.query_one("#feed", DataTable), feed_rows(self.console.state), follow=True)

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
