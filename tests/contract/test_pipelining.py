"""The transaction's two exchanges travel pipelined: three requests in one write, three
replies in one; with ``pipeline_requests=False`` the same requests go one at a time and
give the same results.

The lab server answers the requests of one read in one write (``_flush``), so counting its
writes counts the round trips the client needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.netconf import NetconfClient, NetconfPoolSettings
from controller.errors import RpcError
from controller.model import ClassConfig, ConfigEdit, DeviceConfig, EditOp, TrafficClass
from tests.contract.conftest import lab_server, proxied_lab

pytestmark = pytest.mark.integration

EDIT = ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "5")
DESIRED = DeviceConfig(classes=(ClassConfig(TrafficClass.VIDEO, priority=5),))
STRICT = (
    ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "7"),
    ConfigEdit(EditOp.ADD, ("qos", "class[name=voice]", "priority"), None, "7"),
)


@pytest.mark.parametrize("gated", [False, True], ids=["ungated", "gated"])
@pytest.mark.parametrize(("pipeline", "writes_per_exchange"), [(True, 1), (False, 3)])
async def test_each_exchange_is_one_round_trip_when_pipelined(
    tmp_path: Path, pipeline: bool, writes_per_exchange: int, gated: bool
) -> None:
    async with lab_server(tmp_path) as target:
        proxy, device = await proxied_lab(target, tmp_path)
        client = NetconfClient([device], NetconfPoolSettings(pipeline_requests=pipeline))
        server: Any = target.server
        flush = server._flush
        writes = 0
        gate_calls = 0

        async def open_gate() -> None:  # a reachable, fast lab device (lab.runtime's gate)
            nonlocal gate_calls
            gate_calls += 1

        if gated:
            server._gate = open_gate

        async def counting_flush(session: Any) -> None:
            nonlocal writes
            if session.outbox:
                writes += 1
            await flush(session)

        try:
            session = await client.open_session("lab1")
            server._flush = counting_flush
            writes = 0
            assert await session.lock_and_read_running() == DeviceConfig()
            assert writes == writes_per_exchange
            writes = 0
            assert await session.load_candidate(DESIRED, (EDIT,)) == DESIRED
            assert writes == writes_per_exchange
            assert await session.get_running() == DeviceConfig()  # nothing committed
            await session.discard()
            # a refusal is the first failure in order, whichever way the requests travel
            with pytest.raises(RpcError) as refused:
                await session.load_candidate(DeviceConfig().with_edits(STRICT), STRICT)
            assert refused.value.app_tag == "strict-priority-exclusive"
            await session.discard()
            await session.unlock()
            await session.close()
            assert (gate_calls > 0) == gated
        finally:
            await client.close()
            await proxy.stop()
