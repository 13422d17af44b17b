"""The operator console driven with Textual's Pilot, on the real lab and controller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from rich.text import Text
from textual.widgets import DataTable, RichLog

from controller.demo import DemoOptions, run_demo
from controller.errors import ConfigFileError
from controller.model import ChangeResult, ChangeSet, ChangeStatus, ConfigEdit, Decision, EditOp
from tui.app import NetpilotApp, TuiObserver, make_app
from tui.messages import ChangeFinished, ChangeStarted

T0 = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


async def wait_for(pilot, condition, *, within: float = 40.0) -> None:
    """Let the app run until ``condition()`` holds (bounded; no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.1)


def intent_row(app: NetpilotApp) -> list[str]:
    """The first intent row as the operator reads it (markup rendered to plain text)."""
    table = app.query_one("#intents", DataTable)
    if table.row_count == 0:
        return []
    return [Text.from_markup(str(cell)).plain for cell in table.get_row_at(0)]


def feed_text(app: NetpilotApp) -> str:
    return "\n".join(str(line.text) for line in app.query_one("#decisions", RichLog).lines)


@pytest.mark.integration
@pytest.mark.slow
async def test_console_shows_intent_and_the_confirmed_change(tmp_path):
    options = DemoOptions(
        headless=False,
        scenario="evening-peak",
        state_dir=tmp_path,
        interval=timedelta(seconds=1),
    )

    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        return await run_demo(options, observers=[observer], stop=stop)

    app = make_app(runner, subtitle="test")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.confirmed >= 1)
        # the tick after the confirmed change shows the intent met again
        await wait_for(pilot, lambda: intent_row(app)[1:2] == ["fulfilled"])
        assert app.query_one("#intents", DataTable).row_count == 1
        name, status, state, target, *_ = intent_row(app)
        assert (name, status, state) == ("video-west-east", "fulfilled", "")
        assert target == "latencyMs lessThan 30"
        feed = feed_text(app)
        assert "raise video priority" in feed and "confirmed" in feed
        # the change's config path, brackets and all: not swallowed as Rich markup
        assert "r2: qos/class[name=video]/priority:" in feed
        devices = app.query_one("#devices", DataTable)
        assert devices.row_count == 4
        # Textual's own quit key goes through the graceful stop too: the runner returns
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.summary is not None)
    assert app.return_value is not None
    assert app.return_value["changes"]["confirmed"] >= 1  # type: ignore[index]


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
        change.id, "video", "r2", ChangeStatus.FAILED, "rpc-error at /qos/class[name=video]", T0, T0
    )
    app = make_app(runner)
    async with app.run_test(size=(160, 40)) as pilot:
        app.post_message(ChangeStarted(decision, "txn-1"))
        app.post_message(ChangeFinished(result))
        await wait_for(pilot, lambda: "rpc-error" in feed_text(app), within=5)
        text = feed_text(app)
        assert "raise [b]video[/b] priority -> transaction txn-1" in text
        assert "r2: qos/class[name=video]/priority: 0 -> 6" in text
        # the feed wraps long lines; the wrapped halves join back into the detail
        assert "failed - rpc-error at /qos/class[name=video]" in text.replace("\n", "")
        await pilot.press("q")
