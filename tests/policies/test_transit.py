"""Traffic endpoints forward only their own traffic: no action may route a demand through an
access node that the network keeps off it (metro lab, east aggregation uplinks asleep)."""

from __future__ import annotations

import pytest

from controller.model import ConfigEdit, EditOp, PowerMode
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from lab.config import TrafficClass as LabClass
from policies.base import ActionKind, Candidate
from policies.qos import _predict
from policies.twin import endpoint_transit, with_power_modes
from tests.policies.labworld import LabWorld

LATENCY = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video}
spec:
  priority: 100
  expectations:
    - id: latency
      type: e2e-qos
      objects: {trafficClass: video, path: {from: edge-west, to: acc-east-1}}
      targets:
        - {name: latencyMs, condition: lessThan, value: 100}
"""


@pytest.fixture(scope="module")
def east_agg_asleep() -> LabWorld:
    """The metro lab at the night trough with both uplinks of agg-east asleep: the east
    access nodes reach the core over their backup uplinks only."""
    world = LabWorld("metro", "night-low-load")
    world.advance(5 * 3600)
    for device, port in (
        ("agg-east", "eth1"),
        ("agg-east", "eth2"),
        ("core3", "eth3"),
        ("core4", "eth3"),
    ):
        config = with_power_modes(world.configs[device], ports={port: PowerMode.SLEEP})
        world.commit(device, config)
    world.advance(120)
    return world


def test_a_reroute_through_an_access_node_is_not_predicted_to_meet(
    east_agg_asleep: LabWorld,
) -> None:
    loaded = load_intent_set([IntentSource("v.yaml", LATENCY)], support=FULL_SUPPORT)
    assert loaded.ok, loaded.errors
    (intent,) = loaded.intents
    world = east_agg_asleep.world([intent])
    assert world.twin is not None
    assert world.view is not None
    assert endpoint_transit(world.view.state, world.twin.endpoints) == set()
    # steer core4 off acc-east-1's backup uplink: what is left runs core3 -> ran-east-1 ->
    # agg-east -> acc-east-1, through a radio site's uplinks
    edit = ConfigEdit(EditOp.CHANGE, ("interfaces", "interface[name=eth5]", "metric"), "30", "500")
    steer = Candidate(ActionKind.REROUTE, "steer off core4 eth5", {"core4": (edit,)}, 3.0)
    after = world.twin.what_if(world.view, steer.desired(world.bases()))
    through = endpoint_transit(after, world.twin.endpoints)
    assert any(d == "acc-east-1" for _, d, _ in through)
    latency = after.paths[("edge-west", "acc-east-1", LabClass.VIDEO)].latency_ms
    assert latency < 90  # the target alone (100 ms, 10 % headroom) would take it
    predicted = _predict(steer, intent.expectations[0], world)
    assert predicted.meets_target is False
