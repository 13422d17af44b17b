"""Linux network namespaces with veth interfaces, for SNMP benchmarks and interop tests.

A :class:`NetNamespace` is created with ``ip netns add`` under a unique name, gets its
loopback up and as many veth pairs as asked (both ends inside the namespace, so the
host's interfaces are never touched and no address outside loopback is needed), and is
deleted on exit, which removes its interfaces with it once the processes inside are gone.

Processes run inside through ``ip netns exec``; sockets of THIS process are opened inside
by :meth:`NetNamespace.entered`, which moves only the calling thread with ``setns(2)`` and
moves it back: a socket stays in the namespace it was created in, so asyncio can use it from
the host namespace afterwards. Needs root (CAP_SYS_ADMIN) and iproute2.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["NetNamespace", "missing_requirement"]

IP = "/usr/sbin/ip"
_CLONE_NEWNET = 0x40000000
# `ip link` takes one command per call; a batch keeps 50 veth pairs under a second
_BATCH_CHUNK = 64


def missing_requirement() -> str | None:
    """Why network namespaces cannot be made here, or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN)"
    if not Path(IP).exists() and shutil.which("ip") is None:
        return "iproute2's `ip` is not installed (apt-get install iproute2)"
    return None


def _ip() -> str:
    return IP if Path(IP).exists() else (shutil.which("ip") or "ip")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


class NetNamespace:
    """A network namespace this process created and will delete.

    Args:
        prefix: start of the namespace's name (a random suffix makes it unique).
        veth_pairs: veth pairs to create inside, named ``v<i>a``/``v<i>b``, all up.
    """

    def __init__(self, prefix: str = "np", *, veth_pairs: int = 0) -> None:
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        self._veth_pairs = veth_pairs
        self._created = False

    def __enter__(self) -> NetNamespace:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.delete()

    @property
    def veth_names(self) -> tuple[str, ...]:
        """The names of the veth interfaces inside, both ends of each pair."""
        return tuple(f"v{i}{end}" for i in range(self._veth_pairs) for end in "ab")

    def create(self) -> None:
        """Create the namespace, bring lo up, add the veth pairs.

        Raises:
            OSError: not root, or ``ip`` failed (the namespace is deleted again).
        """
        reason = missing_requirement()
        if reason is not None:
            raise OSError(reason)
        self._run(["netns", "add", self.name])
        self._created = True
        try:
            commands = ["link set lo up"]
            for i in range(self._veth_pairs):
                commands.append(f"link add v{i}a type veth peer name v{i}b")
                commands.append(f"link set v{i}a up")
                commands.append(f"link set v{i}b up")
            for start in range(0, len(commands), _BATCH_CHUNK):
                batch = "\n".join(commands[start : start + _BATCH_CHUNK]) + "\n"
                self._run(["-n", self.name, "-batch", "-"], stdin=batch)
        except BaseException:
            self.delete()
            raise

    def delete(self) -> None:
        """Delete the namespace (idempotent); its interfaces go with it."""
        if not self._created:
            return
        self._created = False
        subprocess.run(  # noqa: S603 - fixed argv, our own namespace name
            [_ip(), "netns", "delete", self.name], check=False, capture_output=True
        )

    def set_link(self, interface: str, *, up: bool) -> None:
        """Bring an interface inside the namespace up or down.

        Raises:
            OSError: ``ip`` failed.
        """
        self._run(["-n", self.name, "link", "set", interface, "up" if up else "down"])

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped so that it runs inside the namespace."""
        return [_ip(), "netns", "exec", self.name, *argv]

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the calling thread into the namespace for the ``with`` block.

        Sockets created inside the block live in the namespace for good. Threads started
        inside the block inherit it; do not start any.

        Raises:
            OSError: ``setns`` failed.
        """
        with (
            open("/proc/thread-self/ns/net", "rb") as home,
            open(f"/run/netns/{self.name}", "rb") as target,
        ):
            _setns(target.fileno())
            try:
                yield
            finally:
                _setns(home.fileno())

    def _run(self, args: list[str], *, stdin: str | None = None) -> None:
        result = subprocess.run(  # noqa: S603 - fixed argv built here
            [_ip(), *args], input=stdin, text=True, capture_output=True, check=False
        )
        if result.returncode != 0:
            raise OSError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
