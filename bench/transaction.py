"""``netpilot bench transaction``: one change transaction over 1, 10 or 50 devices.

A generated embedded lab runs in its own process (``python -m bench.transaction serve-lab``,
the lab of ``netpilot lab up --devices N`` plus a per-device commit latency), so the devices'
NETCONF servers do not share the benchmark's event loop or CPU time; the controller side is
the production code: :func:`controller.apply.apply_plan` with sessions from one
:class:`adapters.netconf.NetconfClient` pool and a real journal file (WAL, ``synchronous=FULL``).
Each transaction is a real change on every device of the plan (a QoS class weight,
alternated between two values): lock, discard, read the base, validate inline, edit the
candidate, compare, confirmed commit with one persist-id, confirm, unlock; every step
journaled before the next. The verification window is excluded (``verify=None``), as
issue #8 asks: the figure is the transaction's own cost. Devices are handled concurrently,
so the goal is that 50 devices take no more than twice one device's time.

Two settings, reported apart, never mixed:

* ``commit_latency_ms = 0``: the lab answers a ``<commit>`` at once. Then the controller's
  and the lab's CPU are the bound (both share the machine), and the figures that explain
  the wall time are the CPU milliseconds per device-transaction, controller
  (``process_time`` of this process, journal thread included) and lab (``/proc`` of its
  process, less its CPU rate while idle: the lab simulates traffic all the time), and the
  journal commits (fsyncs) per transaction. The top-level ``sizes`` and
  ``p50_ratio_largest_to_one`` are this setting's.
* ``commit_latency_ms = 200`` (``--commit-latency-ms``): each ``<commit>`` (the confirmed
  commit and the confirm) takes that long on the device, as on real routers. Then the
  device, not our CPU, is the bound, and the ratio shows what running the devices in
  parallel buys.
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "p50/p95 of one change transaction (without the verification window) over 1, 10 and 50 "
    "lab devices in parallel, with CPU per device-transaction; lab in its own process; "
    "without and with a per-commit device latency"
)
_READY = "bench-lab-ready"
GOAL_RATIO = 2.0  # issue #8: the largest plan within twice one device's p50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--devices", default="1,10,50", help="plan sizes, comma-separated (default: %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="transactions per size")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured transactions first")
    parser.add_argument(
        "--commit-latency-ms",
        default="0,200",
        help="per-<commit> device latencies to run, comma-separated; 0 is the CPU-bound "
        "case (default: %(default)s)",
    )


def _numbers(text: str, kind: Callable[[str], Any], what: str) -> list[Any]:
    try:
        values = sorted({kind(part) for part in str(text).split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"{what}: comma-separated numbers, not {text!r}") from None
    if not values or values[0] < 0:
        raise ValueError(f"{what}: non-negative numbers, not {text!r}")
    return values


def run(args: argparse.Namespace) -> dict[str, object]:
    sizes = _numbers(args.devices, int, "--devices")
    if sizes[0] < 1:
        raise ValueError("--devices: plan sizes must be positive integers")
    latencies = _numbers(args.commit_latency_ms, float, "--commit-latency-ms")
    runs = [asyncio.run(_run(sizes, args.repeat, args.warmup, ms)) for ms in latencies]
    headline = next((r for r in runs if r["commit_latency_ms"] == 0), runs[0])
    return {
        # the headline: the first setting without device latency (what the goal is about)
        "sizes": headline["sizes"],
        "p50_ratio_largest_to_one": headline["p50_ratio_largest_to_one"],
        "commit_latency_ms": headline["commit_latency_ms"],
        "cpu_floor_ms_largest": headline["cpu_floor_ms_largest"],
        "cpu_budget_ms_per_device_txn_for_goal": headline["cpu_budget_ms_per_device_txn_for_goal"],
        "goal_ratio": GOAL_RATIO,
        "runs": runs,
        "failed_transactions": sum(int(r["failed_transactions"]) for r in runs),
        "lab_devices": headline["lab_devices"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
    }


async def _run(sizes: list[int], repeat: int, warmup: int, latency_ms: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="netpilot-bench-txn-") as tmp:
        state = Path(tmp) / "lab"
        lab_devices = max(8, max(sizes))  # a generated lab has at least 8 devices
        lab = subprocess.Popen(  # noqa: S603, ASYNC220 - our own module; started once
            [
                sys.executable,
                "-m",
                "bench.transaction",
                "serve-lab",
                str(lab_devices),
                str(state),
                str(latency_ms / 1000),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            await _wait_for(state / _READY, lab)
            result = await _measure(state, sizes, repeat, warmup, lab.pid)
        finally:
            lab.send_signal(signal.SIGINT)
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                lab.kill()
                lab.wait()
        return {"commit_latency_ms": latency_ms, "lab_devices": lab_devices, **result}


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


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process (Linux ``/proc``), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # after "pid (comm)": state is field 3, utime 14 and stime 15 (1-based, man 5 proc)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _counting_journal(path: Path) -> Any:
    """A journal that counts its commits (each one an fsync) in ``commits``."""
    from controller.journal import Journal

    class CountingJournal(Journal):
        """Counts the journal's commits (each one an fsync)."""

        commits = 0

        def flush(self) -> None:
            if self._staged:
                self.commits += 1
            super().flush()

        def event(self, kind: str, **detail: Any) -> int:
            self.commits += 1
            return super().event(kind, **detail)

        def begin_change(self, *args: Any, **kwargs: Any) -> None:
            self.commits += 1
            super().begin_change(*args, **kwargs)

        def finish_change(self, *args: Any, **kwargs: Any) -> None:
            self.commits += 1
            super().finish_change(*args, **kwargs)

    return CountingJournal(path)


async def _measure(
    state: Path, sizes: list[int], repeat: int, warmup: int, lab_pid: int
) -> dict[str, object]:
    from adapters.netconf import NetconfClient
    from controller.apply import apply_plan
    from controller.config import ApplySettings, load_inventory
    from controller.model import ChangeSet, ChangeStatus, ConfigEdit, EditOp, Plan

    devices = sorted(load_inventory(state / "inventory.yaml"), key=lambda d: d.name)
    client = NetconfClient(devices)
    journal = _counting_journal(state / "bench-journal.sqlite")
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
    # the lab simulates traffic all the time: its CPU while idle is taken off its figure
    idle_rate = await _idle_cpu_rate(lab_pid)
    try:
        for size in sizes:
            names = [d.name for d in devices[:size]]
            for _ in range(warmup):
                await transaction(names)
            times = []
            cpu_before, lab_before = time.process_time(), _cpu_seconds(lab_pid)
            wall_before, commits_before = time.perf_counter(), journal.commits
            for _ in range(repeat):
                elapsed, status = await transaction(names)
                if status is not ChangeStatus.CONFIRMED:
                    failures += 1
                times.append(elapsed)
            lab_after = _cpu_seconds(lab_pid)
            lab_cpu = None
            if lab_before is not None and lab_after is not None and idle_rate is not None:
                idle = idle_rate * (time.perf_counter() - wall_before)
                lab_cpu = max(0.0, lab_after - lab_before - idle)
            results[str(size)] = _figures(
                times,
                size,
                controller_cpu=time.process_time() - cpu_before,
                lab_cpu=lab_cpu,
                commits=journal.commits - commits_before,
            )
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
        **_cpu_bound(one, largest, max(sizes)),
        "failed_transactions": failures,
        "lab_idle_cpu_percent": None if idle_rate is None else round(idle_rate * 100, 1),
    }


def _cpu_bound(one: object, largest: object, size: int) -> dict[str, float | None]:
    """The CPU arithmetic of the largest plan (docs/transactions.md).

    The controller and the lab are one Python process each, one event loop each: each can
    use one core at most, whatever the machine has. So the largest plan cannot take less
    than ``size`` times the larger of the two CPU costs per device-transaction (the floor,
    with perfect overlap of the two processes), and the goal (``GOAL_RATIO`` times one
    device's p50) needs each side's CPU per device-transaction at or under
    ``GOAL_RATIO * p50(1) / size`` (the budget).
    """
    if not isinstance(one, dict) or not isinstance(largest, dict) or size < 2:
        return {"cpu_floor_ms_largest": None, "cpu_budget_ms_per_device_txn_for_goal": None}
    costs = [
        float(largest[key])
        for key in ("controller_cpu_ms_per_device_txn", "lab_cpu_ms_per_device_txn")
        if largest.get(key) is not None
    ]
    return {
        "cpu_floor_ms_largest": round(size * max(costs), 1),
        "cpu_budget_ms_per_device_txn_for_goal": round(GOAL_RATIO * float(one["p50_ms"]) / size, 2),
    }


async def _idle_cpu_rate(pid: int, seconds: float = 2.0) -> float | None:
    """CPU seconds per wall second the lab spends with no transaction running."""
    before, started = _cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    after = _cpu_seconds(pid)
    if before is None or after is None:
        return None
    return (after - before) / (time.perf_counter() - started)


def _figures(
    times: list[float], size: int, *, controller_cpu: float, lab_cpu: float | None, commits: int
) -> dict[str, object]:
    """One plan size's figures from its measured transactions."""
    times = sorted(times)
    device_transactions = len(times) * size
    return {
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))] * 1000, 1),
        "transactions": len(times),
        "controller_cpu_ms_per_device_txn": round(controller_cpu * 1000 / device_transactions, 2),
        # the lab's NETCONF work: its CPU less what it spends idle (traffic simulation)
        "lab_cpu_ms_per_device_txn": None
        if lab_cpu is None
        else round(lab_cpu * 1000 / device_transactions, 2),
        "journal_commits_per_txn": round(commits / len(times), 1),
    }


def format_text(result: dict[str, object]) -> str:
    lines = []
    runs = result["runs"]
    assert isinstance(runs, list)
    for run_ in runs:
        lines.append(f"commit latency {run_['commit_latency_ms']:g} ms on every device:")
        lines.append("devices  p50 ms   p95 ms  ctl CPU ms/dev  lab CPU ms/dev  fsyncs/txn")
        for size, figures in run_["sizes"].items():
            lines.append(
                f"{size:>7}  {figures['p50_ms']:>7}  {figures['p95_ms']:>7}  "
                f"{figures['controller_cpu_ms_per_device_txn']:>14}  "
                f"{figures['lab_cpu_ms_per_device_txn']!s:>14}  "
                f"{figures['journal_commits_per_txn']:>10}"
            )
        lines.append(
            f"p50 ratio largest/one: {run_['p50_ratio_largest_to_one']} "
            f"(lab idle CPU {run_['lab_idle_cpu_percent']} %, taken off its figures)"
        )
        lines.append(
            f"CPU floor of the largest plan (one core per process): "
            f"{run_.get('cpu_floor_ms_largest')} ms; CPU per device-transaction and side the "
            f"goal allows: {run_.get('cpu_budget_ms_per_device_txn_for_goal')} ms"
        )
    lines.append(
        f"goal: largest/one <= {result['goal_ratio']} (without device latency: "
        f"{result['p50_ratio_largest_to_one']}); failed transactions: "
        f"{result['failed_transactions']}"
    )
    return "\n".join(lines)


def _serve_lab(devices: int, state_dir: Path, commit_latency: float) -> int:
    """The benchmark's lab process: ``netpilot lab up --devices N`` with every device's
    ``<commit>`` taking ``commit_latency`` seconds; SIGINT/SIGTERM stop it."""
    from lab.launcher import LabOptions, serve_lab

    def ready(lab: Any, state: Path) -> None:
        for device in lab.devices.values():
            if device.netconf is not None:
                device.netconf.commit_latency = commit_latency
        (state / _READY).write_text("ok\n", encoding="utf-8")

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with open(os.devnull, "w", encoding="utf-8") as quiet:  # noqa: ASYNC230 - at start
            await serve_lab(
                LabOptions(devices=devices, state_dir=state_dir, status_interval=0),
                stop=stop,
                on_ready=ready,
                out=quiet,
            )

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "serve-lab":
        sys.exit("usage: python -m bench.transaction serve-lab DEVICES STATE_DIR COMMIT_LATENCY_S")
    sys.exit(_serve_lab(int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])))
