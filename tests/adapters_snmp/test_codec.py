"""The fast-path BER codec against pysnmp's own codec (pyasn1), on real and generated packets.

* recorded snmpd replies (``data/snmpd``, see ``record_replies.py``): every var-bind of every
  value type decodes to what pysnmp decodes;
* generated Responses, encoded by pysnmp from random var-binds of every SMI type: same;
* GetBulk requests: byte-identical to pysnmp's encoding;
* any bytes at all, and mutations of the recorded replies: the decoder returns or raises
  ``BerError`` and nothing else, and whatever it accepts pysnmp decodes the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c

from adapters.snmp_codec import (
    TAG_COUNTER32,
    TAG_COUNTER64,
    TAG_END_OF_MIB_VIEW,
    TAG_GAUGE32,
    TAG_INTEGER,
    TAG_IP_ADDRESS,
    TAG_NO_SUCH_INSTANCE,
    TAG_NO_SUCH_OBJECT,
    TAG_OCTET_STRING,
    TAG_OID,
    TAG_OPAQUE,
    TAG_TIMETICKS,
    BerError,
    decode_arcs,
    decode_oid,
    decode_response,
    dotted,
    encode_get_bulk,
    encode_oid,
)

RECORDED = sorted((Path(__file__).parent / "data" / "snmpd").glob("*.ber"))

# ----------------------------------------------------------------------------- reference


def reference(data: bytes) -> tuple[bytes, int, int, int, list[tuple[tuple[int, ...], int, Any]]]:
    """pysnmp's reading of an SNMPv2c Response: community, ids and (arcs, tag, value)."""
    message, rest = ber_decoder.decode(data, asn1Spec=v2c.Message())
    assert not rest
    pdu = v2c.apiMessage.get_pdu(message)
    assert pdu.tagSet == v2c.ResponsePDU.tagSet
    var_binds = []
    for name, value in v2c.apiPDU.get_varbinds(pdu):
        tag = value.tagSet[-1]
        ber_tag = int(tag.tagClass | tag.tagFormat | tag.tagId)
        # pyasn1's base types: the SMI types derive from them, some values decode as them
        if isinstance(value, univ.Null):  # before OctetString: pyasn1's Null derives from it
            plain: Any = None
        elif isinstance(value, univ.ObjectIdentifier):
            plain = tuple(value)
        elif isinstance(value, univ.Integer):
            plain = int(value)
        elif isinstance(value, univ.OctetString):
            plain = bytes(value.asOctets())
        else:
            plain = None
        var_binds.append((tuple(name), ber_tag, plain))
    return (
        bytes(v2c.apiMessage.get_community(message).asOctets()),
        int(v2c.apiPDU.get_request_id(pdu)),
        # the fields as decoded (pysnmp's getters also check the index against the list)
        int(pdu.getComponentByPosition(1)),
        int(pdu.getComponentByPosition(2)),
        var_binds,
    )


def mine(data: bytes) -> tuple[bytes, int, int, int, list[tuple[tuple[int, ...], int, Any]]]:
    response = decode_response(data)
    var_binds = [
        (decode_oid(name), tag, decode_oid(value) if tag == TAG_OID else value)  # type: ignore[arg-type]
        for name, tag, value in response.var_binds
    ]
    return (
        response.community,
        response.request_id,
        response.error_status,
        response.error_index,
        var_binds,
    )


# ----------------------------------------------------------------------------- recorded


def test_recordings_cover_every_value_type():
    assert len(RECORDED) >= 20, "run python -m tests.adapters_snmp.record_replies"
    tags = {tag for path in RECORDED for _, tag, _ in decode_response(path.read_bytes()).var_binds}
    assert tags >= {
        TAG_INTEGER,
        TAG_OCTET_STRING,
        TAG_OID,
        TAG_IP_ADDRESS,
        TAG_COUNTER32,
        TAG_GAUGE32,
        TAG_TIMETICKS,
        TAG_OPAQUE,
        TAG_COUNTER64,
        TAG_NO_SUCH_OBJECT,
        TAG_NO_SUCH_INSTANCE,
        TAG_END_OF_MIB_VIEW,
    }


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_snmpd_reply_decodes_as_pysnmp_does(path: Path):
    data = path.read_bytes()
    assert mine(data) == reference(data)


# ----------------------------------------------------------------------------- generated

arcs = st.integers(min_value=0, max_value=2**32 - 1)
oids = st.builds(
    lambda first, second, rest: (first, second, *rest),
    st.sampled_from([0, 1, 2]),
    st.integers(min_value=0, max_value=39),
    st.lists(arcs, max_size=12),
)
values = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1).map(v2c.Integer32),
    st.binary(max_size=300).map(v2c.OctetString),
    oids.map(v2c.ObjectIdentifier),
    st.binary(min_size=4, max_size=4).map(v2c.IpAddress),
    st.integers(min_value=0, max_value=2**32 - 1).map(v2c.Counter32),
    st.integers(min_value=0, max_value=2**32 - 1).map(v2c.Gauge32),
    st.integers(min_value=0, max_value=2**32 - 1).map(v2c.TimeTicks),
    st.binary(max_size=40).map(v2c.Opaque),
    st.integers(min_value=0, max_value=2**64 - 1).map(v2c.Counter64),
    st.just(v2c.Null("")),
    st.just(rfc1905.NoSuchObject("")),
    st.just(rfc1905.NoSuchInstance("")),
    st.just(rfc1905.EndOfMibView("")),
)


def pysnmp_response(
    community: bytes, request_id: int, status: int, index: int, var_binds: list[tuple[Any, Any]]
) -> bytes:
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, status)
    v2c.apiPDU.set_error_index(pdu, index)
    v2c.apiPDU.set_varbinds(pdu, var_binds)
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(ber_encoder.encode(message))


@settings(max_examples=150, deadline=None)
@given(
    community=st.binary(max_size=40),
    request_id=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    status=st.integers(min_value=0, max_value=18),
    index=st.integers(min_value=0, max_value=2**31 - 1),
    var_binds=st.lists(st.tuples(oids, values), max_size=30),
)
def test_generated_response_decodes_as_pysnmp_does(community, request_id, status, index, var_binds):
    data = pysnmp_response(community, request_id, status, index, var_binds)
    assert mine(data) == reference(data)


@settings(max_examples=200, deadline=None)
@given(
    community=st.binary(max_size=300),
    request_id=st.integers(min_value=0, max_value=2**31 - 1),
    non_repeaters=st.integers(min_value=0, max_value=2**31 - 1),
    repetitions=st.integers(min_value=0, max_value=2**31 - 1),
    request=st.lists(oids, max_size=20),
)
def test_get_bulk_is_byte_identical_to_pysnmp(
    community, request_id, non_repeaters, repetitions, request
):
    pdu = v2c.GetBulkRequestPDU()
    v2c.apiBulkPDU.set_defaults(pdu)
    v2c.apiBulkPDU.set_request_id(pdu, request_id)
    v2c.apiBulkPDU.set_non_repeaters(pdu, non_repeaters)
    v2c.apiBulkPDU.set_max_repetitions(pdu, repetitions)
    v2c.apiBulkPDU.set_varbinds(pdu, [(oid, v2c.Null("")) for oid in request])
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    expected = bytes(ber_encoder.encode(message))
    assert (
        encode_get_bulk(
            community, request_id, non_repeaters, repetitions, [encode_oid(o) for o in request]
        )
        == expected
    )


@given(oid=oids)
def test_oid_round_trip(oid):
    assert decode_oid(encode_oid(oid)) == oid
    assert dotted(encode_oid(oid)) == ".".join(map(str, oid))


# ----------------------------------------------------------------------------- hostile input


def pysnmp_accepts(data: bytes) -> bool:
    try:
        reference(data)
    except (PyAsn1Error, AssertionError, ValueError, TypeError, KeyError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=200))
def test_decoder_is_total_on_any_bytes(data):
    try:
        decode_response(data)
    except BerError:
        return


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    original = bytearray(draw(st.sampled_from(RECORDED)).read_bytes())
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "length"]))
    at = draw(st.integers(min_value=0, max_value=len(original) - 1))
    if kind == "truncate":
        return bytes(original[:at])
    if kind == "flip":
        original[at] ^= draw(st.integers(min_value=1, max_value=255))
    elif kind == "insert":
        original.insert(at, draw(st.integers(min_value=0, max_value=255)))
    elif kind == "delete":
        del original[at]
    else:  # a length byte one off, the classic truncation bug
        original[at] = (original[at] + draw(st.sampled_from([1, 255]))) % 256
    return bytes(original)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=mutated())
def test_mutated_replies_raise_ber_error_or_decode_as_pysnmp_does(data):
    try:
        decoded = mine(data)
    except BerError:
        return
    # what the fast path accepts, pysnmp must accept and read the same way
    assert pysnmp_accepts(data), data.hex()
    assert decoded == reference(data)


# ----------------------------------------------------------------------------- specific cases


def response_with_value(value_tlv: bytes, *, request_id: bytes = b"\x02\x01\x07") -> bytes:
    var_bind = b"\x06\x03\x2b\x06\x01" + value_tlv
    var_bind = bytes([0x30, len(var_bind)]) + var_bind
    var_binds = bytes([0x30, len(var_bind)]) + var_bind
    pdu_body = request_id + b"\x02\x01\x00\x02\x01\x00" + var_binds
    pdu = bytes([0xA2, len(pdu_body)]) + pdu_body
    body = b"\x02\x01\x01\x04\x01c" + pdu
    return bytes([0x30, len(body)]) + body


@pytest.mark.parametrize(
    ("value_tlv", "message"),
    [
        (b"\x41\x01\xff", "outside the range"),  # Counter32 -1: pysnmp refuses it too
        (b"\x46\x0a\x01" + b"\x00" * 9, "integer of 10 octets"),
        (b"\x02\x00", "integer of 0 octets"),
        (b"\x40\x03\x7f\x00\x01", "IpAddress of 3 octets"),
        (b"\x05\x01\x00", "NULL-typed value with content"),
        (b"\x06\x02\x2b\x81", "truncated or empty OID"),
        (b"\x06\x03\x2b\x80\x01", "non-minimal OID"),
        (b"\x47\x01\x00", "unknown value tag"),
        (b"\x04\x05abc", "runs past its var-bind"),
    ],
    ids=[
        "negative-counter32",
        "counter64-too-long",
        "empty-integer",
        "short-ip-address",
        "null-with-content",
        "truncated-oid-value",
        "non-minimal-oid-value",
        "unknown-tag",
        "string-longer-than-its-container",
    ],
)
def test_bad_values_are_ber_errors_with_the_request_id(value_tlv: bytes, message: str):
    with pytest.raises(BerError, match=message) as raised:
        decode_response(response_with_value(value_tlv))
    # the header was readable: the poller can fail that request at once
    assert raised.value.request_id == 7


def test_well_formed_value_decodes():
    (var_bind,) = decode_response(response_with_value(b"\x46\x09\x00" + b"\xff" * 8)).var_binds
    name, tag, value = var_bind
    assert (tag, value) == (TAG_COUNTER64, 2**64 - 1)
    assert decode_oid(name) == (1, 3, 6, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated TLV header"),
        (b"\x30\x80\x00\x00", "indefinite length"),
        (b"\x30\x03\x02\x01\x00", "not an SNMPv2c message"),
        (b"\x30\x85\x01\x00\x00\x00\x00\x00", "bad long-form length"),
    ],
    ids=["empty", "indefinite-length", "snmpv1", "five-byte-length"],
)
def test_bad_messages_are_ber_errors_without_request_id(data: bytes, message: str):
    with pytest.raises(BerError, match=message) as raised:
        decode_response(data)
    assert raised.value.request_id is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (response_with_value(b"\x05\x00") + b"\x00", "bytes after the message"),
        (response_with_value(b"\x04\x03abc")[:-2], "runs past"),
    ],
    ids=["trailing-bytes", "truncated-datagram"],
)
def test_damaged_messages_with_an_intact_head_name_their_request(data: bytes, message: str):
    with pytest.raises(BerError, match=message) as raised:
        decode_response(data)
    assert raised.value.request_id == 7


def test_other_pdu_types_are_refused():
    trap = bytearray(response_with_value(b"\x05\x00"))
    trap[trap.index(0xA2)] = 0xA7  # SNMPv2-Trap
    with pytest.raises(BerError, match="not a Response PDU"):
        decode_response(bytes(trap))


@pytest.mark.parametrize(
    ("raw", "arcs_"),
    [(b"", ()), (b"\x05", (5,)), (b"\x81\x00\x07", (128, 7))],
    ids=["empty", "one-octet", "multi-octet"],
)
def test_decode_arcs(raw: bytes, arcs_: tuple[int, ...]):
    assert decode_arcs(raw) == arcs_


def test_encode_oid_refuses_non_oids():
    for bad in [(1,), (3, 1), (1, 40), (1, 3, -1)]:
        with pytest.raises(ValueError, match="OID"):
            encode_oid(bad)


def test_get_bulk_refuses_out_of_range_fields():
    with pytest.raises(ValueError, match="max_repetitions"):
        encode_get_bulk(b"c", 1, 0, 2**31, [])
