"""The :class:`Recording`: one continuous multichannel signal of one subject/session."""

from __future__ import annotations

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
