"""``netpilot demo`` as a user starts it: a real process in a temporary directory of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

NETPILOT = Path(sys.executable).parent / "netpilot"


@contextmanager
def running_demo(
    temporary: Path,
    *,
    headless: bool,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """``netpilot demo --output json`` (and ``--headless``, ``args``) without ``--state-dir``:
    its state directory is made under ``temporary`` (mkdtemp honours TMPDIR). Killed on the
    way out if it is still running."""
    temporary.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [
            str(NETPILOT),
            "demo",
            "--output",
            "json",
            *(["--headless"] if headless else []),
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temporary), **(env or {})},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
