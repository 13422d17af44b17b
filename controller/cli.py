"""The ``netpilot`` command line.

Exit codes: 0 success, 1 failure (invalid input, a failed run), 2 usage error (including a
command group such as ``netpilot lab`` given without its subcommand). Every command that
reports something accepts ``--output json``; in JSON mode the LAST line on stdout is one JSON
object, on failure too (``{"error": {...}}``, with the human message on stderr), and logs go
to stderr.

The exit codes, the failure reporter and the summary printer live here only; ``netpilot
demo`` (controller/demo.py) uses them. This module imports the demo lazily, inside the
functions that need it, so importing either module never cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from controller.errors import ConnectError, NetpilotError
from controller.formatting import edit_text, number_text, unset_text
from controller.model import ChangeStatus

if TYPE_CHECKING:
    from adapters.base import ConfigSession
    from controller.api_client import ApiClient
    from controller.journal import ChangeRecord, EventRecord, Journal

__all__ = [
    "COMMAND_MODULES",
    "CommandGroups",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "install_stop_signals",
    "journal_source_options",
    "main",
    "output_option",
    "print_summary",
    "report_failure",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _version() -> str:
    try:
        return version("netpilot")
    except PackageNotFoundError:
        return "0+unknown"


class UsageError(Exception):
    """The command line is malformed (argparse's error, raised instead of exiting).

    Args:
        parser: the (sub)parser that refused the arguments, for its usage line.
        message: argparse's explanation.
    """

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        self.parser = parser
        self.message = message
        super().__init__(message)


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting.

    :func:`main` reports it, so a usage error in JSON mode still ends stdout with a JSON
    object. Subparsers inherit the class (argparse creates them with ``type(parent)``).
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def _number(kind: Callable[[str], float], *, above: float) -> Callable[[str], float]:
    """An argparse ``type`` that accepts a number greater than ``above`` only."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        # NaN compares false with everything, so test for acceptance, not for refusal
        if not value > above or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be greater than {above:g}, got {text!r}")
        return value

    return parse


_positive = _number(float, above=0)


def _positive_int(text: str) -> int:
    return int(_number(int, above=0)(text))


def _parser() -> argparse.ArgumentParser:
    from lab.scenarios import scenario_names  # the lab is a peer; the CLI only starts it

    scenarios = scenario_names()
    # -v on every subcommand too ('netpilot demo -v'); SUPPRESS keeps a subcommand that was
    # not given -v from resetting a top-level 'netpilot -v demo' to False
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    parser = _Parser(
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
        parents=[common],
        help="run the embedded lab and the controller in one process (TUI or headless)",
        description=(
            "Starts emulated devices that speak NETCONF over SSH and SNMP over UDP on loopback, "
            "and the controller that keeps the shipped example intents on them."
        ),
    )
    demo.add_argument("--headless", action="store_true", help="no TUI; log to stderr")
    demo.add_argument(
        "--duration",
        type=_positive,
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
        type=_positive,
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
        type=_positive,
        default=2.0,
        metavar="SECONDS",
        help="controller tick interval (default: %(default)s)",
    )
    output_option(demo)

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run the controller headless against the inventory of a config file",
        description=(
            "Runs the closed loop as a service: the local API (token-protected, on a UNIX "
            "socket next to the journal unless the config says otherwise), Prometheus metrics "
            "when configured, SIGHUP re-reads the intents, SIGINT/SIGTERM stop gracefully."
        ),
    )
    run.add_argument("--config", type=Path, required=True, help="netpilot.yaml")
    run.add_argument(
        "--duration",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: until SIGINT/SIGTERM)",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="log lines on stderr (default: the config's logging.format, else text)",
    )
    output_option(run)

    lab = commands.add_parser("lab", parents=[common], help="the embedded lab network")
    lab.set_defaults(group_parser=lab)
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    from lab.cli import add_lab_commands  # the lab's own commands: up, status, fault

    add_lab_commands(lab_commands, common, output_option)

    changes = commands.add_parser(
        "changes", parents=[common], help="the journal of change transactions"
    )
    changes.set_defaults(group_parser=changes)
    change_commands = changes.add_subparsers(dest="changes_command", metavar="CHANGES_COMMAND")
    listing = change_commands.add_parser(
        "list", parents=[common], help="recent changes, newest first"
    )
    journal_source_options(listing)
    listing.add_argument(
        "--limit", type=_positive_int, default=50, help="newest changes to list (default: 50)"
    )
    output_option(listing)
    show = change_commands.add_parser(
        "show", parents=[common], help="one change: plan, explanation, timeline"
    )
    show.add_argument("txn", help="transaction id (from 'changes list')")
    journal_source_options(show)
    output_option(show)
    pending = change_commands.add_parser(
        "pending",
        parents=[common],
        help="plans approve-mode intents are waiting on (asks the running daemon)",
    )
    pending.add_argument("--config", type=Path, required=True, help="the daemon's netpilot.yaml")
    output_option(pending)
    for verb, text in (("approve", "apply a pending plan"), ("reject", "refuse a pending plan")):
        decide = change_commands.add_parser(
            verb,
            parents=[common],
            help=f"{text} of an approve-mode intent (asks the running daemon)",
        )
        decide.add_argument("approval", help="approval id (from 'changes pending')")
        decide.add_argument("--config", type=Path, required=True, help="the daemon's netpilot.yaml")
        decide.add_argument(
            "--reason", default="", required=verb == "reject", help="why (kept in the journal)"
        )
        output_option(decide)
    held = change_commands.add_parser(
        "quarantined",
        parents=[common],
        help="changes the loop holds back (failed, rolled back, rejected) and why",
        description=(
            "Read from the journal: every change an intent may not push again, until an "
            "operator releases it ('netpilot changes release')."
        ),
    )
    journal_source_options(held)
    output_option(held)
    release = change_commands.add_parser(
        "release",
        parents=[common],
        help="let the loop propose a quarantined change again",
        description=(
            "Ends a change's quarantine (after the device or the cause was fixed): its intent "
            "may propose it again, and an approve-mode intent asks for approval again. "
            "Through the running daemon when one answers; otherwise written to the journal, "
            "which a daemon reads when it starts."
        ),
    )
    release.add_argument(
        "change", help="change id (from 'changes quarantined'), or a transaction of it"
    )
    release.add_argument(
        "--config", type=Path, required=True, help="netpilot.yaml (its daemon and journal)"
    )
    release.add_argument("--reason", required=True, help="why (kept in the journal)")
    output_option(release)
    rollback = change_commands.add_parser(
        "rollback",
        parents=[common],
        help="undo a confirmed change with a new transaction (refuses if a device drifted)",
        description=(
            "Takes every device the change touched back to the configuration it had before, "
            "as a new confirmed-commit transaction. Refuses when a device no longer holds what "
            "the change left; --force plans from the device's current configuration instead."
        ),
    )
    rollback.add_argument("txn", help="transaction id (from 'changes list')")
    rollback.add_argument(
        "--config", type=Path, required=True, help="netpilot.yaml (inventory and journal)"
    )
    rollback.add_argument(
        "--force", action="store_true", help="roll back even where the device has drifted"
    )
    output_option(rollback)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(CommandGroups(commands, common))
    return parser


def journal_source_options(parser: argparse.ArgumentParser) -> None:
    """``--journal FILE`` or ``--config netpilot.yaml`` (its journal), as the other
    ``changes`` commands take the config."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--journal", type=Path, help="journal SQLite file")
    source.add_argument("--config", type=Path, help="netpilot.yaml (read for its journal)")


# Command groups that live in their own modules. Each module has a function
# ``register(groups: CommandGroups) -> None`` that adds its parsers and gives each runnable
# (sub)command a handler with ``parser.set_defaults(handler=fn)``, ``fn(args) -> exit code``.
COMMAND_MODULES: tuple[str, ...] = (
    "controller.cli_bench",
    "controller.cli_intents",
    "controller.cli_models",
    "controller.cli_tui",
)


class CommandGroups:
    """What a command module needs to add its commands to ``netpilot``."""

    def __init__(
        self,
        commands: argparse._SubParsersAction[Any],
        common: argparse.ArgumentParser,
    ) -> None:
        self._commands = commands
        self.common = common

    def group(self, name: str, help_text: str) -> argparse._SubParsersAction[Any]:
        """Add ``netpilot NAME`` as a group of subcommands; returns its subparsers.

        Without a subcommand, the group prints its help and exits 2 (a usage error).
        """
        parser: argparse.ArgumentParser = self._commands.add_parser(
            name, parents=[self.common], help=help_text
        )
        parser.set_defaults(group_parser=parser, handler=None)
        subcommands: argparse._SubParsersAction[Any] = parser.add_subparsers(
            dest=f"{name}_command", metavar=f"{name.upper()}_COMMAND"
        )
        return subcommands

    def top_level(
        self,
        name: str,
        help_text: str,
        handler: Callable[[argparse.Namespace], int],
        *,
        json_output: bool = True,
    ) -> argparse.ArgumentParser:
        """Add ``netpilot NAME`` as a runnable command of its own (not a group)."""
        return self.command(self._commands, name, help_text, handler, json_output=json_output)

    def command(
        self,
        subcommands: argparse._SubParsersAction[Any],
        name: str,
        help_text: str,
        handler: Callable[[argparse.Namespace], int],
        *,
        json_output: bool = True,
    ) -> argparse.ArgumentParser:
        """Add a runnable subcommand with ``--output`` (unless ``json_output`` is False)."""
        parser: argparse.ArgumentParser = subcommands.add_parser(
            name, parents=[self.common], help=help_text, description=help_text
        )
        parser.set_defaults(handler=handler)
        if json_output:
            output_option(parser)
        return parser


def output_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--output text|json`` to a command."""
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: %(default)s)",
    )


def _setup_logging(verbose: bool) -> None:
    from controller.logs import configure_logging

    configure_logging(verbose=verbose)


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether the raw command line asked for JSON (for errors found before parsing ends)."""
    return any(
        arg == "--output=json" or (arg == "--output" and following == "json")
        for arg, following in zip(argv, [*argv[1:], ""], strict=True)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``netpilot`` console script.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: :data:`EXIT_OK`, :data:`EXIT_FAILURE` or :data:`EXIT_USAGE`.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {exc.message}", file=sys.stderr)
        if _wants_json(arguments):
            print(json.dumps({"error": {"type": "UsageError", "message": exc.message}}))
        return EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _setup_logging(getattr(args, "verbose", False))
    output = getattr(args, "output", "text")
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
    except NetpilotError as exc:
        return report_failure(exc, output)
    except KeyboardInterrupt:
        return report_failure("interrupted", output)
    except BrokenPipeError:
        # the reader went away (`netpilot ... | head`): stop quietly, as a Unix tool does;
        # stdout is pointed at /dev/null so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        # a bug: keep the traceback, but a JSON reader still gets its last line
        if output == "json":
            print(json.dumps({"error": _error_data(exc)}))
        raise
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if hasattr(args, "handler"):  # a command module's (sub)command
        if args.handler is None:  # its group without a subcommand
            args.group_parser.print_help()
            return EXIT_USAGE
        result: int = args.handler(args)
        return result
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
    subcommand = {
        "lab": "lab_command",
        "changes": "changes_command",
    }[args.command]
    if getattr(args, subcommand) is None:
        # a group without its subcommand is a usage error, not a no-op success
        args.group_parser.print_help()
        return EXIT_USAGE
    if args.command == "lab":
        from controller.demo import lab_up_main

        return lab_up_main(args)
    return _changes(args)


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM set ``stop`` (graceful: changes in flight finish first)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _run(args: argparse.Namespace) -> int:
    from controller.app import IntentSetError
    from controller.config import load_settings
    from controller.logs import configure_logging
    from controller.service import serve

    settings = load_settings(args.config)
    log_format = args.log_format or settings.service.log_format
    configure_logging(verbose=getattr(args, "verbose", False), json_format=log_format == "json")

    async def go() -> dict[str, object]:
        stop = asyncio.Event()
        install_stop_signals(stop)
        return await serve(
            settings,
            stop=stop,
            duration=None if args.duration is None else timedelta(seconds=args.duration),
        )

    try:
        summary = asyncio.run(go())
    except IntentSetError as exc:
        return report_failure(exc, args.output)
    print_summary(summary, args.output)
    return EXIT_OK


def _daemon_client(config: Path) -> ApiClient:
    """A client for the daemon that runs with ``config`` (its socket or port, its token)."""
    from controller.api import read_token
    from controller.api_client import ApiClient
    from controller.config import load_settings

    service = load_settings(config).service
    if service.api_listen is not None:
        address = f"{service.api_listen[0]}:{service.api_listen[1]}"
    elif service.api_socket is not None:
        address = f"unix:{service.api_socket}"
    else:
        raise ConnectError("netpilot", "the config enables no API")
    return ApiClient(address, read_token(service.token_file))


def _refused(body: dict[str, Any], output: str) -> int:
    """Report the daemon's error answer (its message, else the whole body)."""
    error = body.get("error", {})
    message = error.get("message", body) if isinstance(error, dict) else body
    return report_failure(f"the daemon refused: {message}", output)


def _approvals(args: argparse.Namespace) -> int:
    client = _daemon_client(args.config)
    if args.changes_command == "pending":
        status, body = asyncio.run(client.request("GET", "/v1/approvals"))
    else:
        status, body = asyncio.run(
            client.request(
                "POST",
                f"/v1/approvals/{args.approval}/{args.changes_command}",
                {"reason": args.reason},
            )
        )
    if status != 200:
        return _refused(body, args.output)
    if args.output == "json":
        print(json.dumps(body))
    elif args.changes_command == "pending":
        approvals = body.get("approvals", [])
        listed = approvals if isinstance(approvals, list) else []
        for a in listed:
            print(
                f"{a['requested_at']}  {a['id']}  {a['status']:<10} {a['intent']}: {a['summary']}"
            )
        if not listed:
            print("no approvals: no intent in approve mode has proposed a plan")
    else:
        approval = body.get("approval")
        if isinstance(approval, dict):
            print(f"{approval.get('id')}: {approval.get('status')}")
    return EXIT_OK


def _ask_daemon(
    config: Path, token_file: Path, path: str, body: dict[str, object], *, otherwise: str
) -> tuple[int, dict[str, Any]] | None:
    """The running daemon's answer to ``POST path``; None when none answers, after saying
    so on stderr and what is done ``otherwise``."""
    if not token_file.exists():
        # the daemon writes its token when it starts: none has run with this config
        print(f"no daemon has run with {config} (no {token_file}): ", end="", file=sys.stderr)
    else:
        try:
            return asyncio.run(_daemon_client(config).request("POST", path, body))
        except ConnectError as exc:
            print(f"no daemon answered ({exc}): ", end="", file=sys.stderr)
    print(otherwise, file=sys.stderr)
    return None


def _rollback(args: argparse.Namespace) -> int:
    """``changes rollback``: through the daemon when one answers (it checks that no other
    change holds the devices and quarantines the undone change, so its loop does not push it
    again); directly on the devices when none runs."""
    from adapters.netconf import open_session
    from controller.app import utc_now
    from controller.config import load_settings
    from controller.journal import Journal
    from controller.rollback import rollback_change

    settings = load_settings(args.config)
    answer = _ask_daemon(
        args.config,
        settings.service.token_file,
        f"/v1/changes/{args.txn}/rollback",
        {"force": args.force},
        otherwise="rolling back directly on the devices",
    )
    if answer is not None:
        status, body = answer
        if status != 200:
            return _refused(body, args.output)
        done = body.get("rollback")
        rollback = done if isinstance(done, dict) else {}
        if args.output == "json":
            print(json.dumps(body))
        else:
            change, state = rollback.get("change_id"), rollback.get("status")
            print(f"{change}: {state} - {rollback.get('detail')}")
        return EXIT_OK if rollback.get("status") == "confirmed" else EXIT_FAILURE
    devices = {d.name: d for d in settings.inventory}
    journal = Journal(settings.journal_path)

    async def open_by_name(name: str) -> ConfigSession:
        device = devices.get(name)
        if device is None:
            raise ConnectError(name, "not in the inventory")
        return await open_session(device)

    try:
        result = asyncio.run(
            rollback_change(
                args.txn,
                journal=journal,
                open_session=open_by_name,
                settings=settings.apply,
                clock=utc_now,
                force=args.force,
            )
        )
    finally:
        journal.close()
    if args.output == "json":
        print(json.dumps({"rollback": result.as_dict()}))
    else:
        print(f"{result.change_id}: {result.status.value} - {result.detail}")
    return EXIT_OK if result.status is ChangeStatus.CONFIRMED else EXIT_FAILURE


def _release(args: argparse.Namespace) -> int:
    """``changes release``: through the daemon when one answers (its loop holds the
    quarantine in memory); into the journal when none runs (a daemon reads it at start)."""
    from controller.app import utc_now
    from controller.config import load_settings
    from controller.journal import Journal
    from controller.loop import RELEASE_EVENT, read_quarantine

    if not args.reason.strip():
        return report_failure(
            f"change {args.change}: a release needs a reason (it is journaled)", args.output
        )
    settings = load_settings(args.config)
    answer = _ask_daemon(
        args.config,
        settings.service.token_file,
        f"/v1/changes/{args.change}/release",
        {"reason": args.reason},
        otherwise="releasing in the journal (a daemon that runs without an API holds the "
        "change until it restarts)",
    )
    if answer is not None:
        status, body = answer
        if status != 200:
            return _refused(body, args.output)
        released = body.get("released", {})
        released = released if isinstance(released, dict) else {}
        intents = [str(i) for i in released.get("intents", [])]
        _print_released(str(released.get("change", args.change)), intents, args.output)
        return EXIT_OK
    if not settings.journal_path.is_file():
        return report_failure(f"{settings.journal_path}: no such journal", args.output)
    journal = Journal(settings.journal_path)
    try:
        held, _ = read_quarantine(journal)
        record = journal.change(args.change)  # a transaction id names its change too
        if record is not None and not any(args.change in c for c in held.values()):
            args.change = record.change_id
        intents = sorted(i for i, changes in held.items() if args.change in changes)
        if not intents:
            return report_failure(
                f"change {args.change}: not quarantined (see 'netpilot changes quarantined')",
                args.output,
            )
        for intent in intents:
            journal.event(
                RELEASE_EVENT,
                at=utc_now(),
                intent=intent,
                detail={
                    "change": args.change,
                    "reason": args.reason.strip(),
                    "was": held[intent][args.change],
                },
            )
    finally:
        journal.close()
    _print_released(args.change, intents, args.output)
    return EXIT_OK


def _print_released(change: str, intents: list[str], output: str) -> None:
    if output == "json":
        print(json.dumps({"released": {"change": change, "intents": intents}}))
    else:
        print(f"{change}: released for {', '.join(intents)}")


def _quarantined(journal: Journal, output: str) -> int:
    """``changes quarantined``: the journal's quarantines less the releases."""
    from controller.loop import read_quarantine

    held, _ = read_quarantine(journal)
    rows = [(i, c, r) for i, changes in sorted(held.items()) for c, r in sorted(changes.items())]
    if output == "json":
        listed = [{"intent": i, "change": c, "reason": r} for i, c, r in rows]
        print(json.dumps({"quarantined": listed}))
        return EXIT_OK
    for intent, change, reason in rows:
        print(f"{change}  {intent}: {reason}")
    if not rows:
        print("nothing is quarantined: the loop may propose any change")
    return EXIT_OK


def _changes(args: argparse.Namespace) -> int:
    from controller.journal import Journal

    if args.changes_command == "rollback":
        return _rollback(args)
    if args.changes_command == "release":
        return _release(args)
    if args.changes_command in ("pending", "approve", "reject"):
        return _approvals(args)
    if args.journal is None:
        from controller.config import load_settings

        args.journal = load_settings(args.config).journal_path
    if not args.journal.is_file():
        return report_failure(f"{args.journal}: no such journal", args.output)
    # read-only: 'changes' must never create tables in, or switch the mode of, the file it
    # is pointed at (which may not be a journal at all)
    journal = Journal(args.journal, read_only=True)
    try:
        # a confirmed change an operator rolled back since is "undone" (as the console says)
        if args.changes_command == "quarantined":
            return _quarantined(journal, args.output)
        undone = journal.rolled_back_by()
        if args.changes_command == "list":
            records = journal.changes(limit=args.limit)
            if args.output == "json":
                listed = [{**r.as_dict(), "rolled_back_by": undone.get(r.txn, "")} for r in records]
                print(json.dumps({"changes": listed}))
            else:
                for r in records:
                    status = "undone" if r.txn in undone else r.status.value
                    print(
                        f"{r.started_at}  {r.txn}  {r.device:<8} {status:<18} "
                        f"{r.plan.get('reason', '')}"
                    )
            return EXIT_OK
        record = journal.change(args.txn)
        if record is None:
            return report_failure(f"no change {args.txn!r} in {args.journal}", args.output)
        events = journal.events(txn=args.txn)
        by = undone.get(record.txn, "")
        if args.output == "json":
            change = {**record.as_dict(), "rolled_back_by": by}
            print(json.dumps({"change": change, "timeline": [e.as_dict() for e in events]}))
        else:
            _print_change(record, events, rolled_back_by=by)
        return EXIT_OK
    finally:
        journal.close()


def _print_change(
    record: ChangeRecord, events: list[EventRecord], *, rolled_back_by: str = ""
) -> None:
    """``changes show`` in text: the plan, its diff, why, and the timeline."""
    print(f"{record.txn}: {record.status.value} on {record.device} for {record.intent}")
    if rolled_back_by:
        print(f"  undone: rolled back by {rolled_back_by} (netpilot changes show {rolled_back_by})")
    print(f"  reason: {record.plan.get('reason')}")
    edits = record.plan.get("edits")
    if isinstance(edits, list) and edits:
        print("  diff:")
        for edit in edits:
            if isinstance(edit, dict):
                old, new = _leaf(edit.get("old")), _leaf(edit.get("new"))
                print(f"    {edit.get('device')}: {edit_text(str(edit.get('path')), old, new)}")
    explanation = record.plan.get("explanation")
    if isinstance(explanation, dict):
        shown = {
            k: explanation[k]
            for k in ("target", "observed", "model", "predicted", "confidence")
            if explanation.get(k) not in (None, {}, [], "")
        }
        if shown:
            print("  why:")
            for key, value in shown.items():
                # as the console shows them (predicted: latencyMs 9.14), never as JSON
                print(f"    {key}: {_short(number_text(value), 100)}")
    print("  timeline:")
    for e in events:
        detail = ", ".join(f"{k}={_short(_spelt(v), 60)}" for k, v in e.detail.items())
        print(f"    {e.at}  {e.step:<22} {detail}")


def _spelt(value: object) -> object:
    """A timeline detail with its edits as the diff spells them (an absent leaf is
    ``(unset)``; the journal keeps ``describe``'s "-")."""
    if isinstance(value, str):
        return unset_text(value)
    if isinstance(value, list):
        return [unset_text(v) if isinstance(v, str) else v for v in value]
    return value


def _leaf(value: object) -> str | None:
    """A journaled leaf value; None when the configuration did not (or will not) hold it."""
    return None if value is None else str(value)


def _short(value: object, width: int) -> str:
    """A value on one line, cut at ``width`` with an ellipsis (never mid-way unmarked)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ reporting (shared)


def _error_data(error: BaseException | str) -> dict[str, object]:
    if isinstance(error, str):
        return {"type": "Error", "message": error}
    if isinstance(error, NetpilotError):
        return error.as_dict()
    return {"type": type(error).__name__, "message": str(error)}


def report_failure(error: BaseException | str, output: str) -> int:
    """Report a failure: the message on stderr, and in JSON mode ``{"error": ...}`` on stdout.

    Args:
        error: the exception, or a message.
        output: ``text`` or ``json``.

    Returns:
        :data:`EXIT_FAILURE`, for ``return report_failure(...)``.
    """
    lines = str(error).splitlines() or [type(error).__name__]
    if len(lines) == 1:
        print(f"netpilot: error: {lines[0]}", file=sys.stderr)
    else:  # several located errors (an intent set): one per line, as 'intents validate' does
        for line in lines:
            print(line, file=sys.stderr)
    if output == "json":
        print(json.dumps({"error": _error_data(error)}, default=str))
    return EXIT_FAILURE


def print_summary(summary: dict[str, object], output: str) -> None:
    """Print a run's summary: one JSON object in JSON mode, else a few readable lines."""
    if output == "json":
        print(json.dumps(summary, default=str))
        return
    intents = summary.get("intents")
    for intent in intents if isinstance(intents, list) else []:
        listed = intent.get("targets", [])
        # several expectations may have targets of one name: each says whose it is
        several = len({t.get("expectation") for t in listed}) > 1
        targets = ", ".join(
            (f"{t['expectation']}: " if several else "") + f"{t['name']}={_observed(t['observed'])}"
            for t in listed
        )
        print(f"intent {intent['name']}: {intent['status']}" + (f" ({targets})" if targets else ""))
    changes = summary.get("changes")
    if isinstance(changes, dict):
        counts = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in changes.items())
        anomalies = summary.get("anomalies")
        found = f"; anomalies: {anomalies}" if isinstance(anomalies, int) else ""
        print(f"changes: {counts}; ticks: {summary.get('ticks')}{found}")
    if "journal" in summary:
        journal = summary["journal"]
        print(f"journal: {journal}  (netpilot changes list --journal {journal})")


def _observed(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else ("?" if value is None else str(value))
