"""The console's pure parts: its state store (tui/state.py) and explanations (tui/explain.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from analytics.watch import Anomaly
from controller.model import ChangeStatus, Hold, Observation
from tests.tui.fixtures import (
    CHANGE,
    CHANGE_TICK,
    CHANGE_VIEW,
    CONFIRM_TICK,
    RESULT,
    TICKS,
    TXN,
    at,
    decisions,
    report,
    snapshot,
)
from tui.explain import describe_detail, explain
from tui.state import ConsoleSettings, ConsoleState, DeviceHealth, KpiKey, health, spark


def evening(settings: ConsoleSettings | None = None) -> ConsoleState:
    state = ConsoleState(settings)
    state.load(snapshot())
    for tick in range(1, TICKS + 1):
        state.add_tick(report(tick))
        if tick == CHANGE_TICK:
            state.change_started(next(d for d in decisions(tick) if d.change), TXN)
        if tick == CONFIRM_TICK:
            state.change_finished(RESULT)
    state.set_changes([CHANGE_VIEW])
    return state


def test_spark_scales_from_zero_to_the_larger_of_max_and_floor():
    assert spark([], 5) == ""
    assert spark([0, 0, 0], 5) == "▁▁▁"
    assert spark([1, 2, 4, 8], 3) == "▃▅█"  # the last three, 8 is full
    assert spark([8.5, 8.6], 4, floor=30) == "▃▃"  # well under the 30 ms target
    assert spark([0.5, 1.0], 2, floor=1.0) == "▅█"


def test_health_from_an_observation():
    t = at(1)
    assert health(None) is DeviceHealth.UNKNOWN
    assert health(Observation("r1", t)) is DeviceHealth.UP
    assert health(Observation("r1", t, errors=("netconf: refused",))) is DeviceHealth.DOWN
    partial = report(1).observations["r1"]
    assert health(replace(partial, errors=("netconf: refused",))) is DeviceHealth.PARTIAL


def test_feed_records_new_conclusions_and_follows_a_change_to_its_end():
    state = evening()
    summaries = [(e.intent, e.summary, e.outcome) for e in state.feed]
    # one line per new conclusion, not per tick
    assert summaries == [
        ("video-west-east", "fulfilled: no action", ""),
        ("voice-west-east", "fulfilled: no action", ""),
        ("video-west-east", summaries[2][1], "held back"),
        ("video-west-east", CHANGE.reason, "confirmed"),
        ("video-west-east", "fulfilled: no action", ""),
    ]
    assert summaries[2][1].endswith("held back by hysteresis")
    acting = state.feed[3]
    assert acting.txn == TXN and acting.result == RESULT and state.change_of(acting) == CHANGE_VIEW
    assert state.entry(acting.seq) == acting and state.entry(999) is None


def test_outcome_says_why_nothing_was_applied():
    state = evening()
    held = state.feed[2]
    assert held.decision is not None
    # the decision's hold reason says it, whatever its summary's words
    outcomes = [
        replace(held, decision=replace(held.decision, held=reason)).outcome for reason in Hold
    ]
    assert held.outcome == "held back"
    assert outcomes == [
        "dry-run",
        "awaiting approval",
        "rejected",
        "recommend",
        "quarantined",
        "held back",
        "held back",  # busy: it waits for the device as for a guard
        "lost arbitration",
    ]
    applied = replace(held, decision=replace(held.decision, held=None))
    assert applied.outcome == ""


def test_a_change_the_feed_never_saw_gets_its_own_line():
    state = ConsoleState()
    recovered = replace(RESULT, change_id="chg-old-1", status=ChangeStatus.ROLLED_BACK)
    entry = state.change_finished(recovered)
    assert entry.outcome == "rolled-back" and "settled at start" in entry.summary


def test_histories_and_the_feed_are_bounded():
    state = evening(ConsoleSettings(history=5, feed_size=3))
    assert list(state.kpi[KpiKey("video-west-east", "video-latency", "latencyMs")]) == [
        report(t).statuses[0].targets[0].observed for t in range(TICKS - 4, TICKS + 1)
    ]
    assert all(len(series) == 5 for series in state.utilization.values())
    assert len(state.feed) == 3 and state.feed[-1].summary == "fulfilled: no action"


def test_summary_counts_devices_load_and_changes():
    state = evening()
    summary = state.summary()
    assert (summary.tick, summary.devices_total, summary.devices_up) == (TICKS, 4, 4)
    assert summary.max_utilization == 1.0 and summary.max_utilization_at == "r2 eth2"
    assert (summary.confirmed, summary.rolled_back, summary.in_flight) == (1, 0, 0)
    undo = replace(
        CHANGE_VIEW, txn="chg-undo-1", rollback_of=TXN, started_at=at(TICKS) + timedelta(1)
    )
    state.set_changes([undo, replace(CHANGE_VIEW, rolled_back_by="chg-undo-1")])
    summary = state.summary()
    # as the exit summary counts: the operator's rollback is not a change of its own; the
    # change it undid stays counted as confirmed, and as undone
    assert (summary.confirmed, summary.undone, summary.rolled_back) == (1, 1, 0)
    failed = replace(CHANGE_VIEW, txn="chg-failed-1", status=ChangeStatus.ROLLED_BACK)
    state.set_changes([undo, replace(CHANGE_VIEW, rolled_back_by="chg-undo-1"), failed])
    assert (state.summary().confirmed, state.summary().rolled_back) == (1, 1)


def test_explanation_reads_from_target_to_outcome():
    state = evening()
    acting = state.feed[3]
    sections = explain(acting, CHANGE_VIEW)
    titles = [s.title for s in sections]
    assert titles == [
        "Decision",
        "Target",
        "Observed KPI",
        "Model and confidence",
        "Bottleneck",
        "Candidates",
        "Guards",
        "Chosen plan",
        "Outcome",
    ]
    by_title = {s.title: s for s in sections}
    assert by_title["Target"].lines[0].text == "latencyMs lessThan 30 (expectation video-latency)"
    assert by_title["Bottleneck"].lines[0].text == (
        "r2 eth2: queue delay 50 ms, drops 37.8%, utilisation 100%"
    )
    assert all(line.verdict is True for line in by_title["Guards"].lines)
    assert (
        by_title["Chosen plan"].lines[1].text
        == "  r2: qos/class[name=video]/priority: (unset) -> 1"
    )
    outcome = by_title["Outcome"].lines
    assert outcome[0].text == f"transaction {TXN}: confirmed" and outcome[0].verdict is True
    # a held-back decision shows the guard that failed and that nothing was chosen
    held = explain(state.feed[2])
    guards = next(s for s in held if s.title == "Guards").lines
    assert [g.verdict for g in guards] == [False, True, True, True]
    assert next(s for s in held if s.title == "Chosen plan").lines[0].text.startswith("none:")


def test_explanation_keeps_what_it_does_not_know_and_the_operator_undo():
    state = evening()
    acting = state.feed[3]
    decision = acting.decision
    assert decision is not None
    richer = replace(
        acting,
        decision=replace(
            decision, explanation={**decision.explanation, "confidence": 0.93, "twin": [1, 2]}
        ),
    )
    sections = {s.title: s for s in explain(richer, replace(CHANGE_VIEW, rolled_back_by="u-1"))}
    assert [line.text for line in sections["Model and confidence"].lines][1] == "confidence: 0.93"
    assert sections["More"].lines[0].text == "twin: 1, 2"
    assert sections["Outcome"].lines[-1].text == "rolled back by the operator: u-1"


def test_explanation_shows_keys_of_any_shape_as_a_tree():
    """What other policies will add (arbitration, what-if) is shown whatever its shape."""
    state = evening()
    acting = state.feed[3]
    decision = acting.decision
    assert decision is not None
    explanation = {
        **decision.explanation,
        "model": {
            "name": "edge-load",
            "source": "model",
            "version": 3,
            "confidence": 0.91,
            "reason": "champion",
            "horizon": 12,
        },
        "candidates": [
            {"device": "r2", "edit": "qos/class[name=video]/priority: - -> 1", "predicted_ms": 12.5}
        ],
        "what_if": [
            {"plan": "raise video on r2", "predicted": {"latencyMs": 12.5}},
            {"plan": "do nothing", "predicted": {"latencyMs": 57.0}},
        ],
        "arbitration": {"winner": "video-west-east", "losers": ["bulk"], "empty": {}, "none": None},
    }
    richer = replace(acting, decision=replace(decision, explanation=explanation))
    sections = {s.title: [line.text for line in s.lines] for s in explain(richer)}
    assert sections["Model and confidence"] == [
        "edge-load v3 (model)",
        "why this one: champion",
        "confidence: 0.91",
        "horizon: 12",
    ]
    assert sections["Candidates"] == [
        "r2: qos/class[name=video]/priority: (unset) -> 1",
        "  predicted_ms: 12.5",
    ]
    assert sections["More"] == [
        "what_if:",
        "  - plan: raise video on r2",
        "    predicted: latencyMs 12.5",
        "  - plan: do nothing",
        "    predicted: latencyMs 57",
        "arbitration:",
        "  winner: video-west-east",
        "  losers: bulk",
    ]  # "empty" and "none": a key a policy left unset says nothing


def test_known_keys_in_an_unexpected_shape_are_shown_as_written():
    """A policy that writes the bottleneck, candidates or guards differently is not read
    as having found none."""
    state = evening()
    acting = state.feed[3]
    decision = acting.decision
    assert decision is not None
    explanation = {
        **decision.explanation,
        "bottleneck": "r2 eth2 (from the what-if twin)",
        "candidates": {"r2": "raise video", "r3": "shape bulk"},
        "guards": "all passed",
    }
    richer = replace(acting, decision=replace(decision, explanation=explanation))
    sections = {s.title: [line.text for line in s.lines] for s in explain(richer)}
    assert sections["Bottleneck"] == ["r2 eth2 (from the what-if twin)"]
    assert sections["Candidates"] == ["r2: raise video", "r3: shape bulk"]
    assert sections["Guards"] == ["all passed"]
    empty = {**decision.explanation, "bottleneck": None, "candidates": [], "guards": []}
    bare = replace(acting, decision=replace(decision, explanation=empty))
    sections = {s.title: [line.text for line in s.lines] for s in explain(bare)}
    assert sections["Bottleneck"] == ["none found: no queue of the class is building up"]
    assert sections["Candidates"] == ["none: no action this policy knows would help"]


def test_describe_detail_keeps_a_step_on_one_line():
    assert describe_detail({"how": "inline <config>"}) == "how=inline <config>"
    assert describe_detail({"base": [[["a"], "1"]] * 40, "x": None}) == "base: 40 entries"
    assert describe_detail({"edits": ["p: 0 -> 1", "q: - -> 2"]}) == (
        "edits: p: 0 -> 1; q: (unset) -> 2"
    )
    long = describe_detail({"detail": "x" * 300}, width=50)
    assert len(long) == 50 and long.endswith("…")


def test_status_bar_counts_changes_as_the_exit_summary_does():
    from tui.widgets.frame import summary_text

    state = evening()
    undo = replace(
        CHANGE_VIEW, txn="chg-undo-1", rollback_of=TXN, started_at=at(TICKS) + timedelta(1)
    )
    state.set_changes([undo, replace(CHANGE_VIEW, rolled_back_by="chg-undo-1")])
    line = summary_text(state.summary()).plain
    assert line.endswith("1 confirmed, 0 rolled back, 1 undone by operator"), line
    state.set_changes([CHANGE_VIEW])
    assert summary_text(state.summary()).plain.endswith("1 confirmed, 0 rolled back")


def test_an_anomaly_gets_a_feed_line_and_its_own_explanation():
    state = evening()
    anomaly = Anomaly(
        KpiKey("video", "video-latency", "latencyMs"), at(TICKS), 16.25, 8.5, 5.31, 4.0, 301
    )
    state.add_tick(replace(report(TICKS), anomalies=(anomaly,)))
    entry = state.feed[-1]
    assert (entry.intent, entry.outcome, entry.anomaly) == ("video", "anomaly", anomaly)
    assert entry.summary == "anomaly: latencyMs of video is 16.25 (was 8.5), surprise 5.3 decades"
    head, why = explain(entry)
    assert why.title == "Anomaly"
    assert [line.text for line in why.lines] == [
        "KPI: latencyMs of expectation video-latency",
        "observed: 16.25 (was 8.5)",
        "surprise: 5.3 decades (alarm at 4; about once in 10,000 samples)",
        "model: the KPI anomaly detector, on 301 samples of this KPI",
        "no action: an anomaly is reported, the intent's target decides",
    ]
