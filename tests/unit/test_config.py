"""Controller config and inventory files: defaults, references and located errors."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from controller.config import load_inventory, load_settings
from controller.errors import ConfigFileError
from controller.model import CredentialRef

INVENTORY = """\
defaults:
  netconf: {port: 830, username: netpilot, password: {env: NP_PASSWORD}, knownHosts: kh}
  snmp: {community: {file: /etc/netpilot/community}}
devices:
  - name: r1
    address: 192.0.2.1
    labels: {site: west}
    netconf: {port: 2830}
  - name: r2
    address: 192.0.2.2
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_inventory_layers_device_settings_over_defaults(tmp_path):
    r1, r2 = load_inventory(write(tmp_path, "inventory.yaml", INVENTORY))
    assert r1.netconf is not None and r2.netconf is not None and r1.snmp is not None
    assert (r1.netconf.port, r2.netconf.port) == (2830, 830)
    assert r1.netconf.password == CredentialRef(env="NP_PASSWORD")
    assert r1.netconf.known_hosts == str(tmp_path / "kh")  # relative to the inventory file
    assert r1.snmp.port == 161
    assert r1.snmp.community == CredentialRef(file="/etc/netpilot/community")
    assert r1.labels == {"site": "west"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            INVENTORY.replace("  - name: r2", "  - name: r1"),
            9,
            "duplicate device name",
            id="duplicate",
        ),
        pytest.param(
            INVENTORY.replace("password: {env: NP_PASSWORD}", "password: hunter2"),
            2,
            "{env: VAR} or {file: PATH}",
            id="secret-inline",
        ),
        pytest.param(
            INVENTORY.replace("{env: NP_PASSWORD}", "{env: A, file: b}"),
            2,
            "exactly one of",
            id="two-sources",
        ),
        pytest.param(
            INVENTORY.replace("port: 2830", "port: 70000"), 8, "at most 65535", id="port-range"
        ),
        pytest.param(
            INVENTORY.replace("labels: {site: west}", "lables: {site: west}"),
            7,
            "unknown field 'lables'",
            id="typo",
        ),
    ],
)
def test_inventory_errors_name_file_line_and_field(tmp_path, text, line, message):
    path = write(tmp_path, "inventory.yaml", text)
    with pytest.raises(ConfigFileError) as caught:
        load_inventory(path)
    assert f"{path}:{line}" in str(caught.value)
    assert message in str(caught.value)
    assert caught.value.line == line
    assert "hunter2" not in str(caught.value)  # an inline secret is never echoed back


@pytest.mark.parametrize(
    ("inline", "line", "secret"),
    [
        pytest.param("password: {env: NP_PASSWORD}", "password: hunter2", "hunter2", id="password"),
        pytest.param(
            "community: {file: /etc/netpilot/community}",
            "community: s3cret",
            "s3cret",
            id="community",
        ),
        pytest.param(
            "password: {env: NP_PASSWORD}", "password: [hunter2]", "hunter2", id="password-list"
        ),
    ],
)
def test_inline_secret_is_refused_without_echoing_it(tmp_path, inline, line, secret):
    path = write(tmp_path, "inventory.yaml", INVENTORY.replace(inline, line))
    with pytest.raises(ConfigFileError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert secret not in message
    assert "{env: VAR} or {file: PATH}" in message
    assert f"{path}:" in message and "inline value" in message


def test_credential_files_resolve_relative_to_the_inventory(tmp_path):
    inventory_dir = tmp_path / "site"
    inventory_dir.mkdir()
    text = INVENTORY.replace("{file: /etc/netpilot/community}", "{file: secrets/community}")
    (r1, _) = load_inventory(write(inventory_dir, "inventory.yaml", text))
    assert r1.snmp is not None
    assert r1.snmp.community == CredentialRef(file=str(inventory_dir / "secrets" / "community"))


def test_settings_resolve_paths_and_durations(tmp_path):
    write(tmp_path, "inventory.yaml", INVENTORY)
    (tmp_path / "intents").mkdir()
    config = write(
        tmp_path,
        "netpilot.yaml",
        "inventory: inventory.yaml\nintents: intents\njournal: state/j.sqlite\n"
        "loop: {intervalSeconds: 2, violationTicks: 3}\n"
        "apply: {confirmTimeoutSeconds: 60, verificationSeconds: 8, requiredSamples: 4}\n",
    )
    settings = load_settings(config)
    assert [d.name for d in settings.inventory] == ["r1", "r2"]
    assert settings.intents_dir == tmp_path / "intents"
    assert settings.journal_path == tmp_path / "state" / "j.sqlite"
    assert settings.loop.interval == timedelta(seconds=2) and settings.loop.violation_ticks == 3
    assert settings.apply.confirm_timeout == timedelta(seconds=60)
    assert settings.apply.required_samples == 4


def test_verification_longer_than_confirm_timeout_is_refused(tmp_path):
    write(tmp_path, "inventory.yaml", INVENTORY)
    (tmp_path / "intents").mkdir()
    config = write(
        tmp_path,
        "netpilot.yaml",
        "inventory: inventory.yaml\nintents: intents\n"
        "apply: {confirmTimeoutSeconds: 10, verificationSeconds: 30}\n",
    )
    with pytest.raises(ConfigFileError, match="shorter than confirmTimeoutSeconds"):
        load_settings(config)


def settings_with_apply(tmp_path: Path, apply: str) -> Path:
    write(tmp_path, "inventory.yaml", INVENTORY)
    (tmp_path / "intents").mkdir()
    return write(
        tmp_path, "netpilot.yaml", f"inventory: inventory.yaml\nintents: intents\napply:\n{apply}"
    )


def test_confirm_timeout_must_be_whole_seconds(tmp_path):
    config = settings_with_apply(tmp_path, "  confirmTimeoutSeconds: 60.5\n")
    with pytest.raises(ConfigFileError) as caught:
        load_settings(config)
    assert f"{config}:4" in str(caught.value) and "must be an integer" in str(caught.value)


def test_samples_that_cannot_fit_the_verification_window_are_refused(tmp_path):
    config = settings_with_apply(
        tmp_path,
        "  confirmTimeoutSeconds: 60\n  verificationSeconds: 5\n"
        "  verificationIntervalSeconds: 2\n  requiredSamples: 3\n",
    )
    with pytest.raises(ConfigFileError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert f"{config}:7" in message  # the requiredSamples line
    assert "exceeds verificationSeconds" in message and "lower requiredSamples" in message


def test_samples_that_just_fit_the_verification_window_are_accepted(tmp_path):
    config = settings_with_apply(
        tmp_path,
        "  verificationSeconds: 6\n  verificationIntervalSeconds: 2\n  requiredSamples: 3\n",
    )
    assert load_settings(config).apply.required_samples == 3


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_missing_intent_directory_is_refused_with_its_line(tmp_path):
    write(tmp_path, "inventory.yaml", INVENTORY)
    config = write(tmp_path, "netpilot.yaml", "inventory: inventory.yaml\nintents: nowhere\n")
    with pytest.raises(ConfigFileError) as caught:
        load_settings(config)
    assert f"{config}:2" in str(caught.value) and "does not exist" in str(caught.value)


def test_unknown_field_gets_a_did_you_mean(tmp_path):
    write(tmp_path, "inventory.yaml", INVENTORY)
    (tmp_path / "intents").mkdir()
    config = write(
        tmp_path,
        "netpilot.yaml",
        "inventory: inventory.yaml\nintents: intents\nloop: {intervalSecond: 2}\n",
    )
    with pytest.raises(ConfigFileError, match="did you mean 'intervalSeconds'"):
        load_settings(config)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        pytest.param("api: {listen: 0.0.0.0:7801}", "not a loopback address", id="api-wildcard"),
        pytest.param("metrics: {listen: 192.0.2.1:9464}", "not a loopback address", id="metrics"),
        pytest.param("api: {listen: localhost:7801}", "numeric address", id="name"),
        pytest.param("api: {socket: a.sock, listen: 127.0.0.1:1}", "not both", id="both"),
    ],
)
def test_api_and_metrics_listen_on_loopback_only(tmp_path, section, message):
    write(tmp_path, "inventory.yaml", INVENTORY)
    (tmp_path / "intents").mkdir()
    config = write(
        tmp_path, "netpilot.yaml", f"inventory: inventory.yaml\nintents: intents\n{section}\n"
    )
    with pytest.raises(ConfigFileError, match=message) as caught:
        load_settings(config)
    assert f"{config}:3" in str(caught.value)


def test_service_defaults_put_the_api_socket_next_to_the_journal(tmp_path):
    write(tmp_path, "inventory.yaml", INVENTORY)
    (tmp_path / "intents").mkdir()
    config = write(
        tmp_path,
        "netpilot.yaml",
        "inventory: inventory.yaml\nintents: intents\njournal: state/j.sqlite\n"
        "metrics: {listen: '[::1]:9464'}\nlogging: {format: json}\n",
    )
    service = load_settings(config).service
    assert service.api_socket == tmp_path / "state" / "netpilot.sock"
    assert service.token_file == tmp_path / "state" / "api-token"
    assert service.metrics_listen == ("::1", 9464)
    assert service.log_format == "json"


def test_the_documented_daemon_config_loads_with_its_trap_listener(tmp_path):

    from controller.config import load_settings

    docs = Path(__file__).resolve().parents[2] / "docs" / "examples"
    text = (docs / "netpilot.yaml").read_text()
    (tmp_path / "intents").mkdir()
    shutil.copy(docs / "inventory.yaml", tmp_path / "inventory.yaml")
    text = text.replace("/etc/netpilot/inventory.yaml", str(tmp_path / "inventory.yaml"))
    topology = Path(__file__).resolve().parents[2] / "lab" / "topologies" / "metro.yaml"
    text = text.replace("/etc/netpilot/topology.yaml", str(topology))
    text = text.replace("https://git.example.org/noc/intents.git", str(tmp_path / "intents"))
    text = text.replace("  branch: main\n", "").replace("/var/lib/netpilot", str(tmp_path))
    (tmp_path / "netpilot.yaml").write_text(text)
    settings = load_settings(tmp_path / "netpilot.yaml")
    assert settings.service.trap_listen == ("0.0.0.0", 162)  # noqa: S104 - parsed, not bound
    assert settings.service.metrics_listen == ("127.0.0.1", 9464)
    assert settings.topology == topology


def test_a_trap_listener_needs_a_numeric_address(tmp_path):
    from controller.config import load_settings

    (tmp_path / "intents").mkdir()
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    (tmp_path / "netpilot.yaml").write_text(
        "inventory: inventory.yaml\nintents: intents\ntraps:\n  listen: traps.example:162\n"
    )
    with pytest.raises(ConfigFileError) as raised:
        load_settings(tmp_path / "netpilot.yaml")
    assert "netpilot.yaml:4" in str(raised.value) and "traps.listen" in str(raised.value)


def test_a_slow_loop_cadence_is_read_and_cannot_be_faster_than_the_fast_one(tmp_path):
    (tmp_path / "intents").mkdir()
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    config = tmp_path / "netpilot.yaml"
    head = "inventory: inventory.yaml\nintents: intents\nloop:\n  intervalSeconds: 5\n"
    config.write_text(head + "  slowIntervalSeconds: 300\n")
    assert load_settings(config).loop.slow_interval == timedelta(seconds=300)
    config.write_text(head)
    assert load_settings(config).loop.slow_interval is None
    config.write_text(head + "  slowIntervalSeconds: 2\n")
    with pytest.raises(ConfigFileError) as raised:
        load_settings(config)
    assert "netpilot.yaml:5" in str(raised.value) and "slowIntervalSeconds" in str(raised.value)


def test_a_topology_file_gives_the_controller_its_what_if_twin(tmp_path):
    from controller.app import load_twin
    from lab.topology import DEFAULT_TOPOLOGY_PATH

    (tmp_path / "intents").mkdir()
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    config = tmp_path / "netpilot.yaml"
    head = "inventory: inventory.yaml\nintents: intents\n"
    config.write_text(head + f"topology: {DEFAULT_TOPOLOGY_PATH}\n")
    settings = load_settings(config)
    assert settings.topology == DEFAULT_TOPOLOGY_PATH
    assert set(load_twin(DEFAULT_TOPOLOGY_PATH).model.device_names) == {"r1", "r2", "r3", "r4"}

    config.write_text(head + "topology: missing.yaml\n")
    with pytest.raises(ConfigFileError) as raised:
        load_settings(config)
    assert "netpilot.yaml:3" in str(raised.value) and "no such file" in str(raised.value)

    broken = tmp_path / "broken.yaml"
    broken.write_text("devices: [\n")
    with pytest.raises(ConfigFileError) as invalid:
        load_twin(broken)
    assert "broken.yaml" in str(invalid.value) and "not a valid topology" in str(invalid.value)
