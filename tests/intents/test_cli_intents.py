"""``netpilot intents ...`` in process: exit codes 0/1/2, FILE:LINE in every error, JSON as
the last stdout line, and the store-backed commands over a Git repository on disk."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from controller import cli
from tests.intents.conftest import EXAMPLES, energy, qos
from tests.intents.gitrepo import GitRepo

INVENTORY = EXAMPLES / "inventory.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


def test_validate_the_shipped_examples(capsys):
    code, out, _ = run(capsys, "intents", "validate", EXAMPLES / "intents")
    assert code == cli.EXIT_OK and "1 intent(s) in 1 file(s): valid" in out
    code, out, _ = run(
        capsys,
        "intents",
        "validate",
        EXAMPLES / "intents",
        EXAMPLES / "intent-types",
        "--inventory",
        INVENTORY,
        "--output",
        "json",
    )
    data = last_json(out)
    assert code == cli.EXIT_OK and data["valid"] and data["referencesChecked"]
    assert {i["name"] for i in data["intents"]} == {
        "video-west-east",
        "night-energy-east",
        "video-experience-east",
    }


BROKEN_SET = {
    "syntax.yaml": "apiVersion: netpilot/v1\nkind: Intent\nmetadata:\n  name: a\n   bad: x\n",
    "wrong-type.yaml": qos("wrong-type").replace("priority: 100", "priority: high"),
    "unknown-field.yaml": qos("unknown-field").replace(
        "  priority: 100\n", "  priority: 100\n  colour: blue\n"
    ),
    "unknown-target.yaml": qos("unknown-target").replace("latencyMs", "latency"),
    "bad-unit.yaml": qos("bad-unit").replace("value: 30}", "value: 30, unit: s}"),
    "duplicate-a.yaml": qos("twin"),
    "duplicate-b.yaml": qos("twin"),
    "unknown-device.yaml": qos("unknown-device").replace("to: r4", "to: r9"),
}
EXPECTED = {
    "syntax.yaml": (5, "YAML syntax error"),
    "wrong-type.yaml": (5, "must be an integer"),
    "unknown-field.yaml": (6, "unknown field 'colour'"),
    "unknown-target.yaml": (11, "unknown value 'latency'"),
    "bad-unit.yaml": (11, "wrong unit 's' for latencyMs"),
    "duplicate-b.yaml": (1, "duplicate intent name 'twin'"),
    "unknown-device.yaml": (9, "unknown device 'r9'"),
}


@pytest.fixture
def broken_dir(tmp_path):
    directory = tmp_path / "broken"
    directory.mkdir()
    for name, text in BROKEN_SET.items():
        (directory / name).write_text(text)
    return directory


def test_validate_a_broken_set_names_file_and_line_for_every_error(capsys, broken_dir):
    code, out, _ = run(
        capsys, "intents", "validate", broken_dir, "--inventory", INVENTORY, "--output", "json"
    )
    assert code == cli.EXIT_FAILURE
    errors = last_json(out)["errors"]
    for name, (line, fragment) in EXPECTED.items():
        matching = [e for e in errors if e["file"].endswith(name) and fragment in e["message"]]
        assert matching, (name, errors)
        assert matching[0]["line"] == line and matching[0]["column"] >= 1
    assert last_json(out)["intents"] == []

    code, out, _ = run(capsys, "intents", "validate", broken_dir, "--inventory", INVENTORY)
    assert code == cli.EXIT_FAILURE
    for name, (line, fragment) in EXPECTED.items():
        assert any(
            f"{broken_dir / name}:{line}:" in row and fragment in row for row in out.splitlines()
        ), name


def test_validate_reports_the_shipped_conflict_with_its_resolution(capsys):
    conflicts = EXAMPLES / "conflicts"
    code, out, _ = run(capsys, "intents", "validate", conflicts, "--inventory", INVENTORY)
    assert code == cli.EXIT_OK
    assert "intentConflict video-sla / core-night-sleep" in out
    assert "resolution: video-sla wins (priority 100 > 30)" in out
    code, out, _ = run(capsys, "intents", "validate", conflicts, "--output", "json", "--strict")
    assert code == cli.EXIT_FAILURE  # strict: a resolved conflict still fails CI
    (conflict,) = last_json(out)["conflicts"]
    assert conflict["winner"] == "video-sla"
    assert conflict["conflictType"] == "intentConflict"


def test_unresolvable_conflict_fails_validation(capsys, tmp_path):
    (tmp_path / "a.yaml").write_text(qos("video", priority=70))
    (tmp_path / "b.yaml").write_text(qos("voice", priority=70, cls="voice"))
    code, out, _ = run(capsys, "intents", "validate", tmp_path)
    assert code == cli.EXIT_FAILURE and "unresolvable intentConflict" in out
    assert f"{tmp_path / 'b.yaml'}:7:" in out


def test_usage_errors_exit_2(capsys, tmp_path):
    code, out, err = run(capsys, "intents", "validate", tmp_path / "nope", "--output", "json")
    assert (
        code == cli.EXIT_USAGE and "no such file or directory" in last_json(out)["error"]["message"]
    )
    code, _, err = run(capsys, "intents", "get")
    assert code == cli.EXIT_USAGE and "pass --store FILE or --config" in err
    code, _, err = run(capsys, "intents", "get", "--store", tmp_path / "none.sqlite")
    assert code == cli.EXIT_USAGE and "no such intent store" in err
    code, _, err = run(capsys, "intents", "apply", tmp_path, "--store", tmp_path / "s.sqlite")
    assert code == cli.EXIT_USAGE and "apply needs an inventory" in err
    code, _, _ = run(capsys, "intents", "describe")
    assert code == cli.EXIT_USAGE


def test_apply_get_describe_diff_over_git(capsys, tmp_path):
    repo = GitRepo(tmp_path / "git")
    store = tmp_path / "state" / "intents.sqlite"
    common = ("--store", store, "--inventory", INVENTORY)
    good = repo.commit({"video.yaml": qos("video"), "sleep.yaml": energy("sleep")}, "first")

    code, out, _ = run(capsys, "intents", "apply", repo.url, *common, "--output", "json")
    admission = last_json(out)
    assert code == cli.EXIT_OK and admission["outcome"] == "admitted"
    assert admission["revision"]["id"] == good
    assert admission["revision"]["author"] == "Ana Operator <ana@example.org>"
    assert admission["conflicts"] and admission["conflicts"][0]["winner"] == "video"

    repo.commit({"video.yaml": qos("video").replace("latencyMs", "latncyMs")}, "typo")
    code, out, _ = run(capsys, "intents", "apply", repo.url, *common)
    assert code == cli.EXIT_FAILURE and "refused" in out and "video.yaml:11:" in out

    code, out, _ = run(capsys, "intents", "get", "--store", store)
    assert code == cli.EXIT_OK
    assert f"active revision: {good[:12]}" in out and "by Ana Operator" in out
    assert "refused: revision" in out and "unknown value 'latncyMs'" in out
    code, out, _ = run(capsys, "intents", "get", "--store", store, "--output", "json")
    data = last_json(out)
    assert data["active"]["revision"]["id"] == good
    assert {i["name"] for i in data["intents"]} == {"video", "sleep"}
    sleep = next(i for i in data["intents"] if i["name"] == "sleep")
    assert any("video wins" in n for n in sleep["notes"])
    assert data["lastRefusal"]["outcome"] == "refused"

    code, out, _ = run(capsys, "intents", "describe", "video", "--store", store)
    assert (
        code == cli.EXIT_OK
        and "kind: Intent" in out
        and f"introduced by revision {good[:12]}" in out
    )
    code, out, _ = run(capsys, "intents", "describe", "sleep", "--store", store, "--output", "json")
    described = last_json(out)
    assert described["intent"]["spec"]["priority"] == 40
    assert described["fulfilment"]["intentFulfilmentInfo"]["notFulfilledState"] == "acknowledged"
    assert described["enforced"]["spec"]["mode"] == "dry-run"
    code, out, err = run(capsys, "intents", "describe", "nope", "--store", store)
    assert code == cli.EXIT_FAILURE and "no intent 'nope'" in err

    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "video.yaml").write_text(qos("video", latency=25))
    code, out, _ = run(capsys, "intents", "diff", changed, "--store", store, "--output", "json")
    diff = last_json(out)["diff"]
    assert code == cli.EXIT_OK and diff["removed"] == ["sleep"]
    assert diff["changed"][0]["changes"][0]["new"] == 25


def test_apply_a_directory_twice_is_unchanged(capsys, tmp_path):
    directory = tmp_path / "intents"
    shutil.copytree(EXAMPLES / "intents", directory)
    store = tmp_path / "s.sqlite"
    args = ("intents", "apply", directory, "--store", store, "--inventory", INVENTORY)
    assert run(capsys, *args)[0] == cli.EXIT_OK
    code, out, _ = run(capsys, *args, "--output", "json")
    assert code == cli.EXIT_OK and last_json(out)["outcome"] == "unchanged"


def test_plan_offline_shows_validation_conflicts_and_diff(capsys, tmp_path):
    against = tmp_path / "main"
    against.mkdir()
    (against / "video.yaml").write_text((EXAMPLES / "conflicts" / "video-sla.yaml").read_text())
    code, out, _ = run(
        capsys,
        "intents",
        "plan",
        EXAMPLES / "conflicts",
        "--against",
        against,
        "--inventory",
        INVENTORY,
        "--output",
        "json",
    )
    report = last_json(out)
    assert code == cli.EXIT_OK and report["exitCode"] == 0
    assert report["diff"]["added"] == ["core-night-sleep"]
    assert report["conflicts"][0]["winner"] == "video-sla"
    assert report["plan"] is None and "no --config" in report["offlineReason"]
    code, out, _ = run(capsys, "intents", "plan", EXAMPLES / "conflicts", "--strict")
    assert code == cli.EXIT_FAILURE
    assert "conflict: " in out and "actions now: not computed" in out


def test_plan_of_an_invalid_set_fails(capsys, tmp_path):
    (tmp_path / "bad.yaml").write_text(qos("bad").replace("lessThan", "smallerThan"))
    code, out, _ = run(capsys, "intents", "plan", tmp_path, "--offline")
    assert code == cli.EXIT_FAILURE and "bad.yaml:11:" in out and "INVALID" in out


def test_bench_intents_runs(capsys):
    code, out, _ = run(
        capsys, "bench", "intents", "--intents", "100", "--repeat", "1", "--output", "json"
    )
    result = last_json(out)
    assert code == cli.EXIT_OK and result["intents"] == 100
    assert result["conflicts"] == 89 and result["admission_ms_median"] > 0
