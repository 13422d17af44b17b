"""The console against real controllers on the embedded lab, driven with Pilot.

- Embedded (``netpilot demo``'s wiring, ``run_demo``): an approve-mode intent asks for a
  plan; the operator rejects it with a reason from the Approvals screen, and the device is
  left alone.
- Attached (``netpilot tui --connect``): the daemon (``controller.service.serve``) runs on
  the lab with its token API on a UNIX socket; the console, over a
  :class:`~controller.facade.RemoteFacade`, walks every screen, approves the plan, sees it
  confirmed on the device, reads the daemon's model registry and intent store, and rolls the
  change back. Quitting the console leaves the daemon running.

Devices are checked over NETCONF by the test itself, apart from the console and the
controller.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.widgets import DataTable, TabbedContent

from adapters.netconf import open_session
from controller.api import read_token
from controller.api_client import ApiClient
from controller.cli_tui import daemon_address
from controller.config import ApplySettings, LoopSettings, load_inventory, load_settings
from controller.demo import DemoOptions, run_demo, shipped_intents, write_controller_config
from controller.facade import RemoteFacade
from controller.model import ApprovalStatus, ChangeStatus, ClassConfig, DeviceConfig, TrafficClass
from controller.service import serve
from lab.runtime import LabNetwork, write_inventory
from lab.scenarios import get_scenario
from lab.topology import default_lab
from tests.tui.test_console import confirmed_changes, rows, select_row, static_text, wait_for
from tests.tui.test_screens import type_text
from tests.tui.test_tmux import Tmux, ended
from tui.app import NetpilotApp, TuiObserver, make_app
from tui.screens.approvals import ApprovalsScreen
from tui.screens.changes import ChangesScreen
from tui.screens.dialogs import ConfirmScreen, ReasonScreen
from tui.screens.explanation import ExplanationScreen

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETPILOT = Path(sys.executable).parent / "netpilot"
VIDEO_DEFAULT = ClassConfig(TrafficClass.VIDEO).priority


def approve_mode_intents(directory: Path) -> Path:
    """The shipped intent, in approve mode: the controller asks before it changes anything."""
    directory.mkdir(parents=True, exist_ok=True)
    text = (shipped_intents() / "video-west-east.yaml").read_text()
    assert "mode: auto" in text
    (directory / "video-west-east.yaml").write_text(text.replace("mode: auto", "mode: approve"))
    return directory


async def running_config(inventory: Path, device: str) -> DeviceConfig:
    """The device's running configuration, read over NETCONF by the test itself."""
    devices = {d.name: d for d in load_inventory(inventory)}
    session = await open_session(devices[device])
    try:
        return await session.get_running()
    finally:
        await session.close()


def video_priority(config: DeviceConfig) -> int:
    return config.class_config(TrafficClass.VIDEO).priority


def pending_ids(app: NetpilotApp) -> list[str]:
    return [a.id for a in app.state.pending_approvals]


def approval_status(app: NetpilotApp, approval_id: str) -> ApprovalStatus | None:
    return next((a.status for a in app.state.approvals if a.id == approval_id), None)


# --------------------------------------------------------------------------- embedded


async def test_rejecting_a_plan_on_the_embedded_lab_leaves_the_device_alone(tmp_path):
    options = DemoOptions(
        scenario="evening-peak",
        state_dir=tmp_path,
        intents_dir=approve_mode_intents(tmp_path / "intents"),
        interval=timedelta(seconds=1),
    )

    async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
        return await run_demo(options, observers=[observer], stop=stop)

    app = make_app(runner, subtitle="test")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        assert isinstance(app.screen, ApprovalsScreen)
        # the evening peak: the controller proposes its change and waits for an operator
        await wait_for(pilot, lambda: bool(pending_ids(app)), within=60)
        (approval_id,) = pending_ids(app)
        await wait_for(pilot, lambda: [r[3] for r in rows(app, "approvals")] == ["pending"])
        select_row(app, "approvals", lambda r: r[3] == "pending")
        await pilot.pause()
        detail = static_text(app, "approval-detail-text")
        assert approval_id in detail and "qos/class[name=video]/priority" in detail
        assert "latencyMs lessThan 30" in detail
        assert "6 Approvals (1)" in " ".join(static_text(app, ".nav-bar").split())

        # x asks for a reason; none is refused in place; with one, the plan is rejected
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=10)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReasonScreen)
        await type_text(pilot, "r2 is in a maintenance window")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: approval_status(app, approval_id) is ApprovalStatus.REJECTED, within=10
        )
        assert app.facade is not None
        snapshot = await app.facade.snapshot()
        reason = snapshot.held["video-west-east"][approval_id]
        assert reason == "rejected by an operator: r2 is in a maintenance window"

        # the controller keeps its hands off: the intent says it is not fulfilled, and
        # neither the journal nor the device holds a change
        await pilot.press("1")
        # at 80 columns the status is the notFulfilled state alone (degraded, compliant...)
        await wait_for(pilot, lambda: rows(app, "intents")[0][1] not in ("fulfilled", "waiting"))
        await wait_for(pilot, lambda: app.state.summary().tick >= snapshot.ticks + 2)
        assert not app.state.changes
        assert await app.facade.changes() == ()
        config = await running_config(tmp_path / "inventory.yaml", "r2")
        assert video_priority(config) == VIDEO_DEFAULT
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.summary is not None)


# --------------------------------------------------------------------------- attached


@dataclass
class Daemon:
    """``netpilot run`` on the lab, in this event loop, with its API on a UNIX socket."""

    lab: LabNetwork
    inventory: Path
    socket: Path
    stop: asyncio.Event
    task: asyncio.Task[Any]


async def train(store: Path, name: str, data: Path) -> None:
    """``netpilot models train`` (the real command) into ``store``."""
    process = await asyncio.create_subprocess_exec(
        str(NETPILOT),
        "models", "train", name, "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, (out + err).decode()[-2000:]


def load_series(path: Path) -> Path:
    """A week of five-minute link load with a daily cycle and seeded noise (deterministic).

    Without noise yesterday's value (the seasonal-naive rule) is exact, and a model that only
    ties the rule is not made champion."""
    start = datetime(2026, 11, 1)  # noqa: DTZ001 - the CSV's timestamps are naive, as exported
    noise = np.random.default_rng(1).normal(0, 8, 2016)
    lines = ["timestamp,value"]
    for step in range(2016):
        daily = 1.0 + 0.5 * (((step % 288) - 144) / 144) ** 2
        value = 400 * daily + noise[step]
        lines.append(f"{(start + timedelta(minutes=5 * step)).isoformat()},{value:.1f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    store = tmp_path / "models"  # the daemon's registry (models.store in its config)
    series = load_series(tmp_path / "r2-eth2.csv")
    await train(store, "r2-eth2-load", series)  # v1: the champion
    await train(store, "r2-eth2-load", series)  # v2: a challenger in shadow
    lab = LabNetwork(default_lab(), get_scenario("evening-peak"), seed=1)
    await lab.start(tmp_path)
    try:
        inventory = write_inventory(lab, tmp_path)
        config = write_controller_config(
            tmp_path,
            inventory=inventory,
            intents_dir=approve_mode_intents(tmp_path / "intents"),
            journal=tmp_path / "journal.sqlite",
            loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
            apply=ApplySettings(
                confirm_timeout=timedelta(seconds=60),
                verification_window=timedelta(seconds=3),
                verification_interval=timedelta(milliseconds=500),
                required_samples=3,
            ),
        )
        config.write_text(config.read_text() + f"models:\n  store: {store}\n")
        settings = load_settings(config)  # the API: netpilot.sock and api-token, here
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop=stop))
        socket = tmp_path / "netpilot.sock"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (socket.exists() and (tmp_path / "api-token").exists()):
            assert loop.time() < deadline, "the API did not come up"
            assert not task.done(), task.exception() if task.done() else ""
            await asyncio.sleep(0.05)
        try:
            yield Daemon(lab, inventory, socket, stop, task)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=60)
    finally:
        await lab.stop()


async def test_the_console_attached_to_a_daemon_on_the_lab(daemon: Daemon):
    # what `netpilot tui --connect unix:...` does: the token next to the socket
    address, token_file = daemon_address(
        connect=f"unix:{daemon.socket}", token_file=None, config=None
    )
    client = ApiClient(address, read_token(token_file))
    facade = RemoteFacade(client, interval=timedelta(milliseconds=200))
    app = make_app(facade.run, subtitle=f"attached to {address}", facade=facade)
    async with app.run_test(size=(80, 24)) as pilot:
        # Overview: the daemon's intent, with its live fulfilment
        await wait_for(
            pilot, lambda: [r[0] for r in rows(app, "intents")][:1] == ["video-west-east"]
        )
        await wait_for(pilot, lambda: app.state.summary().tick > 0)

        # Devices: the lab's four routers, polled by the daemon
        await pilot.press("2")
        await wait_for(pilot, lambda: len(rows(app, "devices")) == 4)
        await wait_for(pilot, lambda: all(r[1] == "up" for r in rows(app, "devices")))

        # Approvals: the evening peak makes the daemon propose a change; a approves it
        await pilot.press("6")
        await wait_for(pilot, lambda: bool(pending_ids(app)), within=60)
        (approval_id,) = pending_ids(app)
        await wait_for(pilot, lambda: "pending" in [r[3] for r in rows(app, "approvals")])
        select_row(app, "approvals", lambda r: r[3] == "pending")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ReasonScreen), within=10)
        await type_text(pilot, "agreed with the NOC")
        await pilot.press("enter")
        await wait_for(pilot, lambda: approval_status(app, approval_id) is not None)
        await wait_for(
            pilot,
            lambda: (
                approval_status(app, approval_id)
                in (ApprovalStatus.APPROVED, ApprovalStatus.APPLIED)
            ),
            within=10,
        )
        # the daemon applies it at its next tick, verifies it and confirms it
        await wait_for(pilot, lambda: bool(confirmed_changes(app)), within=60)
        (txn,) = confirmed_changes(app)
        await wait_for(pilot, lambda: approval_status(app, approval_id) is ApprovalStatus.APPLIED)
        applied = await running_config(daemon.inventory, "r2")
        assert video_priority(applied) > VIDEO_DEFAULT
        await pilot.pause()
        assert "agreed with the NOC" in static_text(app, "approval-detail-text")

        # Decisions: the change is in the feed, explained from target to outcome
        await pilot.press("3")
        await wait_for(pilot, lambda: any(r[1] == "confirmed" for r in rows(app, "feed")))
        select_row(app, "feed", lambda r: r[1] == "confirmed")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplanationScreen), within=10)
        why = static_text(app, "explanation-text")
        for part in ("Target", "latencyMs lessThan 30", "Bottleneck", "r2", "Guards"):
            assert part in why
        assert "confirmed" in why.split("Outcome")[1]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExplanationScreen), within=10)

        # Models: the daemon's registry (what `netpilot models train` wrote)
        await pilot.press("7")
        await wait_for(pilot, lambda: len(rows(app, "models")) == 1, within=20)
        (model,) = rows(app, "models")
        assert model[:5] == ["r2-eth2-load", "load-forecast", "v1", "v2", "active"]
        assert model[5].startswith("mape ")
        detail = static_text(app, "model-detail-text")
        assert "champion" in detail and "challenger" in detail and "Fallback" in detail

        # Intents: the admitted YAML, the intent's history and the source's revisions
        await pilot.press("5")
        await wait_for(pilot, lambda: "mode: approve" in static_text(app, "intent-source-text"))
        panels = app.screen.query_one("#intent-panels", TabbedContent)
        await pilot.press("h")
        await wait_for(pilot, lambda: "added" in static_text(app, "intent-history-text"))
        assert panels.active == "history"
        await pilot.press("v")
        await wait_for(pilot, lambda: "Active" in static_text(app, "intent-revisions-text"))
        revisions = static_text(app, "intent-revisions-text")
        assert "admitted" in revisions and "Conflicts in the active revision" in revisions

        # Changes: r, y rolls the approved change back on the device
        await pilot.press("4")
        await wait_for(pilot, lambda: any(r[1] == txn for r in rows(app, "changes")))
        select_row(app, "changes", lambda r: r[1] == txn)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), within=10)
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(
                c.rollback_of == txn and c.status is ChangeStatus.CONFIRMED
                for c in app.state.changes
            ),
            within=60,
        )
        assert isinstance(app.screen, ChangesScreen)
        await wait_for(pilot, lambda: "undone" in [r[3] for r in rows(app, "changes")])
        restored = await running_config(daemon.inventory, "r2")
        assert video_priority(restored) == VIDEO_DEFAULT
        table = app.screen.query_one("#changes", DataTable)
        assert table.row_count == 2

        await pilot.press("q")
        await wait_for(pilot, lambda: app.summary is not None)
    # the console detached; the daemon runs on, and has seen the operator's rollback
    assert app.summary is not None and int(str(app.summary["events"])) > 0
    assert not daemon.task.done()
    data = await client.call("GET", "/v1/changes")
    changes = data["changes"]
    assert isinstance(changes, list)
    assert sorted(str(c["status"]) for c in changes) == ["confirmed", "confirmed"]
    assert daemon.socket.exists()


async def test_netpilot_tui_connect_in_a_terminal_approves_a_plan(daemon: Daemon):
    """The command itself, in a real terminal (tmux, 80x24): it finds the token next to the
    socket, shows the daemon's pending plan, approves it with a reason, and detaches."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    terminal = Tmux()

    async def screen_shows(text: str, *, within: float = 60) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            screen = await asyncio.to_thread(terminal.screen)
            if text in " ".join(screen.split()):
                return screen
            assert loop.time() < deadline, f"{text!r} not on screen:\n{screen}"
            await asyncio.sleep(0.2)

    command = [str(NETPILOT), "tui", "--connect", f"unix:{daemon.socket}", "--output", "json"]
    try:
        await asyncio.to_thread(terminal.start, command, width=80, height=24)
        await screen_shows("attached to unix:")
        await screen_shows("video-west-east")
        await screen_shows("6 Approvals (1) 7 Models")  # the evening peak: a plan waits
        await asyncio.to_thread(terminal.keys, "6")
        await screen_shows("Plans awaiting approval: 1")
        await asyncio.to_thread(terminal.keys, "a")
        await screen_shows("Approve plan chg-")
        await asyncio.to_thread(terminal.keys, "-l", "ok by the NOC")
        await asyncio.to_thread(terminal.keys, "Enter")
        await screen_shows("1 confirmed, 0 rolled back")
        config = await running_config(daemon.inventory, "r2")
        assert video_priority(config) > VIDEO_DEFAULT
        await asyncio.to_thread(terminal.keys, "q")
        assert await asyncio.to_thread(ended, terminal.command_pid, within=20)
        final = await asyncio.to_thread(terminal.screen, history=True)
        (summary,) = [line for line in final.splitlines() if line.startswith("{")]
        assert f'"connected": "unix:{daemon.socket}"' in summary
    finally:
        await asyncio.to_thread(terminal.kill)
    assert not daemon.task.done()  # the daemon runs on
