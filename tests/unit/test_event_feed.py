"""The API's event feed stays small: only the newest ticks keep every device's observation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.api_handlers import OBSERVED_TICKS_KEPT, EventFeed
from controller.loop import TickReport
from controller.model import Observation

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _tick(number: int) -> TickReport:
    at = T0 + timedelta(seconds=number)
    return TickReport(
        number=number,
        at=at,
        duration=timedelta(milliseconds=5),
        statuses=(),
        decisions=(),
        observations={f"d{i}": Observation(device=f"d{i}", at=at) for i in range(3)},
    )


def test_older_ticks_lose_their_observations_but_stay_in_the_feed():
    feed = EventFeed()
    for number in range(1, 11):
        feed.tick_finished(_tick(number))
    answer = feed.since(0)
    events = answer["events"]
    assert isinstance(events, list) and len(events) == 10  # every tick is still told
    observed = [e["report"]["number"] for e in events if e["report"]["observations"]]
    assert observed == list(range(11 - OBSERVED_TICKS_KEPT, 11))
