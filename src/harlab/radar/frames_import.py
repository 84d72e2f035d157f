"""Turn a folder of spectrogram images or arrays plus a label table into a frame folder.

``harlab radar frames-from-images SRC --labels TABLE --out DIR`` calls
:func:`import_frames`. The table (CSV) has one row per file: ``file`` (relative to SRC),
``activity``, ``person`` and optionally ``recording``, ``session``, ``repetition`` or any
other column, which are kept in ``labels.csv`` (``split.group_by`` can name them). Files
are grayscale ``.png`` or ``.npy`` (one frame ``(H, W)`` or a stack ``(n, H, W)``), Doppler
x time; all frames must have one size. Values must lie in [0, 1] (normalised dB), unless
``db_range`` is given: then they are dB values, and each frame is normalised to its own
maximum over that dynamic range, as harlab's processing does; the dB values themselves are
kept as the folder's level frames (``levels/``, ``level_file``), so ``data.frame_scale:
train`` can fit a dataset-wide ceiling on them. Frames given in [0, 1] have no absolute
level: their folder has no level frames, and ``frame_scale: train`` refuses it. Files in
SRC that the table does not list are not copied and are counted (``dropped``). The folder is
written under a temporary name and renamed at the end; an existing non-empty DIR is refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.errors import DataError
from harlab.radar.dataset import (
    FORMAT,
    LABELS,
    LEVEL_COLUMN,
    LEVELS,
    META,
    REQUIRED,
    ROW0,
    VERSION,
    label_order,
    level_info,
    read_label_table,
    read_npy,
    read_png,
    start_folder,
)

_SUFFIXES = (".npy", ".png")


def _read_table(path: Path) -> pd.DataFrame:
    """The label table, checked: required columns, no empty cells in them, no file twice."""
    if not path.is_file():
        raise DataError(f"{path}: label table not found")
    table = read_label_table(path)
    for col in REQUIRED:
        empty = np.flatnonzero(table[col].str.strip().to_numpy() == "")
        if empty.size:
            raise DataError(f"{path}: line {empty[0] + 2}: empty '{col}'")
    dup = np.flatnonzero(table["file"].duplicated().to_numpy())
    if dup.size:
        raise DataError(f"{path}: line {dup[0] + 2}: file {table['file'][dup[0]]!r} listed twice")
    return table


def _frame_values(arr: np.ndarray, where: Path, db_range: float | None) -> np.ndarray:
    """Frames in [0, 1]: as given, or dB values normalised to each frame's maximum over
    ``db_range`` dB (clipped below)."""
    if not np.isfinite(arr).all():
        raise DataError(f"{where}: {int((~np.isfinite(arr)).sum())} values are NaN or infinite")
    if db_range is not None:
        peak = arr.max(axis=(1, 2), keepdims=True)
        return np.clip((arr - peak) / db_range + 1, 0, 1).astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 1:
        raise DataError(f"{where}: values must lie in [0, 1] (normalised dB), found {lo:.4g} .. "
                        f"{hi:.4g}; give the dB dynamic range (--db-range) if they are dB")
    return arr


def _read_frames(src: Path, table: pd.DataFrame, db_range: float | None
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every listed file's frames, checked to exist, to be readable and of one size, and
    (``db_range`` given) the dB values as read (else an empty list)."""
    stacks, levels, shape, first = [], [], None, ""
    for i, name in enumerate(table["file"]):
        p = src / name
        if p.suffix.lower() not in _SUFFIXES:
            raise DataError(f"{p}: not a .npy or .png file (label table line {i + 2})")
        if not p.is_file():
            raise DataError(f"{p}: listed on label table line {i + 2} but missing")
        arr = read_png(p) if p.suffix.lower() == ".png" else read_npy(p)
        if arr.shape[0] == 0:
            raise DataError(f"{p}: holds no frames (shape {arr.shape})")
        if shape is None:
            shape, first = arr.shape[1:], name
        elif arr.shape[1:] != shape:
            raise DataError(f"{p}: frames are {arr.shape[1]}x{arr.shape[2]} (H x W) but {first} "
                            f"has {shape[0]}x{shape[1]}; all frames must have one size")
        stacks.append(_frame_values(arr, p, db_range))
        if db_range is not None:
            levels.append(arr)
    return stacks, levels


def _unlisted(src: Path, table: pd.DataFrame) -> list[str]:
    """Frame files in ``src`` (any depth) that the table does not list."""
    listed = {(src / f).resolve() for f in table["file"]}
    return sorted(p.relative_to(src).as_posix() for p in src.rglob("*")
                  if p.is_file() and p.suffix.lower() in _SUFFIXES and p.resolve() not in listed)


def _summary(table: pd.DataFrame, stacks: list[np.ndarray], unlisted: list[str],
             settings: dict[str, Any]) -> dict[str, Any]:
    """``dataset.json`` of the imported folder."""
    counts: Counter[tuple[str, str]] = Counter()
    for a, p, s in zip(table["activity"], table["person"], stacks, strict=True):
        counts[(a, p)] += len(s)
    classes = label_order(table["activity"], settings.get("classes"))
    if settings.get("classes") and classes != list(settings["classes"]):
        missing = sorted(set(table["activity"]) - set(settings["classes"]))
        raise DataError(f"--classes does not list the activities {missing} of the label table")
    persons = label_order(table["person"])
    out = {
        "format": FORMAT, "version": VERSION, "n_recordings": len(table),
        "n_frames": int(sum(len(s) for s in stacks)),
        "frame_shape": [int(stacks[0].shape[1]), int(stacks[0].shape[2])],
        "row0": settings.get("row0") or "+v_max", "classes": classes, "persons": persons,
        "counts": {a: {p: counts[(a, p)] for p in persons} for a in classes},
        "dropped": {"files_not_in_table": len(unlisted), "sources": unlisted[:50]},
        "imported_from": settings["source"],
    }
    for key in ("frame_s", "dynamic_range_db"):
        if settings.get(key) is not None:
            out[key] = float(settings[key])
    return out


def import_frames(src: str | Path, labels: str | Path, out: str | Path,
                  frame_s: float | None = None, row0: str = "+v_max",
                  classes: list[str] | None = None, db_range: float | None = None
                  ) -> dict[str, Any]:
    """Write the frame folder ``out`` from the files in ``src`` named by the table
    ``labels``; returns its ``dataset.json`` (plus ``path``). See the module docstring."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.is_dir():
        raise DataError(f"{src}: folder not found")
    if row0 not in ROW0:
        raise DataError(f"--row0 must be one of {', '.join(ROW0)}, got {row0!r}")
    for name, v in (("--frame-s", frame_s), ("--db-range", db_range)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise DataError(f"{name} must be positive, got {v}")
    table = _read_table(Path(labels).expanduser())
    for col, what in (("source_file", "each frame's original file"),
                      (LEVEL_COLUMN, "each file's level frames")):
        if col in table.columns:
            raise DataError(f"{labels}: the column name '{col}' is reserved (the imported "
                            f"folder names {what} there); rename it")
    table = table.drop(columns=["n_frames"], errors="ignore")  # counted from the files
    stacks, levels = _read_frames(src, table, db_range)
    settings = {"frame_s": frame_s, "row0": row0, "classes": classes,
                "dynamic_range_db": db_range, "source": str(src)}
    summary = _summary(table, stacks, _unlisted(src, table), settings)
    if levels:
        summary["levels"] = level_info(None, "dB as given in the imported files")
    tmp = start_folder(out, {})
    try:
        names = [f"{i:05d}.npy" for i in range(len(table))]
        for name, stack in zip(names, stacks, strict=True):
            np.save(tmp / name, stack.astype(np.float32))
        written = table.rename(columns={"file": "source_file"})
        written.insert(0, "file", names)
        if levels:
            (tmp / LEVELS).mkdir()
            for name, level in zip(names, levels, strict=True):
                np.save(tmp / LEVELS / name, level.astype(np.float32))
            written[LEVEL_COLUMN] = [f"{LEVELS}/{name}" for name in names]
        written["n_frames"] = [len(s) for s in stacks]
        written.to_csv(tmp / LABELS, index=False)
        (tmp / META).write_text(json.dumps(summary, indent=2))
        if out.exists():
            out.rmdir()  # empty (checked in start_folder)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**summary, "path": str(out)}
