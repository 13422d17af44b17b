"""The shipped metro examples at admission, as ``netpilot run`` admits them: with a topology
(twin arbitration) the energy intent keeps acting next to the video path; without one it is
narrowed to what no higher-priority intent may need."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controller.model import Device, IntentMode
from intents.inventory import Inventory
from intents.load import IntentSource
from intents.revisions import Evaluation, evaluate
from intents.support import CURRENT_SUPPORT
from lab.topology import metro_lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "metro"


def _inventory() -> Inventory:
    spec = metro_lab()
    return Inventory.from_devices(
        Device(name=d.name, address="", labels={"site": d.site, "role": d.role.value})
        for d in spec.topology.devices
    )


def _evaluate(twin: bool) -> Evaluation:
    files = tuple(IntentSource(str(p), p.read_bytes()) for p in sorted(EXAMPLES.glob("*.yaml")))
    support = replace(CURRENT_SUPPORT, twin_arbitration=twin)
    evaluation = evaluate(files, inventory=_inventory(), support=support)
    assert evaluation.ok, [str(e) for e in evaluation.errors]
    return evaluation


def test_with_a_twin_the_energy_intent_acts_beside_the_video_path():
    evaluation = _evaluate(twin=True)
    energy = next(i for i in evaluation.enforced if i.name == "energy-metro")
    written = next(i for i in evaluation.intents if i.name == "energy-metro")
    assert energy.mode is IntentMode.AUTO
    west = next(e for e in energy.expectations if e.id == "west")
    assert west == next(e for e in written.expectations if e.id == "west")  # not narrowed
    # the conflicts are still reported, each with how it is resolved
    path = [c for c in evaluation.conflicts if "video-latency-east" in c.intents]
    assert path and all("checked on the what-if twin" in c.resolution for c in path)


def test_without_a_twin_the_energy_intent_is_narrowed_by_the_video_path():
    evaluation = _evaluate(twin=False)
    energy = next(i for i in evaluation.enforced if i.name == "energy-metro")
    written = next(i for i in evaluation.intents if i.name == "energy-metro")
    assert energy != written
    path = [c for c in evaluation.conflicts if "video-latency-east" in c.intents]
    assert path and not any("what-if twin" in c.resolution for c in path)
