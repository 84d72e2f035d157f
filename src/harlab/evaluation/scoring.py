"""Score a trained module on one part of a prepared split: metrics, probabilities, CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from harlab.data.prepare import PreparedData
from harlab.evaluation.metrics import compute_metrics
from harlab.tasks.classifier import WindowClassifier
from harlab.tasks.predict import head_classes, predict_heads


def score_heads(
    module: WindowClassifier, data: PreparedData, part: str = "test", bf16: bool = False
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Metrics of every head (activity: per-subject too; identity: per-activity too)."""
    probs = predict_heads(module, data.x[part], bf16=bf16)
    metrics = {}
    for head, names in head_classes(module).items():
        if head == "activity":
            groups = {"subject": data.subjects(part)}
        else:
            groups = {"activity": np.asarray(data.class_names, dtype=object)[data.y[part]]}
        metrics[head] = compute_metrics(
            data.labels(head, part), probs[head].argmax(1), names, groups=groups
        )
    return metrics, probs


def write_predictions(
    path: Path,
    data: PreparedData,
    part: str,
    probs: np.ndarray | dict[str, np.ndarray],
    names: dict[str, list[str]] | None = None,
) -> None:
    """One CSV row per window of ``part``: ids, times, true and predicted class per head.

    The activity head writes ``true``, ``pred``, ``probability``; the identity head
    ``true_identity``, ``pred_identity``, ``probability_identity``; FLWL runs add the
    per-window loss-weight ratio ``flwl_rw`` and the branch's outputs ``flwl_w0``, ``flwl_w1``.
    """
    import pandas as pd

    from harlab.tasks.losses import rw_from_w

    if not isinstance(probs, dict):
        probs = {"activity": probs}
    names = names or {"activity": list(data.class_names)}
    w = data.windowed.windows
    starts = data.starts(part)
    cols: dict[str, Any] = {
        "window": data.index[part],
        "subject": data.subjects(part),
        "session": data.sessions(part),
        "start_s": np.round(starts / w.rate, 3),
        "end_s": np.round((starts + w.length) / w.rate, 3),
    }
    for head, head_names in names.items():
        sfx = "" if head == "activity" else f"_{head}"
        pred = probs[head].argmax(1)
        table = np.asarray(head_names, dtype=object)
        cols[f"true{sfx}"] = table[data.labels(head, part)]
        cols[f"pred{sfx}"] = table[pred]
        cols[f"probability{sfx}"] = np.round(probs[head][np.arange(len(pred)), pred], 4)
    if "w" in probs:
        cols["flwl_rw"] = np.round(rw_from_w(torch.from_numpy(probs["w"])).numpy(), 4)
        cols["flwl_w0"], cols["flwl_w1"] = np.round(probs["w"][:, 0], 6), np.round(
            probs["w"][:, 1], 6)
    pd.DataFrame(cols).to_csv(path, index=False)
