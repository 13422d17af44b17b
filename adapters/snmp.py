"""SNMP v2c polling of IF-MIB interface counters (the only module that touches pysnmp).

:class:`SnmpPoller` reads, per device, ``sysUpTime.0`` and the ifXTable/ifTable columns the
rate computation needs, in as few round trips as GETBULK allows: one request carries
``sysUpTime`` as a non-repeater plus all six columns as repeaters, and the walk continues
only for the columns that have not yet left their subtree. (pysnmp's ``bulk_walk_cmd``
follows only one column per request, so the walk is driven here with ``bulk_cmd``, with the
same stop rule as its ``lexicographicMode=False``.) OIDs are numeric and ``lookupMib=False``,
so no MIB is ever loaded.

pysnmp reports failures as values (``errorIndication``/``errorStatus``); they are mapped to
:mod:`controller.errors` at once, and no pysnmp type leaves this module: callers get a
:class:`~adapters.counters.CounterSnapshot`.

One :class:`~pysnmp.hlapi.v3arch.asyncio.SnmpEngine` (and so one UDP socket) serves every
device for the poller's life: a new engine per request is 32x slower. A poller belongs to
the event loop it first polls from.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
)
from pysnmp.proto import errind, rfc1902, rfc1905

from adapters.counters import CounterSnapshot, IfCounters
from adapters.credentials import resolve_secret
from controller.errors import (
    AdapterError,
    AdapterTimeoutError,
    AuthError,
    ConnectError,
    ProtocolError,
)
from controller.model import Device

__all__ = ["SnmpPoller"]

_log = logging.getLogger(__name__)

OID = tuple[int, ...]

SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3)  # GETNEXT on the object gives sysUpTime.0
SYS_UPTIME_0: OID = (*SYS_UPTIME, 0)
_IFX_ENTRY: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
_IF_ENTRY: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)

IF_OPER_STATUS_UP = 1


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    oid: OID
    required: bool


IF_NAME = _Column("ifName", (*_IFX_ENTRY, 1), required=True)
IF_HC_IN_OCTETS = _Column("ifHCInOctets", (*_IFX_ENTRY, 6), required=True)
IF_HC_OUT_OCTETS = _Column("ifHCOutOctets", (*_IFX_ENTRY, 10), required=True)
IF_HIGH_SPEED = _Column("ifHighSpeed", (*_IFX_ENTRY, 15), required=True)
IF_COUNTER_DISCONTINUITY_TIME = _Column(
    "ifCounterDiscontinuityTime", (*_IFX_ENTRY, 19), required=False
)
IF_OPER_STATUS = _Column("ifOperStatus", (*_IF_ENTRY, 8), required=True)

COLUMNS: tuple[_Column, ...] = (
    IF_NAME,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_HIGH_SPEED,
    IF_COUNTER_DISCONTINUITY_TIME,
    IF_OPER_STATUS,
)

# pysnmp's SMI value types (all pyasn1 Integer / OctetString underneath).
_INTEGER_TYPES = (
    rfc1902.Integer32,
    rfc1902.Counter32,
    rfc1902.Gauge32,
    rfc1902.Unsigned32,
    rfc1902.TimeTicks,
    rfc1902.Counter64,
)

# A walk that needs more requests than this is an agent that never ends a column.
_MAX_ROUND_TRIPS = 1000

_AUTH_INDICATIONS: tuple[type[errind.ErrorIndication], ...] = (
    errind.UnknownCommunityName,
    errind.UnknownUserName,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.WrongDigest,
    errind.NoAuthentication,
    errind.DecryptionError,
)
_PROTOCOL_INDICATIONS: tuple[type[errind.ErrorIndication], ...] = (
    errind.SerializationError,
    errind.DeserializationError,
    errind.EmptyResponse,
    errind.DataMismatch,
    errind.TooBig,
    errind.InvalidMsg,
    errind.OidNotIncreasing,
    errind.UnknownPDUHandler,
    errind.UnsupportedPDUtype,
    errind.ReportPduReceived,
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where and how to send one device's requests."""

    device: str
    address: str
    port: int
    timeout_seconds: float
    retries: int


class SnmpPoller:
    """Polls IF-MIB interface counters from many devices through one SNMP engine.

    Poll a device no faster than every few seconds: net-snmp caches its interface table
    for about 3 s, so faster polls see unchanged counters and then a double step (the rate
    tracker flags what exceeds the line rate, but it cannot see a zero that should not be).
    Error indications of the USM family (SNMPv3 credentials) become :class:`AuthError`;
    SNMPv2c agents answer a wrong community with silence, i.e. a timeout.

    Args:
        max_concurrency: devices polled at the same time; pysnmp is CPU-bound (~4 ms per
            request in pyasn1), so more in flight only adds latency.
        max_repetitions: upper bound on GETBULK max-repetitions (rows per column per
            request). Once a device has been walked, its requests ask for one row more than
            it had interfaces last time: enough to see every column end in the same reply,
            without decoding rows of the next columns (pyasn1 decoding is the CPU cost).
            Agents may return fewer (net-snmp caps a reply at 100 var-binds by default).
        clock: returns the controller's current UTC time (``received_at``); tests inject one.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 16,
        max_repetitions: int = 25,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_concurrency < 1 or max_repetitions < 1:
            raise ValueError("max_concurrency and max_repetitions must be >= 1")
        self._engine = SnmpEngine()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_repetitions = max_repetitions
        self._clock = clock
        self._targets: dict[tuple[str, int, float, int], UdpTransportTarget] = {}
        # (address, port) -> interfaces seen at the last walk; bounded by the inventory
        self._rows_seen: dict[tuple[str, int], int] = {}
        # pysnmp resolves request OIDs against its MIB tree on every request unless the
        # ObjectType was resolved before: reusing the first request's objects saves ~15 % CPU.
        self._first_request = tuple(
            ObjectType(ObjectIdentity(oid)) for oid in (SYS_UPTIME, *(c.oid for c in COLUMNS))
        )
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
        """Release the engine's socket and timer. The poller cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        self._targets.clear()
        self._engine.close_dispatcher()
        # asyncio closes a transport's socket in a callback on the next loop iteration; let
        # it run so the socket is gone when close() returns.
        await asyncio.sleep(0)

    async def poll_interfaces(self, device: Device) -> CounterSnapshot:
        """Read sysUpTime.0 and every interface's counters, speed and status.

        Args:
            device: the device; its ``snmp`` endpoint gives port, community, timeout and
                retries. The community is resolved now and never logged.

        Returns:
            The interfaces in ifIndex order, with the agent's sysUpTime from the first reply
            and the controller time at which the last reply arrived.

        Raises:
            AdapterTimeoutError: no answer within the endpoint's timeout x (retries + 1), for
                any request of the walk (SNMPv2c agents also stay silent on a wrong community).
            ConnectError: the request could not be sent, or the device has no SNMP endpoint.
            AuthError: the community could not be resolved.
            ProtocolError: an error-status in a reply, a malformed reply, or IF-MIB columns the
                agent does not expose to this community.
            RuntimeError: the poller was closed.
        """
        if self._closed:
            raise RuntimeError("SnmpPoller is closed")
        endpoint = device.snmp
        if endpoint is None:
            raise ConnectError(device.name, "no SNMP endpoint in the inventory")
        community = resolve_secret(device.name, endpoint.community)
        target = _Target(
            device=device.name,
            address=device.address,
            port=endpoint.port,
            timeout_seconds=endpoint.timeout_seconds,
            retries=endpoint.retries,
        )
        async with self._slots:
            walk = await self._walk(target, CommunityData(community))
        snapshot = walk.snapshot(device.name, self._clock())
        _log.debug(
            "polled %s: %d interfaces in %d round trip(s)",
            device.name,
            len(snapshot.interfaces),
            walk.round_trips,
        )
        return snapshot

    async def _transport(self, target: _Target) -> UdpTransportTarget:
        key = (target.address, target.port, target.timeout_seconds, target.retries)
        transport = self._targets.get(key)
        if transport is None:
            try:
                transport = await UdpTransportTarget.create(
                    (target.address, target.port),
                    timeout=target.timeout_seconds,
                    retries=target.retries,
                )
            except PySnmpError as exc:
                raise ConnectError(target.device, f"bad SNMP address: {exc}") from exc
            self._targets[key] = transport
        return transport

    async def _walk(self, target: _Target, auth: CommunityData) -> _Walk:
        transport = await self._transport(target)
        rows_seen = self._rows_seen.get((target.address, target.port))
        walk = _Walk(target.device)
        first = True
        while walk.active:
            if walk.round_trips >= _MAX_ROUND_TRIPS:
                raise ProtocolError(target.device, "IF-MIB walk did not end; agent loops")
            requested = walk.active
            repetitions = self._max_repetitions
            if rows_seen is not None:
                # one row past the expected end, so every column ends in this reply
                expected_left = rows_seen + 1 - walk.rows_taken(requested)
                repetitions = max(1, min(repetitions, expected_left))
            if first:
                request = self._first_request
            else:
                request = tuple(ObjectType(ObjectIdentity(cursor.last)) for cursor in requested)
            replies = await self._bulk(target, transport, auth, request, int(first), repetitions)
            walk.round_trips += 1
            if first:
                walk.take_uptime(replies[:1])
                replies = replies[1:]
                first = False
            walk.take_rows(requested, replies)
        self._rows_seen[(target.address, target.port)] = len(walk.values[IF_NAME.name])
        return walk

    async def _bulk(
        self,
        target: _Target,
        transport: UdpTransportTarget,
        auth: CommunityData,
        var_binds: Sequence[ObjectType],
        non_repeaters: int,
        repetitions: int,
    ) -> list[tuple[OID, Any]]:
        """One GETBULK; returns ``(oid, value)`` pairs or raises a netpilot error."""
        # pysnmp enforces timeout x attempts itself; this bound only guards against its
        # timer never firing (the request would otherwise hang the tick).
        budget = target.timeout_seconds * (target.retries + 1) + 2.0
        try:
            async with asyncio.timeout(budget):
                indication, status, index, replies = await bulk_cmd(
                    self._engine,
                    auth,
                    transport,
                    ContextData(),
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
            raise _indication_error(target, indication)
        if status:
            culprit = ""
            if 0 < int(index) <= len(var_binds):
                culprit = f" at {_dotted(_oid_of(var_binds[int(index) - 1]))}"
            name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
            raise ProtocolError(target.device, f"agent answered error-status {name}{culprit}")
        return [(tuple(name), value) for name, value in replies]


def _oid_of(var_bind: ObjectType) -> OID:
    return tuple(var_bind[0].get_oid())


def _dotted(oid: OID) -> str:
    return ".".join(str(arc) for arc in oid)


def _timeout(target: _Target) -> AdapterTimeoutError:
    attempts = target.retries + 1
    return AdapterTimeoutError(
        target.device,
        f"no SNMP answer from {target.address}:{target.port} in {attempts} x "
        f"{target.timeout_seconds:g} s (agent down, port closed, or community refused)",
    )


def _indication_error(target: _Target, indication: object) -> AdapterError:
    """Map a pysnmp errorIndication to netpilot's error tree."""
    if isinstance(indication, errind.RequestTimedOut):
        return _timeout(target)
    if isinstance(indication, _AUTH_INDICATIONS):
        return AuthError(target.device, f"SNMP credentials refused: {indication}")
    if isinstance(indication, _PROTOCOL_INDICATIONS):
        return ProtocolError(target.device, f"bad SNMP reply: {indication}")
    return ConnectError(target.device, f"SNMP request failed: {indication}")


class _Cursor:
    """Where one column's walk stands."""

    __slots__ = ("column", "done", "last")

    def __init__(self, column: _Column) -> None:
        self.column = column
        self.last: OID = column.oid
        self.done = False


class _Walk:
    """Collects one device's columns across GETBULK replies (pure bookkeeping)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.round_trips = 0
        self.uptime_ticks: int | None = None
        self.cursors = [_Cursor(column) for column in COLUMNS]
        self.values: dict[str, dict[int, Any]] = {column.name: {} for column in COLUMNS}

    @property
    def active(self) -> list[_Cursor]:
        return [cursor for cursor in self.cursors if not cursor.done]

    def rows_taken(self, cursors: Sequence[_Cursor]) -> int:
        """Rows already collected by the least advanced of ``cursors``."""
        return min(len(self.values[cursor.column.name]) for cursor in cursors)

    def take_uptime(self, var_binds: Sequence[tuple[OID, Any]]) -> None:
        if not var_binds or var_binds[0][0] != SYS_UPTIME_0:
            got = _dotted(var_binds[0][0]) if var_binds else "nothing"
            raise ProtocolError(self.device, f"expected sysUpTime.0 in the reply, got {got}")
        self.uptime_ticks = self._integer(var_binds[0][1], "sysUpTime", 0)

    def take_rows(self, requested: Sequence[_Cursor], var_binds: Sequence[tuple[OID, Any]]) -> None:
        """Distribute a reply's repeater var-binds over the requested columns.

        The reply holds rows of ``len(requested)`` var-binds, one per column in request order;
        the agent may truncate the last row to fit its message size.
        """
        if not var_binds:
            raise ProtocolError(self.device, "empty GETBULK reply")
        progressed = False
        width = len(requested)
        for position, (oid, value) in enumerate(var_binds):
            cursor = requested[position % width]
            if cursor.done:
                continue
            prefix = cursor.column.oid
            if isinstance(value, rfc1905.EndOfMibView) or oid[: len(prefix)] != prefix:
                cursor.done = True
                continue
            if oid <= cursor.last:
                raise ProtocolError(self.device, f"OID not increasing at {_dotted(oid)}")
            if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance)):
                cursor.done = True
                continue
            suffix = oid[len(prefix) :]
            if len(suffix) != 1:
                raise ProtocolError(
                    self.device, f"{cursor.column.name} has a non-ifIndex row {_dotted(oid)}"
                )
            self.values[cursor.column.name][suffix[0]] = value
            cursor.last = oid
            progressed = True
        if not progressed and not any(cursor.done for cursor in requested):
            raise ProtocolError(self.device, "GETBULK reply made no progress")

    def _integer(self, value: Any, column: str, index: int) -> int:
        if not isinstance(value, _INTEGER_TYPES):
            raise ProtocolError(
                self.device, f"{column}.{index} is {type(value).__name__}, expected an integer"
            )
        return int(value)

    def _text(self, value: Any, column: str, index: int) -> str:
        if not isinstance(value, rfc1902.OctetString):
            raise ProtocolError(
                self.device, f"{column}.{index} is {type(value).__name__}, expected a string"
            )
        return bytes(value.asOctets()).decode("utf-8", errors="replace")

    def snapshot(self, device: str, received_at: datetime) -> CounterSnapshot:
        """The collected columns as a snapshot; raises ProtocolError if columns are missing."""
        if self.uptime_ticks is None:
            raise ProtocolError(self.device, "no sysUpTime.0 in the reply")
        names = self.values[IF_NAME.name]
        if not names:
            raise ProtocolError(
                self.device,
                "the agent exposes no IF-MIB ifXTable (ifName) to this community;"
                " is its view restricted to the system group?",
            )
        interfaces = [self._interface(index, names[index]) for index in sorted(names)]
        return CounterSnapshot(
            device=device,
            uptime_ticks=self.uptime_ticks,
            received_at=received_at,
            interfaces=tuple(interfaces),
        )

    def _interface(self, index: int, name_value: Any) -> IfCounters:
        row: dict[str, Any] = {}
        for column in COLUMNS:
            value = self.values[column.name].get(index)
            if value is None and column.required:
                raise ProtocolError(
                    self.device,
                    f"the agent returned no {column.name} (.{_dotted(column.oid)}) "
                    f"for ifIndex {index}",
                )
            row[column.name] = value
        discontinuity = row[IF_COUNTER_DISCONTINUITY_TIME.name]
        return IfCounters(
            index=index,
            name=self._text(name_value, IF_NAME.name, index),
            hc_in_octets=self._integer(row[IF_HC_IN_OCTETS.name], IF_HC_IN_OCTETS.name, index),
            hc_out_octets=self._integer(row[IF_HC_OUT_OCTETS.name], IF_HC_OUT_OCTETS.name, index),
            high_speed_mbps=self._integer(row[IF_HIGH_SPEED.name], IF_HIGH_SPEED.name, index),
            oper_up=self._integer(row[IF_OPER_STATUS.name], IF_OPER_STATUS.name, index)
            == IF_OPER_STATUS_UP,
            discontinuity_ticks=None
            if discontinuity is None
            else self._integer(discontinuity, IF_COUNTER_DISCONTINUITY_TIME.name, index),
        )
