"""Fixtures for the analytics tests: the public datasets, when present.

The datasets live next to the repository (../shared/datasets, see bench/datasets.py) and are
never copied into it. A test that needs one is skipped with the reason when it is absent, as
the datasets' own README asks; `.ci/run` prints whether they were found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.datasets import datasets_dir

DATASETS = datasets_dir()


def dataset(relative: str) -> Path:
    """The path of a public dataset file; skip with the reason when it is missing."""
    path = DATASETS / relative
    if not path.exists():
        pytest.skip(f"public dataset missing: {path} (set NETPILOT_DATASETS)")
    return path
