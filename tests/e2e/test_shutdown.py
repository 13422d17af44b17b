"""`netpilot demo` stops cleanly whenever a stop signal arrives: also before its event loop has
started (while it is starting) and after that loop has closed (while it is cleaning up).

The demo waits at a named moment when ``NETPILOT_DEMO_HOLD`` names it and says so on stderr
(controller.demo.StopSignals.hold), so a signal is sent exactly there, not after a guessed
delay. The demo is a subprocess, run as a user runs it, in a temporary state directory
(``mkdtemp`` honours TMPDIR) whose ``secrets/`` must be gone when it exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETPILOT = Path(sys.executable).parent / "netpilot"


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
    temporary.mkdir()
    process = subprocess.Popen(
        [
            str(NETPILOT),
            "demo",
            "--output",
            "json",
            *(["--headless"] if mode == "headless" else []),
            # to be cleaning up, the run must end by itself first
            *(["--duration", "2"] if point == "before-cleanup" else []),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary), "NETPILOT_DEMO_HOLD": point},
    )
    try:
        wait_for_hold(process, point)
        (state,) = temporary.glob("netpilot-demo-*")
        if point == "before-cleanup":
            assert (state / "secrets").is_dir()  # the lab ran and has stopped
        children = descendants(process.pid)
        process.send_signal(sig)
        out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
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
