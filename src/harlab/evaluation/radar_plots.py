"""PNG figures of ``harlab reproduce mranet`` (MRA-Net paper Figs. 9-12).

Built on :class:`matplotlib.figure.Figure` + Agg canvas like :mod:`harlab.evaluation.plots`
(no pyplot, nothing needs a display). Every function returns the written path.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harlab.evaluation.plots import plot_metric_curves
from harlab.fileio import save_png


def plot_grouped_bars(
    path: str | Path,
    groups: Sequence[str],
    series: Mapping[str, Sequence[tuple[float, float] | None]],
    ylabel: str,
    title: str,
) -> Path:
    """Bars of ``mean ± std`` per group (x) and series (colour); ``None`` = not measured."""
    fig = Figure(figsize=(max(5.0, 1.2 * len(groups) + 1.5), 3.8))
    ax = fig.add_subplot()
    xs = np.arange(len(groups))
    n = max(1, len(series))
    width = 0.8 / n
    lows = []
    for j, (name, vals) in enumerate(series.items()):
        pos = [x for x, v in zip(xs, vals, strict=True) if v is not None]
        mean = [v[0] for v in vals if v is not None]
        std = [v[1] for v in vals if v is not None]
        lows += mean
        bars = ax.bar(np.asarray(pos) + (j - (n - 1) / 2) * width, mean, width, yerr=std,
                      capsize=2, label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=2)
    ax.set_ylim(max(0.0, (min(lows) if lows else 0.0) - 0.15), 1.05)
    # long model names wrap onto several lines instead of running into each other
    ax.set_xticks(xs, [textwrap.fill(str(g), 16) for g in groups], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save_png(fig, path)


def plot_snr_curves(
    path: str | Path,
    snrs: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    title: str,
) -> Path:
    """Macro-F1 against SNR in dB, one line per (model, head) (paper Fig. 11)."""
    return plot_metric_curves(path, {n: (snrs, v, None) for n, v in curves.items()},
                              "SNR of the raw radar data (dB)", title)


def plot_loss_weights(path: str | Path, w_activity: np.ndarray, w_identity: np.ndarray,
                      title: str) -> Path:
    """FLWL loss weights of each task over test samples (paper Fig. 12a)."""
    fig = Figure(figsize=(7.0, 3.4))
    ax = fig.add_subplot()
    n = np.arange(len(w_activity))
    ax.plot(n, w_activity, color="#DD8452", label="activity weight")
    ax.plot(n, w_identity, color="#4C72B0", label="identity weight")
    ax.set_xlabel("test frame")
    ax.set_ylabel("loss weight (2 + w)")
    ax.set_ylim(1.95, 3.05)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_png(fig, path)
