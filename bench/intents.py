"""``netpilot bench intents``: admission time of an intent set of N intents.

One admission is what the daemon does for every new revision: load every file (YAML,
schema, references against the inventory), detect and resolve conflicts, and diff against
the active revision. The set mixes the three expectation types over a 4-router inventory:
per 100 intents, 90 e2e-qos for five classes and four paths (compatible targets), 9
video-experience and one energy-saving intent, whose conflicts with every e2e-qos path (any
device may be on a path without a topology) are detected, reported and resolved. The
published figure nearest to it: ONOS installs 1,000 intents in 48 ms (docs/benchmarks/
intents.md); that is installation, not the validation of text.
"""

from __future__ import annotations

import argparse
import statistics
import time

DESCRIPTION = "admission time (load + conflicts + diff) of a revision of N intents"

_CLASSES = ("video", "voice", "gaming", "bulk", "best-effort")
_PATHS = (("r1", "r4"), ("r4", "r1"), ("r1", "r3"), ("r2", "r4"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intents", type=int, default=1000, help="intents (default: 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="admissions measured (default: 5)")


def _text(index: int) -> str:
    # per 100 intents: one energy-saving, nine video-experience, ninety e2e-qos
    kind = index % 100
    name = f"intent-{index}"
    if kind == 0:
        return (
            f"apiVersion: netpilot/v1\nkind: Intent\nmetadata: {{name: {name}}}\nspec:\n"
            "  priority: 0\n  expectations:\n    - type: energy-saving\n"
            "      objects: {select: {site: east, role: core}}\n      targets:\n"
            "        - {name: powerReductionRatio, condition: greaterThan, value: 0.2}\n"
            "        - {name: maxUtilization, condition: lessThan, value: 0.7}\n"
        )
    if kind % 10 == 9:
        return (
            f"apiVersion: netpilot/v1\nkind: Intent\nmetadata: {{name: {name}}}\nspec:\n"
            f"  priority: {index % 900 + 1}\n  mode: dry-run\n  expectations:\n"
            "    - type: video-experience\n      objects: {select: {site: west}}\n"
            "      targets: [{name: stallRatio, condition: lessThan, value: 0.02}]\n"
        )
    source, destination = _PATHS[index % len(_PATHS)]
    return (
        f"apiVersion: netpilot/v1\nkind: Intent\nmetadata: {{name: {name}}}\nspec:\n"
        f"  priority: {index % 900 + 2}\n  mode: dry-run\n  expectations:\n"
        f"    - type: e2e-qos\n      objects: {{trafficClass: {_CLASSES[index % 5]}, "
        f"path: {{from: {source}, to: {destination}}}}}\n      targets:\n"
        f"        - {{name: latencyMs, condition: lessThan, value: {20 + index % 30}}}\n"
        "        - {name: lossRatio, condition: lessThanOrEqual, value: 0.01}\n"
    )


def run(args: argparse.Namespace) -> dict[str, object]:
    from controller.model import Device
    from intents.diff import diff_intent_sets
    from intents.inventory import Inventory
    from intents.load import IntentSource
    from intents.revisions import evaluate

    devices = [
        Device(f"r{i}", f"127.1.0.{i}", labels={"site": site, "role": role})
        for i, site, role in (
            (1, "west", "edge"),
            (2, "west", "core"),
            (3, "east", "core"),
            (4, "east", "edge"),
        )
    ]
    inventory = Inventory.from_devices(devices)
    files = tuple(IntentSource(f"intents/{i}.yaml", _text(i)) for i in range(args.intents))
    previous = evaluate(files[: args.intents // 2], inventory=inventory).intents
    load_ms: list[float] = []
    total_ms: list[float] = []
    conflicts = 0
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        evaluation = evaluate(files, inventory=inventory)
        evaluated = time.perf_counter()
        diff_intent_sets(previous, evaluation.intents)
        finished = time.perf_counter()
        assert evaluation.ok, evaluation.errors[:3]
        conflicts = len(evaluation.conflicts)
        load_ms.append((evaluated - started) * 1000)
        total_ms.append((finished - started) * 1000)
    return {
        "intents": args.intents,
        "conflicts": conflicts,
        "evaluate_ms_median": round(statistics.median(load_ms), 1),
        "admission_ms_median": round(statistics.median(total_ms), 1),
        "admission_ms_max": round(max(total_ms), 1),
        "per_intent_us": round(statistics.median(total_ms) * 1000 / max(1, args.intents), 1),
    }


def format_text(result: dict[str, object]) -> str:
    return (
        f"{result['intents']} intents ({result['conflicts']} conflicts resolved): admission "
        f"{result['admission_ms_median']} ms median, {result['admission_ms_max']} ms max "
        f"({result['per_intent_us']} us per intent; load+conflicts "
        f"{result['evaluate_ms_median']} ms)"
    )
