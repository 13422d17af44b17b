"""``netpilot run``: the controller as a long-running service.

Around the loop (controller/daemon.py) it adds what a daemon in a lab network needs: the
local API (token, UNIX socket or loopback), Prometheus metrics and a health endpoint,
SIGHUP to re-read the intents (a broken set is refused whole and the last good one stays),
SIGINT/SIGTERM for a graceful stop (changes in flight finish first), and JSON logs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable
from datetime import timedelta

from controller.api import ApiServer, load_or_create_token
from controller.api_handlers import api_handler, metrics_handler
from controller.app import IntentSetError, build_controller, load_intent_dir
from controller.config import ControllerSettings
from controller.daemon import run_loop
from controller.loop import Controller, ControllerObserver
from controller.metrics import MetricsObserver
from controller.observers import LogObserver

__all__ = ["reload_intents", "serve"]

log = logging.getLogger("netpilot.service")


def reload_intents(controller: Controller, settings: ControllerSettings) -> dict[str, object]:
    """Re-read the intent directory; all or nothing, the last good set stays on failure."""
    known = frozenset(controller.devices)
    try:
        intents = load_intent_dir(settings.intents_dir, known_devices=known)
    except IntentSetError as exc:
        errors = [e.as_dict() for e in exc.errors]
        log.warning("intents refused, the active set stays: %d error(s)\n%s", len(errors), exc)
        controller.journal.event(
            "intents-refused", at=controller.clock(), detail={"errors": errors}
        )
        return {"applied": False, "errors": errors}
    report = controller.replace_intents(intents)
    log.info("intents reloaded: %s", report)
    return {"applied": True, **report}


async def serve(
    settings: ControllerSettings,
    *,
    stop: asyncio.Event,
    duration: timedelta | None = None,
    observers: Iterable[ControllerObserver] = (),
) -> dict[str, object]:
    """Run the controller with its API and metrics until ``stop`` (or ``duration``).

    Returns:
        The controller's summary at the end.

    Raises:
        IntentSetError: the intent directory is invalid at start.
    """
    metrics = MetricsObserver(settings.loop.interval)
    runtime = build_controller(settings, observers=[LogObserver(), metrics, *observers])
    controller = runtime.controller

    async def reload() -> dict[str, object]:
        return reload_intents(controller, settings)

    service = settings.service
    api = ApiServer(
        api_handler(controller, reload=reload), token=load_or_create_token(service.token_file)
    )
    metrics_server = ApiServer(
        metrics_handler(controller, metrics, interval=settings.loop.interval), token=None
    )
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[dict[str, object]]] = set()

    def on_hangup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        if service.api_listen is not None:
            await api.start_tcp(*service.api_listen)
        elif service.api_socket is not None:
            await api.start_unix(service.api_socket)
        if service.metrics_listen is not None:
            await metrics_server.start_tcp(*service.metrics_listen)
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
        log.info(
            "API on %s (token in %s)%s",
            api.address,
            service.token_file,
            f"; metrics on http://{metrics_server.address}/metrics"
            if metrics_server.address
            else "",
        )
        await run_loop(controller, interval=settings.loop.interval, stop=stop, duration=duration)
        summary = controller.summary()
        summary["api"] = api.address
        return summary
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await api.stop()
        await metrics_server.stop()
        await runtime.close()
