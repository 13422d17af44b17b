"""The queueing formulas against a small discrete-event simulation.

One FIFO queue (M/M/1, Lindley's recursion) and one two-class non-preemptive priority
queue (event by event) are simulated with exponential service, the lab's default service
SCV; their mean waits must match :func:`lab.network.queue_delays` within a few per cent.
"""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from lab.network import QueueParameters, queue_delays

QUEUE = QueueParameters(burst_bytes=1250, buffer_ms=1e9)  # 1 Mbit/s link: service 10 ms
CAPACITY = 1.0
SERVICE_MS = QUEUE.service_time_ms(CAPACITY)
N = 120_000


def _mm1_wait(load: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(SERVICE_MS / load, N)
    service = rng.exponential(SERVICE_MS, N)
    wait, total = 0.0, 0.0
    for i in range(1, N):
        wait = max(0.0, wait + service[i - 1] - gaps[i])
        total += wait
    return total / N


@pytest.mark.parametrize("load", [0.3, 0.6, 0.8])
def test_single_class_delay_matches_a_simulated_mm1_queue(load):
    simulated = _mm1_wait(load, seed=1)
    (formula,) = queue_delays(CAPACITY, [load * CAPACITY], [0], QUEUE)
    assert simulated == pytest.approx(formula, rel=0.08)


def _priority_waits(loads: tuple[float, float], seed: int) -> tuple[float, float]:
    """Mean waits of a non-preemptive priority M/M/1 queue (class 0 served first)."""
    rng = np.random.default_rng(seed)
    horizon = N * SERVICE_MS / sum(loads)
    arrivals: list[tuple[float, int]] = []
    for cls, load in enumerate(loads):
        gaps = rng.exponential(SERVICE_MS / load, int(1.2 * horizon * load / SERVICE_MS))
        arrivals += [(float(t), cls) for t in np.cumsum(gaps) if t < horizon]
    arrivals.sort()
    waiting: list[tuple[int, float]] = []  # (class, arrival): class 0 first, FIFO inside
    free_at = 0.0
    sums, counts = [0.0, 0.0], [0, 0]
    i = 0
    while i < len(arrivals) or waiting:
        next_arrival = arrivals[i][0] if i < len(arrivals) else float("inf")
        if waiting and free_at <= next_arrival:
            cls, arrived = heapq.heappop(waiting)
            start = max(free_at, arrived)
            sums[cls] += start - arrived
            counts[cls] += 1
            free_at = start + rng.exponential(SERVICE_MS)
        else:
            at, cls = arrivals[i]
            i += 1
            heapq.heappush(waiting, (cls, at))
    return sums[0] / counts[0], sums[1] / counts[1]


def test_priority_delays_match_a_simulated_priority_queue():
    loads = (0.3, 0.4)
    high, low = _priority_waits(loads, seed=2)
    formula_high, formula_low = queue_delays(CAPACITY, list(loads), [1, 0], QUEUE)
    assert high == pytest.approx(formula_high, rel=0.1)
    assert low == pytest.approx(formula_low, rel=0.1)
    assert high < low
