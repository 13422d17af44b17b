"""The loop's anomaly watch: every intent target's KPI, scored each tick as it is measured.

ANALYZE in the loop (../../shared/DESIGN.md): besides fulfilment (is the target met?), each
target's observed KPI is a series of a :class:`~analytics.anomaly.KpiAnomalyDetector`
(batched: the KPIs that came together share one), so a KPI that jumps or drifts away from
how it behaved is reported when it happens,
also while its target is still met (a latency that doubles from 8 to 16 ms under a 30 ms
target). A report is an :class:`Anomaly`: which KPI, its value, how surprising it was (in
decades: 4 reads "about once in 10,000 samples") and on how many samples of the KPI.

The detector learns online from the first sample: it reports nothing until its calibration
has seen ``warmup`` samples (100 by default: 100 ticks), and its alert suppression keeps
one episode from being reported at every tick. Its daily statistic needs a season in
samples: it is on when the tick is at least a minute (at most 1,440 samples a day; a
1-second tick would keep 21 days of 86,400 samples per KPI) and off otherwise.

Pure: no IO; time comes in as an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from analytics.anomaly import KpiAnomalyDetector

__all__ = ["Anomaly", "KpiKey", "KpiWatch", "season_samples"]

MAX_SEASON_SAMPLES = 1440  # a daily statistic at most at one sample a minute


@dataclass(frozen=True, slots=True, order=True)
class KpiKey:
    """One intent target's KPI series (the watch's key; the console's charts too)."""

    intent: str
    expectation: str
    kpi: str

    def __str__(self) -> str:
        return f"{self.intent}/{self.expectation}/{self.kpi}"


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A KPI the watch found surprising at a tick.

    Args:
        key: the KPI.
        at: the tick's time.
        value: the KPI's value then.
        previous: its value at the tick before (None: none was measured).
        surprise: how surprising, in decades (``-log10`` of the calibrated tail
            probability, corrected for the statistics combined).
        threshold: the watch's alarm level (the surprise reached it).
        samples: samples of this KPI the watch had seen, this one included.
    """

    key: KpiKey
    at: datetime
    value: float
    previous: float | None
    surprise: float
    threshold: float
    samples: int

    def describe(self) -> str:
        """One line, as the log and the console's feed say it."""
        was = f" (was {self.previous:.4g})" if self.previous is not None else ""
        return (
            f"anomaly: {self.key.kpi} of {self.key.intent} is {self.value:.4g}{was}, "
            f"surprise {self.surprise:.1f} decades"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "intent": self.key.intent,
            "expectation": self.key.expectation,
            "kpi": self.key.kpi,
            "at": self.at.isoformat(),
            "value": self.value,
            "previous": self.previous,
            "surprise": self.surprise,
            "threshold": self.threshold,
            "samples": self.samples,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Anomaly:
        """The inverse of :meth:`as_dict` (raises KeyError/TypeError/ValueError if malformed)."""
        previous = data.get("previous")
        return cls(
            key=KpiKey(str(data["intent"]), str(data["expectation"]), str(data["kpi"])),
            at=datetime.fromisoformat(str(data["at"])),
            value=_number(data["value"]),
            previous=None if previous is None else _number(previous),
            surprise=_number(data["surprise"]),
            threshold=_number(data["threshold"]),
            samples=int(_number(data["samples"])),
        )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def season_samples(interval: timedelta) -> int | None:
    """Samples per day at a tick ``interval``, when the daily statistic is affordable."""
    seconds = interval.total_seconds()
    if seconds <= 0:
        return None
    per_day = round(86_400 / seconds)
    return per_day if 2 <= per_day <= MAX_SEASON_SAMPLES else None


@dataclass(slots=True)
class _Watched:
    """One KPI: where its column is, what it was, how many samples it has had."""

    block: _Block
    column: int
    previous: float | None = None
    samples: int = 0


@dataclass(slots=True)
class _Block:
    """KPIs that came together, stepped as the columns of one detector (one numpy pass per
    tick for all of them: the detector's cost per series falls as series are added)."""

    keys: tuple[KpiKey, ...]
    detector: KpiAnomalyDetector
    live: int  # columns whose KPI is watched now (the others are fed NaN)


class KpiWatch:
    """Detectors for the intents' KPIs, fed one tick at a time.

    The KPIs that appear at one tick (at start: all of them) share one detector, a column
    each. KPIs come and go with the intents: new ones get a new detector of their own, one
    no longer measured is forgotten (its column is fed NaN, a missing sample, until every
    KPI of its detector is gone; an intent back later starts learning anew).

    Args:
        season_length: samples per day for the daily statistic (None: off; see
            :func:`season_samples`).
        threshold: the alarm level, in decades.
        warmup: samples a KPI's calibration sees before it reports.
    """

    def __init__(
        self, *, season_length: int | None = None, threshold: float = 4.0, warmup: int = 100
    ) -> None:
        self.season_length = season_length
        self.threshold = threshold
        self.warmup = warmup
        self._watched: dict[KpiKey, _Watched] = {}
        self._blocks: list[_Block] = []

    @property
    def keys(self) -> tuple[KpiKey, ...]:
        """The KPIs watched now, in order."""
        return tuple(sorted(self._watched))

    @property
    def detectors(self) -> int:
        """How many detectors step the KPIs (one per group that came together)."""
        return len(self._blocks)

    def samples(self, key: KpiKey) -> int:
        """Samples of a KPI seen so far (0: not watched)."""
        watched = self._watched.get(key)
        return watched.samples if watched is not None else 0

    def observe(self, values: Mapping[KpiKey, float | None], now: datetime) -> tuple[Anomaly, ...]:
        """One tick's KPI values (None or NaN: not measured this tick); the anomalies found.

        Returns:
            The KPIs whose surprise reached the threshold at this tick, in key order.
        """
        for gone in self._watched.keys() - values.keys():
            self._watched.pop(gone).block.live -= 1
        self._blocks = [b for b in self._blocks if b.live > 0]
        new = sorted(values.keys() - self._watched.keys())
        if new:
            detector = KpiAnomalyDetector(
                season_length=self.season_length, threshold=self.threshold, warmup=self.warmup
            ).fit([], series=len(new))
            block = _Block(tuple(new), detector, live=len(new))
            self._blocks.append(block)
            for column, key in enumerate(new):
                self._watched[key] = _Watched(block, column)
        found: list[Anomaly] = []
        for block in self._blocks:
            # this block's columns of KPIs watched now (a KPI that went and came back has a
            # column in a newer block; its old one is fed NaN with the gone ones)
            mine = {
                column: self._watched[key]
                for column, key in enumerate(block.keys)
                if key in self._watched and self._watched[key].block is block
            }
            row = np.full(len(block.keys), math.nan)
            for column in mine:
                value = values[block.keys[column]]
                if value is not None and math.isfinite(value):
                    row[column] = value
            surprises = block.detector.step(row)
            for column, watched in mine.items():
                key, sample = block.keys[column], float(row[column])
                if math.isnan(sample):
                    continue  # missing: scores 0 and is learned as a repeat
                watched.samples += 1
                if surprises[column] >= self.threshold:
                    found.append(
                        Anomaly(
                            key=key,
                            at=now,
                            value=sample,
                            previous=watched.previous,
                            surprise=round(float(surprises[column]), 2),
                            threshold=self.threshold,
                            samples=watched.samples,
                        )
                    )
                watched.previous = sample
        return tuple(sorted(found, key=lambda a: a.key))
