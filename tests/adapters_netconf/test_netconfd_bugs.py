"""One test per known netconfd (yuma123 2.13) bug: the bug as it is, and the adapter's way round.

Each characterisation uses raw ncclient where the adapter deliberately never goes. If a
future netconfd fixes a bug, its characterisation fails: then revisit the workaround.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncssh
import pytest
from ncclient.operations.rpc import RPCError

from adapters.netconf import open_session
from adapters.parsing.framing import MessageDecoder, encode_message
from controller.errors import ProtocolError, RpcError
from controller.model import (
    ClassConfig,
    ConfigEdit,
    DeviceConfig,
    EditOp,
    TrafficClass,
)
from tests.adapters_netconf.conftest import commit_edits, raw_manager
from tests.peers.netconfd import OBSERVER_USER

pytestmark = [pytest.mark.integration, pytest.mark.interop]

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
NPL = "urn:netpilot:lab"
VIDEO_AT_4 = (ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "4"),)
WITH_VIDEO_AT_4 = DeviceConfig(classes=(ClassConfig(name=TrafficClass.VIDEO, priority=4),))
TWO_STRICT = DeviceConfig(
    classes=(
        ClassConfig(name=TrafficClass.VIDEO, priority=7),
        ClassConfig(name=TrafficClass.VOICE, priority=7),
    )
)


async def test_bug1_validate_candidate_then_commit_loses_the_candidate(session, nc1, persist_ids):
    # the bug: <validate><source><candidate/> then <commit> answers <ok/> and drops the edit
    with raw_manager(nc1) as raw:
        raw.edit_config(
            f'<config xmlns="{NC}"><qos xmlns="{NPL}"><class><name>video</name>'
            "<priority>4</priority></class></qos></config>",
            target="candidate",
        )
        assert await session.get_candidate() == WITH_VIDEO_AT_4
        assert raw.validate(source="candidate").ok
        assert raw.commit().ok
    assert await session.get_running() == DeviceConfig()  # lost
    assert await session.get_candidate() == DeviceConfig()  # and the candidate reset

    # the adapter validates inline, so the same change lands
    persist_id = persist_ids()
    await session.lock()
    await session.edit_candidate(VIDEO_AT_4)
    await session.validate(await session.get_candidate())
    await session.commit(confirm_timeout=timedelta(minutes=1), persist_id=persist_id)
    await session.confirm(persist_id)
    await session.unlock()
    assert await session.get_running() == WITH_VIDEO_AT_4


async def test_bug2_test_only_edit_ignores_must_but_inline_validate_catches_it(session, nc1):
    two_strict = (
        f'<config xmlns="{NC}"><qos xmlns="{NPL}">'
        "<class><name>video</name><priority>7</priority></class>"
        "<class><name>voice</name><priority>7</priority></class></qos></config>"
    )
    with raw_manager(nc1) as raw:
        # the bug: test-only accepts what violates the module's `must`...
        assert raw.edit_config(two_strict, target="candidate", test_option="test-only").ok
        # ...which a real edit refuses
        with pytest.raises(RPCError, match="only one class may use strict priority"):
            raw.edit_config(two_strict, target="candidate")
    # the adapter never uses test-only: inline <validate> checks `must`
    with pytest.raises(RpcError) as refused:
        await session.validate(TWO_STRICT)
    assert refused.value.tag == "operation-failed"
    assert refused.value.app_tag == "strict-priority-exclusive"
    # the path points into the inline <config>, at one of the two classes
    assert refused.value.path in {
        f"/nc:rpc/nc:validate/nc:source/nc:config/npl:qos/npl:class[npl:name='{name}']"
        for name in ("video", "voice")
    }
    assert await session.get_candidate() == await session.get_running() == DeviceConfig()


async def test_bug3_polled_device_never_reverts_so_rollback_is_explicit(session, persist_ids):
    persist_id = persist_ids()
    await session.lock()
    await session.edit_candidate(VIDEO_AT_4)
    await session.commit(confirm_timeout=timedelta(seconds=1), persist_id=persist_id)
    # the bug: with socket activity at least once a second, the 1 s timer never fires
    loop = asyncio.get_running_loop()
    keep_busy_until = loop.time() + 3.0
    while loop.time() < keep_busy_until:
        assert await session.get_running() == WITH_VIDEO_AT_4, "reverted while busy"
        await asyncio.sleep(0.2)  # pacing the polling, not waiting for anything
    # the adapter's rollback does not wait for that timer: cancel-commit restores now
    started = loop.time()
    await session.cancel_commit(persist_id)
    restored = await session.get_running()
    elapsed = loop.time() - started
    assert restored == DeviceConfig()
    assert elapsed < 5.0, f"rollback took {elapsed:.2f} s"  # bounded: no timer is awaited
    await session.unlock()


async def test_bug4_nacm_is_off_after_a_confirmed_commit_rollback(netconfd_lab, persist_ids):
    dev = netconfd_lab["nacm"]  # no other test touches this device: NACM is on until now
    edit = (ConfigEdit(EditOp.ADD, ("qos", "class[name=bulk]", "weight"), None, "50"),)
    async with (
        await open_session(dev.device()) as admin,
        await open_session(dev.device(username=OBSERVER_USER)) as observer,
    ):
        # NACM's write-default is deny for a user that is not netconfd's superuser
        with pytest.raises(RpcError) as denied:
            await observer.edit_candidate(edit)
        assert denied.value.tag == "access-denied"
        await commit_edits(admin, VIDEO_AT_4, persist_ids())
        assert await admin.get_running() == WITH_VIDEO_AT_4
        with pytest.raises(RpcError, match="access-denied"):
            await observer.edit_candidate(edit)  # a confirmed commit alone changes nothing

        # the bug: roll a confirmed commit back (cancel-commit; a timeout does the same)...
        persist_id = persist_ids()
        await admin.edit_candidate(
            (ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), "4", "5"),)
        )
        await admin.commit(confirm_timeout=timedelta(minutes=1), persist_id=persist_id)
        await admin.cancel_commit(persist_id)
        assert await admin.get_running() == WITH_VIDEO_AT_4
        # ...and the unprivileged user may now write: NACM stays off until netconfd restarts
        await observer.edit_candidate(edit)
        assert (await observer.get_candidate()).class_config(TrafficClass.BULK).weight == 50
        await observer.discard()


async def test_bug5_lab_does_not_load_the_ietf_interfaces_sil(session, nc1, netconfd_lab):
    # the ietf-interfaces SIL aborts netconfd on <get>: the lab never loads that module
    assert not any("ietf-interfaces" in arg for arg in nc1.argv)
    assert not any("ietf-interfaces" in uri for uri in session.capability_uris)
    # <get> filtered to /npl:state answers (empty: netconfd has no instrumentation for
    # config false data) and the server stays up
    assert await session.get_state() == ((), ())
    assert netconfd_lab.alive("nc1")
    assert await session.get_running() == DeviceConfig()


async def test_bug6_remove_under_a_new_entry_stores_an_out_of_range_zero(session):
    """Found while writing this adapter (not in the recipes notes).

    ``remove`` on a leaf whose list entry does not exist yet: merge creates the entry, and
    netconfd stores the leaf as 0 (outside ``metric``'s 1..65535), and would commit it. The
    adapter's parser refuses such data, so a transaction that reads the candidate back
    before validating and committing (as the controller does) stops there.
    DeviceConfig.diff never emits this edit: it removes only leaves that exist in the base.
    """
    await session.lock()
    await session.edit_candidate(
        (ConfigEdit(EditOp.REMOVE, ("interfaces", "interface[name=eth9]", "metric"), None, None),)
    )
    with pytest.raises(ProtocolError, match=r"metric '0' is not an integer in 1\.\.65535"):
        await session.get_candidate()
    await session.discard()
    assert await session.get_candidate() == await session.get_running() == DeviceConfig()
    await session.unlock()


async def test_bug7_request_in_the_same_read_as_the_hello_waits_for_more_bytes(nc1):
    """Found while writing the asyncio transport (not in the recipes notes).

    Once netconfd has sent its ``<hello>``, a request that reaches it in the same read as
    the client's ``<hello>`` is left unparsed until more bytes arrive: a client that then
    waits for the answer waits forever. ncclient's polling thread hid this (it sends the
    first request at least one TICK after the hello); an asyncio client that answers the
    server's hello and sends a request at once hits it whenever its hello was delayed on
    the way (0.7 % of session opens on a loaded machine here). The adapter probes after
    the hello, again and again with a growing wait, until a probe is answered
    (``_NetconfChannel.synchronise``): the next probe's bytes release the stuck one.
    """
    hello = (
        f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.1'
        "</capability></capabilities></hello>"
    ).encode()

    def rpc(message_id: int) -> bytes:
        body = f'<rpc xmlns="{NC}" message-id="{message_id}"><get-config><source><running/>'
        return encode_message((body + "</source></get-config></rpc>").encode(), chunked=True)

    async with asyncssh.connect(
        nc1.host,
        nc1.port,
        username=nc1.username,
        password=nc1.password(),
        known_hosts=None,  # the lab's own server on loopback
        config=None,
        agent_path=None,
    ) as conn:
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        decoder = MessageDecoder()

        async def next_message(wait: float) -> bytes | None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while (message := decoder.next_message()) is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    decoder.feed(await asyncio.wait_for(reader.read(65536), remaining))
                except TimeoutError:
                    return None
            return message

        assert b"<hello" in (await next_message(5.0) or b"")  # the server's hello
        writer.write(encode_message(hello, chunked=False) + rpc(1))
        decoder.chunked = True
        # netconfd answers a get-config in milliseconds: a second of silence is the bug
        assert await next_message(1.0) is None
        writer.write(rpc(2))
        first, second = await next_message(5.0), await next_message(5.0)
        assert first is not None and b'message-id="1"' in first  # released by request 2
        assert second is not None and b'message-id="2"' in second
