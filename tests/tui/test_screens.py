"""The approvals, models and intents screens driven with Pilot on the fixed evening
(tests/tui/fixtures.py: a fake facade that records what the console asked of it).

The same screens run against a real controller on the lab in tests/tui/test_lab.py; here
each key's behaviour is pinned down, including the refusals (a rejection without a reason,
a decision on a plan that is not pending any more).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import DataTable, Input, TabbedContent

from analytics.registry import shadow_comparison
from controller.model import ApprovalStatus
from tests.tui.fixtures import APPROVALS, MODELS, FakeFacade, feed, settle, synthetic_app
from tests.tui.test_console import rows, select_row, static_text, wait_for
from tui.screens.approvals import ApprovalsScreen
from tui.screens.dialogs import ReasonScreen
from tui.screens.models import ModelsScreen

PENDING, SETTLED = APPROVALS  # chg-7c2e9b41d0aa waits; chg-0b5f3e7a9c12 was rejected


async def type_text(pilot: Any, text: str) -> None:
    """Type ``text`` key by key, as an operator would."""
    await pilot.press(*("space" if c == " " else c for c in text))


def nav(app: Any) -> str:
    """The bar of screens, spaces collapsed (the current screen is padded)."""
    return " ".join(static_text(app, ".nav-bar").split())


async def open_approvals(app: Any, pilot: Any) -> None:
    await feed(app)
    await settle(app, pilot)
    await pilot.press("6")
    await settle(app, pilot)
    assert isinstance(app.screen, ApprovalsScreen)


async def test_approvals_list_pending_plans_first_with_their_reasoning():
    app = synthetic_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(app, pilot)
        listed = rows(app, "approvals")
        assert [r[3] for r in listed] == ["pending", "rejected"]
        assert listed[0][1:3] == ["voice-west-east", "r3"]
        table = app.screen.query_one("#approvals", DataTable)
        assert table.border_title == "Plans awaiting approval: 1"
        # the bar under the title counts what waits for an operator
        assert "6 Approvals (1) 7 Models" in nav(app)
        detail = static_text(app, "approval-detail-text")
        assert "r3     + qos/class[name=voice]/priority: (unset) -> 2" in detail
        assert "latencyMs lessThan 20" in detail and "Why" in detail
        # the settled one says who settled it and why
        select_row(app, "approvals", lambda r: r[3] == "rejected")
        await settle(app, pilot)
        detail = static_text(app, "approval-detail-text")
        assert SETTLED.id in detail and "r2 is in a maintenance window tonight" in detail


async def test_a_plan_that_comes_to_wait_takes_the_cursor():
    app = synthetic_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(app, pilot)
        select_row(app, "approvals", lambda r: r[3] == "rejected")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen)
        # a refresh with nothing new keeps the operator's cursor where it is
        screen.show()
        selected = screen.selected_approval()
        assert selected is not None and selected.id == SETTLED.id
        # a new plan waits: 'a' or 'x' now answers it, not the settled row
        later = PENDING.requested_at + timedelta(minutes=5)
        arrived = replace(PENDING, id="chg-1a2b3c4d5e6f", requested_at=later)
        app.state.set_approvals([arrived, *app.state.approvals])
        screen.show()
        await settle(app, pilot)
        selected = screen.selected_approval()
        assert selected is not None and selected.id == arrived.id


async def test_a_rejected_plan_is_released_with_a_reason_and_a_pending_one_is_not():
    facade = FakeFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(app, pilot)
        await pilot.press("u")  # the cursor is on the pending plan: nothing is held
        await settle(app, pilot)
        assert isinstance(app.screen, ApprovalsScreen) and facade.releases == []
        select_row(app, "approvals", lambda r: r[3] == "rejected")
        await settle(app, pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=5)
        assert f"Release plan {SETTLED.id}?" in static_text(app, "dialog-title")
        await pilot.press("enter")  # no reason: refused in place
        await settle(app, pilot)
        assert isinstance(app.screen, ReasonScreen) and facade.releases == []
        await type_text(pilot, "the window is over")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsScreen), within=5)
        await settle(app, pilot)
        assert facade.releases == [(SETTLED.id, "the window is over")]
        (action,) = [e for e in app.state.feed if e.by_operator]
        assert action.summary == f"released {SETTLED.id}: the window is over"


async def test_approve_asks_for_a_reason_and_the_plan_is_approved():
    facade = FakeFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(app, pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=5)
        assert f"Approve plan {PENDING.id}?" in static_text(app, "dialog-title")
        await type_text(pilot, "agreed with the NOC")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsScreen), within=5)
        await settle(app, pilot)
        assert facade.decisions == [(PENDING.id, True, "agreed with the NOC")]
        assert [r[3] for r in rows(app, "approvals")] == ["approved", "rejected"]
        assert app.state.pending_approvals == ()
        assert "6 Approvals 7 Models" in nav(app)
        (action,) = [e for e in app.state.feed if e.by_operator]
        assert action.summary == f"approved {PENDING.id}: agreed with the NOC"
        # a plan that is not pending is not asked about again
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, ApprovalsScreen) and len(facade.decisions) == 1


async def test_a_rejection_needs_a_reason_and_escape_decides_nothing():
    facade = FakeFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(app, pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=5)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsScreen), within=5)
        assert facade.decisions == []
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=5)
        await pilot.press("enter")  # no reason: refused in place
        await settle(app, pilot)
        assert isinstance(app.screen, ReasonScreen) and facade.decisions == []
        assert "a reason is required" in static_text(app, "reason-error")
        await type_text(pilot, "r3 is in a maintenance window")
        assert app.screen.query_one("#reason", Input).value == "r3 is in a maintenance window"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsScreen), within=5)
        await settle(app, pilot)
        assert facade.decisions == [(PENDING.id, False, "r3 is in a maintenance window")]
        (view,) = [a for a in app.state.approvals if a.id == PENDING.id]
        assert view.status is ApprovalStatus.REJECTED
        assert "r3 is in a maintenance window" in static_text(app, "approval-detail-text")


async def test_a_refused_decision_is_reported_and_the_plan_stays_pending():
    class LateFacade(FakeFacade):
        """The controller superseded the plan before the operator's answer arrived."""

        async def approve(self, approval_id: str, reason: str = "") -> Any:
            self.approval_views = [
                replace(a, status=ApprovalStatus.SUPERSEDED) if a.id == approval_id else a
                for a in self.approval_views
            ]
            return await super().approve(approval_id, reason)

    facade = LateFacade()
    app = synthetic_app(facade)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(app, pilot)
        await pilot.press("a", "enter")  # the reason is optional for an approval
        await settle(app, pilot)
        assert facade.decisions == [(PENDING.id, True, "")]
        (action,) = [e for e in app.state.feed if e.by_operator]
        assert "refused" in action.summary and "no such pending approval" in action.summary
        assert app.is_running and app.error is None


async def test_models_show_who_answers_accuracy_drift_and_fallback():
    app = synthetic_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("7")
        await settle(app, pilot)
        assert isinstance(app.screen, ModelsScreen)
        await wait_for(pilot, lambda: len(rows(app, "models")) == 3, within=5)
        edge, stall, _ = rows(app, "models")
        assert edge == ["edge-load", "load-forecast", "v1", "v2", "active", "mape 7.31", "0.4σ"]
        assert stall[:5] == ["video-stall", "stall", "rule", "-", "fallback"]
        assert stall[6] == "5.2σ"
        assert "does not use these models" in static_text(app, "model-usage")
        detail = static_text(app, "model-detail-text")
        assert "v1      7.31  champion" in detail and "v2      6.12  challenger" in detail
        assert "challenger 312 samples, live error 0.069" in detail
        # the challenger's shadow run against the champion, as `netpilot models show` says
        assert "shadow v2  live error 0.069 vs champion v1's 0.081" in detail
        assert "on 312 samples: gain 14.8% over champion v1" in detail
        assert "✔ the champion answers" in detail
        select_row(app, "models", lambda r: r[0] == "video-stall")
        await settle(app, pilot)
        detail = static_text(app, "model-detail-text")
        assert "✘ the rule throughput-rule answers instead of the model" in detail
        assert "inputs drifted 5.2 sigma" in detail


async def test_a_model_without_a_champion_shows_the_rule_answering_and_the_shadow_run():
    app = synthetic_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("7")
        await settle(app, pilot)
        await wait_for(pilot, lambda: len(rows(app, "models")) == 3, within=5)
        wan = rows(app, "models")[2]
        assert wan == ["wan-load", "load-forecast", "rule", "v1", "fallback", "-", "-"]
        select_row(app, "models", lambda r: r[0] == "wan-load")
        await settle(app, pilot)
        detail = static_text(app, "model-detail-text")
        assert "answered by rule seasonal-naive" in detail
        # no champion to monitor (it had a "champion  no live samples yet" line): the rule
        # answers, and v1's shadow run is measured against the rule's error
        assert "champion   none: the seasonal-naive rule answers" in detail
        assert "no live samples yet" not in detail
        assert "challenger 144 samples, live error 0.0168" in detail
        shadow = shadow_comparison(MODELS.models[2].record)
        assert shadow is not None and shadow.gain == pytest.approx(0.2258, abs=1e-4)
        assert "shadow v1  live error 0.0168 vs the seasonal-naive rule's 0.0217" in detail
        assert "on 144 samples: gain 22.6% over the seasonal-naive rule" in detail
        # no model fell back: none was promoted yet
        assert "✘ no champion: the seasonal-naive rule answers until a version is promoted" in (
            detail
        )
        assert "instead of the model" not in detail


async def test_intents_show_source_history_and_revisions():
    app = synthetic_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("5")
        await settle(app, pilot)
        panels = app.screen.query_one("#intent-panels", TabbedContent)
        assert panels.active == "source"
        assert "metadata:" in static_text(app, "intent-source-text")
        select_row(app, "intent-list", lambda r: r[0] == "voice-west-east")
        await pilot.press("h")
        await settle(app, pilot)
        assert panels.active == "history"
        history = static_text(app, "intent-history-text")
        assert "changed" in history and "spec.priority: 100 -> 120" in history
        await pilot.press("v")
        await settle(app, pilot)
        assert panels.active == "revisions"
        revisions = static_text(app, "intent-revisions-text")
        # the refused revision with its validation error, and the active one's conflict
        assert "7e6d5c4b3a29" in revisions and "must be a number" in revisions
        assert "targetConflict voice-west-east / video-west-east" in revisions
        assert "quarantined" in revisions.lower() and "chg-11aa22bb33cc" in revisions
        # the conflict resolution's note is the selected intent's own
        assert "capped at priority 1" not in revisions
        select_row(app, "intent-list", lambda r: r[0] == "video-west-east")
        await settle(app, pilot)
        revisions = static_text(app, "intent-revisions-text")
        assert "video-west-east: capped at priority 1 on r2, r3 by voice-west-east" in revisions
        await pilot.press("s")
        await settle(app, pilot)
        assert panels.active == "source"
        assert "voice-west-east" in static_text(app, "intent-source-text")


async def test_intents_without_an_intent_store_say_so():
    app = synthetic_app(FakeFacade(store=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await feed(app)
        await pilot.press("5", "h")
        await settle(app, pilot)
        assert "No revision history here" in static_text(app, "intent-history-text")
        await pilot.press("v")
        await settle(app, pilot)
        revisions = static_text(app, "intent-revisions-text")
        assert "No intent store" in revisions and "intents/west-east.yaml" in revisions
