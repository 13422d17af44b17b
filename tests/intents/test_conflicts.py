"""Conflicts at admission, in 28.312 terms: detected, reported, resolved by priority."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.model import (
    Expectation,
    ExpectationType,
    Intent,
    IntentMode,
    Target,
    TargetCondition,
)
from intents import conflicts
from intents.conflicts import (
    ConflictKind,
    ConflictType,
    Interval,
    PathDevices,
    Resolution,
    resolve_conflicts,
    targets_contradict,
)
from intents.inventory import Inventory
from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from tests.intents.conftest import DEVICES, EXAMPLES, energy, qos, video

INVENTORY = Inventory.from_devices(DEVICES)


def resolve(
    *texts: str, inventory: Inventory | None = INVENTORY, path_devices: PathDevices | None = None
) -> Resolution:
    loaded = load_intent_set(
        [IntentSource(f"f{i}.yaml", t) for i, t in enumerate(texts)],
        inventory=inventory,
        support=FULL_SUPPORT,
    )
    assert loaded.ok, [str(e) for e in loaded.errors]
    return resolve_conflicts(
        loaded.intents,
        inventory=inventory,
        path_devices=path_devices,
        locations=loaded.locations,
    )


def enforced(resolution: Resolution, name: str) -> Intent:
    return next(i for i in resolution.enforced if i.name == name)


@pytest.mark.parametrize(
    ("a", "b", "meets"),
    [
        (Interval(0, 30, high_open=True), Interval(30, 100), False),
        (Interval(0, 30), Interval(30, 100), True),
        (Interval(0, 30), Interval(30, 100, low_open=True), False),
        (Interval(0, 10), Interval(5, 6), True),
        (Interval(5, 5), Interval(5, 5), True),
        (Interval(0, 1), Interval(2, 3), False),
    ],
)
def test_intervals(a, b, meets):
    assert a.intersects(b) is meets
    assert b.intersects(a) is meets


def test_targets_contradict_only_on_the_same_name():
    low = Target("latencyMs", TargetCondition.LESS_THAN, 20)
    high = Target("latencyMs", TargetCondition.GREATER_THAN, 50)
    loss = Target("lossRatio", TargetCondition.GREATER_THAN, 0.5)
    assert targets_contradict(ExpectationType.E2E_QOS, low, high)
    assert not targets_contradict(ExpectationType.E2E_QOS, low, loss)
    at_most = Target("latencyMs", TargetCondition.LESS_THAN_OR_EQUAL, 50)
    at_least = Target("latencyMs", TargetCondition.GREATER_THAN_OR_EQUAL, 50)
    assert not targets_contradict(ExpectationType.E2E_QOS, at_most, at_least)


def test_no_conflict_between_compatible_intents():
    resolution = resolve(qos("a", latency=30), qos("b", priority=50, latency=20))
    assert resolution.conflicts == () and resolution.ok
    assert {i.name for i in resolution.enforced} == {"a", "b"}


def test_contradictory_targets_on_the_same_path_are_a_target_conflict():
    loose = qos("loose", priority=50, latency=30).replace(
        "condition: lessThan, value: 30", "condition: greaterThan, value: 40"
    )
    resolution = resolve(qos("strict", priority=100, latency=20), loose)
    (conflict,) = resolution.conflicts
    assert conflict.kind is ConflictKind.CONTRADICTORY_TARGETS
    # the loser's only expectation is overridden: the whole intent loses
    assert conflict.type is ConflictType.INTENT
    assert conflict.intents == ("strict", "loose") and conflict.winner == "strict"
    assert conflict.targets == ("latencyMs",)
    assert "latencyMs lessThan 20 vs latencyMs greaterThan 40" in conflict.description
    assert str(conflict.locations[1]) == "f1.yaml:7:7"
    loser = enforced(resolution, "loose")
    assert loser.mode is IntentMode.DRY_RUN  # monitored, never acted on
    assert any("strict wins (priority 100 > 50)" in n for n in resolution.notes["loose"])
    assert enforced(resolution, "strict").mode is IntentMode.AUTO
    data = conflict.as_dict()
    assert data["conflictType"] == "intentConflict"
    assert data["conflictingIntents"] == ["strict", "loose"]
    assert data["recommendedSolutions"]


def test_a_partial_loss_suspends_only_the_conflicting_expectation():
    text = qos("mixed", priority=10).replace(
        "        - {name: latencyMs, condition: lessThan, value: 30}\n",
        "        - {name: latencyMs, condition: greaterThan, value: 40}\n"
        "    - id: loss\n      type: e2e-qos\n"
        "      objects: {trafficClass: voice, path: {from: r4, to: r1}}\n"
        "      targets: [{name: lossRatio, condition: lessThan, value: 0.01}]\n",
    )
    # a dry-run winner does not act, so only the target conflict (not the voice class) counts
    winner = qos("strict", priority=100, latency=20).replace(
        "  priority: 100\n", "  priority: 100\n  mode: dry-run\n"
    )
    resolution = resolve(winner, text)
    (conflict,) = resolution.conflicts
    assert conflict.type is ConflictType.TARGET
    loser = enforced(resolution, "mixed")
    assert [e.id for e in loser.expectations] == ["loss"]
    assert loser.mode is IntentMode.AUTO


def test_energy_saving_against_a_qos_path_narrows_the_energy_intent():
    resolution = resolve(
        qos("video", priority=100), energy("sleep", priority=40, select="{site: east}")
    )
    (conflict,) = resolution.conflicts
    assert conflict.kind is ConflictKind.SLEEP_VS_HEADROOM
    assert conflict.type is ConflictType.INTENT
    assert conflict.devices == ("r3", "r4")
    assert not conflict.certain  # without a topology every device may be on the path
    assert "sleep may put to sleep links of r3, r4" in conflict.description
    assert enforced(resolution, "sleep").mode is IntentMode.DRY_RUN


def test_with_a_topology_only_the_path_devices_are_taken_away():
    def path_devices(expectation: Expectation) -> frozenset[str]:
        return frozenset({"r1", "r2", "r4"})  # the preferred path r1-r2-r4

    resolution = resolve(
        qos("video", priority=100),
        energy("sleep", priority=40, select="{role: core}"),
        path_devices=path_devices,
    )
    (conflict,) = resolution.conflicts
    assert conflict.devices == ("r2",) and conflict.certain
    assert conflict.type is ConflictType.INTENT
    (expectation,) = enforced(resolution, "sleep").expectations
    assert expectation.objects.devices == ("r3",)  # r3 may still sleep
    assert enforced(resolution, "sleep").mode is IntentMode.AUTO
    assert "at r2" in conflict.resolution


def test_with_twin_arbitration_the_losing_energy_intent_keeps_acting_under_the_twin():
    # the controller checks every sleep plan on its what-if twin against the video path's
    # targets: the conflict is reported, and resolved at run time instead of at admission
    texts = [IntentSource("q.yaml", qos("video", priority=100))]
    texts.append(IntentSource("e.yaml", energy("sleep", priority=40, select="{site: east}")))
    loaded = load_intent_set(texts, inventory=INVENTORY, support=FULL_SUPPORT)
    resolution = resolve_conflicts(loaded.intents, inventory=INVENTORY, twin_arbitration=True)
    (conflict,) = resolution.conflicts
    assert conflict.kind is ConflictKind.SLEEP_VS_HEADROOM and conflict.winner == "video"
    assert "checked on the what-if twin" in conflict.resolution
    sleep = enforced(resolution, "sleep")
    original = next(i for i in loaded.intents if i.name == "sleep")
    assert sleep.mode is IntentMode.AUTO and sleep == original  # not narrowed
    assert any("refused where they are predicted to break" in n for n in resolution.notes["sleep"])
    # the twin does not predict stalls: against video experience the narrowing stays
    texts[0] = IntentSource("v.yaml", video("viewers", priority=80, select="{site: east}"))
    loaded = load_intent_set(texts, inventory=INVENTORY, support=FULL_SUPPORT)
    resolution = resolve_conflicts(loaded.intents, inventory=INVENTORY, twin_arbitration=True)
    assert [c.winner for c in resolution.conflicts] == ["viewers"]
    assert enforced(resolution, "sleep") != next(i for i in loaded.intents if i.name == "sleep")


def test_energy_winning_leaves_the_qos_intent_alone_but_says_why():
    resolution = resolve(
        qos("video", priority=10), energy("sleep", priority=900, select="{role: core}")
    )
    (conflict,) = resolution.conflicts
    assert conflict.winner == "sleep"
    assert enforced(resolution, "video").mode is IntentMode.AUTO
    assert enforced(resolution, "sleep").expectations[0].objects.devices == ()
    assert any("saves energy" in n for n in resolution.notes["video"])


def test_two_classes_demanding_top_priority_on_one_path():
    resolution = resolve(qos("video", priority=100), qos("voice", priority=60, cls="voice"))
    (conflict,) = resolution.conflicts
    assert conflict.kind is ConflictKind.PRIORITY_CONTENTION
    assert "video would lift video and voice would lift voice" in conflict.description
    assert enforced(resolution, "voice").mode is IntentMode.DRY_RUN


def test_video_experience_and_qos_for_video_do_not_contend():
    resolution = resolve(qos("video", priority=100), video("viewers", priority=80))
    assert resolution.conflicts == ()


def test_video_experience_against_qos_for_another_class():
    resolution = resolve(qos("bulk", priority=100, cls="bulk"), video("viewers", priority=80))
    (conflict,) = resolution.conflicts
    assert conflict.kind is ConflictKind.PRIORITY_CONTENTION
    # narrowing by the inventory: only east devices are the video intent's
    assert conflict.devices == ("r3", "r4")


def test_disjoint_selections_do_not_conflict():
    resolution = resolve(
        energy("sleep", priority=40, select="{site: east, role: core}"),
        video("viewers", priority=80, select="{site: west}"),
    )
    assert resolution.conflicts == ()


def test_deactivated_and_dry_run_intents_do_not_contend():
    voice = qos("voice", priority=60, cls="voice")
    off = voice.replace("  priority: 60\n", "  priority: 60\n  adminState: deactivated\n")
    dry = voice.replace("  priority: 60\n", "  priority: 60\n  mode: dry-run\n")
    assert resolve(qos(), off).conflicts == ()
    assert resolve(qos(), dry).conflicts == ()


def test_equal_priorities_cannot_be_resolved():
    resolution = resolve(qos("video", priority=70), qos("voice", priority=70, cls="voice"))
    assert not resolution.ok
    (error,) = resolution.errors
    assert "unresolvable intentConflict" in str(error)
    assert "give video or voice a higher priority" in str(error)
    assert str(error).startswith("f1.yaml:7:")
    assert resolution.conflicts[0].winner == ""


def test_without_an_inventory_conflicts_are_possible_not_certain():
    resolution = resolve(qos("video", priority=100), energy("sleep", priority=40), inventory=None)
    (conflict,) = resolution.conflicts
    assert not conflict.certain and conflict.devices == ()
    assert "pass --inventory" in conflict.description


def test_the_shipped_conflicting_pair():
    paths = sorted((EXAMPLES / "conflicts").glob("*.yaml"))
    texts = [p.read_text() for p in paths]
    resolution = resolve(*texts)
    (conflict,) = resolution.conflicts
    assert set(conflict.intents) == {"video-sla", "core-night-sleep"}
    assert conflict.winner == "video-sla"
    assert enforced(resolution, "core-night-sleep").mode is IntentMode.DRY_RUN


INTENT_TEXTS = st.one_of(
    st.builds(
        lambda n, p, c, lat, cond: qos(f"q{n}", priority=p, cls=c, latency=lat).replace(
            "condition: lessThan", f"condition: {cond}"
        ),
        st.integers(0, 99),
        st.integers(0, 5),
        st.sampled_from(["video", "voice", "bulk"]),
        st.sampled_from([5, 20, 30, 50]),
        st.sampled_from(["lessThan", "greaterThan", "lessThanOrEqual", "greaterThanOrEqual"]),
    ),
    st.builds(
        lambda n, p, sel: energy(f"e{n}", priority=p, select=sel),
        st.integers(0, 99),
        st.integers(0, 5),
        st.sampled_from(["{role: core}", "{site: east}", "{site: west, role: edge}"]),
    ),
    st.builds(
        lambda n, p, sel, stall: video(f"v{n}", priority=p, select=sel, stall=stall).replace(
            "condition: lessThan",
            "condition: greaterThan" if stall > 0.5 else "condition: lessThan",
        ),
        st.integers(0, 99),
        st.integers(0, 5),
        st.sampled_from(["{site: east}", "{role: edge}"]),
        st.sampled_from([0.01, 0.9]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(INTENT_TEXTS, min_size=2, max_size=7, unique_by=lambda t: t.split("\n")[2]))
def test_the_candidate_pairs_never_miss_a_conflict(texts):
    # the exhaustive pass over every pair is the specification of the bucketing shortcut
    fast = resolve(*texts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            conflicts,
            "_candidate_pairs",
            lambda active, profiles: {
                (i, j) for i in range(len(active)) for j in range(i + 1, len(active))
            },
        )
        slow = resolve(*texts)
    assert fast.conflicts == slow.conflicts
    assert fast.enforced == slow.enforced and fast.notes == slow.notes
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors]
