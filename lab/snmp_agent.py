"""The embedded lab's SNMP v2c agent: one per emulated device, on the device's own address.

It speaks real SNMP over UDP, so pysnmp and net-snmp's tools cannot tell it from a real
agent except by its data, and it is cheap enough to run a thousand of them in one asyncio
process: requests are decoded and responses encoded by :mod:`lab.snmp_codec`, and each
request costs one :meth:`~lab.backend.SnmpBackend.snmp_snapshot` call.

The MIB is a list of :class:`MibScalar` and :class:`MibTable` objects. The set of instances
(which rows exist) is compiled once into a sorted OID list that GETNEXT/GETBULK walk with
:mod:`bisect`; values are computed per request from the snapshot. The compiled list is
rebuilt only if the rows change (the set of interfaces is normally fixed for a device's
life). Adding a table later (an enterprise power table under 1.3.6.1.4.1.32473) means
passing one more :class:`MibTable` with its columns in ``extra_objects``.

Served: GET, GETNEXT, GETBULK; SET is refused (``notWritable`` for the MIB's objects,
``noAccess`` for names outside it). SNMPv2c with the community, and SNMPv3 (USM, authPriv
with HMAC-SHA-96 and AES-128) when the agent is given a :class:`lab.snmp_usm.UsmAgent`;
v1 messages are dropped and counted.

The agent also sends SNMPv2-Trap notifications (:meth:`LabSnmpAgent.send_trap`) from its
own socket, and serves the lab's enterprise power MIB (:func:`power_objects`) under
1.3.6.1.4.1.32473.2 when the backend's snapshots carry power data.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

from lab.backend import AgentSnapshot, InterfaceCounters, PowerComponent, SnmpBackend
from lab.snmp_codec import (
    END_OF_MIB_VIEW_TLV,
    MESSAGE_OVERHEAD_BOUND,
    NO_SUCH_INSTANCE_TLV,
    NO_SUCH_OBJECT_TLV,
    UINT32_MAX,
    UINT64_MAX,
    ErrorStatus,
    Oid,
    Pdu,
    PduType,
    SnmpCodecError,
    SnmpVersionError,
    Value,
    VarBind,
    decode_message,
    encode_counter32,
    encode_counter64,
    encode_gauge32,
    encode_integer,
    encode_message_bytes,
    encode_octet_string,
    encode_oid,
    encode_pdu,
    encode_timeticks,
    encode_varbind,
    trap_pdu,
)
from lab.snmp_usm import UsmAgent

_log = logging.getLogger(__name__)

RowT = TypeVar("RowT")

#: Computes a scalar's value TLV (see the ``encode_*`` functions of lab.snmp_codec).
SnapshotValue = Callable[[AgentSnapshot], bytes]

DEFAULT_SYS_OBJECT_ID: Final[Oid] = (1, 3, 6, 1, 4, 1, 32473, 1)
# A UDP datagram carries at most 65,507 bytes of payload over IPv4; stay clear of it.
DEFAULT_MAX_RESPONSE_BYTES: Final = 65_000
# net-snmp's snmpd stops a GETBULK at its own limits too; 1,000 varbinds is ~40 KB of IF-MIB.
DEFAULT_MAX_BULK_VARBINDS: Final = 1_000

SYSTEM: Final[Oid] = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 1)
IF_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY: Final[Oid] = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
# The lab's enterprise MIB under the documentation enterprise number (RFC 5612)
NETPILOT_LAB_MIB: Final[Oid] = (1, 3, 6, 1, 4, 1, 32473, 2)
POWER_MILLIWATTS: Final[Oid] = (*NETPILOT_LAB_MIB, 1, 1)  # Gauge32 scalar
ENERGY_JOULES: Final[Oid] = (*NETPILOT_LAB_MIB, 1, 2)  # Counter64 scalar
COMPONENT_ENTRY: Final[Oid] = (*NETPILOT_LAB_MIB, 2, 1)  # .2 name .3 kind .4 state .5 mW
# SNMPv2-MIB notifications (RFC 3418) and IF-MIB's (RFC 2863)
COLD_START: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5, 1)
LINK_DOWN: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
LINK_UP: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)

_IF_TYPE_ETHERNET_CSMACD: Final = 6
_IF_MTU: Final = 1500
_STATUS_UP: Final = 1
_STATUS_DOWN: Final = 2


@dataclass(frozen=True, slots=True)
class MibScalar:
    """A scalar object; its one instance is ``oid + (0,)``.

    Args:
        oid: the OBJECT-TYPE's OID (e.g. sysUpTime 1.3.6.1.2.1.1.3).
        value: computes the instance's value TLV from the request's snapshot.
    """

    oid: Oid
    value: SnapshotValue


@dataclass(frozen=True, slots=True)
class MibColumn(Generic[RowT]):
    """A table column: instance ``entry_oid + (sub_id,) + index(row)`` for each row.

    Args:
        sub_id: the column's last arc under the table's entry OID.
        value: computes a row's value TLV.
    """

    sub_id: int
    value: Callable[[RowT], bytes]


@dataclass(frozen=True, slots=True)
class MibTable(Generic[RowT]):
    """A conceptual table whose rows come from the snapshot.

    Args:
        entry_oid: the table's entry OID (e.g. ifEntry 1.3.6.1.2.1.2.2.1).
        rows: the snapshot's rows; the same rows, in the same order, for the same device
            unless its hardware changes (the agent then recompiles its OID list).
        index: a row's INDEX arcs (e.g. ``(ifIndex,)``).
        columns: the columns served.
    """

    entry_oid: Oid
    rows: Callable[[AgentSnapshot], Sequence[RowT]]
    index: Callable[[RowT], Oid]
    columns: tuple[MibColumn[RowT], ...]


MibObject = MibScalar | MibTable[Any]


@dataclass(frozen=True, slots=True)
class SnmpAgentStats:
    """The agent's counters since it was created, for status output."""

    requests_served: int
    dropped_bad_community: int
    dropped_malformed: int
    dropped_wrong_version: int
    dropped_unexpected_pdu: int  # a Response/Trap/Inform/Report sent to the agent

    @property
    def dropped(self) -> int:
        """All datagrams dropped without an answer."""
        return (
            self.dropped_bad_community
            + self.dropped_malformed
            + self.dropped_wrong_version
            + self.dropped_unexpected_pdu
        )


# ---------------------------------------------------------------------------------------
# The standard MIB: SNMPv2-MIB system group and IF-MIB ifTable/ifXTable
# ---------------------------------------------------------------------------------------


def _interfaces(snapshot: AgentSnapshot) -> Sequence[InterfaceCounters]:
    return snapshot.interfaces


def _if_index(row: InterfaceCounters) -> Oid:
    return (row.index,)


def _status(up: bool) -> bytes:
    return encode_integer(_STATUS_UP if up else _STATUS_DOWN)


def _text(text: str) -> bytes:
    return encode_octet_string(text.encode("utf-8"))


def system_objects(sys_object_id: Oid, sys_contact: str, sys_location: str) -> list[MibObject]:
    """SNMPv2-MIB's system group as served by the lab.

    Args:
        sys_object_id: sysObjectID (the device's vendor/model identity).
        sys_contact: sysContact.
        sys_location: sysLocation.

    Returns:
        sysDescr, sysObjectID, sysUpTime, sysContact, sysName and sysLocation.

    Raises:
        ValueError: ``sys_object_id`` is not an OID BER can carry.
    """
    object_id = encode_oid(sys_object_id)
    contact = _text(sys_contact)
    location = _text(sys_location)
    return [
        MibScalar(SYSTEM + (1,), lambda snap: _text(snap.sys_descr)),
        MibScalar(SYSTEM + (2,), lambda snap: object_id),
        # TimeTicks wrap after 497 days; lab time may run faster than real time
        MibScalar(SYSTEM + (3,), lambda snap: encode_timeticks(snap.uptime_ticks & UINT32_MAX)),
        MibScalar(SYSTEM + (4,), lambda snap: contact),
        MibScalar(SYSTEM + (5,), lambda snap: _text(snap.sys_name)),
        MibScalar(SYSTEM + (6,), lambda snap: location),
    ]


def interface_objects() -> list[MibObject]:
    """IF-MIB's ifNumber, ifTable and ifXTable columns as served by the lab.

    Counter32 columns are the backend's unbounded counters modulo 2**32, Counter64 columns
    modulo 2**64; ifSpeed is in bit/s capped at 2**32-1, ifHighSpeed in Mbit/s.

    Returns:
        The objects, ready to compile.
    """
    if_table: tuple[MibColumn[InterfaceCounters], ...] = (
        MibColumn(1, lambda row: encode_integer(row.index)),
        MibColumn(2, lambda row: _text(row.name)),
        MibColumn(3, lambda row: encode_integer(_IF_TYPE_ETHERNET_CSMACD)),
        MibColumn(4, lambda row: encode_integer(_IF_MTU)),
        MibColumn(5, lambda row: encode_gauge32(min(row.speed_mbps * 1_000_000, UINT32_MAX))),
        MibColumn(7, lambda row: _status(row.admin_up)),
        MibColumn(8, lambda row: _status(row.oper_up)),
        MibColumn(10, lambda row: encode_counter32(row.in_octets & UINT32_MAX)),
        MibColumn(11, lambda row: encode_counter32(row.in_packets & UINT32_MAX)),
        MibColumn(16, lambda row: encode_counter32(row.out_octets & UINT32_MAX)),
        MibColumn(17, lambda row: encode_counter32(row.out_packets & UINT32_MAX)),
    )
    ifx_table: tuple[MibColumn[InterfaceCounters], ...] = (
        MibColumn(1, lambda row: _text(row.name)),
        MibColumn(6, lambda row: encode_counter64(row.in_octets & UINT64_MAX)),
        MibColumn(7, lambda row: encode_counter64(row.in_packets & UINT64_MAX)),
        MibColumn(10, lambda row: encode_counter64(row.out_octets & UINT64_MAX)),
        MibColumn(11, lambda row: encode_counter64(row.out_packets & UINT64_MAX)),
        MibColumn(15, lambda row: encode_gauge32(min(row.speed_mbps, UINT32_MAX))),
        MibColumn(18, lambda row: _text(row.alias)),
        # counters never restart behind the agent's back: no discontinuity since boot
        MibColumn(19, lambda row: encode_timeticks(0)),
    )
    return [
        MibScalar(IF_NUMBER, lambda snap: encode_integer(len(snap.interfaces))),
        MibTable(IF_ENTRY, _interfaces, _if_index, if_table),
        MibTable(IFX_ENTRY, _interfaces, _if_index, ifx_table),
    ]


def _component_index(row: PowerComponent) -> Oid:
    return (row.index,)


def _components(snapshot: AgentSnapshot) -> Sequence[PowerComponent]:
    return snapshot.components


def power_objects() -> list[MibObject]:
    """The lab's enterprise power MIB (NETPILOT-LAB-MIB, 1.3.6.1.4.1.32473.2).

    - ``.1.1.0`` npLabPowerMilliwatts, Gauge32: the device's power now;
    - ``.1.2.0`` npLabEnergyJoules, Counter64: energy since the device booted (lab time);
    - ``.2.1.C.I`` npLabComponentTable, one row per chassis, line card, port and radio
      carrier: ``.2`` name, ``.3`` kind (1 chassis, 2 line card, 3 port, 4 carrier),
      ``.4`` state (1 active, 2 sleep, 3 waking, 4 off), ``.5`` milliwatts (Gauge32).

    Returns:
        The objects, ready to pass as ``extra_objects``.
    """
    columns: tuple[MibColumn[PowerComponent], ...] = (
        MibColumn(2, lambda row: _text(row.name)),
        MibColumn(3, lambda row: encode_integer(row.kind)),
        MibColumn(4, lambda row: encode_integer(row.state)),
        MibColumn(5, lambda row: encode_gauge32(min(row.milliwatts, UINT32_MAX))),
    )
    return [
        MibScalar(POWER_MILLIWATTS, lambda snap: encode_gauge32(min(snap.power_mw, UINT32_MAX))),
        MibScalar(ENERGY_JOULES, lambda snap: encode_counter64(snap.energy_j & UINT64_MAX)),
        MibTable(COMPONENT_ENTRY, _components, _component_index, columns),
    ]


# ---------------------------------------------------------------------------------------
# The compiled view
# ---------------------------------------------------------------------------------------

Layout = tuple[tuple[Oid, ...], ...]
RowSource = tuple[Callable[[AgentSnapshot], Sequence[Any]], Callable[[Any], Oid]]
# How to compute one instance: (row source number or -1 for a scalar, row position, value).
# Plain tuples rather than closures keep the per-varbind work to one call of ``value``.
_Cell = tuple[int, int, Callable[[Any], bytes]]


class _MibView:
    """The MIB's instances in lexicographic order, for one layout of table rows.

    ``layout`` holds each row source's INDEX tuples in row order; a cell's position refers
    to that order, so the view is valid for every snapshot with the same layout.
    """

    __slots__ = ("cells", "layout", "object_type_lengths", "object_types", "oid_tlvs", "oids")

    def __init__(
        self,
        objects: Sequence[MibObject],
        sources: Sequence[RowSource],
        layout: Layout,
    ) -> None:
        leaves: list[tuple[Oid, _Cell]] = []
        object_types: set[Oid] = set()
        for obj in objects:
            if isinstance(obj, MibScalar):
                object_types.add(obj.oid)
                leaves.append((obj.oid + (0,), (-1, 0, obj.value)))
                continue
            source = sources.index((obj.rows, obj.index))
            for column in obj.columns:
                column_oid = obj.entry_oid + (column.sub_id,)
                object_types.add(column_oid)
                for position, index in enumerate(layout[source]):
                    leaves.append((column_oid + index, (source, position, column.value)))
        leaves.sort(key=lambda leaf: leaf[0])
        for before, after in zip(leaves, leaves[1:], strict=False):
            if before[0] == after[0]:
                raise ValueError(f"two MIB instances share the OID {before[0]}")
        self.layout = layout
        self.oids = [oid for oid, _ in leaves]
        self.oid_tlvs = [encode_oid(oid) for oid in self.oids]
        self.cells = [cell for _, cell in leaves]
        self.object_types = frozenset(object_types)
        self.object_type_lengths = sorted({len(oid) for oid in object_types})

    def has_object_type(self, oid: Oid) -> bool:
        """Whether ``oid`` names an implemented object type or an instance of one."""
        return any(oid[:size] in self.object_types for size in self.object_type_lengths)


class _Answer:
    """One request's MIB: the compiled instances plus this request's snapshot and rows."""

    __slots__ = ("cells", "count", "oid_tlvs", "oids", "rows", "snapshot", "view")

    def __init__(
        self, view: _MibView, snapshot: AgentSnapshot, rows: Sequence[Sequence[Any]]
    ) -> None:
        self.view = view
        self.oids = view.oids
        self.oid_tlvs = view.oid_tlvs
        self.cells = view.cells
        self.count = len(view.oids)
        self.snapshot = snapshot
        self.rows = rows

    def varbind(self, position: int, number: int) -> bytes:
        """The VarBind TLV of instance ``position``, for the request's varbind ``number``.

        Raises:
            _ValueFailedError: the value could not be computed or encoded.
        """
        source, row, value = self.cells[position]
        try:
            tlv = value(self.snapshot) if source < 0 else value(self.rows[source][row])
        except Exception as exc:
            # A backend handing out an unencodable value (a negative speed...) must not
            # stop the agent: this request gets genErr, the next one is answered again.
            _log.exception("SNMP agent: value of varbind %d failed", number)
            raise _ValueFailedError(number) from exc
        return encode_varbind(self.oid_tlvs[position], tlv)


class _ValueFailedError(Exception):
    """A MIB value function raised: answer genErr for the request's varbind ``index``."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


# ---------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------


class _AgentProtocol(asyncio.DatagramProtocol):
    def __init__(self, agent: LabSnmpAgent, closed: asyncio.Future[None]) -> None:
        self._agent = agent
        self._closed = closed
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        delay = self._agent.admission_delay()
        if delay is None:
            return
        reply = self._agent.handle_datagram(data)
        if reply is None or self._transport is None:
            return
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._send_later, reply, addr)
        else:
            self._transport.sendto(reply, addr)

    def _send_later(self, reply: bytes, addr: tuple[str | Any, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable from a client that went away: nothing to answer
        _log.debug("SNMP agent socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)


class LabSnmpAgent:
    """An SNMP v2c agent serving one lab device's MIB over UDP.

    Args:
        backend: the device; asked for one snapshot per request served.
        community: the read community; requests with another are dropped and counted.
        sys_object_id: sysObjectID.
        sys_contact: sysContact.
        sys_location: sysLocation.
        extra_objects: more MIB objects (e.g. an enterprise power table).
        max_response_bytes: no response is larger; GETBULK truncates repetitions to fit,
            other requests get ``tooBig``.
        max_bulk_varbinds: no GETBULK response has more varbinds.
        usm: the device's SNMPv3 engine and users; None answers v2c only.
        admission: called per received datagram: None drops it (an unreachable device),
            else the wall seconds to wait before answering (a slow device; 0 at once).

    Raises:
        ValueError: a limit is not positive or ``sys_object_id`` is not a valid OID.
    """

    def __init__(
        self,
        backend: SnmpBackend,
        *,
        community: str = "public",
        sys_object_id: Oid = DEFAULT_SYS_OBJECT_ID,
        sys_contact: str = "netpilot lab <noc@lab.invalid>",
        sys_location: str = "netpilot embedded lab",
        extra_objects: Iterable[MibObject] = (),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_bulk_varbinds: int = DEFAULT_MAX_BULK_VARBINDS,
        usm: UsmAgent | None = None,
        admission: Callable[[], float | None] | None = None,
    ) -> None:
        if max_response_bytes <= MESSAGE_OVERHEAD_BOUND or max_bulk_varbinds <= 0:
            raise ValueError("max_response_bytes and max_bulk_varbinds must leave room")
        self._backend = backend
        self._community = community.encode("utf-8")
        self._objects: tuple[MibObject, ...] = (
            *system_objects(sys_object_id, sys_contact, sys_location),
            *interface_objects(),
            *extra_objects,
        )
        # distinct (rows, index) pairs: ifTable and ifXTable share one, computed once
        self._row_sources: tuple[RowSource, ...] = tuple(
            {(obj.rows, obj.index): None for obj in self._objects if isinstance(obj, MibTable)}
        )
        self._max_response_bytes = max_response_bytes
        self._varbind_budget = max_response_bytes - MESSAGE_OVERHEAD_BOUND - len(self._community)
        self._max_bulk_varbinds = max_bulk_varbinds
        self._view: _MibView | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._closed: asyncio.Future[None] | None = None
        self._requests_served = 0
        self._dropped_bad_community = 0
        self._dropped_malformed = 0
        self._dropped_wrong_version = 0
        self._dropped_unexpected_pdu = 0
        self._dropped_unreachable = 0
        self._usm = usm
        self._admission = admission
        self._trap_ids = 0
        self.traps_sent = 0

    @property
    def usm(self) -> UsmAgent | None:
        """The SNMPv3 engine, if v3 is served."""
        return self._usm

    def admission_delay(self) -> float | None:
        """None to drop the datagram about to be handled, else the delay to answer it."""
        if self._admission is None:
            return 0.0
        delay = self._admission()
        if delay is None:
            self._dropped_unreachable += 1
        return delay

    def send_trap(
        self,
        target: tuple[str, int],
        community: str,
        trap_oid: Oid,
        varbinds: Sequence[tuple[Oid, Value]] = (),
    ) -> None:
        """Send an SNMPv2-Trap from the agent's socket (sysUpTime from the backend).

        Args:
            target: the receiver's (host, port).
            community: the community the receiver expects.
            trap_oid: the notification (e.g. :data:`LINK_DOWN`).
            varbinds: the notification's objects.

        Raises:
            RuntimeError: the agent is not started.
        """
        if self._transport is None:
            raise RuntimeError("SNMP agent not started")
        self._trap_ids = (self._trap_ids + 1) & 0x7FFFFFFF
        uptime = self._backend.snmp_snapshot().uptime_ticks
        pdu = trap_pdu(self._trap_ids, uptime, trap_oid, varbinds)
        self._transport.sendto(
            encode_message_bytes(community.encode("utf-8"), pdu.encode()), target
        )
        self.traps_sent += 1

    @property
    def stats(self) -> SnmpAgentStats:
        """The counters now."""
        return SnmpAgentStats(
            requests_served=self._requests_served,
            dropped_bad_community=self._dropped_bad_community,
            dropped_malformed=self._dropped_malformed,
            dropped_wrong_version=self._dropped_wrong_version,
            dropped_unexpected_pdu=self._dropped_unexpected_pdu,
        )

    async def start(self, host: str, port: int) -> int:
        """Bind the UDP socket and start answering.

        Args:
            host: the device's address (e.g. 127.0.1.3).
            port: the UDP port; 0 lets the OS choose.

        Returns:
            The bound port.

        Raises:
            RuntimeError: the agent is already started.
            OSError: the address cannot be bound.
        """
        if self._transport is not None:
            raise RuntimeError("SNMP agent already started")
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _AgentProtocol(self, closed), local_addr=(host, port)
        )
        self._transport = transport
        self._closed = closed
        return int(transport.get_extra_info("sockname")[1])

    async def stop(self) -> None:
        """Close the socket; returns once it is closed. Stopping a stopped agent is a no-op."""
        transport, closed = self._transport, self._closed
        self._transport = self._closed = None
        if transport is None or closed is None:
            return
        transport.close()
        # connection_lost runs on the next loop iteration; bounded in case the loop is odd
        await asyncio.wait_for(closed, timeout=5.0)

    def handle_datagram(self, data: bytes) -> bytes | None:
        """Answer one request datagram (the whole agent, minus the socket).

        Args:
            data: the received datagram.

        Returns:
            The response datagram, or None if the request is dropped (and counted).
        """
        try:
            message = decode_message(data)
        except SnmpVersionError as exc:
            if exc.version == 3 and self._usm is not None:
                return self._handle_v3(data)
            self._dropped_wrong_version += 1
            return None
        except SnmpCodecError:
            self._dropped_malformed += 1
            return None
        if message.community != self._community:
            self._dropped_bad_community += 1
            return None
        pdu = message.pdu
        if pdu.pdu_type not in _REQUEST_TYPES:
            self._dropped_unexpected_pdu += 1
            return None
        response = self._respond(pdu)
        self._requests_served += 1
        return encode_message_bytes(self._community, response)

    def _handle_v3(self, data: bytes) -> bytes | None:
        assert self._usm is not None
        try:
            reply = self._usm.handle(data, self._respond)
        except SnmpCodecError:
            self._dropped_malformed += 1
            return None
        if reply is not None:
            self._requests_served += 1
        return reply

    def _respond(self, pdu: Pdu) -> bytes:
        """The Response PDU TLV for a request PDU."""
        pdu_type = pdu.pdu_type
        answer = self._answer(self._backend.snmp_snapshot())
        try:
            if pdu_type is PduType.GET_BULK_REQUEST:
                status, tlvs = self._get_bulk(answer, pdu)
                index = 0
            elif pdu_type is PduType.SET_REQUEST:
                status, index, tlvs = self._set(answer.view, pdu)
            else:
                status, tlvs = (
                    self._get(answer, pdu)
                    if pdu_type is PduType.GET_REQUEST
                    else self._get_next(answer, pdu.varbinds)
                )
                index = 0
        except _ValueFailedError as failed:
            status, index, tlvs = ErrorStatus.GEN_ERR, failed.index, self._echo(pdu)
        if sum(map(len, tlvs)) > self._varbind_budget:
            status, index, tlvs = ErrorStatus.TOO_BIG, 0, []
        return encode_pdu(PduType.RESPONSE, pdu.request_id, status, index, tlvs)

    def _answer(self, snapshot: AgentSnapshot) -> _Answer:
        sources = self._row_sources
        rows = tuple(rows_of(snapshot) for rows_of, _ in sources)
        layout = tuple(
            tuple(map(index, table_rows))
            for table_rows, (_, index) in zip(rows, sources, strict=True)
        )
        view = self._view
        if view is None or view.layout != layout:
            view = self._view = _MibView(self._objects, sources, layout)
        return _Answer(view, snapshot, rows)

    @staticmethod
    def _echo(pdu: Pdu) -> list[bytes]:
        return [encode_varbind(encode_oid(oid), value.encode()) for oid, value in pdu.varbinds]

    @staticmethod
    def _get(answer: _Answer, pdu: Pdu) -> tuple[int, list[bytes]]:
        oids, count = answer.oids, answer.count
        tlvs: list[bytes] = []
        for number, (oid, _) in enumerate(pdu.varbinds, start=1):
            position = bisect_left(oids, oid)
            if position < count and oids[position] == oid:
                tlvs.append(answer.varbind(position, number))
            elif answer.view.has_object_type(oid):
                tlvs.append(encode_varbind(encode_oid(oid), NO_SUCH_INSTANCE_TLV))
            else:
                tlvs.append(encode_varbind(encode_oid(oid), NO_SUCH_OBJECT_TLV))
        return ErrorStatus.NO_ERROR, tlvs

    @staticmethod
    def _get_next(answer: _Answer, varbinds: Sequence[VarBind]) -> tuple[int, list[bytes]]:
        oids, count = answer.oids, answer.count
        tlvs: list[bytes] = []
        for number, (oid, _) in enumerate(varbinds, start=1):
            position = bisect_right(oids, oid)
            if position < count:
                tlvs.append(answer.varbind(position, number))
            else:
                tlvs.append(encode_varbind(encode_oid(oid), END_OF_MIB_VIEW_TLV))
        return ErrorStatus.NO_ERROR, tlvs

    def _get_bulk(self, answer: _Answer, pdu: Pdu) -> tuple[int, list[bytes]]:
        oids, oid_tlvs, count = answer.oids, answer.oid_tlvs, answer.count
        requested = pdu.varbinds
        non_repeaters = min(pdu.non_repeaters, len(requested))
        # RFC 3416 4.2.3: the first N varbinds get one GETNEXT each, the rest M repetitions
        _, tlvs = self._get_next(answer, requested[:non_repeaters])
        size = sum(map(len, tlvs))
        repeaters = requested[non_repeaters:]
        if not repeaters or pdu.max_repetitions == 0 or size > self._varbind_budget:
            return ErrorStatus.NO_ERROR, tlvs
        starts = [bisect_right(oids, oid) for oid, _ in repeaters]
        # Past the end of the MIB a repeater's name stays the last name it returned: the
        # requested one if it started at the end, else the MIB's last instance.
        ends = [
            encode_varbind(encode_oid(oid) if start >= count else oid_tlvs[-1], END_OF_MIB_VIEW_TLV)
            for (oid, _), start in zip(repeaters, starts, strict=True)
        ]
        budget, room = self._varbind_budget, max(0, self._max_bulk_varbinds - len(tlvs))
        width, lowest = len(starts), min(starts)
        columns = list(zip(starts, range(non_repeaters + 1, len(requested) + 1), ends, strict=True))
        for repetition in range(pdu.max_repetitions):
            row = [
                answer.varbind(start + repetition, number) if start + repetition < count else end
                for start, number, end in columns
            ]
            row_size = sum(map(len, row))
            if size + row_size > budget or width > room:
                if repetition == 0:
                    # not even one whole repetition fits: send as much of it as does
                    for tlv in row[:room]:
                        if size + len(tlv) > budget:
                            break
                        tlvs.append(tlv)
                        size += len(tlv)
                break
            tlvs += row
            size += row_size
            room -= width
            if lowest + repetition >= count:
                break  # every repeater is past the end of the MIB: more would be the same
        return ErrorStatus.NO_ERROR, tlvs

    def _set(self, view: _MibView, pdu: Pdu) -> tuple[int, int, list[bytes]]:
        if not pdu.varbinds:
            return ErrorStatus.NO_ERROR, 0, []
        # The first varbind decides, as a real agent's first failing varbind would: the
        # lab's MIB is read-only, and names outside it are outside the (empty) write view.
        oid = pdu.varbinds[0][0]
        status = ErrorStatus.NOT_WRITABLE if view.has_object_type(oid) else ErrorStatus.NO_ACCESS
        return status, 1, self._echo(pdu)


_REQUEST_TYPES: Final = frozenset(
    {
        PduType.GET_REQUEST,
        PduType.GET_NEXT_REQUEST,
        PduType.GET_BULK_REQUEST,
        PduType.SET_REQUEST,
    }
)
