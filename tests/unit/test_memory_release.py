"""The daemon gives the C heap's free pages back after each tick (glibc's malloc_trim)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller import daemon
from controller.daemon import release_free_memory


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    daemon._MALLOC_TRIM is None or not Path("/proc/self/status").exists(),
    reason="glibc and /proc only",
)
def test_freed_heap_pages_are_returned() -> None:
    # 100 MiB in 64 KiB blocks (malloc'd from the heap: above Python's small-object
    # allocator, below glibc's mmap threshold), every other one freed: the holes are below
    # the heap's top, which glibc never gives back by itself
    blocks = [bytearray(64 * 1024) for _ in range(1_600)]
    del blocks[::2]
    before = _rss_kib()
    release_free_memory()
    after = _rss_kib()
    assert before - after > 20 * 1024  # of the ~50 MiB of holes, most go back
    assert len(blocks) == 800  # still alive and untouched by the trim
