"""Prometheus metrics of a running controller, kept by an observer.

The metrics live in their own :class:`prometheus_client.CollectorRegistry` (not the library's
global one), so two controllers in one process (tests) never share counters. The daemon
serves them on its metrics listener (controller/api.py) at ``/metrics``.

Metric names follow Prometheus conventions (``_total`` counters, ``_seconds`` units):

- ``netpilot_ticks_total``, ``netpilot_tick_duration_seconds`` (histogram),
  ``netpilot_stage_duration_seconds{stage,loop}`` (sense, decide),
  ``netpilot_loop_lag_seconds{loop}`` (how late a tick started against its own loop's
  interval). ``loop`` is the loop class a tick decided: ``fast`` (every ``interval``),
  ``slow`` (every ``slow_interval``) or ``all`` (every intent: the only loop when there is
  no slow cadence, and the early ticks a wake-up asks for);
- ``netpilot_device_polls_total{device}``, ``netpilot_device_errors_total{device}``,
  ``netpilot_device_reachable{device}``;
- ``netpilot_changes_total{status}``, ``netpilot_changes_in_flight``;
- ``netpilot_intent_fulfilled{intent}`` (1 / 0), ``netpilot_intent_target_value{intent,target}``;
- ``netpilot_tick_overruns_total`` (ticks longer than their loop's interval: a missed
  deadline),
  ``netpilot_loop_wakeups_total{reason}`` (early ticks: ``trap:linkDown``, ``intents``);
- ``netpilot_model_status{model,status}`` (1 for the current status: ``active`` or
  ``fallback`` to the rule baseline), ``netpilot_model_champion_version{model}``,
  ``netpilot_model_challenger_version{model}`` (0: none), read from the model registry at
  each scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from analytics.registry import ModelRecord, ModelStatus
from controller.config import LoopClass
from controller.loop import Controller, TickReport
from controller.model import ChangeResult, Decision, FulfilmentStatus

__all__ = ["MetricsObserver"]

_TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MetricsObserver:
    """A controller observer that keeps the Prometheus metrics up to date.

    Args:
        interval: the (fast) loop's tick interval.
        slow_interval: the slow loop's interval, when it has its own cadence (then the
            ``all`` ticks are the early ones a wake-up asks for: they run off any cadence, so
            no lag is measured for them).
    """

    def __init__(self, interval: timedelta, *, slow_interval: timedelta | None = None) -> None:
        self.interval = interval
        self.slow_interval = slow_interval
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ticks = Counter("netpilot_ticks", "Loop ticks run", registry=r)
        self.tick_seconds = Histogram(
            "netpilot_tick_duration_seconds",
            "Wall time of one tick",
            buckets=_TICK_BUCKETS,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "netpilot_stage_duration_seconds",
            "Wall time of one loop stage, per loop class",
            ["stage", "loop"],
            buckets=_TICK_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "netpilot_loop_lag_seconds",
            "How late the last tick of a loop class started against that loop's interval",
            ["loop"],
            registry=r,
        )
        self.polls = Counter("netpilot_device_polls", "Device observations", ["device"], registry=r)
        self.errors = Counter(
            "netpilot_device_errors", "Device observations with errors", ["device"], registry=r
        )
        self.reachable = Gauge(
            "netpilot_device_reachable",
            "1 if the last observation had no error",
            ["device"],
            registry=r,
        )
        self.changes = Counter(
            "netpilot_changes", "Change transactions by outcome", ["status"], registry=r
        )
        self.in_flight = Gauge("netpilot_changes_in_flight", "Transactions running", registry=r)
        self.fulfilled = Gauge(
            "netpilot_intent_fulfilled", "1 if the intent is fulfilled", ["intent"], registry=r
        )
        self.target_value = Gauge(
            "netpilot_intent_target_value",
            "Last observed value of an intent target",
            ["intent", "target"],
            registry=r,
        )
        self.overruns = Counter(
            "netpilot_tick_overruns", "Ticks that took longer than the interval", registry=r
        )
        self.wakeups = Counter(
            "netpilot_loop_wakeups", "Early ticks requested, by reason", ["reason"], registry=r
        )
        self._last_tick: datetime | None = None
        self._last_start: dict[str, datetime] = {}  # per loop label: its last tick's start
        self._running: set[str] = set()

    def wakeup(self, reason: str) -> None:
        """Count an early tick (the daemon's :class:`controller.daemon.Wakeup` calls this)."""
        self.wakeups.labels(reason=reason).inc()

    def watch_models(self, records: Callable[[], Iterable[ModelRecord]]) -> None:
        """Export the model registry's state, read by ``records()`` at every scrape."""
        self.registry.register(_ModelCollector(records))

    @property
    def last_tick(self) -> datetime | None:
        """When the last tick started (None before the first)."""
        return self._last_tick

    def loop_interval(self, loop_class: LoopClass | None) -> timedelta | None:
        """The cadence ticks of ``loop_class`` run on (None: woken ticks, on no cadence)."""
        if loop_class is LoopClass.SLOW:
            return self.slow_interval or self.interval
        if loop_class is None and self.slow_interval is not None:
            return None
        return self.interval

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

    # ---------------------------------------------------------------- observer

    def controller_ready(self, controller: Controller) -> None:
        for intent in controller.intents:
            self.fulfilled.labels(intent=intent.name).set(0)

    def tick_finished(self, report: TickReport) -> None:
        self.ticks.inc()
        self.tick_seconds.observe(report.duration.total_seconds())
        loop = _loop_label(report.loop_class)
        every = self.loop_interval(report.loop_class)
        # an early (woken) tick has no deadline of its own; it counts against the fast one
        if report.duration > (every or self.interval):
            self.overruns.inc()
        for stage, seconds in report.stages.items():
            self.stage_seconds.labels(stage=stage, loop=loop).observe(seconds)
        if every is not None:
            # each loop against its own cadence: a slow tick 5 min after the previous slow
            # one is on time, not 5 min late against the fast interval
            previous = self._last_start.get(loop)
            if previous is not None:
                late = (report.at - previous - every).total_seconds()
                self.lag.labels(loop=loop).set(max(0.0, late))
            else:
                self.lag.labels(loop=loop).set(0.0)
            self._last_start[loop] = report.at
        self._last_tick = report.at
        for name, observation in report.observations.items():
            self.polls.labels(device=name).inc()
            if observation.errors:
                self.errors.labels(device=name).inc()
            self.reachable.labels(device=name).set(0 if observation.errors else 1)
        for status in report.statuses:
            self.fulfilled.labels(intent=status.name).set(
                1 if status.status is FulfilmentStatus.FULFILLED else 0
            )
            for target in status.targets:
                if target.observed is not None:
                    self.target_value.labels(intent=status.name, target=target.target.name).set(
                        target.observed
                    )

    def change_started(self, decision: Decision, txn: str) -> None:
        self._running.add(txn)
        self.in_flight.set(len(self._running))

    def change_finished(self, result: ChangeResult) -> None:
        # a change recovered at start-up finishes without having started in this process
        self._running.discard(result.change_id)
        self.in_flight.set(len(self._running))
        self.changes.labels(status=result.status.value).inc()


def _loop_label(loop_class: LoopClass | None) -> str:
    return "all" if loop_class is None else loop_class.value


class _ModelCollector(Collector):
    """The model registry's champion, challenger and status, as gauges, at scrape time."""

    def __init__(self, records: Callable[[], Iterable[ModelRecord]]) -> None:
        self._records = records

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = GaugeMetricFamily(
            "netpilot_model_status",
            "1 for the model's current status (active: the champion answers; fallback: the "
            "rule baseline does)",
            labels=["model", "status"],
        )
        champion = GaugeMetricFamily(
            "netpilot_model_champion_version", "The champion's version", labels=["model"]
        )
        challenger = GaugeMetricFamily(
            "netpilot_model_challenger_version",
            "The challenger's version (0: none)",
            labels=["model"],
        )
        for record in self._records():
            for value in ModelStatus:
                status.add_metric([record.name, value.value], 1 if record.status is value else 0)
            champion.add_metric([record.name], record.champion or 0)
            challenger.add_metric([record.name], record.challenger or 0)
        yield status
        yield champion
        yield challenger
