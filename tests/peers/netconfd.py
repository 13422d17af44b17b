"""Debian's netconfd (yuma123) behind one private sshd, as real NETCONF devices for tests.

netconfd never speaks SSH: it listens on a UNIX socket, and a private ``sshd`` fronts it with
``Subsystem netconf /usr/sbin/netconf-subsystem --ncxserver-sockname=PORT@SOCKET`` (one
``PORT@SOCKET`` per device, so one sshd serves every device, each on its own port). Each
netconfd instance gets its own socket, data directory, startup file and transaction-id file
and loads ``lab/yang/netpilot-lab.yang``, so every payload the adapter sends is validated by a
server nobody on the project wrote.

What the lab creates and where:

* a temporary directory (removed on stop) with generated ed25519 host and client keys, a
  ``known_hosts`` for the controller, the password in an owner-only file, the sshd config and
  logs, and one data directory per device;
* a system login user :data:`LAB_USER` with ``/bin/sh`` as shell (a heavy login shell adds
  100-300 ms to each connect), created with ``useradd`` if missing. Its password is random,
  generated once per machine and kept root-only in the user's home, so that two labs alive in
  one test session (two conftests) never invalidate each other's password;
* with ``observer=True`` a second login user :data:`OBSERVER_USER` that is NOT netconfd's
  superuser, so NACM (write-default deny) applies to it.

Ports come from the OS (bind port 0, read it, close). Readiness is a NETCONF ``<hello>``
received over SSH with the host key checked, polled with a bounded deadline. Stop sends
SIGTERM to the PIDs the lab started (netconfd takes 2-3 s to notice it, in its 1 s idle tick),
SIGKILL after a bound, and removes the directory.

Use from a test directory's ``conftest.py``::

    from tests.peers.netconfd import netconfd_lab_fixture

    netconfd_lab = netconfd_lab_fixture(("nc1", "nc2"))
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko  # no stubs; tests only
import pytest

import lab.yang
from controller.model import CredentialRef, Device, NetconfEndpoint
from tests.conftest import peer_missing

NETCONFD = Path("/usr/sbin/netconfd")
SSHD = Path("/usr/sbin/sshd")
NETCONF_SUBSYSTEM = Path("/usr/sbin/netconf-subsystem")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
USERADD = Path("/usr/sbin/useradd")
CHPASSWD = Path("/usr/sbin/chpasswd")
YUMA_MODULES = Path("/usr/share/yuma/modules")

LAB_USER = "netpilot-nc"
OBSERVER_USER = "netpilot-nc-obs"
LAB_HOME = Path("/var/lib/netpilot-nc")
YANG_DIR = Path(lab.yang.__file__).parent
YANG_MODULE = "netpilot-lab"
HOST = "127.0.0.1"

_REQUIRED = (NETCONFD, SSHD, NETCONF_SUBSYSTEM, SSH_KEYGEN, USERADD, CHPASSWD)


def missing_requirement() -> str | None:
    """Why the netconfd lab cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "the netconfd lab needs root (sshd switches to the lab user)"
    for binary in _REQUIRED:
        if not os.access(binary, os.X_OK):
            return f"{binary} is missing (apt-get install netconfd openssh-server)"
    if not (YANG_DIR / f"{YANG_MODULE}.yang").is_file():
        return f"{YANG_DIR / YANG_MODULE}.yang is missing"
    return None


@dataclass(frozen=True, slots=True)
class NetconfdDevice:
    """One running netconfd instance and everything a client needs to reach it."""

    name: str
    host: str
    port: int
    username: str
    password_file: Path
    client_key: Path
    known_hosts: Path
    host_key: str  # "ssh-ed25519 AAAA..." (the sshd's public host key)
    data_dir: Path
    pid: int
    argv: tuple[str, ...]

    @property
    def known_hosts_line(self) -> str:
        """This device's ``known_hosts`` line (``[host]:port`` because the port is not 22)."""
        return f"[{self.host}]:{self.port} {self.host_key}"

    def password(self) -> str:
        """The login password (for tests that need the raw secret, e.g. raw ncclient)."""
        return self.password_file.read_text(encoding="utf-8").strip()

    def device(
        self,
        *,
        username: str | None = None,
        use_password: bool = True,
        use_key: bool = False,
        password_file: Path | None = None,
        known_hosts: Path | None = None,
        trust_on_first_use: bool = False,
        port: int | None = None,
        timeout_seconds: float = 5.0,
    ) -> Device:
        """An inventory entry for this device; keyword arguments vary one aspect for a test."""
        password = CredentialRef(file=str(password_file or self.password_file))
        return Device(
            name=self.name,
            address=self.host,
            labels={"peer": "netconfd"},
            netconf=NetconfEndpoint(
                port=self.port if port is None else port,
                username=username or self.username,
                password=password if use_password else None,
                private_key=str(self.client_key) if use_key else "",
                known_hosts=str(self.known_hosts if known_hosts is None else known_hosts),
                trust_on_first_use=trust_on_first_use,
                timeout_seconds=timeout_seconds,
            ),
        )


@dataclass(frozen=True, slots=True)
class _Started:
    """A process the lab started. Holding the Popen (never reaped until we wait) means
    its PID cannot have been reused by another process when we signal it."""

    name: str
    process: subprocess.Popen[bytes]


class NetconfdLab:
    """N netconfd devices behind one private sshd on 127.0.0.1.

    Args:
        names: one device per name.
        target: netconfd's ``--target`` (``candidate`` gives :candidate and
            :confirmed-commit; ``running`` gives :writable-running instead).
        targets: per-device overrides of ``target`` (one netconfd offers one target).
        observer: also create the non-superuser login :data:`OBSERVER_USER`.
        extra_args: more netconfd arguments for every device.
        ready_timeout: bound on start-up, for all devices together (seconds).
    """

    def __init__(
        self,
        names: Sequence[str] = ("nc1",),
        *,
        target: str = "candidate",
        targets: Mapping[str, str] | None = None,
        observer: bool = False,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 20.0,
    ) -> None:
        if not names or len(set(names)) != len(names):
            raise ValueError("device names must be unique and non-empty")
        self._names = tuple(names)
        self._targets = {name: (targets or {}).get(name, target) for name in names}
        self._observer = observer
        self._extra_args = tuple(extra_args)
        self._ready_timeout = ready_timeout
        self._root: Path | None = None
        self._started: list[_Started] = []
        self._netconfd: dict[str, subprocess.Popen[bytes]] = {}
        self.devices: tuple[NetconfdDevice, ...] = ()

    # ------------------------------------------------------------------ public

    def __enter__(self) -> NetconfdLab:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __getitem__(self, name: str) -> NetconfdDevice:
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise KeyError(name)

    @property
    def root(self) -> Path:
        """The lab's temporary directory."""
        if self._root is None:
            raise RuntimeError("lab not started")
        return self._root

    def alive(self, name: str) -> bool:
        """Whether the device's netconfd process is still running."""
        return self._netconfd[name].poll() is None

    @contextlib.contextmanager
    def stalled(self, name: str) -> Iterator[None]:
        """Freeze the device's netconfd (SIGSTOP) for the block: it accepts nothing and
        answers nothing, like a hung device; SIGCONT afterwards, whatever happens."""
        process = self._netconfd[name]
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            process.send_signal(signal.SIGCONT)

    def log(self, name: str) -> str:
        """The device's netconfd log (for failure messages)."""
        path = self[name].data_dir / "netconfd.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Create users, keys and configs, start every daemon, wait for each hello.

        Raises:
            RuntimeError: a daemon exited or a device sent no hello before the deadline
                (everything started so far is stopped first).
        """
        deadline = time.monotonic() + self._ready_timeout
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, term_grace: float = 5.0) -> None:
        """Stop every process this lab started (by PID) and remove its directory."""
        for started in self._started:
            if started.process.poll() is None:
                started.process.send_signal(signal.SIGTERM)
        # netconfd checks for SIGTERM in its 1 s idle tick, so give all of them one
        # shared grace period rather than one each
        deadline = time.monotonic() + term_grace
        for started in self._started:
            try:
                started.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                started.process.kill()
                started.process.wait(timeout=5)
        self._started.clear()
        self._netconfd.clear()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self.devices = ()

    # ------------------------------------------------------------------ start-up steps

    def _start(self, deadline: float) -> None:
        password = _ensure_users(observer=self._observer)
        root = Path(tempfile.mkdtemp(prefix="netpilot-netconfd-"))
        self._root = root
        # the lab users must traverse to the sockets and authorized_keys, not list them
        root.chmod(0o711)
        keys = root / "keys"
        keys.mkdir(mode=0o700)
        auth = root / "auth"
        auth.mkdir(mode=0o755)
        host_key = _keygen(keys / "ssh_host_ed25519_key")
        client_pub = _keygen(keys / "client_ed25519")
        # sshd reads authorized_keys as the login user: a root-only file is refused
        (auth / "authorized_keys").write_text(client_pub + "\n", encoding="utf-8")
        (auth / "authorized_keys").chmod(0o644)
        password_file = keys / "password"
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)

        ports = _free_ports(len(self._names))
        devices: list[NetconfdDevice] = []
        for name, port in zip(self._names, ports, strict=True):
            devices.append(self._start_netconfd(name, port, keys, host_key, password_file))
        known_hosts = keys / "known_hosts"
        known_hosts.write_text(
            "".join(dev.known_hosts_line + "\n" for dev in devices), encoding="utf-8"
        )
        self.devices = tuple(devices)
        self._start_sshd(keys, auth)
        for dev in self.devices:
            self._wait_ready(dev, deadline)

    def _start_netconfd(
        self, name: str, port: int, keys: Path, host_key: str, password_file: Path
    ) -> NetconfdDevice:
        data = self.root / name
        data.mkdir(mode=0o755)
        (data / "startup-cfg.xml").write_text(
            '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>\n', encoding="utf-8"
        )
        # netconfd looks for its txid file in the cwd, else in ~/.yuma (shared by every
        # instance of the same HOME): run each one in its own directory with its own HOME
        (data / "startup-cfg-txid.txt").write_text("0\n", encoding="utf-8")
        argv = (
            str(NETCONFD),
            f"--ncxserver-sockname={data / 'ncxserver.sock'}",
            f"--port={port}",
            f"--modpath={YANG_DIR}:{YUMA_MODULES}",
            f"--module={YANG_MODULE}",
            f"--startup={data / 'startup-cfg.xml'}",
            f"--superuser={LAB_USER}",
            f"--target={self._targets[name]}",
            f"--log={data / 'netconfd.log'}",
            "--log-level=info",
            *self._extra_args,
        )
        with (data / "stdout.log").open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=data,
                env={"HOME": str(data), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started.append(_Started(name=f"netconfd {name}", process=process))
        self._netconfd[name] = process
        return NetconfdDevice(
            name=name,
            host=HOST,
            port=port,
            username=LAB_USER,
            password_file=password_file,
            client_key=keys / "client_ed25519",
            known_hosts=keys / "known_hosts",
            host_key=host_key,
            data_dir=data,
            pid=process.pid,
            argv=argv,
        )

    def _start_sshd(self, keys: Path, auth: Path) -> None:
        users = f"{LAB_USER} {OBSERVER_USER}" if self._observer else LAB_USER
        socknames = " ".join(
            f"--ncxserver-sockname={dev.port}@{dev.data_dir / 'ncxserver.sock'}"
            for dev in self.devices
        )
        lines = [
            *(f"Port {dev.port}" for dev in self.devices),
            f"ListenAddress {HOST}",
            f"HostKey {keys / 'ssh_host_ed25519_key'}",
            "PidFile none",
            f"AuthorizedKeysFile {auth / 'authorized_keys'}",
            "StrictModes no",
            "PermitRootLogin no",
            f"AllowUsers {users}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "MaxStartups 100:30:200",
            "LogLevel VERBOSE",
            f"Subsystem netconf {NETCONF_SUBSYSTEM} {socknames}",
        ]
        config = self.root / "sshd_config"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation dir
        subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True, capture_output=True)
        with (self.root / "sshd.stdout").open("wb") as out:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-f", str(config), "-E", str(self.root / "sshd.log")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started.append(_Started(name="sshd", process=process))

    def _wait_ready(self, dev: NetconfdDevice, deadline: float) -> None:
        socket_path = dev.data_dir / "ncxserver.sock"
        last_error = "no attempt"
        while time.monotonic() < deadline:
            for started in self._started:
                if started.process.poll() is not None:
                    raise RuntimeError(
                        f"{started.name} exited with {started.process.returncode}; "
                        f"netconfd log:\n{self.log(dev.name)[-2000:]}"
                    )
            if socket_path.exists():
                try:
                    hello = fetch_hello(dev, timeout=max(0.5, deadline - time.monotonic()))
                except (OSError, paramiko.SSHException, EOFError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    if "urn:ietf:params:netconf:base:1.1" in hello:
                        return
                    last_error = f"unexpected hello: {hello[:200]!r}"
            # bounded poll: neither netconfd nor sshd can tell us when they are ready
            time.sleep(0.05)
        raise RuntimeError(f"device {dev.name} sent no NETCONF hello in time ({last_error})")


def fetch_hello(dev: NetconfdDevice, *, timeout: float = 5.0) -> str:
    """Open the netconf subsystem with the client key and return the server's ``<hello>``.

    The host key is checked against the lab's, so a stranger on the port never passes.

    Raises:
        OSError: connect failed or timed out.
        paramiko.SSHException: SSH failed (including a host key that is not the lab's).
        EOFError: the channel closed before a complete hello.
    """
    deadline = time.monotonic() + timeout
    with socket.create_connection((dev.host, dev.port), timeout=timeout) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout)
            server_key = transport.get_remote_server_key()
            if f"{server_key.get_name()} {server_key.get_base64()}" != dev.host_key:
                raise paramiko.SSHException("host key is not the lab's")
            transport.auth_publickey(dev.username, paramiko.PKey.from_path(dev.client_key))
            channel = transport.open_session(timeout=timeout)
            channel.settimeout(timeout)
            channel.invoke_subsystem("netconf")
            buffer = b""
            # read the whole hello before closing: an early EOF makes netconf-subsystem
            # exit before it relays the server's hello
            while b"</hello>" not in buffer and b"]]>]]>" not in buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError("hello not complete in time")
                chunk = channel.recv(65536)
                if not chunk:
                    raise EOFError("channel closed before the hello")
                buffer += chunk
            channel.close()
            return buffer.decode("utf-8", errors="replace")
        finally:
            transport.close()


# ---------------------------------------------------------------------- helpers


def _free_ports(count: int) -> list[int]:
    """Ports the OS hands out now (bound together so they differ), closed again for sshd."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _keygen(path: Path) -> str:
    """Generate an ed25519 key pair at ``path``; return the public key ``type base64``."""
    subprocess.run(
        [str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", "netpilot-lab", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    key_type, key_b64, *_ = path.with_suffix(".pub").read_text(encoding="utf-8").split()
    return f"{key_type} {key_b64}"


def _ensure_users(*, observer: bool) -> str:
    """Create the login user(s) if missing and return the lab password.

    The password is generated once per machine and kept root-only in the lab user's home;
    every lab re-applies it (idempotent), under a file lock so concurrent labs agree.
    """
    LAB_HOME.mkdir(mode=0o755, exist_ok=True)
    with (LAB_HOME / ".lab.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        users = (LAB_USER, OBSERVER_USER) if observer else (LAB_USER,)
        for user in users:
            if _user_exists(user):
                continue
            subprocess.run(
                [
                    str(USERADD),
                    "--system",
                    "--no-create-home",
                    "--home-dir",
                    str(LAB_HOME),
                    "--shell",
                    "/bin/sh",
                    user,
                ],
                check=True,
                capture_output=True,
            )
        secret_file = LAB_HOME / ".lab-password"
        if not secret_file.exists():
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(18) + "\n")
        password = secret_file.read_text(encoding="utf-8").strip()
        subprocess.run(
            [str(CHPASSWD)],
            input="".join(f"{user}:{password}\n" for user in users).encode(),
            check=True,
            capture_output=True,
        )
        return password


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def netconfd_lab_fixture(
    names: Sequence[str] = ("nc1",), *, name: str = "netconfd_lab", **options: Any
) -> Callable[..., Iterator[NetconfdLab]]:
    """Make a session-scoped fixture that yields a started :class:`NetconfdLab`.

    Args:
        names: the devices.
        name: the fixture's name.
        **options: passed to :class:`NetconfdLab` (``target``, ``observer``, ...).

    Returns:
        A pytest fixture; assign it to a module-level name in a ``conftest.py``. Without
        root or the Debian binaries it calls :func:`tests.conftest.peer_missing`.
    """

    @pytest.fixture(scope="session", name=name)
    def _netconfd_lab() -> Iterator[NetconfdLab]:
        reason = missing_requirement()
        if reason is not None:
            peer_missing(reason)
        with NetconfdLab(names, **options) as started:
            yield started

    return _netconfd_lab
