"""NETCONF over SSH: ncclient's operations on an asyncio SSH transport, pooled per device.

Public surface (no ncclient, asyncssh or lxml object leaves this module; errors are
:mod:`controller.errors`):

* :class:`NetconfClient`: the per-process session pool. One SSH connection per device,
  opened on first use, kept alive (SSH keepalives), reconnected after a drop, with
  exponential backoff after failed connects. NETCONF sessions are SSH channels on that
  connection, leased by :meth:`NetconfClient.open_session` and given back by ``close()``.
  It also owns the emulated confirmed commits of :writable-running devices.
* :class:`NetconfSession`: one NETCONF session; implements
  :class:`adapters.base.ConfigSession` plus generic operations (get / get-config with
  subtree or XPath filters, edit-config with any operation, plain commit, notifications).
* :class:`EmulatedConfirmedSession`: the ``ConfigSession`` of a device with only
  :writable-running; see "Emulated confirmed commit" below.
* :func:`open_session`: one stand-alone session with its own SSH connection (no pool).

Design points, each forced by a measured fact (docs/benchmarks/netconf.md):

* **No polling thread.** ncclient's own transport runs a thread per session that polls its
  send queue every ``TICK`` (0.1 s: ~100 ms per RPC), and paramiko adds a second thread per
  connection waking every 0.1 s. Lowering TICK to 5 ms made the sequence lock + edit +
  validate + confirmed commit + confirm + unlock 36 ms, at 200 wake-ups per second per idle
  session (100 idle sessions: 28 % of a core). Here ncclient builds the generic requests
  (any filter, any ``<config>`` text, notifications; its operation classes in
  ``async_mode``), but the bytes travel over asyncssh channels driven by the event loop:
  an idle session costs no thread and no wake-up (1,000 idle sessions: 0.001 % of a core,
  40 KiB each), and an RPC costs one write and one callback. The same sequence's p50 is
  5-8 ms against netconfd. The object ncclient's operations talk to is
  :class:`_NetconfChannel`, which implements the part of ncclient's ``Session`` they use
  (``send``, listener registry, ``server_capabilities``, ``id``).
* **The change transaction's requests are rendered here** (lock, discard, get-config of
  the module, inline validate, edit-config of rendered edits, commits, unlock:
  :meth:`NetconfSession._call`), and every reply is parsed once: ncclient's per-request
  objects (a uuid, a threading.Event, a listener registration, an lxml round trip) and its
  parses of each reply (a full iterparse to route it, then a second parse) were the
  largest item of the controller's CPU per device-transaction on the 50-device bench
  (docs/transactions.md).
* **Host keys** are checked against ``device.netconf.known_hosts`` only (OpenSSH's
  ``[host]:port`` lookup, hashed entries included), never ``~/.ssh``: the known key is
  pinned, so a different key is refused (:class:`~controller.errors.AuthError`). A host
  absent from the file, or a missing file, is refused too, unless ``trust_on_first_use``
  is set: then the presented key is accepted and appended to the file once the session is
  up. No ssh-agent, no ``~/.ssh/config``, no default keys: only what the inventory names.
* **Validation is inline.** ``<validate><source><candidate/>`` followed by ``<commit>``
  silently loses the candidate on netconfd (yuma123 2.13), and ``edit-config
  test-option=test-only`` ignores ``must``: :meth:`NetconfSession.validate` sends the full
  rendered configuration in ``<source><config>``.
* **Rollback never waits for the device's timer.** netconfd runs its timers only after 1 s
  without socket activity, so a polled device never reverts: the controller cancels
  explicitly with :meth:`NetconfSession.cancel_commit`.
* **Read back before committing.** ``remove`` of a leaf under an absent list entry makes
  netconfd store the leaf as 0, outside its range; the parser refuses such data
  (:class:`~controller.errors.ProtocolError`), so a transaction that reads the candidate
  back stops before the commit.
* **Probe after the hello.** netconfd leaves a request that arrives in the same read as
  the client's ``<hello>`` unparsed until more bytes come (bug 7), so each new session
  sends a probe, and again with a growing wait, until one is answered.
* **Untrusted replies.** A message with a document type declaration is refused (RFC 6241
  §3 forbids them; lxml would otherwise expand entities), as is broken framing (the session
  is closed) and malformed XML (the RPC fails with ProtocolError; the session survives).
* Secrets are resolved at connect time and never logged or put in messages.

Emulated confirmed commit (devices with :writable-running and no :candidate /
:confirmed-commit, e.g. netconfd ``--target=running``), through :class:`NetconfClient`:

* the session reports :candidate and :confirmed-commit as *emulated*
  (:attr:`EmulatedConfirmedSession.emulated_capabilities`), so the controller's
  transaction runs unchanged;
* edits are staged in the session (the "candidate" is running plus the staged edits;
  removals of leaves under absent list entries are dropped, netconfd bug 6);
  ``lock("candidate")`` locks running;
* ``commit(confirm_timeout, persist_id)`` saves the module's running configuration
  verbatim, then applies the staged edits to running with rollback-on-error, and arms an
  asyncio timer; ``confirm`` disarms it; ``cancel_commit`` or the timer puts the saved
  configuration back (``nc:operation="replace"`` of each top-level container). The pending
  commit belongs to the device, not the session: any session of the same client confirms
  or cancels it by persist-id, as on a native device;
* limits: the device does not know about the pending commit. If the controller process
  dies, nothing reverts unless the pending commit (:class:`~adapters.base.PendingEmulatedCommit`,
  from :meth:`NetconfClient.pending_emulated_commit`) was journaled and is handed back
  with :meth:`NetconfClient.adopt_emulated_commit` on restart. Another manager's change to
  the same containers between commit and restore is overwritten by the restore.
  :meth:`NetconfClient.close` restores pending emulated commits, since their timers could no
  longer fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import stat
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

import asyncssh
import paramiko  # only its known_hosts parser (OpenSSH format, hashed hosts included)
from ncclient import manager as nc_manager
from ncclient.operations import edit as nc_edit
from ncclient.operations import retrieve as nc_retrieve
from ncclient.operations import subscribe as nc_subscribe
from ncclient.operations.errors import MissingCapabilityError as NcMissingCapabilityError
from ncclient.operations.errors import OperationError
from ncclient.operations.rpc import RaiseMode, RPCError
from ncclient.transport.errors import TransportError
from ncclient.transport.session import HelloHandler, SessionListener
from ncclient.xml_ import XMLError, parse_root, to_ele

from adapters.base import (
    Capability,
    CommitMode,
    CommitRecorder,
    ConfigSession,
    Datastore,
    ErrorOption,
    Filter,
    NodeEdit,
    Notification,
    PendingEmulatedCommit,
    SubtreeFilter,
    XPathFilter,
    capabilities_from_uris,
    commit_mode,
)
from adapters.credentials import resolve_secret
from adapters.parsing.framing import FramingError, MessageDecoder, encode_message
from adapters.parsing.netpilot_lab import (
    NAMESPACE,
    NETCONF_NAMESPACE,
    module_config,
    parse_config,
    parse_state,
    render_config,
    render_edits,
    render_node_edits,
    render_restore,
)
from adapters.parsing.notification import NOTIFICATION_NAMESPACE, parse_notification
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
    EditOp,
    NetconfEndpoint,
    ProbeResult,
)

__all__ = [
    "CONFIG_FILTER",
    "SENSE_FILTER",
    "STATE_FILTER",
    "DeviceLinkStatus",
    "EmulatedConfirmedSession",
    "NetconfClient",
    "NetconfPoolSettings",
    "NetconfSession",
    "NotificationStream",
    "backoff_delay",
    "open_session",
]

logger = logging.getLogger(__name__)

BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
_DATASTORES = frozenset(d.value for d in Datastore)
# SSH ciphers in the order netpilot offers them (the server picks the first it also has)
_ENCRYPTION_PREFERENCE = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)
_DEFAULT_OPERATIONS = frozenset({"merge", "replace", "none"})
# the module's configuration (and nothing of nacm & co.)
# every configuration container of the module: radio carriers and subscriber limits too
CONFIG_FILTER = SubtreeFilter(
    f'<interfaces xmlns="{NAMESPACE}"/><qos xmlns="{NAMESPACE}"/>'
    f'<radio xmlns="{NAMESPACE}"/><subscribers xmlns="{NAMESPACE}"/>'
)
STATE_FILTER = SubtreeFilter(f'<state xmlns="{NAMESPACE}"/>')
SENSE_FILTER = SubtreeFilter(CONFIG_FILTER.xml + STATE_FILTER.xml)
# preference when known_hosts holds several keys for one host: only the pinned key's
# algorithm is offered, so pick the strongest widely supported one
_HOST_KEY_PREFERENCE = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
_NOTIFICATION_TAG = f"{{{NOTIFICATION_NAMESPACE}}}notification"
_NOTIFICATION_QUEUE = 1024
# selects nothing (a namespace no module uses): a probe any server answers with <data/>
_PROBE_FILTER = (
    f'<filter xmlns="{NETCONF_NAMESPACE}" type="subtree">'
    '<sync xmlns="urn:netpilot:probe"/></filter>'
)

_CLOSE_SESSION_WAIT = 1.0  # seconds granted to <close-session> when a session ends


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- host keys


@dataclass(frozen=True, slots=True)
class _HostKeyPolicy:
    """What to accept from the server: one pinned key, or anything (trust on first use)."""

    lookup_name: str  # "host" or "[host]:port", as in known_hosts
    known_hosts: Path
    pinned: asyncssh.SSHKey | None  # None means trust on first use


class _KnownHostsCache:
    """Parsed known_hosts files, re-read when a file changes (size or modification time).

    One per :class:`NetconfClient`: with 1,000 devices in one file, parsing it once per
    connect would cost seconds of CPU at start-up.
    """

    def __init__(self) -> None:
        self._files: dict[Path, tuple[tuple[int, int], Any]] = {}

    def lookup(self, path: Path, name: str) -> dict[str, Any]:
        """The keys recorded for ``name`` (``host`` or ``[host]:port``), by key type.

        Raises:
            OSError, UnicodeDecodeError, paramiko.SSHException: unreadable file.
        """
        info = path.stat()
        version = (info.st_mtime_ns, info.st_size)
        cached = self._files.get(path)
        if cached is None or cached[0] != version:
            cached = (version, paramiko.HostKeys(str(path)))
            self._files[path] = cached
        return dict(cached[1].lookup(name) or {})


def _host_key_policy(
    device: str, address: str, endpoint: NetconfEndpoint, known_hosts: _KnownHostsCache
) -> _HostKeyPolicy:
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
            known = known_hosts.lookup(path, lookup_name)
        except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
            raise AuthError(device, f"cannot read known_hosts {path}: {exc}") from exc
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
    entry = known[ranked[0]]
    try:
        pinned = asyncssh.import_public_key(f"{entry.get_name()} {entry.get_base64()}")
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise AuthError(device, f"unusable host key for {lookup_name} in {path}") from exc
    return _HostKeyPolicy(lookup_name=lookup_name, known_hosts=path, pinned=pinned)


def _append_known_host(policy: _HostKeyPolicy, key: asyncssh.SSHKey | None) -> None:
    if key is None:
        raise OSError("the server presented no host key")
    algorithm, b64 = key.export_public_key("openssh").decode().split()[:2]
    line = f"{policy.lookup_name} {algorithm} {b64}\n"
    fd = os.open(policy.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        if out.tell() > 0 and not policy.known_hosts.read_bytes().endswith(b"\n"):
            out.write("\n")
        out.write(line)


# --------------------------------------------------------------------------- credentials


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


# --------------------------------------------------------------------------- the transport


class _NetconfChannel(asyncssh.SSHClientSession[bytes]):
    """One NETCONF session on one SSH channel.

    It is asyncssh's session handler (bytes in through :meth:`data_received`) and the
    session object ncclient's operation classes talk to (:meth:`send`, the listener
    registry, :attr:`server_capabilities`, :attr:`id`): ncclient builds each request and
    parses each reply, this class frames them and routes replies to waiting coroutines.
    Everything runs on the event loop thread.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.handler = nc_manager.make_device_handler({"name": "default"})
        self.client_capabilities = self.handler.get_capabilities()
        self.server_capabilities: Any = None  # ncclient Capabilities, after the hello
        self.capability_uris: frozenset[str] = frozenset()
        self.capabilities: frozenset[Capability] = frozenset()
        self.id: str | None = None
        self.lock = asyncio.Lock()  # one RPC in flight per session
        self.locked_datastores: set[str] = set()
        self.dirty = False  # uncommitted candidate edits made through this session
        self.subscribed = False
        self.notifications: asyncio.Queue[Notification | AdapterError] | None = None
        self.dropped_notifications = 0
        self._chan: asyncssh.SSHClientChannel[bytes] | None = None
        self._decoder = MessageDecoder()
        self._chunked_out = False
        self._corked: list[bytes] | None = None
        self._listeners: set[Any] = set()
        self._waiting: dict[Any, asyncio.Future[Any]] = {}
        # requests netpilot renders itself (see NetconfSession._call): message-id -> reply
        self._calls: dict[str, asyncio.Future[tuple[str, Any]]] = {}
        self._next_call = 1
        self._hello: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._closed: AdapterError | None = None

    # -- ncclient's Session interface (used by ncclient.operations.rpc.RPC) ----------

    @property
    def connected(self) -> bool:
        return self._closed is None and self._chan is not None

    def add_listener(self, listener: Any) -> None:
        if not isinstance(listener, SessionListener):
            raise TypeError("listener must be an ncclient SessionListener")
        self._listeners.add(listener)

    def remove_listener(self, listener: Any) -> None:
        self._listeners.discard(listener)

    def get_listener_instance(self, cls: type) -> Any:
        return next((lsn for lsn in self._listeners if isinstance(lsn, cls)), None)

    def send(self, message: str) -> None:
        if self._closed is not None or self._chan is None:
            raise TransportError("Not connected to NETCONF server")
        frame = encode_message(message.encode("utf-8"), chunked=self._chunked_out)
        if self._corked is not None:
            self._corked.append(frame)
        else:
            self._chan.write(frame)

    def cork(self) -> None:
        """Hold what :meth:`send` is given until :meth:`uncork` (pipelined requests)."""
        self._corked = []

    def uncork(self, *, write: bool = True) -> None:
        """Send the held requests in one write (one SSH packet), or drop them."""
        held, self._corked = self._corked or [], None
        if write and held and self._chan is not None and self._closed is None:
            self._chan.write(b"".join(held))

    # -- asyncssh's session handler ---------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        try:
            self._decoder.feed(data)
            while (message := self._decoder.next_message()) is not None:
                self._on_message(message)
        except FramingError as exc:
            self._fail(ProtocolError(self.device, f"broken NETCONF framing: {exc}"))
            if self._chan is not None:
                self._chan.abort()

    def eof_received(self) -> bool:
        return False  # close the channel

    def connection_lost(self, exc: Exception | None) -> None:
        detail = f" ({type(exc).__name__})" if exc is not None else ""
        self._fail(ConnectError(self.device, f"NETCONF session ended by the peer{detail}"))

    # -- lifecycle --------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._closed is None

    async def exchange_hello(self, wait_seconds: float) -> None:
        """Send our ``<hello>``, wait for the server's, select the framing.

        Raises:
            ProtocolError: the server's hello is malformed or lacks base:1.0/1.1.
            ConnectError: the channel closed before the hello.
            TimeoutError: no hello in ``wait_seconds``.
        """
        self.send(HelloHandler.build(self.client_capabilities, self.handler))
        raw = await asyncio.wait_for(asyncio.shield(self._hello), wait_seconds)
        if "<!DOCTYPE" in raw:
            raise ProtocolError(self.device, "malformed <hello>: a document type declaration")
        try:
            session_id, capabilities = HelloHandler.parse(raw)
        except (SyntaxError, XMLError) as exc:
            raise ProtocolError(self.device, f"malformed <hello>: {exc}") from exc
        uris = frozenset(str(uri).strip() for uri in capabilities)
        if not any(u.startswith("urn:ietf:params:netconf:base:1.") for u in uris):
            raise ProtocolError(self.device, "the server's <hello> announces no NETCONF base")
        if not session_id:
            raise ProtocolError(self.device, "the server's <hello> has no session-id")
        self.id = str(session_id)
        self.server_capabilities = capabilities
        self.capability_uris = uris
        self.capabilities = capabilities_from_uris(uris)
        if BASE_1_1 in uris and BASE_1_1 in self.client_capabilities:
            self._decoder.chunked = True
            self._chunked_out = True

    async def synchronise(self, wait_seconds: float) -> None:
        """Make sure the server reads our requests: probe until one probe is answered.

        netconfd (yuma123 2.13) leaves a request that reaches it in the same read as the
        client's ``<hello>`` unparsed until more bytes arrive (docs/interop.md, bug 7), so
        a first request sent right after the hello may never be answered. A harmless
        ``<get-config>`` that selects nothing is sent, again after 50 ms, 100 ms, 200 ms...
        (each one releases the ones stuck before it) until any reply (data or rpc-error)
        arrives: from then on requests are answered in order.

        Raises:
            TimeoutError: no probe answered in ``wait_seconds``.
            AdapterError: the session failed meanwhile.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        probes: list[asyncio.Future[None]] = []
        wait = 0.05
        try:
            while True:
                rpc = nc_retrieve.GetConfig(self, self.handler, async_mode=True).request(
                    source="running", filter=to_ele(_PROBE_FILTER)
                )
                probes.append(self.expect(rpc))
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                done, _ = await asyncio.wait(
                    probes, timeout=min(wait, remaining), return_when=asyncio.FIRST_COMPLETED
                )
                for future in done:
                    future.result()  # a failed session raises here
                if done:
                    return
                logger.debug(
                    "%s: no answer to the session probe in %.2f s; probing again", self.device, wait
                )
                wait *= 2
        finally:
            for future in probes:
                future.cancel()

    def close(self) -> None:
        """ncclient's ``Session.close``: drop the channel at once (no close-session)."""
        self.abort()

    async def aclose(self) -> None:
        """``<close-session>`` (bounded wait), then close the channel. Never raises."""
        if self._closed is None and self._chan is not None and self.id is not None:
            try:
                # Dispatch, not CloseSession: the latter closes the transport before the reply
                rpc = nc_retrieve.Dispatch(self, self.handler, async_mode=True).request(
                    "close-session"
                )
                future = self.expect(rpc)
                await asyncio.wait_for(future, _CLOSE_SESSION_WAIT)
            except (TransportError, AdapterError, TimeoutError, OSError) as exc:
                logger.debug("%s: close-session: %s", self.device, type(exc).__name__)
        self._fail(ConnectError(self.device, "the session is closed"))
        if self._chan is not None:
            self._chan.close()

    def abort(self) -> None:
        """Drop the channel at once (no close-session)."""
        self._fail(ConnectError(self.device, "the session is closed"))
        if self._chan is not None:
            self._chan.abort()

    # -- routing ----------------------------------------------------------------------

    def expect(self, rpc: Any) -> asyncio.Future[Any]:
        """A future resolved when the reply to ``rpc`` (already sent) has been delivered:
        with the reply's parsed ``<rpc-reply>`` element, or None when the reply could only
        be routed, not parsed (then parsing it again reports why)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._closed is not None:
            future.set_exception(self._closed)
            return future
        self._waiting[rpc] = future
        future.add_done_callback(lambda _: self._waiting.pop(rpc, None))
        return future

    def call(self, operation: str) -> asyncio.Future[tuple[str, Any]]:
        """Send one ``<rpc>`` whose operation netpilot rendered (``operation``: the XML of
        the operation element, base namespace as default namespace).

        Returns:
            A future resolved with the reply as text and its parsed root element (None:
            the reply could be routed but not parsed), or failed with the session's error.

        Raises:
            TransportError: the session is closed (nothing was sent).
        """
        message_id = str(self._next_call)
        self._next_call += 1
        self.send(
            f'{_XML_DECLARATION}<rpc xmlns="{NETCONF_NAMESPACE}" message-id="{message_id}">'
            f"{operation}</rpc>"
        )
        future: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        # kept until its reply comes (or the session ends), even if the caller stopped
        # waiting: a late reply is then dropped, not taken for an unknown message-id
        self._calls[message_id] = future
        return future

    def _on_message(self, message: bytes) -> None:
        try:
            raw = message.decode("utf-8")
        except UnicodeDecodeError:
            self._fail_waiting(ProtocolError(self.device, "reply is not valid UTF-8"))
            return
        if not self._hello.done():
            self._hello.set_result(raw)
            return
        if "<!DOCTYPE" in raw:
            self._fail_waiting(
                ProtocolError(self.device, "refused a reply with a document type declaration")
            )
            return
        try:
            parsed, root = _parse_reply(raw)
        except SyntaxError as exc:  # lxml's XMLSyntaxError
            self._fail_waiting(ProtocolError(self.device, f"malformed XML reply: {exc}"))
            return
        if root is None:
            self._fail_waiting(ProtocolError(self.device, "empty reply"))
            return
        if root[0] == _NOTIFICATION_TAG:
            self._on_notification(raw)
            return
        self._deliver(raw, parsed, root)

    def _deliver(self, raw: str, parsed: Any, root: tuple[str, Any]) -> None:
        """Hand a reply to the request it answers (by message-id)."""
        message_id = root[1].get("message-id")
        call = self._calls.pop(message_id, None) if root[0] == _RPC_REPLY_TAG else None
        if call is not None:
            if not call.done():
                call.set_result((raw, parsed))
            return
        if not self._listeners:
            self._fail_waiting(
                ProtocolError(self.device, f"unroutable reply: unknown message-id {message_id!r}")
            )
            return
        for listener in list(self._listeners):
            try:
                listener.callback(root, raw)
            except OperationError as exc:  # no or unknown message-id
                self._fail_waiting(ProtocolError(self.device, f"unroutable reply: {exc}"))
        for rpc, future in list(self._waiting.items()):
            if rpc.event.is_set() and not future.done():
                future.set_result(parsed if rpc.id == message_id else None)

    def _on_notification(self, raw: str) -> None:
        if self.notifications is None:
            return  # not subscribed: RFC 5277 says this cannot happen; ignore it
        try:
            item: Notification | AdapterError = parse_notification(raw, device=self.device)
        except ProtocolError as exc:
            logger.warning("%s: dropped a malformed notification: %s", self.device, exc)
            return
        if self.notifications.full():
            self.notifications.get_nowait()
            self.dropped_notifications += 1
        self.notifications.put_nowait(item)

    def _fail_waiting(self, error: AdapterError) -> None:
        for future in [*self._waiting.values(), *self._calls.values()]:
            if not future.done():
                future.set_exception(error)

    def _fail(self, error: AdapterError) -> None:
        if self._closed is None:
            self._closed = error
        if not self._hello.done():
            self._hello.set_exception(error)
            self._hello.exception()  # retrieved: nobody may be waiting any more
        self._fail_waiting(error)
        if self.notifications is not None and not self.notifications.full():
            self.notifications.put_nowait(error)


class _SshClient(asyncssh.SSHClient):
    """Tells the link when the SSH connection goes (keepalive failure, peer close)."""

    def __init__(self, on_lost: Callable[[Exception | None], None]) -> None:
        self._on_lost = on_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(exc)


class _SshLink:
    """One SSH connection to a device, on which NETCONF sessions are channels."""

    def __init__(
        self, device: Device, endpoint: NetconfEndpoint, known_hosts: _KnownHostsCache
    ) -> None:
        self.device = device
        self.endpoint = endpoint
        self.known_hosts = known_hosts
        self.connection: asyncssh.SSHClientConnection | None = None
        self.lost: Exception | None = None
        self._lost = False

    @property
    def alive(self) -> bool:
        return self.connection is not None and not self._lost

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.lost = exc

    async def connect(self, keepalive: timedelta, keepalive_count_max: int) -> None:
        """TCP, SSH (host key, authentication). Bounded by the endpoint's timeout.

        Raises:
            AuthError, ConnectError, AdapterTimeoutError: see :func:`open_session`.
        """
        name, endpoint = self.device.name, self.endpoint
        creds = _credentials(name, endpoint)
        policy = _host_key_policy(name, self.device.address, endpoint, self.known_hosts)
        known_hosts: Any = (
            None if policy.pinned is None else ([policy.pinned], [], [], [], [], [], [])
        )
        try:
            self.connection = await asyncio.wait_for(
                asyncssh.connect(
                    self.device.address,
                    endpoint.port,
                    client_factory=lambda: _SshClient(self._on_lost),
                    config=None,  # no ~/.ssh/config
                    known_hosts=known_hosts,
                    username=creds.username,
                    password=creds.password,
                    client_keys=[creds.key_file] if creds.key_file else None,
                    agent_path=None,
                    gss_auth=False,
                    gss_kex=False,
                    kbdint_auth=False,
                    host_based_auth=False,
                    connect_timeout=endpoint.timeout_seconds,
                    # AES-GCM first: asyncssh's chacha20-poly1305 builds a cipher context per
                    # packet in Python (~0.15 ms of CPU per RPC here); GCM runs in OpenSSL
                    encryption_algs=_ENCRYPTION_PREFERENCE,
                    keepalive_interval=keepalive.total_seconds(),
                    keepalive_count_max=keepalive_count_max,
                ),
                endpoint.timeout_seconds,
            )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise await _connect_error(self.device, endpoint, exc, policy) from exc
        if policy.pinned is None:
            key = self.connection.get_server_host_key()
            try:
                _append_known_host(policy, key)
            except OSError as exc:
                await self.close()
                raise AuthError(
                    name, f"cannot record the host key in {policy.known_hosts}"
                ) from exc
            assert key is not None  # _append_known_host refuses None
            logger.warning(
                "%s: trusted new host key %s %s for %s on first use (added to %s)",
                name,
                key.get_algorithm(),
                key.get_fingerprint("sha256"),
                policy.lookup_name,
                policy.known_hosts,
            )

    async def open_channel(self) -> _NetconfChannel:
        """Open the ``netconf`` subsystem on a new channel and exchange hellos.

        Raises:
            ConnectError: the connection is gone or the server refused the subsystem.
            AdapterTimeoutError: no ``<hello>`` in the endpoint's timeout.
            ProtocolError: a malformed ``<hello>``.
        """
        name, timeout = self.device.name, self.endpoint.timeout_seconds
        if self.connection is None or not self.alive:
            raise ConnectError(name, "the SSH connection is closed")
        channel = _NetconfChannel(name)
        try:
            await asyncio.wait_for(
                self.connection.create_session(lambda: channel, subsystem="netconf", encoding=None),
                timeout,
            )
            await channel.exchange_hello(timeout)
            await channel.synchronise(timeout)
        except TimeoutError as exc:
            channel.abort()
            raise AdapterTimeoutError(
                name, f"no NETCONF <hello> (or no answer after it) within {timeout:g} s"
            ) from exc
        except (asyncssh.Error, OSError) as exc:
            channel.abort()
            raise ConnectError(name, f"cannot open the netconf subsystem: {exc}") from exc
        except (AdapterError, TransportError) as exc:
            channel.abort()
            if isinstance(exc, AdapterError):
                raise
            raise ConnectError(name, "the channel closed before the <hello>") from exc
        return channel

    async def close(self) -> None:
        """Close the SSH connection (bounded wait). Never raises."""
        connection, self.connection = self.connection, None
        self._lost = True
        if connection is None:
            return
        connection.close()
        with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
            await asyncio.wait_for(connection.wait_closed(), _CLOSE_SESSION_WAIT)


async def _connect_error(
    device: Device, endpoint: NetconfEndpoint, exc: BaseException, policy: _HostKeyPolicy
) -> AdapterError:
    """Map a failure of asyncssh's connect onto the error tree (no secret in messages)."""
    name = device.name
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        seen = ""
        with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
            # a second key exchange only (no authentication), to name what was presented
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    device.address, endpoint.port, config=None, server_host_key_algs="default"
                ),
                endpoint.timeout_seconds,
            )
            if key is not None:
                seen = f" (server presented {key.get_fingerprint('sha256')})"
        return AuthError(
            name,
            f"host key of {policy.lookup_name} does not match known_hosts "
            f"{policy.known_hosts}{seen}",
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthError(name, "SSH authentication failed (password or key refused)")
    if isinstance(exc, TimeoutError):
        return AdapterTimeoutError(name, "no SSH session (TCP connect or handshake timed out)")
    if isinstance(exc, ConnectionRefusedError | OSError) and not isinstance(exc, asyncssh.Error):
        detail = exc.strerror or type(exc).__name__
        return ConnectError(name, f"TCP connect to port {endpoint.port}: {detail}")
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return ConnectError(name, f"SSH session setup failed: {type(exc).__name__} {detail}")


# --------------------------------------------------------------------------- errors


def _parse_reply(raw: str) -> tuple[Any, tuple[str, Any] | None]:
    """A reply parsed once: its root element (None if it is not well-formed) and its root's
    (tag, attributes) for routing (None: empty).

    The element routes the reply and is handed to the waiting request for its rpc-errors,
    so a reply is not parsed a second time. (ncclient's ``parse_root``, used before for
    routing, ran a full iterparse for the root's tag alone: 0.2 ms per ``<data>`` reply,
    more than parsing the whole reply into a tree.)

    Raises:
        SyntaxError: not even the root element can be read.
    """
    try:
        parsed = to_ele(raw)
    except SyntaxError:  # malformed after its root, perhaps: route it by its root alone
        return None, parse_root(raw)
    return parsed, (parsed.tag, parsed.attrib)


def _rpc_error(device: str, errors: list[Any]) -> RpcError:
    """The first error-severity ``<rpc-error>`` of a reply, as :class:`RpcError`."""
    first = errors[0]
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


_OK_TAG = f"{{{NETCONF_NAMESPACE}}}ok"
_RPC_REPLY_TAG = f"{{{NETCONF_NAMESPACE}}}rpc-reply"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_RPC_ERROR_TAG = f"{{{NETCONF_NAMESPACE}}}rpc-error"


# the operations of the change transaction, rendered (see NetconfSession._call)
_CONFIG_FILTER_XML = f'<filter type="subtree">{CONFIG_FILTER.xml}</filter>'


def _get_config_xml(source: str) -> str:
    return f"<get-config><source><{source}/></source>{_CONFIG_FILTER_XML}</get-config>"


def _edit_candidate_xml(config: str, *, rollback_on_error: bool) -> str:
    error_option = "<error-option>rollback-on-error</error-option>" if rollback_on_error else ""
    return (
        "<edit-config><target><candidate/></target><default-operation>merge"
        f"</default-operation>{error_option}{config}</edit-config>"
    )


def _validate_xml(config: DeviceConfig) -> str:
    # the configuration inline (never <candidate/>: netconfd then loses the candidate on
    # the next commit)
    return f"<validate><source>{render_config(config)}</source></validate>"


@dataclass(frozen=True, slots=True)
class _Reply:
    """The reply to a request netpilot rendered: its text (as ncclient's ``RPCReply.xml``)."""

    xml: str


def _reply_errors(root: Any, error_class: type) -> list[Any]:
    """The ``<rpc-error>`` elements of a parsed ``<rpc-reply>``, as ncclient's
    ``RPCReply.parse`` finds them (none when the reply holds ``<ok/>``)."""
    if root.find(_OK_TAG) is not None:
        return []
    return [error_class(element) for element in root.iter(_RPC_ERROR_TAG)]


def _datastore(target: str) -> str:
    if target not in _DATASTORES:
        raise ValueError(f"unknown datastore {target!r}; expected one of {sorted(_DATASTORES)}")
    return target


def _filter_element(filter_: Filter, namespace: str = NETCONF_NAMESPACE) -> Any:
    """The ``<filter>`` element for a request (an lxml element, for ncclient)."""
    if isinstance(filter_, SubtreeFilter):
        text = f'<filter xmlns="{namespace}" type="subtree">{filter_.xml}</filter>'
    else:
        prefixes = "".join(f" xmlns:{p}={quoteattr(uri)}" for p, uri in filter_.namespaces)
        text = (
            f'<filter xmlns="{namespace}"{prefixes} type="xpath" '
            f"select={quoteattr(filter_.select)}/>"
        )
    try:
        return to_ele(text)
    except SyntaxError as exc:
        raise ValueError(f"malformed filter: {exc}") from exc


# --------------------------------------------------------------------------- the session


class NetconfSession:
    """An open NETCONF session to one device; see :class:`adapters.base.ConfigSession`.

    Made by :func:`open_session` (its own SSH connection) or leased from a
    :class:`NetconfClient` (a channel on the device's pooled connection; :meth:`close`
    gives it back). Calls are serialised: one RPC in flight per session. Usable as an
    async context manager that closes the session.
    """

    def __init__(
        self,
        device: str,
        channel: _NetconfChannel,
        *,
        rpc_timeout: float,
        on_close: Callable[[_NetconfChannel], Awaitable[None]],
        pipeline: bool = True,
    ) -> None:
        self._device = device
        self._channel = channel
        self._rpc_timeout = rpc_timeout
        self._pipeline = pipeline
        self._on_close = on_close
        self._closed = False

    @property
    def device(self) -> str:
        """The inventory name of the device."""
        return self._device

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the device announced in its ``<hello>``."""
        return self._channel.capabilities

    @property
    def session_id(self) -> str:
        """The server's NETCONF session-id (as in ``<kill-session>``, server logs)."""
        return str(self._channel.id)

    @property
    def capability_uris(self) -> frozenset[str]:
        """The raw capability URIs of the ``<hello>`` (modules included)."""
        return self._channel.capability_uris

    @property
    def alive(self) -> bool:
        """Whether the session can still carry RPCs."""
        return not self._closed and self._channel.alive

    async def __aenter__(self) -> NetconfSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    def _require(self, *needed: Capability) -> None:
        for cap in needed:
            if cap not in self._channel.capabilities:
                raise MissingCapabilityError(self._device, cap.value)

    def _require_filter(self, filter_: Filter | None) -> None:
        if isinstance(filter_, XPathFilter):
            # the lab server answers bad-attribute, other servers may ignore the select
            self._require(Capability.XPATH)

    async def _rpc(self, name: str, operation: type, **params: Any) -> Any:
        """Send one RPC built by an ncclient operation class and return its parsed reply.

        Raises:
            ConnectError, AdapterTimeoutError, ProtocolError, RpcError,
            MissingCapabilityError, ValueError (a request ncclient refuses to build).
        """
        channel = self._channel
        if self._closed:
            raise ConnectError(self._device, "the session is closed")
        async with channel.lock:
            if not channel.alive:
                raise ConnectError(self._device, f"<{name}>: the session is closed")
            rpc = self._request(name, operation, params)
            (parsed,) = await self._replies(name, [rpc])
        return self._checked(name, rpc, parsed)

    async def _call(self, name: str, operation: str) -> _Reply:
        """Send one request netpilot rendered (see :meth:`_NetconfChannel.call`) and return
        its reply.

        The change transaction's operations (lock, discard, get-config of the module,
        inline validate, edit-config of rendered edits, commits, unlock) take this path:
        their XML comes from our own renderers, so ncclient's request objects (a uuid, a
        threading.Event, a listener registration and an lxml round trip per request)
        bought nothing there. Generic operations (any filter, any ``<config>`` text,
        notifications) still go through ncclient (:meth:`_rpc`).

        Raises:
            ConnectError, AdapterTimeoutError, ProtocolError, RpcError.
        """
        (outcome,) = await self._pipelined([(name, operation)], pipeline=False)
        if isinstance(outcome, AdapterError):
            raise outcome
        return outcome

    async def _pipelined(
        self, requests: list[tuple[str, str]], *, pipeline: bool = True
    ) -> list[_Reply | RpcError | ProtocolError]:
        """Send several rendered requests at once and wait for every reply (RFC 6241 lets
        a client send requests without waiting; the server answers them in order).

        All requests go out in one write, so one SSH packet carries them and the device
        answers them in one round trip. With ``pipeline=False`` (a server that mishandles
        several requests in one read: ``NetconfPoolSettings.pipeline_requests``) they are
        sent one after the other instead, with the same outcome.

        Returns:
            Per request, in order: its reply, or the RpcError / ProtocolError it got
            (later requests were still sent and answered).

        Raises:
            ConnectError, AdapterTimeoutError: the transport failed (then no outcome is
                known).
        """
        channel = self._channel
        if self._closed:
            raise ConnectError(self._device, "the session is closed")
        if not (pipeline and self._pipeline) and len(requests) > 1:
            outcomes: list[_Reply | RpcError | ProtocolError] = []
            for request in requests:
                outcomes.extend(await self._pipelined([request], pipeline=False))
            return outcomes
        names = "+".join(name for name, _ in requests)
        async with channel.lock:
            if not channel.alive:
                raise ConnectError(self._device, f"<{names}>: the session is closed")
            channel.cork()
            try:
                waiting = [channel.call(operation) for _, operation in requests]
            except TransportError as exc:
                channel.uncork(write=False)
                raise ConnectError(self._device, f"<{names}>: connection lost") from exc
            except BaseException:
                channel.uncork(write=False)
                raise
            channel.uncork()
            replies = await self._wait(names, waiting)
        outcomes = []
        for (name, _), (raw, parsed) in zip(requests, replies, strict=True):
            try:
                outcomes.append(self._checked_call(name, raw, parsed))
            except (RpcError, ProtocolError) as exc:
                outcomes.append(exc)
        return outcomes

    def _checked_call(self, name: str, raw: str, parsed: Any) -> _Reply:
        """The reply to a rendered request; its rpc-errors raised, its warnings logged."""
        if parsed is None:
            try:
                parsed = to_ele(raw)
            except (SyntaxError, XMLError) as exc:
                raise ProtocolError(self._device, f"<{name}>: malformed reply: {exc}") from exc
        self._raise_errors(name, _reply_errors(parsed, RPCError))
        return _Reply(raw)

    async def _wait(self, name: str, waiting: list[asyncio.Future[Any]]) -> list[Any]:
        """The results of ``waiting`` (replies to requests already sent), within the RPC
        timeout; when it fails, every one of them is cancelled (a late reply is dropped).

        One timer for the exchange, the futures awaited in order (the replies come in
        order): ``wait_for(gather(...))`` made a task, a gathering future and a timer per
        exchange, which showed in the CPU per device-transaction.

        Raises:
            AdapterTimeoutError: not every reply came within the RPC timeout.
        """
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            for future in waiting:
                future.cancel()

        timer = asyncio.get_running_loop().call_later(self._rpc_timeout, expire)
        try:
            return [await future for future in waiting]
        except asyncio.CancelledError:
            if expired:
                raise AdapterTimeoutError(
                    self._device, f"no reply to <{name}> within {self._rpc_timeout:g} s"
                ) from None
            raise
        finally:
            timer.cancel()
            for future in waiting:
                future.cancel()  # a no-op for those done; the rest were abandoned

    def _request(self, name: str, operation: type, params: dict[str, Any]) -> Any:
        """Build and send one request (channel lock held)."""
        channel = self._channel
        try:
            return operation(
                channel,
                channel.handler,
                async_mode=True,
                timeout=self._rpc_timeout,
                raise_mode=RaiseMode.NONE,
            ).request(**params)
        except NcMissingCapabilityError as exc:
            raise MissingCapabilityError(self._device, str(exc)) from exc
        except TransportError as exc:
            raise ConnectError(self._device, f"<{name}>: connection lost") from exc
        except (OperationError, XMLError) as exc:
            raise ValueError(f"<{name}>: {exc}") from exc

    async def _replies(self, name: str, rpcs: list[Any]) -> list[Any]:
        """Wait for the replies to ``rpcs`` (already sent).

        Returns:
            Per request, its reply's parsed root element (None: see ``expect``).
        """
        return await self._wait(name, [self._channel.expect(rpc) for rpc in rpcs])

    def _checked(self, name: str, rpc: Any, parsed: Any = None) -> Any:
        """The reply of ``rpc``; its rpc-errors raised, its warnings logged.

        ``parsed``: the reply's root element as the channel parsed it (the reply is then
        not parsed a second time); None: ncclient parses the reply (and says why it cannot).
        """
        reply = rpc.reply
        if parsed is None:
            try:
                reply.parse()
            except (SyntaxError, XMLError) as exc:
                raise ProtocolError(self._device, f"<{name}>: malformed reply: {exc}") from exc
            reported = reply.errors
        else:
            reported = _reply_errors(parsed, reply.ERROR_CLS)
        self._raise_errors(name, reported)
        return reply

    def _raise_errors(self, name: str, reported: list[Any]) -> None:
        """Raise the first error-severity rpc-error of a reply; log its warnings."""
        if not reported:
            return
        errors = [e for e in reported if (e.severity or "error").strip() == "error"]
        if errors:
            raise _rpc_error(self._device, errors)
        for warning in reported:
            logger.info("%s: <%s> warning: %s", self._device, name, warning.message)

    # ------------------------------------------------------------------ generic reads

    async def get(self, filter: Filter | None = None) -> str:
        """``<get>``: configuration and state.

        Args:
            filter: a subtree filter, or an XPath filter (needs :xpath).

        Returns:
            The ``<rpc-reply>`` as XML text (its ``<data>`` holds the result).

        Raises:
            MissingCapabilityError: an XPath filter and no :xpath.
            RpcError: the device refused.
        """
        self._require_filter(filter)
        element = None if filter is None else _filter_element(filter)
        reply = await self._rpc("get", nc_retrieve.Get, filter=element)
        return str(reply.xml)

    async def get_config(
        self,
        source: str = "running",
        filter: Filter | None = None,
    ) -> str:
        """``<get-config>`` of a datastore.

        Args:
            source: ``running``, ``candidate`` (needs :candidate) or ``startup``.
            filter: a subtree filter, or an XPath filter (needs :xpath).

        Returns:
            The ``<rpc-reply>`` as XML text.

        Raises:
            MissingCapabilityError: the datastore or the filter type is not offered.
            RpcError: the device refused.
            ValueError: ``source`` is not a datastore.
        """
        datastore = _datastore(source)
        if datastore == "candidate":
            self._require(Capability.CANDIDATE)
        self._require_filter(filter)
        element = None if filter is None else _filter_element(filter)
        reply = await self._rpc(
            "get-config", nc_retrieve.GetConfig, source=datastore, filter=element
        )
        return str(reply.xml)

    # ------------------------------------------------------------------ ConfigSession reads

    async def get_running(self) -> DeviceConfig:
        """``<get-config>`` of running, parsed (see ``ConfigSession.get_running``)."""
        reply = await self._call("get-config", _get_config_xml("running"))
        return parse_config(reply.xml, device=self._device)

    async def get_candidate(self) -> DeviceConfig:
        """``<get-config>`` of candidate, parsed (see ``ConfigSession.get_candidate``)."""
        self._require(Capability.CANDIDATE)
        reply = await self._call("get-config", _get_config_xml("candidate"))
        return parse_config(reply.xml, device=self._device)

    async def get_state(self) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        """``<get>`` filtered to ``/npl:state``, parsed (see ``ConfigSession.get_state``)."""
        return parse_state(await self.get(STATE_FILTER), device=self._device)

    async def get_config_and_state(
        self,
    ) -> tuple[DeviceConfig, tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        """Running configuration and operational state in one ``<get>`` (half the RPCs of
        :meth:`get_running` + :meth:`get_state`, for a sensing tick).

        Returns:
            ``(config, queues, probes)``, parsed as those two methods parse them.

        Raises:
            ProtocolError: the reply is not well-formed ``netpilot-lab`` data.
            RpcError: the device refused the read.
        """
        reply = await self.get(SENSE_FILTER)
        queues, probes = parse_state(reply, device=self._device)
        return parse_config(reply, device=self._device), queues, probes

    # ------------------------------------------------------------------ generic writes

    async def edit_config(
        self,
        config: str,
        *,
        target: str = "candidate",
        default_operation: str | None = "merge",
        error_option: ErrorOption | None = None,
        test_only: bool = False,
    ) -> None:
        """``<edit-config>`` of a ``<config>`` document (any module, any operations).

        Args:
            config: the ``<config>`` element as XML text (base namespace), with
                ``nc:operation`` attributes where wanted.
            target: ``candidate`` (needs :candidate) or ``running`` (needs
                :writable-running).
            default_operation: ``merge``, ``replace``, ``none``, or None to leave it out.
            error_option: None picks rollback-on-error when the device offers it.
            test_only: ``test-option=test-only`` (needs :validate:1.1). Beware: netconfd
                ignores ``must`` statements in test-only mode.

        Raises:
            MissingCapabilityError: the target datastore or an option is not offered.
            RpcError: the device refused the edit.
            ValueError: bad arguments or a ``config`` ncclient cannot parse.
        """
        datastore = _datastore(target)
        if datastore == "candidate":
            self._require(Capability.CANDIDATE)
        elif datastore == "running":
            self._require(Capability.WRITABLE_RUNNING)
        if default_operation is not None and default_operation not in _DEFAULT_OPERATIONS:
            raise ValueError(f"default_operation must be one of {sorted(_DEFAULT_OPERATIONS)}")
        if error_option is None and Capability.ROLLBACK_ON_ERROR in self.capabilities:
            error_option = ErrorOption.ROLLBACK_ON_ERROR
        if error_option is ErrorOption.ROLLBACK_ON_ERROR:
            self._require(Capability.ROLLBACK_ON_ERROR)
        if datastore == "candidate" and not test_only:
            self._channel.dirty = True
        await self._rpc(
            "edit-config",
            nc_edit.EditConfig,
            config=config,
            target=datastore,
            default_operation=default_operation,
            error_option=None if error_option is None else error_option.value,
            test_option="test-only" if test_only else None,
        )

    async def edit(
        self,
        edits: Iterable[NodeEdit],
        *,
        target: str = "candidate",
        default_operation: str | None = "merge",
        error_option: ErrorOption | None = None,
    ) -> None:
        """``<edit-config>`` of ``netpilot-lab`` nodes, each with its own operation.

        Args:
            edits: merge / replace / create / delete / remove of leaves, list entries or
                containers (:class:`~adapters.base.NodeEdit`).
            target: as for :meth:`edit_config`.
            default_operation: as for :meth:`edit_config`.
            error_option: as for :meth:`edit_config`.

        Raises:
            MissingCapabilityError: as for :meth:`edit_config`.
            RpcError: e.g. ``data-exists`` for create, ``data-missing`` for delete.
            ValueError: the edits cannot be rendered (see ``render_node_edits``).
        """
        document = render_node_edits(edits)
        await self.edit_config(
            document, target=target, default_operation=default_operation, error_option=error_option
        )

    async def commit_now(self) -> None:
        """A plain (unconfirmed) ``<commit>`` of the candidate.

        Raises:
            MissingCapabilityError: no :candidate.
            RpcError: the device refused (e.g. a confirmed commit of another session is
                pending).
        """
        self._require(Capability.CANDIDATE)
        await self._call("commit", "<commit/>")
        self._channel.dirty = False

    # ------------------------------------------------------------------ ConfigSession writes

    async def lock(self, target: str = "candidate") -> None:
        """``<lock>`` (see ``ConfigSession.lock``)."""
        datastore = _datastore(target)
        if datastore == "candidate":
            self._require(Capability.CANDIDATE)
        # recorded before sending: a lost reply may still have locked it
        self._channel.locked_datastores.add(datastore)
        try:
            await self._call("lock", f"<lock><target><{datastore}/></target></lock>")
        except RpcError:
            self._channel.locked_datastores.discard(datastore)
            raise

    async def unlock(self, target: str = "candidate") -> None:
        """``<unlock>`` (see ``ConfigSession.unlock``)."""
        datastore = _datastore(target)
        if datastore == "candidate":
            self._require(Capability.CANDIDATE)
        await self._call("unlock", f"<unlock><target><{datastore}/></target></unlock>")
        self._channel.locked_datastores.discard(datastore)

    async def edit_candidate(self, edits: tuple[ConfigEdit, ...]) -> None:
        """Merge ``<edit-config>`` on candidate (see ``ConfigSession.edit_candidate``).

        Uses ``rollback-on-error`` when the device offers it, so a refused edit leaves the
        candidate as it was.
        """
        self._require(Capability.CANDIDATE)
        if not edits:
            return
        document = render_edits(edits)
        rollback = Capability.ROLLBACK_ON_ERROR in self.capabilities
        self._channel.dirty = True
        await self._call("edit-config", _edit_candidate_xml(document, rollback_on_error=rollback))

    async def validate(self, config: DeviceConfig) -> None:
        """``<validate>`` of the full configuration sent inline (see ``ConfigSession``)."""
        self._require(Capability.VALIDATE)
        await self._call("validate", _validate_xml(config))

    async def commit(self, *, confirm_timeout: timedelta, persist_id: str) -> None:
        """Confirmed ``<commit>`` with ``<persist>`` (see ``ConfigSession.commit``)."""
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        seconds = _confirm_seconds(confirm_timeout, persist_id)
        await self._call(
            "commit",
            f"<commit><confirmed/><confirm-timeout>{seconds}</confirm-timeout>"
            f"<persist>{escape(persist_id)}</persist></commit>",
        )
        self._channel.dirty = False

    async def confirm(self, persist_id: str) -> None:
        """Confirming ``<commit>`` with ``<persist-id>`` (see ``ConfigSession.confirm``)."""
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        await self._call(
            "commit", f"<commit><persist-id>{escape(persist_id)}</persist-id></commit>"
        )

    async def cancel_commit(self, persist_id: str) -> None:
        """``<cancel-commit>`` with ``<persist-id>`` (see ``ConfigSession.cancel_commit``)."""
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        await self._call(
            "cancel-commit",
            f"<cancel-commit><persist-id>{escape(persist_id)}</persist-id></cancel-commit>",
        )

    async def discard(self) -> None:
        """``<discard-changes>`` (see ``ConfigSession.discard``)."""
        self._require(Capability.CANDIDATE)
        await self._call("discard-changes", "<discard-changes/>")
        self._channel.dirty = False

    async def lock_and_read_running(self) -> DeviceConfig:
        """``<lock>`` + ``<discard-changes>`` + ``<get-config>`` of running, pipelined (see
        ``ConfigSession.lock_and_read_running``)."""
        self._require(Capability.CANDIDATE)
        channel = self._channel
        # recorded before sending: a lost reply may still have locked it
        channel.locked_datastores.add("candidate")
        locked, discarded, running = await self._pipelined(
            [
                ("lock", "<lock><target><candidate/></target></lock>"),
                ("discard-changes", "<discard-changes/>"),
                ("get-config", _get_config_xml("running")),
            ]
        )
        if isinstance(locked, RpcError):
            channel.locked_datastores.discard("candidate")
        for outcome in (locked, discarded):
            if isinstance(outcome, AdapterError):
                raise outcome
        channel.dirty = False
        if isinstance(running, AdapterError):
            raise running
        return parse_config(running.xml, device=self._device)

    async def load_candidate(
        self, config: DeviceConfig, edits: tuple[ConfigEdit, ...]
    ) -> DeviceConfig:
        """Inline ``<validate>`` + merge ``<edit-config>`` + ``<get-config>`` of candidate,
        pipelined (see ``ConfigSession.load_candidate``)."""
        self._require(Capability.VALIDATE, Capability.CANDIDATE)
        requests = [("validate", _validate_xml(config))]
        if edits:
            rollback = Capability.ROLLBACK_ON_ERROR in self.capabilities
            requests.append(
                (
                    "edit-config",
                    _edit_candidate_xml(render_edits(edits), rollback_on_error=rollback),
                )
            )
            self._channel.dirty = True
        requests.append(("get-config", _get_config_xml("candidate")))
        outcomes = await self._pipelined(requests)
        for outcome in outcomes:
            if isinstance(outcome, AdapterError):
                raise outcome
        last = outcomes[-1]
        assert isinstance(last, _Reply)
        return parse_config(last.xml, device=self._device)

    # ------------------------------------------------------------------ notifications

    async def subscribe(
        self,
        *,
        stream: str | None = None,
        filter: Filter | None = None,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
    ) -> NotificationStream:
        """``<create-subscription>`` (RFC 5277) on this session.

        Without :interleave the session then carries notifications only (further RPCs
        may go unanswered, so the pool never hands it out again either way).

        Args:
            stream: the event stream (``NETCONF`` by default on the server).
            filter: which notifications (subtree, or XPath with :xpath).
            start_time: replay from this time (needs the stream to support replay).
            stop_time: end of the replay (needs ``start_time``).

        Returns:
            The stream of notifications of this session.

        Raises:
            MissingCapabilityError: no :notification (or no :xpath for an XPath filter).
            RpcError: the device refused (unknown stream, already subscribed...).
        """
        self._require(Capability.NOTIFICATION)
        self._require_filter(filter)
        channel = self._channel
        if channel.notifications is None:
            channel.notifications = asyncio.Queue(_NOTIFICATION_QUEUE)
        element = None if filter is None else _filter_element(filter, NOTIFICATION_NAMESPACE)
        channel.subscribed = True
        await self._rpc(
            "create-subscription",
            nc_subscribe.CreateSubscription,
            filter=element,
            stream_name=stream,
            start_time=None if start_time is None else start_time.isoformat(),
            stop_time=None if stop_time is None else stop_time.isoformat(),
        )
        return NotificationStream(self, channel)

    async def close(self) -> None:
        """End the session (a pooled one goes back to its pool). Idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        await self._on_close(self._channel)


def _confirm_seconds(confirm_timeout: timedelta, persist_id: str) -> int:
    seconds = confirm_timeout.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"confirm_timeout must be whole seconds >= 1, not {seconds:g} s")
    if not persist_id:
        raise ValueError("persist_id must not be empty")
    return int(seconds)


class NotificationStream:
    """Notifications received on one subscribed session, in arrival order.

    ``async for notification in stream`` ends when the stream is closed; a dead session
    raises :class:`~controller.errors.ConnectError`. At most 1,024 notifications are
    buffered; older ones are dropped first (:attr:`dropped` counts them).
    """

    def __init__(self, session: NetconfSession, channel: _NetconfChannel) -> None:
        self._session = session
        self._channel = channel
        self._closed = False

    @property
    def dropped(self) -> int:
        """Notifications dropped because nobody read them in time."""
        return self._channel.dropped_notifications

    async def next(self, wait_seconds: float) -> Notification:
        """The next notification, waiting at most ``wait_seconds``.

        Raises:
            AdapterTimeoutError: none arrived in time.
            ConnectError: the session ended (or the stream was closed).
        """
        queue = self._channel.notifications
        assert queue is not None
        if not self._session.alive and queue.empty():
            raise ConnectError(self._session.device, "the notification session is closed")
        try:
            item = await asyncio.wait_for(queue.get(), wait_seconds)
        except TimeoutError as exc:
            raise AdapterTimeoutError(
                self._session.device, f"no notification within {wait_seconds:g} s"
            ) from exc
        if isinstance(item, AdapterError):
            raise item
        return item

    def __aiter__(self) -> AsyncIterator[Notification]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notification]:
        queue = self._channel.notifications
        assert queue is not None
        while True:
            item = await queue.get()
            if isinstance(item, AdapterError):
                if self._closed:
                    return
                raise item
            yield item

    async def close(self) -> None:
        """End the subscription (the session is closed). Idempotent, never raises."""
        self._closed = True
        await self._session.close()


async def _close_standalone(link: _SshLink, channel: _NetconfChannel) -> None:
    await channel.aclose()
    await link.close()


async def open_session(device: Device) -> NetconfSession:
    """Open a stand-alone NETCONF session to ``device`` over its own SSH connection.

    Credentials come from the device's endpoint: a password by reference
    (:func:`adapters.credentials.resolve_secret`) and/or a private key file (tried first).
    Opening (TCP, SSH, authentication, ``<hello>``) is bounded by the endpoint's
    ``timeout_seconds``, which also bounds each later RPC. Closing the session closes the
    connection. Long-lived users should lease from a :class:`NetconfClient` instead.

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
        ProtocolError: the server's ``<hello>`` is malformed.
    """
    endpoint = device.netconf
    if endpoint is None:
        raise MissingCapabilityError(device.name, "netconf (no endpoint in the inventory)")
    link = _SshLink(device, endpoint, _KnownHostsCache())
    await link.connect(timedelta(seconds=30), 3)
    try:
        channel = await link.open_channel()
    except BaseException:
        await link.close()
        raise
    logger.debug(
        "%s: NETCONF session %s open to %s:%d as %s",
        device.name,
        channel.id,
        device.address,
        endpoint.port,
        endpoint.username,
    )
    return NetconfSession(
        device.name,
        channel,
        rpc_timeout=endpoint.timeout_seconds,
        on_close=lambda ch: _close_standalone(link, ch),
    )


# --------------------------------------------------------------------------- emulation


class _Emulation:
    """A device's emulated confirmed commit: one pending at most, shared by its sessions."""

    def __init__(self) -> None:
        self.pending: PendingEmulatedCommit | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.restoring: asyncio.Task[None] | None = None
        self.owner: weakref.ref[EmulatedConfirmedSession] | None = None
        self.restore_failures = 0
        self.last_restore_error: AdapterError | None = None

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


_MODELLED = frozenset({"interfaces", "qos"})  # the containers DeviceConfig models


def _effective_edits(
    staged: tuple[ConfigEdit, ...], running: DeviceConfig
) -> tuple[ConfigEdit, ...]:
    """The staged edits without leaf removals under list entries running lacks.

    Removing what is absent does nothing (RFC 6241 ``remove``), but netconfd creates the
    absent entry and stores the leaf as 0 (bug 6). A native candidate is read back before
    its commit, which catches that; the emulated candidate is computed here, so such
    removals are dropped instead of sent.
    """
    entries = {path[:2] for path in running.flatten()}
    return tuple(
        e
        for e in staged
        if not (
            e.op is EditOp.REMOVE
            and len(e.path) == 3
            and e.path[0] in _MODELLED
            and e.path[:2] not in entries
        )
    )


async def _restore_saved(session: NetconfSession, pending: PendingEmulatedCommit) -> None:
    """Put ``pending.saved_xml`` back on running (module containers only)."""
    current = await session.get_config("running")
    document = render_restore(pending.saved_xml, current, device=session.device)
    await session.edit_config(document, target="running", default_operation="merge")


class EmulatedConfirmedSession:
    """A :class:`~adapters.base.ConfigSession` for a device with only :writable-running.

    Made by :meth:`NetconfClient.open_session`; see the module docstring for the
    semantics. ``capabilities`` includes the emulated :candidate and :confirmed-commit
    (listed in :attr:`emulated_capabilities`), so the transaction's capability check
    passes; :attr:`device_capabilities` is what the device announced.
    """

    EMULATED: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.CANDIDATE, Capability.CONFIRMED_COMMIT}
    )

    def __init__(self, inner: NetconfSession, pool: _DevicePool) -> None:
        self._inner = inner
        self._pool = pool
        self._staged: tuple[ConfigEdit, ...] = ()
        self._recorder: CommitRecorder | None = None

    @property
    def device(self) -> str:
        """The inventory name of the device."""
        return self._inner.device

    @property
    def capabilities(self) -> frozenset[Capability]:
        """The device's capabilities plus the emulated ones."""
        return self._inner.capabilities | self.EMULATED

    @property
    def emulated_capabilities(self) -> frozenset[Capability]:
        """The capabilities netpilot provides instead of the device."""
        return self.EMULATED - self._inner.capabilities

    @property
    def device_capabilities(self) -> frozenset[Capability]:
        """What the device announced in its ``<hello>``."""
        return self._inner.capabilities

    @property
    def pending(self) -> PendingEmulatedCommit | None:
        """The device's pending emulated commit (for the journal), if any."""
        return self._pool.emulation.pending

    @property
    def netconf(self) -> NetconfSession:
        """The underlying NETCONF session (generic operations on running)."""
        return self._inner

    def record_commits_with(self, recorder: CommitRecorder | None) -> None:
        """``commit`` awaits ``recorder(pending)`` after saving running, before the edit
        (see :class:`adapters.base.EmulatedCommitSession`)."""
        self._recorder = recorder

    def adopt(self, commit: PendingEmulatedCommit) -> None:
        """Re-arm a recorded commit of an earlier process (see
        :meth:`NetconfClient.adopt_emulated_commit`)."""
        self._pool.adopt(commit)

    async def __aenter__(self) -> EmulatedConfirmedSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @staticmethod
    def _running_for(target: str) -> str:
        # the emulated candidate is a staging area of this session: its lock is running's
        return "running" if _datastore(target) == "candidate" else target

    async def get_running(self) -> DeviceConfig:
        """Running, parsed."""
        return await self._inner.get_running()

    async def get_candidate(self) -> DeviceConfig:
        """Running with this session's staged edits applied."""
        running = await self._inner.get_running()
        return running.with_edits(self._staged)

    async def get_state(self) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        """Operational state, as ``NetconfSession.get_state``."""
        return await self._inner.get_state()

    async def lock(self, target: str = "candidate") -> None:
        """Lock running (for ``candidate`` too)."""
        await self._inner.lock(self._running_for(target))

    async def unlock(self, target: str = "candidate") -> None:
        """Unlock running (for ``candidate`` too)."""
        await self._inner.unlock(self._running_for(target))

    async def edit_candidate(self, edits: tuple[ConfigEdit, ...]) -> None:
        """Stage edits, checked now as a device would check them at edit time.

        The emulated candidate is computed with :class:`~controller.model.DeviceConfig`, so
        only the paths it models can be staged (values are checked by the device's
        ``validate`` and at commit).

        Raises:
            RpcError: ``invalid-value`` for a path the model does not have.
            ValueError: an edit that cannot be rendered.
        """
        staged = (*self._staged, *edits)
        render_edits(staged)
        try:
            DeviceConfig().with_edits(staged)
        except ValueError as exc:
            raise RpcError(self.device, "invalid-value", str(exc)) from exc
        self._staged = staged

    async def validate(self, config: DeviceConfig) -> None:
        """Inline ``<validate>`` on the device (needs its :validate)."""
        await self._inner.validate(config)

    async def discard(self) -> None:
        """Drop the staged edits."""
        self._staged = ()

    async def lock_and_read_running(self) -> DeviceConfig:
        """Lock running, drop staged edits, read running (one after the other)."""
        await self.lock("candidate")
        await self.discard()
        return await self.get_running()

    async def load_candidate(
        self, config: DeviceConfig, edits: tuple[ConfigEdit, ...]
    ) -> DeviceConfig:
        """Validate on the device, stage the edits, read the emulated candidate back."""
        await self.validate(config)
        await self.edit_candidate(edits)
        return await self.get_candidate()

    async def commit(self, *, confirm_timeout: timedelta, persist_id: str) -> None:
        """Save running, apply the staged edits to it, arm the restore timer.

        Raises:
            RpcError: ``in-use`` when another persist-id is pending; the device's refusal
                of the edit (running unchanged).
            MissingCapabilityError: the device lacks :writable-running.
            ValueError: as ``ConfigSession.commit``.
        """
        seconds = _confirm_seconds(confirm_timeout, persist_id)
        self._inner._require(Capability.WRITABLE_RUNNING)
        emulation = self._pool.emulation
        pending = emulation.pending
        if pending is not None and pending.persist_id != persist_id:
            raise RpcError(self.device, "in-use", "another confirmed commit is pending")
        expires_at = self._pool.clock() + timedelta(seconds=seconds)
        reply = await self._inner.get_config("running")
        edits = _effective_edits(self._staged, parse_config(reply, device=self.device))
        if pending is not None:  # a follow-up confirmed commit: new edits, new timeout
            pending = dataclasses.replace(pending, expires_at=expires_at)
        else:
            pending = PendingEmulatedCommit(
                device=self.device,
                persist_id=persist_id,
                saved_xml=module_config(reply, device=self.device),
                saved=parse_config(reply, device=self.device),
                expires_at=expires_at,
            )
        # registered before the edit: if its reply is lost, a cancel must still restore
        fresh = emulation.pending is None
        self._pool.arm(pending, seconds, owner=self)
        if self._recorder is not None:
            # durable before the device changes: a controller killed after the edit must
            # find the saved configuration and the deadline in its journal
            try:
                await self._recorder(pending)
            except BaseException:
                if fresh:
                    self._pool.disarm()
                raise
        if not edits:
            self._staged = ()
            return
        rollback = Capability.ROLLBACK_ON_ERROR in self.device_capabilities
        try:
            await self._inner.edit_config(
                render_edits(edits),
                target="running",
                error_option=ErrorOption.ROLLBACK_ON_ERROR if rollback else None,
            )
        except RpcError:
            if fresh:
                if not rollback:  # stop-on-error may have applied part of the edit
                    await _restore_saved(self._inner, pending)
                self._pool.disarm()
            raise
        self._staged = ()

    async def confirm(self, persist_id: str) -> None:
        """Disarm the restore timer: the change stays.

        Raises:
            RpcError: ``invalid-value`` when no commit with that persist-id is pending.
        """
        self._pool.take_pending(persist_id)
        self._pool.disarm()

    async def cancel_commit(self, persist_id: str) -> None:
        """Restore the saved configuration now.

        Raises:
            RpcError: ``invalid-value`` when no commit with that persist-id is pending, or
                the device's refusal of the restore (the commit stays pending).
        """
        pending = self._pool.take_pending(persist_id)
        await _restore_saved(self._inner, pending)
        self._pool.disarm()
        self._staged = ()

    async def close(self) -> None:
        """Give the session back; staged edits are dropped. Never raises."""
        self._staged = ()
        await self._inner.close()


# --------------------------------------------------------------------------- the pool


@dataclass(frozen=True, slots=True)
class NetconfPoolSettings:
    """How :class:`NetconfClient` keeps sessions.

    Attributes:
        max_sessions_per_device: NETCONF sessions (SSH channels) leased at once per
            device; a lease beyond it waits up to the endpoint's timeout.
        idle_sessions_per_device: sessions kept open for reuse when given back.
        keepalive_interval: SSH keepalive period; a silent peer is dropped after
            ``keepalive_count_max`` unanswered ones.
        keepalive_count_max: see above.
        backoff_initial: wait after the first failed connect; doubles per failure.
        backoff_max: the longest wait between connect attempts.
        emulate_confirmed_commit: offer :class:`EmulatedConfirmedSession` for
            :writable-running devices without :candidate/:confirmed-commit.
        emulated_timer_scale: real seconds per second of an emulated confirm timeout
            (below 1 only for tests and a lab clock that runs fast).
        pipeline_requests: send the transaction's independent requests together
            (``lock_and_read_running``, ``load_candidate``: one round trip each instead of
            three); off for a server that mishandles several requests in one read.
    """

    max_sessions_per_device: int = 4
    idle_sessions_per_device: int = 1
    keepalive_interval: timedelta = timedelta(seconds=30)
    keepalive_count_max: int = 3
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(seconds=60)
    emulate_confirmed_commit: bool = True
    emulated_timer_scale: float = 1.0
    pipeline_requests: bool = True

    def __post_init__(self) -> None:
        if self.max_sessions_per_device < 1 or self.idle_sessions_per_device < 0:
            raise ValueError("max_sessions_per_device >= 1 and idle_sessions_per_device >= 0")
        if self.backoff_initial <= timedelta(0) or self.backoff_max < self.backoff_initial:
            raise ValueError("0 < backoff_initial <= backoff_max")
        if self.emulated_timer_scale <= 0 or self.keepalive_interval <= timedelta(0):
            raise ValueError("emulated_timer_scale and keepalive_interval must be positive")


@dataclass(frozen=True, slots=True)
class DeviceLinkStatus:
    """What the pool knows about one device's NETCONF link (for the API and the TUI)."""

    device: str
    connected: bool
    sessions_leased: int
    sessions_idle: int
    capabilities: frozenset[Capability]
    commit_mode: CommitMode | None  # None until a session was opened once
    consecutive_failures: int
    retry_at: datetime | None  # no connect attempt before this (backoff)
    last_error: Mapping[str, object] | None
    pending_emulated: PendingEmulatedCommit | None


def backoff_delay(
    failures: int, initial: timedelta, maximum: timedelta, jitter: float
) -> timedelta:
    """The wait before the next connect attempt after ``failures`` failures in a row.

    Exponential (``initial * 2**(failures-1)``, capped at ``maximum``), scaled by
    ``jitter`` in [0.5, 1] so that many devices failing together do not retry together.

    Args:
        failures: consecutive failures so far (>= 1).
        initial: the first wait.
        maximum: the cap.
        jitter: a number in [0, 1] (0 -> half the wait, 1 -> the whole wait).

    Returns:
        The wait.
    """
    base = min(maximum.total_seconds(), initial.total_seconds() * 2 ** min(failures - 1, 30))
    return timedelta(seconds=base * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0)))


class _DevicePool:
    """One device's SSH link, its idle and leased sessions, backoff and emulation state."""

    def __init__(
        self,
        device: Device,
        settings: NetconfPoolSettings,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        known_hosts: _KnownHostsCache,
    ) -> None:
        self.device = device
        self.settings = settings
        self.known_hosts = known_hosts
        self.clock = clock
        self._monotonic = monotonic
        self._link: _SshLink | None = None
        self._connecting: asyncio.Task[_SshLink] | None = None
        self._idle: list[_NetconfChannel] = []
        self.leased = 0
        self._slots = asyncio.Semaphore(settings.max_sessions_per_device)
        self._random = random.Random(device.name)  # noqa: S311 (jitter, not crypto)
        self.failures = 0
        self._retry_at: float | None = None
        self._retry_at_wall: datetime | None = None
        self.last_error: AdapterError | None = None
        self.capabilities: frozenset[Capability] | None = None
        self.emulation = _Emulation()
        self.closed = False

    @property
    def timeout(self) -> float:
        assert self.device.netconf is not None
        return self.device.netconf.timeout_seconds

    def status(self) -> DeviceLinkStatus:
        return DeviceLinkStatus(
            device=self.device.name,
            connected=self._link is not None and self._link.alive,
            sessions_leased=self.leased,
            sessions_idle=sum(1 for ch in self._idle if ch.alive),
            capabilities=self.capabilities or frozenset(),
            commit_mode=None if self.capabilities is None else commit_mode(self.capabilities),
            consecutive_failures=self.failures,
            retry_at=self._retry_at_wall if self._backing_off() else None,
            last_error=None if self.last_error is None else self.last_error.as_dict(),
            pending_emulated=self.emulation.pending,
        )

    # ------------------------------------------------------------------ leasing

    def _backing_off(self) -> bool:
        return self._retry_at is not None and self._monotonic() < self._retry_at

    def _backoff_error(self) -> AdapterError:
        last = self.last_error
        assert last is not None
        assert self._retry_at is not None
        wait = self._retry_at - self._monotonic()
        kind = (
            type(last)
            if type(last) in {ConnectError, AuthError, AdapterTimeoutError}
            else (ConnectError)
        )
        return kind(
            self.device.name,
            f"not reconnecting for {wait:.1f} s after {self.failures} failed attempt(s); "
            f"last: {str(last).removeprefix(self.device.name + ': ')}",
        )

    def _record_failure(self, error: AdapterError) -> None:
        self.failures += 1
        self.last_error = error
        s = self.settings
        jitter = self._random.random()
        delay = backoff_delay(self.failures, s.backoff_initial, s.backoff_max, jitter)
        self._retry_at = self._monotonic() + delay.total_seconds()
        self._retry_at_wall = self.clock() + delay
        logger.warning(
            "%s: NETCONF connect failed (%d in a row), next attempt in %.1f s: %s",
            self.device.name,
            self.failures,
            delay.total_seconds(),
            error,
        )

    async def _ensure_link(self) -> _SshLink:
        if self._link is not None and self._link.alive:
            return self._link
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        task = self._connecting
        try:
            # shielded: one waiter's cancellation must not abort the others' connect
            return await asyncio.shield(task)
        finally:
            if task.done() and self._connecting is task:
                self._connecting = None

    async def _connect(self) -> _SshLink:
        if self._link is not None:
            await self._link.close()
            self._link = None
        endpoint = self.device.netconf
        assert endpoint is not None
        link = _SshLink(self.device, endpoint, self.known_hosts)
        s = self.settings
        try:
            await link.connect(s.keepalive_interval, s.keepalive_count_max)
        except AdapterError as exc:
            self._record_failure(exc)
            raise
        self.failures = 0
        self._retry_at = None
        self._link = link
        return link

    async def lease(self) -> NetconfSession:
        if self.closed:
            raise ConnectError(self.device.name, "the NETCONF client is closed")
        if self._backing_off():
            raise self._backoff_error()
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except TimeoutError:
            raise AdapterTimeoutError(
                self.device.name,
                f"all {self.settings.max_sessions_per_device} NETCONF sessions are busy",
            ) from None
        try:
            channel = await self._channel()
        except BaseException:
            self._slots.release()
            raise
        self.leased += 1
        self.capabilities = channel.capabilities
        return NetconfSession(
            self.device.name,
            channel,
            rpc_timeout=self.timeout,
            on_close=self._release,
            pipeline=self.settings.pipeline_requests,
        )

    async def _channel(self) -> _NetconfChannel:
        while self._idle:
            channel = self._idle.pop()
            if channel.alive:
                return channel
        link = await self._ensure_link()
        try:
            return await link.open_channel()
        except AdapterError as exc:
            # the connection itself may be dead although no one noticed yet
            await link.close()
            self._record_failure(exc)
            raise

    async def _release(self, channel: _NetconfChannel) -> None:
        self.leased -= 1
        self._slots.release()
        reusable = (
            not self.closed
            and channel.alive
            and not channel.locked_datastores
            and not channel.dirty
            and not channel.subscribed
            and len(self._idle) < self.settings.idle_sessions_per_device
        )
        if reusable:
            self._idle.append(channel)
        else:
            await channel.aclose()

    # ------------------------------------------------------------------ emulation

    def arm(self, pending: PendingEmulatedCommit, seconds: float, *, owner: object) -> None:
        """Make ``pending`` the device's pending commit and (re)start its timer."""
        emulation = self.emulation
        emulation.disarm()
        emulation.pending = pending
        if isinstance(owner, EmulatedConfirmedSession):
            emulation.owner = weakref.ref(owner)
        loop = asyncio.get_running_loop()
        emulation.timer = loop.call_later(
            seconds * self.settings.emulated_timer_scale, self._expire, pending.persist_id
        )

    def disarm(self) -> None:
        """No commit pending any more (confirmed, cancelled or never applied)."""
        self.emulation.disarm()
        self.emulation.pending = None
        self.emulation.owner = None

    def adopt(self, commit: PendingEmulatedCommit) -> None:
        """Re-arm ``commit`` (recorded by an earlier process) as the pending one."""
        pending = self.emulation.pending
        if pending is not None and pending.persist_id != commit.persist_id:
            raise RpcError(commit.device, "in-use", "another confirmed commit is pending")
        remaining = max(0.0, (commit.expires_at - self.clock()).total_seconds())
        self.arm(commit, remaining, owner=None)

    def take_pending(self, persist_id: str) -> PendingEmulatedCommit:
        pending = self.emulation.pending
        if pending is None or pending.persist_id != persist_id:
            raise RpcError(
                self.device.name,
                "invalid-value",
                f"no confirmed commit is pending with persist-id {persist_id}",
            )
        return pending

    def _expire(self, persist_id: str) -> None:
        emulation = self.emulation
        emulation.timer = None
        if emulation.pending is None or emulation.pending.persist_id != persist_id:
            return
        if emulation.restoring is None or emulation.restoring.done():
            emulation.restoring = asyncio.ensure_future(self._restore_until_done(persist_id))

    async def _restore_until_done(self, persist_id: str) -> None:
        """The timer fired: restore, retrying with backoff while the commit is pending."""
        attempt = 0
        while not self.closed:
            pending = self.emulation.pending
            if pending is None or pending.persist_id != persist_id:
                return
            failure: AdapterError | None = None
            try:
                await self.restore_pending(pending)
            except AdapterError as exc:
                failure = exc
            if failure is None:
                logger.warning(
                    "%s: emulated confirmed commit %s expired: running restored",
                    self.device.name,
                    persist_id,
                )
                return
            attempt += 1
            self.emulation.restore_failures += 1
            self.emulation.last_restore_error = failure
            s = self.settings
            delay = backoff_delay(attempt, s.backoff_initial, s.backoff_max, 1.0)
            logger.error(
                "%s: restoring after an unconfirmed emulated commit failed (retry in %.1f s): %s",
                self.device.name,
                delay.total_seconds(),
                failure,
            )
            await asyncio.sleep(delay.total_seconds())

    async def restore_pending(self, pending: PendingEmulatedCommit) -> None:
        """Restore ``pending.saved_xml`` now over the owning session or a fresh lease."""
        owner = self.emulation.owner() if self.emulation.owner is not None else None
        if owner is not None and owner.netconf.alive:
            await _restore_saved(owner.netconf, pending)
        else:
            session = await self.lease()
            try:
                await _restore_saved(session, pending)
            finally:
                await session.close()
        if self.emulation.pending is pending:
            self.disarm()

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        pending = self.emulation.pending
        if pending is not None:
            failure: BaseException | None = None
            try:
                await asyncio.wait_for(self.restore_pending(pending), self.timeout)
            except (AdapterError, TimeoutError) as exc:
                failure = exc
            if failure is not None:
                logger.error(
                    "%s: could not restore the unconfirmed emulated commit %s at close: %s",
                    self.device.name,
                    pending.persist_id,
                    failure,
                )
            self.disarm()
        self.closed = True
        if self.emulation.restoring is not None:
            self.emulation.restoring.cancel()
        for channel in self._idle:
            await channel.aclose()
        self._idle.clear()
        if self._connecting is not None:
            self._connecting.cancel()
        if self._link is not None:
            await self._link.close()
            self._link = None


class NetconfClient:
    """The NETCONF session pool of one controller process.

    Args:
        devices: the inventory (devices without a NETCONF endpoint are ignored).
        settings: pool behaviour.
        clock: the current UTC time (``expires_at`` of emulated commits, ``retry_at``).
        monotonic: seconds from a monotonic clock (backoff).

    Use ``open_session`` where the controller takes a session opener (the change
    transaction, the sensor). Every method raises only :mod:`controller.errors`.
    """

    def __init__(
        self,
        devices: Iterable[Device],
        settings: NetconfPoolSettings | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or NetconfPoolSettings()
        self._clock = clock
        known_hosts = _KnownHostsCache()
        self._pools = {
            d.name: _DevicePool(d, self.settings, clock, monotonic, known_hosts)
            for d in devices
            if d.netconf is not None
        }

    def _pool(self, device: str) -> _DevicePool:
        pool = self._pools.get(device)
        if pool is None:
            raise MissingCapabilityError(device, "netconf (no NETCONF endpoint in the inventory)")
        return pool

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices the pool serves."""
        return tuple(sorted(self._pools))

    async def open_session(self, device: str) -> ConfigSession:
        """Lease a session for a change transaction or the sensor.

        A :writable-running device without :candidate/:confirmed-commit gets an
        :class:`EmulatedConfirmedSession` (unless emulation is off); every other device
        a :class:`NetconfSession`. ``close()`` gives it back.

        Raises:
            MissingCapabilityError: the device has no NETCONF endpoint.
            ConnectError, AuthError, AdapterTimeoutError, ProtocolError: as
                :func:`open_session`, or at once (same type) while backing off after a
                failed connect; AdapterTimeoutError also when all sessions are busy.
        """
        pool = self._pool(device)
        session = await pool.lease()
        if (
            self.settings.emulate_confirmed_commit
            and commit_mode(session.capabilities) is CommitMode.EMULATED
        ):
            return EmulatedConfirmedSession(session, pool)
        return session

    async def open_netconf_session(self, device: str) -> NetconfSession:
        """Lease a plain :class:`NetconfSession` (generic operations, no emulation).

        Raises:
            As :meth:`open_session`.
        """
        return await self._pool(device).lease()

    @contextlib.asynccontextmanager
    async def session(self, device: str) -> AsyncIterator[NetconfSession]:
        """``async with client.session("r1") as s:`` a leased :class:`NetconfSession`."""
        leased = await self.open_netconf_session(device)
        try:
            yield leased
        finally:
            await leased.close()

    async def subscribe(
        self,
        device: str,
        *,
        stream: str | None = None,
        filter: Filter | None = None,
    ) -> NotificationStream:
        """Subscribe to a device's notifications on a session of its own.

        Closing the stream ends that session. See :meth:`NetconfSession.subscribe`.
        """
        leased = await self.open_netconf_session(device)
        try:
            return await leased.subscribe(stream=stream, filter=filter)
        except BaseException:
            await leased.close()
            raise

    def status(self, device: str) -> DeviceLinkStatus:
        """The pool's view of one device's link."""
        return self._pool(device).status()

    def pending_emulated_commit(self, device: str) -> PendingEmulatedCommit | None:
        """The device's pending emulated confirmed commit, for the journal."""
        return self._pool(device).emulation.pending

    def adopt_emulated_commit(self, commit: PendingEmulatedCommit) -> None:
        """Re-arm a journaled emulated commit after a restart.

        The timer fires at ``commit.expires_at`` (at once if that has passed), and
        ``confirm``/``cancel_commit`` with its persist-id work as before the restart.

        Raises:
            MissingCapabilityError: the device has no NETCONF endpoint.
            RpcError: ``in-use`` when another emulated commit is pending on the device.
        """
        self._pool(commit.device).adopt(commit)

    async def close(self) -> None:
        """Restore pending emulated commits, close every session and connection."""
        await asyncio.gather(*(pool.close() for pool in self._pools.values()))
