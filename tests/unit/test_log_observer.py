"""The headless log: a device's errors are written when they change, not every tick."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from controller.loop import TickReport
from controller.model import ChangeResult, ChangeStatus, Decision, Hold, Observation
from controller.observers import LogObserver

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _tick(number: int, **errors: tuple[str, ...]) -> TickReport:
    at = T0 + timedelta(seconds=number)
    return TickReport(
        number=number,
        at=at,
        duration=timedelta(milliseconds=5),
        statuses=(),
        decisions=(),
        observations={d: Observation(device=d, at=at, errors=e) for d, e in errors.items()},
    )


def test_device_errors_are_logged_on_change_only(caplog: pytest.LogCaptureFixture) -> None:
    observer = LogObserver(logging.getLogger("netpilot.test"))
    timeout = ("snmp: no answer within 2 s",)
    resting = "sense: not polled until 12:00:{:02d} after 2 failed poll(s) in a row"
    with caplog.at_level(logging.INFO, logger="netpilot.test"):
        observer.tick_finished(_tick(1, r1=(), r2=timeout))
        observer.tick_finished(_tick(2, r1=(), r2=timeout))  # the same error: no line
        for n in range(3, 6):  # the sensor's own verdicts, different each tick: its lines
            observer.tick_finished(_tick(n, r1=(), r2=(resting.format(n),)))
        observer.tick_finished(_tick(6, r1=(), r2=()))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "tick 1: r2: snmp: no answer within 2 s",
        "tick 6: r2: observed without errors again",
    ], lines


def test_a_held_plan_is_logged_once_and_a_failed_change_as_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observer = LogObserver(logging.getLogger("netpilot.test"))

    def tick(number: int, summary: str, held: Hold | None = None) -> TickReport:
        decision = Decision(intent="video", at=T0, summary=summary, held=held)
        return replace(_tick(number), decisions=(decision,))

    waiting = (
        "shape bulk to {} Mbit/s: awaiting approval chg-1 "
        "(netpilot changes approve, or the console's Approvals)"
    )
    recommend = "recommend: boost 8 subscribers (confidence 0.61)"
    with caplog.at_level(logging.INFO, logger="netpilot.test"):
        observer.tick_finished(tick(1, waiting.format(62), Hold.AWAITING_APPROVAL))
        # the same plan, other numbers
        observer.tick_finished(tick(2, waiting.format(78), Hold.AWAITING_APPROVAL))
        observer.tick_finished(tick(3, "fulfilled: no action"))
        observer.tick_finished(tick(4, recommend, Hold.RECOMMEND))
        # a guard's hold is not the operator's business: the log stays quiet
        observer.tick_finished(tick(5, "shape bulk: held back by cooldown", Hold.GUARD))
        observer.change_finished(
            ChangeResult("chg-2", "video", "r2", ChangeStatus.ABORTED, "commit failed", T0, T0)
        )
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (logging.INFO, f"tick 1: decision for video: {waiting.format(62)}"),
        (logging.INFO, f"tick 4: decision for video: {recommend}"),
        (logging.WARNING, "change chg-2 on r2 ended aborted: commit failed"),
    ], records
