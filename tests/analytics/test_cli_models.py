"""``netpilot models``: train, list, show, promote, and a degraded model falling back.

In process through ``cli.main``, on a store in a temporary directory, with telemetry files
written by the test (a daily load at 30-minute samples).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.registry import ModelSource, active_model, explanation
from controller import cli
from controller.models_store import (
    DataFileError,
    ModelStore,
    ModelStoreError,
    parse_timestamp,
    read_sessions,
    read_telemetry,
)
from tests.analytics.conftest import dataset

DAY = 48
START = datetime(2026, 11, 2, tzinfo=UTC)


def write_series(path: Path, values, start: datetime = START) -> Path:
    lines = ["timestamp,value"]
    for i, value in enumerate(values):
        at = start + timedelta(minutes=30 * i)
        lines.append(f"{at.strftime('%Y-%m-%d %H:%M:%S')},{value:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def load(seed: int, days: int, phase: float = 0.0, level: float = 100.0):
    t = np.arange(days * DAY)
    noise = np.random.default_rng(seed).normal(0, 1.5, len(t))
    return level + 40 * np.sin(2 * np.pi * t / DAY + phase) + noise


def run(capsys, *argv: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(list(argv))
    out, _ = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "models"


def test_train_list_show_and_promote(capsys, tmp_path, store):
    data = write_series(tmp_path / "load.csv", load(1, 8))
    code, trained = run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK and trained["role"] == "champion"
    metrics = trained["artifact"]["metrics"]
    assert metrics["mape"] < metrics["seasonal_naive_mape"]
    assert trained["decision"]["promote"] is True
    assert trained["artifact"]["features"] == ["load"]
    code, second = run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert second["role"] == "challenger (shadow)"
    code, listing = run(capsys, "models", "list", "--store", str(store), "--output", "json")
    assert [(m["name"], m["champion"], m["challenger"]) for m in listing["models"]] == [
        ("edge-load", 1, 2)
    ]
    # the same data gives the same model: no measured gain, no promotion
    code, refused = run(
        capsys, "models", "promote", "edge-load", "--store", str(store), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE and refused["promoted"] is False
    assert refused["decision"]["evidence"] == "validation"
    code, forced = run(
        capsys, "models", "promote", "edge-load", "--force", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK and forced["record"]["champion"] == 2
    code, shown = run(
        capsys, "models", "show", "edge-load", "--version", "1", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert shown["artifact"]["version"] == 1 and shown["record"]["champion"] == 2
    assert "state" not in shown["artifact"]["model"]  # metadata, not the learned arrays
    assert [e["kind"] for e in shown["record"]["events"]] == [
        "registered",
        "challenger",
        "promotion-refused",  # the refusal above, with its reason
        "promoted",
    ]


def repeating_day(days: int = 8, noisy_days: int = 5):
    """A daily shape that repeats exactly after noisy early days: yesterday (the
    seasonal-naive rule) predicts the validated days perfectly, Holt-Winters cannot."""
    values = np.tile(100 + 40 * np.sin(2 * np.pi * np.arange(DAY) / DAY), days)
    values[: noisy_days * DAY] += np.random.default_rng(9).normal(0, 15, noisy_days * DAY)
    return values


def test_a_first_model_worse_than_the_rule_is_registered_but_the_rule_answers(
    capsys, tmp_path, store
):
    data = write_series(tmp_path / "load.csv", repeating_day())
    code, trained = run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    metrics = trained["artifact"]["metrics"]
    assert metrics["mape"] > metrics["seasonal_naive_mape"]
    assert trained["role"] == "challenger (the seasonal-naive rule answers)"
    assert trained["decision"]["promote"] is False
    assert "does not beat the rule" in trained["decision"]["reason"]
    record = trained["record"]
    assert (record["champion"], record["challenger"], record["status"]) == (None, 1, "fallback")
    assert record["events"][-1]["kind"] == "promotion-refused"

    # the same in text: why, and the override
    cli.main(["models", "show", "edge-load", "--store", str(store)])
    shown = capsys.readouterr().out
    assert "answered by rule baseline 'seasonal-naive'" in shown
    assert "reason: v1 is not the champion: validation mape" in shown
    assert "champion -, challenger v1" in shown
    assert "v1 QuantileForecaster" in shown  # the version that did not make it
    code, listing = run(capsys, "models", "list", "--store", str(store), "--output", "json")
    assert listing["models"][0]["answering"] == "seasonal-naive"
    capsys.readouterr()
    cli.main(["models", "train", "other", "--kind", "load-forecast", "--data", str(data),
              "--store", str(store)])  # fmt: skip
    text = capsys.readouterr().out
    assert (
        "other v1 trained (QuantileForecaster): challenger (the seasonal-naive rule answers)"
        in (text)
    )
    assert "does not beat the rule" in text
    assert "to use it anyway: netpilot models promote other --force" in text

    # the decision the policies see: the rule, with the reason
    saved = ModelStore(store).record("edge-load")
    assert saved is not None
    answer = active_model(saved, model_confidence=0.95)
    assert answer.source is ModelSource.RULE_BASELINE and "does not beat the rule" in answer.reason

    # promote without evidence is refused; --force is the operator's override
    code, refused = run(
        capsys, "models", "promote", "edge-load", "--store", str(store), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE and refused["promoted"] is False
    code, forced = run(
        capsys, "models", "promote", "edge-load", "--force", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    record = forced["record"]
    assert (record["champion"], record["challenger"], record["status"]) == (1, None, "active")
    assert "forced by the operator" in record["events"][-1]["reason"]


def test_without_a_champion_the_challenger_is_monitored_in_shadow_beside_the_rule(
    capsys, tmp_path, store
):
    data = write_series(tmp_path / "train.csv", repeating_day())
    run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    # after training, noisy days: yesterday (the rule) is a worse guess than the model's
    later = write_series(tmp_path / "later.csv", load(3, 4), START + timedelta(days=8))
    code, monitored = run(
        capsys, "models", "monitor", "edge-load", "--data", str(later), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    assert monitored["scored"] == monitored["samples"] - DAY  # the first day seeds the rule
    record = monitored["record"]
    # the rule still answers: no champion, the status and the history are untouched
    assert (record["champion"], record["challenger"], record["status"]) == (None, 1, "fallback")
    assert [e["kind"] for e in record["events"]] == ["promotion-refused"]
    assert record["monitor"]["samples"] == 0
    assert monitored["health"]["degraded"] is False
    assert "no champion" in monitored["health"]["reason"]
    # the challenger's error and the rule's, on the same samples, are in its monitor
    shadow_monitor = record["challenger_monitor"]
    assert shadow_monitor["samples"] == monitored["scored"]
    error, rule_error = shadow_monitor["error"], shadow_monitor["baseline_error"]
    assert 0 < error < rule_error
    assert monitored["shadow"] == {
        "version": 1,
        "incumbent": "the seasonal-naive rule",
        "samples": monitored["scored"],
        "challenger_error": error,
        "incumbent_error": rule_error,
        "gain": pytest.approx((rule_error - error) / rule_error),
    }

    code, shown = run(
        capsys, "models", "show", "edge-load", "--store", str(store), "--output", "json"
    )
    assert shown["record"]["challenger_monitor"] == shadow_monitor
    assert shown["shadow"] == monitored["shadow"]
    cli.main(["models", "show", "edge-load", "--store", str(store)])
    text = capsys.readouterr().out
    assert "answered by rule baseline 'seasonal-naive'" in text
    assert "monitor: no champion (the seasonal-naive rule answers)" in text
    assert (
        f"shadow v1: {monitored['scored']} samples, error {error:.4g}, seasonal-naive "
        f"{rule_error:.4g}, gain {monitored['shadow']['gain']:.1%} over the seasonal-naive rule"
    ) in text

    # the live evidence decides the promotion (the validation alone had refused it)
    code, promoted = run(
        capsys, "models", "promote", "edge-load", "--store", str(store), "--output", "json"
    )
    assert code == cli.EXIT_OK and promoted["decision"]["evidence"] == "shadow"
    assert promoted["decision"]["gain"] == pytest.approx(monitored["shadow"]["gain"])
    record = promoted["record"]
    assert (record["champion"], record["challenger"], record["status"]) == (1, None, "active")
    assert record["monitor"] == shadow_monitor  # the shadow record carries over
    assert "vs the seasonal-naive rule's" in record["events"][-1]["reason"]


def test_a_challenger_no_better_than_the_rule_in_shadow_is_not_promoted(capsys, tmp_path, store):
    data = write_series(tmp_path / "train.csv", repeating_day())
    run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    # the day keeps repeating exactly: yesterday is a perfect forecast, the model is not
    same = np.tile(100 + 40 * np.sin(2 * np.pi * np.arange(DAY) / DAY), 4)
    later = write_series(tmp_path / "later.csv", same, START + timedelta(days=8))
    code, monitored = run(
        capsys, "models", "monitor", "edge-load", "--data", str(later), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    assert monitored["shadow"]["incumbent_error"] == 0.0
    assert monitored["shadow"]["challenger_error"] > 0 and monitored["shadow"]["gain"] == 0.0
    code, refused = run(
        capsys, "models", "promote", "edge-load", "--store", str(store), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE and refused["promoted"] is False
    assert refused["decision"]["evidence"] == "shadow"
    assert "keep the seasonal-naive rule" in refused["decision"]["reason"]
    saved = ModelStore(store).record("edge-load")
    assert saved is not None and (saved.champion, saved.challenger) == (None, 1)
    assert active_model(saved, model_confidence=0.95).source is ModelSource.RULE_BASELINE


def train_version(capsys, store: Path, data: Path) -> dict[str, Any]:
    code, trained = run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    return trained


def noisy_load(seed: int, days: int = 8, noise: float = 8.0):
    """A daily load with more noise than :func:`load`'s: a model of it validates worse."""
    t = np.arange(days * DAY)
    return (
        100
        + 40 * np.sin(2 * np.pi * t / DAY)
        + np.random.default_rng(seed).normal(0, noise, len(t))
    )


def test_a_refused_promotion_changes_nothing_but_its_event(capsys, tmp_path, store):
    data = write_series(tmp_path / "load.csv", load(1, 8))
    for _ in range(3):  # v1 the champion; v3 replaced v2 as the challenger
        train_version(capsys, store, data)
    later = write_series(tmp_path / "later.csv", load(3, 4), START + timedelta(days=8))
    run(
        capsys, "models", "monitor", "edge-load", "--data", str(later), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    before = ModelStore(store).record("edge-load")
    assert before is not None and (before.champion, before.challenger) == (1, 3)
    assert before.challenger_monitor.samples > 0  # v3's shadow run

    # v2 is no challenger: judged on its own evidence, its validation against v1's (the
    # same data, the same model: no gain), and refused; v3 and its shadow run stay
    code = cli.main(["models", "promote", "edge-load", "--version", "2", "--store", str(store)])
    assert code == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    after = ModelStore(store).record("edge-load")
    assert after is not None
    assert replace(after, events=after.events[:-1]) == before  # nothing else changed
    refusal = after.events[-1]
    assert (refusal.kind.value, refusal.version) == ("promotion-refused", 2)
    assert "v2 is not the challenger (v3 is)" in refusal.reason
    assert "edge-load: v2 not promoted: v2 is not the challenger (v3 is)" in err
    assert "validation mape: v2 vs champion v1" in err and "keep champion v1" in err

    # the challenger's refusal is recorded the same way
    code, refused = run(
        capsys, "models", "promote", "edge-load", "--store", str(store), "--output", "json"
    )
    assert code == cli.EXIT_FAILURE and refused["promoted"] is False
    again = ModelStore(store).record("edge-load")
    assert again is not None and refused["record"] == again.as_dict()
    assert [(e.kind.value, e.version) for e in again.events[-2:]] == [
        ("promotion-refused", 2),
        ("promotion-refused", 3),
    ]
    assert refused["decision"]["reason"] == again.events[-1].reason
    assert replace(again, events=again.events[:-2]) == before

    # --force makes v2 the champion anyway (a rollback); v3 keeps running in shadow, its
    # run restarted against the new champion
    code, forced = run(
        capsys, "models", "promote", "edge-load", "--version", "2", "--force",
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK and forced["promoted"] is True
    record = forced["record"]
    assert (record["champion"], record["challenger"], record["status"]) == (2, 3, "active")
    assert record["monitor"]["samples"] == 0 and record["challenger_monitor"]["samples"] == 0
    assert (record["events"][-1]["kind"], record["events"][-1]["version"]) == ("promoted", 2)
    assert "forced by the operator" in record["events"][-1]["reason"]


def test_a_version_other_than_the_challenger_is_promoted_on_its_validation(capsys, tmp_path, store):
    # v1 validated on a noisy load, v2 on a steady one (a lower error), v3 noisy again
    assert (
        train_version(capsys, store, write_series(tmp_path / "a.csv", noisy_load(1)))["role"]
        == "champion"
    )
    steady = train_version(capsys, store, write_series(tmp_path / "b.csv", load(1, 8)))
    train_version(capsys, store, write_series(tmp_path / "c.csv", noisy_load(2)))
    code, promoted = run(
        capsys, "models", "promote", "edge-load", "--version", "2", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK and promoted["promoted"] is True
    decision = promoted["decision"]
    assert decision["evidence"] == "validation" and decision["gain"] >= 0.05
    assert decision["challenger_score"] == steady["artifact"]["metrics"]["mape"]
    record = promoted["record"]
    # the challenger was not replaced by v2 on the way: it stays, in shadow of v2
    assert (record["champion"], record["challenger"], record["status"]) == (2, 3, "active")
    assert [(e["kind"], e["version"]) for e in record["events"][-2:]] == [
        ("challenger", 3),
        ("promoted", 2),
    ]
    saved = ModelStore(store).record("edge-load")
    assert saved is not None and saved.as_dict() == record

    # the champion is no version to promote; an unknown version names the known ones
    code, error = run(
        capsys, "models", "promote", "edge-load", "--version", "2", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_FAILURE and "v2 is already the champion" in error["error"]["message"]
    code, error = run(
        capsys, "models", "promote", "edge-load", "--version", "9", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert (
        code == cli.EXIT_FAILURE and "no version 9 (versions: 1, 2, 3)" in error["error"]["message"]
    )
    saved = ModelStore(store).record("edge-load")
    assert saved is not None and saved.as_dict() == record


def test_without_a_champion_a_named_version_is_judged_against_the_rule(capsys, tmp_path, store):
    data = write_series(tmp_path / "load.csv", repeating_day())
    train_version(capsys, store, data)
    train_version(capsys, store, data)  # v2 replaced v1 as the challenger to the rule
    before = ModelStore(store).record("edge-load")
    assert before is not None and (before.champion, before.challenger) == (None, 2)
    code, refused = run(
        capsys, "models", "promote", "edge-load", "--version", "1", "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_FAILURE and refused["promoted"] is False
    assert "v1 is not the challenger (v2 is)" in refused["decision"]["reason"]
    assert "does not beat the rule" in refused["decision"]["reason"]
    after = ModelStore(store).record("edge-load")
    assert after is not None and replace(after, events=after.events[:-1]) == before
    assert (after.events[-1].kind.value, after.events[-1].version) == ("promotion-refused", 1)


def test_a_first_model_that_beats_the_rule_is_the_champion_and_says_why(capsys, tmp_path, store):
    data = write_series(tmp_path / "load.csv", load(1, 8))
    cli.main(["models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
              "--store", str(store)])  # fmt: skip
    text = capsys.readouterr().out
    assert "edge-load v1 trained (QuantileForecaster): champion" in text
    assert "vs the seasonal-naive rule's" in text and "beats the rule" in text
    code, shown = run(
        capsys, "models", "show", "edge-load", "--store", str(store), "--output", "json"
    )
    assert shown["record"]["status"] == "active" and "beats the rule" in shown["record"]["reason"]


def test_a_degraded_model_is_replaced_by_the_rule_baseline(capsys, tmp_path, store):
    run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data",
        str(write_series(tmp_path / "train.csv", load(2, 8))), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    # after training the traffic changes shape: the daily peak moves by half a day
    later = START + timedelta(days=8)
    changed = write_series(tmp_path / "changed.csv", load(3, 4, phase=np.pi), later)
    code, monitored = run(
        capsys, "models", "monitor", "edge-load", "--data", str(changed), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK and monitored["health"]["degraded"] is True
    assert monitored["record"]["status"] == "fallback"
    # every sample read; the first day only seeds seasonal-naive, so fewer are scored
    assert 0 < monitored["scored"] < monitored["samples"]
    assert monitored["record"]["monitor"]["samples"] == monitored["scored"]

    code, shown = run(
        capsys, "models", "show", "edge-load", "--store", str(store), "--output", "json"
    )
    record = shown["record"]
    assert record["status"] == "fallback" and record["baseline"] == "seasonal-naive"
    assert record["events"][-1]["kind"] == "fallback"
    assert "seasonal-naive rule answers instead" in record["events"][-1]["reason"]
    cli.main(["models", "show", "edge-load", "--store", str(store)])
    assert "answered by rule baseline 'seasonal-naive'" in capsys.readouterr().out

    # what a policy puts in its decision's explanation
    saved = ModelStore(store).record("edge-load")
    assert saved is not None
    answer = active_model(saved, model_confidence=0.95)
    assert answer.source is ModelSource.RULE_BASELINE
    assert explanation(answer)["source"] == "rule-baseline"
    assert explanation(answer)["version"] is None

    # the traffic comes back to its trained shape: the model recovers
    back = write_series(tmp_path / "back.csv", load(4, 10), later + timedelta(days=4))
    code, recovered = run(
        capsys, "models", "monitor", "edge-load", "--data", str(back), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert recovered["record"]["status"] == "active"
    assert recovered["record"]["events"][-1]["kind"] == "recovered"


def test_a_missing_sample_a_day_back_is_not_scored_against_the_rule(capsys, tmp_path, store):
    run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data",
        str(write_series(tmp_path / "train.csv", load(1, 8))), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    later = write_series(tmp_path / "later.csv", load(3, 4), START + timedelta(days=8))
    rows = later.read_text().splitlines()
    rows[6] = rows[6].split(",")[0] + ","  # sample 5 is missing: seasonal-naive's for 5 + DAY
    later.write_text("\n".join(rows) + "\n")
    code, monitored = run(
        capsys, "models", "monitor", "edge-load", "--data", str(later), "--store", str(store),
        "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    # the rule has no forecast for that sample, so neither is scored on it (it had made the
    # rule's live error NaN for good, and the worse-than-the-rule check with it)
    assert monitored["scored"] == monitored["samples"] - DAY - 1
    monitor = monitored["record"]["monitor"]
    assert math.isfinite(monitor["baseline_error"]) and math.isfinite(monitor["error"])


def test_unknown_models_and_bad_files_are_reported(capsys, tmp_path, store):
    code, error = run(capsys, "models", "show", "nope", "--store", str(store), "--output", "json")
    assert code == cli.EXIT_FAILURE and "no model named 'nope'" in error["error"]["message"]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2026-01-01 00:00:00,x\n2026-01-01 00:30:00,1\n")
    with pytest.raises(ModelStoreError, match="bad.csv:2"):
        read_telemetry(bad)
    code, error = run(
        capsys, "models", "train", "../escape", "--kind", "kpi-anomaly", "--data", str(bad),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_FAILURE and "model name" in error["error"]["message"]


def test_epoch_seconds_and_iso_timestamps_read_as_the_same_times(tmp_path):
    iso = write_series(tmp_path / "iso.csv", load(1, 1))
    epoch = tmp_path / "epoch.csv"
    rows = [line.split(",") for line in iso.read_text().splitlines()[1:]]
    epoch.write_text(
        "timestamp,value\n"
        + "".join(
            f"{int(datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp())},{value}\n"
            for at, value in rows
        )
    )
    zoned = tmp_path / "zoned.csv"  # ISO 8601 with an offset or Z is converted to UTC
    zoned.write_text("timestamp,value\n2026-11-02T01:00:00+01:00,1\n2026-11-02T00:30:00Z,2\n")
    assert np.array_equal(read_telemetry(epoch).timestamps, read_telemetry(iso).timestamps)
    assert read_telemetry(epoch).timestamps[0] == np.datetime64("2026-11-02T00:00:00")
    assert list(read_telemetry(zoned).timestamps) == [
        np.datetime64("2026-11-02T00:00:00"),
        np.datetime64("2026-11-02T00:30:00"),
    ]


def test_a_model_is_trained_from_epoch_second_telemetry(capsys, tmp_path, store):
    data = tmp_path / "epoch.csv"
    start = int(START.timestamp())
    data.write_text(
        "timestamp,value\n"
        + "".join(f"{start + 1800 * i},{v:.4f}\n" for i, v in enumerate(load(1, 8)))
    )
    code, trained = run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    assert trained["artifact"]["training_window"]["start"] == START.isoformat()
    assert trained["artifact"]["metrics"]["season_length"] == DAY


@pytest.mark.parametrize(
    ("stamp", "when"),
    [
        # ISO 8601 basic format: 8 digits are a date (as seconds they were 1970-08-23)
        ("20240101", "2024-01-01T00:00:00"),
        ("20240229", "2024-02-29T00:00:00"),
        ("19000101", "1900-01-01T00:00:00"),
        ("22001231", "2200-12-31T00:00:00"),
        ("20240101T120000", "2024-01-01T12:00:00"),
        ("20240101T1200", "2024-01-01T12:00:00"),
        ("20240101T120000Z", "2024-01-01T12:00:00"),
        ("20240101T130000+0100", "2024-01-01T12:00:00"),
        # any other plain number is epoch seconds; a fraction makes 8 digits seconds too
        ("1793577600", "2026-11-02T00:00:00"),
        ("0", "1970-01-01T00:00:00"),
        ("1234567", "1970-01-15T06:56:07"),
        ("123456789", "1973-11-29T21:33:09"),
        ("12345678.0", "1970-05-23T21:21:18"),
    ],
)
def test_a_compact_iso_date_is_the_date_and_other_numbers_are_epoch_seconds(stamp, when):
    assert parse_timestamp(stamp) == np.datetime64(when)


def test_a_telemetry_file_of_compact_dates_is_read_as_those_days(tmp_path):
    daily = tmp_path / "daily.csv"
    daily.write_text("timestamp,value\n20240101,1\n20240102,2\n20240103,3\n")
    assert list(read_telemetry(daily).timestamps) == [
        np.datetime64("2024-01-01T00:00:00"),
        np.datetime64("2024-01-02T00:00:00"),
        np.datetime64("2024-01-03T00:00:00"),
    ]
    # 8 digits among epoch seconds are still a date, and so still in time order
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("timestamp,value\n1704000000,1\n20240101,2\n1704100000,3\n")
    assert list(read_telemetry(mixed).timestamps) == [
        np.datetime64("2023-12-31T05:20:00"),
        np.datetime64("2024-01-01T00:00:00"),
        np.datetime64("2024-01-01T09:06:40"),
    ]
    # a date before the row before stops at its line (file, line, field), as any time does
    mixed.write_text("timestamp,value\n1793577600,1\n20261101,2\n")
    with pytest.raises(DataFileError, match="mixed.csv:3: timestamp: .*not after") as raised:
        read_telemetry(mixed)
    assert (raised.value.line, raised.value.field) == (3, "timestamp")


@pytest.mark.parametrize(
    ("stamp", "says"),
    [
        ("1793577600000", "out of range as epoch seconds"),  # epoch milliseconds
        ("202401011200", "out of range as epoch seconds"),  # a date-time without its T
        ("20241301", "8 digits but no YYYYMMDD date .*month must be in 1..12"),
        ("20230229", "8 digits but no YYYYMMDD date .*day is out of range"),
        ("10000000", "8 digits but no YYYYMMDD date .*year 1000 is outside 1900-2200"),
        ("yesterday", "neither epoch seconds nor an ISO 8601 time"),
        ("", "empty"),
    ],
)
def test_a_value_that_is_no_timestamp_names_file_line_and_field(
    capsys, tmp_path, store, stamp, says
):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"timestamp,value\n1793577600,1\n{stamp},2\n1793581200,3\n")
    with pytest.raises(DataFileError, match=f"bad.csv:3: timestamp: .*{says}") as raised:
        read_telemetry(bad)
    assert (raised.value.line, raised.value.field) == (3, "timestamp")
    code, error = run(
        capsys, "models", "train", "edge-load", "--kind", "load-forecast", "--data", str(bad),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_FAILURE
    assert (error["error"]["file"], error["error"]["line"], error["error"]["field"]) == (
        str(bad),
        3,
        "timestamp",
    )
    assert ModelStore(store).names() == []  # nothing half-applied


def test_a_bad_value_names_its_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,load\n1793577600,1\n1793579400,lots\n")
    with pytest.raises(DataFileError, match="bad.csv:3: load: ") as raised:
        read_telemetry(bad, column="load")
    assert raised.value.field == "load"


def test_a_kpi_detector_is_trained_from_telemetry(capsys, tmp_path, store):
    data = write_series(tmp_path / "kpi.csv", load(5, 6))
    code, trained = run(
        capsys, "models", "train", "edge-kpi", "--kind", "kpi-anomaly", "--data", str(data),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK and trained["artifact"]["model_type"] == "KpiAnomalyDetector"
    assert trained["artifact"]["metrics"]["alarm_rate"] < 0.01


def test_cad_ose_is_chosen_with_its_value_range(capsys, tmp_path, store):
    data = write_series(tmp_path / "kpi.csv", load(5, 2))
    code, trained = run(
        capsys, "models", "train", "edge-cad", "--kind", "kpi-anomaly", "--data", str(data),
        "--detector", "cad-ose", "--value-range", "0", "400",
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    assert trained["artifact"]["model_type"] == "ContextualAnomalyDetector"
    params = trained["artifact"]["model"]["params"]
    assert (params["low"], params["high"]) == (0.0, 400.0)  # the operator's range, not the data's
    assert trained["role"] == "champion"


def test_the_stall_classifier_is_trained_from_labelled_sessions(capsys, store):
    sessions = dataset("youtube-sieber/ifip_networking.csv.gz")
    code, trained = run(
        capsys, "models", "train", "video-stall", "--kind", "stall", "--data", str(sessions),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_OK
    metrics = trained["artifact"]["metrics"]
    assert metrics["f1"] >= 0.92 and metrics["baseline_f1"] < metrics["f1"]
    assert "log_max_chunk_bitrate" in trained["artifact"]["features"]


@pytest.mark.parametrize(
    ("cell", "field", "says"),
    [
        ("nan", "value", "'nan' is not a finite number"),
        ("inf", "value", "'inf' is not a finite number"),
        ("", "value", "empty: this model needs every sample"),
    ],
)
def test_a_non_finite_or_missing_load_sample_names_its_line(tmp_path, cell, field, says):
    path = tmp_path / "load.csv"
    rows = ["timestamp,value"] + [f"{1_700_000_000 + 300 * i},{100 + i % 7}" for i in range(10)]
    rows[4] = f"{1_700_000_000 + 300 * 3},{cell}"  # line 5 of the file
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFileError) as caught:
        read_telemetry(path, gaps=False)
    assert (caught.value.line, caught.value.field) == (5, field)
    assert says in str(caught.value)


def test_a_repeated_or_earlier_timestamp_names_its_line(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text("timestamp,value\n1700000000,1\n1700000300,2\n1700000300,3\n")
    with pytest.raises(DataFileError) as caught:
        read_telemetry(path)
    assert (caught.value.line, caught.value.field) == (4, "timestamp")
    assert "not after the row before" in str(caught.value)
    # an empty cell is a gap where the model takes gaps (an anomaly detector)
    path.write_text("timestamp,value\n1700000000,1\n1700000300,\n1700000600,3\n")
    assert np.isnan(read_telemetry(path).values[1])


SESSION_NUMBERS = (
    "net_avg_shaping_rate",
    "net_dl_total",
    "pl_avg_req_size",
    "pl_avg_req_size_sec",
    *(
        f"pl_avg_req_itag{stream}_{unit}"
        for stream in ("133", "134", "135", "136", "160")
        for unit in ("size", "sec")
    ),
)
SESSION_COLUMNS = (*SESSION_NUMBERS, "pl_buffering_boolean", "yt_id")


def session_row(stalled: bool, video: str) -> list[str]:
    """One session of the youtube-sieber CSV: a 2 Mbit/s flow of 4-second chunks."""
    numbers = {"net_avg_shaping_rate": "2000000", "net_dl_total": "30000000"}
    cells = [
        numbers.get(column, "1000" if column.endswith("size") else "4")
        for column in SESSION_NUMBERS
    ]
    return [*cells, str(stalled), video]


@pytest.mark.parametrize(
    ("cut", "field"),
    [
        (1, "yt_id"),
        (2, "pl_buffering_boolean"),  # was AttributeError: 'NoneType' has no attribute 'strip'
        (4, "pl_avg_req_itag160_size"),  # was "None is not a number"
    ],
)
def test_a_short_session_row_names_file_line_and_field(capsys, tmp_path, store, cut, field):
    path = tmp_path / "sessions.csv"
    rows = [list(SESSION_COLUMNS), session_row(True, "a1"), session_row(False, "b2")]
    rows.append(session_row(False, "c3")[:-cut])  # line 4 lost its last cells
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    with pytest.raises(DataFileError, match=f"sessions.csv:4: {field}: missing") as raised:
        read_sessions(path)
    assert (raised.value.path, raised.value.line, raised.value.field) == (str(path), 4, field)
    code, error = run(
        capsys, "models", "train", "video-stall", "--kind", "stall", "--data", str(path),
        "--store", str(store), "--output", "json",
    )  # fmt: skip
    assert code == cli.EXIT_FAILURE
    assert (error["error"]["file"], error["error"]["line"], error["error"]["field"]) == (
        str(path),
        4,
        field,
    )
    assert ModelStore(store).names() == []  # nothing trained or saved


def test_a_whole_sessions_file_is_read_with_its_labels_and_videos(tmp_path):
    path = tmp_path / "sessions.csv"
    rows = [list(SESSION_COLUMNS), session_row(True, "a1"), session_row(False, "b2")]
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    sessions = read_sessions(path)
    assert list(sessions.stalled) == [True, False] and sessions.videos == ("a1", "b2")
    assert sessions.flows[0].throughput_bps == 2_000_000 and len(sessions.flows[0].streams) == 5
    # a label that is neither True nor False is no label (it was read as "not stalled")
    rows.append([*session_row(True, "c3")[:-2], "1", "c3"])
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    with pytest.raises(DataFileError, match="sessions.csv:4: pl_buffering_boolean: '1' is no"):
        read_sessions(path)
