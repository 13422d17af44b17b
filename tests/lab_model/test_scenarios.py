"""Scenario data: lookup, ramps and the lab clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from lab.config import TrafficClass
from lab.scenarios import (
    ClassDemandRamp,
    Scenario,
    UnknownScenarioError,
    get_scenario,
    scenario_names,
)


def test_shipped_scenarios():
    assert {"evening-peak", "steady"} <= set(scenario_names())
    peak = get_scenario("evening-peak")
    assert peak.start == time(19, 45)
    assert peak.speed == 60
    ramped = {e.traffic_class for e in peak.events if isinstance(e, ClassDemandRamp)}
    assert ramped == {TrafficClass.VIDEO, TrafficClass.BEST_EFFORT}
    assert get_scenario("steady").multipliers(timedelta(hours=1)) == {}


def test_unknown_scenario_lists_the_known_names():
    with pytest.raises(UnknownScenarioError) as caught:
        get_scenario("morning-peak")
    message = str(caught.value)
    assert "morning-peak" in message
    for name in scenario_names():
        assert name in message


RAMP = ClassDemandRamp(
    TrafficClass.VIDEO,
    3.0,
    at=timedelta(minutes=10),
    ramp=timedelta(minutes=4),
    until=timedelta(minutes=30),
)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        pytest.param(0, 1.0, id="before"),
        pytest.param(10, 1.0, id="ramp-start"),
        pytest.param(12, 2.0, id="half-way-in"),
        pytest.param(14, 3.0, id="ramped-in"),
        pytest.param(29, 3.0, id="holding"),
        pytest.param(32, 2.0, id="half-way-out"),
        pytest.param(34, 1.0, id="ramped-out"),
    ],
)
def test_ramp_multiplier(minutes, expected):
    assert RAMP.multiplier(timedelta(minutes=minutes)) == pytest.approx(expected)


def test_events_on_one_class_multiply():
    scenario = Scenario(
        name="x",
        description="",
        start=time(8, 0),
        speed=10,
        events=(
            ClassDemandRamp(TrafficClass.BULK, 2.0),
            ClassDemandRamp(TrafficClass.BULK, 1.5),
        ),
    )
    assert scenario.multipliers(timedelta(0)) == {TrafficClass.BULK: pytest.approx(3.0)}


def test_lab_clock():
    peak = get_scenario("evening-peak")
    started = peak.start_at(date(2026, 11, 30))
    assert started == datetime(2026, 11, 30, 19, 45, tzinfo=UTC)
    assert peak.lab_time(started, timedelta(seconds=5)) == started + timedelta(minutes=5)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: ClassDemandRamp(TrafficClass.VIDEO, -1.0), id="negative-factor"),
        pytest.param(
            lambda: ClassDemandRamp(
                TrafficClass.VIDEO, 2.0, ramp=timedelta(minutes=5), until=timedelta(minutes=1)
            ),
            id="until-inside-ramp",
        ),
        pytest.param(lambda: Scenario("x", "", time(0), speed=0), id="zero-speed"),
    ],
)
def test_invalid_scenario_data_is_refused(build):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        build()
