"""Fixtures for the analytics tests: the public datasets, when present.

The datasets live next to the repository (../shared/datasets) and are never copied into
it. A test that needs one is skipped with the reason when it is absent, and fails under
``CI=true`` (CI machines have the datasets, so CI can never go green by skipping).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import in_ci

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def dataset(relative: str) -> Path:
    """The path of a public dataset file; skip (or fail under CI) when it is missing."""
    path = DATASETS / relative
    if not path.exists():
        reason = f"public dataset missing: {path}"
        if in_ci():
            pytest.fail(f"required dataset missing under CI=true: {path}", pytrace=False)
        pytest.skip(reason)
    return path
