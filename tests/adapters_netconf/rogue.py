"""A misbehaving NETCONF device: a real SSH server that answers badly on purpose.

The faults a real network throws at the adapter (malformed XML, a document type
declaration, broken framing, a dropped connection in the middle of an RPC, silence, a bad
``<hello>``, a request lost by the server) cannot be provoked on netconfd or the lab's
server on demand. This server speaks just enough NETCONF over asyncssh for the adapter to
open a session, then answers each request as the test's ``answer`` function says.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from adapters.parsing.framing import FramingError, MessageDecoder, encode_message
from controller.model import CredentialRef, Device, NetconfEndpoint

USER, PASSWORD = "rogue", "rogue-pass"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
GOOD_HELLO = (
    f'<hello xmlns="{BASE}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability>"
    "<capability>urn:ietf:params:netconf:base:1.1</capability>"
    "<capability>urn:ietf:params:netconf:capability:candidate:1.0</capability>"
    "</capabilities><session-id>7</session-id></hello>"
)
_MESSAGE_ID = re.compile(r'message-id="([^"]*)"')


class Drop:
    """Close the connection instead of answering."""


class Silent:
    """Never answer this request."""


@dataclass(frozen=True)
class Raw:
    """Write these bytes as they are (no framing added)."""

    data: bytes


Answer = str | Drop | Silent | Raw  # str: an XML reply, framed by the server
Respond = Callable[[int, str, str], Answer]  # (index, message-id, request) -> answer


def ok(message_id: str) -> str:
    return f'<rpc-reply xmlns="{BASE}" message-id="{message_id}"><ok/></rpc-reply>'


def data(message_id: str, body: str = "") -> str:
    return f'<rpc-reply xmlns="{BASE}" message-id="{message_id}"><data>{body}</data></rpc-reply>'


def polite(index: int, message_id: str, request: str) -> Answer:
    """The default: data for reads, ok for the rest."""
    return data(message_id) if "get" in request[:200] else ok(message_id)


def is_probe(request: str) -> bool:
    """The adapter's synchronisation probe (sent once per new session)."""
    return "urn:netpilot:probe" in request


@dataclass
class RogueDevice:
    """The server; ``respond`` decides each answer (index counts the requests after the hello)."""

    respond: Respond = polite
    hello: str | Raw = GOOD_HELLO
    requests: list[str] = field(default_factory=list)
    _server: asyncssh.SSHAcceptor | None = None
    port: int = 0

    async def start(self, tmp: Path) -> Device:
        """Listen on 127.0.0.1 (OS port); return an inventory entry that trusts this server."""
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._server = await asyncssh.create_server(
            _Auth,
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            process_factory=self._serve,
            encoding=None,
        )
        self.port = self._server.get_port()
        public = host_key.export_public_key("openssh").decode().split()
        known_hosts = tmp / "rogue_known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n")
        password = tmp / "rogue_password"
        password.write_text(PASSWORD)
        password.chmod(0o600)
        return Device(
            name="rogue",
            address="127.0.0.1",
            netconf=NetconfEndpoint(
                port=self.port,
                username=USER,
                password=CredentialRef(file=str(password)),
                known_hosts=str(known_hosts),
                timeout_seconds=1.0,
            ),
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        if process.subsystem != "netconf":
            process.exit(1)
            return
        hello = self.hello
        process.stdout.write(
            hello.data if isinstance(hello, Raw) else encode_message(hello.encode(), chunked=False)
        )
        decoder = MessageDecoder()
        index = -1  # -1: the client's hello
        try:
            while chunk := await process.stdin.read(65536):
                decoder.feed(chunk)
                while (message := decoder.next_message()) is not None:
                    request = message.decode()
                    if index < 0:
                        decoder.chunked = True
                        index = 0
                        continue
                    self.requests.append(request)
                    found = _MESSAGE_ID.search(request)
                    answer = self.respond(index, found.group(1) if found else "", request)
                    index += 1
                    if isinstance(answer, Drop):
                        process.close()
                        return
                    if isinstance(answer, Silent):
                        continue
                    if isinstance(answer, Raw):
                        process.stdout.write(answer.data)
                    else:
                        process.stdout.write(encode_message(answer.encode(), chunked=True))
        except (FramingError, asyncssh.Error, ConnectionError):
            pass
        finally:
            process.exit(0)


class _Auth(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


async def settle() -> None:
    """Let in-flight callbacks on the loop run (a bounded number of turns, no timing)."""
    for _ in range(5):
        await asyncio.sleep(0)
