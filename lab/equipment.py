"""What a lab device is made of, for its power draw: line cards, ports, radio cells and carriers.

A topology file gives each device a power profile (``power: NAME``), optionally its line
cards (which ports each card holds) and, for a radio access site (the baseband unit of a
cell site), its cells and carriers. Profiles live in the topology file itself, with the
source of every number next to it, or come from :data:`BUILTIN_ROUTER_PROFILES` /
:data:`BUILTIN_RADIO_PROFILES` (cited below) when the file names one of those.

Routers (chassis + line cards + ports)::

    P = chassis_w
      + Σ cards  (card_w if any of its ports is awake, else card_sleep_w)
      + Σ ports  (port_w + port_load_w · utilisation   if active
                  port_sleep_w                          if asleep, waking or disabled)

This is the linear "idle + load-proportional" router model of Chabarek et al. (INFOCOM
2008) and Vishwanath et al. (IEEE JSAC 32(8), 2014), with the per-card and per-port split of
Van Heddeghem et al. (Photonic Network Communications 24, 2012). A line card can sleep only
when all of its ports do.

Radio carriers: the EARTH model (Auer et al., "How much energy is needed to run a wireless
network?", IEEE Wireless Communications 18(5), 2011, Table 2)::

    P_in = N_TRX · (P0 + Δp · P_out),  0 < P_out <= P_max,  P_out = load · P_max
    P_in = N_TRX · P_sleep               when the carrier sleeps

Everything here is frozen data: the pure power computation is :mod:`lab.power`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

__all__ = [
    "BUILTIN_RADIO_PROFILES",
    "BUILTIN_ROUTER_PROFILES",
    "CarrierLayer",
    "CarrierSpec",
    "CellSpec",
    "LineCardSpec",
    "PowerState",
    "RadioPowerProfile",
    "RadioSpec",
    "RouterPowerProfile",
    "default_router_profile",
]


class PowerState(str, Enum):
    """The ``power-state`` enumeration of the YANG module."""

    ACTIVE = "active"
    SLEEP = "sleep"
    WAKING = "waking"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class RouterPowerProfile:
    """Power of a router's parts, in watts (see the module docstring for the formula).

    Args:
        name: the profile's name.
        chassis_w: chassis, fans, route processor and fabric (drawn whatever the load).
        card_w: one awake line card (its ports excluded).
        card_sleep_w: one sleeping line card.
        port_w: one active port with its optic, idle.
        port_load_w: extra power of a port at 100 % utilisation (linear in between).
        port_sleep_w: a sleeping, waking or disabled port (optic off).
        wake_s: lab seconds a port needs to carry traffic again after it is set active.
        source: where the numbers come from.

    Raises:
        ValueError: a negative or non-finite number.
    """

    name: str
    chassis_w: float
    card_w: float
    card_sleep_w: float
    port_w: float
    port_load_w: float
    port_sleep_w: float
    wake_s: float
    source: str = ""

    def __post_init__(self) -> None:
        for key in (
            "chassis_w",
            "card_w",
            "card_sleep_w",
            "port_w",
            "port_load_w",
            "port_sleep_w",
            "wake_s",
        ):
            value = getattr(self, key)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"power profile {self.name}: {key} must be finite and >= 0")


@dataclass(frozen=True, slots=True)
class RadioPowerProfile:
    """EARTH parameters of one carrier (Auer et al. 2011, Table 2).

    Args:
        name: the profile's name.
        ntrx: transceiver chains of the carrier (antennas x sectors it feeds).
        pmax_w: maximum RF output power per chain at full load.
        p0_w: supply power per chain at minimum non-zero output.
        delta_p: slope of the load-dependent part.
        sleep_w: supply power per chain while the carrier sleeps.
        wake_s: lab seconds a sleeping carrier needs to carry traffic again.
        source: where the numbers come from.

    Raises:
        ValueError: a non-positive chain count or a negative or non-finite number.
    """

    name: str
    ntrx: int
    pmax_w: float
    p0_w: float
    delta_p: float
    sleep_w: float
    wake_s: float
    source: str = ""

    def __post_init__(self) -> None:
        if self.ntrx < 1:
            raise ValueError(f"radio profile {self.name}: ntrx must be >= 1")
        for key in ("pmax_w", "p0_w", "delta_p", "sleep_w", "wake_s"):
            value = getattr(self, key)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"radio profile {self.name}: {key} must be finite and >= 0")

    def watts(self, load: float, *, asleep: bool) -> float:
        """Supply power of one carrier.

        Args:
            load: downlink load in [0, 1] (clipped).
            asleep: whether the carrier sleeps (or is waking).

        Returns:
            Watts.
        """
        if asleep:
            return self.ntrx * self.sleep_w
        clipped = min(1.0, max(0.0, load))
        return self.ntrx * (self.p0_w + self.delta_p * clipped * self.pmax_w)


@dataclass(frozen=True, slots=True)
class LineCardSpec:
    """A line card and the ports it holds."""

    name: str
    ports: tuple[str, ...]


class CarrierLayer(str, Enum):
    """A carrier's role in its cell (topology ``layer``).

    A *coverage* carrier (a low band such as LTE 800) gives the cell its footprint: it
    stays on whatever the load, since a higher band's smaller footprint would leave coverage
    holes. A *capacity* carrier (a high band such as NR 3.5 GHz) adds throughput where the
    coverage layer already reaches, and may sleep when its load fits the awake carriers.
    """

    COVERAGE = "coverage"
    CAPACITY = "capacity"


@dataclass(frozen=True, slots=True)
class CarrierSpec:
    """One carrier of a cell.

    Args:
        name: unique on its device (the YANG ``/radio/carrier`` key).
        capacity_mbps: mean downlink cell capacity of the carrier (> 0).
        profile: radio power profile name (default: the site's).
        layer: coverage (never put to sleep by a policy) or capacity (may sleep); a carrier
            that does not say is a capacity carrier, so topologies written before the field
            existed keep their behaviour.
    """

    name: str
    capacity_mbps: float
    profile: str = ""
    layer: CarrierLayer = CarrierLayer.CAPACITY

    @property
    def may_sleep(self) -> bool:
        """Whether an energy policy may put the carrier to sleep (capacity layer only)."""
        return self.layer is CarrierLayer.CAPACITY


@dataclass(frozen=True, slots=True)
class CellSpec:
    """A cell (sector) of a radio site.

    Args:
        name: the cell's name.
        share: the cell's share of the site's downlink traffic (weights, normalised).
        overlaps: cells of the same site whose carriers can take this cell's load.
        carriers: the cell's carriers.
    """

    name: str
    share: float
    overlaps: tuple[str, ...]
    carriers: tuple[CarrierSpec, ...]


@dataclass(frozen=True, slots=True)
class RadioSpec:
    """The radio part of a radio access site."""

    profile: str
    cells: tuple[CellSpec, ...]

    def carriers(self) -> tuple[tuple[CellSpec, CarrierSpec], ...]:
        """Every (cell, carrier) in file order."""
        return tuple((cell, carrier) for cell in self.cells for carrier in cell.carriers)


# --------------------------------------------------------------------------- built-ins
#
# Profiles a topology file may name without defining them. The numbers are rounded from the
# sources given with each; docs/lab.md explains the choices.

_ROUTER_SOURCE = (
    "Linear idle+load router model: Chabarek et al., 'Power Awareness in Network Design and "
    "Routing', INFOCOM 2008; Vishwanath et al., IEEE JSAC 32(8) 2014 (load-dependent part "
    "under 10 % of the total); per-card/per-port split: Van Heddeghem et al., Photonic Netw. "
    "Commun. 24 (2012). Optics: QSFP28 100GBASE-LR4 power class 4 (<= 3.5 W, SFF-8636), "
    "SFP+ 10GBASE-LR power level II (<= 1.5 W, SFF-8431)."
)

BUILTIN_ROUTER_PROFILES: Mapping[str, RouterPowerProfile] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            RouterPowerProfile("core-router", 700, 250, 25, 15, 5, 1.0, 30, _ROUTER_SOURCE),
            RouterPowerProfile("aggregation-router", 250, 80, 10, 8, 2, 0.5, 30, _ROUTER_SOURCE),
            RouterPowerProfile("access-router", 60, 20, 3, 4, 1, 0.3, 20, _ROUTER_SOURCE),
        )
    }
)

_EARTH_SOURCE = (
    "EARTH model, Auer et al., 'How much energy is needed to run a wireless network?', "
    "IEEE Wireless Communications 18(5), 2011, Table 2"
)

BUILTIN_RADIO_PROFILES: Mapping[str, RadioPowerProfile] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            # one macro carrier feeding one sector through 2 antennas (2x2 MIMO)
            RadioPowerProfile("earth-macro", 2, 20.0, 130.0, 4.7, 75.0, 60, _EARTH_SOURCE),
            RadioPowerProfile("earth-rrh", 2, 20.0, 84.0, 2.8, 56.0, 60, _EARTH_SOURCE),
            RadioPowerProfile("earth-micro", 2, 6.3, 56.0, 2.6, 39.0, 30, _EARTH_SOURCE),
            RadioPowerProfile("earth-pico", 2, 0.13, 6.8, 4.0, 4.3, 10, _EARTH_SOURCE),
        )
    }
)

_ROLE_PROFILE = MappingProxyType(
    {
        "core": "core-router",
        "edge": "core-router",
        "aggregation": "aggregation-router",
        "access": "access-router",
    }
)


def default_router_profile(role: str) -> str:
    """The built-in router profile for a device role without a ``power:`` entry.

    Args:
        role: the device's role value.

    Returns:
        A key of :data:`BUILTIN_ROUTER_PROFILES`.
    """
    return _ROLE_PROFILE.get(role, "access-router")
