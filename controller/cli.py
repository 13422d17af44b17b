"""The ``netpilot`` command line.

Exit codes: 0 success, 1 failure (invalid input, a failed run), 2 usage error. Every command
that reports something accepts ``--output json``; in JSON mode the LAST line on stdout is one
JSON object, and logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from controller.errors import NetpilotError

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _version() -> str:
    try:
        return version("netpilot")
    except PackageNotFoundError:
        return "0+unknown"


def _parser() -> argparse.ArgumentParser:
    from lab.scenarios import scenario_names  # the lab is a peer; the CLI only starts it

    scenarios = scenario_names()
    parser = argparse.ArgumentParser(
        prog="netpilot",
        description=(
            "Intent-driven, closed-loop network controller: keeps the network at the outcomes "
            "declared in intent files, over NETCONF and SNMP."
        ),
        epilog=(
            "Start with 'netpilot demo' (the loop on an embedded lab network, with the operator "
            "console) or 'netpilot demo --headless --duration 60'."
        ),
    )
    parser.add_argument("--version", action="version", version=f"netpilot {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the embedded lab and the controller in one process (TUI or headless)",
        description=(
            "Starts emulated devices that speak NETCONF over SSH and SNMP over UDP on loopback, "
            "and the controller that keeps the shipped example intents on them."
        ),
    )
    demo.add_argument("--headless", action="store_true", help="no TUI; log to stderr")
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many wall-clock seconds (default: until Ctrl-C / q)",
    )
    demo.add_argument(
        "--scenario",
        default="evening-peak",
        choices=scenarios,
        help="lab scenario (default: %(default)s)",
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=None,
        help="lab seconds per wall second (default: the scenario's)",
    )
    demo.add_argument("--seed", type=int, default=1, help="lab random seed (default: %(default)s)")
    demo.add_argument(
        "--intents",
        type=Path,
        default=None,
        help="intent directory (default: the shipped examples/intents)",
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the lab writes keys, inventory and the journal (default: a temp dir)",
    )
    demo.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="controller tick interval (default: %(default)s)",
    )
    _output_option(demo)

    run = commands.add_parser(
        "run", help="run the controller headless against the inventory of a config file"
    )
    run.add_argument("--config", type=Path, required=True, help="netpilot.yaml")
    run.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: until SIGINT/SIGTERM)",
    )
    _output_option(run)

    lab = commands.add_parser("lab", help="the embedded lab network")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    up = lab_commands.add_parser(
        "up", help="start emulated devices (NETCONF/SSH + SNMP) and write a controller config"
    )
    up.add_argument("--devices", type=int, default=4, help="number of devices (default: 4)")
    up.add_argument(
        "--scenario",
        default="steady",
        choices=scenarios,
        help="lab scenario (default: %(default)s)",
    )
    up.add_argument("--speed", type=float, default=None, help="lab seconds per wall second")
    up.add_argument("--seed", type=int, default=1)
    up.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".lab"),
        help="keys, inventory and controller config go here (default: %(default)s)",
    )
    up.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    _output_option(up)

    intents = commands.add_parser("intents", help="work with intent files")
    intent_commands = intents.add_subparsers(dest="intents_command", metavar="INTENTS_COMMAND")
    validate = intent_commands.add_parser(
        "validate", help="check intent files (syntax, schema, units, references)"
    )
    validate.add_argument("paths", nargs="+", type=Path, help="files or directories")
    validate.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="inventory file: device references are checked against it",
    )
    _output_option(validate)

    changes = commands.add_parser("changes", help="the journal of change transactions")
    change_commands = changes.add_subparsers(dest="changes_command", metavar="CHANGES_COMMAND")
    listing = change_commands.add_parser("list", help="recent changes, newest first")
    listing.add_argument("--journal", type=Path, required=True, help="journal SQLite file")
    listing.add_argument("--limit", type=int, default=50)
    _output_option(listing)
    show = change_commands.add_parser("show", help="one change: plan, explanation, timeline")
    show.add_argument("txn", help="transaction id (from 'changes list')")
    show.add_argument("--journal", type=Path, required=True, help="journal SQLite file")
    _output_option(show)
    return parser


def _output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # the libraries' INFO logs are per-RPC/per-packet chatter
    for noisy in ("ncclient", "asyncssh", "apscheduler", "pysnmp"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``netpilot`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        return _dispatch(parser, args)
    except NetpilotError as exc:
        print(f"netpilot: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "demo":
        from controller.demo import DemoOptions, demo_main

        return demo_main(
            DemoOptions(
                headless=args.headless,
                duration=None if args.duration is None else timedelta(seconds=args.duration),
                scenario=args.scenario,
                speed=args.speed,
                seed=args.seed,
                intents_dir=args.intents,
                state_dir=args.state_dir,
                interval=timedelta(seconds=args.interval),
                output=args.output,
            )
        )
    if args.command == "run":
        return _run(args)
    if args.command == "lab":
        if args.lab_command != "up":
            parser.parse_args(["lab", "--help"])
        from controller.demo import lab_up_main

        return lab_up_main(args)
    if args.command == "intents":
        if args.intents_command != "validate":
            parser.parse_args(["intents", "--help"])
        return _validate(args)
    if args.command == "changes":
        return _changes(parser, args)
    parser.print_help()
    return EXIT_USAGE


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM set ``stop`` (graceful: changes in flight finish first)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _run(args: argparse.Namespace) -> int:
    from controller.app import IntentSetError, build_controller
    from controller.config import load_settings
    from controller.daemon import run_loop
    from controller.observers import LogObserver

    settings = load_settings(args.config)

    async def go() -> dict[str, object]:
        runtime = build_controller(settings, observers=[LogObserver()])
        stop = asyncio.Event()
        install_stop_signals(stop)
        try:
            await run_loop(
                runtime.controller,
                interval=settings.loop.interval,
                stop=stop,
                duration=None if args.duration is None else timedelta(seconds=args.duration),
            )
            return runtime.controller.summary()
        finally:
            await runtime.close()

    try:
        summary = asyncio.run(go())
    except IntentSetError as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return EXIT_FAILURE
    _emit(summary, args.output)
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from controller.app import intent_files
    from controller.config import load_inventory
    from intents.load import IntentSource, dump_intents, load_intent_set

    known = None
    if args.inventory is not None:
        known = frozenset(d.name for d in load_inventory(args.inventory))
    sources: list[IntentSource] = []
    for path in args.paths:
        if path.is_dir():
            files = intent_files(path)
        elif path.is_file():
            files = [path]
        else:
            print(f"netpilot: error: {path}: no such file or directory", file=sys.stderr)
            return EXIT_USAGE
        sources.extend(IntentSource(file=str(f), text=f.read_bytes()) for f in files)
    result = load_intent_set(sources, known_devices=known)
    if args.output == "json":
        print(
            json.dumps(
                {
                    "valid": result.ok,
                    "files": len(sources),
                    "intents": json.loads(dump_intents(result.intents)),
                    "errors": [e.as_dict() for e in result.errors],
                }
            )
        )
    else:
        for error in result.errors:
            print(error)
        if result.ok:
            print(f"{len(result.intents)} intent(s) in {len(sources)} file(s): valid")
    return EXIT_OK if result.ok else EXIT_FAILURE


def _changes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from controller.journal import Journal

    if args.changes_command not in ("list", "show"):
        parser.parse_args(["changes", "--help"])
    if not args.journal.exists():
        print(f"netpilot: error: {args.journal}: no such journal", file=sys.stderr)
        return EXIT_FAILURE
    journal = Journal(args.journal)
    try:
        if args.changes_command == "list":
            records = journal.changes(limit=args.limit)
            if args.output == "json":
                print(json.dumps({"changes": [r.as_dict() for r in records]}))
            else:
                for r in records:
                    print(
                        f"{r.started_at}  {r.txn}  {r.device:<8} {r.status.value:<18} "
                        f"{r.plan.get('reason', '')}"
                    )
            return EXIT_OK
        record = journal.change(args.txn)
        if record is None:
            print(f"netpilot: error: no change {args.txn!r} in {args.journal}", file=sys.stderr)
            return EXIT_FAILURE
        events = journal.events(txn=args.txn)
        if args.output == "json":
            print(
                json.dumps({"change": record.as_dict(), "timeline": [e.as_dict() for e in events]})
            )
        else:
            print(f"{record.txn}: {record.status.value} on {record.device} for {record.intent}")
            print(f"  reason: {record.plan.get('reason')}")
            for e in events:
                print(f"  {e.at}  {e.step:<22} {json.dumps(e.detail, default=str)[:160]}")
        return EXIT_OK
    finally:
        journal.close()


def _emit(summary: dict[str, object], output: str) -> None:
    if output == "json":
        print(json.dumps(summary, default=str))
        return
    for intent in summary.get("intents", []):  # type: ignore[attr-defined]
        print(f"{intent['name']}: {intent['status']}")
    print(f"changes: {summary.get('changes')}  ticks: {summary.get('ticks')}")
