"""Scores of a trained radar model on its test frames moved in time and in Doppler.

A diagnostic of *where* a model looks: a classifier whose features are local and whose
last layer weighs each position separately loses more when the same signature sits a few
bins away than one whose features span the frame. Persons differ in speed and in the timing
of their limbs, so a model that is sensitive to small shifts is expected to generalise
worse to persons it has not seen (docs/results/mranet.md, "Why does MRA-Net lose to
dcnn5: depth or parameters?").

Frames are moved by whole pixels and the uncovered pixels take each frame's minimum (the
floor), so nothing wraps around: a Doppler shift of ``d`` bins is a velocity offset of
``d`` bin widths, a time shift of ``t`` columns a ``t``-column delay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harlab.errors import ConfigError


def shift_frames(frames: np.ndarray, time: int = 0, doppler: int = 0) -> np.ndarray:
    """``frames`` (N, W, H) moved ``time`` columns along W and ``doppler`` rows along H
    (positive = towards higher indices); uncovered pixels take each frame's minimum."""
    n, w, h = frames.shape
    if abs(time) >= w or abs(doppler) >= h:
        raise ConfigError(f"shift ({time}, {doppler}) does not fit frames of {w} x {h}")
    fill = frames.reshape(n, -1).min(axis=1)[:, None, None]
    out = np.broadcast_to(fill, frames.shape).astype(frames.dtype, copy=True)
    src_t = slice(max(0, -time), w - max(0, time))
    dst_t = slice(max(0, time), w - max(0, -time))
    src_d = slice(max(0, -doppler), h - max(0, doppler))
    dst_d = slice(max(0, doppler), h - max(0, -doppler))
    out[:, dst_t, dst_d] = frames[:, src_t, src_d]
    return out


def run_shift_test(run_dir: str | Path, time_shifts: list[int], doppler_shifts: list[int],
                   part: str = "test") -> dict[str, Any]:
    """Scores of a radar frame run's best checkpoint on its ``part`` frames unshifted, moved
    by each of ``time_shifts`` columns and by each of ``doppler_shifts`` Doppler bins."""
    from harlab.evaluation.snr import head_scores, load_run_frames

    rf = load_run_frames(run_dir, part, purpose="the shift test")
    n, w, h = rf.frames.shape

    def scores(t: int, d: int) -> dict[str, float]:
        return head_scores(rf.module, rf.normalize(shift_frames(rf.frames, t, d)), rf.truth)

    return {"run": str(rf.run), "part": part, "frames": int(n), "frame_size": [w, h],
            "clean": head_scores(rf.module, rf.clean, rf.truth),
            "time": {str(t): scores(t, 0) for t in time_shifts},
            "doppler": {str(d): scores(0, d) for d in doppler_shifts}}
