"""NETCONF event notifications (RFC 5277) -> :class:`adapters.base.Notification`. Pure.

A notification is ``<notification xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0">``
holding ``<eventTime>`` (RFC 3339, with an offset) and exactly one event element of some
module. The event is kept as XML text for that module's parser; only its identity
(namespace, local name) and the time are read here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from adapters.base import Notification
from controller.errors import ProtocolError

__all__ = ["NOTIFICATION_NAMESPACE", "parse_notification"]

NOTIFICATION_NAMESPACE = "urn:ietf:params:xml:ns:netconf:notification:1.0"
_NOTIFICATION = f"{{{NOTIFICATION_NAMESPACE}}}notification"
_EVENT_TIME = f"{{{NOTIFICATION_NAMESPACE}}}eventTime"


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def parse_event_time(text: str, *, device: str) -> datetime:
    """An RFC 3339 ``date-time`` (offset required) as an aware UTC datetime.

    Raises:
        ProtocolError: not an RFC 3339 date-time with an offset.
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ProtocolError(device, f"eventTime {value!r} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise ProtocolError(device, f"eventTime {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def parse_notification(xml: str | bytes, *, device: str) -> Notification:
    """Parse one ``<notification>`` message.

    Args:
        xml: the whole message.
        device: the device it came from (named in errors and in the result).

    Returns:
        The notification, with ``event_time`` in UTC.

    Raises:
        ProtocolError: malformed XML, a document type declaration (RFC 6241 §3), another
            root element, a missing or invalid ``eventTime``, or no event element.
    """
    text = xml.encode("utf-8") if isinstance(xml, str) else xml
    if b"<!DOCTYPE" in text:
        raise ProtocolError(device, "malformed notification: a document type declaration")
    try:
        # no DTD (checked above), so no entity can be declared or expanded
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise ProtocolError(device, f"malformed notification XML: {exc}") from exc
    if root.tag != _NOTIFICATION:
        raise ProtocolError(device, f"expected <notification>, got <{_split(root.tag)[1]}>")
    event_time = root.find(_EVENT_TIME)
    if event_time is None or not (event_time.text or "").strip():
        raise ProtocolError(device, "notification without eventTime")
    events = [child for child in root if child.tag != _EVENT_TIME]
    if not events:
        raise ProtocolError(device, "notification without an event element")
    event = events[0]
    event.tail = None  # the tree is ours: drop the whitespace that followed the event
    namespace, name = _split(event.tag)
    return Notification(
        device=device,
        event_time=parse_event_time(event_time.text or "", device=device),
        name=name,
        namespace=namespace,
        xml=ET.tostring(event, encoding="unicode"),
    )
