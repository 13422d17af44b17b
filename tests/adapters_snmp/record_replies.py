"""Record real snmpd replies for the codec tests: ``python -m tests.adapters_snmp.record_replies``.

Starts one snmpd inside a fresh network namespace (so the replies show only its loopback
and four veth interfaces, nothing of the machine), sends it GETBULK requests over subtrees
that carry every SMI value type net-snmp serves (strings, OIDs, IpAddress, INTEGER,
Counter32, Gauge32, TimeTicks, Counter64, Opaque floats of UCD-SNMP's load average,
endOfMibView) plus GETs of objects that do not exist (noSuchObject / noSuchInstance), and
writes each reply as it came off the wire to ``data/snmpd/NNN-<what>.ber``. Requires root.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from pyasn1.codec.ber import encoder
from pysnmp.proto.api import v2c

from adapters.snmp_codec import encode_get_bulk, encode_oid
from bench.netns import NetNamespace
from tests.peers.snmpd import SnmpdLab

DATA = Path(__file__).parent / "data" / "snmpd"

WALKS: dict[str, tuple[tuple[int, ...], ...]] = {
    "system": ((1, 3, 6, 1, 2, 1, 1),),
    "iftable": ((1, 3, 6, 1, 2, 1, 2, 2),),
    "ifxtable": ((1, 3, 6, 1, 2, 1, 31, 1, 1),),
    "ip": ((1, 3, 6, 1, 2, 1, 4, 20),),  # ipAddrTable: IpAddress values
    "snmp-counters": ((1, 3, 6, 1, 2, 1, 11),),
    "load-opaque": ((1, 3, 6, 1, 4, 1, 2021, 10),),  # laLoadFloat is an Opaque float
    "engine": ((1, 3, 6, 1, 6, 3, 10, 2, 1),),
    "poller-columns": tuple(
        (*entry, column)
        for entry, column in (
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1), 1),
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1), 6),
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1), 10),
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1), 15),
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1), 19),
            ((1, 3, 6, 1, 2, 1, 2, 2, 1), 8),
        )
    ),
    "end-of-mib": ((1, 3, 6, 1, 6, 3, 99),),  # nothing after it in snmpd's view
}
GETS: dict[str, tuple[tuple[int, ...], ...]] = {
    "no-such": ((1, 3, 6, 1, 2, 1, 1, 99, 0), (1, 3, 6, 1, 2, 1, 1, 5, 7), (1, 3, 6, 1, 9, 9)),
}


def get_request(community: str, request_id: int, oids: tuple[tuple[int, ...], ...]) -> bytes:
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_varbinds(pdu, [(oid, v2c.Null("")) for oid in oids])
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


def record() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    count = 0
    with (
        NetNamespace("nprec", veth_pairs=2) as namespace,
        SnmpdLab(["recorder"], netns=namespace) as lab,
    ):
        agent = lab["recorder"]
        community = agent.community
        with namespace.entered():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2.0)
        sock.connect((agent.host, agent.port))
        request_id = 1000

        def exchange(message: bytes, name: str) -> bytes:
            nonlocal count
            sock.send(message)
            reply = sock.recv(65535)
            (DATA / f"{count:03d}-{name}.ber").write_bytes(reply)
            count += 1
            return reply

        for name, subtrees in WALKS.items():
            # the snmp group has 29 objects; 40 rows would run on into hrSystem, whose
            # hrSystemInitialLoadParameters is the machine's kernel command line
            for repetitions in (1, 7, 20 if name == "snmp-counters" else 40):
                request_id += 1
                oids = [encode_oid(subtree) for subtree in subtrees]
                exchange(
                    encode_get_bulk(community.encode(), request_id, 0, repetitions, oids),
                    f"{name}-r{repetitions}",
                )
        for name, oids_ in GETS.items():
            request_id += 1
            exchange(get_request(community, request_id, oids_), name)
        sock.close()
    return count


if __name__ == "__main__":
    written = record()
    print(f"wrote {written} replies to {DATA}")
    sys.exit(0)
