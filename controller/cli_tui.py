"""``netpilot tui``: the operator console attached to a running daemon (``netpilot run``).

The console talks to the daemon through its token-protected local API, the one the CLI
uses, and shows what ``netpilot demo``'s embedded console shows: intents, devices,
decisions with their explanations, changes (with rollback), approvals, intent revisions
and the model registry. Quitting the console leaves the daemon running::

    netpilot tui --connect unix:/var/lib/netpilot/netpilot.sock
    netpilot tui --connect 127.0.0.1:8787 --token-file /var/lib/netpilot/api-token
    netpilot tui --config /etc/netpilot/netpilot.yaml

With a UNIX socket the token defaults to the ``api-token`` file next to it (where the daemon
writes it); ``--config`` reads both from the daemon's configuration. Logs go to a file (the
console owns the terminal); its path is printed when the console fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from controller.api import read_token
from controller.api_client import ApiClient
from controller.cli import EXIT_OK, CommandGroups, report_failure
from controller.errors import ConfigFileError, ConnectError, NetpilotError
from controller.facade import RemoteFacade

__all__ = ["daemon_address", "register"]


def register(groups: CommandGroups) -> None:
    """Add ``netpilot tui``."""
    parser = groups.top_level(
        "tui",
        "the operator console, attached to a running daemon through its local API",
        _tui,
    )
    parser.add_argument(
        "--connect",
        metavar="ADDRESS",
        help="the daemon's API: unix:/path/to/netpilot.sock or HOST:PORT",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help="the API token (default: the api-token file next to a UNIX socket)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="the daemon's netpilot.yaml: its API address and token file",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between polls of the daemon's events (default: %(default)s)",
    )
    parser.add_argument(
        "--log-file", type=Path, help="where the console logs (default: a new temporary file)"
    )


def daemon_address(
    *, connect: str | None, token_file: Path | None, config: Path | None
) -> tuple[str, Path]:
    """The daemon's API address and token file, from the command line or its config.

    Raises:
        ConfigFileError: neither is given, the address is malformed, a TCP address comes
            without a token file, or the config enables no API.
    """
    address = connect
    if config is not None:
        from controller.config import load_settings

        service = load_settings(config).service
        if address is None:
            if service.api_listen is not None:
                address = f"{service.api_listen[0]}:{service.api_listen[1]}"
            elif service.api_socket is not None:
                address = f"unix:{service.api_socket}"
            else:
                raise ConfigFileError(str(config), "the config enables no API")
        token_file = token_file or service.token_file
    if address is None:
        raise ConfigFileError("netpilot tui", "give --connect ADDRESS or --config netpilot.yaml")
    if address.startswith("unix:"):
        if len(address) == len("unix:"):
            raise ConfigFileError(address, "a UNIX socket address needs a path: unix:/path")
        return address, token_file or Path(address[5:]).parent / "api-token"
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigFileError(address, "not an API address: use unix:/path or HOST:PORT")
    if token_file is None:
        raise ConfigFileError(address, "a TCP address needs --token-file (or --config)")
    return address, token_file


def _tui(args: argparse.Namespace) -> int:
    if not args.interval > 0:
        return report_failure("--interval must be greater than 0", args.output)
    try:
        address, token_file = daemon_address(
            connect=args.connect, token_file=args.token_file, config=args.config
        )
        if address.startswith("unix:") and not Path(address[5:]).exists():
            # not a config error: the address is fine, the daemon is not up (retry later)
            raise ConnectError(
                address, "no daemon listens there: the socket does not exist (is netpilot run up?)"
            )
        client = ApiClient(address, read_token(token_file))
        # before the console takes the terminal: a wrong address or token is said plainly
        asyncio.run(client.call("GET", "/v1/status"))
    except NetpilotError as exc:
        return report_failure(exc, args.output)
    from tui.app import make_app

    log_file = args.log_file
    if log_file is None:
        handle, name = tempfile.mkstemp(prefix="netpilot-tui-", suffix=".log")
        os.close(handle)
        log_file = Path(name)
    root = logging.getLogger()
    level = root.level
    root.handlers.clear()
    logging.basicConfig(
        filename=str(log_file),
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    facade = RemoteFacade(client, interval=timedelta(seconds=args.interval))
    app = make_app(facade.run, subtitle=f"attached to {address}", facade=facade)
    summary = app.run()
    if app.error is not None:
        code = report_failure(app.error, args.output)
        print(f"netpilot: the console's log is {log_file}", file=sys.stderr)
        return code
    summary = summary or {"connected": address}
    if args.output == "json":
        print(json.dumps(summary, default=str))
    else:
        print(f"detached from {address} ({summary.get('events', 0)} events); the daemon runs on")
    return EXIT_OK
