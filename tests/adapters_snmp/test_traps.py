"""TrapReceiver against senders nobody here wrote: net-snmp's snmptrap/snmpinform, and real
linkDown/linkUp from snmpd's DisMan event monitor when a veth goes down in a namespace."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.snmp import SnmpV3User
from adapters.traps import Notification, NotificationKind, TrapReceiver
from bench.netns import NetNamespace
from bench.netns import missing_requirement as netns_missing
from controller.errors import AuthError
from controller.model import CredentialRef, Device
from tests.conftest import peer_missing
from tests.peers.snmpd import SnmpdLab
from tests.peers.snmpd import missing_requirement as snmpd_missing

pytestmark = [pytest.mark.integration, pytest.mark.interop]

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
SENDER_ENGINE_ID = bytes.fromhex("8000000001020304")
WAIT = 10.0  # bound on any awaited notification


def secret(directory: Path, name: str, value: str) -> CredentialRef:
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return CredentialRef(file=str(path))


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        peer_missing(f"net-snmp's {name} not installed (apt-get install snmp)")
    return path


class Inbox:
    """The receiver's callback: queues notifications, as the loop's wake-up would."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Notification] = asyncio.Queue()

    def __call__(self, notification: Notification) -> None:
        self.queue.put_nowait(notification)

    async def next(self, accept: Callable[[Notification], bool] = lambda _: True) -> Notification:
        async with asyncio.timeout(WAIT):
            while True:
                notification = await self.queue.get()
                if accept(notification):
                    return notification


async def run(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.fixture
def credentials(tmp_path: Path) -> tuple[CredentialRef, SnmpV3User, dict[str, str]]:
    plain = {"community": "trap-c0mmunity", "auth": "auth-pass-phrase", "priv": "priv-pass-phrase"}
    community = secret(tmp_path, "community", plain["community"])
    user = SnmpV3User(
        user="np-trap",
        auth_key=secret(tmp_path, "auth", plain["auth"]),
        priv_key=secret(tmp_path, "priv", plain["priv"]),
    )
    return community, user, plain


def v3_args(plain: dict[str, str], level: str = "authPriv") -> list[str]:
    args = ["-v3", "-u", "np-trap", "-l", level]
    if level != "noAuthNoPriv":
        args += ["-a", "SHA", "-A", plain["auth"]]
    if level == "authPriv":
        args += ["-x", "AES", "-X", plain["priv"]]
    return args


async def test_v2c_and_v3_traps_and_informs_from_net_snmp(credentials):
    community, user, plain = credentials
    inbox = Inbox()
    devices = [Device(name="r9", address="127.0.0.1")]
    async with TrapReceiver(
        inbox,
        communities=[community],
        v3_users=[user],
        v3_engine_ids=[SENDER_ENGINE_ID],
        devices=devices,
    ) as receiver:
        host, port = receiver.address
        target = f"{host}:{port}"
        assert port != 0  # chosen by the OS
        link = [f"{IF_INDEX}.7", "i", "7"]
        v2c = ["-v2c", "-c", plain["community"]]
        engine = ["-e", "0x" + SENDER_ENGINE_ID.hex()]
        once = ["-t", "2", "-r", "0"]
        sends = {
            ("v2c", False): [tool("snmptrap"), *v2c, target, "", LINK_DOWN, *link],
            ("v2c", True): [tool("snmpinform"), *v2c, *once, target, "", LINK_UP, *link],
            ("v3", False): [
                tool("snmptrap"),
                *v3_args(plain),
                *engine,
                target,
                "",
                LINK_DOWN,
                *link,
            ],
            ("v3", True): [tool("snmpinform"), *v3_args(plain), *once, target, "", LINK_UP, *link],
        }
        for (version, inform), argv in sends.items():
            code, output = await run(*argv)
            # snmpinform exits 0 only once the receiver acknowledged the inform
            assert code == 0, (version, inform, output)
            got = await inbox.next()
            assert (got.version, got.inform) == (version, inform)
            assert got.kind is (NotificationKind.LINK_UP if inform else NotificationKind.LINK_DOWN)
            assert got.if_index == 7
            assert got.device == "r9"
            assert got.source[0] == "127.0.0.1"
            assert got.uptime_ticks is not None
            assert got.security_name == ("np-trap" if version == "v3" else "community-0")
            assert plain["community"] not in repr(got)
        assert receiver.accepted == 4


async def test_refused_senders_never_reach_the_callback(credentials):
    community, user, plain = credentials
    inbox = Inbox()
    async with TrapReceiver(
        inbox, communities=[community], v3_users=[user], v3_engine_ids=[SENDER_ENGINE_ID]
    ) as receiver:
        host, port = receiver.address
        target = f"{host}:{port}"
        inform = [tool("snmpinform"), "-t", "0.5", "-r", "0"]
        refused = [
            [*inform, "-v2c", "-c", "wrong-community", target, "", LINK_DOWN],
            [*inform, "-v3", "-u", "nobody", "-l", "noAuthNoPriv", target, "", LINK_DOWN],
        ]
        for argv in refused:
            code, output = await run(*argv)
            assert code != 0, output  # not acknowledged
        # pysnmp itself accepts a v3 trap below the user's level; the receiver must not
        engine = ["-e", "0x" + SENDER_ENGINE_ID.hex()]
        for level in ("authNoPriv", "noAuthNoPriv"):
            code, output = await run(
                tool("snmptrap"), *v3_args(plain, level), *engine, target, "", LINK_DOWN
            )
            assert code == 0, output
        # garbage does not stop the receiver either
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"\x30\x03garbage", (host, port))
        code, output = await run(*inform, "-v2c", "-c", plain["community"], target, "", LINK_UP)
        assert code == 0, output
        got = await inbox.next()
    assert got.kind is NotificationKind.LINK_UP
    assert inbox.queue.empty()
    assert receiver.accepted == 1
    # the two v3 traps below authPriv arrived before the inform and were dropped
    assert receiver.dropped == 2


async def test_a_failing_callback_does_not_stop_the_receiver(credentials):
    community, _, plain = credentials
    inbox = Inbox()
    calls = 0

    def flaky(notification: Notification) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("callback bug")
        inbox(notification)

    async with TrapReceiver(flaky, communities=[community]) as receiver:
        target = "{}:{}".format(*receiver.address)
        inform = [tool("snmpinform"), "-v2c", "-c", plain["community"], "-t", "2", "-r", "0"]
        for oid in (LINK_DOWN, LINK_UP):
            code, output = await run(*inform, target, "", oid)
            assert code == 0, output
        got = await inbox.next()
    assert got.kind is NotificationKind.LINK_UP
    assert calls == 2


async def test_unresolvable_community_is_an_auth_error(tmp_path: Path):
    receiver = TrapReceiver(
        lambda _: None, communities=[CredentialRef(file=str(tmp_path / "none"))]
    )
    with pytest.raises(AuthError):
        await receiver.start()


def test_address_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not started"):
        _ = TrapReceiver(lambda _: None).address


# ----------------------------------------------------------------------------- real linkDown


def disman_config(port: int, community: str, plain: dict[str, str], engine_id: bytes) -> str:
    """snmpd's DisMan monitor raising linkDown/linkUp, sent as v2c trap and v3 inform."""
    objects = " ".join(
        f".1.3.6.1.2.1.{suffix}" for suffix in ("2.2.1.1", "2.2.1.7", "2.2.1.8", "31.1.1.1.1")
    )
    usm = f"-u np-trap -l authPriv -a SHA -A {plain['auth']} -x AES -X {plain['priv']}"
    return f"""
# the monitor queries the agent itself as this user (numeric OIDs: no MIBs are loaded)
createUser _internal
rouser _internal noauth
iquerySecName _internal
trap2sink 127.0.0.1:{port} {community}
# the receiver's engine ID given: no discovery, which stalls snmpd's start-up by 6 s
trapsess -Ci -v 3 -e 0x{engine_id.hex()} {usm} 127.0.0.1:{port}
notificationEvent npLinkUp .{LINK_UP} {objects}
notificationEvent npLinkDown .{LINK_DOWN} {objects}
# linkUp also fires at start-up for every interface that is up: the test's "ready" signal
monitor -r 1 -e npLinkUp "netpilot link up" .1.3.6.1.2.1.2.2.1.8 != 2
monitor -S -r 1 -e npLinkDown "netpilot link down" .1.3.6.1.2.1.2.2.1.8 == 2
"""


def on_v0a(notification: Notification, kind: NotificationKind, version: str) -> bool:
    return (
        notification.if_name == "v0a"
        and notification.kind is kind
        and notification.version == version
    )


def link_down_of_v0a(version: str) -> Callable[[Notification], bool]:
    return lambda notification: on_v0a(notification, NotificationKind.LINK_DOWN, version)


async def test_real_link_down_and_up_from_snmpd_in_a_namespace(credentials):
    """A veth goes down in a namespace; snmpd's DisMan monitor sends linkDown, then linkUp."""
    for reason in (netns_missing(), snmpd_missing()):
        if reason is not None:
            peer_missing(reason)
    community, user, plain = credentials
    inbox = Inbox()
    with NetNamespace("nptrap", veth_pairs=1) as namespace:
        with namespace.entered():  # the receiver listens on the namespace's own loopback
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with TrapReceiver(
            inbox, communities=[community], v3_users=[user], sock=sock
        ) as receiver:
            config = disman_config(port, plain["community"], plain, receiver.engine_id)
            with SnmpdLab(["linkwatch"], netns=namespace, extra_config=lambda _: config) as lab:
                assert lab.alive("linkwatch")
                # the monitor has sampled v0a as up once it reports it so
                await inbox.next(lambda n: on_v0a(n, NotificationKind.LINK_UP, "v2c"))
                namespace.set_link("v0a", up=False)
                seen = {}
                for version in ("v2c", "v3"):
                    down = await inbox.next(link_down_of_v0a(version))
                    seen[(down.version, down.inform)] = down
                namespace.set_link("v0a", up=True)
                up = await inbox.next(lambda n: on_v0a(n, NotificationKind.LINK_UP, "v2c"))

    assert set(seen) == {("v2c", False), ("v3", True)}
    down = seen[("v2c", False)]
    assert down.if_index is not None and down.if_index == up.if_index
    assert dict(down.var_binds)[f"1.3.6.1.2.1.2.2.1.8.{down.if_index}"] == "2"  # down(2)
    assert dict(up.var_binds)[f"1.3.6.1.2.1.2.2.1.8.{up.if_index}"] == "1"  # up(1)
