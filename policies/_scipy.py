"""Typed wrappers around the scipy solvers policies/ uses.

scipy ships no type information (its stubs are a separate package the project does not
depend on), so each call goes through one small function here with a narrow ``type:
ignore`` on the import, and the rest of policies/ stays fully typed (as analytics/_scipy.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse  # type: ignore[import-untyped]

__all__ = ["MilpResult", "nonnegative_least_squares", "solve_milp"]

FloatArray = npt.NDArray[np.float64]


def nonnegative_least_squares(design: FloatArray, target: FloatArray) -> FloatArray:
    """``argmin |design x - target|`` subject to ``x >= 0`` (bounded-variable LS)."""
    result = optimize.lsq_linear(design, target, bounds=(0.0, math.inf), method="bvls")
    solution: FloatArray = np.maximum(np.asarray(result.x, dtype=float), 0.0)
    return solution


@dataclass(frozen=True, slots=True)
class MilpResult:
    """A mixed-integer program's outcome: ``x`` is None when no solution was found."""

    x: FloatArray | None
    objective: float
    status: int  # scipy/HiGHS: 0 optimal, 1 time or iteration limit, 2 infeasible, ...
    message: str

    @property
    def optimal(self) -> bool:
        """Solved to optimality."""
        return self.status == 0 and self.x is not None


def solve_milp(
    cost: FloatArray,
    *,
    integrality: npt.NDArray[np.int64],
    lower: FloatArray,
    upper: FloatArray,
    rows: FloatArray,
    row_lower: FloatArray,
    row_upper: FloatArray,
    time_limit_s: float = 10.0,
) -> MilpResult:
    """Minimise ``cost @ x`` subject to ``row_lower <= rows @ x <= row_upper`` and bounds.

    Args:
        cost: objective coefficients.
        integrality: 1 for an integer variable, 0 for a continuous one.
        lower: variable lower bounds.
        upper: variable upper bounds.
        rows: the constraint matrix (dense; stored sparse for the solver).
        row_lower: lower bound per constraint row (``-inf`` for none).
        row_upper: upper bound per constraint row (``inf`` for none).
        time_limit_s: HiGHS time limit.

    Returns:
        The result (``x`` None when infeasible or nothing was found in time).
    """
    constraints = (
        [optimize.LinearConstraint(sparse.csr_array(rows), row_lower, row_upper)]
        if rows.shape[0]
        else []
    )
    result = optimize.milp(
        cost,
        integrality=integrality,
        bounds=optimize.Bounds(lower, upper),
        constraints=constraints,
        options={"time_limit": time_limit_s, "presolve": True},
    )
    x = None if result.x is None else np.asarray(result.x, dtype=float)
    objective = float(result.fun) if result.fun is not None else math.inf
    return MilpResult(
        x=x, objective=objective, status=int(result.status), message=str(result.message)
    )
