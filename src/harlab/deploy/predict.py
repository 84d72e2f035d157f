"""Per-window predictions for a recording file, with a trained run's preprocessing.

The file is read with the bring-your-own-data reader (CSV/Parquet), its channels are
matched to the run's channels by name, its sampling rate must equal the run's (or be
resampled on request), and the run's stored normalisation is applied before the model.
Windows with a NaN or infinite sample (``windows_nan``), with a value that overflows
float32 once normalised (``windows_not_finite``) or whose model output is not finite
(``windows_output_not_finite``) are dropped and counted in ``info["dropped"]``, together
with the file's malformed rows (``rows_*``, as the custom source counts them).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.config import WindowConfig, run_config, uses_bf16
from harlab.data.normalize import Normalizer
from harlab.data.windows import make_windows
from harlab.deploy.predictor import (
    PredictorError,
    check_hop,
    check_smooth,
    finite_outputs,
    finite_rows,
    head_columns,
    smoothed_columns,
    top_labels,
)
from harlab.errors import ConfigError, DataError
from harlab.runs import best_checkpoint, check_run_dir
from harlab.tasks.checkpoint import load_run_module
from harlab.tasks.predict import head_classes, predict_heads


def predict_file(
    run_dir: str | Path,
    input_path: str | Path,
    rate: float | None = None,
    resample: bool = False,
    step: int | None = None,
    smooth: int | None = None,
    allow_unfinished: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return (rows, info): one row per window with times, label and probability; with
    ``smooth`` = k also the decision over the last k windows of the same recording.
    A run that is not complete is refused unless ``allow_unfinished`` (then warned about
    on the ``harlab`` logger)."""
    from harlab.data.sources.custom import recordings_and_drops

    smooth = check_smooth(smooth)  # PredictorError (a ValueError); the CLI checked it first
    run = check_run_dir(run_dir)
    module, unfinished = load_run_module(run, best_checkpoint(run), allow_unfinished)
    if unfinished:
        logging.getLogger("harlab").warning(unfinished)
    meta = module.hparams["harlab"]
    channels = list(meta["channels"])
    run_rate = float(meta["rate"])
    recs, file_drops = recordings_and_drops(input_path, channels=channels, rate=rate)
    if not recs:
        raise DataError(f"{input_path}: no usable samples")
    file_rate = recs[0].rate
    if abs(file_rate - run_rate) > 0.01 * run_rate and not resample:
        raise DataError(
            f"{input_path}: sampling rate {file_rate:g} Hz differs from the model's "
            f"{run_rate:g} Hz; pass --resample to resample it"
        )
    try:
        cfg_step = check_hop(step, int(meta["window_step"]), run_rate)
    except PredictorError as exc:
        raise ConfigError(str(exc)) from None
    cfg = WindowConfig(
        length=int(meta["window_length"]),
        step=cfg_step,
        target_rate=run_rate if abs(file_rate - run_rate) > 1e-9 else None,
        label_policy="centre",
        keep_unlabelled=True,
    )
    windows = make_windows(recs, cfg)
    dropped = {**file_drops, **{k: int(v) for k, v in windows.dropped.items() if v}}
    keep, probs = _finite_predictions(module, run, meta, np.asarray(windows.x), dropped)
    if not keep.any():
        raise DataError(_no_window(input_path, meta, run_rate, dropped))
    heads = head_classes(module)
    labels, prob = top_labels(probs, heads)
    rec_of = np.asarray(windows.recording, dtype=np.int64)[keep]
    starts = np.asarray(windows.start)[keep]
    start = starts / windows.rate
    table = pd.DataFrame(
        {
            "subject": np.array([r.subject for r in recs], dtype=object)[rec_of],
            "session": np.array([r.session for r in recs], dtype=object)[rec_of],
            "start_s": np.round(start, 3),
            "end_s": np.round(start + windows.length / windows.rate, 3),
            # label/probability (activity), then identity/identity_probability
            **head_columns(labels, prob),
        }
    )
    if smooth:
        # windows of one recording are in time order; a new recording restarts the mean
        runs = np.r_[0, np.cumsum((np.diff(rec_of) != 0) | (np.diff(starts) != cfg_step))]
        for key, vals in smoothed_columns(probs, heads, smooth, runs).items():
            table[key] = vals
    rows = table.to_dict("records")
    info = {
        "windows": len(rows),
        "dropped": {k: v for k, v in dropped.items() if v},
        "rate": windows.rate,
        "channels": channels,
        "classes": next(iter(heads.values())),
        "heads": list(heads),
    }
    return rows, info


def _finite_predictions(
    module: Any, run: Path, meta: dict[str, Any], x: np.ndarray, dropped: dict[str, int],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Predict the windows ``x`` whose normalised values are finite; returns which windows
    were kept (finite output too) and their probabilities per head; counts in ``dropped``."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, dropped below
        x = Normalizer.from_dict(meta["normalization"]).apply(x)
    keep = finite_rows(x)
    dropped["windows_not_finite"] = int((~keep).sum())
    heads = head_classes(module)
    if not keep.any():
        return keep, {h: np.zeros((0, len(c)), np.float32) for h, c in heads.items()}
    bf16 = uses_bf16(run_config(run / "config.yaml").train.precision)
    probs = {h: p for h, p in predict_heads(module, x[keep], bf16=bf16).items() if h in heads}
    ok = finite_outputs(probs)
    dropped["windows_output_not_finite"] = int((~ok).sum())
    keep[np.flatnonzero(keep)[~ok]] = False
    return keep, {h: p[ok] for h, p in probs.items()}


def _no_window(path: str | Path, meta: dict[str, Any], rate: float,
               dropped: dict[str, int]) -> str:
    """Why a recording file gave no window: too short, or every window dropped."""
    if any(v for k, v in dropped.items() if k.startswith("windows_")):
        counts = ", ".join(f"{k}={v}" for k, v in dropped.items() if v)
        return (f"{path}: no usable window: every window has missing, infinite or "
                f"overflowing values ({counts})")
    return f"{path}: shorter than one window ({meta['window_length']} samples at {rate:g} Hz)"


def predict_file_onnx(
    onnx_path: Path, input_path: Path, rate: float | None = None, step: int | None = None,
    smooth: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``harlab predict MODEL.onnx --input FILE``: the light predictor on a recording file."""
    from harlab.data.sources.custom import recordings_and_drops
    from harlab.deploy.streaming import load_window_model

    model = load_window_model(onnx_path)
    recs, file_drops = recordings_and_drops(input_path, channels=list(model.channels),
                                            rate=rate)
    if not recs:
        raise DataError(f"{input_path}: no usable samples")
    rows: list[dict[str, Any]] = []
    try:
        step = check_hop(step, model.window_step, model.rate)
    except PredictorError as exc:
        raise ConfigError(str(exc)) from None
    dropped: Counter[str] = Counter(file_drops)
    for rec in recs:  # one call per recording; windowing inside is vectorised
        try:
            res = model.predict_recording(rec.data, rec.rate, list(rec.channels), hop=step)
        except PredictorError as exc:
            raise DataError(f"{input_path}: {exc}") from None
        dropped.update(res.dropped)
        rows += [{"subject": rec.subject, "session": rec.session, **r}
                 for r in res.rows(smooth)]
    if not rows and dropped:
        raise DataError(_no_window(input_path, model.metadata, model.rate, dict(dropped)))
    info = {"windows": len(rows), "dropped": dict(dropped),
            "channels": list(model.channels), "heads": list(model.heads)}
    return rows, info
