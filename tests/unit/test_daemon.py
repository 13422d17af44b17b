"""The scheduler never runs two ticks at once and waits for a running tick on the way out."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

import pytest

from controller.config import LoopClass
from controller.daemon import Wakeup, run_loop


class SlowController:
    """Ticks take longer than the interval; records how many run at the same time."""

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.ticks = 0
        self.finished_ticks = 0
        self.drained = False
        self.recovered = False
        self.enough = asyncio.Event()
        self.changes: Counter[str] = Counter()  # (none ends while draining here)

    async def tick(self) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.ticks += 1
        if self.ticks == 3:
            self.enough.set()  # the stop arrives while this tick is under way
        try:
            await asyncio.sleep(0.25)  # a tick slower than the 0.1 s interval
        finally:
            self.running -= 1
        self.finished_ticks += 1

    async def drain(self) -> None:
        self.drained = True

    @property
    def observers(self):
        return self

    def controller_ready(self, controller: object) -> None:
        self.ready = True

    async def recover(self) -> list[object]:
        self.recovered = True
        return []


async def test_ticks_never_overlap_and_shutdown_waits_for_the_running_one(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.WARNING)
    controller = SlowController()
    stop = asyncio.Event()

    async def stop_after_three() -> None:
        await controller.enough.wait()
        stop.set()

    stopper = asyncio.create_task(stop_after_three())
    await asyncio.wait_for(
        run_loop(controller, interval=timedelta(seconds=0.1), stop=stop),  # type: ignore[arg-type]
        timeout=10,
    )
    await stopper
    assert controller.ticks >= 3
    assert controller.most_at_once == 1
    assert controller.finished_ticks == controller.ticks  # none was cut off
    assert controller.drained
    assert controller.recovered  # in-flight changes of an earlier run are settled first
    messages = [r.getMessage() for r in caplog.records]
    assert any("longer than its 0.1 s interval" in m for m in messages)  # said by the loop
    assert not any("maximum number of running instances" in m for m in messages)


class GatedController(SlowController):
    """Each tick waits until the test lets it finish; the test sees every tick start."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Queue[int]()
        self.release = asyncio.Event()

    async def tick(self) -> None:
        self.ticks += 1
        self.started.put_nowait(self.ticks)
        await self.release.wait()
        self.release.clear()
        self.finished_ticks += 1


async def test_a_wakeup_runs_a_tick_now_and_one_during_a_tick_runs_right_after_it():
    controller = GatedController()
    stop = asyncio.Event()
    wakeup = Wakeup()
    hour = timedelta(hours=1)  # no periodic tick can explain what follows
    loop = asyncio.create_task(
        run_loop(controller, interval=hour, stop=stop, wakeup=wakeup)  # type: ignore[arg-type]
    )
    try:
        assert await asyncio.wait_for(controller.started.get(), 10) == 1  # the first, at once
        wakeup.request("trap:linkDown")  # during tick 1: kept ...
        wakeup.request("trap:linkDown")  # ... and a burst is one request
        controller.release.set()
        assert await asyncio.wait_for(controller.started.get(), 10) == 2  # right after it
        controller.release.set()
        await asyncio.wait_for(_until_idle(controller), 10)
        assert controller.started.empty()  # the burst cost exactly one extra tick

        wakeup.request("intents")  # while idle: now
        assert await asyncio.wait_for(controller.started.get(), 10) == 3
        controller.release.set()
        assert wakeup.requests["trap:linkDown"] == 2 and wakeup.requests["intents"] == 1
    finally:
        stop.set()
        controller.release.set()
        await asyncio.wait_for(loop, 10)


async def _until_idle(controller: GatedController) -> None:
    for _ in range(50):  # let the loop run anything it was told to run now
        await asyncio.sleep(0)


class ClassedController(SlowController):
    """Records which loop class each tick was for."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: list[LoopClass | None] = []
        self.three_fast = asyncio.Event()

    async def tick(self, loop_class: LoopClass | None = None) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.classes.append(loop_class)
        await asyncio.sleep(0)
        self.running -= 1
        if self.classes.count(LoopClass.FAST) >= 3:
            self.three_fast.set()


async def test_each_loop_class_runs_on_its_own_cadence_and_never_beside_the_other():
    controller = ClassedController()
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_loop(
            controller,  # type: ignore[arg-type]
            interval=timedelta(seconds=0.05),
            slow_interval=timedelta(hours=1),
            stop=stop,
        )
    )
    try:
        await asyncio.wait_for(controller.three_fast.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
    assert controller.classes.count(LoopClass.SLOW) == 1  # at start; the next is in an hour
    assert controller.classes.count(LoopClass.FAST) >= 3
    assert None not in controller.classes  # no tick of every intent unless woken
    assert controller.most_at_once == 1
