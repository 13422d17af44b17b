"""An in-memory device that implements :class:`~adapters.base.ConfigSession`, with faults.

It keeps running and candidate datastores, a candidate lock, and a pending confirmed commit
with its persist-id, with the NETCONF semantics the transaction relies on (RFC 6241 §8.3,
§8.4): a persist-id'd confirmed commit survives its session, any session may confirm or
cancel it with the id, cancelling restores the previous running configuration. Unit tests of
the controller use it to reach every failure path deterministically; the same transaction
code is tested against the lab's NETCONF server and Debian's netconfd elsewhere.

Faults (one-shot unless said otherwise):

- :meth:`FakeDevice.fail_next`: the next call of a method raises the given error, no effect;
- :meth:`FakeDevice.lose_reply`: the next call of a method takes effect, then raises
  :class:`~controller.errors.AdapterTimeoutError` (the reply was lost);
- :meth:`FakeDevice.drop_sessions`: every open session dies (calls raise ConnectError);
- ``FakeDevice.reachable = False``: opening a session raises ConnectError (persistent).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from adapters.base import Capability
from controller.errors import (
    AdapterTimeoutError,
    ConnectError,
    MissingCapabilityError,
    NetpilotError,
    RpcError,
)
from controller.model import ClassQueue, ConfigEdit, DeviceConfig, ProbeResult

__all__ = ["FakeDevice", "FakeSession"]

FULL_CAPABILITIES = frozenset(
    {
        Capability.CANDIDATE,
        Capability.VALIDATE,
        Capability.CONFIRMED_COMMIT,
        Capability.ROLLBACK_ON_ERROR,
    }
)
_session_ids = itertools.count(1)
# the netpilot-lab module's integer ranges, by leaf name
_RANGES = {
    "priority": (0, 7),
    "weight": (1, 100),
    "metric": (1, 65535),
    "rate-mbps": (1, 400_000),
}
_DATASTORES = frozenset({"candidate", "running"})


@dataclass
class _Pending:
    persist_id: str
    before: DeviceConfig


@dataclass
class FakeDevice:
    """One in-memory device. ``open`` gives sessions to it."""

    name: str
    running: DeviceConfig = field(default_factory=DeviceConfig)
    capabilities: frozenset[Capability] = FULL_CAPABILITIES
    queues: tuple[ClassQueue, ...] = ()
    probes: tuple[ProbeResult, ...] = ()
    reachable: bool = True

    def __post_init__(self) -> None:
        self.candidate = self.running
        self.lock_owner: int | None = None
        self.pending: _Pending | None = None
        self.sessions: list[FakeSession] = []
        self.calls: list[str] = []
        self._fail: dict[str, NetpilotError] = {}
        self._lose: set[str] = set()

    async def open(self) -> FakeSession:
        """Open a session (raises ConnectError when unreachable)."""
        if not self.reachable:
            raise ConnectError(self.name, "connection refused (fake device unreachable)")
        session = FakeSession(self)
        self.sessions.append(session)
        return session

    # ---------------------------------------------------------------- faults

    def fail_next(self, method: str, error: NetpilotError) -> None:
        """The next call of ``method`` raises ``error`` without taking effect."""
        self._fail[method] = error

    def lose_reply(self, method: str) -> None:
        """The next call of ``method`` takes effect, then times out."""
        self._lose.add(method)

    def drop_sessions(self) -> None:
        """Every open session dies, as when the transport drops; locks are released."""
        for session in self.sessions:
            session.alive = False
        self.lock_owner = None

    # ---------------------------------------------------------------- semantics

    def must_errors(self, config: DeviceConfig) -> RpcError | None:
        """The ``netpilot-lab`` module's ranges and its must rule (one class on level 7)."""
        for path, value in config.flatten().items():
            bounds = _RANGES.get(path[-1])
            if bounds is not None and not bounds[0] <= int(value) <= bounds[1]:
                return RpcError(
                    self.name,
                    "invalid-value",
                    f"{path[-1]} {value} is outside {bounds[0]}..{bounds[1]}",
                    app_tag="not-in-range",
                    path="/npl:" + "/npl:".join(path),
                )
        if sum(1 for c in config.classes if c.priority == 7) > 1:
            return RpcError(
                self.name,
                "operation-failed",
                "only one class may use strict priority level 7",
                app_tag="strict-priority-exclusive",
                path="/npl:qos/npl:class",
            )
        return None


def _check_datastore(target: str) -> None:
    if target not in _DATASTORES:
        raise ValueError(f"unknown datastore {target!r}")


class FakeSession:
    """A session to a :class:`FakeDevice`; implements ``ConfigSession``."""

    def __init__(self, device: FakeDevice) -> None:
        self._device = device
        self.id = next(_session_ids)
        self.alive = True

    @property
    def device(self) -> str:
        return self._device.name

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._device.capabilities

    def _require(self, *capabilities: Capability) -> None:
        for capability in capabilities:
            if capability not in self._device.capabilities:
                raise MissingCapabilityError(self._device.name, capability.value)

    def _enter(self, method: str) -> None:
        dev = self._device
        dev.calls.append(method)
        if not self.alive:
            raise ConnectError(dev.name, "session is closed")
        error = dev._fail.pop(method, None)
        if error is not None:
            if isinstance(error, ConnectError):
                self.alive = False
            raise error

    def _leave(self, method: str) -> None:
        if method in self._device._lose:
            self._device._lose.discard(method)
            raise AdapterTimeoutError(self._device.name, f"no reply to {method} (reply lost)")

    async def get_running(self) -> DeviceConfig:
        self._enter("get_running")
        self._leave("get_running")
        return self._device.running

    async def get_candidate(self) -> DeviceConfig:
        self._require(Capability.CANDIDATE)
        self._enter("get_candidate")
        self._leave("get_candidate")
        return self._device.candidate

    async def get_state(self) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        self._enter("get_state")
        self._leave("get_state")
        return self._device.queues, self._device.probes

    async def lock(self, target: str = "candidate") -> None:
        _check_datastore(target)
        if target == "candidate":
            self._require(Capability.CANDIDATE)
        self._enter("lock")
        dev = self._device
        if dev.lock_owner is not None and dev.lock_owner != self.id:
            raise RpcError(dev.name, "lock-denied", f"lock held by session {dev.lock_owner}")
        dev.lock_owner = self.id
        self._leave("lock")

    async def unlock(self, target: str = "candidate") -> None:
        _check_datastore(target)
        if target == "candidate":
            self._require(Capability.CANDIDATE)
        self._enter("unlock")
        dev = self._device
        if dev.lock_owner != self.id:
            raise RpcError(dev.name, "operation-failed", "lock not held by this session")
        dev.lock_owner = None
        self._leave("unlock")

    async def edit_candidate(self, edits: tuple[ConfigEdit, ...]) -> None:
        self._require(Capability.CANDIDATE)
        self._enter("edit_candidate")
        dev = self._device
        try:
            edited = dev.candidate.with_edits(edits)
        except ValueError as exc:
            raise RpcError(dev.name, "invalid-value", str(exc)) from exc
        error = dev.must_errors(edited)
        if error is not None and error.tag == "invalid-value":  # types and ranges, as on edit
            raise error
        dev.candidate = edited
        self._leave("edit_candidate")

    async def validate(self, config: DeviceConfig) -> None:
        self._require(Capability.VALIDATE)
        self._enter("validate")
        error = self._device.must_errors(config)
        if error is not None:
            raise error
        self._leave("validate")

    async def commit(self, *, confirm_timeout: timedelta, persist_id: str) -> None:
        seconds = confirm_timeout.total_seconds()
        if seconds <= 0 or seconds != int(seconds):
            raise ValueError(
                f"confirm_timeout must be a positive number of whole seconds: {seconds}"
            )
        if not persist_id:
            raise ValueError("persist_id must not be empty")
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        self._enter("commit")
        dev = self._device
        error = dev.must_errors(dev.candidate)
        if error is not None:
            raise error
        if dev.pending is not None and dev.pending.persist_id != persist_id:
            raise RpcError(dev.name, "in-use", "another confirmed commit is pending")
        if dev.pending is None:
            dev.pending = _Pending(persist_id=persist_id, before=dev.running)
        dev.running = dev.candidate
        self._leave("commit")

    async def confirm(self, persist_id: str) -> None:
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        self._enter("confirm")
        dev = self._device
        if dev.pending is None or dev.pending.persist_id != persist_id:
            raise RpcError(dev.name, "invalid-value", f"no pending commit with id {persist_id}")
        dev.pending = None
        self._leave("confirm")

    async def cancel_commit(self, persist_id: str) -> None:
        self._require(Capability.CANDIDATE, Capability.CONFIRMED_COMMIT)
        self._enter("cancel_commit")
        dev = self._device
        if dev.pending is None or dev.pending.persist_id != persist_id:
            raise RpcError(dev.name, "invalid-value", f"no pending commit with id {persist_id}")
        dev.running = dev.pending.before
        dev.candidate = dev.running
        dev.pending = None
        self._leave("cancel_commit")

    async def lock_and_read_running(self) -> DeviceConfig:
        # one call after the other: each step's fault hook applies as on its own
        await self.lock("candidate")
        await self.discard()
        return await self.get_running()

    async def load_candidate(
        self, config: DeviceConfig, edits: tuple[ConfigEdit, ...]
    ) -> DeviceConfig:
        await self.validate(config)
        await self.edit_candidate(edits)
        return await self.get_candidate()

    async def discard(self) -> None:
        self._require(Capability.CANDIDATE)
        self._enter("discard")
        self._device.candidate = self._device.running
        self._leave("discard")

    async def close(self) -> None:
        dev = self._device
        dev.calls.append("close")
        if dev.lock_owner == self.id:
            dev.lock_owner = None
            dev.candidate = dev.running  # a closing lock holder's edits are discarded
        self.alive = False
