"""Stopping: at any moment, and with the summary taken once what was under way has ended.

`netpilot demo` stops cleanly whenever a stop signal arrives: also before its event loop has
started (while it is starting) and after that loop has closed (while it is cleaning up). The
demo waits at a named moment when ``NETPILOT_DEMO_HOLD`` names it and says so on stderr
(controller.demo.StopSignals.hold), so a signal is sent exactly there, not after a guessed
delay. The demo is a subprocess, run as a user runs it, in a temporary state directory
(``mkdtemp`` honours TMPDIR) whose ``secrets/`` must be gone when it exits.

The summary printed at the end is taken after the changes under way have ended: the loop's
(the demo, stopped while one is in flight) and an operator's rollback through the API
(``netpilot run``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.api import read_token
from controller.api_client import ApiClient
from controller.config import ApplySettings, LoopSettings, load_settings
from controller.demo import DemoOptions, run_demo, shipped_intents, write_controller_config
from controller.loop import Controller, TickReport
from controller.model import ChangeResult, ChangeStatus, Decision
from controller.service import serve
from lab.runtime import LabNetwork, write_inventory
from tests.e2e.demo_process import running_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def descendants(pid: int) -> set[int]:
    """The processes ``pid`` has started (and theirs), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # it ended while we looked
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def wait_for_hold(process: subprocess.Popen[str], point: str) -> None:
    """Read the demo's stderr until it says it holds at ``point`` (fails if it exits first)."""
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # ends at EOF if the demo exits without holding
        if f"holding at {point}" in line:
            return
        seen.append(line)
    raise AssertionError(f"the demo exited ({process.wait()}) before holding at {point}: {seen}")


@pytest.mark.parametrize(
    ("mode", "point", "sig"),
    [
        ("headless", "before-lab", signal.SIGTERM),
        ("headless", "before-lab", signal.SIGINT),
        ("headless", "before-lab", signal.SIGHUP),
        ("console", "before-lab", signal.SIGTERM),
        ("headless", "before-cleanup", signal.SIGTERM),
        ("console", "before-cleanup", signal.SIGHUP),
    ],
    ids=lambda value: value.name if isinstance(value, signal.Signals) else value,
)
def test_a_stop_signal_at_any_moment_stops_the_demo_cleanly(
    tmp_path: Path, mode: str, point: str, sig: signal.Signals
) -> None:
    temporary = tmp_path / "tmp"
    with running_demo(
        temporary,
        headless=mode == "headless",
        # to be cleaning up, the run must end by itself first
        args=["--duration", "2"] if point == "before-cleanup" else [],
        env={"NETPILOT_DEMO_HOLD": point},
    ) as process:
        wait_for_hold(process, point)
        (state,) = temporary.glob("netpilot-demo-*")
        if point == "before-cleanup":
            assert (state / "secrets").is_dir()  # the lab ran and has stopped
        children = descendants(process.pid)
        process.send_signal(sig)
        out, err = process.communicate(timeout=90)
    # not killed by the signal: the demo's own clean exit
    assert process.returncode == 0, err[-3000:]
    assert not {pid for pid in children if Path(f"/proc/{pid}").exists()}
    assert not (state / "secrets").exists()
    summaries = [line for line in out.splitlines() if line.startswith("{")]
    if sig == signal.SIGHUP and point == "before-lab":
        # the terminal is gone: the demo lets go of it, so nothing arrives after the signal
        assert summaries == []
    else:
        # ended as a run ends, with its summary (when cleaning up: printed before the signal)
        summary = json.loads(summaries[-1])
        assert summary["journal"] == str(state / "journal.sqlite")
        if (mode, point) == ("headless", "before-lab"):
            # the stop was there before the loop: no tick ran, the lab started and stopped
            assert summary["ticks"] == 0


class StopWhenAChangeStarts:
    """A controller observer that asks the demo to stop (as SIGTERM does) the moment a
    change transaction starts: no tick comes after the one that decided it, and the change
    ends while the controller drains."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.finished: list[ChangeResult] = []

    def controller_ready(self, controller: Controller) -> None:
        pass

    def tick_finished(self, report: TickReport) -> None:
        pass

    def change_started(self, decision: Decision, txn: str) -> None:
        self.stop.set()

    def change_finished(self, result: ChangeResult) -> None:
        self.finished.append(result)


async def stopped_during_a_change(state_dir: Path) -> tuple[dict[str, object], list[ChangeResult]]:
    """The demo's summary (what ``netpilot demo`` prints), stopped while a change is in
    flight; and the changes that ended, as the observers heard them."""
    stop = asyncio.Event()
    observer = StopWhenAChangeStarts(stop)
    options = DemoOptions(
        headless=True,
        scenario="evening-peak",
        state_dir=state_dir,
        interval=timedelta(seconds=1),
        duration=timedelta(seconds=60),  # bounds the run should no change ever start
    )
    summary = await run_demo(options, observers=[observer], stop=stop)
    assert stop.is_set(), "no change started within the run"
    return summary, observer.finished


async def test_the_summary_counts_a_change_confirmed_while_draining(tmp_path: Path) -> None:
    summary, finished = await stopped_during_a_change(tmp_path)
    assert [result.status for result in finished] == [ChangeStatus.CONFIRMED]
    changes = summary["changes"]
    assert isinstance(changes, dict)
    assert changes["confirmed"] == 1  # counted: the summary is taken after the drain


async def test_the_summary_shows_the_intent_as_the_confirmed_change_left_it(
    tmp_path: Path,
) -> None:
    summary, finished = await stopped_during_a_change(tmp_path)
    assert [result.status for result in finished] == [ChangeStatus.CONFIRMED]
    intents = summary["intents"]
    assert isinstance(intents, list)
    (intent,) = intents
    # the change was verified (its target met in three samples) and confirmed while the
    # controller drained: the summary must show that, not what the tick that decided it saw
    assert intent["status"] == "fulfilled", intent


async def until(check: Callable[[], Awaitable[bool]], what: str, *, within: float = 30.0) -> None:
    """Poll ``check`` until it holds (bounded): the daemon's state is read, not waited for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.05)


async def test_the_daemon_summary_waits_for_an_operator_rollback_under_way(
    lab: LabNetwork, tmp_path: Path
) -> None:
    # netpilot run's stop: the loop's changes are drained; an operator's rollback through
    # the API is a change transaction of its own, and the summary must count it too
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=shipped_intents(),
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
        apply=ApplySettings(
            confirm_timeout=timedelta(seconds=60),
            verification_window=timedelta(seconds=3),
            verification_interval=timedelta(milliseconds=500),
            required_samples=3,
        ),
    )
    stop = asyncio.Event()
    served = asyncio.create_task(serve(load_settings(config), stop=stop))
    socket_path, token_file = tmp_path / "netpilot.sock", tmp_path / "api-token"

    async def api_up() -> bool:
        assert not served.done(), served
        return socket_path.exists() and token_file.exists()

    async def api_gone() -> bool:
        return not socket_path.exists()

    device = ""  # the one made unreachable, to be made reachable again whatever happens
    try:
        await until(api_up, "the API is up")
        client = ApiClient(f"unix:{socket_path}", read_token(token_file))

        async def changes() -> list[dict[str, Any]]:
            _, body = await client.request("GET", "/v1/changes")
            listed = body["changes"]
            assert isinstance(listed, list)
            return listed

        async def confirmed() -> bool:
            return any(c["status"] == "confirmed" for c in await changes())

        await until(confirmed, "the loop confirmed a change")
        (txn,) = [c["txn"] for c in await changes() if c["status"] == "confirmed"]
        (device,) = [c["device"] for c in await changes() if c["txn"] == txn]
        # the device holds its replies: the rollback stays under way until it answers again
        lab.faults.set_unreachable(device, True)
        rollback = asyncio.create_task(client.request("POST", f"/v1/changes/{txn}/rollback"))

        async def rollback_pending() -> bool:
            return any(
                c["status"] == "pending" and c["plan"].get("explanation", {}).get("rollback_of")
                for c in await changes()
            )

        await until(rollback_pending, "the rollback is under way")
        stop.set()  # as SIGTERM does
        # the API has stopped taking requests: the loop has stopped, and the summary, before
        # the rollback has ended, would have been taken by now
        await until(api_gone, "the API has stopped")
        lab.faults.set_unreachable(device, False)
        summary = await asyncio.wait_for(served, timeout=60)
        status, body = await rollback
    finally:
        if device:
            lab.faults.set_unreachable(device, False)
        stop.set()
        if not served.done():
            await asyncio.wait_for(served, timeout=60)
    assert status == 200, body
    result = body["rollback"]
    assert isinstance(result, dict) and result["status"] == "confirmed", result
    counts = summary["changes"]
    assert isinstance(counts, dict)
    assert counts["operator_rollbacks"] == 1


# `netpilot run`'s own start (controller/cli.py), with the first poll of the intent source
# held until a line arrives on stdin: a moment of the start-up the test knows
HELD_DAEMON = """
import asyncio, sys
from pathlib import Path

from controller import gitops
from controller.cli import install_stop_signals, print_summary
from controller.config import load_settings
from controller.service import serve

poll = gitops.SourcePoller.poll
held = []

async def held_poll(self):
    if not held:
        held.append(self)
        print("netpilot: first poll held", file=sys.stderr, flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    return await poll(self)

gitops.SourcePoller.poll = held_poll

async def go():
    stop = asyncio.Event()
    install_stop_signals(stop)
    return await serve(load_settings(Path(sys.argv[1])), stop=stop)

print_summary(asyncio.run(go()), "json")
"""


async def test_a_reload_signal_while_the_daemon_starts_does_not_kill_it(
    lab: LabNetwork, tmp_path: Path
) -> None:
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=shipped_intents(),
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
        apply=ApplySettings(),
    )
    daemon = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HELD_DAEMON,
        str(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    socket_path = tmp_path / "netpilot.sock"

    async def api_up() -> bool:
        assert daemon.returncode is None, "the daemon exited"
        return socket_path.exists()

    try:
        assert daemon.stdin is not None and daemon.stderr is not None
        line = await asyncio.wait_for(daemon.stderr.readline(), timeout=60)
        assert "first poll held" in line.decode(), line
        daemon.send_signal(signal.SIGHUP)  # systemctl reload, while the daemon starts
        daemon.stdin.write(b"go on\n")
        await daemon.stdin.drain()
        await until(api_up, "the daemon is up")
        daemon.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(daemon.communicate(), timeout=60)
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.communicate()
    assert daemon.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary["revision"]  # it started on the intents and stopped as SIGTERM stops it
    assert not socket_path.exists()
