"""Typed wrappers around the few scipy calls analytics/ makes.

scipy ships no type information (its stubs are a separate package, ``scipy-stubs``, that the
project does not depend on), so each call goes through one small function here with a
narrow ``type: ignore`` on the import, and the rest of analytics/ stays fully typed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import optimize, special  # type: ignore[import-untyped]

__all__ = ["erfc", "minimize_bounded"]


def minimize_bounded(
    objective: Callable[[npt.NDArray[np.float64]], float],
    start: Sequence[float],
    bounds: Sequence[tuple[float, float]],
) -> tuple[npt.NDArray[np.float64], float]:
    """Minimise a smooth function of a few bounded parameters (L-BFGS-B).

    Args:
        objective: the function to minimise.
        start: the starting point, inside ``bounds``.
        bounds: (low, high) per parameter.

    Returns:
        The best point found and the objective there.
    """
    result = optimize.minimize(
        objective, np.asarray(start, dtype=float), method="L-BFGS-B", bounds=list(bounds)
    )
    best: npt.NDArray[np.float64] = np.asarray(result.x, dtype=float)
    return best, float(result.fun)


def erfc(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The complementary error function, element-wise."""
    out: npt.NDArray[np.float64] = np.asarray(special.erfc(values), dtype=float)
    return out
