"""The per-port scheduler and the priority M/G/1 delay, as pure functions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.network import DEFAULT_QUEUE, QueueParameters, queue_delays, schedule

INF = math.inf


@pytest.mark.parametrize(
    ("capacity", "offered", "priorities", "weights", "caps", "served"),
    [
        pytest.param(100, [30, 20], [0, 0], [10, 10], None, [30, 20], id="no-contention"),
        pytest.param(100, [80, 80], [1, 0], [10, 10], None, [80, 20], id="strict-priority"),
        pytest.param(100, [80, 80], [0, 0], [30, 10], None, [75, 25], id="weights-3-to-1"),
        pytest.param(100, [10, 200], [0, 0], [10, 10], None, [10, 90], id="max-min-redistributes"),
        pytest.param(100, [150, 10], [5, 0], [10, 10], None, [100, 0], id="starved-low-level"),
        pytest.param(1000, [300, 50], [0, 0], [10, 10], [100, INF], [100, 50], id="shaper-caps"),
        pytest.param(
            100,
            [50, 80, 80],
            [2, 0, 0],
            [10, 10, 30],
            None,
            [50, 12.5, 37.5],
            id="levels-then-weights",
        ),
    ],
)
def test_schedule(capacity, offered, priorities, weights, caps, served):
    assert schedule(capacity, offered, priorities, weights, caps) == pytest.approx(served)


rates = st.floats(min_value=0, max_value=2000, allow_nan=False)


@given(
    offered=st.lists(rates, min_size=5, max_size=5),
    priorities=st.lists(st.integers(0, 7), min_size=5, max_size=5),
    weights=st.lists(st.integers(1, 100), min_size=5, max_size=5),
    caps=st.lists(st.one_of(st.just(INF), st.floats(1, 1000)), min_size=5, max_size=5),
)
def test_schedule_is_feasible_and_work_conserving(offered, priorities, weights, caps):
    capacity = 1000.0
    served = schedule(capacity, offered, priorities, weights, caps)
    eligible = [min(o, c) for o, c in zip(offered, caps, strict=True)]
    assert all(0 <= s <= e + 1e-9 for s, e in zip(served, eligible, strict=True))
    assert sum(served) <= capacity + 1e-6
    # nothing is dropped while the link has room
    assert sum(served) == pytest.approx(min(capacity, sum(eligible)), rel=1e-9, abs=1e-6)


def test_single_class_delay_is_the_pollaczek_khinchine_value():
    capacity, load = 1000.0, 400.0
    service_ms = 65_536 * 8 / (capacity * 1e3)
    utilisation = load / capacity
    expected = utilisation * (1 + DEFAULT_QUEUE.service_scv) * service_ms / (2 * (1 - utilisation))
    (delay,) = queue_delays(capacity, [load], [0])
    assert delay == pytest.approx(expected, rel=1e-12)


def test_delay_rises_monotonically_with_load():
    delays = [queue_delays(1000.0, [load, 100.0], [0, 0])[0] for load in range(0, 1200, 50)]
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    below_saturation = [d for d in delays if d < DEFAULT_QUEUE.buffer_ms]
    assert all(b > a for a, b in zip(below_saturation, below_saturation[1:], strict=False))
    assert delays[-1] == DEFAULT_QUEUE.buffer_ms


def test_an_overloaded_level_sits_in_a_full_buffer():
    video, bulk = queue_delays(1000.0, [600.0, 600.0], [0, 0])
    assert video == bulk == DEFAULT_QUEUE.buffer_ms
    video, bulk = queue_delays(1000.0, [600.0, 600.0], [5, 0])
    assert video < 5
    assert bulk == DEFAULT_QUEUE.buffer_ms


@given(
    loads=st.lists(st.floats(0, 600), min_size=5, max_size=5),
    priorities=st.lists(st.integers(0, 6), min_size=5, max_size=5),
    cls=st.integers(0, 4),
    raise_by=st.integers(1, 7),
)
def test_raising_a_class_priority_never_raises_its_delay(loads, priorities, cls, raise_by):
    before = queue_delays(1000.0, loads, priorities)[cls]
    raised = list(priorities)
    raised[cls] = min(7, raised[cls] + raise_by)
    after = queue_delays(1000.0, loads, raised)[cls]
    assert after <= before + 1e-12


def test_burst_size_and_buffer_are_parameters():
    small = QueueParameters(burst_bytes=1500)
    (delay,) = queue_delays(1000.0, [900.0], [0], small)
    (default_delay,) = queue_delays(1000.0, [900.0], [0])
    assert delay == pytest.approx(default_delay * 1500 / 65_536)
    tight = QueueParameters(buffer_ms=5.0)
    assert queue_delays(1000.0, [990.0], [0], tight) == (5.0,)
