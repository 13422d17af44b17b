"""NETCONF framing (RFC 6242): pure, no network; properties over arbitrary splits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.parsing.framing import FramingError, MessageDecoder, encode_message

messages = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=6)


def decode_all(decoder: MessageDecoder, stream: bytes, cuts: list[int]) -> list[bytes]:
    out: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        decoder.feed(stream[start:cut])
        start = cut
        while (message := decoder.next_message()) is not None:
            out.append(message)
    return out


@given(messages, st.lists(st.integers(min_value=0, max_value=2000), max_size=20))
def test_chunked_round_trip_whatever_the_splits(bodies, cuts):
    stream = b"".join(encode_message(body, chunked=True) for body in bodies)
    decoder = MessageDecoder()
    decoder.chunked = True
    assert decode_all(decoder, stream, [c % (len(stream) + 1) for c in cuts]) == bodies
    assert decoder.buffered == 0


@given(
    st.lists(st.binary(max_size=200).filter(lambda b: b"]]>]]>" not in b), min_size=1, max_size=5),
    st.lists(st.integers(min_value=0, max_value=1000), max_size=10),
)
def test_end_of_message_round_trip_whatever_the_splits(bodies, cuts):
    stream = b"".join(encode_message(body, chunked=False) for body in bodies)
    decoder = MessageDecoder()
    assert decode_all(decoder, stream, [c % (len(stream) + 1) for c in cuts]) == bodies


def test_message_of_several_chunks_is_joined():
    decoder = MessageDecoder()
    decoder.chunked = True
    decoder.feed(b"\n#4\n<rpc\n#17\n message-id='1'/>\n##\n")
    assert decoder.next_message() == b"<rpc message-id='1'/>"
    assert decoder.next_message() is None


def test_switch_after_the_hello_decodes_buffered_bytes_with_the_new_framing():
    decoder = MessageDecoder()
    hello = b"<hello/>"
    rpc = b"<rpc-reply/>"
    decoder.feed(encode_message(hello, chunked=False) + encode_message(rpc, chunked=True))
    assert decoder.next_message() == hello
    decoder.chunked = True
    assert decoder.next_message() == rpc


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"<rpc/>\n##\n", id="no-chunk-header"),
        pytest.param(b"\n#0\n\n##\n", id="zero-size"),
        pytest.param(b"\n#012\n", id="leading-zero"),
        pytest.param(b"\n#-1\nx\n##\n", id="negative"),
        pytest.param(b"\n##\n", id="end-without-chunk"),
        pytest.param(b"\n##x", id="bad-end"),
        pytest.param(b"\n#99999999999\n", id="size-too-long"),
        pytest.param(b"\n#4294967296\n", id="size-above-maximum"),
    ],
)
def test_malformed_chunk_framing_is_refused(stream):
    decoder = MessageDecoder()
    decoder.chunked = True
    decoder.feed(stream)
    with pytest.raises(FramingError):
        decoder.next_message()


def test_size_bound_holds_in_both_framings():
    chunked = MessageDecoder(max_message_bytes=100)
    chunked.chunked = True
    chunked.feed(b"\n#60\n" + b"x" * 60 + b"\n#60\n")
    with pytest.raises(FramingError, match="longer than 100"):
        chunked.next_message()
    eom = MessageDecoder(max_message_bytes=100)
    with pytest.raises(FramingError, match="longer than 100"):
        eom.feed(b"x" * 200)


def test_partial_header_waits_for_more_bytes():
    decoder = MessageDecoder()
    decoder.chunked = True
    for piece in (b"\n", b"#", b"1", b"2", b"\n", b"<rpc-reply/>", b"\n#", b"#", b"\n"):
        assert decoder.next_message() is None
        decoder.feed(piece)
    assert decoder.next_message() == b"<rpc-reply/>"


def test_empty_chunked_message_cannot_be_encoded():
    with pytest.raises(FramingError):
        encode_message(b"", chunked=True)
