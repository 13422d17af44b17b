"""The operator console (Textual): intents, devices, decisions, changes, intent files and their
revisions, approvals and the model registry.

Structure (as in posting): this module holds the App with its ``BINDINGS``, ``CSS_PATH`` and
``MODES`` (one screen per mode: ``tui/screens/``), widgets live in ``tui/widgets/``, the
messages the controller's observer posts in ``tui/messages.py``, and what the screens render
in a :class:`~tui.state.ConsoleState` (plain data, ``tui/state.py``).

The app never calls adapters. It is given a *runner*: a coroutine function that runs the
controller (and, in the demo, the lab) until a stop event is set, reporting through the
observer the app hands it. The runner runs in a Textual worker on the app's event loop, and
the observer turns controller events into messages. Queries and actions (the journal's
changes, an intent's file, a rollback, an approval) go through a
:class:`~controller.facade.ConsoleFacade`: the in-process one over the controller that
``controller_ready`` hands over, or one given to :func:`make_app` (tests; the
:class:`~controller.facade.RemoteFacade` of ``netpilot tui --connect``, whose ``run`` is then
the runner: it polls the daemon's events and reports them through the same observer). Every
facade call runs in a worker, so the UI never waits on the disk or the network.

Quitting (``q``, Textual's ``ctrl+q``, the command palette) always stops gracefully: an
operator rollback in flight ends first, then the stop event is set, changes in flight finish,
and the app exits with the runner's summary. If the runner fails, the app exits with the
error in :attr:`NetpilotApp.error` for the caller to report once the terminal is restored.

Everything shown that comes from the network or the files (names, config paths such as
``qos/class[name=video]/priority``, device errors) is rendered as Rich ``Text``, never as
markup, so brackets in it are shown, never interpreted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from controller.errors import NetpilotError
from controller.facade import ApprovalView, ConsoleFacade, InProcessFacade
from controller.loop import Controller, TickReport
from controller.model import ChangeResult, ChangeStatus, Decision
from tui.messages import (
    ChangeFinished,
    ChangeStarted,
    ConnectionChanged,
    ControllerReady,
    RunFinished,
    TickFinished,
)
from tui.screens.approvals import ApprovalsScreen
from tui.screens.base import LiveView
from tui.screens.changes import ChangesScreen
from tui.screens.decisions import DecisionsScreen
from tui.screens.devices import DevicesScreen
from tui.screens.dialogs import ReasonScreen
from tui.screens.help import HelpScreen, help_text
from tui.screens.intents import IntentsScreen
from tui.screens.models import ModelsScreen
from tui.screens.overview import OverviewScreen
from tui.state import ConsoleSettings, ConsoleState
from tui.widgets.frame import SCREENS

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

    def connection_changed(self, problem: str) -> None:
        self.app.post_message(ConnectionChanged(problem))


# runner(observer, stop) -> summary; it returns when stop is set (or its own duration ends)
Runner = Callable[[TuiObserver, asyncio.Event], Awaitable[dict[str, object]]]

_SCREEN_CLASSES: dict[str, type[Screen[Any]]] = {
    "overview": OverviewScreen,
    "devices": DevicesScreen,
    "decisions": DecisionsScreen,
    "changes": ChangesScreen,
    "intents": IntentsScreen,
    "approvals": ApprovalsScreen,
    "models": ModelsScreen,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NetpilotApp(App[dict[str, object]]):
    """netpilot's operator console.

    Args:
        runner: runs the controller until the stop event (see :data:`Runner`).
        subtitle: shown in the header (e.g. the lab scenario).
        facade: what the console queries and acts through; ``None`` builds the in-process
            facade when the controller is ready.
        settings: how much history the console keeps.
        clock: the time of the console's own records (operator actions).
        model_store: the model registry the in-process facade reads (default
            ``.netpilot/models``).
        intent_store: the intent store the in-process facade reads (default: next to the
            journal, if there is one).
    """

    TITLE = "netpilot"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = dict(_SCREEN_CLASSES)
    # 'quit' is also what Textual binds to ctrl+q and offers in the command palette, so
    # overriding action_quit routes every way out through the graceful stop. The screen keys
    # are shown by each screen's bar (NavBar), so the footer keeps room for the screen's own.
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"switch_mode('{mode}')", title, show=False)
            for mode, key, title in SCREENS
        ),
        Binding("question_mark,f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        runner: Runner,
        *,
        subtitle: str = "",
        facade: ConsoleFacade | None = None,
        settings: ConsoleSettings | None = None,
        clock: Callable[[], datetime] = _utc_now,
        model_store: Path | None = None,
        intent_store: Path | None = None,
    ) -> None:
        super().__init__()
        self.model_store = model_store
        self.intent_store = intent_store
        self._runner = runner
        self.sub_title = subtitle
        self.settings = settings or ConsoleSettings()
        self.state = ConsoleState(self.settings)
        self.facade: ConsoleFacade | None = facade
        self._given_facade = facade is not None
        self.clock = clock
        self.stop_signal: asyncio.Event | None = None
        self.summary: dict[str, object] | None = None
        self.error: Exception | None = None  # the runner's failure, for the caller to report
        self.notice = ""  # shown instead of the status line (e.g. while stopping)
        self.connection_problem = ""  # a remote console's lost daemon, shown likewise
        self.rolling_back: set[str] = set()  # transactions an operator is rolling back

    async def on_mount(self) -> None:
        self.stop_signal = asyncio.Event()
        await self.switch_mode("overview")
        self.run_controller()
        if self.facade is not None:
            self.load_snapshot()

    @work(exclusive=True, exit_on_error=False, group="runner")
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

    # ---------------------------------------------------------------- rendering

    def refresh_screen(self) -> None:
        """Re-render the visible screens from the state (a modal's background too)."""
        for screen in self.screen_stack:
            if isinstance(screen, LiveView):
                screen.refresh_view()

    # ---------------------------------------------------------------- controller events

    @on(ControllerReady)
    def _controller_ready(self, message: ControllerReady) -> None:
        if not self._given_facade:
            self.facade = InProcessFacade(
                message.controller, intent_store=self.intent_store, model_store=self.model_store
            )
        self.load_snapshot()

    @on(TickFinished)
    def _tick(self, message: TickFinished) -> None:
        if self.state.intents_changed(message.report):
            self.load_snapshot()  # a new intent revision: take its intents
        self.state.add_tick(message.report)
        self.load_approvals()  # a tick may have asked for one, or applied one
        self.refresh_screen()

    @on(ConnectionChanged)
    def _connection_changed(self, message: ConnectionChanged) -> None:
        self.connection_problem = message.problem
        if not message.problem:
            self.load_snapshot()  # back: the daemon may have moved on (or restarted)
        self.refresh_screen()

    @on(ChangeStarted)
    def _change_started(self, message: ChangeStarted) -> None:
        self.state.change_started(message.decision, message.txn)
        self.load_changes()
        self.refresh_screen()

    @on(ChangeFinished)
    def _change_finished(self, message: ChangeFinished) -> None:
        self.state.change_finished(message.result)
        self.load_changes()
        self.refresh_screen()

    @on(RunFinished)
    def _run_finished(self, message: RunFinished) -> None:
        self.summary = message.summary
        self.exit(message.summary)

    # ---------------------------------------------------------------- facade workers

    @work(exclusive=True, exit_on_error=False, group="snapshot")
    async def load_snapshot(self) -> None:
        """Take the controller's state (intents, inventory), then the journal's changes."""
        if self.facade is None:
            return
        try:
            snapshot = await self.facade.snapshot()
        except Exception as exc:  # noqa: BLE001 - the console's boundary: report, keep running
            self._failed("cannot read the controller", exc)
            return
        self.state.load(snapshot)
        self.refresh_screen()
        self.load_changes()
        self.load_approvals()

    @work(exclusive=True, exit_on_error=False, group="changes")
    async def load_changes(self) -> None:
        """Reload the journal's change list (the journal is read off the UI loop)."""
        if self.facade is None:
            return
        try:
            changes = await self.facade.changes(limit=self.settings.changes_page)
        except Exception as exc:  # noqa: BLE001 - the console's boundary: report, keep running
            self._failed("cannot read the journal", exc)
            return
        self.state.set_changes(changes)
        self.refresh_screen()

    @work(exclusive=True, exit_on_error=False, group="approvals")
    async def load_approvals(self) -> None:
        """Reload the controller's approvals (pending plans, and how others were settled)."""
        if self.facade is None:
            return
        try:
            approvals = await self.facade.approvals()
        except Exception as exc:  # noqa: BLE001 - the console's boundary: report, keep running
            self._failed("cannot read the approvals", exc)
            return
        self.state.set_approvals(approvals)
        self.refresh_screen()

    @work(exit_on_error=False, group="approval")
    async def decide_approval(
        self, approval_id: str, *, approve: bool, reason: str
    ) -> ApprovalView | None:
        """Approve or reject a plan through the facade; the outcome goes to the feed, the
        approvals list and a toast."""
        if self.facade is None:
            self.notify("the controller is not ready yet", severity="warning")
            return None
        known = next((a for a in self.state.approvals if a.id == approval_id), None)
        intent = known.intent if known else ""
        verb = "approve" if approve else "reject"
        try:
            if approve:
                view = await self.facade.approve(approval_id, reason)
            else:
                view = await self.facade.reject(approval_id, reason)
        except NetpilotError as exc:
            self.state.operator_action(intent, self.clock(), f"{verb} {approval_id} refused: {exc}")
            self.notify(f"{verb} refused: {exc}", severity="error", markup=False)
            self.refresh_screen()
            return None
        except Exception as exc:  # noqa: BLE001 - the console's boundary: report, keep running
            self.state.operator_action(
                intent, self.clock(), f"{verb} {approval_id} failed: {exc!r}"
            )
            self._failed(f"{verb} of {approval_id} failed", exc)
            self.refresh_screen()
            return None
        self.state.update_approval(view)
        said = f": {reason}" if reason else ""
        self.state.operator_action(
            view.intent, self.clock(), f"{view.status.value} {view.id}{said}"
        )
        self.notify(
            f"{view.id}: {view.status.value}",
            severity="information" if approve else "warning",
            markup=False,
        )
        self.refresh_screen()
        self.load_approvals()
        return view

    def _failed(self, what: str, error: Exception) -> None:
        """A facade call failed: log it (with the traceback when unexpected) and say so."""
        if isinstance(error, NetpilotError):
            log.warning("%s: %s", what, error)
        else:
            log.error("%s", what, exc_info=error)
        self.notify(f"{what}: {error}", severity="error", markup=False)

    @work(exit_on_error=False, group="rollback")
    async def roll_back(self, txn: str) -> ChangeResult | None:
        """Roll a change back through the facade; the result goes to the feed and a toast."""
        if self.facade is None:
            self.notify("the controller is not ready yet", severity="warning")
            return None
        change = next((c for c in self.state.changes if c.txn == txn), None)
        intent = change.intent if change else ""
        self.rolling_back.add(txn)
        self.notify(f"rolling back {txn}...", markup=False, timeout=2)
        try:
            result = await self.facade.rollback(txn)
        except NetpilotError as exc:
            self.state.operator_action(intent, self.clock(), f"rollback of {txn} refused: {exc}")
            self.notify(f"rollback refused: {exc}", severity="error", markup=False)
            return None
        except Exception as exc:  # noqa: BLE001 - the console's boundary: report, keep running
            self.state.operator_action(intent, self.clock(), f"rollback of {txn} failed: {exc!r}")
            self._failed(f"rollback of {txn} failed", exc)
            return None
        finally:
            self.rolling_back.discard(txn)
            self.refresh_screen()
        self.state.operator_action(
            result.intent, result.finished, f"roll back {txn}: {result.detail}", result
        )
        confirmed = result.status is ChangeStatus.CONFIRMED
        self.notify(
            f"rollback of {txn}: {result.status.value}",
            severity="information" if confirmed else "error",
            markup=False,
        )
        self.load_changes()
        return result

    def ask_release(self, change_id: str, *, intent: str, title: str, body: Text) -> None:
        """Ask for a reason (required), then release ``change_id``'s quarantine (the
        Changes and Approvals screens' ``u``)."""

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.release(change_id, intent=intent, reason=reason)

        self.push_screen(
            ReasonScreen(title, body, confirm_label="Release", required=True), answered
        )

    @work(exit_on_error=False, group="release")
    async def release(self, change_id: str, *, intent: str, reason: str) -> bool:
        """End a change's quarantine through the facade; the outcome goes to the feed and a
        toast. ``intent``: the intent the operator saw it held for (the feed's row)."""
        if self.facade is None:
            self.notify("the controller is not ready yet", severity="warning")
            return False
        try:
            change, intents = await self.facade.release(change_id, reason)
        except NetpilotError as exc:
            self.state.operator_action(intent, self.clock(), f"release {change_id} refused: {exc}")
            self.notify(f"release refused: {exc}", severity="error", markup=False)
            self.refresh_screen()
            return False
        except Exception as exc:  # noqa: BLE001 - the console's boundary: report, keep running
            self.state.operator_action(intent, self.clock(), f"release {change_id} failed: {exc!r}")
            self._failed(f"release of {change_id} failed", exc)
            self.refresh_screen()
            return False
        for name in intents:
            self.state.operator_action(name, self.clock(), f"released {change}: {reason}")
        self.notify(
            f"{change}: released for {', '.join(intents)}; the loop may propose it again",
            markup=False,
        )
        self.refresh_screen()
        self.load_approvals()
        return True

    # ---------------------------------------------------------------- actions

    def action_help(self) -> None:
        """Show every key and what each screen is for."""
        # each screen's own keys (not the focus keys every Screen inherits)
        screens = [
            (
                title,
                _SCREEN_CLASSES[mode].__name__,
                list(_SCREEN_CLASSES[mode].__dict__.get("BINDINGS", [])),
            )
            for mode, _, title in SCREENS
        ]
        self.push_screen(HelpScreen(help_text(list(self.BINDINGS), screens)))

    async def action_quit(self) -> None:
        """Stop the controller (changes in flight finish first); the app exits when it has.

        Overrides Textual's immediate exit, which would abandon a change between its
        confirmed commit and its confirm. The runner's summary ends the app (RunFinished).
        """
        if self.stop_signal is None:  # not mounted yet: nothing runs
            self.exit()
            return
        if self.notice:
            return  # already stopping
        self.notice = "stopping: finishing changes in flight..."
        self.refresh_screen()
        self._stop()

    @work(exit_on_error=False, group="stop")
    async def _stop(self) -> None:
        assert self.stop_signal is not None
        if self.facade is not None:
            await self.facade.drain()  # an operator rollback ends before the controller
        self.stop_signal.set()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's command palette: the console's screens and the current screen's actions."""
        yield from super().get_system_commands(screen)
        for mode, key, title in SCREENS:
            yield SystemCommand(
                f"Show {title}",
                f"Switch to the {title} screen (key {key})",
                partial(self.switch_mode, mode),
            )
        yield SystemCommand("Help: keys and screens", "Every key of the console", self.action_help)
        if isinstance(screen, ChangesScreen):
            yield SystemCommand(
                "Roll back the selected change",
                "A new transaction returns its devices to their configuration before it (r)",
                screen.action_roll_back,
            )
            yield SystemCommand(
                "Release the selected change's quarantine",
                "The loop may propose it again; asks for a reason (u)",
                screen.action_release,
            )
            yield SystemCommand(
                "Reload the change list", "Read the journal again (ctrl+r)", screen.action_reload
            )
        if isinstance(screen, ApprovalsScreen):
            yield SystemCommand(
                "Approve the selected plan",
                "Applied at the controller's next tick; asks for a reason (a)",
                screen.action_approve,
            )
            yield SystemCommand(
                "Reject the selected plan",
                "Its change is quarantined for the intent; asks for a reason (x)",
                screen.action_reject,
            )
            yield SystemCommand(
                "Release the selected rejected plan",
                "The intent may propose it again and asks again; asks for a reason (u)",
                screen.action_release,
            )
        if isinstance(screen, ModelsScreen):
            yield SystemCommand(
                "Reload the model registry",
                "Read the model store again (ctrl+r)",
                screen.action_reload,
            )
        if isinstance(screen, IntentsScreen):
            for panel, key in (("source", "s"), ("history", "h"), ("revisions", "v")):
                yield SystemCommand(
                    f"Show the intent's {panel}",
                    f"The lower panel of the Intents screen ({key})",
                    partial(screen.action_panel, panel),
                )
        if isinstance(screen, DecisionsScreen):
            yield SystemCommand(
                "Explain the selected decision",
                "Target, KPI, model, bottleneck, candidates, guards, plan, outcome (enter)",
                screen.action_explain,
            )


def make_app(
    runner: Runner,
    *,
    subtitle: str = "",
    facade: ConsoleFacade | None = None,
    settings: ConsoleSettings | None = None,
    clock: Callable[[], datetime] = _utc_now,
    model_store: Path | None = None,
    intent_store: Path | None = None,
) -> NetpilotApp:
    """Build the console around a runner.

    Args:
        runner: runs the controller until the stop event is set; returns its summary.
        subtitle: shown in the header.
        facade: the facade to use instead of the in-process one (tests pass a fake;
            ``netpilot tui --connect`` a :class:`~controller.facade.RemoteFacade`).
        settings: history bounds.
        clock: the console's clock (tests pass a fixed one).
        model_store: the model registry of the in-process facade (default
            ``.netpilot/models``).
        intent_store: the intent store of the in-process facade (default: next to the
            journal, if there is one).
    """
    return NetpilotApp(
        runner,
        subtitle=subtitle,
        facade=facade,
        settings=settings,
        clock=clock,
        model_store=model_store,
        intent_store=intent_store,
    )
