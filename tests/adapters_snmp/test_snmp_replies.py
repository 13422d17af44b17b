"""SnmpPoller on replies snmpd never sends: error-status, missing columns, bad types.

A scripted responder on a UDP socket (``scripted.py``) answers the poller's real GETBULK
with a reply written in BER byte by byte, so the adapter's error mapping is tested on the
wire rather than by patching anything.
"""

from __future__ import annotations

import pytest

from adapters.snmp import SnmpPoller
from controller.errors import ProtocolError
from tests.adapters_snmp.scripted import (
    IFX,
    UPTIME,
    Scripted,
    counter64,
    row,
    string,
    table_end,
)

pytestmark = pytest.mark.integration


async def test_scripted_table_is_read(scripted: Scripted, poller: SnmpPoller):
    """The responder itself is right: a well-formed table comes back as a snapshot."""
    scripted.responder.script = [(UPTIME + row(1) + row(2) + table_end(), 0, 0)]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert snapshot.uptime_ticks == 12345
    assert [(i.index, i.name, i.hc_in_octets, i.hc_out_octets) for i in snapshot.interfaces] == [
        (1, "ge1", 1000, 2000),
        (2, "ge2", 2000, 4000),
    ]
    assert scripted.responder.requests == 1


async def test_counter64_above_63_bits(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [(UPTIME + row(1, hc_in=counter64(2**64 - 1)) + table_end(), 0, 0)]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert snapshot.interfaces[0].hc_in_octets == 2**64 - 1


async def test_walk_continues_over_several_replies(scripted: Scripted, poller: SnmpPoller):
    scripted.responder.script = [
        (UPTIME + row(1), 0, 0),
        (row(2), 0, 0),
        (table_end(), 0, 0),
    ]
    snapshot = await poller.poll_interfaces(scripted.device)
    assert [i.index for i in snapshot.interfaces] == [1, 2]
    assert scripted.responder.requests == 3


CASES = {
    "error-status": (
        [(UPTIME + row(1) + table_end(), 5, 2)],
        r"error-status genErr at 1\.3\.6\.1\.2\.1\.31\.1\.1\.1\.1$",
    ),
    "missing-column-for-one-interface": (
        [(UPTIME + row(1) + [r for r in row(2) if f"{IFX}.6." not in r[0]] + table_end(), 0, 0)],
        r"no ifHCInOctets .* for ifIndex 2",
    ),
    "counter-of-the-wrong-type": (
        [(UPTIME + row(1, hc_out=string("lots")) + table_end(), 0, 0)],
        r"ifHCOutOctets\.1 is OctetString, expected an integer",
    ),
    "no-sysuptime": (
        [([("1.3.6.1.2.1.1.5.0", string("x")), *row(1), *table_end()], 0, 0)],
        r"expected sysUpTime\.0",
    ),
    "oid-not-increasing": (
        [(UPTIME + row(2), 0, 0), (row(1), 0, 0)],
        r"OID not increasing",
    ),
    "no-ifxtable": (
        [(UPTIME + table_end(), 0, 0)],
        r"neither IF-MIB ifXTable",
    ),
}


@pytest.mark.parametrize(("script", "message"), list(CASES.values()), ids=list(CASES))
async def test_bad_replies_are_protocol_errors(
    scripted: Scripted, poller: SnmpPoller, script, message
):
    scripted.responder.script = script
    with pytest.raises(ProtocolError, match=message) as raised:
        await poller.poll_interfaces(scripted.device)
    assert raised.value.device == "scripted"
    assert raised.value.retryable
