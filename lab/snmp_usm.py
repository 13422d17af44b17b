"""SNMPv3 with the User-based Security Model for the lab agent: authPriv with SHA and AES.

Implements the agent (authoritative) side of RFC 3412 (message format), RFC 3414 (USM:
key localisation, HMAC-SHA-96, engine discovery and the time window) and RFC 3826
(AES-128-CFB privacy), on top of :mod:`lab.snmp_codec`'s BER pieces and the ``cryptography``
package's AES. The agent answers:

- a discovery probe (empty authoritative engine id) with a Report of
  ``usmStatsUnknownEngineIDs`` carrying its engine id, boots and time;
- an authenticated request outside the 150 s time window with a Report of
  ``usmStatsNotInTimeWindows`` (authenticated, so the manager can resynchronise);
- unknown users, wrong digests, undecryptable payloads and unsupported security levels
  with the matching ``usmStats*`` Report, when the request is reportable;
- a valid request with its response at the request's security level.

The engine time follows the wall clock (a protocol timer the manager extrapolates in real
time), not the lab clock: sysUpTime is what follows lab time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 47 keeps CFB among the "decrepit" modes (RFC 3826 needs it)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from lab.snmp_codec import (
    TAG_INTEGER,
    TAG_OCTET_STRING,
    TAG_SEQUENCE,
    Oid,
    Pdu,
    PduType,
    SnmpCodecError,
    _decode_pdu,
    _header,
    _int_tlv,
    _signed,
    _tlv,
    encode_counter32,
    encode_oid,
    encode_pdu,
    encode_varbind,
)

__all__ = [
    "UsmAgent",
    "UsmUser",
    "engine_id_for",
    "localize_key",
    "password_to_key",
]

VERSION_3 = 3
_SECURITY_MODEL_USM = 3
_FLAG_AUTH, _FLAG_PRIV, _FLAG_REPORTABLE = 0x01, 0x02, 0x04
_TIME_WINDOW_S = 150
_AUTH_LENGTH = 12  # HMAC-SHA-96
_USM_STATS = (1, 3, 6, 1, 6, 3, 15, 1, 1)
UNSUPPORTED_SEC_LEVELS: Oid = (*_USM_STATS, 1, 0)
NOT_IN_TIME_WINDOWS: Oid = (*_USM_STATS, 2, 0)
UNKNOWN_USER_NAMES: Oid = (*_USM_STATS, 3, 0)
UNKNOWN_ENGINE_IDS: Oid = (*_USM_STATS, 4, 0)
WRONG_DIGESTS: Oid = (*_USM_STATS, 5, 0)
DECRYPTION_ERRORS: Oid = (*_USM_STATS, 6, 0)


def password_to_key(password: str) -> bytes:
    """RFC 3414 A.2.2: SHA-1 over 1,048,576 bytes of the repeated password (Ku).

    Raises:
        ValueError: a password shorter than 8 characters (RFC 3414 §11.2).
    """
    secret = password.encode("utf-8")
    if len(secret) < 8:
        raise ValueError("SNMPv3 passwords have at least 8 characters")
    repeated = (secret * (1_048_576 // len(secret) + 1))[:1_048_576]
    # SHA-1 is what usmHMACSHAAuthProtocol (RFC 3414) is defined with
    return hashlib.sha1(repeated, usedforsecurity=True).digest()  # noqa: S324


def localize_key(key: bytes, engine_id: bytes) -> bytes:
    """RFC 3414 A.2.2: Kul = SHA-1(Ku || engineID || Ku)."""
    return hashlib.sha1(key + engine_id + key, usedforsecurity=True).digest()  # noqa: S324


def engine_id_for(name: str) -> bytes:
    """An RFC 3411 snmpEngineID: enterprise 32473, format 4 (text), the device name."""
    text = name.encode("utf-8")[:27]
    return bytes((0x80, 0x00, 0x7E, 0xD9, 0x04)) + text


@dataclass(frozen=True, slots=True)
class UsmUser:
    """An SNMPv3 user with SHA authentication and AES-128 privacy.

    Args:
        name: the security name.
        auth_key: Ku of the authentication password (:func:`password_to_key`).
        priv_key: Ku of the privacy password.
    """

    name: str
    auth_key: bytes
    priv_key: bytes

    @classmethod
    def from_passwords(cls, name: str, auth_password: str, priv_password: str) -> UsmUser:
        """A user from its passwords (costs two 1 MB SHA-1 passes: build once, share)."""
        return cls(name, password_to_key(auth_password), password_to_key(priv_password))


@dataclass(frozen=True, slots=True)
class _Request:
    msg_id: int
    max_size: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user: bytes
    auth_params: bytes
    priv_params: bytes
    auth_offset: int  # where the 12 auth bytes sit in the whole message
    data_start: int
    data_end: int


def _octets(data: bytes, pos: int, end: int, what: str) -> tuple[bytes, int]:
    tag, start, stop = _header(data, pos, end)
    if tag != TAG_OCTET_STRING:
        raise SnmpCodecError(f"{what}: expected OCTET STRING")
    return data[start:stop], stop


def _integer(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    tag, start, stop = _header(data, pos, end)
    if tag != TAG_INTEGER:
        raise SnmpCodecError(f"{what}: expected INTEGER")
    return _signed(data, start, stop), stop


def _sequence(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    tag, start, stop = _header(data, pos, end)
    if tag != TAG_SEQUENCE:
        raise SnmpCodecError(f"{what}: expected SEQUENCE")
    return start, stop


def _parse(data: bytes) -> _Request:
    end = len(data)
    pos, message_end = _sequence(data, 0, end, "message")
    if message_end != end:
        raise SnmpCodecError("bytes after the message")
    version, pos = _integer(data, pos, end, "msgVersion")
    if version != VERSION_3:
        raise SnmpCodecError("not SNMPv3")
    start, global_end = _sequence(data, pos, end, "msgGlobalData")
    msg_id, start = _integer(data, start, global_end, "msgID")
    max_size, start = _integer(data, start, global_end, "msgMaxSize")
    flags_bytes, start = _octets(data, start, global_end, "msgFlags")
    model, start = _integer(data, start, global_end, "msgSecurityModel")
    if len(flags_bytes) != 1 or model != _SECURITY_MODEL_USM:
        raise SnmpCodecError("unsupported msgFlags or security model")
    tag, sp_start, sp_end = _header(data, global_end, end)
    if tag != TAG_OCTET_STRING:
        raise SnmpCodecError("msgSecurityParameters: expected OCTET STRING")
    pos, usm_end = _sequence(data, sp_start, sp_end, "UsmSecurityParameters")
    engine_id, pos = _octets(data, pos, usm_end, "engine id")
    boots, pos = _integer(data, pos, usm_end, "engine boots")
    time, pos = _integer(data, pos, usm_end, "engine time")
    user, pos = _octets(data, pos, usm_end, "user name")
    tag, auth_start, auth_end = _header(data, pos, usm_end)
    if tag != TAG_OCTET_STRING:
        raise SnmpCodecError("auth parameters: expected OCTET STRING")
    auth_params = data[auth_start:auth_end]
    priv_params, _ = _octets(data, auth_end, usm_end, "priv parameters")
    return _Request(
        msg_id,
        max_size,
        flags_bytes[0],
        engine_id,
        boots,
        time,
        user,
        auth_params,
        priv_params,
        auth_start,
        sp_end,
        end,
    )


def _aes(key: bytes, boots: int, time: int, salt: bytes) -> Cipher[CFB]:
    iv = boots.to_bytes(4, "big") + time.to_bytes(4, "big") + salt
    return Cipher(algorithms.AES(key[:16]), CFB(iv))


class UsmAgent:
    """The authoritative SNMPv3 engine of one lab device.

    Args:
        engine_id: the snmpEngineID (:func:`engine_id_for`).
        users: the users by name.
        clock: wall-clock seconds (monotonic), for snmpEngineTime.
        boots: snmpEngineBoots (incremented by :meth:`reboot`).
    """

    def __init__(
        self,
        engine_id: bytes,
        users: Mapping[str, UsmUser],
        *,
        clock: Callable[[], float],
        boots: int = 1,
    ) -> None:
        self.engine_id = engine_id
        self._clock = clock
        self._started = clock()
        self.boots = boots
        self._keys = MappingProxyType(
            {
                name.encode("utf-8"): (
                    localize_key(user.auth_key, engine_id),
                    localize_key(user.priv_key, engine_id)[:16],
                )
                for name, user in users.items()
            }
        )
        self._salt = int.from_bytes(os.urandom(8), "big")
        self.stats: dict[Oid, int] = {
            oid: 0
            for oid in (
                UNSUPPORTED_SEC_LEVELS,
                NOT_IN_TIME_WINDOWS,
                UNKNOWN_USER_NAMES,
                UNKNOWN_ENGINE_IDS,
                WRONG_DIGESTS,
                DECRYPTION_ERRORS,
            )
        }

    @property
    def engine_time(self) -> int:
        """snmpEngineTime: seconds since the engine (re)started."""
        return int(self._clock() - self._started)

    def reboot(self) -> None:
        """The device restarted: snmpEngineBoots + 1, snmpEngineTime from 0."""
        self.boots += 1
        self._started = self._clock()

    def handle(self, data: bytes, respond: Callable[[Pdu], bytes]) -> bytes | None:
        """Answer one SNMPv3 datagram.

        Args:
            data: the datagram (a version-3 message).
            respond: computes the response PDU TLV for a decoded request PDU.

        Returns:
            The response or Report datagram, or None to drop the request.

        Raises:
            SnmpCodecError: the datagram is not a well-formed SNMPv3/USM message.
        """
        request = _parse(data)
        flags = request.flags
        reportable = bool(flags & _FLAG_REPORTABLE)
        if (flags & _FLAG_PRIV) and not flags & _FLAG_AUTH:
            raise SnmpCodecError("privacy without authentication")
        if request.engine_id != self.engine_id:
            return self._report(request, UNKNOWN_ENGINE_IDS, authenticated=False)
        keys = self._keys.get(request.user)
        if keys is None:
            return self._report(request, UNKNOWN_USER_NAMES, authenticated=False)
        if not flags & _FLAG_AUTH or not flags & _FLAG_PRIV:
            # this agent's users are authPriv only (rouser ... priv)
            return self._report(request, UNSUPPORTED_SEC_LEVELS, authenticated=False)
        auth_key, priv_key = keys
        if len(request.auth_params) != _AUTH_LENGTH:
            return self._report(request, WRONG_DIGESTS, authenticated=False)
        zeroed = (
            data[: request.auth_offset]
            + bytes(_AUTH_LENGTH)
            + data[request.auth_offset + _AUTH_LENGTH :]
        )
        digest = hmac.new(auth_key, zeroed, hashlib.sha1).digest()[:_AUTH_LENGTH]
        if not hmac.compare_digest(digest, request.auth_params):
            return self._report(request, WRONG_DIGESTS, authenticated=False)
        now = self.engine_time
        if request.boots != self.boots or abs(request.time - now) > _TIME_WINDOW_S:
            return self._report(request, NOT_IN_TIME_WINDOWS, authenticated=True)
        if len(request.priv_params) != 8:
            return self._report(request, DECRYPTION_ERRORS, authenticated=True)
        encrypted, _ = _octets(data, request.data_start, request.data_end, "encryptedPDU")
        decryptor = _aes(priv_key, request.boots, request.time, request.priv_params).decryptor()
        plain = decryptor.update(encrypted) + decryptor.finalize()
        try:
            context_engine, context_name, pdu = self._scoped_pdu(plain)
        except SnmpCodecError:
            return self._report(request, DECRYPTION_ERRORS, authenticated=True)
        del context_engine, reportable
        if pdu.pdu_type not in (
            PduType.GET_REQUEST,
            PduType.GET_NEXT_REQUEST,
            PduType.GET_BULK_REQUEST,
            PduType.SET_REQUEST,
        ):
            return None
        scoped = self._scoped(context_name, respond(pdu))
        return self._message(request, scoped, authenticated=True, encrypt=True)

    @staticmethod
    def _scoped_pdu(plain: bytes) -> tuple[bytes, bytes, Pdu]:
        # CFB leaves no padding, but a manager may add none; trust only the SEQUENCE length
        pos, end = _sequence(plain, 0, len(plain), "ScopedPDU")
        context_engine, pos = _octets(plain, pos, end, "contextEngineID")
        context_name, pos = _octets(plain, pos, end, "contextName")
        return context_engine, context_name, _decode_pdu(plain, pos, end)

    def _scoped(self, context_name: bytes, pdu_tlv: bytes) -> bytes:
        return _tlv(
            TAG_SEQUENCE,
            _tlv(TAG_OCTET_STRING, self.engine_id) + _tlv(TAG_OCTET_STRING, context_name) + pdu_tlv,
        )

    def _report(self, request: _Request, oid: Oid, *, authenticated: bool) -> bytes | None:
        self.stats[oid] += 1
        if not request.flags & _FLAG_REPORTABLE:
            return None
        varbind = encode_varbind(encode_oid(oid), encode_counter32(self.stats[oid] & 0xFFFFFFFF))
        pdu = encode_pdu(PduType.REPORT, _request_id_of(request), 0, 0, [varbind])
        scoped = self._scoped(b"", pdu)
        return self._message(request, scoped, authenticated=authenticated, encrypt=False)

    def _message(
        self, request: _Request, scoped: bytes, *, authenticated: bool, encrypt: bool
    ) -> bytes:
        boots, time = self.boots, self.engine_time
        flags = (_FLAG_AUTH if authenticated else 0) | (_FLAG_PRIV if encrypt else 0)
        user = request.user if authenticated or request.user else b""
        salt = b""
        data = scoped
        if encrypt:
            self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
            salt = self._salt.to_bytes(8, "big")
            keys = self._keys[request.user]
            encryptor = _aes(keys[1], boots, time, salt).encryptor()
            data = _tlv(TAG_OCTET_STRING, encryptor.update(scoped) + encryptor.finalize())
        auth_placeholder = bytes(_AUTH_LENGTH) if authenticated else b""
        usm = _tlv(
            TAG_SEQUENCE,
            _tlv(TAG_OCTET_STRING, self.engine_id)
            + _int_tlv(TAG_INTEGER, boots)
            + _int_tlv(TAG_INTEGER, time)
            + _tlv(TAG_OCTET_STRING, user)
            + _tlv(TAG_OCTET_STRING, auth_placeholder)
            + _tlv(TAG_OCTET_STRING, salt),
        )
        global_data = _tlv(
            TAG_SEQUENCE,
            _int_tlv(TAG_INTEGER, request.msg_id)
            + _int_tlv(TAG_INTEGER, 65507)
            + _tlv(TAG_OCTET_STRING, bytes((flags,)))
            + _int_tlv(TAG_INTEGER, _SECURITY_MODEL_USM),
        )
        message = _tlv(
            TAG_SEQUENCE,
            _int_tlv(TAG_INTEGER, VERSION_3) + global_data + _tlv(TAG_OCTET_STRING, usm) + data,
        )
        if not authenticated:
            return message
        keys = self._keys[request.user]
        digest = hmac.new(keys[0], message, hashlib.sha1).digest()[:_AUTH_LENGTH]
        # the placeholder is the last 04 0c 00*12 before the (possibly encrypted) data
        marker = b"\x04\x0c" + auth_placeholder
        offset = message.rindex(marker, 0, len(message) - len(data)) + 2
        return message[:offset] + digest + message[offset + _AUTH_LENGTH :]


def _request_id_of(request: _Request) -> int:
    # A Report answers with the request-id of the request when the PDU could be read; the
    # USM errors above happen before decryption, where RFC 3412 §7.1 lets it be 0... except
    # that net-snmp and pysnmp match Reports by msgID, not request-id, so 0 is safe.
    del request
    return 0
