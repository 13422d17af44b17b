"""The daemon's Prometheus metrics: deadlines missed, early ticks and the models' state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.registry import ModelKind, ModelRecord, ModelStatus
from controller.config import LoopClass
from controller.loop import TickReport
from controller.metrics import MetricsObserver

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _tick(
    number: int, at: datetime, seconds: float, loop_class: LoopClass | None = None
) -> TickReport:
    return TickReport(
        number=number,
        at=at,
        duration=timedelta(seconds=seconds),
        statuses=(),
        decisions=(),
        observations={},
        stages={"sense": seconds * 0.8, "decide": seconds * 0.2},
        loop_class=loop_class,
    )


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def test_overruns_lag_and_wakeups_are_counted():
    metrics = MetricsObserver(timedelta(seconds=10))
    metrics.tick_finished(_tick(1, T0, 2.0))
    metrics.tick_finished(_tick(2, T0 + timedelta(seconds=13), 12.5))  # 3 s late, too long
    metrics.wakeup("trap:linkDown")
    metrics.wakeup("trap:linkDown")
    metrics.wakeup("intents")
    text = metrics.exposition().decode()
    assert _sample(text, "netpilot_ticks_total") == 2
    assert _sample(text, "netpilot_tick_overruns_total") == 1
    assert 'netpilot_loop_lag_seconds{loop="all"} 3.0' in text
    assert 'netpilot_loop_wakeups_total{reason="trap:linkDown"} 2.0' in text
    assert 'netpilot_loop_wakeups_total{reason="intents"} 1.0' in text


def test_the_model_registry_is_read_at_every_scrape():
    records = [ModelRecord("stall-clf", ModelKind.STALL, champion=3, challenger=4)]
    metrics = MetricsObserver(timedelta(seconds=10))
    metrics.watch_models(lambda: records)
    text = metrics.exposition().decode()
    assert 'netpilot_model_status{model="stall-clf",status="active"} 1.0' in text
    assert 'netpilot_model_status{model="stall-clf",status="fallback"} 0.0' in text
    assert 'netpilot_model_champion_version{model="stall-clf"} 3.0' in text
    assert 'netpilot_model_challenger_version{model="stall-clf"} 4.0' in text

    records[0] = ModelRecord("stall-clf", ModelKind.STALL, champion=3, status=ModelStatus.FALLBACK)
    text = metrics.exposition().decode()
    assert 'netpilot_model_status{model="stall-clf",status="fallback"} 1.0' in text
    assert 'netpilot_model_challenger_version{model="stall-clf"} 0.0' in text


def test_each_loop_class_is_measured_against_its_own_interval():
    metrics = MetricsObserver(timedelta(seconds=10), slow_interval=timedelta(seconds=300))
    fast = LoopClass.FAST
    slow = LoopClass.SLOW
    metrics.tick_finished(_tick(1, T0, 1.0, fast))
    metrics.tick_finished(_tick(2, T0 + timedelta(seconds=1), 20.0, slow))  # long, not overrun
    # the slow tick held the shared lock: this fast tick starts 11 s after the one before
    metrics.tick_finished(_tick(3, T0 + timedelta(seconds=21), 1.0, fast))
    metrics.tick_finished(_tick(4, T0 + timedelta(seconds=301), 2.0, slow))  # on time
    text = metrics.exposition().decode()
    assert 'netpilot_loop_lag_seconds{loop="fast"} 11.0' in text
    assert 'netpilot_loop_lag_seconds{loop="slow"} 0.0' in text
    assert _sample(text, "netpilot_tick_overruns_total") == 0
    assert 'netpilot_stage_duration_seconds_count{loop="fast",stage="sense"} 2.0' in text
    assert 'netpilot_stage_duration_seconds_count{loop="slow",stage="decide"} 2.0' in text
    assert 'netpilot_stage_duration_seconds_sum{loop="slow",stage="sense"} 17.6' in text


def test_a_woken_tick_beside_two_loops_has_no_lag_but_its_stages_are_kept():
    metrics = MetricsObserver(timedelta(seconds=10), slow_interval=timedelta(seconds=300))
    metrics.tick_finished(_tick(1, T0, 1.0, LoopClass.FAST))
    metrics.tick_finished(_tick(2, T0 + timedelta(seconds=4), 1.0))  # a trap woke the loop
    metrics.tick_finished(_tick(3, T0 + timedelta(minutes=30), 1.0))  # the next one, much later
    metrics.tick_finished(_tick(4, T0 + timedelta(minutes=30, seconds=1), 12.0))
    text = metrics.exposition().decode()
    assert 'netpilot_loop_lag_seconds{loop="all"}' not in text
    assert 'netpilot_loop_lag_seconds{loop="fast"} 0.0' in text
    assert 'netpilot_stage_duration_seconds_count{loop="all",stage="sense"} 3.0' in text
    # a woken tick has no cadence of its own: it overruns against the fast interval
    assert _sample(text, "netpilot_tick_overruns_total") == 1
