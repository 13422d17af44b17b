"""The SNMPv2c GETBULK request encoder and Response decoder of the poller's fast path.

pysnmp spends about 0.18 ms of CPU per var-bind in pyasn1's generic BER codec, which made
an IF-MIB walk of 50 interfaces cost ~50 ms. This module handles exactly the two messages
the poller exchanges with an SNMPv2c agent (RFC 1901 message, RFC 3416 PDUs): it encodes a
GetBulkRequest and decodes a Response, following the fixed message shape instead of parsing
generic nested BER (so there is no recursion and nesting depth is bounded by construction).

Design choices, all for the hot path:

* OIDs stay raw: the content octets of the BER OBJECT IDENTIFIER, as ``bytes``. BER
  sub-identifiers are prefix-free, so ``oid.startswith(column)`` is "this OID lies in the
  column's subtree" without decoding a single arc; :func:`decode_oid` turns the few
  suffixes the caller needs into ints. (Raw bytes do NOT sort like OIDs: compare arcs.)
* Values come back as ``(tag, value)``: ``int`` for INTEGER and the SMI application integer
  types, ``bytes`` for OCTET STRING, IpAddress, Opaque and OBJECT IDENTIFIER (raw), and
  ``None`` for NULL and the three RFC 3416 exceptions. No object is built per value.
* The decoder is strict and total: any input either decodes or raises :class:`BerError`,
  and nothing else. It accepts what pyasn1 accepts for these shapes and checks every SMI
  value against its type's range as pysnmp does (a Counter32 that decodes negative is an
  error, not a huge number); where it is stricter than pyasn1 (indefinite lengths, empty
  INTEGERs, trailing bytes) the message is one no SNMP agent sends. Tests compare it with
  pysnmp on recorded snmpd replies and on generated and mutated packets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TAG_COUNTER32",
    "TAG_COUNTER64",
    "TAG_END_OF_MIB_VIEW",
    "TAG_GAUGE32",
    "TAG_INTEGER",
    "TAG_IP_ADDRESS",
    "TAG_NO_SUCH_INSTANCE",
    "TAG_NO_SUCH_OBJECT",
    "TAG_NULL",
    "TAG_OCTET_STRING",
    "TAG_OID",
    "TAG_OPAQUE",
    "TAG_TIMETICKS",
    "BerError",
    "Response",
    "VarBind",
    "decode_arcs",
    "decode_oid",
    "decode_response",
    "dotted",
    "encode_get_bulk",
    "encode_oid",
]

VERSION_2C: Final = 1

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

PDU_GET_BULK: Final = 0xA5
PDU_RESPONSE: Final = 0xA2

_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_UINT32_MAX: Final = 2**32 - 1
_UINT64_MAX: Final = 2**64 - 1
# Longest content octets a value of each integer type can have (a leading 0x00 included).
_MAX_INTEGER_OCTETS: Final = 9
# RFC 2578: an OCTET STRING is at most 65535 octets; the OID limits of section 3.5.
_MAX_OCTET_STRING: Final = 65535
_MAX_OID_ARCS: Final = 128

# tag -> (lowest, highest) for the integer-valued types
_INTEGER_RANGES: Final[dict[int, tuple[int, int]]] = {
    TAG_INTEGER: (_INT32_MIN, _INT32_MAX),
    TAG_COUNTER32: (0, _UINT32_MAX),
    TAG_GAUGE32: (0, _UINT32_MAX),
    TAG_TIMETICKS: (0, _UINT32_MAX),
    TAG_COUNTER64: (0, _UINT64_MAX),
}
_OCTET_TAGS: Final = frozenset({TAG_OCTET_STRING, TAG_OPAQUE, TAG_IP_ADDRESS, TAG_OID})
_EMPTY_TAGS: Final = frozenset(
    {TAG_NULL, TAG_NO_SUCH_OBJECT, TAG_NO_SUCH_INSTANCE, TAG_END_OF_MIB_VIEW}
)

Value = int | bytes | None


class BerError(ValueError):
    """The bytes are not a well-formed SNMPv2c Response; the only error the decoder raises.

    Args:
        message: what is wrong, and where (byte offset).
        request_id: the message's request-id when the header was readable before the error,
            so that the request it answers can fail at once instead of timing out.
    """

    def __init__(self, message: str, *, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


VarBind = tuple[bytes, int, Value]
"""One decoded variable binding, ``(oid, tag, value)``: the OID's BER content octets (see
:func:`decode_oid`), the value's BER tag (``TAG_*``), and the value (``int``, ``bytes`` or
``None`` according to the tag). A plain tuple: one is built per var-bind on the hot path."""


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded SNMPv2c Response message.

    Attributes:
        community: the community string the agent echoed.
        request_id: the request-id it answers.
        error_status: RFC 3416 error-status (0 is noError).
        error_index: 1-based index of the var-bind the error is about, 0 if none.
        var_binds: the var-binds in reply order.
    """

    community: bytes
    request_id: int
    error_status: int
    error_index: int
    var_binds: tuple[VarBind, ...]


# ----------------------------------------------------------------------------- OIDs


def encode_oid(arcs: Sequence[int]) -> bytes:
    """The BER content octets of an OBJECT IDENTIFIER.

    Args:
        arcs: at least two arcs; the first 0, 1 or 2, the second below 40 unless the first is 2.

    Returns:
        The content octets (no tag, no length).

    Raises:
        ValueError: not a valid OID.
    """
    if len(arcs) < 2 or arcs[0] not in (0, 1, 2) or (arcs[0] < 2 and not 0 <= arcs[1] < 40):
        raise ValueError(f"not an OID: {tuple(arcs)}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        if arc < 0:
            raise ValueError(f"negative OID arc in {tuple(arcs)}")
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(raw: bytes) -> tuple[int, ...]:
    """The arcs of an OID given as content octets (from :class:`VarBind` or :func:`encode_oid`).

    Args:
        raw: content octets, as the decoder validated them.

    Returns:
        The arcs.

    Raises:
        BerError: not valid OID content.
    """
    arcs = _sub_identifiers(raw, 0, len(raw))
    first = arcs[0]
    if first < 40:
        return (0, first, *arcs[1:])
    if first < 80:
        return (1, first - 40, *arcs[1:])
    return (2, first - 80, *arcs[1:])


def decode_arcs(raw: bytes) -> tuple[int, ...]:
    """The sub-identifiers of OID content that is a SUFFIX (no combined first arc).

    Args:
        raw: the octets after a known prefix (see :func:`VarBind`).

    Returns:
        The arcs; empty for empty input.

    Raises:
        BerError: not a sequence of complete, minimal sub-identifiers.
    """
    if not raw:
        return ()
    return _sub_identifiers(raw, 0, len(raw))


def dotted(raw: bytes) -> str:
    """An OID's content octets in dotted notation (for messages); never raises."""
    try:
        return ".".join(str(arc) for arc in decode_oid(raw))
    except BerError:
        return f"<malformed OID {raw.hex()}>"


def _sub_identifiers(data: bytes, start: int, end: int) -> tuple[int, ...]:
    arcs: list[int] = []
    arc = 0
    first_octet = True
    for position in range(start, end):
        octet = data[position]
        if first_octet and octet == 0x80:
            # X.690 8.19.2: the leading octet of a sub-identifier is never 0x80 (pyasn1 agrees)
            raise BerError(f"non-minimal OID sub-identifier at byte {position}")
        arc = (arc << 7) | (octet & 0x7F)
        if octet & 0x80:
            first_octet = False
            continue
        if arc > _UINT32_MAX and arcs:
            raise BerError(f"OID sub-identifier above 2**32-1 at byte {position}")
        arcs.append(arc)
        arc = 0
        first_octet = True
    if not first_octet or not arcs:
        raise BerError(f"truncated or empty OID at byte {start}")
    if len(arcs) > _MAX_OID_ARCS:
        raise BerError(f"OID of more than {_MAX_OID_ARCS} arcs at byte {start}")
    return tuple(arcs)


# ----------------------------------------------------------------------------- encoder


def _length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    size = (length.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + length.to_bytes(size, "big")


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _integer(value: int) -> bytes:
    return _tlv(TAG_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def encode_get_bulk(
    community: bytes,
    request_id: int,
    non_repeaters: int,
    max_repetitions: int,
    oids: Sequence[bytes],
) -> bytes:
    """An SNMPv2c GetBulkRequest message, byte-identical to pysnmp's encoding.

    Args:
        community: the community string.
        request_id: 0 .. 2**31-1.
        non_repeaters: how many of ``oids`` (from the start) are fetched once.
        max_repetitions: rows to return for each of the other OIDs.
        oids: OIDs as content octets (:func:`encode_oid`).

    Returns:
        The message.

    Raises:
        ValueError: a field outside its RFC 3416 range.
    """
    for name, field in (
        ("request_id", request_id),
        ("non_repeaters", non_repeaters),
        ("max_repetitions", max_repetitions),
    ):
        if not 0 <= field <= _INT32_MAX:
            raise ValueError(f"{name} must be within 0 .. 2**31-1, got {field}")
    var_binds = b"".join(
        # short OIDs (all of IF-MIB's) in one step; the general TLV code for the rest
        bytes((TAG_SEQUENCE, len(oid) + 4, TAG_OID, len(oid))) + oid + b"\x05\x00"
        if len(oid) < 0x7C
        else _tlv(TAG_SEQUENCE, _tlv(TAG_OID, oid) + b"\x05\x00")
        for oid in oids
    )
    pdu = _tlv(
        PDU_GET_BULK,
        _integer(request_id)
        + _integer(non_repeaters)
        + _integer(max_repetitions)
        + _tlv(TAG_SEQUENCE, var_binds),
    )
    return _tlv(TAG_SEQUENCE, _integer(VERSION_2C) + _tlv(TAG_OCTET_STRING, community) + pdu)


# ----------------------------------------------------------------------------- decoder


def _header(data: bytes, position: int, end: int) -> tuple[int, int, int]:
    """``(tag, content start, content end)`` of the TLV at ``position``, within ``end``."""
    if position + 2 > end:
        raise BerError(f"truncated TLV header at byte {position}")
    tag = data[position]
    length = data[position + 1]
    start = position + 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0:
            raise BerError(f"indefinite length at byte {position}")
        if size > 4 or start + size > end:
            raise BerError(f"bad long-form length at byte {position}")
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    stop = start + length
    if stop > end:
        raise BerError(f"TLV at byte {position} runs past its container ({stop} > {end})")
    return tag, start, stop


def _expect(data: bytes, position: int, end: int, tag: int, what: str) -> tuple[int, int]:
    found, start, stop = _header(data, position, end)
    if found != tag:
        raise BerError(f"expected {what} (tag 0x{tag:02x}) at byte {position}, got 0x{found:02x}")
    return start, stop


def _read_integer(data: bytes, position: int, end: int, what: str) -> tuple[int, int]:
    start, stop = _expect(data, position, end, TAG_INTEGER, what)
    if not 0 < stop - start <= _MAX_INTEGER_OCTETS:
        raise BerError(f"{what} of {stop - start} octets at byte {position}")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def decode_response(data: bytes) -> Response:
    """Decode an SNMPv2c Response message.

    Args:
        data: one UDP datagram.

    Returns:
        The response.

    Raises:
        BerError: anything else (another version or PDU type, malformed or truncated BER, a
            value outside its type's range); ``request_id`` is set when the message's head
            up to the request-id was readable, even if its lengths say it was cut short.
    """
    try:
        return _decode_response(data)
    except BerError as exc:
        if exc.request_id is not None:
            raise
        request_id = _salvage_request_id(data)
        if request_id is None:
            raise
        raise BerError(str(exc), request_id=request_id) from None


def _salvage_request_id(data: bytes) -> int | None:
    """The request-id of a Response whose head is intact but whose lengths overrun the data
    (a truncated datagram), or None."""
    end = len(data)
    try:
        position = _loose_header(data, 0, end, TAG_SEQUENCE)
        version, position = _read_integer(data, position, end, "version")
        _, community_end = _expect(data, position, end, TAG_OCTET_STRING, "community")
        position = _loose_header(data, community_end, end, PDU_RESPONSE)
        request_id, _ = _read_integer(data, position, end, "request-id")
    except BerError:
        return None
    return request_id if version == VERSION_2C else None


def _loose_header(data: bytes, position: int, end: int, tag: int) -> int:
    """Where the content of a constructed TLV starts, whatever its length claims."""
    if position + 2 > end or data[position] != tag:
        raise BerError(f"no 0x{tag:02x} at byte {position}")
    length = data[position + 1]
    return position + 2 + (length & 0x7F if length & 0x80 else 0)


def _decode_response(data: bytes) -> Response:
    end = len(data)
    body, message_end = _expect(data, 0, end, TAG_SEQUENCE, "message SEQUENCE")
    if message_end != end:
        raise BerError(f"{end - message_end} bytes after the message")
    version, position = _read_integer(data, body, message_end, "version")
    if version != VERSION_2C:
        raise BerError(f"not an SNMPv2c message (version {version})")
    community_start, position = _expect(data, position, message_end, TAG_OCTET_STRING, "community")
    community = data[community_start:position]
    pdu_tag, pdu_start, pdu_end = _header(data, position, message_end)
    if pdu_tag != PDU_RESPONSE:
        raise BerError(f"not a Response PDU (tag 0x{pdu_tag:02x})")
    if pdu_end != message_end:
        raise BerError("bytes after the PDU inside the message")
    request_id, position = _read_integer(data, pdu_start, pdu_end, "request-id")
    if not _INT32_MIN <= request_id <= _INT32_MAX:
        raise BerError(f"request-id {request_id} out of range")
    try:
        error_status, error_index, var_binds = _pdu_body(data, position, pdu_end)
    except BerError as exc:
        raise BerError(str(exc), request_id=request_id) from None
    return Response(community, request_id, error_status, error_index, var_binds)


def _pdu_body(data: bytes, position: int, end: int) -> tuple[int, int, tuple[VarBind, ...]]:
    """error-status, error-index and the var-binds of a PDU whose request-id was read."""
    error_status, position = _read_integer(data, position, end, "error-status")
    error_index, position = _read_integer(data, position, end, "error-index")
    if not _INT32_MIN <= error_status <= _INT32_MAX or not 0 <= error_index <= _INT32_MAX:
        raise BerError(f"error-status {error_status} or error-index {error_index} out of range")
    list_start, list_end = _expect(data, position, end, TAG_SEQUENCE, "var-bind list")
    if list_end != end:
        raise BerError("bytes after the var-bind list")
    return error_status, error_index, _var_binds(data, list_start, list_end)


def _var_binds(data: bytes, position: int, end: int) -> tuple[VarBind, ...]:  # noqa: C901
    # The hot loop (~1,000 var-binds per walk), inlined on purpose (C901): the three TLV
    # headers of a var-bind are read in place for short-form lengths and integers decoded in
    # place; the general code handles long-form lengths and every error. Every index is
    # checked against ``end`` before it is read.
    out: list[VarBind] = []
    append = out.append
    ranges = _INTEGER_RANGES
    from_bytes = int.from_bytes
    while position < end:
        if position + 2 <= end and data[position] == TAG_SEQUENCE and data[position + 1] < 0x80:
            start = position + 2
            stop = start + data[position + 1]
            if stop > end:
                raise BerError(f"var-bind at byte {position} runs past the list")
        else:
            tag, start, stop = _header(data, position, end)
            if tag != TAG_SEQUENCE:
                raise BerError(f"expected a var-bind SEQUENCE at byte {position}")
        if start + 2 <= stop and data[start] == TAG_OID and data[start + 1] < 0x80:
            oid_start = start + 2
            oid_stop = oid_start + data[start + 1]
            if oid_stop > stop:
                raise BerError(f"OID at byte {start} runs past its var-bind")
        else:
            oid_tag, oid_start, oid_stop = _header(data, start, stop)
            if oid_tag != TAG_OID:
                raise BerError(f"expected a var-bind name (OID) at byte {start}")
        if oid_start == oid_stop or data[oid_stop - 1] & 0x80:
            raise BerError(f"truncated or empty OID at byte {oid_start}")
        oid = data[oid_start:oid_stop]
        if 0x80 in oid:
            _sub_identifiers(data, oid_start, oid_stop)  # raises if a 0x80 leads an arc
        if oid_stop + 2 <= stop and data[oid_stop + 1] < 0x80:
            value_tag = data[oid_stop]
            value_start = oid_stop + 2
            value_stop = value_start + data[oid_stop + 1]
        else:
            value_tag, value_start, value_stop = _header(data, oid_stop, stop)
        if value_stop != stop:
            detail = "runs past" if value_stop > stop else "does not fill"
            raise BerError(f"the value at byte {oid_stop} {detail} its var-bind")
        bounds = ranges.get(value_tag)
        if bounds is not None and 0 < value_stop - value_start <= _MAX_INTEGER_OCTETS:
            # pyasn1 decodes every INTEGER-based SMI type as two's complement and then checks
            # the type's range: a Counter32 sent as "ff" is -1, an error, not 255.
            number = from_bytes(data[value_start:value_stop], "big", signed=True)
            if not bounds[0] <= number <= bounds[1]:
                raise BerError(
                    f"value {number} outside the range of tag 0x{value_tag:02x} at byte "
                    f"{value_start}"
                )
            append((oid, value_tag, number))
        else:
            append((oid, value_tag, _value(data, value_tag, value_start, value_stop)))
        position = stop
    return tuple(out)


def _value(data: bytes, tag: int, start: int, stop: int) -> Value:
    bounds = _INTEGER_RANGES.get(tag)
    if bounds is not None:
        if not 0 < stop - start <= _MAX_INTEGER_OCTETS:
            raise BerError(f"integer of {stop - start} octets at byte {start}")
        # pyasn1 decodes every INTEGER-based SMI type as two's complement and then checks
        # the type's range: a Counter32 sent as "ff" is -1, an error, not 255.
        value = int.from_bytes(data[start:stop], "big", signed=True)
        if not bounds[0] <= value <= bounds[1]:
            raise BerError(f"value {value} outside the range of tag 0x{tag:02x} at byte {start}")
        return value
    if tag in _OCTET_TAGS:
        octets = data[start:stop]
        if tag == TAG_IP_ADDRESS and len(octets) != 4:
            raise BerError(f"IpAddress of {len(octets)} octets at byte {start}")
        if tag == TAG_OID:
            _sub_identifiers(data, start, stop)
        elif len(octets) > _MAX_OCTET_STRING:
            raise BerError(f"string of {len(octets)} octets at byte {start}")
        return octets
    if tag in _EMPTY_TAGS:
        if stop != start:
            raise BerError(f"NULL-typed value with content at byte {start}")
        return None
    raise BerError(f"unknown value tag 0x{tag:02x} at byte {start}")
