"""Running the lab on its own: what ``netpilot lab up|status|fault`` call, and ``python -m lab``.

:func:`serve_lab` starts a lab (a shipped topology, a topology file, or a generated one of N
devices), writes its inventory, opens the control socket (:mod:`lab.control`), prints a
status line every ``status_interval`` wall seconds (lab time, load, power split, video
ground truth, faults) and runs until ``stop`` is set or the duration has passed. In JSON
mode every status line is one JSON object, and the last stdout line is the final status.

:func:`run_lab` wraps it for a command line (signals, exit code); :func:`lab_status` and
:func:`inject_fault` talk to a running lab through its control socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import asyncssh

from lab.control import CONTROL_SOCKET, ControlServer, request
from lab.generate import generate_lab
from lab.runtime import LabNetwork, write_inventory
from lab.scenarios import get_scenario
from lab.topology import LabSpec, load_named_lab

__all__ = [
    "LabOptions",
    "build_spec",
    "format_status",
    "inject_fault",
    "lab_status",
    "run_lab",
    "serve_lab",
]

EXIT_OK, EXIT_FAILURE = 0, 1
# above this many devices one SSH host key is shared (generating and holding a thousand
# keys costs start-up time and memory; known_hosts still lists every address)
_SHARED_KEY_FROM = 200


@dataclass(frozen=True, slots=True)
class LabOptions:
    """What ``lab up`` was asked to do.

    Args:
        topology: a shipped topology name (``metro``, ``four-router``) or a YAML file.
        devices: generate a lab of this many devices instead (overrides ``topology``).
        scenario: a shipped scenario name.
        speed: lab seconds per wall second (default: the scenario's).
        seed: the run's seed.
        state_dir: keys, inventory, credentials, control socket and logs go here.
        duration: wall seconds to run (None: until stopped).
        status_interval: wall seconds between status lines (0: none).
        output: ``text`` or ``json``.
        trap_receivers: (host, port) of SNMP trap receivers.
    """

    topology: str = "metro"
    devices: int | None = None
    scenario: str = "steady"
    speed: float | None = None
    seed: int = 1
    state_dir: Path = Path(".lab")
    duration: float | None = None
    status_interval: float = 10.0
    output: str = "text"
    trap_receivers: tuple[tuple[str, int], ...] = field(default_factory=tuple)


def build_spec(options: LabOptions) -> LabSpec:
    """The lab the options describe (a generated one when ``devices`` is given).

    Raises:
        lab.topology.TopologyError: an unknown topology name or an invalid file.
        ValueError: too few devices for a generated lab.
    """
    if options.devices is not None:
        return generate_lab(options.devices)
    return load_named_lab(options.topology)


def _raise_fd_limit(devices: int) -> None:
    # two sockets per device plus SSH sessions: a thousand devices need more than 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * devices + 256))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def format_status(status: dict[str, object]) -> str:
    """One human line of a lab status."""
    load = status.get("load", {})
    power = status.get("power", {})
    video = status.get("video", {})
    faults = status.get("faults", [])
    assert isinstance(load, dict)
    assert isinstance(power, dict)
    assert isinstance(video, dict)
    lab_time = str(status.get("lab_time", ""))[:19].replace("T", " ")
    line = (
        f"{lab_time}  load {load.get('offered_gbps', 0):8.2f} Gbit/s "
        f"(max link {100 * float(load.get('max_link_utilization', 0)):5.1f} %)  "
        f"power {power.get('total_kw', 0):8.2f} kW "
        f"(routers {power.get('routers_kw', 0):.2f}, radio {power.get('radio_kw', 0):.2f})  "
        f"video {video.get('sessions', 0)} sessions, stall ratio "
        f"{100 * float(video.get('stall_ratio', 0)):.2f} %"
    )
    if isinstance(faults, list) and faults:
        line += "  faults: " + "; ".join(str(f) for f in faults)
    return line


LOCK_FILE = "lab.lock"


class StateDirInUseError(RuntimeError):
    """Another lab runs with this state directory (its inventory and sockets are there)."""


@contextlib.contextmanager
def _own_state_dir(state_dir: Path) -> Iterator[None]:
    """Hold ``state_dir`` for one lab: a second one there would overwrite the first's
    inventory and control socket and leave the first running unreachable."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise StateDirInUseError(
                f"a lab already runs with state directory {state_dir} ({holder}): stop it "
                "(Ctrl-C, or kill that PID) or give this one another --state-dir"
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


async def serve_lab(
    options: LabOptions,
    *,
    stop: asyncio.Event,
    on_ready: Callable[[LabNetwork, Path], Awaitable[None] | None] | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, object]:
    """Run a lab until ``stop`` is set or the duration has passed.

    Args:
        options: what to run.
        stop: set it to stop the lab.
        on_ready: called once the devices serve and the inventory is written (the CLI
            writes the controller's config there).
        out: where status lines go.

    Returns:
        The final status, with ``devices``, ``state_dir``, ``inventory`` and
        ``start_seconds`` (wall time from the call to the devices serving).
    """
    with _own_state_dir(options.state_dir.resolve()):
        return await _serve_lab(options, stop=stop, on_ready=on_ready, out=out)


async def _serve_lab(
    options: LabOptions,
    *,
    stop: asyncio.Event,
    on_ready: Callable[[LabNetwork, Path], Awaitable[None] | None] | None,
    out: TextIO,
) -> dict[str, object]:
    begun = time.perf_counter()
    spec = build_spec(options)
    scenario = get_scenario(options.scenario)
    _raise_fd_limit(len(spec.topology.devices))
    lab = LabNetwork(
        spec,
        scenario,
        seed=options.seed,
        speed=options.speed,
        trap_targets=options.trap_receivers,
    )
    state_dir = options.state_dir.resolve()
    shared_key = (
        asyncssh.generate_private_key("ssh-ed25519")
        if len(spec.topology.devices) >= _SHARED_KEY_FROM
        else None
    )
    await lab.start(state_dir, host_key=shared_key)
    control = ControlServer(lab, state_dir / CONTROL_SOCKET)
    try:
        await control.start()
        inventory = write_inventory(lab, state_dir)
        if on_ready is not None:
            result = on_ready(lab, state_dir)
            if result is not None:
                await result
        started = time.perf_counter() - begun
        info: dict[str, object] = {
            "devices": len(lab.devices),
            "topology": spec.name,
            "scenario": lab.scenario.name,
            "speed": lab.speed,
            "state_dir": str(state_dir),
            "inventory": str(inventory),
            "control_socket": str(state_dir / CONTROL_SOCKET),
            "start_seconds": round(started, 3),
        }
        _emit(
            options,
            out,
            info,
            f"lab up: {len(lab.devices)} devices ({spec.name}), "
            f"scenario {lab.scenario.name} at x{lab.speed:g}, started in {started:.1f} s; "
            f"inventory {inventory}",
        )
        deadline = None if options.duration is None else time.monotonic() + options.duration
        while not stop.is_set():
            wait = options.status_interval if options.status_interval > 0 else 3600.0
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not stop.is_set() and options.status_interval > 0:
                status = lab.status(detail=False)
                _emit(options, out, status, format_status(status))
        final = lab.status(detail=False)
        final.update(info)
        final["step_seconds"] = round(lab.step_seconds, 3)
        return final
    finally:
        await control.stop()
        await lab.stop()


def _emit(options: LabOptions, out: TextIO, data: dict[str, object], text: str) -> None:
    print(json.dumps(data, default=str) if options.output == "json" else text, file=out, flush=True)


def run_lab(
    options: LabOptions,
    *,
    on_ready: Callable[[LabNetwork, Path], Awaitable[None] | None] | None = None,
) -> int:
    """``lab up`` for a command line: SIGINT/SIGTERM/SIGHUP stop it; prints the final status.

    Returns:
        0 on a normal stop, 1 when the lab could not start (the error on stderr, and in
        JSON mode as ``{"error": ...}`` on the last stdout line).
    """

    async def go() -> dict[str, object]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def hung_up() -> None:
            # the terminal closed: stop as on SIGTERM (control socket and state cleaned up),
            # and let the final status go nowhere instead of failing on the dead terminal
            let_go_of_the_terminal()
            stop.set()

        loop.add_signal_handler(signal.SIGHUP, hung_up)
        return await serve_lab(options, stop=stop, on_ready=on_ready)

    try:
        final = asyncio.run(go())
    except (OSError, ValueError, KeyError, StateDirInUseError) as exc:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"netpilot lab: error: {message}", file=sys.stderr)
        if options.output == "json":
            print(json.dumps({"error": {"type": type(exc).__name__, "message": message}}))
        return EXIT_FAILURE
    if options.output == "json":
        print(json.dumps(final, default=str))
    else:
        print("lab stopped: " + format_status(final))
    return EXIT_OK


def let_go_of_the_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: after a hangup, reads see end-of-file
    and writes succeed into nothing (``lab up`` and ``netpilot demo`` on SIGHUP)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for stream in (0, 1, 2):
            os.dup2(devnull, stream)
    finally:
        os.close(devnull)


def lab_status(state_dir: Path) -> dict[str, object]:
    """The status of the lab running with ``state_dir`` (through its control socket).

    Raises:
        lab.control.ControlError: no lab answers there.
    """
    result = request(state_dir, {"op": "status", "detail": True})
    assert isinstance(result, dict)
    return result


def inject_fault(state_dir: Path, body: dict[str, object]) -> object:
    """Send a fault request (see :mod:`lab.control`) to the lab running with ``state_dir``.

    Raises:
        lab.control.ControlError: no lab answers there, or it refused the request.
    """
    return request(state_dir, body)
