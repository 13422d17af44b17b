"""Training and replay for the registry: collected telemetry in, versioned artifacts out.

Pure functions (data as arguments, ``now`` passed in); the CLI and the scheduler read the
telemetry and write the artifacts. Each trainer validates on data it did not fit and
records the metrics the lifecycle needs: the kind's comparison metric and the
``reference_error`` live monitoring is judged against.

- Load forecast: :class:`~analytics.forecast.QuantileForecaster` (Holt-Winters, daily
  season) fitted on the first part of the series; validated on the rest by the MAPE of the
  ``horizon``-step-ahead forecast, beside seasonal-naive's.
- KPI anomaly: :class:`~analytics.anomaly.KpiAnomalyDetector` or CAD OSE
  (:class:`~analytics.cad.ContextualAnomalyDetector`) run over the series; its
  alarm rate is the reference (a detector that starts alarming far more often than it did
  in training is degraded).
- Stall: :class:`~analytics.stall.StallClassifier` validated by 5-fold cross-validation
  grouped by video, beside the throughput rule; then fitted on everything.

:func:`replay` feeds telemetry through a record's champion, challenger (in shadow) and rule
baseline and folds their errors into the monitors: the same code path the controller's loop
uses per tick.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum

import numpy as np
import numpy.typing as npt

from analytics.anomaly import KpiAnomalyDetector
from analytics.cad import ContextualAnomalyDetector
from analytics.evaluation import (
    accuracy,
    brier_score,
    expected_calibration_error,
    f1_score,
    group_kfold,
)
from analytics.forecast import (
    HoltWinters,
    QuantileForecaster,
    mean_absolute_percentage_error,
)
from analytics.registry import (
    ModelArtifact,
    ModelKind,
    ModelRecord,
    MonitorState,
    TrainingWindow,
    load_model,
    observe,
)
from analytics.stall import FlowSummary, RateRule, StallClassifier, feature_names

__all__ = [
    "CAD_THRESHOLD",
    "KpiDetector",
    "ReplayResult",
    "kpi_detector",
    "replay",
    "samples_per_day",
    "train_kpi_anomaly",
    "train_load_forecast",
    "train_stall",
]

FloatArray = npt.NDArray[np.float64]
Timestamps = npt.NDArray[np.datetime64]


def samples_per_day(timestamps: Timestamps) -> int:
    """The season length of a regularly sampled series (median sampling interval).

    Raises:
        ValueError: fewer than two timestamps, or not increasing.
    """
    if len(timestamps) < 2:
        raise ValueError("need at least two timestamps to know the sampling interval")
    steps = np.diff(timestamps.astype("datetime64[ms]")).astype(np.int64) / 1000.0
    interval = float(np.median(steps))
    if interval <= 0:
        raise ValueError("timestamps must increase")
    return max(1, round(86400.0 / interval))


def _window(timestamps: Timestamps) -> TrainingWindow:
    def aware(value: np.datetime64) -> datetime:
        seconds = value.astype("datetime64[us]").astype(np.int64) / 1e6
        return datetime.fromtimestamp(float(seconds), tz=UTC)

    if len(timestamps) == 0:
        return TrainingWindow(None, None, 0)
    return TrainingWindow(aware(timestamps[0]), aware(timestamps[-1]), len(timestamps))


def _horizon_forecasts(
    model: QuantileForecaster, values: FloatArray, horizon: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Walk a series: point and upper forecasts made ``horizon`` steps before each value."""
    points, uppers, actuals = [], [], []
    for i, value in enumerate(values):
        if i + horizon - 1 < len(values):
            points.append(float(HoltWinters.forecast_at(model, horizon)[0]))
            uppers.append(float(model.forecast_at(horizon)[0]))
            actuals.append(float(values[i + horizon - 1]))
        model.step(np.array([value]))
    return np.array(points), np.array(uppers), np.array(actuals)


def train_load_forecast(
    name: str,
    version: int,
    timestamps: Timestamps,
    values: npt.ArrayLike,
    *,
    now: datetime,
    horizon: int = 12,
    quantile: float = 0.95,
    validation_share: float = 0.25,
) -> ModelArtifact:
    """Train a load forecaster on a series and validate it on the series' last part.

    Args:
        name: the model's name.
        version: the new version number.
        timestamps: sample times (regular).
        values: the load.
        now: the training time.
        horizon: steps ahead the forecast is validated at (12 = 1 hour at 5 minutes).
        quantile: the upper forecast's probability.
        validation_share: the share of the series kept for validation.

    Returns:
        The artifact: the forecaster, fitted on the training part and then updated through
        the validation part (so it is ready for the next sample).

    Raises:
        ValueError: less than two days of training data.
    """
    y = np.asarray(values, dtype=float)
    period = samples_per_day(timestamps)
    split = int(len(y) * (1.0 - validation_share))
    if split < 2 * period:
        raise ValueError(
            f"need at least two days of training data ({2 * period} samples), got {split}"
        )
    model = QuantileForecaster(season_length=period, quantile=quantile, horizon=horizon)
    model.fit(y[:split])
    points, uppers, actuals = _horizon_forecasts(model, y[split:], horizon)
    naive = [y[split + i + horizon - 1 - period] for i in range(len(actuals))]
    mape = mean_absolute_percentage_error(actuals, points)
    metrics = {
        "mape": mape,
        "seasonal_naive_mape": mean_absolute_percentage_error(actuals, naive),
        "upper_coverage": float(np.mean(actuals <= uppers)),
        "reference_error": mape / 100.0,
        "horizon": float(horizon),
        "season_length": float(period),
    }
    return ModelArtifact(
        name=name,
        version=version,
        kind=ModelKind.LOAD_FORECAST,
        model=model.to_dict(),
        features=("load",),
        training_window=_window(timestamps[:split]),
        metrics=metrics,
        created_at=now,
    )


class KpiDetector(str, Enum):
    """Which detector a KPI anomaly model is.

    - ``surprise``: :class:`~analytics.anomaly.KpiAnomalyDetector` (vectorised over series,
      about 5 us per sample; the score is a surprise in decades).
    - ``cad-ose``: :class:`~analytics.cad.ContextualAnomalyDetector` (NAB 69.9 with NAB's
      whole-file value range; compiled, a memory per series: 5.2 us per sample averaged over
      NAB, 43-110 us on noisy series whose memory keeps growing, over the 10 us goal;
      the score is in [0, 1]). See docs/benchmarks/models.md.
    """

    SURPRISE = "surprise"
    CAD_OSE = "cad-ose"


# CAD OSE's alarm level: NAB's threshold optimisation on the dev half of the corpus
# (bench/models.py; the held-out half is scored with it, never used to choose it)
CAD_THRESHOLD = 0.7636


def kpi_detector(
    detector: KpiDetector,
    values: FloatArray,
    *,
    season_length: int | None,
    threshold: float | None = None,
    value_range: tuple[float, float] | None = None,
) -> KpiAnomalyDetector | ContextualAnomalyDetector:
    """A fresh (fitted, empty) detector of a kind for a series like ``values``.

    Args:
        detector: the kind.
        values: the series the detector is made for (CAD OSE takes its value range from
            it unless ``value_range`` is given, as NAB gives detectors the file's range).
        season_length: samples per day (the surprise detector's seasonal statistics).
        threshold: the alarm level; by default the kind's own.
        value_range: CAD OSE's expected (low, high), e.g. (0, 100) for a utilisation.
    """
    if detector is KpiDetector.SURPRISE:
        return KpiAnomalyDetector(
            season_length=season_length, threshold=4.0 if threshold is None else threshold
        ).fit([], series=1)
    finite = values[np.isfinite(values)]
    low, high = value_range or (
        (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    )
    return ContextualAnomalyDetector(
        low=low,
        high=high,
        # NAB's setting: a fifth of the probationary period (15 % of the series, <= 750)
        rest_period=max(1, int(min(0.15 * len(values), 750) / 5)),
        threshold=CAD_THRESHOLD if threshold is None else threshold,
    ).fit()


def train_kpi_anomaly(
    name: str,
    version: int,
    timestamps: Timestamps,
    values: npt.ArrayLike,
    *,
    now: datetime,
    threshold: float | None = None,
    detector: KpiDetector = KpiDetector.SURPRISE,
    value_range: tuple[float, float] | None = None,
) -> ModelArtifact:
    """Run a KPI detector over a series; its alarm rate becomes the reference.

    Args:
        detector: which detector (see :class:`KpiDetector`).
        threshold: the alarm level (by default 4 decades for ``surprise``,
            :data:`CAD_THRESHOLD` for ``cad-ose``).
        value_range: CAD OSE's expected value range (default: the series' own).

    Returns:
        The artifact: the detector after the series (ready for the next sample).
    """
    y = np.asarray(values, dtype=float)
    model = kpi_detector(
        detector,
        y,
        season_length=samples_per_day(timestamps),
        threshold=threshold,
        value_range=value_range,
    )
    scores = model.update(y)
    rate = float(np.mean(scores >= model.threshold)) if len(y) else 0.0
    metrics = {
        "alarm_rate": rate,
        # live monitoring compares the alarm rate with this (a floor keeps a silent
        # training series from making every later alarm look like a degradation)
        "reference_error": max(rate, 1e-3),
        "threshold": model.threshold,
    }
    if isinstance(model, KpiAnomalyDetector):
        metrics["season_length"] = float(model.season_length or 0)
    else:
        metrics["contexts"] = float(model.memory_.contexts)
    return ModelArtifact(
        name=name,
        version=version,
        kind=ModelKind.KPI_ANOMALY,
        model=model.to_dict(),
        features=("kpi",),
        training_window=_window(timestamps),
        metrics=metrics,
        created_at=now,
    )


def train_stall(
    name: str,
    version: int,
    flows: Sequence[FlowSummary],
    stalled: npt.ArrayLike,
    videos: Sequence[Hashable],
    *,
    now: datetime,
    features: str = "burst",
    folds: int = 5,
) -> ModelArtifact:
    """Cross-validate the stall classifier by video, then fit it on all sessions.

    Returns:
        The artifact, with grouped cross-validated metrics and the rule baseline's.
    """
    y = np.asarray(stalled, dtype=bool)
    fold_of = group_kfold(videos, folds)
    probability = np.zeros(len(y))
    rule = np.zeros(len(y), dtype=bool)
    for fold in range(folds):
        train = np.flatnonzero(fold_of != fold).tolist()
        test = np.flatnonzero(fold_of == fold).tolist()
        model = StallClassifier(features=features).fit([flows[i] for i in train], y[train])
        probability[test] = model.predict_proba([flows[i] for i in test])
        baseline = RateRule().fit([flows[i] for i in train], y[train])
        rule[test] = baseline.predict([flows[i] for i in test])
    predicted = probability >= 0.5
    final = StallClassifier(features=features).fit(flows, y)
    cut = RateRule().fit(flows, y).cut_bps_
    metrics = {
        "f1": f1_score(y, predicted),
        "accuracy": accuracy(y, predicted),
        "brier": brier_score(y, probability),
        "ece": expected_calibration_error(y, probability),
        "baseline_f1": f1_score(y, rule),
        "baseline_cut_bps": cut,
        "reference_error": 1.0 - accuracy(y, predicted),
    }
    return ModelArtifact(
        name=name,
        version=version,
        kind=ModelKind.STALL,
        model=final.to_dict(),
        features=feature_names(final.feature_set),
        training_window=TrainingWindow(None, None, len(y)),
        metrics=metrics,
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did to a record, and the live errors it measured.

    Args:
        record: the record with its monitors updated.
        samples: the samples read.
        scored: the samples scored (the same for every model replayed; a forecast's first
            day only seeds seasonal-naive, a missing sample scores nothing).
        champion_error: the champion's live error (None without a champion).
        baseline_error: the rule baseline's live error on the same samples, where the kind
            measures one (in the champion's monitor, or without one the challenger's).
    """

    record: ModelRecord
    samples: int
    scored: int
    champion_error: float | None
    baseline_error: float | None


def replay(
    record: ModelRecord,
    champion: ModelArtifact | None,
    challenger: ModelArtifact | None,
    values: npt.ArrayLike,
) -> ReplayResult:
    """Feed a series (telemetry since training) through the models and monitor them.

    Load forecasters are judged by the relative error of their forecast at the validated
    horizon, beside seasonal-naive's on the same samples (the first day of the series only
    seeds seasonal-naive); KPI detectors by their alarm rate. The challenger, if any, sees
    the same samples in shadow. Without a champion (no version has beaten the rule yet) the
    rule baseline answers and the challenger runs in shadow beside it: its monitor holds
    its error and the rule's on the same samples, the evidence a promotion is decided on.

    Raises:
        ValueError: neither a champion nor a challenger, a stall model (it is monitored on
            labelled sessions, not a series), or an artifact whose model does not match its
            kind.
    """
    lead = champion or challenger
    if lead is None:
        raise ValueError(f"{record.name} has no version to replay (no champion, no challenger)")
    y = np.asarray(values, dtype=float)
    model = None if champion is None else load_model(champion)
    other = None if challenger is None else load_model(challenger)
    if record.kind is ModelKind.LOAD_FORECAST:
        if not isinstance(model, HoltWinters | None) or not isinstance(other, HoltWinters | None):
            raise ValueError("a load-forecast artifact must hold a Holt-Winters forecaster")
        # the champion's validated horizon (the challenger's without one): both are judged
        # at the same horizon, so their errors compare
        horizon = int(lead.metrics.get("horizon", 1))
        monitor, shadow = _replay_forecast(record, model, other, y, horizon)
    elif record.kind is ModelKind.KPI_ANOMALY:
        detectors = KpiAnomalyDetector | ContextualAnomalyDetector | None
        if not isinstance(model, detectors) or not isinstance(other, detectors):
            raise ValueError(
                "a kpi-anomaly artifact must hold a KpiAnomalyDetector or a "
                "ContextualAnomalyDetector"
            )
        monitor, shadow = record.monitor, record.challenger_monitor
        if model is not None:
            for alarm in model.update(y) >= model.threshold:
                monitor = observe(monitor, error=float(alarm))
        if other is not None:
            for alarm in other.update(y) >= other.threshold:
                shadow = observe(shadow, error=float(alarm))
    else:
        raise ValueError("a stall classifier is monitored on labelled sessions, not a series")
    updated = replace(record, monitor=monitor, challenger_monitor=shadow)
    if champion is None:
        scored = shadow.samples - record.challenger_monitor.samples
        return ReplayResult(updated, len(y), scored, None, shadow.baseline_error)
    scored = monitor.samples - record.monitor.samples
    return ReplayResult(updated, len(y), scored, monitor.error, monitor.baseline_error)


def _replay_forecast(
    record: ModelRecord,
    model: HoltWinters | None,
    other: HoltWinters | None,
    y: FloatArray,
    horizon: int,
) -> tuple[MonitorState, MonitorState]:
    """Monitor the forecast at the validated horizon, beside seasonal-naive's.

    ``model`` is the champion, ``other`` the challenger in shadow; either may be absent.
    A sample is scored for both or for neither, so their monitors rest on the same samples.
    """
    monitor, shadow = record.monitor, record.challenger_monitor
    lead = model or other
    if lead is None:
        return monitor, shadow
    season = lead.season_length

    def forecast(forecaster: HoltWinters | None) -> float | None:
        # point forecasts (the upper margin is for provisioning, not for accuracy)
        if forecaster is None:
            return None
        return float(HoltWinters.forecast_at(forecaster, horizon)[0])

    pending: dict[int, tuple[float | None, float | None]] = {}  # target index -> forecasts
    for i, value in enumerate(y):
        pending[i + horizon - 1] = (forecast(model), forecast(other))
        # the first forecasts were made before i=0: nothing targets the first samples
        targeted = pending.pop(i, None)
        row = np.array([value])
        for forecaster in (model, other):
            if forecaster is not None:
                forecaster.update(row)
        # the first day seeds seasonal-naive; a missing sample, or one without a value a day
        # back (the rule's forecast: its NaN would stay in the rule's average for good), is
        # scored for nobody
        if targeted is None or i < season or value == 0:
            continue
        known = (value, float(y[i - season]), *(f for f in targeted if f is not None))
        if not all(math.isfinite(v) for v in known):
            continue
        champion_forecast, shadow_forecast = targeted
        baseline = abs(value - y[i - season]) / abs(value)
        if champion_forecast is not None:
            monitor = observe(
                monitor, error=abs(value - champion_forecast) / abs(value), baseline_error=baseline
            )
        if shadow_forecast is not None:
            shadow = observe(
                shadow, error=abs(value - shadow_forecast) / abs(value), baseline_error=baseline
            )
    return monitor, shadow
