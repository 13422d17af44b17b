"""The controller is SIGKILLed in the middle of a change; the next start settles it.

A real `netpilot run` process drives the embedded lab (started here, in the test's event
loop) over NETCONF/SSH and SNMP/UDP. r2 is made to ignore configuration, so the change stays
in its verification window; the process is killed there, with r2's confirmed commit pending.
A new `netpilot run` must find the transaction in the journal, cancel the pending commit by its
persist-id and record the rollback, leaving r2 at its pre-change configuration.

The same holds when r2 has only :writable-running: then the device knows nothing of the
pending commit (netpilot emulates it), the kill leaves r2 at the new configuration with no
timer anywhere, and only the journaled saved configuration and deadline
(``emulated-commit-held``) let the restarted controller put r2 back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from controller.config import ApplySettings, LoopSettings
from controller.demo import shipped_intents, write_controller_config
from lab.runtime import LabNetwork, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETPILOT = Path(sys.executable).parent / "netpilot"


def journal_steps(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [(row[0], row[1]) for row in db.execute("SELECT txn, step FROM events ORDER BY seq")]
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        db.close()


def pending(lab: LabNetwork) -> bool:
    """Whether r2 has a confirmed commit waiting for its confirm."""
    server = lab.devices["r2"].netconf
    assert server is not None
    return bool(server.confirmed_commit_pending)


async def wait_until(condition, *, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)  # polling another process's journal file


@pytest.mark.parametrize("r2_kind", ["candidate", "writable-running"])
async def test_sigkill_mid_change_then_restart_rolls_back(
    lab: LabNetwork, tmp_path: Path, r2_kind: str
):
    emulated = r2_kind == "writable-running"
    journal = tmp_path / "journal.sqlite"
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=shipped_intents(),
        journal=journal,
        loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
        apply=ApplySettings(
            confirm_timeout=timedelta(seconds=120),
            verification_window=timedelta(seconds=60),
            verification_interval=timedelta(seconds=1),
            required_samples=3,
        ),
    )
    r2 = lab.devices["r2"]
    r2.faults.ignore_config = True  # the change lands but never helps: it stays unverified
    assert r2.netconf is not None
    r2.netconf.writable_running = emulated  # before any session: what r2's <hello> offers
    before = r2.netconf.running

    first = await asyncio.create_subprocess_exec(
        str(NETPILOT),
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until(
            lambda: any(s == "committed" for _, s in journal_steps(journal)), within=60
        )
        if emulated:
            assert canonical(r2.netconf.running) != canonical(before)  # edited in place
        else:
            assert pending(lab)
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    (txn,) = {t for t, s in journal_steps(journal) if s == "committed"}
    assert not [s for t, s in journal_steps(journal) if t == txn and s.startswith("finished")]
    if emulated:
        # nothing on r2 will ever revert it: only the journal knows what to restore
        assert not pending(lab)
        assert canonical(r2.netconf.running) != canonical(before)
        assert "emulated-commit-held" in [s for t, s in journal_steps(journal) if t == txn]
    else:
        assert pending(lab)  # the kill left the device mid-change

    # the restarted controller: the same journal and inventory, a short verification window so
    # that the change it tries again (r2 still ignores it) rolls back within the run
    restart_dir = tmp_path / "restart"
    restart_dir.mkdir()
    restart_config = write_controller_config(
        restart_dir,
        inventory=tmp_path / "inventory.yaml",
        intents_dir=shipped_intents(),
        journal=journal,
        loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
        apply=ApplySettings(
            confirm_timeout=timedelta(seconds=120),
            verification_window=timedelta(seconds=2),
            verification_interval=timedelta(milliseconds=500),
            required_samples=3,
        ),
    )
    second = await asyncio.create_subprocess_exec(
        str(NETPILOT),
        "run",
        "--config",
        str(restart_config),
        "--duration",
        "2",
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(second.communicate(), timeout=60)
    assert second.returncode == 0, stderr.decode()[-2000:]
    steps = [s for t, s in journal_steps(journal) if t == txn]
    assert "recovering" in steps and steps[-1] == "finished:rolled-back", steps
    if emulated:
        assert "adopted" in steps and "restored" in steps, steps
    assert not pending(lab)
    assert canonical(r2.netconf.running) == canonical(before)


def canonical(element: ET.Element) -> str:
    return ET.canonicalize(ET.tostring(element), strip_text=True)
