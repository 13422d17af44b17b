"""NETCONF message framing over SSH (RFC 6242). Pure: bytes in, messages out, no IO.

Until both ``<hello>`` messages are exchanged, messages end with ``]]>]]>`` (base:1.0
end-of-message framing). If both peers announced ``urn:ietf:params:netconf:base:1.1``,
every later message is chunked: ``\\n#<size>\\n<data>`` chunks closed by ``\\n##\\n``.

:class:`MessageDecoder` takes bytes in whatever pieces the transport delivers and yields
whole messages; the caller switches it to chunked framing after the hello, between two
:meth:`MessageDecoder.next_message` calls, so bytes already buffered behind the hello are
decoded with the new framing. Anything that breaks the framing raises
:class:`FramingError`: the session cannot resynchronise and must be closed.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "END_OF_MESSAGE",
    "FramingError",
    "MessageDecoder",
    "encode_message",
]

END_OF_MESSAGE = b"]]>]]>"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_END_OF_CHUNKS = b"\n##\n"
_MAX_CHUNK_SIZE = 4294967295  # RFC 6242 §4.2
_MAX_SIZE_DIGITS = len(str(_MAX_CHUNK_SIZE))


class FramingError(ValueError):
    """The byte stream is not valid NETCONF framing (or a message exceeds the bound)."""


def encode_message(message: bytes, *, chunked: bool) -> bytes:
    """Frame one message for sending.

    Args:
        message: the XML document (UTF-8).
        chunked: base:1.1 chunked framing (one chunk) instead of end-of-message framing.

    Returns:
        The bytes to write.

    Raises:
        FramingError: an empty message (not allowed in a chunk), or a message longer than
            one chunk can carry.
    """
    if not chunked:
        return message + END_OF_MESSAGE
    if not message or len(message) > _MAX_CHUNK_SIZE:
        raise FramingError(f"a chunked message must hold 1..{_MAX_CHUNK_SIZE} bytes")
    return b"\n#%d\n%b%b" % (len(message), message, _END_OF_CHUNKS)


class MessageDecoder:
    """Turns received bytes into NETCONF messages.

    Args:
        max_message_bytes: a message (or the unframed bytes buffered for one) longer than
            this raises :class:`FramingError`, so a broken peer cannot exhaust memory.
    """

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes
        self.chunked = False
        # chunked decoding state: the message's chunks so far and where the next header is
        self._parts: list[bytes] = []
        self._parts_size = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as part of a message."""
        return len(self._buffer) + self._parts_size

    def feed(self, data: bytes) -> None:
        """Append received bytes.

        Raises:
            FramingError: more than ``max_message_bytes`` are buffered without a message end.
        """
        self._buffer += data
        if self.buffered > self._max + len(END_OF_MESSAGE) + 16:
            raise FramingError(f"message longer than {self._max} bytes")

    def next_message(self) -> bytes | None:
        """The next complete message, or None until more bytes arrive.

        Raises:
            FramingError: malformed chunk header, or a message over the size bound.
        """
        return self._next_chunked() if self.chunked else self._next_eom()

    def _next_eom(self) -> bytes | None:
        end = self._buffer.find(END_OF_MESSAGE)
        if end < 0:
            if len(self._buffer) > self._max:
                raise FramingError(f"message longer than {self._max} bytes")
            return None
        message = bytes(self._buffer[:end])
        del self._buffer[: end + len(END_OF_MESSAGE)]
        if len(message) > self._max:
            raise FramingError(f"message longer than {self._max} bytes")
        return message

    def _next_chunked(self) -> bytes | None:
        buffer = self._buffer
        while True:
            if len(buffer) < 4:
                return None
            if buffer[0] != 0x0A or buffer[1] != 0x23:  # "\n#"
                raise FramingError(f"expected a chunk header, got {bytes(buffer[:16])!r}")
            if buffer[2] == 0x23:  # "\n##" : end of chunks
                if buffer[3] != 0x0A:
                    raise FramingError(f"malformed end of chunks {bytes(buffer[:8])!r}")
                del buffer[:4]
                if not self._parts:
                    raise FramingError("end of chunks without any chunk")
                message = b"".join(self._parts)
                self._parts = []
                self._parts_size = 0
                return message
            newline = buffer.find(b"\n", 2, 2 + _MAX_SIZE_DIGITS + 1)
            if newline < 0:
                if len(buffer) > 2 + _MAX_SIZE_DIGITS:
                    raise FramingError(f"chunk size too long in {bytes(buffer[:16])!r}")
                return None
            digits = bytes(buffer[2:newline])
            # RFC 6242: chunk-size = 1-9 followed by 0-9, no sign, no leading zero
            if not digits.isdigit() or digits[:1] == b"0":
                raise FramingError(f"invalid chunk size {digits!r}")
            size = int(digits)
            if size > _MAX_CHUNK_SIZE or self._parts_size + size > self._max:
                raise FramingError(f"message longer than {self._max} bytes")
            start = newline + 1
            if len(buffer) < start + size:
                return None
            self._parts.append(bytes(buffer[start : start + size]))
            self._parts_size += size
            del buffer[: start + size]
