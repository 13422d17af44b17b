"""Pure parts of the generic NETCONF operations: node edits, restore documents,
notifications, the capability model and the reconnect backoff. No network."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import (
    Capability,
    CommitMode,
    EditOperation,
    NodeEdit,
    capabilities_from_uris,
    commit_mode,
    missing_for_transaction,
)
from adapters.netconf import backoff_delay
from adapters.parsing.netpilot_lab import (
    NAMESPACE,
    NETCONF_NAMESPACE,
    module_config,
    parse_config,
    render_node_edits,
    render_restore,
)
from adapters.parsing.notification import NOTIFICATION_NAMESPACE, parse_notification
from controller.errors import ProtocolError
from controller.model import ClassConfig, DeviceConfig, InterfaceConfig, TrafficClass

NC = f"{{{NETCONF_NAMESPACE}}}"
NPL = f"{{{NAMESPACE}}}"


def own_xml(text: str) -> ET.Element:
    """Parse XML this project rendered (trusted, no DTD)."""
    return ET.fromstring(text)  # noqa: S314


def test_node_edits_put_the_operation_on_the_target_only():
    document = own_xml(
        render_node_edits(
            (
                NodeEdit(EditOperation.CREATE, ("qos", "class[name=video]", "priority"), "5"),
                NodeEdit(EditOperation.DELETE, ("qos", "shaper[interface=eth1][class=bulk]")),
                NodeEdit(EditOperation.REPLACE, ("interfaces", "interface[name=eth1]")),
                NodeEdit(
                    EditOperation.MERGE, ("interfaces", "interface[name=eth1]", "metric"), "7"
                ),
                NodeEdit(
                    EditOperation.REMOVE, ("interfaces", "interface[name=eth2]", "description")
                ),
            )
        )
    )
    qos = document.find(f"{NPL}qos")
    assert qos is not None and qos.get(f"{NC}operation") is None
    video = qos.find(f"{NPL}class")
    assert video is not None and [c.tag for c in video] == [f"{NPL}name", f"{NPL}priority"]
    assert video.find(f"{NPL}priority").get(f"{NC}operation") == "create"  # type: ignore[union-attr]
    shaper = qos.find(f"{NPL}shaper")
    assert shaper is not None and shaper.get(f"{NC}operation") == "delete"
    assert [c.text for c in shaper] == ["eth1", "bulk"]  # keys only
    eth1, eth2 = document.iterfind(f"{NPL}interfaces/{NPL}interface")
    assert eth1.get(f"{NC}operation") == "replace"
    assert eth1.find(f"{NPL}metric").get(f"{NC}operation") == "merge"  # type: ignore[union-attr]
    assert eth2.find(f"{NPL}description").get(f"{NC}operation") == "remove"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edits", "match"),
    [
        pytest.param(
            (NodeEdit(EditOperation.DELETE, ("qos", "class[name=video]"), "x"),),
            "takes no value",
            id="value-on-delete",
        ),
        pytest.param(
            (NodeEdit(EditOperation.MERGE, ("qos", "class[name=video]"), "x"),),
            "list entry takes no value",
            id="value-on-entry",
        ),
        pytest.param(
            (
                NodeEdit(EditOperation.REMOVE, ("qos",)),
                NodeEdit(EditOperation.MERGE, ("qos", "class[name=video]", "weight"), "3"),
            ),
            "conflicts with deleting",
            id="below-a-removal",
        ),
        pytest.param(
            (
                NodeEdit(EditOperation.CREATE, ("qos", "class[name=video]", "weight"), "3"),
                NodeEdit(EditOperation.REPLACE, ("qos", "class[name=video]", "weight"), "3"),
            ),
            "conflicts with create",
            id="two-operations",
        ),
        pytest.param(
            (NodeEdit(EditOperation.MERGE, ("qos", "class[name=video]", "name"), "voice"),),
            "key cannot be edited",
            id="key-leaf",
        ),
        pytest.param((NodeEdit(EditOperation.MERGE, ()),), "non-empty path", id="empty-path"),
    ],
)
def test_node_edits_refuse_contradictions(edits, match):
    with pytest.raises(ValueError, match=match):
        render_node_edits(edits)


REPLY = (
    f'<rpc-reply xmlns="{NETCONF_NAMESPACE}" message-id="1"><data>'
    '<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">'
    "<enable-nacm>true</enable-nacm></nacm>"
    f'<interfaces xmlns="{NAMESPACE}"><interface><name>eth1</name><metric>20</metric>'
    "<future-leaf>kept</future-leaf></interface></interfaces>"
    "</data></rpc-reply>"
)


def test_module_config_keeps_the_module_verbatim_and_nothing_else():
    saved = module_config(REPLY, device="r1")
    root = own_xml(saved)
    assert root.tag == f"{NC}config"
    assert [child.tag for child in root] == [f"{NPL}interfaces"]
    assert root.find(f".//{NPL}future-leaf") is not None  # not modelled, still saved
    assert parse_config(saved, device="r1") == DeviceConfig(
        interfaces=(InterfaceConfig(name="eth1", metric=20),)
    )


def test_restore_replaces_saved_containers_and_removes_new_ones():
    saved = module_config(REPLY, device="r1")
    current = (
        f'<rpc-reply xmlns="{NETCONF_NAMESPACE}"><data>'
        f'<interfaces xmlns="{NAMESPACE}"><interface><name>eth1</name><metric>99</metric>'
        f'</interface></interfaces><qos xmlns="{NAMESPACE}"><class><name>video</name>'
        "<priority>6</priority></class></qos></data></rpc-reply>"
    )
    root = own_xml(render_restore(saved, current, device="r1"))
    operations = {child.tag: child.get(f"{NC}operation") for child in root}
    assert operations == {f"{NPL}interfaces": "replace", f"{NPL}qos": "remove"}
    assert root.find(f".//{NPL}metric").text == "20"  # type: ignore[union-attr]
    assert len(root.find(f"{NPL}qos")) == 0  # type: ignore[arg-type]


def test_restore_refuses_malformed_input():
    with pytest.raises(ProtocolError):
        render_restore("<config", "<data/>", device="r1")


def notification(body: str, when: str = "2026-11-28T18:00:00.5+01:00") -> str:
    return (
        f'<notification xmlns="{NOTIFICATION_NAMESPACE}"><eventTime>{when}</eventTime>'
        f"{body}</notification>"
    )


def test_notification_is_parsed_to_utc_with_its_event():
    parsed = parse_notification(
        notification(
            '<netconf-config-change xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-notifications">'
            "<datastore>running</datastore></netconf-config-change>\n"
        ),
        device="r1",
    )
    assert parsed.device == "r1"
    assert parsed.event_time == datetime(2026, 11, 28, 17, 0, 0, 500000, tzinfo=UTC)
    assert (parsed.name, parsed.namespace) == (
        "netconf-config-change",
        "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications",
    )
    event = own_xml(parsed.xml)
    assert (
        event.find("{urn:ietf:params:xml:ns:yang:ietf-netconf-notifications}datastore") is not None
    )
    assert not parsed.xml.endswith("\n")


@pytest.mark.parametrize(
    ("xml", "match"),
    [
        pytest.param(notification("<x/>", when="yesterday"), "RFC 3339", id="bad-time"),
        pytest.param(notification("<x/>", when="2026-11-28T18:00:00"), "offset", id="no-offset"),
        pytest.param(notification(""), "event element", id="no-event"),
        pytest.param("<notification/>", "expected <notification>", id="wrong-namespace"),
        pytest.param(notification("<x>"), "malformed", id="not-well-formed"),
        pytest.param(
            '<!DOCTYPE n [<!ENTITY e "x">]>' + notification("<x/>"), "document type", id="dtd"
        ),
    ],
)
def test_malformed_notification_is_protocol_error(xml, match):
    with pytest.raises(ProtocolError, match=match):
        parse_notification(xml, device="r1")


@pytest.mark.parametrize(
    ("capabilities", "mode", "missing"),
    [
        pytest.param(
            {Capability.CANDIDATE, Capability.CONFIRMED_COMMIT, Capability.VALIDATE},
            CommitMode.NATIVE,
            (),
            id="candidate-device",
        ),
        pytest.param(
            {Capability.WRITABLE_RUNNING, Capability.VALIDATE},
            CommitMode.EMULATED,
            (Capability.CANDIDATE, Capability.CONFIRMED_COMMIT),
            id="running-only-device",
        ),
        pytest.param(
            {Capability.CANDIDATE},
            CommitMode.UNSUPPORTED,
            (Capability.CONFIRMED_COMMIT, Capability.VALIDATE),
            id="candidate-without-confirmed-commit",
        ),
    ],
)
def test_capability_model(capabilities, mode, missing):
    assert commit_mode(frozenset(capabilities)) is mode
    assert missing_for_transaction(frozenset(capabilities)) == missing


def test_xpath_and_interleave_come_from_the_hello():
    caps = capabilities_from_uris(
        [
            "urn:ietf:params:netconf:capability:xpath:1.0",
            "urn:ietf:params:netconf:capability:interleave:1.0",
            "urn:ietf:params:netconf:capability:confirmed-commit:1.0",  # 1.0 lacks persist
        ]
    )
    assert caps == {Capability.XPATH, Capability.INTERLEAVE}


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter():
    one, cap = timedelta(seconds=1), timedelta(seconds=60)
    assert [backoff_delay(n, one, cap, 1.0).total_seconds() for n in (1, 2, 3, 7, 8, 50)] == [
        1,
        2,
        4,
        60,
        60,
        60,
    ]
    assert backoff_delay(3, one, cap, 0.0) == timedelta(seconds=2)  # half at least
    assert backoff_delay(3, one, cap, 7.0) == timedelta(seconds=4)  # jitter clamped


def test_classes_survive_module_config_round_trip():
    config = DeviceConfig(classes=(ClassConfig(TrafficClass.VIDEO, priority=5),))
    reply = (
        f'<data xmlns="{NETCONF_NAMESPACE}"><qos xmlns="{NAMESPACE}"><class><name>video</name>'
        "<priority>5</priority></class></qos></data>"
    )
    assert parse_config(module_config(reply, device="r1"), device="r1") == config
