"""``netpilot intents validate | schema | get | describe | diff | apply | plan | anomalies``.

Exit codes: 0 ok, 1 invalid (or refused, or with ``--strict`` not clean), 2 usage. Every
command takes ``--output json`` and then prints one JSON object as the last stdout line.

Where things come from:

- ``--inventory FILE``: device names and labels that references are checked against;
- ``--config netpilot.yaml``: the controller config: its inventory, and the intent store
  next to its journal (``intents.sqlite``);
- ``--store FILE``: the intent store (revisions, quarantine, status history).

``plan --config`` also reads the network, read-only, to say what the controller would do
now: it opens the same telemetry sessions the loop uses (SNMP polls, NETCONF get and
get-config), runs the policies with fresh state, and prints their decisions. It never
locks a datastore, edits or commits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CommandGroups,
    journal_source_options,
    report_failure,
)
from controller.formatting import unset_text
from controller.model import (
    AdminState,
    Device,
    FulfilmentStatus,
    Intent,
    IntentStatus,
    NotFulfilledState,
    ReconcileState,
    TargetStatus,
)
from intents.conflicts import Conflict
from intents.diff import IntentSetDiff, diff_intent_sets, intent_to_dict
from intents.inventory import Inventory
from intents.load import IntentSource, load_intent_set, summarize_intent
from intents.plan import ActionPlan, PlanReport, actions_from_decisions
from intents.report import fulfilment_report, not_running_status
from intents.revisions import Outcome, evaluate
from intents.schema import json_schema
from intents.support import CURRENT_SUPPORT, Support, controller_support

if TYPE_CHECKING:
    from controller.config import ControllerSettings
    from controller.intent_store import IntentStore, StatusRecord

__all__ = ["ReadOnlyPlanner", "register"]


class _UsageError(Exception):
    """A usage problem found after parsing (missing path, no store): exit 2."""


def register(groups: CommandGroups) -> None:
    """Add ``netpilot intents`` and its subcommands."""
    commands = groups.group(
        "intents",
        "intent files: validate, schema, get, describe, diff, apply, plan; anomalies",
    )
    validate = groups.command(
        commands,
        "validate",
        "check intent files: syntax, schema, units, references, contradictions, conflicts",
        _handler(_validate),
    )
    validate.add_argument("paths", nargs="+", type=Path, help="files or directories")
    _inventory_options(validate)
    _strict_option(validate)

    groups.command(commands, "schema", "print the JSON Schema of intent files", _handler(_schema))

    get = groups.command(
        commands, "get", "the active revision, its intents and their status", _handler(_get)
    )
    _store_options(get)

    describe = groups.command(
        commands,
        "describe",
        "one intent: spec with defaults, fulfilment, status history, conflicts",
        _handler(_describe),
    )
    describe.add_argument("name", help="intent name")
    describe.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="inventory file (default: the --config's): resolves selectors and conflict devices",
    )
    describe.add_argument(
        "--path",
        type=Path,
        action="append",
        default=None,
        help="describe from these files/directories instead of the store",
    )
    _store_options(describe)

    diff = groups.command(
        commands,
        "diff",
        "semantic diff of intent files against the active revision (or --against)",
        _handler(_diff),
    )
    diff.add_argument("path", type=Path, help="the changed intent directory or file")
    diff.add_argument("--against", type=Path, default=None, help="the directory to compare with")
    _store_options(diff)

    apply = groups.command(
        commands,
        "apply",
        "read a source (directory or Git) once and admit its revision into the store",
        _handler(_apply),
    )
    apply.add_argument("source", help="an intent directory, or a Git repository path or URL")
    apply.add_argument("--branch", default=None, help="Git branch (default: main)")
    apply.add_argument("--subdir", default="", help="the intents' directory in the repository")
    apply.add_argument(
        "--allow-empty",
        action="store_true",
        help="admit a source without any intent (it removes every intent); refused otherwise",
    )
    apply.add_argument(
        "--cache-dir", type=Path, default=None, help="Git mirror (default: next to the store)"
    )
    _store_options(apply)
    _inventory_options(apply, config=False)

    plan = groups.command(
        commands,
        "plan",
        "what the controller would do with these intents now, without touching a device",
        _handler(_plan),
    )
    plan.add_argument("path", type=Path, help="the changed intent directory or file")
    plan.add_argument("--against", type=Path, default=None, help="the directory to compare with")
    plan.add_argument(
        "--offline",
        action="store_true",
        help="do not read the network (validation, conflicts and diff only)",
    )
    _store_options(plan)
    _inventory_options(plan, config=False)
    _strict_option(plan)

    anomalies = groups.command(
        commands,
        "anomalies",
        "the anomalies the loop's watch found in the intents' KPIs (from the journal)",
        _handler(_anomalies),
    )
    anomalies.add_argument("name", nargs="?", default=None, help="one intent's only")
    journal_source_options(anomalies)
    anomalies.add_argument(
        "--limit", type=int, default=50, help="the newest anomalies to list (default: 50)"
    )


def _anomalies(args: argparse.Namespace) -> int:
    """``intents anomalies``: the journal's ``anomaly`` events, oldest of the newest first."""
    from analytics.watch import Anomaly
    from controller.journal import Journal
    from controller.loop import ANOMALY_EVENT

    if args.limit < 1:
        raise _UsageError("--limit must be at least 1")
    path = args.journal
    if path is None:
        from controller.config import load_settings

        path = load_settings(args.config).journal_path
    if not path.is_file():
        return report_failure(f"{path}: no such journal", args.output)
    journal = Journal(path, read_only=True)  # never writes to what it is pointed at
    try:
        events = journal.events(kind=ANOMALY_EVENT, limit=10_000_000)
    finally:
        journal.close()
    found: list[Anomaly] = []
    for event in events:
        if args.name is not None and event.intent != args.name:
            continue
        try:
            found.append(Anomaly.from_dict(event.detail))
        except (KeyError, TypeError, ValueError):
            continue  # an event of another shape: not this command's to interpret
    shown = found[-args.limit :]
    lines = [f"{a.at.isoformat()}  {a.describe()}" for a in shown] or [
        "no anomaly in the journal"
        + (f" for {args.name}" if args.name else "")
        + " (the watch reports after 100 samples of a KPI)"
    ]
    _emit(args, {"anomalies": [a.as_dict() for a in shown]}, lines)
    return EXIT_OK


def _inventory_options(parser: argparse.ArgumentParser, *, config: bool = True) -> None:
    parser.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="inventory file: device, label and site references are checked against it",
    )
    if config:
        parser.add_argument(
            "--config", type=Path, default=None, help="netpilot.yaml (its inventory is used)"
        )


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=None, help="intent store (SQLite)")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="netpilot.yaml: its inventory, and the store next to its journal",
    )


def _strict_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on conflicts and warnings too (for CI of the intent repository)",
    )


def _handler(function: Any) -> Any:
    def handle(args: argparse.Namespace) -> int:
        try:
            result: int = function(args)
        except _UsageError as exc:
            report_failure(str(exc), args.output)
            return EXIT_USAGE
        return result

    return handle


def _emit(args: argparse.Namespace, data: dict[str, object], lines: Sequence[str]) -> None:
    if args.output == "json":
        print(json.dumps(data, default=str))
    else:
        for line in lines:
            print(line)


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class _Inputs:
    settings: ControllerSettings | None
    devices: tuple[Device, ...] | None
    store_path: Path | None

    @property
    def inventory(self) -> Inventory | None:
        return Inventory.from_devices(self.devices) if self.devices is not None else None

    @property
    def support(self) -> Support:
        """What the controller of ``--config`` honours (this version without a config)."""
        if self.settings is None:
            return CURRENT_SUPPORT
        return controller_support(topology=self.settings.topology is not None)


def _inputs(args: argparse.Namespace) -> _Inputs:
    from controller.config import load_inventory, load_settings
    from controller.intent_store import default_store_path

    settings = None
    config = getattr(args, "config", None)
    if config is not None:
        settings = load_settings(config)
    devices: tuple[Device, ...] | None = settings.inventory if settings else None
    inventory_path = getattr(args, "inventory", None)
    if inventory_path is not None:
        devices = load_inventory(inventory_path)
    store_path = getattr(args, "store", None)
    if store_path is None and settings is not None:
        store_path = default_store_path(settings.journal_path)
    return _Inputs(settings, devices, store_path)


def _read_paths(paths: Sequence[Path]) -> list[IntentSource]:
    from controller.gitops import intent_file_names

    sources: list[IntentSource] = []
    for path in paths:
        if path.is_dir():
            relative = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
            files = [path / name for name in intent_file_names(relative)]
        elif path.is_file():
            files = [path]
        else:
            raise _UsageError(f"{path}: no such file or directory")
        sources.extend(IntentSource(file=str(f), text=f.read_bytes()) for f in files)
    return sources


def _open_store(path: Path | None, *, read_only: bool) -> IntentStore:
    from controller.intent_store import IntentStore

    if path is None:
        raise _UsageError("no intent store: pass --store FILE or --config netpilot.yaml")
    if read_only and not path.is_file():
        raise _UsageError(f"{path}: no such intent store (nothing was applied yet)")
    return IntentStore(path, read_only=read_only)


def _active_files(store_path: Path | None) -> tuple[str, tuple[IntentSource, ...]]:
    """The active revision's files from the store (label, files); nothing if no store."""
    if store_path is None or not store_path.is_file():
        return "nothing (no active revision)", ()
    store = _open_store(store_path, read_only=True)
    try:
        admitted = store.admitted(limit=1)
    finally:
        store.close()
    if not admitted or admitted[0].files is None:
        return "nothing (no active revision)", ()
    record = admitted[0]
    return f"active revision {record.info.short} ({record.info.source})", record.files or ()


def _conflict_lines(conflicts: Sequence[Conflict]) -> list[str]:
    return [f"conflict: {c.describe()}" for c in conflicts]


# ------------------------------------------------------------------ validate / schema


def _validate(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    sources = _read_paths(args.paths)
    evaluation = evaluate(tuple(sources), inventory=inputs.inventory, support=CURRENT_SUPPORT)
    clean = evaluation.ok and not (args.strict and (evaluation.conflicts or evaluation.warnings))
    lines = [str(e) for e in evaluation.errors]
    lines += [str(w) for w in evaluation.warnings]
    lines += _conflict_lines(evaluation.conflicts)
    if evaluation.ok:
        checked = "references checked" if inputs.inventory else "references not checked"
        lines.append(
            f"{len(evaluation.intents)} intent(s) in {len(sources)} file(s): valid "
            f"({checked}; {len(evaluation.conflicts)} conflict(s) resolved, "
            f"{len(evaluation.warnings)} warning(s))"
        )
        if not clean:
            lines.append("not clean under --strict: conflicts or warnings above (exit 1)")
    _emit(
        args,
        {
            "valid": evaluation.ok,
            "clean": clean,
            "files": len(sources),
            "referencesChecked": inputs.inventory is not None,
            "intents": [summarize_intent(i) for i in evaluation.intents],
            "errors": [e.as_dict() for e in evaluation.errors],
            "warnings": [w.as_dict() for w in evaluation.warnings],
            "conflicts": [c.as_dict() for c in evaluation.conflicts],
            "notes": {k: list(v) for k, v in evaluation.notes.items()},
        },
        lines,
    )
    return EXIT_OK if clean else EXIT_FAILURE


def _schema(args: argparse.Namespace) -> int:
    schema = json_schema()
    if args.output == "json":
        print(json.dumps(schema))
    else:
        print(json.dumps(schema, indent=2))
    return EXIT_OK


# ------------------------------------------------------------------ get / describe


def _get(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    store = _open_store(inputs.store_path, read_only=True)
    try:
        admitted = store.admitted(limit=1)
        active = admitted[0] if admitted else None
        refusal = store.last_refusal()
        quarantined = store.quarantined()
        statuses = store.latest_statuses()
        polls = store.polls()
    finally:
        store.close()
    intents: list[dict[str, object]] = []
    for summary in active.intents if active else []:
        assert isinstance(summary, dict)
        name = str(summary["name"])
        status = statuses.get(name)
        intents.append(
            {
                **summary,
                "status": status.as_dict() if status else None,
                "notes": list(active.notes.get(name, ())) if active else [],
            }
        )
    lines: list[str] = []
    if active is None:
        lines.append("active revision: none")
    else:
        info = active.info
        lines.append(
            f"active revision: {info.short} from {info.source}"
            + (f" by {info.author}" if info.author else "")
            + (f", committed {info.committed_at.isoformat()}" if info.committed_at else "")
            + f", admitted {active.at}"
        )
    for intent in intents:
        status_data = intent["status"]
        shown = "not evaluated yet"
        if isinstance(status_data, dict):
            shown = str(status_data["status"]) + (
                f"/{status_data['state']}" if status_data.get("state") else ""
            )
        lines.append(f"  {intent['name']:<28} priority {intent['priority']:<5} {shown}")
        notes = intent["notes"]
        for note in notes if isinstance(notes, list) else []:
            lines.append(f"      {note}")
    if refusal is not None:
        lines.append(f"refused: revision {refusal.info.short} at {refusal.at}: {refusal.reason}")
        for error in refusal.errors:
            if isinstance(error, dict):
                lines.append(f"  {error.get('message')} ({error.get('file')}:{error.get('line')})")
    for revision, reason in quarantined.items():
        lines.append(f"quarantined: {revision[:12]}: {reason}")
    for poll in polls:
        if poll["error"]:
            lines.append(
                f"source {poll['source']}: last read failed at {poll['at']}: {poll['error']}"
            )
    _emit(
        args,
        {
            "active": active.as_dict() if active else None,
            "intents": intents,
            "lastRefusal": refusal.as_dict() if refusal else None,
            "quarantined": quarantined,
            "polls": polls,
        },
        lines,
    )
    return EXIT_OK


def _status_from_record(intent: Intent, record: StatusRecord) -> IntentStatus:
    targets = {(e.id, t.name): t for e in intent.expectations for t in e.targets}
    statuses: list[TargetStatus] = []
    for item in record.targets:
        target = targets.get((str(item.get("expectation")), str(item.get("name"))))
        if target is None:
            continue
        observed = item.get("observed")
        met = item.get("met")
        statuses.append(
            TargetStatus(
                expectation=str(item.get("expectation")),
                target=target,
                observed=float(observed) if isinstance(observed, int | float) else None,
                met=met if isinstance(met, bool) else None,
            )
        )
    return IntentStatus(
        name=record.intent,
        status=FulfilmentStatus(record.status),
        state=NotFulfilledState(record.state) if record.state else None,
        targets=tuple(statuses),
        reasons=tuple(record.reasons),
        evaluated_at=datetime.fromisoformat(record.at) if record.at else None,
    )


def _describe(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    history: list[StatusRecord] = []
    latest_record: StatusRecord | None = None
    introduced = ""
    if args.path:
        origin = ", ".join(str(p) for p in args.path)
        sources = tuple(_read_paths(args.path))
    else:
        store = _open_store(inputs.store_path, read_only=True)
        try:
            admitted = store.admitted(limit=1)
            if not admitted or admitted[0].files is None:
                return report_failure("no active revision in the store", args.output)
            record = admitted[0]
            sources = record.files or ()
            introduced = record.introduced.get(args.name, "")
            history = store.status_history(args.name)
            latest_record = store.latest_status(args.name)
        finally:
            store.close()
        origin = f"revision {record.info.short} ({record.info.source})"
    # admitted as `netpilot run` admits it for this config (its topology decides whether a
    # sleep-vs-path conflict is left to the what-if twin or narrowed at admission)
    evaluation = evaluate(sources, inventory=inputs.inventory, support=inputs.support)
    if not evaluation.ok:
        for error in evaluation.errors:
            print(error)
        return report_failure(f"{origin} does not load", args.output)
    intent = next((i for i in evaluation.intents if i.name == args.name), None)
    if intent is None:
        names = ", ".join(i.name for i in evaluation.intents) or "none"
        return report_failure(
            f"no intent {args.name!r} in {origin} (intents: {names})", args.output
        )
    notes = evaluation.notes.get(intent.name, ())
    # the latest evaluation the controller wrote (every tick), not the last status change
    latest = _status_from_record(intent, latest_record) if latest_record else None
    report = fulfilment_report(intent, latest, notes=notes)
    conflicts = [c for c in evaluation.conflicts if intent.name in c.intents]
    enforced = next((i for i in evaluation.enforced if i.name == intent.name), None)
    import yaml

    lines = [
        f"# {intent.name} from {origin}"
        + (
            f", introduced by revision {introduced.removeprefix('sha256:')[:12]}"
            if introduced
            else ""
        ),
        f"# defined at {intent.location}, generation {intent.generation}",
        yaml.safe_dump(intent_to_dict(intent), sort_keys=False).rstrip(),
        "# fulfilment:",
        *("#   " + line for line in json.dumps(report, indent=2).splitlines()),
    ]
    lines += [f"# {line}" for line in _conflict_lines(conflicts)]
    if conflicts and inputs.settings is None:
        lines.append(
            "# admitted without the controller's config: pass --config netpilot.yaml to see "
            "the resolution `netpilot run` applies (with a topology, sleep plans are checked "
            "on the what-if twin instead of being narrowed here)"
        )
    if enforced is not None and enforced != intent:
        lines.append(f"# enforced as: {_enforced_difference(intent, enforced)}")
    lines += [
        f"# {h.at}  {h.status}{'/' + h.state if h.state else ''}  {'; '.join(h.reasons)[:120]}"
        for h in history
    ]
    _emit(
        args,
        {
            "intent": intent_to_dict(intent),
            "generation": intent.generation,
            "location": str(intent.location) if intent.location else None,
            "origin": origin,
            "introducedIn": introduced or None,
            "fulfilment": report,
            "conflicts": [c.as_dict() for c in conflicts],
            "notes": list(notes),
            "enforced": intent_to_dict(enforced) if enforced else None,
            "history": [h.as_dict() for h in history],
        },
        lines,
    )
    return EXIT_OK


def _enforced_difference(intent: Intent, enforced: Intent) -> str:
    """What the conflict resolutions changed of an intent, in a few words."""
    changes: list[str] = []
    if enforced.mode is not intent.mode:
        changes.append(f"mode {enforced.mode.value} (the file says {intent.mode.value})")
    if enforced.admin_state is not intent.admin_state:
        changes.append(f"adminState {enforced.admin_state.value}")
    if enforced.expectations != intent.expectations:
        changes.append("objects narrowed by conflicts")
    return ", ".join(changes) or "changed by conflict resolutions"


# ------------------------------------------------------------------ diff / apply


def _against(args: argparse.Namespace, inputs: _Inputs) -> tuple[str, tuple[Intent, ...]]:
    if args.against is not None:
        sources = tuple(_read_paths([args.against]))
        label = str(args.against)
    else:
        label, sources = _active_files(inputs.store_path)
    if not sources:
        return label, ()
    loaded = load_intent_set(sources, inventory=None, support=CURRENT_SUPPORT)
    if not loaded.ok:
        # the old side is what it is: compare with what loads of it, say it did not
        return f"{label} (does not load: {len(loaded.errors)} error(s))", ()
    return label, loaded.intents


def _diff(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    sources = tuple(_read_paths([args.path]))
    new = load_intent_set(sources, inventory=inputs.inventory)
    if not new.ok:
        lines = [str(e) for e in new.errors]
        _emit(args, {"valid": False, "errors": [e.as_dict() for e in new.errors]}, lines)
        return EXIT_FAILURE
    label, old = _against(args, inputs)
    diff = diff_intent_sets(old, new.intents)
    lines = [f"{args.path} against {label}:", *(diff.lines() or ["(no change)"])]
    _emit(args, {"valid": True, "against": label, "diff": diff.as_dict()}, lines)
    return EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    from controller.gitops import IntentSetManager, SourceError, open_source

    inputs = _inputs(args)
    if inputs.devices is None:
        raise _UsageError(
            "apply needs an inventory: pass --inventory FILE or --config netpilot.yaml"
        )
    store = _open_store(inputs.store_path, read_only=False)
    try:
        assert inputs.store_path is not None
        cache = args.cache_dir or inputs.store_path.parent / "git-cache"
        source = open_source(args.source, branch=args.branch, subdir=args.subdir, cache_dir=cache)
        manager = IntentSetManager(store, inventory=inputs.devices)
        try:
            revision = source.read()
        except SourceError as exc:
            store.record_poll(source.name, at=datetime.now(UTC), error=str(exc))
            return report_failure(exc, args.output)
        store.record_poll(source.name, at=datetime.now(UTC))
        admission = manager.admit(revision, allow_empty=args.allow_empty)
    finally:
        store.close()
    lines = [
        f"revision {admission.revision.short} from {admission.revision.source}: "
        f"{admission.outcome.value}: {admission.reason}"
    ]
    lines += [str(e) for e in admission.evaluation.errors]
    lines += [str(w) for w in admission.evaluation.warnings]
    lines += _conflict_lines(admission.evaluation.conflicts)
    lines += ["  " + line for line in admission.diff.lines()]
    _emit(args, admission.as_dict(), lines)
    ok = admission.outcome in (Outcome.ADMITTED, Outcome.UNCHANGED)
    return EXIT_OK if ok else EXIT_FAILURE


# ------------------------------------------------------------------ plan


class ReadOnlyPlanner:
    """The controller's sensing and decision, read-only: a :class:`intents.plan.Planner`.

    Built from what ``netpilot run`` uses (Sensor, SnmpPoller, NETCONF sessions, and
    :func:`controller.app.decision_inputs`: the what-if twin of ``topology:``, the load
    forecast and the stall model or their rule baselines), then every intent's policy,
    arbitration and guards in one :func:`policies.decide.decide`, without a journal or a
    config session. A plan asks what the controller does about the state read now: each
    degraded intent is decided as if its violation had lasted the hysteresis, and an
    optimising plan (an energy sleep) as if it had stood for it; cooldown and rate limits
    start fresh, as for a controller without history. The load forecast has one sample, so
    energy decisions are made on the current load.

    Args:
        settings: the controller settings (inventory, loop cadence, topology, model store).
        clock: the current time (UTC).
    """

    def __init__(self, settings: ControllerSettings, clock: Any = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))

    async def plan(self, intents: Sequence[Intent]) -> ActionPlan:
        """Sense every device once and decide for ``intents``."""
        from dataclasses import replace

        from adapters.netconf import open_session
        from adapters.snmp import SnmpPoller
        from analytics.kpi import evaluate_intent
        from controller.app import decision_inputs
        from controller.sense import Sensor
        from policies.base import World
        from policies.decide import decide, measure
        from policies.twin import probe_pairs

        inputs = decision_inputs(self.settings)  # before the network: a bad topology fails fast
        poller = SnmpPoller()
        sensor = Sensor(
            self.settings.inventory, open_session=open_session, poller=poller, clock=self.clock
        )
        try:
            observations = await sensor.collect()
        finally:
            await sensor.close()
            await poller.close()
        now = self.clock()
        max_age = self.settings.loop.interval * 2 + timedelta(seconds=5)
        ticks = self.settings.loop.violation_ticks
        statuses: dict[str, IntentStatus] = {}
        active: list[Intent] = []
        for intent in intents:
            if not any(CURRENT_SUPPORT.enforces(e.type) for e in intent.expectations):
                reason = "not enforced by this netpilot version"
                statuses[intent.name] = not_running_status(intent.name, (reason,), now=now)
            elif intent.admin_state is AdminState.DEACTIVATED:
                reason = "deactivated by the operator"
                statuses[intent.name] = not_running_status(intent.name, (reason,), now=now)
            else:
                active.append(intent)
        view = None
        if inputs.twin is not None:
            pairs = probe_pairs(active)
            view = inputs.twin.observe(observations, now=now, probe_pairs=pairs)
        world = World(
            now=now,
            devices={d.name: d for d in self.settings.inventory},
            observations=observations,
            intents=tuple(active),
            twin=inputs.twin,
            view=view,
            settings=inputs.policy_settings,
        )
        world = replace(world, stall=inputs.stall(observations), forecast=inputs.forecast(world))
        measured = measure(world)
        states: dict[str, ReconcileState] = {}
        for intent in active:
            status = evaluate_intent(
                intent, observations, now=now, max_age=max_age, measured=measured.get(intent.name)
            )
            statuses[intent.name] = status
            degraded = status.state is NotFulfilledState.DEGRADED
            states[intent.name] = ReconcileState(consecutive_violations=ticks if degraded else 0)
        world = replace(world, statuses=statuses, states=states)
        outcomes = decide(world).outcomes
        # an optimising plan waits until it stood for the hysteresis: decide again as if it had
        standing = {name: o.pending for name, o in outcomes.items() if o.pending}
        if standing:
            states = {
                name: replace(state, pending=standing[name], pending_ticks=ticks - 1)
                if name in standing
                else state
                for name, state in states.items()
            }
            outcomes = decide(replace(world, states=states)).outcomes
        return ActionPlan(
            at=now,
            actions=actions_from_decisions(intents, [o.decision for o in outcomes.values()]),
            statuses=tuple(statuses[i.name] for i in intents),
            devices_read=tuple(sorted(n for n, o in observations.items() if not o.errors)),
            device_errors={n: tuple(o.errors) for n, o in observations.items() if o.errors},
        )


def _plan(args: argparse.Namespace) -> int:
    inputs = _inputs(args)
    sources = tuple(_read_paths([args.path]))
    # admitted as `netpilot run` admits it with this --config (with its topology, a sleep plan
    # that loses to a path is checked on the what-if twin, not narrowed away here)
    evaluation = evaluate(sources, inventory=inputs.inventory, support=inputs.support)
    label, old = _against(args, inputs)
    diff = diff_intent_sets(old, evaluation.intents) if evaluation.ok else IntentSetDiff()
    actions: ActionPlan | None = None
    reason = ""
    if not evaluation.ok:
        reason = "the intent set is invalid"
    elif args.offline:
        reason = "--offline"
    elif inputs.settings is None:
        reason = "no --config: the network was not read"
    else:
        actions = asyncio.run(ReadOnlyPlanner(inputs.settings).plan(evaluation.enforced))
    report = PlanReport(
        evaluation=evaluation,
        diff=diff,
        against=label,
        actions=actions,
        offline_reason=reason,
        strict=args.strict,
    )
    # the plan's edits are written by Edit.describe (an absent leaf is "-"): spelt out as the
    # console and 'changes show' spell it; --output json keeps the report's own values
    _emit(args, report.as_dict(), [unset_text(line) for line in report.lines()])
    return report.exit_code
