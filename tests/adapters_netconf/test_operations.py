"""Generic NETCONF operations against Debian's netconfd: filters, edit operations, plain
commit, notifications; and the capability checks that keep them off devices that lack them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import (
    Capability,
    EditOperation,
    NodeEdit,
    SubtreeFilter,
    XPathFilter,
)
from adapters.netconf import NetconfClient, NetconfSession, open_session
from adapters.parsing.netpilot_lab import NAMESPACE, parse_config, parse_state
from controller.errors import AdapterTimeoutError, MissingCapabilityError, RpcError
from controller.model import (
    ClassConfig,
    ClassQueue,
    DeviceConfig,
    InterfaceConfig,
    ProbeResult,
    TrafficClass,
)
from tests.adapters_netconf.conftest import commit_edits
from tests.adapters_netconf.test_session import BASE, BASE_EDITS
from tests.contract.conftest import lab_server, proxied_lab

pytestmark = [pytest.mark.integration, pytest.mark.interop]

NPL = (("npl", NAMESPACE),)
EVENTS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"


@pytest.fixture
async def at_base(session: NetconfSession, persist_ids) -> NetconfSession:
    await commit_edits(session, BASE_EDITS, persist_ids())
    assert await session.get_running() == BASE
    return session


async def test_subtree_filter_selects_one_list_entry(at_base):
    reply = await at_base.get_config(
        "running",
        SubtreeFilter(f'<qos xmlns="{NAMESPACE}"><class><name>voice</name></class></qos>'),
    )
    assert parse_config(reply, device="nc1") == DeviceConfig(
        classes=(ClassConfig(TrafficClass.VOICE, priority=7),)
    )


async def test_xpath_filter_selects_with_a_predicate(at_base):
    assert Capability.XPATH in at_base.capabilities
    reply = await at_base.get_config(
        "candidate", XPathFilter("/npl:interfaces/npl:interface[npl:metric > 25]", NPL)
    )
    assert parse_config(reply, device="nc1") == DeviceConfig(
        interfaces=(InterfaceConfig(name="ge-0/0/1", metric=30),)
    )
    state = await at_base.get(XPathFilter("/npl:state", NPL))
    assert parse_state(state, device="nc1") == ((), ())  # netconfd has no state data


async def test_edit_operations_create_delete_remove_replace(at_base, persist_ids):
    session = at_base
    video = ("qos", "class[name=video]")
    await session.lock()
    with pytest.raises(RpcError) as exists:
        await session.edit((NodeEdit(EditOperation.CREATE, (*video, "priority"), "6"),))
    assert exists.value.tag == "data-exists"
    with pytest.raises(RpcError) as missing:
        await session.edit((NodeEdit(EditOperation.DELETE, ("qos", "class[name=bulk]")),))
    assert missing.value.tag == "data-missing"
    await session.edit(  # remove of what is absent is no error
        (
            NodeEdit(EditOperation.REMOVE, ("qos", "class[name=bulk]")),
            # replace the entry: weight (20) not given returns to its default
            NodeEdit(EditOperation.REPLACE, video),
            NodeEdit(EditOperation.MERGE, (*video, "priority"), "6"),
            NodeEdit(EditOperation.CREATE, ("qos", "class[name=gaming]", "weight"), "30"),
        )
    )
    candidate = await session.get_candidate()
    assert candidate.class_config(TrafficClass.VIDEO) == ClassConfig(TrafficClass.VIDEO, priority=6)
    assert candidate.class_config(TrafficClass.GAMING).weight == 30
    await session.commit_now()
    assert await session.get_running() == candidate
    await session.unlock()


async def test_edit_of_running_needs_writable_running(at_base, netconfd_lab):
    with pytest.raises(MissingCapabilityError, match="writable-running"):
        await at_base.edit(
            (NodeEdit(EditOperation.MERGE, ("qos", "class[name=video]", "weight"), "9"),),
            target="running",
        )
    async with await open_session(netconfd_lab["running"].device()) as running_only:
        await running_only.edit(
            (NodeEdit(EditOperation.MERGE, ("qos", "class[name=video]", "weight"), "9"),),
            target="running",
        )
        assert (await running_only.get_running()).class_config(TrafficClass.VIDEO).weight == 9
        await running_only.edit((NodeEdit(EditOperation.REMOVE, ("qos",)),), target="running")
        assert await running_only.get_running() == DeviceConfig()


async def test_notifications_of_a_commit_arrive_on_a_subscribed_session(session, nc1, persist_ids):
    client = NetconfClient([nc1.device()])
    try:
        stream = await client.subscribe(
            "nc1", filter=SubtreeFilter(f'<netconf-config-change xmlns="{EVENTS}"/>')
        )
        await commit_edits(session, BASE_EDITS, persist_ids())  # from another session
        seen = await stream.next(5.0)
        assert (seen.device, seen.name, seen.namespace) == ("nc1", "netconf-config-change", EVENTS)
        event = ET.fromstring(seen.xml)  # noqa: S314 (our parser's output: no DTD)
        targets = {t.text for t in event.iter(f"{{{EVENTS}}}target")}
        assert targets == {"/npl:qos", "/npl:interfaces"}  # what the commit changed
        assert seen.event_time.tzinfo is not None
        # the filter kept session start/end events out; nothing else is queued
        with pytest.raises(AdapterTimeoutError):
            await stream.next(0.3)
        assert stream.dropped == 0
        await stream.close()
        assert client.status("nc1").sessions_idle == 0  # a subscribed session is never reused
    finally:
        await client.close()


async def test_interleave_lets_a_subscribed_session_carry_rpcs(session):
    assert Capability.INTERLEAVE in session.capabilities
    stream = await session.subscribe()
    assert await session.get_running() == DeviceConfig()
    with pytest.raises(RpcError):  # a second subscription on one session is refused
        await session.subscribe()
    assert stream.dropped == 0


@pytest.fixture
async def lab_session(tmp_path: Path) -> AsyncIterator[NetconfSession]:
    async with lab_server(tmp_path) as target:
        proxy, device = await proxied_lab(target, tmp_path)
        client = NetconfClient([device])
        try:
            async with client.session("lab1") as session:
                yield session
        finally:
            await client.close()
            await proxy.stop()


async def test_xpath_is_refused_by_capability_before_sending(lab_session):
    # the lab's server does not announce :xpath (it would answer bad-attribute)
    assert Capability.XPATH not in lab_session.capabilities
    with pytest.raises(MissingCapabilityError, match=":xpath"):
        await lab_session.get(XPathFilter("/npl:state", NPL))
    with pytest.raises(MissingCapabilityError, match=":xpath"):
        await lab_session.get_config("running", XPathFilter("/npl:qos", NPL))
    assert lab_session.alive  # nothing was sent
    reply = await lab_session.get_config("running", SubtreeFilter(f'<qos xmlns="{NAMESPACE}"/>'))
    assert parse_config(reply, device="lab1") == DeviceConfig()


async def test_malformed_filter_is_a_value_error(lab_session):
    with pytest.raises(ValueError, match="malformed filter"):
        await lab_session.get(SubtreeFilter("<qos"))


async def test_config_and_state_in_one_get(at_base, lab_session):
    assert await at_base.get_config_and_state() == (BASE, (), ())  # netconfd: no state
    config, queues, probes = await lab_session.get_config_and_state()
    assert config == DeviceConfig()
    assert queues == (ClassQueue("eth1", TrafficClass.VIDEO, 120.5, 3.25, 0.001),)
    assert probes == (ProbeResult("r2", TrafficClass.VIDEO, 12.5, 0.0),)
    assert (queues, probes) == await lab_session.get_state()
