"""``netpilot bench netconf``: the change sequence's latency and the idle-session CPU cost.

Two measurements, each for netpilot's adapter and for ncclient used directly:

* **sequence**: ``lock + edit-config + validate (inline) + confirmed commit (persist) +
  confirming commit + unlock`` on one open session, repeated, p50/p95 of its wall time and
  the client's CPU per sequence; plus one ``get-config``. Against the embedded lab's
  NETCONF server (in a child process) and against Debian's netconfd (root, a source
  checkout: the netconfd peer lives with the tests in ``tests/peers/netconfd.py``).
  Clients: ``netpilot`` (adapters.netconf: ncclient's operations over asyncssh, pooled),
  ``ncclient-default`` (ncclient 0.7 as shipped: its session thread polls every
  ``TICK`` = 0.1 s) and ``ncclient-tick-5ms`` (the same with ``TICK`` = 0.005 s, the
  adapter's previous design).
* **idle**: ``N`` open, idle sessions (one SSH connection each, as ``N`` devices) held by a
  child process for a few seconds; its CPU (``getrusage``, every thread) as a share of one
  core, and its memory per session. Variants: the three clients above, plus
  ``ncclient-paramiko-floor`` (``TICK`` = 1 h: what any design that keeps ncclient's
  transport could reach at best, e.g. a thread woken on send: paramiko's own transport
  thread still wakes every 0.1 s per connection).

Sessions open (``connect``): a new SSH connection + NETCONF hello, and a new NETCONF
session on an already pooled connection (an SSH channel).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "NETCONF: p50/p95 of lock+edit+validate+confirmed commit+confirm+unlock against the lab "
    "device and netconfd (netpilot vs ncclient defaults), and CPU of N idle sessions"
)
GOAL_P50_MS = 15.0
USER = "bench"
# the variable that hands the password to child processes (never argv)
_PASSWORD_ENV = "NETPILOT_BENCH_NETCONF_PASSWORD"  # noqa: S105 (a variable name, not a secret)
_REPO = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument(
        "--iterations", type=int, default=50, help="sequences per fast client (default: 50)"
    )
    parser.add_argument(
        "--baseline-iterations",
        type=int,
        default=10,
        help="sequences with ncclient defaults, ~0.6 s each (default: 10)",
    )
    parser.add_argument(
        "--idle-sessions", type=int, default=100, help="idle sessions per variant (default: 100)"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=5.0, help="CPU window per variant (default: 5)"
    )
    parser.add_argument(
        "--idle-variants",
        type=_variants,
        default=list(IDLE_VARIANTS),
        help=f"comma-separated idle variants (default: all of {', '.join(IDLE_VARIANTS)})",
    )
    parser.add_argument(
        "--skip-netconfd", action="store_true", help="only the lab device (no root needed)"
    )
    parser.add_argument(
        "--skip-sequence", action="store_true", help="only the idle-session measurement"
    )


def _variants(text: str) -> list[str]:
    variants = [v.strip() for v in text.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(IDLE_VARIANTS))
    if unknown or not variants:
        raise argparse.ArgumentTypeError(
            f"unknown idle variants {unknown}; choose from {', '.join(IDLE_VARIANTS)}"
        )
    return variants


# ----------------------------------------------------------------------------- peers


@dataclass(frozen=True)
class Target:
    """A NETCONF server to measure against."""

    name: str
    host: str
    port: int
    username: str
    password: str
    known_hosts: Path


def _lab_serve() -> None:
    """Child process: serve one lab device until stdin closes (prints port and host key)."""
    import asyncio
    import xml.etree.ElementTree as ET

    import asyncssh

    from lab.netconf_server import LabNetconfServer
    from lab.yang_schema import load_lab_schema

    class Backend:
        def running_changed(self, running: ET.Element) -> None:
            return None

        def operational_state(self) -> ET.Element:
            return ET.Element("{urn:netpilot:lab}state")

        def commit_should_fail(self) -> str | None:
            return None

    async def serve() -> None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = LabNetconfServer("bench-lab", load_lab_schema(), Backend())
        port = await server.start(
            "127.0.0.1", 0, host_key=key, users={USER: os.environ[_PASSWORD_ENV]}
        )
        public = key.export_public_key("openssh").decode().split()
        print(json.dumps({"port": port, "host_key": f"{public[0]} {public[1]}"}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.stop()

    asyncio.run(serve())


@contextmanager
def lab_target(workdir: Path) -> Iterator[Target]:
    """The embedded lab's NETCONF server in a child process."""
    password = secrets.token_urlsafe(12)
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-c", "from bench.netconf import _lab_serve; _lab_serve()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, _PASSWORD_ENV: password},
        text=True,
    )
    try:
        assert child.stdout is not None
        hello = json.loads(child.stdout.readline())
        known_hosts = workdir / "lab_known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{hello['port']} {hello['host_key']}\n")
        yield Target("lab", "127.0.0.1", hello["port"], USER, password, known_hosts)
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def netconfd_target(workdir: Path) -> Iterator[Target | str]:
    """Debian's netconfd behind sshd (tests/peers/netconfd.py), or why it is unavailable."""
    peer = _REPO / "tests" / "peers" / "netconfd.py"
    if not peer.exists():
        yield "needs a source checkout (tests/peers/netconfd.py starts the netconfd peer)"
        return
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    from tests.peers.netconfd import NetconfdLab, missing_requirement

    reason = missing_requirement()
    if reason is not None:
        yield reason
        return
    with NetconfdLab(("bench",)) as lab:
        dev = lab["bench"]
        yield Target("netconfd", dev.host, dev.port, dev.username, dev.password(), dev.known_hosts)


# ----------------------------------------------------------------------------- the sequence


def _payloads(i: int) -> tuple[Any, Any]:
    """Edits and the resulting configuration of sequence ``i`` (a real change each time)."""
    from controller.model import ClassConfig, ConfigEdit, DeviceConfig, EditOp, TrafficClass

    priority, weight = i % 6 + 1, 10 + i % 50
    edits = (
        ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "priority"), None, str(priority)),
        ConfigEdit(EditOp.CHANGE, ("qos", "class[name=video]", "weight"), None, str(weight)),
    )
    return edits, DeviceConfig(classes=(ClassConfig(TrafficClass.VIDEO, priority, weight),))


def _figures(samples_ms: list[float], cpu_ms: float) -> dict[str, object]:
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "client_cpu_ms_per_sequence": round(cpu_ms / len(ordered), 2),
    }


def _device(target: Target, workdir: Path, name: str = "bench") -> Any:
    from controller.model import CredentialRef, Device, NetconfEndpoint

    password_file = workdir / f"password-{target.name}"
    if not password_file.exists():
        password_file.write_text(target.password)
        password_file.chmod(0o600)
    return Device(
        name=name,
        address=target.host,
        netconf=NetconfEndpoint(
            port=target.port,
            username=target.username,
            password=CredentialRef(file=str(password_file)),
            known_hosts=str(target.known_hosts),
            timeout_seconds=30.0,
        ),
    )


def sequence_netpilot(target: Target, workdir: Path, iterations: int) -> dict[str, object]:
    """The sequence through netpilot's adapter (a pooled session)."""
    import asyncio
    from datetime import timedelta

    from adapters.netconf import NetconfClient, NetconfPoolSettings

    async def opening() -> tuple[float, float]:
        """A new SSH connection + session, then new sessions on the pooled connection."""
        no_idle = NetconfPoolSettings(idle_sessions_per_device=0)  # every open is new
        client = NetconfClient([_device(target, workdir)], no_idle)
        try:
            started = time.perf_counter()
            first = await client.open_netconf_session("bench")
            connect_ms = (time.perf_counter() - started) * 1000
            channel_ms = []
            for _ in range(10):
                started = time.perf_counter()
                extra = await client.open_netconf_session("bench")
                channel_ms.append((time.perf_counter() - started) * 1000)
                await extra.close()
            await first.close()
            return connect_ms, statistics.median(channel_ms)
        finally:
            await client.close()

    async def measure() -> dict[str, object]:
        connect_ms, channel_ms = await opening()
        client = NetconfClient([_device(target, workdir)])
        try:
            async with client.session("bench") as session:
                samples, cpu0 = [], time.process_time()
                for i in range(iterations):
                    edits, desired = _payloads(i)
                    persist_id = f"bench-{i}"
                    started = time.perf_counter()
                    await session.lock()
                    await session.edit_candidate(edits)
                    await session.validate(desired)
                    await session.commit(
                        confirm_timeout=timedelta(seconds=60), persist_id=persist_id
                    )
                    await session.confirm(persist_id)
                    await session.unlock()
                    samples.append((time.perf_counter() - started) * 1000)
                cpu_ms = (time.process_time() - cpu0) * 1000
                gets = []
                for _ in range(20):
                    started = time.perf_counter()
                    await session.get_running()
                    gets.append((time.perf_counter() - started) * 1000)
        finally:
            await client.close()
        result = _figures(samples, cpu_ms)
        result["get_config_p50_ms"] = round(statistics.median(gets), 2)
        result["connect_ms"] = round(connect_ms, 1)
        result["open_session_on_pooled_connection_ms"] = round(channel_ms, 1)
        return result

    return asyncio.run(measure())


def _ncclient_manager(target: Target) -> Any:
    from ncclient import manager

    return manager.connect(
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        hostkey_verify=False,  # the bench's own servers on loopback
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
    )


@contextmanager
def _tick(seconds: float) -> Iterator[None]:
    """ncclient's process-wide poll interval of its session threads."""
    import ncclient.transport.session as nc_session

    before = nc_session.TICK
    nc_session.TICK = seconds
    try:
        yield
    finally:
        nc_session.TICK = before


def sequence_ncclient(target: Target, iterations: int, tick: float) -> dict[str, object]:
    """The same sequence with ncclient's blocking manager (payloads rendered alike)."""
    from ncclient.xml_ import to_ele

    from adapters.parsing.netpilot_lab import render_config, render_edits

    with _tick(tick):
        opened = time.perf_counter()
        mgr = _ncclient_manager(target)
        connect_ms = (time.perf_counter() - opened) * 1000
        try:
            samples, cpu0 = [], time.process_time()
            for i in range(iterations):
                edits, desired = _payloads(i + 1000)
                persist_id = f"bench-nc-{tick}-{i}"
                started = time.perf_counter()
                mgr.lock(target="candidate")
                mgr.edit_config(
                    config=render_edits(edits),
                    target="candidate",
                    default_operation="merge",
                    error_option="rollback-on-error",
                )
                mgr.validate(source=to_ele(render_config(desired)))
                mgr.commit(confirmed=True, timeout="60", persist=persist_id)
                mgr.commit(persist_id=persist_id)
                mgr.unlock(target="candidate")
                samples.append((time.perf_counter() - started) * 1000)
            cpu_ms = (time.process_time() - cpu0) * 1000
            gets = []
            for _ in range(min(iterations, 20)):
                started = time.perf_counter()
                mgr.get_config(source="running")
                gets.append((time.perf_counter() - started) * 1000)
        finally:
            mgr.close_session()
    result = _figures(samples, cpu_ms)
    result["get_config_p50_ms"] = round(statistics.median(gets), 2)
    result["connect_ms"] = round(connect_ms, 1)
    return result


# ----------------------------------------------------------------------------- idle sessions

IDLE_VARIANTS: dict[str, float | None] = {
    "netpilot": None,
    "ncclient-default": 0.1,
    "ncclient-tick-5ms": 0.005,
    "ncclient-paramiko-floor": 3600.0,
}


def _statm_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _idle_child() -> None:
    """Child process: open N sessions, stay idle, print the CPU spent (JSON)."""
    spec = json.loads(sys.argv[1])
    target = Target(
        spec["name"],
        spec["host"],
        spec["port"],
        spec["username"],
        os.environ[_PASSWORD_ENV],
        Path(spec["known_hosts"]),
    )
    sessions, seconds, tick = spec["sessions"], spec["seconds"], spec["tick"]
    if tick is None:
        import adapters.netconf  # noqa: F401 (imported before the memory baseline)

        rss0 = _statm_rss_mib()
        result = _idle_netpilot(target, Path(spec["workdir"]), sessions, seconds)
    else:
        import ncclient.manager  # noqa: F401 (imported before the memory baseline)

        rss0 = _statm_rss_mib()
        result = _idle_ncclient(target, sessions, seconds, tick)
    result["rss_mib_per_session"] = round((result.pop("rss_mib") - rss0) / sessions, 3)
    print(json.dumps(result), flush=True)
    if tick is not None:
        # ncclient's threads may sleep in select() for an hour (the floor variant): end
        # the process without closing each session; the server sees the connections drop
        os._exit(0)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _idle_window(seconds: float, threads: Callable[[], int]) -> dict[str, object]:
    time.sleep(1.0)  # let connection set-up work finish before the window
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = _cpu_seconds() - cpu0, time.perf_counter() - wall0
    return {
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "threads": threads(),
        "rss_mib": _statm_rss_mib(),
    }


def _idle_netpilot(target: Target, workdir: Path, sessions: int, seconds: float) -> dict[str, Any]:
    import asyncio
    import threading

    from adapters.netconf import NetconfClient

    async def hold() -> dict[str, Any]:
        devices = [_device(target, workdir, f"d{i}") for i in range(sessions)]
        client = NetconfClient(devices)
        opened = []
        try:
            semaphore = asyncio.Semaphore(16)

            async def open_one(name: str) -> Any:
                async with semaphore:
                    return await client.open_netconf_session(name)

            opened = await asyncio.gather(*(open_one(d.name) for d in devices))
            # the window runs in a thread so that the event loop stays free (and idle)
            return await asyncio.to_thread(_idle_window, seconds, threading.active_count)
        finally:
            for session in opened:
                await session.close()
            await client.close()

    return asyncio.run(hold())


def _idle_ncclient(target: Target, sessions: int, seconds: float, tick: float) -> dict[str, Any]:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    # sessions are opened with a working TICK (the hello needs the thread to send); the
    # variant's TICK applies from the next turn of each session thread's loop
    with _tick(min(tick, 0.1)), ThreadPoolExecutor(16) as pool:
        managers = list(pool.map(lambda _: _ncclient_manager(target), range(sessions)))
    with _tick(tick):
        result = _idle_window(seconds, threading.active_count)
    result["opened"] = len(managers)
    return result


def idle_cpu(
    target: Target, workdir: Path, variant: str, sessions: int, seconds: float
) -> dict[str, object]:
    """One idle variant in a child process (its CPU is all the sessions')."""
    spec = {
        "name": target.name,
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "known_hosts": str(target.known_hosts),
        "workdir": str(workdir),
        "sessions": sessions,
        "seconds": seconds,
        "tick": IDLE_VARIANTS[variant],
    }
    child = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable,
            "-c",
            "from bench.netconf import _idle_child; _idle_child()",
            json.dumps(spec),
        ],
        env={**os.environ, _PASSWORD_ENV: target.password},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if child.returncode != 0:
        return {"available": False, "reason": child.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    share = result.pop("cpu_seconds") / result.pop("wall_seconds")
    result["cpu_percent_of_one_core"] = round(100 * share, 3)
    result["cpu_us_per_session_per_second"] = round(share * 1e6 / sessions, 2)
    return result


# ----------------------------------------------------------------------------- run


def machine() -> dict[str, object]:
    """Where the figures were measured."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "",
    )
    mem_kib = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _sequences(target: Target, workdir: Path, args: argparse.Namespace) -> dict[str, object]:
    return {
        "netpilot": sequence_netpilot(target, workdir, args.iterations),
        "ncclient-tick-5ms": sequence_ncclient(target, args.iterations, 0.005),
        "ncclient-default": sequence_ncclient(target, args.baseline_iterations, 0.1),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    """Start the peers, measure every client, stop the peers.

    Returns:
        ``sequence`` per peer and client, ``idle`` per variant, the goal and the machine.
    """
    result: dict[str, object] = {"machine": machine()}
    sequence: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="netpilot-bench-netconf-") as tmp:
        workdir = Path(tmp)
        variants: list[str] = args.idle_variants
        with lab_target(workdir) as lab:
            if args.skip_sequence:
                sequence["lab"] = {"available": False, "reason": "--skip-sequence"}
            else:
                sequence["lab"] = _sequences(lab, workdir, args)
            result["idle"] = {
                "sessions": args.idle_sessions,
                "seconds": args.idle_seconds,
                "server": "lab (child process)",
                "variants": {
                    variant: idle_cpu(lab, workdir, variant, args.idle_sessions, args.idle_seconds)
                    for variant in variants
                },
            }
        if args.skip_netconfd or args.skip_sequence:
            skipped = "--skip-sequence" if args.skip_sequence else "--skip-netconfd"
            sequence["netconfd"] = {"available": False, "reason": skipped}
        else:
            with netconfd_target(workdir) as netconfd:
                if isinstance(netconfd, str):
                    sequence["netconfd"] = {"available": False, "reason": netconfd}
                else:
                    sequence["netconfd"] = _sequences(netconfd, workdir, args)
    result["sequence"] = sequence
    netconfd_figures = sequence["netconfd"]
    assert isinstance(netconfd_figures, dict)
    netpilot = netconfd_figures.get("netpilot")
    p50 = netpilot.get("p50_ms") if isinstance(netpilot, dict) else None
    result["goal"] = {
        "netconfd_p50_ms_max": GOAL_P50_MS,
        "netconfd_p50_ms": p50,
        "met": None if p50 is None else bool(isinstance(p50, float) and p50 <= GOAL_P50_MS),
    }
    return result


def format_text(result: dict[str, object]) -> str:
    """The figures as tables."""
    lines = ["netpilot bench netconf: lock+edit+validate+confirmed commit+confirm+unlock"]
    sequence = result["sequence"]
    assert isinstance(sequence, dict)
    lines.append(
        f"{'peer':9} {'client':18} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/seq':>10}"
        f" {'get-config ms':>13} {'connect ms':>10}"
    )
    for peer, clients in sequence.items():
        if not clients.get("netpilot"):
            lines.append(f"{peer:9} unavailable: {clients.get('reason')}")
            continue
        for client, f in clients.items():
            lines.append(
                f"{peer:9} {client:18} {f['p50_ms']:>8} {f['p95_ms']:>8}"
                f" {f['client_cpu_ms_per_sequence']:>10} {f['get_config_p50_ms']:>13}"
                f" {f['connect_ms']:>10}"
            )
    idle = result["idle"]
    assert isinstance(idle, dict)
    lines.append(f"idle: {idle['sessions']} sessions for {idle['seconds']} s, client process")
    lines.append(
        f"{'variant':24} {'% of a core':>11} {'us/session/s':>12} {'threads':>8}"
        f" {'MiB/session':>11}"
    )
    for variant, f in idle["variants"].items():
        if f.get("available") is False:
            lines.append(f"{variant:24} unavailable: {f.get('reason')}")
            continue
        lines.append(
            f"{variant:24} {f['cpu_percent_of_one_core']:>11}"
            f" {f['cpu_us_per_session_per_second']:>12} {f['threads']:>8}"
            f" {f['rss_mib_per_session']:>11}"
        )
    lines.append(f"goal: {result['goal']}")
    return "\n".join(lines)
