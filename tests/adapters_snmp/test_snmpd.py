"""SnmpPoller against Debian's real net-snmp snmpd on loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.counters import CounterFlagKind, CounterSnapshot, IfCounters, RateTracker
from adapters.snmp import SnmpPoller
from controller.errors import AdapterTimeoutError, AuthError, ProtocolError
from controller.model import CredentialRef, Device, SnmpEndpoint
from tests.conftest import peer_missing
from tests.peers.snmpd import SnmpdLab

pytestmark = [pytest.mark.integration, pytest.mark.interop]

SYS_NET = Path("/sys/class/net")
# snmpd caches its interface table for about 3 s; condition waits poll at this pace.
POLL_PACE = 0.2


def kernel_ifindex(name: str) -> int | None:
    try:
        return int((SYS_NET / name / "ifindex").read_text())
    except OSError:
        return None  # the interface went away meanwhile


def kernel_lo_bytes() -> int:
    return int((SYS_NET / "lo" / "statistics" / "rx_bytes").read_text())


def interface(snapshot: CounterSnapshot, name: str) -> IfCounters:
    (found,) = [itf for itf in snapshot.interfaces if itf.name == name]
    return found


def secret_file(directory: Path, secret: str) -> Path:
    path = directory / "community"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return path


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def poll_until(
    poll: Callable[[], Awaitable[CounterSnapshot]],
    done: Callable[[CounterSnapshot], bool],
    *,
    within: float,
) -> CounterSnapshot:
    """Poll until ``done`` holds for a snapshot; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        snapshot = await poll()
        if done(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s; last snapshot {snapshot}")
        await asyncio.sleep(POLL_PACE)


def send_loopback_traffic(total: int, chunk: int = 4000) -> int:
    """Send ``total`` payload octets as UDP datagrams over lo to a socket we own.

    Returns:
        The payload octets that arrived (each crossed lo once).
    """
    received = 0
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source,
    ):
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2.0)
        payload = b"\x5a" * chunk
        for _ in range(total // chunk):
            source.sendto(payload, sink.getsockname())
            received += len(sink.recv(chunk))
    return received


async def test_poll_reads_every_interface(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    agent = snmpd_lab.agents[0]
    before = datetime.now(UTC)

    snapshot = await poller.poll_interfaces(agent.device())

    assert snapshot.device == agent.name
    assert snapshot.uptime_ticks > 0
    assert before <= snapshot.received_at <= datetime.now(UTC)
    indexes = [itf.index for itf in snapshot.interfaces]
    assert indexes == sorted(set(indexes))
    for itf in snapshot.interfaces:
        assert itf.name
        assert itf.hc_in_octets >= 0
        assert itf.hc_out_octets >= 0
        assert itf.high_speed_mbps >= 0
        # On Linux, snmpd's ifIndex is the kernel's ifindex.
        kernel = kernel_ifindex(itf.name)
        assert kernel in (None, itf.index), itf.name
    lo = interface(snapshot, "lo")
    assert lo.oper_up
    assert lo.high_speed_mbps == 10  # net-snmp's nominal speed for lo
    assert lo.discontinuity_ticks is not None  # net-snmp exposes ifCounterDiscontinuityTime
    # The kernel's counter, read after the poll, can only be ahead of snmpd's (cached) copy.
    assert 0 < lo.hc_in_octets <= kernel_lo_bytes()
    assert lo.hc_in_octets == lo.hc_out_octets  # lo counts every octet once each way


async def test_small_max_repetitions_walks_the_same_table(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    """A walk of many GETBULK round trips (one row each) reads the same interfaces."""
    device = snmpd_lab.agents[0].device()
    async with SnmpPoller(max_repetitions=1) as stepwise:
        one_row_at_a_time = await stepwise.poll_interfaces(device)
    bulk = await poller.poll_interfaces(device)

    def shape(snapshot: CounterSnapshot) -> list[tuple[int, str, int]]:
        return [(i.index, i.name, i.high_speed_mbps) for i in snapshot.interfaces]

    assert shape(one_row_at_a_time) == shape(bulk)
    assert one_row_at_a_time.uptime_ticks <= bulk.uptime_ticks


async def test_two_polls_measure_own_loopback_traffic(
    start_snmpd: Callable[[Sequence[str]], SnmpdLab], poller: SnmpPoller
):
    """Rate of lo over >= 3 s of agent time, bounded by our own traffic and the kernel."""
    # A fresh agent loads its interface cache after this read, so its first counters are
    # no older than kernel_before (a shared agent's cache may be up to 3 s old).
    kernel_before = kernel_lo_bytes()
    device = start_snmpd(["lo-meter"])["lo-meter"].device()

    async def poll() -> CounterSnapshot:
        return await poller.poll_interfaces(device)

    baseline = await poll()
    sent = send_loopback_traffic(1_000_000)
    start_octets = interface(baseline, "lo").hc_in_octets
    final = await poll_until(
        poll,
        lambda s: (
            s.uptime_ticks - baseline.uptime_ticks >= 300
            and interface(s, "lo").hc_in_octets >= start_octets + sent
        ),
        within=10.0,
    )
    kernel_after = kernel_lo_bytes()

    # lo's ifHighSpeed (10) is net-snmp's placeholder, and every process here shares lo: the
    # line-rate check is the unit tests' business, this test measures.
    tracker = RateTracker(speed_tolerance=1e6)
    assert tracker.update(baseline).rates == ()
    update = tracker.update(final)

    seconds = (final.uptime_ticks - baseline.uptime_ticks) / 100
    assert update.interval_seconds == pytest.approx(seconds)
    assert seconds >= 3.0
    (lo,) = [rate for rate in update.rates if rate.interface == "lo"]
    floor = sent * 8 / seconds / 1e6
    ceiling = (kernel_after - kernel_before) * 8 / seconds / 1e6
    assert floor <= lo.in_mbps <= ceiling
    assert lo.out_mbps == pytest.approx(lo.in_mbps)
    assert [f.kind for f in update.flags if f.interface == "lo"] == []


async def test_wrong_community_times_out_within_the_timeout(
    snmpd_lab: SnmpdLab, poller: SnmpPoller, tmp_path
):
    agent = snmpd_lab.agents[0]
    device = agent.device(
        community_file=secret_file(tmp_path, "not-the-community"), timeout_seconds=0.3, retries=1
    )
    started = time.monotonic()
    with pytest.raises(AdapterTimeoutError) as raised:
        await poller.poll_interfaces(device)
    elapsed = time.monotonic() - started

    assert raised.value.device == agent.name
    assert raised.value.retryable
    # two attempts of 0.3 s, plus pysnmp's 0.1 s timer granularity
    assert 0.3 * 2 - 0.1 <= elapsed <= 0.3 * 2 + 3.0  # the upper bound only catches a hang
    assert "not-the-community" not in str(raised.value)


async def test_closed_port_times_out(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    device = snmpd_lab.agents[0].device(port=closed_udp_port(), timeout_seconds=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(AdapterTimeoutError, match="no SNMP answer"):
        await poller.poll_interfaces(device)
    assert time.monotonic() - started <= 0.3 + 3.0  # bounded by the timeout, not hung


async def test_restricted_view_is_a_protocol_error(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    """Debian's default view (system group only) hides IF-MIB: say so, do not return nothing."""
    device = snmpd_lab.agents[0].device(restricted=True)
    with pytest.raises(ProtocolError, match="ifXTable") as raised:
        await poller.poll_interfaces(device)
    assert raised.value.device == device.name


async def test_concurrent_polls_and_a_dead_device(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    """Four agents and one dead device through one poller: the dead one delays nobody."""
    live = [agent.device(timeout_seconds=2.0, retries=0) for agent in snmpd_lab.agents]
    dead = Device(
        name="dead",
        address="127.0.0.1",
        snmp=SnmpEndpoint(
            port=closed_udp_port(),
            community=CredentialRef(file=str(snmpd_lab.agents[0].community_file)),
            timeout_seconds=0.5,
            retries=1,
        ),
    )
    finished: dict[str, float] = {}

    async def poll(device: Device) -> CounterSnapshot:
        try:
            return await poller.poll_interfaces(device)
        finally:
            finished[device.name] = time.monotonic()

    results = await asyncio.gather(*(poll(d) for d in [dead, *live]), return_exceptions=True)

    assert isinstance(results[0], AdapterTimeoutError)
    assert results[0].device == "dead"
    for device, result in zip(live, results[1:], strict=True):
        assert isinstance(result, CounterSnapshot), result
        assert result.device == device.name
        assert interface(result, "lo").oper_up
    assert max(finished[d.name] for d in live) < finished["dead"]


async def test_agent_restart_is_flagged_not_measured(
    start_snmpd: Callable[[Sequence[str]], SnmpdLab], poller: SnmpPoller
):
    lab = start_snmpd(["restarting"])
    device = lab["restarting"].device()

    async def poll() -> CounterSnapshot:
        return await poller.poll_interfaces(device)

    # sysUpTime must be visibly ahead of where the restarted agent will start
    before = await poll_until(poll, lambda s: s.uptime_ticks >= 50, within=5.0)
    old_pid = lab["restarting"].pid
    assert lab.restart("restarting").pid != old_pid
    after = await poll()

    tracker = RateTracker()
    tracker.update(before)
    update = tracker.update(after)
    assert after.uptime_ticks < before.uptime_ticks
    assert update.rates == ()
    assert [(f.interface, f.kind) for f in update.flags] == [(None, CounterFlagKind.RESTART)]


def socket_fds() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


async def test_close_releases_the_socket(snmpd_lab):
    baseline = socket_fds()
    poller = SnmpPoller()
    await poller.poll_interfaces(snmpd_lab.agents[0].device())
    assert socket_fds() == baseline + 1  # one engine, one UDP socket
    await poller.close()
    assert socket_fds() == baseline
    with pytest.raises(RuntimeError, match="closed"):
        await poller.poll_interfaces(snmpd_lab.agents[0].device())


async def test_one_socket_for_many_devices(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    baseline = socket_fds()
    await asyncio.gather(*(poller.poll_interfaces(a.device()) for a in snmpd_lab.agents))
    assert socket_fds() == baseline + 1


async def test_received_at_comes_from_the_injected_clock(snmpd_lab):
    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    async with SnmpPoller(clock=lambda: fixed) as poller:
        snapshot = await poller.poll_interfaces(snmpd_lab.agents[0].device())
    assert snapshot.received_at == fixed


# ----------------------------------------------------------------------------- SNMPv3, Counter32


async def test_v3_auth_priv_reads_the_same_table(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    agent = snmpd_lab.agents[1]
    async with SnmpPoller(v3_users={agent.name: agent.v3_user()}) as v3:
        secured = await v3.poll_interfaces(agent.device())
    plain = await poller.poll_interfaces(agent.device())

    def shape(snapshot: CounterSnapshot) -> list[tuple[int, str, int, bool]]:
        return [(i.index, i.name, i.high_speed_mbps, i.oper_up) for i in snapshot.interfaces]

    assert shape(secured) == shape(plain)
    assert secured.counter_bits == 64
    assert interface(secured, "lo").hc_in_octets > 0


async def test_v3_wrong_auth_key_is_an_auth_error(snmpd_lab: SnmpdLab, tmp_path):
    agent = snmpd_lab.agents[1]
    wrong = tmp_path / "wrong-auth"
    wrong.write_text("not-the-pass-phrase")
    wrong.chmod(0o600)
    user = agent.v3_user(auth_key_file=wrong)
    async with SnmpPoller(v3_users={agent.name: user}) as v3:
        with pytest.raises(AuthError, match="credentials refused") as raised:
            await v3.poll_interfaces(agent.device(timeout_seconds=1.0, retries=0))
    assert raised.value.device == agent.name
    assert not raised.value.retryable
    assert "not-the-pass-phrase" not in str(raised.value)


async def test_v3_unknown_user_is_an_auth_error(snmpd_lab: SnmpdLab):
    agent = snmpd_lab.agents[1]
    stranger = replace(agent.v3_user(), user="nobody-here")
    async with SnmpPoller(v3_users={agent.name: stranger}) as v3:
        with pytest.raises(AuthError, match="credentials refused"):
            await v3.poll_interfaces(agent.device(timeout_seconds=1.0, retries=0))


async def test_agent_without_ifxtable_gives_counter32_snapshot(
    snmpd_lab: SnmpdLab, poller: SnmpPoller
):
    """A view without ifXTable (an RFC 1213-era agent): ifTable's Counter32 columns instead."""
    agent = snmpd_lab.agents[2]
    legacy = await poller.poll_interfaces(agent.device(iftable_only=True))
    full = await poller.poll_interfaces(agent.device())

    assert legacy.counter_bits == 32
    assert full.counter_bits == 64
    assert [i.index for i in legacy.interfaces] == [i.index for i in full.interfaces]
    lo_legacy, lo_full = interface(legacy, "lo"), interface(full, "lo")  # ifDescr is ifName here
    assert lo_legacy.high_speed_mbps == lo_full.high_speed_mbps == 10  # ifSpeed 10,000,000 bit/s
    assert 0 < lo_legacy.hc_in_octets < 2**32  # a Counter32, read as such
    assert lo_legacy.discontinuity_ticks is None


async def test_walk_matches_snmpbulkwalk(snmpd_lab: SnmpdLab, poller: SnmpPoller):
    """The generic walk reads the same ifName column as net-snmp's own snmpbulkwalk."""
    tool = shutil.which("snmpbulkwalk")
    if tool is None:
        peer_missing("snmpbulkwalk not installed (apt-get install snmp)")
    agent = snmpd_lab.agents[3]
    if_name = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
    table = await poller.walk(agent.device(), [if_name, (1, 3, 6, 1, 2, 1, 1, 5)])
    process = await asyncio.create_subprocess_exec(
        tool, "-v2c", "-c", agent.community, "-On", "-Oqv", f"{agent.host}:{agent.port}",
        ".".join(map(str, if_name)), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await process.communicate()
    theirs = [line.strip().strip('"') for line in output.decode().splitlines()]
    assert [value.decode() for _, value in table[if_name].values()] == theirs  # type: ignore[union-attr]
    assert list(table[(1, 3, 6, 1, 2, 1, 1, 5)].values()) == [(0x04, agent.name.encode())]
