"""netpilot-lab XML parsing and rendering, hello capabilities: golden files and properties.

Pure, no network.

Golden cases live in ``tests/data/netconf/<case>/``: ``reply.xml`` (replies captured from
netconfd, or written by hand for state and malformed input) and ``expected.json``, which
holds either ``{"parser": ..., "expected": ...}`` or ``{"parser": ..., "error": ...}``.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from enum import Enum
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import Capability, capabilities_from_uris
from adapters.parsing.netpilot_lab import (
    NAMESPACE,
    NETCONF_NAMESPACE,
    parse_config,
    parse_state,
    render_config,
    render_edits,
)
from controller.errors import ProtocolError
from controller.model import (
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    InterfaceConfig,
    ShaperConfig,
    TrafficClass,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "netconf"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "reply.xml").exists())


def plain(value: object) -> object:
    """Dataclasses, tuples and enums as the JSON of expected.json."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def own_xml(text: str) -> ET.Element:
    """Parse XML this project rendered (trusted, no DTD) to inspect its structure."""
    return ET.fromstring(text)  # noqa: S314


def parse_case(case: str, reply: str | bytes) -> object:
    expected = json.loads((DATA / case / "expected.json").read_text())
    if expected["parser"] == "config":
        return plain(parse_config(reply, device="r1"))
    queues, probes = parse_state(reply, device="r1")
    return {"queues": plain(queues), "probes": plain(probes)}


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    expected = json.loads((DATA / case / "expected.json").read_text())
    reply = (DATA / case / "reply.xml").read_bytes()
    if "error" in expected:
        with pytest.raises(ProtocolError, match=expected["error"].replace("(", r"\(")) as err:
            parse_case(case, reply)
        assert err.value.device == "r1"
        assert err.value.retryable
    else:
        assert parse_case(case, reply) == expected["expected"]
        assert parse_case(case, reply.decode()) == expected["expected"]  # str works too


def test_semantically_equal_configs_compare_equal():
    parsed = {
        case: parse_config((DATA / case / "reply.xml").read_bytes(), device="r1")
        for case in ("netconfd-full", "netconfd-report-all", "netconfd-unfiltered")
    }
    # explicit defaults, other element order, other modules' data: the same configuration
    assert len(set(parsed.values())) == 1
    reordered = parse_config((DATA / "bare-config-element" / "reply.xml").read_bytes(), device="r1")
    assert reordered == parsed["netconfd-full"]
    assert reordered.diff(parsed["netconfd-report-all"]) == ()


def test_bare_container_parses():
    xml = f'<qos xmlns="{NAMESPACE}"><class><name>voice</name><priority>3</priority></class></qos>'
    assert parse_config(xml, device="r1") == DeviceConfig(
        classes=(ClassConfig(name=TrafficClass.VOICE, priority=3),)
    )


def test_empty_input_is_protocol_error():
    with pytest.raises(ProtocolError, match="malformed XML"):
        parse_config(b"", device="r1")


# --------------------------------------------------------------------------- render_edits


def edit(op: EditOp, *path: str, new: str | None = None) -> ConfigEdit:
    return ConfigEdit(op, path, None, new)


def test_render_edits_merges_per_entry_keys_first():
    xml = render_edits(
        (
            edit(EditOp.ADD, "qos", "class[name=video]", "priority", new="6"),
            edit(EditOp.REMOVE, "interfaces", "interface[name=eth1]", "description"),
            edit(EditOp.CHANGE, "qos", "class[name=video]", "weight", new="20"),
            edit(
                EditOp.ADD, "qos", "shaper[interface=ge-0/0/1][class=bulk]", "rate-mbps", new="100"
            ),
        )
    )
    assert xml == (
        f'<config xmlns="{NETCONF_NAMESPACE}" xmlns:nc="{NETCONF_NAMESPACE}">'
        f'<qos xmlns="{NAMESPACE}">'
        "<class><name>video</name><priority>6</priority><weight>20</weight></class>"
        "<shaper><interface>ge-0/0/1</interface><class>bulk</class><rate-mbps>100</rate-mbps>"
        "</shaper></qos>"
        f'<interfaces xmlns="{NAMESPACE}">'
        '<interface><name>eth1</name><description nc:operation="remove"/></interface>'
        "</interfaces></config>"
    )


def test_render_edits_remove_on_entry_and_container():
    xml = render_edits(
        (
            edit(EditOp.REMOVE, "qos", "class[name=video]"),
            edit(EditOp.REMOVE, "interfaces"),
            edit(EditOp.ADD, "qos", "class[name=voice]"),
        )
    )
    root = own_xml(xml)
    operation = f"{{{NETCONF_NAMESPACE}}}operation"
    qos, interfaces = root
    assert interfaces.tag == f"{{{NAMESPACE}}}interfaces"
    assert interfaces.get(operation) == "remove"
    removed, added = qos
    assert removed.get(operation) == "remove"
    assert [c.text for c in removed] == ["video"]
    assert added.get(operation) is None
    assert [c.text for c in added] == ["voice"]


def test_render_edits_escapes_values():
    xml = render_edits(
        (edit(EditOp.ADD, "interfaces", "interface[name=a&b]", "description", new="<x> & 'y'"),)
    )
    interface = own_xml(xml)[0][0]
    assert [c.text for c in interface] == ["a&b", "<x> & 'y'"]


def test_render_edits_of_nothing_is_an_empty_config():
    assert own_xml(render_edits(())).tag == f"{{{NETCONF_NAMESPACE}}}config"


@pytest.mark.parametrize(
    ("edits", "match"),
    [
        pytest.param([edit(EditOp.ADD, new="1")], "empty path", id="empty-path"),
        pytest.param(
            [edit(EditOp.ADD, "qos", "class[name=video", "priority", new="1")],
            "is not 'node'",
            id="unclosed-key",
        ),
        pytest.param([edit(EditOp.ADD, "qos", "9c", new="1")], "is not 'node'", id="not-ident"),
        pytest.param([edit(EditOp.ADD, "qos><evil", new="1")], "is not 'node'", id="markup"),
        pytest.param(
            [edit(EditOp.ADD, "qos", "class[name=a][name=b]", "weight", new="1")],
            "repeats a key",
            id="repeated-key",
        ),
        pytest.param(
            [edit(EditOp.ADD, "qos", "class[name=video]", "priority")],
            "needs a new value",
            id="no-new-value",
        ),
        pytest.param(
            [edit(EditOp.CHANGE, "qos", "class[name=video]", "name", new="voice")],
            "list key cannot be edited",
            id="key-leaf",
        ),
        pytest.param(
            [edit(EditOp.CHANGE, "qos", "class[name=video]", new="x")],
            "can only be added",
            id="change-an-entry",
        ),
        pytest.param(
            [edit(EditOp.ADD, "interfaces", "interface[name=e]", "description", new="\x00")],
            "XML cannot carry",
            id="nul",
        ),
        pytest.param(
            [
                edit(EditOp.ADD, "qos", "class[name=video]", "priority", new="1"),
                edit(EditOp.CHANGE, "qos", "class[name=video]", "priority", new="2"),
            ],
            "conflicts with another edit",
            id="two-values",
        ),
        pytest.param(
            [
                edit(EditOp.REMOVE, "qos", "class[name=video]"),
                edit(EditOp.ADD, "qos", "class[name=video]", "priority", new="1"),
            ],
            "conflicts with removing",
            id="edit-inside-removed",
        ),
        pytest.param(
            [
                edit(EditOp.ADD, "qos", "class[name=video]", "priority", new="1"),
                edit(EditOp.REMOVE, "qos", "class[name=video]"),
            ],
            "conflicts with another edit",
            id="remove-edited",
        ),
    ],
)
def test_render_edits_refuses(edits, match):
    with pytest.raises(ValueError, match=match):
        render_edits(edits)


# --------------------------------------------------------------------------- round trips

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/.", min_size=1, max_size=32)
classes = st.sampled_from(list(TrafficClass))
configs = st.builds(
    DeviceConfig,
    interfaces=st.lists(
        st.builds(
            InterfaceConfig,
            name=names,
            enabled=st.booleans(),
            metric=st.integers(1, 65535),
            description=st.text(
                alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=80
            ),
        ),
        max_size=4,
        unique_by=lambda i: i.name,
    ).map(tuple),
    classes=st.lists(
        st.builds(
            ClassConfig, name=classes, priority=st.integers(0, 7), weight=st.integers(1, 100)
        ),
        max_size=5,
        unique_by=lambda c: c.name,
    ).map(tuple),
    shapers=st.lists(
        st.builds(
            ShaperConfig, interface=names, traffic_class=classes, rate_mbps=st.integers(1, 400000)
        ),
        max_size=4,
        unique_by=lambda s: (s.interface, s.traffic_class),
    ).map(tuple),
)


def canonical(config: DeviceConfig) -> DeviceConfig:
    return DeviceConfig(
        interfaces=tuple(sorted(config.interfaces, key=lambda i: i.name)),
        classes=tuple(sorted(config.classes, key=lambda c: c.name.value)),
        shapers=tuple(sorted(config.shapers, key=lambda s: (s.interface, s.traffic_class.value))),
    )


@given(configs)
def test_render_config_round_trips(config):
    assert parse_config(render_config(config), device="r1") == canonical(config)


@given(configs, configs)
def test_diff_edits_render_to_well_formed_config(base, target):
    # DeviceConfig.diff joins paths with "/", so only names without one survive the split
    base, target = (
        dataclasses.replace(
            c,
            interfaces=tuple(i for i in c.interfaces if "/" not in i.name),
            shapers=tuple(s for s in c.shapers if "/" not in s.interface),
        )
        for c in (base, target)
    )
    edits = base.diff(target)
    root = own_xml(render_edits(edits))
    assert root.tag == f"{{{NETCONF_NAMESPACE}}}config"
    leaves = sum(1 for node in root.iter() if len(node) == 0)
    assert leaves >= len(edits)


# --------------------------------------------------------------------------- hello capabilities


@pytest.mark.parametrize(
    ("uris", "expected"),
    [
        pytest.param(
            [
                "urn:ietf:params:netconf:base:1.1",
                "urn:ietf:params:netconf:capability:candidate:1.0",
                "urn:ietf:params:netconf:capability:validate:1.1",
                "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
                "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
                "urn:ietf:params:netconf:capability:url:1.0?scheme=file",
            ],
            {
                Capability.CANDIDATE,
                Capability.VALIDATE,
                Capability.CONFIRMED_COMMIT,
                Capability.ROLLBACK_ON_ERROR,
            },
            id="netconfd-candidate",
        ),
        pytest.param(
            [
                "urn:ietf:params:netconf:capability:writable-running:1.0",
                "urn:ietf:params:netconf:capability:validate:1.0",
                "urn:ietf:params:netconf:capability:notification:1.0?x=y",
            ],
            {Capability.WRITABLE_RUNNING, Capability.VALIDATE, Capability.NOTIFICATION},
            id="running-only",
        ),
        pytest.param(
            # 1.0 has no <persist>/<persist-id>, which netpilot's commit needs
            ["urn:ietf:params:netconf:capability:confirmed-commit:1.0"],
            set(),
            id="confirmed-commit-1.0-is-not-enough",
        ),
    ],
)
def test_capabilities_from_hello_uris(uris, expected):
    assert capabilities_from_uris(uris) == expected
