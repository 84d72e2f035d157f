"""Per-channel z-score normalisation fitted on training windows only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
