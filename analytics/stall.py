"""Video stall classifier over network-observable flow features.

A network element cannot see the player: no buffer level, no quality, no stall events.
It sees a video session's traffic: the throughput the bottleneck allows, the bytes that go
down, and the **bursts** a segmented player makes -- one burst per media chunk it requests,
of some size, separated by gaps (the request interval). :class:`FlowSummary` holds exactly
that, per session, and nothing else.

The classifier is an L2-regularised logistic regression fitted by Newton's method on
standardised, log-scaled features. Logistic regression minimises the log loss, so its
probabilities are calibrated by construction (the benchmark reports the expected
calibration error to show it), which is what lets a policy act only when the model is sure.

Feature sets (:class:`FeatureSet`), each a superset of the previous:

- ``rate``: log bottleneck throughput.
- ``aggregate``: + log bytes downloaded, log mean chunk size, log mean chunk interval.
- ``burst``: + the spread of the session's chunk streams: log of the smallest and largest
  chunk bitrate (chunk bytes / chunk interval), log of the smallest and largest mean chunk
  size, and the number of distinct chunk streams (a player that drops to a lower quality
  opens a stream of smaller chunks: visible on the wire as a new burst size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Self

import numpy as np
import numpy.typing as npt

from analytics._params import Model

__all__ = [
    "ChunkStream",
    "FeatureSet",
    "FlowSummary",
    "LogisticRegression",
    "RateRule",
    "StallClassifier",
    "feature_matrix",
    "feature_names",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ChunkStream:
    """Requests of one chunk size level in a session (one quality, as seen on the wire).

    Args:
        mean_bytes: mean bytes per chunk.
        mean_interval_s: mean time between two requests of the stream, in seconds.
    """

    mean_bytes: float
    mean_interval_s: float


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """What a network element can measure about one video session.

    Args:
        throughput_bps: bottleneck throughput available to the flow, bytes per second.
        bytes_down: bytes downloaded during the session.
        mean_chunk_bytes: mean size of a burst (one requested chunk).
        mean_chunk_interval_s: mean time between chunk requests, in seconds.
        streams: the session's chunk streams, one per distinct chunk size level.
    """

    throughput_bps: float
    bytes_down: float
    mean_chunk_bytes: float
    mean_chunk_interval_s: float
    streams: tuple[ChunkStream, ...] = ()


class FeatureSet(str, Enum):
    """Which flow features a classifier uses (each set contains the previous one)."""

    RATE = "rate"
    AGGREGATE = "aggregate"
    BURST = "burst"


_NAMES: dict[FeatureSet, tuple[str, ...]] = {
    FeatureSet.RATE: ("log_throughput",),
    FeatureSet.AGGREGATE: (
        "log_throughput",
        "log_bytes_down",
        "log_chunk_bytes",
        "log_chunk_interval",
    ),
    FeatureSet.BURST: (
        "log_throughput",
        "log_bytes_down",
        "log_chunk_bytes",
        "log_chunk_interval",
        "log_min_chunk_bitrate",
        "log_max_chunk_bitrate",
        "log_min_stream_chunk_bytes",
        "log_max_stream_chunk_bytes",
        "chunk_streams",
    ),
}


def feature_names(features: FeatureSet) -> tuple[str, ...]:
    """The names of a feature set's columns, in order."""
    return _NAMES[features]


def _log(value: float) -> float:
    return math.log(max(value, 1e-9))


def _row(flow: FlowSummary, features: FeatureSet) -> list[float]:
    row = [_log(flow.throughput_bps)]
    if features is FeatureSet.RATE:
        return row
    row += [
        _log(flow.bytes_down),
        _log(flow.mean_chunk_bytes),
        _log(flow.mean_chunk_interval_s),
    ]
    if features is FeatureSet.AGGREGATE:
        return row
    streams = [s for s in flow.streams if s.mean_bytes > 0 and s.mean_interval_s > 0] or [
        ChunkStream(flow.mean_chunk_bytes, flow.mean_chunk_interval_s)
    ]
    bitrates = [s.mean_bytes / s.mean_interval_s for s in streams]
    sizes = [s.mean_bytes for s in streams]
    row += [
        _log(min(bitrates)),
        _log(max(bitrates)),
        _log(min(sizes)),
        _log(max(sizes)),
        float(len(streams)),
    ]
    return row


def feature_matrix(flows: Sequence[FlowSummary], features: FeatureSet) -> FloatArray:
    """The feature matrix (sessions x features) of a feature set."""
    return np.array([_row(f, features) for f in flows], dtype=float).reshape(
        len(flows), len(_NAMES[features])
    )


def _sigmoid(x: FloatArray) -> FloatArray:
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|
    return result


class LogisticRegression(Model):
    """L2-regularised logistic regression, Newton's method on standardised features.

    Minimises ``mean(log loss) + l2/2 |w|^2`` (the intercept is not penalised). Features are
    standardised with the training mean and standard deviation, kept with the model.

    Args:
        l2: the penalty.
        max_iter: Newton steps at most.
        tol: stop when no coefficient moves more than this.
    """

    _STATE = ("mean_", "scale_", "coef_", "intercept_")

    def __init__(self, l2: float = 1e-4, max_iter: int = 50, tol: float = 1e-9) -> None:
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike) -> Self:
        """Fit on samples x features and 0/1 labels.

        Raises:
            ValueError: shapes that do not match, or a single class.
        """
        features = np.asarray(x, dtype=float)
        labels = np.asarray(y).astype(float)
        if features.ndim != 2 or features.shape[0] != labels.shape[0]:
            raise ValueError("x must be samples x features with one label per sample")
        if len(np.unique(labels)) < 2:
            raise ValueError("logistic regression needs both classes in the training data")
        self.mean_ = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        z = (features - self.mean_) / self.scale_
        n, d = z.shape
        design = np.hstack([z, np.ones((n, 1))])
        penalty = np.full(d + 1, self.l2)
        penalty[-1] = 0.0
        weights = np.zeros(d + 1)
        for _ in range(self.max_iter):
            p = _sigmoid(design @ weights)
            gradient = design.T @ (p - labels) / n + penalty * weights
            hessian = (design * (p * (1 - p))[:, None]).T @ design / n + np.diag(penalty)
            step = np.linalg.solve(hessian + 1e-12 * np.eye(d + 1), gradient)
            weights -= step
            if np.abs(step).max() < self.tol:
                break
        self.coef_ = weights[:-1]
        self.intercept_ = float(weights[-1])
        return self

    def decision_function(self, x: npt.ArrayLike) -> FloatArray:
        """The log-odds of each sample."""
        self._check_fitted()
        z = (np.asarray(x, dtype=float) - self.mean_) / self.scale_
        logits: FloatArray = z @ self.coef_ + self.intercept_
        return logits

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """The probability of the positive class for each sample."""
        return _sigmoid(self.decision_function(x))


class StallClassifier(Model):
    """Will this video session stall? From its :class:`FlowSummary` only.

    Args:
        features: the feature set (``rate``, ``aggregate`` or ``burst``).
        l2: the logistic regression's penalty.
        threshold: probability from which :meth:`predict` says "stall".
    """

    _STATE = ("model_",)

    def __init__(
        self, features: str = FeatureSet.BURST.value, l2: float = 1e-4, threshold: float = 0.5
    ) -> None:
        self.features = features
        self.l2 = l2
        self.threshold = threshold

    @property
    def feature_set(self) -> FeatureSet:
        """The feature set, as an enum."""
        return FeatureSet(self.features)

    def fit(self, flows: Sequence[FlowSummary], stalled: npt.ArrayLike) -> Self:
        """Fit on sessions and whether each one stalled."""
        matrix = feature_matrix(flows, self.feature_set)
        self.model_ = LogisticRegression(l2=self.l2).fit(matrix, np.asarray(stalled))
        return self

    def predict_proba(self, flows: Sequence[FlowSummary]) -> FloatArray:
        """The probability that each session stalls."""
        self._check_fitted()
        return self.model_.predict_proba(feature_matrix(flows, self.feature_set))

    def predict(self, flows: Sequence[FlowSummary]) -> npt.NDArray[np.bool_]:
        """Whether each session is predicted to stall."""
        return self.predict_proba(flows) >= self.threshold

    def _encode_state(self, name: str, value: object) -> object:
        if isinstance(value, LogisticRegression):
            return value.to_dict()
        return super()._encode_state(name, value)

    @classmethod
    def _decode_state(cls, name: str, data: object) -> object:
        if name == "model_" and isinstance(data, dict):
            return LogisticRegression.from_dict(data)
        return super()._decode_state(name, data)


class RateRule(Model):
    """The rule baseline: a session stalls when its throughput is under a learned cut.

    ``fit`` picks the cut (on log throughput) with the best F1 on the training data. It
    needs no features but the throughput, and is what the controller falls back to when
    the classifier degrades.
    """

    _STATE = ("cut_bps_",)

    def fit(self, flows: Sequence[FlowSummary], stalled: npt.ArrayLike) -> Self:
        """Choose the throughput cut."""
        rates = np.array([f.throughput_bps for f in flows], dtype=float)
        labels = np.asarray(stalled).astype(bool)
        best_cut, best_f1 = float(np.median(rates)), -1.0
        for cut in np.unique(rates):
            predicted = rates < cut
            tp = int((predicted & labels).sum())
            denominator = (
                2 * tp + int((predicted & ~labels).sum()) + int((~predicted & labels).sum())
            )
            f1 = 2 * tp / denominator if denominator else 0.0
            if f1 > best_f1:
                best_cut, best_f1 = float(cut), f1
        self.cut_bps_ = best_cut
        return self

    def predict(self, flows: Sequence[FlowSummary]) -> npt.NDArray[np.bool_]:
        """Whether each session is predicted to stall."""
        self._check_fitted()
        return np.array([f.throughput_bps < self.cut_bps_ for f in flows], dtype=bool)
