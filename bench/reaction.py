"""``netpilot bench reaction``: from a fault injected in the lab to a verified change.

A generated lab of N devices (default 100) runs in its own process at lab speed 1 (lab time
is wall time, so the reaction is in real seconds). The controller runs in this process as
``netpilot run`` builds it (:func:`controller.app.build_controller`, the APScheduler loop of
:func:`controller.daemon.run_loop`), with one ``e2e-qos`` intent per access node: the voice
class from ``edge-west`` to the node keeps its latency under 12 ms (unloaded: 0.8 ms to the
west site, 8.8 ms to the east one across the 8 ms long-haul ring link).

A trial degrades one access node's primary uplink to a fifth of its capacity (the link
saturates: every class queues, ~50 ms; raising the voice class's priority on the
aggregation router brings voice back under the target) at a random phase of the polling interval
and measures, on the monotonic clock:

- ``detect``: fault -> the controller starts a change (sensing, the hysteresis of
  ``violationTicks`` consecutive violations, the decision);
- ``reaction``: fault -> the change's transaction ends confirmed, that is committed,
  verified over the verification window and confirmed.

Each trial uses its own access node (so no trial meets another's cooldown or raised
priority), and the link is restored afterwards. Goal (issue #10): p95 of ``reaction`` <=
3 polling intervals + the verification window.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.labproc import LabProcess, lab_process

if TYPE_CHECKING:
    from controller.loop import Controller, TickReport
    from controller.model import ChangeResult, Decision

DESCRIPTION = (
    "fault injected in the lab -> verified change: p50/p95 over repeated trials at 1 s and "
    "10 s polling on a 100-device lab"
)

LATENCY_TARGET_MS = 12.0
DEGRADED_CAPACITY = 0.2
VIOLATION_TICKS = 2
VERIFICATION = timedelta(seconds=10)  # the window's upper bound; 3 good samples end it early
REQUIRED_SAMPLES = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=100, help="lab devices (default: 100)")
    parser.add_argument(
        "--intervals",
        default="1,10",
        help="polling intervals in seconds, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--trials", type=int, default=10, help="trials per interval")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault phases")


def run(args: argparse.Namespace) -> dict[str, object]:
    # a tick longer than the interval is reported in the figures (tick_p50_s), not as a
    # warning line per skipped run
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    intervals = [float(part) for part in str(args.intervals).split(",") if part.strip()]
    if not intervals or min(intervals) <= 0:
        raise ValueError("--intervals: positive numbers of seconds")
    if args.trials < 1:
        raise ValueError("--trials must be at least 1")
    return asyncio.run(_run(args.devices, intervals, args.trials, args.seed))


@dataclass
class _Watcher:
    """An observer that wakes the benchmark on ticks and on changes per intent."""

    started: dict[str, float] = field(default_factory=dict)
    finished: dict[str, tuple[float, ChangeResult]] = field(default_factory=dict)
    fulfilled: set[str] = field(default_factory=set)
    tick_seconds: list[float] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def controller_ready(self, controller: Controller) -> None:
        return None

    def tick_finished(self, report: TickReport) -> None:
        self.fulfilled = {s.name for s in report.statuses if s.status.value == "fulfilled"}
        self.tick_seconds.append(report.duration.total_seconds())
        self.event.set()

    def change_started(self, decision: Decision, txn: str) -> None:
        self.started.setdefault(decision.intent, time.monotonic())
        self.event.set()

    def change_finished(self, result: ChangeResult) -> None:
        self.finished.setdefault(result.intent, (time.monotonic(), result))
        self.event.set()

    def is_fulfilled(self, intent: str) -> bool:
        return intent in self.fulfilled

    async def until(self, condition: Callable[[], bool], within: float) -> bool:
        """Wait, on the observer's events, until ``condition()`` holds or ``within`` s pass."""
        deadline = time.monotonic() + within
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), timeout=remaining)
            except TimeoutError:
                return bool(condition())
        return True


def access_uplinks(devices: int) -> list[tuple[str, str]]:
    """(access node, its primary uplink) of the generated lab, in topology order."""
    from lab.generate import generate_lab

    topology = generate_lab(devices).topology
    uplinks: list[tuple[str, str]] = []
    for link in topology.links:
        ends = (link.a.device, link.b.device)
        node = next((d for d in ends if d.startswith("acc-")), None)
        other = ends[1] if node == ends[0] else ends[0]
        if node is not None and other.startswith("agg-") and not other.endswith("-b"):
            uplinks.append((node, link.name))
    return uplinks


def intent_yaml(name: str, node: str) -> str:
    return f"""apiVersion: netpilot/v1
kind: Intent
metadata:
  name: {name}
spec:
  priority: 100
  adminState: activated
  mode: auto
  expectations:
    - id: video-latency
      type: e2e-qos
      verb: ensure
      objects:
        trafficClass: voice
        path: {{from: edge-west, to: {node}}}
      targets:
        - {{name: latencyMs, condition: lessThan, value: {LATENCY_TARGET_MS}}}
  guards:
    maxChangesPerHour: 60
    maxDevicesPerChange: 1
    cooldownSeconds: 1
"""


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _run(devices: int, intervals: list[float], trials: int, seed: int) -> dict[str, object]:
    uplinks = access_uplinks(devices)
    if len(uplinks) < trials * len(intervals):
        raise ValueError(
            f"{devices} devices have {len(uplinks)} access nodes; "
            f"{trials} trials x {len(intervals)} intervals need one each"
        )
    rng = random.Random(seed)  # noqa: S311 - fault phases, not secrets
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="netpilot-bench-reaction-") as tmp:
        async with lab_process(Path(tmp) / "lab", devices=devices, speed=1.0) as lab:
            for index, interval in enumerate(intervals):
                nodes = uplinks[index * trials : (index + 1) * trials]
                runs.append(
                    await _interval_run(lab, Path(tmp) / f"run{index}", interval, nodes, rng)
                )
    return {"devices": devices, "latency_target_ms": LATENCY_TARGET_MS, "runs": runs}


async def _interval_run(
    lab: LabProcess,
    state: Path,
    interval: float,
    nodes: list[tuple[str, str]],
    rng: random.Random,
) -> dict[str, object]:
    from controller.app import build_controller
    from controller.config import ApplySettings, LoopSettings, load_settings
    from controller.daemon import run_loop
    from controller.demo import write_controller_config
    from controller.model import ChangeStatus

    intents_dir = state / "intents"
    intents_dir.mkdir(parents=True)
    names = {node: f"voice-{node}" for node, _ in nodes}
    for node, name in names.items():
        (intents_dir / f"{name}.yaml").write_text(intent_yaml(name, node), encoding="utf-8")
    config = write_controller_config(
        state,
        inventory=lab.inventory,
        intents_dir=intents_dir,
        journal=state / "journal.sqlite",
        loop=LoopSettings(interval=timedelta(seconds=interval), violation_ticks=VIOLATION_TICKS),
        apply=ApplySettings(
            verification_window=VERIFICATION,
            verification_interval=timedelta(seconds=1),
            required_samples=REQUIRED_SAMPLES,
        ),
    )
    watcher = _Watcher()
    settings = load_settings(config)
    runtime = build_controller(settings, observers=[watcher])
    controller = runtime.controller
    stop = asyncio.Event()
    loop_task = asyncio.create_task(
        run_loop(controller, interval=timedelta(seconds=interval), stop=stop)
    )
    budget = 3 * interval + VERIFICATION.total_seconds()
    trials: list[dict[str, object]] = []
    try:
        every = set(names.values())
        if not await watcher.until(lambda: every <= watcher.fulfilled, 30 + 5 * interval):
            raise RuntimeError(f"the intents are not fulfilled before the trials: {watcher}")
        for node, link in nodes:
            name = names[node]
            await asyncio.sleep(rng.uniform(0, interval))  # a random phase of the polling
            injected = time.monotonic()
            await lab.control(
                {"op": "link", "link": link, "action": "degrade", "capacity": DEGRADED_CAPACITY}
            )
            done = await watcher.until(
                functools.partial(watcher.finished.__contains__, name), budget + 60
            )
            status = controller.statuses.get(name)
            decision = controller.last_decisions.get(name)
            await lab.control({"op": "link", "link": link, "action": "restore"})
            trial: dict[str, object] = {"node": node, "link": link}
            if name in watcher.started:
                trial["detect_s"] = round(watcher.started[name] - injected, 3)
            if done:
                at, result = watcher.finished[name]
                trial["status"] = result.status.value
                trial["reaction_s"] = round(at - injected, 3)
                if result.status is ChangeStatus.CONFIRMED:
                    # back to the start: the class priorities are per device, and the next
                    # trial's node may hang off the same aggregation router
                    undo = await controller.rollback(result.change_id)
                    trial["undone"] = undo.status.value
            else:
                trial["status"] = "no change within the timeout"
                trial["intent"] = status.as_dict() if status is not None else None
                trial["decision"] = decision.summary if decision is not None else None
            trials.append(trial)
            await watcher.until(functools.partial(watcher.is_fulfilled, name), 30 + 5 * interval)
    finally:
        stop.set()
        await loop_task
        await runtime.close()
    confirmed = [float(str(t["reaction_s"])) for t in trials if t.get("status") == "confirmed"]
    detected = [float(str(t["detect_s"])) for t in trials if "detect_s" in t]
    summary: dict[str, object] = {
        "interval_s": interval,
        "trials": len(trials),
        "confirmed": len(confirmed),
        "goal_s": budget,
        "tick_p50_s": round(statistics.median(watcher.tick_seconds or [0.0]), 3),
        "ticks": len(watcher.tick_seconds),
        "trial_results": trials,
    }
    if confirmed:
        p95 = _percentile(confirmed, 0.95)
        summary.update(
            reaction_p50_s=round(statistics.median(confirmed), 2),
            reaction_p95_s=round(p95, 2),
            goal_met=p95 <= budget and len(confirmed) == len(trials),
        )
    if detected:
        summary.update(
            detect_p50_s=round(statistics.median(detected), 2),
            detect_p95_s=round(_percentile(detected, 0.95), 2),
        )
    return summary


def format_text(result: dict[str, object]) -> str:
    lines = [f"{result['devices']} lab devices; fault -> verified change"]
    runs = result["runs"]
    assert isinstance(runs, list)
    for run in runs:
        lines.append(
            f"  every {run['interval_s']} s: {run['confirmed']}/{run['trials']} confirmed; "
            f"detect p50 {run.get('detect_p50_s', '-')} s p95 {run.get('detect_p95_s', '-')} s; "
            f"reaction p50 {run.get('reaction_p50_s', '-')} s "
            f"p95 {run.get('reaction_p95_s', '-')} s "
            f"(goal <= {run['goal_s']} s: {'met' if run.get('goal_met') else 'NOT met'})"
        )
    return "\n".join(lines)
