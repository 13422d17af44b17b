"""Values as an operator reads them, the same in the console and on the command line (pure).

A leaf the configuration does not hold is ``(unset)``; named numbers are one line
(``latencyMs 9.14, stallRatio 0.011``); nothing is shown as a Python repr or as JSON. The
console (tui/explain.py) and ``netpilot changes show`` / ``intents plan`` import these, so
the two never spell the same value differently. ``--output json`` never goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["UNSET", "edit_text", "number_text", "unset_text", "value_text"]

# a leaf the configuration does not hold (``ConfigEdit.describe`` writes it so; journals and
# explanations written before 2026-11-29 hold "-", which :func:`unset_text` reads)
UNSET = "(unset)"
_OLD_UNSET = re.compile(r"(: )-( -> )")
_NEW_UNSET = re.compile(r"( -> )-(?=$|;|,)")


def edit_text(path: str, old: str | None, new: str | None) -> str:
    """``qos/class[name=video]/priority: (unset) -> 1``: one leaf edit, absent spelt out."""
    return f"{path}: {UNSET if old is None else old} -> {UNSET if new is None else new}"


def unset_text(text: str) -> str:
    """Edits an older journal or explanation holds as ``path: - -> 1`` (``describe``'s
    spelling before 2026-11-29) as :func:`edit_text` writes them (``path: (unset) -> 1``)."""
    return _NEW_UNSET.sub(rf"\g<1>{UNSET}", _OLD_UNSET.sub(rf"\g<1>{UNSET}\g<2>", text))


def number_text(value: object) -> str:
    """A value as an operator reads it: ``0.0894``, ``true``, ``latencyMs 8.52`` (never a
    Python repr: mappings and lists are spelt out)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return value_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(number_text(v) for v in value) or "none"
    return unset_text(str(value))


def _measure(value: float) -> str:
    """A predicted or measured quantity, to 3 significant digits and never in e-notation
    above 1: ``8.52``, ``0.0894``, ``1234``."""
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def value_text(values: Mapping[object, object]) -> str:
    """``latencyMs 8.52, stallRatio 0.011``: named values on one line."""
    parts = []
    for key, value in values.items():
        shown = _measure(value) if isinstance(value, float) else number_text(value)
        parts.append(f"{key} {shown}")
    return ", ".join(parts) or "none"
