"""The lab's local control interface: fault injection and status over a UNIX socket.

``lab up`` listens on ``STATE_DIR/control.sock`` (owner-only, 0600). A client sends one
JSON object per line and gets one JSON object per line back: ``{"ok": true, "result": ...}``
or ``{"ok": false, "error": "..."}``. Requests:

- ``{"op": "status"}``: the lab's status (scenario, clock, load, power, video, faults);
- ``{"op": "video"}``: the video ground truth per access node;
- ``{"op": "link", "link": NAME, "action": "cut" | "restore" | "degrade",
  "capacity": 0.25, "loss": 0.01, "delay_ms": 4}``;
- ``{"op": "device", "device": NAME, "action": "down" | "unreachable" | "reachable" |
  "slow" | "fail-next-commit" | "reboot" | "restore", "seconds": S, "message": M}``
  (``seconds``: the delay of ``slow``, the lab-time downtime of ``reboot``).

:func:`handle_request` is the whole protocol minus the socket; :func:`request` is a small
blocking client (used by ``netpilot lab status`` / ``lab fault``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from lab.runtime import LabNetwork

__all__ = ["CONTROL_SOCKET", "ControlServer", "ControlError", "handle_request", "request"]

CONTROL_SOCKET = "control.sock"
_MAX_LINE = 65536


class ControlError(Exception):
    """The lab refused a control request, or no lab answers at the socket."""


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{key} must be a number")
    return float(value)


def handle_request(lab: LabNetwork, body: object) -> object:
    """Carry out one control request.

    Args:
        lab: the running lab.
        body: the decoded JSON request.

    Returns:
        The result (plain data).

    Raises:
        ControlError: the request is malformed or names an unknown link or device.
    """
    if not isinstance(body, dict):
        raise ControlError("a request is a JSON object")
    op = body.get("op")
    try:
        if op == "status":
            return lab.status(detail=bool(body.get("detail", False)))
        if op == "video":
            return {node: asdict(truth) for node, truth in lab.video_truth().items()}
        if op == "link":
            return _link(lab, body)
        if op == "device":
            return _device(lab, body)
    except KeyError as exc:
        raise ControlError(str(exc.args[0]) if exc.args else "unknown name") from None
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    raise ControlError(f"unknown op {op!r} (status, video, link, device)")


def _link(lab: LabNetwork, body: dict[str, Any]) -> object:
    name, action = str(body.get("link", "")), body.get("action")
    if action == "cut":
        lab.faults.cut_link(name)
    elif action == "restore":
        lab.faults.restore_link(name)
    elif action == "degrade":
        lab.faults.degrade_link(
            name,
            capacity=_number(body, "capacity", 1.0),
            loss=_number(body, "loss", 0.0),
            delay_ms=_number(body, "delay_ms", 0.0),
        )
    else:
        raise ControlError(f"unknown link action {action!r} (cut, restore, degrade)")
    return {"link": name, "action": action}


def _device(lab: LabNetwork, body: dict[str, Any]) -> object:
    name, action = str(body.get("device", "")), body.get("action")
    faults = lab.faults
    if action == "down":
        faults.take_down(name)
    elif action == "unreachable":
        faults.set_unreachable(name, True)
    elif action == "reachable":
        faults.set_unreachable(name, False)
    elif action == "slow":
        faults.set_slow(name, _number(body, "seconds", 2.0))
    elif action == "fail-next-commit":
        faults.fail_next_commit(name, str(body.get("message", "commit failed (injected)")))
    elif action == "reboot":
        faults.reboot(name, timedelta(seconds=_number(body, "seconds", 120.0)))
    elif action == "restore":
        faults.restore_device(name)
    else:
        raise ControlError(
            f"unknown device action {action!r} "
            "(down, unreachable, reachable, slow, fail-next-commit, reboot, restore)"
        )
    return {"device": name, "action": action}


class ControlServer:
    """Serves the control protocol for one lab on a UNIX socket."""

    def __init__(self, lab: LabNetwork, path: Path) -> None:
        self._lab = lab
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen (removing a stale socket file first); the socket is owner-only."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old_umask)
        self.path.chmod(0o600)

    async def stop(self) -> None:
        """Stop listening and remove the socket file."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if len(line) > _MAX_LINE:
                    break
                try:
                    result = handle_request(self._lab, json.loads(line))
                    reply: dict[str, object] = {"ok": True, "result": result}
                except (ControlError, json.JSONDecodeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def request(state_dir: Path, body: dict[str, object], *, timeout: float = 10.0) -> object:
    """Send one control request to the lab whose state directory is ``state_dir``.

    Args:
        state_dir: the running lab's state directory.
        body: the request.
        timeout: seconds to wait for the answer.

    Returns:
        The result.

    Raises:
        ControlError: no lab answers there, or it refused the request.
    """
    path = state_dir / CONTROL_SOCKET
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
            client.sendall(json.dumps(body).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = client.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise ControlError(f"no lab answers at {path}: {exc}") from exc
    try:
        reply = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ControlError(f"malformed answer from the lab: {exc}") from exc
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error")))
    return reply.get("result")
