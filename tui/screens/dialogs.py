"""Modal dialogs: the confirmation an action that changes the network asks for, and the
reason an operator gives for approving or rejecting a plan."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

__all__ = ["ConfirmScreen", "ReasonScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Asks yes or no; dismisses with the answer (escape is no).

    Args:
        title: the question.
        body: what will happen, in a few lines.
        confirm_label: the yes button's label (says what it does).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: Text | str, *, confirm_label: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.title_text, style="bold"), id="dialog-title")
            yield Static(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        # the safe answer has the focus: enter alone never changes the network
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Dismiss with ``answer``."""
        self.dismiss(answer)


class ReasonScreen(ModalScreen[str | None]):
    """Asks for the reason of an operator's decision; dismisses with it, or ``None``.

    The reason is journaled with the decision. Enter in the field (or the button) submits,
    escape cancels; with ``required``, an empty reason is refused in place.

    Args:
        title: the question (``Reject plan chg-...?``).
        body: the plan, in a few lines.
        confirm_label: the submit button's label (says what it does).
        required: whether the reason may be empty.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, body: Text | str, *, confirm_label: str, required: bool) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="reason-dialog"):
            yield Static(Text(self.title_text, style="bold"), id="dialog-title")
            yield Static(self.body, id="dialog-body")
            yield Input(
                placeholder="reason (required)" if self.required else "reason (optional)",
                id="reason",
            )
            yield Static("", id="reason-error")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.confirm_label} (enter)", variant="warning", id="submit")
                yield Button("Cancel (esc)", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def _submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_submit(self) -> None:
        """Dismiss with the reason, unless one is required and none was given."""
        reason = self.query_one("#reason", Input).value.strip()
        if self.required and not reason:
            self.query_one("#reason-error", Static).update(
                Text("a reason is required: it is journaled with the decision", style="red")
            )
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        """Dismiss without deciding."""
        self.dismiss(None)
