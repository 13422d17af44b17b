"""`netpilot run` as a service on the lab: its API, metrics, health and intent reload."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import read_token
from controller.api_client import ApiClient
from controller.config import ApplySettings, LoopSettings, load_settings
from controller.demo import shipped_intents, write_controller_config
from controller.errors import ConfigFileError
from controller.service import serve
from lab.runtime import LabNetwork, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def eventually(check, *, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


@pytest.fixture
async def service(lab: LabNetwork, tmp_path: Path) -> AsyncIterator[tuple[ApiClient, str, Path]]:
    intents = tmp_path / "intents"
    intents.mkdir()
    (intents / "video.yaml").write_text((shipped_intents() / "video-west-east.yaml").read_text())
    config = write_controller_config(
        tmp_path,
        inventory=write_inventory(lab, tmp_path),
        intents_dir=intents,
        journal=tmp_path / "journal.sqlite",
        loop=LoopSettings(interval=timedelta(seconds=1), violation_ticks=2),
        apply=ApplySettings(
            confirm_timeout=timedelta(seconds=60),
            verification_window=timedelta(seconds=3),
            verification_interval=timedelta(milliseconds=500),
            required_samples=3,
        ),
    )
    metrics_port = free_port()
    data = yaml.safe_load(config.read_text())
    data["metrics"] = {"listen": f"127.0.0.1:{metrics_port}"}
    config.write_text(yaml.safe_dump(data))
    settings = load_settings(config)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop))
    socket_path = tmp_path / "netpilot.sock"
    token_file = tmp_path / "api-token"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not (socket_path.exists() and token_file.exists()):
        assert loop.time() < deadline, "the API did not come up"
        assert not task.done(), task.exception() if task.done() else ""
        await asyncio.sleep(0.05)
    client = ApiClient(f"unix:{socket_path}", read_token(token_file))
    try:
        yield client, f"127.0.0.1:{metrics_port}", intents
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_api_refuses_requests_without_the_token(service, tmp_path):
    client, _, _ = service
    token_file = tmp_path / "api-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "netpilot.sock").stat().st_mode) == 0o600
    for token in ("", "wrong"):
        status, body = await ApiClient(client.address, token).request("GET", "/v1/status")
        assert status == 401
        assert "token" in str(body["error"])
    status, body = await client.request("GET", "/v1/status")
    assert status == 200
    assert [i["name"] for i in body["intents"]] == ["video-west-east"]


async def test_metrics_health_and_a_change_seen_through_the_api(service):
    client, metrics, _ = service
    metrics_client = ApiClient(metrics, token="")

    async def confirmed() -> bool:
        status, body = await client.request("GET", "/v1/changes")
        return status == 200 and any(c["status"] == "confirmed" for c in body["changes"])

    await eventually(confirmed)
    _, body = await client.request("GET", "/v1/changes")
    txn = next(c["txn"] for c in body["changes"] if c["status"] == "confirmed")
    status, detail = await client.request("GET", f"/v1/changes/{txn}")
    assert status == 200
    assert [e["step"] for e in detail["timeline"]][-1] == "finished:confirmed"

    reader, writer = await asyncio.open_connection(*metrics.split(":"))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = (await reader.read()).decode()
    writer.close()
    assert "netpilot_ticks_total" in raw
    assert 'netpilot_changes_total{status="confirmed"} 1.0' in raw
    assert 'netpilot_intent_fulfilled{intent="video-west-east"}' in raw
    status, health = await metrics_client.request("GET", "/healthz")
    assert status == 200 and health["healthy"] is True

    status, result = await client.request("POST", f"/v1/changes/{txn}/rollback", {"force": False})
    assert status == 200, result
    assert result["rollback"]["status"] == "confirmed"


async def test_reload_refuses_a_broken_set_and_keeps_the_last_good(service):
    client, _, intents = service
    (intents / "broken.yaml").write_text("apiVersion: netpilot/v1\nkind: Intent\nmetadata: [\n")
    status, body = await client.request("POST", "/v1/reload")
    assert status == 200 and body["applied"] is False
    assert body["errors"] and "broken.yaml" in str(body["errors"][0])
    _, status_body = await client.request("GET", "/v1/intents")
    assert [i["name"] for i in status_body["intents"]] == ["video-west-east"]
    # a real SIGHUP takes the same path; a source left without any intent file is refused
    # (it would remove every intent): the last good revision stays, and the state says why
    (intents / "broken.yaml").unlink()
    (intents / "video.yaml").unlink()

    async def refused_empty() -> bool:
        _, data = await client.request("GET", "/v1/revisions")
        return "holds no intent file" in str(data.get("last_refusal"))

    os.kill(os.getpid(), signal.SIGHUP)
    await eventually(refused_empty, within=10)
    _, status_body = await client.request("GET", "/v1/intents")
    assert [i["name"] for i in status_body["intents"]] == ["video-west-east"]


def test_a_token_file_others_can_read_is_refused(tmp_path):
    token = tmp_path / "api-token"
    token.write_text("secret\n")
    token.chmod(0o644)
    with pytest.raises(ConfigFileError, match="group/others"):
        read_token(token)


async def test_no_secret_reaches_the_logs_or_the_api(service, lab, caplog):
    client, _, _ = service
    caplog.set_level("DEBUG")

    async def changed() -> bool:
        _, body = await client.request("GET", "/v1/changes")
        return bool(body["changes"])

    await eventually(changed)
    seen = [caplog.text]
    for path in ("/v1/status", "/v1/intents", "/v1/devices", "/v1/decisions", "/v1/changes"):
        status, body = await client.request("GET", path)
        assert status == 200
        seen.append(str(body))
    everything = "\n".join(seen)
    assert lab.password and lab.password not in everything
    assert lab.community and lab.community not in everything
    assert client.token not in everything


def test_json_log_lines_are_one_object_each(capsys):
    import json
    import logging

    from controller.logs import configure_logging

    configure_logging(json_format=True)
    try:
        logging.getLogger("netpilot.test").warning("hello %s", "world", extra={"device": "r2"})
        try:
            int("boom")
        except ValueError:
            logging.getLogger("netpilot.test").exception("failed")
    finally:
        configure_logging()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    first, second = lines[-2:]
    assert first["message"] == "hello world" and first["device"] == "r2"
    assert first["level"] == "warning" and first["logger"] == "netpilot.test"
    assert "ValueError: invalid literal" in second["exc"]


async def test_an_operator_approves_a_plan_from_the_cli(service, tmp_path):
    import json
    import sys

    client, _, intents = service
    text = (intents / "video.yaml").read_text().replace("mode: auto", "mode: approve")
    assert "mode: approve" in text
    (intents / "video.yaml").write_text(text)
    status, body = await client.request("POST", "/v1/reload")
    # the daemon's own first poll of the source may have admitted the edit already
    assert status == 200 and (body["applied"] is True or body["outcome"] == "unchanged"), body

    async def pending() -> bool:
        _, data = await client.request("GET", "/v1/approvals")
        return any(a["status"] == "pending" for a in data["approvals"])

    await eventually(pending)
    netpilot = Path(sys.executable).parent / "netpilot"
    config = tmp_path / "netpilot.yaml"

    async def cli(*args: str) -> Any:
        process = await asyncio.create_subprocess_exec(
            str(netpilot),
            "changes",
            *args,
            "--config",
            str(config),
            "--output",
            "json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()[-2000:]
        return json.loads(out.decode().strip().splitlines()[-1])

    listed = await cli("pending")
    (approval,) = [a for a in listed["approvals"] if a["status"] == "pending"]
    approved = await cli("approve", approval["id"], "--reason", "agreed with the NOC")
    assert approved["approval"]["status"] == "approved"

    async def confirmed() -> bool:
        _, data = await client.request("GET", "/v1/changes")
        return any(c["status"] == "confirmed" for c in data["changes"])

    await eventually(confirmed)


async def test_a_cli_rollback_goes_through_the_daemon_which_holds_the_change(service, tmp_path):
    import json
    import sys

    client, _, _ = service

    async def confirmed() -> bool:
        _, data = await client.request("GET", "/v1/changes")
        return any(c["status"] == "confirmed" for c in data["changes"])

    await eventually(confirmed)
    _, data = await client.request("GET", "/v1/changes")
    change = next(c for c in data["changes"] if c["status"] == "confirmed")
    netpilot = Path(sys.executable).parent / "netpilot"

    async def rollback() -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(netpilot),
            "changes",
            "rollback",
            change["txn"],
            "--config",
            str(tmp_path / "netpilot.yaml"),
            "--output",
            "json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, out, err = await rollback()
    assert code == 0, err[-2000:]
    assert "no daemon answered" not in err  # the daemon did it, not the CLI on its own
    assert json.loads(out.strip().splitlines()[-1])["rollback"]["status"] == "confirmed"
    # the daemon quarantined the undone change: its loop will not push it again
    _, snapshot = await client.request("GET", "/v1/snapshot")
    held = snapshot["held"].get(change["intent"], {})
    assert any("rolled back by an operator" in why for why in held.values()), snapshot["held"]
    # a second rollback of the same change is refused, and says why
    code, out, err = await rollback()
    assert code != 0
    assert "already rolled back by" in json.loads(out.strip().splitlines()[-1])["error"]["message"]


async def test_a_second_controller_on_the_same_journal_is_refused(service, tmp_path):
    client, _, _ = service
    settings = load_settings(tmp_path / "netpilot.yaml")
    with pytest.raises(ConfigFileError, match=rf"another netpilot run .*pid {os.getpid()}"):
        await serve(settings, stop=asyncio.Event())
    # the first one still answers on its socket
    status, _ = await client.request("GET", "/v1/status")
    assert status == 200
