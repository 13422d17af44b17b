"""The operator console driven with Textual's Pilot.

The first test runs the real thing: the embedded lab and a controller (``run_demo``, 1 s
ticks), and walks every screen the way an operator would, down to rolling a change back.
The others use the fixed evening of tests/tui/fixtures.py (no network) for the console's
own behaviour: dialogs, the command palette, help, markup, quitting.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from textual.widgets import DataTable, Static

from controller.demo import DemoOptions, run_demo
from controller.errors import ChangeError, ConfigFileError
from controller.facade import ChangeDetail
from controller.model import (
    ChangeResult,
    ChangeSet,
    ChangeStatus,
    ConfigEdit,
    Decision,
    EditOp,
)
from tests.tui.fixtures import TXN, FakeFacade, feed, settle, synthetic_app
from tui.app import NetpilotApp, TuiObserver, make_app
from tui.messages import ChangeFinished, ChangeStarted
from tui.screens.changes import ChangesScreen
from tui.screens.dialogs import ConfirmScreen, ReasonScreen
from tui.screens.explanation import ExplanationScreen
from tui.screens.help import HelpScreen

T0 = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


async def wait_for(pilot, condition, *, within: float = 40.0) -> None:
    """Let the app run until ``condition()`` holds (bounded; no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.1)


def rows(app: NetpilotApp, table_id: str) -> list[list[str]]:
    """A table of the current screen as the operator reads it (plain text)."""
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def static_text(app: NetpilotApp, selector: str) -> str:
    """A Static's content as plain text (``#id`` or ``.class``; an id without ``#`` too)."""
    if selector[0] not in "#.":
        selector = f"#{selector}"
    widget = app.screen.query_one(selector, Static)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None, force_terminal=False).print(widget.content)
    return out.getvalue()


def select_row(app: NetpilotApp, table_id: str, predicate) -> int:
    """Move a table's cursor to the first row whose plain cells satisfy ``predicate``."""
    for index, row in enumerate(rows(app, table_id)):
        if predicate(row):
            app.screen.query_one(f"#{table_id}", DataTable).move_cursor(row=index)
            return index
    raise AssertionError(f"no such row in {table_id}: {rows(app, table_id)}")


def confirmed_changes(app: NetpilotApp) -> list[str]:
    return [
        c.txn
        for c in app.state.changes
        if c.status is ChangeStatus.CONFIRMED and not c.rollback_of and not c.rolled_back_by
    ]


@pytest.mark.integration
@pytest.mark.slow
async def test_every_screen_on_the_real_lab_down_to_a_rollback(tmp_path):
    options = DemoOptions(
        scenario="evening-peak", state_dir=tmp_path, interval=timedelta(seconds=1)
    )

    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        return await run_demo(options, observers=[observer], stop=stop)

    app = make_app(runner, subtitle="test")
    async with app.run_test(size=(80, 24)) as pilot:
        # Overview: the controller fixes the evening peak; the intent is met again
        await wait_for(pilot, lambda: bool(confirmed_changes(app)))
        await wait_for(
            pilot,
            lambda: [r[:2] for r in rows(app, "intents")][:1] == [["video-west-east", "fulfilled"]],
        )
        # the intent's row, then its target's: expectation id, target, met, observed value
        intent, target = rows(app, "intents")
        assert intent[2] == "1/1 met"
        assert target[:2] == ["  video-latency: latencyMs < 30", "met"] and float(target[2]) < 30
        assert "latencyMs < 30" in static_text(app, "kpi-caption")
        status = static_text(app, ".status-bar")
        assert "devices 4/4 up" in status and "1 confirmed, 0 rolled back" in status

        # Devices: four routers up; r2's interfaces and class queues follow the selection
        await pilot.press("2")
        await wait_for(pilot, lambda: len(rows(app, "devices")) == 4)
        assert all(r[1] == "up" for r in rows(app, "devices"))
        select_row(app, "devices", lambda r: r[0] == "r2")
        await pilot.pause()
        assert app.screen.query_one("#interfaces", DataTable).border_title == "Interfaces of r2"
        assert {r[0] for r in rows(app, "interfaces")} == {"eth1", "eth2"}
        queues = rows(app, "queues")
        assert len(queues) == 10 and {r[1] for r in queues} >= {"video", "best-effort"}

        # Decisions: the change's decision, explained from target to outcome
        await pilot.press("3")
        await wait_for(pilot, lambda: any(r[1] == "confirmed" for r in rows(app, "feed")))
        select_row(app, "feed", lambda r: r[1] == "confirmed")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplanationScreen))
        why = static_text(app, "explanation-text")
        for part in ("Target", "latencyMs lessThan 30", "Bottleneck", "r2 eth2", "Guards"):
            assert part in why
        assert "✔ hysteresis" in why and "what-if twin" in why  # the demo has its topology
        assert "qos/class[name=video]/priority" in why  # brackets shown, not eaten as markup
        assert "confirmed" in why.split("Outcome")[1]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExplanationScreen))

        # Intents: the shipped intent, from its YAML file
        await pilot.press("5")
        await wait_for(pilot, lambda: "apiVersion" in static_text(app, "intent-source-text"))
        assert rows(app, "intent-list")[0][:2] == ["video-west-east", "auto"]
        assert "video-west-east.yaml" in static_text(app, "intent-source-text")

        # Changes: the confirmed change, its diff and timeline; r, y rolls it back
        await pilot.press("4")
        (txn,) = confirmed_changes(app)
        await wait_for(pilot, lambda: any(r[1] == txn for r in rows(app, "changes")))
        select_row(app, "changes", lambda r: r[1] == txn)
        await wait_for(pilot, lambda: "committed" in static_text(app, "change-detail-text"))
        detail = static_text(app, "change-detail-text")
        assert "r2     + qos/class[name=video]/priority: (unset) -> " in detail
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(
                c.rollback_of == txn and c.status is ChangeStatus.CONFIRMED
                for c in app.state.changes
            ),
        )
        assert isinstance(app.screen, ChangesScreen)
        await wait_for(
            pilot, lambda: [r[3] for r in rows(app, "changes")][:2] == ["confirmed", "undone"]
        )
        undo, original = rows(app, "changes")[:2]
        assert original[1] == txn and undo[4] == f"operator rollback of {txn}"
        assert any(e.by_operator and e.outcome == "confirmed" for e in app.state.feed)
        # the peak is still on, but the controller never pushes the change the operator took
        # back: either the intent says it has no other fix, or (the what-if twin knows other
        # candidates: shaping, a reroute) a different change is tried
        await pilot.press("1")
        await wait_for(
            pilot,
            lambda: (
                rows(app, "intents")[0][1] == "failed"  # notFulfilled: fulfilmentFailed
                or len(app.state.changes) > 2
            ),
            within=20,
        )
        undone = next(c for c in app.state.changes if c.txn == txn)
        again = [c.txn for c in app.state.changes if c.change_id == undone.change_id]
        assert again == [txn]
        if len(app.state.changes) == 2:
            assert "quarantined" in static_text(app, "activity-text")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.summary is not None)
    assert app.return_value is not None


async def test_rollback_asks_first_and_cancel_changes_nothing():
    facade = FakeFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("4")
        await settle(app, pilot)
        assert rows(app, "changes")[0][1] == TXN
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), within=5)
        await pilot.press("enter")  # the focused button is Cancel: enter alone changes nothing
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesScreen), within=5)
        await pilot.press("r", "n")
        await settle(app, pilot)
        assert facade.rollbacks == []
        await pilot.press("r", "y")
        await wait_for(pilot, lambda: len(rows(app, "changes")) == 2, within=5)
        assert facade.rollbacks == [TXN]
        assert [r[3] for r in rows(app, "changes")] == ["confirmed", "undone"]
        # a change already undone is refused before anything is asked
        select_row(app, "changes", lambda r: r[1] == TXN)
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, ChangesScreen) and facade.rollbacks == [TXN]


async def test_releasing_a_change_nothing_holds_is_refused_and_said_in_the_feed():
    facade = FakeFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("4")
        await settle(app, pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=5)
        await pilot.press(*"fixed", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesScreen), within=5)
        await settle(app, pilot)
        (view,) = facade.views
        assert facade.releases == [(view.change_id, "fixed")]
        (action,) = [e for e in app.state.feed if e.by_operator]
        assert action.summary.startswith(f"release {view.change_id} refused:")
        assert "not quarantined" in action.summary


async def test_command_palette_and_help_reach_every_screen():
    app = synthetic_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Show Overview", "Show Devices", "Show Decisions", "Show Changes"):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"changes")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "changes", within=5)
        assert "Roll back the selected change" in [
            c.title for c in app.get_system_commands(app.screen)
        ]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), within=5)
        text = static_text(app, "help-text")
        assert "Roll back" in text and "Explain" in text and "ctrl+p" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChangesScreen), within=5)


async def test_facade_failures_are_shown_and_the_console_keeps_running():
    class BrokenFacade(FakeFacade):
        async def change(self, txn: str) -> ChangeDetail | None:
            raise RuntimeError("journal on fire")

        async def rollback(self, txn: str, *, force: bool = False) -> ChangeResult:
            self.rollbacks.append(txn)
            raise ChangeError(txn, "r2 is busy with another change; try again when it has ended")

    facade = BrokenFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("4")
        await settle(app, pilot)
        assert "cannot read" in static_text(app, "change-detail-text")
        assert "journal on fire" in static_text(app, "change-detail-text")
        await pilot.press("r", "y")
        await settle(app, pilot)
        assert facade.rollbacks == [TXN]
        (refusal,) = [e for e in app.state.feed if e.by_operator]
        assert "refused" in refusal.summary and "r2 is busy" in refusal.summary
        assert app.is_running and app.error is None
        await pilot.press("3")
        await settle(app, pilot)
        assert rows(app, "feed")[-1][2].startswith("video-west-east (operator): ")


@pytest.mark.parametrize("key", ["q", "ctrl+q"])
async def test_quitting_waits_for_the_runner_to_finish_its_work(key):
    finishing = asyncio.Event()

    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        await stop.wait()
        finishing.set()
        # a change in flight: it takes a few loop turns to confirm after the stop
        for _ in range(5):
            await asyncio.sleep(0)
        return {"finished": "change in flight confirmed"}

    app = make_app(runner)
    async with app.run_test() as pilot:
        await pilot.press(key)
        await wait_for(pilot, finishing.is_set, within=5)
        await wait_for(pilot, lambda: app.summary is not None, within=5)
    assert app.return_value == {"finished": "change in flight confirmed"}
    assert app.error is None


async def test_quitting_lets_an_operator_rollback_finish_first():
    class SlowFacade(FakeFacade):
        def __init__(self) -> None:
            super().__init__()
            self.go_on = asyncio.Event()
            self.pending: set[asyncio.Task[object]] = set()

        async def rollback(self, txn, *, force=False):
            task = asyncio.ensure_future(self._slow(txn))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            return await asyncio.shield(task)

        async def _slow(self, txn: str) -> ChangeResult:
            await self.go_on.wait()
            return await FakeFacade.rollback(self, txn)

        async def drain(self) -> None:
            while self.pending:
                await asyncio.gather(*self.pending, return_exceptions=True)

    stopped = asyncio.Event()

    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        await stop.wait()
        stopped.set()
        return {}

    facade = SlowFacade()
    app = make_app(runner, facade=facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("4")
        await settle(app, pilot)
        await pilot.press("r", "y")
        await wait_for(pilot, lambda: TXN in app.rolling_back, within=5)
        await pilot.press("q")
        await pilot.pause(0.2)
        assert not stopped.is_set()  # the rollback is still running: the controller stays
        facade.go_on.set()
        await wait_for(pilot, stopped.is_set, within=5)
        await wait_for(pilot, lambda: app.summary is not None, within=5)
    assert facade.rollbacks == [TXN]


async def test_a_failing_runner_exits_the_app_with_its_error():
    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        raise ConfigFileError("netpilot.yaml", "the lab could not start", line=3)

    app = make_app(runner)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.error is not None, within=5)
    assert isinstance(app.error, ConfigFileError)
    assert "the lab could not start" in str(app.error)
    assert app.return_value is None and app.return_code == 1


async def test_markup_in_names_and_paths_is_shown_literally():
    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        await stop.wait()
        return {}

    edit = ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "0", "6")
    change = ChangeSet.make("video", "r2", (edit,), "raise [b]video[/b] priority")
    decision = Decision("video", T0, "raise [b]video[/b] priority", change=change)
    result = ChangeResult(
        "txn-1", "video", "r2", ChangeStatus.FAILED, "rpc-error at /qos/class[name=video]", T0, T0
    )
    app = make_app(runner)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("3")
        app.post_message(ChangeStarted(decision, "txn-1"))
        app.post_message(ChangeFinished(result))
        # 160 columns: the intent has its own column
        await wait_for(pilot, lambda: [r[2] for r in rows(app, "feed")] == ["failed"], within=5)
        (row,) = rows(app, "feed")
        assert row[1:] == ["video", "failed", "raise [b]video[/b] priority"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplanationScreen), within=5)
        why = static_text(app, "explanation-text")
        assert "r2: qos/class[name=video]/priority: 0 -> 6" in why
        assert "rpc-error at /qos/class[name=video]" in why
        await pilot.press("escape", "q")
