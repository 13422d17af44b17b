"""Intents: the loaded intent set, each intent's generation and its YAML source."""

from __future__ import annotations

import logging
from pathlib import PurePath

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from controller.errors import NetpilotError
from tui.screens.base import ConsoleScreen
from tui.state import ConsoleState
from tui.widgets.details import intent_source_renderable
from tui.widgets.tables import Row, fill_table, selected_key

__all__ = ["IntentsScreen", "intent_list_rows"]

log = logging.getLogger("netpilot.tui")


def intent_list_rows(state: ConsoleState) -> list[Row]:
    """The loaded intents: mode, priority, admin state, generation and where they come from."""
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
                    Text(where),
                    Text(intent.generation[:12] or "-"),
                ),
            )
        )
    return rows


class IntentsScreen(ConsoleScreen):
    """The intent set and the selected intent's YAML, its own document highlighted."""

    MODE = "intents"

    def __init__(self) -> None:
        super().__init__()
        self._shown = ""  # the intent whose source is shown (or being fetched)

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(id="intent-list", cursor_type="row")
        table.border_title = "Intents (loaded)"
        table.add_columns("intent", "mode", "prio", "admin", "source", "generation")
        yield table
        with VerticalScroll(id="intent-source") as source:
            source.border_title = "Source"
            yield Static(intent_source_renderable(None), id="intent-source-text")

    def show(self) -> None:
        fill_table(self.query_one("#intent-list", DataTable), intent_list_rows(self.console.state))
        self._sync_source()

    def _sync_source(self) -> None:
        name = selected_key(self.query_one("#intent-list", DataTable))
        if name and name != self._shown:
            self._shown = name
            self.load_source(name)

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

    @on(DataTable.RowHighlighted, "#intent-list")
    def _highlighted(self) -> None:
        self._sync_source()
