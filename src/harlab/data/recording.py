"""The :class:`Recording`: one continuous multichannel signal of one subject/session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harlab.errors import DataError
from harlab.fileio import natural_key

UNLABELLED = -1


@dataclass
class Recording:
    """One continuous recording with per-sample labels.

    ``data`` is (T, C) float32, ``labels`` is (T,) int64 with ``UNLABELLED`` (-1) for
    samples without a label. ``subject`` and ``session`` are strings so that ids from
    different datasets never collide by accident; ``meta`` keeps the source file and
    subject attributes (age, height, weight, ...) when the dataset provides them.
    """

    data: np.ndarray
    labels: np.ndarray
    rate: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    subject: str
    session: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        with np.errstate(over="ignore"):  # beyond float32: inf, a window dropped as NaN
            self.data = np.ascontiguousarray(self.data, dtype=np.float32)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        self.channels = tuple(self.channels)
        self.units = tuple(self.units)
        self.subject = str(self.subject)
        self.session = str(self.session)
        where = self.meta.get("file", f"subject {self.subject} session {self.session}")
        if self.data.ndim != 2:
            raise DataError(f"{where}: recording data must be 2-D (T, C), got {self.data.shape}")
        if self.labels.shape != (self.data.shape[0],):
            raise DataError(
                f"{where}: {self.labels.shape[0]} labels for {self.data.shape[0]} samples"
            )
        if len(self.channels) != self.data.shape[1]:
            raise DataError(
                f"{where}: {len(self.channels)} channel names for {self.data.shape[1]} channels"
            )
        if len(self.units) != len(self.channels):
            raise DataError(f"{where}: {len(self.units)} units for {len(self.channels)} channels")
        if not (self.rate > 0 and np.isfinite(self.rate)):
            raise DataError(f"{where}: sampling rate must be positive, got {self.rate}")

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.rate


@dataclass
class RecordingSet:
    """All recordings of one dataset plus what is known about its classes and protocol.

    ``classes`` maps label id -> name (UNLABELLED is never a class). ``official_split``
    maps subject id -> "train"/"test" for datasets with an official split. ``dropped``
    counts what a loader discarded (rows, records, files) so nothing is lost silently.
    """

    name: str
    recordings: list[Recording]
    classes: dict[int, str]
    official_split: dict[str, str] | None = None
    citation: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.recordings:
            raise DataError(f"{self.name}: no recordings were loaded")
        first = self.recordings[0]
        for rec in self.recordings[1:]:
            if rec.channels != first.channels:
                raise DataError(
                    f"{self.name}: recording {rec.meta.get('file', rec.subject)} has channels "
                    f"{rec.channels}, expected {first.channels}"
                )

    @property
    def channels(self) -> tuple[str, ...]:
        return self.recordings[0].channels

    @property
    def units(self) -> tuple[str, ...]:
        return self.recordings[0].units

    @property
    def subjects(self) -> list[str]:
        return sorted({r.subject for r in self.recordings}, key=natural_key)

    @property
    def rates(self) -> set[float]:
        return {r.rate for r in self.recordings}


class NotStreamable(Exception):
    """Raised by a stream that finds part-way that it cannot give its recordings one at a
    time; the caller loads the whole set instead."""


@dataclass
class RecordingStream:
    """The recordings of a dataset yielded one at a time (what ``stream`` of a source
    returns, so a dataset larger than memory can be windowed recording by recording).

    ``classes``, ``dropped`` and ``label_maps`` are complete only once ``recordings`` is
    exhausted. ``label_maps`` (one per recording yielded, or None for none at all) maps a
    recording's provisional label codes 0..k-1 to the dataset's ids, ``final =
    map[code]``; provisional codes must be in the order of the final ids, so that windows
    cut with them pick the same majority label.
    """

    name: str
    recordings: Iterator[Recording]
    classes: dict[int, str] = field(default_factory=dict)
    official_split: dict[str, str] | None = None
    citation: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    label_maps: list[np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rs: RecordingSet, recordings: list[Recording] | None = None) -> RecordingStream:
        """A stream over a loaded set (its ``recordings``, or those given, e.g. resampled)."""
        recs = rs.recordings if recordings is None else recordings
        return cls(rs.name, iter(recs), dict(rs.classes), rs.official_split, rs.citation,
                   dict(rs.dropped))

    def collect(self) -> RecordingSet:
        """Every recording read, as the set ``load`` returns (labels as the dataset's ids)."""
        recs = list(self.recordings)
        for rec, lut in zip(recs, self.label_maps or [None] * len(recs), strict=True):
            if lut is not None:
                known = rec.labels != UNLABELLED
                rec.labels[known] = lut[rec.labels[known]]
        return RecordingSet(self.name, recs, dict(self.classes), self.official_split,
                            self.citation, dict(self.dropped), dict(self.info))

    def relabel(self, y: np.ndarray, recording: np.ndarray) -> np.ndarray:
        """Window labels ``y`` (cut with provisional codes) as the dataset's ids."""
        if self.label_maps is None:
            return y
        sizes = np.array([lut.size for lut in self.label_maps], np.int64)
        offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        flat = np.concatenate([*self.label_maps, np.zeros(0, np.int64)]).astype(np.int64)
        sel = y != UNLABELLED
        out = y.copy()
        out[sel] = flat[offset[recording[sel]] + y[sel]]
        return out


@dataclass
class RecordingMeta:
    """What the split logic and reports need of a recording, without its samples."""

    subject: str
    session: str
    n_samples: int
    rate: float
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, rec: Recording) -> RecordingMeta:
        return cls(rec.subject, rec.session, rec.n_samples, rec.rate, dict(rec.meta))
