"""A lab device's commit latency: each <commit> takes that long, other requests do not, and
other devices' sessions are served meanwhile (what `bench transaction` relies on)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.netconf import NetconfClient
from controller.model import ConfigEdit, EditOp
from tests.contract.conftest import lab_server, proxied_lab

pytestmark = pytest.mark.integration

EDIT = ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "5")
LATENCY = 0.5


async def test_commit_latency_delays_commits_only(tmp_path: Path) -> None:
    async with lab_server(tmp_path) as target:
        target.server.commit_latency = LATENCY
        proxy, device = await proxied_lab(target, tmp_path)
        client = NetconfClient([device])
        try:
            session, reader = await client.open_session("lab1"), await client.open_session("lab1")
            await session.lock_and_read_running()
            await session.load_candidate((await session.get_running()).with_edits((EDIT,)), (EDIT,))
            started = time.perf_counter()
            committing = asyncio.ensure_future(
                session.commit(confirm_timeout=timedelta(seconds=60), persist_id="p1")
            )
            await reader.get_running()  # another session is answered while the commit waits
            assert not committing.done()
            await committing
            assert time.perf_counter() - started >= LATENCY
            started = time.perf_counter()
            await session.get_candidate()
            assert time.perf_counter() - started < LATENCY
            await session.confirm("p1")
            await session.unlock()
            await session.close()
            await reader.close()
        finally:
            await client.close()
            await proxy.stop()
