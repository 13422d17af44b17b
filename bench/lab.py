"""``netpilot bench lab``: the embedded lab at scale, polled like a controller polls it.

Starts ``python -m lab up --devices N`` in its own process, then a light SNMP poller in
this process (an asyncio UDP client using the lab's BER codec: GETBULK of IF-MIB's
ifXTable, max-repetitions 64, continued until the walk leaves the table) reads every
device's ifXTable once per ``--interval`` seconds, spread evenly over the interval. The
lab process's CPU time (utime + stime from /proc) and RSS are measured over ``--duration``
seconds after one warm-up round. A few devices are cross-checked with net-snmp's own
``snmpbulkwalk`` (same ifName column). An 8-device lab is started first to measure the
process's fixed RSS, so the per-device RSS is the increment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DESCRIPTION = "the lab at scale: CPU per device per poll and RSS per device (ifXTable polling)"

IFX: tuple[int, ...] = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``netpilot bench lab``."""
    parser.add_argument("--devices", type=int, default=1000, help="devices (default 1000)")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="poll interval per device (default 10 s)"
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="measured wall seconds (default 60)"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="lab speed (default 1)")


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _start_lab(
    devices: int, state_dir: Path, speed: float
) -> tuple[subprocess.Popen[str], dict[str, Any], float]:
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "lab",
            "up",
            "--devices",
            str(devices),
            "--state-dir",
            str(state_dir),
            "--status-interval",
            "0",
            "--output",
            "json",
            "--speed",
            str(speed),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    wall = time.perf_counter() - started
    if not line:
        process.kill()
        raise RuntimeError("the lab did not start")
    return process, json.loads(line), wall


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _Poller(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[int, asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        from lab.snmp_codec import decode_message

        try:
            request_id = decode_message(data).pdu.request_id
        except Exception:  # noqa: BLE001 - a bad datagram is just not an answer
            return
        future = self.waiting.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(data)


async def _walk(
    transport: asyncio.DatagramTransport,
    poller: _Poller,
    target: tuple[str, int],
    community: bytes,
    ids: Any,
) -> tuple[list[str], int]:
    from lab.snmp_codec import Message, OctetString, bulk_request, decode_message, encode_message

    names: list[str] = []
    requests = 0
    oid: tuple[int, ...] = IFX
    while True:
        request_id = next(ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        poller.waiting[request_id] = future
        transport.sendto(
            encode_message(Message(community, bulk_request(request_id, 0, 64, [oid]))), target
        )
        requests += 1
        try:
            data = await asyncio.wait_for(future, 2.0)
        except TimeoutError:
            poller.waiting.pop(request_id, None)
            raise
        varbinds = decode_message(data).pdu.varbinds
        for name, value in varbinds:
            if name[: len(IFX)] != IFX:
                return names, requests
            if name[len(IFX)] == 1 and isinstance(value, OctetString):
                names.append(value.value.decode())
            oid = name
        if not varbinds:
            return names, requests


async def _poll(
    devices: list[tuple[str, int]], community: bytes, interval: float, rounds: int, on_round: Any
) -> dict[str, Any]:
    import itertools

    loop = asyncio.get_running_loop()
    poller = _Poller()
    transport, _ = await loop.create_datagram_endpoint(lambda: poller, local_addr=("127.0.0.1", 0))
    ids = itertools.count(1)
    stats: dict[str, Any] = {"walks": 0, "requests": 0, "timeouts": 0, "late_rounds": 0}
    names: dict[tuple[str, int], list[str]] = {}
    try:
        for round_number in range(rounds):
            begin = loop.time()
            tasks = []
            for i, target in enumerate(devices):
                at = begin + interval * i / len(devices)
                await asyncio.sleep(max(0.0, at - loop.time()))
                tasks.append(
                    asyncio.ensure_future(_walk(transport, poller, target, community, ids))
                )
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for target, result in zip(devices, results, strict=True):
                if isinstance(result, BaseException):
                    stats["timeouts"] += 1
                else:
                    names[target] = result[0]
                    stats["walks"] += 1
                    stats["requests"] += result[1]
            on_round(round_number)
            if loop.time() - begin > interval * 1.05:
                stats["late_rounds"] += 1
            await asyncio.sleep(max(0.0, begin + interval - loop.time()))
    finally:
        transport.close()
    stats["names"] = names
    return stats


def _snmpbulkwalk_names(address: str, port: int, community: str) -> list[str] | None:
    tool = shutil.which("snmpbulkwalk")
    if tool is None:
        return None
    out = subprocess.run(  # noqa: S603 - net-snmp's tool, fixed arguments
        [
            tool,
            "-v2c",
            "-c",
            community,
            "-On",
            "-Oqv",
            f"{address}:{port}",
            "1.3.6.1.2.1.31.1.1.1.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return [line.strip().strip('"') for line in out.stdout.splitlines() if line.strip()]


def _machine() -> dict[str, object]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    """Start the labs, poll, measure; returns the figures."""
    import yaml

    from lab.control import request

    with tempfile.TemporaryDirectory(prefix="netpilot-bench-lab-") as tmp:
        small, _, _ = _start_lab(8, Path(tmp) / "small", args.speed)
        time.sleep(2.0)
        base_rss = _proc_rss_mb(small.pid)
        _stop(small)
        state_dir = Path(tmp) / "big"
        process, ready, start_wall = _start_lab(args.devices, state_dir, args.speed)
        try:
            inventory = yaml.safe_load((state_dir / "inventory.yaml").read_text())
            community = (state_dir / "secrets" / "snmp-community").read_text().strip()
            devices = [(d["address"], int(d["snmp"]["port"])) for d in inventory["devices"]]
            rounds = 1 + max(1, round(args.duration / args.interval))
            marks: dict[int, tuple[float, float, float]] = {}

            def on_round(number: int) -> None:
                marks[number] = (
                    time.perf_counter(),
                    _proc_cpu(process.pid),
                    _proc_rss_mb(process.pid),
                )

            before_status = request(state_dir, {"op": "status"})
            stats = asyncio.run(_poll(devices, community.encode(), args.interval, rounds, on_round))
            after_status = request(state_dir, {"op": "status"})
            check = []
            for address, port in devices[:: max(1, len(devices) // 3)][:3]:
                theirs = _snmpbulkwalk_names(address, port, community)
                check.append(theirs == stats["names"].get((address, port)))
        finally:
            _stop(process)
    (t0, cpu0, _), (t1, cpu1, rss1) = marks[0], marks[rounds - 1]
    polls = (rounds - 1) * len(devices)
    cpu = cpu1 - cpu0
    assert isinstance(before_status, dict)
    assert isinstance(after_status, dict)
    steps = int(after_status["steps"]) - int(before_status["steps"])
    return {
        "devices": args.devices,
        "start_seconds_to_ready": round(start_wall, 2),
        "lab_reported_start_seconds": ready.get("start_seconds"),
        "poller": "asyncio UDP client with the lab's BER codec (GETBULK max-repetitions 64)",
        "interval_s": args.interval,
        "measured_wall_s": round(t1 - t0, 2),
        "polls": polls,
        "requests": stats["requests"],
        "timeouts": stats["timeouts"],
        "late_rounds": stats["late_rounds"],
        "lab_cpu_s": round(cpu, 3),
        "lab_cpu_share_of_one_core": round(cpu / (t1 - t0), 3),
        "cpu_s_per_device_per_poll": round(cpu / polls, 6) if polls else None,
        "model_steps_during_run": steps,
        "rss_mb": round(rss1, 1),
        "rss_mb_8_devices": round(base_rss, 1),
        "rss_kb_per_device": round((rss1 - base_rss) * 1024 / (args.devices - 8), 1),
        "netsnmp_snmpbulkwalk_agrees": check,
        "machine": _machine(),
        "date": time.strftime("%Y-%m-%d"),
    }


def format_text(result: dict[str, object]) -> str:
    """The figures, one per line."""
    return "\n".join(f"{key}: {value}" for key, value in result.items())
