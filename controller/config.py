"""The controller's configuration file and the device inventory it points to.

Example ``netpilot.yaml``::

    inventory: inventory.yaml        # path, relative to this file
    intents: intents/                # directory of intent files
    journal: state/journal.sqlite    # SQLite journal (created if missing)
    loop:
      intervalSeconds: 2             # one sense-analyze-decide-act tick
      violationTicks: 2              # consecutive violated evaluations before acting
      senseDeadlineSeconds: 1.6      # a device that has not answered by then is reported
                                     # missing for the tick (default: 0.8 x intervalSeconds)
    policy:
      minConfidence: 0.8             # below this model confidence a policy recommends, and
                                     # does not act (the rule baselines answer with 0.5)
      actOnPrediction: true          # a trained model's confident stall prediction that the
                                     # network corroborates acts on the first violated tick
                                     # (false: wait for the hysteresis)
    apply:
      confirmTimeoutSeconds: 120     # whole seconds: the device reverts by itself if netpilot
                                     # goes silent (NETCONF confirm-timeout is a uint32)
      verificationSeconds: 8         # post-check window after the confirmed commit
      verificationIntervalSeconds: 1
      requiredSamples: 3             # consecutive samples meeting the target to confirm;
                                     # requiredSamples x interval must fit in the window

Example ``inventory.yaml``::

    defaults:
      netconf: {port: 830, username: netpilot, password: {env: NETPILOT_PASSWORD},
                knownHosts: ~/.ssh/known_hosts}   # relative paths: from this file's directory
      snmp: {port: 161, community: {env: NETPILOT_SNMP_COMMUNITY}}
    devices:
      - name: r1
        address: 192.0.2.1
        labels: {site: west, role: edge}

Errors name the file, line and field (:class:`~controller.errors.ConfigFileError`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path

import yaml

from adapters.snmp import SnmpAuthProtocol, SnmpPrivProtocol
from controller.errors import ConfigFileError, IntentValidationError
from controller.model import (
    CredentialRef,
    Device,
    ExpectationType,
    Intent,
    NetconfEndpoint,
    SnmpEndpoint,
    SnmpV3Credentials,
)
from intents.yamldoc import Mapping, Node, parse_documents


class LoopClass(str, Enum):
    """Which loop decides an intent: the fast one (QoS and video, seconds) or the slow one
    (energy saving, minutes: its optimisation is dearer, and sleeping links must not follow
    every wiggle of the load)."""

    FAST = "fast"
    SLOW = "slow"

    @staticmethod
    def of(intent: Intent) -> LoopClass:
        """Slow only when every expectation of the intent is an energy-saving one."""
        kinds = {e.type for e in intent.expectations}
        return LoopClass.SLOW if kinds == {ExpectationType.ENERGY_SAVING} else LoopClass.FAST


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Cadence of the closed loop.

    With ``slow_interval`` set, intents of the slow class (:class:`LoopClass`) are decided
    on that cadence and the others every ``interval``; without it, every intent is decided
    every ``interval``.
    """

    interval: timedelta = timedelta(seconds=5)
    violation_ticks: int = 2  # hysteresis: a target must be missed this many ticks in a row
    slow_interval: timedelta | None = None
    # how long a tick waits for one device's observation (None: SENSE_DEADLINE_SHARE of the
    # interval); a device that has not answered by then is reported missing for that tick
    sense_deadline: timedelta | None = None

    @property
    def device_sense_deadline(self) -> timedelta:
        """The per-device sense deadline in force: the configured one, or by default
        :data:`SENSE_DEADLINE_SHARE` of the (fast) interval, so one dead device still lets
        the tick end within its interval, with time left to decide."""
        if self.sense_deadline is not None:
            return self.sense_deadline
        return self.interval * SENSE_DEADLINE_SHARE


SENSE_DEADLINE_SHARE = 0.8  # the default sense deadline's share of the tick interval


@dataclass(frozen=True, slots=True)
class ApplySettings:
    """How a change is committed and verified."""

    confirm_timeout: timedelta = timedelta(seconds=120)
    verification_window: timedelta = timedelta(seconds=10)
    verification_interval: timedelta = timedelta(seconds=1)
    required_samples: int = 3


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How the daemon shows itself: its local API, metrics and logs.

    The API listens on ``api_socket`` (a UNIX socket, the default, next to the journal) or on
    ``api_listen`` (a loopback TCP address); either way every request needs the token in
    ``token_file``. Metrics are served only when ``metrics_listen`` is set.
    """

    api_socket: Path | None = None
    api_listen: tuple[str, int] | None = None
    token_file: Path = Path("api-token")
    metrics_listen: tuple[str, int] | None = None
    log_format: str = "text"
    trap_listen: tuple[str, int] | None = None  # SNMP traps/informs wake the loop early
    model_store: Path | None = None  # the model registry (None: the CLI's default)


@dataclass(frozen=True, slots=True)
class IntentSourceSettings:
    """Where the intents come from: a directory, or a Git repository (path or any URL git
    can reach) with a branch and a subdirectory, polled on an interval and on demand."""

    location: str
    branch: str | None = None
    subdir: str = ""
    poll_interval: timedelta = timedelta(seconds=60)

    @property
    def is_directory(self) -> bool:
        """A plain directory of intent files (not a Git repository)."""
        path = Path(self.location)
        return self.branch is None and path.is_dir() and not (path / ".git").exists()


@dataclass(frozen=True, slots=True)
class DecisionSettings:
    """The decision logic's tunables an operator sets (``policy:``); None keeps the
    default of :class:`policies.base.PolicySettings`."""

    min_confidence: float | None = None
    act_on_prediction: bool | None = None


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Everything ``netpilot run`` needs, resolved to absolute paths."""

    inventory: tuple[Device, ...]
    intents_dir: Path  # the directory of a directory source (a Git source's location otherwise)
    journal_path: Path
    loop: LoopSettings = field(default_factory=LoopSettings)
    apply: ApplySettings = field(default_factory=ApplySettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    intent_source: IntentSourceSettings | None = None
    # the network's topology file (the lab's YAML format): the what-if twin's model; None:
    # the policies act without predictions
    topology: Path | None = None
    decision: DecisionSettings = field(default_factory=DecisionSettings)

    @property
    def intents(self) -> IntentSourceSettings:
        """The intent source (a plain directory unless the config named a Git source)."""
        return self.intent_source or IntentSourceSettings(location=str(self.intents_dir))


def _wrap(exc: IntentValidationError) -> ConfigFileError:
    message = exc.message
    if exc.expected:
        message += f" (expected {exc.expected})"
    if exc.hint:
        message += f"; {exc.hint}"
    return ConfigFileError(exc.location.file, message, line=exc.location.line, field=exc.field)


def _single_document(path: Path) -> Node:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read: {exc.strerror}") from exc
    try:
        documents = list(parse_documents(text, str(path)))
    except IntentValidationError as exc:
        raise _wrap(exc) from exc
    if len(documents) != 1:
        raise ConfigFileError(str(path), f"expected one YAML document, found {len(documents)}")
    return documents[0]


def load_settings(path: Path) -> ControllerSettings:
    """Load ``netpilot.yaml`` and the inventory it names.

    Raises:
        ConfigFileError: with file, line and field of the first problem.
    """
    try:
        return _load_settings(path)
    except IntentValidationError as exc:
        raise _wrap(exc) from exc


def _seconds(node: Node | None, default: timedelta, *, minimum: float = 0.0) -> timedelta:
    if node is None:
        return default
    return timedelta(seconds=node.number(minimum=minimum, maximum=86_400))


def _load_settings(path: Path) -> ControllerSettings:
    root = _single_document(path).mapping(
        required=("inventory", "intents"),
        allowed=(
            "journal",
            "loop",
            "apply",
            "api",
            "metrics",
            "logging",
            "traps",
            "models",
            "topology",
            "policy",
        ),
    )
    base = path.parent
    inventory = load_inventory(_resolve(base, root["inventory"].string(max_length=4096)))
    intent_source = _intent_source(root["intents"], base)
    intents_dir = Path(intent_source.location)
    journal_node = root.get("journal")
    journal_path = _resolve(
        base, journal_node.string(max_length=4096) if journal_node else "netpilot-journal.sqlite"
    )
    return ControllerSettings(
        inventory=inventory,
        intents_dir=intents_dir,
        journal_path=journal_path,
        loop=_loop_settings(root.get("loop")),
        apply=_apply_settings(root.get("apply")),
        service=_service_settings(root, base, journal_path),
        intent_source=intent_source,
        topology=_existing_file(root["topology"], base) if "topology" in root else None,
        decision=_decision_settings(root.get("policy")),
    )


def _decision_settings(node: Node | None) -> DecisionSettings:
    if node is None:
        return DecisionSettings()
    fields = node.mapping(allowed=("minConfidence", "actOnPrediction"))
    confidence = fields.get("minConfidence")
    act = fields.get("actOnPrediction")
    return DecisionSettings(
        min_confidence=confidence.number(minimum=0.0, maximum=1.0) if confidence else None,
        act_on_prediction=act.boolean() if act else None,
    )


def _existing_file(node: Node, base: Path) -> Path:
    path = _resolve(base, node.string(max_length=4096))
    if not path.is_file():
        raise node.error(f"{path}: no such file", expected="the network's topology YAML")
    return path


def _looks_like_git(location: str) -> bool:
    return (
        "://" in location
        or location.endswith(".git")
        or (":" in location and not location.startswith("/"))
    )


def _intent_source(node: Node, base: Path) -> IntentSourceSettings:
    """``intents: DIR`` or ``intents: {source: DIR|REPO|URL, branch:, subdir:, pollSeconds:}``."""
    if isinstance(node.raw, yaml.ScalarNode):
        fields = None
        location_node = node
    else:
        fields = node.mapping(required=("source",), allowed=("branch", "subdir", "pollSeconds"))
        location_node = fields["source"]
    text = location_node.string(max_length=4096)
    location = text if _looks_like_git(text) else str(_resolve(base, text))
    branch_node = fields.get("branch") if fields else None
    if not _looks_like_git(text) and not Path(location).is_dir():
        raise location_node.error(
            f"intent directory {location} does not exist",
            hint="create it, or point 'intents' at your intent files (a directory or a Git "
            "repository URL)",
        )
    subdir_node = fields.get("subdir") if fields else None
    return IntentSourceSettings(
        location=location,
        branch=branch_node.string() if branch_node else None,
        subdir=subdir_node.string(max_length=4096) if subdir_node else "",
        poll_interval=_seconds(
            fields.get("pollSeconds") if fields else None, timedelta(seconds=60), minimum=1
        ),
    )


def _loop_settings(node: Node | None) -> LoopSettings:
    loop = LoopSettings()
    if node is None:
        return loop
    fields = node.mapping(
        allowed=("intervalSeconds", "violationTicks", "slowIntervalSeconds", "senseDeadlineSeconds")
    )
    ticks = fields.get("violationTicks")
    interval = _seconds(fields.get("intervalSeconds"), loop.interval, minimum=0.1)
    slow_node = fields.get("slowIntervalSeconds")
    slow = _seconds(slow_node, interval, minimum=0.1) if slow_node else None
    if slow is not None and slow_node is not None and slow < interval:
        raise slow_node.error(
            f"the slow loop ({slow.total_seconds():g} s) cannot run more often than the fast "
            f"one ({interval.total_seconds():g} s)",
            hint="slowIntervalSeconds is the energy loop's cadence, e.g. 300",
        )
    deadline_node = fields.get("senseDeadlineSeconds")
    deadline = _seconds(deadline_node, interval, minimum=0.01) if deadline_node else None
    if deadline is not None and deadline_node is not None and deadline > interval:
        raise deadline_node.error(
            f"the sense deadline ({deadline.total_seconds():g} s) is longer than the tick "
            f"interval ({interval.total_seconds():g} s): one dead device would make every "
            "tick overrun",
            hint=f"leave it out for the default ({SENSE_DEADLINE_SHARE:g} x intervalSeconds), "
            "or set it to at most intervalSeconds",
        )
    return LoopSettings(
        interval=interval,
        violation_ticks=ticks.integer(minimum=1, maximum=100) if ticks else loop.violation_ticks,
        slow_interval=slow,
        sense_deadline=deadline,
    )


def _apply_settings(node: Node | None) -> ApplySettings:
    apply = ApplySettings()
    if node is None:
        return apply
    fields = node.mapping(
        allowed=(
            "confirmTimeoutSeconds",
            "verificationSeconds",
            "verificationIntervalSeconds",
            "requiredSamples",
        )
    )
    samples = fields.get("requiredSamples")
    confirm_node = fields.get("confirmTimeoutSeconds")
    apply = ApplySettings(
        # whole seconds: NETCONF's confirm-timeout is a uint32 of seconds (RFC 6241), and
        # the adapter refuses a fraction rather than round the device's safety net
        confirm_timeout=timedelta(seconds=confirm_node.integer(minimum=1, maximum=86_400))
        if confirm_node
        else apply.confirm_timeout,
        verification_window=_seconds(fields.get("verificationSeconds"), apply.verification_window),
        verification_interval=_seconds(
            fields.get("verificationIntervalSeconds"), apply.verification_interval, minimum=0.05
        ),
        required_samples=samples.integer(minimum=1, maximum=1000)
        if samples
        else apply.required_samples,
    )
    if apply.verification_window >= apply.confirm_timeout:
        raise fields.node.error(
            "verificationSeconds must be shorter than confirmTimeoutSeconds",
            hint="the device would revert the change before netpilot could confirm it",
        )
    needed = apply.verification_interval * apply.required_samples
    if needed > apply.verification_window:
        raise (samples or fields.node).error(
            f"requiredSamples x verificationIntervalSeconds ({apply.required_samples} x "
            f"{apply.verification_interval.total_seconds():g} s = "
            f"{needed.total_seconds():g} s) exceeds verificationSeconds "
            f"({apply.verification_window.total_seconds():g} s): no change could ever verify",
            hint="lower requiredSamples or verificationIntervalSeconds, "
            "or lengthen verificationSeconds",
        )
    return apply


def _address(node: Node, *, example: str = "0.0.0.0:162") -> tuple[str, int]:
    """``HOST:PORT`` with a numeric address (traps come from the devices' network)."""
    text = node.string()
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
        ipaddress.ip_address(host)
    except ValueError:
        raise node.error(
            f"{text!r} is not HOST:PORT with a numeric address", expected=f"e.g. {example}"
        ) from None
    if not sep or not 0 <= port <= 65535:
        raise node.error(f"{text!r} is not HOST:PORT", expected=f"e.g. {example}")
    return host, port


def _loopback_address(node: Node) -> tuple[str, int]:
    """``HOST:PORT`` with a loopback host: the API and the metrics never face a network."""
    host, port = _address(node, example="127.0.0.1:9464")
    if not ipaddress.ip_address(host).is_loopback:
        raise node.error(
            f"{host} is not a loopback address",
            hint="netpilot serves its API and metrics on loopback or a UNIX socket only; "
            "put a reverse proxy in front if they must be reached from elsewhere",
        )
    return host, port


def _service_settings(root: Mapping, base: Path, journal_path: Path) -> ServiceSettings:
    service = ServiceSettings(
        api_socket=journal_path.parent / "netpilot.sock",
        token_file=journal_path.parent / "api-token",
    )
    api_node = root.get("api")
    if api_node is not None:
        fields = api_node.mapping(allowed=("socket", "listen", "tokenFile"))
        socket_node, listen_node = fields.get("socket"), fields.get("listen")
        if socket_node is not None and listen_node is not None:
            raise api_node.error("give either 'socket' or 'listen', not both")
        token_node = fields.get("tokenFile")
        service = replace(
            service,
            api_socket=_resolve(base, socket_node.string(max_length=4096))
            if socket_node
            else None
            if listen_node
            else service.api_socket,
            api_listen=_loopback_address(listen_node) if listen_node else None,
            token_file=_resolve(base, token_node.string(max_length=4096))
            if token_node
            else service.token_file,
        )
    metrics_node = root.get("metrics")
    if metrics_node is not None:
        fields = metrics_node.mapping(required=("listen",))
        service = replace(service, metrics_listen=_loopback_address(fields["listen"]))
    models_node = root.get("models")
    if models_node is not None:
        fields = models_node.mapping(required=("store",))
        store = _resolve(base, fields["store"].string(max_length=4096))
        service = replace(service, model_store=store)
    traps_node = root.get("traps")
    if traps_node is not None:
        fields = traps_node.mapping(required=("listen",))
        service = replace(service, trap_listen=_address(fields["listen"]))
    logging_node = root.get("logging")
    if logging_node is not None:
        fields = logging_node.mapping(allowed=("format",))
        format_node = fields.get("format")
        if format_node is not None:
            service = replace(service, log_format=format_node.choice(("text", "json")))
    return service


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def load_inventory(path: Path) -> tuple[Device, ...]:
    """Load an inventory file.

    Raises:
        ConfigFileError: with file, line and field of the first problem.
    """
    try:
        return _load_inventory(path)
    except IntentValidationError as exc:
        raise _wrap(exc) from exc


def _load_inventory(path: Path) -> tuple[Device, ...]:
    root = _single_document(path).mapping(required=("devices",), allowed=("defaults",))
    defaults_node = root.get("defaults")
    defaults = defaults_node.mapping(allowed=("netconf", "snmp")) if defaults_node else None
    devices: list[Device] = []
    names: set[str] = set()
    for node in root["devices"].sequence():
        fields = node.mapping(required=("name", "address"), allowed=("labels", "netconf", "snmp"))
        name = fields["name"].string(max_length=63)
        if name in names:
            raise fields["name"].error(f"duplicate device name {name!r}")
        names.add(name)
        labels_node = fields.get("labels")
        devices.append(
            Device(
                name=name,
                address=fields["address"].string(),
                labels=labels_node.string_map() if labels_node else {},
                netconf=_netconf(path.parent, defaults, fields),
                snmp=_snmp(path.parent, defaults, fields),
            )
        )
    return tuple(devices)


def _layered(defaults: Mapping | None, fields: Mapping, key: str) -> dict[str, Node]:
    """Per-device protocol settings over the inventory defaults, key by key."""
    merged: dict[str, Node] = {}
    for layer in (defaults, fields):
        node = layer.get(key) if layer else None
        if node is not None:
            for sub_key, (_, value) in node.mapping().entries.items():
                merged[sub_key] = value
    return merged


_CREDENTIAL_HINT = (
    "secrets never go in this file: reference one with {env: VAR} (an environment variable) "
    "or {file: PATH} (an owner-only file; relative to this file)"
)


def _credential(node: Node, base: Path) -> CredentialRef:
    """A credential reference; ``file`` paths are resolved against ``base``.

    An inline value is refused without repeating it: the error text reaches logs and
    terminals, and the value is most likely the secret itself.
    """
    if not isinstance(node.raw, yaml.MappingNode):
        raise node.error(
            "a credential must be a reference, not an inline value (the value is not shown)",
            expected="{env: VAR} or {file: PATH}",
            hint=_CREDENTIAL_HINT,
        )
    ref = node.mapping(allowed=("env", "file"))
    env, file = ref.get("env"), ref.get("file")
    if (env is None) == (file is None):
        raise node.error(
            "a credential is given by reference: exactly one of 'env' or 'file'",
            hint=_CREDENTIAL_HINT,
        )
    if env is not None:
        return CredentialRef(env=env.string())
    assert file is not None
    return CredentialRef(file=str(_resolve(base, file.string(max_length=4096))))


_NETCONF_KEYS = (
    "port",
    "username",
    "password",
    "privateKey",
    "knownHosts",
    "trustOnFirstUse",
    "timeoutSeconds",
)


def _netconf(base: Path, defaults: Mapping | None, fields: Mapping) -> NetconfEndpoint | None:
    merged = _layered(defaults, fields, "netconf")
    if not merged:
        return None
    for key, node in merged.items():
        if key not in _NETCONF_KEYS:
            raise node.error(
                f"unknown field {key!r}", expected=f"one of: {', '.join(_NETCONF_KEYS)}"
            )
    if "username" not in merged:
        raise fields.node.error("netconf settings need a username")
    key_path = merged["privateKey"].string(max_length=4096) if "privateKey" in merged else ""
    known_hosts = merged["knownHosts"].string(max_length=4096) if "knownHosts" in merged else ""
    return NetconfEndpoint(
        port=merged["port"].integer(minimum=1, maximum=65535) if "port" in merged else 830,
        username=merged["username"].string(),
        password=_credential(merged["password"], base) if "password" in merged else None,
        private_key=str(_resolve(base, key_path)) if key_path else "",
        known_hosts=str(_resolve(base, known_hosts)) if known_hosts else "",
        trust_on_first_use=merged["trustOnFirstUse"].boolean()
        if "trustOnFirstUse" in merged
        else False,
        timeout_seconds=merged["timeoutSeconds"].number(minimum=0.1, maximum=600)
        if "timeoutSeconds" in merged
        else 10.0,
    )


_SNMP_KEYS = ("port", "community", "v3", "timeoutSeconds", "retries")
_SNMP_V3_KEYS = ("user", "authKey", "privKey", "authProtocol", "privProtocol")


def _snmp_v3(node: Node, base: Path) -> SnmpV3Credentials:
    """``v3: {user, authKey: REF, privKey: REF, authProtocol: sha, privProtocol: aes128}``."""
    fields = node.mapping(required=("user", "authKey"), allowed=_SNMP_V3_KEYS)
    auth = fields.get("authProtocol")
    priv = fields.get("privProtocol")
    return SnmpV3Credentials(
        user=fields["user"].string(max_length=32),  # RFC 3414: SnmpAdminString (1..32)
        auth_key=_credential(fields["authKey"], base),
        priv_key=_credential(fields["privKey"], base) if "privKey" in fields else None,
        auth_protocol=auth.choice(tuple(p.value for p in SnmpAuthProtocol)) if auth else "sha",
        priv_protocol=priv.choice(tuple(p.value for p in SnmpPrivProtocol)) if priv else "aes128",
    )


def _snmp(base: Path, defaults: Mapping | None, fields: Mapping) -> SnmpEndpoint | None:
    merged = _layered(defaults, fields, "snmp")
    if not merged:
        return None
    for key, node in merged.items():
        if key not in _SNMP_KEYS:
            raise node.error(f"unknown field {key!r}", expected=f"one of: {', '.join(_SNMP_KEYS)}")
    if "community" not in merged and "v3" not in merged:
        raise (fields.get("snmp") or fields.node).error(
            "snmp settings need credentials: 'v3' (user and keys, by reference) or a "
            "'community' (by reference)",
            hint="production inventories use v3 with authKey and privKey (authPriv)",
        )
    return SnmpEndpoint(
        port=merged["port"].integer(minimum=1, maximum=65535) if "port" in merged else 161,
        community=_credential(merged["community"], base) if "community" in merged else None,
        v3=_snmp_v3(merged["v3"], base) if "v3" in merged else None,
        timeout_seconds=merged["timeoutSeconds"].number(minimum=0.05, maximum=60)
        if "timeoutSeconds" in merged
        else 2.0,
        retries=merged["retries"].integer(minimum=0, maximum=10) if "retries" in merged else 1,
    )
