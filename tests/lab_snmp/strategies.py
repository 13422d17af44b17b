"""Hypothesis strategies for SNMPv2c values, PDUs and messages (any valid one)."""

from __future__ import annotations

from hypothesis import strategies as st

from lab.snmp_codec import (
    END_OF_MIB_VIEW,
    INT32_MAX,
    INT32_MIN,
    MAX_BINDINGS,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    UINT32_MAX,
    UINT64_MAX,
    Counter32,
    Counter64,
    ErrorStatus,
    Gauge32,
    Integer,
    IpAddress,
    Message,
    ObjectIdentifier,
    OctetString,
    Oid,
    Opaque,
    Pdu,
    PduType,
    TimeTicks,
    Value,
)

# Arcs are mostly small in real OIDs; the large ones exercise multi-byte sub-identifiers.
arcs = st.one_of(st.integers(0, 127), st.integers(0, UINT32_MAX))


@st.composite
def oids(draw: st.DrawFn, max_arcs: int = 128) -> Oid:
    first = draw(st.integers(0, 2))
    second = draw(st.integers(0, 39) if first < 2 else arcs)
    rest = draw(st.lists(arcs, max_size=max_arcs - 2))
    return (first, second, *rest)


def _boundaries(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, 1, 127, 128, 255]))


values: st.SearchStrategy[Value] = st.one_of(
    _boundaries(INT32_MIN, INT32_MAX).map(Integer),
    st.binary(max_size=300).map(OctetString),
    st.just(NULL),
    oids(max_arcs=20).map(ObjectIdentifier),
    st.binary(min_size=4, max_size=4).map(IpAddress),
    _boundaries(0, UINT32_MAX).map(Counter32),
    _boundaries(0, UINT32_MAX).map(Gauge32),
    _boundaries(0, UINT32_MAX).map(TimeTicks),
    st.binary(max_size=40).map(Opaque),
    _boundaries(0, UINT64_MAX).map(Counter64),
    st.sampled_from([NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW]),
)


@st.composite
def pdus(draw: st.DrawFn, max_varbinds: int = 12) -> Pdu:
    pdu_type = draw(st.sampled_from(PduType))
    if pdu_type is PduType.GET_BULK_REQUEST:
        first = draw(_boundaries(0, MAX_BINDINGS))
    else:
        first = draw(st.sampled_from(ErrorStatus))
    varbinds = draw(st.lists(st.tuples(oids(max_arcs=24), values), max_size=max_varbinds))
    return Pdu(
        pdu_type,
        draw(_boundaries(INT32_MIN, INT32_MAX)),
        int(first),
        draw(_boundaries(0, MAX_BINDINGS)),
        tuple(varbinds),
    )


messages = st.builds(Message, st.binary(max_size=40), pdus())

# Requests an agent with the default community would accept (any PDU type, any varbinds)
public_messages = st.builds(Message, st.just(b"public"), pdus())
