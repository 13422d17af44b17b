"""RFC 5277 notifications from the lab NETCONF server, received by ncclient."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.lab_netconf.conftest import Device, interfaces, parse_xml

pytestmark = pytest.mark.integration

NOTIFICATION_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
LAB_NS = "urn:netpilot:lab"


async def _next(client) -> ET.Element:
    notification = await client.call("take_notification", True, 5.0)
    assert notification is not None, "no notification arrived"
    return parse_xml(notification.notification_xml.encode())


async def test_a_subscriber_gets_link_state_notifications(device: Device) -> None:
    client = await device.connect()
    assert "urn:ietf:params:netconf:capability:notification:1.0" in client.server_capabilities
    await client.create_subscription()
    sent = device.server.notify("link-state-change", {"interface": "eth2", "oper-status": "down"})
    assert sent == 1
    root = await _next(client)
    assert root.find(f"{{{NOTIFICATION_NS}}}eventTime") is not None
    change = root.find(f"{{{LAB_NS}}}link-state-change")
    assert change is not None
    assert change.findtext(f"{{{LAB_NS}}}interface") == "eth2"
    assert change.findtext(f"{{{LAB_NS}}}oper-status") == "down"


async def test_a_commit_sends_config_change_and_filters_select(device: Device) -> None:
    filtered = await device.connect()
    everything = await device.connect()
    await filtered.create_subscription(
        filter=("subtree", f'<power-state-change xmlns="{LAB_NS}"/>')
    )
    await everything.create_subscription()
    await everything.edit_config(
        target="candidate",
        config=f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f"{interfaces('<name>eth9</name>')}</config>",
    )
    await everything.commit()
    root = await _next(everything)
    change = root.find(f"{{{LAB_NS}}}config-change")
    assert change is not None and change.findtext(f"{{{LAB_NS}}}reason") == "commit"
    assert change.findtext(f"{{{LAB_NS}}}session-id") == str(everything.session_id)
    # the filtered session got nothing for the config change, but does get power changes
    device.server.notify("power-state-change", {"component": "eth9", "power-state": "sleep"})
    root = await _next(filtered)
    assert root.find(f"{{{LAB_NS}}}power-state-change") is not None
    assert root.find(f"{{{LAB_NS}}}config-change") is None


async def test_a_second_subscription_and_replay_are_refused(device: Device) -> None:
    from ncclient.operations import RPCError

    client = await device.connect()
    await client.create_subscription()
    with pytest.raises(RPCError) as caught:
        await client.create_subscription()
    assert caught.value.tag == "in-use"
    other = await device.connect()
    with pytest.raises(RPCError) as caught:
        await other.create_subscription(start_time="2026-01-01T00:00:00Z")
    assert caught.value.tag == "operation-not-supported"
