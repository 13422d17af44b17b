"""The Numenta Anomaly Benchmark's scoring rules, written from NAB's published description.

NAB (Lavin & Ahmad, 2015; numenta/NAB) scores a detector over a corpus of labelled series:

- Each labelled anomaly sits in a **window** (NAB's ``combined_windows.json``). The first
  ``min(floor(0.15 n), 750)`` rows of a series of ``n`` rows are a **probationary period**:
  not scored at all.
- Every row gets a weight from a **scaled sigmoid** of its relative position,
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (``-1`` for ``y >= 3``). Inside a window of ``w``
  rows whose right edge is row ``r``, row ``i`` is at ``y = -(r - i + 1) / w`` and weighs
  ``sigma(y) * A_tp / sigma(-1)``: the earliest row of a window earns the full ``A_tp``, a
  detection at the right edge almost nothing. Outside windows, a row ``d`` rows after the
  right edge of the previous window (of width ``w``) is at ``y = d / (w - 1)`` and weighs
  ``sigma(y) * A_fp`` (negative: a false positive just after a window costs little, one far
  from it costs ``A_fp``); before the first window every row weighs ``-A_fp``.
- A row is a **detection** when its anomaly score is ``>= threshold``. A window with
  detections scores the best (earliest) one; a window without any costs ``-A_fn``; every
  detection outside windows adds its (negative) weight.
- One **threshold per detector and cost profile**, optimised over the whole corpus: the
  corpus score is computed for every distinct anomaly score and the best is kept (ties go to
  the higher threshold).
- **Normalisation**: ``100 * (S - S_null) / (S_perfect - S_null)`` where ``S_null =
  -A_fn * windows`` (a detector that never fires) and ``S_perfect = A_tp * windows``.
- Profiles (``config/profiles.json``): standard ``A_tp = A_fn = 1, A_fp = 0.11``;
  reward_low_FP_rate ``A_fp = 0.22``; reward_low_FN_rate ``A_fn = 2``.

NAB's own results were produced under Python 2, whose ``str(float)`` keeps 12 significant
digits: :func:`round_like_nab` reproduces that rounding, which decides ties at the top of
the score range (a windowed-Gaussian detector's scores reach 1.0 only after it).

:class:`WindowedGaussian` is NAB's reference detector, kept here to check the scorer: scored
with these rules it reproduces the published standard score (39.6).

Everything here is pure: the benchmark reads the corpus and passes arrays in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics._scipy import erfc

__all__ = [
    "PROFILES",
    "CostProfile",
    "CorpusScore",
    "LabelledSeries",
    "ThresholdCurve",
    "WindowedGaussian",
    "corpus_curve",
    "probation_length",
    "round_like_nab",
    "row_weights",
    "score_corpus",
    "scaled_sigmoid",
    "window_indices",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class CostProfile:
    """A NAB application profile: the weights of true positives, false positives, misses."""

    name: str
    tp_weight: float = 1.0
    fp_weight: float = 0.11
    fn_weight: float = 1.0

    @classmethod
    def from_nab(cls, name: str, data: Mapping[str, object]) -> CostProfile:
        """A profile from NAB's ``profiles.json`` entry (``{"CostMatrix": {...}}``).

        Raises:
            ValueError: the entry lacks a weight.
        """
        matrix = data.get("CostMatrix")
        if not isinstance(matrix, Mapping):
            raise TypeError(f"profile {name!r} has no CostMatrix")
        try:
            return cls(
                name=name,
                tp_weight=float(matrix["tpWeight"]),
                fp_weight=float(matrix["fpWeight"]),
                fn_weight=float(matrix["fnWeight"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"profile {name!r}: bad cost matrix ({exc})") from exc


PROFILES: Mapping[str, CostProfile] = {
    "standard": CostProfile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """One series of the corpus: its length and its anomaly windows as row ranges.

    Args:
        name: e.g. ``realKnownCause/nyc_taxi.csv``.
        length: number of rows.
        windows: (first row, last row) of each window, inclusive, in time order.

    Raises:
        ValueError: a window outside the series, empty, or overlapping the previous one.
    """

    name: str
    length: int
    windows: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        previous_end = -1
        for start, end in self.windows:
            if not 0 <= start <= end < self.length:
                raise ValueError(f"{self.name}: window ({start}, {end}) outside 0..{self.length}")
            if start <= previous_end:
                raise ValueError(f"{self.name}: windows overlap or are out of order")
            previous_end = end


def window_indices(
    timestamps: npt.NDArray[np.datetime64], limits: Sequence[tuple[str, str]]
) -> tuple[tuple[int, int], ...]:
    """Row ranges of NAB windows given as timestamps (``"2014-02-19 10:50:00.000000"``).

    Args:
        timestamps: the series' timestamps, increasing.
        limits: (start, end) timestamps of each window, as in ``combined_windows.json``.

    Returns:
        (first row, last row) per window.

    Raises:
        ValueError: a window limit that is not one of the series' timestamps.
    """
    rows: list[tuple[int, int]] = []
    stamps = timestamps.astype("datetime64[us]")
    for start, end in limits:
        indices = []
        for limit in (start, end):
            when = np.datetime64(limit.replace(" ", "T"), "us")
            index = int(np.searchsorted(stamps, when))
            if index >= len(stamps) or stamps[index] != when:
                raise ValueError(f"window limit {limit} is not a timestamp of the series")
            indices.append(index)
        rows.append((indices[0], indices[1]))
    return tuple(rows)


def probation_length(length: int, percent: float = 0.15) -> int:
    """Rows at the start of a series that NAB does not score: ``min(floor(p n), 5000 p)``."""
    return int(min(math.floor(percent * length), percent * 5000))


def scaled_sigmoid(position: npt.ArrayLike) -> FloatArray:
    """NAB's weight of a relative position: ``2 / (1 + exp(5 y)) - 1``, and ``-1`` from 3 on."""
    y = np.asarray(position, dtype=float)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    result: FloatArray = np.where(y >= 3.0, -1.0, value)
    return result


_MAX_TP = float(scaled_sigmoid(-1.0))


def row_weights(series: LabelledSeries, profile: CostProfile) -> tuple[FloatArray, IntArray]:
    """The weight each row would score if detected, and the window each row belongs to.

    Args:
        series: the labelled series.
        profile: the cost profile.

    Returns:
        ``(weights, window)``: per row, its weight (positive in windows, negative outside)
        and the index of its window (``-1`` outside windows).
    """
    n = series.length
    weights = np.empty(n)
    window = np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    cursor = 0
    previous: tuple[int, int] | None = None  # (right edge, width) of the last window

    def outside(lo: int, hi: int) -> None:
        if previous is None:
            weights[lo:hi] = -profile.fp_weight
        else:
            right, width = previous
            distance = np.abs(right - rows[lo:hi]) / float(width - 1)
            weights[lo:hi] = scaled_sigmoid(distance) * profile.fp_weight

    for index, (start, end) in enumerate(series.windows):
        outside(cursor, start)
        width = end - start + 1
        inside = rows[start : end + 1]
        weights[start : end + 1] = (
            scaled_sigmoid(-(end - inside + 1) / width) * profile.tp_weight / _MAX_TP
        )
        window[start : end + 1] = index
        previous = (end, width)
        cursor = end + 1
    outside(cursor, n)
    return weights, window


@dataclass(frozen=True, slots=True)
class ThresholdCurve:
    """The raw corpus score for every candidate threshold (highest threshold first).

    ``scores[i]`` is the score when every row with anomaly score ``>= thresholds[i]`` is a
    detection; ``thresholds[0]`` is ``inf`` (nothing detected).
    """

    thresholds: FloatArray
    scores: FloatArray
    detected_windows: IntArray
    false_positives: IntArray
    windows: int

    def best(self) -> int:
        """Index of the best threshold (the highest one among equal scores)."""
        return int(np.argmax(self.scores))

    def at(self, threshold: float) -> int:
        """Index of the row that applies a given threshold (detections are ``>= threshold``)."""
        # thresholds decrease: the last one that is still >= threshold
        index = int(np.searchsorted(-self.thresholds, -threshold, side="right")) - 1
        return max(index, 0)


def corpus_curve(
    scores: Mapping[str, npt.ArrayLike],
    corpus: Sequence[LabelledSeries],
    profile: CostProfile,
    *,
    probation_percent: float = 0.15,
) -> ThresholdCurve:
    """The corpus score at every distinct anomaly score, in one pass over the sorted rows.

    Args:
        scores: anomaly score per row, per series name.
        corpus: the series to score (``scores`` must have each of them, full length).
        profile: the cost profile.
        probation_percent: share of each series that is not scored.

    Returns:
        The threshold curve.

    Raises:
        ValueError: a series without scores, or scores of the wrong length.
    """
    all_scores: list[FloatArray] = []
    all_weights: list[FloatArray] = []
    all_windows: list[IntArray] = []
    window_count = 0
    for series in corpus:
        if series.name not in scores:
            raise ValueError(f"no anomaly scores for {series.name}")
        values = np.asarray(scores[series.name], dtype=float)
        if values.shape != (series.length,):
            raise ValueError(f"{series.name}: {values.shape[0]} scores for {series.length} rows")
        weights, window = row_weights(series, profile)
        start = probation_length(series.length, probation_percent)
        window = window[start:]
        # a window entirely inside the probationary period is not scored (as in NAB)
        scored = np.unique(window[window >= 0])
        relabel = np.full(len(series.windows) + 1, -1, dtype=np.int64)
        relabel[scored] = np.arange(window_count, window_count + len(scored))
        all_scores.append(values[start:])
        all_weights.append(weights[start:])
        all_windows.append(np.where(window >= 0, relabel[window], -1))
        window_count += len(scored)
    score = np.concatenate(all_scores) if all_scores else np.empty(0)
    weight = np.concatenate(all_weights) if all_weights else np.empty(0)
    window = np.concatenate(all_windows) if all_windows else np.empty(0, dtype=np.int64)
    order = np.argsort(-score, kind="stable")
    score, weight, window = score[order], weight[order], window[order]

    # Walking down the sorted rows, each row changes the corpus score by: its own weight
    # (outside windows), or the rise of its window's best weight (inside): a window starts
    # at -A_fn and takes the best weight of its detected rows.
    delta = np.where(window < 0, weight, 0.0)
    first_detection = np.zeros(len(score), dtype=np.int64)
    in_window = np.flatnonzero(window >= 0)
    by_window = in_window[np.argsort(window[in_window], kind="stable")]
    groups = window[by_window]
    bounds = np.flatnonzero(np.diff(groups)) + 1
    for rows in np.split(by_window, bounds):
        if len(rows) == 0:
            continue
        best = np.maximum.accumulate(np.concatenate(([-profile.fn_weight], weight[rows])))
        delta[rows] = np.diff(best)
        first_detection[rows[0]] = 1
    base = -profile.fn_weight * window_count
    running = base + np.cumsum(delta)
    detected = np.cumsum(first_detection)
    false_positive = np.cumsum(window < 0)
    # a threshold admits every row with a score >= it: take the last row of each tie group
    last = np.flatnonzero(np.diff(score) != 0) if len(score) else np.empty(0, dtype=np.int64)
    last = np.concatenate((last, [len(score) - 1])) if len(score) else last
    return ThresholdCurve(
        thresholds=np.concatenate(([math.inf], score[last])),
        scores=np.concatenate(([base], running[last])),
        detected_windows=np.concatenate(([0], detected[last])).astype(np.int64),
        false_positives=np.concatenate(([0], false_positive[last])).astype(np.int64),
        windows=window_count,
    )


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """A detector's NAB result on a corpus for one profile."""

    profile: str
    threshold: float
    raw: float
    normalised: float
    windows: int
    detected_windows: int
    false_positives: int

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "profile": self.profile,
            "threshold": self.threshold,
            "raw": self.raw,
            "score": self.normalised,
            "windows": self.windows,
            "detected_windows": self.detected_windows,
            "false_positives": self.false_positives,
        }


def score_corpus(
    scores: Mapping[str, npt.ArrayLike],
    corpus: Sequence[LabelledSeries],
    profile: CostProfile,
    *,
    threshold: float | None = None,
    probation_percent: float = 0.15,
) -> CorpusScore:
    """NAB's normalised score of a detector on a corpus.

    Args:
        scores: anomaly score per row, per series name.
        corpus: the labelled series.
        profile: the cost profile.
        threshold: a fixed threshold (e.g. one fitted on another half of the corpus); by
            default the best threshold on this corpus, as NAB does.
        probation_percent: share of each series that is not scored.

    Returns:
        The score, normalised so that a detector that never fires scores 0 and a perfect
        one 100 (over all the corpus' windows, as NAB counts them).
    """
    curve = corpus_curve(scores, corpus, profile, probation_percent=probation_percent)
    index = curve.best() if threshold is None else curve.at(threshold)
    windows = sum(len(s.windows) for s in corpus)
    null = -profile.fn_weight * windows
    perfect = profile.tp_weight * windows
    raw = float(curve.scores[index])
    normalised = 100.0 * (raw - null) / (perfect - null) if perfect > null else 0.0
    return CorpusScore(
        profile=profile.name,
        threshold=float(curve.thresholds[index]) if threshold is None else threshold,
        raw=raw,
        normalised=normalised,
        windows=curve.windows,
        detected_windows=int(curve.detected_windows[index]),
        false_positives=int(curve.false_positives[index]),
    )


def round_like_nab(scores: npt.ArrayLike) -> FloatArray:
    """Round to 12 significant digits, as NAB's results files (Python 2 ``str(float)``)."""
    values = np.asarray(scores, dtype=float)
    rounded: FloatArray = np.array([float(f"{v:.12g}") for v in values.tolist()], dtype=float)
    return rounded


class WindowedGaussian:
    """NAB's windowed-Gaussian reference detector (nab/detectors/gaussian).

    Each value is scored by ``1 - Q(|x - mean| / std)`` (``Q`` the normal tail) against
    the mean and population standard deviation of a window of earlier values: the window
    grows to ``window`` values, then slides forward ``step`` values at a time. A zero
    standard deviation counts as ``1e-6``.

    Args:
        window: maximum number of values in the window (NAB: 6400).
        step: values collected before the full window slides (NAB: 100).
    """

    def __init__(self, window: int = 6400, step: int = 100) -> None:
        self.window = window
        self.step = step

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """Anomaly scores of a whole series, each from the values before it.

        Args:
            values: the series.

        Returns:
            One score in [0, 1) per value (0 for the first).
        """
        x = np.asarray(values, dtype=float)
        n = len(x)
        means = np.zeros(n)
        stds = np.ones(n)
        # while the window grows, value i sees all the values before it: prefix moments
        grow = np.arange(1, min(n, self.window + 1))
        if len(grow):
            head = x[: grow[-1]]
            mean = np.cumsum(head)[grow - 1] / grow
            variance = np.maximum(np.cumsum(head * head)[grow - 1] / grow - mean * mean, 0.0)
            std = np.sqrt(variance)
            means[grow] = mean
            stds[grow] = np.where(std == 0.0, 0.000001, std)
        # then the full window slides forward every `step` values
        full = grow[-1] if len(grow) else 0
        mean_now, std_now = float(means[full]), float(stds[full])
        first_slide = self.window + self.step - 1  # index of the value that completes a step
        for i in range(self.window + 1, n):
            last = i - 1
            if last >= first_slide and (last - first_slide) % self.step == 0:
                data = x[last - self.window + 1 : last + 1]
                mean_now = float(np.mean(data))
                std_now = float(np.std(data)) or 0.000001
            means[i], stds[i] = mean_now, std_now
        z = np.abs(x - means) / stds
        scores: FloatArray = 1.0 - 0.5 * erfc(z / math.sqrt(2.0))
        scores[0] = 0.0
        return scores
