"""``harlab cv``: every fold (x seeds) of a protocol as ordinary runs in one parent folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harlab.config import RunConfig
from harlab.data.prepare import load_windowed
from harlab.evaluation.decisions import whole_decision
from harlab.fileio import write_json
from harlab.runs import create_run_dir
from harlab.training import train


def cross_validate(
    cfg: RunConfig,
    folds: list[int] | None = None,
    seeds: list[int] | None = None,
    console: Any = None,
) -> tuple[Path, dict[str, Any]]:
    """Train every (fold, seed) of a subject-wise protocol; report mean ± std.

    Each run is a normal run directory inside one new parent directory, which also gets
    ``cv_results.json`` (every run's test scores and the summary) and ``cv_summary.md``.
    """
    import copy

    from harlab.evaluation.metrics import DEFAULT_SUMMARY_KEYS, summarize_runs
    from harlab.evaluation.report import seeds_markdown

    split = cfg.data.split
    if folds is None:
        if split.kind != "subject" or split.test_subjects:
            folds = [split.fold]
        elif split.folds == "loso":
            recordings = load_windowed(cfg.data).recordings
            folds = list(range(len({r.subject for r in recordings})))
        else:
            folds = list(range(int(split.folds)))
    seeds = seeds or [cfg.train.seed]
    name = cfg.run_name()
    parent = create_run_dir(cfg.output_dir, f"cv_{name}")
    results = []
    for seed in seeds:
        for fold in folds:
            run_cfg = copy.deepcopy(cfg)
            run_cfg.data.split.fold = fold
            run_cfg.data.split.seed = seed
            run_cfg.train.seed = seed
            run_cfg.output_dir = str(parent)
            run_cfg.name = f"{name}_fold{fold}_seed{seed}"
            if console is not None:
                console.print(f"[bold]fold {fold}, seed {seed}[/bold]")
            res = train(run_cfg, console=console)
            if not res.is_main:
                continue
            test = res.metrics["test"]
            primary = (res.metrics.get("heads") or ["activity"])[0]
            whole = whole_decision(res.metrics.get("decisions"), primary)
            results.append(
                {
                    "fold": fold,
                    "seed": seed,
                    "run": res.run_dir.name,
                    "accuracy": test["accuracy"],
                    "macro_f1": test["macro_f1"],
                    "weighted_f1": test["weighted_f1"],
                    "n": test["n"],
                    # the primary head, one decision per test segment (window_decisions)
                    "segment_macro_f1": whole.get("macro_f1"),
                    "segments": whole.get("decisions"),
                    "best_val_macro_f1": res.metrics.get("best_val_macro_f1"),
                    "train_seconds": res.metrics.get("train_seconds"),
                }
            )
    summary = summarize_runs(results, (*DEFAULT_SUMMARY_KEYS, "segment_macro_f1"))
    out = {
        "config": cfg.to_dict(),
        "runs": results,
        "summary": summary,
        "protocol": split.kind,
        "folds": folds,
        "seeds": seeds,
    }
    write_json(parent / "cv_results.json", out)
    lines = [
        seeds_markdown(summary, f"{name}: {len(results)} runs (folds {folds}, seeds {seeds})"),
        "",
        "| fold | seed | accuracy | macro-F1 | weighted-F1 | n | run |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['fold']} | {r['seed']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
        f"{r['weighted_f1']:.4f} | {r['n']} | {r['run']} |"
        for r in results
    ]
    (parent / "cv_summary.md").write_text("\n".join(lines) + "\n")
    return parent, out
