"""Snapshot tests of the console's screens at 80x24, on the fixed evening (no network).

The SVGs under ``__snapshots__/`` are reviewed renders; a change to a screen's layout shows
up as a diff (``pytest --snapshot-update`` accepts it after review). The same renders are
exported for the docs by ``python -m tests.tui.screenshots``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.tui.fixtures import SIZE, feed, settle, synthetic_app
from tests.tui.screenshots import SHOTS
from tui.app import NetpilotApp


def prepare(app: NetpilotApp, keys: tuple[str, ...], select: Callable[[NetpilotApp], None] | None):
    async def run_before(pilot: Any) -> None:
        await feed(app)
        await settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await settle(app, pilot)
        if select is not None:
            select(app)
            await settle(app, pilot)

    return run_before


@pytest.mark.parametrize("shot", SHOTS, ids=[s.name for s in SHOTS])
def test_screen(snap_compare: Callable[..., bool], shot: Any) -> None:
    app = synthetic_app()
    before: Callable[[Any], Awaitable[None]] = prepare(app, shot.keys, shot.select)
    assert snap_compare(app, terminal_size=SIZE, run_before=before)
