"""The rule baselines a running controller answers with when no trained model does. Pure.

The model registry (:mod:`analytics.registry`) names a rule baseline per model kind: the
controller falls back to it when a champion degrades, and uses it from the start when the
store holds no trained version. This module holds the stall kind's rule,
``throughput-rule``, in the form the controller applies to each subscriber flow the devices
report (:func:`busy_and_slow`).

A flow stalls, says the rule, when it was **busy** in the measurement window (the player
was fetching for at least ``min_active_ratio`` of it) and still got **less than the lowest
rung of a common video bitrate ladder** (0.235 Mbit/s): such a player cannot download even
the lowest quality in real time, so its buffer drains. The cut is also what
:class:`~analytics.stall.RateRule` learns on the metro lab's own sessions (0.219 Mbit/s on
the flash crowd, seed 7). The busy condition matters: a player with a full buffer, paused
or between sessions sends nothing, and its window's mean throughput is 0. Measured on the
metro lab (subscriber windows of 10 s, labelled by the lab's ground truth: a stall within
the next three windows), the throughput cut alone flags 10.6 % of the night's flows though
almost none stall, and scores F1 0.657 on the flash crowd; busy-and-slow flags 0.4 % at
night and scores F1 0.772.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_STALL_CUT_MBPS", "MIN_ACTIVE_RATIO", "busy_and_slow"]

# the lowest rung of Netflix's fixed bitrate ladder, Mbit/s
DEFAULT_STALL_CUT_MBPS = 0.235
# a flow that fetched for less than this share of its window was idle, not starved
MIN_ACTIVE_RATIO = 0.05


def busy_and_slow(
    throughput_mbps: npt.ArrayLike,
    active_ratio: npt.ArrayLike,
    *,
    cut_mbps: float = DEFAULT_STALL_CUT_MBPS,
    min_active_ratio: float = MIN_ACTIVE_RATIO,
) -> npt.NDArray[np.bool_]:
    """Whether each flow stalls by the rule: busy, yet under the cut.

    Args:
        throughput_mbps: each flow's mean throughput over its window, Mbit/s.
        active_ratio: the share of the window each flow was fetching, in [0, 1].
        cut_mbps: the throughput under which a busy flow stalls.
        min_active_ratio: the share of the window from which a flow counts as busy.

    Raises:
        ValueError: the two arrays differ in shape, or a cut that is not positive.
    """
    if not cut_mbps > 0:
        raise ValueError(f"the throughput cut must be positive, got {cut_mbps!r}")
    rate = np.asarray(throughput_mbps, dtype=float)
    active = np.asarray(active_ratio, dtype=float)
    if rate.shape != active.shape:
        raise ValueError(f"{rate.shape} throughputs for {active.shape} active ratios")
    result: npt.NDArray[np.bool_] = (rate < cut_mbps) & (active >= min_active_ratio)
    return result
