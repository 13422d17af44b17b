"""net-snmp's own CLI (snmpget, snmpbulkwalk) reads the lab agent: a client nobody here wrote.

The tools run as subprocesses through asyncio, so the agent (in this test's event loop)
keeps answering while they wait.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable

import pytest

from lab.snmp_codec import (
    END_OF_MIB_VIEW,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    Counter32,
    Counter64,
    Gauge32,
    Integer,
    ObjectIdentifier,
    OctetString,
    Oid,
    TimeTicks,
    Value,
    VarBind,
)
from tests.conftest import peer_missing
from tests.lab_snmp.conftest import (
    IF_ENTRY,
    IFX_ENTRY,
    SYS_UPTIME_0,
    SYSTEM,
    StartAgent,
    TinyBackend,
    expected_ifx_walk,
    expected_system,
    make_snapshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.interop]

# one line of `-On` output: ".1.3.6... = TYPE: value" or ".1.3.6... = No Such ..."
_LINE = re.compile(r"^(?P<oid>(?:\.\d+)+) = (?:(?P<type>[\w-]+): (?P<value>.*)|(?P<other>.*))$")
_EXCEPTIONS: dict[str, Value] = {
    "No Such Object available on this agent at this OID": NO_SUCH_OBJECT,
    "No Such Instance currently exists at this OID": NO_SUCH_INSTANCE,
    "No more variables left in this MIB View (It is past the end of the MIB tree)": (
        END_OF_MIB_VIEW
    ),
}


def parse_value(kind: str, text: str) -> Value:
    """net-snmp's printed value (numeric OIDs, no MIBs loaded) as a codec value."""
    if kind == "STRING":
        return OctetString(text.removeprefix('"').removesuffix('"').encode())
    if kind == "Timeticks":
        ticks = re.match(r"\((\d+)\)", text)
        assert ticks is not None, text
        return TimeTicks(int(ticks.group(1)))
    if kind == "OID":
        return ObjectIdentifier(oid(text))
    numbers: dict[str, Callable[[int], Value]] = {
        "INTEGER": Integer,
        "Counter32": Counter32,
        "Gauge32": Gauge32,
    }
    if kind in numbers:
        return numbers[kind](int(text))
    assert kind == "Counter64", kind
    return Counter64(int(text))


def oid(dotted: str) -> Oid:
    return tuple(int(arc) for arc in dotted.strip(".").split("."))


def parse(output: str) -> list[VarBind]:
    varbinds: list[VarBind] = []
    for line in output.splitlines():
        match = _LINE.match(line)
        assert match is not None, f"unexpected line: {line!r}"
        name = oid(match["oid"])
        if match["type"] is not None:
            varbinds.append((name, parse_value(match["type"], match["value"])))
        else:
            varbinds.append((name, _EXCEPTIONS[match["other"]]))
    return varbinds


async def net_snmp(tool: str, host: str, port: int, oids: list[Oid], *options: str) -> str:
    """Run a net-snmp tool (v2c, community public, numeric OIDs) and return its stdout."""
    path = shutil.which(tool)
    if path is None:
        peer_missing(f"{tool} not installed (apt-get install snmp)")
    process = await asyncio.create_subprocess_exec(
        path,
        *("-v2c", "-c", "public", "-On"),
        # no MIB files: numeric output only, and no "Cannot find module" noise
        *("-m", ""),
        *("-t", "2", "-r", "0"),
        *options,
        f"udp:{host}:{port}",
        *(".".join(map(str, name)) for name in oids),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert stderr == b""
    return stdout.decode()


async def test_snmpget_reads_the_same_values(start_agent: StartAgent) -> None:
    backend = TinyBackend()
    backend.set_interface(1, in_octets=2**32 + 5, speed_mbps=40_000)
    running = await start_agent(backend)
    system = expected_system(backend.snapshot)
    asked: list[Oid] = (
        [name for name, _ in system]
        + [
            IF_ENTRY + (10, 1),  # ifInOctets: wrapped
            IFX_ENTRY + (6, 1),  # ifHCInOctets: not
            IF_ENTRY + (5, 1),  # ifSpeed capped
            IFX_ENTRY + (15, 1),  # ifHighSpeed
            IF_ENTRY + (8, 2),  # ifOperStatus down
            SYSTEM + (99, 0),
            SYS_UPTIME_0[:-1] + (1,),
        ]
    )
    output = await net_snmp("snmpget", running.host, running.port, asked)
    assert parse(output) == [
        *system,
        (IF_ENTRY + (10, 1), Counter32(5)),
        (IFX_ENTRY + (6, 1), Counter64(2**32 + 5)),
        (IF_ENTRY + (5, 1), Gauge32(2**32 - 1)),
        (IFX_ENTRY + (15, 1), Gauge32(40_000)),
        (IF_ENTRY + (8, 2), Integer(2)),
        (SYSTEM + (99, 0), NO_SUCH_OBJECT),
        (SYS_UPTIME_0[:-1] + (1,), NO_SUCH_INSTANCE),
    ]


async def test_snmpbulkwalk_of_a_50_interface_ifxtable(start_agent: StartAgent) -> None:
    running = await start_agent(TinyBackend(make_snapshot(50)))
    output = await net_snmp("snmpbulkwalk", running.host, running.port, [IFX_ENTRY], "-Cr25")
    walked = parse(output)
    expected = expected_ifx_walk(running.backend.snapshot)
    assert len(expected) == 400
    # ifXTable is the last table this agent serves, so the walk ends on endOfMibView,
    # which snmpbulkwalk prints under the last name, as it does for any agent
    assert walked == [*expected, (expected[-1][0], END_OF_MIB_VIEW)]
    assert running.agent.stats.requests_served == 17  # 400 / 25 + the one that ends it
