"""The embedded lab's NETCONF server: real NETCONF (RFC 6241) over SSH (RFC 6242).

One :class:`LabNetconfServer` is one emulated device: its own SSH listener (usually on its
own loopback address, 127.x.y.z), its running and candidate datastores validated against
the ``netpilot-lab`` YANG module, locks, and confirmed commits. Hundreds of them share one
asyncio event loop: there is no thread per connection, the schema is parsed once and
shared, and an idle device costs a listening socket and two small XML trees.

What a client sees (modelled on Debian's netconfd, the project's reference server):

- ``<hello>`` with a session-id and the capabilities base:1.0, base:1.1, :candidate,
  :validate:1.1, :confirmed-commit:1.1, :rollback-on-error and the module capability;
  end-of-message framing until both hellos are exchanged, then chunked framing if both
  sides announced base:1.1;
- ``get``, ``get-config``, ``edit-config`` (candidate only: :writable-running is not
  announced), ``lock``/``unlock``, ``validate``, ``commit`` (plain, confirmed, persist),
  ``cancel-commit``, ``discard-changes``, ``close-session``, ``kill-session``;
- RFC 5277 notifications (:notification, :interleave): ``create-subscription`` on the
  ``NETCONF`` stream with an optional subtree filter and stopTime (no replay), then
  ``<notification>`` messages with the device clock's ``eventTime``: the module's
  ``link-state-change``, ``power-state-change`` and ``config-change`` (:meth:`notify`);
- ``<rpc-error>`` replies with error-type, error-tag, error-severity, error-app-tag,
  error-path (``npl:`` XPath), error-message (``xml:lang="en"``) and error-info.

Malformed framing or XML never takes the server down: a broken message whose message-id
can be recovered gets a ``malformed-message`` error, anything else closes that session only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias, TypeVar
from xml.sax.saxutils import escape, unescape

import asyncssh

from lab.backend import NetconfBackend
from lab.datastore import (
    NETCONF_BASE_NS,
    DatastoreError,
    DefaultOperation,
    EditTestOption,
    ErrorOption,
    ErrorTag,
    ErrorType,
    RpcError,
    check_datastore,
    copy_datastore,
    datastores_equal,
    edit_config,
    empty_datastore,
    filter_subtree,
    validate_datastore,
)
from lab.yang_schema import Schema

_LOG = logging.getLogger(__name__)

BASE_1_0 = "urn:ietf:params:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
PROTOCOL_CAPABILITIES: tuple[str, ...] = (
    BASE_1_0,
    BASE_1_1,
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
)
NOTIFICATION_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
_CREATE_SUBSCRIPTION = f"{{{NOTIFICATION_NS}}}create-subscription"
DEFAULT_CONFIRM_TIMEOUT_S = 600
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_READ_SIZE = 65536
_EOM = b"]]>]]>"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_BASE = f"{{{NETCONF_BASE_NS}}}"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_MAX_CHUNK_SIZE = 4294967295
_CHUNK_HEADER_MAX = 2 + 10 + 1  # "\n#" + up to ten digits + "\n"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_MESSAGE_ID = re.compile(
    rb"""<(?:[A-Za-z_][\w.\-]*:)?rpc\b[^>]*?\smessage-id\s*=\s*(?:"([^"<]*)"|'([^'<]*)')"""
)
_DATASTORES = ("running", "candidate")
# a device with only :writable-running (netconfd --target=running): no candidate, no
# confirmed commit
_RUNNING_ONLY_CAPABILITIES: tuple[str, ...] = tuple(
    uri
    for uri in PROTOCOL_CAPABILITIES
    if ":candidate:" not in uri and ":confirmed-commit:" not in uri
) + ("urn:ietf:params:netconf:capability:writable-running:1.0",)

_EnumT = TypeVar("_EnumT", bound=StrEnum)

AuthorizedKeys: TypeAlias = (
    "str | list[str] | asyncssh.SSHAuthorizedKeys | Sequence[asyncssh.SSHKey]"
)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _protocol_name(tag: str) -> str | None:
    """The local name of a NETCONF protocol element, or None for another namespace.

    Protocol elements without a namespace are accepted as in the base namespace: ncclient
    users commonly send ``<config>``/``<filter>`` unqualified under an ``nc:``-prefixed
    ``<rpc>``, and netconfd accepts that too.
    """
    if tag.startswith(_BASE):
        return tag[len(_BASE) :]
    return None if tag.startswith("{") else tag


def _protocol_child(parent: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in parent if _protocol_name(child.tag) == name), None)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _protocol_error(
    tag: ErrorTag,
    message: str,
    *,
    info: tuple[tuple[str, str], ...] = (),
    app_tag: str | None = None,
    error_type: ErrorType = ErrorType.PROTOCOL,
) -> DatastoreError:
    return DatastoreError(RpcError(error_type, tag, message, app_tag=app_tag, info=info))


# --------------------------------------------------------------------------------------
# Framing (RFC 6242 §4)
# --------------------------------------------------------------------------------------


class _FramingError(Exception):
    """The byte stream cannot be split into messages any more: the session must end."""


class _MessageReader:
    """Splits the incoming byte stream into NETCONF messages.

    End-of-message framing (``]]>]]>``) until :attr:`chunked` is set after the hellos;
    then chunked framing (``\\n#<size>\\n<data>...\\n##\\n``).
    """

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._chunks: list[bytes] = []
        self._chunked_size = 0
        self._limit = limit
        self.chunked = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_message(self) -> bytes | None:
        """The next complete message, or None until more bytes arrive.

        Raises:
            _FramingError: the framing is broken or a message exceeds the size limit.
        """
        return self._next_chunked() if self.chunked else self._next_eom()

    def _next_eom(self) -> bytes | None:
        end = self._buffer.find(_EOM)
        if end < 0:
            if len(self._buffer) > self._limit:
                raise _FramingError(f"message larger than {self._limit} bytes")
            return None
        message = bytes(self._buffer[:end])
        del self._buffer[: end + len(_EOM)]
        return message

    def _next_chunked(self) -> bytes | None:
        buffer = self._buffer
        while True:
            if len(buffer) < 4:
                if not _is_chunk_start(bytes(buffer)):
                    raise _FramingError("expected a chunk header")
                return None
            if buffer[:4] == b"\n##\n":
                if not self._chunks:
                    raise _FramingError("end-of-chunks without a chunk")
                del buffer[:4]
                message = b"".join(self._chunks)
                self._chunks = []
                self._chunked_size = 0
                return message
            header = self._chunk_header()
            if header is None:
                return None
            start, size = header
            if len(buffer) < start + size:
                return None
            self._chunks.append(bytes(buffer[start : start + size]))
            self._chunked_size += size
            del buffer[: start + size]

    def _chunk_header(self) -> tuple[int, int] | None:
        """(offset of the chunk data, chunk size), or None if the header is incomplete."""
        buffer = self._buffer
        if buffer[:2] != b"\n#":
            raise _FramingError("expected a chunk header")
        newline = buffer.find(b"\n", 2, _CHUNK_HEADER_MAX)
        if newline < 0:
            if len(buffer) >= _CHUNK_HEADER_MAX:
                raise _FramingError("chunk size too long")
            return None
        digits = bytes(buffer[2:newline])
        if not digits.isdigit() or digits.startswith(b"0") or int(digits) > _MAX_CHUNK_SIZE:
            raise _FramingError(f"invalid chunk size {digits!r}")
        size = int(digits)
        if self._chunked_size + size > self._limit:
            raise _FramingError(f"message larger than {self._limit} bytes")
        return newline + 1, size


def _is_chunk_start(head: bytes) -> bool:
    """Whether ``head`` (under four bytes) can begin a chunk header or end-of-chunks."""
    return head[:2] == b"\n#"[: len(head[:2])] and (len(head) < 3 or head[2] in b"#123456789")


# --------------------------------------------------------------------------------------
# XML output
# --------------------------------------------------------------------------------------


def _write_element(element: ET.Element, parent_namespace: str, out: list[str]) -> None:
    """Serialise ``element`` with default-namespace declarations where the namespace changes."""
    namespace, local = _split(element.tag)
    out.append(f"<{local}")
    if namespace != parent_namespace:
        out.append(f' xmlns="{_attr(namespace)}"')
    for index, (key, value) in enumerate(element.attrib.items()):
        out.append(_render_attribute(index, key, value))
    children = list(element)
    if children:
        out.append(">")
        for child in children:
            _write_element(child, namespace, out)
        out.append(f"</{local}>")
    elif element.text:
        out.append(f">{escape(element.text)}</{local}>")
    else:
        out.append("/>")


def _render_attribute(index: int, key: str, value: str) -> str:
    namespace, local = _split(key)
    if not namespace:
        return f' {local}="{_attr(value)}"'
    if namespace == _XML_NS:
        return f' xml:{local}="{_attr(value)}"'
    return f' xmlns:a{index}="{_attr(namespace)}" a{index}:{local}="{_attr(value)}"'


def _render_children(element: ET.Element) -> str:
    out: list[str] = []
    for child in element:
        _write_element(child, NETCONF_BASE_NS, out)
    return "".join(out)


def _render_errors(errors: Sequence[RpcError], schema: Schema) -> str:
    out: list[str] = []
    for error in errors:
        out.append("<rpc-error>")
        out.append(f"<error-type>{error.error_type.value}</error-type>")
        out.append(f"<error-tag>{error.tag.value}</error-tag>")
        out.append(f"<error-severity>{error.severity.value}</error-severity>")
        if error.app_tag:
            out.append(f"<error-app-tag>{escape(error.app_tag)}</error-app-tag>")
        if error.path:
            # declare the prefix the path uses, so a client can resolve it (as netconfd does)
            out.append(
                f'<error-path xmlns:{schema.prefix}="{_attr(schema.namespace)}">'
                f"{escape(error.path)}</error-path>"
            )
        out.append(f'<error-message xml:lang="en">{escape(error.message)}</error-message>')
        if error.info:
            out.append("<error-info>")
            out.extend(f"<{name}>{escape(text)}</{name}>" for name, text in error.info)
            out.append("</error-info>")
        out.append("</rpc-error>")
    return "".join(out)


def _reply(attributes: Mapping[str, str], body: str) -> bytes:
    rendered = "".join(
        _render_attribute(index, key, value)
        for index, (key, value) in enumerate(attributes.items())
    )
    return (
        f'{_XML_DECLARATION}<rpc-reply xmlns="{NETCONF_BASE_NS}"{rendered}>{body}</rpc-reply>'
    ).encode()


# --------------------------------------------------------------------------------------
# RPC parameter parsing
# --------------------------------------------------------------------------------------


def _params(operation: ET.Element, allowed: frozenset[str]) -> dict[str, ET.Element]:
    """The parameters of an operation by local name; unknown ones are refused."""
    params: dict[str, ET.Element] = {}
    for child in operation:
        name = _local(child.tag)
        if _protocol_name(child.tag) not in allowed:
            raise _protocol_error(
                ErrorTag.UNKNOWN_ELEMENT,
                f"unexpected parameter '{name}' in <{_local(operation.tag)}>",
                info=(("bad-element", name),),
            )
        if name in params:
            raise _protocol_error(
                ErrorTag.BAD_ELEMENT,
                f"parameter '{name}' given twice",
                info=(("bad-element", name),),
            )
        params[name] = child
    return params


def _required(params: Mapping[str, ET.Element], name: str) -> ET.Element:
    found = params.get(name)
    if found is None:
        raise _protocol_error(
            ErrorTag.MISSING_ELEMENT,
            f"missing parameter '{name}'",
            info=(("bad-element", name),),
        )
    return found


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()


def _datastore_choice(param: ET.Element, allowed: Sequence[str]) -> str:
    """The datastore named inside ``<source>``/``<target>``."""
    choices = list(param)
    name = _local(param.tag)
    if len(choices) != 1 or _protocol_name(choices[0].tag) is None:
        raise _protocol_error(
            ErrorTag.BAD_ELEMENT,
            f"<{name}> must hold exactly one datastore element",
            info=(("bad-element", name),),
        )
    choice = _local(choices[0].tag)
    if choice in allowed:
        return choice
    if choice in ("running", "candidate", "startup", "url", "config"):
        raise _protocol_error(
            ErrorTag.OPERATION_NOT_SUPPORTED,
            f"<{choice}/> is not supported as <{name}> of this operation on this device",
            info=(("bad-element", choice),),
        )
    raise _protocol_error(
        ErrorTag.BAD_ELEMENT,
        f"unknown datastore <{choice}/> in <{name}>",
        info=(("bad-element", choice),),
    )


def _enum_param(
    params: Mapping[str, ET.Element], name: str, choices: type[_EnumT], default: _EnumT
) -> _EnumT:
    element = params.get(name)
    if element is None:
        return default
    try:
        return choices(_text(element))
    except ValueError:
        raise _protocol_error(
            ErrorTag.INVALID_VALUE,
            f"'{_text(element)}' is not a valid {name}",
            info=(("bad-element", name),),
        ) from None


# --------------------------------------------------------------------------------------
# Sessions and the server
# --------------------------------------------------------------------------------------


class _Session:
    """One NETCONF session (one SSH channel running the netconf subsystem)."""

    def __init__(self, session_id: int, process: asyncssh.SSHServerProcess[bytes]) -> None:
        self.session_id = session_id
        self.process = process
        self.task: asyncio.Task[object] | None = asyncio.current_task()
        self.reader = _MessageReader()
        self.ended = False
        self.subscribed = False
        self.notification_filter: ET.Element | None = None
        self.stop_time: datetime | None = None
        # replies to the requests of one read, sent together (pipelined requests get their
        # replies in one SSH packet, as a router's NETCONF agent sends them)
        self.outbox: list[bytes] = []


@dataclass(slots=True, eq=False)
class _PendingCommit:
    """A confirmed commit waiting for its confirmation (RFC 6241 §8.4)."""

    rollback: ET.Element  # running as it was before the first confirmed commit
    persist: str | None  # the <persist> token, if the commit may be confirmed elsewhere
    session_id: int  # the issuing session (matters only without persist)
    timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


class _SshServer(asyncssh.SSHServer):
    """Authenticates SSH clients of one lab device and tracks its connections."""

    def __init__(
        self, users: Mapping[str, str], connections: set[asyncssh.SSHServerConnection]
    ) -> None:
        self._users = users
        self._connections = connections
        self._connection: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connection = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connection is not None:
            self._connections.discard(self._connection)

    def begin_auth(self, username: str) -> bool:
        return True  # every user authenticates; there is no anonymous access

    def password_auth_supported(self) -> bool:
        return bool(self._users)

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._users.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


RpcHandler = Callable[[_Session, ET.Element], str]


class LabNetconfServer:
    """An emulated device's NETCONF server (candidate + confirmed-commit device).

    Args:
        name: the device name (for logs).
        schema: the ``netpilot-lab`` schema, parsed once and shared between devices.
        backend: the device behind the server (operational state, commit hooks).
        initial_config: the running configuration at start (a ``<config>`` element in
            the NETCONF base namespace); empty if None.
        confirm_time_scale: real seconds per second of ``confirm-timeout``; below 1 for a
            lab clock that runs faster than real time (and for fast tests).
        gate: awaited before the ``<hello>`` and before every reply; a lab device uses it
            to be unreachable (it never returns until reachable) or slow (it sleeps).
        clock: the device clock, for notifications' ``eventTime`` (default: UTC now).
        writable_running: be a device with only :writable-running (as netconfd
            ``--target=running``): ``edit-config`` changes running directly, and there is no
            candidate, ``commit``, ``cancel-commit`` or ``discard-changes``. netpilot
            emulates the confirmed commit for such a device.
        commit_latency: wall seconds a ``<commit>`` (confirmed or confirming) takes before
            its reply, as on a real router, where a commit costs 100 ms to seconds; the
            other sessions and devices are served meanwhile. Settable at any time.

    ``backend.running_changed`` is called after every later change of running, not for
    ``initial_config``.

    Raises:
        DatastoreError: ``initial_config`` is not valid against ``schema``.
    """

    def __init__(
        self,
        name: str,
        schema: Schema,
        backend: NetconfBackend,
        *,
        initial_config: ET.Element | None = None,
        confirm_time_scale: float = 1.0,
        gate: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] | None = None,
        writable_running: bool = False,
        commit_latency: float = 0.0,
    ) -> None:
        self._gate = gate
        self._writable_running = writable_running
        self.commit_latency = commit_latency
        self._clock = clock or (lambda: datetime.now(UTC))
        self.notifications_sent = 0
        if confirm_time_scale <= 0:
            raise ValueError("confirm_time_scale must be positive")
        self.name = name
        self._schema = schema
        self._backend = backend
        self._confirm_time_scale = confirm_time_scale
        running = empty_datastore()
        if initial_config is not None:
            running.extend(copy_datastore(initial_config))
            check_datastore(schema, running)
        self._running = running
        self._candidate = copy_datastore(running)
        self._valid_candidate: ET.Element | None = None  # the candidate tree last validated
        # sessions whose edits the candidate holds since it last equalled running
        self._candidate_editors: set[int] = set()
        self._locks: dict[str, int] = {}
        self._sessions: dict[int, _Session] = {}
        self._next_session_id = 1
        self._pending: _PendingCommit | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._handlers: dict[str, RpcHandler] = {
            "get": self._rpc_get,
            "get-config": self._rpc_get_config,
            "edit-config": self._rpc_edit_config,
            "lock": self._rpc_lock,
            "unlock": self._rpc_unlock,
            "validate": self._rpc_validate,
            "commit": self._rpc_commit,
            "cancel-commit": self._rpc_cancel_commit,
            "discard-changes": self._rpc_discard_changes,
            "close-session": self._rpc_close_session,
            "kill-session": self._rpc_kill_session,
        }

    def notify(self, name: str, values: Mapping[str, str]) -> int:
        """Send notification ``name`` of the module to every subscribed session.

        Args:
            name: a ``notification`` of the module (e.g. ``link-state-change``).
            values: its leaves, by name, as text.

        Returns:
            How many sessions it was sent to (after their filters).

        Raises:
            KeyError: the module has no such notification.
        """
        if name not in self._schema.notifications:
            raise KeyError(f"the module has no notification {name!r}")
        now = self._clock()
        namespace = self._schema.namespace
        content = ET.Element(f"{{{namespace}}}{name}")
        for key, value in values.items():
            ET.SubElement(content, f"{{{namespace}}}{key}").text = value
        body = _render_children(_wrap_one(content))
        event_time = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
        payload = (
            f'{_XML_DECLARATION}<notification xmlns="{NOTIFICATION_NS}">'
            f"<eventTime>{event_time}</eventTime>{body}</notification>"
        ).encode()
        sent = 0
        for session in list(self._sessions.values()):
            if not session.subscribed or session.ended:
                continue
            if session.stop_time is not None and now > session.stop_time:
                session.subscribed = False
                continue
            if session.notification_filter is not None:
                holder = ET.Element("notification")
                holder.append(content)
                selected = filter_subtree(
                    self._notification_schema(), holder, session.notification_filter
                )
                if not len(selected):
                    continue
            self._write(session, payload)
            sent += 1
        self.notifications_sent += sent
        return sent

    def _notification_schema(self) -> Schema:
        return Schema(
            module=self._schema.module,
            namespace=self._schema.namespace,
            prefix=self._schema.prefix,
            revision=self._schema.revision,
            children={node.tag: node for node in self._schema.notifications.values()},
        )

    # -- public API ------------------------------------------------------------------

    @property
    def running(self) -> ET.Element:
        """A copy of the running datastore (``<config>``)."""
        return copy_datastore(self._running)

    @property
    def candidate(self) -> ET.Element:
        """A copy of the candidate datastore (``<config>``)."""
        return copy_datastore(self._candidate)

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The capabilities announced in the server ``<hello>``."""
        if self._writable_running:
            return (*_RUNNING_ONLY_CAPABILITIES, self._schema.capability)
        return (*PROTOCOL_CAPABILITIES, self._schema.capability)

    @property
    def writable_running(self) -> bool:
        """Whether the device has only :writable-running (no candidate, no confirmed commit).

        Setting it changes what sessions opened afterwards are offered (their ``<hello>``);
        a lab test uses it to turn one device of a running lab into such a device.
        """
        return self._writable_running

    @writable_running.setter
    def writable_running(self, value: bool) -> None:
        self._writable_running = value
        self._reset_candidate()

    @property
    def _datastores(self) -> tuple[str, ...]:
        return ("running",) if self._writable_running else _DATASTORES

    @property
    def confirmed_commit_pending(self) -> bool:
        """Whether a confirmed commit awaits confirmation."""
        return self._pending is not None

    @property
    def listening(self) -> bool:
        """Whether :meth:`start` has bound the listener and :meth:`stop` has not closed it."""
        return self._acceptor is not None

    @property
    def session_ids(self) -> tuple[int, ...]:
        """The ids of the open NETCONF sessions."""
        return tuple(self._sessions)

    async def start(
        self,
        host: str,
        port: int,
        *,
        host_key: asyncssh.SSHKey | str | Path,
        users: Mapping[str, str],
        authorized_client_keys: AuthorizedKeys | None = None,
    ) -> int:
        """Listen for SSH clients on ``host``:``port``.

        Args:
            host: the address to bind, e.g. the device's own ``127.x.y.z``.
            port: the TCP port; 0 lets the OS choose.
            host_key: the SSH host key (an asyncssh private key or a key file path).
            users: username -> password for password authentication.
            authorized_client_keys: public keys accepted for any user: an
                authorized_keys file path (or list of paths), an
                ``asyncssh.SSHAuthorizedKeys``, or a sequence of asyncssh keys.

        Returns:
            The bound port.

        Raises:
            RuntimeError: the server is already listening.
            OSError: the address cannot be bound.
        """
        if self._acceptor is not None:
            raise RuntimeError(f"{self.name}: the NETCONF server is already listening")
        self._acceptor = await asyncssh.create_server(
            lambda: _SshServer(dict(users), self._connections),
            host,
            port,
            server_host_keys=[host_key],
            authorized_client_keys=_authorized_keys(authorized_client_keys),
            process_factory=self._serve,
            encoding=None,
            line_editor=False,
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
        )
        bound = self._acceptor.get_port()
        _LOG.debug("%s: NETCONF listening on %s:%d", self.name, host, bound)
        return bound

    async def stop(self) -> None:
        """Stop listening, end every session and close every connection.

        Like a device that powers off, a confirmed commit still awaiting confirmation is
        rolled back (RFC 6241 §8.4.1), with ``backend.running_changed`` called.
        """
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        if self._pending is not None:
            self._revert_confirmed_commit("server stopping")
        tasks = []
        for session in list(self._sessions.values()):
            self._end_session(session)
            if session.task is not None and session.task is not asyncio.current_task():
                session.task.cancel()
                tasks.append(session.task)
        for connection in list(self._connections):
            connection.close()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for connection in list(self._connections):
            await connection.wait_closed()
        # asyncssh aborts the transport with call_soon and asyncio closes the socket one
        # callback later: let those run, so no socket outlives stop()
        for _ in range(2):
            await asyncio.sleep(0)

    # -- session handling ------------------------------------------------------------

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run one SSH session channel: the netconf subsystem, or a refusal."""
        if process.subsystem != "netconf":
            process.stderr.write(b"this device serves only the 'netconf' SSH subsystem\n")
            process.exit(1)
            return
        session = _Session(self._next_session_id, process)
        self._next_session_id += 1
        self._sessions[session.session_id] = session
        _LOG.debug("%s: session %d opened", self.name, session.session_id)
        try:
            await self._run_session(session)
        except (_FramingError, asyncssh.Error, OSError) as exc:
            _LOG.info("%s: session %d closed: %s", self.name, session.session_id, exc)
        except Exception:  # noqa: BLE001 - one broken session must never take the device down
            _LOG.exception("%s: session %d failed", self.name, session.session_id)
        finally:
            self._end_session(session)
            with contextlib.suppress(asyncssh.Error, OSError):
                process.exit(0)

    async def _run_session(self, session: _Session) -> None:
        if self._gate is not None:
            await self._gate()
        await self._send(session, self._hello(session.session_id))
        hello_seen = False
        while True:
            data = await session.process.stdin.read(_READ_SIZE)
            if not data:
                return
            session.reader.feed(data)
            while (message := session.reader.next_message()) is not None:
                if not hello_seen:
                    if not self._accept_hello(session, message):
                        return
                    hello_seen = True
                elif not await self._handle_message(session, message):
                    await self._flush(session)
                    return
            await self._flush(session)

    def _hello(self, session_id: int) -> bytes:
        capabilities = "".join(
            f"<capability>{escape(uri)}</capability>" for uri in self.capabilities
        )
        return (
            f'{_XML_DECLARATION}<hello xmlns="{NETCONF_BASE_NS}"><capabilities>{capabilities}'
            f"</capabilities><session-id>{session_id}</session-id></hello>"
        ).encode()

    def _accept_hello(self, session: _Session, message: bytes) -> bool:
        """Check the client ``<hello>`` and pick the framing; False ends the session."""
        hello = self._parse(message)
        if hello is None or _protocol_name(hello.tag) != "hello":
            _LOG.info("%s: session %d: no client <hello>", self.name, session.session_id)
            return False
        if _protocol_child(hello, "session-id") is not None:
            # RFC 6241 §8.1: a client <hello> must not carry a session-id
            _LOG.info(
                "%s: session %d: client <hello> has a session-id", self.name, session.session_id
            )
            return False
        capabilities = _protocol_child(hello, "capabilities")
        offered = {
            _text(capability)
            for capability in (capabilities if capabilities is not None else ())
            if _protocol_name(capability.tag) == "capability"
        }
        if BASE_1_1 in offered:
            session.reader.chunked = True
        elif BASE_1_0 not in offered:
            _LOG.info("%s: session %d: no common base version", self.name, session.session_id)
            return False
        return True

    def _parse(self, message: bytes) -> ET.Element | None:
        if _DOCTYPE.search(message):
            return None  # no DTDs in NETCONF, and none to expand entities from
        try:
            # expat never fetches external entities; DTDs are refused just above
            return ET.fromstring(message.strip())  # noqa: S314
        except ET.ParseError:
            return None

    async def _handle_message(self, session: _Session, message: bytes) -> bool:
        """Answer one ``<rpc>``; False ends the session."""
        if not message.strip():
            return True
        rpc = self._parse(message)
        if rpc is None or rpc.tag != f"{_BASE}rpc":
            message_id = rpc.get("message-id") if rpc is not None else _recover_message_id(message)
            if message_id is None:
                _LOG.info("%s: session %d: unparsable message", self.name, session.session_id)
                return False
            error = RpcError(ErrorType.RPC, ErrorTag.MALFORMED_MESSAGE, "malformed <rpc> message")
            await self._send(
                session, _reply({"message-id": message_id}, _render_errors([error], self._schema))
            )
            return True
        attributes = dict(rpc.attrib)
        if "message-id" not in attributes:
            error = RpcError(
                ErrorType.RPC,
                ErrorTag.MISSING_ATTRIBUTE,
                "<rpc> has no message-id attribute",
                info=(("bad-attribute", "message-id"), ("bad-element", "rpc")),
            )
            await self._send(session, _reply(attributes, _render_errors([error], self._schema)))
            return True
        body, keep_open = self._dispatch(session, rpc)
        if self.commit_latency > 0 and len(rpc) == 1 and _protocol_name(rpc[0].tag) == "commit":
            await self._flush(session)  # the replies before it are not held up
            await asyncio.sleep(self.commit_latency)
        if self._gate is not None:
            # the device's reachability and slowness (lab faults) hold this reply. The
            # replies to the earlier requests of the same read wait with it and leave in
            # one write at the end of the read: flushing them first cost pipelined
            # requests one write (two SSH packets) per reply instead of one per read,
            # although the gate almost never waits; a client waits for all of them anyway
            await self._gate()
        session.outbox.append(_reply(attributes, body))  # sent at the end of the read
        return keep_open

    def _dispatch(self, session: _Session, rpc: ET.Element) -> tuple[str, bool]:
        """Run the operation of ``rpc``; return the reply body and whether to keep the session."""
        try:
            handler, operation = self._handler_for(rpc)
            body = handler(session, operation)
        except DatastoreError as exc:
            return _render_errors(exc.errors, self._schema), True
        except Exception:  # noqa: BLE001 - a bug in one request must not kill the session
            _LOG.exception("%s: session %d: request failed", self.name, session.session_id)
            error = RpcError(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED, "internal error in the lab device"
            )
            return _render_errors([error], self._schema), True
        return body, handler != self._rpc_close_session

    def _handler_for(self, rpc: ET.Element) -> tuple[RpcHandler, ET.Element]:
        operations = list(rpc)
        if len(operations) != 1:
            raise _protocol_error(
                ErrorTag.MALFORMED_MESSAGE,
                f"<rpc> must hold exactly one operation, not {len(operations)}",
                error_type=ErrorType.RPC,
            )
        operation = operations[0]
        if operation.tag == _CREATE_SUBSCRIPTION:
            return self._rpc_create_subscription, operation
        name = _protocol_name(operation.tag)
        handler = self._handlers.get(name) if name is not None else None
        if handler is None:
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                f"operation <{_local(operation.tag)}> is not supported by this device",
                info=(("bad-element", _local(operation.tag)),),
            )
        return handler, operation

    async def _send(self, session: _Session, payload: bytes) -> None:
        session.outbox.append(payload)
        await self._flush(session)

    async def _flush(self, session: _Session) -> None:
        """Send the queued replies in one write."""
        if not session.outbox:
            return
        payloads, session.outbox = session.outbox, []
        if session.reader.chunked:
            frames = b"".join(b"\n#%d\n%b\n##\n" % (len(p), p) for p in payloads)
        else:
            frames = b"".join(p + _EOM for p in payloads)
        session.process.stdout.write(frames)
        await session.process.stdout.drain()

    @staticmethod
    def _write(session: _Session, payload: bytes) -> None:
        if session.reader.chunked:
            frame = b"\n#%d\n%b\n##\n" % (len(payload), payload)
        else:
            frame = payload + _EOM
        session.process.stdout.write(frame)

    def _end_session(self, session: _Session) -> None:
        """Release what a session holds (idempotent): locks, its unconfirmed commit."""
        if session.ended:
            return
        session.ended = True
        self._sessions.pop(session.session_id, None)
        pending = self._pending
        if (
            pending is not None
            and pending.persist is None
            and pending.session_id == session.session_id
        ):
            # RFC 6241 §8.4.1: the issuing session ended before confirming
            self._revert_confirmed_commit(f"session {session.session_id} ended")
        for datastore, holder in list(self._locks.items()):
            if holder == session.session_id:
                self._release_lock(datastore)
        _LOG.debug("%s: session %d ended", self.name, session.session_id)

    def _release_lock(self, datastore: str) -> None:
        del self._locks[datastore]
        if datastore == "candidate":
            # as netconfd: releasing the candidate lock discards uncommitted changes
            self._reset_candidate()

    def _reset_candidate(self) -> None:
        self._candidate = copy_datastore(self._running)
        self._candidate_editors.clear()

    # -- state changes -----------------------------------------------------------------

    def _set_running(self, running: ET.Element, session_id: int = 0, reason: str = "") -> None:
        self._running = running
        if reason and self._sessions:
            self.notify("config-change", {"session-id": str(session_id), "reason": reason})
        try:
            self._backend.running_changed(copy_datastore(running))
        except Exception:  # noqa: BLE001 - the backend must not raise; keep serving if it does
            _LOG.exception("%s: backend.running_changed failed", self.name)

    def _revert_confirmed_commit(self, reason: str) -> None:
        pending = self._pending
        if pending is None:
            return
        pending.cancel_timer()
        self._pending = None
        _LOG.info("%s: confirmed commit rolled back (%s)", self.name, reason)
        self._set_running(
            pending.rollback,
            0,
            "confirm-timeout" if "timeout" in reason else "cancel-commit",
        )
        self._reset_candidate()

    def _confirm_timeout(self, pending: _PendingCommit) -> None:
        if self._pending is pending:
            self._revert_confirmed_commit("confirm-timeout expired")

    def _require_candidate(self, operation: str) -> None:
        if self._writable_running:
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                f"<{operation}> needs :candidate, which this device does not announce",
                info=(("bad-element", operation),),
            )

    def _check_lock(self, session: _Session, datastore: str) -> None:
        holder = self._locks.get(datastore)
        if holder is not None and holder != session.session_id:
            raise _protocol_error(
                ErrorTag.IN_USE,
                f"the {datastore} datastore is locked by session {holder}",
            )

    # -- RPC handlers ------------------------------------------------------------------

    def _filter(self, params: Mapping[str, ET.Element]) -> ET.Element | None:
        subtree = params.get("filter")
        if subtree is None:
            return None
        filter_type = subtree.get("type") or subtree.get(f"{_BASE}type") or "subtree"
        if filter_type != "subtree":
            raise _protocol_error(
                ErrorTag.BAD_ATTRIBUTE,
                f"filter type '{filter_type}' is not supported (:xpath is not announced)",
                info=(("bad-attribute", "type"), ("bad-element", "filter")),
            )
        return subtree

    def _data(self, data: ET.Element, subtree: ET.Element | None) -> str:
        selected = filter_subtree(self._schema, data, subtree) if subtree is not None else data
        return f"<data>{_render_children(selected)}</data>"

    def _rpc_get(self, session: _Session, operation: ET.Element) -> str:
        subtree = self._filter(_params(operation, frozenset({"filter"})))
        # a view, not a copy: filtering and rendering only read the trees
        data = ET.Element(f"{_BASE}data")
        data.extend(self._running)
        data.append(self._backend.operational_state())
        return self._data(data, subtree)

    def _rpc_get_config(self, session: _Session, operation: ET.Element) -> str:
        params = _params(operation, frozenset({"source", "filter"}))
        source = _datastore_choice(_required(params, "source"), self._datastores)
        subtree = self._filter(params)
        return self._data(self._running if source == "running" else self._candidate, subtree)

    def _rpc_edit_config(self, session: _Session, operation: ET.Element) -> str:
        params = _params(
            operation,
            frozenset(
                {"target", "default-operation", "test-option", "error-option", "config", "url"}
            ),
        )
        target = _required(params, "target")
        if self._writable_running:
            return self._edit_running(session, params)
        if _protocol_child(target, "running") is not None:
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                "the running datastore is not writable (:writable-running is not announced); "
                "edit the candidate and commit",
                info=(("bad-element", "running"),),
            )
        _datastore_choice(target, ("candidate",))
        if "url" in params:
            raise _protocol_error(ErrorTag.OPERATION_NOT_SUPPORTED, ":url is not supported")
        config = _required(params, "config")
        default_operation = _enum_param(
            params, "default-operation", DefaultOperation, DefaultOperation.MERGE
        )
        test_option = _enum_param(
            params, "test-option", EditTestOption, EditTestOption.TEST_THEN_SET
        )
        error_option = _enum_param(params, "error-option", ErrorOption, ErrorOption.STOP_ON_ERROR)
        self._check_lock(session, "candidate")
        result = edit_config(
            self._schema,
            self._candidate,
            config,
            default_operation=default_operation,
            error_option=error_option,
            test_option=test_option,
        )
        if result.datastore is not self._candidate:
            self._candidate = result.datastore
            self._candidate_editors.add(session.session_id)
            if test_option is EditTestOption.TEST_THEN_SET and not result.errors:
                # test-then-set validated this whole tree, and trees are never changed in
                # place: the commit need not validate it again (one validation per edit)
                self._valid_candidate = result.datastore
        if result.errors:
            raise DatastoreError(*result.errors)
        return "<ok/>"

    def _edit_running(self, session: _Session, params: Mapping[str, ET.Element]) -> str:
        """``edit-config`` of running on a :writable-running device."""
        _datastore_choice(_required(params, "target"), ("running",))
        if "url" in params:
            raise _protocol_error(ErrorTag.OPERATION_NOT_SUPPORTED, ":url is not supported")
        config = _required(params, "config")
        default_operation = _enum_param(
            params, "default-operation", DefaultOperation, DefaultOperation.MERGE
        )
        test_option = _enum_param(
            params, "test-option", EditTestOption, EditTestOption.TEST_THEN_SET
        )
        error_option = _enum_param(params, "error-option", ErrorOption, ErrorOption.STOP_ON_ERROR)
        self._check_lock(session, "running")
        if test_option is not EditTestOption.TEST_ONLY:
            self._fail_if_backend_refuses()  # the lab's "commit fails" fault: running refuses
        result = edit_config(
            self._schema,
            self._running,
            config,
            default_operation=default_operation,
            error_option=error_option,
            test_option=test_option,
        )
        if result.datastore is not self._running:
            self._set_running(result.datastore, session.session_id, "edit-config")
            self._reset_candidate()
        if result.errors:
            raise DatastoreError(*result.errors)
        return "<ok/>"

    def _rpc_lock(self, session: _Session, operation: ET.Element) -> str:
        params = _params(operation, frozenset({"target"}))
        datastore = _datastore_choice(_required(params, "target"), self._datastores)
        holder = self._locks.get(datastore)
        if holder is not None:
            raise _protocol_error(
                ErrorTag.LOCK_DENIED,
                f"the {datastore} datastore is already locked by session {holder}",
                info=(("session-id", str(holder)),),
            )
        others = sorted(self._candidate_editors - {session.session_id})
        if datastore == "candidate" and others:
            # RFC 6241 §7.5: no candidate lock over someone else's uncommitted changes
            raise _protocol_error(
                ErrorTag.LOCK_DENIED,
                f"the candidate holds uncommitted changes of session {others[0]}; "
                "discard-changes first",
                info=(("session-id", str(others[0])),),
            )
        self._locks[datastore] = session.session_id
        return "<ok/>"

    def _rpc_unlock(self, session: _Session, operation: ET.Element) -> str:
        params = _params(operation, frozenset({"target"}))
        datastore = _datastore_choice(_required(params, "target"), self._datastores)
        holder = self._locks.get(datastore)
        if holder != session.session_id:
            held = "is not locked" if holder is None else f"is locked by session {holder}"
            raise _protocol_error(ErrorTag.OPERATION_FAILED, f"the {datastore} datastore {held}")
        self._release_lock(datastore)
        return "<ok/>"

    def _rpc_validate(self, session: _Session, operation: ET.Element) -> str:
        source = _required(_params(operation, frozenset({"source"})), "source")
        inline = _protocol_child(source, "config")
        if inline is not None and len(source) == 1:
            datastore = inline
        else:
            name = _datastore_choice(source, self._datastores)
            datastore = self._running if name == "running" else self._candidate
        errors = validate_datastore(self._schema, datastore)
        if errors:
            raise DatastoreError(*errors)
        return "<ok/>"

    def _rpc_commit(self, session: _Session, operation: ET.Element) -> str:
        self._require_candidate("commit")
        params = _params(
            operation, frozenset({"confirmed", "confirm-timeout", "persist", "persist-id"})
        )
        confirmed = "confirmed" in params
        if not confirmed and ("confirm-timeout" in params or "persist" in params):
            raise _protocol_error(
                ErrorTag.INVALID_VALUE,
                "<confirm-timeout> and <persist> need <confirmed/>",
                info=(
                    (
                        "bad-element",
                        "confirm-timeout" if "confirm-timeout" in params else "persist",
                    ),
                ),
            )
        persist_id = _text(params["persist-id"]) if "persist-id" in params else None
        self._check_commit_allowed(session, persist_id)
        self._check_lock(session, "running")
        self._check_lock(session, "candidate")
        # datastores are never changed in place (an edit makes a new tree), so the tree a
        # commit validated is still valid at the confirming commit: validated once
        if self._candidate is not self._valid_candidate:
            errors = validate_datastore(self._schema, self._candidate)
            if errors:
                raise DatastoreError(*errors)
            self._valid_candidate = self._candidate
        if confirmed:
            self._confirmed_commit(session, params)
        elif self._pending is not None:
            self._confirming_commit()
        else:
            self._fail_if_backend_refuses()
            self._set_running(copy_datastore(self._candidate), session.session_id, "commit")
            self._candidate_editors.clear()
        return "<ok/>"

    def _check_commit_allowed(self, session: _Session, persist_id: str | None) -> None:
        """RFC 6241 §8.4.1: who may follow up or confirm a pending confirmed commit."""
        pending = self._pending
        if pending is None:
            if persist_id is not None:
                raise _protocol_error(
                    ErrorTag.INVALID_VALUE,
                    f"no confirmed commit with persist '{persist_id}' is pending",
                    info=(("bad-element", "persist-id"),),
                )
            return
        if pending.persist is not None:
            if persist_id is None:
                raise _protocol_error(
                    ErrorTag.IN_USE,
                    "a persistent confirmed commit is pending: give its <persist-id>",
                    app_tag="outstanding-confirmed-commit",
                )
            if persist_id != pending.persist:
                raise _protocol_error(
                    ErrorTag.INVALID_VALUE,
                    f"persist-id '{persist_id}' does not match the pending confirmed commit",
                    info=(("bad-element", "persist-id"),),
                )
        elif persist_id is not None:
            raise _protocol_error(
                ErrorTag.INVALID_VALUE,
                "the pending confirmed commit has no persist token",
                info=(("bad-element", "persist-id"),),
            )
        elif pending.session_id != session.session_id:
            raise _protocol_error(
                ErrorTag.IN_USE,
                f"session {pending.session_id} has a confirmed commit pending",
                app_tag="outstanding-confirmed-commit",
            )

    def _fail_if_backend_refuses(self) -> None:
        message = self._backend.commit_should_fail()
        if message is not None:
            raise _protocol_error(
                ErrorTag.OPERATION_FAILED, message, error_type=ErrorType.APPLICATION
            )

    def _confirmed_commit(self, session: _Session, params: Mapping[str, ET.Element]) -> None:
        timeout = DEFAULT_CONFIRM_TIMEOUT_S
        if "confirm-timeout" in params:
            text = _text(params["confirm-timeout"])
            if not text.isdigit() or not 1 <= int(text) <= 4294967295:
                raise _protocol_error(
                    ErrorTag.INVALID_VALUE,
                    f"confirm-timeout '{text}' is not a number of seconds in 1..4294967295",
                    info=(("bad-element", "confirm-timeout"),),
                )
            timeout = int(text)
        persist = _text(params["persist"]) if "persist" in params else None
        self._fail_if_backend_refuses()
        previous = self._pending
        rollback = previous.rollback if previous is not None else copy_datastore(self._running)
        if previous is not None:
            # a follow-up confirmed commit extends the pending one (RFC 6241 §8.4.5.1)
            previous.cancel_timer()
        pending = _PendingCommit(rollback, persist, session.session_id)
        pending.timer = asyncio.get_running_loop().call_later(
            timeout * self._confirm_time_scale, self._confirm_timeout, pending
        )
        self._pending = pending
        self._set_running(copy_datastore(self._candidate), session.session_id, "confirmed-commit")
        self._candidate_editors.clear()

    def _confirming_commit(self) -> None:
        pending = self._pending
        assert pending is not None  # noqa: S101 - caller checked
        pending.cancel_timer()
        self._pending = None
        if datastores_equal(self._running, self._candidate):
            # the usual confirmation: running stays as it is, nothing to tell the backend
            self._candidate_editors.clear()
            return
        self._set_running(copy_datastore(self._candidate), 0, "commit")
        self._candidate_editors.clear()

    def _rpc_cancel_commit(self, session: _Session, operation: ET.Element) -> str:
        self._require_candidate("cancel-commit")
        params = _params(operation, frozenset({"persist-id"}))
        persist_id = _text(params["persist-id"]) if "persist-id" in params else None
        pending = self._pending
        if pending is None:
            raise _protocol_error(ErrorTag.OPERATION_FAILED, "no confirmed commit is pending")
        if persist_id is not None:
            if persist_id != pending.persist:
                raise _protocol_error(
                    ErrorTag.INVALID_VALUE,
                    f"persist-id '{persist_id}' does not match the pending confirmed commit",
                    info=(("bad-element", "persist-id"),),
                )
        elif pending.persist is not None:
            raise _protocol_error(
                ErrorTag.OPERATION_FAILED,
                "the pending confirmed commit was given <persist>: cancel it with <persist-id>",
            )
        elif pending.session_id != session.session_id:
            raise _protocol_error(
                ErrorTag.OPERATION_FAILED,
                f"the pending confirmed commit belongs to session {pending.session_id}",
            )
        self._revert_confirmed_commit(f"cancel-commit from session {session.session_id}")
        return "<ok/>"

    def _rpc_discard_changes(self, session: _Session, operation: ET.Element) -> str:
        self._require_candidate("discard-changes")
        _params(operation, frozenset())
        self._check_lock(session, "candidate")
        self._reset_candidate()
        return "<ok/>"

    def _rpc_create_subscription(self, session: _Session, operation: ET.Element) -> str:
        params: dict[str, ET.Element] = {}
        for child in operation:
            local = _local(child.tag)
            # RFC 5277 puts <filter> in the base namespace (filterInlineType), the rest in
            # the notification namespace; clients differ, so either is accepted
            known_namespace = child.tag.startswith(f"{{{NOTIFICATION_NS}}}") or (
                _protocol_name(child.tag) is not None
            )
            if not known_namespace or local not in (
                "stream",
                "filter",
                "startTime",
                "stopTime",
            ):
                raise _protocol_error(
                    ErrorTag.UNKNOWN_ELEMENT,
                    f"unexpected parameter '{local}' in <create-subscription>",
                    info=(("bad-element", local),),
                )
            params[local] = child
        if session.subscribed:
            raise _protocol_error(
                ErrorTag.IN_USE, "this session already has a subscription (RFC 5277 §2.1.1)"
            )
        stream = _text(params["stream"]) if "stream" in params else "NETCONF"
        if stream != "NETCONF":
            raise _protocol_error(
                ErrorTag.INVALID_VALUE,
                f"no event stream '{stream}' (this device has NETCONF only)",
                info=(("bad-element", "stream"),),
            )
        if "startTime" in params:
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                "replay is not supported (:replay is not announced)",
                info=(("bad-element", "startTime"),),
            )
        stop_time = None
        if "stopTime" in params:
            try:
                stop_time = datetime.fromisoformat(_text(params["stopTime"]).replace("Z", "+00:00"))
            except ValueError:
                raise _protocol_error(
                    ErrorTag.INVALID_VALUE,
                    f"stopTime '{_text(params['stopTime'])}' is not a date-and-time",
                    info=(("bad-element", "stopTime"),),
                ) from None
            if stop_time.tzinfo is None:
                stop_time = stop_time.replace(tzinfo=UTC)
        subtree = params.get("filter")
        if subtree is not None:
            filter_type = subtree.get("type") or "subtree"
            if filter_type != "subtree":
                raise _protocol_error(
                    ErrorTag.BAD_ATTRIBUTE,
                    f"filter type '{filter_type}' is not supported",
                    info=(("bad-attribute", "type"), ("bad-element", "filter")),
                )
        session.subscribed = True
        session.notification_filter = subtree
        session.stop_time = stop_time
        return "<ok/>"

    def _rpc_close_session(self, session: _Session, operation: ET.Element) -> str:
        _params(operation, frozenset())
        return "<ok/>"

    def _rpc_kill_session(self, session: _Session, operation: ET.Element) -> str:
        element = _required(_params(operation, frozenset({"session-id"})), "session-id")
        text = _text(element)
        victim = self._sessions.get(int(text)) if text.isdigit() else None
        if victim is None or victim is session:
            reason = "is this session: use close-session" if victim is session else "does not exist"
            raise _protocol_error(
                ErrorTag.INVALID_VALUE,
                f"session '{text}' {reason}",
                info=(("bad-element", "session-id"),),
            )
        # end it now, so its locks and unconfirmed commit are gone when we reply
        self._end_session(victim)
        if victim.task is not None:
            victim.task.cancel()
        # RFC 6241 §7.9: "... and closes any connections"
        connection = victim.process.get_extra_info("connection")
        if isinstance(connection, asyncssh.SSHServerConnection):
            connection.close()
        return "<ok/>"


def _wrap_one(element: ET.Element) -> ET.Element:
    holder = ET.Element(f"{_BASE}data")
    holder.append(element)
    return holder


def _recover_message_id(message: bytes) -> str | None:
    """The message-id of an unparsable ``<rpc>``, if the start tag is readable."""
    match = _MESSAGE_ID.search(message[:4096])
    if match is None:
        return None
    raw = match.group(1) if match.group(1) is not None else match.group(2)
    try:
        return unescape(raw.decode("utf-8"), {"&quot;": '"', "&apos;": "'"})
    except UnicodeDecodeError:
        return None


def _authorized_keys(
    keys: AuthorizedKeys | None,
) -> str | list[str] | asyncssh.SSHAuthorizedKeys | None:
    if keys is None or isinstance(keys, (str, asyncssh.SSHAuthorizedKeys)):
        return keys
    if all(isinstance(key, str) for key in keys):
        return [key for key in keys if isinstance(key, str)]
    lines = "".join(
        key.export_public_key().decode() for key in keys if isinstance(key, asyncssh.SSHKey)
    )
    return asyncssh.import_authorized_keys(lines)
