"""A decision's explanation: target -> observed KPI -> model -> bottleneck -> candidates ->
guards -> chosen plan -> outcome. Updates live while its change is in flight."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.explain import explain
from tui.screens.base import LiveView
from tui.widgets.details import explanation_text

if TYPE_CHECKING:
    from tui.app import NetpilotApp

__all__ = ["ExplanationScreen"]


class ExplanationScreen(Screen[None], LiveView):
    """The explanation of one feed entry.

    Args:
        seq: the feed entry's id.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
    ]

    def __init__(self, seq: int) -> None:
        super().__init__()
        self.seq = seq

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="explanation"):
            yield Static(id="explanation-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#explanation", VerticalScroll).border_title = "Why"
        self.refresh_view()

    def refresh_view(self) -> None:
        state = cast("NetpilotApp", self.app).state
        entry = state.entry(self.seq)
        body = self.query_one("#explanation-text", Static)
        if entry is None:
            body.update(Text("this decision is no longer in the feed", style="dim"))
            return
        self.query_one(
            "#explanation", VerticalScroll
        ).border_title = f"Why: {entry.intent} at {entry.at:%H:%M:%S}"
        body.update(explanation_text(explain(entry, state.change_of(entry))))
