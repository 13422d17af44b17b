"""Honest evaluation helpers: grouped cross-validation folds and classification metrics.

``group_kfold`` splits by group (e.g. video id) so that no group is on both sides of a
split -- a random split by session lets a model recognise the video instead of the network
conditions. It assigns groups as scikit-learn's ``GroupKFold`` does: largest group first,
each to the fold with the fewest samples so far.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "accuracy",
    "brier_score",
    "expected_calibration_error",
    "f1_score",
    "group_kfold",
]


def group_kfold(groups: Sequence[Hashable], n_splits: int = 5) -> npt.NDArray[np.int64]:
    """The fold (0..n_splits-1) of each sample, whole groups at a time.

    Args:
        groups: the group of each sample.
        n_splits: number of folds.

    Returns:
        One fold index per sample.

    Raises:
        ValueError: fewer groups than folds.
    """
    sizes = Counter(groups)
    if len(sizes) < n_splits:
        raise ValueError(f"{len(sizes)} groups cannot fill {n_splits} folds")
    load = [0] * n_splits
    fold_of: dict[Hashable, int] = {}
    # largest group first (ties by first appearance, deterministic), to the lightest fold
    order = sorted(sizes, key=lambda g: -sizes[g])
    for group in order:
        fold = min(range(n_splits), key=lambda f: load[f])
        fold_of[group] = fold
        load[fold] += sizes[group]
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


def _binary(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    return np.asarray(values).astype(bool)


def f1_score(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """F1 of the positive class (0 when there are no positives at all)."""
    y, p = _binary(actual), _binary(predicted)
    tp = int((y & p).sum())
    denominator = 2 * tp + int((~y & p).sum()) + int((y & ~p).sum())
    return 2 * tp / denominator if denominator else 0.0


def accuracy(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Share of correct decisions."""
    y, p = _binary(actual), _binary(predicted)
    return float((y == p).mean()) if len(y) else 0.0


def brier_score(actual: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    """Mean squared error of the predicted probabilities (0 is perfect)."""
    y = _binary(actual).astype(float)
    p = np.asarray(probability, dtype=float)
    return float(np.mean((p - y) ** 2)) if len(y) else 0.0


def expected_calibration_error(
    actual: npt.ArrayLike, probability: npt.ArrayLike, bins: int = 10
) -> float:
    """ECE: the gap between predicted probability and observed frequency, bin-weighted.

    Probabilities are put in ``bins`` equal-width bins; each bin adds
    ``|mean(p) - mean(y)|`` weighted by its share of samples. A calibrated model has a
    small ECE: when it says 0.8, the event happens about 80 % of the time.
    """
    y = _binary(actual).astype(float)
    p = np.asarray(probability, dtype=float)
    if len(y) == 0:
        return 0.0
    index = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(float(p[members].mean() - y[members].mean()))
    return error
