"""The embedded lab and a controller built from the config the lab writes, in one test loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from controller.app import ControllerRuntime, build_controller
from controller.config import ApplySettings, LoopSettings, load_settings
from controller.demo import shipped_intents, write_controller_config
from controller.loop import Controller, TickReport
from controller.model import ChangeResult, Decision
from lab.runtime import LabNetwork, write_inventory
from lab.scenarios import get_scenario
from lab.topology import default_lab

INTERVAL = timedelta(seconds=1)
APPLY = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(seconds=3),
    verification_interval=timedelta(milliseconds=500),
    required_samples=3,
)


@dataclass
class Recorder:
    """A controller observer that remembers what happened and signals finished changes."""

    ticks: list[TickReport] = field(default_factory=list)
    started: list[tuple[Decision, str]] = field(default_factory=list)
    finished: list[ChangeResult] = field(default_factory=list)
    change_done: asyncio.Event = field(default_factory=asyncio.Event)

    def controller_ready(self, controller: Controller) -> None:
        self.controller = controller

    def tick_finished(self, report: TickReport) -> None:
        self.ticks.append(report)

    def change_started(self, decision: Decision, txn: str) -> None:
        self.started.append((decision, txn))

    def change_finished(self, result: ChangeResult) -> None:
        self.finished.append(result)
        self.change_done.set()


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[LabNetwork]:
    network = LabNetwork(default_lab(), get_scenario("evening-peak"), seed=1)
    await network.start(tmp_path)
    try:
        yield network
    finally:
        await network.stop()


@pytest.fixture
async def controller(
    lab: LabNetwork, tmp_path: Path
) -> AsyncIterator[tuple[ControllerRuntime, Recorder]]:
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=shipped_intents(),
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=INTERVAL, violation_ticks=2),
        apply=APPLY,
    )
    recorder = Recorder()
    runtime = build_controller(load_settings(config), observers=[recorder])
    try:
        yield runtime, recorder
    finally:
        await runtime.controller.drain()
        await runtime.close()


async def tick_until_change(
    runtime: ControllerRuntime, recorder: Recorder, *, max_ticks: int = 30
) -> ChangeResult:
    """Tick once per interval until a change transaction has finished (bounded)."""
    for _ in range(max_ticks):
        await runtime.controller.tick()
        try:
            await asyncio.wait_for(recorder.change_done.wait(), timeout=INTERVAL.total_seconds())
        except TimeoutError:
            continue
        return recorder.finished[-1]
    raise AssertionError(f"no change finished within {max_ticks} ticks")
