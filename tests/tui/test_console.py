"""The operator console driven with Textual's Pilot, on the real lab and controller."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from textual.widgets import DataTable, RichLog

from controller.demo import DemoOptions, run_demo
from tui.app import TuiObserver, make_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def wait_for(pilot, condition, *, within: float = 40.0) -> None:
    """Let the app run until ``condition()`` holds (bounded; no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.1)


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
        intents = app.query_one("#intents", DataTable)
        assert intents.row_count == 1
        name, status, *_ = intents.get_row_at(0)
        assert name == "video-west-east"
        feed = "\n".join(str(line.text) for line in app.query_one("#decisions", RichLog).lines)
        assert "raise video priority" in feed and "confirmed" in feed
        devices = app.query_one("#devices", DataTable)
        assert devices.row_count == 4
        await pilot.press("q")
        await wait_for(pilot, lambda: app.summary is not None)
    assert app.return_value is not None
    assert app.return_value["changes"]["confirmed"] >= 1  # type: ignore[index]
