"""The ``lab`` commands' arguments and handlers, for ``python -m lab`` and ``netpilot lab``.

:func:`add_lab_commands` adds ``up``, ``status`` and ``fault`` to an argparse subparsers
action; :func:`run_lab_command` runs the parsed command. ``netpilot``'s CLI passes an
``on_ready`` hook to ``up`` to write the controller's config next to the inventory (the lab
itself knows nothing of the controller).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lab.control import ControlError
from lab.launcher import LabOptions, format_status, inject_fault, lab_status, run_lab
from lab.runtime import LabNetwork
from lab.scenarios import scenario_names
from lab.topology import topology_names

__all__ = ["add_lab_commands", "main", "run_lab_command"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _receiver(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def _devices(text: str) -> int:
    if not text.isdigit() or int(text) < 8:
        raise argparse.ArgumentTypeError(f"a generated lab has at least 8 devices, got {text!r}")
    return int(text)


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("text", "json"), default="text")


def add_lab_commands(
    commands: argparse._SubParsersAction[Any],
    common: argparse.ArgumentParser | None = None,
    output_option: Callable[[argparse.ArgumentParser], None] = _output,
) -> None:
    """Add ``up``, ``status`` and ``fault`` to ``commands`` (dest ``lab_command``)."""
    parents = [common] if common is not None else []
    up = commands.add_parser(
        "up",
        parents=parents,
        help="start emulated devices (NETCONF/SSH + SNMP) and write their inventory",
    )
    up.add_argument(
        "--topology",
        default="metro",
        help=f"shipped topology ({', '.join(topology_names())}) or a YAML file "
        "(default: %(default)s)",
    )
    up.add_argument(
        "--devices", type=_devices, default=None, help="generate a lab of N devices instead"
    )
    up.add_argument(
        "--scenario",
        default="steady",
        choices=scenario_names(),
        help="the scripted day and events (default: %(default)s)",
    )
    up.add_argument("--speed", type=_positive, default=None, help="lab seconds per wall second")
    up.add_argument(
        "--seed", type=int, default=1, help="demand noise and video sessions (default: 1)"
    )
    up.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".lab"),
        help="where the inventory, secrets, known_hosts, control socket and netpilot.yaml go "
        "(default: %(default)s)",
    )
    up.add_argument(
        "--duration",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="stop after this many wall seconds (default: until ctrl+c)",
    )
    up.add_argument(
        "--status-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="wall seconds between status lines; 0 for none (default: %(default)s)",
    )
    up.add_argument(
        "--trap-receiver",
        type=_receiver,
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="send SNMP linkUp/linkDown/coldStart traps there (repeatable)",
    )
    output_option(up)
    status = commands.add_parser(
        "status", parents=parents, help="the running lab's status (load, power, video, faults)"
    )
    status.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".lab"),
        help="the running lab's state directory, as given to lab up (default: .lab)",
    )
    output_option(status)
    fault = commands.add_parser(
        "fault", parents=parents, help="inject or clear a fault in the running lab"
    )
    fault.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".lab"),
        help="the running lab's state directory, as given to lab up (default: .lab)",
    )
    fault.add_argument("target", choices=("link", "device"))
    fault.add_argument("name", help="link or device name")
    fault.add_argument(
        "action",
        help="link: cut, restore, degrade; device: down, unreachable, reachable, slow, "
        "fail-next-commit, reboot, restore",
    )
    fault.add_argument("--capacity", type=float, default=1.0, help="degrade: capacity left")
    fault.add_argument("--loss", type=float, default=0.0, help="degrade: loss ratio")
    fault.add_argument("--delay-ms", type=float, default=0.0, help="degrade: extra delay")
    fault.add_argument(
        "--seconds", type=float, default=None, help="slow: answer delay; reboot: downtime"
    )
    fault.add_argument("--message", default=None, help="fail-next-commit: the error message")
    output_option(fault)


def _fail(message: str, output: str) -> int:
    print(f"netpilot lab: error: {message}", file=sys.stderr)
    if output == "json":
        print(json.dumps({"error": {"type": "LabError", "message": message}}))
    return EXIT_FAILURE


def run_lab_command(
    args: argparse.Namespace,
    *,
    on_ready: Callable[[LabNetwork, Path], Awaitable[None] | None] | None = None,
) -> int:
    """Run a parsed ``lab`` command.

    Args:
        args: parsed by the parsers of :func:`add_lab_commands`.
        on_ready: for ``up``: called once the devices serve.

    Returns:
        The exit code.
    """
    if args.lab_command == "up":
        return run_lab(
            LabOptions(
                topology=args.topology,
                devices=args.devices,
                scenario=args.scenario,
                speed=args.speed,
                seed=args.seed,
                state_dir=args.state_dir,
                duration=args.duration,
                status_interval=args.status_interval,
                output=args.output,
                trap_receivers=tuple(args.trap_receiver),
            ),
            on_ready=on_ready,
        )
    try:
        if args.lab_command == "status":
            status = lab_status(args.state_dir)
            print(
                json.dumps(status, default=str) if args.output == "json" else format_status(status)
            )
            return EXIT_OK
        body: dict[str, object] = {"op": args.target, args.target: args.name, "action": args.action}
        if args.target == "link":
            body.update(capacity=args.capacity, loss=args.loss, delay_ms=args.delay_ms)
        if args.seconds is not None:
            body["seconds"] = args.seconds
        if args.message is not None:
            body["message"] = args.message
        result = inject_fault(args.state_dir, body)
    except ControlError as exc:
        return _fail(str(exc), args.output)
    if args.output == "json":
        print(json.dumps(result))
    else:
        shown = result if isinstance(result, dict) else {}
        print(
            f"{args.target} {shown.get(args.target, args.name)}: {shown.get('action', args.action)}"
        )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m lab COMMAND``: the lab on its own, without the controller."""
    parser = argparse.ArgumentParser(prog="python -m lab", description="the netpilot lab")
    commands = parser.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    add_lab_commands(commands)
    args = parser.parse_args(argv)
    return run_lab_command(args)
