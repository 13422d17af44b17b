"""An in-process lab network observed the way the controller observes it, for policy tests.

The lab's network model steps on an injected clock (no servers, no sleeps); each device's
operational state is rendered as the lab's NETCONF server would serve it and parsed by the
controller's own parser, and configurations are pushed into the lab as the XML a commit
would carry. So a policy test sees what the loop would see, without a network.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import datetime

from adapters.parsing.netpilot_lab import parse_operational_state, render_config
from controller.model import (
    Device,
    DeviceConfig,
    Intent,
    InterfaceConfig,
    Observation,
)
from lab.runtime import LabNetwork
from lab.scenarios import Scenario, get_scenario
from lab.topology import LabSpec, load_named_lab
from policies.base import ChangeWindows, LoadForecast, PolicySettings, StallAnswer, World
from policies.twin import Twin, probe_pairs


class LabWorld:
    """One lab network, its observations and the twin the controller would build of it."""

    def __init__(
        self,
        topology: str = "four-router",
        scenario: str | Scenario = "steady",
        *,
        seed: int = 1,
    ) -> None:
        self.spec: LabSpec = load_named_lab(topology)
        self.seconds = 0.0
        chosen = get_scenario(scenario) if isinstance(scenario, str) else scenario
        self.lab = LabNetwork(
            self.spec, chosen, seed=seed, speed=1.0, wall_clock=lambda: self.seconds
        )
        self.configs: dict[str, DeviceConfig] = {
            name: DeviceConfig(
                interfaces=tuple(
                    InterfaceConfig(name=port, metric=itf.metric)
                    for port, itf in sorted(device.settings.interfaces.items())
                )
            )
            for name, device in self.lab.devices.items()
        }
        self.twin = Twin(self.spec)
        self.devices = {
            d.name: Device(name=d.name, address="", labels={"site": d.site, "role": d.role.value})
            for d in self.spec.topology.devices
        }
        self.lab.step()

    @property
    def now(self) -> datetime:
        return self.lab.now()

    def advance(self, seconds: float) -> None:
        """Let lab time pass and step the model."""
        self.seconds += seconds
        self.lab.step()

    def commit(self, device: str, config: DeviceConfig) -> None:
        """Push a whole configuration to a device, as a commit would."""
        self.configs[device] = config
        self.lab.devices[device].running_changed(
            ET.fromstring(render_config(config))  # noqa: S314 - our own renderer's text
        )
        self.lab.step()

    def observations(self) -> dict[str, Observation]:
        """Every device observed now (NETCONF state parsed by the controller's parser)."""
        result: dict[str, Observation] = {}
        at = self.now
        for name in self.lab.devices:
            xml = ET.tostring(self.lab.state_element(name))
            state = parse_operational_state(xml, device=name)
            result[name] = Observation(
                device=name,
                at=at,
                queues=state.queues,
                probes=state.probes,
                config=self.configs[name],
                ports=state.ports,
                power=state.power,
                carriers=state.carriers,
                subscribers=state.subscribers,
            )
        return result

    def world(
        self,
        intents: Iterable[Intent] = (),
        *,
        statuses: Mapping[str, object] | None = None,
        forecast: LoadForecast | None = None,
        stall: StallAnswer | None = None,
        settings: PolicySettings | None = None,
        windows: ChangeWindows | None = None,
        **extra: object,
    ) -> World:
        """The policies' world for this instant, with the twin loaded from observations."""
        intents = tuple(intents)
        observations = self.observations()
        pairs = probe_pairs(intents)
        view = self.twin.observe(observations, now=self.now, probe_pairs=pairs)
        return World(
            now=self.now,
            devices=self.devices,
            observations=observations,
            intents=intents,
            statuses=dict(statuses or {}),  # type: ignore[arg-type]
            twin=self.twin,
            view=view,
            forecast=forecast,
            stall=stall,
            settings=settings or PolicySettings(),
            windows=windows or ChangeWindows(),
            **extra,  # type: ignore[arg-type]
        )
