"""A small, fast BER codec for SNMPv2c messages (RFC 3416 PDUs over RFC 1901 messages).

The lab serves hundreds of SNMP agents from one Python process, and pysnmp's pyasn1 codec
costs milliseconds per message; this codec handles exactly the shapes SNMPv2c uses:
``Message{version, community, PDU}``, the request/response/trap PDUs, and the SMI value
types of RFC 2578 plus the RFC 3416 varbind exceptions.

Design choices:

* OIDs are tuples of ints (they compare in SNMP's lexicographic order as they are).
* The decoder is strict and total: any byte string either decodes or raises
  :class:`SnmpCodecError` (a v1/v3 message raises its subclass :class:`SnmpVersionError`).
  It follows the fixed SNMP message shape instead of parsing generic nested BER, so nesting
  depth is bounded by construction (message > PDU > varbind list > varbind > value) and there
  is no recursion. Opaque values are returned as their raw bytes, never parsed.
* Integers must be within their SMI type's range and at most 9 bytes long. Redundant
  leading bytes are accepted although X.690 8.3.2 forbids them, because pyasn1 (pysnmp)
  writes them: -2**31 goes out as ``ff 80 00 00 00``. The encoder is always minimal.
  OID sub-identifiers must be minimal and at most 2**32-1; lengths must be definite (long
  form of up to 4 bytes is accepted, minimal or not).
* Encoding has two layers: typed values (:class:`Counter64` ...) with :meth:`encode`, used by
  tests and traps, and plain ``encode_*`` functions returning TLV bytes, which the agent's hot
  path calls directly with ints and bytes so that no value object is built per varbind.
  Encoders raise ``ValueError`` for values outside their type's range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import ClassVar, Final

Oid = tuple[int, ...]

VERSION_1: Final = 0
VERSION_2C: Final = 1
VERSION_3: Final = 3

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
UINT32_MAX: Final = 2**32 - 1
UINT64_MAX: Final = 2**64 - 1
# RFC 3416 max-bindings: the upper bound of error-index, non-repeaters, max-repetitions
MAX_BINDINGS: Final = 2**31 - 1
# RFC 2578 section 3.5: at most 128 sub-identifiers, each at most 2**32-1
MAX_OID_ARCS: Final = 128
# Upper bound on a v2c message's bytes other than the community string and the varbinds
# themselves (outer, PDU and varbind-list headers with up to 4-byte long-form lengths,
# version, request-id, error-status, error-index), for sizing a response before encoding it.
MESSAGE_OVERHEAD_BOUND: Final = 48

TAG_INTEGER: Final = 0x02
TAG_OCTET_STRING: Final = 0x04
TAG_NULL: Final = 0x05
TAG_OID: Final = 0x06
TAG_SEQUENCE: Final = 0x30
TAG_IP_ADDRESS: Final = 0x40
TAG_COUNTER32: Final = 0x41
TAG_GAUGE32: Final = 0x42
TAG_TIMETICKS: Final = 0x43
TAG_OPAQUE: Final = 0x44
TAG_COUNTER64: Final = 0x46
TAG_NO_SUCH_OBJECT: Final = 0x80
TAG_NO_SUCH_INSTANCE: Final = 0x81
TAG_END_OF_MIB_VIEW: Final = 0x82

# SNMPv2-MIB names every SNMPv2-Trap carries first (RFC 3416 section 4.2.6)
SYS_UPTIME_OID: Final[Oid] = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID: Final[Oid] = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)


class SnmpCodecError(Exception):
    """The bytes are not a well-formed SNMPv2c message.

    The only exception :func:`decode_message` raises, whatever the input.
    """


class SnmpVersionError(SnmpCodecError):
    """A well-framed SNMP message of another version than v2c (v1, v3 or unknown).

    Args:
        version: the message's ``version`` field (0 = v1, 3 = v3).
    """

    def __init__(self, version: int) -> None:
        super().__init__(f"SNMP message version {version} is not v2c ({VERSION_2C})")
        self.version = version


class PduType(IntEnum):
    """The SNMPv2c PDU tags (context-specific, constructed)."""

    GET_REQUEST = 0xA0
    GET_NEXT_REQUEST = 0xA1
    RESPONSE = 0xA2
    SET_REQUEST = 0xA3
    GET_BULK_REQUEST = 0xA5
    INFORM_REQUEST = 0xA6
    SNMPV2_TRAP = 0xA7
    REPORT = 0xA8


class ErrorStatus(IntEnum):
    """RFC 3416 error-status values."""

    NO_ERROR = 0
    TOO_BIG = 1
    NO_SUCH_NAME = 2
    BAD_VALUE = 3
    READ_ONLY = 4
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_ENCODING = 9
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    AUTHORIZATION_ERROR = 16
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18


_PDU_TAGS: Final = frozenset(int(t) for t in PduType)
_MAX_ERROR_STATUS: Final = max(ErrorStatus)
# No SMI integer needs more than 9 content bytes (2**64-1 with its leading zero byte)
_MAX_INTEGER_BYTES: Final = 9
# 2**32-1 + 80 (the first sub-identifier carries the first two arcs) needs 5 base-128 bytes
_MAX_SUBID_BYTES: Final = 5


# ---------------------------------------------------------------------------------------
# Encoding: plain functions returning TLV bytes
# ---------------------------------------------------------------------------------------

# Lengths below 128 are one byte; precomputed because nearly every TLV has one.
_SHORT_LENGTHS: Final = tuple(bytes((n,)) for n in range(128))


def encode_length(length: int) -> bytes:
    """BER definite length octets, short form below 128, else minimal long form.

    Args:
        length: content length in bytes, 0 <= length < 2**32.

    Returns:
        The length octets.

    Raises:
        ValueError: the length is negative or does not fit 4 bytes.
    """
    if 0 <= length < 128:
        return _SHORT_LENGTHS[length]
    if length < 0 or length > UINT32_MAX:
        raise ValueError(f"BER length {length} out of range")
    size = (length.bit_length() + 7) >> 3
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 128:
        return bytes((tag, size)) + content
    return bytes((tag,)) + encode_length(size) + content


def _int_tlv(tag: int, value: int) -> bytes:
    # Minimal two's complement: enough bytes for the magnitude plus a sign bit, so unsigned
    # values with the top bit set get their leading zero byte (2**32-1 -> 00 ff ff ff ff).
    size = ((value if value >= 0 else ~value).bit_length() + 8) >> 3
    return bytes((tag, size)) + value.to_bytes(size, "big", signed=True)


def encode_integer(value: int) -> bytes:
    """INTEGER / Integer32 TLV.

    Raises:
        ValueError: ``value`` is outside -2**31 .. 2**31-1.
    """
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"Integer32 out of range: {value}")
    return _int_tlv(TAG_INTEGER, value)


def encode_counter32(value: int) -> bytes:
    """Counter32 TLV (callers reduce unbounded counters modulo 2**32 first).

    Raises:
        ValueError: ``value`` is outside 0 .. 2**32-1.
    """
    if not 0 <= value <= UINT32_MAX:
        raise ValueError(f"Counter32 out of range: {value}")
    return _int_tlv(TAG_COUNTER32, value)


def encode_gauge32(value: int) -> bytes:
    """Gauge32 (Unsigned32) TLV.

    Raises:
        ValueError: ``value`` is outside 0 .. 2**32-1.
    """
    if not 0 <= value <= UINT32_MAX:
        raise ValueError(f"Gauge32 out of range: {value}")
    return _int_tlv(TAG_GAUGE32, value)


def encode_timeticks(value: int) -> bytes:
    """TimeTicks TLV (hundredths of a second).

    Raises:
        ValueError: ``value`` is outside 0 .. 2**32-1.
    """
    if not 0 <= value <= UINT32_MAX:
        raise ValueError(f"TimeTicks out of range: {value}")
    return _int_tlv(TAG_TIMETICKS, value)


def encode_counter64(value: int) -> bytes:
    """Counter64 TLV (callers reduce unbounded counters modulo 2**64 first).

    Raises:
        ValueError: ``value`` is outside 0 .. 2**64-1.
    """
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"Counter64 out of range: {value}")
    return _int_tlv(TAG_COUNTER64, value)


def encode_octet_string(value: bytes) -> bytes:
    """OCTET STRING TLV (any length; long-form lengths as needed)."""
    return _tlv(TAG_OCTET_STRING, value)


def encode_opaque(value: bytes) -> bytes:
    """Opaque TLV wrapping ``value`` (already BER-encoded data, by SMI convention)."""
    return _tlv(TAG_OPAQUE, value)


def encode_ip_address(value: bytes) -> bytes:
    """IpAddress TLV.

    Raises:
        ValueError: ``value`` is not exactly 4 bytes.
    """
    if len(value) != 4:
        raise ValueError(f"IpAddress must be 4 bytes, got {len(value)}")
    return b"\x40\x04" + value


def _oid_content(oid: Oid) -> bytes:
    if not 2 <= len(oid) <= MAX_OID_ARCS:
        raise ValueError(f"an OID has 2..{MAX_OID_ARCS} arcs, got {len(oid)}")
    first, second = oid[0], oid[1]
    if first not in (0, 1, 2) or second < 0 or (first < 2 and second >= 40):
        raise ValueError(f"invalid first arcs {first}.{second}")
    if second > UINT32_MAX:
        raise ValueError(f"OID arc out of range: {second}")
    head = first * 40 + second
    rest = oid[2:]
    if head < 128 and all(0 <= arc < 128 for arc in rest):
        # the common case: one byte per sub-identifier
        return bytes((head, *rest))
    out = bytearray()
    for index, arc in enumerate(oid[1:]):
        subid = head if index == 0 else arc
        if index and not 0 <= arc <= UINT32_MAX:
            raise ValueError(f"OID arc out of range: {arc}")
        if subid < 128:
            out.append(subid)
            continue
        chunk = bytearray((subid & 0x7F,))
        subid >>= 7
        while subid:
            chunk.append(0x80 | (subid & 0x7F))
            subid >>= 7
        chunk.reverse()
        out += chunk
    return bytes(out)


def encode_oid(oid: Oid) -> bytes:
    """OBJECT IDENTIFIER TLV.

    Args:
        oid: 2 to 128 arcs; the first 0, 1 or 2; the second below 40 unless the first is 2;
            every arc 0 .. 2**32-1.

    Returns:
        The TLV bytes.

    Raises:
        ValueError: the OID breaks one of those rules.
    """
    return _tlv(TAG_OID, _oid_content(oid))


NULL_TLV: Final = b"\x05\x00"
NO_SUCH_OBJECT_TLV: Final = b"\x80\x00"
NO_SUCH_INSTANCE_TLV: Final = b"\x81\x00"
END_OF_MIB_VIEW_TLV: Final = b"\x82\x00"


# SEQUENCE headers for short contents: most varbinds are shorter than 128 bytes
_SHORT_SEQUENCE_HEADERS: Final = tuple(bytes((TAG_SEQUENCE, n)) for n in range(128))


def encode_varbind(oid_tlv: bytes, value_tlv: bytes) -> bytes:
    """A VarBind SEQUENCE from an already encoded name and value."""
    content = oid_tlv + value_tlv
    size = len(content)
    if size < 128:
        return _SHORT_SEQUENCE_HEADERS[size] + content
    return b"\x30" + encode_length(size) + content


def encode_pdu(
    pdu_type: int,
    request_id: int,
    error_status: int,
    error_index: int,
    varbind_tlvs: Iterable[bytes],
) -> bytes:
    """A PDU TLV from already encoded varbinds (the agent's fast path).

    Args:
        pdu_type: a :class:`PduType`.
        request_id: Integer32.
        error_status: error-status, or non-repeaters for a GetBulkRequest.
        error_index: error-index, or max-repetitions for a GetBulkRequest.
        varbind_tlvs: VarBind TLVs as made by :func:`encode_varbind`.

    Returns:
        The PDU TLV.

    Raises:
        ValueError: an integer field is out of the Integer32 range.
    """
    return _tlv(
        pdu_type,
        encode_integer(request_id)
        + encode_integer(error_status)
        + encode_integer(error_index)
        + _tlv(TAG_SEQUENCE, b"".join(varbind_tlvs)),
    )


def encode_message_bytes(community: bytes, pdu_tlv: bytes, version: int = VERSION_2C) -> bytes:
    """The whole Message TLV around an already encoded PDU."""
    return _tlv(
        TAG_SEQUENCE, _int_tlv(TAG_INTEGER, version) + _tlv(TAG_OCTET_STRING, community) + pdu_tlv
    )


# ---------------------------------------------------------------------------------------
# Typed values
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Integer:
    """INTEGER / Integer32."""

    value: int

    def __post_init__(self) -> None:
        if not INT32_MIN <= self.value <= INT32_MAX:
            raise ValueError(f"Integer32 out of range: {self.value}")

    def encode(self) -> bytes:
        """The TLV bytes."""
        return _int_tlv(TAG_INTEGER, self.value)


@dataclass(frozen=True, slots=True)
class _Unsigned:
    """Shared shape of the application-class unsigned integer types."""

    value: int
    tag: ClassVar[int]
    maximum: ClassVar[int] = UINT32_MAX

    def __post_init__(self) -> None:
        if not 0 <= self.value <= self.maximum:
            raise ValueError(f"{type(self).__name__} out of range: {self.value}")

    def encode(self) -> bytes:
        """The TLV bytes."""
        return _int_tlv(self.tag, self.value)


@dataclass(frozen=True, slots=True)
class Counter32(_Unsigned):
    """Counter32: 0 .. 2**32-1, wraps."""

    tag: ClassVar[int] = TAG_COUNTER32


@dataclass(frozen=True, slots=True)
class Gauge32(_Unsigned):
    """Gauge32 (= Unsigned32): 0 .. 2**32-1, latches."""

    tag: ClassVar[int] = TAG_GAUGE32


@dataclass(frozen=True, slots=True)
class TimeTicks(_Unsigned):
    """TimeTicks: hundredths of a second, 0 .. 2**32-1."""

    tag: ClassVar[int] = TAG_TIMETICKS


@dataclass(frozen=True, slots=True)
class Counter64(_Unsigned):
    """Counter64: 0 .. 2**64-1, wraps."""

    tag: ClassVar[int] = TAG_COUNTER64
    maximum: ClassVar[int] = UINT64_MAX


@dataclass(frozen=True, slots=True)
class OctetString:
    """OCTET STRING (DisplayString text is UTF-8 bytes here)."""

    value: bytes

    def encode(self) -> bytes:
        """The TLV bytes."""
        return _tlv(TAG_OCTET_STRING, self.value)


@dataclass(frozen=True, slots=True)
class Opaque:
    """Opaque: raw bytes, never parsed (decoded for completeness, not served by the lab)."""

    value: bytes

    def encode(self) -> bytes:
        """The TLV bytes."""
        return _tlv(TAG_OPAQUE, self.value)


@dataclass(frozen=True, slots=True)
class IpAddress:
    """IpAddress: exactly 4 bytes, network order."""

    value: bytes

    def __post_init__(self) -> None:
        if len(self.value) != 4:
            raise ValueError(f"IpAddress must be 4 bytes, got {len(self.value)}")

    def encode(self) -> bytes:
        """The TLV bytes."""
        return b"\x40\x04" + self.value


@dataclass(frozen=True, slots=True)
class ObjectIdentifier:
    """OBJECT IDENTIFIER as a value (e.g. sysObjectID)."""

    value: Oid

    def __post_init__(self) -> None:
        _oid_content(self.value)  # raises ValueError for an OID BER cannot carry

    def encode(self) -> bytes:
        """The TLV bytes."""
        return _tlv(TAG_OID, _oid_content(self.value))


@dataclass(frozen=True, slots=True)
class Null:
    """NULL: the value of every varbind in a request."""

    def encode(self) -> bytes:
        """The TLV bytes."""
        return NULL_TLV


@dataclass(frozen=True, slots=True)
class NoSuchObject:
    """The exception value: no such object type in the agent's view."""

    def encode(self) -> bytes:
        """The TLV bytes."""
        return NO_SUCH_OBJECT_TLV


@dataclass(frozen=True, slots=True)
class NoSuchInstance:
    """The exception value: the object type exists, this instance does not."""

    def encode(self) -> bytes:
        """The TLV bytes."""
        return NO_SUCH_INSTANCE_TLV


@dataclass(frozen=True, slots=True)
class EndOfMibView:
    """The exception value: no lexicographic successor in the agent's view."""

    def encode(self) -> bytes:
        """The TLV bytes."""
        return END_OF_MIB_VIEW_TLV


Value = (
    Integer
    | OctetString
    | Null
    | ObjectIdentifier
    | IpAddress
    | Counter32
    | Gauge32
    | TimeTicks
    | Opaque
    | Counter64
    | NoSuchObject
    | NoSuchInstance
    | EndOfMibView
)
VarBind = tuple[Oid, Value]

NULL: Final = Null()
NO_SUCH_OBJECT: Final = NoSuchObject()
NO_SUCH_INSTANCE: Final = NoSuchInstance()
END_OF_MIB_VIEW: Final = EndOfMibView()


@dataclass(frozen=True, slots=True)
class Pdu:
    """An SNMPv2c PDU.

    A GetBulkRequest has the same shape, with non-repeaters in ``error_status`` and
    max-repetitions in ``error_index`` (RFC 3416 section 3); use the properties.
    """

    pdu_type: PduType
    request_id: int
    error_status: int = 0
    error_index: int = 0
    varbinds: tuple[VarBind, ...] = ()

    @property
    def non_repeaters(self) -> int:
        """GetBulkRequest non-repeaters."""
        return self.error_status

    @property
    def max_repetitions(self) -> int:
        """GetBulkRequest max-repetitions."""
        return self.error_index

    def encode(self) -> bytes:
        """The PDU TLV.

        Raises:
            ValueError: an integer field is out of the Integer32 range.
        """
        return encode_pdu(
            self.pdu_type,
            self.request_id,
            self.error_status,
            self.error_index,
            [encode_varbind(encode_oid(oid), value.encode()) for oid, value in self.varbinds],
        )


@dataclass(frozen=True, slots=True)
class Message:
    """An SNMPv2c message."""

    community: bytes
    pdu: Pdu
    version: int = VERSION_2C


def encode_message(message: Message) -> bytes:
    """Encode a message to BER.

    Args:
        message: the message; its version is written as given.

    Returns:
        The datagram bytes.

    Raises:
        ValueError: a field or value is out of its type's range.
    """
    return encode_message_bytes(message.community, message.pdu.encode(), message.version)


def bulk_request(
    request_id: int, non_repeaters: int, max_repetitions: int, oids: Iterable[Oid]
) -> Pdu:
    """A GetBulkRequest PDU with NULL values."""
    return Pdu(
        PduType.GET_BULK_REQUEST,
        request_id,
        non_repeaters,
        max_repetitions,
        tuple((oid, NULL) for oid in oids),
    )


def trap_pdu(
    request_id: int, uptime_ticks: int, trap_oid: Oid, varbinds: Iterable[VarBind] = ()
) -> Pdu:
    """An SNMPv2-Trap PDU: sysUpTime.0 and snmpTrapOID.0 first, then ``varbinds``.

    Args:
        request_id: Integer32.
        uptime_ticks: sysUpTime in hundredths of a second (reduced modulo 2**32 here).
        trap_oid: the notification's OID (e.g. linkDown 1.3.6.1.6.3.1.1.5.3).
        varbinds: the notification's objects (e.g. ifIndex, ifAdminStatus, ifOperStatus).

    Returns:
        The PDU.
    """
    return Pdu(
        PduType.SNMPV2_TRAP,
        request_id,
        0,
        0,
        (
            (SYS_UPTIME_OID, TimeTicks(uptime_ticks & UINT32_MAX)),
            (SNMP_TRAP_OID, ObjectIdentifier(trap_oid)),
            *varbinds,
        ),
    )


# ---------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read a TLV header at ``pos``; return (tag, content start, content end <= end)."""
    if pos + 2 > end:
        raise SnmpCodecError(f"truncated TLV header at offset {pos}")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise SnmpCodecError(f"multi-byte tag at offset {pos} is not used by SNMP")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0:
            raise SnmpCodecError(f"indefinite length at offset {pos - 1}")
        if size > 4:
            raise SnmpCodecError(f"{size}-byte length at offset {pos - 1}")
        if pos + size > end:
            raise SnmpCodecError(f"truncated length at offset {pos - 1}")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise SnmpCodecError(f"length {length} at offset {pos} overruns its container")
    return tag, pos, pos + length


def _signed(data: bytes, start: int, end: int) -> int:
    size = end - start
    if size == 0:
        raise SnmpCodecError(f"empty integer at offset {start}")
    if size > _MAX_INTEGER_BYTES:
        raise SnmpCodecError(f"{size}-byte integer at offset {start}")
    return int.from_bytes(data[start:end], "big", signed=True)


def _integer_field(
    data: bytes, pos: int, end: int, low: int, high: int, what: str
) -> tuple[int, int]:
    tag, start, stop = _header(data, pos, end)
    if tag != TAG_INTEGER:
        raise SnmpCodecError(f"{what}: expected INTEGER, got tag 0x{tag:02x} at offset {pos}")
    value = _signed(data, start, stop)
    if not low <= value <= high:
        raise SnmpCodecError(f"{what} {value} out of range {low}..{high}")
    return value, stop


def _decode_oid(data: bytes, start: int, end: int) -> Oid:
    if start == end:
        raise SnmpCodecError(f"empty OBJECT IDENTIFIER at offset {start}")
    content = data[start:end]
    if content.isascii():
        # every byte < 0x80: one byte per sub-identifier, no loop needed
        if len(content) > MAX_OID_ARCS - 1:
            raise SnmpCodecError(f"OBJECT IDENTIFIER longer than {MAX_OID_ARCS} arcs")
        head = content[0]
        first = head // 40 if head < 80 else 2
        return (first, head - 40 * first, *content[1:])
    if content[-1] & 0x80:
        raise SnmpCodecError(f"truncated OID sub-identifier at offset {end - 1}")
    subids: list[int] = []
    value = 0
    width = 0
    for byte in content:
        if width == 0 and byte == 0x80:
            raise SnmpCodecError("non-minimal OID sub-identifier")
        value = (value << 7) | (byte & 0x7F)
        width += 1
        if width > _MAX_SUBID_BYTES:
            raise SnmpCodecError("OID sub-identifier too large")
        if not byte & 0x80:
            subids.append(value)
            value = 0
            width = 0
    if len(subids) > MAX_OID_ARCS - 1:
        raise SnmpCodecError(f"OBJECT IDENTIFIER longer than {MAX_OID_ARCS} arcs")
    head = subids[0]
    first = head // 40 if head < 80 else 2
    second = head - 40 * first
    if second > UINT32_MAX or any(subid > UINT32_MAX for subid in subids[1:]):
        raise SnmpCodecError("OID sub-identifier above 2**32-1")
    return (first, second, *subids[1:])


# Value decoders by tag, read-only: the unsigned integer types with their maximum, and the
# types whose content must be empty.
_UNSIGNED_TYPES: Final[Mapping[int, tuple[Callable[[int], Value], int]]] = MappingProxyType(
    {
        TAG_COUNTER64: (Counter64, UINT64_MAX),
        TAG_COUNTER32: (Counter32, UINT32_MAX),
        TAG_GAUGE32: (Gauge32, UINT32_MAX),
        TAG_TIMETICKS: (TimeTicks, UINT32_MAX),
    }
)
_EMPTY_TYPES: Final[Mapping[int, Value]] = MappingProxyType(
    {
        TAG_NULL: NULL,
        TAG_NO_SUCH_OBJECT: NO_SUCH_OBJECT,
        TAG_NO_SUCH_INSTANCE: NO_SUCH_INSTANCE,
        TAG_END_OF_MIB_VIEW: END_OF_MIB_VIEW,
    }
)


def _decode_value(tag: int, data: bytes, start: int, end: int) -> Value:
    unsigned = _UNSIGNED_TYPES.get(tag)
    if unsigned is not None:
        make, maximum = unsigned
        value = _signed(data, start, end)
        if not 0 <= value <= maximum:
            raise SnmpCodecError(f"unsigned value out of range: {value} (tag 0x{tag:02x})")
        return make(value)
    empty = _EMPTY_TYPES.get(tag)
    if empty is not None:
        if start != end:
            raise SnmpCodecError(f"tag 0x{tag:02x} must have empty content")
        return empty
    if tag == TAG_OCTET_STRING:
        return OctetString(data[start:end])
    if tag == TAG_INTEGER:
        value = _signed(data, start, end)
        if not INT32_MIN <= value <= INT32_MAX:
            raise SnmpCodecError(f"Integer32 out of range: {value}")
        return Integer(value)
    if tag == TAG_OID:
        return ObjectIdentifier(_decode_oid(data, start, end))
    if tag == TAG_IP_ADDRESS:
        if end - start != 4:
            raise SnmpCodecError(f"IpAddress of {end - start} bytes")
        return IpAddress(data[start:end])
    if tag == TAG_OPAQUE:
        return Opaque(data[start:end])
    raise SnmpCodecError(f"unknown value tag 0x{tag:02x} at offset {start}")


def _decode_varbinds(data: bytes, pos: int, end: int) -> tuple[VarBind, ...]:
    tag, pos, list_end = _header(data, pos, end)
    if tag != TAG_SEQUENCE:
        raise SnmpCodecError(f"varbind list: expected SEQUENCE, got tag 0x{tag:02x}")
    if list_end != end:
        raise SnmpCodecError("bytes after the varbind list")
    varbinds: list[VarBind] = []
    while pos < list_end:
        tag, start, vb_end = _header(data, pos, list_end)
        if tag != TAG_SEQUENCE:
            raise SnmpCodecError(f"varbind: expected SEQUENCE, got tag 0x{tag:02x} at {pos}")
        tag, name_start, name_end = _header(data, start, vb_end)
        if tag != TAG_OID:
            raise SnmpCodecError(f"varbind name: expected OID, got tag 0x{tag:02x} at {start}")
        oid = _decode_oid(data, name_start, name_end)
        tag, value_start, value_end = _header(data, name_end, vb_end)
        if value_end != vb_end:
            raise SnmpCodecError(f"bytes after the varbind value at offset {value_end}")
        varbinds.append((oid, _decode_value(tag, data, value_start, value_end)))
        pos = vb_end
    return tuple(varbinds)


def _decode_pdu(data: bytes, pos: int, end: int) -> Pdu:
    tag, pos, pdu_end = _header(data, pos, end)
    if tag not in _PDU_TAGS:
        raise SnmpCodecError(f"unknown PDU tag 0x{tag:02x}")
    if pdu_end != end:
        raise SnmpCodecError("bytes after the PDU")
    request_id, pos = _integer_field(data, pos, end, INT32_MIN, INT32_MAX, "request-id")
    if tag == PduType.GET_BULK_REQUEST:
        first, pos = _integer_field(data, pos, end, 0, MAX_BINDINGS, "non-repeaters")
        second, pos = _integer_field(data, pos, end, 0, MAX_BINDINGS, "max-repetitions")
    else:
        first, pos = _integer_field(data, pos, end, 0, _MAX_ERROR_STATUS, "error-status")
        second, pos = _integer_field(data, pos, end, 0, MAX_BINDINGS, "error-index")
    return Pdu(PduType(tag), request_id, first, second, _decode_varbinds(data, pos, end))


def decode_message(data: bytes) -> Message:
    """Decode one SNMPv2c message (a whole datagram).

    Args:
        data: the datagram.

    Returns:
        The message.

    Raises:
        SnmpVersionError: a well-framed message whose version is not v2c (v1, v3 ...).
        SnmpCodecError: anything else that is not exactly one well-formed v2c message.
    """
    end = len(data)
    tag, pos, message_end = _header(data, 0, end)
    if tag != TAG_SEQUENCE:
        raise SnmpCodecError(f"message: expected SEQUENCE, got tag 0x{tag:02x}")
    if message_end != end:
        raise SnmpCodecError(f"{end - message_end} bytes after the message")
    tag, start, stop = _header(data, pos, end)
    if tag != TAG_INTEGER:
        raise SnmpCodecError(f"version: expected INTEGER, got tag 0x{tag:02x}")
    version = _signed(data, start, stop)
    if version != VERSION_2C:
        raise SnmpVersionError(version)
    tag, start, pos = _header(data, stop, end)
    if tag != TAG_OCTET_STRING:
        raise SnmpCodecError(f"community: expected OCTET STRING, got tag 0x{tag:02x}")
    community = data[start:pos]
    return Message(community, _decode_pdu(data, pos, end), version)
