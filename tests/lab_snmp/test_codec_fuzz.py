"""Property tests: the codec round-trips every valid message and is total on any bytes.

"Total" means: whatever the datagram, :func:`decode_message` returns a message or raises
:class:`SnmpCodecError` — never IndexError, ValueError, OverflowError or RecursionError —
because the agent turns exactly that one error into "drop and count".
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.snmp_agent import LabSnmpAgent
from lab.snmp_codec import (
    Message,
    SnmpCodecError,
    decode_message,
    encode_length,
    encode_message,
    encode_message_bytes,
    encode_oid,
    encode_pdu,
    encode_varbind,
)
from tests.lab_snmp.conftest import IFX_ENTRY, TinyBackend
from tests.lab_snmp.strategies import messages, public_messages


def decode_or_codec_error(data: bytes) -> Message | None:
    """Decode; None for the codec's error, anything else propagates and fails the test."""
    try:
        return decode_message(data)
    except SnmpCodecError:
        return None


@settings(max_examples=200)
@given(messages)
def test_every_valid_message_round_trips(message: Message) -> None:
    assert decode_message(encode_message(message)) == message


@settings(max_examples=1000)
@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_the_codec_error(data: bytes) -> None:
    decode_or_codec_error(data)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_inside_a_valid_frame_decode_or_raise_the_codec_error(body: bytes) -> None:
    # random bytes behind a well-formed SEQUENCE, version and community reach the PDU parser
    framed = b"\x02\x01\x01\x04\x06public" + body
    decode_or_codec_error(b"\x30" + encode_length(len(framed)) + framed)


_MUTATIONS = ["flip", "set", "truncate", "insert", "delete", "repeat"]


def _mutate(data: bytearray, draw: st.DrawFn) -> bytes:
    position = draw(st.integers(0, len(data) - 1))
    kind = draw(st.sampled_from(_MUTATIONS))
    if kind == "flip":
        data[position] ^= draw(st.integers(1, 255))
    elif kind == "set":
        data[position] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x81, 0x84, 0x85, 0xFF]))
    elif kind == "truncate":
        del data[position:]
    elif kind == "insert":
        data[position:position] = draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        del data[position : position + draw(st.integers(1, 8))]
    else:
        data[position:position] = data[position : position + draw(st.integers(1, 16))]
    return bytes(data)


@st.composite
def mutated(
    draw: st.DrawFn, originals: st.SearchStrategy[Message] = messages, variants: int = 10
) -> list[bytes]:
    """Corrupted copies of one valid message, each with one flip/overwrite/cut/insert/
    delete/repeat (several per drawn message: drawing the message is the costly part)."""
    valid = encode_message(draw(originals))
    return [_mutate(bytearray(valid), draw) for _ in range(variants)]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_decode_or_raise_the_codec_error(variants: list[bytes]) -> None:
    for data in variants:
        message = decode_or_codec_error(data)
        if message is not None:
            # what the decoder accepts, the encoder writes back to the same message
            assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize("depth", [1, 100, 10_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    nested = b""
    for _ in range(depth):
        nested = b"\x30" + encode_length(len(nested)) + nested
    with pytest.raises(SnmpCodecError):
        decode_message(nested)
    # and as a varbind value inside an otherwise valid message: refused by its tag, unread
    varbind = encode_varbind(encode_oid(IFX_ENTRY), nested)
    data = encode_message_bytes(b"public", encode_pdu(0xA2, 1, 0, 0, [varbind]))
    with pytest.raises(SnmpCodecError, match="unknown value tag 0x30"):
        decode_message(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated(public_messages, 5), public_messages.map(lambda m: [encode_message(m)])))
def test_the_agent_answers_or_drops_any_datagram_and_counts_it(variants: list[bytes]) -> None:
    agent = LabSnmpAgent(TinyBackend())
    for served_or_dropped, data in enumerate(variants, start=1):
        reply = agent.handle_datagram(data)
        stats = agent.stats
        assert stats.requests_served + stats.dropped == served_or_dropped
        if reply is not None:
            assert decode_message(reply).pdu.pdu_type == 0xA2
