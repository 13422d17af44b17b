"""``netpilot bench all``: the report block is replaced, the rest of the page is kept."""

from __future__ import annotations

from pathlib import Path

from bench import all as bench_all
from bench.reaction import access_uplinks

MACHINE = {"cpus": 2, "cpu": "test cpu", "ram_gib": 1.0, "os": "Linux", "python": "3.11"}


def _report(p95: float) -> dict[str, object]:
    entry = {
        "command": "netpilot bench decide",
        "seconds": 1.0,
        "exit_code": 0,
        "ok": True,
        "result": {"devices": 1000, "intents": 3, "decide_ms_p50": 5.0, "decide_ms_p95": p95},
    }
    failed = {"command": "netpilot bench poll", "seconds": 2.0, "ok": False, "error": "no snmpd"}
    runs = {"decide": entry, "poll": failed}
    return {
        "machine": MACHINE,
        "date": "2026-11-28",
        "quick": False,
        "runs": runs,
        "rows": [bench_all.row(name, e) for name, e in runs.items()],
    }


def test_the_generated_block_replaces_itself_and_keeps_the_rest_of_the_page(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "benchmarks.md").write_text("# Benchmarks\n\nintro text\n\n## Method\nkept\n")

    bench_all.write_report(docs, _report(p95=7.0))
    first = (docs / "benchmarks.md").read_text()
    bench_all.write_report(docs, _report(p95=250.0))
    second = (docs / "benchmarks.md").read_text()

    assert first.count(bench_all.BEGIN) == 1 and second.count(bench_all.BEGIN) == 1
    assert "intro text" in second and "## Method\nkept" in second
    assert "p95 7.0 ms" in first and "| yes |" in first
    assert "p95 250.0 ms" in second and "p95 7.0 ms" not in second and "| **no** |" in second
    assert "FAILED: no snmpd" in second  # a failed run is a row, not a hole
    assert (docs / "benchmarks" / "results" / "decide.json").exists()

    # a later partial run (``--only intents``) adds its row and keeps the others
    entry = {
        "command": "netpilot bench intents",
        "seconds": 1.0,
        "ok": True,
        "result": {"intents": 10, "admission_ms_median": 3.0, "per_intent_us": 300.0},
    }
    partial = {**_report(p95=250.0), "runs": {"intents": entry}}
    bench_all.write_report(docs, partial)
    third = (docs / "benchmarks.md").read_text()
    assert "| decide |" in third and "| intents |" in third and "| poll |" in third
    assert third.index("| poll |") < third.index("| decide |") < third.index("| intents |")


def test_a_result_the_summary_cannot_read_still_makes_a_row():
    entry = {"command": "netpilot bench day", "seconds": 1.0, "ok": True, "result": {"runs": 3}}
    row = bench_all.row("day", entry)
    assert row["result"] == "-" and row["met"] is None
    broken = bench_all.row("soak", {**entry, "result": {"start": 1}})  # start is no mapping
    assert "no summary" in str(broken["result"]) and broken["command"] == "netpilot bench day"


def test_soak_is_met_only_without_growth():
    start = {"rss_mb": 100.0, "tick_ms_p50": 200.0, "lag_ms_p95": 1.0}
    grown = {"rss_mb": 120.0, "tick_ms_p50": 210.0, "lag_ms_p95": 1.0}
    flat = {"rss_mb": 101.0, "tick_ms_p50": 210.0, "lag_ms_p95": 1.0}
    base = {"devices": 10, "minutes": 1}
    assert (
        bench_all._soak({**base, "start": start, "end": grown, "rss_growth_mb": 20.0})[3] is False
    )
    assert bench_all._soak({**base, "start": start, "end": flat, "rss_growth_mb": 1.0})[3] is True


def test_the_reaction_trials_use_primary_uplinks_of_distinct_access_nodes():
    uplinks = access_uplinks(100)
    nodes = [node for node, _ in uplinks]
    assert len(nodes) == len(set(nodes)) >= 20
    for node, link in uplinks:
        assert link.startswith(f"{node}-agg-") and not link.endswith("-b")
