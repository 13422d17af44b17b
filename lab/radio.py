"""The air interface of a radio access site: carrier loads and what they can serve. Pure.

The site's downlink traffic (what the IP network delivers to the site's router) is split
over its cells by their ``share``. A cell's traffic goes to its awake carriers in proportion
to their capacity; a cell whose carriers all sleep hands its traffic to the overlapping
cells that have an awake carrier (equally), and with none the traffic is lost (no
coverage). A carrier serves at most its capacity: ``served = min(offered, capacity)``,
``load = served / capacity``, which sets its EARTH power (:mod:`lab.equipment`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from lab.config import DeviceSettings, PowerMode
from lab.equipment import PowerState, RadioPowerProfile, RadioSpec

__all__ = ["CarrierState", "RadioState", "radio_state"]


@dataclass(frozen=True, slots=True)
class CarrierState:
    """One carrier at one instant."""

    name: str
    cell: str
    power_state: PowerState
    capacity_mbps: float
    offered_mbps: float
    served_mbps: float
    load: float
    watts: float


@dataclass(frozen=True, slots=True)
class RadioState:
    """A radio site's air interface at one instant."""

    carriers: tuple[CarrierState, ...]
    offered_mbps: float
    served_mbps: float
    watts: float

    @property
    def served_ratio(self) -> float:
        """Served / offered downlink (1 without traffic)."""
        return self.served_mbps / self.offered_mbps if self.offered_mbps > 0 else 1.0


def radio_state(
    spec: RadioSpec,
    profiles: Mapping[str, RadioPowerProfile],
    settings: DeviceSettings,
    downlink_mbps: float,
    *,
    waking: Collection[str] = (),
    powered: bool = True,
) -> RadioState:
    """Carrier loads, served traffic and power of one radio site.

    Args:
        spec: the site's cells and carriers.
        profiles: radio power profiles by name.
        settings: the site's running configuration (carrier power modes).
        downlink_mbps: traffic the IP network delivers to the site.
        waking: carriers set active that are not awake yet (they carry nothing).
        powered: False when the site is down: nothing is served and nothing is drawn.

    Returns:
        The state.
    """
    total_share = sum(cell.share for cell in spec.cells)
    awake: dict[str, list[str]] = {}
    states: dict[str, PowerState] = {}
    for cell, carrier in spec.carriers():
        if not powered:
            states[carrier.name] = PowerState.OFF
        elif settings.carrier(carrier.name).power_mode is PowerMode.SLEEP:
            states[carrier.name] = PowerState.SLEEP
        elif carrier.name in waking:
            states[carrier.name] = PowerState.WAKING
        else:
            states[carrier.name] = PowerState.ACTIVE
            awake.setdefault(cell.name, []).append(carrier.name)
    cell_load = {
        cell.name: downlink_mbps * cell.share / total_share if powered else 0.0
        for cell in spec.cells
    }
    # a cell without an awake carrier hands its traffic to overlapping cells that have one
    for cell in spec.cells:
        if cell.name in awake:
            continue
        takers = [other for other in cell.overlaps if other in awake]
        if takers:
            for other in takers:
                cell_load[other] += cell_load[cell.name] / len(takers)
            cell_load[cell.name] = 0.0
    capacity = {carrier.name: carrier.capacity_mbps for _, carrier in spec.carriers()}
    carriers: list[CarrierState] = []
    offered_total = downlink_mbps if powered else 0.0
    served_total = 0.0
    watts_total = 0.0
    for cell, carrier in spec.carriers():
        names = awake.get(cell.name, [])
        pool = sum(capacity[n] for n in names)
        offered = (
            cell_load[cell.name] * carrier.capacity_mbps / pool if carrier.name in names else 0.0
        )
        served = min(offered, carrier.capacity_mbps)
        load = served / carrier.capacity_mbps
        profile = profiles[carrier.profile or spec.profile]
        state = states[carrier.name]
        watts = (
            0.0
            if state is PowerState.OFF
            else profile.watts(load, asleep=state is not PowerState.ACTIVE)
        )
        carriers.append(
            CarrierState(
                carrier.name, cell.name, state, carrier.capacity_mbps, offered, served, load, watts
            )
        )
        served_total += served
        watts_total += watts
    return RadioState(tuple(carriers), offered_total, served_total, watts_total)
