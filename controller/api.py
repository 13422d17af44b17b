"""The daemon's local API and its metrics listener: small HTTP/1.1 servers on asyncio.

Two listeners, two trust levels:

- the **API** (``/v1/...``), on a UNIX socket (mode 0600) or a loopback TCP port, where every
  request needs ``Authorization: Bearer <token>``; the token lives in a file readable only by
  its owner. The CLI and the operator console use it.
- the **metrics** listener (``/metrics`` in Prometheus' text format, ``/healthz``), loopback
  only and unauthenticated, as Prometheus scrapes expect; it serves counters, never control.

The HTTP handling is deliberately small (one request per connection, ``Content-Length``
bodies, bounded sizes): netpilot needs a handful of JSON endpoints on a local socket, not a web
framework. Endpoints::

    GET  /v1/status                      controller summary (intents, changes, ticks)
    GET  /v1/intents                     intents with their fulfilment status
    GET  /v1/devices                     last observation per device
    GET  /v1/decisions                   last decision per intent, with its explanation
    GET  /v1/changes?limit=N             journaled change transactions, newest first
    GET  /v1/changes/TXN                 one transaction with its timeline
    POST /v1/changes/TXN/rollback        {"force": false} -> the rollback's result
    GET  /v1/quarantine                  changes the loop holds back, per intent, and why
    POST /v1/changes/ID/release          {"reason": "..."} -> the loop may propose it again
    GET  /v1/approvals                   plans approve-mode intents are waiting on
    POST /v1/approvals/ID/approve        {"reason": "..."} -> the plan is applied next tick
    POST /v1/approvals/ID/reject         {"reason": "..."} -> the change is quarantined
    GET  /v1/revisions                   the intent source's active revision and quarantine
    POST /v1/reload                      poll the intent source now (as SIGHUP does)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from controller.errors import ChangeError, ConfigFileError, NetpilotError

__all__ = ["ApiServer", "HttpRequest", "HttpResponse", "load_or_create_token", "read_token"]

log = logging.getLogger("netpilot.api")

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT = 10.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One parsed request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        """The body as a JSON object (empty body: ``{}``).

        Raises:
            ValueError: the body is not a JSON object.
        """
        if not self.body:
            return {}
        data = json.loads(self.body)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")  # noqa: TRY004 - a 400, not a bug
        return data


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One response: JSON data, or raw bytes with a content type."""

    status: int = 200
    data: object = None
    raw: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        body = self.raw if self.raw else json.dumps(self.data, default=str).encode()
        head = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in self.headers.items()),
        ]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def error(status: int, message: str, **extra: object) -> HttpResponse:
    """A JSON error response."""
    return HttpResponse(status=status, data={"error": {"message": message, **extra}})


class _BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    except asyncio.LimitOverrunError as exc:
        raise _BadRequestError(413, "headers too large") from exc
    except asyncio.IncompleteReadError as exc:
        raise _BadRequestError(400, "incomplete request") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise _BadRequestError(400, "malformed request line") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequestError(400, "malformed header")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise _BadRequestError(400, "bad Content-Length") from exc
    if length < 0 or length > MAX_BODY_BYTES:
        raise _BadRequestError(413, "body too large")
    try:
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise _BadRequestError(400, "incomplete body") from exc
    split = urlsplit(target)
    return HttpRequest(
        method=method.upper(),
        path=unquote(split.path),
        query=parse_qs(split.query),
        headers=headers,
        body=body,
    )


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class ApiServer:
    """One HTTP listener: a handler, optionally behind a bearer token.

    Args:
        handler: answers a request.
        token: required bearer token; ``None`` for the unauthenticated metrics listener.
    """

    def __init__(self, handler: Handler, *, token: str | None) -> None:
        self._handler = handler
        self._token = token
        self._server: asyncio.Server | None = None
        self._socket: Path | None = None  # the UNIX socket to remove when it stops
        self.address: str = ""

    async def start_unix(self, path: Path) -> None:
        """Listen on a UNIX socket that only the owner may connect to."""
        _prepare_socket_path(path)
        old_umask = os.umask(0o177)  # the socket is created 0600, no window for others
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(path), limit=MAX_HEADER_BYTES
            )
        finally:
            os.umask(old_umask)
        self._socket = path
        self.address = f"unix:{path}"

    async def start_tcp(self, host: str, port: int) -> int:
        """Listen on a TCP port (the caller checked the host is loopback); returns the port."""
        self._server = await asyncio.start_server(
            self._serve, host=host, port=port, limit=MAX_HEADER_BYTES
        )
        bound = int(self._server.sockets[0].getsockname()[1])
        self.address = f"{host}:{bound}"
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._socket is not None:
            # gone with the server: a socket file left behind reads as a daemon to connect to
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(self._socket.lstat().st_mode):
                    self._socket.unlink()
            self._socket = None

    def _authorized(self, request: HttpRequest) -> bool:
        if self._token is None:
            return True
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self._token.encode()
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await _read_request(reader)
            except (_BadRequestError, TimeoutError) as exc:
                status = exc.status if isinstance(exc, _BadRequestError) else 400
                response = error(status, str(exc) or "timeout")
            else:
                response = await self._respond(request)
            writer.write(response.encode())
            await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        if not self._authorized(request):
            return HttpResponse(
                status=401,
                data={"error": {"message": "missing or wrong bearer token"}},
                headers={"WWW-Authenticate": 'Bearer realm="netpilot"'},
            )
        try:
            return await self._handler(request)
        except (ChangeError, ConfigFileError) as exc:
            return error(409, str(exc), **exc.as_dict())
        except NetpilotError as exc:
            return error(500, str(exc), **exc.as_dict())
        except ValueError as exc:
            return error(400, str(exc))
        except Exception:  # an API bug must not kill the daemon; the client gets a 500
            log.exception("API handler failed for %s %s", request.method, request.path)
            return error(500, "internal error (see the daemon's log)")


def _prepare_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()  # a stale socket of an earlier run


def read_token(path: Path) -> str:
    """Read an API token file, refusing one that others can read.

    Raises:
        ConfigFileError: missing, empty, or readable by group/others.
    """
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read the API token: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigFileError(
            str(path), f"the API token is accessible by group/others ({stat.filemode(mode)})"
        )
    if not token:
        raise ConfigFileError(str(path), "the API token file is empty")
    return token


def load_or_create_token(path: Path) -> str:
    """The daemon's API token: read it, or create one (0600) on first start."""
    if path.exists():
        return read_token(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token
