"""``netpilot bench decide``: the loop's analyze+decide time per tick at scale.

A real :class:`~controller.loop.Controller` ticks over synthetic observations of N devices
(each with interfaces x traffic classes of queue state and its probes), so the measured
``decide`` stage is exactly the production path: KPI evaluation, the policy with its
bottleneck search over every selected device, guards, status and journal bookkeeping.
Intents are in dry-run mode (violated, so the policy does all its work, but nothing is
applied: this measures deciding, not the network). Goal (issue #10): <= 100 ms per tick for
1,000 devices x 3 intents.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.base import ConfigSession
    from controller.model import Device

DESCRIPTION = "analyze+decide time per tick for N devices x M intents (synthetic observations)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=1000, help="devices (default: 1000)")
    parser.add_argument("--intents", type=int, default=3, help="e2e-qos intents (default: 3)")
    parser.add_argument(
        "--interfaces", type=int, default=4, help="interfaces per device (default: 4)"
    )
    parser.add_argument("--ticks", type=int, default=50, help="ticks measured (default: 50)")


def run(args: argparse.Namespace) -> dict[str, object]:
    import asyncio

    return asyncio.run(_run(args.devices, args.intents, args.interfaces, args.ticks))


async def _run(n_devices: int, n_intents: int, n_interfaces: int, ticks: int) -> dict[str, object]:
    from analytics.watch import KpiWatch, season_samples
    from controller.config import ApplySettings, LoopSettings
    from controller.journal import Journal
    from controller.loop import Controller
    from controller.model import (
        ClassQueue,
        Device,
        DeviceConfig,
        Expectation,
        ExpectationObjects,
        ExpectationType,
        ExpectationVerb,
        Intent,
        IntentMode,
        InterfaceRate,
        Observation,
        PathRef,
        ProbeResult,
        Target,
        TargetCondition,
        TrafficClass,
    )

    names = [f"d{i:04d}" for i in range(n_devices)]
    devices = [Device(n, "127.0.0.1", labels={"site": f"s{i % 10}"}) for i, n in enumerate(names)]
    classes = list(TrafficClass)
    intents = [
        Intent(
            name=f"qos-{k}",
            mode=IntentMode.DRY_RUN,
            expectations=(
                Expectation(
                    id="latency",
                    type=ExpectationType.E2E_QOS,
                    verb=ExpectationVerb.ENSURE,
                    objects=ExpectationObjects(
                        traffic_class=classes[k % len(classes)],
                        path=PathRef(names[k], names[-1 - k]),
                    ),
                    targets=(Target("latencyMs", TargetCondition.LESS_THAN, 30.0),),
                ),
            ),
        )
        for k in range(n_intents)
    ]
    start = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    clock_offset = [0.0]

    def clock() -> datetime:
        return start + timedelta(seconds=clock_offset[0])

    def observations() -> dict[str, Observation]:
        at = clock()
        result = {}
        for i, name in enumerate(names):
            queues = tuple(
                ClassQueue(f"eth{p}", cls, 100.0, float((i * 7 + p * 3 + c) % 40), 0.0)
                for p in range(1, n_interfaces + 1)
                for c, cls in enumerate(classes)
            )
            rates = tuple(
                InterfaceRate(f"eth{p}", 100.0, 500.0, 1000.0, True)
                for p in range(1, n_interfaces + 1)
            )
            probes = tuple(
                ProbeResult(
                    intent.expectations[0].objects.path.destination,  # type: ignore[union-attr]
                    cls,
                    45.0,
                    0.0,
                )
                for intent in intents
                if intent.expectations[0].objects.path.source == name  # type: ignore[union-attr]
                for cls in classes
            )
            result[name] = Observation(
                name, at, rates=rates, queues=queues, probes=probes, config=DeviceConfig()
            )
        return result

    snapshot = observations()

    class Synthetic:
        async def collect(self) -> dict[str, Observation]:
            # fresh timestamps, as a real sense stage gives (stale data would skip deciding)
            now = clock()
            return {name: replace(o, at=now) for name, o in snapshot.items()}

        async def observe_state(self, name: str) -> Observation:
            return snapshot[name]

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite")
        controller = Controller(
            intents=intents,
            devices=devices,
            sensor=Synthetic(),
            open_config_session=_no_sessions,
            journal=journal,
            loop_settings=LoopSettings(interval=timedelta(seconds=10), violation_ticks=2),
            apply_settings=ApplySettings(),
            clock=clock,
            # as the daemon's (controller/app.py): every target's KPI is scored each tick
            watch=KpiWatch(season_length=season_samples(timedelta(seconds=10))),
        )
        await controller.tick()  # warm-up
        decide: list[float] = []
        for _ in range(ticks):
            clock_offset[0] += 10
            report = await controller.tick()
            decide.append(report.stages["decide"])
            violated = sum(1 for s in report.statuses if s.state is not None)
        journal.close()
    decide.sort()
    p95 = decide[min(len(decide) - 1, int(len(decide) * 0.95))]
    return {
        "devices": n_devices,
        "intents": n_intents,
        "interfaces_per_device": n_interfaces,
        "queue_samples_per_tick": n_devices * n_interfaces * len(classes),
        "ticks": ticks,
        "decide_ms_p50": round(statistics.median(decide) * 1000, 3),
        "decide_ms_p95": round(p95 * 1000, 3),
        "intents_violated_in_last_tick": violated,
        "goal_ms": 100,
    }


async def _no_sessions(device: Device) -> ConfigSession:
    raise RuntimeError(f"the decide benchmark never applies a change ({device.name})")


def format_text(result: dict[str, object]) -> str:
    return (
        f"decide for {result['devices']} devices x {result['intents']} intents: "
        f"p50 {result['decide_ms_p50']} ms, p95 {result['decide_ms_p95']} ms "
        f"(goal <= {result['goal_ms']} ms); {result['intents_violated_in_last_tick']} intent(s) "
        "violated in the last tick (the policy did its full work)"
    )
