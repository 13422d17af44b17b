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
from controller.errors import AdapterTimeoutError, ConnectError, NetpilotError, RpcError
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
        """The ``netpilot-lab`` module's must rule: one class at most on level 7."""
        if sum(1 for c in config.classes if c.priority == 7) > 1:
            return RpcError(
                self.name,
                "operation-failed",
                "only one class may use strict priority level 7",
                app_tag="strict-priority-exclusive",
                path="/npl:qos/npl:class",
            )
        return None


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
        self._enter("get_candidate")
        self._leave("get_candidate")
        return self._device.candidate

    async def get_state(self) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        self._enter("get_state")
        self._leave("get_state")
        return self._device.queues, self._device.probes

    async def lock(self, target: str = "candidate") -> None:
        self._enter("lock")
        dev = self._device
        if dev.lock_owner is not None and dev.lock_owner != self.id:
            raise RpcError(dev.name, "lock-denied", f"lock held by session {dev.lock_owner}")
        dev.lock_owner = self.id
        self._leave("lock")

    async def unlock(self, target: str = "candidate") -> None:
        self._enter("unlock")
        dev = self._device
        if dev.lock_owner != self.id:
            raise RpcError(dev.name, "operation-failed", "lock not held by this session")
        dev.lock_owner = None
        self._leave("unlock")

    async def edit_candidate(self, edits: tuple[ConfigEdit, ...]) -> None:
        self._enter("edit_candidate")
        dev = self._device
        try:
            dev.candidate = dev.candidate.with_edits(edits)
        except ValueError as exc:
            raise RpcError(dev.name, "invalid-value", str(exc)) from exc
        self._leave("edit_candidate")

    async def validate(self, config: DeviceConfig) -> None:
        self._enter("validate")
        error = self._device.must_errors(config)
        if error is not None:
            raise error
        self._leave("validate")

    async def commit(self, *, confirm_timeout: timedelta, persist_id: str) -> None:
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
        self._enter("confirm")
        dev = self._device
        if dev.pending is None or dev.pending.persist_id != persist_id:
            raise RpcError(dev.name, "invalid-value", f"no pending commit with id {persist_id}")
        dev.pending = None
        self._leave("confirm")

    async def cancel_commit(self, persist_id: str) -> None:
        self._enter("cancel_commit")
        dev = self._device
        if dev.pending is None or dev.pending.persist_id != persist_id:
            raise RpcError(dev.name, "invalid-value", f"no pending commit with id {persist_id}")
        dev.running = dev.pending.before
        dev.candidate = dev.running
        dev.pending = None
        self._leave("cancel_commit")

    async def discard(self) -> None:
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
