"""``netpilot run``: the controller as a long-running service.

Around the loop (controller/daemon.py) it adds what a daemon in a lab network needs:

- **GitOps**: the intents come from a source (a directory, or a Git repository followed on a
  branch) polled on an interval and at once on SIGHUP or ``POST /v1/reload``. Each revision is
  admitted whole or refused whole (the last good one stays in force), recorded with its diff in
  the intent store next to the journal, and quarantined when a change it caused fails
  verification (controller/gitops.py);
- the **local API** (token, UNIX socket or loopback), **Prometheus metrics** and a health
  endpoint;
- SIGINT/SIGTERM for a graceful stop (changes in flight finish first, an operator's rollback
  through the API too), and JSON logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import signal
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

from adapters.snmp import v3_user
from adapters.traps import Notification, TrapReceiver
from analytics.registry import ModelRecord
from controller.api import ApiServer, Handler, HttpRequest, HttpResponse, load_or_create_token
from controller.api_handlers import api_handler, metrics_handler
from controller.app import IntentSetError, build_controller
from controller.config import ControllerSettings
from controller.daemon import Wakeup, run_loop
from controller.errors import ConfigFileError, IntentValidationError
from controller.gitops import GitOpsObserver, IntentSetManager, SourcePoller, open_source
from controller.intent_store import IntentStore, default_store_path
from controller.loop import ControllerObserver
from controller.metrics import MetricsObserver
from controller.model import Intent
from controller.models_store import DEFAULT_STORE, ModelStore, ModelStoreError
from controller.observers import LogObserver
from intents.revisions import Admission, Outcome
from intents.support import controller_support

__all__ = ["admission_summary", "serve"]

log = logging.getLogger("netpilot.service")


def admission_summary(admission: Admission | None, manager: IntentSetManager) -> dict[str, object]:
    """What a poll of the intent source did, for the API and the logs."""
    if admission is None:
        return {
            "applied": False,
            "outcome": "unreadable",
            "reason": manager.last_error,
            "active": manager.active_id,
        }
    data = admission.as_dict()
    data["applied"] = admission.outcome is Outcome.ADMITTED
    data["errors"] = [str(e) for e in admission.evaluation.errors]
    return data


async def _first_revision(manager: IntentSetManager, source_poll: SourcePoller) -> None:
    """Admit what the source holds now; without any good revision the daemon cannot start."""
    admission = await source_poll.poll()
    if manager.active is not None:
        return
    if admission is None:
        raise ConfigFileError(
            source_poll.source.name, f"cannot read the intents: {manager.last_error}"
        )
    errors = tuple(e for e in admission.evaluation.errors if isinstance(e, IntentValidationError))
    if errors:
        raise IntentSetError(errors)
    raise ConfigFileError(source_poll.source.name, f"intents refused: {admission.reason}")


def _model_records(root: Path) -> list[ModelRecord]:
    """Every model's registry record (none when the store does not exist yet)."""
    if not root.is_dir():
        return []
    store = ModelStore(root)
    records = []
    for name in store.names():
        try:
            record = store.record(name)
        except (ModelStoreError, OSError, ValueError):
            log.warning("model %s: unreadable registry record", name)
            continue
        if record is not None:
            records.append(record)
    return records


def _trap_receiver(settings: ControllerSettings, wakeup: Wakeup) -> TrapReceiver | None:
    """A receiver for the inventory's credentials whose notifications wake the loop."""
    listen = settings.service.trap_listen
    if listen is None:
        return None
    communities = {d.snmp.community for d in settings.inventory if d.snmp and d.snmp.community}
    users = {
        user for d in settings.inventory if d.snmp and (user := v3_user(d.snmp.v3)) is not None
    }

    def received(notification: Notification) -> None:
        log.info(
            "%s from %s%s",
            notification.kind.value,
            notification.device or notification.source[0],
            f" ({notification.if_name})" if notification.if_name else "",
        )
        wakeup.request(f"trap:{notification.kind.value}")

    return TrapReceiver(
        received,
        communities=sorted(communities, key=str),
        v3_users=sorted(users, key=lambda u: u.user),
        devices=settings.inventory,
        host=listen[0],
        port=listen[1],
    )


def _warn_insecure_snmp(settings: ControllerSettings) -> None:
    """SNMPv2c sends its community in clear: say so once, for devices off this host."""
    plain = [
        d.name
        for d in settings.inventory
        if d.snmp is not None and d.snmp.v3 is None and not _is_loopback(d.address)
    ]
    weak = [
        d.name
        for d in settings.inventory
        if d.snmp is not None and d.snmp.v3 is not None and d.snmp.v3.priv_key is None
    ]
    if plain:
        log.warning(
            "%d device(s) are polled with SNMPv2c (community in clear text), e.g. %s; "
            "use snmp.v3 with authKey and privKey (authPriv) in production",
            len(plain),
            ", ".join(plain[:3]),
        )
    if weak:
        log.warning(
            "%d device(s) use SNMPv3 without privacy (authNoPriv), e.g. %s; add privKey",
            len(weak),
            ", ".join(weak[:3]),
        )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


class _RequestsUnderWay:
    """The API's handler, with the requests under way kept track of.

    A request may be an operator's rollback, a change transaction of its own that
    ``Controller.drain`` does not wait for: the stop lets it end (as the console does before
    it stops the controller) before the summary is taken and the NETCONF sessions close.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._under_way: set[asyncio.Future[HttpResponse]] = set()

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        task = asyncio.ensure_future(self._handler(request))
        self._under_way.add(task)
        task.add_done_callback(self._under_way.discard)
        return await asyncio.shield(task)  # a client that goes away does not cut it short

    async def drain(self) -> None:
        """Wait until every request under way has been answered."""
        while self._under_way:
            await asyncio.gather(*list(self._under_way), return_exceptions=True)


@contextlib.contextmanager
def _own_journal(journal: Path) -> Iterator[None]:
    """One controller per journal: a second ``run`` with the same config would drive the
    same devices against the first, take over its API socket and leave it unreachable."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.with_name(journal.name + ".lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ConfigFileError(
                str(journal),
                f"another netpilot run uses this journal ({holder}): stop it first, or give "
                "this one a config with its own journal",
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


async def serve(
    settings: ControllerSettings,
    *,
    stop: asyncio.Event,
    duration: timedelta | None = None,
    observers: Iterable[ControllerObserver] = (),
) -> dict[str, object]:
    """Run the controller with GitOps, its API and metrics until ``stop`` (or ``duration``).

    Returns:
        The controller's summary at the end.

    Raises:
        IntentSetError: the intent source holds no valid revision at start (and none was
            admitted before).
        ConfigFileError: the intent source cannot be read at start, or another controller
            runs with the same journal.
    """
    # from serve's first moment to its last: SIGHUP's default action kills the process, and
    # a reload (systemctl reload) while the daemon started or stopped did (once the API was
    # up, leaving its socket behind)
    loop = asyncio.get_running_loop()
    hangup = _ReloadOnHangup()
    loop.add_signal_handler(signal.SIGHUP, hangup)
    try:
        with _own_journal(settings.journal_path):
            return await _serve(
                settings, stop=stop, duration=duration, observers=observers, hangup=hangup
            )
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


class _ReloadOnHangup:
    """SIGHUP's handler: a poll of the intent source at once, when there is a poller to ask.
    Before there is, the first poll reads the source anyway; once polling has stopped, the
    daemon is stopping."""

    def __init__(self) -> None:
        self.poller: SourcePoller | None = None

    def __call__(self) -> None:
        if self.poller is not None:
            self.poller.poke()


async def _serve(
    settings: ControllerSettings,
    *,
    stop: asyncio.Event,
    duration: timedelta | None,
    observers: Iterable[ControllerObserver],
    hangup: _ReloadOnHangup,
) -> dict[str, object]:
    _warn_insecure_snmp(settings)
    store = IntentStore(default_store_path(settings.journal_path))
    # with a topology every plan is checked on the what-if twin against the other intents'
    # targets, so admission leaves a sleep-vs-path-headroom conflict to that check
    support = controller_support(topology=settings.topology is not None)
    manager = IntentSetManager(store, inventory=settings.inventory, support=support)
    source = open_source(
        settings.intents.location,
        branch=settings.intents.branch,
        subdir=settings.intents.subdir,
        cache_dir=settings.journal_path.parent / "git-cache",
    )
    # until the controller exists, the admitted intents are read from the manager directly
    source_poll = SourcePoller(
        manager, source, interval=settings.intents.poll_interval, on_switch=lambda _: None
    )
    hangup.poller = source_poll
    try:
        await _first_revision(manager, source_poll)
    except BaseException:
        store.close()
        raise
    metrics = MetricsObserver(settings.loop.interval, slow_interval=settings.loop.slow_interval)
    runtime = build_controller(
        settings, intents=manager.enforced(), observers=[LogObserver(), metrics, *observers]
    )
    controller = runtime.controller
    wakeup = Wakeup(listener=metrics.wakeup)
    model_store = settings.service.model_store or DEFAULT_STORE
    metrics.watch_models(lambda: _model_records(model_store))

    def switch_intents(intents: tuple[Intent, ...]) -> None:
        controller.replace_intents(intents)
        wakeup.request("intents")  # a new revision is evaluated now, not at the next tick

    controller.observers.append(GitOpsObserver(manager, controller.replace_intents))
    source_poll.on_switch = switch_intents
    traps = _trap_receiver(settings, wakeup)

    async def reload() -> dict[str, object]:
        return admission_summary(await source_poll.poll(), manager)

    def revision_state() -> dict[str, object]:
        state = manager.snapshot()
        return {
            "active": state.active.info.as_dict() if state.active else None,
            "quarantined": dict(store.quarantined()),
            "source": source.name,
            "last_error": manager.last_error,
            "last_refusal": manager.last_refusal,
        }

    service = settings.service
    requests = _RequestsUnderWay(
        api_handler(controller, reload=reload, revisions=revision_state, model_store=model_store)
    )
    api = ApiServer(requests, token=load_or_create_token(service.token_file))
    metrics_server = ApiServer(
        metrics_handler(controller, metrics, interval=settings.loop.interval), token=None
    )
    loop = asyncio.get_running_loop()
    stop_polling = asyncio.Event()
    polling = loop.create_task(source_poll.run(stop_polling), name="intent-source")
    try:
        if traps is not None:
            where = await traps.start()
            log.info("SNMP traps and informs on %s:%d wake the loop", *where)
        if service.api_listen is not None:
            await api.start_tcp(*service.api_listen)
        elif service.api_socket is not None:
            await api.start_unix(service.api_socket)
        if service.metrics_listen is not None:
            await metrics_server.start_tcp(*service.metrics_listen)
        log.info(
            "API on %s (token in %s)%s; intents from %s, revision %s",
            api.address,
            service.token_file,
            f"; metrics on http://{metrics_server.address}/metrics"
            if metrics_server.address
            else "",
            source.name,
            manager.active_id[:12],
        )
        await run_loop(
            controller,
            interval=settings.loop.interval,
            stop=stop,
            duration=duration,
            wakeup=wakeup,
            slow_interval=settings.loop.slow_interval,
        )
        # the loop's changes have ended; an operator's rollback may still be under way: no
        # new request from here on, and the summary once those under way are answered
        await api.stop()
        await requests.drain()
        summary = controller.summary()
        summary["wakeups"] = dict(wakeup.requests)
        summary["api"] = api.address
        summary["revision"] = manager.active_id
        return summary
    finally:
        hangup.poller = None
        stop_polling.set()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        if traps is not None:
            await traps.close()
        await api.stop()
        await requests.drain()  # (when the loop failed) before the sessions close under them
        await metrics_server.stop()
        await runtime.close()
        store.close()
