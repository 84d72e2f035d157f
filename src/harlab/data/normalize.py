"""Per-channel z-score normalisation fitted on training windows only.

The statistics are accumulated in one pass over chunks of windows (scikit-learn's
``StandardScaler.partial_fit``: Chan et al.'s pairwise update in float64), so the training
windows never need to be in memory together; ``NormalizedRows`` normalises on read.
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
    """Channel means and standard deviations; stored with the run as plain lists."""

    mean: np.ndarray
    std: np.ndarray

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
        return ((x - self.mean) / self.std).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


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
