"""Seeded augmentation of training windows (``train.augment``), batch by batch.

Windows are ``(batch, time, channels)``; for radar frames (dataset ``radar_frames``) the
channels are the Doppler bins. Each window gets its own draw:

* ``time_shift`` (fraction of the window length, in [0, 1)): shift along time by a whole
  number of steps drawn uniformly in ``+-round(time_shift * T)``;
* ``doppler_shift`` (whole channels >= 0): shift along the channels by a number drawn
  uniformly in ``+-doppler_shift`` (radar frames: Doppler jitter);
* ``noise_std`` (>= 0, in the window's own units: radar frames are in [0, 1]): add
  Gaussian noise of that standard deviation.

Shifted-in positions are 0 (the dB floor of a radar frame, the training mean of normalised
sensor data); nothing wraps around. The draws of a batch come from a generator seeded by
the training seed and the batch's window indices (which the sampler draws from the seed
and the epoch), so a run augments the same way every time it is trained, and differently
in every epoch. Only the training loader augments; validation and test windows are never
changed, and without ``train.augment`` the batches are exactly the unaugmented ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from harlab.config import AUGMENT_KEYS

__all__ = ["AUGMENT_KEYS", "augment_batch", "batch_generator"]


def batch_generator(seed: int, indices: Sequence[int]) -> np.random.Generator:
    """The generator of one batch: seeded by ``seed`` and the batch's window indices."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, indices)]))


def _shift(x: torch.Tensor, shifts: np.ndarray, axis: int) -> torch.Tensor:
    """Shift each window of ``x`` by ``shifts[i]`` steps along ``axis`` (1 or 2), zero fill."""
    n = x.shape[axis]
    src = torch.arange(n)[None, :] - torch.from_numpy(shifts.astype(np.int64))[:, None]
    valid = (src >= 0) & (src < n)
    src = src.clamp(0, n - 1)
    if axis == 1:
        out = torch.gather(x, 1, src[:, :, None].expand(-1, -1, x.shape[2]))
        return out * valid[:, :, None].to(x.dtype)
    out = torch.gather(x, 2, src[:, None, :].expand(-1, x.shape[1], -1))
    return out * valid[:, None, :].to(x.dtype)


def augment_batch(x: torch.Tensor, options: Mapping[str, float],
                  rng: np.random.Generator) -> torch.Tensor:
    """``x`` (batch, time, channels) augmented by ``options`` (module docstring); a new
    tensor, ``x`` itself unchanged; empty ``options`` return ``x``."""
    if not options:
        return x
    b, t, _ = x.shape
    out = x
    steps = int(round(float(options.get("time_shift", 0.0)) * t))
    if steps:
        out = _shift(out, rng.integers(-steps, steps + 1, b), 1)
    bins = int(options.get("doppler_shift", 0))
    if bins:
        out = _shift(out, rng.integers(-bins, bins + 1, b), 2)
    std = float(options.get("noise_std", 0.0))
    if std > 0:
        noise = rng.standard_normal(out.shape, dtype=np.float32) * np.float32(std)
        out = out + torch.from_numpy(noise).to(out.dtype)
    return out
