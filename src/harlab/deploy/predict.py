"""Per-window predictions for a recording file, with a trained run's preprocessing.

The file is read with the bring-your-own-data reader (CSV/Parquet), its channels are
matched to the run's channels by name, its sampling rate must equal the run's (or be
resampled on request), and the run's stored normalisation is applied before the model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harlab.config import WindowConfig, from_dict, load_yaml, uses_bf16
from harlab.data.normalize import Normalizer
from harlab.data.windows import make_windows
from harlab.deploy.predictor import check_smooth, head_columns, smoothed_columns, top_labels
from harlab.errors import DataError
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
    from harlab.data.sources.custom import recording_from_file

    smooth = check_smooth(smooth)  # PredictorError (a ValueError); the CLI checked it first
    run = check_run_dir(run_dir)
    module, unfinished = load_run_module(run, best_checkpoint(run), allow_unfinished)
    if unfinished:
        logging.getLogger("harlab").warning(unfinished)
    meta = module.hparams["harlab"]
    channels = list(meta["channels"])
    run_rate = float(meta["rate"])
    recs = recording_from_file(input_path, channels=channels, rate=rate)
    if not recs:
        raise DataError(f"{input_path}: no usable samples")
    file_rate = recs[0].rate
    if abs(file_rate - run_rate) > 0.01 * run_rate and not resample:
        raise DataError(
            f"{input_path}: sampling rate {file_rate:g} Hz differs from the model's "
            f"{run_rate:g} Hz; pass --resample to resample it"
        )
    cfg_step = int(step or meta["window_step"])
    cfg = WindowConfig(
        length=int(meta["window_length"]),
        step=cfg_step,
        target_rate=run_rate if abs(file_rate - run_rate) > 1e-9 else None,
        label_policy="centre",
        keep_unlabelled=True,
    )
    windows = make_windows(recs, cfg)
    if len(windows) == 0:
        raise DataError(
            f"{input_path}: shorter than one window ({meta['window_length']} samples at "
            f"{run_rate:g} Hz)"
        )
    x = Normalizer.from_dict(meta["normalization"]).apply(np.asarray(windows.x))
    cfg = from_dict(load_yaml(run / "config.yaml"))
    probs = predict_heads(module, x, bf16=uses_bf16(cfg.train.precision))
    heads = head_classes(module)
    labels, prob = top_labels({h: probs[h] for h in heads}, heads)
    rec_of = np.asarray(windows.recording, dtype=np.int64)
    start = np.asarray(windows.start) / windows.rate
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
        runs = np.r_[0, np.cumsum((np.diff(rec_of) != 0)
                                  | (np.diff(np.asarray(windows.start)) != cfg_step))]
        for key, vals in smoothed_columns({h: probs[h] for h in heads}, heads, smooth,
                                          runs).items():
            table[key] = vals
    rows = table.to_dict("records")
    info = {
        "windows": len(rows),
        "dropped": {k: v for k, v in windows.dropped.items() if v},
        "rate": windows.rate,
        "channels": channels,
        "classes": next(iter(heads.values())),
        "heads": list(heads),
    }
    return rows, info


def predict_file_onnx(
    onnx_path: Path, input_path: Path, rate: float | None = None, step: int | None = None,
    smooth: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``harlab predict MODEL.onnx --input FILE``: the light predictor on a recording file."""
    from harlab.data.sources.custom import recording_from_file
    from harlab.deploy.predictor import PredictorError
    from harlab.deploy.streaming import load_window_model
    from harlab.errors import DataError

    model = load_window_model(onnx_path)
    recs = recording_from_file(input_path, channels=list(model.channels), rate=rate)
    if not recs:
        raise DataError(f"{input_path}: no usable samples")
    rows: list[dict[str, Any]] = []
    dropped = 0
    for rec in recs:  # one call per recording; windowing inside is vectorised
        try:
            res = model.predict_recording(rec.data, rec.rate, list(rec.channels), hop=step)
        except PredictorError as exc:
            raise DataError(f"{input_path}: {exc}") from None
        dropped += res.dropped.get("windows_nan", 0)
        rows += [{"subject": rec.subject, "session": rec.session, **r}
                 for r in res.rows(smooth)]
    info = {"windows": len(rows), "dropped": {"windows_nan": dropped} if dropped else {},
            "channels": list(model.channels), "heads": list(model.heads)}
    return rows, info
