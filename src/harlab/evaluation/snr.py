"""Scores of a trained radar model on frames with white Gaussian noise at set SNRs.

The noise is :func:`harlab.radar.snr_sweep.add_frame_noise`: white Gaussian noise in
linear power on the micro-Doppler frames (SNR = mean frame power / noise variance), so it
works on any frame folder that records its dB range. ``harlab radar snr-sweep RUN`` scores
a run's test frames this way; ``harlab reproduce mranet`` uses it for Fig. 11 on folders
that harlab did not simulate.
"""

from __future__ import annotations

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


def run_snr_sweep(run_dir: str | Path, snrs: list[float], part: str = "test",
                  seed: int = 0, allow_unfinished: bool = False) -> dict[str, Any]:
    """Score a radar frame run's best checkpoint on its ``part`` frames (its own split)
    with noise at each of ``snrs`` dB, and without noise. Only a complete run, unless
    ``allow_unfinished`` (the result's ``warnings`` then say why)."""
    from harlab.config import from_dict, load_yaml
    from harlab.data.prepare import prepare
    from harlab.radar.dataset import frame_dynamic_range
    from harlab.runs import best_checkpoint, check_run_dir
    from harlab.tasks.checkpoint import load_run_module
    from harlab.tasks.predict import head_classes

    run = check_run_dir(run_dir)
    cfg = from_dict(load_yaml(run / "config.yaml"))
    if cfg.data.dataset != "radar_frames" or cfg.data.options.get("glasgow_dir"):
        raise ConfigError(f"{run}: the SNR sweep adds noise to frame folders; this run trained "
                          f"on {cfg.data.dataset}")
    folder = Path(str(cfg.data.path))
    levels = cfg.data.frame_scale == "train"  # level frames in dB: no dB range needed
    db_range = None if levels else frame_dynamic_range(folder)
    if db_range is None and not levels:
        raise ConfigError(f"{folder}/dataset.json: no dynamic_range_db; the SNR sweep needs the "
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
    frames = np.asarray(data.windowed.windows.x[idx])
    clean = head_scores(module, data.x[part], truth)
    by_snr = scores_at_snrs(module, frames, truth, snrs, db_range, seed, data.normalizer.apply)
    return {"run": str(run), "part": part, "frames": int(len(idx)), "dynamic_range_db": db_range,
            "frame_scale": data.db_scale.to_dict() if data.db_scale else "stored",
            "seed": seed, "clean": clean, "snr": {str(k): v for k, v in by_snr.items()},
            "noise": "white Gaussian, linear power, SNR = mean frame power / noise variance",
            "warnings": [unfinished] if unfinished else []}
