"""Faults on the wire become typed errors of that device only: garbage, truncation, silence,
slowness, answers that are not ours, noSuchObject, counters that go backwards."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from adapters.counters import CounterFlagKind, CounterSnapshot, RateTracker
from adapters.snmp import SnmpPoller
from controller.errors import AdapterError, AdapterTimeoutError, ConnectError, ProtocolError
from controller.model import Device, SnmpEndpoint
from tests.adapters_snmp.scripted import (
    FALLBACK_COLUMNS,
    IFX,
    NO_SUCH_OBJECT,
    UPTIME,
    Reply,
    Scripted,
    counter32,
    counter64,
    gauge32,
    int32,
    response,
    row,
    start_scripted,
    string,
    table_end,
    timeticks,
)

pytestmark = pytest.mark.integration

GOOD = Reply(UPTIME + row(1) + row(2) + table_end())


def truncated(request: bytes) -> bytes:
    """A good answer cut short: its request-id is readable, its var-binds are not."""
    return response(request, UPTIME + row(1) + table_end())[:-7]


def garbage(_: bytes) -> bytes:
    return b"\x30\x82\xff\xff not SNMP at all"


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def timed(poller: SnmpPoller, device: Device) -> tuple[object, float]:
    started = time.monotonic()
    try:
        result: object = await poller.poll_interfaces(device)
    except (AdapterTimeoutError, ConnectError, ProtocolError) as exc:
        result = exc
    return result, time.monotonic() - started


async def test_truncated_reply_fails_at_once(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [Reply(raw=truncated)]
    device = scripted.with_endpoint(timeout_seconds=2.0, retries=2)
    result, elapsed = await timed(poller, device)
    assert isinstance(result, ProtocolError), result
    assert "malformed SNMP reply" in str(result)
    assert result.device == "scripted"
    assert elapsed < 3.0  # no waiting for the 3 x 2 s of timeouts (generous: a loaded CI)
    assert scripted.responder.requests == 1


async def test_unattributable_garbage_becomes_a_protocol_error(
    scripted: Scripted, poller: SnmpPoller
):
    scripted.responder.script = [Reply(raw=garbage)]
    device = scripted.with_endpoint(timeout_seconds=0.2, retries=1)
    result, _ = await timed(poller, device)
    assert isinstance(result, ProtocolError), result
    assert "only malformed SNMP replies" in str(result)
    assert scripted.responder.requests == 2  # it was retried before giving up


async def test_garbage_then_a_good_answer_on_retry(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [Reply(raw=garbage), GOOD]
    device = scripted.with_endpoint(timeout_seconds=0.2, retries=1)
    snapshot = await poller.poll_interfaces(device)
    assert [i.name for i in snapshot.interfaces] == ["ge1", "ge2"]


async def test_slow_agent_times_out(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [Reply(GOOD.var_binds, delay=0.6)]
    device = scripted.with_endpoint(timeout_seconds=0.2, retries=1)
    result, elapsed = await timed(poller, device)
    assert isinstance(result, AdapterTimeoutError), result
    assert result.retryable
    assert 0.35 <= elapsed < 0.6 + 3.0  # upper bound only catches a hang


async def test_late_answer_to_the_first_attempt_counts(scripted: Scripted, poller: SnmpPoller):
    """The retry resends the same request-id, so the first attempt's late answer is accepted."""
    scripted.responder.script = [Reply(GOOD.var_binds, delay=0.3), Reply(silent=True)]
    device = scripted.with_endpoint(timeout_seconds=0.2, retries=1)
    snapshot = await poller.poll_interfaces(device)
    assert len(snapshot.interfaces) == 2
    assert scripted.responder.requests == 2
    # both attempts carried one request-id
    first, second = scripted.responder.received
    assert first == second


@pytest.mark.parametrize(
    "reply",
    [
        Reply(raw=lambda r: response(r, GOOD.var_binds, request_id=int32(7))),
        Reply(raw=lambda r: response(r, GOOD.var_binds, community="someone-else")),
    ],
    ids=["other-request-id", "other-community"],
)
async def test_answers_that_are_not_ours_are_ignored(
    scripted: Scripted, poller: SnmpPoller, reply: Reply
):
    scripted.responder.script = [reply]
    device = scripted.with_endpoint(timeout_seconds=0.2, retries=0)
    with pytest.raises(AdapterTimeoutError):
        await poller.poll_interfaces(device)


async def test_error_index_beyond_the_request_names_no_culprit(
    scripted: Scripted, poller: SnmpPoller
):
    scripted.responder.script = [Reply(status=5, index=99)]
    with pytest.raises(ProtocolError, match=r"error-status genErr$"):
        await poller.poll_interfaces(scripted.device)


async def test_no_such_object_for_an_optional_column(scripted: Scripted, poller: SnmpPoller):
    no_discontinuity = [
        (name, NO_SUCH_OBJECT if name.startswith(f"{IFX}.19.") else value) for name, value in row(1)
    ]
    scripted.responder.script = [Reply(UPTIME + no_discontinuity + table_end())]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert snapshot.interfaces[0].discontinuity_ticks is None
    assert snapshot.interfaces[0].hc_in_octets == 1000


async def test_agent_without_hc_counters_is_read_as_counter32(
    scripted: Scripted, poller: SnmpPoller
):
    """noSuchObject for the ifXTable columns: ifTable's Counter32 columns are read instead."""
    oper = [(name, value) for name, value in row(1) if name.startswith("1.3.6.1.2.1.2.2.1.8")]
    no_ifx = [(name, NO_SUCH_OBJECT) for name, _ in row(1) if name.startswith(IFX)]
    first = UPTIME + no_ifx[:5] + oper + table_end()
    stand_ins = [
        (f"{FALLBACK_COLUMNS[0]}.1", string("eth0")),
        (f"{FALLBACK_COLUMNS[1]}.1", counter32(4_000_000_000)),
        (f"{FALLBACK_COLUMNS[2]}.1", counter32(17)),
        (f"{FALLBACK_COLUMNS[3]}.1", gauge32(100_000_000)),
    ]
    scripted.responder.script = [
        Reply(first),
        Reply(stand_ins + [(c, b"\x82\x00") for c in FALLBACK_COLUMNS]),
    ]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert snapshot.counter_bits == 32
    (eth0,) = snapshot.interfaces
    assert (eth0.name, eth0.hc_in_octets, eth0.hc_out_octets) == ("eth0", 4_000_000_000, 17)
    assert eth0.high_speed_mbps == 100  # ifSpeed is in bit/s
    assert scripted.responder.requests == 2


async def test_counters_going_backwards_are_flagged_not_measured(
    scripted: Scripted, poller: SnmpPoller
):
    scripted.responder.script = [
        Reply(UPTIME + row(1, hc_in=counter64(10**12)) + table_end()),
        Reply(
            [("1.3.6.1.2.1.1.3.0", timeticks(12345 + 500))]
            + row(1, hc_in=counter64(10))
            + table_end()
        ),
    ]
    tracker = RateTracker()
    tracker.update(await poller.poll_interfaces(scripted.device))
    update = tracker.update(await poller.poll_interfaces(scripted.device))
    assert update.rates == ()
    assert [(f.interface, f.kind) for f in update.flags] == [("ge1", CounterFlagKind.BACKWARDS)]


async def test_address_the_socket_may_not_send_to_is_a_connect_error(
    scripted: Scripted, poller: SnmpPoller
):
    assert scripted.device.snmp is not None
    broadcast = Device(name="bcast", address="255.255.255.255", snmp=scripted.device.snmp)
    with pytest.raises(ConnectError, match="cannot send") as raised:
        await poller.poll_interfaces(broadcast)
    assert raised.value.device == "bcast"
    assert raised.value.retryable


async def test_bad_port_is_a_connect_error(scripted: Scripted, poller: SnmpPoller):
    assert scripted.device.snmp is not None
    device = Device(
        name="port0",
        address="127.0.0.1",
        snmp=SnmpEndpoint(port=0, community=scripted.device.snmp.community),
    )
    with pytest.raises(ConnectError, match="bad SNMP port"):
        await poller.poll_interfaces(device)


async def test_one_agent_s_faults_never_touch_the_others(tmp_path, poller: SnmpPoller):
    """Dead, silent, slow, garbage and truncating agents polled with good ones, in one go."""
    started = [await start_scripted(tmp_path, f"a{i}") for i in range(6)]
    try:
        agents = [agent for agent, _ in started]
        behaviours = {
            "a0": [GOOD],
            "a1": [Reply(silent=True)],
            "a2": [Reply(GOOD.var_binds, delay=1.0)],
            "a3": [Reply(raw=garbage)],
            "a4": [Reply(raw=truncated)],
            "a5": [GOOD],
        }
        for agent in agents:
            agent.responder.script = list(behaviours[agent.device.name])
        devices = [a.with_endpoint(timeout_seconds=0.3, retries=1) for a in agents]
        assert devices[0].snmp is not None
        dead = Device(
            name="dead",
            address="127.0.0.1",
            snmp=SnmpEndpoint(
                port=closed_udp_port(),
                community=devices[0].snmp.community,
                timeout_seconds=0.3,
                retries=1,
            ),
        )
        finished: dict[str, float] = {}

        async def poll(device: Device) -> None:
            with contextlib.suppress(AdapterTimeoutError, ProtocolError):
                await poller.poll_interfaces(device)
            finished[device.name] = time.monotonic()

        async def poll_all() -> dict[str, CounterSnapshot | AdapterError]:
            outcome = await poller.poll_many([*devices, dead])
            finished["all"] = time.monotonic()
            return outcome

        results, _ = await asyncio.gather(poll_all(), poll(devices[0]))
    finally:
        for _, transport in started:
            transport.close()

    assert isinstance(results["a0"], CounterSnapshot)
    assert isinstance(results["a5"], CounterSnapshot)
    assert isinstance(results["a1"], AdapterTimeoutError)
    assert isinstance(results["a2"], AdapterTimeoutError)
    assert isinstance(results["a3"], ProtocolError)
    assert isinstance(results["a4"], ProtocolError)
    assert isinstance(results["dead"], AdapterTimeoutError)
    assert {
        name: r.device for name, r in results.items() if not isinstance(r, CounterSnapshot)
    } == {
        "a1": "a1",
        "a2": "a2",
        "a3": "a3",
        "a4": "a4",
        "dead": "dead",
    }
    # the good agent's poll ended before the faulty ones had given up (their 2 x 0.3 s of
    # timeouts): an ordering, which load on the machine cannot turn around
    assert finished["a0"] < finished["all"]


@pytest.mark.parametrize(("max_concurrency", "overlap"), [(1, False), (2, True)])
async def test_max_concurrency_bounds_the_devices_in_flight(
    tmp_path, max_concurrency: int, overlap: bool
):
    started = [await start_scripted(tmp_path, f"c{i}") for i in range(2)]
    try:
        for agent, _ in started:
            agent.responder.script = [Reply(GOOD.var_binds, delay=0.25)]
        devices = [agent.with_endpoint(timeout_seconds=2.0, retries=0) for agent, _ in started]
        async with SnmpPoller(max_concurrency=max_concurrency) as bounded:
            results = await bounded.poll_many(devices)
    finally:
        for _, transport in started:
            transport.close()
    assert all(isinstance(r, CounterSnapshot) for r in results.values())
    # order, not durations: with one slot, the second device's request arrives only after the
    # first device's answer has left; with two, both are in flight before either answer
    responders = sorted((agent.responder for agent, _ in started), key=lambda r: r.arrivals[0])
    first_answer = responders[0].replies[0]
    second_request = responders[1].arrivals[0]
    assert (second_request < first_answer) is overlap
