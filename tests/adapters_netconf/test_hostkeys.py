"""Connecting: host-key verification, credentials and transport failures, against netconfd."""

from __future__ import annotations

import socket
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.netconf import open_session
from controller.errors import AdapterTimeoutError, AuthError, ConnectError
from controller.model import DeviceConfig

pytestmark = [pytest.mark.integration, pytest.mark.interop]


def stranger_key() -> str:
    """A freshly generated ed25519 public key that no server here holds."""
    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_known_host_key_is_accepted(nc1):
    async with await open_session(nc1.device()) as session:
        assert await session.get_running() is not None


async def test_key_authentication(nc1):
    async with await open_session(nc1.device(use_password=False, use_key=True)) as session:
        assert isinstance(await session.get_running(), DeviceConfig)


async def test_different_host_key_is_refused(nc1, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{nc1.host}]:{nc1.port} {stranger_key()}\n")
    with pytest.raises(AuthError, match="does not match") as refused:
        await open_session(nc1.device(known_hosts=known_hosts))
    assert "SHA256:" in str(refused.value)  # names what the server presented
    # trust on first use never overrides a key on record
    with pytest.raises(AuthError, match="does not match"):
        await open_session(nc1.device(known_hosts=known_hosts, trust_on_first_use=True))
    assert known_hosts.read_text().count("\n") == 1


async def test_host_absent_from_known_hosts_is_refused(nc1, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    # the right key, but recorded for another port: OpenSSH matches [host]:port exactly
    known_hosts.write_text(f"[{nc1.host}]:{closed_port()} {nc1.host_key}\n")
    with pytest.raises(AuthError, match="not in known_hosts"):
        await open_session(nc1.device(known_hosts=known_hosts))


async def test_missing_known_hosts_file_is_refused(nc1, tmp_path):
    with pytest.raises(AuthError, match="does not exist"):
        await open_session(nc1.device(known_hosts=tmp_path / "absent"))


async def test_trust_on_first_use_appends_then_pins(nc1, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    async with await open_session(
        nc1.device(known_hosts=known_hosts, trust_on_first_use=True)
    ) as session:
        assert await session.get_running() is not None
    assert known_hosts.read_text() == nc1.known_hosts_line + "\n"
    # recorded: the next connection verifies against it without trust on first use
    async with await open_session(nc1.device(known_hosts=known_hosts)) as session:
        assert await session.get_running() is not None
    # another host in the same file is appended after the first
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[{nc1.host}]:{closed_port()} {stranger_key()}")  # no final newline
    async with await open_session(nc1.device(known_hosts=other, trust_on_first_use=True)):
        pass
    lines = other.read_text().splitlines()
    assert len(lines) == 2
    assert lines[1] == nc1.known_hosts_line


async def test_wrong_password_is_auth_error_without_the_secret(nc1, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("not-the-password-xyzzy\n")
    password_file.chmod(0o600)
    with pytest.raises(AuthError, match="authentication failed") as refused:
        await open_session(nc1.device(password_file=password_file))
    assert "xyzzy" not in str(refused.value)
    assert "xyzzy" not in repr(refused.value.__cause__)


async def test_password_file_readable_by_others_is_refused(nc1, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text(nc1.password())
    password_file.chmod(0o644)
    with pytest.raises(AuthError, match="chmod 600"):
        await open_session(nc1.device(password_file=password_file))


async def test_closed_port_is_connect_error(nc1, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    with pytest.raises(ConnectError, match="TCP connect"):
        await open_session(
            nc1.device(port=closed_port(), known_hosts=known_hosts, trust_on_first_use=True)
        )
    assert not known_hosts.exists()  # nothing was trusted


async def test_silent_server_is_timeout(nc1, tmp_path):
    # accepts TCP (kernel backlog) but never sends an SSH banner
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        device = nc1.device(
            port=listener.getsockname()[1],
            known_hosts=tmp_path / "known_hosts",
            trust_on_first_use=True,
            timeout_seconds=0.5,
        )
        started = time.monotonic()
        with pytest.raises(AdapterTimeoutError):
            await open_session(device)
        assert time.monotonic() - started < 5.0  # bounded by the 0.5 s timeout, not hung
    # leaving the block closes the listener, which resets the pending connection, so the
    # connect thread that was given up on ends (and would close a late session)
