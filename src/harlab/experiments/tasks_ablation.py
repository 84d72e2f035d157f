"""Joint vs single-task learning on any multi-head config (MRA-Net Table 4, on any sensor).

The MRA-Net paper claims that learning activity and identity together helps identification.
``harlab ablate tasks CONFIG`` tests that claim on whatever data and backbone CONFIG names:
for every seed it trains each head alone (``equal`` weighting, one loss) and both heads
together with each asked loss weighting (FLWL, equal, fixed ratio, uncertainty), all on the
split CONFIG fixes (seeds vary initialisation and batch order only). The comparison is
paired by seed (:func:`harlab.evaluation.paired.paired_difference`): joint minus single for
every head, per window and, where test recordings are whole, with one decision per test
segment. Each run is an ordinary run directory inside one new parent, which also gets
``tasks.json``, ``tasks.md`` and ``tasks.png`` (rewritten after every run, so an interrupted
study keeps what it finished). ``resume`` continues such a study, or extends it with more
seeds, reusing every finished run; the config and weightings must be the original's.
``merge`` brings in the finished runs of the same study trained elsewhere (other seeds on
another machine), so one table pairs them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harlab.config import RunConfig
from harlab.errors import ConfigError
from harlab.evaluation.metrics import mean_std
from harlab.evaluation.paired import (
    format_difference,
    interval_count,
    multiple_note,
    paired_difference,
    smallest_wilcoxon_p,
    verdict,
)
from harlab.experiments.compare import run_scores
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

# per-head scores kept per run: (key in the record, label in the tables)
SCORES = (("macro_f1", "macro-F1 per window"),
          ("segment_macro_f1", "macro-F1, one decision per test segment"))


def variants(cfg: RunConfig, weightings: list[str]) -> list[tuple[str, list[str], str]]:
    """``(name, heads, loss weighting)`` of every model: each head alone, then joint ones."""
    heads = list(cfg.task.heads)
    return ([(f"{h}_only", [h], "equal") for h in heads]
            + [(f"joint_{w}", heads, w) for w in weightings])


def _check(cfg: RunConfig, weightings: list[str], seeds: list[int]) -> None:
    from harlab.config import LOSS_WEIGHTINGS
    from harlab.training import check_task_split

    if len(cfg.task.heads) < 2:
        raise ConfigError(f"the task ablation needs a multitask config (task.heads with two "
                          f"heads, e.g. [activity, identity]); this one has {cfg.task.heads}")
    bad = [w for w in weightings if w not in LOSS_WEIGHTINGS]
    if bad:
        raise ConfigError(f"unknown loss weighting(s) {bad}; valid: "
                          f"{', '.join(LOSS_WEIGHTINGS)}")
    if not weightings or not seeds:
        raise ConfigError("the task ablation needs at least one weighting and one seed")
    if len(set(weightings)) != len(weightings) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"weightings/seeds repeat: {weightings} / {seeds}")
    check_task_split(cfg)


def run_record(variant: str, seed: int, run_dir: Path, metrics: dict[str, Any]
               ) -> dict[str, Any]:
    """What the comparison keeps of one finished run."""
    return {"variant": variant, "seed": seed, "run": run_dir.name,
            "heads": run_scores(run_dir, metrics),
            "best_val_macro_f1": metrics.get("best_val_macro_f1"),
            "epochs_trained": metrics.get("epochs_trained"),
            "train_seconds": metrics.get("train_seconds"),
            "parameters": metrics.get("parameters")}


def summarize(runs: list[dict[str, Any]], names: list[str], heads: list[str]
              ) -> dict[str, Any]:
    """Mean ± std per variant and head, and joint-minus-single differences paired by seed."""
    rows = []
    for name in names:
        rs = [r for r in runs if r["variant"] == name]
        if not rs:
            continue
        rows.append({
            "variant": name, "runs": len(rs),
            "heads": {h: {key: mean_std(r["heads"][h][key] for r in rs if h in r["heads"])
                          for key in ("macro_f1", "accuracy", "segment_macro_f1")}
                      for h in heads if any(h in r["heads"] for r in rs)},
            "train_seconds": mean_std(r["train_seconds"] for r in rs),
            "epochs_trained": mean_std(r["epochs_trained"] for r in rs),
            "parameters": rs[0]["parameters"],
        })

    def by_seed(variant: str, head: str, key: str) -> dict[int, float | None]:
        return {r["seed"]: r["heads"][head][key] for r in runs
                if r["variant"] == variant and head in r["heads"]}

    comparisons = []
    for joint in (n for n in names if n.startswith("joint_")):
        for head in heads:
            for key, _ in SCORES:
                diff = paired_difference(by_seed(joint, head, key),
                                         by_seed(f"{head}_only", head, key))
                if diff is None and key == "segment_macro_f1":
                    continue  # not scored: test recordings share windows with training
                comparisons.append({"joint": joint, "single": f"{head}_only", "head": head,
                                    "score": key, "difference": diff,
                                    "verdict": verdict(diff, f"joint learning helps {head}",
                                                       f"joint learning hurts {head}")})
    return {"rows": rows, "comparisons": comparisons}


def tasks_markdown(summary: dict[str, Any], heads: list[str], title: str) -> str:
    """The per-variant table and the paired joint-minus-single table."""
    n_seeds = max((r["runs"] for r in summary["rows"]), default=0)

    def ms(s: dict[str, Any] | None) -> str:
        return "—" if s is None else f"{s['mean']:.4f} ± {s['std']:.4f}"

    cols = [f"{h} {label}" for h in heads for _, label in SCORES]
    lines = [f"## {title}", "",
             "| model | runs | " + " | ".join(cols) + " | parameters | epochs/run | train s/run |",
             "|---|---|" + "---|" * len(cols) + "---|---|---|"]
    for row in summary["rows"]:
        cells = [ms(row["heads"].get(h, {}).get(key)) if h in row["heads"] else "n/a"
                 for h in heads for key, _ in SCORES]
        lines.append(f"| {row['variant']} | {row['runs']} | " + " | ".join(cells)
                     + f" | {row['parameters'] or 0:,} | {ms(row['epochs_trained'])} | "
                     f"{ms(row['train_seconds'])} |")
    lines += ["", "Joint minus single-task, paired by seed: mean ± std of the differences "
              "[95 % t interval], how many seeds went up, paired t-test and Wilcoxon "
              f"signed-rank p-values (with {n_seeds} seeds the smallest two-sided Wilcoxon p "
              f"is {smallest_wilcoxon_p(n_seeds):.3g}).", "",
              "| joint model | head | score | joint − single | verdict |",
              "|---|---|---|---|---|"]
    labels = dict(SCORES)
    for c in summary["comparisons"]:
        lines.append(f"| {c['joint']} | {c['head']} | {labels[c['score']]} | "
                     f"{format_difference(c['difference'])} | {c['verdict']} |")
    if note := multiple_note(interval_count(c["difference"] for c in summary["comparisons"])):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def plot_tasks(path: Path, runs: list[dict[str, Any]], names: list[str], heads: list[str],
               title: str) -> Path:
    """Save :func:`tasks_figure` as ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = tasks_figure(runs, names, heads, title)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png", bbox_inches="tight", pad_inches=0.1)
    fig.clear()
    return path


def tasks_figure(runs: list[dict[str, Any]], names: list[str], heads: list[str],
                 title: str) -> Any:
    """One panel per head: every seed's macro-F1 per model (a line joins one seed's runs),
    the mean ± std over seeds as an error bar, on a 0..1 axis so that a difference of a few
    thousandths looks as small as it is."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * len(heads), 3.8))
    seeds = sorted({r["seed"] for r in runs})
    for i, head in enumerate(heads):
        ax = fig.add_subplot(1, len(heads), i + 1)
        shown = [n for n in names if any(r["variant"] == n and head in r["heads"]
                                         for r in runs)]
        for seed in seeds:
            ys = [next((r["heads"][head]["macro_f1"] for r in runs if r["variant"] == n
                        and r["seed"] == seed), np.nan) for n in shown]
            ax.plot(range(len(shown)), ys, "o-", alpha=0.6, label=f"seed {seed}")
        scores = [[r["heads"][head]["macro_f1"] for r in runs if r["variant"] == n
                   and head in r["heads"]] for n in shown]
        ax.errorbar(range(len(shown)), [np.mean(s) for s in scores],
                    yerr=[np.std(s, ddof=1) if len(s) > 1 else 0.0 for s in scores],
                    fmt="k_", markersize=22, mew=2, elinewidth=1.5, capsize=6,
                    label="mean ± std over seeds")
        ax.set_xticks(range(len(shown)), shown, fontsize=8, rotation=15)
        ax.set_ylabel(f"{head} test macro-F1 (per window)")
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(wspace=0.35)
    return fig


def tasks_plan(cfg: RunConfig, weightings: list[str], seeds: list[int]) -> Plan:
    """Each head alone and both together per weighting, seeds varying training only."""
    out = []
    for name, heads, weighting in variants(cfg, weightings):
        sets = [f"task.heads={json.dumps(heads)}", f"task.loss_weighting={weighting}"]
        if cfg.task.monitor not in ("mean", *heads):
            sets.append("task.monitor=mean")
        out.append(Variant(name, tuple(sets)))
    return Plan("ablate_tasks", cfg, out, None, list(seeds), fixed_variants=True)


def run_tasks_ablation(
    cfg: RunConfig, seeds: list[int], weightings: list[str] | None = None,
    on_event: Event | None = None, resume: str | Path | None = None,
    merge: list[str | Path] | None = None, command: str = "",
) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) every (model, seed), a study on the engine; write the paired
    comparison after every run.

    ``resume``: continue the study in that directory instead; ``seeds`` not in it are
    added to its own (a resume never drops finished runs from the table). ``merge`` (with
    ``resume``): first copy in the finished runs of these other studies of the same config,
    e.g. seeds trained on another machine; their seeds join.
    """
    weightings = list(weightings or [cfg.task.loss_weighting])
    _check(cfg, weightings, seeds)
    plan = tasks_plan(cfg, weightings, seeds)
    arms = variants(cfg, weightings)
    heads = list(cfg.task.heads)
    parent, record = open_study(plan, cfg.output_dir, command, resume, merge, on_event)
    title = (f"Joint vs single-task: {cfg.data.dataset}, {cfg.model.name}, seeds "
             f"{plan.seeds}, {cfg.train.max_epochs} max epochs")

    def save(results: list[RunResult], complete: bool) -> dict[str, Any]:
        runs = [run_record(r.planned.variant, r.planned.seed, r.run_dir, r.metrics)
                for r in results]
        return _save(parent, cfg, plan.seeds, weightings, arms, heads, runs, title,
                     complete=complete, merged=record["merged"])

    results = run_study(parent, plan, record, on_event,
                        after_run=lambda done: save(done, False))
    return parent, save(results, True)


def _save(parent: Path, cfg: RunConfig, seeds: list[int], weightings: list[str],
          plan: list[tuple[str, list[str], str]], heads: list[str], runs: list[dict[str, Any]],
          title: str, complete: bool, merged: list[dict[str, Any]] | None = None
          ) -> dict[str, Any]:
    """(Re)write tasks.json/md/png with the runs so far; returns what tasks.json holds."""
    names = [v[0] for v in plan]
    summary = summarize(runs, names, heads)
    out = {"config": cfg.to_dict(), "seeds": seeds, "weightings": weightings,
           "variants": [{"name": n, "heads": h, "loss_weighting": w} for n, h, w in plan],
           "split": "fixed by data.split for every run; seeds vary training only",
           "complete": complete, **summary, "runs": runs}
    if merged:
        out["merged"] = merged
    write_json(parent / "tasks.json", out)
    if runs:
        (parent / "tasks.md").write_text(
            tasks_markdown(summary, heads, title)
            + merged_markdown(merged)
            + ("" if complete else "\nPartial: the study is still running or was interrupted "
               "(continue it with --resume).\n"))
        plot_tasks(parent / "tasks.png", runs, names, heads, title)
    return out
