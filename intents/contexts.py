"""Expectation contexts (28.312 expectationContexts): parsing and evaluation. Pure.

Contexts are kept in :attr:`controller.model.Expectation.contexts` as normalised strings
(``{"timeWindow": "22:00-06:00", "wakeLeadTimeSeconds": "300"}``); the helpers here turn
them back into typed values for the loop and the policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.model import Expectation, ExpectationType
from intents.schema import CATALOGUE

__all__ = [
    "TimeWindow",
    "context_value",
    "expectation_applies",
    "parse_time_window",
    "redundancy",
    "wake_lead_time",
]

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A daily window in minutes after midnight; ``start > end`` wraps past midnight."""

    start: int
    end: int

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` (in the zone the window is written in) falls inside the window."""
        minute = at.hour * 60 + at.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time_window(text: str) -> TimeWindow:
    """Parse ``HH:MM-HH:MM``.

    Raises:
        ValueError: not that shape, a time out of range, or an empty window.
    """
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError("expected HH:MM-HH:MM")
    start, end = _minutes(start_text), _minutes(end_text)
    if start == end:
        raise ValueError("the window is empty (start equals end)")
    return TimeWindow(start, end)


def _minutes(text: str) -> int:
    hours, colon, minutes = text.strip().partition(":")
    if not colon or len(hours) != 2 or len(minutes) != 2:
        raise ValueError("expected HH:MM-HH:MM")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("expected HH:MM-HH:MM")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"{text.strip()} is not a time of day")
    return h * 60 + m


def context_value(expectation: Expectation, name: str) -> str:
    """A context's value, or the catalogue default for the expectation's type ("" if none)."""
    value = expectation.contexts.get(name)
    if value is not None:
        return value
    spec = CATALOGUE[expectation.type].context(name)
    return spec.default if spec else ""


def expectation_applies(expectation: Expectation, now: datetime) -> bool:
    """Whether the expectation's contexts hold at ``now`` (no timeWindow: always)."""
    window = expectation.contexts.get("timeWindow")
    return True if window is None else parse_time_window(window).contains(now)


def wake_lead_time(expectation: Expectation) -> timedelta:
    """An energy-saving expectation's wake lead time (default 300 s)."""
    if expectation.type is not ExpectationType.ENERGY_SAVING:
        return timedelta(0)
    return timedelta(seconds=int(context_value(expectation, "wakeLeadTimeSeconds")))


def redundancy(expectation: Expectation) -> str:
    """An energy-saving expectation's redundancy: ``n+1`` (default) or ``none``."""
    if expectation.type is not ExpectationType.ENERGY_SAVING:
        return "none"
    return context_value(expectation, "redundancy")
