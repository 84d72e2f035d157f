"""USC-HAD: 14 subjects, 12 activities, hip-worn MotionNode acc (g) + gyro (dps) at 100 Hz.

Original layout: ``<root>/SubjectN/a{activity}t{trial}.mat``, one MATLAB file per trial
(5 trials per activity and subject, 840 files). One :class:`Recording` per file; every
sample carries the activity number, ``subject=str(N)``, ``session=f"t{trial}"``.
``meta`` has ``file``, ``age`` (years), ``height`` (cm), ``weight`` (kg) as numbers,
``sensor_location``, ``sensor_orientation``, ``date`` and ``comments`` when present.

Activity, trial and subject are taken from the path, which is authoritative. Quirks in
the original files (all handled): one file spells ``activity_numbr``; three carry an
extra ``comments`` field; activity names vary ("walk-forward" vs "walking-forward",
"run" vs "running"); three headers disagree with their file name (Subject14/a3t2.mat
says activity 2 although its data is walking right; Subject3/a8t5 and Subject5/a8t3
name the wrong trial). Disagreements are noted in ``meta["header_mismatch"]`` and
``RecordingSet.info["quirks"]``.

``path=None`` means ``shared_data_dir()/"usc_had"``. Option ``subjects`` loads a subset.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from harlab.data.recording import Recording, RecordingSet, RecordingStream
from harlab.data.sources.common import (
    candidate_root,
    check_options,
    files_fingerprint,
    int_list,
)
from harlab.data.sources.matfile import read_mat
from harlab.errors import DataError

NAME = "usc_had"
RATE = 100.0
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
UNITS = ("g", "g", "g", "dps", "dps", "dps")
CLASSES = {
    1: "Walking Forward",
    2: "Walking Left",
    3: "Walking Right",
    4: "Walking Upstairs",
    5: "Walking Downstairs",
    6: "Running Forward",
    7: "Jumping Up",
    8: "Sitting",
    9: "Standing",
    10: "Sleeping",
    11: "Elevator Up",
    12: "Elevator Down",
}
CITATION = (
    "M. Zhang, A. A. Sawchuk. USC-HAD: A Daily Activity Dataset for Ubiquitous Activity "
    "Recognition Using Wearable Sensors. ACM UbiComp Workshop on Situation, Activity and "
    "Goal Awareness (SAGAware), 2012."
)
INFO: dict[str, Any] = {
    "summary": "USC-HAD hip MotionNode acc+gyro, 14 subjects, 12 activities, 5 trials each",
    "subjects": 14,
    "classes": len(CLASSES),
    "channels": CHANNELS,
    "rate": RATE,
    "size": "840 .mat files (14 subjects x 12 activities x 5 trials), about 45 MB",
    "citation": CITATION,
    "licence": "free for research use, cite the paper (USC SIPI, sipi.usc.edu/had)",
    "download": {  # USC SIPI publishes no checksum
        "url": "https://sipi.usc.edu/had/USC-HAD.zip",
        "sha256": None,
        "page": "https://sipi.usc.edu/had/",
    },
}
_OPTIONS = ("subjects",)
_SUBJECT_DIR = re.compile(r"Subject(\d+)")
_FILE = re.compile(r"a(\d+)t(\d+)\.mat")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _root(path: str | Path | None) -> Path:
    root, where = candidate_root(path, "usc_had")
    if root is None or not root.is_dir():
        raise DataError(
            f"USC-HAD not found: looked in {where}. Pass path= to the folder holding "
            "Subject1..Subject14, or set HARLAB_SHARED_DATA to a folder containing usc_had/"
        )
    return root


def _files(root: Path, options: dict) -> list[tuple[int, int, int, Path]]:
    """(subject, activity, trial, path) of every trial file, subject/activity/trial ordered."""
    check_options(NAME, options, _OPTIONS)
    dirs = {int(m.group(1)): d for d in root.iterdir() if (m := _SUBJECT_DIR.fullmatch(d.name))}
    if not dirs:
        raise DataError(f"USC-HAD: {root} holds no Subject<N> folders")
    wanted = int_list(NAME, options, "subjects", "subject numbers")
    if wanted is not None:
        missing = sorted(set(wanted) - set(dirs))
        if missing:
            raise DataError(f"USC-HAD: {root} has no subject(s) {missing}; found {sorted(dirs)}")
        dirs = {s: dirs[s] for s in wanted}
    out = []
    for subj, d in dirs.items():
        for p in d.glob("*.mat"):
            if m := _FILE.fullmatch(p.name):
                out.append((subj, int(m.group(1)), int(m.group(2)), p))
    if not out:
        raise DataError(f"USC-HAD: no a<activity>t<trial>.mat files under {root}")
    return sorted(out)


def _field(mat: dict, *names: str) -> str | None:
    for n in names:
        if n in mat:
            v = np.ravel(mat[n])
            return str(v[0]).strip() if v.size else ""
    return None


def _number(text: str | None) -> float | None:
    m = _NUMBER.search(text or "")
    return float(m.group()) if m else None


def _read(subj: int, act: int, trial: int, p: Path, quirks: list[str]) -> Recording:
    """One trial file as a recording; header disagreements are appended to ``quirks``."""
    mat = read_mat(p, prefix="cannot read MATLAB file: ")
    x = mat.get("sensor_readings")
    if x is None:
        raise DataError(f"{p}: no 'sensor_readings' field")
    if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == 6 and len(x)):
        raise DataError(f"{p}: sensor_readings must be an (N, 6) numeric matrix, got {x.shape}")
    try:
        x = x.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{p}: sensor_readings is not numeric ({x.dtype})") from None
    for bad_rows, what in (
        (~np.isfinite(x).all(axis=1), "NaN/inf values"),
        ((np.abs(x) > np.finfo(np.float32).max).any(axis=1), "values out of float32 range"),
    ):
        if bad_rows.any():
            row = int(np.flatnonzero(bad_rows)[0]) + 1
            raise DataError(f"{p}: sensor_readings has {what} (first at row {row})")
    if act not in CLASSES:
        raise DataError(f"{p}: activity {act} in the file name is not one of 1..12")
    mismatch = []
    for key, expected in [
        (("activity_number", "activity_numbr"), act),
        (("trial",), trial),
        (("subject",), subj),
    ]:
        got = _number(_field(mat, *key))
        if got is not None and got != expected:
            mismatch.append(f"{key[0]}={got:g} (file name says {expected})")
    meta: dict[str, Any] = {"file": str(p)}
    age = _number(_field(mat, "age"))
    meta["age"] = int(age) if age is not None and age.is_integer() else age
    meta["height"] = _number(_field(mat, "height"))
    meta["weight"] = _number(_field(mat, "weight"))
    for k in ("sensor_location", "sensor_orientation", "date", "comments"):
        v = _field(mat, k)
        if v is not None:
            meta[k] = v
    if mismatch:
        meta["header_mismatch"] = "; ".join(mismatch)
    quirks.extend(f"{p.parent.name}/{p.name}: {q}" for q in mismatch)
    return Recording(
        data=x,
        labels=np.full(len(x), act, dtype=np.int64),
        rate=RATE,
        channels=CHANNELS,
        units=UNITS,
        subject=str(subj),
        session=f"t{trial}",
        meta=meta,
    )


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """USC-HAD read one .mat file at a time (see the module docstring)."""
    root = _root(path)
    files = _files(root, options)
    quirks: list[str] = []
    return RecordingStream(NAME, (_read(*item, quirks) for item in files), dict(CLASSES),
                           None, CITATION, info={"source": str(root), "quirks": quirks})


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load USC-HAD: one recording per original .mat file (see the module docstring)."""
    return stream(path, **options).collect()


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    root = _root(path)
    files = [p for *_, p in _files(root, options)]
    return files_fingerprint(NAME, root, files, options)
