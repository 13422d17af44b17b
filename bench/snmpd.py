"""Debian's net-snmp ``snmpd`` instances on 127.0.0.1, as real SNMP agents for tests and benches.

Each instance gets its own directory with a config written here and is started as
``snmpd -f -C -c CONFIG -Lf LOG -p PIDFILE`` (foreground, so the PID is the one we started;
``-C`` skips Debian's default config, whose view hides IF-MIB) with an absolute
``SNMP_PERSISTENT_DIR``, since snmpd chdirs to ``/``. The config sets ``[snmp] mibs :`` (no
MIB files to load, no log flood), ``sysName`` to the instance name, and per instance its own
secrets, so a request sent to the wrong agent fails:

* a read-only community with a full view;
* a community restricted to the system group (how Debian ships snmpd);
* a community that sees ifTable but not ifXTable (an agent with Counter32 counters only);
* an SNMPv3 user with authPriv (SHA / AES-128), pass phrases in owner-only files;
* a fixed engine ID (``engineID`` text), so that a receiver can accept its v3 traps.

A lab may run its instances inside a :class:`bench.netns.NetNamespace` (they then see the
namespace's veth interfaces, and are reached on the namespace's 127.0.0.1 through sockets
opened in :meth:`~bench.netns.NetNamespace.entered`), and may append configuration per
instance (trap sinks, DisMan monitors).

Ports come from the OS (bind port 0, read it, close); if snmpd loses the race for the port it
exits and the instance is retried on a fresh port. Readiness is an SNMPv2c GET of sysUpTime.0,
encoded here in a few lines of BER so the fixture needs neither pysnmp nor the net-snmp CLI,
polled until a bounded deadline. Stop sends SIGTERM to the PIDs this module started, SIGKILL
after a bound, and removes the directory.

Tests use it through ``tests.peers.snmpd`` (a session fixture); ``bench/poll.py`` directly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from adapters.snmp import SnmpAuthProtocol, SnmpPrivProtocol, SnmpV3User
from bench.netns import NetNamespace
from controller.model import CredentialRef, Device, SnmpEndpoint

SNMPD = Path("/usr/sbin/snmpd")
HOST = "127.0.0.1"

_START_ATTEMPTS = 5


def missing_requirement() -> str | None:
    """Why snmpd instances cannot run here, or None if they can."""
    if not SNMPD.exists():
        return f"{SNMPD} not installed (apt-get install snmpd)"
    return None


@dataclass(frozen=True, slots=True)
class SnmpdAgent:
    """One running snmpd instance and what a client needs to reach it."""

    name: str  # also its sysName
    host: str
    port: int
    community_file: Path  # full view, owner-only file
    restricted_community_file: Path  # sees only the system group (1.3.6.1.2.1.1)
    iftable_community_file: Path  # sees system and ifTable, not ifXTable
    v3_user_name: str
    auth_key_file: Path
    priv_key_file: Path
    pid: int
    directory: Path

    @property
    def community(self) -> str:
        """The full-view community (for tests that need the raw secret)."""
        return _read(self.community_file)

    @property
    def engine_id(self) -> bytes:
        """snmpEngineID: net-snmp's text format (enterprise 8072, format 4) of ``engineID``."""
        return bytes.fromhex("80001f8804") + _engine_text(self.name).encode()

    def v3_user(self, *, auth_key_file: Path | None = None) -> SnmpV3User:
        """The instance's authPriv user (SHA / AES-128), keys by reference."""
        return SnmpV3User(
            user=self.v3_user_name,
            auth_key=CredentialRef(file=str(auth_key_file or self.auth_key_file)),
            priv_key=CredentialRef(file=str(self.priv_key_file)),
            auth_protocol=SnmpAuthProtocol.SHA,
            priv_protocol=SnmpPrivProtocol.AES128,
        )

    def device(
        self,
        *,
        community_file: Path | None = None,
        restricted: bool = False,
        iftable_only: bool = False,
        port: int | None = None,
        timeout_seconds: float = 2.0,
        retries: int = 1,
    ) -> Device:
        """An inventory entry for this agent; keyword arguments vary one aspect for a test."""
        secret = community_file or (
            self.restricted_community_file
            if restricted
            else self.iftable_community_file
            if iftable_only
            else self.community_file
        )
        return Device(
            name=self.name,
            address=self.host,
            labels={"peer": "snmpd"},
            snmp=SnmpEndpoint(
                port=self.port if port is None else port,
                community=CredentialRef(file=str(secret)),
                timeout_seconds=timeout_seconds,
                retries=retries,
            ),
        )


class SnmpdLab:
    """Starts, restarts and stops a set of snmpd instances it owns.

    Args:
        names: one instance per name (the name is also its sysName).
        root: where to put the instances' directories; a fresh temporary directory if None.
        ready_timeout: how long one instance may take to answer its first GET.
        netns: run the instances inside this namespace (created by the caller).
        extra_config: per instance name, configuration lines appended to its snmpd.conf.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        root: Path | None = None,
        ready_timeout: float = 10.0,
        netns: NetNamespace | None = None,
        extra_config: Callable[[str], str] | None = None,
    ) -> None:
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate instance names in {list(names)}")
        self._names = tuple(names)
        self._netns = netns
        self._extra_config = extra_config
        self._own_root = root is None
        self._root = Path(tempfile.mkdtemp(prefix="netpilot-snmpd-")) if root is None else root
        self._ready_timeout = ready_timeout
        self._agents: dict[str, SnmpdAgent] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> SnmpdLab:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __getitem__(self, name: str) -> SnmpdAgent:
        return self._agents[name]

    @property
    def agents(self) -> tuple[SnmpdAgent, ...]:
        """The running instances, in the order of ``names``."""
        return tuple(self._agents[name] for name in self._names if name in self._agents)

    def alive(self, name: str) -> bool:
        """Whether the instance's process is still running."""
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def log(self, name: str) -> str:
        """The instance's snmpd log (for failure messages)."""
        path = self._root / name / "snmpd.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start every instance and wait until each answers; stop them all on failure."""
        try:
            for name in self._names:
                self._start(name, port=None)
        except BaseException:
            self.stop()
            raise

    def restart(self, name: str) -> SnmpdAgent:
        """Stop one instance and start it again on the same port (its sysUpTime restarts).

        Returns:
            The instance as now running (a new PID).
        """
        port = self._agents[name].port
        self._terminate(name)
        return self._start(name, port=port)

    def stop(self, *, term_grace: float = 5.0) -> None:
        """Stop every instance this lab started and remove its files."""
        for name in list(self._processes):
            self._terminate(name, term_grace=term_grace)
        self._agents.clear()
        if self._own_root:
            shutil.rmtree(self._root, ignore_errors=True)

    def _terminate(self, name: str, *, term_grace: float = 5.0) -> None:
        process = self._processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=term_grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=term_grace)

    def _start(self, name: str, *, port: int | None) -> SnmpdAgent:
        directory = self._root / name
        (directory / "persist").mkdir(parents=True, exist_ok=True)
        secrets_ = _Secrets(
            community=_secret_file(directory / "community", f"np-{name}-{_token()}"),
            restricted=_secret_file(directory / "community-restricted", f"np-sys-{_token()}"),
            iftable=_secret_file(directory / "community-iftable", f"np-if-{_token()}"),
            auth_key=_secret_file(directory / "v3-auth", f"auth-{_token()}"),
            priv_key=_secret_file(directory / "v3-priv", f"priv-{_token()}"),
        )
        user = f"np-{name}"
        attempts = 1 if port is not None else _START_ATTEMPTS
        for _ in range(attempts):
            chosen = port if port is not None else self._free_udp_port()
            config = directory / "snmpd.conf"
            extra = self._extra_config(name) if self._extra_config is not None else ""
            config.write_text(_config(name, chosen, secrets_, user) + extra, encoding="utf-8")
            process = self._spawn(directory, config)
            self._processes[name] = process
            deadline = time.monotonic() + self._ready_timeout
            with self._entered():
                ready = _wait_ready(process, chosen, _read(secrets_.community), deadline)
            if ready:
                agent = SnmpdAgent(
                    name=name,
                    host=HOST,
                    port=chosen,
                    community_file=secrets_.community,
                    restricted_community_file=secrets_.restricted,
                    iftable_community_file=secrets_.iftable,
                    v3_user_name=user,
                    auth_key_file=secrets_.auth_key,
                    priv_key_file=secrets_.priv_key,
                    pid=process.pid,
                    directory=directory,
                )
                self._agents[name] = agent
                return agent
            self._terminate(name)
        raise RuntimeError(f"snmpd {name} did not come up; log:\n{self.log(name)}")

    def _entered(self) -> contextlib.AbstractContextManager[None]:
        return self._netns.entered() if self._netns is not None else contextlib.nullcontext()

    def _free_udp_port(self) -> int:
        with self._entered():
            return _free_udp_port()

    def _spawn(self, directory: Path, config: Path) -> subprocess.Popen[bytes]:
        argv = [
            str(SNMPD),
            "-f",  # foreground: the PID we hold is snmpd's
            "-C",  # ignore /etc/snmp/snmpd.conf (Debian's view hides IF-MIB)
            "-c",
            str(config),
            "-Lf",
            str(directory / "snmpd.log"),
            "-p",
            str(directory / "snmpd.pid"),
        ]
        if self._netns is not None:
            argv = self._netns.exec_argv(argv)  # `ip netns exec` execs: the PID is snmpd's
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory)}
        env["SNMP_PERSISTENT_DIR"] = str(directory / "persist")
        with (directory / "snmpd.stderr").open("ab") as stderr:
            return subprocess.Popen(  # noqa: S603 - snmpd by absolute path, argv built here
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                env=env,
                start_new_session=True,  # a Ctrl-C of pytest is not delivered to snmpd twice
            )


@dataclass(frozen=True, slots=True)
class _Secrets:
    community: Path
    restricted: Path
    iftable: Path
    auth_key: Path
    priv_key: Path


def _engine_text(name: str) -> str:
    return f"np-{name}"


def _config(name: str, port: int, secrets_: _Secrets, user: str) -> str:
    return f"""\
# snmpd for netpilot tests, instance {name} (started with -C -c this file)
agentAddress udp:{HOST}:{port}
engineID {_engine_text(name)}
sysName {name}
sysDescr netpilot test agent {name}
sysLocation netpilot tests
sysContact tests@example.invalid
sysServices 72
# no MIB files to load (Debian ships almost none; -C also skips snmp.conf's "mibs :")
[snmp] mibs :
# one line per request otherwise
dontLogTCPWrappersConnects yes
rocommunity {_read(secrets_.community)} {HOST}
view systemonly included .1.3.6.1.2.1.1
rocommunity {_read(secrets_.restricted)} {HOST} -V systemonly
view noifx included .1.3.6.1.2.1.1
view noifx included .1.3.6.1.2.1.2
rocommunity {_read(secrets_.iftable)} {HOST} -V noifx
createUser {user} SHA "{_read(secrets_.auth_key)}" AES "{_read(secrets_.priv_key)}"
rouser {user} authpriv
"""


def _wait_ready(
    process: subprocess.Popen[bytes], port: int, community: str, deadline: float
) -> bool:
    """Poll with GET sysUpTime.0 until the agent answers, exits or the deadline passes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((HOST, port))
        request_id = secrets.randbelow(2**31 - 1) + 1
        request = encode_get_sysuptime(community, request_id)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False  # e.g. lost the race for the port
            try:
                sock.send(request)
                sock.settimeout(0.1)
                reply = sock.recv(4096)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                # Not bound yet: the ICMP refusal comes back at once, so pace the retries by
                # waiting on the process instead (it exits if it lost the port).
                _wait_exit(process, 0.02)
                continue
            if is_response_to(reply, request_id):
                return True
    return False


def _wait_exit(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


# ----------------------------------------------------------------------------- tiny BER

_SYS_UPTIME_0 = bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])  # 1.3.6.1.2.1.1.3.0


def _tlv(tag: int, value: bytes) -> bytes:
    length = len(value)
    if length < 0x80:
        return bytes([tag, length]) + value
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + value


def _ber_integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True))


def encode_get_sysuptime(community: str, request_id: int) -> bytes:
    """An SNMPv2c GetRequest for sysUpTime.0."""
    var_bind = _tlv(0x30, _tlv(0x06, _SYS_UPTIME_0) + b"\x05\x00")
    pdu = _tlv(
        0xA0,
        _ber_integer(request_id) + _ber_integer(0) + _ber_integer(0) + _tlv(0x30, var_bind),
    )
    return _tlv(0x30, _ber_integer(1) + _tlv(0x04, community.encode()) + pdu)


def is_response_to(reply: bytes, request_id: int) -> bool:
    """Whether ``reply`` is an SNMPv2c Response PDU carrying ``request_id`` and sysUpTime."""
    return (
        reply[:1] == b"\x30"
        and b"\xa2" in reply
        and _ber_integer(request_id) in reply
        and _SYS_UPTIME_0 in reply
    )


# ----------------------------------------------------------------------------- helpers


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _token() -> str:
    return secrets.token_hex(6)


def _secret_file(path: Path, secret: str) -> Path:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
    return path


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()
