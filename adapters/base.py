"""The typed contract between the controller and a device's configuration datastores.

:class:`ConfigSession` is what a change transaction talks to: the NETCONF adapter
(:class:`adapters.netconf.NetconfSession`) implements it over ncclient, and an in-memory
fake can implement it for unit tests of the controller. Only core types from
:mod:`controller.model` cross it, and only errors from :mod:`controller.errors` leave it.

A session is bound to one device; its methods are called one at a time by one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import Enum
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from controller.model import ClassQueue, ConfigEdit, DeviceConfig, ProbeResult

__all__ = ["CAPABILITY_URNS", "Capability", "ConfigSession", "capabilities_from_uris"]


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
        """What the device announced, fixed for the session's lifetime."""
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
