"""Radar micro-Doppler frames (simulated, real or your own) as a :class:`RecordingSet`.

``path`` is a frame-dataset folder (``labels.csv`` + ``.npy``/``.png`` frames, see
:mod:`harlab.radar.dataset`; ``harlab simulate radar --out DIR`` writes one). Each frame
becomes ONE :class:`Recording` so the windowing/splitting/training pipeline works
unchanged:

* ``data`` = the frame transposed to ``(W time, H Doppler bins)`` -- ``(150, 100)`` for
  harlab's simulated frames, any size for yours; channels ``d000 ..`` (``d000`` =
  ``+v_max``, see ``row0`` in ``dataset.json``), unit ``norm_db60`` for frames spanning
  60 dB (the folder's ``dynamic_range_db``; ``norm_db`` when it records none);
* ``labels`` = the activity class id on every column (or the person, ``label="person"``);
* ``subject`` = person, ``session`` = recording id (the ``session`` column, default the
  ``recording`` column, default the file name), ``rate`` = ``W / frame_s`` columns per
  second (``frame_s`` from ``dataset.json``; without it 1 s stands in, and ``info``'s
  ``frame_s`` is None);
* ``meta`` = ``file``, ``frame`` (index in the file), ``activity``, ``person``,
  ``recording``, ``frame_s`` / ``hop_s`` where known, and labels.csv's other columns
  (e.g. ``repetition``, for ``split.group_by``);
* ``dropped['recordings_too_short']`` = recordings shorter than one frame (from
  ``dataset.json``, or counted while processing ``glasgow_dir``).

Use ``window: {length: 1, step: 1, unit: frames}`` so that each frame is exactly one
window whatever its size (every shipped radar config does). ``dataset.json`` (frame
seconds, class order, Doppler orientation) is optional; see :mod:`harlab.radar.dataset`.

Options
-------
``label``: ``"activity"`` (default) or ``"person"`` -- which label the recordings carry
(person identification uses ``"person"``). ``glasgow_dir``: instead of ``path``, a folder
of University of Glasgow ``.dat`` files (:mod:`harlab.radar.glasgow_import`), processed
with the radar chain on load. ``processing``: a mapping of
:class:`~harlab.radar.processing.ProcessingConfig` options for ``glasgow_dir`` (over
:data:`~harlab.radar.glasgow_import.GLASGOW_PROCESSING`). ``levels``: ``true`` reads the
frames' absolute level (dB, the folder's ``level_file`` column; unit ``db``) instead of the
[0, 1] frames; ``data.frame_scale: train`` sets it and maps the levels to [0, 1] with a
ceiling and range fitted on the training part (:func:`harlab.data.normalize.fit_db_scale`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harlab.data.recording import Recording, RecordingSet, RecordingStream
from harlab.data.sources.common import check_options, files_fingerprint
from harlab.errors import ConfigError, DataError

NAME = "radar_frames"
INFO: dict[str, Any] = {
    "summary": "radar micro-Doppler frames (any size; 100x150 simulated) from harlab simulate "
    "radar, real data or your own spectrograms",
    "subjects": None,
    "classes": None,
    "channels": None,
    "rate": None,
    "citation": "",
    "licence": "yours (simulated data: harlab)",
}
_OPTIONS = ("label", "glasgow_dir", "processing", "levels")
_UNITS = 2  # in the cache identity: windows cached before the unit named its dB range


def _options(path: str | Path | None, options: dict[str, Any]) -> tuple[str, Path | None]:
    check_options(NAME, options, _OPTIONS)
    label = str(options.get("label", "activity"))
    if label not in ("activity", "person"):
        raise ConfigError(f"{NAME}: label must be 'activity' or 'person', got {label!r}")
    glasgow = options.get("glasgow_dir")
    if glasgow is not None and path is not None:
        raise ConfigError(f"{NAME}: give either path= (frame dataset) or glasgow_dir=, not both")
    if glasgow is None and path is None:
        raise DataError(
            f"{NAME}: no data given; pass path= to a frame dataset folder (e.g. from "
            "`harlab simulate radar --out DIR`) or the option glasgow_dir= to Glasgow .dat files"
        )
    if options.get("processing") is not None and glasgow is None:
        raise ConfigError(f"{NAME}: the processing option only applies with glasgow_dir")
    if not isinstance(options.get("levels", False), bool):
        raise ConfigError(f"{NAME}: levels must be true or false, got {options['levels']!r}")
    return label, Path(glasgow).expanduser() if glasgow is not None else None


def _glasgow_frames(folder: Path, processing: Any, levels: bool = False
                    ) -> tuple[np.ndarray, Any, Any, int]:
    """Frames of the ``.dat`` files under ``folder`` as ``harlab radar frames-from-glasgow``
    makes them (campaign-qualified persons, copies read once, the Glasgow chain defaults
    under ``processing``); ``levels``: their absolute level frames. Also the processing
    settings used and the recordings too short for a frame."""
    import pandas as pd

    from harlab.radar.glasgow_import import ImportLog, glasgow_processing, iter_recordings
    from harlab.radar.processing import frames, level_frames, process

    if processing is not None and not isinstance(processing, dict):
        raise ConfigError(f"{NAME}: processing must be a mapping of radar processing options")
    cfg = glasgow_processing(processing)
    stacks, rows, too_short = [], [], 0
    for raw in iter_recordings(folder, ImportLog()):
        stack = (level_frames if levels else frames)(process(raw, cfg), cfg)
        too_short += len(stack) == 0
        rel = raw.meta["recording"]
        stacks.append(stack)
        rows += [
            {
                "file": rel,
                "frame": k,
                "activity": raw.activity,
                "person": raw.person,
                "recording": rel,
                "session": rel,
                "campaign": raw.meta["campaign"],
                "repetition": raw.meta["repetition"],
            }
            for k in range(len(stack))
        ]
    if not rows:
        raise DataError(f"{folder}: no Glasgow recording is long enough for one frame")
    return np.concatenate(stacks), pd.DataFrame(rows), cfg, too_short


def frame_hop_s(processing: Any) -> float | None:
    """Seconds between the starts of neighbouring frames of one recording (frame length
    minus overlap) from ``dataset.json``'s processing settings; None when not recorded."""
    if not isinstance(processing, dict):
        return None
    try:
        frame_s, overlap = float(processing["frame_s"]), float(processing["frame_overlap_s"])
    except (KeyError, TypeError, ValueError):
        return None
    ok = np.isfinite(frame_s) and np.isfinite(overlap) and 0 <= overlap < frame_s
    return frame_s - overlap if ok else None


def _frame_seconds(root: Path, meta: dict[str, Any]) -> float | None:
    """``dataset.json``'s ``frame_s`` (checked), None when it does not give one."""
    from harlab.radar.dataset import positive_meta

    return positive_meta(root, "frame_s", meta["frame_s"], "seconds") if "frame_s" in meta else None


_Frames = Iterator[tuple[np.ndarray, list[dict[str, Any]]]]


def _folder_frames(root: Path, levels: bool = False
                   ) -> tuple[Any, _Frames, dict[str, Any], float | None, int]:
    """A frame folder's labels table, its frames (row 0 = +v_max; ``levels``: the level
    frames) with their table rows one file at a time, dataset.json, frame seconds (None: not
    recorded) and recordings dropped when it was written."""
    from harlab.radar.dataset import ROW0, frame_files, read_metadata

    meta = read_metadata(root)
    table, files = frame_files(root, levels)
    row0 = meta.get("row0", "+v_max")
    if row0 not in ROW0:
        raise DataError(f"{root}/dataset.json: row0 must be one of {', '.join(ROW0)} (the "
                        f"velocity of the frames' top row), got {row0!r}")
    if row0 == "-v_max":  # harlab's frames have +v_max (approaching) in row 0
        files = ((np.ascontiguousarray(stack[:, ::-1, :]), rows) for stack, rows in files)
    dropped = meta.get("dropped")
    too_short = dropped.get("recordings_too_short", 0) if isinstance(dropped, dict) else 0
    too_short = too_short if isinstance(too_short, int) else 0
    return table, files, meta, _frame_seconds(root, meta), too_short


_FIXED = ("file", "frame", "activity", "person", "recording", "session", "n_frames")


def _recordings(stack: np.ndarray, rows: list[dict[str, Any]], label_ids: np.ndarray,
                rate: float, where: str, extra: dict[str, Any], info: dict[str, Any],
                unit: str) -> list[Recording]:
    """One Recording per frame: data ``(W time, H Doppler)``, the frame's label on every
    column, and as meta the fixed fields, ``extra`` and labels.csv's other columns (so
    ``split.group_by`` can name e.g. a ``repetition`` column)."""
    n, h, w = stack.shape
    info["frame_shape"] = [h, w]
    channels = tuple(f"d{i:03d}" for i in range(h))
    units = (unit,) * h
    data = np.ascontiguousarray(stack.transpose(0, 2, 1))  # (n, W time, H doppler)
    others = [c for c in rows[0] if c not in _FIXED]
    out = []
    for i, row in enumerate(rows):
        meta = {"file": f"{where}/{row['file']}", "frame": int(row["frame"]),
                **{k: str(row[k]) for k in ("activity", "person", "recording")},
                **extra, **{k: row[k] for k in others}}
        out.append(Recording(data=data[i], labels=np.full(w, label_ids[i], dtype=np.int64),
                             rate=rate, channels=channels, units=units,
                             subject=str(row["person"]), session=str(row["session"]),
                             meta=meta))
    return out


def stream(path: str | Path | None = None, **options: Any) -> RecordingStream:
    """A frame dataset read one frame file at a time (``glasgow_dir``: all ``.dat`` files
    processed first), one Recording per frame."""
    from harlab.radar.dataset import frame_dynamic_range, frame_unit, label_order

    label, glasgow = _options(path, options)
    levels = bool(options.get("levels", False))
    if glasgow is not None:
        stack, table, proc, too_short = _glasgow_frames(glasgow, options.get("processing"),
                                                        levels)
        files: _Frames = iter([(stack, table.to_dict("records"))])
        meta: dict[str, Any] = {}
        where, known_s = str(glasgow), proc.frame_s
        hop, unit = frame_hop_s(proc.to_dict()), frame_unit(proc.dynamic_range_db)
    else:
        root = Path(path).expanduser()  # type: ignore[arg-type]
        table, files, meta, known_s, too_short = _folder_frames(root, levels)
        where = str(root)
        hop = frame_hop_s(meta.get("processing")) if known_s is not None else None
        unit = frame_unit(frame_dynamic_range(root))
    names = [str(v) for v in table[label]]
    class_names = label_order(names, meta.get("classes" if label == "activity" else "persons"))
    ids = {name: i for i, name in enumerate(class_names)}
    # frame seconds not recorded: 1 s stands in for the rate, and nothing claims seconds
    extra = {"hop_s": hop} if hop is not None else {}
    if known_s is not None:
        extra["frame_s"] = known_s
    info = {"label": label, "frame_shape": None, "frame_s": known_s, "source_folder": where,
            **({"processing": meta["processing"]} if "processing" in meta else {})}
    recordings = (
        rec
        for stack, rows in files
        for rec in _recordings(stack, rows, np.array([ids[str(r[label])] for r in rows]),
                               stack.shape[2] / (known_s or 1.0), where, extra, info,
                               "db" if levels else unit)
    )
    return RecordingStream(NAME, recordings, dict(enumerate(class_names)),
                           dropped={"recordings_too_short": int(too_short)} if too_short else {},
                           info=info)


def load(path: str | Path | None = None, **options: Any) -> RecordingSet:
    """Load a frame dataset (or Glasgow ``.dat`` files) as one Recording per frame."""
    return stream(path, **options).collect()


def fingerprint(path: str | Path | None = None, **options: Any) -> dict:
    """Identify the frame files (or ``.dat`` files) by name, size and mtime for caching."""
    from harlab.radar.dataset import LABELS, LEVEL_COLUMN, META, dataset_files

    _, glasgow = _options(path, options)
    if glasgow is not None:
        from harlab.radar.glasgow import find_dat_files
        from harlab.radar.glasgow_import import READER, glasgow_processing

        # the reader's rules and the chain settings it applies are part of the identity,
        # so a cache made under other defaults is not reused
        return {**files_fingerprint(NAME, glasgow, find_dat_files(glasgow), options),
                "reader": READER, "units": _UNITS,
                "processing": glasgow_processing(options.get("processing")).to_dict()}
    root = Path(path).expanduser()  # type: ignore[arg-type]
    table, files = dataset_files(root)
    if options.get("levels") and LEVEL_COLUMN in table.columns:
        files = files + [root / name for name in table[LEVEL_COLUMN]]
    extra = [root / LABELS] + ([root / META] if (root / META).is_file() else [])
    return {**files_fingerprint(NAME, root, extra + files, options), "units": _UNITS}
