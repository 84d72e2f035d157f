"""PAMAP2: 9 subjects, 3 Colibri IMUs (hand, chest, ankle) + heart rate, 100 Hz.

Original layout: ``PAMAP2_Dataset/Protocol/subject101..109.dat`` and
``PAMAP2_Dataset/Optional/subject101,105,106,108,109.dat``. Each file is a headerless
whitespace-separated table of 54 columns with ``NaN`` for missing values:

* col 1 timestamp (s), col 2 activityID, col 3 heart rate (bpm, about 9 Hz, NaN between);
* cols 4-20 IMU hand, 21-37 IMU chest, 38-54 IMU ankle; each block of 17 is temperature
  (degC), acc +-16 g xyz (m/s^2, recommended), acc +-6 g xyz (saturates), gyro xyz (rad/s),
  magnetometer xyz (uT) and 4 orientation values (invalid in this release, never loaded).

One :class:`Recording` per file: ``subject`` is the file's number as a string ("101"),
``session`` is "protocol" or "optional", ``rate`` 100.0; ``meta`` has ``file`` and
``t0`` (first timestamp, s).

Options

* ``sessions``: "protocol" (default), "optional" or "both".
* ``subjects``: subset of 101..109 (ints or strings).
* ``channels``: preset, "acc16_gyro_mag" (default, 27 channels), "acc16", "acc16_gyro" or
  "acc16_acc6_gyro_mag"; ``heart_rate=True`` prepends heart rate, ``temperature=True``
  adds each IMU's temperature. Names are ``{imu}_{sensor}_{axis}``, e.g. ``hand_acc16_x``.
* ``interpolate`` (default True): NaN (wireless drops, heart rate between beats) are
  linearly interpolated per channel within a recording; leading/trailing NaN take the
  nearest valid value. The number of filled values is in ``dropped["interpolated_values"]``
  and the number of rows with any filled value in ``dropped["interpolated_rows"]``. A
  channel with no valid value at all in a recording is set to 0 and counted in
  ``dropped["all_nan_channel_values"]``. With False, NaN stay in the data.
* ``drop_transient`` (default True): activityID 0 ("other / transient") becomes
  ``UNLABELLED`` (-1); those samples are kept (counted in ``dropped["transient_samples"]``)
  so windows crossing them follow the windowing label policy. With False they keep
  label 0, an extra class "transient".

``classes`` are the official activities of the chosen session set (protocol: 1-7, 12, 13,
16, 17, 24; optional: 9-11, 18-20), plus any other official activity seen in the files.
``path`` is the ``PAMAP2_Dataset`` folder, a folder holding ``Protocol/`` (or
``PAMAP2_Dataset/``); ``path=None`` looks in ``shared_data_dir()/"pamap2"``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.data.recording import UNLABELLED, Recording, RecordingSet, RecordingStream
from harlab.data.sources.common import (
    candidate_root,
    check_options,
    check_time_order,
    files_fingerprint,
    int_list,
)
from harlab.errors import DataError, unknown_name

NAME = "pamap2"
RATE = 100.0
N_COLUMNS = 54
ACTIVITIES = {
    1: "lying",
    2: "sitting",
    3: "standing",
    4: "walking",
    5: "running",
    6: "cycling",
    7: "Nordic walking",
    9: "watching TV",
    10: "computer work",
    11: "car driving",
    12: "ascending stairs",
    13: "descending stairs",
    16: "vacuum cleaning",
    17: "ironing",
    18: "folding laundry",
    19: "house cleaning",
    20: "playing soccer",
    24: "rope jumping",
}
TRANSIENT = 0
PROTOCOL_ACTIVITIES = (1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24)
OPTIONAL_ACTIVITIES = (9, 10, 11, 18, 19, 20)
PROTOCOL_SUBJECTS = tuple(range(101, 110))
OPTIONAL_SUBJECTS = (101, 105, 106, 108, 109)
IMUS = ("hand", "chest", "ankle")
_IMU_START = {"hand": 3, "chest": 20, "ankle": 37}  # 0-based column of the temperature
# offset inside an IMU block -> (sensor, axes, unit)
_SENSORS = {
    "acc16": (1, "m/s^2"),
    "acc6": (4, "m/s^2"),
    "gyro": (7, "rad/s"),
    "mag": (10, "uT"),
}
PRESETS = {
    "acc16": ("acc16",),
    "acc16_gyro": ("acc16", "gyro"),
    "acc16_gyro_mag": ("acc16", "gyro", "mag"),
    "acc16_acc6_gyro_mag": ("acc16", "acc6", "gyro", "mag"),
}
CITATION = (
    "A. Reiss, D. Stricker. Introducing a New Benchmarked Dataset for Activity Monitoring. "
    "16th International Symposium on Wearable Computers (ISWC), 2012."
)
INFO: dict[str, Any] = {
    "summary": "PAMAP2 hand/chest/ankle IMUs + heart rate, 9 subjects, 12 protocol "
    "(+6 optional) activities, 100 Hz",
    "subjects": 9,
    "classes": len(PROTOCOL_ACTIVITIES),
    "channels": tuple(
        f"{imu}_{s}_{a}" for imu in IMUS for s in PRESETS["acc16_gyro_mag"] for a in "xyz"
    ),
    "rate": RATE,
    "size": ("Protocol: 9 subject files of 54 columns at 100 Hz"
             " (subject101.dat alone 141.7 MB); Optional: 6 files"),
    "citation": CITATION,
    "licence": "CC BY 4.0 (UCI Machine Learning Repository, PAMAP2 Physical Activity Monitoring)",
    "download": {  # UCI publishes no checksum
        "url": "https://archive.ics.uci.edu/static/public/231/pamap2+physical+activity+monitoring.zip",
        "sha256": None,
        "page": "https://archive.ics.uci.edu/dataset/231/pamap2+physical+activity+monitoring",
    },
}
_OPTIONS = (
    "sessions",
    "subjects",
    "channels",
    "heart_rate",
    "temperature",
    "interpolate",
    "drop_transient",
)
_SESSION_DIRS = {"protocol": "Protocol", "optional": "Optional"}
_FILE = re.compile(r"subject(\d+)\.dat")


# ----------------------------------------------------------------------------- parsing
def read_table(path: Path, n_columns: int) -> np.ndarray:
    """Parse a headerless whitespace-separated numeric table with ``NaN`` gaps.

    Returns a float64 (rows, n_columns) array. Every non-blank line must hold exactly
    ``n_columns`` tokens, each a number or ``NaN``; otherwise a :class:`DataError` names
    the file and the (1-based) line. Blank lines are skipped. Token counting and parsing
    are vectorised (numpy over the bytes, then pandas' C parser).
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    buf = np.frombuffer(raw, dtype=np.uint8)
    if not buf.size:
        raise DataError(f"{path}: file is empty")
    newline = buf == 10
    blank = newline | (buf == 32) | (buf == 9)
    starts = ~blank
    starts[1:] &= blank[:-1]
    line_of_token = np.searchsorted(np.flatnonzero(newline), np.flatnonzero(starts))
    del blank, starts
    n_lines = int(newline.sum()) + 1
    counts = np.bincount(line_of_token, minlength=n_lines)
    bad = np.flatnonzero((counts != 0) & (counts != n_columns))
    if bad.size:
        line = int(bad[0])
        raise DataError(
            f"{path}: line {line + 1} has {counts[line]} columns, expected {n_columns}"
            + (f" ({bad.size} such lines)" if bad.size > 1 else "")
        )
    rows = int((counts != 0).sum())
    if rows == 0:
        raise DataError(f"{path}: file holds no data rows")
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            sep=r"\s+",
            header=None,
            dtype=np.float64,
            quoting=csv.QUOTE_NONE,
            engine="c",
        )
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError):
        frame = None
    if frame is None or frame.shape != (rows, n_columns):
        raise DataError(_non_numeric(path, raw, counts, n_columns))
    x = frame.to_numpy(dtype=np.float64, copy=True)
    if np.isinf(x).any():
        r, c = np.argwhere(np.isinf(x))[0]
        line = int(np.flatnonzero(counts)[r]) + 1
        raise DataError(f"{path}: line {line}, column {c + 1} is infinite")
    return x


def _non_numeric(path: Path, raw: bytes, counts: np.ndarray, n_columns: int) -> str:
    """Message naming the first non-numeric token (error path only)."""
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            sep=r"\s+",
            header=None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
        )
        num = frame.apply(pd.to_numeric, errors="coerce")
        bad = num.isna().to_numpy() & (frame.to_numpy() != "NaN")
        if bad.any():
            r, c = np.argwhere(bad)[0]
            line = int(np.flatnonzero(counts)[r]) + 1
            token = str(frame.iat[r, c])[:40]
            return f"{path}: line {line}, column {c + 1}: {token!r} is not a number"
    except (ValueError, OverflowError, pd.errors.ParserError, pd.errors.EmptyDataError):
        pass
    return f"{path}: not a table of {n_columns} whitespace-separated numbers"


def fill_gaps(x: np.ndarray, *, both_ends: bool) -> tuple[np.ndarray, int, int]:
    """Linearly interpolate NaN per column (by sample position).

    ``both_ends=True`` fills leading NaN with the first valid value (trailing NaN always
    take the last one). Returns (filled, n_filled, rows_with_any_fill); NaN left over
    (a column with no valid value, or leading NaN with ``both_ends=False``) stay NaN.
    """
    nan = np.isnan(x)
    if not nan.any():
        return x, 0, 0
    direction = "both" if both_ends else "forward"
    filled = pd.DataFrame(x).interpolate(method="linear", limit_direction=direction)
    out = filled.to_numpy(dtype=np.float64, copy=True)
    done = nan & ~np.isnan(out)
    return out, int(done.sum()), int(done.any(axis=1).sum())


# ----------------------------------------------------------------------------- files
def _root(path: str | Path | None) -> Path:
    base, where = candidate_root(path, "pamap2")
    if base is not None:
        for cand in (base, base / "PAMAP2_Dataset"):
            if (cand / "Protocol").is_dir() or (cand / "Optional").is_dir():
                return cand
    raise DataError(
        f"PAMAP2 not found: looked for Protocol/ in {where} and {where}/PAMAP2_Dataset. "
        "Download PAMAP2_Dataset.zip from the UCI Machine Learning Repository ('PAMAP2 "
        "Physical Activity Monitoring'), unzip it and pass path= to the PAMAP2_Dataset "
        "folder, or set HARLAB_SHARED_DATA to a folder containing pamap2/PAMAP2_Dataset"
    )


def _check_options(options: dict) -> None:
    check_options(NAME, options, _OPTIONS)
    sessions = options.get("sessions", "protocol")
    if sessions not in ("protocol", "optional", "both"):
        raise unknown_name(f"{NAME} sessions", str(sessions), ("protocol", "optional", "both"))
    preset = options.get("channels", "acc16_gyro_mag")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise unknown_name(f"{NAME} channels preset", str(preset), PRESETS)


def _subjects(options: dict) -> set[int] | None:
    wanted = int_list(NAME, options, "subjects", "numbers 101..109")
    return None if wanted is None else set(wanted)


def _files(root: Path, options: dict) -> list[tuple[str, int, Path]]:
    """(session, subject, path) of every file to load, session/subject ordered."""
    _check_options(options)
    sessions = options.get("sessions", "protocol")
    chosen = ["protocol", "optional"] if sessions == "both" else [sessions]
    wanted = _subjects(options)
    out, seen = [], set()
    for session in chosen:
        d = root / _SESSION_DIRS[session]
        if not d.is_dir():
            raise DataError(f"PAMAP2: {root} has no {_SESSION_DIRS[session]}/ folder")
        found = {int(m.group(1)): p for p in d.iterdir() if (m := _FILE.fullmatch(p.name))}
        if not found:
            raise DataError(f"PAMAP2: no subject<N>.dat files in {d}")
        seen |= set(found)
        out.extend(
            (session, s, p) for s, p in sorted(found.items()) if wanted is None or s in wanted
        )
    missing = sorted((wanted or set()) - seen)
    if missing:
        raise DataError(
            f"PAMAP2: no file for subject(s) {missing} in the {sessions} session(s) under "
            f"{root}; found {sorted(seen)}"
        )
    return out


def _columns(options: dict) -> tuple[list[int], list[str], list[str]]:
    """0-based file columns, channel names and units for the chosen channel set."""
    cols, names, units = [], [], []
    if options.get("heart_rate", False):
        cols.append(2)
        names.append("heart_rate")
        units.append("bpm")
    sensors = PRESETS[options.get("channels", "acc16_gyro_mag")]
    for imu in IMUS:
        start = _IMU_START[imu]
        if options.get("temperature", False):
            cols.append(start)
            names.append(f"{imu}_temperature")
            units.append("degC")
        for s in sensors:
            off, unit = _SENSORS[s]
            for i, axis in enumerate("xyz"):
                cols.append(start + off + i)
                names.append(f"{imu}_{s}_{axis}")
                units.append(unit)
    return cols, names, units


def _read(session: str, subject: int, p: Path, options: dict, counts: dict[str, int]) -> Recording:
    table = read_table(p, N_COLUMNS)
    check_time_order(p, table[:, 0])
    act = table[:, 1]
    if np.isnan(act).any():
        line = int(np.flatnonzero(np.isnan(act))[0]) + 1
        raise DataError(f"{p}: activityID is NaN in data row {line}")
    valid = np.isin(act, [TRANSIENT, *ACTIVITIES])
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise DataError(
            f"{p}: data row {row + 1} has activityID {act[row]:g}, not an official PAMAP2 "
            f"activity (0 or {sorted(ACTIVITIES)})"
        )
    labels = act.astype(np.int64)
    transient = labels == TRANSIENT
    counts["transient_samples"] += int(transient.sum())
    if options.get("drop_transient", True):
        labels[transient] = UNLABELLED
    cols, names, units = _columns(options)
    x = table[:, cols]
    if options.get("interpolate", True):
        x, n_filled, n_rows = fill_gaps(x, both_ends=True)
        counts["interpolated_values"] += n_filled
        counts["interpolated_rows"] += n_rows
        still = np.isnan(x)
        if still.any():
            counts["all_nan_channel_values"] += int(still.sum())
            x[still] = 0.0
    return Recording(
        data=x,
        labels=labels,
        rate=RATE,
        channels=tuple(names),
        units=tuple(units),
        subject=str(subject),
        session=session,
        meta={"file": str(p), "t0": float(table[0, 0])},
    )


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """PAMAP2 read one subject<N>.dat file at a time (see the module docstring)."""
    root = _root(path)
    files = _files(root, options)
    sessions = options.get("sessions", "protocol")
    counts = {"transient_samples": 0, "interpolated_values": 0, "interpolated_rows": 0,
              "all_nan_channel_values": 0}
    out = RecordingStream(NAME, iter(()), citation=CITATION, dropped=counts, info={
        "source": str(root),
        "sessions": sessions,
        "interpolated": bool(options.get("interpolate", True)),
        "transient": "unlabelled" if options.get("drop_transient", True) else "class 0",
    })
    out.recordings = _each(files, options, out)
    return out


def _each(files: list[tuple[str, int, Path]], options: dict, out: RecordingStream
          ) -> Iterator[Recording]:
    """The recordings of ``files``; ``out.classes`` once all are read: the official
    activities of the chosen sessions plus any other official activity seen."""
    sessions = options.get("sessions", "protocol")
    ids = set()
    if sessions in ("protocol", "both"):
        ids |= set(PROTOCOL_ACTIVITIES)
    if sessions in ("optional", "both"):
        ids |= set(OPTIONAL_ACTIVITIES)
    for session, subj, p in files:
        rec = _read(session, subj, p, options, out.dropped)
        ids |= {int(v) for v in np.unique(rec.labels) if v in ACTIVITIES}
        yield rec
    out.classes = {i: ACTIVITIES[i] for i in sorted(ids)}
    if not options.get("drop_transient", True):
        out.classes = {TRANSIENT: "transient", **out.classes}


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load PAMAP2: one recording per subject<N>.dat file (see the module docstring)."""
    return stream(path, **options).collect()


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    root = _root(path)
    files = [p for *_, p in _files(root, options)]
    return files_fingerprint(NAME, root, files, options)
