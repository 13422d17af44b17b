"""The loop's anomaly watch on synthetic KPIs (fixed seeds): decisions, not float noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from analytics.watch import Anomaly, KpiKey, KpiWatch, season_samples

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LATENCY = KpiKey("video-west-east", "video-latency", "latencyMs")
UTIL = KpiKey("energy", "energy-saving", "powerReductionRatio")


def feed(watch: KpiWatch, rows: list[dict[KpiKey, float | None]]) -> list[Anomaly]:
    found: list[Anomaly] = []
    for n, row in enumerate(rows):
        found.extend(watch.observe(row, T0 + timedelta(seconds=10 * n)))
    return found


def noisy(seed: int, count: int, level: float = 8.0, spread: float = 0.4) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.normal(level, spread, count)]


def test_a_latency_that_doubles_is_reported_at_once_while_its_target_is_still_met():
    watch = KpiWatch()
    calm = noisy(1, 400)
    jumped = [16.0 + v - 8.0 for v in noisy(2, 5)]
    found = feed(watch, [{LATENCY: v} for v in calm + jumped])
    assert [a.at for a in found] == [T0 + timedelta(seconds=10 * 400)]  # the jump's tick
    (anomaly,) = found
    assert anomaly.key == LATENCY and anomaly.value == jumped[0]
    assert anomaly.previous == calm[-1] and anomaly.surprise >= anomaly.threshold == 4.0
    assert anomaly.samples == 401
    assert anomaly.describe().startswith("anomaly: latencyMs of video-west-east is 1")
    assert Anomaly.from_dict(anomaly.as_dict()) == anomaly


def test_nothing_is_reported_during_the_warmup_nor_on_calm_noise():
    for seed in range(5):
        watch = KpiWatch()
        # the first samples are a wild start (a lab coming up): no calibration yet, no report
        start = [0.0, 50.0, 3.0, 40.0] * 5
        assert feed(watch, [{LATENCY: v} for v in start + noisy(seed, 600)]) == []


def test_a_missing_sample_is_no_anomaly_and_kpis_come_and_go_with_their_intents():
    watch = KpiWatch()
    rows: list[dict[KpiKey, float | None]] = [
        {LATENCY: v, UTIL: u} for v, u in zip(noisy(3, 300), noisy(4, 300, 0.3, 0.01), strict=True)
    ]
    rows.append({LATENCY: None, UTIL: float("nan")})
    assert feed(watch, rows) == []
    assert watch.keys == (UTIL, LATENCY)
    assert watch.samples(LATENCY) == 300  # the missing one is not counted
    watch.observe({LATENCY: 8.0}, T0)
    assert list(watch.keys) == [LATENCY] and watch.samples(UTIL) == 0  # forgotten


def test_the_daily_statistic_is_on_only_where_a_day_of_samples_is_affordable():
    assert season_samples(timedelta(minutes=5)) == 288
    assert season_samples(timedelta(minutes=1)) == 1440
    assert season_samples(timedelta(seconds=10)) is None
    assert season_samples(timedelta(0)) is None


def test_kpis_that_come_together_share_one_detector_and_one_that_returns_learns_anew():
    watch = KpiWatch()
    calm = noisy(5, 200)
    feed(watch, [{LATENCY: v, UTIL: 0.3} for v in calm])
    assert watch.detectors == 1 and watch.samples(LATENCY) == 200
    watch.observe({UTIL: 0.3}, T0)  # the video intent went away
    assert watch.keys == (UTIL,) and watch.detectors == 1
    watch.observe({UTIL: 0.3, LATENCY: 8.0}, T0)  # and came back: a column of its own
    assert watch.detectors == 2 and watch.samples(LATENCY) == 1
    # counted once per tick, though its old column still exists
    watch.observe({UTIL: 0.3, LATENCY: 8.1}, T0)
    assert watch.samples(LATENCY) == 2 and watch.samples(UTIL) == 203
    watch.observe({LATENCY: 8.2}, T0)  # the first detector's last KPI gone: it goes
    assert watch.detectors == 1
