"""The pure parts of plan and of fulfilment reports: decisions become planned actions, the
exit code follows validity (and --strict), statuses become 28.312 fulfilment reports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from controller.model import (
    ChangeSet,
    ConfigEdit,
    Decision,
    EditOp,
    FulfilmentStatus,
    Intent,
    IntentMode,
    IntentStatus,
    NotFulfilledState,
    TargetStatus,
)
from intents.diff import IntentSetDiff
from intents.load import IntentSource
from intents.plan import ActionKind, ActionPlan, PlanReport, actions_from_decisions
from intents.report import fulfilment_report, not_running_status
from intents.revisions import evaluate
from tests.intents.conftest import qos

T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
EDIT = ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "0", "1")


def intent(mode: IntentMode = IntentMode.AUTO, text: str | None = None) -> Intent:
    evaluation = evaluate((IntentSource("v.yaml", text or qos("video")),), inventory=None)
    return replace(evaluation.intents[0], mode=mode)


def decision(change: bool = True, guards_pass: bool = True, quarantined: bool = False) -> Decision:
    explanation: dict[str, object] = {
        "target": "latencyMs lessThan 30",
        "observed": 41.5,
        "candidates": [{"device": "r2", "edit": EDIT.describe()}],
        "guards": [
            {"guard": "hysteresis", "passed": True, "detail": "ok"},
            {"guard": "cooldown", "passed": guards_pass, "detail": "50 s of cooldown left"},
        ],
    }
    if quarantined:
        explanation["quarantined"] = "chg-1"
    return Decision(
        "video",
        T0,
        "raise video priority 0 -> 1 on r2",
        change=ChangeSet.make("video", "r2", (EDIT,), "raise") if change else None,
        explanation=explanation,
        expectation="latency",
    )


def test_a_change_the_controller_would_start():
    (action,) = actions_from_decisions([intent()], [decision()])
    assert action.kind is ActionKind.CHANGE
    assert action.devices == ("r2",)
    assert action.edits == ("qos/class[name=video]/priority: 0 -> 1",)
    assert "latencyMs lessThan 30 (now 41.5)" in action.predicted_effect


def test_a_candidate_held_back_by_a_guard_or_quarantine():
    (held,) = actions_from_decisions([intent()], [decision(change=False, guards_pass=False)])
    assert held.kind is ActionKind.HELD_BACK
    assert held.held_back_by == ("cooldown: 50 s of cooldown left",)
    (quarantined,) = actions_from_decisions([intent()], [decision(change=False, quarantined=True)])
    assert any("quarantined" in reason for reason in quarantined.held_back_by)


def test_dry_run_intents_only_report_and_quiet_decisions_do_nothing():
    (dry,) = actions_from_decisions([intent(IntentMode.DRY_RUN)], [decision()])
    assert dry.kind is ActionKind.REPORT_ONLY
    # approve mode: the plan would be raised as an approval, not applied
    (asked,) = actions_from_decisions([intent(IntentMode.APPROVE)], [decision()])
    assert asked.kind is ActionKind.AWAITS_APPROVAL and asked.devices == ("r2",)
    quiet = Decision("video", T0, "fulfilled: no action")
    (none,) = actions_from_decisions([intent()], [quiet])
    assert none.kind is ActionKind.NONE and none.devices == () and none.predicted_effect == ""


def test_plan_report_exit_codes_and_text():
    good = evaluate((IntentSource("v.yaml", qos("video")),), inventory=None)
    bad = evaluate((IntentSource("v.yaml", "kind: ["),), inventory=None)
    status = IntentStatus(
        "video",
        FulfilmentStatus.NOT_FULFILLED,
        NotFulfilledState.DEGRADED,
        (TargetStatus("latency", good.intents[0].expectations[0].targets[0], 41.5, False),),
    )
    plan = ActionPlan(
        at=T0,
        actions=actions_from_decisions(good.intents, [decision()]),
        statuses=(status,),
        devices_read=("r1", "r2"),
        device_errors={"r3": ("netconf: timed out",)},
    )
    report = PlanReport(good, IntentSetDiff(added=("video",)), "main", actions=plan)
    assert report.exit_code == 0
    text = "\n".join(report.lines())
    assert "+ video" in text and "video: notFulfilled/degraded (latencyMs=41.5)" in text
    assert "r2: qos/class[name=video]/priority: 0 -> 1" in text
    assert "r3: could not read: netconf: timed out" in text
    data: Any = report.as_dict()
    assert data["plan"]["actions"][0]["kind"] == "change"
    assert PlanReport(bad, IntentSetDiff(), "main", offline_reason="x").exit_code == 1
    warned = evaluate(
        (
            IntentSource(
                "v.yaml",
                qos("video").replace(
                    "latencyMs, condition: lessThan, value: 30",
                    "availability, condition: greaterThan, value: 0.9",
                ),
            ),
        ),
        inventory=None,
    )
    assert warned.warnings
    assert PlanReport(warned, IntentSetDiff(), "main").exit_code == 0
    assert PlanReport(warned, IntentSetDiff(), "main", strict=True).exit_code == 1


def test_fulfilment_report_in_28312_terms():
    video = intent()
    target = video.expectations[0].targets[0]
    status = IntentStatus(
        "video",
        FulfilmentStatus.NOT_FULFILLED,
        NotFulfilledState.DEGRADED,
        (TargetStatus("latency", target, 41.5, False),),
        ("latencyMs is 41.5, needs latencyMs lessThan 30",),
        T0,
    )
    report: Any = fulfilment_report(video, status, notes=["conflict: x"])
    info = report["intentFulfilmentInfo"]
    assert info["fulfilmentStatus"] == "notFulfilled" and info["notFulfilledState"] == "degraded"
    assert info["notFulfilledReasons"][-1] == "conflict: x"
    (expectation,) = report["expectationFulfilmentResults"]
    (result,) = expectation["targetFulfilmentResults"]
    assert result["targetAchievedValue"] == 41.5 and result["unit"] == "ms"
    assert result["targetFulfilmentInfo"]["notFulfilledState"] == "degraded"
    assert report["lastEvaluation"] == T0.isoformat()
    unknown: Any = fulfilment_report(video, None)
    assert unknown["intentFulfilmentInfo"]["notFulfilledState"] == "acknowledged"
    suspended = not_running_status("video", ["deactivated"], now=T0)
    assert suspended.state is NotFulfilledState.SUSPENDED and suspended.reasons == ("deactivated",)


def test_the_effect_carries_the_what_if_estimate_when_the_twin_gave_one():
    with_twin = decision()
    with_twin.explanation["predicted"] = {"latencyMs": 9.1342}  # type: ignore[index]
    (action,) = actions_from_decisions([intent()], [with_twin])
    assert action.predicted_effect == (
        "latencyMs lessThan 30 (now 41.5); what-if twin predicts latencyMs 9.13 after the change"
    )
    (action,) = actions_from_decisions([intent()], [decision()])
    assert "no what-if estimate (no topology: in the config)" in action.predicted_effect
