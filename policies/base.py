"""What every policy takes and gives: the world of one tick, candidate actions, proposals.

A policy is a pure function ``propose_<type>(intent, expectation, world) -> Proposal``: the
:class:`World` holds everything the controller knows at one instant (observations, every
intent's status and reconcile state, the loaded what-if twin, the load forecast, the stall
model's answer, the recent history of configuration changes, the guard settings); the
:class:`Proposal` says what the policy concluded, every :class:`Candidate` it considered
with its predicted effect, and the one it prefers. Arbitration across intents
(:mod:`policies.arbitration`) and the guards (:mod:`policies.guards`) then decide what is
applied (:mod:`policies.decide`). Nothing here does IO or reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from controller.model import (
    ChangeSet,
    ConfigEdit,
    ConfigPath,
    Device,
    DeviceConfig,
    Expectation,
    Intent,
    IntentStatus,
    Observation,
    Plan,
    ReconcileState,
)
from policies.twin import Twin, TwinView

__all__ = [
    "ActionKind",
    "Candidate",
    "ChangeMark",
    "ChangeWindows",
    "LoadForecast",
    "PolicySettings",
    "Proposal",
    "StallAnswer",
    "World",
]


class ActionKind(str, Enum):
    """What a candidate action does (the allowed actions of DESIGN §3, per type)."""

    CLASS_PRIORITY = "class-priority"  # e2e-qos, video: lift a class's scheduling level
    SHAPE = "shape"  # e2e-qos: cap competing classes on the bottleneck port
    REROUTE = "reroute"  # e2e-qos, video: change a path metric
    SLEEP = "sleep"  # energy: put links, line cards, carriers to sleep (and wake others)
    WAKE = "wake"  # energy: wake what load or a fault needs
    BOOST = "subscriber-boost"  # video: a per-subscriber guaranteed rate
    UNBOOST = "remove-boost"  # video: take boosts back that are no longer needed


@dataclass(frozen=True, slots=True)
class Candidate:
    """One action a policy considered, with what the twin (or a model) predicts of it.

    Args:
        action: the kind of action.
        description: one line for operators ("raise video priority 0 -> 1 on agg-east").
        edits: per device, the leaf edits (``old`` is what the device must still hold).
        disruption: how much it disturbs (lower first): the number of classes or flows it
            moves or slows, a policy's own scale.
        predicted: the expectation's targets as predicted after the action.
        meets_target: whether the prediction meets the expectation (None: no prediction).
        restorative: it gives capacity back (a wake, a boost removal is not): allowed in a
            freeze window and exempt from the cooldown.
    """

    action: ActionKind
    description: str
    edits: Mapping[str, tuple[ConfigEdit, ...]]
    disruption: float
    predicted: Mapping[str, float] = field(default_factory=dict)
    meets_target: bool | None = None
    restorative: bool = False

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices it changes, sorted."""
        return tuple(sorted(d for d, e in self.edits.items() if e))

    def desired(self, bases: Mapping[str, DeviceConfig]) -> dict[str, DeviceConfig]:
        """Each changed device's configuration after the action.

        Raises:
            ValueError: an edit the configuration model does not have.
        """
        return {
            device: bases.get(device, DeviceConfig()).with_edits(self.edits[device])
            for device in self.devices
        }

    def combined(self, other: Candidate) -> Candidate | None:
        """Both actions in one candidate (not yet predicted), or None when they are of one kind
        or set a leaf in common (the policies try pairs when no single action suffices)."""
        if self.action is other.action:
            return None
        edits: dict[str, tuple[ConfigEdit, ...]] = dict(self.edits)
        for device, more in other.edits.items():
            mine = edits.get(device, ())
            if {e.path for e in mine} & {e.path for e in more}:
                return None
            edits[device] = (*mine, *more)
        return Candidate(
            self.action,
            f"{self.description}; and {other.description}",
            edits,
            disruption=self.disruption + other.disruption,
        )

    def plan(self, intent: str, bases: Mapping[str, DeviceConfig], reason: str) -> Plan:
        """The transaction that carries the action out (ids are content-derived).

        Raises:
            ValueError: the candidate changes nothing.
        """
        return Plan.make(
            intent,
            tuple(
                ChangeSet.make(intent, device, self.edits[device], reason, base=bases.get(device))
                for device in self.devices
            ),
            reason,
        )

    def as_dict(self) -> dict[str, object]:
        """Plain data for the explanation (keys the console knows: ``device``, ``edit``)."""
        edits = [
            f"{device}: {edit.describe()}" if len(self.devices) > 1 else edit.describe()
            for device in self.devices
            for edit in self.edits[device]
        ]
        return {
            "action": self.action.value,
            "device": ",".join(self.devices),
            "edit": "; ".join(edits) if len(edits) <= 4 else f"{len(edits)} edits",
            "description": self.description,
            "disruption": round(self.disruption, 3),
            "predicted": {k: round(v, 6) for k, v in self.predicted.items()},
            "meets_target": self.meets_target,
        }


@dataclass(frozen=True, slots=True)
class Proposal:
    """What one intent's policy concluded in one tick.

    Args:
        intent: the intent.
        expectation: the expectation the proposal serves (None: nothing to serve).
        summary: the conclusion in one line.
        explanation: target, observed KPI, model, version, confidence, bottleneck...
        candidates: every action considered, best first.
        chosen: the action the policy prefers (None: no action).
        urgent: it restores a missed target (as opposed to optimising, e.g. saving energy).
        confidence: how sure the model behind the proposal is (None: no model involved).
    """

    intent: Intent
    expectation: Expectation | None
    summary: str
    explanation: Mapping[str, object] = field(default_factory=dict)
    candidates: tuple[Candidate, ...] = ()
    chosen: Candidate | None = None
    urgent: bool = False
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class LoadForecast:
    """The load forecast a policy plans against: per class, the upper-quantile demand over
    a horizon as a factor on the current estimate (``factors[cls] >= 0``).

    Args:
        horizon: how far ahead the factors look.
        factors: class value (``video``...) -> max upper forecast over the horizon divided
            by the current estimate.
        confidence: the forecaster's confidence (registry ``forecast_confidence``).
        model: the registry's explanation of who forecast (name, version, source...).
        quantile: the forecaster's quantile.
    """

    horizon: timedelta
    factors: Mapping[str, float]
    confidence: float
    model: Mapping[str, object] = field(default_factory=dict)
    quantile: float = 0.95


@dataclass(frozen=True, slots=True)
class StallAnswer:
    """The stall model's answer for every observed subscriber of one tick.

    Args:
        probabilities: subscriber id -> probability it stalls (calibrated).
        nodes: subscriber id -> access node.
        model: the registry's explanation (name, kind, source, version, baseline, reason).
        source: ``model`` or ``rule-baseline``.
        rule_confidence: the confidence given to the rule baseline's answers.
        boost_probabilities: subscriber id -> probability with the boost rate applied (the
            model's own counterfactual: the same features with the boosted throughput).
    """

    probabilities: Mapping[str, float]
    nodes: Mapping[str, str]
    model: Mapping[str, object]
    source: str = "model"
    rule_confidence: float = 0.5
    boost_probabilities: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChangeWindows:
    """Controller-level change windows (controller time, daily ``HH:MM-HH:MM``).

    Args:
        freeze: no change but a restorative one inside these.
        maintenance: when any is given, optimising changes (energy sleep, boost removal)
            happen only inside them; changes that restore a missed target happen anytime
            outside a freeze.
    """

    freeze: tuple[tuple[int, int], ...] = ()
    maintenance: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def _inside(windows: tuple[tuple[int, int], ...], at: datetime) -> bool:
        minute = at.hour * 60 + at.minute
        for start, end in windows:
            if (start <= minute < end) if start < end else (minute >= start or minute < end):
                return True
        return False

    def frozen(self, at: datetime) -> bool:
        """Whether ``at`` falls in a freeze window."""
        return self._inside(self.freeze, at)

    def in_maintenance(self, at: datetime) -> bool:
        """Whether optimising changes may happen at ``at``."""
        return not self.maintenance or self._inside(self.maintenance, at)


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """Tunables of the decision logic (the guards' limits come from each intent).

    Args:
        violation_ticks: consecutive violated evaluations (or ticks the same optimising plan
            stood) before acting.
        min_confidence: below this model confidence a policy recommends instead of acting.
        max_changes_per_device_per_hour: per device, across intents.
        boost_mbps: the guaranteed rate of a video subscriber boost.
        max_boosts_per_change: subscribers one boost change may touch.
        boost_hold: a boost stays at least this long before it may be removed.
        stall_probability: a subscriber with at least this stall probability is stalling.
        min_saving_w: an energy plan that saves less than this (net) is not worth a change.
        min_headroom: the share of a target's bound a QoS prediction must keep in reserve.
        act_on_prediction: a restoring plan backed by a trained model's confident prediction
            that its target is missed (a video-experience proposal whose stall answer comes
            from a trained model, not the rule baseline, with confidence at or above
            ``min_confidence``, the node's predicted stall ratio over the target, and the
            network's measurements corroborating it: ``ModelPrediction.evidence``) acts on
            the first violated tick: the hysteresis, which guards against acting on one noisy
            measured sample, is bypassed and the explanation says so. False: such a plan
            waits for ``violation_ticks`` of measured confirmation like every other one.
    """

    violation_ticks: int = 2
    min_confidence: float = 0.8
    max_changes_per_device_per_hour: int = 12
    boost_mbps: int = 6
    max_boosts_per_change: int = 24
    boost_hold: timedelta = timedelta(minutes=30)
    stall_probability: float = 0.5
    min_saving_w: float = 40.0
    min_headroom: float = 0.1
    act_on_prediction: bool = True


@dataclass(frozen=True, slots=True)
class ChangeMark:
    """The last confirmed change of one configuration leaf."""

    value: str | None
    at: datetime
    intent: str


@dataclass(frozen=True, slots=True)
class World:
    """Everything the controller knows at one tick, as the policies see it.

    Args:
        now: the tick's time.
        devices: the inventory.
        observations: the latest observation per device.
        intents: the active intents.
        statuses: this tick's status per intent.
        states: the reconcile state per intent.
        twin: the what-if twin (None without a topology: policies act without prediction).
        view: the twin loaded with this tick's observations.
        forecast: the load forecast (None without a forecaster).
        stall: the stall model's answer (None without subscribers or a model).
        history: (device, leaf path) -> its last confirmed change.
        device_changes: device -> when changes to it were committed (the last hour or so).
        windows: freeze and maintenance windows.
        settings: the decision logic's tunables.
    """

    now: datetime
    devices: Mapping[str, Device]
    observations: Mapping[str, Observation]
    intents: tuple[Intent, ...] = ()
    statuses: Mapping[str, IntentStatus] = field(default_factory=dict)
    states: Mapping[str, ReconcileState] = field(default_factory=dict)
    twin: Twin | None = None
    view: TwinView | None = None
    forecast: LoadForecast | None = None
    stall: StallAnswer | None = None
    history: Mapping[tuple[str, ConfigPath], ChangeMark] = field(default_factory=dict)
    device_changes: Mapping[str, tuple[datetime, ...]] = field(default_factory=dict)
    windows: ChangeWindows = field(default_factory=ChangeWindows)
    settings: PolicySettings = field(default_factory=PolicySettings)

    def state(self, intent: str) -> ReconcileState:
        """The reconcile state of ``intent`` (fresh if unknown)."""
        return self.states.get(intent) or ReconcileState()

    def bases(self) -> dict[str, DeviceConfig]:
        """The sensed running configuration of every device that has one."""
        return {n: o.config for n, o in self.observations.items() if o.config is not None}

    def selected(self, expectation: Expectation) -> tuple[str, ...]:
        """The devices an expectation's objects select (sorted)."""
        return tuple(sorted(n for n, d in self.devices.items() if expectation.objects.selects(d)))
