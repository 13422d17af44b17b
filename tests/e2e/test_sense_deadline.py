"""A dead device costs a tick its sense deadline, not its NETCONF timeout; a device that keeps
failing is polled less often and recovers when it answers (the embedded lab, real NETCONF
over SSH and SNMP over UDP on loopback).

No wall-time thresholds: every NETCONF timeout here is 120 s and the deadline a few seconds,
so "the tick ended before the timeout" is shown by the dead device's read still running when
the tick's report is in. The backoff runs on an injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.base import ConfigSession
from controller.app import ControllerRuntime, build_controller
from controller.config import ControllerSettings, LoopSettings, load_settings
from controller.demo import shipped_intents, write_controller_config
from controller.model import Device
from controller.sense import Sensor
from lab.runtime import LabNetwork, write_inventory
from tests.e2e.conftest import APPLY

NETCONF_TIMEOUT = 120.0  # far beyond any deadline below
DEADLINE = timedelta(seconds=5)


class StepClock:
    """The controller's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _slow_to_time_out(device: Device) -> Device:
    assert device.netconf is not None
    return replace(device, netconf=replace(device.netconf, timeout_seconds=NETCONF_TIMEOUT))


def _settings(lab: LabNetwork, tmp_path: Path) -> ControllerSettings:
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=shipped_intents(),
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=timedelta(seconds=10)),
        apply=APPLY,
    )
    settings = load_settings(config)
    inventory = tuple(_slow_to_time_out(d) for d in settings.inventory)
    return replace(settings, inventory=inventory)


def _on_port(settings: ControllerSettings, port: int) -> Device:
    """A device "dead" with the lab's NETCONF credentials at 127.0.0.1:``port``, no SNMP
    (any host key accepted: the connect must get as far as waiting for the server)."""
    netconf = settings.inventory[0].netconf
    assert netconf is not None
    endpoint = replace(netconf, port=port, trust_on_first_use=True)
    return Device(name="dead", address="127.0.0.1", netconf=endpoint)


async def _warm_up(runtime: ControllerRuntime, names: list[str]) -> None:
    """Open each device's SSH connection before the first deadline (a connect costs more
    than a read; the sensor then leases the idle session)."""
    for name in names:
        session = await runtime.netconf.open_session(name)
        await session.close()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP listener on loopback that accepts and never says a word: a hung device."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_hanging_device_costs_the_tick_its_deadline_not_its_timeout(
    lab: LabNetwork, tmp_path: Path, silent_port: int
) -> None:
    settings = _settings(lab, tmp_path)
    lab_devices = [d.name for d in settings.inventory]
    settings = replace(settings, inventory=(*settings.inventory, _on_port(settings, silent_port)))
    runtime = build_controller(settings, intents=())
    runtime.sensor.deadline = DEADLINE
    try:
        await _warm_up(runtime, lab_devices)
        report = await runtime.controller.tick()

        assert report.observations["dead"].errors == (
            f"sense: no answer within the {DEADLINE.total_seconds():g} s deadline",
        )
        # the SSH connect to the silent listener is still waiting for its 120 s timeout
        assert runtime.sensor.state("dead").read_pending
        for name in lab_devices:
            observation = report.observations[name]
            assert observation.errors == (), name
            assert observation.config is not None and observation.queues, name
    finally:
        await runtime.close()


async def test_a_failing_device_is_polled_less_often_and_recovers(
    lab: LabNetwork, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = StepClock()
    settings = _settings(lab, tmp_path)
    names = [d.name for d in settings.inventory]
    victim = names[1]
    runtime = build_controller(settings, intents=(), clock=clock)
    sensor = runtime.sensor
    sensor.deadline = DEADLINE
    caplog.set_level(logging.INFO, logger="netpilot.sense")
    try:
        await _warm_up(runtime, names)
        before = await runtime.controller.tick()
        assert all(not o.errors for o in before.observations.values())

        lab.faults.set_unreachable(victim, True)  # it answers nothing, and holds its replies
        hung = await runtime.controller.tick()
        assert hung.observations[victim].errors == (
            f"sense: no answer within the {DEADLINE.total_seconds():g} s deadline",
        )
        assert all(not hung.observations[n].errors for n in names if n != victim)
        state = sensor.state(victim)
        assert state.failures == 1 and state.read_pending
        assert state.retry_at == clock.now + DEADLINE  # first failure: one deadline of rest

        clock.advance(10)
        waiting = await runtime.controller.tick()  # its read still runs: not polled again
        (error,) = waiting.observations[victim].errors
        assert error.startswith("sense: not polled, its last read has not ended")
        assert sensor.state(victim).failures == 1

        lab.faults.set_unreachable(victim, False)  # the held reply goes out now
        await sensor.settle()
        assert not sensor.state(victim).read_pending

        clock.advance(10)
        back = await runtime.controller.tick()
        # the session that carried the late reply answers this poll with this poll's data
        observation = back.observations[victim]
        assert observation.errors == ()
        assert observation.config is not None
        assert observation.config == before.observations[victim].config and observation.queues
        assert sensor.state(victim) == replace(sensor.state(victim), failures=0, retry_at=None)

        messages = [r.getMessage() for r in caplog.records if r.name == "netpilot.sense"]
        assert messages == [
            f"{victim} is not observed (no answer within the "
            f"{DEADLINE.total_seconds():g} s deadline); polled less often until it answers again",
            f"{victim} answers again, after 1 failed poll(s)",
        ]
    finally:
        await runtime.close()


@pytest.fixture
async def closed_port() -> int:
    """A loopback port nobody listens on: connections are refused at once."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def test_backoff_doubles_while_a_device_stays_dead(
    lab: LabNetwork, tmp_path: Path, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock = StepClock()
    settings = _settings(lab, tmp_path)
    names = [d.name for d in settings.inventory]
    settings = replace(settings, inventory=(*settings.inventory, _on_port(settings, closed_port)))
    runtime = build_controller(settings, intents=(), clock=clock)
    sensor = runtime.sensor
    sensor.deadline = DEADLINE
    caplog.set_level(logging.INFO, logger="netpilot.sense")
    polled: list[bool] = []
    try:
        await _warm_up(runtime, names)
        for _ in range(12):
            failures = sensor.state("dead").failures
            report = await runtime.controller.tick()
            polled.append(sensor.state("dead").failures > failures)
            assert report.observations["dead"].errors
            assert all(not report.observations[n].errors for n in names)
            clock.advance(DEADLINE.total_seconds() * 2)  # a tick every two deadlines
        # rest after the n-th failure: 1, 2, 4, 8 deadlines; a tick every 2: polled at ticks
        # 0, 1, 2, then every 2nd, then every 4th
        assert polled == [True, True, True, False, True, False, False, False, True] + [False] * 3
        assert sensor.state("dead").failures == 5
        said = [r.getMessage() for r in caplog.records if r.name == "netpilot.sense"]
        assert len(said) == 1 and said[0].startswith("dead is not observed (netconf: ")
    finally:
        await runtime.close()


async def test_a_read_cancelled_at_close_leaves_the_pooled_session_usable(
    lab: LabNetwork, tmp_path: Path
) -> None:
    settings = _settings(lab, tmp_path)
    names = [d.name for d in settings.inventory]
    victim = names[2]
    runtime = build_controller(settings, intents=())
    pool = runtime.netconf

    async def lease(device: Device) -> ConfigSession:
        return await pool.open_session(device.name)

    try:
        await _warm_up(runtime, names)
        runtime.sensor.deadline = DEADLINE
        before = (await runtime.controller.tick()).observations[victim]
        lab.faults.set_unreachable(victim, True)
        hung = await runtime.controller.tick()
        assert runtime.sensor.state(victim).read_pending
        assert hung.observations[victim].errors
        await runtime.sensor.close()  # cancels the read mid-RPC; its session goes back
        lab.faults.set_unreachable(victim, False)  # the cancelled request's reply arrives

        fresh = Sensor(
            settings.inventory,
            open_session=lease,
            poller=runtime.poller,
            clock=lambda: datetime.now(UTC),
            deadline=DEADLINE,
        )
        try:
            observation = (await fresh.collect())[victim]
            again = (await fresh.collect())[victim]
        finally:
            await fresh.close()
        for seen in (observation, again):
            assert seen.errors == ()
            assert seen.config is not None
            assert seen.config == before.config and seen.queues
    finally:
        await runtime.close()
