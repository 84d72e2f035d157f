"""UCI-HAR (Anguita et al. 2013): waist smartphone, 30 subjects, 6 activities, 50 Hz windows.

Original layout (``path`` is the ``UCI HAR Dataset`` folder or the folder holding it)::

    {train,test}/Inertial Signals/{total_acc,body_acc,body_gyro}_{x,y,z}_{split}.txt
    {train,test}/subject_{split}.txt   {train,test}/y_{split}.txt   activity_labels.txt

Each signal row is one 128-sample window (2.56 s at 50 Hz, 50 % overlap with its
neighbours) written as fixed-width floats; ``total_acc``/``body_acc`` are in g (body_acc
has gravity removed), ``body_gyro`` in rad/s. Every window becomes ONE :class:`Recording`
of 128 samples all labelled with its ``y`` value; ``subject=str(subject)``,
``session=f"{split}-{row}"`` and ``meta={"split", "row", "file"}`` (row is 0-based).
``official_split`` maps every subject to the split whose ``subject_*.txt`` lists it.

Options: ``signals`` (default ``("total_acc", "body_gyro")``; any of ``total_acc``,
``body_acc``, ``body_gyro``, in the given order, x/y/z each → channels such as
``total_acc_x``), ``splits`` (default ``("train", "test")``). Only the requested signal
files are read. Every signal file of a split must have the same number of rows as
``subject_*.txt`` and ``y_*.txt`` and exactly 128 numeric columns.
``path=None`` means ``shared_data_dir()/"uci_har"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.data.recording import Recording, RecordingSet
from harlab.data.sources.common import candidate_root, check_options, files_fingerprint
from harlab.errors import ConfigError, DataError, unknown_name

NAME = "uci_har"
RATE = 50.0
WINDOW = 128
DIR_NAME = "UCI HAR Dataset"
SIGNALS = ("total_acc", "body_acc", "body_gyro")
SIGNAL_UNITS = {"total_acc": "g", "body_acc": "g", "body_gyro": "rad/s"}
DEFAULT_SIGNALS = ("total_acc", "body_gyro")
SPLITS = ("train", "test")
CLASSES = {
    1: "WALKING",
    2: "WALKING_UPSTAIRS",
    3: "WALKING_DOWNSTAIRS",
    4: "SITTING",
    5: "STANDING",
    6: "LAYING",
}
CITATION = (
    "D. Anguita, A. Ghio, L. Oneto, X. Parra, J. L. Reyes-Ortiz. A Public Domain Dataset "
    "for Human Activity Recognition Using Smartphones. ESANN 2013."
)
URL = "https://archive.ics.uci.edu/dataset/240/human+activity+recognition+using+smartphones"
INFO: dict[str, Any] = {
    "summary": "UCI-HAR smartphone acc (g) + gyro (rad/s) 128-sample windows, 30 subjects",
    "subjects": 30,
    "classes": len(CLASSES),
    "class_ids": dict(CLASSES),
    "channels": tuple(f"{s}_{a}" for s in DEFAULT_SIGNALS for a in "xyz"),
    "rate": RATE,
    "size": "10,299 windows of 128 samples (7,352 train, 2,947 test)",
    "citation": CITATION,
    "licence": f"CC BY 4.0 (UCI Machine Learning Repository, {URL})",
    "download": {  # UCI publishes no checksum: sha256 None (harlab prints the computed one)
        "url": "https://archive.ics.uci.edu/static/public/240/"
        "human+activity+recognition+using+smartphones.zip",
        "sha256": None,
        "page": URL,
    },
}
_OPTIONS = ("signals", "splits")


def _root(path: str | Path | None) -> Path:
    root, where = candidate_root(path, "uci_har")
    if root is not None and (root / DIR_NAME).is_dir():
        root = root / DIR_NAME
    if root is None or not root.is_dir() or not any((root / s).is_dir() for s in SPLITS):
        raise DataError(
            f"UCI-HAR not found: looked in {where} for '{DIR_NAME}' with train/ and test/. "
            f"Download 'UCI HAR Dataset.zip' from the official site {URL}, unzip it and pass "
            "path= to that folder, or put it in <shared data>/uci_har/ (HARLAB_SHARED_DATA)"
        )
    return root


def _tuple_option(options: dict, key: str, default: tuple, allowed: tuple) -> tuple[str, ...]:
    value = options.get(key, default)
    items = (value,) if isinstance(value, str) else value
    try:
        items = tuple(items)
    except TypeError:
        raise ConfigError(f"{NAME}: {key} must be a list of names, got {value!r}") from None
    if not items:
        raise ConfigError(f"{NAME}: {key} must not be empty")
    for s in items:
        if s not in allowed:
            raise unknown_name(f"{NAME} {key[:-1]}", str(s), allowed)
    if len(set(items)) != len(items):
        raise ConfigError(f"{NAME}: {key} has duplicates: {list(items)}")
    return items


def _options(options: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    check_options(NAME, options, _OPTIONS)
    signals = _tuple_option(options, "signals", DEFAULT_SIGNALS, SIGNALS)
    splits = _tuple_option(options, "splits", SPLITS, SPLITS)
    return signals, splits


def _files(root: Path, split: str, signals: tuple[str, ...]) -> dict[str, Path]:
    d = root / split
    files = {"subject": d / f"subject_{split}.txt", "y": d / f"y_{split}.txt"}
    for s in signals:
        for a in "xyz":
            files[f"{s}_{a}"] = d / "Inertial Signals" / f"{s}_{a}_{split}.txt"
    for f in files.values():
        if not f.is_file():
            raise DataError(f"UCI-HAR: missing file {f}")
    return files


def _table(f: Path, what: str) -> np.ndarray:
    """Read a whitespace-separated numeric table as a 2-D float64 array."""
    try:
        df = pd.read_csv(f, sep=r"\s+", header=None, dtype=np.float64, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{f}: empty file (expected {what})") from None
    except (ValueError, pd.errors.ParserError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{f}: not a table of numbers ({what}): {msg}") from None
    except OSError as e:
        raise DataError(f"{f}: cannot read file ({e.strerror or e})") from None
    x = df.to_numpy(np.float64)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise DataError(f"{f}: missing or non-finite value in row {bad + 1} ({what})")
    return x


def _ids(f: Path, what: str) -> np.ndarray:
    x = _table(f, what)
    if x.shape[1] != 1:
        raise DataError(f"{f}: expected one {what} per line, found {x.shape[1]} columns")
    v = x[:, 0]
    if not (v == np.round(v)).all():
        bad = int(np.flatnonzero(v != np.round(v))[0])
        raise DataError(f"{f}: {what} in row {bad + 1} is not an integer ({v[bad]})")
    return v.astype(np.int64)


def _class_names(root: Path) -> dict[int, str]:
    f = root / "activity_labels.txt"
    if not f.is_file():
        return dict(CLASSES)
    try:
        lines = [ln.split() for ln in f.read_text(errors="replace").splitlines() if ln.strip()]
        classes = {int(p[0]): p[1] for p in lines}
    except (ValueError, IndexError, OSError):
        raise DataError(f"{f}: expected lines '<id> <NAME>', e.g. '1 WALKING'") from None
    if not classes:
        raise DataError(f"{f}: no activity labels")
    return classes


def _read_split(root: Path, split: str, signals: tuple[str, ...], classes: dict) -> dict:
    files = _files(root, split, signals)
    subj = _ids(files["subject"], "subject id")
    y = _ids(files["y"], "activity id")
    if len(y) != len(subj):
        raise DataError(f"{files['y']}: {len(y)} lines but {files['subject'].name} has {len(subj)}")
    bad = np.flatnonzero(~np.isin(y, list(classes)))
    if bad.size:
        raise DataError(
            f"{files['y']}: activity {y[bad[0]]} in row {bad[0] + 1} is not one of "
            f"{sorted(classes)}"
        )
    chans = []
    for key, f in files.items():
        if key in ("subject", "y"):
            continue
        x = _table(f, f"{WINDOW} values per row")
        if x.shape[1] != WINDOW:
            raise DataError(f"{f}: rows have {x.shape[1]} values, expected {WINDOW}")
        if len(x) != len(subj):
            raise DataError(f"{f}: {len(x)} rows but {files['subject'].name} has {len(subj)} lines")
        chans.append(x)
    data = np.stack(chans, axis=2).astype(np.float32)  # (windows, 128, channels)
    return {"subject": subj, "y": y, "data": data, "file": files["subject"]}


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load UCI-HAR: one 128-sample recording per window (see the module docstring)."""
    signals, splits = _options(options)
    root = _root(path)
    classes = _class_names(root)
    channels = tuple(f"{s}_{a}" for s in signals for a in "xyz")
    units = tuple(SIGNAL_UNITS[s] for s in signals for _ in "xyz")
    recs: list[Recording] = []
    official: dict[str, str] = {}
    for split in splits:
        part = _read_split(root, split, signals, classes)
        for s in np.unique(part["subject"]).tolist():
            other = official.get(str(s))
            if other is not None and other != split:
                raise DataError(
                    f"{part['file']}: subject {s} also appears in the {other} split; "
                    "the official split must be subject-disjoint"
                )
            official[str(s)] = split
        file = str(part["file"])
        for i, (s, lab) in enumerate(
            zip(part["subject"].tolist(), part["y"].tolist(), strict=True)
        ):
            recs.append(
                Recording(
                    data=part["data"][i],
                    labels=np.full(WINDOW, lab, dtype=np.int64),
                    rate=RATE,
                    channels=channels,
                    units=units,
                    subject=str(s),
                    session=f"{split}-{i}",
                    meta={"split": split, "row": i, "file": file},
                )
            )
    return RecordingSet(
        name=NAME,
        recordings=recs,
        classes=classes,
        official_split=official,
        citation=CITATION,
        info={"source": str(root), "signals": signals, "splits": splits, "window": WINDOW},
    )


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    signals, splits = _options(options)
    root = _root(path)
    files = [f for split in splits for f in _files(root, split, signals).values()]
    labels = root / "activity_labels.txt"
    if labels.is_file():
        files.append(labels)
    return files_fingerprint(NAME, root, files, options)
