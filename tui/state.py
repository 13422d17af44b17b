"""What the console shows, as plain data: the latest tick, bounded histories, the decision feed.

The app feeds a :class:`ConsoleState` from the observer's messages and the facade's answers;
the screens only render it. No Textual and no IO here, so all of it is tested without a
terminal. Histories are bounded (``ConsoleSettings.history`` points per series), so a
console left open for days uses constant memory.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import TypeVar

from analytics.watch import Anomaly, KpiKey  # one intent target's series (charts, watch)
from controller.facade import ApprovalView, ChangeView, ControllerSnapshot, DeviceInfo
from controller.loop import TickReport
from controller.model import (
    ChangeResult,
    ChangeStatus,
    Decision,
    Hold,
    Intent,
    IntentStatus,
    Observation,
    TrafficClass,
)

__all__ = [
    "ConsoleSettings",
    "ConsoleState",
    "DeviceHealth",
    "FeedEntry",
    "KpiKey",
    "NetworkSummary",
    "health",
    "spark",
]

_BARS = "▁▂▃▄▅▆▇█"
_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How much the console remembers.

    Attributes:
        history: points kept per chart series (one per tick).
        feed_size: decision feed entries kept.
        changes_page: journal changes listed on the Changes screen.
    """

    history: int = 120
    feed_size: int = 500
    changes_page: int = 200


class DeviceHealth(str, Enum):
    """How a device answered its last poll."""

    UP = "up"  # every protocol answered
    PARTIAL = "partial"  # some data, some errors (e.g. SNMP answered, NETCONF did not)
    DOWN = "down"  # nothing but errors
    UNKNOWN = "unknown"  # not polled yet


def health(observation: Observation | None) -> DeviceHealth:
    """A device's health from its latest observation."""
    if observation is None:
        return DeviceHealth.UNKNOWN
    if not observation.errors:
        return DeviceHealth.UP
    if observation.rates or observation.queues or observation.config is not None:
        return DeviceHealth.PARTIAL
    return DeviceHealth.DOWN


def spark(values: Sequence[float], width: int, *, floor: float = 0.0) -> str:
    """The last ``width`` values as a one-line bar chart, scaled from 0.

    Args:
        values: oldest first.
        width: how many of the latest values to draw.
        floor: the least value a full bar stands for (a latency target, line rate), so a
            flat series well inside its bound draws low bars instead of full ones.
    """
    tail = list(values)[-width:] if width > 0 else []
    if not tail:
        return ""
    top = max(max(tail), floor)
    if top <= 0:
        return _BARS[0] * len(tail)
    last = len(_BARS) - 1
    return "".join(_BARS[min(last, max(0, round(v / top * last)))] for v in tail)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One line of the decision feed: a decision, an operator's action, or an anomaly the
    loop's watch found in an intent target's KPI.

    Attributes:
        seq: stable id in the feed (row key).
        at: when it was decided or done.
        intent: the intent it concerns.
        summary: what was concluded.
        decision: the decision itself (absent for a change recovered at start).
        txn: the transaction that carries it out, once started.
        result: how that transaction ended, once it has.
        by_operator: an operator's action rather than the controller's decision.
        anomaly: the anomaly, for an anomaly's line.
    """

    seq: int
    at: datetime
    intent: str
    summary: str
    decision: Decision | None = None
    txn: str = ""
    result: ChangeResult | None = None
    by_operator: bool = False
    anomaly: Anomaly | None = None

    @property
    def outcome(self) -> str:
        """What became of it: a transaction's status (``confirmed``, ``rolled-back``...),
        ``in flight``, or why nothing was applied (the decision's :class:`Hold`: ``dry-run``,
        ``awaiting approval``, ``quarantined``, ``held back`` by a guard...); ``""`` when
        there was nothing to apply."""
        if self.result is not None:
            return self.result.status.value
        if self.txn:
            return "in flight"
        if self.anomaly is not None:
            return "anomaly"
        decision = self.decision
        if decision is None:
            return ""
        held = decision.held
        if held is Hold.BUSY:
            return Hold.GUARD.value  # it waits for the device, as for a guard
        return held.value if held is not None else ""


@dataclass(frozen=True, slots=True)
class NetworkSummary:
    """The one-line answer to "how is the network?"."""

    tick: int
    at: datetime | None
    devices_total: int
    devices_up: int
    max_utilization: float | None
    max_utilization_at: str  # "r2 eth2"
    # counted as the exit summary counts them (``Controller.summary``), so both agree:
    confirmed: int  # changes the loop made and confirmed (undone ones included)
    undone: int  # of those, how many an operator rolled back since
    rolled_back: int  # changes the loop rolled back itself (verification failed)
    in_flight: int


class ConsoleState:
    """Everything the screens render, fed by the app.

    Args:
        settings: history and feed bounds.
    """

    def __init__(self, settings: ConsoleSettings | None = None) -> None:
        self.settings = settings or ConsoleSettings()
        self.report: TickReport | None = None
        self.intents: tuple[Intent, ...] = ()
        self.devices: tuple[DeviceInfo, ...] = ()
        self.statuses: tuple[IntentStatus, ...] = ()
        self.observations: dict[str, Observation] = {}
        self.changes: tuple[ChangeView, ...] = ()
        self.approvals: tuple[ApprovalView, ...] = ()
        self.feed: list[FeedEntry] = []
        self.kpi: dict[KpiKey, deque[float]] = {}
        self.utilization: dict[tuple[str, str], deque[float]] = {}
        self.queue_delay: dict[tuple[str, str, TrafficClass], deque[float]] = {}
        self._seq = itertools.count(1)
        self._last_summary: dict[str, str] = {}

    # ---------------------------------------------------------------- feeding

    def load(self, snapshot: ControllerSnapshot) -> None:
        """Take the controller's state as the console starts (or reconnects)."""
        self.intents = snapshot.intents
        self.devices = snapshot.devices
        if snapshot.statuses:
            self.statuses = snapshot.statuses
        if snapshot.observations:
            self.observations = dict(snapshot.observations)

    def set_changes(self, changes: Iterable[ChangeView]) -> None:
        """The journal's change list, newest first."""
        self.changes = tuple(changes)

    def set_approvals(self, approvals: Iterable[ApprovalView]) -> None:
        """The controller's approvals, newest first."""
        self.approvals = tuple(approvals)

    def update_approval(self, approval: ApprovalView) -> None:
        """One approval as an operator's decision left it (before the next reload)."""
        if any(a.id == approval.id for a in self.approvals):
            self.approvals = tuple(approval if a.id == approval.id else a for a in self.approvals)
        else:
            self.approvals = (approval, *self.approvals)

    @property
    def pending_approvals(self) -> tuple[ApprovalView, ...]:
        """Plans waiting for an operator, oldest first."""
        return tuple(sorted((a for a in self.approvals if a.pending), key=lambda a: a.requested_at))

    def intents_changed(self, report: TickReport) -> bool:
        """Whether a tick ran another intent set than the one loaded (a new revision)."""
        return {s.name for s in report.statuses} != {i.name for i in self.intents}

    def add_tick(self, report: TickReport) -> None:
        """One tick: statuses, observations, histories and the decisions that are new."""
        self.report = report
        self.statuses = report.statuses
        self.observations = dict(report.observations)
        self._record_histories(report)
        for decision in report.decisions:
            if decision.change is None and self._last_summary.get(decision.intent) == (
                decision.summary
            ):
                continue  # the same conclusion as last tick: already in the feed
            self._last_summary[decision.intent] = decision.summary
            self._append(
                FeedEntry(next(self._seq), decision.at, decision.intent, decision.summary, decision)
            )
        for anomaly in report.anomalies:
            self._append(
                FeedEntry(
                    next(self._seq),
                    anomaly.at,
                    anomaly.key.intent,
                    anomaly.describe(),
                    anomaly=anomaly,
                )
            )

    def _record_histories(self, report: TickReport) -> None:
        for status in report.statuses:
            for target in status.targets:
                if target.observed is None:
                    continue
                key = KpiKey(status.name, target.expectation, target.target.name)
                self._series(self.kpi, key).append(target.observed)
        for name, observation in report.observations.items():
            for rate in observation.rates:
                self._series(self.utilization, (name, rate.interface)).append(rate.utilization)
            for queue in observation.queues:
                self._series(self.queue_delay, (name, queue.interface, queue.traffic_class)).append(
                    queue.queue_delay_ms
                )

    def _series(self, table: dict[_K, deque[float]], key: _K) -> deque[float]:
        series = table.get(key)
        if series is None:
            series = table[key] = deque(maxlen=self.settings.history)
        return series

    def change_started(self, decision: Decision, txn: str) -> FeedEntry:
        """A transaction started for a decision: the decision's feed entry gets its txn."""
        change_id = decision.change.id if decision.change else ""
        for index in range(len(self.feed) - 1, -1, -1):
            entry = self.feed[index]
            if (
                entry.intent == decision.intent
                and not entry.txn
                and entry.decision is not None
                and entry.decision.change is not None
                and entry.decision.change.id == change_id
            ):
                self.feed[index] = replace(entry, txn=txn)
                return self.feed[index]
        self._last_summary[decision.intent] = decision.summary
        return self._append(
            FeedEntry(
                next(self._seq), decision.at, decision.intent, decision.summary, decision, txn=txn
            )
        )

    def change_finished(self, result: ChangeResult) -> FeedEntry:
        """A transaction ended: its feed entry gets the result (a recovered one gets a line)."""
        for index in range(len(self.feed) - 1, -1, -1):
            entry = self.feed[index]
            if entry.txn == result.change_id:
                self.feed[index] = replace(entry, result=result)
                return self.feed[index]
        return self._append(
            FeedEntry(
                next(self._seq),
                result.finished,
                result.intent,
                f"change {result.change_id} settled at start: {result.detail}",
                txn=result.change_id,
                result=result,
            )
        )

    def operator_action(
        self, intent: str, at: datetime, summary: str, result: ChangeResult | None = None
    ) -> FeedEntry:
        """An operator's action (a rollback, an approval), shown in the feed like a decision.

        A rollback's transaction may have reached the feed already (the controller reports
        its end as it reports every change's): that entry becomes the operator's.
        """
        if result is not None:
            for index in range(len(self.feed) - 1, -1, -1):
                entry = self.feed[index]
                if entry.txn == result.change_id:
                    self.feed[index] = replace(
                        entry, summary=summary, result=result, by_operator=True, intent=intent
                    )
                    return self.feed[index]
        return self._append(
            FeedEntry(
                next(self._seq),
                at,
                intent,
                summary,
                txn=result.change_id if result else "",
                result=result,
                by_operator=True,
            )
        )

    def _append(self, entry: FeedEntry) -> FeedEntry:
        self.feed.append(entry)
        if len(self.feed) > self.settings.feed_size:
            del self.feed[: len(self.feed) - self.settings.feed_size]
        return entry

    # ---------------------------------------------------------------- reading

    def entry(self, seq: int) -> FeedEntry | None:
        """The feed entry with this id, if still kept."""
        return next((e for e in self.feed if e.seq == seq), None)

    def change_of(self, entry: FeedEntry) -> ChangeView | None:
        """The journaled change that carried out a feed entry, if listed."""
        if not entry.txn:
            return None
        return next((c for c in self.changes if c.txn == entry.txn), None)

    def status_of(self, intent: str) -> IntentStatus | None:
        """An intent's latest fulfilment, if evaluated."""
        return next((s for s in self.statuses if s.name == intent), None)

    def summary(self) -> NetworkSummary:
        """Devices up, the most loaded interface and the changes' tally."""
        names = {d.name for d in self.devices} | set(self.observations)
        up = sum(
            1
            for name in names
            if health(self.observations.get(name)) in (DeviceHealth.UP, DeviceHealth.PARTIAL)
        )
        best: tuple[float, str] | None = None
        for name, observation in sorted(self.observations.items()):
            for rate in observation.rates:
                if best is None or rate.utilization > best[0]:
                    best = (rate.utilization, f"{name} {rate.interface}")
        operator = [c for c in self.changes if c.rollback_of]
        kept = [c for c in self.changes if not c.rollback_of]
        return NetworkSummary(
            tick=self.report.number if self.report else 0,
            at=self.report.at if self.report else None,
            devices_total=len(names),
            devices_up=up,
            max_utilization=None if best is None else best[0],
            max_utilization_at="" if best is None else best[1],
            confirmed=sum(1 for c in kept if c.status is ChangeStatus.CONFIRMED),
            undone=sum(1 for c in kept if c.status is ChangeStatus.CONFIRMED and c.rolled_back_by),
            rolled_back=sum(1 for c in kept if c.status is ChangeStatus.ROLLED_BACK),
            in_flight=sum(1 for c in (*kept, *operator) if c.status is ChangeStatus.PENDING),
        )
