"""SNMP trap and inform receiver that wakes the controller (pysnmp 7, asyncio).

:class:`TrapReceiver` listens on one UDP socket (loopback and a port from the OS by default)
and accepts SNMPv2c traps and informs for the configured communities, and SNMPv3 traps and
informs for the configured USM users (informs are acknowledged by pysnmp's notification
receiver; SNMPv3 traps need the SENDER's engine ID, as the sender is authoritative for them).
Every accepted notification becomes a :class:`Notification` (no pysnmp type leaves this
module) and is handed to a callback in the event loop's thread, e.g. one that sets an
``asyncio.Event`` the loop waits on, so that a linkDown starts a tick at once.

Anything else (a wrong community, an unknown user, a v3 message below the user's security
level, a malformed datagram) is dropped and counted in :attr:`TrapReceiver.dropped`; a
callback that raises is logged, and the receiver keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from types import TracebackType
from typing import Any

from adapters.credentials import resolve_secret
from adapters.snmp import SnmpV3User, usm_user_data
from controller.errors import ConnectError
from controller.model import CredentialRef, Device

__all__ = ["Notification", "NotificationKind", "TrapReceiver"]

_log = logging.getLogger(__name__)

_SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
_SNMP_TRAP_OID_0 = "1.3.6.1.6.3.1.1.4.1.0"
_IF_INDEX = "1.3.6.1.2.1.2.2.1.1."
_IF_NAME = "1.3.6.1.2.1.31.1.1.1.1."
_RECEIVE_POINT = "rfc3412.receiveMessage:request"
# loop iterations pysnmp may take to create its datagram endpoint (it takes one or two)
_ENDPOINT_WAIT_ITERATIONS = 100
# USM securityLevel values (RFC 3411)
_NO_AUTH, _AUTH_NO_PRIV, _AUTH_PRIV = 1, 2, 3


class NotificationKind(str, Enum):
    """The notifications the controller reacts to by name (RFC 3418, RFC 2863)."""

    LINK_DOWN = "linkDown"
    LINK_UP = "linkUp"
    COLD_START = "coldStart"
    WARM_START = "warmStart"
    AUTHENTICATION_FAILURE = "authenticationFailure"
    OTHER = "other"


_KINDS = {
    "1.3.6.1.6.3.1.1.5.1": NotificationKind.COLD_START,
    "1.3.6.1.6.3.1.1.5.2": NotificationKind.WARM_START,
    "1.3.6.1.6.3.1.1.5.3": NotificationKind.LINK_DOWN,
    "1.3.6.1.6.3.1.1.5.4": NotificationKind.LINK_UP,
    "1.3.6.1.6.3.1.1.5.5": NotificationKind.AUTHENTICATION_FAILURE,
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One accepted trap or inform.

    Attributes:
        kind: what it announces (``OTHER`` for any other notification OID).
        trap_oid: ``snmpTrapOID.0``, dotted.
        device: the inventory device whose address sent it, None if none or several match.
        source: the sender's ``(address, port)``.
        version: ``"v1"``, ``"v2c"`` or ``"v3"``.
        inform: an InformRequest (already acknowledged) rather than a trap.
        security_name: the v3 user, or the receiver's name for the community (never the
            community itself).
        uptime_ticks: the sender's ``sysUpTime.0``, if present.
        if_index: the ifIndex of a linkDown/linkUp (from ``ifIndex.N``), else None.
        if_name: ``ifName.N`` if the notification carries it.
        var_binds: every var-bind as ``(dotted OID, printable value)``.
        received_at: controller time of arrival (UTC).
    """

    kind: NotificationKind
    trap_oid: str
    device: str | None
    source: tuple[str, int]
    version: str
    inform: bool
    security_name: str
    uptime_ticks: int | None
    if_index: int | None
    if_name: str | None
    var_binds: tuple[tuple[str, str], ...]
    received_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TrapReceiver:
    """Receives SNMP notifications on one UDP socket and calls ``on_notification`` for each.

    Args:
        on_notification: called in the event loop's thread for every accepted notification;
            keep it short (set an event, put into a queue).
        communities: SNMPv2c (and v1) communities accepted, by reference.
        v3_users: SNMPv3 users accepted (authNoPriv or authPriv as configured; a message
            below the user's level is dropped).
        v3_engine_ids: engine IDs of the agents that send SNMPv3 TRAPS (informs need none:
            the receiver is authoritative for them).
        devices: the inventory, to name the device a notification came from by address.
        host: the address to listen on.
        port: the UDP port; 0 lets the OS choose (see :attr:`address`).
        sock: an already bound UDP socket to use instead of ``host``/``port`` (e.g. one
            opened inside a network namespace).
        clock: the controller's clock (``received_at``).
    """

    def __init__(
        self,
        on_notification: Callable[[Notification], object],
        *,
        communities: Sequence[CredentialRef] = (),
        v3_users: Sequence[SnmpV3User] = (),
        v3_engine_ids: Sequence[bytes] = (),
        devices: Iterable[Device] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._on_notification = on_notification
        self._communities = tuple(communities)
        self._v3_users = tuple(v3_users)
        self._v3_engine_ids = tuple(v3_engine_ids)
        by_address: dict[str, list[str]] = {}
        for device in devices:
            by_address.setdefault(device.address, []).append(device.name)
        self._devices = {
            address: names[0] for address, names in by_address.items() if len(names) == 1
        }
        self._bind = (host, port)
        self._sock = sock
        self._clock = clock
        self._engine: Any = None
        self._receiver: Any = None
        self._levels: dict[str, int] = {}
        self._address: tuple[str, int] | None = None
        self.accepted = 0
        self.dropped = 0

    async def __aenter__(self) -> TrapReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the receiver listens on.

        Raises:
            RuntimeError: the receiver has not been started.
        """
        if self._address is None:
            raise RuntimeError("TrapReceiver not started")
        return self._address

    @property
    def engine_id(self) -> bytes:
        """The receiver's snmpEngineID: the authoritative engine of SNMPv3 informs sent to
        it (a sender that is told it skips engine-ID discovery).

        Raises:
            RuntimeError: the receiver has not been started.
        """
        if self._engine is None:
            raise RuntimeError("TrapReceiver not started")
        return bytes(self._engine.snmpEngineID.asOctets())

    async def start(self) -> tuple[str, int]:
        """Open the socket and register the credentials.

        Returns:
            The address listened on.

        Raises:
            ConnectError: the socket cannot be bound.
            AuthError: a community or v3 key cannot be resolved.
        """
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import ntfrcv
        from pysnmp.proto.api import v2c

        if self._engine is not None:
            return self.address
        # secrets first: a refused credential leaves no socket or engine behind
        communities = [resolve_secret("trap-receiver", ref) for ref in self._communities]
        users = [(user, usm_user_data("trap-receiver", user)) for user in self._v3_users]
        sock = self._sock
        if sock is None:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(self._bind)
            except OSError as exc:
                raise ConnectError(
                    "trap-receiver", f"cannot listen on {self._bind}: {exc}"
                ) from exc
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        self._address = (str(host), int(port))
        snmp_engine = engine.SnmpEngine()
        transport = udp.UdpTransport().open_server_mode(sock=sock)
        config.add_transport(snmp_engine, udp.DOMAIN_NAME, transport)
        for number, community in enumerate(communities):
            config.add_v1_system(snmp_engine, f"community-{number}", community)
        for user, usm in users:
            self._levels[user.user] = _AUTH_PRIV if user.priv_key is not None else _AUTH_NO_PRIV
            # the local engine for informs, each sender's engine for traps
            for engine_id in (None, *self._v3_engine_ids):
                config.add_v3_user(
                    snmp_engine,
                    user.user,
                    usm.authentication_protocol,
                    usm.authentication_key,
                    usm.privacy_protocol,
                    usm.privacy_key,
                    securityEngineId=None if engine_id is None else v2c.OctetString(engine_id),
                )
        # the execution context of an incoming message carries its source and security
        snmp_engine.observer.register_observer(self._observe, _RECEIVE_POINT)
        self._receiver = ntfrcv.NotificationReceiver(snmp_engine, self._received)
        self._engine = snmp_engine
        # pysnmp creates the datagram endpoint in a task: be listening before returning
        for _ in range(_ENDPOINT_WAIT_ITERATIONS):
            if transport.transport is not None:
                break
            await asyncio.sleep(0)
        else:
            await self.close()
            raise ConnectError("trap-receiver", "the UDP endpoint was not created")
        return self.address

    async def close(self) -> None:
        """Stop receiving and release the socket."""
        if self._engine is None:
            return
        self._receiver.close(self._engine)
        self._engine.observer.unregister_observer()
        self._engine.close_dispatcher()
        self._engine = None
        await asyncio.sleep(0)

    def _observe(self, *_: object) -> None:
        """Registered only so that pysnmp keeps the execution context of each message."""

    def _received(
        self,
        snmp_engine: Any,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        var_binds: Any,
        cb_ctx: Any,
    ) -> None:
        try:
            context = snmp_engine.observer.get_execution_context(_RECEIVE_POINT)
            notification = self._notification(context, var_binds)
        except Exception:  # noqa: BLE001 - a bad notification must not stop the receiver
            self.dropped += 1
            _log.exception("SNMP notification could not be read; dropped")
            return
        if notification is None:
            self.dropped += 1
            return
        self.accepted += 1
        try:
            self._on_notification(notification)
        except Exception:  # noqa: BLE001 - the callback's bug must not stop the receiver
            _log.exception("SNMP notification callback failed")

    def _notification(self, context: Any, var_binds: Any) -> Notification | None:
        model = int(context["securityModel"])
        security_name = str(context["securityName"])
        if model == 3:
            level = int(context["securityLevel"])
            required = self._levels.get(security_name)
            if required is None or level < required:
                _log.warning(
                    "SNMPv3 notification from %s as %s at security level %d dropped",
                    context["transportAddress"],
                    security_name,
                    level,
                )
                return None
        pdu = context.get("pdu")
        inform = type(pdu).__name__ == "InformRequestPDU"
        values = tuple((str(name), value.prettyPrint()) for name, value in var_binds)
        found = dict(values)
        trap_oid = found.get(_SNMP_TRAP_OID_0, "")
        kind = _KINDS.get(trap_oid, NotificationKind.OTHER)
        address = context["transportAddress"]
        source = (str(address[0]), int(address[1]))
        uptime = found.get(_SYS_UPTIME_0)
        return Notification(
            kind=kind,
            trap_oid=trap_oid,
            device=self._devices.get(source[0]),
            source=source,
            version={1: "v1", 2: "v2c", 3: "v3"}.get(model, str(model)),
            inform=inform,
            security_name=security_name,
            uptime_ticks=int(uptime) if uptime is not None and uptime.isdigit() else None,
            if_index=_suffix_value(values, _IF_INDEX, numeric=True),
            if_name=_suffix_value(values, _IF_NAME, numeric=False),
            var_binds=values,
            received_at=self._clock(),
        )


def _suffix_value(values: Sequence[tuple[str, str]], prefix: str, *, numeric: bool) -> Any:
    for name, value in values:
        if name.startswith(prefix):
            if not numeric:
                return value
            return int(value) if value.lstrip("-").isdigit() else None
    return None
