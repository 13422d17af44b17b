"""``netpilot demo`` and ``netpilot lab up``: the embedded lab and the controller together.

The lab is a peer, not part of the controller: it starts emulated devices on loopback
addresses and writes an ordinary inventory and controller config (with SSH known_hosts and
credential files), and the controller is then built from that config exactly as
``netpilot run`` builds it from an operator's. Only this module (and the CLI that calls it)
imports lab/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import FrameType

import yaml

from controller.app import IntentSetError, build_controller
from controller.cli import (
    EXIT_OK,
    print_summary,
    report_failure,
)
from controller.config import ApplySettings, LoopSettings, load_settings
from controller.daemon import run_loop
from controller.errors import ConfigFileError, NetpilotError
from controller.loop import ControllerObserver
from controller.observers import LogObserver
from lab.control import CONTROL_SOCKET, ControlServer
from lab.launcher import let_go_of_the_terminal
from lab.runtime import LabNetwork, write_inventory
from lab.scenarios import get_scenario
from lab.topology import DEFAULT_TOPOLOGY_PATH, TOPOLOGIES_DIR, default_lab, topology_names

__all__ = ["DemoOptions", "demo_main", "lab_up_main", "run_demo"]

log = logging.getLogger("netpilot.demo")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``netpilot demo`` was asked to do."""

    headless: bool = False
    duration: timedelta | None = None
    scenario: str = "evening-peak"
    speed: float | None = None
    seed: int = 1
    intents_dir: Path | None = None
    state_dir: Path | None = None
    interval: timedelta = timedelta(seconds=2)
    output: str = "text"


# The demo's loop: fast enough to watch; the verification window spans several probe samples
# and ends long before the device's own confirm timeout would revert the change.
DEMO_APPLY = ApplySettings(
    confirm_timeout=timedelta(seconds=60),
    verification_window=timedelta(seconds=8),
    verification_interval=timedelta(seconds=1),
    required_samples=3,
)


def shipped_intents() -> Path:
    """The example intents next to the source tree (an editable install, as the README sets up)."""
    return Path(__file__).resolve().parent.parent / "examples" / "intents"


async def run_demo(
    options: DemoOptions,
    *,
    observers: list[ControllerObserver],
    stop: asyncio.Event,
) -> dict[str, object]:
    """Start the lab, run the controller on it until ``stop`` or the duration, tear down.

    Returns:
        The controller's summary plus the lab's.

    Raises:
        ConfigFileError: the intent directory does not exist.
        IntentSetError: the intents do not load.
    """
    scenario = get_scenario(options.scenario)
    intents_dir = _intents_dir(options)
    # absolute: the lab writes these paths into the inventory, whose reader resolves a
    # relative one against the inventory's own directory (that is, twice)
    state_dir = (options.state_dir or Path(tempfile.mkdtemp(prefix="netpilot-demo-"))).resolve()
    lab = LabNetwork(default_lab(), scenario, seed=options.seed, speed=options.speed)
    await lab.start(state_dir)
    # the lab's control socket, as `lab up` has it: `netpilot lab status|fault --state-dir`
    # reach the demo's lab too (a fault injected while the loop runs)
    control = ControlServer(lab, state_dir / CONTROL_SOCKET)
    try:
        try:
            await control.start()
        except OSError as exc:  # e.g. a state directory too deep for a UNIX socket's path
            log.warning("the lab's control socket is off (%s): no lab fault into the demo", exc)
        config_path = write_controller_config(
            state_dir,
            inventory=write_inventory(lab, state_dir),
            intents_dir=intents_dir,
            journal=state_dir / "journal.sqlite",
            loop=LoopSettings(interval=options.interval, violation_ticks=2),
            apply=DEMO_APPLY,
            topology=DEFAULT_TOPOLOGY_PATH,  # the lab's own: default_lab() reads it
        )
        settings = load_settings(config_path)
        runtime = build_controller(settings, observers=observers)
        try:
            log.info(
                "lab up: %d devices, scenario %s at x%g; journal %s; faults: netpilot lab "
                "fault --state-dir %s ...",
                len(lab.devices),
                scenario.name,
                lab.speed,
                settings.journal_path,
                state_dir,
            )
            await run_loop(
                runtime.controller, interval=options.interval, stop=stop, duration=options.duration
            )
            summary = runtime.controller.summary()
        finally:
            await runtime.close()
        summary["lab"] = lab.status()
        summary["journal"] = str(settings.journal_path)
        return summary
    finally:
        await control.stop()
        await lab.stop()


def _intents_dir(options: DemoOptions) -> Path:
    intents_dir = options.intents_dir or shipped_intents()
    if not intents_dir.is_dir():
        raise ConfigFileError(
            str(intents_dir), "intent directory not found; pass --intents DIR (a directory)"
        )
    return intents_dir


def write_controller_config(
    state_dir: Path,
    *,
    inventory: Path,
    intents_dir: Path,
    journal: Path,
    loop: LoopSettings,
    apply: ApplySettings,
    topology: Path | None = None,
) -> Path:
    """Write a ``netpilot.yaml`` for the lab's inventory (what ``netpilot run`` reads).

    ``topology``: the lab's topology file, for the controller's what-if twin.
    """
    config: dict[str, object] = {
        "inventory": str(inventory),
        **({"topology": str(topology.resolve())} if topology is not None else {}),
        "intents": str(intents_dir.resolve()),
        "journal": str(journal.resolve()),
        "loop": {
            "intervalSeconds": loop.interval.total_seconds(),
            "violationTicks": loop.violation_ticks,
            **(
                {"slowIntervalSeconds": loop.slow_interval.total_seconds()}
                if loop.slow_interval is not None
                else {}
            ),
        },
        "apply": {
            # whole seconds, as the config requires (NETCONF's confirm-timeout is a uint32)
            "confirmTimeoutSeconds": math.ceil(apply.confirm_timeout.total_seconds()),
            "verificationSeconds": apply.verification_window.total_seconds(),
            "verificationIntervalSeconds": apply.verification_interval.total_seconds(),
            "requiredSamples": apply.required_samples,
        },
    }
    path = state_dir / "netpilot.yaml"
    path.write_text(
        "# controller config for the embedded lab\n" + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )
    return path


def demo_main(options: DemoOptions) -> int:
    """Run the demo, with the TUI unless headless; print the summary.

    From its first moment to its last, SIGINT, SIGTERM and SIGHUP stop it as ``q`` does
    (:class:`StopSignals`): the lab stops and a temporary directory's ``secrets/`` goes.

    Returns:
        The exit code (``controller.cli.EXIT_OK`` or ``EXIT_FAILURE``).

    Raises:
        NetpilotError: a file is invalid (the CLI reports it).
    """
    signals = StopSignals()
    signals.install()  # first: before anything exists that a signal could leave behind
    try:
        _intents_dir(options)  # before the lab starts or the TUI takes the terminal
        try:
            # absolute: see run_demo (a relative --state-dir would be resolved twice)
            state_dir = (
                options.state_dir or Path(tempfile.mkdtemp(prefix="netpilot-demo-"))
            ).resolve()
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return report_failure(f"state directory: {exc}", options.output)
        temporary = options.state_dir is None
        options = replace(options, state_dir=state_dir)
        try:
            signals.hold("before-lab")
            return _demo(options, state_dir, signals)
        finally:
            if temporary:
                signals.hold("before-cleanup")
                # the lab's per-run credentials die with it; the journal and log stay to read
                shutil.rmtree(state_dir / "secrets", ignore_errors=True)
    finally:
        signals.restore()


# what signal.signal takes and gives back (SIG_DFL and SIG_IGN are ints; None: not from Python)
_SignalHandler = Callable[[int, FrameType | None], object] | int | None
HOLD_ENV = "NETPILOT_DEMO_HOLD"  # tests: a moment to wait at for a signal (StopSignals.hold)


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP over the demo's whole life.

    Plain ``signal.signal`` handlers, installed before the state directory, the lab or the
    console exist and kept until :meth:`restore`, after the credentials are removed. The
    event loop's own handlers (``loop.add_signal_handler``) left two windows in which a
    signal's default action killed the process and left the lab's ``secrets/`` behind:
    before the loop (or the console's worker) had installed them, and after the loop had
    closed, which resets them to the default action. A signal is recorded; while the demo's
    event loop runs it calls the callback given to :meth:`forward_to` there (stop the
    controller, or quit the console as ``q`` does), and one received earlier calls it as
    soon as the loop is there. The exit is then the clean one: status 0, the summary.

    SIGHUP means the terminal is gone. The handler first points stdin, stdout and stderr at
    /dev/null: every read of the terminal and every write to it fails (EIO) from then on,
    and the console's output thread dies on the first failed write, after which the app
    stalls on its full output queue and never gets to the shutdown. It does so in the
    handler, not in the event loop, so the terminal is let go of before the next frame.
    It is not in ``controller.cli.install_stop_signals``: ``netpilot run`` keeps SIGHUP for
    re-reading its intents, as daemons do.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: signal.Signals | None = None  # the first stop signal
        self._forward: tuple[asyncio.AbstractEventLoop, Callable[[], object]] | None = None
        self._previous: dict[signal.Signals, _SignalHandler] = {}
        self._wake: int | None = None  # the write end of the pipe a hold waits on

    def install(self) -> None:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Put back the handlers there were before :meth:`install`."""
        for sig, previous in self._previous.items():
            # None: a handler not installed from Python; the default is the nearest to it
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if sig is signal.SIGHUP:
            let_go_of_the_terminal()
        if self.received is None:
            self.received = sig
        if self._forward is not None:
            loop, callback = self._forward
            with contextlib.suppress(RuntimeError):  # the loop closed just now: recorded
                loop.call_soon_threadsafe(callback)
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake, b"!")

    @contextlib.contextmanager
    def forward_to(self, callback: Callable[[], object]) -> Iterator[None]:
        """In the block, a stop signal calls ``callback`` in the running loop, and so does
        one received before the block (either may call it twice: stopping is idempotent)."""
        loop = asyncio.get_running_loop()
        self._forward = (loop, callback)
        try:
            if self.received is not None:
                loop.call_soon(callback)
            yield
        finally:
            self._forward = None

    def hold(self, point: str) -> None:
        """A test hook: with ``NETPILOT_DEMO_HOLD=point`` in the environment, say so on
        stderr and wait here until a stop signal has arrived, so that a test sends it at a
        moment it knows rather than one it guesses. Points: ``before-lab`` (the state
        directory exists, nothing runs yet) and ``before-cleanup`` (the lab has stopped and
        the event loop has closed; ``secrets/`` is still there)."""
        if os.environ.get(HOLD_ENV) != point:
            return
        read_end, self._wake = os.pipe()
        try:
            print(f"netpilot: holding at {point} until a stop signal", file=sys.stderr, flush=True)
            if self.received is None:
                os.read(read_end, 1)  # the handler writes to the pipe: none is missed
        finally:
            write_end, self._wake = self._wake, None  # the handler stops writing first
            os.close(write_end)
            os.close(read_end)


def _demo(options: DemoOptions, state_dir: Path, signals: StopSignals) -> int:
    if options.headless:

        async def headless() -> dict[str, object]:
            stop = asyncio.Event()
            # a signal stops as the duration's end does: changes in flight finish first
            with signals.forward_to(stop.set):
                return await run_demo(options, observers=[LogObserver()], stop=stop)

        try:
            summary = asyncio.run(headless())
        except IntentSetError as exc:
            return report_failure(exc, options.output)
    else:
        from tui.app import TuiObserver, make_app

        async def runner(observer: TuiObserver, stop: asyncio.Event) -> dict[str, object]:
            # in the console's loop: a signal quits as the 'q' key does (an operator rollback
            # in flight ends, then the controller stops)
            def quit_console() -> None:
                app.call_later(app.action_quit)

            with signals.forward_to(quit_console):
                return await run_demo(options, observers=[observer], stop=stop)

        # the TUI owns the terminal: library logs would tear its screen, so they go to a file
        log_file = state_dir / "netpilot.log"
        root = logging.getLogger()
        level = root.level  # -v has set DEBUG
        root.handlers.clear()
        logging.basicConfig(
            filename=str(log_file),
            level=level,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        )
        app = make_app(runner, subtitle=f"embedded lab - scenario {options.scenario}")
        result = app.run()
        if app.error is not None:
            # reported here, after Textual has given the terminal back
            code = report_failure(app.error, options.output)
            if not isinstance(app.error, NetpilotError | IntentSetError):
                print(f"netpilot: the traceback is in {log_file}", file=sys.stderr)
            return code
        if result is None:
            return report_failure(
                f"the console exited without a summary; see {log_file}", options.output
            )
        summary = result
    print_summary(summary, options.output)
    return EXIT_OK


def topology_file(args: argparse.Namespace) -> Path | None:
    """The file of ``lab up``'s topology (None for a generated lab: it has no file)."""
    if getattr(args, "devices", None) is not None:
        return None
    name = str(getattr(args, "topology", "metro"))
    if name in topology_names():
        return TOPOLOGIES_DIR / f"{name}.yaml"
    path = Path(name)
    return path if path.is_file() else None


def lab_up_main(args: argparse.Namespace) -> int:
    """``netpilot lab up|status|fault``: the lab's own commands; ``up`` also writes a
    controller config (``netpilot.yaml``) next to the inventory it writes."""
    from lab.cli import run_lab_command

    def ready(lab: LabNetwork, state_dir: Path) -> None:
        intents = shipped_intents()
        if set(lab.devices) != {"r1", "r2", "r3", "r4"}:
            # the shipped intents name the four-router lab's devices; other labs start with
            # an empty intent directory for the operator to fill
            intents = state_dir / "intents"
            intents.mkdir(exist_ok=True)
        config = write_controller_config(
            state_dir,
            inventory=state_dir / "inventory.yaml",
            intents_dir=intents,
            journal=state_dir / "journal.sqlite",
            loop=LoopSettings(),
            apply=ApplySettings(),
            topology=topology_file(args),
        )
        if args.output != "json":  # JSON mode: only the lab's own JSON lines on stdout
            print(f"controller config: {config} (netpilot run --config {config})", flush=True)

    return run_lab_command(args, on_ready=ready if args.lab_command == "up" else None)
