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


def test_the_feed_keeps_no_subscriber_flows():
    # the API never sends them, and at the metro's evening a tick holds thousands
    from dataclasses import replace

    from controller.model import SubscriberFlow

    flow = SubscriberFlow("sub-1", 2.0, 20.0, 0.0, 1_000_000, 500_000, 250.0, 0.5)
    report = _tick(1)
    report = replace(
        report,
        observations={n: replace(o, subscribers=(flow,)) for n, o in report.observations.items()},
    )
    feed = EventFeed()
    feed.tick_finished(report)
    (event,) = feed._events
    assert isinstance(event.value, TickReport)
    kept = event.value.observations
    assert set(kept) == {"d0", "d1", "d2"} and all(not o.subscribers for o in kept.values())
    assert all(o.subscribers == (flow,) for o in report.observations.values())  # not mutated
