"""The scheduler around the loop: APScheduler 3.x calls ``Controller.tick`` on an interval.

The scheduler holds no logic. ``max_instances=1`` and ``coalesce=True`` make sure ticks never
overlap: a tick that is still running when the next one is due makes the scheduler skip,
not stack, runs. Change transactions run beside the ticks (see controller.loop), so a long
verification window does not stall sensing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from controller.errors import NetpilotError
from controller.loop import Controller

__all__ = ["run_loop"]

log = logging.getLogger("netpilot.daemon")


async def run_loop(
    controller: Controller,
    *,
    interval: timedelta,
    stop: asyncio.Event,
    duration: timedelta | None = None,
) -> None:
    """Tick ``controller`` every ``interval`` until ``stop`` is set or ``duration`` passes.

    On the way out it waits for changes in flight to end, so no transaction is abandoned
    between its commit and its confirm or rollback.
    """

    ticking = asyncio.Lock()

    async def guarded_tick() -> None:
        if stop.is_set():
            return
        try:
            async with ticking:
                await controller.tick()
        except NetpilotError as exc:
            # one bad tick is logged; the next one starts from the full state again
            log.warning("tick failed: %s", exc)
        except Exception:  # the loop boundary: a bug in one tick must not stop the daemon
            log.exception("tick failed unexpectedly")

    controller.observers.controller_ready(controller)
    await controller.recover()  # changes a killed predecessor left pending, before any tick
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        guarded_tick,
        "interval",
        seconds=interval.total_seconds(),
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(interval.total_seconds())),
        id="tick",
    )
    scheduler.start()
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration.total_seconds())
    finally:
        stop.set()  # no new tick starts from here on
        async with ticking:  # let a tick that is under way finish before the scheduler goes
            scheduler.shutdown(wait=False)
        await controller.drain()
