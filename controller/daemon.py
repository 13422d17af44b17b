"""The scheduler around the loop: APScheduler 3.x calls ``Controller.tick`` on an interval
(one job per loop class when the slow loop has its own cadence).

The scheduler holds no logic. ``max_instances=1`` and ``coalesce=True`` make sure ticks never
overlap: a tick that is still running when the next one is due makes the scheduler skip,
not stack, runs. Change transactions run beside the ticks (see controller.loop), so a long
verification window does not stall sensing.

Something that should not wait for the next interval (an SNMP linkDown trap, a new intent
revision) calls :meth:`Wakeup.request`: a tick runs now, or, when one is under way, right
after it; a burst of requests costs one extra tick, and none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from controller.config import LoopClass
from controller.errors import NetpilotError
from controller.loop import Controller

__all__ = ["Wakeup", "release_free_memory", "run_loop"]

log = logging.getLogger("netpilot.daemon")


def _glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _glibc_malloc_trim()


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (``malloc_trim(0)``; no-op off glibc).

    A tick allocates and frees its observations at once (MBs at 1,000 devices); glibc keeps
    the freed pages of its arenas for reuse, so the process' RSS stays at its high-water
    mark of fragments no tick ever reuses whole. Trimming after each tick returns them
    (docs/daemon.md, "Memory"; measured in the 1,000-device soak).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class Wakeup:
    """Early ticks on demand, counted by reason (``trap:linkDown``, ``intents``, ...).

    :meth:`request` only sets an event; the loop's waker task runs the tick, under the same
    lock as the scheduled ones, so a woken tick never overlaps another and a request made
    while a tick runs is served by the next one.
    """

    def __init__(self, listener: Callable[[str], object] | None = None) -> None:
        self.requests: Counter[str] = Counter()
        self._event = asyncio.Event()
        self._listener = listener  # e.g. the metrics' counter

    def request(self, reason: str) -> None:
        """Run a tick as soon as possible (now, or right after the one under way)."""
        self.requests[reason] += 1
        if self._listener is not None:
            self._listener(reason)
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()


def _quiet_skipped_runs(record: logging.LogRecord) -> bool:
    """Drop the scheduler's "skipped: maximum number of running instances" lines: an
    overrunning tick is reported once, by the loop (see ``guarded_tick``)."""
    return "maximum number of running instances" not in record.getMessage()


async def run_loop(
    controller: Controller,
    *,
    interval: timedelta,
    stop: asyncio.Event,
    duration: timedelta | None = None,
    wakeup: Wakeup | None = None,
    slow_interval: timedelta | None = None,
) -> None:
    """Tick ``controller`` every ``interval`` until ``stop`` is set or ``duration`` passes.

    With ``slow_interval``, the fast loop class is ticked every ``interval`` and the slow
    one every ``slow_interval`` (:class:`controller.config.LoopClass`); the two never
    overlap. ``wakeup`` (optional) lets others ask for an early tick of every intent (a
    trap or a new revision concerns both loops). On the way out it waits for
    changes in flight to end, so no transaction is abandoned between its commit and its
    confirm or rollback.
    """

    ticking = asyncio.Lock()
    wake = wakeup or Wakeup()

    async def guarded_tick(loop_class: LoopClass | None = None) -> None:
        if stop.is_set():
            return
        every = slow_interval if loop_class is LoopClass.SLOW and slow_interval else interval
        try:
            async with ticking:
                started = time.monotonic()
                if loop_class is None:
                    await controller.tick()
                else:
                    await controller.tick(loop_class)
                took = time.monotonic() - started
                release_free_memory()  # milliseconds; why: docs/daemon.md, "Memory"
                if took > every.total_seconds():
                    # said once per tick, in our words (the scheduler would say "skipped:
                    # maximum number of running instances reached" for every missed run)
                    log.warning(
                        "tick took %.1f s, longer than its %g s interval: the loop runs late "
                        "(slow or unreachable devices, or too many for this interval)",
                        took,
                        every.total_seconds(),
                    )
        except NetpilotError as exc:
            # one bad tick is logged; the next one starts from the full state again
            log.warning("tick failed: %s", exc)
        except Exception:  # the loop boundary: a bug in one tick must not stop the daemon
            log.exception("tick failed unexpectedly")

    async def serve_wakeups() -> None:
        while True:
            await wake.wait()
            if stop.is_set():
                return
            await guarded_tick()

    logging.getLogger("apscheduler.scheduler").addFilter(_quiet_skipped_runs)
    controller.observers.controller_ready(controller)
    await controller.recover()  # changes a killed predecessor left pending, before any tick
    scheduler = AsyncIOScheduler(timezone=UTC)
    # one job per loop class, each with its own cadence; with no slow cadence, one job
    # decides every intent
    jobs: list[tuple[str, timedelta, LoopClass | None]] = (
        [("tick", interval, None)]
        if slow_interval is None
        else [("fast", interval, LoopClass.FAST), ("slow", slow_interval, LoopClass.SLOW)]
    )
    for name, every, loop_class in jobs:
        scheduler.add_job(
            guarded_tick,
            "interval",
            args=(loop_class,),
            seconds=every.total_seconds(),
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(every.total_seconds())),
            id=name,
        )
    scheduler.start()
    waker = asyncio.create_task(serve_wakeups(), name="loop-wakeups")
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration.total_seconds())
    finally:
        stop.set()  # no new tick starts from here on
        wake._event.set()  # the waker sees the stop and returns, after a woken tick ends
        await waker
        async with ticking:  # let a tick that is under way finish before the scheduler goes
            scheduler.shutdown(wait=False)
        await _drain(controller)


async def _drain(controller: Controller) -> None:
    """Wait for the changes in flight to end; if any did, evaluate the intents once more:
    their statuses are the last tick's, taken while those changes were verified, and what
    the caller reads next (the summary) must see them in effect."""
    ended = sum(controller.changes.values())
    await controller.drain()
    if sum(controller.changes.values()) == ended:
        return
    try:
        await controller.evaluate()
    except NetpilotError as exc:  # a stop does not fail on it: the last tick's statuses stand
        log.warning("could not evaluate the intents after the last changes: %s", exc)
