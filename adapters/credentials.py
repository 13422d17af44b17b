"""Resolve credential references (environment variable or owner-only file) to secrets.

Secrets are resolved at the last moment, inside the adapters, and never stored in a core
type, logged or journaled: core types hold only a :class:`~controller.model.CredentialRef`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from controller.errors import AuthError
from controller.model import CredentialRef


def resolve_secret(device: str, ref: CredentialRef) -> str:
    """Return the secret a reference points to.

    Args:
        device: the device the secret is for (for the error only).
        ref: where the secret lives.

    Returns:
        The secret, without a trailing newline.

    Raises:
        AuthError: the variable is unset, or the file is missing or readable by others
            (like ssh, netpilot refuses a key or password file with group/other access).
    """
    if ref.env:
        value = os.environ.get(ref.env)
        if value is None:
            raise AuthError(device, f"credential {ref} is not set")
        return value
    path = Path(ref.file)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise AuthError(device, f"credential {ref}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthError(
            device,
            f"credential {ref} is accessible by group/others (mode {stat.filemode(mode)});"
            " chmod 600 it",
        )
    return path.read_text(encoding="utf-8").rstrip("\n")
