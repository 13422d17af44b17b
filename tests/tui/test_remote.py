"""The remote console's plumbing: the API's console endpoints, the event feed, the codec,
and the RemoteFacade, against a real Controller served by the real API server on a UNIX
socket (devices are adapters/fake.py, so every path is reached in milliseconds).

The same questions are asked of the in-process facade and of the remote one over HTTP: the
console must see the same values either way.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.fake import FakeDevice
from adapters.snmp import SnmpPoller
from analytics.forecast import SeasonalNaive
from analytics.registry import (
    ModelArtifact,
    ModelKind,
    MonitorState,
    TrainingWindow,
    register,
    shadow_comparison,
)
from analytics.watch import Anomaly, KpiKey
from controller.api import ApiServer
from controller.api_client import (
    ApiClient,
    ApiError,
    decode_decision,
    decode_intent,
    decode_observation,
    decode_result,
    decode_status,
    decode_tick,
)
from controller.api_handlers import (
    EventFeed,
    api_handler,
    encode_decision,
    encode_intent,
    encode_observation,
    encode_status,
    encode_tick,
)
from controller.cli_tui import daemon_address
from controller.config import ApplySettings, LoopSettings
from controller.errors import AuthError, ChangeError, ConfigFileError, SourceLocation
from controller.facade import InProcessFacade, RemoteFacade
from controller.gitops import DirectorySource, IntentSetManager
from controller.intent_store import IntentStore
from controller.journal import Journal
from controller.loop import Controller, TickReport
from controller.model import (
    ApprovalStatus,
    ChangeResult,
    ChangeStatus,
    ClassQueue,
    Decision,
    Device,
    DeviceConfig,
    Expectation,
    ExpectationObjects,
    ExpectationType,
    ExpectationVerb,
    Guards,
    Intent,
    IntentMode,
    NetconfEndpoint,
    PathRef,
    ProbeResult,
    Target,
    TargetCondition,
    TrafficClass,
)
from controller.models_store import ModelStore
from controller.sense import Sensor
from tests.tui import fixtures

VIDEO = TrafficClass.VIDEO
SLOW = (ProbeResult("r4", VIDEO, 45.0, 0.0),)
FAST = (ProbeResult("r4", VIDEO, 9.0, 0.0),)
TOKEN = "test-token-0123456789"
APPLY = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(milliseconds=50),
    verification_interval=timedelta(milliseconds=10),
    required_samples=2,
)
INTENT_TEXT = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video-west-east}
spec:
  priority: 100
"""

# the lab's four routers, for admitting intent revisions (labels matter to the checks)
INVENTORY = (
    Device("r1", "127.1.0.1", labels={"site": "west", "role": "edge"}),
    Device("r2", "127.1.0.2", labels={"site": "west", "role": "core"}),
    Device("r3", "127.1.0.3", labels={"site": "east", "role": "core"}),
    Device("r4", "127.1.0.4", labels={"site": "east", "role": "edge"}),
)
QOS = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {{name: {name}}}
spec:
  priority: {priority}
  expectations:
    - id: latency
      type: e2e-qos
      objects: {{trafficClass: {cls}, path: {{from: r1, to: r4}}}}
      targets:
        - {{name: latencyMs, condition: lessThan, value: {latency}}}
"""


# --------------------------------------------------------------------------- codec


def test_the_codec_carries_every_value_the_console_renders():
    for tick in (fixtures.PEAK.start, fixtures.TICKS):  # held back by a guard; r3 failing
        report = fixtures.report(tick)
        assert decode_tick(encode_tick(report)) == report
    anomaly = Anomaly(
        KpiKey("video", "latency", "latencyMs"), fixtures.T0, 16.25, 8.5, 5.31, 4.0, 301
    )
    report = replace(fixtures.report(fixtures.TICKS), anomalies=(anomaly,))
    assert decode_tick(encode_tick(report)) == report
    for observation in fixtures.observations(fixtures.TICKS).values():
        assert decode_observation(encode_observation(observation)) == observation
    for status in fixtures.statuses(fixtures.TICKS):
        assert decode_status(encode_status(status)) == status
    for intent in fixtures.INTENTS:
        assert decode_intent(encode_intent(intent)) == intent
    decision = next(d for d in fixtures.decisions(fixtures.CHANGE_TICK) if d.change)
    decoded = decode_decision(encode_decision(decision))
    # the base configuration stays in the daemon; everything the console shows arrives
    assert decoded.change is not None and decision.change is not None
    assert decoded.change.base is None and decoded.change.edits == decision.change.edits
    assert (decoded.summary, decoded.explanation, decoded.expectation) == (
        decision.summary,
        decision.explanation,
        decision.expectation,
    )
    result = ChangeResult(
        "t-1",
        "video",
        "r2,r3",
        ChangeStatus.FAILED,
        "could not restore r3",
        fixtures.T0,
        fixtures.T0,
        error={"type": "RollbackError", "retryable": False},
        outcomes={"r2": ChangeStatus.ROLLED_BACK, "r3": ChangeStatus.FAILED},
    )
    assert decode_result(result.as_dict()) == result


def test_the_event_feed_pages_and_says_what_was_missed():
    feed = EventFeed(size=3)
    assert feed.since(0) == {
        "stream": feed.stream,
        "latest": 0,
        "more": False,
        "missed": False,
        "events": [],
    }
    for tick in range(1, 6):
        feed.tick_finished(fixtures.report(tick))
    decision = fixtures.decisions(fixtures.CHANGE_TICK)[0]
    feed.change_started(decision, fixtures.TXN)
    feed.change_finished(fixtures.RESULT)
    page = feed.since(0, limit=2)
    # 7 events, 3 kept: 5 (tick), 6 (start), 7 (end); a client at 0 missed 1..4
    assert page["missed"] is True and page["more"] is True and page["latest"] == 6
    events = page["events"]
    assert isinstance(events, list)
    assert [e["kind"] for e in events] == ["tick", "change-started"]
    rest = feed.since(6)
    assert rest["missed"] is False and rest["more"] is False and rest["latest"] == 7
    kept = rest["events"]
    assert isinstance(kept, list)
    (finished,) = kept
    assert decode_result(finished["result"]) == fixtures.RESULT
    assert feed.since(7)["events"] == [] and feed.since(7)["latest"] == 7


def test_daemon_address_from_the_command_line_or_the_config(tmp_path):
    assert daemon_address(connect="unix:/run/np/netpilot.sock", token_file=None, config=None) == (
        "unix:/run/np/netpilot.sock",
        Path("/run/np/api-token"),
    )
    assert daemon_address(
        connect="127.0.0.1:8787", token_file=Path("/etc/np/token"), config=None
    ) == ("127.0.0.1:8787", Path("/etc/np/token"))
    with pytest.raises(ConfigFileError, match="needs --token-file"):
        daemon_address(connect="127.0.0.1:8787", token_file=None, config=None)
    for bad in ("unix:", "nohost", "host:port", "host:70000"):
        with pytest.raises(ConfigFileError):
            daemon_address(connect=bad, token_file=Path("t"), config=None)
    with pytest.raises(ConfigFileError, match="--connect"):
        daemon_address(connect=None, token_file=None, config=None)


def test_netpilot_tui_refuses_a_daemon_it_cannot_reach(tmp_path):
    netpilot = Path(sys.executable).parent / "netpilot"
    token = tmp_path / "api-token"
    token.write_text("x\n")
    token.chmod(0o600)
    process = subprocess.run(
        [str(netpilot), "tui", "--connect", f"unix:{tmp_path}/gone.sock", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    assert "no daemon listens there" in process.stderr
    assert '"error"' in process.stdout.strip().splitlines()[-1]


# --------------------------------------------------------------------------- a served controller


class Clock:
    """Real elapsed time plus a manual offset, so guards can be walked past their windows."""

    def __init__(self) -> None:
        self.base = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
        self.start = time.monotonic()
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base + timedelta(seconds=time.monotonic() - self.start) + self.offset


class FixOnChange:
    """Makes the path fast as soon as a change starts (the change 'works')."""

    def __init__(self, r1: FakeDevice) -> None:
        self.r1 = r1

    def controller_ready(self, controller: Controller) -> None:
        return None

    def tick_finished(self, report: object) -> None:
        return None

    def change_started(self, decision: Decision, txn: str) -> None:
        self.r1.probes = FAST

    def change_finished(self, result: ChangeResult) -> None:
        return None


@dataclass
class Served:
    """A controller, its API on a UNIX socket, and both facades over it."""

    controller: Controller
    fakes: dict[str, FakeDevice]
    clock: Clock
    local: InProcessFacade
    remote: RemoteFacade
    store: Path
    models: Path
    events: list[tuple[str, object]] = field(default_factory=list)

    async def ticks(self, count: int) -> None:
        for _ in range(count):
            await self.controller.tick()
            await self.controller.drain()
            self.clock.offset += timedelta(seconds=10)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # a UNIX socket path must stay under ~100 bytes: pytest's tmp_path can be longer
    path = Path(tempfile.mkdtemp(prefix="np-tui-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def serve_controller(
    tmp_path: Path, short_dir: Path, *, mode: IntentMode
) -> AsyncIterator[Served]:
    intents_file = tmp_path / "intents.yaml"
    intents_file.write_text(INTENT_TEXT)
    intent = Intent(
        name="video-west-east",
        expectations=(
            Expectation(
                id="video-latency",
                type=ExpectationType.E2E_QOS,
                verb=ExpectationVerb.ENSURE,
                objects=ExpectationObjects(traffic_class=VIDEO, path=PathRef("r1", "r4")),
                targets=(Target("latencyMs", TargetCondition.LESS_THAN, 30.0),),
            ),
        ),
        mode=mode,
        guards=Guards(cooldown=timedelta(seconds=60), max_changes_per_hour=3),
        generation="g1",
        location=SourceLocation(str(intents_file), 1, 1),
    )
    fakes = {
        "r1": FakeDevice("r1", probes=SLOW),
        "r2": FakeDevice("r2", queues=(ClassQueue("eth2", VIDEO, 600.0, 40.0, 0.1),)),
    }
    devices = [Device(n, "127.0.0.1", netconf=NetconfEndpoint(port=1, username="x")) for n in fakes]

    async def open_session(device: Device):
        return await fakes[device.name].open()

    clock = Clock()
    poller = SnmpPoller()
    sensor = Sensor(devices, open_session=open_session, poller=poller, clock=clock)
    controller = Controller(
        intents=[intent],
        devices=devices,
        sensor=sensor,
        open_config_session=open_session,
        journal=Journal(tmp_path / "journal.sqlite"),
        loop_settings=LoopSettings(interval=timedelta(seconds=10), violation_ticks=2),
        apply_settings=APPLY,
        clock=clock,
        observers=[FixOnChange(fakes["r1"])],
    )
    store = tmp_path / "intents.sqlite"  # next to the journal: both facades find it
    models = tmp_path / "models"

    async def reload() -> dict[str, object]:
        return {"applied": False}

    server = ApiServer(api_handler(controller, reload=reload, model_store=models), token=TOKEN)
    await server.start_unix(short_dir / "api.sock")
    client = ApiClient(server.address, TOKEN, timeout=10)
    served = Served(
        controller,
        fakes,
        clock,
        InProcessFacade(controller, model_store=models),
        RemoteFacade(client, interval=timedelta(milliseconds=20)),
        store,
        models,
    )
    try:
        yield served
    finally:
        await server.stop()
        await controller.drain()
        await sensor.close()
        await poller.close()
        controller.journal.close()


@pytest.fixture
async def served(tmp_path: Path, short_dir: Path) -> AsyncIterator[Served]:
    async for value in serve_controller(tmp_path, short_dir, mode=IntentMode.AUTO):
        yield value


@pytest.fixture
async def approving(tmp_path: Path, short_dir: Path) -> AsyncIterator[Served]:
    async for value in serve_controller(tmp_path, short_dir, mode=IntentMode.APPROVE):
        yield value


pytestmark = pytest.mark.integration  # HTTP over a UNIX socket


async def test_the_remote_facade_sees_what_the_in_process_one_sees(served):
    await served.ticks(3)
    local, remote = served.local, served.remote
    here, there = await local.snapshot(), await remote.snapshot()
    assert there.ticks == here.ticks == 3
    assert there.intents == here.intents
    assert there.devices == here.devices and there.statuses == here.statuses
    assert there.observations == here.observations
    assert [d.summary for d in there.decisions] == [d.summary for d in here.decisions]
    assert await remote.changes() == await local.changes()
    (view,) = await remote.changes()
    assert view.status is ChangeStatus.CONFIRMED and view.explanation["chosen"] == view.change_id
    assert await remote.change(view.txn) == await local.change(view.txn)
    assert await remote.change("no-such-txn") is None
    assert await remote.intent_source("video-west-east") == await local.intent_source(
        "video-west-east"
    )
    with pytest.raises(ConfigFileError):
        await remote.intent_source("nope")


async def test_a_rollback_from_the_remote_console_restores_the_device(served):
    await served.ticks(3)
    remote = served.remote
    (view,) = await remote.changes()
    assert served.fakes["r2"].running != DeviceConfig()
    result = await remote.rollback(view.txn)
    assert result.status is ChangeStatus.CONFIRMED, result.detail
    assert served.fakes["r2"].running == DeviceConfig()
    undo, original = await remote.changes()
    assert undo.rollback_of == view.txn and original.rolled_back_by == undo.txn
    detail = await remote.change(view.txn)
    assert detail is not None and detail.change.rolled_back_by == undo.txn
    with pytest.raises(ApiError, match="already rolled back") as refused:
        await remote.rollback(view.txn)
    assert refused.value.status == 409
    await remote.drain()


async def test_approve_and_reject_from_the_remote_console(approving):
    remote, controller = approving.remote, approving.controller
    await approving.ticks(2)
    (pending,) = await remote.approvals()
    assert pending.status is ApprovalStatus.PENDING and pending.devices == ("r2",)
    assert [e.describe() for e in pending.edits] == ["qos/class[name=video]/priority: (unset) -> 1"]
    assert pending.explanation["target"] == "latencyMs lessThan 30"
    assert (await approving.local.approvals()) == (pending,)
    # a rejection without a reason is refused before it reaches the daemon
    with pytest.raises(ChangeError, match="needs a reason"):
        await remote.reject(pending.id, "  ")
    assert controller.approvals[pending.id].status is ApprovalStatus.PENDING
    approved = await remote.approve(pending.id, "agreed with the NOC")
    assert approved.status is ApprovalStatus.APPROVED and approved.reason == "agreed with the NOC"
    with pytest.raises(ApiError, match="not pending"):
        await remote.reject(pending.id, "too late")
    await approving.ticks(1)
    (applied,) = await remote.approvals()
    assert applied.status is ApprovalStatus.APPLIED
    (change,) = await remote.changes()
    assert change.status is ChangeStatus.CONFIRMED


async def test_a_rejection_quarantines_the_plan(approving):
    remote, controller = approving.remote, approving.controller
    await approving.ticks(2)
    (pending,) = await remote.approvals()
    rejected = await remote.reject(pending.id, "r2 is in a maintenance window")
    assert rejected.status is ApprovalStatus.REJECTED
    assert "maintenance window" in controller.states["video-west-east"].quarantined[pending.id]
    await approving.ticks(2)
    assert await remote.changes() == ()
    assert approving.fakes["r2"].running == DeviceConfig()
    held = (await remote.snapshot()).held["video-west-east"]
    assert "rejected by an operator" in held[pending.id]


async def test_a_released_rejection_is_asked_again_from_the_remote_console(approving):
    remote, controller = approving.remote, approving.controller
    await approving.ticks(2)
    (pending,) = await remote.approvals()
    await remote.reject(pending.id, "r2 is in a maintenance window")
    status, body = await remote.client.request("GET", "/v1/quarantine")
    assert status == 200
    (held,) = body["quarantined"]
    assert (held["intent"], held["change"]) == ("video-west-east", pending.id)
    with pytest.raises(ChangeError, match="needs a reason"):
        await remote.release(pending.id, " ")
    assert await remote.release(pending.id, "the window is over") == (
        pending.id,
        ("video-west-east",),
    )
    assert controller.quarantined() == []
    with pytest.raises(ApiError, match="not quarantined") as refused:
        await remote.release(pending.id, "twice")
    assert refused.value.status == 409
    await approving.ticks(1)
    asked = [a for a in await remote.approvals() if a.status is ApprovalStatus.PENDING]
    assert [a.intent for a in asked] == ["video-west-east"]  # asked again, not applied
    assert await remote.changes() == ()


async def test_the_event_feed_reaches_the_remote_console_and_survives_a_lost_daemon(served):
    remote = served.remote
    seen: list[tuple[str, object]] = []
    problems: list[str] = []
    got_change = asyncio.Event()

    class Observer:
        def tick_finished(self, report: TickReport) -> None:
            seen.append(("tick", report.number))

        def change_started(self, decision: Decision, txn: str) -> None:
            seen.append(("started", txn))

        def change_finished(self, result: ChangeResult) -> None:
            seen.append(("finished", result.status))
            got_change.set()

        def connection_changed(self, problem: str) -> None:
            problems.append(problem)

    stop = asyncio.Event()
    await served.ticks(1)
    runner = asyncio.create_task(remote.run(Observer(), stop))
    await served.ticks(2)
    await asyncio.wait_for(got_change.wait(), timeout=10)
    (txn,) = [value for kind, value in seen if kind == "started"]
    assert [v for k, v in seen if k == "tick"] == [1, 2, 3]  # the tick before it attached too
    assert ("finished", ChangeStatus.CONFIRMED) in seen
    assert isinstance(txn, str) and txn.startswith("chg-")
    # the daemon goes away: the console says so and keeps trying
    remote.client.address = "unix:/nonexistent/api.sock"
    deadline = asyncio.get_running_loop().time() + 10
    while not problems:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.02)
    assert "not reachable" in problems[0]
    stop.set()
    summary = await asyncio.wait_for(runner, timeout=10)
    assert summary["events"] == len(seen)


async def test_a_wrong_token_is_an_auth_error(served):
    client = ApiClient(served.remote.client.address, "wrong")
    with pytest.raises(AuthError, match="refused the API token"):
        await RemoteFacade(client).snapshot()


async def test_models_and_revisions_read_the_same_stores_both_ways(served, tmp_path):
    local, remote = served.local, served.remote
    # no model store, no intent store yet: both say so
    empty = await remote.models()
    assert empty.models == () and not empty.in_use and empty == await local.models()
    assert "does not use these models" in empty.usage
    # a model without a champion: the Models screen shows its challenger's shadow run
    # against the rule, from the record the API carries (the challenger's monitor holds
    # the rule's error), so the remote console shows what the local one does
    shadowed = ModelStore(served.models)
    version = ModelArtifact(
        name="wan-load",
        version=1,
        kind=ModelKind.LOAD_FORECAST,
        model=SeasonalNaive(season_length=4).fit([1.0, 2.0, 3.0, 4.0]).to_dict(),
        features=("load",),
        training_window=TrainingWindow(fixtures.T0 - timedelta(days=7), fixtures.T0, 2016),
        metrics={"mape": 3.41, "seasonal_naive_mape": 2.97, "reference_error": 0.0341},
        created_at=fixtures.T0,
    )
    shadowed.save_artifact(version)
    record = replace(
        register(None, version, now=fixtures.T0),
        challenger_monitor=MonitorState(samples=144, error=0.0168, baseline_error=0.0217),
    )
    shadowed.save_record(record)
    models = await remote.models()
    assert models == await local.models()
    (model,) = models.models
    assert (model.record.champion, model.record.challenger) == (None, 1)
    assert model.shadow is not None and model.shadow == shadow_comparison(record)
    assert model.shadow.incumbent == "the seasonal-naive rule"
    assert await remote.revisions() is None and await local.revisions() is None
    assert await remote.intent_history("video-west-east") is None
    # three revisions of a directory: two admitted (the second conflicts), one refused
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    store = IntentStore(served.store)
    manager = IntentSetManager(store, inventory=INVENTORY)
    source = DirectorySource(source_dir)
    (source_dir / "video.yaml").write_text(
        QOS.format(name="video", priority=100, cls="video", latency=30)
    )
    manager.admit(source.read())
    (source_dir / "voice.yaml").write_text(
        QOS.format(name="voice", priority=10, cls="voice", latency=20)
    )
    (source_dir / "video.yaml").write_text(
        QOS.format(name="video", priority=120, cls="video", latency=30)
    )
    manager.admit(source.read())
    (source_dir / "broken.yaml").write_text(
        QOS.format(name="broken", priority=5, cls="bulk", latency="soon")
    )
    manager.admit(source.read())
    store.close()
    view = await remote.revisions()
    assert view is not None and view == await local.revisions()
    assert [s.outcome for s in view.steps] == ["refused", "admitted", "admitted"]
    active = view.active
    assert active is not None and active.revision == view.steps[1].revision
    (refusal,) = view.refusals
    assert refusal.errors and "broken.yaml" in refusal.errors[0]
    assert active.conflicts and {"video", "voice"} == set(active.conflicts[0].intents)
    assert "~ video" in active.changes and "    spec.priority: 100 -> 120" in active.changes
    history = await remote.intent_history("video")
    assert history is not None and history == await local.intent_history("video")
    assert [(h.change, h.fields) for h in history] == [
        ("changed", ("spec.priority: 100 -> 120",)),
        ("added", ()),
    ]
