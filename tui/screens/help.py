"""The help screen: what each screen shows and every key, read from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "help_text"]

# what each screen answers; keyed by the screen class's name so the text follows the code
ABOUT = {
    "OverviewScreen": "is every intent met? targets vs observed values, the KPI trend, "
    "what netpilot is doing and why",
    "DevicesScreen": "device health (last poll, errors); the selected device's interfaces "
    "and per-class queues, with trends",
    "DecisionsScreen": "every decision as it is made; enter explains one: target, KPI, model, "
    "bottleneck, candidates, guards, plan, outcome",
    "ChangesScreen": "the journal's changes; the selected one's per-device diff and step "
    "timeline; r rolls it back (after a confirmation)",
    "IntentsScreen": "the loaded intents, their generation and YAML source; with an intent "
    "store, each intent's revision history and the source's refusals, quarantine, conflicts",
    "ApprovalsScreen": "plans approve-mode intents wait on, with their edits and reasoning; "
    "a approves, x rejects (a rejection needs a reason; both are journaled)",
    "ModelsScreen": "the model registry: versions, champion/challenger, accuracy, drift, "
    "fallback to the rule baseline, and whether decisions use the models yet",
}


def _keys(bindings: list[BindingType]) -> list[tuple[str, str]]:
    keys = []
    for binding in bindings:
        if isinstance(binding, Binding):
            keys.append((binding.key.replace("question_mark", "?"), binding.description))
        elif isinstance(binding, tuple) and len(binding) >= 2:
            keys.append((str(binding[0]), str(binding[2]) if len(binding) > 2 else ""))
    return keys


def help_text(
    app_bindings: list[BindingType], screens: list[tuple[str, str, list[BindingType]]]
) -> Text:
    """Every key of the app and of each screen, with what each screen is for.

    Args:
        app_bindings: the app's own bindings (work everywhere).
        screens: (title, screen class name, its bindings) per screen.
    """
    text = Text()
    text.append("Everywhere\n", style="bold underline")
    for key, description in _keys(app_bindings):
        text.append(f"  {key:<16}", style="bold cyan")
        text.append(f"{description}\n")
    for key, description in (
        ("ctrl+p", "command palette (screens, actions, theme)"),
        ("tab, shift+tab", "move between the panels of a screen"),
        ("up, down, pgup", "move in a table; the panels below follow the selection"),
    ):
        text.append(f"  {key:<16}", style="bold cyan")
        text.append(f"{description}\n")
    for title, class_name, bindings in screens:
        text.append(f"\n{title}\n", style="bold underline")
        text.append(f"  {ABOUT.get(class_name, '')}\n", style="dim")
        for key, description in _keys(bindings):
            text.append(f"  {key:<16}", style="bold cyan")
            text.append(f"{description}\n")
    text.rstrip()
    return text


class HelpScreen(ModalScreen[None]):
    """Keys and screens; escape, ? or q closes it.

    Args:
        text: the help, from :func:`help_text`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q,f1", "app.pop_screen", "Close"),
    ]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as scroll:
            scroll.border_title = "netpilot console: keys (escape closes)"
            yield Static(self.text, id="help-text")
