"""What the lab's protocol servers need from a lab device, and nothing more.

The NETCONF server (``lab.netconf_server``) and the SNMP agent (``lab.snmp_agent``) are
written against these two Protocols; ``lab.runtime`` implements them on top of the network
model. Keeping the seam here lets each server be tested with a tiny in-test backend.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class NetconfBackend(Protocol):
    """The device behind a lab NETCONF server."""

    def running_changed(self, running: ET.Element) -> None:
        """Called after every change of the running datastore.

        That is: a commit, a confirmed commit, its confirmation is NOT a change, a
        cancel-commit or a confirmed-commit timeout that restores the previous running
        config. ``running`` is the whole datastore as a ``<config>`` element in the
        NETCONF base namespace, holding the ``netpilot-lab`` top-level containers. It must not
        raise.
        """
        ...

    def operational_state(self) -> ET.Element:
        """The ``<state>`` container (``urn:netpilot:lab`` namespace) for ``<get>``.

        Called once per ``<get>``; the server applies the request's filter to it.
        """
        ...

    def commit_should_fail(self) -> str | None:
        """Fault injection: a message if the next commit must fail, else None.

        Called once per ``<commit>`` (confirmed or not, but not for a confirming commit);
        a non-None answer makes the server reply ``<rpc-error>`` with error-tag
        ``operation-failed`` and this message, leaving running unchanged.
        """
        ...


@dataclass(frozen=True, slots=True)
class InterfaceCounters:
    """One IF-MIB row of a lab device, as counted at the moment of the request.

    Octet counters are unbounded Python ints; the agent reduces them modulo 2**32
    (ifInOctets/ifOutOctets) or 2**64 (ifHCInOctets/ifHCOutOctets) when it encodes them.
    """

    index: int  # ifIndex, 1-based
    name: str  # ifName / ifDescr
    alias: str  # ifAlias
    speed_mbps: int  # ifHighSpeed; ifSpeed is min(speed_bps, 2**32-1)
    admin_up: bool  # ifAdminStatus
    oper_up: bool  # ifOperStatus
    in_octets: int
    out_octets: int
    in_packets: int
    out_packets: int


@dataclass(frozen=True, slots=True)
class PowerComponent:
    """One row of the enterprise power table (see ``lab.snmp_agent.power_objects``)."""

    index: int  # 1-based, stable for the device's life
    name: str
    kind: int  # 1 chassis, 2 line card, 3 port, 4 radio carrier
    state: int  # 1 active, 2 sleep, 3 waking, 4 off
    milliwatts: int


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """What the SNMP agent serves for one request."""

    sys_name: str
    sys_descr: str
    uptime_ticks: int  # sysUpTime in hundredths of a second (of lab time)
    interfaces: tuple[InterfaceCounters, ...]
    power_mw: int = 0  # the device's power now (enterprise MIB)
    energy_j: int = 0  # energy since boot, joules of lab time (enterprise MIB)
    components: tuple[PowerComponent, ...] = ()


@runtime_checkable
class SnmpBackend(Protocol):
    """The device behind a lab SNMP agent."""

    def snmp_snapshot(self) -> AgentSnapshot:
        """The MIB values at this instant; called once per received request. Must not raise."""
        ...
