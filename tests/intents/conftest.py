"""Shared data for the intents tests: the lab inventory and intent texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.model import Device

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXAMPLE_DIRS = (EXAMPLES / "intents", EXAMPLES / "intent-types", EXAMPLES / "conflicts")

# the embedded lab's four routers (examples/inventory.yaml)
DEVICES = (
    Device("r1", "127.1.0.1", labels={"site": "west", "role": "edge"}),
    Device("r2", "127.1.0.2", labels={"site": "west", "role": "core"}),
    Device("r3", "127.1.0.3", labels={"site": "east", "role": "core"}),
    Device("r4", "127.1.0.4", labels={"site": "east", "role": "edge"}),
)

QOS = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {{name: {name}}}
spec:
  priority: {priority}
  expectations:
    - id: latency
      type: e2e-qos
      objects: {{trafficClass: {cls}, path: {{from: r1, to: r4}}}}
      targets:
        - {{name: latencyMs, condition: lessThan, value: {latency}}}
"""

ENERGY = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {{name: {name}}}
spec:
  priority: {priority}
  expectations:
    - id: sleep
      type: energy-saving
      objects: {{select: {select}}}
      targets:
        - {{name: powerReductionRatio, condition: greaterThan, value: 0.2}}
        - {{name: maxUtilization, condition: lessThan, value: 0.7}}
"""

VIDEO = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {{name: {name}}}
spec:
  priority: {priority}
  expectations:
    - id: viewers
      type: video-experience
      objects: {{select: {select}}}
      targets:
        - {{name: stallRatio, condition: lessThan, value: {stall}}}
"""


def qos(
    name: str = "video", *, priority: int = 100, cls: str = "video", latency: float = 30
) -> str:
    return QOS.format(name=name, priority=priority, cls=cls, latency=latency)


def energy(name: str = "sleep", *, priority: int = 40, select: str = "{role: core}") -> str:
    return ENERGY.format(name=name, priority=priority, select=select)


def video(
    name: str = "viewers", *, priority: int = 80, select: str = "{site: east}", stall: float = 0.01
) -> str:
    return VIDEO.format(name=name, priority=priority, select=select, stall=stall)


def example_files() -> list[Path]:
    return [p for d in EXAMPLE_DIRS for p in sorted(d.glob("*.yaml"))]


@pytest.fixture
def devices() -> tuple[Device, ...]:
    return DEVICES
