"""The lines every console screen shows: the screen bar and the network status line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.state import NetworkSummary

__all__ = ["SCREENS", "NavBar", "StatusBar", "nav_text", "summary_text"]

# mode name, key, title: the console's screens in the order of their keys
SCREENS: tuple[tuple[str, str, str], ...] = (
    ("overview", "1", "Overview"),
    ("devices", "2", "Devices"),
    ("decisions", "3", "Decisions"),
    ("changes", "4", "Changes"),
    ("intents", "5", "Intents"),
    ("approvals", "6", "Approvals"),
    ("models", "7", "Models"),
)


class NavBar(Static):
    """The screens and their keys, the current one highlighted, with the number of plans
    waiting for an operator next to Approvals."""

    def __init__(self, current: str) -> None:
        self.current = current
        super().__init__(nav_text(current), classes="nav-bar")

    def show(self, pending: int) -> None:
        """Render the bar with ``pending`` approvals."""
        self.update(nav_text(self.current, pending))


def nav_text(current: str, pending: int = 0) -> Text:
    """`` 1 Overview 2 Devices ...``: every screen fits in 80 columns, with the badge."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for mode, key, title in SCREENS:
        text.append(" ")
        if mode == current:
            text.append(f" {key} {title} ", style="reverse bold")
        else:
            text.append(key, style="bold cyan")
            text.append(f" {title}")
        if mode == "approvals" and pending:
            text.append(f" ({pending})", style="bold black on yellow")
    return text


def summary_text(
    summary: NetworkSummary, notice: str = "", problem: str = "", *, width: int | None = None
) -> Text:
    """The status line: tick, devices up, the most loaded interface, the changes' tally.

    Args:
        summary: the network at the last tick.
        notice: what the console is busy with (shown instead).
        problem: why a remote console lost its daemon (shown instead, in red).
        width: the columns it has; the line gives up its least telling words first (the
            word "devices", "by operator", a zero count of rollbacks, where the busiest
            interface is, the time) rather than being cut. ``None``: the full line.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    if notice:
        text.append(notice, style="bold yellow")
        return text
    if problem:
        text.append(problem, style="bold red")
        return text
    if summary.at is None:
        text.append("waiting for the first tick...", style="dim")
        return text
    forms = [_summary_line(summary, level) for level in range(_LEVELS)]
    if width is not None:
        for form in forms:
            if form.cell_len <= width:
                return form
    return forms[0] if width is None else forms[-1]


_LEVELS = 5  # how many ways _summary_line can shorten the line


def _summary_line(summary: NetworkSummary, level: int) -> Text:
    """The status line, shortened by ``level`` steps (0: all of it)."""
    # 80 columns, level 0: "19:59:00 │ devices 4/4 up │ util 100% r2 eth2 │ 1 confirmed, ..."
    text = Text(no_wrap=True, overflow="ellipsis")
    if level < 4:
        text.append(f"{summary.at:%H:%M:%S}")
        text.append(" │ ")
    down = summary.devices_total - summary.devices_up
    devices = f"{summary.devices_up}/{summary.devices_total} up"
    text.append(devices if level >= 1 else f"devices {devices}", style="red" if down else "green")
    text.append(" │ ")
    if summary.max_utilization is None:
        text.append("util ?")
    else:
        busy = summary.max_utilization >= 0.9
        where = f" {summary.max_utilization_at}" if level < 3 else ""
        text.append(f"util {summary.max_utilization:.0%}{where}", style="yellow" if busy else "")
    text.append(" │ ")
    text.append(f"{summary.confirmed} confirmed", style="green" if summary.confirmed else "")
    if summary.rolled_back or level < 2:
        text.append(", ")
        text.append(
            f"{summary.rolled_back} rolled back", style="yellow" if summary.rolled_back else ""
        )
    if summary.undone:
        by = " by operator" if level < 1 else ""
        text.append(f", {summary.undone} undone{by}", style="yellow")
    if summary.in_flight:
        text.append(f", {summary.in_flight} in flight", style="cyan")
    return text


class StatusBar(Static):
    """The network at a glance (or what the console is busy with), shortened to fit."""

    _shown: tuple[NetworkSummary, str, str] | None = None

    def show(self, summary: NetworkSummary, notice: str = "", problem: str = "") -> None:
        """Render ``summary`` (or ``notice``/``problem`` instead, e.g. while stopping)."""
        self._shown = (summary, notice, problem)
        self._render_line()

    def on_resize(self) -> None:
        self._render_line()

    def _render_line(self) -> None:
        if self._shown is None:
            return
        width = self.content_size.width
        self.update(summary_text(*self._shown, width=width or None))
