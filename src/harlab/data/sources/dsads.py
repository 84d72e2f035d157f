"""Daily and Sports Activities (DSADS; Altun & Barshan): 5 Xsens units, 8 subjects, 19 activities.

Original layout (``path`` is the ``data`` folder or the folder holding it)::

    data/a{01..19}/p{1..8}/s{01..60}.txt

Each segment file is 125 rows (5 s at 25 Hz) × 45 comma-separated floats, no header:
5 units in the order torso (T), right arm (RA), left arm (LA), right leg (RL), left leg
(LL), each x,y,z accelerometer (m/s²), x,y,z gyroscope (rad/s), x,y,z magnetometer
(arbitrary units, written "au"). Channels are named ``T_acc_x`` .. ``LL_mag_z``.

The 60 segments of one (activity, subject) are consecutive 5-s pieces of one 5-minute
recording, so they are concatenated in segment order into ONE :class:`Recording`
(labels = activity id 1..19, ``subject=str(p)``, ``session="1"``, ``meta`` has ``file``
(the segment folder), ``activity`` and ``segments``). Segments must be numbered
s01..sNN without gaps; a segment with the wrong shape or a non-numeric value raises a
DataError naming the file.

Options: ``subjects`` (numbers 1..8) and ``activities`` (numbers 1..19) load a subset.
``path=None`` means ``shared_data_dir()/"dsads"``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.data.recording import Recording, RecordingSet, RecordingStream
from harlab.data.sources.common import (
    candidate_root,
    check_options,
    files_fingerprint,
    int_list,
)
from harlab.errors import ConfigError, DataError

NAME = "dsads"
RATE = 25.0
SEGMENT_ROWS = 125
UNITS_ORDER = ("T", "RA", "LA", "RL", "LL")
_SENSORS = (("acc", "m/s^2"), ("gyro", "rad/s"), ("mag", "au"))
CHANNELS = tuple(f"{u}_{s}_{a}" for u in UNITS_ORDER for s, _ in _SENSORS for a in "xyz")
UNITS = tuple(unit for _ in UNITS_ORDER for _, unit in _SENSORS for _ in "xyz")
N_COLS = len(CHANNELS)  # 45
CLASSES = {
    1: "sitting",
    2: "standing",
    3: "lying on back",
    4: "lying on right side",
    5: "ascending stairs",
    6: "descending stairs",
    7: "standing in an elevator still",
    8: "moving around in an elevator",
    9: "walking in a parking lot",
    10: "walking on a treadmill 4 km/h flat",
    11: "walking on a treadmill 4 km/h 15 deg inclined",
    12: "running on a treadmill 8 km/h",
    13: "exercising on a stepper",
    14: "exercising on a cross trainer",
    15: "cycling on an exercise bike horizontal",
    16: "cycling on an exercise bike vertical",
    17: "rowing",
    18: "jumping",
    19: "playing basketball",
}
CITATION = (
    "K. Altun, B. Barshan, O. Tuncel. Comparative study on classifying human activities "
    "with miniature inertial and magnetic sensors. Pattern Recognition 43(10), 2010."
)
URL = "https://archive.ics.uci.edu/dataset/256/daily+and+sports+activities"
INFO: dict[str, Any] = {
    "summary": "DSADS 5 IMUs (acc m/s^2, gyro rad/s, mag), 8 subjects, 19 activities, 25 Hz",
    "subjects": 8,
    "classes": len(CLASSES),
    "class_ids": dict(CLASSES),
    "channels": CHANNELS,
    "rate": RATE,
    "size": "9,120 segments of 125 samples x 45 channels (19 activities x 8 subjects x 60)",
    "citation": CITATION,
    "licence": f"CC BY 4.0 (UCI Machine Learning Repository, {URL})",
    "download": {  # UCI publishes no checksum
        "url": "https://archive.ics.uci.edu/static/public/256/daily+and+sports+activities.zip",
        "sha256": None,
        "page": URL,
    },
}
_OPTIONS = ("subjects", "activities")
_ACT = re.compile(r"a(\d{2})")
_SUBJ = re.compile(r"p(\d+)")
_SEG = re.compile(r"s(\d{2})\.txt")


def _root(path: str | Path | None) -> Path:
    root, where = candidate_root(path, "dsads")
    if root is not None and (root / "data").is_dir():
        root = root / "data"
    if root is None or not root.is_dir() or not any(_ACT.fullmatch(d.name) for d in root.iterdir()):
        raise DataError(
            f"DSADS not found: looked in {where} for a01..a19 folders. Download the "
            f"'Daily and Sports Activities' data from the official site {URL}, unzip it and "
            "pass path= to its data/ folder, or put it in <shared data>/dsads/"
        )
    return root


def _ints(options: dict, key: str, allowed: range) -> set[int] | None:
    value = int_list(NAME, options, key, "numbers")
    if value is None:
        return None
    out = set(value)
    bad = sorted(out - set(allowed))
    if bad:
        raise ConfigError(f"{NAME}: {key} {bad} out of range {allowed.start}..{allowed.stop - 1}")
    return out


def _groups(root: Path, options: dict) -> list[tuple[int, int, list[Path]]]:
    """(activity, subject, segment files in order) for every selected folder."""
    check_options(NAME, options, _OPTIONS)
    subjects = _ints(options, "subjects", range(1, 9))
    activities = _ints(options, "activities", range(1, 20))
    out = []
    for ad in sorted(root.iterdir()):
        m = _ACT.fullmatch(ad.name)
        if not (m and ad.is_dir()):
            continue
        act = int(m.group(1))
        if act not in CLASSES:
            raise DataError(f"DSADS: {ad} is not an activity folder a01..a19")
        if activities is not None and act not in activities:
            continue
        for pd_ in sorted(ad.iterdir()):
            mp = _SUBJ.fullmatch(pd_.name)
            if not (mp and pd_.is_dir()):
                continue
            subj = int(mp.group(1))
            if subjects is not None and subj not in subjects:
                continue
            segs = {int(ms.group(1)): p for p in pd_.iterdir() if (ms := _SEG.fullmatch(p.name))}
            if not segs:
                raise DataError(f"DSADS: {pd_} holds no s01.txt.. segment files")
            missing = sorted(set(range(1, max(segs) + 1)) - set(segs))
            if missing:
                raise DataError(
                    f"DSADS: {pd_} is missing segment file(s) "
                    + ", ".join(f"s{i:02d}.txt" for i in missing)
                )
            out.append((act, subj, [segs[i] for i in sorted(segs)]))
    if not out:
        raise DataError(f"DSADS: no a??/p?/s??.txt files selected under {root}")
    found_s = {s for _, s, _ in out}
    found_a = {a for a, _, _ in out}
    for key, wanted, found in (("subject", subjects, found_s), ("activity", activities, found_a)):
        if wanted is not None and wanted - found:
            raise DataError(f"DSADS: {root} has no {key}(s) {sorted(wanted - found)}")
    return sorted(out)


def _parse(text: str, n_rows: int) -> np.ndarray | None:
    """Parse comma-separated floats; None if the shape/values are not (n_rows, 45)."""
    try:
        x = pd.read_csv(io.StringIO(text), header=None, dtype=np.float64).to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if x.shape != (n_rows, N_COLS) or not np.isfinite(x).all():
        return None
    return x


def _segment_error(f: Path, text: str) -> DataError:
    lines = text.strip().splitlines()
    if len(lines) != SEGMENT_ROWS:
        return DataError(f"{f}: {len(lines)} rows, expected {SEGMENT_ROWS} (5 s at 25 Hz)")
    for i, ln in enumerate(lines):
        if not ln.strip():
            return DataError(f"{f}: row {i + 1} is blank")
        parts = ln.split(",")
        if len(parts) != N_COLS:
            return DataError(f"{f}: row {i + 1} has {len(parts)} values, expected {N_COLS}")
        try:
            vals = [float(v) for v in parts]
        except ValueError:
            return DataError(f"{f}: row {i + 1} has a non-numeric value")
        if not np.isfinite(vals).all():
            return DataError(f"{f}: row {i + 1} has a non-finite value")
    return DataError(f"{f}: cannot parse as {SEGMENT_ROWS}x{N_COLS} comma-separated floats")


def _read_group(files: list[Path]) -> np.ndarray:
    texts = []
    for f in files:
        try:
            t = f.read_bytes().decode("utf-8", errors="replace")
        except OSError as e:
            raise DataError(f"{f}: cannot read file ({e.strerror or e})") from None
        t = t.strip()
        if t.count("\n") + 1 != SEGMENT_ROWS or "\n\n" in t.replace("\r", ""):
            raise _segment_error(f, t)
        texts.append(t + "\n")
    # fast path: all segments at once; on any problem find the offending file
    x = _parse("".join(texts), SEGMENT_ROWS * len(files))
    if x is not None:
        return x
    for f, t in zip(files, texts, strict=True):
        if _parse(t, SEGMENT_ROWS) is None:
            raise _segment_error(f, t)
    raise DataError(f"DSADS: cannot parse the segments in {files[0].parent}")  # pragma: no cover


def _read(act: int, subj: int, files: list[Path]) -> Recording:
    """One (activity, subject) folder's segments, concatenated, as one recording."""
    x = _read_group(files)
    return Recording(
        data=x,
        labels=np.full(len(x), act, dtype=np.int64),
        rate=RATE,
        channels=CHANNELS,
        units=UNITS,
        subject=str(subj),
        session="1",
        meta={"file": str(files[0].parent), "activity": act, "segments": len(files)},
    )


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """DSADS read one (activity, subject) folder at a time."""
    root = _root(path)
    groups = _groups(root, options)
    return RecordingStream(NAME, (_read(*g) for g in groups), dict(CLASSES), None, CITATION,
                           info={"source": str(root)})


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load DSADS: one recording per (activity, subject), segments concatenated."""
    return stream(path, **options).collect()


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    root = _root(path)
    files = [f for *_, group in _groups(root, options) for f in group]
    return files_fingerprint(NAME, root, files, options)
