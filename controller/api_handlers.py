"""What the daemon's API and metrics listeners answer (see controller/api.py for the routes).

Besides the routes the CLI uses, the API serves what an operator console attached to the
daemon needs (``netpilot tui --connect``), as plain JSON:

    GET  /v1/snapshot                    intents, inventory, statuses, observations, decisions
    GET  /v1/events?after=SEQ            ticks and change starts/ends since SEQ (polled)
    GET  /v1/intents/NAME/source         the YAML an intent was admitted from
    GET  /v1/intents/NAME/history        the revisions that added, changed or removed it
    GET  /v1/revisions/history           admitted, refused and quarantined revisions
    GET  /v1/models                      the model registry and whether decisions use it

The ``encode_*`` functions write the core types as JSON; controller/api_client.py's
``decode_*`` read them back. The events are kept by an :class:`EventFeed`, a controller
observer with a bounded memory: a console that polls every second sees every tick, the way
the in-process console's observer does.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from controller.api import Handler, HttpRequest, HttpResponse, error
from controller.errors import ChangeError, ConfigFileError
from controller.facade import (
    read_intent_history,
    read_intent_source,
    read_models,
    read_revision_log,
)
from controller.intent_store import default_store_path
from controller.loop import Controller, TickReport
from controller.metrics import MetricsObserver
from controller.model import (
    Approval,
    ChangeResult,
    Decision,
    Intent,
    IntentStatus,
    Observation,
    Target,
)
from controller.models_store import DEFAULT_STORE

__all__ = [
    "EventFeed",
    "api_handler",
    "encode_approval",
    "encode_decision",
    "encode_intent",
    "encode_observation",
    "encode_status",
    "encode_tick",
    "metrics_handler",
    "snapshot_data",
]

EVENTS_KEPT = 120  # ticks and changes a late console can catch up on (two minutes at 1 s)
EVENTS_PER_ANSWER = 200
OBSERVED_TICKS_KEPT = 5  # tick events that keep every device's observation (charts on attach)


# --------------------------------------------------------------------------- encoding


def _target(target: Target) -> dict[str, object]:
    return {
        "name": target.name,
        "condition": target.condition.value,
        "value": target.value,
        "upper": target.upper,
        "unit": target.unit,
    }


def encode_intent(intent: Intent) -> dict[str, object]:
    """An intent as the console needs it (every field the loader set)."""
    location = intent.location
    return {
        "name": intent.name,
        "priority": intent.priority,
        "adminState": intent.admin_state.value,
        "mode": intent.mode.value,
        "generation": intent.generation,
        "labels": dict(intent.labels),
        "guards": {
            "max_changes_per_hour": intent.guards.max_changes_per_hour,
            "max_devices_per_change": intent.guards.max_devices_per_change,
            "cooldown_s": intent.guards.cooldown.total_seconds(),
        },
        "location": {"file": location.file, "line": location.line, "column": location.column}
        if location
        else None,
        "expectations": [
            {
                "id": e.id,
                "type": e.type.value,
                "verb": e.verb.value,
                "objects": {
                    "traffic_class": e.objects.traffic_class.value
                    if e.objects.traffic_class
                    else None,
                    "path": {
                        "source": e.objects.path.source,
                        "destination": e.objects.path.destination,
                    }
                    if e.objects.path
                    else None,
                    "select": dict(e.objects.select),
                    "devices": list(e.objects.devices),
                },
                "targets": [_target(t) for t in e.targets],
                "contexts": dict(e.contexts),
            }
            for e in intent.expectations
        ],
    }


def encode_status(status: IntentStatus) -> dict[str, object]:
    """An intent's fulfilment, with each target in full (``IntentStatus.as_dict`` flattens)."""
    return {
        "name": status.name,
        "status": status.status.value,
        "state": status.state.value if status.state else None,
        "reasons": list(status.reasons),
        "targets": [
            {
                "expectation": t.expectation,
                "target": _target(t.target),
                "observed": t.observed,
                "met": t.met,
            }
            for t in status.targets
        ],
        "evaluated_at": status.evaluated_at.isoformat() if status.evaluated_at else None,
    }


def encode_observation(observation: Observation) -> dict[str, object]:
    """A device's observation; the configuration as its leaves (path segments, value)."""
    return {
        "device": observation.device,
        "at": observation.at.isoformat(),
        "rates": [
            {
                "interface": r.interface,
                "in_mbps": r.in_mbps,
                "out_mbps": r.out_mbps,
                "speed_mbps": r.speed_mbps,
                "oper_up": r.oper_up,
                "utilization": r.utilization,
            }
            for r in observation.rates
        ],
        "queues": [
            {
                "interface": q.interface,
                "class": q.traffic_class.value,
                "offered_mbps": q.offered_mbps,
                "queue_delay_ms": q.queue_delay_ms,
                "drop_ratio": q.drop_ratio,
            }
            for q in observation.queues
        ],
        "probes": [
            {
                "destination": p.destination,
                "class": p.traffic_class.value,
                "latency_ms": p.latency_ms,
                "loss_ratio": p.loss_ratio,
            }
            for p in observation.probes
        ],
        # path segments, never joined: a key value may contain '/' (ge-0/0/1)
        "config": [[list(path), value] for path, value in observation.config.flatten().items()]
        if observation.config is not None
        else None,
        "errors": list(observation.errors),
    }


def encode_decision(decision: Decision) -> dict[str, object]:
    """A decision with its change and its whole explanation (every key the policy wrote)."""
    return {
        "intent": decision.intent,
        "at": decision.at.isoformat(),
        "summary": decision.summary,
        "expectation": decision.expectation,
        "held": decision.held.value if decision.held is not None else None,
        "change": decision.change.as_dict() if decision.change else None,
        "explanation": dict(decision.explanation),
    }


def encode_approval(approval: Approval) -> dict[str, object]:
    """``Approval.as_dict`` (what the CLI prints) plus the plan edit by edit."""
    data = approval.as_dict()
    data["changes"] = [approval.change.as_dict()]
    return data


def encode_tick(report: TickReport) -> dict[str, object]:
    """A tick's report, as the controller's observers receive it."""
    return {
        "number": report.number,
        "at": report.at.isoformat(),
        "duration_s": report.duration.total_seconds(),
        "statuses": [encode_status(s) for s in report.statuses],
        "decisions": [encode_decision(d) for d in report.decisions],
        "observations": {name: encode_observation(o) for name, o in report.observations.items()},
        "stages": dict(report.stages),
        "anomalies": [a.as_dict() for a in report.anomalies],
    }


def snapshot_data(controller: Controller, feed: EventFeed | None = None) -> dict[str, object]:
    """The controller's live state: what a console loads when it attaches."""
    return {
        "ticks": controller.ticks,
        "intents": [encode_intent(i) for i in controller.intents],
        "devices": [
            {"name": d.name, "address": d.address, "labels": dict(d.labels)}
            for _, d in sorted(controller.devices.items())
        ],
        "statuses": [
            encode_status(controller.statuses[i.name])
            for i in controller.intents
            if i.name in controller.statuses
        ],
        "observations": {
            name: encode_observation(o) for name, o in controller.last_observations.items()
        },
        "decisions": [
            encode_decision(controller.last_decisions[i.name])
            for i in controller.intents
            if i.name in controller.last_decisions
        ],
        "in_flight": {name: s.in_flight for name, s in controller.states.items() if s.in_flight},
        "held": {
            name: dict(s.quarantined) for name, s in controller.states.items() if s.quarantined
        },
        "events": feed.position() if feed is not None else None,
    }


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    kind: str  # tick | change-started | change-finished
    value: TickReport | tuple[Decision, str] | ChangeResult


class EventFeed:
    """A controller observer that keeps the latest events for API clients that poll.

    The events are kept as values and encoded only when asked for, so a daemon without a
    console attached spends nothing but a bounded deque.

    Args:
        size: how many events are kept (older ones are dropped; a client that fell further
            behind is told so with ``missed``).
    """

    def __init__(self, *, size: int = EVENTS_KEPT) -> None:
        # a new id each time the daemon starts: a console sees the restart and starts over
        self.stream = secrets.token_hex(8)
        self._events: deque[_Event] = deque(maxlen=size)
        self._seq = 0

    def position(self) -> dict[str, object]:
        """The stream's id and its latest sequence number."""
        return {"stream": self.stream, "latest": self._seq}

    def controller_ready(self, controller: Controller) -> None:
        """Nothing to keep."""

    def tick_finished(self, report: TickReport) -> None:
        # only the newest ticks keep their observations: at 1,000 devices one tick's are
        # ~10 MB, and a deque of 120 of them grew the daemon by gigabytes (bench soak)
        # the feed keeps what the API sends: subscriber flows are never sent, and at the
        # metro's evening one tick holds thousands of them (bench soak: RSS followed them)
        lean = {
            name: replace(o, subscribers=()) if o.subscribers else o
            for name, o in report.observations.items()
        }
        self._add("tick", replace(report, observations=lean))
        ticks = [i for i, e in enumerate(self._events) if isinstance(e.value, TickReport)]
        for index in ticks[:-OBSERVED_TICKS_KEPT]:
            event = self._events[index]
            assert isinstance(event.value, TickReport)
            if event.value.observations:
                self._events[index] = replace(event, value=replace(event.value, observations={}))

    def change_started(self, decision: Decision, txn: str) -> None:
        self._add("change-started", (decision, txn))

    def change_finished(self, result: ChangeResult) -> None:
        self._add("change-finished", result)

    def _add(self, kind: str, value: TickReport | tuple[Decision, str] | ChangeResult) -> None:
        self._seq += 1
        self._events.append(_Event(self._seq, kind, value))

    def since(self, after: int, *, limit: int = EVENTS_PER_ANSWER) -> dict[str, object]:
        """The events after sequence number ``after``, oldest first, at most ``limit``.

        Returns:
            ``stream``, ``latest`` (the last sequence number returned, or ``after``),
            ``more`` (more events wait), ``missed`` (events after ``after`` were dropped
            already) and ``events``.
        """
        after = max(after, 0)
        newer = [e for e in self._events if e.seq > after]
        oldest_kept = self._events[0].seq if self._events else self._seq + 1
        page = newer[:limit]
        return {
            "stream": self.stream,
            "latest": page[-1].seq if page else min(after, self._seq),
            "more": len(newer) > len(page),
            "missed": after < self._seq and after + 1 < oldest_kept,
            "events": [_encode_event(e) for e in page],
        }


def _encode_event(event: _Event) -> dict[str, object]:
    data: dict[str, object] = {"seq": event.seq, "kind": event.kind}
    value = event.value
    if isinstance(value, TickReport):
        data["report"] = encode_tick(value)
    elif isinstance(value, ChangeResult):
        data["result"] = value.as_dict()
    else:
        decision, txn = value
        data["decision"] = encode_decision(decision)
        data["txn"] = txn
    return data


# --------------------------------------------------------------------------- the API


def api_handler(
    controller: Controller,
    *,
    reload: Callable[[], Awaitable[dict[str, object]]],
    revisions: Callable[[], dict[str, object]] | None = None,
    intent_store: Path | None = None,
    model_store: Path | None = None,
    events: EventFeed | None = None,
) -> Handler:
    """The ``/v1`` API of one controller.

    Args:
        controller: the running controller.
        reload: re-reads the intents (what SIGHUP does); returns what happened.
        revisions: the intent source's state (active revision, quarantine), if GitOps runs.
        intent_store: the intent store to read revisions and history from (default: the one
            next to the controller's journal, if there is one).
        model_store: the model registry's directory (default ``.netpilot/models``, as
            ``netpilot models``).
        events: the event feed consoles poll; ``None`` adds one to the controller's
            observers.
    """
    if events is None:
        events = EventFeed()
        controller.observers.append(events)
    if intent_store is None and controller.journal.path != ":memory:":
        intent_store = default_store_path(Path(controller.journal.path))
    api = _Api(
        controller,
        reload=reload,
        revisions=revisions,
        intent_store=intent_store,
        model_store=model_store if model_store is not None else DEFAULT_STORE,
        events=events,
    )

    async def handle(request: HttpRequest) -> HttpResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] != "v1":
            return error(404, f"no such endpoint {request.path}")
        try:
            if request.method == "GET":
                return await api.get(parts[1:], request)
            if request.method == "POST":
                return await api.post(parts[1:], request)
        except (ChangeError, ConfigFileError) as exc:
            # a refusal, answered here: the server's own mapping passes the error's
            # "message" twice to error() and fails
            details = {k: v for k, v in exc.as_dict().items() if k != "message"}
            return error(409, str(exc), **details)
        return error(405, f"{request.method} is not supported")

    return handle


@dataclass(frozen=True, slots=True)
class _Api:
    """The routes of one controller's API, and what they read."""

    controller: Controller
    reload: Callable[[], Awaitable[dict[str, object]]]
    revisions: Callable[[], dict[str, object]] | None
    intent_store: Path | None
    model_store: Path
    events: EventFeed

    async def get(self, route: list[str], request: HttpRequest) -> HttpResponse:
        controller = self.controller
        if route == ["revisions"] and self.revisions is not None:
            return HttpResponse(data=self.revisions())
        if route == ["snapshot"]:
            return HttpResponse(data=snapshot_data(controller, self.events))
        if route == ["events"]:
            after = _int_query(request, "after", 0)
            limit = _int_query(request, "limit", EVENTS_PER_ANSWER)
            return HttpResponse(data=self.events.since(after, limit=max(1, min(limit, 1000))))
        if route == ["models"]:
            decisions = tuple(controller.last_decisions.values())
            data = await asyncio.to_thread(read_models, self.model_store, decisions)
            return HttpResponse(data=data)
        if route == ["revisions", "history"]:
            limit = max(1, min(_int_query(request, "limit", 50), 500))
            store = self.intent_store
            log = (
                None
                if store is None
                else await asyncio.to_thread(read_revision_log, store, limit=limit)
            )
            return HttpResponse(data={"log": log})
        if len(route) == 3 and route[0] == "intents":
            return await _intent_route(controller, self.intent_store, route[1], route[2])
        return _get(controller, route, request)

    async def post(self, route: list[str], request: HttpRequest) -> HttpResponse:
        controller = self.controller
        if route == ["reload"]:
            return HttpResponse(data=await self.reload())
        if len(route) == 3 and route[0] == "approvals" and route[2] in ("approve", "reject"):
            reason = request.json().get("reason", "")
            if not isinstance(reason, str):
                return error(400, "'reason' must be a string")
            approval = controller.decide_approval(
                route[1], approve=route[2] == "approve", reason=reason
            )
            return HttpResponse(data={"approval": encode_approval(approval)})
        if len(route) == 3 and route[0] == "changes" and route[2] == "rollback":
            force = request.json().get("force", False)
            if not isinstance(force, bool):
                return error(400, "'force' must be true or false")
            result = await controller.rollback(route[1], force=force)
            return HttpResponse(data={"rollback": result.as_dict()})
        if len(route) == 3 and route[0] == "changes" and route[2] == "release":
            reason = request.json().get("reason", "")
            if not isinstance(reason, str):
                return error(400, "'reason' must be a string")
            change, intents = controller.release_quarantine(route[1], reason=reason)
            return HttpResponse(data={"released": {"change": change, "intents": intents}})
        return error(404, f"no such endpoint POST {request.path}")


def _int_query(request: HttpRequest, name: str, default: int) -> int:
    """An integer query parameter.

    Raises:
        ValueError: it is not an integer (the server answers 400).
    """
    values = request.query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None


async def _intent_route(
    controller: Controller, store: Path | None, name: str, what: str
) -> HttpResponse:
    intent = next((i for i in controller.intents if i.name == name), None)
    if what == "source":
        source = await asyncio.to_thread(read_intent_source, intent, name, store)
        return HttpResponse(
            data={
                "name": source.name,
                "generation": source.generation,
                "file": source.file,
                "text": source.text,
                "first_line": source.first_line,
                "last_line": source.last_line,
            }
        )
    if what == "history":
        history = (
            None if store is None else await asyncio.to_thread(read_intent_history, store, name)
        )
        return HttpResponse(data={"intent": name, "history": history})
    return error(404, f"no such endpoint GET /v1/intents/{name}/{what}")


def _get(controller: Controller, route: list[str], request: HttpRequest) -> HttpResponse:
    if route == ["status"]:
        return HttpResponse(data=controller.summary())
    if route == ["intents"]:
        return HttpResponse(
            data={
                "intents": [
                    {
                        "name": i.name,
                        "generation": i.generation,
                        "priority": i.priority,
                        "mode": i.mode.value,
                        "adminState": i.admin_state.value,
                        "status": controller.statuses[i.name].as_dict()
                        if i.name in controller.statuses
                        else None,
                    }
                    for i in controller.intents
                ]
            }
        )
    if route == ["approvals"]:
        return HttpResponse(
            data={
                "approvals": [
                    encode_approval(a)
                    for a in sorted(
                        controller.approvals.values(), key=lambda a: a.requested_at, reverse=True
                    )
                ]
            }
        )
    if route == ["devices"]:
        return HttpResponse(
            data={
                "devices": [
                    {
                        "name": name,
                        "at": o.at.isoformat(),
                        "reachable": not o.errors,
                        "errors": list(o.errors),
                        "interfaces": [
                            {
                                "name": r.interface,
                                "in_mbps": r.in_mbps,
                                "out_mbps": r.out_mbps,
                                "utilization": r.utilization,
                                "oper_up": r.oper_up,
                            }
                            for r in o.rates
                        ],
                    }
                    for name, o in sorted(controller.last_observations.items())
                ]
            }
        )
    if route == ["decisions"]:
        return HttpResponse(
            data={
                "decisions": [
                    {
                        "intent": name,
                        "at": d.at.isoformat(),
                        "summary": d.summary,
                        "explanation": dict(d.explanation),
                    }
                    for name, d in sorted(controller.last_decisions.items())
                ]
            }
        )
    if route == ["quarantine"]:
        return HttpResponse(
            data={
                "quarantined": [
                    {"intent": intent, "change": change, "reason": reason}
                    for intent, change, reason in controller.quarantined()
                ]
            }
        )
    if route == ["changes"]:
        try:
            limit = int(request.query.get("limit", ["50"])[0])
        except ValueError:
            return error(400, "limit must be an integer")
        records = controller.journal.changes(limit=max(1, min(limit, 1000)))
        return HttpResponse(data={"changes": [r.as_dict() for r in records]})
    if len(route) == 2 and route[0] == "changes":
        record = controller.journal.change(route[1])
        if record is None:
            return error(404, f"no change {route[1]!r}")
        timeline = [e.as_dict() for e in controller.journal.events(txn=route[1])]
        return HttpResponse(
            data={
                "change": record.as_dict(),
                "timeline": timeline,
                # the confirmed operator rollback that undid it, if any
                "rolled_back_by": controller.journal.rolled_back_by().get(route[1], ""),
            }
        )
    return error(404, f"no such endpoint GET {request.path}")


def metrics_handler(
    controller: Controller, metrics: MetricsObserver, *, interval: timedelta
) -> Handler:
    """``/metrics`` and ``/healthz`` (healthy: a tick finished within three intervals)."""

    async def handle(request: HttpRequest) -> HttpResponse:
        if request.method != "GET":
            return error(405, f"{request.method} is not supported")
        if request.path == "/metrics":
            return HttpResponse(
                raw=metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
            )
        if request.path == "/healthz":
            last = metrics.last_tick
            now = controller.clock()
            healthy = last is not None and now - last <= interval * 3 + timedelta(seconds=5)
            return HttpResponse(
                status=200 if healthy else 503,
                data={
                    "healthy": healthy,
                    "ticks": controller.ticks,
                    "last_tick": last.isoformat() if last else None,
                },
            )
        return error(404, f"no such endpoint {request.path}")

    return handle
