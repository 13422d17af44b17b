"""Core types: semantic configuration diffs and edits."""

from __future__ import annotations

import pytest

from controller.model import (
    ChangeSet,
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    InterfaceConfig,
    ShaperConfig,
    TrafficClass,
)

BASE = DeviceConfig(
    interfaces=(InterfaceConfig("eth1"), InterfaceConfig("eth2", enabled=False, metric=20)),
    classes=(ClassConfig(TrafficClass.BULK, 1, 20),),
    shapers=(ShaperConfig("eth1", TrafficClass.BULK, 400),),
)


def test_flatten_round_trips():
    assert DeviceConfig.from_flat(BASE.flatten()) == BASE


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "5"),
            id="add-class",
        ),
        pytest.param(
            ConfigEdit(EditOp.CHANGE, ("interfaces", "interface[name=eth2]", "metric"), "20", "30"),
            id="change-metric",
        ),
        pytest.param(
            ConfigEdit(
                EditOp.CHANGE,
                ("qos", "shaper[interface=eth1][class=bulk]", "rate-mbps"),
                "400",
                "200",
            ),
            id="change-shaper",
        ),
    ],
)
def test_with_edits_then_diff_gives_the_edit_back(edit):
    after = BASE.with_edits((edit,))
    diff = BASE.diff(after)
    changed = {e.path: e.new for e in diff}
    assert changed[edit.path] == edit.new
    assert after.diff(BASE) != ()  # and the way back is not empty


def test_unknown_path_is_refused():
    with pytest.raises(ValueError, match="unknown configuration path"):
        BASE.with_edits((ConfigEdit(EditOp.ADD, ("system", "hostname"), None, "x"),))


def test_change_id_is_stable_and_content_derived():
    edit = ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "0", "1")
    a = ChangeSet.make("i", "r2", (edit,), "why", base=BASE)
    b = ChangeSet.make("i", "r2", (edit,), "another reason", base=BASE)
    c = ChangeSet.make("i", "r2", (edit,), "why", base=DeviceConfig())
    assert a.id == b.id != c.id


def test_removed_entry_is_one_edit_and_applies_back():
    without_shaper = DeviceConfig(interfaces=BASE.interfaces, classes=BASE.classes)
    (edit,) = BASE.diff(without_shaper)
    assert edit.op is EditOp.REMOVE
    assert edit.path == ("qos", "shaper[interface=eth1][class=bulk]")
    assert BASE.with_edits((edit,)) == without_shaper


def test_key_values_may_contain_slashes():
    config = DeviceConfig(interfaces=(InterfaceConfig("ge-0/0/1", metric=30),))
    assert DeviceConfig.from_flat(config.flatten()) == config
    edit = ConfigEdit(
        EditOp.CHANGE, ("interfaces", "interface[name=ge-0/0/1]", "metric"), "30", "40"
    )
    assert config.with_edits((edit,)).interfaces[0].metric == 40
