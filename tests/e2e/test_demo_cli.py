"""`netpilot demo --headless ... --output json`, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.demo_process import NETPILOT, running_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_headless_demo_detects_and_fixes_the_evening_peak(tmp_path):
    # The README's acceptance command runs 60 s; 30 s already covers violation, change,
    # verification and the fulfilled state, and keeps the suite short. The state dir is
    # given relative to the working directory, as a user types it.
    completed = subprocess.run(
        [
            str(NETPILOT),
            "demo",
            "--headless",
            "--duration",
            "30",
            "--scenario",
            "evening-peak",
            "--output",
            "json",
            "--state-dir",
            "state",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    (intent,) = summary["intents"]
    assert intent["name"] == "video-west-east"
    assert intent["status"] == "fulfilled"
    assert intent["targets"][0]["name"] == "latencyMs" and intent["targets"][0]["met"] is True
    assert summary["changes"]["confirmed"] >= 1
    assert summary["changes"]["rolled_back"] == 0
    assert summary["ticks"] >= 10
    # the run left a journal a user can read back with the CLI, which only reads it
    journal = tmp_path / "state" / "journal.sqlite"
    assert summary["journal"] == str(journal)
    before = journal.read_bytes()
    listing = subprocess.run(
        [str(NETPILOT), "changes", "list", "--journal", str(journal), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    changes = json.loads(listing.stdout)["changes"]
    assert [c["status"] for c in changes] == ["confirmed"] * summary["changes"]["confirmed"]
    assert journal.read_bytes() == before
    # and the violation was logged before the change
    assert "notFulfilled/degraded" in completed.stderr


def test_cli_basics():
    version = subprocess.run(
        [str(NETPILOT), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("netpilot ")
    usage = subprocess.run([str(NETPILOT)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "demo" in usage.stdout
    bad = subprocess.run(
        [str(NETPILOT), "demo", "--scenario", "nope", "--headless"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "invalid choice: 'nope'" in bad.stderr and "evening-peak" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_tui_demo_reports_a_failed_run_and_exits_1(tmp_path):
    # The runner fails inside the console (the intent set is refused once the lab is up):
    # the app must exit, and the error must reach the user after the terminal is restored.
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "video.yaml").write_text(
        "apiVersion: netpilot/v1\nkind: Intent\nmetadata: {name: video}\n"
        "spec:\n  mode: autopilot\n  expectations: []\n"
    )
    completed = subprocess.run(
        [
            str(NETPILOT),
            "demo",
            "--intents",
            str(intents),
            "--state-dir",
            str(tmp_path / "state"),
            "--output",
            "json",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr
    assert "video.yaml:5:9: spec.mode: unknown value 'autopilot'" in completed.stderr
    error = json.loads(completed.stdout.strip().splitlines()[-1])["error"]
    assert error["errors"][0]["field"] == "spec.mode"


def lab_up_line(process: subprocess.Popen[str], log: Path | None, *, within: float = 60.0) -> str:
    """Wait until the demo logs that its lab is up: on stderr (headless), or in the log file
    the console writes to (the console owns the terminal). Fails if the demo exits first."""
    if log is None:
        assert process.stderr is not None
        for line in process.stderr:  # ends at EOF if the demo dies before
            if "lab up:" in line:
                return line
        raise AssertionError(f"the demo exited ({process.wait()}) before its lab was up")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the demo exited ({process.returncode}) before its lab"
        if log.is_file():
            up = [line for line in log.read_text().splitlines() if "lab up:" in line]
            if up:
                return up[0]
        time.sleep(0.1)  # polling the file for the line, not a wait for the demo
    raise AssertionError(f"no 'lab up' in {log} within {within} s")


@pytest.mark.parametrize(
    ("mode", "sig"),
    [
        ("headless", signal.SIGHUP),  # the terminal running the demo is closed
        ("console", signal.SIGHUP),
        ("console", signal.SIGTERM),
    ],
    ids=["headless-SIGHUP", "console-SIGHUP", "console-SIGTERM"],
)
def test_a_signal_ends_the_demo_cleanly_and_its_credentials_go(tmp_path, mode, sig):
    # a demo in a temporary directory (no --state-dir): mkdtemp honours TMPDIR
    temporary = tmp_path / "tmp"
    with running_demo(temporary, headless=mode == "headless") as process:
        if mode == "headless":
            line = lab_up_line(process, None)
        else:
            # the console logs to the state directory, which exists before the console starts
            deadline = time.monotonic() + 60
            while not list(temporary.glob("netpilot-demo-*")) and time.monotonic() < deadline:
                assert process.poll() is None, "the demo exited before its state directory"
                time.sleep(0.05)
            (early,) = temporary.glob("netpilot-demo-*")
            line = lab_up_line(process, early / "netpilot.log")
        (state,) = temporary.glob("netpilot-demo-*")
        assert str(state) in line  # the journal's path: the lab is up in this directory
        assert (state / "secrets").is_dir()
        process.send_signal(sig)
        out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err[-3000:]
    if sig == signal.SIGHUP:
        # a hangup means the terminal is gone: the demo lets go of it (stdout and stderr to
        # /dev/null) before it stops, so nothing more arrives, the summary neither
        assert not any(line.startswith("{") for line in out.splitlines())
    else:
        summary = json.loads(out.strip().splitlines()[-1])  # ended as a run ends: its summary
        assert summary["journal"] == str(state / "journal.sqlite")
    assert not (state / "secrets").exists()  # the lab's credentials died with it
    assert (state / "journal.sqlite").is_file()  # what is there to read stays
