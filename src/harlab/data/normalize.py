"""Per-channel z-score normalisation and dB frame scaling, fitted on training windows only.

The statistics are accumulated in one pass over chunks of windows (scikit-learn's
``StandardScaler.partial_fit``: Chan et al.'s pairwise update in float64), so the training
windows never need to be in memory together; ``NormalizedRows`` normalises on read.

:func:`fit_db_scale` fits the dataset-wide dB scaling of radar level frames
(``data.frame_scale: train``): a ceiling at a percentile of every training value and a
floor ``range_db`` below it, mapped to [0, 1]. It is a :class:`Normalizer` with bounds
(``(x - mean) / std`` clipped to ``[lo, hi]``), so a z-score fitted after it composes into
one (:meth:`Normalizer.then`) and every reader of a run's normalisation applies both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.preprocessing import StandardScaler

from harlab.errors import ConfigError


@dataclass
class Normalizer:
    """Channel means and standard deviations, optionally bounds ``lo``/``hi`` that the
    normalised values are clipped to; stored with the run as plain lists."""

    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    @classmethod
    def fit(cls, x: np.ndarray, eps: float = 1e-6) -> Normalizer:
        """Fit on training windows ``x`` (N, T, C); constant channels get std 1."""
        if x.ndim != 3 or x.shape[0] == 0:
            raise ConfigError(f"cannot fit normalisation on windows of shape {x.shape}")
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        std = np.where(std < eps, 1.0, std)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    @classmethod
    def fit_chunks(cls, chunks: Iterable[np.ndarray], eps: float = 1e-6) -> Normalizer:
        """Fit on training windows given as chunks (n, T, C), in one pass."""
        scaler, shape = StandardScaler(), None
        for chunk in chunks:
            shape = chunk.shape
            if chunk.ndim != 3:
                raise ConfigError(f"cannot fit normalisation on windows of shape {shape}")
            if chunk.shape[0]:
                scaler.partial_fit(chunk.reshape(-1, chunk.shape[-1]))
        if shape is None or not getattr(scaler, "n_samples_seen_", 0):
            raise ConfigError(f"cannot fit normalisation on windows of shape {shape}")
        std = np.sqrt(scaler.var_)
        std = np.where(std < eps, 1.0, std)
        return cls(scaler.mean_.astype(np.float32), std.astype(np.float32))

    @classmethod
    def identity(cls, channels: int) -> Normalizer:
        return cls(np.zeros(channels, np.float32), np.ones(channels, np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return normalised float32 copy of ``x`` (..., C)."""
        if x.shape[-1] != self.mean.shape[0]:
            raise ConfigError(
                f"normaliser has {self.mean.shape[0]} channels, input has {x.shape[-1]}"
            )
        out = ((x - self.mean) / self.std).astype(np.float32, copy=False)
        if self.lo is not None and self.hi is not None:  # non-finite values stay so
            out = np.where(np.isfinite(out), np.clip(out, self.lo, self.hi), out)
        return out.astype(np.float32, copy=False)

    def then(self, other: Normalizer) -> Normalizer:
        """One normaliser that applies ``self`` and then ``other`` (whose std is > 0, so
        the bounds map through ``other``'s affine step unchanged in order)."""
        if other.lo is not None:
            raise ConfigError("cannot compose after a bounded normaliser")
        mean = self.mean + other.mean * self.std
        std = self.std * other.std
        lo = None if self.lo is None else (self.lo - other.mean) / other.std
        hi = None if self.hi is None else (self.hi - other.mean) / other.std
        return Normalizer(np.asarray(mean, np.float32), np.asarray(std, np.float32),
                          *(None if b is None else np.asarray(b, np.float32) for b in (lo, hi)))

    def to_dict(self) -> dict[str, list[float]]:
        out = {"mean": self.mean.tolist(), "std": self.std.tolist()}
        if self.lo is not None and self.hi is not None:
            out |= {"lo": self.lo.tolist(), "hi": self.hi.tolist()}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        bounds = [np.asarray(d[k], np.float32) if k in d else None for k in ("lo", "hi")]
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32), *bounds)


# dB histogram of fit_db_scale: 0.01 dB bins over +-400 dB (values beyond go to the ends)
_DB_EDGES = np.linspace(-400.0, 400.0, 80_001)


@dataclass(frozen=True)
class DbScale:
    """The fitted dB scaling: ``ceiling_db`` (the ``percentile`` of the training values)
    maps to 1, ``ceiling_db - range_db`` and below to 0."""

    ceiling_db: float
    range_db: float
    percentile: float
    values: int  # training values the percentile was taken over

    def normalizer(self, channels: int) -> Normalizer:
        """The scaling as a bounded :class:`Normalizer` over ``channels`` channels."""
        low, span = self.ceiling_db - self.range_db, self.range_db
        return Normalizer(*(np.full(channels, v, np.float32) for v in (low, span, 0.0, 1.0)))

    def to_dict(self) -> dict[str, float | int]:
        return {"ceiling_db": self.ceiling_db, "range_db": self.range_db,
                "percentile": self.percentile, "values": self.values}


def fit_db_scale(chunks: Iterable[np.ndarray], percentile: float, range_db: float) -> DbScale:
    """Fit :class:`DbScale` on training windows of dB values given as chunks, in one pass
    (a histogram of 0.01 dB bins, so the ceiling is exact to 0.01 dB)."""
    counts = np.zeros(_DB_EDGES.size - 1, np.int64)
    for chunk in chunks:
        values = np.asarray(chunk, np.float64).ravel()
        if not np.isfinite(values).all():
            raise ConfigError("cannot fit the dB frame scale: training values are not finite")
        counts += np.histogram(np.clip(values, _DB_EDGES[0], _DB_EDGES[-1]), _DB_EDGES)[0]
    total = int(counts.sum())
    if total == 0:
        raise ConfigError("cannot fit the dB frame scale: no training values")
    k = int(np.searchsorted(np.cumsum(counts), percentile / 100 * total))
    ceiling = float(_DB_EDGES[min(k + 1, _DB_EDGES.size - 1)])
    return DbScale(round(ceiling, 2), float(range_db), float(percentile), total)


class NormalizedRows:
    """Rows ``index`` of ``source`` (an array or :class:`~harlab.data.store.NpyRows` of
    windows), normalised when read: indexes like a read-only float32 array along axis 0
    (an int, a slice, integer indices or a boolean mask)."""

    def __init__(self, source: Any, index: np.ndarray, normalizer: Normalizer) -> None:
        self.source, self.index, self.normalizer = source, np.asarray(index), normalizer
        self.shape: tuple[int, ...] = (int(self.index.shape[0]), *source.shape[1:])
        self.dtype = np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.index[key]
        raw = self.source[int(rows)] if np.ndim(rows) == 0 else self.source[rows]
        return self.normalizer.apply(np.asarray(raw))

    def chunks(self, size: int = 2048) -> Iterable[np.ndarray]:
        """The rows in order, ``size`` at a time."""
        for i in range(0, len(self), size):
            yield self[i : i + size]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[:]
        return arr if dtype is None else arr.astype(dtype, copy=False)
