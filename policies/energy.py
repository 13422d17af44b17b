"""The energy-saving policy: which links, line cards and radio carriers sleep, by a MILP.

Pure: the tick's world in (topology and power profiles through the twin, sensed power and
configuration, estimated demands, the load forecast), a proposal out.

The program (:func:`sleep_plan`, solved by ``scipy.optimize.milp``/HiGHS) maximises the
watts saved::

    max  Σ_l w_l s_l + Σ_k w_k c_k + Σ_j w_j r_j  -  ε Σ (changes from what runs now)

over binary ``s_l`` (link ``l`` sleeps: both its ports), ``c_k`` (line card ``k`` sleeps:
only when every one of its ports does), ``r_j`` (radio carrier ``j`` sleeps), subject to:

- **every demand routable, with headroom**: a multi-commodity flow (one commodity per
  origin) of the forecast demand, the load forecast's upper quantile at the horizon
  (wake lead time + the intent's cooldown), fits into ``maxUtilization x capacity`` of the
  awake links (a slack, priced far above any saving, keeps the program feasible when the
  network is short of capacity even fully awake, and forbids sleeping what carries it);
- **N+1** (``redundancy: n+1``): every pair of traffic endpoints keeps two link-disjoint
  paths over awake links (a 2-unit flow on unit capacities; Menger), so one failure leaves
  every demand routable;
- **the coverage layer stays on**: only capacity-layer carriers (topology ``layer:
  capacity``, the default) may sleep; a coverage carrier (``layer: coverage``, e.g. LTE 800
  under NR 3.5 GHz) is fixed awake, since the capacity band's smaller footprint would leave
  coverage holes an operator would not accept, and one found asleep is woken;
- **every covered area served**: each radio site sleeps exactly one of its allowed carrier
  patterns (one binary per pattern): every cell keeps an awake carrier of its own or of an
  overlapping cell (two with ``n+1``), and after the handover rule (a cell without an awake
  carrier hands its load equally to its overlapping cells that have one) every awake cell's
  forecast load fits, with headroom, into its awake carriers. The rule is nonlinear and a
  site has few carriers, so the patterns are enumerated (exact, where rows would relax it);
- **holds**: an element changed within the intent's cooldown keeps its state (no flapping;
  dropped only when the program is infeasible with them).

The routing the network really uses is shortest-path by metric, not the program's flow, so
every solution is checked on the twin (forecast demand, real routing): nothing routed less
than fully awake, no port pushed by the plan above ``maxUtilization`` (a port the load fills
fully awake is the network's limit, not the plan's), and every e2e-qos intent's path
predicted to meet its targets or at least not made worse; a solution that fails gets a cut
(not this set of sleeping elements again) and the program is solved again.

What the policy proposes: wakes first, on their own (restorative: they act at once, ahead of
the forecast load by the wake lead time), then sleeps (an optimisation: acted on once the
same plan stood for the hysteresis), limited to the intent's devices per change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from controller.model import (
    ConfigEdit,
    DeviceConfig,
    EditOp,
    Expectation,
    ExpectationType,
    Intent,
    PowerMode,
    PowerState,
)
from intents.contexts import expectation_applies, redundancy, wake_lead_time
from lab.config import TrafficClass as LabClass
from lab.equipment import RadioSpec
from lab.topology import Link
from policies._scipy import solve_milp
from policies.base import ActionKind, Candidate, Proposal, World
from policies.predict import max_utilization, meets, twin_targets
from policies.twin import Twin, TwinView, endpoint_transit, with_power_modes

__all__ = ["EnergyReport", "SleepSolution", "energy_report", "propose_energy", "sleep_plan"]

_SLACK_COST = 1e4  # per Mbit/s over headroom: far above any saving
_SWITCH_COST_W = 15.0  # per element changed: prefer the running state on ties
_MAX_CUTS = 12
_CONFIG_RADIO = "radio"
_COVERAGE_WHY = (
    "only capacity-layer carriers sleep: the coverage layer (e.g. LTE 800) stays on, since "
    "the capacity band's smaller footprint would leave coverage holes"
)


@dataclass(frozen=True, slots=True)
class EnergyReport:
    """Power of an expectation's devices now, and what they would draw fully awake."""

    total_w: float
    reference_w: float

    @property
    def reduction_ratio(self) -> float:
        """Saved share of the fully-awake power."""
        return 1.0 - self.total_w / self.reference_w if self.reference_w > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SleepSolution:
    """The program's answer.

    Args:
        links: links that sleep.
        carriers: (device, carrier) that sleep.
        cards: (device, card) that sleep as a consequence.
        saved_w: estimated watts saved against fully awake.
        cuts: how many twin checks failed before this answer.
        status: ``optimal``, ``held`` (holds dropped to stay feasible) or why none.
        checks: the twin's check of the answer (routed, utilisation, QoS paths).
    """

    links: frozenset[str]
    carriers: frozenset[tuple[str, str]]
    cards: frozenset[tuple[str, str]]
    saved_w: float
    cuts: int
    status: str
    checks: Mapping[str, object] = field(default_factory=dict)


def _resources(expectation: Expectation) -> frozenset[str]:
    resources = getattr(expectation.objects, "resources", ()) or ("links",)
    return frozenset(resources)


def _utilization_bound(expectation: Expectation) -> float:
    for target in expectation.targets:
        if target.name == "maxUtilization":
            return target.value
    return 0.8


# --------------------------------------------------------------------------- power figures


def _port_watts(twin: Twin, world: World, device: str, port: str) -> tuple[float, float]:
    """(awake, asleep) watts of one port: observed when awake, the profile otherwise."""
    spec = twin.topology.device(device)
    profile = twin.spec.router_profiles[spec.power_profile]
    observation = world.observations.get(device)
    status = observation.port(port) if observation is not None else None
    awake = profile.port_w
    if status is not None and status.power_state is PowerState.ACTIVE and status.watts:
        awake = status.watts
    return awake, profile.port_sleep_w


def _card_saving(twin: Twin, device: str) -> float:
    spec = twin.topology.device(device)
    profile = twin.spec.router_profiles[spec.power_profile]
    return profile.card_w - profile.card_sleep_w


def _site_load(view: TwinView, device: str, factors: Mapping[str, float]) -> float:
    """Forecast downlink to a radio site: the demands it terminates, scaled per class."""
    return sum(
        rate * factors.get(cls.value, 1.0)
        for (_, destination, cls), rate in view.demands.items()
        if destination == device
    )


def _cell_loads(radio: RadioSpec, load: float) -> dict[str, float]:
    total = sum(cell.share for cell in radio.cells) or 1.0
    return {cell.name: load * cell.share / total for cell in radio.cells}


def _carrier_saving(twin: Twin, radio: RadioSpec, carrier: str, cell_load: float) -> float:
    """Watts saved by sleeping one carrier (EARTH): its idle draw over its sleep draw, plus
    the load-dependent power its traffic costs more on it than where it goes (the same
    traffic loads a small carrier's amplifier harder).

    A capacity carrier's traffic goes to its cell's coverage carriers, which never sleep:
    when they are smaller, the move costs load power, and the saving can be negative (on the
    metro lab a cell's 36 Mbit/s on its 40 Mbit/s LTE 800 carrier costs more than sleeping
    the NR 3.5 GHz carrier saves). Without a coverage carrier in the cell (a topology whose
    carriers say no ``layer``), the traffic is priced as if it went to the site's largest
    carrier, never below the idle saving."""
    spec_cell = next(c for c in radio.cells if any(k.name == carrier for k in c.carriers))
    spec = next(k for k in spec_cell.carriers if k.name == carrier)
    profile = twin.spec.radio_profiles[spec.profile or radio.profile]
    cell_capacity = sum(k.capacity_mbps for k in spec_cell.carriers)
    traffic = cell_load * spec.capacity_mbps / cell_capacity
    per_mbps = profile.ntrx * profile.delta_p * profile.pmax_w
    idle = profile.ntrx * (profile.p0_w - profile.sleep_w)
    coverage = sum(k.capacity_mbps for k in spec_cell.carriers if not k.may_sleep)
    if spec.may_sleep and coverage > 0:
        return idle + per_mbps * traffic * (1.0 / spec.capacity_mbps - 1.0 / coverage)
    largest = max(k.capacity_mbps for _, k in radio.carriers())
    load_part = per_mbps * traffic * (1.0 / spec.capacity_mbps - 1.0 / largest)
    return idle + max(0.0, load_part)


def energy_report(expectation: Expectation, world: World) -> EnergyReport | None:
    """Observed power of the expectation's devices and their fully-awake reference.

    The reference adds, for every sleeping port, line card and carrier, what its profile
    says it draws awake and idle. None without a twin (no profiles) or without readings.
    """
    twin = world.twin
    if twin is None or expectation.type is not ExpectationType.ENERGY_SAVING:
        return None
    total = reference = 0.0
    seen = False
    for name in world.selected(expectation):
        observation = world.observations.get(name)
        if observation is None or observation.power is None or not twin.topology.has_device(name):
            continue
        seen = True
        spec = twin.topology.device(name)
        profile = twin.spec.router_profiles[spec.power_profile]
        total += observation.power.total_w
        extra = 0.0
        for port in observation.ports:
            if port.power_state in (PowerState.SLEEP, PowerState.OFF):
                extra += profile.port_w - profile.port_sleep_w
        for card in observation.power.line_cards:
            if card.power_state is PowerState.SLEEP:
                extra += profile.card_w - profile.card_sleep_w
        if spec.radio is not None:
            for carrier in observation.carriers:
                if carrier.power_state is PowerState.SLEEP:
                    cell = next(
                        (
                            c
                            for c in spec.radio.cells
                            if any(k.name == carrier.name for k in c.carriers)
                        ),
                        None,
                    )
                    kind = (
                        next((k for k in cell.carriers if k.name == carrier.name), None)
                        if cell
                        else None
                    )
                    radio_profile = twin.spec.radio_profiles[
                        (kind.profile if kind else "") or spec.radio.profile
                    ]
                    extra += radio_profile.ntrx * (radio_profile.p0_w - radio_profile.sleep_w)
        reference += observation.power.total_w + extra
    return EnergyReport(total, reference) if seen else None


# --------------------------------------------------------------------------- the program


@dataclass
class _Program:
    """Variables and rows of one MILP under construction (mutable, local to one solve)."""

    cost: list[float] = field(default_factory=list)
    integer: list[int] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    rows: list[dict[int, float]] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)

    def var(self, cost: float, *, integer: bool, lower: float = 0.0, upper: float = 1.0) -> int:
        self.cost.append(cost)
        self.integer.append(1 if integer else 0)
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.cost) - 1

    def row(self, coefficients: Mapping[int, float], low: float, high: float) -> None:
        self.rows.append(dict(coefficients))
        self.row_lower.append(low)
        self.row_upper.append(high)

    def matrix(self) -> npt.NDArray[np.float64]:
        dense = np.zeros((len(self.rows), len(self.cost)))
        for i, row in enumerate(self.rows):
            for j, value in row.items():
                dense[i, j] += value
        return dense


@dataclass(frozen=True, slots=True)
class _Elements:
    """What may sleep, what it saves, and what runs now."""

    links: tuple[Link, ...]
    link_saving: Mapping[str, float]
    cards: Mapping[tuple[str, str], tuple[str, ...]]  # card -> its candidate links
    card_saving: Mapping[tuple[str, str], float]
    carriers: tuple[tuple[str, str], ...]
    carrier_saving: Mapping[tuple[str, str], float]
    asleep_links: frozenset[str]
    asleep_carriers: frozenset[tuple[str, str]]
    held_links: frozenset[str]
    held_carriers: frozenset[tuple[str, str]]
    coverage: frozenset[tuple[str, str]] = frozenset()  # coverage layer: never asleep


def _link_asleep(view: TwinView, link: Link) -> bool:
    return any(
        view.configs.get(e.device, DeviceConfig()).interface(e.port).power_mode is PowerMode.SLEEP
        for e in (link.a, link.b)
    )


def _carrier_asleep(view: TwinView, device: str, carrier: str) -> bool:
    return view.configs.get(device, DeviceConfig()).carrier(carrier).power_mode is PowerMode.SLEEP


def _held(world: World, device: str, path: tuple[str, ...], hold: timedelta) -> bool:
    mark = world.history.get((device, path))
    return mark is not None and world.now - mark.at < hold


_PORT_MODE = "power-mode"


def _port_path(port: str) -> tuple[str, str, str]:
    return ("interfaces", f"interface[name={port}]", _PORT_MODE)


def _carrier_path(carrier: str) -> tuple[str, str, str]:
    return (_CONFIG_RADIO, f"carrier[name={carrier}]", _PORT_MODE)


def _link_elements(
    twin: Twin, view: TwinView, world: World, selected: set[str], hold: timedelta
) -> tuple[list[Link], dict[str, float], set[str]]:
    """Links with both ends selected and not cut: their saving and which are held."""
    links: list[Link] = []
    saving: dict[str, float] = {}
    held: set[str] = set()
    for link in twin.topology.links:
        if link.name in view.conditions.links_down:
            continue
        if not (link.a.device in selected and link.b.device in selected):
            continue
        links.append(link)
        saving[link.name] = sum(
            awake - asleep
            for e in (link.a, link.b)
            for awake, asleep in (_port_watts(twin, world, e.device, e.port),)
        )
        if any(_held(world, e.device, _port_path(e.port), hold) for e in (link.a, link.b)):
            held.add(link.name)
    return links, saving, held


def _card_elements(
    twin: Twin, selected: set[str], candidate_links: set[str]
) -> tuple[dict[tuple[str, str], tuple[str, ...]], dict[tuple[str, str], float]]:
    """Line cards all of whose links may sleep: the card sleeps with them."""
    cards: dict[tuple[str, str], tuple[str, ...]] = {}
    saving: dict[tuple[str, str], float] = {}
    for name in sorted(selected):
        if not twin.topology.has_device(name):
            continue
        spec = twin.topology.device(name)
        by_card: dict[str, list[str]] = {}
        for port in twin.topology.ports(name):
            by_card.setdefault(spec.line_card(port.name), []).append(port.link.name)
        for card, card_links in by_card.items():
            if all(link in candidate_links for link in card_links):
                cards[(name, card)] = tuple(card_links)
                saving[(name, card)] = _card_saving(twin, name)
    return cards, saving


def _carrier_elements(
    twin: Twin,
    view: TwinView,
    world: World,
    selected: set[str],
    factors: Mapping[str, float],
    hold: timedelta,
) -> tuple[
    list[tuple[str, str]],
    dict[tuple[str, str], float],
    set[tuple[str, str]],
    set[tuple[str, str]],
]:
    """Radio carriers of the selected sites: their saving at the forecast load, holds, and
    the coverage-layer ones (never asleep, so never held asleep either: one found asleep
    wakes at once)."""
    carriers: list[tuple[str, str]] = []
    saving: dict[tuple[str, str], float] = {}
    held: set[tuple[str, str]] = set()
    coverage: set[tuple[str, str]] = set()
    for name in sorted(selected):
        radio = twin.topology.device(name).radio if twin.topology.has_device(name) else None
        if radio is None:
            continue
        loads = _cell_loads(radio, _site_load(view, name, factors))
        for cell, carrier in radio.carriers():
            carriers.append((name, carrier.name))
            saving[(name, carrier.name)] = _carrier_saving(
                twin, radio, carrier.name, loads[cell.name]
            )
            if not carrier.may_sleep:
                coverage.add((name, carrier.name))
            elif _held(world, name, _carrier_path(carrier.name), hold):
                held.add((name, carrier.name))
    return carriers, saving, held, coverage


def _elements(
    expectation: Expectation, intent: Intent, world: World, factors: Mapping[str, float]
) -> _Elements:
    twin, view = world.twin, world.view
    assert twin is not None
    assert view is not None
    selected = set(world.selected(expectation))
    resources = _resources(expectation)
    hold = intent.guards.cooldown
    links: list[Link] = []
    link_saving: dict[str, float] = {}
    held_links: set[str] = set()
    if "links" in resources or "lineCards" in resources:
        links, link_saving, held_links = _link_elements(twin, view, world, selected, hold)
    cards: dict[tuple[str, str], tuple[str, ...]] = {}
    card_saving: dict[tuple[str, str], float] = {}
    if "lineCards" in resources:
        cards, card_saving = _card_elements(twin, selected, {k.name for k in links})
    carriers: list[tuple[str, str]] = []
    carrier_saving: dict[tuple[str, str], float] = {}
    held_carriers: set[tuple[str, str]] = set()
    coverage: set[tuple[str, str]] = set()
    if "carriers" in resources:
        carriers, carrier_saving, held_carriers, coverage = _carrier_elements(
            twin, view, world, selected, factors, hold
        )
    return _Elements(
        links=tuple(links),
        link_saving=link_saving,
        cards=cards,
        card_saving=card_saving,
        carriers=tuple(carriers),
        carrier_saving=carrier_saving,
        asleep_links=frozenset(k.name for k in links if _link_asleep(view, k)),
        asleep_carriers=frozenset(c for c in carriers if _carrier_asleep(view, *c)),
        held_links=frozenset(held_links),
        held_carriers=frozenset(held_carriers),
        coverage=frozenset(coverage),
    )


def _demand_pairs(view: TwinView, factors: Mapping[str, float]) -> dict[tuple[str, str], float]:
    pairs: dict[tuple[str, str], float] = {}
    for (origin, destination, cls), rate in view.demands.items():
        key = (origin, destination)
        pairs[key] = pairs.get(key, 0.0) + rate * factors.get(cls.value, 1.0)
    return pairs


def _build(
    twin: Twin,
    view: TwinView,
    elements: _Elements,
    demands: Mapping[tuple[str, str], float],
    *,
    bound: float,
    n_plus_one: bool,
    holds: bool,
    cuts: Sequence[tuple[frozenset[str], frozenset[tuple[str, str]]]],
    radio_loads: Mapping[str, Mapping[str, float]],
    reserve: float = 0.0,
) -> tuple[_Program, dict[str, int], dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    program = _Program()
    link_var: dict[str, int] = {}
    for link in elements.links:
        current = link.name in elements.asleep_links
        switch = _SWITCH_COST_W if not current else -_SWITCH_COST_W
        fixed = holds and link.name in elements.held_links
        value = 1.0 if current else 0.0
        link_var[link.name] = program.var(
            -elements.link_saving[link.name] + switch,
            integer=True,
            lower=value if fixed else 0.0,
            upper=value if fixed else 1.0,
        )
    card_var: dict[tuple[str, str], int] = {}
    for card, card_links in elements.cards.items():
        var = program.var(-elements.card_saving[card], integer=True)
        card_var[card] = var
        for name in card_links:
            program.row({var: 1.0, link_var[name]: -1.0}, -math.inf, 0.0)
    carrier_var: dict[tuple[str, str], int] = {}
    for key in elements.carriers:
        current = key in elements.asleep_carriers
        switch = _SWITCH_COST_W if not current else -_SWITCH_COST_W
        fixed = holds and key in elements.held_carriers
        value = 1.0 if current else 0.0
        if key in elements.coverage:  # the coverage layer stays awake (no pattern has it)
            fixed, value = True, 0.0
        carrier_var[key] = program.var(
            -elements.carrier_saving[key] + switch,
            integer=True,
            lower=value if fixed else 0.0,
            upper=value if fixed else 1.0,
        )
    # constant part of the switching cost, so the objective reads "net watts"
    _flows(program, twin, view, link_var, demands, bound)
    if n_plus_one:
        _redundancy(program, twin, view, link_var, demands)
    _radio(
        program,
        twin,
        carrier_var,
        radio_loads,
        bound,
        n_plus_one,
        asleep_now=elements.asleep_carriers,
        reserve=reserve,
    )
    for cut_links, cut_carriers in cuts:
        row = {link_var[n]: 1.0 for n in cut_links if n in link_var}
        row.update({carrier_var[k]: 1.0 for k in cut_carriers if k in carrier_var})
        if row:
            program.row(row, -math.inf, len(row) - 1)
    return program, link_var, card_var, carrier_var


def _arcs(twin: Twin, view: TwinView) -> list[tuple[Link, str, str]]:
    """Directed arcs (link, from, to) of the links that are not down."""
    arcs = []
    for link in twin.topology.links:
        if link.name in view.conditions.links_down:
            continue
        arcs.append((link, link.a.device, link.b.device))
        arcs.append((link, link.b.device, link.a.device))
    return arcs


def _flows(
    program: _Program,
    twin: Twin,
    view: TwinView,
    link_var: Mapping[str, int],
    demands: Mapping[tuple[str, str], float],
    bound: float,
) -> None:
    arcs = _arcs(twin, view)
    endpoints = _endpoints(twin)
    origins = sorted({o for o, _ in demands})
    flow: dict[tuple[str, int], int] = {}
    for origin in origins:
        for a, (_, tail, _) in enumerate(arcs):
            # an endpoint forwards only its own traffic (see _endpoints)
            through = tail in endpoints and tail != origin
            flow[(origin, a)] = program.var(0.0, integer=False, upper=0.0 if through else math.inf)
    nodes = twin.model.device_names
    for origin in origins:
        sent = sum(rate for (o, _), rate in demands.items() if o == origin)
        for node in nodes:
            balance = sent if node == origin else 0.0
            balance -= demands.get((origin, node), 0.0)
            row: dict[int, float] = {}
            for a, (_, tail, head) in enumerate(arcs):
                if tail == node:
                    row[flow[(origin, a)]] = row.get(flow[(origin, a)], 0.0) + 1.0
                if head == node:
                    row[flow[(origin, a)]] = row.get(flow[(origin, a)], 0.0) - 1.0
            if row:
                program.row(row, balance, balance)
    for a, (link, _, _) in enumerate(arcs):
        capacity = link.capacity_mbps * view.conditions.link_capacity.get(link.name, 1.0)
        slack = program.var(_SLACK_COST, integer=False, upper=math.inf)
        row = {flow[(o, a)]: 1.0 for o in origins}
        row[slack] = -1.0
        var = link_var.get(link.name)
        if var is not None:
            row[var] = bound * capacity
            # slack only where awake: a sleeping link carries nothing
            program.row({slack: 1.0, var: capacity}, -math.inf, capacity)
        program.row(row, -math.inf, bound * capacity if var is None else bound * capacity)


def _redundancy(
    program: _Program,
    twin: Twin,
    view: TwinView,
    link_var: Mapping[str, int],
    demands: Mapping[tuple[str, str], float],
) -> None:
    arcs = _arcs(twin, view)
    endpoints = _endpoints(twin)
    pairs = sorted({tuple(sorted(pair)) for pair in demands})
    nodes = twin.model.device_names
    links = {link.name: link for link, _, _ in arcs}
    for source, target in pairs:
        if _disjoint_paths(arcs, endpoints, source, target) < 2:
            continue  # the network itself cannot give two paths now (a fault): not required
        g = {
            a: program.var(
                0.0, integer=False, upper=0.0 if _through(tail, source, endpoints) else 1.0
            )
            for a, (_, tail, _) in enumerate(arcs)
        }
        for node in nodes:
            balance = 2.0 if node == source else -2.0 if node == target else 0.0
            row: dict[int, float] = {}
            for a, (_, tail, head) in enumerate(arcs):
                if tail == node:
                    row[g[a]] = row.get(g[a], 0.0) + 1.0
                if head == node:
                    row[g[a]] = row.get(g[a], 0.0) - 1.0
            if row:
                program.row(row, balance, balance)
        for name in links:
            both = {a: 1.0 for a, (link, _, _) in enumerate(arcs) if link.name == name}
            row = {g[a]: 1.0 for a in both}
            var = link_var.get(name)
            if var is not None:
                row[var] = 1.0
            program.row(row, -math.inf, 1.0)


def _endpoints(twin: Twin) -> frozenset[str]:
    """Devices that originate and terminate traffic (edge and access): they forward only
    their own (see :func:`policies.twin.endpoint_transit`)."""
    return frozenset(twin.endpoints)


def _through(tail: str, source: str, endpoints: frozenset[str]) -> bool:
    """Whether an arc leaving ``tail`` would make ``tail`` a transit hop for ``source``."""
    return tail in endpoints and tail != source


def _disjoint_paths(
    arcs: Sequence[tuple[Link, str, str]], endpoints: frozenset[str], source: str, target: str
) -> int:
    """How many link-disjoint paths join the two over the links that are up, transiting no
    endpoint (Menger: a unit-capacity max flow, by augmenting paths; at most 2 needed)."""
    capacity: dict[tuple[str, str, str], int] = {}
    adjacent: dict[str, list[tuple[str, str]]] = {}
    for link, tail, head in arcs:
        if _through(tail, source, endpoints):
            continue
        capacity[(link.name, tail, head)] = 1
        adjacent.setdefault(tail, []).append((link.name, head))
    found = 0
    while found < 2:
        parent: dict[str, tuple[str, str]] = {}
        frontier = [source]
        seen = {source}
        while frontier and target not in seen:
            here = frontier.pop(0)
            for name, there in adjacent.get(here, ()):
                if there in seen or capacity.get((name, here, there), 0) <= 0:
                    continue
                seen.add(there)
                parent[there] = (name, here)
                frontier.append(there)
        if target not in seen:
            break
        node = target
        while node != source:
            name, back = parent[node]
            capacity[(name, back, node)] -= 1
            capacity[(name, node, back)] = capacity.get((name, node, back), 0) + 1
            adjacent.setdefault(node, []).append((name, back))
            node = back
        found += 1
    return found


_MAX_PATTERN_CARRIERS = 12  # 2**12 patterns per site at most


def _covered(radio: RadioSpec, asleep: frozenset[str], n_plus_one: bool) -> bool:
    """Every cell keeps an awake carrier of its own or of an overlapping cell (two for n+1,
    where the site has two to give)."""
    for cell in radio.cells:
        covering = [
            k.name
            for c in radio.cells
            if c.name == cell.name or c.name in cell.overlaps
            for k in c.carriers
        ]
        need = 2 if n_plus_one and len(covering) >= 2 else 1
        if sum(1 for k in covering if k not in asleep) < need:
            return False
    return True


def _radio_patterns(
    radio: RadioSpec,
    loads: Mapping[str, float],
    bound: float,
    n_plus_one: bool,
    *,
    asleep_now: frozenset[str] = frozenset(),
    reserve: float = 0.0,
) -> list[frozenset[str]]:
    """Every set of a site's capacity-layer carriers that may sleep together: coverage kept
    and the cells' load fitting after handover (the lab's rule, exactly). Nothing asleep is
    always allowed (a site overloaded fully awake is the network's limit, not the plan's).
    Coverage-layer carriers are in no pattern: they never sleep (a capacity band's smaller
    footprint would leave holes where only the coverage band reaches).

    A hysteresis band against flapping: a pattern that puts to sleep a carrier awake now
    must fit under ``bound x (1 - reserve)``; keeping asleep what already sleeps only under
    ``bound`` (what wakes a carrier). Without the band, a forecast that hovers at the bound
    sleeps a carrier one tick and wakes it the next."""
    names = [k.name for _, k in radio.carriers() if k.may_sleep]
    if len(names) > _MAX_PATTERN_CARRIERS:
        return [frozenset()]
    patterns: list[frozenset[str]] = [frozenset()]
    for mask in range(1, 1 << len(names)):
        asleep = frozenset(n for i, n in enumerate(names) if mask >> i & 1)
        limit = bound * (1.0 - reserve) if asleep - asleep_now else bound
        if _covered(radio, asleep, n_plus_one) and _handover_ok(radio, asleep, loads, limit):
            patterns.append(asleep)
    return patterns


def _radio(
    program: _Program,
    twin: Twin,
    carrier_var: Mapping[tuple[str, str], int],
    radio_loads: Mapping[str, Mapping[str, float]],
    bound: float,
    n_plus_one: bool,
    *,
    asleep_now: frozenset[tuple[str, str]] = frozenset(),
    reserve: float = 0.0,
) -> None:
    """Each site sleeps exactly one of its allowed patterns (one binary per pattern): the
    radio rule is nonlinear (a sleeping cell hands its load to the overlapping cells that
    stay awake), and a site has few carriers, so its feasible sets are enumerated."""
    for device in sorted({d for d, _ in carrier_var}):
        radio = twin.topology.device(device).radio
        assert radio is not None
        patterns = _radio_patterns(
            radio,
            radio_loads[device],
            bound,
            n_plus_one,
            asleep_now=frozenset(c for d, c in asleep_now if d == device),
            reserve=reserve,
        )
        chosen = [program.var(0.0, integer=True) for _ in patterns]
        program.row(dict.fromkeys(chosen, 1.0), 1.0, 1.0)
        for _, carrier in radio.carriers():
            row = {carrier_var[(device, carrier.name)]: 1.0}
            row.update(
                {y: -1.0 for y, p in zip(chosen, patterns, strict=True) if carrier.name in p}
            )
            program.row(row, 0.0, 0.0)


def _handover_ok(
    radio: RadioSpec, asleep: frozenset[str], loads: Mapping[str, float], bound: float
) -> bool:
    """The lab's radio rule: a cell without an awake carrier hands its load equally to its
    overlapping cells that have one; every awake cell's load must fit its awake capacity."""
    awake: dict[str, float] = {}
    for cell in radio.cells:
        capacity = sum(k.capacity_mbps for k in cell.carriers if k.name not in asleep)
        if capacity > 0:
            awake[cell.name] = capacity
    load = dict(loads)
    for cell in radio.cells:
        if cell.name in awake:
            continue
        takers = [c for c in cell.overlaps if c in awake]
        if not takers:
            return load[cell.name] <= 0
        for taker in takers:
            load[taker] += load[cell.name] / len(takers)
        load[cell.name] = 0.0
    return all(load[name] <= bound * capacity for name, capacity in awake.items())


def sleep_plan(
    intent: Intent, expectation: Expectation, world: World, factors: Mapping[str, float]
) -> SleepSolution:
    """Solve the program for one energy-saving expectation (see the module docstring).

    Args:
        intent: the energy-saving intent.
        expectation: its expectation.
        world: the tick (needs the twin and its view).
        factors: per class demand factors of the forecast's upper quantile.

    Returns:
        The sleep set, or an empty one with the reason in ``status``.
    """
    twin, view = world.twin, world.view
    if twin is None or view is None:
        return SleepSolution(frozenset(), frozenset(), frozenset(), 0.0, 0, "no twin")
    elements = _elements(expectation, intent, world, factors)
    demands = _demand_pairs(view, factors)
    bound = _utilization_bound(expectation)
    n_plus_one = redundancy(expectation) == "n+1"
    radio_loads = {
        device: _cell_loads(twin.topology.device(device).radio, _site_load(view, device, factors))  # type: ignore[arg-type]
        for device in sorted({d for d, _ in elements.carriers})
    }
    cuts: list[tuple[frozenset[str], frozenset[tuple[str, str]]]] = []
    status = "optimal"
    holds = True
    for _ in range(_MAX_CUTS):
        program, link_var, card_var, carrier_var = _build(
            twin,
            view,
            elements,
            demands,
            bound=bound,
            n_plus_one=n_plus_one,
            holds=holds,
            cuts=cuts,
            radio_loads=radio_loads,
            reserve=world.settings.min_headroom,
        )
        result = solve_milp(
            np.array(program.cost),
            integrality=np.array(program.integer, dtype=np.int64),
            lower=np.array(program.lower),
            upper=np.array(program.upper),
            rows=program.matrix(),
            row_lower=np.array(program.row_lower),
            row_upper=np.array(program.row_upper),
        )
        if result.x is None:
            if holds:
                holds, status = False, "held elements released (infeasible with holds)"
                continue
            return SleepSolution(
                frozenset(),
                frozenset(),
                frozenset(),
                0.0,
                len(cuts),
                f"no solution: {result.message}",
            )
        x = result.x
        links = frozenset(n for n, v in link_var.items() if x[v] > 0.5)
        carriers = frozenset(k for k, v in carrier_var.items() if x[v] > 0.5)
        cards = frozenset(k for k, v in card_var.items() if x[v] > 0.5)
        checks = _check(intent, expectation, world, links, carriers, factors, bound, radio_loads)
        if checks["ok"] is not True:
            if not links and not carriers:
                # nothing sleeps and the check still fails: the network is short as it is
                return SleepSolution(
                    frozenset(),
                    frozenset(),
                    frozenset(),
                    0.0,
                    len(cuts),
                    "the network is short of headroom fully awake",
                    checks,
                )
            # not this set again (the radio's handover rule and the real routing are exact
            # where the program's flow and capacity rows are relaxations)
            cuts.append((links, carriers))
            continue
        saved = sum(elements.link_saving[n] for n in links)
        saved += sum(elements.card_saving[k] for k in cards)
        saved += sum(elements.carrier_saving[k] for k in carriers)
        return SleepSolution(links, carriers, cards, saved, len(cuts), status, checks)
    return SleepSolution(
        frozenset(), frozenset(), frozenset(), 0.0, len(cuts), "no solution passed the twin's check"
    )


def _sleep_configs(
    world: World,
    links: Iterable[Link],
    asleep_links: frozenset[str],
    carriers: Iterable[tuple[str, str]],
    asleep_carriers: frozenset[tuple[str, str]],
) -> dict[str, DeviceConfig]:
    view = world.view
    assert view is not None
    ports: dict[str, dict[str, PowerMode]] = {}
    for link in links:
        mode = PowerMode.SLEEP if link.name in asleep_links else PowerMode.ACTIVE
        for end in (link.a, link.b):
            ports.setdefault(end.device, {})[end.port] = mode
    radios: dict[str, dict[str, PowerMode]] = {}
    for device, carrier in carriers:
        mode = PowerMode.SLEEP if (device, carrier) in asleep_carriers else PowerMode.ACTIVE
        radios.setdefault(device, {})[carrier] = mode
    configs: dict[str, DeviceConfig] = {}
    for device in sorted(set(ports) | set(radios)):
        base = view.configs.get(device, DeviceConfig())
        configs[device] = with_power_modes(
            base, ports=ports.get(device), carriers=radios.get(device)
        )
    return configs


def _check(
    intent: Intent,
    expectation: Expectation,
    world: World,
    links: frozenset[str],
    carriers: frozenset[tuple[str, str]],
    factors: Mapping[str, float],
    bound: float,
    radio_loads: Mapping[str, Mapping[str, float]],
) -> dict[str, object]:
    """The twin's check of a sleep set under the forecast demand (see the module doc)."""
    twin, view = world.twin, world.view
    assert twin is not None
    assert view is not None
    up = [k for k in twin.topology.links if k.name not in view.conditions.links_down]
    relevant = [k for k in up if k.name in links or _link_asleep(view, k)]
    configs = _sleep_configs(world, relevant, links, (), frozenset())
    state = twin.what_if(view, configs, scale=_scale(factors))
    # the same demand with every element of the plan awake: what the network does anyway
    awake = twin.what_if(
        view, _sleep_configs(world, relevant, frozenset(), (), frozenset()), scale=_scale(factors)
    )
    unrouted = sum(f.unroutable_mbps for f in state.flows.values())
    unrouted_awake = sum(f.unroutable_mbps for f in awake.flows.values())
    utilization = max_utilization(state, twin.model.device_names)
    # a port over the bound blocks the plan only when the plan put it there: a port the
    # load fills fully awake is the network's limit, not a reason to wake what does not help
    over = [
        f"{device}/{name}"
        for device, ds in state.devices.items()
        for name, port in ds.ports.items()
        if port.oper_up
        and port.utilization > bound
        and port.utilization > awake.port(device, name).utilization + 1e-3
    ]
    # demands the plan sends through an endpoint that fully awake routing does not
    endpoints = _endpoints(twin)
    transit = sorted(
        f"{o}->{d}/{c.value}"
        for o, d, c in endpoint_transit(state, endpoints) - endpoint_transit(awake, endpoints)
    )
    paths: dict[str, object] = {}
    ok = unrouted <= unrouted_awake + 1e-6 and not over and not transit
    for other in world.intents:
        for e in other.expectations:
            if e.type is not ExpectationType.E2E_QOS:
                continue
            values = twin_targets(e, state)
            before = twin_targets(e, awake)
            # a path missing its target fully awake is not this plan's doing: the plan only
            # must not make it worse
            fine = all(
                meets(t, values[t.name], headroom=world.settings.min_headroom)
                or values[t.name] <= before.get(t.name, math.inf) + 1e-9
                for t in e.targets
                if t.name in values
            )
            paths[f"{other.name}/{e.id}"] = {k: round(v, 4) for k, v in values.items()}
            ok = ok and fine
    for device, loads in radio_loads.items():
        radio = twin.topology.device(device).radio
        assert radio is not None
        asleep = frozenset(c for d, c in carriers if d == device)
        # a site overloaded fully awake is the network's limit: only sleeping may fail it
        if asleep and not _handover_ok(radio, asleep, loads, bound):
            ok = False
            paths[f"radio/{device}"] = "overloaded after handover"
    return {
        "ok": ok,
        "unroutable_mbps": round(unrouted, 3),
        "max_utilization": round(utilization, 4),
        "over_bound_by_the_plan": over,
        "through_an_endpoint": transit,
        "qos_paths": paths,
    }


def _scale(factors: Mapping[str, float]) -> dict[LabClass, float]:
    return {cls: factors.get(cls.value, 1.0) for cls in LabClass}


# --------------------------------------------------------------------------- the proposal


def _forecast_factors(
    world: World, horizon: timedelta
) -> tuple[dict[str, float], float | None, dict[str, object]]:
    """Per-class demand factors to plan against, the forecaster's confidence, its story."""
    forecast = world.forecast
    if forecast is None:
        return {}, None, {"forecast": "none: planning against the current load"}
    story: dict[str, object] = {
        "forecast": dict(forecast.model),
        "quantile": forecast.quantile,
        "horizon_s": forecast.horizon.total_seconds(),
        "needed_horizon_s": horizon.total_seconds(),
        "factors": {k: round(v, 3) for k, v in sorted(forecast.factors.items())},
    }
    return dict(forecast.factors), forecast.confidence, story


def _asleep_now(
    world: World, expectation: Expectation
) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """The links and carriers of the expectation's devices that are configured asleep."""
    twin, view = world.twin, world.view
    assert twin is not None
    assert view is not None
    selected = set(world.selected(expectation))
    links = frozenset(
        k.name
        for k in twin.topology.links
        if (k.a.device in selected or k.b.device in selected) and _link_asleep(view, k)
    )
    carriers = frozenset(
        (name, c.name)
        for name in selected
        for c in view.configs.get(name, DeviceConfig()).carriers
        if c.power_mode is PowerMode.SLEEP
    )
    return links, carriers


def _mode_edit(base: DeviceConfig, path: tuple[str, str, str], new: PowerMode) -> ConfigEdit:
    current = base.flatten().get(path)
    return ConfigEdit(
        EditOp.CHANGE if current is not None else EditOp.ADD, path, current, new.value
    )


def _power_edits(
    world: World,
    links: Iterable[str],
    carriers: Iterable[tuple[str, str]],
    mode: PowerMode,
) -> dict[str, tuple[ConfigEdit, ...]]:
    twin = world.twin
    assert twin is not None
    bases = world.bases()
    edits: dict[str, list[ConfigEdit]] = {}
    for name in sorted(links):
        link = twin.topology.link(name)
        for end in (link.a, link.b):
            base = bases.get(end.device, DeviceConfig())
            if base.interface(end.port).power_mode is not mode:
                edits.setdefault(end.device, []).append(
                    _mode_edit(base, _port_path(end.port), mode)
                )
    for device, carrier in sorted(carriers):
        base = bases.get(device, DeviceConfig())
        if base.carrier(carrier).power_mode is not mode:
            edits.setdefault(device, []).append(_mode_edit(base, _carrier_path(carrier), mode))
    return {device: tuple(e) for device, e in edits.items()}


def _within_radius(
    twin: Twin,
    links: Iterable[str],
    carriers: Iterable[tuple[str, str]],
    elements: _Elements,
    limit: int,
) -> tuple[list[str], list[tuple[str, str]]]:
    """The most valuable elements whose devices fit in one change of ``limit`` devices."""
    items: list[tuple[float, str, frozenset[str], str | None, tuple[str, str] | None]] = []
    for name in links:
        link = twin.topology.link(name)
        ends = frozenset({link.a.device, link.b.device})
        items.append((elements.link_saving.get(name, 0.0), name, ends, name, None))
    for key in carriers:
        saving = elements.carrier_saving.get(key, 0.0)
        items.append((saving, "/".join(key), frozenset({key[0]}), None, key))
    items.sort(key=lambda item: (-item[0], item[1]))
    devices: set[str] = set()
    chosen_links: list[str] = []
    chosen_carriers: list[tuple[str, str]] = []
    for _, _, needs, link_name, carrier in items:
        if len(devices | needs) > limit:
            continue
        devices |= needs
        if link_name is not None:
            chosen_links.append(link_name)
        if carrier is not None:
            chosen_carriers.append(carrier)
    return chosen_links, chosen_carriers


def _saving(
    elements: _Elements, links: Iterable[str], carriers: Iterable[tuple[str, str]]
) -> float:
    return sum(elements.link_saving.get(k, 0.0) for k in links) + sum(
        elements.carrier_saving.get(k, 0.0) for k in carriers
    )


def _predict_power(
    expectation: Expectation,
    world: World,
    report: EnergyReport | None,
    edits: Mapping[str, tuple[ConfigEdit, ...]],
) -> tuple[dict[str, float], bool | None]:
    """The expectation's targets after the edits, anchored on what was observed: power is
    the observed draw plus the twin's power difference (its power model is the lab's, with
    the EARTH radio model, so the load a sleeping carrier hands over is priced too), and
    utilisation is the twin's (real routing, current demand)."""
    twin, view = world.twin, world.view
    assert twin is not None
    assert view is not None
    predicted: dict[str, float] = {}
    bases = world.bases()
    try:
        configs = {d: bases.get(d, DeviceConfig()).with_edits(e) for d, e in edits.items()}
    except ValueError:
        return predicted, False
    state = twin.what_if(view, configs)
    selected = world.selected(expectation)
    if report is not None and report.reference_w > 0:
        before = twin.power(view.state, view.settings)
        after = twin.power(state, twin.settings_with(view, configs))
        delta = sum(after.get(d, 0.0) - before.get(d, 0.0) for d in selected)
        watts = max(0.0, report.total_w + delta)
        predicted["powerReductionRatio"] = 1.0 - watts / report.reference_w
        predicted["powerBudgetWatts"] = watts
    predicted["maxUtilization"] = max_utilization(state, selected)
    checked = [t for t in expectation.targets if t.name in predicted]
    if not checked:
        return predicted, None
    return predicted, all(meets(t, predicted[t.name]) for t in checked)


def _unobserved(world: World) -> list[str]:
    """Inventory devices with no observation this tick, or one that failed."""
    return sorted(
        name
        for name in world.devices
        if (observation := world.observations.get(name)) is None or observation.errors
    )


def propose_energy(intent: Intent, expectation: Expectation, world: World) -> Proposal:
    """The energy-saving policy for one expectation (see the module docstring).

    Outside the expectation's time window, or within the wake lead time of leaving it,
    everything it put to sleep is woken. Inside, the program's sleep set is compared with
    what sleeps now: what must wake wakes first (restorative, acts at once); otherwise the
    most valuable sleeps that fit the intent's blast radius are proposed (an optimisation,
    acted on once the same plan stood for the hysteresis).

    Returns:
        The proposal; ``urgent`` only for a wake.
    """
    twin, view = world.twin, world.view
    report = energy_report(expectation, world)
    explanation: dict[str, object] = {
        "expectation": expectation.id,
        "target": "; ".join(t.describe() for t in expectation.targets),
        "observed": None if report is None else round(report.reduction_ratio, 4),
        "observed_power_w": None if report is None else round(report.total_w, 1),
        "reference_power_w": None if report is None else round(report.reference_w, 1),
    }
    if twin is None or view is None:
        return Proposal(intent, expectation, "no topology: sleeping needs the what-if twin")
    lead = wake_lead_time(expectation)
    factors, confidence, story = _forecast_factors(world, lead + intent.guards.cooldown)
    explanation["model"] = (
        "MILP sleep plan (scipy.optimize.milp/HiGHS) on the what-if twin, demands estimated "
        f"from counters (fit error {view.fit_error:.1%})"
    )
    explanation.update(story)
    asleep_links, asleep_carriers = _asleep_now(world, expectation)
    in_window = expectation_applies(expectation, world.now) and expectation_applies(
        expectation, world.now + lead
    )
    if not in_window:
        wake_links, wake_carriers = set(asleep_links), set(asleep_carriers)
        why = f"outside its time window (or within the wake lead time {lead} of leaving it)"
        solution = None
    else:
        solution = sleep_plan(intent, expectation, world, factors)
        explanation["solution"] = {
            "status": solution.status,
            "links": sorted(solution.links),
            "carriers": [f"{d}/{c}" for d, c in sorted(solution.carriers)],
            "line_cards": [f"{d}/{c}" for d, c in sorted(solution.cards)],
            "saved_w": round(solution.saved_w, 1),
            "cuts": solution.cuts,
            "checks": dict(solution.checks),
        }
        wake_links = set(asleep_links - solution.links)
        wake_carriers = set(asleep_carriers - solution.carriers)
        why = "the forecast load at the wake lead time needs them"
    limit = intent.guards.max_devices_per_change
    elements = _elements(expectation, intent, world, factors)
    if elements.coverage:
        explanation["coverage_layer"] = {
            "kept_awake": [f"{d}/{c}" for d, c in sorted(elements.coverage)],
            "why": _COVERAGE_WHY,
        }
    if wake_carriers & elements.coverage:
        why = f"{why}; coverage-layer carriers never sleep ({_COVERAGE_WHY})"
    if wake_links or wake_carriers:
        links, carriers = _within_radius(twin, wake_links, wake_carriers, elements, limit)
        edits = _power_edits(world, links, carriers, PowerMode.ACTIVE)
        predicted, ok = _predict_power(expectation, world, report, edits)
        names = [*links, *(f"{d}/{c}" for d, c in carriers)]
        wake = Candidate(
            ActionKind.WAKE,
            f"wake {', '.join(names)}: {why}",
            edits,
            disruption=0.5 * len(names),
            predicted=predicted,
            meets_target=ok,
            restorative=True,
        )
        explanation["candidates"] = [wake.as_dict()]
        return Proposal(
            intent, expectation, wake.description, explanation, (wake,), wake, True, confidence
        )
    if solution is None:
        return Proposal(intent, expectation, "outside its time window: nothing sleeps", explanation)
    unseen = _unobserved(world)
    if unseen:
        # N+1 and headroom are checked on the twin; a device whose state is unknown (down,
        # unreachable, not polled this tick) may be the very redundancy a sleep relies on
        summary = (
            f"not sleeping anything while {', '.join(unseen)} is not observed: redundancy "
            "cannot be checked against a device whose state is unknown (wakes still go ahead)"
        )
        return Proposal(intent, expectation, summary, explanation, confidence=confidence)
    to_sleep = sorted(solution.links - asleep_links)
    to_sleep_carriers = sorted(solution.carriers - asleep_carriers)
    if not to_sleep and not to_sleep_carriers:
        summary = (
            f"the sleep set stands ({len(asleep_links)} link(s), "
            f"{len(asleep_carriers)} carrier(s) asleep): {solution.status}"
        )
        return Proposal(intent, expectation, summary, explanation, confidence=confidence)
    links, carriers = _within_radius(twin, to_sleep, to_sleep_carriers, elements, limit)
    saved = _saving(elements, links, carriers)
    names = [*links, *(f"{d}/{c}" for d, c in carriers)]
    if not names or saved < world.settings.min_saving_w:
        summary = (
            f"sleeping {', '.join(names) or 'more'} would save {saved:.0f} W: not worth a change"
        )
        return Proposal(intent, expectation, summary, explanation, confidence=confidence)
    edits = _power_edits(world, links, carriers, PowerMode.SLEEP)
    predicted, ok = _predict_power(expectation, world, report, edits)
    kept = (
        f"; {len(elements.coverage)} coverage-layer carrier(s) kept awake"
        if carriers and elements.coverage
        else ""
    )
    sleep = Candidate(
        ActionKind.SLEEP,
        f"sleep {', '.join(names)} (saves ~{saved:.0f} W){kept}",
        edits,
        disruption=0.5 * len(names),
        predicted=predicted,
        meets_target=ok,
    )
    explanation["candidates"] = [sleep.as_dict()]
    return Proposal(
        intent, expectation, sleep.description, explanation, (sleep,), sleep, False, confidence
    )
