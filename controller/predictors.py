"""The models behind the daemon's energy and video decisions: the registry's, or a rule.

:func:`controller.app.build_controller` gives the loop two callables, built here:

- :class:`LoadForecastSource` (``Controller(forecast=...)``): each tick, the twin's estimated
  total demand per traffic class goes into a bounded history; the energy policy gets an
  upper-quantile forecast at the horizon its intents need (wake lead time + cooldown). It
  comes from the registry's active ``load-forecast`` model when there is one (its trained
  daily shape, :func:`analytics.forecast.seasonal_upper_ratio`), else from the rule baseline
  ``ewma-trend`` on the live history (:func:`analytics.forecast.trend_upper_forecast`),
  whose confidence is measured on its own one-step errors.
- :class:`StallSource` (``Controller(stall=...)``): each tick, every subscriber flow the
  devices report goes through the registry's active ``stall`` classifier, else through the
  ``throughput-rule`` baseline (:mod:`analytics.baselines`: a busy flow under the lowest
  rung of a video bitrate ladder stalls).

Both say in the decision's explanation who answered (the registry's explanation record:
name, kind, source ``model`` or ``rule-baseline``, version, confidence, baseline, reason).

The registry is the store of ``models: {store: DIR}`` (default ``.netpilot/models``, as for
``netpilot models``). It is re-read when a record changes (a ``netpilot models promote``,
a fallback written by ``netpilot models monitor``): a stat of each record per tick, no
restart needed.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from analytics._params import Model
from analytics.baselines import DEFAULT_STALL_CUT_MBPS
from analytics.forecast import HoltWinters, seasonal_upper_ratio, trend_upper_forecast
from analytics.registry import (
    ModelArtifact,
    ModelKind,
    ModelRecord,
    ModelSource,
    MonitorState,
    active_model,
    explanation,
    forecast_confidence,
    load_model,
    observe,
)
from analytics.stall import StallClassifier
from controller.model import ExpectationType, Intent, Observation
from controller.models_store import ModelStore, ModelStoreError
from intents.contexts import wake_lead_time
from policies.base import LoadForecast, StallAnswer, World
from policies.predict import rule_stall_answer
from policies.video import stall_answer

__all__ = [
    "FORECAST_BASELINE",
    "FORECAST_TOLERANCE",
    "LoadForecastSource",
    "ModelWatch",
    "RegistryModel",
    "StallSource",
    "energy_horizon",
]

log = logging.getLogger("netpilot.models")

FORECAST_BASELINE = "ewma-trend"
# the relative one-step error at which a forecaster's confidence reaches 0: a load forecast
# off by half the load says nothing an energy decision could lean on
FORECAST_TOLERANCE = 0.5
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RegistryModel:
    """A model name of the store, with its champion (if any) loaded."""

    record: ModelRecord
    artifact: ModelArtifact | None
    model: Model | None

    @property
    def answers(self) -> bool:
        """Whether the champion answers (it exists and the record is not in fallback)."""
        return (
            self.model is not None
            and active_model(self.record, model_confidence=1.0).source is ModelSource.MODEL
        )


class ModelWatch:
    """The store's model of one kind, re-read whenever a record file changes.

    When several models of the kind are stored, the one trained last is used.

    Args:
        store: the store's directory (None or missing: no model, the rule answers).
        kind: the kind of model wanted.
        baseline: the rule that answers without a model (default: the registry's name for
            the kind's baseline), for the log.
    """

    def __init__(self, store: Path | None, kind: ModelKind, *, baseline: str = "") -> None:
        self.store = store
        self.kind = kind
        self.baseline = baseline or kind.baseline
        self._signature: tuple[tuple[str, int, int, int], ...] | None = None
        self._current: RegistryModel | None = None
        self.problem = ""

    def _stat(self) -> tuple[tuple[str, int, int, int], ...]:
        if self.store is None or not self.store.is_dir():
            return ()
        found = []
        for directory in sorted(self.store.iterdir()):
            try:
                stat = (directory / "record.json").stat()
            except OSError:
                continue
            # records are replaced atomically (a new file renamed over the old one): a new
            # inode tells a change apart even within the file system's timestamp granularity
            found.append((directory.name, stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    def current(self) -> RegistryModel | None:
        """The model (re-read if the store changed), or None when the store has none."""
        try:
            signature = self._stat()
        except OSError as exc:
            signature = ()
            self.problem = f"{self.store}: {exc.strerror}"
        if signature == self._signature:
            return self._current
        self._signature = signature
        self._current = self._load()
        self._log()
        return self._current

    def _load(self) -> RegistryModel | None:
        if self.store is None:
            return None
        registry = ModelStore(self.store)
        self.problem = ""
        candidates: list[ModelRecord] = []
        try:
            for name in registry.names():
                record = registry.record(name)
                if record is not None and record.kind is self.kind:
                    candidates.append(record)
        except (ModelStoreError, OSError) as exc:
            self.problem = str(exc)
            return None
        if not candidates:
            return None
        record = max(candidates, key=lambda r: (r.last_trained is not None, r.last_trained, r.name))
        if record.champion is None:
            return RegistryModel(record, None, None)
        try:
            artifact = registry.artifact(record.name, record.champion)
            model = load_model(artifact)
        except (ModelStoreError, ValueError, TypeError) as exc:
            self.problem = f"{record.name} v{record.champion}: {exc}"
            return RegistryModel(record, None, None)
        return RegistryModel(record, artifact, model)

    def _log(self) -> None:
        current = self._current
        if self.problem:
            log.warning(
                "%s model: %s; the %s baseline answers",
                self.kind.value,
                self.problem,
                self.baseline,
            )
        elif current is None:
            log.info(
                "%s: no trained model in %s; the %s baseline answers",
                self.kind.value,
                self.store,
                self.baseline,
            )
        elif current.answers:
            log.info(
                "%s: model %s v%s answers",
                self.kind.value,
                current.record.name,
                current.record.champion,
            )
        else:
            log.info(
                "%s: model %s in fallback (%s); the %s baseline answers",
                self.kind.value,
                current.record.name,
                current.record.reason or "no champion",
                self.baseline,
            )


def _rule_explanation(
    kind: ModelKind,
    current: RegistryModel | None,
    problem: str,
    *,
    baseline: str,
    confidence: float,
    store: Path | None,
) -> dict[str, object]:
    """The explanation record of a rule baseline's answer (the registry's shape)."""
    if problem:
        reason = f"the store cannot be used: {problem}"
    elif current is not None and current.answers:
        # active, yet not a model this source can use (another model type in the record)
        model = type(current.model).__name__
        reason = f"{current.record.name} v{current.record.champion} ({model}) cannot be used here"
    elif current is None:
        reason = f"no trained {kind.value} model in {store}"
    elif current.model is None:
        reason = current.record.reason or "no trained version yet"
    else:
        reason = f"fallback: {current.record.reason}"
    return {
        "name": current.record.name if current is not None else kind.value,
        "kind": kind.value,
        "source": ModelSource.RULE_BASELINE.value,
        "version": None,
        "confidence": round(confidence, 4),
        "baseline": baseline,
        "reason": reason,
    }


# --------------------------------------------------------------------------- load forecast


def energy_horizon(intents: Iterable[Intent]) -> timedelta | None:
    """How far ahead the energy policy plans: the largest wake lead time + cooldown over the
    energy-saving expectations (None: there are none, nothing to forecast for)."""
    horizons = [
        wake_lead_time(e) + i.guards.cooldown
        for i in intents
        for e in i.expectations
        if e.type is ExpectationType.ENERGY_SAVING
    ]
    return max(horizons, default=None)


class LoadForecastSource:
    """``Controller(forecast=...)``: the upper-quantile load forecast of each tick.

    Args:
        models: the store's load-forecast model.
        history: ticks of per-class demand totals kept (bounded).
        min_samples: ticks of history before the rule forecasts (until then: None, the
            energy policy plans against the current load, as without a forecaster). Two,
            the least a trend needs: a sleep acts once its plan stood for the hysteresis
            (at least two ticks), so it is always planned against a forecast.
        quantile: the rule's upper quantile.
    """

    def __init__(
        self,
        models: ModelWatch,
        *,
        history: int = 120,
        min_samples: int = 2,
        quantile: float = 0.95,
    ) -> None:
        self.models = models
        self.min_samples = max(2, min_samples)
        self.quantile = quantile
        self._history: deque[tuple[datetime, Mapping[str, float]]] = deque(maxlen=history)

    def __call__(self, world: World) -> LoadForecast | None:
        horizon = energy_horizon(world.intents)
        if horizon is None or world.view is None:
            return None
        totals = {cls.value: rate for cls, rate in world.view.total_by_class().items()}
        if self._history and world.now <= self._history[-1][0]:
            self._history.pop()  # a tick at the same instant (a woken tick) replaces it
        self._history.append((world.now, totals))
        current = self.models.current()
        if current is not None and current.answers:
            forecast = self._from_model(current, world.now, horizon, totals)
            if forecast is not None:
                return forecast
        if len(self._history) < self.min_samples:
            return None
        return self._from_rule(current, horizon)

    def _from_model(
        self,
        current: RegistryModel,
        now: datetime,
        horizon: timedelta,
        totals: Mapping[str, float],
    ) -> LoadForecast | None:
        model, artifact = current.model, current.artifact
        start = artifact.training_window.start if artifact is not None else None
        if not isinstance(model, HoltWinters) or artifact is None or start is None:
            return None
        interval = _SECONDS_PER_DAY / model.season_length
        ratio = float(
            seasonal_upper_ratio(
                model,
                position=(now - start).total_seconds() / interval,
                steps=math.ceil(horizon.total_seconds() / interval),
            )[0]
        )
        monitor = current.record.monitor
        if monitor.samples == 0:
            # not monitored live yet: its validation error stands in for the live one
            monitor = MonitorState(samples=1, error=artifact.metrics.get("reference_error", 1.0))
        confidence = forecast_confidence(monitor, FORECAST_TOLERANCE)
        info = explanation(active_model(current.record, model_confidence=confidence))
        info["applies"] = "the trained daily shape, to every class's current estimate"
        return LoadForecast(
            horizon=horizon,
            factors={cls: max(1.0, ratio) for cls in totals},
            confidence=confidence,
            model=info,
            quantile=float(getattr(model, "quantile", 0.5)),
        )

    def _from_rule(self, current: RegistryModel | None, horizon: timedelta) -> LoadForecast:
        first = self._history[0][0]
        classes = sorted({cls for _, totals in self._history for cls in totals})
        times = [(at - first).total_seconds() for at, _ in self._history]
        matrix = np.array(
            [[totals.get(cls, 0.0) for cls in classes] for _, totals in self._history]
        )
        result = trend_upper_forecast(
            times, matrix, horizon_s=horizon.total_seconds(), quantile=self.quantile
        )
        monitor = MonitorState()
        for error in result.relative_errors:
            if math.isfinite(error):
                monitor = observe(monitor, error=float(error))
        confidence = forecast_confidence(monitor, FORECAST_TOLERANCE)
        latest = matrix[-1]
        factors = {
            cls: max(1.0, float(result.upper[i] / latest[i])) if latest[i] > 0 else 1.0
            for i, cls in enumerate(classes)
        }
        info = _rule_explanation(
            ModelKind.LOAD_FORECAST,
            current,
            self.models.problem,
            baseline=FORECAST_BASELINE,
            confidence=confidence,
            store=self.models.store,
        )
        info["samples"] = len(self._history)
        return LoadForecast(
            horizon=horizon,
            factors=factors,
            confidence=confidence,
            model=info,
            quantile=self.quantile,
        )


# --------------------------------------------------------------------------- stall


class StallSource:
    """``Controller(stall=...)``: the stall model's answer for each tick's subscribers.

    Args:
        models: the store's stall model.
        boost_mbps: the video policy's boost rate (for the counterfactual probabilities).
        rule_confidence: the confidence of the rule baseline's answers.
    """

    def __init__(
        self, models: ModelWatch, *, boost_mbps: float, rule_confidence: float = 0.5
    ) -> None:
        self.models = models
        self.boost_mbps = boost_mbps
        self.rule_confidence = rule_confidence

    def __call__(self, observations: Mapping[str, Observation]) -> StallAnswer | None:
        current = self.models.current()
        if current is not None and current.answers and isinstance(current.model, StallClassifier):
            metrics = current.artifact.metrics if current.artifact is not None else {}
            # the explanation's confidence is the model's validated accuracy; each decision
            # carries its own (the classifier's confidence on the subscribers it acts for)
            accuracy = 1.0 - metrics.get("reference_error", 1.0)
            info = explanation(active_model(current.record, model_confidence=accuracy))
            return stall_answer(
                current.model, info, observations, boost_mbps=self.boost_mbps, source="model"
            )
        cut_mbps = DEFAULT_STALL_CUT_MBPS
        if current is not None and current.artifact is not None:
            # the cut the rule learned on the model's own training data (bytes per second)
            learned = current.artifact.metrics.get("baseline_cut_bps", 0.0)
            cut_mbps = learned * 8 / 1e6 if learned > 0 else cut_mbps
        info = _rule_explanation(
            ModelKind.STALL,
            current,
            self.models.problem,
            baseline=ModelKind.STALL.baseline,
            confidence=self.rule_confidence,
            store=self.models.store,
        )
        info["cut_mbps"] = round(cut_mbps, 4)
        return rule_stall_answer(
            observations,
            model=info,
            boost_mbps=self.boost_mbps,
            cut_mbps=cut_mbps,
            rule_confidence=self.rule_confidence,
        )
