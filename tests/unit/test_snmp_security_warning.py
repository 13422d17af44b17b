"""The daemon says so when devices off this host are polled without SNMPv3 privacy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from controller.config import ControllerSettings
from controller.model import CredentialRef, Device, SnmpEndpoint, SnmpV3Credentials
from controller.service import _warn_insecure_snmp

REF = CredentialRef(env="X")
V3_AUTH_ONLY = SnmpV3Credentials("u", REF)
V3_AUTH_PRIV = SnmpV3Credentials("u", REF, REF)


def _settings(*devices: Device) -> ControllerSettings:
    return ControllerSettings(
        inventory=devices, intents_dir=Path("intents"), journal_path=Path("j.sqlite")
    )


def test_v2c_off_host_and_v3_without_privacy_are_warned_about(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="netpilot.service")
    _warn_insecure_snmp(
        _settings(
            Device("lab", "127.1.0.1", snmp=SnmpEndpoint(161, community=REF)),
            Device("plain", "192.0.2.1", snmp=SnmpEndpoint(161, community=REF)),
            Device("authonly", "192.0.2.2", snmp=SnmpEndpoint(161, v3=V3_AUTH_ONLY)),
            Device("good", "192.0.2.3", snmp=SnmpEndpoint(161, v3=V3_AUTH_PRIV)),
        )
    )
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "1 device(s) are polled with SNMPv2c" in messages[0] and "plain" in messages[0]
    assert "lab" not in messages[0]  # the loopback lab is not a network exposure
    assert "authNoPriv" in messages[1] and "authonly" in messages[1]
    assert not any("good" in m for m in messages)


def test_an_all_v3_auth_priv_inventory_is_quiet(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="netpilot.service")
    _warn_insecure_snmp(
        _settings(Device("good", "192.0.2.3", snmp=SnmpEndpoint(161, v3=V3_AUTH_PRIV)))
    )
    assert caplog.records == []
