"""``harlab cv``: every fold (x seeds) of a protocol as ordinary runs of one study.

A definition on the study engine (:mod:`harlab.experiments.engine`): the folds of the
config's split times the seeds (each seed draws its own split), resumable and mergeable
like every study. ``cv_results.json``, ``cv_summary.md`` and ``cv_folds.png`` (test
macro-F1 of every run, zero to one, with the mean) are rewritten after every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harlab.config import RunConfig
from harlab.data.prepare import load_windowed
from harlab.evaluation.decisions import whole_decision
from harlab.evaluation.metrics import DEFAULT_SUMMARY_KEYS, summarize_runs
from harlab.evaluation.plots import plot_per_group
from harlab.evaluation.report import seeds_markdown
from harlab.experiments.engine import Event, Plan, RunResult, open_study, run_study
from harlab.fileio import write_json


def cv_folds(cfg: RunConfig) -> list[int]:
    """Every fold of the config's split: K (or one per subject for ``loso``) for the
    subject split and the stratified recording split, else the one split as configured."""
    split = cfg.data.split
    kfold = (split.kind == "subject" and not split.test_subjects) or (
        split.kind == "recording" and split.stratify)
    if not kfold:
        return [split.fold]
    if split.folds == "loso":
        recordings = load_windowed(cfg.data).recordings
        return list(range(len({r.subject for r in recordings})))
    return list(range(int(split.folds)))


def cv_row(res: RunResult) -> dict[str, Any]:
    """One run's line of the cross-validation table (primary head)."""
    m = res.metrics
    test = m["test"]
    primary = (m.get("heads") or ["activity"])[0]
    whole = whole_decision(m.get("decisions"), primary)
    return {"fold": res.planned.fold, "seed": res.planned.seed, "run": res.run_dir.name,
            "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
            "weighted_f1": test["weighted_f1"], "n": test["n"],
            # the primary head, one decision per test segment (window_decisions)
            "segment_macro_f1": whole.get("macro_f1"), "segments": whole.get("decisions"),
            "best_val_macro_f1": m.get("best_val_macro_f1"),
            "train_seconds": m.get("train_seconds"), "reused": res.reused}


def cross_validate(
    cfg: RunConfig, folds: list[int] | None = None, seeds: list[int] | None = None,
    on_event: Event | None = None, resume: str | Path | None = None,
    merge: list[str | Path] | None = None, command: str = "",
) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse) every (fold, seed); report mean ± std over the runs.

    ``resume`` continues the cross-validation in that directory (same config; ``folds``
    and ``seeds`` it lacks are added); ``merge`` first copies in the finished runs of other
    cross-validations of the same config.
    """
    plan = Plan("cv", cfg, folds=folds if folds is not None else cv_folds(cfg),
                seeds=list(seeds or [cfg.train.seed]), seed_split=True)
    parent, record = open_study(plan, cfg.output_dir, command, resume, merge, on_event)
    results = run_study(parent, plan, record, on_event,
                        after_run=lambda done: write_cv(parent, plan, done, partial=True))
    return parent, write_cv(parent, plan, results, partial=False)


def write_cv(parent: Path, plan: Plan, results: list[RunResult], partial: bool
             ) -> dict[str, Any]:
    """``cv_results.json``, ``cv_summary.md`` and ``cv_folds.png`` of the runs so far."""
    rows = [cv_row(r) for r in results]
    summary = summarize_runs(rows, (*DEFAULT_SUMMARY_KEYS, "segment_macro_f1"))
    name = plan.name()
    out = {"config": plan.base.to_dict(), "runs": rows, "summary": summary,
           "protocol": plan.base.data.split.kind, "folds": plan.folds, "seeds": plan.seeds,
           "complete": not partial}
    write_json(parent / "cv_results.json", out)
    title = f"{name}: {len(rows)} runs (folds {plan.folds}, seeds {plan.seeds})"
    lines = [seeds_markdown(summary, title), "",
             "| fold | seed | accuracy | macro-F1 | weighted-F1 | n | run |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['fold']} | {r['seed']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
              f"{r['weighted_f1']:.4f} | {r['n']} | {r['run']} |" for r in rows]
    if partial:
        lines += ["", "Partial: the cross-validation is still running or was interrupted "
                  "(continue it with --resume)."]
    (parent / "cv_summary.md").write_text("\n".join(lines) + "\n")
    if rows:
        scores = {f"fold {r['fold']} seed {r['seed']}": r["macro_f1"] for r in rows}
        plot_per_group(scores, "macro_f1", parent / "cv_folds.png",
                       f"{name}: test macro-F1 per fold and seed")
    return out
