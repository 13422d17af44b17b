"""Core types of netpilot: intents, observations, findings, decisions and changes.

Everything here is a frozen dataclass or a string enum with no IO and no project imports
other than :mod:`controller.errors`, so that intents/, analytics/ and policies/ can depend on
it and stay pure. The names follow 3GPP TS 28.312 where the standard has one
(expectation, target, condition, fulfilment status).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from controller.errors import SourceLocation
from controller.formatting import edit_text

__all__ = [
    "AdminState",
    "Approval",
    "ApprovalStatus",
    "CarrierConfig",
    "CarrierStatus",
    "ChangeResult",
    "ChangeSet",
    "ChangeStatus",
    "ClassConfig",
    "ClassQueue",
    "ConfigEdit",
    "ConfigPath",
    "CredentialRef",
    "Decision",
    "Device",
    "DeviceConfig",
    "EditOp",
    "Expectation",
    "ExpectationObjects",
    "ExpectationType",
    "ExpectationVerb",
    "FulfilmentStatus",
    "Guards",
    "Intent",
    "IntentMode",
    "IntentStatus",
    "InterfaceConfig",
    "InterfaceRate",
    "LineCardStatus",
    "NetconfEndpoint",
    "NotFulfilledState",
    "Observation",
    "OperationalState",
    "PathRef",
    "Plan",
    "PortStatus",
    "PowerMode",
    "PowerReading",
    "PowerState",
    "ProbeResult",
    "ReconcileState",
    "ShaperConfig",
    "SnmpEndpoint",
    "SourceLocation",
    "SubscriberConfig",
    "SubscriberFlow",
    "Target",
    "TargetCondition",
    "TargetStatus",
    "TrafficClass",
]


# A configuration path: YANG node names with list keys in brackets,
# ("qos", "class[name=video]", "priority").
ConfigPath = tuple[str, ...]

# --------------------------------------------------------------------------- vocabularies


class TrafficClass(str, Enum):
    """Traffic classes, as in the ``netpilot-lab`` YANG module's ``traffic-class``."""

    VIDEO = "video"
    VOICE = "voice"
    GAMING = "gaming"
    BULK = "bulk"
    BEST_EFFORT = "best-effort"


class ExpectationType(str, Enum):
    """What an expectation is about (28.312 expectation, netpilot's three kinds)."""

    E2E_QOS = "e2e-qos"
    ENERGY_SAVING = "energy-saving"
    VIDEO_EXPERIENCE = "video-experience"


class ExpectationVerb(str, Enum):
    """28.312 expectationVerb."""

    DELIVER = "deliver"
    ENSURE = "ensure"


class TargetCondition(str, Enum):
    """28.312 targetCondition (IS_LESS_THAN, ...), spelled as in intent files."""

    LESS_THAN = "lessThan"
    LESS_THAN_OR_EQUAL = "lessThanOrEqual"
    GREATER_THAN = "greaterThan"
    GREATER_THAN_OR_EQUAL = "greaterThanOrEqual"
    WITHIN_RANGE = "withinRange"


class AdminState(str, Enum):
    """28.312 intentAdminState."""

    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"


class IntentMode(str, Enum):
    """How far the controller may go on its own for this intent."""

    AUTO = "auto"  # act
    APPROVE = "approve"  # plan, then wait for an operator
    DRY_RUN = "dry-run"  # plan and report only


class FulfilmentStatus(str, Enum):
    """28.312 fulfilStatus."""

    FULFILLED = "fulfilled"
    NOT_FULFILLED = "notFulfilled"


class NotFulfilledState(str, Enum):
    """28.312 notFulfilledState."""

    ACKNOWLEDGED = "acknowledged"  # admitted, not yet evaluated
    COMPLIANT = "compliant"  # being brought into fulfilment (a change is in flight)
    DEGRADED = "degraded"  # a target is not met
    SUSPENDED = "suspended"  # deactivated by the operator
    FULFILMENT_FAILED = "fulfilmentFailed"  # the controller tried and could not


class PowerMode(str, Enum):
    """Requested power mode of a port or a radio carrier (YANG ``power-mode``)."""

    ACTIVE = "active"
    SLEEP = "sleep"


class PowerState(str, Enum):
    """Actual power state of a component (YANG ``power-state``)."""

    ACTIVE = "active"
    SLEEP = "sleep"
    WAKING = "waking"  # set active, not carrying traffic yet
    OFF = "off"  # administratively disabled or failed


class EditOp(str, Enum):
    """Kind of a configuration edit (kopf's diff vocabulary)."""

    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


class ChangeStatus(str, Enum):
    """Where a change ended."""

    PENDING = "pending"
    CONFIRMED = "confirmed"  # committed, verified and confirmed
    ROLLED_BACK = "rolled-back"  # committed, failed verification, restored
    REJECTED_PRECHECK = "rejected-precheck"  # refused before the commit; nothing changed
    ABORTED = "aborted"  # the device refused the commit; nothing changed
    FAILED = "failed"  # could not complete and could not be restored: needs a human


class Hold(str, Enum):
    """Why a decision's plan was not applied this tick (its summary says it in words).

    Readers (the headless log, the console, the API) go by this, never by the summary's
    wording.
    """

    DRY_RUN = "dry-run"  # the intent's mode: the plan is only shown
    AWAITING_APPROVAL = "awaiting approval"  # approve mode: waits for an operator
    REJECTED = "rejected"  # approve mode: an operator rejected the same action
    RECOMMEND = "recommend"  # the model is not confident enough: a recommendation only
    QUARANTINED = "quarantined"  # the same plan failed before and nothing has changed since
    GUARD = "held back"  # a guard held it (cooldown, rate limit, window, blast radius...)
    BUSY = "busy"  # a device of the plan is in another change
    LOST_ARBITRATION = "lost arbitration"  # another intent's action won

    @property
    def for_operator(self) -> bool:
        """A plan an operator is meant to see and answer (approve, reject, apply by hand)."""
        return self in (Hold.DRY_RUN, Hold.AWAITING_APPROVAL, Hold.REJECTED, Hold.RECOMMEND)


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """Where a secret comes from; never the secret itself.

    Exactly one of ``env`` (an environment variable) or ``file`` (a file readable only by
    its owner) is set.
    """

    env: str = ""
    file: str = ""

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"


@dataclass(frozen=True, slots=True)
class NetconfEndpoint:
    """How to reach a device's NETCONF server over SSH."""

    port: int
    username: str
    password: CredentialRef | None = None
    private_key: str = ""  # path to a key file
    known_hosts: str = ""  # path; host keys are verified against it
    trust_on_first_use: bool = False  # only when set explicitly
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class SnmpV3Credentials:
    """SNMPv3 user-based security (RFC 3414) of a device: the user and its keys, by reference.

    ``priv_key`` None is authNoPriv; production inventories use authPriv (both keys).
    The protocol names are the adapter's (``sha``, ``sha256``, ...; ``aes128``, ...).
    """

    user: str
    auth_key: CredentialRef
    priv_key: CredentialRef | None = None
    auth_protocol: str = "sha"
    priv_protocol: str = "aes128"


@dataclass(frozen=True, slots=True)
class SnmpEndpoint:
    """How to reach a device's SNMP agent: SNMPv3 when ``v3`` is set, else SNMPv2c with
    ``community``."""

    port: int
    community: CredentialRef | None = None
    timeout_seconds: float = 2.0
    retries: int = 1
    v3: SnmpV3Credentials | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """One managed device of the inventory."""

    name: str
    address: str
    labels: Mapping[str, str] = field(default_factory=dict)
    netconf: NetconfEndpoint | None = None
    snmp: SnmpEndpoint | None = None


# --------------------------------------------------------------------------- intents


@dataclass(frozen=True, slots=True)
class Target:
    """One expectation target: ``latencyMs lessThan 30``.

    ``value`` is the bound; for ``withinRange`` the range is ``(value, upper)``.
    """

    name: str
    condition: TargetCondition
    value: float
    upper: float | None = None
    unit: str = ""

    def is_met(self, observed: float) -> bool:
        """Whether an observed value satisfies the target."""
        match self.condition:
            case TargetCondition.LESS_THAN:
                return observed < self.value
            case TargetCondition.LESS_THAN_OR_EQUAL:
                return observed <= self.value
            case TargetCondition.GREATER_THAN:
                return observed > self.value
            case TargetCondition.GREATER_THAN_OR_EQUAL:
                return observed >= self.value
            case TargetCondition.WITHIN_RANGE:
                upper = self.value if self.upper is None else self.upper
                return self.value <= observed <= upper

    def describe(self) -> str:
        """Human text, e.g. ``latencyMs lessThan 30``."""
        if self.condition is TargetCondition.WITHIN_RANGE:
            return f"{self.name} {self.condition.value} [{self.value:g}, {self.upper:g}]"
        return f"{self.name} {self.condition.value} {self.value:g}"


@dataclass(frozen=True, slots=True)
class PathRef:
    """An end-to-end path between two devices (the probe runs from ``source``)."""

    source: str
    destination: str


@dataclass(frozen=True, slots=True)
class ExpectationObjects:
    """What an expectation applies to (28.312 expectationObjects).

    ``select`` is a label selector over the inventory (all labels must match); ``devices``
    names devices explicitly. Both empty selects every device.
    """

    traffic_class: TrafficClass | None = None
    path: PathRef | None = None
    select: Mapping[str, str] = field(default_factory=dict)
    devices: tuple[str, ...] = ()

    def selects(self, device: Device) -> bool:
        """Whether ``device`` is one of the objects."""
        if self.devices and device.name not in self.devices:
            return False
        return all(device.labels.get(k) == v for k, v in self.select.items())


@dataclass(frozen=True, slots=True)
class Expectation:
    """28.312 IntentExpectation."""

    id: str
    type: ExpectationType
    verb: ExpectationVerb
    objects: ExpectationObjects
    targets: tuple[Target, ...]
    contexts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Guards:
    """Limits on what the controller may do for one intent."""

    max_changes_per_hour: int = 6
    max_devices_per_change: int = 1
    cooldown: timedelta = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class Intent:
    """An operator's declared outcome, as loaded from an intent file."""

    name: str
    expectations: tuple[Expectation, ...]
    priority: int = 50
    admin_state: AdminState = AdminState.ACTIVATED
    mode: IntentMode = IntentMode.AUTO
    guards: Guards = field(default_factory=Guards)
    labels: Mapping[str, str] = field(default_factory=dict)
    generation: str = ""  # content hash of the spec: changes when the spec does
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target's latest evaluation."""

    expectation: str
    target: Target
    observed: float | None
    met: bool | None  # None: no data yet

    def as_dict(self) -> dict[str, object]:
        return {
            "expectation": self.expectation,
            "name": self.target.name,
            "condition": self.target.condition.value,
            "value": self.target.value,
            "observed": self.observed,
            "met": self.met,
        }


@dataclass(frozen=True, slots=True)
class IntentStatus:
    """28.312 fulfilment information of one intent; the controller's, never in Git."""

    name: str
    status: FulfilmentStatus
    state: NotFulfilledState | None
    targets: tuple[TargetStatus, ...]
    reasons: tuple[str, ...] = ()
    evaluated_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status.value,
            "state": self.state.value if self.state else None,
            "reasons": list(self.reasons),
            "targets": [t.as_dict() for t in self.targets],
            "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
        }


# --------------------------------------------------------------------------- sense


@dataclass(frozen=True, slots=True)
class InterfaceRate:
    """An interface's rates, from SNMP counter deltas over the agent's own time base."""

    interface: str
    in_mbps: float
    out_mbps: float
    speed_mbps: float
    oper_up: bool

    @property
    def utilization(self) -> float:
        """Egress load over line rate."""
        return self.out_mbps / self.speed_mbps if self.speed_mbps > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ClassQueue:
    """One class's egress queue on one interface (NETCONF operational state)."""

    interface: str
    traffic_class: TrafficClass
    offered_mbps: float
    queue_delay_ms: float
    drop_ratio: float


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """An active path measurement from a device to another (NETCONF operational state)."""

    destination: str
    traffic_class: TrafficClass
    latency_ms: float
    loss_ratio: float


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    """Configuration of one interface (``/npl:interfaces/interface``), defaults applied."""

    name: str
    enabled: bool = True
    metric: int = 10
    description: str = ""
    power_mode: PowerMode = PowerMode.ACTIVE


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    """A radio carrier's requested power mode (``/npl:radio/carrier``), defaults applied."""

    name: str
    power_mode: PowerMode = PowerMode.ACTIVE


@dataclass(frozen=True, slots=True)
class SubscriberConfig:
    """Per-subscriber rate settings (``/npl:subscribers/subscriber``), Mbit/s.

    ``min_rate_mbps`` is a boost (served before the other subscribers share what is left);
    an entry with neither rate is no configuration at all.
    """

    id: str
    max_rate_mbps: int | None = None
    min_rate_mbps: int | None = None


@dataclass(frozen=True, slots=True)
class ClassConfig:
    """Scheduling of one class (``/npl:qos/class``), defaults applied."""

    name: TrafficClass
    priority: int = 0
    weight: int = 10


@dataclass(frozen=True, slots=True)
class ShaperConfig:
    """A shaper (``/npl:qos/shaper``)."""

    interface: str
    traffic_class: TrafficClass
    rate_mbps: int


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """A device's running configuration, parsed, with YANG defaults applied.

    Comparing two of these compares configurations semantically: element order and
    defaults written out or left implicit make no difference.
    """

    interfaces: tuple[InterfaceConfig, ...] = ()
    classes: tuple[ClassConfig, ...] = ()
    shapers: tuple[ShaperConfig, ...] = ()
    carriers: tuple[CarrierConfig, ...] = ()
    subscribers: tuple[SubscriberConfig, ...] = ()

    def interface(self, name: str) -> InterfaceConfig:
        """The interface's configuration, or the YANG defaults if it is not configured."""
        for itf in self.interfaces:
            if itf.name == name:
                return itf
        return InterfaceConfig(name=name)

    def carrier(self, name: str) -> CarrierConfig:
        """The carrier's configuration, or the YANG defaults if it is not configured."""
        for carrier in self.carriers:
            if carrier.name == name:
                return carrier
        return CarrierConfig(name=name)

    def subscriber(self, subscriber_id: str) -> SubscriberConfig:
        """The subscriber's rate settings (none if it is not configured)."""
        for entry in self.subscribers:
            if entry.id == subscriber_id:
                return entry
        return SubscriberConfig(id=subscriber_id)

    def class_config(self, traffic_class: TrafficClass) -> ClassConfig:
        """The class's scheduling, or the YANG defaults if it is not configured."""
        for cfg in self.classes:
            if cfg.name is traffic_class:
                return cfg
        return ClassConfig(name=traffic_class)

    def flatten(self) -> dict[ConfigPath, str]:
        """Every leaf as ``path -> value``, for semantic diffs (order-free).

        Paths are tuples (``("qos", "class[name=video]", "priority")``), never joined
        strings, so key values may contain ``/`` (``ge-0/0/1``).
        """
        leaves: dict[ConfigPath, str] = {}
        for itf in self.interfaces:
            base = ("interfaces", f"interface[name={itf.name}]")
            leaves[(*base, "enabled")] = str(itf.enabled).lower()
            leaves[(*base, "metric")] = str(itf.metric)
            leaves[(*base, "power-mode")] = itf.power_mode.value
            if itf.description:
                leaves[(*base, "description")] = itf.description
        for cls in self.classes:
            base = ("qos", f"class[name={cls.name.value}]")
            leaves[(*base, "priority")] = str(cls.priority)
            leaves[(*base, "weight")] = str(cls.weight)
        for shp in self.shapers:
            base = ("qos", f"shaper[interface={shp.interface}][class={shp.traffic_class.value}]")
            leaves[(*base, "rate-mbps")] = str(shp.rate_mbps)
        for carrier in self.carriers:
            leaves[("radio", f"carrier[name={carrier.name}]", "power-mode")] = (
                carrier.power_mode.value
            )
        for entry in self.subscribers:
            base = ("subscribers", f"subscriber[id={entry.id}]")
            if entry.max_rate_mbps is not None:
                leaves[(*base, "max-rate-mbps")] = str(entry.max_rate_mbps)
            if entry.min_rate_mbps is not None:
                leaves[(*base, "min-rate-mbps")] = str(entry.min_rate_mbps)
        return leaves

    @staticmethod
    def from_flat(leaves: Mapping[ConfigPath, str]) -> DeviceConfig:
        """The inverse of :meth:`flatten`.

        Raises:
            ValueError: a path or value that the ``netpilot-lab`` module does not have.
        """
        entries: dict[str, dict[tuple[str, ...], dict[str, str]]] = {
            "interface": {},
            "class": {},
            "shaper": {},
            "carrier": {},
            "subscriber": {},
        }
        for path, value in leaves.items():
            kind, keys = _entry_of(path)
            entries[kind].setdefault(keys, {})[path[2]] = value
        try:
            return _config_from_entries(entries)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed configuration: {exc}") from exc

    def with_edits(self, edits: tuple[ConfigEdit, ...]) -> DeviceConfig:
        """This configuration with ``edits`` applied (what the device should hold after).

        A REMOVE of a list entry's path (``("qos", "shaper[...]")``) removes the entry; a
        REMOVE of a leaf returns it to its default.

        Raises:
            ValueError: an edit addresses a path the module does not have.
        """
        leaves = self.flatten()
        for edit in edits:
            if edit.op is EditOp.REMOVE:
                depth = len(edit.path)
                for path in [p for p in leaves if p[:depth] == edit.path]:
                    del leaves[path]
            else:
                assert edit.new is not None
                leaves[edit.path] = edit.new
        return DeviceConfig.from_flat(leaves)

    def diff(self, other: DeviceConfig) -> tuple[ConfigEdit, ...]:
        """Edits that turn ``self`` into ``other``, semantically.

        A list entry that ``other`` lacks is removed as a whole (one edit on the entry's
        path); otherwise edits are per leaf.
        """
        mine, theirs = self.flatten(), other.flatten()
        gone = {p[:2] for p in mine} - {p[:2] for p in theirs}
        edits = [
            ConfigEdit(op=EditOp.REMOVE, path=entry, old=None, new=None) for entry in sorted(gone)
        ]
        for path in sorted(mine.keys() | theirs.keys()):
            old, new = mine.get(path), theirs.get(path)
            if old == new or path[:2] in gone:
                continue
            op = EditOp.ADD if old is None else EditOp.REMOVE if new is None else EditOp.CHANGE
            edits.append(ConfigEdit(op=op, path=path, old=old, new=new))
        return tuple(edits)


def _list_keys(segment: str) -> dict[str, str]:
    """``class[name=video]`` -> ``{"name": "video"}``; ``qos`` -> ``{}``."""
    keys: dict[str, str] = {}
    rest = segment.partition("[")[2]
    while rest:
        pair, _, rest = rest.partition("]")
        key, _, value = pair.partition("=")
        keys[key] = value
        rest = rest.partition("[")[2]
    return keys


# container, list entry, list keys and leaves of every list the module has
_LISTS: Mapping[tuple[str, str], tuple[tuple[str, ...], frozenset[str]]] = {
    ("interfaces", "interface"): (
        ("name",),
        frozenset({"enabled", "metric", "description", "power-mode"}),
    ),
    ("qos", "class"): (("name",), frozenset({"priority", "weight"})),
    ("qos", "shaper"): (("interface", "class"), frozenset({"rate-mbps"})),
    ("radio", "carrier"): (("name",), frozenset({"power-mode"})),
    ("subscribers", "subscriber"): (("id",), frozenset({"max-rate-mbps", "min-rate-mbps"})),
}


def _entry_of(path: ConfigPath) -> tuple[str, tuple[str, ...]]:
    """``(list name, key values)`` of a leaf path; ValueError for a path the module lacks."""
    if len(path) == 3:
        container, entry, leaf = path
        name = entry.partition("[")[0]
        spec = _LISTS.get((container, name))
        if spec is not None:
            key_names, leaf_names = spec
            keys = _list_keys(entry)
            if tuple(sorted(keys)) == tuple(sorted(key_names)) and leaf in leaf_names:
                return name, tuple(keys[k] for k in key_names)
    raise ValueError(f"unknown configuration path {'/'.join(path)}")


def _optional_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _config_from_entries(
    entries: Mapping[str, Mapping[tuple[str, ...], Mapping[str, str]]],
) -> DeviceConfig:
    return DeviceConfig(
        interfaces=tuple(
            InterfaceConfig(
                name=name,
                enabled=leaf.get("enabled", "true") == "true",
                metric=int(leaf.get("metric", "10")),
                description=leaf.get("description", ""),
                power_mode=PowerMode(leaf.get("power-mode", "active")),
            )
            for (name,), leaf in sorted(entries["interface"].items())
        ),
        classes=tuple(
            ClassConfig(
                name=TrafficClass(name),
                priority=int(leaf.get("priority", "0")),
                weight=int(leaf.get("weight", "10")),
            )
            for (name,), leaf in sorted(entries["class"].items())
        ),
        shapers=tuple(
            ShaperConfig(interface=itf, traffic_class=TrafficClass(cls), rate_mbps=int(rate))
            for (itf, cls), leaf in sorted(entries["shaper"].items())
            for rate in (leaf["rate-mbps"],)
        ),
        carriers=tuple(
            CarrierConfig(name=name, power_mode=PowerMode(leaf.get("power-mode", "active")))
            for (name,), leaf in sorted(entries["carrier"].items())
        ),
        subscribers=tuple(
            SubscriberConfig(
                id=subscriber,
                max_rate_mbps=_optional_int(leaf.get("max-rate-mbps")),
                min_rate_mbps=_optional_int(leaf.get("min-rate-mbps")),
            )
            for (subscriber,), leaf in sorted(entries["subscriber"].items())
        ),
    )


# --------------------------------------------------------------------------- operational state


@dataclass(frozen=True, slots=True)
class PortStatus:
    """One port's operational state (``/npl:state/interface``): load and power."""

    interface: str
    oper_up: bool
    speed_mbps: float
    utilization: float
    power_state: PowerState | None = None
    watts: float | None = None
    line_card: str = ""


@dataclass(frozen=True, slots=True)
class LineCardStatus:
    """One line card's power (``/npl:state/power/line-card``)."""

    name: str
    power_state: PowerState
    watts: float


@dataclass(frozen=True, slots=True)
class PowerReading:
    """A device's electrical power (``/npl:state/power``)."""

    total_w: float
    chassis_w: float = 0.0
    radio_w: float = 0.0
    energy_j: int = 0
    line_cards: tuple[LineCardStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class CarrierStatus:
    """One radio carrier (``/npl:state/carrier``)."""

    name: str
    cell: str
    power_state: PowerState
    capacity_mbps: float
    load: float
    watts: float


@dataclass(frozen=True, slots=True)
class SubscriberFlow:
    """Flow features of one subscriber's downstream traffic (``/npl:state/subscriber``),
    as a flow monitor at the access node measures them. No player state: no stalls."""

    id: str
    throughput_mbps: float
    rtt_ms: float
    retransmission_ratio: float
    bytes: int
    mean_request_bytes: int
    request_interval_ms: float
    active_ratio: float


@dataclass(frozen=True, slots=True)
class OperationalState:
    """Everything a device's ``/npl:state`` says, parsed (queues and probes as before)."""

    queues: tuple[ClassQueue, ...] = ()
    probes: tuple[ProbeResult, ...] = ()
    ports: tuple[PortStatus, ...] = ()
    power: PowerReading | None = None
    carriers: tuple[CarrierStatus, ...] = ()
    subscribers: tuple[SubscriberFlow, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything sensed from one device in one tick.

    A failed or partial observation is a value: ``error`` is set and the rest may be empty.
    """

    device: str
    at: datetime
    rates: tuple[InterfaceRate, ...] = ()
    queues: tuple[ClassQueue, ...] = ()
    probes: tuple[ProbeResult, ...] = ()
    config: DeviceConfig | None = None
    errors: tuple[str, ...] = ()
    ports: tuple[PortStatus, ...] = ()
    power: PowerReading | None = None
    carriers: tuple[CarrierStatus, ...] = ()
    subscribers: tuple[SubscriberFlow, ...] = ()

    def port(self, interface: str) -> PortStatus | None:
        """The operational state of port ``interface``, if reported."""
        for p in self.ports:
            if p.interface == interface:
                return p
        return None

    def probe(self, destination: str, traffic_class: TrafficClass) -> ProbeResult | None:
        """The probe result towards ``destination`` for ``traffic_class``, if measured."""
        for p in self.probes:
            if p.destination == destination and p.traffic_class is traffic_class:
                return p
        return None


# --------------------------------------------------------------------------- analyze / decide


@dataclass(frozen=True, slots=True)
class ConfigEdit:
    """One leaf-level configuration edit.

    ``path`` is a tuple of YANG node names with list keys in brackets:
    ``("qos", "class[name=video]", "priority")``.
    """

    op: EditOp
    path: tuple[str, ...]
    old: str | None
    new: str | None

    def describe(self) -> str:
        """``qos/class[name=video]/priority: 0 -> 6``; an absent leaf is ``(unset)``."""
        return edit_text("/".join(self.path), self.old, self.new)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Edits to one device, planned for one intent.

    ``id`` is a stable hash of intent, device, base config and edits, so the same plan
    computed twice has the same id (idempotency in the journal). ``base`` is the running
    configuration the plan was computed from: when set, the transaction refuses to touch a
    device that no longer holds exactly that (it drifted since the plan).
    """

    id: str
    intent: str
    device: str
    edits: tuple[ConfigEdit, ...]
    reason: str
    base: DeviceConfig | None = None

    @staticmethod
    def make(
        intent: str,
        device: str,
        edits: tuple[ConfigEdit, ...],
        reason: str,
        *,
        base: DeviceConfig | None = None,
    ) -> ChangeSet:
        """Build a change set with its content-derived id."""
        flat = sorted(base.flatten().items()) if base is not None else None
        payload = json.dumps(
            [intent, device, flat, [(e.op.value, e.path, e.old, e.new) for e in edits]]
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()[:12]
        return ChangeSet(
            id=f"chg-{digest}",
            intent=intent,
            device=device,
            edits=edits,
            reason=reason,
            base=base,
        )

    def as_dict(self) -> dict[str, object]:
        """The change set edit by edit, JSON-ready, without its base configuration (that
        stays with the controller). Paths stay segment lists: a key value may hold a '/'
        (``ge-0/0/1``)."""
        return {
            "id": self.id,
            "intent": self.intent,
            "device": self.device,
            "reason": self.reason,
            "edits": [
                {"op": e.op.value, "path": list(e.path), "old": e.old, "new": e.new}
                for e in self.edits
            ],
        }

    @staticmethod
    def from_dict(data: Mapping[str, object]) -> ChangeSet:
        """What :meth:`as_dict` wrote (without a base). A missing text reads as "", a
        non-list of edits as none.

        Raises:
            ValueError: an edit's ``op`` is not an :class:`EditOp`.
        """

        def text(mapping: Mapping[str, object], key: str) -> str:
            value = mapping.get(key)
            return "" if value is None else str(value)

        def leaf(value: object) -> str | None:
            return None if value is None else str(value)

        edits = data.get("edits")
        return ChangeSet(
            id=text(data, "id"),
            intent=text(data, "intent"),
            device=text(data, "device"),
            edits=tuple(
                ConfigEdit(
                    op=EditOp(text(e, "op")),
                    path=tuple(str(step) for step in path)
                    if isinstance(path := e.get("path"), list | tuple)
                    else (),
                    old=leaf(e.get("old")),
                    new=leaf(e.get("new")),
                )
                for e in (edits if isinstance(edits, list) else [])
                if isinstance(e, Mapping)
            ),
            reason=text(data, "reason"),
        )


# which kinds of leaves of which devices a plan sets: (device, path steps without list keys)
PlanShape = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """Change sets for one or more devices, applied as ONE transaction: all or none.

    ``id`` is derived from the change sets' ids, so the same plan computed twice has the same
    id; a single-device plan has its change set's id.
    """

    id: str
    intent: str
    changes: tuple[ChangeSet, ...]
    reason: str

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices the plan changes, in order."""
        return tuple(c.device for c in self.changes)

    @property
    def shape(self) -> PlanShape:
        """Which kinds of leaves of which devices the plan sets (list keys left out): two
        plans of one shape are the same action with other values, e.g. shaping on r2 with
        rates recomputed from this tick's load, whichever competing classes it shapes."""
        return tuple(
            sorted(
                {
                    (c.device, tuple(step.split("[", 1)[0] for step in e.path))
                    for c in self.changes
                    for e in c.edits
                }
            )
        )

    @staticmethod
    def make(intent: str, changes: tuple[ChangeSet, ...], reason: str) -> Plan:
        """Build a plan; refuses an empty plan and two change sets for one device.

        Raises:
            ValueError: no change sets, or a device twice.
        """
        if not changes:
            raise ValueError("a plan needs at least one change set")
        devices = [c.device for c in changes]
        if len(set(devices)) != len(devices):
            raise ValueError(f"a plan changes each device once: {devices}")
        if len(changes) == 1:
            return Plan(id=changes[0].id, intent=intent, changes=changes, reason=reason)
        digest = hashlib.sha256(json.dumps([c.id for c in changes]).encode()).hexdigest()[:12]
        return Plan(id=f"pln-{digest}", intent=intent, changes=changes, reason=reason)

    @staticmethod
    def single(change: ChangeSet) -> Plan:
        """The one-device plan of a change set."""
        return Plan.make(change.intent, (change,), change.reason)


class ApprovalStatus(str, Enum):
    """Where an approve-mode plan stands."""

    PENDING = "pending"  # waiting for an operator
    APPROVED = "approved"  # an operator said yes; the loop applies it
    REJECTED = "rejected"  # an operator said no; the change is quarantined for its intent
    APPLIED = "applied"  # its transaction ran (see the journal for how it ended)
    SUPERSEDED = "superseded"  # the loop now proposes something else (the network moved on)


@dataclass(frozen=True, slots=True)
class Approval:
    """A plan an approve-mode intent is waiting on. ``id`` is the change set's id."""

    id: str
    intent: str
    change: ChangeSet
    summary: str
    requested_at: datetime
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_at: datetime | None = None
    reason: str = ""
    explanation: Mapping[str, object] = field(default_factory=dict)
    plan: Plan | None = None  # the whole plan when it changes several devices

    @property
    def devices(self) -> tuple[str, ...]:
        """The devices the plan changes."""
        return self.plan.devices if self.plan is not None else (self.change.device,)

    @property
    def proposed(self) -> Plan:
        """The plan the operator was shown (the one applied when approved)."""
        return self.plan if self.plan is not None else Plan.single(self.change)

    def as_dict(self) -> dict[str, object]:
        changes = self.plan.changes if self.plan is not None else (self.change,)
        return {
            "id": self.id,
            "intent": self.intent,
            "device": ",".join(self.devices),
            "edits": [
                e.describe() if len(changes) == 1 else f"{c.device}: {e.describe()}"
                for c in changes
                for e in c.edits
            ],
            "summary": self.summary,
            "requested_at": self.requested_at.isoformat(),
            "status": self.status.value,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "reason": self.reason,
            "explanation": dict(self.explanation),
        }


@dataclass(frozen=True, slots=True)
class ReconcileState:
    """The controller's memory of one intent between ticks, passed into the pure policies.

    Like kopf's HandlerState: the loop owns and updates it; policies only read it.
    """

    consecutive_violations: int = 0
    recent_changes: tuple[datetime, ...] = ()  # when changes for this intent were committed
    in_flight: str = ""  # id of the change being applied, if any
    # change id -> why the loop will not apply it again (failed verification, refused for a
    # reason retrying cannot fix, undone by an operator)
    quarantined: Mapping[str, str] = field(default_factory=dict)
    # an optimising plan (energy sleep) acts only once it stood for the hysteresis: its id
    # and for how many consecutive ticks it has been proposed
    pending: str = ""
    pending_ticks: int = 0

    def changes_since(self, since: datetime) -> int:
        """How many changes were committed at or after ``since``."""
        return sum(1 for at in self.recent_changes if at >= since)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy concluded for one intent in one tick, and why.

    ``plan`` is what the controller will apply (one transaction over its devices);
    ``change`` is its change set when the plan touches one device (the shape older readers
    know), None for a multi-device plan. Build decisions with a plan through
    :meth:`with_plan` so the two agree.
    """

    intent: str
    at: datetime
    summary: str
    change: ChangeSet | None = None
    explanation: Mapping[str, object] = field(default_factory=dict)
    expectation: str = ""  # id of the expectation the decision serves
    plan: Plan | None = None
    held: Hold | None = None  # why a plan it found was not applied; None: applied or none

    @property
    def actions(self) -> Plan | None:
        """The plan to apply, if any (a lone ``change`` is a one-device plan)."""
        if self.plan is not None:
            return self.plan
        return Plan.single(self.change) if self.change is not None else None

    def with_plan(self, plan: Plan | None) -> Decision:
        """This decision carrying ``plan`` (None: no action)."""
        change = plan.changes[0] if plan is not None and len(plan.changes) == 1 else None
        return replace(self, plan=plan, change=change)


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """How a change transaction ended. Like kopf's Outcome, it keeps the error as a field.

    ``device`` names the device (devices joined by commas for a multi-device plan);
    ``outcomes`` gives each device's own end state.
    """

    change_id: str
    intent: str
    device: str
    status: ChangeStatus
    detail: str
    started: datetime
    finished: datetime
    error: Mapping[str, object] | None = None
    outcomes: Mapping[str, ChangeStatus] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "change_id": self.change_id,
            "intent": self.intent,
            "device": self.device,
            "status": self.status.value,
            "detail": self.detail,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "error": dict(self.error) if self.error else None,
            "outcomes": {device: status.value for device, status in self.outcomes.items()},
        }
