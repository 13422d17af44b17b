"""Approvals: the plans approve-mode intents wait on; approve or reject each with a reason."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from controller.facade import ApprovalView
from controller.model import ApprovalStatus
from tui.explain import edit_text
from tui.screens.base import ConsoleScreen
from tui.screens.dialogs import ReasonScreen
from tui.state import ConsoleState
from tui.widgets.panels import approval_text
from tui.widgets.styles import approval_status
from tui.widgets.tables import Row, fill_fitted, selected_key

__all__ = ["ApprovalsScreen", "approval_rows"]

SETTLED_SHOWN = 30  # approvals already settled, kept below the pending ones


_COLUMNS = ("requested", "intent", "devices", "status", "plan")


def approval_rows(state: ConsoleState) -> list[Row]:
    """Pending plans first (oldest first: the longest waiting on top), then settled ones,
    newest first."""
    pending = state.pending_approvals
    settled = [a for a in state.approvals if not a.pending][:SETTLED_SHOWN]
    return [
        (
            a.id,
            (
                Text(f"{a.requested_at:%H:%M:%S}"),
                Text(a.intent),
                Text(",".join(a.devices)),
                approval_status(a.status),
                Text(a.summary),
            ),
        )
        for a in (*pending, *settled)
    ]


class ApprovalsScreen(ConsoleScreen):
    """Plans waiting for an operator; the selected one's edits and reasoning; ``a``
    approves, ``x`` rejects (each asks for a reason; a rejection must have one); ``u``
    releases a rejected plan's quarantine (the intent may propose it and ask again)."""

    MODE = "approvals"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject"),
        Binding("u", "release", "Release"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._known_pending: set[str] = set()  # pending ids the list has shown

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text | str] = DataTable(id="approvals", cursor_type="row")
        table.border_title = "Plans awaiting approval"
        table.add_columns(*_COLUMNS)
        yield table
        with VerticalScroll(id="approval-detail") as detail:
            detail.border_title = "Plan and reasoning"
            yield Static(id="approval-detail-text")

    def selected_approval(self) -> ApprovalView | None:
        """The approval under the cursor."""
        key = selected_key(self.query_one("#approvals", DataTable))
        return next((a for a in self.console.state.approvals if a.id == key), None)

    def show(self) -> None:
        state = self.console.state
        table = self.query_one("#approvals", DataTable)
        pending = len(state.pending_approvals)
        table.border_title = (
            f"Plans awaiting approval: {pending}" if pending else "Plans awaiting approval: none"
        )
        # the plan ends in "…" at the screen's edge: the panel below has all of it
        rows = approval_rows(state)
        fill_fitted(table, _COLUMNS, rows, width=self.size.width or 80)
        # a plan that just came to wait for an answer takes the cursor, so 'a' or 'x' answers
        # it rather than the settled row the cursor was left on
        arrived = [a.id for a in state.pending_approvals if a.id not in self._known_pending]
        self._known_pending = {a.id for a in state.pending_approvals}
        if arrived:
            keys = [key for key, _ in rows]
            table.move_cursor(row=keys.index(arrived[0]))
        self._show_detail()

    def _show_detail(self) -> None:
        self.query_one("#approval-detail-text", Static).update(
            approval_text(self.selected_approval())
        )

    @on(DataTable.RowHighlighted, "#approvals")
    def _highlighted(self) -> None:
        self._show_detail()

    def action_reload(self) -> None:
        """Ask the controller for its approvals again."""
        self.console.load_approvals()

    def action_approve(self) -> None:
        """Ask for a reason (optional), then approve the selected plan."""
        self._decide(approve=True)

    def action_reject(self) -> None:
        """Ask for a reason (required), then reject the selected plan."""
        self._decide(approve=False)

    def action_release(self) -> None:
        """Ask for a reason (required), then end the selected rejected plan's quarantine."""
        approval = self.selected_approval()
        if approval is None:
            self.notify("no plan selected", severity="warning")
            return
        if approval.status is not ApprovalStatus.REJECTED:
            self.notify(
                f"{approval.id} is {approval.status.value}: only a rejected plan is held back",
                severity="warning",
                markup=False,
            )
            return
        body = Text()
        body.append(f"{approval.intent} on {', '.join(approval.devices)}\n")
        body.append(f"rejected: {approval.reason or 'no reason given'}\n")
        body.append(
            "\nReleased: the intent may propose this action again, and asks for approval "
            "again before anything is applied.",
            style="dim",
        )
        self.console.ask_release(
            approval.id, intent=approval.intent, title=f"Release plan {approval.id}?", body=body
        )

    def _decide(self, *, approve: bool) -> None:
        approval = self.selected_approval()
        if approval is None:
            self.notify("no plan selected", severity="warning")
            return
        if not approval.pending:
            self.notify(
                f"{approval.id} is {approval.status.value}, not pending",
                severity="warning",
                markup=False,
            )
            return
        body = Text()
        body.append(f"{approval.intent} on {', '.join(approval.devices)}\n")
        for edit in approval.edits:
            body.append(f"  {edit.device}: {edit_text(edit.path, edit.old, edit.new)}\n")
        body.append(
            "\nApproved: the controller applies these values at its next tick that still "
            "proposes this action, with a confirmed commit verified against the intent."
            if approve
            else "\nRejected: the controller will not apply this action (with these or other "
            "values) for the intent until an operator releases it (u).",
            style="dim",
        )
        verb = "Approve" if approve else "Reject"

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.console.decide_approval(approval.id, approve=approve, reason=reason)

        self.app.push_screen(
            ReasonScreen(
                f"{verb} plan {approval.id}?", body, confirm_label=verb, required=not approve
            ),
            answered,
        )
