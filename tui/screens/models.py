"""Models: the registry's versions, champion and challenger, accuracy, drift and fallback."""

from __future__ import annotations

import logging
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from analytics.registry import ModelStatus
from controller.facade import ModelsView, ModelView
from tui.screens.base import ConsoleScreen
from tui.widgets.panels import model_text
from tui.widgets.tables import Row, fill_table, selected_key

__all__ = ["ModelsScreen", "model_rows", "usage_text"]

log = logging.getLogger("netpilot.tui")


def model_rows(view: ModelsView) -> list[Row]:
    """One row per model: who answers, status, the champion's accuracy, live drift."""
    rows: list[Row] = []
    for model in view.models:
        record = model.record
        accuracy = model.accuracy(record.champion)
        fallback = record.status is ModelStatus.FALLBACK
        rows.append(
            (
                model.name,
                (
                    Text(model.name),
                    Text(record.kind.value),
                    Text(
                        "rule" if fallback else model.answering, style="yellow" if fallback else ""
                    ),
                    Text(
                        "-" if record.challenger is None else f"v{record.challenger}",
                        style="cyan" if record.challenger is not None else "dim",
                    ),
                    Text(record.status.value, style="bold red" if fallback else "green"),
                    Text("-" if accuracy is None else f"{record.kind.metric} {accuracy:.3g}"),
                    Text(
                        f"{record.monitor.drift:.2g}σ" if record.monitor.samples else "-",
                        style="red" if record.monitor.drift > 4 else "",
                    ),
                ),
            )
        )
    return rows


def usage_text(view: ModelsView | None) -> Text:
    """One line: whether the controller's decisions use the models (it says so if not)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if view is None:
        text.append("reading the model store...", style="dim")
    elif view.in_use:
        text.append(view.usage, style="green")
    else:
        text.append(view.usage, style="bold yellow")
    return text


class ModelsScreen(ConsoleScreen):
    """The registry's models; the selected one's versions, monitoring and events."""

    MODE = "models"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: ModelsView | None = None
        self._loading = False
        self._failed = False  # no automatic retry until shown again or reloaded

    def compose_body(self) -> ComposeResult:
        yield Static(usage_text(None), id="model-usage")
        table: DataTable[Text | str] = DataTable(id="models", cursor_type="row")
        table.border_title = "Models"
        table.add_columns("model", "kind", "answering", "shadow", "status", "accuracy", "drift")
        yield table
        with VerticalScroll(id="model-detail") as detail:
            detail.border_title = "Versions, monitoring, fallback"
            yield Static(id="model-detail-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.load_models()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load_models()

    def selected_model(self) -> ModelView | None:
        """The model under the cursor."""
        if self.view is None:
            return None
        name = selected_key(self.query_one("#models", DataTable))
        return next((m for m in self.view.models if m.name == name), None)

    def show(self) -> None:
        if self.view is None and not self._loading and not self._failed:
            self.load_models()  # the facade was not there when the screen was mounted
        view = self.view
        self.query_one("#model-usage", Static).update(usage_text(view))
        table = self.query_one("#models", DataTable)
        if view is not None:
            table.border_title = f"Models in {view.store}"
        fill_table(table, model_rows(view) if view else [])
        self._show_detail()

    def _show_detail(self) -> None:
        body = self.query_one("#model-detail-text", Static)
        view = self.view
        if view is None:
            body.update(Text("reading the model store...", style="dim"))
            return
        if not view.models:
            text = Text(f"no models in {view.store}\n", style="bold")
            text.append(
                "train one: netpilot models train NAME --kind load-forecast --data FILE.csv "
                f"--store {view.store}",
                style="dim",
            )
            for problem in view.problems:
                text.append(f"\n✘ {problem}", style="red")
            body.update(text)
            return
        text = model_text(self.selected_model())
        for problem in view.problems:
            text.append(f"\n✘ {problem}", style="red")
        body.update(text)

    @on(DataTable.RowHighlighted, "#models")
    def _highlighted(self) -> None:
        self._show_detail()

    def action_reload(self) -> None:
        """Read the model store again."""
        self.load_models()

    @work(exclusive=True, exit_on_error=False, group="models")
    async def load_models(self) -> None:
        """Read the registry (files, or the daemon's API) off the UI loop."""
        facade = self.console.facade
        if facade is None:
            return
        self._loading = True
        self._failed = False
        try:
            view = await facade.models()
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the console keeps running
            log.warning("reading the model store failed: %r", exc)
            self._failed = True
            self.query_one("#model-detail-text", Static).update(
                Text(f"cannot read the model store: {exc}", style="red")
            )
            return
        finally:
            self._loading = False
        self.view = view
        self.show()
