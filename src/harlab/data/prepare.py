"""From a data config to train/val/test arrays.

Order (honest by construction): load recordings -> window each recording (windows
never cross recordings) -> assign windows to parts by recording (subject, session,
official split; or at random for the paper protocol, with a leakage warning) ->
keep the requested classes -> fit z-score on the training part only -> apply to all.
Windowed recordings are cached on disk, keyed on the source files and preprocessing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from harlab.data import cache as cache_mod
from harlab.data.normalize import Normalizer
from harlab.data.recording import UNLABELLED, RecordingMeta
from harlab.data.sources import get_source
from harlab.data.splits import Split, make_split
from harlab.data.windows import Windows, make_windows
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
    """Load ``data_cfg.dataset`` and window it, through the on-disk cache when enabled."""
    source = get_source(data_cfg.dataset)
    options = dict(data_cfg.options or {})
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
    if use_cache:
        hit = cache_mod.load_entry(root, key)
        if hit is not None:
            arrays, m = hit
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
    rs = source.load(data_cfg.path, **options)
    windows = make_windows(rs.recordings, data_cfg.window)
    dropped = {**rs.dropped, **{k: v for k, v in windows.dropped.items() if v}}
    wd = WindowedData(
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
    if use_cache:
        manifest = {
            "identity": identity,
            "name": wd.name,
            "rate": windows.rate,
            "length": windows.length,
            "step": windows.step,
            "window_dropped": windows.dropped,
            "recordings": [r.__dict__ for r in wd.recordings],
            "classes": {str(k): v for k, v in wd.classes.items()},
            "channels": list(wd.channels),
            "units": list(wd.units),
            "official_split": wd.official_split,
            "dropped": wd.dropped,
            "citation": wd.citation,
        }
        arrays = {n: getattr(windows, n) for n in cache_mod.ARRAYS}
        try:
            cache_mod.save_entry(root, key, arrays, manifest)
        except OSError as exc:
            log.warning("could not write cache under %s (%s); continuing without it", root, exc)
    return wd


@dataclass
class PreparedData:
    """Normalised arrays for each part, class names and everything a run must record."""

    x: dict[str, np.ndarray]
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


def prepare(data_cfg: Any, wd: WindowedData | None = None) -> PreparedData:
    """Split, filter classes, fit normalisation on train only, and materialise arrays."""
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
    x_train = np.asarray(w.x[index["train"]])
    normalizer = (
        Normalizer.fit(x_train) if data_cfg.normalize else Normalizer.identity(x_train.shape[-1])
    )
    for part in ("train", "val", "test"):
        raw = x_train if part == "train" else np.asarray(w.x[index[part]])
        xs[part] = normalizer.apply(raw)
        ys[part] = np.searchsorted(ids, y_all[index[part]]).astype(np.int64)
    names = [wd.classes.get(c, str(c)) for c in class_ids]
    person, person_names = person_labels({p: wd.subject[index[p]] for p in index})
    return PreparedData(
        xs, ys, index, class_ids, names, normalizer, split, wd, excluded, person, person_names
    )


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
        "from_cache": wd.from_cache,
    }
