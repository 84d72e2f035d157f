"""Classification metrics for activity / identity recognition, built on scikit-learn.

Conventions (shared by every harlab report, so numbers are comparable across runs):

- Inputs are integer class indices ``0..K-1``; ``K = len(class_names)``.
- ``zero_division=0``: a precision, recall or F1 whose denominator is zero counts as 0.
  So a class that is never predicted has precision 0, a class absent from ``y_true`` has
  recall 0, and both get F1 0. No warnings are emitted for these cases.
- Macro-F1 (and weighted-F1) default to scikit-learn's ``labels=None``: the unweighted mean
  over the classes that occur in ``y_true`` or ``y_pred``. This is what HAR papers that call
  ``f1_score(average="macro")`` report. A class absent from the test set *and* never
  predicted is left out (its F1 would be an arbitrary 0/0); a class absent from the test set
  but predicted (only false positives) counts with F1 0. Pass ``labels=range(K)`` to average
  over all K classes instead. The labels actually used are returned in ``macro_f1_labels``.
- ``per_class`` always lists all K classes, absent ones with ``support`` 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.utils.multiclass import unique_labels

from harlab.fileio import natural_key

DEFAULT_SUMMARY_KEYS = ("accuracy", "macro_f1", "weighted_f1")



def _as_labels(y: np.ndarray, name: str, k: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
        arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(f"{name} has class indices outside 0..{k - 1}")
    return arr


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: list[int] | None) -> float:
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def compute_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: list[str],
    groups: Mapping[str, np.ndarray] | None = None,
    labels: Iterable[int] | None = None,
) -> dict:
    """Score predictions; returns a JSON-serialisable dict (plain Python types only).

    Keys: ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``macro_f1_labels``,
    ``per_class`` (list of {class, precision, recall, f1, support} for all K classes),
    ``confusion_matrix`` (K x K, rows = true, cols = predicted) and, for each
    ``groups[name]`` (one id per sample, e.g. subject), ``per_<name>``: {str(id): {n,
    accuracy, macro_f1}} in natural id order. ``labels`` selects the classes macro/weighted
    F1 average over (also per group); None = classes in y_true or y_pred (see module doc).
    """
    k = len(class_names)
    if k == 0:
        raise ValueError("class_names is empty")
    yt, yp = _as_labels(y_true, "y_true", k), _as_labels(y_pred, "y_pred", k)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred differ in length: {yt.size} vs {yp.size}")
    if yt.size == 0:
        raise ValueError("cannot compute metrics on zero samples")
    lab = None if labels is None else [int(c) for c in labels]
    if lab is not None and (not lab or min(lab) < 0 or max(lab) >= k):
        raise ValueError(f"labels must be a non-empty subset of 0..{k - 1}")

    all_k = list(range(k))
    prec, rec, f1, sup = precision_recall_fscore_support(
        yt, yp, labels=all_k, average=None, zero_division=0
    )
    out: dict[str, Any] = {
        "n": int(yt.size),
        "accuracy": float(accuracy_score(yt, yp)),
        "macro_f1": _macro_f1(yt, yp, lab),
        "weighted_f1": float(f1_score(yt, yp, labels=lab, average="weighted", zero_division=0)),
        "macro_f1_labels": lab if lab is not None else [int(c) for c in unique_labels(yt, yp)],
        "per_class": [
            {
                "class": str(class_names[c]),
                "precision": float(prec[c]),
                "recall": float(rec[c]),
                "f1": float(f1[c]),
                "support": int(sup[c]),
            }
            for c in all_k
        ],
        "confusion_matrix": confusion_matrix(yt, yp, labels=all_k).tolist(),
    }
    for name, ids in (groups or {}).items():
        key = f"per_{name}"
        if key in out:
            raise ValueError(f"group name '{name}' clashes with result key '{key}'")
        ids = np.asarray(ids)
        if ids.shape != yt.shape:
            raise ValueError(f"groups['{name}'] has {ids.size} ids for {yt.size} samples")
        per: dict[str, dict] = {}
        for gid in sorted(np.unique(ids).tolist(), key=natural_key):
            m = ids == gid
            per[str(gid)] = {
                "n": int(m.sum()),
                "accuracy": float(accuracy_score(yt[m], yp[m])),
                "macro_f1": _macro_f1(yt[m], yp[m], lab),
            }
        out[key] = per
    return out


def mean_std(values: Iterable[float | None] | np.ndarray) -> dict[str, float | int] | None:
    """``{mean, std, n}`` of the values that are not None/NaN; None when there are none.

    ``std`` is the sample standard deviation (ddof=1), 0.0 for a single value.
    """
    if not isinstance(values, np.ndarray):
        values = [np.nan if v is None else v for v in values]
    vals = np.asarray(values, np.float64).ravel()
    vals = vals[~np.isnan(vals)]
    if vals.size == 0:
        return None
    return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
            "n": int(vals.size)}


def summarize_runs(
    results: Sequence[Mapping[str, Any]], keys: Iterable[str] = DEFAULT_SUMMARY_KEYS
) -> dict:
    """Spread of scalar metrics over runs (seeds, folds): {key: {mean, std, min, max, n}}.

    ``std`` is the sample standard deviation (ddof=1), 0.0 for a single run. Runs lacking a
    key (or holding None/NaN for it) are skipped for that key; keys no run has are omitted.
    """
    if not results:
        raise ValueError("summarize_runs needs at least one result")
    out: dict[str, dict] = {}
    for key in keys:
        vals = [float(r[key]) for r in results if r.get(key) is not None]
        vals = [v for v in vals if not math.isnan(v)]
        if vals:
            s = mean_std(vals)
            out[key] = {"mean": s["mean"], "std": s["std"], "min": min(vals), "max": max(vals),
                        "n": s["n"]}
    return out
