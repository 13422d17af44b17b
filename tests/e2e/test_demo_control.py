"""The demo's lab answers on its control socket, as `lab up`'s does: faults reach it live."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from controller.demo import DemoOptions, run_demo
from controller.loop import Controller, TickReport
from controller.model import ChangeResult, Decision
from lab.control import CONTROL_SOCKET
from lab.launcher import inject_fault, lab_status


async def test_a_fault_injected_into_the_demos_lab_reaches_its_loop(tmp_path: Path) -> None:
    latencies: list[float] = []
    ticked = asyncio.Event()

    class Latency:
        def controller_ready(self, controller: Controller) -> None: ...
        def tick_finished(self, report: TickReport) -> None:
            for status in report.statuses:
                latencies.extend(t.observed for t in status.targets if t.observed is not None)
            ticked.set()

        def change_started(self, decision: Decision, txn: str) -> None: ...
        def change_finished(self, result: ChangeResult) -> None: ...

    stop = asyncio.Event()
    options = DemoOptions(scenario="steady", state_dir=tmp_path, interval=timedelta(seconds=1))
    demo = asyncio.create_task(run_demo(options, observers=[Latency()], stop=stop))
    try:
        await asyncio.wait_for(ticked.wait(), timeout=60)
        status = await asyncio.to_thread(lab_status, tmp_path)
        assert isinstance(status, dict) and status["scenario"] == "steady"
        body = {"op": "link", "link": "r2-r4", "action": "degrade", "delay_ms": 40}
        await asyncio.to_thread(inject_fault, tmp_path, body)
        seen = len(latencies)
        for _ in range(30):  # bounded: ticks, not time
            ticked.clear()
            await asyncio.wait_for(ticked.wait(), timeout=30)
            if any(v > 40 for v in latencies[seen:]):
                break
        assert any(v > 40 for v in latencies[seen:]), latencies
    finally:
        stop.set()
        await asyncio.wait_for(demo, timeout=60)
    assert not (tmp_path / CONTROL_SOCKET).exists()
