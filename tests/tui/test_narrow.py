"""The console at 80x24 (what the docs promise): the status line shortens instead of being
cut, every intent target says which expectation it belongs to and fits, the decision feed
wraps, and an explanation reads as text, never as Python reprs."""

from __future__ import annotations

import io
from collections import deque
from dataclasses import replace
from datetime import timedelta

from rich.console import Console
from rich.text import Text
from textual.widgets import DataTable, Static

from controller.model import (
    Decision,
    FulfilmentStatus,
    IntentStatus,
    NotFulfilledState,
    Target,
    TargetCondition,
    TargetStatus,
)
from tests.tui.fixtures import CHANGE_VIEW, SIZE, TICKS, TXN, at, feed, settle, synthetic_app
from tui.app import NetpilotApp
from tui.explain import explain
from tui.screens.explanation import ExplanationScreen
from tui.state import FeedEntry, KpiKey
from tui.widgets.details import explanation_text

GTE, LT = TargetCondition.GREATER_THAN_OR_EQUAL, TargetCondition.LESS_THAN


def _plain(app: NetpilotApp, selector: str) -> str:
    content = app.screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


def _rendered(app: NetpilotApp, selector: str) -> str:
    """A Static's content as the operator reads it (any renderable)."""
    out = io.StringIO()
    console = Console(file=out, width=78, color_system=None, force_terminal=False)
    console.print(app.screen.query_one(selector, Static).content)
    return out.getvalue()


def _cells(app: NetpilotApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def _metro() -> tuple[IntentStatus, ...]:
    """The metro lab at night: one energy intent with a west and an east expectation."""

    def energy(expectation: str, ratio: float, utilization: float) -> tuple[TargetStatus, ...]:
        return (
            TargetStatus(expectation, Target("powerReductionRatio", GTE, 0.2), ratio, False),
            TargetStatus(expectation, Target("maxUtilization", LT, 0.6), utilization, True),
        )

    when = at(TICKS)
    return (
        IntentStatus(
            "energy-metro",
            FulfilmentStatus.NOT_FULFILLED,
            NotFulfilledState.DEGRADED,
            (*energy("west", 0.0894, 0.176), *energy("east", 0.0, 0.178)),
            (),
            when,
        ),
        IntentStatus(
            "video-experience-east",
            FulfilmentStatus.FULFILLED,
            None,
            (TargetStatus("east-viewers", Target("stallRatio", LT, 0.02), 0.0, True),),
            (),
            when,
        ),
        IntentStatus(
            "video-latency-east",
            FulfilmentStatus.FULFILLED,
            None,
            (TargetStatus("video-latency", Target("latencyMs", LT, 25), 9.2, True),),
            (),
            when,
        ),
    )


async def test_the_status_line_gives_up_words_not_counts_at_80_columns():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        # an operator undid the change and another change is in flight: the full line
        # ("devices 4/4 up ... 1 undone by operator, 1 in flight") is over 80 columns
        undo = replace(
            CHANGE_VIEW, txn="chg-undo-1", rollback_of=TXN, started_at=at(TICKS) + timedelta(1)
        )
        pending = replace(CHANGE_VIEW, txn="chg-next-1", status=CHANGE_VIEW.status.PENDING)
        app.state.set_changes([pending, undo, replace(CHANGE_VIEW, rolled_back_by="chg-undo-1")])
        app.refresh_screen()
        await pilot.pause()
        bar = app.screen.query_one(".status-bar", Static)
        line = _plain(app, ".status-bar")
        assert line.endswith("1 confirmed, 1 undone, 1 in flight"), line
        assert len(line) <= bar.content_size.width and "…" not in line
        assert "4/4 up" in line and "util 100%" in line


async def test_overview_rows_name_their_expectation_and_fit_80_columns():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        app.state.intents = ()
        app.state.statuses = _metro()
        west = KpiKey("energy-metro", "west", "powerReductionRatio")
        app.state.kpi[west] = deque([0.0, 0.05, 0.0894])
        app.refresh_screen()
        await pilot.pause()
        rows = _cells(app, "intents")
        first = [r[0] for r in rows]
        # the west and east targets of one intent are told apart; every intent is listed
        assert first == [
            "energy-metro",
            "  west: powerReductionRatio >= 0.2",
            "  west: maxUtilization < 0.6",
            "  east: powerReductionRatio >= 0.2",
            "  east: maxUtilization < 0.6",
            "video-experience-east",
            "  east-viewers: stallRatio < 0.02",
            "video-latency-east",
            "  video-latency: latencyMs < 25",
        ]
        assert rows[0][1:3] == ["degraded", "2/4 met"]
        assert rows[1][1:3] == ["not met", "0.0894"]
        # nothing is cut: every column (the trend's too) is inside the table
        table = app.screen.query_one("#intents", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert len(rows[1][3]) == 3  # the trend column is drawn
        # the last intent is reachable (the table scrolls)
        table.move_cursor(row=len(rows) - 1)
        await pilot.pause()
        assert table.cursor_row == len(rows) - 1
        assert app.screen.query_one("KpiChart").border_title == (
            "KPI trend: video-latency-east / video-latency"
        )


async def test_the_decision_feed_wraps_instead_of_cutting_at_80_columns():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        table = app.screen.query_one("#feed", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        confirmed = next(r for r in _cells(app, "feed") if r[1] == "confirmed")
        assert confirmed[2].startswith("video-west-east: raise video priority 0 -> 1")
        assert any(row.height > 1 for row in table.rows.values())  # the long ones wrap


def _fulfilled_entry() -> FeedEntry:
    explanation: dict[str, object] = {
        "confidence": None,
        "candidates": [],
        "predicted": {"latencyMs": 8.515590501676087},
        "plan": {"edits": ["r2: qos/class[name=video]/priority: - -> 1"], "extra": None},
        "arbitration": {"outcome": "no action proposed", "losers": []},
    }
    decision = Decision("video-west-east", at(TICKS), "fulfilled: no action", None, explanation)
    return FeedEntry(99, decision.at, decision.intent, decision.summary, decision)


def test_an_explanation_has_no_python_reprs():
    out = io.StringIO()
    console = Console(file=out, width=78, color_system=None, force_terminal=False)
    console.print(explanation_text(explain(_fulfilled_entry())))
    text = out.getvalue()
    for repr_ in ("{'", "['", "None", "{}", "[]", ": - ->"):
        assert repr_ not in text, (repr_, text)
    assert "confidence: n/a (no model estimate)" in text
    assert "predicted: latencyMs 8.52" in text
    assert "none needed: the intent is fulfilled" in text
    assert "no action this policy knows would help" not in text
    assert "nothing to do: the intent is fulfilled" in text  # the outcome, not "nothing applied"
    assert "priority: (unset) -> 1" in text


async def test_the_why_screen_at_80_columns_reads_as_text():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        entry = app.state._append(replace(_fulfilled_entry(), seq=10_000))
        app.push_screen(ExplanationScreen(entry.seq))
        await settle(app, pilot)
        why = _rendered(app, "#explanation-text")
        assert "confidence: n/a" in why and "predicted: latencyMs 8.52" in why
        assert "{'" not in why and "None" not in why


async def test_the_change_list_fits_80_columns_and_counts_devices():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        sleep = replace(
            CHANGE_VIEW,
            txn="chg-sleep-1",
            devices=("core1", "core2", "ran-west-2", "ran-west-3"),
            reason="sleep core1-core2, ran-west-2/a-l800, ran-west-3/a-l800 (saves ~599 W)",
            started_at=at(TICKS) + timedelta(1),
        )
        app.state.set_changes([sleep, CHANGE_VIEW])
        await pilot.press("4")
        await settle(app, pilot)
        table = app.screen.query_one("#changes", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        rows = _cells(app, "changes")
        assert [r[2] for r in rows] == ["core1 +3", "r2"]
        assert rows[0][4].startswith("sleep core1-core2")  # all of it; the cell ends in "…"


async def test_the_approval_list_fits_80_columns():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        await pilot.press("6")
        await settle(app, pilot)
        table = app.screen.query_one("#approvals", DataTable)
        assert table.row_count == 2
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert _cells(app, "approvals")[0][4].startswith("raise voice priority 0 -> 2")


async def test_the_device_and_intent_lists_fit_80_columns():
    app = synthetic_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app)
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        devices = app.screen.query_one("#devices", DataTable)
        assert devices.virtual_size.width <= devices.scrollable_content_region.width
        rows = _cells(app, "devices")
        # r3's error is the long cell, in the last column (cut with "…" as rendered)
        failing = next(r for r in rows if r[0] == "r3")
        assert failing[1] == "partial" and failing[-1].startswith("snmp: timeout")
        # an intent named at length (the metro lab's are): the source column gives way
        long_name = "video-experience-west-east"
        app.state.intents = (
            replace(app.state.intents[0], name=long_name),
            *app.state.intents[1:],
        )
        await pilot.press("5")
        await settle(app, pilot)
        intents = app.screen.query_one("#intent-list", DataTable)
        assert intents.virtual_size.width <= intents.scrollable_content_region.width
        first = _cells(app, "intent-list")[0]
        assert first[0] == long_name and first[4] == "5d1c0e9a"  # the generation whole
