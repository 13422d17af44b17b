"""``netpilot bench transaction``: one change transaction over 1, 10 or 50 devices.

A generated embedded lab runs in its own process (``netpilot lab up --devices N``), so the
devices' NETCONF servers do not share the benchmark's CPU time; the controller side is the
production code: :func:`controller.apply.apply_plan` with sessions from one
:class:`adapters.netconf.NetconfClient` pool. Each transaction is a real change on every
device of the plan (a QoS class weight, alternated between two values): lock, discard, read
the base, validate inline, edit the candidate, compare, confirmed commit with one persist-id,
confirm, unlock. The verification window is excluded (``verify=None``), as issue #8 asks:
the figure is the transaction's own cost. Devices are handled concurrently, so the goal is
that 50 devices take no more than twice one device's time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DESCRIPTION = (
    "p50/p95 of one change transaction (without the verification window) over 1, 10 and 50 "
    "lab devices in parallel; lab in its own process"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--devices", default="1,10,50", help="plan sizes, comma-separated (default: %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="transactions per size")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured transactions first")


def run(args: argparse.Namespace) -> dict[str, object]:
    sizes = sorted({int(part) for part in str(args.devices).split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise ValueError("--devices: plan sizes must be positive integers")
    return asyncio.run(_run(sizes, args.repeat, args.warmup))


async def _run(sizes: list[int], repeat: int, warmup: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="netpilot-bench-txn-") as tmp:
        state = Path(tmp) / "lab"
        lab_devices = max(8, max(sizes))  # a generated lab has at least 8 devices
        lab = subprocess.Popen(  # noqa: S603, ASYNC220 - our own CLI; started once, not awaited
            [
                sys.executable,
                "-m",
                "controller",
                "lab",
                "up",
                "--devices",
                str(lab_devices),
                "--state-dir",
                str(state),
                "--status-interval",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            await _wait_for(state / "netpilot.yaml", lab)
            return await _measure(state, sizes, repeat, warmup, lab_devices)
        finally:
            lab.send_signal(signal.SIGINT)
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                lab.kill()
                lab.wait()


def _exists(path: Path) -> bool:
    return path.exists()


async def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not _exists(path):
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the lab exited before it was up: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("the lab did not come up within 120 s")
        await asyncio.sleep(0.1)


async def _measure(
    state: Path, sizes: list[int], repeat: int, warmup: int, lab_devices: int
) -> dict[str, object]:
    from adapters.netconf import NetconfClient
    from controller.apply import apply_plan
    from controller.config import ApplySettings, load_inventory
    from controller.journal import Journal
    from controller.model import ChangeSet, ChangeStatus, ConfigEdit, EditOp, Plan

    devices = sorted(load_inventory(state / "inventory.yaml"), key=lambda d: d.name)
    client = NetconfClient(devices)
    journal = Journal(state / "bench-journal.sqlite")
    settings = ApplySettings(
        confirm_timeout=timedelta(seconds=120),
        verification_window=timedelta(seconds=1),
        verification_interval=timedelta(seconds=1),
        required_samples=1,
    )
    path = ("qos", "class[name=bulk]", "weight")
    weights: dict[str, str | None] = {d.name: None for d in devices}

    def clock() -> datetime:
        return datetime.now(UTC)

    async def transaction(names: list[str]) -> tuple[float, ChangeStatus]:
        changes = []
        for name in names:
            old = weights[name]
            new = "30" if old == "20" else "20"
            op = EditOp.ADD if old is None else EditOp.CHANGE
            changes.append(ChangeSet.make("bench", name, (ConfigEdit(op, path, old, new),), "b"))
        plan = Plan.make("bench", tuple(changes), f"bench over {len(names)} device(s)")
        started = time.perf_counter()
        result = await apply_plan(
            plan,
            open_session=client.open_session,
            verify=None,
            journal=journal,
            settings=settings,
            clock=clock,
        )
        elapsed = time.perf_counter() - started
        if result.status is ChangeStatus.CONFIRMED:
            for change in changes:
                weights[change.device] = change.edits[0].new
        return elapsed, result.status

    results: dict[str, object] = {}
    failures = 0
    cpu_started = time.process_time()
    try:
        for size in sizes:
            names = [d.name for d in devices[:size]]
            for _ in range(warmup):
                await transaction(names)
            times = []
            for _ in range(repeat):
                elapsed, status = await transaction(names)
                if status is not ChangeStatus.CONFIRMED:
                    failures += 1
                times.append(elapsed)
            times.sort()
            results[str(size)] = {
                "p50_ms": round(statistics.median(times) * 1000, 1),
                "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))] * 1000, 1),
                "transactions": repeat,
            }
    finally:
        await client.close()
        journal.close()
    one = results.get("1")
    largest = results.get(str(max(sizes)))
    ratio = None
    if isinstance(one, dict) and isinstance(largest, dict):
        ratio = round(float(largest["p50_ms"]) / float(one["p50_ms"]), 2)
    return {
        "sizes": results,
        "p50_ratio_largest_to_one": ratio,
        "goal_ratio": 2.0,
        "failed_transactions": failures,
        "lab_devices": lab_devices,
        "client_cpu_s": round(time.process_time() - cpu_started, 2),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def format_text(result: dict[str, object]) -> str:
    lines = ["devices  p50 ms   p95 ms"]
    sizes = result["sizes"]
    assert isinstance(sizes, dict)
    for size, figures in sizes.items():
        lines.append(f"{size:>7}  {figures['p50_ms']:>7}  {figures['p95_ms']:>7}")
    lines.append(
        f"p50 ratio largest/one: {result['p50_ratio_largest_to_one']} "
        f"(goal <= {result['goal_ratio']}); failed transactions: {result['failed_transactions']}"
    )
    return "\n".join(lines)
