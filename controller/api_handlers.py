"""What the daemon's API and metrics listeners answer (see controller/api.py for the routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from controller.api import Handler, HttpRequest, HttpResponse, error
from controller.loop import Controller
from controller.metrics import MetricsObserver

__all__ = ["api_handler", "metrics_handler"]


def api_handler(
    controller: Controller,
    *,
    reload: Callable[[], Awaitable[dict[str, object]]],
    revisions: Callable[[], dict[str, object]] | None = None,
) -> Handler:
    """The ``/v1`` API of one controller.

    Args:
        controller: the running controller.
        reload: re-reads the intents (what SIGHUP does); returns what happened.
        revisions: the intent source's state (active revision, quarantine), if GitOps runs.
    """

    async def handle(request: HttpRequest) -> HttpResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts or parts[0] != "v1":
            return error(404, f"no such endpoint {request.path}")
        route = parts[1:]
        if request.method == "GET":
            if route == ["revisions"] and revisions is not None:
                return HttpResponse(data=revisions())
            return _get(controller, route, request)
        if request.method == "POST":
            if route == ["reload"]:
                return HttpResponse(data=await reload())
            if len(route) == 3 and route[0] == "approvals" and route[2] in ("approve", "reject"):
                reason = request.json().get("reason", "")
                if not isinstance(reason, str):
                    return error(400, "'reason' must be a string")
                approval = controller.decide_approval(
                    route[1], approve=route[2] == "approve", reason=reason
                )
                return HttpResponse(data={"approval": approval.as_dict()})
            if len(route) == 3 and route[0] == "changes" and route[2] == "rollback":
                force = request.json().get("force", False)
                if not isinstance(force, bool):
                    return error(400, "'force' must be true or false")
                result = await controller.rollback(route[1], force=force)
                return HttpResponse(data={"rollback": result.as_dict()})
            return error(404, f"no such endpoint POST {request.path}")
        return error(405, f"{request.method} is not supported")

    return handle


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
                    a.as_dict()
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
        return HttpResponse(data={"change": record.as_dict(), "timeline": timeline})
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
