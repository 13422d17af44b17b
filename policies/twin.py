"""The what-if twin: the lab's pure network model fed with what the controller observed.

The model is :class:`lab.network.NetworkModel` (pure code, no IO; DESIGN §6): the same
routing, scheduling and queueing the lab runs. What the twin feeds it is the controller's
own knowledge, never the lab's state:

- **topology**: the operator's topology file (the lab's YAML format, see
  :func:`twin_spec_from_text`): devices with role and site, links with capacity, delay and
  metric, and the datasheet power profiles. Its ``demands`` are ignored.
- **configuration**: each device's running configuration as sensed over NETCONF
  (:func:`lab_settings`); a device whose configuration is unknown is assumed at the
  topology's startup settings.
- **conditions**: what the devices report that configuration does not say: a port that is
  down while both ends are enabled and awake (a cut), a port still waking, a line rate
  below the link's nominal capacity (a degraded link), and loss the queues do not explain
  (the smallest drop ratio among the port's classes with traffic: a priority class is not
  dropped by the scheduler, so what it loses the link lost).
- **demands**: estimated from counters (:func:`estimate_demands`). Per class, the offered
  rate of every (origin, destination) pair of traffic endpoints (devices of role ``edge``
  or ``access``: transit routers originate no subscriber traffic) is the non-negative
  least-squares fit of the per-port, per-class offered rates the devices report, through
  the routing the twin computes for the sensed configuration (ECMP shares included),
  regularised towards a gravity model (origin volume x destination volume) so that the
  split stays defined where the measurements do not decide it.

What the twin does not model (demand noise inside a tick, measurement delay, radio access
beyond the IP network, extra link delay) is exactly what makes its accuracy a measurement:
the loop records predicted against observed after every change.

Pure: observations and time in, model states out. The model instance keeps bounded caches of
routings (memoisation, not state that changes an answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from controller.model import (
    DeviceConfig,
    Intent,
    Observation,
    PowerMode,
    PowerState,
    TrafficClass,
)
from lab.config import (
    CarrierSettings,
    ClassSettings,
    DeviceSettings,
    InterfaceSettings,
    SubscriberSettings,
)
from lab.config import PowerMode as LabPowerMode
from lab.config import TrafficClass as LabClass
from lab.network import NetworkConditions, NetworkModel, NetworkState, PathKpi
from lab.power import device_power
from lab.radio import radio_state
from lab.topology import LabSpec, Role, Topology, parse_lab, startup_settings
from policies._scipy import nonnegative_least_squares

__all__ = [
    "ENDPOINT_ROLES",
    "Demands",
    "Twin",
    "TwinView",
    "endpoint_transit",
    "lab_class",
    "lab_settings",
    "twin_spec_from_text",
]

# (origin, destination, class) -> offered Mbit/s
Demands = Mapping[tuple[str, str, LabClass], float]

ENDPOINT_ROLES = frozenset({Role.EDGE, Role.ACCESS})
MAX_LEAST_SQUARES_ENDPOINTS = 40  # beyond: the gravity model alone (pairs grow as n^2)
_PRIOR_WEIGHT = 0.05  # weight of the gravity prior against the measurements
_MIN_DEMAND_MBPS = 0.01


def probe_pairs(intents: Iterable[Intent]) -> list[tuple[str, str]]:
    """The (source, destination) of every e2e path the intents name: the probes the twin
    calibrates its view on (:meth:`Twin.observe`)."""
    return [
        (e.objects.path.source, e.objects.path.destination)
        for i in intents
        for e in i.expectations
        if e.objects.path is not None
    ]


def lab_class(traffic_class: TrafficClass) -> LabClass:
    """The lab model's class of a controller traffic class (same YANG enumeration)."""
    return LabClass(traffic_class.value)


def twin_spec_from_text(text: str, path: str = "<string>") -> LabSpec:
    """Parse an operator's topology file (the lab's YAML format) for the twin.

    Args:
        text: the YAML text (the caller reads the file: policies do no IO).
        path: the file name, for errors.

    Returns:
        Topology and power profiles; the file's ``demands`` are ignored by the twin.

    Raises:
        lab.topology.TopologyError: the document is not a valid topology.
    """
    return parse_lab(text, path)


def lab_settings(config: DeviceConfig) -> DeviceSettings:
    """A sensed configuration as the network model's device settings."""
    return DeviceSettings(
        interfaces={
            itf.name: InterfaceSettings(
                enabled=itf.enabled,
                metric=itf.metric,
                power_mode=LabPowerMode(itf.power_mode.value),
            )
            for itf in config.interfaces
        },
        classes={
            lab_class(cls.name): ClassSettings(priority=cls.priority, weight=cls.weight)
            for cls in config.classes
        },
        shapers={
            (shp.interface, lab_class(shp.traffic_class)): shp.rate_mbps for shp in config.shapers
        },
        carriers={
            c.name: CarrierSettings(LabPowerMode(c.power_mode.value)) for c in config.carriers
        },
        subscribers={
            s.id: SubscriberSettings(s.max_rate_mbps, s.min_rate_mbps) for s in config.subscribers
        },
    )


@dataclass(frozen=True, slots=True)
class TwinView:
    """The twin loaded with one tick's observations.

    Args:
        at: when the observations were taken.
        configs: the configuration assumed per device (sensed, or the startup one).
        settings: the same as the model's device settings.
        conditions: faults and transitions inferred from the devices' state.
        demands: the estimated demand matrix.
        state: the model's state for all of the above (the twin's "now").
        fit_error: relative error of the estimate on the measured port loads (0 = exact).
        sensed: devices whose configuration was sensed (the others are assumed).
    """

    at: datetime
    configs: Mapping[str, DeviceConfig]
    settings: Mapping[str, DeviceSettings]
    conditions: NetworkConditions
    demands: Demands
    state: NetworkState
    fit_error: float
    sensed: frozenset[str] = frozenset()
    probe_pairs: tuple[tuple[str, str], ...] = field(default=())

    def total_by_class(self) -> dict[LabClass, float]:
        """Estimated offered Mbit/s per class over the whole network."""
        totals = dict.fromkeys(LabClass, 0.0)
        for (_, _, cls), rate in self.demands.items():
            totals[cls] += rate
        return totals


class Twin:
    """The what-if twin of one network (see the module docstring).

    Args:
        spec: the operator's topology file, parsed (its demands are ignored).
    """

    def __init__(self, spec: LabSpec) -> None:
        self.spec = spec
        self.topology: Topology = spec.topology
        self.model = NetworkModel(spec.topology, (), seed=0)
        self._startup = startup_settings(spec.topology)
        self.endpoints: tuple[str, ...] = tuple(
            d.name for d in spec.topology.devices if d.role in ENDPOINT_ROLES
        )

    # ------------------------------------------------------------------ loading

    def observe(
        self,
        observations: Mapping[str, Observation],
        *,
        now: datetime,
        probe_pairs: Iterable[tuple[str, str]] = (),
    ) -> TwinView:
        """Load the twin with one tick's observations.

        Args:
            observations: the latest observation per device.
            now: the current time.
            probe_pairs: (source, destination) pairs whose KPIs callers need (intent paths).

        Returns:
            The loaded twin.
        """
        configs: dict[str, DeviceConfig] = {}
        sensed: set[str] = set()
        for name in self.model.device_names:
            observation = observations.get(name)
            if observation is not None and observation.config is not None:
                configs[name] = observation.config
                sensed.add(name)
        settings = {
            name: lab_settings(configs[name]) if name in configs else self._startup[name]
            for name in self.model.device_names
        }
        conditions = self.conditions(observations, settings)
        pairs = tuple(
            (s, d)
            for s, d in dict.fromkeys(probe_pairs)
            if s != d and self.topology.has_device(s) and self.topology.has_device(d)
        )
        demands, fit_error = self.estimate_demands(observations, settings, conditions, now=now)
        state = self.evaluate(now, settings, demands, conditions, probe_pairs=pairs)
        return TwinView(
            at=now,
            configs=configs,
            settings=settings,
            conditions=conditions,
            demands=demands,
            state=state,
            fit_error=fit_error,
            sensed=frozenset(sensed),
            probe_pairs=pairs,
        )

    def conditions(
        self, observations: Mapping[str, Observation], settings: Mapping[str, DeviceSettings]
    ) -> NetworkConditions:
        """Faults and transitions the devices report (see the module docstring)."""
        links_down: set[str] = set()
        capacity: dict[str, float] = {}
        loss: dict[str, float] = {}
        ports_down: set[tuple[str, str]] = set()
        for link in self.topology.links:
            ends = (link.a, link.b)
            configured_up = all(
                settings[e.device].interface(e.port).enabled
                and settings[e.device].interface(e.port).power_mode is LabPowerMode.ACTIVE
                for e in ends
            )
            for end in ends:
                observation = observations.get(end.device)
                port = observation.port(end.port) if observation is not None else None
                if port is None:
                    continue
                if port.power_state is PowerState.WAKING:
                    ports_down.add((end.device, end.port))
                elif configured_up and not port.oper_up:
                    links_down.add(link.name)
                if port.oper_up and 0 < port.speed_mbps < link.capacity_mbps * 0.999:
                    capacity[link.name] = min(
                        capacity.get(link.name, 1.0), port.speed_mbps / link.capacity_mbps
                    )
                lost = _unexplained_loss(observation, end.port) if observation else 0.0
                if lost > 1e-4:
                    loss[link.name] = max(loss.get(link.name, 0.0), min(lost, 0.99))
        return NetworkConditions(
            links_down=frozenset(links_down),
            link_capacity=capacity,
            link_loss={k: v for k, v in loss.items() if k not in links_down},
            ports_down=frozenset(ports_down),
        )

    # ------------------------------------------------------------------ what-if

    def evaluate(
        self,
        at: datetime,
        settings: Mapping[str, DeviceSettings],
        demands: Demands,
        conditions: NetworkConditions,
        *,
        probe_pairs: Iterable[tuple[str, str]] = (),
    ) -> NetworkState:
        """The model's state for a configuration and a demand matrix."""
        offered: dict[tuple[str, str, LabClass], float] = dict(demands)
        for source, destination in probe_pairs:
            offered.setdefault((source, destination, LabClass.BEST_EFFORT), 0.0)
        return self.model.evaluate(at, settings, offered, conditions=conditions)

    def what_if(
        self,
        view: TwinView,
        configs: Mapping[str, DeviceConfig],
        *,
        scale: Mapping[LabClass, float] | None = None,
        demands: Demands | None = None,
    ) -> NetworkState:
        """The state with some devices' configurations replaced (and demands scaled).

        Args:
            view: the loaded twin.
            configs: device -> the configuration it would hold.
            scale: per class demand factors (e.g. a load forecast); None for 1.
            demands: a demand matrix to use instead of the estimate.

        Returns:
            The predicted state.
        """
        settings = self.settings_with(view, configs)
        matrix = view.demands if demands is None else demands
        if scale:
            matrix = {key: rate * scale.get(key[2], 1.0) for key, rate in matrix.items()}
        return self.evaluate(
            view.at, settings, matrix, view.conditions, probe_pairs=view.probe_pairs
        )

    def power(
        self, state: NetworkState, settings: Mapping[str, DeviceSettings]
    ) -> dict[str, float]:
        """Watts per device the power model gives for a state and its settings.

        The same datasheet profiles and EARTH radio model the lab draws from; ports that
        are still waking and devices that are down are not modelled (a what-if is about
        settled states).
        """
        watts: dict[str, float] = {}
        spec = self.spec
        for device in self.topology.devices:
            radio = None
            if device.radio is not None:
                radio = radio_state(
                    device.radio,
                    spec.radio_profiles,
                    settings[device.name],
                    state.devices[device.name].delivered_mbps,
                )
            watts[device.name] = device_power(
                device,
                self.topology,
                spec.router_profiles[device.power_profile],
                state.devices[device.name],
                settings[device.name],
                radio=radio,
            ).total_w
        return watts

    def settings_with(
        self, view: TwinView, configs: Mapping[str, DeviceConfig]
    ) -> dict[str, DeviceSettings]:
        """The view's device settings with some devices' configurations replaced."""
        settings = dict(view.settings)
        for name, config in configs.items():
            settings[name] = lab_settings(config)
        return settings

    # ------------------------------------------------------------------ demands

    def estimate_demands(
        self,
        observations: Mapping[str, Observation],
        settings: Mapping[str, DeviceSettings],
        conditions: NetworkConditions,
        *,
        now: datetime,
    ) -> tuple[dict[tuple[str, str, LabClass], float], float]:
        """The demand matrix that explains the reported per-port, per-class loads.

        Returns:
            ``(demands, relative fit error)``.
        """
        endpoints = self.endpoints
        pairs = [(o, d) for o in endpoints for d in endpoints if o != d]
        if not pairs:
            return {}, 0.0
        routing = self.evaluate(
            now, settings, {(o, d, LabClass.BEST_EFFORT): 0.0 for o, d in pairs}, conditions
        )
        port_rows: dict[tuple[str, str], int] = {}
        for name in self.model.device_names:
            for spec in self.topology.ports(name):
                port_rows[(name, spec.name)] = len(port_rows)
        incidence = np.zeros((len(port_rows), len(pairs)))
        for column, (origin, destination) in enumerate(pairs):
            kpi = routing.paths.get((origin, destination, LabClass.BEST_EFFORT))
            if kpi is None:
                continue
            for (device, port), share in _port_shares(self.topology, routing, kpi).items():
                incidence[port_rows[(device, port)], column] += share
        measured, known = _measured_loads(observations, port_rows)
        demands: dict[tuple[str, str, LabClass], float] = {}
        residual = total = 0.0
        rows = np.flatnonzero(known)
        for c, cls in enumerate(LabClass):
            y = measured[rows, c]
            prior = _gravity(pairs, endpoints, observations, self.topology, cls)
            if len(endpoints) > MAX_LEAST_SQUARES_ENDPOINTS or not len(rows):
                x = prior
            else:
                x = _fit(incidence[rows], y, prior)
            predicted = incidence[rows] @ x
            residual += float(np.abs(predicted - y).sum())
            total += float(np.abs(y).sum())
            for (origin, destination), rate in zip(pairs, x.tolist(), strict=True):
                if rate > _MIN_DEMAND_MBPS:
                    demands[(origin, destination, cls)] = rate
        return demands, residual / total if total > 0 else 0.0


def _unexplained_loss(observation: Observation, interface: str) -> float:
    """Loss on a port that its scheduler does not explain (see the module docstring)."""
    drops = [
        q.drop_ratio for q in observation.queues if q.interface == interface and q.offered_mbps > 0
    ]
    return min(drops) if drops else 0.0


def _port_shares(
    topology: Topology, state: NetworkState, kpi: PathKpi
) -> dict[tuple[str, str], float]:
    """Share of a pair's traffic on each egress port: per-hop ECMP, as the model routes."""
    if not kpi.paths:
        return {}
    nexthops: dict[str, set[str]] = {}
    for path in kpi.paths:
        for here, there in zip(path, path[1:], strict=False):
            nexthops.setdefault(here, set()).add(there)
    shares: dict[tuple[str, str], float] = {}
    for path in kpi.paths:
        share = 1.0
        for here in path[:-1]:
            share /= len(nexthops[here])
        for here, there in zip(path, path[1:], strict=False):
            ports = [
                spec.name
                for spec in topology.ports(here)
                if spec.peer.device == there and state.port(here, spec.name).oper_up
            ] or [topology.links_between(here, there)[0].end(here).port]
            for port in ports:
                key = (here, port)
                shares[key] = shares.get(key, 0.0) + share / len(ports)
    return shares


def _measured_loads(
    observations: Mapping[str, Observation], port_rows: Mapping[tuple[str, str], int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    measured = np.zeros((len(port_rows), len(LabClass)))
    known = np.zeros(len(port_rows), dtype=bool)
    index = {cls: i for i, cls in enumerate(LabClass)}
    for name, observation in observations.items():
        for queue in observation.queues:
            row = port_rows.get((name, queue.interface))
            if row is None:
                continue
            measured[row, index[lab_class(queue.traffic_class)]] = queue.offered_mbps
            known[row] = True
    return measured, known


def _gravity(
    pairs: list[tuple[str, str]],
    endpoints: tuple[str, ...],
    observations: Mapping[str, Observation],
    topology: Topology,
    cls: LabClass,
) -> npt.NDArray[np.float64]:
    """Origin volume x destination volume, from the endpoints' own ports."""
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    for name in endpoints:
        observation = observations.get(name)
        ports = {spec.name for spec in topology.ports(name)}
        if observation is not None:
            sent[name] = sum(
                q.offered_mbps * (1 - q.drop_ratio)
                for q in observation.queues
                if q.interface in ports and q.traffic_class.value == cls.value
            )
        got = 0.0
        for spec in topology.ports(name):
            peer = observations.get(spec.peer.device)
            if peer is None:
                continue
            got += sum(
                q.offered_mbps * (1 - q.drop_ratio)
                for q in peer.queues
                if q.interface == spec.peer.port and q.traffic_class.value == cls.value
            )
        received[name] = got
    prior = np.zeros(len(pairs))
    for i, (origin, destination) in enumerate(pairs):
        sinks = sum(received.get(d, 0.0) for d in endpoints if d != origin)
        if sinks > 0:
            prior[i] = sent.get(origin, 0.0) * received.get(destination, 0.0) / sinks
    return prior


def _fit(
    incidence: npt.NDArray[np.float64],
    measured: npt.NDArray[np.float64],
    prior: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Non-negative least squares of the measurements, pulled towards the prior."""
    scale = max(float(np.abs(measured).max(initial=0.0)), 1.0)
    n = incidence.shape[1]
    design = np.vstack([incidence, _PRIOR_WEIGHT * np.eye(n)])
    target = np.concatenate([measured, _PRIOR_WEIGHT * prior]) / scale
    solution: npt.NDArray[np.float64] = nonnegative_least_squares(design, target) * scale
    return solution


def with_power_modes(
    config: DeviceConfig,
    *,
    ports: Mapping[str, PowerMode] | None = None,
    carriers: Mapping[str, PowerMode] | None = None,
) -> DeviceConfig:
    """A configuration with some ports' and carriers' power modes set."""
    interfaces = {itf.name: itf for itf in config.interfaces}
    for name, mode in (ports or {}).items():
        interfaces[name] = replace(config.interface(name), power_mode=mode)
    carrier_map = {c.name: c for c in config.carriers}
    for name, mode in (carriers or {}).items():
        carrier_map[name] = replace(config.carrier(name), power_mode=mode)
    return replace(
        config,
        interfaces=tuple(interfaces[n] for n in sorted(interfaces)),
        carriers=tuple(carrier_map[n] for n in sorted(carrier_map)),
    )


def endpoint_transit(
    state: NetworkState, endpoints: Iterable[str]
) -> set[tuple[str, str, LabClass]]:
    """Demands of ``state`` with a route (any equal-cost one) through a traffic endpoint
    that is neither of its ends. An endpoint (edge, access) forwards only its own traffic: a
    route through an access node couples its subscribers to another node's load (a flash
    crowd behind one fills the other's uplink), and no operator routes transit through
    customer access."""
    through = frozenset(endpoints)
    return {
        key
        for key, kpi in state.paths.items()
        if key in state.flows and any(hop in through for path in kpi.paths for hop in path[1:-1])
    }
