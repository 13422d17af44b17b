"""NETCONF over SSH (ncclient), typed for the ``netpilot-lab`` YANG module.

:func:`open_session` connects to a :class:`~controller.model.Device` and returns a
:class:`NetconfSession`, which implements :class:`adapters.base.ConfigSession`. No ncclient,
paramiko or lxml object leaves this module: methods return core types and raise
:mod:`controller.errors`.

Design points, each forced by a measured fact (see the project's recipes notes):

* **Latency.** ncclient's session thread notices outgoing messages only between
  ``select(timeout=TICK)`` calls, and ``TICK = 0.1`` s (``ncclient/transport/session.py``), so
  every RPC costs about 100 ms on a server that answers in 2 ms. :func:`open_session` sets it
  to :data:`NCCLIENT_TICK` (5 ms). Measured against netconfd on loopback (2 cores, medians):
  get-config 101.6 ms -> 5.7 ms; lock + edit-config + validate + confirmed commit + confirm
  + unlock 612 ms -> 36 ms. The price: every session thread wakes 200 times a second even
  when idle, i.e. 20 idle sessions cost 7.4 % of a core instead of 1.5 %, 100 cost 27.7 %
  instead of 4.3 %. (1 ms would give 1.8 ms per get-config at five times that wake-up rate.)
  The scale work replaces this with a wake-on-send design; until then it is a process-wide
  setting of ncclient, made only here.
* **Blocking calls** (ncclient is synchronous) run in :func:`asyncio.to_thread`, one at a
  time per session. Opening a session is bounded as a whole by the endpoint's timeout.
* **Host keys** are checked against ``device.netconf.known_hosts`` only, never against
  ``~/.ssh/known_hosts``: the known key is pinned (ncclient's ``hostkey_b64``), so a
  different key is refused (:class:`~controller.errors.AuthError`). A host absent from the
  file, or a missing file, is refused too, unless ``trust_on_first_use`` is set: then the
  key the server presents is accepted and appended to the file (created if needed) once the
  session is up. Lookups use OpenSSH's ``[host]:port`` form for ports other than 22.
  Known limitation: a pinned ``ssh-rsa`` key negotiates the SHA-1 ``ssh-rsa`` algorithm,
  which OpenSSH >= 8.8 refuses by default; prefer ed25519/ECDSA host keys.
* **Validation is inline.** ``<validate><source><candidate/>`` followed by ``<commit>``
  silently loses the candidate on netconfd (yuma123 2.13), and ``edit-config
  test-option=test-only`` ignores ``must``: :meth:`NetconfSession.validate` sends the full
  rendered configuration in ``<source><config>``, which both avoids the first bug and
  checks ``must`` statements.
* **Rollback never waits for the device's timer.** netconfd runs its timers (confirmed-commit
  timeout included) only after 1 s without socket activity, so a polled device never
  reverts: the controller cancels explicitly with :meth:`NetconfSession.cancel_commit`.
* **Read back before committing.** ``remove`` on a leaf of a list entry that does not exist
  makes netconfd create the entry with the leaf stored as 0, outside its YANG range, and it
  would commit that. The parser refuses out-of-range data (:class:`ProtocolError`), so a
  transaction that reads the candidate back (``get_candidate``) stops before the commit.
* Secrets (passwords) are resolved at connect time and never logged or put in messages.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import ncclient.transport.session
import paramiko  # ncclient's SSH library
from ncclient import manager, transport
from ncclient.operations.errors import MissingCapabilityError as NcMissingCapabilityError
from ncclient.operations.errors import OperationError, TimeoutExpiredError
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import (
    AuthenticationError,
    SessionError,
    SSHUnknownHostError,
    TransportError,
)
from ncclient.xml_ import to_ele

from adapters.base import Capability, capabilities_from_uris
from adapters.credentials import resolve_secret
from adapters.parsing.netpilot_lab import (
    NAMESPACE,
    parse_config,
    parse_state,
    render_config,
    render_edits,
)
from controller.errors import (
    AdapterError,
    AdapterTimeoutError,
    AuthError,
    ConnectError,
    MissingCapabilityError,
    ProtocolError,
    RpcError,
)
from controller.model import (
    ClassQueue,
    ConfigEdit,
    Device,
    DeviceConfig,
    NetconfEndpoint,
    ProbeResult,
)

__all__ = ["NCCLIENT_TICK", "NetconfSession", "open_session"]

logger = logging.getLogger(__name__)

NCCLIENT_TICK = 0.005
"""Seconds ncclient's session thread waits for outgoing data between checks (default 0.1)."""

_DATASTORES = frozenset({"running", "candidate", "startup"})
# subtree filter selecting the module's configuration (and nothing of nacm & co.); ncclient
# takes several top-level filter elements as a list, so a fresh list is built per call
_CONFIG_FILTER = (f'<interfaces xmlns="{NAMESPACE}"/>', f'<qos xmlns="{NAMESPACE}"/>')
_STATE_FILTER = ("subtree", f'<state xmlns="{NAMESPACE}"/>')
# preference when known_hosts holds several keys for one host: the pinned key's type is the
# only host key algorithm offered, so pick the strongest widely supported one
_HOST_KEY_PREFERENCE = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)

_T = TypeVar("_T")


def _tune_ncclient() -> None:
    """Make ncclient's session threads poll their send queue every 5 ms instead of 100 ms."""
    ncclient.transport.session.TICK = NCCLIENT_TICK


# --------------------------------------------------------------------------- host keys


@dataclass(frozen=True, slots=True)
class _HostKeyPolicy:
    """What to accept from the server: one pinned key, or anything (trust on first use)."""

    lookup_name: str  # "host" or "[host]:port", as in known_hosts
    known_hosts: Path
    pinned: Any | None  # paramiko.PKey; None means trust on first use

    @property
    def pinned_b64(self) -> str | None:
        return None if self.pinned is None else str(self.pinned.get_base64())


def _fingerprint(key: Any) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a paramiko key (public, safe to log)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _host_key_policy(device: str, address: str, endpoint: NetconfEndpoint) -> _HostKeyPolicy:
    """Decide, before connecting, which host key the server must present.

    Raises:
        AuthError: no known_hosts is configured, or the host is not in it (or it does not
            exist) and trust on first use is off, or the file cannot be read.
    """
    if not endpoint.known_hosts:
        raise AuthError(device, "no known_hosts file configured; host keys are always verified")
    path = Path(endpoint.known_hosts)
    lookup_name = address if endpoint.port == 22 else f"[{address}]:{endpoint.port}"
    known: dict[str, Any] = {}
    if path.exists():
        try:
            entries = paramiko.HostKeys(str(path)).lookup(lookup_name)
        except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
            raise AuthError(device, f"cannot read known_hosts {path}: {exc}") from exc
        known = dict(entries or {})
    elif not endpoint.trust_on_first_use:
        raise AuthError(
            device, f"known_hosts {path} does not exist (set trust_on_first_use to create it)"
        )
    if not known:
        if endpoint.trust_on_first_use:
            return _HostKeyPolicy(lookup_name=lookup_name, known_hosts=path, pinned=None)
        raise AuthError(device, f"host {lookup_name} is not in known_hosts {path}")
    ranked = sorted(
        known,
        key=lambda t: _HOST_KEY_PREFERENCE.index(t) if t in _HOST_KEY_PREFERENCE else 99,
    )
    return _HostKeyPolicy(lookup_name=lookup_name, known_hosts=path, pinned=known[ranked[0]])


def _append_known_host(policy: _HostKeyPolicy, key: Any) -> None:
    line = f"{policy.lookup_name} {key.get_name()} {key.get_base64()}\n"
    fd = os.open(policy.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        if out.tell() > 0 and not policy.known_hosts.read_bytes().endswith(b"\n"):
            out.write("\n")
        out.write(line)


# --------------------------------------------------------------------------- connecting


@dataclass(frozen=True, slots=True)
class _Credentials:
    username: str
    password: str | None = None
    key_file: str | None = None

    def __repr__(self) -> str:  # never show the password, even in a debugger or traceback
        return f"_Credentials(username={self.username!r}, key_file={self.key_file!r})"


def _credentials(device: str, endpoint: NetconfEndpoint) -> _Credentials:
    """Resolve the password reference and check the key file, before any connection.

    Raises:
        AuthError: the secret is unavailable, or the key file is missing or readable by
            group/others.
    """
    password = resolve_secret(device, endpoint.password) if endpoint.password else None
    key_file = endpoint.private_key or None
    if key_file is not None:
        try:
            mode = Path(key_file).stat().st_mode
        except OSError as exc:
            raise AuthError(device, f"private key {key_file}: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuthError(device, f"private key {key_file} is accessible by group/others")
    if password is None and key_file is None:
        raise AuthError(device, "no password reference and no private key configured")
    return _Credentials(username=endpoint.username, password=password, key_file=key_file)


@dataclass(slots=True)
class _Connection:
    """The ncclient objects of one session (never leave this module)."""

    manager: Any  # ncclient.manager.Manager
    ssh: Any  # ncclient.transport.SSHSession

    def close(self) -> None:
        """Close the NETCONF session politely, then the SSH transport; never raises."""
        try:
            if self.ssh.connected:
                self.manager.close_session()
        except Exception as exc:  # noqa: BLE001  # a dead session is closed enough
            logger.debug("close-session failed: %s", type(exc).__name__)
        try:
            if self.ssh.transport is not None:
                self.ssh.close()
        except Exception as exc:  # noqa: BLE001
            logger.debug("closing the SSH transport failed: %s", type(exc).__name__)


def _connect_blocking(device: Device, endpoint: NetconfEndpoint) -> _Connection:
    """Credentials, host key policy, TCP, SSH, auth, NETCONF hello. Runs in a worker thread
    (it reads files and blocks on the network).

    Raises:
        ConnectError, AuthError, AdapterTimeoutError: mapped from socket/ncclient errors.
    """
    name = device.name
    creds = _credentials(name, endpoint)
    policy = _host_key_policy(name, device.address, endpoint)
    try:
        sock = socket.create_connection(
            (device.address, endpoint.port), timeout=endpoint.timeout_seconds
        )
    except TimeoutError as exc:
        raise AdapterTimeoutError(name, f"TCP connect to port {endpoint.port} timed out") from exc
    except OSError as exc:
        raise ConnectError(name, f"TCP connect to port {endpoint.port}: {exc.strerror}") from exc

    handler = manager.make_device_handler({"name": "default"})
    ssh = transport.SSHSession(handler)
    presented: list[Any] = []

    def on_unknown_host(_host: str, _fingerprint: str) -> bool:
        # called only when the server's key is not the pinned one (or nothing is pinned)
        presented.append(ssh.transport.get_remote_server_key())
        return policy.pinned is None

    try:
        ssh.connect(
            host=device.address,
            port=endpoint.port,
            sock=sock,
            timeout=endpoint.timeout_seconds,  # bounds the <hello> exchange
            username=creds.username,
            password=creds.password,
            key_filename=creds.key_file,
            allow_agent=False,
            look_for_keys=False,
            hostkey_verify=True,
            hostkey_b64=policy.pinned_b64,
            unknown_host_cb=on_unknown_host,
        )
    except BaseException as exc:
        if ssh.transport is not None:
            ssh.close()
        sock.close()
        mapped = _connect_error(name, exc, policy, presented)
        if mapped is None:
            raise
        raise mapped from exc
    conn = _Connection(
        manager=manager.Manager(ssh, handler, timeout=endpoint.timeout_seconds), ssh=ssh
    )
    if policy.pinned is None:
        key = ssh.transport.get_remote_server_key()
        try:
            _append_known_host(policy, key)
        except OSError as exc:
            conn.close()
            raise AuthError(name, f"cannot record the host key in {policy.known_hosts}") from exc
        logger.warning(
            "%s: trusted new host key %s %s for %s on first use (added to %s)",
            name,
            key.get_name(),
            _fingerprint(key),
            policy.lookup_name,
            policy.known_hosts,
        )
    return conn


def _connect_error(
    device: str, exc: BaseException, policy: _HostKeyPolicy, presented: list[Any]
) -> AdapterError | None:
    """Map a failure of ncclient's connect onto the error tree (no secret in messages).

    Returns None for what is not a connection failure (a bug, KeyboardInterrupt...).
    """
    if isinstance(exc, SSHUnknownHostError):
        seen = f" (server presented {_fingerprint(presented[0])})" if presented else ""
        return AuthError(
            device,
            f"host key of {policy.lookup_name} does not match known_hosts "
            f"{policy.known_hosts}{seen}",
        )
    if isinstance(exc, AuthenticationError):
        return AuthError(device, "SSH authentication failed (password or key refused)")
    if isinstance(exc, SessionError):
        return AdapterTimeoutError(device, f"NETCONF hello exchange failed: {exc}")
    if isinstance(exc, TimeoutError):
        return AdapterTimeoutError(device, "SSH handshake timed out")
    if isinstance(exc, TransportError | paramiko.SSHException | OSError | EOFError):
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        return ConnectError(
            device, f"SSH/NETCONF session setup failed: {type(exc).__name__} {detail}"
        )
    return None


async def open_session(device: Device) -> NetconfSession:
    """Open a NETCONF session to ``device`` over SSH.

    Credentials come from the device's endpoint: a password by reference
    (:func:`adapters.credentials.resolve_secret`) and/or a private key file (tried first).
    The whole opening (TCP, SSH, authentication, ``<hello>``) is bounded by the endpoint's
    ``timeout_seconds``, which also bounds each later RPC.

    Args:
        device: the inventory entry; ``device.netconf`` must be set.

    Returns:
        The open session.

    Raises:
        MissingCapabilityError: the device has no NETCONF endpoint in the inventory.
        AuthError: a secret is unavailable, the host key is unknown or different, or the
            server refused the credentials.
        ConnectError: the port is closed or the SSH/NETCONF setup failed.
        AdapterTimeoutError: no connection, SSH handshake or ``<hello>`` in time.
    """
    endpoint = device.netconf
    if endpoint is None:
        raise MissingCapabilityError(device.name, "netconf (no endpoint in the inventory)")
    _tune_ncclient()
    work = asyncio.ensure_future(asyncio.to_thread(_connect_blocking, device, endpoint))
    try:
        # shielded, so a session that comes up after we gave up is closed, not leaked
        conn = await asyncio.wait_for(asyncio.shield(work), endpoint.timeout_seconds)
    except TimeoutError:
        work.add_done_callback(_close_late)
        raise AdapterTimeoutError(
            device.name, f"no NETCONF session within {endpoint.timeout_seconds:g} s"
        ) from None
    except asyncio.CancelledError:
        work.add_done_callback(_close_late)
        raise
    uris = frozenset(str(uri) for uri in conn.manager.server_capabilities)
    logger.debug(
        "%s: NETCONF session %s open to %s:%d as %s",
        device.name,
        conn.manager.session_id,
        device.address,
        endpoint.port,
        endpoint.username,
    )
    return NetconfSession(device.name, conn, uris, rpc_timeout=endpoint.timeout_seconds)


def _close_late(work: asyncio.Future[_Connection]) -> None:
    if work.cancelled() or work.exception() is not None:
        return
    # closing joins ncclient's thread: not on the event loop
    asyncio.get_running_loop().run_in_executor(None, work.result().close)


# --------------------------------------------------------------------------- the session


def _rpc_error(device: str, exc: RPCError) -> RpcError:
    """The first error-severity ``<rpc-error>`` of a reply, as :class:`RpcError`."""
    errors = list(exc.errlist or [exc])
    first = next((e for e in errors if (e.severity or "error") == "error"), errors[0])
    message = (first.message or "").strip() or "(no error-message)"
    if len(errors) > 1:
        message += f" (+{len(errors) - 1} more rpc-error)"
    return RpcError(
        device,
        (first.tag or "").strip() or "unknown",
        message,
        severity=(first.severity or "error").strip(),
        path=(first.path or "").strip(),
        app_tag=(first.app_tag or "").strip(),
    )


class NetconfSession:
    """An open NETCONF session to one device; see :class:`adapters.base.ConfigSession`.

    Made by :func:`open_session`. Calls are serialised (one RPC in flight per session).
    Usable as an async context manager that closes the session.
    """

    def __init__(
        self, device: str, conn: _Connection, capability_uris: frozenset[str], *, rpc_timeout: float
    ) -> None:
        self._device = device
        self._conn = conn
        self._capability_uris = capability_uris
        self._capabilities = capabilities_from_uris(capability_uris)
        self._rpc_timeout = rpc_timeout
        self._call_lock = asyncio.Lock()
        self._closed = False

    @property
    def device(self) -> str:
        """The inventory name of the device."""
        return self._device

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the device announced in its ``<hello>``."""
        return self._capabilities

    @property
    def session_id(self) -> str:
        """The server's NETCONF session-id (as in ``<kill-session>``, server logs)."""
        return str(self._conn.manager.session_id)

    @property
    def capability_uris(self) -> frozenset[str]:
        """The raw capability URIs of the ``<hello>`` (modules included)."""
        return self._capability_uris

    async def __aenter__(self) -> NetconfSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    def _require(self, *needed: Capability) -> None:
        for cap in needed:
            if cap not in self._capabilities:
                raise MissingCapabilityError(self._device, cap.value)

    async def _call(self, rpc: str, work: Callable[[], _T]) -> _T:
        """Run one blocking ncclient call in a thread and map its errors."""
        if self._closed:
            raise ConnectError(self._device, "the session is closed")
        async with self._call_lock:
            try:
                return await asyncio.to_thread(work)
            except AdapterError:
                raise
            except RPCError as exc:
                raise _rpc_error(self._device, exc) from exc
            except TimeoutExpiredError as exc:
                raise AdapterTimeoutError(
                    self._device, f"no reply to <{rpc}> within {self._rpc_timeout:g} s"
                ) from exc
            except NcMissingCapabilityError as exc:
                raise MissingCapabilityError(self._device, str(exc)) from exc
            except (TransportError, paramiko.SSHException, OSError, EOFError) as exc:
                raise ConnectError(
                    self._device, f"<{rpc}>: connection lost ({type(exc).__name__})"
                ) from exc
            except OperationError as exc:
                raise ProtocolError(self._device, f"<{rpc}>: {exc}") from exc

    @staticmethod
    def _datastore(target: str) -> str:
        if target not in _DATASTORES:
            raise ValueError(f"unknown datastore {target!r}; expected one of {sorted(_DATASTORES)}")
        return target

    # ------------------------------------------------------------------ reads

    async def get_running(self) -> DeviceConfig:
        """``<get-config>`` of running, parsed (see ``ConfigSession.get_running``)."""
        return await self._get_config("running")

    async def get_candidate(self) -> DeviceConfig:
        """``<get-config>`` of candidate, parsed (see ``ConfigSession.get_candidate``)."""
        self._require(Capability.CANDIDATE)
        return await self._get_config("candidate")

    async def _get_config(self, source: str) -> DeviceConfig:
        mgr = self._conn.manager

        def work() -> DeviceConfig:
            reply = mgr.get_config(source=source, filter=list(_CONFIG_FILTER))
            return parse_config(reply.xml, device=self._device)

        return await self._call("get-config", work)

    async def get_state(self) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        """``<get>`` filtered to ``/npl:state``, parsed (see ``ConfigSession.get_state``)."""
        mgr = self._conn.manager

        def work() -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
            return parse_state(mgr.get(filter=_STATE_FILTER).xml, device=self._device)

        return await self._call("get", work)

    # ------------------------------------------------------------------ writes

    async def lock(self, target: str = "candidate") -> None:
        """``<lock>`` (see ``ConfigSession.lock``)."""
        datastore = self._datastore(target)
        if datastore == "candidate":
            self._require(Capability.CANDIDATE)
        mgr = self._conn.manager
        await self._call("lock", lambda: mgr.lock(target=datastore))

    async def unlock(self, target: str = "candidate") -> None:
        """``<unlock>`` (see ``ConfigSession.unlock``)."""
        datastore = self._datastore(target)
        if datastore == "candidate":
            self._require(Capability.CANDIDATE)
        mgr = self._conn.manager
        await self._call("unlock", lambda: mgr.unlock(target=datastore))

    async def edit_candidate(self, edits: tuple[ConfigEdit, ...]) -> None:
        """Merge ``<edit-config>`` on candidate (see ``ConfigSession.edit_candidate``).

        Uses ``rollback-on-error`` when the device offers it, so a refused edit leaves the
        candidate as it was.
        """
        self._require(Capability.CANDIDATE)
        if not edits:
            return
        config = render_edits(edits)
        error_option = (
            "rollback-on-error" if Capability.ROLLBACK_ON_ERROR in self._capabilities else None
        )
        mgr = self._conn.manager
        await self._call(
            "edit-config",
            lambda: mgr.edit_config(
                config=config,
                target="candidate",
                default_operation="merge",
                error_option=error_option,
            ),
        )

    async def validate(self, config: DeviceConfig) -> None:
        """``<validate>`` of the full configuration sent inline (see ``ConfigSession``)."""
        self._require(Capability.VALIDATE)
        document = render_config(config)
        mgr = self._conn.manager
        # a <config> element as source makes ncclient send it inline (never <candidate/>:
        # netconfd then loses the candidate on the next commit)
        await self._call("validate", lambda: mgr.validate(source=to_ele(document)))

    async def commit(self, *, confirm_timeout: timedelta, persist_id: str) -> None:
        """Confirmed ``<commit>`` with ``<persist>`` (see ``ConfigSession.commit``)."""
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        seconds = confirm_timeout.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise ValueError(f"confirm_timeout must be whole seconds >= 1, not {seconds:g} s")
        if not persist_id:
            raise ValueError("persist_id must not be empty")
        mgr = self._conn.manager
        await self._call(
            "commit",
            lambda: mgr.commit(confirmed=True, timeout=str(int(seconds)), persist=persist_id),
        )

    async def confirm(self, persist_id: str) -> None:
        """Confirming ``<commit>`` with ``<persist-id>`` (see ``ConfigSession.confirm``)."""
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        mgr = self._conn.manager
        await self._call("commit", lambda: mgr.commit(persist_id=persist_id))

    async def cancel_commit(self, persist_id: str) -> None:
        """``<cancel-commit>`` with ``<persist-id>`` (see ``ConfigSession.cancel_commit``)."""
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        mgr = self._conn.manager
        await self._call("cancel-commit", lambda: mgr.cancel_commit(persist_id=persist_id))

    async def discard(self) -> None:
        """``<discard-changes>`` (see ``ConfigSession.discard``)."""
        self._require(Capability.CANDIDATE)
        mgr = self._conn.manager
        await self._call("discard-changes", mgr.discard_changes)

    async def close(self) -> None:
        """``<close-session>`` and close the SSH transport; idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        async with self._call_lock:
            await asyncio.to_thread(self._conn.close)
