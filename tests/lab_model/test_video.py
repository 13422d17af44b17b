"""Adaptive-bitrate players: stalls from throughput, start-up, determinism, visible features."""

from __future__ import annotations

import dataclasses
import math

import pytest

from lab.config import DeviceSettings, SubscriberSettings
from lab.video import LADDER_MBPS, NodeConditions, SubscriberFeatures, VideoSessions, mathis_mbps

GOOD = {"n": NodeConditions(supply_ratio=1.0, rtt_ms=20.0, loss=0.0)}


def _sessions(seed: int = 1, count: int = 20) -> VideoSessions:
    return VideoSessions([("n", count, "fixed")], seed=seed)


def _run(sessions: VideoSessions, seconds: int, factor: float, conditions, settings) -> None:
    """Advance in 30 s steps, as the lab does at 60x with a step every 0.5 wall seconds."""
    for _ in range(seconds // 30):
        sessions.advance(30, factor, conditions, settings)


def test_players_with_ample_throughput_start_and_never_stall():
    sessions = _sessions()
    _run(sessions, 600, 1.0, GOOD, {})
    truth = sessions.truth("n")
    assert truth.sessions == 20
    assert truth.stalls == 0 and truth.stall_s == 0
    assert 0 < truth.startup_s_mean < 5
    assert truth.mean_bitrate_mbps > 3.0


def test_a_player_whose_throughput_is_below_its_bitrate_stalls():
    sessions = _sessions()
    _run(sessions, 120, 1.0, GOOD, {})
    assert sessions.truth("n").stalls == 0
    # throughput drops under the lowest rung of the ladder: every player stalls
    starved = {"n": NodeConditions(supply_ratio=0.005, rtt_ms=20.0, loss=0.0)}
    _run(sessions, 300, 1.0, starved, {})
    truth = sessions.truth("n")
    assert truth.stalls >= 20
    assert truth.stall_ratio > 0.2


def test_loss_and_rtt_cap_throughput_as_tcp_does():
    assert math.isinf(mathis_mbps(20.0, 0.0))
    # MSS 1460 B, RTT 100 ms, p = 1 %: 1460*8/0.1*sqrt(1.5)/0.1 = 1.43 Mbit/s
    assert mathis_mbps(100.0, 0.01) == pytest.approx(1.430, rel=1e-3)
    sessions = _sessions()
    lossy = {"n": NodeConditions(supply_ratio=1.0, rtt_ms=150.0, loss=0.05)}
    _run(sessions, 600, 1.0, lossy, {})
    assert sessions.truth("n").mean_bitrate_mbps < LADDER_MBPS[4]


def test_a_min_rate_boost_protects_one_subscriber():
    sessions = _sessions(count=4)
    first = sessions.subscriber_ids("n")[0]
    settings = {"n": DeviceSettings(subscribers={first: SubscriberSettings(min_rate_mbps=6)})}
    starved = {"n": NodeConditions(supply_ratio=0.01, rtt_ms=20.0, loss=0.0)}
    _run(sessions, 300, 1.0, starved, settings)
    boosted = sessions.subscriber_ids("n").index(first)
    assert sessions.stalls[boosted] == 0
    assert sessions.stalls.sum() > 0


def test_the_same_seed_gives_the_same_run():
    runs = []
    for seed in (7, 7, 8):
        sessions = _sessions(seed)
        for supply in (1.0, 0.3, 0.02, 0.8):
            conditions = {"n": NodeConditions(supply_ratio=supply, rtt_ms=30.0, loss=0.001)}
            _run(sessions, 90, 0.9, conditions, {})
        runs.append((sessions.truth("n"), sessions.features("n")))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_flow_features_are_what_a_network_element_sees():
    names = {f.name for f in dataclasses.fields(SubscriberFeatures)}
    assert names == {
        "subscriber",
        "node",
        "throughput_mbps",
        "rtt_ms",
        "retransmission_ratio",
        "bytes",
        "mean_request_bytes",
        "request_interval_ms",
        "active_ratio",
    }
    sessions = _sessions()
    _run(sessions, 60, 1.0, GOOD, {})
    features = sessions.features("n")
    assert len(features) == 20
    assert all(f.bytes > 0 for f in features)
    assert any(f.throughput_mbps > 0 and f.mean_request_bytes > 0 for f in features)
    # a full buffer makes the download on-off: the flows are idle part of the time
    _run(sessions, 300, 1.0, GOOD, {})
    assert any(f.active_ratio < 0.9 for f in sessions.features("n"))


def test_session_count_follows_the_daily_profile():
    sessions = _sessions(count=40)
    sessions.advance(10, 1.0, GOOD, {})
    assert sessions.truth("n").sessions == 40
    sessions.advance(10, 0.25, GOOD, {})
    assert sessions.truth("n").sessions == 10
