"""A generated embedded lab in its own process, for the benchmarks that drive a controller.

The lab runs as ``netpilot lab up --devices N`` in a child process, so its NETCONF and SNMP
servers do not share the benchmark's event loop and CPU time: what the benchmark measures
is the controller's side. :func:`lab_process` starts it, waits for its inventory and stops
it (SIGINT, then a kill if it does not go) on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LabProcess", "lab_process"]


@dataclass(frozen=True)
class LabProcess:
    """A running lab: its state directory (inventory, control socket) and process."""

    state_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.yaml"

    async def control(self, body: dict[str, object]) -> Any:
        """One request on the lab's control socket (fault injection, status)."""
        from lab.control import request

        return await asyncio.to_thread(request, self.state_dir, body)


@contextlib.asynccontextmanager
async def lab_process(
    state_dir: Path,
    *,
    devices: int,
    speed: float | None = None,
    scenario: str = "steady",
    extra: Sequence[str] = (),
    start_timeout: float = 300.0,
) -> AsyncIterator[LabProcess]:
    """Start ``netpilot lab up --devices N`` in a child process; stop it on exit.

    Raises:
        RuntimeError: the lab exited or did not write its inventory within ``start_timeout``.
    """
    command = [
        sys.executable,
        "-m",
        "controller",
        "lab",
        "up",
        "--devices",
        str(devices),
        "--scenario",
        scenario,
        "--state-dir",
        str(state_dir),
        "--status-interval",
        "0",
        *(("--speed", str(speed)) if speed is not None else ()),
        *extra,
    ]
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own CLI; started once, not awaited
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    lab = LabProcess(state_dir, process)
    try:
        deadline = time.monotonic() + start_timeout
        while not lab.inventory.exists():
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"the lab exited with {process.returncode}: {stderr[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the lab did not come up within {start_timeout:.0f} s")
            await asyncio.sleep(0.2)
        yield lab
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 60)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
