"""Export the console's screens as SVG screenshots (the docs' images), on the fixed evening.

Usage: ``.venv/bin/python -m tests.tui.screenshots [DIR]`` (default ``docs/screenshots``).
Each shot is the same render as its snapshot test (tests/tui/test_snapshots.py): the console
at 80x24, fed the synthetic evening of tests/tui/fixtures.py, after the shot's keys.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.widgets import DataTable

from tests.tui.fixtures import SIZE, feed, settle, synthetic_app
from tui.app import NetpilotApp

__all__ = ["SHOTS", "Shot", "export"]


def _select(table_id: str, column: int, value: str) -> Callable[[NetpilotApp], None]:
    """Move a table's cursor to the row whose ``column`` reads ``value``."""

    def select(app: NetpilotApp) -> None:
        table = app.screen.query_one(f"#{table_id}", DataTable)
        for index in range(table.row_count):
            if str(table.get_row_at(index)[column]) == value:
                table.move_cursor(row=index)
                return
        raise LookupError(f"no row {value!r} in #{table_id}")

    return select


@dataclass(frozen=True)
class Shot:
    """One screenshot: the keys that reach it, and a row to select first (optional)."""

    name: str
    keys: tuple[str, ...]
    select: Callable[[NetpilotApp], None] | None = None


SHOTS = (
    Shot("overview", ("1",)),
    Shot("devices", ("2",), _select("devices", 0, "r2")),
    Shot("decisions", ("3",), _select("feed", 1, "confirmed")),
    Shot("explanation", ("3", "up", "enter")),
    Shot("changes", ("4",)),
    Shot("rollback-confirmation", ("4", "r")),
    Shot("intents", ("5",)),
    Shot("intent-history", ("5", "h"), _select("intent-list", 0, "voice-west-east")),
    Shot("intent-revisions", ("5", "v")),
    Shot("approvals", ("6",)),
    Shot("reject-reason", ("6", "x")),
    Shot("models", ("7",)),
    Shot("help", ("question_mark",)),
)


async def _shoot(shot: Shot, directory: Path) -> Path:
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        for key in shot.keys:
            await pilot.press(key)
            await settle(app, pilot)
        if shot.select is not None:
            shot.select(app)
            await settle(app, pilot)
        name = app.save_screenshot(f"{shot.name}.svg", str(directory))
        app.exit()
    return Path(name)


def export(directory: Path) -> list[Path]:
    """Write every shot into ``directory``; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    return [asyncio.run(_shoot(shot, directory)) for shot in SHOTS]


if __name__ == "__main__":
    for path in export(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(path)
