"""OPPORTUNITY (UCI): 4 subjects, 5 ADL runs + 1 drill run each, body-worn sensors, 30 Hz.

Original layout: ``OpportunityUCIDataset/dataset/S{1..4}-{ADL1..ADL5,Drill}.dat``, each a
headerless whitespace-separated table of 250 columns with ``NaN`` gaps: col 1 MILLISEC,
cols 2-243 sensors, cols 244-250 labels (Locomotion, HL_Activity, LL_Left_Arm,
LL_Left_Arm_Object, LL_Right_Arm, LL_Right_Arm_Object, ML_Both_Arms; 0 = null).

This loader applies the OPPORTUNITY challenge preprocessing (as in DeepConvLSTM): delete
the 0-based columns 46-49, 59-62, 72-75, 85-88, 98-101 (IMU quaternions), 134-242
(object, ambient and location sensors) and 244-248 (the other label tracks), which leaves
MILLISEC + 113 sensor channels + Locomotion + ML_Both_Arms. Channel names and units are
parsed from the official ``column_names.txt`` (looked up in the ``dataset/`` folder, the
dataset root, then ``shared_data_dir()/samples/opportunity``), e.g. channel 1 is
"Accelerometer RKN^ accX" in "milli g" and channel 113 "InertialMeasurementUnit R-SHOE
Compass" in "degrees".

One :class:`Recording` per file: ``subject`` "S1".."S4", ``session`` "ADL1".."ADL5" or
"Drill"; ``meta`` has ``file``, ``t0_ms`` and ``official_split`` ("train", "test" or None).

Options

* ``task``: "gestures" (default): ML_Both_Arms codes are remapped to the challenge ids
  1..17 (:data:`GESTURES`), 0 stays class 0 "Null", 18 classes; "locomotion": the
  original ids 1 Stand, 2 Walk, 4 Sit, 5 Lie plus 0 "Null" (ids are not renumbered).
  Null is a real class in the challenge protocol, so it is never turned into UNLABELLED.
* ``interpolate`` (default True): linear interpolation per channel within a recording
  (pandas' default forward direction, as the challenge script), then remaining NaN (leading
  gaps, channels without any value) are set to 0. Counts: ``dropped["interpolated_values"]``
  and ``dropped["zero_filled_values"]``. With False the NaN stay.
* ``normalize``: only "none" (default). The challenge script min/max-normalises with
  hard-coded per-channel thresholds and clips to [0, 0.99]; those thresholds are not part
  of the official files, so they are not reproduced. harlab fits its z-score on the
  training split instead.
* ``subjects``: subset of "S1".."S4" (or 1..4).

Official split: the challenge split is per recording, not per subject, so
``official_split`` is None and ``info["official_split_recordings"]`` holds
``{"train": [(subject, session), ...], "test": [...]}``: train = S1 (Drill, ADL1-5) and
S2, S3 (Drill, ADL1-3); test = S2-ADL4, S2-ADL5, S3-ADL4, S3-ADL5. S4 is not part of the
challenge subset used here (it is in neither list) but is loaded when present. Each
recording also carries it as ``meta["official_split"]``, which ``split: {kind: given}``
uses (validation = whole training recordings; S4 left out and counted).
``path`` is the ``OpportunityUCIDataset`` folder, its ``dataset/`` folder, or a folder
holding ``OpportunityUCIDataset/``; ``path=None`` looks in ``shared_data_dir()/"opportunity"``.
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
    check_time_order,
    files_fingerprint,
)
from harlab.data.sources.pamap2 import fill_gaps, read_table
from harlab.errors import ConfigError, DataError, unknown_name
from harlab.paths import shared_data_dir

NAME = "opportunity"
RATE = 30.0
N_COLUMNS = 250
DELETED_COLUMNS = (
    *range(46, 50),
    *range(59, 63),
    *range(72, 76),
    *range(85, 89),
    *range(98, 102),
    *range(134, 243),
    *range(244, 249),
)
KEPT_COLUMNS = tuple(c for c in range(N_COLUMNS) if c not in set(DELETED_COLUMNS))
SENSOR_COLUMNS = KEPT_COLUMNS[1:114]  # 0-based original columns of the 113 channels
LOCOMOTION_COLUMN = 243
GESTURE_COLUMN = 249
GESTURES = {  # ML_Both_Arms code -> (challenge id, name)
    406516: (1, "Open Door 1"),
    406517: (2, "Open Door 2"),
    404516: (3, "Close Door 1"),
    404517: (4, "Close Door 2"),
    406520: (5, "Open Fridge"),
    404520: (6, "Close Fridge"),
    406505: (7, "Open Dishwasher"),
    404505: (8, "Close Dishwasher"),
    406519: (9, "Open Drawer 1"),
    404519: (10, "Close Drawer 1"),
    406511: (11, "Open Drawer 2"),
    404511: (12, "Close Drawer 2"),
    406508: (13, "Open Drawer 3"),
    404508: (14, "Close Drawer 3"),
    408512: (15, "Clean Table"),
    407521: (16, "Drink from Cup"),
    405506: (17, "Toggle Switch"),
}
GESTURE_CLASSES = {0: "Null", **{i: n for i, n in GESTURES.values()}}
LOCOMOTION_CLASSES = {0: "Null", 1: "Stand", 2: "Walk", 4: "Sit", 5: "Lie"}
SESSIONS = ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")
SUBJECTS = ("S1", "S2", "S3", "S4")
OFFICIAL_SPLIT_RECORDINGS = {
    "train": [("S1", s) for s in ("Drill", "ADL1", "ADL2", "ADL3", "ADL4", "ADL5")]
    + [(subj, s) for subj in ("S2", "S3") for s in ("Drill", "ADL1", "ADL2", "ADL3")],
    "test": [("S2", "ADL4"), ("S2", "ADL5"), ("S3", "ADL4"), ("S3", "ADL5")],
}
CITATION = (
    "D. Roggen et al. Collecting complex activity datasets in highly rich networked sensor "
    "environments. 7th International Conference on Networked Sensing Systems (INSS), 2010; "
    "R. Chavarriaga et al. The Opportunity challenge: A benchmark database for on-body "
    "sensor-based activity recognition. Pattern Recognition Letters 34(15), 2013."
)
INFO: dict[str, Any] = {
    "summary": "OPPORTUNITY body-worn sensors (challenge subset, 113 channels), 4 subjects, "
    "17 gestures + Null or 4 locomotion modes + Null, 30 Hz",
    "subjects": 4,
    "classes": len(GESTURE_CLASSES),
    "channels": 113,
    "rate": RATE,
    "size": ("24 runs"
             " (4 subjects x 5 ADL + 1 Drill), 250 columns at 30 Hz (S1-Drill.dat alone 56.3 MB)"),
    "citation": CITATION,
    "licence": "CC BY 4.0 (UCI Machine Learning Repository, OPPORTUNITY Activity Recognition)",
    "download": {  # UCI publishes no checksum
        "url": "https://archive.ics.uci.edu/static/public/226/opportunity+activity+recognition.zip",
        "sha256": None,
        "page": "https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition",
    },
}
_OPTIONS = ("task", "interpolate", "normalize", "subjects")
_FILE = re.compile(r"(S[1-4])-(ADL[1-5]|Drill)\.dat")
_COLUMN_LINE = re.compile(r"^Column:\s*(\d+)\s+(.*?)\s*$", re.MULTILINE)


# ----------------------------------------------------------------------------- names
def parse_column_names(path: Path) -> dict[int, tuple[str, str]]:
    """Parse the official ``column_names.txt``: 1-based column -> (name, unit).

    Lines look like ``Column: 2 Accelerometer RKN^ accX; value = round(original_value),
    unit = milli g``; the name is the text before ``;`` and the unit follows ``unit =``
    ("" where none is given, e.g. MILLISEC and the label columns).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    out: dict[int, tuple[str, str]] = {}
    for m in _COLUMN_LINE.finditer(text):
        name, _, rest = m.group(2).partition(";")
        unit = rest.split("unit =", 1)[1].strip() if "unit =" in rest else ""
        out[int(m.group(1))] = (name.strip(), unit)
    missing = [c for c in range(1, N_COLUMNS + 1) if c not in out]
    if missing:
        raise DataError(
            f"{path}: not an OPPORTUNITY column_names.txt (no entry for column {missing[0]})"
        )
    return out


_LEGEND_LINE = re.compile(r"^\s*(\d+)\s+-\s+(\S+)\s+-\s+(.*?)\s*$", re.MULTILINE)


def parse_label_legend(path: Path) -> dict[str, dict[int, str]]:
    """Parse the official ``label_legend.txt``: track name -> {label code: label name}.

    Lines look like ``406516   -   ML_Both_Arms   -   Open Door 1``; the header line
    (``Unique index - Track name - Label name``) and blank lines are skipped.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    out: dict[str, dict[int, str]] = {}
    for m in _LEGEND_LINE.finditer(text):
        out.setdefault(m.group(2), {})[int(m.group(1))] = m.group(3)
    return out


def check_label_legend(path: Path) -> None:
    """Check the challenge class tables (:data:`GESTURES`, locomotion) against the legend.

    The challenge numbering (gesture 1..17) is not in the legend, so it stays in code; this
    makes sure the codes and names it maps agree with the official file.
    """
    legend = parse_label_legend(path)
    tracks = {"ML_Both_Arms": {c: n for c, (_, n) in GESTURES.items()},
              "Locomotion": {c: n for c, n in LOCOMOTION_CLASSES.items() if c}}
    for track, want in tracks.items():
        have = legend.get(track)
        if not have:
            raise DataError(f"{path}: not an OPPORTUNITY label_legend.txt (no {track} labels)")
        bad = [f"{c} ({n!r} vs {have.get(c)!r})" for c, n in want.items() if have.get(c) != n]
        if bad:
            raise DataError(f"{path}: {track} labels differ from the challenge's: "
                            + ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else ""))


def _column_names_file(root: Path) -> Path:
    cands = [root / "dataset" / "column_names.txt", root / "column_names.txt"]
    shared = shared_data_dir()
    if shared:
        cands.append(shared / "samples" / "opportunity" / "column_names.txt")
    for c in cands:
        if c.is_file():
            return c
    raise DataError(
        "OPPORTUNITY: column_names.txt not found (looked at "
        + ", ".join(str(c) for c in cands)
        + "); it ships in OpportunityUCIDataset/dataset/ of the official zip"
    )


def sensor_channels(column_names: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and units of the 113 challenge channels, in file order."""
    cols = parse_column_names(column_names)
    picked = [cols[c + 1] for c in SENSOR_COLUMNS]
    return tuple(n for n, _ in picked), tuple(u for _, u in picked)


# ----------------------------------------------------------------------------- files
def _root(path: str | Path | None) -> Path:
    base, where = candidate_root(path, "opportunity")
    if base is not None:
        for cand in (base, base / "OpportunityUCIDataset"):
            if (cand / "dataset").is_dir():
                return cand
        if base.is_dir() and any(_FILE.fullmatch(p.name) for p in base.iterdir()):
            return base
    raise DataError(
        f"OPPORTUNITY not found: looked for dataset/S1-ADL1.dat etc. in {where} and "
        f"{where}/OpportunityUCIDataset. Download OpportunityUCIDataset.zip from the UCI "
        "Machine Learning Repository ('OPPORTUNITY Activity Recognition'), unzip it and "
        "pass path= to the OpportunityUCIDataset folder, or set HARLAB_SHARED_DATA to a "
        "folder containing opportunity/OpportunityUCIDataset"
    )


def _data_dir(root: Path) -> Path:
    return root / "dataset" if (root / "dataset").is_dir() else root


def _subjects(options: dict) -> set[str] | None:
    wanted = options.get("subjects")
    if wanted is None:
        return None
    items = [wanted] if isinstance(wanted, str | int) else wanted
    try:
        out = {s if isinstance(s, str) and s.startswith("S") else f"S{int(s)}" for s in items}
    except (TypeError, ValueError):
        raise ConfigError(f"{NAME}: subjects must be S1..S4 or 1..4, got {wanted!r}") from None
    bad = sorted(out - set(SUBJECTS))
    if bad:
        raise ConfigError(f"{NAME}: unknown subject(s) {bad}; OPPORTUNITY has S1..S4")
    return out


def _files(root: Path, options: dict) -> list[tuple[str, str, Path]]:
    """(subject, session, path) of every file to load, subject/session ordered."""
    check_options(NAME, options, _OPTIONS)
    task = options.get("task", "gestures")
    if task not in ("gestures", "locomotion"):
        raise unknown_name(f"{NAME} task", str(task), ("gestures", "locomotion"))
    if options.get("normalize", "none") != "none":
        raise ConfigError(
            f"{NAME}: normalize={options['normalize']!r} is not supported; only 'none' (the "
            "challenge min/max thresholds are not in the official files; harlab fits a "
            "z-score on the training split)"
        )
    d = _data_dir(root)
    found = {}
    for p in d.iterdir():
        if m := _FILE.fullmatch(p.name):
            found[(m.group(1), m.group(2))] = p
    if not found:
        raise DataError(f"OPPORTUNITY: no S<n>-<ADLn|Drill>.dat files in {d}")
    wanted = _subjects(options)
    if wanted is not None:
        missing = sorted(wanted - {s for s, _ in found})
        if missing:
            raise DataError(f"OPPORTUNITY: {d} has no files for subject(s) {missing}")
        found = {k: p for k, p in found.items() if k[0] in wanted}
    order = {s: i for i, s in enumerate(SESSIONS)}
    keys = sorted(found, key=lambda k: (k[0], order[k[1]]))
    return [(s, sess, found[(s, sess)]) for s, sess in keys]


def _labels(p: Path, raw: np.ndarray, task: str) -> np.ndarray:
    if np.isnan(raw).any():
        row = int(np.flatnonzero(np.isnan(raw))[0])
        raise DataError(f"{p}: label is NaN in data row {row + 1}")
    if task == "gestures":
        codes = np.array([0, *GESTURES], dtype=np.float64)
        ids = np.array([0, *(i for i, _ in GESTURES.values())], dtype=np.int64)
        col = "ML_Both_Arms (column 250)"
    else:
        codes = np.array(sorted(LOCOMOTION_CLASSES), dtype=np.float64)
        ids = codes.astype(np.int64)
        col = "Locomotion (column 244)"
    order = np.argsort(codes)
    pos = np.clip(np.searchsorted(codes[order], raw), 0, len(codes) - 1)
    ok = codes[order][pos] == raw
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise DataError(f"{p}: data row {row + 1} has unknown {col} label {raw[row]:g}")
    return ids[order][pos]


def _read(
    subject: str, session: str, p: Path, options: dict, names, units, counts: dict[str, int]
) -> Recording:
    table = read_table(p, N_COLUMNS)
    check_time_order(p, table[:, 0], "MILLISEC")
    task = options.get("task", "gestures")
    column = GESTURE_COLUMN if task == "gestures" else LOCOMOTION_COLUMN
    labels = _labels(p, table[:, column], task)
    x = table[:, list(SENSOR_COLUMNS)]
    if options.get("interpolate", True):
        x, n_filled, _ = fill_gaps(x, both_ends=False)
        counts["interpolated_values"] += n_filled
        still = np.isnan(x)
        counts["zero_filled_values"] += int(still.sum())
        x[still] = 0.0
    split = next((k for k, v in OFFICIAL_SPLIT_RECORDINGS.items() if (subject, session) in v), None)
    return Recording(
        data=x,
        labels=labels,
        rate=RATE,
        channels=names,
        units=units,
        subject=subject,
        session=session,
        meta={"file": str(p), "t0_ms": float(table[0, 0]), "official_split": split},
    )


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """OPPORTUNITY read one .dat file at a time, with the challenge preprocessing (see the
    module docstring)."""
    root = _root(path)
    files = _files(root, options)
    names_file = _column_names_file(root)
    names, units = sensor_channels(names_file)
    legend = names_file.with_name("label_legend.txt")
    if legend.is_file():
        check_label_legend(legend)
    counts = {"interpolated_values": 0, "zero_filled_values": 0}
    task = options.get("task", "gestures")
    expected = {(s, sess) for s in SUBJECTS for sess in SESSIONS}
    present = {(s, sess) for s, sess, _ in files}
    return RecordingStream(
        NAME,
        (_read(s, sess, p, options, names, units, counts) for s, sess, p in files),
        classes=dict(GESTURE_CLASSES if task == "gestures" else LOCOMOTION_CLASSES),
        citation=CITATION,
        dropped=counts,
        info={
            "source": str(root),
            "column_names": str(names_file),
            "label_legend": str(legend) if legend.is_file() else "not found; built-in "
            "challenge table used",
            "task": task,
            "official_split_recordings": {k: list(v) for k, v in OFFICIAL_SPLIT_RECORDINGS.items()},
            "official_split_note": "per recording; S4 is not in the challenge subset",
            "normalize": "none (challenge min/max thresholds not reproduced)",
            "missing_files": sorted(f"{s}-{sess}.dat" for s, sess in expected - present)
            if options.get("subjects") is None
            else [],
        },
    )


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load OPPORTUNITY with the challenge preprocessing (see the module docstring)."""
    return stream(path, **options).collect()


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the input files (name, size, mtime) for caching."""
    root = _root(path)
    files = [p for *_, p in _files(root, options)]
    return files_fingerprint(NAME, root, files, options)
