"""The lab codec against pysnmp's own BER codec (pysnmp.proto.api.v2c + pyasn1).

Both directions for every value type at its boundaries: pyasn1 decodes what we encode to
the same values, we decode what pyasn1 encodes, and the bytes are identical except where
pyasn1 itself is not minimal (it writes -2**(8k-1) with a redundant leading ff byte).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.type import univ

from lab.snmp_codec import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
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
    TimeTicks,
    Value,
    VarBind,
    decode_message,
    encode_message,
    trap_pdu,
)
from tests.lab_snmp.pysnmp_bridge import pysnmp_decode, pysnmp_encode
from tests.lab_snmp.strategies import oids, values

LONGEST_OID = (1, 3, *(2**32 - 1 - 977 * i for i in range(126)))

BOUNDARY_VALUES: list[Value] = [
    Integer(0),
    Integer(1),
    Integer(-1),
    Integer(127),
    Integer(128),
    Integer(-128),
    Integer(-129),
    Integer(2**31 - 1),
    Integer(-(2**31)),
    Counter32(0),
    Counter32(2**31 - 1),
    Counter32(2**31),
    Counter32(2**32 - 1),
    Gauge32(0),
    Gauge32(2**32 - 1),
    TimeTicks(0),
    TimeTicks(2**32 - 1),
    Counter64(0),
    Counter64(2**32),
    Counter64(2**63),
    Counter64(2**64 - 1),
    OctetString(b""),
    OctetString(b"ge-0/0/1"),
    OctetString(bytes(range(256)) * 1),
    OctetString(b"x" * 200),
    OctetString(b"y" * 65_535),
    Opaque(b"\x9f\x78\x04\x3f\x80\x00\x00"),
    IpAddress(b"\x00\x00\x00\x00"),
    IpAddress(b"\xff\xff\xff\xff"),
    ObjectIdentifier((0, 0)),
    ObjectIdentifier((1, 3, 6, 1, 4, 1, 32473, 1)),
    ObjectIdentifier((2, 999, 3)),
    ObjectIdentifier((2, 2**32 - 81, 1)),
    ObjectIdentifier(LONGEST_OID),
    NULL,
    NO_SUCH_OBJECT,
    NO_SUCH_INSTANCE,
    END_OF_MIB_VIEW,
]

# pyasn1 sizes a negative integer by its bit length plus one, so these carry a redundant
# leading ff byte in its encoding (ours is minimal; both decoders accept both).
PYASN1_NOT_MINIMAL = {Integer(-128), Integer(-(2**31))}


def _response(*varbinds: VarBind, request_id: int = 4242) -> Message:
    return Message(b"public", Pdu(PduType.RESPONSE, request_id, 0, 0, tuple(varbinds)))


@pytest.mark.parametrize("value", BOUNDARY_VALUES, ids=lambda v: f"{type(v).__name__}")
def test_every_value_type_agrees_with_pysnmp_both_ways(value: Value) -> None:
    message = _response(((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1), value))
    ours = encode_message(message)
    theirs = pysnmp_encode(message)
    if value in PYASN1_NOT_MINIMAL:
        assert len(theirs) == len(ours) + 1
    else:
        assert ours == theirs
    assert decode_message(theirs) == message
    assert pysnmp_decode(ours) == message


def test_strings_beyond_the_smi_limit_encode_as_pyasn1_does() -> None:
    # SMI caps OCTET STRING at 65,535 bytes and pysnmp enforces it; BER does not, and the
    # codec carries longer strings (3-byte lengths). Compare with plain ASN.1 OCTET STRING.
    text = bytes(i % 251 for i in range(70_000))
    assert OctetString(text).encode() == bytes(ber_encoder.encode(univ.OctetString(text)))
    assert OctetString(text).encode()[:5].hex() == "0483011170"


@pytest.mark.parametrize(
    "request_id", [0, 1, 127, 128, 2**31 - 1, -1, -(2**31) + 1, 1_234_567], ids=str
)
def test_request_pdus_are_byte_identical_to_pysnmp(request_id: int) -> None:
    up = (1, 3, 6, 1, 2, 1, 1, 3, 0)
    ifx = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
    for pdu in (
        Pdu(PduType.GET_REQUEST, request_id, 0, 0, ((up, NULL), (LONGEST_OID, NULL))),
        Pdu(PduType.GET_NEXT_REQUEST, request_id, 0, 0, ((ifx, NULL),)),
        Pdu(PduType.GET_BULK_REQUEST, request_id, 1, 25, ((up, NULL), (ifx, NULL))),
        Pdu(PduType.GET_BULK_REQUEST, request_id, 0, 2**31 - 1, ((ifx, NULL),)),
        Pdu(
            PduType.SET_REQUEST,
            request_id,
            0,
            0,
            (((1, 3, 6, 1, 2, 1, 1, 5, 0), OctetString(b"x")),),
        ),
        trap_pdu(request_id, 500, (1, 3, 6, 1, 6, 3, 1, 1, 5, 3), [(ifx + (1, 1), Integer(1))]),
    ):
        message = Message(b"public", pdu)
        assert encode_message(message) == pysnmp_encode(message)
        assert decode_message(pysnmp_encode(message)) == message


@settings(max_examples=150, deadline=None)
@given(
    varbinds=st.lists(st.tuples(oids(), values), max_size=8),
    request_id=st.integers(0, 2**31 - 1),
)
def test_random_responses_agree_with_pysnmp(varbinds: list[VarBind], request_id: int) -> None:
    message = _response(*varbinds, request_id=request_id)
    ours = encode_message(message)
    assert pysnmp_decode(ours) == message
    assert decode_message(pysnmp_encode(message)) == message
