"""A fixed, synthetic evening for the console: snapshot tests and the docs' screenshots.

Nothing here touches the network or the wall clock: a :class:`FakeFacade` answers the
console's queries from fixed values, and :func:`feed` posts a fixed sequence of controller
messages (30 ticks of the lab's evening peak, with one change raised, verified and
confirmed), so every render is the same on every machine. The numbers follow what the real
lab shows (tests/tui/test_console.py runs the real thing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.registry import (
    EventKind,
    ModelEvent,
    ModelKind,
    ModelRecord,
    ModelStatus,
    MonitorState,
)
from controller.errors import ChangeError, ConfigFileError, SourceLocation
from controller.facade import (
    ApprovalView,
    ChangeDetail,
    ChangeView,
    ConflictView,
    ControllerSnapshot,
    DeviceEdit,
    DeviceInfo,
    IntentRevision,
    IntentSource,
    ModelsView,
    ModelVersion,
    ModelView,
    RevisionStep,
    RevisionsView,
    TimelineStep,
    document_span,
)
from controller.loop import TickReport
from controller.model import (
    ApprovalStatus,
    ChangeResult,
    ChangeSet,
    ChangeStatus,
    ClassQueue,
    ConfigEdit,
    Decision,
    DeviceConfig,
    EditOp,
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
    InterfaceConfig,
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
from tui.app import NetpilotApp, TuiObserver, make_app
from tui.messages import ChangeFinished, ChangeStarted, TickFinished

T0 = datetime(2026, 11, 28, 19, 58, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=2)
TICKS = 30
SIZE = (80, 24)
INTENT_FILE = "intents/west-east.yaml"

INTENT_YAML = """\
# Video and voice between the west and east sites stay interactive.
apiVersion: netpilot/v1
kind: Intent
metadata:
  name: video-west-east
  labels: {team: noc, service: video}
spec:
  priority: 100
  mode: auto
  expectations:
    - id: video-latency
      type: e2e-qos
      verb: ensure
      objects:
        trafficClass: video
        path: {from: r1, to: r4}
      targets:
        - {name: latencyMs, condition: lessThan, value: 30}
  guards: {maxChangesPerHour: 6, cooldownSeconds: 20}
---
apiVersion: netpilot/v1
kind: Intent
metadata:
  name: voice-west-east
spec:
  priority: 120
  mode: dry-run
  expectations:
    - id: voice-latency
      type: e2e-qos
      objects:
        trafficClass: voice
        path: {from: r1, to: r4}
      targets:
        - {name: latencyMs, condition: lessThan, value: 20}
"""

VIDEO = TrafficClass.VIDEO
VOICE = TrafficClass.VOICE


def _intent(
    name: str, cls: TrafficClass, bound: float, line: int, priority: int, gen: str
) -> Intent:
    return Intent(
        name=name,
        expectations=(
            Expectation(
                id=f"{cls.value}-latency",
                type=ExpectationType.E2E_QOS,
                verb=ExpectationVerb.ENSURE,
                objects=ExpectationObjects(traffic_class=cls, path=PathRef("r1", "r4")),
                targets=(Target("latencyMs", TargetCondition.LESS_THAN, bound),),
            ),
        ),
        priority=priority,
        guards=Guards(cooldown=timedelta(seconds=20)),
        generation=gen,
        location=SourceLocation(INTENT_FILE, line, 1),
    )


INTENTS = (
    _intent("video-west-east", VIDEO, 30.0, 2, 100, "5d1c0e9a77b2f041"),
    replace(
        _intent("voice-west-east", VOICE, 20.0, 21, 120, "a03e6f12c9d4b870"),
        mode=IntentMode.DRY_RUN,
    ),
)
DEVICES = tuple(DeviceInfo(f"r{i}", f"127.0.10.{i}", {"site": "lab"}) for i in range(1, 5))

# the evening peak congests r2 eth2 in ticks 12-13: the first violated tick is held back
# by hysteresis, the second starts the change, which is verified and confirmed at tick 15
PEAK = range(12, 14)
CHANGE_TICK, CONFIRM_TICK = 13, 15
BASE = DeviceConfig(interfaces=(InterfaceConfig("eth1"), InterfaceConfig("eth2")))
EDIT = ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "1")
REASON = "raise video priority 0 -> 1 on r2 (eth2 queues video for 50.0 ms)"
# a fixed id: the derived one hashes the base configuration, whose model gains fields as
# the lab grows, and the snapshots show the id
CHANGE = replace(
    ChangeSet.make("video-west-east", "r2", (EDIT,), REASON, base=BASE), id="chg-b2225314a6f6"
)
TXN = f"{CHANGE.id}-6240142d"


def at(tick: int) -> datetime:
    """When a tick ran."""
    return T0 + INTERVAL * tick


def video_latency(tick: int) -> float:
    """r1 -> r4 video latency: the evening peak congests r2 eth2 until the change lands."""
    if tick in PEAK:
        return 57.0 + (tick % 3) * 0.4
    if tick < PEAK.start:
        return 9.0 + tick * 0.5
    return 8.4 + (tick % 4) * 0.1


def _queues(interface: str, delay: Mapping[TrafficClass, float], drop: float) -> tuple[Any, ...]:
    offered = {
        VIDEO: 648.0,
        VOICE: 7.9,
        TrafficClass.GAMING: 26.9,
        TrafficClass.BULK: 63.9,
        TrafficClass.BEST_EFFORT: 518.6,
    }
    return tuple(
        ClassQueue(
            interface,
            cls,
            offered[cls],
            delay.get(cls, 0.0),
            drop if cls is TrafficClass.BEST_EFFORT else 0.0,
        )
        for cls in TrafficClass
    )


def observations(tick: int) -> dict[str, Observation]:
    """What the four routers report in a tick."""
    when = at(tick)
    peak = tick >= PEAK.start
    fixed = tick > CHANGE_TICK
    load = min(1.0, 0.55 + tick * 0.04)
    r2_delay = {cls: 50.0 if peak else 2.0 * load for cls in TrafficClass}
    if fixed:
        r2_delay[VIDEO] = 1.5
    return {
        "r1": Observation(
            "r1",
            when,
            rates=(
                InterfaceRate("eth1", 238.3, 1261.2 * load, 10000.0, True),
                InterfaceRate("eth2", 0.0, 0.0, 1000.0, True),
            ),
            queues=_queues("eth1", {cls: 0.001 for cls in TrafficClass}, 0.0),
            probes=(
                ProbeResult("r4", VIDEO, video_latency(tick), 0.0),
                ProbeResult("r4", VOICE, 7.2 + (tick % 5) * 0.1, 0.0),
            ),
            config=BASE,
        ),
        "r2": Observation(
            "r2",
            when,
            rates=(
                InterfaceRate("eth1", 1261.2 * load, 238.3, 10000.0, True),
                InterfaceRate("eth2", 238.3, 1000.0 * load, 1000.0, True),
            ),
            queues=_queues("eth2", r2_delay, 0.51 if peak else 0.0),
            config=BASE.with_edits((EDIT,)) if fixed else BASE,
        ),
        "r3": Observation(
            "r3",
            when,
            rates=(
                InterfaceRate("eth1", 0.0, 0.0, 10000.0, True),
                InterfaceRate("eth2", 0.0, 0.0, 1000.0, True),
            ),
            errors=("snmp: timeout after 2.0 s (1 retry)",) if tick == TICKS else (),
            queues=_queues("eth1", {}, 0.0),
            config=BASE,
        ),
        "r4": Observation(
            "r4",
            when,
            rates=(
                InterfaceRate("eth1", 1000.0 * load, 238.3, 1000.0, True),
                InterfaceRate("eth2", 0.0, 0.0, 1000.0, True),
            ),
            queues=_queues("eth1", {cls: 0.163 for cls in TrafficClass}, 0.0),
            config=BASE,
        ),
    }


GUARDS_OK = [
    {"guard": "hysteresis", "passed": True, "detail": "violated 2 tick(s) in a row, acting at 2"},
    {"guard": "no-change-in-flight", "passed": True, "detail": "none in flight"},
    {"guard": "cooldown", "passed": True, "detail": "no earlier change"},
    {"guard": "rate-limit", "passed": True, "detail": "0 of 6 changes used in the last hour"},
]


def _explanation(tick: int, *, held: bool) -> dict[str, object]:
    guards = [dict(g) for g in GUARDS_OK]
    if held:
        guards[0] = {
            "guard": "hysteresis",
            "passed": False,
            "detail": "violated 1 tick(s) in a row, acting at 2",
        }
    explanation: dict[str, object] = {
        "target": "latencyMs lessThan 30",
        "observed": video_latency(tick),
        "expectation": "video-latency",
        "model": "latest probe sample (no model in this version)",
        "bottleneck": {
            "device": "r2",
            "interface": "eth2",
            "queue_delay_ms": 50.0,
            "drop_ratio": 0.377788,
            "utilization": 1.0,
        },
        "candidates": [{"device": "r2", "edit": EDIT.describe()}],
        "guards": guards,
    }
    if not held:
        explanation["chosen"] = CHANGE.id
    return explanation


def decisions(tick: int) -> tuple[Decision, ...]:
    """Each intent's decision in a tick."""
    when = at(tick)
    voice = Decision("voice-west-east", when, "fulfilled: no action", expectation="voice-latency")
    if tick == PEAK.start:
        video = Decision(
            "video-west-east",
            when,
            f"{REASON}: held back by hysteresis",
            explanation=_explanation(tick, held=True),
            expectation="video-latency",
            held=Hold.GUARD,
        )
    elif tick == CHANGE_TICK:
        video = Decision(
            "video-west-east",
            when,
            REASON,
            change=CHANGE,
            explanation=_explanation(tick, held=False),
            expectation="video-latency",
        )
    else:
        video = Decision("video-west-east", when, "fulfilled: no action")
    return (video, voice)


def statuses(tick: int) -> tuple[IntentStatus, ...]:
    """Each intent's fulfilment in a tick."""
    when = at(tick)
    latency = video_latency(tick)
    met = latency < 30
    reasons = () if met else (f"latencyMs is {latency:.0f}, needs latencyMs lessThan 30",)
    if CHANGE_TICK < tick <= CONFIRM_TICK:
        reasons = (*reasons, f"change {CHANGE.id} is being verified")
    video = IntentStatus(
        "video-west-east",
        FulfilmentStatus.FULFILLED if met else FulfilmentStatus.NOT_FULFILLED,
        None if met else NotFulfilledState.DEGRADED,
        (TargetStatus("video-latency", INTENTS[0].expectations[0].targets[0], latency, met),),
        reasons,
        when,
    )
    voice = IntentStatus(
        "voice-west-east",
        FulfilmentStatus.FULFILLED,
        None,
        (
            TargetStatus(
                "voice-latency",
                INTENTS[1].expectations[0].targets[0],
                7.2 + (tick % 5) * 0.1,
                True,
            ),
        ),
        (),
        when,
    )
    return (video, voice)


def report(tick: int) -> TickReport:
    """The tick's report, as the controller's observer hands it over."""
    return TickReport(
        number=tick,
        at=at(tick),
        duration=timedelta(milliseconds=42),
        statuses=statuses(tick),
        decisions=decisions(tick),
        observations=observations(tick),
    )


RESULT = ChangeResult(
    TXN,
    "video-west-east",
    "r2",
    ChangeStatus.CONFIRMED,
    f"{REASON}; verified: target met in 3 consecutive samples (latencyMs=8.95)",
    at(CHANGE_TICK),
    at(CONFIRM_TICK) + timedelta(milliseconds=61),
)

CHANGE_VIEW = ChangeView(
    txn=TXN,
    change_id=CHANGE.id,
    intent="video-west-east",
    devices=("r2",),
    status=ChangeStatus.CONFIRMED,
    started_at=RESULT.started,
    finished_at=RESULT.finished,
    reason=REASON,
    detail=RESULT.detail,
    edits=(DeviceEdit("r2", "add", "qos/class[name=video]/priority", None, "1"),),
    explanation=_explanation(CHANGE_TICK, held=False),
)

_STEPS: tuple[tuple[float, str, str, dict[str, object]], ...] = (
    (0.00, "planned", "r2", {"change_id": CHANGE.id, "reason": REASON, "devices": ["r2"]}),
    (0.04, "connected", "r2", {"capabilities": [":candidate", ":confirmed-commit", ":validate"]}),
    (0.05, "locked", "r2", {"target": "candidate"}),
    (0.09, "base-read", "r2", {"base": [["…", "…"]] * 4, "desired": [["…", "…"]] * 6}),
    (0.12, "validated", "r2", {"how": "inline <config>"}),
    (0.15, "candidate-edited", "r2", {"edits": [EDIT.describe()]}),
    (0.18, "compared", "r2", {"diff": [EDIT.describe(), "qos/class[name=video]/weight: - -> 10"]}),
    (0.22, "committed", "r2", {"confirmed": True, "confirm_timeout_s": 60.0, "persist_id": TXN}),
    (1.30, "verify-sample", "", {"met": True, "observed": 9.138, "detail": "latencyMs=9.14"}),
    (2.31, "verify-sample", "", {"met": True, "observed": 9.097, "detail": "latencyMs=9.1"}),
    (3.32, "verify-sample", "", {"met": True, "observed": 8.951, "detail": "latencyMs=8.95"}),
    (3.33, "verified", "", {"how": "target met in 3 consecutive samples (latencyMs=8.95)"}),
    (3.36, "confirmed", "r2", {}),
    (3.37, "finished:confirmed", "r2", {"detail": RESULT.detail, "error": None}),
)
TIMELINE = tuple(
    TimelineStep(n, RESULT.started + timedelta(seconds=s), step, device, detail)
    for n, (s, step, device, detail) in enumerate(_STEPS, start=1)
)


# ---------------------------------------------------------------- approvals, models, revisions

VOICE_EDIT = DeviceEdit("r3", "add", "qos/class[name=voice]/priority", None, "2")
APPROVALS = (
    ApprovalView(
        id="chg-7c2e9b41d0aa",
        intent="voice-west-east",
        devices=("r3",),
        edits=(VOICE_EDIT,),
        summary="raise voice priority 0 -> 2 on r3 (eth1 queues voice for 24.0 ms)",
        requested_at=at(27),
        status=ApprovalStatus.PENDING,
        explanation={
            "target": "latencyMs lessThan 20",
            "observed": 24.6,
            "expectation": "voice-latency",
            "model": "latest probe sample (no model in this version)",
            "bottleneck": {"device": "r3", "interface": "eth1", "queue_delay_ms": 24.0},
            "candidates": [{"device": "r3", "edit": VOICE_EDIT.describe()}],
            "guards": GUARDS_OK,
            "arbitration": {"winner": "voice-west-east", "over": ["video-west-east"]},
        },
    ),
    ApprovalView(
        id="chg-0b5f3e7a9c12",
        intent="voice-west-east",
        devices=("r2",),
        edits=(DeviceEdit("r2", "change", "qos/class[name=voice]/weight", "10", "20"),),
        summary="raise voice weight 10 -> 20 on r2",
        requested_at=at(4),
        status=ApprovalStatus.REJECTED,
        decided_at=at(6),
        reason="r2 is in a maintenance window tonight",
    ),
)

WAN_REFUSED = (
    "v1 is not the champion: validation mape 3.41 vs the seasonal-naive rule's 2.97 on the "
    "same data: does not beat the rule, which answers"
)
MODELS = ModelsView(
    store=".netpilot/models",
    models=(
        ModelView(
            ModelRecord(
                name="edge-load",
                kind=ModelKind.LOAD_FORECAST,
                champion=1,
                challenger=2,
                status=ModelStatus.ACTIVE,
                reason="first version",
                monitor=MonitorState(samples=312, error=0.081, baseline_error=0.094, drift=0.4),
                challenger_monitor=MonitorState(samples=312, error=0.069, drift=0.4),
                events=(
                    ModelEvent(
                        T0 - timedelta(days=3), EventKind.REGISTERED, 1, "first version: champion"
                    ),
                    ModelEvent(
                        T0 - timedelta(days=1),
                        EventKind.CHALLENGER,
                        2,
                        "runs in shadow of the champion",
                    ),
                ),
                last_trained=T0 - timedelta(days=1),
            ),
            (
                ModelVersion(
                    1,
                    "QuantileForecaster",
                    T0 - timedelta(days=3),
                    {"mape": 7.31, "reference_error": 0.0731},
                    ("load",),
                    6048,
                ),
                ModelVersion(
                    2,
                    "QuantileForecaster",
                    T0 - timedelta(days=1),
                    {"mape": 6.12, "reference_error": 0.0612},
                    ("load",),
                    6624,
                ),
            ),
        ),
        ModelView(
            ModelRecord(
                name="video-stall",
                kind=ModelKind.STALL,
                champion=3,
                status=ModelStatus.FALLBACK,
                reason="inputs drifted 5.2 sigma from training (limit 4)",
                monitor=MonitorState(samples=88, error=0.21, baseline_error=0.19, drift=5.2),
                events=(
                    ModelEvent(
                        T0 - timedelta(hours=2),
                        EventKind.FALLBACK,
                        3,
                        "inputs drifted 5.2 sigma from training (limit 4); "
                        "throughput-rule rule answers instead",
                    ),
                ),
            ),
            (
                ModelVersion(
                    3,
                    "StallClassifier",
                    T0 - timedelta(days=9),
                    {"f1": 0.83},
                    ("throughput", "chunk_interval"),
                    4120,
                ),
            ),
        ),
        # no champion: v1 lost to the rule on validation and runs in shadow beside it
        ModelView(
            ModelRecord(
                name="wan-load",
                kind=ModelKind.LOAD_FORECAST,
                challenger=1,
                status=ModelStatus.FALLBACK,
                reason=WAN_REFUSED,
                challenger_monitor=MonitorState(
                    samples=144, error=0.0168, baseline_error=0.0217, drift=0.3
                ),
                events=(
                    ModelEvent(T0 - timedelta(days=2), EventKind.PROMOTION_REFUSED, 1, WAN_REFUSED),
                ),
                last_trained=T0 - timedelta(days=2),
            ),
            (
                ModelVersion(
                    1,
                    "QuantileForecaster",
                    T0 - timedelta(days=2),
                    {"mape": 3.41, "seasonal_naive_mape": 2.97, "reference_error": 0.0341},
                    ("load",),
                    2016,
                ),
            ),
        ),
    ),
    in_use=False,
    usage="The controller does not use these models in its decisions yet (they decide on: "
    "latest probe sample (no model in this version))",
)

REVISION_A = "3f2a9c1d4e5b6a7980112233445566778899aabb"
REVISION_B = "9a8b7c6d5e4f30112233445566778899aabbccdd"
REVISION_BAD = "7e6d5c4b3a2910112233445566778899aabbccdd"
CONFLICT = ConflictView(
    kind="targetConflict",
    intents=("voice-west-east", "video-west-east"),
    description="both raise their class to the top scheduling priority on r2, r3",
    winner="voice-west-east",
    resolution="video-west-east may raise video at most to priority 1 on r2, r3",
)
REVISIONS = RevisionsView(
    store="/var/lib/netpilot/intents.sqlite",
    source="https://git.example.net/noc/intents.git#main",
    last_poll=at(29),
    poll_error="",
    steps=(
        RevisionStep(
            seq=3,
            revision=REVISION_BAD,
            source="git",
            author="bob",
            message="tighten voice",
            at=at(20),
            outcome="refused",
            reason="1 error",
            active=REVISION_B,
            errors=(
                "intents/west-east.yaml:33:29: spec.expectations[0].targets[0].value: "
                "must be a number (expected a number, e.g. 20)",
            ),
        ),
        RevisionStep(
            seq=2,
            revision=REVISION_B,
            source="git",
            author="alice",
            message="voice before video",
            at=T0 - timedelta(hours=1),
            outcome="admitted",
            reason="valid",
            active=REVISION_B,
            changes=("~ voice-west-east", "    spec.priority: 100 -> 120"),
            conflicts=(CONFLICT,),
            notes={"video-west-east": ("capped at priority 1 on r2, r3 by voice-west-east",)},
        ),
        RevisionStep(
            seq=1,
            revision=REVISION_A,
            source="git",
            author="alice",
            message="video and voice",
            at=T0 - timedelta(days=2),
            outcome="admitted",
            reason="valid",
            active=REVISION_A,
            changes=("+ video-west-east", "+ voice-west-east"),
        ),
    ),
    quarantined={
        "5d4c3b2a1f0e99887766554433221100ffeeddcc": "change chg-11aa22bb33cc failed verification"
    },
)
HISTORY = {
    "video-west-east": (
        IntentRevision(
            REVISION_A,
            "alice",
            "video and voice",
            T0 - timedelta(days=2),
            "admitted",
            "added",
            (),
            "5d1c0e9a77b2f041",
        ),
    ),
    "voice-west-east": (
        IntentRevision(
            REVISION_B,
            "alice",
            "voice before video",
            T0 - timedelta(hours=1),
            "admitted",
            "changed",
            ("spec.priority: 100 -> 120",),
            "a03e6f12c9d4b870",
        ),
        IntentRevision(
            REVISION_A,
            "alice",
            "video and voice",
            T0 - timedelta(days=2),
            "admitted",
            "added",
            (),
            "77c1b0a3e5d2f946",
        ),
    ),
}


def snapshot() -> ControllerSnapshot:
    """The controller as it stands after the last tick."""
    last = report(TICKS)
    return ControllerSnapshot(
        ticks=TICKS,
        intents=INTENTS,
        devices=DEVICES,
        statuses=last.statuses,
        observations=last.observations,
        decisions=last.decisions,
        in_flight={},
        held={},
    )


class FakeFacade:
    """The console's facade over fixed values; records what the console asked it to do."""

    def __init__(self, *, clock_at: datetime | None = None, store: bool = True) -> None:
        self.views: list[ChangeView] = [CHANGE_VIEW]
        self.timelines: dict[str, tuple[TimelineStep, ...]] = {TXN: TIMELINE}
        self.rollbacks: list[str] = []
        self.decisions: list[tuple[str, bool, str]] = []  # (approval, approved, reason)
        self.releases: list[tuple[str, str]] = []  # (change, reason)
        self.approval_views: list[ApprovalView] = list(APPROVALS)
        self.store = store  # an intent store (the daemon) or none (the demo)
        self.now = clock_at or at(TICKS) + timedelta(seconds=1)

    async def snapshot(self) -> ControllerSnapshot:
        return snapshot()

    async def changes(self, *, limit: int = 100) -> tuple[ChangeView, ...]:
        return tuple(self.views[:limit])

    async def change(self, txn: str) -> ChangeDetail | None:
        view = next((v for v in self.views if v.txn == txn), None)
        if view is None:
            return None
        return ChangeDetail(view, self.timelines.get(txn, ()))

    async def intent_source(self, name: str) -> IntentSource:
        intent = next((i for i in INTENTS if i.name == name), None)
        if intent is None or intent.location is None:
            raise ConfigFileError(name, "no such intent")
        first, last = document_span(INTENT_YAML, intent.location.line)
        return IntentSource(name, intent.generation, intent.location.file, INTENT_YAML, first, last)

    async def rollback(self, txn: str, *, force: bool = False) -> ChangeResult:
        self.rollbacks.append(txn)
        view = next((v for v in self.views if v.txn == txn), None)
        if view is None or not view.can_roll_back:
            raise ChangeError(txn, "only a confirmed change can be rolled back")
        new_txn = f"chg-0a1b2c3d4e5f-{len(self.rollbacks):08x}"
        result = ChangeResult(
            new_txn,
            view.intent,
            ",".join(view.devices),
            ChangeStatus.CONFIRMED,
            f"operator rollback of {txn}; verified: no target to verify",
            self.now,
            self.now + timedelta(milliseconds=250),
        )
        undo = replace(
            view,
            txn=new_txn,
            change_id="chg-0a1b2c3d4e5f",
            started_at=result.started,
            finished_at=result.finished,
            reason=f"operator rollback of {txn}",
            detail=result.detail,
            edits=tuple(replace(e, old=e.new, new=e.old) for e in view.edits),
            explanation={"rollback_of": txn, "forced": force},
            rollback_of=txn,
        )
        self.views = [
            undo,
            *(replace(v, rolled_back_by=new_txn) if v is view else v for v in self.views),
        ]
        return result

    async def approvals(self) -> tuple[ApprovalView, ...]:
        return tuple(sorted(self.approval_views, key=lambda a: a.requested_at, reverse=True))

    async def approve(self, approval_id: str, reason: str = "") -> ApprovalView:
        return self._decide(approval_id, approve=True, reason=reason)

    async def reject(self, approval_id: str, reason: str) -> ApprovalView:
        if not reason.strip():
            raise ChangeError(approval_id, "a rejection needs a reason")
        return self._decide(approval_id, approve=False, reason=reason)

    async def release(self, change_id: str, reason: str) -> tuple[str, tuple[str, ...]]:
        """A rejected approval's change is the one held back here."""
        self.releases.append((change_id, reason))
        held = next(
            (
                a
                for a in self.approval_views
                if a.id == change_id and a.status is ApprovalStatus.REJECTED
            ),
            None,
        )
        if held is None:
            raise ChangeError(change_id, "not quarantined")
        return change_id, (held.intent,)

    def _decide(self, approval_id: str, *, approve: bool, reason: str) -> ApprovalView:
        self.decisions.append((approval_id, approve, reason))
        view = next((a for a in self.approval_views if a.id == approval_id), None)
        if view is None or not view.pending:
            raise ChangeError(approval_id, "no such pending approval")
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        decided = replace(view, status=status, decided_at=self.now, reason=reason)
        self.approval_views = [decided if a.id == approval_id else a for a in self.approval_views]
        return decided

    async def models(self) -> ModelsView:
        return MODELS

    async def revisions(self) -> RevisionsView | None:
        return REVISIONS if self.store else None

    async def intent_history(self, name: str) -> tuple[IntentRevision, ...] | None:
        return HISTORY.get(name, ()) if self.store else None

    async def drain(self) -> None:
        return None


async def idle_runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
    """A runner with no controller: the messages come from :func:`feed`."""
    await stop.wait()
    return {"ticks": TICKS}


def fixed_clock() -> datetime:
    """The console's clock in the fixed evening."""
    return at(TICKS) + timedelta(seconds=1)


def synthetic_app(facade: FakeFacade | None = None) -> NetpilotApp:
    """The console on the fixed evening (feed it with :func:`feed` once it runs)."""
    return make_app(
        idle_runner,
        subtitle="embedded lab - scenario evening-peak",
        facade=facade or FakeFacade(),
        clock=fixed_clock,
    )


async def feed(app: NetpilotApp) -> None:
    """Post the evening's controller messages, in the order the controller sends them."""
    for tick in range(1, TICKS + 1):
        app.post_message(TickFinished(report(tick)))
        if tick == CHANGE_TICK:
            decision = next(d for d in decisions(tick) if d.change is not None)
            app.post_message(ChangeStarted(decision, TXN))
        if tick == CONFIRM_TICK:
            app.post_message(ChangeFinished(RESULT))


async def settle(app: NetpilotApp, pilot: Any) -> None:
    """Let every posted message and facade worker finish (not the runner), then render."""
    for _ in range(20):  # a worker may start another (snapshot -> changes -> detail)
        await pilot.pause()
        pending = [w for w in app.workers if w.group != "runner" and not w.is_finished]
        if not pending:
            break
        await asyncio.gather(*(w.wait() for w in pending), return_exceptions=True)
    app.refresh_screen()
    await pilot.pause()
