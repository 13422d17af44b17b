"""Power draw of every device from its profile and the state of its parts. Pure.

See :mod:`lab.equipment` for the router and radio models and their sources. Port power
states: ``off`` (administratively disabled: optic off, sleep power), ``sleep``
(``power-mode sleep``), ``waking`` (set active, not yet carrying: drawing its active idle
power), ``active``. A line card is ``sleep`` when none of its ports is active or waking. A
device that is down (powered off, rebooting) draws nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from lab.config import DeviceSettings, PowerMode
from lab.equipment import PowerState, RouterPowerProfile
from lab.network import DeviceState
from lab.radio import RadioState
from lab.topology import DeviceSpec, Topology

__all__ = ["CardPower", "DevicePower", "PortPower", "device_power"]


@dataclass(frozen=True, slots=True)
class PortPower:
    """One port's power."""

    name: str
    line_card: str
    power_state: PowerState
    watts: float


@dataclass(frozen=True, slots=True)
class CardPower:
    """One line card's power (its ports excluded)."""

    name: str
    power_state: PowerState
    watts: float


@dataclass(frozen=True, slots=True)
class DevicePower:
    """A device's power at one instant, by part."""

    device: str
    total_w: float
    chassis_w: float
    cards: tuple[CardPower, ...]
    ports: tuple[PortPower, ...]
    radio_w: float

    @property
    def router_w(self) -> float:
        """Everything but the radio."""
        return self.total_w - self.radio_w

    def port(self, name: str) -> PortPower:
        """The power of port ``name``.

        Raises:
            KeyError: no such port.
        """
        for port in self.ports:
            if port.name == name:
                return port
        raise KeyError(name)


def _port_state(settings: DeviceSettings, name: str, waking: Collection[str]) -> PowerState:
    itf = settings.interface(name)
    if not itf.enabled:
        return PowerState.OFF
    if itf.power_mode is PowerMode.SLEEP:
        return PowerState.SLEEP
    if name in waking:
        return PowerState.WAKING
    return PowerState.ACTIVE


def device_power(
    device: DeviceSpec,
    topology: Topology,
    profile: RouterPowerProfile,
    state: DeviceState,
    settings: DeviceSettings,
    *,
    waking_ports: Collection[str] = (),
    radio: RadioState | None = None,
    powered: bool = True,
) -> DevicePower:
    """The power of one device.

    Args:
        device: the device.
        topology: the network (for the device's ports).
        profile: its router power profile.
        state: its network state (port utilisation).
        settings: its running configuration (port power modes, enabled).
        waking_ports: ports set active that are not awake yet.
        radio: its radio state, for a radio access site.
        powered: False when the device is down.

    Returns:
        Watts by part.
    """
    specs = topology.ports(device.name)
    if not powered:
        ports = tuple(
            PortPower(p.name, device.line_card(p.name), PowerState.OFF, 0.0) for p in specs
        )
        off = tuple(CardPower(card, PowerState.OFF, 0.0) for card in _card_names(device, ports))
        return DevicePower(device.name, 0.0, 0.0, off, ports, 0.0)
    port_powers: list[PortPower] = []
    for spec in specs:
        power_state = _port_state(settings, spec.name, waking_ports)
        if power_state is PowerState.ACTIVE:
            utilisation = min(1.0, max(0.0, state.ports[spec.name].utilization))
            watts = profile.port_w + profile.port_load_w * utilisation
        elif power_state is PowerState.WAKING:
            watts = profile.port_w
        else:
            watts = profile.port_sleep_w
        port_powers.append(PortPower(spec.name, device.line_card(spec.name), power_state, watts))
    ports = tuple(port_powers)
    cards: list[CardPower] = []
    for card in _card_names(device, ports):
        awake = any(
            p.line_card == card and p.power_state in (PowerState.ACTIVE, PowerState.WAKING)
            for p in ports
        )
        cards.append(
            CardPower(
                card,
                PowerState.ACTIVE if awake else PowerState.SLEEP,
                profile.card_w if awake else profile.card_sleep_w,
            )
        )
    radio_w = radio.watts if radio is not None else 0.0
    total = profile.chassis_w + sum(c.watts for c in cards) + sum(p.watts for p in ports) + radio_w
    return DevicePower(device.name, total, profile.chassis_w, tuple(cards), ports, radio_w)


def _card_names(device: DeviceSpec, ports: tuple[PortPower, ...]) -> list[str]:
    names = [card.name for card in device.line_cards]
    for port in ports:
        if port.line_card not in names:
            names.append(port.line_card)
    return names


def total_watts(powers: Mapping[str, DevicePower]) -> float:
    """The sum over devices."""
    return sum(p.total_w for p in powers.values())
