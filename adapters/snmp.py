"""SNMP polling of IF-MIB interface counters (the only module that touches pysnmp).

:class:`SnmpPoller` reads, per device, ``sysUpTime.0`` and the IF-MIB columns the rate
computation needs, in as few round trips as GETBULK allows: one request carries
``sysUpTime`` as a non-repeater plus all six columns as repeaters, and the walk continues
only for the columns that have not yet left their subtree (the stop rule of pysnmp's
``lexicographicMode=False``; pysnmp's ``bulk_walk_cmd`` would follow one column per
request). An agent without the 64-bit ifXTable columns is read from ifTable's Counter32
columns instead, and the snapshot says so (``counter_bits=32``).

Two transports carry the same walk:

* SNMPv2c goes through a fast path: :mod:`adapters.snmp_codec` encodes the GETBULK and
  decodes the Response, over one non-blocking UDP socket per address family that the
  poller reads itself (``loop.add_reader``). pysnmp's pyasn1 codec costs ~0.18 ms of CPU per
  var-bind; the fast path does a 50-interface poll in about a millisecond.
* SNMPv3 (USM, authNoPriv or authPriv) goes through pysnmp's engine (one per poller, made on
  the first v3 poll): the keys are localised and the messages authenticated and encrypted
  there. The credentials come from :class:`SnmpV3User`, by reference.

Failures are typed values of :mod:`controller.errors` (raised per device; the sensor turns
them into observations), and no pysnmp type leaves this module:

* no answer within timeout x attempts -> :class:`AdapterTimeoutError` (an SNMPv2c agent
  answers a wrong community with silence, and a closed UDP port looks the same);
* the request could not be sent (bad address, no route) -> :class:`ConnectError`;
* a malformed or truncated reply, an error-status, missing columns, values of the wrong
  type -> :class:`ProtocolError`; a reply whose request-id was readable fails at once,
  garbage from the agent's address turns the eventual timeout into a ProtocolError;
* USM refusals (unknown user, wrong key) -> :class:`AuthError`.

One device's fault never touches another's request: each request has its own id, timer
and future on the shared socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from itertools import cycle
from types import TracebackType
from typing import Any

from adapters.counters import CounterSnapshot, IfCounters
from adapters.credentials import resolve_secret
from adapters.snmp_codec import (
    TAG_COUNTER32,
    TAG_COUNTER64,
    TAG_END_OF_MIB_VIEW,
    TAG_GAUGE32,
    TAG_INTEGER,
    TAG_IP_ADDRESS,
    TAG_NO_SUCH_INSTANCE,
    TAG_NO_SUCH_OBJECT,
    TAG_NULL,
    TAG_OCTET_STRING,
    TAG_OID,
    TAG_OPAQUE,
    TAG_TIMETICKS,
    BerError,
    Response,
    VarBind,
    decode_arcs,
    decode_response,
    dotted,
    encode_get_bulk,
    encode_oid,
)
from controller.errors import (
    AdapterError,
    AdapterTimeoutError,
    AuthError,
    ConnectError,
    ProtocolError,
)
from controller.model import CredentialRef, Device, SnmpV3Credentials

__all__ = [
    "SnmpAuthProtocol",
    "SnmpPoller",
    "SnmpPrivProtocol",
    "SnmpV3User",
    "SnmpValue",
    "usm_user_data",
    "v3_user",
]

_log = logging.getLogger(__name__)

OID = tuple[int, ...]
SnmpValue = int | bytes | None
"""A value as read: an int (INTEGER, counters, gauges, TimeTicks), bytes (strings, IpAddress,
Opaque, OIDs as BER content octets) or None (NULL)."""

SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3)  # GETNEXT on the object gives sysUpTime.0
SYS_UPTIME_0: OID = (*SYS_UPTIME, 0)
_IFX_ENTRY: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
_IF_ENTRY: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)

IF_OPER_STATUS_UP = 1
_BITS_PER_MBIT = 1_000_000


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    oid: OID


IF_NAME = _Column("ifName", (*_IFX_ENTRY, 1))
IF_HC_IN_OCTETS = _Column("ifHCInOctets", (*_IFX_ENTRY, 6))
IF_HC_OUT_OCTETS = _Column("ifHCOutOctets", (*_IFX_ENTRY, 10))
IF_HIGH_SPEED = _Column("ifHighSpeed", (*_IFX_ENTRY, 15))
IF_COUNTER_DISCONTINUITY_TIME = _Column("ifCounterDiscontinuityTime", (*_IFX_ENTRY, 19))
IF_OPER_STATUS = _Column("ifOperStatus", (*_IF_ENTRY, 8))
# ifTable stand-ins for agents without the ifXTable columns (RFC 1213-era agents)
IF_DESCR = _Column("ifDescr", (*_IF_ENTRY, 2))
IF_SPEED = _Column("ifSpeed", (*_IF_ENTRY, 5))
IF_IN_OCTETS = _Column("ifInOctets", (*_IF_ENTRY, 10))
IF_OUT_OCTETS = _Column("ifOutOctets", (*_IF_ENTRY, 16))

COLUMNS: tuple[_Column, ...] = (
    IF_NAME,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_HIGH_SPEED,
    IF_COUNTER_DISCONTINUITY_TIME,
    IF_OPER_STATUS,
)
# column that may be missing -> the ifTable column read instead
_FALLBACKS: dict[_Column, _Column] = {
    IF_NAME: IF_DESCR,
    IF_HC_IN_OCTETS: IF_IN_OCTETS,
    IF_HC_OUT_OCTETS: IF_OUT_OCTETS,
    IF_HIGH_SPEED: IF_SPEED,
}

_INTEGER_TAGS = frozenset({TAG_INTEGER, TAG_COUNTER32, TAG_GAUGE32, TAG_TIMETICKS, TAG_COUNTER64})
_EXCEPTION_TAGS = frozenset({TAG_NO_SUCH_OBJECT, TAG_NO_SUCH_INSTANCE, TAG_END_OF_MIB_VIEW})

# A walk that needs more requests than this is an agent that never ends a column.
_MAX_ROUND_TRIPS = 1000
# Kernel receive buffer asked for the poller's socket: replies of many agents may arrive
# between two loop iterations (the kernel caps it at net.core.rmem_max).
_RECEIVE_BUFFER = 4 * 1024 * 1024
_MAX_DATAGRAM = 65535

_ERROR_STATUS_NAMES = (
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- settings


class SnmpAuthProtocol(str, Enum):
    """SNMPv3 USM authentication protocols (RFC 3414, RFC 7860)."""

    SHA = "sha"  # HMAC-96-SHA-1
    SHA224 = "sha224"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


class SnmpPrivProtocol(str, Enum):
    """SNMPv3 USM privacy protocols (RFC 3826 AES-CFB; 192/256 as net-snmp implements them)."""

    AES128 = "aes128"
    AES192 = "aes192"
    AES256 = "aes256"


@dataclass(frozen=True, slots=True)
class SnmpV3User:
    """SNMPv3 USM credentials of a device, by reference (never the keys themselves).

    The inventory's ``snmp.v3`` (:class:`controller.model.SnmpV3Credentials`) becomes one
    through :func:`v3_user`; a mapping of device name to :class:`SnmpV3User` given to
    :class:`SnmpPoller` overrides it.

    Attributes:
        user: the USM user name (securityName).
        auth_key: the authentication pass phrase (at least 8 characters).
        priv_key: the privacy pass phrase; None for authNoPriv.
        auth_protocol: the authentication protocol.
        priv_protocol: the privacy protocol (ignored without ``priv_key``).
        context: the SNMPv3 context name (empty for the default context).
    """

    user: str
    auth_key: CredentialRef
    priv_key: CredentialRef | None = None
    auth_protocol: SnmpAuthProtocol = SnmpAuthProtocol.SHA
    priv_protocol: SnmpPrivProtocol = SnmpPrivProtocol.AES128
    context: str = ""


def v3_user(credentials: SnmpV3Credentials | None) -> SnmpV3User | None:
    """The adapter's form of an inventory device's SNMPv3 credentials (None stays None).

    Raises:
        ValueError: an unknown authentication or privacy protocol name.
    """
    if credentials is None:
        return None
    return SnmpV3User(
        user=credentials.user,
        auth_key=credentials.auth_key,
        priv_key=credentials.priv_key,
        auth_protocol=SnmpAuthProtocol(credentials.auth_protocol),
        priv_protocol=SnmpPrivProtocol(credentials.priv_protocol),
    )


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class _Target:
    """Where and how to send one device's requests."""

    device: str
    address: str
    port: int
    timeout_seconds: float
    retries: int

    @property
    def attempts(self) -> int:
        return self.retries + 1


def _timeout(target: _Target) -> AdapterTimeoutError:
    return AdapterTimeoutError(
        target.device,
        f"no SNMP answer from {target.address}:{target.port} in {target.attempts} x "
        f"{target.timeout_seconds:g} s (agent down, port closed, or credentials refused)",
    )


def _status_error(
    target: _Target, status: int, index: int, request: Sequence[bytes]
) -> ProtocolError:
    name = _ERROR_STATUS_NAMES[status] if 0 <= status < len(_ERROR_STATUS_NAMES) else str(status)
    culprit = f" at {dotted(request[index - 1])}" if 0 < index <= len(request) else ""
    return ProtocolError(target.device, f"agent answered error-status {name}{culprit}")


# A GETBULK as the walk sees it: (non-repeaters, max-repetitions, OIDs) -> var-binds.
_BulkRequest = Callable[[int, int, Sequence[bytes]], Awaitable[Sequence[VarBind]]]


# ----------------------------------------------------------------------------- v2c fast path


class _Pending:
    """One request in flight on the shared socket."""

    __slots__ = (
        "address",
        "attempts_left",
        "community",
        "future",
        "malformed",
        "message",
        "target",
        "timer",
    )

    def __init__(
        self,
        target: _Target,
        address: tuple[str, int],
        community: bytes,
        message: bytes,
        future: asyncio.Future[Response],
    ) -> None:
        self.target = target
        self.address = address
        self.community = community
        self.message = message
        self.future = future
        self.attempts_left = target.retries
        self.malformed = ""
        self.timer: asyncio.TimerHandle | None = None


class _V2cChannel:
    """SNMPv2c requests over one non-blocking UDP socket per address family.

    Replies are matched to requests by request-id and source address; a retry resends the
    same message (same request-id), so a late answer to the first attempt still counts.
    Every request has its own timer; nothing one agent does can fail another's request.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sockets: dict[int, socket.socket] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_id = secrets.randbelow(2**31)
        self._addresses: dict[tuple[str, int], tuple[int, tuple[str, int]]] = {}

    @property
    def socket_count(self) -> int:
        return len(self._sockets)

    def close(self) -> None:
        for sock in self._sockets.values():
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        for pending in list(self._pending.values()):
            if pending.timer is not None:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(
                    ConnectError(pending.target.device, "SNMP poller closed")
                )
        self._pending.clear()

    async def request(
        self, target: _Target, community: bytes, build: Callable[[int], bytes]
    ) -> Response:
        """Send ``build(request_id)`` and wait for its Response (retries included)."""
        family, address = await self._resolve(target)
        sock = self._socket(family)
        request_id = self._allocate_id()
        future: asyncio.Future[Response] = self._loop.create_future()
        pending = _Pending(target, address, community, build(request_id), future)
        self._pending[request_id] = pending
        try:
            self._send(sock, pending)
            if not future.done():
                pending.timer = self._loop.call_later(
                    target.timeout_seconds, self._expire, request_id, sock
                )
            return await future
        finally:
            if pending.timer is not None:
                pending.timer.cancel()
            self._pending.pop(request_id, None)  # close() may have cleared it

    def _allocate_id(self) -> int:
        request_id = self._next_id
        while request_id in self._pending:
            request_id = (request_id + 1) % 2**31
        self._next_id = (request_id + 1) % 2**31
        return request_id

    async def _resolve(self, target: _Target) -> tuple[int, tuple[str, int]]:
        key = (target.address, target.port)
        known = self._addresses.get(key)
        if known is not None:
            return known
        if not 0 < target.port < 65536:
            raise ConnectError(target.device, f"bad SNMP port {target.port}")
        try:
            parsed = ipaddress.ip_address(target.address)
        except ValueError:
            parsed = None
        if parsed is not None:
            family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
            resolved = (int(family), (str(parsed), target.port))
        else:
            # a name: resolved once, within the request's own time budget (a resolver that
            # cannot be reached must not hold the tick longer than a silent agent would)
            try:
                async with asyncio.timeout(target.timeout_seconds * target.attempts):
                    infos = await self._loop.getaddrinfo(
                        target.address, target.port, type=socket.SOCK_DGRAM
                    )
            except TimeoutError as exc:
                raise AdapterTimeoutError(
                    target.device, f"resolving {target.address} timed out"
                ) from exc
            except OSError as exc:
                raise ConnectError(
                    target.device, f"cannot resolve {target.address}: {exc}"
                ) from exc
            family, _, _, _, sockaddr = infos[0]
            resolved = (int(family), (str(sockaddr[0]), int(sockaddr[1])))
        self._addresses[key] = resolved
        return resolved

    def _socket(self, family: int) -> socket.socket:
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            # bound now (port from the OS) so that replies can arrive before the first send
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))  # noqa: S104
            self._loop.add_reader(sock.fileno(), self._readable, sock)
            self._sockets[family] = sock
        return sock

    def _send(self, sock: socket.socket, pending: _Pending) -> None:
        try:
            sock.sendto(pending.message, pending.address)
        except OSError as exc:
            # EAGAIN (a full send buffer) is a lost datagram like any other: the timer retries
            if isinstance(exc, BlockingIOError):
                return
            pending.future.set_exception(
                ConnectError(
                    pending.target.device,
                    f"cannot send SNMP request to {pending.target.address}:"
                    f"{pending.target.port}: {exc.strerror or exc}",
                )
            )

    def _expire(self, request_id: int, sock: socket.socket) -> None:
        pending = self._pending.get(request_id)
        if pending is None or pending.future.done():
            return
        if pending.attempts_left > 0:
            pending.attempts_left -= 1
            self._send(sock, pending)
            if not pending.future.done():
                pending.timer = self._loop.call_later(
                    pending.target.timeout_seconds, self._expire, request_id, sock
                )
            return
        if pending.malformed:
            pending.future.set_exception(
                ProtocolError(
                    pending.target.device,
                    f"only malformed SNMP replies from {pending.target.address}:"
                    f"{pending.target.port}: {pending.malformed}",
                )
            )
        else:
            pending.future.set_exception(_timeout(pending.target))

    def _readable(self, sock: socket.socket) -> None:
        while True:
            try:
                data, source = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # e.g. an ICMP error queued on the socket; it names no request
                _log.debug("SNMP socket error ignored: %s", exc)
                return
            self._received(data, (str(source[0]), int(source[1])))

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            response = decode_response(data)
        except BerError as exc:
            self._malformed(exc, source)
            return
        pending = self._pending.get(response.request_id)
        if (
            pending is None
            or pending.future.done()
            or pending.address != source
            or response.community != pending.community
        ):
            # a late duplicate, or not ours: a wrong source or community is not an answer
            return
        pending.future.set_result(response)

    def _malformed(self, exc: BerError, source: tuple[str, int]) -> None:
        pending = self._pending.get(exc.request_id) if exc.request_id is not None else None
        if pending is not None and pending.address == source and not pending.future.done():
            pending.future.set_exception(
                ProtocolError(pending.target.device, f"malformed SNMP reply: {exc}")
            )
            return
        # Unattributable garbage: remembered by every request to that agent, reported if no
        # good answer comes (it may have been a stray packet).
        for candidate in self._pending.values():
            if candidate.address == source:
                candidate.malformed = str(exc)


# ----------------------------------------------------------------------------- v3 via pysnmp


_AUTH_PROTOCOL_NAMES = {
    SnmpAuthProtocol.SHA: "USM_AUTH_HMAC96_SHA",
    SnmpAuthProtocol.SHA224: "USM_AUTH_HMAC128_SHA224",
    SnmpAuthProtocol.SHA256: "USM_AUTH_HMAC192_SHA256",
    SnmpAuthProtocol.SHA384: "USM_AUTH_HMAC256_SHA384",
    SnmpAuthProtocol.SHA512: "USM_AUTH_HMAC384_SHA512",
}
_PRIV_PROTOCOL_NAMES = {
    SnmpPrivProtocol.AES128: "USM_PRIV_CFB128_AES",
    SnmpPrivProtocol.AES192: "USM_PRIV_CFB192_AES",
    SnmpPrivProtocol.AES256: "USM_PRIV_CFB256_AES",
}


def usm_user_data(device: str, user: SnmpV3User) -> Any:
    """pysnmp's ``UsmUserData`` for a user, with the keys resolved now (never logged).

    Args:
        device: the device (for errors).
        user: the credentials by reference.

    Returns:
        A ``UsmUserData`` (pysnmp type: for this module and :mod:`adapters.traps` only).

    Raises:
        AuthError: a key cannot be resolved or is shorter than USM's 8 characters.
    """
    from pysnmp.entity import config as usm

    auth_key = resolve_secret(device, user.auth_key)
    priv_key = resolve_secret(device, user.priv_key) if user.priv_key is not None else None
    for kind, key in (("auth", auth_key), ("priv", priv_key)):
        if key is not None and len(key) < 8:
            raise AuthError(device, f"SNMPv3 {kind} key of {user.user} is shorter than 8")
    from pysnmp.hlapi.v3arch.asyncio import UsmUserData

    return UsmUserData(
        user.user,
        authKey=auth_key,
        privKey=priv_key,
        authProtocol=getattr(usm, _AUTH_PROTOCOL_NAMES[user.auth_protocol]),
        privProtocol=getattr(usm, _PRIV_PROTOCOL_NAMES[user.priv_protocol])
        if priv_key is not None
        else usm.USM_PRIV_NONE,
    )


def _pysnmp_value(value: Any) -> tuple[int, SnmpValue]:
    """A pysnmp value as ``(BER tag, value)``, the fast path's representation."""
    from pysnmp.proto import rfc1902, rfc1905

    if isinstance(value, rfc1905.EndOfMibView):
        return TAG_END_OF_MIB_VIEW, None
    if isinstance(value, rfc1905.NoSuchObject):
        return TAG_NO_SUCH_OBJECT, None
    if isinstance(value, rfc1905.NoSuchInstance):
        return TAG_NO_SUCH_INSTANCE, None
    for cls, tag in (
        (rfc1902.Counter64, TAG_COUNTER64),
        (rfc1902.Counter32, TAG_COUNTER32),
        (rfc1902.Gauge32, TAG_GAUGE32),
        (rfc1902.Unsigned32, TAG_GAUGE32),
        (rfc1902.TimeTicks, TAG_TIMETICKS),
        (rfc1902.Integer32, TAG_INTEGER),
    ):
        if isinstance(value, cls):
            return tag, int(value)
    for cls, tag in (
        (rfc1902.IpAddress, TAG_IP_ADDRESS),
        (rfc1902.Opaque, TAG_OPAQUE),
        (rfc1902.OctetString, TAG_OCTET_STRING),
    ):
        if isinstance(value, cls):
            return tag, bytes(value.asOctets())
    if isinstance(value, rfc1902.ObjectIdentifier):
        return TAG_OID, encode_oid(tuple(value))
    return TAG_NULL, None


class _UsmChannel:
    """SNMPv3 requests through one pysnmp engine (made on first use)."""

    def __init__(self) -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        self._engine = SnmpEngine()
        self._transports: dict[tuple[str, int, float, int], Any] = {}

    def close(self) -> None:
        self._transports.clear()
        self._engine.close_dispatcher()

    async def _transport(self, target: _Target) -> Any:
        from pysnmp.error import PySnmpError
        from pysnmp.hlapi.v3arch.asyncio import UdpTransportTarget

        key = (target.address, target.port, target.timeout_seconds, target.retries)
        transport = self._transports.get(key)
        if transport is None:
            try:
                transport = await UdpTransportTarget.create(
                    (target.address, target.port),
                    timeout=target.timeout_seconds,
                    retries=target.retries,
                )
            except PySnmpError as exc:
                raise ConnectError(target.device, f"bad SNMP address: {exc}") from exc
            self._transports[key] = transport
        return transport

    async def get_bulk(
        self,
        target: _Target,
        auth: Any,
        context: str,
        non_repeaters: int,
        repetitions: int,
        oids: Sequence[bytes],
    ) -> list[VarBind]:
        from pysnmp.error import PySnmpError
        from pysnmp.hlapi.v3arch.asyncio import ContextData, ObjectIdentity, ObjectType, bulk_cmd
        from pysnmp.proto import errind

        from adapters.snmp_codec import decode_oid

        transport = await self._transport(target)
        var_binds = [ObjectType(ObjectIdentity(decode_oid(oid))) for oid in oids]
        # pysnmp enforces timeout x attempts itself; this bound only guards against its
        # timer never firing (the request would otherwise hang the tick).
        budget = target.timeout_seconds * target.attempts + 2.0
        try:
            async with asyncio.timeout(budget):
                indication, status, index, replies = await bulk_cmd(
                    self._engine,
                    auth,
                    transport,
                    ContextData(contextName=context),
                    non_repeaters,
                    repetitions,
                    *var_binds,
                    lookupMib=False,
                )
        except TimeoutError as exc:
            raise _timeout(target) from exc
        except PySnmpError as exc:
            raise ProtocolError(target.device, f"SNMP request failed: {exc}") from exc
        except OSError as exc:
            raise ConnectError(target.device, f"cannot send SNMP request: {exc}") from exc
        if indication:
            raise _indication_error(target, indication, errind)
        if status:
            raise _status_error(target, int(status), int(index), oids)
        return [(encode_oid(tuple(name)), *_pysnmp_value(value)) for name, value in replies]


def _indication_error(target: _Target, indication: object, errind: Any) -> AdapterError:
    """Map a pysnmp errorIndication to netpilot's error tree."""
    if isinstance(indication, errind.RequestTimedOut):
        return _timeout(target)
    auth_failures = (
        errind.UnknownUserName,
        errind.UnknownSecurityName,
        errind.UnsupportedSecurityLevel,
        errind.AuthenticationError,
        errind.AuthenticationFailure,
        errind.WrongDigest,
        errind.NoAuthentication,
        errind.DecryptionError,
        errind.UnknownEngineID,
        errind.NotInTimeWindow,
    )
    if isinstance(indication, auth_failures):
        return AuthError(target.device, f"SNMPv3 credentials refused: {indication}")
    text = str(indication)
    if "Ciphering services not available" in text:
        # pysnmp says this when the `cryptography` package is missing: nothing to retry
        return AuthError(target.device, f"SNMPv3 privacy unavailable in this install: {text}")
    return ProtocolError(target.device, f"SNMP request failed: {text}")


# ----------------------------------------------------------------------------- the walk


class _Cursor:
    """Where the walk of one subtree stands."""

    __slots__ = ("done", "key", "last", "last_suffix", "prefix", "rows")

    def __init__(self, key: OID) -> None:
        self.key = key
        self.prefix = encode_oid(key)
        self.last = self.prefix  # the OID to continue from (content octets)
        self.last_suffix: OID | None = None
        self.done = False
        self.rows: dict[OID, tuple[int, SnmpValue]] = {}


class _Walk:
    """Collects subtrees across GETBULK replies (pure bookkeeping, no IO)."""

    def __init__(self, device: str, subtrees: Sequence[OID]) -> None:
        self.device = device
        self.round_trips = 0
        self.uptime_ticks: int | None = None
        self.cursors = [_Cursor(subtree) for subtree in subtrees]

    @property
    def active(self) -> list[_Cursor]:
        return [cursor for cursor in self.cursors if not cursor.done]

    def rows(self, subtree: OID) -> dict[OID, tuple[int, SnmpValue]]:
        for cursor in self.cursors:
            if cursor.key == subtree:
                return cursor.rows
        raise KeyError(subtree)

    def take_uptime(self, var_bind: VarBind | None) -> None:
        if var_bind is None or var_bind[0] != _SYS_UPTIME_0_RAW:
            got = dotted(var_bind[0]) if var_bind is not None else "nothing"
            raise ProtocolError(self.device, f"expected sysUpTime.0 in the reply, got {got}")
        _, tag, value = var_bind
        if tag != TAG_TIMETICKS or not isinstance(value, int):
            raise ProtocolError(self.device, "sysUpTime.0 is not a TimeTicks value")
        self.uptime_ticks = value

    def take_rows(self, requested: Sequence[_Cursor], var_binds: Sequence[VarBind]) -> None:
        """Distribute a reply's repeater var-binds over the requested subtrees.

        The reply holds rows of ``len(requested)`` var-binds, one per subtree in request
        order; the agent may truncate the last row to fit its message size.
        """
        if not var_binds:
            raise ProtocolError(self.device, "empty GETBULK reply")
        progressed = False
        for cursor, (oid, tag, value) in zip(cycle(requested), var_binds, strict=False):
            if cursor.done:
                continue
            prefix = cursor.prefix
            if tag in _EXCEPTION_TAGS or not oid.startswith(prefix):
                # endOfMibView, or the next OID lies past the subtree: the column has ended
                cursor.done = True
                continue
            tail = oid[len(prefix) :]
            if len(tail) == 1 and tail[0] < 0x80:
                suffix: OID = (tail[0],)  # a one-octet ifIndex: the common case
            else:
                try:
                    suffix = decode_arcs(tail)
                except BerError as exc:
                    raise ProtocolError(self.device, f"bad OID {dotted(oid)}: {exc}") from exc
            if not suffix or (cursor.last_suffix is not None and suffix <= cursor.last_suffix):
                raise ProtocolError(self.device, f"OID not increasing at {dotted(oid)}")
            cursor.rows[suffix] = (tag, value)
            cursor.last = oid
            cursor.last_suffix = suffix
            progressed = True
        if not progressed and not any(cursor.done for cursor in requested):
            raise ProtocolError(self.device, "GETBULK reply made no progress")


_SYS_UPTIME_RAW = encode_oid(SYS_UPTIME)
_SYS_UPTIME_0_RAW = encode_oid(SYS_UPTIME_0)


async def _run_walk(
    walk: _Walk,
    bulk: _BulkRequest,
    *,
    with_uptime: bool,
    max_repetitions: int,
    rows_expected: int | None,
) -> None:
    """Drive GETBULK requests until every subtree of ``walk`` has ended."""
    first = with_uptime
    while True:
        requested = walk.active
        if not requested:
            return
        if walk.round_trips >= _MAX_ROUND_TRIPS:
            raise ProtocolError(walk.device, "walk did not end; the agent loops")
        repetitions = max_repetitions
        if rows_expected is not None:
            # one row past the expected end, so every column ends in this reply
            taken = min(len(cursor.rows) for cursor in requested)
            repetitions = max(1, min(repetitions, rows_expected + 1 - taken))
        oids = [cursor.last for cursor in requested]
        if first:
            var_binds = await bulk(1, repetitions, [_SYS_UPTIME_RAW, *oids])
            walk.take_uptime(var_binds[0] if var_binds else None)
            var_binds = var_binds[1:]
            first = False
        else:
            var_binds = await bulk(0, repetitions, oids)
        walk.round_trips += 1
        walk.take_rows(requested, var_binds)


# ----------------------------------------------------------------------------- the poller


class SnmpPoller:
    """Polls IF-MIB interface counters from many devices: SNMPv2c fast path, v3 via pysnmp.

    Poll a device no faster than its agent refreshes its counters: net-snmp caches its
    interface table for about 3 s, so faster polls see unchanged counters and then a double
    step (``RateTracker(min_interval_seconds=...)`` keeps such intervals out of the rates).

    Args:
        max_concurrency: devices polled at the same time. The v2c fast path costs ~1 ms of
            CPU per 50-interface device; pysnmp (v3) ~4 ms per request, so more in flight
            only adds latency there.
        max_repetitions: upper bound on GETBULK max-repetitions (rows per column per
            request). Once a device has been walked, its requests ask for one row more than
            it had interfaces last time, enough to see every column end in the same reply.
            Agents may return fewer (net-snmp caps a reply at 100 var-binds by default).
        clock: returns the controller's current UTC time (``received_at``); tests inject one.
        v3_users: SNMPv3 credentials per device name; devices not listed use SNMPv2c with
            their endpoint's community.

    Raises:
        ValueError: a setting below 1.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 16,
        max_repetitions: int = 25,
        clock: Callable[[], datetime] = _utc_now,
        v3_users: Mapping[str, SnmpV3User] | None = None,
    ) -> None:
        if max_concurrency < 1 or max_repetitions < 1:
            raise ValueError("max_concurrency and max_repetitions must be >= 1")
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_repetitions = max_repetitions
        self._clock = clock
        self._v3_users = dict(v3_users or {})
        self._v2c: _V2cChannel | None = None
        self._usm: _UsmChannel | None = None
        # (address, port) -> interfaces seen at the last walk; bounded by the inventory
        self._rows_seen: dict[tuple[str, int], int] = {}
        self._closed = False

    async def __aenter__(self) -> SnmpPoller:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the sockets and the v3 engine. The poller cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._v2c is not None:
            self._v2c.close()
        if self._usm is not None:
            self._usm.close()
            # asyncio closes a transport's socket in a callback on the next loop iteration;
            # let it run so the socket is gone when close() returns.
            await asyncio.sleep(0)

    async def poll_interfaces(self, device: Device) -> CounterSnapshot:
        """Read sysUpTime.0 and every interface's counters, speed and status.

        Args:
            device: the device; its ``snmp`` endpoint gives port, community, timeout and
                retries (SNMPv3 credentials come from ``v3_users``). Secrets are resolved
                now and never logged.

        Returns:
            The interfaces in ifIndex order, with the agent's sysUpTime from the first reply
            and the controller time at which the last reply arrived. ``counter_bits`` is 32
            when the agent has no ifHC* columns and ifTable's Counter32 columns were read.

        Raises:
            AdapterTimeoutError: no answer within the endpoint's timeout x (retries + 1), for
                any request of the walk (SNMPv2c agents also stay silent on a wrong community).
            ConnectError: the request could not be sent, or the device has no SNMP endpoint.
            AuthError: a credential could not be resolved, or the agent refused the v3 user.
            ProtocolError: an error-status in a reply, a malformed reply, or IF-MIB columns the
                agent does not expose to this community.
            RuntimeError: the poller was closed.
        """
        target, bulk = self._prepare(device)
        key = (target.address, target.port)
        async with self._slots:
            walk = _Walk(device.name, [column.oid for column in COLUMNS])
            await _run_walk(
                walk,
                bulk,
                with_uptime=True,
                max_repetitions=self._max_repetitions,
                rows_expected=self._rows_seen.get(key),
            )
            missing = [c for c in _FALLBACKS if not walk.rows(c.oid)]
            fallback: _Walk | None = None
            if missing:
                fallback = _Walk(device.name, [_FALLBACKS[c].oid for c in missing])
                await _run_walk(
                    fallback,
                    bulk,
                    with_uptime=False,
                    max_repetitions=self._max_repetitions,
                    rows_expected=None,
                )
        snapshot = _snapshot(device.name, walk, fallback, self._clock())
        self._rows_seen[key] = len(snapshot.interfaces)
        _log.debug(
            "polled %s: %d interfaces in %d round trip(s)",
            device.name,
            len(snapshot.interfaces),
            walk.round_trips + (fallback.round_trips if fallback else 0),
        )
        return snapshot

    async def poll_many(
        self, devices: Iterable[Device]
    ) -> dict[str, CounterSnapshot | AdapterError]:
        """Poll devices concurrently; each device's fault is its own value.

        Args:
            devices: the devices (names must be unique).

        Returns:
            Per device name, its snapshot or the :class:`AdapterError` it failed with.

        Raises:
            RuntimeError: the poller was closed.
        """
        listed = list(devices)

        async def one(device: Device) -> CounterSnapshot | AdapterError:
            try:
                return await self.poll_interfaces(device)
            except AdapterError as exc:
                return exc

        results = await asyncio.gather(*(one(device) for device in listed))
        return {device.name: result for device, result in zip(listed, results, strict=True)}

    async def walk(
        self, device: Device, subtrees: Sequence[OID]
    ) -> dict[OID, dict[OID, tuple[int, SnmpValue]]]:
        """Walk subtrees side by side with GETBULK (``lexicographicMode=False``).

        Args:
            device: the device, as for :meth:`poll_interfaces`.
            subtrees: OIDs whose subtrees to read, e.g. table columns.

        Returns:
            Per subtree, its rows: the OID suffix below the subtree -> ``(BER tag, value)``
            (tags as in :mod:`adapters.snmp_codec`), in OID order.

        Raises:
            AdapterTimeoutError, ConnectError, AuthError, ProtocolError: as for
                :meth:`poll_interfaces`.
            RuntimeError: the poller was closed.
        """
        _, bulk = self._prepare(device)
        async with self._slots:
            walk = _Walk(device.name, subtrees)
            await _run_walk(
                walk,
                bulk,
                with_uptime=False,
                max_repetitions=self._max_repetitions,
                rows_expected=None,
            )
        return {cursor.key: cursor.rows for cursor in walk.cursors}

    @property
    def socket_count(self) -> int:
        """UDP sockets the v2c fast path holds open (one per address family in use)."""
        return self._v2c.socket_count if self._v2c is not None else 0

    def _prepare(self, device: Device) -> tuple[_Target, _BulkRequest]:
        if self._closed:
            raise RuntimeError("SnmpPoller is closed")
        endpoint = device.snmp
        if endpoint is None:
            raise ConnectError(device.name, "no SNMP endpoint in the inventory")
        target = _Target(
            device=device.name,
            address=device.address,
            port=endpoint.port,
            timeout_seconds=endpoint.timeout_seconds,
            retries=endpoint.retries,
        )
        user = self._v3_users.get(device.name) or v3_user(endpoint.v3)
        if user is not None:
            return target, self._v3_bulk(target, user)
        if endpoint.community is None:
            raise ConnectError(
                device.name, "no SNMP credentials in the inventory (v3 or community)"
            )
        community = resolve_secret(device.name, endpoint.community).encode()
        return target, self._v2c_bulk(target, community)

    def _v2c_bulk(self, target: _Target, community: bytes) -> _BulkRequest:
        if self._v2c is None:
            self._v2c = _V2cChannel(asyncio.get_running_loop())
        channel = self._v2c

        async def bulk(
            non_repeaters: int, repetitions: int, oids: Sequence[bytes]
        ) -> Sequence[VarBind]:
            response = await channel.request(
                target,
                community,
                lambda request_id: encode_get_bulk(
                    community, request_id, non_repeaters, repetitions, oids
                ),
            )
            if response.error_status:
                raise _status_error(target, response.error_status, response.error_index, oids)
            return response.var_binds

        return bulk

    def _v3_bulk(self, target: _Target, user: SnmpV3User) -> _BulkRequest:
        auth = usm_user_data(target.device, user)
        if self._usm is None:
            self._usm = _UsmChannel()
        channel = self._usm

        async def bulk(
            non_repeaters: int, repetitions: int, oids: Sequence[bytes]
        ) -> Sequence[VarBind]:
            return await channel.get_bulk(
                target, auth, user.context, non_repeaters, repetitions, oids
            )

        return bulk


# ----------------------------------------------------------------------------- snapshot


def _snapshot(
    device: str, walk: _Walk, fallback: _Walk | None, received_at: datetime
) -> CounterSnapshot:
    """The collected columns as a snapshot; raises ProtocolError if columns are missing."""
    if walk.uptime_ticks is None:
        raise ProtocolError(device, "no sysUpTime.0 in the reply")
    columns: dict[_Column, dict[OID, tuple[int, SnmpValue]]] = {
        column: walk.rows(column.oid) for column in COLUMNS
    }
    sources = {column: column for column in COLUMNS}
    if fallback is not None:
        for wanted, stand_in in _FALLBACKS.items():
            if not columns[wanted]:
                columns[wanted] = fallback.rows(stand_in.oid)
                sources[wanted] = stand_in
    names = columns[IF_NAME]
    if not names:
        raise ProtocolError(
            device,
            "the agent exposes neither IF-MIB ifXTable (ifName) nor ifTable (ifDescr) to"
            " this credential; is its view restricted to the system group?",
        )
    hc_counters = bool(walk.rows(IF_HC_IN_OCTETS.oid))
    if hc_counters != bool(walk.rows(IF_HC_OUT_OCTETS.oid)):
        raise ProtocolError(device, "the agent has only one of ifHCInOctets / ifHCOutOctets")
    speed_in_bits = not walk.rows(IF_HIGH_SPEED.oid)
    reader = _RowReader(device, columns, sources, speed_in_bits=speed_in_bits)
    interfaces = tuple(reader.interface(suffix) for suffix in sorted(names))
    return CounterSnapshot(
        device=device,
        uptime_ticks=walk.uptime_ticks,
        received_at=received_at,
        interfaces=interfaces,
        counter_bits=64 if hc_counters else 32,
    )


class _RowReader:
    """Reads one interface's row out of the collected columns, checking types."""

    def __init__(
        self,
        device: str,
        columns: Mapping[_Column, Mapping[OID, tuple[int, SnmpValue]]],
        sources: Mapping[_Column, _Column],
        *,
        speed_in_bits: bool,
    ) -> None:
        self.device = device
        self.columns = columns
        self.sources = sources  # the column actually read for each logical column
        self.speed_in_bits = speed_in_bits

    def interface(self, suffix: OID) -> IfCounters:
        if len(suffix) != 1:
            raise ProtocolError(
                self.device, f"ifName has a row .{'.'.join(map(str, suffix))} that is no ifIndex"
            )
        name = self._text(IF_NAME, suffix)
        in_octets = self._integer(IF_HC_IN_OCTETS, suffix)
        out_octets = self._integer(IF_HC_OUT_OCTETS, suffix)
        speed = self._integer(IF_HIGH_SPEED, suffix)
        discontinuity = self.columns[IF_COUNTER_DISCONTINUITY_TIME].get(suffix)
        return IfCounters(
            index=suffix[0],
            name=name,
            hc_in_octets=in_octets,
            hc_out_octets=out_octets,
            high_speed_mbps=speed // _BITS_PER_MBIT if self.speed_in_bits else speed,
            oper_up=self._integer(IF_OPER_STATUS, suffix) == IF_OPER_STATUS_UP,
            discontinuity_ticks=None
            if discontinuity is None
            else self._typed_integer(IF_COUNTER_DISCONTINUITY_TIME, suffix, discontinuity),
        )

    def _cell(self, column: _Column, suffix: OID) -> tuple[int, SnmpValue]:
        cell = self.columns[column].get(suffix)
        if cell is None:
            shown = self.sources[column]
            raise ProtocolError(
                self.device,
                f"the agent returned no {shown.name} (.{'.'.join(map(str, shown.oid))}) "
                f"for ifIndex {suffix[0]}",
            )
        return cell

    def _integer(self, column: _Column, suffix: OID) -> int:
        return self._typed_integer(column, suffix, self._cell(column, suffix))

    def _typed_integer(self, column: _Column, suffix: OID, cell: tuple[int, SnmpValue]) -> int:
        tag, value = cell
        if tag not in _INTEGER_TAGS or not isinstance(value, int):
            raise ProtocolError(
                self.device,
                f"{self.sources.get(column, column).name}.{suffix[0]} is "
                f"{_TAG_NAMES.get(tag, hex(tag))}, expected an integer",
            )
        return value

    def _text(self, column: _Column, suffix: OID) -> str:
        tag, value = self._cell(column, suffix)
        if tag != TAG_OCTET_STRING or not isinstance(value, bytes):
            raise ProtocolError(
                self.device,
                f"{self.sources[column].name}.{suffix[0]} is "
                f"{_TAG_NAMES.get(tag, hex(tag))}, expected a string",
            )
        return value.decode("utf-8", errors="replace")


_TAG_NAMES = {
    TAG_INTEGER: "Integer",
    TAG_OCTET_STRING: "OctetString",
    TAG_NULL: "Null",
    TAG_OID: "ObjectIdentifier",
    TAG_IP_ADDRESS: "IpAddress",
    TAG_COUNTER32: "Counter32",
    TAG_GAUGE32: "Gauge32",
    TAG_TIMETICKS: "TimeTicks",
    TAG_OPAQUE: "Opaque",
    TAG_COUNTER64: "Counter64",
    TAG_NO_SUCH_OBJECT: "noSuchObject",
    TAG_NO_SUCH_INSTANCE: "noSuchInstance",
    TAG_END_OF_MIB_VIEW: "endOfMibView",
}
