"""DanHAR attention-arrangement ablation (paper section IV-B, Table VII / Fig. 9).

Trains the same config once per (arrangement, seed) -- ``none`` (the plain backbone),
``channel``, ``temporal``, ``temporal_channel`` and ``channel_temporal`` (the model's own
option values, see :data:`harlab.models.danhar.ATTENTIONS`) -- with the data split fixed
by the config (``data.split`` is not varied with the seed, so every run sees the same
train/val/test subjects and seeds vary only initialisation and batch order). Each run is
an ordinary run directory (model selection on validation macro-F1, as in ``train``)
inside one new parent directory, which also gets ``ablation.json``, ``ablation.md`` and
``ablation.png`` (mean ± std over seeds of test accuracy and macro-F1, and each arrangement
minus the backbone paired by seed), rewritten after every run. ``resume`` continues an
interrupted ablation or adds seeds; ``merge`` brings in seeds trained elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harlab.config import RunConfig
from harlab.errors import ConfigError
from harlab.evaluation.metrics import mean_std
from harlab.experiments.engine import (
    Event,
    Plan,
    RunResult,
    Variant,
    merged_markdown,
    open_study,
    run_study,
)
from harlab.fileio import write_json

ARRANGEMENTS = ("none", "channel", "temporal", "temporal_channel", "channel_temporal")
LABELS = {
    "none": "none (backbone)",
    "channel": "channel",
    "temporal": "temporal",
    "temporal_channel": "temporal+channel",
    "channel_temporal": "channel+temporal",
}


def _check(cfg: RunConfig, arrangements: list[str], seeds: list[int]) -> None:
    from harlab.models.danhar import ATTENTIONS

    if cfg.model.name != "danhar":
        raise ConfigError(f"the arrangement ablation needs model.name danhar, got "
                          f"{cfg.model.name!r}")
    bad = [a for a in arrangements if a not in ATTENTIONS]
    if bad:
        raise ConfigError(f"unknown arrangement(s) {bad}; valid: {', '.join(ARRANGEMENTS)}")
    if not arrangements or not seeds:
        raise ConfigError("the ablation needs at least one arrangement and one seed")
    if len(set(arrangements)) != len(arrangements) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"arrangements/seeds repeat: {arrangements} / {seeds}")


def ablation_markdown(rows: list[dict[str, Any]], title: str, dataset: str = "") -> str:
    """Markdown table of the per-arrangement summary, next to the paper's Table VII.

    The paper's ablation is on WISDM only (accuracy, parameters); on another dataset its
    number is shown for orientation and the note says so.
    """
    from harlab.experiments.paper_numbers import DANHAR_ABLATION_WISDM

    def ms(s: dict[str, Any] | None) -> str:
        return "—" if s is None else f"{s['mean']:.4f} ± {s['std']:.4f}"

    lines = [f"## {title}", "",
             "| arrangement | runs | test accuracy | test macro-F1 | best val macro-F1 | "
             "parameters | train s / run | paper accuracy (WISDM) | paper parameters |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc, params = DANHAR_ABLATION_WISDM.get(r["arrangement"], (None, None))
        lines.append(
            f"| {LABELS.get(r['arrangement'], r['arrangement'])} | {r['accuracy']['n']} | "
            f"{ms(r['accuracy'])} | {ms(r['macro_f1'])} | {ms(r['best_val_macro_f1'])} | "
            f"{r['parameters']:,} | {r['train_seconds']['mean']:.1f} | "
            f"{'—' if acc is None else f'{acc:.4f}'} | "
            f"{'—' if params is None else f'{params / 1e6:.2f}M'} |")
    pairs = [r for r in rows if r.get("vs_none")]
    if pairs:
        from harlab.evaluation.paired import format_difference, interval_count, multiple_note

        lines += ["", "Each arrangement minus the backbone alone (`none`), paired by seed: "
                  "test macro-F1 difference, mean ± std [95 % t interval], seeds that went "
                  "up, paired t-test and Wilcoxon p-values.", "",
                  "| arrangement − backbone | test macro-F1 difference | verdict |",
                  "|---|---|---|"]
        lines += [f"| {LABELS.get(r['arrangement'], r['arrangement'])} − none | "
                  f"{format_difference(r['vs_none']['difference'])} | "
                  f"{r['vs_none']['verdict']} |" for r in pairs]
        if note := multiple_note(interval_count(r["vs_none"]["difference"] for r in pairs)):
            lines += ["", note]
    lines += ["", "Paper: DanHAR Table VII (WISDM, attention ResNet, 500 epochs; accuracy "
              "only, and no backbone-only row)."
              + ("" if dataset == "wisdm" else f" This run is on {dataset or 'another dataset'}"
                 ", so the paper column is for orientation, not a like-for-like comparison.")]
    return "\n".join(lines) + "\n"


def plot_ablation(path: Path, rows: list[dict[str, Any]], title: str) -> Path:
    """Bar chart: test accuracy and macro-F1 (mean ± std over seeds) per arrangement."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 1.3 * len(rows)), 3.6))
    ax = fig.add_subplot()
    xs = np.arange(len(rows))
    for j, key in enumerate(("accuracy", "macro_f1")):
        mean = [r[key]["mean"] for r in rows]
        std = [r[key]["std"] for r in rows]
        bars = ax.bar(xs + (j - 0.5) * 0.38, mean, 0.38, yerr=std, capsize=3,
                      label="accuracy" if key == "accuracy" else "macro-F1")
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=2)
    lo = min(min(r["accuracy"]["mean"], r["macro_f1"]["mean"]) for r in rows)
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.set_xticks(xs, [LABELS.get(r["arrangement"], r["arrangement"]) for r in rows],
                  fontsize=8)
    ax.set_ylabel("test score")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png", bbox_inches="tight", pad_inches=0.1)
    fig.clear()
    return path


def _add_vs_none(rows: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    """Each arrangement's test macro-F1 minus the backbone's (``none``), paired by seed."""
    from harlab.evaluation.paired import paired_difference, verdict

    def by_seed(arr: str) -> dict[int, float]:
        return {r["seed"]: r["macro_f1"] for r in runs if r["arrangement"] == arr}

    if not any(r["arrangement"] == "none" for r in runs):
        return
    for row in rows:
        if row["arrangement"] != "none":
            diff = paired_difference(by_seed(row["arrangement"]), by_seed("none"))
            row["vs_none"] = {"difference": diff,
                              "verdict": verdict(diff, "attention helps", "attention hurts")}


def summarize(runs: list[dict[str, Any]], arrangements: list[str]) -> list[dict[str, Any]]:
    """Per arrangement: mean ± std over seeds, and the paired difference to ``none``."""
    rows = []
    for arr in arrangements:
        rs = [r for r in runs if r["arrangement"] == arr]
        if not rs:
            continue
        rows.append({
            "arrangement": arr,
            "accuracy": mean_std(r["accuracy"] for r in rs),
            "macro_f1": mean_std(r["macro_f1"] for r in rs),
            "best_val_macro_f1": mean_std(r["best_val_macro_f1"] for r in rs),
            "train_seconds": mean_std(r["train_seconds"] or 0.0 for r in rs),
            "parameters": int(rs[0]["parameters"] or 0),
        })
    _add_vs_none(rows, runs)
    return rows


def _save(parent: Path, cfg: RunConfig, seeds: list[int], arrangements: list[str],
          runs: list[dict[str, Any]], complete: bool, merged: list[dict[str, Any]]
          ) -> dict[str, Any]:
    """(Re)write ablation.json/md/png with the runs so far; returns what the JSON holds."""
    rows = summarize(runs, arrangements)
    out: dict[str, Any] = {
        "config": cfg.to_dict(), "seeds": seeds, "arrangements": arrangements,
        "split": "fixed by data.split for every run", "complete": complete,
        "summary": rows, "runs": runs,
    }
    if merged:
        out["merged"] = merged
    title = (f"DanHAR arrangement ablation: {cfg.data.dataset}, seeds {seeds}, "
             f"{cfg.train.max_epochs} max epochs")
    write_json(parent / "ablation.json", out)
    if rows:
        (parent / "ablation.md").write_text(
            ablation_markdown(rows, title, cfg.data.dataset) + merged_markdown(merged)
            + ("" if complete else "\nPartial: the ablation is still running or was "
               "interrupted (continue it with --resume).\n"))
        plot_ablation(parent / "ablation.png", rows, title)
    return out


def ablation_plan(cfg: RunConfig, arrangements: list[str], seeds: list[int]) -> Plan:
    """One variant per arrangement, seeds varying only the training (the split is fixed)."""
    variants = [Variant(a, (f"model.options.attention={a}",)) for a in arrangements]
    return Plan("ablate", cfg, variants, None, list(seeds), fixed_variants=True)


def _record(res: RunResult) -> dict[str, Any]:
    m = res.metrics
    return {"arrangement": res.planned.variant, "seed": res.planned.seed,
            "run": res.run_dir.name, "accuracy": m["test"]["accuracy"],
            "macro_f1": m["test"]["macro_f1"], "best_val_macro_f1": m.get("best_val_macro_f1"),
            "epochs_trained": m.get("epochs_trained"), "train_seconds": m.get("train_seconds"),
            "parameters": m.get("parameters"), "reused": res.reused}


def run_ablation(
    cfg: RunConfig, seeds: list[int], arrangements: list[str] | None = None,
    on_event: Event | None = None, resume: str | Path | None = None,
    merge: list[str | Path] | None = None, command: str = "",
) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) every (arrangement, seed), a study on the engine; write the
    comparison after every run, so an interrupted ablation keeps complete pairs.
    ``resume``: continue the ablation in that directory (same config and arrangements;
    ``seeds`` it lacks are added). ``merge`` (with ``resume``): first copy in the finished
    runs of these other ablations of the same config, e.g. seeds trained elsewhere.
    """
    arrangements = list(arrangements or ARRANGEMENTS)
    _check(cfg, arrangements, seeds)
    plan = ablation_plan(cfg, arrangements, seeds)
    parent, record = open_study(plan, cfg.output_dir, command, resume, merge, on_event)

    def save(results: list[RunResult], complete: bool) -> dict[str, Any]:
        return _save(parent, cfg, plan.seeds, arrangements, [_record(r) for r in results],
                     complete, record["merged"])

    results = run_study(parent, plan, record, on_event,
                        after_run=lambda done: save(done, False))
    return parent, save(results, True)
