"""The lab's flow-level network model: routing, link loads, per-class queueing and path KPIs.

One :meth:`NetworkModel.step` turns an instant, every device's running configuration
(:class:`lab.config.DeviceSettings`) and optional scenario multipliers into a frozen
:class:`NetworkState`. It is pure (no IO, time is an argument) and deterministic for a seed,
so the same class serves as the controller's what-if twin (:meth:`NetworkModel.evaluate`
takes measured rates instead of the lab's demand model).

Routing
    A link is up when the interfaces at both ends are enabled and awake (``power-mode
    active`` and not still waking), neither end's device is down and the link is not cut
    (:class:`NetworkConditions`): a sleeping or failed link carries nothing. Traffic to a
    destination follows the shortest paths by the sum of the *egress* interface metrics; a
    router splits it equally over all equal-cost next-hop ports (per-hop ECMP, so a path's
    share is the product of ``1/next hops`` along it). Demand without a route is lost at its origin.
    At most ``MAX_ECMP_PATHS`` paths per pair are kept (shares renormalised); the lab's
    hierarchical topologies stay far below that.

Scheduling, per egress port (capacity ``C``)
    Shapers first cap a class (the excess is dropped: a policer, not a delay). Then strict
    priority between levels, highest first; inside a level the classes share what the
    higher levels left by weighted max-min fairness (water-filling in proportion to the
    weights, a class never getting more than it offers). ``drop_ratio = 1 - served/offered``.
    A class with no traffic reports the drop a packet of it would see (1 if its level gets
    no capacity at all, else 0), which is what a probe of that class measures.

Queueing delay, per port and class: non-preemptive priority M/G/1 (Cobham, 1954)
    Traffic arrives as bursts of ``b = burst_bytes`` (64 KiB by default: TCP sends window-
    and TSO-sized bursts, which is why real 1-10 Gbit/s links show millisecond queues; with
    1500-byte packets the same load would give microseconds). With ``a_i`` the load of class
    i (its shaper-capped offered rate over ``C``)::

        T     = 8 b / C                           service time of one burst
        E[S²] = (1 + c²) T²                       c² = service_scv (1: exponential sizes)
        W0    = min(Σ a_i, 1) · E[S²] / (2 T)     mean residual work seen by an arrival
        σ_hi  = Σ a_i over levels above the class's level
        σ_at  = Σ a_i over levels at or above it
        W     = W0 / ((1 - σ_hi) (1 - σ_at))      if σ_at < 1, else the buffer
        delay = min(W, buffer_ms)

    ``Σ a_i`` is capped at 1 in ``W0`` because an overloaded port is simply always busy.
    A class whose level is overloaded (``σ_at >= 1``) sits in a full buffer: ``buffer_ms``
    (50 ms by default, a common per-port buffer of tens of milliseconds). With one class
    this is Pollaczek-Khinchine: ``W = a (1 + c²) T / (2 (1 - a))``. Raising a class's level
    can only shrink both ``σ`` terms, so it never raises the class's delay.

Load propagation
    What continues downstream is what was served upstream. Port loads and served ratios are
    found by fixed-point iteration: start with every ratio at 1 (all served), push each
    path's rate through its hops thinned by the ratios of the hops before, schedule every
    port, repeat until the loads stop changing. When no flow's path revisits a congested
    region (always so in tree-like and the shipped topologies) this is exact after at most
    (longest path + 1) rounds; the state records the rounds used and whether it converged.
    Every round is a handful of numpy operations over a (paths x hops x classes) array, and
    only ports whose load exceeds their capacity or a shaper run the Python scheduler.

Path KPIs, per (source, destination, class)
    ``latency = Σ (link delay + class queueing delay)`` along a path, ``loss = 1 - Π (1 -
    drop)``; over ECMP paths the mean weighted by each path's traffic share. Without a
    route: latency ``inf``, loss 1, no hops. KPIs exist for every pair that has a demand in
    either direction and for the model's extra ``probe_pairs``.

Degraded links (:class:`NetworkConditions`)
    A degraded link keeps a fraction of its capacity, adds propagation delay and loses a
    fraction of what it serves (bit errors): ``served = scheduled · (1 - loss)``, reported in
    the class's ``drop_ratio`` like a queue drop.

Demand multipliers
    Per class (``multipliers``) and per (destination site, class) (``site_multipliers``,
    e.g. a flash crowd at one site); they multiply.

Packet rates for SNMP counters assume ``mean_packet_bytes`` (800 B: an IMIX-like mix).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from lab.config import DeviceSettings, PowerMode, TrafficClass
from lab.topology import Topology
from lab.traffic import (
    CLASSES,
    DEFAULT_NOISE,
    DEFAULT_PROFILES,
    DailyProfile,
    Demand,
    NoiseSpec,
    demand_rates,
)

__all__ = [
    "DEFAULT_QUEUE",
    "MAX_ECMP_PATHS",
    "ClassState",
    "DeviceState",
    "FlowState",
    "NetworkConditions",
    "NetworkModel",
    "NetworkState",
    "PathKpi",
    "PortState",
    "QueueParameters",
    "queue_delays",
    "schedule",
]

MAX_ECMP_PATHS = 64
_CACHE_ENTRIES = 8  # routing/plan caches: a few recent link states (e.g. a what-if and back)
_N_CLASSES = len(CLASSES)
_CLASS_INDEX = {cls: i for i, cls in enumerate(CLASSES)}
_DEFAULT_SETTINGS = DeviceSettings()

_K = TypeVar("_K")
_V = TypeVar("_V")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class QueueParameters:
    """Constants of the queueing model (see the module docstring for why these values).

    Args:
        burst_bytes: size of one arrival burst (the M/G/1 "customer").
        service_scv: squared coefficient of variation of a burst's service time.
        buffer_ms: per-port buffer; the delay cap and the delay of an overloaded level.
        mean_packet_bytes: mean packet size, for packet-per-second counters.
    """

    burst_bytes: int = 65_536
    service_scv: float = 1.0
    buffer_ms: float = 50.0
    mean_packet_bytes: int = 800

    def __post_init__(self) -> None:
        if self.burst_bytes <= 0 or self.mean_packet_bytes <= 0:
            raise ValueError("burst and packet sizes must be positive")
        if not (self.service_scv >= 0 and self.buffer_ms > 0):
            raise ValueError("service_scv must be >= 0 and buffer_ms > 0")

    def service_time_ms(self, capacity_mbps: float) -> float:
        """Time to send one burst at ``capacity_mbps``, in ms."""
        return self.burst_bytes * 8 / (capacity_mbps * 1e3)


DEFAULT_QUEUE = QueueParameters()


@dataclass(frozen=True, slots=True)
class NetworkConditions:
    """What happens to the network that no configuration says: faults and transitions.

    Args:
        links_down: cut links (by link name).
        link_capacity: link name -> fraction of its capacity left (0 < f <= 1).
        link_loss: link name -> fraction of what it serves that is lost (0 <= l < 1).
        link_delay_ms: link name -> extra one-way delay.
        devices_down: devices that forward nothing (powered off, rebooting).
        ports_down: (device, port) pairs that carry nothing (e.g. still waking).

    Raises:
        ValueError: a factor or a loss out of range, or a negative delay.
    """

    links_down: frozenset[str] = frozenset()
    link_capacity: Mapping[str, float] = field(default_factory=dict)
    link_loss: Mapping[str, float] = field(default_factory=dict)
    link_delay_ms: Mapping[str, float] = field(default_factory=dict)
    devices_down: frozenset[str] = frozenset()
    ports_down: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        if any(not 0 < f <= 1 for f in self.link_capacity.values()):
            raise ValueError("a link keeps a fraction in (0, 1] of its capacity")
        if any(not 0 <= f < 1 for f in self.link_loss.values()):
            raise ValueError("link loss must be in [0, 1)")
        if any(not (d >= 0 and math.isfinite(d)) for d in self.link_delay_ms.values()):
            raise ValueError("extra link delay must be finite and >= 0")


NO_CONDITIONS = NetworkConditions()


# --------------------------------------------------------------------------- state types


@dataclass(frozen=True, slots=True)
class ClassState:
    """One class's egress queue on one port."""

    offered_mbps: float
    served_mbps: float
    queue_delay_ms: float
    drop_ratio: float

    @property
    def dropped_mbps(self) -> float:
        """Offered minus served."""
        return self.offered_mbps - self.served_mbps


@dataclass(frozen=True, slots=True)
class PortState:
    """One port: egress (tx) per class, and what the far end sends us (rx)."""

    name: str
    if_index: int
    peer: str  # "device:port" at the other end of the link
    capacity_mbps: float
    oper_up: bool
    tx_mbps: float
    rx_mbps: float
    utilization: float  # tx / capacity
    tx_pps: float
    rx_pps: float
    classes: Mapping[TrafficClass, ClassState]


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One device: its ports and its totals.

    ``originated_mbps`` is the demand starting here (``unroutable_mbps`` of it had no route),
    ``delivered_mbps`` the traffic that arrived here as its destination.
    """

    name: str
    ports: Mapping[str, PortState]
    tx_mbps: float
    rx_mbps: float
    tx_pps: float
    rx_pps: float
    originated_mbps: float
    delivered_mbps: float
    unroutable_mbps: float


@dataclass(frozen=True, slots=True)
class PathKpi:
    """What a probe of one class from ``source`` to ``destination`` measures."""

    source: str
    destination: str
    traffic_class: TrafficClass
    latency_ms: float  # inf without a route
    loss_ratio: float
    hops: tuple[str, ...]  # devices of the first equal-cost path, both ends included
    paths: tuple[tuple[str, ...], ...]  # all equal-cost paths (ECMP)


@dataclass(frozen=True, slots=True)
class FlowState:
    """One demand (origin, destination, class) end to end."""

    origin: str
    destination: str
    traffic_class: TrafficClass
    offered_mbps: float
    delivered_mbps: float
    unroutable_mbps: float

    @property
    def dropped_mbps(self) -> float:
        """Lost in queues along the route."""
        return self.offered_mbps - self.delivered_mbps - self.unroutable_mbps


@dataclass(frozen=True, slots=True)
class NetworkState:
    """The network at one instant."""

    at: datetime
    devices: Mapping[str, DeviceState]
    paths: Mapping[tuple[str, str, TrafficClass], PathKpi]
    flows: Mapping[tuple[str, str, TrafficClass], FlowState]
    iterations: int  # fixed-point rounds used
    converged: bool

    def port(self, device: str, port: str) -> PortState:
        """State of ``device``'s port ``port``.

        Raises:
            KeyError: no such device or port.
        """
        return self.devices[device].ports[port]

    def path(self, source: str, destination: str, traffic_class: TrafficClass) -> PathKpi:
        """KPIs of one (source, destination, class).

        Raises:
            KeyError: the model does not probe this pair.
        """
        return self.paths[(source, destination, traffic_class)]


# --------------------------------------------------------------------------- pure pieces


def _weighted_max_min(
    capacity: float, demands: Sequence[float], weights: Sequence[float]
) -> list[float]:
    allocation = [0.0] * len(demands)
    active = [i for i, d in enumerate(demands) if d > 0]
    remaining = capacity
    while active and remaining > 0:
        total_weight = sum(weights[i] for i in active)
        shares = {i: remaining * weights[i] / total_weight for i in active}
        satisfied = [i for i in active if demands[i] - allocation[i] <= shares[i]]
        if not satisfied:
            for i in active:
                allocation[i] += shares[i]
            return allocation
        for i in satisfied:
            remaining -= demands[i] - allocation[i]
            allocation[i] = demands[i]
        active = [i for i in active if i not in satisfied]
    return allocation


def _schedule_ratios(
    capacity: float,
    offered: Sequence[float],
    priorities: Sequence[int],
    weights: Sequence[float],
    caps: Sequence[float],
) -> list[float]:
    # served/offered per class; for a class without traffic, whether its level gets capacity
    eligible = [min(o, c) for o, c in zip(offered, caps, strict=True)]
    served = [0.0] * len(offered)
    starved = [False] * len(offered)
    remaining = capacity
    for level in sorted(set(priorities), reverse=True):
        members = [i for i, p in enumerate(priorities) if p == level]
        level_remaining = remaining
        shares = _weighted_max_min(
            remaining, [eligible[i] for i in members], [weights[i] for i in members]
        )
        for i, share in zip(members, shares, strict=True):
            served[i] = share
            starved[i] = level_remaining <= 0
        remaining = max(0.0, remaining - sum(shares))
    ratios = []
    for i, o in enumerate(offered):
        if o > 0:
            ratios.append(min(1.0, served[i] / o))
        else:
            ratios.append(0.0 if starved[i] else 1.0)
    return ratios


def schedule(
    capacity_mbps: float,
    offered_mbps: Sequence[float],
    priorities: Sequence[int],
    weights: Sequence[float],
    caps_mbps: Sequence[float] | None = None,
) -> tuple[float, ...]:
    """Served rate per class on one egress port.

    Strict priority between levels (higher first), weighted max-min sharing within a level
    of what higher levels leave, shapers capping a class.

    Args:
        capacity_mbps: the port's line rate.
        offered_mbps: offered rate per class.
        priorities: level per class.
        weights: weight per class (> 0).
        caps_mbps: shaper rate per class (``inf`` for none); None for no shapers.

    Returns:
        Served Mbit/s per class, in the order given.

    Raises:
        ValueError: the sequences differ in length or a weight is not positive.
    """
    count = len(offered_mbps)
    caps = [math.inf] * count if caps_mbps is None else list(caps_mbps)
    if not len(priorities) == len(weights) == len(caps) == count:
        raise ValueError("one priority, weight and cap per class")
    if any(w <= 0 for w in weights):
        raise ValueError("weights must be positive")
    ratios = _schedule_ratios(capacity_mbps, offered_mbps, priorities, weights, caps)
    return tuple(o * r for o, r in zip(offered_mbps, ratios, strict=True))


def _queue_delay_array(
    service_ms: FloatArray, loads: FloatArray, levels: IntArray, queue: QueueParameters
) -> FloatArray:
    # service_ms: (ports,), loads: (ports, classes) as fractions of capacity, levels likewise
    total = np.minimum(loads.sum(axis=1), 1.0)
    residual = total * (1.0 + queue.service_scv) * service_ms / 2.0  # W0 per port
    at_or_above = levels[:, None, :] >= levels[:, :, None]  # [port, class, other]
    above = levels[:, None, :] > levels[:, :, None]
    sigma_at = (loads[:, None, :] * at_or_above).sum(axis=2)
    sigma_hi = (loads[:, None, :] * above).sum(axis=2)
    overloaded = sigma_at >= 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = residual[:, None] / ((1.0 - sigma_hi) * (1.0 - sigma_at))
    wait = np.where(overloaded, queue.buffer_ms, wait)
    delays: FloatArray = np.minimum(wait, queue.buffer_ms)
    return delays


def queue_delays(
    capacity_mbps: float,
    loads_mbps: Sequence[float],
    priorities: Sequence[int],
    queue: QueueParameters = DEFAULT_QUEUE,
) -> tuple[float, ...]:
    """Mean queueing delay per class on one port (non-preemptive priority M/G/1).

    Args:
        capacity_mbps: the port's line rate.
        loads_mbps: the rate each class puts into the queue (shaper-capped offered rate).
        priorities: level per class.
        queue: the queueing constants.

    Returns:
        Delay in ms per class, in the order given.

    Raises:
        ValueError: the sequences differ in length.
    """
    if len(loads_mbps) != len(priorities):
        raise ValueError("one priority per class")
    loads = np.array([loads_mbps], dtype=float) / capacity_mbps
    levels = np.array([priorities], dtype=np.int64)
    service = np.array([queue.service_time_ms(capacity_mbps)])
    return tuple(float(d) for d in _queue_delay_array(service, loads, levels, queue)[0])


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True)
class _PathSet:
    ports: tuple[tuple[int, ...], ...]  # global port ids per path
    weights: tuple[float, ...]
    devices: tuple[tuple[str, ...], ...]


class _Routing:
    """Shortest-path distances and ECMP path sets for one link state (up + metrics)."""

    def __init__(self, model: NetworkModel, up: BoolArray, cost: IntArray) -> None:
        self._model = model
        self._dist: dict[int, FloatArray] = {}  # destination -> distance from every device
        self._on_shortest: dict[int, BoolArray] = {}  # destination -> edge is a next hop
        self._paths: dict[tuple[int, int], _PathSet] = {}
        self._nexthops: dict[tuple[int, int], tuple[int, ...]] = {}
        # the up ports as directed edges tail -> head, grouped by tail in port order
        ports = np.flatnonzero(up)
        order = np.argsort(model._port_device[ports], kind="stable")
        self._edge_ports: IntArray = ports[order]
        self._edge_tail = model._port_device[self._edge_ports]
        self._edge_head = model._port_peer_device[self._edge_ports]
        self._edge_cost = cost[self._edge_ports].astype(float)
        n_devices = len(model.device_names)
        self._edge_start = np.searchsorted(self._edge_tail, np.arange(n_devices + 1))
        if len(self._edge_ports):
            starts = np.flatnonzero(np.r_[True, self._edge_tail[1:] != self._edge_tail[:-1]])
        else:
            starts = np.zeros(0, dtype=np.int64)
        self._group_starts = starts
        self._group_tails = self._edge_tail[starts]

    def distances(self, destinations: Iterable[int]) -> None:
        """Compute distances to ``destinations`` (vectorised Bellman-Ford, all at once)."""
        missing = sorted({d for d in destinations if d not in self._dist})
        if not missing:
            return
        n = len(self._model.device_names)
        # (devices, destinations): relaxing every edge is one gather and one reduceat
        dist = np.full((n, len(missing)), np.inf)
        dist[missing, np.arange(len(missing))] = 0.0
        if len(self._edge_ports):
            for _ in range(n):
                via = self._edge_cost[:, None] + dist[self._edge_head]
                best = np.minimum.reduceat(via, self._group_starts, axis=0)
                improved = np.minimum(dist[self._group_tails], best)
                if np.array_equal(improved, dist[self._group_tails]):
                    break
                dist[self._group_tails] = improved
        via = self._edge_cost[:, None] + dist[self._edge_head]
        here = dist[self._edge_tail]
        on_shortest = (via == here) & np.isfinite(here)
        for column, destination in enumerate(missing):
            self._dist[destination] = dist[:, column]
            self._on_shortest[destination] = on_shortest[:, column]

    def _next_ports(self, device: int, destination: int) -> tuple[int, ...]:
        key = (device, destination)
        cached = self._nexthops.get(key)
        if cached is None:
            low, high = self._edge_start[device], self._edge_start[device + 1]
            chosen = np.flatnonzero(self._on_shortest[destination][low:high]) + low
            cached = tuple(int(p) for p in self._edge_ports[chosen])
            self._nexthops[key] = cached
        return cached

    def paths(self, source: int, destination: int) -> _PathSet:
        """The ECMP path set from ``source`` to ``destination`` (distances must be computed)."""
        key = (source, destination)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        found: list[tuple[tuple[int, ...], float]] = []
        if math.isfinite(self._dist[destination][source]):
            stack: list[tuple[int, tuple[int, ...], float]] = [(source, (), 1.0)]
            while stack and len(found) < MAX_ECMP_PATHS:
                device, ports, share = stack.pop()
                if device == destination:
                    found.append((ports, share))
                    continue
                nexthops = self._next_ports(device, destination)
                for port in reversed(nexthops):  # reversed: pop visits them in port order
                    head = int(self._model._port_peer_device[port])
                    stack.append((head, (*ports, port), share / len(nexthops)))
        total = sum(share for _, share in found)
        names = self._model.device_names
        result = _PathSet(
            ports=tuple(p for p, _ in found),
            weights=tuple(share / total for _, share in found),
            devices=tuple(
                (names[source], *(names[int(self._model._port_peer_device[q])] for q in p))
                for p, _ in found
            ),
        )
        self._paths[key] = result
        return result


@dataclass(frozen=True, slots=True)
class _Plan:
    """Padded hop arrays of every path of every pair, for one routing and pair list."""

    pairs: tuple[tuple[int, int], ...]
    path_sets: tuple[_PathSet, ...]
    hops: IntArray  # (paths, max hops), padded with the dummy port id
    path_pair: IntArray  # (paths,)
    path_weight: FloatArray  # (paths,)
    routed: BoolArray  # (pairs,)


def _build_plan(routing: _Routing, pairs: tuple[tuple[int, int], ...], dummy: int) -> _Plan:
    routing.distances(d for _, d in pairs)
    path_sets = tuple(routing.paths(s, d) for s, d in pairs)
    rows: list[tuple[int, ...]] = []
    path_pair: list[int] = []
    path_weight: list[float] = []
    for index, path_set in enumerate(path_sets):
        for ports, weight in zip(path_set.ports, path_set.weights, strict=True):
            rows.append(ports)
            path_pair.append(index)
            path_weight.append(weight)
    width = max((len(r) for r in rows), default=1)
    hops = np.full((len(rows), width), dummy, dtype=np.int64)
    for i, row in enumerate(rows):
        hops[i, : len(row)] = row
    return _Plan(
        pairs=pairs,
        path_sets=path_sets,
        hops=hops,
        path_pair=np.array(path_pair, dtype=np.int64),
        path_weight=np.array(path_weight, dtype=float),
        routed=np.array([bool(ps.ports) for ps in path_sets], dtype=bool),
    )


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class _Config:
    """The per-port view of every device's settings for one evaluation."""

    up: BoolArray  # (ports,)
    cost: IntArray  # (ports,)
    levels: IntArray  # (ports, classes)
    weights: FloatArray  # (ports, classes)
    caps: FloatArray  # (ports, classes), inf without a shaper
    capacity: FloatArray  # (ports,) line rate left (degraded links have less)
    loss: FloatArray  # (ports,) fraction lost on the link after scheduling
    delay: FloatArray  # (ports,) one-way propagation delay, extra delay included


@dataclass(frozen=True, slots=True)
class _Solution:
    offered: FloatArray  # (ports + 1, classes), last row the dummy
    ratio: FloatArray  # (ports + 1, classes)
    iterations: int
    converged: bool
    path_rates: FloatArray  # (paths, classes) at the origin


class NetworkModel:
    """The lab network as a function of time and configuration.

    Args:
        topology: devices and links.
        demands: the traffic the lab offers (peak rates; see :mod:`lab.traffic`).
        seed: seed of the demand noise; the same seed gives the same run.
        profiles: daily profile per class.
        noise: demand noise parameters.
        queue: queueing constants.
        probe_pairs: extra (source, destination) pairs to report KPIs for.
        max_iterations: bound on the load fixed-point rounds.

    Raises:
        ValueError: a demand or probe names an unknown device or goes nowhere.
    """

    def __init__(
        self,
        topology: Topology,
        demands: Sequence[Demand],
        *,
        seed: int,
        profiles: Mapping[TrafficClass, DailyProfile] = DEFAULT_PROFILES,
        noise: NoiseSpec = DEFAULT_NOISE,
        queue: QueueParameters = DEFAULT_QUEUE,
        probe_pairs: Iterable[tuple[str, str]] = (),
        max_iterations: int = 20,
    ) -> None:
        self.topology = topology
        self.demands = tuple(demands)
        self.seed = seed
        self.profiles = profiles
        self.noise = noise
        self.queue = queue
        self.max_iterations = max_iterations
        self.device_names: tuple[str, ...] = topology.device_names()
        self._device_index = {name: i for i, name in enumerate(self.device_names)}
        device_of_port: list[int] = []
        peer_device_of_port: list[int] = []
        capacity: list[float] = []
        delay: list[float] = []
        self._port_specs = tuple(p for name in self.device_names for p in topology.ports(name))
        self._port_index = {(p.device, p.name): i for i, p in enumerate(self._port_specs)}
        ports_of_device: list[list[int]] = [[] for _ in self.device_names]
        for i, spec in enumerate(self._port_specs):
            device_of_port.append(self._device_index[spec.device])
            peer_device_of_port.append(self._device_index[spec.peer.device])
            capacity.append(spec.link.capacity_mbps)
            delay.append(spec.link.delay_ms)
            ports_of_device[self._device_index[spec.device]].append(i)
        self._port_device: IntArray = np.array(device_of_port, dtype=np.int64)
        self._port_peer_device: IntArray = np.array(peer_device_of_port, dtype=np.int64)
        self._port_peer: IntArray = np.array(
            [self._port_index[(p.peer.device, p.peer.port)] for p in self._port_specs],
            dtype=np.int64,
        )
        self._device_ports = tuple(tuple(p) for p in ports_of_device)
        self._capacity: FloatArray = np.array(capacity, dtype=float)
        self._delay: FloatArray = np.array(delay, dtype=float)
        self._dummy = len(self._port_specs)
        # demand -> (pair, class) for the per-tick aggregation
        pairs: dict[tuple[int, int], None] = {}
        for demand in self.demands:
            pairs.setdefault(self._pair(demand.origin, demand.destination), None)
        for source_index, destination_index in list(pairs):
            pairs.setdefault((destination_index, source_index), None)
        for source, destination in probe_pairs:
            pairs.setdefault(self._pair(source, destination), None)
        self._pairs = tuple(pairs)
        pair_pos = {pair: i for i, pair in enumerate(self._pairs)}
        self._demand_pair = np.array(
            [pair_pos[self._pair(d.origin, d.destination)] for d in self.demands], dtype=np.int64
        )
        self._demand_class = np.array(
            [_CLASS_INDEX[d.traffic_class] for d in self.demands], dtype=np.int64
        )
        self._demand_site = tuple(topology.device(d.destination).site for d in self.demands)
        self._routings: dict[bytes, _Routing] = {}
        self._plans: dict[tuple[bytes, tuple[tuple[int, int], ...]], _Plan] = {}

    def _pair(self, source: str, destination: str) -> tuple[int, int]:
        if source not in self._device_index or destination not in self._device_index:
            raise ValueError(f"unknown device in pair {source}->{destination}")
        if source == destination:
            raise ValueError(f"pair {source}->{destination} goes nowhere")
        return self._device_index[source], self._device_index[destination]

    # ----------------------------------------------------------------- public API

    def step(
        self,
        now: datetime,
        settings: Mapping[str, DeviceSettings],
        *,
        multipliers: Mapping[TrafficClass, float] | None = None,
        site_multipliers: Mapping[tuple[str, TrafficClass], float] | None = None,
        conditions: NetworkConditions = NO_CONDITIONS,
    ) -> NetworkState:
        """The network at ``now`` under the given configuration.

        Args:
            now: a tz-aware instant of the lab clock.
            settings: running configuration per device; absent devices take the YANG
                defaults (every interface enabled at metric 10, every class at priority 0,
                weight 10).
            multipliers: per class demand factors from a scenario.
            site_multipliers: (destination site, class) -> demand factor.
            conditions: faults and transitions (cut or degraded links, devices down).

        Returns:
            The frozen state.

        Raises:
            ValueError: ``now`` is naive or a multiplier is negative.
        """
        rates = demand_rates(
            self.demands,
            now,
            seed=self.seed,
            profiles=self.profiles,
            noise=self.noise,
            multipliers=multipliers,
        )
        if site_multipliers:
            factors = np.array(
                [
                    site_multipliers.get((self._demand_site[i], d.traffic_class), 1.0)
                    for i, d in enumerate(self.demands)
                ],
                dtype=float,
            )
            if np.any(factors < 0) or not np.all(np.isfinite(factors)):
                raise ValueError("site multipliers must be finite and >= 0")
            rates = rates * factors
        pair_rates = np.zeros((len(self._pairs), _N_CLASSES))
        np.add.at(pair_rates, (self._demand_pair, self._demand_class), rates)
        return self._solve(now, settings, self._pairs, pair_rates, conditions)

    def evaluate(
        self,
        at: datetime,
        settings: Mapping[str, DeviceSettings],
        offered_mbps: Mapping[tuple[str, str, TrafficClass], float],
        *,
        conditions: NetworkConditions = NO_CONDITIONS,
    ) -> NetworkState:
        """The network carrying given rates instead of the demand model (the what-if twin).

        Args:
            at: the instant to stamp on the state.
            settings: running configuration per device (absent devices: YANG defaults).
            offered_mbps: (origin, destination, class) -> offered Mbit/s.
            conditions: faults and transitions, as in :meth:`step`.

        Returns:
            The frozen state; KPIs cover the model's pairs and those of ``offered_mbps``.

        Raises:
            ValueError: a pair names an unknown device or goes nowhere, or a rate is negative.
        """
        pairs: dict[tuple[int, int], None] = dict.fromkeys(self._pairs)
        for source, destination, _ in offered_mbps:
            pair = self._pair(source, destination)
            pairs.setdefault(pair, None)
            pairs.setdefault((pair[1], pair[0]), None)
        pair_list = tuple(pairs)
        index = {pair: i for i, pair in enumerate(pair_list)}
        pair_rates = np.zeros((len(pair_list), _N_CLASSES))
        for (source, destination, cls), rate in offered_mbps.items():
            if not (rate >= 0 and math.isfinite(rate)):
                raise ValueError(f"rate of {source}->{destination} {cls.value} must be >= 0")
            pair_rates[index[self._pair(source, destination)], _CLASS_INDEX[cls]] += rate
        return self._solve(at, settings, pair_list, pair_rates, conditions)

    # ----------------------------------------------------------------- internals

    def _config(
        self, settings: Mapping[str, DeviceSettings], conditions: NetworkConditions
    ) -> _Config:
        n_ports = len(self._port_specs)
        enabled = np.ones(n_ports, dtype=bool)
        cost = np.full(n_ports, 10, dtype=np.int64)
        levels = np.zeros((n_ports, _N_CLASSES), dtype=np.int64)
        weights = np.full((n_ports, _N_CLASSES), 10.0)
        caps = np.full((n_ports, _N_CLASSES), np.inf)
        for device_index, name in enumerate(self.device_names):
            device = settings.get(name, _DEFAULT_SETTINGS)
            ports = self._device_ports[device_index]
            if not ports:
                continue
            for port in ports:
                itf = device.interface(self._port_specs[port].name)
                enabled[port] = itf.enabled and itf.power_mode is PowerMode.ACTIVE
                cost[port] = itf.metric
            row_levels = [device.traffic_class(cls).priority for cls in CLASSES]
            row_weights = [float(device.traffic_class(cls).weight) for cls in CLASSES]
            levels[list(ports)] = row_levels
            weights[list(ports)] = row_weights
            for (itf_name, cls), rate in device.shapers.items():
                port_id = self._port_index.get((name, itf_name))
                if port_id is not None:
                    caps[port_id, _CLASS_INDEX[cls]] = float(rate)
        capacity = self._capacity.copy()
        loss = np.zeros(n_ports)
        delay = self._delay.copy()
        if conditions is not NO_CONDITIONS:
            for port, spec in enumerate(self._port_specs):
                link = spec.link.name
                if (
                    link in conditions.links_down
                    or spec.device in conditions.devices_down
                    or (spec.device, spec.name) in conditions.ports_down
                ):
                    enabled[port] = False
                capacity[port] *= conditions.link_capacity.get(link, 1.0)
                loss[port] = conditions.link_loss.get(link, 0.0)
                delay[port] += conditions.link_delay_ms.get(link, 0.0)
        up = enabled & enabled[self._port_peer]
        return _Config(
            up=up,
            cost=cost,
            levels=levels,
            weights=weights,
            caps=caps,
            capacity=capacity,
            loss=loss,
            delay=delay,
        )

    def _plan(self, config: _Config, pairs: tuple[tuple[int, int], ...]) -> _Plan:
        key = np.where(config.up, config.cost, -1).tobytes()
        routing = self._routings.get(key)
        if routing is None:
            routing = _Routing(self, config.up, config.cost)
            _remember(self._routings, key, routing)
        plan = self._plans.get((key, pairs))
        if plan is None:
            plan = _build_plan(routing, pairs, self._dummy)
            _remember(self._plans, (key, pairs), plan)
        return plan

    def _ratios(self, offered: FloatArray, config: _Config) -> FloatArray:
        n_ports = self._dummy
        load = offered[:n_ports]
        eligible = np.minimum(load, config.caps)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(load > 0, eligible / load, 1.0)
        congested = np.flatnonzero(eligible.sum(axis=1) > config.capacity)
        for port in congested:
            ratio[port] = _schedule_ratios(
                float(config.capacity[port]),
                load[port].tolist(),
                config.levels[port].tolist(),
                config.weights[port].tolist(),
                config.caps[port].tolist(),
            )
        if config.loss.any():
            ratio = ratio * (1.0 - config.loss)[:, None]
        return np.vstack([ratio, np.ones((1, _N_CLASSES))])

    def _propagate(self, plan: _Plan, path_rates: FloatArray, ratio: FloatArray) -> FloatArray:
        n_rows = self._dummy + 1
        offered = np.zeros((n_rows, _N_CLASSES))
        if not len(path_rates):
            return offered
        through = np.cumprod(ratio[plan.hops], axis=1)  # (paths, hops, classes)
        arriving = np.concatenate(
            [np.ones((len(path_rates), 1, _N_CLASSES)), through[:, :-1, :]], axis=1
        )
        contributions = path_rates[:, None, :] * arriving
        flat_hops = plan.hops.ravel()
        for c in range(_N_CLASSES):
            offered[:, c] = np.bincount(
                flat_hops, weights=contributions[:, :, c].ravel(), minlength=n_rows
            )
        offered[self._dummy] = 0.0
        return offered

    def _fixed_point(self, plan: _Plan, pair_rates: FloatArray, config: _Config) -> _Solution:
        path_rates = pair_rates[plan.path_pair] * plan.path_weight[:, None]
        ratio = np.ones((self._dummy + 1, _N_CLASSES))
        offered = self._propagate(plan, path_rates, ratio)
        ratio = self._ratios(offered, config)
        iterations, converged = 1, False
        while iterations < self.max_iterations:
            updated = self._propagate(plan, path_rates, ratio)
            iterations += 1
            same = np.allclose(updated, offered, rtol=1e-10, atol=1e-9)
            offered = updated
            ratio = self._ratios(offered, config)
            if same:
                converged = True
                break
        return _Solution(offered, ratio, iterations, converged, path_rates)

    def _solve(
        self,
        at: datetime,
        settings: Mapping[str, DeviceSettings],
        pairs: tuple[tuple[int, int], ...],
        pair_rates: FloatArray,
        conditions: NetworkConditions,
    ) -> NetworkState:
        config = self._config(settings, conditions)
        plan = self._plan(config, pairs)
        solution = self._fixed_point(plan, pair_rates, config)
        n_ports = self._dummy
        offered = solution.offered[:n_ports]
        ratio = solution.ratio
        served = offered * ratio[:n_ports]
        eligible = np.minimum(offered, config.caps)
        delays = _queue_delay_array(
            self.queue.burst_bytes * 8 / (config.capacity * 1e3),
            eligible / config.capacity[:, None],
            config.levels,
            self.queue,
        )
        # per path: end-to-end delivered share, propagation + queueing latency
        hops = plan.hops
        delivered_share = np.prod(ratio[hops], axis=1)  # (paths, classes)
        delay_ext = np.concatenate([config.delay, [0.0]])
        queue_ext = np.vstack([delays, np.zeros((1, _N_CLASSES))])
        path_latency = delay_ext[hops].sum(axis=1)[:, None] + queue_ext[hops].sum(axis=1)
        path_delivered = solution.path_rates * delivered_share
        n_pairs = len(pairs)
        pair_latency = np.zeros((n_pairs, _N_CLASSES))
        pair_delivery = np.zeros((n_pairs, _N_CLASSES))
        pair_delivered = np.zeros((n_pairs, _N_CLASSES))
        np.add.at(pair_latency, plan.path_pair, path_latency * plan.path_weight[:, None])
        np.add.at(pair_delivery, plan.path_pair, delivered_share * plan.path_weight[:, None])
        np.add.at(pair_delivered, plan.path_pair, path_delivered)
        devices = self._device_states(
            offered, served, ratio, delays, config, plan, pair_rates, pair_delivered
        )
        paths: dict[tuple[str, str, TrafficClass], PathKpi] = {}
        flows: dict[tuple[str, str, TrafficClass], FlowState] = {}
        names = self.device_names
        latency_rows = pair_latency.tolist()
        loss_rows = np.clip(1.0 - pair_delivery, 0.0, 1.0).tolist()
        rate_rows, delivered_rows = pair_rates.tolist(), pair_delivered.tolist()
        for i, (s, d) in enumerate(pairs):
            path_set = plan.path_sets[i]
            routed = bool(plan.routed[i])
            source, destination = names[s], names[d]
            first_path = path_set.devices[0] if routed else ()
            for c, cls in enumerate(CLASSES):
                key = (source, destination, cls)
                paths[key] = PathKpi(
                    source=source,
                    destination=destination,
                    traffic_class=cls,
                    latency_ms=latency_rows[i][c] if routed else math.inf,
                    loss_ratio=loss_rows[i][c] if routed else 1.0,
                    hops=first_path,
                    paths=path_set.devices,
                )
                rate = rate_rows[i][c]
                if rate > 0:
                    flows[key] = FlowState(
                        origin=source,
                        destination=destination,
                        traffic_class=cls,
                        offered_mbps=rate,
                        delivered_mbps=delivered_rows[i][c] if routed else 0.0,
                        unroutable_mbps=0.0 if routed else rate,
                    )
        return NetworkState(
            at=at,
            devices=devices,
            paths=paths,
            flows=flows,
            iterations=solution.iterations,
            converged=solution.converged,
        )

    def _device_states(
        self,
        offered: FloatArray,
        served: FloatArray,
        ratio: FloatArray,
        delays: FloatArray,
        config: _Config,
        plan: _Plan,
        pair_rates: FloatArray,
        pair_delivered: FloatArray,
    ) -> dict[str, DeviceState]:
        n_devices = len(self.device_names)
        pair_source = np.array([s for s, _ in plan.pairs], dtype=np.int64)
        pair_destination = np.array([d for _, d in plan.pairs], dtype=np.int64)
        pair_totals = pair_rates.sum(axis=1)
        originated = np.bincount(pair_source, weights=pair_totals, minlength=n_devices)
        unroutable = np.bincount(
            pair_source, weights=pair_totals * ~plan.routed, minlength=n_devices
        )
        delivered = np.bincount(
            pair_destination, weights=pair_delivered.sum(axis=1), minlength=n_devices
        )
        tx_array = served.sum(axis=1)
        rx_array = tx_array[self._port_peer]
        to_pps = 1e6 / (8 * self.queue.mean_packet_bytes)
        # plain Python lists: building ~10^4 small objects from numpy scalars is the hot spot
        tx, rx = tx_array.tolist(), rx_array.tolist()
        utilization = (tx_array / config.capacity).tolist()
        capacity = config.capacity.tolist()
        up = config.up.tolist()
        offered_rows, served_rows = offered.tolist(), served.tolist()
        delay_rows = delays.tolist()
        drop_rows = np.clip(1.0 - ratio, 0.0, 1.0).tolist()
        devices: dict[str, DeviceState] = {}
        for device_index, name in enumerate(self.device_names):
            ports: dict[str, PortState] = {}
            for port in self._device_ports[device_index]:
                spec = self._port_specs[port]
                row_offered, row_served = offered_rows[port], served_rows[port]
                row_delay, row_drop = delay_rows[port], drop_rows[port]
                ports[spec.name] = PortState(
                    name=spec.name,
                    if_index=spec.if_index,
                    peer=str(spec.peer),
                    capacity_mbps=capacity[port],
                    oper_up=up[port],
                    tx_mbps=tx[port],
                    rx_mbps=rx[port],
                    utilization=utilization[port],
                    tx_pps=tx[port] * to_pps,
                    rx_pps=rx[port] * to_pps,
                    classes={
                        cls: ClassState(row_offered[c], row_served[c], row_delay[c], row_drop[c])
                        for c, cls in enumerate(CLASSES)
                    },
                )
            device_tx = sum(p.tx_mbps for p in ports.values())
            device_rx = sum(p.rx_mbps for p in ports.values())
            devices[name] = DeviceState(
                name=name,
                ports=ports,
                tx_mbps=device_tx,
                rx_mbps=device_rx,
                tx_pps=device_tx * to_pps,
                rx_pps=device_rx * to_pps,
                originated_mbps=float(originated[device_index]),
                delivered_mbps=float(delivered[device_index]),
                unroutable_mbps=float(unroutable[device_index]),
            )
        return devices


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    # bounded: drop the oldest entry (dicts keep insertion order)
    if len(cache) >= _CACHE_ENTRIES:
        del cache[next(iter(cache))]
    cache[key] = value
