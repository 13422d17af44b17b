"""Topology types, the shipped four-router lab and the YAML loader's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import TrafficClass
from lab.equipment import CarrierLayer
from lab.topology import (
    DeviceSpec,
    Link,
    LinkEnd,
    Role,
    Topology,
    TopologyError,
    default_lab,
    default_topology,
    load_lab,
    load_topology,
    metro_lab,
    startup_settings,
)

VALID = """\
name: tiny
devices:
  - {name: a, role: edge, site: west}
  - {name: b, role: core, site: west}
links:
  - name: a-b
    a: {device: a, port: eth1}
    b: {device: b, port: eth1}
    capacity_mbps: 1000
    delay_ms: 2
demands:
  - {origin: a, destination: b, class: video, peak_mbps: 10}
"""


def test_default_topology_is_the_four_router_lab():
    topology = default_topology()
    assert topology.device_names() == ("r1", "r2", "r3", "r4")
    assert topology.device("r1") == DeviceSpec("r1", Role.EDGE, "west", 1)
    assert topology.device("r4").role is Role.EDGE
    assert topology.device("r4").site == "east"
    assert topology.neighbours("r1") == ("r2", "r3")
    assert topology.neighbours("r4") == ("r2", "r3")
    assert [(p.name, p.if_index, str(p.peer)) for p in topology.ports("r1")] == [
        ("eth1", 1, "r2:eth1"),
        ("eth2", 2, "r3:eth1"),
    ]


def test_default_lab_prefers_the_path_via_r2():
    topology = default_topology()
    via_r2 = (
        topology.links_between("r1", "r2")[0].metric + topology.links_between("r2", "r4")[0].metric
    )
    via_r3 = (
        topology.links_between("r1", "r3")[0].metric + topology.links_between("r3", "r4")[0].metric
    )
    assert via_r2 < via_r3
    settings = startup_settings(topology)
    assert settings["r3"].interface("eth2").metric == topology.links_between("r3", "r4")[0].metric
    assert all(i.enabled for s in settings.values() for i in s.interfaces.values())


def test_default_lab_has_west_to_east_demand_in_every_class():
    demands = default_lab().demands
    west_east = {d.traffic_class for d in demands if (d.origin, d.destination) == ("r1", "r4")}
    assert west_east == set(TrafficClass)


def test_ports_are_in_natural_order_with_1_based_ifindex():
    devices = tuple(DeviceSpec(n, Role.CORE, "s", i) for i, n in enumerate(("x", "y", "z"), 1))
    links = (
        Link("l10", LinkEnd("x", "eth10"), LinkEnd("y", "eth1"), 100),
        Link("l2", LinkEnd("x", "eth2"), LinkEnd("z", "eth1"), 100),
    )
    topology = Topology(devices, links)
    assert [(p.name, p.if_index) for p in topology.ports("x")] == [("eth2", 1), ("eth10", 2)]
    assert topology.port("x", "eth10").peer == LinkEnd("y", "eth1")
    with pytest.raises(KeyError, match="no port"):
        topology.port("x", "eth3")
    with pytest.raises(KeyError, match="unknown device"):
        topology.ports("nope")


@pytest.mark.parametrize(
    ("devices", "links", "message"),
    [
        pytest.param(("a", "a"), (), "duplicate device", id="duplicate-device"),
        pytest.param(
            ("a", "b"), (("a", "eth1", "c", "eth1", 10.0),), "unknown device", id="unknown-device"
        ),
        pytest.param(
            ("a", "b", "c"),
            (("a", "eth1", "b", "eth1", 10.0), ("a", "eth1", "c", "eth1", 10.0)),
            "already used",
            id="reused-port",
        ),
        pytest.param(
            ("a", "b"), (("a", "eth1", "b", "eth1", 0.0),), "positive", id="zero-capacity"
        ),
        pytest.param(("a",), (("a", "eth1", "a", "eth2", 10.0),), "both ends", id="self-link"),
    ],
)
def test_topology_constructor_refuses_inconsistent_networks(devices, links, message):
    specs = tuple(DeviceSpec(n, Role.CORE, "s", i) for i, n in enumerate(devices, 1))
    built = tuple(
        Link(f"l{i}", LinkEnd(a, pa), LinkEnd(b, pb), cap)
        for i, (a, pa, b, pb, cap) in enumerate(links)
    )
    with pytest.raises(ValueError, match=message):
        Topology(specs, built)


def test_loader_reads_a_valid_file(tmp_path: Path):
    path = tmp_path / "tiny.yaml"
    path.write_text(VALID)
    spec = load_lab(path)
    assert spec.name == "tiny"
    link = spec.topology.link("a-b")
    assert (link.capacity_mbps, link.delay_ms, link.metric) == (1000.0, 2.0, 10)
    assert len(spec.demands) == 1
    assert spec.demands[0].traffic_class is TrafficClass.VIDEO
    assert load_topology(path) == spec.topology


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (id, edit of VALID, expected 1-based line, expected field, message fragment)
LOADER_ERRORS = [
    ("unknown-top-field", lambda t: t + "colour: blue\n", 13, "colour", "unknown field"),
    (
        "unknown-device-field",
        lambda t: _replace_line(
            t, "site: west}\n  - {name: b", "site: west, rack: 3}\n  - {name: b"
        ),
        3,
        "devices[0].rack",
        "unknown field",
    ),
    (
        "missing-site",
        lambda t: _replace_line(t, "{name: b, role: core, site: west}", "{name: b, role: core}"),
        4,
        "devices[1].site",
        "missing required field",
    ),
    (
        "duplicate-device",
        lambda t: _replace_line(t, "{name: b, role: core", "{name: a, role: core"),
        4,
        "devices[1].name",
        "duplicate device name",
    ),
    (
        "bad-role",
        lambda t: _replace_line(t, "role: core", "role: spine"),
        4,
        "devices[1].role",
        "expected one of core, aggregation, access, edge",
    ),
    (
        "link-to-unknown-device",
        lambda t: _replace_line(t, "b: {device: b, port: eth1}", "b: {device: c, port: eth1}"),
        8,
        "links[0].b.device",
        "unknown device 'c'",
    ),
    (
        "reused-port",
        lambda t: _replace_line(
            t,
            "demands:",
            "  - {a: {device: a, port: eth1}, b: {device: b, port: eth2}, capacity_mbps: 5}\n"
            "demands:",
        ),
        11,
        "links[1].a.port",
        "already used by link a-b",
    ),
    (
        "zero-capacity",
        lambda t: _replace_line(t, "capacity_mbps: 1000", "capacity_mbps: 0"),
        9,
        "links[0].capacity_mbps",
        "must be positive",
    ),
    (
        "negative-capacity",
        lambda t: _replace_line(t, "capacity_mbps: 1000", "capacity_mbps: -10"),
        9,
        "links[0].capacity_mbps",
        "must be positive",
    ),
    (
        "capacity-not-a-number",
        lambda t: _replace_line(t, "capacity_mbps: 1000", "capacity_mbps: fast"),
        9,
        "links[0].capacity_mbps",
        "expected a number",
    ),
    (
        "metric-out-of-range",
        lambda t: _replace_line(t, "delay_ms: 2", "delay_ms: 2\n    metric: 0"),
        11,
        "links[0].metric",
        "must be in 1..65535",
    ),
    (
        "negative-delay",
        lambda t: _replace_line(t, "delay_ms: 2", "delay_ms: -1"),
        10,
        "links[0].delay_ms",
        "must be >= 0",
    ),
    (
        "duplicate-key",
        lambda t: _replace_line(t, "delay_ms: 2", "delay_ms: 2\n    delay_ms: 3"),
        11,
        "links[0].delay_ms",
        "duplicate field",
    ),
    (
        "demand-unknown-class",
        lambda t: _replace_line(t, "class: video", "class: music"),
        12,
        "demands[0].class",
        "expected one of video",
    ),
    (
        "demand-unknown-device",
        lambda t: _replace_line(t, "destination: b", "destination: z"),
        12,
        "demands[0].destination",
        "unknown device 'z'",
    ),
    (
        "demand-to-itself",
        lambda t: _replace_line(t, "destination: b", "destination: a"),
        12,
        "demands[0].destination",
        "equals the origin",
    ),
    (
        "devices-not-a-list",
        lambda t: _replace_line(
            t,
            "devices:\n  - {name: a, role: edge, site: west}\n"
            "  - {name: b, role: core, site: west}",
            "devices: {a: 1}",
        ),
        2,
        "devices",
        "expected a list",
    ),
    # the parser notices the unclosed bracket at the end of the stream, one line further
    ("invalid-yaml", lambda t: t + "  - [unclosed\n", 14, "", "invalid YAML"),
]


@pytest.mark.parametrize(
    ("edit", "line", "field", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in LOADER_ERRORS],
)
def test_loader_errors_name_file_line_and_field(tmp_path: Path, edit, line, field, fragment):
    path = tmp_path / "broken.yaml"
    path.write_text(edit(VALID))
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert fragment in error.message
    where = f"{path}:{line}: {field + ': ' if field else ''}"
    assert str(error).startswith(where)


def test_loader_reports_an_unreadable_file(tmp_path: Path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(TopologyError) as caught:
        load_topology(missing)
    assert caught.value.path == str(missing)
    assert caught.value.line is None


def test_loader_refuses_an_empty_file(tmp_path: Path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(TopologyError, match="empty"):
        load_topology(path)


RADIO_SITE = """\
name: radio
devices:
  - {name: a, role: edge, site: west}
  - name: cell-site
    role: access
    site: west
    radio:
      profile: earth-macro
      cells:
        - name: a
          carriers:
            - {name: a-l800, capacity_mbps: 40, layer: coverage}
            - {name: a-n3500, capacity_mbps: 350, layer: capacity}
            - {name: a-n2600, capacity_mbps: 100}
links:
  - {a: {device: a, port: eth1}, b: {device: cell-site, port: eth1}, capacity_mbps: 1000}
"""


def test_a_carrier_names_its_layer_and_defaults_to_capacity(tmp_path: Path):
    path = tmp_path / "radio.yaml"
    path.write_text(RADIO_SITE)
    radio = load_topology(path).device("cell-site").radio
    assert radio is not None
    layers = {carrier.name: carrier.layer for _, carrier in radio.carriers()}
    assert layers == {
        "a-l800": CarrierLayer.COVERAGE,
        "a-n3500": CarrierLayer.CAPACITY,
        "a-n2600": CarrierLayer.CAPACITY,
    }
    assert [c.may_sleep for _, c in radio.carriers()] == [False, True, True]


def test_a_bad_carrier_layer_names_file_line_and_field(tmp_path: Path):
    path = tmp_path / "radio.yaml"
    path.write_text(_replace_line(RADIO_SITE, "layer: coverage", "layer: umbrella"))
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    error = caught.value
    field = "devices[1].radio.cells[0].carriers[0].layer"
    assert (error.path, error.line, error.field) == (str(path), 12, field)
    assert "expected one of coverage, capacity, got 'umbrella'" in error.message
    assert str(error).startswith(f"{path}:12: {field}: ")


def test_the_metro_lab_marks_its_coverage_and_capacity_layers():
    for device in metro_lab().topology.devices:
        if device.radio is None:
            continue
        for _, carrier in device.radio.carriers():
            expected = (
                CarrierLayer.COVERAGE if carrier.name.endswith("-l800") else CarrierLayer.CAPACITY
            )
            assert carrier.layer is expected, (device.name, carrier.name)
