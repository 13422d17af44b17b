"""A client for the daemon's local API (the CLI and the console's remote mode use it).

:class:`ApiClient` sends one request per connection, as the server expects. The ``decode_*``
functions turn the API's JSON back into the core types (the server side encodes them in
controller/api_handlers.py), so a remote console renders exactly what an in-process one
does. They accept what the server writes and fill absent optional fields with the types'
defaults, so a daemon that sends more (a newer version) is still understood.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analytics.watch import Anomaly
from controller.errors import AuthError, ConnectError, NetpilotError, SourceLocation
from controller.loop import TickReport
from controller.model import (
    AdminState,
    ChangeResult,
    ChangeSet,
    ChangeStatus,
    ClassQueue,
    Decision,
    DeviceConfig,
    Expectation,
    ExpectationObjects,
    ExpectationType,
    ExpectationVerb,
    FulfilmentStatus,
    Guards,
    Hold,
    Intent,
    IntentMode,
    IntentStatus,
    InterfaceRate,
    NotFulfilledState,
    Observation,
    PathRef,
    ProbeResult,
    Target,
    TargetCondition,
    TargetStatus,
    TrafficClass,
)

__all__ = [
    "ApiClient",
    "ApiError",
    "decode_decision",
    "decode_intent",
    "decode_observation",
    "decode_result",
    "decode_status",
    "decode_tick",
    "parse_time",
]


class ApiError(NetpilotError):
    """The daemon answered a request with an error (a refusal, an unknown id, a bug).

    Args:
        status: the HTTP status.
        message: the daemon's message.
        kind: the daemon's error type (``ChangeError``...), if it said.
    """

    def __init__(self, status: int, message: str, *, kind: str = "") -> None:
        self.status = status
        self.kind = kind
        super().__init__(message)

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(status=self.status, kind=self.kind)
        return data


class ApiClient:
    """Talks to ``netpilot run``'s API.

    Args:
        address: ``unix:/path/to/netpilot.sock`` or ``HOST:PORT``.
        token: the bearer token (the daemon's ``api-token`` file).
        timeout: seconds for one request.
    """

    def __init__(self, address: str, token: str, *, timeout: float = 30.0) -> None:
        self.address = address
        self.token = token
        self.timeout = timeout

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, object] | None = None,
        *,
        time_limit: float | None = None,
    ) -> tuple[int, dict[str, object]]:
        """One request; returns the HTTP status and the JSON body.

        Args:
            method: ``GET`` or ``POST``.
            path: ``/v1/...`` with its query.
            body: the JSON body of a POST.
            time_limit: seconds for this request (default: the client's timeout).

        Raises:
            ConnectError: the daemon is not reachable at the address.
        """
        try:
            return await asyncio.wait_for(
                self._request(method, path, body),
                self.timeout if time_limit is None else time_limit,
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ConnectError(self.address, f"API not reachable: {exc}") from exc
        except (IndexError, ValueError) as exc:  # no status line, or not JSON
            raise ConnectError(self.address, f"the API answered malformed data: {exc!r}") from exc

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, object] | None = None,
        *,
        time_limit: float | None = None,
    ) -> dict[str, object]:
        """One request whose answer must be a success; returns its JSON body.

        Raises:
            ConnectError: the daemon is not reachable.
            AuthError: the daemon refused the token.
            ApiError: any other error answer (409: refused, 404: unknown, 500: failed).
        """
        status, data = await self.request(method, path, body, time_limit=time_limit)
        if status == 200:
            return data
        error = data.get("error")
        message = str(data)
        kind = ""
        if isinstance(error, Mapping):
            message = str(error.get("message", message))
            kind = str(error.get("type", ""))
        if status == 401:
            raise AuthError(self.address, f"the daemon refused the API token ({message})")
        raise ApiError(status, message, kind=kind)

    async def _request(
        self, method: str, path: str, body: dict[str, object] | None
    ) -> tuple[int, dict[str, object]]:
        if self.address.startswith("unix:"):
            reader, writer = await asyncio.open_unix_connection(str(Path(self.address[5:])))
            host = "localhost"
        else:
            host, _, port = self.address.rpartition(":")
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        header, _, content = raw.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        data = json.loads(content) if content else {}
        return status, data if isinstance(data, dict) else {"data": data}


# --------------------------------------------------------------------------- decoding
# Each decoder takes what controller/api_handlers.py's encoder of the same type writes.


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time from the API (``None`` when absent or unreadable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _time(data: Mapping[str, object], key: str) -> datetime:
    value = parse_time(data.get(key))
    if value is None:
        raise ValueError(f"{key!r} is not a time: {data.get(key)!r}")
    return value


def _text(data: Mapping[str, object], key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _float(data: Mapping[str, object], key: str, default: float = 0.0) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    return float(value)


def _optional_float(data: Mapping[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    return float(value)


def _flag(data: Mapping[str, object], key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def _items(data: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _mapping(data: Mapping[str, object], key: str) -> dict[str, object]:
    value = data.get(key)
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _labels(data: Mapping[str, object], key: str) -> dict[str, str]:
    return {k: str(v) for k, v in _mapping(data, key).items()}


def _target(data: Mapping[str, object]) -> Target:
    return Target(
        name=_text(data, "name"),
        condition=TargetCondition(_text(data, "condition")),
        value=_float(data, "value"),
        upper=_optional_float(data, "upper"),
        unit=_text(data, "unit"),
    )


def _objects(data: Mapping[str, object]) -> ExpectationObjects:
    path = data.get("path")
    traffic_class = data.get("traffic_class")
    return ExpectationObjects(
        traffic_class=TrafficClass(str(traffic_class)) if traffic_class else None,
        path=PathRef(_text(path, "source"), _text(path, "destination"))
        if isinstance(path, Mapping)
        else None,
        select=_labels(data, "select"),
        devices=_strings(data.get("devices")),
    )


def decode_intent(data: Mapping[str, object]) -> Intent:
    """An intent as ``GET /v1/snapshot`` lists it.

    Raises:
        ValueError: a required field is missing or not one of its type's values.
    """
    guards = _mapping(data, "guards")
    location = data.get("location")
    return Intent(
        name=_text(data, "name"),
        expectations=tuple(
            Expectation(
                id=_text(e, "id"),
                type=ExpectationType(_text(e, "type")),
                verb=ExpectationVerb(_text(e, "verb")),
                objects=_objects(_mapping(e, "objects")),
                targets=tuple(_target(t) for t in _items(e, "targets")),
                contexts=_labels(e, "contexts"),
            )
            for e in _items(data, "expectations")
        ),
        priority=int(_float(data, "priority", 50)),
        admin_state=AdminState(_text(data, "adminState", AdminState.ACTIVATED.value)),
        mode=IntentMode(_text(data, "mode", IntentMode.AUTO.value)),
        guards=Guards(
            max_changes_per_hour=int(_float(guards, "max_changes_per_hour", 6)),
            max_devices_per_change=int(_float(guards, "max_devices_per_change", 1)),
            cooldown=timedelta(seconds=_float(guards, "cooldown_s", 120)),
        ),
        labels=_labels(data, "labels"),
        generation=_text(data, "generation"),
        location=SourceLocation(
            _text(location, "file"),
            int(_float(location, "line", 1)),
            int(_float(location, "column", 1)),
        )
        if isinstance(location, Mapping)
        else None,
    )


def decode_status(data: Mapping[str, object]) -> IntentStatus:
    """An intent's fulfilment."""
    state = data.get("state")
    return IntentStatus(
        name=_text(data, "name"),
        status=FulfilmentStatus(_text(data, "status")),
        state=NotFulfilledState(str(state)) if state else None,
        targets=tuple(
            TargetStatus(
                expectation=_text(t, "expectation"),
                target=_target(_mapping(t, "target")),
                observed=_optional_float(t, "observed"),
                met=_flag(t, "met"),
            )
            for t in _items(data, "targets")
        ),
        reasons=_strings(data.get("reasons")),
        evaluated_at=parse_time(data.get("evaluated_at")),
    )


def _config(value: object) -> DeviceConfig | None:
    if not isinstance(value, list):
        return None
    leaves: dict[tuple[str, ...], str] = {}
    for leaf in value:
        if isinstance(leaf, list | tuple) and len(leaf) == 2:
            leaves[_strings(leaf[0])] = str(leaf[1])
    return DeviceConfig.from_flat(leaves)


def decode_observation(data: Mapping[str, object]) -> Observation:
    """One device's observation: rates, class queues, probes, configuration, errors."""
    return Observation(
        device=_text(data, "device"),
        at=_time(data, "at"),
        rates=tuple(
            InterfaceRate(
                _text(r, "interface"),
                _float(r, "in_mbps"),
                _float(r, "out_mbps"),
                _float(r, "speed_mbps"),
                r.get("oper_up") is True,
            )
            for r in _items(data, "rates")
        ),
        queues=tuple(
            ClassQueue(
                _text(q, "interface"),
                TrafficClass(_text(q, "class")),
                _float(q, "offered_mbps"),
                _float(q, "queue_delay_ms"),
                _float(q, "drop_ratio"),
            )
            for q in _items(data, "queues")
        ),
        probes=tuple(
            ProbeResult(
                _text(p, "destination"),
                TrafficClass(_text(p, "class")),
                _float(p, "latency_ms"),
                _float(p, "loss_ratio"),
            )
            for p in _items(data, "probes")
        ),
        config=_config(data.get("config")),
        errors=_strings(data.get("errors")),
    )


def _hold(value: object) -> Hold | None:
    """A decision's hold reason; one this client does not know (a newer daemon) reads as
    none, so the summary's words still tell the operator."""
    try:
        return Hold(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def decode_decision(data: Mapping[str, object]) -> Decision:
    """A decision with its change (if any) and its explanation, key for key."""
    change = data.get("change")
    return Decision(
        intent=_text(data, "intent"),
        at=_time(data, "at"),
        summary=_text(data, "summary"),
        change=ChangeSet.from_dict(change) if isinstance(change, Mapping) else None,
        explanation=_mapping(data, "explanation"),
        expectation=_text(data, "expectation"),
        held=_hold(data.get("held")),
    )


def decode_result(data: Mapping[str, object]) -> ChangeResult:
    """How a change transaction ended (``ChangeResult.as_dict``)."""
    error = data.get("error")
    return ChangeResult(
        change_id=_text(data, "change_id"),
        intent=_text(data, "intent"),
        device=_text(data, "device"),
        status=ChangeStatus(_text(data, "status")),
        detail=_text(data, "detail"),
        started=_time(data, "started"),
        finished=_time(data, "finished"),
        error=dict(error) if isinstance(error, Mapping) else None,
        outcomes={
            device: ChangeStatus(str(status))
            for device, status in _mapping(data, "outcomes").items()
        },
    )


def decode_tick(data: Mapping[str, object]) -> TickReport:
    """A tick's report: statuses, decisions and every device's observation."""
    observations = _mapping(data, "observations")
    return TickReport(
        number=int(_float(data, "number")),
        at=_time(data, "at"),
        duration=timedelta(seconds=_float(data, "duration_s")),
        statuses=tuple(decode_status(s) for s in _items(data, "statuses")),
        decisions=tuple(decode_decision(d) for d in _items(data, "decisions")),
        observations={
            name: decode_observation(o)
            for name, o in observations.items()
            if isinstance(o, Mapping)
        },
        stages={
            k: float(v) for k, v in _mapping(data, "stages").items() if isinstance(v, int | float)
        },
        anomalies=tuple(Anomaly.from_dict(a) for a in _items(data, "anomalies")),
    )
