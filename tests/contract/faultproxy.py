"""A TCP forwarder on loopback that can freeze or cut the connections it carries.

Put in front of a real server (the lab's NETCONF server, sshd + netconfd), it turns a healthy
device into a hung one (:meth:`FaultProxy.stalled`: bytes are held, nothing is lost, as
with a device whose CPU is stuck or a path that black-holes packets) or a dropped one
(:meth:`FaultProxy.drop`: every connection is reset at once, as when a device reboots), with
no change to the server and no mock of any client library.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

_READ = 65536


class FaultProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_host:target_port``.

    Args:
        target_host: the real server's address.
        target_port: the real server's port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)  # new connections go here (settable)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.accepted = 0

    async def start(self) -> int:
        """Listen on an OS-chosen port; return it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._writers) // 2

    @contextlib.asynccontextmanager
    async def stalled(self) -> AsyncIterator[None]:
        """Hold every byte in both directions for the block (connections stay open)."""
        self._flowing.clear()
        try:
            yield
        finally:
            self._flowing.set()

    async def drop(self) -> None:
        """Reset every connection now (new connections are still accepted)."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)  # let the aborts reach the sockets

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._flowing.set()
        await self.drop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pump(source, sink, (writer, up_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(_READ):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for writer in pair:
                self._writers.discard(writer)
                writer.transport.abort()
