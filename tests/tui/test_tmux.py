"""`netpilot demo` in a real terminal (tmux): the operator sees the intent, rolls the change
back with one key and a confirmation, and the lab device really is back where it was.

tmux runs on a private socket (``tmux -L``) and only that server is killed. The device is
checked over NETCONF, independently of the console and the controller, with the inventory,
known_hosts and secrets the demo wrote into its state directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.netconf import open_session
from controller.config import load_inventory
from controller.journal import Journal
from controller.model import ChangeStatus, ClassConfig, DeviceConfig, TrafficClass

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETPILOT = Path(sys.executable).parent / "netpilot"
SESSION = "console"


class Tmux:
    """One private tmux server with one session running a command."""

    def __init__(self) -> None:
        self.socket = f"netpilot-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.server_pid = 0
        self.command_pid = 0

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def start(self, command: list[str], *, width: int, height: int) -> None:
        """Start the server and the session running ``command``."""
        self.run(
            "new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height),
            "-e", "TERM=xterm-256color", "--", *command,
        )  # fmt: skip
        self.server_pid = int(self.display("#{pid}"))
        self.command_pid = int(self.display("#{pane_pid}"))
        # keep the pane after the command exits, to read what it printed last
        self.run("set-option", "-t", SESSION, "remain-on-exit", "on")

    def display(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", SESSION, fmt).stdout.strip()

    def screen(self, *, history: bool = False) -> str:
        """The visible terminal; ``history`` adds the scrollback, wrapped lines joined."""
        scrollback = ["-J", "-S", "-"] if history else []
        return self.run("capture-pane", "-p", *scrollback, "-t", SESSION).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", SESSION, *keys)

    def kill(self) -> None:
        """Stop this server (and with it the command), by its socket, then by its pid."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.run("kill-server", check=False)
        for pid in (self.command_pid, self.server_pid):
            if pid and not ended(pid, within=10):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def wait_screen(tmux: Tmux, condition: Callable[[str], bool], *, within: float) -> str:
    """Poll the terminal until ``condition(screen)`` holds (bounded)."""
    deadline = time.monotonic() + within
    while True:
        screen = tmux.screen()
        if condition(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"not on screen within {within} s:\n{screen}")
        time.sleep(0.2)


def ended(pid: int, *, within: float) -> bool:
    """Whether the process exited (gone, or a zombie its parent has not reaped) in time.

    tmux sometimes reaps a pane's process late (the pane stays "running" for seconds after
    its process exited), so the process itself is watched, not the pane.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    server = Tmux()
    try:
        yield server
    finally:
        server.kill()


async def running_config(state_dir: Path, device: str) -> DeviceConfig:
    """The device's running configuration, read over NETCONF by the test itself."""
    inventory = {d.name: d for d in load_inventory(state_dir / "inventory.yaml")}
    session = await open_session(inventory[device])
    try:
        return await session.get_running()
    finally:
        await session.close()


def test_demo_in_a_terminal_rolls_a_change_back_on_the_device(tmux, tmp_path):
    state = tmp_path / "state"
    command = [str(NETPILOT), "demo", "--state-dir", str(state), "--interval", "1"]
    # the console's smallest supported size
    tmux.start([*command, "--output", "json"], width=80, height=24)

    # the overview shows the shipped intent, met again once the controller's change confirmed
    wait_screen(
        tmux,
        lambda s: "video-west-east" in s and "1 confirmed" in s and " fulfilled " in s,
        within=40,
    )
    with contextlib.closing(Journal(state / "journal.sqlite", read_only=True)) as journal:
        (change,) = journal.changes()
    assert change.status is ChangeStatus.CONFIRMED and change.device == "r2"
    before = asyncio.run(running_config(state, "r2"))
    assert before.class_config(TrafficClass.VIDEO).priority > 0

    # Changes: the change is listed; r asks, y rolls it back
    tmux.keys("4")
    wait_screen(tmux, lambda s: change.txn in s and "Diff and timeline" in s, within=10)
    tmux.keys("r")
    wait_screen(tmux, lambda s: "Roll back this change?" in s, within=10)
    tmux.keys("y")
    screen = wait_screen(tmux, lambda s: "undone" in s, within=20)
    # the list says what undid the change (the reason column is cut at 80 columns)
    # the status bar counts as the exit summary below does: 1 confirmed (since undone by an
    # operator: the list says "undone"), 0 rolled back by the loop itself
    assert "operator rollback" in screen and "1 confirmed, 0 rolled back" in screen

    # on the device itself: the video class is back to its default priority
    after = asyncio.run(running_config(state, "r2"))
    default = ClassConfig(TrafficClass.VIDEO).priority
    assert after.class_config(TrafficClass.VIDEO).priority == default
    with contextlib.closing(Journal(state / "journal.sqlite", read_only=True)) as journal:
        undo = journal.changes()[0]
    assert undo.status is ChangeStatus.CONFIRMED
    assert undo.plan["explanation"] == {"rollback_of": change.txn, "forced": False}

    # q stops gracefully: the demo exits and prints its summary once the terminal is back
    # (the summary is printed only on success; a failure prints {"error": ...})
    tmux.keys("q")
    assert ended(tmux.command_pid, within=20), tmux.screen()
    final = tmux.screen(history=True)
    lines = [line for line in final.splitlines() if line.startswith("{")]
    assert lines, final
    summary = json.loads(lines[-1])
    assert summary["changes"]["confirmed"] == 1 and summary["ticks"] > 0
    assert summary["changes"]["operator_rollbacks"] == 1
    assert summary["changes"]["rolled_back"] == 0


def test_closing_the_terminal_ends_the_demo_and_its_credentials_go(tmux, tmp_path):
    # a demo without --state-dir runs in a temporary directory, under TMPDIR
    command = ["env", f"TMPDIR={tmp_path}", str(NETPILOT), "demo", "--interval", "1"]
    tmux.start(command, width=80, height=24)
    wait_screen(tmux, lambda s: "video-west-east" in s and "1 confirmed" in s, within=40)
    (state,) = tmp_path.glob("netpilot-demo-*")
    assert (state / "secrets").is_dir()
    # the terminal goes away (a closed window, a dropped SSH session): SIGHUP, and every
    # write to it fails from then on; the console must still shut the lab and controller
    # down and remove the credentials
    tmux.run("kill-server", check=False)
    assert ended(tmux.command_pid, within=30), "the demo did not end after its terminal closed"
    assert not (state / "secrets").exists()
    assert (state / "journal.sqlite").is_file()  # the journal stays to read


def test_closing_the_terminal_stops_lab_up_and_its_control_socket_goes(tmux, tmp_path):
    state = tmp_path / "lab"
    command = [str(NETPILOT), "lab", "up", "--state-dir", str(state), "--topology", "four-router"]
    tmux.start(command, width=80, height=24)
    wait_screen(tmux, lambda s: "control" in s, within=40)
    control = next(state.glob("*.sock"))
    # a closed window or a dropped SSH session: SIGHUP, then every write to the terminal fails
    tmux.run("kill-server", check=False)
    assert ended(tmux.command_pid, within=30), "lab up did not end after its terminal closed"
    assert not control.exists()
