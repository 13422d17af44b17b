"""The ``netpilot`` command line, in process: exit codes, usage errors, JSON on failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import controller.demo
from analytics.watch import Anomaly, KpiKey
from controller import cli
from controller.journal import Journal
from controller.model import ChangeResult, ChangeSet, ChangeStatus, ConfigEdit, EditOp, Plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "intents"
T0 = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("group", "subcommand"),
    [("lab", "LAB_COMMAND"), ("intents", "INTENTS_COMMAND"), ("changes", "CHANGES_COMMAND")],
)
def test_a_group_without_its_subcommand_prints_its_help_and_exits_2(capsys, group, subcommand):
    code, out, _ = run(capsys, group)
    assert code == cli.EXIT_USAGE
    assert f"usage: netpilot {group}" in out and subcommand in out


@pytest.mark.parametrize(
    "option",
    [
        ["--interval", "-1"],
        ["--interval", "0"],
        ["--speed", "0"],
        ["--duration", "-5"],
        ["--duration", "nan"],
        ["--speed", "inf"],
        ["--interval", "soon"],
    ],
)
def test_demo_numbers_are_checked_before_anything_starts(capsys, option):
    code, out, err = run(capsys, "demo", "--headless", *option)
    assert code == cli.EXIT_USAGE
    assert f"argument {option[0]}" in err and "Traceback" not in err
    assert out == ""


def test_run_and_lab_numbers_are_checked_too(capsys):
    assert run(capsys, "run", "--config", "x.yaml", "--duration", "0")[0] == cli.EXIT_USAGE
    assert run(capsys, "lab", "up", "--speed", "-2")[0] == cli.EXIT_USAGE
    assert run(capsys, "changes", "list", "--journal", "j", "--limit", "0")[0] == cli.EXIT_USAGE


def test_a_usage_error_in_json_mode_ends_stdout_with_a_json_object(capsys):
    code, out, err = run(capsys, "demo", "--interval", "-1", "--output", "json")
    assert code == cli.EXIT_USAGE
    assert "must be greater than 0" in err
    error = last_json(out)["error"]
    assert isinstance(error, dict) and error["type"] == "UsageError"
    assert "--interval" in str(error["message"])


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["intents", "validate", "x", "-v"], True),
        (["-v", "intents", "validate", "x"], True),
        (["demo", "--verbose"], True),
        (["changes", "-v", "list", "--journal", "j"], True),
        (["intents", "validate", "x"], False),
    ],
)
def test_verbose_works_before_and_after_the_subcommand(argv, verbose):
    args = cli._parser().parse_args(argv)
    assert getattr(args, "verbose", False) is verbose


def test_demo_with_a_missing_intent_directory_fails_cleanly(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, out, err = run(
        capsys, "demo", "--headless", "--intents", str(missing), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE
    assert "Traceback" not in err
    assert f"netpilot: error: {missing}: intent directory not found" in err
    error = last_json(out)["error"]
    assert isinstance(error, dict) and error["type"] == "ConfigFileError"


def test_lab_up_refusal_in_json_mode_ends_stdout_with_a_json_object(capsys):
    code, out, err = run(capsys, "lab", "up", "--devices", "5", "--output", "json")
    assert code == cli.EXIT_USAGE
    assert "at least 8 devices" in err
    assert "at least 8 devices" in str(last_json(out)["error"])


def test_validate_with_a_missing_path_in_json_mode(capsys, tmp_path):
    code, out, err = run(capsys, "intents", "validate", str(tmp_path / "nope"), "--output", "json")
    assert code == cli.EXIT_USAGE
    assert "no such file or directory" in err
    assert "no such file or directory" in str(last_json(out)["error"])


def test_validate_shipped_examples(capsys):
    code, out, _ = run(capsys, "intents", "validate", str(EXAMPLES), "--output", "json")
    assert code == cli.EXIT_OK
    assert last_json(out)["valid"] is True


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    change = ChangeSet.make(
        "video",
        "r2",
        (ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "priority"), None, "1"),),
        "raise video priority",
    )
    journal.begin_change("txn-1", Plan.single(change), at=T0, explanation={})
    journal.close()
    return path


def test_changes_list_and_show_read_without_writing(capsys, journal_file):
    before = journal_file.read_bytes()
    code, out, _ = run(
        capsys, "changes", "list", "--journal", str(journal_file), "--output", "json"
    )
    assert code == cli.EXIT_OK
    assert [c["txn"] for c in last_json(out)["changes"]] == ["txn-1"]
    code, out, _ = run(capsys, "changes", "show", "txn-1", "--journal", str(journal_file))
    assert code == cli.EXIT_OK and "raise video priority" in out
    # the diff; an absent leaf spelt as the console spells it
    assert "    r2: qos/class[name=video]/priority: (unset) -> 1" in out.splitlines()
    assert "timeline:" in out
    assert journal_file.read_bytes() == before


def test_changes_show_spells_values_as_the_console_does_and_json_keeps_them(capsys, tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    change = ChangeSet.make(
        "video",
        "r2",
        (
            ConfigEdit(EditOp.REMOVE, ("qos", "class[name=video]", "priority"), "6", None),
            ConfigEdit(EditOp.ADD, ("qos", "class[name=video]", "shaper"), None, "100"),
        ),
        "restore video priority",
    )
    explanation = {
        "target": "latencyMs lessThan 30",
        "observed": {"latencyMs": 41.27},
        "predicted": {"latencyMs": 9.1412, "stallRatio": 0.0113},
        "confidence": 0.9312,
    }
    journal.begin_change("txn-9", Plan.single(change), at=T0, explanation=explanation)
    journal.event(
        "step",
        at=T0,
        txn="txn-9",
        step="candidate-edited",
        detail={"edits": [e.describe() for e in change.edits]},
    )
    journal.close()
    code, out, _ = run(capsys, "changes", "show", "txn-9", "--journal", str(path))
    lines = out.splitlines()
    assert code == cli.EXIT_OK
    assert "    r2: qos/class[name=video]/priority: 6 -> (unset)" in lines
    assert "    r2: qos/class[name=video]/shaper: (unset) -> 100" in lines
    assert "    predicted: latencyMs 9.14, stallRatio 0.0113" in lines  # not JSON
    assert "    observed: latencyMs 41.3" in lines
    assert "    confidence: 0.9312" in lines
    assert "    target: latencyMs lessThan 30" in lines
    shown = lines[lines.index("  diff:") : lines.index("  timeline:")]
    assert not any(" - -> " in line or " -> -" in line or "{" in line for line in shown)
    # the timeline's edits too (journaled as describe() wrote them, with "-")
    (edited,) = [line for line in lines if "candidate-edited" in line]
    assert "priority: 6 -> (unset)" in edited  # the line is cut after 60 characters
    code, out, _ = run(
        capsys, "changes", "show", "txn-9", "--journal", str(path), "--output", "json"
    )
    change_json = last_json(out)["change"]
    assert [(e["old"], e["new"]) for e in change_json["plan"]["edits"]] == [
        ("6", None),
        (None, "100"),
    ]
    assert change_json["plan"]["explanation"]["predicted"] == explanation["predicted"]


def test_the_cli_and_the_console_share_one_value_formatter():
    from controller import formatting
    from tui import explain

    assert explain.UNSET == formatting.UNSET == "(unset)"
    assert explain.edit_text is formatting.edit_text
    assert explain.value_text is formatting.value_text
    assert explain.unset_text is formatting.unset_text
    assert vars(cli)["edit_text"] is formatting.edit_text
    assert vars(cli)["number_text"] is formatting.number_text


def test_a_change_an_operator_rolled_back_is_listed_as_undone(capsys, journal_file):
    journal = Journal(journal_file)
    journal.finish_change(
        "txn-1", ChangeResult("txn-1", "video", "r2", ChangeStatus.CONFIRMED, "ok", T0, T0)
    )
    undo = ChangeSet.make(
        "video",
        "r2",
        (ConfigEdit(EditOp.REMOVE, ("qos", "class[name=video]", "priority"), "1", None),),
        "roll back txn-1 on r2",
    )
    journal.begin_change("txn-2", Plan.single(undo), at=T0, explanation={"rollback_of": "txn-1"})
    journal.finish_change(
        "txn-2", ChangeResult("txn-2", "video", "r2", ChangeStatus.CONFIRMED, "ok", T0, T0)
    )
    journal.close()
    code, out, _ = run(capsys, "changes", "list", "--journal", str(journal_file))
    assert code == cli.EXIT_OK
    (first,) = [line for line in out.splitlines() if "  txn-1  " in line]
    assert " undone " in first and "confirmed" not in first
    code, out, _ = run(
        capsys, "changes", "list", "--journal", str(journal_file), "--output", "json"
    )
    by_txn = {c["txn"]: c for c in last_json(out)["changes"]}
    assert by_txn["txn-1"]["rolled_back_by"] == "txn-2" and by_txn["txn-2"]["rolled_back_by"] == ""
    code, out, _ = run(capsys, "changes", "show", "txn-1", "--journal", str(journal_file))
    assert "  undone: rolled back by txn-2" in out.splitlines()[1]


def test_changes_show_of_an_unknown_transaction_fails_with_json(capsys, journal_file):
    code, out, err = run(
        capsys, "changes", "show", "nope", "--journal", str(journal_file), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE
    assert "no change 'nope'" in err and "no change 'nope'" in str(last_json(out)["error"])


def test_changes_on_a_file_that_is_not_a_journal_fail_cleanly_and_leave_it(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"shopping list: milk, eggs\n" * 300)
    before = notes.read_bytes()
    code, out, err = run(capsys, "changes", "list", "--journal", str(notes), "--output", "json")
    assert code == cli.EXIT_FAILURE
    assert "Traceback" not in err and "not a netpilot journal" in err
    error = last_json(out)["error"]
    assert isinstance(error, dict) and error["type"] == "ConfigFileError"
    assert notes.read_bytes() == before


def test_changes_on_a_missing_journal_fail_with_json(capsys, tmp_path):
    code, out, err = run(
        capsys, "changes", "list", "--journal", str(tmp_path / "none.sqlite"), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE
    assert "no such journal" in err and "no such journal" in str(last_json(out)["error"])
    assert not (tmp_path / "none.sqlite").exists()


SUMMARY = {
    "intents": [
        {
            "name": "video-west-east",
            "status": "fulfilled",
            "targets": [{"name": "latencyMs", "observed": 12.3456}],
        }
    ],
    "changes": {"confirmed": 1, "rolled_back": 0},
    "ticks": 14,
    "anomalies": 2,
    "journal": "/tmp/j.sqlite",
}


def test_the_summary_printer_is_shared_and_readable(capsys):
    # one printer for the demo and the CLI, not two that drift apart
    assert vars(controller.demo)["print_summary"] is cli.print_summary
    cli.print_summary(SUMMARY, "text")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "intent video-west-east: fulfilled (latencyMs=12.3)",
        "changes: confirmed 1, rolled back 0; ticks: 14; anomalies: 2",
        "journal: /tmp/j.sqlite  (netpilot changes list --journal /tmp/j.sqlite)",
    ]
    cli.print_summary(SUMMARY, "json")
    assert json.loads(capsys.readouterr().out) == SUMMARY


def test_tui_connect_to_a_socket_that_does_not_exist_says_so(capsys, tmp_path):
    code = cli.main(["tui", "--connect", f"unix:{tmp_path}/netpilot.sock", "--output", "json"])
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    assert code == cli.EXIT_FAILURE
    assert "no daemon listens there" in error["message"]
    assert (error["type"], error["retryable"]) == ("ConnectError", True)


def test_every_command_has_a_description_in_its_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["tui", "--help"])
    assert "the operator console" in capsys.readouterr().out


def test_a_reader_that_goes_away_ends_the_command_quietly():
    import os
    import subprocess
    import sys

    # `netpilot ... | head -1`: the pipe's reader is gone before netpilot writes
    read, write = os.pipe()
    os.close(read)
    netpilot = Path(sys.executable).parent / "netpilot"
    try:
        process = subprocess.run(
            [str(netpilot), "intents", "validate", str(EXAMPLES)],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert process.returncode == cli.EXIT_FAILURE
    assert b"Traceback" not in process.stderr and b"BrokenPipe" not in process.stderr


def test_the_exit_summary_names_the_expectation_when_an_intent_has_several(capsys):
    def target(expectation: str, observed: float) -> dict[str, object]:
        return {"expectation": expectation, "name": "powerReductionRatio", "observed": observed}

    cli.print_summary(
        {
            "intents": [
                {
                    "name": "energy",
                    "status": "notFulfilled",
                    "targets": [target("west", 0.0894), target("east", 0.0)],
                },
                {"name": "video", "status": "fulfilled", "targets": [target("only", 0.0)]},
            ]
        },
        "text",
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "intent energy: notFulfilled "
        "(west: powerReductionRatio=0.0894, east: powerReductionRatio=0)"
    )
    assert lines[1] == "intent video: fulfilled (powerReductionRatio=0)"


def config_for(journal: Path, tmp_path: Path) -> Path:
    """A netpilot.yaml whose journal is ``journal`` (no device, no intent, no daemon)."""
    config = tmp_path / "netpilot.yaml"
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    (tmp_path / "intents").mkdir()
    config.write_text(f"inventory: inventory.yaml\nintents: intents\njournal: {journal}\n")
    return config


def test_changes_list_and_show_take_the_config_as_pending_does(capsys, journal_file, tmp_path):
    config = config_for(journal_file, tmp_path)
    code, out, _ = run(capsys, "changes", "list", "--config", str(config), "--output", "json")
    assert code == cli.EXIT_OK
    assert [c["txn"] for c in last_json(out)["changes"]] == ["txn-1"]
    code, out, _ = run(capsys, "changes", "show", "txn-1", "--config", str(config))
    assert code == cli.EXIT_OK and "raise video priority" in out
    # one source or the other, not both
    code, _, err = run(
        capsys, "changes", "list", "--config", str(config), "--journal", str(journal_file)
    )
    assert code == cli.EXIT_USAGE and "not allowed with" in err


def test_changes_quarantined_and_release_work_from_the_journal_without_a_daemon(
    capsys, journal_file, tmp_path
):
    path, txn = journal_file, "txn-1"
    journal = Journal(path)
    record = journal.change(txn)
    assert record is not None
    change_id = record.change_id  # what a quarantine holds; txn-1 is a transaction of it
    detail = {"change": change_id, "reason": "verification failed"}
    journal.event("quarantine", at=T0, intent="video", detail=detail)
    journal.close()
    config = config_for(path, tmp_path)
    code, out, _ = run(capsys, "changes", "quarantined", "--config", str(config))
    assert code == cli.EXIT_OK
    assert out.splitlines() == [f"{change_id}  video: verification failed"]
    # a transaction of the change names it too; no daemon runs: written to the journal
    code, out, err = run(
        capsys,
        "changes",
        "release",
        txn,
        "--config",
        str(config),
        "--reason",
        "r2 fixed",
        "--output",
        "json",
    )
    assert code == cli.EXIT_OK
    assert last_json(out) == {"released": {"change": change_id, "intents": ["video"]}}
    code, out, _ = run(capsys, "changes", "quarantined", "--journal", str(path), "--output", "json")
    assert last_json(out) == {"quarantined": []}
    code, out, _ = run(capsys, "changes", "quarantined", "--journal", str(path))
    assert out.splitlines() == ["nothing is quarantined: the loop may propose any change"]
    journal = Journal(path)
    try:
        (released,) = journal.events(kind="quarantine-released")
        assert (released.intent, released.detail["reason"]) == ("video", "r2 fixed")
    finally:
        journal.close()
    code, out, err = run(
        capsys, "changes", "release", change_id, "--config", str(config), "--reason", "again"
    )
    assert code == cli.EXIT_FAILURE and f"change {change_id}: not quarantined" in err
    # a release needs a reason (it is journaled)
    code, _, err = run(capsys, "changes", "release", change_id, "--config", str(config))
    assert code == cli.EXIT_USAGE and "--reason" in err
    code, _, err = run(
        capsys, "changes", "release", change_id, "--config", str(config), "--reason", " "
    )
    assert code == cli.EXIT_FAILURE and "a release needs a reason" in err


def test_intents_anomalies_lists_the_journals_newest_per_intent(capsys, tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    found = [
        Anomaly(KpiKey(intent, "latency", "latencyMs"), T0, value, 8.0, 4.5, 4.0, 150 + n)
        for n, (intent, value) in enumerate((("video", 16.0), ("voice", 30.0), ("video", 3.0)))
    ]
    for anomaly in found:
        journal.event("anomaly", at=T0, intent=anomaly.key.intent, detail=anomaly.as_dict())
    journal.close()
    code, out, _ = run(capsys, "intents", "anomalies", "video", "--journal", str(path))
    assert code == cli.EXIT_OK
    assert out.splitlines() == [
        f"{T0.isoformat()}  anomaly: latencyMs of video is 16 (was 8), surprise 4.5 decades",
        f"{T0.isoformat()}  anomaly: latencyMs of video is 3 (was 8), surprise 4.5 decades",
    ]
    code, out, _ = run(
        capsys, "intents", "anomalies", "--journal", str(path), "--limit", "1", "--output", "json"
    )
    assert last_json(out) == {"anomalies": [found[2].as_dict()]}
    code, out, _ = run(capsys, "intents", "anomalies", "energy", "--journal", str(path))
    assert out.splitlines() == [
        "no anomaly in the journal for energy (the watch reports after 100 samples of a KPI)"
    ]
    code, _, err = run(capsys, "intents", "anomalies", "--journal", str(tmp_path / "none"))
    assert code == cli.EXIT_FAILURE and "no such journal" in err
