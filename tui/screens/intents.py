"""Intents: the loaded intent set; the selected intent's YAML source, its revision history,
and the intent source's revisions (refusals with their validation errors, quarantine,
conflicts) when the controller keeps an intent store."""

from __future__ import annotations

import logging
from pathlib import PurePath
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from controller.errors import NetpilotError
from controller.facade import IntentRevision, RevisionsView
from tui.screens.base import ConsoleScreen
from tui.state import ConsoleState
from tui.widgets.details import intent_source_renderable
from tui.widgets.panels import history_text, revisions_text
from tui.widgets.tables import Row, fill_fitted, selected_key

__all__ = ["IntentsScreen", "intent_list_rows"]

log = logging.getLogger("netpilot.tui")


_COLUMNS = ("intent", "mode", "prio", "admin", "generation", "source")


def intent_list_rows(state: ConsoleState) -> list[Row]:
    """The loaded intents: mode, priority, admin state, generation and where they come from
    (last: the column cut to fit a narrow terminal)."""
    rows: list[Row] = []
    for intent in state.intents:
        where = (
            f"{PurePath(intent.location.file).name}:{intent.location.line}"
            if intent.location
            else "-"
        )
        rows.append(
            (
                intent.name,
                (
                    Text(intent.name),
                    Text(intent.mode.value),
                    Text(str(intent.priority)),
                    Text(intent.admin_state.value),
                    Text(intent.generation[:8] or "-"),  # as a short Git hash
                    Text(where),
                ),
            )
        )
    return rows


class IntentsScreen(ConsoleScreen):
    """The intent set; the selected intent's YAML (its own document highlighted), its
    history, and the source's revisions. ``s``, ``h`` and ``v`` switch the panel."""

    MODE = "intents"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "panel('source')", "Source"),
        Binding("h", "panel('history')", "History"),
        Binding("v", "panel('revisions')", "Revisions"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown = ""  # the intent whose source is shown (or being fetched)
        self._history_of = ""  # the intent whose history is shown (or being fetched)
        self.history: tuple[IntentRevision, ...] | None = None
        self.revisions: RevisionsView | None = None
        self._revisions_loaded = False
        self._revisions_loading = False
        self._revisions_failed = False  # no automatic retry until shown again or reloaded

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(id="intent-list", cursor_type="row")
        table.border_title = "Intents (loaded)"
        table.add_columns(*_COLUMNS)
        yield table
        with TabbedContent(id="intent-panels", initial="source"):
            with TabPane("Source", id="source"), VerticalScroll(id="intent-source") as pane:
                pane.border_title = "Source"
                yield Static(intent_source_renderable(None), id="intent-source-text")
            with TabPane("History", id="history"), VerticalScroll(id="intent-history") as pane:
                pane.border_title = "History of the intent"
                yield Static(id="intent-history-text")
            with (
                TabPane("Revisions", id="revisions"),
                VerticalScroll(id="intent-revisions") as pane,
            ):
                pane.border_title = "Revisions of the intent source"
                yield Static(id="intent-revisions-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.load_revisions()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load_revisions()

    def show(self) -> None:
        if not (self._revisions_loaded or self._revisions_loading or self._revisions_failed):
            self.load_revisions()  # the facade was not there when the screen was mounted
        fill_fitted(
            self.query_one("#intent-list", DataTable),
            _COLUMNS,
            intent_list_rows(self.console.state),
            width=self.size.width or 80,
            min_last=6,  # the Source panel shows where the selected intent comes from
        )
        self._sync_source()
        self._render_panels()

    def _selected(self) -> str:
        return selected_key(self.query_one("#intent-list", DataTable)) or ""

    def _sync_source(self) -> None:
        name = self._selected()
        if name and name != self._shown:
            self._shown = name
            self.load_source(name)
        if name and name != self._history_of:
            self._history_of = name
            self.history = None
            self.load_history(name)

    def _render_panels(self) -> None:
        name = self._selected()
        store = self.revisions is not None
        if self._revisions_loaded:
            self.query_one("#intent-history-text", Static).update(
                history_text(name, self.history, store=store)
            )
            files = sorted(
                {i.location.file for i in self.console.state.intents if i.location is not None}
            )
            self.query_one("#intent-revisions-text", Static).update(
                revisions_text(self.revisions, intent=name, loaded_from=files)
            )
        else:
            waiting = Text("reading the intent store...", style="dim")
            self.query_one("#intent-history-text", Static).update(waiting)
            self.query_one("#intent-revisions-text", Static).update(waiting)

    def action_panel(self, panel: str) -> None:
        """Show the source, the history or the revisions panel."""
        self.query_one("#intent-panels", TabbedContent).active = panel

    def action_reload(self) -> None:
        """Read the intent store and the selected intent's source again."""
        self._shown = self._history_of = ""
        self.load_revisions()
        self._sync_source()

    @work(exclusive=True, exit_on_error=False, group="intent-source")
    async def load_source(self, name: str) -> None:
        """Read the intent's file (IO, off the UI loop) and show it."""
        facade = self.console.facade
        if facade is None:
            self._shown = ""  # try again once the controller is there
            return
        text = self.query_one("#intent-source-text", Static)
        try:
            source = await facade.intent_source(name)
        except NetpilotError as exc:
            text.update(intent_source_renderable(None, error=str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the console keeps running
            log.warning("reading the source of %s failed: %r", name, exc)
            text.update(intent_source_renderable(None, error=f"cannot read {name}: {exc!r}"))
            return
        text.update(intent_source_renderable(source))
        scroll = self.query_one("#intent-source", VerticalScroll)
        scroll.border_title = f"Source of {name}"
        # the caption line comes first, then the file: line N of the file is row N
        scroll.scroll_to(y=max(0, source.first_line - 1), animate=False)

    @work(exclusive=True, exit_on_error=False, group="intent-history")
    async def load_history(self, name: str) -> None:
        """Read the revisions that touched the intent (the intent store, off the UI loop)."""
        facade = self.console.facade
        if facade is None:
            self._history_of = ""
            return
        try:
            history = await facade.intent_history(name)
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the console keeps running
            log.warning("reading the history of %s failed: %r", name, exc)
            self.query_one("#intent-history-text", Static).update(
                Text(f"cannot read the history of {name}: {exc}", style="red")
            )
            return
        if name == self._selected():
            self.history = history
            self.query_one("#intent-history", VerticalScroll).border_title = f"History of {name}"
            self._render_panels()

    @work(exclusive=True, exit_on_error=False, group="intent-revisions")
    async def load_revisions(self) -> None:
        """Read the intent source's revisions (the intent store, off the UI loop)."""
        facade = self.console.facade
        if facade is None:
            return
        self._revisions_loading = True
        self._revisions_failed = False
        try:
            revisions = await facade.revisions()
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the console keeps running
            log.warning("reading the intent store failed: %r", exc)
            self._revisions_failed = True
            self.query_one("#intent-revisions-text", Static).update(
                Text(f"cannot read the intent store: {exc}", style="red")
            )
            return
        finally:
            self._revisions_loading = False
        self.revisions = revisions
        self._revisions_loaded = True
        self._render_panels()

    @on(DataTable.RowHighlighted, "#intent-list")
    def _highlighted(self) -> None:
        self._sync_source()
        self._render_panels()
