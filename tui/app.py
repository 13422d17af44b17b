"""The operator console (Textual): intents with their status, devices, and the decision feed.

The app never calls adapters. It is given a *runner*: a coroutine function that runs the
controller (and, in the demo, the lab) until a stop event is set, reporting through the
observer the app hands it. The runner runs in a Textual worker on the app's event loop, and
the observer turns controller events into messages (tui/messages.py).

Quitting (``q``, Textual's ``ctrl+q``, the command palette) always stops gracefully: it sets
the stop event, changes in flight finish, and the app exits with the runner's summary. If
the runner fails, the app exits with the error in :attr:`NetpilotApp.error` for the caller
to report once the terminal is restored.

Everything shown in the feed and tables that comes from the network or the files (names,
config paths such as ``qos/class[name=video]/priority``, device errors) is escaped, so
brackets in it are shown, never read as Rich markup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, RichLog, Static

from controller.loop import Controller, TickReport
from controller.model import ChangeResult, ChangeStatus, Decision, FulfilmentStatus, IntentStatus
from tui.messages import (
    ChangeFinished,
    ChangeStarted,
    ControllerReady,
    RunFinished,
    TickFinished,
)

__all__ = ["NetpilotApp", "Runner", "TuiObserver", "make_app"]

log = logging.getLogger("netpilot.tui")


class TuiObserver:
    """A controller observer that posts each event to the app as a message."""

    def __init__(self, app: App[dict[str, object]]) -> None:
        self.app = app

    def controller_ready(self, controller: Controller) -> None:
        self.app.post_message(ControllerReady(controller))

    def tick_finished(self, report: TickReport) -> None:
        self.app.post_message(TickFinished(report))

    def change_started(self, decision: Decision, txn: str) -> None:
        self.app.post_message(ChangeStarted(decision, txn))

    def change_finished(self, result: ChangeResult) -> None:
        self.app.post_message(ChangeFinished(result))


# runner(observer, stop) -> summary; it returns when stop is set (or its own duration ends)
Runner = Callable[[TuiObserver, asyncio.Event], Awaitable[dict[str, object]]]


_STATUS_STYLE = {
    FulfilmentStatus.FULFILLED: "[green]fulfilled[/]",
    FulfilmentStatus.NOT_FULFILLED: "[red]notFulfilled[/]",
}
_CHANGE_STYLE = {
    ChangeStatus.CONFIRMED: "green",
    ChangeStatus.ROLLED_BACK: "yellow",
    ChangeStatus.FAILED: "red",
}


class NetpilotApp(App[dict[str, object]]):
    """netpilot's operator console."""

    TITLE = "netpilot"
    CSS_PATH = "app.tcss"
    # 'quit' is also what Textual binds to ctrl+q and offers in the command palette, so
    # overriding action_quit routes every way out through the graceful stop
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("c", "clear_feed", "Clear feed"),
    ]

    def __init__(self, runner: Runner, *, subtitle: str = "") -> None:
        super().__init__()
        self._runner = runner
        self.sub_title = subtitle
        self.stop_signal: asyncio.Event | None = None
        self.summary: dict[str, object] | None = None
        self.error: Exception | None = None  # the runner's failure, for the caller to report
        self.ticks = 0
        self.confirmed = 0
        self.rolled_back = 0
        self._last_summary: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("starting...", id="status-line")
        intents: DataTable[str] = DataTable(id="intents", cursor_type="row")
        intents.border_title = "Intents"
        yield intents
        devices: DataTable[str] = DataTable(id="devices", cursor_type="row")
        devices.border_title = "Devices"
        yield devices
        feed = RichLog(id="decisions", markup=True, wrap=True, max_lines=2000)
        feed.border_title = "Decisions and changes"
        yield feed
        yield Footer()

    def on_mount(self) -> None:
        intents = self.query_one("#intents", DataTable)
        intents.add_columns("intent", "status", "state", "target", "observed", "met")
        devices = self.query_one("#devices", DataTable)
        devices.add_columns("device", "reachable", "max util", "worst queue", "errors")
        self.stop_signal = asyncio.Event()
        self.run_controller()

    @work(exclusive=True, exit_on_error=False)
    async def run_controller(self) -> None:
        assert self.stop_signal is not None
        try:
            summary = await self._runner(TuiObserver(self), self.stop_signal)
        except Exception as exc:
            # Not Textual's exit_on_error: its traceback lands in the alternate screen and
            # the caller would see no error. Keep it, log it (the demo logs to a file), exit.
            log.exception("the controller run failed")
            self.error = exc
            self.exit(None, return_code=1)
            return
        self.post_message(RunFinished(summary))

    # ---------------------------------------------------------------- events

    @on(TickFinished)
    def _tick(self, message: TickFinished) -> None:
        report = message.report
        self.ticks = report.number
        self._show_intents(report.statuses)
        self._show_devices(report)
        self.query_one("#status-line", Static).update(
            f"tick {report.number} at {report.at:%H:%M:%S} UTC  "
            f"({report.duration.total_seconds() * 1000:.0f} ms)   "
            f"changes confirmed {self.confirmed}, rolled back {self.rolled_back}"
        )
        feed = self.query_one("#decisions", RichLog)
        for decision in report.decisions:
            # a decision that acts shows up as its change; an unchanged one was shown already
            if decision.change is not None or self._last_summary.get(decision.intent) == (
                decision.summary
            ):
                continue
            self._last_summary[decision.intent] = decision.summary
            feed.write(
                f"[dim]{_clock(decision.at)}[/] {escape(decision.intent)}: "
                f"{escape(decision.summary)}"
            )

    def _show_intents(self, statuses: tuple[IntentStatus, ...]) -> None:
        table = self.query_one("#intents", DataTable)
        table.clear()
        for status in statuses:
            state = status.state.value if status.state else ""
            for t in status.targets or ():
                observed = "?" if t.observed is None else f"{t.observed:.2f}"
                met = {True: "[green]yes[/]", False: "[red]no[/]", None: "?"}[t.met]
                table.add_row(
                    escape(status.name),
                    _STATUS_STYLE[status.status],
                    state,
                    escape(t.target.describe()),
                    observed,
                    met,
                )

    def _show_devices(self, report: TickReport) -> None:
        table = self.query_one("#devices", DataTable)
        table.clear()
        for name, observation in sorted(report.observations.items()):
            util = max((r.utilization for r in observation.rates), default=None)
            queue = max(observation.queues, key=lambda q: q.queue_delay_ms, default=None)
            table.add_row(
                escape(name),
                "[green]yes[/]" if not observation.errors else "[red]errors[/]",
                "?" if util is None else f"{util:.0%}",
                "-"
                if queue is None
                else escape(
                    f"{queue.interface} {queue.traffic_class.value} {queue.queue_delay_ms:.1f} ms"
                ),
                escape("; ".join(observation.errors)[:60]),
            )

    @on(ChangeStarted)
    def _change_started(self, message: ChangeStarted) -> None:
        decision = message.decision
        self._last_summary[decision.intent] = decision.summary
        feed = self.query_one("#decisions", RichLog)
        feed.write(
            f"[dim]{_clock(decision.at)}[/] [bold]{escape(decision.intent)}[/]: "
            f"{escape(decision.summary)} -> transaction {escape(message.txn)}"
        )
        if decision.change is not None:
            # the exact edits the transaction will push, e.g. qos/class[name=video]/priority
            for edit in decision.change.edits:
                feed.write(f"    {escape(decision.change.device)}: {escape(edit.describe())}")

    @on(ChangeFinished)
    def _change_finished(self, message: ChangeFinished) -> None:
        result = message.result
        if result.status is ChangeStatus.CONFIRMED:
            self.confirmed += 1
        elif result.status is ChangeStatus.ROLLED_BACK:
            self.rolled_back += 1
        style = _CHANGE_STYLE.get(result.status, "white")
        self.query_one("#decisions", RichLog).write(
            f"[dim]{_clock(result.finished)}[/] change {escape(result.change_id)} on "
            f"{escape(result.device)}: [{style}]{result.status.value}[/] - "
            f"{escape(result.detail)}"
        )

    @on(RunFinished)
    def _run_finished(self, message: RunFinished) -> None:
        self.summary = message.summary
        self.exit(message.summary)

    # ---------------------------------------------------------------- actions

    async def action_quit(self) -> None:
        """Stop the controller (changes in flight finish first); the app exits when it has.

        Overrides Textual's immediate exit, which would abandon a change between its
        confirmed commit and its confirm. The runner's summary ends the app (RunFinished).
        """
        if self.stop_signal is None:  # not mounted yet: nothing runs
            self.exit()
            return
        self.stop_signal.set()
        self.query_one("#status-line", Static).update("stopping: finishing changes in flight...")

    def action_clear_feed(self) -> None:
        self.query_one("#decisions", RichLog).clear()


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S")


def make_app(runner: Runner, *, subtitle: str = "") -> NetpilotApp:
    """Build the console around a runner (tests pass one that drives a fake clock)."""
    return NetpilotApp(runner, subtitle=subtitle)
