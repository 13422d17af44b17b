"""Where the public benchmark datasets are: never in the repository, always read in place.

Looked up in order: ``$NETPILOT_DATASETS``; ``shared/datasets`` beside the repository or any
directory above it (the workplace keeps them at ``../shared/datasets`` from the project);
``/work/shared/datasets``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["datasets_dir"]

_REPOSITORY = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path:
    """The datasets directory (possibly missing: callers check the files they need)."""
    configured = os.environ.get("NETPILOT_DATASETS")
    if configured:
        return Path(configured)
    for parent in _REPOSITORY.parents:
        candidate = parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/datasets")
