"""The decide step with the what-if twin in the closed loop on the embedded lab: the change
is chosen on a prediction, and after it the loop records predicted against observed."""

from __future__ import annotations

import asyncio

import pytest

from controller.model import ChangeStatus
from lab.topology import default_lab
from policies.twin import Twin
from tests.e2e.conftest import INTERVAL, tick_until_change

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_the_twin_predicts_the_fix_and_its_accuracy_is_recorded(lab, controller):
    runtime, recorder = controller
    runtime.controller.twin = Twin(default_lab())  # the operator's topology file, parsed
    result = await tick_until_change(runtime, recorder)
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    decision, _ = recorder.started[-1]
    explanation = decision.explanation
    assert str(explanation["model"]).startswith("what-if twin")
    predicted = explanation["predicted"]
    assert isinstance(predicted, dict)
    assert predicted["latencyMs"] < 30 * 0.9  # chosen because it is predicted to meet it
    candidates = explanation["candidates"]
    assert isinstance(candidates, list)
    assert all("predicted" in c for c in candidates)
    assert explanation["arbitration"]["outcome"] == "won"
    # the next ticks observe the target and compare it with the prediction
    for _ in range(5):
        await asyncio.sleep(INTERVAL.total_seconds())
        await runtime.controller.tick()
        if runtime.controller.twin_accuracy:
            break
    (record,) = runtime.controller.twin_accuracy
    assert record["txn"] == result.change_id
    latency = record["targets"]["latencyMs"]
    assert latency["observed"] < 30
    assert latency["relative_error"] < 0.5  # the twin is a model: close, not exact
    (event,) = runtime.journal.events(kind="twin-accuracy")
    assert event.intent == "video-west-east"
    assert event.detail["txn"] == result.change_id
