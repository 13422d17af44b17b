"""A client for the daemon's local API (the CLI and the console's remote mode use it)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from controller.errors import ConnectError

__all__ = ["ApiClient"]


class ApiClient:
    """Talks to ``netpilot run``'s API.

    Args:
        address: ``unix:/path/to/netpilot.sock`` or ``HOST:PORT``.
        token: the bearer token (the daemon's ``api-token`` file).
        timeout: seconds for one request.
    """

    def __init__(self, address: str, token: str, *, timeout: float = 30.0) -> None:
        self.address = address
        self.token = token
        self.timeout = timeout

    async def request(
        self, method: str, path: str, body: dict[str, object] | None = None
    ) -> tuple[int, dict[str, object]]:
        """One request; returns the HTTP status and the JSON body.

        Raises:
            ConnectError: the daemon is not reachable at the address.
        """
        try:
            return await asyncio.wait_for(self._request(method, path, body), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ConnectError(self.address, f"API not reachable: {exc}") from exc

    async def _request(
        self, method: str, path: str, body: dict[str, object] | None
    ) -> tuple[int, dict[str, object]]:
        if self.address.startswith("unix:"):
            reader, writer = await asyncio.open_unix_connection(str(Path(self.address[5:])))
            host = "localhost"
        else:
            host, _, port = self.address.rpartition(":")
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        header, _, content = raw.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        data = json.loads(content) if content else {}
        return status, data if isinstance(data, dict) else {"data": data}
