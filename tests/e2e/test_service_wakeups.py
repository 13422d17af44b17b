"""`netpilot run` wakes its loop early: an SNMP linkDown trap from a lab device, and a new
intent revision, each start a tick at once although the polling interval is ten minutes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from controller.api import read_token
from controller.api_client import ApiClient
from controller.config import ApplySettings, LoopSettings, load_settings
from controller.demo import shipped_intents, write_controller_config
from controller.loop import Controller, TickReport
from controller.service import serve
from lab.runtime import LabNetwork, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEN_MINUTES = timedelta(minutes=10)


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Ticks:
    """An observer that hands every finished tick to the test."""

    reports: asyncio.Queue[TickReport] = field(default_factory=asyncio.Queue)

    def controller_ready(self, controller: Controller) -> None:
        return None

    def tick_finished(self, report: TickReport) -> None:
        self.reports.put_nowait(report)

    def change_started(self, decision: object, txn: str) -> None:
        return None

    def change_finished(self, result: object) -> None:
        return None


@pytest.fixture
async def daemon(
    lab: LabNetwork, tmp_path: Path
) -> AsyncIterator[
    tuple[Ticks, ApiClient, Path, asyncio.Task[dict[str, object]], asyncio.Event, str]
]:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "video.yaml").write_text((shipped_intents() / "video-west-east.yaml").read_text())
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=intents,
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=TEN_MINUTES, violation_ticks=2),
        apply=ApplySettings(),
    )
    trap_port = free_udp_port()
    data = yaml.safe_load(config.read_text())
    data["traps"] = {"listen": f"127.0.0.1:{trap_port}"}
    data["metrics"] = {"listen": f"127.0.0.1:{free_tcp_port()}"}
    config.write_text(yaml.safe_dump(data))
    lab.trap_targets.append(("127.0.0.1", trap_port))
    ticks = Ticks()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(config), stop=stop, observers=[ticks]))
    try:
        await asyncio.wait_for(ticks.reports.get(), 30)  # the first tick, at start
        client = ApiClient(f"unix:{tmp_path / 'netpilot.sock'}", read_token(tmp_path / "api-token"))
        yield ticks, client, intents, task, stop, data["metrics"]["listen"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_a_link_down_trap_and_a_new_revision_each_wake_the_loop(daemon, lab: LabNetwork):
    ticks, client, intents, task, stop, metrics = daemon
    assert ticks.reports.empty()  # nothing else is due for ten minutes

    lab.faults.cut_link(lab.spec.topology.links[0].name)  # a linkDown from each end
    woken = await asyncio.wait_for(ticks.reports.get(), 20)
    assert woken.number == 2

    shipped = (intents / "video.yaml").read_text()
    (intents / "video-copy.yaml").write_text(shipped.replace("video-west-east", "video-copy"))
    status, body = await client.request("POST", "/v1/reload")
    assert status == 200 and body["applied"] is True

    async def tick_with_the_new_intent() -> TickReport:
        while True:  # the second linkDown may have queued one more tick before the reload
            report: TickReport = await ticks.reports.get()
            if any(s.name == "video-copy" for s in report.statuses):
                return report

    after_reload = await asyncio.wait_for(tick_with_the_new_intent(), 20)
    assert {s.name for s in after_reload.statuses} == {"video-west-east", "video-copy"}
    assert after_reload.number <= 4  # trap tick(s), then the reload's: none waited 10 min

    reader, writer = await asyncio.open_connection(*metrics.split(":"))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    exposition = (await reader.read()).decode()
    writer.close()
    assert 'netpilot_loop_wakeups_total{reason="intents"} 1.0' in exposition
    assert 'netpilot_loop_wakeups_total{reason="trap:linkDown"}' in exposition

    stop.set()
    summary = await asyncio.wait_for(task, 60)
    wakeups = summary["wakeups"]
    assert isinstance(wakeups, dict)
    assert wakeups.get("trap:linkDown", 0) >= 1 and wakeups.get("intents") == 1
