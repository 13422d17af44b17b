"""Changes: the journal's transactions, a change's diff and timeline, one-key rollback."""

from __future__ import annotations

import logging
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from controller.facade import ChangeDetail, ChangeView
from tui.explain import UNSET
from tui.screens.base import ConsoleScreen
from tui.screens.dialogs import ConfirmScreen
from tui.state import ConsoleState
from tui.widgets.details import change_text
from tui.widgets.styles import change_status
from tui.widgets.tables import Row, fill_fitted, selected_key

__all__ = ["ChangesScreen", "change_rows"]

log = logging.getLogger("netpilot.tui")


_COLUMNS = ("started", "transaction", "devices", "status", "reason")


def _devices(devices: tuple[str, ...] | list[str]) -> str:
    """``core1 +3``: the first device and how many more (all of them in the panel below)."""
    if len(devices) <= 1:
        return ",".join(devices)
    return f"{devices[0]} +{len(devices) - 1}"


def change_rows(state: ConsoleState) -> list[Row]:
    """The journal's changes, newest first; a long reason ends in "…" at the table's edge
    (the panel below has all of it)."""
    rows: list[Row] = []
    for change in state.changes:
        reason = change.reason
        if change.rollback_of:
            reason = f"operator rollback of {change.rollback_of}"
        rows.append(
            (
                change.txn,
                (
                    Text(f"{change.started_at:%H:%M:%S}"),
                    Text(change.txn),
                    Text(_devices(change.devices)),
                    change_status(change.status, rolled_back_by=change.rolled_back_by),
                    Text(reason),
                ),
            )
        )
    return rows


class ChangesScreen(ConsoleScreen):
    """The change list; the selected change's diff and timeline; ``r`` rolls it back; ``u``
    releases its quarantine (a failed or undone change the loop holds back)."""

    MODE = "changes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "roll_back", "Roll back"),
        Binding("u", "release", "Release"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._detail: ChangeDetail | None = None
        self._requested: ChangeView | None = None  # the listed change last fetched

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(id="changes", cursor_type="row")
        table.border_title = "Changes (journal)"
        table.add_columns(*_COLUMNS)
        yield table
        with VerticalScroll(id="change-detail") as detail:
            detail.border_title = "Diff and timeline"
            yield Static(id="change-detail-text")

    def selected_change(self) -> ChangeView | None:
        """The change under the cursor."""
        txn = selected_key(self.query_one("#changes", DataTable))
        return next((c for c in self.console.state.changes if c.txn == txn), None)

    def show(self) -> None:
        table = self.query_one("#changes", DataTable)
        fill_fitted(table, _COLUMNS, change_rows(self.console.state), width=self.size.width or 80)
        self._sync_detail()

    def _sync_detail(self) -> None:
        """Show the selected change's detail; fetch it when the selection or its status moved."""
        selected = self.selected_change()
        text = self.query_one("#change-detail-text", Static)
        if selected is None:
            self._requested = None
            text.update(change_text(None))
            return
        if self._detail is not None and self._detail.change.txn == selected.txn:
            text.update(change_text(self._detail))
        else:
            text.update(change_text(None, selected=selected))
        if selected != self._requested:
            # another change, or this one moved on (pending -> confirmed, undone...)
            self._requested = selected
            self.load_detail(selected.txn)

    @work(exclusive=True, exit_on_error=False, group="change-detail")
    async def load_detail(self, txn: str) -> None:
        """Fetch a change's diff and timeline (journal IO, off the UI loop)."""
        facade = self.console.facade
        if facade is None:
            return
        try:
            detail = await facade.change(txn)
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the console keeps running
            log.warning("reading change %s failed: %r", txn, exc)
            self._requested = None  # try again on the next refresh
            self.query_one("#change-detail-text", Static).update(
                Text(f"cannot read {txn}: {exc}", style="red")
            )
            return
        if detail is None:
            return
        self._detail = detail
        selected = self.selected_change()
        if selected is not None and selected.txn == txn:
            self.query_one("#change-detail-text", Static).update(change_text(detail))

    @on(DataTable.RowHighlighted, "#changes")
    def _highlighted(self) -> None:
        self._sync_detail()

    def action_reload(self) -> None:
        """Reload the change list from the journal."""
        self.console.load_changes()

    def action_release(self) -> None:
        """Ask for a reason (required), then end the selected change's quarantine: the loop
        may propose it again (the controller refuses if nothing holds it)."""
        change = self.selected_change()
        if change is None:
            self.notify("no change selected", severity="warning")
            return
        status = "undone" if change.rolled_back_by else change.status.value  # as listed
        body = Text()
        body.append(f"{change.change_id} ({change.txn}: {status}) for {change.intent}\n")
        body.append(
            "\nReleased: the loop may propose this change again at the intent's next "
            "violation (fix what made it fail first).",
            style="dim",
        )
        self.console.ask_release(
            change.change_id,
            intent=change.intent,
            title=f"Release change {change.change_id}?",
            body=body,
        )

    def action_roll_back(self) -> None:
        """Ask, then roll the selected change back (a new transaction, all devices or none)."""
        change = self.selected_change()
        if change is None:
            self.notify("no change selected", severity="warning")
            return
        if change.rolled_back_by:
            self.notify(
                f"{change.txn} was already rolled back by {change.rolled_back_by}",
                severity="warning",
                markup=False,
            )
            return
        if not change.can_roll_back:
            self.notify(
                f"only a confirmed change can be rolled back; {change.txn} is "
                f"{change.status.value}",
                severity="warning",
                markup=False,
            )
            return
        body = Text()
        body.append(f"{change.txn} on {', '.join(change.devices)} for {change.intent}\n")
        for edit in change.edits:
            body.append(f"  {edit.device}: {edit.path}: ")
            body.append(f"{edit.new if edit.new is not None else UNSET}", style="red")
            body.append(" -> ")
            body.append(f"{edit.old if edit.old is not None else UNSET}\n", style="green")
        body.append(
            "\nA new confirmed-commit transaction returns every device to its configuration "
            "before the change. The controller will not push this change again until an "
            "operator releases it (u).",
            style="dim",
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.console.roll_back(change.txn)

        self.app.push_screen(
            ConfirmScreen("Roll back this change?", body, confirm_label="Roll back"), answered
        )
