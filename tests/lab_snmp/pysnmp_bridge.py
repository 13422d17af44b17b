"""Conversions between the lab codec's types and pysnmp/pyasn1's, for cross-checks.

pysnmp is the client the controller uses, so "pysnmp agrees" is the reference: these helpers
encode and decode with pysnmp's v2c API and pyasn1's BER codec, and convert values by their
ASN.1 tag (not their Python class) so a mismatch in tags shows up as a mismatch in values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.ber import encoder as ber_encoder
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c

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
)

_UNSIGNED: dict[Callable[[int], Value], Any] = {
    Counter32: v2c.Counter32,
    Gauge32: v2c.Gauge32,
    TimeTicks: v2c.TimeTicks,
    Counter64: v2c.Counter64,
}
_OPAQUE_BYTES: dict[Callable[[bytes], Value], Any] = {
    OctetString: v2c.OctetString,
    Opaque: v2c.Opaque,
    IpAddress: v2c.IpAddress,
}
_EXCEPTIONS: dict[Value, Any] = {
    NO_SUCH_OBJECT: rfc1905.noSuchObject,
    NO_SUCH_INSTANCE: rfc1905.noSuchInstance,
    END_OF_MIB_VIEW: rfc1905.endOfMibView,
}


def to_pysnmp(value: Value) -> Any:
    """The same value as a pysnmp/pyasn1 object."""
    if isinstance(value, Integer):
        return v2c.Integer(value.value)
    if isinstance(value, Counter32 | Gauge32 | TimeTicks | Counter64):
        return _UNSIGNED[type(value)](value.value)
    if isinstance(value, OctetString | Opaque | IpAddress):
        return _OPAQUE_BYTES[type(value)](value.value)
    if isinstance(value, ObjectIdentifier):
        return v2c.ObjectIdentifier(value.value)
    if value == NULL:
        return v2c.null
    return _EXCEPTIONS[value]


def from_pysnmp(value: Any) -> Value:
    """A pyasn1-decoded varbind value as ours, by its tag (not its Python class)."""
    tag = value.tagSet
    for ours, theirs in _UNSIGNED.items():
        if tag == theirs.tagSet:
            return ours(int(value))
    for ours_bytes, theirs in _OPAQUE_BYTES.items():
        if tag == theirs.tagSet:
            return ours_bytes(value.asOctets())
    for exception, theirs in _EXCEPTIONS.items():
        if tag == theirs.tagSet:
            return exception
    if tag == v2c.Integer.tagSet:
        return Integer(int(value))
    if tag == v2c.ObjectIdentifier.tagSet:
        return ObjectIdentifier(tuple(value))
    assert tag == v2c.Null.tagSet, f"unexpected tag {tag}"
    return NULL


_PYSNMP_PDUS = {
    PduType.GET_REQUEST: v2c.GetRequestPDU,
    PduType.GET_NEXT_REQUEST: v2c.GetNextRequestPDU,
    PduType.RESPONSE: v2c.ResponsePDU,
    PduType.SET_REQUEST: v2c.SetRequestPDU,
    PduType.GET_BULK_REQUEST: v2c.GetBulkRequestPDU,
    PduType.INFORM_REQUEST: v2c.InformRequestPDU,
    PduType.SNMPV2_TRAP: v2c.SNMPv2TrapPDU,
    PduType.REPORT: v2c.ReportPDU,
}


def pysnmp_encode(message: Message) -> bytes:
    """Encode ``message`` with pysnmp's API and pyasn1's BER encoder."""
    pdu = message.pdu
    theirs = _PYSNMP_PDUS[pdu.pdu_type]()
    if pdu.pdu_type is PduType.GET_BULK_REQUEST:
        v2c.apiBulkPDU.set_defaults(theirs)
        v2c.apiBulkPDU.set_non_repeaters(theirs, pdu.non_repeaters)
        v2c.apiBulkPDU.set_max_repetitions(theirs, pdu.max_repetitions)
    else:
        v2c.apiPDU.set_defaults(theirs)
        v2c.apiPDU.set_error_status(theirs, pdu.error_status)
        v2c.apiPDU.set_error_index(theirs, pdu.error_index)
    v2c.apiPDU.set_request_id(theirs, pdu.request_id)
    v2c.apiPDU.set_varbinds(theirs, [(oid, to_pysnmp(value)) for oid, value in pdu.varbinds])
    wrapper = v2c.Message()
    v2c.apiMessage.set_defaults(wrapper)
    v2c.apiMessage.set_community(wrapper, message.community)
    v2c.apiMessage.set_pdu(wrapper, theirs)
    return bytes(ber_encoder.encode(wrapper))


def pysnmp_decode(data: bytes) -> Message:
    """Decode with pyasn1 against pysnmp's v2c Message spec, converted to our types."""
    theirs, rest = ber_decoder.decode(data, asn1Spec=v2c.Message())
    assert rest == b""
    assert int(v2c.apiMessage.get_version(theirs)) == 1
    pdu = v2c.apiMessage.get_pdu(theirs)
    pdu_type = next(ours for ours, cls in _PYSNMP_PDUS.items() if pdu.tagSet == cls.tagSet)
    if pdu_type is PduType.GET_BULK_REQUEST:
        first = int(v2c.apiBulkPDU.get_non_repeaters(pdu))
        second = int(v2c.apiBulkPDU.get_max_repetitions(pdu))
    else:
        first = int(v2c.apiPDU.get_error_status(pdu))
        second = int(v2c.apiPDU.get_error_index(pdu))
    varbinds = tuple(
        (tuple(oid), from_pysnmp(value)) for oid, value in v2c.apiPDU.get_varbinds(pdu)
    )
    return Message(
        bytes(v2c.apiMessage.get_community(theirs)),
        Pdu(pdu_type, int(v2c.apiPDU.get_request_id(pdu)), first, second, varbinds),
    )
