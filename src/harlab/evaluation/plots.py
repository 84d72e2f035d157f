"""PNG plots for evaluation results (confusion matrix, training curves, per-group scores).

Figures are built with :class:`matplotlib.figure.Figure` and rendered by the Agg canvas,
never through ``pyplot``: nothing needs a display, no global figure registry fills up, and
each figure is released as soon as it is saved. Every function returns the written path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from harlab.fileio import natural_key, save_png

ANNOTATE_MAX_K = 20


def plot_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | Path,
    normalize: str | None = "true",
    title: str = "",
    log_scale: bool = False,
) -> Path:
    """Heatmap of a K x K confusion matrix (rows = true, cols = predicted) saved as PNG.

    ``normalize="true"`` colours each cell by its share of the true-class row (recall on the
    diagonal), so rare classes stay readable; ``None`` colours raw counts. ``log_scale`` uses a
    log colour scale (zeros left white), useful for counts with heavy class imbalance. Counts
    are written in the cells when K <= 20 (with the row share too when K <= 12).
    """
    counts = np.asarray(cm, dtype=float)
    k = len(class_names)
    if counts.shape != (k, k):
        raise ValueError(f"confusion matrix shape {counts.shape} does not match {k} classes")
    if normalize not in ("true", None):
        raise ValueError(f"normalize must be 'true' or None, got {normalize!r}")
    if normalize == "true":
        rows = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    else:
        values = counts

    positive = values[values > 0]
    if log_scale and positive.size:
        norm: Normalize = LogNorm(vmin=positive.min(), vmax=positive.max())
        shown = np.ma.masked_less_equal(values, 0)
    else:
        vmax = 1.0 if normalize else max(values.max(), 1.0)
        norm, shown = Normalize(vmin=0.0, vmax=vmax), values
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="white")

    # annotated cells need room; beyond that, grow slowly so labels stay legible
    side = max(4.5, 0.55 * k + 2.5) if k <= ANNOTATE_MAX_K else min(0.3 * k + 6.0, 24.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("share of true class" if normalize else "count")

    tick_fs = 9 if k <= 12 else 7 if k <= 30 else 5
    ax.set_xticks(range(k), [str(c) for c in class_names], fontsize=tick_fs)
    ax.set_yticks(range(k), [str(c) for c in class_names], fontsize=tick_fs)
    ax.tick_params(axis="x", labelrotation=45)
    for lbl in ax.get_xticklabels():
        lbl.set_horizontalalignment("right")
        lbl.set_rotation_mode("anchor")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)

    if k <= ANNOTATE_MAX_K:
        fs = 9 if k <= 8 else 7 if k <= 12 else 6
        for i in range(k):
            for j in range(k):
                text = f"{int(counts[i, j])}"
                if normalize and k <= 12 and counts[i, j]:
                    text += f"\n{values[i, j]:.0%}"
                dark = values[i, j] > 0 and norm(values[i, j]) > 0.55
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fs,
                    color="white" if dark else "black",
                )
    return save_png(fig, path)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = []
    for i, row in enumerate(history):
        y = _finite(row.get(key))
        if y is not None:
            x = _finite(row.get("epoch"))
            pts.append((i if x is None else x, y))
    pts.sort()
    return [p[0] for p in pts], [p[1] for p in pts]


_SCORE_WORDS = ("acc", "f1", "precision", "recall", "auc", "kappa", "score")


def plot_training_curves(
    history: Sequence[Mapping[str, Any]], path: str | Path, title: str = ""
) -> Path:
    """Two panels vs epoch: every ``*loss*`` key, and every score key (accuracy, F1, ...).

    Rows may lack keys or hold None/NaN (e.g. Lightning logs train and val on separate
    rows); such points are skipped. Train series are dashed, others solid; the best
    ``val_macro_f1`` (if logged) is starred. An empty history gives panels saying "no data".
    """
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys and k not in ("epoch", "step")]
    loss_keys = [k for k in keys if "loss" in k.lower()]
    score_keys = [
        k for k in keys if k not in loss_keys and any(w in k.lower() for w in _SCORE_WORDS)
    ]

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_loss, ax_score = fig.subplots(1, 2)
    for ax, panel_keys, ylabel in ((ax_loss, loss_keys, "loss"), (ax_score, score_keys, "score")):
        plotted = False
        for key in panel_keys:
            xs, ys = _series(history, key)
            if not xs:
                continue
            ax.plot(
                xs,
                ys,
                label=key,
                linestyle="--" if key.startswith("train") else "-",
                marker="o" if len(xs) <= 30 else None,
                markersize=3,
            )
            plotted = True
            if key == "val_macro_f1":
                best = int(np.argmax(ys))
                ax.plot(
                    xs[best],
                    ys[best],
                    marker="*",
                    markersize=12,
                    color="goldenrod",
                    linestyle="none",
                    label=f"best {ys[best]:.3f} @ {xs[best]:g}",
                )
        if plotted:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def plot_per_group(
    scores: Mapping[str, Mapping[str, Any] | float],
    metric: str,
    path: str | Path,
    title: str = "",
) -> Path:
    """Bar chart of one metric per group (e.g. ``metrics["per_subject"]``, "macro_f1").

    Values may be dicts holding ``metric`` or plain numbers. Groups are in natural id order;
    a dashed line marks the unweighted mean over groups, so weak subjects stand out.
    """
    ids = sorted(scores, key=natural_key)
    vals = []
    for g in ids:
        s = scores[g]
        v = _finite(s.get(metric) if isinstance(s, Mapping) else s)
        vals.append(np.nan if v is None else v)
    arr = np.array(vals, dtype=float)
    n = len(ids)

    fig = Figure(figsize=(min(max(5.0, 0.35 * n + 2.0), 24.0), 4), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(n), np.nan_to_num(arr), color="tab:blue")
    labels = [str(g) for g in ids]
    crowded = n * max((len(s) for s in labels), default=0) > 60
    ax.set_xticks(range(n), labels, rotation=90 if crowded else 0, fontsize=8 if n > 20 else 9)
    ax.set_xlim(-0.6, n - 0.4)
    if np.isfinite(arr).any():
        mean = float(np.nanmean(arr))
        ax.axhline(mean, color="tab:red", linestyle="--", linewidth=1, label=f"mean {mean:.3f}")
        ax.legend(fontsize=8, loc="lower right")
        if np.nanmin(arr) >= 0 and np.nanmax(arr) <= 1:
            ax.set_ylim(0, 1.08)
    if n <= 30:
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.2f}" for v in arr], fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per group")
    ax.grid(axis="y", alpha=0.3)
    return save_png(fig, path)


def plot_metric_curves(
    path: str | Path,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float] | None]],
    xlabel: str,
    title: str,
    ylabel: str = "test macro-F1",
) -> Path:
    """A score (0..1) against x, one line per name: ``(xs, means, stds or None)``.

    Used for the SNR sweep (paper Fig. 11) and for decisions over several frames/windows
    (x = seconds one decision covers, with ± std over runs as error bars).
    """
    fig = Figure(figsize=(6.0, 3.8))
    ax = fig.add_subplot()
    for name, (xs, mean, std) in curves.items():
        if std is None:
            ax.plot(list(xs), list(mean), marker="o", label=name)
        else:
            ax.errorbar(list(xs), list(mean), yerr=list(std), marker="o", capsize=2,
                        label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save_png(fig, path)


def _short(label: str, n: int = 44) -> str:
    """An axis label cut to ``n`` characters, keeping its end (where the selection is)."""
    return label if len(label) <= n else "…" + label[-(n - 1):]


def plot_paired_scores(
    path: str | Path, panels: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    a_name: str, b_name: str,
) -> Path:
    """One panel per score: each pair of runs as a point (B on x, A on y) and the diagonal.

    Points above the diagonal are pairs where A scored higher.
    """
    fig = Figure(figsize=(3.8 * max(1, len(panels)), 3.7))
    fig.subplots_adjust(wspace=0.4)
    for i, (title, a, b) in enumerate(panels):
        ax = fig.add_subplot(1, max(1, len(panels)), i + 1)
        ax.scatter(list(b), list(a), s=18, zorder=3)
        lo = min([*a, *b, 1.0])
        lo = max(0.0, lo - 0.05)
        ax.plot([lo, 1.0], [lo, 1.0], color="grey", lw=0.8, ls="--")
        ax.set_xlim(lo, 1.0)
        ax.set_ylim(lo, 1.0)
        ax.set_aspect("equal")
        ax.set_xlabel(_short(f"B: {b_name}"), fontsize=7)
        ax.set_ylabel(_short(f"A: {a_name}"), fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.grid(alpha=0.3)
    return save_png(fig, path)
