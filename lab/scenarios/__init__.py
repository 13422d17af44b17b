"""Named lab scenarios: scripted events over lab time, as frozen data.

Use :func:`get_scenario` to look one up by name and :func:`scenario_names` to list them;
:mod:`lab.scenarios.builtin` documents the shipped ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from lab.scenarios.builtin import BUILTIN, EVENING_PEAK, STEADY
from lab.scenarios.scenario import (
    ClassDemandRamp,
    DeviceFault,
    DeviceFaultKind,
    LinkFault,
    Scenario,
    ScenarioEvent,
    SiteDemandRamp,
)

__all__ = [
    "EVENING_PEAK",
    "SCENARIOS",
    "STEADY",
    "ClassDemandRamp",
    "DeviceFault",
    "DeviceFaultKind",
    "LinkFault",
    "Scenario",
    "ScenarioEvent",
    "SiteDemandRamp",
    "UnknownScenarioError",
    "get_scenario",
    "scenario_names",
]

SCENARIOS: Mapping[str, Scenario] = MappingProxyType({s.name: s for s in BUILTIN})


class UnknownScenarioError(KeyError):
    """No scenario has the requested name.

    Args:
        name: the requested name.
        known: the names that exist.
    """

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown scenario {self.name!r}; known scenarios: {', '.join(self.known)}"


def scenario_names() -> tuple[str, ...]:
    """Names of the shipped scenarios, sorted.

    Returns:
        The names.
    """
    return tuple(sorted(SCENARIOS))


def get_scenario(name: str) -> Scenario:
    """The shipped scenario called ``name``.

    Args:
        name: e.g. ``evening-peak``.

    Returns:
        The scenario.

    Raises:
        UnknownScenarioError: no such scenario; the message lists the known names.
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenarioError(name, scenario_names()) from None
