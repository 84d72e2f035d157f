"""WISDM v1.1 (Kwapisz, Weiss, Moore 2010): phone accelerometer, 36 users, 6 activities, 20 Hz.

Original file: ``WISDM_ar_v1.1_raw.txt`` with records ``user,activity,timestamp,x,y,z;``
(``path`` is the file or the folder holding it). x, y, z are m/s² with gravity, 10 ≈ 1 g;
timestamps are phone uptime in ns and are noisy and reset, so the file order is kept and
never re-sorted by timestamp.

Quirks of the raw file (all handled, vectorised with pyarrow compute): every record ends
in ``;``; some physical lines hold several ``;``-separated records; some records end in ``,;``
(one trailing comma is stripped); some records have missing fields; some timestamps are 0.
Only records with exactly 6 fields, a non-negative integer user, a known activity name and
finite numeric timestamp/x/y/z are kept. Every other record is counted in
``RecordingSet.dropped`` by reason:

* ``records_malformed``: wrong number of fields, empty or non-numeric user/timestamp/x/y/z;
* ``records_unknown_activity``: well-formed but the activity is not one of the six names;
* ``records_zero_timestamp``: well-formed and known, but ``timestamp == 0``.

Recordings: one per contiguous run of (user, activity) in file order (a new run starts
whenever the user or the activity changes); ``subject=str(user)``, ``session`` = run index
within that user ("0", "1", ...); ``meta`` has ``file``, ``first_record`` (0-based index of
the run's first kept record), ``first_timestamp`` and ``last_timestamp`` (ns).

Labels: 1 Walking, 2 Jogging, 3 Upstairs, 4 Downstairs, 5 Sitting, 6 Standing.
``path=None`` means ``shared_data_dir()/"wisdm_v1.1"``. Option ``subjects`` keeps only
those users (records of other users are not counted as dropped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harlab.data.recording import Recording, RecordingSet
from harlab.data.sources.common import (
    candidate_root,
    check_options,
    files_fingerprint,
    int_list,
)
from harlab.errors import DataError

NAME = "wisdm"
RATE = 20.0
FILE_NAME = "WISDM_ar_v1.1_raw.txt"
CHANNELS = ("acc_x", "acc_y", "acc_z")
UNITS = ("m/s^2", "m/s^2", "m/s^2")
CLASSES = {
    1: "Walking",
    2: "Jogging",
    3: "Upstairs",
    4: "Downstairs",
    5: "Sitting",
    6: "Standing",
}
CITATION = (
    "J. R. Kwapisz, G. M. Weiss, S. A. Moore. Activity Recognition using Cell Phone "
    "Accelerometers. ACM SIGKDD Explorations 12(2), 74-82, 2010."
)
URL = "https://www.cis.fordham.edu/wisdm/dataset.php"
INFO: dict[str, Any] = {
    "summary": "WISDM v1.1 phone accelerometer (m/s^2, 10 ~ 1 g), 36 users, 6 activities",
    "subjects": 36,
    "classes": len(CLASSES),
    "class_ids": dict(CLASSES),
    "channels": CHANNELS,
    "rate": RATE,
    "size": "1,098,207 raw records in WISDM_ar_v1.1_raw.txt (the dataset's readme)",
    "citation": CITATION,
    "licence": f"free for research use, cite the paper (WISDM Lab, {URL})",
    "download": {  # the WISDM Lab publishes no checksum
        "url": "https://www.cis.fordham.edu/wisdm/includes/datasets/latest/WISDM_ar_latest.tar.gz",
        "sha256": None,
        "page": URL,
    },
}
_OPTIONS = ("subjects",)
_DROP_REASONS = ("records_malformed", "records_unknown_activity", "records_zero_timestamp")
_SEP = "[;\r\n]"
_UINT = r"^[0-9]{1,9}$"
_FLOAT = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def _file(path: str | Path | None) -> Path:
    f, where = candidate_root(path, "wisdm_v1.1")  # the file itself, or a folder holding it
    if f is not None and (path is None or f.is_dir()):
        f = f / FILE_NAME
        where = str(f)
    if f is None or not f.is_file():
        raise DataError(
            f"WISDM v1.1 not found: looked for {where}. Download WISDM_ar_latest.tar.gz from "
            f"the official site {URL}, unpack it and pass path= to {FILE_NAME} or its folder, "
            "or put it in <shared data>/wisdm_v1.1/ (HARLAB_SHARED_DATA)"
        )
    return f


def _subjects(options: dict) -> set[int] | None:
    check_options(NAME, options, _OPTIONS)
    wanted = int_list(NAME, options, "subjects", "user numbers")
    return None if wanted is None else set(wanted)


def parse_records(text: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Parse raw WISDM text into kept records and drop counts (vectorised, pyarrow compute).

    Returns a DataFrame with columns ``user`` (int64), ``activity`` (int64 class id),
    ``timestamp`` (float64 ns), ``x``, ``y``, ``z`` (float64) in file order, and the
    number of dropped records per reason (every reason present, possibly 0).
    """
    parts = pc.list_flatten(pc.split_pattern_regex(pa.array([text], pa.large_string()), _SEP))
    parts = pc.utf8_trim_whitespace(parts)
    parts = parts.filter(pc.greater(pc.utf8_length(parts), 0))
    # strip one trailing comma (records written as "...,z,;")
    parts = pc.replace_substring_regex(parts, ",$", "", max_replacements=1)
    n = len(parts)
    rec = parts.filter(pc.equal(pc.count_substring(parts, ","), 5))
    m = len(rec)
    flat = pc.list_flatten(pc.split_pattern(rec, ","))  # exactly 6 fields per record
    fields = [pc.utf8_trim_whitespace(pc.take(flat, np.arange(i, 6 * m, 6))) for i in range(6)]
    user_ok = _mask(pc.match_substring_regex(fields[0], _UINT))
    num = np.column_stack([_floats(fields[i]) for i in (2, 3, 4, 5)]) if m else np.empty((0, 4))
    well = user_ok & np.isfinite(num).all(axis=1)
    idx = pc.index_in(fields[1], value_set=pa.array(list(CLASSES.values())))
    act = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    known = well & (act > 0)
    keep = known & (num[:, 0] != 0)
    dropped = {
        "records_malformed": int(n - well.sum()),
        "records_unknown_activity": int(well.sum() - known.sum()),
        "records_zero_timestamp": int(known.sum() - keep.sum()),
    }
    users = pc.cast(pc.if_else(user_ok, fields[0], "0"), pa.int64()).to_numpy(zero_copy_only=False)
    out = pd.DataFrame(
        {
            "user": np.asarray(users, dtype=np.int64)[keep],
            "activity": act[keep],
            "timestamp": num[keep, 0],
            "x": num[keep, 1],
            "y": num[keep, 2],
            "z": num[keep, 3],
        }
    )
    return out, dropped


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _floats(field: pa.Array) -> np.ndarray:
    """Decimal/scientific strings to float64; anything else (empty, junk) to NaN."""
    ok = pc.match_substring_regex(field, _FLOAT)
    try:
        vals = pc.cast(pc.if_else(ok, field, "nan"), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # pragma: no cover - safety net
        return pd.to_numeric(pd.Series(field.to_pylist(), dtype=object), errors="coerce").to_numpy(
            np.float64
        )
    return np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64)


def _read_text(f: Path) -> str:
    try:
        raw = f.read_bytes()
    except OSError as e:
        raise DataError(f"{f}: cannot read file ({e.strerror or e})") from None
    if b"\x00" in raw[:4096]:
        raise DataError(f"{f}: not a text file (binary data); expected WISDM v1.1 raw records")
    return raw.decode("utf-8", errors="replace")


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load WISDM v1.1 raw: one recording per contiguous (user, activity) run."""
    wanted = _subjects(options)
    f = _file(path)
    df, dropped = parse_records(_read_text(f))
    total = len(df) + sum(dropped.values())
    if df.empty:
        raise DataError(
            f"{f}: no valid WISDM records (of {total} records: "
            + ", ".join(f"{k}={v}" for k, v in dropped.items())
            + "); expected lines like '33,Jogging,49105962326000,-0.69,12.68,0.50;'"
        )
    index = np.arange(len(df))
    if wanted is not None:
        sel = df["user"].isin(wanted).to_numpy()
        missing = sorted(wanted - set(df["user"].unique().tolist()))
        if missing:
            raise DataError(f"{f}: no records of user(s) {missing}")
        df, index = df[sel].reset_index(drop=True), index[sel]
    user = df["user"].to_numpy()
    act = df["activity"].to_numpy()
    xyz = df[["x", "y", "z"]].to_numpy(np.float64)
    ts = df["timestamp"].to_numpy()
    change = (user[1:] != user[:-1]) | (act[1:] != act[:-1])
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    ends = np.concatenate([starts[1:], [len(df)]])
    runs_per_user: dict[int, int] = {}
    recs = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        u = int(user[s])
        k = runs_per_user.get(u, 0)
        runs_per_user[u] = k + 1
        recs.append(
            Recording(
                data=xyz[s:e],
                labels=np.full(e - s, act[s], dtype=np.int64),
                rate=RATE,
                channels=CHANNELS,
                units=UNITS,
                subject=str(u),
                session=str(k),
                meta={
                    "file": str(f),
                    "first_record": int(index[s]),
                    "first_timestamp": int(ts[s]),
                    "last_timestamp": int(ts[e - 1]),
                },
            )
        )
    return RecordingSet(
        name=NAME,
        recordings=recs,
        classes=dict(CLASSES),
        official_split=None,
        citation=CITATION,
        dropped=dropped,
        info={"source": str(f), "records_total": total, "records_kept": int(len(index))},
    )


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input file (name, size, mtime) for caching."""
    _subjects(options)
    f = _file(path)
    return files_fingerprint(NAME, f.parent, [f], options)
