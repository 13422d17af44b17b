"""Observers that turn the controller's events into log lines (headless mode)."""

from __future__ import annotations

import logging
import re

from controller.loop import Controller, TickReport
from controller.model import ChangeResult, ChangeStatus, Decision

__all__ = ["LogObserver"]


class LogObserver:
    """Logs intent status changes, decisions that act, and change outcomes."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("netpilot")
        self._last: dict[str, str] = {}
        self._device_errors: dict[str, tuple[str, ...]] = {}
        self._held: dict[str, str] = {}

    def controller_ready(self, controller: Controller) -> None:
        self.log.info(
            "controller ready: %d intent(s), %d device(s)",
            len(controller.intents),
            len(controller.devices),
        )

    def tick_finished(self, report: TickReport) -> None:
        for status in report.statuses:
            # several expectations may have targets of one name: each says whose it is
            several = len({t.expectation for t in status.targets}) > 1
            targets = ", ".join(
                (f"{t.expectation}: " if several else "")
                + f"{t.target.name}={'?' if t.observed is None else format(t.observed, '.3g')}"
                f" ({t.target.describe()})"
                for t in status.targets
            )
            line = f"{status.status.value}" + (f"/{status.state.value}" if status.state else "")
            if self._last.get(status.name) != line:
                self.log.info(
                    "tick %d: intent %s is %s: %s", report.number, status.name, line, targets
                )
                self._last[status.name] = line
        for observation in report.observations.values():
            # a device's errors are logged when they change, not every tick (a dead device
            # would write a line per tick for weeks); the sensor logs its own "sense:"
            # verdicts (missed deadline, backoff) once per state change
            device = observation.device
            errors = observation.errors
            if any(e.startswith("sense: ") for e in errors) or errors == self._device_errors.get(
                device, ()
            ):
                continue  # not observed this tick (the sensor said why), or nothing new
            for error in errors:
                self.log.warning("tick %d: %s: %s", report.number, device, error)
            if not errors:
                self.log.info("tick %d: %s: observed without errors again", report.number, device)
            self._device_errors[device] = errors

        for anomaly in report.anomalies:
            self.log.info("tick %d: %s", report.number, anomaly.describe())
        for decision in report.decisions:
            self._held_decision(report.number, decision)

    def _held_decision(self, tick: int, decision: Decision) -> None:
        """A plan held for an operator (awaiting approval, a recommendation, dry-run) is
        logged when it first appears, not every tick (its numbers may move every tick)."""
        summary = decision.summary
        held = decision.held is not None and decision.held.for_operator
        key = re.sub(r"\d+(\.\d+)?", "#", summary) if held else ""
        if key and self._held.get(decision.intent) != key:
            self.log.info("tick %d: decision for %s: %s", tick, decision.intent, summary)
        self._held[decision.intent] = key

    def change_started(self, decision: Decision, txn: str) -> None:
        self.log.info(
            "decision for %s: %s -> transaction %s", decision.intent, decision.summary, txn
        )

    def change_finished(self, result: ChangeResult) -> None:
        # anything but a confirmed change is something an operator should look at
        level = logging.INFO if result.status is ChangeStatus.CONFIRMED else logging.WARNING
        self.log.log(
            level,
            "change %s on %s ended %s: %s",
            result.change_id,
            result.device,
            result.status.value,
            result.detail,
        )
