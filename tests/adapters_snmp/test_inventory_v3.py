"""SNMPv3 authPriv from the inventory file, against Debian's snmpd (the production default).

The inventory names the user and its keys by reference; the poller needs no other wiring.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.snmp import SnmpPoller
from controller.config import load_inventory
from controller.errors import AuthError, ConfigFileError
from tests.peers.snmpd import SnmpdLab


def _inventory(tmp_path: Path, agent_host: str, port: int, v3: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "devices:\n"
        f"  - name: sw\n    address: {agent_host}\n"
        f"    snmp:\n      port: {port}\n      timeoutSeconds: 1\n      retries: 0\n"
        f"      v3: {v3}\n",
        encoding="utf-8",
    )
    return path


async def test_an_inventory_v3_auth_priv_device_is_polled_over_v3(
    snmpd_lab: SnmpdLab, tmp_path: Path
):
    agent = snmpd_lab.agents[1]
    user = agent.v3_user()
    assert user.priv_key is not None
    v3 = (
        f"{{user: {user.user}, authKey: {{file: {user.auth_key.file}}}, "
        f"privKey: {{file: {user.priv_key.file}}}, authProtocol: sha, privProtocol: aes128}}"
    )
    (device,) = load_inventory(_inventory(tmp_path, agent.host, agent.port, v3))
    assert device.snmp is not None and device.snmp.community is None
    async with SnmpPoller() as poller:
        snapshot = await poller.poll_interfaces(device)
    assert snapshot.counter_bits == 64
    assert any(i.name == "lo" for i in snapshot.interfaces)

    # the same device with a wrong pass phrase is refused by the agent: proof it spoke v3
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-pass-phrase\n")
    wrong.chmod(0o600)
    bad = v3.replace(str(user.auth_key.file), str(wrong))
    (refused,) = load_inventory(_inventory(tmp_path, agent.host, agent.port, bad))
    async with SnmpPoller() as poller:
        with pytest.raises(AuthError, match="credentials refused"):
            await poller.poll_interfaces(refused)


def test_snmp_without_credentials_names_file_line_and_field(tmp_path: Path):
    path = tmp_path / "inventory.yaml"
    path.write_text("devices:\n  - name: sw\n    address: 127.0.0.1\n    snmp: {port: 161}\n")
    with pytest.raises(ConfigFileError) as raised:
        load_inventory(path)
    text = str(raised.value)
    assert f"{path}:4" in text and "devices[0].snmp" in text
    assert "v3" in text and "community" in text


def test_an_unknown_v3_protocol_is_refused_with_the_choices(tmp_path: Path):
    key = tmp_path / "key"
    key.write_text("a-long-pass-phrase\n")
    key.chmod(0o600)
    path = _inventory(
        tmp_path, "127.0.0.1", 161, f"{{user: u, authKey: {{file: {key}}}, authProtocol: md4}}"
    )
    with pytest.raises(ConfigFileError) as raised:
        load_inventory(path)
    assert "authProtocol" in str(raised.value) and "sha256" in str(raised.value)


def test_an_inline_v3_key_is_refused_without_repeating_it(tmp_path: Path):
    path = _inventory(tmp_path, "127.0.0.1", 161, "{user: u, authKey: hunter2-secret}")
    with pytest.raises(ConfigFileError) as raised:
        load_inventory(path)
    assert "reference" in str(raised.value) and "hunter2-secret" not in str(raised.value)


def test_the_documented_example_inventory_is_v3_auth_priv():
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "inventory.yaml"
    devices = load_inventory(example)
    assert devices
    for device in devices:
        assert device.snmp is not None and device.snmp.v3 is not None
        assert device.snmp.v3.priv_key is not None and device.snmp.community is None
