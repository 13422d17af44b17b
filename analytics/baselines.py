"""The rule baselines a running controller answers with when no trained model does. Pure.

The model registry (:mod:`analytics.registry`) names a rule baseline per model kind: the
controller falls back to it when a champion degrades, and uses it from the start when the
store holds no trained version. This module gives the stall kind's rule a form the video
policy can call (:class:`RuleStallModel`: probabilities, 0 or 1) and its documented default.

The default cut is the lowest rung of a common video bitrate ladder: a session whose flow
gets less than 0.235 Mbit/s cannot play even the lowest quality in real time, so its buffer
drains and it stalls. It is the cut :class:`~analytics.stall.RateRule` learns on the metro
lab's own sessions (0.219 Mbit/s on the flash crowd, seed 7), and what is used until a
trained stall model's artifact brings a cut learned on the operator's data
(``metrics["baseline_cut_bps"]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analytics.stall import FlowSummary, RateRule

__all__ = ["DEFAULT_STALL_CUT_BPS", "RuleStallModel", "throughput_rule"]

# 0.235 Mbit/s (the lowest rung of Netflix's fixed ladder), in bytes per second as
# FlowSummary.throughput_bps counts
DEFAULT_STALL_CUT_BPS = 0.235e6 / 8


def throughput_rule(cut_bps: float = DEFAULT_STALL_CUT_BPS) -> RateRule:
    """A :class:`RateRule` with a given cut (bytes per second), without training.

    Raises:
        ValueError: a cut that is not a positive number.
    """
    if not cut_bps > 0 or not np.isfinite(cut_bps):
        raise ValueError(f"a throughput cut must be a positive number, got {cut_bps!r}")
    return RateRule.from_dict({"model": "RateRule", "params": {}, "state": {"cut_bps_": cut_bps}})


class RuleStallModel:
    """A :class:`RateRule` as a stall model: probability 1 under the cut, 0 above.

    The rule knows no degrees, so its answers carry the rule baseline's fixed confidence
    (``StallAnswer.rule_confidence``), not a probability's.
    """

    def __init__(self, rule: RateRule) -> None:
        self.rule = rule

    @property
    def cut_bps(self) -> float:
        """The throughput cut, bytes per second."""
        return float(self.rule.cut_bps_)

    def predict_proba(self, flows: Sequence[FlowSummary]) -> npt.NDArray[np.float64]:
        """1.0 for a session predicted to stall, else 0.0."""
        return self.rule.predict(flows).astype(float)
