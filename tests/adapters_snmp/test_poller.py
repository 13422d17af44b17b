"""SnmpPoller errors that need no agent (no socket is opened)."""

from __future__ import annotations

import pytest

from adapters.snmp import SnmpPoller
from controller.errors import AuthError, ConnectError
from controller.model import CredentialRef, Device, SnmpEndpoint


async def test_device_without_snmp_endpoint(poller):
    with pytest.raises(ConnectError, match="no SNMP endpoint") as raised:
        await poller.poll_interfaces(Device(name="r1", address="127.0.0.1"))
    assert raised.value.device == "r1"


async def test_unresolvable_community_is_an_auth_error(poller, tmp_path):
    device = Device(
        name="r1",
        address="127.0.0.1",
        snmp=SnmpEndpoint(port=161, community=CredentialRef(file=str(tmp_path / "missing"))),
    )
    with pytest.raises(AuthError):
        await poller.poll_interfaces(device)


@pytest.mark.parametrize(
    "settings",
    [{"max_concurrency": 0}, {"max_repetitions": 0}],
    ids=["no-concurrency", "no-repetitions"],
)
def test_invalid_settings(settings):
    with pytest.raises(ValueError, match=">= 1"):
        SnmpPoller(**settings)
