"""LabNetconfServer against a real NETCONF client (ncclient 0.7.1) over SSH on loopback."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import asyncssh
import pytest
from ncclient.operations import RPCError
from ncclient.transport.errors import AuthenticationError
from ncclient.xml_ import to_ele

from tests.lab_netconf.conftest import (
    BASE_NS,
    LAB_NS,
    Device,
    config,
    config_element,
    interfaces,
    lab,
    parse_xml,
)

pytestmark = pytest.mark.integration

N = f'xmlns="{LAB_NS}"'
PROTOCOL_CAPABILITIES = {
    "urn:ietf:params:netconf:base:1.0",
    "urn:ietf:params:netconf:base:1.1",
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
}
MODULE_CAPABILITY = "urn:netpilot:lab?module=netpilot-lab&revision=2026-12-01"


def data_of(reply) -> ET.Element:
    data = parse_xml(reply.xml.encode()).find(f"{{{BASE_NS}}}data")
    assert data is not None
    return data


def interface_names(datastore: ET.Element) -> list[str]:
    return [
        name.text or ""
        for name in datastore.iterfind(f"{lab('interfaces')}/{lab('interface')}/{lab('name')}")
    ]


def pending(dev: Device) -> bool:
    """Whether the device has a confirmed commit awaiting confirmation."""
    return dev.server.confirmed_commit_pending


def add_interface(name: str, extra: str = "") -> str:
    return config(interfaces(f"<name>{name}</name>{extra}"))


# -- session basics ---------------------------------------------------------------------


async def test_hello_announces_capabilities_and_session_id(device: Device) -> None:
    client = await device.connect()
    assert set(client.server_capabilities) == PROTOCOL_CAPABILITIES | {MODULE_CAPABILITY}
    assert client.session_id in device.server.session_ids
    other = await device.connect()
    assert other.session_id != client.session_id


async def test_devices_on_their_own_loopback_addresses(new_device) -> None:
    first = await new_device(
        host="127.0.1.2", initial_config=config_element(interfaces("<name>a1</name>"))
    )
    # the same port on another loopback address: each emulated device has its own address
    second = await new_device(
        host="127.0.1.3",
        port=first.port,
        initial_config=config_element(interfaces("<name>b1</name>")),
    )
    assert second.port == first.port
    a = await first.connect()
    b = await second.connect()
    await a.edit_config(target="candidate", config=add_interface("a2"))
    await a.commit()
    assert interface_names(await first.backend.next_change()) == ["a1", "a2"]
    assert interface_names(data_of(await a.get_config(source="running"))) == ["a1", "a2"]
    assert interface_names(data_of(await b.get_config(source="running"))) == ["b1"]
    assert second.backend.change_count == 0


async def test_wrong_password_is_refused(device: Device) -> None:
    with pytest.raises(AuthenticationError):
        await device.connect(password="wrong")


async def test_public_key_authentication(new_device, tmp_path) -> None:
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "client_ed25519"
    client_key.write_private_key(str(key_file))
    dev = await new_device(authorized_client_keys=[client_key])
    client = await dev.connect(password=None, key_filename=str(key_file), username="operator")
    assert client.session_id in dev.server.session_ids


async def test_close_session_ends_the_session(device: Device) -> None:
    client = await device.connect()
    session_id = client.session_id
    await client.close_session()
    assert session_id not in device.server.session_ids


# -- get and get-config ---------------------------------------------------------------

INITIAL = (
    f"<interfaces {N}><interface><name>eth1</name><metric>5</metric></interface>"
    "<interface><name>eth2</name><enabled>false</enabled></interface></interfaces>"
    f"<qos {N}><class><name>video</name><priority>5</priority></class></qos>"
)


async def test_get_config_with_subtree_filter(new_device) -> None:
    dev = await new_device(initial_config=config_element(INITIAL))
    client = await dev.connect()
    reply = await client.get_config(
        source="running",
        filter=(
            "subtree",
            f"<interfaces {N}><interface><name>eth2</name></interface></interfaces>",
        ),
    )
    data = data_of(reply)
    assert interface_names(data) == ["eth2"]
    assert data.findtext(f"{lab('interfaces')}/{lab('interface')}/{lab('enabled')}") == "false"
    assert data.find(lab("qos")) is None
    # defaults are implicit: metric of eth2 is not in the datastore
    assert data.find(f".//{lab('metric')}") is None


async def test_get_returns_config_and_operational_state(new_device) -> None:
    dev = await new_device(initial_config=config_element(INITIAL))
    client = await dev.connect()
    everything = data_of(await client.get())
    assert [child.tag for child in everything] == [lab("interfaces"), lab("qos"), lab("state")]
    assert dev.backend.state_requests == 1
    state = data_of(
        await client.get(
            filter=(
                "subtree",
                f"<state {N}><interface><name>eth1</name><class><queue-delay-ms/></class>"
                "</interface></state>",
            )
        )
    )
    delays = [
        (cls.findtext(lab("name")), cls.findtext(lab("queue-delay-ms")))
        for cls in state.iterfind(f"{lab('state')}/{lab('interface')}/{lab('class')}")
    ]
    assert delays == [("video", "1.5"), ("voice", "0.2")]
    assert state.find(f"{lab('state')}/{lab('clock')}") is None


async def test_xpath_filter_is_refused(device: Device) -> None:
    client = await device.connect()
    # ncclient checks the server's :xpath capability itself; send the request raw
    request = to_ele(f'<get xmlns="{BASE_NS}"><filter type="xpath" select="/npl:qos"/></get>')
    with pytest.raises(RPCError) as caught:
        await client.dispatch(request)
    assert caught.value.tag == "bad-attribute"


# -- edit, validate, commit -----------------------------------------------------------


async def test_edit_validate_commit(device: Device) -> None:
    client = await device.connect()
    await client.lock(target="candidate")
    await client.edit_config(
        target="candidate", config=add_interface("eth1", "<metric>20</metric>")
    )
    await client.validate(source="candidate")
    assert interface_names(data_of(await client.get_config(source="running"))) == []
    await client.commit()
    await client.unlock(target="candidate")
    committed = await device.backend.next_change()
    assert interface_names(committed) == ["eth1"]
    assert interface_names(device.server.running) == ["eth1"]
    assert interface_names(data_of(await client.get_config(source="running"))) == ["eth1"]


async def test_edit_running_is_not_supported(device: Device) -> None:
    client = await device.connect()
    # ncclient refuses target=running without :writable-running, so send it raw
    request = to_ele(
        f'<edit-config xmlns="{BASE_NS}"><target><running/></target>'
        f"{add_interface('eth1')}</edit-config>"
    )
    with pytest.raises(RPCError) as caught:
        await client.dispatch(request)
    assert caught.value.tag == "operation-not-supported"
    assert interface_names(device.server.running) == []


async def test_unqualified_config_element_is_accepted(device: Device) -> None:
    client = await device.connect()
    body = interfaces("<name>eth5</name>")
    await client.edit_config(target="candidate", config=f"<config>{body}</config>")
    assert interface_names(data_of(await client.get_config(source="candidate"))) == ["eth5"]


async def test_validate_inline_config(device: Device) -> None:
    client = await device.connect()
    # ncclient wants an lxml element for an inline <source><config>
    good = to_ele(config(f"<qos {N}><class><name>voice</name><priority>7</priority></class></qos>"))
    await client.validate(source=good)
    bad = to_ele(
        config(
            f"<qos {N}><class><name>voice</name><priority>7</priority></class>"
            "<class><name>video</name><priority>7</priority></class></qos>"
        )
    )
    with pytest.raises(RPCError) as caught:
        await client.validate(source=bad)
    assert [error.app_tag for error in caught.value.errors] == ["strict-priority-exclusive"] * 2


async def test_discard_changes(device: Device) -> None:
    client = await device.connect()
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    assert interface_names(data_of(await client.get_config(source="candidate"))) == ["eth1"]
    await client.discard_changes()
    assert interface_names(data_of(await client.get_config(source="candidate"))) == []
    await client.commit()
    assert interface_names(await device.backend.next_change()) == []


async def test_commit_failure_injection(device: Device) -> None:
    client = await device.connect()
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    device.backend.fail_next_commit = "line card 2 rejected the configuration"
    with pytest.raises(RPCError) as caught:
        await client.commit()
    assert (caught.value.tag, caught.value.message) == (
        "operation-failed",
        "line card 2 rejected the configuration",
    )
    assert interface_names(device.server.running) == []
    assert device.backend.change_count == 0
    await client.commit()
    assert interface_names(await device.backend.next_change()) == ["eth1"]


async def test_commit_refuses_an_invalid_candidate(device: Device) -> None:
    client = await device.connect()
    body = (
        f"<qos {N}><shaper><interface>eth9</interface><class>video</class>"
        "<rate-mbps>5</rate-mbps></shaper></qos>"
    )
    # test-option=set skips the whole-datastore check, so the candidate becomes invalid
    await client.edit_config(target="candidate", config=config(body), test_option="set")
    with pytest.raises(RPCError) as caught:
        await client.commit()
    assert (caught.value.tag, caught.value.app_tag) == ("data-missing", "instance-required")
    assert device.backend.change_count == 0


async def test_a_tree_is_validated_once_between_edit_and_commit(
    device: Device, monkeypatch
) -> None:
    """test-then-set validates the whole resulting candidate; the confirmed commit and the
    confirm then commit that same, unchanged tree without validating it again. A
    test-option=set edit validated nothing, so its commit validates."""
    import lab.netconf_server as server_module
    from lab.datastore import validate_datastore as real

    validated: list[ET.Element] = []

    def counting(schema, datastore):  # the server's own validations (edit-config's aside)
        validated.append(datastore)
        return real(schema, datastore)

    monkeypatch.setattr(server_module, "validate_datastore", counting)
    client = await device.connect()
    await client.lock(target="candidate")
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    await client.commit(confirmed=True, timeout="60", persist="p1")
    await client.commit(persist_id="p1")
    assert interface_names(device.server.running) == ["eth1"]
    assert validated == []
    await client.edit_config(target="candidate", config=add_interface("eth2"), test_option="set")
    await client.commit()
    assert len(validated) == 1
    assert interface_names(device.server.running) == ["eth1", "eth2"]


# -- rpc-error as ncclient sees it ------------------------------------------------------


async def test_rpc_error_fields(device: Device) -> None:
    client = await device.connect()
    body = f"<qos {N}><class><name>video</name><priority>9</priority></class></qos>"
    with pytest.raises(RPCError) as caught:
        await client.edit_config(target="candidate", config=config(body))
    error = caught.value
    assert (error.type, error.tag, error.severity) == ("protocol", "invalid-value", "error")
    assert error.path == "/npl:qos/npl:class[npl:name='video']/npl:priority"
    assert error.message == "9 is not in range 0 .. 7"
    assert error.app_tag is None


async def test_rpc_error_must_violation(device: Device) -> None:
    client = await device.connect()
    await client.edit_config(
        target="candidate",
        config=config(f"<qos {N}><class><name>voice</name><priority>7</priority></class></qos>"),
    )
    with pytest.raises(RPCError) as caught:
        await client.edit_config(
            target="candidate",
            config=config(
                f"<qos {N}><class><name>video</name><priority>7</priority></class></qos>"
            ),
        )
    errors = caught.value.errors
    assert [(e.tag, e.app_tag, e.path) for e in errors] == [
        ("operation-failed", "strict-priority-exclusive", "/npl:qos/npl:class[npl:name='voice']"),
        ("operation-failed", "strict-priority-exclusive", "/npl:qos/npl:class[npl:name='video']"),
    ]
    assert errors[0].message == "only one class may use strict priority level 7"
    assert errors[0].type == "application"


async def test_rpc_error_info(device: Device) -> None:
    client = await device.connect()
    with pytest.raises(RPCError) as caught:
        await client.edit_config(
            target="candidate", config=config(interfaces("<name>eth1</name><mtu>1500</mtu>"))
        )
    assert caught.value.tag == "unknown-element"
    info = parse_xml(caught.value.info)
    assert info.findtext(f"{{{BASE_NS}}}bad-element") == "mtu"


async def test_unknown_rpc_is_not_supported(device: Device) -> None:
    client = await device.connect()
    request = to_ele('<get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"/>')
    with pytest.raises(RPCError) as caught:
        await client.dispatch(request)
    assert caught.value.tag == "operation-not-supported"
    # the session survives the error
    await client.get_config(source="running")


# -- locks -------------------------------------------------------------------------------


def lock_holder(error: RPCError) -> str | None:
    return parse_xml(error.info).findtext(f"{{{BASE_NS}}}session-id")


async def test_lock_contention_between_sessions(device: Device) -> None:
    a = await device.connect()
    b = await device.connect()
    await a.lock(target="running")
    await a.lock(target="candidate")
    for target in ("running", "candidate"):
        with pytest.raises(RPCError) as caught:
            await b.lock(target=target)
        assert caught.value.tag == "lock-denied"
        assert lock_holder(caught.value) == str(a.session_id)
    with pytest.raises(RPCError) as caught:
        await b.edit_config(target="candidate", config=add_interface("eth1"))
    assert caught.value.tag == "in-use"
    with pytest.raises(RPCError) as caught:
        await b.commit()
    assert caught.value.tag == "in-use"
    with pytest.raises(RPCError) as caught:
        await b.unlock(target="running")
    assert caught.value.tag == "operation-failed"
    await a.close_session()
    # the closed session's locks are gone
    await b.lock(target="running")
    await b.lock(target="candidate")


async def test_candidate_lock_refused_over_other_sessions_changes(device: Device) -> None:
    a = await device.connect()
    b = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    with pytest.raises(RPCError) as caught:
        await b.lock(target="candidate")
    assert caught.value.tag == "lock-denied"
    assert lock_holder(caught.value) == str(a.session_id)
    await a.lock(target="candidate")  # its own changes do not stand in its way
    await a.unlock(target="candidate")
    # unlocking discarded the uncommitted changes (as netconfd does), so b may lock now
    assert interface_names(device.server.candidate) == []
    await b.lock(target="candidate")


async def test_kill_session_releases_locks(device: Device) -> None:
    a = await device.connect()
    b = await device.connect()
    await a.lock(target="running")
    await b.kill_session(session_id=str(a.session_id))
    assert a.session_id not in device.server.session_ids
    await b.lock(target="running")
    with pytest.raises(RPCError) as caught:
        await b.kill_session(session_id=str(b.session_id))
    assert caught.value.tag == "invalid-value"


# -- confirmed commit -------------------------------------------------------------------


async def test_confirmed_commit_then_confirm(device: Device) -> None:
    client = await device.connect()
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    await client.commit(confirmed=True, timeout="600")
    assert interface_names(await device.backend.next_change()) == ["eth1"]
    assert pending(device)
    await client.commit()
    assert not pending(device)
    assert device.backend.change_count == 1, "a confirming commit is not a change of running"
    assert interface_names(device.server.running) == ["eth1"]


async def test_confirmed_commit_then_cancel(new_device) -> None:
    dev = await new_device(initial_config=config_element(INITIAL))
    client = await dev.connect()
    await client.edit_config(target="candidate", config=add_interface("eth3"))
    await client.commit(confirmed=True, timeout="600")
    assert interface_names(await dev.backend.next_change()) == ["eth1", "eth2", "eth3"]
    await client.cancel_commit()
    assert interface_names(await dev.backend.next_change()) == ["eth1", "eth2"]
    assert not pending(dev)
    assert interface_names(data_of(await client.get_config(source="candidate"))) == ["eth1", "eth2"]


async def test_other_session_cannot_confirm_without_persist(device: Device) -> None:
    a = await device.connect()
    b = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    await a.commit(confirmed=True, timeout="600")
    with pytest.raises(RPCError) as caught:
        await b.commit()
    assert (caught.value.tag, caught.value.app_tag) == ("in-use", "outstanding-confirmed-commit")
    with pytest.raises(RPCError) as caught:
        await b.cancel_commit()
    assert caught.value.tag == "operation-failed"
    assert pending(device)


async def test_persistent_confirmed_commit_survives_its_session(device: Device) -> None:
    a = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    await a.commit(confirmed=True, timeout="600", persist="change-42")
    await device.backend.next_change()
    await a.close_session()
    assert pending(device)
    assert interface_names(device.server.running) == ["eth1"]
    b = await device.connect()
    with pytest.raises(RPCError) as caught:
        await b.commit(persist_id="change-41")
    assert caught.value.tag == "invalid-value"
    await b.commit(persist_id="change-42")
    assert not pending(device)
    assert device.backend.change_count == 1
    assert interface_names(device.server.running) == ["eth1"]


async def test_persistent_confirmed_commit_cancelled_from_new_session(device: Device) -> None:
    a = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    await a.commit(confirmed=True, timeout="600", persist="change-43")
    await device.backend.next_change()
    await a.close_session()
    b = await device.connect()
    await b.cancel_commit(persist_id="change-43")
    assert interface_names(await device.backend.next_change()) == []


async def test_confirmed_commit_expires(device: Device) -> None:
    client = await device.connect()
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    # the device fixture runs confirm timers 20x faster: 2 s of confirm-timeout is 0.1 s
    await client.commit(confirmed=True, timeout="2")
    assert interface_names(await device.backend.next_change()) == ["eth1"]
    reverted = await device.backend.next_change()
    assert interface_names(reverted) == []
    assert not pending(device)
    with pytest.raises(RPCError):
        await client.cancel_commit()


async def test_follow_up_confirmed_commit_extends_and_keeps_the_first_rollback(
    device: Device,
) -> None:
    client = await device.connect()
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    await client.commit(confirmed=True, timeout="600")
    await client.edit_config(target="candidate", config=add_interface("eth2"))
    await client.commit(confirmed=True, timeout="600")
    assert interface_names(await device.backend.next_change()) == ["eth1"]
    assert interface_names(await device.backend.next_change()) == ["eth1", "eth2"]
    await client.cancel_commit()
    assert interface_names(await device.backend.next_change()) == []


async def test_revert_when_issuing_session_closes_without_persist(device: Device) -> None:
    a = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    await a.commit(confirmed=True, timeout="600")
    await device.backend.next_change()
    await a.close_session()
    assert interface_names(await device.backend.next_change()) == []
    assert not pending(device)


async def test_revert_when_issuing_session_drops(device: Device) -> None:
    a = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    await a.commit(confirmed=True, timeout="600")
    await device.backend.next_change()
    # drop the SSH transport without <close-session>, as a crashed controller would
    await asyncio.to_thread(a.manager._session.close)
    assert interface_names(await device.backend.next_change()) == []


async def test_kill_session_reverts_its_confirmed_commit(device: Device) -> None:
    a = await device.connect()
    b = await device.connect()
    await a.edit_config(target="candidate", config=add_interface("eth1"))
    await a.commit(confirmed=True, timeout="600")
    await device.backend.next_change()
    await b.kill_session(session_id=str(a.session_id))
    assert interface_names(await device.backend.next_change()) == []


async def test_stop_rolls_back_a_pending_confirmed_commit(new_device) -> None:
    dev = await new_device()
    client = await dev.connect()
    await client.edit_config(target="candidate", config=add_interface("eth1"))
    await client.commit(confirmed=True, timeout="600", persist="p")
    await dev.backend.next_change()
    await dev.server.stop()
    assert interface_names(await dev.backend.next_change()) == []
    assert dev.server.session_ids == ()
