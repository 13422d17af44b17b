"""``netpilot bench soak``: the daemon managing a large lab for a while; no growth allowed.

A generated lab of N devices runs in its own process (``netpilot lab up --devices N``, lab
time 60x by default); the controller runs in this process exactly as ``netpilot run`` does
(:func:`controller.service.serve`: SNMP and NETCONF sensing of every device each tick, the
API, the journal). Every sample window records the process's RSS, the ticks' duration and
the loop lag (how late a tick started against its interval). The figures to compare are the
first window's against the last one's: memory and lag must not grow (issue #10 asks for a
30-minute run at 1,000 devices; ``--minutes`` shortens it).

The RSS is also kept after every tick, with the number of subscriber flows the tick observed:
the lab's video sessions follow its daily profile (x60: a lab day in 24 minutes), and what a
tick holds grows and shrinks with them. A run that covers a lab day and more also compares
the RSS of two ticks one lab day apart (same time of day, same workload): the growth that
no workload explains. The result says which allocator settings were in force (the daemon
trims the C heap after every tick; ``MALLOC_ARENA_MAX`` and ``PYTHONMALLOC`` come from the
environment, as in the systemd unit, docs/examples/netpilot.service).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.labproc import lab_process

if TYPE_CHECKING:
    from controller.loop import TickReport

DESCRIPTION = (
    "the daemon on a generated lab of N devices for M minutes: RSS per device and loop lag at "
    "the start and at the end (no growth allowed)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=1000, help="lab devices (default: 1000)")
    parser.add_argument("--minutes", type=float, default=30.0, help="run time (default: 30)")
    parser.add_argument(
        "--interval",
        type=float,
        default=30.0,
        help="tick seconds (default: 30; at 1,000 devices a tick costs ~3 s of controller CPU "
        "and ~8 s of lab CPU on this machine, see the per-device CPU figures)",
    )
    parser.add_argument("--speed", type=float, default=60.0, help="lab speed (default: 60)")


def run(args: argparse.Namespace) -> dict[str, object]:
    return asyncio.run(_run(args.devices, args.minutes, args.interval, args.speed))


def _malloc_trims() -> bool:
    from controller import daemon

    return daemon._MALLOC_TRIM is not None


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Sampler:
    """An observer that keeps tick durations, lags and errors per sample window, and the
    RSS and subscriber flows after every tick."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.windows: list[dict[str, list[float]]] = [{"tick": [], "lag": [], "errors": []}]
        self.rss_by_tick: list[float] = []
        self.flows_by_tick: list[int] = []
        self._last_start: float | None = None

    def controller_ready(self, controller: object) -> None:
        return None

    def tick_finished(self, report: TickReport) -> None:
        started = report.at.timestamp()
        window = self.windows[-1]
        window["tick"].append(report.duration.total_seconds())
        if self._last_start is not None:
            window["lag"].append(max(0.0, started - self._last_start - self.interval))
        self._last_start = started
        errors = sum(1 for o in report.observations.values() if o.errors)
        window["errors"].append(float(errors))
        # read when the tick has ended: its observations are still referenced (the API's
        # event feed keeps the newest ticks'), the daemon's trim comes after the observers
        self.rss_by_tick.append(round(_rss_mb(), 1))
        self.flows_by_tick.append(sum(len(o.subscribers) for o in report.observations.values()))

    def change_started(self, decision: object, txn: str) -> None:
        return None

    def change_finished(self, result: object) -> None:
        return None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(
    window: dict[str, list[float]],
    rss: float,
    cpu: tuple[float, float],
    devices: int,
    interval: float,
) -> dict[str, object]:
    ticks = sorted(window["tick"]) or [0.0]
    lags = sorted(window["lag"]) or [0.0]
    count = max(1, len(window["tick"]))
    return {
        "rss_mb": round(rss, 1),
        "ticks": len(window["tick"]),
        # CPU per device per tick: what sets the shortest interval this machine can keep
        "controller_cpu_ms_per_device_tick": round(cpu[0] * 1000 / count / devices, 3),
        "lab_cpu_ms_per_device_tick": round(cpu[1] * 1000 / count / devices, 3),
        "overruns": sum(1 for t in window["tick"] if t > interval),
        "tick_ms_p50": round(statistics.median(ticks) * 1000, 1),
        "lag_ms_p95": round(lags[min(len(lags) - 1, int(len(lags) * 0.95))] * 1000, 1),
        "devices_with_errors_max": int(max(window["errors"], default=0)),
    }


async def _run(devices: int, minutes: float, interval: float, speed: float) -> dict[str, object]:
    from controller.config import ApplySettings, LoopSettings, load_settings
    from controller.demo import write_controller_config
    from controller.service import serve

    with tempfile.TemporaryDirectory(prefix="netpilot-bench-soak-") as tmp:
        state = Path(tmp)
        async with lab_process(state / "lab", devices=devices, speed=speed) as lab:
            intents = state / "intents"
            intents.mkdir()
            config = write_controller_config(
                state,
                inventory=lab.inventory,
                intents_dir=intents,
                journal=state / "journal.sqlite",
                loop=LoopSettings(interval=timedelta(seconds=interval)),
                apply=ApplySettings(),
            )
            sampler = _Sampler(interval)
            stop = asyncio.Event()
            rss_before = _rss_mb()  # the interpreter and its libraries, before any device
            rss: list[float] = []
            cpu: list[tuple[float, float]] = []  # (controller, lab) CPU seconds per window
            task = asyncio.create_task(serve(load_settings(config), stop=stop, observers=[sampler]))
            windows = max(2, int(minutes * 60 // max(interval * 6, 30)))
            window_seconds = minutes * 60 / windows
            for _ in range(windows):
                ours, theirs = time.process_time(), _cpu_seconds(lab.process.pid)
                await asyncio.sleep(window_seconds)
                cpu.append((time.process_time() - ours, _cpu_seconds(lab.process.pid) - theirs))
                rss.append(_rss_mb())
                sampler.windows.append({"tick": [], "lag": [], "errors": []})
            stop.set()
            await task
    first, last = sampler.windows[0], sampler.windows[-2]
    warm = len(first["tick"])  # the first window's ticks: sessions open, event feed filled
    day = round(86_400 / (interval * speed))  # ticks per lab day
    rss_ticks, flows = sampler.rss_by_tick, sampler.flows_by_tick
    same_time = (
        {
            "ticks": [warm, warm + day],
            "rss_mb": [rss_ticks[warm - 1], rss_ticks[warm + day - 1]],
            "subscriber_flows": [flows[warm - 1], flows[warm + day - 1]],
            "rss_growth_mb": round(rss_ticks[warm + day - 1] - rss_ticks[warm - 1], 1),
        }
        if warm >= 1 and len(rss_ticks) >= warm + day
        else None
    )
    return {
        "devices": devices,
        "minutes": minutes,
        "interval_s": interval,
        "start": _summary(first, rss[0], cpu[0], devices, interval),
        "end": _summary(last, rss[-1], cpu[-1], devices, interval),
        "rss_mb_before_controller": round(rss_before, 1),
        "rss_kb_per_device_end": round((rss[-1] - rss_before) * 1024 / devices, 1),
        "rss_growth_mb": round(rss[-1] - rss[0], 1),
        # RSS after each tick (the daemon trims after it), and the flows it observed
        "rss_mb_by_tick": rss_ticks,
        "subscriber_flows_by_tick": flows,
        "rss_same_lab_time": same_time,
        "allocator": {
            "malloc_trim_after_tick": _malloc_trims(),
            "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX"),
            "PYTHONMALLOC": os.environ.get("PYTHONMALLOC"),
        },
    }


def format_text(result: dict[str, object]) -> str:
    start, end = result["start"], result["end"]
    assert isinstance(start, dict)
    assert isinstance(end, dict)
    same = result.get("rss_same_lab_time")
    same_text = (
        f"\nticks {same['ticks'][0]} and {same['ticks'][1]} (one lab day apart): RSS "
        f"{same['rss_mb'][0]} -> {same['rss_mb'][1]} MB, subscriber flows "
        f"{same['subscriber_flows'][0]} -> {same['subscriber_flows'][1]}"
        if isinstance(same, dict)
        else ""
    )
    return (
        f"{result['devices']} devices for {result['minutes']} min at {result['interval_s']} s "
        f"ticks\n"
        f"start: RSS {start['rss_mb']} MB, tick p50 {start['tick_ms_p50']} ms, "
        f"lag p95 {start['lag_ms_p95']} ms\n"
        f"end:   RSS {end['rss_mb']} MB, tick p50 {end['tick_ms_p50']} ms, "
        f"lag p95 {end['lag_ms_p95']} ms\n"
        f"RSS per device {result['rss_kb_per_device_end']} KB; "
        f"growth {result['rss_growth_mb']} MB\n"
        f"CPU per device per tick: controller {end['controller_cpu_ms_per_device_tick']} ms, "
        f"lab {end['lab_cpu_ms_per_device_tick']} ms; overruns {start['overruns']} -> "
        f"{end['overruns']}" + same_text
    )
