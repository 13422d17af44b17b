"""``netpilot bench poll``'s pieces that can be checked without running it (it needs root
and a minute): the exporter configuration it writes, the goal and the text report."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.poll import EXPORTER, Measured, exporter_config, format_text, goal, unavailable
from tests.conftest import peer_missing


@dataclass(frozen=True)
class FakeAgent:
    """What exporter_config reads of an agent."""

    name: str
    community: str


@pytest.mark.interop
def test_exporter_accepts_the_generated_config(tmp_path: Path):
    binary = shutil.which(EXPORTER)
    if binary is None:
        peer_missing(f"{EXPORTER} not installed (apt-get install {EXPORTER})")
    config = tmp_path / "snmp.yml"
    config.write_text(exporter_config([FakeAgent("a0", "c0"), FakeAgent("a1", "c1")], 25))
    result = subprocess.run(  # noqa: S603 - the exporter's own config check
        [binary, f"--config.file={config}", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Configuration parsed successfully" in result.stderr


def test_goal_compares_walks_per_cpu_second():
    fast = Measured(walks=100, cpu_seconds=0.5, latencies=[0.01] * 100, varbinds_per_walk=900)
    slow = Measured(walks=100, cpu_seconds=1.0, latencies=[0.02] * 100, varbinds_per_walk=900)
    clients = {
        "netpilot": fast.as_dict(),
        "snmp_exporter": slow.as_dict(),
        "netpilot_poll_to_rates": slow.as_dict(),
        "snmp_exporter_poller_columns": fast.as_dict(),
    }
    assert goal(clients) == {
        "netpilot_vs_snmp_exporter": {"ratio": 2.0, "met": True},
        "netpilot_poll_to_rates_vs_snmp_exporter_poller_columns": {"ratio": 0.5, "met": False},
    }
    assert clients["netpilot"]["walks_per_cpu_second"] == 200.0
    assert clients["netpilot"]["p50_walk_ms"] == 10.0


def test_unavailable_exporter_is_reported_not_measured():
    missing = unavailable(f"{EXPORTER} not installed")
    measured = Measured(walks=8, cpu_seconds=0.04, latencies=[0.005] * 8, varbinds_per_walk=307)
    clients = {
        "netpilot": measured.as_dict(),
        "snmp_exporter": missing,
        "netpilot_poll_to_rates": measured.as_dict(),
        "snmp_exporter_poller_columns": missing,
    }
    result: dict[str, object] = {
        "agents": 8,
        "interfaces_per_agent": 51,
        "rounds": 1,
        "max_repetitions": 25,
        "clients": clients,
        "goal": goal(clients),
    }
    assert goal(clients)["netpilot_vs_snmp_exporter"] == {"ratio": None, "met": None}
    text = format_text(result)
    assert f"snmp_exporter                    unavailable: {EXPORTER} not installed" in text
    assert "200.0" in text  # netpilot's walks per CPU-second
