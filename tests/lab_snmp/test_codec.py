"""The lab's SNMPv2c BER codec on its own: known encodings, round trips, strict rejections."""

from __future__ import annotations

import pytest

from lab.snmp_codec import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    SNMP_TRAP_OID,
    SYS_UPTIME_OID,
    Counter32,
    Counter64,
    Gauge32,
    Integer,
    IpAddress,
    Message,
    ObjectIdentifier,
    OctetString,
    Opaque,
    Pdu,
    PduType,
    SnmpCodecError,
    SnmpVersionError,
    TimeTicks,
    Value,
    bulk_request,
    decode_message,
    encode_counter32,
    encode_integer,
    encode_length,
    encode_message,
    encode_oid,
    trap_pdu,
)

SYS_UPTIME_0 = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def message_with(*values: Value, request_id: int = 42) -> Message:
    varbinds = tuple(((1, 3, 6, 1, 2, 1, 1, i + 1, 0), value) for i, value in enumerate(values))
    return Message(b"public", Pdu(PduType.RESPONSE, request_id, 0, 0, varbinds))


@pytest.mark.parametrize(
    ("value", "tlv_hex"),
    [
        (Integer(0), "020100"),
        (Integer(127), "02017f"),
        (Integer(128), "02020080"),
        (Integer(-1), "0201ff"),
        (Integer(-128), "020180"),
        (Integer(-129), "0202ff7f"),
        (Integer(2**31 - 1), "02047fffffff"),
        (Integer(-(2**31)), "020480000000"),
        (Counter32(0), "410100"),
        (Counter32(2**31), "41050080000000"),
        (Counter32(2**32 - 1), "410500ffffffff"),
        (Gauge32(4294967295), "420500ffffffff"),
        (TimeTicks(123), "43017b"),
        (Counter64(2**64 - 1), "460900ffffffffffffffff"),
        (Counter64(2**63), "4609008000000000000000"),
        (OctetString(b""), "0400"),
        (OctetString(b"eth0"), "040465746830"),
        (IpAddress(bytes([192, 0, 2, 1])), "4004c0000201"),
        (Opaque(b"\x9f\x78\x04\x3f\x80\x00\x00"), "44079f78043f800000"),
        (ObjectIdentifier((1, 3, 6, 1, 4, 1, 32473, 1)), "06092b0601040181fd5901"),
        (ObjectIdentifier((2, 999, 3)), "0603883703"),
        (ObjectIdentifier((0, 0)), "060100"),
        (ObjectIdentifier((1, 3, 2**32 - 1)), "06062b8fffffff7f"),
        (NULL, "0500"),
        (NO_SUCH_OBJECT, "8000"),
        (NO_SUCH_INSTANCE, "8100"),
        (END_OF_MIB_VIEW, "8200"),
    ],
)
def test_value_encodings_are_the_minimal_ber_and_round_trip(value: Value, tlv_hex: str) -> None:
    assert value.encode().hex() == tlv_hex
    message = message_with(value)
    assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize(
    ("length", "octets"),
    [(0, "00"), (127, "7f"), (128, "8180"), (255, "81ff"), (256, "820100"), (65536, "83010000")],
)
def test_lengths_use_short_form_below_128_else_minimal_long_form(length: int, octets: str) -> None:
    assert encode_length(length).hex() == octets


@pytest.mark.parametrize("size", [0, 127, 128, 255, 256, 65535, 65536, 70_000])
def test_octet_strings_of_any_length_round_trip(size: int) -> None:
    text = bytes(i % 251 for i in range(size))
    message = message_with(OctetString(text), Counter32(5))
    data = encode_message(message)
    assert decode_message(data) == message


def test_long_oids_with_multibyte_arcs_round_trip() -> None:
    longest = (1, 3, *(2**32 - 1 - i * 977 for i in range(126)))
    assert len(longest) == 128
    message = Message(b"c", Pdu(PduType.GET_REQUEST, 1, 0, 0, ((longest, NULL),)))
    assert decode_message(encode_message(message)) == message


def test_getbulk_fields_are_non_repeaters_and_max_repetitions() -> None:
    pdu = bulk_request(7, 1, 25, [SYS_UPTIME_0, (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)])
    decoded = decode_message(encode_message(Message(b"public", pdu))).pdu
    assert decoded.pdu_type is PduType.GET_BULK_REQUEST
    assert (decoded.non_repeaters, decoded.max_repetitions) == (1, 25)
    assert decoded.varbinds == pdu.varbinds


def test_a_trap_starts_with_sysuptime_and_snmptrapoid() -> None:
    link_down = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
    if_index_2 = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2)
    pdu = trap_pdu(9, 2**32 + 10, link_down, [(if_index_2, Integer(2))])
    decoded = decode_message(encode_message(Message(b"public", pdu))).pdu
    assert decoded.pdu_type is PduType.SNMPV2_TRAP
    assert decoded.varbinds == (
        (SYS_UPTIME_OID, TimeTicks(10)),
        (SNMP_TRAP_OID, ObjectIdentifier(link_down)),
        (if_index_2, Integer(2)),
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: Integer(2**31),
        lambda: Integer(-(2**31) - 1),
        lambda: Counter32(2**32),
        lambda: Counter32(-1),
        lambda: Gauge32(2**32),
        lambda: TimeTicks(-5),
        lambda: Counter64(2**64),
        lambda: IpAddress(b"\x01\x02\x03"),
        lambda: ObjectIdentifier((3, 1)),
        lambda: ObjectIdentifier((1, 40)),
        lambda: ObjectIdentifier((1,)),
        lambda: ObjectIdentifier((1, 3, 2**32)),
        lambda: ObjectIdentifier((1, 3, -1)),
        lambda: ObjectIdentifier((1, 3, *range(127))),
        lambda: encode_counter32(2**32),
        lambda: encode_integer(2**31),
        lambda: encode_oid(()),
    ],
)
def test_values_outside_their_type_are_refused_at_construction(make) -> None:
    with pytest.raises(ValueError, match=r"."):
        make()


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(content)) + content


INT_0 = b"\x02\x01\x00"
INT_1 = b"\x02\x01\x01"
NAME = b"\x06\x08\x2b\x06\x01\x02\x01\x01\x03\x00"  # sysUpTime.0


def _message(
    pdu_content: bytes,
    *,
    pdu_tag: int = 0xA0,
    version: bytes = INT_1,
    community: bytes = b"\x04\x06public",
) -> bytes:
    return _tlv(0x30, version + community + _tlv(pdu_tag, pdu_content))


def _pdu(
    varbinds: bytes = b"",
    *,
    request_id: bytes = INT_1,
    error_status: bytes = INT_0,
    error_index: bytes = INT_0,
    list_tag: int = 0x30,
) -> bytes:
    return request_id + error_status + error_index + _tlv(list_tag, varbinds)


def _varbind(name: bytes = NAME, value: bytes = b"\x05\x00") -> bytes:
    return _tlv(0x30, name + value)


def _good() -> bytes:
    return _message(_pdu(_varbind()))


def test_the_helpers_build_a_message_the_codec_accepts() -> None:
    # so that each malformed case below fails for its one defect
    assert decode_message(_good()) == Message(
        b"public", Pdu(PduType.GET_REQUEST, 1, 0, 0, ((SYS_UPTIME_0, NULL),))
    )


# name -> (datagram, what the error must say: proof it failed for that one defect)
MALFORMED: dict[str, tuple[bytes, str]] = {
    "empty datagram": (b"", r"truncated TLV header"),
    "truncated header": (b"\x30", r"truncated TLV header"),
    "indefinite length": (b"\x30\x80" + _good()[2:] + b"\x00\x00", r"indefinite length"),
    "5-byte length": (b"\x30\x85\x00\x00\x00\x00\x03" + INT_1, r"5-byte length"),
    "length beyond the datagram": (b"\x30\x7f" + _good()[2:], r"overruns"),
    "truncated long-form length": (b"\x30\x82\x01", r"truncated length"),
    "trailing byte": (_good() + b"\x00", r"bytes after the message"),
    "truncated message": (_good()[:-1], r"overruns"),
    "high tag number": (b"\x1f\x01\x00", r"multi-byte tag"),
    "message not a SEQUENCE": (b"\x31" + _good()[1:], r"message: expected SEQUENCE"),
    "version not an INTEGER": (
        _message(_pdu(_varbind()), version=b"\x04\x01\x01"),
        r"version: expected INTEGER",
    ),
    "empty version": (_message(_pdu(_varbind()), version=b"\x02\x00"), r"empty integer"),
    "community not an OCTET STRING": (
        _message(_pdu(_varbind()), community=INT_0),
        r"community: expected OCTET STRING",
    ),
    "no PDU": (_tlv(0x30, INT_1 + b"\x04\x06public"), r"truncated TLV header"),
    "v1 Trap-PDU tag": (_message(_pdu(_varbind()), pdu_tag=0xA4), r"unknown PDU tag 0xa4"),
    "unknown PDU tag": (_message(_pdu(_varbind()), pdu_tag=0xA9), r"unknown PDU tag 0xa9"),
    "empty PDU": (_message(b""), r"truncated TLV header"),
    "request-id of 10 bytes": (
        _message(_pdu(request_id=_tlv(2, bytes(9) + b"\x01"))),
        r"10-byte integer",
    ),
    "request-id above 2**31-1": (
        _message(_pdu(request_id=_tlv(2, b"\x00\x80\x00\x00\x00"))),
        r"request-id 2147483648 out of range",
    ),
    "error-status 19": (
        _message(_pdu(error_status=b"\x02\x01\x13")),
        r"error-status 19 out of range",
    ),
    "negative error-index": (
        _message(_pdu(error_index=b"\x02\x01\xff")),
        r"error-index -1 out of range",
    ),
    "negative non-repeaters": (
        _message(_pdu(error_status=b"\x02\x01\xff"), pdu_tag=0xA5),
        r"non-repeaters -1 out of range",
    ),
    "negative max-repetitions": (
        _message(_pdu(error_index=b"\x02\x01\x80"), pdu_tag=0xA5),
        r"max-repetitions -128 out of range",
    ),
    "varbind list not a SEQUENCE": (
        _message(_pdu(_varbind(), list_tag=0x31)),
        r"varbind list: expected SEQUENCE",
    ),
    "bytes after the varbind list": (
        _message(_pdu(_varbind()) + INT_0),
        r"bytes after the varbind list",
    ),
    "varbind not a SEQUENCE": (
        _message(_pdu(b"\x31" + _varbind()[1:])),
        r"varbind: expected SEQUENCE",
    ),
    "varbind name not an OID": (
        _message(_pdu(_varbind(name=b"\x04\x01\x2b"))),
        r"varbind name: expected OID",
    ),
    "varbind without value": (_message(_pdu(_tlv(0x30, NAME))), r"truncated TLV header"),
    "bytes after the value": (
        _message(_pdu(_varbind(value=b"\x05\x00\x05\x00"))),
        r"bytes after the varbind value",
    ),
    "value overruns the varbind": (
        _message(_pdu(_tlv(0x30, NAME + b"\x04\x05ab") + b"cde")),
        r"overruns",
    ),
    "empty OID": (_message(_pdu(_varbind(name=b"\x06\x00"))), r"empty OBJECT IDENTIFIER"),
    "non-minimal OID sub-identifier": (
        _message(_pdu(_varbind(name=b"\x06\x03\x2b\x80\x01"))),
        r"non-minimal OID",
    ),
    "OID ends inside a sub-identifier": (
        _message(_pdu(_varbind(name=b"\x06\x02\x2b\x81"))),
        r"truncated OID sub-identifier",
    ),
    "OID sub-identifier above 2**32-1": (
        _message(_pdu(_varbind(name=b"\x06\x06\x2b\x90\x80\x80\x80\x00"))),
        r"above 2\*\*32-1",
    ),
    "OID of 129 arcs": (
        _message(_pdu(_varbind(name=_tlv(6, b"\x2b" + bytes(127))))),
        r"longer than 128 arcs",
    ),
    "OID of 129 multi-byte arcs": (
        _message(_pdu(_varbind(name=_tlv(6, b"\x2b" + b"\x81\x00" * 127)))),
        r"longer than 128 arcs",
    ),
    "NULL with content": (
        _message(_pdu(_varbind(value=b"\x05\x01\x00"))),
        r"tag 0x05 must have empty content",
    ),
    "noSuchObject with content": (
        _message(_pdu(_varbind(value=b"\x80\x01\x00"))),
        r"tag 0x80 must have empty content",
    ),
    "empty INTEGER": (_message(_pdu(_varbind(value=b"\x02\x00"))), r"empty integer"),
    "INTEGER above 2**31-1": (
        _message(_pdu(_varbind(value=b"\x02\x05\x00\x80\x00\x00\x00"))),
        r"Integer32 out of range",
    ),
    "IpAddress of 3 bytes": (
        _message(_pdu(_varbind(value=b"\x40\x03\x01\x02\x03"))),
        r"IpAddress of 3 bytes",
    ),
    "negative Counter32": (
        _message(_pdu(_varbind(value=b"\x41\x01\xff"))),
        r"out of range: -1 \(tag 0x41\)",
    ),
    "Counter32 above 2**32-1": (
        _message(_pdu(_varbind(value=_tlv(0x41, b"\x01" + bytes(4))))),
        r"out of range: 4294967296 \(tag 0x41\)",
    ),
    "Gauge32 above 2**32-1": (
        _message(_pdu(_varbind(value=_tlv(0x42, b"\x01" + bytes(4))))),
        r"out of range: 4294967296 \(tag 0x42\)",
    ),
    "TimeTicks above 2**32-1": (
        _message(_pdu(_varbind(value=_tlv(0x43, b"\x01" + bytes(4))))),
        r"out of range: 4294967296 \(tag 0x43\)",
    ),
    "Counter64 above 2**64-1": (
        _message(_pdu(_varbind(value=_tlv(0x46, b"\x01" + bytes(8))))),
        r"out of range: 18446744073709551616 \(tag 0x46\)",
    ),
    "Counter64 of 10 bytes": (
        _message(_pdu(_varbind(value=_tlv(0x46, bytes(10))))),
        r"10-byte integer",
    ),
    "unknown value tag 0x47": (
        _message(_pdu(_varbind(value=b"\x47\x01\x00"))),
        r"unknown value tag 0x47",
    ),
    "constructed OCTET STRING": (
        _message(_pdu(_varbind(value=b"\x24\x03\x04\x01a"))),
        r"unknown value tag 0x24",
    ),
}


@pytest.mark.parametrize(("data", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_messages_raise_the_codec_error(data: bytes, reason: str) -> None:
    with pytest.raises(SnmpCodecError, match=reason):
        decode_message(data)


@pytest.mark.parametrize(("version", "version_hex"), [(0, "00"), (3, "03"), (2, "02")])
def test_other_versions_raise_the_version_error_with_the_version(version, version_hex) -> None:
    data = bytearray(_good())
    data[4] = int(version_hex, 16)
    with pytest.raises(SnmpVersionError) as caught:
        decode_message(bytes(data))
    assert caught.value.version == version
    assert isinstance(caught.value, SnmpCodecError)


def test_redundant_but_definite_encodings_are_accepted() -> None:
    # long-form lengths where short form would do (older net-snmp builds write 0x82 forms),
    # and the redundant leading ff that pyasn1 writes for -2**31
    def long_tlv(tag: int, content: bytes) -> bytes:
        return bytes((tag, 0x82)) + len(content).to_bytes(2, "big") + content

    varbind = long_tlv(0x30, NAME + b"\x43\x81\x01\x7b")
    pdu = b"\x02\x05\xff\x80\x00\x00\x00" + INT_0 + INT_0 + long_tlv(0x30, varbind)
    data = long_tlv(0x30, INT_1 + b"\x04\x81\x06public" + long_tlv(0xA2, pdu))
    message = decode_message(data)
    assert message.community == b"public"
    assert message.pdu.request_id == -(2**31)
    assert message.pdu.varbinds == ((SYS_UPTIME_0, TimeTicks(123)),)


def test_values_compare_by_type_not_only_by_number() -> None:
    # the assertions above rely on it: Counter32(5) is not Counter64(5) nor Gauge32(5)
    values: list[Value] = [Counter32(5), Counter64(5), Gauge32(5), TimeTicks(5)]
    assert len({repr(v) for v in values}) == 4
    assert all(a != b for i, a in enumerate(values) for b in values[i + 1 :])
