"""ablate tasks: the figure shows zero and the seed spread; the report counts only the
intervals it shows."""

from __future__ import annotations

import numpy as np

from harlab.evaluation.paired import interval_count, paired_difference
from harlab.experiments.tasks_ablation import summarize, tasks_figure, tasks_markdown

NAMES = ["activity_only", "identity_only", "joint_equal"]
HEADS = ["activity", "identity"]


def _runs(scores: dict[str, list[float]]) -> list[dict]:
    runs = []
    for variant, values in scores.items():
        heads = [h for h in HEADS if variant in (f"{h}_only", "joint_equal")]
        for seed, v in enumerate(values):
            runs.append({"variant": variant, "seed": seed, "run": f"{variant}_s{seed}",
                         "heads": {h: {"macro_f1": v, "accuracy": v, "segment_macro_f1": None}
                                   for h in heads},
                         "best_val_macro_f1": v, "epochs_trained": 3, "train_seconds": 1.0,
                         "parameters": 10})
    return runs


def test_figure_starts_at_zero_and_draws_the_seed_spread() -> None:
    scores = {"activity_only": [0.951, 0.953, 0.955], "identity_only": [0.80, 0.81, 0.82],
              "joint_equal": [0.954, 0.957, 0.963]}
    fig = tasks_figure(_runs(scores), NAMES, HEADS, "t")
    for ax, head in zip(fig.axes, HEADS, strict=True):
        low, high = ax.get_ylim()
        assert low == 0.0 and high >= 1.0  # a 0.004 difference no longer fills the panel
        # one error bar per model with this head: mean +- std (ddof 1) over the seeds
        bars = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
        assert len(bars) == 1
        spans = [float(seg[1][1] - seg[0][1]) for seg in bars[0].lines[2][0].get_segments()]
        expected = [2 * np.std(scores[n], ddof=1) for n in (f"{head}_only", "joint_equal")]
        np.testing.assert_allclose(spans, expected, rtol=1e-6)


def test_report_counts_only_intervals_it_shows() -> None:
    # one seed per model: differences exist but none has an interval
    one = summarize(_runs({"activity_only": [0.9], "identity_only": [0.8],
                           "joint_equal": [0.91]}), NAMES, HEADS)
    assert interval_count(c["difference"] for c in one["comparisons"]) == 0
    assert "intervals are shown" not in tasks_markdown(one, HEADS, "t")
    many = summarize(_runs({"activity_only": [0.90, 0.92, 0.91],
                            "identity_only": [0.80, 0.83, 0.81],
                            "joint_equal": [0.91, 0.92, 0.93]}), NAMES, HEADS)
    shown = interval_count(c["difference"] for c in many["comparisons"])
    assert shown >= 2 and f"{shown} intervals are shown" in tasks_markdown(many, HEADS, "t")


def test_interval_count_skips_missing_and_degenerate_differences() -> None:
    same = paired_difference({0: 0.5, 1: 0.6}, {0: 0.4, 1: 0.5})  # equal differences
    real = paired_difference({0: 0.5, 1: 0.7, 2: 0.6}, {0: 0.4, 1: 0.5, 2: 0.6})
    assert interval_count([None, same, real, paired_difference({0: 1.0}, {0: 0.5})]) == 1
