"""From a data config to train/val/test arrays.

Order (honest by construction): load recordings -> window each recording (windows
never cross recordings) -> assign windows to parts by recording (subject, session,
official split; or at random for the paper protocol, with a leakage warning) ->
keep the requested classes -> fit the dB frame scale (``data.frame_scale: train``) and the
z-score on the training part only -> apply to all.
Windowed recordings are cached on disk, keyed on the source files and preprocessing, and
the cache is the source of truth: windows are written to it recording by recording and read
from it batch by batch, so no step holds the whole dataset in memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harlab.data import cache as cache_mod
from harlab.data.normalize import DbScale, NormalizedRows, Normalizer, fit_db_scale
from harlab.data.recording import UNLABELLED, NotStreamable, RecordingMeta, RecordingStream
from harlab.data.sources import get_source
from harlab.data.splits import Split, make_split
from harlab.data.store import NpyRows
from harlab.data.windows import WindowCutter, Windows, make_windows, plan_windows
from harlab.errors import ConfigError, DataError
from harlab.fileio import natural_key
from harlab.paths import cache_dir

log = logging.getLogger("harlab")


@dataclass
class WindowedData:
    """All windows of a dataset plus what is known about its recordings and classes."""

    name: str
    windows: Windows
    recordings: list[RecordingMeta]
    classes: dict[int, str]
    channels: tuple[str, ...]
    units: tuple[str, ...]
    official_split: dict[str, str] | None
    dropped: dict[str, int]
    citation: str = ""
    from_cache: bool = False

    @cached_property
    def subject(self) -> np.ndarray:
        """Subject id of every window."""
        return np.array([r.subject for r in self.recordings])[self.windows.recording]

    @cached_property
    def session(self) -> np.ndarray:
        """Session id of every window."""
        return np.array([r.session for r in self.recordings])[self.windows.recording]


def load_windowed(data_cfg: Any, use_cache: bool | None = None) -> WindowedData:
    """Load ``data_cfg.dataset`` and window it.

    With the cache (the default) this is out of core: recordings are read and windowed one
    at a time (a source with ``stream``) or read whole and windowed one at a time (other
    sources), each recording's windows appended to the cache entry's files, and the windows
    are read back on demand; only per-window index arrays stay in memory. Without the
    cache (``data.cache: false``), or where the cache cannot be written, the windows are
    cut in memory; both give the same windows.
    """
    source = get_source(data_cfg.dataset)
    options = _source_options(data_cfg)
    use_cache = data_cfg.cache if use_cache is None else use_cache
    identity = {
        "source": source.name,
        "path": str(data_cfg.path) if data_cfg.path else None,
        "options": options,
        "fingerprint": source.fingerprint(data_cfg.path, **options),
        "window": data_cfg.window.to_dict(),
    }
    key = cache_mod.cache_key(identity)
    root = cache_dir() / "windows"
    if not use_cache:
        return _in_memory(data_cfg, source, options)
    hit = cache_mod.load_entry(root, key)
    if hit is not None:
        return _from_entry(*hit)
    try:
        with cache_mod.EntryWriter(root, key) as writer:
            arrays, manifest = _stream_windows(data_cfg, source, options, writer)
            manifest["identity"] = identity
            entry = writer.commit(manifest)
    except NotStreamable as exc:
        log.info("%s; windowing the whole dataset in memory", exc)
        return _save_in_memory(_in_memory(data_cfg, source, options), root, key, identity)
    except OSError as exc:
        log.warning("could not write cache under %s (%s); continuing without it", root, exc)
        return _in_memory(data_cfg, source, options)
    arrays["x"] = NpyRows(entry / "x.npy")
    wd = _from_entry(arrays, manifest)
    wd.from_cache = False
    return wd


def _source_options(data_cfg: Any) -> dict[str, Any]:
    """``data.options``, plus ``levels: true`` for ``data.frame_scale: train`` (radar frames
    only: the scale is fitted on their absolute level)."""
    options = dict(data_cfg.options or {})
    if getattr(data_cfg, "frame_scale", "stored") == "train":
        if data_cfg.dataset not in ("radar_frames", "glasgow"):
            raise ConfigError(f"data.frame_scale: train applies to radar_frames and glasgow, "
                              f"not {data_cfg.dataset}")
        options["levels"] = True
    return options


def _save_in_memory(wd: WindowedData, root: Path, key: str, identity: dict[str, Any]
                    ) -> WindowedData:
    """Cache windows cut in memory (whole arrays) and return them."""
    w = wd.windows
    manifest = {
        "identity": identity, "name": wd.name, "rate": w.rate, "length": w.length,
        "step": w.step, "window_dropped": w.dropped,
        "recordings": [r.__dict__ for r in wd.recordings],
        "classes": {str(k): v for k, v in wd.classes.items()}, "channels": list(wd.channels),
        "units": list(wd.units), "official_split": wd.official_split, "dropped": wd.dropped,
        "citation": wd.citation,
    }
    try:
        cache_mod.save_entry(root, key, {n: getattr(w, n) for n in cache_mod.ARRAYS}, manifest)
    except OSError as exc:
        log.warning("could not write cache under %s (%s); continuing without it", root, exc)
    return wd


def _in_memory(data_cfg: Any, source: Any, options: dict[str, Any]) -> WindowedData:
    """Load the whole recording set and window it in memory."""
    rs = source.load(data_cfg.path, **options)
    windows = make_windows(rs.recordings, data_cfg.window)
    dropped = {**rs.dropped, **{k: v for k, v in windows.dropped.items() if v}}
    return WindowedData(
        name=rs.name,
        windows=windows,
        recordings=[RecordingMeta.of(r) for r in rs.recordings],
        classes=dict(rs.classes),
        channels=rs.channels,
        units=rs.units,
        official_split=rs.official_split,
        dropped=dropped,
        citation=rs.citation,
    )


def _from_entry(arrays: dict[str, Any], m: dict[str, Any]) -> WindowedData:
    windows = Windows(
        x=arrays["x"],
        y=arrays["y"],
        recording=arrays["recording"],
        start=arrays["start"],
        purity=arrays["purity"],
        rate=m["rate"],
        length=m["length"],
        step=m["step"],
        dropped=m["window_dropped"],
    )
    return WindowedData(
        name=m["name"],
        windows=windows,
        recordings=[RecordingMeta(**r) for r in m["recordings"]],
        classes={int(k): v for k, v in m["classes"].items()},
        channels=tuple(m["channels"]),
        units=tuple(m["units"]),
        official_split=m["official_split"],
        dropped=m["dropped"],
        citation=m.get("citation", ""),
        from_cache=True,
    )


def _open_stream(data_cfg: Any, source: Any, options: dict[str, Any]
                 ) -> tuple[RecordingStream, WindowCutter]:
    """The source's recordings one at a time, and the cutter that windows them. A source
    without ``stream`` is loaded whole and its sizes checked over all recordings first."""
    if source.streams:
        return source.stream(data_cfg.path, **options), WindowCutter(data_cfg.window)
    rs = source.load(data_cfg.path, **options)
    recordings, cutter = plan_windows(rs.recordings, data_cfg.window)
    return RecordingStream.of(rs, recordings), cutter


def _stream_windows(data_cfg: Any, source: Any, options: dict[str, Any],
                    writer: cache_mod.EntryWriter) -> tuple[dict[str, Any], dict[str, Any]]:
    """Window the recordings one at a time, appending their windows to ``writer``; the
    per-window index arrays (in memory) and the entry's manifest."""
    stream, cutter = _open_stream(data_cfg, source, options)
    metas: list[RecordingMeta] = []
    cols: dict[str, list[np.ndarray]] = {"y": [], "recording": [], "start": [], "purity": []}
    first: Any = None
    for i, rec in enumerate(stream.recordings):
        if first is None:
            first = rec
        if rec.channels != first.channels:
            raise DataError(f"{stream.name}: recording {rec.meta.get('file', rec.subject)} has "
                            f"channels {rec.channels}, expected {first.channels}")
        x, y, start, purity = cutter.cut(rec)
        writer.append("x", x)
        for name, arr in zip(cols, (y, np.full(y.shape[0], i, np.int64), start, purity),
                             strict=True):
            cols[name].append(arr)
        metas.append(RecordingMeta.of(rec))
    if first is None:
        raise DataError(f"{stream.name}: no recordings were loaded")
    arrays: dict[str, Any] = {k: np.concatenate(v) for k, v in cols.items()}
    arrays["y"] = stream.relabel(arrays["y"], arrays["recording"])
    for name in cache_mod.ARRAYS[1:]:
        writer.append(name, arrays[name])
    manifest = {
        "name": stream.name,
        "rate": float(cutter.rate),
        "length": cutter.length,
        "step": cutter.step,
        "window_dropped": cutter.dropped,
        "recordings": [r.__dict__ for r in metas],
        "classes": {str(k): v for k, v in stream.classes.items()},
        "channels": list(first.channels),
        "units": list(first.units),
        "official_split": stream.official_split,
        "dropped": {**stream.dropped, **{k: v for k, v in cutter.dropped.items() if v}},
        "citation": stream.citation,
    }
    return arrays, json.loads(json.dumps(manifest, default=str))


@dataclass
class PreparedData:
    """Each part's windows (normalised when read), labels, class names and everything a run
    must record."""

    x: dict[str, NormalizedRows]
    y: dict[str, np.ndarray]
    index: dict[str, np.ndarray]
    class_ids: list[int]
    class_names: list[str]
    normalizer: Normalizer
    split: Split
    windowed: WindowedData
    excluded: dict[str, int] = field(default_factory=dict)
    person: dict[str, np.ndarray] = field(default_factory=dict)
    person_names: list[str] = field(default_factory=list)
    db_scale: DbScale | None = None  # data.frame_scale: train (in ``normalizer`` too)

    @property
    def input_shape(self) -> tuple[int, int]:
        return int(self.windowed.windows.length), len(self.windowed.channels)

    def subjects(self, part: str) -> np.ndarray:
        return self.windowed.subject[self.index[part]]

    def sessions(self, part: str) -> np.ndarray:
        return self.windowed.session[self.index[part]]

    def starts(self, part: str) -> np.ndarray:
        return np.asarray(self.windowed.windows.start[self.index[part]])

    def recordings(self, part: str) -> np.ndarray:
        return np.asarray(self.windowed.windows.recording[self.index[part]])

    def labels(self, head: str, part: str) -> np.ndarray:
        """True labels of one head: activity classes or identity (person) indices."""
        return self.y[part] if head == "activity" else self.person[part]


def person_labels(
    subjects: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Identity labels 0..P-1 over the training part's subjects (natural order).

    Windows of subjects that have no training windows get -1: they cannot be identified.
    """
    names = sorted({str(s) for s in np.unique(subjects["train"])}, key=natural_key)
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for part, subj in subjects.items():
        uniq, inv = np.unique(np.asarray(subj).astype(str), return_inverse=True)
        codes = np.array([index.get(u, -1) for u in uniq.tolist()], dtype=np.int64)
        out[part] = codes[inv.reshape(-1)] if len(uniq) else np.zeros(0, np.int64)
    return out, names


def select_classes(
    classes: dict[int, str], present: np.ndarray, labels: list[int] | None
) -> list[int]:
    """Dataset label ids to train on: ``labels`` if given (validated), else all present."""
    if labels is None:
        return sorted(int(c) for c in np.unique(present) if c != UNLABELLED)
    unknown = [lab for lab in labels if lab not in classes]
    if unknown:
        raise ConfigError(
            f"data.labels {unknown} are not labels of this dataset; known: "
            + ", ".join(f"{k}={v}" for k, v in sorted(classes.items()))
        )
    return sorted(int(lab) for lab in labels)


def _raw_chunks(x: Any, index: np.ndarray, max_bytes: int = 32 << 20) -> Iterator[np.ndarray]:
    """Windows ``x[index]`` in chunks of at most ``max_bytes``, read one chunk at a time."""
    row = max(int(np.prod(x.shape[1:])) * 4, 1)
    size = max(max_bytes // row, 1)
    for i in range(0, index.size, size):
        yield np.asarray(x[index[i : i + size]])


def prepare(data_cfg: Any, wd: WindowedData | None = None) -> PreparedData:
    """Split, filter classes and fit normalisation on train only (in one pass over the
    training windows); each part's windows are read and normalised on demand."""
    wd = wd or load_windowed(data_cfg)
    w = wd.windows
    split = make_split(w, wd.recordings, data_cfg.split, wd.official_split)
    class_ids = select_classes(wd.classes, np.asarray(w.y), data_cfg.labels)
    ids = np.asarray(class_ids, np.int64)
    y_all = np.asarray(w.y)
    keep = np.isin(y_all, class_ids)
    excluded = {}
    index, xs, ys = {}, {}, {}
    for part in ("train", "val", "test"):
        idx = getattr(split, part)
        kept = idx[keep[idx]]
        excluded[part] = int(idx.size - kept.size)
        index[part] = kept
    if index["train"].size == 0:
        raise DataError(f"{wd.name}: the training part has no windows after the split")
    if index["test"].size == 0:
        raise DataError(f"{wd.name}: the test part has no windows after the split")
    normalizer, db_scale = _fit_normalizer(data_cfg, w.x, index["train"])
    for part in ("train", "val", "test"):
        xs[part] = NormalizedRows(w.x, index[part], normalizer)
        ys[part] = np.searchsorted(ids, y_all[index[part]]).astype(np.int64)
    names = [wd.classes.get(c, str(c)) for c in class_ids]
    person, person_names = person_labels({p: wd.subject[index[p]] for p in index})
    return PreparedData(
        xs, ys, index, class_ids, names, normalizer, split, wd, excluded, person, person_names,
        db_scale,
    )


def _fit_normalizer(data_cfg: Any, x: Any, train: np.ndarray
                    ) -> tuple[Normalizer, DbScale | None]:
    """The dB frame scale (``data.frame_scale: train``) and then the z-score
    (``data.normalize``), both fitted on the training windows only, as one normaliser."""
    channels = x.shape[-1]
    scale = None
    if getattr(data_cfg, "frame_scale", "stored") == "train":
        scale = fit_db_scale(_raw_chunks(x, train), data_cfg.frame_ceiling_percentile,
                             data_cfg.frame_range_db)
    first = scale.normalizer(channels) if scale else None
    if not data_cfg.normalize:
        return first or Normalizer.identity(channels), scale
    chunks = _raw_chunks(x, train)
    z = Normalizer.fit_chunks(first.apply(c) for c in chunks) if first else (
        Normalizer.fit_chunks(chunks))
    return (first.then(z) if first else z), scale


def data_summary(data: PreparedData) -> dict[str, Any]:
    """What a run's ``data.json`` records: windows per part, split, classes, normalisation."""
    wd = data.windowed
    return {
        "dataset": wd.name,
        "citation": wd.citation,
        "channels": list(wd.channels),
        "units": list(wd.units),
        "rate": wd.windows.rate,
        "window_length": wd.windows.length,
        "window_step": wd.windows.step,
        "class_ids": data.class_ids,
        "class_names": data.class_names,
        "split": data.split.description,
        "split_subjects": data.split.subjects,
        # which sessions (trials, experiments) each part's windows come from, so a session
        # or recording split can be audited from the run directory alone
        "split_sessions": {k: sorted({str(x) for x in np.unique(data.sessions(k))})
                           for k in data.y},
        "warnings": data.split.warnings,
        "windows": {k: int(v.shape[0]) for k, v in data.y.items()},
        "dropped": {
            **wd.dropped,
            **{f"windows_excluded_class_{k}": v for k, v in data.excluded.items() if v},
            **({"windows_straddling_val_cut": data.split.dropped} if data.split.dropped else {}),
        },
        "normalization": data.normalizer.to_dict(),
        **({"frame_scale": data.db_scale.to_dict()} if data.db_scale else {}),
        "from_cache": wd.from_cache,
    }
