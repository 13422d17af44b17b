"""Assembling a controller from its settings: the one place that wires adapters to the loop.

Used by ``netpilot run`` (a config file), ``netpilot demo`` (the embedded lab's generated
config) and the tests. Everything it builds is closed by :meth:`ControllerRuntime.close`.

Every intent type gets what its policy needs: the what-if twin (``topology:``), the load
forecast for energy saving and the stall model's answer for video experience, each from
the model registry (``models: {store: DIR}``) when a trained model is active there, else
from its rule baseline (controller/predictors.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from adapters.base import ConfigSession
from adapters.netconf import NetconfClient
from adapters.snmp import SnmpPoller
from analytics.registry import ModelKind
from analytics.watch import KpiWatch, season_samples
from controller.config import ControllerSettings
from controller.errors import ConfigFileError, IntentError, IntentValidationError
from controller.journal import Journal
from controller.loop import Controller, ControllerObserver
from controller.model import Device, Intent
from controller.models_store import DEFAULT_STORE
from controller.predictors import (
    FORECAST_BASELINE,
    LoadForecastSource,
    ModelWatch,
    StallSource,
)
from controller.sense import Sensor
from intents.load import IntentSource, load_intent_set
from policies.base import PolicySettings
from policies.twin import Twin, twin_spec_from_text

__all__ = [
    "ControllerRuntime",
    "DecisionInputs",
    "IntentSetError",
    "build_controller",
    "decision_inputs",
    "load_intent_dir",
    "load_twin",
    "utc_now",
]


def utc_now() -> datetime:
    """The wall clock, in UTC (the only place the controller reads it)."""
    return datetime.now(UTC)


class IntentSetError(IntentError):
    """The intent directory did not load; carries every error found."""

    def __init__(self, errors: tuple[IntentValidationError, ...]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data["errors"] = [e.as_dict() for e in self.errors]
        return data


def intent_files(directory: Path) -> list[Path]:
    """The intent files of a directory, in a stable order (``*.yaml`` and ``*.yml``)."""
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_intent_dir(directory: Path, *, inventory: Iterable[Device]) -> tuple[Intent, ...]:
    """Load every intent file of a directory, all or nothing.

    References (device names, label selectors, sites) are checked against ``inventory``.

    Raises:
        IntentSetError: with every error of every file.
    """
    sources = [
        IntentSource(file=str(path), text=path.read_bytes()) for path in intent_files(directory)
    ]
    loaded = load_intent_set(sources, inventory=inventory)
    if not loaded.ok:
        raise IntentSetError(loaded.errors)
    return loaded.intents


@dataclass
class ControllerRuntime:
    """A controller with the resources it owns."""

    controller: Controller
    sensor: Sensor
    poller: SnmpPoller
    netconf: NetconfClient
    journal: Journal

    async def close(self) -> None:
        """Close sessions, the SNMP engine, the NETCONF pool and the journal."""
        await self.sensor.close()
        await self.netconf.close()
        await self.poller.close()
        self.journal.close()


def load_twin(path: Path) -> Twin:
    """The what-if twin of the network described by a topology file.

    Raises:
        ConfigFileError: the file cannot be read or is not a valid topology.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read the topology: {exc.strerror}") from exc
    try:
        return Twin(twin_spec_from_text(text, str(path)))
    except ValueError as exc:  # lab.topology.TopologyError names the file, line and field
        raise ConfigFileError(str(path), f"not a valid topology: {exc}") from exc


@dataclass(frozen=True)
class DecisionInputs:
    """What the policies need besides the observations: the what-if twin, the tunables, and
    the sources of the load forecast and the stall answer (each the registry's model, else
    its rule baseline)."""

    twin: Twin | None
    policy_settings: PolicySettings
    forecast: LoadForecastSource
    stall: StallSource


def decision_inputs(settings: ControllerSettings) -> DecisionInputs:
    """The decision inputs of a controller with these settings (``netpilot run``, and
    ``netpilot intents plan``, which must decide as the daemon would).

    Raises:
        ConfigFileError: the topology file is invalid.
    """
    twin = load_twin(settings.topology) if settings.topology is not None else None
    policy_settings = PolicySettings(violation_ticks=settings.loop.violation_ticks)
    chosen = settings.decision  # policy: in the config; what it leaves out keeps the default
    if chosen.min_confidence is not None:
        policy_settings = replace(policy_settings, min_confidence=chosen.min_confidence)
    if chosen.act_on_prediction is not None:
        policy_settings = replace(policy_settings, act_on_prediction=chosen.act_on_prediction)
    # the same store `netpilot models` and the daemon's metrics read
    store = settings.service.model_store or DEFAULT_STORE
    forecast = LoadForecastSource(
        ModelWatch(store, ModelKind.LOAD_FORECAST, baseline=FORECAST_BASELINE)
    )
    stall = StallSource(ModelWatch(store, ModelKind.STALL), boost_mbps=policy_settings.boost_mbps)
    return DecisionInputs(twin, policy_settings, forecast, stall)


def build_controller(
    settings: ControllerSettings,
    *,
    observers: Iterable[ControllerObserver] = (),
    clock: Callable[[], datetime] = utc_now,
    intents: tuple[Intent, ...] | None = None,
) -> ControllerRuntime:
    """Build a controller from loaded settings.

    Args:
        settings: the controller's configuration.
        observers: who hears about ticks and changes.
        clock: the current time (UTC).
        intents: the intent set to run; ``None`` reads the settings' intent directory now.

    Raises:
        IntentSetError: the intent directory is invalid.
        ConfigFileError: the topology file is invalid.
    """
    if intents is None:
        intents = load_intent_dir(settings.intents_dir, inventory=settings.inventory)
    journal = Journal(settings.journal_path)  # first: nothing to clean up if it fails
    poller = SnmpPoller()
    # one pool of NETCONF sessions over asyncssh for the whole controller: sensing and change
    # transactions lease sessions from it (no thread per session, reconnect with backoff)
    netconf = NetconfClient(settings.inventory, clock=clock)

    async def open_session(device: Device) -> ConfigSession:
        return await netconf.open_session(device.name)

    # a dead device costs a tick its sense deadline, not its NETCONF timeout (controller/sense.py)
    sensor = Sensor(
        settings.inventory,
        open_session=open_session,
        poller=poller,
        clock=clock,
        deadline=settings.loop.device_sense_deadline,
    )
    inputs = decision_inputs(settings)
    controller = Controller(
        intents=intents,
        devices=settings.inventory,
        sensor=sensor,
        open_config_session=open_session,
        journal=journal,
        loop_settings=settings.loop,
        apply_settings=settings.apply,
        clock=clock,
        observers=observers,
        twin=inputs.twin,
        policy_settings=inputs.policy_settings,
        forecast=inputs.forecast,
        stall=inputs.stall,
        watch=KpiWatch(season_length=season_samples(settings.loop.interval)),
    )
    return ControllerRuntime(
        controller=controller, sensor=sensor, poller=poller, netconf=netconf, journal=journal
    )
