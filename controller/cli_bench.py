"""``netpilot bench NAME``: the benchmarks in the ``bench`` package.

Each benchmark module (``bench/NAME.py``) provides ``DESCRIPTION: str``,
``add_arguments(parser)`` and ``run(args) -> dict[str, object]``, and optionally
``format_text(result) -> str`` for the human output. Modules keep heavy imports inside
``run`` so that building the command line stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from types import ModuleType

from controller.cli import EXIT_OK, CommandGroups, report_failure

__all__ = ["BENCHMARKS", "register"]

# name -> module; add a line per benchmark
BENCHMARKS: dict[str, str] = {
    "all": "bench.all",
    "day": "bench.day",
    "decide": "bench.decide",
    "intents": "bench.intents",
    "lab": "bench.lab",
    "models": "bench.models",
    "netconf": "bench.netconf",
    "poll": "bench.poll",
    "reaction": "bench.reaction",
    "soak": "bench.soak",
    "transaction": "bench.transaction",
}


def register(groups: CommandGroups) -> None:
    """Add ``netpilot bench`` and one subcommand per benchmark module."""
    subcommands = groups.group("bench", "run a benchmark and print its figures")
    for name, module_name in sorted(BENCHMARKS.items()):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            # one broken benchmark must not take the whole command line down with it
            groups.command(subcommands, name, f"(unavailable: {exc})", _unavailable(exc))
            continue
        parser = groups.command(subcommands, name, str(module.DESCRIPTION), _handler(module))
        module.add_arguments(parser)


def _unavailable(error: ImportError) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        return report_failure(f"this benchmark cannot be loaded: {error}", args.output)

    return handle


def _handler(module: ModuleType) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        result: dict[str, object] = module.run(args)
        if args.output == "json":
            print(json.dumps(result, default=str))
        elif hasattr(module, "format_text"):
            print(module.format_text(result))
        else:
            print(json.dumps(result, indent=2, default=str))
        return EXIT_OK

    return handle
