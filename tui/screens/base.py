"""What every console screen shares: the frame (header, screen bar, status line, footer) and
re-rendering from the app's :class:`~tui.state.ConsoleState`."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui.widgets.frame import NavBar, StatusBar

if TYPE_CHECKING:
    from tui.app import NetpilotApp

__all__ = ["ConsoleScreen", "LiveView"]


class LiveView:
    """A screen the app re-renders when its data changes (a tick, a change, a reload)."""

    def refresh_view(self) -> None:
        """Render the app's current state."""


class ConsoleScreen(Screen[None], LiveView):
    """A mode's screen: the frame around :meth:`compose_body`.

    Subclasses set ``MODE`` (their key in the app's ``MODES``) and implement
    :meth:`compose_body` and :meth:`show`.
    """

    MODE: ClassVar[str] = ""

    @property
    def console(self) -> NetpilotApp:
        """The app, typed."""
        return cast("NetpilotApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield NavBar(self.MODE)
        yield StatusBar(classes="status-bar")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets, between the status line and the footer."""
        yield from ()

    def on_mount(self) -> None:
        self.refresh_view()

    def on_resize(self) -> None:
        # tables size their columns (and the status line its words) for the screen's width
        self.refresh_view()

    def on_screen_resume(self) -> None:
        # hidden screens are not re-rendered each tick: catch up when shown again
        self.refresh_view()

    def refresh_view(self) -> None:
        if not self.is_mounted:
            return
        console = self.console
        state = console.state
        self.query_one(NavBar).show(len(state.pending_approvals))
        self.query_one(StatusBar).show(state.summary(), console.notice, console.connection_problem)
        self.show()

    def show(self) -> None:
        """Render the screen's body from ``self.console.state``."""
