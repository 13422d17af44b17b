"""Video sessions at the access nodes: adaptive-bitrate players driven by their path.

Every access node with ``subscribers: N`` holds ``3 N`` player slots (room for a flash
crowd). At lab time ``t`` the first ``round(N x video profile(t) x multipliers)`` slots of a
seeded permutation have a session;
a session lasts an exponentially distributed time (mean :attr:`PlayerParameters.session_s`)
and is then replaced by a fresh one (new start-up).

Throughput of a session (Mbit/s), per sub-step of ``substep_s`` lab seconds::

    tput = min( line_i · noise_i(t) · delivered/offered (video, at the node),
                Mathis:  (MSS·8 / RTT) · sqrt(3/2) / sqrt(p),
                the subscriber's max-rate-mbps )
    a subscriber with min-rate-mbps gets at least min(min-rate, line_i · noise_i(t))

``line_i`` is the session's access rate (lognormal, per node kind), ``noise_i`` a mean-one
lognormal AR(1) factor (radio conditions, cross traffic), ``delivered/offered`` the share of
the node's video demand the network delivers (queue drops, radio overload), RTT twice the
path latency plus the access RTT, and ``p`` the path loss (Mathis et al., "The macroscopic
behavior of the TCP congestion avoidance algorithm", CCR 27(3), 1997).

Player (one per session; a fluid model at segment granularity):

- it downloads while its buffer has room for a segment, gaining ``tput / bitrate`` seconds
  of video per second (the on-off pattern of a full buffer shows in the flow features);
- playback starts when ``start_s`` seconds are buffered (the start-up delay), consumes one
  second per second, and stalls when the buffer runs dry, resuming at ``start_s``;
- the bitrate is the highest rung of the ladder at most ``safety x`` the EWMA of the
  measured throughput, one rung lower while the buffer is under ``low_buffer_s``
  (a rate-based rule with a buffer guard, as dash.js's default).

Ground truth (stalls, stall and play time, start-up delays, switches, bitrates) stays here
and in the lab's log; the network-visible flow features (:meth:`VideoSessions.features`)
are what a flow monitor at the access node could measure: throughput, RTT, retransmission
ratio, bytes, mean response size, request interval, active ratio.

State evolves only through :meth:`VideoSessions.advance` (no clock, no IO); the same seed
and the same sequence of calls give the same run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lab.config import DeviceSettings

__all__ = [
    "LADDER_MBPS",
    "NodeConditions",
    "NodeTruth",
    "PlayerParameters",
    "SubscriberFeatures",
    "VideoSessions",
    "mathis_mbps",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Netflix's fixed bitrate ladder before per-title encoding (Netflix Technology Blog,
# "Per-Title Encode Optimization", 2015), in Mbit/s.
LADDER_MBPS: tuple[float, ...] = (0.235, 0.375, 0.56, 0.75, 1.05, 1.75, 2.35, 3.0, 4.3, 5.8)
_MSS_BYTES = 1460
_MATHIS_C = math.sqrt(1.5)


def mathis_mbps(rtt_ms: float, loss: float) -> float:
    """TCP throughput bound of Mathis et al. (1997) in Mbit/s; inf without loss.

    Args:
        rtt_ms: round-trip time.
        loss: packet loss probability.

    Returns:
        ``MSS·8/RTT · sqrt(3/2)/sqrt(p)``.
    """
    if loss <= 1e-9 or rtt_ms <= 0:
        return math.inf
    return _MSS_BYTES * 8 / (rtt_ms / 1000) * _MATHIS_C / math.sqrt(loss) / 1e6


@dataclass(frozen=True, slots=True)
class PlayerParameters:
    """Constants of the player and session model."""

    ladder: tuple[float, ...] = LADDER_MBPS
    segment_s: float = 4.0
    max_buffer_s: float = 30.0
    start_s: float = 4.0
    low_buffer_s: float = 8.0
    safety: float = 0.8
    ewma: float = 0.3
    substep_s: float = 1.0
    session_s: float = 1200.0
    noise_sigma: float = 0.45
    noise_tau_s: float = 10.0
    feature_window_s: float = 10.0


@dataclass(frozen=True, slots=True)
class NodeConditions:
    """What the network gives one access node's video this step.

    Args:
        supply_ratio: delivered / offered video at the node (radio losses included).
        rtt_ms: round-trip time of the node's video flows.
        loss: packet loss along the path (queue drops, link errors, radio overload).
        multiplier: video demand multiplier (scenario events) for the session count.
        access: ``fixed`` or ``radio``: picks the access-rate distribution.
    """

    supply_ratio: float
    rtt_ms: float
    loss: float
    multiplier: float = 1.0
    access: str = "fixed"


@dataclass(frozen=True, slots=True)
class SubscriberFeatures:
    """Network-visible features of one subscriber's downstream flows."""

    subscriber: str
    node: str
    throughput_mbps: float
    rtt_ms: float
    retransmission_ratio: float
    bytes: int
    mean_request_bytes: int
    request_interval_ms: float
    active_ratio: float


@dataclass(frozen=True, slots=True)
class NodeTruth:
    """Ground truth of one node's sessions (the lab's own log, never served to devices)."""

    node: str
    sessions: int
    stalls: int
    stall_s: float
    play_s: float
    startup_s_mean: float
    mean_bitrate_mbps: float
    switches: int

    @property
    def stall_ratio(self) -> float:
        """Stall time over stall + play time."""
        total = self.stall_s + self.play_s
        return self.stall_s / total if total > 0 else 0.0


# (median Mbit/s, lognormal sigma) of a session's access rate
_ACCESS_RATE = {"fixed": (25.0, 0.5), "radio": (8.0, 1.0)}
_SLOTS_PER_SUBSCRIBER = 3
_MAX_SUBSTEPS = 120
_ACCESS_RTT_MS = {"fixed": 8.0, "radio": 25.0}


class VideoSessions:
    """The player population of every access node.

    Args:
        nodes: (node name, player slots, access kind ``fixed``/``radio``) per access node.
        seed: the run's seed.
        parameters: player constants.
    """

    def __init__(
        self,
        nodes: Sequence[tuple[str, int, str]],
        *,
        seed: int,
        parameters: PlayerParameters = PlayerParameters(),
    ) -> None:
        self.parameters = parameters
        self.nodes = tuple(name for name, count, _ in nodes if count > 0)
        self._access = {name: kind for name, count, kind in nodes if count > 0}
        self._peak = {name: count for name, count, _ in nodes if count > 0}
        counts = [count * _SLOTS_PER_SUBSCRIBER for _, count, _ in nodes if count > 0]
        self._slices: dict[str, slice] = {}
        start = 0
        for name, count in zip(self.nodes, counts, strict=True):
            self._slices[name] = slice(start, start + count)
            start += count
        n = start
        self.size = n
        self._rng = np.random.default_rng(np.random.SeedSequence([seed & (2**63 - 1), 0x51DE0]))
        self._ids = [
            f"{name}-s{i + 1:03d}"
            for name, count in zip(self.nodes, counts, strict=True)
            for i in range(count)
        ]
        self._node_of = np.repeat(np.arange(len(self.nodes)), counts)
        # the order in which a node's slots fill as its session count grows
        self._rank = np.zeros(n, dtype=np.int64)
        for name in self.nodes:
            part = self._slices[name]
            self._rank[part] = self._rng.permutation(part.stop - part.start)
        z = np.zeros(n)
        self.active: BoolArray = np.zeros(n, dtype=bool)
        self.buffer_s = z.copy()
        self.playing = np.zeros(n, dtype=bool)
        self.started = np.zeros(n, dtype=bool)
        self.level = np.zeros(n, dtype=np.int64)
        self.estimate = z.copy()
        self.session_left = z.copy()
        self.line_mbps = z.copy()
        self.log_noise = z.copy()
        self.session_bytes = z.copy()
        self.startup_s = z.copy()
        # ground truth, cumulative over the run
        self.stalls = np.zeros(n, dtype=np.int64)
        self.stall_s = z.copy()
        self.play_s = z.copy()
        self.switches = np.zeros(n, dtype=np.int64)
        self.sessions_started = np.zeros(n, dtype=np.int64)
        self.startup_total = z.copy()
        self.startups_done = np.zeros(n, dtype=np.int64)
        self.bitrate_seconds = z.copy()
        # flow-feature accumulators of the current window, and the last finished window
        self._win_bytes = z.copy()
        self._win_active = z.copy()
        self._win_requests = z.copy()
        self._win_s = 0.0
        self._features: dict[str, SubscriberFeatures] = {}
        self._rtt = np.zeros(len(self.nodes))
        self._loss = np.zeros(len(self.nodes))
        self.clock_s = 0.0

    # ------------------------------------------------------------------ sessions

    def _start_sessions(self, new: BoolArray, access: Sequence[str]) -> None:
        count = int(new.sum())
        if not count:
            return
        p = self.parameters
        medians = np.array([_ACCESS_RATE[access[i]][0] for i in self._node_of[new]])
        sigmas = np.array([_ACCESS_RATE[access[i]][1] for i in self._node_of[new]])
        self.line_mbps[new] = medians * np.exp(sigmas * self._rng.standard_normal(count))
        self.session_left[new] = self._rng.exponential(p.session_s, count)
        self.log_noise[new] = p.noise_sigma * self._rng.standard_normal(count)
        self.buffer_s[new] = 0.0
        self.playing[new] = False
        self.started[new] = False
        self.level[new] = 0
        self.estimate[new] = 0.0
        self.session_bytes[new] = 0.0
        self.startup_s[new] = 0.0
        self.sessions_started[new] += 1

    def _set_active(self, wanted: Mapping[str, int]) -> None:
        target = np.zeros(self.size, dtype=bool)
        for index, name in enumerate(self.nodes):
            part = self._slices[name]
            count = max(0, min(part.stop - part.start, wanted.get(name, 0)))
            target[part] = self._rank[part] < count
            del index
        access = [self._access[name] for name in self.nodes]
        self._start_sessions(target & ~self.active, access)
        self.active = target

    # ------------------------------------------------------------------ advance

    def advance(
        self,
        dt_s: float,
        profile_factor: float,
        conditions: Mapping[str, NodeConditions],
        settings: Mapping[str, DeviceSettings],
    ) -> None:
        """Advance every player by ``dt_s`` lab seconds.

        Args:
            dt_s: lab time since the last call (>= 0).
            profile_factor: the video daily profile now (sets how many sessions run).
            conditions: per node, what the network gives its video (absent: the node is
                unreachable, its sessions get nothing).
            settings: per node, the running configuration (per-subscriber rates).
        """
        p = self.parameters
        wanted = {
            name: round(
                self._peak[name]
                * profile_factor
                * (conditions[name].multiplier if name in conditions else 1.0)
            )
            for name in self.nodes
        }
        self._set_active(wanted)
        supply = np.zeros(self.size)
        bound = np.full(self.size, math.inf)
        rtt = np.zeros(self.size)
        loss = np.zeros(self.size)
        max_rate = np.full(self.size, math.inf)
        min_rate = np.zeros(self.size)
        for index, name in enumerate(self.nodes):
            part = self._slices[name]
            cond = conditions.get(name)
            if cond is None:
                continue
            access_rtt = _ACCESS_RTT_MS[cond.access]
            node_rtt = cond.rtt_ms + access_rtt
            supply[part] = max(0.0, min(1.0, cond.supply_ratio))
            bound[part] = mathis_mbps(node_rtt, cond.loss)
            rtt[part] = node_rtt
            loss[part] = cond.loss
            self._rtt[index] = node_rtt
            self._loss[index] = cond.loss
            node_settings = settings.get(name)
            if node_settings is not None and node_settings.subscribers:
                for offset, subscriber in enumerate(self._ids[part]):
                    rates = node_settings.subscriber(subscriber)
                    if rates.max_rate_mbps is not None:
                        max_rate[part.start + offset] = rates.max_rate_mbps
                    if rates.min_rate_mbps is not None:
                        min_rate[part.start + offset] = rates.min_rate_mbps
        # at most _MAX_SUBSTEPS per call: a long step (hours of lab time at once) is
        # integrated more coarsely rather than slowly
        count = min(_MAX_SUBSTEPS, math.ceil(dt_s / p.substep_s - 1e-9)) if dt_s > 0 else 0
        for _ in range(count):
            self._substep(dt_s / count, supply, bound, max_rate, min_rate)
        self._win_s += dt_s
        if self._win_s >= p.feature_window_s:
            self._publish_features(rtt, loss)

    def _substep(
        self,
        dt: float,
        supply: FloatArray,
        bound: FloatArray,
        max_rate: FloatArray,
        min_rate: FloatArray,
    ) -> None:
        p = self.parameters
        active = self.active
        # session ends: a fresh session replaces it
        self.session_left[active] -= dt
        ended = active & (self.session_left <= 0)
        access = [self._access[name] for name in self.nodes]
        self._start_sessions(ended, access)
        # AR(1) noise with time constant noise_tau_s, stationary sigma noise_sigma
        phi = math.exp(-dt / p.noise_tau_s)
        innovation = p.noise_sigma * math.sqrt(1 - phi * phi)
        self.log_noise = phi * self.log_noise + innovation * self._rng.standard_normal(self.size)
        own = self.line_mbps * np.exp(self.log_noise - p.noise_sigma**2 / 2)
        tput = np.minimum(np.minimum(own * supply, bound), max_rate)
        tput = np.maximum(tput, np.minimum(min_rate, own))
        tput = np.where(active, tput, 0.0)
        ladder = np.array(p.ladder)
        bitrate = ladder[self.level]
        room = self.buffer_s <= p.max_buffer_s - p.segment_s
        downloading = active & room & (tput > 0)
        gained = np.where(downloading, tput * dt / bitrate, 0.0)
        got_bytes = np.where(downloading, tput * dt * 1e6 / 8, 0.0)
        self.session_bytes += got_bytes
        self._win_bytes += got_bytes
        self._win_active += np.where(downloading, dt, 0.0)
        self._win_requests += np.where(downloading, gained / p.segment_s, 0.0)
        # playback
        playing = active & self.playing
        available = self.buffer_s + gained
        runs_dry = playing & (available < dt)
        played = np.where(playing, np.minimum(dt, available), 0.0)
        self.play_s += played
        self.bitrate_seconds += played * bitrate
        self.stall_s += np.where(runs_dry, dt - available, 0.0)
        self.stalls += runs_dry
        self.buffer_s = np.where(playing, np.maximum(0.0, available - dt), self.buffer_s)
        self.playing &= ~runs_dry
        waiting = active & ~playing
        self.buffer_s = np.where(waiting, self.buffer_s + gained, self.buffer_s)
        self.stall_s += np.where(waiting & self.started, dt, 0.0)
        self.startup_s += np.where(waiting & ~self.started, dt, 0.0)
        resume = waiting & (self.buffer_s >= p.start_s)
        first = resume & ~self.started
        self.startup_total += np.where(first, self.startup_s, 0.0)
        self.startups_done += first
        self.playing |= resume
        self.started |= resume
        # rate-based choice with a buffer guard
        self.estimate = np.where(
            downloading,
            np.where(self.estimate > 0, (1 - p.ewma) * self.estimate + p.ewma * tput, tput),
            self.estimate,
        )
        best = np.searchsorted(ladder, p.safety * self.estimate, side="right") - 1
        best = np.clip(best, 0, len(ladder) - 1)
        low = self.started & (self.buffer_s < p.low_buffer_s)
        best = np.where(low, np.minimum(best, np.maximum(self.level - 1, 0)), best)
        changed = active & (best != self.level) & self.started
        self.switches += changed
        self.level = np.where(active, best, self.level)

    def _publish_features(self, rtt: FloatArray, loss: FloatArray) -> None:
        window = self._win_s
        features: dict[str, SubscriberFeatures] = {}
        for i in np.flatnonzero(self.active):
            requests = self._win_requests[i]
            subscriber = self._ids[i]
            features[subscriber] = SubscriberFeatures(
                subscriber=subscriber,
                node=self.nodes[self._node_of[i]],
                throughput_mbps=float(self._win_bytes[i] * 8 / 1e6 / window),
                rtt_ms=float(rtt[i]),
                retransmission_ratio=float(min(1.0, loss[i])),
                bytes=int(self.session_bytes[i]),
                mean_request_bytes=int(self._win_bytes[i] / requests) if requests > 0 else 0,
                request_interval_ms=float(window * 1000 / requests) if requests > 0 else 0.0,
                active_ratio=float(min(1.0, self._win_active[i] / window)),
            )
        self._features = features
        self._win_bytes[:] = 0.0
        self._win_active[:] = 0.0
        self._win_requests[:] = 0.0
        self._win_s = 0.0

    # ------------------------------------------------------------------ views

    def features(self, node: str) -> tuple[SubscriberFeatures, ...]:
        """The last measured flow features of the node's active subscribers, by id."""
        prefix = f"{node}-s"
        return tuple(f for key, f in sorted(self._features.items()) if key.startswith(prefix))

    def truth(self, node: str) -> NodeTruth:
        """Cumulative ground truth of the node's sessions since the lab started."""
        part = self._slices[node]
        play = float(self.play_s[part].sum())
        done = int(self.startups_done[part].sum())
        return NodeTruth(
            node=node,
            sessions=int(self.active[part].sum()),
            stalls=int(self.stalls[part].sum()),
            stall_s=float(self.stall_s[part].sum()),
            play_s=play,
            startup_s_mean=float(self.startup_total[part].sum() / done) if done else 0.0,
            mean_bitrate_mbps=float(self.bitrate_seconds[part].sum() / play) if play else 0.0,
            switches=int(self.switches[part].sum()),
        )

    def subscriber_ids(self, node: str) -> tuple[str, ...]:
        """Every player slot's subscriber id at ``node``."""
        return tuple(self._ids[self._slices[node]])
