"""``netpilot bench poll``: SNMP walks of real snmpd agents by netpilot, snmpbulkwalk and
Debian's prometheus-snmp-exporter, measured in the same run against the same agents.

Set-up (root only): a fresh network namespace with ``(interfaces - 1) / 2`` veth pairs, so
each agent shows ~``interfaces`` interfaces (both veth ends and lo), and ``agents`` snmpd
instances inside it on the namespace's 127.0.0.1. Every client runs inside the namespace
too (netpilot's socket and the tools' processes are created there), so no address outside
loopback is used; the namespace and its interfaces are deleted at the end.

Two workloads, each walked ``rounds`` times from every agent, the agents of a round
concurrently (8 walks in flight):

* ``ifxtable``: the whole ifXTable (19 columns x interfaces var-binds). netpilot walks the
  columns side by side with GETBULK (:meth:`SnmpPoller.walk`, every value decoded);
  ``snmpbulkwalk`` walks the subtree (one process per walk, output discarded); the
  exporter walks it and renders every column as a metric labelled ifIndex and ifName.
* ``poller``: what the controller needs each tick: sysUpTime.0 and six columns. netpilot
  runs its whole path, :meth:`SnmpPoller.poll_interfaces` then :meth:`RateTracker.update`
  (request to rate samples), over SNMPv2c (fast path) and, for ``v3_rounds``, over SNMPv3
  authPriv (pysnmp); the exporter gets and walks the same objects into labelled metrics.
  snmpbulkwalk has no equivalent (it walks one subtree per process).

CPU is each client's own: netpilot's from this process's accounting over its phase
(``time.process_time``; nothing else runs in the process then), snmpbulkwalk's from the
rusage of its reaped children, the exporter's from ``/proc/PID/stat`` (utime + stime).
snmpd's CPU is nobody's. ``p50_walk_ms`` is the wall time of one walk (one scrape) with
the round's other walks in flight. The bench installs nothing: without
``prometheus-snmp-exporter`` that client is reported unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import NetpilotError

if TYPE_CHECKING:
    from adapters.snmp import SnmpPoller
    from controller.model import Device

DESCRIPTION = (
    "SNMP walks of real snmpd agents (~50 interfaces each) by netpilot's poller, "
    "snmpbulkwalk and prometheus-snmp-exporter: walks per CPU-second and p50 latency (root)"
)

EXPORTER = "prometheus-snmp-exporter"
SNMPD = "/usr/sbin/snmpd"

IFX_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1)
IFX_ENTRY = (*IFX_TABLE, 1)
IF_OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
# ifXTable's columns as snmp_exporter's generator would render them
IFX_COLUMNS: tuple[tuple[int, str, str], ...] = (
    (1, "ifName", "DisplayString"),
    (2, "ifInMulticastPkts", "counter"),
    (3, "ifInBroadcastPkts", "counter"),
    (4, "ifOutMulticastPkts", "counter"),
    (5, "ifOutBroadcastPkts", "counter"),
    (6, "ifHCInOctets", "counter"),
    (7, "ifHCInUcastPkts", "counter"),
    (8, "ifHCInMulticastPkts", "counter"),
    (9, "ifHCInBroadcastPkts", "counter"),
    (10, "ifHCOutOctets", "counter"),
    (11, "ifHCOutUcastPkts", "counter"),
    (12, "ifHCOutMulticastPkts", "counter"),
    (13, "ifHCOutBroadcastPkts", "counter"),
    (14, "ifLinkUpDownTrapEnable", "gauge"),
    (15, "ifHighSpeed", "gauge"),
    (16, "ifPromiscuousMode", "gauge"),
    (17, "ifConnectorPresent", "gauge"),
    (18, "ifAlias", "DisplayString"),
    (19, "ifCounterDiscontinuityTime", "gauge"),
)
POLLER_COLUMNS: tuple[tuple[tuple[int, ...], str, str], ...] = (
    ((*IFX_ENTRY, 1), "ifName", "DisplayString"),
    ((*IFX_ENTRY, 6), "ifHCInOctets", "counter"),
    ((*IFX_ENTRY, 10), "ifHCOutOctets", "counter"),
    ((*IFX_ENTRY, 15), "ifHighSpeed", "gauge"),
    ((*IFX_ENTRY, 19), "ifCounterDiscontinuityTime", "gauge"),
    (IF_OPER_STATUS, "ifOperStatus", "gauge"),
)
_READY_TIMEOUT = 15.0
_HTTP_TIMEOUT = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument("--agents", type=int, default=8, help="snmpd instances (default: 8)")
    parser.add_argument(
        "--interfaces", type=int, default=50, help="interfaces per agent, about (default: 50)"
    )
    parser.add_argument(
        "--rounds", type=int, default=50, help="walks of every agent per client (default: 50)"
    )
    parser.add_argument(
        "--v3-rounds",
        type=int,
        default=5,
        help="rounds of the SNMPv3 authPriv poll through pysnmp, 0 to skip (default: 5)",
    )
    parser.add_argument(
        "--max-repetitions",
        type=int,
        default=25,
        help="GETBULK max-repetitions for every client (default: 25)",
    )


# ----------------------------------------------------------------------------- measurement


@dataclass
class Measured:
    """One client's walks of one workload."""

    walks: int
    cpu_seconds: float
    latencies: list[float]
    varbinds_per_walk: float

    def as_dict(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return {
            "available": True,
            "walks": self.walks,
            "cpu_seconds": round(self.cpu_seconds, 4),
            "cpu_ms_per_walk": round(self.cpu_seconds / self.walks * 1000, 3),
            "walks_per_cpu_second": round(self.walks / self.cpu_seconds, 1)
            if self.cpu_seconds > 0
            else None,
            "p50_walk_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_walk_ms": round(p95 * 1000, 2),
            "varbinds_per_walk": round(self.varbinds_per_walk, 1),
        }


def unavailable(reason: str) -> dict[str, object]:
    return {"available": False, "reason": reason}


async def rounds_of(
    walk: Callable[[int], Awaitable[int]], agents: int, rounds: int
) -> tuple[list[float], list[int]]:
    """Run ``rounds`` rounds of ``agents`` concurrent walks; latencies and var-bind counts."""
    latencies: list[float] = []
    counts: list[int] = []

    async def timed(index: int) -> None:
        started = time.perf_counter()
        counts.append(await walk(index))
        latencies.append(time.perf_counter() - started)

    for _ in range(rounds):
        await asyncio.gather(*(timed(index) for index in range(agents)))
    return latencies, counts


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[11], fields[12] are utime and stime (14th and 15th of the whole line)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- clients


async def netpilot_ifxtable(poller: SnmpPoller, devices: Sequence[Device], rounds: int) -> Measured:
    columns = [(*IFX_ENTRY, column) for column, _, _ in IFX_COLUMNS]

    async def walk(index: int) -> int:
        table = await poller.walk(devices[index], columns)
        return sum(len(rows) for rows in table.values())

    await rounds_of(walk, len(devices), 1)  # warm-up: resolve, open the socket
    before = time.process_time()
    latencies, counts = await rounds_of(walk, len(devices), rounds)
    cpu = time.process_time() - before
    return Measured(len(latencies), cpu, latencies, statistics.fmean(counts))


async def netpilot_poll(poller: SnmpPoller, devices: Sequence[Device], rounds: int) -> Measured:
    from adapters.counters import RateTracker

    # the bench polls faster than snmpd's cache refreshes: compute every interval anyway
    trackers = [RateTracker(min_interval_seconds=0.0, warmup_intervals=0) for _ in devices]
    rates = 0

    async def walk(index: int) -> int:
        nonlocal rates
        snapshot = await poller.poll_interfaces(devices[index])
        rates += len(trackers[index].update(snapshot).rates)
        return 1 + len(snapshot.interfaces) * len(POLLER_COLUMNS)

    await rounds_of(walk, len(devices), 1)
    rates = 0
    before = time.process_time()
    latencies, counts = await rounds_of(walk, len(devices), rounds)
    cpu = time.process_time() - before
    if rates == 0:
        raise NetpilotError("netpilot's poll produced no rate samples: the bench is broken")
    return Measured(len(latencies), cpu, latencies, statistics.fmean(counts))


async def snmpbulkwalk_ifxtable(
    agents: Sequence[Any], rounds: int, max_repetitions: int
) -> Measured | dict[str, object]:
    tool = shutil.which("snmpbulkwalk")
    if tool is None:
        return unavailable("snmpbulkwalk not installed (apt-get install snmp)")
    subtree = ".".join(map(str, IFX_TABLE))

    async def walk(index: int) -> int:
        agent = agents[index]
        process = await asyncio.create_subprocess_exec(
            tool,
            "-v2c",
            "-c",
            agent.community,
            f"-Cr{max_repetitions}",
            "-On",
            "-Oq",
            f"{agent.host}:{agent.port}",
            subtree,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise NetpilotError(f"snmpbulkwalk failed against {agent.name}")
        return output.count(b"\n")

    await rounds_of(walk, len(agents), 1)
    before = children_cpu()
    latencies, counts = await rounds_of(walk, len(agents), rounds)
    cpu = children_cpu() - before
    return Measured(len(latencies), cpu, latencies, statistics.fmean(counts))


def exporter_config(agents: Sequence[Any], max_repetitions: int) -> str:
    """snmp.yml (0.21 format) with, per agent, an ``ifx_`` and a ``poll_`` module."""

    def metric(oid: Sequence[int], name: str, kind: str) -> str:
        dotted = ".".join(map(str, oid))
        return f"""\
  - name: {name}
    oid: {dotted}
    type: {kind}
    indexes:
    - labelname: ifIndex
      type: gauge
    lookups:
    - labels: [ifIndex]
      labelname: ifName
      oid: {".".join(map(str, (*IFX_ENTRY, 1)))}
      type: DisplayString
"""

    ifx_metrics = "".join(
        metric((*IFX_ENTRY, column), name, kind) for column, name, kind in IFX_COLUMNS
    )
    poll_metrics = "".join(metric(oid, name, kind) for oid, name, kind in POLLER_COLUMNS)
    poll_walks = "".join(f"  - {'.'.join(map(str, oid))}\n" for oid, _, _ in POLLER_COLUMNS)
    modules = []
    for agent in agents:
        common = f"""\
  version: 2
  max_repetitions: {max_repetitions}
  retries: 0
  timeout: 10s
  auth:
    community: "{agent.community}"
"""
        modules.append(
            f"ifx_{agent.name}:\n{common}  walk:\n  - {'.'.join(map(str, IFX_TABLE))}\n"
            f"  metrics:\n{ifx_metrics}"
        )
        modules.append(
            f"poll_{agent.name}:\n{common}  get:\n  - {SYS_UPTIME_0}\n  walk:\n{poll_walks}"
            f"  metrics:\n  - name: sysUpTime\n    oid: 1.3.6.1.2.1.1.3\n    type: gauge\n"
            f"{poll_metrics}"
        )
    return "\n".join(modules)


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(_HTTP_TIMEOUT):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


class Exporter:
    """A prometheus-snmp-exporter process this bench started (inside the namespace)."""

    def __init__(self, directory: Path, agents: Sequence[Any], max_repetitions: int) -> None:
        self.config = directory / "snmp.yml"
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(exporter_config(agents, max_repetitions))
        self.port = free_tcp_port()
        self.log = directory / "exporter.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which(EXPORTER)
        assert binary is not None
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={self.config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise NetpilotError(f"{EXPORTER} exited: {self.log.read_text()[-500:]}")
            try:
                status, _ = await http_get(self.port, "/")
            except OSError:
                await asyncio.sleep(0.05)  # not listening yet: pace the retries
                continue
            if status == 200:
                return
        raise NetpilotError(f"{EXPORTER} did not answer within {_READY_TIMEOUT} s")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            async with asyncio.timeout(5):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def measure(
        self, agents: Sequence[Any], prefix: str, metric: str, rounds: int
    ) -> Measured:
        assert self.process is not None
        pid = self.process.pid

        async def walk(index: int) -> int:
            agent = agents[index]
            query = urllib.parse.urlencode(
                {"target": f"{agent.host}:{agent.port}", "module": f"{prefix}{agent.name}"}
            )
            status, body = await http_get(self.port, f"/snmp?{query}")
            samples = body.count(f"\n{metric}{{".encode())
            if status != 200 or samples == 0:
                raise NetpilotError(f"{EXPORTER} scrape of {agent.name} failed ({status})")
            return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))

        await rounds_of(walk, len(agents), 1)
        before = process_cpu(pid)
        latencies, counts = await rounds_of(walk, len(agents), rounds)
        cpu = process_cpu(pid) - before
        return Measured(len(latencies), cpu, latencies, statistics.fmean(counts))


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- run


def machine() -> dict[str, object]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    """Set up the namespace and agents, measure every client, tear everything down.

    Raises:
        NetpilotError: not root, snmpd missing, or a client failed.
    """
    from bench.netns import NetNamespace, missing_requirement

    reason = missing_requirement()
    if reason is not None:
        raise NetpilotError(
            f"netpilot bench poll needs root to create a network namespace ({reason}); "
            "run it as root, e.g. sudo .venv/bin/netpilot bench poll"
        )
    if not Path(SNMPD).exists():
        raise NetpilotError(f"{SNMPD} is not installed (apt-get install snmpd snmp)")
    for name, value in (("agents", args.agents), ("rounds", args.rounds)):
        if value < 1:
            raise NetpilotError(f"--{name} must be >= 1")
    pairs = max(1, args.interfaces // 2)  # both ends of a pair, plus lo
    with (
        tempfile.TemporaryDirectory(prefix="netpilot-bench-poll-") as scratch,
        NetNamespace("npbench", veth_pairs=pairs) as namespace,
        # the clients' sockets and processes are all made inside the namespace
        namespace.entered(),
    ):
        return asyncio.run(_measure(args, namespace, Path(scratch)))


async def _measure(args: argparse.Namespace, namespace: Any, scratch: Path) -> dict[str, object]:
    from adapters.snmp import SnmpPoller
    from bench.snmpd import SnmpdLab

    names = [f"agent{i}" for i in range(args.agents)]
    with SnmpdLab(names, root=scratch / "snmpd", netns=namespace) as lab:
        agents = lab.agents
        devices = [agent.device(timeout_seconds=5.0, retries=1) for agent in agents]
        clients: dict[str, dict[str, object]] = {}
        async with SnmpPoller(max_repetitions=args.max_repetitions) as poller:
            clients["netpilot"] = (await netpilot_ifxtable(poller, devices, args.rounds)).as_dict()
            clients["netpilot_poll_to_rates"] = (
                await netpilot_poll(poller, devices, args.rounds)
            ).as_dict()
        if args.v3_rounds > 0:
            users = {agent.name: agent.v3_user() for agent in agents}
            async with SnmpPoller(max_repetitions=args.max_repetitions, v3_users=users) as v3:
                clients["netpilot_v3_poll_to_rates"] = (
                    await netpilot_poll(v3, devices, args.v3_rounds)
                ).as_dict()
        bulk = await snmpbulkwalk_ifxtable(agents, args.rounds, args.max_repetitions)
        clients["snmpbulkwalk"] = bulk.as_dict() if isinstance(bulk, Measured) else bulk
        if shutil.which(EXPORTER) is None:
            missing = unavailable(
                f"{EXPORTER} not installed; apt-get install {EXPORTER} (the bench installs nothing)"
            )
            clients["snmp_exporter"] = missing
            clients["snmp_exporter_poller_columns"] = missing
        else:
            exporter = Exporter(scratch, agents, args.max_repetitions)
            try:
                await exporter.start()
                clients["snmp_exporter"] = (
                    await exporter.measure(agents, "ifx_", "ifHCInOctets", args.rounds)
                ).as_dict()
                clients["snmp_exporter_poller_columns"] = (
                    await exporter.measure(agents, "poll_", "ifHCInOctets", args.rounds)
                ).as_dict()
            finally:
                await exporter.stop()
        interfaces = len((await poller_snapshot(devices[0], args.max_repetitions)).interfaces)
    return {
        "benchmark": "poll",
        "agents": args.agents,
        "interfaces_per_agent": interfaces,
        "rounds": args.rounds,
        "v3_rounds": args.v3_rounds,
        "max_repetitions": args.max_repetitions,
        "concurrent_walks": args.agents,
        "workloads": {
            "netpilot": "ifXTable, 19 columns side by side, every value decoded",
            "netpilot_poll_to_rates": (
                "sysUpTime.0 + ifName, ifHCIn/OutOctets, ifHighSpeed, "
                "ifCounterDiscontinuityTime, ifOperStatus -> IfCounters -> RateTracker rates"
            ),
            "netpilot_v3_poll_to_rates": (
                "the same as netpilot_poll_to_rates over SNMPv3 authPriv (SHA/AES-128), "
                "through pysnmp's engine (no fast path for v3)"
            ),
            "snmpbulkwalk": "ifXTable subtree, one process per walk, output discarded",
            "snmp_exporter": "ifXTable subtree -> every column as a metric with ifIndex, ifName",
            "snmp_exporter_poller_columns": (
                "the poll_to_rates objects -> metrics with ifIndex, ifName labels"
            ),
        },
        "clients": clients,
        "goal": goal(clients),
        "machine": machine(),
    }


async def poller_snapshot(device: Device, max_repetitions: int) -> Any:
    from adapters.snmp import SnmpPoller

    async with SnmpPoller(max_repetitions=max_repetitions) as poller:
        return await poller.poll_interfaces(device)


def goal(clients: dict[str, dict[str, object]]) -> dict[str, object]:
    """netpilot's walks per CPU-second against the exporter's, per workload."""
    out: dict[str, object] = {}
    for ours, theirs in (
        ("netpilot", "snmp_exporter"),
        ("netpilot_poll_to_rates", "snmp_exporter_poller_columns"),
    ):
        mine = clients[ours].get("walks_per_cpu_second")
        other = clients[theirs].get("walks_per_cpu_second")
        if isinstance(mine, float) and isinstance(other, float):
            out[f"{ours}_vs_{theirs}"] = {"ratio": round(mine / other, 2), "met": mine >= other}
        else:
            out[f"{ours}_vs_{theirs}"] = {"ratio": None, "met": None}
    return out


def format_text(result: dict[str, object]) -> str:
    """The figures as a table."""
    lines = [
        f"netpilot bench poll: {result['agents']} snmpd agents x "
        f"{result['interfaces_per_agent']} interfaces, {result['rounds']} rounds, "
        f"max-repetitions {result['max_repetitions']}",
        f"{'client':32} {'walks/CPU-s':>12} {'CPU ms/walk':>12} {'p50 ms':>9} {'p95 ms':>9}"
        f" {'varbinds':>9}",
    ]
    clients = result["clients"]
    assert isinstance(clients, dict)
    for name, figures in clients.items():
        if not figures.get("available"):
            lines.append(f"{name:32} unavailable: {figures.get('reason')}")
            continue
        lines.append(
            f"{name:32} {figures['walks_per_cpu_second']!s:>12} {figures['cpu_ms_per_walk']!s:>12}"
            f" {figures['p50_walk_ms']!s:>9} {figures['p95_walk_ms']!s:>9}"
            f" {figures['varbinds_per_walk']!s:>9}"
        )
    lines.append(f"goal: {result['goal']}")
    return "\n".join(lines)
