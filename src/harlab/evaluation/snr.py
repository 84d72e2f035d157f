"""Scores of a trained radar model on frames with white Gaussian noise at set SNRs.

The noise is :func:`harlab.radar.snr_sweep.add_frame_noise`: white Gaussian noise in
linear power on the micro-Doppler frames (SNR = mean frame power / noise variance), so it
works on any frame folder that records its dB range. ``harlab radar snr-sweep RUN`` scores
a run's test frames this way; ``harlab reproduce mranet`` uses it for Fig. 11 on folders
that harlab did not simulate. :func:`load_run_frames` (a run's checkpoint and test frames)
also serves the shift test, :mod:`harlab.evaluation.shift`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harlab.errors import CheckpointError, ConfigError


def head_scores(module: Any, x: np.ndarray, truth: dict[str, np.ndarray]
                ) -> dict[str, float]:
    """``{head}_macro_f1`` / ``{head}_accuracy`` of ``module`` on windows ``x``; ``truth``
    holds each head's true class names."""
    from harlab.evaluation.metrics import compute_metrics
    from harlab.tasks.predict import head_classes, predict_heads

    probs = predict_heads(module, x, batch_size=256)
    out: dict[str, float] = {}
    for head, names in head_classes(module).items():
        index = {n: i for i, n in enumerate(names)}
        t = np.array([index[v] for v in truth[head]], np.int64)
        m = compute_metrics(t, probs[head].argmax(1), names, labels=range(len(names)))
        out[f"{head}_macro_f1"], out[f"{head}_accuracy"] = m["macro_f1"], m["accuracy"]
    return out


def scores_at_snrs(module: Any, frames: np.ndarray, truth: dict[str, np.ndarray],
                   snrs: list[float], dynamic_range_db: float | None, seed: int = 0,
                   normalize: Any = None) -> dict[float, dict[str, float]]:
    """Scores of ``module`` on ``frames`` (N, W, H) with noise at each SNR (one seeded
    draw per SNR); ``normalize`` (the run's normalizer's ``apply``) after the noise.
    ``dynamic_range_db`` None: the frames are level frames in dB (``data.frame_scale:
    train``), noised by :func:`~harlab.radar.snr_sweep.add_level_noise`."""
    from harlab.radar.snr_sweep import add_frame_noise, add_level_noise

    out = {}
    for k, snr in enumerate(snrs):
        x = (add_level_noise(frames, float(snr), seed + k) if dynamic_range_db is None
             else add_frame_noise(frames, float(snr), dynamic_range_db, seed + k))
        out[float(snr)] = {"n": int(len(x)),
                           **head_scores(module, normalize(x) if normalize else x, truth)}
    return out


@dataclass
class RunFrames:
    """A radar frame run's best checkpoint and one part of its own split, ready to score."""

    run: Path
    module: Any
    frames: np.ndarray  # (N, W, H) as stored (before the run's normalisation)
    clean: np.ndarray   # the same frames normalised as the run trained
    truth: dict[str, np.ndarray]
    normalize: Any      # the run's normalizer's ``apply``
    dynamic_range_db: float | None  # None: level frames in dB (``data.frame_scale: train``)
    frame_scale: Any
    warnings: list[str]


def load_run_frames(run_dir: str | Path, part: str = "test", allow_unfinished: bool = False,
                    purpose: str = "scoring", needs_range: bool = False) -> RunFrames:
    """Load a radar frame run's best checkpoint and its ``part`` frames with their true
    classes. Only a complete run, unless ``allow_unfinished`` (``warnings`` say why).
    ``purpose`` names the use in errors; ``needs_range``: [0, 1] frames whose folder gives
    no dB range are refused before the checkpoint is read."""
    from harlab.config import from_dict, load_yaml
    from harlab.data.prepare import prepare
    from harlab.radar.dataset import frame_dynamic_range
    from harlab.runs import best_checkpoint, check_run_dir
    from harlab.tasks.checkpoint import load_run_module
    from harlab.tasks.predict import head_classes

    run = check_run_dir(run_dir)
    cfg = from_dict(load_yaml(run / "config.yaml"))
    if cfg.data.dataset != "radar_frames" or cfg.data.options.get("glasgow_dir"):
        raise ConfigError(f"{run}: {purpose} works on radar frame folders; this run "
                          f"trained on {cfg.data.dataset}")
    folder = Path(str(cfg.data.path))
    levels = cfg.data.frame_scale == "train"  # level frames in dB: no dB range needed
    db_range = None if levels else frame_dynamic_range(folder)
    if needs_range and db_range is None and not levels:
        raise ConfigError(f"{folder}/dataset.json: no dynamic_range_db; {purpose} needs the "
                          "dB range the frames span to add noise in linear power")
    module, unfinished = load_run_module(run, best_checkpoint(run), allow_unfinished)
    data = prepare(cfg.data)
    names = {"activity": data.class_names, "identity": data.person_names}
    for head, have in head_classes(module).items():
        if list(have) != list(names[head]):
            raise CheckpointError(f"{run}: checkpoint {head} classes differ from the data's; "
                                  "the frame folder changed since training")
    idx = data.index[part]
    truth = {"activity": np.array(data.class_names)[data.y[part]]}
    if "identity" in head_classes(module):
        if (data.person[part] < 0).any():
            raise ConfigError(f"{run}: {part} frames of persons without training frames; "
                              "they cannot be identified")
        truth["identity"] = np.array(data.person_names)[data.person[part]]
    return RunFrames(run, module, np.asarray(data.windowed.windows.x[idx]), data.x[part],
                     truth, data.normalizer.apply, db_range,
                     data.db_scale.to_dict() if data.db_scale else "stored",
                     [unfinished] if unfinished else [])


def run_snr_sweep(run_dir: str | Path, snrs: list[float], part: str = "test",
                  seed: int = 0, allow_unfinished: bool = False) -> dict[str, Any]:
    """Score a radar frame run's best checkpoint on its ``part`` frames (its own split)
    with noise at each of ``snrs`` dB, and without noise. Only a complete run, unless
    ``allow_unfinished`` (the result's ``warnings`` then say why)."""
    rf = load_run_frames(run_dir, part, allow_unfinished, purpose="the SNR sweep",
                         needs_range=True)
    clean = head_scores(rf.module, rf.clean, rf.truth)
    by_snr = scores_at_snrs(rf.module, rf.frames, rf.truth, snrs, rf.dynamic_range_db, seed,
                            rf.normalize)
    return {"run": str(rf.run), "part": part, "frames": int(len(rf.frames)),
            "dynamic_range_db": rf.dynamic_range_db, "frame_scale": rf.frame_scale,
            "seed": seed, "clean": clean, "snr": {str(k): v for k, v in by_snr.items()},
            "noise": "white Gaussian, linear power, SNR = mean frame power / noise variance",
            "warnings": rf.warnings}
