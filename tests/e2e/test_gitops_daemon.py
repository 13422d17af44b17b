"""The running daemon follows a Git repository of intents (issue #3's acceptance test).

A bare repository on disk is the intent source; commits are pushed to it while `serve` runs
on the embedded lab, and the API's reload (what SIGHUP does) makes the daemon poll at once:

1. a good revision is admitted and enforced (video latency < 100 ms: met, no change);
2. a broken revision is refused as a whole and the last good one stays in force;
3. a tightened revision (< 30 ms) is admitted; the lab's r2 ignores configuration, so the
   change it causes fails verification and is rolled back, and the revision is quarantined:
   the daemon falls back to revision 1, and `intents get` shows the quarantine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import read_token
from controller.api_client import ApiClient
from controller.config import ApplySettings, LoopSettings, load_settings
from controller.demo import write_controller_config
from controller.service import serve
from lab.runtime import LabNetwork, write_inventory
from tests.intents.gitrepo import GitRepo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def intent(bound: int) -> str:
    return f"""\
apiVersion: netpilot/v1
kind: Intent
metadata: {{name: video-west-east}}
spec:
  priority: 100
  expectations:
    - id: video-latency
      type: e2e-qos
      objects: {{trafficClass: video, path: {{from: r1, to: r4}}}}
      targets:
        - {{name: latencyMs, condition: lessThan, value: {bound}}}
  guards: {{cooldownSeconds: 5}}
"""


async def call(client: ApiClient, method: str, path: str) -> tuple[int, Any]:
    """An API call whose JSON the test reads freely."""
    return await client.request(method, path)


async def eventually(check, *, within: float = 40.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


@pytest.fixture
async def daemon(lab: LabNetwork, tmp_path: Path) -> AsyncIterator[tuple[ApiClient, GitRepo]]:
    repo = GitRepo(tmp_path / "git")
    first = repo.commit({"video.yaml": intent(100)}, "video under 100 ms")
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=tmp_path,  # replaced by the Git source below
        journal=tmp_path / "state" / "journal.sqlite",
        loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
        apply=ApplySettings(
            confirm_timeout=timedelta(seconds=60),
            verification_window=timedelta(seconds=3),
            verification_interval=timedelta(milliseconds=500),
            required_samples=3,
        ),
    )
    data = yaml.safe_load(config.read_text())
    data["intents"] = {"source": repo.url, "branch": "main", "pollSeconds": 3600}
    config.write_text(yaml.safe_dump(data))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(config), stop=stop))
    token_file = tmp_path / "state" / "api-token"
    socket_path = tmp_path / "state" / "netpilot.sock"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not (socket_path.exists() and token_file.exists()):
        assert loop.time() < deadline and not task.done(), "the daemon did not come up"
        await asyncio.sleep(0.05)
    client = ApiClient(f"unix:{socket_path}", read_token(token_file))
    _, revisions = await call(client, "GET", "/v1/revisions")
    assert revisions["active"]["id"] == first
    try:
        yield client, repo
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def bound_in_force(client: ApiClient) -> float:
    _, body = await call(client, "GET", "/v1/intents")
    (entry,) = body["intents"]
    status = entry["status"] or {}
    targets = status.get("targets", [])
    return float(targets[0]["value"]) if targets else -1.0


async def test_good_broken_and_quarantined_revisions(daemon, lab: LabNetwork):
    client, repo = daemon

    async def fulfilled() -> bool:
        _, body = await call(client, "GET", "/v1/status")
        return bool(body["intents"][0]["status"] == "fulfilled")

    await eventually(fulfilled)
    assert await bound_in_force(client) == 100.0

    # 2. a broken revision is refused whole; revision 1 stays in force
    broken = repo.commit({"video.yaml": intent(100) + "  colour: blue\n"}, "typo")
    status, result = await call(client, "POST", "/v1/reload")
    assert status == 200 and result["applied"] is False and result["outcome"] == "refused"
    assert "colour" in " ".join(result["errors"])
    _, revisions = await call(client, "GET", "/v1/revisions")
    assert revisions["active"]["id"] != broken

    # 3. a tightened revision is admitted; its change fails verification (r2 ignores it)
    lab.devices["r2"].faults.ignore_config = True
    tightened = repo.commit({"video.yaml": intent(30)}, "video under 30 ms")
    status, result = await call(client, "POST", "/v1/reload")
    assert status == 200 and result["applied"] is True, result

    async def quarantined() -> bool:
        _, state = await call(client, "GET", "/v1/revisions")
        return tightened in state["quarantined"]

    await eventually(quarantined)
    _, changes = await call(client, "GET", "/v1/changes")
    assert [c["status"] for c in changes["changes"]][:1] == ["rolled-back"]
    _, state = await call(client, "GET", "/v1/revisions")
    assert state["active"]["id"] not in (tightened, broken)

    async def relaxed() -> bool:
        return await bound_in_force(client) == 100.0

    await eventually(relaxed, within=10)  # the next tick evaluates revision 1's target again
