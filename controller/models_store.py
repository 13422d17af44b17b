"""The model registry on disk, and the readers for the telemetry models are trained on.

The registry is a directory of JSON files, one directory per model name::

    STORE/
      edge-load/
        record.json        champion, challenger, status, monitors, events
        v0001.json         one artifact per version (the model as plain JSON, metadata)
        v0002.json

Artifacts are written once and never changed; ``record.json`` is replaced atomically
(write to a temporary file, then rename), so a reader never sees half a file. Nothing is
pickled: every file can be read and diffed.

The registry's logic is pure and lives in :mod:`analytics.registry`; this module only moves
its values to and from files.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from analytics.registry import ModelArtifact, ModelRecord
from analytics.stall import ChunkStream, FlowSummary
from controller.errors import ConfigFileError, NetpilotError

__all__ = [
    "DEFAULT_STORE",
    "DataFileError",
    "ModelStore",
    "ModelStoreError",
    "Sessions",
    "Telemetry",
    "parse_timestamp",
    "read_sessions",
    "read_telemetry",
]

DEFAULT_STORE = Path(".netpilot") / "models"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_VERSION_FILE = re.compile(r"^v(\d{4,})\.json$")


class ModelStoreError(NetpilotError):
    """The model store or a telemetry file cannot be used (terminal)."""


class DataFileError(ModelStoreError, ConfigFileError):
    """A telemetry file is invalid: its path, line and field, as every loader reports them.

    A :class:`~controller.errors.ConfigFileError` (the project's file/line/field error and
    message shape) that is also a :class:`ModelStoreError`, so the callers that already
    catch the store's errors (the CLI, the daemon's predictors) still do.

    Args:
        path: the file.
        message: what is wrong and what was expected.
        line: 1-based line of the offending row, if known.
        field: the offending column, if known.
    """

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(file=self.path, line=self.line, field=self.field)
        return data


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A regularly sampled series read from a file."""

    timestamps: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Sessions:
    """Labelled video sessions: what the network saw, whether each stalled, which video."""

    flows: tuple[FlowSummary, ...]
    stalled: npt.NDArray[np.bool_]
    videos: tuple[str, ...]


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ModelStoreError(
            f"model name {name!r}: use lowercase letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


class ModelStore:
    """A directory of model artifacts and records.

    Args:
        root: the store's directory (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        """The models in the store, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and (p / "record.json").is_file()
        )

    def versions(self, name: str) -> list[int]:
        """The versions saved for a model, ascending."""
        directory = self.root / _check_name(name)
        if not directory.is_dir():
            return []
        found = (_VERSION_FILE.match(p.name) for p in directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def next_version(self, name: str) -> int:
        """The version number a new artifact of ``name`` gets."""
        return max(self.versions(name), default=0) + 1

    def record(self, name: str) -> ModelRecord | None:
        """A model's record, or None if the model is unknown.

        Raises:
            ModelStoreError: the record file is unreadable or malformed.
        """
        path = self.root / _check_name(name) / "record.json"
        if not path.is_file():
            return None
        try:
            return ModelRecord.from_dict(_read_json(path))
        except ValueError as exc:
            raise ModelStoreError(f"{path}: {exc}") from exc

    def save_record(self, record: ModelRecord) -> Path:
        """Write a model's record (atomically)."""
        path = self.root / _check_name(record.name) / "record.json"
        _write_json(path, record.as_dict())
        return path

    def artifact(self, name: str, version: int) -> ModelArtifact:
        """One version of a model.

        Raises:
            ModelStoreError: no such version, or a malformed file.
        """
        path = self.root / _check_name(name) / f"v{version:04d}.json"
        if not path.is_file():
            known = ", ".join(str(v) for v in self.versions(name)) or "none"
            raise ModelStoreError(f"{name} has no version {version} (versions: {known})")
        try:
            return ModelArtifact.from_dict(_read_json(path))
        except ValueError as exc:
            raise ModelStoreError(f"{path}: {exc}") from exc

    def save_artifact(self, artifact: ModelArtifact) -> Path:
        """Write a new version (never overwrites one).

        Raises:
            ModelStoreError: the version already exists.
        """
        path = self.root / _check_name(artifact.name) / f"v{artifact.version:04d}.json"
        if path.exists():
            raise ModelStoreError(f"{artifact.name} version {artifact.version} already exists")
        _write_json(path, artifact.as_dict())
        return path


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelStoreError(f"{path}: expected a JSON object")
    return data


def _write_json(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _open_text(path: Path) -> io.TextIOBase:
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="")
    except OSError as exc:
        raise ModelStoreError(f"{path}: {exc}") from exc


def _rows(path: Path) -> Iterator[dict[str, str | None]]:
    """The rows of a CSV as dicts; a short row's missing cells are None (csv fills them so)."""
    with _open_text(path) as stream:
        yield from csv.DictReader(stream)


def _cell(path: Path, row: dict[str, str | None], line: int, column: str) -> str:
    """One cell of a CSV row; a missing column or cell (a short row) names what is missing."""
    if column not in row:
        raise ModelStoreError(f"{path}: no column {column!r}")
    cell = row[column]
    if cell is None:  # csv fills a short row's missing cells with None
        raise DataFileError(str(path), "missing (short row)", line=line, field=column)
    return cell


# a number (optionally signed or with a fraction) is epoch seconds, as `date +%s`, Prometheus
# and most exporters write it; anything else must be ISO 8601
_EPOCH_SECONDS = re.compile(r"^[+-]?\d+(\.\d+)?$")
# exactly eight digits is ISO 8601's basic-format date (YYYYMMDD), never epoch seconds: as
# seconds it would be a time between 1970-04-26 and 1973-03-03, which no collected telemetry
# is, while a compact date is a common way to write a day
_BASIC_DATE = re.compile(r"^\d{8}$")
# the years a timestamp may fall in: any wider and a date typed without its 'T'
# (202401011200, read as seconds: the year 8383) or epoch deciseconds would pass as a time
_FIRST_YEAR, _LAST_YEAR = 1900, 2200


def parse_timestamp(text: str) -> np.datetime64:
    """A sample time: epoch seconds or ISO 8601, as a UTC ``datetime64[s]``.

    - Exactly eight digits (``20240101``) is a compact ISO 8601 date, midnight UTC; eight
      digits that are no calendar date of the years 1900-2200 (``20241301``) are an error,
      never epoch seconds (which would be a time in 1970-1973: a number meant as one is
      written with a fraction, ``12345678.0``).
    - Any other number, optionally signed or with a fraction, is epoch seconds, which must
      fall in the years 1900-2200.
    - Anything else is ISO 8601 as :meth:`datetime.fromisoformat` reads it, the extended
      form (``2024-01-01T12:00:00``) or the compact basic one (``20240101T1200``,
      ``20240101T120000Z``: a basic date-time needs its ``T``). A time without an offset
      is UTC (NAB's format, and what most CSV exports write); one with an offset (or
      ``Z``) is converted to UTC.

    Raises:
        ValueError: empty, neither form, eight digits that are no date, or a number outside
            the years 1900-2200 as seconds (epoch milliseconds or nanoseconds, which would
            otherwise become a year like 55840, or a basic date-time without its ``T``).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty; expected epoch seconds or an ISO 8601 time")
    if _BASIC_DATE.match(text):
        when = _basic_date(text)
    elif _EPOCH_SECONDS.match(text):
        when = _epoch_seconds(text)
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    # numpy's datetime64 has no time zones: a naive UTC value
    return np.datetime64(when.astimezone(UTC).replace(tzinfo=None), "s")


def _basic_date(text: str) -> datetime:
    """Eight digits as a YYYYMMDD date at midnight UTC, or the error saying why not."""
    seconds = f"as epoch seconds (1970-1973) write it with a fraction, {text}.0"
    year = int(text[:4])
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise ValueError(
            f"{text} is 8 digits but no YYYYMMDD date (year {year} is outside "
            f"{_FIRST_YEAR}-{_LAST_YEAR}); {seconds}"
        )
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{text} is 8 digits but no YYYYMMDD date ({exc}); {seconds}") from exc


def _epoch_seconds(text: str) -> datetime:
    """A number as epoch seconds, or the error saying what it more likely is."""
    out_of_range = ValueError(
        f"{text} is out of range as epoch seconds (milliseconds or nanoseconds? a date-time "
        "without its 'T'? give seconds or an ISO 8601 time, e.g. 20240101T1200)"
    )
    try:
        when = datetime.fromtimestamp(float(text), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise out_of_range from exc
    if not _FIRST_YEAR <= when.year <= _LAST_YEAR:
        raise out_of_range
    return when


def read_telemetry(path: Path, *, column: str = "value", gaps: bool = True) -> Telemetry:
    """A series from a CSV with a ``timestamp`` column and a value column.

    Timestamps are epoch seconds or ISO 8601 (see :func:`parse_timestamp`), in increasing
    order: NAB's format, and what a time-series database's CSV export gives. An empty value
    cell is a missing sample (NaN) when ``gaps`` allows it; ``nan`` or ``inf`` written out
    is an error (a sample is a finite number or absent). The whole file is read before
    anything is returned, so a bad row leaves nothing trained or saved.

    Raises:
        DataFileError: a missing column, a bad or non-finite number, an empty value where
            ``gaps`` is off, a bad timestamp or one not after the row before (file, line,
            field).
        ModelStoreError: a missing file, or fewer than two samples.
    """
    stamps: list[np.datetime64] = []
    values: list[float] = []
    for line, row in enumerate(_rows(path), start=2):
        for field in ("timestamp", column):
            if field not in row:
                raise DataFileError(
                    str(path),
                    f"no column {field!r} (need 'timestamp' and {column!r})",
                    field=field,
                )
        stamp_cell = _cell(path, row, line, "timestamp")
        value_cell = _cell(path, row, line, column)
        try:
            stamp = parse_timestamp(stamp_cell)
        except ValueError as exc:
            raise DataFileError(str(path), str(exc), line=line, field="timestamp") from exc
        if stamps and stamp <= stamps[-1]:
            raise DataFileError(
                str(path),
                f"{stamp_cell!r} is not after the row before ({stamps[-1]} UTC): "
                "samples must be in increasing time, each once",
                line=line,
                field="timestamp",
            )
        stamps.append(stamp)
        values.append(_sample(path, value_cell, line=line, field=column, gaps=gaps))
    if len(values) < 2:
        raise ModelStoreError(f"{path}: need at least two samples")
    return Telemetry(np.array(stamps, dtype="datetime64[s]"), np.array(values, dtype=float))


def _sample(path: Path, cell: str, *, line: int, field: str, gaps: bool) -> float:
    """One value cell of a telemetry file: a finite number, or NaN for an empty cell."""
    if not cell.strip():
        if gaps:
            return float("nan")
        raise DataFileError(
            str(path),
            "empty: this model needs every sample (fill the gap or leave the row out)",
            line=line,
            field=field,
        )
    try:
        value = float(cell)
    except ValueError as exc:
        raise DataFileError(str(path), str(exc), line=line, field=field) from exc
    if not math.isfinite(value):
        raise DataFileError(
            str(path),
            f"{cell.strip()!r} is not a finite number (leave the cell empty for a missing sample)",
            line=line,
            field=field,
        )
    return value


_STREAMS = ("133", "134", "135", "136", "160")


def _number(path: Path, row: dict[str, str | None], line: int, column: str) -> float:
    """One numeric cell of a sessions CSV row; a bad one names its line and column."""
    cell = _cell(path, row, line, column)
    try:
        return float(cell)
    except ValueError:
        raise DataFileError(
            str(path), f"{cell!r} is not a number", line=line, field=column
        ) from None


_LABELS = {"true": True, "false": False}


def _label(path: Path, row: dict[str, str | None], line: int, column: str) -> bool:
    """A session's stall label, ``True`` or ``False`` as the dataset writes it.

    Anything else is an error at its line: read as "not stalled" it would train the
    classifier on a wrong label without a word.
    """
    cell = _cell(path, row, line, column)
    label = _LABELS.get(cell.strip().lower())
    if label is None:
        raise DataFileError(
            str(path), f"{cell!r} is no stall label (True or False)", line=line, field=column
        )
    return label


def read_sessions(path: Path) -> Sessions:
    """Labelled video sessions from the youtube-sieber CSV (``ifip_networking.csv[.gz]``).

    Only network-observable columns are read: the shaping (bottleneck) rate, bytes
    downloaded, the mean chunk size and the chunk duration (the steady-state request
    interval), and the same per chunk stream. The label is ``pl_buffering_boolean``; the
    group is the video id. Player-side columns are never read.

    Raises:
        ModelStoreError: a missing file or column.
        DataFileError: a cell that is missing (a short row), not a number, or a label that
            is neither ``True`` nor ``False`` (with its line and column).
    """
    flows: list[FlowSummary] = []
    stalled: list[bool] = []
    videos: list[str] = []
    for line, row in enumerate(_rows(path), start=2):
        number = functools.partial(_number, path, row, line)
        streams = tuple(
            ChunkStream(number(f"pl_avg_req_itag{s}_size"), number(f"pl_avg_req_itag{s}_sec"))
            for s in _STREAMS
            if number(f"pl_avg_req_itag{s}_size") > 0
        )
        flows.append(
            FlowSummary(
                throughput_bps=number("net_avg_shaping_rate"),
                bytes_down=number("net_dl_total"),
                mean_chunk_bytes=number("pl_avg_req_size"),
                mean_chunk_interval_s=number("pl_avg_req_size_sec"),
                streams=streams,
            )
        )
        stalled.append(_label(path, row, line, "pl_buffering_boolean"))
        videos.append(_cell(path, row, line, "yt_id"))
    if not flows:
        raise ModelStoreError(f"{path}: no sessions")
    return Sessions(tuple(flows), np.array(stalled, dtype=bool), tuple(videos))
