"""``netpilot models``: the model registry from the command line.

- ``list``: every model with its champion, challenger and status (model or rule baseline);
- ``show NAME``: one model's record (status, monitoring, lifecycle events) and a version's
  metadata (features, training window, metrics, hyperparameters);
- ``train NAME --kind KIND --data FILE``: train a new version from collected telemetry (a
  ``timestamp,value`` CSV) or labelled sessions; a first version becomes the champion only
  when it beats the rule baseline measured on the same data (otherwise it is registered,
  the rule keeps answering, and the output says why); later ones become a challenger that
  runs in shadow;
- ``promote NAME``: make the challenger (or ``--version``) the champion when the measured
  gain clears the rule (without a champion: when it beats the rule baseline), or
  unconditionally with ``--force``; a version that is not the challenger has no shadow run
  and is judged on its validation metric; a refusal changes nothing in the record but a
  ``promotion-refused`` event;
- ``monitor NAME --data FILE``: replay telemetry through the champion, the challenger and
  the rule baseline, update the live monitors, and fall back to the rule (or recover) as
  the health rule says. Without a champion the rule answers and the challenger runs in
  shadow beside it: its live error against the rule's is what ``promote`` then decides on.

The store is a directory of JSON files (controller/models_store.py), ``--store`` (default
``.netpilot/models``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from analytics.registry import (
    HealthRule,
    ModelArtifact,
    ModelKind,
    ModelRecord,
    MonitorState,
    PromotionRule,
    apply_health,
    assess,
    decide_first_champion,
    decide_version_promotion,
    promote,
    refuse_promotion,
    shadow_comparison,
)
from analytics.registry import register as register_version
from analytics.training import (
    KpiDetector,
    replay,
    train_kpi_anomaly,
    train_load_forecast,
    train_stall,
)
from controller.cli import EXIT_FAILURE, EXIT_OK, CommandGroups, report_failure
from controller.models_store import (
    DEFAULT_STORE,
    ModelStore,
    ModelStoreError,
    read_sessions,
    read_telemetry,
)

__all__ = ["register"]


def register(groups: CommandGroups) -> None:
    """Add ``netpilot models list|show|train|promote|monitor``."""
    commands = groups.group("models", "the model registry: versions, training, promotion")
    listing = groups.command(commands, "list", "models with champion, challenger, status", _list)
    _store_option(listing)
    show = groups.command(commands, "show", "one model: status, monitoring, a version", _show)
    show.add_argument("name", help="model name")
    show.add_argument("--version", type=int, default=None, help="version (default: champion)")
    _store_option(show)
    train = groups.command(commands, "train", "train a new version from collected data", _train)
    train.add_argument("name", help="model name (lowercase, digits, '.', '_', '-')")
    train.add_argument(
        "--kind", required=True, choices=[k.value for k in ModelKind], help="what the model does"
    )
    train.add_argument(
        "--data",
        type=Path,
        required=True,
        help="telemetry CSV (timestamp,value) or, for stall, labelled sessions (csv[.gz])",
    )
    train.add_argument("--column", default="value", help="value column of the CSV")
    train.add_argument("--horizon", type=int, default=12, help="forecast steps validated")
    train.add_argument("--quantile", type=float, default=0.95, help="upper forecast quantile")
    train.add_argument(
        "--features", default="burst", choices=("rate", "aggregate", "burst"), help="stall only"
    )
    train.add_argument(
        "--detector",
        default=KpiDetector.SURPRISE.value,
        choices=[d.value for d in KpiDetector],
        help="kpi-anomaly only: surprise (~5 us per sample, vectorised over series) or cad-ose "
        "(NAB 70.9 with the range check; compiled, ~5 us per sample over NAB, more on noisy "
        "series whose memory keeps growing) (default: %(default)s)",
    )
    train.add_argument(
        "--value-range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="kpi-anomaly with cad-ose: the KPI's expected range (default: the data's own)",
    )
    _store_option(train)
    promote_parser = groups.command(
        commands, "promote", "make the challenger the champion on measured gain", _promote
    )
    promote_parser.add_argument("name", help="model name")
    promote_parser.add_argument(
        "--version", type=int, default=None, help="version to promote (default: challenger)"
    )
    promote_parser.add_argument(
        "--min-gain", type=float, default=0.05, help="relative error reduction required"
    )
    promote_parser.add_argument(
        "--force", action="store_true", help="promote without evidence (e.g. a rollback)"
    )
    _store_option(promote_parser)
    monitor = groups.command(
        commands, "monitor", "replay telemetry: monitor, fall back or recover", _monitor
    )
    monitor.add_argument("name", help="model name")
    monitor.add_argument("--data", type=Path, required=True, help="telemetry CSV since training")
    monitor.add_argument("--column", default="value", help="value column of the CSV")
    _store_option(monitor)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE,
        help="model store directory (default: %(default)s)",
    )


def _failing(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ModelStoreError, ValueError) as exc:
            return report_failure(exc, args.output)

    return run


def _print(data: dict[str, object], text: str, output: str) -> None:
    if output == "json":
        print(json.dumps(data, default=str))
    else:
        print(text)


def _require(store: ModelStore, name: str) -> ModelRecord:
    record = store.record(name)
    if record is None:
        known = ", ".join(store.names()) or "none"
        raise ModelStoreError(f"no model named {name!r} in {store.root} (models: {known})")
    return record


def _answering(record: ModelRecord) -> str:
    """Who answers for a model now: the champion, or (in fallback or without one) the rule."""
    if record.champion is None or record.status.value == "fallback":
        return f"rule baseline '{record.kind.baseline}'"
    return f"champion v{record.champion}"


def _version(number: int | None) -> str:
    return "-" if number is None else f"v{number}"


def _monitored(monitor: MonitorState, baseline: str) -> str:
    """One monitor: its samples, its live error and the rule's on the same samples."""
    rule = "" if monitor.baseline_error is None else f", {baseline} {monitor.baseline_error:.4g}"
    return f"{monitor.samples} samples, error {monitor.error:.4g}{rule}"


def _summary(artifact: ModelArtifact) -> dict[str, object]:
    """An artifact without its (large) learned state."""
    data = artifact.as_dict()
    model = artifact.model
    data["model"] = {"model": model.get("model"), "params": model.get("params")}
    return data


@_failing
def _list(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    models = []
    lines = []
    for name in store.names():
        record = _require(store, name)
        metric = record.kind.metric
        value = None
        if record.champion is not None:
            value = store.artifact(name, record.champion).metrics.get(metric)
        models.append(
            {
                "name": name,
                "kind": record.kind.value,
                "champion": record.champion,
                "challenger": record.challenger,
                "status": record.status.value,
                "answering": record.kind.baseline
                if record.champion is None or record.status.value == "fallback"
                else f"v{record.champion}",
                "versions": store.versions(name),
                metric: value,
            }
        )
        shown = "-" if value is None else f"{value:.4g}"
        lines.append(
            f"{name:<20} {record.kind.value:<14} champion {_version(record.champion)} "
            f"challenger {_version(record.challenger)} "
            f"{record.status.value:<8} {metric}={shown}"
        )
    _print(
        {"store": str(store.root), "models": models},
        "\n".join(lines) or f"no models in {store.root}",
        args.output,
    )
    return EXIT_OK


@_failing
def _show(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    record = _require(store, args.name)
    # without a champion, the version that did not beat the rule is the one to look at
    version = next(
        (v for v in (args.version, record.champion, record.challenger) if v is not None), None
    )
    artifact = None if version is None else store.artifact(args.name, version)
    data: dict[str, object] = {"record": record.as_dict()}
    if artifact is not None:
        data["artifact"] = _summary(artifact)
    shadow = shadow_comparison(record)
    data["shadow"] = None if shadow is None else shadow.as_dict()
    lines = [
        f"model {record.name} ({record.kind.value}): {record.status.value}, "
        f"answered by {_answering(record)}",
        f"  reason: {record.reason or '-'}",
        f"  champion {_version(record.champion)}, challenger {_version(record.challenger)}",
        "  monitor: "
        + (
            f"no champion (the {record.kind.baseline} rule answers)"
            if record.champion is None
            else _monitored(record.monitor, record.kind.baseline)
        ),
    ]
    if record.challenger is not None:
        lines.append(
            f"  shadow v{record.challenger}: "
            + _monitored(record.challenger_monitor, record.kind.baseline)
            + ("" if shadow is None else f", gain {shadow.gain:.1%} over {shadow.incumbent}")
        )
    if artifact is not None:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(artifact.metrics.items()))
        lines.append(f"  v{artifact.version} {artifact.model_type}: {metrics}")
        lines.append(f"  features: {', '.join(artifact.features)}")
    lines += [
        f"  {e.at.isoformat()} {e.kind.value} v{e.version}: {e.reason}" for e in record.events
    ]
    _print(data, "\n".join(lines), args.output)
    return EXIT_OK


@_failing
def _train(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    kind = ModelKind(args.kind)
    record = store.record(args.name)
    if record is not None and record.kind is not kind:
        raise ModelStoreError(f"{args.name} is a {record.kind.value} model, not {kind.value}")
    version = store.next_version(args.name)
    now = datetime.now(UTC)
    if kind is ModelKind.STALL:
        sessions = read_sessions(args.data)
        artifact = train_stall(
            args.name,
            version,
            sessions.flows,
            sessions.stalled,
            sessions.videos,
            now=now,
            features=args.features,
        )
    else:
        # a load forecast (Holt-Winters) fits on every sample: a gap is the file's error
        gaps = kind is not ModelKind.LOAD_FORECAST
        telemetry = read_telemetry(args.data, column=args.column, gaps=gaps)
        if kind is ModelKind.LOAD_FORECAST:
            artifact = train_load_forecast(
                args.name,
                version,
                telemetry.timestamps,
                telemetry.values,
                now=now,
                horizon=args.horizon,
                quantile=args.quantile,
            )
        else:
            artifact = train_kpi_anomaly(
                args.name,
                version,
                telemetry.timestamps,
                telemetry.values,
                now=now,
                detector=KpiDetector(args.detector),
                value_range=tuple(args.value_range) if args.value_range else None,
            )
    # without a champion the new version is measured against the rule baseline (the same
    # decision register() takes), and the output says why it does or does not answer
    decision = (
        None
        if record is not None and record.champion is not None
        else (decide_first_champion(artifact))
    )
    updated = register_version(record, artifact, now=now)
    store.save_artifact(artifact)
    store.save_record(updated)
    if updated.champion == version:
        role = "champion"
    elif updated.champion is None:
        role = f"challenger (the {kind.baseline} rule answers)"
    else:
        role = "challenger (shadow)"
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(artifact.metrics.items()))
    lines = [f"{args.name} v{version} trained ({artifact.model_type}): {role}"]
    if decision is not None:
        lines.append(f"  {decision.reason}")
        if not decision.promote:
            lines.append(f"  to use it anyway: netpilot models promote {args.name} --force")
    lines.append(f"  {metrics}")
    data: dict[str, object] = {
        "artifact": _summary(artifact),
        "role": role,
        "decision": None if decision is None else decision.as_dict(),
        "record": updated.as_dict(),
    }
    _print(data, "\n".join(lines), args.output)
    return EXIT_OK


@_failing
def _promote(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    record = _require(store, args.name)
    version = record.challenger if args.version is None else args.version
    if version is None:
        raise ModelStoreError(f"{args.name} has no challenger to promote")
    if version == record.champion:
        raise ModelStoreError(f"v{version} is already the champion")
    # a version that is not the challenger is judged on its own evidence, and the record
    # is only changed by the outcome: it was re-registered as the challenger first, which
    # replaced the challenger and its shadow run even when the promotion was then refused
    decision = decide_version_promotion(
        record,
        version,
        PromotionRule(min_gain=args.min_gain),
        champion_metrics=None
        if record.champion is None
        else store.artifact(args.name, record.champion).metrics,
        version_metrics=store.artifact(args.name, version).metrics,
    )
    now = datetime.now(UTC)
    if decision.promote or args.force:
        reason = (
            decision.reason
            if decision.promote
            else f"forced by the operator; the promotion rule alone says: {decision.reason}"
        )
        record = promote(record, now=now, reason=reason, version=version)
        store.save_record(record)
        _print(
            {"promoted": True, "decision": decision.as_dict(), "record": record.as_dict()},
            f"{args.name}: v{record.champion} is the champion ({reason})",
            args.output,
        )
        return EXIT_OK
    record = refuse_promotion(record, version, now=now, reason=decision.reason)
    store.save_record(record)
    if args.output == "json":
        print(
            json.dumps(
                {"promoted": False, "decision": decision.as_dict(), "record": record.as_dict()}
            )
        )
    named = "" if args.version is None else f" --version {version}"
    print(
        f"netpilot: {args.name}: v{version} not promoted: {decision.reason} "
        f"(netpilot models promote {args.name}{named} --force overrides)",
        file=sys.stderr,
    )
    return EXIT_FAILURE


@_failing
def _monitor(args: argparse.Namespace) -> int:
    store = ModelStore(args.store)
    record = _require(store, args.name)
    if record.champion is None and record.challenger is None:
        raise ModelStoreError(
            f"{args.name} has no version to monitor; the {record.kind.baseline} rule answers"
        )
    telemetry = read_telemetry(args.data, column=args.column)
    champion = None if record.champion is None else store.artifact(args.name, record.champion)
    challenger = None if record.challenger is None else store.artifact(args.name, record.challenger)
    # without a champion the rule answers and the challenger runs in shadow beside it;
    # assess() and apply_health() then leave the record's status alone
    result = replay(record, champion, challenger, telemetry.values)
    reference = None if champion is None else champion.metrics.get("reference_error")
    health = assess(result.record, reference, HealthRule())
    now = datetime.now(UTC)
    updated = apply_health(result.record, health, now=now)
    store.save_record(updated)
    answering = _answering(updated)
    monitored = updated.monitor if updated.champion is not None else updated.challenger_monitor
    shadow = shadow_comparison(updated)
    shadow_text = (
        ""
        if shadow is None
        else f"; v{shadow.version} in shadow: live error {shadow.challenger_error:.4g} vs "
        f"{shadow.incumbent}'s {shadow.incumbent_error:.4g} on {shadow.samples} samples "
        f"(gain {shadow.gain:.1%})"
    )
    _print(
        {
            "samples": result.samples,
            "scored": result.scored,
            "health": {"degraded": health.degraded, "reason": health.reason},
            "shadow": None if shadow is None else shadow.as_dict(),
            "record": updated.as_dict(),
        },
        f"{args.name}: {result.samples} samples read, "
        f"{result.scored} scored "
        f"({monitored.samples} since training; monitoring is cumulative, so a file "
        f"replayed twice counts twice), {health.reason}; answered by {answering}" + shadow_text,
        args.output,
    )
    return EXIT_OK
