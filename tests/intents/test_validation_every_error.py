"""Within ONE expectation, every independent error is reported in one run: the objects,
each target and the contexts are checked even after an earlier part failed."""

from __future__ import annotations

from intents.load import IntentSource, load_intent_set
from intents.support import FULL_SUPPORT
from tests.intents.conftest import DEVICES

BROKEN = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video}
spec:
  priority: 100
  expectations:
    - id: latency
      type: e2e-qos
      objects: {trafficClass: video, path: {from: r1, to: r9}}
      targets:
        - {name: latencyMs, condition: lessThan, value: 30, unit: s}
        - {name: lossRatio, condition: lessThan, value: 7}
      contexts:
        - {name: timeWindow, value: "25:00-26:00"}
"""


def test_every_error_of_one_expectation_is_reported_with_its_line():
    result = load_intent_set(
        [IntentSource("q.yaml", BROKEN)], inventory=DEVICES, support=FULL_SUPPORT
    )
    messages = [str(e) for e in result.errors]
    assert not result.ok
    # the unknown device (line 9), the wrong unit (line 11), the ratio above 1 (line 12),
    # the impossible time window (line 14): four errors, each at its own line
    assert [m.split(":")[1] for m in messages] == ["9", "11", "12", "14"], messages
    assert "'r9'" in messages[0]
    assert "unit" in messages[1]
    assert "25:00-26:00" in messages[3]
    assert result.intents == ()


def test_a_target_error_does_not_invent_a_missing_target_error():
    # energy-saving needs maxUtilization; when that very target fails to parse, only its own
    # error is reported, not also "needs a maxUtilization target"
    text = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: night}
spec:
  priority: 40
  expectations:
    - id: sleep
      type: energy-saving
      objects: {devices: [r1], resources: [links]}
      targets:
        - {name: powerReductionRatio, condition: greaterThanOrEqual, value: 0.2}
        - {name: maxUtilization, condition: lessThan, value: 0.8, unit: W}
"""
    result = load_intent_set(
        [IntentSource("e.yaml", text)], inventory=DEVICES, support=FULL_SUPPORT
    )
    messages = [str(e) for e in result.errors]
    assert len(messages) == 1, messages
    assert messages[0].startswith("e.yaml:12:"), messages


def test_a_subscriber_group_on_an_enforced_video_expectation_is_refused():
    # devices report subscribers without their group: honouring the file is impossible, and
    # acting for every subscriber of the nodes would act beyond it
    text = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: viewers}
spec:
  priority: 80
  expectations:
    - id: east
      type: video-experience
      objects: {select: {site: east}, subscriberGroup: residential}
      targets:
        - {name: stallRatio, condition: lessThan, value: 0.01}
"""
    refused = load_intent_set([IntentSource("v.yaml", text)], inventory=DEVICES)
    assert [str(e).split(": ")[1] for e in refused.errors] == [
        "spec.expectations[0].objects.subscriberGroup"
    ], [str(e) for e in refused.errors]
    assert str(refused.errors[0]).startswith("v.yaml:9:")
    # the schema itself allows it (a version that honours groups loads it)
    assert load_intent_set(
        [IntentSource("v.yaml", text)], inventory=DEVICES, support=FULL_SUPPORT
    ).ok


SPEC_BROKEN = """\
apiVersion: netpilot/v1
kind: Intent
metadata: {name: video}
spec:
  priority: high
  mode: x
  bogus: 1
  expectations:
    - id: latency
      type: e2e-qos
      objects: {trafficClass: video, path: {from: r1, to: r9}}
      targets:
        - {name: latencyMs, condition: lt, value: 30}
  guards: {maxChangesPerHour: -1, cooldownSeconds: 1e23}
"""


def test_every_spec_level_error_is_reported_with_its_line_and_field():
    result = load_intent_set(
        [IntentSource("a.yaml", SPEC_BROKEN)], inventory=DEVICES, support=FULL_SUPPORT
    )
    assert not result.ok and result.intents == ()
    found = [(e.location.file, e.location.line, e.field) for e in result.errors]
    assert found == [
        ("a.yaml", 5, "spec.priority"),
        ("a.yaml", 6, "spec.mode"),
        ("a.yaml", 7, "spec.bogus"),
        ("a.yaml", 11, "spec.expectations[0].objects.path.to"),
        ("a.yaml", 13, "spec.expectations[0].targets[0].condition"),
        ("a.yaml", 14, "spec.guards.maxChangesPerHour"),
        ("a.yaml", 14, "spec.guards.cooldownSeconds"),
    ], [str(e) for e in result.errors]
    assert "'high'" in str(result.errors[0]) and "'r9'" in str(result.errors[3])


def test_an_envelope_error_does_not_hide_the_spec_errors():
    text = SPEC_BROKEN.replace("kind: Intent", "kind: Intnet").replace("name: video", "name: V")
    result = load_intent_set([IntentSource("a.yaml", text)], inventory=DEVICES)
    fields = [e.field for e in result.errors]
    assert fields[:3] == ["kind", "metadata.name", "spec.priority"], fields
    assert "spec.expectations[0].objects.path.to" in fields


def test_a_number_out_of_bounds_is_echoed_as_written():
    text = SPEC_BROKEN.replace("priority: high", "priority: 100_000_000_000_000_000_000_000")
    (error, *_) = load_intent_set([IntentSource("a.yaml", text)], inventory=DEVICES).errors
    assert str(error).endswith("must be at most 1000, got 100_000_000_000_000_000_000_000")


def test_a_tab_gets_a_hint_and_an_empty_file_a_warning():
    tab = "apiVersion: netpilot/v1\nkind: Intent\nmetadata:\n\tname: x\n"
    (error,) = load_intent_set([IntentSource("t.yaml", tab)]).errors
    assert error.location.line == 4 and "tabs are not allowed for indentation" in str(error)
    result = load_intent_set([IntentSource("e.yaml", "# nothing yet\n")])
    assert result.ok and result.intents == ()
    (warning,) = result.warnings
    assert str(warning).startswith("e.yaml:1:1: warning: file has no intent")
