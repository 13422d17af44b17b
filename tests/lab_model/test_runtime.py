"""The running lab's life cycle: a failing model step, and a stop() that must stop everything."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lab.runtime import LabNetwork
from lab.scenarios import get_scenario
from lab.topology import default_lab

pytestmark = pytest.mark.integration

WITHIN = 5.0  # seconds; stepping runs every 0.5 s, and request_step() wakes it at once


async def assert_refused(address: str, port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(address, port)


async def test_a_failing_step_is_logged_and_stepping_goes_on(tmp_path, monkeypatch, caplog):
    lab = LabNetwork(default_lab(), get_scenario("steady"), seed=1)
    await lab.start(tmp_path)
    real_step = lab.model.step
    failed, recovered = asyncio.Event(), asyncio.Event()

    def step_failing_once(*args, **kwargs):
        if not failed.is_set():
            failed.set()
            raise RuntimeError("model exploded")
        state = real_step(*args, **kwargs)
        recovered.set()
        return state

    monkeypatch.setattr(lab.model, "step", step_failing_once)
    try:
        with caplog.at_level(logging.ERROR, logger="netpilot.lab"):
            lab.request_step()
            await asyncio.wait_for(failed.wait(), WITHIN)
            lab.request_step()
            await asyncio.wait_for(recovered.wait(), WITHIN)
    finally:
        await lab.stop()  # before the fix this re-raised the step's error
    assert "lab model step failed" in caplog.text and "model exploded" in caplog.text
    device = next(iter(lab.devices.values()))
    await assert_refused(device.address, device.netconf_port)


async def test_stop_stops_every_server_when_one_fails_to_stop(tmp_path, monkeypatch, caplog):
    lab = LabNetwork(default_lab(), get_scenario("steady"), seed=1)
    await lab.start(tmp_path)
    devices = list(lab.devices.values())
    first = devices[0].netconf
    assert first is not None
    real_stop = first.stop

    async def stop_then_fail() -> None:
        await real_stop()
        raise OSError("socket already gone")

    monkeypatch.setattr(first, "stop", stop_then_fail)
    with caplog.at_level(logging.ERROR, logger="netpilot.lab"):
        await lab.stop()
    assert "socket already gone" in caplog.text
    for device in devices:
        assert device.netconf is None and device.snmp is None
        await assert_refused(device.address, device.netconf_port)
