"""The typed contract between the controller and a device's configuration datastores.

:class:`ConfigSession` is what a change transaction talks to. Implementations:
:class:`adapters.netconf.NetconfSession` (NETCONF, natively),
:class:`adapters.netconf.EmulatedConfirmedSession` (a :writable-running device, with the
candidate and the confirmed commit emulated by netpilot) and :class:`adapters.fake.FakeSession`
(in memory). tests/contract/ holds every one of them to the same contract. Only core types
from :mod:`controller.model` cross it, and only errors from :mod:`controller.errors` leave it.

A session is bound to one device; its methods are called one at a time by one transaction.
The capability model (:func:`commit_mode`, :func:`missing_for_transaction`) decides what a
transaction may do on a device, before anything is sent. The generic NETCONF vocabulary
(:class:`Datastore`, :class:`EditOperation`, :class:`NodeEdit`, :class:`SubtreeFilter`,
:class:`XPathFilter`, :class:`Notification`) types the adapter's operations beyond it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Protocol, TypeAlias, runtime_checkable

from controller.model import ClassQueue, ConfigEdit, ConfigPath, DeviceConfig, ProbeResult

__all__ = [
    "CAPABILITY_URNS",
    "TRANSACTION_CAPABILITIES",
    "Capability",
    "CommitMode",
    "CommitRecorder",
    "ConfigSession",
    "Datastore",
    "EditOperation",
    "EmulatedCommitSession",
    "ErrorOption",
    "Filter",
    "NodeEdit",
    "Notification",
    "PendingEmulatedCommit",
    "SubtreeFilter",
    "XPathFilter",
    "capabilities_from_uris",
    "commit_mode",
    "missing_for_transaction",
]


class Capability(str, Enum):
    """What a device's configuration datastores can do.

    Values are the capability short names of RFC 6241 (``:candidate``...).
    :func:`capabilities_from_uris` maps a NETCONF ``<hello>``'s URNs onto them; a device
    speaking another protocol declares them directly.
    """

    CANDIDATE = ":candidate"
    VALIDATE = ":validate"
    # :confirmed-commit:1.1 specifically: netpilot's commit uses <persist>/<persist-id>,
    # which 1.0 lacks, so a 1.0-only device does not have this capability
    CONFIRMED_COMMIT = ":confirmed-commit"
    ROLLBACK_ON_ERROR = ":rollback-on-error"
    WRITABLE_RUNNING = ":writable-running"
    NOTIFICATION = ":notification"
    # notifications and RPCs may share one session (RFC 6241 interleave, RFC 5277 §6)
    INTERLEAVE = ":interleave"
    XPATH = ":xpath"


_CAPABILITY_PREFIX = "urn:ietf:params:netconf:capability:"

CAPABILITY_URNS: Mapping[Capability, tuple[str, ...]] = MappingProxyType(
    {
        Capability.CANDIDATE: (f"{_CAPABILITY_PREFIX}candidate:1.0",),
        Capability.VALIDATE: (
            f"{_CAPABILITY_PREFIX}validate:1.0",
            f"{_CAPABILITY_PREFIX}validate:1.1",
        ),
        Capability.CONFIRMED_COMMIT: (f"{_CAPABILITY_PREFIX}confirmed-commit:1.1",),
        Capability.ROLLBACK_ON_ERROR: (f"{_CAPABILITY_PREFIX}rollback-on-error:1.0",),
        Capability.WRITABLE_RUNNING: (f"{_CAPABILITY_PREFIX}writable-running:1.0",),
        Capability.NOTIFICATION: (f"{_CAPABILITY_PREFIX}notification:1.0",),
        Capability.INTERLEAVE: (f"{_CAPABILITY_PREFIX}interleave:1.0",),
        Capability.XPATH: (f"{_CAPABILITY_PREFIX}xpath:1.0",),
    }
)
"""The ``<hello>`` capability URNs (any one suffices) that grant each :class:`Capability`."""


def capabilities_from_uris(uris: Iterable[str]) -> frozenset[Capability]:
    """Map the capability URIs of a NETCONF ``<hello>`` onto :class:`Capability`.

    Parameters after ``?`` (``...:url:1.0?scheme=file``) are ignored.

    Args:
        uris: the server's capability URIs.

    Returns:
        The capabilities granted by at least one of the URIs.
    """
    offered = {uri.split("?", 1)[0].strip() for uri in uris}
    return frozenset(cap for cap, urns in CAPABILITY_URNS.items() if offered.intersection(urns))


# --------------------------------------------------------------------------- the capability model

TRANSACTION_CAPABILITIES = (Capability.CANDIDATE, Capability.CONFIRMED_COMMIT, Capability.VALIDATE)
"""What a change transaction needs from a :class:`ConfigSession` (natively or emulated)."""


class CommitMode(str, Enum):
    """How a change transaction can commit on a device, decided from its capabilities."""

    # :candidate + :confirmed-commit:1.1: the device reverts by itself unless confirmed
    NATIVE = "native"
    # only :writable-running: netpilot saves running, edits it and restores it on
    # cancel or when its own timer expires (the device knows nothing of the pending commit)
    EMULATED = "emulated"
    # neither: the device can be read, never changed by a transaction
    UNSUPPORTED = "unsupported"


def commit_mode(capabilities: frozenset[Capability]) -> CommitMode:
    """Decide how a transaction may commit on a device with these capabilities.

    Args:
        capabilities: what the device announced in its ``<hello>``.

    Returns:
        NATIVE with :candidate and :confirmed-commit, else EMULATED with
        :writable-running, else UNSUPPORTED.
    """
    if {Capability.CANDIDATE, Capability.CONFIRMED_COMMIT} <= capabilities:
        return CommitMode.NATIVE
    if Capability.WRITABLE_RUNNING in capabilities:
        return CommitMode.EMULATED
    return CommitMode.UNSUPPORTED


def missing_for_transaction(capabilities: frozenset[Capability]) -> tuple[Capability, ...]:
    """The capabilities a change transaction needs that a session lacks, in a fixed order.

    Args:
        capabilities: a session's capabilities (for an emulated session, the emulated
            ones included, as its ``capabilities`` property reports them).

    Returns:
        The missing ones; empty when a transaction may run.
    """
    return tuple(c for c in TRANSACTION_CAPABILITIES if c not in capabilities)


# --------------------------------------------------------------------------- generic NETCONF


class Datastore(str, Enum):
    """A NETCONF configuration datastore (RFC 6241 §5.1)."""

    RUNNING = "running"
    CANDIDATE = "candidate"
    STARTUP = "startup"


class EditOperation(str, Enum):
    """The ``operation`` of an ``<edit-config>`` node (RFC 6241 §7.2)."""

    MERGE = "merge"
    REPLACE = "replace"
    CREATE = "create"  # fails with data-exists if the node exists
    DELETE = "delete"  # fails with data-missing if the node does not exist
    REMOVE = "remove"  # deletes if present, silently nothing otherwise


class ErrorOption(str, Enum):
    """``<error-option>`` of an ``<edit-config>``."""

    STOP_ON_ERROR = "stop-on-error"
    CONTINUE_ON_ERROR = "continue-on-error"
    ROLLBACK_ON_ERROR = "rollback-on-error"


@dataclass(frozen=True, slots=True)
class NodeEdit:
    """One node of an ``<edit-config>`` with an explicit operation.

    ``path`` uses the :data:`~controller.model.ConfigPath` syntax
    (``("qos", "class[name=video]", "priority")``). ``value`` is the leaf's new text for
    MERGE/REPLACE/CREATE on a leaf, and None for a container or list entry (created with
    its keys) and for DELETE/REMOVE. Several edits may share ancestors; a node below a
    REPLACE or CREATE inherits that operation, as RFC 6241 says.
    """

    operation: EditOperation
    path: ConfigPath
    value: str | None = None


@dataclass(frozen=True, slots=True)
class SubtreeFilter:
    """A subtree filter (RFC 6241 §6): one or more top-level filter elements as XML text,
    each with its namespace (``<qos xmlns="urn:netpilot:lab"><class/></qos>``)."""

    xml: str


@dataclass(frozen=True, slots=True)
class XPathFilter:
    """An XPath filter (RFC 6241 §8.9, needs :xpath): ``select`` with the namespace
    prefixes it uses as ``(prefix, uri)`` pairs."""

    select: str
    namespaces: tuple[tuple[str, str], ...] = ()


Filter: TypeAlias = SubtreeFilter | XPathFilter


@dataclass(frozen=True, slots=True)
class Notification:
    """One NETCONF event notification (RFC 5277), as received.

    ``name`` and ``namespace`` identify the event (``netconf-config-change`` in
    ``urn:ietf:params:xml:ns:yang:ietf-netconf-notifications``); ``xml`` is the event
    element as text, for a parser of that event's module.
    """

    device: str
    event_time: datetime
    name: str
    namespace: str
    xml: str


@dataclass(frozen=True, slots=True)
class PendingEmulatedCommit:
    """A confirmed commit netpilot emulates on a :writable-running device, not yet confirmed.

    The device knows nothing of it: netpilot holds the configuration to restore and the
    timer. To survive a controller restart it must be journaled and handed back to the
    adapter (``NetconfClient.adopt_emulated_commit``).

    Attributes:
        device: the inventory name.
        persist_id: the transaction's persist-id (any session may confirm or cancel with it).
        saved_xml: the device's running configuration before the commit, as the
            ``<config>`` of its ``netpilot-lab`` top-level containers (restored verbatim).
        saved: the same, parsed (for comparisons and the journal).
        expires_at: when netpilot restores ``saved`` unless confirmed (UTC).
    """

    device: str
    persist_id: str
    saved_xml: str
    saved: DeviceConfig
    expires_at: datetime


@runtime_checkable
class ConfigSession(Protocol):
    """An open management session to one device, typed for the ``netpilot-lab`` module.

    The transaction's order of calls is: :meth:`lock` → :meth:`edit_candidate` →
    :meth:`validate` → :meth:`commit` (confirmed) → post-check → :meth:`confirm` or
    :meth:`cancel_commit` → :meth:`unlock`; :meth:`discard` after any failure before the
    commit. Every method may raise :class:`~controller.errors.ConnectError` (the transport
    dropped: retryable, the session is dead) and
    :class:`~controller.errors.AdapterTimeoutError` (no reply in the endpoint's timeout);
    those are not repeated below.
    """

    @property
    def device(self) -> str:
        """The inventory name of the device."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the session can do, fixed for its lifetime: what the device announced,
        plus what netpilot emulates for it (an emulated confirmed commit)."""
        ...

    async def get_running(self) -> DeviceConfig:
        """Read and parse the running configuration.

        Called by the sensing tick (the twin's view of the device), by pre-checks (is the
        device still at the expected base?) and by post-checks after a commit or rollback.

        Raises:
            ProtocolError: the reply is not well-formed ``netpilot-lab`` data.
            RpcError: the device refused the read.
        """
        ...

    async def get_candidate(self) -> DeviceConfig:
        """Read and parse the candidate configuration (uncommitted edits included).

        Called after :meth:`edit_candidate` to check what will be committed, and after
        :meth:`discard` to check the candidate equals running.

        Raises:
            MissingCapabilityError: the device has no :candidate datastore.
            ProtocolError: the reply is not well-formed ``netpilot-lab`` data.
            RpcError: the device refused the read.
        """
        ...

    async def get_state(self) -> tuple[tuple[ClassQueue, ...], tuple[ProbeResult, ...]]:
        """Read the operational state (``/npl:state``): class queues and probe results.

        Called by the sensing tick. A device without instrumentation answers empty tuples.

        Raises:
            ProtocolError: the reply is not well-formed ``netpilot-lab`` state.
            RpcError: the device refused the read.
        """
        ...

    async def lock(self, target: str = "candidate") -> None:
        """Lock a datastore (``candidate`` or ``running``) for this session.

        Called first in a transaction, so no other manager edits the device meanwhile.

        Raises:
            MissingCapabilityError: ``target`` is ``candidate`` and the device has none.
            RpcError: ``lock-denied`` when another session holds the lock (``in-use`` on
                some devices when the candidate has uncommitted changes).
            ValueError: ``target`` is not a datastore name.
        """
        ...

    async def unlock(self, target: str = "candidate") -> None:
        """Release a lock this session holds. Called last in a transaction.

        Raises:
            MissingCapabilityError: ``target`` is ``candidate`` and the device has none.
            RpcError: this session does not hold the lock.
            ValueError: ``target`` is not a datastore name.
        """
        ...

    async def edit_candidate(self, edits: tuple[ConfigEdit, ...]) -> None:
        """Merge leaf edits into the candidate, all or nothing where the device can.

        Called after :meth:`lock` with the change set's edits. An empty tuple does nothing.

        Raises:
            MissingCapabilityError: the device has no :candidate datastore.
            RpcError: the device refused the edit (type, range or ``must`` violation...).
            ValueError: an edit's path or values cannot be rendered.
        """
        ...

    async def validate(self, config: DeviceConfig) -> None:
        """Have the device validate a complete configuration, sent inline.

        Called as a pre-check with the configuration the candidate will hold after the
        edits. The device's datastores are not changed.

        Raises:
            MissingCapabilityError: the device has no :validate.
            RpcError: the configuration is invalid (with the offending path).
        """
        ...

    async def commit(self, *, confirm_timeout: timedelta, persist_id: str) -> None:
        """Confirmed commit of the candidate, reverted unless confirmed in time.

        Called after a successful :meth:`validate`. ``persist_id`` makes the pending
        commit survive this session and lets any session confirm or cancel it.

        Raises:
            MissingCapabilityError: the device lacks :candidate or :confirmed-commit (1.1).
            RpcError: the device refused the commit.
            ValueError: ``confirm_timeout`` is not a positive whole number of seconds, or
                ``persist_id`` is empty.
        """
        ...

    async def confirm(self, persist_id: str) -> None:
        """Confirm the pending confirmed commit made with ``persist_id``.

        Called when the post-check saw the intent targets met.

        Raises:
            MissingCapabilityError: the device lacks :candidate or :confirmed-commit (1.1).
            RpcError: no commit with that persist-id is pending (it expired or was
                cancelled).
        """
        ...

    async def cancel_commit(self, persist_id: str) -> None:
        """Cancel the pending confirmed commit and restore the previous running config now.

        Called when the post-check failed; the transaction never waits for the device's
        own timer.

        Raises:
            MissingCapabilityError: the device lacks :candidate or :confirmed-commit (1.1).
            RpcError: no commit with that persist-id is pending.
        """
        ...

    async def lock_and_read_running(self) -> DeviceConfig:
        """:meth:`lock` the candidate, :meth:`discard` stale edits, :meth:`get_running`: the
        start of a transaction, in one round trip where the transport can pipeline.

        The requests may all reach the device even when an earlier one fails: after a
        failure the candidate may have been discarded (as :meth:`discard` does anyway after
        a failed transaction step). The first failure, in that order, is raised.

        Raises:
            As :meth:`lock`, :meth:`discard` and :meth:`get_running`.
        """
        ...

    async def load_candidate(
        self, config: DeviceConfig, edits: tuple[ConfigEdit, ...]
    ) -> DeviceConfig:
        """:meth:`validate` ``config`` inline, :meth:`edit_candidate` with ``edits``, then
        :meth:`get_candidate`: in one round trip where the transport can pipeline.

        The edits may reach the candidate even when the validation fails (nothing reaches
        running without a commit; the transaction discards the candidate after any failure).
        The first failure, in that order, is raised.

        Returns:
            The candidate as read back after the edit.

        Raises:
            As :meth:`validate`, :meth:`edit_candidate` and :meth:`get_candidate`.
        """
        ...

    async def discard(self) -> None:
        """Reset the candidate to the running configuration.

        Called after a failed edit or validation, before :meth:`unlock`.

        Raises:
            MissingCapabilityError: the device has no :candidate datastore.
            RpcError: the device refused.
        """
        ...

    async def close(self) -> None:
        """End the session. Idempotent; never raises (a dead transport is already closed).

        Called when the controller stops polling the device or the session failed.
        """
        ...


CommitRecorder: TypeAlias = "Callable[[PendingEmulatedCommit], Awaitable[None]]"
"""Makes a pending emulated commit durable (the controller's journal); see
:class:`EmulatedCommitSession`."""


@runtime_checkable
class EmulatedCommitSession(Protocol):
    """A :class:`ConfigSession` whose confirmed commit netpilot emulates.

    The device (only :writable-running) cannot revert by itself: the configuration to restore
    and the deadline live in the controller process. So that a controller killed mid-change
    still restores the device, the transaction records each pending commit before the device
    is changed, and a restarted controller hands the recorded commit back with :meth:`adopt`
    before it confirms or cancels it by persist-id.
    """

    @property
    def pending(self) -> PendingEmulatedCommit | None:
        """The device's pending emulated commit, if any."""
        ...

    def record_commits_with(self, recorder: CommitRecorder | None) -> None:
        """Have :meth:`ConfigSession.commit` await ``recorder(pending)`` after saving
        running and before changing the device; a recorder that raises stops the commit
        (nothing changed, nothing pending)."""
        ...

    def adopt(self, commit: PendingEmulatedCommit) -> None:
        """Make a recorded commit (of an earlier controller process) the device's pending one.

        Its timer fires at ``commit.expires_at`` (at once if that has passed); ``confirm``
        and ``cancel_commit`` with its persist-id then work on any session of the device.

        Raises:
            RpcError: ``in-use`` when another emulated commit is pending on the device.
        """
        ...
