"""netpilot's error tree.

Every error the project raises derives from :class:`NetpilotError`, and every class says
whether retrying the same operation later can succeed (``retryable``). The loop turns
errors into values at the per-device boundary, so one dead router never aborts a tick.

::

    NetpilotError
    ├── ConfigFileError            (terminal)  a controller/inventory/lab file is invalid
    ├── IntentError                (terminal)
    │   └── IntentValidationError  (terminal)  file, line, column, field, expected, hint
    ├── AdapterError               (per subclass)
    │   ├── ConnectError           (retryable) device unreachable, connection dropped
    │   ├── AuthError              (terminal)  credentials or host key refused
    │   ├── AdapterTimeoutError    (retryable) no answer in time
    │   ├── RpcError               (terminal, except lock-denied / in-use / resource-denied)
    │   ├── MissingCapabilityError (terminal)  the device cannot do what the change needs
    │   └── ProtocolError          (retryable) malformed reply (XML, BER)
    └── ChangeError                (terminal)
        ├── PrecheckError          (terminal)  refused before touching the device
        ├── CommitError            (terminal)  the device refused to commit
        ├── VerificationError      (terminal)  post-check failed; the change was rolled back
        └── RollbackError          (terminal)  the device could not be brought back: escalate

Errors carry their context as attributes (device, change id, rpc-error tag) rather than
only inside the message, so the journal and the API can show them as fields.
"""

from __future__ import annotations

from dataclasses import dataclass


class NetpilotError(Exception):
    """Root of every error netpilot raises on purpose."""

    # A class attribute that an instance may override (RpcError does, by error-tag): whether
    # the same operation can succeed later without anyone changing anything.
    retryable: bool = False

    def as_dict(self) -> dict[str, object]:
        """The error as plain data for the journal and ``--output json``."""
        return {"type": type(self).__name__, "message": str(self), "retryable": self.retryable}


class ConfigFileError(NetpilotError):
    """A controller, inventory or lab file is invalid.

    Args:
        path: the file.
        line: 1-based line of the offending node, if known.
        field: dotted path of the offending field, if known.
        message: what is wrong and what was expected.
    """

    def __init__(
        self, path: str, message: str, *, line: int | None = None, field: str = ""
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class IntentError(NetpilotError):
    """Something is wrong with an intent."""


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a YAML node sits: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class IntentValidationError(IntentError):
    """An intent file is invalid; the whole revision is refused.

    Args:
        location: file, line and column of the offending node.
        field: dotted path of the field (``spec.expectations[0].targets[1].value``).
        message: what is wrong.
        expected: what would have been valid.
        hint: how to fix it.
    """

    def __init__(
        self,
        location: SourceLocation,
        field: str,
        message: str,
        *,
        expected: str = "",
        hint: str = "",
    ) -> None:
        self.location = location
        self.field = field
        self.message = message
        self.expected = expected
        self.hint = hint
        text = f"{location}: {field}: {message}" if field else f"{location}: {message}"
        if expected:
            text += f" (expected {expected})"
        if hint:
            text += f"; hint: {hint}"
        super().__init__(text)

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(
            file=self.location.file,
            line=self.location.line,
            column=self.location.column,
            field=self.field,
            expected=self.expected,
            hint=self.hint,
        )
        return data


class AdapterError(NetpilotError):
    """A device could not be read or written.

    Args:
        device: the inventory name of the device.
        message: what happened.
    """

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"{device}: {message}")

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data["device"] = self.device
        return data


class ConnectError(AdapterError):
    """The device is unreachable or the connection dropped."""

    retryable = True


class AuthError(AdapterError):
    """The device refused our credentials, or its host key is not the one we know."""


class AdapterTimeoutError(AdapterError):
    """The device did not answer in time."""

    retryable = True


class ProtocolError(AdapterError):
    """The device answered something we cannot parse."""

    retryable = True


class MissingCapabilityError(AdapterError):
    """The device lacks a capability the operation needs (e.g. ``:candidate``)."""

    def __init__(self, device: str, capability: str) -> None:
        self.capability = capability
        super().__init__(device, f"missing capability {capability}")


TRANSIENT_RPC_TAGS = frozenset({"lock-denied", "in-use", "resource-denied"})


class RpcError(AdapterError):
    """The device answered ``<rpc-error>``.

    Args:
        device: the device.
        tag: ``error-tag`` (``invalid-value``, ``lock-denied``...).
        message: ``error-message``.
        severity: ``error-severity``.
        path: ``error-path``, if the device gave one.
        app_tag: ``error-app-tag``, if the device gave one.
    """

    def __init__(
        self,
        device: str,
        tag: str,
        message: str,
        *,
        severity: str = "error",
        path: str = "",
        app_tag: str = "",
    ) -> None:
        self.tag = tag
        # another manager holding a lock or a pending commit goes away by itself
        self.retryable = tag in TRANSIENT_RPC_TAGS
        self.severity = severity
        self.path = path
        self.app_tag = app_tag
        self.rpc_message = message
        detail = f"rpc-error {tag}"
        if app_tag:
            detail += f" ({app_tag})"
        if path:
            detail += f" at {path}"
        super().__init__(device, f"{detail}: {message}")

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(tag=self.tag, severity=self.severity, path=self.path, app_tag=self.app_tag)
        return data


class ChangeError(NetpilotError):
    """A change could not be carried out as planned.

    Args:
        change_id: the change's journal id.
        message: what happened.
    """

    def __init__(self, change_id: str, message: str) -> None:
        self.change_id = change_id
        super().__init__(f"change {change_id}: {message}")


class PrecheckError(ChangeError):
    """Refused before any device was touched."""


class CommitError(ChangeError):
    """A device refused the edit, the validation or the commit."""


class VerificationError(ChangeError):
    """The post-check did not see the intent target met; the change was rolled back."""


class RollbackError(ChangeError):
    """A device could not be brought back to its pre-change configuration.

    This is the one outcome that needs a human: the device is frozen for further changes.
    """
