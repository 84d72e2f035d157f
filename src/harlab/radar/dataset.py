"""Radar frame datasets on disk: one format for simulated, real and your own spectrograms.

A frame dataset is a folder holding

* ``labels.csv`` -- one row per file, columns ``file, activity, person`` (required) and
  optionally ``recording``, ``session``, ``n_frames`` and any other columns (e.g.
  ``repetition``; they reach each frame's metadata, so ``split.group_by`` can name them);
* the files it names (paths relative to the folder): ``.npy`` with one frame ``(H, W)``
  or a stack ``(n, H, W)`` of float values in [0, 1], or grayscale ``.png`` images (one
  frame each). Any frame size works (harlab's simulator writes ``(n, 100, 150)``), but all
  frames of a folder have one size;
* optionally the level frames: a ``level_file`` column naming, per file, a ``.npy`` stack
  of the same frames at their absolute level in dB, not normalised (harlab writes
  ``levels/<file>``: ``20 log10 |S|`` of the spectrogram, :func:`~harlab.radar.processing.
  level_frames`). ``data.frame_scale: train`` reads them and fits one dB scale on the
  training part (:func:`harlab.data.normalize.fit_db_scale`); without them only the [0, 1]
  frames exist (e.g. a folder made from images);
* ``dataset.json`` (optional; harlab writes it, see below).

Frames are Doppler x time: by default row 0 is ``+v_max`` (approaching, top of an image),
column 0 the earliest time. :func:`write_frames_dataset` runs the processing chain on raw
recordings and writes such a folder; :func:`read_frames_dataset` reads one back with a
clear :class:`DataError` for anything inconsistent; ``harlab radar frames-from-images``
(:mod:`harlab.radar.frames_import`) makes one from your own images or arrays.

``dataset.json``
----------------
A JSON object; every key is optional and a folder without the file works:

* ``frame_s`` -- seconds one frame covers (e.g. 5.0 for 5 s spectrograms). Without it
  the time axis stands at 1 s per frame for the sampling rate, and no report gives
  seconds for a frame or a decision;
* ``classes`` -- the activity order (class ids 0, 1, ...); ``persons`` -- the person
  order. Without them (or when they miss a name) names sort naturally ("p2" < "p10");
* ``row0`` -- ``"+v_max"`` (default) or ``"-v_max"``: the velocity of the frames' top
  row; ``"-v_max"`` frames are flipped on load so that row 0 is always ``+v_max``;
* ``dynamic_range_db`` (or ``processing.dynamic_range_db``) -- the dB range that [0, 1]
  spans (0 = that many dB below the frame's maximum). The SNR sweep
  (:mod:`harlab.radar.snr_sweep`) needs it to add noise in linear power, and the frames'
  unit names it (``norm_db60``, :func:`frame_unit`), so a model trained on frames of one
  range refuses frames of another (``predict --pretrained``);
* ``processing`` (with ``frame_s``, ``frame_overlap_s``: the hop between a recording's
  frames), ``radar``, ``counts``, ``dropped`` (``recordings_too_short``), ``n_frames``,
  ``frame_shape`` -- written by harlab, informative;
* ``levels`` -- what the level frames hold: ``column`` (``level_file``), ``unit``,
  ``floor_db_below_recording_max`` (None: as given);
* ``format``/``version`` -- ``harlab-radar-frames`` / :data:`VERSION`; a folder of this
  format in another version is refused with one line (no conversion: make it again).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.errors import DataError
from harlab.radar.processing import (
    LEVEL_RANGE_DB,
    ProcessingConfig,
    Spectrogram,
    frame_times,
    frames,
    level_frames,
    plot_frames,
    plot_range_time,
    plot_spectrogram,
    process,
    velocity_limit,
)
from harlab.radar.types import RawRadar

FORMAT = "harlab-radar-frames"
# 2: frames keep their absolute level beside the [0, 1] frames (``level_file``, ``levels``)
VERSION = 2
LABELS = "labels.csv"
LEVELS = "levels"  # the folder of the level frames
LEVEL_COLUMN = "level_file"
META = "dataset.json"
REQUIRED = ("file", "activity", "person")
ROW0 = ("+v_max", "-v_max")  # dataset.json "row0": the velocity of the frames' top row
_SUFFIXES = (".npy", ".png")


def _slug(text: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-") or "x"


def _flat_meta(meta: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested metadata one column per leaf; lists/other objects become JSON text."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_meta(value, f"{name}."))
        elif value is None or isinstance(value, str | bool | int | float | np.generic):
            out[name] = value.item() if isinstance(value, np.generic) else value
        else:
            try:
                out[name] = json.dumps(np.asarray(value).tolist())
            except (TypeError, ValueError):
                out[name] = str(value)
    return out


def label_order(names: Iterable[str], preferred: Any = None) -> list[str]:
    """The distinct ``names`` in the order of ``preferred`` (e.g. ``dataset.json``'s
    ``classes``) when that list covers them all, else in natural order ("sub2" < "sub10")."""
    from harlab.fileio import natural_key

    present = {str(n) for n in names}
    if isinstance(preferred, list) and present <= {str(p) for p in preferred}:
        return [str(p) for p in dict.fromkeys(preferred) if str(p) in present]
    return sorted(present, key=natural_key)


def start_folder(out: Path, extra: dict[str, Any]) -> Path:
    """Refuse bad extra file names and a non-empty ``out`` before any recording is
    processed, then create the temporary folder beside ``out`` that the dataset is built
    in (renamed to ``out`` at the end)."""
    for name in extra:  # checked before any recording is processed
        if Path(name).name != name or name == META:
            raise ValueError(f"extra file name must be a plain file name, not {name!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not empty; refusing to overwrite a dataset")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return tmp


def _label_row(
    raw: RawRadar, name: str, activity: str, person: str, rec_id: str, n_frames: int,
    first_frame_s: float,
) -> dict[str, Any]:
    """The ``labels.csv`` row of one written recording: the fixed columns, then the raw
    metadata flattened one column per leaf (a metadata key named like a fixed column, such
    as a Glasgow recording's source ``file``, never replaces it)."""
    fixed = {
        "file": name,
        "activity": activity,
        "person": person,
        "recording": rec_id,
        "session": str(raw.meta.get("session", rec_id)),
        "n_frames": n_frames,
        "duration_s": round(raw.duration_s, 6),
        "first_frame_s": round(float(first_frame_s), 6),
        "source": raw.source,
    }
    return {**fixed, **{k: v for k, v in _flat_meta(raw.meta).items() if k not in fixed}}


def _plot_recording(
    spec: Spectrogram, stack: np.ndarray, raw: RawRadar, cfg: ProcessingConfig, fig_dir: Path,
    activity: str, person: str,
) -> None:
    """Spectrogram, range-time map and first frames of one recording, as PNGs named
    after its activity."""
    stem = _slug(activity)
    plot_spectrogram(spec, fig_dir / f"spectrogram_{stem}.png")
    plot_range_time(spec, fig_dir / f"range_time_{stem}.png")
    v_lim = velocity_limit(cfg, raw.params)
    plot_frames(
        stack,
        fig_dir / f"frames_{stem}.png",
        v_lim,
        cfg.frame_s,
        [f"{person} {activity} #{k}" for k in range(min(8, len(stack)))],
    )


def _write_recordings(
    raws: Iterable[RawRadar], tmp: Path, cfg: ProcessingConfig, progress: bool, figures: bool
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], Counter[tuple[str, str]]]:
    """Process each recording and save its frame stack into ``tmp`` (figures of the first
    recording of each activity with ``figures``). Returns the label rows, the recordings
    too short for one frame, the distinct radar parameters and frames per
    (activity, person)."""
    fig_dir = tmp / "figures" if figures else None
    (tmp / LEVELS).mkdir()
    rows: list[dict[str, Any]] = []
    dropped: list[str] = []
    radars: list[dict[str, Any]] = []
    plotted: set[str] = set()
    counts: Counter[tuple[str, str]] = Counter()
    total = len(raws) if hasattr(raws, "__len__") else None  # type: ignore[arg-type]
    with _progress(progress, total) as advance:
        for i, raw in enumerate(raws):
            activity = raw.activity if raw.activity is not None else "unknown"
            person = raw.person if raw.person is not None else "unknown"
            spec = process(raw, cfg)
            stack = frames(spec, cfg)
            rec_id = str(raw.meta.get("recording", f"{i:05d}"))
            if len(stack) == 0:
                dropped.append(raw.source or rec_id)
                advance()
                continue
            name = f"{i:05d}_{_slug(activity)}_{_slug(person)}.npy"
            np.save(tmp / name, stack.astype(np.float32))
            np.save(tmp / LEVELS / name, level_frames(spec, cfg))
            radar = dataclasses.asdict(raw.params)
            if radar not in radars:
                radars.append(radar)
            starts = frame_times(spec, cfg)
            row = _label_row(raw, name, activity, person, rec_id, len(stack), starts[0])
            rows.append({**row, LEVEL_COLUMN: f"{LEVELS}/{name}"})
            counts[(activity, person)] += len(stack)
            if fig_dir is not None and activity not in plotted:
                plotted.add(activity)
                _plot_recording(spec, stack, raw, cfg, fig_dir, activity, person)
            advance()
    return rows, dropped, radars, counts


def _dataset_summary(
    table: pd.DataFrame, counts: Counter[tuple[str, str]], dropped: list[str],
    radars: list[dict[str, Any]], cfg: ProcessingConfig,
) -> dict[str, Any]:
    """The ``dataset.json`` contents: format, sizes, class and person order, frames per
    activity x person, dropped recordings, processing settings and radar parameters."""
    activities = label_order(a for a, _ in counts)
    persons = label_order(p for _, p in counts)
    return {
        "format": FORMAT,
        "version": VERSION,
        "n_recordings": len(table),
        "n_frames": int(table["n_frames"].sum()),
        "frame_shape": [cfg.frame_height, cfg.frame_width],
        "frame_s": cfg.frame_s,
        "row0": "+v_max",
        "classes": activities,
        "persons": persons,
        "counts": {a: {p: counts[(a, p)] for p in persons} for a in activities},
        "dropped": {"recordings_too_short": len(dropped), "sources": dropped[:50]},
        "processing": cfg.to_dict(),
        "radar": radars[0] if len(radars) == 1 else radars,
        "levels": level_info(float(LEVEL_RANGE_DB)),
    }


def level_info(floor_db: float | None, unit: str | None = None) -> dict[str, Any]:
    """``dataset.json``'s ``levels``: what the level frames hold."""
    return {
        "column": LEVEL_COLUMN,
        "unit": unit or "dB re. 1 of the spectrogram magnitude |STFT| (20 log10), before "
        "any normalisation",
        "floor_db_below_recording_max": floor_db,
    }


def write_frames_dataset(
    raws: Iterable[RawRadar],
    out_dir: str | Path,
    cfg: ProcessingConfig | None = None,
    progress: bool = True,
    figures: bool = False,
    extra_files: dict[str, str | Callable[[], str]] | None = None,
) -> dict[str, Any]:
    """Process every recording and write a frame dataset folder; returns its summary.

    One ``.npy`` stack ``(n, H, W)`` float32 per recording, ``labels.csv`` (file,
    activity, person, recording, session, n_frames, duration_s, source and the raw
    metadata), and ``dataset.json``. Recordings too short for one frame are not written
    and are counted (``dropped``). The folder is built under a temporary name and renamed
    at the end, so a failure never leaves a half-written dataset; an existing non-empty
    ``out_dir`` is refused. With ``figures``, the spectrogram, range-time map and first
    frames of the first recording of each activity are saved as PNG in ``out_dir/figures``.
    ``extra_files`` (name -> text, e.g. the simulation settings) are written into the folder
    before the rename, so a finished folder always has them; a callable value gives its
    text once every recording is written (e.g. a count kept while reading them).
    """
    cfg = cfg or ProcessingConfig()
    out = Path(out_dir)
    extra = dict(extra_files or {})
    tmp = start_folder(out, extra)
    try:
        rows, dropped, radars, counts = _write_recordings(raws, tmp, cfg, progress, figures)
        if not rows:
            raise DataError(
                f"{out}: no recording was long enough for one {cfg.frame_s} s frame "
                f"({len(dropped)} recordings dropped)"
            )
        table = pd.DataFrame(rows)
        table.to_csv(tmp / LABELS, index=False)
        summary = _dataset_summary(table, counts, dropped, radars, cfg)
        (tmp / META).write_text(json.dumps(summary, indent=2))
        for name, text in extra.items():
            (tmp / name).write_text(text() if callable(text) else text)
        if out.exists():
            out.rmdir()  # empty (checked in start_folder)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["path"] = str(out)
    return summary


class _progress:
    """A rich progress bar over recordings (or a no-op), used as a context manager."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return lambda: None
        from rich.progress import Progress

        self._bar = Progress(transient=False)
        self._bar.__enter__()
        task = self._bar.add_task("processing radar recordings", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)


def read_png(path: Path) -> np.ndarray:
    """A grayscale PNG as one frame ``(1, H, W)`` float32 (DataError for colour, alpha)."""
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot read PNG ({exc})") from None
    img = np.asarray(img)
    if img.dtype.kind in "ui":  # palette / integer images
        img = img / np.iinfo(img.dtype).max
    if img.ndim == 3:
        if img.shape[2] == 4:
            if not np.all(img[..., 3] == img[..., 3].max()):
                raise DataError(f"{path}: PNG has transparency; save an opaque grayscale image")
            img = img[..., :3]
        if img.shape[2] == 3:
            if not (
                np.array_equal(img[..., 0], img[..., 1])
                and np.array_equal(img[..., 0], img[..., 2])
            ):
                raise DataError(
                    f"{path}: colour PNG; frames must be grayscale (value = normalised "
                    "intensity), not a colour-mapped picture"
                )
            img = img[..., 0]
        elif img.shape[2] == 1:
            img = img[..., 0]
    return img[None].astype(np.float32)


def read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` frame ``(H, W)`` or stack ``(n, H, W)`` as ``(n, H, W)`` float32."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read .npy ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: frames must be real numbers, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim != 3:
        raise DataError(
            f"{path}: expected one frame (H, W) or a stack (n, H, W), got shape {arr.shape}"
        )
    return arr.astype(np.float32)



def read_label_table(path: Path) -> pd.DataFrame:
    """A frame table (CSV, every cell text): one line for an unparsable file, a missing
    required column (:data:`REQUIRED`) or no rows."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse ({str(exc).strip()})") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (needs "
                        f"{', '.join(REQUIRED)})")
    if table.empty:
        raise DataError(f"{path}: no rows")
    return table

def _read_table(root: Path) -> pd.DataFrame:
    if not root.is_dir():
        raise DataError(f"{root}: radar frame dataset folder not found")
    labels = root / LABELS
    if not labels.is_file():
        raise DataError(
            f"{root}: no {LABELS} (a frame dataset needs {LABELS} with columns "
            f"{', '.join(REQUIRED)}; see harlab.radar.dataset)"
        )
    table = read_label_table(labels)
    for col in REQUIRED:
        empty = np.flatnonzero(table[col].str.strip().to_numpy() == "")
        if empty.size:
            raise DataError(f"{labels}: line {empty[0] + 2}: empty '{col}'")
    dup = table["file"].duplicated()
    if dup.any():
        first = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"{labels}: line {first + 2}: file {table['file'][first]!r} listed twice")
    return table


def dataset_files(folder: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """The labels table and the frame files it names, checked to exist (no data read)."""
    root = Path(folder)
    table = _read_table(root)
    paths = []
    for i, name in enumerate(table["file"]):
        p = root / name
        if p.suffix.lower() not in _SUFFIXES:
            raise DataError(f"{root / LABELS}: line {i + 2}: {name!r} is not a .npy or .png file")
        if not p.is_file():
            raise DataError(f"{root / LABELS}: line {i + 2}: file {name!r} is missing in {root}")
        paths.append(p)
    _check_level_files(root, table)
    listed = {p.resolve() for p in paths}
    unlisted = sorted(
        p.name
        for p in root.iterdir()
        if p.is_file() and p.suffix.lower() in _SUFFIXES and p.resolve() not in listed
    )
    if unlisted:
        raise DataError(
            f"{root}: {len(unlisted)} frame file(s) are not listed in {LABELS} "
            f"(e.g. {unlisted[0]}); add them or move them out of the folder"
        )
    return table, paths


def _check_level_files(root: Path, table: pd.DataFrame) -> None:
    """Every row's level file (column :data:`LEVEL_COLUMN`, where the table has it) is a
    ``.npy`` file that exists."""
    if LEVEL_COLUMN not in table.columns:
        return
    for i, name in enumerate(table[LEVEL_COLUMN]):
        p = root / name
        if not name.strip() or p.suffix.lower() != ".npy" or not p.is_file():
            raise DataError(f"{root / LABELS}: line {i + 2}: {LEVEL_COLUMN} {name!r} is not a "
                            f".npy file in {root}")


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """``dataset.json`` of a frame dataset ({} when absent); a folder harlab wrote in
    another format version is refused with one line."""
    p = Path(folder) / META
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot read ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{p}: expected a JSON object")
    if meta.get("format") == FORMAT and meta.get("version") != VERSION:
        raise DataError(f"{p}: frame folder format version {meta.get('version')!r}, this harlab "
                        f"reads version {VERSION}; make the folder again with this harlab")
    return meta


NORM_DB = "norm_db"  # the unit of [0, 1] frames whose dB range is not recorded


def frame_dynamic_range(folder: str | Path) -> float | None:
    """The dB range that a frame folder's [0, 1] values span: ``dataset.json``'s
    ``dynamic_range_db``, else its processing's; None when it records neither."""
    meta = read_metadata(folder)
    value = meta.get("dynamic_range_db")
    if value is None and isinstance(meta.get("processing"), dict):
        value = meta["processing"].get("dynamic_range_db")
    return None if value is None else positive_meta(folder, "dynamic_range_db", value, "dB")


def positive_meta(folder: str | Path, key: str, value: Any, unit: str) -> float:
    """``value`` of ``dataset.json``'s ``key`` as a positive finite float, else a one-line
    DataError naming the file."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise DataError(f"{Path(folder) / META}: {key} must be a positive number of {unit}, "
                        f"got {value!r}")
    return number


def frame_unit(dynamic_range_db: float | None) -> str:
    """The unit of [0, 1] frames spanning ``dynamic_range_db`` dB below their maximum:
    ``norm_db60`` for 60 dB (0 = 60 dB below, 1 = the maximum), ``norm_db`` when unknown.
    It travels with a run's channels into checkpoints, ONNX files and model cards, so
    frames made over another range are caught before a model sees them."""
    return NORM_DB if dynamic_range_db is None else f"{NORM_DB}{float(dynamic_range_db):g}"


def unit_dynamic_range(unit: str) -> float | None:
    """The dB range a :func:`frame_unit` names (None for ``norm_db`` or another unit)."""
    tail = unit[len(NORM_DB):] if unit.startswith(NORM_DB) else ""
    try:
        return float(tail) if tail else None
    except ValueError:
        return None


def read_frames_dataset(folder: str | Path) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a frame dataset: ``frames (N, H, W)`` float32 in [0, 1] and one table row per frame.

    The table holds the ``labels.csv`` columns of the frame's file (as text), plus
    ``frame`` (index within its file), and ``recording`` / ``session`` (default: the file
    name without suffix). Errors name the file: missing ``labels.csv``, listed files that
    are missing, unlisted ``.npy``/``.png`` files (with their count), wrong dimensions,
    mixed frame sizes, NaN/infinite values, values outside [0, 1], and an ``n_frames``
    column that disagrees with the file.
    """
    parts = list(frame_files(folder)[1])
    return (np.concatenate([a for a, _ in parts]).astype(np.float32, copy=False),
            pd.DataFrame([row for _, rows in parts for row in rows]))


_Rows = list[dict[str, Any]]


def frame_files(folder: str | Path, levels: bool = False
                ) -> tuple[pd.DataFrame, Iterator[tuple[np.ndarray, _Rows]]]:
    """The labels table (checked now) and, read one file at a time, each file's frames
    ``(n, H, W)`` with their rows of :func:`read_frames_dataset`'s table. ``levels``: the
    level frames (absolute dB, ``level_file``) instead of the [0, 1] frames; a folder
    without them is a DataError."""
    root = Path(folder)
    table, paths = dataset_files(root)
    if levels:
        if LEVEL_COLUMN not in table.columns:
            raise DataError(f"{root}: stores no absolute levels (no {LEVEL_COLUMN} column in "
                            f"{LABELS}; frames imported from [0, 1] images have none)")
        paths = [root / name for name in table[LEVEL_COLUMN]]
    return table, _each_frame_file(root, table, paths, levels)


def _each_frame_file(root: Path, table: pd.DataFrame, paths: list[Path], levels: bool = False
                     ) -> Iterator[tuple[np.ndarray, _Rows]]:
    shape: tuple[int, int] | None = None
    first_file = ""
    for i, (p, row) in enumerate(zip(paths, table.to_dict("records"), strict=True)):
        arr = read_png(p) if p.suffix.lower() == ".png" else read_npy(p)
        if arr.shape[0] == 0:
            raise DataError(f"{p}: holds no frames (shape {arr.shape})")
        if shape is None:
            shape, first_file = arr.shape[1:], p.name
        elif arr.shape[1:] != shape:
            raise DataError(
                f"{p}: frames are {arr.shape[1]}x{arr.shape[2]} but {first_file} has "
                f"{shape[0]}x{shape[1]}; all frames of a dataset must have one size"
            )
        finite = np.isfinite(arr)
        if not finite.all():
            raise DataError(f"{p}: {int((~finite).sum())} values are NaN or infinite")
        lo, hi = float(arr.min()), float(arr.max())
        if not levels and (lo < 0 or hi > 1):
            raise DataError(
                f"{p}: values must lie in [0, 1] (normalised dB), found {lo:.4g} .. {hi:.4g}"
            )
        want = row.get("n_frames", "").strip()
        if want and want != str(arr.shape[0]):
            raise DataError(f"{root / LABELS}: line {i + 2}: n_frames {want} but {p.name} "
                            f"holds {arr.shape[0]} frames")
        yield arr.astype(np.float32, copy=False), _frame_rows(row, len(arr))


def _frame_rows(row: dict[str, Any], n: int) -> _Rows:
    """One file's table row for each of its ``n`` frames, with ``frame``, ``recording`` and
    ``session`` (blank or absent: the file name without suffix, then the recording)."""
    recording = row.get("recording", "")
    recording = recording if recording.strip() else Path(row["file"]).with_suffix("").as_posix()
    session = row.get("session", "")
    return [{**row, "frame": k, "recording": recording,
             "session": session if session.strip() else recording} for k in range(n)]
