"""The closed loop: sense -> analyze -> decide -> act, one tick at a time.

``Controller.tick`` only orchestrates: it asks the :class:`~controller.sense.Sensor` for
observations, hands them to the pure functions (``analytics.kpi.evaluate_intent``,
``policies.decide.decide``: every intent's policy, arbitration across intents, guards and
the what-if twin), and starts a change transaction (``controller.apply``) for a decision
that passed its guards. After a confirmed change it records the twin's prediction against
what it then observes (``twin-accuracy`` in the journal). Transactions run as their own
tasks, so sensing goes on while a change is being verified; the guards keep one change per
intent in flight.

Observers (the journal writer, logs, the TUI) are told about every tick, decision and
change; the controller never imports the TUI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from adapters.base import ConfigSession
from analytics.kpi import evaluate_intent, observe_target
from analytics.watch import Anomaly, KpiKey, KpiWatch
from controller.apply import VerificationSample, apply_plan, new_txn_id, recover_in_flight
from controller.config import ApplySettings, LoopClass, LoopSettings
from controller.errors import ChangeError, ConnectError
from controller.journal import Journal
from controller.model import (
    AdminState,
    Approval,
    ApprovalStatus,
    ChangeResult,
    ChangeSet,
    ChangeStatus,
    ConfigPath,
    Decision,
    Device,
    Expectation,
    ExpectationType,
    FulfilmentStatus,
    Hold,
    Intent,
    IntentMode,
    IntentStatus,
    NotFulfilledState,
    Observation,
    Plan,
    ReconcileState,
)
from controller.rollback import rollback_change
from policies.base import (
    ChangeMark,
    ChangeWindows,
    LoadForecast,
    PolicySettings,
    StallAnswer,
    World,
)
from policies.decide import Outcome, decide, measure
from policies.twin import Twin, probe_pairs

__all__ = ["Controller", "ControllerObserver", "ObservationSource", "Observers", "TickReport"]

QUARANTINE_EVENT = "quarantine"  # the journal event kind that makes a quarantine durable
RELEASE_EVENT = "quarantine-released"  # an operator's release of one (read after it)
ANOMALY_EVENT = "anomaly"  # a KPI the anomaly watch found surprising
ANOMALIES_KEPT = 100  # the newest anomalies kept in memory (all are journaled)
ANSWERED_APPROVALS_KEPT = 100  # answered approvals kept in memory (all are journaled)

log = logging.getLogger("netpilot.loop")


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick saw and decided."""

    number: int
    at: datetime
    duration: timedelta
    statuses: tuple[IntentStatus, ...]
    decisions: tuple[Decision, ...]
    observations: Mapping[str, Observation]
    # wall seconds per stage: "sense" (collect observations), "decide" (evaluate + policies)
    stages: Mapping[str, float] = field(default_factory=dict)
    # the loop class this tick decided (None: every intent, e.g. a woken tick or one loop)
    loop_class: LoopClass | None = None
    # the intent targets' KPIs the anomaly watch found surprising at this tick
    anomalies: tuple[Anomaly, ...] = ()


class ObservationSource(Protocol):
    """Where the loop's observations come from (controller.sense.Sensor over the network)."""

    async def collect(self) -> dict[str, Observation]:
        """One observation per device, now. Errors are values in the observations."""
        ...

    async def observe_state(self, name: str) -> Observation:
        """A fresh operational-state observation of one device (a post-check sample)."""
        ...


class ControllerObserver(Protocol):
    """Receives the controller's events. Called on the event loop; must not block or raise."""

    def controller_ready(self, controller: Controller) -> None:
        """Once, when the controller is built and about to run (before the first tick).

        An observer that needs to query or act (the operator console) keeps the reference;
        others ignore it.
        """

    def tick_finished(self, report: TickReport) -> None:
        """After every tick, with everything it saw and decided."""

    def change_started(self, decision: Decision, txn: str) -> None:
        """When a change transaction starts for a decision."""

    def change_finished(self, result: ChangeResult) -> None:
        """When a change transaction has ended (confirmed, rolled back, ...)."""


class Observers(list[ControllerObserver]):
    """Fans each event out to every observer."""

    def controller_ready(self, controller: Controller) -> None:
        for observer in self:
            observer.controller_ready(controller)

    def tick_finished(self, report: TickReport) -> None:
        for observer in self:
            observer.tick_finished(report)

    def change_started(self, decision: Decision, txn: str) -> None:
        for observer in self:
            observer.change_started(decision, txn)

    def change_finished(self, result: ChangeResult) -> None:
        for observer in self:
            observer.change_finished(result)


class Controller:
    """One netpilot controller: intents, inventory, sensor, journal and the loop state.

    Args:
        intents: the active intent set.
        devices: the inventory.
        sensor: collects observations.
        open_config_session: opens a configuration session for a change transaction.
        journal: the journal.
        loop_settings: cadence and hysteresis.
        apply_settings: confirm timeout and verification window.
        clock: the current time (UTC).
        observers: who hears about ticks, decisions and changes.
        twin: the what-if twin of the network (None: policies act without prediction,
            the e2e-qos policy by class priority only, energy saving not at all).
        policy_settings: the decision logic's tunables (confidence gating, boosts...).
        windows: freeze and maintenance windows.
        forecast: gives the load forecast for a tick's world (None: plan on current load).
        stall: gives the stall model's answer for a tick's observations (e.g.
            :func:`policies.video.stall_answer` with the registry's active classifier);
            None: video-experience intents are monitored only.
        watch: scores every intent target's KPI each tick (:class:`analytics.watch.KpiWatch`);
            what it finds is in the tick's report, the journal (``anomaly`` events) and
            :attr:`anomalies`. None: no anomaly watch.
    """

    def __init__(
        self,
        *,
        intents: Iterable[Intent],
        devices: Iterable[Device],
        sensor: ObservationSource,
        open_config_session: Callable[[Device], Awaitable[ConfigSession]],
        journal: Journal,
        loop_settings: LoopSettings,
        apply_settings: ApplySettings,
        clock: Callable[[], datetime],
        observers: Iterable[ControllerObserver] = (),
        twin: Twin | None = None,
        policy_settings: PolicySettings | None = None,
        windows: ChangeWindows | None = None,
        forecast: Callable[[World], LoadForecast | None] | None = None,
        stall: Callable[[Mapping[str, Observation]], StallAnswer | None] | None = None,
        watch: KpiWatch | None = None,
    ) -> None:
        self.intents = tuple(intents)
        self.devices = {d.name: d for d in devices}
        self.sensor = sensor
        self._open_config_session = open_config_session
        self.journal = journal
        self.loop_settings = loop_settings
        self.apply_settings = apply_settings
        self.clock = clock
        self.observers = Observers(observers)
        self.states: dict[str, ReconcileState] = {i.name: ReconcileState() for i in self.intents}
        self._retired_states: dict[str, ReconcileState] = {}  # of intents not in the set now
        self.statuses: dict[str, IntentStatus] = {}
        self.last_decisions: dict[str, Decision] = {}
        self.last_observations: dict[str, Observation] = {}
        self.changes: Counter[ChangeStatus] = Counter()
        self.approvals: dict[str, Approval] = {}
        self.operator_rollbacks: Counter[ChangeStatus] = Counter()
        self._busy_devices: set[str] = set()
        self.twin = twin
        self.policy_settings = policy_settings or PolicySettings(
            violation_ticks=loop_settings.violation_ticks
        )
        self.windows = windows or ChangeWindows()
        self._forecast = forecast
        self.stall = stall
        # (device, leaf) -> its last confirmed change; device -> when it was changed
        self.history: dict[tuple[str, ConfigPath], ChangeMark] = {}
        self.device_changes: dict[str, list[datetime]] = {}
        # intent -> (txn, expectation, predicted targets) awaiting an observation
        self._accuracy_due: dict[str, tuple[str, str, Mapping[str, float]]] = {}
        self.twin_accuracy: list[dict[str, object]] = []
        self.ticks = 0
        self._tasks: set[asyncio.Task[ChangeResult | None]] = set()
        self.watch = watch
        self.anomalies: deque[Anomaly] = deque(maxlen=ANOMALIES_KEPT)  # the newest found
        self.anomaly_count = 0

    # ---------------------------------------------------------------- the loop

    async def tick(self, loop_class: LoopClass | None = None) -> TickReport:
        """Run one sense-analyze-decide-act cycle.

        Args:
            loop_class: decide only the intents of this class (the fast loop for QoS and
                video, the slow one for energy saving; :class:`controller.config.LoopClass`).
                Every intent is evaluated either way. None: decide every intent.
        """
        started = self.clock()
        self.ticks += 1
        sense_started = time.perf_counter()
        observations = await self.sensor.collect()
        decide_started = time.perf_counter()
        self.last_observations = observations
        now = self.clock()
        statuses, decisions = self._decide(observations, now=now, loop_class=loop_class)
        anomalies = self._watch_kpis(statuses, now)
        report = TickReport(
            number=self.ticks,
            at=started,
            duration=self.clock() - started,
            statuses=statuses,
            decisions=decisions,
            observations=observations,
            stages={
                "sense": decide_started - sense_started,
                "decide": time.perf_counter() - decide_started,
            },
            loop_class=loop_class,
            anomalies=anomalies,
        )
        self.observers.tick_finished(report)
        return report

    def _watch_kpis(self, statuses: Iterable[IntentStatus], now: datetime) -> tuple[Anomaly, ...]:
        """Score this tick's KPI of every intent target; journal what is surprising."""
        if self.watch is None:
            return ()
        values = {
            KpiKey(status.name, target.expectation, target.target.name): target.observed
            for status in statuses
            for target in status.targets
        }
        found = self.watch.observe(values, now)
        for anomaly in found:
            log.debug("%s", anomaly.describe())  # (the observers' logs say it)
            self.journal.event(
                ANOMALY_EVENT, at=now, intent=anomaly.key.intent, detail=anomaly.as_dict()
            )
        self.anomalies.extend(found)
        self.anomaly_count += len(found)
        return found

    def _max_age(self) -> timedelta:
        """How old a measurement may be to still count (two ticks, and some slack)."""
        return self.loop_settings.interval * 2 + timedelta(seconds=5)

    def _world(self, observations: Mapping[str, Observation], now: datetime) -> World:
        """What the policies see of this tick (statuses are added once evaluated)."""
        active = tuple(i for i in self.intents if i.admin_state is not AdminState.DEACTIVATED)
        view = None
        if self.twin is not None:
            pairs = probe_pairs(active)
            view = self.twin.observe(observations, now=now, probe_pairs=pairs)
        horizon = now - timedelta(hours=1)
        world = World(
            now=now,
            devices=self.devices,
            observations=observations,
            intents=active,
            states=dict(self.states),
            twin=self.twin,
            view=view,
            history=dict(self.history),
            device_changes={
                d: tuple(t for t in times if t >= horizon)
                for d, times in self.device_changes.items()
            },
            windows=self.windows,
            settings=self.policy_settings,
        )
        if self.stall is not None:
            world = replace(world, stall=self.stall(observations))
        if self._forecast is not None:
            world = replace(world, forecast=self._forecast(world))
        return world

    def _decide(
        self,
        observations: Mapping[str, Observation],
        *,
        now: datetime,
        loop_class: LoopClass | None = None,
    ) -> tuple[tuple[IntentStatus, ...], tuple[Decision, ...]]:
        """Evaluate every intent, decide for all of them at once, act on what passed."""
        world = self._world(observations, now)
        statuses = self._evaluate(world)
        for intent in self.intents:
            status = statuses[intent.name]
            if intent.admin_state is AdminState.DEACTIVATED:
                self._set_status(status)
                continue
            violated = status.state is NotFulfilledState.DEGRADED
            state = self.states[intent.name]
            self.states[intent.name] = replace(
                state, consecutive_violations=state.consecutive_violations + 1 if violated else 0
            )
        self._record_accuracy(statuses, now)
        world = replace(world, statuses=statuses, states=dict(self.states))
        deciding = [i for i in world.intents if loop_class is None or LoopClass.of(i) is loop_class]
        outcomes = decide(world, only={i.name for i in deciding}).outcomes
        decisions: list[Decision] = []
        for intent in world.intents:
            if intent.name not in outcomes:
                self._set_status(statuses[intent.name])  # evaluated, decided by its own loop
                continue
            status, decision = self._conclude(intent, statuses[intent.name], outcomes[intent.name])
            statuses[intent.name] = status
            decisions.append(decision)
        return tuple(statuses[i.name] for i in self.intents), tuple(decisions)

    def _evaluate(self, world: World) -> dict[str, IntentStatus]:
        """Every intent's fulfilment in ``world`` (a deactivated one: suspended)."""
        measured = measure(world)
        statuses: dict[str, IntentStatus] = {}
        for intent in self.intents:
            if intent.admin_state is AdminState.DEACTIVATED:
                statuses[intent.name] = IntentStatus(
                    intent.name,
                    FulfilmentStatus.NOT_FULFILLED,
                    NotFulfilledState.SUSPENDED,
                    (),
                    ("deactivated by the operator",),
                    world.now,
                )
                continue
            statuses[intent.name] = evaluate_intent(
                intent,
                world.observations,
                now=world.now,
                max_age=self._max_age(),
                measured=measured.get(intent.name),
            )
        return statuses

    async def evaluate(self) -> tuple[IntentStatus, ...]:
        """Sense and evaluate every intent, deciding and changing nothing: the statuses as
        the network is now. After :meth:`drain`, for the summary: a change that ended since
        the last tick is seen in effect, not as "being verified"."""
        observations = await self.sensor.collect()
        self.last_observations = observations
        statuses = self._evaluate(self._world(observations, self.clock()))
        for intent in self.intents:
            status = statuses[intent.name]
            in_flight = self.states[intent.name].in_flight
            if in_flight:  # (called without a drain) say so, as a tick does
                status = replace(
                    status, reasons=(*status.reasons, f"change {in_flight} is being verified")
                )
            self._set_status(status)
        return tuple(self.statuses[i.name] for i in self.intents)

    def _conclude(
        self, intent: Intent, status: IntentStatus, outcome: Outcome
    ) -> tuple[IntentStatus, Decision]:
        """The intent's status as the decision leaves it; the decision acted upon."""
        decision = outcome.decision
        state = self.states[intent.name]
        violated = status.state is NotFulfilledState.DEGRADED
        acting = decision.actions is not None
        pending = "" if acting else outcome.pending
        ticks = (state.pending_ticks + 1 if state.pending == pending else 1) if pending else 0
        self.states[intent.name] = replace(state, pending=pending, pending_ticks=ticks)
        reasons = tuple(c.describe() for c in outcome.conflicts)
        if state.in_flight:
            status = replace(
                status,
                state=NotFulfilledState.COMPLIANT if violated else status.state,
                reasons=(*status.reasons, f"change {state.in_flight} is being verified"),
            )
        elif violated and "quarantined" in decision.explanation:
            # the one fix the policy knows already failed: say so, do not pretend to try
            status = replace(
                status,
                state=NotFulfilledState.FULFILMENT_FAILED,
                reasons=(*status.reasons, decision.summary),
            )
        if reasons:
            # the conflict report is part of the status: why this intent is not served now
            status = replace(status, reasons=(*status.reasons, *reasons))
        if acting:
            decision = self._act(intent, decision, outcome)
        self._set_status(status)
        self._record_decision(intent, decision)
        return status, decision

    def _set_status(self, status: IntentStatus) -> None:
        previous = self.statuses.get(status.name)
        self.statuses[status.name] = status
        if previous is None or (previous.status, previous.state) != (status.status, status.state):
            self.journal.event(
                "intent-status",
                at=status.evaluated_at or self.clock(),
                intent=status.name,
                detail=status.as_dict(),
            )

    def _record_decision(self, intent: Intent, decision: Decision) -> None:
        previous = self.last_decisions.get(intent.name)
        self.last_decisions[intent.name] = decision
        if previous is not None and previous.summary == decision.summary:
            return  # the same conclusion as last tick: the journal already has it
        detail: dict[str, object] = {
            "summary": decision.summary,
            "explanation": dict(decision.explanation),
        }
        if decision.held is not None:
            detail["held"] = decision.held.value
        plan = decision.actions
        if plan is not None:
            detail["plan"] = [
                e.describe() if len(plan.changes) == 1 else f"{c.device}: {e.describe()}"
                for c in plan.changes
                for e in c.edits
            ]
        self.journal.event(
            "decision",
            at=decision.at,
            intent=intent.name,
            device=",".join(plan.devices) if plan is not None else "",
            detail=detail,
        )

    # ---------------------------------------------------------------- act

    def _act(self, intent: Intent, decision: Decision, outcome: Outcome) -> Decision:
        """Start the decision's plan, unless the mode or a busy device holds it back.

        Returns:
            The decision as it stands (its summary says when it was held back).
        """
        plan = decision.actions
        assert plan is not None
        if intent.mode is IntentMode.DRY_RUN:
            return replace(
                decision, summary=f"dry-run: would {decision.summary}", held=Hold.DRY_RUN
            )
        if intent.mode is IntentMode.APPROVE:
            approval = self._approval(intent, decision, plan)
            if approval.status is ApprovalStatus.REJECTED:
                return replace(
                    decision.with_plan(None),
                    summary=f"{decision.summary}: held back, an operator rejected the same "
                    f"action ({approval.id}): {approval.reason or 'no reason given'}",
                    held=Hold.REJECTED,
                )
            if approval.status is not ApprovalStatus.APPROVED:
                # the values the operator is asked about (and gets when approving), not this
                # tick's: a shaping rate that follows the load must not read as approvable
                return replace(
                    decision.with_plan(None),
                    summary=f"{approval.summary}: awaiting approval {approval.id} "
                    "(netpilot changes approve, or the console's Approvals)",
                    held=Hold.AWAITING_APPROVAL,
                )
            # what the operator approved, not this tick's values of the same action (the
            # transaction's drift check refuses it if a device changed meanwhile)
            plan = approval.proposed
            decision = replace(
                decision.with_plan(plan),
                summary=approval.summary,
                explanation={**decision.explanation, "approved": approval.id},
            )
        busy = sorted(set(plan.devices) & self._busy_devices)
        if busy:
            # one transaction per device: a second would fight the first for the candidate
            return replace(
                decision.with_plan(None),
                summary=f"{decision.summary}: held back, {', '.join(busy)} is busy with a change",
                held=Hold.BUSY,
            )
        expectation = next((e for e in intent.expectations if e.id == decision.expectation), None)
        if expectation is None:
            return replace(decision.with_plan(None), summary="internal: unknown expectation")
        state = self.states[intent.name]
        self.states[intent.name] = replace(state, in_flight=plan.id)
        self._busy_devices.update(plan.devices)
        if plan.id in self.approvals:
            self._set_approval(plan.id, ApprovalStatus.APPLIED)
        task = asyncio.create_task(
            self._transaction(intent, decision, plan, expectation, outcome.predicted)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return decision

    # ---------------------------------------------------------------- approvals

    def _approval(self, intent: Intent, decision: Decision, plan: Plan) -> Approval:
        """The approval an approve-mode plan stands on; requested the first time.

        A plan of the same shape as one the intent is already waiting on, or one an operator
        answered (the same action with this tick's values: a shaping rate follows the load)
        stands on that approval, so the operator is asked once and answers what was shown.
        A rejection holds for as long as its quarantine does (until an operator releases
        it: :meth:`release_quarantine`). A plan of another shape supersedes a pending or approved,
        not yet applied one: the network moved on.
        """
        quarantined = self.states[intent.name].quarantined

        def holds(other: Approval) -> bool:
            """Still the answer to stand on: waiting, approved and not yet applied, or a
            rejection whose quarantine holds (one applied, superseded or released is not:
            the same plan proposed again is asked again)."""
            return other.status in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED) or (
                other.status is ApprovalStatus.REJECTED and other.id in quarantined
            )

        approval = self.approvals.get(plan.id)
        if approval is not None and holds(approval):
            return approval
        for other in self.approvals.values():
            if other.intent == intent.name and other.proposed.shape == plan.shape and holds(other):
                return other
        # another action now: what the intent waited on, or was approved and not yet
        # applied, is stale (an approval is not to be applied hours later, unasked)
        for other in list(self.approvals.values()):
            if other.intent == intent.name and other.status in (
                ApprovalStatus.PENDING,
                ApprovalStatus.APPROVED,
            ):
                self._set_approval(other.id, ApprovalStatus.SUPERSEDED, "a newer plan")
        approval = Approval(
            id=plan.id,
            intent=intent.name,
            change=plan.changes[0],
            summary=decision.summary,
            requested_at=self.clock(),
            explanation=dict(decision.explanation),
            plan=plan if len(plan.changes) > 1 else None,
        )
        self.approvals[plan.id] = approval
        self._prune_approvals()
        self.journal.event(
            "approval-requested",
            at=approval.requested_at,
            intent=intent.name,
            device=",".join(approval.devices),
            detail=approval.as_dict(),
        )
        return approval

    def _prune_approvals(self) -> None:
        """Forget answered approvals beyond the newest ``ANSWERED_APPROVALS_KEPT`` (the journal
        keeps them all), so a long-running approve-mode daemon does not grow without bound.
        Pending and approved ones stay, and so do rejections whose quarantine holds: they
        still hold the same action back."""
        held = {c for state in self.states.values() for c in state.quarantined}
        answered = [
            a
            for a in self.approvals.values()
            if a.status not in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
            and not (a.status is ApprovalStatus.REJECTED and a.id in held)
        ]
        answered.sort(key=lambda a: a.decided_at or a.requested_at)
        for stale in answered[: max(0, len(answered) - ANSWERED_APPROVALS_KEPT)]:
            del self.approvals[stale.id]

    def _set_approval(self, approval_id: str, status: ApprovalStatus, reason: str = "") -> Approval:
        approval = replace(
            self.approvals[approval_id],
            status=status,
            decided_at=self.clock(),
            reason=reason or self.approvals[approval_id].reason,
        )
        self.approvals[approval_id] = approval
        self.journal.event(
            f"approval-{status.value}",
            at=self.clock(),
            intent=approval.intent,
            device=",".join(approval.devices),
            detail=approval.as_dict(),
        )
        return approval

    def decide_approval(self, approval_id: str, *, approve: bool, reason: str = "") -> Approval:
        """An operator's answer to a pending approval.

        Approved: the next tick that still proposes the same action (the same kinds of
        leaves of the same devices: :attr:`Plan.shape`) applies the plan as approved (the
        transaction's drift check refuses it if a device changed meanwhile). Rejected: the
        change is quarantined for its intent, with the operator's reason, and the same
        action is held back while it is.

        Raises:
            ChangeError: a rejection without a reason, no such approval, or it is not
                pending any more.
        """
        reason = reason.strip()
        if not approve and not reason:
            raise ChangeError(approval_id, "a rejection needs a reason (it is journaled)")
        approval = self.approvals.get(approval_id)
        if approval is None:
            raise ChangeError(approval_id, "no such approval")
        if approval.status is not ApprovalStatus.PENDING:
            raise ChangeError(approval_id, f"the approval is {approval.status.value}, not pending")
        log.info(
            "approval %s for %s %s by an operator: %s",
            approval_id,
            approval.intent,
            "approved" if approve else "rejected",
            reason or "no reason given",
        )
        if approve:
            return self._set_approval(approval_id, ApprovalStatus.APPROVED, reason)
        rejected = self._set_approval(approval_id, ApprovalStatus.REJECTED, reason)
        self._quarantine(
            approval.intent,
            approval.id,
            f"rejected by an operator: {reason or 'no reason given'}",
            rejected=rejected,
        )
        return rejected

    # ---------------------------------------------------------------- quarantine

    def _quarantine(
        self,
        intent: str,
        change_id: str,
        reason: str,
        *,
        rejected: Approval | None = None,
    ) -> None:
        """Hold a change back for its intent, and journal it so a restart holds it too.

        Args:
            rejected: for an operator's rejection, the rejected approval (journaled whole:
                after a restart it is listed again, and holds the same action back).
        """
        state = self.states.get(intent)
        if state is not None:
            self.states[intent] = replace(
                state, quarantined={**state.quarantined, change_id: reason}
            )
        log.info(
            "change %s quarantined for %s: %s (netpilot changes release %s lets it be "
            "proposed again)",
            change_id,
            intent,
            reason,
            change_id,
        )
        detail: dict[str, object] = {"change": change_id, "reason": reason}
        if rejected is not None:
            detail["approval"] = _approval_record(rejected)
        self.journal.event(QUARANTINE_EVENT, at=self.clock(), intent=intent, detail=detail)

    def restore_quarantine(self) -> int:
        """Take back the quarantines an earlier run journaled (failed verifications, operator
        rollbacks and rejections) and not released since: a restart is not a reason to push
        them again.

        Returns:
            How many changes are held again.
        """
        held, rejections = read_quarantine(self.journal)
        restored = 0
        for intent, changes in held.items():
            states = self.states if intent in self.states else self._retired_states
            state = states.get(intent) or ReconcileState()
            states[intent] = replace(state, quarantined={**state.quarantined, **changes})
            restored += len(changes)
        self.approvals.update(rejections)
        if restored:
            log.info("holding %d quarantined change(s) from the journal", restored)
        return restored

    def quarantined(self) -> list[tuple[str, str, str]]:
        """Every change held back: (intent, change id, why), by intent then change; the
        intents not in the set now included (their quarantine comes back with them)."""
        return sorted(
            (intent, change, reason)
            for states in (self.states, self._retired_states)
            for intent, state in states.items()
            for change, reason in state.quarantined.items()
        )

    def release_quarantine(self, change_id: str, *, reason: str = "") -> tuple[str, list[str]]:
        """An operator's release of a quarantined change: its intents may propose it again
        (an approve-mode intent asks for approval again). Journaled, so a restart does not
        hold it again.

        Args:
            change_id: the change (its plan id, as ``changes quarantined`` and the
                decisions name it), or a transaction of it (as ``changes list`` names it).
            reason: why (kept in the journal).

        Returns:
            The change id released, and the intents that held it.

        Raises:
            ChangeError: no reason given, or no intent holds the change.
        """
        reason = reason.strip()
        if not reason:
            raise ChangeError(change_id, "a release needs a reason (it is journaled)")
        holding = [
            (states, intent)
            for states in (self.states, self._retired_states)
            for intent, state in states.items()
            if change_id in state.quarantined
        ]
        if not holding:
            record = self.journal.change(change_id)
            if record is not None and record.change_id != change_id:
                return self.release_quarantine(record.change_id, reason=reason)
            raise ChangeError(change_id, "not quarantined (see 'netpilot changes quarantined')")
        for states, intent in holding:
            state = states[intent]
            was = state.quarantined[change_id]
            held = {c: r for c, r in state.quarantined.items() if c != change_id}
            states[intent] = replace(state, quarantined=held)
            log.info(
                "quarantine of %s for %s released by an operator: %s", change_id, intent, reason
            )
            self.journal.event(
                RELEASE_EVENT,
                at=self.clock(),
                intent=intent,
                detail={"change": change_id, "reason": reason, "was": was},
            )
        return change_id, sorted(intent for _, intent in holding)

    async def _transaction(
        self,
        intent: Intent,
        decision: Decision,
        plan: Plan,
        expectation: Expectation,
        predicted: Mapping[str, float],
    ) -> ChangeResult | None:
        async def verify() -> VerificationSample:
            return await self._sample_target(expectation, plan)

        txn = new_txn_id(plan)
        result: ChangeResult | None = None
        try:
            self.observers.change_started(decision, txn)
            result = await apply_plan(
                plan,
                open_session=self.open_session_by_name,
                verify=verify,
                journal=self.journal,
                settings=self.apply_settings,
                clock=self.clock,
                explanation=dict(decision.explanation),
                txn=txn,
            )
        finally:
            # whatever happened (even a cancellation), the intent and the device are free again
            self._change_done(intent, plan, result)
        if result is not None and result.status is ChangeStatus.CONFIRMED and predicted:
            self._accuracy_due[intent.name] = (txn, expectation.id, dict(predicted))
        return result

    async def _sample_target(self, expectation: Expectation, plan: Plan) -> VerificationSample:
        """One post-check sample of the expectation's targets, from fresh NETCONF state.

        e2e-qos: the path probe. Energy saving: the changed devices' ports, none of them
        above the expectation's utilisation bound (a sleep that overloads what stays awake
        is rolled back). Other types: the devices answer (the next ticks judge the rest).
        """
        path = expectation.objects.path
        if expectation.type is ExpectationType.ENERGY_SAVING or path is None:
            observations = [await self.sensor.observe_state(d) for d in plan.devices]
            if any(o.errors for o in observations):
                return VerificationSample(
                    None, None, "; ".join(e for o in observations for e in o.errors)
                )
            bound = next((t for t in expectation.targets if t.name == "maxUtilization"), None)
            peak = max(
                (p.utilization for o in observations for p in o.ports if p.oper_up), default=0.0
            )
            headroom = bound.is_met(peak) if bound is not None else True
            return VerificationSample(
                headroom, peak, f"utilization={peak:.3g} on {','.join(plan.devices)}"
            )
        observation = await self.sensor.observe_state(path.source)
        now = self.clock()
        observed = [
            (
                target,
                observe_target(
                    expectation,
                    target,
                    {path.source: observation},
                    now=now,
                    max_age=self._max_age(),
                ),
            )
            for target in expectation.targets
        ]
        met: bool | None = None
        if all(value is not None for _, value in observed):
            met = all(target.is_met(value) for target, value in observed if value is not None)
        detail = ", ".join(
            f"{target.name}={'?' if value is None else format(value, '.3g')}"
            for target, value in observed
        )
        return VerificationSample(met, observed[0][1], detail)

    def _record_accuracy(self, statuses: Mapping[str, IntentStatus], now: datetime) -> None:
        """Predicted against observed for changes confirmed since the last tick."""
        for name, (txn, expectation, predicted) in list(self._accuracy_due.items()):
            status = statuses.get(name)
            if status is None:
                continue
            observed = {
                t.target.name: t.observed
                for t in status.targets
                if t.expectation == expectation and t.observed is not None
            }
            pairs = {k: (v, observed[k]) for k, v in predicted.items() if k in observed}
            if not pairs:
                continue
            del self._accuracy_due[name]
            record: dict[str, object] = {
                "txn": txn,
                "intent": name,
                "expectation": expectation,
                "at": now.isoformat(),
                "targets": {
                    k: {
                        "predicted": round(p, 6),
                        "observed": round(o, 6),
                        "error": round(o - p, 6),
                        "relative_error": round(abs(o - p) / abs(o), 4) if o else None,
                    }
                    for k, (p, o) in pairs.items()
                },
            }
            self.twin_accuracy.append(record)
            self.journal.event("twin-accuracy", at=now, intent=name, detail=record)

    def _change_done(self, intent: Intent, plan: Plan, result: ChangeResult | None) -> None:
        """Update the intent's reconcile state from a transaction's outcome.

        Every attempt counts against the cooldown and the hourly rate limit, so a device
        that keeps refusing is not hammered; a change that failed verification, could not be
        restored, or was refused for a reason retrying cannot fix is quarantined.
        """
        self._busy_devices.difference_update(plan.devices)
        state = self.states[intent.name]
        now = result.finished if result is not None else self.clock()
        reason = _quarantine_reason(result)
        horizon = now - timedelta(hours=1) - intent.guards.cooldown
        self.states[intent.name] = replace(
            state,
            in_flight="",
            recent_changes=(*(t for t in state.recent_changes if t >= horizon), now),
        )
        if reason:
            self._quarantine(intent.name, plan.id, reason)
        if result is None:
            log.error("change %s for %s ended without a result (cancelled)", plan.id, intent.name)
            return
        if result.status is ChangeStatus.CONFIRMED:
            for change in plan.changes:
                times = self.device_changes.setdefault(change.device, [])
                times[:] = [t for t in times if t >= now - timedelta(hours=2)] + [now]
                for edit in change.edits:
                    self.history[(change.device, edit.path)] = ChangeMark(
                        edit.new, now, intent.name
                    )
        self.changes[result.status] += 1
        self.observers.change_finished(result)

    async def open_session_by_name(self, name: str) -> ConfigSession:
        device = self.devices.get(name)
        if device is None:
            raise ConnectError(name, "not in the inventory any more")
        return await self._open_config_session(device)

    async def recover(self) -> list[ChangeResult]:
        """Take back the earlier runs' quarantines and settle the changes they left in flight
        (call once, before the first tick)."""
        self.restore_quarantine()
        results = await recover_in_flight(
            self.journal,
            open_session=self.open_session_by_name,
            clock=self.clock,
            settings=self.apply_settings,
        )
        for result in results:
            log.warning(
                "recovered change %s on %s: %s (%s)",
                result.change_id,
                result.device,
                result.status.value,
                result.detail,
            )
            self.observers.change_finished(result)
        return results

    def replace_intents(self, intents: Iterable[Intent]) -> dict[str, list[str]]:
        """Make a new intent set the active one (all or nothing; it was validated already).

        An intent that stays keeps its reconcile state (its quarantine, cooldown and change
        in flight); a new one starts fresh; a removed one stops being enforced at once, and
        should it come back, its quarantine and change history come back with it.

        Returns:
            The names added, removed, changed (new generation) and unchanged.
        """
        new = {i.name: i for i in intents}
        old = {i.name: i for i in self.intents}
        report = {
            "added": sorted(new.keys() - old.keys()),
            "removed": sorted(old.keys() - new.keys()),
            "changed": sorted(
                n for n in new.keys() & old.keys() if new[n].generation != old[n].generation
            ),
        }
        report["unchanged"] = sorted((new.keys() & old.keys()) - set(report["changed"]))
        self.intents = tuple(sorted(new.values(), key=lambda i: i.name))
        for name in report["removed"]:
            # what must outlive the intent's absence: the changes it may not push again (an
            # operator's rollback, a failed verification) and its rate limit's history; a
            # revision that brings the intent back (a fallback after a quarantine) must not
            # re-apply a change an operator undid
            gone = self.states.get(name)
            if gone is not None and (gone.quarantined or gone.recent_changes):
                self._retired_states[name] = ReconcileState(
                    quarantined=gone.quarantined, recent_changes=gone.recent_changes
                )
        self.states = {
            n: self.states.get(n) or self._retired_states.pop(n, None) or ReconcileState()
            for n in new
        }
        for name in report["removed"]:
            self.statuses.pop(name, None)
            self.last_decisions.pop(name, None)
        self.journal.event("intents-replaced", at=self.clock(), detail=dict(report))
        return report

    async def rollback(self, txn: str, *, force: bool = False) -> ChangeResult:
        """Roll a confirmed change back (an operator's command), as a new transaction.

        Raises:
            ChangeError: no such confirmed change, or one of its devices is busy with another
                change right now.
        """
        record = self.journal.change(txn)
        devices = set(record.device.split(",")) if record is not None else set()
        undone_by = self.journal.rolled_back_by().get(txn)
        if undone_by:
            raise ChangeError(txn, f"already rolled back by {undone_by}")
        busy = devices & self._busy_devices
        if busy:
            raise ChangeError(
                txn,
                f"{', '.join(sorted(busy))} is busy with another change; retry when it has ended",
            )
        self._busy_devices |= devices
        try:
            result = await rollback_change(
                txn,
                journal=self.journal,
                open_session=self.open_session_by_name,
                settings=self.apply_settings,
                clock=self.clock,
                force=force,
            )
        finally:
            self._busy_devices -= devices
        if result.status is ChangeStatus.CONFIRMED and record is not None:
            # the loop must not simply push the undone change again at the next violation
            self._quarantine(
                record.intent,
                record.change_id,
                f"rolled back by an operator ({result.change_id})",
            )
        # counted apart: 'changes' are what the loop did, by outcome
        self.operator_rollbacks[result.status] += 1
        self.observers.change_finished(result)
        return result

    async def drain(self) -> None:
        """Wait for every change in flight to end (confirmed or rolled back)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---------------------------------------------------------------- summary

    def summary(self) -> dict[str, object]:
        """The state of the controller as plain data (``--output json``)."""
        return {
            "intents": [
                self.statuses[i.name].as_dict()
                if i.name in self.statuses
                else {
                    "name": i.name,
                    "status": FulfilmentStatus.NOT_FULFILLED.value,
                    "state": NotFulfilledState.ACKNOWLEDGED.value,
                    "targets": [],
                }
                for i in self.intents
            ],
            "changes": {
                "confirmed": self.changes[ChangeStatus.CONFIRMED],
                "rolled_back": self.changes[ChangeStatus.ROLLED_BACK],
                "aborted": self.changes[ChangeStatus.ABORTED]
                + self.changes[ChangeStatus.REJECTED_PRECHECK],
                "failed": self.changes[ChangeStatus.FAILED],
                "operator_rollbacks": self.operator_rollbacks[ChangeStatus.CONFIRMED],
            },
            "ticks": self.ticks,
            "anomalies": self.anomaly_count,
        }


def read_quarantine(journal: Journal) -> tuple[dict[str, dict[str, str]], dict[str, Approval]]:
    """The quarantines a journal holds: its ``quarantine`` events less the operators'
    releases after them (in journal order).

    Returns:
        intent -> change id -> why; and the rejected approvals among them, by id (a
        rejection holds the same action back while its quarantine does).
    """
    events = [
        *journal.events(kind=QUARANTINE_EVENT, limit=10_000_000),
        *journal.events(kind=RELEASE_EVENT, limit=10_000_000),
    ]
    held: dict[str, dict[str, str]] = {}
    rejections: dict[str, Approval] = {}
    for event in sorted(events, key=lambda e: e.seq):
        change_id, reason = event.detail.get("change"), event.detail.get("reason")
        if not isinstance(change_id, str) or not isinstance(reason, str):
            log.warning("journal event %d: a %s without its change", event.seq, event.kind)
            continue
        changes = held.setdefault(event.intent, {})
        if event.kind == RELEASE_EVENT:
            changes.pop(change_id, None)
            rejections.pop(change_id, None)
            continue
        changes[change_id] = reason
        approval = _journaled_approval(event.detail.get("approval"))
        if approval is not None:
            rejections[approval.id] = approval
    return {intent: changes for intent, changes in held.items() if changes}, rejections


def _approval_record(approval: Approval) -> dict[str, object]:
    """An approval as the journal keeps it with its quarantine: what ``as_dict`` shows, and
    the plan edit by edit (paths as lists: a list key may hold a "/")."""
    record = approval.as_dict()
    record["changes"] = [change.as_dict() for change in approval.proposed.changes]
    return record


def _journaled_approval(value: object) -> Approval | None:
    """The approval :func:`_approval_record` wrote (None for anything else)."""
    if not isinstance(value, Mapping):
        return None
    try:
        intent = str(value["intent"])
        changes = tuple(ChangeSet.from_dict(c) for c in value["changes"] if isinstance(c, Mapping))
        decided = value.get("decided_at")
        explanation = value.get("explanation")
        return Approval(
            id=str(value["id"]),
            intent=intent,
            change=changes[0],
            summary=str(value["summary"]),
            requested_at=datetime.fromisoformat(str(value["requested_at"])),
            status=ApprovalStatus(value["status"]),
            decided_at=datetime.fromisoformat(decided) if isinstance(decided, str) else None,
            reason=str(value.get("reason") or ""),
            explanation=dict(explanation) if isinstance(explanation, Mapping) else {},
            plan=Plan.make(intent, changes, str(value["summary"])) if len(changes) > 1 else None,
        )
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _quarantine_reason(result: ChangeResult | None) -> str:
    """Why a transaction's change must not be applied again ("" when it may be)."""
    if result is None:
        return "its transaction was cancelled"
    if result.status is ChangeStatus.ROLLED_BACK:
        return "it failed verification and was rolled back"
    if result.status is ChangeStatus.FAILED:
        return "its devices could not be shown to be restored"
    error = result.error
    if result.status is not ChangeStatus.CONFIRMED and error and not error.get("retryable"):
        return f"the device refused it ({error.get('type', 'error')})"
    return ""
