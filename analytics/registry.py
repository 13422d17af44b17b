"""The model lifecycle, as pure data and functions: versions, shadowing, monitoring, fallback.

It follows the AI/ML functional framework 3GPP defines for networks (TS 28.105): data
collection and **training** produce a versioned :class:`ModelArtifact` (the model as plain
JSON, its features, training window and validation metrics); **management** keeps, per
model name, a :class:`ModelRecord`: the champion serving inference, at most one challenger
running in shadow on the same live samples, a bounded event history; **monitoring**
accumulates each model's live error (and feature drift) in a :class:`MonitorState`;
:func:`assess` and :func:`apply_health` fall back to a rule baseline when the champion
degrades and come back when it recovers; :func:`decide_promotion` promotes the challenger
only on a measured gain. :func:`active_model` and :func:`explanation` tell a policy which
model (or rule) answered, in which version, and how sure it is.

Nothing here does IO or reads a clock: the store is controller/models_store.py, and every
function that records an event takes ``now``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from analytics._params import Model
from analytics.anomaly import (
    AlertSuppressor,
    Cusum,
    Dspot,
    KpiAnomalyDetector,
    PageHinkley,
    RobustZScore,
    Spot,
    TailCalibrator,
)
from analytics.cad import ContextualAnomalyDetector
from analytics.forecast import EwmaForecaster, HoltWinters, QuantileForecaster, SeasonalNaive
from analytics.stall import LogisticRegression, RateRule, StallClassifier

__all__ = [
    "MODEL_CLASSES",
    "ActiveModel",
    "EventKind",
    "Health",
    "HealthRule",
    "ModelArtifact",
    "ModelEvent",
    "ModelKind",
    "ModelRecord",
    "ModelSource",
    "ModelStatus",
    "MonitorState",
    "PromotionDecision",
    "PromotionRule",
    "ShadowComparison",
    "TrainingWindow",
    "active_model",
    "apply_health",
    "assess",
    "classifier_confidence",
    "decide_first_champion",
    "decide_promotion",
    "decide_version_promotion",
    "detection_confidence",
    "drift_score",
    "explanation",
    "forecast_confidence",
    "load_model",
    "observe",
    "promote",
    "refuse_promotion",
    "register",
    "shadow_comparison",
    "training_due",
]

# The model classes an artifact may name: a fixed table, so loading an artifact can only
# ever build one of these (no import by name from a file's content).
MODEL_CLASSES: Mapping[str, type[Model]] = {
    cls.__name__: cls
    for cls in (
        AlertSuppressor,
        ContextualAnomalyDetector,
        Cusum,
        Dspot,
        EwmaForecaster,
        HoltWinters,
        KpiAnomalyDetector,
        LogisticRegression,
        PageHinkley,
        QuantileForecaster,
        RateRule,
        RobustZScore,
        SeasonalNaive,
        Spot,
        StallClassifier,
        TailCalibrator,
    )
}

_MAX_EVENTS = 50


class ModelKind(str, Enum):
    """What a model does, which fixes its metric and its rule baseline."""

    LOAD_FORECAST = "load-forecast"
    KPI_ANOMALY = "kpi-anomaly"
    STALL = "stall"

    @property
    def baseline(self) -> str:
        """The rule the controller falls back to when this kind of model degrades."""
        return {
            ModelKind.LOAD_FORECAST: "seasonal-naive",
            ModelKind.KPI_ANOMALY: "static-threshold",
            ModelKind.STALL: "throughput-rule",
        }[self]

    @property
    def metric(self) -> str:
        """The validation metric two versions are compared on."""
        return {
            ModelKind.LOAD_FORECAST: "mape",
            ModelKind.KPI_ANOMALY: "alarm_rate",
            ModelKind.STALL: "f1",
        }[self]

    @property
    def baseline_metric(self) -> str | None:
        """The rule baseline's :attr:`metric`, as training measures it on the same data.

        None for ``kpi-anomaly``: its telemetry carries no labels, so neither the detector
        nor the static threshold has an error to compare (its metric is an alarm rate).
        """
        return {
            ModelKind.LOAD_FORECAST: "seasonal_naive_mape",
            ModelKind.KPI_ANOMALY: None,
            ModelKind.STALL: "baseline_f1",
        }[self]

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger :attr:`metric` is better."""
        return self is ModelKind.STALL


class ModelStatus(str, Enum):
    """Who answers for a model name: the champion, or the rule baseline."""

    ACTIVE = "active"
    FALLBACK = "fallback"


class ModelSource(str, Enum):
    """Where an answer came from, for the decision explanation."""

    MODEL = "model"
    RULE_BASELINE = "rule-baseline"


class EventKind(str, Enum):
    """Lifecycle events kept in a record's history."""

    REGISTERED = "registered"
    CHALLENGER = "challenger"
    PROMOTED = "promoted"
    PROMOTION_REFUSED = "promotion-refused"
    FALLBACK = "fallback"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class TrainingWindow:
    """The data a version was trained on."""

    start: datetime | None
    end: datetime | None
    samples: int

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "samples": self.samples,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TrainingWindow:
        """The inverse of :meth:`as_dict`."""
        return cls(
            start=_datetime(data.get("start")),
            end=_datetime(data.get("end")),
            samples=int(str(data.get("samples", 0))),
        )


def _datetime(value: object) -> datetime | None:
    return None if value in (None, "") else datetime.fromisoformat(str(value))


def _object(data: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} must be an object")
    return value


def _list(data: Mapping[str, object], key: str) -> list[object]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list")
    return value


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """One trained version of a model, as saved in the registry.

    Args:
        name: the model's name in the registry (e.g. ``edge-load``).
        version: 1, 2, ... per name.
        kind: what the model does.
        model: the fitted model, as ``Model.to_dict()`` (plain JSON, never pickle).
        features: the inputs it was trained on, in order.
        training_window: the data it was trained on.
        metrics: validation metrics (``kind.metric`` among them, plus ``reference_error``:
            the error level monitoring compares live errors against).
        created_at: when it was trained.
    """

    name: str
    version: int
    kind: ModelKind
    model: Mapping[str, object]
    features: tuple[str, ...]
    training_window: TrainingWindow
    metrics: Mapping[str, float]
    created_at: datetime

    @property
    def model_type(self) -> str:
        """The model's class name."""
        return str(self.model.get("model", "?"))

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind.value,
            "model_type": self.model_type,
            "features": list(self.features),
            "training_window": self.training_window.as_dict(),
            "metrics": dict(self.metrics),
            "created_at": self.created_at.isoformat(),
            "model": dict(self.model),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelArtifact:
        """The inverse of :meth:`as_dict`.

        Raises:
            ValueError: a field is missing or malformed.
        """
        try:
            return cls(
                name=str(data["name"]),
                version=int(str(data["version"])),
                kind=ModelKind(str(data["kind"])),
                model=dict(_object(data, "model")),
                features=tuple(str(f) for f in _list(data, "features")),
                training_window=TrainingWindow.from_dict(_object(data, "training_window")),
                metrics={str(k): float(str(v)) for k, v in _object(data, "metrics").items()},
                created_at=datetime.fromisoformat(str(data["created_at"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed model artifact: {exc}") from exc


def load_model(artifact: ModelArtifact) -> Model:
    """Rebuild the fitted model of an artifact.

    Raises:
        ValueError: the artifact names a class that is not an analytics model.
    """
    cls = MODEL_CLASSES.get(artifact.model_type)
    if cls is None:
        raise ValueError(f"unknown model type {artifact.model_type!r}")
    return cls.from_dict(artifact.model)


@dataclass(frozen=True, slots=True)
class MonitorState:
    """Online monitoring of one model: exponentially weighted live error and drift.

    ``error`` is the EWMA of the model's error on live samples, ``baseline_error`` that of
    the rule baseline on the same samples (so "worse than the rule" is measured, not
    assumed), ``drift`` the EWMA of the inputs' standardised distance from the training
    data.
    """

    samples: int = 0
    error: float = 0.0
    baseline_error: float | None = None
    drift: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "samples": self.samples,
            "error": self.error,
            "baseline_error": self.baseline_error,
            "drift": self.drift,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MonitorState:
        """The inverse of :meth:`as_dict`."""
        baseline = data.get("baseline_error")
        return cls(
            samples=int(str(data.get("samples", 0))),
            error=float(str(data.get("error", 0.0))),
            baseline_error=None if baseline is None else float(str(baseline)),
            drift=float(str(data.get("drift", 0.0))),
        )


def observe(
    state: MonitorState,
    *,
    error: float,
    baseline_error: float | None = None,
    drift: float | None = None,
    half_life: float = 50.0,
) -> MonitorState:
    """Fold one live sample's error (and the baseline's, and the drift) into the monitor.

    Args:
        state: the monitor so far.
        error: the model's error on the sample (same unit as ``reference_error``).
        baseline_error: the rule baseline's error on the same sample, if computed.
        drift: the standardised distance of the sample's inputs from the training data.
        half_life: samples after which an observation weighs half.

    Returns:
        The new monitor state.
    """
    weight = 1.0 - math.pow(0.5, 1.0 / half_life)
    if state.samples == 0:
        weight = 1.0

    def blend(old: float, new: float) -> float:
        return old + weight * (new - old)

    baseline = state.baseline_error
    if baseline_error is not None:
        baseline = baseline_error if baseline is None else blend(baseline, baseline_error)
    return MonitorState(
        samples=state.samples + 1,
        error=blend(state.error, error),
        baseline_error=baseline,
        drift=state.drift if drift is None else blend(state.drift, drift),
    )


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """One entry of a model's lifecycle history."""

    at: datetime
    kind: EventKind
    version: int | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind.value,
            "version": self.version,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelEvent:
        """The inverse of :meth:`as_dict`."""
        at = _datetime(data.get("at"))
        if at is None:
            raise ValueError("event without a time")
        version = data.get("version")
        return cls(
            at=at,
            kind=EventKind(str(data.get("kind"))),
            version=None if version is None else int(str(version)),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """The registry's state for one model name.

    Args:
        name: the model's name.
        kind: what it does.
        champion: the version serving inference (None before the first one).
        challenger: the version running in shadow, if any.
        status: ``active`` (the champion answers) or ``fallback`` (the rule baseline does).
        reason: why the status is what it is.
        monitor: the champion's live monitoring.
        challenger_monitor: the challenger's, on the same samples, with the rule baseline's
            error on them (without a champion, what the challenger is measured against).
        events: the latest lifecycle events, oldest first.
        last_trained: when the latest version was trained.
    """

    name: str
    kind: ModelKind
    champion: int | None = None
    challenger: int | None = None
    status: ModelStatus = ModelStatus.ACTIVE
    reason: str = ""
    monitor: MonitorState = field(default_factory=MonitorState)
    challenger_monitor: MonitorState = field(default_factory=MonitorState)
    events: tuple[ModelEvent, ...] = ()
    last_trained: datetime | None = None

    def with_event(self, event: ModelEvent) -> ModelRecord:
        """The record with one more event (the history is bounded)."""
        return replace(self, events=(*self.events, event)[-_MAX_EVENTS:])

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "champion": self.champion,
            "challenger": self.challenger,
            "status": self.status.value,
            "reason": self.reason,
            "baseline": self.kind.baseline,
            "monitor": self.monitor.as_dict(),
            "challenger_monitor": self.challenger_monitor.as_dict(),
            "events": [e.as_dict() for e in self.events],
            "last_trained": None if self.last_trained is None else self.last_trained.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelRecord:
        """The inverse of :meth:`as_dict`.

        Raises:
            ValueError: a field is missing or malformed.
        """
        try:
            monitor = _object(data, "monitor")
            shadow = _object(data, "challenger_monitor")
            events = _list(data, "events")
            champion, challenger = data.get("champion"), data.get("challenger")
            return cls(
                name=str(data["name"]),
                kind=ModelKind(str(data["kind"])),
                champion=None if champion is None else int(str(champion)),
                challenger=None if challenger is None else int(str(challenger)),
                status=ModelStatus(str(data.get("status", "active"))),
                reason=str(data.get("reason", "")),
                monitor=MonitorState.from_dict(monitor),
                challenger_monitor=MonitorState.from_dict(shadow),
                events=tuple(ModelEvent.from_dict(e) for e in events if isinstance(e, Mapping)),
                last_trained=_datetime(data.get("last_trained")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed model record: {exc}") from exc


def register(record: ModelRecord | None, artifact: ModelArtifact, *, now: datetime) -> ModelRecord:
    """Add a trained version: a challenger to the champion, or to the rule while none.

    With a champion, the version becomes the challenger: it replaces the previous one and
    starts its shadow monitoring afresh. Without one (the model's first version, or every
    version until one beats the rule), the incumbent is the rule baseline: the version
    becomes the champion only when :func:`decide_first_champion` finds it better than the
    rule on the same validation data; otherwise it is registered as the challenger, the
    status is ``fallback`` (the rule answers) and the reason says why. The operator's
    override is :func:`promote` (``netpilot models promote --force``).

    Raises:
        ValueError: the artifact is for another model name or kind.
    """
    if record is None:
        record = ModelRecord(name=artifact.name, kind=artifact.kind)
    if artifact.name != record.name or artifact.kind is not record.kind:
        raise ValueError(
            f"artifact {artifact.name} ({artifact.kind.value}) does not belong to "
            f"{record.name} ({record.kind.value})"
        )
    if record.champion is None:
        decision = decide_first_champion(artifact)
        if decision.promote:
            updated = replace(
                record,
                champion=artifact.version,
                challenger=None,
                status=ModelStatus.ACTIVE,
                reason=f"first version: {decision.reason}",
                monitor=MonitorState(),
                challenger_monitor=MonitorState(),
                last_trained=artifact.created_at,
            )
            return updated.with_event(
                ModelEvent(
                    now, EventKind.REGISTERED, artifact.version, f"champion: {decision.reason}"
                )
            )
        reason = f"v{artifact.version} is not the champion: {decision.reason}"
        updated = replace(
            record,
            challenger=artifact.version,
            status=ModelStatus.FALLBACK,
            reason=reason,
            challenger_monitor=MonitorState(),
            last_trained=artifact.created_at,
        )
        return updated.with_event(
            ModelEvent(now, EventKind.PROMOTION_REFUSED, artifact.version, reason)
        )
    updated = replace(
        record,
        challenger=artifact.version,
        challenger_monitor=MonitorState(),
        last_trained=artifact.created_at,
    )
    return updated.with_event(
        ModelEvent(now, EventKind.CHALLENGER, artifact.version, "runs in shadow of the champion")
    )


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    """The challenger's live error in shadow beside the incumbent's, on the same samples.

    Args:
        version: the challenger's version.
        incumbent: what the challenger would replace: ``champion v<n>``, or without a
            champion ``the <baseline> rule``.
        samples: the live samples the comparison rests on (the fewer of the two monitors').
        challenger_error: the challenger's live error (EWMA).
        incumbent_error: the champion's live error, or the rule baseline's on the
            challenger's samples.
        gain: the relative error reduction, ``(incumbent - challenger) / incumbent`` (0
            when the incumbent's error is 0: nothing to reduce).
    """

    version: int
    incumbent: str
    samples: int
    challenger_error: float
    incumbent_error: float
    gain: float

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "version": self.version,
            "incumbent": self.incumbent,
            "samples": self.samples,
            "challenger_error": self.challenger_error,
            "incumbent_error": self.incumbent_error,
            "gain": self.gain,
        }


def shadow_comparison(record: ModelRecord) -> ShadowComparison | None:
    """How the challenger fares in shadow against what answers without it.

    With a champion, against the champion's live error. Without one the rule baseline
    answers, and the challenger's monitor holds the rule's error on the same samples
    (``baseline_error``), so the challenger is measured against the rule.

    Returns:
        None without a challenger, before it has a monitored sample, or when the
        incumbent's error was not measured (a ``kpi-anomaly`` model without a champion: its
        rule has no error on unlabelled telemetry).
    """
    shadow = record.challenger_monitor
    if record.challenger is None or shadow.samples == 0:
        return None
    if record.champion is not None:
        if record.monitor.samples == 0:
            return None
        samples = min(record.monitor.samples, shadow.samples)
        incumbent_error = record.monitor.error
    elif shadow.baseline_error is not None:
        samples = shadow.samples
        incumbent_error = shadow.baseline_error
    else:
        return None
    gain = (incumbent_error - shadow.error) / incumbent_error if incumbent_error > 0 else 0.0
    return ShadowComparison(
        record.challenger, _incumbent(record), samples, shadow.error, incumbent_error, gain
    )


def _incumbent(record: ModelRecord) -> str:
    """What a challenger would replace: the champion, or without one the rule baseline."""
    if record.champion is None:
        return f"the {record.kind.baseline} rule"
    return f"champion v{record.champion}"


@dataclass(frozen=True, slots=True)
class PromotionRule:
    """When a challenger may replace the champion.

    Args:
        min_samples: live samples both must have been monitored on (shadow evidence).
        min_gain: relative error reduction required, e.g. 0.05 for 5 %.
    """

    min_samples: int = 100
    min_gain: float = 0.05


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    """Whether to promote, and the evidence."""

    promote: bool
    reason: str
    evidence: str  # "shadow" (live errors) or "validation" (artifact metrics) or "none"
    champion_score: float | None = None
    challenger_score: float | None = None
    gain: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "evidence": self.evidence,
            "champion_score": self.champion_score,
            "challenger_score": self.challenger_score,
            "gain": self.gain,
        }


def decide_first_champion(artifact: ModelArtifact) -> PromotionDecision:
    """Whether a version may replace the rule baseline (there is no champion yet).

    Only when its validation metric beats the rule's measured on the same data (the
    trainers record both: ``mape`` beside ``seasonal_naive_mape``, ``f1`` beside
    ``baseline_f1``). A model no better than the rule would add risk, not accuracy. A
    missing or non-finite score is no evidence, so the rule stays. A ``kpi-anomaly``
    detector has no rule score to beat (unlabelled telemetry), so it is accepted, and the
    reason says on what grounds.

    Returns:
        The decision; ``champion_score`` is the rule's error, ``challenger_score`` the
        version's (for ``f1``, the shortfall from a perfect score).
    """
    return _against_rule(artifact.kind, artifact.metrics)


def _against_rule(kind: ModelKind, metrics: Mapping[str, float]) -> PromotionDecision:
    rule, metric, rule_metric = kind.baseline, kind.metric, kind.baseline_metric
    if rule_metric is None:
        return PromotionDecision(
            True,
            f"a {kind.value} model has no labelled data to score the {rule} rule on; "
            "the first version answers",
            "none",
        )
    model_score, rule_score = metrics.get(metric), metrics.get(rule_metric)
    if (
        model_score is None
        or rule_score is None
        or not math.isfinite(model_score)
        or not math.isfinite(rule_score)
    ):
        return PromotionDecision(
            False,
            f"no finite {metric} and {rule_metric} measured on the same data, so no "
            f"evidence it beats the {rule} rule; the rule answers",
            "none",
        )
    model_error, rule_error = model_score, rule_score
    if kind.higher_is_better:
        # compare the shortfalls from a perfect score, so a gain is an error reduction
        model_error, rule_error = 1.0 - model_score, 1.0 - rule_score
    gain = (rule_error - model_error) / rule_error if rule_error > 0 else 0.0
    beats = model_error < rule_error
    label = (
        f"validation {metric} {model_score:.4g} vs the {rule} rule's {rule_score:.4g} "
        "on the same data"
    )
    verdict = "beats the rule" if beats else "does not beat the rule, which answers"
    return PromotionDecision(
        beats, f"{label}: {verdict}", "validation", rule_error, model_error, gain
    )


def decide_promotion(
    record: ModelRecord,
    rule: PromotionRule,
    *,
    champion_metrics: Mapping[str, float] | None = None,
    challenger_metrics: Mapping[str, float] | None = None,
) -> PromotionDecision:
    """Promote the challenger only on a measured gain.

    The evidence is the shadow run -- both models' live errors on the same samples -- once
    both have ``rule.min_samples``; before that, the two artifacts' validation metrics
    (``kind.metric``) if both were validated on comparable data.

    Without a champion the rule baseline is the incumbent. The shadow run then measured
    the challenger against the rule's live error on the same samples (see
    :func:`shadow_comparison`): with ``rule.min_samples`` of them, that decides, with the
    same ``rule.min_gain`` as against a champion. Before that, the challenger is judged by
    :func:`decide_first_champion` semantics on ``challenger_metrics`` (it must beat the rule
    measured on the same data; ``rule.min_gain`` does not apply).

    Returns:
        The decision (never promotes without evidence).
    """
    if record.challenger is None:
        return PromotionDecision(False, "no challenger to promote", "none")
    shadow = shadow_comparison(record)
    shadow_ready = 0 if shadow is None else shadow.samples
    if shadow is not None and shadow_ready >= rule.min_samples:
        champion, challenger, gain = shadow.incumbent_error, shadow.challenger_error, shadow.gain
        evidence = "shadow"
        label = (
            f"live error {challenger:.4g} vs {shadow.incumbent}'s {champion:.4g} "
            f"on {shadow_ready} samples"
        )
    elif record.champion is None:
        if challenger_metrics is None:
            return PromotionDecision(False, "no challenger metrics to compare", "none")
        return _against_rule(record.kind, challenger_metrics)
    elif champion_metrics is not None and challenger_metrics is not None:
        metric = record.kind.metric
        if metric not in champion_metrics or metric not in challenger_metrics:
            return PromotionDecision(False, f"no {metric} to compare", "none")
        champion, challenger = champion_metrics[metric], challenger_metrics[metric]
        if record.kind.higher_is_better:
            # compare the shortfalls from a perfect score, so a gain is an error reduction
            champion, challenger = 1.0 - champion, 1.0 - challenger
        gain = (champion - challenger) / champion if champion > 0 else 0.0
        evidence = "validation"
        label = (
            f"validation {metric}: v{record.challenger} vs champion v{record.champion}, "
            f"error {challenger:.4g} vs {champion:.4g}"
        )
    else:
        return PromotionDecision(
            False,
            f"not enough shadow evidence ({shadow_ready} of {rule.min_samples} samples)",
            "none",
        )
    promote = gain >= rule.min_gain
    verdict = "promote" if promote else f"keep {_incumbent(record)}"
    return PromotionDecision(
        promote,
        f"{label}: gain {gain:.1%} (needs {rule.min_gain:.0%}): {verdict}",
        evidence,
        champion,
        challenger,
        gain,
    )


def decide_version_promotion(
    record: ModelRecord,
    version: int,
    rule: PromotionRule,
    *,
    champion_metrics: Mapping[str, float] | None = None,
    version_metrics: Mapping[str, float] | None = None,
) -> PromotionDecision:
    """Promote ``version``, the challenger or another stored version, only on its evidence.

    The challenger is judged by :func:`decide_promotion`. Another version (an older one an
    operator names, e.g. to go back to it) has run in no shadow: only the challenger does,
    and registering it as one would replace the challenger and restart its shadow run. So
    its evidence is what :func:`decide_promotion` takes from a challenger before its shadow
    run has ``rule.min_samples``: its validation metric against the champion's (with
    ``rule.min_gain``) or, without a champion, against the rule's measured on the same data.
    The reason says it is not the challenger.

    Args:
        record: the model's record (not changed).
        version: the version to promote.
        rule: the promotion rule.
        champion_metrics: the champion artifact's metrics, if there is a champion.
        version_metrics: ``version``'s artifact's metrics.

    Returns:
        The decision; never to promote the champion itself.
    """
    if version == record.champion:
        return PromotionDecision(False, f"v{version} is already the champion", "none")
    if version == record.challenger:
        return decide_promotion(
            record, rule, champion_metrics=champion_metrics, challenger_metrics=version_metrics
        )
    # judged as a challenger with no shadow sample would be; the record is left as it is
    candidate = replace(record, challenger=version, challenger_monitor=MonitorState())
    decision = decide_promotion(
        candidate, rule, champion_metrics=champion_metrics, challenger_metrics=version_metrics
    )
    challenger = "none is" if record.challenger is None else f"v{record.challenger} is"
    return replace(
        decision,
        reason=f"v{version} is not the challenger ({challenger}), so no shadow run measured "
        f"it: {decision.reason}",
    )


def promote(
    record: ModelRecord, *, now: datetime, reason: str, version: int | None = None
) -> ModelRecord:
    """Make the challenger, or another stored ``version``, the champion.

    The challenger's shadow monitoring carries over. Another version (e.g. a rollback to an
    older one) starts its monitoring afresh; the challenger, if any, stays, and its shadow
    run restarts against the new champion (the one it had been measured against is gone).

    Raises:
        ValueError: no version given and no challenger, or the version is the champion.
    """
    version = record.challenger if version is None else version
    if version is None:
        raise ValueError(f"{record.name} has no challenger")
    if version == record.champion:
        raise ValueError(f"{record.name} v{version} is already the champion")
    if version == record.challenger:
        updated = replace(
            record,
            champion=version,
            challenger=None,
            status=ModelStatus.ACTIVE,
            reason=f"version {version} promoted",
            monitor=record.challenger_monitor,
            challenger_monitor=MonitorState(),
        )
    else:
        updated = replace(
            record,
            champion=version,
            status=ModelStatus.ACTIVE,
            reason=f"version {version} promoted",
            monitor=MonitorState(),
            challenger_monitor=MonitorState(),
        )
    return updated.with_event(ModelEvent(now, EventKind.PROMOTED, version, reason))


def refuse_promotion(
    record: ModelRecord, version: int, *, now: datetime, reason: str
) -> ModelRecord:
    """Record that ``version`` was not promoted, and why; nothing else changes.

    The champion, the challenger, their monitoring, the status and its reason stay as they
    were: a refusal is history, not a transition.
    """
    return record.with_event(ModelEvent(now, EventKind.PROMOTION_REFUSED, version, reason))


@dataclass(frozen=True, slots=True)
class HealthRule:
    """When a champion counts as degraded (and when it has recovered).

    Args:
        min_samples: live samples before any judgement.
        max_error_ratio: degraded when the live error exceeds the validation
            ``reference_error`` by this factor.
        max_baseline_ratio: degraded when the live error exceeds the rule baseline's live
            error by this factor.
        max_drift: degraded when the inputs drift this many standard deviations.
        recovery: a degraded model recovers when every ratio is back under this share of
            its limit (hysteresis: no flapping between model and rule).
    """

    min_samples: int = 50
    max_error_ratio: float = 2.0
    max_baseline_ratio: float = 1.1
    max_drift: float = 4.0
    recovery: float = 0.9


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict of :func:`assess`."""

    degraded: bool
    reason: str


def assess(record: ModelRecord, reference_error: float | None, rule: HealthRule) -> Health:
    """Is the champion degraded? From its live monitoring, against its validation error.

    Args:
        record: the model's record.
        reference_error: the champion artifact's ``metrics["reference_error"]``.
        rule: the limits.

    Returns:
        The verdict and its reason (the reason names the measured ratio). Without a
        champion nothing is judged: the rule answers until a version is promoted.
    """
    if record.champion is None:
        return Health(False, f"no champion: the {record.kind.baseline} rule answers")
    monitor = record.monitor
    if monitor.samples < rule.min_samples:
        return Health(False, f"monitoring: {monitor.samples} of {rule.min_samples} samples")
    # a model that is already in fallback must clear the limits with a margin to come back
    scale = rule.recovery if record.status is ModelStatus.FALLBACK else 1.0
    if reference_error is not None and reference_error > 0:
        ratio = monitor.error / reference_error
        if ratio > rule.max_error_ratio * scale:
            return Health(
                True,
                f"live error {monitor.error:.4g} is {ratio:.1f}x the validation error "
                f"{reference_error:.4g} (limit {rule.max_error_ratio:g}x)",
            )
    if monitor.baseline_error is not None and monitor.baseline_error > 0:
        ratio = monitor.error / monitor.baseline_error
        if ratio > rule.max_baseline_ratio * scale:
            return Health(
                True,
                f"live error {monitor.error:.4g} is worse than the {record.kind.baseline} "
                f"rule's {monitor.baseline_error:.4g}",
            )
    if monitor.drift > rule.max_drift * scale:
        return Health(
            True,
            f"inputs drifted {monitor.drift:.1f} sigma from training (limit {rule.max_drift:g})",
        )
    return Health(False, "within limits")


def apply_health(record: ModelRecord, health: Health, *, now: datetime) -> ModelRecord:
    """Switch to the rule baseline when degraded, back to the champion when recovered.

    Returns:
        The record, with a ``fallback`` or ``recovered`` event when the status changed; a
        record without a champion unchanged (there is no model to fall back from or recover
        to: its ``fallback`` says the rule answers until a version is promoted).
    """
    if record.champion is None:
        return record
    if health.degraded and record.status is ModelStatus.ACTIVE:
        updated = replace(record, status=ModelStatus.FALLBACK, reason=health.reason)
        return updated.with_event(
            ModelEvent(
                now,
                EventKind.FALLBACK,
                record.champion,
                f"{health.reason}; {record.kind.baseline} rule answers instead",
            )
        )
    if not health.degraded and record.status is ModelStatus.FALLBACK:
        updated = replace(record, status=ModelStatus.ACTIVE, reason=f"recovered: {health.reason}")
        return updated.with_event(
            ModelEvent(now, EventKind.RECOVERED, record.champion, health.reason)
        )
    return record


def training_due(record: ModelRecord | None, *, now: datetime, every: timedelta) -> bool:
    """Whether scheduled training should produce a new version now."""
    if record is None or record.last_trained is None:
        return True
    return now - record.last_trained >= every


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """Who answered for a model name, in which version, and how sure the answer is.

    Args:
        name: the model's name.
        kind: what it does.
        source: the champion model, or the rule baseline.
        version: the champion's version (None when the rule answered).
        baseline: the rule baseline's name.
        confidence: in [0, 1]; a policy acts automatically only above its own limit.
        reason: why this source answers (e.g. the fallback reason).
    """

    name: str
    kind: ModelKind
    source: ModelSource
    version: int | None
    baseline: str
    confidence: float
    reason: str


def active_model(
    record: ModelRecord, *, model_confidence: float, rule_confidence: float = 0.5
) -> ActiveModel:
    """Which source answers now for a model name, and with what confidence.

    Args:
        record: the model's record.
        model_confidence: the champion's confidence in its current answer (e.g.
            ``max(p, 1 - p)`` for a calibrated classifier's probability ``p``).
        rule_confidence: the confidence given to the rule baseline's answers.

    Returns:
        The champion when it is active and exists; otherwise the rule baseline.
    """
    if record.champion is not None and record.status is ModelStatus.ACTIVE:
        confidence = min(max(model_confidence, 0.0), 1.0)
        return ActiveModel(
            record.name,
            record.kind,
            ModelSource.MODEL,
            record.champion,
            record.kind.baseline,
            confidence if math.isfinite(confidence) else 0.0,
            record.reason or "champion",
        )
    # without a champion the record's reason says why (e.g. no version beat the rule yet)
    reason = record.reason or ("no trained version yet" if record.champion is None else "")
    return ActiveModel(
        record.name,
        record.kind,
        ModelSource.RULE_BASELINE,
        None,
        record.kind.baseline,
        rule_confidence,
        reason,
    )


def explanation(active: ActiveModel) -> dict[str, object]:
    """The model part of a decision's explanation (``Decision.explanation["model"]``).

    Example::

        {"name": "edge-load", "kind": "load-forecast", "source": "model", "version": 3,
         "confidence": 0.93, "baseline": "seasonal-naive", "reason": "champion"}
    """
    return {
        "name": active.name,
        "kind": active.kind.value,
        "source": active.source.value,
        "version": active.version,
        "confidence": round(active.confidence, 4),
        "baseline": active.baseline,
        "reason": active.reason,
    }


def classifier_confidence(probability: float) -> float:
    """Confidence of a calibrated binary prediction: ``max(p, 1 - p)``."""
    return max(probability, 1.0 - probability)


def forecast_confidence(monitor: MonitorState, tolerance: float) -> float:
    """Confidence of a forecaster: 1 minus its live relative error over a tolerance.

    Args:
        monitor: the forecaster's monitoring (error as a relative error).
        tolerance: the relative error at which the confidence reaches 0.
    """
    if monitor.samples == 0 or tolerance <= 0:
        return 0.0
    return max(0.0, 1.0 - monitor.error / tolerance)


def detection_confidence(surprise: float) -> float:
    """Confidence that an alarm is not chance: ``1 - 10^-surprise``."""
    return 1.0 - math.pow(10.0, -max(surprise, 0.0))


def drift_score(
    features: Sequence[float], means: Sequence[float], scales: Sequence[float]
) -> float:
    """The largest standardised distance of one input from the training data."""
    distances = [
        abs(f - m) / s if s > 0 else 0.0 for f, m, s in zip(features, means, scales, strict=True)
    ]
    return max(distances, default=0.0)
